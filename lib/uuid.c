#include "uuid.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Random bytes are fetched 256 at a time per thread: one system call per
 * 16 ids instead of one per id (the gateway makes one per request). The
 * same generator; a byte is handed out once and then cleared. No part
 * forks, which would hand the child the parent's unused bytes. */
#define UUID_POOL 256
static __thread unsigned char pool[UUID_POOL];
static __thread size_t pool_left;

void uuid_new(char out[UUID_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	if (pool_left < sizeof b) {
		randombytes_buf(pool, sizeof pool);
		pool_left = sizeof pool;
	}
	unsigned char *p = pool + sizeof pool - pool_left;
	memcpy(b, p, sizeof b);
	sodium_memzero(p, sizeof b);
	pool_left -= sizeof b;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	/* 8-4-4-4-12 lowercase hex digits */
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
	sodium_memzero(b, sizeof b);
}

int uuid_valid(const char *s)
{
	if (!s || strlen(s) != UUID_STR_LEN)
		return 0;
	for (int i = 0; i < UUID_STR_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}
