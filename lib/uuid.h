/* Random (version 4) UUIDs from libsodium's CSPRNG, and a strict parser. */
#ifndef RB_UUID_H
#define RB_UUID_H

#define UUID_STR_LEN 36

/* Writes 36 characters and a NUL into out. Needs sodium_init() first
 * (lib_init() does it). */
void uuid_new(char out[UUID_STR_LEN + 1]);
/* 1 when s is exactly 8-4-4-4-12 hex digits (any case), else 0. */
int uuid_valid(const char *s);

#endif
