/* Which rooms exist and which are text rooms: roomsvc owns the catalogue,
 * msgsvc asks it (rb.room.get_room) and caches the answers. An entry is
 * dropped when roomsvc announces a change to that room (rb.evt.room.*) and
 * the whole cache when the bus reconnects (events may have been missed).
 * Unknown rooms are not cached: a room created a moment ago must be found.
 * Any thread; a lookup that misses blocks on a bus request. */
#ifndef MSG_ROOMS_H
#define MSG_ROOMS_H

#include "arena.h"
#include "buf.h"
#include "bus.h"
#include "status.h"

#define ROOMS_STATUS_MAP(X)                                                                        \
	X(ROOMS_OK, "ok")                                                                          \
	X(ROOMS_NOT_FOUND, "no such room")                                                         \
	X(ROOMS_UNAVAILABLE, "the room service did not answer")

enum rooms_status { ROOMS_STATUS_MAP(STATUS_ENUM_ROW) };

typedef struct rooms rooms;

typedef struct {
	char *name; /* in the caller's arena */
	int is_text;
} rooms_info;

/* NULL when out of memory. timeout_ms bounds each question to roomsvc. */
rooms *rooms_new(bus *b, int timeout_ms);
void rooms_free(rooms *rs);

/* Looks room_id (lowercase) up. On ROOMS_OK fills *out. */
enum rooms_status rooms_get(rooms *rs, const char *room_id, arena *a, rooms_info *out);
void rooms_forget(rooms *rs, const char *room_id);
void rooms_forget_all(rooms *rs);

/* Prometheus lines: cache hits and misses. Any thread. */
void rooms_metrics(rooms *rs, buf *out);

#endif
