/* Events msgsvc consumes:
 *   rb.evt.auth.user_created|user_updated|user_removed   every instance: directory
 *   rb.evt.room.created|updated|removed                   every instance: room cache
 *   rb.evt.room.removed       queue group msg: delete the room's history and uploads
 *   rb.evt.auth.user_removed  queue group msg: with withvengence, mask the user's
 *                             messages, delete their uploads, updateText per segment
 * The two queue-group consumers share one store connection behind a lock
 * (each subscription has its own cnats thread). */
#ifndef MSG_EVENTS_H
#define MSG_EVENTS_H

#include "buf.h"
#include "msg.h"

typedef struct events events;

/* Subscribes everything; NULL (logged) on failure. app must outlive it. */
events *events_start(msg_app *app, const char *conninfo);
/* Unsubscribes and closes the store once a change in progress is done;
 * later callbacks (already queued) do nothing. */
void events_stop(events *ev);
/* Frees ev: only after bus_close, when no callback can run any more. */
void events_free(events *ev);

void events_metrics(events *ev, buf *out);

#endif
