/* Integration tests of roomsvc (tests/integ_room.c). */
#define ROOM_TESTS(X)                      \
	X(room_login_lists)                \
	X(room_create)                     \
	X(room_update)                     \
	X(room_remove)                     \
	X(room_plain_user_denied)          \
	X(room_bad_fields)                 \
	X(room_join_refused)               \
	X(room_join_lists)                 \
	X(room_move_order)                 \
	X(room_leave)                      \
	X(room_two_conns)                  \
	X(room_two_gateways)               \
	X(room_gateway_kill9)              \
	X(room_roomsvc_restart)            \
	X(room_redis_restart)                \
	X(room_resync_after_outage)              \
	X(room_login_200)
