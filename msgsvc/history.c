#include "history.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Tags travel out of Postgres joined by the unit separator, which the
 * handlers refuse inside a tag (tags must be printable), so the split is
 * exact; the count comes along so that one empty tag is not "no tags". */
#define TAG_SEP '\x1f'
#define MESSAGE_COLS                                                                               \
	"room_id, idx, user_id, username, text, cardinality(tags), "                               \
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

/* The MESSAGE_COLS at columns c.. of row as a message object with all
 * eleven fields: the unset optional ones render as null, tags as a list
 * (maybe empty). */
static Rb__Message *row_message(arena *a, const PGresult *res, int row, int c)
{
	Rb__Message *m = arena_alloc(a, sizeof *m);
	rb__message__init(m);
	m->roomid = col(a, res, row, c);
	m->has_idx = 1;
	m->idx = strtoll(PQgetvalue(res, row, c + 1), NULL, 10);
	m->userid = col(a, res, row, c + 2);
	m->username = col(a, res, row, c + 3);
	m->text = col(a, res, row, c + 4);
	split_tags(a, m, PQgetvalue(res, row, c + 6),
		   strtol(PQgetvalue(res, row, c + 5), NULL, 10));
	m->url = col(a, res, row, c + 7);
	m->type = col(a, res, row, c + 8);
	m->img = col(a, res, row, c + 9);
	if ((m->has_width = !PQgetisnull(res, row, c + 10)))
		m->width = (int32_t)strtol(PQgetvalue(res, row, c + 10), NULL, 10);
	if ((m->has_height = !PQgetisnull(res, row, c + 11)))
		m->height = (int32_t)strtol(PQgetvalue(res, row, c + 11), NULL, 10);
	return m;
}

/* Starts out as segment seg of room_id with room for n messages. */
static void segment_init(arena *a, Rb__SUpdateText *out, const char *room_id, int64_t seg, int n)
{
	out->roomid = arena_strdup(a, room_id);
	out->has_segment = 1;
	out->segment = seg;
	out->n_messages = 0;
	out->messages = arena_alloc(a, (size_t)(n > 0 ? n : 1) * sizeof *out->messages);
}

/* Adds the rows of res from column c on whose idx is not NULL (an outer
 * join's empty side). */
static void segment_fill(arena *a, Rb__SUpdateText *out, const PGresult *res, int c)
{
	for (int r = 0; r < PQntuples(res); r++)
		if (!PQgetisnull(res, r, c + 1))
			out->messages[out->n_messages++] = row_message(a, res, r, c);
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

/* Columns of what msg.message_post and msg.message_change answer
 * (migrations/002_one_statement.sql), the MESSAGE_COLS last. */
enum { W_REPLY, W_REFUSED, W_BOX, W_IDX, W_ROWS };

/* Reads a write function's answer into *w. PG_ERROR (logged) when it is
 * not one: a write that went through returns its segment, which holds at
 * least the message written. */
static pg_status written_of(arena *a, const PGresult *res, const char *room_id, long S,
			    hist_written *w)
{
	int n = PQntuples(res);
	memset(w, 0, sizeof *w);
	if (n > 0 && !PQgetisnull(res, 0, W_REPLY)) {
		w->reply_hex = col(a, res, 0, W_REPLY);
		return PG_OK;
	}
	if (n > 0 && !PQgetisnull(res, 0, W_REFUSED)) {
		w->refused = col(a, res, 0, W_REFUSED);
		return PG_OK;
	}
	if (n == 0 || PQgetisnull(res, 0, W_BOX) || PQgetisnull(res, 0, W_IDX)) {
		log_error("history: a write of %s answered no segment", room_id);
		return PG_ERROR;
	}
	w->box = strtoll(PQgetvalue(res, 0, W_BOX), NULL, 10);
	w->idx = strtoll(PQgetvalue(res, 0, W_IDX), NULL, 10);
	w->ut = arena_alloc(a, sizeof *w->ut);
	rb__supdate_text__init(w->ut);
	segment_init(a, w->ut, room_id, w->idx / S, n);
	segment_fill(a, w->ut, res, W_ROWS);
	for (size_t i = 0; i < w->ut->n_messages; i++)
		if (w->ut->messages[i]->idx == w->idx)
			w->msg = w->ut->messages[i];
	return PG_OK;
}

/* Runs a writing function (prepared statement name: sql with n
 * parameters) and reads the row it wrote. */
static pg_status write_row(pg *db, arena *a, const char *name, const char *sql, int n,
			   const char *const *p, const int *lengths, const int *formats,
			   const char *room_id, long S, hist_written *out)
{
	PGresult *res;
	pg_status s = pg_prepared(db, &res, name, sql, n, p, lengths, formats, 0);
	if (s != PG_OK)
		return s;
	s = written_of(a, res, room_id, S, out);
	PQclear(res);
	return s;
}

pg_status hist_post(pg *db, arena *a, const hist_once *once, const hist_new *m,
		    const hist_upload *up, long S, hist_written *out)
{
	num w = num_of(m->width), h = num_of(m->height), sz = num_of(S);
	const char *p[] = {once->request_id,
			   (const char *)once->reply,
			   m->room_id,
			   m->user_id,
			   m->username,
			   m->text,
			   tags_literal(a, m->tags, m->n_tags),
			   m->url,
			   m->img,
			   m->img ? w.s : NULL,
			   m->img ? h.s : NULL,
			   up ? up->path : NULL,
			   up ? up->content_type : NULL,
			   up ? (const char *)up->bytes : NULL,
			   sz.s};
	/* The reply and the image go as raw bytes (binary bytea). */
	const int lengths[15] = {[1] = (int)once->reply_len, [13] = up ? (int)up->len : 0},
		  formats[15] = {[1] = 1, [13] = 1};
	return write_row(db, a, "hist_post",
			 "SELECT * FROM msg.message_post($1, $2, $3, $4, $5, $6, $7::text[],"
			 " $8, $9, $10, $11, $12, $13, $14, $15)",
			 15, p, lengths, formats, m->room_id, S, out);
}

pg_status hist_change(pg *db, arena *a, const hist_once *once, const hist_edit *e, long S,
		      hist_written *out)
{
	num i = num_of(e->idx), sz = num_of(S);
	const char *p[] = {once->request_id,
			   (const char *)once->reply,
			   e->room_id,
			   i.s,
			   e->user_id,
			   e->any ? "t" : "f",
			   e->remove ? "t" : "f",
			   e->text,
			   e->url,
			   e->set_tags ? tags_literal(a, e->tags, e->n_tags) : NULL,
			   sz.s};
	const int lengths[11] = {[1] = (int)once->reply_len}, formats[11] = {[1] = 1};
	return write_row(db, a, "hist_change",
			 "SELECT * FROM msg.message_change($1, $2, $3, $4, $5, $6, $7, $8, $9,"
			 " $10::text[], $11)",
			 11, p, lengths, formats, e->room_id, S, out);
}
pg_status hist_segment(pg *db, arena *a, const char *room_id, int64_t seg, long S,
		       Rb__SUpdateText *out)
{
	PGresult *res;

	/* A segment whose first idx does not fit int64 is past any end. */
	if (seg > INT64_MAX / S - 1) {
		segment_init(a, out, room_id, seg, 0);
		return PG_OK;
	}
	num lo = num_of(seg * S), hi = num_of(seg * S + S);
	const char *p[] = {room_id, lo.s, hi.s};
	/* LIMIT S changes no answer (idx is unique in a room) but lets
	 * Postgres keep one generic plan: without it, it plans every call
	 * again (its estimate of an unknown range made the generic plan look
	 * dearer), which cost more than running the query. S is the same for
	 * every call of this process, as a prepared statement needs. */
	char sql[320];
	snprintf(sql, sizeof sql,
		 "SELECT " MESSAGE_COLS " FROM msg.messages WHERE room_id = $1"
		 " AND idx >= $2 AND idx < $3 ORDER BY idx LIMIT %ld",
		 S);
	pg_status s = pg_prepared(db, &res, "hist_segment", sql, 3, p, NULL, NULL, 0);
	if (s != PG_OK)
		return s;
	segment_init(a, out, room_id, seg, PQntuples(res));
	segment_fill(a, out, res, 0);
	PQclear(res);
	return PG_OK;
}

pg_status hist_newest(pg *db, arena *a, const char *room_id, long S, Rb__SUpdateText *out)
{
	PGresult *res;
	num sz = num_of(S);
	const char *p[] = {room_id, sz.s};
	/* One row at least: the segment number, and the messages if any. */
	pg_status s = pg_prepared(
		db, &res, "hist_newest",
		"SELECT n.seg, s.* FROM (SELECT coalesce((SELECT (next_idx - 1) / $2::bigint"
		" FROM msg.rooms WHERE room_id = $1 AND next_idx > 0), 0) AS seg) n"
		" LEFT JOIN LATERAL msg.segment_rows($1, n.seg, $2) s ON true",
		2, p, NULL, NULL, 0);
	if (s != PG_OK)
		return s;
	int64_t seg = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	segment_init(a, out, room_id, seg, PQntuples(res));
	segment_fill(a, out, res, 1);
	PQclear(res);
	return PG_OK;
}

pg_status hist_mask_user(pg *db, arena *a, const char *user_id, long S, hist_seg **segs, size_t *n)
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

pg_status hist_upload_get(pg *db, arena *a, const char *path, int *found, char **content_type,
			  ProtobufCBinaryData *bytes)
{
	PGresult *res;
	const char *p[] = {path};
	/* Binary results: the bytea arrives as its raw bytes, and text
	 * columns as their characters (PQgetvalue adds the NUL). */
	pg_status s = pg_prepared(db, &res, "hist_upload_get",
				  "SELECT content_type, bytes FROM msg.uploads WHERE path = $1", 1,
				  p, NULL, NULL, 1);
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
