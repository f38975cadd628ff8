/* The packet table (lib/packet.c), its JSON front (gateway/parse.c) and
 * the services' handler lists (<part>svc/routes.h) against it. */
#include <stdio.h>
#include <string.h>

#include "../authsvc/routes.h"
#include "../gateway/parse.h"
#include "../gateway/pbjson.h"
#include "../mediasvc/routes.h"
#include "../msgsvc/routes.h"
#include "../roomsvc/routes.h"
#include "rebuttal.pb-c.h"
#include "runner.h"
#include "svc.h"

static const char *const all_perms[] = {"createRoom", "inviteUserAny", "sendMessage",
					"joinVoiceRoom", "setGroupPerm"};

static packet_result parse_as(const char *json, int logged_in, const char *const *perms, size_t n)
{
	packet_caller who = {logged_in, perms, n};
	packet_result r;
	packet_parse(json, strlen(json), &who, &r);
	return r;
}

static packet_result parse_v1(const char *json)
{
	return parse_as(json, 1, all_perms, sizeof all_perms / sizeof *all_perms);
}

static packet_result parse_v0(const char *json)
{
	return parse_as(json, 0, NULL, 0);
}

/* Walks a dotted rule path through message descriptors. */
static int path_exists(const ProtobufCMessageDescriptor *d, const char *path)
{
	char name[64];
	size_t n = strcspn(path, ".");
	if (n >= sizeof name)
		return 0;
	memcpy(name, path, n);
	name[n] = '\0';
	const ProtobufCFieldDescriptor *f = pbjson_field(d, name);
	if (!f)
		return 0;
	if (!path[n])
		return 1;
	return f->type == PROTOBUF_C_TYPE_MESSAGE && path_exists(f->descriptor, path + n + 1);
}

/* Every row must name an Envelope payload member of message type, or the
 * generic translation has nothing to fill. */
void test_table_rows_match_envelope(void)
{
	size_t n;
	const packet_row *t = packet_table(&n);
	CHECK(n >= 34);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCFieldDescriptor *f =
			pbjson_field(&rb__envelope__descriptor, t[i].type);
		CHECK_MSG(f && f->type == PROTOBUF_C_TYPE_MESSAGE, "row %s has no payload",
			  t[i].type);
		CHECK_MSG(f && f->id == (unsigned)t[i].payload,
			  "row %s: payload case %d, member %u", t[i].type, (int)t[i].payload,
			  f ? f->id : 0);
		CHECK_MSG(packet_find(t[i].type) == &t[i], "row %s twice", t[i].type);
		CHECK_MSG((unsigned)t[i].part < PART_COUNT, "row %s has no part", t[i].type);
		for (int k = 0; k < PKT_MAX_RULES && t[i].rules[k].path; k++)
			CHECK_MSG(path_exists(f->descriptor, t[i].rules[k].path),
				  "row %s: rule path %s is not a field", t[i].type,
				  t[i].rules[k].path);
	}
}

/* The rate classes hold what gateway/limits.c assumes of them: a relay row
 * names its target in a required `touserid`; a row that replaces its
 * waiting predecessor (a state) or hashes a password is never refused for
 * the rate; v0 rows (no user yet) have no user bucket to draw on. */
void test_table_rate_classes(void)
{
	size_t n, relays = 0;
	const packet_row *t = packet_table(&n);
	for (size_t i = 0; i < n; i++) {
		if (t[i].rate == RATE_RELAY) {
			int target = 0;
			for (int k = 0; k < PKT_MAX_RULES && t[i].rules[k].path; k++)
				target |= !strcmp(t[i].rules[k].path, "touserid") &&
					  t[i].rules[k].required && t[i].rules[k].kind == R_UUID;
			CHECK_MSG(target, "relay row %s has no required UUID touserid", t[i].type);
			relays++;
		}
		if (t[i].flags & (PKT_LATEST | PKT_HASHES))
			CHECK_MSG(t[i].rate == RATE_NONE, "row %s is rated", t[i].type);
		if (t[i].versions & PV0)
			CHECK_MSG(t[i].rate != RATE_USER, "v0 row %s draws on a user bucket",
				  t[i].type);
	}
	CHECK_EQ_INT(relays, 2);
	CHECK_EQ_INT(packet_find("video")->rate, RATE_RELAY);
	CHECK_EQ_INT(packet_find("letmesee")->rate, RATE_RELAY);
	CHECK_EQ_INT(packet_find("message")->rate, RATE_USER);
}

void test_table_invalid_json_closes(void)
{
	packet_result r = parse_v0("{\"type\": \"login\",");
	CHECK_EQ_INT(r.status, PKT_CLOSE);
	CHECK_EQ_INT(r.close_code, 3001);
	CHECK_EQ_STR(r.close_reason, "Invalid JSON");
	r = parse_v1("not json at all");
	CHECK_EQ_INT(r.status, PKT_CLOSE);
}

void test_table_non_object_errors_then_closes(void)
{
	const char *cases[] = {"[1,2]", "42", "\"login\"", "{\"type\": 5}", "{\"notype\":1}"};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		packet_result r = parse_v1(cases[i]);
		CHECK_MSG(r.status == PKT_ERROR_CLOSE, "case %s", cases[i]);
		CHECK_EQ_INT(r.close_code, 3001);
		CHECK(r.error[0]);
	}
}

void test_table_v1_before_login(void)
{
	packet_result r = parse_v0("{\"type\":\"leaveroom\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR);
	CHECK_EQ_STR(r.error, "Not logged in");
	r = parse_v0("{\"type\":\"nonsense\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR);
	/* And v0 packets after login are refused, connection kept. */
	r = parse_v1(
		"{\"type\":\"login\",\"email\":\"a@b.c\",\"password\":\"x\",\"protocol\":\"v1\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR);
	CHECK(strstr(r.error, "already logged in"));
}

void test_table_unknown_type(void)
{
	packet_result r = parse_v1("{\"type\":\"frobnicate\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR);
	CHECK(strstr(r.error, "frobnicate"));
}

void test_table_permission_denied(void)
{
	packet_result r = parse_as(
		"{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"x\"}", 1, NULL, 0);
	CHECK_EQ_INT(r.status, PKT_ERROR);
	CHECK_EQ_STR(r.error, "Permission denied \"createRoom\"");
	r = parse_as("{\"type\":\"invite\",\"groupName\":\"user\"}", 1, NULL, 0);
	CHECK_EQ_STR(r.error, "Permission denied \"inviteUserAny\"");
}

void test_table_missing_and_wrong_fields(void)
{
	packet_result r = parse_v1("{\"type\":\"joinroom\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR);
	CHECK_EQ_STR(r.error, "joinroom: missing field roomid");
	r = parse_v1("{\"type\":\"joinroom\",\"roomid\":7}");
	CHECK_EQ_STR(r.error, "joinroom: field roomid must be a string");
	r = parse_v1("{\"type\":\"joinroom\",\"roomid\":\"not-a-uuid\"}");
	CHECK_EQ_STR(r.error, "joinroom: field roomid must be a UUID");
	r = parse_v1("{\"type\":\"createroom\",\"roomType\":\"video\",\"roomName\":\"x\"}");
	CHECK_EQ_STR(r.error, "createroom: field roomType must be one of voice|text");
	r = parse_v1("{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"\"}");
	CHECK(strstr(r.error, "roomName"));
	r = parse_v1(
		"{\"type\":\"getmessages\",\"roomid\":\"0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e\","
		"\"segment\":-1}");
	CHECK_EQ_STR(r.error, "getmessages: field segment must be between 0 and 9007199254740992");
	r = parse_v1("{\"type\":\"message\",\"roomid\":\"0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e\","
		     "\"message\":{}}");
	CHECK_EQ_STR(r.error, "message: missing field message.text");
	r = parse_v1("{\"type\":\"talking\",\"talking\":\"yes\"}");
	CHECK_EQ_STR(r.error, "talking: field talking must be a boolean");
	CHECK(r.msg == NULL);
}

void test_table_login_rules_close(void)
{
	packet_result r = parse_v0("{\"type\":\"login\",\"email\":\"a@b.c\",\"password\":\"p\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR_CLOSE);
	CHECK_EQ_STR(r.error, "login: missing field protocol");
	r = parse_v0(
		"{\"type\":\"login\",\"email\":\"a@b.c\",\"password\":\"p\",\"protocol\":\"v0\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR_CLOSE);
	r = parse_v0(
		"{\"type\":\"login\",\"email\":\"a@b.c\",\"password\":\"p\",\"protocol\":\"v9\"}");
	CHECK_EQ_INT(r.status, PKT_ERROR_CLOSE);
	r = parse_v0(
		"{\"type\":\"login\",\"email\":\"a@b.c\",\"password\":\"p\",\"protocol\":\"v1\"}");
	CHECK_EQ_INT(r.status, PKT_OK);
	CHECK(r.row->flags & PKT_LOGIN);
	Rb__CLogin *l = (Rb__CLogin *)r.msg;
	CHECK_EQ_STR(l->email, "a@b.c");
	CHECK_EQ_STR(l->protocol, "v1");
	packet_result_free(&r);
}

void test_table_signup_rules(void)
{
	const char *base = "{\"type\":\"signup\",\"userName\":\"%s\",\"password\":\"%s\","
			   "\"email\":\"%s\",\"signUp\":\"signup\"}";
	struct {
		const char *name, *pw, *email;
		int ok;
	} cases[] = {
		{"alice", "0123456789", "a@b.c", 1},
		{"a", "0123456789", "a@b.c", 0},           /* name too short */
		{"al\\u0001ce", "0123456789", "a@b.c", 0}, /* control character */
		{"   ", "0123456789", "a@b.c", 0},         /* only spaces */
		{"alice", "short", "a@b.c", 0},            /* password < 10 */
		{"alice", "0123456789", "nobody", 0},      /* email without @ */
		{"Zoë ☃", "0123456789", "z@x.io", 1},      /* printable non-ASCII */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char json[512];
		snprintf(json, sizeof json, base, cases[i].name, cases[i].pw, cases[i].email);
		packet_result r = parse_v0(json);
		CHECK_MSG((r.status == PKT_OK) == cases[i].ok, "case %zu: %s", i, r.error);
		CHECK_MSG(r.status != PKT_ERROR_CLOSE, "signup errors keep the socket open");
		packet_result_free(&r);
	}
}

void test_table_alias_and_limits(void)
{
	packet_result r = parse_v1("{\"type\":\"invite\",\"group_name\":\"user\"}");
	CHECK_EQ_INT(r.status, PKT_OK);
	CHECK_EQ_STR(((Rb__CInvite *)r.msg)->groupname, "user");
	packet_result_free(&r);

	/* 8000 bytes of text pass, 8001 do not. */
	static char json[9000];
	for (int len = 8000; len <= 8001; len++) {
		int n = snprintf(
			json, sizeof json,
			"{\"type\":\"message\",\"roomid\":"
			"\"0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e\",\"message\":{\"text\":\"");
		memset(json + n, 'x', (size_t)len);
		strcpy(json + n + len, "\"}}");
		r = parse_v1(json);
		CHECK_EQ_INT(r.status, len == 8000 ? PKT_OK : PKT_ERROR);
		packet_result_free(&r);
	}
}

void test_table_ok_packets(void)
{
	const char *ok[] = {
		"{\"type\":\"leaveroom\"}",
		"{\"type\":\"getmessages\",\"roomid\":\"0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e\",\"segment\":null}",
		"{\"type\":\"video\",\"touserid\":\"0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e\",\"payload\":{\"sdp\":\"x\"}}",
		"{\"type\":\"talking\",\"talking\":true,\"userid\":\"extra fields are ignored\"}",
		"{\"type\":\"chatdev\",\"video\":false,\"audio\":true}",
		"{\"type\":\"updategroup\",\"groupName\":\"g\",\"changes\":[{\"add\":\"createRoom\"}]}",
		"{\"type\":\"contextoption\",\"context\":\"user\",\"option\":\"kick\",\"value\":\"x\"}",
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		packet_result r = parse_v1(ok[i]);
		CHECK_MSG(r.status == PKT_OK, "%s: %s", ok[i], r.error);
		CHECK_NOT_NULL(r.msg);
		packet_result_free(&r);
	}
}

/* ---------------------------------------------- handlers against rows */

#define OP_NAME(type) {.op = #type},

/* A part's handler list (its routes.h) is checked by svc_routes_check,
 * the check svc_start makes before it serves. */
static int check_list(const char *part, svc_route *r, size_t n, char *why, size_t len)
{
	return svc_routes_check(part, r, n, why, len);
}

/* Every row has exactly one handler in the service of its part, and every
 * handler a row of that part. */
void test_table_rows_have_handlers(void)
{
	svc_route auth[] = {AUTHSVC_ROUTES(OP_NAME)}, room[] = {ROOMSVC_ROUTES(OP_NAME)},
		  msg[] = {MSGSVC_ROUTES(OP_NAME)}, media[] = {MEDIASVC_ROUTES(OP_NAME)};
	struct {
		const char *part;
		svc_route *r;
		size_t n;
	} lists[] = {{"auth", auth, sizeof auth / sizeof *auth},
		     {"room", room, sizeof room / sizeof *room},
		     {"msg", msg, sizeof msg / sizeof *msg},
		     {"media", media, sizeof media / sizeof *media}};
	char why[256];
	size_t rows, handlers = 0;
	packet_table(&rows);
	for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
		CHECK_MSG(check_list(lists[i].part, lists[i].r, lists[i].n, why, sizeof why) == 0,
			  "%s", why);
		handlers += lists[i].n;
	}
	CHECK_EQ_INT(handlers, rows);
}

/* The check fails for a row without a handler, a handler without a row,
 * a handler of another part's row and a row with two handlers. */
void test_table_handler_mismatch_found(void)
{
	char why[256];
	svc_route missing[] = {OP_NAME(message) OP_NAME(getmessages) OP_NAME(updatemessage)
				       OP_NAME(removemessage)};
	CHECK_EQ_INT(check_list("msg", missing, 4, why, sizeof why), -1);
	CHECK_EQ_STR(why, "msg: row get_upload has no handler (h_get_upload)");

	svc_route extra[] = {MSGSVC_ROUTES(OP_NAME) OP_NAME(sendpigeon)};
	CHECK_EQ_INT(check_list("msg", extra, sizeof extra / sizeof *extra, why, sizeof why), -1);
	CHECK(strstr(why, "h_sendpigeon has no row") != NULL);

	svc_route other[] = {MSGSVC_ROUTES(OP_NAME) OP_NAME(joinroom)};
	CHECK_EQ_INT(check_list("msg", other, sizeof other / sizeof *other, why, sizeof why), -1);
	CHECK(strstr(why, "h_joinroom has no row of part msg") != NULL);

	svc_route twice[] = {MSGSVC_ROUTES(OP_NAME) OP_NAME(message)};
	CHECK_EQ_INT(check_list("msg", twice, sizeof twice / sizeof *twice, why, sizeof why), -1);
	CHECK_EQ_STR(why, "msg: two handlers of message");

	CHECK_EQ_INT(check_list("mail", NULL, 0, why, sizeof why), -1);
}

/* An ordering key names the caller or string fields of the payload. */
void test_table_keys_name_fields(void)
{
	size_t n;
	const packet_row *t = packet_table(&n);
	for (size_t i = 0; i < n; i++) {
		const char *k = t[i].key;
		if (!k || !strcmp(k, "@user") || !strcmp(k, "@conn"))
			continue;
		const ProtobufCFieldDescriptor *f =
			pbjson_field(&rb__envelope__descriptor, t[i].type);
		char path[64];
		while (f && *k) {
			size_t len = strcspn(k, "|");
			CHECK(len < sizeof path);
			snprintf(path, sizeof path, "%.*s", (int)len, k);
			CHECK_MSG(path_exists(f->descriptor, path), "row %s: key %s is not a field",
				  t[i].type, path);
			k += len + (k[len] == '|');
		}
	}
	CHECK_EQ_STR(packet_find("message")->key, "roomid");
	CHECK_EQ_STR(packet_find("joinroom")->key, "@user");
}

/* Internal rows are not client packets: the gateway knows none of them, before
 * or after login. */
void test_table_internal_rows_unknown_to_clients(void)
{
	size_t n, internal = 0;
	const packet_row *t = packet_table(&n);
	for (size_t i = 0; i < n; i++) {
		char json[128], want[128];
		if (t[i].versions)
			continue;
		snprintf(json, sizeof json, "{\"type\":\"%s\"}", t[i].type);
		snprintf(want, sizeof want, "unknown packet type \"%s\"", t[i].type);
		packet_result r = parse_v1(json);
		CHECK_MSG(r.status == PKT_ERROR && !strcmp(r.error, want), "%s: %s", t[i].type,
			  r.error);
		r = parse_v0(json);
		CHECK_MSG(!strcmp(r.error, "Not logged in"), "%s before login: %s", t[i].type,
			  r.error);
		internal++;
	}
	CHECK_EQ_INT(internal, 7);
}
