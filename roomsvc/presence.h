/* Connections and gateway liveness.
 *
 * - rb.evt.gw.heartbeat | conn_opened | conn_closed, one subscription
 *   (rb.evt.gw.*, queue group room: one instance handles each event, and
 *   within an instance in publish order). A heartbeat renews
 *   gw:<gw>:lease for its lease_ms; an opened connection is counted in
 *   gw:<gw>:conns and `online`; a closed one is uncounted, `disconnect`
 *   goes to all, and if it was its user's voice connection the user leaves
 *   the room.
 * - A sweeper thread per instance, every REBUTTAL_SWEEP_MS: a gateway in
 *   `gateways` whose lease is gone has all its connections closed as above
 *   and is forgotten. It waits a default lease after NATS or Redis was
 *   unreachable, since heartbeats could not be stored meanwhile.
 * Closing is one atomic script that only the first closer gets a result
 * from, so a repeated event or two sweeping instances announce a
 * connection's close once. */
#ifndef ROOM_PRESENCE_H
#define ROOM_PRESENCE_H

#include "buf.h"
#include "roomsvc.h"

/* Subscribes and starts the sweeper. NULL (logged) on failure.
 * presence_stop ends the sweeper and unsubscribes; presence_free frees once
 * no callback can run any more. */
presence *presence_start(room_app *app);
void presence_stop(presence *p);
void presence_free(presence *p);
/* Health thread. */
void presence_metrics(presence *p, buf *out);

/* 1 when s can name a gateway or a connection: 1..64 characters of
 * [A-Za-z0-9_-] (it becomes part of Redis keys and NATS subjects). */
int presence_id_ok(const char *s);

#endif
