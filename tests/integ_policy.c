/* Account policies over the protocol: the login throttle (authsvc/throttle.h)
 * seen from attackers and the owner at different client addresses, and
 * display names that cannot impersonate another account.
 *
 * Client addresses: a gateway of this file's own trusts loopback as a
 * proxy (REBUTTAL_TRUSTED_PROXY, a list), so each connection names its
 * address in X-Forwarded-For. Addresses are from the documentation ranges,
 * with this run's pid in them so that reruns against one stack differ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integ.h"

#define PROXIED_GW "gateway xff" /* instance gateway-xff, trusting loopback */
#define SLOW_S 5                 /* REBUTTAL_LOGIN_SLOW_S, default */

static int proxied_port(void)
{
	/* The stack passes the caller's REBUTTAL_* on to the part it starts.
	 * Tests run in children: this stays in this test. */
	setenv("REBUTTAL_TRUSTED_PROXY", "10.0.0.0/8, 127.0.0.0/8 ::1", 1);
	return gateway_at(PROXIED_GW);
}

/* An address of 203.0.113.0/24 (attackers) or 198.51.100.0/24 (owners)
 * into out (32 bytes). */
static const char *addr_of(char *out, const char *net, int n)
{
	snprintf(out, 32, "%s.%d", net, (int)((getpid() * 7 + n) % 250) + 1);
	return out;
}

enum { LOGGED_IN = 1, DENIED = 0, THROTTLED = -1 };

/* One login through the proxied gateway as if from xff: LOGGED_IN, DENIED
 * ("Permission denied") or THROTTLED ("Too many failed logins"); anything
 * else fails the test. */
#define try_login(ctx, port, xff, email, pw)                                                       \
	try_login_at(__FILE__, __LINE__, (ctx), (port), (xff), (email), (pw))
static int try_login_at(const char *file, int line, wsc_ctx *ctx, int port, const char *xff,
			const char *email, const char *pw)
{
	char headers[96];
	snprintf(headers, sizeof headers, "X-Forwarded-For: %s\r\n", xff);
	wsc *c = wsc_open_ex(ctx, "127.0.0.1", port, "/ipc", 0, headers, WAIT_MS);
	if (!c)
		rt_fail(file, line, "cannot open the proxied gateway: %s", wsc_ctx_last_error(ctx));
	json_decref(expect_at(file, line, c, "connect"));
	sendp(c, "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"%s\",\"protocol\":\"v1\"}",
	      email, pw);
	json_t *j = wsc_recv(c, WAIT_MS);
	const char *type = j ? jstr(j, "type") : NULL, *msg = j ? jstr(j, "message") : NULL;
	int rc = 2;
	if (streq(type, "login") && jbool(j, "success"))
		rc = LOGGED_IN;
	else if (streq(type, "error") && msg && !strcmp(msg, "Permission denied"))
		rc = DENIED;
	else if (streq(type, "error") && msg && strstr(msg, "Too many failed logins"))
		rc = THROTTLED;
	if (rc == 2) {
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
		rt_fail(file, line, "login %s from %s: got %s", email, xff,
			s ? s : wsc_last_error(c));
	}
	json_decref(j);
	wsc_close(c);
	return rc;
}

/* ------------------------------------------------------------- lockout */

/* Attackers at six addresses send wrong passwords for root: each address
 * is stopped after 5 (REBUTTAL_LOGIN_MAX_FAILS_PAIR), and past 20 in all
 * (REBUTTAL_LOGIN_MAX_FAILS_EMAIL) root is slowed for unknown addresses.
 * Meanwhile root logs in at once from its usual address, after every wave,
 * and from the stack's own gateway; from a new address only after the
 * slow-down's seconds. */
void test_policy_login_owner_during_attack(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	const char *root = "root@localhost", *pw = admin_password();
	char home[32], att[32], fresh[32];
	int port = proxied_port();

	(void)admin(ctx); /* root knows 127.0.0.1 */
	addr_of(home, "198.51.100", 0);
	CHECK_EQ_INT(try_login(ctx, port, home, root, pw), LOGGED_IN);

	int counted = 0;
	for (int a = 0; a < 6; a++) {
		addr_of(att, "203.0.113", a);
		int denied = 0, rc;
		while ((rc = try_login(ctx, port, att, root, "wrong-password")) == DENIED)
			CHECK_MSG(++denied <= 5, "attacker %s had %d tries", att, denied);
		/* 5 each until the email is slowed; then unknown addresses wait. */
		CHECK_MSG(counted >= 20 ? denied <= 1 : denied == 5,
			  "attacker %d: %d tries, %d before", a, denied, counted);
		counted += denied;
		/* Locked: even the right password, from there. */
		CHECK_EQ_INT(try_login(ctx, port, att, root, pw), THROTTLED);
		/* The owner, during the attack, at home and on the other gateway. */
		CHECK_EQ_INT(try_login(ctx, port, home, root, pw), LOGGED_IN);
		login(client(ctx), root, pw);
	}
	printf("attack: %d wrong passwords counted from 6 addresses\n", counted);
	CHECK_MSG(counted >= 20, "only %d failures counted", counted);
	/* An address root never used is slowed, not locked: one attempt per
	 * REBUTTAL_LOGIN_SLOW_S after the last failure. */
	addr_of(fresh, "198.51.100", 1);
	CHECK_EQ_INT(try_login(ctx, port, fresh, root, pw), THROTTLED);
	usleep((SLOW_S * 1000 + 300) * 1000);
	CHECK_EQ_INT(try_login(ctx, port, fresh, root, pw), LOGGED_IN);
	CHECK_EQ_INT(try_login(ctx, port, home, root, pw), LOGGED_IN);
	wsc_ctx_free(ctx);
}

/* 50 failures from one address (REBUTTAL_LOGIN_MAX_FAILS_ADDR) over many
 * emails lock the address for everybody who never logged in from it, but
 * not for an account that knows it. */
void test_policy_login_address_lock(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char shared[32], email[64], other[64], bogus[96];
	int port = proxied_port();

	signup_user(ctx, adm, "user", "natuser", email);
	signup_user(ctx, adm, "user", "natother", other);
	addr_of(shared, "198.51.100", 2);
	CHECK_EQ_INT(try_login(ctx, port, shared, email, TEST_PASSWORD), LOGGED_IN);
	int n = 0;
	for (; n < 60; n++) {
		snprintf(bogus, sizeof bogus, "nobody-%d-%s@test.example", n, uniq());
		if (try_login(ctx, port, shared, bogus, "wrong-password") == THROTTLED)
			break;
	}
	CHECK_MSG(n == 50, "address locked after %d failures", n);
	CHECK_EQ_INT(try_login(ctx, port, shared, other, TEST_PASSWORD), THROTTLED);
	CHECK_EQ_INT(try_login(ctx, port, shared, email, TEST_PASSWORD), LOGGED_IN);
	wsc_ctx_free(ctx);
}

/* --------------------------------------------------------------- names */

/* The next updateUsers on c in which uid is named name. */
static void expect_named(wsc *c, const char *uid, const char *name)
{
	long long end = now_ms() + WAIT_MS;
	while (now_ms() < end) {
		json_t *j = wsc_expect(c, "updateUsers", (int)(end - now_ms()));
		if (!j)
			break;
		json_t *users = json_object_get(j, "userList");
		int found = 0;
		for (size_t i = 0; i < json_array_size(users); i++) {
			json_t *u = json_array_get(users, i);
			found |= streq(jstr(u, "id"), uid) && streq(jstr(u, "name"), name);
		}
		json_decref(j);
		if (found)
			return;
	}
	CHECK_MSG(0, "no updateUsers naming %s %s: %s", uid, name, wsc_last_error(c));
}

/* Renames that would pass for root, each refused with an error naming
 * userName, the account's name unchanged; a plain rename still works, and
 * so does a new spelling of one's own name. */
void test_policy_names_impersonation(void)
{
	static const struct {
		const char *name; /* JSON string contents */
		const char *error;
	} refused[] = {
		{"Root", "userName is taken"},
		{"ROOT", "userName is taken"},
		{"r\xd0\xbe\xd0\xbet", "userName is taken"}, /* Cyrillic о */
		{"r\xce\xbf\xd0\xbeT", "userName is taken"}, /* Greek ο, Cyrillic о */
		{"r00t", "userName is taken"},
		{"\xef\xbd\x92\xef\xbd\x8f\xef\xbd\x8f\xef\xbd\x94",
		 "userName is taken"}, /* fullwidth */
		{" root ", "userName is taken"},
		{"root\\u200b", "invisible"},        /* zero width space */
		{"\\u202etoor", "invisible"},        /* RTL override */
		{"ro\\u2067ot\\u2069", "invisible"}, /* RTL isolate */
		{"\\ufeffroot", "invisible"},
	};
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who p;
	char mine[32];
	user_at(ctx, adm, "user", "mallory", gw_port(), &p);
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		sendp(p.c, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"%s\"}", p.id,
		      refused[i].name);
		json_t *e = expect(p.c, "error");
		const char *msg = jstr(e, "message");
		CHECK_MSG(msg && strstr(msg, "userName") && strstr(msg, refused[i].error),
			  "rename %zu: error \"%s\"", i, msg ? msg : "");
		json_decref(e);
	}
	/* The admin may rename people, not into root either. */
	sendp(adm,
	      "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"R\xd0\x9e\xd0\x9eT\"}",
	      p.id);
	expect_error(adm, "updateuser: userName is taken");
	/* A plain rename, then the same name in other letters: one's own. */
	snprintf(mine, sizeof mine, "mal%s", uniq());
	sendp(p.c, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"%s\"}", p.id, mine);
	expect_named(adm, p.id, mine);
	mine[0] = 'M';
	sendp(p.c, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"%s\"}", p.id, mine);
	expect_named(adm, p.id, mine);
	wsc_ctx_free(ctx);
}

/* Sign-up and createuser are held to the same rule; a taken email is
 * still reported as such first. */
void test_policy_names_signup_createuser(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char *code = make_invite(adm, "user"), email[96], name[32];
	snprintf(email, sizeof email, "imp-%s@test.example", uniq());
	wsc *c = client(ctx);
	sendp(c,
	      "{\"type\":\"signup\",\"userName\":\"R\xd0\xbe\xd0\xbet\",\"password\":\"" TEST_PASSWORD
	      "\",\"email\":\"%s\",\"signUp\":\"%s\"}",
	      email, code);
	expect_error(c, "signup: userName is taken");
	sendp(c,
	      "{\"type\":\"signup\",\"userName\":\"ro\\u200dot\",\"password\":\"" TEST_PASSWORD
	      "\",\"email\":\"%s\",\"signUp\":\"%s\"}",
	      email, code);
	expect_error(c, "invisible");
	/* The invite is still good for a name of one's own. */
	snprintf(name, sizeof name, "imp%s", uniq());
	sendp(c,
	      "{\"type\":\"signup\",\"userName\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
	      "\"email\":\"%s\",\"signUp\":\"%s\"}",
	      name, email, code);
	json_t *j = wsc_expect_noerr(c, "refreshNow", WAIT_MS);
	CHECK_MSG(j, "signup: %s", wsc_last_error(c));
	json_decref(j);
	free(code);

	char email2[96], upper[32];
	snprintf(email2, sizeof email2, "imp2-%s@test.example", uniq());
	snprintf(upper, sizeof upper, "%s", name);
	for (char *q = upper; *q; q++)
		*q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
	sendp(adm,
	      "{\"type\":\"createuser\",\"userName\":\"%s\",\"groupName\":\"user\",\"email\":\"%s\"}",
	      upper, email2);
	expect_error(adm, "createuser: userName is taken");
	sendp(adm,
	      "{\"type\":\"createuser\",\"userName\":\"%s\",\"groupName\":\"user\",\"email\":\"%s\"}",
	      upper, email);
	expect_error(adm, "createuser: email is already in use");
	wsc_ctx_free(ctx);
}

/* One psql statement on the stack's database; its first output line (the
 * value of a one-value query, unaligned) goes to out when not NULL. */
static void sql(char *out, size_t outlen, const char *stmt)
{
	char cmd[2048], line[256] = "";
	snprintf(cmd, sizeof cmd, "psql -X -q -A -t -v ON_ERROR_STOP=1 '%s' -c \"%s\" 2>&1",
		 pg_conninfo_as("authsvc"), stmt);
	FILE *p = popen(cmd, "r");
	CHECK_NOT_NULL(p);
	if (!fgets(line, sizeof line, p))
		line[0] = '\0';
	while (fgetc(p) != EOF)
		;
	int rc = pclose(p);
	line[strcspn(line, "\n")] = '\0';
	CHECK_MSG(rc == 0, "psql: %s: %s", stmt, line);
	if (out)
		snprintf(out, outlen, "%s", line);
}

/* Accounts from before names were unique (no name key): an authsvc that
 * starts gives each its key, the older of two alike keeps it, the younger
 * keeps its name without one; new names are checked against the keys. */
void test_policy_names_existing_duplicates(void)
{
	char stmt[1024], got[256], u[32], name[40];
	snprintf(u, sizeof u, "%s", uniq());
	snprintf(
		stmt, sizeof stmt,
		"INSERT INTO auth.users (id, email, name, pwhash, grp, created_at) VALUES"
		" (gen_random_uuid(), 'old-%s@test.example', 'Dup%s', 'x', 'user', now() - interval '2 days'),"
		" (gen_random_uuid(), 'new-%s@test.example', 'dup%s', 'x', 'user', now() - interval '1 day'),"
		" (gen_random_uuid(), 'solo-%s@test.example', 'solo%s', 'x', 'user', now())",
		u, u, u, u, u, u);
	sql(NULL, 0, stmt);
	/* Another instance: its start-up fills the keys (/healthz answers
	 * before that, so wait for the rows). */
	CHECK_EQ_INT(stack("start-part authsvc keys", NULL, 0), 0);
	snprintf(
		stmt, sizeof stmt,
		"SELECT string_agg(name || '=' || (name_key IS NOT NULL)::text, ',' ORDER BY created_at)"
		" FROM auth.users WHERE email LIKE '%%-%s@test.example'"
		" AND NOT EXISTS (SELECT 1 FROM auth.users WHERE email = 'solo-%s@test.example'"
		" AND name_key IS NULL)",
		u, u);
	long long end = now_ms() + 10000;
	do {
		usleep(100 * 1000);
		sql(got, sizeof got, stmt);
	} while (!*got && now_ms() < end);
	CHECK_EQ_INT(stack("kill authsvc-keys TERM", NULL, 0), 0);
	char want[256];
	snprintf(want, sizeof want, "Dup%s=true,dup%s=false,solo%s=true", u, u, u);
	CHECK_EQ_STR(got, want);

	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who p;
	user_at(ctx, adm, "user", "latecomer", gw_port(), &p);
	snprintf(name, sizeof name, "DUP%s", u);
	sendp(p.c, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"%s\"}", p.id, name);
	expect_error(p.c, "updateuser: userName is taken");
	wsc_ctx_free(ctx);
}

/* ----------------------------------------------------- trusted proxies */

/* A bad entry in REBUTTAL_TRUSTED_PROXY stops the gateway at start, with
 * the entry and the reason, before it connects anywhere. */
void test_policy_trusted_proxy_bad_entry(void)
{
	static const struct {
		const char *list, *said;
	} bad[] = {
		{"10.0.0.0/8, localhost", "\"localhost\" is not an IPv4 or IPv6 address"},
		{"127.0.0.1 10.0.0.1/8", "\"10.0.0.1/8\" has bits set past the prefix"},
		{"fd00::/129", "\"fd00::/129\" has a prefix longer than the address"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char cmd[512], out[8192];
		snprintf(cmd, sizeof cmd,
			 "REBUTTAL_TRUSTED_PROXY='%s' REBUTTAL_NATS_URL=nats://127.0.0.1:1"
			 " timeout 10 '%s/gateway' 2>&1",
			 bad[i].list, rt_env("REBUTTAL_BIN_DIR"));
		FILE *p = popen(cmd, "r");
		CHECK_NOT_NULL(p);
		size_t n = fread(out, 1, sizeof out - 1, p);
		out[n] = '\0';
		int st = pclose(p);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: status %d", bad[i].list, st);
		CHECK_MSG(strstr(out, "config: REBUTTAL_TRUSTED_PROXY: ") &&
				  strstr(out, bad[i].said),
			  "%s: said %s", bad[i].list, out);
	}
}
