#include "state.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "handlers.h"
#include "log.h"
#include "proc.h"
#include "scripts.h"
#include "talk.h"
#include "uuid.h"

#define LEAVE_BUDGET_MS 5000
#define LEAVE_RETRY_MS 200

static atomic_ulong room_deliveries, leaves, ended_streams;

/* A protobuf-c message of type T in arena a, initialized. */

/* Sends d to the voice connections listed in rep from element `from` on
 * (gateway, connection pairs, as the scripts return them). */
static void deliver_conns(media_app *app, const redisReply *rep, size_t from, const Rb__Delivery *d)
{
	for (size_t i = from; i + 1 < rep->elements; i += 2) {
		const char *gw = kv_reply_str(rep->element[i]);
		const char *conn = kv_reply_str(rep->element[i + 1]);
		if (gw && conn && svc_deliver_conn(app->bus, gw, conn, d) == 0)
			atomic_fetch_add(&room_deliveries, 1);
	}
}

/* Stores field/value pairs in media:<uid> if uid is in a voice room.
 * Returns the script's reply ({} outside a room) or NULL after filling the
 * refusal. Caller frees. */
static redisReply *room_set(svc_req *r, const char *const *args, int nargs)
{
	media_app *app = r->app;
	redisReply *rep = NULL;
	kv_status s = kv_eval(app->st, &rep, KV_IDEMPOTENT, script_room_set, nargs, args);
	if (s == KV_OK && rep->type != REDIS_REPLY_ARRAY) {
		log_error("%s: unexpected reply type %d", svc_envelope_type(r->env), rep->type);
		freeReplyObject(rep);
		rep = NULL;
		s = KV_ERROR;
	}
	if (s != KV_OK)
		handlers_fail_store(r, s);
	return rep;
}

void h_golive(svc_req *r)
{
	media_app *app = r->app;
	const Rb__CGoLive *c = r->env->golive;
	const char *uid = r->env->user_id;
	/* A stream that ended has no label; clients show the label while live. */
	const char *label = c->livestate && c->livelabel ? c->livelabel : "";
	const char *args[] = {uid, "live", c->livestate ? "1" : "0", "label", label};
	redisReply *rep = room_set(r, args, 5);

	if (!rep || rep->elements == 0) /* refused, or not in a voice room */
		goto out;
	Rb__SGoLive *g = ARENA_NEW(r->arena, Rb__SGoLive, RB__SGO_LIVE__INIT);
	g->userid = (char *)uid;
	g->roomid = arena_strdup(r->arena, kv_reply_str(rep->element[0]));
	g->has_livestate = 1;
	g->livestate = c->livestate;
	g->livelabel = (char *)label;
	Rb__Delivery *d = svc_delivery(r);
	d->packet_case = RB__DELIVERY__PACKET_GOLIVE;
	d->golive = g;
	deliver_conns(app, rep, 1, d);
	(void)events_media_changed(app, uid, "live");
out:
	if (rep)
		freeReplyObject(rep);
}

void h_chatdev(svc_req *r)
{
	media_app *app = r->app;
	const Rb__CChatDev *c = r->env->chatdev;
	const char *uid = r->env->user_id;
	const char *args[] = {uid, "video", c->video ? "1" : "0", "audio", c->audio ? "1" : "0"};
	redisReply *rep = room_set(r, args, 5);

	if (!rep || rep->elements == 0)
		goto out;
	Rb__SChatDev *cd = ARENA_NEW(r->arena, Rb__SChatDev, RB__SCHAT_DEV__INIT);
	cd->userid = (char *)uid;
	cd->has_video = cd->has_audio = 1;
	cd->video = c->video;
	cd->audio = c->audio;
	Rb__Delivery *d = svc_delivery(r);
	d->packet_case = RB__DELIVERY__PACKET_CHATDEV;
	d->chatdev = cd;
	deliver_conns(app, rep, 1, d);
out:
	if (rep)
		freeReplyObject(rep);
}

void h_servermute(svc_req *r)
{
	media_app *app = r->app;
	const Rb__CServerMute *c = r->env->servermute;

	if (!c->userid || !uuid_valid(c->userid)) { /* it names a key */
		svc_fail(r, RB__CODE__BAD_REQUEST, "servermute: field userid must be a UUID");
		return;
	}
	const char *args[] = {c->userid, c->suppress ? "1" : "0"};
	redisReply *rep = NULL;
	kv_status s = kv_eval(app->st, &rep, KV_IDEMPOTENT, script_mute, 2, args);
	long long version = s == KV_OK ? kv_reply_int(rep, 0) : 0;
	if (rep)
		freeReplyObject(rep);
	if (s != KV_OK) {
		handlers_fail_store(r, s);
		return;
	}
	Rb__SServerMute *m = ARENA_NEW(r->arena, Rb__SServerMute, RB__SSERVER_MUTE__INIT);
	m->userid = c->userid;
	m->has_message = 1;
	m->message = c->suppress;
	Rb__Delivery *d = svc_delivery(r);
	d->packet_case = RB__DELIVERY__PACKET_SERVERMUTE;
	d->servermute = m;
	d->has_media_version = version > 0;
	d->media_version = (uint64_t)version;
	(void)svc_deliver_all(app->bus, d);
	(void)events_media_changed(app, c->userid, "mute");
}

/* One try of the leave script. The talking lock is held across the script
 * and the talking broadcast, so that a `talking` true decided just before
 * cannot overtake the false sent here; it is not held while waiting for
 * Redis between tries. 1 when the reply is usable (caller frees *rep). */
static int leave_once(media_app *app, const char *room, const char *uid, redisReply **rep,
		      kv_status *s)
{
	const char *args[] = {uid, room};
	talk_hold(app->talk);
	*s = kv_eval(app->st, rep, KV_IDEMPOTENT, script_leave, 2, args);
	int ok = *s == KV_OK && (*rep)->type == REDIS_REPLY_ARRAY && (*rep)->elements >= 3;
	if (ok && kv_reply_int((*rep)->element[1], 0))
		talk_publish(app, uid, 0, (uint64_t)kv_reply_int((*rep)->element[2], 0));
	talk_release(app->talk);
	return ok;
}

/* golive false to the members who stay; never to uid, whose web client
 * would take it as "you are in roomid" again. */
static void end_stream(media_app *app, const char *room, const char *uid, const redisReply *rep)
{
	arena a = ARENA_INIT;
	Rb__SGoLive *g = ARENA_NEW(&a, Rb__SGoLive, RB__SGO_LIVE__INIT);
	g->userid = (char *)uid;
	g->roomid = (char *)room;
	g->has_livestate = 1;
	g->livestate = 0;
	g->livelabel = "";
	Rb__Delivery *d = svc_delivery_new(&a);
	d->packet_case = RB__DELIVERY__PACKET_GOLIVE;
	d->golive = g;
	deliver_conns(app, rep, 3, d);
	arena_free(&a);
	atomic_fetch_add(&ended_streams, 1);
}

void state_leave(media_app *app, const char *room, const char *uid)
{
	redisReply *rep = NULL;
	kv_status s;
	int64_t until = bus_now_ms() + LEAVE_BUDGET_MS;
	int ok;

	/* An event lost here would leave a stream shown as live: retried
	 * while Redis is unreachable, for a while. */
	while (!(ok = leave_once(app, room, uid, &rep, &s)) && s == KV_DOWN &&
	       bus_now_ms() < until && !proc_stopping())
		proc_sleep_ms(LEAVE_RETRY_MS);
	atomic_fetch_add(&leaves, 1);
	if (!ok) {
		log_error("leave %s from %s: %s", uid, room,
			  s == KV_OK ? "unexpected reply" : kv_status_text(s));
	} else {
		if (kv_reply_int(rep->element[0], 0))
			end_stream(app, room, uid, rep);
		/* Only when the lists showed something of it: its talking or
		 * its stream. */
		if (kv_reply_int(rep->element[2], 0))
			(void)events_media_changed(app, uid, "left");
	}
	if (rep)
		freeReplyObject(rep);
}

void state_forget(media_app *app, const char *uid)
{
	char media[128], mute[128];
	snprintf(media, sizeof media, "media:%s", uid);
	snprintf(mute, sizeof mute, "mute:%s", uid);
	const char *argv[] = {"DEL", media, mute};
	kv_status s = kv_cmd(app->st, NULL, KV_IDEMPOTENT, 3, argv);
	if (s != KV_OK)
		log_warn("forget %s: %s", uid, kv_status_text(s));
}

void state_metrics(buf *out)
{
	buf_addf(out,
		 "# TYPE mediasvc_room_deliveries_total counter\n"
		 "mediasvc_room_deliveries_total %lu\n"
		 "# TYPE mediasvc_leaves_total counter\nmediasvc_leaves_total %lu\n"
		 "# TYPE mediasvc_streams_ended_total counter\nmediasvc_streams_ended_total %lu\n",
		 atomic_load(&room_deliveries), atomic_load(&leaves), atomic_load(&ended_streams));
}
