#include "throttle.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>


static void key_of(char out[THROTTLE_KEY_LEN + 1], char kind, const char *value)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)value, strlen(value));
	out[0] = kind;
	out[1] = ':';
	sodium_bin2hex(out + 2, THROTTLE_KEY_LEN - 1, h, sizeof h);
}

pg_status throttle_check(auth_app *app, const char *email, const char *addr,
			 throttle_keys *t, int *allowed)
{
	PGresult *res;

	key_of(t->email, 'e', email);
	if (addr && *addr)
		key_of(t->addr, 'a', addr);
	else
		t->addr[0] = '\0';
	t->email_failed = 0;
	*allowed = 0;
	const char *p[] = {t->email, t->addr};
	pg_status s = pg_query(
		app->db, &res,
		"SELECT EXISTS (SELECT 1 FROM auth.login_locks WHERE key IN ($1, $2) AND until > now()),"
		" EXISTS (SELECT 1 FROM auth.login_failures WHERE key = $1)",
		2, p);
	if (s != PG_OK)
		return s;
	*allowed = strcmp(PQgetvalue(res, 0, 0), "t") != 0;
	t->email_failed = !strcmp(PQgetvalue(res, 0, 1), "t");
	PQclear(res);
	return PG_OK;
}

/* One statement: record the failure under both keys, and lock each key
 * whose failures in the window (this one included: the CTE's insert is not
 * visible to the count) reach its limit. Concurrent failures on several
 * instances may each miss the others, so a limit can be passed by the
 * number of attempts in flight at once; the next failure locks then. */
static const char record_sql[] =
	"WITH k (key, lim) AS (SELECT * FROM (VALUES ($1, $2::int), ($3, $4::int)) v (key, lim)"
	"                      WHERE key <> ''),"
	" ins AS (INSERT INTO auth.login_failures (key) SELECT key FROM k),"
	" n AS (SELECT k.key, k.lim, 1 + (SELECT count(*) FROM auth.login_failures f"
	"        WHERE f.key = k.key AND f.at > now() - make_interval(secs => $5::int)) AS cnt"
	"       FROM k)"
	" INSERT INTO auth.login_locks (key, until)"
	" SELECT key, now() + make_interval(secs => $6::int) FROM n WHERE lim > 0 AND cnt >= lim"
	" ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until"
	" RETURNING key";

int throttle_record(auth_app *app, const throttle_keys *t, int ok)
{
	const auth_config *c = app->cfg;
	PGresult *res;
	int locked = 0;

	if (ok) {
		const char *p[] = {t->email};
		if (t->email_failed)
			(void)pg_query(app->db, NULL,
				       "DELETE FROM auth.login_failures WHERE key = $1", 1, p);
		return 0;
	}
	char lim_e[24], lim_a[24], window[24], lock[24];
	snprintf(lim_e, sizeof lim_e, "%ld", c->login_max_fails_email);
	snprintf(lim_a, sizeof lim_a, "%ld", c->login_max_fails_addr);
	snprintf(window, sizeof window, "%ld", c->login_window_s);
	snprintf(lock, sizeof lock, "%ld", c->login_lock_s);
	const char *p[] = {t->email, lim_e, t->addr, lim_a, window, lock};
	if (pg_query(app->db, &res, record_sql, 6, p) != PG_OK)
		return 0;
	for (int i = 0; i < PQntuples(res); i++)
		locked |= PQgetvalue(res, i, 0)[0] == 'e' ? THROTTLE_LOCKED_EMAIL : THROTTLE_LOCKED_ADDR;
	PQclear(res);
	return locked;
}

pg_status throttle_prune(pg *db, const auth_config *cfg)
{
	char window[24];
	snprintf(window, sizeof window, "%ld", cfg->login_window_s);
	const char *p[] = {window};
	pg_status s = pg_query(
		db, NULL,
		"DELETE FROM auth.login_failures WHERE at < now() - make_interval(secs => $1::int)", 1,
		p);
	if (s == PG_OK)
		s = pg_query(db, NULL, "DELETE FROM auth.login_locks WHERE until < now()", 0, NULL);
	return s;
}
