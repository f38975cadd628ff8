#include "valid.h"

#include <string.h>

#include "skeleton.h"
#include "uuid.h"

size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
		n = 2, min = 0x80, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 3, min = 0x800, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 4, min = 0x10000, c &= 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

int utf8_take(const unsigned char **s, size_t *len, unsigned *cp)
{
	size_t n = *len ? utf8_next(*s, *len, cp) : 0;
	if (!*len)
		return 0;
	if (!n)
		return -1;
	*s += n;
	*len -= n;
	return 1;
}

long utf8_chars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	long count = 0;
	unsigned cp;
	int r;

	while ((r = utf8_take(&p, &len, &cp)) > 0)
		count++;
	return r < 0 ? -1 : count;
}

int text_printable(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	int only_spaces = 1;
	unsigned cp;

	int r;

	if (!len)
		return 0;
	while ((r = utf8_take(&p, &len, &cp)) > 0) {
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			return 0;
		if (cp != ' ')
			only_spaces = 0;
	}
	return r == 0 && !only_spaces;
}

int text_name_ok(const char *s, long min, long max)
{
	if (!s || !text_printable(s))
		return 0;
	long n = utf8_chars(s, strlen(s));
	return n >= min && n <= max;
}

int text_invisible(unsigned cp)
{
	static const struct {
		unsigned lo, hi;
	} ranges[] = {
		{0x00ad, 0x00ad},   /* soft hyphen */
		{0x034f, 0x034f},   /* combining grapheme joiner */
		{0x061c, 0x061c},   /* Arabic letter mark */
		{0x115f, 0x1160},   /* Hangul fillers */
		{0x17b4, 0x17b5},   /* Khmer inherent vowels */
		{0x180b, 0x180f},   /* Mongolian selectors and vowel separator */
		{0x200b, 0x200f},   /* zero width space, (non-)joiner, LRM, RLM */
		{0x2028, 0x202e},   /* line/paragraph separators, bidi embeddings, overrides */
		{0x2060, 0x206f},   /* word joiner, invisible operators, bidi isolates */
		{0x3164, 0x3164},   /* Hangul filler */
		{0xfeff, 0xfeff},   /* zero width no-break space (BOM) */
		{0xffa0, 0xffa0},   /* halfwidth Hangul filler */
		{0xfff0, 0xfffb},   /* interlinear annotation */
		{0x1bca0, 0x1bca3}, /* shorthand format controls */
		{0x1d173, 0x1d17a}, /* musical format controls */
		{0xe0000, 0xe007f}, /* tags */
	};
	for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
		if (cp >= ranges[i].lo && cp <= ranges[i].hi)
			return 1;
	return 0;
}

const char *valid_user_name(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char skel[32 * 4 + 1];
	unsigned cp;

	if (!text_name_ok(s, 2, 32))
		return "userName must be 2-32 printable characters";
	for (size_t len = strlen(s); utf8_take(&p, &len, &cp) > 0;)
		if (text_invisible(cp))
			return "userName must not contain invisible or direction-changing characters";
	/* Marks alone, or spaces and marks, show nothing to tell names apart. */
	if (skel_of(s, skel, sizeof skel) <= 0)
		return "userName must have a visible letter, digit or sign";
	return NULL;
}

const char *valid_password(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len > PASSWORD_MAX_BYTES)
		return "password is too long";
	long n = s ? utf8_chars(s, len) : -1;
	if (n < PASSWORD_MIN_CHARS)
		return "password must be at least 10 characters";
	return NULL;
}

const char *valid_email(const char *s)
{
	if (!s || strlen(s) > EMAIL_MAX_BYTES || !text_printable(s) || strchr(s, ' '))
		return "email is not valid";
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || !strchr(s, '.'))
		return "email must contain @ and .";
	return NULL;
}

int valid_upload_path(const char *p)
{
	size_t len = p ? strlen(p) : 0;
	if (len <= UUID_STR_LEN + 1 || len > UUID_STR_LEN + 1 + UPLOAD_NAME_MAX + UUID_STR_LEN ||
	    p[UUID_STR_LEN] != '/')
		return 0;
	char id[UUID_STR_LEN + 1];
	memcpy(id, p, UUID_STR_LEN);
	id[UUID_STR_LEN] = '\0';
	const char *name = p + UUID_STR_LEN + 1;
	return uuid_valid(id) && name[0] != '.' && strspn(name, UPLOAD_NAME_CHARS) == strlen(name);
}
