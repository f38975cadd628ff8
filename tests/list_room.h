/* Integration tests of roomsvc (tests/integ_room.c). */
#define ROOM_TESTS(X)
