#include "lists.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "directory.h"
#include "log.h"
#include "proc.h"
#include "rebuttal.pb-c.h"
#include "svc.h"

/* After a failed composition (Redis down), try again this much later. */
#define RETRY_MS 250

struct lists {
	room_app *app;
	pthread_mutex_t lock; /* guards dirty, stop, last_rooms, last_users, retry_at */
	pthread_cond_t cond;  /* signalled on dirty and stop; CLOCK_MONOTONIC */
	int dirty;            /* LISTS_* not yet published */
	int stop;
	int64_t last_rooms, last_users, retry_at;
	/* Least time before the next list of a kind: its last size times the
	 * users online (about the connections it goes to) over the budget.
	 * Flusher thread only; online is as of the last updateUsers. */
	int64_t users_gap_ms;
	size_t online;
	pthread_t thread;
	int running;
	bus_sub *media_sub;
	/* for /metrics */
	atomic_ulong published[2]; /* [0] updateUsers, [1] updateRooms */
	atomic_ulong marks, failures, compose_ms, users_gap, users_bytes;
	histo compose_users, compose_rooms; /* per flush, by the lists it made */
};

/* One account (or a member the directory does not know yet) as listed. */
typedef struct {
	const char *id;
	size_t order; /* position in the directory: members are listed in it */
	int wanted;   /* shown in a list being composed: its state is read */
	Rb__User *u;
} person;

/* One composition: everything lives in the arena. */
typedef struct {
	arena a;
	uint64_t version, media_version;
	Rb__Room **rooms;
	const char ***members; /* per room, NULL-terminated user ids */
	size_t nrooms;
	person *people;          /* directory order, then unknown members */
	person **index;          /* the same, sorted by id */
	size_t npeople, nlisted; /* the first nlisted are the directory */
	int dir_loaded;
} compose;

/* -------------------------------------------------------------- reading */

/* Round 1: the versions first (see lists.h), then the catalogue order. One
 * MGET reads both versions at the same instant, so that lists from several
 * instances are ordered alike by either. */
static kv_status read_order(kv *st, compose *c)
{
	redisReply *r[2];
	kv_status s = kv_begin(st);
	if (s != KV_OK)
		return s;
	kv_appendf(st, "MGET state:version mediasvc:version");
	kv_appendf(st, "ZRANGE rooms 0 -1 WITHSCORES");
	s = kv_collect(st, r, 2);
	kv_end(st);
	if (s != KV_OK)
		return s;
	c->version = (uint64_t)kv_reply_int(kv_reply_elem(r[0], 0), 0);
	c->media_version = (uint64_t)kv_reply_int(kv_reply_elem(r[0], 1), 0);
	c->nrooms = r[1]->type == REDIS_REPLY_ARRAY ? r[1]->elements / 2 : 0;
	c->rooms = arena_alloc(&c->a, (c->nrooms + 1) * sizeof *c->rooms);
	c->members = arena_alloc(&c->a, (c->nrooms + 1) * sizeof *c->members);
	for (size_t i = 0; i < c->nrooms; i++) {
		Rb__Room *room = arena_alloc(&c->a, sizeof *room);
		double pos = atof(kv_reply_str(kv_reply_elem(r[1], 2 * i + 1)) ?: "0");
		rb__room__init(room);
		room->id = arena_strdup(&c->a, kv_reply_str(kv_reply_elem(r[1], 2 * i)) ?: "");
		room->has_position = 1;
		room->position = pos > 2147483647.0    ? 2147483647
				 : pos < -2147483648.0 ? INT32_MIN
						       : (int32_t)pos;
		c->rooms[i] = room;
	}
	kv_replies_free(r, 2);
	return KV_OK;
}

/* Round 2: each room's name, type and members. A room whose hash is gone
 * (removed between the rounds) is dropped from this list. */
static kv_status read_rooms(kv *st, compose *c)
{
	size_t n = 2 * c->nrooms, kept = 0;
	redisReply **r = arena_alloc(&c->a, (n + 1) * sizeof *r);
	kv_status s = kv_begin(st);
	if (s != KV_OK)
		return s;
	for (size_t i = 0; i < c->nrooms; i++) {
		kv_appendf(st, "HMGET room:%s name type", c->rooms[i]->id);
		kv_appendf(st, "SMEMBERS room:%s:members", c->rooms[i]->id);
	}
	s = kv_collect(st, r, n);
	kv_end(st);
	if (s != KV_OK)
		return s;
	for (size_t i = 0; i < c->nrooms; i++) {
		const char *name = kv_reply_str(kv_reply_elem(r[2 * i], 0));
		const char *type = kv_reply_str(kv_reply_elem(r[2 * i], 1));
		redisReply *m = r[2 * i + 1];
		size_t nm = m->type == REDIS_REPLY_ARRAY ? m->elements : 0;
		if (!name || !type)
			continue;
		c->rooms[kept] = c->rooms[i];
		c->rooms[kept]->name = arena_strdup(&c->a, name);
		c->rooms[kept]->type = arena_strdup(&c->a, type);
		c->members[kept] = arena_alloc(&c->a, (nm + 1) * sizeof **c->members);
		for (size_t j = 0; j < nm; j++)
			c->members[kept][j] =
				arena_strdup(&c->a, kv_reply_str(m->element[j]) ?: "");
		kept++;
	}
	c->nrooms = kept;
	kv_replies_free(r, n);
	return KV_OK;
}

static int person_cmp(const void *a, const void *b)
{
	return strcmp((*(person *const *)a)->id, (*(person *const *)b)->id);
}

static person *person_find(const compose *c, size_t n, const char *id)
{
	person key = {id, 0, 0, NULL}, *kp = &key;
	person **p = bsearch(&kp, c->index, n, sizeof *c->index, person_cmp);
	return p ? *p : NULL;
}

static void person_add(compose *c, const char *id, const char *name, const char *avatar, int hidden)
{
	person *p = &c->people[c->npeople];
	Rb__User *u = arena_alloc(&c->a, sizeof *u);
	rb__user__init(u);
	u->id = (char *)id;
	u->name = (char *)name;
	u->avatar = (char *)avatar;
	u->has_hidden = 1;
	u->hidden = hidden;
	*p = (person){id, c->npeople, 0, u};
	c->index[c->npeople++] = p;
}

/* The directory's accounts (they make userList), then room members it
 * does not know (yet): they still show in their room, without a name.
 * Only the people the lists in `which` show are wanted: updateRooms alone
 * (a join or a leave) needs its members, not the whole directory. */
static void gather_people(lists *l, compose *c, int which)
{
	dir_user *du;
	size_t nd, cap;

	c->dir_loaded = dir_snapshot(l->app->dir, &c->a, &du, &nd);
	cap = nd;
	for (size_t i = 0; i < c->nrooms; i++)
		for (const char **m = c->members[i]; *m; m++)
			cap++;
	c->people = arena_alloc(&c->a, (cap + 1) * sizeof *c->people);
	c->index = arena_alloc(&c->a, (cap + 1) * sizeof *c->index);
	for (size_t i = 0; i < nd; i++) {
		person_add(c, du[i].id, du[i].name, du[i].avatar, du[i].hidden);
		c->people[i].wanted = (which & LISTS_USERS) != 0;
	}
	c->nlisted = nd;
	qsort(c->index, nd, sizeof *c->index, person_cmp);
	for (size_t i = 0; i < c->nrooms; i++) {
		for (const char **m = c->members[i]; *m; m++) {
			person *p = person_find(c, nd, *m);
			for (size_t j = nd; j < c->npeople && !p; j++)
				if (!strcmp(c->people[j].id, *m))
					p = &c->people[j];
			if (!p) {
				person_add(c, *m, "", NULL, 0);
				p = &c->people[c->npeople - 1];
			}
			p->wanted = 1;
		}
	}
	qsort(c->index, c->npeople, sizeof *c->index, person_cmp);
}

static int is_one(const redisReply *r)
{
	const char *s = kv_reply_str(r);
	return s && !strcmp(s, "1");
}

/* Round 3: the live state of each person wanted. */
static kv_status read_people(kv *st, compose *c)
{
	enum { PER = 4 };
	size_t n = 0;
	for (size_t i = 0; i < c->npeople; i++)
		n += c->people[i].wanted ? PER : 0;
	redisReply **r = arena_alloc(&c->a, (n + 1) * sizeof *r);
	kv_status s = kv_begin(st);
	if (s != KV_OK)
		return s;
	for (size_t i = 0; i < c->npeople; i++) {
		const char *id = c->people[i].id;
		if (!c->people[i].wanted)
			continue;
		kv_appendf(st, "HGET online %s", id);
		kv_appendf(st, "HGET user:%s:voice room", id);
		/* talking_sent: the value clients were sent in `talking`
		 * (mediasvc shapes floods; the stored value may be ahead). */
		kv_appendf(st, "HMGET media:%s talking_sent live label", id);
		kv_appendf(st, "EXISTS mute:%s", id);
	}
	s = kv_collect(st, r, n);
	kv_end(st);
	if (s != KV_OK)
		return s;
	for (size_t i = 0, k = 0; i < c->npeople; i++) {
		if (!c->people[i].wanted)
			continue;
		redisReply **p = &r[PER * k++];
		Rb__User *u = c->people[i].u;
		const char *room = kv_reply_str(p[1]);
		const char *label = kv_reply_str(kv_reply_elem(p[2], 2));
		u->has_status = u->has_suppress = u->has_talking = u->has_livestate = 1;
		u->status = kv_reply_int(p[0], 0) > 0;
		u->currentroom = room ? arena_strdup(&c->a, room) : NULL;
		u->talking = is_one(kv_reply_elem(p[2], 0));
		u->livestate = is_one(kv_reply_elem(p[2], 1));
		u->livelabel = arena_strdup(&c->a, u->livestate && label ? label : "");
		u->suppress = kv_reply_int(p[3], 0) == 1;
	}
	kv_replies_free(r, n);
	return KV_OK;
}

static int order_cmp(const void *a, const void *b)
{
	size_t x = (*(person *const *)a)->order, y = (*(person *const *)b)->order;
	return x < y ? -1 : x > y;
}

/* Voice rooms list their members' full user objects, in directory order;
 * text rooms have none. */
static void attach_members(compose *c)
{
	for (size_t i = 0; i < c->nrooms; i++) {
		Rb__Room *room = c->rooms[i];
		size_t n = 0, k = 0;
		if (strcmp(room->type, "voice"))
			continue;
		for (const char **m = c->members[i]; *m; m++)
			n++;
		person **ps = arena_alloc(&c->a, (n + 1) * sizeof *ps);
		for (const char **m = c->members[i]; *m; m++)
			if ((ps[k] = person_find(c, c->npeople, *m)))
				k++;
		qsort(ps, k, sizeof *ps, order_cmp);
		room->userlist = arena_alloc(&c->a, (k + 1) * sizeof *room->userlist);
		for (size_t j = 0; j < k; j++)
			room->userlist[j] = ps[j]->u;
		room->n_userlist = k;
	}
}

/* ------------------------------------------------------------ publishing */

/* How long the fan-out of a list of `bytes` takes at the budget. */
static int64_t gap_ms(const lists *l, size_t bytes)
{
	return (int64_t)((double)bytes * (double)l->online * 1000.0 /
			 (double)l->app->cfg->list_budget);
}

static int publish(lists *l, compose *c, int which)
{
	Rb__Delivery d = RB__DELIVERY__INIT;
	int failed = 0;

	d.has_version = 1;
	d.version = c->version;
	d.has_media_version = c->media_version != 0;
	d.media_version = c->media_version;
	if (which & LISTS_ROOMS) {
		Rb__SRooms sr = RB__SROOMS__INIT;
		sr.n_roomlist = c->nrooms;
		sr.roomlist = c->rooms;
		d.packet_case = RB__DELIVERY__PACKET_UPDATE_ROOMS;
		d.updaterooms = &sr;
		if (svc_deliver_all(l->app->bus, &d) < 0)
			failed |= LISTS_ROOMS;
		else
			atomic_fetch_add(&l->published[1], 1);
	}
	if (which & LISTS_USERS) {
		Rb__SUsers su = RB__SUSERS__INIT;
		Rb__User **users = arena_alloc(&c->a, (c->nlisted + 1) * sizeof *users);
		for (size_t i = 0; i < c->nlisted; i++)
			users[i] = c->people[i].u;
		su.n_userlist = c->nlisted;
		su.userlist = users;
		d.packet_case = RB__DELIVERY__PACKET_UPDATE_USERS;
		d.updateusers = &su;
		/* A list of every account goes to every connection: with 1,000
		 * accounts online that is ~180 MB of JSON per publish. Under a
		 * login storm, publishing as often as the small lists would make
		 * the gateways and clients do nothing else. */
		l->online = 0;
		for (size_t i = 0; i < c->nlisted; i++)
			l->online += c->people[i].u->status;
		size_t bytes = protobuf_c_message_get_packed_size(&d.base);
		atomic_store(&l->users_bytes, (unsigned long)bytes);
		l->users_gap_ms = gap_ms(l, bytes);
		atomic_store(&l->users_gap, (unsigned long)l->users_gap_ms);
		if (svc_deliver_all(l->app->bus, &d) < 0)
			failed |= LISTS_USERS;
		else
			atomic_fetch_add(&l->published[0], 1);
	}
	return failed;
}

/* Flusher thread: composes and publishes `which` under the emit lock.
 * Returns the lists that could not go out (to retry). updateUsers waits
 * for the directory: an empty userList would be a wrong state, not an old
 * one (the directory marks the lists dirty once it is loaded). */
static int flush(lists *l, int which)
{
	compose c = {ARENA_INIT, 0, 0, NULL, NULL, 0, NULL, NULL, 0, 0, 0};
	kv *st = l->app->store;
	int64_t t0 = bus_now_ms();
	int failed = which;

	struct timespec t0s;
	clock_gettime(CLOCK_MONOTONIC, &t0s);
	int asked = which;
	pthread_rwlock_wrlock(l->app->emit);
	if (read_order(st, &c) == KV_OK && read_rooms(st, &c) == KV_OK) {
		gather_people(l, &c, which);
		if (read_people(st, &c) == KV_OK) {
			attach_members(&c);
			/* Without the directory, users would go out nameless: hold both
			 * lists; loading it marks them dirty again. */
			if (!c.dir_loaded)
				which = 0;
			failed = publish(l, &c, which);
		}
	}
	pthread_rwlock_unlock(l->app->emit);
	arena_free(&c.a);
	atomic_fetch_add(&l->compose_ms, (unsigned long)(bus_now_ms() - t0));
	histo_observe_since(asked & LISTS_USERS ? &l->compose_users : &l->compose_rooms, &t0s);
	if (failed)
		atomic_fetch_add(&l->failures, 1);
	return failed;
}

/* ---------------------------------------------------------- the flusher */

static void wait_until(lists *l, int64_t due_ms)
{
	struct timespec ts = proc_deadline(CLOCK_MONOTONIC, due_ms - bus_now_ms());
	pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

/* Flusher thread: publishes each dirty list at most once per window;
 * what becomes dirty meanwhile waits for the next window, so a burst of
 * changes costs one list per window and the last state always goes out.
 * updateRooms' window is coalesce_ms (it is small, and joins and leaves
 * wait for it); updateUsers' grows with its cost (gap_ms), so a big server
 * slows its user lists down, not itself. */
static void *flusher_main(void *arg)
{
	lists *l = arg;
	int64_t coalesce = l->app->cfg->coalesce_ms;
	pthread_mutex_lock(&l->lock);
	for (;;) {
		if (!l->dirty) {
			if (l->stop)
				break;
			pthread_cond_wait(&l->cond, &l->lock);
			continue;
		}
		int64_t now = bus_now_ms(), due = INT64_MAX;
		int64_t due_rooms = l->last_rooms + coalesce;
		int64_t due_users =
			l->last_users + (l->users_gap_ms > coalesce ? l->users_gap_ms : coalesce);
		int which = 0;
		if (l->retry_at > due_rooms)
			due_rooms = l->retry_at;
		if (l->retry_at > due_users)
			due_users = l->retry_at;
		if (l->dirty & LISTS_ROOMS) {
			if (l->stop || now >= due_rooms)
				which |= LISTS_ROOMS;
			else
				due = due_rooms;
		}
		if (l->dirty & LISTS_USERS) {
			if (l->stop || now >= due_users)
				which |= LISTS_USERS;
			else if (due_users < due)
				due = due_users;
		}
		/* Both go together when both are (nearly) due, updateRooms
		 * first, as clients have always seen them; updateUsers never goes
		 * without the rooms that changed with it. */
		if ((which & LISTS_USERS) && (l->dirty & LISTS_ROOMS))
			which |= LISTS_ROOMS;
		if ((which & LISTS_ROOMS) && (l->dirty & LISTS_USERS) &&
		    due_users <= now + coalesce)
			which |= LISTS_USERS;
		if (!which) {
			wait_until(l, due);
			continue;
		}
		l->dirty &= ~which;
		pthread_mutex_unlock(&l->lock);
		int failed = flush(l, which);
		pthread_mutex_lock(&l->lock);
		now = bus_now_ms();
		if (which & LISTS_ROOMS)
			l->last_rooms = now;
		if (which & LISTS_USERS)
			l->last_users = now;
		l->dirty |= failed;
		l->retry_at = failed ? now + RETRY_MS : 0;
		if (l->stop)
			break; /* one last try only */
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

void lists_dirty(lists *l, int which)
{
	if (!l)
		return;
	atomic_fetch_add(&l->marks, 1);
	pthread_mutex_lock(&l->lock);
	l->dirty |= which;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* Which lists a media change calls for. `talking` and `servermute` go to
 * every client as packets of their own, so the lists need not be sent
 * again for them: the next list, composed for another reason, shows the
 * current values (and gateways send a broadcast again after a list that
 * was composed before it: DESIGN.md). A live stream is told to its room
 * only, so everyone else learns it from updateRooms, as PROTOCOL.md
 * requires. A leave is shown by roomsvc's own lists. An event without
 * `what` (an older mediasvc) gets both. */
static int lists_for(const char *what)
{
	static const struct {
		const char *what;
		int lists;
	} table[] = {
		{"talking", 0},
		{"mute", 0},
		{"left", 0},
		{"live", LISTS_ROOMS},
	};
	for (size_t i = 0; what && i < sizeof table / sizeof *table; i++)
		if (!strcmp(table[i].what, what))
			return table[i].lists;
	return LISTS_BOTH;
}

/* cnats thread (media events, queue group room). */
static void on_media_changed(void *ud, const bus_msg *m)
{
	Rb__MediaEvent *ev = rb__media_event__unpack(NULL, m->len, m->data);
	int which = lists_for(ev ? ev->what : NULL);
	if (ev)
		rb__media_event__free_unpacked(ev, NULL);
	if (which)
		lists_dirty(ud, which);
}

static int cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);
	if (rc == 0)
		rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

lists *lists_new(room_app *app)
{
	lists *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->app = app;
	l->dirty = LISTS_BOTH;
	if (pthread_mutex_init(&l->lock, NULL) != 0 || cond_init_monotonic(&l->cond) != 0) {
		free(l);
		return NULL;
	}
	return l;
}

int lists_start(lists *l)
{
	if (pthread_create(&l->thread, NULL, flusher_main, l) != 0) {
		log_error("lists: cannot start the flusher");
		return -1;
	}
	l->running = 1;
	l->media_sub =
		bus_subscribe(l->app->bus, "rb.evt.media.changed", ROOM_QUEUE, on_media_changed, l);
	return l->media_sub ? 0 : -1;
}

void lists_stop(lists *l)
{
	if (!l)
		return;
	bus_sub_close(l->media_sub);
	l->media_sub = NULL;
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (l->running)
		pthread_join(l->thread, NULL);
	l->running = 0;
}

void lists_free(lists *l)
{
	if (!l)
		return;
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void lists_metrics(lists *l, buf *out)
{
	buf_adds(out, "# TYPE roomsvc_lists_published_total counter\n");
	buf_addf(out, "roomsvc_lists_published_total{list=\"updateUsers\"} %lu\n",
		 atomic_load(&l->published[0]));
	buf_addf(out, "roomsvc_lists_published_total{list=\"updateRooms\"} %lu\n",
		 atomic_load(&l->published[1]));
	buf_adds(out, "# TYPE roomsvc_lists_dirty_marks_total counter\n");
	buf_addf(out, "roomsvc_lists_dirty_marks_total %lu\n", atomic_load(&l->marks));
	buf_adds(out, "# TYPE roomsvc_lists_failures_total counter\n");
	buf_addf(out, "roomsvc_lists_failures_total %lu\n", atomic_load(&l->failures));
	buf_adds(out, "# TYPE roomsvc_lists_compose_seconds_total counter\n");
	buf_addf(out, "roomsvc_lists_compose_seconds_total %.3f\n",
		 (double)atomic_load(&l->compose_ms) / 1e3);
	pthread_mutex_lock(&l->lock);
	int dirty = l->dirty;
	pthread_mutex_unlock(&l->lock);
	buf_adds(out, "# TYPE roomsvc_lists_pending gauge\n");
	buf_addf(out, "roomsvc_lists_pending{list=\"updateUsers\"} %d\n", !!(dirty & LISTS_USERS));
	buf_addf(out, "roomsvc_lists_pending{list=\"updateRooms\"} %d\n", !!(dirty & LISTS_ROOMS));
	histo_print_head(
		out, "roomsvc_lists_compose_duration_seconds",
		"one flush: read the state, compose and publish (list=updateUsers: with it)");
	histo_print(out, "roomsvc_lists_compose_duration_seconds", "list=\"updateUsers\"",
		    &l->compose_users);
	histo_print(out, "roomsvc_lists_compose_duration_seconds", "list=\"updateRooms\"",
		    &l->compose_rooms);
	buf_adds(out, "# TYPE roomsvc_lists_users_bytes gauge\n");
	buf_addf(out, "roomsvc_lists_users_bytes %lu\n", atomic_load(&l->users_bytes));
	buf_adds(out, "# TYPE roomsvc_lists_users_gap_seconds gauge\n");
	buf_addf(out, "roomsvc_lists_users_gap_seconds %.3f\n",
		 (double)atomic_load(&l->users_gap) / 1e3);
}
