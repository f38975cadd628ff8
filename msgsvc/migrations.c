#include "migrations.h"

#include "embed.h"
#include "pgmigrate.h"

EMBED_FILE(mig_001_init, "msgsvc/migrations/001_init.sql");
EMBED_FILE(mig_002_one_statement, "msgsvc/migrations/002_one_statement.sql");

/* Append only: a version, once released, never changes its SQL. */
static const pgmigrate_step migrations[] = {
	{1, "001_init", mig_001_init},
	{2, "002_one_statement", mig_002_one_statement},
};

const idem_table msg_replies = {"msg", 0};

pg_status migrate_run(pg *db)
{
	return pgmigrate_run(db, "msg", migrations, sizeof migrations / sizeof *migrations);
}
