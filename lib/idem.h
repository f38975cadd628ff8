/* Idempotent writes (DESIGN.md, "Request id"): the gateway retries a request
 * that timed out with the same request id, possibly to another instance.
 * A write runs inside
 *
 *     idem_begin   BEGIN, lock the request id, look for a stored reply
 *     ...          the handler's statements, filling r->reply
 *     idem_commit  store r->reply under the request id, COMMIT
 *
 * so a retry, even one running while the first try is still at work, waits
 * for it and answers with exactly the reply it gave. Requests without a
 * request id (operator tools may send none) simply run each time. Only
 * successful replies are stored: a failure rolls everything back.
 *
 * The replies live in the service's own schema, in a table its migrations
 * create: <schema>.replies (request_id text PRIMARY KEY, reply bytea,
 * created_at timestamptz DEFAULT now(), and with IDEM_SECRETS a boolean
 * `secret`). The advisory lock is keyed '<schema>.req:<request id>'. */
#ifndef RB_IDEM_H
#define RB_IDEM_H

#include "pg.h"
#include "svc.h"

/* Longest request id accepted (a UUID is 36). */
#define IDEM_REQUEST_ID_MAX 128
/* How long a secret reply is kept (SQL interval). A gateway gives up on a
 * request after tries x timeout (3 x 2 s by default). */
#define IDEM_SECRET_KEEP "10 minutes"

enum idem_flags {
	IDEM_SECRETS = 1, /* the table has the `secret` column */
};

/* A service's table of stored replies; a constant of the service. */
typedef struct {
	const char *schema; /* a plain lowercase identifier, e.g. "auth" */
	int flags;          /* enum idem_flags */
} idem_table;

/* Opens the transaction. When a reply is stored for this request id, it is
 * copied into r->reply (allocated in r->arena), the transaction is closed and
 * *replayed is 1: the handler returns at once. On failure nothing is open. */
pg_status idem_begin(const idem_table *t, svc_req *r, pg *db, int *replayed);
/* Stores r->reply and commits. On failure the transaction is rolled back. */
pg_status idem_commit(const idem_table *t, svc_req *r, pg *db);
/* The same for a reply that carries a secret (createuser's password): it is
 * kept IDEM_SECRET_KEEP instead of 24 hours, long enough for every retry.
 * Only for a table with IDEM_SECRETS (else PG_ERROR, rolled back). */
pg_status idem_commit_secret(const idem_table *t, svc_req *r, pg *db);
/* Rolls the transaction back (after a failed step or a refusal). */
void idem_abort(pg *db);

/* For a service whose own SQL looks the reply up (same table, same
 * advisory lock): copies a stored reply, as hex text of the packed
 * rb.Reply, into r->reply (allocated in r->arena). 0, or -1 when it does
 * not decode. */
int idem_replay(svc_req *r, const char *hex);

/* Deletes stored replies older than 24 hours (retries stop long before),
 * and with IDEM_SECRETS secret ones older than IDEM_SECRET_KEEP. */
pg_status idem_prune(const idem_table *t, pg *db);

#endif
