#include "pgmigrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* PostgreSQL's limit on identifiers; the buffers below are sized for it. */
#define SCHEMA_MAX 63

/* The statements, with the schema's name in them. */
typedef struct {
	char lock[160], bookkeeping[384], applied[160], record[160];
} sqls;

/* 0, or -1 (logged) when the schema's name is not a plain identifier: it
 * is pasted into SQL, so only a-z, 0-9 and _ pass. */
static int sqls_build(sqls *q, const char *s)
{
	size_t len = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");

	if (len == 0 || len > SCHEMA_MAX || s[len] || (*s >= '0' && *s <= '9')) {
		log_error("migrations: \"%s\" is not a schema name", s);
		return -1;
	}
	snprintf(q->lock, sizeof q->lock,
		 "SELECT pg_advisory_xact_lock(hashtextextended('%s.migrate', 0))", s);
	/* The bookkeeping table itself cannot be created by a migration. */
	snprintf(q->bookkeeping, sizeof q->bookkeeping,
		 "CREATE SCHEMA IF NOT EXISTS %s;"
		 "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
		 " version int PRIMARY KEY,"
		 " name text NOT NULL,"
		 " applied_at timestamptz NOT NULL DEFAULT now())",
		 s, s);
	snprintf(q->applied, sizeof q->applied,
		 "SELECT coalesce(max(version), 0) FROM %s.schema_migrations", s);
	snprintf(q->record, sizeof q->record,
		 "INSERT INTO %s.schema_migrations (version, name) VALUES ($1, $2)", s);
	return 0;
}

/* Highest applied version, or -1 on failure. */
static int applied_version(pg *db, const sqls *q, int *max)
{
	int64_t n;
	if (pg_number(db, &n, q->applied, 0, NULL) != PG_OK)
		return -1;
	*max = (int)n;
	return 0;
}

static pg_status apply(pg *db, const sqls *q, const pgmigrate_step *m)
{
	char version[16];
	snprintf(version, sizeof version, "%d", m->version);
	const char *p[] = {version, m->name};
	pg_status s = pg_script(db, m->sql);
	if (s == PG_OK)
		s = pg_query(db, NULL, q->record, 2, p);
	if (s == PG_OK)
		log_info("migrations: applied %s", m->name);
	return s;
}

/* The steps inside the transaction. */
static pg_status migrate_locked(pg *db, const sqls *q, const pgmigrate_step *steps, size_t n)
{
	int have = 0;
	pg_status s = pg_query(db, NULL, q->lock, 0, NULL);
	if (s == PG_OK)
		s = pg_script(db, q->bookkeeping);
	if (s == PG_OK && applied_version(db, q, &have) < 0)
		s = PG_ERROR;
	for (size_t i = 0; s == PG_OK && i < n; i++)
		if (steps[i].version > have)
			s = apply(db, q, &steps[i]);
	if (s == PG_OK && have > steps[n - 1].version)
		log_info("migrations: schema is at version %d, newer than this binary's %d "
			 "(fine: migrations only add)",
			 have, steps[n - 1].version);
	return s;
}

pg_status pgmigrate_run(pg *db, const char *schema, const pgmigrate_step *steps, size_t n)
{
	sqls q;
	pg_status s;

	if (n == 0 || sqls_build(&q, schema) < 0)
		return PG_ERROR;
	s = pg_begin(db);
	if (s == PG_OK)
		s = migrate_locked(db, &q, steps, n);
	if (s == PG_OK)
		return pg_commit(db);
	pg_rollback(db);
	return s;
}
