#include "directory.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "lists.h"
#include "log.h"
#include "proc.h"
#include "rebuttal.pb-c.h"
#include "subthread.h"

#define LOAD_TIMEOUT_MS 2000
#define LOAD_RETRY_MS 1000

typedef struct {
	char *id, *name, *avatar;
	int hidden;
} entry;

/* An account event that arrived before the load, kept to replay after it. */
typedef struct early_event {
	struct early_event *next;
	int remove;
	Rb__UserEvent *ev;
} early_event;

struct directory {
	room_app *app;
	pthread_mutex_t lock; /* guards everything below */
	entry *v;
	size_t n, cap;
	int loaded;
	early_event *early, **early_tail;
	subthread run; /* account events and the loader */
};

/* What each account event does to the directory. */
static const struct {
	const char *subject;
	int remove;
} auth_events[] = {
	{"rb.evt.auth.user_created", 0},
	{"rb.evt.auth.user_updated", 0},
	{"rb.evt.auth.user_removed", 1},
};

static void entry_clear(entry *e)
{
	free(e->id);
	free(e->name);
	free(e->avatar);
	memset(e, 0, sizeof *e);
}

static entry *entry_find(directory *d, const char *id)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].id, id))
			return &d->v[i];
	return NULL;
}

/* Lock held. A new account goes last. Returns 0, or -1 out of memory. */
static int entry_put(directory *d, const char *id, const char *name, const char *avatar,
		     int has_hidden, int hidden)
{
	entry *e = entry_find(d, id);
	char *nm = strdup(name ? name : (e && e->name ? e->name : ""));
	char *av = avatar && *avatar ? strdup(avatar) : NULL;

	if (!nm || (avatar && *avatar && !av))
		goto fail;
	if (!e) {
		entry *v = grow_for(d->v, &d->cap, d->n, sizeof *v);
		if (!v)
			goto fail;
		d->v = v;
		e = &d->v[d->n];
		memset(e, 0, sizeof *e);
		if (!(e->id = strdup(id)))
			goto fail;
		d->n++;
	}
	free(e->name);
	free(e->avatar);
	e->name = nm;
	e->avatar = av;
	if (has_hidden)
		e->hidden = hidden;
	return 0;
fail:
	free(nm);
	free(av);
	log_error("directory: out of memory");
	return -1;
}

/* Lock held. Keeps the order of the others. */
static void entry_remove(directory *d, const char *id)
{
	entry *e = entry_find(d, id);
	if (!e)
		return;
	size_t i = (size_t)(e - d->v);
	entry_clear(e);
	memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof *d->v);
	d->n--;
}

/* Lock held. */
static void apply(directory *d, int remove, const Rb__UserEvent *ev)
{
	if (remove)
		entry_remove(d, ev->id);
	else
		(void)entry_put(d, ev->id, ev->name, ev->avatar, ev->has_hidden, ev->hidden);
}

/* cnats thread (the account events' subscription). */
static void on_auth_event(void *ud, const bus_msg *m)
{
	directory *d = ud;
	size_t row = 0, nrows = sizeof auth_events / sizeof *auth_events;
	Rb__UserEvent *ev;

	while (row < nrows && strcmp(auth_events[row].subject, m->subject))
		row++;
	if (row == nrows)
		return; /* perms_changed and others: nothing listed changes */
	ev = rb__user_event__unpack(NULL, m->len, m->data);
	if (!ev || !ev->id || !uuid_valid(ev->id)) {
		log_warn("directory: dropping malformed %s", m->subject);
		if (ev)
			rb__user_event__free_unpacked(ev, NULL);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (!d->loaded) {
		early_event *e = calloc(1, sizeof *e);
		if (e) {
			e->remove = auth_events[row].remove;
			e->ev = ev;
			*d->early_tail = e;
			d->early_tail = &e->next;
			ev = NULL;
		}
	} else {
		apply(d, auth_events[row].remove, ev);
	}
	pthread_mutex_unlock(&d->lock);
	if (ev)
		rb__user_event__free_unpacked(ev, NULL);
	lists_dirty(d->app->lists, LISTS_BOTH);
}

/* Loader thread. Takes the reply's accounts, then the early events. */
static void load(directory *d, const Rb__Reply *r)
{
	size_t skipped = 0;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < r->n_users; i++) {
		const Rb__User *u = r->users[i];
		if (!u->id || !uuid_valid(u->id) ||
		    entry_put(d, u->id, u->name, u->avatar, u->has_hidden, u->hidden) < 0)
			skipped++;
	}
	while (d->early) {
		early_event *e = d->early;
		d->early = e->next;
		apply(d, e->remove, e->ev);
		rb__user_event__free_unpacked(e->ev, NULL);
		free(e);
	}
	d->early_tail = &d->early;
	d->loaded = 1;
	log_info("directory: %zu accounts loaded (%zu malformed skipped)", d->n, skipped);
	pthread_mutex_unlock(&d->lock);
	lists_dirty(d->app->lists, LISTS_BOTH);
}

/* Loader thread: one list_users request. 0 when loaded. */
static int load_once(directory *d)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__ListUsers lu = RB__LIST_USERS__INIT;
	char rid[UUID_STR_LEN + 1];
	uint8_t packed[128];
	void *out = NULL;
	size_t out_len = 0;

	uuid_new(rid);
	env.request_id = rid;
	env.payload_case = RB__ENVELOPE__PAYLOAD_LIST_USERS;
	env.list_users = &lu;
	size_t len = protobuf_c_message_get_packed_size(&env.base);
	if (len > sizeof packed)
		return -1;
	protobuf_c_message_pack(&env.base, packed);
	if (bus_request_sync(d->app->bus, "rb.auth.list_users", packed, len, LOAD_TIMEOUT_MS, &out,
			     &out_len) < 0)
		return -1;
	Rb__Reply *r = rb__reply__unpack(NULL, out_len, out);
	free(out);
	if (!r || (r->has_code && r->code != RB__CODE__OK)) {
		log_warn("directory: list_users refused: %s",
			 r && r->message ? r->message : "undecodable reply");
		if (r)
			rb__reply__free_unpacked(r, NULL);
		return -1;
	}
	load(d, r);
	rb__reply__free_unpacked(r, NULL);
	return 0;
}

/* Loader thread: authsvc may start after us; ask until it answers. */
static void *loader_main(void *arg)
{
	directory *d = arg;
	int tries = 0, wait = 100;
	/* Lists wait for the directory, so ask often at first (authsvc usually
	 * comes up within a second of us), then every LOAD_RETRY_MS. */
	while (!subthread_stopping(&d->run) && load_once(d) < 0) {
		if (++tries == 1)
			log_warn("directory: authsvc does not answer yet; asking again");
		for (int slept = 0; slept < wait && !subthread_stopping(&d->run); slept += 50)
			proc_sleep_ms(50);
		wait = wait * 2 > LOAD_RETRY_MS ? LOAD_RETRY_MS : wait * 2;
	}
	return NULL;
}

directory *dir_start(room_app *app)
{
	directory *d = calloc(1, sizeof *d);
	if (!d || pthread_mutex_init(&d->lock, NULL) != 0) {
		free(d);
		return NULL;
	}
	d->app = app;
	d->early_tail = &d->early;
	/* Subscribed before the loader asks, so no change falls between the two. */
	if (subthread_start(&d->run, app->bus, "rb.evt.auth.>", NULL, on_auth_event, loader_main, d,
			    "directory") < 0)
		return NULL; /* d stays allocated: a callback may still run */
	return d;
}

void dir_stop(directory *d)
{
	if (d)
		subthread_stop(&d->run);
}

void dir_free(directory *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		entry_clear(&d->v[i]);
	free(d->v);
	while (d->early) {
		early_event *e = d->early;
		d->early = e->next;
		rb__user_event__free_unpacked(e->ev, NULL);
		free(e);
	}
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int dir_snapshot(directory *d, arena *a, dir_user **out, size_t *n)
{
	pthread_mutex_lock(&d->lock);
	int loaded = d->loaded;
	*n = loaded ? d->n : 0;
	*out = *n ? arena_alloc(a, *n * sizeof **out) : NULL;
	for (size_t i = 0; i < *n; i++) {
		(*out)[i].id = arena_strdup(a, d->v[i].id);
		(*out)[i].name = arena_strdup(a, d->v[i].name);
		(*out)[i].avatar = arena_strdup(a, d->v[i].avatar);
		(*out)[i].hidden = d->v[i].hidden;
	}
	pthread_mutex_unlock(&d->lock);
	return loaded;
}
