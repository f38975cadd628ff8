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
#include "part.h"
#include "proc.h"
#include "rooms.h"
#include "svc.h"

#define ABOUT "msgsvc: messages, history segments and image uploads of Rebuttal."
#define PING_EVERY_MS 5000
#define PRUNE_EVERY_MS (3600 * 1000)
#define START_RETRY_MS 2000
/* Directory: tries until authsvc first answers, then a full refresh now
 * and then (events may be lost while NATS is away). */
#define DIR_RETRY_MS 2000
#define DIR_REFRESH_MS (300 * 1000)
#define DIR_TIMEOUT_MS 2000
/* A question to roomsvc must leave room in the gateway's 2 s budget. */
#define ROOM_TIMEOUT_MS 1000

static const cfg_field settings[] = {
	PART_CFG_SERVICE(
		msg_config, 9103,
		"handler threads, each with its own Postgres connection; 0: one per online CPU"),
	PART_CFG_PG(msg_config, "msgsvc", "msg"),
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
	CFG_B("REBUTTAL_TEST_HOOKS", msg_config, test_hooks, 0,
	      "tests only: a message waits after its commit on the advisory lock"
	      " 'msg.hook:after_commit' (one more round trip)"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

typedef struct {
	msg_app app;
	pg *maint; /* main thread's connection: start-up, pings, pruning */
	events *events;
	/* The main thread's timers, and whether NATS was up at the last tick. */
	int64_t next_ping, next_prune, next_dir;
	int was_connected;
} msgsvc;

/* Health thread. */
static int ready(void *ud)
{
	msgsvc *m = ud;
	/* Not ready before the account directory is loaded: messages would be
	 * refused with "try again". */
	return part_serving() && bus_connected(m->app.bus) && pg_up(m->maint) &&
	       dir_loaded(m->app.dir);
}

/* Health thread. */
static void metrics(void *ud, buf *out)
{
	msgsvc *m = ud;
	buf_addf(out, "# TYPE msgsvc_db_up gauge\nmsgsvc_db_up %d\n", pg_up(m->maint));
	handlers_metrics(out);
	rooms_metrics(m->app.rooms, out);
	dir_metrics(m->app.dir, out, "msgsvc");
	outbox_metrics(m->app.outbox, out);
	if (part_serving())
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
PART_WORKERS_PG(msg_app, db, CLIENT_CHECK)

/* After a NATS outage events may be lost: forget cached rooms and ask
 * for the accounts again. */
static void on_bus_state(msgsvc *m, int64_t now)
{
	int up = bus_connected(m->app.bus);
	if (up && !m->was_connected) {
		rooms_forget_all(m->app.rooms);
		m->next_dir = now;
	}
	m->was_connected = up;
}

/* Main thread, while serving: readiness, directory, pruning. */
static void tick(void *ud)
{
	msgsvc *m = ud;
	int64_t now = bus_now_ms();

	on_bus_state(m, now);
	if (now >= m->next_ping) {
		(void)pg_ping(m->maint); /* pg_up reflects the outcome */
		m->next_ping = now + PING_EVERY_MS;
	}
	if (now >= m->next_dir) {
		int ok = dir_refresh(m->app.dir, DIR_TIMEOUT_MS) == 0;
		m->next_dir = bus_now_ms() + (ok ? DIR_REFRESH_MS : DIR_RETRY_MS);
	}
	if (now >= m->next_prune) {
		/* Failures are logged; next hour then. */
		(void)idem_prune(&msg_replies, m->maint);
		m->next_prune = now + PRUNE_EVERY_MS;
	}
}

/* Everything that needs no server yet. 0 or -1 (logged). */
static int app_init(void *ud)
{
	msgsvc *m = ud;
	const msg_config *cfg = m->app.cfg;

	pg_password_set(cfg->pg_password);
	m->maint = pg_open(cfg->pg, "main");
	if (!m->maint)
		return -1;
	m->app.rooms = rooms_new(m->app.bus, ROOM_TIMEOUT_MS);
	m->app.dir = dir_new(m->app.bus, NULL, NULL);
	m->app.outbox = outbox_new(&m->app);
	return m->app.rooms && m->app.dir && m->app.outbox ? 0 : -1;
}

/* Connections and subscriptions, in the order that loses nothing: events
 * before the directory's first load, the drainer before requests. */
static svc *start(void *ud)
{
	msgsvc *m = ud;
	const msg_config *cfg = m->app.cfg;
	int64_t now = bus_now_ms();

	m->next_ping = now + PING_EVERY_MS;
	m->next_prune = now + PRUNE_EVERY_MS;
	m->next_dir = now;
	m->was_connected = 1;

	if (pg_retry(prepare, m, START_RETRY_MS) < 0)
		return NULL;
	if (!(m->events = events_start(&m->app, cfg->pg)))
		return NULL;
	if (outbox_start(m->app.outbox, cfg->pg) < 0)
		return NULL;
	svc_opts o = {.name = "msg",
		      .app = &m->app,
		      .closing = &m->app.closing,
		      .busy = &m->app.busy,
		      .threads = (int)cfg->part.threads,
		      .flags = SVC_IDEM | SVC_BARE_REFUSAL,
		      .worker_app = worker_app,
		      .worker_free = worker_free};
	o.routes = handlers_routes(&o.nroutes);
	return svc_start(m->app.bus, &o);
}

/* What the handlers and the loops left, once nothing runs. */
static void quiesce(void *ud)
{
	msgsvc *m = ud;
	outbox_stop(m->app.outbox);
	events_stop(m->events);
}

static void release(void *ud)
{
	msgsvc *m = ud;
	events_free(m->events);
	outbox_free(m->app.outbox);
	dir_free(m->app.dir);
	rooms_free(m->app.rooms);
	pg_close(m->maint);
}

static msg_config cfg;
static msgsvc m = {.app.cfg = &cfg};
/* clang-format off */
static const part_service service = {
	.name = "msgsvc", .about = ABOUT, .settings = settings, .nsettings = NSETTINGS,
	.cfg = &cfg, .part = &cfg.part, .ready = ready, .metrics = metrics,
	.open = app_init, .bus = &m.app.bus, .bus_flags = BUS_BATCH, .start = start,
	.tick = tick, .tick_ms = 200, .quiesce = quiesce, .release = release};
/* clang-format on */

PART_MAIN(&service, &m)
