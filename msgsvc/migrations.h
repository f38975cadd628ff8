/* The msg schema: its migrations (numbered SQL files in migrations/,
 * embedded in the binary, applied in order at start by lib/pgmigrate.h)
 * and its table of stored replies (lib/idem.h). */
#ifndef MSG_MIGRATIONS_H
#define MSG_MIGRATIONS_H

#include "idem.h"
#include "pg.h"

/* msg.replies (no secret replies). */
extern const idem_table msg_replies;

/* Applies every migration not yet recorded in msg.schema_migrations, all in
 * one transaction that holds an advisory lock, so instances starting together
 * take turns and the later ones find nothing left to do. On failure nothing
 * is applied (the caller retries later). */
pg_status migrate_run(pg *db);

#endif
