/* The packet table (packet.h) and what reads a row: its field rules and
 * its ordering key. */
#include "packet.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
/* type and payload case of a row */
#define PK(t, P) #t, RB__ENVELOPE__PAYLOAD_##P

/* type, payload; part, versions, permission, flags, rate class, ordering
 * key, alias (from, to); field rules {path, required, kind, min, max,
 * values}. */
/* clang-format off */
static const packet_row table[] = {
	/* v0 */
	{PK(login, LOGIN), PART_AUTH, PV0, NULL, PKT_CLOSE_ON_ERROR | PKT_LOGIN | PKT_HASHES, RATE_NONE, NULL, NULL, NULL, {
		{"email", REQ, R_BYTES, 0, 254, NULL},
		{"password", REQ, R_BYTES, 0, 1024, NULL},
		{"protocol", REQ, R_ENUM, 0, 0, "v1"}}},
	{PK(signup, SIGNUP), PART_AUTH, PV0, NULL, PKT_HASHES, RATE_NONE, NULL, NULL, NULL, {
		{"userName", REQ, R_USERNAME, 0, 0, NULL},
		{"password", REQ, R_PASSWORD, 0, 0, NULL},
		{"email", REQ, R_EMAIL, 0, 0, NULL},
		{"signUp", REQ, R_BYTES, 1, 64, NULL}}},
	/* v1: accounts, groups, invites */
	{PK(invite, INVITE), PART_AUTH, PV1, "inviteUserAny", 0, RATE_USER, NULL, "group_name", "groupName", {
		{"groupName", REQ, NAME64}}},
	{PK(createuser, CREATEUSER), PART_AUTH, PV1, "createUser", 0, RATE_USER, NULL, NULL, NULL, {
		{"userName", REQ, R_USERNAME, 0, 0, NULL},
		{"groupName", REQ, NAME64},
		{"email", REQ, R_EMAIL, 0, 0, NULL}}},
	{PK(updateuser, UPDATEUSER), PART_AUTH, PV1, NULL, 0, RATE_USER, NULL, NULL, NULL, {
		{"userid", REQ, R_UUID, 0, 0, NULL},
		{"userName", REQ, R_USERNAME, 0, 0, NULL}}},
	{PK(removeuser, REMOVEUSER), PART_AUTH, PV1, "removeUser", 0, RATE_USER, NULL, NULL, NULL, {
		{"touserid", REQ, R_UUID, 0, 0, NULL},
		{"withvengence", OPT, R_ANY, 0, 0, NULL}}},
	{PK(creategroup, CREATEGROUP), PART_AUTH, PV1, "setGroupPerm", 0, RATE_USER, NULL, NULL, NULL, {
		{"groupName", REQ, NAME64}}},
	{PK(updategroup, UPDATEGROUP), PART_AUTH, PV1, "setGroupPerm", 0, RATE_USER, NULL, NULL, NULL, {
		{"groupName", REQ, NAME64},
		{"changes", REQ, R_ITEMS, 0, 64, NULL}}},
	{PK(removegroup, REMOVEGROUP), PART_AUTH, PV1, "setGroupPerm", 0, RATE_USER, NULL, NULL, NULL, {
		{"groupName", REQ, NAME64}}},
	{PK(setusergroup, SETUSERGROUP), PART_AUTH, PV1, "setUserGroup", 0, RATE_USER, NULL, NULL, NULL, {
		{"userid", REQ, R_UUID, 0, 0, NULL},
		{"groupName", REQ, NAME64}}},
	/* v1: rooms and presence */
	{PK(joinroom, JOINROOM), PART_ROOM, PV1, "joinVoiceRoom", 0, RATE_USER, "@user", NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL}}},
	{PK(leaveroom, LEAVEROOM), PART_ROOM, PV1, NULL, 0, RATE_USER, "@user", NULL, NULL, {
		{"roomid", OPT, R_UUID, 0, 0, NULL}}},
	{PK(createroom, CREATEROOM), PART_ROOM, PV1, "createRoom", 0, RATE_USER, NULL, NULL, NULL, {
		{"roomType", REQ, R_ENUM, 0, 0, "voice|text"},
		{"roomName", REQ, NAME64},
		{"position", OPT, R_INT, -1000000000, 1000000000, NULL}}},
	{PK(updateroom, UPDATEROOM), PART_ROOM, PV1, "renameRoom", 0, RATE_USER, NULL, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL},
		{"roomName", REQ, NAME64},
		{"position", OPT, R_INT, -1000000000, 1000000000, NULL}}},
	{PK(removeroom, REMOVEROOM), PART_ROOM, PV1, "removeRoom", 0, RATE_USER, NULL, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL}}},
	/* v1: messages */
	{PK(getmessages, GETMESSAGES), PART_MSG, PV1, NULL, 0, RATE_USER, NULL, NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL},
		{"segment", OPT, R_INT, 0, 1LL << 53, NULL}}},
	{PK(message, MESSAGE), PART_MSG, PV1, "sendMessage", 0, RATE_USER, "roomid", NULL, NULL, {
		{"roomid", REQ, R_UUID, 0, 0, NULL},
		{"message", REQ, R_ANY, 0, 0, NULL},
		{"message.text", REQ, R_BYTES, 0, TEXT_MAX, NULL},
		{"message.tags", OPT, R_ITEMS, 0, 50, NULL},
		{"message.url", OPT, R_BYTES, 0, 2048, NULL},
		{"filename", OPT, R_BYTES, 0, 255, NULL},
		{"rawfile", OPT, R_BYTES, 0, RAWFILE_MAX, NULL}}},
	{PK(updatemessage, UPDATEMESSAGE), PART_MSG, PV1, NULL, 0, RATE_USER, "roomid|message.roomid", NULL, NULL, {
		{"roomid", OPT, R_UUID, 0, 0, NULL},
		{"messageid", OPT, R_INT, 0, 1LL << 53, NULL},
		{"message", REQ, R_ANY, 0, 0, NULL},
		{"message.roomid", OPT, R_UUID, 0, 0, NULL},
		{"message.idx", OPT, R_INT, 0, 1LL << 53, NULL},
		{"message.text", OPT, R_BYTES, 0, TEXT_MAX, NULL},
		{"message.tags", OPT, R_ITEMS, 0, 50, NULL},
		{"message.url", OPT, R_BYTES, 0, 2048, NULL}}},
	{PK(removemessage, REMOVEMESSAGE), PART_MSG, PV1, NULL, 0, RATE_USER, "roomid|message.roomid", NULL, NULL, {
		{"roomid", OPT, R_UUID, 0, 0, NULL},
		{"messageid", OPT, R_INT, 0, 1LL << 53, NULL},
		{"message.roomid", OPT, R_UUID, 0, 0, NULL},
		{"message.idx", OPT, R_INT, 0, 1LL << 53, NULL}}},
	/* v1: media */
	{PK(video, VIDEO), PART_MEDIA, PV1, NULL, 0, RATE_RELAY, "@conn", NULL, NULL, {
		{"touserid", REQ, R_UUID, 0, 0, NULL},
		{"payload", REQ, R_JSON, 0, JSON_MAX, NULL}}},
	{PK(letmesee, LETMESEE), PART_MEDIA, PV1, NULL, 0, RATE_RELAY, "@conn", NULL, NULL, {
		{"touserid", REQ, R_UUID, 0, 0, NULL},
		{"message", REQ, R_JSON, 0, JSON_MAX, NULL}}},
	{PK(golive, GOLIVE), PART_MEDIA, PV1, NULL, PKT_LATEST, RATE_NONE, "@user", NULL, NULL, {
		{"livestate", REQ, R_ANY, 0, 0, NULL},
		{"livelabel", OPT, R_BYTES, 0, 256, NULL}}},
	{PK(chatdev, CHATDEV), PART_MEDIA, PV1, NULL, PKT_LATEST, RATE_NONE, "@user", NULL, NULL, {
		{"video", REQ, R_ANY, 0, 0, NULL},
		{"audio", REQ, R_ANY, 0, 0, NULL}}},
	{PK(servermute, SERVERMUTE), PART_MEDIA, PV1, "suppressUser", 0, RATE_USER, "@user", NULL, NULL, {
		{"userid", REQ, R_UUID, 0, 0, NULL},
		{"suppress", REQ, R_ANY, 0, 0, NULL}}},
	{PK(talking, TALKING), PART_MEDIA, PV1, NULL, PKT_LATEST, RATE_NONE, "@user", NULL, NULL, {
		{"talking", REQ, R_ANY, 0, 0, NULL}}},
	{PK(contextoption, CONTEXTOPTION), PART_MEDIA, PV1, NULL, 0, RATE_USER, "@conn", NULL, NULL, {
		{"context", REQ, R_BYTES, 0, 64, NULL},
		{"option", REQ, R_BYTES, 0, 256, NULL},
		{"value", OPT, R_JSON, 0, JSON_MAX, NULL}}},
	{PK(windowinput, WINDOWINPUT), PART_MEDIA, PV1, NULL, 0, RATE_USER, "@conn", NULL, NULL, {
		{"inputid", REQ, R_BYTES, 0, 256, NULL},
		{"value", OPT, R_JSON, 0, JSON_MAX, NULL},
		{"allinputs", OPT, R_JSON, 0, JSON_MAX, NULL}}},
	/* Services and operator tools only (no client version) */
	{PK(get_perms, GET_PERMS), PART_AUTH, 0, NULL, 0, RATE_NONE, NULL, NULL, NULL, {{0}}},
	{PK(list_users, LIST_USERS), PART_AUTH, 0, NULL, PKT_INTERNAL, RATE_NONE, NULL, NULL, NULL, {{0}}},
	{PK(admin_create_user, ADMIN_CREATE_USER), PART_AUTH, 0, NULL, PKT_INTERNAL, RATE_NONE, NULL, NULL, NULL, {{0}}},
	{PK(admin_set_password, ADMIN_SET_PASSWORD), PART_AUTH, 0, NULL, PKT_INTERNAL, RATE_NONE, NULL, NULL, NULL, {{0}}},
	{PK(admin_invite, ADMIN_INVITE), PART_AUTH, 0, NULL, PKT_INTERNAL, RATE_NONE, NULL, NULL, NULL, {{0}}},
	{PK(get_room, GET_ROOM), PART_ROOM, 0, NULL, 0, RATE_NONE, NULL, NULL, NULL, {{0}}},
	{PK(get_upload, GET_UPLOAD), PART_MSG, 0, NULL, 0, RATE_NONE, NULL, NULL, NULL, {{0}}},
};
/* clang-format on */

#define NROWS (sizeof table / sizeof *table)

static const char *const part_names[PART_COUNT] = {"auth", "room", "msg", "media"};

const char *part_name(enum part p)
{
	return (unsigned)p < PART_COUNT ? part_names[p] : "?";
}

int part_find(const char *name)
{
	for (int i = 0; i < PART_COUNT; i++)
		if (!strcmp(part_names[i], name))
			return i;
	return -1;
}

const packet_row *packet_table(size_t *n)
{
	*n = NROWS;
	return table;
}

const packet_row *packet_find(const char *type)
{
	for (size_t i = 0; i < NROWS; i++)
		if (!strcmp(table[i].type, type))
			return &table[i];
	return NULL;
}

const packet_row *packet_of_payload(Rb__Envelope__PayloadCase pc)
{
	for (size_t i = 0; i < NROWS; i++)
		if (table[i].payload == pc)
			return &table[i];
	return NULL;
}

/* ------------------------------------------------------------- rules */

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
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
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

const char *packet_string_at(const ProtobufCMessage *m, const char *path)
{
	const ProtobufCMessage *owner;
	const ProtobufCFieldDescriptor *f = m ? field_at(m, path, &owner) : NULL;
	if (!f || !owner || f->type != PROTOBUF_C_TYPE_STRING ||
	    f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(char *const *)((const char *)owner + f->offset);
}

/* The refusal of rule r: "<type>: field <path> <what>". */
typedef struct {
	const packet_row *row;
	char *err;
	size_t errlen;
} verdict;

static int fail(const verdict *v, const field_rule *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(const verdict *v, const field_rule *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(v->err, v->errlen, "%s: field %s ", v->row->type, r->path);
	if (n >= 0 && (size_t)n < v->errlen) {
		va_start(ap, fmt);
		vsnprintf(v->err + n, v->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int check_string(const verdict *v, const field_rule *r, const char *s)
{
	const char *why;
	size_t len = strlen(s);
	switch (r->kind) {
	case R_UUID:
		return uuid_valid(s) ? 0 : fail(v, r, "must be a UUID");
	case R_CHARS:
		return text_name_ok(s, (long)r->min, (long)r->max)
			       ? 0
			       : fail(v, r, "must be %lld-%lld printable characters", r->min,
				      r->max);
	case R_BYTES:
		return len >= (size_t)r->min && len <= (size_t)r->max
			       ? 0
			       : fail(v, r, "must be %lld-%lld bytes long", r->min, r->max);
	case R_ENUM:
		for (const char *p = r->values; *p;) {
			size_t n = strcspn(p, "|");
			if (n == len && !memcmp(p, s, n))
				return 0;
			p += n + (p[n] == '|');
		}
		return fail(v, r, "must be one of %s", r->values);
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
	if (why)
		snprintf(v->err, v->errlen, "%s: %s", v->row->type, why);
	return why ? -1 : 0;
}

static int check_rule(const verdict *v, const field_rule *r, const ProtobufCMessage *m)
{
	const ProtobufCMessage *owner;
	const ProtobufCFieldDescriptor *f = field_at(m, r->path, &owner);
	if (!f) {
		snprintf(v->err, v->errlen, "%s: internal: no field %s", v->row->type, r->path);
		return -1;
	}
	if (!owner || !is_set(owner, f)) {
		if (!r->required)
			return 0;
		snprintf(v->err, v->errlen, "%s: missing field %s", v->row->type, r->path);
		return -1;
	}
	const char *p = (const char *)owner + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)((const char *)owner + f->quantifier_offset);
		if (r->kind == R_ITEMS && n > (size_t)r->max)
			return fail(v, r, "has more than %lld items", r->max);
		return 0;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return check_string(v, r, *(char *const *)p);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64: {
		long long x = f->type == PROTOBUF_C_TYPE_INT32 ? *(const int32_t *)p
							       : (long long)*(const int64_t *)p;
		if (r->kind == R_INT && (x < r->min || x > r->max))
			return fail(v, r, "must be between %lld and %lld", r->min, r->max);
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = (const ProtobufCBinaryData *)p;
		if (r->kind == R_JSON && bd->len > (size_t)r->max)
			return fail(v, r, "is larger than %lld bytes", r->max);
		return 0;
	}
	default:
		return 0;
	}
}

int packet_check(const packet_row *row, const ProtobufCMessage *payload, char *err, size_t errlen)
{
	verdict v = {row, err, errlen};
	for (int i = 0; i < PKT_MAX_RULES && row->rules[i].path; i++)
		if (check_rule(&v, &row->rules[i], payload) < 0)
			return -1;
	return 0;
}
