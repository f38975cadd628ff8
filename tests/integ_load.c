/* /metrics after traffic, and a short run of the load generator
 * (tests/load/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpc.h"
#include "integ.h"
#include "list_load.h"
#include "uuid.h"

/* ------------------------------------------------ Prometheus text */

/* The series name of a sample line ("name{labels} value"): its length. */
static size_t name_len(const char *l)
{
	return strcspn(l, "{ ");
}

/* Checks the histogram samples of one family `fam` in body: per label set
 * (labels without le) the buckets rise with le and never drop, +Inf comes
 * last and equals _count, _sum is there. Returns the series checked. */
static int check_family(const char *body, const char *fam)
{
	char want[200];
	int series = 0;
	snprintf(want, sizeof want, "%s_bucket{", fam);
	for (const char *l = strstr(body, want); l; l = strstr(l + 1, want)) {
		if (l != body && l[-1] != '\n')
			continue;
		/* The first bucket of a label set: le="0.0001". */
		const char *le = strstr(l, "le=\"");
		const char *eol = strchr(l, '\n');
		CHECK_MSG(le && eol && le < eol, "%s: bucket without le: %.80s", fam, l);
		if (strncmp(le, "le=\"0.0001\"", 11))
			continue;
		char labels[200];
		size_t ll = (size_t)(le - (l + strlen(want)));
		CHECK(ll < sizeof labels);
		memcpy(labels, l + strlen(want), ll);
		labels[ll] = '\0';
		double prev = -1, prev_le = -1, inf = -1;
		const char *p = l;
		for (;;) {
			CHECK_MSG(!strncmp(p, want, strlen(want)) &&
					  !strncmp(p + strlen(want), labels, ll),
				  "%s{%s}: buckets interrupted at %.80s", fam, labels, p);
			const char *q = p + strlen(want) + ll + 4; /* after le=" */
			double v = atof(strchr(q, ' ') + 1);
			CHECK_MSG(v >= prev, "%s{%s}: bucket %.12s drops (%g < %g)", fam, labels, q,
				  v, prev);
			prev = v;
			if (!strncmp(q, "+Inf\"", 5)) {
				inf = v;
				p = strchr(p, '\n') + 1;
				break;
			}
			double b = atof(q);
			CHECK_MSG(b > prev_le, "%s{%s}: le not rising at %.12s", fam, labels, q);
			prev_le = b;
			p = strchr(p, '\n') + 1;
		}
		char line[512];
		/* _sum then _count, with the same labels (without the trailing comma). */
		snprintf(line, sizeof line, "%s_sum%s%.*s%s ", fam, ll ? "{" : "",
			 ll ? (int)ll - 1 : 0, labels, ll ? "}" : "");
		CHECK_MSG(!strncmp(p, line, strlen(line)), "%s{%s}: no _sum after +Inf", fam,
			  labels);
		CHECK(atof(p + strlen(line)) >= 0);
		p = strchr(p, '\n') + 1;
		snprintf(line, sizeof line, "%s_count%s%.*s%s ", fam, ll ? "{" : "",
			 ll ? (int)ll - 1 : 0, labels, ll ? "}" : "");
		CHECK_MSG(!strncmp(p, line, strlen(line)), "%s{%s}: no _count after _sum", fam,
			  labels);
		CHECK_MSG(atof(p + strlen(line)) == inf, "%s{%s}: _count %g != +Inf %g", fam,
			  labels, atof(p + strlen(line)), inf);
		series++;
	}
	return series;
}

/* Every line is a comment or "name[{labels}] number"; every family typed
 * histogram passes check_family. Returns the histogram series checked. */
static int check_exposition(const char *who, const char *body)
{
	int series = 0;
	for (const char *l = body; *l; l = strchr(l, '\n') + 1) {
		const char *eol = strchr(l, '\n');
		CHECK_MSG(eol, "%s: last line without newline", who);
		if (*l == '#') {
			char fam[160];
			if (sscanf(l, "# TYPE %159s histogram", fam) == 1)
				series += check_family(body, fam);
			continue;
		}
		size_t n = name_len(l);
		CHECK_MSG(n > 0, "%s: bad line %.80s", who, l);
		const char *v = l + n;
		if (*v == '{')
			v = strstr(v, "} ") ? strstr(v, "} ") + 1 : NULL;
		CHECK_MSG(v && *v == ' ', "%s: no value: %.80s", who, l);
		char *end;
		strtod(v + 1, &end);
		CHECK_MSG(end == eol, "%s: value not a number: %.80s", who, l);
	}
	return series;
}

static char *metrics_of(int port)
{
	httpc_resp r = {0};
	CHECK_EQ_INT(httpc_get("127.0.0.1", port, "/metrics", WAIT_MS, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	char *body = strdup(r.body ? r.body : "");
	httpc_resp_free(&r);
	CHECK_NOT_NULL(body);
	return body;
}

/* ------------------------------------------------------------ tests */

#define SENT 25

typedef struct {
	const char *part, *op, *subject;
} target;

/* One request to each service that needs no state: answered (or refused)
 * by the handler, counted by svc either way. */
static void fill(Rb__Envelope *e, const target *t, void *msgs[4])
{
	static char *perms[] = {"joinVoiceRoom"};
	e->gateway_id = "integ-load-gw";
	e->conn_id = "1";
	if (!strcmp(t->op, "get_room")) {
		e->gateway_id = NULL;
		e->conn_id = NULL;
		e->payload_case = RB__ENVELOPE__PAYLOAD_GET_ROOM;
		e->get_room = msgs[0];
	} else if (!strcmp(t->op, "get_perms")) {
		e->user_id = "00000000-0000-0000-0000-000000000000";
		e->payload_case = RB__ENVELOPE__PAYLOAD_GET_PERMS;
		e->get_perms = msgs[1];
	} else if (!strcmp(t->op, "getmessages")) {
		e->user_id = "00000000-0000-0000-0000-000000000000";
		e->payload_case = RB__ENVELOPE__PAYLOAD_GETMESSAGES;
		e->getmessages = msgs[2];
	} else {
		e->user_id = "00000000-0000-0000-0000-000000000000";
		e->perms = perms;
		e->n_perms = 1;
		e->payload_case = RB__ENVELOPE__PAYLOAD_VIDEO;
		e->video = msgs[3];
	}
}

/* Sends SENT requests of tg and checks its part's /metrics counted them
 * and parses. */
static void scrape_part(bus *b, const target *tg, void *msgs[4])
{
	int port = health_port(tg->part);
	char count[160], name[160];
	CHECK_MSG(port > 0, "no health port of %s", tg->part);
	snprintf(count, sizeof count, "%s_request_duration_seconds_count{op=\"%s\"}", tg->part,
		 tg->op);
	long before = metric_at(port, count);
	CHECK_MSG(before >= 0, "%s: no %s", tg->part, count);
	for (int i = 0; i < SENT; i++) {
		Rb__Envelope e = RB__ENVELOPE__INIT;
		char rid[UUID_STR_LEN + 1];
		uuid_new(rid);
		e.request_id = rid;
		fill(&e, tg, msgs);
		rb__reply__free_unpacked(ask(b, tg->subject, &e), NULL);
	}
	/* Counted before the reply is sent: no wait needed. */
	CHECK_EQ_INT(metric_at(port, count) - before, SENT);
	char *body = metrics_of(port);
	int series = check_exposition(tg->part, body);
	CHECK_MSG(series >= 3, "%s: %d histogram series", tg->part, series);
	static const char *const gauges[] = {"requests_in_flight", "handler_queue_depth",
					     "bus_request_timeouts_total"};
	for (size_t k = 0; k < sizeof gauges / sizeof *gauges; k++) {
		snprintf(name, sizeof name, "\n%s_%s ", tg->part, gauges[k]);
		CHECK_MSG(strstr(body, name), "%s: no %s", tg->part, name + 1);
	}
	free(body);
}

/* The gateway: after a login, its request histogram counted it, and its
 * delivery histogram the login's lists. */
static void scrape_gateway(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	const char *auth = "rebuttal_gateway_request_duration_seconds_count{svc=\"auth\"}";
	long before = metric_at(gw_port(), auth);
	login(client(ctx), "root@localhost", admin_password());
	long after = metric_at(gw_port(), auth);
	CHECK_MSG(after >= before + 1, "gateway auth requests %ld -> %ld", before, after);
	/* The login's lists come over the bus (rb.out.all), a moment later. */
	long delivered = 0;
	for (int i = 0; i < 100 && delivered <= 0; i++) {
		wsc_service(ctx, 50);
		delivered =
			metric_at(gw_port(), "rebuttal_gateway_delivery_duration_seconds_count");
	}
	CHECK_MSG(delivered > 0, "no delivery counted by the gateway");
	char *body = metrics_of(gw_port());
	CHECK(check_exposition("gateway", body) >= 5);
	free(body);
	wsc_ctx_free(ctx);
}

void test_metrics_histograms(void)
{
	static const target targets[] = {
		{"authsvc", "get_perms", "rb.auth.get_perms"},
		{"roomsvc", "get_room", "rb.room.get_room"},
		{"msgsvc", "getmessages", "rb.msg.getmessages"},
		{"mediasvc", "video", "rb.media.video"},
	};
	Rb__GetRoom gr = RB__GET_ROOM__INIT;
	Rb__GetPerms gp = RB__GET_PERMS__INIT;
	Rb__CGetMessages gm = RB__CGET_MESSAGES__INIT;
	Rb__CVideo cv = RB__CVIDEO__INIT;
	void *msgs[4] = {&gr, &gp, &gm, &cv};
	gr.room_id = "00000000-0000-0000-0000-000000000000";
	gm.roomid = "00000000-0000-0000-0000-000000000000";
	cv.touserid = "00000000-0000-0000-0000-000000000001";
	bus *b = bus_as("tester", "integ-load");
	for (size_t t = 0; t < sizeof targets / sizeof *targets; t++)
		scrape_part(b, &targets[t], msgs);
	/* The stores: authsvc asked Postgres, roomsvc Redis. */
	CHECK(metric_at(health_port("authsvc"), "authsvc_store_pg_round_trip_seconds_count") >=
	      SENT);
	CHECK(metric_at(health_port("roomsvc"), "roomsvc_store_redis_round_trip_seconds_count") >=
	      SENT);
	bus_close(b);
	scrape_gateway();
}

/* Runs loadgen SCENARIO with the settings given; returns its JSON line. */
static char *loadgen(const char *scenario, const char *settings)
{
	char cmd[1024], line[2048];
	const char *bin = rt_env("REBUTTAL_BIN_DIR");
	char pw[512];
	snprintf(pw, sizeof pw, "%s", secret_path("nats-tester"));
	snprintf(cmd, sizeof cmd,
		 "env REBUTTAL_NATS_USER=tester REBUTTAL_NATS_PASSWORD_FILE=%s %s "
		 "REBUTTAL_LOAD_USERS=4 timeout 60 %s/../tests/loadgen %s 2>&1",
		 pw, settings, bin, scenario);
	FILE *f = popen(cmd, "r");
	CHECK_NOT_NULL(f);
	char *json = NULL;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "{\"scenario\":", 12) && !json)
			json = strdup(line);
		else
			fputs(line, stdout);
	CHECK_EQ_INT(pclose(f), 0);
	CHECK_MSG(json, "loadgen %s printed no result", scenario);
	return json;
}

static double field(const char *json, const char *key)
{
	char k[64];
	snprintf(k, sizeof k, "\"%s\":", key);
	const char *p = strstr(json, k);
	CHECK_MSG(p, "no %s in %s", key, json);
	return atof(p + strlen(k));
}

void test_loadgen_smoke(void)
{
	long before = metric_at(health_port("mediasvc"),
				"mediasvc_request_duration_seconds_count{op=\"video\"}");
	char *j = loadgen("media.video", "REBUTTAL_LOAD_RATE=100 REBUTTAL_LOAD_SECS=2");
	CHECK_EQ_INT((long)field(j, "ok"), 200);
	CHECK_EQ_INT((long)field(j, "errors"), 0);
	CHECK_EQ_INT((long)field(j, "timeouts"), 0);
	CHECK(field(j, "p99_ms") > 0 && field(j, "p99_ms") <= field(j, "max_ms"));
	CHECK(field(j, "svc_instances") >= 1);
	/* Every request the generator counted is one the service counted. */
	long after = metric_at(health_port("mediasvc"),
			       "mediasvc_request_duration_seconds_count{op=\"video\"}");
	CHECK_EQ_INT(after - before, 200);
	free(j);

	j = loadgen("msg.message",
		    "REBUTTAL_LOAD_MODE=closed REBUTTAL_LOAD_INFLIGHT=4 REBUTTAL_LOAD_SECS=1");
	CHECK((long)field(j, "ok") > 10);
	CHECK_EQ_INT((long)field(j, "errors"), 0);
	free(j);
}
