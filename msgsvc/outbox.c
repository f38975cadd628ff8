#include "outbox.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "log.h"
#include "proc.h"
#include "subthread.h"
#include "svc.h"

/* How long a publish may wait for NATS to acknowledge it. */
#define FLUSH_TIMEOUT_MS 2000

struct outbox {
	const msg_app *app;
	pg *drain_db; /* the drainer thread's own connection */
	subthread drainer;
	atomic_ulong sent, drained, failed;
};

/* A row being published. */
typedef struct {
	int64_t id;
	char kind[8];
	char room_id[40];
	int64_t idx;
} row;

outbox *outbox_new(const msg_app *app)
{
	outbox *ob = calloc(1, sizeof *ob);
	if (ob)
		ob->app = app;
	return ob;
}

void outbox_free(outbox *ob)
{
	free(ob);
}

pg_status outbox_add(pg *db, const char *kind, const char *room_id, int64_t idx, int64_t *id)
{
	char i[24];
	snprintf(i, sizeof i, "%" PRId64, idx);
	const char *p[] = {kind, room_id, i};
	return pg_number(
		db, id,
		"INSERT INTO msg.outbox (kind, room_id, idx) VALUES ($1, $2, $3) RETURNING id", 3,
		p);
}

/* The stored message (room, idx) within its segment, or NULL. */
static Rb__Message *message_in(const Rb__SUpdateText *ut, int64_t idx)
{
	for (size_t i = 0; i < ut->n_messages; i++)
		if (ut->messages[i]->idx == idx)
			return ut->messages[i];
	return NULL;
}

/* Publishes sendMessage of m: gateways forward a dedup key once, so a row
 * published twice (by its writer and then a drainer) reaches a client once. */
static int publish_sent(const msg_app *app, arena *a, Rb__Message *m)
{
	Rb__SSendMessage *sm = arena_alloc(a, sizeof *sm);
	rb__ssend_message__init(sm);
	sm->roomid = m->roomid;
	sm->message = m;
	Rb__Delivery *d = svc_delivery_new(a);
	d->packet_case = RB__DELIVERY__PACKET_SEND_MESSAGE;
	d->sendmessage = sm;
	d->dedup = arena_printf(a, "%s:%" PRId64, m->roomid, m->idx);
	return svc_deliver_all(app->bus, d);
}

/* The updateText of ut, then (once NATS has everything) 0; -1 logged. */
static int publish_text(const msg_app *app, arena *a, Rb__SUpdateText *ut, const char *room_id,
			int64_t idx)
{
	Rb__Delivery *d = svc_delivery_new(a);
	d->packet_case = RB__DELIVERY__PACKET_UPDATE_TEXT;
	d->updatetext = ut;
	/* The flush: the next holder of the room's lock may publish on
	 * another connection (instance), which must not overtake us. */
	if (svc_deliver_all(app->bus, d) < 0 || bus_flush(app->bus, FLUSH_TIMEOUT_MS) < 0) {
		log_warn("outbox: NATS did not take the broadcasts of %s:%" PRId64
			 "; the drainer will retry",
			 room_id, idx);
		return -1;
	}
	return 0;
}

pg_status outbox_publish_written(outbox *ob, pg *db, arena *a, const hist_written *w, int send)
{
	const msg_app *app = ob->app;
	const char *room = w->ut->roomid;
	int ok = (!send || !w->msg || publish_sent(app, a, w->msg) == 0) &&
		 publish_text(app, a, w->ut, room, w->idx) == 0;
	char box[24];
	snprintf(box, sizeof box, "%" PRId64, w->box);
	const char *p[] = {box, room, ok ? "t" : "f"};
	pg_status s = pg_prepared(db, NULL, "outbox_published", "SELECT msg.published($1, $2, $3)",
				  3, p, NULL, NULL, 0);
	/* A lock left held would stop every other writer of the room. */
	if (s != PG_OK)
		outbox_release(db);
	if (!ok || s != PG_OK)
		atomic_fetch_add(&ob->failed, 1);
	else
		atomic_fetch_add(&ob->sent, 1);
	return ok ? s : PG_ERROR;
}

void outbox_release(pg *db)
{
	(void)pg_query(db, NULL, "SELECT pg_advisory_unlock_all()", 0, NULL);
}

/* The row's broadcasts, built from what is stored now (a message changed
 * or removed since the row was written is announced as it is), published
 * under the room's lock until NATS has them. */
static pg_status publish(outbox *ob, pg *db, const row *rw)
{
	const msg_app *app = ob->app;
	arena a = ARENA_INIT;
	const char *p[] = {rw->room_id};
	Rb__SUpdateText *ut = arena_alloc(&a, sizeof *ut);
	Rb__Message *m;

	rb__supdate_text__init(ut);
	pg_status s = pg_query(
		db, NULL, "SELECT pg_advisory_xact_lock(hashtextextended('msg.pub:' || $1, 0))", 1,
		p);
	if (s == PG_OK)
		s = hist_segment(db, &a, rw->room_id, rw->idx / app->cfg->segment_size,
				 app->cfg->segment_size, ut);
	if (s == PG_OK && !strcmp(rw->kind, OUTBOX_SEND) && (m = message_in(ut, rw->idx)) &&
	    publish_sent(app, &a, m) < 0)
		s = PG_ERROR;
	if (s == PG_OK && publish_text(app, &a, ut, rw->room_id, rw->idx) < 0)
		s = PG_ERROR;
	arena_free(&a);
	return s;
}

/* A publishing transaction only deletes a published row: if a crash loses
 * the delete, the row is published again, which gateways drop as a repeat.
 * So its commit need not wait for the WAL flush (a disk sync per message);
 * set in the claiming SELECT to save a round trip. */
#define NO_SYNC "set_config('synchronous_commit', 'off', true)"

/* Runs `select` (which returns id, kind, room_id, idx and locks the row)
 * and publishes + deletes the row inside one transaction. *got is the id of
 * the row taken (published or not), 0 when there was none. */
static pg_status take_and_publish(outbox *ob, pg *db, const char *select, int n,
				  const char *const *params, int64_t *got)
{
	PGresult *res;
	row rw;

	*got = 0;
	pg_status s = pg_begin(db);
	if (s != PG_OK)
		return s;
	s = pg_query(db, &res, select, n, params);
	if (s == PG_OK && PQntuples(res) > 0) {
		*got = rw.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(rw.kind, sizeof rw.kind, "%s", PQgetvalue(res, 0, 1));
		snprintf(rw.room_id, sizeof rw.room_id, "%s", PQgetvalue(res, 0, 2));
		rw.idx = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	}
	if (s == PG_OK)
		PQclear(res);
	if (s == PG_OK && *got)
		s = publish(ob, db, &rw);
	if (s == PG_OK && *got) {
		char id[24];
		snprintf(id, sizeof id, "%" PRId64, rw.id);
		const char *p[] = {id};
		s = pg_query(db, NULL, "DELETE FROM msg.outbox WHERE id = $1", 1, p);
	}
	if (s == PG_OK)
		return pg_commit(db);
	pg_rollback(db);
	return s;
}

pg_status outbox_send(outbox *ob, pg *db, int64_t id)
{
	char i[24];
	int64_t got;
	snprintf(i, sizeof i, "%" PRId64, id);
	const char *p[] = {i};
	pg_status s = take_and_publish(ob, db,
				       "SELECT id, kind, room_id, idx, " NO_SYNC
				       " FROM msg.outbox WHERE id = $1"
				       " FOR UPDATE SKIP LOCKED",
				       1, p, &got);
	if (s != PG_OK)
		atomic_fetch_add(&ob->failed, 1);
	else if (got)
		atomic_fetch_add(&ob->sent, 1);
	return s;
}

/* Publishes every row older than the age setting; returns how many. A
 * row that fails is passed over until the next round (a cursor on id), so
 * it cannot hold up the rows behind it. */
static int drain_once(outbox *ob)
{
	char age[24], after[24];
	int n = 0;
	int64_t got = 0;
	snprintf(age, sizeof age, "%ld", ob->app->cfg->outbox_age_ms);
	const char *p[] = {age, after};

	do {
		snprintf(after, sizeof after, "%" PRId64, got);
		pg_status s = take_and_publish(
			ob, ob->drain_db,
			"SELECT id, kind, room_id, idx, " NO_SYNC " FROM msg.outbox"
			" WHERE created_at < now() - $1::bigint * interval '1 millisecond'"
			" AND id > $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
			2, p, &got);
		if (s == PG_OK)
			n += got > 0;
		else
			atomic_fetch_add(&ob->failed, 1);
		/* Without the database or NATS no other row would do better. */
		if (s == PG_DOWN || (s != PG_OK && !bus_connected(ob->app->bus)))
			break;
	} while (got && !subthread_stopping(&ob->drainer));
	return n;
}

/* The drainer thread. */
static void *drain_main(void *ud)
{
	outbox *ob = ud;
	long every = ob->app->cfg->outbox_age_ms / 4;
	every = every < 100 ? 100 : every > 1000 ? 1000 : every;

	while (!subthread_stopping(&ob->drainer)) {
		int n = drain_once(ob);
		if (n > 0) {
			atomic_fetch_add(&ob->drained, (unsigned long)n);
			log_info("outbox: published %d broadcast(s) left behind by another try", n);
		}
		for (long t = 0; t < every && !subthread_stopping(&ob->drainer); t += 50)
			proc_sleep_ms(50);
	}
	return NULL;
}

int outbox_start(outbox *ob, const char *conninfo)
{
	if (!(ob->drain_db = pg_open(conninfo, "drainer")))
		return -1;
	if (subthread_start(&ob->drainer, NULL, NULL, NULL, NULL, drain_main, ob,
			    "outbox: the drainer") < 0) {
		pg_close(ob->drain_db);
		ob->drain_db = NULL;
		return -1;
	}
	return 0;
}

void outbox_stop(outbox *ob)
{
	if (!ob)
		return;
	subthread_stop(&ob->drainer);
	pg_close(ob->drain_db);
	ob->drain_db = NULL;
}

void outbox_metrics(outbox *ob, buf *out)
{
	buf_addf(out,
		 "# TYPE msgsvc_outbox_published_total counter\n"
		 "msgsvc_outbox_published_total{by=\"writer\"} %lu\n"
		 "msgsvc_outbox_published_total{by=\"drainer\"} %lu\n"
		 "# TYPE msgsvc_outbox_failures_total counter\nmsgsvc_outbox_failures_total %lu\n",
		 atomic_load(&ob->sent), atomic_load(&ob->drained), atomic_load(&ob->failed));
}
