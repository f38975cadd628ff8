#include "events.h"

#include <stdlib.h>

#include "log.h"
#include "rebuttal.pb-c.h"
#include "state.h"

struct events {
	bus_sub *left;
	bus_sub *removed;
};

/* cnats thread of the member_left subscription. */
static void on_member_left(void *ud, const bus_msg *m)
{
	media_app *app = ud;
	Rb__MemberEvent *ev = rb__member_event__unpack(NULL, m->len, m->data);
	if (!ev) {
		log_warn("events: undecodable %s", m->subject);
		return;
	}
	/* Shutdown waits for busy to drop before it stops the talking timer. */
	atomic_fetch_add(&app->busy, 1);
	if (ev->room_id && *ev->room_id && ev->user_id && *ev->user_id)
		state_leave(app, ev->room_id, ev->user_id);
	else
		log_warn("events: %s without room_id or user_id", m->subject);
	atomic_fetch_sub(&app->busy, 1);
	rb__member_event__free_unpacked(ev, NULL);
}

/* cnats thread of the user_removed subscription. */
static void on_user_removed(void *ud, const bus_msg *m)
{
	media_app *app = ud;
	Rb__UserEvent *ev = rb__user_event__unpack(NULL, m->len, m->data);
	if (!ev) {
		log_warn("events: undecodable %s", m->subject);
		return;
	}
	atomic_fetch_add(&app->busy, 1);
	if (ev->id && *ev->id)
		state_forget(app, ev->id);
	atomic_fetch_sub(&app->busy, 1);
	rb__user_event__free_unpacked(ev, NULL);
}

events *events_start(media_app *app)
{
	events *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->left = bus_subscribe(app->bus, "rb.evt.room.member_left", "media", on_member_left, app);
	e->removed =
		bus_subscribe(app->bus, "rb.evt.auth.user_removed", "media", on_user_removed, app);
	if (!e->left || !e->removed) {
		log_error("events: cannot subscribe");
		events_stop(e);
		return NULL;
	}
	return e;
}

void events_stop(events *e)
{
	if (!e)
		return;
	if (e->left)
		bus_sub_close(e->left);
	if (e->removed)
		bus_sub_close(e->removed);
	free(e);
}

int events_media_changed(media_app *app, const char *uid, const char *what)
{
	Rb__MediaEvent ev = RB__MEDIA_EVENT__INIT;
	ev.user_id = (char *)uid;
	ev.what = (char *)what;
	return bus_publish_pb(app->bus, "rb.evt.media.changed", &ev.base);
}
