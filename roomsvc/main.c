#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
/* roomsvc: room catalogue, voice membership, presence, the user and room
 * lists. Wiring only; see README.md. */
#include <nats/nats.h>
#include <stdlib.h>

#include "accounts.h"
#include "config.h"
#include "directory.h"
#include "health.h"
#include "lists.h"
#include "log.h"
#include "part.h"
#include "presence.h"
#include "proc.h"
#include "rooms.h"
#include "roomsvc.h"

#define ABOUT "roomsvc: rooms, voice membership, presence and the user and room lists of Rebuttal."

#define C room_config
static const cfg_field settings[] = {
	PART_CFG_SERVICE(
		C, 9102,
		"handler threads, each with its own Redis connection; 0: one per online CPU"),
	PART_CFG_REDIS(C, "Redis host"),
	CFG_I("REBUTTAL_COALESCE_MS", C, coalesce_ms, 30, 0, 60000,
	      "least time between two publishes of a list"),
	CFG_I("REBUTTAL_LIST_BUDGET", C, list_budget, 5000000, 1000, 100000000000,
	      "bytes per second of updateUsers fan-out (list size x users online) to aim at: bigger lists go out less often"),
	CFG_I("REBUTTAL_SWEEP_MS", C, sweep_ms, 500, 50, 60000,
	      "period of the check for gateways whose lease ran out"),
};
#undef C
#define NSETTINGS (sizeof settings / sizeof *settings)

/* Health thread. */
static int ready(void *ud)
{
	room_app *app = ud;
	return part_serving() && bus_connected(app->bus) &&
	       kv_cmdf(app->store, NULL, "PING") == KV_OK;
}

/* Health thread. */
static void metrics(void *ud, buf *out)
{
	room_app *app = ud;
	rooms_metrics(out);
	if (!atomic_load(&app->started))
		return;
	lists_metrics(app->lists, out);
	presence_metrics(app->presence, out);
	dir_metrics(app->dir, out, "roomsvc");
}

/* Handler thread i's state: the shared one with a Redis connection of its
 * own (the lock of a shared one would make the threads take turns). */
PART_WORKERS_KV(room_app, store)

/* The emit lock (writers first) and the store. */
static int open_all(void *ud)
{
	room_app *app = ud;
	static pthread_rwlock_t emit;
	pthread_rwlockattr_t attr;

	uuid_new(app->instance);
	if (pthread_rwlockattr_init(&attr) != 0)
		return -1;
	int rc = pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (rc == 0)
		rc = pthread_rwlock_init(&emit, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0)
		return -1;
	app->emit = &emit;
	app->store = kv_open(&app->cfg->redis);
	return app->store ? 0 : -1;
}

/* The lists' state first (everything marks them dirty), their flusher
 * after the directory it reads, the request subscription last (handlers
 * use everything). */
static svc *start(void *ud)
{
	room_app *app = ud;
	size_t nroutes;
	svc_route *routes = rooms_routes(&nroutes);

	if (rooms_bootstrap(app) < 0 || !(app->lists = lists_new(app)) ||
	    !(app->accounts = accounts_start(app)) || lists_start(app->lists) < 0 ||
	    !(app->presence = presence_start(app)))
		return NULL;
	svc_opts o = {.name = ROOM_QUEUE,
		      .routes = routes,
		      .nroutes = nroutes,
		      .app = app,
		      .threads = (int)app->cfg->part.threads,
		      .worker_app = worker_app,
		      .worker_free = worker_free};
	svc *s = svc_start(app->bus, &o);
	if (s) {
		atomic_store(&app->started, 1);
		log_info("roomsvc %s running", app->instance);
	}
	return s;
}

static void quiesce(void *ud)
{
	room_app *app = ud;
	presence_stop(app->presence);
	accounts_stop(app->accounts);
	lists_stop(app->lists); /* a last flush of what is dirty */
	/* Callbacks already running finish before the connection goes. */
	if (app->bus)
		(void)bus_flush(app->bus, 1000);
}

static void release(void *ud)
{
	room_app *app = ud;
	presence_free(app->presence);
	accounts_free(app->accounts);
	lists_free(app->lists);
	kv_close(app->store);
	if (app->emit)
		pthread_rwlock_destroy(app->emit);
}

static room_config cfg;
static room_app app = {.cfg = &cfg};
/* clang-format off */
static const part_service service = {
	.name = "roomsvc", .about = ABOUT, .settings = settings, .nsettings = NSETTINGS,
	.cfg = &cfg, .part = &cfg.part, .ready = ready, .metrics = metrics,
	.open = open_all, .bus = &app.bus, .start = start,
	.tick_ms = 200, .quiesce = quiesce, .release = release};
/* clang-format on */

PART_MAIN(&service, &app)
