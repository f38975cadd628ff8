/* updateUsers / updateRooms: composing them from Redis and the account
 * directory, and coalescing bursts of changes.
 *
 * Changes only mark a list dirty (any thread). The flusher thread publishes
 * the dirty lists to rb.out.all at most once per REBUTTAL_COALESCE_MS, on
 * the process's one bus connection (so after the joinRoom/leaveRoom that
 * caused them), each stamped with the state:version and mediasvc:version
 * read before the state it shows. A list whose composition fails stays
 * dirty and is retried, so the last state always goes out.
 * Also subscribes rb.evt.media.changed (queue group room): of mediasvc's
 * changes only a live stream calls for a list (updateRooms); talking and
 * mute reach every client as packets of their own. */
#ifndef ROOM_LISTS_H
#define ROOM_LISTS_H

#include "buf.h"
#include "roomsvc.h"

enum { LISTS_USERS = 1, LISTS_ROOMS = 2, LISTS_BOTH = 3 };

/* Two steps, because the directory marks the lists dirty and the flusher
 * reads the directory: lists_new makes the state (both lists dirty; NULL
 * when out of memory), lists_start then starts the flusher and the media
 * subscription once app->dir is set (0, or -1 logged). */
lists *lists_new(room_app *app);
int lists_start(lists *l);
/* lists_stop ends the flusher and unsubscribes; lists_free frees, once no
 * callback can run any more. */
void lists_stop(lists *l);
void lists_free(lists *l);
/* Any thread. */
void lists_dirty(lists *l, int which);
/* Health thread. */
void lists_metrics(lists *l, buf *out);

#endif
