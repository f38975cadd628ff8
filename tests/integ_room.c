/* roomsvc: the room catalogue, voice membership, presence and the two
 * lists (updateRooms, updateUsers), seen by two and three clients, over one
 * and two gateways, across a gateway's kill -9, a roomsvc restart and a
 * Redis restart, and under 200 logins at once.
 *
 * Lists may be coalesced, and an older one may still be on its way when a
 * test acts, so a test waits for the first list that shows the state it
 * wants instead of taking the next one. Every list read on the way is
 * checked whole: the fields of each room and user, the order by position,
 * and that a room's members say they are in it.
 *
 * "Nothing comes" is watched for QUIET_MS after letting earlier traffic
 * settle (mediasvc reacts to a leave with its own list refresh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integ.h"

#define ROOM_GW2 "gateway r2"  /* instance gateway-r2: the second gateway here */
#define ROOM_GWK "gateway rk"  /* instance gateway-rk: the one killed with -9 */
#define QUIET_MS 500           /* how long "nothing comes" is watched */
#define SETTLE_MS 300          /* lets what an earlier step caused arrive */
#define KILL_WAIT_MS 20000     /* lease (10 s) + sweep, with room to spare */
#define UNKNOWN_ROOM "0b7a3f0e-5a43-4c39-9a34-0000000000a1"
#define NLOGIN 200

typedef struct {
	wsc *c;
	char id[64];
	char email[64];
} who;

/* What a list should show; which fields count depends on the predicate. */
typedef struct {
	const char *room; /* room id */
	const char *uid;  /* user id */
	const char *name; /* room name */
	int flag;         /* member: 1 in the room, 0 not; user: status */
	int has_pos;
	long long pos;
} want;

typedef int (*list_ok)(json_t *list, const want *w);

/* ------------------------------------------------------- reading lists */

static int jbool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static int streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* The room `id` of an updateRooms frame, or NULL (borrowed). */
static json_t *room_in(json_t *rooms, const char *id)
{
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rooms, "roomList"), i, r)
		if (streq(jstr(r, "id"), id))
			return r;
	return NULL;
}

static json_t *room_named(json_t *rooms, const char *name)
{
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rooms, "roomList"), i, r)
		if (streq(jstr(r, "name"), name))
			return r;
	return NULL;
}

/* The user uid of a list of users, or NULL (borrowed). */
static json_t *user_of(json_t *list, const char *uid)
{
	json_t *u;
	size_t i;
	json_array_foreach(list, i, u)
		if (streq(jstr(u, "id"), uid))
			return u;
	return NULL;
}

static json_t *user_in(json_t *users, const char *uid)
{
	return user_of(json_object_get(users, "userList"), uid);
}

static int member(json_t *rooms, const char *room, const char *uid)
{
	json_t *r = room_in(rooms, room);
	return r && user_of(json_object_get(r, "userlist"), uid) != NULL;
}

static _Noreturn void fail_json(const char *file, int line, json_t *j, const char *what)
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
	json_array_foreach(list, i, u)
		check_user_at(file, line, u);
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
	json_array_foreach(list, i, r) {
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
		json_array_foreach(users, k, u) {
			check_user_at(file, line, u);
			if (!streq(jstr(u, "currentRoom"), jstr(r, "id")) || !jbool(u, "status"))
				fail_json(file, line, r, "member not online or not in its room");
		}
	}
}

static void check_list_at(const char *file, int line, json_t *j)
{
	if (streq(jstr(j, "type"), "updateRooms"))
		check_rooms_at(file, line, j);
	else if (streq(jstr(j, "type"), "updateUsers"))
		check_users_at(file, line, j);
}

/* Receives lists of `type` until one satisfies ok; returns it (caller
 * owns). Fails after timeout_ms, naming what. */
static json_t *wait_list_at(const char *file, int line, wsc *c, const char *type, list_ok ok,
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

static int ok_member(json_t *j, const want *w)
{
	return member(j, w->room, w->uid) == w->flag;
}

static int ok_user(json_t *j, const want *w)
{
	json_t *u = user_in(j, w->uid);
	if (!u || jbool(u, "status") != w->flag)
		return 0;
	return w->room ? streq(jstr(u, "currentRoom"), w->room)
		       : json_is_null(json_object_get(u, "currentRoom"));
}

static int ok_room(json_t *j, const want *w)
{
	json_t *r = w->room ? room_in(j, w->room) : room_named(j, w->name);
	if (!w->flag)
		return r == NULL;
	if (!r || (w->name && !streq(jstr(r, "name"), w->name)))
		return 0;
	return !w->has_pos || json_integer_value(json_object_get(r, "position")) == w->pos;
}

/* An updateRooms with uid in (in=1) or out of (in=0) room. */
#define wait_member(c, room_, uid_, in)                                                       \
	wait_list_at(__FILE__, __LINE__, (c), "updateRooms", ok_member,                       \
		     &(want){.room = (room_), .uid = (uid_), .flag = (in)},                   \
		     (in) ? "the user in the room" : "the user out of the room", WAIT_MS)
/* An updateUsers with uid's status and currentRoom (NULL: null). */
#define wait_user(c, uid_, status, room_)                                                     \
	wait_list_at(__FILE__, __LINE__, (c), "updateUsers", ok_user,                         \
		     &(want){.room = (room_), .uid = (uid_), .flag = (status)},               \
		     "the user's status and currentRoom", WAIT_MS)
/* An updateRooms with room id_ (or, id_ NULL, a room named name_) named
 * name_ (when not NULL) at position pos_ (when has_). */
#define wait_room(c, id_, name_, has_, pos_)                                                  \
	wait_list_at(__FILE__, __LINE__, (c), "updateRooms", ok_room,                         \
		     &(want){.room = (id_), .name = (name_), .flag = 1, .has_pos = (has_),    \
			     .pos = (pos_)},                                                  \
		     "the room as wanted", WAIT_MS)
#define wait_room_gone(c, id_)                                                                \
	wait_list_at(__FILE__, __LINE__, (c), "updateRooms", ok_room,                         \
		     &(want){.room = (id_), .flag = 0}, "the room gone", WAIT_MS)

/* A `type` frame (joinRoom, leaveRoom, disconnect) about uid; checks its
 * roomid when room is not NULL. */
static void expect_about_at(const char *file, int line, wsc *c, const char *type, const char *uid,
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
#define expect_about(c, type, uid, room) expect_about_at(__FILE__, __LINE__, c, type, uid, room)

/* ------------------------------------------------------- people, rooms */

static void user_at(wsc_ctx *ctx, wsc *adm, const char *group, const char *name, int port,
		    who *w)
{
	memset(w, 0, sizeof *w);
	signup_user(ctx, adm, group, name, w->email);
	w->c = client_at(ctx, port);
	snprintf(w->id, sizeof w->id, "%s", login(w->c, w->email, TEST_PASSWORD));
}

static wsc *another_conn(wsc_ctx *ctx, const who *w, int port)
{
	wsc *c = client_at(ctx, port);
	login(c, w->email, TEST_PASSWORD);
	return c;
}

/* Starts (or finds running) the gateway instance `part` ("gateway NAME");
 * returns its port. */
static int gateway_at(const char *part)
{
	char cmd[64], out[64];
	snprintf(cmd, sizeof cmd, "start-part %s", part);
	CHECK_EQ_INT(stack(cmd, out, sizeof out), 0);
	CHECK_MSG(!strncmp(out, "port=", 5), "start-part printed \"%s\"", out);
	return atoi(out + 5);
}

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
static json_t *login_lists_at(const char *file, int line, wsc *c, const char *uid, int fresh,
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
#define login_lists(c, uid, fresh) login_lists_at(__FILE__, __LINE__, (c), (uid), (fresh), NULL)

/* A new connection of w at port (into *out); returns the login's
 * updateRooms and, if users is not NULL, its updateUsers. */
static json_t *fresh_lists_at(const char *file, int line, wsc_ctx *ctx, const who *w, int port,
			      wsc **out, json_t **users)
{
	wsc *c = client_at(ctx, port);
	const char *uid = login_at(file, line, c, w->email, TEST_PASSWORD);
	json_t *rooms = login_lists_at(file, line, c, uid, 0, users);
	*out = c;
	return rooms;
}
#define fresh_lists(ctx, w, port, out, users) \
	fresh_lists_at(__FILE__, __LINE__, ctx, w, port, out, users)

/* Creates a room of type (pos: a JSON number, or "" for the default)
 * named <type>-<uniq> and waits for adm to see it; id and name get 64
 * bytes. */
static void room_new_at(const char *file, int line, wsc *adm, const char *type, const char *pos,
			char *id, char *name)
{
	snprintf(name, 64, "%s-%s", type, uniq());
	if (*pos)
		sendp(adm, "{\"type\":\"createroom\",\"roomType\":\"%s\",\"roomName\":\"%s\","
			   "\"position\":%s}", type, name, pos);
	else
		sendp(adm, "{\"type\":\"createroom\",\"roomType\":\"%s\",\"roomName\":\"%s\"}",
		      type, name);
	json_t *j = wait_list_at(file, line, adm, "updateRooms", ok_room,
				 &(want){.name = name, .flag = 1}, name, WAIT_MS);
	snprintf(id, 64, "%s", jstr(room_named(j, name), "id"));
	json_decref(j);
}
#define room_new(adm, type, pos, id, name) room_new_at(__FILE__, __LINE__, adm, type, pos, id, name)

/* Joins room as w and waits for w's own joinRoom. */
static void join_at(const char *file, int line, who *w, const char *room)
{
	sendp(w->c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", room);
	expect_about_at(file, line, w->c, "joinRoom", w->id, room);
}
#define join(w, room) join_at(__FILE__, __LINE__, w, room)

/* Lets traffic already caused arrive, then forgets what c got. */
static void settle(wsc_ctx *ctx, wsc *c)
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
	json_array_foreach(json_object_get(rooms, "roomList"), i, r) {
		long long p = json_integer_value(json_object_get(r, "position"));
		if (i == 0 || p > max)
			max = p;
	}
	return max;
}

static const char *room_id_by(json_t *rooms, const char *name, const char *type)
{
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rooms, "roomList"), i, r)
		if (streq(jstr(r, "name"), name) && streq(jstr(r, "type"), type))
			return jstr(r, "id");
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
	CHECK_MSG(wsc_count_type(a.c, "updateRooms") > rooms_a, "A got no updateRooms for B's login");
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
	sendp(adm, "{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"%s\",\"position\":-777}",
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
static void expect_removed_at(const char *file, int line, wsc *c, const char *uid,
			      const char *room)
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
					fail_json(file, line, j, "room still listed after leaveRoom");
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
	user_at(ctx, adm, "user", "removemem", gw_port(), &u);
	user_at(ctx, adm, "user", "removeobs", gw_port(), &o);
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
		{"{\"type\":\"createroom\",\"roomType\":\"voice\",\"roomName\":\"\"%.0s}", "roomName", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"video\",\"roomName\":\"%s\"}", "roomType", 0},
		{"{\"type\":\"createroom\",\"roomName\":\"%s\"}", "roomType", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s"
		 "-0123456789012345678901234567890123456789012345678901234567890123\"}", "roomName", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\","
		 "\"position\":2000000000}", "position", 0},
		{"{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\",\"position\":\"1\"}",
		 "position", 0},
		{"{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"\"%.0s}", "roomName", 1},
		{"{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"%s\",\"position\":-2000000000}",
		 "position", 1},
		{"{\"type\":\"updateroom\",\"roomid\":\"not-a-room-%.0s\",\"roomName\":\"%s\"}", "roomid", 1},
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
		CHECK_MSG(m && strstr(m, bad[i].says) && strstr(m, bad[i].on_room ? "updateroom" : "createroom"),
			  "bad packet %zu: error \"%s\" should name the packet and %s", i, m ? m : "",
			  bad[i].says);
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

/* ------------------------------------------------------------ voice rooms */

void test_room_join_refused(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char group[64];
	who u, n;
	snprintf(group, sizeof group, "noperm-%s", uniq());
	user_at(ctx, adm, "user", "joinrefused", gw_port(), &u);
	user_at(ctx, adm, group, "nopermuser", gw_port(), &n);
	wsc *l;
	json_t *rooms = fresh_lists(ctx, &u, gw_port(), &l, NULL);
	char main_id[64], chat_id[64];
	CHECK(room_id_by(rooms, "Main", "text") && room_id_by(rooms, "Chat", "voice"));
	snprintf(main_id, sizeof main_id, "%s", room_id_by(rooms, "Main", "text"));
	snprintf(chat_id, sizeof chat_id, "%s", room_id_by(rooms, "Chat", "voice"));
	json_decref(rooms);

	sendp(u.c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", main_id);
	expect_error(u.c, "text room");
	sendp(u.c, "{\"type\":\"joinroom\",\"roomid\":\"" UNKNOWN_ROOM "\"}");
	expect_error(u.c, "no such room");
	sendp(u.c, "{\"type\":\"joinroom\"}");
	expect_error(u.c, "roomid");
	sendp(n.c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", chat_id);
	expect_error(n.c, "Permission denied \"joinVoiceRoom\"");
	CHECK(!wsc_is_closed(u.c) && !wsc_is_closed(n.c));
	/* Neither is in a room: a fresh login shows them out, and nobody got
	 * a joinRoom. */
	wsc *m = client(ctx);
	json_t *users;
	rooms = login_lists_at(__FILE__, __LINE__, m, login(m, n.email, TEST_PASSWORD), 0, &users);
	CHECK(!member(rooms, chat_id, n.id) && !member(rooms, chat_id, u.id));
	CHECK(json_is_null(json_object_get(user_in(users, u.id), "currentRoom")));
	CHECK(jbool(user_in(users, u.id), "status"));
	json_decref(rooms), json_decref(users);
	wsc *all[] = {adm, u.c, n.c, l, m};
	for (size_t i = 0; i < 5; i++)
		CHECK_EQ_INT(wsc_count_type(all[i], "joinRoom"), 0);
	wsc_ctx_free(ctx);
}

void test_room_join_lists(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u, o;
	user_at(ctx, adm, "user", "joiner", gw_port(), &u);
	user_at(ctx, adm, "user", "joinobs", gw_port(), &o);
	char id[64], name[64];
	room_new(adm, "voice", "", id, name);

	sendp(u.c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", id);
	expect_about(u.c, "joinRoom", u.id, id);
	expect_about(o.c, "joinRoom", u.id, id);
	json_t *j = wait_member(o.c, id, u.id, 1);
	json_t *mem = user_of(json_object_get(room_in(j, id), "userlist"), u.id);
	CHECK_EQ_STR(jstr(mem, "name"), "joiner");
	json_decref(j);
	json_decref(wait_user(o.c, u.id, 1, id));
	json_decref(wait_member(u.c, id, u.id, 1));
	json_decref(wait_member(adm, id, u.id, 1));

	/* The same room again: nothing at all. */
	settle(ctx, u.c);
	size_t joins_o = wsc_count_type(o.c, "joinRoom"), leaves_o = wsc_count_type(o.c, "leaveRoom");
	sendp(u.c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", id);
	wsc_service(ctx, QUIET_MS);
	CHECK_MSG(wsc_pending(u.c) == 0, "joining the same room again sent %zu frames",
		  wsc_pending(u.c));
	CHECK_EQ_INT(wsc_count_type(o.c, "joinRoom"), joins_o);
	CHECK_EQ_INT(wsc_count_type(o.c, "leaveRoom"), leaves_o);
	/* Still in it. */
	wsc *n;
	json_t *rooms = fresh_lists(ctx, &o, gw_port(), &n, NULL);
	CHECK(member(rooms, id, u.id));
	json_decref(rooms);
	wsc_ctx_free(ctx);
}

/* Reads c's frames around uid's move from `from` to `to`: leaveRoom(from),
 * then joinRoom(to) with no list between them, then an updateRooms showing
 * uid in `to` only. No earlier list may show uid in `to`. */
static void expect_move_at(const char *file, int line, wsc *c, const char *uid, const char *from,
			   const char *to)
{
	static const char *const stages[] = {"leaveRoom", "joinRoom", "updateRooms"};
	long long until = now_ms() + WAIT_MS;
	int stage = 0;
	for (;;) {
		long long left = until - now_ms();
		json_t *j = left > 0 ? wsc_recv(c, (int)left) : NULL;
		if (!j)
			rt_fail(file, line, "move of %s: no %s: %s", uid, stages[stage],
				wsc_last_error(c));
		const char *type = jstr(j, "type");
		int about = streq(jstr(j, "userid"), uid);
		check_list_at(file, line, j);
		if (streq(type, "leaveRoom") && about) {
			if (stage != 0 || !streq(jstr(j, "roomid"), from))
				fail_json(file, line, j, "unexpected leaveRoom");
			stage = 1;
		} else if (streq(type, "joinRoom") && about) {
			if (stage != 1 || !streq(jstr(j, "roomid"), to))
				fail_json(file, line, j, "joinRoom not right after leaveRoom");
			stage = 2;
		} else if (streq(type, "updateRooms") || streq(type, "updateUsers")) {
			int rooms = streq(type, "updateRooms");
			if (stage == 1)
				fail_json(file, line, j, "a list between leaveRoom and joinRoom");
			if (stage == 0 && rooms && member(j, to, uid))
				fail_json(file, line, j, "a list shows the move before leaveRoom");
			if (stage == 2 && rooms) {
				if (!member(j, to, uid) || member(j, from, uid))
					fail_json(file, line, j, "first updateRooms after the move is wrong");
				json_decref(j);
				return;
			}
		}
		json_decref(j);
	}
}
#define expect_move(c, uid, from, to) expect_move_at(__FILE__, __LINE__, c, uid, from, to)

void test_room_move_order(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	int p2 = gateway_at(ROOM_GW2);
	who u, o, o2;
	user_at(ctx, adm, "user", "mover", gw_port(), &u);
	user_at(ctx, adm, "user", "moveobs", gw_port(), &o);
	user_at(ctx, adm, "user", "moveobs2", p2, &o2);
	char r1[64], n1[64], r2[64], n2[64];
	room_new(adm, "voice", "", r1, n1);
	room_new(adm, "voice", "", r2, n2);
	join(&u, r1);
	json_decref(wait_member(o.c, r1, u.id, 1));
	json_decref(wait_member(o2.c, r1, u.id, 1));

	sendp(u.c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", r2);
	expect_move(o.c, u.id, r1, r2);
	expect_move(o2.c, u.id, r1, r2);
	expect_move(u.c, u.id, r1, r2);
	json_decref(wait_user(o.c, u.id, 1, r2));
	/* And back. */
	sendp(u.c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", r1);
	expect_move(o.c, u.id, r2, r1);
	expect_move(o2.c, u.id, r2, r1);
	wsc_ctx_free(ctx);
}

void test_room_leave(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u, o, f;
	user_at(ctx, adm, "user", "leaver", gw_port(), &u);
	user_at(ctx, adm, "user", "leaveobs", gw_port(), &o);
	user_at(ctx, adm, "user", "neverjoined", gw_port(), &f);
	char id[64], name[64], other[64], oname[64];
	room_new(adm, "voice", "", id, name);
	room_new(adm, "voice", "", other, oname);
	join(&u, id);
	json_decref(wait_member(o.c, id, u.id, 1));

	/* No roomid, as clients send it. */
	sendp(u.c, "{\"type\":\"leaveroom\"}");
	expect_about(u.c, "leaveRoom", u.id, id);
	expect_about(o.c, "leaveRoom", u.id, id);
	json_decref(wait_member(o.c, id, u.id, 0));
	json_decref(wait_user(o.c, u.id, 1, NULL));
	json_decref(wait_member(u.c, id, u.id, 0));

	/* Not in a room any more, or never: no frame, no error, whatever the
	 * roomid says. */
	settle(ctx, u.c);
	settle(ctx, f.c);
	size_t leaves_o = wsc_count_type(o.c, "leaveRoom");
	sendp(u.c, "{\"type\":\"leaveroom\"}");
	sendp(u.c, "{\"type\":\"leaveroom\",\"roomid\":\"%s\"}", id);
	sendp(f.c, "{\"type\":\"leaveroom\"}");
	sendp(f.c, "{\"type\":\"leaveroom\",\"roomid\":\"%s\"}", other);
	wsc_service(ctx, QUIET_MS);
	CHECK_MSG(wsc_pending(u.c) == 0, "leaving no room sent %zu frames", wsc_pending(u.c));
	CHECK_MSG(wsc_pending(f.c) == 0, "leaving no room sent %zu frames", wsc_pending(f.c));
	CHECK_EQ_INT(wsc_count_type(o.c, "leaveRoom"), leaves_o);
	CHECK_EQ_INT(wsc_count_type(u.c, "error") + wsc_count_type(f.c, "error"), 0);
	wsc_ctx_free(ctx);
}

/* -------------------------------------------------------------- presence */

/* A connection of uid closed: on c, disconnect{uid} comes first; then
 * leaveRoom{uid, left} if left is not NULL (and none if it is), then the
 * first lists after the close, which must show uid with `status` and in
 * room `in` (NULL: none). Returns the ms it took. */
static long long expect_close_at(const char *file, int line, wsc *c, const char *uid,
				 const char *left, const char *in, int status, int timeout_ms)
{
	long long t0 = now_ms(), until = t0 + timeout_ms;
	json_t *rooms = NULL, *users = NULL, *me;
	int stage = 0; /* 1: disconnect seen; 2: and the leaveRoom */
	while (!users) {
		long long wait = until - now_ms();
		json_t *j = wait > 0 ? wsc_recv(c, (int)wait) : NULL;
		if (!j)
			rt_fail(file, line, "close of %s: %s after %lld ms (stage %d)", uid,
				wsc_last_error(c), now_ms() - t0, stage);
		const char *type = jstr(j, "type");
		int about = streq(jstr(j, "userid"), uid);
		check_list_at(file, line, j);
		if (streq(type, "disconnect") && about && stage == 0) {
			stage = 1;
		} else if (streq(type, "leaveRoom") && about) {
			if (stage != 1 || !left || !streq(jstr(j, "roomid"), left))
				fail_json(file, line, j, "unexpected leaveRoom");
			stage = 2;
		} else if (stage > 0 && streq(type, "updateRooms") && !rooms) {
			rooms = j;
			continue;
		} else if (stage > 0 && streq(type, "updateUsers") && rooms) {
			users = j;
			continue;
		}
		json_decref(j);
	}
	if (left && stage != 2)
		rt_fail(file, line, "close of %s: lists before its leaveRoom", uid);
	me = user_in(users, uid);
	if (!me || jbool(me, "status") != status)
		fail_json(file, line, users, "wrong status in the first list after the close");
	if (in ? !member(rooms, in, uid) || !streq(jstr(me, "currentRoom"), in)
	       : !json_is_null(json_object_get(me, "currentRoom")))
		fail_json(file, line, me, "wrong room in the first lists after the close");
	if (left && member(rooms, left, uid))
		fail_json(file, line, rooms, "still a member after the close");
	json_decref(rooms), json_decref(users);
	return now_ms() - t0;
}
#define expect_close(c, uid, left, in, status) \
	expect_close_at(__FILE__, __LINE__, c, uid, left, in, status, WAIT_MS)

void test_room_two_conns(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u, o;
	user_at(ctx, adm, "user", "twoconns", gw_port(), &u);
	user_at(ctx, adm, "user", "twoobs", gw_port(), &o);
	wsc *u2 = another_conn(ctx, &u, gw_port());
	char id[64], name[64];
	room_new(adm, "voice", "", id, name);
	join(&u, id); /* u.c is the voice connection */
	json_decref(wait_member(o.c, id, u.id, 1));
	json_decref(wait_user(o.c, u.id, 1, id));
	settle(ctx, o.c);

	/* The other connection closes: disconnect, and the user stays. */
	wsc_close(u2);
	expect_close(o.c, u.id, NULL, id, 1);
	expect_close(u.c, u.id, NULL, id, 1);

	/* The voice connection closes while another is open: out of the room,
	 * still online. */
	wsc *u3 = another_conn(ctx, &u, gw_port());
	json_decref(wait_user(o.c, u.id, 1, id));
	wsc_close(u.c);
	expect_close(o.c, u.id, id, NULL, 1);
	expect_close(u3, u.id, id, NULL, 1);

	/* The last connection, in the room: out and offline. */
	u.c = u3;
	join(&u, id);
	json_decref(wait_member(o.c, id, u.id, 1));
	wsc_close(u3);
	expect_close(o.c, u.id, id, NULL, 0);
	wsc_ctx_free(ctx);
}

void test_room_two_gateways(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	int p2 = gateway_at(ROOM_GW2);
	who a, b;
	user_at(ctx, adm, "user", "gwone", gw_port(), &a);
	user_at(ctx, adm, "user", "gwtwo", p2, &b);
	/* B's login on gateway 2 reached A on gateway 1. */
	json_decref(wait_user(a.c, b.id, 1, NULL));
	char id[64], name[64];
	room_new(adm, "voice", "", id, name);
	json_decref(wait_room(b.c, id, name, 0, 0));

	join(&a, id);
	expect_about(b.c, "joinRoom", a.id, id);
	json_decref(wait_member(b.c, id, a.id, 1));
	json_decref(wait_user(b.c, a.id, 1, id));

	join(&b, id);
	expect_about(a.c, "joinRoom", b.id, id);
	json_t *j = wait_member(a.c, id, b.id, 1);
	CHECK(member(j, id, a.id));
	json_decref(j);

	sendp(b.c, "{\"type\":\"leaveroom\"}");
	expect_about(a.c, "leaveRoom", b.id, id);
	json_decref(wait_member(a.c, id, b.id, 0));
	/* A closes on gateway 1: B on gateway 2 sees it leave and go offline. */
	wsc_close(a.c);
	expect_close(b.c, a.id, id, NULL, 0);
	wsc_ctx_free(ctx);
}

void test_room_gateway_kill9(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	int pk = gateway_at(ROOM_GWK);
	who u, o;
	user_at(ctx, adm, "user", "killed", pk, &u);
	user_at(ctx, adm, "user", "killobs", gw_port(), &o);
	char id[64], name[64];
	room_new(adm, "voice", "", id, name);
	join(&u, id);
	json_decref(wait_member(o.c, id, u.id, 1));
	json_decref(wait_user(o.c, u.id, 1, id));

	settle(ctx, o.c);
	long long t0 = now_ms();
	CHECK_EQ_INT(stack("kill gateway-rk KILL", NULL, 0), 0);
	long long t_kill = now_ms() - t0;
	long long t = expect_close_at(__FILE__, __LINE__, o.c, u.id, id, NULL, 0, KILL_WAIT_MS);
	printf("kill -9 of a gateway: its user out of the room and offline %lld ms after the "
	       "kill (kill itself took %lld ms)\n", t + t_kill, t_kill);
	CHECK_MSG(t + t_kill <= KILL_WAIT_MS, "took %lld ms", t + t_kill);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------------------ restarts */

/* A room with a member and an observer; then `outage` (stack commands, run
 * in order); then a new login must list the room and the member, and the
 * lists must still flow to the old connections. */
static void survive(const char *const *outage, size_t n)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u, o;
	user_at(ctx, adm, "user", "survivor", gw_port(), &u);
	user_at(ctx, adm, "user", "survobs", gw_port(), &o);
	char vid[64], vname[64], tid[64], tname[64];
	room_new(adm, "voice", "", vid, vname);
	room_new(adm, "text", "-5", tid, tname);
	join(&u, vid);
	json_decref(wait_member(o.c, vid, u.id, 1));
	json_decref(wait_user(o.c, u.id, 1, vid));

	long long t0 = now_ms();
	for (size_t i = 0; i < n; i++)
		CHECK_MSG(stack(outage[i], NULL, 0) == 0, "stack %s failed", outage[i]);
	printf("%s ... %s: %lld ms\n", outage[0], outage[n - 1], now_ms() - t0);

	/* A new login: the rooms and the member are there, everyone online. */
	wsc *n2;
	json_t *users, *rooms = fresh_lists(ctx, &o, gw_port(), &n2, &users);
	CHECK_MSG(room_in(rooms, vid) && room_in(rooms, tid), "a room was lost");
	CHECK_EQ_STR(jstr(room_in(rooms, vid), "name"), vname);
	CHECK_EQ_STR(jstr(room_in(rooms, tid), "name"), tname);
	CHECK_EQ_INT(json_integer_value(json_object_get(room_in(rooms, tid), "position")), -5);
	CHECK_MSG(member(rooms, vid, u.id), "the member was lost");
	json_decref(rooms);
	CHECK(jbool(user_in(users, o.id), "status"));
	CHECK(jbool(user_in(users, u.id), "status"));
	CHECK_EQ_STR(jstr(user_in(users, u.id), "currentRoom"), vid);
	json_decref(users);

	/* State changes still reach the connections from before. */
	sendp(u.c, "{\"type\":\"leaveroom\"}");
	expect_about(o.c, "leaveRoom", u.id, vid);
	json_decref(wait_member(o.c, vid, u.id, 0));
	json_decref(wait_user(o.c, u.id, 1, NULL));
	settle(ctx, o.c);
	wsc_close(u.c);
	expect_close(o.c, u.id, NULL, NULL, 0);
	wsc_ctx_free(ctx);
}

void test_room_roomsvc_restart(void)
{
	static const char *const outage[] = {"kill roomsvc TERM", "start-part roomsvc"};
	survive(outage, 2);
}

void test_room_redis_restart(void)
{
	static const char *const outage[] = {"stop-infra redis", "start-infra redis"};
	survive(outage, 2);
}

/* While no roomsvc runs, connection events are lost: a user who closes the
 * connection and one who logs in then must still come out right once
 * roomsvc is back (it compares its list with each gateway's). */
void test_room_resync_after_outage(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who gone, late, obs;
	user_at(ctx, adm, "user", "rsgone", gw_port(), &gone);
	user_at(ctx, adm, "user", "rsobs", gw_port(), &obs);
	char lemail[64];
	signup_user(ctx, adm, "user", "rslate", lemail);
	json_decref(wait_user(obs.c, gone.id, 1, NULL));

	CHECK_EQ_INT(stack("kill roomsvc TERM", NULL, 0), 0);
	wsc_close(gone.c);
	late.c = client(ctx);
	snprintf(late.id, sizeof late.id, "%s", login(late.c, lemail, TEST_PASSWORD));
	wsc_service(ctx, 300);
	long long t0 = now_ms();
	CHECK_EQ_INT(stack("start-part roomsvc", NULL, 0), 0);

	/* Within a few heartbeats (2 s each) both are repaired. */
	json_decref(wait_list_at(__FILE__, __LINE__, obs.c, "updateUsers", ok_user,
				 &(want){.uid = gone.id, .flag = 0}, "the closed user offline", 15000));
	json_decref(wait_list_at(__FILE__, __LINE__, obs.c, "updateUsers", ok_user,
				 &(want){.uid = late.id, .flag = 1}, "the late user online", 15000));
	printf("presence repaired %lld ms after roomsvc restarted\n", now_ms() - t0);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------------------------ load */

/* NLOGIN accounts named <prefix><i>: invites from the admin, then sign-ups
 * on as many connections at once. One client context at a time: two alive
 * together make LeakSanitizer report OpenSSL's CA store at exit. */
static void make_accounts(const char *prefix, char emails[][64])
{
	char **codes = calloc(NLOGIN, sizeof *codes);
	CHECK_NOT_NULL(codes);
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	for (int i = 0; i < NLOGIN; i++)
		sendp(adm, "{\"type\":\"invite\",\"groupName\":\"user\"}");
	for (int i = 0; i < NLOGIN; i++) {
		json_t *j = expect(adm, "invite");
		CHECK_NOT_NULL(jstr(j, "invite_code"));
		codes[i] = strdup(jstr(j, "invite_code"));
		json_decref(j);
	}
	wsc_ctx_free(ctx);

	ctx = wsc_ctx_new();
	wsc **c = calloc(NLOGIN, sizeof *c);
	CHECK_NOT_NULL(c);
	for (int i = 0; i < NLOGIN; i++)
		CHECK_NOT_NULL(c[i] = wsc_open_async(ctx, "127.0.0.1", gw_port(), "/ipc", 0));
	for (int i = 0; i < NLOGIN; i++) {
		CHECK_MSG(wsc_wait_open(c[i], WAIT_MS) == 0, "signup conn %d: %s", i,
			  wsc_last_error(c[i]));
		snprintf(emails[i], 64, "%s%d@test.example", prefix, i);
		sendp(c[i],
		      "{\"type\":\"signup\",\"userName\":\"%s%d\",\"password\":\"" TEST_PASSWORD "\","
		      "\"email\":\"%s\",\"signUp\":\"%s\"}",
		      prefix, i, emails[i], codes[i]);
	}
	for (int i = 0; i < NLOGIN; i++) {
		json_t *j = wsc_expect_noerr(c[i], "refreshNow", 20000);
		CHECK_MSG(j, "signup %d: %s", i, wsc_last_error(c[i]));
		json_decref(j);
		free(codes[i]);
	}
	wsc_ctx_free(ctx);
	free(c), free(codes);
}

/* How many of the NLOGIN users named <prefix><i> an updateUsers shows
 * online. */
static int online_of(json_t *j, const char *prefix, char *seen)
{
	json_t *u;
	size_t i, plen = strlen(prefix);
	int n = 0;
	memset(seen, 0, NLOGIN);
	json_array_foreach(json_object_get(j, "userList"), i, u) {
		const char *name = jstr(u, "name");
		if (!name || strncmp(name, prefix, plen) || !jbool(u, "status"))
			continue;
		int k = atoi(name + plen);
		if (k >= 0 && k < NLOGIN && !seen[k]) {
			seen[k] = 1;
			n++;
		}
	}
	return n;
}

void test_room_login_200(void)
{
	static char emails[NLOGIN][64];
	char prefix[32], seen[NLOGIN];
	snprintf(prefix, sizeof prefix, "L%s-", uniq());
	long long t0 = now_ms();
	make_accounts(prefix, emails);
	long long t_accounts = now_ms() - t0;

	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c[NLOGIN];
	int done[NLOGIN] = {0}, logged[NLOGIN] = {0}, last_ok[NLOGIN] = {0};
	for (int i = 0; i < NLOGIN; i++)
		CHECK_NOT_NULL(c[i] = wsc_open_async(ctx, "127.0.0.1", gw_port(), "/ipc", 0));
	for (int i = 0; i < NLOGIN; i++) {
		CHECK_MSG(wsc_wait_open(c[i], WAIT_MS) == 0, "conn %d: %s", i, wsc_last_error(c[i]));
		json_decref(expect(c[i], "connect"));
	}
	long long t1 = now_ms();
	for (int i = 0; i < NLOGIN; i++)
		sendp(c[i], "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
			    "\"protocol\":\"v1\"}", emails[i]);

	/* Pump until every client's latest updateUsers shows all NLOGIN
	 * online, then a while longer: the last one each got must still. */
	int ndone = 0;
	long long all_at = 0, deadline = now_ms() + 30000;
	while (now_ms() < deadline && (!all_at || now_ms() < all_at + QUIET_MS)) {
		wsc_service(ctx, 20);
		for (int i = 0; i < NLOGIN; i++) {
			json_t *j;
			while (wsc_pending(c[i]) && (j = wsc_recv(c[i], 0))) {
				const char *type = jstr(j, "type");
				if (streq(type, "error") || (streq(type, "login") && !jbool(j, "success")))
					fail_json(__FILE__, __LINE__, j, "login failed");
				if (streq(type, "login"))
					logged[i] = 1;
				if (streq(type, "updateUsers")) {
					last_ok[i] = online_of(j, prefix, seen) == NLOGIN;
					if (last_ok[i] && !done[i]) {
						done[i] = 1;
						ndone++;
					}
				}
				json_decref(j);
			}
		}
		if (ndone == NLOGIN && !all_at)
			all_at = now_ms();
	}
	int nlogged = 0, nlast = 0;
	for (int i = 0; i < NLOGIN; i++)
		nlogged += logged[i], nlast += last_ok[i];
	CHECK_MSG(ndone == NLOGIN, "%d of %d clients logged in, %d saw everyone online", nlogged,
		  NLOGIN, ndone);
	CHECK_MSG(nlast == NLOGIN, "%d of %d clients ended with a list showing everyone online",
		  nlast, NLOGIN);
	size_t max = 0, sum = 0;
	for (int i = 0; i < NLOGIN; i++) {
		size_t n = wsc_count_type(c[i], "updateUsers");
		sum += n;
		max = n > max ? n : max;
		CHECK_MSG(!wsc_is_closed(c[i]), "client %d was closed", i);
	}
	printf("%d logins at once: accounts made in %lld ms; everyone saw all online after %lld ms; "
	       "updateUsers per client: average %.1f, max %zu\n",
	       NLOGIN, t_accounts, all_at - t1, (double)sum / NLOGIN, max);
	CHECK_MSG(max < 50, "a client got %zu updateUsers for %d logins", max, NLOGIN);
	wsc_ctx_free(ctx);
}
