/* msgsvc beside other parts and instances: the events it consumes (a user
 * removed or renamed, a room removed) and several instances serving one
 * room. Racing clients, retries and the outbox are in integ_msg_race.c,
 * crashes and stops in integ_msg_crash.c. Helpers shared with the other
 * integ_msg*.c are declared in list_msg.h (prefix mt_). */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "integ.h"
#include "list_msg.h"
#include "rebuttal.pb-c.h"

/* ------------------------------------------------------------ helpers */

/* Publishes an auth event as authsvc would. */
static void user_event(bus *b, const char *what, const char *id, const char *name, int vengeance)
{
	Rb__UserEvent ev = RB__USER_EVENT__INIT;
	char subject[64];
	ev.id = (char *)id;
	ev.name = (char *)name;
	ev.has_withvengence = vengeance;
	ev.withvengence = vengeance;
	snprintf(subject, sizeof subject, "rb.evt.auth.%s", what);
	CHECK(bus_publish_pb(b, subject, &ev.base) == 0);
	CHECK(bus_flush(b, WAIT_MS) == 0);
}

/* ------------------------------------------------------------- events */

void test_msg_vengeance_masks(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	char room[64], uid[64], img[256];
	long S = mt_seg_size();
	wsc *u = mt_user_and_room(ctx, adm, "villain", uid, room);
	size_t n;
	uint8_t *png = mt_png_make(3, 3, &n);
	snprintf(img, sizeof img, "%s", mt_send_image(u, uid, room, "v.png", png, n, 3, 3));
	for (long i = 1; i < S; i++)
		mt_say_ok(adm, room, "bystander");
	long long last = mt_say_ok(u, room, "in the next segment");
	/* Without vengeance nothing changes; with it, everything of theirs. */
	user_event(b, "user_removed", uid, "villain", 0);
	user_event(b, "user_removed", uid, "villain", 1);
	json_t *f0, *f1;
	mt_check_removed(mt_changed(adm, room, 0, REMOVED, &f0), 0, "villain");
	mt_check_removed(mt_changed(adm, room, last, REMOVED, &f1), last, "villain");
	CHECK_EQ_STR(jstr(mt_msg_at(f0, 1), "text"), "bystander");
	json_decref(f0), json_decref(f1);
	mt_check_gone(b, img);
	free(png);
	wsc_ctx_free(ctx);
}

/* Waits for an updateRooms without the room (an error fails the test). */
static void room_gone(wsc *adm, const char *room)
{
	for (long long until = now_ms() + WAIT_MS; now_ms() < until;) {
		json_t *j = wsc_expect_noerr(adm, "updateRooms", WAIT_MS), *r;
		CHECK_MSG(j, "removeroom: %s", wsc_last_error(adm));
		int found = 0;
		size_t i;
		json_array_foreach(json_object_get(j, "roomList"), i, r) found |=
			jstr(r, "id") && !strcmp(jstr(r, "id"), room);
		json_decref(j);
		if (!found)
			return;
	}
	rt_fail(__FILE__, __LINE__, "room %s still listed after removeroom", room);
}

void test_msg_room_removed_deletes(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	PGconn *pg = mt_test_pg();
	char room[64], uid[64], img[256];
	snprintf(uid, sizeof uid, "%s", login(client(ctx), "root@localhost", admin_password()));
	mt_new_room(adm, "text", room);
	size_t n;
	uint8_t *png = mt_png_make(5, 4, &n);
	snprintf(img, sizeof img, "%s", mt_send_image(adm, uid, room, "r.png", png, n, 5, 4));
	sendp(adm, "{\"type\":\"removeroom\",\"roomid\":\"%s\"}", room);
	room_gone(adm, room);
	/* The event reaches msgsvc independently of the reply: poll. */
	mt_no_rows(pg, "messages", room, WAIT_MS);
	mt_check_gone(b, img);
	mt_say(adm, room, "into the removed room");
	expect_error(adm, "no such room");
	free(png);
	PQfinish(pg);
	wsc_ctx_free(ctx);
}

void test_msg_username_at_send_time(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	char room[64], uid[64];
	wsc *u = mt_user_and_room(ctx, adm, "before", uid, room);
	mt_say_ok(u, room, "one");
	/* authsvc announces a rename (as updateuser will). */
	user_event(b, "user_updated", uid, "after", 0);
	usleep(200000);
	json_t *f;
	mt_say(u, room, "two");
	json_t *m = mt_expect_sent(u, &f);
	CHECK_EQ_STR(jstr(m, "username"), "after");
	json_decref(f);
	json_t *ut = mt_get_segment(u, room, 0);
	CHECK_EQ_STR(jstr(mt_msg_at(ut, 0), "username"), "before");
	CHECK_EQ_STR(jstr(mt_msg_at(ut, 1), "username"), "after");
	json_decref(ut);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------ several instances */

typedef struct {
	int replies, ok;
} tally;

/* cnats thread or the caller's (timeout). */
static void on_reply(void *ud, enum bus_result res, const void *data, size_t len)
{
	tally *t = ud;
	Rb__Reply *r = res == BUS_REPLY ? rb__reply__unpack(NULL, len, data) : NULL;
	if (r && (!r->has_code || r->code == RB__CODE__OK))
		__atomic_add_fetch(&t->ok, 1, __ATOMIC_SEQ_CST);
	if (r)
		rb__reply__free_unpacked(r, NULL);
	__atomic_add_fetch(&t->replies, 1, __ATOMIC_SEQ_CST);
}

/* The same request n times at once (the queue group spreads them). */
static void retries_at_once(bus *b, const Rb__Envelope *env, int n)
{
	size_t len = protobuf_c_message_get_packed_size(&env->base);
	uint8_t *p = malloc(len);
	tally t = {0, 0};
	CHECK_NOT_NULL(p);
	protobuf_c_message_pack(&env->base, p);
	for (int i = 0; i < n; i++)
		CHECK(bus_request(b, "rb.msg.message", p, len, WAIT_MS, 0, on_reply, &t) == 0);
	for (long long until = now_ms() + 2 * WAIT_MS;
	     __atomic_load_n(&t.replies, __ATOMIC_SEQ_CST) < n && now_ms() < until;)
		bus_tick(b), usleep(10000);
	CHECK_EQ_INT(__atomic_load_n(&t.ok, __ATOMIC_SEQ_CST), n);
	free(p);
}

void test_msg_two_instances_consistent(void)
{
	CHECK_EQ_INT(stack("start-part msgsvc 2", NULL, 0), 0);
	/* A retry reaching msgsvc-2 before its directory is loaded would be
	 * refused "not ready, try again" (a flake seen once in a full run). */
	mt_wait_ready("msgsvc"), mt_wait_ready("msgsvc-2");
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	mt_sender *ss = mt_senders_new(2);
	char room[64], uid[64];
	enum { EACH = 15 };
	mt_free_texts(mt_race(ctx, adm, room, EACH, ss), 2 * EACH);
	mt_senders_free(ss, 2);
	/* Retries racing each other on two instances store one message. */
	snprintf(uid, sizeof uid, "%s", login(client(ctx), "root@localhost", admin_password()));
	mt_message_req q;
	mt_message_req_init(&q, uid, room, "raced retries");
	retries_at_once(b, &q.env, 6);
	CHECK_EQ_INT(mt_count_sent(adm, room), 1);
	json_t *ut = mt_get_segment(adm, room, -1);
	json_t *m = json_array_get(mt_msgs_of(ut), json_array_size(mt_msgs_of(ut)) - 1);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "idx")), 2 * EACH);
	json_decref(ut);
	wsc_ctx_free(ctx);
	CHECK_EQ_INT(stack("kill msgsvc-2 TERM", NULL, 0), 0);
}
