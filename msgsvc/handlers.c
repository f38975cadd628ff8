/* Request handlers. Every request goes through svc's request path, which
 * finds the row, refuses what the row does not admit (shutdown, permission),
 * runs the handler and counts the outcome; handlers check their own fields
 * (callers other than the gateway are not trusted to have done it).
 * Handler threads (svc's pool), each with its own msg_app copy and so its
 * own Postgres connection; requests of one room run on one thread, in
 * arrival order (the rows' keys). */
#include "handlers.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "directory.h"
#include "history.h"
#include "idem.h"
#include "image.h"
#include "log.h"
#include "msg.h"
#include "outbox.h"
#include "rooms.h"
#include "routes.h"
#include "strx.h"
#include "valid.h"

/* A tag's bytes at most (the lengths of text, url, filename and the number
 * of tags are the rows' rules in lib/packet.c, checked before a handler
 * runs). */
#define TAG_MAX_BYTES 256
/* A sender missing from the directory makes it ask authsvc again, at
 * most this often, waiting this long. */
#define DIR_MISS_GAP_MS 2000
#define DIR_TIMEOUT_MS 1000

/* Every route keys replies by request_id and its refusals carry only their
 * message (main.c's svc flags); the rows key a room's writes by its id as
 * sent, so they run one at a time in arrival order and its broadcasts leave
 * in idx order. */
SVC_ROUTE_TABLE(MSGSVC_ROUTES, handlers, "msgsvc")

/* A protobuf-c message of type T in the request's arena, initialized. */
#define NEW(r, T, ...) ARENA_NEW((r)->arena, T, __VA_ARGS__)

static const char *op_of(const svc_req *r)
{
	return svc_envelope_type(r->env);
}

static void fail_store(svc_req *r, pg_status s)
{
	if (s == PG_DOWN)
		svc_fail(r, RB__CODE__UNAVAILABLE,
			 "%s: the message store is unavailable, try again", op_of(r));
	else
		svc_fail(r, RB__CODE__INTERNAL, "%s: internal error", op_of(r));
}

/* ------------------------------------------------------- shared checks */

/* The room id, lowercase, into out; 0, or -1 with the refusal filled. */
static int room_id_ok(svc_req *r, const char *in, char out[UUID_STR_LEN + 1])
{
	if (!in) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: roomid is missing", op_of(r));
		return -1;
	}
	if (msg_uuid_lower(in, out) < 0) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: roomid must be a UUID", op_of(r));
		return -1;
	}
	return 0;
}

/* Asks roomsvc (through the cache) whether the room exists and, when
 * need_text, is a text room. 0, or -1 with the refusal filled. */
static int room_check(svc_req *r, const char *room_id, int need_text)
{
	msg_app *app = r->app;
	rooms_info info;

	switch (rooms_get(app->rooms, room_id, r->arena, &info)) {
	case ROOMS_OK:
		if (!need_text || info.is_text)
			return 0;
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: %s is not a text room", op_of(r),
			 info.name);
		return -1;
	case ROOMS_NOT_FOUND:
		svc_fail(r, RB__CODE__NOT_FOUND, "%s: no such room", op_of(r));
		return -1;
	default:
		svc_fail(r, RB__CODE__UNAVAILABLE, "%s: the room service is unavailable, try again",
			 op_of(r));
		return -1;
	}
}

/* UTF-8 of a client string field (its length is the row's rule). 0, or -1
 * with the refusal filled. */
static int string_ok(svc_req *r, const char *field, const char *s)
{
	if (utf8_chars(s, strlen(s)) >= 0)
		return 0;
	svc_fail(r, RB__CODE__BAD_REQUEST, "%s: %s is not valid UTF-8", op_of(r), field);
	return -1;
}

/* text (when present), tags and url (when present) of a message object.
 * Tags must be printable: the store joins them with a control character. */
static int content_ok(svc_req *r, const Rb__MessageIn *in)
{
	if (in->text && string_ok(r, "message.text", in->text) < 0)
		return -1;
	if (in->url && string_ok(r, "message.url", in->url) < 0)
		return -1;
	for (size_t i = 0; i < in->n_tags; i++) {
		if (strlen(in->tags[i]) > TAG_MAX_BYTES || !text_printable(in->tags[i])) {
			svc_fail(r, RB__CODE__BAD_REQUEST,
				 "%s: message.tags must be printable strings of at most %d bytes",
				 op_of(r), TAG_MAX_BYTES);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- message */

/* A message on its way in. */
typedef struct {
	char room_id[UUID_STR_LEN + 1];
	const Rb__MessageIn *in;
	const char *b64; /* rawfile without a data: URL prefix; NULL: no image */
	size_t b64_len, img_len;
	uint8_t *img; /* decoded, malloc'd */
	img_info info;
	char *path; /* "<userid>/<safe name><uuid>" */
	char *username;
} outgoing;

/* Web clients read files as data URLs ("data:image/png;base64,...."):
 * the base64 is what follows the comma. */
static void strip_data_url(const char **p, size_t *len)
{
	static const char marker[] = ";base64,";
	const char *s = *p;
	if (*len < 5 || memcmp(s, "data:", 5))
		return;
	for (size_t i = 5; i + sizeof marker - 1 <= *len && i < 256; i++) {
		if (!memcmp(s + i, marker, sizeof marker - 1)) {
			*p = s + i + sizeof marker - 1;
			*len -= i + sizeof marker - 1;
			return;
		}
	}
}

/* The attachment's size from its base64 length, checked before anything
 * is decoded or allocated. 0, or -1 with the refusal filled. */
static int attachment_size_ok(svc_req *r, outgoing *o, const char *rawfile)
{
	msg_app *app = r->app;
	o->b64 = rawfile;
	o->b64_len = strlen(rawfile);
	strip_data_url(&o->b64, &o->b64_len);
	if (b64_decoded_len(o->b64, o->b64_len, &o->img_len) != B64_OK) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "message: rawfile is not valid base64");
		return -1;
	}
	if (o->img_len > (size_t)app->cfg->upload_max) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "message: image larger than %ld bytes",
			 app->cfg->upload_max);
		return -1;
	}
	return 0;
}

/* Everything about the packet that needs no other service. */
static int message_fields(svc_req *r, outgoing *o)
{
	const Rb__CMessage *c = r->env->message;

	/* The sender's id also names the upload's folder: a UUID, nothing else. */
	if (!uuid_valid(r->env->user_id)) {
		svc_fail(r, RB__CODE__DENIED, "message: not logged in");
		return -1;
	}
	if (room_id_ok(r, c->roomid, o->room_id) < 0)
		return -1;
	o->in = c->message; /* message.text is required by the row */
	if (content_ok(r, o->in) < 0)
		return -1;
	if (c->filename && string_ok(r, "filename", c->filename) < 0)
		return -1;
	/* An empty rawfile is no attachment (a form with no file chosen). */
	return c->rawfile && *c->rawfile ? attachment_size_ok(r, o, c->rawfile) : 0;
}

/* A header may claim any size in a few bytes (a 33-byte PNG can say
 * 100000 x 100000): every client that shows the image would try to
 * allocate that much. Refused before anything is stored. 0 or -1. */
static int pixels_ok(svc_req *r, const img_info *info)
{
	const msg_config *c = ((msg_app *)r->app)->cfg;
	uint64_t w = (uint64_t)info->width, h = (uint64_t)info->height;

	if (w > (uint64_t)c->image_max_side || h > (uint64_t)c->image_max_side ||
	    w * h > (uint64_t)c->image_max_pixels) {
		svc_fail(r, RB__CODE__BAD_REQUEST,
			 "message: image is %" PRIu64 "x%" PRIu64 " pixels; at most %ld per side"
			 " and %ld in all",
			 w, h, c->image_max_side, c->image_max_pixels);
		return -1;
	}
	return 0;
}

/* The sender's current name; asks authsvc again when the directory does
 * not know them yet (e.g. an account made a moment ago). */
static int sender_name(svc_req *r, outgoing *o)
{
	msg_app *app = r->app;
	o->username = dir_name(app->dir, r->env->user_id, r->arena);
	if (!o->username && dir_refresh_soon(app->dir, DIR_TIMEOUT_MS, DIR_MISS_GAP_MS) == 0)
		o->username = dir_name(app->dir, r->env->user_id, r->arena);
	if (!o->username) {
		svc_fail(r, RB__CODE__UNAVAILABLE,
			 "message: the account directory is not ready, try again");
		return -1;
	}
	return 0;
}

/* "<userid>/<safe name><uuid>": the file name's UPLOAD_NAME_CHARS, without
 * leading dots (no hidden files, no dot segments: the gateway refuses
 * those), made unique by a fresh UUID. */
static char *upload_path(svc_req *r, const char *filename)
{
	char safe[UPLOAD_NAME_MAX + 1], id[UUID_STR_LEN + 1];
	size_t n = 0;
	for (const char *p = filename; p && *p && n < UPLOAD_NAME_MAX; p++)
		if (strchr(UPLOAD_NAME_CHARS, *p) && (n || *p != '.'))
			safe[n++] = *p;
	safe[n] = '\0';
	uuid_new(id);
	return arena_printf(r->arena, "%s/%s%s", r->env->user_id, safe, id);
}

/* Decodes the attachment and reads its format and size. */
static int attachment(svc_req *r, outgoing *o)
{
	size_t consumed, written;

	if (!(o->img = malloc(o->img_len ? o->img_len : 1))) {
		svc_fail(r, RB__CODE__INTERNAL, "message: internal error");
		return -1;
	}
	if (b64_decode(o->b64, o->b64_len, o->img, o->img_len, &consumed, &written) != B64_OK) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "message: rawfile is not valid base64");
		return -1;
	}
	if (img_sniff(o->img, written, &o->info) != IMG_OK) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "message: attachment is not a supported image");
		return -1;
	}
	if (pixels_ok(r, &o->info) < 0)
		return -1;
	o->img_len = written;
	o->path = upload_path(r, r->env->message->filename);
	return 0;
}

/* The request id (NULL without one) and the reply a write stores under
 * it: r->reply as it is now, i.e. OK (a refusal stores nothing). */
static hist_once once_of(svc_req *r)
{
	hist_once once = {str_set(r->env->request_id) ? r->env->request_id : NULL, NULL, 0};
	size_t len = protobuf_c_message_get_packed_size(&r->reply->base);
	uint8_t *bytes = arena_alloc(r->arena, len ? len : 1);
	once.reply_len = protobuf_c_message_pack(&r->reply->base, bytes);
	once.reply = bytes;
	return once;
}

/* Tests only (REBUTTAL_TEST_HOOKS): waits at the named point of the write
 * path for an advisory lock ('msg.hook:<point>') a test may hold, so that
 * it can kill msgsvc exactly there. One round trip when on, none when off. */
static void test_hook(svc_req *r, const char *point)
{
	msg_app *app = r->app;
	const char *p[] = {point};
	if (app->cfg->test_hooks)
		(void)pg_query(
			app->db, NULL,
			"SELECT pg_advisory_xact_lock_shared(hashtextextended('msg.hook:' || $1, 0))",
			1, p);
}

/* What a write answered: a stored reply or a refusal goes into the reply;
 * a write is announced (on failure the drainer publishes). */
static void announce(svc_req *r, hist_written *w, int send)
{
	msg_app *app = r->app;

	if (w->reply_hex) {
		if (idem_replay(r, w->reply_hex) < 0)
			svc_fail(r, RB__CODE__INTERNAL, "%s: internal error", op_of(r));
		else
			log_info("%s %s answered with its stored reply", op_of(r),
				 r->env->request_id);
	} else if (w->refused && !strcmp(w->refused, "not_found")) {
		svc_fail(r, RB__CODE__NOT_FOUND, "%s: no such message", op_of(r));
	} else if (w->refused) {
		svc_fail(r, RB__CODE__DENIED, "Permission denied \"changeMessage\"");
	} else {
		test_hook(r, "after_commit");
		(void)outbox_publish_written(app->outbox, app->db, r->arena, w, send);
	}
}

/* Stores the message once per request id (one statement), then announces
 * it. */
static void message_store(svc_req *r, const outgoing *o)
{
	msg_app *app = r->app;
	hist_new m = {o->room_id,  r->env->user_id, o->username, o->in->text, o->in->url,
		      o->in->tags, o->in->n_tags,   NULL,        0,           0};
	hist_upload up = {o->path, o->info.content_type, o->img, o->img_len};
	hist_once once = once_of(r);
	hist_written w;

	if (o->img) {
		m.img = arena_printf(r->arena, "uploads/%s", o->path);
		m.width = o->info.width;
		m.height = o->info.height;
	}
	pg_status s = hist_post(app->db, r->arena, &once, &m, o->img ? &up : NULL,
				app->cfg->segment_size, &w);
	if (s != PG_OK) {
		outbox_release(app->db);
		fail_store(r, s);
		return;
	}
	if (!w.reply_hex)
		log_debug("message: %s:%lld by %s", o->room_id, (long long)w.idx, r->env->user_id);
	announce(r, &w, 1);
}

void h_message(svc_req *r)
{
	outgoing o;
	memset(&o, 0, sizeof o);
	if (message_fields(r, &o) == 0 && room_check(r, o.room_id, 1) == 0 &&
	    sender_name(r, &o) == 0 && (!o.b64 || attachment(r, &o) == 0))
		message_store(r, &o);
	free(o.img);
}

/* --------------------------------------------------------- getmessages */

void h_getmessages(svc_req *r)
{
	msg_app *app = r->app;
	const Rb__CGetMessages *c = r->env->getmessages;
	long S = app->cfg->segment_size;
	char room_id[UUID_STR_LEN + 1];
	int64_t seg = c->has_segment ? c->segment : 0;

	if (room_id_ok(r, c->roomid, room_id) < 0)
		return;
	if (seg < 0) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "getmessages: segment must be 0 or more");
		return;
	}
	/* A voice room has no history: it answers with an empty segment. */
	if (room_check(r, room_id, 0) < 0)
		return;
	Rb__SUpdateText *ut = NEW(r, Rb__SUpdateText, RB__SUPDATE_TEXT__INIT);
	pg_status s = c->has_segment ? hist_segment(app->db, r->arena, room_id, seg, S, ut)
				     : hist_newest(app->db, r->arena, room_id, S, ut);
	if (s != PG_OK) {
		fail_store(r, s);
		return;
	}
	Rb__Delivery *d = svc_delivery(r);
	d->packet_case = RB__DELIVERY__PACKET_UPDATE_TEXT;
	d->updatetext = ut;
	svc_reply_deliver(r, d);
}

/* ------------------------------------- updatemessage and removemessage */

/* Which message: roomid/messageid at the top level, else inside message. */
typedef struct {
	char room_id[UUID_STR_LEN + 1];
	int64_t idx;
} target;

static int target_of(svc_req *r, const Rb__CUpdateMessage *c, target *t)
{
	const Rb__MessageIn *in = c->message;
	const char *room = c->roomid ? c->roomid : in ? in->roomid : NULL;
	int has_idx = c->has_messageid || (in && in->has_idx);

	t->idx = c->has_messageid ? c->messageid : in && in->has_idx ? in->idx : -1;
	if (room_id_ok(r, room, t->room_id) < 0)
		return -1;
	if (!has_idx) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: messageid is missing", op_of(r));
		return -1;
	}
	if (t->idx < 0) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: messageid must be 0 or more", op_of(r));
		return -1;
	}
	return 0;
}

/* Changes the message once per request id (one statement, which also
 * checks that it exists and that the caller may change it: the author, or
 * anyone with changeMessage), then announces it. */
static void change_message(svc_req *r, const Rb__CUpdateMessage *c, int remove)
{
	msg_app *app = r->app;
	const Rb__MessageIn *in = remove ? NULL : c->message;
	target t;
	hist_written w;

	if (target_of(r, c, &t) < 0 || (in && content_ok(r, in) < 0))
		return;
	hist_edit e = {t.room_id,
		       t.idx,
		       str_set(r->env->user_id) ? r->env->user_id : NULL,
		       svc_has_perm(r->env, "changeMessage"),
		       remove,
		       in ? in->text : NULL,
		       in ? in->url : NULL,
		       in ? in->tags : NULL,
		       in ? in->n_tags : 0,
		       in && in->n_tags > 0};
	hist_once once = once_of(r);
	pg_status s = hist_change(app->db, r->arena, &once, &e, app->cfg->segment_size, &w);
	if (s != PG_OK) {
		outbox_release(app->db);
		fail_store(r, s);
		return;
	}
	if (!w.reply_hex && !w.refused)
		log_info("%s: %s:%lld by %s", op_of(r), t.room_id, (long long)t.idx,
			 e.user_id ? e.user_id : "(service)");
	announce(r, &w, 0);
}

void h_updatemessage(svc_req *r)
{
	change_message(r, r->env->updatemessage, 0);
}

void h_removemessage(svc_req *r)
{
	change_message(r, r->env->removemessage, 1);
}

/* ---------------------------------------------------------- get_upload */

/* "<uuid>/<name>" with the characters upload_path produces. */
void h_get_upload(svc_req *r)
{
	msg_app *app = r->app;
	const char *path = r->env->get_upload->path;
	int found = 0;

	if (!valid_upload_path(path)) {
		svc_fail(r, RB__CODE__NOT_FOUND, "get_upload: no such upload");
		return;
	}
	pg_status s = hist_upload_get(app->db, r->arena, path, &found, &r->reply->content_type,
				      &r->reply->data);
	if (s != PG_OK)
		fail_store(r, s);
	else if (!found)
		svc_fail(r, RB__CODE__NOT_FOUND, "get_upload: no such upload");
	else
		r->reply->has_data = 1;
}
