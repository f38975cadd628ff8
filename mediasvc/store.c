#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bus.h"
#include "log.h"

#define CONNECT_TIMEOUT_MS 500
#define COMMAND_TIMEOUT_MS 2000
#define RECONNECT_GAP_MS 200
#define EVAL_MAX_ARGS 8

struct store {
	pthread_mutex_t lock;
	const char *host;
	int port;
	redisContext *c;      /* NULL while down */
	int64_t last_attempt; /* of a connect, for RECONNECT_GAP_MS */
	int logged_down;      /* "down" is logged once per outage */
	atomic_int up;
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

/* Lock held. Forgets a broken connection; the next command reconnects. */
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
}

/* Lock held. 0 when a connection exists afterwards. */
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

/* Lock held. One round trip on the current connection. */
static store_status run_once(store *st, redisReply **out, int argc, const char **argv)
{
	if (connect_now(st) < 0)
		return STORE_DOWN;
	redisReply *r = redisCommandArgv(st->c, argc, argv, NULL);
	if (!r) {
		drop(st, st->c->errstr[0] ? st->c->errstr : "connection lost");
		return STORE_DOWN;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		log_error("store: redis error on %s: %s", argv[0], r->str);
		freeReplyObject(r);
		return STORE_ERROR;
	}
	*out = r;
	return STORE_OK;
}

store_status store_cmd(store *st, redisReply **out, int flags, int argc, const char **argv)
{
	redisReply *r = NULL;
	pthread_mutex_lock(&st->lock);
	int had_connection = st->c != NULL;
	store_status s = run_once(st, &r, argc, argv);
	/* The connection we had may simply have gone stale (Redis restarted
	 * since the last command): one more try on a fresh one, if allowed. */
	if (s == STORE_DOWN && had_connection && (flags & STORE_IDEMPOTENT)) {
		st->last_attempt = 0;
		s = run_once(st, &r, argc, argv);
	}
	pthread_mutex_unlock(&st->lock);
	if (out)
		*out = r;
	else if (r)
		freeReplyObject(r);
	return s;
}

store_status store_eval(store *st, redisReply **out, int flags, const char *script, int nargs,
			const char *const *args)
{
	const char *argv[3 + EVAL_MAX_ARGS];
	if (nargs < 0 || nargs > EVAL_MAX_ARGS) {
		if (out)
			*out = NULL;
		return STORE_ERROR;
	}
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = "0";
	for (int i = 0; i < nargs; i++)
		argv[3 + i] = args[i];
	return store_cmd(st, out, flags, 3 + nargs, argv);
}

store_status store_ping(store *st)
{
	static const char *argv[] = {"PING"};
	redisReply *r = NULL;
	store_status s = store_cmd(st, &r, STORE_IDEMPOTENT, 1, argv);
	const char *pong = reply_str(r);
	if (s == STORE_OK && (!pong || strcmp(pong, "PONG")))
		s = STORE_ERROR;
	if (r)
		freeReplyObject(r);
	return s;
}

const char *reply_str(const redisReply *r)
{
	if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
		return r->str;
	return NULL;
}

const redisReply *reply_elem(const redisReply *r, size_t i)
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
