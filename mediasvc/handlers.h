/* The route table of rb.media.<packet>: one row per packet with the
 * permission it needs and its handler. svc admits a request once (service
 * not closing, payload and acting user present, permission held) and
 * counts the outcome; the handlers in relay.c, state.c and talk.c only do
 * their work. Runs on the request subscription's cnats thread. */
#ifndef MEDIA_HANDLERS_H
#define MEDIA_HANDLERS_H

#include <stddef.h>

#include "buf.h"
#include "kv.h"
#include "svc.h"

/* The table for svc_start (static storage; svc writes its counters); its
 * length in *n. The app given to svc_start must be a media_app. */
svc_route *handlers_routes(size_t *n);
/* Health thread. */
void handlers_metrics(buf *out);
/* Fills the refusal for a store failure: UNAVAILABLE while Redis is down
 * (the client may try again), else INTERNAL. */
void handlers_fail_store(svc_req *r, kv_status s);

#endif
