/* Integration tests of roomsvc (tests/integ_room.c, tests/integ_room_presence.c,
 * tests/integ_room_lists.c). */
#define ROOM_TESTS(X)                                                                              \
	X(room_login_lists)                                                                        \
	X(room_create)                                                                             \
	X(room_update)                                                                             \
	X(room_remove)                                                                             \
	X(room_plain_user_denied)                                                                  \
	X(room_bad_fields)                                                                         \
	X(room_join_refused)                                                                       \
	X(room_join_lists)                                                                         \
	X(room_move_order)                                                                         \
	X(room_leave)                                                                              \
	X(room_two_conns)                                                                          \
	X(room_two_gateways)                                                                       \
	X(room_gateway_kill9)                                                                      \
	X(room_roomsvc_restart)                                                                    \
	X(room_redis_restart)                                                                      \
	X(room_resync_after_outage)                                                                \
	X(room_login_200)                                                                          \
	X(room_lists_conflated)                                                                    \
	X(room_lists_overtaken)

/* Helpers of the room tests, defined in integ_room.c and used by both files
 * (only seen by files that include integ.h first). Each returns borrowed
 * JSON unless its comment in integ_room.c says the caller owns it. */
#if defined(TESTS_INTEG_H) && !defined(TESTS_LIST_ROOM_HELPERS)
#define TESTS_LIST_ROOM_HELPERS

#define UNKNOWN_ROOM "0b7a3f0e-5a43-4c39-9a34-0000000000a1"

/* What a list should show; which fields count depends on the predicate. */
typedef struct {
	const char *room; /* room id */
	const char *uid;  /* user id */
	const char *name; /* room name */
	int flag;         /* member: 1 in the room, 0 not; user: status */
	int has_pos;
	long long pos;
} want;

typedef int (*list_ok)(json_t *list, const want *w);

json_t *room_in(json_t *rooms, const char *id);
json_t *user_of(json_t *list, const char *uid);
json_t *user_in(json_t *users, const char *uid);
int member(json_t *rooms, const char *room, const char *uid);
_Noreturn void fail_json(const char *file, int line, json_t *j, const char *what);
void check_list_at(const char *file, int line, json_t *j);
json_t *wait_list_at(const char *file, int line, wsc *c, const char *type, list_ok ok,
		     const want *w, const char *what, int timeout_ms);
int ok_member(json_t *j, const want *w);
int ok_user(json_t *j, const want *w);
int ok_room(json_t *j, const want *w);
void expect_about_at(const char *file, int line, wsc *c, const char *type, const char *uid,
		     const char *room);
json_t *login_lists_at(const char *file, int line, wsc *c, const char *uid, int fresh,
		       json_t **users);
json_t *fresh_lists_at(const char *file, int line, wsc_ctx *ctx, const who *w, int port, wsc **out,
		       json_t **users);
void room_new_at(const char *file, int line, wsc *adm, const char *type, const char *pos, char *id,
		 char *name);
void join_at(const char *file, int line, who *w, const char *room);
void settle(wsc_ctx *ctx, wsc *c);
const char *room_id_by(json_t *rooms, const char *name, const char *type);

/* An updateRooms with uid in (in=1) or out of (in=0) room. */
#define wait_member(c, room_, uid_, in)                                                            \
	wait_list_at(__FILE__, __LINE__, (c), "updateRooms", ok_member,                            \
		     &(want){.room = (room_), .uid = (uid_), .flag = (in)},                        \
		     (in) ? "the user in the room" : "the user out of the room", WAIT_MS)
/* An updateUsers with uid's status and currentRoom (NULL: null). */
#define wait_user(c, uid_, status, room_)                                                          \
	wait_list_at(__FILE__, __LINE__, (c), "updateUsers", ok_user,                              \
		     &(want){.room = (room_), .uid = (uid_), .flag = (status)},                    \
		     "the user's status and currentRoom", WAIT_MS)
/* An updateRooms with room id_ (or, id_ NULL, a room named name_) named
 * name_ (when not NULL) at position pos_ (when has_). */
#define wait_room(c, id_, name_, has_, pos_)                                                       \
	wait_list_at(__FILE__, __LINE__, (c), "updateRooms", ok_room,                              \
		     &(want){.room = (id_),                                                        \
			     .name = (name_),                                                      \
			     .flag = 1,                                                            \
			     .has_pos = (has_),                                                    \
			     .pos = (pos_)},                                                       \
		     "the room as wanted", WAIT_MS)
#define wait_room_gone(c, id_)                                                                     \
	wait_list_at(__FILE__, __LINE__, (c), "updateRooms", ok_room,                              \
		     &(want){.room = (id_), .flag = 0}, "the room gone", WAIT_MS)

#define expect_about(c, type, uid, room) expect_about_at(__FILE__, __LINE__, c, type, uid, room)
#define login_lists(c, uid, fresh) login_lists_at(__FILE__, __LINE__, (c), (uid), (fresh), NULL)
#define fresh_lists(ctx, w, port, out, users)                                                      \
	fresh_lists_at(__FILE__, __LINE__, ctx, w, port, out, users)
#define room_new(adm, type, pos, id, name) room_new_at(__FILE__, __LINE__, adm, type, pos, id, name)
#define join(w, room) join_at(__FILE__, __LINE__, w, room)
#endif
