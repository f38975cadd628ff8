/* loadgen SCENARIO: drives one service over NATS (tests/load/README.md).
 *
 * Modes: open (a fixed rate; latency from each request's INTENDED send
 * time, so a stalled service is not hidden by a stalled sender), step (open
 * loop at rising rates until p99 passes the limit; reports the knee) and
 * closed (N in flight). Each run prints one table row and one JSON line:
 * latency percentiles from a log-bucketed histogram, errors by code,
 * timeouts, the service's CPU (every instance's pid) and the generator's
 * own CPU, which must stay well under one core for the figures to be the
 * service's. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "config.h"
#include "loadgen.h"
#include "log.h"
#include "part.h"
#include "proc.h"
#include "svc.h"
#include "uuid.h"

static const cfg_field settings[] = {
	/* Its NATS user publishes requests of every service and the gateway's
	 * events. */
	PART_CFG_NATS(lg_config),
	CFG_S("REBUTTAL_STACK_DIR", lg_config, stack_dir, "",
	      "stack folder: the service's pids are in its pids/ (for CPU)"),
	CFG_S("REBUTTAL_LOAD_PIDS", lg_config, pids, "",
	      "pids of the service's instances, comma-separated (instead of the stack folder)"),
	CFG_S("REBUTTAL_LOAD_MODE", lg_config, mode, "open",
	      "open (fixed rate), step (rising rate to the knee) or closed (N in flight)"),
	CFG_I("REBUTTAL_LOAD_RATE", lg_config, rate, 100, 1, 1000000,
	      "open: requests per second; step: the first step's"),
	CFG_I("REBUTTAL_LOAD_RATE_MAX", lg_config, rate_max, 20000, 1, 1000000,
	      "step: highest rate tried"),
	CFG_I("REBUTTAL_LOAD_STEP_PCT", lg_config, step_pct, 150, 101, 1000,
	      "step: each rate is this percentage of the one before"),
	CFG_I("REBUTTAL_LOAD_SECS", lg_config, secs, 5, 1, 600,
	      "seconds per run (per step in step mode)"),
	CFG_I("REBUTTAL_LOAD_RETRIES", lg_config, retries, 1, 0, 5,
	      "step: a failed step is run again this often before it ends the search"),
	CFG_I("REBUTTAL_LOAD_INFLIGHT", lg_config, inflight, 16, 1, 10000,
	      "closed: requests in flight"),
	CFG_I("REBUTTAL_LOAD_P99_MS", lg_config, p99_limit_ms, 50, 1, 60000,
	      "step: the knee is the highest rate whose p99 stays under this"),
	CFG_I("REBUTTAL_LOAD_TIMEOUT_MS", lg_config, timeout_ms, 2000, 10, 120000,
	      "envelope deadline and reply wait"),
	CFG_I("REBUTTAL_LOAD_ACCOUNTS", lg_config, accounts, 1000, 0, 100000,
	      "room.lists: accounts seeded into the directory"),
	CFG_I("REBUTTAL_LOAD_USERS", lg_config, users, 32, 2, 10000,
	      "acting users (each with a connection on the fake gateway)"),
	CFG_I("REBUTTAL_LOAD_ROOMS", lg_config, rooms, 1, 1, 64,
	      "msg.*: text rooms the messages spread over (a room's writes are ordered: one thread)"),
	CFG_I("REBUTTAL_LOAD_IMAGE_KIB", lg_config, image_kib, 100, 1, 8192,
	      "msg.image: attachment size in KiB"),
	CFG_S("REBUTTAL_LOAD_LABEL", lg_config, label, "",
	      "label of the result rows, e.g. \"2 instances\""),
	CFG_S("REBUTTAL_LOAD_JSON", lg_config, json, "", "file to append one JSON line per run to"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

/* ------------------------------------------------------------ histogram */

/* 16 buckets per power of two of microseconds: a percentile is off by at
 * most 1/16 (6 %). Values up to 2^34 us. */
#define SUB 16
#define OCTAVES 35
#define NB (SUB * OCTAVES)

typedef struct {
	atomic_ulong b[NB];
	atomic_ulong n, max_us;
	atomic_ulong codes[SVC_NCODES + 1]; /* +1: undecodable */
	atomic_ulong timeouts, sent, outstanding;
} stats;

static size_t bucket_of(uint64_t us)
{
	if (us < SUB)
		return (size_t)us;
	int e = 63 - __builtin_clzll(us); /* >= 4 */
	size_t i = (size_t)(e - 3) * SUB + (size_t)((us >> (e - 4)) & (SUB - 1));
	return i < NB ? i : NB - 1;
}

static double bucket_top_ms(size_t i)
{
	if (i < SUB)
		return (double)(i + 1) / 1e3;
	int e = (int)(i / SUB) + 3;
	double lo = (double)(1ULL << e) + (double)(i % SUB) * (double)(1ULL << (e - 4));
	return (lo + (double)(1ULL << (e - 4))) / 1e3;
}

static void observe(stats *s, uint64_t us)
{
	atomic_fetch_add_explicit(&s->b[bucket_of(us)], 1, memory_order_relaxed);
	atomic_fetch_add(&s->n, 1);
	unsigned long m = atomic_load(&s->max_us);
	while (us > m && !atomic_compare_exchange_weak(&s->max_us, &m, us))
		;
}

static double pct_ms(stats *s, double p)
{
	unsigned long n = atomic_load(&s->n), seen = 0;
	if (!n)
		return 0;
	unsigned long want = (unsigned long)ceil(p * (double)n);
	for (size_t i = 0; i < NB; i++)
		if ((seen += atomic_load(&s->b[i])) >= want && seen)
			return fmin(bucket_top_ms(i), (double)atomic_load(&s->max_us) / 1e3);
	return (double)atomic_load(&s->max_us) / 1e3;
}

/* ------------------------------------------------------------- requests */

static lg G;
static stats *cur;

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

typedef struct {
	stats *s;
	uint64_t t0; /* intended send time (open) or the send (closed) */
	int closed;
} req;

static void send_one(uint64_t i, uint64_t t0, int closed);
static atomic_ulong seq;
static atomic_int closed_stop;

/* cnats thread (reply) or the bus_tick caller (timeout). */
static void on_reply(void *ud, enum bus_result r, const void *data, size_t len)
{
	req *q = ud;
	stats *s = q->s;
	uint64_t done = now_us();
	if (r == BUS_TIMEOUT) {
		atomic_fetch_add(&s->timeouts, 1);
	} else {
		Rb__Reply *rep = rb__reply__unpack(NULL, len, data);
		size_t code = !rep                                              ? SVC_NCODES
			      : rep->has_code && (size_t)rep->code < SVC_NCODES ? (size_t)rep->code
										: 0;
		atomic_fetch_add(&s->codes[code], 1);
		if (rep)
			rb__reply__free_unpacked(rep, NULL);
		observe(s, done > q->t0 ? done - q->t0 : 0);
	}
	int closed = q->closed;
	free(q);
	/* The next one first: the run ends when nothing is outstanding. */
	if (closed && !atomic_load(&closed_stop))
		send_one(atomic_fetch_add(&seq, 1), now_us(), 1);
	atomic_fetch_sub(&s->outstanding, 1);
}

/* ------------------------------------------------ connection events */

/* Send times of the events not yet covered by an updateUsers. */
#define RING (1u << 20)
static uint64_t ring[RING];
static size_t ring_head, ring_tail;
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;

/* Event i: user i % n goes offline when online, else online again. */
static void event_one(uint64_t i, uint64_t t0)
{
	lg_user *u = &G.users[i % G.nusers];
	int open = !atomic_load(&u->online);
	pthread_mutex_lock(&ring_mu);
	int room = ring_tail - ring_head < RING;
	if (room) {
		ring[ring_tail++ % RING] = t0;
		atomic_fetch_add(&cur->sent, 1);
		atomic_fetch_add(&cur->outstanding, 1);
	}
	pthread_mutex_unlock(&ring_mu);
	if (room)
		seed_conn_event(&G, u, open);
}

/* cnats thread: an updateUsers covers every event sent before it arrived
 * (an event sent while the list was being composed is counted early: the
 * figures are a lower bound by up to one compose time). */
static void on_users_list(void)
{
	uint64_t now = now_us();
	pthread_mutex_lock(&ring_mu);
	stats *s = cur;
	for (; s && ring_head < ring_tail; ring_head++) {
		uint64_t t0 = ring[ring_head % RING];
		observe(s, now > t0 ? now - t0 : 0);
		atomic_fetch_add(&s->codes[0], 1);
		atomic_fetch_sub(&s->outstanding, 1);
	}
	pthread_mutex_unlock(&ring_mu);
}

/* After a run: events no list covered in time count as timeouts. */
static void events_end(stats *s)
{
	pthread_mutex_lock(&ring_mu);
	atomic_fetch_add(&s->timeouts, ring_tail - ring_head);
	atomic_store(&s->outstanding, 0);
	ring_head = ring_tail = 0;
	pthread_mutex_unlock(&ring_mu);
}

/* Packs request i as the gateway would and sends it. */
static void send_one(uint64_t i, uint64_t t0, int closed)
{
	if (!G.sc->build) {
		event_one(i, t0);
		return;
	}
	Rb__Envelope e = RB__ENVELOPE__INIT;
	lg_tmp t;
	lg_user *u = G.nusers ? &G.users[i % G.nusers] : NULL;
	char rid[UUID_STR_LEN + 1], subject[96];

	memset(&t, 0, sizeof t);
	G.sc->build(&G, i, &u, &e, &t);
	uuid_new(rid);
	e.request_id = rid;
	e.gateway_id = G.gw_id;
	e.conn_id = u ? u->conn : "anon";
	e.client_addr = "127.0.0.1";
	e.has_deadline_ms = 1;
	e.deadline_ms = bus_wall_ms() + G.cfg.timeout_ms;
	if (u) {
		e.user_id = u->id;
		e.n_perms = G.nperms;
		e.perms = G.perms;
	}
	snprintf(subject, sizeof subject, "rb.%s.%s", G.sc->svc, svc_envelope_type(&e));
	size_t len = protobuf_c_message_get_packed_size(&e.base);
	uint8_t *p = malloc(len ? len : 1);
	req *q = calloc(1, sizeof *q);
	atomic_fetch_add(&cur->sent, 1);
	atomic_fetch_add(&cur->outstanding, 1);
	if (p && q) {
		protobuf_c_message_pack(&e.base, p);
		*q = (req){cur, t0, closed};
		if (bus_request(G.bus, subject, p, len, (int)G.cfg.timeout_ms, 0, on_reply, q) == 0)
			q = NULL;
	}
	if (q || !p) {
		atomic_fetch_add(&cur->codes[SVC_NCODES], 1);
		atomic_fetch_sub(&cur->outstanding, 1);
	}
	free(q);
	free(p);
}

/* ------------------------------------------------------------- CPU */

static double cpu_of(int pid)
{
	char path[64], line[1024];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
	else
		snprintf(path, sizeof path, "/proc/self/stat");
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char *ok = fgets(line, sizeof line, f);
	fclose(f);
	const char *p = ok ? strrchr(line, ')') : NULL;
	unsigned long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#define MAX_PIDS 16
static int pids[MAX_PIDS], npids;
static int nats_pid, pg_pid, redis_pid; /* from the stack folder, 0 when unknown */

/* The pid in <stack>/pids/<name>.pid, or 0. */
static int stack_pid(const char *name)
{
	char path[600];
	int pid = 0;
	snprintf(path, sizeof path, "%s/pids/%s.pid", G.cfg.stack_dir, name);
	FILE *f = *G.cfg.stack_dir ? fopen(path, "r") : NULL;
	if (f && fscanf(f, "%d", &pid) != 1)
		pid = 0;
	if (f)
		fclose(f);
	return pid;
}

/* The service's pids: REBUTTAL_LOAD_PIDS, else <stack>/pids/<part>.pid and
 * <part>-<n>.pid. */
static void find_pids(const char *part)
{
	if (*G.cfg.pids) {
		for (const char *p = G.cfg.pids; *p && npids < MAX_PIDS;
		     p += strcspn(p, ","), p += !!*p)
			if (atoi(p) > 0)
				pids[npids++] = atoi(p);
		return;
	}
	char dir[512];
	snprintf(dir, sizeof dir, "%s/pids", G.cfg.stack_dir);
	DIR *d = *G.cfg.stack_dir ? opendir(dir) : NULL;
	struct dirent *de;
	size_t n = strlen(part);
	while (d && (de = readdir(d)) && npids < MAX_PIDS) {
		if (strncmp(de->d_name, part, n) || (de->d_name[n] != '.' && de->d_name[n] != '-'))
			continue;
		char path[800];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		int pid = 0;
		if (f && fscanf(f, "%d", &pid) == 1 && pid > 0)
			pids[npids++] = pid;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	nats_pid = stack_pid("nats");
	pg_pid = stack_pid("postgres");
	redis_pid = stack_pid("redis");
}

/* CPU of Redis and of PostgreSQL: the postmaster and every backend (its
 * children, found by their parent pid). */
static double store_cpu(void)
{
	double s = redis_pid ? cpu_of(redis_pid) : 0;
	if (!pg_pid)
		return s;
	s += cpu_of(pg_pid);
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		int pid = atoi(de->d_name);
		char path[64], line[512];
		if (pid <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		FILE *f = fopen(path, "r");
		char *ok = f ? fgets(line, sizeof line, f) : NULL;
		if (f)
			fclose(f);
		const char *p = ok ? strrchr(line, ')') : NULL;
		int ppid = 0;
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == pg_pid)
			s += cpu_of(pid);
	}
	if (d)
		closedir(d);
	return s;
}

static double service_cpu(void)
{
	double s = 0;
	for (int i = 0; i < npids; i++)
		s += cpu_of(pids[i]);
	return s;
}

/* ------------------------------------------------------------- /metrics */

/* GET /metrics of 127.0.0.1:port into out (NUL-terminated). 0 or -1. */
static int metrics_get(int port, char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {2, 0};
	size_t n = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	static const char rq[] =
		"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    write(fd, rq, sizeof rq - 1) < 0) {
		close(fd);
		return -1;
	}
	ssize_t r;
	while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd);
	return n ? 0 : -1;
}

/* The sum over the part's instances (ports in the stack folder) of the
 * sample whose series is exactly `series` (name and labels as printed). */
static double part_metric(const char *part, const char *series)
{
	static char body[1 << 20];
	char dir[512];
	double sum = 0;
	size_t n = strlen(part), sl = strlen(series);
	snprintf(dir, sizeof dir, "%s/ports", G.cfg.stack_dir);
	DIR *d = *G.cfg.stack_dir ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, part, n) || (de->d_name[n] && de->d_name[n] != '-'))
			continue;
		char path[800];
		int port = 0;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		if (f && fscanf(f, "%d", &port) != 1)
			port = 0;
		if (f)
			fclose(f);
		if (port <= 0 || metrics_get(port, body, sizeof body) < 0)
			continue;
		for (const char *l = body; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
			if (!strncmp(l, series, sl) && l[sl] == ' ')
				sum += atof(l + sl + 1);
	}
	if (d)
		closedir(d);
	return sum;
}

/* ------------------------------------------------------------- runs */

typedef struct {
	double rate, secs, svc_cpu, gen_cpu, nats_cpu, store_cpu, achieved, p50, p90, p99, p999,
		max;
	unsigned long ok, errors, timeouts, lists, list_bytes;
	unsigned long codes[SVC_NCODES + 1]; /* replies by code; the last: undecodable or unsent */
	double compose_ms;                   /* room.*: roomsvc's mean updateUsers flush */
	int behind;                          /* the sender could not keep the rate */
} result;

static void waitdrain(void)
{
	uint64_t until = now_us() + (uint64_t)G.cfg.timeout_ms * 1000 + 500000;
	while (atomic_load(&cur->outstanding) > 0 && now_us() < until) {
		bus_tick(G.bus);
		proc_sleep_ms(5);
	}
}

static double n0, st0; /* nats and store CPU at the start of a run */

static void summarize(stats *s, result *r, double wall, double c0, double g0)
{
	r->nats_cpu = nats_pid ? (cpu_of(nats_pid) - n0) / wall : 0;
	r->store_cpu = (store_cpu() - st0) / wall;
	r->svc_cpu = (service_cpu() - c0) / wall;
	r->gen_cpu = (cpu_of(0) - g0) / wall;
	r->ok = atomic_load(&s->codes[0]);
	r->errors = 0;
	for (size_t k = 1; k <= SVC_NCODES; k++)
		r->errors += atomic_load(&s->codes[k]);
	for (size_t k = 0; k <= SVC_NCODES; k++)
		r->codes[k] = atomic_load(&s->codes[k]);
	r->timeouts = atomic_load(&s->timeouts);
	r->achieved = (double)atomic_load(&s->n) / r->secs;
	r->p50 = pct_ms(s, 0.50);
	r->p90 = pct_ms(s, 0.90);
	r->p99 = pct_ms(s, 0.99);
	r->p999 = pct_ms(s, 0.999);
	r->max = (double)atomic_load(&s->max_us) / 1e3;
}

/* Open loop at rate for secs: request k is due at t0 + k/rate. */
static void run_open(double rate, result *r)
{
	stats *s = calloc(1, sizeof *s);
	if (!s)
		exit(1);
	cur = s;
	unsigned long l0 = atomic_load(&G.lists_seen), b0 = atomic_load(&G.lists_bytes);
	static const char
		csum[] = "roomsvc_lists_compose_duration_seconds_sum{list=\"updateUsers\"}",
		ccount[] = "roomsvc_lists_compose_duration_seconds_count{list=\"updateUsers\"}";
	int rooms = !strcmp(G.sc->part, "roomsvc");
	double s0 = rooms ? part_metric("roomsvc", csum) : 0,
	       k0 = rooms ? part_metric("roomsvc", ccount) : 0;
	double c0 = service_cpu(), g0 = cpu_of(0);
	n0 = nats_pid ? cpu_of(nats_pid) : 0;
	st0 = store_cpu();
	uint64_t t0 = now_us(), n = (uint64_t)(rate * (double)G.cfg.secs), lag_max = 0;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t due = t0 + (uint64_t)((double)k * 1e6 / rate), now = now_us();
		if (due > now + 1000) {
			bus_tick(G.bus);
			now = now_us();
			if (due > now + 100)
				usleep((useconds_t)(due - now - 50));
		}
		now = now_us();
		if (now > due && now - due > lag_max)
			lag_max = now - due;
		send_one(atomic_fetch_add(&seq, 1), due, 0);
	}
	r->rate = rate;
	r->secs = (double)G.cfg.secs;
	r->behind = lag_max > 200000;
	waitdrain();
	if (!G.sc->build)
		events_end(s);
	double wall = (double)(now_us() - t0) / 1e6;
	summarize(s, r, wall, c0, g0);
	double dk = rooms ? part_metric("roomsvc", ccount) - k0 : 0;
	r->compose_ms = dk > 0 ? (part_metric("roomsvc", csum) - s0) * 1e3 / dk : 0;
	r->lists = atomic_load(&G.lists_seen) - l0;
	r->list_bytes = r->lists ? (atomic_load(&G.lists_bytes) - b0) / r->lists : 0;
	pthread_mutex_lock(&ring_mu); /* on_users_list reads cur under it */
	cur = NULL;
	pthread_mutex_unlock(&ring_mu);
	free(s);
}

static void run_closed(result *r)
{
	stats *s = calloc(1, sizeof *s);
	if (!s)
		exit(1);
	cur = s;
	double c0 = service_cpu(), g0 = cpu_of(0);
	n0 = nats_pid ? cpu_of(nats_pid) : 0;
	st0 = store_cpu();
	uint64_t t0 = now_us();
	atomic_store(&closed_stop, 0);
	for (long k = 0; k < G.cfg.inflight; k++)
		send_one(atomic_fetch_add(&seq, 1), now_us(), 1);
	while (now_us() - t0 < (uint64_t)G.cfg.secs * 1000000) {
		bus_tick(G.bus);
		proc_sleep_ms(5);
	}
	atomic_store(&closed_stop, 1);
	r->secs = (double)(now_us() - t0) / 1e6;
	waitdrain();
	summarize(s, r, (double)(now_us() - t0) / 1e6, c0, g0);
	r->rate = 0;
	cur = NULL;
	free(s);
}

static void report(const char *mode, const result *r)
{
	const char *sc = G.sc->name;
	printf("| %-16s | %-6s | %-12s | %8.0f | %9.0f | %7.2f | %7.2f | %7.2f | %8.2f | %8.2f | %6lu | %6lu | %5.0f %% | %5.0f %% | %5.0f %% | %5.0f %% |%s\n",
	       sc, mode, G.cfg.label, r->rate, r->achieved, r->p50, r->p90, r->p99, r->p999, r->max,
	       r->errors, r->timeouts, r->svc_cpu * 100, r->gen_cpu * 100, r->nats_cpu * 100,
	       r->store_cpu * 100, r->behind ? " sender behind" : "");
	if (r->lists)
		printf("  updateUsers: %lu lists, %lu bytes each, %.2f ms per flush in roomsvc\n",
		       r->lists, r->list_bytes, r->compose_ms);
	fflush(stdout);
	/* Errors by code, as {"DENIED":3}: the names of rb.Code. */
	char codes[256] = "";
	size_t used = 0;
	for (size_t k = 1; k <= SVC_NCODES && used < sizeof codes; k++) {
		const ProtobufCEnumValue *v =
			k < SVC_NCODES ? protobuf_c_enum_descriptor_get_value(&rb__code__descriptor,
									      (int)k)
				       : NULL;
		if (r->codes[k])
			used += (size_t)snprintf(codes + used, sizeof codes - used, "%s\"%s\":%lu",
						 used ? "," : "", v ? v->name : "UNSENT",
						 r->codes[k]);
	}
	char line[1400];
	snprintf(
		line, sizeof line,
		"{\"scenario\":\"%s\",\"mode\":\"%s\",\"label\":\"%s\",\"rate\":%.0f,\"achieved\":%.1f,"
		"\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
		"\"ok\":%lu,\"errors\":%lu,\"timeouts\":%lu,\"svc_cpu\":%.3f,\"gen_cpu\":%.3f,\"nats_cpu\":%.3f,\"store_cpu\":%.3f,"
		"\"svc_instances\":%d,\"lists\":%lu,\"list_bytes\":%lu,\"compose_ms\":%.3f,\"sender_behind\":%d,\"codes\":{%s}}\n",
		sc, mode, G.cfg.label, r->rate, r->achieved, r->p50, r->p90, r->p99, r->p999,
		r->max, r->ok, r->errors, r->timeouts, r->svc_cpu, r->gen_cpu, r->nats_cpu,
		r->store_cpu, npids, r->lists, r->list_bytes, r->compose_ms, r->behind, codes);
	FILE *f = *G.cfg.json ? fopen(G.cfg.json, "a") : NULL;
	if (f) {
		fputs(line, f);
		fclose(f);
	}
	fputs(line, stderr);
}

static void header(void)
{
	printf("| %-16s | %-6s | %-12s | %8s | %9s | %7s | %7s | %7s | %8s | %8s | %6s | %6s | %7s | %7s | %7s | %7s |\n",
	       "scenario", "mode", "label", "rate/s", "replies/s", "p50 ms", "p90 ms", "p99 ms",
	       "p99.9 ms", "max ms", "errors", "t/outs", "svc CPU", "gen CPU", "NATS CPU",
	       "store CPU");
	printf("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

/* Rates rise by step_pct until p99 passes the limit, errors or timeouts
 * pass 1 %, or the sender falls behind (retries + 1 times at one rate);
 * the knee is the last rate that passed. Returns it. */
static double run_step(void)
{
	double knee = 0, rate = (double)G.cfg.rate;
	long tries = 0;
	result r;
	/* A warm-up at the first rate, not judged: fresh store connections,
	 * prepared statements and caches would make the first step look worse. */
	memset(&r, 0, sizeof r);
	run_open(rate, &r);
	report("warmup", &r);
	proc_sleep_ms(1000);
	while (rate <= (double)G.cfg.rate_max) {
		memset(&r, 0, sizeof r);
		run_open(rate, &r);
		report("step", &r);
		unsigned long total = r.ok + r.errors + r.timeouts;
		int pass = r.p99 < (double)G.cfg.p99_limit_ms && !r.behind && total &&
			   (r.errors + r.timeouts) * 100 <= total;
		if (!pass && tries++ < G.cfg.retries) {
			/* Once more at the same rate: on a shared machine one stall
			 * of another process must not end the search. */
			proc_sleep_ms(2000);
			continue;
		}
		if (!pass)
			break;
		tries = 0;
		knee = rate;
		rate = ceil(rate * (double)G.cfg.step_pct / 100.0);
		proc_sleep_ms(1000); /* let queues and lists settle */
	}
	printf("knee %s%s%s: %.0f requests/s with p99 < %ld ms\n", G.sc->name,
	       *G.cfg.label ? " " : "", G.cfg.label, knee, G.cfg.p99_limit_ms);
	fprintf(stderr,
		"{\"scenario\":\"%s\",\"label\":\"%s\",\"knee\":%.0f,\"p99_limit_ms\":%ld}\n",
		G.sc->name, G.cfg.label, knee, G.cfg.p99_limit_ms);
	FILE *f = *G.cfg.json ? fopen(G.cfg.json, "a") : NULL;
	if (f) {
		fprintf(f,
			"{\"scenario\":\"%s\",\"label\":\"%s\",\"knee\":%.0f,\"p99_limit_ms\":%ld}\n",
			G.sc->name, G.cfg.label, knee, G.cfg.p99_limit_ms);
		fclose(f);
	}
	return knee;
}

/* The command line and the settings: 0 to go on, else the exit status. */
static int args(int argc, char **argv, int *mode)
{
	if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("usage: loadgen SCENARIO   (settings from the environment)\nscenarios:\n");
		lg_scenarios_print();
		cfg_args(2, (char *[]){argv[0], "--help", NULL},
			 "loadgen: drives one service over NATS", settings, NSETTINGS);
		return argc == 2 ? -1 : 2;
	}
	if (!(G.sc = lg_scenario_find(argv[1]))) {
		fprintf(stderr, "loadgen: no scenario %s (loadgen --help lists them)\n", argv[1]);
		return 2;
	}
	if (cfg_load(settings, NSETTINGS, &G.cfg) < 0)
		return 2;
	*mode = !strcmp(G.cfg.mode, "step")     ? 's'
		: !strcmp(G.cfg.mode, "closed") ? 'c'
		: !strcmp(G.cfg.mode, "open")   ? 'o'
						: 0;
	if (!*mode) {
		fprintf(stderr, "loadgen: REBUTTAL_LOAD_MODE must be open, step or closed\n");
		return 2;
	}
	if (*mode == 'c' && !G.sc->build) {
		fprintf(stderr, "loadgen: %s sends events, not requests: open or step only\n",
			G.sc->name);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int mode = 0, rc = args(argc, argv, &mode);
	if (rc)
		return rc < 0 ? 0 : rc;
	log_init("loadgen", LOG_WARN);
	if (!G.sc->build)
		G.on_users_list = on_users_list;
	find_pids(G.sc->part);
	rc = 1;
	if (seed_connect(&G) < 0 || G.sc->setup(&G) < 0) {
		fprintf(stderr, "loadgen: %s: setup failed\n", G.sc->name);
		goto out;
	}
	result r;
	memset(&r, 0, sizeof r);
	header();
	if (mode == 's') {
		run_step();
	} else if (mode == 'c') {
		run_closed(&r);
		report("closed", &r);
	} else {
		run_open((double)G.cfg.rate, &r);
		report("open", &r);
	}
	rc = 0;
out:
	seed_stop(&G);
	if (G.bus)
		bus_close(G.bus);
	for (size_t i = 0; i < G.nperms; i++)
		free(G.perms[i]);
	free(G.perms);
	free(G.users);
	free(G.image_b64);
	free(G.text_rooms);
	return rc;
}
