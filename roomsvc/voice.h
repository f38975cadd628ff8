/* Voice-room membership: the joinroom / leaveroom packets, and the
 * packets and events every way of joining or leaving announces.
 *
 * A user is in at most one voice room; the connection that joined is the
 * user's voice connection (user:<uid>:voice), and when it closes the user
 * leaves (presence.c). */
#ifndef ROOM_VOICE_H
#define ROOM_VOICE_H

#include <stdint.h>

#include "roomsvc.h"
#include "svc.h"

/* Route handlers (rooms.c's table; permission already checked). */
void h_joinroom(svc_req *r);
void h_leaveroom(svc_req *r);

/* After Redis says uid left room (through gateway/conn, '' when unknown):
 * `leaveRoom` {userid, roomid} to all, stamped with the state version the
 * leave set (0: not known), then rb.evt.room.member_left.
 * Caller holds app->emit. Any thread. */
void voice_emit_left(room_app *app, const char *room, const char *uid, const char *gw,
		     const char *conn, uint64_t version);

#endif
