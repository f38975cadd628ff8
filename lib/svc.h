/* The skeleton every service shares: one queue subscription on rb.<name>.>
 * (queue group <name>, so instances share the load), Envelope decoding, a
 * route table keyed by the envelope's payload, and the reply.
 *
 * Handlers run on the subscription's cnats thread, one at a time per
 * process, so a service's store connection needs no lock of its own. */
#ifndef RB_SVC_H
#define RB_SVC_H

#include <stdatomic.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "bus.h"
#include "rebuttal.pb-c.h"

typedef struct svc svc;

typedef struct {
	bus *bus;
	void *app;                  /* the service's own state */
	const Rb__Envelope *env;    /* the request (never NULL in a handler) */
	Rb__Reply *reply;           /* to fill; starts as code OK */
	arena *arena;               /* freed after the reply is sent */
} svc_req;

typedef void (*svc_handler)(svc_req *r);

typedef struct {
	Rb__Envelope__PayloadCase payload;
	svc_handler fn;
} svc_route;

/* Subscribes rb.<name>.> in queue group <name>. Returns NULL (logged) on
 * failure. routes must outlive the svc. */
svc *svc_start(bus *b, const char *name, const svc_route *routes, size_t n, void *app);
/* Unsubscribes and waits for a request in flight to finish, then frees s. */
void svc_stop(svc *s);
/* Stops a service whose dispatcher counts the requests inside a handler
 * in *busy and refuses new ones once *closing is set: sets *closing, waits
 * up to wait_ms for *busy to drop to 0, stops s, then sleeps 100 ms more
 * (a callback may still be replying). s may be NULL. Main thread. */
void svc_drain(svc *s, atomic_int *closing, atomic_int *busy, int wait_ms);

/* Sets an error reply. The message is what the client sees. */
void svc_fail(svc_req *r, Rb__Code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A fresh delivery in r's arena. */
Rb__Delivery *svc_delivery(svc_req *r);
Rb__Delivery *delivery_new(arena *a);
/* Queues d to the requesting connection, after those queued before. */
void svc_reply_deliver(svc_req *r, Rb__Delivery *d);

/* Publishing deliveries (any thread). 0 or -1. */
int deliver_all(bus *b, const Rb__Delivery *d);
int deliver_user(bus *b, const char *user_id, const Rb__Delivery *d);
int deliver_conn(bus *b, const char *gateway_id, const char *conn_id, const Rb__Delivery *d);

/* Name of the oneof member set in a delivery / envelope ("updateRooms",
 * "joinroom"), or "" when none. */
const char *delivery_type(const Rb__Delivery *d);
const char *envelope_type(const Rb__Envelope *e);

/* The oneof member itself (every member is a message): NULL when a sender
 * set the case without the message. Borrowed from e. */
const void *envelope_payload(const Rb__Envelope *e);

/* A connection id's share of a gateway's connection digest: the heartbeat
 * carries the sum over its logged-in connections (wrapping), so roomsvc can
 * tell when its own record of that gateway differs, not just its count. */
static inline uint64_t conn_digest(const char *conn_id)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	while (*conn_id)
		h = (h ^ (unsigned char)*conn_id++) * 1099511628211ULL;
	return h;
}

/* Whether the envelope's permission set holds perm. */
int env_has_perm(const Rb__Envelope *e, const char *perm);

/* Request counters of one route for /metrics, by reply code, and the time
 * spent: written by the request thread, read by the health thread. A
 * service keeps one per row of its table, {.op = "<op>"}, zeroed. */
#define SVC_NCODES (RB__CODE__UNAVAILABLE + 1)
typedef struct {
	const char *op;
	atomic_ulong codes[SVC_NCODES];
	atomic_ulong micros;
} svc_counter;

/* Counts one request that began at t0 (CLOCK_MONOTONIC) and ended with
 * code (one outside the enum counts as OK). Returns its microseconds. */
long svc_count(svc_counter *c, Rb__Code code, const struct timespec *t0);
/* Appends <part>_requests_total{op,code} and <part>_request_seconds_total{op}
 * of c[0..n-1] in Prometheus text format. */
void svc_counters_print(buf *out, const char *part, const svc_counter *c, size_t n);

#endif
