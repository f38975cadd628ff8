#define _GNU_SOURCE
/* Lists and what they may overtake or be overtaken by.
 *
 * A gateway keeps at most one unsent updateUsers and one unsent updateRooms
 * per connection, the newest, so a client that stops reading while the
 * lists change many times ends, once it reads again, with the newest lists
 * and no backlog of old ones, and lists alone never get it closed as a slow
 * consumer.
 *
 * updateUsers is not sent again for `talking`, `servermute`, joins and
 * leaves, so a list composed before such a change but forwarded after its
 * packet would leave clients on the old value: the gateway sends the
 * `talking` again after the list, or asks roomsvc for a fresh updateUsers
 * (DESIGN.md). Such a late list is made here by publishing one, with the
 * versions it would have had, as a second roomsvc instance would. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"
#include "kv.h"
#include "list_room.h"

#define LISTS_GW "gateway lc"      /* instance gateway-lc: its queues are watched */
#define BURST 40                   /* rounds of one room rename and one user rename */
#define OUTQ_MAX 327680            /* the slow client's gateway's limit (bytes of packets) */
#define STUFFED (OUTQ_MAX - 40000) /* bytes of packets queued before the lists */

/* Frames read from a raw socket: the server's frames are unmasked. */
typedef struct {
	unsigned char *data;
	size_t len, cap;
	int closed; /* a close frame came */
} raw_in;

typedef void (*raw_frame_fn)(void *ud, const char *text, size_t len);

/* Hands every complete frame in r to fn and keeps the incomplete rest. */
static void raw_split(raw_in *r, raw_frame_fn fn, void *ud)
{
	size_t off = 0;
	for (;;) {
		unsigned char *p = r->data + off;
		size_t have = r->len - off, h = 2;
		if (have < 2)
			break;
		uint64_t n = p[1] & 0x7f;
		if (n == 126) {
			h = 4;
			n = have >= 4 ? (uint64_t)p[2] << 8 | p[3] : 0;
		} else if (n == 127) {
			h = 10;
			n = 0;
			for (int i = 0; i < 8 && have >= 10; i++)
				n = n << 8 | p[2 + i];
		}
		if (have < h || have - h < n)
			break;
		if ((p[0] & 0x0f) == 8)
			r->closed = 1;
		else if ((p[0] & 0x0f) == 1)
			fn(ud, (const char *)p + h, (size_t)n);
		off += h + (size_t)n;
	}
	memmove(r->data, r->data + off, r->len - off);
	r->len -= off;
}

/* Reads fd until nothing came for quiet_ms, handing each text frame to fn. */
static void raw_read_all(int fd, int quiet_ms, raw_frame_fn fn, void *ud)
{
	raw_in r = {NULL, 0, 0, 0};
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, quiet_ms) <= 0)
			break;
		if (r.cap - r.len < 65536) {
			r.cap = r.cap ? r.cap * 2 : 1 << 20;
			r.data = realloc(r.data, r.cap);
			CHECK_NOT_NULL(r.data);
		}
		ssize_t n = read(fd, r.data + r.len, r.cap - r.len);
		if (n <= 0)
			break;
		r.len += (size_t)n;
		raw_split(&r, fn, ud);
	}
	CHECK_MSG(!r.closed, "the gateway closed the client that read slowly");
	free(r.data);
}

/* What the slow client found once it read: the lists that mention the
 * burst's names, and the last of them. */
typedef struct {
	const char *room_prefix, *user_prefix;
	int rooms, users;
	char last_room[64], last_user[64];
} seen;

/* The name after `"name":"<prefix>` in data, up to the closing quote. */
static void name_after(const char *data, size_t len, const char *prefix, char *out)
{
	char key[96];
	int k = snprintf(key, sizeof key, "\"name\":\"%s", prefix);
	const char *p = memmem(data, len, key, (size_t)k);
	size_t i = 0;
	for (p += 8; p < data + len && *p != '"' && i < 63; p++)
		out[i++] = *p;
	out[i] = '\0';
}

static void on_slow_frame(void *ud, const char *data, size_t len)
{
	seen *s = ud;
	static const char rooms[] = "{\"type\":\"updateRooms\"",
			  users[] = "{\"type\":\"updateUsers\"";
	char key[96];
	if (len > sizeof rooms && !memcmp(data, rooms, sizeof rooms - 1)) {
		int k = snprintf(key, sizeof key, "\"name\":\"%s", s->room_prefix);
		if (memmem(data, len, key, (size_t)k)) {
			s->rooms++;
			name_after(data, len, s->room_prefix, s->last_room);
		}
	} else if (len > sizeof users && !memcmp(data, users, sizeof users - 1)) {
		int k = snprintf(key, sizeof key, "\"name\":\"%s", s->user_prefix);
		if (memmem(data, len, key, (size_t)k)) {
			s->users++;
			name_after(data, len, s->user_prefix, s->last_user);
		}
	}
}

/* Waits for c's list of `type` naming `name` (another client's view that
 * the change went out); counts the lists of that type it read meanwhile. */
static void wait_named(wsc *c, const char *type, const char *name, int *lists)
{
	long long until = now_ms() + WAIT_MS;
	char key[96];
	snprintf(key, sizeof key, "\"name\":\"%s\"", name);
	for (;;) {
		json_t *j = wsc_expect(c, type, (int)(until - now_ms()));
		CHECK_MSG(j, "no %s naming %s: %s", type, name, wsc_last_error(c));
		(*lists)++;
		char *s = json_dumps(j, JSON_COMPACT);
		int found = s && strstr(s, key);
		free(s);
		json_decref(j);
		if (found)
			return;
	}
}

/* Fills the slow client's socket and then its gateway queue with messages
 * (packets, ~12 KB a message with its updateText) until the queue holds
 * `bytes` of them. The kernel takes megabytes first, and may take more
 * later as it grows the socket's buffers: a deep queue stays non-empty
 * through the test whatever it takes. Returns the frames queued. */
static long stuff(wsc_ctx *ctx, int port, wsc *adm, const char *room, long bytes)
{
	static char text[2001];
	memset(text, 'x', 2000);
	for (int i = 0; i < 3000; i++) {
		sendp(adm,
		      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"%d %s\"}}",
		      room, i, text);
		json_decref(expect(adm, "updateText"));
		if (metric_at(port, "rebuttal_gateway_outq_bytes") < bytes)
			continue;
		wsc_service(ctx, 200); /* the last of them arrive */
		return metric_at(port, "rebuttal_gateway_outq_frames");
	}
	CHECK_MSG(0, "the gateway never held %ld bytes back for a client that reads nothing",
		  bytes);
	return 0;
}

void test_room_lists_conflated(void)
{
	char limit[48];
	/* A limit just above what is stuffed: the burst's 80 lists (tens of KB)
	 * would pass it if they counted; one list of each kind does not. */
	snprintf(limit, sizeof limit, "REBUTTAL_OUTQ_MAX=%d", OUTQ_MAX);
	const char *const outq[] = {limit, NULL};
	int port = gateway_with(LISTS_GW, outq);
	int fd = raw_login(port);

	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u;
	user_at(ctx, adm, "user", "lcuser", gw_port(), &u);
	char text_room[64], voice[64], name[64];
	room_new(adm, "text", "", text_room, name);
	room_new(adm, "voice", "", voice, name);
	long queued = stuff(ctx, port, adm, text_room, STUFFED);

	/* Many lists of both kinds while the client reads nothing. */
	char room_prefix[32], user_prefix[32], room_name[64] = "", user_name[64] = "";
	snprintf(room_prefix, sizeof room_prefix, "lc%s-", uniq());
	snprintf(user_prefix, sizeof user_prefix, "lu%s-", uniq());
	int rooms_sent = 0, users_sent = 0;
	for (int i = 0; i < BURST; i++) {
		snprintf(room_name, sizeof room_name, "%s%d", room_prefix, i);
		snprintf(user_name, sizeof user_name, "%s%d", user_prefix, i);
		sendp(adm, "{\"type\":\"updateroom\",\"roomid\":\"%s\",\"roomName\":\"%s\"}", voice,
		      room_name);
		sendp(adm, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"%s\"}", u.id,
		      user_name);
		wait_named(adm, "updateRooms", room_name, &rooms_sent);
		wait_named(adm, "updateUsers", user_name, &users_sent);
	}
	wsc_service(ctx, 300); /* the last lists reach the slow client's gateway */
	long replaced = metric_at(port, "rebuttal_gateway_lists_replaced_total");
	long now_queued = metric_at(port, "rebuttal_gateway_outq_frames");
	printf("slow client: %ld frames queued before, %ld after %d updateRooms and %d "
	       "updateUsers; %ld lists replaced\n",
	       queued, now_queued, rooms_sent, users_sent, replaced);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_slow_consumers_total"), 0);
	/* One list of each kind more than before, however many went out. */
	CHECK_MSG(now_queued <= queued + 2, "%ld frames queued after the lists, %ld before",
		  now_queued, queued);
	CHECK_MSG(replaced >= BURST, "only %ld lists replaced", replaced);

	/* Reading again: one list of each kind from the burst, the newest. */
	seen s = {room_prefix, user_prefix, 0, 0, "", ""};
	raw_read_all(fd, 500, on_slow_frame, &s);
	printf("slow client read %d updateRooms and %d updateUsers of the burst\n", s.rooms,
	       s.users);
	CHECK_EQ_INT(s.rooms, 1);
	CHECK_EQ_INT(s.users, 1);
	CHECK_EQ_STR(s.last_room, room_name);
	CHECK_EQ_STR(s.last_user, user_name);
	close(fd);
	wsc_ctx_free(ctx);
	stack("kill gateway-lc TERM", NULL, 0);
}

/* --------------------------------------------------- overtaken lists */

/* state:version and mediasvc:version as Redis has them now. */
static void versions_now(uint64_t *state, uint64_t *media)
{
	kv_addr a = {rt_env("REBUTTAL_REDIS_HOST"), atoi(rt_env("REBUTTAL_REDIS_PORT")), "roomsvc",
		     secret_text("redis-roomsvc")};
	kv *st = kv_open(&a);
	redisReply *r = NULL;
	CHECK_NOT_NULL(st);
	CHECK_EQ_INT(kv_cmdf(st, &r, "MGET state:version mediasvc:version"), KV_OK);
	*state = (uint64_t)kv_reply_int(kv_reply_elem(r, 0), 0);
	*media = (uint64_t)kv_reply_int(kv_reply_elem(r, 1), 0);
	CHECK(*state > 0 && *media > 0);
	freeReplyObject(r);
	kv_close(st);
}

/* An updateUsers composed at these versions, late: it lists uid (named
 * "late list") online, not talking, in no room. */
static void publish_late_users(bus *b, uint64_t state, uint64_t media, const char *uid)
{
	Rb__User u = RB__USER__INIT;
	Rb__User *list[] = {&u};
	Rb__SUsers su = RB__SUSERS__INIT;
	Rb__Delivery d = RB__DELIVERY__INIT;
	u.id = (char *)uid;
	u.name = "late list";
	u.livelabel = "";
	u.has_status = u.has_talking = u.has_hidden = u.has_suppress = u.has_livestate = 1;
	u.status = 1; /* the rest false, currentRoom null */
	su.userlist = list;
	su.n_userlist = 1;
	d.has_version = d.has_media_version = 1;
	d.version = state;
	d.media_version = media;
	d.packet_case = RB__DELIVERY__PACKET_UPDATE_USERS;
	d.updateusers = &su;
	CHECK_EQ_INT(bus_publish_pb(b, "rb.out.all", &d.base), 0);
	CHECK_EQ_INT(bus_flush(b, WAIT_MS), 0);
}

/* The late list, then (nothing else in between about uid) `talking` value
 * of uid again. */
static void expect_late_then_talking(wsc *c, const char *uid, int value)
{
	json_t *j = wait_list_at(__FILE__, __LINE__, c, "updateUsers", ok_user,
				 &(want){.uid = uid, .flag = 1}, "the late list", WAIT_MS);
	CHECK_EQ_STR(jstr(user_in(j, uid), "name"), "late list");
	json_decref(j);
	for (;;) {
		j = wsc_recv(c, WAIT_MS);
		CHECK_MSG(j, "no `talking` after the late list: %s", wsc_last_error(c));
		if (streq(jstr(j, "type"), "talking") && streq(jstr(j, "userid"), uid))
			break;
		CHECK_MSG(!streq(jstr(j, "type"), "updateUsers"), "another updateUsers came first");
		json_decref(j);
	}
	CHECK_EQ_INT(jbool(j, "talking"), value);
	json_decref(j);
}

void test_room_lists_overtaken(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who u, o;
	users_at(ctx, adm, gw_port(), "ovtalker", &u, "ovobs", &o, NULL);
	char room[64], name[64];
	room_new(adm, "voice", "", room, name);
	bus *b = bus_as("tester", "integ-room-lists");
	long replayed = metric_at(gw_port(), "rebuttal_gateway_broadcasts_replayed_total");
	long stale = metric_at(gw_port(), "rebuttal_gateway_lists_stale_total");
	settle(ctx, o.c); /* no list is on its way */

	/* A list composed before u's `talking` true comes after it: the
	 * gateway sends the `talking` again after the list. */
	sendp(u.c, "{\"type\":\"talking\",\"talking\":true}");
	expect_about(o.c, "talking", u.id, NULL);
	uint64_t state, media;
	versions_now(&state, &media);
	publish_late_users(b, state, media - 1, u.id);
	expect_late_then_talking(o.c, u.id, 1);
	CHECK_EQ_INT(metric_at(gw_port(), "rebuttal_gateway_broadcasts_replayed_total"),
		     replayed + 1);

	/* A list composed before u's join comes after its joinRoom: the
	 * gateway asks for a fresh updateUsers, which shows u in the room
	 * (nothing else would send one: none is sent for a join). */
	join(&u, room);
	expect_about(o.c, "joinRoom", u.id, room);
	settle(ctx, o.c);
	versions_now(&state, &media);
	publish_late_users(b, state - 1, media, u.id);
	json_decref(wait_list_at(__FILE__, __LINE__, o.c, "updateUsers", ok_user,
				 &(want){.uid = u.id, .flag = 1}, "the late list", WAIT_MS));
	json_decref(wait_user(o.c, u.id, 1, room));
	CHECK(metric_at(gw_port(), "rebuttal_gateway_lists_stale_total") >= stale + 1);
	CHECK(metric_at(health_port("roomsvc"), "roomsvc_lists_stale_total") >= 1);
	bus_close(b);
	wsc_ctx_free(ctx);
}
