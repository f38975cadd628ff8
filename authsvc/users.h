/* Accounts administered over the protocol: createuser, updateuser,
 * removeuser, setusergroup (rows of ROUTES in handlers.c). The gateway has
 * checked field types and the static permissions already; these check the
 * values again (not every caller is a gateway) and the data-dependent rule
 * of updateuser. */
#ifndef AUTH_USERS_H
#define AUTH_USERS_H

#include "svc.h"

/* Length of createuser's generated password (letters and digits: ~95 bits). */
#define USERS_PASSWORD_CHARS 16

void h_createuser(svc_req *r);
void h_updateuser(svc_req *r);
void h_removeuser(svc_req *r);
void h_setusergroup(svc_req *r);

#endif
