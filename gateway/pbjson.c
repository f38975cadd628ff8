#include "pbjson.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fields that are left out of the JSON when unset instead of being null:
 * the web client's user list breaks on a present avatar (PROTOCOL.md §2). */
static const char *const absent_when_unset[] = {"avatar"};

#define FIELD_PTR(m, f) ((char *)(m) + (f)->offset)
#define QUANT_PTR(m, f) ((char *)(m) + (f)->quantifier_offset)

static int is_absent_when_unset(const char *name)
{
	for (size_t i = 0; i < sizeof absent_when_unset / sizeof *absent_when_unset; i++)
		if (!strcmp(name, absent_when_unset[i]))
			return 1;
	return 0;
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_FLOAT:
		return 4;
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return sizeof(void *);
	}
}

/* ------------------------------------------------------- JSON -> protobuf */

typedef struct {
	char *err;
	size_t errlen;
} ctx;

static int fail(ctx *c, const char *path, const char *name, const char *kind)
{
	snprintf(c->err, c->errlen, "field %s%s%s must be %s", path, *path ? "." : "", name, kind);
	return -1;
}

static ProtobufCMessage *from_object(ctx *c, const ProtobufCMessageDescriptor *d, json_t *obj,
				     const char *path);

static int int_of(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	/* 3.0 is an integer too for JavaScript clients. */
	if (json_is_real(v)) {
		double x = json_real_value(v);
		if (x >= -9007199254740992.0 && x <= 9007199254740992.0 &&
		    x == (double)(int64_t)x) {
			*out = (int64_t)x;
			return 0;
		}
	}
	return -1;
}

/* Converts one JSON value into the slot at dst. Allocates what it stores. */
static int set_value(ctx *c, const ProtobufCFieldDescriptor *f, json_t *v, void *dst,
		     const char *path)
{
	int64_t n;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(v))
			return fail(c, path, f->name, "a string");
		char *s = strndup(json_string_value(v), json_string_length(v));
		if (!s)
			return fail(c, path, f->name, "smaller");
		*(char **)dst = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return fail(c, path, f->name, "a boolean");
		*(protobuf_c_boolean *)dst = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (int_of(v, &n) < 0 || n < INT32_MIN || n > INT32_MAX)
			return fail(c, path, f->name, "a 32-bit integer");
		*(int32_t *)dst = (int32_t)n;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (int_of(v, &n) < 0)
			return fail(c, path, f->name, "an integer");
		*(int64_t *)dst = n;
		return 0;
	case PROTOBUF_C_TYPE_BYTES: {
		/* Opaque client JSON: keep its compact text. */
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!s)
			return fail(c, path, f->name, "JSON");
		ProtobufCBinaryData *bd = dst;
		bd->data = (uint8_t *)s;
		bd->len = strlen(s);
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		char sub[256];
		if (!json_is_object(v))
			return fail(c, path, f->name, "an object");
		snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", f->name);
		ProtobufCMessage *m = from_object(c, f->descriptor, v, sub);
		if (!m)
			return -1;
		*(ProtobufCMessage **)dst = m;
		return 0;
	}
	default:
		return fail(c, path, f->name, "of a supported type");
	}
}

static int set_repeated(ctx *c, const ProtobufCFieldDescriptor *f, json_t *v, void *m,
			const char *path)
{
	size_t n = json_array_size(v), sz = value_size(f);
	if (!json_is_array(v))
		return fail(c, path, f->name, "a list");
	if (!n)
		return 0;
	char *arr = calloc(n, sz);
	if (!arr)
		return fail(c, path, f->name, "shorter");
	*(void **)FIELD_PTR(m, f) = arr;
	/* Count grows with each stored element so a failure frees exactly
	 * what was allocated. */
	size_t *count = (size_t *)QUANT_PTR(m, f);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (json_is_null(e) || set_value(c, f, e, arr + i * sz, path) < 0) {
			if (json_is_null(e))
				fail(c, path, f->name, "a list without nulls");
			return -1;
		}
		(*count)++;
	}
	return 0;
}

static int set_field(ctx *c, const ProtobufCFieldDescriptor *f, json_t *v, ProtobufCMessage *m,
		     const char *path)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return set_repeated(c, f, v, m, path);
	if (set_value(c, f, v, FIELD_PTR(m, f), path) < 0)
		return -1;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)QUANT_PTR(m, f) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		 f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)QUANT_PTR(m, f) = 1;
	return 0;
}

static ProtobufCMessage *from_object(ctx *c, const ProtobufCMessageDescriptor *d, json_t *obj,
				     const char *path)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	if (!m) {
		snprintf(c->err, c->errlen, "out of memory");
		return NULL;
	}
	d->message_init(m);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v = json_object_get(obj, f->name);
		if (!v || json_is_null(v))
			continue;
		if (set_field(c, f, v, m, path) < 0) {
			protobuf_c_message_free_unpacked(m, NULL);
			return NULL;
		}
	}
	return m;
}

ProtobufCMessage *pbjson_from_json(const ProtobufCMessageDescriptor *desc, json_t *obj, char *err,
				   size_t errlen)
{
	ctx c = {err, errlen};
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "packet must be an object");
		return NULL;
	}
	return from_object(&c, desc, obj, "");
}

/* ------------------------------------------------------- protobuf -> JSON */

static json_t *to_object(const ProtobufCMessage *m);

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return s ? json_string(s) : json_null();
	}
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t) * (const uint64_t *)p);
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = p;
		json_t *v =
			bd->len ? json_loadb((const char *)bd->data, bd->len, JSON_DECODE_ANY, NULL)
				: NULL;
		return v ? v : json_null();
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		return sub ? to_object(sub) : json_null();
	}
	default:
		return json_null();
	}
}

/* A "*List" message with one repeated field renders as that list. */
static int is_list_wrapper(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);
	return d->n_fields == 1 && d->fields[0].label == PROTOBUF_C_LABEL_REPEATED && n > 4 &&
	       !strcmp(d->name + n - 4, "List");
}

static int is_map_entry(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n = strlen(d->name);
	return f->type == PROTOBUF_C_TYPE_MESSAGE && d->n_fields == 2 && n > 5 &&
	       !strcmp(d->name + n - 5, "Entry") && !strcmp(d->fields[0].name, "key") &&
	       d->fields[0].type == PROTOBUF_C_TYPE_STRING && !strcmp(d->fields[1].name, "value");
}

static json_t *repeated_json(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	size_t n = *(const size_t *)QUANT_PTR(m, f), sz = value_size(f);
	const char *arr = *(char *const *)FIELD_PTR(m, f);
	int map = f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f);
	json_t *out = map ? json_object() : json_array();

	for (size_t i = 0; out && i < n; i++) {
		if (map) {
			const ProtobufCMessage *e = *(ProtobufCMessage *const *)(arr + i * sz);
			const ProtobufCMessageDescriptor *ed = f->descriptor;
			const ProtobufCFieldDescriptor *kf = &ed->fields[0];
			const ProtobufCFieldDescriptor *vf = &ed->fields[1];
			const char *key = *(char *const *)FIELD_PTR(e, kf);
			json_object_set_new(out, key ? key : "", value_json(vf, FIELD_PTR(e, vf)));
		} else {
			json_array_append_new(out, value_json(f, arr + i * sz));
		}
	}
	return out;
}

static int field_is_set(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)QUANT_PTR(m, f) == f->id;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		return *(const protobuf_c_boolean *)QUANT_PTR(m, f);
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *)FIELD_PTR(m, f) != NULL;
	return 1;
}

static json_t *to_object(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (is_list_wrapper(d))
		return repeated_json(&d->fields[0], m);
	json_t *o = json_object();
	for (unsigned i = 0; o && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			v = repeated_json(f, m);
		} else if (!field_is_set(f, m)) {
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
			    is_absent_when_unset(f->name))
				continue;
			v = json_null();
		} else {
			v = value_json(f, FIELD_PTR(m, f));
		}
		json_object_set_new(o, f->name, v);
	}
	return o;
}

json_t *pbjson_to_json(const ProtobufCMessage *m)
{
	return to_object(m);
}

const ProtobufCFieldDescriptor *pbjson_oneof_set(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)QUANT_PTR(m, f) == f->id)
			return f;
	}
	return NULL;
}

const ProtobufCFieldDescriptor *pbjson_field(const ProtobufCMessageDescriptor *desc,
					     const char *name)
{
	return protobuf_c_message_descriptor_get_field_by_name(desc, name);
}

int pbjson_oneof_put(ProtobufCMessage *m, const char *name, ProtobufCMessage *sub)
{
	const ProtobufCFieldDescriptor *f = pbjson_field(m->descriptor, name);
	if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return -1;
	*(uint32_t *)QUANT_PTR(m, f) = f->id;
	*(ProtobufCMessage **)FIELD_PTR(m, f) = sub;
	return 0;
}

/* ------------------------------------------ protobuf -> JSON text, direct */

/* What json_dumpb(…, JSON_COMPACT) makes of pbjson_to_json's tree, written
 * straight from the message: a reply or delivery is rendered once per
 * request, and building the tree (an object per message, a hash insert per
 * field) cost more than the rest of the gateway's work on it. Anything the
 * writer does not do exactly as jansson would (bytes fields, maps, a string
 * jansson refuses) makes it give up, and the caller renders the tree. */
typedef struct {
	char *p;
	size_t len, cap;
	int fail;
} jw;

static void jw_put(jw *w, const char *s, size_t n)
{
	if (w->fail)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 1024;
		while (cap < w->len + n)
			cap *= 2;
		char *p = realloc(w->p, cap);
		if (!p) {
			w->fail = 1;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

#define JW_LIT(w, s) jw_put((w), (s), sizeof(s) - 1)

/* Bytes in the UTF-8 sequence starting at s (of at most n), 0 when
 * jansson's utf8_iterate would refuse it. */
static size_t utf8_seq(const unsigned char *s, size_t n, int32_t *cp)
{
	unsigned char u = s[0];
	size_t k;
	int32_t v;
	if (u < 0x80) {
		*cp = u;
		return 1;
	}
	if (u >= 0xC2 && u <= 0xDF)
		k = 2, v = u & 0x1F;
	else if (u >= 0xE0 && u <= 0xEF)
		k = 3, v = u & 0x0F;
	else if (u >= 0xF0 && u <= 0xF4)
		k = 4, v = u & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		v = (v << 6) + (s[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (k == 2 && v < 0x80) ||
	    (k == 3 && v < 0x800) || (k == 4 && v < 0x10000))
		return 0;
	*cp = v;
	return k;
}

/* jansson's dump_string without flags; invalid UTF-8 fails the writer
 * (json_string refuses it, and the tree leaves the field out). */
static void jw_string(jw *w, const char *str)
{
	const unsigned char *s = (const unsigned char *)str, *run = s;
	size_t n = strlen(str);
	const unsigned char *end = s + n;
	JW_LIT(w, "\"");
	while (s < end) {
		int32_t cp;
		size_t k = utf8_seq(s, (size_t)(end - s), &cp);
		if (!k) {
			w->fail = 1;
			return;
		}
		if (cp != '\\' && cp != '"' && cp >= 0x20) {
			s += k;
			continue;
		}
		jw_put(w, (const char *)run, (size_t)(s - run));
		char seq[8];
		const char *text = seq;
		size_t len = 2;
		switch (cp) {
		case '\\':
			text = "\\\\";
			break;
		case '"':
			text = "\\\"";
			break;
		case '\b':
			text = "\\b";
			break;
		case '\f':
			text = "\\f";
			break;
		case '\n':
			text = "\\n";
			break;
		case '\r':
			text = "\\r";
			break;
		case '\t':
			text = "\\t";
			break;
		default:
			snprintf(seq, sizeof seq, "\\u%04X", (unsigned)cp);
			len = 6;
		}
		jw_put(w, text, len);
		s += k;
		run = s;
	}
	jw_put(w, (const char *)run, (size_t)(s - run));
	JW_LIT(w, "\"");
}

static void jw_int(jw *w, long long v)
{
	char b[24];
	int n = snprintf(b, sizeof b, "%lld", v);
	jw_put(w, b, (size_t)n);
}

static void jw_object(jw *w, const ProtobufCMessage *m, const char *type);

static void jw_value(jw *w, const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		if (s)
			jw_string(w, s);
		else
			JW_LIT(w, "null");
		return;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)p)
			JW_LIT(w, "true");
		else
			JW_LIT(w, "false");
		return;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		jw_int(w, *(const int32_t *)p);
		return;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		jw_int(w, *(const uint32_t *)p);
		return;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		jw_int(w, (long long)*(const int64_t *)p);
		return;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		jw_int(w, (long long)(json_int_t) * (const uint64_t *)p);
		return;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		if (sub)
			jw_object(w, sub, NULL);
		else
			JW_LIT(w, "null");
		return;
	}
	default: /* bytes (parsed JSON), floats: the tree's way */
		w->fail = 1;
	}
}

static void jw_repeated(jw *w, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	size_t n = *(const size_t *)QUANT_PTR(m, f), sz = value_size(f);
	const char *arr = *(char *const *)FIELD_PTR(m, f);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f)) {
		w->fail = 1; /* a repeated key keeps the last value, in the first place */
		return;
	}
	JW_LIT(w, "[");
	for (size_t i = 0; i < n && !w->fail; i++) {
		if (i)
			JW_LIT(w, ",");
		jw_value(w, f, arr + i * sz);
	}
	JW_LIT(w, "]");
}

/* m as an object; with type, {"type":type} first (render_delivery_json). */
static void jw_object(jw *w, const ProtobufCMessage *m, const char *type)
{
	const ProtobufCMessageDescriptor *d = m ? m->descriptor : NULL;
	int first = 1;
	if (d && is_list_wrapper(d)) {
		if (type)
			w->fail = 1; /* the tree would drop the list */
		else
			jw_repeated(w, &d->fields[0], m);
		return;
	}
	JW_LIT(w, "{");
	if (type) {
		JW_LIT(w, "\"type\":");
		jw_string(w, type);
		first = 0;
	}
	for (unsigned i = 0; d && i < d->n_fields && !w->fail; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int set = f->label == PROTOBUF_C_LABEL_REPEATED || field_is_set(f, m);
		if (!set &&
		    ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || is_absent_when_unset(f->name)))
			continue;
		if (type && !strcmp(f->name, "type")) {
			w->fail = 1; /* would replace the type in place */
			return;
		}
		if (!first)
			JW_LIT(w, ",");
		first = 0;
		jw_string(w, f->name);
		JW_LIT(w, ":");
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			jw_repeated(w, f, m);
		else if (!set)
			JW_LIT(w, "null");
		else
			jw_value(w, f, FIELD_PTR(m, f));
	}
	JW_LIT(w, "}");
}

char *pbjson_dump_typed(const char *type, const ProtobufCMessage *m, size_t *len)
{
	jw w = {0};
	jw_object(&w, m, type);
	if (w.fail) {
		free(w.p);
		return NULL;
	}
	*len = w.len;
	return w.p;
}
