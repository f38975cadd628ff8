/* Benchmarks against a running stack (scripts/bench.sh starts one): prints a
 * table of rates and latencies. Not a test: nothing here passes or fails on
 * speed; a CHECK only stops a run whose results would mean nothing.
 *
 *   fanout   200 raw-socket clients in one room, 5 senders (window 4), and
 *            1,000 clients with 5 senders at 20/s each: deliveries/s, lost
 *   msg      messages stored and delivered to 100 connected clients, and
 *            to 4 (the senders: the store rather than the fan-out), in one
 *            room and in 4
 *   history  getmessages on a room of 100,000 messages
 *            (both with BENCH_MSG_INSTANCES=n msgsvc instances, default 1)
 *   relay    video A -> B -> A round trips, through one and two gateways
 *   conns    1,000 connections log in (minimum hash cost), gateway memory
 *   presence voice-room churn (join, talking on/off, leave) seen by 200 clients
 *   storm    200 and then 1,000 clients log in at once at the DEFAULT
 *            argon2id cost (authsvc is restarted with it; 1,000 accounts are
 *            made first, ~30 s), against the bound 1.25 x n x verify / cores
 *   storm-kill  500 log in at once at the default cost; authsvc is killed
 *            (-9) at a quarter and restarted: all get in, none verified twice
 */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "integ.h"
#include "rawws.h"

typedef struct {
	double *v;
	size_t n;
} samples;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(samples *s, double p)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof *s->v, cmp_double);
	size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

static void row(const char *what, size_t n, double secs, samples *lat)
{
	printf("| %-44s | %7zu | %9.0f/s | %8.2f ms | %8.2f ms |\n", what, n, (double)n / secs,
	       pct(lat, 0.50), pct(lat, 0.99));
	fflush(stdout);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Creates a text room and returns its id (from the updateRooms that follows). */
static void make_room(wsc *a, const char *name, char *id_out)
{
	sendp(a, "{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\"}", name);
	for (;;) {
		json_t *j = expect(a, "updateRooms");
		json_t *list = json_object_get(j, "roomList");
		for (size_t i = 0; i < json_array_size(list); i++) {
			json_t *r = json_array_get(list, i);
			if (!strcmp(jstr(r, "name"), name)) {
				snprintf(id_out, 64, "%s", jstr(r, "id"));
				json_decref(j);
				return;
			}
		}
		json_decref(j);
	}
}

/* The decimal number at p (before end): 1 and *out, or 0. Cheaper than
 * sscanf, which the profile showed as the bench's own largest cost, and
 * bounded by the frame. */
static int seq_at(const char *p, const char *end, unsigned long *out)
{
	unsigned long v = 0;
	const char *q = p;
	while (q < end && *q >= '0' && *q <= '9')
		v = v * 10 + (unsigned long)(*q++ - '0');
	*out = v;
	return q > p;
}

typedef struct {
	double *arrival;
	int *count;
	size_t m;
} arrivals;

/* A receiver's raw frames: marks sendMessage "bench <seq>" arrivals. The
 * gateway renders "type" first, so a prefix test finds them without parsing
 * JSON (parsing 200 frames per message made the bench the bottleneck). */
static void on_frame(void *ud, const char *data, size_t len)
{
	static const char pre[] = "{\"type\":\"sendMessage\"";
	arrivals *a = ud;
	if (len < sizeof pre - 1 || memcmp(data, pre, sizeof pre - 1))
		return;
	static const char key[] = "\"text\":\"bench ";
	const char *t = memmem(data, len, key, sizeof key - 1);
	unsigned long seq;
	if (t && seq_at(t + sizeof key - 1, data + len, &seq) && seq < a->m) {
		a->arrival[seq] = now_us();
		a->count[seq]++;
	}
}

/* senders connections each keep `window` messages in flight, sender k into
 * room k % nrooms; a message counts as delivered when all `receivers`
 * connections (the senders among them) got its sendMessage. */
static void msg_run(const char *what, int receivers, int senders, int nrooms, int window, size_t m)
{
	enum { MAX_RX = 100, MAX_ROOMS = 8 };
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx), *rx[MAX_RX];
	char room[MAX_ROOMS][64], name[64];
	CHECK(receivers <= MAX_RX && senders <= receivers && nrooms <= MAX_ROOMS);
	for (int i = 0; i < nrooms; i++) {
		snprintf(name, sizeof name, "bench-%s", uniq());
		make_room(a, name, room[i]);
	}
	for (int i = 0; i < receivers; i++) {
		rx[i] = client(ctx);
		login(rx[i], "root@localhost", admin_password());
	}
	double *sent = calloc(m, sizeof *sent), *arrival = calloc(m, sizeof *arrival);
	int *count = calloc(m, sizeof *count), *inflight = calloc((size_t)senders, sizeof(int));
	int *owner = calloc(m, sizeof *owner);
	arrivals arr = {arrival, count, m};
	for (int i = 0; i < receivers; i++)
		wsc_set_sink(rx[i], on_frame, &arr);
	size_t next = 0, delivered = 0;
	double t0 = now_us();
	while (delivered < m) {
		/* Receivers 0..senders-1 are also the senders, each with at most
		 * `window` of its own in flight (a faster one, e.g. alone in its
		 * room, sends more). */
		for (int k = 0; k < senders && next < m; k++) {
			while (inflight[k] < window && next < m) {
				size_t seq = next++;
				owner[seq] = k;
				sent[seq] = now_us();
				inflight[k]++;
				sendp(rx[k],
				      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"bench %zu\"}}",
				      room[k % nrooms], seq);
			}
		}
		wsc_service(ctx, 1);
		json_t *j;
		while ((j = wsc_recv(a, 0)))
			json_decref(j);
		for (size_t i = 0; i < next; i++) {
			if (count[i] == receivers) {
				count[i]++; /* counted once */
				inflight[owner[i]]--;
				delivered++;
			}
		}
		CHECK_MSG(now_us() - t0 < 300e6, "msg bench stalled at %zu", delivered);
	}
	double secs = (now_us() - t0) / 1e6;
	samples lat = {calloc(m, sizeof(double)), m};
	for (size_t i = 0; i < m; i++)
		lat.v[i] = (arrival[i] - sent[i]) / 1e3;
	row(what, m, secs, &lat);
	free(lat.v), free(sent), free(arrival), free(count), free(inflight), free(owner);
	wsc_ctx_free(ctx);
}

/* Starts msgsvc instances 2..BENCH_MSG_INSTANCES (once per process), so
 * msg and history can be measured against several instances sharing the
 * queue group. */
static void msg_instances(void)
{
	static int started;
	const char *v = getenv("BENCH_MSG_INSTANCES");
	long n = v ? strtol(v, NULL, 10) : 1;
	char args[64];

	for (long i = 2; !started && i <= n && i <= 8; i++) {
		snprintf(args, sizeof args, "start-part msgsvc %ld", i);
		CHECK_EQ_INT(stack(args, NULL, 0), 0);
	}
	if (!started && n > 1)
		sleep(1); /* their account directories load */
	started = 1;
}

static void bench_msg(void)
{
	msg_instances();
	msg_run("message to 100 clients, 1 sender, 1 at a time", 100, 1, 1, 1, 500);
	msg_run("message to 100 clients, 4 senders, 8 queued each", 100, 4, 1, 8, 2000);
	/* Few receivers: the store path rather than the gateway's fan-out. */
	msg_run("message to 4 clients, 4 senders, 8 queued each", 4, 4, 1, 8, 4000);
	msg_run("message to 4 clients, 4 senders in 4 rooms, 8 q.", 4, 4, 4, 8, 4000);
}

/* Fills a fresh room with n messages straight in Postgres: 100,000 through
 * the protocol would take minutes and measure the writes, not the reads. */
static void bench_history_small(void);
static void history_raw(const char *what, int n, double secs);
static void seed_history(const char *room, const char *uid, long n)
{
	PGconn *pg = PQconnectdb(pg_conninfo_as("msgsvc"));
	CHECK_MSG(PQstatus(pg) == CONNECTION_OK, "postgres: %s", PQerrorMessage(pg));
	char nbuf[32];
	snprintf(nbuf, sizeof nbuf, "%ld", n);
	const char *p[] = {room, uid, nbuf};
	PGresult *r = PQexecParams(
		pg,
		"WITH c AS (INSERT INTO msg.rooms (room_id, next_idx) VALUES ($1::uuid, $3::bigint) "
		"ON CONFLICT (room_id) DO UPDATE SET next_idx = $3::bigint RETURNING 1) "
		"INSERT INTO msg.messages (room_id, idx, user_id, username, text) "
		"SELECT $1::uuid, g, $2::uuid, 'root', 'history message ' || g "
		"FROM generate_series(0, $3::bigint - 1) g",
		3, NULL, p, NULL, NULL, 0);
	CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "seed: %s", PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
}

static void bench_history(void)
{
	msg_instances();
	history_raw("getmessages, 100,000 messages, 100 raw conns", 100, 10);
	bench_history_small();
}

static void bench_history_small(void)
{
	enum { CONNS = 4 };
	const long total = 100000;
	const size_t m = 4000;
	msg_instances();
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx), *c[CONNS];
	char room[64], name[64];
	snprintf(name, sizeof name, "history-%s", uniq());
	make_room(a, name, room);
	sendp(a, "{\"type\":\"getmessages\",\"roomid\":\"%s\"}", room);
	json_decref(expect(a, "updateText")); /* msgsvc knows the room now */
	json_t *l = NULL;
	for (int i = 0; i < CONNS; i++) {
		c[i] = client(ctx);
		const char *uid = login(c[i], "root@localhost", admin_password());
		if (i == 0)
			seed_history(room, uid, total);
	}
	(void)l;
	samples lat = {calloc(m, sizeof(double)), 0};
	double *sent = calloc(CONNS, sizeof *sent);
	size_t issued = 0;
	double t0 = now_us();
	/* One request in flight per connection, random segments. */
	for (int i = 0; i < CONNS; i++, issued++) {
		sent[i] = now_us();
		sendp(c[i], "{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":%ld}", room,
		      random() % (total / 5));
	}
	while (lat.n < m) {
		wsc_service(ctx, 1);
		for (int i = 0; i < CONNS; i++) {
			json_t *j;
			while ((j = wsc_recv(c[i], 0))) {
				if (!strcmp(jstr(j, "type"), "updateText")) {
					CHECK_EQ_INT(
						json_array_size(json_object_get(j, "messages")), 5);
					lat.v[lat.n++] = (now_us() - sent[i]) / 1e3;
					if (issued < m) {
						sent[i] = now_us();
						sendp(c[i],
						      "{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":%ld}",
						      room, random() % (total / 5));
						issued++;
					}
				}
				json_decref(j);
			}
		}
		CHECK_MSG(now_us() - t0 < 300e6, "history bench stalled");
	}
	row("getmessages, room of 100,000 messages, 4 conns", m, (now_us() - t0) / 1e6, &lat);
	free(lat.v), free(sent);
	wsc_ctx_free(ctx);
}

static void relay_run(const char *what, int port_b)
{
	const size_t m = 2000;
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = client(ctx), *b = client_at(ctx, port_b);
	char ua[64];
	snprintf(ua, sizeof ua, "%s", login(a, "root@localhost", admin_password()));
	const char *ub = login(b, "root@localhost", admin_password());
	/* Same account on both ends: a video to that user reaches both
	 * connections, so each side ignores its own echo by the hop field. */
	samples lat = {calloc(m, sizeof(double)), 0};
	double t0 = now_us();
	(void)ub;
	for (size_t i = 0; i < m; i++) {
		double s = now_us();
		sendp(a,
		      "{\"type\":\"video\",\"touserid\":\"%s\",\"payload\":{\"hop\":1,\"seq\":%zu}}",
		      ua, i);
		for (int hop = 1; hop <= 2;) {
			wsc *who = hop == 1 ? b : a;
			json_t *j = wsc_expect(who, "video", WAIT_MS);
			CHECK_MSG(j, "relay lost at %zu hop %d", i, hop);
			json_t *p = json_object_get(j, "payload");
			if (json_integer_value(json_object_get(p, "hop")) == hop &&
			    (size_t)json_integer_value(json_object_get(p, "seq")) == i) {
				if (hop == 1)
					sendp(b,
					      "{\"type\":\"video\",\"touserid\":\"%s\",\"payload\":{\"hop\":2,\"seq\":%zu}}",
					      ua, i);
				hop++;
			}
			json_decref(j);
		}
		lat.v[lat.n++] = (now_us() - s) / 1e3;
	}
	row(what, m, (now_us() - t0) / 1e6, &lat);
	free(lat.v);
	wsc_ctx_free(ctx);
}

static void bench_relay(void)
{
	char out[64];
	int port2 = 0;
	relay_run("video round trip A->B->A, one gateway", gw_port());
	CHECK_EQ_INT(stack("start-part gateway bench2", out, sizeof out), 0);
	CHECK(sscanf(out, "port=%d", &port2) == 1);
	relay_run("video round trip A->B->A, two gateways", port2);
}

/* Resident memory of a stack process, from its pid file, in KiB. */
/* CPU seconds (user + system) a process has used so far; pid 0: this one. */
static double cpu_s(int pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%s/stat", pid ? "" : "self");
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	CHECK_NOT_NULL(f);
	CHECK(fgets(line, sizeof line, f));
	fclose(f);
	const char *p = strrchr(line, ')'); /* the name may hold spaces */
	unsigned long ut = 0, st = 0;
	CHECK(p &&
	      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Gateway memory per logged-in connection, and how fast 1,000 log in. */
static void bench_conns(void)
{
	enum { N = 1000 };
	wsc_ctx *ctx = wsc_ctx_new();
	static wsc *c[N];
	long before = part_rss_kib("gateway");
	double t0 = now_us();
	for (int i = 0; i < N; i++)
		c[i] = wsc_open_async(ctx, "127.0.0.1", gw_port(), "/ipc", 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(wsc_wait_open(c[i], 20000), 0);
		sendp(c[i],
		      "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\","
		      "\"protocol\":\"v1\"}",
		      admin_password());
	}
	samples lat = {calloc(N, sizeof(double)), 0};
	for (int i = 0; i < N; i++) {
		json_t *j = wsc_expect(c[i], "welcome", 60000);
		CHECK_MSG(j, "login %d: %s", i, wsc_last_error(c[i]));
		json_decref(j);
		lat.v[lat.n++] = (now_us() - t0) / 1e3;
	}
	double secs = (now_us() - t0) / 1e6;
	wsc_service(ctx, 2000); /* let the lists settle */
	long after = part_rss_kib("gateway");
	row("1,000 connections open + log in (time to all)", N, secs, &lat);
	printf("| %-44s | %7d | %11s | %8ld KiB | %8.1f KiB |\n",
	       "gateway memory: before, per logged-in conn", N, "", before,
	       (double)(after - before) / N);
	fflush(stdout);
	free(lat.v);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------------------ login storm */

enum { STORM_MAX = 1000 };
static char storm_email[STORM_MAX][64], storm_pw[STORM_MAX][32];
/* BENCH_STORM_N (default and at most 1,000): accounts, and the big storm. */
static int STORM_ACCOUNTS = STORM_MAX;

/* authsvc again, at libsodium's interactive cost (what deployments run),
 * and accounts hashed at that cost: a verify costs what the stored hash
 * says, not the setting. */
static void storm_setup(void)
{
	enum { ADMINS = 8 };
	const char *n = getenv("BENCH_STORM_N");
	if (n && atoi(n) >= 20 && atoi(n) <= STORM_MAX)
		STORM_ACCOUNTS = atoi(n);
	setenv("REBUTTAL_PWHASH_OPSLIMIT", "2", 1);
	setenv("REBUTTAL_PWHASH_MEMLIMIT", "67108864", 1);
	CHECK_EQ_INT(stack("kill authsvc TERM", NULL, 0), 0);
	CHECK_EQ_INT(stack("start-part authsvc", NULL, 0), 0);
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a[ADMINS];
	for (int k = 0; k < ADMINS; k++)
		a[k] = admin(ctx);
	double t0 = now_us();
	const char *run = uniq();
	for (int base = 0; base < STORM_ACCOUNTS; base += ADMINS) {
		for (int k = 0; k < ADMINS && base + k < STORM_ACCOUNTS; k++) {
			int i = base + k;
			snprintf(storm_email[i], sizeof storm_email[i], "storm%d-%s@bench.test", i,
				 run);
			sendp(a[k],
			      "{\"type\":\"createuser\",\"userName\":\"storm %d %.8s\",\"groupName\":\"user\",\"email\":\"%s\"}",
			      i, run, storm_email[i]);
		}
		for (int k = 0; k < ADMINS && base + k < STORM_ACCOUNTS; k++) {
			int i = base + k;
			json_t *m = wsc_expect_noerr(a[k], "adminMessage", 60000);
			CHECK_MSG(m, "createuser %d: %s", i, wsc_last_error(a[k]));
			const char *pw = strstr(jstr(m, "message"), "Password: ");
			CHECK_NOT_NULL(pw);
			snprintf(storm_pw[i], sizeof storm_pw[i], "%s", pw + strlen("Password: "));
			json_decref(m);
		}
	}
	printf("| %-44s | %7d | %9.0f/s | %11s | %11s |\n", "accounts made at the default cost",
	       STORM_ACCOUNTS, STORM_ACCOUNTS / ((now_us() - t0) / 1e6), "", "");
	fflush(stdout);
	wsc_ctx_free(ctx);
}

typedef struct {
	double t0, done_at;
	int welcome, error;
	size_t bytes;
} storm_client;

/* Raw frames: welcome ends a login, error counts (none is expected). */
static void storm_sink(void *ud, const char *data, size_t len)
{
	static const char w[] = "{\"type\":\"welcome\"", e[] = "{\"type\":\"error\"";
	storm_client *sc = ud;
	sc->bytes += len;
	if (len >= sizeof w - 1 && !memcmp(data, w, sizeof w - 1) && !sc->welcome) {
		sc->welcome = 1;
		sc->done_at = now_us();
	} else if (len >= sizeof e - 1 && !memcmp(data, e, sizeof e - 1)) {
		sc->error++;
	}
}

/* One login on a fresh connection, alone: ms until welcome. */
static double one_login_ms(int i)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	double t0 = now_us();
	login(c, storm_email[i], storm_pw[i]);
	double ms = (now_us() - t0) / 1e3;
	wsc_ctx_free(ctx);
	return ms;
}

/* n connections open and idle (sinks set); then every one sends its
 * login at the same moment. Returns when all logins are sent (queued). */
typedef struct {
	wsc_ctx *ctx;
	wsc **c;
	storm_client *sc;
	int n;
	double t0;
} storm;

static void storm_start(storm *st, int n)
{
	st->ctx = wsc_ctx_new();
	st->n = n;
	st->c = calloc((size_t)n, sizeof *st->c);
	st->sc = calloc((size_t)n, sizeof *st->sc);
	for (int i = 0; i < n; i++)
		st->c[i] = wsc_open_async(st->ctx, "127.0.0.1", gw_port(), "/ipc", 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ_INT(wsc_wait_open(st->c[i], 30000), 0);
		json_decref(expect(st->c[i], "connect"));
		wsc_set_sink(st->c[i], storm_sink, &st->sc[i]);
	}
	/* All at once: queued here, written by the next service call. */
	st->t0 = now_us();
	for (int i = 0; i < n; i++)
		sendp(st->c[i],
		      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"%s\",\"protocol\":\"v1\"}",
		      storm_email[i], storm_pw[i]);
}

/* Services for up to 50 ms; counts the logins in and the ones refused;
 * 1 when every one has an answer. */
static int storm_poll(storm *st, int *in, int *errors)
{
	/* Let 5 ms of frames gather, then take them in one poll: polling 1,000
	 * sockets for every frame made this client a fifth of the machine. */
	usleep(5000);
	wsc_service(st->ctx, 0);
	*in = *errors = 0;
	for (int i = 0; i < st->n; i++) {
		*in += st->sc[i].welcome;
		*errors += st->sc[i].error > 0;
	}
	return *in + *errors >= st->n;
}

/* ms from the storm's start until the last login got in. */
static double storm_last_ms(const storm *st)
{
	double last = 0;
	for (int i = 0; i < st->n; i++)
		if (st->sc[i].welcome && (st->sc[i].done_at - st->t0) / 1e3 > last)
			last = (st->sc[i].done_at - st->t0) / 1e3;
	return last;
}

static void storm_end(storm *st)
{
	free(st->sc);
	free(st->c);
	wsc_ctx_free(st->ctx);
}

static void storm_run(int n, double verify_ms)
{
	storm st;
	int in = 0, errors = 0;
	storm_start(&st, n);
	while ((now_us() - st.t0) / 1e6 < 180 && !storm_poll(&st, &in, &errors))
		;
	samples lat = {calloc((size_t)n, sizeof(double)), 0};
	for (int i = 0; i < n; i++)
		if (st.sc[i].welcome)
			lat.v[lat.n++] = (st.sc[i].done_at - st.t0) / 1e3;
	double last = storm_last_ms(&st);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double bound = 1.25 * n * verify_ms / (double)cores;
	char what[96];
	snprintf(what, sizeof what, "%d log in at once: %d in, %d error", n, in, errors);
	row(what, (size_t)in, last / 1e3, &lat);
	printf("| %-44s | %7d | %11s | %8.0f ms | %8.0f ms |\n",
	       "  all in after / bound 1.25 x n x verify / cores", n, "", last, bound);
	size_t bytes = 0;
	for (int i = 0; i < n; i++)
		bytes += st.sc[i].bytes;
	printf("| %-44s | %7d | %11s | %8.2f MB | %11s |\n",
	       "  received per client (avg) until all in", n, "", (double)bytes / n / 1e6, "");
	fflush(stdout);
	free(lat.v);
	storm_end(&st);
}

static void bench_storm(void)
{
	storm_setup();
	/* Warm: every handler thread has hashed once (first use maps memory). */
	for (int i = 0; i < 4; i++)
		one_login_ms(i);
	samples v = {calloc(5, sizeof(double)), 0};
	for (int i = 0; i < 5; i++)
		v.v[v.n++] = one_login_ms(i);
	double verify_ms = pct(&v, 0.5);
	row("one login alone, default cost (verify time)", 5, v.n * verify_ms / 1e3, &v);
	if (STORM_ACCOUNTS > 200)
		storm_run(200, verify_ms);
	storm_run(STORM_ACCOUNTS, verify_ms);
	samples after = {calloc(5, sizeof(double)), 0};
	for (int i = 0; i < 5; i++)
		after.v[after.n++] = one_login_ms(10 + i);
	row("one login right after the storm", 5, after.n * pct(&after, 0.5) / 1e3, &after);
	free(v.v);
	free(after.v);
}

/* A counter of a part's /metrics (its health port from the stack's folder). */
static double part_metric(const char *part, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/ports/%s", rt_env("REBUTTAL_STACK_DIR"), part);
	FILE *f = fopen(path, "r");
	int port = 0;
	CHECK_MSG(f && fscanf(f, "%d", &port) == 1, "no port in %s", path);
	fclose(f);
	httpc_resp r;
	double v = -1;
	CHECK_EQ_INT(httpc_get("127.0.0.1", port, "/metrics", 5000, &r), 0);
	for (const char *p = r.body; p && (p = strstr(p, name)); p += strlen(name))
		if ((p == r.body || p[-1] == '\n') && p[strlen(name)] == ' ') {
			v = atof(p + strlen(name) + 1);
			break;
		}
	httpc_resp_free(&r);
	return v;
}

/* authsvc is killed (-9) when a quarter of a 500-login storm is in, and
 * started again a second later: every login still gets in before its
 * deadline (60 s), and the verifications add up to the logins: none was
 * worked on twice (a request is sent again only once its holder is silent). */
static void bench_storm_kill(void)
{
	if (!getenv("BENCH_STORM_N"))
		setenv("BENCH_STORM_N", "500", 1);
	storm_setup();
	int n = STORM_ACCOUNTS;
	const char *vname = "authsvc_password_verifications_total";
	double v0 = part_metric("authsvc", vname), v1 = 0, killed_at = 0;
	storm st;
	int in = 0, errors = 0, in_at_kill = 0;
	storm_start(&st, n);
	while ((now_us() - st.t0) / 1e6 < 120 && !storm_poll(&st, &in, &errors)) {
		if (!killed_at && in >= n / 4) {
			v1 = part_metric("authsvc", vname);
			CHECK_EQ_INT(stack("kill authsvc KILL", NULL, 0), 0);
			killed_at = now_us();
			in_at_kill = in;
			wsc_service(st.ctx, 1000);
			CHECK_EQ_INT(stack("start-part authsvc", NULL, 0), 0);
		}
	}
	double v2 = part_metric("authsvc", vname);
	char what[128];
	snprintf(what, sizeof what, "%d log in, authsvc kill -9 at %d in: %d in, %d error", n,
		 in_at_kill, in, errors);
	printf("| %-44s | %7d | %11s | %8.0f ms | %11s |\n", what, n, "all in after",
	       storm_last_ms(&st), "");
	printf("| %-44s | %7d | %11s | %11.0f | %11.0f |\n",
	       "  verified: before kill + after restart, logins", n, "", (v1 - v0) + v2,
	       (double)in);
	fflush(stdout);
	storm_end(&st);
}

/* ------------------------------------------------------------ presence */

/* Presence churn: PRESENCE_ACTORS users each run PRESENCE_CYCLES cycles of
 * joinroom -> talking true -> talking false -> leaveroom, closed loop (each
 * op waits until its actor sees the resulting broadcast), while N clients
 * (BENCH_CLIENTS, default 200, the actors included) are logged in and the
 * directory holds ~1,000 accounts, so that every updateUsers is as big as
 * in a real deployment. Every client counts what it receives as raw frames. */
#define PRESENCE_ACTORS 10
#define PRESENCE_CYCLES 20
#define PRESENCE_ACCOUNTS 1000
#define PRESENCE_OPS 4 /* per cycle */

enum { OP_JOIN, OP_TALK_ON, OP_TALK_OFF, OP_LEAVE };
static const char *const op_names[PRESENCE_OPS] = {"joinroom", "talking true", "talking false",
						   "leaveroom"};

typedef struct {
	wsc *c;
	char id[64], email[96], password[64];
	int op, cycle;
	int seen; /* the current op's broadcast reached this actor */
	double sent;
} actor;

/* What one client received since the churn began. */
typedef struct {
	size_t bytes, users, events;
	actor *self; /* NULL for the clients that only watch */
} watcher;

static int frame_is(const char *data, size_t len, const char *type)
{
	char pre[64];
	int n = snprintf(pre, sizeof pre, "{\"type\":\"%s\"", type);
	return (size_t)n <= len && !memcmp(data, pre, (size_t)n);
}

/* The one op an actor waits for: its own broadcast, of the right kind. */
static int answers(const actor *a, const char *data, size_t len)
{
	char who[96];
	int n = snprintf(who, sizeof who, "\"userid\":\"%s\"", a->id);
	if (!memmem(data, len, who, (size_t)n))
		return 0;
	switch (a->op) {
	case OP_JOIN:
		return frame_is(data, len, "joinRoom");
	case OP_LEAVE:
		return frame_is(data, len, "leaveRoom");
	default:
		return frame_is(data, len, "talking") &&
		       memmem(data, len,
			      a->op == OP_TALK_ON ? "\"talking\":true" : "\"talking\":false",
			      a->op == OP_TALK_ON ? 14 : 15);
	}
}

static void on_presence_frame(void *ud, const char *data, size_t len)
{
	watcher *w = ud;
	w->bytes += len;
	if (frame_is(data, len, "updateUsers"))
		w->users++;
	else if (frame_is(data, len, "joinRoom") || frame_is(data, len, "leaveRoom") ||
		 frame_is(data, len, "talking"))
		w->events++;
	if (w->self && !w->self->seen && answers(w->self, data, len))
		w->self->seen = 1;
}

/* Makes the accounts with createuser over a few admin connections (each
 * connection's requests to authsvc go one at a time); the first `keep`
 * get their email and password into actors. */
static void make_directory(wsc_ctx *ctx, int n, actor *actors, int keep)
{
	enum { ADMINS = 4 };
	wsc *adm[ADMINS];
	int next = 0, made = 0, inflight[ADMINS] = {0};
	for (int i = 0; i < ADMINS; i++)
		adm[i] = admin(ctx);
	while (made < n) {
		for (int i = 0; i < ADMINS; i++) {
			while (next < n && inflight[i] < 32) {
				char name[32];
				snprintf(name, sizeof name, "presence user %04d", next);
				sendp(adm[i],
				      "{\"type\":\"createuser\",\"userName\":\"%s\",\"groupName\":\"user\","
				      "\"email\":\"p%d-%s@bench.example\"}",
				      name, next, uniq());
				next++;
				inflight[i]++;
			}
		}
		wsc_service(ctx, 5);
		for (int i = 0; i < ADMINS; i++) {
			json_t *j;
			while ((j = wsc_recv(adm[i], 0))) {
				const char *type = jstr(j, "type");
				CHECK_MSG(!streq(type, "error"), "createuser: %s",
					  jstr(j, "message"));
				if (streq(type, "adminMessage")) {
					/* "User <email> (<name>) created in group user.
					 * Password: <pw>" */
					const char *t = jstr(j, "message");
					const char *pw = t ? strstr(t, "Password: ") : NULL;
					const char *em = t ? strstr(t, "User p") : NULL;
					CHECK_MSG(pw, "adminMessage \"%s\"", t ? t : "");
					int k = -1;
					if (em)
						sscanf(em + 6, "%d-", &k);
					if (k >= 0 && k < keep) {
						snprintf(actors[k].password,
							 sizeof actors[k].password, "%s",
							 pw + strlen("Password: "));
						sscanf(em + 5, "%95s", actors[k].email);
					}
					inflight[i]--;
					made++;
				}
				json_decref(j);
			}
		}
	}
	for (int i = 0; i < ADMINS; i++)
		wsc_close(adm[i]);
}

/* Opens and logs in n clients at once; the first nactors as the actors. */
static void log_in_all(wsc_ctx *ctx, wsc **c, int n, actor *actors, int nactors)
{
	for (int i = 0; i < n; i++)
		c[i] = wsc_open_async(ctx, "127.0.0.1", gw_port(), "/ipc", 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ_INT(wsc_wait_open(c[i], 20000), 0);
		if (i < nactors)
			sendp(c[i],
			      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"%s\","
			      "\"protocol\":\"v1\"}",
			      actors[i].email, actors[i].password);
		else
			sendp(c[i],
			      "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\","
			      "\"protocol\":\"v1\"}",
			      admin_password());
	}
	for (int i = 0; i < n; i++) {
		json_t *j = wsc_expect(c[i], "login", 60000);
		CHECK_MSG(j, "login %d (%s): %s", i, i < nactors ? actors[i].email : "root",
			  wsc_last_error(c[i]));
		if (i < nactors) {
			snprintf(actors[i].id, sizeof actors[i].id, "%s", jstr(j, "userid"));
			actors[i].c = c[i];
		}
		json_decref(j);
	}
}

static void actor_send(actor *a, const char *room)
{
	a->seen = 0;
	a->sent = now_us();
	switch (a->op) {
	case OP_JOIN:
		sendp(a->c, "{\"type\":\"joinroom\",\"roomid\":\"%s\"}", room);
		break;
	case OP_TALK_ON:
	case OP_TALK_OFF:
		sendp(a->c, "{\"type\":\"talking\",\"talking\":%s}",
		      a->op == OP_TALK_ON ? "true" : "false");
		break;
	default:
		sendp(a->c, "{\"type\":\"leaveroom\"}");
	}
}

/* Drops what the clients receive until nothing came for quiet_ms (the
 * setup's traffic: 200 logins send several lists of ~180 KB to each). */
static void drain_all(wsc_ctx *ctx, wsc **c, int n, int quiet_ms)
{
	long long last = now_ms(), until = now_ms() + 60000;
	while (now_ms() - last < quiet_ms && now_ms() < until) {
		wsc_service(ctx, 20);
		for (int i = 0; i < n; i++) {
			json_t *j;
			while ((j = wsc_recv(c[i], 0))) {
				json_decref(j);
				last = now_ms();
			}
		}
	}
}

static void bench_presence(void)
{
	const char *env = getenv("BENCH_CLIENTS");
	int n = env && atoi(env) >= PRESENCE_ACTORS ? atoi(env) : 200;
	wsc_ctx *ctx = wsc_ctx_new();
	static actor actors[PRESENCE_ACTORS];
	wsc **c = calloc((size_t)n, sizeof *c);
	watcher *w = calloc((size_t)n, sizeof *w);
	samples lat[PRESENCE_OPS],
		all = {calloc(PRESENCE_ACTORS * PRESENCE_CYCLES * PRESENCE_OPS, sizeof(double)), 0};
	CHECK(c && w && all.v);
	for (int k = 0; k < PRESENCE_OPS; k++)
		lat[k] = (samples){calloc(PRESENCE_ACTORS * PRESENCE_CYCLES, sizeof(double)), 0};

	make_directory(ctx, PRESENCE_ACCOUNTS, actors, PRESENCE_ACTORS);
	wsc *a = admin(ctx);
	char room[64], name[64];
	snprintf(name, sizeof name, "churn-%s", uniq());
	room_made(a, "voice", name, room);
	wsc_close(a);
	log_in_all(ctx, c, n, actors, PRESENCE_ACTORS);
	/* The set-up's lists settle: roomsvc spaces big lists by their cost,
	 * so wait until it has none pending and a second has passed quietly,
	 * or a late list of the set-up lands in the middle of the run. */
	for (long long until = now_ms() + 120000; now_ms() < until;) {
		drain_all(ctx, c, n, 1000);
		if (part_metric("roomsvc", "roomsvc_lists_pending{list=\"updateUsers\"}") == 0)
			break;
	}
	drain_all(ctx, c, n, 1000);

	for (int i = 0; i < n; i++) {
		w[i].self = i < PRESENCE_ACTORS ? &actors[i] : NULL;
		wsc_set_sink(c[i], on_presence_frame, &w[i]);
	}
	int running = PRESENCE_ACTORS;
	double t0 = now_us();
	for (int i = 0; i < PRESENCE_ACTORS; i++)
		actor_send(&actors[i], room);
	/* An actor cut off (e.g. as a slow consumer) or an event that never
	 * comes ends the run: the table then shows how far it got. */
	double last_progress = t0;
	while (running && now_us() - last_progress < 10e6) {
		wsc_service(ctx, 1);
		for (int i = 0; i < PRESENCE_ACTORS; i++) {
			actor *x = &actors[i];
			if (x->cycle < PRESENCE_CYCLES && wsc_is_closed(x->c)) {
				printf("actor %d: connection closed (code %d) after %zu ops\n", i,
				       wsc_close_code(x->c), all.n);
				x->cycle = PRESENCE_CYCLES;
				running--;
			}
			if (!x->seen || x->cycle == PRESENCE_CYCLES)
				continue;
			last_progress = now_us();
			double ms = (now_us() - x->sent) / 1e3;
			lat[x->op].v[lat[x->op].n++] = ms;
			all.v[all.n++] = ms;
			if (++x->op == PRESENCE_OPS) {
				x->op = 0;
				if (++x->cycle == PRESENCE_CYCLES) {
					running--;
					continue;
				}
			}
			actor_send(x, room);
		}
	}
	if (running)
		printf("presence churn stalled: nothing for 10 s after %zu ops\n", all.n);
	double secs = (now_us() - t0) / 1e6;
	/* Lists and broadcasts still on their way count too. */
	long long until = now_ms() + 1500;
	while (now_ms() < until)
		wsc_service(ctx, 20);

	size_t expected = (size_t)PRESENCE_ACTORS * PRESENCE_CYCLES * PRESENCE_OPS, lost = 0,
	       closed = 0, bmax = 0, umax = 0;
	double bsum = 0, usum = 0;
	for (int i = 0; i < n; i++) {
		bsum += (double)w[i].bytes;
		usum += (double)w[i].users;
		bmax = w[i].bytes > bmax ? w[i].bytes : bmax;
		umax = w[i].users > umax ? w[i].users : umax;
		lost += w[i].events < expected ? expected - w[i].events : 0;
		closed += wsc_is_closed(c[i]) != 0;
	}
	char what[64];
	snprintf(what, sizeof what, "presence churn, %d clients: all ops", n);
	row(what, all.n, secs, &all);
	for (int k = 0; k < PRESENCE_OPS; k++) {
		snprintf(what, sizeof what, "presence churn: %s", op_names[k]);
		row(what, lat[k].n, secs, &lat[k]);
	}
	printf("| %-44s | %7d | %11s | %8.2f MB | %8.2f MB |\n",
	       "presence: bytes received per client avg, max", n, "", bsum / n / 1e6,
	       (double)bmax / 1e6);
	printf("| %-44s | %7d | %11s | %11.1f | %11zu |\n",
	       "presence: updateUsers per client avg, max", n, "", usum / n, umax);
	printf("| %-44s | %7d | %11s | %11zu | %11zu |\n", "presence: events lost, clients closed",
	       n, "", lost, closed);
	fflush(stdout);
	for (int k = 0; k < PRESENCE_OPS; k++)
		free(lat[k].v);
	free(all.v), free(w), free(c);
	wsc_ctx_free(ctx);
}

/* What the parts and the bench itself spend while a run lasts: a share of
 * one core and microseconds per unit of work (delivery, request), a figure
 * the other load on the machine changes much less than the rate. */
static const char *const cpu_parts[] = {"gateway", "msgsvc", "msgsvc-2", "nats", "postgres"};
#define CPU_PARTS (sizeof cpu_parts / sizeof *cpu_parts)
typedef struct {
	double cpu0[CPU_PARTS + 1]; /* the last one: this process */
} cpu_meter;

/* A part's CPU; Postgres's is its server processes' (the postmaster and
 * its children now: backends, writers, autovacuum), a close figure as
 * long as none of them ends during the run. */
static double part_cpu_s(const char *part)
{
	char file[64];
	snprintf(file, sizeof file, "%s.pid", part);
	if (!strcmp(part, "msgsvc-2") && stack_number("pids", file) <= 0)
		return -1; /* a second msgsvc only with BENCH_MSG_INSTANCES=2 */
	int pid = part_pid(part);
	double s = cpu_s(pid);
	if (strcmp(part, "postgres"))
		return s;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
	FILE *f = fopen(path, "r");
	int child;
	while (f && fscanf(f, "%d", &child) == 1) {
		snprintf(path, sizeof path, "/proc/%d/stat", child);
		if (access(path, R_OK) == 0)
			s += cpu_s(child);
	}
	if (f)
		fclose(f);
	return s;
}

static void cpu_start(cpu_meter *m)
{
	for (size_t i = 0; i < CPU_PARTS; i++)
		m->cpu0[i] = part_cpu_s(cpu_parts[i]);
	m->cpu0[CPU_PARTS] = cpu_s(0);
}

static void cpu_report(const cpu_meter *m, double secs, uint64_t units, char *out, size_t cap)
{
	int used = 0;
	for (size_t i = 0; i <= CPU_PARTS && (size_t)used < cap; i++) {
		if (m->cpu0[i] < 0)
			continue; /* not running */
		double s = (i < CPU_PARTS ? part_cpu_s(cpu_parts[i]) : cpu_s(0)) - m->cpu0[i];
		used += snprintf(out + used, cap - (size_t)used, "%s%s %.0f%% %.2f us",
				 i ? ", " : "", i < CPU_PARTS ? cpu_parts[i] : "bench",
				 100 * s / secs, units ? 1e6 * s / (double)units : 0);
	}
}

/* ------------------------------------------------------------- fan-out */

/* Delivery latencies in 10 us buckets up to 10 s (a histogram: 200 clients
 * x 100,000 messages would not fit as samples). */
#define HIST_BUCKETS 1000000
typedef struct {
	uint32_t *b;
	uint64_t n;
} hist;

static void hist_add(hist *h, double us)
{
	long i = us < 0 ? 0 : (long)(us / 10);
	h->b[i < HIST_BUCKETS ? i : HIST_BUCKETS - 1]++;
	h->n++;
}

static double hist_pct(const hist *h, double p)
{
	uint64_t want = (uint64_t)(p * (double)h->n), seen = 0;
	for (long i = 0; i < HIST_BUCKETS; i++)
		if ((seen += h->b[i]) > want)
			return (double)i * 10 / 1e3;
	return 10e3;
}

typedef struct fanout fanout;
typedef struct {
	fanout *fo;
	int idx;
	rawws *c;
} fo_rx;

struct fanout {
	size_t m; /* messages */
	int receivers;
	double *sent;  /* intended send time of each message (us) */
	double *last;  /* when its last receiver got it */
	int *count;    /* receivers that got it */
	uint8_t *seen; /* receivers x m bits: duplicates */
	uint64_t dups, stray;
	hist h; /* per delivery */
};

/* A receiver's frame: sendMessage "bench <seq>" counts (the gateway
 * renders "type" first, so a prefix test skips the rest cheaply). */
static void fo_frame(void *ud, const char *data, size_t len)
{
	static const char pre[] = "{\"type\":\"sendMessage\"", key[] = "\"text\":\"bench ";
	fo_rx *rx = ud;
	fanout *fo = rx->fo;
	if (len < sizeof pre - 1 || memcmp(data, pre, sizeof pre - 1))
		return;
	const char *t = memmem(data, len, key, sizeof key - 1);
	unsigned long seq;
	if (!t || !seq_at(t + sizeof key - 1, data + len, &seq) || seq >= fo->m ||
	    fo->sent[seq] == 0) {
		fo->stray++;
		return;
	}
	size_t bit = (size_t)rx->idx * fo->m + seq;
	if (fo->seen[bit / 8] & (1u << (bit % 8))) {
		fo->dups++;
		return;
	}
	fo->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	double now = now_us();
	hist_add(&fo->h, now - fo->sent[seq]);
	fo->last[seq] = now;
	fo->count[seq]++;
}

/* `receivers` raw connections (root) in one text room, the first
 * `senders` of them also sending. window > 0: closed loop, each sender
 * keeps `window` messages in flight (a message leaves the window when
 * every receiver has it). rate > 0: open loop, each sender sends `rate`
 * messages per second on a fixed schedule and latency counts from the
 * intended send time (no coordinated omission). Reports deliveries/s
 * (sendMessage frames received), per-delivery p50/p99, the p99 of "every
 * receiver has it", lost and duplicated. */
static void fanout_run(const char *what, int receivers, int senders, int window, double rate,
		       size_t m)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char room[64], name[64];
	snprintf(name, sizeof name, "fanout-%s", uniq());
	make_room(a, name, room);

	fanout fo = {.m = m, .receivers = receivers};
	fo.sent = calloc(m, sizeof *fo.sent);
	fo.last = calloc(m, sizeof *fo.last);
	fo.count = calloc(m, sizeof *fo.count);
	fo.seen = calloc((size_t)receivers * m / 8 + 1, 1);
	fo.h.b = calloc(HIST_BUCKETS, sizeof *fo.h.b);
	fo_rx *rx = calloc((size_t)receivers, sizeof *rx);
	int *inflight = calloc((size_t)senders, sizeof(int)), *owner = calloc(m, sizeof(int));
	CHECK(fo.sent && fo.last && fo.count && fo.seen && fo.h.b && rx && inflight && owner);
	int ep = epoll_create1(0);
	for (int i = 0; i < receivers; i++) {
		rx[i] = (fo_rx){&fo, i, rawws_open(gw_port())};
		rawws_login(rx[i].c, "root@localhost", admin_password());
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &rx[i]};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, rawws_fd(rx[i].c), &ev) == 0);
	}
	/* Let the lists of those logins go by before the clock starts. */
	for (double until = now_us() + 1e6; now_us() < until;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++)
			(void)rawws_read(((fo_rx *)evs[i].data.ptr)->c, fo_frame, evs[i].data.ptr);
	}

	cpu_meter cm;
	cpu_start(&cm);
	size_t next = 0, done = 0, checked = 0;
	double t0 = now_us(), deadline = t0 + 300e6;
	char text[256];
	while (done < m && now_us() < deadline) {
		double now = now_us();
		for (int k = 0; k < senders && next < m; k++) {
			for (;;) {
				double due =
					rate > 0
						? t0 + 1e6 * (double)(next / (size_t)senders) / rate
						: now;
				if (next >= m || (rate > 0 && due > now) ||
				    (window > 0 && inflight[k] >= window))
					break;
				size_t seq = next++;
				owner[seq] = k;
				fo.sent[seq] = due;
				inflight[k]++;
				int n = snprintf(
					text, sizeof text,
					"{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"bench %zu\"}}",
					room, seq);
				rawws_send(rx[k].c, text, (size_t)n);
				if (rate > 0)
					break; /* round robin over the senders */
			}
		}
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 1);
		for (int i = 0; i < n; i++) {
			fo_rx *r = evs[i].data.ptr;
			CHECK_MSG(rawws_read(r->c, fo_frame, r) >= 0, "receiver %d: closed",
				  r->idx);
		}
		/* Messages every receiver has, in order of sending. */
		for (size_t i = checked; i < next; i++) {
			if (fo.count[i] == receivers) {
				fo.count[i] = receivers + 1; /* counted once */
				inflight[owner[i]]--;
				done++;
			}
		}
		while (checked < next && fo.count[checked] > receivers)
			checked++;
	}
	double secs = (now_us() - t0) / 1e6;
	char cpu[256];
	cpu_report(&cm, secs, fo.h.n, cpu, sizeof cpu);
	/* Stragglers: a short grace, then whatever is missing is lost. */
	for (double until = now_us() + (done < m ? 5e6 : 0.5e6); now_us() < until;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 20);
		for (int i = 0; i < n; i++)
			(void)rawws_read(((fo_rx *)evs[i].data.ptr)->c, fo_frame, evs[i].data.ptr);
	}
	uint64_t expected = (uint64_t)m * (uint64_t)receivers;
	samples all = {calloc(m, sizeof(double)), 0};
	for (size_t i = 0; i < m; i++)
		if (fo.last[i] > 0 && fo.count[i] >= receivers)
			all.v[all.n++] = (fo.last[i] - fo.sent[i]) / 1e3;
	printf("| %-44s | %7llu | %9.0f/s | %8.2f ms | %8.2f ms |\n", what,
	       (unsigned long long)fo.h.n, (double)fo.h.n / secs, hist_pct(&fo.h, 0.50),
	       hist_pct(&fo.h, 0.99));
	printf("|   %-42s | %7zu | %9.0f/s | %8.2f ms | %8.2f ms |\n",
	       "(messages: all receivers have it)", all.n, (double)all.n / secs, pct(&all, 0.50),
	       pct(&all, 0.99));
	printf("|   lost %llu, duplicated %llu, stray %llu, of %llu deliveries |\n",
	       (unsigned long long)(expected - fo.h.n), (unsigned long long)fo.dups,
	       (unsigned long long)fo.stray, (unsigned long long)expected);
	printf("|   cpu (of one core; per delivery): %s |\n", cpu);
	fflush(stdout);
	for (int i = 0; i < receivers; i++)
		rawws_close(rx[i].c);
	close(ep);
	free(all.v), free(fo.sent), free(fo.last), free(fo.count), free(fo.seen), free(fo.h.b);
	free(rx), free(inflight), free(owner);
	wsc_ctx_free(ctx);
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v && *v ? atoi(v) : def;
}

typedef struct {
	int idx, got;
} hist_rx;

/* A history client's frame: an updateText answers its request. */
static void on_history_frame(void *ud, const char *data, size_t len)
{
	static const char pre[] = "{\"type\":\"updateText\"";
	hist_rx *h = ud;
	if (len >= sizeof pre - 1 && !memcmp(data, pre, sizeof pre - 1) &&
	    memmem(data, len, "\"idx\":", 6))
		h->got++;
}

/* n raw connections, each with one getmessages (a random segment of a room
 * of 100,000 messages) in flight, for `secs` seconds. */
static void history_raw(const char *what, int n, double secs)
{
	const long total = 100000;
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char room[64], name[64], req[256];
	snprintf(name, sizeof name, "history-%s", uniq());
	make_room(a, name, room);
	sendp(a, "{\"type\":\"getmessages\",\"roomid\":\"%s\"}", room);
	json_decref(expect(a, "updateText")); /* msgsvc knows the room now */
	rawws **c = calloc((size_t)n, sizeof *c);
	hist_rx *rx = calloc((size_t)n, sizeof *rx);
	double *sent = calloc((size_t)n, sizeof *sent);
	CHECK(c && rx && sent);
	int ep = epoll_create1(0);
	for (int i = 0; i < n; i++) {
		c[i] = rawws_open(gw_port());
		rawws_login(c[i], "root@localhost", admin_password());
		rx[i].idx = i;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, rawws_fd(c[i]), &ev) == 0);
	}
	char uid[64];
	snprintf(uid, sizeof uid, "%s", login(client(ctx), "root@localhost", admin_password()));
	seed_history(room, uid, total);
	hist h = {calloc(HIST_BUCKETS, sizeof(uint32_t)), 0};
	CHECK_NOT_NULL(h.b);
	cpu_meter cm;
	cpu_start(&cm);
	double t0 = now_us(), end = t0 + secs * 1e6;
	for (int i = 0; i < n; i++) {
		int len = snprintf(req, sizeof req,
				   "{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":%ld}",
				   room, random() % (total / 5));
		sent[i] = now_us();
		rawws_send(c[i], req, (size_t)len);
	}
	int open = n;
	while (open > 0) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, 100);
		for (int e = 0; e < k; e++) {
			int i = (int)evs[e].data.u32;
			CHECK_MSG(rawws_read(c[i], on_history_frame, &rx[i]) >= 0,
				  "history: closed");
			while (rx[i].got > 0) {
				rx[i].got--;
				double now = now_us();
				hist_add(&h, now - sent[i]);
				if (now < end) {
					int len = snprintf(
						req, sizeof req,
						"{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":%ld}",
						room, random() % (total / 5));
					sent[i] = now;
					rawws_send(c[i], req, (size_t)len);
				} else {
					open--;
				}
			}
		}
		CHECK_MSG(now_us() < end + 30e6, "history bench stalled");
	}
	double took = (now_us() - t0) / 1e6;
	printf("| %-44s | %7llu | %9.0f/s | %8.2f ms | %8.2f ms |\n", what, (unsigned long long)h.n,
	       (double)h.n / took, hist_pct(&h, 0.50), hist_pct(&h, 0.99));
	char cpu[256];
	cpu_report(&cm, took, h.n, cpu, sizeof cpu);
	printf("|   cpu (of one core; per request): %s |\n", cpu);
	fflush(stdout);
	for (int i = 0; i < n; i++)
		rawws_close(c[i]);
	close(ep);
	free(c), free(rx), free(sent), free(h.b);
	wsc_ctx_free(ctx);
}

/* BENCH_FANOUT_M messages (default 20,000) for the closed loop;
 * BENCH_FANOUT_ONLY=200 or 1000 runs that scenario alone. */
static void bench_fanout(void)
{
	msg_instances();
	int only = env_int("BENCH_FANOUT_ONLY", 0); /* 200 or 1000: that one alone */
	if (only != 1000)
		fanout_run("fan-out, 200 clients, 5 senders, window 4", 200, 5, 4, 0,
			   (size_t)env_int("BENCH_FANOUT_M", 20000));
	if (only != 200)
		fanout_run("fan-out, 1000 clients, 5 senders x 20/s", 1000, 5, 0, 20, 2000);
}

static void bench_msg_test(void)
{
	bench_msg();
}
static void bench_storm_test(void)
{
	bench_storm();
}
static void bench_conns_test(void)
{
	bench_conns();
}
static void bench_history_test(void)
{
	bench_history();
}
static void bench_relay_test(void)
{
	bench_relay();
}
static void bench_presence_test(void)
{
	bench_presence();
}
static void bench_fanout_test(void)
{
	bench_fanout();
}

int main(int argc, char **argv)
{
	static const rt_test all[] = {
		{"conns", bench_conns_test},   {"msg", bench_msg_test},
		{"fanout", bench_fanout_test}, {"history", bench_history_test},
		{"relay", bench_relay_test},   {"presence", bench_presence_test},
		{"storm", bench_storm_test},   {"storm-kill", bench_storm_kill}};
	printf("| %-44s | %7s | %11s | %11s | %11s |\n", "benchmark", "n", "rate", "p50", "p99");
	printf("|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "---------",
	       "-------------", "------------", "------------");
	fflush(stdout);
	return rt_main(all, sizeof all / sizeof *all, argc, argv);
}
