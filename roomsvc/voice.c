#include "voice.h"

#include <string.h>

#include "lists.h"
#include "log.h"
#include "presence.h"
#include "rooms.h"
#include "scripts.h"

/* `joinRoom` or `leaveRoom` to all, then the matching event. The packet
 * carries the state version of the change: updateUsers is not sent again
 * for it (every client gets this packet), and a gateway that forwards an
 * updateUsers older than it asks for a fresh one (rb.evt.gw.lists_stale:
 * another instance's list, composed before this change, came after it). */
static void emit_member(room_app *app, int joined, const char *room, const char *uid,
			const char *gw, const char *conn, uint64_t version)
{
	Rb__Delivery d = RB__DELIVERY__INIT;
	Rb__SMember sm = RB__SMEMBER__INIT;
	Rb__MemberEvent ev = RB__MEMBER_EVENT__INIT;

	sm.userid = (char *)uid;
	sm.roomid = (char *)room;
	d.packet_case = joined ? RB__DELIVERY__PACKET_JOIN_ROOM : RB__DELIVERY__PACKET_LEAVE_ROOM;
	d.has_version = version != 0;
	d.version = version;
	if (joined)
		d.joinroom = &sm;
	else
		d.leaveroom = &sm;
	(void)svc_deliver_all(app->bus, &d);
	ev.room_id = (char *)room;
	ev.user_id = (char *)uid;
	ev.gateway_id = gw && *gw ? (char *)gw : NULL;
	ev.conn_id = conn && *conn ? (char *)conn : NULL;
	(void)bus_publish_pb(app->bus,
			     joined ? "rb.evt.room.member_joined" : "rb.evt.room.member_left",
			     &ev.base);
}

void voice_emit_left(room_app *app, const char *room, const char *uid, const char *gw,
		     const char *conn, uint64_t version)
{
	emit_member(app, 0, room, uid, gw, conn, version);
}

/* The acting connection must be a logged-in one with ids we can store. */
static int caller_ok(svc_req *r, const char *op)
{
	const Rb__Envelope *e = r->env;
	if (e->user_id && uuid_valid(e->user_id) && presence_id_ok(e->gateway_id) &&
	    presence_id_ok(e->conn_id))
		return 1;
	svc_fail(r, RB__CODE__BAD_REQUEST, "%s: not a logged-in connection", op);
	return 0;
}

/* Subscription thread. Moving rooms announces the leave before the join;
 * the lists follow from the flusher (after both: same bus connection, and
 * the emit lock keeps the flusher out until they are published). */
void h_joinroom(svc_req *r)
{
	room_app *app = r->app;
	const Rb__Envelope *e = r->env;
	const char *room = e->joinroom->roomid;
	redisReply *rep = NULL;

	if (!caller_ok(r, "joinroom"))
		return;
	if (!room || !uuid_valid(room)) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "joinroom: roomid must be a room id");
		return;
	}
	const char *args[] = {e->user_id, room, e->gateway_id, e->conn_id};
	pthread_rwlock_rdlock(app->emit);
	kv_status s = kv_eval(app->store, &rep, 0, script_voice_join, 4, args);
	const char *what = s == KV_OK ? kv_reply_str(kv_reply_elem(rep, 0)) : NULL;
	if (s != KV_OK || !what) {
		rooms_fail_store(r, "joinroom", s != KV_OK ? s : KV_ERROR);
	} else if (!strcmp(what, "missing")) {
		svc_fail(r, RB__CODE__NOT_FOUND, "joinroom: no such room");
	} else if (!strcmp(what, "text")) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "joinroom: %s is a text room",
			 kv_reply_str(kv_reply_elem(rep, 1)) ?: "the room");
	} else if (!strcmp(what, "ok")) {
		const char *old = kv_reply_str(kv_reply_elem(rep, 1));
		uint64_t version = (uint64_t)kv_reply_int(kv_reply_elem(rep, 4), 0);
		if (old && *old)
			emit_member(app, 0, old, e->user_id, kv_reply_str(kv_reply_elem(rep, 2)),
				    kv_reply_str(kv_reply_elem(rep, 3)), version);
		emit_member(app, 1, room, e->user_id, e->gateway_id, e->conn_id, version);
		/* PROTOCOL.md asks for updateRooms; the user's currentRoom in
		 * updateUsers is told by the joinRoom every client gets. */
		lists_dirty(app->lists, LISTS_ROOMS);
	} /* "same" and "closed": nothing at all */
	pthread_rwlock_unlock(app->emit);
	if (rep)
		freeReplyObject(rep);
}

/* Subscription thread. The client's roomid is ignored (clients send none;
 * a user is in one room at most). */
void h_leaveroom(svc_req *r)
{
	room_app *app = r->app;
	const Rb__Envelope *e = r->env;
	redisReply *rep = NULL;

	if (!caller_ok(r, "leaveroom"))
		return;
	const char *args[] = {e->user_id};
	pthread_rwlock_rdlock(app->emit);
	kv_status s = kv_eval(app->store, &rep, 0, script_voice_leave, 1, args);
	if (s != KV_OK || !rep || rep->type != REDIS_REPLY_ARRAY) {
		rooms_fail_store(r, "leaveroom", s != KV_OK ? s : KV_ERROR);
	} else if (rep->elements == 4) {
		voice_emit_left(app, kv_reply_str(rep->element[0]) ?: "", e->user_id,
				kv_reply_str(rep->element[1]), kv_reply_str(rep->element[2]),
				(uint64_t)kv_reply_int(rep->element[3], 0));
		lists_dirty(app->lists, LISTS_ROOMS); /* as for a join */
	}
	pthread_rwlock_unlock(app->emit);
	if (rep)
		freeReplyObject(rep);
}
