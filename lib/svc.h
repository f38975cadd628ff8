/* The skeleton every service shares: one queue subscription on rb.<name>.>
 * (queue group <name>, so instances share the load), Envelope decoding, a
 * route table keyed by the envelope's payload whose rows say what they
 * admit (shutdown, payload, caller, permission: checked here once, before
 * the handler), per-route counters for /metrics, and the reply.
 *
 * Handlers run on a pool of handler threads (svc_opts.threads), each with
 * its own copy of the service's state (worker_app: its own store
 * connections), so a store connection is only ever used by one thread.
 * Requests whose route gives the same ordering key (svc_route.key) run in
 * arrival order on one thread; others run in parallel.
 *
 * Deadlines and duplicates (docs/DESIGN.md, "Deadlines"): a request whose
 * envelope deadline has passed is dropped unworked, when it arrives and
 * again when a thread takes it; a request id already held (queued or
 * running) is not taken twice — the holder tells the requester every
 * BUS_ACK_EVERY_MS that it still works on it; a request id answered lately
 * gets the same answer again without running the handler. */
#ifndef RB_SVC_H
#define RB_SVC_H

#include <stdatomic.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "bus.h"
#include "histo.h"
#include "packet.h"
#include "rebuttal.pb-c.h"
#include "strx.h"

typedef struct svc svc;

typedef struct {
	bus *bus;
	void *app;               /* the service's own state */
	const Rb__Envelope *env; /* the request (never NULL in a handler) */
	Rb__Reply *reply;        /* to fill; starts as code OK */
	arena *arena;            /* freed after the reply is sent */
} svc_req;

typedef void (*svc_handler)(svc_req *r);

/* Request counters of one route for /metrics, by reply code, the time
 * spent and its distribution: written by the request thread, read by the
 * health thread. */
#define SVC_NCODES (RB__CODE__UNAVAILABLE + 1)
typedef struct {
	atomic_ulong codes[SVC_NCODES];
	atomic_ulong micros;
	histo dur; /* admission + handler, per request */
} svc_counter;

/* Service flags (svc_opts.flags): what every route of a service does. What
 * a single packet needs is its row's (lib/packet.h): permission, caller
 * (PKT_INTERNAL; a client packet without PV0 needs the acting user), field
 * rules, PKT_CLOSE_ON_ERROR, ordering key. */
enum {
	/* The handlers key replies by request_id (idem.h): one longer than
	 * IDEM_REQUEST_ID_MAX is refused (BAD_REQUEST). */
	SVC_IDEM = 1 << 0,
	/* A reply that is not OK carries only its code and message: nothing
	 * half built (deliveries, login, users, data) goes out with it. */
	SVC_BARE_REFUSAL = 1 << 1,
	/* Replies that are not OK are logged (info) with the acting user. */
	SVC_LOG_REFUSALS = 1 << 2,
};

/* A service's handler of one packet type: all it supplies of a route.
 * svc_start finds the row (packet_find(op)) and keeps it in row; svc
 * writes the counter, so the table is static storage the service owns.
 * Handlers are named h_<type>; SVC_ROUTE(type) makes the entry. */
typedef struct {
	const char *op; /* the row's type: the envelope member name */
	svc_handler fn;
	const packet_row *row; /* set by svc_start */
	svc_counter count;
} svc_route;
#define SVC_ROUTE(type) {.op = #type, .fn = h_##type},
#define SVC_DECLARE(type) void h_##type(svc_req *r);

/* A service's whole route table from its routes.h list (LIST(X): X(type)
 * per handler): declares every h_<type>, defines the table (static storage:
 * svc writes its counters), <name>_routes() for svc_opts.routes and
 * <name>_metrics() for /metrics under the metric prefix part ("msgsvc"). */
#define SVC_ROUTE_TABLE(LIST, name, part)                                                          \
	LIST(SVC_DECLARE)                                                                          \
	static svc_route name##_table[] = {LIST(SVC_ROUTE)};                                       \
	svc_route *name##_routes(size_t *n)                                                        \
	{                                                                                          \
		*n = sizeof name##_table / sizeof *name##_table;                                   \
		return name##_table;                                                               \
	}                                                                                          \
	void name##_metrics(buf *out)                                                              \
	{                                                                                          \
		svc_routes_print(out, part, name##_table,                                          \
				 sizeof name##_table / sizeof *name##_table);                      \
	}

/* Whether routes[0..n-1] are exactly the handlers of the rows whose part
 * is name: each route names a row of that part, each such row has one
 * route. Sets each route's row. 0, or -1 with what differs in err. */
int svc_routes_check(const char *name, svc_route *routes, size_t n, char *err, size_t errlen);

typedef struct {
	const char *name;  /* serves rb.<name>.> in queue group <name>: a part_name */
	svc_route *routes; /* static: svc writes the counters */
	size_t nroutes;
	int flags; /* SVC_* */
	void *app;
	atomic_int *closing; /* see svc_start */
	atomic_int *busy;    /* requests held (queued or running) */
	int threads;         /* handler threads; <= 0: one per online CPU */
	/* The state handlers of thread i see as svc_req.app (its own store
	 * connections); NULL when it cannot be made. Without worker_app every
	 * thread shares app. worker_free undoes it after the thread ends. */
	void *(*worker_app)(void *app, int i);
	void (*worker_free)(void *wapp);
	size_t queue_max; /* requests held at most; 0: 10000 */
} svc_opts;

/* Subscribes rb.<name>.> in queue group <name>. Returns NULL (logged) on
 * failure, also when the routes are not the handlers of the part's rows
 * (svc_routes_check). routes must outlive the svc. Every request is
 * admitted by its row in this order, each refusal with its code and text
 * (<op> is the row's type):
 *   *closing set     UNAVAILABLE "<op>: the service is shutting down, try again"
 *   no payload       BAD_REQUEST "<op>: the request has no payload"
 *   SVC_IDEM         BAD_REQUEST "<op>: request_id is too long"
 *   PKT_INTERNAL     DENIED "Permission denied" (a user or gateway named)
 *   v1-only packet   DENIED "Not logged in" (no acting user)
 *   perm not held    DENIED "Permission denied \"<perm>\""
 *   field rules      BAD_REQUEST as the gateway's (packet_check)
 * The service owns closing (set at shutdown) and busy (requests inside svc's
 * request path, counted before closing is read, so that shutdown can set
 * closing and then wait for busy to drop); both may be NULL (never closing,
 * not counted) and must outlive the svc. */
svc *svc_start(bus *b, const svc_opts *o);
/* Handler threads a setting of n means (n <= 0: online CPUs). */
int svc_threads(long n);
/* Unsubscribes, lets the handler threads finish what they hold, joins
 * them and frees s. */
void svc_stop(svc *s);
/* The graceful stop (SIGTERM), main thread: leaves the queue group at
 * once (new requests go to the other instances), still takes every request
 * NATS sent here before (bus_sub_drain_wait, up to wait_ms), then sets
 * *closing (if given), waits up to wait_ms for *busy (if given) to drop to
 * 0, and stops s (svc_stop: the held requests are finished and answered).
 * s may be NULL. */
void svc_drain(svc *s, int wait_ms);

/* Sets an error reply. The message is what the client sees. */
void svc_fail(svc_req *r, Rb__Code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A fresh delivery in r's arena. */
Rb__Delivery *svc_delivery(svc_req *r);
Rb__Delivery *svc_delivery_new(arena *a);
/* Queues d to the requesting connection, after those queued before. */
void svc_reply_deliver(svc_req *r, Rb__Delivery *d);

/* Publishing deliveries (any thread). 0 or -1. */
int svc_deliver_all(bus *b, const Rb__Delivery *d);
int svc_deliver_user(bus *b, const char *user_id, const Rb__Delivery *d);
int svc_deliver_conn(bus *b, const char *gateway_id, const char *conn_id, const Rb__Delivery *d);

/* Name of the oneof member set in an envelope ("joinroom"), or "" when
 * none. */
const char *svc_envelope_type(const Rb__Envelope *e);

/* The oneof member itself (every member is a message): NULL when a sender
 * set the case without the message. Borrowed from e. */
const void *svc_envelope_payload(const Rb__Envelope *e);

/* A connection id's share of a gateway's connection digest: the heartbeat
 * carries the sum over its logged-in connections (wrapping), so roomsvc can
 * tell when its own record of that gateway differs, not just its count. */
static inline uint64_t svc_conn_digest(const char *conn_id)
{
	return str_hash(conn_id);
}

/* Whether the envelope's permission set holds perm. */
int svc_has_perm(const Rb__Envelope *e, const char *perm);

/* Appends <part>_requests_total{op,code}, <part>_request_seconds_total{op}
 * and the histogram <part>_request_duration_seconds{op} of routes[0..n-1]
 * in Prometheus text format, and the process's request queue: held
 * requests, requests in flight (running), handler queue depth (waiting),
 * threads, requests dropped past their deadline, duplicates ignored,
 * answers replayed; then the bus request timeouts and the store round-trip
 * histograms (pg_metrics, kv_metrics) of the process. Any thread. */
void svc_routes_print(buf *out, const char *part, const svc_route *routes, size_t n);

#endif
