/* The handlers and the room catalogue. Every request goes through svc's
 * request path, which admits it by its row of lib/packet.c (permission:
 * the gateway checked its cached copy, this is the owner's check; field
 * rules), runs the handler and counts the outcome. Handler threads. */
#include "rooms.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lists.h"
#include "log.h"
#include "proc.h"
#include "routes.h"
#include "scripts.h"
#include "valid.h"
#include "voice.h"

#define BOOTSTRAP_MARKER "roomsvc:bootstrapped"

/* h_joinroom and h_leaveroom are in voice.c. One user's voice moves run in
 * arrival order (a join after a leave must not overtake it: the rows'
 * keys); the catalogue's changes are atomic scripts with a state version,
 * ordered per connection by the gateway already. */
SVC_ROUTE_TABLE(ROOMSVC_ROUTES, rooms, "roomsvc")

/* The rooms of a first start, in position order. */
static const struct {
	const char *name, *type;
} first_rooms[] = {
	{"Main", "text"},
	{"Chat", "voice"},
};

/* ------------------------------------------------------------- helpers */

void rooms_fail_store(svc_req *r, const char *op, kv_status s)
{
	svc_fail(r, s == KV_DOWN ? RB__CODE__UNAVAILABLE : RB__CODE__INTERNAL,
		 "%s: service unavailable, try again later", op);
}

/* The request id makes a retried create/remove a no-op; without a valid
 * one (a caller that is not a gateway) there is nothing to match. */
static const char *request_id(const svc_req *r)
{
	const char *id = r->env->request_id;
	return id && uuid_valid(id) ? id : "";
}

static void publish_room_event(room_app *app, const char *what, const char *id, const char *name,
			       const char *type, long position)
{
	Rb__RoomEvent ev = RB__ROOM_EVENT__INIT;
	Rb__Room room = RB__ROOM__INIT;
	char subject[64];

	room.id = (char *)id;
	room.name = (char *)name;
	room.type = (char *)type;
	room.has_position = 1;
	room.position = (int32_t)position;
	ev.room = &room;
	snprintf(subject, sizeof subject, "rb.evt.room.%s", what);
	(void)bus_publish_pb(app->bus, subject, &ev.base);
}

/* ------------------------------------------------------------ handlers */
/* The fields (room id, type, name, position) are the rows' rules in
 * lib/packet.c, checked before a handler runs. */

void h_createroom(svc_req *r)
{
	room_app *app = r->app;
	const Rb__CCreateRoom *c = r->env->createroom;
	char id[UUID_STR_LEN + 1], pos[16] = "";
	redisReply *rep = NULL;

	if (c->has_position)
		snprintf(pos, sizeof pos, "%d", c->position);
	uuid_new(id);
	const char *args[] = {request_id(r), id, c->roomname, c->roomtype, pos};
	kv_status s = kv_eval(app->store, &rep, 0, script_room_create, 5, args);
	const char *what = s == KV_OK ? kv_reply_str(kv_reply_elem(rep, 0)) : NULL;
	if (!what) {
		rooms_fail_store(r, "createroom", s != KV_OK ? s : KV_ERROR);
	} else if (!strcmp(what, "ok")) {
		long p = (long)kv_reply_int(kv_reply_elem(rep, 1), 0);
		log_info("room %s created: %s \"%s\" at %ld", id, c->roomtype, c->roomname, p);
		publish_room_event(app, "created", id, c->roomname, c->roomtype, p);
		lists_dirty(app->lists, LISTS_ROOMS);
	} /* "dup": a retry of a create that was done */
	if (rep)
		freeReplyObject(rep);
}

void h_updateroom(svc_req *r)
{
	room_app *app = r->app;
	const Rb__CUpdateRoom *c = r->env->updateroom;
	char pos[16] = "";
	redisReply *rep = NULL;

	if (c->has_position)
		snprintf(pos, sizeof pos, "%d", c->position);
	const char *args[] = {c->roomid, c->roomname, pos};
	kv_status s = kv_eval(app->store, &rep, 0, script_room_update, 3, args);
	const char *what = s == KV_OK ? kv_reply_str(kv_reply_elem(rep, 0)) : NULL;
	if (!what) {
		rooms_fail_store(r, "updateroom", s != KV_OK ? s : KV_ERROR);
	} else if (!strcmp(what, "missing")) {
		svc_fail(r, RB__CODE__NOT_FOUND, "updateroom: no such room");
	} else {
		publish_room_event(app, "updated", c->roomid, c->roomname,
				   kv_reply_str(kv_reply_elem(rep, 1)) ?: "",
				   (long)kv_reply_int(kv_reply_elem(rep, 2), 0));
		lists_dirty(app->lists, LISTS_ROOMS);
	}
	if (rep)
		freeReplyObject(rep);
}

/* The members leave first (leaveRoom to all, member_left), then the room
 * goes; the emit lock keeps the lists after those packets. */
static void room_removed(room_app *app, const char *id, const redisReply *rep)
{
	const char *name = kv_reply_str(kv_reply_elem(rep, 1)) ?: "";
	size_t members = 0;
	for (size_t i = 4; i + 2 < rep->elements; i += 3, members++)
		voice_emit_left(app, id, kv_reply_str(rep->element[i]) ?: "",
				kv_reply_str(rep->element[i + 1]),
				kv_reply_str(rep->element[i + 2]), 0); /* both lists follow */
	log_info("room %s removed: \"%s\" (%zu members left it)", id, name, members);
	publish_room_event(app, "removed", id, name, kv_reply_str(kv_reply_elem(rep, 2)) ?: "",
			   (long)kv_reply_int(kv_reply_elem(rep, 3), 0));
	lists_dirty(app->lists, LISTS_BOTH);
}

void h_removeroom(svc_req *r)
{
	room_app *app = r->app;
	const char *id = r->env->removeroom->roomid;
	redisReply *rep = NULL;

	const char *args[] = {request_id(r), id};
	pthread_rwlock_wrlock(app->emit);
	kv_status s = kv_eval(app->store, &rep, 0, script_room_remove, 2, args);
	const char *what = s == KV_OK ? kv_reply_str(kv_reply_elem(rep, 0)) : NULL;
	if (!what)
		rooms_fail_store(r, "removeroom", s != KV_OK ? s : KV_ERROR);
	else if (!strcmp(what, "missing"))
		svc_fail(r, RB__CODE__NOT_FOUND, "removeroom: no such room");
	else if (!strcmp(what, "ok"))
		room_removed(app, id, rep);
	pthread_rwlock_unlock(app->emit);
	if (rep)
		freeReplyObject(rep);
}

/* Internal (msgsvc asks whether a room exists and what it is). */
void h_get_room(svc_req *r)
{
	room_app *app = r->app;
	const char *id = r->env->get_room->room_id;
	redisReply *rep = NULL;

	if (!id || !uuid_valid(id)) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "get_room: room_id must be a room id");
		return;
	}
	kv_status s = kv_cmdf(app->store, &rep, "HMGET room:%s name type position", id);
	const char *name = s == KV_OK ? kv_reply_str(kv_reply_elem(rep, 0)) : NULL;
	if (s != KV_OK) {
		rooms_fail_store(r, "get_room", s);
	} else if (!name) {
		svc_fail(r, RB__CODE__NOT_FOUND, "no such room");
	} else {
		Rb__Room *room = arena_alloc(r->arena, sizeof *room);
		rb__room__init(room);
		room->id = arena_strdup(r->arena, id);
		room->name = arena_strdup(r->arena, name);
		room->type = arena_strdup(r->arena, kv_reply_str(kv_reply_elem(rep, 1)) ?: "");
		room->has_position = 1;
		room->position = (int32_t)kv_reply_int(kv_reply_elem(rep, 2), 0);
		r->reply->room = room;
	}
	if (rep)
		freeReplyObject(rep);
}

/* ----------------------------------------------------------- first start */

int rooms_bootstrap(room_app *app)
{
	enum { N = sizeof first_rooms / sizeof *first_rooms };
	char ids[N][UUID_STR_LEN + 1];
	const char *args[1 + 3 * N];
	redisReply *rep = NULL;

	args[0] = BOOTSTRAP_MARKER;
	for (size_t i = 0; i < N; i++) {
		uuid_new(ids[i]);
		args[1 + 3 * i] = ids[i];
		args[2 + 3 * i] = first_rooms[i].name;
		args[3 + 3 * i] = first_rooms[i].type;
	}
	kv_status s;
	int waited = 0;
	while ((s = kv_eval(app->store, &rep, 0, script_bootstrap, 1 + 3 * N, args)) == KV_DOWN &&
	       !proc_stopping()) {
		if (!waited++)
			log_warn("rooms: waiting for redis to check the first-start rooms");
		proc_sleep_ms(250);
	}
	if (s != KV_OK)
		return -1;
	if (kv_reply_int(rep, 0) == 1) {
		for (size_t i = 0; i < N; i++) {
			log_info("room %s created on first start: %s \"%s\"", ids[i],
				 first_rooms[i].type, first_rooms[i].name);
			publish_room_event(app, "created", ids[i], first_rooms[i].name,
					   first_rooms[i].type, (long)i);
		}
	}
	freeReplyObject(rep);
	return 0;
}
