/* roomsvc: voice membership and presence, seen by two and three clients,
 * over one and two gateways, across a gateway's kill -9, a roomsvc restart
 * and a Redis restart, and under 200 logins at once. The list readers and
 * room helpers are integ_room.c's (list_room.h), which says how lists are
 * waited for and checked.
 *
 * "Nothing comes" is watched for QUIET_MS after letting earlier traffic
 * settle (mediasvc reacts to a leave with its own list refresh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integ.h"
#include "list_room.h"

#define ROOM_GW2 "gateway r2" /* instance gateway-r2: the second gateway here */
#define ROOM_GWK "gateway rk" /* instance gateway-rk: the one killed with -9 */
#define QUIET_MS 500          /* how long "nothing comes" is watched */
#define KILL_WAIT_MS 20000    /* lease (10 s) + sweep, with room to spare */
#define NLOGIN 200

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
	users_at(ctx, adm, gw_port(), "joiner", &u, "joinobs", &o, NULL);
	char id[64], name[64];
	room_new(adm, "voice", "", id, name);

	sendp(u.c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", id);
	expect_about(u.c, "joinRoom", u.id, id);
	expect_about(o.c, "joinRoom", u.id, id);
	json_t *j = wait_member(o.c, id, u.id, 1);
	json_t *mem = user_of(json_object_get(room_in(j, id), "userlist"), u.id);
	CHECK_EQ_STR(jstr(mem, "name"), "joiner");
	json_decref(j);
	/* PROTOCOL.md asks for updateRooms after a join; updateUsers shows the
	 * new currentRoom from the next list composed for another reason. */
	lists_refresh(ctx);
	json_decref(wait_user(o.c, u.id, 1, id));
	json_decref(wait_member(u.c, id, u.id, 1));
	json_decref(wait_member(adm, id, u.id, 1));

	/* The same room again: nothing at all. */
	settle(ctx, u.c);
	size_t joins_o = wsc_count_type(o.c, "joinRoom"),
	       leaves_o = wsc_count_type(o.c, "leaveRoom");
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
					fail_json(file, line, j,
						  "first updateRooms after the move is wrong");
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
	users_at(ctx, adm, gw_port(), "mover", &u, "moveobs", &o, NULL);
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
	lists_refresh(ctx); /* updateUsers is not sent for a join or leave */
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
	users_at(ctx, adm, gw_port(), "leaver", &u, "leaveobs", &o, "neverjoined", &f, NULL);
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
	lists_refresh(ctx); /* updateUsers is not sent for a join or leave */
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
#define expect_close(c, uid, left, in, status)                                                     \
	expect_close_at(__FILE__, __LINE__, c, uid, left, in, status, WAIT_MS)

void test_room_two_conns(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u, o;
	users_at(ctx, adm, gw_port(), "twoconns", &u, "twoobs", &o, NULL);
	wsc *u2 = second_conn(ctx, &u, gw_port());
	char id[64], name[64];
	room_new(adm, "voice", "", id, name);
	join(&u, id); /* u.c is the voice connection */
	json_decref(wait_member(o.c, id, u.id, 1));
	lists_refresh(ctx); /* updateUsers is not sent for a join or leave */
	json_decref(wait_user(o.c, u.id, 1, id));
	settle(ctx, o.c);

	/* The other connection closes: disconnect, and the user stays. */
	wsc_close(u2);
	expect_close(o.c, u.id, NULL, id, 1);
	expect_close(u.c, u.id, NULL, id, 1);

	/* The voice connection closes while another is open: out of the room,
	 * still online. */
	wsc *u3 = second_conn(ctx, &u, gw_port());
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
	lists_refresh(ctx); /* updateUsers is not sent for a join or leave */
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
	lists_refresh(ctx); /* updateUsers is not sent for a join or leave */
	json_decref(wait_user(o.c, u.id, 1, id));

	settle(ctx, o.c);
	long long t0 = now_ms();
	CHECK_EQ_INT(stack("kill gateway-rk KILL", NULL, 0), 0);
	long long t_kill = now_ms() - t0;
	long long t = expect_close_at(__FILE__, __LINE__, o.c, u.id, id, NULL, 0, KILL_WAIT_MS);
	printf("kill -9 of a gateway: its user out of the room and offline %lld ms after the "
	       "kill (kill itself took %lld ms)\n",
	       t + t_kill, t_kill);
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
	users_at(ctx, adm, gw_port(), "survivor", &u, "survobs", &o, NULL);
	char vid[64], vname[64], tid[64], tname[64];
	room_new(adm, "voice", "", vid, vname);
	room_new(adm, "text", "-5", tid, tname);
	join(&u, vid);
	json_decref(wait_member(o.c, vid, u.id, 1));
	lists_refresh(ctx); /* updateUsers is not sent for a join or leave */
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
	lists_refresh(ctx); /* updateUsers is not sent for a join or leave */
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

/* A list with w->uid offline and the user whose id is in w->name online. */
static int ok_resynced(json_t *j, const want *w)
{
	return ok_user(j, &(want){.uid = w->uid, .flag = 0}) &&
	       ok_user(j, &(want){.uid = w->name, .flag = 1});
}

/* While no roomsvc runs, connection events are lost: a user who closes the
 * connection and one who logs in then must still come out right once
 * roomsvc is back (it compares its list with each gateway's). */
void test_room_resync_after_outage(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who gone, late, obs;
	users_at(ctx, adm, gw_port(), "rsgone", &gone, "rsobs", &obs, NULL);
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

	/* Within a few heartbeats (2 s each) both are repaired: one list
	 * shows both (the repair may land in one list or in two; the last
	 * one shows both either way). */
	json_t *both = wait_list_at(__FILE__, __LINE__, obs.c, "updateUsers", ok_resynced,
				    &(want){.uid = gone.id, .name = late.id},
				    "the closed user offline and the late one online", 3 * WAIT_MS);
	json_decref(both);
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
		      "{\"type\":\"signup\",\"userName\":\"%s%d\",\"password\":\"" TEST_PASSWORD
		      "\","
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
	json_array_foreach(json_object_get(j, "userList"), i, u)
	{
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
		CHECK_MSG(wsc_wait_open(c[i], WAIT_MS) == 0, "conn %d: %s", i,
			  wsc_last_error(c[i]));
		json_decref(expect(c[i], "connect"));
	}
	long long t1 = now_ms();
	for (int i = 0; i < NLOGIN; i++)
		sendp(c[i],
		      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
		      "\"protocol\":\"v1\"}",
		      emails[i]);

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
				if (streq(type, "error") ||
				    (streq(type, "login") && !jbool(j, "success")))
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
