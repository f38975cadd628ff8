/* authsvc: accounts, password hashes, groups and permissions, invites,
 * sign-up, login and first-start bootstrap, served on rb.auth.<op>.
 * This file only wires the parts together; see README.md. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "auth.h"
#include "bootstrap.h"
#include "config.h"
#include "handlers.h"
#include "health.h"
#include "log.h"
#include "migrations.h"
#include "part.h"
#include "proc.h"
#include "pw.h"
#include "svc.h"
#include "throttle.h"
#include "valid.h"

/* The defaults below are libsodium's INTERACTIVE limits, written out
 * because the config table wants literals. */
_Static_assert(crypto_pwhash_OPSLIMIT_INTERACTIVE == 2, "opslimit default");
_Static_assert(crypto_pwhash_MEMLIMIT_INTERACTIVE == 67108864, "memlimit default");
_Static_assert(crypto_pwhash_MEMLIMIT_MIN == 8192 && crypto_pwhash_OPSLIMIT_MIN == 1, "minima");

#define ABOUT "authsvc: accounts, groups, invites, sign-up and login of Rebuttal."
#define PING_EVERY_MS 5000
/* Stored replies (secret ones go after minutes), old login failures,
 * expired locks and stale known addresses: each a DELETE on an indexed
 * column, cheap enough. */
#define PRUNE_EVERY_MS (60 * 1000)
#define START_RETRY_MS 2000

static const cfg_field settings[] = {
	PART_CFG_SERVICE(auth_config, 9101,
			 "handler threads (password hashing runs on them); 0: one per online CPU"),
	PART_CFG_PG(auth_config, "authsvc", "auth"),
	CFG_SECRET("REBUTTAL_ADMIN_PASSWORD", auth_config, admin_password,
		   "root@localhost's password at first start; empty: random, logged once"),
	CFG_I("REBUTTAL_PWHASH_OPSLIMIT", auth_config, pwhash_opslimit, 2, 1, 1000,
	      "argon2id passes per password hash"),
	CFG_I("REBUTTAL_PWHASH_MEMLIMIT", auth_config, pwhash_memlimit, 67108864, 8192, 4294967296,
	      "argon2id memory per password hash, in bytes"),
	CFG_I("REBUTTAL_INVITE_TTL", auth_config, invite_ttl, 604800, 60, 315360000,
	      "seconds an invite stays valid"),
	CFG_S("REBUTTAL_PUBLIC_URL", auth_config, public_url, "http://127.0.0.1:9000",
	      "public base URL of the gateway, for invite links"),
	CFG_S("REBUTTAL_INFINITE_SIGNUP", auth_config, infinite_signup, "",
	      "group that open sign-up (signUp \"signup\") joins; empty: off"),
	CFG_S("REBUTTAL_GRAVATAR", auth_config, gravatar, "",
	      "Gravatar d= fallback (e.g. identicon); empty: no avatars"),
	CFG_I("REBUTTAL_LOGIN_MAX_FAILS_PAIR", auth_config, login_max_fails_pair, 5, 0, 1000000,
	      "failed logins for one email from one address within the window that lock"
	      " that pair; 0: no limit"),
	CFG_I("REBUTTAL_LOGIN_MAX_FAILS_ADDR", auth_config, login_max_fails_addr, 50, 0, 1000000,
	      "failed logins from one client address within the window that lock it"
	      " (not for accounts that know it); 0: no limit"),
	CFG_I("REBUTTAL_LOGIN_MAX_FAILS_EMAIL", auth_config, login_max_fails_email, 20, 0, 1000000,
	      "failed logins for one email from all addresses within the window that slow it"
	      " to one attempt per REBUTTAL_LOGIN_SLOW_S (not from known addresses); 0: never"),
	CFG_I("REBUTTAL_LOGIN_WINDOW_S", auth_config, login_window_s, 60, 1, 86400,
	      "seconds a failed login counts against its email, address and pair"),
	CFG_I("REBUTTAL_LOGIN_LOCK_S", auth_config, login_lock_s, 60, 1, 86400,
	      "seconds logins stay refused for a locked pair or address"),
	CFG_I("REBUTTAL_LOGIN_SLOW_S", auth_config, login_slow_s, 5, 1, 3600,
	      "a slowed email admits one attempt per this many seconds from unknown addresses"),
	CFG_I("REBUTTAL_LOGIN_KNOWN_DAYS", auth_config, login_known_days, 30, 0, 3650,
	      "days an address an account logged in from stays known to it; 0: none is"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

typedef struct {
	auth_app app;
	pg *maint;                     /* main thread's connection: start-up, pings, pruning */
	int64_t next_ping, next_prune; /* main thread's timers */
} authsvc;

/* Health thread. */
static int ready(void *ud)
{
	authsvc *a = ud;
	return part_serving() && bus_connected(a->app.bus) && pg_up(a->maint);
}

/* Health thread. */
static void metrics(void *ud, buf *out)
{
	authsvc *a = ud;
	buf_addf(out, "# TYPE authsvc_db_up gauge\nauthsvc_db_up %d\n", pg_up(a->maint));
	handlers_metrics(out);
	pw_metrics(out);
}

/* Values the table cannot judge alone. 0, or -1 after logging each. */
static int config_check(const auth_config *c)
{
	const char *why;
	int rc = 0;

	if (*c->admin_password && (why = valid_password(c->admin_password))) {
		log_error("config: REBUTTAL_ADMIN_PASSWORD: %s", why);
		rc = -1;
	}
	if (*c->infinite_signup && !text_name_ok(c->infinite_signup, 1, 64)) {
		log_error(
			"config: REBUTTAL_INFINITE_SIGNUP must be a group name (1-64 printable characters)");
		rc = -1;
	}
	if (strncmp(c->public_url, "http://", 7) && strncmp(c->public_url, "https://", 8)) {
		log_error("config: REBUTTAL_PUBLIC_URL must start with http:// or https://");
		rc = -1;
	}
	return rc;
}

/* The settings' checks, the derived values and the dummy hash. 0 or -1
 * (logged). */
static int app_init(authsvc *a)
{
	const auth_config *cfg = a->app.cfg;
	char pw[32];
	size_t len;

	if (config_check(cfg) < 0)
		return -1;
	/* Invite links are "<public url>/?invite=": no double slash. */
	for (len = strlen(cfg->public_url); len > 0 && cfg->public_url[len - 1] == '/'; len--)
		;
	a->app.public_url_len = (int)len;
	pw_random(pw, sizeof pw - 1);
	return pw_hash(cfg, pw, a->app.dummy_hash);
}

/* Schema, name keys, stale replies, first-start rows: retried (pg_retry) until they
 * work, since the database may come up after us. */
static pg_status prepare(void *ud)
{
	authsvc *a = ud;
	pg_status s = migrate_run(a->maint);
	if (s == PG_OK)
		s = acct_name_keys_fill(a->maint);
	if (s == PG_OK)
		s = idem_prune(&auth_replies, a->maint);
	if (s == PG_OK)
		s = boot_run(&a->app, a->maint);
	return s;
}

/* Handler thread i's state: the shared one with a connection of its own. */
PART_WORKERS_PG(auth_app, db, NULL)

/* Main thread, while serving: keeps readiness honest and prunes. */
static void tick(void *ud)
{
	authsvc *a = ud;
	int64_t now = bus_now_ms();

	if (now >= a->next_ping) {
		(void)pg_ping(a->maint); /* pg_up reflects the outcome */
		a->next_ping = now + PING_EVERY_MS;
	}
	if (now >= a->next_prune) {
		/* Failures are logged; next minute then. */
		if (idem_prune(&auth_replies, a->maint) == PG_OK)
			(void)throttle_prune(a->maint, a->app.cfg);
		a->next_prune = now + PRUNE_EVERY_MS;
	}
}

/* The settings' checks and derived values and the main thread's
 * connection. 0 or -1 (logged). */
static int open_all(void *ud)
{
	authsvc *a = ud;
	const auth_config *cfg = a->app.cfg;

	if (app_init(a) < 0)
		return -1;
	pg_password_set(cfg->pg_password);
	a->maint = pg_open(cfg->pg, "main");
	return a->maint ? 0 : -1;
}

/* Schema and first-start rows (retried until the database is there), then
 * the requests. */
static svc *start(void *ud)
{
	authsvc *a = ud;

	if (pg_retry(prepare, a, START_RETRY_MS) < 0)
		return NULL;
	svc_opts o = {.name = "auth",
		      .app = &a->app,
		      .closing = &a->app.closing,
		      .busy = &a->app.busy,
		      .threads = (int)a->app.cfg->part.threads,
		      .flags = SVC_IDEM | SVC_BARE_REFUSAL,
		      .worker_app = worker_app,
		      .worker_free = worker_free};
	o.routes = handlers_routes(&o.nroutes);
	a->next_ping = bus_now_ms() + PING_EVERY_MS;
	a->next_prune = bus_now_ms() + PRUNE_EVERY_MS;
	return svc_start(a->app.bus, &o);
}

static void release(void *ud)
{
	authsvc *a = ud;
	pg_close(a->maint);
}

static auth_config cfg;
static authsvc a = {.app.cfg = &cfg};
/* clang-format off */
static const part_service service = {
	.name = "authsvc", .about = ABOUT, .settings = settings, .nsettings = NSETTINGS,
	.cfg = &cfg, .part = &cfg.part, .ready = ready, .metrics = metrics,
	.open = open_all, .bus = &a.app.bus, .start = start,
	.tick = tick, .tick_ms = 200, .release = release};
/* clang-format on */

PART_MAIN(&service, &a)
