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
#include "part.h"
#include "media.h"
#include "proc.h"
#include "relay.h"
#include "state.h"
#include "svc.h"
#include "talk.h"

#define ABOUT "mediasvc: WebRTC relay, live/talking/device state and server mute of Rebuttal."
#define PING_EVERY_MS 1000
#define STOP_WAIT_MS 10000

static const cfg_field settings[] = {
	PART_CFG_NATS(media_config),
	PART_CFG_REDIS(media_config, "Redis host (shared with roomsvc)"),
	PART_CFG_HEALTH(media_config, 9104),
	CFG_I("REBUTTAL_TALKING_BURST", media_config, talking_burst, 20, 1, 100000,
	      "talking broadcasts a user may send at once before shaping starts"),
	CFG_I("REBUTTAL_TALKING_RATE", media_config, talking_rate, 50, 0, 100000,
	      "talking broadcasts per user per second once the burst is spent (0: no shaping)"),
	CFG_I("REBUTTAL_THREADS", media_config, threads, 0, 0, 256,
	      "handler threads, each with its own Redis connection; 0: one per online CPU"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

typedef struct {
	media_app app;
	atomic_int serving; /* svc started; read by the health thread */
} mediasvc;

/* Health thread. A real PING: readiness must not lag behind Redis. */
static int ready(void *ud)
{
	mediasvc *m = ud;
	return atomic_load(&m->serving) && bus_connected(m->app.bus) &&
	       kv_ping(m->app.st) == KV_OK;
}

/* Health thread. */
static void metrics(void *ud, buf *out)
{
	mediasvc *m = ud;
	buf_addf(out, "# TYPE mediasvc_redis_up gauge\nmediasvc_redis_up %d\n",
		 kv_up(m->app.st));
	handlers_metrics(out);
	relay_metrics(out);
	state_metrics(out);
	if (m->app.talk)
		talk_metrics(m->app.talk, out);
}

/* Handler thread i's state: the shared one with a Redis connection of its
 * own. */
PART_WORKERS_KV(media_app, st)

/* Main thread until SIGTERM/SIGINT: a ping now and then finds a Redis that
 * went away (and reconnects) before a request has to. */
static void run(mediasvc *m)
{
	int64_t next_ping = bus_now_ms() + PING_EVERY_MS;
	while (!proc_stopping()) {
		proc_sleep_ms(100);
		if (bus_now_ms() >= next_ping) {
			(void)kv_ping(m->app.st); /* kv_up reflects the outcome */
			next_ping = bus_now_ms() + PING_EVERY_MS;
		}
	}
}

/* Stops taking requests and events and lets those in flight finish, so
 * that nothing uses the talking timer or the store after this. */
static void quiesce(mediasvc *m, svc *s, events *ev)
{
	atomic_store(&m->serving, 0);
	svc_drain(s, STOP_WAIT_MS); /* out of the queue group; held requests finish */
	atomic_store(&m->app.closing, 1);
	events_stop(ev);
	for (int waited = 0; atomic_load(&m->app.busy) && waited < STOP_WAIT_MS; waited += 10)
		proc_sleep_ms(10);
	/* A callback may still be between its last use of busy and its return. */
	proc_sleep_ms(100);
}

/* Everything after the settings: store, bus, timer, subscriptions, probes,
 * then serving until asked to stop. 0 on a clean stop. */
static int serve(mediasvc *m, const media_config *cfg)
{
	media_app *app = &m->app;
	events *ev = NULL;
	health *h = NULL;
	svc *s = NULL;
	size_t n;

	app->st = kv_open(&cfg->redis);
	app->bus = bus_open(&cfg->nats, "mediasvc", BUS_SEND_ASAP);
	if (app->st && app->bus)
		app->talk = talk_start(app);
	if (app->talk)
		ev = events_start(app);
	if (ev)
		h = health_start(cfg->health_addr, (int)cfg->health_port, ready, metrics, m);
	if (h) {
		svc_route *routes = handlers_routes(&n);
		svc_opts o = {.name = "media", .routes = routes, .nroutes = n, .app = app,
			      .closing = &app->closing, .busy = &app->busy,
			      .threads = (int)cfg->threads, .worker_app = worker_app,
			      .worker_free = worker_free};
		s = svc_start(app->bus, &o);
	}
	if (s) {
		atomic_store(&m->serving, 1);
		run(m);
	}
	log_info("stopping");
	quiesce(m, s, ev);
	talk_stop(app->talk); /* after the last request and event: nothing schedules */
	health_stop(h);
	bus_close(app->bus);
	int rc = s ? 0 : 1;
	if (nats_CloseAndWait(2000) != NATS_OK)
		log_warn("nats: threads did not stop in time");
	kv_close(app->st);
	return rc;
}

int main(int argc, char **argv)
{
	static mediasvc m;
	static media_config cfg;

	int help = cfg_args(argc, argv, ABOUT, settings, NSETTINGS);

	if (help >= 0)
		return help;
	if (proc_init("mediasvc") < 0)
		return 1;
	if (cfg_load(settings, NSETTINGS, &cfg) < 0)
		return 1;
	cfg_print(settings, NSETTINGS, &cfg);
	m.app.cfg = &cfg;
	return serve(&m, &cfg);
}
