#include "store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bus.h"
#include "log.h"
#include "proc.h"

#define CONNECT_TIMEOUT_MS 500
#define COMMAND_TIMEOUT_MS 2000
#define RECONNECT_GAP_MS 200

struct store {
	pthread_mutex_t lock;
	const char *host;
	int port;
	redisContext *c;        /* NULL while down */
	size_t queued;          /* commands appended since store_begin */
	int append_failed;      /* an append failed: the pipeline is unusable */
	int64_t last_attempt;   /* of a connect, for RECONNECT_GAP_MS */
	atomic_int up;
	atomic_llong up_since;
	int logged_down;        /* "down" logged once per outage */
};

const char *store_status_text(store_status s)
{
	static const char *texts[] = {
#define STORE_TEXT(name, text) text,
		STORE_STATUS_MAP(STORE_TEXT)
#undef STORE_TEXT
	};
	return (size_t)s < sizeof texts / sizeof *texts ? texts[s] : "?";
}

static struct timeval tv_ms(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return tv;
}

/* Lock held. Forgets a broken connection; the next begin reconnects. */
static void drop(store *st, const char *why)
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

/* Lock held. */
static int connect_now(store *st)
{
	int64_t now = bus_now_ms();
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
	log_info("store: connected to redis %s:%d", st->host, st->port);
	st->logged_down = 0;
	atomic_store(&st->up, 1);
	atomic_store(&st->up_since, now ? now : 1);
	return 0;
}

store *store_open(const char *host, int port)
{
	store *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		free(st);
		return NULL;
	}
	st->host = host;
	st->port = port;
	pthread_mutex_lock(&st->lock);
	(void)connect_now(st);
	pthread_mutex_unlock(&st->lock);
	return st;
}

void store_close(store *st)
{
	if (!st)
		return;
	if (st->c)
		redisFree(st->c);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int store_up(store *st)
{
	return atomic_load(&st->up);
}

int64_t store_up_since(store *st)
{
	return atomic_load(&st->up_since);
}

store_status store_begin(store *st)
{
	pthread_mutex_lock(&st->lock);
	if (connect_now(st) < 0) {
		pthread_mutex_unlock(&st->lock);
		return STORE_DOWN;
	}
	st->queued = 0;
	st->append_failed = 0;
	return STORE_OK;
}

void store_appendv(store *st, int argc, const char **argv)
{
	if (redisAppendCommandArgv(st->c, argc, argv, NULL) != REDIS_OK)
		st->append_failed = 1;
	else
		st->queued++;
}

void store_appendf(store *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (redisvAppendCommand(st->c, fmt, ap) != REDIS_OK)
		st->append_failed = 1;
	else
		st->queued++;
	va_end(ap);
}

void store_replies_free(redisReply **r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i])
			freeReplyObject(r[i]);
		r[i] = NULL;
	}
}

store_status store_collect(store *st, redisReply **out, size_t n)
{
	store_status s = STORE_OK;
	size_t got = 0;

	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	/* Every queued reply must be read, or the next pipeline would see
	 * this one's answers. A short read breaks the connection instead. */
	for (; got < st->queued; got++) {
		void *r = NULL;
		if (redisGetReply(st->c, &r) != REDIS_OK || !r) {
			drop(st, st->c->errstr[0] ? st->c->errstr : "connection lost");
			s = STORE_DOWN;
			break;
		}
		if (((redisReply *)r)->type == REDIS_REPLY_ERROR) {
			log_error("store: redis error: %s", ((redisReply *)r)->str);
			s = STORE_ERROR;
		}
		if (got < n)
			out[got] = r;
		else
			freeReplyObject(r);
	}
	if (s == STORE_OK && (st->append_failed || st->queued != n)) {
		log_error("store: pipeline of %zu commands queued %zu", n, st->queued);
		s = STORE_ERROR;
	}
	st->queued = 0;
	if (s != STORE_OK)
		store_replies_free(out, n);
	return s;
}

void store_end(store *st)
{
	pthread_mutex_unlock(&st->lock);
}

store_status store_cmd(store *st, redisReply **out, const char *fmt, ...)
{
	redisReply *r = NULL;
	va_list ap;
	store_status s = store_begin(st);

	if (s != STORE_OK)
		return s;
	va_start(ap, fmt);
	if (redisvAppendCommand(st->c, fmt, ap) == REDIS_OK)
		st->queued++;
	else
		st->append_failed = 1;
	va_end(ap);
	s = store_collect(st, &r, 1);
	store_end(st);
	if (out)
		*out = r;
	else if (r)
		freeReplyObject(r);
	return s;
}

store_status store_eval(store *st, redisReply **out, const char *script, int nargs,
			const char *const *args)
{
	const char *argv[3 + 16];
	redisReply *r = NULL;
	store_status s;

	if (nargs < 0 || nargs > 16)
		return STORE_ERROR;
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = "0";
	for (int i = 0; i < nargs; i++)
		argv[3 + i] = args[i];
	s = store_begin(st);
	if (s != STORE_OK)
		return s;
	store_appendv(st, 3 + nargs, argv);
	s = store_collect(st, &r, 1);
	store_end(st);
	if (out)
		*out = r;
	else if (r)
		freeReplyObject(r);
	return s;
}

store_status store_eval_retry(store *st, redisReply **out, const char *script, int nargs,
			      const char *const *args, int budget_ms)
{
	int64_t until = bus_now_ms() + budget_ms;
	for (;;) {
		store_status s = store_eval(st, out, script, nargs, args);
		if (s != STORE_DOWN || bus_now_ms() >= until || proc_stopping())
			return s;
		proc_sleep_ms(200);
	}
}

const char *reply_str(const redisReply *r)
{
	if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
		return r->str;
	return NULL;
}

redisReply *reply_elem(const redisReply *r, size_t i)
{
	if (r && r->type == REDIS_REPLY_ARRAY && i < r->elements)
		return r->element[i];
	return NULL;
}

long long reply_int(const redisReply *r, long long def)
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
