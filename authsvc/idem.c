#include "idem.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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

/* Copies a stored reply (hex text) into r->reply. 0, or -1 when it does not
 * decode (then the request is served afresh: better than failing it). */
static int replay(svc_req *r, const char *hex)
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
static store_status lookup(svc_req *r, store *db, const char *id, int *found)
{
	PGresult *res;
	const char *p[] = {id};
	/* Serializes tries of one request across instances: a retry that
	 * arrives while the first try is still running waits here for it. */
	store_status s = store_query(db, NULL,
				     "SELECT pg_advisory_xact_lock(hashtextextended('auth.req:' || $1, 0))",
				     1, p);
	if (s == STORE_OK)
		s = store_query(db, &res,
				"SELECT encode(reply, 'hex') FROM auth.replies WHERE request_id = $1",
				1, p);
	if (s != STORE_OK)
		return s;
	*found = 0;
	if (PQntuples(res) > 0) {
		if (replay(r, PQgetvalue(res, 0, 0)) == 0) {
			*found = 1;
			log_info("idem: %s %s answered with its stored reply", envelope_type(r->env), id);
		}
		else
			log_warn("idem: stored reply of %s does not decode; serving it again", id);
	}
	PQclear(res);
	return STORE_OK;
}

store_status idem_begin(svc_req *r, store *db, int *replayed)
{
	const char *id = request_id(r);
	store_status s = store_begin(db);

	*replayed = 0;
	if (s != STORE_OK || !id)
		return s;
	s = lookup(r, db, id, replayed);
	if (s == STORE_OK && *replayed) {
		s = store_commit(db);
		if (s != STORE_OK)
			*replayed = 0;
		return s;
	}
	if (s != STORE_OK)
		store_rollback(db);
	return s;
}

static store_status save(svc_req *r, store *db, const char *id, int secret)
{
	size_t len = protobuf_c_message_get_packed_size(&r->reply->base);
	uint8_t *bin = arena_alloc(r->arena, len ? len : 1);
	char *hex = arena_alloc(r->arena, len * 2 + 1);

	protobuf_c_message_pack(&r->reply->base, bin);
	sodium_bin2hex(hex, len * 2 + 1, bin, len);
	const char *p[] = {id, hex, secret ? "t" : "f"};
	return store_query(db, NULL,
			   "INSERT INTO auth.replies (request_id, reply, secret)"
			   " VALUES ($1, decode($2, 'hex'), $3)"
			   " ON CONFLICT (request_id) DO NOTHING",
			   3, p);
}

static store_status commit(svc_req *r, store *db, int secret)
{
	const char *id = request_id(r);
	store_status s = id ? save(r, db, id, secret) : STORE_OK;

	if (s == STORE_OK)
		return store_commit(db);
	store_rollback(db);
	return s;
}

store_status idem_commit(svc_req *r, store *db)
{
	return commit(r, db, 0);
}

store_status idem_commit_secret(svc_req *r, store *db)
{
	return commit(r, db, 1);
}

void idem_abort(store *db)
{
	store_rollback(db);
}

store_status idem_prune(store *db)
{
	store_status s = store_query(
		db, NULL, "DELETE FROM auth.replies WHERE created_at < now() - interval '24 hours'", 0,
		NULL);
	if (s == STORE_OK)
		s = store_query(db, NULL,
				"DELETE FROM auth.replies WHERE secret"
				" AND created_at < now() - interval '" IDEM_SECRET_KEEP "'",
				0, NULL);
	return s;
}
