/* msgsvc: messages, idx allocation, segments, edits and removals, image
 * uploads, served on rb.msg.<op> (queue group msg). This file only wires
 * the parts together; see README.md. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "directory.h"
#include "events.h"
#include "handlers.h"
#include "health.h"
#include "log.h"
#include "migrations.h"
#include "msg.h"
#include "outbox.h"
#include "proc.h"
#include "rooms.h"
#include "svc.h"

#define ABOUT "msgsvc: messages, history segments and image uploads of Rebuttal."
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
	CFG_S("REBUTTAL_NATS_URL", msg_config, nats_url, "nats://127.0.0.1:4222", "NATS server URL, or several separated by commas (a cluster)"),
	CFG_S("REBUTTAL_NATS_USER", msg_config, nats_user, "",
	      "NATS user (empty: connect without authentication)"),
	CFG_SECRET_FILE("REBUTTAL_NATS_PASSWORD_FILE", msg_config, nats_password,
			"file holding the NATS user's password"),
	CFG_S("REBUTTAL_PG", msg_config, pg,
	      "host=127.0.0.1 port=5432 dbname=rebuttal user=msgsvc gssencmode=disable",
	      "libpq connection string of the database holding schema msg"),
	CFG_SECRET_FILE("REBUTTAL_PG_PASSWORD_FILE", msg_config, pg_password,
			"file holding the password of the user in REBUTTAL_PG"),
	CFG_S("REBUTTAL_HEALTH_ADDR", msg_config, health_addr, "127.0.0.1",
	      "address of /healthz, /readyz and /metrics (0.0.0.0: every interface)"),
	CFG_I("REBUTTAL_HEALTH_PORT", msg_config, health_port, 9103, 1, 65535,
	      "port of /healthz, /readyz and /metrics"),
	CFG_I("REBUTTAL_SEGMENT_SIZE", msg_config, segment_size, 5, 1, 1000,
	      "messages per history segment (deployed clients expect 5)"),
	CFG_I("REBUTTAL_UPLOAD_MAX", msg_config, upload_max, 8388608, 0, 12582912,
	      "largest attached image in bytes, decoded"),
	CFG_I("REBUTTAL_IMAGE_MAX_PIXELS", msg_config, image_max_pixels, 50000000, 1, 1000000000000,
	      "largest attached image in pixels (width x height, from its header)"),
	CFG_I("REBUTTAL_IMAGE_MAX_SIDE", msg_config, image_max_side, 16384, 1, 2147483647,
	      "largest width or height of an attached image, in pixels"),
	CFG_I("REBUTTAL_OUTBOX_AGE_MS", msg_config, outbox_age_ms, 2000, 100, 600000,
	      "age after which any instance publishes a broadcast its writer left behind"),
	CFG_I("REBUTTAL_THREADS", msg_config, threads, 0, 0, 256,
	      "handler threads, each with its own Postgres connection; 0: one per online CPU"),
	CFG_B("REBUTTAL_TEST_HOOKS", msg_config, test_hooks, 0,
	      "tests only: a message waits after its commit on the advisory lock"
	      " 'msg.hook:after_commit' (one more round trip)"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

typedef struct {
	msg_app app;
	pg *maint;	    /* main thread's connection: start-up, pings, pruning */
	events *events;
	atomic_int serving; /* svc started; read by the health thread */
} msgsvc;

/* Health thread. */
static int ready(void *ud)
{
	msgsvc *m = ud;
	/* Not ready before the account directory is loaded: messages would be
	 * refused with "try again". */
	return atomic_load(&m->serving) && bus_connected(m->app.bus) && pg_up(m->maint) &&
	       dir_loaded(m->app.dir);
}

/* Health thread. */
static void metrics(void *ud, buf *out)
{
	msgsvc *m = ud;
	buf_addf(out, "# TYPE msgsvc_db_up gauge\nmsgsvc_db_up %d\n", pg_up(m->maint));
	handlers_metrics(out);
	rooms_metrics(m->app.rooms, out);
	dir_metrics(m->app.dir, out);
	outbox_metrics(m->app.outbox, out);
	if (atomic_load(&m->serving))
		events_metrics(m->events, out);
}

/* Schema and stale replies: retried (pg_retry) until they work, since the
 * database may come up after us. */
static pg_status prepare(void *ud)
{
	msgsvc *m = ud;
	pg_status s = migrate_run(m->maint);
	if (s == PG_OK)
		s = idem_prune(&msg_replies, m->maint);
	return s;
}

/* A handler's statement whose msgsvc died (kill -9) is given up within
 * this many ms when it is still at work or waiting for a lock, instead of
 * committing for nobody later: the retry then finds nothing half done
 * (it would be correct either way: it waits on the request id's lock).
 * Postgres polls the client's socket this often during a statement. */
#define CLIENT_CHECK "-c client_connection_check_interval=1000"

/* Handler thread i's state: the shared one with a connection of its own. */
static void *worker_app(void *ud, int i)
{
	const msg_app *shared = ud;
	char name[32];
	msg_app *w = malloc(sizeof *w);
	if (!w)
		return NULL;
	*w = *shared;
	snprintf(name, sizeof name, "requests-%d", i);
	if (!(w->db = pg_open_with(shared->cfg->pg, name, CLIENT_CHECK))) {
		free(w);
		return NULL;
	}
	return w;
}

static void worker_free(void *ud)
{
	msg_app *w = ud;
	pg_close(w->db);
	free(w);
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
			(void)pg_ping(m->maint); /* pg_up reflects the outcome */
			t.ping = now + PING_EVERY_MS;
		}
		if (now >= t.dir) {
			int ok = dir_refresh(m->app.dir, DIR_TIMEOUT_MS) == 0;
			t.dir = bus_now_ms() + (ok ? DIR_REFRESH_MS : DIR_RETRY_MS);
		}
		if (now >= t.prune) {
			/* Failures are logged; next hour then. */
			(void)idem_prune(&msg_replies, m->maint);
			t.prune = now + PRUNE_EVERY_MS;
		}
	}
}

/* Everything that needs no server. 0 or -1 (logged). */
static int app_init(msgsvc *m, msg_config *cfg)
{
	if (cfg_load(settings, NSETTINGS, cfg) < 0)
		return -1;
	cfg_print(settings, NSETTINGS, cfg);
	m->app.cfg = cfg;
	bus_addr nats = {cfg->nats_url, cfg->nats_user, cfg->nats_password};
	m->app.bus = bus_open(&nats, "msgsvc", BUS_BATCH);
	pg_password_set(cfg->pg_password);
	m->maint = pg_open(cfg->pg, "main");
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

	if (pg_retry(prepare, m, START_RETRY_MS) < 0)
		return NULL;
	if (!(m->events = events_start(&m->app, cfg->pg)))
		return NULL;
	if (outbox_start(m->app.outbox, cfg->pg) < 0)
		return NULL;
	svc_opts o = {.name = "msg", .app = &m->app, .closing = &m->app.closing,
		      .busy = &m->app.busy, .threads = (int)cfg->threads,
		      .worker_app = worker_app, .worker_free = worker_free};
	o.routes = handlers_routes(&o.nroutes);
	return svc_start(m->app.bus, &o);
}

int main(int argc, char **argv)
{
	static msgsvc m;
	static msg_config cfg;
	health *h = NULL;
	svc *s = NULL;
	int rc = 1, help = cfg_args(argc, argv, ABOUT, settings, NSETTINGS);

	if (help >= 0)
		return help;
	if (proc_init("msgsvc") < 0)
		return 1;
	if (app_init(&m, &cfg) == 0)
		h = health_start(cfg.health_addr, (int)cfg.health_port, ready, metrics, &m);
	if (h && (s = start(&m))) {
		atomic_store(&m.serving, 1);
		run(&m);
		/* Lets the request in flight finish: new ones are refused. */
		atomic_store(&m.serving, 0);
		svc_drain(s, STOP_WAIT_MS);
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
	pg_close(m.maint);
	return rc;
}
