/* msgsvc under concurrency, without crashes: clients racing into one room
 * (order), retried request ids and the outbox drainer. Here too the tools
 * of the load tests, shared with integ_msg_crash.c: senders of
 * "c<k>-<seq>" texts that record what each client saw, and the Postgres
 * checks. Consumed events and several instances are in integ_msg_events.c.
 * Helpers shared with integ_msg.c and integ_msg_events.c are declared in
 * list_msg.h (prefix mt_). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "integ.h"
#include "list_msg.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"

/* ------------------------------------------------------------ helpers */

PGconn *mt_test_pg(void)
{
	PGconn *pg = PQconnectdb(pg_conninfo_as("msgsvc"));
	CHECK_MSG(PQstatus(pg) == CONNECTION_OK, "postgres: %s", PQerrorMessage(pg));
	return pg;
}

void mt_sql(PGconn *pg, const char *q, const char *room)
{
	const char *p[] = {room};
	PGresult *res = PQexecParams(pg, q, room ? 1 : 0, NULL, room ? p : NULL, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	CHECK_MSG(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", q, PQerrorMessage(pg));
	PQclear(res);
}

/* The first column of q's first row (room as $1) as a number. */
long long mt_sql_num(PGconn *pg, const char *q, const char *room)
{
	PGresult *res = PQexecParams(pg, q, 1, NULL, &room, NULL, NULL, 0);
	CHECK_MSG(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "%s: %s", q,
		  PQerrorMessage(pg));
	long long n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* Rows of msg.<table> (messages, outbox) of room. */
int mt_rows(PGconn *pg, const char *table, const char *room)
{
	char q[128];
	snprintf(q, sizeof q, "SELECT count(*) FROM msg.%s WHERE room_id = $1", table);
	return (int)mt_sql_num(pg, q, room);
}

/* Polls until room has no rows in msg.<table>. */
void mt_no_rows(PGconn *pg, const char *table, const char *room, int ms)
{
	for (long long until = now_ms() + ms; mt_rows(pg, table, room) && now_ms() < until;)
		usleep(20000);
	CHECK_MSG(!mt_rows(pg, table, room), "msg.%s still has rows of the room after %d ms", table,
		  ms);
}

/* ------------------------------------------------- what clients saw */

mt_sender *mt_senders_new(int n)
{
	mt_sender *ss = calloc((size_t)n, sizeof *ss);
	CHECK_NOT_NULL(ss);
	for (int k = 0; k < n; k++)
		ss[k].k = k, ss[k].inflight = -1;
	return ss;
}

void mt_senders_free(mt_sender *ss, int n)
{
	for (int k = 0; k < n; k++)
		for (int i = 0; i < MT_MAX_IDX; i++)
			json_decref(ss[k].last[i]);
	free(ss);
}

/* "c<k>-<seq>" into k and seq; 0, or -1 for another text. */
static int parse_text(const char *t, int *k, int *seq)
{
	int n = -1;
	if (!t || sscanf(t, "c%d-%d%n", k, seq, &n) != 2 || n != (int)strlen(t))
		return -1;
	return *k >= 0 && *seq >= 0 && *seq < MT_MAX_SEQ ? 0 : -1;
}

void mt_send_seq(mt_sender *s, const char *room)
{
	char text[32];
	snprintf(text, sizeof text, "c%d-%04d", s->k, s->next);
	mt_say(s->c, room, text);
	s->sent_at[s->next] = s->since = now_ms();
	s->inflight = s->next++;
}

/* The message in flight has its outcome. */
static void done(mt_sender *s)
{
	long long took = now_ms() - s->since;
	s->slow += took > 1000;
	s->worst = took > s->worst ? took : s->worst;
	s->inflight = -1;
}

static void take(mt_sender *s, const char *room, json_t *j)
{
	const char *type = jstr(j, "type"), *r = jstr(j, "roomid");
	json_t *m;
	size_t i;
	int k, seq;
	if (type && !strcmp(type, "error")) {
		if (s->inflight >= 0)
			s->err[s->inflight] = 1, s->errors++, done(s);
		else
			s->stray++;
		const char *msg = jstr(j, "message");
		int hard = !msg || !strstr(msg, "try again");
		if (!s->first_error[0] || (hard && !s->hard))
			snprintf(s->first_error, sizeof s->first_error, "%s", msg ? msg : "?");
		s->hard += hard;
	} else if (type && r && !strcmp(r, room) && !strcmp(type, "sendMessage")) {
		m = json_object_get(j, "message");
		long long idx = json_integer_value(json_object_get(m, "idx"));
		CHECK_MSG(idx >= 0 && idx < MT_MAX_IDX, "sendMessage idx %lld", idx);
		s->sms++;
		s->sm[idx] += s->sm[idx] < 255;
		if (parse_text(jstr(m, "text"), &k, &seq) == 0 && k == s->k) {
			s->own[seq] = 1;
			if (seq == s->inflight)
				done(s);
		}
	} else if (type && r && !strcmp(r, room) && !strcmp(type, "updateText")) {
		long long seg = json_integer_value(json_object_get(j, "segment"));
		CHECK_MSG(seg >= 0 && seg < MT_MAX_IDX, "updateText segment %lld", seg);
		json_array_foreach(mt_msgs_of(j), i, m)
		{
			long long idx = json_integer_value(json_object_get(m, "idx"));
			CHECK_MSG(idx >= 0 && idx < MT_MAX_IDX, "updateText idx %lld", idx);
			s->ut[idx] = 1;
		}
		json_decref(s->last[seg]);
		s->last[seg] = json_incref(j);
	}
	json_decref(j);
}

/* Takes the frames there are (waiting up to ms on the first client when
 * there were none); 1 if there was one. */
int mt_pump(mt_sender *ss, int n, const char *room, int ms)
{
	int got = 0;
	for (int k = 0; k < n; k++)
		for (json_t *j; (j = wsc_recv(ss[k].c, 0));)
			take(&ss[k], room, j), got = 1;
	json_t *j = got ? NULL : wsc_recv(ss[0].c, ms);
	if (j)
		take(&ss[0], room, j), got = 1;
	return got;
}

/* Pumps until every client saw `want` sendMessage frames and then nothing
 * came for quiet_ms. */
void mt_settle(mt_sender *ss, int n, const char *room, int want, long long quiet_ms)
{
	long long deadline = now_ms() + 30000, last = now_ms();
	for (;;) {
		int all = 1;
		if (mt_pump(ss, n, room, 5))
			last = now_ms();
		for (int k = 0; k < n; k++)
			all &= ss[k].sms >= want;
		if (all && now_ms() - last >= quiet_ms)
			return;
		CHECK_MSG(now_ms() < deadline, "only %d/%d sendMessage after 30 s", ss[0].sms,
			  want);
	}
}

void mt_free_texts(char **t, int n)
{
	for (int i = 0; i < n; i++)
		free(t[i]);
	free(t);
}

/* History of room read by v: idx 0..n-1 without gaps. Against what the ns
 * clients saw: every text one client's (by its account when uid is set),
 * sent, and stored once (marked in `stored`); each client saw each stored
 * message (as sendMessage, or also in an updateText unless strict), never a
 * sendMessage twice nor of an idx not stored, and as its last updateText of
 * each segment the stored one. Returns n; the texts to *texts (or freed). */
int mt_check_room(wsc *v, const char *room, mt_sender *ss, int ns, int strict, char ***texts)
{
	long S = mt_seg_size();
	json_t *ut = mt_get_segment(v, room, -1);
	long long newest = json_integer_value(json_object_get(ut, "segment"));
	int n = (int)(newest * S + (long)json_array_size(mt_msgs_of(ut))), k, seq;
	json_decref(ut);
	char **t = calloc((size_t)n + 1, sizeof *t);
	CHECK(t && n < MT_MAX_IDX);
	for (long long s = 0; s <= newest; s++) {
		ut = mt_get_segment(v, room, s);
		json_t *ms = mt_msgs_of(ut);
		CHECK_MSG(json_array_size(ms) == (size_t)(s < newest ? S : n - s * S),
			  "segment %lld of %d messages holds %zu", s, n, json_array_size(ms));
		for (size_t i = 0; i < json_array_size(ms); i++) {
			json_t *m = json_array_get(ms, i);
			long long idx = s * S + (long long)i;
			CHECK_EQ_INT(json_integer_value(json_object_get(m, "idx")), idx);
			t[idx] = strdup(jstr(m, "text") ? jstr(m, "text") : "");
			if (!ns)
				continue;
			CHECK_MSG(parse_text(t[idx], &k, &seq) == 0 && k < ns && seq < ss[k].next,
				  "idx %lld: \"%s\" was never sent", idx, t[idx]);
			CHECK_MSG(!ss[k].stored[seq]++, "\"%s\" stored twice", t[idx]);
			const char *uid = jstr(m, "userid");
			CHECK_MSG(!ss[k].uid[0] || (uid && !strcmp(ss[k].uid, uid)),
				  "idx %lld: \"%s\" stored as sent by %s", idx, t[idx], uid);
		}
		for (k = 0; k < ns; k++)
			CHECK_MSG(
				ss[k].last[s] && json_equal(mt_msgs_of(ss[k].last[s]), ms),
				"client %d's last updateText of segment %lld is not the stored one",
				k, s);
		json_decref(ut);
	}
	for (k = 0; k < ns; k++)
		for (int i = 0; i < MT_MAX_IDX; i++) {
			int sm = ss[k].sm[i], want = i < n;
			CHECK_MSG(
				strict ? sm == want : sm <= want && (!want || sm || ss[k].ut[i]),
				"client %d got %d sendMessage of idx %d (%d stored; in an updateText: %d)",
				k, sm, i, n, ss[k].ut[i]);
		}
	if (texts)
		*texts = t;
	else
		mt_free_texts(t, n);
	return n;
}

/* ----------------------------------------------------------- ordering */

/* Two clients send `each` messages at once; returns the stored texts. */
char **mt_race(wsc_ctx *ctx, wsc *adm, char *room, int each, mt_sender *ss)
{
	char **texts;
	ss[0].c = adm;
	ss[1].c = mt_new_user(ctx, adm, "racer", ss[1].uid);
	mt_new_room(adm, "text", room);
	for (int i = 0; i < each; i++)
		for (int k = 0; k < 2; k++)
			mt_send_seq(&ss[k], room);
	mt_settle(ss, 2, room, 2 * each, 500);
	CHECK_EQ_INT(mt_check_room(adm, room, ss, 2, 1, &texts), 2 * each);
	return texts;
}

void test_msg_two_clients_order(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	mt_sender *ss = mt_senders_new(2);
	char room[64];
	enum { EACH = 12 };
	char **t = mt_race(ctx, admin(ctx), room, EACH, ss);
	/* One instance serves them one at a time in arrival order: each
	 * client's messages keep the order they were sent in. */
	int next[2] = {0, 0}, k, seq;
	for (int i = 0; i < 2 * EACH; i++) {
		CHECK(parse_text(t[i], &k, &seq) == 0);
		CHECK_MSG(seq == next[k], "%s stored at idx %d out of order", t[i], i);
		next[k]++;
	}
	mt_free_texts(t, 2 * EACH);
	mt_senders_free(ss, 2);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------- retries and outbox */

void mt_message_req_init(mt_message_req *q, const char *uid, const char *room, const char *text)
{
	rb__envelope__init(&q->env);
	rb__cmessage__init(&q->cm);
	rb__message_in__init(&q->in);
	uuid_new(q->rid);
	q->perms[0] = "sendMessage";
	q->env.request_id = q->rid;
	q->env.user_id = (char *)uid;
	q->env.gateway_id = "integ-msg";
	q->env.conn_id = "1";
	q->env.perms = q->perms;
	q->env.n_perms = 1;
	q->in.text = (char *)text;
	q->cm.roomid = (char *)room;
	q->cm.message = &q->in;
	q->env.payload_case = RB__ENVELOPE__PAYLOAD_MESSAGE;
	q->env.message = &q->cm;
}

/* Counts sendMessage frames for room until nothing came for 500 ms. */
int mt_count_sent(wsc *c, const char *room)
{
	mt_sender *s = mt_senders_new(1);
	s->c = c;
	mt_settle(s, 1, room, 0, 500);
	int n = s->sms;
	mt_senders_free(s, 1);
	return n;
}

void test_msg_retry_stores_once(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	bus *b = mt_test_bus();
	char room[64], uid[64];
	snprintf(uid, sizeof uid, "%s", login(client(ctx), "root@localhost", admin_password()));
	mt_new_room(adm, "text", room);
	mt_message_req q;
	mt_message_req_init(&q, uid, room, "sent once, asked thrice");
	for (int i = 0; i < 3; i++) {
		Rb__Reply *r = ask(b, "rb.msg.message", &q.env);
		CHECK_EQ_INT(r->has_code ? r->code : 0, RB__CODE__OK);
		rb__reply__free_unpacked(r, NULL);
	}
	CHECK_EQ_INT(mt_count_sent(adm, room), 1);
	json_t *ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 1);
	json_decref(ut);
	/* Another request id is another message. */
	uuid_new(q.rid);
	Rb__Reply *r = ask(b, "rb.msg.message", &q.env);
	CHECK_EQ_INT(r->has_code ? r->code : 0, RB__CODE__OK);
	rb__reply__free_unpacked(r, NULL);
	ut = mt_get_segment(adm, room, -1);
	CHECK_EQ_INT(json_array_size(mt_msgs_of(ut)), 2);
	json_decref(ut);
	wsc_ctx_free(ctx);
}

/* A message stored by an instance that died before publishing: the row
 * is left in the outbox; some drainer must publish it. */
static long long left_behind(PGconn *pg, wsc *c, const char *room, int idx, const char *age)
{
	char q[512];
	snprintf(q, sizeof q,
		 "WITH c AS (INSERT INTO msg.rooms VALUES ($1, %d) ON CONFLICT (room_id) DO UPDATE"
		 " SET next_idx = %d) INSERT INTO msg.messages (room_id, idx, username, text)"
		 " VALUES ($1, %d, 'ghost', 'left behind %d')",
		 idx + 1, idx + 1, idx, idx);
	mt_sql(pg, q, room);
	snprintf(
		q, sizeof q,
		"INSERT INTO msg.outbox (kind, room_id, idx, created_at) VALUES ('send', $1, %d, %s)",
		idx, age);
	long long t0 = now_ms();
	mt_sql(pg, q, room);
	json_t *f, *m = mt_expect_sent(c, &f);
	long long took = now_ms() - t0;
	CHECK_EQ_STR(jstr(m, "roomid"), room);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "idx")), idx);
	mt_check_shape(m);
	json_decref(f);
	json_decref(mt_expect_text(c, room, idx / mt_seg_size()));
	return took;
}

void test_msg_outbox_drainer(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *adm = admin(ctx);
	PGconn *pg = mt_test_pg();
	char room[64];
	mt_new_room(adm, "text", room);
	long long old = left_behind(pg, adm, room, 0, "now() - interval '1 minute'");
	long long fresh = left_behind(pg, adm, room, 1, "now()");
	printf("outbox: old row published after %lld ms, fresh row after %lld ms\n", old, fresh);
	/* The drainer leaves a fresh row to its writer for the age setting. */
	CHECK_MSG(fresh >= 1500, "fresh row published after %lld ms", fresh);
	/* The drainer deletes a row once NATS has taken its broadcasts. */
	mt_no_rows(pg, "outbox", room, WAIT_MS);
	PQfinish(pg);
	wsc_ctx_free(ctx);
}
