#include "bootstrap.h"

#include <string.h>

#include "acct.h"
#include "event.h"
#include "log.h"
#include "pw.h"
#include "uuid.h"

/* Groups made at first start; NULL perms: every permission. */
static const char *const user_perms[] = {"joinVoiceRoom", "sendMessage"};
static const struct {
	const char *name;
	const char *const *perms;
	size_t nperms;
} boot_groups[] = {
	{"admin", NULL, 0},
	{"user", user_perms, sizeof user_perms / sizeof *user_perms},
};

/* 1 when the marker is there, 0 when not, -1 on failure. */
static int bootstrapped(pg *db)
{
	PGresult *res;
	if (pg_query(db, &res, "SELECT 1 FROM auth.meta WHERE key = 'bootstrapped'", 0, NULL) !=
	    PG_OK)
		return -1;
	int done = PQntuples(res) > 0;
	PQclear(res);
	return done;
}

static pg_status make_groups(pg *db)
{
	pg_status s = PG_OK;
	for (size_t g = 0; s == PG_OK && g < sizeof boot_groups / sizeof *boot_groups; g++) {
		const char *const *perms = boot_groups[g].perms ? boot_groups[g].perms : acct_perms;
		size_t n = boot_groups[g].perms ? boot_groups[g].nperms : acct_nperms;
		s = acct_group_ensure(db, boot_groups[g].name, NULL);
		for (size_t i = 0; s == PG_OK && i < n; i++)
			s = acct_group_grant(db, boot_groups[g].name, perms[i]);
	}
	return s;
}

/* The writes, inside the locked transaction. *done is 1 when another
 * instance had bootstrapped already. */
static pg_status write_all(pg *db, const acct_user *root, int *done)
{
	acct_insert result;
	pg_status s = pg_query(
		db, NULL, "SELECT pg_advisory_xact_lock(hashtextextended('auth.bootstrap', 0))", 0,
		NULL);
	*done = 0;
	if (s == PG_OK && (*done = bootstrapped(db)) < 0)
		s = PG_ERROR;
	if (s != PG_OK || *done)
		return s;
	s = make_groups(db);
	/* An existing root@localhost (made by hand?) is left as it is. */
	if (s == PG_OK)
		s = acct_user_insert(db, root, &result);
	if (s == PG_OK)
		s = pg_query(
			db, NULL,
			"INSERT INTO auth.meta (key, value) VALUES ('bootstrapped', now()::text)",
			0, NULL);
	return s;
}

static pg_status boot_locked(pg *db, const acct_user *root, int *done)
{
	pg_status s = pg_begin(db);
	if (s == PG_OK)
		s = write_all(db, root, done);
	if (s == PG_OK && !*done)
		return pg_commit(db);
	/* Either a step failed, or another instance had done it all and there
	 * is nothing to keep. */
	pg_rollback(db);
	return s;
}

pg_status boot_run(auth_app *app, pg *db)
{
	char id[UUID_STR_LEN + 1], random_pw[BOOT_PASSWORD_CHARS + 1];
	char hash[crypto_pwhash_STRBYTES];
	const char *pw = app->cfg->admin_password;
	acct_user root = {id, BOOT_ROOT_EMAIL, BOOT_ROOT_NAME, hash, "admin", 0};
	int done = bootstrapped(db);

	/* Checked before the lock too, so that a normal start does not spend
	 * a password hash on nothing. */
	if (done != 0)
		return done < 0 ? PG_ERROR : PG_OK;
	if (!*pw) {
		pw_random(random_pw, BOOT_PASSWORD_CHARS);
		pw = random_pw;
	}
	uuid_new(id);
	if (pw_hash(app->cfg, pw, hash) < 0)
		return PG_ERROR;
	pg_status s = boot_locked(db, &root, &done);
	if (s != PG_OK || done)
		return s;
	log_info("bootstrap: created groups admin and user and account %s", BOOT_ROOT_EMAIL);
	/* Printed only now: a password for a rolled-back account helps nobody. */
	if (pw == random_pw)
		log_info("admin password: %s", pw);
	sodium_memzero(random_pw, sizeof random_pw);
	event_user(app, "user_created", &root);
	return PG_OK;
}
