/* mediasvc: WebRTC signalling relay (video, letmesee), live/talking/device
 * state and server mute with their broadcasts, served on rb.media.<packet>.
 * This file only wires the parts together; see README.md. */
#include <nats/nats.h>
#include <stdlib.h>

#include "config.h"
#include "events.h"
#include "handlers.h"
#include "health.h"
#include "log.h"
#include "media.h"
#include "part.h"
#include "proc.h"
#include "relay.h"
#include "state.h"
#include "svc.h"
#include "talk.h"

#define ABOUT "mediasvc: WebRTC relay, live/talking/device state and server mute of Rebuttal."
#define PING_EVERY_MS 1000

static const cfg_field settings[] = {
	PART_CFG_SERVICE(
		media_config, 9104,
		"handler threads, each with its own Redis connection; 0: one per online CPU"),
	PART_CFG_REDIS(media_config, "Redis host (shared with roomsvc)"),
	CFG_I("REBUTTAL_TALKING_BURST", media_config, talking_burst, 20, 1, 100000,
	      "talking broadcasts a user may send at once before shaping starts"),
	CFG_I("REBUTTAL_TALKING_RATE", media_config, talking_rate, 50, 0, 100000,
	      "talking broadcasts per user per second once the burst is spent (0: no shaping)"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

typedef struct {
	media_app app;
	events *events;
	int64_t next_ping; /* main thread's */
} mediasvc;

/* Health thread. A real PING: readiness must not lag behind Redis. */
static int ready(void *ud)
{
	mediasvc *m = ud;
	return part_serving() && bus_connected(m->app.bus) && kv_ping(m->app.st) == KV_OK;
}

/* Health thread. */
static void metrics(void *ud, buf *out)
{
	mediasvc *m = ud;
	buf_addf(out, "# TYPE mediasvc_redis_up gauge\nmediasvc_redis_up %d\n", kv_up(m->app.st));
	handlers_metrics(out);
	relay_metrics(out);
	state_metrics(out);
	if (m->app.talk)
		talk_metrics(m->app.talk, out);
}

/* Handler thread i's state: the shared one with a Redis connection of its
 * own. */
PART_WORKERS_KV(media_app, st)

/* Main thread, while serving: a ping now and then finds a Redis that went
 * away (and reconnects) before a request has to. */
static void tick(void *ud)
{
	mediasvc *m = ud;
	if (bus_now_ms() >= m->next_ping) {
		(void)kv_ping(m->app.st); /* kv_up reflects the outcome */
		m->next_ping = bus_now_ms() + PING_EVERY_MS;
	}
}

/* The store, the talking timer and the event subscriptions. */
static int open_all(void *ud)
{
	mediasvc *m = ud;
	media_app *app = &m->app;

	app->st = kv_open(&app->cfg->redis);
	if (app->st)
		app->talk = talk_start(app);
	if (app->talk)
		m->events = events_start(app);
	return m->events ? 0 : -1;
}

static svc *start(void *ud)
{
	mediasvc *m = ud;
	media_app *app = &m->app;
	size_t n;
	svc_route *routes = handlers_routes(&n);
	svc_opts o = {.name = "media",
		      .routes = routes,
		      .nroutes = n,
		      .app = app,
		      .closing = &app->closing,
		      .busy = &app->busy,
		      .flags = SVC_LOG_REFUSALS,
		      .threads = (int)app->cfg->part.threads,
		      .worker_app = worker_app,
		      .worker_free = worker_free};

	m->next_ping = bus_now_ms() + PING_EVERY_MS;
	return svc_start(app->bus, &o);
}

/* After the drain: stops taking events and lets those in flight finish,
 * so that nothing uses the talking timer or the store after this; then
 * the timer. */
static void quiesce(void *ud)
{
	mediasvc *m = ud;

	atomic_store(&m->app.closing, 1);
	events_stop(m->events);
	for (int waited = 0; atomic_load(&m->app.busy) && waited < PART_STOP_WAIT_MS; waited += 10)
		proc_sleep_ms(10);
	/* A callback may still be between its last use of busy and its return. */
	proc_sleep_ms(100);
	talk_stop(m->app.talk); /* after the last request and event: nothing schedules */
}

static void release(void *ud)
{
	mediasvc *m = ud;
	kv_close(m->app.st);
}

static media_config cfg;
static mediasvc m = {.app.cfg = &cfg};
/* clang-format off */
static const part_service service = {
	.name = "mediasvc", .about = ABOUT, .settings = settings, .nsettings = NSETTINGS,
	.cfg = &cfg, .part = &cfg.part, .ready = ready, .metrics = metrics,
	.open = open_all, .bus = &m.app.bus, .start = start,
	.tick = tick, .tick_ms = 100, .quiesce = quiesce, .release = release};
/* clang-format on */

PART_MAIN(&service, &m)
