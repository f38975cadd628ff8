#include "idem.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* PostgreSQL's limit on identifiers; SQL_MAX has room for it in every
 * statement below. */
#define SCHEMA_MAX 63
#define SQL_MAX 256

/* protobuf-c allocator over the request's arena: an unpacked stored reply
 * then lives exactly as long as the reply being built, and needs no free. */
static void *pb_alloc(void *ud, size_t size)
{
	return arena_alloc(ud, size);
}

static void pb_free(void *ud, void *p)
{
	(void)ud, (void)p;
}

static const char *request_id(const svc_req *r)
{
	return r->env->request_id && *r->env->request_id ? r->env->request_id : NULL;
}

/* 1 when the schema's name fits the statements (it is the service's
 * constant: a failure here is a programming error, logged). */
static int schema_ok(const idem_table *t)
{
	if (strlen(t->schema) <= SCHEMA_MAX)
		return 1;
	log_error("idem: schema name %s is too long", t->schema);
	return 0;
}

int idem_replay(svc_req *r, const char *hex)
{
	size_t hexlen = strlen(hex), len = 0;
	uint8_t *bin = arena_alloc(r->arena, hexlen / 2 + 1);
	ProtobufCAllocator al = {pb_alloc, pb_free, r->arena};

	if (sodium_hex2bin(bin, hexlen / 2 + 1, hex, hexlen, NULL, &len, NULL) != 0)
		return -1;
	Rb__Reply *stored = rb__reply__unpack(&al, len, bin);
	if (!stored)
		return -1;
	*r->reply = *stored;
	return 0;
}

/* Looks for a stored reply; *found set when one was replayed. */
static pg_status lookup(const idem_table *t, svc_req *r, pg *db, const char *id, int *found)
{
	PGresult *res;
	const char *p[] = {id};
	char lock[SQL_MAX], get[SQL_MAX];

	snprintf(lock, sizeof lock,
		 "SELECT pg_advisory_xact_lock(hashtextextended('%s.req:' || $1, 0))", t->schema);
	snprintf(get, sizeof get,
		 "SELECT encode(reply, 'hex') FROM %s.replies WHERE request_id = $1", t->schema);
	/* Serializes tries of one request across instances: a retry that
	 * arrives while the first try is still running waits here for it. */
	pg_status s = pg_query(db, NULL, lock, 1, p);
	if (s == PG_OK)
		s = pg_query(db, &res, get, 1, p);
	if (s != PG_OK)
		return s;
	*found = 0;
	if (PQntuples(res) > 0) {
		if (idem_replay(r, PQgetvalue(res, 0, 0)) == 0) {
			*found = 1;
			log_info("idem: %s %s answered with its stored reply",
				 svc_envelope_type(r->env), id);
		} else
			log_warn("idem: stored reply of %s does not decode; serving it again", id);
	}
	PQclear(res);
	return PG_OK;
}

pg_status idem_begin(const idem_table *t, svc_req *r, pg *db, int *replayed)
{
	const char *id = request_id(r);
	pg_status s;

	*replayed = 0;
	if (!schema_ok(t))
		return PG_ERROR;
	s = pg_begin(db);
	if (s != PG_OK || !id)
		return s;
	s = lookup(t, r, db, id, replayed);
	if (s == PG_OK && *replayed) {
		s = pg_commit(db);
		if (s != PG_OK)
			*replayed = 0;
		return s;
	}
	if (s != PG_OK)
		pg_rollback(db);
	return s;
}

static pg_status save(const idem_table *t, svc_req *r, pg *db, const char *id, int secret)
{
	size_t len = protobuf_c_message_get_packed_size(&r->reply->base);
	uint8_t *bin = arena_alloc(r->arena, len ? len : 1);
	char *hex = arena_alloc(r->arena, len * 2 + 1);
	char sql[SQL_MAX];

	protobuf_c_message_pack(&r->reply->base, bin);
	sodium_bin2hex(hex, len * 2 + 1, bin, len);
	const char *p[] = {id, hex, secret ? "t" : "f"};
	if (!(t->flags & IDEM_SECRETS)) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO %s.replies (request_id, reply) VALUES ($1, decode($2, 'hex'))"
			 " ON CONFLICT (request_id) DO NOTHING",
			 t->schema);
		return pg_query(db, NULL, sql, 2, p);
	}
	snprintf(sql, sizeof sql,
		 "INSERT INTO %s.replies (request_id, reply, secret)"
		 " VALUES ($1, decode($2, 'hex'), $3)"
		 " ON CONFLICT (request_id) DO NOTHING",
		 t->schema);
	return pg_query(db, NULL, sql, 3, p);
}

static pg_status commit(const idem_table *t, svc_req *r, pg *db, int secret)
{
	const char *id = request_id(r);
	pg_status s = PG_OK;

	if (secret && !(t->flags & IDEM_SECRETS)) {
		log_error("idem: %s.replies keeps no secret replies", t->schema);
		s = PG_ERROR;
	} else if (id) {
		s = save(t, r, db, id, secret);
	}
	if (s == PG_OK)
		return pg_commit(db);
	pg_rollback(db);
	return s;
}

pg_status idem_commit(const idem_table *t, svc_req *r, pg *db)
{
	return commit(t, r, db, 0);
}

pg_status idem_commit_secret(const idem_table *t, svc_req *r, pg *db)
{
	return commit(t, r, db, 1);
}

void idem_abort(pg *db)
{
	pg_rollback(db);
}

pg_status idem_prune(const idem_table *t, pg *db)
{
	char sql[SQL_MAX];
	pg_status s;

	if (!schema_ok(t))
		return PG_ERROR;
	snprintf(sql, sizeof sql,
		 "DELETE FROM %s.replies WHERE created_at < now() - interval '24 hours'",
		 t->schema);
	s = pg_query(db, NULL, sql, 0, NULL);
	if (s != PG_OK || !(t->flags & IDEM_SECRETS))
		return s;
	snprintf(sql, sizeof sql,
		 "DELETE FROM %s.replies WHERE secret"
		 " AND created_at < now() - interval '" IDEM_SECRET_KEEP "'",
		 t->schema);
	return pg_query(db, NULL, sql, 0, NULL);
}
