/* lib/skeleton.h and the name rules of lib/valid.h. */
#include <string.h>

#include "runner.h"
#include "skeleton.h"
#include "valid.h"

static const char *skel(const char *s, char out[256])
{
	long n = skel_of(s, out, 256);
	CHECK_MSG(n >= 0, "no skeleton for \"%s\"", s);
	CHECK_EQ_INT((long)strlen(out), n);
	return out;
}

#define SAME(a, b) same_at(__FILE__, __LINE__, (a), (b), 1)
#define DIFFERENT(a, b) same_at(__FILE__, __LINE__, (a), (b), 0)
static void same_at(const char *file, int line, const char *a, const char *b, int same)
{
	char x[256], y[256];
	skel(a, x);
	skel(b, y);
	if ((strcmp(x, y) == 0) != same)
		rt_fail(file, line, "\"%s\" (%s) and \"%s\" (%s) should %sfold alike", a, x, b, y,
			same ? "" : "not ");
}

void test_skeleton_folds(void)
{
	char out[256];
	CHECK_EQ_STR(skel("root", out), "root");
	CHECK_EQ_STR(skel("  Big   Bob ", out), "blg bob");
	CHECK_EQ_STR(skel("", out), "");
	/* case, fullwidth, styled */
	SAME("root", "Root");
	SAME("root", "ROOT");
	SAME("root", "\xef\xbd\x92\xef\xbd\x8f\xef\xbd\x8f\xef\xbd\x94"); /* ｒｏｏｔ */
	SAME("root", "\xf0\x9d\x90\xab\xf0\x9d\x90\xa8\xf0\x9d\x90\xa8\xf0\x9d\x90\xad"); /* bold */
	SAME("root", "\xe2\x93\xa1\xe2\x93\x9e\xe2\x93\x9e\xe2\x93\xa3"); /* circled */
	/* Cyrillic and Greek look-alikes */
	SAME("root", "r\xd0\xbe\xd0\xbet");                          /* Cyrillic о */
	SAME("root", "r\xce\xbf\xce\xbft");                          /* Greek ο */
	SAME("ROOT", "R\xd0\x9e\xce\x9fT");                          /* Cyrillic О, Greek Ο */
	SAME("paypal", "\xd1\x80\xd0\xb0\xd1\x83\xd1\x80\xd0\xb0l"); /* раураl */
	SAME("HEX", "\xd0\x9d\xce\x95\xd0\xa5");                     /* Н Ε Х */
	SAME("dave", "da\xce\xbd"
		     "e"); /* Greek ν */
	/* digits, I/l, rn/m, vv/w */
	SAME("root", "r00t");
	SAME("alice", "AIice");
	SAME("alice", "a1ice");
	SAME("alice", "a|ice");
	SAME("modern", "rnodern");
	SAME("wendy", "vvendy");
	/* diacritics, precomposed or not; invisible and marks dropped; spaces */
	SAME("Jose", "Jos\xc3\xa9");
	SAME("Jos\xc3\xa9", "Jose\xcc\x81");
	SAME("lukasz", "\xc5\x81ukasz");
	SAME("root", "root\xe2\x80\x8b");               /* zero width space */
	SAME("root", "\xe2\x80\xaeroot");               /* RTL override */
	SAME("root", "ro\xef\xb8\x8fot");               /* variation selector */
	SAME("big bob", "big\xc2\xa0\xe3\x80\x80 bob"); /* no-break and ideographic spaces */
	SAME("a-b", "a\xe2\x80\x94"
		    "b"); /* em dash */
	/* what stays apart */
	DIFFERENT("root", "roots");
	DIFFERENT("root", "rot");
	DIFFERENT("bob", "rob");
	DIFFERENT("big bob", "bigbob");
	DIFFERENT("\xe7\x8e\x8b\xe4\xbc\x9f", "\xe7\x8e\x8b\xe8\x8a\xb3"); /* 王伟, 王芳 */
	DIFFERENT("\xd0\xb4\xd0\xb8\xd0\xbc\xd0\xb0",
		  "\xd0\xb4\xd0\xb8\xd0\xbd\xd0\xb0"); /* дима, дина */
	SAME("\xd0\x94\xd0\x98\xd0\x9c\xd0\x90",
	     "\xd0\xb4\xd0\xb8\xd0\xbc\xd0\xb0"); /* ДИМА, дима */
	/* bad input, small buffer */
	CHECK_EQ_INT(skel_of("\xff", out, sizeof out), -1);
	CHECK_EQ_INT(skel_of("root", out, 4), -1);
	CHECK_EQ_INT(skel_of("root", out, 5), 4);
}

void test_valid_user_name_invisible(void)
{
	static const char *const refused[] = {
		"root\xe2\x80\x8b",         /* U+200B zero width space */
		"ro\xe2\x80\x8dot",         /* U+200D zero width joiner */
		"\xe2\x80\x8froot",         /* U+200F right-to-left mark */
		"\xe2\x80\xaetoor",         /* U+202E right-to-left override */
		"ro\xe2\x81\xa6ot",         /* U+2066 left-to-right isolate */
		"root\xe2\x81\xa9",         /* U+2069 pop directional isolate */
		"\xef\xbb\xbfroot",         /* U+FEFF */
		"ro\xc2\xadot",             /* soft hyphen */
		"\xe3\x85\xa4\xe3\x85\xa4", /* Hangul fillers */
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		const char *why = valid_user_name(refused[i]);
		CHECK_MSG(why && strstr(why, "invisible"), "name %zu: %s", i, why ? why : "taken");
	}
	const char *why = valid_user_name("\xcc\x81\xcc\x81 "); /* marks and a space */
	CHECK_MSG(why && strstr(why, "visible"), "marks only: %s", why ? why : "taken");
	CHECK(valid_user_name("Jos\xc3\xa9") == NULL);
	CHECK(valid_user_name("Ana Mar\xc3\xad"
			      "a") == NULL);
	CHECK(valid_user_name("\xe7\x8e\x8b\xe4\xbc\x9f") == NULL);
	CHECK(valid_user_name("\xe2\x9d\xa4\xef\xb8\x8flove") == NULL); /* ❤️ with VS16 */
	CHECK(valid_user_name("a") != NULL);
	CHECK(valid_user_name("a\x07") != NULL);
}
