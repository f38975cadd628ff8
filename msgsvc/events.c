#include "events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "history.h"
#include "log.h"
#include "outbox.h"
#include "proc.h"
#include "rooms.h"

/* A history change that found the database down is tried again this many
 * times, a second apart: the event will not come again. */
#define DOWN_TRIES 5
#define DOWN_WAIT_MS 1000

struct events;
typedef void (*event_fn)(struct events *ev, const bus_msg *m, const char *what);

typedef struct {
	struct events *ev;
	event_fn fn;
	bus_sub *sub;
} consumer;

static void on_account(struct events *ev, const bus_msg *m, const char *what);
static void on_room_change(struct events *ev, const bus_msg *m, const char *what);
static void on_room_removed(struct events *ev, const bus_msg *m, const char *what);
static void on_user_removed(struct events *ev, const bus_msg *m, const char *what);

static const struct {
	const char *subject, *queue;
	event_fn fn;
} table[] = {
	{"rb.evt.auth.*", NULL, on_account},
	{"rb.evt.room.*", NULL, on_room_change},
	{"rb.evt.room.removed", "msg", on_room_removed},
	{"rb.evt.auth.user_removed", "msg", on_user_removed},
};
#define NSUBS (sizeof table / sizeof *table)

struct events {
	msg_app *app;
	pthread_mutex_t db_lock; /* the queue-group consumers share db */
	pg *db;
	consumer consumers[NSUBS];
	atomic_ulong rooms_deleted, users_masked, failures;
};

/* cnats thread of one subscription: the subject's last token says what
 * happened (rb.evt.<svc>.<what>). */
static void on_event(void *ud, const bus_msg *m)
{
	consumer *c = ud;
	const char *dot = strrchr(m->subject, '.');
	c->fn(c->ev, m, dot ? dot + 1 : m->subject);
}

/* Directory upkeep; perms_changed and other auth events are not ours. */
static void on_account(struct events *ev, const bus_msg *m, const char *what)
{
	static const char *const ours[] = {"user_created", "user_updated", "user_removed"};
	for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) {
		if (strcmp(what, ours[i]))
			continue;
		Rb__UserEvent *ue = rb__user_event__unpack(NULL, m->len, m->data);
		if (!ue) {
			log_warn("events: undecodable %s", m->subject);
			return;
		}
		dir_event(ev->app->dir, !strcmp(what, "user_removed"), ue);
		rb__user_event__free_unpacked(ue, NULL);
		return;
	}
}

/* The room's id from a RoomEvent, lowercase; 0 or -1 (logged). */
static int room_id_of(const bus_msg *m, char id[UUID_STR_LEN + 1])
{
	Rb__RoomEvent *re = rb__room_event__unpack(NULL, m->len, m->data);
	int rc = re && re->room ? msg_uuid_lower(re->room->id, id) : -1;
	if (rc < 0)
		log_warn("events: %s without a room id", m->subject);
	if (re)
		rb__room_event__free_unpacked(re, NULL);
	return rc;
}

/* Cache upkeep. member_joined/left carry another message type: skipped
 * by name before anything is decoded. */
static void on_room_change(struct events *ev, const bus_msg *m, const char *what)
{
	char id[UUID_STR_LEN + 1];
	if (strcmp(what, "created") && strcmp(what, "updated") && strcmp(what, "removed"))
		return;
	if (room_id_of(m, id) == 0)
		rooms_forget(ev->app->rooms, id);
}

/* Runs step in a transaction, again while the database is down. */
static pg_status with_retries(struct events *ev, pg_status (*step)(struct events *, void *),
			      void *arg)
{
	pg_status s = PG_DOWN;
	for (int t = 0; t < DOWN_TRIES && !proc_stopping(); t++) {
		if (t)
			proc_sleep_ms(DOWN_WAIT_MS);
		s = pg_begin(ev->db);
		if (s == PG_OK)
			s = step(ev, arg);
		if (s == PG_OK)
			s = pg_commit(ev->db);
		else
			pg_rollback(ev->db);
		if (s != PG_DOWN)
			break;
	}
	if (s != PG_OK)
		atomic_fetch_add(&ev->failures, 1);
	return s;
}

static pg_status delete_room(struct events *ev, void *id)
{
	return hist_room_delete(ev->db, id);
}

static void on_room_removed(struct events *ev, const bus_msg *m, const char *what)
{
	char id[UUID_STR_LEN + 1];
	(void)what;
	if (room_id_of(m, id) < 0)
		return;
	pthread_mutex_lock(&ev->db_lock);
	pg_status s = ev->db ? with_retries(ev, delete_room, id) : PG_DOWN;
	pthread_mutex_unlock(&ev->db_lock);
	if (s == PG_OK) {
		atomic_fetch_add(&ev->rooms_deleted, 1);
		log_info("events: room %s removed: its history and uploads are deleted", id);
	} else {
		log_error("events: room %s removed, but its history could not be deleted (%s)", id,
			  pg_status_text(s));
	}
}

/* What masking one user wrote: outbox rows to publish after commit. */
typedef struct {
	const char *user_id;
	arena a;
	int64_t *ids;
	size_t n;
} masking;

static pg_status mask_user(struct events *ev, void *arg)
{
	masking *mk = arg;
	long S = ev->app->cfg->segment_size;
	hist_seg *segs;
	size_t n;

	mk->n = 0; /* a retry starts over */
	pg_status s = hist_mask_user(ev->db, &mk->a, mk->user_id, S, &segs, &n);
	if (s == PG_OK)
		mk->ids = arena_alloc(&mk->a, (n ? n : 1) * sizeof *mk->ids);
	for (size_t i = 0; s == PG_OK && i < n; i++)
		s = outbox_add(ev->db, OUTBOX_TEXT, segs[i].room_id, segs[i].segment * S,
			       &mk->ids[mk->n++]);
	return s;
}

static void on_user_removed(struct events *ev, const bus_msg *m, const char *what)
{
	Rb__UserEvent *ue = rb__user_event__unpack(NULL, m->len, m->data);
	masking mk = {0};
	(void)what;

	if (!ue || !uuid_valid(ue->id) || !ue->withvengence) {
		if (!ue)
			log_warn("events: undecodable %s", m->subject);
		if (ue)
			rb__user_event__free_unpacked(ue, NULL);
		return;
	}
	char id[UUID_STR_LEN + 1];
	(void)msg_uuid_lower(ue->id, id);
	mk.user_id = id;
	pthread_mutex_lock(&ev->db_lock);
	pg_status s = ev->db ? with_retries(ev, mask_user, &mk) : PG_DOWN;
	for (size_t i = 0; s == PG_OK && i < mk.n; i++)
		(void)outbox_send(ev->app->outbox, ev->db, mk.ids[i]); /* else the drainer does */
	pthread_mutex_unlock(&ev->db_lock);
	if (s == PG_OK) {
		atomic_fetch_add(&ev->users_masked, 1);
		log_info("events: user %s removed with vengeance: %zu segment(s) masked", id, mk.n);
	} else {
		log_error("events: user %s removed with vengeance, but masking failed (%s)", id,
			  pg_status_text(s));
	}
	arena_free(&mk.a);
	rb__user_event__free_unpacked(ue, NULL);
}

events *events_start(msg_app *app, const char *conninfo)
{
	events *ev = calloc(1, sizeof *ev);
	if (!ev)
		return NULL;
	ev->app = app;
	pthread_mutex_init(&ev->db_lock, NULL);
	if (!(ev->db = pg_open(conninfo, "events"))) {
		free(ev);
		return NULL;
	}
	for (size_t i = 0; i < NSUBS; i++) {
		consumer *c = &ev->consumers[i];
		c->ev = ev;
		c->fn = table[i].fn;
		c->sub = bus_subscribe(app->bus, table[i].subject, table[i].queue, on_event, c);
		if (!c->sub) {
			/* ev stays allocated: the subscriptions made so far may
			 * still be in a callback. The process is about to exit. */
			events_stop(ev);
			return NULL;
		}
		log_info("events: consuming %s%s%s", table[i].subject,
			 table[i].queue ? " in queue group " : "",
			 table[i].queue ? table[i].queue : "");
	}
	return ev;
}

void events_stop(events *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < NSUBS; i++) {
		bus_sub_close(ev->consumers[i].sub);
		ev->consumers[i].sub = NULL;
	}
	/* bus_sub_close does not wait for a callback that is running: taking
	 * the lock waits out a history change in progress. */
	pthread_mutex_lock(&ev->db_lock);
	pg_close(ev->db);
	ev->db = NULL;
	pthread_mutex_unlock(&ev->db_lock);
}

void events_free(events *ev)
{
	if (!ev)
		return;
	pthread_mutex_destroy(&ev->db_lock);
	free(ev);
}

void events_metrics(events *ev, buf *out)
{
	buf_addf(out,
		 "# TYPE msgsvc_events_total counter\n"
		 "msgsvc_events_total{what=\"room_history_deleted\"} %lu\n"
		 "msgsvc_events_total{what=\"user_masked\"} %lu\n"
		 "msgsvc_events_total{what=\"failed\"} %lu\n",
		 atomic_load(&ev->rooms_deleted), atomic_load(&ev->users_masked),
		 atomic_load(&ev->failures));
}
