/* Client packets become bus requests; replies come back through the loop's
 * inbox (deliver.c) to reply_handle. Loop thread, except where noted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw.h"
#include "log.h"
#include "parse.h"
#include "pbjson.h"
#include "rebuttal.pb-c.h"
#include "request.h"
#include "svc.h"

/* Identifies the connection a reply is for; a connection may be gone by
 * the time its reply arrives, so it is looked up by id, never by pointer. */
typedef struct {
	gw *g;
	char cid[24];
	const packet_row *row;
	struct timespec sent; /* for the request histogram */
	uint64_t perms_epoch; /* get_perms: the session's perms_epoch when asked */
} req_ctx;

/* A packed request waiting for the previous one to the same service. */
typedef struct req_item {
	struct req_item *next;
	const packet_row *row;
	int64_t arrived, deadline; /* bus_now_ms() */
	size_t len;
	uint8_t bytes[];
} req_item;

/* A password-hashing request waiting for the login window (gw.h). */
struct login_wait {
	struct login_wait *next;
	char cid[24];
	req_item *it;
};

static void send_next(session *s, int k);

static long deadline_of(const gw *g, const packet_row *row)
{
	return (row->flags & PKT_HASHES) ? g->cfg->login_deadline_ms : g->cfg->req_timeout_ms;
}

/* cnats thread (reply) or loop thread (timeout from bus_tick). */
static void on_reply(void *ud, enum bus_result r, const void *data, size_t len)
{
	req_ctx *rc = ud;
	gw_item *it = item_new(IT_REPLY, rc->cid, data, len);
	histo_observe_since(&rc->g->req_dur[rc->row->part], &rc->sent);
	if (it) {
		it->row = rc->row;
		it->timeout = r == BUS_TIMEOUT;
		item_post(rc->g, it);
	}
	free(rc);
}

/* The request's deadline passed before it could be sent: the client hears
 * so, the connection stays, and the next packet to that service may go. */
static void expire(session *s, req_item *it)
{
	char msg[128];
	int k = it->row->part;
	snprintf(msg, sizeof msg, "%s: the server is busy, try again later", it->row->type);
	session_send_error(s, msg);
	s->gw->timeouts++;
	if (it->row->flags & PKT_LOGIN)
		s->login_pending = 0;
	s->req_inflight[k] = 0;
	free(it);
	send_next(s, k);
}

static void send_now(session *s, req_item *it)
{
	gw *g = s->gw;
	char subject[96];
	int64_t now = bus_now_ms();
	int k = it->row->part;

	if (it->deadline <= now) {
		expire(s, it);
		return;
	}
	req_ctx *rc = calloc(1, sizeof *rc);
	snprintf(subject, sizeof subject, "rb.%s.%s", part_name(it->row->part), it->row->type);
	if (rc) {
		rc->g = g;
		snprintf(rc->cid, sizeof rc->cid, "%s", s->cid);
		rc->row = it->row;
		clock_gettime(CLOCK_MONOTONIC, &rc->sent);
	}
	if (!rc || bus_request(g->bus, subject, it->bytes, it->len, (int)(it->deadline - now),
			       (int)g->cfg->req_attempt_ms, on_reply, rc) < 0) {
		free(rc);
		session_send_error(s, "internal error");
		s->req_inflight[k] = 0;
	} else {
		g->requests++;
		s->req_inflight[k] = 1;
		if (it->row->flags & PKT_LOGIN)
			s->login_pending = 1;
		if (it->row->flags & PKT_HASHES) {
			uint64_t waited = (uint64_t)(now - it->arrived);
			g->login_inflight++;
			g->login_waits++;
			g->login_wait_ms_sum += waited;
			if (waited > g->login_wait_ms_max)
				g->login_wait_ms_max = waited;
		}
	}
	free(it);
}

/* Password hashing is the costliest request: authsvc gets at most
 * login_window of them from this gateway at once and the rest wait here in
 * arrival order (bounded by login_queue_max), each until its deadline. A
 * storm of reconnects thus queues instead of failing, and authsvc never
 * works on a login whose client has given up. */
static void login_admit(session *s, req_item *it)
{
	gw *g = s->gw;
	if (g->login_inflight < g->cfg->login_window && !g->login_head) {
		send_now(s, it);
		return;
	}
	struct login_wait *w =
		(size_t)g->cfg->login_queue_max > g->login_queued ? calloc(1, sizeof *w) : NULL;
	if (!w) {
		char msg[128];
		g->login_refused_full++;
		snprintf(msg, sizeof msg, "%s: the server is busy, try again later", it->row->type);
		session_send_error(s, msg);
		free(it);
		return;
	}
	snprintf(w->cid, sizeof w->cid, "%s", s->cid);
	w->it = it;
	if (g->login_tail)
		g->login_tail->next = w;
	else
		g->login_head = w;
	g->login_tail = w;
	g->login_queued++;
	g->login_queue_bytes += sizeof *w + sizeof *it + it->len;
	s->req_inflight[it->row->part] = 1;
	if (it->row->flags & PKT_LOGIN)
		s->login_pending = 1;
}

static struct login_wait *login_pop(gw *g)
{
	struct login_wait *w = g->login_head;
	if (w) {
		g->login_head = w->next;
		if (!g->login_head)
			g->login_tail = NULL;
		g->login_queued--;
		g->login_queue_bytes -= sizeof *w + sizeof *w->it + w->it->len;
	}
	return w;
}

/* Fills the window from the queue; waits of closed connections are
 * dropped here. */
static void login_pump(gw *g)
{
	while (g->login_inflight < g->cfg->login_window && g->login_head) {
		struct login_wait *w = login_pop(g);
		session *s = session_find(g, w->cid);
		if (s)
			send_now(s, w->it);
		else
			free(w->it);
		free(w);
	}
}

void request_tick(gw *g)
{
	int64_t now = bus_now_ms();
	/* Same deadline for all, so the oldest is first to expire. */
	while (g->login_head && g->login_head->it->deadline <= now) {
		struct login_wait *w = login_pop(g);
		session *s = session_find(g, w->cid);
		g->login_expired++;
		if (s)
			expire(s, w->it);
		else
			free(w->it);
		free(w);
	}
}

/* Loop thread: the largest queue of packets (not lists) of a connection
 * now, in bytes. */
static size_t conn_queue_max(gw *g)
{
	size_t max = 0;
	for (size_t i = 0; i < GW_BUCKETS; i++)
		for (session *s = g->by_id[i]; s; s = s->next_id)
			if (s->out_bytes > max)
				max = s->out_bytes;
	return max;
}

void request_metrics(gw *g, buf *b)
{
	char labels[32];
	histo_print_head(b, "rebuttal_gateway_request_duration_seconds",
			 "client packet sent to a service until its reply or timeout, by service");
	for (int k = 0; k < PART_COUNT; k++) {
		snprintf(labels, sizeof labels, "svc=\"%s\"", part_name(k));
		histo_print(b, "rebuttal_gateway_request_duration_seconds", labels, &g->req_dur[k]);
	}
	histo_print_head(
		b, "rebuttal_gateway_delivery_duration_seconds",
		"a delivery's arrival from the bus until its socket write, per connection");
	histo_print(b, "rebuttal_gateway_delivery_duration_seconds", "", &g->deliver_dur);
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_conn_queue_bytes_max gauge\nrebuttal_gateway_conn_queue_bytes_max %zu\n",
		conn_queue_max(g));
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_bus_request_timeouts_total counter\nrebuttal_gateway_bus_request_timeouts_total %llu\n",
		(unsigned long long)bus_timeouts());
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_login_inflight gauge\nrebuttal_gateway_login_inflight %ld\n",
		g->login_inflight);
	buf_addf(b, "# TYPE rebuttal_gateway_login_queue gauge\nrebuttal_gateway_login_queue %zu\n",
		 g->login_queued);
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_login_queue_bytes gauge\nrebuttal_gateway_login_queue_bytes %zu\n",
		g->login_queue_bytes);
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_login_wait_seconds summary\n"
		"rebuttal_gateway_login_wait_seconds_sum %.3f\nrebuttal_gateway_login_wait_seconds_count %llu\n",
		(double)g->login_wait_ms_sum / 1e3, (unsigned long long)g->login_waits);
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_login_wait_max_seconds gauge\nrebuttal_gateway_login_wait_max_seconds %.3f\n",
		(double)g->login_wait_ms_max / 1e3);
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_login_expired_total counter\nrebuttal_gateway_login_expired_total %llu\n",
		(unsigned long long)g->login_expired);
	buf_addf(
		b,
		"# TYPE rebuttal_gateway_login_refused_full_total counter\nrebuttal_gateway_login_refused_full_total %llu\n",
		(unsigned long long)g->login_refused_full);
}

/* Sends it now, or through the login window when it hashes a password. */
static void dispatch(session *s, req_item *it)
{
	if (it->row->flags & PKT_HASHES)
		login_admit(s, it);
	else
		send_now(s, it);
}

/* Sends the next waiting request to service k, if any. */
static void send_next(session *s, int k)
{
	req_item *it = s->req_head[k];
	if (!it || s->req_inflight[k])
		return;
	s->req_head[k] = it->next;
	if (!s->req_head[k])
		s->req_tail[k] = NULL;
	s->req_queued[k]--;
	dispatch(s, it);
}

static req_item *pack_request(session *s, const packet_row *row, ProtobufCMessage *payload)
{
	gw *g = s->gw;
	Rb__Envelope env = RB__ENVELOPE__INIT;
	char rid[UUID_STR_LEN + 1];
	req_item *it = NULL;

	uuid_new(rid);
	env.request_id = rid;
	env.gateway_id = g->id;
	env.conn_id = s->cid;
	env.user_id = s->logged_in ? s->user_id : NULL;
	env.perms = s->perms;
	env.n_perms = s->nperms;
	env.client_addr = s->addr;
	env.has_deadline_ms = 1;
	env.deadline_ms = bus_wall_ms() + deadline_of(g, row);
	if (pbjson_oneof_put(&env.base, row->type, payload) == 0) {
		size_t len = protobuf_c_message_get_packed_size(&env.base);
		it = malloc(sizeof *it + len);
		if (it) {
			it->next = NULL;
			it->row = row;
			it->arrived = bus_now_ms();
			it->deadline = it->arrived + deadline_of(g, row);
			it->len = protobuf_c_message_pack(&env.base, it->bytes);
		}
	}
	protobuf_c_message_free_unpacked(payload, NULL);
	return it;
}

void request_send(session *s, const void *rowp, ProtobufCMessage *payload)
{
	const packet_row *row = rowp;
	int k = row->part;

	/* Packed now, with the permissions the connection has now. */
	req_item *it = pack_request(s, row, payload);
	if (!it) {
		session_send_error(s, "internal error");
		return;
	}
	if (!s->req_inflight[k]) {
		dispatch(s, it);
		return;
	}
	/* A flood of talking toggles collapses into the newest waiting one, so
	 * the final state is never lost and the queue stays short. */
	if (row->flags & PKT_LATEST) {
		for (req_item **pp = &s->req_head[k]; *pp; pp = &(*pp)->next) {
			if ((*pp)->row != row)
				continue;
			req_item *old = *pp;
			it->next = old->next;
			*pp = it;
			if (s->req_tail[k] == old)
				s->req_tail[k] = it;
			free(old);
			return;
		}
	}
	if (s->req_queued[k] >= s->gw->cfg->req_queue_max) {
		char msg[128];
		snprintf(msg, sizeof msg, "%s: too many packets waiting, slow down", row->type);
		session_send_error(s, msg);
		free(it);
		return;
	}
	if (s->req_tail[k])
		s->req_tail[k]->next = it;
	else
		s->req_head[k] = it;
	s->req_tail[k] = it;
	s->req_queued[k]++;
}

void request_queue_free(session *s)
{
	for (int k = 0; k < PART_COUNT; k++) {
		while (s->req_head[k]) {
			req_item *it = s->req_head[k];
			s->req_head[k] = it->next;
			free(it);
		}
		s->req_tail[k] = NULL;
		s->req_queued[k] = 0;
	}
}

void request_conn_event(gw *g, session *s, const char *what)
{
	Rb__ConnEvent ev = RB__CONN_EVENT__INIT;
	char subject[64];
	ev.gateway_id = g->id;
	ev.conn_id = s->cid;
	ev.user_id = s->user_id;
	snprintf(subject, sizeof subject, "rb.evt.gw.%s", what);
	bus_publish_pb(g->bus, subject, &ev.base);
}

static void refuse(session *s, const packet_row *row, const char *msg)
{
	session_send_error(s, msg);
	if (row->flags & PKT_CLOSE_ON_ERROR)
		session_close_after(s, 1000, row->type);
}

/* cnats thread (reply) or loop thread (timeout). */
static void on_perms_reply(void *ud, enum bus_result r, const void *data, size_t len)
{
	req_ctx *rc = ud;
	gw_item *it = r == BUS_REPLY ? item_new(IT_PERMS, rc->cid, data, len) : NULL;
	if (it) {
		it->id = rc->perms_epoch;
		item_post(rc->g, it);
	}
	free(rc);
}

/* After a login, once the user's subject is subscribed: asks authsvc for
 * the permissions again. A change published between the login's read and
 * the subscription would otherwise never reach this connection. */
static void perms_refresh(session *s)
{
	gw *g = s->gw;
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__GetPerms gp = RB__GET_PERMS__INIT;
	char rid[UUID_STR_LEN + 1];
	uint8_t buf[256];
	req_ctx *rc = calloc(1, sizeof *rc);

	if (!rc)
		return;
	uuid_new(rid);
	env.request_id = rid;
	env.gateway_id = g->id;
	env.conn_id = s->cid;
	env.user_id = s->user_id;
	env.has_deadline_ms = 1;
	env.deadline_ms = bus_wall_ms() + g->cfg->req_timeout_ms;
	env.payload_case = RB__ENVELOPE__PAYLOAD_GET_PERMS;
	env.get_perms = &gp;
	if (protobuf_c_message_get_packed_size(&env.base) > sizeof buf) { /* ids only: cannot be */
		free(rc);
		return;
	}
	size_t len = protobuf_c_message_pack(&env.base, buf);
	rc->g = g;
	rc->perms_epoch = s->perms_epoch;
	snprintf(rc->cid, sizeof rc->cid, "%s", s->cid);
	if (bus_request(g->bus, "rb.auth.get_perms", buf, len, (int)g->cfg->req_timeout_ms,
			(int)g->cfg->req_attempt_ms, on_perms_reply, rc) < 0)
		free(rc);
}

static int same_perms(const session *s, const Rb__LoginResult *lr)
{
	if (s->nperms != lr->n_perms)
		return 0;
	for (size_t i = 0; i < lr->n_perms; i++) {
		size_t k = 0;
		while (k < s->nperms && strcmp(s->perms[k], lr->perms[i]))
			k++;
		if (k == s->nperms)
			return 0;
	}
	return 1;
}

void perms_reply_handle(gw *g, gw_item *it)
{
	session *s = session_find(g, it->key);
	/* A setPerms that came while the question was out is at least as new
	 * as the answer: the user's subject was subscribed before the question
	 * went (NATS keeps one connection's order), so every change the answer
	 * may lack reaches this session as a setPerms of its own. The answer
	 * is then dropped; applied, it could undo a newer change. */
	int stale = s && s->perms_epoch != it->id;
	Rb__Reply *r =
		s && s->logged_in && !stale ? rb__reply__unpack(NULL, it->len, it->data) : NULL;
	if (r && (!r->has_code || r->code == RB__CODE__OK) && r->login &&
	    !same_perms(s, r->login)) {
		Rb__Delivery d = RB__DELIVERY__INIT;
		Rb__SPerms sp = RB__SPERMS__INIT;
		session_set_perms(s, r->login->perms, r->login->n_perms);
		sp.perms = r->login->perms;
		sp.n_perms = r->login->n_perms;
		d.packet_case = RB__DELIVERY__PACKET_UPDATE_PERMS;
		d.updateperms = &sp;
		frame *f = render_delivery(&d);
		if (f) {
			session_send(s, f);
			frame_unref(f);
		}
		log_info("conn %s: permissions changed during login, updated", s->cid);
	}
	if (r)
		rb__reply__free_unpacked(r, NULL);
}

static void send_deliveries(session *s, const Rb__Reply *r)
{
	for (size_t i = 0; i < r->n_deliver; i++) {
		frame *f = render_delivery(r->deliver[i]);
		if (f) {
			session_send(s, f);
			frame_unref(f);
		}
	}
}

/* A login's OK reply, the whole of completing a login, in its order: the
 * connection joins its user (session_login: the user's subscription and
 * its barrier), the reply's packets go out, then roomsvc hears of the
 * connection and the permissions are read again (perms_refresh). */
static void login_finish(gw *g, session *s, const Rb__Reply *r)
{
	const Rb__LoginResult *lr = r->login;
	if (lr && (!lr->user_id || session_login(s, lr->user_id, lr->perms, lr->n_perms) < 0)) {
		session_send_error(s, "login: internal error");
		session_close_after(s, 1011, "login");
		return;
	}
	if (lr)
		log_info("conn %s: logged in as %s", s->cid, s->user_id);
	send_deliveries(s, r);
	if (s->logged_in) {
		request_conn_event(g, s, "conn_opened");
		perms_refresh(s);
	}
}

static void reply_apply(gw *g, session *s, gw_item *it);

void reply_handle(gw *g, gw_item *it)
{
	session *s = session_find(g, it->key);
	const packet_row *row = it->row;

	if (row->flags & PKT_HASHES)
		g->login_inflight--;
	if (s) {
		if (row->flags & PKT_LOGIN)
			s->login_pending = 0;
		/* Whatever the outcome, the next packet to this service may go. */
		s->req_inflight[row->part] = 0;
		reply_apply(g, s, it);
		send_next(s, row->part);
	}
	login_pump(g);
}

static void reply_apply(gw *g, session *s, gw_item *it)
{
	const packet_row *row = it->row;
	char msg[300];

	if (it->timeout) {
		/* Not a refusal: the socket stays, even for a login. */
		g->timeouts++;
		snprintf(msg, sizeof msg, "%s: service unavailable, try again later", row->type);
		session_send_error(s, msg);
		return;
	}
	Rb__Reply *r = rb__reply__unpack(NULL, it->len, it->data);
	if (!r) {
		snprintf(msg, sizeof msg, "%s: internal error", row->type);
		refuse(s, row, msg);
		return;
	}
	if (r->has_code && r->code != RB__CODE__OK) {
		refuse(s, row, r->message ? r->message : "error");
		if (r->close)
			session_close_after(s, 1000, row->type);
	} else {
		if (row->flags & PKT_LOGIN)
			login_finish(g, s, r);
		else
			send_deliveries(s, r);
		if (r->close)
			session_close_after(s, 1000, row->type);
	}
	rb__reply__free_unpacked(r, NULL);
}

int request_pending(const session *s, enum part p)
{
	return s->req_inflight[p] || s->req_queued[p];
}
