/* The directory of accounts a service keeps (id, name, avatar, hidden), in
 * the order authsvc lists them, new accounts last. authsvc owns accounts;
 * every instance keeps its own copy: loaded with rb.auth.list_users
 * (dir_refresh) and kept current from the account events (dir_event:
 * rb.evt.auth.user_created | user_updated | user_removed, subscribed by the
 * service without a queue group).
 *
 * Events and answers may cross: every change carries a sequence number, and
 * an answer only writes an account that no event changed after its question
 * went out; a removed account is remembered, so a late answer does not bring
 * it back. So the copy ends at the latest state whichever came first.
 *
 * Any thread: every function takes the directory's lock; changed (if any)
 * is called after a change, without the lock. */
#ifndef RB_DIRECTORY_H
#define RB_DIRECTORY_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "bus.h"
#include "rebuttal.pb-c.h"

typedef struct dir dir;

typedef struct {
	const char *id;
	const char *name;
	const char *avatar; /* NULL when the account has none */
	int hidden;
} dir_user;

/* NULL when out of memory. */
dir *dir_new(bus *b, void (*changed)(void *ud), void *ud);
void dir_free(dir *d);

/* Applies an account event: removed (user_removed) or created/updated.
 * A created/updated event without a name keeps the name known. */
void dir_event(dir *d, int removed, const Rb__UserEvent *ev);

/* Asks authsvc for every account and merges the answer. Blocks up to
 * timeout_ms. When a question is out already, waits for its answer
 * instead of asking again. 0, or -1 when authsvc did not answer (logged). */
int dir_refresh(dir *d, int timeout_ms);
/* dir_refresh, unless one began less than min_gap_ms ago and is over
 * (then -1): for an account missing at use, without letting junk ids
 * flood authsvc. Before the first load it always asks. */
int dir_refresh_soon(dir *d, int timeout_ms, int min_gap_ms);
/* 1 once a refresh has succeeded. */
int dir_loaded(dir *d);

/* The account's name copied into a; NULL when it is unknown. */
char *dir_name(dir *d, const char *user_id, arena *a);
/* Copies the accounts, in order, into a (the copies live as long as the
 * arena). Returns 1 once the directory is loaded, 0 before (then *n is 0). */
int dir_snapshot(dir *d, arena *a, dir_user **out, size_t *n);

/* Prometheus lines <part>_directory_accounts, _loaded, _refreshes_total. */
void dir_metrics(dir *d, buf *out, const char *part);

#endif
