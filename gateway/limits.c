/* What one client may hold and how fast it may send. Loop thread.
 *
 *  - A socket that is not logged in is anonymous: at most anon_per_addr of
 *    them per client address, and each must send a login or sign-up within
 *    anon_timeout_ms of opening (or of its last one's answer).
 *  - A message whose first bytes arrived must end within
 *    partial_timeout_ms plus the time its announced size takes at
 *    partial_rate; the unfinished messages of all connections hold at most
 *    partial_max_bytes.
 *  - Packets are rated by their row's class (packets.h): the user's bucket,
 *    or a bucket per user and relay target.
 *
 * Every breach closes or refuses one connection, never the others. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "log.h"
#include "parse.h"
#include "pbjson.h"
#include "request.h"
#include "svc.h"

typedef struct timed_list {
	timed_link *head, *tail;
	size_t n;
} timed_list;

/* The anonymous sockets of one address. */
typedef struct addr_count {
	struct addr_count *next;
	long n;
	char addr[64];
} addr_count;

struct limits {
	addr_count *addrs[GW_BUCKETS];
	/* Anonymous sockets that owe a login packet, in deadline order (one
	 * timeout for all, so arrival order is deadline order). */
	timed_list anon;
	/* Anonymous sockets whose login or sign-up is queued or in flight:
	 * looked at every second, back on `anon` once answered. */
	timed_list hashing;
	int64_t hashing_checked;
	/* Refusals over the per-address cap are logged once a second at most
	 * (an attack must not become a flood of log lines): how many, and the
	 * last address. */
	uint64_t refused_logged;
	char refused_addr[64];
	/* Connections in the middle of a message (deadlines differ: scanned). */
	timed_list partial;
	size_t partial_bytes;
	uint64_t n_anon, anon_refused, login_timeouts;
	uint64_t partial_timeouts, partial_refused;
	uint64_t rate_refused, rate_closed, relays_dropped;
};

/* ------------------------------------------------------------------ lists */

static void timed_del(timed_link *k)
{
	timed_list *l = k->list;
	if (!l)
		return;
	if (k->prev)
		k->prev->next = k->next;
	else
		l->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = NULL;
	k->list = NULL;
	l->n--;
}

static void timed_push(timed_list *l, timed_link *k, session *s, int64_t until)
{
	timed_del(k);
	k->s = s;
	k->until = until;
	k->prev = l->tail;
	k->next = NULL;
	if (l->tail)
		l->tail->next = k;
	else
		l->head = k;
	l->tail = k;
	k->list = l;
	l->n++;
}

/* ------------------------------------------------------------ the buckets */

/* Takes a token from b (burst at most, refilled at rate per second);
 * 0 when there is none. rate 0: no limit. */
static int bucket_take(rate_bucket *b, int64_t now, long burst, long rate)
{
	if (rate <= 0)
		return 1;
	if (!b->at) {
		b->tokens = (double)burst;
	} else if (now > b->at) {
		b->tokens += (double)(now - b->at) * (double)rate / 1000.0;
		if (b->tokens > (double)burst)
			b->tokens = (double)burst;
	}
	b->at = now;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

/* Full again: forgetting it loses nothing. */
static int bucket_full(const rate_bucket *b, int64_t now, long burst, long rate)
{
	return !b->at || b->tokens + (double)(now - b->at) * (double)rate / 1000.0 >= (double)burst;
}

/* ------------------------------------------------------------------ init */

int limits_init(gw *g)
{
	/* Messages of up to 12 MiB are buffered while they arrive and freed
	 * when handled. glibc raises its mmap threshold to the size of each
	 * big block freed (up to 32 MiB), after which such buffers come from
	 * the heap, whose freed memory stays with the process: the RSS of a
	 * burst of big messages might never come back. A fixed threshold
	 * keeps every block of 1 MiB and more in its own mapping, returned
	 * to the system when freed. (Measured: glibc alone gave the memory
	 * back in tests/integ_limits.c's pattern too, by trimming the heap's
	 * top; a small block allocated above the big ones would pin them.)
	 * 1 MiB: rendered lists and the like stay in the heap. */
	if (!mallopt(M_MMAP_THRESHOLD, 1024 * 1024))
		log_warn("mallopt(M_MMAP_THRESHOLD) failed: big buffers may stay in RSS");
	g->limits = calloc(1, sizeof *g->limits);
	return g->limits ? 0 : -1;
}

void limits_free(gw *g)
{
	struct limits *l = g->limits;
	if (!l)
		return;
	for (size_t i = 0; i < GW_BUCKETS; i++) {
		while (l->addrs[i]) {
			addr_count *a = l->addrs[i];
			l->addrs[i] = a->next;
			free(a);
		}
	}
	free(l);
	g->limits = NULL;
}

/* ------------------------------------------------------ anonymous sockets */

static addr_count **addr_slot(struct limits *l, const char *addr)
{
	addr_count **pp = &l->addrs[str_hash(addr) % GW_BUCKETS];
	while (*pp && strcmp((*pp)->addr, addr))
		pp = &(*pp)->next;
	return pp;
}

/* s is no longer anonymous (logged in, or gone). */
static void anon_leave(session *s)
{
	struct limits *l = s->gw->limits;
	timed_del(&s->lim.anon);
	if (!s->lim.anon_counted)
		return;
	s->lim.anon_counted = 0;
	l->n_anon--;
	addr_count **pp = addr_slot(l, s->addr);
	addr_count *a = *pp;
	if (a && --a->n <= 0) {
		*pp = a->next;
		free(a);
	}
}

int limits_conn_open(session *s)
{
	gw *g = s->gw;
	struct limits *l = g->limits;
	addr_count **pp = addr_slot(l, s->addr);
	addr_count *a = *pp;

	if (g->cfg->anon_per_addr > 0 && a && a->n >= g->cfg->anon_per_addr &&
	    !netaddr_list_has(&g->anon_exempt, s->addr)) {
		l->anon_refused++;
		snprintf(l->refused_addr, sizeof l->refused_addr, "%s", s->addr);
		return -1;
	}
	if (!a) {
		a = calloc(1, sizeof *a);
		if (!a)
			return -1;
		snprintf(a->addr, sizeof a->addr, "%s", s->addr);
		*pp = a;
	}
	a->n++;
	l->n_anon++;
	s->lim.anon_counted = 1;
	timed_push(&l->anon, &s->lim.anon, s, bus_now_ms() + g->cfg->anon_timeout_ms);
	return 0;
}

void limits_conn_login(session *s)
{
	anon_leave(s);
}

void limits_hello_sent(session *s)
{
	if (!s->logged_in)
		timed_push(&s->gw->limits->hashing, &s->lim.anon, s, 0);
}

/* Anonymous sockets past their deadline are closed; those whose login was
 * answered and left them anonymous get a fresh deadline (every second, as
 * is the log of refusals). */
static void anon_tick(gw *g, int64_t now)
{
	struct limits *l = g->limits;
	while (l->anon.head && l->anon.head->until <= now) {
		session *s = l->anon.head->s;
		timed_del(l->anon.head);
		l->login_timeouts++;
		session_close_after(s, 1008, "login timeout"); /* logged when closed */
	}
	if (now - l->hashing_checked < 1000)
		return;
	l->hashing_checked = now;
	if (l->anon_refused > l->refused_logged) {
		log_warn("%llu sockets refused over %ld anonymous per address (the last from %s)",
			 (unsigned long long)(l->anon_refused - l->refused_logged),
			 g->cfg->anon_per_addr, l->refused_addr);
		l->refused_logged = l->anon_refused;
	}
	for (timed_link *k = l->hashing.head, *next; k; k = next) {
		next = k->next;
		if (!request_pending(k->s, PART_AUTH))
			timed_push(&l->anon, k, k->s, now + g->cfg->anon_timeout_ms);
	}
}

/* ------------------------------------------------------ partial messages */

static void partial_drop(session *s)
{
	struct limits *l = s->gw->limits;
	timed_del(&s->lim.partial);
	l->partial_bytes -= s->lim.held;
	s->lim.held = 0;
	s->lim.frame_left = 0;
	s->lim.declared = 0;
}

/* The deadline of s's unfinished message: the timeout, plus the time its
 * announced bytes take at partial_rate (a big upload on a slow line is
 * not a stalled one). */
static int64_t partial_until(const session *s)
{
	const gw_config *c = s->gw->cfg;
	int64_t t = s->lim.rx_since + c->partial_timeout_ms;
	if (c->partial_rate > 0)
		t += (int64_t)(s->lim.declared * 1000 / (uint64_t)c->partial_rate);
	return t;
}

int limits_rx(session *s, struct lws *wsi, size_t len, int final)
{
	gw *g = s->gw;
	struct limits *l = g->limits;
	const gw_config *c = g->cfg;
	size_t remaining = lws_remaining_packet_payload(wsi);

	if (!s->lim.frame_left) /* this chunk begins a frame: its size is announced */
		s->lim.declared += len + remaining;
	s->lim.frame_left = remaining;
	if (final && !s->lim.partial.list)
		return 0; /* a whole message at once: nothing is held across calls */
	if (!s->lim.partial.list) {
		s->lim.rx_since = bus_now_ms();
		timed_push(&l->partial, &s->lim.partial, s, 0);
	}
	s->lim.partial.until = partial_until(s);
	if (s->rx_binary)
		return 0; /* discarded as it comes: nothing held */
	if (l->partial_bytes + len > (size_t)c->partial_max_bytes) {
		static const char why[] = "server busy: too many unfinished messages";
		l->partial_refused++;
		log_warn("conn %s: unfinished messages would pass %ld bytes, closing", s->cid,
			 c->partial_max_bytes);
		partial_drop(s);
		buf_free(&s->rx);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
				 sizeof why - 1);
		return -1;
	}
	s->lim.held += len;
	l->partial_bytes += len;
	return 0;
}

void limits_rx_end(session *s)
{
	partial_drop(s);
}

/* Unfinished messages past their deadline: the connection is closed and
 * its buffer freed now, not when the close is done. */
static void partial_tick(gw *g, int64_t now)
{
	struct limits *l = g->limits;
	for (timed_link *k = l->partial.head, *next; k; k = next) {
		next = k->next;
		if (k->until > now)
			continue;
		session *s = k->s;
		l->partial_timeouts++;
		log_info("conn %s: a message of %llu bytes unfinished after %lld ms, closing",
			 s->cid, (unsigned long long)s->lim.declared,
			 (long long)(now - s->lim.rx_since));
		partial_drop(s);
		buf_free(&s->rx);
		session_close_after(s, 1008, "message timeout");
	}
}

/* ------------------------------------------------------------------ rates */

/* Over the user's bucket: `error`; a connection that goes on being refused
 * (strikes_max within strikes_ms) is closed. */
static int refuse(session *s, const packet_row *row, int64_t now)
{
	gw *g = s->gw;
	struct limits *l = g->limits;
	char msg[128];

	l->rate_refused++;
	if (now - s->lim.strikes_since >= g->cfg->strikes_ms) {
		s->lim.strikes_since = now;
		s->lim.strikes = 0;
	}
	if (++s->lim.strikes > g->cfg->strikes_max) {
		l->rate_closed++;
		log_warn("conn %s: %ld packets over the rate within %ld ms, closing%s%s", s->cid,
			 s->lim.strikes, g->cfg->strikes_ms, s->logged_in ? ", user " : "",
			 s->logged_in ? s->user_id : "");
		session_close_after(s, 1008, "too many packets");
		return 0;
	}
	snprintf(msg, sizeof msg, "%s: too many packets, slow down", row->type);
	session_send_error(s, msg);
	return 0;
}

static int admit_user(session *s, const packet_row *row, const ProtobufCMessage *msg, int64_t now)
{
	const gw_config *c = s->gw->cfg;
	(void)msg;
	if (!s->user || bucket_take(&s->user->lim.packets, now, c->user_burst, c->user_rate))
		return 1;
	return refuse(s, row, now);
}

/* The target's bucket of this packet type: the one in use, else a free or
 * full one (forgetting a full bucket loses nothing), else NULL. */
static rate_bucket *relay_bucket(user_limits *u, const packet_row *row, const char *target,
				 int64_t now, const gw_config *c)
{
	relay_slot *spare = NULL;
	for (size_t i = 0; i < RELAY_SLOTS; i++) {
		relay_slot *r = &u->relays[i];
		if (r->row == row && !strcmp(r->target, target))
			return &r->b;
		if (!spare && (!r->row || bucket_full(&r->b, now, c->relay_burst, c->relay_rate)))
			spare = r;
	}
	if (!spare)
		return NULL;
	spare->row = row;
	snprintf(spare->target, sizeof spare->target, "%s", target);
	memset(&spare->b, 0, sizeof spare->b);
	return &spare->b;
}

/* A relay over its bucket is dropped, as one to an offline user is
 * (PROTOCOL.md: relays get no answer); a client bouncing one in a loop
 * thus loses the loop, not its connection. A user relaying to more
 * targets at once than there are slots uses the packet bucket for the
 * rest. */
static int admit_relay(session *s, const packet_row *row, const ProtobufCMessage *msg, int64_t now)
{
	const gw_config *c = s->gw->cfg;
	const ProtobufCFieldDescriptor *f = pbjson_field(msg->descriptor, "touserid");
	const char *target = f && f->type == PROTOBUF_C_TYPE_STRING
				     ? *(char *const *)((const char *)msg + f->offset)
				     : NULL;
	if (!s->user || c->relay_rate <= 0)
		return 1;
	rate_bucket *b = relay_bucket(&s->user->lim, row, target ? target : "", now, c);
	int ok = b ? bucket_take(b, now, c->relay_burst, c->relay_rate)
		   : bucket_take(&s->user->lim.packets, now, c->user_burst, c->user_rate);
	if (!ok)
		s->gw->limits->relays_dropped++;
	return ok;
}

static int admit_any(session *s, const packet_row *row, const ProtobufCMessage *msg, int64_t now)
{
	(void)s, (void)row, (void)msg, (void)now;
	return 1;
}

/* What each rate class of the packet table means. */
static int (*const admit[])(session *, const packet_row *, const ProtobufCMessage *, int64_t) = {
	[RATE_USER] = admit_user,
	[RATE_RELAY] = admit_relay,
	[RATE_NONE] = admit_any,
};

int limits_admit(session *s, const void *rowp, const ProtobufCMessage *msg)
{
	const packet_row *row = rowp;
	return admit[row->rate](s, row, msg, bus_now_ms());
}

/* ------------------------------------------------------------ the rest */

void limits_conn_close(session *s)
{
	anon_leave(s);
	partial_drop(s);
}

void limits_tick(gw *g)
{
	int64_t now = bus_now_ms();
	anon_tick(g, now);
	partial_tick(g, now);
}

#define METRIC(b, type, name, v)                                                                   \
	buf_addf(b, "# TYPE rebuttal_gateway_" name " " type "\nrebuttal_gateway_" name " %llu\n", \
		 (unsigned long long)(v))

void limits_metrics(gw *g, buf *b)
{
	struct limits *l = g->limits;
	METRIC(b, "gauge", "anonymous", l->n_anon);
	METRIC(b, "gauge", "anonymous_waiting_login", l->hashing.n);
	METRIC(b, "counter", "anonymous_refused_total", l->anon_refused);
	METRIC(b, "counter", "login_timeouts_total", l->login_timeouts);
	METRIC(b, "gauge", "partial_messages", l->partial.n);
	METRIC(b, "gauge", "partial_bytes", l->partial_bytes);
	METRIC(b, "counter", "partial_timeouts_total", l->partial_timeouts);
	METRIC(b, "counter", "partial_refused_total", l->partial_refused);
	METRIC(b, "counter", "rate_refused_total", l->rate_refused);
	METRIC(b, "counter", "rate_closed_total", l->rate_closed);
	METRIC(b, "counter", "relays_dropped_total", l->relays_dropped);
}
