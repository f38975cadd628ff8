/* The talking indicator and its flood control.
 *
 * A client may toggle `talking` hundreds of times a second; every change is
 * stored at once, but each user's `talking` broadcast (and the
 * rb.evt.media.changed that makes roomsvc re-send updateUsers) goes out at
 * most once per REBUTTAL_TALKING_MIN_MS. Changes inside that window are
 * coalesced, and a timer thread announces the value the user ended on once
 * the window is over (a `talking` broadcast if it differs from what clients
 * were sent, a media.changed in any case), so clients and lists always end
 * on the final state.
 *
 * The throttle's memory lives in media:<uid> next to the value (scripts.c),
 * so every instance of mediasvc keeps the same limit. */
#ifndef MEDIA_TALK_H
#define MEDIA_TALK_H

#include "buf.h"
#include "media.h"
#include "svc.h"

/* Starts the timer thread. NULL (logged) on failure. app must outlive it. */
talk *talk_start(media_app *app);
/* Publishes the trailing values still due (for at most the throttle window
 * plus a second), stops the thread and frees t. NULL is a no-op. */
void talk_stop(talk *t);

/* Request thread: the `talking` packet. */
void talk_request(svc_req *r);

/* Any thread. Taken around a talking decision and its publication, so that
 * within this process broadcasts leave in the order they were decided.
 * Whoever clears talking outside this module (leaving a room) holds it too. */
void talk_hold(talk *t);
void talk_release(talk *t);
/* Hold taken: sends `talking` {uid, value} to all (the caller announces
 * media.changed). */
void talk_publish(media_app *app, const char *uid, int value);

/* Health thread: counters for /metrics. */
void talk_metrics(talk *t, buf *out);

#endif
