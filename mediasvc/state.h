/* A user's media state in a voice room (live stream, devices) and the
 * server mute, with their broadcasts:
 * - `golive` / `chatdev` reach the voice connection of every member of the
 *   sender's voice room (and nobody else: the web client takes any golive
 *   as "my voice room is now roomid"); outside a voice room they are
 *   ignored without an error;
 * - `servermute` reaches everyone;
 * - leaving a room clears the voice-session fields and ends a live stream
 *   for the members who stay.
 * Redis keys: media:<uid> (hash) and mute:<uid>, see README.md. */
#ifndef MEDIA_STATE_H
#define MEDIA_STATE_H

#include "buf.h"
#include "media.h"
#include "svc.h"

/* Request thread. */
void h_golive(svc_req *r);
void h_chatdev(svc_req *r);
void h_servermute(svc_req *r);

/* Event threads. uid left room: clears talking, live, label, video, audio
 * (not the mute); `golive` false to the remaining members if uid was live;
 * `talking` false to all if clients were shown uid talking; media.changed.
 * Retried while Redis is unreachable, for a few seconds (an event lost here
 * would leave a stream shown as live). */
void state_leave(media_app *app, const char *room, const char *uid);
/* uid's account was removed: its media keys go. */
void state_forget(media_app *app, const char *uid);

/* Health thread. */
void state_metrics(buf *out);

#endif
