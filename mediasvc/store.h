/* mediasvc's Redis: one hiredis connection shared by every thread of the
 * process behind a mutex (requests run on the request subscription's
 * thread, events on other cnats threads, trailing `talking` publishes on the
 * timer thread, pings on the main thread).
 *
 * The connection heals itself: a command that finds it broken frees it and
 * the next command connects again (at most every RECONNECT_GAP_MS, so a dead
 * Redis costs callers a refused call, not a connect timeout each). A command
 * is repeated once on a fresh connection only when the caller says it is
 * safe to run twice (STORE_IDEMPOTENT): a connection that died while idle
 * (Redis restarted) then costs no refusal.
 *
 * Every reply is checked here for transport errors and error replies; the
 * caller checks the shape of what it asked for. */
#ifndef MEDIA_STORE_H
#define MEDIA_STORE_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define STORE_STATUS_MAP(X)                \
	X(STORE_OK, "ok")                  \
	X(STORE_DOWN, "redis unreachable") \
	X(STORE_ERROR, "redis command failed")

typedef enum {
#define STORE_ENUM(name, text) name,
	STORE_STATUS_MAP(STORE_ENUM)
#undef STORE_ENUM
} store_status;

const char *store_status_text(store_status s);

enum store_flags {
	STORE_IDEMPOTENT = 1, /* may be sent again after a broken connection */
};

typedef struct store store;

/* Tries to connect at once but returns the store even when Redis is not
 * reachable yet. NULL only when out of memory. host must outlive the store.
 * Free with store_close once no thread uses it any more. */
store *store_open(const char *host, int port);
void store_close(store *st);

/* Any thread, no lock: 1 while the last command found Redis answering. */
int store_up(store *st);
/* PING. STORE_OK when Redis answered PONG. */
store_status store_ping(store *st);

/* One command from argv (binary-safe). On STORE_OK *out (if out is not
 * NULL) is the reply, owned by the caller (freeReplyObject); on failure
 * *out is NULL. An error reply is STORE_ERROR (logged). */
store_status store_cmd(store *st, redisReply **out, int flags, int argc, const char **argv);
/* EVAL script 0 args... (the scripts name their keys themselves, see
 * scripts.h). Same ownership as store_cmd. nargs <= 8. */
store_status store_eval(store *st, redisReply **out, int flags, const char *script, int nargs,
			const char *const *args);

/* Helpers for reading replies: NULL / def when r is not of the right type. */
const char *reply_str(const redisReply *r);            /* string or status */
const redisReply *reply_elem(const redisReply *r, size_t i); /* array element */
long long reply_int(const redisReply *r, long long def); /* integer or numeric string */

#endif
