/* The message bus: a thin wrapper over cnats.
 *
 * - Connects with endless reconnects (and keeps retrying when the server is
 *   not up yet at start), so a part outlives NATS restarts.
 * - Non-blocking requests through ONE wildcard inbox subscription per process
 *   (cnats 3.4.1 only has blocking requests, and the gateway's loop must never
 *   block): bus_request publishes with a reply subject from that inbox and
 *   returns at once; the reply callback runs on a cnats thread; deadlines and
 *   resends (same bytes, so the same request id) are run by bus_tick on the
 *   caller's loop.
 * - No blind retries (docs/DESIGN.md, "Deadlines"): a request is sent again
 *   only when no instance took it — NATS answered "no responders" (then
 *   after a backoff with jitter), or nothing at all was heard for attempt_ms
 *   although a service that holds a request says so every BUS_ACK_EVERY_MS
 *   with an ack (so silence means the holder died). A slow answer
 *   is waited for until the deadline, never asked for twice.
 * - "ordered" connections use cnats' global delivery with one thread, so all
 *   subscriptions of the process see messages in publish order across
 *   subjects (the gateway needs that for deliveries).
 */
#ifndef RB_BUS_H
#define RB_BUS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct bus bus;
typedef struct bus_sub bus_sub;

typedef struct {
	const char *subject;
	const char *reply; /* NULL when the sender expects none */
	const void *data;
	size_t len;
} bus_msg;

/* Runs on a cnats delivery thread. m and its data are valid during the call only. */
typedef void (*bus_msg_fn)(void *ud, const bus_msg *m);

enum bus_result { BUS_REPLY = 0, BUS_TIMEOUT = -1 };
/* Runs once per request: on a cnats thread with the reply, or on the thread
 * calling bus_tick with BUS_TIMEOUT (data NULL) after the last try. */
typedef void (*bus_reply_fn)(void *ud, enum bus_result r, const void *data, size_t len);

enum bus_flags {
	BUS_ORDERED = 1,   /* global delivery, one thread: publish order across subjects */
	BUS_SEND_ASAP = 2, /* flush every publish: lower latency for request/reply */
	/* One thread of the bus reads and writes the socket (cnats's event-loop
	 * mode, lib/bus.c): a publish is written at once when the socket is
	 * idle, and the publishes made while a write is pending go in one
	 * write. Implies BUS_SEND_ASAP's latency without a write per publish. */
	BUS_BATCH = 4,
};

/* Where a part connects, and as whom. With a user, the server checks the
 * password and what the user may publish and subscribe (scripts/stack.sh,
 * deploy/nats-users.conf), and the process's reply inboxes are
 * "_INBOX.<user>.<nuid>": a user may then subscribe only its own. */
typedef struct {
	const char *url;
	const char *user;     /* NULL or "": no authentication; else 1-32 of [a-z0-9_-] */
	const char *password; /* with user */
} bus_addr;

/* Returns a bus even when the server is not reachable yet (it keeps trying),
 * NULL only on bad arguments (logged) or allocation failure. name shows in
 * NATS. addr's strings are copied. */
bus *bus_open(const bus_addr *addr, const char *name, int flags);
void bus_close(bus *b);
/* BUS_BATCH: on (1), the calling thread's publishes wait in the buffer
 * until it calls bus_write_pending (a loop: at the end of each pass, before
 * it sleeps), so a pass's publishes go in one write; off (0) hands what
 * waits to the bus's thread. bus_flush and bus_request_sync on that thread
 * still send at once. No effect without BUS_BATCH. */
void bus_write_batch(bus *b, int on);
void bus_write_pending(bus *b);
int bus_connected(bus *b);

/* 0 on success, -1 on failure (logged). Thread-safe. */
int bus_publish(bus *b, const char *subject, const void *data, size_t len);
int bus_publish_reply(bus *b, const char *subject, const char *reply, const void *data, size_t len);
/* Packs m and publishes it. */
int bus_publish_pb(bus *b, const char *subject, const ProtobufCMessage *m);
int bus_flush(bus *b, int timeout_ms);

/* Subscribes (in queue group `queue` when not NULL). Returns NULL on failure.
 * bus_sub_close unsubscribes; callbacks already running may still finish. */
bus_sub *bus_subscribe(bus *b, const char *subject, const char *queue, bus_msg_fn fn, void *ud);
void bus_sub_close(bus_sub *s);
/* Unsubscribes and waits (up to 5 s) until no callback of s is running,
 * so the caller may free what the callbacks use. Not from a callback of s. */
void bus_sub_close_wait(bus_sub *s);
/* Leaves the subscription (its queue group) at once but still hands fn
 * every message NATS sent before the server took the leave, then waits
 * (up to timeout_ms plus 1 s) until the last callback returned and frees s.
 * A service's graceful stop: new requests go to the other instances, none
 * already sent here is lost. Not from a callback of s. */
void bus_sub_drain_wait(bus_sub *s, int timeout_ms);

/* A service holding a request tells the requester so this often (bus_ack:
 * an empty message with this header to the reply subject); requesters use
 * an attempt_ms of a few times this. Neither bus_request nor
 * bus_request_sync takes an ack for the answer. */
#define BUS_ACK_EVERY_MS 500
#define BUS_ACK_HEADER "Rb-Ack"
int bus_ack(bus *b, const char *subject);

/* Non-blocking request. The data is copied (kept for resends). fn gets
 * BUS_TIMEOUT timeout_ms from now unless answered; the request is sent
 * again after "no responders" (backoff) or attempt_ms of silence (0: only
 * after "no responders"). Returns 0, or -1 (then fn is never called). */
int bus_request(bus *b, const char *subject, const void *data, size_t len, int timeout_ms,
		int attempt_ms, bus_reply_fn fn, void *ud);
/* A flush that does not wait: fn gets BUS_REPLY (no data) once the server
 * has processed everything published or subscribed on this connection
 * before the call (a message to our own inbox came back), or BUS_TIMEOUT
 * after timeout_ms. Same threads as bus_request. 0, or -1 (fn never called). */
int bus_barrier(bus *b, int timeout_ms, bus_reply_fn fn, void *ud);
/* Requests of this process (bus_request and bus_request_sync, every bus)
 * that got no answer in time, so far (for /metrics). Any thread. */
uint64_t bus_timeouts(void);
/* Tries sent again so far (for /metrics). */
uint64_t bus_resends(bus *b);
/* Fires due retries and timeouts. Call it often (every ~50 ms) from one thread. */
void bus_tick(bus *b);
/* Number of requests waiting for a reply. */
size_t bus_pending(bus *b);

/* Blocking request for services and tools (never from the gateway's loop).
 * On success returns 0 and a malloc'd copy of the reply in *out / *out_len
 * (caller frees); -1 on timeout or error. */
int bus_request_sync(bus *b, const char *subject, const void *data, size_t len, int timeout_ms,
		     void **out, size_t *out_len);

/* Milliseconds of a monotonic clock. */
int64_t bus_now_ms(void);
/* Unix time in ms: envelope deadlines are wall-clock times (parts on
 * different hosts share no monotonic clock). */
int64_t bus_wall_ms(void);

#endif
