/* Graceful drain on SIGTERM (README "Drain"): /readyz says 503 at once and
 * new WebSockets are refused, so the load balancer stops sending clients
 * here; after REBUTTAL_DRAIN_MS the sockets still open are closed with 1012
 * ("service restart"), one after another, evenly over
 * REBUTTAL_DRAIN_SPREAD_MS, so their clients do not all reconnect to the
 * other gateways in the same instant. Deliveries go on meanwhile: a client
 * gets everything published to it until its own close. Loop thread. */
#include <stdlib.h>

#include "gw.h"
#include "log.h"
#include "proc.h"

/* After the last close, how long the closes may take to be written (a
 * close waits for the frames queued before it) before shutdown goes on. */
#define DRAIN_FLUSH_MS 2000

enum { DRAIN_OFF, DRAIN_WAIT, DRAIN_CLOSING, DRAIN_FLUSH, DRAIN_DONE };

struct drain {
	int phase;
	int64_t t0;       /* bus_now_ms() of SIGTERM */
	int64_t close_t0; /* when the first close is due */
	uint64_t *ids;    /* sessions open when closing began, in id order */
	size_t n, next;   /* how many, and the next to close */
	lws_sorted_usec_list_t sul;
	gw *g;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The ids of every open session, oldest first. 0, or -1 out of memory. */
static int snapshot(gw *g, struct drain *d)
{
	d->ids = calloc(g->n_sessions ? g->n_sessions : 1, sizeof *d->ids);
	if (!d->ids)
		return -1;
	for (size_t b = 0; b < GW_BUCKETS; b++)
		for (session *s = g->by_id[b]; s && d->n < g->n_sessions; s = s->next_id)
			d->ids[d->n++] = s->id;
	qsort(d->ids, d->n, sizeof *d->ids, cmp_u64);
	return 0;
}

/* When session k of n is due: k * spread / n after the first, so the gaps
 * are equal and the last is one gap short of the window's end. */
static int64_t due_at(const gw *g, const struct drain *d, size_t k)
{
	return d->close_t0 + (int64_t)((double)g->cfg->drain_spread_ms * (double)k / (double)d->n);
}

static void on_drain_timer(lws_sorted_usec_list_t *sul);

static void schedule(gw *g, struct drain *d, int64_t at)
{
	int64_t wait = at - bus_now_ms();
	lws_sul_schedule(g->lws, 0, &d->sul, on_drain_timer,
			 (lws_usec_t)(wait > 0 ? wait : 0) * LWS_US_PER_MS);
}

/* Closes the sessions that are due; the ones that closed meanwhile on
 * their own are skipped. */
static void close_due(gw *g, struct drain *d)
{
	int64_t now = bus_now_ms();
	char cid[24];
	for (; d->next < d->n && due_at(g, d, d->next) <= now; d->next++) {
		snprintf(cid, sizeof cid, "%llu", (unsigned long long)d->ids[d->next]);
		session *s = session_find(g, cid);
		if (s)
			session_close_after(s, 1012, "service restart");
	}
}

static void on_drain_timer(lws_sorted_usec_list_t *sul)
{
	struct drain *d = lws_container_of(sul, struct drain, sul);
	gw *g = d->g;
	int64_t now = bus_now_ms();
	if (d->phase == DRAIN_WAIT) {
		d->phase = DRAIN_CLOSING;
		d->close_t0 = now;
		if (snapshot(g, d) < 0) {
			log_error("drain: out of memory; closing at once");
			d->phase = DRAIN_DONE;
			return;
		}
		log_info("drain: closing %zu connections over %ld ms", d->n,
			 g->cfg->drain_spread_ms);
	}
	if (d->phase == DRAIN_CLOSING) {
		close_due(g, d);
		if (d->next < d->n) {
			schedule(g, d, due_at(g, d, d->next));
			return;
		}
		d->phase = DRAIN_FLUSH;
		d->close_t0 = now;
	}
	if (d->phase == DRAIN_FLUSH) {
		if (g->n_sessions && now - d->close_t0 < DRAIN_FLUSH_MS) {
			schedule(g, d, now + 20);
			return;
		}
		log_info("drain: done after %lld ms, %llu connections left",
			 (long long)(now - d->t0), (unsigned long long)g->n_sessions);
		d->phase = DRAIN_DONE;
	}
}

int drain_init(gw *g)
{
	g->drain = calloc(1, sizeof *g->drain);
	if (!g->drain)
		return -1;
	g->drain->g = g;
	return 0;
}

int drain_done(gw *g)
{
	struct drain *d = g->drain;
	if (!proc_stopping())
		return 0;
	if (d->phase == DRAIN_OFF) {
		d->phase = DRAIN_WAIT;
		d->t0 = bus_now_ms();
		g->draining = 1;
		log_info("drain: SIGTERM: not ready, refusing new connections; %llu open, "
			 "closing them in %ld ms over %ld ms",
			 (unsigned long long)g->n_sessions, g->cfg->drain_ms,
			 g->cfg->drain_spread_ms);
		schedule(g, d, d->t0 + g->cfg->drain_ms);
	}
	/* Nobody to wait for: a new connection would be refused anyway. */
	if (d->phase == DRAIN_WAIT && !g->n_sessions) {
		log_info("drain: no connection open");
		d->phase = DRAIN_DONE;
	}
	if (proc_hurried() && d->phase != DRAIN_DONE) {
		log_info("drain: second signal: stopping now");
		d->phase = DRAIN_DONE;
	}
	return d->phase == DRAIN_DONE;
}

void drain_free(gw *g)
{
	if (!g->drain)
		return;
	lws_sul_cancel(&g->drain->sul);
	free(g->drain->ids);
	free(g->drain);
	g->drain = NULL;
}
