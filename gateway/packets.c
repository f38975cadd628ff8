#include "packets.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "pbjson.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"
#include "valid.h"

#define REQ 1
#define OPT 0
#define NAME64 R_CHARS, 1, 64, NULL
#define TEXT_MAX 8000
#define JSON_MAX (64 * 1024)
/* base64 of the 8 MiB default upload limit, with slack; msgsvc checks the
 * decoded size against its own setting. */
#define RAWFILE_MAX (12LL * 1024 * 1024)

/* clang-format off */
static const packet_row table[] = {
	/* v0 */
	{"login", PV0, NULL, "auth", PKT_CLOSE_ON_ERROR | PKT_LOGIN | PKT_HASHES, RATE_NONE, NULL, NULL, {
		{"email", REQ, R_BYTES, 0, 254, NULL},
		{"password", REQ, R_BYTES, 0, 1024, NULL},
		{"protocol", REQ, R_ENUM, 0, 0, "v1"}}},
	{"signup", PV0, NULL, "auth", PKT_HASHES, RATE_NONE, NULL, NULL, {
		{"userName", REQ, R_USERNAME, 0, 0, NULL},
		{"password", REQ, R_PASSWORD, 0, 0, NULL},
		{"email", REQ, R_EMAIL, 0, 0, NULL},
		{"signUp", REQ, R_BYTES, 1, 64, NULL}}},
	/* v1: accounts, groups, invites */
	{"invite", PV1, "inviteUserAny", "auth", 0, RATE_USER, "group_name", "groupName", {
		{"groupName", REQ, NAME64}}},
	{"createuser", PV1, "createUser", "auth", 0, RATE_USER, NULL, NULL, {
		{"userName", REQ, R_USERNAME, 0, 0, NULL},
		{"groupName", REQ, NAME64},
		{"email", REQ, R_EMAIL, 0, 0, NULL}}},
	{"updateuser", PV1, NULL, "auth", 0, RATE_USER, NULL, NULL, {
		{"userid", REQ, R_UUID, 0, 0, NULL},
		{"userName", REQ, R_USERNAME, 0, 0, NULL}}},
	{"removeuser", PV1, "removeUser", "auth", 0, RATE_USER, NULL, NULL, {
		{"touserid", REQ, R_UUID, 0, 0, NULL},
		{"withvengence", OPT, R_ANY, 0, 0, NULL}}},
	{"creategroup", PV1, "setGroupPerm", "auth", 0, RATE_USER, NULL, NULL, {
		{"groupName", REQ, NAME64}}},
	{"updategroup", PV1, "setGroupPerm", "auth", 0, RATE_USER, NULL, NULL, {
		{"groupName", REQ, NAME64},
		{"changes", REQ, R_ITEMS, 0, 64, NULL}}},
	{"removegroup", PV1, "setGroupPerm", "auth", 0, RATE_USER, NULL, NULL, {
		{"groupName", REQ, NAME64}}},
	{"setusergroup", PV1, "setUserGroup", "auth", 0, RATE_USER, NULL, NULL, {
		{"userid", REQ, R_UUID, 0, 0, NULL},
		{"groupName", REQ, NAME64}}},
	/* v1: rooms and presence */
	{"joinroom", PV1, "joinVoiceRoom", "room", 0, RATE_USER, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL}}},
	{"leaveroom", PV1, NULL, "room", 0, RATE_USER, NULL, NULL, {
		{"roomid", OPT, R_UUID, 0, 0, NULL}}},
	{"createroom", PV1, "createRoom", "room", 0, RATE_USER, NULL, NULL, {
		{"roomType", REQ, R_ENUM, 0, 0, "voice|text"},
		{"roomName", REQ, NAME64},
		{"position", OPT, R_INT, -1000000000, 1000000000, NULL}}},
	{"updateroom", PV1, "renameRoom", "room", 0, RATE_USER, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL},
		{"roomName", REQ, NAME64},
		{"position", OPT, R_INT, -1000000000, 1000000000, NULL}}},
	{"removeroom", PV1, "removeRoom", "room", 0, RATE_USER, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL}}},
	/* v1: messages */
	{"getmessages", PV1, NULL, "msg", 0, RATE_USER, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL},
		{"segment", OPT, R_INT, 0, 1LL << 53, NULL}}},
	{"message", PV1, "sendMessage", "msg", 0, RATE_USER, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL},
		{"message", REQ, R_ANY, 0, 0, NULL},
		{"message.text", REQ, R_BYTES, 0, TEXT_MAX, NULL},
		{"message.tags", OPT, R_ITEMS, 0, 50, NULL},
		{"message.url", OPT, R_BYTES, 0, 2048, NULL},
		{"filename", OPT, R_BYTES, 0, 255, NULL},
		{"rawfile", OPT, R_BYTES, 0, RAWFILE_MAX, NULL}}},
	{"updatemessage", PV1, NULL, "msg", 0, RATE_USER, NULL, NULL, {
		{"roomid", OPT, R_UUID, 0, 0, NULL},
		{"messageid", OPT, R_INT, 0, 1LL << 53, NULL},
		{"message", REQ, R_ANY, 0, 0, NULL},
		{"message.roomid", OPT, R_UUID, 0, 0, NULL},
		{"message.idx", OPT, R_INT, 0, 1LL << 53, NULL},
		{"message.text", OPT, R_BYTES, 0, TEXT_MAX, NULL},
		{"message.tags", OPT, R_ITEMS, 0, 50, NULL},
		{"message.url", OPT, R_BYTES, 0, 2048, NULL}}},
	{"removemessage", PV1, NULL, "msg", 0, RATE_USER, NULL, NULL, {
		{"roomid", OPT, R_UUID, 0, 0, NULL},
		{"messageid", OPT, R_INT, 0, 1LL << 53, NULL},
		{"message.roomid", OPT, R_UUID, 0, 0, NULL},
		{"message.idx", OPT, R_INT, 0, 1LL << 53, NULL}}},
	/* v1: media */
	{"video", PV1, NULL, "media", 0, RATE_RELAY, NULL, NULL, {
		{"touserid", REQ, R_UUID, 0, 0, NULL},
		{"payload", REQ, R_JSON, 0, JSON_MAX, NULL}}},
	{"letmesee", PV1, NULL, "media", 0, RATE_RELAY, NULL, NULL, {
		{"touserid", REQ, R_UUID, 0, 0, NULL},
		{"message", REQ, R_JSON, 0, JSON_MAX, NULL}}},
	{"golive", PV1, NULL, "media", PKT_LATEST, RATE_NONE, NULL, NULL, {
		{"livestate", REQ, R_ANY, 0, 0, NULL},
		{"livelabel", OPT, R_BYTES, 0, 256, NULL}}},
	{"chatdev", PV1, NULL, "media", PKT_LATEST, RATE_NONE, NULL, NULL, {
		{"video", REQ, R_ANY, 0, 0, NULL},
		{"audio", REQ, R_ANY, 0, 0, NULL}}},
	{"servermute", PV1, "suppressUser", "media", 0, RATE_USER, NULL, NULL, {
		{"userid", REQ, R_UUID, 0, 0, NULL},
		{"suppress", REQ, R_ANY, 0, 0, NULL}}},
	{"talking", PV1, NULL, "media", PKT_LATEST, RATE_NONE, NULL, NULL, {
		{"talking", REQ, R_ANY, 0, 0, NULL}}},
	{"contextoption", PV1, NULL, "media", 0, RATE_USER, NULL, NULL, {
		{"context", REQ, R_BYTES, 0, 64, NULL},
		{"option", REQ, R_BYTES, 0, 256, NULL},
		{"value", OPT, R_JSON, 0, JSON_MAX, NULL}}},
	{"windowinput", PV1, NULL, "media", 0, RATE_USER, NULL, NULL, {
		{"inputid", REQ, R_BYTES, 0, 256, NULL},
		{"value", OPT, R_JSON, 0, JSON_MAX, NULL},
		{"allinputs", OPT, R_JSON, 0, JSON_MAX, NULL}}},
};
/* clang-format on */

const packet_row *packet_table(size_t *n)
{
	*n = sizeof table / sizeof *table;
	return table;
}

const packet_row *packet_find(const char *type)
{
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		if (!strcmp(table[i].type, type))
			return &table[i];
	return NULL;
}

/* Finds the field at a dotted path; *owner is the message holding it, or
 * NULL when an enclosing message is unset. */
static const ProtobufCFieldDescriptor *field_at(const ProtobufCMessage *m, const char *path,
						const ProtobufCMessage **owner)
{
	char name[64];
	const char *dot = strchr(path, '.');
	size_t n = dot ? (size_t)(dot - path) : strlen(path);
	if (n >= sizeof name)
		return NULL;
	memcpy(name, path, n);
	name[n] = '\0';
	const ProtobufCFieldDescriptor *f = pbjson_field(m->descriptor, name);
	if (!f || !dot) {
		*owner = m;
		return f;
	}
	if (f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	const ProtobufCMessage *sub = *(ProtobufCMessage *const *)((const char *)m + f->offset);
	if (!sub) {
		*owner = NULL;
		return f;
	}
	return field_at(sub, dot + 1, owner);
}

static int is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return 1;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *)(base + f->offset) != NULL;
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

static int fail(packet_result *out, const char *fmt, const char *a, const char *b)
{
	snprintf(out->error, sizeof out->error, fmt, out->row->type, a, b);
	return -1;
}

static int check_string(const field_rule *r, const char *s, packet_result *out)
{
	const char *why;
	size_t len = strlen(s);
	switch (r->kind) {
	case R_UUID:
		return uuid_valid(s) ? 0 : fail(out, "%s: field %s must be a UUID%s", r->path, "");
	case R_CHARS:
		if (text_name_ok(s, (long)r->min, (long)r->max))
			return 0;
		snprintf(out->error, sizeof out->error,
			 "%s: field %s must be %lld-%lld printable characters", out->row->type,
			 r->path, r->min, r->max);
		return -1;
	case R_BYTES:
		if (len >= (size_t)r->min && len <= (size_t)r->max)
			return 0;
		snprintf(out->error, sizeof out->error, "%s: field %s must be %lld-%lld bytes long",
			 out->row->type, r->path, r->min, r->max);
		return -1;
	case R_ENUM: {
		const char *v = r->values;
		while (*v) {
			size_t n = strcspn(v, "|");
			if (n == len && !memcmp(v, s, n))
				return 0;
			v += n + (v[n] == '|');
		}
		return fail(out, "%s: field %s must be one of %s", r->path, r->values);
	}
	case R_USERNAME:
		why = valid_user_name(s);
		break;
	case R_PASSWORD:
		why = valid_password(s);
		break;
	case R_EMAIL:
		why = valid_email(s);
		break;
	default:
		return 0;
	}
	return why ? fail(out, "%s: %s%s", why, "") : 0;
}

static int check_rule(const field_rule *r, const ProtobufCMessage *m, packet_result *out)
{
	const ProtobufCMessage *owner;
	const ProtobufCFieldDescriptor *f = field_at(m, r->path, &owner);
	if (!f)
		return fail(out, "%s: internal: no field %s%s", r->path, "");
	if (!owner || !is_set(owner, f))
		return r->required ? fail(out, "%s: missing field %s%s", r->path, "") : 0;
	const char *p = (const char *)owner + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)((const char *)owner + f->quantifier_offset);
		if (r->kind == R_ITEMS && n > (size_t)r->max) {
			snprintf(out->error, sizeof out->error, "%s: field %s has more than %lld items",
				 out->row->type, r->path, r->max);
			return -1;
		}
		return 0;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return check_string(r, *(char *const *)p, out);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64: {
		long long v = f->type == PROTOBUF_C_TYPE_INT32 ? *(const int32_t *)p
							       : (long long)*(const int64_t *)p;
		if (r->kind == R_INT && (v < r->min || v > r->max)) {
			snprintf(out->error, sizeof out->error,
				 "%s: field %s must be between %lld and %lld", out->row->type,
				 r->path, r->min, r->max);
			return -1;
		}
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = (const ProtobufCBinaryData *)p;
		if (r->kind == R_JSON && bd->len > (size_t)r->max) {
			snprintf(out->error, sizeof out->error, "%s: field %s is larger than %lld bytes",
				 out->row->type, r->path, r->max);
			return -1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

static int has_perm(const packet_caller *who, const char *perm)
{
	for (size_t i = 0; i < who->nperms; i++)
		if (!strcmp(who->perms[i], perm))
			return 1;
	return 0;
}

/* Frame-level rules (§1): what can be said before the row is known. */
static int frame_check(json_t *root, const packet_caller *who, packet_result *out,
		       const char **type)
{
	json_t *t = json_is_object(root) ? json_object_get(root, "type") : NULL;
	if (!t || !json_is_string(t)) {
		out->status = PKT_ERROR_CLOSE;
		out->close_code = 3001;
		out->close_reason = "Invalid JSON";
		snprintf(out->error, sizeof out->error,
			 json_is_object(root) ? "packet has no string field type"
					      : "packet must be a JSON object");
		return -1;
	}
	*type = json_string_value(t);
	out->row = packet_find(*type);
	out->status = PKT_ERROR;
	if (!who->logged_in && (!out->row || !(out->row->versions & PV0))) {
		snprintf(out->error, sizeof out->error, "Not logged in");
		return -1;
	}
	if (!out->row) {
		snprintf(out->error, sizeof out->error, "unknown packet type \"%.100s\"", *type);
		return -1;
	}
	if (who->logged_in && !(out->row->versions & PV1)) {
		snprintf(out->error, sizeof out->error, "%s: already logged in", *type);
		return -1;
	}
	if (out->row->perm && !has_perm(who, out->row->perm)) {
		snprintf(out->error, sizeof out->error, "Permission denied \"%s\"", out->row->perm);
		return -1;
	}
	return 0;
}

static void parse_row(json_t *root, packet_result *out)
{
	const packet_row *row = out->row;
	const ProtobufCFieldDescriptor *pf = pbjson_field(&rb__envelope__descriptor, row->type);
	char err[200];

	if (row->alias_from && !json_object_get(root, row->alias_to)) {
		json_t *v = json_object_get(root, row->alias_from);
		if (v)
			json_object_set(root, row->alias_to, v);
	}
	out->status = (row->flags & PKT_CLOSE_ON_ERROR) ? PKT_ERROR_CLOSE : PKT_ERROR;
	out->close_code = 1000;
	out->close_reason = row->type;
	if (!pf || pf->type != PROTOBUF_C_TYPE_MESSAGE) {
		snprintf(out->error, sizeof out->error, "%s: not supported", row->type);
		return;
	}
	out->msg = pbjson_from_json(pf->descriptor, root, err, sizeof err);
	if (!out->msg) {
		snprintf(out->error, sizeof out->error, "%s: %s", row->type, err);
		return;
	}
	for (int i = 0; i < PKT_MAX_RULES && row->rules[i].path; i++) {
		if (check_rule(&row->rules[i], out->msg, out) < 0) {
			protobuf_c_message_free_unpacked(out->msg, NULL);
			out->msg = NULL;
			return;
		}
	}
	out->status = PKT_OK;
}

void packet_parse(const char *text, size_t len, const packet_caller *who, packet_result *out)
{
	const char *type;
	json_t *root;

	memset(out, 0, sizeof *out);
	root = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	if (!root) {
		out->status = PKT_CLOSE;
		out->close_code = 3001;
		out->close_reason = "Invalid JSON";
		return;
	}
	if (frame_check(root, who, out, &type) == 0)
		parse_row(root, out);
	json_decref(root);
}

void packet_result_free(packet_result *r)
{
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, NULL);
	r->msg = NULL;
}
