#include "store.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct store {
	PGconn *conn;
	const char *name;
	int in_tx;
	atomic_int up; /* read by the health thread */
};

static const char *const status_text[] = {
#define STORE_TEXT(name, text) text,
	STORE_STATUS_MAP(STORE_TEXT)
#undef STORE_TEXT
};

const char *store_status_text(store_status s)
{
	return (size_t)s < sizeof status_text / sizeof *status_text ? status_text[s] : "?";
}

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
static void mark(store *st, int up)
{
	int was = atomic_exchange(&st->up, up);
	if (was && !up)
		log_warn("store %s: database unreachable: %.*s", st->name,
			 (int)strcspn(pq_error(st->conn), "\n"), pq_error(st->conn));
	else if (!was && up)
		log_info("store %s: database connected", st->name);
}

store *store_open(const char *conninfo, const char *name)
{
	store *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->name = name;
	atomic_init(&st->up, 1); /* so a failure at start is logged once */
	st->conn = PQconnectdb(conninfo);
	if (!st->conn) {
		free(st);
		return NULL;
	}
	PQsetNoticeProcessor(st->conn, on_notice, NULL);
	mark(st, PQstatus(st->conn) == CONNECTION_OK);
	return st;
}

void store_close(store *st)
{
	if (!st)
		return;
	PQfinish(st->conn);
	free(st);
}

int store_up(const store *st)
{
	return atomic_load(&((store *)st)->up);
}

/* Makes sure the connection is usable; 0 when it is. */
static int heal(store *st)
{
	if (PQstatus(st->conn) == CONNECTION_OK)
		return 0;
	PQreset(st->conn);
	mark(st, PQstatus(st->conn) == CONNECTION_OK);
	return PQstatus(st->conn) == CONNECTION_OK ? 0 : -1;
}

/* One statement's text and parameters. */
typedef struct {
	const char *sql;
	int n;
	const char *const *params;
	const int *lengths, *formats;
	int binary_result;
	int script;
} stmt;

/* One try. Returns OK, ERROR (the server refused the statement) or DOWN
 * (the connection broke under it). */
static store_status run_once(store *st, PGresult **out, const stmt *q)
{
	const char *sql = q->sql;
	PGresult *res = q->script ? PQexec(st->conn, sql)
				  : PQexecParams(st->conn, sql, q->n, NULL, q->params, q->lengths,
						 q->formats, q->binary_result);
	ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
		mark(st, 1);
		*out = res;
		return STORE_OK;
	}
	if (PQstatus(st->conn) != CONNECTION_OK) {
		PQclear(res);
		mark(st, 0);
		return STORE_DOWN;
	}
	log_error("store %s: %.*s failed: %.*s", st->name, (int)strcspn(sql, "\n"), sql,
		  (int)strcspn(pq_error(st->conn), "\n"), pq_error(st->conn));
	PQclear(res);
	return STORE_ERROR;
}

static store_status run(store *st, PGresult **res, const stmt *q)
{
	PGresult *r = NULL;
	store_status s = STORE_DOWN;

	/* Inside a transaction a lost connection lost the transaction too:
	 * report it instead of retrying one statement out of its context. */
	for (int attempt = 0; attempt < (st->in_tx ? 1 : 2); attempt++) {
		if (!st->in_tx && heal(st) < 0)
			break;
		s = run_once(st, &r, q);
		if (s != STORE_DOWN)
			break;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return s;
}

store_status store_query(store *st, PGresult **res, const char *sql, int nparams,
			 const char *const *params)
{
	stmt q = {sql, nparams, params, NULL, NULL, 0, 0};
	return run(st, res, &q);
}

store_status store_query_ex(store *st, PGresult **res, const char *sql, int nparams,
			    const char *const *params, const int *lengths, const int *formats,
			    int binary_result)
{
	stmt q = {sql, nparams, params, lengths, formats, binary_result, 0};
	return run(st, res, &q);
}

store_status store_script(store *st, const char *sql)
{
	stmt q = {sql, 0, NULL, NULL, NULL, 0, 1};
	return run(st, NULL, &q);
}

/* Statements without parameters whose result is not wanted. */
static store_status run_plain(store *st, PGresult **res, const char *sql)
{
	stmt q = {sql, 0, NULL, NULL, NULL, 0, 0};
	return run(st, res, &q);
}

store_status store_begin(store *st)
{
	store_status s = run_plain(st, NULL, "BEGIN");
	if (s == STORE_OK)
		st->in_tx = 1;
	return s;
}

store_status store_commit(store *st)
{
	PGresult *res = NULL;
	store_status s = run_plain(st, &res, "COMMIT");

	st->in_tx = 0;
	/* COMMIT of a transaction that had failed "succeeds" as ROLLBACK. */
	if (s == STORE_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		log_error("store %s: COMMIT ended as %s", st->name, PQcmdStatus(res));
		s = STORE_ERROR;
	}
	PQclear(res);
	return s;
}

void store_rollback(store *st)
{
	if (!st->in_tx)
		return;
	/* With the connection gone the server has rolled back already. */
	if (PQstatus(st->conn) == CONNECTION_OK)
		(void)run_plain(st, NULL, "ROLLBACK");
	st->in_tx = 0;
}

store_status store_ping(store *st)
{
	return run_plain(st, NULL, "SELECT 1");
}
