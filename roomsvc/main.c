#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
/* roomsvc: room catalogue, voice membership, presence, the user and room
 * lists. Wiring only; see README.md. */
#include <nats/nats.h>
#include <stdlib.h>

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

#define C room_config
static const cfg_field settings[] = {
	PART_CFG_NATS(C),
	PART_CFG_REDIS(C, "Redis host"),
	PART_CFG_HEALTH(C, 9102),
	CFG_I("REBUTTAL_COALESCE_MS", C, coalesce_ms, 30, 0, 60000, "least time between two publishes of a list"),
	CFG_I("REBUTTAL_LIST_BUDGET", C, list_budget, 5000000, 1000, 100000000000, "bytes per second of updateUsers fan-out (list size x users online) to aim at: bigger lists go out less often"),
	CFG_I("REBUTTAL_SWEEP_MS", C, sweep_ms, 500, 50, 60000, "period of the check for gateways whose lease ran out"),
	CFG_I("REBUTTAL_THREADS", C, threads, 0, 0, 256, "handler threads, each with its own Redis connection; 0: one per online CPU"),
};
#undef C
#define NSETTINGS (sizeof settings / sizeof *settings)

/* How long a stop waits for the requests this instance holds. */
#define STOP_WAIT_MS 10000

/* Health thread. */
static int ready(void *ud)
{
	room_app *app = ud;
	return !atomic_load(&app->stopping) && bus_connected(app->bus) && kv_cmdf(app->store, NULL, "PING") == KV_OK;
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
}

/* Handler thread i's state: the shared one with a Redis connection of its
 * own (the lock of a shared one would make the threads take turns). */
PART_WORKERS_KV(room_app, store)

/* The lists' state first (everything marks them dirty), their flusher
 * after the directory it reads, the request subscription last (handlers
 * use everything). */
static int start(room_app *app, svc **s)
{
	size_t nroutes;
	svc_route *routes = rooms_routes(&nroutes);

	if (rooms_bootstrap(app) < 0 || !(app->lists = lists_new(app)) ||
	    !(app->dir = dir_start(app)) || lists_start(app->lists) < 0 ||
	    !(app->presence = presence_start(app)))
		return -1;
	svc_opts o = {.name = ROOM_QUEUE, .routes = routes, .nroutes = nroutes, .app = app,
		      .threads = (int)app->cfg->threads, .worker_app = worker_app,
		      .worker_free = worker_free};
	*s = svc_start(app->bus, &o);
	return *s ? 0 : -1;
}

int main(void)
{
	static room_config cfg;
	static room_app app;
	svc *s = NULL;
	health *h = NULL;
	int rc = 1;

	if (proc_init("roomsvc") < 0 || cfg_load(settings, NSETTINGS, &cfg) < 0)
		return 1;
	cfg_print(settings, NSETTINGS, &cfg);
	app.cfg = &cfg;
	uuid_new(app.instance);
	static pthread_rwlock_t emit;
	pthread_rwlockattr_t attr;
	if (pthread_rwlockattr_init(&attr) != 0 ||
	    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) != 0 ||
	    pthread_rwlock_init(&emit, &attr) != 0)
		return 1;
	pthread_rwlockattr_destroy(&attr);
	app.emit = &emit;
	app.bus = bus_open(&cfg.nats, "roomsvc", BUS_SEND_ASAP);
	app.store = kv_open(&cfg.redis);
	if (!app.bus || !app.store)
		goto out;
	h = health_start(cfg.health_addr, (int)cfg.health_port, ready, metrics, &app);
	if (!h || start(&app, &s) < 0)
		goto out;
	atomic_store(&app.started, 1);
	log_info("roomsvc %s running", app.instance);
	while (!proc_stopping())
		proc_sleep_ms(200);
	rc = 0;
out:
	log_info("roomsvc stopping");
	atomic_store(&app.stopping, 1); /* /readyz: not ready */
	svc_drain(s, STOP_WAIT_MS);
	presence_stop(app.presence);
	dir_stop(app.dir);
	lists_stop(app.lists); /* a last flush of what is dirty */
	health_stop(h);
	/* Callbacks already running finish before the connection goes. */
	if (app.bus)
		(void)bus_flush(app.bus, 1000);
	bus_close(app.bus);
	nats_CloseAndWait(2000);
	presence_free(app.presence);
	dir_free(app.dir);
	lists_free(app.lists);
	kv_close(app.store);
	pthread_rwlock_destroy(app.emit);
	return rc;
}
