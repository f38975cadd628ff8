/* Login throttling (PROTOCOL.md §3: "Repeated failures from one address or
 * for one email are slowed down and then refused for a while"), shaped so
 * that failures an attacker sends cannot lock the account's owner out.
 *
 * Failed logins are counted over a sliding window (REBUTTAL_LOGIN_WINDOW_S)
 * under three keys, each with its limit and what reaching it does:
 *   pair    (email, address)  _MAX_FAILS_PAIR   refused for REBUTTAL_LOGIN_LOCK_S
 *   address                   _MAX_FAILS_ADDR   refused for REBUTTAL_LOGIN_LOCK_S
 *   email   (all addresses)   _MAX_FAILS_EMAIL  slowed: one attempt per
 *                                               REBUTTAL_LOGIN_SLOW_S
 * An address the account logged in from within REBUTTAL_LOGIN_KNOWN_DAYS
 * (a "known" address) is exempt from the address lock and the email's
 * slowing: only its own pair can stop it. So wrong passwords sent from
 * elsewhere never keep the owner out at their usual address, and never
 * refuse an email outright. Refused attempts are not counted (they cannot
 * lengthen a lock); a success clears its pair's failures and marks its
 * address known.
 *
 * The counters live in PostgreSQL (auth.login_failures, auth.login_locks,
 * auth.login_known), since NATS spreads one client's attempts over every
 * instance. Keys are hashed: the tables hold no email or address in clear. */
#ifndef AUTH_THROTTLE_H
#define AUTH_THROTTLE_H

#include "auth.h"
#include "pg.h"

/* "e:", "a:", "p:" or "k:" and 64 hex digits. */
#define THROTTLE_KEY_LEN 66

/* One login attempt's keys, filled by throttle_check. */
typedef struct {
	char email[THROTTLE_KEY_LEN + 1];
	char addr[THROTTLE_KEY_LEN + 1];  /* "" when the request names no address */
	char pair[THROTTLE_KEY_LEN + 1];  /* email and address ("" counts as one) */
	char known[THROTTLE_KEY_LEN + 1]; /* the pair's key in auth.login_known */
	int pair_failed;                  /* the pair has failures on record */
} throttle_keys;

/* Fills t for email (normalized) and addr (the envelope's client address,
 * may be empty) and sets *allowed to 0 when the attempt is to be refused
 * now. On failure (logged by the store) *allowed is 0. Runs on app->db. */
pg_status throttle_check(auth_app *app, const char *email, const char *addr, throttle_keys *t,
			 int *allowed);
enum { THROTTLE_LOCKED_PAIR = 1, THROTTLE_LOCKED_ADDR = 2, THROTTLE_SLOWED_EMAIL = 4 };

/* After a verified attempt: a failure is recorded against every key (and
 * may lock them), a success clears the pair's failures and marks the
 * address known for the account. Returns the THROTTLE_* bits of the keys
 * this failure locked or slowed. A store failure is logged (by the store)
 * and otherwise ignored: the login's outcome stands. */
int throttle_record(auth_app *app, const throttle_keys *t, int ok);
/* Deletes failures older than the window, expired locks and known
 * addresses older than REBUTTAL_LOGIN_KNOWN_DAYS. */
pg_status throttle_prune(pg *db, const auth_config *cfg);

#endif
