/* msgsvc killed or stopped while messages are on their way: a kill -9
 * under load from several clients (and the restart), one message killed at
 * each point of its path, and a graceful stop (SIGTERM). The senders and
 * the Postgres checks they use are in integ_msg_race.c (list_msg.h, prefix
 * mt_). */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "httpc.h"
#include "integ.h"
#include "list_msg.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"

/* ------------------------------------------------------------ helpers */

/* A sample `name` (with its labels) of inst's /metrics; -1 if unreadable. */
static long metric(const char *inst, const char *name)
{
	int port = health_port(inst);
	return port ? metric_at(port, name) : -1;
}

#define SERVED "msgsvc_requests_total{op=\"message\",code=\"OK\"}"
#define DRAINED "msgsvc_outbox_published_total{by=\"drainer\"}"

/* Waits until inst answers /readyz (subscribed, database up) and has its
 * account directory (else a message refused as "not ready" would fail a
 * test that is not about that; -1: no such metric, not waited for). */
static void wait_ready(const char *inst)
{
	for (long long until = now_ms() + 10000; now_ms() < until; usleep(50000)) {
		httpc_resp h = {0};
		int port = health_port(inst);
		int ok = port && httpc_get("127.0.0.1", port, "/readyz", 1000, &h) == 0 &&
			 h.status == 200;
		httpc_resp_free(&h);
		if (ok && metric(inst, "msgsvc_directory_loaded") != 0)
			return;
	}
	rt_fail(__FILE__, __LINE__, "%s not ready 10 s after its start", inst);
}

void mt_wait_ready(const char *inst)
{
	wait_ready(inst);
}

/* What the bus carried: sendMessage deliveries per idx of one room, seen
 * by a plain subscriber of rb.out.all (before any gateway drops repeats). */
typedef struct {
	char room[64];
	int sent[MT_MAX_IDX];
	bus_sub *sub;
} tap;

/* cnats thread. */
static void tap_msg(void *ud, const bus_msg *m)
{
	tap *t = ud;
	Rb__Delivery *d = rb__delivery__unpack(NULL, m->len, m->data);
	Rb__SSendMessage *sm =
		d && d->packet_case == RB__DELIVERY__PACKET_SEND_MESSAGE ? d->sendmessage : NULL;
	if (sm && sm->roomid && !strcmp(sm->roomid, t->room) && sm->message &&
	    sm->message->idx >= 0 && sm->message->idx < MT_MAX_IDX)
		__atomic_add_fetch(&t->sent[sm->message->idx], 1, __ATOMIC_SEQ_CST);
	if (d)
		rb__delivery__free_unpacked(d, NULL);
}

static tap *tap_open(const char *room)
{
	bus *b = mt_test_bus();
	tap *t = calloc(1, sizeof *t);
	CHECK_NOT_NULL(t);
	snprintf(t->room, sizeof t->room, "%s", room);
	CHECK_NOT_NULL(t->sub = bus_subscribe(b, "rb.out.all", NULL, tap_msg, t));
	CHECK(bus_flush(b, WAIT_MS) == 0);
	return t;
}

static int tapped(tap *t, long long idx)
{
	return idx >= 0 && idx < MT_MAX_IDX ? __atomic_load_n(&t->sent[idx], __ATOMIC_SEQ_CST) : 0;
}

static void tap_close(tap *t)
{
	bus_sub_close_wait(t->sub);
	free(t);
}

/* ------------------------------------------------------------ crashes */

/* stack() on a thread of its own: the clients keep sending meanwhile. */
typedef struct {
	pthread_t th;
	const char *args;
	long long t0, t1; /* when it began and ended */
	int rc, done, started;
} stack_job;

static void *stack_job_main(void *ud)
{
	stack_job *j = ud;
	int rc = stack(j->args, NULL, 0);
	j->t1 = now_ms();
	j->rc = rc;
	__atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void stack_job_start(stack_job *j, const char *args)
{
	j->args = args;
	j->t0 = now_ms();
	j->started = 1;
	CHECK(pthread_create(&j->th, NULL, stack_job_main, j) == 0);
}

static void stack_job_join(stack_job *j)
{
	CHECK(j->started && pthread_join(j->th, NULL) == 0);
	CHECK_MSG(j->rc == 0, "stack.sh %s failed (%d)", j->args, j->rc);
}

/* t within [start - 2 s, end + 3 tries of 2 s + 2 s] of the job. */
static int near(stack_job *j, long long t)
{
	long long end = __atomic_load_n(&j->done, __ATOMIC_SEQ_CST) ? j->t1 : now_ms();
	return j->started && t >= j->t0 - 2000 && t <= end + 8000;
}

/* Two msgsvc instances, both ready, and n clients (new users named
 * <prefix><k>) with a new text room (its id into room, 64 bytes): the
 * start of the tests that stop one instance while the clients send. */
static mt_sender *senders_on_two(wsc_ctx *ctx, wsc *adm, int n, const char *prefix, char *room)
{
	char name[32];
	CHECK_EQ_INT(stack("start-part msgsvc 2", NULL, 0), 0);
	wait_ready("msgsvc"), wait_ready("msgsvc-2");
	mt_sender *ss = mt_senders_new(n);
	mt_new_room(adm, "text", room);
	for (int k = 0; k < n; k++) {
		snprintf(name, sizeof name, "%s%d", prefix, k);
		ss[k].c = mt_new_user(ctx, adm, name, ss[k].uid);
	}
	return ss;
}

enum { CLIENTS = 3, TOTAL = 1000, KILL_AT = 300, RESTART_AT = 700 };
/* A message without an outcome this long is given up on (the checks then
 * tell whether it was stored and seen): 3 tries of 2 s + the outbox age. */
#define OUTCOME_MS 12000

void test_msg_crash_kill9(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64];
	mt_sender *ss = senders_on_two(ctx, adm, CLIENTS, "crasher", room);
	PGconn *pg = mt_test_pg();
	for (int k = 0; k < CLIENTS; k++)
		ss[k].quota = TOTAL / CLIENTS + (k < TOTAL % CLIENTS);
	wsc_close(adm);
	tap *t = tap_open(room);
	long drained0 = metric("msgsvc", DRAINED), before_kill = -1;
	stack_job kill = {0}, restart = {0};
	int sent = 0, resolved = 0;
	long long t0 = now_ms(), deadline = t0 + 40000;

	while (resolved < TOTAL) {
		for (int k = 0; k < CLIENTS; k++)
			if (ss[k].inflight < 0 && ss[k].next < ss[k].quota)
				mt_send_seq(&ss[k], room), sent++;
		mt_pump(ss, CLIENTS, room, 1);
		resolved = 0;
		for (int k = 0; k < CLIENTS; k++) {
			mt_sender *s = &ss[k];
			if (s->inflight >= 0 && now_ms() - s->since > OUTCOME_MS)
				s->lost++, s->inflight = -1;
			resolved += s->next - (s->inflight >= 0);
		}
		if (sent >= KILL_AT && !kill.started) {
			before_kill = metric("msgsvc-2", SERVED);
			stack_job_start(&kill, "kill msgsvc-2 KILL");
		}
		if (sent >= RESTART_AT && !restart.started &&
		    __atomic_load_n(&kill.done, __ATOMIC_SEQ_CST))
			stack_job_start(&restart, "start-part msgsvc 2");
		CHECK_MSG(now_ms() < deadline, "%d of %d messages resolved after 40 s", resolved,
			  TOTAL);
	}
	long long t_sent = now_ms();
	stack_job_join(&kill);
	if (!restart.started)
		stack_job_start(&restart, "start-part msgsvc 2");
	stack_job_join(&restart);
	wait_ready("msgsvc-2");
	/* Settle: nothing for 3 s plus the outbox age (a row the crash left
	 * behind is published by a drainer after that age). */
	const char *age = getenv("REBUTTAL_OUTBOX_AGE_MS");
	mt_settle(ss, CLIENTS, room, 0, 3000 + (age && *age ? atol(age) : 2000));
	long long t_settled = now_ms();

	/* 1. History: idx 0..n-1 without gaps, every text once, by its sender;
	 * 3. every client saw every stored message, no sendMessage twice, and
	 * the stored state last in every segment. */
	int n = mt_check_room(admin(ctx), room, ss, CLIENTS, 0, NULL);
	CHECK_EQ_INT(mt_rows(pg, "messages", room), n);
	CHECK_EQ_INT(mt_sql_num(pg, "SELECT next_idx FROM msg.rooms WHERE room_id = $1", room), n);
	mt_no_rows(pg, "outbox", room, 0);
	/* 2. Every message without an error is stored; errors only near the
	 * kill or the restart. */
	int errors = 0, lost = 0, dups = 0, unstored = 0, slow = 0, ut_only = 0, stored_err = 0;
	long long worst = 0;
	for (int k = 0; k < CLIENTS; k++) {
		mt_sender *s = &ss[k];
		CHECK_MSG(!s->stray, "client %d: %d error(s) with no message in flight (first: %s)",
			  k, s->stray, s->first_error);
		/* A crash may make a request time out or find the store busy;
		 * anything else (an internal error, a refusal) is a bug. */
		CHECK_MSG(!s->hard, "client %d: %d error(s) other than \"try again\", e.g. \"%s\"",
			  k, s->hard, s->first_error);
		for (int seq = 0; seq < s->next; seq++) {
			CHECK_MSG(s->stored[seq] || s->err[seq],
				  "c%d-%04d: no error, yet not stored (own sendMessage seen: %d)",
				  k, seq, s->own[seq]);
			CHECK_MSG(
				!s->err[seq] || near(&kill, s->sent_at[seq]) ||
					near(&restart, s->sent_at[seq]),
				"c%d-%04d: an error (\"%s\") %lld ms into the run, far from the crash",
				k, seq, s->first_error, s->sent_at[seq] - t0);
			unstored += !s->stored[seq];
			stored_err += s->stored[seq] && s->err[seq];
		}
		for (int i = 0; i < n; i++)
			ut_only += !s->sm[i];
		errors += s->errors, lost += s->lost, slow += s->slow;
		worst = s->worst > worst ? s->worst : worst;
	}
	for (int i = 0; i < n; i++) {
		CHECK_MSG(tapped(t, i) >= 1, "idx %d was never published", i);
		dups += tapped(t, i) - 1;
	}
	/* 4. The numbers. */
	printf("crash_kill9: %d sent by %d clients, %d stored; %d errors (%d of those stored), %d "
	       "not stored, %d without an outcome in %d s\n",
	       sent, CLIENTS, n, errors, stored_err, unstored, lost, OUTCOME_MS / 1000);
	printf("crash_kill9: kill -9 of msgsvc-2 after %d sent (it had stored %ld), restart after "
	       "%d (stored %ld since); %d answered after more than 1 s (longest %lld ms)\n",
	       KILL_AT, before_kill, RESTART_AT, metric("msgsvc-2", SERVED), slow, worst);
	printf("crash_kill9: %d sendMessage published twice (the gateway dropped the repeats), %ld "
	       "published by msgsvc's drainer, %d seen by a client only in an updateText; sending "
	       "%lld ms, settling %lld ms, in all %lld ms\n",
	       dups, metric("msgsvc", DRAINED) - drained0, ut_only, t_sent - t0, t_settled - t_sent,
	       now_ms() - t0);
	CHECK_MSG(before_kill != 0, "msgsvc-2 stored nothing before it was killed");
	mt_senders_free(ss, CLIENTS);
	tap_close(t);
	PQfinish(pg);
	wsc_ctx_free(ctx);
	CHECK_EQ_INT(stack("kill msgsvc-2 TERM", NULL, 0), 0);
}

/* ---------------------------- one message, msgsvc killed on its way */

/* Where a lock the test holds stops msgsvc: the message's statement
 * (msg.message_post) at its outbox insert, before its commit; after the
 * commit, at the test hook (REBUTTAL_TEST_HOOKS: an advisory lock msgsvc
 * waits for there, holding the room's publishing lock); the broadcasts
 * out, at deleting the outbox row (msg.published). */
enum kill_point { BEFORE_COMMIT, BEFORE_PUBLISH, BEFORE_DELETE };
static const char *const kill_names[] = {"before its commit", "before its broadcast",
					 "before its outbox row was deleted"};
static const char *const kill_waits[] = {"%msg.message_post(%", "%msg.hook:%", "%msg.published(%"};
#define HOOK_LOCK "hashtextextended('msg.hook:after_commit', 0)"

/* Waits until a statement like `query` waits for a lock (gone: until
 * none does any more). */
static void wait_blocked(PGconn *pg, const char *query, int gone)
{
	const char *q = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
			" AND query LIKE $1";
	for (long long until = now_ms() + WAIT_MS; (mt_sql_num(pg, q, query) > 0) == gone;
	     usleep(10000))
		CHECK_MSG(now_ms() < until, "msgsvc %s the lock at %s",
			  gone ? "still waits for" : "never waited for", query);
}

/* Takes c's frames until the answer to a getmessages of a far segment:
 * the gateway sends that request only once the one before it to msgsvc
 * has its outcome. Adds up the sendMessage frames of text and errors. */
static void until_marker(wsc *c, const char *room, const char *text, int *got, int *errors)
{
	sendp(c, "{\"type\":\"getmessages\",\"roomid\":\"%s\",\"segment\":999999}", room);
	for (long long until = now_ms() + 3 * WAIT_MS; now_ms() < until;) {
		json_t *j = wsc_recv(c, 100);
		const char *type = j ? jstr(j, "type") : NULL, *mt;
		if (!type) {
			json_decref(j);
			continue;
		}
		mt = jstr(json_object_get(j, "message"), "text");
		*errors += !strcmp(type, "error");
		*got += !strcmp(type, "sendMessage") && mt && !strcmp(mt, text);
		int end = !strcmp(type, "updateText") &&
			  json_integer_value(json_object_get(j, "segment")) == 999999;
		json_decref(j);
		if (end)
			return;
	}
	rt_fail(__FILE__, __LINE__, "no answer to getmessages in %d ms", 3 * WAIT_MS);
}

static void kill_at(PGconn *pg, wsc_ctx *ctx, wsc *c, tap *t, const char *room, enum kill_point at)
{
	char text[64];
	int got = 0, errors = 0, stored = 0, idx = -1;
	PGconn *hold = mt_test_pg();
	snprintf(text, sizeof text, "killed %s", kill_names[at]);
	if (at == BEFORE_COMMIT)
		mt_sql(hold, "BEGIN", NULL),
			mt_sql(hold, "LOCK TABLE msg.outbox IN SHARE MODE", NULL);
	else
		mt_sql(hold, "SELECT pg_advisory_lock(" HOOK_LOCK ")", NULL);
	mt_say(c, room, text);
	wsc_service(ctx, 20); /* out it goes */
	wait_blocked(pg, kill_waits[at == BEFORE_COMMIT ? BEFORE_COMMIT : BEFORE_PUBLISH], 0);
	if (at == BEFORE_DELETE) {
		mt_sql(hold, "BEGIN", NULL),
			mt_sql(hold, "LOCK TABLE msg.outbox IN SHARE MODE", NULL);
		mt_sql(hold, "SELECT pg_advisory_unlock(" HOOK_LOCK ")", NULL);
		wait_blocked(pg, kill_waits[BEFORE_DELETE], 0);
		json_t *f, *m = mt_expect_sent(c, &f); /* out before the kill */
		CHECK_EQ_STR(jstr(m, "text"), text);
		json_decref(f);
		got = 1;
	}
	long long t0 = now_ms();
	CHECK_EQ_INT(stack("kill msgsvc KILL", NULL, 0), 0);
	/* The killed instance's backend gives its statement up once it sees
	 * its client gone (client_connection_check_interval, main.c), so it
	 * does not commit it when the lock is free. */
	wait_blocked(pg, kill_waits[at], 1);
	PQfinish(hold);
	CHECK_EQ_INT(stack("start-part msgsvc", NULL, 0), 0);
	wait_ready("msgsvc");
	long long back = now_ms() - t0;
	until_marker(c, room, text, &got, &errors);
	mt_no_rows(pg, "outbox", room, 3 * WAIT_MS);
	until_marker(c, room, text, &got, &errors); /* the drainer's broadcasts are in */
	char **texts;
	int n = mt_check_room(c, room, NULL, 0, 0, &texts);
	for (int i = 0; i < n; i++)
		if (!strcmp(texts[i], text))
			stored++, idx = i;
	mt_free_texts(texts, n);
	printf("retry_after_kill: killed %s: client got %d sendMessage, %d error(s); stored %d, "
	       "published %d; msgsvc serving again %lld ms after the kill\n",
	       kill_names[at], got, errors, stored, idx < 0 ? 0 : tapped(t, idx), back);
	CHECK_MSG(got <= 1 && errors <= 1 && got + errors >= 1, "got %d sendMessage and %d errors",
		  got, errors);
	CHECK_MSG(stored == got, "stored %d times, seen %d times", stored, got);
	CHECK_MSG(at == BEFORE_COMMIT || stored == 1, "committed, yet stored %d times", stored);
	/* Back before the third try (at 4 s): the retry must have answered. */
	CHECK_MSG(back > 3000 || !errors, "an error though msgsvc was back after %lld ms", back);
	if (idx >= 0)
		CHECK_EQ_INT(tapped(t, idx), at == BEFORE_DELETE ? 2 : 1);
}

/* msgsvc restarted with its test hooks on (or off again). */
static void restart_hooks(int on)
{
	if (on)
		setenv("REBUTTAL_TEST_HOOKS", "1", 1);
	else
		unsetenv("REBUTTAL_TEST_HOOKS");
	CHECK_EQ_INT(stack("kill msgsvc TERM", NULL, 0), 0);
	CHECK_EQ_INT(stack("start-part msgsvc", NULL, 0), 0);
	wait_ready("msgsvc");
}

void test_msg_retry_after_kill(void)
{
	CHECK_EQ_INT(stack("kill msgsvc-2 TERM", NULL, 0), 0); /* msgsvc alone */
	restart_hooks(1);
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	PGconn *pg = mt_test_pg();
	char room[64];
	mt_new_room(adm, "text", room);
	tap *t = tap_open(room);
	mt_say_ok(adm, room, "before the kills");
	for (int at = BEFORE_COMMIT; at <= BEFORE_DELETE; at++)
		kill_at(pg, ctx, adm, t, room, (enum kill_point)at);
	mt_say_ok(adm, room, "after the kills");
	tap_close(t);
	PQfinish(pg);
	wsc_ctx_free(ctx);
	restart_hooks(0);
}

/* -------------------------------------------------- a graceful stop */

/* Three clients send messages one after another while one of two msgsvc
 * instances gets SIGTERM: it leaves the queue group at once and finishes
 * what it holds (lib/svc.h svc_drain), so no client sees an `error` and
 * the room holds every message once, idx without gaps. */
void test_msg_drain_term(void)
{
	enum { N = 3, EACH = 60, TERM_AT = 45 };
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	char room[64];
	mt_sender *ss = senders_on_two(ctx, adm, N, "drainer", room);
	int pid = stack_number("pids", "msgsvc-2.pid"), sent = 0, resolved = 0;
	long served = -1;
	CHECK(pid > 0);
	for (long long until = now_ms() + 30000; resolved < N * EACH;) {
		for (int k = 0; k < N; k++)
			if (ss[k].inflight < 0 && ss[k].next < EACH)
				mt_send_seq(&ss[k], room), sent++;
		mt_pump(ss, N, room, 1);
		resolved = 0;
		for (int k = 0; k < N; k++)
			resolved += ss[k].next - (ss[k].inflight >= 0);
		if (sent >= TERM_AT && served < 0) {
			served = metric("msgsvc-2", SERVED);
			CHECK(kill(pid, SIGTERM) == 0);
		}
		CHECK_MSG(now_ms() < until, "%d of %d messages resolved after 30 s", resolved,
			  N * EACH);
	}
	for (int k = 0; k < N; k++)
		CHECK_MSG(!ss[k].errors && !ss[k].stray, "client %d got %d error(s): %s", k,
			  ss[k].errors + ss[k].stray, ss[k].first_error);
	mt_settle(ss, N, room, N * EACH, 500);
	CHECK_EQ_INT(mt_check_room(admin(ctx), room, ss, N, 1, NULL), N * EACH);
	printf("msgsvc-2 had stored %ld messages when it got SIGTERM\n", served);
	CHECK_MSG(served > 0, "msgsvc-2 took no message before SIGTERM: nothing was tested");
	CHECK_EQ_INT(stack("kill msgsvc-2 TERM", NULL, 0), 0);
	mt_senders_free(ss, N);
	wsc_ctx_free(ctx);
}
