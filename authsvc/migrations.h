/* The auth schema: its migrations (numbered SQL files in migrations/,
 * embedded in the binary, applied in order at start by lib/pgmigrate.h)
 * and its table of stored replies (lib/idem.h). */
#ifndef AUTH_MIGRATIONS_H
#define AUTH_MIGRATIONS_H

#include "idem.h"
#include "pg.h"

/* auth.replies, with secret replies (createuser's password). */
extern const idem_table auth_replies;

/* Applies every migration not yet recorded in auth.schema_migrations, all in
 * one transaction that holds an advisory lock, so instances starting together
 * take turns and the later ones find nothing left to do. On failure nothing
 * is applied (the caller retries later). */
pg_status migrate_run(pg *db);

#endif
