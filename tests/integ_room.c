/* roomsvc: the room catalogue (create, update, remove, permissions, field
 * checks) and the two lists (updateRooms, updateUsers) at login. Voice
 * membership, presence, restarts and the 200-login load are in
 * integ_room_presence.c; the list readers and room helpers defined here
 * serve both (declared in list_room.h).
 *
 * Lists may be coalesced, and an older one may still be on its way when a
 * test acts, so a test waits for the first list that shows the state it
 * wants instead of taking the next one. Every list read on the way is
 * checked whole: the fields of each room and user, the order by position,
 * and that a room's members say they are in it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integ.h"
#include "list_room.h"

#define SETTLE_MS 300 /* lets what an earlier step caused arrive */

/* ------------------------------------------------------- reading lists */

/* The room `id` of an updateRooms frame, or NULL (borrowed). */
json_t *room_in(json_t *rooms, const char *id)
{
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rooms, "roomList"), i,
			   r) if (streq(jstr(r, "id"), id)) return r;
	return NULL;
}

static json_t *room_named(json_t *rooms, const char *name)
{
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rooms, "roomList"), i,
			   r) if (streq(jstr(r, "name"), name)) return r;
	return NULL;
}

/* The user uid of a list of users, or NULL (borrowed). */
json_t *user_of(json_t *list, const char *uid)
{
	json_t *u;
	size_t i;
	json_array_foreach(list, i, u) if (streq(jstr(u, "id"), uid)) return u;
	return NULL;
}

json_t *user_in(json_t *users, const char *uid)
{
	return user_of(json_object_get(users, "userList"), uid);
}

int member(json_t *rooms, const char *room, const char *uid)
{
	json_t *r = room_in(rooms, room);
	return r && user_of(json_object_get(r, "userlist"), uid) != NULL;
}

_Noreturn void fail_json(const char *file, int line, json_t *j, const char *what)
{
	char *s = json_dumps(j, JSON_COMPACT);
	rt_fail(file, line, "%s: %.3000s", what, s ? s : "(unprintable)");
}

/* A user object as PROTOCOL.md §2 has it: every field, of its type, and
 * no `avatar` (the test stack does not turn Gravatar on). */
static void check_user_at(const char *file, int line, json_t *u)
{
	static const char *const bools[] = {"status", "hidden", "suppress", "talking", "livestate"};
	json_t *cur = json_object_get(u, "currentRoom");
	if (!json_is_object(u) || !json_is_string(json_object_get(u, "id")) ||
	    !json_is_string(json_object_get(u, "name")) ||
	    !json_is_string(json_object_get(u, "livelabel")) || !cur ||
	    !(json_is_null(cur) || json_is_string(cur)))
		fail_json(file, line, u, "user object lacks a field or has a wrong type");
	for (size_t i = 0; i < sizeof bools / sizeof *bools; i++)
		if (!json_is_boolean(json_object_get(u, bools[i])))
			fail_json(file, line, u, "user object lacks a boolean");
	if (json_object_get(u, "avatar"))
		fail_json(file, line, u, "user object has an `avatar`");
}

static void check_users_at(const char *file, int line, json_t *j)
{
	json_t *list = json_object_get(j, "userList"), *u;
	size_t i;
	if (!json_is_array(list))
		fail_json(file, line, j, "updateUsers without a userList array");
	json_array_foreach(list, i, u) check_user_at(file, line, u);
}

/* Rooms by ascending position, each with all its fields; a text room has
 * no members; a voice room's members are online and in it. */
static void check_rooms_at(const char *file, int line, json_t *j)
{
	json_t *list = json_object_get(j, "roomList"), *r, *u;
	size_t i, k;
	long long last = 0;
	if (!json_is_array(list))
		fail_json(file, line, j, "updateRooms without a roomList array");
	json_array_foreach(list, i, r)
	{
		const char *type = jstr(r, "type");
		json_t *users = json_object_get(r, "userlist");
		if (!jstr(r, "id") || strlen(jstr(r, "id")) != 36 || !jstr(r, "name") ||
		    !json_is_integer(json_object_get(r, "position")) || !json_is_array(users) ||
		    !(streq(type, "text") || streq(type, "voice")))
			fail_json(file, line, r, "room object lacks a field or has a wrong type");
		long long pos = json_integer_value(json_object_get(r, "position"));
		if (i > 0 && pos < last)
			fail_json(file, line, j, "roomList not sorted by position");
		last = pos;
		if (streq(type, "text") && json_array_size(users) != 0)
			fail_json(file, line, r, "text room with members");
		json_array_foreach(users, k, u)
		{
			check_user_at(file, line, u);
			if (!streq(jstr(u, "currentRoom"), jstr(r, "id")) || !jbool(u, "status"))
				fail_json(file, line, r, "member not online or not in its room");
		}
	}
}

void check_list_at(const char *file, int line, json_t *j)
{
	if (streq(jstr(j, "type"), "updateRooms"))
		check_rooms_at(file, line, j);
	else if (streq(jstr(j, "type"), "updateUsers"))
		check_users_at(file, line, j);
}

/* Receives lists of `type` until one satisfies ok; returns it (caller
 * owns). Fails after timeout_ms, naming what. */
json_t *wait_list_at(const char *file, int line, wsc *c, const char *type, list_ok ok,
		     const want *w, const char *what, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	for (;;) {
		long long left = until - now_ms();
		json_t *j = left > 0 ? wsc_expect(c, type, (int)left) : NULL;
		if (!j)
			rt_fail(file, line, "no %s with %s: %s", type, what, wsc_last_error(c));
		check_list_at(file, line, j);
		if (ok(j, w))
			return j;
		json_decref(j);
	}
}

int ok_member(json_t *j, const want *w)
{
	return member(j, w->room, w->uid) == w->flag;
}

int ok_user(json_t *j, const want *w)
{
	json_t *u = user_in(j, w->uid);
	if (!u || jbool(u, "status") != w->flag)
		return 0;
	return w->room ? streq(jstr(u, "currentRoom"), w->room)
		       : json_is_null(json_object_get(u, "currentRoom"));
}

int ok_room(json_t *j, const want *w)
{
	json_t *r = w->room ? room_in(j, w->room) : room_named(j, w->name);
	if (!w->flag)
		return r == NULL;
	if (!r || (w->name && !streq(jstr(r, "name"), w->name)))
		return 0;
	return !w->has_pos || json_integer_value(json_object_get(r, "position")) == w->pos;
}

/* A `type` frame (joinRoom, leaveRoom, disconnect) about uid; checks its
 * roomid when room is not NULL. */
void expect_about_at(const char *file, int line, wsc *c, const char *type, const char *uid,
		     const char *room)
{
	long long until = now_ms() + WAIT_MS;
	for (;;) {
		long long left = until - now_ms();
		json_t *j = left > 0 ? wsc_expect(c, type, (int)left) : NULL;
		if (!j)
			rt_fail(file, line, "no `%s` for %s: %s", type, uid, wsc_last_error(c));
		if (streq(jstr(j, "userid"), uid)) {
			if (room && !streq(jstr(j, "roomid"), room))
				fail_json(file, line, j, "wrong roomid");
			json_decref(j);
			return;
		}
		json_decref(j);
	}
}

/* ------------------------------------------------------- people, rooms */

/* Reads the frames after a login's `welcome` up to the updateUsers that
 * follows an updateRooms and shows uid online. Returns that updateRooms
 * (caller owns) and, when users is not NULL, that updateUsers.
 *
 * A list from a flush already under way may come first, even the second
 * half of a pair (its updateRooms went out just before this connection was
 * logged in). For a user with no other connection (fresh) that cannot show
 * the user online: such a list is published after roomsvc counted this
 * connection, hence after the gateway took it as logged in, so both lists
 * reach it, updateRooms first; and the user is in no room yet. */
json_t *login_lists_at(const char *file, int line, wsc *c, const char *uid, int fresh,
		       json_t **users)
{
	json_t *rooms = NULL;
	long long until = now_ms() + WAIT_MS;
	for (;;) {
		long long left = until - now_ms();
		json_t *j = left > 0 ? wsc_recv(c, (int)left) : NULL, *u;
		if (!j)
			rt_fail(file, line, "login of %s: no updateRooms+updateUsers: %s", uid,
				wsc_last_error(c));
		check_list_at(file, line, j);
		if (streq(jstr(j, "type"), "updateRooms")) {
			json_decref(rooms);
			rooms = j;
			continue;
		}
		if (streq(jstr(j, "type"), "updateUsers") && (u = user_in(j, uid)) &&
		    jbool(u, "status")) {
			if (!rooms && fresh)
				fail_json(file, line, j, "login: updateUsers before updateRooms");
			if (fresh && !json_is_null(json_object_get(u, "currentRoom")))
				fail_json(file, line, u, "fresh login already in a room");
			if (rooms) {
				if (users)
					*users = j;
				else
					json_decref(j);
				return rooms;
			}
		}
		json_decref(j);
	}
}

/* A new connection of w at port (into *out); returns the login's
 * updateRooms and, if users is not NULL, its updateUsers. */
json_t *fresh_lists_at(const char *file, int line, wsc_ctx *ctx, const who *w, int port, wsc **out,
		       json_t **users)
{
	wsc *c = client_at(ctx, port);
	const char *uid = login_at(file, line, c, w->email, TEST_PASSWORD);
	json_t *rooms = login_lists_at(file, line, c, uid, 0, users);
	*out = c;
	return rooms;
}

/* Creates a room of type (pos: a JSON number, or "" for the default)
 * named <type>-<uniq> and waits for adm to see it; id and name get 64
 * bytes. */
void room_new_at(const char *file, int line, wsc *adm, const char *type, const char *pos, char *id,
		 char *name)
{
	snprintf(name, 64, "%s-%s", type, uniq());
	if (*pos)
		sendp(adm,
		      "{\"type\":\"createroom\",\"roomType\":\"%s\",\"roomName\":\"%s\","
		      "\"position\":%s}",
		      type, name, pos);
	else
		sendp(adm, "{\"type\":\"createroom\",\"roomType\":\"%s\",\"roomName\":\"%s\"}",
		      type, name);
	json_t *j = wait_list_at(file, line, adm, "updateRooms", ok_room,
				 &(want){.name = name, .flag = 1}, name, WAIT_MS);
	snprintf(id, 64, "%s", jstr(room_named(j, name), "id"));
	json_decref(j);
}

/* Joins room as w and waits for w's own joinRoom. */
void join_at(const char *file, int line, who *w, const char *room)
{
	sendp(w->c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", room);
	expect_about_at(file, line, w->c, "joinRoom", w->id, room);
}

/* Lets traffic already caused arrive, then forgets what c got. */
void settle(wsc_ctx *ctx, wsc *c)
{
	wsc_service(ctx, SETTLE_MS);
	json_t *j;
	while (wsc_pending(c) && (j = wsc_recv(c, 0)))
		json_decref(j);
}

static long long max_position(json_t *rooms)
{
	json_t *r;
	size_t i;
	long long max = 0;
	json_array_foreach(json_object_get(rooms, "roomList"), i, r)
	{
		long long p = json_integer_value(json_object_get(r, "position"));
		if (i == 0 || p > max)
			max = p;
	}
	return max;
}

const char *room_id_by(json_t *rooms, const char *name, const char *type)
{
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rooms, "roomList"), i,
			   r) if (streq(jstr(r, "name"), name) &&
				  streq(jstr(r, "type"), type)) return jstr(r, "id");
	return NULL;
}
/* ---------------------------------------------------------------- login */

void test_room_login_lists(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, b;
	memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
	signup_user(ctx, adm, "user", "lista", a.email);
	signup_user(ctx, adm, "user", "listb", b.email);
	settle(ctx, adm);

	a.c = client(ctx);
	snprintf(a.id, sizeof a.id, "%s", login(a.c, a.email, TEST_PASSWORD));
	/* After `welcome`: updateRooms, then updateUsers. */
	json_t *users, *rooms = login_lists_at(__FILE__, __LINE__, a.c, a.id, 1, &users);
	CHECK_MSG(room_id_by(rooms, "Main", "text"), "no text room Main");
	CHECK_MSG(room_id_by(rooms, "Chat", "voice"), "no voice room Chat");
	json_t *me = user_in(users, a.id);
	CHECK(jbool(me, "status"));
	CHECK(json_is_null(json_object_get(me, "currentRoom")));
	CHECK_EQ_STR(jstr(me, "name"), "lista");
	json_decref(rooms), json_decref(users);
	/* The admin, logged in before, got them too and sees A online. */
	json_decref(wait_user(adm, a.id, 1, NULL));

	/* B logs in: B, A and the admin all get both lists showing B. */
	size_t rooms_a = wsc_count_type(a.c, "updateRooms");
	size_t rooms_adm = wsc_count_type(adm, "updateRooms");
	b.c = client(ctx);
	snprintf(b.id, sizeof b.id, "%s", login(b.c, b.email, TEST_PASSWORD));
	json_decref(login_lists(b.c, b.id, 1));
	json_t *ua = wait_user(a.c, b.id, 1, NULL);
	CHECK(jbool(user_in(ua, a.id), "status"));
	json_decref(ua);
	json_decref(wait_user(adm, b.id, 1, NULL));
	CHECK_MSG(wsc_count_type(a.c, "updateRooms") > rooms_a,
		  "A got no updateRooms for B's login");
	CHECK_MSG(wsc_count_type(adm, "updateRooms") > rooms_adm,
		  "the admin got no updateRooms for B's login");
	wsc_ctx_free(ctx);
}

/* -------------------------------------------------------------- catalogue */

void test_room_create(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who b;
	memset(&b, 0, sizeof b);
	signup_user(ctx, adm, "user", "createobs", b.email);
	b.c = client(ctx);
	snprintf(b.id, sizeof b.id, "%s", login(b.c, b.email, TEST_PASSWORD));
	json_t *rooms = login_lists(b.c, b.id, 1);
	long long max = max_position(rooms);
	json_decref(rooms);

	char id1[64], n1[64], id2[64], n2[64], id3[64], n3[64], id4[64], n4[64], pos[32];
	/* Default: after the last. */
	room_new(adm, "voice", "", id1, n1);
	json_t *j = wait_room(b.c, id1, n1, 1, max + 1);
	CHECK_EQ_STR(jstr(room_in(j, id1), "type"), "voice");
	CHECK_EQ_INT(json_array_size(json_object_get(room_in(j, id1), "userlist")), 0);
	json_t *list = json_object_get(j, "roomList");
	CHECK_EQ_STR(jstr(json_array_get(list, json_array_size(list) - 1), "id"), id1);
	json_decref(j);
	/* Explicit, before everything else. */
	room_new(adm, "text", "-1000", id2, n2);
	j = wait_room(b.c, id2, n2, 1, -1000);
	CHECK_EQ_STR(jstr(room_in(j, id2), "type"), "text");
	CHECK_EQ_STR(jstr(json_array_get(json_object_get(j, "roomList"), 0), "id"), id2);
	json_decref(j);
	/* Explicit, far after; the next default goes after that one. */
	snprintf(pos, sizeof pos, "%lld", max + 100);
	room_new(adm, "voice", pos, id3, n3);
	json_decref(wait_room(b.c, id3, n3, 1, max + 100));
	room_new(adm, "text", "", id4, n4);
	j = wait_room(b.c, id4, n4, 1, max + 101);
	list = json_object_get(j, "roomList");
	CHECK_EQ_STR(jstr(json_array_get(list, json_array_size(list) - 1), "id"), id4);
	/* All four are there, with distinct new ids. */
	CHECK(room_in(j, id1) && room_in(j, id2) && room_in(j, id3));
	CHECK(strcmp(id1, id2) && strcmp(id1, id3) && strcmp(id2, id3) && strcmp(id3, id4));
	json_decref(j);
	CHECK_EQ_INT(wsc_count_type(adm, "error"), 0);
	wsc_ctx_free(ctx);
}

void test_room_update(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who b;
	user_at(ctx, adm, "user", "updateobs", gw_port(), &b);
	char id[64], name[64], renamed[64];
	room_new(adm, "voice", "", id, name);
	/* A member stays through the rename. */
	join(&b, id);
	json_decref(wait_member(b.c, id, b.id, 1));

	snprintf(renamed, sizeof renamed, "renamed-%s", uniq());
	sendp(adm,
	      "{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"%s\",\"position\":-777}",
	      id, renamed);
	json_t *j = wait_room(b.c, id, renamed, 1, -777);
	CHECK(member(j, id, b.id));
	CHECK(!room_named(j, name));
	json_decref(j);
	json_decref(wait_room(adm, id, renamed, 1, -777));
	/* Renaming alone keeps the position. */
	snprintf(renamed, sizeof renamed, "again-%s", uniq());
	sendp(adm, "{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"%s\"}", id, renamed);
	json_decref(wait_room(b.c, id, renamed, 1, -777));
	/* An unknown room. */
	sendp(adm, "{\"type\":\"updateroom\",\"roomid\":\"" UNKNOWN_ROOM "\",\"roomName\":\"x\"}");
	expect_error(adm, "no such room");
	CHECK(!wsc_is_closed(adm));
	wsc_ctx_free(ctx);
}

/* Reads c's frames until the first updateRooms after leaveRoom{uid,room}:
 * no list before the leaveRoom lacks the room, that one does. */
static void expect_removed_at(const char *file, int line, wsc *c, const char *uid, const char *room)
{
	long long until = now_ms() + WAIT_MS;
	int left_room = 0;
	for (;;) {
		long long left = until - now_ms();
		json_t *j = left > 0 ? wsc_recv(c, (int)left) : NULL;
		if (!j)
			rt_fail(file, line, "removal of %s: %s (leaveRoom seen: %d)", room,
				wsc_last_error(c), left_room);
		const char *type = jstr(j, "type");
		check_list_at(file, line, j);
		if (streq(type, "leaveRoom") && streq(jstr(j, "userid"), uid)) {
			if (!streq(jstr(j, "roomid"), room))
				fail_json(file, line, j, "leaveRoom of another room");
			left_room = 1;
		} else if (streq(type, "updateRooms")) {
			if (!left_room && !room_in(j, room))
				fail_json(file, line, j, "room gone before its member's leaveRoom");
			if (left_room) {
				if (room_in(j, room))
					fail_json(file, line, j,
						  "room still listed after leaveRoom");
				json_decref(j);
				return;
			}
		}
		json_decref(j);
	}
}
#define expect_removed(c, uid, room) expect_removed_at(__FILE__, __LINE__, c, uid, room)

void test_room_remove(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u, o;
	users_at(ctx, adm, gw_port(), "removemem", &u, "removeobs", &o, NULL);
	char vid[64], vname[64], tid[64], tname[64];
	room_new(adm, "voice", "", vid, vname);
	room_new(adm, "text", "", tid, tname);
	join(&u, vid);
	json_decref(wait_member(o.c, vid, u.id, 1));

	sendp(adm, "{\"type\":\"removeroom\",\"roomid\":\"%s\"}", vid);
	expect_removed(o.c, u.id, vid);
	expect_removed(u.c, u.id, vid);
	json_decref(wait_room_gone(adm, vid));
	json_decref(wait_user(o.c, u.id, 1, NULL));
	/* A text room, without members. */
	sendp(adm, "{\"type\":\"removeroom\",\"roomid\":\"%s\"}", tid);
	json_decref(wait_room_gone(o.c, tid));
	/* Gone for good: a fresh login does not list them; removing again or an
	 * unknown room is refused. */
	wsc *n;
	json_t *rooms = fresh_lists(ctx, &o, gw_port(), &n, NULL);
	CHECK(!room_in(rooms, vid) && !room_in(rooms, tid));
	json_decref(rooms);
	sendp(adm, "{\"type\":\"removeroom\",\"roomid\":\"%s\"}", vid);
	expect_error(adm, "no such room");
	sendp(adm, "{\"type\":\"removeroom\",\"roomid\":\"" UNKNOWN_ROOM "\"}");
	expect_error(adm, "no such room");
	/* The member was told once. */
	CHECK_EQ_INT(wsc_count_type(u.c, "leaveRoom"), 1);
	wsc_ctx_free(ctx);
}

void test_room_plain_user_denied(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who p;
	user_at(ctx, adm, "user", "plainuser", gw_port(), &p);
	char id[64], name[64], bad[64];
	room_new(adm, "voice", "", id, name);
	snprintf(bad, sizeof bad, "denied-%s", uniq());

	sendp(p.c, "{\"type\":\"createroom\",\"roomType\":\"voice\",\"roomName\":\"%s\"}", bad);
	expect_error(p.c, "Permission denied \"createRoom\"");
	sendp(p.c, "{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"%s\",\"position\":5}",
	      id, bad);
	expect_error(p.c, "Permission denied \"renameRoom\"");
	sendp(p.c, "{\"type\":\"removeroom\",\"roomid\":\"%s\"}", id);
	expect_error(p.c, "Permission denied \"removeRoom\"");
	CHECK(!wsc_is_closed(p.c));
	/* Nothing changed: a later login sees the room as it was, and no
	 * room of the refused name. */
	wsc *n;
	json_t *rooms = fresh_lists(ctx, &p, gw_port(), &n, NULL);
	CHECK_MSG(room_in(rooms, id), "the room is gone");
	CHECK_EQ_STR(jstr(room_in(rooms, id), "name"), name);
	CHECK(!room_named(rooms, bad));
	json_decref(rooms);
	wsc_ctx_free(ctx);
}

void test_room_bad_fields(void)
{
	static const struct {
		const char *fmt; /* %s: a unique name, or the room id then a name */
		const char *says;
		int on_room;
	} bad[] = {
		{"{\"type\":\"createroom\",\"roomType\":\"voice\",\"roomName\":\"\"%.0s}",
		 "roomName", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"video\",\"roomName\":\"%s\"}", "roomType",
		 0},
		{"{\"type\":\"createroom\",\"roomName\":\"%s\"}", "roomType", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s"
		 "-0123456789012345678901234567890123456789012345678901234567890123\"}",
		 "roomName", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\","
		 "\"position\":2000000000}",
		 "position", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\",\"position\":\"1\"}",
		 "position", 0},
		{"{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"\"%.0s}", "roomName",
		 1},
		{"{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"%s\",\"position\":-2000000000}",
		 "position", 1},
		{"{\"type\":\"updateroom\",\"roomid\":\"not-a-room-%.0s\",\"roomName\":\"%s\"}",
		 "roomid", 1},
	};
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char id[64], name[64], tag[32];
	room_new(adm, "voice", "", id, name);
	snprintf(tag, sizeof tag, "bad%s", uniq());
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (bad[i].on_room)
			sendp(adm, bad[i].fmt, id, tag);
		else
			sendp(adm, bad[i].fmt, tag);
		json_t *e = wsc_expect(adm, "error", WAIT_MS);
		CHECK_MSG(e, "bad packet %zu: no error: %s", i, wsc_last_error(adm));
		const char *m = jstr(e, "message");
		CHECK_MSG(m && strstr(m, bad[i].says) &&
				  strstr(m, bad[i].on_room ? "updateroom" : "createroom"),
			  "bad packet %zu: error \"%s\" should name the packet and %s", i,
			  m ? m : "", bad[i].says);
		json_decref(e);
		CHECK(!wsc_is_closed(adm));
	}
	/* None of them had an effect. */
	wsc *n = client(ctx);
	const char *uid = login(n, "root@localhost", admin_password());
	json_t *rooms = login_lists(n, uid, 0);
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rooms, "roomList"), i, r)
		CHECK_MSG(!strstr(jstr(r, "name"), tag), "room %s was created", jstr(r, "name"));
	CHECK_EQ_STR(jstr(room_in(rooms, id), "name"), name);
	json_decref(rooms);
	wsc_ctx_free(ctx);
}
