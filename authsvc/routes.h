/* authsvc's handlers: one X(type) per row of lib/packet.c whose part is
 * "auth"; the handler of each is h_<type>(svc_req *). Everything else about
 * a packet (permission, caller, rules, ordering key) is its row's.
 * svc_start and tests/unit_packets.c check that the two lists agree. */
#ifndef AUTHSVC_ROUTES_H
#define AUTHSVC_ROUTES_H

#define AUTHSVC_ROUTES(X)                                                                          \
	X(login)                                                                                   \
	X(signup)                                                                                  \
	X(invite)                                                                                  \
	X(createuser)                                                                              \
	X(updateuser)                                                                              \
	X(removeuser)                                                                              \
	X(setusergroup)                                                                            \
	X(creategroup)                                                                             \
	X(updategroup)                                                                             \
	X(removegroup)                                                                             \
	X(get_perms)                                                                               \
	X(list_users)                                                                              \
	X(admin_create_user)                                                                       \
	X(admin_set_password)                                                                      \
	X(admin_invite)

#endif
