/* The Lua scripts behind every state change of roomsvc.
 *
 * Each change is one script so that it is atomic across roomsvc instances
 * (two instances may handle two connections of one user at once) and so
 * that it can be run twice without harm: an event retried after a lost
 * reply, or delivered to one instance while another sweeps the same
 * gateway, must not count a connection twice. Every script that changes
 * what updateUsers/updateRooms show also bumps state:version (see
 * bump() in scripts.c).
 *
 * The scripts build key names from their arguments (room:<id>:members of
 * the room a user leaves is only known inside the script), which a single
 * Redis or a primary/replica pair allows; Redis Cluster would need hash
 * tags. Arguments and replies are listed with each script in scripts.c. */
#ifndef ROOM_SCRIPTS_H
#define ROOM_SCRIPTS_H

extern const char script_bootstrap[];
extern const char script_room_create[];
extern const char script_room_update[];
extern const char script_room_remove[];
extern const char script_voice_join[];
extern const char script_voice_leave[];
extern const char script_conn_open[];
extern const char script_conn_close[];
extern const char script_gw_drop[];
extern const char script_sweep_unlock[];

/* Sweeping tombstones and idempotency records live this long. */
#define TOMBSTONE_MS "60000"
#define REQUEST_TTL_S "86400"

#endif
