/* The talking indicator and its shaping.
 *
 * A client may toggle `talking` hundreds of times a second; every change is
 * stored at once, and announced (a `talking` broadcast to all) at once while
 * the user has a token: each user has a bucket of REBUTTAL_TALKING_BURST
 * tokens refilled at REBUTTAL_TALKING_RATE per second, so ordinary talking
 * is never delayed and only a flood is shaped. Changes made while the
 * bucket is empty collapse: a timer thread announces the value the user
 * ended on once a token is back (if it differs from what clients were
 * sent), so clients always end on the final state.
 *
 * The bucket lives in media:<uid> next to the value (scripts.c), so every
 * instance of mediasvc shapes alike. */
#ifndef MEDIA_TALK_H
#define MEDIA_TALK_H

#include "buf.h"
#include "media.h"
#include "svc.h"

/* Starts the timer thread. NULL (logged) on failure. app must outlive it. */
talk *talk_start(media_app *app);
/* Publishes the trailing values still due (for at most one token's wait
 * plus a second), stops the thread and frees t. NULL is a no-op. */
void talk_stop(talk *t);

/* Request thread: the `talking` packet. */
void h_talking(svc_req *r);

/* Any thread. Taken around a talking decision and its publication, so that
 * within this process broadcasts leave in the order they were decided.
 * Whoever clears talking outside this module (leaving a room) holds it too. */
void talk_hold(talk *t);
void talk_release(talk *t);
/* Hold taken: sends `talking` {uid, value} to all, stamped with the media
 * version of the change (0: none); the caller announces media.changed. */
void talk_publish(media_app *app, const char *uid, int value, uint64_t media_version);

/* Health thread: counters for /metrics. */
void talk_metrics(talk *t, buf *out);

#endif
