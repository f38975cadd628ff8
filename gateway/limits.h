/* What one client may hold in the gateway and how fast it may send
 * (gateway/limits.c, README "Limits"). Loop thread only. */
#ifndef GW_LIMITS_H
#define GW_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct gw;
struct session;
struct lws;
struct ProtobufCMessage;

/* A token bucket: `tokens` as of `at` (bus_now_ms); at == 0: never used (full). */
typedef struct {
	double tokens;
	int64_t at;
} rate_bucket;

/* A session on one of limits.c's lists, due at `until` (bus_now_ms). */
typedef struct timed_link {
	struct timed_link *prev, *next;
	struct timed_list *list; /* the list it is on, or NULL */
	struct session *s;
	int64_t until;
} timed_link;

/* The relay bucket of one packet type and target. */
#define RELAY_SLOTS 16
typedef struct {
	const void *row; /* packet_row; NULL: unused */
	char target[40];
	rate_bucket b;
} relay_slot;

/* Per user on this gateway: all of the user's connections here share it. */
typedef struct {
	rate_bucket packets;
	relay_slot relays[RELAY_SLOTS];
} user_limits;

/* Per connection. */
typedef struct {
	timed_link anon;    /* not logged in: owes a login packet, or waits for its answer */
	timed_link partial; /* a message has begun and not ended */
	int anon_counted;   /* counted among its address's anonymous sockets */
	size_t held;        /* bytes of the unfinished message counted in partial_bytes */
	size_t frame_left;  /* bytes of the current frame still to come */
	uint64_t declared;  /* bytes the unfinished message's frames announced so far */
	int64_t rx_since;   /* when its first bytes came */
	int64_t strikes_since;
	long strikes; /* refused packets since strikes_since */
} conn_limits;

/* Sets glibc's allocator up for big, short-lived buffers (see limits.c)
 * and allocates the state. -1 on allocation failure. */
int limits_init(struct gw *g);
void limits_free(struct gw *g);
/* A WebSocket opened (its address known): counts it among its address's
 * anonymous sockets and starts its login deadline. -1 when the address has
 * too many already: the caller closes it (1008). */
int limits_conn_open(struct session *s);
/* Logged in: no longer anonymous, no deadline. */
void limits_conn_login(struct session *s);
/* The socket is gone: forgets everything about it. */
void limits_conn_close(struct session *s);
/* A login or sign-up was accepted from s: no login deadline while it is
 * queued or in flight; the clock starts again if s is still anonymous
 * after its answer. */
void limits_hello_sent(struct session *s);
/* Before len bytes of a message are buffered (final: the message ends with
 * them). -1: the connection is over a limit, and lws_close_reason was set. */
int limits_rx(struct session *s, struct lws *wsi, size_t len, int final);
/* The message that was being received ended (handled or discarded). */
void limits_rx_end(struct session *s);
/* 1 when a valid packet of row (with its payload msg) may go on to its
 * service; 0 when it is refused (`error`, or a close when the refusals go
 * on) or dropped (a relay): the row's rate class says which. */
int limits_admit(struct session *s, const void *row, const struct ProtobufCMessage *msg);
/* Every tick: closes the connections past a deadline. */
void limits_tick(struct gw *g);
void limits_metrics(struct gw *g, buf *b);

#endif
