/* roomsvc's handlers: one X(type) per row of lib/packet.c whose part is
 * "room"; the handler of each is h_<type>(svc_req *). Everything else about
 * a packet (permission, caller, rules, ordering key) is its row's.
 * svc_start and tests/unit_packets.c check that the two lists agree. */
#ifndef ROOMSVC_ROUTES_H
#define ROOMSVC_ROUTES_H

#define ROOMSVC_ROUTES(X)                                                                          \
	X(joinroom)                                                                                \
	X(leaveroom)                                                                               \
	X(createroom)                                                                              \
	X(updateroom)                                                                              \
	X(removeroom)                                                                              \
	X(get_room)

#endif
