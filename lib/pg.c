#include "pg.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"
#include "log.h"
#include "proc.h"

/* Statements one connection may have prepared (pg_prepared). */
#define PREPARED_MAX 32

struct pg {
	PGconn *conn;
	/* Names of the statements prepared on this session (static strings):
	 * forgotten when the connection is reset, as the server forgot them. */
	const char *prepared[PREPARED_MAX];
	int nprepared;
	char name[32]; /* a copy: callers format names like "requests-3" on their stack */
	int in_tx;
	atomic_int up; /* read by the health thread */
};

STATUS_TEXT(pg_status, PG_STATUS_MAP)

/* libpq prints notices (e.g. "relation already exists, skipping") straight to
 * stderr, which would break the one-line log format. */
static void on_notice(void *ud, const char *msg)
{
	(void)ud;
	log_debug("store: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* First line of libpq's error text: the rest (DETAIL, HINT) is noise in logs. */
static const char *pq_error(const PGconn *conn)
{
	const char *e = PQerrorMessage(conn);
	return e && *e ? e : "unknown error";
}

/* Records whether the server answers and logs only the transitions, so a
 * database outage is one line, not one per request. */
static void mark(pg *db, int up)
{
	int was = atomic_exchange(&db->up, up);
	if (was && !up)
		log_warn("store %s: database unreachable: %.*s", db->name,
			 (int)strcspn(pq_error(db->conn), "\n"), pq_error(db->conn));
	else if (!was && up)
		log_info("store %s: database connected", db->name);
}

/* Set once at start, read by every connect after. */
static const char *password;

void pg_password_set(const char *pw)
{
	password = pw && *pw ? pw : NULL;
}

pg *pg_open_with(const char *conninfo, const char *name, const char *options)
{
	/* options and password first: what conninfo says itself wins over
	 * them (libpq skips NULL values). */
	const char *const keys[] = {"options", "password", "dbname", NULL};
	const char *const values[] = {options, password, conninfo, NULL};
	pg *db = calloc(1, sizeof *db);
	if (!db)
		return NULL;
	snprintf(db->name, sizeof db->name, "%s", name);
	atomic_init(&db->up, 1); /* so a failure at start is logged once */
	db->conn = PQconnectdbParams(keys, values, 1);
	if (!db->conn) {
		free(db);
		return NULL;
	}
	PQsetNoticeProcessor(db->conn, on_notice, NULL);
	mark(db, PQstatus(db->conn) == CONNECTION_OK);
	return db;
}

pg *pg_open(const char *conninfo, const char *name)
{
	return pg_open_with(conninfo, name, NULL);
}

void pg_close(pg *db)
{
	if (!db)
		return;
	PQfinish(db->conn);
	free(db);
}

int pg_up(const pg *db)
{
	return atomic_load(&((pg *)db)->up);
}

/* Makes sure the connection is usable; 0 when it is. */
static int heal(pg *db)
{
	if (PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	PQreset(db->conn);
	db->nprepared = 0;
	mark(db, PQstatus(db->conn) == CONNECTION_OK);
	return PQstatus(db->conn) == CONNECTION_OK ? 0 : -1;
}

/* One statement's text and parameters. */
typedef struct {
	const char *name; /* prepared under this name; NULL: unnamed */
	const char *sql;
	int n;
	const char *const *params;
	const int *lengths, *formats;
	int binary_result;
	int script;
} stmt;

static int is_prepared(const pg *db, const char *name)
{
	for (int i = 0; i < db->nprepared; i++)
		if (db->prepared[i] == name || !strcmp(db->prepared[i], name))
			return 1;
	return 0;
}

/* Prepares q on this session unless it is already; NULL when it is (or
 * now is), else the failed result. The plan is then made once per
 * session, not once per call. */
static PGresult *prepare(pg *db, const stmt *q)
{
	if (is_prepared(db, q->name))
		return NULL;
	if (db->nprepared == PREPARED_MAX) {
		log_error("store %s: more than %d prepared statements", db->name, PREPARED_MAX);
		return PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
	}
	PGresult *res = PQprepare(db->conn, q->name, q->sql, q->n, NULL);
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		db->prepared[db->nprepared++] = q->name;
		return NULL;
	}
	return res ? res : PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
}

/* Round trips of every connection of the process (pg_metrics). */
static histo round_trips;

void pg_metrics(buf *out, const char *part)
{
	histo_print_one(out, "PostgreSQL statement round trips", &round_trips,
			"%s_store_pg_round_trip_seconds", part);
}

static PGresult *exec(pg *db, const stmt *q)
{
	if (q->script)
		return PQexec(db->conn, q->sql);
	if (!q->name)
		return PQexecParams(db->conn, q->sql, q->n, NULL, q->params, q->lengths, q->formats,
				    q->binary_result);
	PGresult *failed = prepare(db, q);
	return failed ? failed
		      : PQexecPrepared(db->conn, q->name, q->n, q->params, q->lengths, q->formats,
				       q->binary_result);
}

/* One try. Returns OK, ERROR (the server refused the statement) or DOWN
 * (the connection broke under it). */
static pg_status run_once(pg *db, PGresult **out, const stmt *q)
{
	const char *sql = q->sql;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	PGresult *res = exec(db, q);
	histo_observe_since(&round_trips, &t0);
	ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
		mark(db, 1);
		*out = res;
		return PG_OK;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		PQclear(res);
		mark(db, 0);
		return PG_DOWN;
	}
	log_error("store %s: %.*s failed: %.*s", db->name, (int)strcspn(sql, "\n"), sql,
		  (int)strcspn(pq_error(db->conn), "\n"), pq_error(db->conn));
	PQclear(res);
	return PG_ERROR;
}

static pg_status run(pg *db, PGresult **res, const stmt *q)
{
	PGresult *r = NULL;
	pg_status s = PG_DOWN;

	/* Inside a transaction a lost connection lost the transaction too:
	 * report it instead of retrying one statement out of its context. */
	for (int attempt = 0; attempt < (db->in_tx ? 1 : 2); attempt++) {
		if (!db->in_tx && heal(db) < 0)
			break;
		s = run_once(db, &r, q);
		if (s != PG_DOWN)
			break;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return s;
}

pg_status pg_query(pg *db, PGresult **res, const char *sql, int nparams, const char *const *params)
{
	stmt q = {NULL, sql, nparams, params, NULL, NULL, 0, 0};
	return run(db, res, &q);
}

/* Runs sql: its first row's first column as text into val (len bytes;
 * "" when there is none), and the rows it returned, or for a write the
 * rows it touched, into *rows. Both are left alone on failure. */
static pg_status first_value(pg *db, const char *sql, int nparams, const char *const *params,
			     char *val, size_t len, long *rows)
{
	PGresult *res;
	pg_status s = pg_query(db, &res, sql, nparams, params);
	if (s != PG_OK)
		return s;
	int got = PQntuples(res) > 0 && PQnfields(res) > 0;
	snprintf(val, len, "%s", got ? PQgetvalue(res, 0, 0) : "");
	*rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : atol(PQcmdTuples(res));
	PQclear(res);
	return PG_OK;
}

pg_status pg_exists(pg *db, int *yes, const char *sql, int nparams, const char *const *params)
{
	char v[2];
	long rows;
	pg_status s = first_value(db, sql, nparams, params, v, sizeof v, &rows);
	if (s == PG_OK)
		*yes = rows == 1 && v[0] == 't';
	return s;
}

pg_status pg_number(pg *db, int64_t *n, const char *sql, int nparams, const char *const *params)
{
	char v[32];
	long rows;
	pg_status s = first_value(db, sql, nparams, params, v, sizeof v, &rows);
	if (s == PG_OK && rows < 1)
		return PG_ERROR;
	if (s == PG_OK)
		*n = strtoll(v, NULL, 10);
	return s;
}

pg_status pg_changed(pg *db, long *rows, const char *sql, int nparams, const char *const *params)
{
	char v[1];
	return first_value(db, sql, nparams, params, v, sizeof v, rows);
}

pg_status pg_prepared(pg *db, PGresult **res, const char *name, const char *sql, int nparams,
		      const char *const *params, const int *lengths, const int *formats,
		      int binary_result)
{
	stmt q = {name, sql, nparams, params, lengths, formats, binary_result, 0};
	return run(db, res, &q);
}

pg_status pg_query_ex(pg *db, PGresult **res, const char *sql, int nparams,
		      const char *const *params, const int *lengths, const int *formats,
		      int binary_result)
{
	stmt q = {NULL, sql, nparams, params, lengths, formats, binary_result, 0};
	return run(db, res, &q);
}

pg_status pg_script(pg *db, const char *sql)
{
	stmt q = {NULL, sql, 0, NULL, NULL, NULL, 0, 1};
	return run(db, NULL, &q);
}

/* Statements without parameters whose result is not wanted. */
static pg_status run_plain(pg *db, PGresult **res, const char *sql)
{
	stmt q = {NULL, sql, 0, NULL, NULL, NULL, 0, 0};
	return run(db, res, &q);
}

pg_status pg_begin(pg *db)
{
	pg_status s = run_plain(db, NULL, "BEGIN");
	if (s == PG_OK)
		db->in_tx = 1;
	return s;
}

pg_status pg_commit(pg *db)
{
	PGresult *res = NULL;
	pg_status s = run_plain(db, &res, "COMMIT");

	db->in_tx = 0;
	/* COMMIT of a transaction that had failed "succeeds" as ROLLBACK. */
	if (s == PG_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		log_error("store %s: COMMIT ended as %s", db->name, PQcmdStatus(res));
		s = PG_ERROR;
	}
	PQclear(res);
	return s;
}

void pg_rollback(pg *db)
{
	if (!db->in_tx)
		return;
	/* With the connection gone the server has rolled back already. */
	if (PQstatus(db->conn) == CONNECTION_OK)
		(void)run_plain(db, NULL, "ROLLBACK");
	db->in_tx = 0;
}

pg_status pg_ping(pg *db)
{
	return run_plain(db, NULL, "SELECT 1");
}

int pg_retry(pg_status (*step)(void *ud), void *ud, int retry_ms)
{
	while (!proc_stopping()) {
		pg_status s = step(ud);
		if (s == PG_OK)
			return 0;
		log_warn("start: database not ready (%s); retrying in %d ms", pg_status_text(s),
			 retry_ms);
		proc_sleep_ms(retry_ms);
	}
	return -1;
}
