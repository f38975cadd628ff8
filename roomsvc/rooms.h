/* The requests roomsvc serves on rb.room.<op> (queue group room), one row
 * each in the ROUTES table of rooms.c, and the room catalogue: first-start
 * rooms, createroom, updateroom, removeroom, get_room. */
#ifndef ROOM_ROOMS_H
#define ROOM_ROOMS_H

#include <stddef.h>

#include "buf.h"
#include "roomsvc.h"
#include "svc.h"

/* The table for svc_start (static storage); its length in *n. The app
 * given to svc_start must be a room_app. */
svc_route *rooms_routes(size_t *n);

/* Creates the first-start rooms (text `Main`, voice `Chat`) unless an
 * instance did before (a marker set with SET NX decides, also between
 * instances starting together). Waits for Redis while the process runs.
 * Returns 0, or -1 when stopped or on a command error (logged). */
int rooms_bootstrap(room_app *app);

/* Fails r after a store error: UNAVAILABLE while Redis is unreachable
 * (the gateway shows "<op>: service unavailable, try again later"),
 * INTERNAL otherwise. Subscription thread. */
void rooms_fail_store(svc_req *r, const char *op, kv_status s);

/* Health thread: requests and time per op and reply code. */
void rooms_metrics(buf *out);

#endif
