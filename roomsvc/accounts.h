/* What keeps roomsvc's copy of the accounts (lib/directory.h, app->dir,
 * which updateUsers lists) current: the account events (rb.evt.auth.>,
 * every instance) and a loader thread that asks authsvc until it answers
 * (it may start after us), subscribed first so that no change falls
 * between the two. Any change marks both lists dirty. */
#ifndef ROOM_ACCOUNTS_H
#define ROOM_ACCOUNTS_H

#include "roomsvc.h"

/* Makes app->dir, subscribes and starts the loader. NULL (logged) on
 * failure. accounts_stop ends the loader and unsubscribes; accounts_free
 * frees it and app->dir, once no callback can run any more (after
 * nats_CloseAndWait). */
accounts *accounts_start(room_app *app);
void accounts_stop(accounts *a);
void accounts_free(accounts *a);

#endif
