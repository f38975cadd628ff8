/* mediasvc's handlers: one X(type) per row of lib/packet.c whose part is
 * "media"; the handler of each is h_<type>(svc_req *). Everything else about
 * a packet (permission, caller, rules, ordering key) is its row's.
 * svc_start and tests/unit_packets.c check that the two lists agree. */
#ifndef MEDIASVC_ROUTES_H
#define MEDIASVC_ROUTES_H

#define MEDIASVC_ROUTES(X)                                                                         \
	X(video)                                                                                   \
	X(letmesee)                                                                                \
	X(golive)                                                                                  \
	X(chatdev)                                                                                 \
	X(talking)                                                                                 \
	X(servermute)                                                                              \
	X(contextoption)                                                                           \
	X(windowinput)

#endif
