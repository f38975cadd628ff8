#include "migrations.h"

#include "embed.h"
#include "pgmigrate.h"

EMBED_FILE(mig_001_init, "authsvc/migrations/001_init.sql");
EMBED_FILE(mig_002_throttle, "authsvc/migrations/002_throttle.sql");

/* Append only: a version, once released, never changes its SQL. */
static const pgmigrate_step migrations[] = {
	{1, "001_init", mig_001_init},
	{2, "002_throttle", mig_002_throttle},
};

const idem_table auth_replies = {"auth", IDEM_SECRETS};

pg_status migrate_run(pg *db)
{
	return pgmigrate_run(db, "auth", migrations, sizeof migrations / sizeof *migrations);
}
