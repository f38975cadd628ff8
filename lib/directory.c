#include "directory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grow.h"
#include "idmap.h"
#include "log.h"
#include "proc.h"
#include "uuid.h"

typedef struct {
	char *name, *avatar;
	int hidden;
	int removed;  /* kept so that a late answer does not revive it */
	uint64_t seq; /* sequence number of the last change */
	char id[UUID_STR_LEN + 1];
} account;

struct dir {
	bus *bus;
	void (*changed)(void *ud);
	void *ud;
	/* id -> account (removed ones too; the map owns them); its lock
	 * guards every field below too. */
	idmap_locked accounts;
	pthread_cond_t refreshed; /* a refresh in flight ended */
	account **order;          /* the live accounts, in order */
	size_t n, cap;
	uint64_t seq; /* events applied so far */
	int loaded;
	/* A question to authsvc is out: others wait for its answer instead of
	 * asking too (threads that all meet unknown accounts at once, the
	 * timer). last_ok: how the latest one ended. */
	int refreshing, last_ok;
	int64_t last_refresh_ms;
	unsigned long refreshes, refresh_failures;
};

static void account_free(void *v)
{
	account *a = v;
	if (a) {
		free(a->name);
		free(a->avatar);
	}
	free(a);
}

dir *dir_new(bus *b, void (*changed)(void *ud), void *ud)
{
	dir *d = calloc(1, sizeof *d);
	if (!d || idmap_locked_init(&d->accounts, account_free) < 0) {
		free(d);
		return NULL;
	}
	d->bus = b;
	d->changed = changed;
	d->ud = ud;
	pthread_cond_init(&d->refreshed, NULL);
	return d;
}

void dir_free(dir *d)
{
	if (!d)
		return;
	free(d->order);
	pthread_cond_destroy(&d->refreshed);
	idmap_locked_destroy(&d->accounts);
	free(d);
}

/* Lock held: takes a out of the order (it stays in the map). */
static void unlist(dir *d, const account *a)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->order[i] == a) {
			memmove(&d->order[i], &d->order[i + 1], (d->n - i - 1) * sizeof *d->order);
			d->n--;
			return;
		}
	}
}

/* Lock held: a live account of id, made (and listed last) when needed.
 * NULL when out of memory. */
static account *live(dir *d, const char *id)
{
	account *a = idmap_get(d->accounts.map, id);
	if (a && !a->removed)
		return a;
	account **v = grow_for(d->order, &d->cap, d->n, sizeof *v);
	if (!v)
		return NULL;
	d->order = v;
	if (!a) {
		if (!(a = calloc(1, sizeof *a)))
			return NULL;
		snprintf(a->id, sizeof a->id, "%s", id);
		if (idmap_put(d->accounts.map, id, a) < 0)
			return NULL; /* freed by the map */
	}
	a->removed = 0;
	d->order[d->n++] = a;
	return a;
}

/* Lock held: the state of one account at seq. name NULL keeps the name
 * known; avatar NULL or "" is none; has_hidden 0 keeps hidden. 0, or -1
 * out of memory (logged: a later refresh brings it). */
static int put(dir *d, const char *id, const char *name, const char *avatar, int has_hidden,
	       int hidden, uint64_t seq)
{
	account *a = live(d, id);
	char *nm = name ? strdup(name) : NULL;
	char *av = avatar && *avatar ? strdup(avatar) : NULL;
	if (!a || (name && !nm) || (avatar && *avatar && !av)) {
		free(nm);
		free(av);
		log_error("directory: out of memory");
		return -1;
	}
	if (nm || !a->name) {
		free(a->name);
		a->name = nm ? nm : strdup("");
	}
	free(a->avatar);
	a->avatar = av;
	if (has_hidden)
		a->hidden = hidden;
	a->seq = seq;
	return 0;
}

/* Lock held. */
static void drop(dir *d, const char *id, uint64_t seq)
{
	account *a = idmap_get(d->accounts.map, id);
	if (!a) {
		if (!(a = calloc(1, sizeof *a)))
			return;
		snprintf(a->id, sizeof a->id, "%s", id);
		if (idmap_put(d->accounts.map, id, a) < 0)
			return;
	} else if (!a->removed) {
		unlist(d, a);
	}
	a->removed = 1;
	a->seq = seq;
}

void dir_event(dir *d, int removed, const Rb__UserEvent *ev)
{
	if (!ev->id || !uuid_valid(ev->id)) {
		log_warn("directory: ignoring an account event without a valid id");
		return;
	}
	pthread_mutex_lock(&d->accounts.lock);
	if (removed)
		drop(d, ev->id, ++d->seq);
	else
		(void)put(d, ev->id, ev->name, ev->avatar, ev->has_hidden, ev->hidden, ++d->seq);
	pthread_mutex_unlock(&d->accounts.lock);
	if (d->changed)
		d->changed(d->ud);
}

/* Asks rb.auth.list_users; the reply (caller frees) or NULL. */
static Rb__Reply *ask(dir *d, int timeout_ms)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__ListUsers lu = RB__LIST_USERS__INIT;
	char rid[UUID_STR_LEN + 1];
	uint8_t packed[128];
	void *data = NULL;
	size_t len;

	uuid_new(rid);
	env.request_id = rid;
	env.payload_case = RB__ENVELOPE__PAYLOAD_LIST_USERS;
	env.list_users = &lu;
	if (protobuf_c_message_get_packed_size(&env.base) > sizeof packed)
		return NULL; /* a fixed envelope: cannot be */
	len = protobuf_c_message_pack(&env.base, packed);
	if (bus_request_sync(d->bus, "rb.auth.list_users", packed, len, timeout_ms, &data, &len) <
	    0)
		return NULL;
	Rb__Reply *rep = rb__reply__unpack(NULL, len, data);
	free(data);
	if (!rep || (rep->has_code && rep->code != RB__CODE__OK)) {
		log_warn("directory: list_users refused: %s",
			 rep && rep->message ? rep->message : "undecodable reply");
		if (rep)
			rb__reply__free_unpacked(rep, NULL);
		return NULL;
	}
	return rep;
}

/* Lock held: waits up to timeout_ms for the refresh in flight to end; 0
 * when it succeeded. */
static int wait_refresh(dir *d, int timeout_ms)
{
	struct timespec until = proc_deadline(CLOCK_REALTIME, timeout_ms);
	while (d->refreshing)
		if (pthread_cond_timedwait(&d->refreshed, &d->accounts.lock, &until) != 0)
			return -1;
	return d->last_ok ? 0 : -1;
}

/* Lock held: merges the answer to a question asked at sequence start
 * (NULL: none came) and wakes the waiters. */
static void merge(dir *d, const Rb__Reply *rep, uint64_t start)
{
	size_t skipped = 0;
	d->refreshing = 0;
	d->last_ok = rep != NULL;
	pthread_cond_broadcast(&d->refreshed);
	if (!rep) {
		d->refresh_failures++;
		return;
	}
	for (size_t i = 0; i < rep->n_users; i++) {
		const Rb__User *u = rep->users[i];
		if (!u->id || !uuid_valid(u->id)) {
			skipped++;
			continue;
		}
		const account *a = idmap_get(d->accounts.map, u->id);
		/* An event newer than the question knows better than the answer. */
		if (!a || a->seq <= start)
			(void)put(d, u->id, u->name, u->avatar, u->has_hidden, u->hidden, start);
	}
	if (!d->loaded)
		log_info("directory: %zu accounts loaded (%zu malformed skipped)", d->n, skipped);
	d->loaded = 1;
	d->refreshes++;
}

int dir_refresh(dir *d, int timeout_ms)
{
	pthread_mutex_lock(&d->accounts.lock);
	if (d->refreshing) {
		int rc = wait_refresh(d, timeout_ms);
		pthread_mutex_unlock(&d->accounts.lock);
		return rc;
	}
	d->refreshing = 1;
	uint64_t start = d->seq;
	d->last_refresh_ms = bus_now_ms();
	pthread_mutex_unlock(&d->accounts.lock);

	Rb__Reply *rep = ask(d, timeout_ms);
	pthread_mutex_lock(&d->accounts.lock);
	merge(d, rep, start);
	pthread_mutex_unlock(&d->accounts.lock);
	if (!rep)
		return -1;
	rb__reply__free_unpacked(rep, NULL);
	if (d->changed)
		d->changed(d->ud);
	return 0;
}

int dir_refresh_soon(dir *d, int timeout_ms, int min_gap_ms)
{
	pthread_mutex_lock(&d->accounts.lock);
	int due = !d->loaded || d->refreshing || bus_now_ms() - d->last_refresh_ms >= min_gap_ms;
	pthread_mutex_unlock(&d->accounts.lock);
	return due ? dir_refresh(d, timeout_ms) : -1;
}

int dir_loaded(dir *d)
{
	pthread_mutex_lock(&d->accounts.lock);
	int loaded = d->loaded;
	pthread_mutex_unlock(&d->accounts.lock);
	return loaded;
}

char *dir_name(dir *d, const char *user_id, arena *a)
{
	pthread_mutex_lock(&d->accounts.lock);
	const account *p = idmap_get(d->accounts.map, user_id);
	char *name = p && !p->removed ? arena_strdup(a, p->name) : NULL;
	pthread_mutex_unlock(&d->accounts.lock);
	return name;
}

int dir_snapshot(dir *d, arena *a, dir_user **out, size_t *n)
{
	pthread_mutex_lock(&d->accounts.lock);
	int loaded = d->loaded;
	*n = loaded ? d->n : 0;
	*out = *n ? arena_alloc(a, *n * sizeof **out) : NULL;
	for (size_t i = 0; i < *n; i++) {
		const account *p = d->order[i];
		(*out)[i] = (dir_user){arena_strdup(a, p->id), arena_strdup(a, p->name),
				       arena_strdup(a, p->avatar), p->hidden};
	}
	pthread_mutex_unlock(&d->accounts.lock);
	return loaded;
}

void dir_metrics(dir *d, buf *out, const char *part)
{
	pthread_mutex_lock(&d->accounts.lock);
	buf_addf(out,
		 "# TYPE %s_directory_accounts gauge\n%s_directory_accounts %zu\n"
		 "# TYPE %s_directory_loaded gauge\n%s_directory_loaded %d\n"
		 "# TYPE %s_directory_refreshes_total counter\n"
		 "%s_directory_refreshes_total{result=\"ok\"} %lu\n"
		 "%s_directory_refreshes_total{result=\"failed\"} %lu\n",
		 part, part, d->n, part, part, d->loaded, part, part, d->refreshes, part,
		 d->refresh_failures);
	pthread_mutex_unlock(&d->accounts.lock);
}
