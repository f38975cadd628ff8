#include "migrations.h"

#include "embed.h"
#include "pgmigrate.h"

EMBED_FILE(mig_001_init, "authsvc/migrations/001_init.sql");
EMBED_FILE(mig_002_throttle, "authsvc/migrations/002_throttle.sql");
EMBED_FILE(mig_003_login_known, "authsvc/migrations/003_login_known.sql");
EMBED_FILE(mig_004_name_key, "authsvc/migrations/004_name_key.sql");

/* Append only: a version, once released, never changes its SQL. */
static const pgmigrate_step migrations[] = {
	{1, "001_init", mig_001_init},
	{2, "002_throttle", mig_002_throttle},
	{3, "003_login_known", mig_003_login_known},
	{4, "004_name_key", mig_004_name_key},
};

const idem_table auth_replies = {"auth", IDEM_SECRETS};

pg_status migrate_run(pg *db)
{
	return pgmigrate_run(db, "auth", migrations, sizeof migrations / sizeof *migrations);
}
