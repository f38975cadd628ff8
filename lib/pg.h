/* One PostgreSQL connection (libpq) that heals itself.
 *
 * A statement that finds the connection broken resets it (PQreset) and is
 * tried once more, unless a transaction is open: the server has rolled that
 * transaction back already, so repeating one statement of it would be wrong;
 * the caller gets PG_DOWN and rolls back. Only parameterized statements are
 * offered for data; pg_script exists for the embedded migrations.
 *
 * A connection is used by one thread at a time (a service gives each of its
 * threads its own: requests, events, the main thread...); only pg_up may be
 * called from any thread. */
#ifndef RB_PG_H
#define RB_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "buf.h"
#include "status.h"

#define PG_STATUS_MAP(X)                                                                           \
	X(PG_OK, "ok")                                                                             \
	X(PG_DOWN, "database unreachable")                                                         \
	X(PG_ERROR, "statement failed")

/* pg_status_text: a static string; "?" for a value outside the enum. */
STATUS_TYPE(pg_status, PG_STATUS_MAP)

typedef struct pg pg;

/* Connects at once but returns the connection even when the server is not
 * reachable (the next statement retries). NULL only when out of memory.
 * conninfo must outlive it; name (which the log lines show, at most 31
 * bytes kept) is copied.
 * Free with pg_close (NULL is fine). */
pg *pg_open(const char *conninfo, const char *name);
/* The password every later pg_open sends unless conninfo has its own (the
 * part's REBUTTAL_PG_PASSWORD_FILE, so that it is in neither the conninfo
 * nor the environment). NULL or "": none. Main thread, before the first
 * pg_open; password must outlive every connection. */
void pg_password_set(const char *password);
/* pg_open with server settings for the session (libpq's `options`, e.g.
 * "-c client_connection_check_interval=1000"), kept across resets; options
 * that conninfo sets itself win. */
pg *pg_open_with(const char *conninfo, const char *name, const char *options);
void pg_close(pg *db);

/* 1 when the last statement or reset found the server answering. Any thread. */
int pg_up(const pg *db);

/* Runs one statement with text parameters. On PG_OK *res holds the result
 * (the caller PQclears it; res may be NULL to drop it). On failure *res is
 * NULL and the error is logged. */
pg_status pg_query(pg *db, PGresult **res, const char *sql, int nparams, const char *const *params);
/* Runs sql, a query whose one row's first column is a boolean (SELECT
 * EXISTS (...)), and sets *yes to it; *yes is left alone on failure. */
pg_status pg_exists(pg *db, int *yes, const char *sql, int nparams, const char *const *params);
/* Runs sql, whose first row's first column is a number (a count, a max,
 * INSERT ... RETURNING id), and sets *n to it; *n is left alone on failure
 * (PG_ERROR when there is no row). */
pg_status pg_number(pg *db, int64_t *n, const char *sql, int nparams, const char *const *params);
/* Runs sql, an INSERT, UPDATE or DELETE, and sets *rows to the rows it
 * touched; *rows is left alone on failure. */
pg_status pg_changed(pg *db, long *rows, const char *sql, int nparams, const char *const *params);
/* pg_query with per-parameter lengths and formats (1 = binary, for bytea;
 * NULL arrays mean all text) and, when binary_result, every result column
 * in binary format (a bytea comes back as its raw bytes). Same ownership. */
pg_status pg_query_ex(pg *db, PGresult **res, const char *sql, int nparams,
		      const char *const *params, const int *lengths, const int *formats,
		      int binary_result);
/* pg_query_ex of a statement prepared on the connection under name (a
 * static string, one per distinct sql): prepared on first use and again
 * after the connection was reset, so the server parses and plans it once
 * per session. Same ownership and failures. At most 32 names per
 * connection. */
pg_status pg_prepared(pg *db, PGresult **res, const char *name, const char *sql, int nparams,
		      const char *const *params, const int *lengths, const int *formats,
		      int binary_result);
/* Several statements without parameters (the migrations). */
pg_status pg_script(pg *db, const char *sql);

/* Transactions. After any failure inside one, call pg_rollback (a no-op
 * when none is open). pg_commit closes the transaction even when it fails. */
pg_status pg_begin(pg *db);
pg_status pg_commit(pg *db);
void pg_rollback(pg *db);

/* A cheap round trip that also heals the connection; for readiness. */
pg_status pg_ping(pg *db);

/* Appends the histogram <part>_store_pg_round_trip_seconds: every statement
 * of the process, one round trip each (a first use of a prepared statement
 * counts its prepare too). Any thread. */
void pg_metrics(buf *out, const char *part);

/* Runs step(ud) until it returns PG_OK, sleeping retry_ms after each
 * failure (logged as "start: database not ready"), for start-up work that
 * must wait for a database coming up after us. Returns 0 when step
 * succeeded, -1 when the process was asked to stop first. */
int pg_retry(pg_status (*step)(void *ud), void *ud, int retry_ms);

#endif
