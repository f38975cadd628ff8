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
	char drain[48], spread[48];
	snprintf(drain, sizeof drain, "REBUTTAL_DRAIN_MS=%d", DRAIN_MS);
	snprintf(spread, sizeof spread, "REBUTTAL_DRAIN_SPREAD_MS=%d", SPREAD_MS);
	const char *const settings[] = {drain, spread, NULL};
	int port = gateway_with("gateway drain", settings);
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

/* ------------------------------------------------- mixed versions */

enum { UP_CLIENTS = 4, UP_ROUNDS = 12, UP_MAX_IDX = 1024 };

typedef struct {
	wsc *c;
	unsigned char seen[UP_MAX_IDX]; /* sendMessage frames per idx */
	int errors;
	char first_error[160];
} up_client;

/* Takes c's frames until it has seen `want` sendMessage of room in all. */
static void up_collect(up_client *u, const char *room, int want, int *have)
{
	for (long long until = now_ms() + WAIT_MS; *have < want;) {
		CHECK_MSG(now_ms() < until, "a client saw %d of %d messages", *have, want);
		json_t *j = wsc_recv(u->c, 100);
		if (!j)
			continue;
		const char *type = jstr(j, "type");
		if (streq(type, "error")) {
			if (!u->errors++)
				snprintf(u->first_error, sizeof u->first_error, "%s",
					 jstr(j, "message") ? jstr(j, "message") : "?");
		} else if (streq(type, "sendMessage") && streq(jstr(j, "roomid"), room)) {
			long long idx = json_integer_value(
				json_object_get(json_object_get(j, "message"), "idx"));
			CHECK_MSG(idx >= 0 && idx < UP_MAX_IDX, "sendMessage idx %lld", idx);
			CHECK_MSG(!u->seen[idx]++, "sendMessage of idx %lld twice", idx);
			(*have)++;
		}
		json_decref(j);
	}
}

/* Rounds of chat: every client says one line, then every client sees all
 * of them once; *sent counts the lines so far. */
static void up_chat(up_client *u, const char *room, int rounds, int *sent, int *have)
{
	char text[32];
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < UP_CLIENTS; k++) {
			snprintf(text, sizeof text, "u%d-%d", k, *sent + k);
			mt_say(u[k].c, room, text);
		}
		*sent += UP_CLIENTS;
		for (int k = 0; k < UP_CLIENTS; k++)
			up_collect(&u[k], room, *sent, &have[k]);
	}
}

/* The room's history: idx 0..n-1 without a gap, each line once. */
static void up_check_history(wsc *v, const char *room, int n)
{
	long S = mt_seg_size();
	char *seen = calloc((size_t)n, 1);
	CHECK_NOT_NULL(seen);
	for (long long s = 0; s * S < n; s++) {
		/* The answer to getmessages, not an updateText broadcast. */
		sendp(v, "{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":%lld}", room, s);
		json_t *ut = NULL;
		while (!ut || !streq(jstr(ut, "roomid"), room) ||
		       json_integer_value(json_object_get(ut, "segment")) != s) {
			json_decref(ut);
			ut = expect(v, "updateText");
		}
		json_t *ms = mt_msgs_of(ut);
		CHECK_EQ_INT(json_array_size(ms), n - s * S < S ? n - s * S : S);
		for (size_t i = 0; i < json_array_size(ms); i++) {
			json_t *m = json_array_get(ms, i);
			int k, seq;
			CHECK_EQ_INT(json_integer_value(json_object_get(m, "idx")),
				     s * S + (long long)i);
			CHECK_MSG(sscanf(jstr(m, "text"), "u%d-%d", &k, &seq) == 2 && seq >= 0 &&
					  seq < n && !seen[seq]++,
				  "idx %lld: \"%s\" unknown or twice", s * S + (long long)i,
				  jstr(m, "text"));
		}
		json_decref(ut);
	}
	free(seen);
}

static const char *const up_services[] = {"authsvc", "roomsvc", "msgsvc", "mediasvc"};
#define UP_NSVC (sizeof up_services / sizeof *up_services)

/* The parts of the last release (tests/contract/released/COMMIT, built by
 * scripts/prev.sh into REBUTTAL_PREV_BIN_DIR) run beside the new ones in
 * the same queue groups, and a gateway of each; clients on both chat:
 * no `error`, every line reaches every client once, the history has no gap.
 * Then the old services get SIGTERM (the upgrade's last step) while the
 * chat goes on. */
void test_upgrade_mixed_versions(void)
{
	char prev[512], now_bin[512], cmd[64], name[32];
	snprintf(prev, sizeof prev, "%s", rt_env("REBUTTAL_PREV_BIN_DIR"));
	snprintf(now_bin, sizeof now_bin, "%s", rt_env("REBUTTAL_BIN_DIR"));
	printf("old parts from %s\n", prev);
	setenv("REBUTTAL_BIN_DIR", prev, 1);
	for (size_t i = 0; i < UP_NSVC; i++) {
		snprintf(cmd, sizeof cmd, "start-part %s old", up_services[i]);
		CHECK_EQ_INT(stack(cmd, NULL, 0), 0);
	}
	int old_port = gateway_at("gateway old");
	setenv("REBUTTAL_BIN_DIR", now_bin, 1);

	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64];
	mt_new_room(adm, "text", room);
	up_client u[UP_CLIENTS];
	memset(u, 0, sizeof u);
	for (int k = 0; k < UP_CLIENTS; k++) {
		who w;
		snprintf(name, sizeof name, "upgrader%d", k);
		user_at(ctx, adm, "user", name, k % 2 ? old_port : gw_port(), &w);
		u[k].c = w.c;
	}
	int sent = 0, have[UP_CLIENTS] = {0};
	up_chat(u, room, UP_ROUNDS, &sent, have);
	long old_served = metric_at(health_port("msgsvc-old"),
				    "msgsvc_requests_total{op=\"message\",code=\"OK\"}");
	printf("%d lines; the old msgsvc stored %ld of them\n", sent, old_served);
	CHECK_MSG(old_served > 0, "the old msgsvc took no message: nothing was mixed");

	for (size_t i = 0; i < UP_NSVC; i++) {
		snprintf(cmd, sizeof cmd, "kill %s-old TERM", up_services[i]);
		CHECK_EQ_INT(stack(cmd, NULL, 0), 0);
		up_chat(u, room, 2, &sent, have);
	}
	for (int k = 0; k < UP_CLIENTS; k++)
		CHECK_MSG(!u[k].errors, "client %d got %d error(s): %s", k, u[k].errors,
			  u[k].first_error);
	up_check_history(admin(ctx), room, sent); /* fresh: adm holds old updateText frames */
	CHECK_EQ_INT(stack("kill gateway-old TERM", NULL, 0), 0);
	wsc_ctx_free(ctx);
}
