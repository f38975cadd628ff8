#include "svc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idem.h"
#include "log.h"
#include "proc.h"

struct svc {
	bus *bus;
	bus_sub *sub;
	char name[32];
	svc_route *routes;
	size_t nroutes;
	void *app;
	atomic_int *closing; /* the service's; may be NULL */
	atomic_int *busy;    /* the service's; may be NULL */
};

static svc_route *route_find(svc *s, Rb__Envelope__PayloadCase pc)
{
	for (size_t i = 0; i < s->nroutes; i++)
		if (s->routes[i].payload == pc)
			return &s->routes[i];
	return NULL;
}

static void send_reply(svc *s, const char *to, const Rb__Reply *reply)
{
	size_t len = protobuf_c_message_get_packed_size(&reply->base);
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		return;
	protobuf_c_message_pack(&reply->base, p);
	bus_publish(s->bus, to, p, len);
	free(p);
}

static int nonempty(const char *s)
{
	return s && *s;
}

/* 1 when the row admits the request, else fills the refusal (the texts
 * are listed at svc_start in svc.h). */
static int admit(svc *s, svc_req *r, const svc_route *rt)
{
	const Rb__Envelope *e = r->env;

	if (s->closing && atomic_load(s->closing))
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the service is shutting down, try again", rt->op);
	else if (!envelope_payload(e))
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: the request has no payload", rt->op);
	else if ((rt->flags & SVC_IDEM) && e->request_id &&
		 strlen(e->request_id) > IDEM_REQUEST_ID_MAX)
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: request_id is too long", rt->op);
	else if ((rt->flags & SVC_INTERNAL) && (nonempty(e->user_id) || nonempty(e->gateway_id)))
		svc_fail(r, RB__CODE__DENIED, "Permission denied");
	else if ((rt->flags & SVC_USER) && !nonempty(e->user_id))
		svc_fail(r, RB__CODE__DENIED, "Not logged in");
	else if (rt->perm && !env_has_perm(e, rt->perm))
		svc_fail(r, RB__CODE__DENIED, "Permission denied \"%s\"", rt->perm);
	else
		return 1;
	return 0;
}

/* What a reply that is not OK keeps, by the row's flags. */
static void refusal_shape(Rb__Reply *rep, int flags)
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
	if (flags & SVC_CLOSE_ON_ERROR)
		rep->has_close = rep->close = 1;
}

/* Microseconds since t0 (CLOCK_MONOTONIC), at least 0. */
static long micros_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long us = (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
	return us > 0 ? us : 0;
}

/* cnats thread: one request of a row of the table. busy is counted
 * before closing is read (in admit): shutdown sets closing first and then
 * waits for busy to drop, so no request slips between. */
static void serve(svc *s, svc_req *r, svc_route *rt)
{
	Rb__Reply *rep = r->reply;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (s->busy)
		atomic_fetch_add(s->busy, 1);
	if (admit(s, r, rt))
		rt->fn(r);
	if (s->busy)
		atomic_fetch_sub(s->busy, 1);
	if (rep->code != RB__CODE__OK)
		refusal_shape(rep, rt->flags);
	long us = micros_since(&t0);
	size_t i = (size_t)rep->code < SVC_NCODES ? (size_t)rep->code : 0;
	atomic_fetch_add(&rt->count.codes[i], 1);
	atomic_fetch_add(&rt->count.micros, (unsigned long)us);
	log_debug("%s: code %d in %ld us", rt->op, (int)rep->code, us);
	if (rep->code != RB__CODE__OK && (rt->flags & SVC_LOG_REFUSALS))
		log_info("%s from %s: code %d: %s", rt->op, r->env->user_id ? r->env->user_id : "-",
			 (int)rep->code, rep->message ? rep->message : "");
}

/* cnats thread: one request. */
static void on_request(void *ud, const bus_msg *m)
{
	svc *s = ud;
	Rb__Reply reply = RB__REPLY__INIT;
	arena a = ARENA_INIT;
	Rb__Envelope *env = rb__envelope__unpack(NULL, m->len, m->data);
	svc_route *route = env ? route_find(s, env->payload_case) : NULL;

	reply.has_code = 1;
	reply.code = RB__CODE__OK;
	if (!env) {
		log_warn("%s: undecodable request on %s", s->name, m->subject);
		reply.code = RB__CODE__BAD_REQUEST;
		reply.message = "undecodable request";
	} else if (!route) {
		log_warn("%s: no route for %s on %s", s->name, envelope_type(env), m->subject);
		reply.code = RB__CODE__BAD_REQUEST;
		reply.message = "unknown request";
	} else {
		svc_req r = {s->bus, s->app, env, &reply, &a};
		serve(s, &r, route);
	}
	if (m->reply)
		send_reply(s, m->reply, &reply);
	if (env)
		rb__envelope__free_unpacked(env, NULL);
	arena_free(&a);
}

svc *svc_start(bus *b, const char *name, svc_route *routes, size_t n, void *app,
	       atomic_int *closing, atomic_int *busy)
{
	svc *s = calloc(1, sizeof *s);
	char subject[64];

	if (!s)
		return NULL;
	s->bus = b;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->routes = routes;
	s->nroutes = n;
	s->app = app;
	s->closing = closing;
	s->busy = busy;
	snprintf(subject, sizeof subject, "rb.%s.>", name);
	s->sub = bus_subscribe(b, subject, name, on_request, s);
	if (!s->sub) {
		free(s);
		return NULL;
	}
	log_info("%s: serving %s (queue group %s)", name, subject, name);
	return s;
}

void svc_stop(svc *s)
{
	if (!s)
		return;
	/* A request may be running on the subscription's thread right now. */
	bus_sub_close_wait(s->sub);
	free(s);
}

void svc_drain(svc *s, atomic_int *closing, atomic_int *busy, int wait_ms)
{
	atomic_store(closing, 1);
	for (int waited = 0; atomic_load(busy) && waited < wait_ms; waited += 10)
		proc_sleep_ms(10);
	svc_stop(s);
	/* svc_stop does not wait for a callback that is still replying. */
	proc_sleep_ms(100);
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

Rb__Delivery *delivery_new(arena *a)
{
	Rb__Delivery *d = arena_alloc(a, sizeof *d);
	rb__delivery__init(d);
	return d;
}

Rb__Delivery *svc_delivery(svc_req *r)
{
	return delivery_new(r->arena);
}

void svc_reply_deliver(svc_req *r, Rb__Delivery *d)
{
	arena_push(r->arena, (void ***)&r->reply->deliver, &r->reply->n_deliver, d);
}

int deliver_all(bus *b, const Rb__Delivery *d)
{
	return bus_publish_pb(b, "rb.out.all", &d->base);
}

int deliver_user(bus *b, const char *user_id, const Rb__Delivery *d)
{
	char subject[128];
	snprintf(subject, sizeof subject, "rb.out.user.%s", user_id);
	return bus_publish_pb(b, subject, &d->base);
}

int deliver_conn(bus *b, const char *gateway_id, const char *conn_id, const Rb__Delivery *d)
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

const char *delivery_type(const Rb__Delivery *d)
{
	return oneof_name(&rb__delivery__descriptor, (int)d->packet_case);
}

const char *envelope_type(const Rb__Envelope *e)
{
	return oneof_name(&rb__envelope__descriptor, (int)e->payload_case);
}

const void *envelope_payload(const Rb__Envelope *e)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&rb__envelope__descriptor, (unsigned)e->payload_case);
	return f ? *(const void *const *)((const char *)e + f->offset) : NULL;
}

int env_has_perm(const Rb__Envelope *e, const char *perm)
{
	for (size_t i = 0; i < e->n_perms; i++)
		if (!strcmp(e->perms[i], perm))
			return 1;
	return 0;
}

void svc_routes_print(buf *out, const char *part, const svc_route *routes, size_t n)
{
	static const char *const codes[SVC_NCODES] = {"OK",	   "BAD_REQUEST", "DENIED",
						      "NOT_FOUND", "CONFLICT",    "INTERNAL",
						      "UNAVAILABLE"};
	buf_addf(out, "# TYPE %s_requests_total counter\n", part);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < SVC_NCODES; k++)
			buf_addf(out, "%s_requests_total{op=\"%s\",code=\"%s\"} %lu\n", part,
				 routes[i].op, codes[k], atomic_load(&routes[i].count.codes[k]));
	buf_addf(out, "# TYPE %s_request_seconds_total counter\n", part);
	for (size_t i = 0; i < n; i++)
		buf_addf(out, "%s_request_seconds_total{op=\"%s\"} %.6f\n", part, routes[i].op,
			 (double)atomic_load(&routes[i].count.micros) / 1e6);
}
