/* The account directory: user id -> current display name, so a message
 * carries its sender's name at the time of sending. authsvc owns accounts;
 * the directory is loaded with rb.auth.list_users (retried by the main
 * thread until authsvc answers, refreshed now and then and after a bus
 * reconnect) and kept current from rb.evt.auth.user_created|updated|removed,
 * which every instance receives (no queue group).
 *
 * Any thread: every function takes the directory's lock. */
#ifndef MSG_DIRECTORY_H
#define MSG_DIRECTORY_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "bus.h"
#include "rebuttal.pb-c.h"

typedef struct dir dir;

/* NULL when out of memory. */
dir *dir_new(bus *b);
void dir_free(dir *d);

/* The user's name copied into a; NULL when the user is unknown. */
char *dir_name(dir *d, const char *user_id, arena *a);

/* Applies an event: what is "user_created", "user_updated" or "user_removed". */
void dir_event(dir *d, const char *what, const Rb__UserEvent *ev);

/* Asks authsvc for every account and merges the answer (changes that
 * events brought while the question was out win over it). Blocks up to
 * timeout_ms. When a question is out already, waits for its answer
 * instead of asking again. 0, or -1 when authsvc did not answer (logged). */
int dir_refresh(dir *d, int timeout_ms);
/* dir_refresh, unless one began less than min_gap_ms ago and is over
 * (then -1): for a name missing at send time, without letting junk ids
 * flood authsvc. */
int dir_refresh_soon(dir *d, int timeout_ms, int min_gap_ms);
/* 1 once a refresh has succeeded. */
int dir_loaded(dir *d);

/* Prometheus lines. */
void dir_metrics(dir *d, buf *out);

#endif
