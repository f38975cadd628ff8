#include "relay.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "media.h"
#include "uuid.h"

/* The gateway retries a request that got no reply in time with the same
 * request id. A relay has no state to make the retry harmless, and a
 * repeated SDP offer can confuse a WebRTC peer, so a relay remembers the
 * ids it has passed on for longer than the gateway's retries last. */
#define SEEN_TTL_MS "60000"

static atomic_ulong relayed, repeats;

/* 1 when this request id was relayed before. While Redis is down the relay
 * still works, without the guard: signalling matters more than a rare
 * duplicate. */
static int seen_before(svc_req *r)
{
	media_app *app = r->app;
	const char *id = r->env->request_id;
	char key[128];
	redisReply *rep = NULL;

	if (!id || !*id || strlen(id) > 64)
		return 0;
	snprintf(key, sizeof key, "mediareq:%s", id);
	const char *argv[] = {"SET", key, "1", "NX", "PX", SEEN_TTL_MS};
	if (kv_cmd(app->st, &rep, KV_IDEMPOTENT, 6, argv) != KV_OK)
		return 0;
	/* SET NX answers nil when the key existed. */
	int seen = rep->type == REDIS_REPLY_NIL;
	freeReplyObject(rep);
	if (seen)
		atomic_fetch_add(&repeats, 1);
	return seen;
}

/* The delivery of a relay: kind's packet (video or letmesee) from the
 * sender the gateway names (never what the client wrote) to `to`, with the
 * client's bytes as they came. Allocated in the request's arena. */
static Rb__Delivery *relay_packet(svc_req *r, Rb__Delivery__PacketCase kind, char *to,
				  protobuf_c_boolean has, ProtobufCBinaryData bytes)
{
	Rb__Delivery *d = svc_delivery(r);

	d->packet_case = kind;
	if (kind == RB__DELIVERY__PACKET_VIDEO) {
		Rb__SVideo *v = arena_alloc(r->arena, sizeof *v);
		rb__svideo__init(v);
		v->fromuserid = r->env->user_id;
		v->touserid = to;
		v->has_payload = has;
		v->payload = bytes;
		d->video = v;
	} else {
		Rb__SLetMeSee *l = arena_alloc(r->arena, sizeof *l);
		rb__slet_me_see__init(l);
		l->fromuserid = r->env->user_id;
		l->touserid = to;
		l->has_message = has;
		l->message = bytes;
		d->letmesee = l;
	}
	return d;
}

/* Publishes kind's packet to every connection of `to`. A user without
 * connections has no subscriber on rb.out.user.<to>: the packet is
 * dropped, as specified. */
static void relay_to(svc_req *r, Rb__Delivery__PacketCase kind, char *to, protobuf_c_boolean has,
		     ProtobufCBinaryData bytes)
{
	media_app *app = r->app;
	/* The gateway checked it; it still goes into a subject, so a bad one
	 * from any other sender must not reach NATS. */
	if (!to || !uuid_valid(to)) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: field touserid must be a UUID",
			 svc_envelope_type(r->env));
		return;
	}
	if (seen_before(r))
		return;
	if (svc_deliver_user(app->bus, to, relay_packet(r, kind, to, has, bytes)) < 0) {
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the message bus is unavailable, try again",
			 svc_envelope_type(r->env));
		return;
	}
	atomic_fetch_add(&relayed, 1);
}

void h_video(svc_req *r)
{
	const Rb__CVideo *c = r->env->video;
	relay_to(r, RB__DELIVERY__PACKET_VIDEO, c->touserid, c->has_payload, c->payload);
}

void h_letmesee(svc_req *r)
{
	const Rb__CLetMeSee *c = r->env->letmesee;
	relay_to(r, RB__DELIVERY__PACKET_LETMESEE, c->touserid, c->has_message, c->message);
}

/* contextoption / windowinput: no extension is built in; whoever adds one
 * subscribes to rb.evt.media.<type> and gets the whole request, so it can
 * answer the connection (rb.out.conn.<gateway>.<conn>) itself. */
static void relay_ext(svc_req *r)
{
	media_app *app = r->app;
	Rb__ExtEvent ev = RB__EXT_EVENT__INIT;
	char subject[64];

	ev.user_id = r->env->user_id;
	/* Packing only reads the envelope. */
	ev.request = (Rb__Envelope *)r->env;
	snprintf(subject, sizeof subject, "rb.evt.media.%s", svc_envelope_type(r->env));
	if (bus_publish_pb(app->bus, subject, &ev.base) < 0)
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the message bus is unavailable, try again",
			 svc_envelope_type(r->env));
}

void h_contextoption(svc_req *r)
{
	relay_ext(r);
}

void h_windowinput(svc_req *r)
{
	relay_ext(r);
}

void relay_metrics(buf *out)
{
	buf_addf(out, "# TYPE mediasvc_relayed_total counter\nmediasvc_relayed_total %lu\n",
		 atomic_load(&relayed));
	buf_addf(out,
		 "# TYPE mediasvc_relay_repeats_total counter\nmediasvc_relay_repeats_total %lu\n",
		 atomic_load(&repeats));
}
