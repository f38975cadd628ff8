/* The requests msgsvc serves on rb.msg.<op> (queue group msg): one row
 * each in the ROUTES table of handlers.c. */
#ifndef MSG_HANDLERS_H
#define MSG_HANDLERS_H

#include <stddef.h>

#include "buf.h"
#include "svc.h"

/* The table for svc_start (static storage; svc writes its counters); its
 * length in *n. The app given to svc_start must be a msg_app. */
svc_route *handlers_routes(size_t *n);

/* Appends Prometheus lines (requests and time per op and reply code).
 * Runs on the health thread. */
void handlers_metrics(buf *out);

#endif
