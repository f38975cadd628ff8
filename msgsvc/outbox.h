/* Broadcasts that must not be lost (DESIGN.md: a retry never stores twice,
 * and a stored message is always announced). A change and its outbox row
 * commit together; right after the commit the same instance publishes the
 * row and deletes it (outbox_send). A drainer thread in every instance
 * takes rows older than REBUTTAL_OUTBOX_AGE_MS (their writer died between
 * commit and publish) with FOR UPDATE SKIP LOCKED, so each row is taken by
 * one instance at a time.
 *
 * Publishing a row holds a per-room advisory lock from reading the segment
 * until NATS has acknowledged the publish (a flush), so updateText packets
 * of one room reach the server in the order their contents were read: the
 * last one a client gets is never older than another it got, even with
 * several instances sending to the same room. */
#ifndef MSG_OUTBOX_H
#define MSG_OUTBOX_H

#include <stdint.h>

#include "buf.h"
#include "msg.h"

/* Row kinds: sendMessage of (room, idx) then updateText of its segment, or
 * only updateText of the segment holding idx. */
#define OUTBOX_SEND "send"
#define OUTBOX_TEXT "text"

/* NULL when out of memory. The app's cfg and bus must outlive it. */
outbox *outbox_new(const msg_app *app);
void outbox_free(outbox *ob);

/* Inside the caller's transaction: adds a row, its id in *id. */
pg_status outbox_add(pg *db, const char *kind, const char *room_id, int64_t idx,
		     int64_t *id);
/* After that transaction committed: publishes row id and deletes it, in a
 * transaction of its own on db. A row the drainer holds or has done is
 * left to it. On failure the row stays for the drainer (logged). */
pg_status outbox_send(outbox *ob, pg *db, int64_t id);

/* Starts the drainer thread with its own connection to conninfo. 0 or -1. */
int outbox_start(outbox *ob, const char *conninfo);
/* Stops and joins the drainer (it finishes the row at hand). */
void outbox_stop(outbox *ob);

/* Prometheus lines. Any thread. */
void outbox_metrics(outbox *ob, buf *out);

#endif
