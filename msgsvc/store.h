/* One PostgreSQL connection (libpq) that heals itself. (A copy of
 * authsvc/store.[ch] plus store_query_ex for binary parameters and results:
 * uploads are bytea, and hex-encoding 8 MiB both ways is needless work. Both
 * copies belong in lib/ once its owner takes them.)
 *
 * A statement that finds the connection broken resets it (PQreset) and is
 * tried once more, unless a transaction is open: the server has rolled that
 * transaction back already, so repeating one statement of it would be wrong;
 * the caller gets STORE_DOWN and rolls back. Only parameterized statements
 * are offered for data; store_script exists for the embedded migrations.
 *
 * A store is used by one thread at a time (msgsvc gives each of its threads
 * its own: requests, events, the outbox drainer, the main thread); only
 * store_up may be called from any thread. */
#ifndef MSG_STORE_H
#define MSG_STORE_H

#include <libpq-fe.h>

#define STORE_STATUS_MAP(X)                                    \
	X(STORE_OK, "ok")                                      \
	X(STORE_DOWN, "database unreachable")                  \
	X(STORE_ERROR, "statement failed")

typedef enum {
#define STORE_ENUM(name, text) name,
	STORE_STATUS_MAP(STORE_ENUM)
#undef STORE_ENUM
} store_status;

const char *store_status_text(store_status s);

typedef struct store store;

/* Connects at once but returns the store even when the server is not
 * reachable (the next statement retries). NULL only when out of memory.
 * conninfo and name (which the log lines show) must outlive the store.
 * Free with store_close. */
store *store_open(const char *conninfo, const char *name);
void store_close(store *st);

/* 1 when the last statement or reset found the server answering. Any thread. */
int store_up(const store *st);

/* Runs one statement with text parameters. On STORE_OK *res holds the
 * result (caller PQclears it; res may be NULL to drop it). On failure *res
 * is NULL and the error is logged. */
store_status store_query(store *st, PGresult **res, const char *sql, int nparams,
			 const char *const *params);
/* store_query with per-parameter lengths and formats (1 = binary, for
 * bytea; NULL arrays mean all text) and, when binary_result, every result
 * column in binary format (a bytea comes back as its raw bytes). */
store_status store_query_ex(store *st, PGresult **res, const char *sql, int nparams,
			    const char *const *params, const int *lengths, const int *formats,
			    int binary_result);
/* Several statements without parameters (the migrations). */
store_status store_script(store *st, const char *sql);

/* Transactions. After any failure inside one, call store_rollback. */
store_status store_begin(store *st);
store_status store_commit(store *st);
void store_rollback(store *st);

/* A cheap round trip that also heals the connection; for readiness. */
store_status store_ping(store *st);

#endif
