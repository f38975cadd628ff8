/* The gateway: WebSocket + HTTP edge. Wiring only. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "gw.h"
#include "item.h"
#include "log.h"
#include "part.h"
#include "proc.h"
#include "rebuttal.pb-c.h"

#define C gw_config
/* clang-format off */
static const cfg_field settings[] = {
	PART_CFG_NATS(C),
	CFG_I("REBUTTAL_PORT", C, port, 9000, 1, 65535, "WebSocket and HTTP port"),
	CFG_S("REBUTTAL_TLS_CERT", C, tls_cert, "", "PEM certificate: serve HTTPS/WSS when set with the key"),
	CFG_S("REBUTTAL_TLS_KEY", C, tls_key, "", "PEM private key for REBUTTAL_TLS_CERT"),
	CFG_S("REBUTTAL_WEBROOT", C, webroot, "", "folder of the web client served at / (gateway/README.md \"Static files\"); empty: 404"),
	CFG_S("REBUTTAL_SERVER_NAME", C, server_name, "Rebuttal", "server name / MOTD in `connect`"),
	CFG_S("REBUTTAL_ICON", C, icon, "", "icon URL in `connect`"),
	CFG_I("REBUTTAL_FRAME_MAX_V0", C, frame_max_v0, 65536, 1024, 1 << 30, "largest frame before login (bytes)"),
	CFG_I("REBUTTAL_FRAME_MAX_V1", C, frame_max_v1, 12582912, 1024, 1 << 30, "largest frame after login (bytes)"),
	CFG_I("REBUTTAL_OUTQ_MAX", C, outq_max_bytes, 8388608, 65536, 1 << 30, "bytes of packets queued to one client (lists not counted: at most one of each waits) before it is dropped as too slow"),
	CFG_I("REBUTTAL_REQUEST_TIMEOUT_MS", C, req_timeout_ms, 6000, 100, 600000, "deadline of a request to a service: then `error`"),
	CFG_I("REBUTTAL_REQUEST_ATTEMPT_MS", C, req_attempt_ms, 2000, 100, 600000, "a request nobody acknowledged for this long is sent again (same request id)"),
	CFG_I("REBUTTAL_LOGIN_DEADLINE_MS", C, login_deadline_ms, 60000, 100, 3600000, "how long a login or sign-up may wait (queued, then hashed) before `error`"),
	CFG_I("REBUTTAL_LOGIN_WINDOW", C, login_window, 16, 1, 100000, "password-hashing requests (login, signup) in flight to authsvc at once; more wait in order"),
	CFG_I("REBUTTAL_LOGIN_QUEUE_MAX", C, login_queue_max, 20000, 0, 10000000, "logins waiting for the window at most; beyond: `error`"),
	CFG_I("REBUTTAL_REQUEST_QUEUE_MAX", C, req_queue_max, 256, 1, 100000, "packets one connection may have waiting per service before it gets `error`"),
	CFG_I("REBUTTAL_HEARTBEAT_MS", C, heartbeat_ms, 2000, 100, 60000, "gateway heartbeat period"),
	CFG_I("REBUTTAL_LEASE_MS", C, lease_ms, 10000, 500, 600000, "lease announced in heartbeats"),
	CFG_S("REBUTTAL_TRUSTED_PROXY", C, trusted_proxy, "", "proxies whose X-Forwarded-For is believed: addresses and CIDR ranges (IPv4, IPv6), separated by commas or spaces"),
	CFG_I("REBUTTAL_ANON_TIMEOUT_MS", C, anon_timeout_ms, 120000, 100, 3600000, "a socket that sends no login or sign-up this long after opening (or after its last one's answer) is closed (1008); long enough for a person typing a password on a page that opened the socket first"),
	CFG_I("REBUTTAL_ANON_PER_ADDR", C, anon_per_addr, 32, 0, 10000000, "sockets not logged in from one client address at once; more are closed at once (1008); 0: no cap"),
	CFG_S("REBUTTAL_ANON_CAP_EXEMPT", C, anon_cap_exempt, "127.0.0.0/8, ::1", "client addresses the per-address cap does not apply to (addresses and CIDR ranges): by default loopback, where a local proxy or a load test puts every client on one address"),
	CFG_I("REBUTTAL_PARTIAL_TIMEOUT_MS", C, partial_timeout_ms, 10000, 100, 3600000, "a message begun must be complete within this, plus its size at REBUTTAL_PARTIAL_RATE, else close (1008)"),
	CFG_I("REBUTTAL_PARTIAL_RATE", C, partial_rate, 131072, 0, 1 << 30, "bytes per second a message may arrive at without timing out (added to the timeout by its size); 0: none"),
	CFG_I("REBUTTAL_PARTIAL_MAX_BYTES", C, partial_max_bytes, 67108864, 65536, 1L << 40, "bytes of unfinished messages held over all connections; the one that would pass it is closed (1009)"),
	CFG_I("REBUTTAL_USER_RATE", C, user_rate, 500, 0, 1000000, "packets per second per user on this gateway, after the burst; more get `error` (0: no limit)"),
	CFG_I("REBUTTAL_USER_BURST", C, user_burst, 1000, 1, 1000000, "packets a user may send at once before REBUTTAL_USER_RATE applies"),
	CFG_I("REBUTTAL_RATE_STRIKES", C, strikes_max, 200, 1, 100000000, "packets refused for the rate within REBUTTAL_RATE_STRIKES_MS after which the connection is closed (1008)"),
	CFG_I("REBUTTAL_RATE_STRIKES_MS", C, strikes_ms, 10000, 100, 3600000, "window of REBUTTAL_RATE_STRIKES"),
	CFG_I("REBUTTAL_RELAY_RATE", C, relay_rate, 10, 0, 1000000, "`video`/`letmesee` per second per user and target after the burst; more are dropped (0: no limit)"),
	CFG_I("REBUTTAL_RELAY_BURST", C, relay_burst, 40, 1, 1000000, "`video`/`letmesee` a user may send one target at once"),
	CFG_I("REBUTTAL_DRAIN_MS", C, drain_ms, 5000, 0, 600000, "after SIGTERM (/readyz 503, new WebSockets refused), how long open connections stay before they are closed (1012)"),
	CFG_I("REBUTTAL_DRAIN_SPREAD_MS", C, drain_spread_ms, 10000, 0, 3600000, "the closes (1012) of a drain are spread evenly over this window, so clients do not all reconnect at once"),
};
/* clang-format on */
#undef C

static void heartbeat(gw *g)
{
	Rb__GwHeartbeat hb = RB__GW_HEARTBEAT__INIT;
	hb.gateway_id = g->id;
	hb.has_start_time = 1;
	hb.start_time = g->start_time;
	hb.has_lease_ms = 1;
	hb.lease_ms = (int32_t)g->cfg->lease_ms;
	hb.has_conns = 1;
	hb.conns = (int32_t)g->n_online;
	hb.has_conn_sum = 1;
	hb.conn_sum = g->conn_sum;
	bus_publish_pb(g->bus, "rb.evt.gw.heartbeat", &hb.base);
}

/* Loop thread, every 50 ms: request timeouts/retries, limits' deadlines
 * and the heartbeat. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
	gw *g = lws_container_of(sul, gw, tick);
	bus_tick(g->bus);
	request_tick(g);
	limits_tick(g);
	int64_t now = bus_now_ms();
	if (now - g->last_heartbeat >= g->cfg->heartbeat_ms) {
		g->last_heartbeat = now;
		heartbeat(g);
	}
	lws_sul_schedule(g->lws, 0, &g->tick, on_tick, 50 * LWS_US_PER_MS);
}

/* Every client is a file descriptor: take what the kernel allows (the soft
 * limit is often 1024, far below what one gateway can serve), up to a cap,
 * because libwebsockets sizes its per-descriptor tables by this limit. */
#define FD_LIMIT_CAP 262144

static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max < FD_LIMIT_CAP ? rl.rlim_max : FD_LIMIT_CAP;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info("file descriptor limit raised to %llu",
				 (unsigned long long)rl.rlim_cur);
	}
}

static struct lws_context *lws_start(gw *g)
{
	const gw_config *cfg = g->cfg;
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.user = g; /* gw_of() */
	info.port = (int)cfg->port;
	info.protocols = gw_protocols;
	info.mounts = gw_mounts();
	info.vhost_name = "rebuttal";
	if (cfg->tls_cert[0] && cfg->tls_key[0]) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
	}
	return lws_create_context(&info);
}

int main(void)
{
	static gw_config cfg;
	static gw g;

	if (proc_init("gateway") < 0 ||
	    cfg_load(settings, sizeof settings / sizeof *settings, &cfg) < 0)
		return 1;
	cfg_print(settings, sizeof settings / sizeof *settings, &cfg);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	raise_fd_limit();
	g.cfg = &cfg;
	char why[160];
	if (netaddr_list_parse(cfg.trusted_proxy, &g.trusted, why, sizeof why) < 0) {
		log_error("config: REBUTTAL_TRUSTED_PROXY: %s", why);
		return 1;
	}
	if (netaddr_list_parse(cfg.anon_cap_exempt, &g.anon_exempt, why, sizeof why) < 0) {
		log_error("config: REBUTTAL_ANON_CAP_EXEMPT: %s", why);
		return 1;
	}
	uuid_new(g.id);
	g.start_time = (int64_t)time(NULL);
	loopq_init(&g.inbox);
	if (limits_init(&g) < 0 || drain_init(&g) < 0)
		return 1;
	g.webroot = files_root(cfg.webroot);
	pthread_mutex_init(&g.wake_lock, NULL);
	g.bus = bus_open(&cfg.nats, "gateway", BUS_ORDERED | BUS_BATCH);
	if (!g.bus)
		return 1;
	/* The context before the subscriptions: a broadcast that arrives at
	 * once must find a loop to wake. */
	g.lws = lws_start(&g);
	if (!g.lws) {
		log_error("cannot listen on port %ld", cfg.port);
		return 1;
	}
	pthread_mutex_lock(&g.wake_lock);
	g.wake = g.lws;
	pthread_mutex_unlock(&g.wake_lock);
	if (deliver_start(&g) < 0)
		return 1;
	log_info("gateway %s listening on %s://0.0.0.0:%ld/ipc", g.id,
		 cfg.tls_cert[0] ? "wss" : "ws", cfg.port);
	lws_sul_schedule(g.lws, 0, &g.tick, on_tick, 50 * LWS_US_PER_MS);
	/* Until SIGTERM and the drain after it (drain.c) are over. */
	/* The requests and events of a pass go to NATS in one write, after it
	 * (lib/bus.h, bus_write_batch). */
	bus_write_batch(g.bus, 1);
	while (!drain_done(&g)) {
		int rc = lws_service(g.lws, 0);
		bus_write_pending(g.bus);
		if (rc < 0)
			break;
	}
	bus_write_batch(g.bus, 0);

	log_info("gateway stopping");
	drain_free(&g);
	deliver_stop(&g);
	pthread_mutex_lock(&g.wake_lock);
	g.wake = NULL; /* replies and user deliveries may still come: queued only */
	pthread_mutex_unlock(&g.wake_lock);
	lws_context_destroy(g.lws); /* closes every connection (session_free) */
	items_run(&g);              /* what is queued; no session is left */
	bus_close(g.bus);
	nats_CloseAndWait(2000); /* no NATS callback runs after this */
	items_discard(&g);       /* what came meanwhile: freed, not handled */
	free(g.dedup);
	free(g.webroot);
	replay_free(&g);
	limits_free(&g);
	loopq_destroy(&g.inbox);
	pthread_mutex_destroy(&g.wake_lock);
	netaddr_list_free(&g.trusted);
	netaddr_list_free(&g.anon_exempt);
	log_info("gateway stopped");
	return 0;
}
