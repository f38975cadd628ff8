/* Passwords: argon2id hashes (libsodium crypto_pwhash_str) at the configured
 * cost, and random passwords for accounts the server creates. The cost lives
 * in each hash string, so changing the settings never locks anyone out. */
#ifndef AUTH_PW_H
#define AUTH_PW_H

#include <sodium.h>
#include <stddef.h>

#include "auth.h"
#include "buf.h"

/* Hashes pw into out. 0, or -1 (logged) when libsodium cannot get the
 * memory the cost asks for. */
int pw_hash(const auth_config *cfg, const char *pw, char out[crypto_pwhash_STRBYTES]);
/* 1 when pw matches hash, else 0 (also for a malformed hash). */
int pw_verify(const char *hash, const char *pw);
/* Writes len random letters and digits and a NUL: out holds len + 1. */
void pw_random(char *out, size_t len);
/* authsvc_password_{hashes,verifications}_total for /metrics. Any thread. */
void pw_metrics(buf *out);

#endif
