/* The msg schema's migrations: numbered SQL files in migrations/, embedded
 * in the binary, applied in order at start. */
#ifndef MSG_MIGRATIONS_H
#define MSG_MIGRATIONS_H

#include "store.h"

/* Applies every migration not yet recorded in msg.schema_migrations, all in
 * one transaction that holds an advisory lock, so instances starting together
 * take turns and the later ones find nothing left to do. On failure nothing
 * is applied (the caller retries later). */
store_status migrate_run(store *db);

#endif
