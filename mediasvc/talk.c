/* Shaping of `talking`. The decision (send now, or when the user has a
 * token again) is made in Redis by the talking scripts (scripts.h); this
 * file publishes the decisions and runs the timer that comes back for the
 * trailing value.
 *
 * Threads: h_talking on the request thread; the timer on its own thread;
 * talk_hold/talk_publish also from the member_left event thread.
 * Lock order: pub, then lock (the timer never holds lock while taking pub). */
#include "talk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "grow.h"
#include "handlers.h"
#include "log.h"
#include "proc.h"
#include "scripts.h"
#include "uuid.h"

/* While Redis is unreachable a trailing publish is tried again this often,
 * this many times (10 s), then given up (logged): the stored value is still
 * right, only the live indicator stays stale until the next change. */
#define RETRY_MS 200
#define RETRY_TRIES 50
/* At shutdown, trailing publishes due within a token's wait are still made. */
#define STOP_GRACE_MS 1000

typedef struct {
	char uid[UUID_STR_LEN + 1];
	int64_t due; /* bus_now_ms() */
	int tries;
} due_item;

struct talk {
	media_app *app;
	char burst[24], rate[24]; /* the settings, as the scripts' arguments */
	pthread_mutex_t pub;
	pthread_mutex_t lock; /* items, n, cap, stopping */
	pthread_cond_t wake;
	due_item *items; /* unordered; one per user; few (users who talked lately) */
	size_t n, cap;
	int stopping;
	int64_t stop_deadline;
	pthread_t thread;
	atomic_ulong sent, trailing, dropped;
};

void talk_hold(talk *t)
{
	pthread_mutex_lock(&t->pub);
}

void talk_release(talk *t)
{
	pthread_mutex_unlock(&t->pub);
}

void talk_publish(media_app *app, const char *uid, int value, uint64_t media_version)
{
	Rb__STalking s = RB__STALKING__INIT;
	Rb__Delivery d = RB__DELIVERY__INIT;
	s.userid = (char *)uid;
	s.has_talking = 1;
	s.talking = value != 0;
	d.packet_case = RB__DELIVERY__PACKET_TALKING;
	d.talking = &s;
	d.has_media_version = media_version != 0;
	d.media_version = media_version;
	if (svc_deliver_all(app->bus, &d) == 0)
		atomic_fetch_add(&app->talk->sent, 1);
}

/* Any thread: (re)arms uid's trailing check in delay_ms; an earlier one
 * already armed stays. */
static void schedule(talk *t, const char *uid, int64_t delay_ms, int tries)
{
	int64_t due = bus_now_ms() + delay_ms;
	pthread_mutex_lock(&t->lock);
	size_t i = 0;
	while (i < t->n && strcmp(t->items[i].uid, uid))
		i++;
	if (i == t->n) {
		due_item *p = grow_for(t->items, &t->cap, t->n, sizeof *p);
		if (!p) {
			pthread_mutex_unlock(&t->lock);
			atomic_fetch_add(&t->dropped, 1);
			log_error("talk: out of memory; trailing talking of %s dropped", uid);
			return;
		}
		t->items = p;
	}
	if (i == t->n) {
		snprintf(t->items[i].uid, sizeof t->items[i].uid, "%s", uid);
		t->items[i].due = due;
		t->items[i].tries = tries;
		t->n++;
	} else if (due < t->items[i].due) {
		t->items[i].due = due;
	}
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

/* pub held: carries out a script's decision. 1 when it broadcast. */
static int apply(talk *t, const char *uid, const redisReply *rep)
{
	long long kind = kv_reply_int(kv_reply_elem(rep, 0), -1);
	long long n = kv_reply_int(kv_reply_elem(rep, 1), 0);
	if (kind == TALK_SEND) {
		talk_publish(t->app, uid, (int)n, (uint64_t)kv_reply_int(kv_reply_elem(rep, 2), 0));
		(void)events_media_changed(t->app, uid, "talking");
		return 1;
	}
	if (kind == TALK_LATER)
		schedule(t, uid, n > 0 ? n : 1, 0);
	else if (kind != TALK_NOTHING)
		log_error("talk: unexpected script reply for %s", uid);
	return 0;
}

void h_talking(svc_req *r)
{
	media_app *app = r->app;
	talk *t = app->talk;
	const char *args[] = {r->env->user_id, r->env->talking->talking ? "1" : "0", t->burst,
			      t->rate};
	redisReply *rep = NULL;

	/* Marked safe to repeat: if Redis died after running it, the repeat
	 * finds the value unchanged and sends nothing; that rare loss of one
	 * broadcast beats refusing the first packet after every Redis restart. */
	talk_hold(t);
	kv_status s = kv_eval(app->st, &rep, KV_IDEMPOTENT, script_talking_set, 4, args);
	if (s == KV_OK)
		(void)apply(t, r->env->user_id, rep);
	talk_release(t);
	if (rep)
		freeReplyObject(rep);
	if (s != KV_OK)
		handlers_fail_store(r, s);
}

/* Timer thread: the trailing step for one user. */
static void flush(talk *t, const due_item *it)
{
	const char *args[] = {it->uid, t->burst, t->rate};
	redisReply *rep = NULL;

	talk_hold(t);
	kv_status s = kv_eval(t->app->st, &rep, KV_IDEMPOTENT, script_talking_flush, 3, args);
	if (s == KV_OK && apply(t, it->uid, rep))
		atomic_fetch_add(&t->trailing, 1);
	talk_release(t);
	if (rep)
		freeReplyObject(rep);
	if (s == KV_OK)
		return;
	if (it->tries < RETRY_TRIES) {
		schedule(t, it->uid, RETRY_MS, it->tries + 1);
	} else {
		atomic_fetch_add(&t->dropped, 1);
		log_warn("talk: trailing talking of %s not sent: %s", it->uid, kv_status_text(s));
	}
}

/* lock held: index of the earliest item, or -1. */
static long earliest(const talk *t)
{
	long best = -1;
	for (size_t i = 0; i < t->n; i++)
		if (best < 0 || t->items[i].due < t->items[best].due)
			best = (long)i;
	return best;
}

/* lock held: sleeps until `due` (bus_now_ms clock) or a signal. */
static void wait_until(talk *t, int64_t due)
{
	struct timespec ts = proc_deadline(CLOCK_MONOTONIC, due - bus_now_ms());
	pthread_cond_timedwait(&t->wake, &t->lock, &ts);
}

/* Timer thread. */
static void *timer_main(void *arg)
{
	talk *t = arg;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		long i = earliest(t);
		int64_t now = bus_now_ms();
		if (t->stopping && (i < 0 || now >= t->stop_deadline))
			break;
		if (i < 0) {
			pthread_cond_wait(&t->wake, &t->lock);
			continue;
		}
		if (t->items[i].due > now) {
			wait_until(t, t->items[i].due);
			continue;
		}
		due_item it = t->items[i];
		t->items[i] = t->items[--t->n];
		pthread_mutex_unlock(&t->lock);
		flush(t, &it);
		pthread_mutex_lock(&t->lock);
	}
	if (t->n)
		log_warn("talk: %zu trailing talking publishes dropped at shutdown", t->n);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* The condition variable runs on the monotonic clock, like bus_now_ms. */
static int init_sync(talk *t)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
				 pthread_cond_init(&t->wake, &ca) == 0
			 ? 0
			 : -1;
	pthread_condattr_destroy(&ca);
	if (rc == 0 && pthread_mutex_init(&t->lock, NULL) != 0) {
		pthread_cond_destroy(&t->wake);
		rc = -1;
	}
	if (rc == 0 && pthread_mutex_init(&t->pub, NULL) != 0) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->lock);
		rc = -1;
	}
	return rc;
}

/* Undoes init_sync and frees t (its thread has ended or never began). */
static void talk_free(talk *t)
{
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->pub);
	free(t->items);
	free(t);
}

talk *talk_start(media_app *app)
{
	talk *t = calloc(1, sizeof *t);
	if (!t || init_sync(t) < 0) {
		log_error("talk: cannot start");
		free(t);
		return NULL;
	}
	t->app = app;
	snprintf(t->burst, sizeof t->burst, "%ld", app->cfg->talking_burst);
	snprintf(t->rate, sizeof t->rate, "%ld", app->cfg->talking_rate);
	if (pthread_create(&t->thread, NULL, timer_main, t) != 0) {
		log_error("talk: cannot start the timer thread");
		talk_free(t);
		return NULL;
	}
	return t;
}

void talk_stop(talk *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = 1;
	/* A trailing value waits for one token at most: 1000 / rate ms. */
	long rate = t->app->cfg->talking_rate;
	t->stop_deadline = bus_now_ms() + (rate > 0 ? 1000 / rate : 0) + STOP_GRACE_MS;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	talk_free(t);
}

void talk_metrics(talk *t, buf *out)
{
	buf_addf(out,
		 "# TYPE mediasvc_talking_broadcasts_total counter\n"
		 "mediasvc_talking_broadcasts_total %lu\n"
		 "# TYPE mediasvc_talking_trailing_total counter\n"
		 "mediasvc_talking_trailing_total %lu\n"
		 "# TYPE mediasvc_talking_dropped_total counter\n"
		 "mediasvc_talking_dropped_total %lu\n",
		 atomic_load(&t->sent), atomic_load(&t->trailing), atomic_load(&t->dropped));
}
