#include "kv.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "bus.h"
#include "histo.h"
#include "log.h"
#include "proc.h"

/* Round trips of every connection of the process (kv_metrics). */
static histo round_trips;

void kv_metrics(buf *out, const char *part)
{
	histo_print_one(out, "Redis command and pipeline round trips", &round_trips,
			"%s_store_redis_round_trip_seconds", part);
}

#define CONNECT_TIMEOUT_MS 500
#define COMMAND_TIMEOUT_MS 2000
#define RECONNECT_GAP_MS 200
#define EVAL_MAX_ARGS 16

struct kv {
	pthread_mutex_t lock;
	const char *host;
	int port;
	const char *user, *password; /* never NULL */
	redisContext *c;             /* NULL while down */
	size_t queued;               /* commands appended since kv_begin */
	int append_failed;           /* an append failed: the pipeline is unusable */
	int64_t last_attempt;        /* of a connect, for RECONNECT_GAP_MS */
	int logged_down;             /* "down" is logged once per outage */
	atomic_int up;
	atomic_llong up_since;
};

STATUS_TEXT(kv_status, KV_STATUS_MAP)

static struct timeval tv_ms(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return tv;
}

/* Lock held. Forgets a broken connection; the next command reconnects. */
static void drop(kv *st, const char *why)
{
	if (!st->logged_down) {
		log_warn("store: redis %s:%d: %s", st->host, st->port, why);
		st->logged_down = 1;
	}
	if (st->c)
		redisFree(st->c);
	st->c = NULL;
	atomic_store(&st->up, 0);
	atomic_store(&st->up_since, 0);
}

/* Lock held. Whether the server has closed the idle connection (Redis
 * restarted since our last command): then nothing we send next can have
 * run, so even a command that must not run twice may go on a fresh one.
 * A peek, no wait: an idle RESP connection has nothing to read. */
static int closed_by_server(const kv *st)
{
	char b;
	ssize_t n = recv(st->c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Lock held, on a fresh connection: AUTH, 0 when Redis took it. */
static int auth(kv *st)
{
	redisReply *r = *st->user ? redisCommand(st->c, "AUTH %s %s", st->user, st->password)
				  : redisCommand(st->c, "AUTH %s", st->password);
	int ok = r && r->type == REDIS_REPLY_STATUS;
	if (!ok) {
		/* The reply names no secret ("WRONGPASS invalid username-password
		 * pair or user is disabled."). */
		char why[160];
		snprintf(why, sizeof why, "AUTH%s%s refused: %s", *st->user ? " as " : "", st->user,
			 r && r->type == REDIS_REPLY_ERROR ? r->str : st->c->errstr);
		drop(st, why);
	}
	if (r)
		freeReplyObject(r);
	return ok ? 0 : -1;
}

/* Lock held. 0 when a connection exists afterwards. */
static int connect_now(kv *st)
{
	int64_t now = bus_now_ms();
	if (st->c && closed_by_server(st)) {
		drop(st, "server closed the connection");
		st->last_attempt = 0; /* not a failed attempt of ours: reconnect now */
	}
	if (st->c)
		return 0;
	if (st->last_attempt && now - st->last_attempt < RECONNECT_GAP_MS)
		return -1;
	st->last_attempt = now;
	st->c = redisConnectWithTimeout(st->host, st->port, tv_ms(CONNECT_TIMEOUT_MS));
	if (!st->c || st->c->err) {
		drop(st, st->c ? st->c->errstr : "out of memory");
		return -1;
	}
	if (redisSetTimeout(st->c, tv_ms(COMMAND_TIMEOUT_MS)) != REDIS_OK ||
	    redisEnableKeepAlive(st->c) != REDIS_OK) {
		drop(st, "cannot set socket options");
		return -1;
	}
	if (*st->password && auth(st) < 0)
		return -1;
	log_info("store: connected to redis %s:%d", st->host, st->port);
	st->logged_down = 0;
	atomic_store(&st->up, 1);
	atomic_store(&st->up_since, now ? now : 1);
	return 0;
}

kv *kv_open(const kv_addr *addr)
{
	kv *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		free(st);
		return NULL;
	}
	st->host = addr->host;
	st->port = (int)addr->port;
	st->user = addr->user ? addr->user : "";
	st->password = addr->password ? addr->password : "";
	pthread_mutex_lock(&st->lock);
	(void)connect_now(st);
	pthread_mutex_unlock(&st->lock);
	return st;
}

void kv_close(kv *st)
{
	if (!st)
		return;
	if (st->c)
		redisFree(st->c);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int kv_up(kv *st)
{
	return atomic_load(&st->up);
}

int64_t kv_up_since(kv *st)
{
	return atomic_load(&st->up_since);
}

/* ------------------------------------------------------------ pipelines */

kv_status kv_begin(kv *st)
{
	pthread_mutex_lock(&st->lock);
	if (connect_now(st) < 0) {
		pthread_mutex_unlock(&st->lock);
		return KV_DOWN;
	}
	st->queued = 0;
	st->append_failed = 0;
	return KV_OK;
}

static void appendva(kv *st, const char *fmt, va_list ap)
{
	if (redisvAppendCommand(st->c, fmt, ap) != REDIS_OK)
		st->append_failed = 1;
	else
		st->queued++;
}

void kv_appendf(kv *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	appendva(st, fmt, ap);
	va_end(ap);
}

void kv_replies_free(redisReply **r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i])
			freeReplyObject(r[i]);
		r[i] = NULL;
	}
}

kv_status kv_collect(kv *st, redisReply **out, size_t n)
{
	kv_status s = KV_OK;
	size_t got = 0;

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	/* Every queued reply must be read, or the next pipeline would see
	 * this one's answers. A short read breaks the connection instead. */
	for (; got < st->queued; got++) {
		void *r = NULL;
		if (redisGetReply(st->c, &r) != REDIS_OK || !r) {
			drop(st, st->c->errstr[0] ? st->c->errstr : "connection lost");
			s = KV_DOWN;
			break;
		}
		if (((redisReply *)r)->type == REDIS_REPLY_ERROR) {
			log_error("store: redis error: %s", ((redisReply *)r)->str);
			s = KV_ERROR;
		}
		if (got < n)
			out[got] = r;
		else
			freeReplyObject(r);
	}
	if (s == KV_OK && (st->append_failed || st->queued != n)) {
		log_error("store: pipeline of %zu commands queued %zu", n, st->queued);
		s = KV_ERROR;
	}
	st->queued = 0;
	histo_observe_since(&round_trips, &t0);
	if (s != KV_OK)
		kv_replies_free(out, n);
	return s;
}

void kv_end(kv *st)
{
	pthread_mutex_unlock(&st->lock);
}

/* ------------------------------------------------------ single commands */

/* Hands r to *out, or frees it when the caller does not want it. */
static void give(redisReply **out, redisReply *r)
{
	if (out)
		*out = r;
	else if (r)
		freeReplyObject(r);
}

/* Lock held. One round trip on the current connection. */
static kv_status run_once(kv *st, redisReply **out, int argc, const char **argv)
{
	if (connect_now(st) < 0)
		return KV_DOWN;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	redisReply *r = redisCommandArgv(st->c, argc, argv, NULL);
	histo_observe_since(&round_trips, &t0);
	if (!r) {
		drop(st, st->c->errstr[0] ? st->c->errstr : "connection lost");
		return KV_DOWN;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		log_error("store: redis error on %s: %s", argv[0], r->str);
		freeReplyObject(r);
		return KV_ERROR;
	}
	*out = r;
	return KV_OK;
}

kv_status kv_cmd(kv *st, redisReply **out, int flags, int argc, const char **argv)
{
	redisReply *r = NULL;
	pthread_mutex_lock(&st->lock);
	int had_connection = st->c != NULL;
	kv_status s = run_once(st, &r, argc, argv);
	/* The connection we had may simply have gone stale (Redis restarted
	 * since the last command): one more try on a fresh one, if allowed. */
	if (s == KV_DOWN && had_connection && (flags & KV_IDEMPOTENT)) {
		st->last_attempt = 0;
		s = run_once(st, &r, argc, argv);
	}
	pthread_mutex_unlock(&st->lock);
	give(out, r);
	return s;
}

kv_status kv_cmdf(kv *st, redisReply **out, const char *fmt, ...)
{
	redisReply *r = NULL;
	va_list ap;
	kv_status s = kv_begin(st);

	if (s != KV_OK) {
		give(out, NULL);
		return s;
	}
	va_start(ap, fmt);
	appendva(st, fmt, ap);
	va_end(ap);
	s = kv_collect(st, &r, 1);
	kv_end(st);
	give(out, r);
	return s;
}

kv_status kv_eval(kv *st, redisReply **out, int flags, const char *script, int nargs,
		  const char *const *args)
{
	const char *argv[3 + EVAL_MAX_ARGS];
	if (nargs < 0 || nargs > EVAL_MAX_ARGS) {
		give(out, NULL);
		return KV_ERROR;
	}
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = "0";
	for (int i = 0; i < nargs; i++)
		argv[3 + i] = args[i];
	return kv_cmd(st, out, flags, 3 + nargs, argv);
}

kv_status kv_eval_retry(kv *st, redisReply **out, const char *script, int nargs,
			const char *const *args, int budget_ms)
{
	int64_t until = bus_now_ms() + budget_ms;
	for (;;) {
		kv_status s = kv_eval(st, out, 0, script, nargs, args);
		if (s != KV_DOWN || bus_now_ms() >= until || proc_stopping())
			return s;
		proc_sleep_ms(200);
	}
}

kv_status kv_ping(kv *st)
{
	static const char *argv[] = {"PING"};
	redisReply *r = NULL;
	kv_status s = kv_cmd(st, &r, KV_IDEMPOTENT, 1, argv);
	const char *pong = kv_reply_str(r);
	if (s == KV_OK && (!pong || strcmp(pong, "PONG")))
		s = KV_ERROR;
	if (r)
		freeReplyObject(r);
	return s;
}

/* -------------------------------------------------------------- replies */

const char *kv_reply_str(const redisReply *r)
{
	if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
		return r->str;
	return NULL;
}

redisReply *kv_reply_elem(const redisReply *r, size_t i)
{
	if (r && r->type == REDIS_REPLY_ARRAY && i < r->elements)
		return r->element[i];
	return NULL;
}

long long kv_reply_int(const redisReply *r, long long def)
{
	if (r && r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r && r->type == REDIS_REPLY_STRING) {
		char *end;
		long long v = strtoll(r->str, &end, 10);
		if (end != r->str && !*end)
			return v;
	}
	return def;
}
