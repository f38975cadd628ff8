/* msgsvc: messages, idx allocation, segments, edits and removals, image
 * uploads, served on rb.msg.<op> (queue group msg). This file only wires
 * the parts together; see README.md. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "directory.h"
#include "events.h"
#include "handlers.h"
#include "health.h"
#include "idem.h"
#include "log.h"
#include "migrations.h"
#include "msg.h"
#include "outbox.h"
#include "proc.h"
#include "rooms.h"
#include "svc.h"

#define PING_EVERY_MS 5000
#define PRUNE_EVERY_MS (3600 * 1000)
#define START_RETRY_MS 2000
#define STOP_WAIT_MS 10000
/* Directory: tries until authsvc first answers, then a full refresh now
 * and then (events may be lost while NATS is away). */
#define DIR_RETRY_MS 2000
#define DIR_REFRESH_MS (300 * 1000)
#define DIR_TIMEOUT_MS 2000
/* A question to roomsvc must leave room in the gateway's 2 s budget. */
#define ROOM_TIMEOUT_MS 1000

static const cfg_field settings[] = {
	CFG_S("REBUTTAL_NATS_URL", msg_config, nats_url, "nats://127.0.0.1:4222", "NATS server URL"),
	CFG_S("REBUTTAL_PG", msg_config, pg,
	      "host=127.0.0.1 port=5432 dbname=rebuttal user=rebuttal gssencmode=disable",
	      "libpq connection string of the database holding schema msg"),
	CFG_I("REBUTTAL_HEALTH_PORT", msg_config, health_port, 9103, 1, 65535,
	      "port of /healthz, /readyz and /metrics"),
	CFG_I("REBUTTAL_SEGMENT_SIZE", msg_config, segment_size, 5, 1, 1000,
	      "messages per history segment (deployed clients expect 5)"),
	CFG_I("REBUTTAL_UPLOAD_MAX", msg_config, upload_max, 8388608, 0, 12582912,
	      "largest attached image in bytes, decoded"),
	CFG_I("REBUTTAL_OUTBOX_AGE_MS", msg_config, outbox_age_ms, 2000, 100, 600000,
	      "age after which any instance publishes a broadcast its writer left behind"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

typedef struct {
	msg_app app;
	store *maint;	    /* main thread's connection: start-up, pings, pruning */
	events *events;
	atomic_int serving; /* svc started; read by the health thread */
} msgsvc;

/* Health thread. */
static int ready(void *ud)
{
	msgsvc *m = ud;
	return atomic_load(&m->serving) && bus_connected(m->app.bus) && store_up(m->maint);
}

/* Health thread. */
static void metrics(void *ud, buf *out)
{
	msgsvc *m = ud;
	buf_addf(out, "# TYPE msgsvc_db_up gauge\nmsgsvc_db_up %d\n", store_up(m->maint));
	handlers_metrics(out);
	rooms_metrics(m->app.rooms, out);
	dir_metrics(m->app.dir, out);
	outbox_metrics(m->app.outbox, out);
	if (atomic_load(&m->serving))
		events_metrics(m->events, out);
}

static void usage(void)
{
	printf("msgsvc: messages, history segments and image uploads of Rebuttal.\n"
	       "Settings (environment):\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *def = settings[i].def ? settings[i].def : "";
		printf("  %-26s %s%s%s%s\n", settings[i].env, settings[i].help, *def ? " (default: " : "",
		       def, *def ? ")" : "");
	}
}

/* Schema and stale replies: retried until they work (the database may
 * come up after us) or we are asked to stop. 0 when done. */
static int store_prepare(msgsvc *m)
{
	while (!proc_stopping()) {
		store_status s = migrate_run(m->maint);
		if (s == STORE_OK)
			s = idem_prune(m->maint);
		if (s == STORE_OK)
			return 0;
		log_warn("start: database not ready (%s); retrying in %d ms", store_status_text(s),
			 START_RETRY_MS);
		proc_sleep_ms(START_RETRY_MS);
	}
	return -1;
}

/* Timers of the main loop. */
typedef struct {
	int64_t ping, prune, dir;
	int was_connected;
} timers;

/* After a NATS outage events may be lost: forget cached rooms and ask
 * for the accounts again. */
static void on_bus_state(msgsvc *m, timers *t, int64_t now)
{
	int up = bus_connected(m->app.bus);
	if (up && !t->was_connected) {
		rooms_forget_all(m->app.rooms);
		t->dir = now;
	}
	t->was_connected = up;
}

/* Main thread until SIGTERM/SIGINT: readiness, directory, pruning. */
static void run(msgsvc *m)
{
	int64_t now = bus_now_ms();
	timers t = {now + PING_EVERY_MS, now + PRUNE_EVERY_MS, now, 1};

	while (!proc_stopping()) {
		proc_sleep_ms(200);
		now = bus_now_ms();
		on_bus_state(m, &t, now);
		if (now >= t.ping) {
			(void)store_ping(m->maint); /* store_up reflects the outcome */
			t.ping = now + PING_EVERY_MS;
		}
		if (now >= t.dir) {
			int ok = dir_refresh(m->app.dir, DIR_TIMEOUT_MS) == 0;
			t.dir = bus_now_ms() + (ok ? DIR_REFRESH_MS : DIR_RETRY_MS);
		}
		if (now >= t.prune) {
			(void)idem_prune(m->maint); /* failures are logged; next hour then */
			t.prune = now + PRUNE_EVERY_MS;
		}
	}
}

/* Lets the request in flight finish: new ones are refused from now on. */
static void drain(msgsvc *m, svc *s)
{
	atomic_store(&m->app.closing, 1);
	atomic_store(&m->serving, 0);
	for (int waited = 0; atomic_load(&m->app.busy) && waited < STOP_WAIT_MS; waited += 10)
		proc_sleep_ms(10);
	svc_stop(s);
	/* svc_stop does not wait for a callback that is still replying. */
	proc_sleep_ms(100);
}

/* Everything that needs no server. 0 or -1 (logged). */
static int app_init(msgsvc *m, msg_config *cfg)
{
	if (cfg_load(settings, NSETTINGS, cfg) < 0)
		return -1;
	cfg_print(settings, NSETTINGS, cfg);
	m->app.cfg = cfg;
	m->app.bus = bus_open(cfg->nats_url, "msgsvc", BUS_SEND_ASAP);
	m->maint = store_open(cfg->pg, "main");
	if (!m->app.bus || !m->maint)
		return -1;
	m->app.rooms = rooms_new(m->app.bus, ROOM_TIMEOUT_MS);
	m->app.dir = dir_new(m->app.bus);
	m->app.outbox = outbox_new(&m->app);
	return m->app.rooms && m->app.dir && m->app.outbox ? 0 : -1;
}

/* Connections and subscriptions, in the order that loses nothing: events
 * before the directory's first load, the drainer before requests. */
static svc *start(msgsvc *m)
{
	const msg_config *cfg = m->app.cfg;
	size_t n;

	if (store_prepare(m) < 0 || !(m->app.db = store_open(cfg->pg, "requests")))
		return NULL;
	if (!(m->events = events_start(&m->app, cfg->pg)))
		return NULL;
	if (outbox_start(m->app.outbox, cfg->pg) < 0)
		return NULL;
	const svc_route *routes = handlers_routes(&n);
	return svc_start(m->app.bus, "msg", routes, n, &m->app);
}

int main(int argc, char **argv)
{
	static msgsvc m;
	static msg_config cfg;
	health *h = NULL;
	svc *s = NULL;
	int rc = 1;

	if (argc > 1) {
		usage();
		return strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? 2 : 0;
	}
	if (proc_init("msgsvc") < 0)
		return 1;
	if (app_init(&m, &cfg) == 0)
		h = health_start((int)cfg.health_port, ready, metrics, &m);
	if (h && (s = start(&m))) {
		atomic_store(&m.serving, 1);
		run(&m);
		drain(&m, s);
		rc = 0;
	}
	log_info("stopping");
	outbox_stop(m.app.outbox);
	events_stop(m.events);
	health_stop(h);
	bus_close(m.app.bus);
	nats_CloseAndWait(2000);
	events_free(m.events);
	outbox_free(m.app.outbox);
	dir_free(m.app.dir);
	rooms_free(m.app.rooms);
	store_close(m.app.db);
	store_close(m.maint);
	return rc;
}
