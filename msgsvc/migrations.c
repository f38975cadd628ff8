#include "migrations.h"

#include "embed.h"
#include "pgmigrate.h"

EMBED_FILE(mig_001_init, "msgsvc/migrations/001_init.sql");

/* Append only: a version, once released, never changes its SQL. */
static const pgmigrate_step migrations[] = {
	{1, "001_init", mig_001_init},
};

const idem_table msg_replies = {"msg", 0};

pg_status migrate_run(pg *db)
{
	return pgmigrate_run(db, "msg", migrations, sizeof migrations / sizeof *migrations);
}
