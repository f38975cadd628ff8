#include "handlers.h"

#include "media.h"
#include "relay.h"
#include "routes.h"
#include "state.h"
#include "talk.h"

/* The handlers are in relay.c, state.c and talk.c. Every media packet is a
 * v1 packet, so the rows need the acting user; refusals are logged (main.c's
 * svc flags). A user's state changes run in arrival order, a connection's
 * relays too (an offer before its candidates): the rows' keys. */
SVC_ROUTE_TABLE(MEDIASVC_ROUTES, handlers, "mediasvc")

void handlers_fail_store(svc_req *r, kv_status s)
{
	if (s == KV_DOWN)
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the media store is unavailable, try again",
			 svc_envelope_type(r->env));
	else
		svc_fail(r, RB__CODE__INTERNAL, "%s: internal error", svc_envelope_type(r->env));
}
