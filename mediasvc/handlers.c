#include "handlers.h"

#include <stdatomic.h>
#include <time.h>

#include "log.h"
#include "media.h"
#include "relay.h"
#include "state.h"
#include "talk.h"

/* payload case, op (= envelope member name), permission, handler.
 * The gateway checks the static permission too; the service checks it
 * again because the envelope, not the gateway's cache, is what it trusts. */
#define ROUTES(X)                                                      \
	X(VIDEO, video, NULL, relay_video)                             \
	X(LETMESEE, letmesee, NULL, relay_letmesee)                    \
	X(GOLIVE, golive, NULL, state_golive)                          \
	X(CHATDEV, chatdev, NULL, state_chatdev)                       \
	X(TALKING, talking, NULL, talk_request)                        \
	X(SERVERMUTE, servermute, "suppressUser", state_servermute)    \
	X(CONTEXTOPTION, contextoption, NULL, relay_ext)               \
	X(WINDOWINPUT, windowinput, NULL, relay_ext)

typedef struct {
	Rb__Envelope__PayloadCase payload;
	const char *op;
	const char *perm; /* needed in the envelope's permission set, or NULL */
	svc_handler fn;
} route;

static void dispatch(svc_req *r);

#define ROW(P, op, perm, fn) {RB__ENVELOPE__PAYLOAD_##P, #op, perm, fn},
static const route routes[] = {ROUTES(ROW)};
#undef ROW
#define SVC_ROW(P, op, perm, fn) {RB__ENVELOPE__PAYLOAD_##P, dispatch},
static const svc_route svc_routes[] = {ROUTES(SVC_ROW)};
#undef SVC_ROW

#define COUNTER(P, name, ...) {.op = #name},
static svc_counter counters[] = {ROUTES(COUNTER)};
#undef COUNTER

#define NROUTES (sizeof routes / sizeof *routes)

const svc_route *handlers_routes(size_t *n)
{
	*n = NROUTES;
	return svc_routes;
}

void handlers_fail_store(svc_req *r, kv_status s)
{
	if (s == KV_DOWN)
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the media store is unavailable, try again",
			 envelope_type(r->env));
	else
		svc_fail(r, RB__CODE__INTERNAL, "%s: internal error", envelope_type(r->env));
}

static const route *route_of(Rb__Envelope__PayloadCase pc)
{
	for (size_t i = 0; i < NROUTES; i++)
		if (routes[i].payload == pc)
			return &routes[i];
	return NULL;
}

/* 1 when the row admits the request, else fills the refusal. Every media
 * packet is a v1 packet: it always comes with the logged-in user. */
static int admit(svc_req *r, const route *rt)
{
	const Rb__Envelope *e = r->env;
	media_app *app = r->app;

	if (atomic_load(&app->closing))
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the service is shutting down, try again", rt->op);
	else if (!envelope_payload(e))
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: the request has no payload", rt->op);
	else if (!e->user_id || !*e->user_id)
		svc_fail(r, RB__CODE__DENIED, "Not logged in");
	else if (rt->perm && !env_has_perm(e, rt->perm))
		svc_fail(r, RB__CODE__DENIED, "Permission denied \"%s\"", rt->perm);
	else
		return 1;
	return 0;
}

/* Counts the outcome of one request for /metrics; refusals are logged. */
static void account(const route *rt, const svc_req *r, const struct timespec *t0)
{
	const Rb__Reply *rep = r->reply;
	(void)svc_count(&counters[rt - routes], rep->code, t0);
	if (rep->code != RB__CODE__OK)
		log_info("%s from %s: code %d: %s", rt->op, r->env->user_id ? r->env->user_id : "-",
			 (int)rep->code, rep->message ? rep->message : "");
}

/* Request thread: every request of every route (svc only hands over
 * payloads of the table). */
static void dispatch(svc_req *r)
{
	const route *rt = route_of(r->env->payload_case);
	media_app *app = r->app;
	struct timespec t0;

	if (!rt)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Counted before `closing` is read (in admit): shutdown sets closing
	 * first and then waits for busy to drop, so no request slips between. */
	atomic_fetch_add(&app->busy, 1);
	if (admit(r, rt))
		rt->fn(r);
	atomic_fetch_sub(&app->busy, 1);
	account(rt, r, &t0);
}

void handlers_metrics(buf *out)
{
	svc_counters_print(out, "mediasvc", counters, NROUTES);
}
