#define _GNU_SOURCE
/* The gateway's limits (gateway/limits.c): what an anonymous or abusive
 * client can hold and how fast it can send. Each test starts a gateway of
 * its own with short settings (scripts/test.sh turns the per-address cap
 * and the user rate off for the shared stack, whose clients all come from
 * 127.0.0.1 at machine speed). Sockets that must not read or must stall
 * mid-message are raw TCP sockets speaking just enough WebSocket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integ.h"

static int gateway_pid(const char *name)
{
	char file[64];
	snprintf(file, sizeof file, "gateway-%s.pid", name);
	int pid = stack_number("pids", file);
	CHECK_MSG(pid > 0, "no pid in the stack's pids/%s", file);
	return pid;
}

/* VmRSS of pid in KiB. */
static long rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	CHECK_NOT_NULL(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void fd_limit_at_least(rlim_t n)
{
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < n) {
		rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
	CHECK_MSG(rl.rlim_cur >= n, "RLIMIT_NOFILE %llu < %llu", (unsigned long long)rl.rlim_cur,
		  (unsigned long long)n);
}

/* ------------------------------------------------- raw WebSocket sockets */

/* One raw client socket and what the server sent it, parsed as far as
 * this test cares: the 101, the `connect` frame, a close frame. */
typedef struct {
	int fd;
	unsigned char in[8192];
	size_t have;
	int upgraded, connected, closed, code;
	char reason[64];
	long long opened, closed_at;
} anon_sock;

static void anon_open(anon_sock *r, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char req[256];
	memset(r, 0, sizeof *r);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_MSG(r->fd >= 0, "socket: %s", strerror(errno));
	CHECK_MSG(connect(r->fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
		  strerror(errno));
	int n = snprintf(req, sizeof req,
			 "GET /ipc HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n",
			 port);
	CHECK(write(r->fd, req, (size_t)n) == n);
	CHECK(fcntl(r->fd, F_SETFL, O_NONBLOCK) == 0);
	r->opened = now_ms();
}

/* Parses whole server frames at the front of r->in. */
static void anon_parse(anon_sock *r)
{
	if (!r->upgraded) {
		unsigned char *end = memmem(r->in, r->have, "\r\n\r\n", 4);
		if (!end)
			return;
		CHECK_MSG(!memcmp(r->in, "HTTP/1.1 101", 12), "handshake: %.40s", r->in);
		size_t used = (size_t)(end + 4 - r->in);
		memmove(r->in, r->in + used, r->have - used);
		r->have -= used;
		r->upgraded = 1;
	}
	while (r->have >= 2) {
		size_t len = r->in[1] & 0x7f, h = 2;
		if (len == 126) {
			if (r->have < 4)
				return;
			len = (size_t)r->in[2] << 8 | r->in[3];
			h = 4;
		}
		CHECK_MSG(len < 127 || h == 4, "unexpected big frame to an anonymous socket");
		if (r->have < h + len)
			return;
		int op = r->in[0] & 0x0f;
		if (op == 1 && memmem(r->in + h, len, "\"connect\"", 9))
			r->connected = 1;
		if (op == 8 && len >= 2) {
			r->code = r->in[h] << 8 | r->in[h + 1];
			snprintf(r->reason, sizeof r->reason, "%.*s", (int)(len - 2),
				 r->in + h + 2);
		}
		memmove(r->in, r->in + h + len, r->have - h - len);
		r->have -= h + len;
	}
}

/* Reads what is there; notes the end of the stream. */
static void anon_read(anon_sock *r)
{
	if (r->closed)
		return;
	for (;;) {
		ssize_t n = read(r->fd, r->in + r->have, sizeof r->in - r->have);
		if (n > 0) {
			r->have += (size_t)n;
			anon_parse(r);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		r->closed = 1; /* FIN, or a reset */
		r->closed_at = now_ms();
		return;
	}
}

/* Polls n sockets for up to ms, reading whatever comes. */
static void anon_pump(anon_sock *rs, size_t n, int ms)
{
	struct pollfd *p = calloc(n, sizeof *p);
	CHECK_NOT_NULL(p);
	for (size_t i = 0; i < n; i++) {
		p[i].fd = rs[i].closed ? -1 : rs[i].fd;
		p[i].events = POLLIN;
	}
	if (poll(p, (nfds_t)n, ms) > 0)
		for (size_t i = 0; i < n; i++)
			if (p[i].revents)
				anon_read(&rs[i]);
	free(p);
}

/* Opens n sockets in batches (a full listen backlog would make connect
 * wait a second) and waits for each to be upgraded and, unless it is
 * refused, to get `connect`. */
static void anon_open_many(anon_sock *rs, size_t n, int port)
{
	enum { BATCH = 50 };
	for (size_t i = 0; i < n; i += BATCH) {
		size_t m = n - i < BATCH ? n - i : BATCH;
		for (size_t k = 0; k < m; k++)
			anon_open(&rs[i + k], port);
		long long until = now_ms() + WAIT_MS;
		for (;;) {
			size_t done = 0;
			for (size_t k = 0; k < m; k++)
				done += rs[i + k].connected || rs[i + k].closed;
			if (done == m)
				break;
			CHECK_MSG(now_ms() < until, "sockets %zu..%zu: %zu of %zu answered", i,
				  i + m, done, m);
			anon_pump(rs + i, m, 100);
		}
	}
}

/* ------------------------------------------------------ login deadline */

/* 1,000 sockets that never log in are closed at the 2 s deadline (1008
 * "login timeout"); the 1,001st to 1,050th from the same address are
 * refused at once (cap 1,000), and a socket whose login is still being
 * answered (authsvc stopped meanwhile) is not closed by the deadline. */
void test_gateway_login_deadline(void)
{
	enum { CAP = 1000, EXTRA = 50, DEADLINE = 2000 };
	static const char *const settings[] = {"REBUTTAL_ANON_TIMEOUT_MS=2000",
					       "REBUTTAL_ANON_PER_ADDR=1000",
					       "REBUTTAL_ANON_CAP_EXEMPT=", NULL};
	fd_limit_at_least(CAP + EXTRA + 256);
	int port = gateway_with("gateway anon", settings);
	static anon_sock idle[CAP - 1], extra[EXTRA], waiting;

	/* The one whose login waits: authsvc is stopped until after the
	 * others' deadline, so the login is in flight all that time. No
	 * CHECK may end the test while authsvc is stopped. */
	long long t0 = now_ms();
	anon_open_many(idle, CAP - 1, port);
	anon_open_many(&waiting, 1, port);
	long long opened = now_ms() - t0;
	anon_open_many(extra, EXTRA, port);
	CHECK_EQ_INT(stack("kill authsvc STOP", NULL, 0), 0);
	char login[256];
	snprintf(
		login, sizeof login,
		"{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\",\"protocol\":\"v1\"}",
		admin_password());
	raw_send(waiting.fd, login);
	long long until = now_ms() + DEADLINE + 2500;
	size_t closed = 0;
	while (now_ms() < until) {
		anon_pump(idle, CAP - 1, 100);
		anon_pump(extra, EXTRA, 0);
		anon_pump(&waiting, 1, 0);
	}
	long anon_mid = metric_at(port, "rebuttal_gateway_anonymous");
	stack("kill authsvc CONT", NULL, 0);

	long long first = -1, last = -1;
	size_t coded = 0, refused = 0;
	for (size_t i = 0; i < CAP - 1; i++) {
		if (!idle[i].closed)
			continue;
		closed++;
		long long after = idle[i].closed_at - idle[i].opened;
		first = first < 0 || after < first ? after : first;
		last = after > last ? after : last;
		coded += idle[i].code == 1008 && !strcmp(idle[i].reason, "login timeout");
	}
	for (size_t i = 0; i < EXTRA; i++)
		refused += extra[i].closed && !extra[i].connected && extra[i].code == 1008;
	printf("login deadline: %d sockets opened in %lld ms; %zu of %d idle ones closed "
	       "%lld..%lld ms after opening (%zu with 1008 \"login timeout\"); %zu of %d over "
	       "the cap refused; the one logging in: %s; anonymous then: %ld\n",
	       CAP, opened, closed, CAP - 1, first, last, coded, refused, EXTRA,
	       waiting.closed ? "closed" : "open", anon_mid);
	CHECK_EQ_INT(closed, CAP - 1);
	CHECK_EQ_INT(coded, CAP - 1);
	CHECK_MSG(first >= DEADLINE - 100 && last <= DEADLINE + 2000,
		  "closed %lld..%lld ms after opening", first, last);
	CHECK_EQ_INT(refused, EXTRA);
	CHECK_MSG(!waiting.closed, "the socket whose login was in flight was closed");
	CHECK_EQ_INT(anon_mid, 1);
	raw_wait_for(waiting.fd, "\"welcome\"");
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_login_timeouts_total"), CAP - 1);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_anonymous_refused_total"), EXTRA);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_anonymous"), 0);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_connections"), 1);
	for (size_t i = 0; i < CAP - 1; i++)
		close(idle[i].fd);
	for (size_t i = 0; i < EXTRA; i++)
		close(extra[i].fd);
	close(waiting.fd);
	stack("kill gateway-anon TERM", NULL, 0);
}

/* -------------------------------------------------- unfinished messages */

/* Writes the header of a masked text frame announcing `announced` bytes
 * and the first `sent` bytes of its payload (spaces), then stops. */
static void send_partial(int fd, size_t announced, size_t sent)
{
	unsigned char hdr[14] = {0x81, 0x80 | 127};
	for (int i = 0; i < 8; i++)
		hdr[2 + i] = (unsigned char)((uint64_t)announced >> (56 - 8 * i));
	memset(hdr + 10, 0, 4); /* mask 0: the payload goes as is */
	CHECK(write(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr);
	static char chunk[65536];
	memset(chunk, ' ', sizeof chunk);
	for (size_t off = 0; off < sent;) {
		size_t n = sent - off < sizeof chunk ? sent - off : sizeof chunk;
		ssize_t w = write(fd, chunk, n);
		CHECK_MSG(w > 0, "write: %s", strerror(errno));
		off += (size_t)w;
	}
}

/* Reads until the server closes: a close frame (the server's frames are
 * ASCII JSON after their headers, so a 0x88 byte followed by a short
 * length is one), the end of the stream or a reset. 1 when it did within
 * ms. (After a close frame lws waits a while for the client's answer
 * before it drops the socket; the buffer is freed before that.) */
static int closed_within(int fd, int ms)
{
	unsigned char buf[65536];
	long long until = now_ms() + ms;
	while (now_ms() < until) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		for (ssize_t i = 0; i + 1 < n; i++)
			if (buf[i] == 0x88 && buf[i + 1] < 126)
				return 1;
	}
	return 0;
}

static long wait_metric(int port, const char *name, long want, int ms)
{
	long v = -1;
	long long until = now_ms() + ms;
	while ((v = metric_at(port, name)) < want && now_ms() < until)
		usleep(50 * 1000);
	return v;
}

/* Ten logged-in connections each stall 11 MiB into a 12 MiB frame: all
 * are closed at the 5 s deadline (long enough for a sanitized gateway to
 * take all ten first), and the gateway's RSS comes back near where it
 * was. Twice: glibc's own mmap threshold would grow to the size of the
 * first round's buffers, and the second round's would stay in the heap. */
static void partial_round(int port, int pid, int round, long start)
{
	enum { N = 10, DEADLINE = 5000 };
	const size_t sent = (size_t)11 << 20, announced = (size_t)12 << 20;
	long timeouts = metric_at(port, "rebuttal_gateway_partial_timeouts_total");
	int fds[N];
	for (int i = 0; i < N; i++)
		fds[i] = raw_login(port);
	usleep(300 * 1000);
	long before = rss_kib(pid);
	long long t0 = now_ms();
	for (int i = 0; i < N; i++)
		send_partial(fds[i], announced, sent);
	long long sent_ms = now_ms() - t0;
	long held = wait_metric(port, "rebuttal_gateway_partial_bytes", (long)(N * sent), WAIT_MS);
	long peak = rss_kib(pid);
	int closed = 0;
	for (int i = 0; i < N; i++)
		closed += closed_within(fds[i], DEADLINE + 3000);
	long long took = now_ms() - t0;
	for (int i = 0; i < N; i++)
		close(fds[i]);
	usleep(500 * 1000);
	long after = rss_kib(pid);
	printf("partial deadline, round %d: %d x %zu MiB sent in %lld ms, %ld bytes held; RSS "
	       "%ld KiB at the start, %ld before, %ld holding them, %ld after; %d closed within "
	       "%lld ms\n",
	       round, N, sent >> 20, sent_ms, held, start, before, peak, after, closed, took);
	CHECK_EQ_INT(held, (long)(N * sent));
	CHECK_EQ_INT(closed, N);
	CHECK_MSG(took >= DEADLINE - 100, "closed after %lld ms, before the deadline", took);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_partial_timeouts_total"), timeouts + N);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_partial_bytes"), 0);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_partial_messages"), 0);
	CHECK_MSG(peak - before > 80 * 1024, "RSS grew by %ld KiB only: were they held?",
		  peak - before);
#if !defined(__SANITIZE_ADDRESS__)
	/* (AddressSanitizer keeps freed memory in quarantine.) */
	CHECK_MSG(after - start < 24 * 1024, "RSS still %ld KiB above where it was", after - start);
#endif
}

void test_gateway_partial_deadline(void)
{
	static const char *const settings[] = {"REBUTTAL_PARTIAL_TIMEOUT_MS=5000",
					       "REBUTTAL_PARTIAL_RATE=0",
					       "REBUTTAL_PARTIAL_MAX_BYTES=268435456", NULL};
	int port = gateway_with("gateway partial", settings);
	int pid = gateway_pid("partial");
	long start = rss_kib(pid);
	partial_round(port, pid, 1, start);
	partial_round(port, pid, 2, start);
	stack("kill gateway-partial TERM", NULL, 0);
}

/* The unfinished messages of all connections hold at most 16 MiB: the
 * second 11 MiB one is closed at once (1009), the first stays until its
 * deadline. */
void test_gateway_partial_cap(void)
{
	static const char *const settings[] = {"REBUTTAL_PARTIAL_TIMEOUT_MS=4000",
					       "REBUTTAL_PARTIAL_RATE=0",
					       "REBUTTAL_PARTIAL_MAX_BYTES=16777216", NULL};
	const size_t sent = (size_t)11 << 20, announced = (size_t)12 << 20;
	int port = gateway_with("gateway pcap", settings);
	int a = raw_login(port), b = raw_login(port);
	send_partial(a, announced, sent);
	CHECK_EQ_INT(wait_metric(port, "rebuttal_gateway_partial_bytes", (long)sent, WAIT_MS),
		     (long)sent);
	long long t0 = now_ms();
	send_partial(b, announced, sent);
	CHECK_MSG(closed_within(b, 2000), "the connection over the cap was not closed");
	long long b_ms = now_ms() - t0;
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_partial_refused_total"), 1);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_partial_bytes"), (long)sent);
	CHECK_MSG(!closed_within(a, 500), "the connection under the cap was closed too");
	CHECK_MSG(closed_within(a, 5000), "the first was not closed at its deadline");
	printf("partial cap: the second 11 MiB message closed after %lld ms; the first at its "
	       "deadline\n",
	       b_ms);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_partial_bytes"), 0);
	close(a), close(b);
	stack("kill gateway-pcap TERM", NULL, 0);
}

/* ----------------------------------------------------------------- rates */

/* `contextoption` is accepted and answered with nothing: every frame a
 * sender gets back is a refusal. */
static void send_many(wsc *c, int n)
{
	for (int i = 0; i < n; i++)
		sendp(c, "{\"type\":\"contextoption\",\"context\":\"user\",\"option\":\"o%d\"}", i);
}

static int count_refused(wsc *c, int ms)
{
	int n = 0;
	json_t *j;
	while ((j = wsc_recv(c, ms))) {
		const char *m = jstr(j, "message");
		n += streq(jstr(j, "type"), "error") && m && strstr(m, "too many packets");
		json_decref(j);
	}
	return n;
}

/* Burst 50 then 2/s per user: 60 packets at once get 10 or so refused
 * with `error` and the connection stays; the user's second connection
 * shares the bucket; 300 more close the connection (more than 100
 * refusals within 10 s); another user is not affected at any point. */
void test_gateway_user_rate(void)
{
	static const char *const settings[] = {"REBUTTAL_USER_RATE=2", "REBUTTAL_USER_BURST=50",
					       "REBUTTAL_RATE_STRIKES=100",
					       "REBUTTAL_RATE_STRIKES_MS=10000", NULL};
	int port = gateway_with("gateway rate", settings);
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	who a, b;
	users_at(ctx, adm, port, "rater", &a, "bystander", &b, NULL);
	wsc *a2 = second_conn(ctx, &a, port);
	wsc_service(ctx, 300);
	json_t *j;
	while ((j = wsc_recv(a.c, 0)))
		json_decref(j);

	send_many(a.c, 60);
	int moderate = count_refused(a.c, 500);
	send_many(a2, 5);
	int shared = count_refused(a2, 500);
	send_many(b.c, 40);
	int other = count_refused(b.c, 500);
	printf("user rate: 60 at once -> %d refused; then 5 on the same user's other "
	       "connection -> %d refused; 40 from another user -> %d refused\n",
	       moderate, shared, other);
	CHECK_MSG(moderate >= 5 && moderate <= 10, "%d refused", moderate); /* 2/s refill */
	CHECK_MSG(!wsc_is_closed(a.c), "closed at moderate abuse");
	CHECK_MSG(shared >= 4, "the second connection has a bucket of its own (%d refused)",
		  shared);
	CHECK_EQ_INT(other, 0);

	send_many(a.c, 300);
	int code = wsc_wait_closed(a.c, WAIT_MS);
	printf("user rate: 300 more -> closed with %d; refused in all %ld, closed %ld\n", code,
	       metric_at(port, "rebuttal_gateway_rate_refused_total"),
	       metric_at(port, "rebuttal_gateway_rate_closed_total"));
	/* The gateway sends close 1008 and closes; a client still sending
	 * then may lose that frame to the TCP reset its unread packets cause
	 * (a reset discards what the receiver has not read yet: seen under
	 * ASan). The close itself must happen, and be the rate's. */
	CHECK_MSG(code == 1008 || code == 0, "closed with %d, not 1008", code);
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_rate_closed_total"), 1);
	CHECK(!wsc_is_closed(b.c) && !wsc_is_closed(a2));
	send_many(b.c, 5);
	CHECK_EQ_INT(count_refused(b.c, 300), 0);
	sendp(b.c, "{\"type\":\"getmessages\",\"roomid\":\"%s\"}", a.id);
	expect_error(b.c, "room"); /* answered by msgsvc, not refused here */
	wsc_ctx_free(ctx);
	stack("kill gateway-rate TERM", NULL, 0);
}

/* ---------------------------------------------------------------- relays */

enum { PINGS = 64 };

/* Two pairs of users on one gateway: a and b bounce `letmesee` (when
 * flooding), c pings d with `video` every 150 ms and d answers each. */
typedef struct {
	who a, b, c, d;
	long long ping_sent[PINGS];
	double rtt[PINGS];
	int pings, pongs;
	long a_sent, b_got, a_got;
} relay_run;

static int cmp_dbl(const void *x, const void *y)
{
	double p = *(const double *)x, q = *(const double *)y;
	return p < q ? -1 : p > q;
}

/* Takes every frame queued on c: `video`/`letmesee` from `from` get fn. */
static void take(wsc *c, const char *type, const char *from, relay_run *r,
		 void (*fn)(relay_run *, json_t *))
{
	json_t *j;
	while ((j = wsc_recv(c, 0))) {
		if (fn && streq(jstr(j, "type"), type) && streq(jstr(j, "fromuserid"), from))
			fn(r, j);
		json_decref(j);
	}
}

static void on_ping(relay_run *r, json_t *j)
{
	json_t *p = json_object_get(j, "payload");
	sendp(r->d.c, "{\"type\":\"video\",\"touserid\":\"%s\",\"payload\":{\"seq\":%lld}}",
	      r->c.id, json_integer_value(json_object_get(p, "seq")));
}

static void on_pong(relay_run *r, json_t *j)
{
	long long seq = json_integer_value(json_object_get(json_object_get(j, "payload"), "seq"));
	if (seq >= 0 && seq < r->pings && r->rtt[seq] < 0) {
		r->rtt[seq] = (double)(now_ms() - r->ping_sent[seq]);
		r->pongs++;
	}
}

static void on_bounce_b(relay_run *r, json_t *j)
{
	(void)j;
	r->b_got++;
	sendp(r->b.c, "{\"type\":\"letmesee\",\"touserid\":\"%s\",\"message\":{\"sdp\":\"x\"}}",
	      r->a.id);
}

static void on_bounce_a(relay_run *r, json_t *j)
{
	(void)j;
	r->a_got++;
	sendp(r->a.c, "{\"type\":\"letmesee\",\"touserid\":\"%s\",\"message\":{\"sdp\":\"x\"}}",
	      r->b.id);
}

/* Runs for ms: pings every 150 ms and, when flooding, a sends 10
 * `letmesee` to b per turn and both bounce what they get. Returns the
 * first ping's index. */
static int relay_phase(relay_run *r, wsc_ctx *ctx, int ms, int flood)
{
	int first = r->pings;
	long long end = now_ms() + ms, next_ping = 0;
	while (now_ms() < end || r->pongs < r->pings) {
		if (now_ms() > end + WAIT_MS)
			break;
		if (now_ms() < end && now_ms() >= next_ping && r->pings < PINGS) {
			r->rtt[r->pings] = -1;
			r->ping_sent[r->pings] = now_ms();
			sendp(r->c.c,
			      "{\"type\":\"video\",\"touserid\":\"%s\",\"payload\":{\"seq\":%d}}",
			      r->d.id, r->pings);
			r->pings++;
			next_ping = now_ms() + 150;
		}
		if (flood && now_ms() < end) {
			for (int i = 0; i < 10; i++, r->a_sent++)
				sendp(r->a.c,
				      "{\"type\":\"letmesee\",\"touserid\":\"%s\",\"message\":"
				      "{\"n\":%ld}}",
				      r->b.id, r->a_sent);
		}
		wsc_service(ctx, 2);
		take(r->d.c, "video", r->c.id, r, on_ping);
		take(r->c.c, "video", r->d.id, r, on_pong);
		take(r->b.c, "letmesee", r->a.id, r, flood && now_ms() < end ? on_bounce_b : NULL);
		take(r->a.c, "letmesee", r->b.id, r, flood && now_ms() < end ? on_bounce_a : NULL);
	}
	return first;
}

static void rtt_stats(const relay_run *r, int from, int to, double *p50, double *max)
{
	double v[PINGS];
	int n = 0;
	for (int i = from; i < to; i++)
		if (r->rtt[i] >= 0)
			v[n++] = r->rtt[i];
	qsort(v, (size_t)n, sizeof *v, cmp_dbl);
	*p50 = n ? v[n / 2] : -1;
	*max = n ? v[n - 1] : -1;
}

static void count_only(relay_run *r, json_t *j)
{
	(void)j;
	r->b_got++;
}

/* a sends `letmesee` to b as fast as it can for 2 s and both bounce what
 * they get: b gets the burst (20) and then 10/s, the rest is dropped and
 * counted, and c's `video` pings to d meanwhile are all answered, about as
 * fast as without the flood. */
void test_gateway_relay_limit(void)
{
	enum { BURST = 20, RATE = 10, FLOOD_MS = 2000 };
	static const char *const settings[] = {"REBUTTAL_RELAY_RATE=10", "REBUTTAL_RELAY_BURST=20",
					       NULL};
	int port = gateway_with("gateway relay", settings);
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	static relay_run r;
	user_at(ctx, adm, "user", "bouncea", port, &r.a);
	user_at(ctx, adm, "user", "bounceb", port, &r.b);
	user_at(ctx, adm, "user", "pingc", port, &r.c);
	user_at(ctx, adm, "user", "pongd", port, &r.d);
	wsc_service(ctx, 300);

	int base0 = relay_phase(&r, ctx, 1500, 0), base1 = r.pings;
	long dropped0 = metric_at(port, "rebuttal_gateway_relays_dropped_total");
	long long t0 = now_ms();
	int flood0 = relay_phase(&r, ctx, FLOOD_MS, 1), flood1 = r.pings;
	long long took = now_ms() - t0;
	/* What was still on its way when the flood stopped. */
	for (long long end = now_ms() + 500; now_ms() < end;) {
		wsc_service(ctx, 10);
		take(r.b.c, "letmesee", r.a.id, &r, count_only);
	}
	long dropped = metric_at(port, "rebuttal_gateway_relays_dropped_total") - dropped0;
	double b50, bmax, f50, fmax;
	rtt_stats(&r, base0, base1, &b50, &bmax);
	rtt_stats(&r, flood0, flood1, &f50, &fmax);
	long most = BURST + RATE * (took + 999) / 1000 + 2;
	printf("relay limit: a sent %ld letmesee to b in %lld ms (and bounced %ld back); b got "
	       "%ld (burst %d + %d/s: %ld at most); %ld dropped\n",
	       r.a_sent, took, r.a_got, r.b_got, BURST, RATE, most, dropped);
	printf("relay limit: c->d->c video round trip p50 %.0f ms, max %.0f ms without the flood; "
	       "p50 %.0f ms, max %.0f ms during it; %d of %d pings answered\n",
	       b50, bmax, f50, fmax, r.pongs, r.pings);
	CHECK_MSG(r.b_got >= BURST && r.b_got <= most, "b got %ld", r.b_got);
	CHECK_MSG(dropped >= r.a_sent - r.b_got, "%ld dropped of %ld sent, %ld relayed", dropped,
		  r.a_sent, r.b_got);
	CHECK_EQ_INT(r.pongs, r.pings);
	CHECK_MSG(fmax < 500, "a ping took %.0f ms during the flood", fmax);
	CHECK(!wsc_is_closed(r.a.c) && !wsc_is_closed(r.b.c));
	wsc_ctx_free(ctx);
	stack("kill gateway-relay TERM", NULL, 0);
}
