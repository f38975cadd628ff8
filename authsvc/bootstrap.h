/* First start (PROTOCOL.md §2, "permissions"): groups admin (every
 * permission) and user, and the account root@localhost in group admin. */
#ifndef AUTH_BOOTSTRAP_H
#define AUTH_BOOTSTRAP_H

#include "auth.h"
#include "pg.h"

#define BOOT_ROOT_EMAIL "root@localhost"
#define BOOT_ROOT_NAME "root"
#define BOOT_PASSWORD_CHARS 20

/* Runs once per database, whatever the number of instances starting: the
 * marker auth.meta 'bootstrapped' is checked and written under an advisory
 * lock in the same transaction as the rows. Root's password is
 * REBUTTAL_ADMIN_PASSWORD, else a random one logged once as
 * "admin password: <pw>" after the commit. Nothing is written on failure
 * (the caller retries later). */
pg_status boot_run(auth_app *app, pg *db);

#endif
