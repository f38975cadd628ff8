/* A schema's migrations: numbered SQL files a service embeds in its binary
 * (lib/embed.h) and lists in order, applied at start.
 *
 * Every migration not yet recorded in <schema>.schema_migrations is applied
 * in one transaction that holds an advisory lock ('<schema>.migrate'), so
 * instances starting together take turns and the later ones find nothing
 * left to do. The list is append only: a version, once released, never
 * changes its SQL; a database at a newer version than the binary's is fine
 * (migrations only add). */
#ifndef RB_PGMIGRATE_H
#define RB_PGMIGRATE_H

#include <stddef.h>

#include "pg.h"

typedef struct {
	int version;      /* 1, 2, ... ascending */
	const char *name; /* "001_init", recorded with the version */
	const char *sql;  /* NUL-terminated statements (EMBED_FILE) */
} pgmigrate_step;

/* Applies steps[0..n-1] to schema (a plain lowercase SQL identifier; the
 * caller's constant, never user input). n >= 1. On failure nothing is
 * applied, the error is logged and the caller may retry later. */
pg_status pgmigrate_run(pg *db, const char *schema, const pgmigrate_step *steps, size_t n);

#endif
