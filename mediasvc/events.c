#include "events.h"

#include <stdlib.h>

#include "log.h"
#include "rebuttal.pb-c.h"
#include "state.h"

/* What each consumed event does, once decoded and valid. */
typedef struct {
	const char *subject;
	const ProtobufCMessageDescriptor *type;
	void (*apply)(media_app *app, const ProtobufCMessage *ev, const char *subject);
} consumed;

static void member_left(media_app *app, const ProtobufCMessage *msg, const char *subject)
{
	const Rb__MemberEvent *ev = (const Rb__MemberEvent *)msg;
	if (ev->room_id && *ev->room_id && ev->user_id && *ev->user_id)
		state_leave(app, ev->room_id, ev->user_id);
	else
		log_warn("events: %s without room_id or user_id", subject);
}

static void user_removed(media_app *app, const ProtobufCMessage *msg, const char *subject)
{
	const Rb__UserEvent *ev = (const Rb__UserEvent *)msg;
	(void)subject;
	if (ev->id && *ev->id)
		state_forget(app, ev->id);
}

static const consumed table[] = {
	{"rb.evt.room.member_left", &rb__member_event__descriptor, member_left},
	{"rb.evt.auth.user_removed", &rb__user_event__descriptor, user_removed},
};
#define NCONSUMED (sizeof table / sizeof *table)

/* One subscription: its row and the state it changes. */
typedef struct {
	const consumed *row;
	media_app *app;
	bus_sub *sub;
} subscription;

struct events {
	subscription subs[NCONSUMED];
};

/* cnats thread of one subscription. */
static void on_event(void *ud, const bus_msg *m)
{
	const subscription *s = ud;
	ProtobufCMessage *ev = protobuf_c_message_unpack(s->row->type, NULL, m->len, m->data);
	if (!ev) {
		log_warn("events: undecodable %s", m->subject);
		return;
	}
	/* Shutdown waits for busy to drop before it stops the talking timer. */
	atomic_fetch_add(&s->app->busy, 1);
	s->row->apply(s->app, ev, m->subject);
	atomic_fetch_sub(&s->app->busy, 1);
	protobuf_c_message_free_unpacked(ev, NULL);
}

events *events_start(media_app *app)
{
	events *e = calloc(1, sizeof *e);
	for (size_t i = 0; e && i < NCONSUMED; i++) {
		subscription *s = &e->subs[i];
		*s = (subscription){&table[i], app, NULL};
		s->sub = bus_subscribe(app->bus, table[i].subject, "media", on_event, s);
		if (!s->sub) {
			log_error("events: cannot subscribe to %s", table[i].subject);
			events_stop(e);
			return NULL;
		}
	}
	return e;
}

void events_stop(events *e)
{
	/* Each callback's ud is in e: wait until none runs before freeing. */
	for (size_t i = 0; e && i < NCONSUMED; i++)
		bus_sub_close_wait(e->subs[i].sub);
	free(e);
}

int events_media_changed(media_app *app, const char *uid, const char *what)
{
	Rb__MediaEvent ev = RB__MEDIA_EVENT__INIT;
	ev.user_id = (char *)uid;
	ev.what = (char *)what;
	return bus_publish_pb(app->bus, "rb.evt.media.changed", &ev.base);
}
