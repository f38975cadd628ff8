/* Items the loop receives from other threads, and the reply side of
 * requests. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include "gw.h"
#include "parse.h"
#include "rebuttal.pb-c.h"

enum item_kind { IT_DELIVERY, IT_REPLY, IT_HTTP_REPLY, IT_CONN_LIST, IT_PERMS, IT_BARRIER };
enum target { T_ALL, T_USER, T_CONN };

typedef struct gw_item {
	loopq_item link;
	enum item_kind kind;
	char key[64];               /* user id (T_USER) or connection id (T_CONN, replies) */
	/* deliveries */
	enum target target;
	frame *frame;               /* rendered packet; NULL for control deliveries */
	Rb__Delivery *control;      /* setPerms / kick, decoded */
	int packet;                 /* Rb__Delivery__PacketCase */
	uint64_t version, media_version;
	char about[UUID_STR_LEN + 16]; /* talking/servermute: "<packet>:<user id>" */
	char exclude[64];
	char dedup[96];             /* e.g. "<roomid>:<idx>": forwarded once */
	/* HTTP replies; barriers (user_entry.barrier) */
	uint64_t http_id;
	/* replies */
	const packet_row *row;
	int timeout;
	size_t len;
	unsigned char data[];
} gw_item;

/* Any thread: hands it to the loop (deliver_drain), waking the loop when
 * it had nothing queued. */
void gw_post(gw *g, gw_item *it);

void reply_handle(gw *g, gw_item *it);
/* 1 while s has a request to service p waiting or in flight. */
int request_pending(const session *s, enum part p);
void perms_reply_handle(gw *g, gw_item *it);
void http_reply_handle(gw *g, gw_item *it);

#endif
