/* Loop items: everything other threads (cnats callbacks, bus timeouts)
 * hand to the loop thread, one kind per thing that comes back, each with
 * the one function of its module that handles it on the loop. This module
 * owns the kinds, their allocation, the queue to the loop (g->inbox, a
 * loopq) with its wake-up, and the dispatch. */
#ifndef GW_ITEM_H
#define GW_ITEM_H

#include "gw.h"
#include "packet.h"
#include "rebuttal.pb-c.h"

enum item_kind {
	IT_DELIVERY,   /* a server packet from the bus: deliver.c, deliver_handle */
	IT_REPLY,      /* a service's reply to a client packet: request.c, reply_handle */
	IT_PERMS,      /* authsvc's reply to get_perms: request.c, perms_reply_handle */
	IT_HTTP_REPLY, /* msgsvc's reply to get_upload: http.c, http_reply_handle */
	IT_CONN_LIST,  /* roomsvc asks for our connections: deliver.c, conn_list_handle */
	IT_BARRIER,    /* a user's subscription is confirmed: session.c, barrier_handle */
	IT_KINDS
};
enum target { T_ALL, T_USER, T_CONN };

typedef struct gw_item {
	loopq_item link;
	enum item_kind kind;
	char key[64]; /* user id (T_USER, barriers) or connection id (T_CONN, replies) */
	/* deliveries */
	enum target target;
	frame *frame;          /* rendered packet; NULL for control deliveries */
	Rb__Delivery *control; /* setPerms / kick, decoded */
	int packet;            /* Rb__Delivery__PacketCase */
	uint64_t version, media_version;
	char about[UUID_STR_LEN + 16]; /* talking/servermute: "<packet>:<user id>" */
	char exclude[64];
	char dedup[96]; /* e.g. "<roomid>:<idx>": forwarded once */
	uint64_t id;    /* HTTP replies: the waiting request; barriers: which one */
	/* replies */
	const packet_row *row;
	int timeout; /* the bus said BUS_TIMEOUT: no data */
	size_t len;
	unsigned char data[]; /* len bytes (replies: the packed Reply; a conn list: the inbox) */
} gw_item;

/* Any thread: a zeroed item of kind with key (NULL: none) and a copy of
 * len bytes of data; NULL when out of memory. */
gw_item *item_new(enum item_kind kind, const char *key, const void *data, size_t len);
/* Any thread: hands it to the loop, waking the loop only when its queue
 * was empty (a wake-up per item made the loop and the cnats thread take
 * turns, a context switch each, for every reply under load). */
void item_post(gw *g, gw_item *it);
/* Loop thread: handles everything queued, in order, each by its kind. */
void items_run(gw *g);
/* Shutdown, after NATS is closed: frees what is left, unhandled. */
void items_discard(gw *g);

/* The handlers, each in the module named above. Loop thread. */
void deliver_handle(gw *g, gw_item *it);
void reply_handle(gw *g, gw_item *it);
void perms_reply_handle(gw *g, gw_item *it);
void http_reply_handle(gw *g, gw_item *it);
void conn_list_handle(gw *g, gw_item *it);
void barrier_handle(gw *g, gw_item *it);

#endif
