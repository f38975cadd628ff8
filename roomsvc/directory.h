/* The directory of accounts (id, name, avatar, hidden) that updateUsers
 * lists. Every instance keeps its own copy: loaded from authsvc
 * (rb.auth.list_users) by a background thread that asks every second until
 * authsvc answers, and kept current from rb.evt.auth.user_created |
 * user_updated | user_removed (subscribed without a queue group). Events
 * that arrive before the load are replayed on top of it in order, so the
 * copy ends at the latest state whichever came first. Any change marks
 * both lists dirty. */
#ifndef ROOM_DIRECTORY_H
#define ROOM_DIRECTORY_H

#include <stddef.h>

#include "arena.h"
#include "roomsvc.h"

typedef struct {
	const char *id;
	const char *name;
	const char *avatar; /* NULL unless the deployment turned Gravatar on */
	int hidden;
} dir_user;

/* Subscribes and starts the loader. NULL (logged) on failure.
 * dir_stop ends the loader and unsubscribes; dir_free frees, once no
 * callback can run any more (after nats_CloseAndWait). */
directory *dir_start(room_app *app);
void dir_stop(directory *d);
void dir_free(directory *d);

/* Copies the accounts, in the order authsvc listed them (new ones last),
 * into a (the copies live as long as the arena). Returns 1 once the
 * directory is loaded, 0 before (then *n is 0). Any thread. */
int dir_snapshot(directory *d, arena *a, dir_user **out, size_t *n);

#endif
