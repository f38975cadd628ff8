/* mediasvc: WebRTC relay (video, letmesee), golive/chatdev in voice rooms,
 * server mute, talking flood control and the extension hooks, over one and
 * two gateways.
 *
 * "Nobody else got it" is proven with a barrier rather than a sleep: the
 * barrier user flips its `talking` flag and every watcher waits for that
 * broadcast. mediasvc publishes everything on one NATS connection and each
 * gateway receives on one connection in order, so once a watcher has the
 * barrier's frame, anything published for it before has arrived too. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integ.h"
#include "uuid.h"

#define MEDIA_GW2 "gateway m2" /* this file's second gateway (instance gateway-m2) */
#define SETTLE_MS 700          /* quiet time that ends a flood: several throttle windows */

/* ------------------------------------------------------------ helpers */

static int gw2_port(void)
{
	return gateway_at(MEDIA_GW2);
}

/* Next `type` frame whose `key` is `value`; frames before it are skipped. */
static json_t *expect_for_at(const char *file, int line, wsc *c, const char *type, const char *key,
			     const char *value)
{
	long long until = now_ms() + WAIT_MS;
	for (;;) {
		long long left = until - now_ms();
		json_t *j = left > 0 ? wsc_expect(c, type, (int)left) : NULL;
		if (!j)
			rt_fail(file, line, "no `%s` with %s=%s: %s", type, key, value,
				wsc_last_error(c));
		if (jstr(j, key) && !strcmp(jstr(j, key), value))
			return j;
		json_decref(j);
	}
}
#define expect_for(c, type, key, value) expect_for_at(__FILE__, __LINE__, c, type, key, value)

/* Waits for the `talking` broadcast of uid carrying value. */
static void expect_talking_at(const char *file, int line, wsc *c, const char *uid, int value)
{
	long long until = now_ms() + WAIT_MS;
	for (;;) {
		json_t *j = expect_for_at(file, line, c, "talking", "userid", uid);
		int v = jbool(j, "talking");
		json_decref(j);
		if (v == value)
			return;
		if (now_ms() > until)
			rt_fail(file, line, "no `talking` %d for %s", value, uid);
	}
}
#define expect_talking(c, uid, v) expect_talking_at(__FILE__, __LINE__, c, uid, v)

/* See the top of the file. Every watcher must be logged in. */
static void barrier(who *b, wsc *const *watch, size_t n)
{
	b->talking = !b->talking;
	sendp(b->c, "{\"type\":\"talking\",\"talking\":%s}", b->talking ? "true" : "false");
	expect_talking(b->c, b->id, b->talking);
	for (size_t i = 0; i < n; i++)
		expect_talking(watch[i], b->id, b->talking);
}

/* Creates a voice room named name-<uniq>; returns its id (static per call). */
static const char *voice_room(wsc *adm, const char *name)
{
	static char ids[4][64];
	static int next;
	char full[64];
	char *id = ids[next++ % 4];
	snprintf(full, sizeof full, "%s-%s", name, uniq());
	sendp(adm, "{\"type\":\"createroom\",\"roomType\":\"voice\",\"roomName\":\"%s\"}", full);
	long long until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		json_t *j = expect(adm, "updateRooms");
		json_t *list = json_object_get(j, "roomList"), *r;
		size_t i;
		json_array_foreach(list, i, r)
		{
			if (jstr(r, "name") && !strcmp(jstr(r, "name"), full)) {
				snprintf(id, 64, "%s", jstr(r, "id"));
				json_decref(j);
				return id;
			}
		}
		json_decref(j);
	}
	rt_fail(__FILE__, __LINE__, "room %s never showed in updateRooms", full);
}

static void join(who *w, const char *room)
{
	sendp(w->c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", room);
	json_t *j = expect_for(w->c, "joinRoom", "userid", w->id);
	CHECK_EQ_STR(jstr(j, "roomid"), room);
	json_decref(j);
}

/* The user object of uid in an updateUsers list, or in room `room` of an
 * updateRooms list (borrowed from j). */
static json_t *user_in(json_t *j, const char *room, const char *uid)
{
	json_t *list = room ? NULL : json_object_get(j, "userList"), *x;
	size_t i;
	if (room) {
		json_array_foreach(json_object_get(j, "roomList"), i,
				   x) if (jstr(x, "id") && !strcmp(jstr(x, "id"), room)) list =
			json_object_get(x, "userlist");
	}
	json_array_foreach(list, i, x) if (jstr(x, "id") && !strcmp(jstr(x, "id"), uid)) return x;
	return NULL;
}

/* Waits for an updateUsers (room NULL) or updateRooms whose user uid has
 * boolean field = value; in updateRooms, a user absent from the room counts
 * as false. */
static void expect_list_at(const char *file, int line, wsc *c, const char *room, const char *uid,
			   const char *field, int value)
{
	const char *type = room ? "updateRooms" : "updateUsers";
	long long until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		json_t *j = wsc_expect(c, type, (int)(until - now_ms()));
		if (!j)
			break;
		json_t *u = user_in(j, room, uid);
		int got = u ? jbool(u, field) : room ? 0 : -1;
		json_decref(j);
		if (got == value)
			return;
	}
	rt_fail(file, line, "no %s with %s %s=%d: %s", type, uid, field, value, wsc_last_error(c));
}
#define expect_list(c, room, uid, field, v)                                                        \
	expect_list_at(__FILE__, __LINE__, c, room, uid, field, v)

/* ------------------------------------------------------------- relay */

void test_media_video_relay(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	int p1 = gw_port(), p2 = gw2_port();
	wsc *adm = admin(ctx);
	who a, b, c, bar;
	users_at(ctx, adm, p1, "vsender", &a, "vtarget", &b, NULL);
	users_at(ctx, adm, p2, "vbystander", &c, "vbarrier", &bar, NULL);
	wsc *b2 = second_conn(ctx, &b, p2);

	/* A fromuserid written by the client is ignored: the sender is A. */
	sendp(a.c,
	      "{\"type\":\"video\",\"touserid\":\"%s\",\"fromuserid\":\"%s\","
	      "\"payload\":{\"sdp\":\"v=0\",\"type\":\"offer\"}}",
	      b.id, c.id);
	wsc *targets[] = {b.c, b2};
	for (size_t i = 0; i < 2; i++) {
		json_t *v = expect(targets[i], "video");
		CHECK_EQ_STR(jstr(v, "fromuserid"), a.id);
		CHECK_EQ_STR(jstr(v, "touserid"), b.id);
		CHECK_EQ_STR(jstr(json_object_get(v, "payload"), "sdp"), "v=0");
		json_decref(v);
	}
	sendp(a.c, "{\"type\":\"letmesee\",\"touserid\":\"%s\",\"message\":{\"want\":true}}", b.id);
	for (size_t i = 0; i < 2; i++) {
		json_t *l = expect(targets[i], "letmesee");
		CHECK_EQ_STR(jstr(l, "fromuserid"), a.id);
		CHECK(jbool(json_object_get(l, "message"), "want"));
		json_decref(l);
	}
	wsc *watch[] = {a.c, b.c, b2, c.c, adm};
	barrier(&bar, watch, 5);
	/* Exactly one of each to each of B's connections, none to anyone else. */
	CHECK_EQ_INT(wsc_count_type(b.c, "video") + wsc_count_type(b2, "video"), 2);
	CHECK_EQ_INT(wsc_count_type(b.c, "letmesee") + wsc_count_type(b2, "letmesee"), 2);
	wsc *others[] = {a.c, c.c, adm, bar.c};
	for (size_t i = 0; i < 4; i++) {
		CHECK_EQ_INT(wsc_count_type(others[i], "video"), 0);
		CHECK_EQ_INT(wsc_count_type(others[i], "letmesee"), 0);
		CHECK_EQ_INT(wsc_count_type(others[i], "error"), 0);
	}
	wsc_ctx_free(ctx);
}

/* Opaque JSON is re-emitted as the same JSON value, whatever its type. */
void test_media_payload_roundtrip(void)
{
	static const char *const payloads[] = {
		"{\"candidate\":\"candidate:1 1 udp 2122260223 10.0.0.1 54321 typ host\","
		"\"sdpMLineIndex\":0,\"nested\":{\"list\":[1,2.5,\"x\",null,false],\"u\":\"\\u00e9\\u2603\"}}",
		"\"just a string with \\\"quotes\\\" and \\\\ backslash\"",
		"true",
		"false",
		"12345",
		"[]",
		"{}",
		"\"\"",
	};
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, b;
	user_at(ctx, adm, "user", "rtsender", gw_port(), &a);
	user_at(ctx, adm, "user", "rttarget", gw2_port(), &b);
	for (size_t i = 0; i < sizeof payloads / sizeof *payloads; i++) {
		json_t *want = json_loads(payloads[i], JSON_DECODE_ANY, NULL);
		CHECK_NOT_NULL(want);
		/* One at a time: with several mediasvc instances two packets may
		 * be relayed in either order. */
		sendp(a.c, "{\"type\":\"video\",\"touserid\":\"%s\",\"payload\":%s}", b.id,
		      payloads[i]);
		json_t *v = expect(b.c, "video");
		sendp(a.c, "{\"type\":\"letmesee\",\"touserid\":\"%s\",\"message\":%s}", b.id,
		      payloads[i]);
		json_t *l = expect(b.c, "letmesee");
		CHECK_MSG(json_equal(json_object_get(v, "payload"), want),
			  "video payload %s changed", payloads[i]);
		CHECK_MSG(json_equal(json_object_get(l, "message"), want), "letmesee %s changed",
			  payloads[i]);
		json_decref(v), json_decref(l), json_decref(want);
	}
	wsc_ctx_free(ctx);
}

void test_media_relay_offline_dropped(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, off, bar;
	users_at(ctx, adm, gw_port(), "dsender", &a, "doffline", &off, NULL);
	user_at(ctx, adm, "user", "dbarrier", gw2_port(), &bar);
	wsc_close(off.c); /* an account without connections */

	sendp(a.c, "{\"type\":\"video\",\"touserid\":\"%s\",\"payload\":{\"x\":1}}", off.id);
	sendp(a.c, "{\"type\":\"letmesee\",\"touserid\":\"%s\",\"message\":1}", off.id);
	/* A user id nobody has. */
	sendp(a.c, "{\"type\":\"video\",\"touserid\":\"0b7a3f0e-5a43-4c39-9a34-000000000000\","
		   "\"payload\":{\"x\":1}}");
	/* The barrier goes through the sender itself: the gateway hands one
	 * connection's media packets over in order, so once its talking is
	 * echoed, the relays before it have been handled. */
	wsc *watch[] = {adm, bar.c};
	barrier(&a, watch, 2);
	CHECK_EQ_INT(wsc_count_type(a.c, "error"), 0);
	CHECK_EQ_INT(wsc_count_type(a.c, "video") + wsc_count_type(adm, "video"), 0);
	CHECK(!wsc_is_closed(a.c));
	/* The offline user connects later: nothing was kept for them. */
	off.c = client(ctx);
	login(off.c, off.email, TEST_PASSWORD);
	wsc *watch2[] = {off.c};
	barrier(&bar, watch2, 1);
	CHECK_EQ_INT(wsc_count_type(off.c, "video") + wsc_count_type(off.c, "letmesee"), 0);
	wsc_ctx_free(ctx);
}

/* Extension hooks: accepted, nothing comes back. */
void test_media_ext_hooks_accepted(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, bar;
	users_at(ctx, adm, gw_port(), "extuser", &a, "extbarrier", &bar, NULL);
	sendp(a.c,
	      "{\"type\":\"contextoption\",\"context\":\"user\",\"option\":\"kick\","
	      "\"value\":{\"id\":\"%s\"}}",
	      a.id);
	sendp(a.c, "{\"type\":\"windowinput\",\"inputid\":\"i1\",\"value\":\"v\","
		   "\"allinputs\":{\"i1\":\"v\"}}");
	wsc *watch[] = {a.c};
	barrier(&bar, watch, 1);
	CHECK_EQ_INT(wsc_count_type(a.c, "error"), 0);
	CHECK(!wsc_is_closed(a.c));
	wsc_ctx_free(ctx);
}

/* -------------------------------------------------------- voice rooms */

/* A and B in room R1 (B on the second gateway), C in room R2, D in none. */
typedef struct {
	wsc_ctx *ctx;
	wsc *adm;
	who a, b, c, d, bar;
	const char *r1, *r2;
} rooms;

static void rooms_setup(rooms *s, const char *tag)
{
	char n[5][32];
	int p1 = gw_port(), p2 = gw2_port();
	static const char *const roles[] = {"a", "b", "c", "d", "bar"};
	for (size_t i = 0; i < 5; i++)
		snprintf(n[i], sizeof n[i], "%s%s", tag, roles[i]);
	s->ctx = wsc_ctx_new();
	s->adm = admin(s->ctx);
	user_at(s->ctx, s->adm, "user", n[0], p1, &s->a);
	user_at(s->ctx, s->adm, "user", n[1], p2, &s->b);
	user_at(s->ctx, s->adm, "user", n[2], p1, &s->c);
	user_at(s->ctx, s->adm, "user", n[3], p2, &s->d);
	user_at(s->ctx, s->adm, "user", n[4], p1, &s->bar);
	s->r1 = voice_room(s->adm, tag);
	s->r2 = voice_room(s->adm, tag);
	join(&s->a, s->r1);
	join(&s->b, s->r1);
	join(&s->c, s->r2);
}

static void rooms_barrier(rooms *s)
{
	wsc *watch[] = {s->a.c, s->b.c, s->c.c, s->d.c, s->adm};
	barrier(&s->bar, watch, 5);
}

void test_media_chatdev_room_only(void)
{
	rooms s;
	rooms_setup(&s, "cd");
	sendp(s.a.c, "{\"type\":\"chatdev\",\"video\":true,\"audio\":false}");
	wsc *members[] = {s.a.c, s.b.c};
	for (size_t i = 0; i < 2; i++) {
		json_t *j = expect(members[i], "chatdev");
		CHECK_EQ_STR(jstr(j, "userid"), s.a.id);
		CHECK(jbool(j, "video") && !jbool(j, "audio"));
		json_decref(j);
	}
	/* Outside a voice room: ignored, and no error (the web client sends
	 * chatdev on every joinRoom it sees). */
	sendp(s.d.c, "{\"type\":\"chatdev\",\"video\":false,\"audio\":true}");
	rooms_barrier(&s);
	CHECK_EQ_INT(wsc_count_type(s.a.c, "chatdev"), 1);
	CHECK_EQ_INT(wsc_count_type(s.b.c, "chatdev"), 1);
	CHECK_EQ_INT(wsc_count_type(s.c.c, "chatdev"), 0);
	CHECK_EQ_INT(wsc_count_type(s.d.c, "chatdev"), 0);
	CHECK_EQ_INT(wsc_count_type(s.adm, "chatdev"), 0);
	CHECK_EQ_INT(wsc_count_type(s.d.c, "error"), 0);
	wsc_ctx_free(s.ctx);
}

static void check_golive(wsc *c, const who *w, const char *room, int live, const char *label)
{
	json_t *j = expect_for(c, "golive", "userid", w->id);
	CHECK_EQ_STR(jstr(j, "roomid"), room);
	CHECK_EQ_INT(jbool(j, "livestate"), live);
	CHECK_EQ_STR(jstr(j, "livelabel"), label);
	json_decref(j);
}

void test_media_golive_room_only(void)
{
	rooms s;
	rooms_setup(&s, "gl");
	sendp(s.a.c, "{\"type\":\"golive\",\"livestate\":true,\"livelabel\":\"Screen 1\"}");
	check_golive(s.a.c, &s.a, s.r1, 1, "Screen 1");
	check_golive(s.b.c, &s.a, s.r1, 1, "Screen 1");
	/* Everyone learns of the stream from the room list (PROTOCOL.md);
	 * updateUsers is not sent again for it, the next one shows it. */
	expect_list(s.d.c, s.r1, s.a.id, "livestate", 1);
	lists_refresh(s.ctx);
	expect_list(s.d.c, NULL, s.a.id, "livestate", 1);
	/* Outside a voice room: ignored, no error, nothing stored. */
	sendp(s.d.c, "{\"type\":\"golive\",\"livestate\":true,\"livelabel\":\"nope\"}");
	rooms_barrier(&s);
	CHECK_EQ_INT(wsc_count_type(s.a.c, "golive"), 1);
	CHECK_EQ_INT(wsc_count_type(s.b.c, "golive"), 1);
	wsc *outside[] = {s.c.c, s.d.c, s.adm, s.bar.c};
	for (size_t i = 0; i < 4; i++)
		CHECK_EQ_INT(wsc_count_type(outside[i], "golive"), 0);
	CHECK_EQ_INT(wsc_count_type(s.d.c, "error"), 0);
	/* Ending the stream: golive false with an empty label, to the room. */
	sendp(s.a.c, "{\"type\":\"golive\",\"livestate\":false,\"livelabel\":\"Screen 1\"}");
	check_golive(s.b.c, &s.a, s.r1, 0, "");
	expect_list(s.d.c, s.r1, s.a.id, "livestate", 0);
	wsc_ctx_free(s.ctx);
}

/* A streamer in a process of its own, so that it can be killed alone: it
 * logs in as `email`, joins `room`, goes live with label "Game", writes its
 * user id into id (64 bytes) and then only keeps its socket serviced.
 * Returns its pid. */
static pid_t streamer_process(const char *email, const char *room, char *id)
{
	int fd[2];
	CHECK(pipe(fd) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		wsc_ctx *ctx = wsc_ctx_new();
		who e = {client(ctx), "", "", 0};
		snprintf(e.id, sizeof e.id, "%s", login(e.c, email, TEST_PASSWORD));
		join(&e, room);
		sendp(e.c, "{\"type\":\"golive\",\"livestate\":true,\"livelabel\":\"Game\"}");
		check_golive(e.c, &e, room, 1, "Game");
		CHECK(write(fd[1], e.id, strlen(e.id)) == (ssize_t)strlen(e.id));
		for (;;)
			wsc_service(ctx, 1000);
	}
	close(fd[1]);
	struct pollfd p = {fd[0], POLLIN, 0};
	ssize_t n = poll(&p, 1, 2 * WAIT_MS) == 1 ? read(fd[0], id, 63) : -1;
	close(fd[0]);
	CHECK_MSG(n == 36, "the streamer process did not go live");
	id[n] = '\0';
	return pid;
}

/* The streamer leaves (leaveroom, or their client dies): the members who
 * stay get golive false; the streamer gets none (it would put the web
 * client back into the room); the lists show the stream ended. */
static void golive_ends(int kill_it)
{
	rooms s;
	who e;
	pid_t pid = 0;
	memset(&e, 0, sizeof e);
	rooms_setup(&s, kill_it ? "gk" : "gq");
	if (kill_it) {
		signup_user(s.ctx, s.adm, "user", "gkstreamer", e.email);
		pid = streamer_process(e.email, s.r1, e.id);
	} else {
		user_at(s.ctx, s.adm, "user", "gqstreamer", gw_port(), &e);
		join(&e, s.r1);
		sendp(e.c, "{\"type\":\"golive\",\"livestate\":true,\"livelabel\":\"Game\"}");
		check_golive(e.c, &e, s.r1, 1, "Game");
	}
	check_golive(s.a.c, &e, s.r1, 1, "Game");
	check_golive(s.b.c, &e, s.r1, 1, "Game");
	expect_list(s.d.c, s.r1, e.id, "livestate", 1);
	lists_refresh(s.ctx); /* updateUsers is not sent again for golive */
	expect_list(s.d.c, NULL, e.id, "livestate", 1);
	if (kill_it) {
		CHECK(kill(pid, SIGKILL) == 0 && waitpid(pid, NULL, 0) == pid);
	} else {
		sendp(e.c, "{\"type\":\"leaveroom\"}");
		json_decref(expect_for(e.c, "leaveRoom", "userid", e.id));
	}
	check_golive(s.a.c, &e, s.r1, 0, "");
	check_golive(s.b.c, &e, s.r1, 0, "");
	expect_list(s.d.c, s.r1, e.id, "livestate", 0);
	lists_refresh(s.ctx); /* nor for a leave: the next one shows it */
	expect_list(s.d.c, NULL, e.id, "livestate", 0);
	wsc *watch[] = {s.a.c, s.b.c, s.c.c, s.d.c, kill_it ? s.adm : e.c};
	barrier(&s.bar, watch, 5);
	if (!kill_it)
		CHECK_EQ_INT(wsc_count_type(e.c, "golive"), 1); /* its own true only */
	CHECK_EQ_INT(wsc_count_type(s.c.c, "golive") + wsc_count_type(s.d.c, "golive"), 0);
	wsc_ctx_free(s.ctx);
}

void test_media_golive_ends_on_leave(void)
{
	golive_ends(0);
}

void test_media_golive_ends_on_kill(void)
{
	golive_ends(1);
}

/* ------------------------------------------------------------- mute */

void test_media_servermute_denied(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who p, t, bar;
	user_at(ctx, adm, "user", "plain", gw_port(), &p);
	user_at(ctx, adm, "user", "mtarget", gw2_port(), &t);
	user_at(ctx, adm, "user", "mbarrier", gw_port(), &bar);
	sendp(p.c, "{\"type\":\"servermute\",\"userid\":\"%s\",\"suppress\":true}", t.id);
	expect_error(p.c, "Permission denied \"suppressUser\"");
	wsc *watch[] = {p.c, t.c, adm};
	barrier(&bar, watch, 3);
	for (size_t i = 0; i < 3; i++)
		CHECK_EQ_INT(wsc_count_type(watch[i], "servermute"), 0);
	CHECK(!wsc_is_closed(p.c));
	wsc_ctx_free(ctx);
}

static void check_mute(wsc *c, const char *uid, int muted)
{
	json_t *j = expect_for(c, "servermute", "userid", uid);
	CHECK_EQ_INT(jbool(j, "message"), muted);
	json_decref(j);
}

void test_media_servermute_everyone(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who t, w;
	user_at(ctx, adm, "user", "muted", gw_port(), &t);
	user_at(ctx, adm, "user", "mwatcher", gw2_port(), &w);
	/* The logins' lists first: one composed before the mute but forwarded
	 * after it is followed by the `servermute` again (gw.h), which would
	 * be taken below for the next change's. */
	wsc_service(ctx, SETTLE_MS);
	sendp(adm, "{\"type\":\"servermute\",\"userid\":\"%s\",\"suppress\":true}", t.id);
	wsc *all[] = {adm, t.c, w.c};
	for (size_t i = 0; i < 3; i++)
		check_mute(all[i], t.id, 1);
	/* Everyone got `servermute`: the lists are not sent again for it,
	 * the next ones show it. */
	lists_refresh(ctx);
	expect_list(w.c, NULL, t.id, "suppress", 1);
	/* The mute belongs to the user: it survives a reconnect. */
	wsc_close(t.c);
	t.c = client_at(ctx, gw2_port());
	login(t.c, t.email, TEST_PASSWORD);
	expect_list(t.c, NULL, t.id, "suppress", 1);
	wsc_service(ctx, SETTLE_MS); /* as above */
	sendp(adm, "{\"type\":\"servermute\",\"userid\":\"%s\",\"suppress\":false}", t.id);
	wsc *all2[] = {adm, t.c, w.c};
	for (size_t i = 0; i < 3; i++)
		check_mute(all2[i], t.id, 0);
	lists_refresh(ctx);
	expect_list(w.c, NULL, t.id, "suppress", 0);
	wsc_ctx_free(ctx);
}

/* ---------------------------------------------------------- talking */

/* Receives until SETTLE_MS pass without a `talking` of uid; returns how
 * many there were and the last value (-1 when none), and the last
 * updateUsers' talking flag of uid in *listed (-1 when none came). */
static int drain_talking(wsc *c, const char *uid, int *last, int *listed)
{
	int n = 0;
	long long quiet_since = now_ms();
	*last = *listed = -1;
	while (now_ms() - quiet_since < SETTLE_MS) {
		json_t *j = wsc_recv(c, 50);
		const char *type = j ? jstr(j, "type") : NULL;
		if (type && !strcmp(type, "talking") && !strcmp(jstr(j, "userid"), uid)) {
			n++;
			*last = jbool(j, "talking");
			quiet_since = now_ms();
		} else if (type && !strcmp(type, "updateUsers")) {
			json_t *u = user_in(j, NULL, uid);
			if (u)
				*listed = jbool(u, "talking");
		}
		json_decref(j);
	}
	return n;
}

/* n toggles true, false, true, ... from a; every listener must end on the
 * last value sent, in its last `talking` frame of a, after far fewer
 * frames than toggles; and the next updateUsers (sent for another reason:
 * none is sent for talking) shows it too. */
static void flood(wsc_ctx *ctx, who *a, wsc *const *listeners, size_t nl, int n)
{
	int want = (n - 1) % 2 == 0;
	long long t0 = now_ms();
	for (int i = 0; i < n; i++)
		sendp(a->c, "{\"type\":\"talking\",\"talking\":%s,\"userid\":\"%s\"}",
		      i % 2 == 0 ? "true" : "false", a->id);
	for (size_t i = 0; i < nl; i++) {
		int last, listed, frames = drain_talking(listeners[i], a->id, &last, &listed);
		printf("talking flood: %d toggles -> %d `talking` frames on listener %zu "
		       "(settled after %lld ms), last %d, updateUsers %d\n",
		       n, frames, i + 1, now_ms() - t0, last, listed);
		CHECK_MSG(frames >= 1 && frames < n / 10, "%d talking frames", frames);
		CHECK_EQ_INT(last, want);
	}
	lists_refresh(ctx);
	for (size_t i = 0; i < nl; i++)
		expect_list(listeners[i], NULL, a->id, "talking", want);
	CHECK_EQ_INT(wsc_count_type(a->c, "error"), 0);
}

void test_media_talking_flood(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, b, c;
	users_at(ctx, adm, gw_port(), "talker", &a, "tlisten1", &b, NULL);
	user_at(ctx, adm, "user", "tlisten2", gw2_port(), &c);
	wsc *listeners[] = {b.c, c.c};
	/* Ends on false: the true sent at once must be followed by the final
	 * false, never lost. */
	flood(ctx, &a, listeners, 2, 1000);
	/* Ends on true, the value the first frame showed. */
	flood(ctx, &a, listeners, 2, 999);
	/* A later single change still goes out at once. */
	sendp(a.c, "{\"type\":\"talking\",\"talking\":false}");
	expect_talking(b.c, a.id, 0);
	lists_refresh(ctx);
	expect_list(c.c, NULL, a.id, "talking", 0);
	wsc_ctx_free(ctx);
}

/* Ordinary talking is not delayed: two changes within the burst (on, then
 * off at once) both reach every listener right away, not 100 ms apart as
 * a fixed spacing would have them, and without a trailing announcement. */
void test_media_talking_burst(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, b, c;
	users_at(ctx, adm, gw_port(), "quick", &a, "qlisten1", &b, NULL);
	user_at(ctx, adm, "user", "qlisten2", gw2_port(), &c);
	int media = health_port("mediasvc");
	long trailing = metric_at(media, "mediasvc_talking_trailing_total");
	long sent = metric_at(media, "mediasvc_talking_broadcasts_total");
	wsc *listeners[] = {b.c, c.c};
	/* The logins' lists first: a list composed before a `talking` but
	 * forwarded after it is followed by that `talking` again (gw.h). */
	wsc_service(ctx, SETTLE_MS);
	for (size_t i = 0; i < 2; i++) {
		json_t *j;
		while ((j = wsc_recv(listeners[i], 0)))
			json_decref(j);
	}
	long long t0 = now_ms();
	sendp(a.c, "{\"type\":\"talking\",\"talking\":true}");
	sendp(a.c, "{\"type\":\"talking\",\"talking\":false}");
	for (size_t i = 0; i < 2; i++) {
		expect_talking(listeners[i], a.id, 1);
		long long on = now_ms() - t0;
		expect_talking(listeners[i], a.id, 0);
		long long off = now_ms() - t0;
		printf("talking on, off: listener %zu got them after %lld and %lld ms\n", i + 1, on,
		       off);
		CHECK_MSG(off < 90, "talking false came %lld ms after it was sent", off);
	}
	/* Nothing more comes for them, and nothing was held back. */
	for (size_t i = 0; i < 2; i++) {
		int last, listed;
		CHECK_EQ_INT(drain_talking(listeners[i], a.id, &last, &listed), 0);
	}
	CHECK_EQ_INT(metric_at(media, "mediasvc_talking_broadcasts_total"), sent + 2);
	CHECK_EQ_INT(metric_at(media, "mediasvc_talking_trailing_total"), trailing);
	wsc_ctx_free(ctx);
}

static long setting(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? atol(v) : def;
}

/* Shaping with two mediasvc instances: each user has one bucket, in Redis,
 * whichever instance takes a change. Changes are sent straight over the bus
 * (as gateways send them, but without a gateway's own collapsing of one
 * connection's queued `talking`), alternating, one at a time: the first
 * `burst` go out at once, then about `rate` per second, and listeners end
 * on the last value. Two buckets would let about twice the burst through. */
void test_media_talking_shaped(void)
{
	enum { N = 200 };
	long burst = setting("REBUTTAL_TALKING_BURST", 20),
	     rate = setting("REBUTTAL_TALKING_RATE", 50);
	CHECK_EQ_INT(stack("start-part mediasvc m2", NULL, 0), 0);
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, b;
	user_at(ctx, adm, "user", "shaped", gw_port(), &a);
	user_at(ctx, adm, "user", "slisten", gw2_port(), &b);
	bus *bb = bus_as("tester", "integ-media");
	wsc_service(ctx, SETTLE_MS); /* the logins' lists (see talking_burst) */
	json_t *j;
	while ((j = wsc_recv(b.c, 0)))
		json_decref(j);

	char rid[UUID_STR_LEN + 1];
	Rb__CTalking t = RB__CTALKING__INIT;
	Rb__Envelope env = RB__ENVELOPE__INIT;
	env.request_id = rid;
	env.gateway_id = "integ-media-gw";
	env.conn_id = "1";
	env.user_id = a.id;
	env.payload_case = RB__ENVELOPE__PAYLOAD_TALKING;
	env.talking = &t;
	t.has_talking = 1;
	long long t0 = now_ms();
	for (int i = 0; i < N; i++) {
		uuid_new(rid);
		t.talking = i % 2 == 0;
		Rb__Reply *r = ask(bb, "rb.media.talking", &env);
		CHECK_EQ_INT(r->code, RB__CODE__OK);
		rb__reply__free_unpacked(r, NULL);
	}
	long long took = now_ms() - t0;
	int last, listed, frames = drain_talking(b.c, a.id, &last, &listed);
	long most = burst + rate * took / 1000 + 3; /* + the trailing value, + rounding */
	printf("talking shaped: %d changes in %lld ms over two instances -> %d broadcasts "
	       "(burst %ld, rate %ld/s: %ld at most), last %d\n",
	       N, took, frames, burst, rate, most, last);
	CHECK_MSG(frames >= burst && frames <= most, "%d broadcasts", frames);
	CHECK_EQ_INT(last, (N - 1) % 2 == 0);
	wsc_ctx_free(ctx);
	stack("kill mediasvc-m2 TERM", NULL, 0);
}
