#include "presence.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "log.h"
#include "proc.h"
#include "rebuttal.pb-c.h"
#include "scripts.h"
#include "subthread.h"
#include "svc.h"
#include "voice.h"

/* An event is lost if not applied: while Redis is unreachable, the event
 * thread keeps trying this long before giving up on it. */
#define EVENT_RETRY_BUDGET_MS 10000
/* A sweep lock outlives a stuck sweeper by this much at most. */
#define SWEEP_LOCK_MS "5000"
#define LEASE_MIN_MS 100
#define LEASE_MAX_MS 600000

struct presence {
	room_app *app;
	subthread run; /* gateway events and the sweeper */
	/* for /metrics */
	atomic_ulong heartbeats, opened, closed, swept_gateways, swept_conns, stale;
};

typedef void (*gw_event_fn)(presence *p, const Rb__ConnEvent *ev);

int presence_id_ok(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

/* Closes one connection: uncount it, `disconnect` to all, and the voice
 * room if it was the user's voice connection. Only the caller whose script
 * removed the connection announces anything. Any thread; takes the emit
 * lock. Returns -1 when Redis could not be reached. */
static int conn_close(presence *p, const char *gw, const char *conn, int retry_ms)
{
	room_app *app = p->app;
	const char *args[] = {gw, conn};
	redisReply *rep = NULL;
	kv_status s;

	pthread_rwlock_wrlock(app->emit);
	s = retry_ms ? kv_eval_retry(app->store, &rep, script_conn_close, 2, args, retry_ms)
		     : kv_eval(app->store, &rep, 0, script_conn_close, 2, args);
	const char *uid = s == KV_OK ? kv_reply_str(kv_reply_elem(rep, 0)) : NULL;
	if (uid) {
		Rb__Delivery d = RB__DELIVERY__INIT;
		Rb__SUser su = RB__SUSER__INIT;
		const char *room = kv_reply_str(kv_reply_elem(rep, 1));
		su.userid = (char *)uid;
		d.packet_case = RB__DELIVERY__PACKET_DISCONNECT;
		d.disconnect = &su;
		(void)svc_deliver_all(app->bus, &d);
		if (room && *room)
			voice_emit_left(app, room, uid, gw, conn, 0); /* both lists follow */
		lists_dirty(app->lists, LISTS_BOTH);
		atomic_fetch_add(&p->closed, 1);
	}
	pthread_rwlock_unlock(app->emit);
	if (rep)
		freeReplyObject(rep);
	if (s != KV_OK)
		log_warn("presence: close of %s/%s not stored: %s", gw, conn, kv_status_text(s));
	return s == KV_DOWN ? -1 : 0;
}

/* --------------------------------------------------------------- events */

/* cnats thread (gateway events). */
static void on_conn_opened(presence *p, const Rb__ConnEvent *ev)
{
	room_app *app = p->app;
	char lease[16];
	const char *args[] = {ev->gateway_id, ev->conn_id, ev->user_id, lease};

	if (!ev->user_id || !uuid_valid(ev->user_id)) {
		log_warn("presence: conn_opened without a user id dropped");
		return;
	}
	snprintf(lease, sizeof lease, "%d", ROOM_DEFAULT_LEASE_MS);
	kv_status s =
		kv_eval_retry(app->store, NULL, script_conn_open, 4, args, EVENT_RETRY_BUDGET_MS);
	if (s != KV_OK) {
		log_warn("presence: open of %s/%s not stored: %s", ev->gateway_id, ev->conn_id,
			 kv_status_text(s));
		return;
	}
	atomic_fetch_add(&p->opened, 1);
	/* Even when it was counted before: the login sequence needs the lists
	 * to reach this connection. */
	lists_dirty(app->lists, LISTS_BOTH);
}

/* cnats thread (gateway events). */
static void on_conn_closed(presence *p, const Rb__ConnEvent *ev)
{
	(void)conn_close(p, ev->gateway_id, ev->conn_id, EVENT_RETRY_BUDGET_MS);
}

static void handle_conn_event(presence *p, const bus_msg *m, gw_event_fn fn)
{
	Rb__ConnEvent *ev = rb__conn_event__unpack(NULL, m->len, m->data);
	if (!ev || !presence_id_ok(ev->gateway_id) || !presence_id_ok(ev->conn_id))
		log_warn("presence: dropping malformed %s", m->subject);
	else
		fn(p, ev);
	if (ev)
		rb__conn_event__free_unpacked(ev, NULL);
}

static int reply_has(const redisReply *r, const char *s)
{
	for (size_t i = 0; r && i < r->elements; i++) {
		const char *e = kv_reply_str(r->element[i]);
		if (e && !strcmp(e, s))
			return 1;
	}
	return 0;
}

static int list_has(const Rb__ConnList *cl, const char *conn)
{
	for (size_t i = 0; i < cl->n_conns; i++)
		if (cl->conns[i]->conn_id && !strcmp(cl->conns[i]->conn_id, conn))
			return 1;
	return 0;
}

/* Asks gateway gw for its logged-in connections; NULL when it does not answer. */
static Rb__ConnList *ask_conns(presence *p, const char *gw)
{
	char subject[128];
	void *out = NULL;
	size_t len = 0;
	snprintf(subject, sizeof subject, "rb.gw.%s.conns", gw);
	if (bus_request_sync(p->app->bus, subject, "", 0, 1000, &out, &len) < 0)
		return NULL;
	Rb__ConnList *cl = rb__conn_list__unpack(NULL, len, out);
	free(out);
	return cl;
}

/* Repairs what events missed: they are not kept while no roomsvc instance
 * runs, so a connection opened or closed then would stay wrong forever.
 * Our list is read BEFORE the gateway's: a connection we had that the
 * gateway no longer lists has closed (ids are never reused); one it lists
 * that we lack is opened (idempotent, and a closed one's tombstone keeps it
 * out). At most once per gateway per 5 s across instances. */
static void reconcile(presence *p, const char *gw)
{
	kv *st = p->app->store;
	redisReply *lock = NULL, *ours = NULL;
	Rb__ConnList *cl = NULL;
	int opened = 0, closed = 0;

	if (kv_cmdf(st, &lock, "SET gw:%s:resync 1 PX 5000 NX", gw) != KV_OK ||
	    !kv_reply_str(lock) || kv_cmdf(st, &ours, "HKEYS gw:%s:conns", gw) != KV_OK ||
	    !(cl = ask_conns(p, gw)))
		goto out;
	for (size_t i = 0; i < cl->n_conns; i++) {
		Rb__ConnEvent *ev = cl->conns[i];
		if (ev->conn_id && presence_id_ok(ev->conn_id) && !reply_has(ours, ev->conn_id)) {
			on_conn_opened(p, ev);
			opened++;
		}
	}
	for (size_t i = 0; ours && i < ours->elements; i++) {
		const char *conn = kv_reply_str(ours->element[i]);
		if (conn && !list_has(cl, conn)) {
			(void)conn_close(p, gw, conn, EVENT_RETRY_BUDGET_MS);
			closed++;
		}
	}
	if (opened || closed)
		log_info("presence: gateway %s resynced: %d connections added, %d closed", gw,
			 opened, closed);
out:
	if (lock)
		freeReplyObject(lock);
	if (ours)
		freeReplyObject(ours);
	if (cl)
		rb__conn_list__free_unpacked(cl, NULL);
}

/* Whether our record of gw's connections differs from its own (count and
 * digest sum from the heartbeat). */
static int record_differs(presence *p, const Rb__GwHeartbeat *hb)
{
	redisReply *r = NULL;
	int differs = 0;
	if (!hb->has_conns || !hb->has_conn_sum ||
	    kv_cmdf(p->app->store, &r, "HKEYS gw:%s:conns", hb->gateway_id) != KV_OK)
		goto out;
	uint64_t sum = 0;
	for (size_t i = 0; i < r->elements; i++) {
		const char *conn = kv_reply_str(r->element[i]);
		if (conn)
			sum += svc_conn_digest(conn);
	}
	differs = r->elements != (size_t)hb->conns || sum != hb->conn_sum;
out:
	if (r)
		freeReplyObject(r);
	return differs;
}

/* cnats thread (gateway events). Not retried: the next one comes soon. */
static void handle_heartbeat(presence *p, const bus_msg *m)
{
	Rb__GwHeartbeat *hb = rb__gw_heartbeat__unpack(NULL, m->len, m->data);
	redisReply *r[2];
	long lease = ROOM_DEFAULT_LEASE_MS;

	if (!hb || !presence_id_ok(hb->gateway_id)) {
		log_warn("presence: dropping malformed heartbeat");
	} else if (kv_begin(p->app->store) == KV_OK) {
		if (hb->has_lease_ms && hb->lease_ms > 0)
			lease = hb->lease_ms < LEASE_MIN_MS   ? LEASE_MIN_MS
				: hb->lease_ms > LEASE_MAX_MS ? LEASE_MAX_MS
							      : hb->lease_ms;
		kv_appendf(p->app->store, "SET gw:%s:lease 1 PX %ld", hb->gateway_id, lease);
		kv_appendf(p->app->store, "SADD gateways %s", hb->gateway_id);
		if (kv_collect(p->app->store, r, 2) == KV_OK)
			kv_replies_free(r, 2);
		kv_end(p->app->store);
		atomic_fetch_add(&p->heartbeats, 1);
		/* A difference is usually events in flight; reconciling then is
		 * harmless, and it repairs the real gaps. */
		if (record_differs(p, hb))
			reconcile(p, hb->gateway_id);
	}
	if (hb)
		rb__gw_heartbeat__free_unpacked(hb, NULL);
}

/* cnats thread (gateway events): a gateway forwarded an updateUsers
 * composed before a joinRoom/leaveRoom it had already forwarded (another
 * instance published the list late; voice.c sends no updateUsers of its
 * own for a join or leave). A fresh one goes out, coalesced as usual. */
static void handle_lists_stale(presence *p, const bus_msg *m)
{
	(void)m;
	atomic_fetch_add(&p->stale, 1);
	lists_dirty(p->app->lists, LISTS_USERS);
}

/* cnats thread: rb.evt.gw.* (queue group room). */
static void on_gw_event(void *ud, const bus_msg *m)
{
	static const struct {
		const char *subject;
		gw_event_fn fn;                             /* a ConnEvent, or */
		void (*raw)(presence *p, const bus_msg *m); /* anything else */
	} table[] = {
		{"rb.evt.gw.heartbeat", NULL, handle_heartbeat},
		{"rb.evt.gw.conn_opened", on_conn_opened, NULL},
		{"rb.evt.gw.conn_closed", on_conn_closed, NULL},
		{"rb.evt.gw.lists_stale", NULL, handle_lists_stale},
	};
	for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
		if (strcmp(table[i].subject, m->subject))
			continue;
		if (table[i].fn)
			handle_conn_event(ud, m, table[i].fn);
		else
			table[i].raw(ud, m);
		return;
	}
}

/* -------------------------------------------------------------- sweeper */

/* Sweeper thread: closes every connection of a gateway whose lease is
 * gone, unless another instance is at it (lock), then forgets it. */
static void sweep_gateway(presence *p, const char *gw)
{
	kv *st = p->app->store;
	redisReply *r = NULL;
	size_t done = 0, n = 0;

	if (kv_cmdf(st, &r, "SET gw:%s:sweep %s NX PX " SWEEP_LOCK_MS, gw, p->app->instance) !=
		    KV_OK ||
	    !kv_reply_str(r)) {
		if (r)
			freeReplyObject(r);
		return; /* another instance sweeps it, or Redis is down */
	}
	freeReplyObject(r);
	r = NULL;
	if (kv_cmdf(st, &r, "HKEYS gw:%s:conns", gw) == KV_OK && r->type == REDIS_REPLY_ARRAY) {
		n = r->elements;
		for (; done < n && !subthread_stopping(&p->run); done++)
			if (!kv_reply_str(r->element[done]) ||
			    conn_close(p, gw, r->element[done]->str, 0) < 0)
				break;
	}
	if (r)
		freeReplyObject(r);
	const char *args[] = {gw};
	(void)kv_eval(st, NULL, 0, script_gw_drop, 1, args);
	const char *unlock[] = {gw, p->app->instance};
	(void)kv_eval(st, NULL, 0, script_sweep_unlock, 2, unlock);
	log_info("presence: gateway %s lost its lease: %zu of %zu connections closed", gw, done, n);
	atomic_fetch_add(&p->swept_gateways, 1);
	atomic_fetch_add(&p->swept_conns, done);
}

/* Sweeper thread: one round. */
static void sweep(presence *p)
{
	kv *st = p->app->store;
	redisReply *gws = NULL, **leases = NULL;
	size_t n = 0;

	if (kv_cmdf(st, &gws, "SMEMBERS gateways") != KV_OK || gws->type != REDIS_REPLY_ARRAY)
		goto out;
	n = gws->elements;
	if (!n || !(leases = calloc(n, sizeof *leases)) || kv_begin(st) != KV_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		kv_appendf(st, "EXISTS gw:%s:lease", kv_reply_str(gws->element[i]) ?: "");
	kv_status s = kv_collect(st, leases, n);
	kv_end(st);
	for (size_t i = 0; s == KV_OK && i < n && !subthread_stopping(&p->run); i++) {
		const char *gw = kv_reply_str(gws->element[i]);
		if (gw && kv_reply_int(leases[i], 1) == 0 && presence_id_ok(gw))
			sweep_gateway(p, gw);
	}
	if (s == KV_OK)
		kv_replies_free(leases, n);
out:
	free(leases);
	if (gws)
		freeReplyObject(gws);
}

/* Sweeper thread. A lease that ran out while NATS or Redis was unreachable
 * says nothing about the gateway: its heartbeats could not be stored. So a
 * sweep only runs after both were up for a default lease. */
static void *sweeper_main(void *arg)
{
	presence *p = arg;
	int64_t bus_up_since = 0;
	while (!subthread_stopping(&p->run)) {
		int64_t now = bus_now_ms(), store_since = kv_up_since(p->app->store);
		if (!bus_connected(p->app->bus))
			bus_up_since = 0;
		else if (!bus_up_since)
			bus_up_since = now;
		int64_t since = bus_up_since > store_since ? bus_up_since : store_since;
		if (!store_since)
			(void)kv_cmdf(p->app->store, NULL, "PING"); /* reconnects */
		else if (bus_up_since && now - since >= ROOM_DEFAULT_LEASE_MS)
			sweep(p);
		proc_sleep_ms((int)p->app->cfg->sweep_ms);
	}
	return NULL;
}

/* ---------------------------------------------------------------- life */

presence *presence_start(room_app *app)
{
	presence *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->app = app;
	if (subthread_start(&p->run, app->bus, "rb.evt.gw.*", ROOM_QUEUE, on_gw_event, sweeper_main,
			    p, "presence") < 0)
		return NULL; /* p stays allocated: a callback may still run */
	return p;
}

void presence_stop(presence *p)
{
	if (p)
		subthread_stop(&p->run);
}

void presence_free(presence *p)
{
	free(p);
}

void presence_metrics(presence *p, buf *out)
{
	static const char *names[] = {"heartbeats",     "conns_opened", "conns_closed",
				      "gateways_swept", "conns_swept",  "lists_stale"};
	unsigned long v[] = {atomic_load(&p->heartbeats),  atomic_load(&p->opened),
			     atomic_load(&p->closed),      atomic_load(&p->swept_gateways),
			     atomic_load(&p->swept_conns), atomic_load(&p->stale)};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		buf_addf(out, "# TYPE roomsvc_%s_total counter\nroomsvc_%s_total %lu\n", names[i],
			 names[i], v[i]);
}
