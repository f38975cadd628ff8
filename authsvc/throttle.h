/* Login throttling (PROTOCOL.md §3: "Repeated failures from one address or
 * for one email are slowed down and then refused for a while").
 *
 * Failed logins are counted per email and per client address over a sliding
 * window (REBUTTAL_LOGIN_WINDOW_S). The failure that brings a key to its
 * limit (REBUTTAL_LOGIN_MAX_FAILS_EMAIL / _ADDR) locks it for
 * REBUTTAL_LOGIN_LOCK_S: every login for that email, or from that address,
 * is then refused before any password is looked at, the right one included.
 * Refused attempts are not counted (they cannot lengthen a lock), and a
 * successful login clears its email's failures (not its address's).
 *
 * The counters live in PostgreSQL (auth.login_failures, auth.login_locks),
 * since NATS spreads one client's attempts over every instance. Keys are
 * hashed: the tables hold no email or address in clear. */
#ifndef AUTH_THROTTLE_H
#define AUTH_THROTTLE_H

#include "auth.h"
#include "pg.h"

/* "e:" or "a:" and 64 hex digits. */
#define THROTTLE_KEY_LEN 66

/* One login attempt's keys, filled by throttle_check. */
typedef struct {
	char email[THROTTLE_KEY_LEN + 1];
	char addr[THROTTLE_KEY_LEN + 1]; /* "" when the request names no address */
	int email_failed;                /* the email has failures on record */
} throttle_keys;

/* Fills t for email (normalized) and addr (the envelope's client address,
 * may be empty) and sets *allowed to 0 when either is locked now. On
 * failure (logged by the store) *allowed is 0. Runs on app->db. */
pg_status throttle_check(auth_app *app, const char *email, const char *addr,
			 throttle_keys *t, int *allowed);
enum { THROTTLE_LOCKED_EMAIL = 1, THROTTLE_LOCKED_ADDR = 2 };

/* After a verified attempt: a failure is recorded against both keys (and
 * may lock them), a success clears the email's failures. Returns the
 * THROTTLE_LOCKED_* bits of the keys this failure locked. A store failure
 * is logged (by the store) and otherwise ignored: the login's outcome
 * stands. */
int throttle_record(auth_app *app, const throttle_keys *t, int ok);
/* Deletes failures older than the window and expired locks. */
pg_status throttle_prune(pg *db, const auth_config *cfg);

#endif
