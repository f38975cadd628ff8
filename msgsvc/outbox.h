/* Broadcasts that must not be lost (DESIGN.md: a retry never stores twice,
 * and a stored message is always announced). A change and its outbox row
 * commit together (history.h: one statement); right after the commit the
 * same instance publishes the row and deletes it (outbox_publish_written).
 * A drainer thread in every instance takes rows older than
 * REBUTTAL_OUTBOX_AGE_MS (their writer died between commit and publish)
 * with FOR UPDATE SKIP LOCKED, so each row is taken by one drainer at a
 * time.
 *
 * Order: every publisher of a room holds the room's publishing lock (an
 * advisory lock, 'msg.pub:<room>') from reading the segment until NATS has
 * acknowledged the publish (a flush). A writer takes it inside its
 * transaction, after its writes and before reading the segment, and keeps
 * it (session level) past the commit until it has published; the drainer
 * takes it in its own transaction. So every updateText is read after every
 * change committed before it, and they reach NATS in the order they were
 * read: the last one a client gets is the stored state, and a room's
 * writes (which take its counter row in idx order, and the lock before
 * they commit) are announced in idx order, even from several instances. */
#ifndef MSG_OUTBOX_H
#define MSG_OUTBOX_H

#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "history.h"
#include "msg.h"

/* Row kinds: sendMessage of (room, idx) then updateText of its segment, or
 * only updateText of the segment holding idx. */
#define OUTBOX_SEND "send"
#define OUTBOX_TEXT "text"

/* NULL when out of memory. The app's cfg and bus must outlive it. */
outbox *outbox_new(const msg_app *app);
void outbox_free(outbox *ob);

/* Inside the caller's transaction: adds a row, its id in *id. */
pg_status outbox_add(pg *db, const char *kind, const char *room_id, int64_t idx, int64_t *id);
/* After that transaction committed: publishes row id and deletes it, in a
 * transaction of its own on db that takes the room's publishing lock and
 * reads the segment. A row the drainer holds or has done is left to it. On
 * failure the row stays for the drainer (logged). */
pg_status outbox_send(outbox *ob, pg *db, int64_t id);

/* After hist_post/hist_change wrote w (db's session holds the room's
 * publishing lock): publishes sendMessage of w->msg when send, then
 * updateText of w->ut, waits for NATS to have them, then releases the lock
 * and deletes the row (msg.published: one round trip). Strings of the
 * deliveries go in a. When NATS did not take them the row stays for the
 * drainer (logged, PG_ERROR). */
pg_status outbox_publish_written(outbox *ob, pg *db, arena *a, const hist_written *w, int send);
/* Releases every publishing lock db's session holds: after a write that
 * failed, which may have taken one before failing. */
void outbox_release(pg *db);

/* Starts the drainer thread with its own connection to conninfo. 0 or -1. */
int outbox_start(outbox *ob, const char *conninfo);
/* Stops and joins the drainer (it finishes the row at hand). */
void outbox_stop(outbox *ob);

/* Prometheus lines. Any thread. */
void outbox_metrics(outbox *ob, buf *out);

#endif
