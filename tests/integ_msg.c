/* msgsvc: sending, history segments, images, edits and removals; over the
 * real gateway, and over the bus where a test needs what no client can do.
 * Ordering, retries and the outbox are in integ_msg_race.c, crashes and
 * stops in integ_msg_crash.c, consumed events and several instances in integ_msg_events.c; the helpers
 * they share are declared in list_msg.h (prefix mt_). */
#define _GNU_SOURCE
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "httpc.h"
#include "integ.h"
#include "list_msg.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"

#define UPLOAD_MAX 8388608

/* ------------------------------------------------------------ helpers */

long mt_seg_size(void)
{
	const char *s = getenv("REBUTTAL_SEGMENT_SIZE");
	return s && *s ? atol(s) : 5;
}

/* Creates a room of `type` named msg-<uniq>; its id into out (64 bytes). */
void mt_new_room(wsc *adm, const char *type, char *out)
{
	char full[64];
	CHECK(sodium_init() >= 0); /* for uuid_new in the tests; idempotent */
	snprintf(full, sizeof full, "msg-%s", uniq());
	sendp(adm, "{\"type\":\"createroom\",\"roomType\":\"%s\",\"roomName\":\"%s\"}", type, full);
	long long until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		json_t *j = expect(adm, "updateRooms"), *r;
		size_t i;
		json_array_foreach(json_object_get(j, "roomList"), i, r)
		{
			if (jstr(r, "name") && !strcmp(jstr(r, "name"), full)) {
				snprintf(out, 64, "%s", jstr(r, "id"));
				json_decref(j);
				return;
			}
		}
		json_decref(j);
	}
	rt_fail(__FILE__, __LINE__, "room %s never showed in updateRooms", full);
}

/* A fresh account in group user, logged in; its id into uid (64 bytes). */
wsc *mt_new_user(wsc_ctx *ctx, wsc *adm, const char *name, char *uid)
{
	char email[64];
	signup_user(ctx, adm, "user", name, email);
	wsc *c = client(ctx);
	snprintf(uid, 64, "%s", login(c, email, TEST_PASSWORD));
	return c;
}

wsc *mt_user_and_room(wsc_ctx *ctx, wsc *adm, const char *name, char *uid, char *room)
{
	wsc *c = mt_new_user(ctx, adm, name, uid);
	mt_new_room(adm, "text", room);
	return c;
}

void mt_say(wsc *c, const char *room, const char *text)
{
	sendp(c, "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"%s\"}}", room,
	      text);
}

/* The next sendMessage's message object (caller decrefs the frame *f). */
json_t *mt_expect_sent(wsc *c, json_t **f)
{
	*f = wsc_expect_noerr(c, "sendMessage", WAIT_MS);
	CHECK_MSG(*f, "no sendMessage: %s", wsc_last_error(c));
	return json_object_get(*f, "message");
}

/* Waits for an updateText of room/seg and returns it. */
json_t *mt_expect_text(wsc *c, const char *room, long long seg)
{
	long long until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		json_t *j = expect(c, "updateText");
		if (!strcmp(jstr(j, "roomid"), room) &&
		    json_integer_value(json_object_get(j, "segment")) == seg)
			return j;
		json_decref(j);
	}
	rt_fail(__FILE__, __LINE__, "no updateText for %s segment %lld", room, seg);
}

/* The message with idx in an updateText frame, or NULL. */
json_t *mt_msg_at(json_t *ut, long long idx)
{
	json_t *m;
	size_t i;
	json_array_foreach(json_object_get(ut, "messages"), i,
			   m) if (json_integer_value(json_object_get(m, "idx")) == idx) return m;
	return NULL;
}

/* Waits for the sendMessage of `text` in room (earlier broadcasts that
 * queued up on c are skipped) and then for the updateText that follows it,
 * so that nothing of this message is left queued on c. The frame of the
 * sendMessage goes to *f; returns its message. */
static json_t *expect_own(wsc *c, const char *room, const char *text, json_t **f)
{
	long long until = now_ms() + WAIT_MS;
	for (;;) {
		json_t *m = mt_expect_sent(c, f);
		if (!strcmp(jstr(*f, "roomid"), room) && !strcmp(jstr(m, "text"), text)) {
			long long idx = json_integer_value(json_object_get(m, "idx"));
			json_t *ut;
			while (!mt_msg_at(ut = mt_expect_text(c, room, idx / mt_seg_size()), idx))
				json_decref(ut);
			json_decref(ut);
			return m;
		}
		json_decref(*f);
		CHECK_MSG(now_ms() < until, "no sendMessage of \"%s\"", text);
	}
}

/* Sends text and waits for its broadcasts; returns its idx. */
long long mt_say_ok(wsc *c, const char *room, const char *text)
{
	json_t *f;
	mt_say(c, room, text);
	long long idx = json_integer_value(json_object_get(expect_own(c, room, text, &f), "idx"));
	json_decref(f);
	return idx;
}

/* getmessages for seg (-1: none given); the updateText frame. */
json_t *mt_get_segment(wsc *c, const char *room, long long seg)
{
	if (seg < 0)
		sendp(c, "{\"type\":\"getmessages\",\"roomid\":\"%s\"}", room);
	else
		sendp(c, "{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":%lld}", room,
		      seg);
	json_t *j = wsc_expect_noerr(c, "updateText", WAIT_MS);
	CHECK_MSG(j, "getmessages %s %lld: %s", room, seg, wsc_last_error(c));
	CHECK_EQ_STR(jstr(j, "roomid"), room);
	return j;
}

/* Every message object has all eleven fields (PROTOCOL.md §2). */
void mt_check_shape(json_t *m)
{
	static const char *const keys[] = {"roomid", "idx",  "userid", "username", "text",  "tags",
					   "url",    "type", "img",    "width",    "height"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		CHECK_MSG(json_object_get(m, keys[i]), "message lacks %s", keys[i]);
	CHECK(json_is_array(json_object_get(m, "tags")));
}

json_t *mt_msgs_of(json_t *ut)
{
	return json_object_get(ut, "messages");
}

/* ------------------------------------------------------ images, bytes */

static uint32_t crc32_of(const uint8_t *p, size_t n, uint32_t crc)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static uint8_t *put32(uint8_t *q, uint32_t v)
{
	q[0] = (uint8_t)(v >> 24), q[1] = (uint8_t)(v >> 16), q[2] = (uint8_t)(v >> 8),
	q[3] = (uint8_t)v;
	return q + 4;
}

/* Appends a PNG chunk at q; returns the end. */
static uint8_t *chunk(uint8_t *q, const char *type, const uint8_t *data, uint32_t len)
{
	q = put32(q, len);
	memcpy(q, type, 4);
	if (len) /* IEND has no data (and NULL is not a valid memcpy source) */
		memcpy(q + 4, data, len);
	uint32_t crc = crc32_of(q, len + 4, 0);
	return put32(q + 4 + len, crc);
}

/* A real w x h RGB PNG (gray pixels; zlib with stored blocks). Caller frees. */
uint8_t *mt_png_make(uint32_t w, uint32_t h, size_t *len)
{
	size_t raw_len = (size_t)h * (1 + 3 * w), nblocks = raw_len / 65535 + 1;
	uint8_t *raw = malloc(raw_len), *z = malloc(raw_len + 5 * nblocks + 6);
	uint8_t *png = malloc(raw_len + 5 * nblocks + 64), *q = z;
	CHECK(raw && z && png);
	for (size_t i = 0; i < raw_len; i++)
		raw[i] = i % (1 + 3 * w) ? 0x80 : 0; /* filter byte 0, then pixels */
	*q++ = 0x78, *q++ = 0x01;
	uint32_t a = 1, b = 0;
	for (size_t off = 0; off < raw_len || off == 0;) {
		size_t n = raw_len - off > 65535 ? 65535 : raw_len - off;
		*q++ = off + n == raw_len;
		*q++ = (uint8_t)n, *q++ = (uint8_t)(n >> 8), *q++ = (uint8_t)~n,
		*q++ = (uint8_t)(~n >> 8);
		memcpy(q, raw + off, n);
		q += n, off += n;
		if (!n)
			break;
	}
	for (size_t i = 0; i < raw_len; i++)
		a = (a + raw[i]) % 65521, b = (b + a) % 65521;
	q = put32(q, b << 16 | a);
	uint8_t ihdr[13] = {0}, *e = png;
	put32(ihdr, w), put32(ihdr + 4, h), ihdr[8] = 8, ihdr[9] = 2;
	memcpy(e, "\x89PNG\r\n\x1a\n", 8);
	e = chunk(chunk(chunk(e + 8, "IHDR", ihdr, 13), "IDAT", z, (uint32_t)(q - z)), "IEND", NULL,
		  0);
	*len = (size_t)(e - png);
	free(raw), free(z);
	return png;
}

static char *b64_of(const uint8_t *p, size_t n)
{
	size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(cap);
	CHECK_NOT_NULL(s);
	sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	return s;
}

/* Sends a message with an attachment (bytes base64-encoded here). */
static void say_file(wsc *c, const char *room, const char *text, const char *filename,
		     const uint8_t *p, size_t n)
{
	char *b = b64_of(p, n);
	sendp(c,
	      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"%s\"},"
	      "\"filename\":\"%s\",\"rawfile\":\"%s\"}",
	      room, text, filename, b);
	free(b);
}

/* ------------------------------------------------------------ the bus */

/* One connection per test process, never closed: lib/bus.c's disconnect
 * callback can still run after bus_close has freed the bus (ASan sees a
 * use after free), and each test is a process of its own anyway. */
bus *mt_test_bus(void)
{
	static bus *b;
	if (!b)
		b = bus_as("tester", "integ-msg");
	return b;
}

/* get_upload of img ("uploads/<path>") over the bus; the reply. */
static Rb__Reply *get_upload(bus *b, const char *img)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__GetUpload gu = RB__GET_UPLOAD__INIT;
	CHECK(!strncmp(img, "uploads/", 8));
	gu.path = (char *)img + 8;
	env.payload_case = RB__ENVELOPE__PAYLOAD_GET_UPLOAD;
	env.get_upload = &gu;
	return ask(b, "rb.msg.get_upload", &env);
}

/* GET /<img> on the gateway; the status (and the bytes into *out when 200). */
static int http_upload(const char *img, httpc_resp *out)
{
	char path[512];
	snprintf(path, sizeof path, "/%s", img);
	CHECK_MSG(httpc_get("127.0.0.1", gw_port(), path, WAIT_MS, out) == 0, "GET %s: %s", path,
		  httpc_last_error());
	return out->status;
}

/* The upload behind img is exactly p[0..n) with this content type, over
 * the bus and over HTTP. */
static void check_served(bus *b, const char *img, const char *type, const uint8_t *p, size_t n)
{
	Rb__Reply *r = get_upload(b, img);
	CHECK_EQ_INT(r->has_code ? r->code : 0, RB__CODE__OK);
	CHECK_EQ_STR(r->content_type, type);
	CHECK(r->has_data && r->data.len == n && !memcmp(r->data.data, p, n));
	rb__reply__free_unpacked(r, NULL);
	httpc_resp h;
	CHECK_EQ_INT(http_upload(img, &h), 200);
	size_t tlen;
	const char *ct = httpc_header(&h, "Content-Type", &tlen);
	CHECK(ct && tlen == strlen(type) && !strncmp(ct, type, tlen));
	const char *ns = httpc_header(&h, "X-Content-Type-Options", &tlen);
	CHECK_MSG(ns && tlen == 7 && !strncmp(ns, "nosniff", 7), "upload served without nosniff");
	CHECK(h.body_len == n && !memcmp(h.body, p, n));
	httpc_resp_free(&h);
}

void mt_check_gone(bus *b, const char *img)
{
	Rb__Reply *r = get_upload(b, img);
	CHECK_EQ_INT(r->code, RB__CODE__NOT_FOUND);
	rb__reply__free_unpacked(r, NULL);
	httpc_resp h;
	CHECK_EQ_INT(http_upload(img, &h), 404);
	httpc_resp_free(&h);
}

/* ---------------------------------------------------- send and history */

void test_msg_send_and_history(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx), *other;
	char room[64], uid[64];
	snprintf(uid, sizeof uid, "%s",
		 login(other = client(ctx), "root@localhost", admin_password()));
	mt_new_room(adm, "text", room);
	sendp(adm,
	      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"hello *world*\","
	      "\"tags\":[\"%s\"],\"url\":\"https://example.com/x\"}}",
	      room, uid);
	json_t *f, *m = mt_expect_sent(other, &f); /* every logged-in connection gets it */
	mt_check_shape(m);
	CHECK_EQ_STR(jstr(f, "roomid"), room);
	CHECK_EQ_STR(jstr(m, "roomid"), room);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "idx")), 0);
	CHECK_EQ_STR(jstr(m, "userid"), uid);
	CHECK_EQ_STR(jstr(m, "username"), "root");
	CHECK_EQ_STR(jstr(m, "text"), "hello *world*");
	CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(m, "tags"), 0)), uid);
	CHECK_EQ_STR(jstr(m, "url"), "https://example.com/x");
	CHECK(json_is_null(json_object_get(m, "type")) && json_is_null(json_object_get(m, "img")));
	CHECK(json_is_null(json_object_get(m, "width")) &&
	      json_is_null(json_object_get(m, "height")));
	json_decref(f);
	/* Then the whole newest segment, to everyone. */
	json_t *ut = mt_expect_text(other, room, 0);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 1);
	json_decref(ut);
	/* A second message without tags/url: tags [] and url null. */
	mt_expect_sent(adm, &f); /* the sender's own copy of the first */
	json_decref(f);
	CHECK_EQ_INT(mt_say_ok(adm, room, "second"), 1);
	ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_integer_value(json_object_get(ut, "segment")), 0);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 2);
	json_t *m1 = mt_msg_at(ut, 1);
	mt_check_shape(m1);
	CHECK_EQ_INT(json_array_size(json_object_get(m1, "tags")), 0);
	CHECK(json_is_null(json_object_get(m1, "url")));
	CHECK_EQ_STR(jstr(mt_msg_at(ut, 0), "text"), "hello *world*");
	json_decref(ut);
	wsc_ctx_free(ctx);
}

void test_msg_forged_userid_ignored(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64], uid[64], forged[UUID_STR_LEN + 1];
	wsc *u = mt_user_and_room(ctx, adm, "forger", uid, room);
	uuid_new(forged);
	sendp(u,
	      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"it was not me\","
	      "\"userid\":\"%s\"}}",
	      room, forged);
	json_t *f, *m = mt_expect_sent(u, &f);
	CHECK_EQ_STR(jstr(m, "userid"), uid);
	CHECK_EQ_STR(jstr(m, "username"), "forger");
	json_decref(f);
	json_t *ut = mt_get_segment(adm, room, 0);
	CHECK_EQ_STR(jstr(mt_msg_at(ut, 0), "userid"), uid);
	json_decref(ut);
	wsc_ctx_free(ctx);
}

void test_msg_room_checks(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64], voice[64], nowhere[UUID_STR_LEN + 1];
	mt_new_room(adm, "text", room);
	mt_new_room(adm, "voice", voice);
	uuid_new(nowhere);
	mt_say(adm, nowhere, "into the void");
	expect_error(adm, "message: no such room");
	mt_say(adm, voice, "into a voice room");
	expect_error(adm, "is not a text room");
	sendp(adm, "{\"type\":\"getmessages\",\"roomid\":\"%s\"}", nowhere);
	expect_error(adm, "no such room");
	sendp(adm, "{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":-1}", room);
	expect_error(adm, "segment");
	/* An empty room: newest is segment 0, empty; past the end: []. */
	json_t *ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_integer_value(json_object_get(ut, "segment")), 0);
	CHECK(json_is_array(mt_msgs_of(ut)) && json_array_size(mt_msgs_of(ut)) == 0);
	json_decref(ut);
	mt_say_ok(adm, room, "one");
	ut = mt_get_segment(adm, room, 7);
	CHECK_EQ_INT(json_integer_value(json_object_get(ut, "segment")), 7);
	CHECK(json_is_array(mt_msgs_of(ut)) && json_array_size(mt_msgs_of(ut)) == 0);
	json_decref(ut);
	/* Nothing was stored by the refusals. */
	ut = mt_get_segment(adm, room, 0);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 1);
	json_decref(ut);
	wsc_ctx_free(ctx);
}

/* k messages in a fresh room, then every segment checked. */
static void segments_with(wsc *adm, long k)
{
	long S = mt_seg_size();
	char room[64], text[32];
	mt_new_room(adm, "text", room);
	for (long i = 0; i < k; i++) {
		snprintf(text, sizeof text, "m%ld", i);
		CHECK_EQ_INT(mt_say_ok(adm, room, text), i);
	}
	long newest = k ? (k - 1) / S : 0;
	json_t *ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_integer_value(json_object_get(ut, "segment")), newest);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), k ? k - newest * S : 0);
	json_decref(ut);
	for (long s = 0; s <= newest + 1; s++) {
		ut = mt_get_segment(adm, room, s);
		long want = s * S >= k ? 0 : (k - s * S < S ? k - s * S : S);
		CHECK_MSG((long)json_array_size(mt_msgs_of(ut)) == want,
			  "k=%ld segment %ld: %zu messages", k, s, json_array_size(mt_msgs_of(ut)));
		for (long i = 0; i < want; i++) {
			json_t *m = json_array_get(mt_msgs_of(ut), (size_t)i);
			CHECK_EQ_INT(json_integer_value(json_object_get(m, "idx")), s * S + i);
			snprintf(text, sizeof text, "m%ld", s * S + i);
			CHECK_EQ_STR(jstr(m, "text"), text);
		}
		json_decref(ut);
	}
}

void test_msg_segment_boundaries(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	long S = mt_seg_size();
	long counts[] = {0, S - 1, S, S + 1, 2 * S + 1};
	for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
		segments_with(adm, counts[i]);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------------------- images */

/* Sends an image and checks the stored message; returns its img (static). */
const char *mt_send_image(wsc *c, const char *uid, const char *room, const char *filename,
			  const uint8_t *p, size_t n, int w, int h)
{
	static char img[256];
	json_t *f;
	say_file(c, room, "look", filename, p, n);
	json_t *m = expect_own(c, room, "look", &f);
	mt_check_shape(m);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "width")), w);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "height")), h);
	snprintf(img, sizeof img, "%s", jstr(m, "img"));
	json_decref(f);
	char prefix[128];
	snprintf(prefix, sizeof prefix, "uploads/%s/", uid);
	CHECK_MSG(!strncmp(img, prefix, strlen(prefix)), "img %s", img);
	/* "<safe name><uuid>" */
	const char *name = img + strlen(prefix);
	CHECK(strlen(name) >= UUID_STR_LEN && uuid_valid(name + strlen(name) - UUID_STR_LEN));
	CHECK(strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
	      strlen(name));
	return img;
}

void test_msg_png_sizes_and_served(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	char room[64], uid[64];
	wsc *u = mt_user_and_room(ctx, adm, "painter", uid, room);
	size_t n1, n128;
	uint8_t *p1 = mt_png_make(1, 1, &n1), *p128 = mt_png_make(128, 128, &n128);
	const char *img = mt_send_image(u, uid, room, "tiny.png", p1, n1, 1, 1);
	CHECK_MSG(strstr(img, "/tiny.png"), "safe name kept: %s", img);
	check_served(b, img, "image/png", p1, n1);
	/* Unsafe characters of the file name are dropped. */
	img = mt_send_image(u, uid, room, "../../we ird<name>.png", p128, n128, 128, 128);
	CHECK_MSG(strstr(img, "/weirdname.png"), "safe name: %s", img);
	check_served(b, img, "image/png", p128, n128);
	json_t *ut = mt_get_segment(u, room, 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(mt_msg_at(ut, 1), "width")), 128);
	json_decref(ut);
	/* A browser's data URL is taken too; an empty rawfile is no image. */
	char *enc = b64_of(p1, n1), text[32];
	sendp(u,
	      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"data url\"},"
	      "\"filename\":\"d.png\",\"rawfile\":\"data:image/png;base64,%s\"}",
	      room, enc);
	json_t *f, *m = expect_own(u, room, "data url", &f);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "height")), 1);
	check_served(b, jstr(m, "img"), "image/png", p1, n1);
	json_decref(f);
	snprintf(text, sizeof text, "no file");
	sendp(u,
	      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"%s\"},"
	      "\"filename\":\"\",\"rawfile\":\"\"}",
	      room, text);
	m = expect_own(u, room, text, &f);
	CHECK(json_is_null(json_object_get(m, "img")));
	json_decref(f);
	free(enc);
	free(p1), free(p128);
	wsc_ctx_free(ctx);
}

void test_msg_image_formats(void)
{
	static const uint8_t gif[] = "GIF89a\x03\x00\x02\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!"
				     "\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x03\x00\x02\x00"
				     "\x00\x02\x02\x44\x01\x00;";
	static const uint8_t jpeg[] = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01"
				      "\x00\x00\xff\xdb\x00\x04\x00\x00\xff\xc0\x00\x0b\x08\x00\x07"
				      "\x00\x09\x01\x01\x11\x00\xff\xd9";
	static const uint8_t webp[] = "RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x04\x40\x00"
				      "\x00\x00\x00\x00\x00\x00\x00\x00\x00";
	static const uint8_t bmp[] =
		"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00"
		"\x00\x06\x00\x00\x00\xfb\xff\xff\xff\x01\x00\x18\x00";
	static const struct {
		const char *name, *type;
		const uint8_t *p;
		size_t n;
		int w, h;
	} cases[] = {{"a.gif", "image/gif", gif, sizeof gif - 1, 3, 2},
		     {"a.jpg", "image/jpeg", jpeg, sizeof jpeg - 1, 9, 7},
		     {"a.webp", "image/webp", webp, sizeof webp - 1, 5, 2},
		     {"a.bmp", "image/bmp", bmp, sizeof bmp - 1, 6, 5}};
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	char room[64], uid[64];
	snprintf(uid, sizeof uid, "%s", login(client(ctx), "root@localhost", admin_password()));
	mt_new_room(adm, "text", room);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *img = mt_send_image(adm, uid, room, cases[i].name, cases[i].p,
						cases[i].n, cases[i].w, cases[i].h);
		check_served(b, img, cases[i].type, cases[i].p, cases[i].n);
	}
	wsc_ctx_free(ctx);
}

void test_msg_not_an_image_refused(void)
{
	static const char text[] = "hello, this is a text file and not a picture\n";
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64];
	mt_new_room(adm, "text", room);
	say_file(adm, room, "see attachment", "notes.png", (const uint8_t *)text, sizeof text - 1);
	expect_error(adm, "message: attachment is not a supported image");
	sendp(adm,
	      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"x\"},"
	      "\"filename\":\"a.png\",\"rawfile\":\"iVBORw0KGgo*AAAA\"}",
	      room);
	expect_error(adm, "message: rawfile is not valid base64");
	json_t *ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 0);
	json_decref(ut);
	wsc_ctx_free(ctx);
}

/* A 33-byte PNG (signature and IHDR, no pixel data) claiming w x h. */
static size_t png_claim(uint8_t out[33], uint32_t w, uint32_t h)
{
	uint8_t ihdr[13] = {0};
	put32(ihdr, w), put32(ihdr + 4, h), ihdr[8] = 8, ihdr[9] = 2;
	memcpy(out, "\x89PNG\r\n\x1a\n", 8);
	return (size_t)(chunk(out + 8, "IHDR", ihdr, 13) - out);
}

/* REBUTTAL_IMAGE_MAX_PIXELS (50 000 000) and _MAX_SIDE (16384), defaults. */
void test_msg_pixel_cap(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64], uid[64];
	uint8_t png[33];
	snprintf(uid, sizeof uid, "%s", login(client(ctx), "root@localhost", admin_password()));
	mt_new_room(adm, "text", room);
	static const struct {
		uint32_t w, h;
	} refused[] = {
		{100000, 100000}, {16385, 1}, {1, 16385}, {8000, 6251}, {0x7fffffff, 0x7fffffff}};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		CHECK_EQ_INT(png_claim(png, refused[i].w, refused[i].h), 33);
		say_file(adm, room, "huge", "huge.png", png, sizeof png);
		char want[96];
		snprintf(want, sizeof want,
			 "message: image is %ux%u pixels; at most 16384 per side", refused[i].w,
			 refused[i].h);
		expect_error(adm, want);
	}
	json_t *ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 0);
	json_decref(ut);
	/* At both limits: 16384 x 3051 is 49 987 584 pixels. */
	png_claim(png, 16384, 3051);
	mt_send_image(adm, uid, room, "wide.png", png, sizeof png, 16384, 3051);
	wsc_ctx_free(ctx);
}

/* A PNG header followed by zeros, n bytes in all. */
static uint8_t *padded_png(size_t n, size_t *len)
{
	size_t hn;
	uint8_t *h = mt_png_make(4, 3, &hn), *p = calloc(1, n);
	CHECK(p && n >= hn);
	memcpy(p, h, hn);
	free(h);
	*len = n;
	return p;
}

void test_msg_upload_limit(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64], uid[64];
	size_t n;
	snprintf(uid, sizeof uid, "%s", login(client(ctx), "root@localhost", admin_password()));
	mt_new_room(adm, "text", room);
	uint8_t *big = padded_png(UPLOAD_MAX + 1, &n);
	say_file(adm, room, "too big", "big.png", big, n);
	expect_error(adm, "message: image larger than 8388608 bytes");
	json_t *ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 0);
	json_decref(ut);
	/* Exactly at the limit is fine. */
	free(big);
	big = padded_png(UPLOAD_MAX, &n);
	long long t0 = now_ms();
	mt_send_image(adm, uid, room, "limit.png", big, n, 4, 3);
	printf("8 MiB image stored and broadcast in %lld ms\n", now_ms() - t0);
	free(big);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------ edits and removals */

static void update_text(wsc *c, const char *room, long long idx, const char *text)
{
	sendp(c,
	      "{\"type\":\"updatemessage\",\"roomid\":\"%s\",\"messageid\":%lld,"
	      "\"message\":{\"text\":\"%s\"}}",
	      room, idx, text);
}

static void remove_msg(wsc *c, const char *room, long long idx)
{
	sendp(c, "{\"type\":\"removemessage\",\"roomid\":\"%s\",\"messageid\":%lld}", room, idx);
}

/* Waits for the updateText of idx's segment in which idx has `text`
 * (stale ones queued before are skipped); returns the message at idx in it
 * (its frame into *f for the caller to decref). */
json_t *mt_changed(wsc *c, const char *room, long long idx, const char *text, json_t **f)
{
	long long until = now_ms() + WAIT_MS;
	for (;;) {
		*f = mt_expect_text(c, room, idx / mt_seg_size());
		json_t *m = mt_msg_at(*f, idx); /* NULL in one from before idx was sent */
		if (m && !strcmp(jstr(m, "text"), text)) {
			mt_check_shape(m);
			return m;
		}
		json_decref(*f);
		CHECK_MSG(now_ms() < until, "idx %lld never became \"%s\"", idx, text);
	}
}

void mt_check_removed(json_t *m, long long idx, const char *username)
{
	CHECK_EQ_STR(jstr(m, "text"), REMOVED);
	CHECK(json_is_null(json_object_get(m, "userid")));
	CHECK(json_is_null(json_object_get(m, "img")));
	CHECK(json_is_null(json_object_get(m, "width")) &&
	      json_is_null(json_object_get(m, "height")));
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "idx")), idx);
	CHECK_EQ_STR(jstr(m, "username"), username);
}

void test_msg_update_remove_author(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	char room[64], uid[64], img[256];
	wsc *u = mt_user_and_room(ctx, adm, "author", uid, room);
	long long i0 = mt_say_ok(u, room, "original");
	sendp(u,
	      "{\"type\":\"updatemessage\",\"roomid\":\"%s\",\"messageid\":%lld,\"message\":"
	      "{\"text\":\"edited\",\"url\":\"https://example.com/e\",\"tags\":[\"%s\"]}}",
	      room, i0, uid);
	json_t *f, *m = mt_changed(adm, room, i0, "edited", &f); /* to everyone */
	CHECK_EQ_STR(jstr(m, "text"), "edited");
	CHECK_EQ_STR(jstr(m, "url"), "https://example.com/e");
	CHECK_EQ_STR(jstr(m, "userid"), uid);
	CHECK_EQ_INT(json_array_size(json_object_get(m, "tags")), 1);
	json_decref(f);
	/* The form with roomid and idx inside message. */
	sendp(u,
	      "{\"type\":\"updatemessage\",\"message\":{\"roomid\":\"%s\",\"idx\":%lld,"
	      "\"text\":\"edited again\"}}",
	      room, i0);
	m = mt_changed(u, room, i0, "edited again", &f);
	CHECK_EQ_STR(jstr(m, "url"), "https://example.com/e"); /* absent: kept */
	json_decref(f);
	size_t n;
	uint8_t *png = mt_png_make(2, 2, &n);
	snprintf(img, sizeof img, "%s", mt_send_image(u, uid, room, "x.png", png, n, 2, 2));
	long long i1 = i0 + 1;
	sendp(u, "{\"type\":\"removemessage\",\"message\":{\"roomid\":\"%s\",\"idx\":%lld}}", room,
	      i1);
	m = mt_changed(adm, room, i1, REMOVED, &f);
	mt_check_removed(m, i1, "author");
	json_decref(f);
	mt_check_gone(b, img);
	free(png);
	wsc_ctx_free(ctx);
}

void test_msg_update_remove_admin(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64], uid[64];
	/* A name no other test takes: display names are unique (a taken one
	 * would get a suffix, and the removed message shows the name). */
	wsc *u = mt_user_and_room(ctx, adm, "modvictim", uid, room);
	long long i = mt_say_ok(u, room, "mine");
	update_text(adm, room, i, "moderated");
	json_t *f, *m = mt_changed(u, room, i, "moderated", &f);
	CHECK_EQ_STR(jstr(m, "userid"), uid); /* still the author's */
	json_decref(f);
	remove_msg(adm, room, i);
	m = mt_changed(u, room, i, REMOVED, &f);
	mt_check_removed(m, i, "modvictim");
	json_decref(f);
	json_t *ut = mt_get_segment(u, room, -1);
	mt_check_removed(mt_msg_at(ut, i), i, "modvictim");
	json_decref(ut);
	wsc_ctx_free(ctx);
}

void test_msg_update_remove_denied(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64], a_id[64], b_id[64];
	wsc *a = mt_new_user(ctx, adm, "alice", a_id), *b = mt_new_user(ctx, adm, "bob", b_id);
	mt_new_room(adm, "text", room);
	long long i = mt_say_ok(a, room, "alice's");
	update_text(b, room, i, "bob was here");
	expect_error(b, "Permission denied \"changeMessage\"");
	remove_msg(b, room, i);
	expect_error(b, "Permission denied \"changeMessage\"");
	json_t *ut = mt_get_segment(b, room, -1);
	CHECK_EQ_STR(jstr(mt_msg_at(ut, i), "text"), "alice's");
	json_decref(ut);
	/* Once removed it has no author: only changeMessage may touch it. */
	remove_msg(a, room, i);
	json_t *f;
	mt_changed(a, room, i, REMOVED, &f);
	json_decref(f);
	update_text(a, room, i, "back again");
	expect_error(a, "Permission denied \"changeMessage\"");
	wsc_ctx_free(ctx);
}

void test_msg_update_targets(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64];
	mt_new_room(adm, "text", room);
	mt_say_ok(adm, room, "target");
	sendp(adm, "{\"type\":\"updatemessage\",\"messageid\":0,\"message\":{\"text\":\"x\"}}");
	expect_error(adm, "updatemessage: roomid is missing");
	sendp(adm, "{\"type\":\"updatemessage\",\"roomid\":\"%s\",\"message\":{\"text\":\"x\"}}",
	      room);
	expect_error(adm, "updatemessage: messageid is missing");
	sendp(adm, "{\"type\":\"removemessage\",\"roomid\":\"%s\"}", room);
	expect_error(adm, "removemessage: messageid is missing");
	update_text(adm, room, 99, "x");
	expect_error(adm, "updatemessage: no such message");
	remove_msg(adm, room, 99);
	expect_error(adm, "removemessage: no such message");
	wsc_ctx_free(ctx);
}
