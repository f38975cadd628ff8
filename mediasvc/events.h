/* Events mediasvc consumes and emits (DESIGN.md, "Events").
 *
 * Consumes, in queue group `media` (one instance handles each event):
 *   rb.evt.room.member_left  (MemberEvent) -> state_leave
 *   rb.evt.auth.user_removed (UserEvent)   -> state_forget
 * Emits:
 *   rb.evt.media.changed (MediaEvent) after what the lists show of a
 *   user's media state changed, saying what ("talking", "mute", "live",
 *   "left"): roomsvc decides which lists to compose again. */
#ifndef MEDIA_EVENTS_H
#define MEDIA_EVENTS_H

#include "media.h"

typedef struct events events;

/* Subscribes. NULL (logged) on failure. app must outlive the result. */
events *events_start(media_app *app);
/* Unsubscribes and waits (up to 5 s each) for callbacks still running,
 * then frees e. Main thread, never from a callback. NULL: no-op. */
void events_stop(events *e);

/* Any thread: publishes rb.evt.media.changed for uid. 0 or -1 (logged). */
int events_media_changed(media_app *app, const char *uid, const char *what);

#endif
