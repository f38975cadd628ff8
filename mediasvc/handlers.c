#include "handlers.h"

#include "media.h"
#include "relay.h"
#include "state.h"
#include "talk.h"

/* payload case, op (= envelope member name), permission, handler,
 * ordering key. The gateway checks the static permission too; the service
 * checks it again because the envelope, not the gateway's cache, is what it
 * trusts. Every media packet is a v1 packet: it always comes with the
 * logged-in user, so every row needs one; refusals are logged. A user's
 * state changes run in arrival order; a connection's relays too (an offer
 * before its candidates). */
#define ROUTES(X)                                                                   \
	X(VIDEO, video, NULL, relay_video, svc_key_conn)                            \
	X(LETMESEE, letmesee, NULL, relay_letmesee, svc_key_conn)                   \
	X(GOLIVE, golive, NULL, state_golive, svc_key_user)                         \
	X(CHATDEV, chatdev, NULL, state_chatdev, svc_key_user)                      \
	X(TALKING, talking, NULL, talk_request, svc_key_user)                       \
	X(SERVERMUTE, servermute, "suppressUser", state_servermute, svc_key_user)   \
	X(CONTEXTOPTION, contextoption, NULL, relay_ext, svc_key_conn)              \
	X(WINDOWINPUT, windowinput, NULL, relay_ext, svc_key_conn)

/* Written by svc (counters) on the handler threads. */
#define ROW(P, name, need, handler, by)                                   \
	{.payload = RB__ENVELOPE__PAYLOAD_##P, .op = #name, .perm = need, \
	 .flags = SVC_USER | SVC_LOG_REFUSALS, .fn = handler, .key = by},
static svc_route routes[] = {ROUTES(ROW)};
#undef ROW

#define NROUTES (sizeof routes / sizeof *routes)

svc_route *handlers_routes(size_t *n)
{
	*n = NROUTES;
	return routes;
}

void handlers_fail_store(svc_req *r, kv_status s)
{
	if (s == KV_DOWN)
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the media store is unavailable, try again",
			 envelope_type(r->env));
	else
		svc_fail(r, RB__CODE__INTERNAL, "%s: internal error", envelope_type(r->env));
}

void handlers_metrics(buf *out)
{
	svc_routes_print(out, "mediasvc", routes, NROUTES);
}
