#include "svc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idem.h"
#include "kv.h"
#include "log.h"
#include "pg.h"
#include "proc.h"

/* A request held by this instance: queued for a handler thread, then
 * running. Also in the held table by request id (duplicates, acks). */
typedef struct job {
	struct job *next;      /* in a queue */
	struct job *next_held; /* in its held bucket */
	svc_route *route;
	Rb__Envelope *env;
	char *reply_to; /* NULL: the sender wants no answer */
	/* Reply subjects of the same request id that arrived while it was
	 * held (not the resends of one requester, which reuse reply_to): each
	 * gets the one answer. */
	char *also_to[4];
	int64_t last_ack; /* bus_now_ms() of receipt or the last ack */
} job;

#define HELD_BUCKETS 1024
/* Answers kept for replay to a repeated request id: direct-mapped by a hash
 * of the id, small answers only, for a while. */
#define DONE_SLOTS 1024
#define DONE_MAX_BYTES 16384
#define DONE_TTL_MS 30000
#define QUEUE_MAX_DEFAULT 10000

typedef struct {
	char rid[IDEM_REQUEST_ID_MAX + 1];
	int64_t at;
	size_t len;
	uint8_t *bytes;
} done_slot;

typedef struct worker {
	struct svc *svc;
	pthread_t th;
	int started;
	void *app;
	job *head, *tail;  /* keyed requests that must run on this thread */
	pthread_cond_t cv; /* work for this thread, or stopping (under svc's mu) */
	int idle;          /* waiting on cv */
} worker;

struct svc {
	bus *bus;
	bus_sub *sub;
	char name[32];
	svc_route *routes;
	size_t nroutes;
	int flags;
	void *app;
	atomic_int *closing; /* the service's; may be NULL */
	atomic_int *busy;    /* the service's; may be NULL */
	void (*worker_free)(void *wapp);
	size_t queue_max;

	pthread_mutex_t mu;    /* everything below */
	pthread_cond_t ack_cv; /* stopping, for the acker */
	int stopping;
	job *any_head, *any_tail; /* requests any thread may run */
	size_t held;
	job *held_by_id[HELD_BUCKETS];
	done_slot done[DONE_SLOTS];
	worker *workers;
	int nworkers;
	pthread_t acker;
	int acker_started;
};

/* Process-wide figures for /metrics (one svc per process). */
static atomic_ulong st_held, st_running, st_expired, st_dups, st_replayed, st_refused_full;
static atomic_int st_threads;

static int expired(const Rb__Envelope *e)
{
	return e->has_deadline_ms && e->deadline_ms <= bus_wall_ms();
}

static svc_route *route_find(svc *s, Rb__Envelope__PayloadCase pc)
{
	for (size_t i = 0; i < s->nroutes; i++)
		if (s->routes[i].row->payload == pc)
			return &s->routes[i];
	return NULL;
}

/* The row's ordering key of a request (dispatcher thread, before the
 * request is checked: anything may be missing), or NULL. */
static const char *route_key(const packet_row *row, const Rb__Envelope *e)
{
	const char *k = row->key;
	if (!k)
		return NULL;
	if (!strcmp(k, "@user"))
		return e->user_id;
	if (!strcmp(k, "@conn"))
		return e->conn_id;
	const ProtobufCMessage *payload = svc_envelope_payload(e);
	char path[64];
	while (payload && *k) {
		size_t n = strcspn(k, "|");
		const char *v = NULL;
		if (n < sizeof path) {
			memcpy(path, k, n);
			path[n] = '\0';
			v = packet_string_at(payload, path);
		}
		if (v)
			return v;
		k += n + (k[n] == '|');
	}
	return NULL;
}

/* 1 when the row admits the request, else fills the refusal (the texts
 * are listed at svc_start in svc.h). */
static int admit(svc *s, svc_req *r, const svc_route *rt)
{
	const Rb__Envelope *e = r->env;
	const packet_row *row = rt->row;
	const ProtobufCMessage *payload = svc_envelope_payload(e);
	char why[256];

	if (!payload)
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: the request has no payload", rt->op);
	else if ((s->flags & SVC_IDEM) && e->request_id &&
		 strlen(e->request_id) > IDEM_REQUEST_ID_MAX)
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: request_id is too long", rt->op);
	else if ((row->flags & PKT_INTERNAL) && (str_set(e->user_id) || str_set(e->gateway_id)))
		svc_fail(r, RB__CODE__DENIED, "Permission denied");
	else if (row->versions == PV1 && !str_set(e->user_id))
		svc_fail(r, RB__CODE__DENIED, "Not logged in");
	else if (row->perm && !svc_has_perm(e, row->perm))
		svc_fail(r, RB__CODE__DENIED, "Permission denied \"%s\"", row->perm);
	else if (packet_check(row, payload, why, sizeof why) < 0)
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s", why);
	else
		return 1;
	return 0;
}

/* What a reply that is not OK keeps, by the row's flags. */
static void refusal_shape(Rb__Reply *rep, int flags, const packet_row *row)
{
	if (flags & SVC_BARE_REFUSAL) {
		rep->n_deliver = 0;
		rep->deliver = NULL;
		rep->login = NULL;
		rep->n_users = 0;
		rep->users = NULL;
		rep->has_data = 0;
		rep->content_type = NULL;
		rep->has_close = rep->close = 0;
	}
	if (row->flags & PKT_CLOSE_ON_ERROR)
		rep->has_close = rep->close = 1;
}

/* Handler thread: one request of a row of the table. */
static void serve(svc *s, svc_req *r, svc_route *rt)
{
	Rb__Reply *rep = r->reply;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_fetch_add(&st_running, 1);
	if (admit(s, r, rt))
		rt->fn(r);
	if (rep->code != RB__CODE__OK)
		refusal_shape(rep, s->flags, rt->row);
	long us = histo_observe_since(&rt->count.dur, &t0);
	atomic_fetch_sub(&st_running, 1);
	size_t i = (size_t)rep->code < SVC_NCODES ? (size_t)rep->code : 0;
	atomic_fetch_add(&rt->count.codes[i], 1);
	atomic_fetch_add(&rt->count.micros, (unsigned long)us);
	log_debug("%s: code %d in %ld us", rt->op, (int)rep->code, us);
	if (rep->code != RB__CODE__OK && (s->flags & SVC_LOG_REFUSALS))
		log_info("%s from %s: code %d: %s", rt->op, r->env->user_id ? r->env->user_id : "-",
			 (int)rep->code, rep->message ? rep->message : "");
}

/* ------------------------------------------------- held ids and answers */

static job **held_slot(svc *s, const char *rid)
{
	return &s->held_by_id[str_hash(rid) % HELD_BUCKETS];
}

static job *held_find(svc *s, const char *rid)
{
	for (job *j = *held_slot(s, rid); j; j = j->next_held)
		if (j->env->request_id && !strcmp(j->env->request_id, rid))
			return j;
	return NULL;
}

/* Under mu: one more subject that waits for holder's answer. */
static void held_also(job *holder, const char *reply_to)
{
	if (!reply_to || (holder->reply_to && !strcmp(holder->reply_to, reply_to)))
		return;
	for (size_t i = 0; i < sizeof holder->also_to / sizeof *holder->also_to; i++) {
		if (holder->also_to[i] && !strcmp(holder->also_to[i], reply_to))
			return;
		if (!holder->also_to[i]) {
			holder->also_to[i] = strdup(reply_to);
			return;
		}
	}
}

static void held_remove(svc *s, job *j)
{
	for (job **pp = held_slot(s, j->env->request_id); *pp; pp = &(*pp)->next_held)
		if (*pp == j) {
			*pp = j->next_held;
			return;
		}
}

static done_slot *done_slot_of(svc *s, const char *rid)
{
	return &s->done[str_hash(rid) % DONE_SLOTS];
}

/* Under mu. A copy of the answer to rid when one is kept, else NULL. */
static uint8_t *done_find(svc *s, const char *rid, size_t *len)
{
	done_slot *d = done_slot_of(s, rid);
	if (!d->bytes || strcmp(d->rid, rid) || bus_now_ms() - d->at > DONE_TTL_MS)
		return NULL;
	uint8_t *copy = malloc(d->len ? d->len : 1);
	if (copy) {
		memcpy(copy, d->bytes, d->len);
		*len = d->len;
	}
	return copy;
}

/* Under mu. Keeps the answer (takes bytes) or frees it when too big. */
static void done_keep(svc *s, const char *rid, uint8_t *bytes, size_t len)
{
	if (len > DONE_MAX_BYTES || strlen(rid) > IDEM_REQUEST_ID_MAX) {
		free(bytes);
		return;
	}
	done_slot *d = done_slot_of(s, rid);
	free(d->bytes);
	snprintf(d->rid, sizeof d->rid, "%s", rid);
	d->at = bus_now_ms();
	d->bytes = bytes;
	d->len = len;
}

static uint8_t *pack_reply(const Rb__Reply *reply, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(&reply->base);
	uint8_t *p = malloc(*len ? *len : 1);
	if (p)
		protobuf_c_message_pack(&reply->base, p);
	return p;
}

/* ------------------------------------------------------- handler threads */

static void job_free(job *j)
{
	if (j->env)
		rb__envelope__free_unpacked(j->env, NULL);
	free(j->reply_to);
	for (size_t i = 0; i < sizeof j->also_to / sizeof *j->also_to; i++)
		free(j->also_to[i]);
	free(j);
}

/* Under mu: the next request thread w may run, or NULL. Its own (keyed)
 * ones first, so a key's order is never held up by the shared queue. */
static job *job_take(svc *s, worker *w)
{
	job **head = w->head ? &w->head : &s->any_head, **tail = w->head ? &w->tail : &s->any_tail;
	job *j = *head;
	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

static void job_run(svc *s, worker *w, job *j)
{
	Rb__Reply reply = RB__REPLY__INIT;
	arena a = ARENA_INIT;
	uint8_t *bytes = NULL;
	size_t len = 0;
	const char *rid = j->env->request_id;

	if (expired(j->env)) {
		/* Whoever asked has stopped waiting: the work would be wasted. */
		atomic_fetch_add(&st_expired, 1);
	} else {
		svc_req r = {s->bus, w->app, j->env, &reply, &a};
		reply.has_code = 1;
		reply.code = RB__CODE__OK;
		serve(s, &r, j->route);
		bytes = pack_reply(&reply, &len);
		if (bytes && j->reply_to)
			bus_publish(s->bus, j->reply_to, bytes, len);
	}
	arena_free(&a);
	pthread_mutex_lock(&s->mu);
	/* Under mu: the dispatcher adds to also_to under it too. */
	for (size_t i = 0; bytes && i < sizeof j->also_to / sizeof *j->also_to; i++)
		if (j->also_to[i])
			bus_publish(s->bus, j->also_to[i], bytes, len);
	if (rid && *rid) {
		held_remove(s, j);
		if (bytes)
			done_keep(s, rid, bytes, len);
	} else {
		free(bytes);
	}
	s->held--;
	pthread_mutex_unlock(&s->mu);
	atomic_fetch_sub(&st_held, 1);
	if (s->busy)
		atomic_fetch_sub(s->busy, 1);
	job_free(j);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	svc *s = w->svc;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		job *j;
		while (!(j = job_take(s, w)) && !s->stopping) {
			w->idle = 1;
			pthread_cond_wait(&w->cv, &s->mu);
			w->idle = 0;
		}
		pthread_mutex_unlock(&s->mu);
		if (!j)
			return NULL; /* stopping, and nothing left for this thread */
		job_run(s, w, j);
	}
}

/* Tells the requester of every request held longer than BUS_ACK_EVERY_MS
 * that it is still being worked on (bus_ack), so it does not send
 * it again; when this process dies the acks stop and the requester does. */
static void *acker_main(void *arg)
{
	svc *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += BUS_ACK_EVERY_MS / 2 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->ack_cv, &s->mu, &ts);
		int64_t now = bus_now_ms();
		for (size_t i = 0; i < HELD_BUCKETS; i++)
			for (job *j = s->held_by_id[i]; j; j = j->next_held)
				if (now - j->last_ack >= BUS_ACK_EVERY_MS) {
					j->last_ack = now;
					if (j->reply_to)
						bus_ack(s->bus, j->reply_to);
					for (size_t k = 0;
					     k < sizeof j->also_to / sizeof *j->also_to; k++)
						if (j->also_to[k])
							bus_ack(s->bus, j->also_to[k]);
				}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ------------------------------------------------------------- dispatch */

static void reply_now(svc *s, const char *to, const Rb__Reply *reply)
{
	size_t len;
	uint8_t *p = to ? pack_reply(reply, &len) : NULL;
	if (p)
		bus_publish(s->bus, to, p, len);
	free(p);
}

/* 1 when subject is rb.<service>.<op>. An internal route must come on its
 * own subject: NATS permissions are per subject (deploy/nats-users.conf
 * lets only operator tools and services publish these), so its payload
 * must not be reachable through a subject that a gateway may use. */
static int on_own_subject(const svc *s, const svc_route *rt, const char *subject)
{
	size_t n = strlen(s->name), k = strlen(rt->op);
	return !strncmp(subject, "rb.", 3) && !strncmp(subject + 3, s->name, n) &&
	       subject[3 + n] == '.' && strlen(subject + 4 + n) == k &&
	       !memcmp(subject + 4 + n, rt->op, k);
}

/* cnats thread: one request arrives. Decoding, the deadline, duplicates
 * and the queue are judged here; the handler runs on a handler thread. busy
 * is counted before closing is read: shutdown sets closing first and then
 * waits for busy to drop, so no request slips between. */
static void on_request(void *ud, const bus_msg *m)
{
	svc *s = ud;
	Rb__Reply reply = RB__REPLY__INIT;
	Rb__Envelope *env = rb__envelope__unpack(NULL, m->len, m->data);
	svc_route *route = env ? route_find(s, env->payload_case) : NULL;
	const char *rid = env && env->request_id && *env->request_id ? env->request_id : NULL;

	reply.has_code = 1;
	reply.code = RB__CODE__BAD_REQUEST;
	if (!env) {
		log_warn("%s: undecodable request on %s", s->name, m->subject);
		reply.message = "undecodable request";
		reply_now(s, m->reply, &reply);
		return;
	}
	if (!route) {
		log_warn("%s: no route for %s on %s", s->name, svc_envelope_type(env), m->subject);
		reply.message = "unknown request";
		goto answer;
	}
	if ((route->row->flags & PKT_INTERNAL) && !on_own_subject(s, route, m->subject)) {
		log_warn("%s: %s refused: it came on %s", s->name, route->op, m->subject);
		reply.code = RB__CODE__DENIED;
		reply.message = "Permission denied";
		goto answer;
	}
	if (expired(env)) {
		atomic_fetch_add(&st_expired, 1);
		goto drop;
	}
	job *j = calloc(1, sizeof *j);
	if (!j || (m->reply && !(j->reply_to = strdup(m->reply)))) {
		free(j);
		reply.code = RB__CODE__INTERNAL;
		reply.message = "out of memory";
		goto answer;
	}
	j->route = route;
	j->env = env;
	j->last_ack = bus_now_ms();

	pthread_mutex_lock(&s->mu);
	size_t len;
	uint8_t *again = rid ? done_find(s, rid, &len) : NULL;
	job *holder = rid && !again ? held_find(s, rid) : NULL;
	if (again || holder) {
		/* A repeat of one answered lately gets the same answer; of one
		 * held here, the holder's answer when it is done (and acks
		 * meanwhile), never a second run. */
		if (holder)
			held_also(holder, m->reply);
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(again ? &st_replayed : &st_dups, 1);
		if (again && m->reply)
			bus_publish(s->bus, m->reply, again, len);
		free(again);
		job_free(j);
		return;
	}
	if (s->busy)
		atomic_fetch_add(s->busy, 1);
	int closing = s->closing && atomic_load(s->closing);
	if (closing || s->held >= s->queue_max) {
		pthread_mutex_unlock(&s->mu);
		if (s->busy)
			atomic_fetch_sub(s->busy, 1);
		if (!closing)
			atomic_fetch_add(&st_refused_full, 1);
		j->env = NULL;
		job_free(j);
		reply.code = RB__CODE__UNAVAILABLE;
		reply.message = closing ? "the service is shutting down, try again"
					: "the service is overloaded, try again later";
		goto answer;
	}
	const char *key = route_key(route->row, env);
	job **head = &s->any_head, **tail = &s->any_tail;
	worker *kw = NULL;
	if (key && *key && s->nworkers > 1) {
		kw = &s->workers[str_hash(key) % (unsigned)s->nworkers];
		head = &kw->head;
		tail = &kw->tail;
	}
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
	if (rid) {
		job **slot = held_slot(s, rid);
		j->next_held = *slot;
		*slot = j;
	}
	s->held++;
	atomic_fetch_add(&st_held, 1);
	/* A keyed request wakes its thread; any other one idle thread (a
	 * busy one takes it when done). Not all of them: each wake-up is a
	 * context switch, and all but one would find nothing. */
	if (kw) {
		if (kw->idle)
			pthread_cond_signal(&kw->cv);
	} else {
		for (int i = 0; i < s->nworkers; i++) {
			worker *w = &s->workers[i];
			if (w->idle) {
				w->idle = 0; /* the next request wakes another */
				pthread_cond_signal(&w->cv);
				break;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	return;
answer:
	reply_now(s, m->reply, &reply);
drop:
	rb__envelope__free_unpacked(env, NULL);
}

int svc_threads(long n)
{
	if (n > 0)
		return (int)n;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 0 ? (int)cpus : 1;
}

static void pool_stop(svc *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	for (int i = 0; i < s->nworkers; i++)
		pthread_cond_broadcast(&s->workers[i].cv);
	pthread_cond_broadcast(&s->ack_cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nworkers; i++) {
		worker *w = &s->workers[i];
		if (w->started)
			pthread_join(w->th, NULL);
		if (w->app && w->app != s->app && s->worker_free)
			s->worker_free(w->app);
	}
	if (s->acker_started)
		pthread_join(s->acker, NULL);
	/* Keyed requests of a thread that never started. */
	for (int i = 0; i < s->nworkers; i++)
		while (s->workers[i].head) {
			job *j = s->workers[i].head;
			s->workers[i].head = j->next;
			job_free(j);
		}
	for (int i = 0; s->workers && i < s->nworkers; i++)
		pthread_cond_destroy(&s->workers[i].cv);
	free(s->workers);
	for (size_t i = 0; i < DONE_SLOTS; i++)
		free(s->done[i].bytes);
	pthread_cond_destroy(&s->ack_cv);
	pthread_mutex_destroy(&s->mu);
}

svc *svc_start(bus *b, const svc_opts *o)
{
	svc *s = calloc(1, sizeof *s);
	char subject[64];

	if (!s)
		return NULL;
	char why[256];
	if (svc_routes_check(o->name, o->routes, o->nroutes, why, sizeof why) < 0) {
		log_error("%s", why);
		free(s);
		return NULL;
	}
	s->bus = b;
	snprintf(s->name, sizeof s->name, "%s", o->name);
	s->routes = o->routes;
	s->nroutes = o->nroutes;
	s->flags = o->flags;
	s->app = o->app;
	s->closing = o->closing;
	s->busy = o->busy;
	s->worker_free = o->worker_free;
	s->queue_max = o->queue_max ? o->queue_max : QUEUE_MAX_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->ack_cv, NULL);
	s->nworkers = svc_threads(o->threads);
	s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
	int ok = s->workers != NULL;
	for (int i = 0; ok && i < s->nworkers; i++)
		pthread_cond_init(&s->workers[i].cv, NULL);
	for (int i = 0; ok && i < s->nworkers; i++) {
		worker *w = &s->workers[i];
		w->svc = s;
		w->app = o->worker_app ? o->worker_app(o->app, i) : o->app;
		ok = w->app && pthread_create(&w->th, NULL, worker_main, w) == 0;
		w->started = ok;
	}
	if (ok)
		ok = (s->acker_started = pthread_create(&s->acker, NULL, acker_main, s) == 0);
	snprintf(subject, sizeof subject, "rb.%s.>", o->name);
	if (ok)
		s->sub = bus_subscribe(b, subject, o->name, on_request, s);
	if (!s->sub) {
		log_error("%s: cannot start its %d handler threads or subscribe", o->name,
			  s->nworkers);
		pool_stop(s);
		free(s);
		return NULL;
	}
	atomic_store(&st_threads, s->nworkers);
	log_info("%s: serving %s (queue group %s) on %d handler threads", o->name, subject, o->name,
		 s->nworkers);
	return s;
}

void svc_stop(svc *s)
{
	if (!s)
		return;
	/* No new request after this; what is held is finished, then the
	 * threads end. */
	bus_sub_close_wait(s->sub);
	pool_stop(s);
	free(s);
}

void svc_drain(svc *s, int wait_ms)
{
	if (!s)
		return;
	/* Out of the queue group first: NATS sends new requests to the other
	 * instances at once, and every one it sent here before is taken (not
	 * refused) and finished below. */
	bus_sub_drain_wait(s->sub, wait_ms);
	s->sub = NULL;
	if (s->closing)
		atomic_store(s->closing, 1);
	for (int waited = 0; s->busy && atomic_load(s->busy) && waited < wait_ms; waited += 10)
		proc_sleep_ms(10);
	svc_stop(s);
}

int svc_routes_check(const char *name, svc_route *routes, size_t n, char *err, size_t errlen)
{
	size_t nrows;
	const packet_row *t = packet_table(&nrows);
	int part = part_find(name);

	*err = '\0';
	if (part < 0) {
		snprintf(err, errlen, "%s is not a part of the packet table", name);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		routes[i].row = packet_find(routes[i].op);
		if (!routes[i].row || (int)routes[i].row->part != part) {
			snprintf(err, errlen,
				 "%s: handler h_%s has no row of part %s in lib/packet.c", name,
				 routes[i].op, name);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (routes[k].row == routes[i].row) {
				snprintf(err, errlen, "%s: two handlers of %s", name, routes[i].op);
				return -1;
			}
	}
	for (size_t r = 0; r < nrows; r++) {
		size_t i = 0;
		while (i < n && routes[i].row != &t[r])
			i++;
		if ((int)t[r].part == part && i == n) {
			snprintf(err, errlen, "%s: row %s has no handler (h_%s)", name, t[r].type,
				 t[r].type);
			return -1;
		}
	}
	return 0;
}

void svc_fail(svc_req *r, Rb__Code code, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	r->reply->has_code = 1;
	r->reply->code = code;
	r->reply->message = arena_strdup(r->arena, tmp);
}

Rb__Delivery *svc_delivery_new(arena *a)
{
	Rb__Delivery *d = arena_alloc(a, sizeof *d);
	rb__delivery__init(d);
	return d;
}

Rb__Delivery *svc_delivery(svc_req *r)
{
	return svc_delivery_new(r->arena);
}

void svc_reply_deliver(svc_req *r, Rb__Delivery *d)
{
	arena_push(r->arena, (void ***)&r->reply->deliver, &r->reply->n_deliver, d);
}

int svc_deliver_all(bus *b, const Rb__Delivery *d)
{
	return bus_publish_pb(b, "rb.out.all", &d->base);
}

int svc_deliver_user(bus *b, const char *user_id, const Rb__Delivery *d)
{
	char subject[128];
	snprintf(subject, sizeof subject, "rb.out.user.%s", user_id);
	return bus_publish_pb(b, subject, &d->base);
}

int svc_deliver_conn(bus *b, const char *gateway_id, const char *conn_id, const Rb__Delivery *d)
{
	char subject[192];
	snprintf(subject, sizeof subject, "rb.out.conn.%s.%s", gateway_id, conn_id);
	return bus_publish_pb(b, subject, &d->base);
}

/* The oneof member's descriptor name is the wire type name. */
static const char *oneof_name(const ProtobufCMessageDescriptor *desc, int pcase)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(desc, (unsigned)pcase);
	return f ? f->name : "";
}

const char *svc_envelope_type(const Rb__Envelope *e)
{
	return oneof_name(&rb__envelope__descriptor, (int)e->payload_case);
}

const void *svc_envelope_payload(const Rb__Envelope *e)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&rb__envelope__descriptor, (unsigned)e->payload_case);
	return f ? *(const void *const *)((const char *)e + f->offset) : NULL;
}

int svc_has_perm(const Rb__Envelope *e, const char *perm)
{
	for (size_t i = 0; i < e->n_perms; i++)
		if (!strcmp(e->perms[i], perm))
			return 1;
	return 0;
}

void svc_routes_print(buf *out, const char *part, const svc_route *routes, size_t n)
{
	static const char *const codes[SVC_NCODES] = {
		"OK", "BAD_REQUEST", "DENIED", "NOT_FOUND", "CONFLICT", "INTERNAL", "UNAVAILABLE"};
	buf_addf(out, "# TYPE %s_requests_total counter\n", part);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < SVC_NCODES; k++)
			buf_addf(out, "%s_requests_total{op=\"%s\",code=\"%s\"} %lu\n", part,
				 routes[i].op, codes[k], atomic_load(&routes[i].count.codes[k]));
	buf_addf(out, "# TYPE %s_request_seconds_total counter\n", part);
	for (size_t i = 0; i < n; i++)
		buf_addf(out, "%s_request_seconds_total{op=\"%s\"} %.6f\n", part, routes[i].op,
			 (double)atomic_load(&routes[i].count.micros) / 1e6);
	char name[96], labels[96];
	snprintf(name, sizeof name, "%s_request_duration_seconds", part);
	histo_print_head(out, name, "time from a handler thread taking a request to its reply");
	for (size_t i = 0; i < n; i++) {
		snprintf(labels, sizeof labels, "op=\"%s\"", routes[i].op);
		histo_print(out, name, labels, &routes[i].count.dur);
	}
	unsigned long held = atomic_load(&st_held), running = atomic_load(&st_running);
	buf_addf(out, "# TYPE %s_handler_threads gauge\n%s_handler_threads %d\n", part, part,
		 atomic_load(&st_threads));
	buf_addf(out, "# TYPE %s_requests_held gauge\n%s_requests_held %lu\n", part, part, held);
	buf_addf(out, "# TYPE %s_requests_in_flight gauge\n%s_requests_in_flight %lu\n", part, part,
		 running);
	/* Two loads, not one snapshot: clamp a momentary inversion to 0. */
	buf_addf(out, "# TYPE %s_handler_queue_depth gauge\n%s_handler_queue_depth %lu\n", part,
		 part, held > running ? held - running : 0);
	buf_addf(out, "# TYPE %s_requests_expired_total counter\n%s_requests_expired_total %lu\n",
		 part, part, atomic_load(&st_expired));
	buf_addf(out,
		 "# TYPE %s_requests_duplicate_total counter\n%s_requests_duplicate_total %lu\n",
		 part, part, atomic_load(&st_dups));
	buf_addf(out, "# TYPE %s_replies_replayed_total counter\n%s_replies_replayed_total %lu\n",
		 part, part, atomic_load(&st_replayed));
	buf_addf(
		out,
		"# TYPE %s_requests_refused_full_total counter\n%s_requests_refused_full_total %lu\n",
		part, part, atomic_load(&st_refused_full));
	buf_addf(
		out,
		"# TYPE %s_bus_request_timeouts_total counter\n%s_bus_request_timeouts_total %llu\n",
		part, part, (unsigned long long)bus_timeouts());
	pg_metrics(out, part);
	kv_metrics(out, part);
}
