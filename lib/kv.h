/* A service's Redis: one hiredis connection shared by every thread of the
 * process behind a mutex (request handlers, event callbacks, timers and the
 * main thread may all use it).
 *
 * The connection heals itself: a command that finds it broken frees it and
 * the next command connects again (at most every 200 ms, so a dead Redis
 * costs callers a refused call, not a connect timeout each). A command is
 * repeated once on a fresh connection only when the caller says it is safe
 * to run twice (KV_IDEMPOTENT): a connection that died while idle (Redis
 * restarted) then costs no refusal. Pipelines are never repeated.
 *
 * Every reply is checked here for transport errors and error replies; the
 * caller checks the shape of what it asked for. */
#ifndef RB_KV_H
#define RB_KV_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "status.h"

#define KV_STATUS_MAP(X)                                                                           \
	X(KV_OK, "ok")                                                                             \
	X(KV_DOWN, "redis unreachable")                                                            \
	X(KV_ERROR, "redis command failed")

/* kv_status_text: a static string; "?" for a value outside the enum. */
STATUS_TYPE(kv_status, KV_STATUS_MAP)

enum kv_flags {
	KV_IDEMPOTENT = 1, /* may be sent again after a broken connection */
};

typedef struct kv kv;

/* Where Redis is, and as whom: with a password every connection starts
 * with AUTH (an ACL user when user is set, else the default user). */
typedef struct {
	const char *host;
	long port;            /* 1-65535 (a config table fills it) */
	const char *user;     /* NULL or "": the default user */
	const char *password; /* NULL or "": no AUTH */
} kv_addr;

/* Tries to connect at once but returns the kv even when Redis is not
 * reachable yet. NULL only when out of memory. addr's strings must outlive
 * the kv. Free with kv_close once no thread uses it any more (NULL is fine). */
kv *kv_open(const kv_addr *addr);
void kv_close(kv *st);

/* Any thread, no lock: 1 while the last command found Redis answering. */
int kv_up(kv *st);
/* Any thread: bus_now_ms() of the moment the current connection was made,
 * or 0 while Redis is down (e.g. to wait out a lease after Redis was
 * unreachable: heartbeats could not be stored meanwhile). */
int64_t kv_up_since(kv *st);

/* A pipeline: kv_begin takes the lock and makes sure a connection exists;
 * kv_appendf queues commands (hiredis format: %s, %b); kv_collect reads
 * the replies of everything queued into out[0..n-1] (n must be the number
 * of commands queued); kv_end releases the lock. On KV_DOWN from kv_begin
 * the lock is NOT held. kv_collect gives the caller the replies only on
 * KV_OK (free them with kv_replies_free); on failure out is all NULL. An
 * error reply to any command is KV_ERROR (logged). */
kv_status kv_begin(kv *st);
void kv_appendf(kv *st, const char *fmt, ...);
kv_status kv_collect(kv *st, redisReply **out, size_t n);
void kv_end(kv *st);
void kv_replies_free(redisReply **r, size_t n);

/* One command from argv (binary-safe), locked. On KV_OK *out (if out is
 * not NULL) is the reply, owned by the caller (freeReplyObject); on
 * failure *out is NULL. An error reply is KV_ERROR (logged). */
kv_status kv_cmd(kv *st, redisReply **out, int flags, int argc, const char **argv);
/* One command in hiredis format (%s, %b), locked, never repeated. Same
 * ownership as kv_cmd. */
kv_status kv_cmdf(kv *st, redisReply **out, const char *fmt, ...);
/* EVAL script 0 args... (scripts that name their keys themselves). Same
 * ownership as kv_cmd. nargs <= 16, else KV_ERROR. */
kv_status kv_eval(kv *st, redisReply **out, int flags, const char *script, int nargs,
		  const char *const *args);
/* kv_eval, tried again every 200 ms while Redis is unreachable, for at most
 * budget_ms or until the process stops: for events, which are lost if not
 * applied. Only for scripts that are safe to run twice. */
kv_status kv_eval_retry(kv *st, redisReply **out, const char *script, int nargs,
			const char *const *args, int budget_ms);
/* PING (KV_IDEMPOTENT). KV_OK when Redis answered PONG. */
kv_status kv_ping(kv *st);

/* Appends the histogram <part>_store_redis_round_trip_seconds: every
 * command or pipeline of the process, one round trip each. Any thread. */
void kv_metrics(buf *out, const char *part);

/* Helpers for reading replies: NULL / def when r is not of the right type. */
const char *kv_reply_str(const redisReply *r);              /* string or status */
redisReply *kv_reply_elem(const redisReply *r, size_t i);   /* array element */
long long kv_reply_int(const redisReply *r, long long def); /* integer or numeric string */

#endif
