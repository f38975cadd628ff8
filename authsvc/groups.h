/* Groups administered over the protocol: creategroup, updategroup,
 * removegroup (rows of ROUTES in handlers.c; each needs setGroupPerm, which
 * the dispatcher has checked). */
#ifndef AUTH_GROUPS_H
#define AUTH_GROUPS_H

#include "svc.h"

void h_creategroup(svc_req *r);
void h_updategroup(svc_req *r);
void h_removegroup(svc_req *r);

#endif
