/* Events authsvc emits for the other services (DESIGN.md, "Events"). */
#ifndef AUTH_EVENT_H
#define AUTH_EVENT_H

#include "acct.h"
#include "auth.h"

/* Publishes rb.evt.auth.<what> (user_created, later user_updated and
 * user_removed) with u as a UserEvent. 0, or -1 (logged by the bus). Only
 * after the change is committed: an event must never announce a rollback. */
int event_user(auth_app *app, const char *what, const acct_user *u);

#endif
