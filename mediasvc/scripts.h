/* The Lua scripts mediasvc runs in Redis (EVAL with no KEYS: each script
 * names its keys itself, because it must read keys whose names it only
 * learns inside the script, e.g. the members of the sender's voice room;
 * this is fine on the single Redis the stack runs, not on Redis Cluster).
 *
 * Running these reads and writes as one script makes each step atomic with
 * roomsvc's membership changes: a `golive` either sees the sender in a room
 * and reaches that room's members as they are at that instant, or sees no
 * room and stores nothing. */
#ifndef MEDIA_SCRIPTS_H
#define MEDIA_SCRIPTS_H

/* ARGV: uid, field, value [, field, value]. When the user is in a voice
 * room: stores the fields in media:<uid> and returns {room, gw1, conn1, gw2,
 * conn2, ...} (the voice connections of the room's members, the user
 * included); else stores nothing and returns {}. */
extern const char script_room_set[];
/* ARGV: uid, "1" (mute) or "0" (unmute). Sets or deletes mute:<uid>;
 * returns the media version of the change. */
extern const char script_mute[];
/* ARGV: uid, room. Clears the voice-session fields of media:<uid> (not the
 * mute) and returns {was_live, talking_was_shown, media version (0 when
 * neither), gw1, conn1, ...}: the flags as 0/1 and, when the user was live,
 * the voice connections of the room's remaining members (the user
 * excluded). */
extern const char script_leave[];
/* ARGV: uid, value ("1"/"0"), burst, rate (per second; 0: no shaping).
 * Stores talking and returns the shaper's decision, see TALK_* below. */
extern const char script_talking_set[];
/* ARGV: uid, burst, rate. The trailing step: announce the change not
 * announced yet, or wait longer. Returns a TALK_* decision. */
extern const char script_talking_flush[];

/* Decisions of the talking scripts: {kind, n[, media version]}. */
enum {
	TALK_NOTHING = 0, /* unchanged, or clients were sent this value already */
	TALK_SEND = 1,    /* n = the value to broadcast now, with its media version */
	TALK_LATER = 2,   /* n = milliseconds until the user has a token again */
};

#endif
