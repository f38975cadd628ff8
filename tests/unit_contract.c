/* The bus contract guard (docs/DESIGN.md "Contract"): proto/rebuttal.proto
 * must keep everything the last released contract (tests/contract/released/) has.
 * Both are compiled by protoc-c into FileDescriptorSets, which are read
 * here (the protobuf wire format of descriptor.proto, field numbers below)
 * into facts — one per file, message, field, enum and enum value — and
 * every fact of the old set must be in the new one unchanged: a field keeps
 * its number, name (its JSON key), label, type, message or enum type and
 * oneof; an enum keeps every value name with its number. New facts
 * (additions) are fine. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "runner.h"

/* ------------------------------------------------ the wire format */

typedef struct {
	const uint8_t *p, *end;
} rd;

static int rd_varint(rd *r, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
		uint8_t b = *r->p++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* The next field of r: its number, and its varint value or its bytes (sub).
 * 1 got one, 0 at the end; malformed input fails the test. */
static int rd_next(rd *r, int *num, uint64_t *v, rd *sub)
{
	uint64_t tag, len;
	if (r->p >= r->end)
		return 0;
	CHECK(rd_varint(r, &tag) == 0);
	*num = (int)(tag >> 3);
	*v = 0;
	sub->p = sub->end = NULL;
	switch (tag & 7) {
	case 0:
		CHECK(rd_varint(r, v) == 0);
		break;
	case 1:
		CHECK(r->end - r->p >= 8);
		r->p += 8;
		break;
	case 2:
		CHECK(rd_varint(r, &len) == 0 && len <= (uint64_t)(r->end - r->p));
		sub->p = r->p;
		sub->end = r->p + len;
		r->p += len;
		break;
	case 5:
		CHECK(r->end - r->p >= 4);
		r->p += 4;
		break;
	default:
		CHECK_MSG(0, "wire type %d in a descriptor set", (int)(tag & 7));
	}
	return 1;
}

#define STR(sub) (int)((sub).end - (sub).p), (const char *)(sub).p

/* ------------------------------------------------------------ facts */

typedef struct {
	char *key, *val;
} fact;

typedef struct {
	fact *f;
	size_t n, cap;
} facts;

static void fact_add(facts *fs, const char *val, const char *keyfmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fact_add(facts *fs, const char *val, const char *keyfmt, ...)
{
	va_list ap;
	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? 2 * fs->cap : 256;
		fs->f = realloc(fs->f, fs->cap * sizeof *fs->f);
		CHECK_NOT_NULL(fs->f);
	}
	va_start(ap, keyfmt);
	CHECK(vasprintf(&fs->f[fs->n].key, keyfmt, ap) >= 0);
	va_end(ap);
	fs->f[fs->n].val = strdup(val);
	CHECK_NOT_NULL(fs->f[fs->n].val);
	fs->n++;
}

static void facts_free(facts *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->f[i].key), free(fs->f[i].val);
	free(fs->f);
	memset(fs, 0, sizeof *fs);
}

static const fact *fact_find(const facts *fs, const char *key)
{
	for (size_t i = 0; i < fs->n; i++)
		if (!strcmp(fs->f[i].key, key))
			return &fs->f[i];
	return NULL;
}

/* EnumDescriptorProto: 1 name, 2 value (EnumValueDescriptorProto: 1 name,
 * 2 number). */
static void walk_enum(facts *fs, const char *scope, rd m)
{
	char name[256] = "", num[32];
	rd sub, vsub;
	uint64_t v;
	int f;
	for (rd r = m; rd_next(&r, &f, &v, &sub);)
		if (f == 1)
			snprintf(name, sizeof name, "%s.%.*s", scope, STR(sub));
	fact_add(fs, "", "enum %s", name);
	for (rd r = m; rd_next(&r, &f, &v, &sub);) {
		if (f != 2)
			continue;
		char vname[128] = "";
		uint64_t number = 0;
		for (rd e = sub; rd_next(&e, &f, &v, &vsub);)
			if (f == 1)
				snprintf(vname, sizeof vname, "%.*s", STR(vsub));
			else if (f == 2)
				number = v;
		snprintf(num, sizeof num, "number %d", (int32_t)number);
		fact_add(fs, num, "enum value %s.%s", name, vname);
	}
}

/* FieldDescriptorProto: 1 name, 3 number, 4 label, 5 type, 6 type_name,
 * 9 oneof_index. */
static void walk_field(facts *fs, const char *msg, char oneofs[][64], int noneofs, rd m)
{
	char name[128] = "", type_name[256] = "", val[512];
	uint64_t number = 0, label = 0, type = 0, v;
	int oneof = -1, f;
	rd sub;
	for (rd r = m; rd_next(&r, &f, &v, &sub);) {
		if (f == 1)
			snprintf(name, sizeof name, "%.*s", STR(sub));
		else if (f == 3)
			number = v;
		else if (f == 4)
			label = v;
		else if (f == 5)
			type = v;
		else if (f == 6)
			snprintf(type_name, sizeof type_name, "%.*s", STR(sub));
		else if (f == 9)
			oneof = (int)v;
	}
	snprintf(val, sizeof val, "name %s, label %d, type %d%s%s, oneof %s", name, (int)label,
		 (int)type, type_name[0] ? " " : "", type_name,
		 oneof >= 0 && oneof < noneofs ? oneofs[oneof] : "-");
	fact_add(fs, val, "field %s #%d", msg, (int)number);
}

/* DescriptorProto: 1 name, 2 field, 3 nested_type, 4 enum_type,
 * 8 oneof_decl (OneofDescriptorProto: 1 name). */
static void walk_msg(facts *fs, const char *scope, rd m)
{
	char name[256] = "", oneofs[32][64];
	int noneofs = 0, f;
	uint64_t v;
	rd sub, osub;
	for (rd r = m; rd_next(&r, &f, &v, &sub);) {
		if (f == 1)
			snprintf(name, sizeof name, "%s.%.*s", scope, STR(sub));
		if (f == 8 && noneofs < 32) {
			oneofs[noneofs][0] = '\0';
			for (rd o = sub; rd_next(&o, &f, &v, &osub);)
				if (f == 1)
					snprintf(oneofs[noneofs], sizeof oneofs[0], "%.*s",
						 STR(osub));
			noneofs++;
		}
	}
	fact_add(fs, "", "message %s", name);
	for (rd r = m; rd_next(&r, &f, &v, &sub);)
		if (f == 2)
			walk_field(fs, name, oneofs, noneofs, sub);
		else if (f == 3)
			walk_msg(fs, name, sub);
		else if (f == 4)
			walk_enum(fs, name, sub);
}

/* FileDescriptorSet: 1 file. FileDescriptorProto: 2 package, 4
 * message_type, 5 enum_type, 12 syntax. */
static void walk_set(facts *fs, rd set)
{
	rd file, sub;
	uint64_t v;
	int f;
	for (rd r = set; rd_next(&r, &f, &v, &file);) {
		if (f != 1)
			continue;
		char pkg[128] = "", syntax[32] = "proto2";
		for (rd p = file; rd_next(&p, &f, &v, &sub);)
			if (f == 2)
				snprintf(pkg, sizeof pkg, "%.*s", STR(sub));
			else if (f == 12)
				snprintf(syntax, sizeof syntax, "%.*s", STR(sub));
		fact_add(fs, syntax, "package %s", pkg);
		for (rd p = file; rd_next(&p, &f, &v, &sub);)
			if (f == 4)
				walk_msg(fs, pkg, sub);
			else if (f == 5)
				walk_enum(fs, pkg, sub);
	}
}

/* The facts of dir/file, compiled by protoc-c into a descriptor set. */
static void facts_of(const char *dir, const char *file, facts *fs)
{
	char tmp[] = "/tmp/rb-contract-XXXXXX", cmd[1024];
	int fd = mkstemp(tmp);
	CHECK(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof cmd, "protoc-c --proto_path='%s' --descriptor_set_out='%s' '%s/%s'",
		 dir, tmp, dir, file);
	CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
	FILE *in = fopen(tmp, "rb");
	CHECK_NOT_NULL(in);
	static uint8_t bytes[1 << 20];
	size_t n = fread(bytes, 1, sizeof bytes, in);
	CHECK(n > 0 && n < sizeof bytes);
	fclose(in);
	unlink(tmp);
	walk_set(fs, (rd){bytes, bytes + n});
	CHECK(fs->n > 1);
}

/* Every fact of old that new lacks or changed, one line each into why;
 * returns how many. */
static int breaks(const facts *old, const facts *new, buf *why)
{
	int n = 0;
	for (size_t i = 0; i < old->n; i++) {
		const fact *o = &old->f[i], *f = fact_find(new, o->key);
		if (!f)
			buf_addf(why, "  removed: %s (%s)\n", o->key, o->val), n++;
		else if (strcmp(f->val, o->val))
			buf_addf(why, "  changed: %s: %s -> %s\n", o->key, o->val, f->val), n++;
	}
	return n;
}

/* ------------------------------------------------------------ tests */

/* The working contract keeps everything the last release has. */
void test_contract_kept(void)
{
	facts old = {0}, new = {0};
	buf why = BUF_INIT;
	facts_of("tests/contract/released", "rebuttal.proto", &old);
	facts_of("proto", "rebuttal.proto", &new);
	int n = breaks(&old, &new, &why);
	printf("released contract: %zu facts; working one: %zu\n", old.n, new.n);
	CHECK_MSG(
		!n,
		"proto/rebuttal.proto breaks the released bus contract (tests/contract/released/) in %d "
		"place(s): fields and enum values are only ever added (docs/DESIGN.md "
		"\"Contract\"):\n%s",
		n, why.ptr);
	buf_free(&why);
	facts_free(&old);
	facts_free(&new);
}

static const char base_proto[] =
	"syntax = \"proto2\";\npackage t;\n"
	"message A { optional string s = 1; repeated int32 r = 2;\n"
	"  oneof o { string x = 3; B b = 4; } }\n"
	"message B { optional int64 n = 1; enum K { K0 = 0; K1 = 1; } optional K k = 2;\n"
	"  message In { optional bool y = 1; } }\n"
	"enum E { E0 = 0; E1 = 1; }\n";

/* base_proto with the first `from` replaced by `to`. */
static void variant(const char *dir, const char *from, const char *to)
{
	char path[256];
	const char *at = strstr(base_proto, from);
	CHECK_MSG(at, "\"%s\" is not in the base proto", from);
	snprintf(path, sizeof path, "%s/v.proto", dir);
	FILE *f = fopen(path, "w");
	CHECK_NOT_NULL(f);
	fprintf(f, "%.*s%s%s", (int)(at - base_proto), base_proto, to, at + strlen(from));
	fclose(f);
}

/* The guard can fail: each kind of break is found, and additions pass. */
void test_contract_breaks_found(void)
{
	static const struct {
		const char *from, *to;
		int breaks;
	} cases[] = {
		{"s = 1", "s = 5", 1},                         /* renumbered */
		{"optional string s", "optional bytes s", 1},  /* retyped */
		{"repeated int32 r", "optional int32 r", 1},   /* label */
		{"optional string s = 1;", "", 1},             /* removed */
		{"optional string s", "optional string t", 1}, /* renamed: JSON key */
		{"B b = 4", "A b = 4", 1},                     /* other message */
		{"oneof o { string x = 3;", "optional string x = 3; oneof o {",
		 1},                                            /* out of oneof */
		{"E0 = 0; E1 = 1;", "E0 = 0;", 1},              /* enum value gone */
		{"E1 = 1", "E1 = 2", 1},                        /* enum renumbered */
		{"K1 = 1;", "", 1},                             /* nested enum value */
		{"message In { optional bool y = 1; }", "", 2}, /* nested message */
		{"enum E { E0 = 0; E1 = 1; }", "", 3},          /* enum gone */
		{"repeated int32 r = 2;", "repeated int32 r = 2; optional string z = 9;", 0},
		{"E1 = 1;", "E1 = 1; E2 = 2;", 0},
		{"enum E", "message C { optional E e = 1; }\nenum E", 0},
	};
	char dir[] = "/tmp/rb-contract-XXXXXX";
	CHECK_NOT_NULL(mkdtemp(dir));
	facts old = {0};
	variant(dir, "package t;", "package t;"); /* the base itself */
	facts_of(dir, "v.proto", &old);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		facts new = {0};
		buf why = BUF_INIT;
		variant(dir, cases[i].from, cases[i].to);
		facts_of(dir, "v.proto", &new);
		int n = breaks(&old, &new, &why);
		printf("\"%s\" -> \"%s\": %d break(s)\n%s", cases[i].from, cases[i].to, n,
		       why.ptr ? why.ptr : "");
		CHECK_EQ_INT(n, cases[i].breaks);
		buf_free(&why);
		facts_free(&new);
	}
	facts_free(&old);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* The frozen copy is the proto of the commit it names (when this checkout
 * has that commit: a shallow clone may not). */
void test_contract_release_recorded(void)
{
	char line[128] = "", cmd[512];
	FILE *f = fopen("tests/contract/released/COMMIT", "r");
	CHECK_NOT_NULL(f);
	while (fgets(line, sizeof line, f) && line[0] == '#')
		;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	CHECK_MSG(strlen(line) == 40 && strspn(line, "0123456789abcdef") == 40,
		  "tests/contract/released/COMMIT names no commit: \"%s\"", line);
	snprintf(cmd, sizeof cmd, "git cat-file -e %s^{commit} 2>/dev/null", line);
	if (system(cmd) != 0) {
		printf("commit %s is not in this checkout: the copy is not compared\n", line);
		return;
	}
	snprintf(
		cmd, sizeof cmd,
		"git show %s:proto/rebuttal.proto | cmp -s - tests/contract/released/rebuttal.proto",
		line);
	CHECK_MSG(system(cmd) == 0,
		  "tests/contract/released/rebuttal.proto is not proto/rebuttal.proto of %s", line);
}
