#include "valid.h"

#include <string.h>

/* Decodes one code point; returns its length or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp)
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

long utf8_chars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	long count = 0;
	unsigned cp;

	while (len) {
		size_t n = utf8_next(p, len, &cp);
		if (!n)
			return -1;
		p += n;
		len -= n;
		count++;
	}
	return count;
}

int text_printable(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	int only_spaces = 1;
	unsigned cp;

	if (!len)
		return 0;
	while (len) {
		size_t n = utf8_next(p, len, &cp);
		if (!n || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			return 0;
		if (cp != ' ')
			only_spaces = 0;
		p += n;
		len -= n;
	}
	return !only_spaces;
}

int text_name_ok(const char *s, long min, long max)
{
	if (!s || !text_printable(s))
		return 0;
	long n = utf8_chars(s, strlen(s));
	return n >= min && n <= max;
}

const char *valid_user_name(const char *s)
{
	return text_name_ok(s, 2, 32) ? NULL : "userName must be 2-32 printable characters";
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
