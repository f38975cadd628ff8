#include "throttle.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* kind, ':', and the sha256 hex of a (and, when b is not NULL, a newline
 * and b: an email cannot hold a newline, so no two pairs hash alike). */
static void key_of(char out[THROTTLE_KEY_LEN + 1], char kind, const char *a, const char *b)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)a, strlen(a));
	if (b) {
		crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
		crypto_hash_sha256_update(&st, (const unsigned char *)b, strlen(b));
	}
	crypto_hash_sha256_final(&st, h);
	out[0] = kind;
	out[1] = ':';
	sodium_bin2hex(out + 2, THROTTLE_KEY_LEN - 1, h, sizeof h);
}

/* One statement: is the pair locked; is the address locked or the email
 * slowed; is the address known for the account; has the pair failures. */
static const char check_sql[] =
	"SELECT EXISTS (SELECT 1 FROM auth.login_locks WHERE key = $1 AND until > now()),"
	" EXISTS (SELECT 1 FROM auth.login_locks WHERE key IN ($2, $3) AND until > now()),"
	" EXISTS (SELECT 1 FROM auth.login_known WHERE key = $4"
	"         AND at > now() - make_interval(days => $5::int)),"
	" EXISTS (SELECT 1 FROM auth.login_failures WHERE key = $1)";

pg_status throttle_check(auth_app *app, const char *email, const char *addr, throttle_keys *t,
			 int *allowed)
{
	PGresult *res;
	char days[24];

	if (!addr)
		addr = "";
	key_of(t->email, 'e', email, NULL);
	key_of(t->pair, 'p', email, addr);
	key_of(t->known, 'k', email, addr);
	if (*addr)
		key_of(t->addr, 'a', addr, NULL);
	else
		t->addr[0] = '\0';
	t->pair_failed = 0;
	*allowed = 0;
	snprintf(days, sizeof days, "%ld", app->cfg->login_known_days);
	const char *p[] = {t->pair, t->email, t->addr, t->known, days};
	pg_status s = pg_query(app->db, &res, check_sql, 5, p);
	if (s != PG_OK)
		return s;
	int pair_locked = !strcmp(PQgetvalue(res, 0, 0), "t");
	int other_locked = !strcmp(PQgetvalue(res, 0, 1), "t");
	int known = *addr && !strcmp(PQgetvalue(res, 0, 2), "t");
	t->pair_failed = !strcmp(PQgetvalue(res, 0, 3), "t");
	*allowed = !pair_locked && (known || !other_locked);
	PQclear(res);
	return PG_OK;
}

/* One statement: record the failure under every key, and lock each key
 * whose failures in the window (this one included: the CTE's insert is not
 * visible to the count) reach its limit, for that key's time. Concurrent
 * failures on several instances may each miss the others, so a limit can
 * be passed by the number of attempts in flight at once; the next failure
 * locks then. */
static const char record_sql[] =
	"WITH k (key, lim, secs) AS (SELECT * FROM (VALUES ($1, $2::int, $3::int),"
	"                            ($4, $5::int, $6::int), ($7, $8::int, $9::int))"
	"                            v (key, lim, secs) WHERE key <> ''),"
	" ins AS (INSERT INTO auth.login_failures (key) SELECT key FROM k),"
	" n AS (SELECT k.key, k.lim, k.secs, 1 + (SELECT count(*) FROM auth.login_failures f"
	"        WHERE f.key = k.key AND f.at > now() - make_interval(secs => $10::int)) AS cnt"
	"       FROM k)"
	" INSERT INTO auth.login_locks (key, until)"
	" SELECT key, now() + make_interval(secs => secs) FROM n WHERE lim > 0 AND cnt >= lim"
	" ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until"
	" RETURNING key";

/* A success: the pair starts over, and its address is known from now on. */
static const char success_sql[] =
	"WITH d AS (DELETE FROM auth.login_failures WHERE key = $1 AND $3::boolean)"
	" INSERT INTO auth.login_known (key) SELECT $2::text WHERE $4::boolean"
	" ON CONFLICT (key) DO UPDATE SET at = now()";

static int record_success(auth_app *app, const throttle_keys *t)
{
	const auth_config *c = app->cfg;
	int remember = t->addr[0] && c->login_known_days > 0;

	if (t->pair_failed || remember) {
		const char *p[] = {t->pair, t->known, t->pair_failed ? "t" : "f",
				   remember ? "t" : "f"};
		(void)pg_query(app->db, NULL, success_sql, 4, p);
	}
	return 0;
}

int throttle_record(auth_app *app, const throttle_keys *t, int ok)
{
	const auth_config *c = app->cfg;
	PGresult *res;
	int locked = 0;

	if (ok)
		return record_success(app, t);
	char lim_e[24], lim_p[24], lim_a[24], slow[24], lock[24], window[24];
	snprintf(lim_e, sizeof lim_e, "%ld", c->login_max_fails_email);
	snprintf(lim_p, sizeof lim_p, "%ld", c->login_max_fails_pair);
	snprintf(lim_a, sizeof lim_a, "%ld", c->login_max_fails_addr);
	snprintf(slow, sizeof slow, "%ld", c->login_slow_s);
	snprintf(lock, sizeof lock, "%ld", c->login_lock_s);
	snprintf(window, sizeof window, "%ld", c->login_window_s);
	const char *p[] = {t->email, lim_e,   slow,  t->pair, lim_p,
			   lock,     t->addr, lim_a, lock,    window};
	if (pg_query(app->db, &res, record_sql, 10, p) != PG_OK)
		return 0;
	for (int i = 0; i < PQntuples(res); i++) {
		char kind = PQgetvalue(res, i, 0)[0];
		locked |= kind == 'p'   ? THROTTLE_LOCKED_PAIR
			  : kind == 'a' ? THROTTLE_LOCKED_ADDR
					: THROTTLE_SLOWED_EMAIL;
	}
	PQclear(res);
	return locked;
}

pg_status throttle_prune(pg *db, const auth_config *cfg)
{
	char window[24], days[24];
	snprintf(window, sizeof window, "%ld", cfg->login_window_s);
	snprintf(days, sizeof days, "%ld", cfg->login_known_days);
	const char *p[] = {window}, *d[] = {days};
	pg_status s = pg_query(
		db, NULL,
		"DELETE FROM auth.login_failures WHERE at < now() - make_interval(secs => $1::int)",
		1, p);
	if (s == PG_OK)
		s = pg_query(db, NULL, "DELETE FROM auth.login_locks WHERE until < now()", 0, NULL);
	if (s == PG_OK)
		s = pg_query(
			db, NULL,
			"DELETE FROM auth.login_known WHERE at < now() - make_interval(days => $1::int)",
			1, d);
	return s;
}
