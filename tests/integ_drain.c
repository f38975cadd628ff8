#define _GNU_SOURCE
/* A gateway's graceful stop (gateway/README.md "Drain"): on SIGTERM
 * /readyz says 503 at once, new WebSockets are refused, deliveries go on
 * during REBUTTAL_DRAIN_MS, then every client is closed with 1012 and the
 * closes are spread over REBUTTAL_DRAIN_SPREAD_MS. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpc.h"
#include "integ.h"
#include "list_msg.h"

enum { DRAIN_N = 6, DRAIN_MS = 1500, SPREAD_MS = 1200 };

/* GET /readyz at port: its status, or -1. */
static int readyz(int port)
{
	httpc_resp r = {0};
	int st = httpc_get("127.0.0.1", port, "/readyz", 1000, &r) == 0 ? r.status : -1;
	httpc_resp_free(&r);
	return st;
}

/* Whether c got a sendMessage of room with text (other frames dropped). */
static int got_message(wsc *c, const char *room, const char *text, int ms)
{
	for (long long until = now_ms() + ms; now_ms() < until;) {
		json_t *j = wsc_expect(c, "sendMessage", (int)(until - now_ms()));
		if (!j)
			return 0;
		json_t *m = json_object_get(j, "message");
		int hit = streq(jstr(j, "roomid"), room) && streq(jstr(m, "text"), text);
		json_decref(j);
		if (hit)
			return 1;
	}
	return 0;
}

/* pid is a live process (a zombie, which PID 1 may reap late, is not). */
static int alive(int pid)
{
	char path[64], stat[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(stat, 1, sizeof stat - 1, f);
	fclose(f);
	stat[n] = '\0';
	const char *p = strrchr(stat, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

void test_gateway_drain(void)
{
	char num[16];
	snprintf(num, sizeof num, "%d", DRAIN_MS);
	setenv("REBUTTAL_DRAIN_MS", num, 1);
	snprintf(num, sizeof num, "%d", SPREAD_MS);
	setenv("REBUTTAL_DRAIN_SPREAD_MS", num, 1);
	int port = gateway_at("gateway drain");
	unsetenv("REBUTTAL_DRAIN_MS");
	unsetenv("REBUTTAL_DRAIN_SPREAD_MS");
	CHECK_EQ_INT(readyz(port), 200);

	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx); /* on the stack's own gateway: it stays */
	char room[64], name[32];
	mt_new_room(adm, "text", room);
	who w[DRAIN_N];
	for (int i = 0; i < DRAIN_N; i++) {
		snprintf(name, sizeof name, "drainee%d", i);
		user_at(ctx, adm, "user", name, port, &w[i]);
	}
	/* One more client reads the raw bytes: libwebsockets' client shows
	 * 1012 as 1002 (wsc.h). */
	int raw = raw_login(port);
	mt_say(adm, room, "before the drain");
	for (int i = 0; i < DRAIN_N; i++)
		CHECK_MSG(got_message(w[i].c, room, "before the drain", WAIT_MS),
			  "client %d missed the message before the drain", i);

	int pid = stack_number("pids", "gateway-drain.pid");
	CHECK(pid > 0);
	long long t0 = now_ms();
	CHECK(kill(pid, SIGTERM) == 0);
	int st;
	while ((st = readyz(port)) == 200 && now_ms() - t0 < 1000)
		usleep(2000);
	long long t_ready = now_ms() - t0;
	printf("/readyz %d after %lld ms\n", st, t_ready);
	CHECK_EQ_INT(st, 503);
	CHECK_MSG(t_ready <= 100, "/readyz said 503 only %lld ms after SIGTERM", t_ready);

	/* A new WebSocket is refused; the open ones still get deliveries. */
	wsc *late = wsc_open(ctx, "127.0.0.1", port, "/ipc", 0, 2000);
	printf("a new connection during the drain: %s\n",
	       late ? "accepted" : wsc_ctx_last_error(ctx));
	CHECK_MSG(!late, "a WebSocket was accepted during the drain");
	mt_say(adm, room, "during the drain");
	for (int i = 0; i < DRAIN_N; i++)
		CHECK_MSG(got_message(w[i].c, room, "during the drain", WAIT_MS),
			  "client %d missed the message sent during the drain", i);
	CHECK_MSG(now_ms() - t0 < DRAIN_MS, "the check took longer than the drain");

	/* The closes: each client's time, code, and no `error` frame. */
	long long closed_at[DRAIN_N] = {0};
	int left = DRAIN_N;
	while (left && now_ms() - t0 < DRAIN_MS + SPREAD_MS + 5000) {
		wsc_service(ctx, 2);
		for (int i = 0; i < DRAIN_N; i++)
			if (!closed_at[i] && wsc_is_closed(w[i].c))
				closed_at[i] = now_ms() - t0, left--;
	}
	CHECK_MSG(!left, "%d clients still open %d ms after SIGTERM", left,
		  DRAIN_MS + SPREAD_MS + 5000);
	long long first = closed_at[0], last = closed_at[0];
	for (int i = 0; i < DRAIN_N; i++) {
		int code = wsc_close_code(w[i].c);
		CHECK_MSG(code == 1012 || code == 1002, "client %d closed with %d", i, code);
		CHECK_EQ_STR(wsc_close_reason(w[i].c), "service restart");
		CHECK_EQ_INT(wsc_count_type(w[i].c, "error"), 0);
		first = closed_at[i] < first ? closed_at[i] : first;
		last = closed_at[i] > last ? closed_at[i] : last;
	}
	/* Closes at DRAIN_MS + k * SPREAD_MS / n, k = 0..n-1, oldest first:
	 * n is these N and the raw client (the newest), so the last of these
	 * comes (N-1)/(N+1) of the window after the first. Slack for a
	 * shared machine. */
	long long want = (long long)SPREAD_MS * (DRAIN_N - 1) / (DRAIN_N + 1);
	printf("closes from %lld to %lld ms after SIGTERM (spread %lld ms, planned %lld)\n", first,
	       last, last - first, want);
	CHECK_MSG(first >= DRAIN_MS - 50, "the first close came %lld ms after SIGTERM", first);
	CHECK_MSG(last - first >= want - 150 && last - first <= want + 400,
		  "closes spread over %lld ms, not about %lld", last - first, want);
	/* The close frame as sent: opcode 8, 17 bytes, 1012, the reason. */
	raw_wait_for(raw, "\x88\x11\x03\xf4service restart");
	close(raw);
	/* Then it stops on its own. */
	while (alive(pid) && now_ms() - t0 < DRAIN_MS + SPREAD_MS + 8000)
		usleep(20000);
	printf("the gateway ended %lld ms after SIGTERM\n", now_ms() - t0);
	CHECK_MSG(!alive(pid), "the gateway is still there after its drain");
	CHECK_EQ_INT(stack("kill gateway-drain TERM", NULL, 0), 0);
	wsc_ctx_free(ctx);
}
