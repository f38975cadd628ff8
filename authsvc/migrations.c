#include "migrations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "log.h"

EMBED_FILE(mig_001_init, "authsvc/migrations/001_init.sql");
EMBED_FILE(mig_002_throttle, "authsvc/migrations/002_throttle.sql");

/* Append only: a version, once released, never changes its SQL. */
static const struct {
	int version;
	const char *name;
	const char *sql;
} migrations[] = {
	{1, "001_init", mig_001_init},
	{2, "002_throttle", mig_002_throttle},
};

#define NMIGRATIONS (sizeof migrations / sizeof *migrations)

/* The bookkeeping table itself cannot be created by a migration. */
static const char bookkeeping[] =
	"CREATE SCHEMA IF NOT EXISTS auth;"
	"CREATE TABLE IF NOT EXISTS auth.schema_migrations ("
	" version int PRIMARY KEY,"
	" name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now())";

/* Highest applied version, or -1 on failure. */
static int applied_version(store *db, int *max)
{
	PGresult *res;
	if (store_query(db, &res, "SELECT coalesce(max(version), 0) FROM auth.schema_migrations", 0,
			NULL) != STORE_OK)
		return -1;
	*max = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static store_status apply(store *db, size_t i)
{
	char version[16];
	snprintf(version, sizeof version, "%d", migrations[i].version);
	const char *p[] = {version, migrations[i].name};
	store_status s = store_script(db, migrations[i].sql);
	if (s == STORE_OK)
		s = store_query(db, NULL,
				"INSERT INTO auth.schema_migrations (version, name) VALUES ($1, $2)", 2,
				p);
	if (s == STORE_OK)
		log_info("migrations: applied %s", migrations[i].name);
	return s;
}

/* The steps inside the transaction. */
static store_status migrate_locked(store *db)
{
	int have = 0;
	store_status s = store_query(
		db, NULL, "SELECT pg_advisory_xact_lock(hashtextextended('auth.migrate', 0))", 0, NULL);
	if (s == STORE_OK)
		s = store_script(db, bookkeeping);
	if (s == STORE_OK && applied_version(db, &have) < 0)
		s = STORE_ERROR;
	for (size_t i = 0; s == STORE_OK && i < NMIGRATIONS; i++)
		if (migrations[i].version > have)
			s = apply(db, i);
	if (s == STORE_OK && have > migrations[NMIGRATIONS - 1].version)
		log_info("migrations: schema is at version %d, newer than this binary's %d "
			 "(fine: migrations only add)",
			 have, migrations[NMIGRATIONS - 1].version);
	return s;
}

store_status migrate_run(store *db)
{
	store_status s = store_begin(db);
	if (s == STORE_OK)
		s = migrate_locked(db);
	if (s == STORE_OK)
		return store_commit(db);
	store_rollback(db);
	return s;
}
