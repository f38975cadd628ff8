/* roomsvc's Redis: one hiredis connection shared by every thread of the
 * process behind a mutex (request handlers run on the request
 * subscription's thread, events on other cnats threads, the sweeper and
 * the flusher on their own threads).
 *
 * The connection heals itself: a command that finds it broken frees it and
 * the next store_begin connects again (at most every RECONNECT_GAP_MS, so a
 * dead Redis costs callers a refused call, not a connect timeout each).
 * Commands are never repeated by the store: a caller decides whether its
 * command is safe to run twice (roomsvc's scripts are written so that they are).
 *
 * Every reply is checked here for transport errors and error replies; the
 * caller checks the shape of what it asked for. */
#ifndef ROOM_STORE_H
#define ROOM_STORE_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_STATUS_MAP(X)                      \
	X(STORE_OK, "ok")                        \
	X(STORE_DOWN, "redis unreachable")       \
	X(STORE_ERROR, "redis command failed")

typedef enum {
#define STORE_ENUM(name, text) name,
	STORE_STATUS_MAP(STORE_ENUM)
#undef STORE_ENUM
} store_status;

const char *store_status_text(store_status s);

typedef struct store store;

/* Tries to connect at once but returns the store even when Redis is not
 * reachable yet. NULL only when out of memory. host must outlive the store.
 * Free with store_close (no thread may be using it any more). */
store *store_open(const char *host, int port);
void store_close(store *st);

/* Any thread, no lock: 1 while the last command found Redis answering. */
int store_up(store *st);
/* Any thread: bus_now_ms() of the moment the current connection was made,
 * or 0 while Redis is down. The sweeper uses it to wait out a lease after
 * Redis was unreachable (heartbeats could not be stored meanwhile). */
int64_t store_up_since(store *st);

/* A pipeline: store_begin takes the lock and makes sure a connection
 * exists; store_appendf queues commands (hiredis format: %s, %b);
 * store_collect reads the replies of everything queued into out[0..n-1]
 * (n must be the number of commands queued); store_end releases the lock.
 * On STORE_DOWN from store_begin the lock is NOT held. store_collect gives
 * the caller the replies only on STORE_OK (free them with
 * store_replies_free); on failure out is all NULL. An error reply to any
 * command is STORE_ERROR (logged). */
store_status store_begin(store *st);
void store_appendf(store *st, const char *fmt, ...);
void store_appendv(store *st, int argc, const char **argv);
store_status store_collect(store *st, redisReply **out, size_t n);
void store_end(store *st);
void store_replies_free(redisReply **r, size_t n);

/* One command, locked. On STORE_OK *out is the reply (caller frees it with
 * freeReplyObject; out may be NULL to drop it). */
store_status store_cmd(store *st, redisReply **out, const char *fmt, ...);
/* EVAL script 0 args... (the scripts name their keys themselves, see
 * scripts.c for why). Same ownership as store_cmd. */
store_status store_eval(store *st, redisReply **out, const char *script, int nargs,
			const char *const *args);
/* store_eval, tried again every 200 ms while Redis is unreachable, for at
 * most budget_ms or until the process stops: for events, which are lost if
 * not applied. Only for scripts that are safe to run twice. */
store_status store_eval_retry(store *st, redisReply **out, const char *script, int nargs,
			      const char *const *args, int budget_ms);

/* Helpers for reading replies: NULL / 0 when r is not of the right type. */
const char *reply_str(const redisReply *r);          /* string or status */
redisReply *reply_elem(const redisReply *r, size_t i); /* array element */
long long reply_int(const redisReply *r, long long def); /* integer or numeric string */

#endif
