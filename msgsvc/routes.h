/* msgsvc's handlers: one X(type) per row of lib/packet.c whose part is
 * "msg"; the handler of each is h_<type>(svc_req *). Everything else about
 * a packet (permission, caller, rules, ordering key) is its row's.
 * svc_start and tests/unit_packets.c check that the two lists agree. */
#ifndef MSGSVC_ROUTES_H
#define MSGSVC_ROUTES_H

#define MSGSVC_ROUTES(X)                                                                           \
	X(message)                                                                                 \
	X(getmessages)                                                                             \
	X(updatemessage)                                                                           \
	X(removemessage)                                                                           \
	X(get_upload)

#endif
