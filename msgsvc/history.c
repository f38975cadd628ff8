#include "history.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tags travel out of Postgres joined by the unit separator, which the
 * handlers refuse inside a tag (tags must be printable), so the split is
 * exact; the count comes along so that one empty tag is not "no tags". */
#define TAG_SEP '\x1f'
#define MESSAGE_COLS                                                                          \
	"room_id, idx, user_id, username, text, cardinality(tags), "                          \
	"array_to_string(tags, E'\\x1f'), url, type, img, width, height"
#define UPLOAD_PREFIX "uploads/"

typedef struct {
	char s[24];
} num;

static num num_of(int64_t v)
{
	num n;
	snprintf(n.s, sizeof n.s, "%" PRId64, v);
	return n;
}

/* Column c of row as a string in a, or NULL when SQL NULL. */
static char *col(arena *a, const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : arena_strdup(a, PQgetvalue(res, row, c));
}

static void split_tags(arena *a, Rb__Message *m, const char *joined, long n)
{
	if (n <= 0 || !joined)
		return;
	m->tags = arena_alloc(a, (size_t)n * sizeof *m->tags);
	const char *p = joined;
	for (long i = 0; i < n; i++) {
		const char *end = strchr(p, TAG_SEP);
		size_t len = end ? (size_t)(end - p) : strlen(p);
		m->tags[m->n_tags++] = arena_strndup(a, p, len);
		if (!end)
			break;
		p = end + 1;
	}
}

/* One MESSAGE_COLS row as a message object with all eleven fields: the
 * unset optional ones render as null, tags as a list (maybe empty). */
static Rb__Message *row_message(arena *a, const PGresult *res, int row)
{
	Rb__Message *m = arena_alloc(a, sizeof *m);
	rb__message__init(m);
	m->roomid = col(a, res, row, 0);
	m->has_idx = 1;
	m->idx = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	m->userid = col(a, res, row, 2);
	m->username = col(a, res, row, 3);
	m->text = col(a, res, row, 4);
	split_tags(a, m, PQgetvalue(res, row, 6), strtol(PQgetvalue(res, row, 5), NULL, 10));
	m->url = col(a, res, row, 7);
	m->type = col(a, res, row, 8);
	m->img = col(a, res, row, 9);
	if ((m->has_width = !PQgetisnull(res, row, 10)))
		m->width = (int32_t)strtol(PQgetvalue(res, row, 10), NULL, 10);
	if ((m->has_height = !PQgetisnull(res, row, 11)))
		m->height = (int32_t)strtol(PQgetvalue(res, row, 11), NULL, 10);
	return m;
}

/* A text[] literal: every element quoted, with " and \ escaped. */
static char *tags_literal(arena *a, char *const *tags, size_t n)
{
	size_t need = 3;
	for (size_t i = 0; i < n; i++)
		need += 2 * strlen(tags[i]) + 3;
	char *out = arena_alloc(a, need), *q = out;
	*q++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*q++ = ',';
		*q++ = '"';
		for (const char *p = tags[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				*q++ = '\\';
			*q++ = *p;
		}
		*q++ = '"';
	}
	*q++ = '}';
	*q = '\0';
	return out;
}

pg_status hist_append(pg *db, const hist_new *m, int64_t *idx)
{
	PGresult *res;
	arena a = ARENA_INIT;
	const char *alloc[] = {m->room_id};
	pg_status s = pg_query(
		db, &res,
		"INSERT INTO msg.rooms AS r (room_id, next_idx) VALUES ($1, 1)"
		" ON CONFLICT (room_id) DO UPDATE SET next_idx = r.next_idx + 1"
		" RETURNING next_idx - 1",
		1, alloc);
	if (s != PG_OK)
		return s;
	*idx = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	num i = num_of(*idx), w = num_of(m->width), h = num_of(m->height);
	const char *p[] = {m->room_id, i.s, m->user_id, m->username, m->text,
			   tags_literal(&a, m->tags, m->n_tags), m->url, m->img,
			   m->img ? w.s : NULL, m->img ? h.s : NULL, m->request_id};
	s = pg_query(db, NULL,
		     "INSERT INTO msg.messages (room_id, idx, user_id, username, text, tags, url,"
		     " img, width, height, request_id)"
		     " VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9, $10, $11)",
		     11, p);
	arena_free(&a);
	return s;
}

pg_status hist_segment(pg *db, arena *a, const char *room_id, int64_t seg, long S,
		       Rb__SUpdateText *out)
{
	PGresult *res;

	out->roomid = arena_strdup(a, room_id);
	out->has_segment = 1;
	out->segment = seg;
	out->n_messages = 0;
	/* A segment whose first idx does not fit int64 is past any end. */
	if (seg > INT64_MAX / S - 1)
		return PG_OK;
	num lo = num_of(seg * S), hi = num_of(seg * S + S);
	const char *p[] = {room_id, lo.s, hi.s};
	pg_status s = pg_query(db, &res,
			       "SELECT " MESSAGE_COLS " FROM msg.messages WHERE room_id = $1"
			       " AND idx >= $2 AND idx < $3 ORDER BY idx",
			       3, p);
	if (s != PG_OK)
		return s;
	int n = PQntuples(res);
	out->messages = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *out->messages);
	for (int r = 0; r < n; r++)
		out->messages[out->n_messages++] = row_message(a, res, r);
	PQclear(res);
	return PG_OK;
}

pg_status hist_newest_segment(pg *db, const char *room_id, long S, int64_t *seg)
{
	PGresult *res;
	const char *p[] = {room_id};
	pg_status s = pg_query(db, &res, "SELECT next_idx FROM msg.rooms WHERE room_id = $1",
			       1, p);
	if (s != PG_OK)
		return s;
	int64_t next = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	*seg = next > 0 ? (next - 1) / S : 0;
	PQclear(res);
	return PG_OK;
}

pg_status hist_lock(pg *db, arena *a, const char *room_id, int64_t idx, int *found,
		    char **user_id, char **img)
{
	PGresult *res;
	num i = num_of(idx);
	const char *p[] = {room_id, i.s};
	pg_status s = pg_query(db, &res,
			       "SELECT user_id, img FROM msg.messages"
			       " WHERE room_id = $1 AND idx = $2 FOR UPDATE",
			       2, p);
	if (s != PG_OK)
		return s;
	*found = PQntuples(res) > 0;
	*user_id = *found ? col(a, res, 0, 0) : NULL;
	*img = *found ? col(a, res, 0, 1) : NULL;
	PQclear(res);
	return PG_OK;
}

pg_status hist_edit(pg *db, const char *room_id, int64_t idx, const char *text,
		    const char *url, char *const *tags, size_t n_tags, int set_tags)
{
	arena a = ARENA_INIT;
	num i = num_of(idx);
	const char *p[] = {room_id, i.s, text, url, set_tags ? tags_literal(&a, tags, n_tags) : NULL};
	/* A NULL parameter keeps the column as it is. */
	pg_status s = pg_query(db, NULL,
			       "UPDATE msg.messages SET text = coalesce($3, text),"
			       " url = coalesce($4, url), tags = coalesce($5::text[], tags)"
			       " WHERE room_id = $1 AND idx = $2",
			       5, p);
	arena_free(&a);
	return s;
}

/* Deletes the upload an img URL points at; nothing for other URLs. */
static pg_status upload_delete_img(pg *db, const char *img)
{
	size_t plen = strlen(UPLOAD_PREFIX);
	if (!img || strncmp(img, UPLOAD_PREFIX, plen))
		return PG_OK;
	const char *p[] = {img + plen};
	return pg_query(db, NULL, "DELETE FROM msg.uploads WHERE path = $1", 1, p);
}

pg_status hist_mask(pg *db, const char *room_id, int64_t idx, const char *img)
{
	num i = num_of(idx);
	const char *p[] = {room_id, i.s};
	pg_status s = pg_query(db, NULL,
			       "UPDATE msg.messages SET text = '" HIST_REMOVED_TEXT "',"
			       " user_id = NULL, img = NULL, width = NULL, height = NULL"
			       " WHERE room_id = $1 AND idx = $2",
			       2, p);
	return s == PG_OK ? upload_delete_img(db, img) : s;
}

pg_status hist_mask_user(pg *db, arena *a, const char *user_id, long S, hist_seg **segs,
			 size_t *n)
{
	PGresult *res;
	num sz = num_of(S);
	const char *p[] = {user_id, sz.s};
	pg_status s = pg_query(
		db, &res,
		"WITH m AS (UPDATE msg.messages SET text = '" HIST_REMOVED_TEXT "', user_id = NULL,"
		" img = NULL, width = NULL, height = NULL WHERE user_id = $1 RETURNING room_id, idx)"
		" SELECT DISTINCT room_id, idx / $2::bigint AS seg FROM m ORDER BY room_id, seg",
		2, p);
	if (s != PG_OK)
		return s;
	int rows = PQntuples(res);
	*segs = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof **segs);
	for (int r = 0; r < rows; r++) {
		(*segs)[r].room_id = col(a, res, r, 0);
		(*segs)[r].segment = strtoll(PQgetvalue(res, r, 1), NULL, 10);
	}
	*n = (size_t)rows;
	PQclear(res);
	const char *u[] = {user_id};
	return pg_query(db, NULL, "DELETE FROM msg.uploads WHERE user_id = $1", 1, u);
}

pg_status hist_room_delete(pg *db, const char *room_id)
{
	static const char *const steps[] = {
		"DELETE FROM msg.uploads WHERE path IN (SELECT substr(img, length('" UPLOAD_PREFIX
		"') + 1) FROM msg.messages WHERE room_id = $1 AND img LIKE '" UPLOAD_PREFIX "%')",
		"DELETE FROM msg.messages WHERE room_id = $1",
		"DELETE FROM msg.rooms WHERE room_id = $1",
		"DELETE FROM msg.outbox WHERE room_id = $1",
	};
	const char *p[] = {room_id};
	pg_status s = PG_OK;
	for (size_t i = 0; s == PG_OK && i < sizeof steps / sizeof *steps; i++)
		s = pg_query(db, NULL, steps[i], 1, p);
	return s;
}

pg_status hist_upload_put(pg *db, const char *path, const char *user_id,
			  const char *content_type, const uint8_t *bytes, size_t len)
{
	const char *p[] = {path, user_id, content_type, (const char *)bytes};
	const int lengths[] = {0, 0, 0, (int)len}, formats[] = {0, 0, 0, 1};
	return pg_query_ex(db, NULL,
			   "INSERT INTO msg.uploads (path, user_id, content_type, bytes)"
			   " VALUES ($1, $2, $3, $4)",
			   4, p, lengths, formats, 0);
}

pg_status hist_upload_get(pg *db, arena *a, const char *path, int *found,
			  char **content_type, ProtobufCBinaryData *bytes)
{
	PGresult *res;
	const char *p[] = {path};
	/* Binary results: the bytea arrives as its raw bytes, and text
	 * columns as their characters (PQgetvalue adds the NUL). */
	pg_status s = pg_query_ex(db, &res,
				  "SELECT content_type, bytes FROM msg.uploads WHERE path = $1",
				  1, p, NULL, NULL, 1);
	if (s != PG_OK)
		return s;
	*found = PQntuples(res) > 0;
	if (*found) {
		size_t len = (size_t)PQgetlength(res, 0, 1);
		*content_type = arena_strdup(a, PQgetvalue(res, 0, 0));
		bytes->data = arena_alloc(a, len ? len : 1);
		memcpy(bytes->data, PQgetvalue(res, 0, 1), len);
		bytes->len = len;
	}
	PQclear(res);
	return PG_OK;
}
