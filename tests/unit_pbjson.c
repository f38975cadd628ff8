/* Generic JSON <-> protobuf translation (gateway/pbjson.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gateway/pbjson.h"
#include "rebuttal.pb-c.h"
#include "runner.h"
#include "valid.h"

static ProtobufCMessage *from(const ProtobufCMessageDescriptor *d, const char *json, char *err)
{
	json_t *o = json_loads(json, 0, NULL);
	CHECK_NOT_NULL(o);
	ProtobufCMessage *m = pbjson_from_json(d, o, err, 200);
	json_decref(o);
	return m;
}

static char *dump(const ProtobufCMessage *m)
{
	json_t *o = pbjson_to_json(m);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void test_pbjson_from_json_types(void)
{
	char err[200];
	Rb__CMessage *m = (Rb__CMessage *)from(
		&rb__cmessage__descriptor,
		"{\"roomid\":\"r\",\"message\":{\"text\":\"hi\",\"tags\":[\"a\",\"b\"],\"userid\":\"forged\"},"
		"\"filename\":null,\"unknown\":[1,2]}",
		err);
	CHECK_NOT_NULL(m);
	CHECK_EQ_STR(m->roomid, "r");
	CHECK_EQ_STR(m->message->text, "hi");
	CHECK_EQ_INT(m->message->n_tags, 2);
	CHECK_EQ_STR(m->message->tags[1], "b");
	CHECK(m->filename == NULL);
	protobuf_c_message_free_unpacked(&m->base, NULL);

	CHECK(from(&rb__cmessage__descriptor, "{\"message\":{\"tags\":[\"a\",3]}}", err) == NULL);
	CHECK_EQ_STR(err, "field message.tags must be a string");
	CHECK(from(&rb__cget_messages__descriptor, "{\"segment\":1.5}", err) == NULL);
	CHECK_EQ_STR(err, "field segment must be an integer");
	Rb__CGetMessages *g =
		(Rb__CGetMessages *)from(&rb__cget_messages__descriptor, "{\"segment\":3.0}", err);
	CHECK(g && g->has_segment && g->segment == 3);
	protobuf_c_message_free_unpacked(&g->base, NULL);
	CHECK(from(&rb__ccreate_room__descriptor, "{\"position\":4294967296}", err) == NULL);
}

void test_pbjson_opaque_json_round_trip(void)
{
	char err[200];
	const char *payload = "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\",\"n\":[1,true,null]}";
	char json[256];
	snprintf(json, sizeof json, "{\"touserid\":\"u\",\"payload\":%s}", payload);
	Rb__CVideo *v = (Rb__CVideo *)from(&rb__cvideo__descriptor, json, err);
	CHECK_NOT_NULL(v);
	CHECK(v->has_payload);

	/* Re-emitted as the same JSON value, not as a string. */
	Rb__SVideo out = RB__SVIDEO__INIT;
	out.fromuserid = "me";
	out.touserid = v->touserid;
	out.has_payload = 1;
	out.payload = v->payload;
	char *s = dump(&out.base);
	json_t *got = json_loads(s, 0, NULL), *want = json_loads(payload, 0, NULL);
	CHECK(json_equal(json_object_get(got, "payload"), want));
	json_decref(got);
	json_decref(want);
	free(s);
	protobuf_c_message_free_unpacked(&v->base, NULL);

	/* A bare string payload stays a string. */
	v = (Rb__CVideo *)from(&rb__cvideo__descriptor, "{\"payload\":\"plain\"}", err);
	CHECK_EQ_INT(v->payload.len, 7);
	protobuf_c_message_free_unpacked(&v->base, NULL);
}

void test_pbjson_to_json_nulls_and_absent(void)
{
	Rb__Message m = RB__MESSAGE__INIT;
	m.roomid = "r";
	m.has_idx = 1;
	m.idx = 0;
	m.username = "root";
	m.text = "*Message Removed*";
	char *s = dump(&m.base);
	CHECK_EQ_STR(s, "{\"roomid\":\"r\",\"idx\":0,\"userid\":null,\"username\":\"root\","
			"\"text\":\"*Message Removed*\",\"tags\":[],\"url\":null,\"type\":null,"
			"\"img\":null,\"width\":null,\"height\":null}");
	free(s);

	Rb__User u = RB__USER__INIT;
	u.id = "u";
	u.name = "n";
	u.has_status = 1;
	u.status = 1;
	s = dump(&u.base);
	CHECK(strstr(s, "\"avatar\"") == NULL); /* absent, never null */
	CHECK(strstr(s, "\"currentRoom\":null"));
	CHECK(strstr(s, "\"status\":true"));
	free(s);
}

void test_pbjson_groups_map_and_lists(void)
{
	Rb__SGroups g = RB__SGROUPS__INIT;
	Rb__SGroups__GroupsEntry e = RB__SGROUPS__GROUPS_ENTRY__INIT, *ep = &e;
	Rb__PermList pl = RB__PERM_LIST__INIT;
	char *perms[] = {"joinVoiceRoom", "sendMessage"};
	pl.perms = perms;
	pl.n_perms = 2;
	e.key = "user";
	e.value = &pl;
	g.groups = &ep;
	g.n_groups = 1;
	char *s = dump(&g.base);
	CHECK_EQ_STR(s, "{\"groups\":{\"user\":[\"joinVoiceRoom\",\"sendMessage\"]}}");
	free(s);

	/* oneof helpers on Envelope */
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__CTalking t = RB__CTALKING__INIT;
	CHECK_EQ_INT(pbjson_oneof_put(&env.base, "talking", &t.base), 0);
	CHECK_EQ_INT(env.payload_case, RB__ENVELOPE__PAYLOAD_TALKING);
	CHECK_EQ_STR(pbjson_oneof_set(&env.base)->name, "talking");
	CHECK(pbjson_oneof_put(&env.base, "request_id", &t.base) < 0);
}

void test_valid_text_rules(void)
{
	CHECK(text_printable("hello"));
	CHECK(!text_printable(""));
	CHECK(!text_printable("   "));
	CHECK(!text_printable("a\tb"));
	CHECK(!text_printable("\xc2\x85")); /* C1 control NEL */
	CHECK(!text_printable("\xff"));
	CHECK(!text_printable("\xed\xa0\x80")); /* surrogate */
	CHECK(text_printable("caf\xc3\xa9"));
	CHECK_EQ_INT(utf8_chars("caf\xc3\xa9", 5), 4);
	CHECK(valid_user_name("ab") == NULL);
	CHECK(valid_user_name("a") != NULL);
	CHECK(valid_user_name("0123456789012345678901234567890123") != NULL);
	CHECK(valid_password("123456789") != NULL);
	CHECK(valid_password("1234567890") == NULL);
	CHECK(valid_email("root@localhost") != NULL); /* sign-up needs a dot */
	CHECK(valid_email("a@b.c") == NULL);
	CHECK(valid_email("ab.c") != NULL);
}

/* What the gateway's render_delivery_json dumps: the tree's way. */
static char *tree_typed(const char *type, const ProtobufCMessage *m)
{
	json_t *o = json_pack("{s:s}", "type", type);
	json_t *fields = m ? pbjson_to_json(m) : json_object();
	json_object_update(o, fields);
	json_decref(fields);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* pbjson_dump_typed writes what the tree would, or gives up (NULL). */
static int same_as_tree(const char *type, const ProtobufCMessage *m)
{
	size_t len = 0;
	char *fast = pbjson_dump_typed(type, m, &len);
	char *tree = tree_typed(type, m);
	int ok = -1;
	if (fast) {
		ok = len == strlen(tree) && !memcmp(fast, tree, len);
		if (!ok)
			fprintf(stderr, "fast: %.*s\ntree: %s\n", (int)len, fast, tree);
	}
	free(fast);
	free(tree);
	return ok; /* 1 same, 0 different, -1 not written */
}

void test_pbjson_dump_matches_tree(void)
{
	/* Every packet a delivery can carry, empty. */
	const ProtobufCMessageDescriptor *dd = &rb__delivery__descriptor;
	for (unsigned i = 0; i < dd->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &dd->fields[i];
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const ProtobufCMessageDescriptor *pd = f->descriptor;
		ProtobufCMessage *m = calloc(1, pd->sizeof_message);
		pd->message_init(m);
		CHECK(same_as_tree(f->name, m) != 0);
		free(m);
	}
	CHECK_EQ_INT(same_as_tree("updateText", NULL), 1);

	/* A history page with every kind of string. */
	static const char *texts[] = {
		"plain",
		"",
		"quote \" backslash \\ slash /",
		"tab\tnl\ncr\rbs\bff\f",
		"ctl \x01\x1f del \x7f",
		"utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8",
	};
	enum { N = sizeof texts / sizeof *texts };
	Rb__Message msgs[N], *mp[N];
	char *tags[] = {"a", "b\"c", "\xe2\x82\xac"};
	for (size_t i = 0; i < N; i++) {
		rb__message__init(&msgs[i]);
		msgs[i].roomid = "room";
		msgs[i].has_idx = 1;
		msgs[i].idx = (int64_t)i * 1000000007LL - 3;
		msgs[i].userid = i % 2 ? NULL : "user";
		msgs[i].username = (char *)texts[(i + 1) % N];
		msgs[i].text = (char *)texts[i];
		msgs[i].tags = tags;
		msgs[i].n_tags = i % 4;
		msgs[i].url = i == 3 ? "http://x/y?a=1&b=<2>" : NULL;
		msgs[i].img = i == 4 ? "uploads/x.png" : NULL;
		msgs[i].has_width = msgs[i].has_height = i == 4;
		msgs[i].width = -1;
		msgs[i].height = 2147483647;
		mp[i] = &msgs[i];
	}
	Rb__SUpdateText ut = RB__SUPDATE_TEXT__INIT;
	ut.roomid = "room";
	ut.has_segment = 1;
	ut.segment = 9223372036854775807LL;
	ut.messages = mp;
	ut.n_messages = N;
	CHECK_EQ_INT(same_as_tree("updateText", &ut.base), 1);
	ut.n_messages = 0;
	CHECK_EQ_INT(same_as_tree("updateText", &ut.base), 1);

	/* Users: avatar absent when unset, present when set. */
	Rb__User u = RB__USER__INIT;
	u.id = "u";
	u.name = "n";
	u.has_status = 1;
	u.status = 1;
	CHECK_EQ_INT(same_as_tree("x", &u.base), 1);
	u.avatar = "a.png";
	CHECK_EQ_INT(same_as_tree("x", &u.base), 1);

	/* Invalid UTF-8 (the tree leaves the field out): not written. */
	ut.n_messages = 1;
	msgs[0].text = "bad \xc3\x28";
	CHECK_EQ_INT(same_as_tree("updateText", &ut.base), -1);
	msgs[0].text = "surrogate \xed\xa0\x80";
	CHECK_EQ_INT(same_as_tree("updateText", &ut.base), -1);
	msgs[0].text = "overlong \xc0\xaf";
	CHECK_EQ_INT(same_as_tree("updateText", &ut.base), -1);
	msgs[0].text = "cut \xe2\x82";
	CHECK_EQ_INT(same_as_tree("updateText", &ut.base), -1);

	/* A member named "type" at the top: the tree's way. */
	CHECK_EQ_INT(same_as_tree("sendMessage", &msgs[1].base), -1);
}
