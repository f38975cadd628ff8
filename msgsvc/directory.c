#include "directory.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idmap.h"
#include "log.h"
#include "proc.h"
#include "uuid.h"

typedef struct {
	char *name;   /* NULL: removed (kept so a late list does not revive it) */
	uint64_t seq; /* event sequence number of the last change */
} person;

struct dir {
	bus *bus;
	idmap_locked users;       /* its lock guards every field below too */
	pthread_cond_t refreshed; /* a refresh in flight ended */
	uint64_t seq; /* events applied so far */
	int loaded;
	/* A question to authsvc is out: others wait for its answer instead of
	 * asking too (handler threads that all meet unknown senders at once,
	 * the main thread's timer). last_ok: how the latest one ended. */
	int refreshing, last_ok;
	int64_t last_refresh_ms;
	unsigned long refreshes, refresh_failures;
};

static void person_free(void *v)
{
	person *p = v;
	if (p)
		free(p->name);
	free(p);
}

dir *dir_new(bus *b)
{
	dir *d = calloc(1, sizeof *d);
	if (!d || idmap_locked_init(&d->users, person_free) < 0) {
		free(d);
		return NULL;
	}
	d->bus = b;
	pthread_cond_init(&d->refreshed, NULL);
	return d;
}

void dir_free(dir *d)
{
	if (!d)
		return;
	pthread_cond_destroy(&d->refreshed);
	idmap_locked_destroy(&d->users);
	free(d);
}

char *dir_name(dir *d, const char *user_id, arena *a)
{
	pthread_mutex_lock(&d->users.lock);
	person *p = idmap_get(d->users.map, user_id);
	char *name = p ? arena_strdup(a, p->name) : NULL;
	pthread_mutex_unlock(&d->users.lock);
	return name;
}

/* Stores name (NULL: removed) for id; caller holds the lock. */
static void set_locked(dir *d, const char *id, const char *name, uint64_t seq)
{
	person *p = calloc(1, sizeof *p);
	if (!p || (name && !(p->name = strdup(name)))) {
		person_free(p);
		return;
	}
	p->seq = seq;
	(void)idmap_put(d->users.map, id, p); /* on failure the name is fetched again later */
}

void dir_event(dir *d, const char *what, const Rb__UserEvent *ev)
{
	int removed = !strcmp(what, "user_removed");

	if (!uuid_valid(ev->id) || (!removed && !ev->name)) {
		log_warn("directory: ignoring %s without id or name", what);
		return;
	}
	pthread_mutex_lock(&d->users.lock);
	set_locked(d, ev->id, removed ? NULL : ev->name, ++d->seq);
	pthread_mutex_unlock(&d->users.lock);
}

/* Asks rb.auth.list_users; the reply (caller frees) or NULL. */
static Rb__Reply *ask(dir *d, int timeout_ms)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__ListUsers lu = RB__LIST_USERS__INIT;
	uint8_t packed[64];
	void *data = NULL;
	size_t len;

	env.payload_case = RB__ENVELOPE__PAYLOAD_LIST_USERS;
	env.list_users = &lu;
	len = protobuf_c_message_pack(&env.base, packed);
	if (bus_request_sync(d->bus, "rb.auth.list_users", packed, len, timeout_ms, &data, &len) < 0)
		return NULL;
	Rb__Reply *rep = rb__reply__unpack(NULL, len, data);
	free(data);
	if (rep && rep->has_code && rep->code != RB__CODE__OK) {
		log_warn("directory: list_users answered code %d: %s", (int)rep->code,
			 rep->message ? rep->message : "");
		rb__reply__free_unpacked(rep, NULL);
		return NULL;
	}
	return rep;
}

/* Under the lock: waits up to timeout_ms for the refresh in flight to end;
 * 0 when it succeeded. */
static int wait_refresh(dir *d, int timeout_ms)
{
	struct timespec until = proc_deadline(CLOCK_REALTIME, timeout_ms);
	while (d->refreshing)
		if (pthread_cond_timedwait(&d->refreshed, &d->users.lock, &until) != 0)
			return -1;
	return d->last_ok ? 0 : -1;
}

/* Under the lock: merges the answer (NULL: none came) and wakes waiters. */
static void merge(dir *d, const Rb__Reply *rep, uint64_t start)
{
	d->refreshing = 0;
	d->last_ok = rep != NULL;
	pthread_cond_broadcast(&d->refreshed);
	if (!rep) {
		d->refresh_failures++;
		return;
	}
	for (size_t i = 0; i < rep->n_users; i++) {
		const Rb__User *u = rep->users[i];
		if (!uuid_valid(u->id) || !u->name)
			continue;
		person *p = idmap_get(d->users.map, u->id);
		/* An event newer than the question knows better than the list. */
		if (!p || p->seq <= start)
			set_locked(d, u->id, u->name, start);
	}
	if (!d->loaded)
		log_info("directory: %zu accounts loaded", rep->n_users);
	d->loaded = 1;
	d->refreshes++;
}

int dir_refresh(dir *d, int timeout_ms)
{
	pthread_mutex_lock(&d->users.lock);
	if (d->refreshing) {
		int rc = wait_refresh(d, timeout_ms);
		pthread_mutex_unlock(&d->users.lock);
		return rc;
	}
	d->refreshing = 1;
	uint64_t start = d->seq;
	d->last_refresh_ms = bus_now_ms();
	pthread_mutex_unlock(&d->users.lock);

	Rb__Reply *rep = ask(d, timeout_ms);
	pthread_mutex_lock(&d->users.lock);
	merge(d, rep, start);
	pthread_mutex_unlock(&d->users.lock);
	if (rep)
		rb__reply__free_unpacked(rep, NULL);
	return rep ? 0 : -1;
}

int dir_refresh_soon(dir *d, int timeout_ms, int min_gap_ms)
{
	pthread_mutex_lock(&d->users.lock);
	/* Until the first load succeeded, every sender is unknown: ask now
	 * rather than refuse a message from an account that exists. */
	int due = !d->loaded || d->refreshing || bus_now_ms() - d->last_refresh_ms >= min_gap_ms;
	pthread_mutex_unlock(&d->users.lock);
	return due ? dir_refresh(d, timeout_ms) : -1;
}

int dir_loaded(dir *d)
{
	pthread_mutex_lock(&d->users.lock);
	int loaded = d->loaded;
	pthread_mutex_unlock(&d->users.lock);
	return loaded;
}

void dir_metrics(dir *d, buf *out)
{
	pthread_mutex_lock(&d->users.lock);
	buf_addf(out,
		 "# TYPE msgsvc_directory_accounts gauge\nmsgsvc_directory_accounts %zu\n"
		 "# TYPE msgsvc_directory_loaded gauge\nmsgsvc_directory_loaded %d\n"
		 "# TYPE msgsvc_directory_refreshes_total counter\n"
		 "msgsvc_directory_refreshes_total{result=\"ok\"} %lu\n"
		 "msgsvc_directory_refreshes_total{result=\"failed\"} %lu\n",
		 idmap_size(d->users.map), d->loaded, d->refreshes, d->refresh_failures);
	pthread_mutex_unlock(&d->users.lock);
}
