/* Login throttling (PROTOCOL.md §3: "Repeated failures from one address or
 * for one email are slowed down and then refused for a while").
 *
 * Not built yet: this is the seam. h_login asks throttle_allow before it
 * spends a password hash and reports every outcome to throttle_record. The
 * real version keeps its counters where every instance sees them (a table
 * in the auth schema, e.g. auth.login_failures(key, count, until)), since
 * NATS spreads one client's attempts over all instances. */
#ifndef AUTH_THROTTLE_H
#define AUTH_THROTTLE_H

#include "auth.h"

/* 1 when a login for email from addr may be tried now. email is normalized;
 * addr is the envelope's client address and may be empty. */
static inline int throttle_allow(auth_app *app, const char *email, const char *addr)
{
	(void)app, (void)email, (void)addr;
	return 1;
}

/* Called after every verified attempt (ok: the password matched). */
static inline void throttle_record(auth_app *app, const char *email, const char *addr, int ok)
{
	(void)app, (void)email, (void)addr, (void)ok;
}

#endif
