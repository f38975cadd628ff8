#include "accounts.h"

#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "lists.h"
#include "log.h"
#include "proc.h"
#include "subthread.h"

#define LOAD_TIMEOUT_MS 2000
#define LOAD_RETRY_MS 1000

struct accounts {
	room_app *app;
	subthread run; /* account events and the loader */
};

/* What each account event does. */
static const struct {
	const char *subject;
	int removed;
} auth_events[] = {
	{"rb.evt.auth.user_created", 0},
	{"rb.evt.auth.user_updated", 0},
	{"rb.evt.auth.user_removed", 1},
};

static void changed(void *ud)
{
	room_app *app = ud;
	lists_dirty(app->lists, LISTS_BOTH);
}

/* cnats thread (the account events' subscription). */
static void on_auth_event(void *ud, const bus_msg *m)
{
	accounts *a = ud;
	size_t row = 0, nrows = sizeof auth_events / sizeof *auth_events;

	while (row < nrows && strcmp(auth_events[row].subject, m->subject))
		row++;
	if (row == nrows)
		return; /* perms_changed and others: nothing listed changes */
	Rb__UserEvent *ev = rb__user_event__unpack(NULL, m->len, m->data);
	if (!ev) {
		log_warn("directory: dropping malformed %s", m->subject);
		return;
	}
	dir_event(a->app->dir, auth_events[row].removed, ev);
	rb__user_event__free_unpacked(ev, NULL);
}

/* Loader thread: authsvc may start after us; ask until it answers. */
static void *loader_main(void *arg)
{
	accounts *a = arg;
	int tries = 0, wait = 100;
	/* Lists wait for the directory, so ask often at first (authsvc usually
	 * comes up within a second of us), then every LOAD_RETRY_MS. */
	while (!subthread_stopping(&a->run) && dir_refresh(a->app->dir, LOAD_TIMEOUT_MS) < 0) {
		if (++tries == 1)
			log_warn("directory: authsvc does not answer yet; asking again");
		for (int slept = 0; slept < wait && !subthread_stopping(&a->run); slept += 50)
			proc_sleep_ms(50);
		wait = wait * 2 > LOAD_RETRY_MS ? LOAD_RETRY_MS : wait * 2;
	}
	return NULL;
}

accounts *accounts_start(room_app *app)
{
	accounts *a = calloc(1, sizeof *a);
	if (!a || !(app->dir = dir_new(app->bus, changed, app))) {
		free(a);
		return NULL;
	}
	a->app = app;
	/* Subscribed before the loader asks, so no change falls between the two. */
	if (subthread_start(&a->run, app->bus, "rb.evt.auth.>", NULL, on_auth_event, loader_main, a,
			    "directory") < 0)
		return NULL; /* a stays allocated: a callback may still run */
	return a;
}

void accounts_stop(accounts *a)
{
	if (a)
		subthread_stop(&a->run);
}

void accounts_free(accounts *a)
{
	if (!a)
		return;
	dir_free(a->app->dir);
	a->app->dir = NULL;
	free(a);
}
