/* Events authsvc emits for the other services (DESIGN.md, "Events"). Each
 * is published only after its change is committed: an event must never
 * announce a rollback. Each returns 0, or -1 (logged by the bus). */
#ifndef AUTH_EVENT_H
#define AUTH_EVENT_H

#include "acct.h"
#include "auth.h"

/* rb.evt.auth.<what> (user_created, user_updated) with u as a UserEvent. */
int event_user(auth_app *app, const char *what, const acct_user *u);
/* rb.evt.auth.user_removed with u as it was, and withvengence (msgsvc
 * masks the user's messages and deletes their uploads when set). */
int event_user_removed(auth_app *app, const acct_user *u, int withvengence);
/* rb.evt.auth.perms_changed: the permissions of group changed (user_id
 * NULL), or user_id was moved into group. */
int event_perms(auth_app *app, const char *group, const char *user_id);

#endif
