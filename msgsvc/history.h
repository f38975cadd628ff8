/* The msg schema's statements about messages, segments and uploads. Each
 * function runs its statements on the connection it is given (the reads
 * and bulk changes inside whatever transaction the caller has open; the
 * writes of one message are a transaction of their own); results that
 * outlive the call are allocated in the caller's arena. On failure the
 * store has logged it (and the caller rolls back what it opened). */
#ifndef MSG_HISTORY_H
#define MSG_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "pg.h"
#include "rebuttal.pb-c.h"

#define HIST_REMOVED_TEXT "*Message Removed*"

/* A message to append. Strings are borrowed for the call. */
typedef struct {
	const char *room_id, *user_id, *username, *text;
	const char *url; /* NULL: none */
	char *const *tags;
	size_t n_tags;
	const char *img; /* "uploads/<path>", or NULL without an image */
	int32_t width, height;
} hist_new;

/* The image of a message, stored with it. */
typedef struct {
	const char *path; /* "<userid>/<name>" */
	const char *content_type;
	const uint8_t *bytes;
	size_t len;
} hist_upload;

/* A change of one message. */
typedef struct {
	const char *room_id;
	int64_t idx;
	const char *user_id;    /* who asks: may change their own message */
	int any;                /* may change anyone's (changeMessage) */
	int remove;             /* mask as removed, else edit: */
	const char *text, *url; /* set when not NULL */
	char *const *tags;
	size_t n_tags;
	int set_tags;
} hist_edit;

/* Exactly once: the request id (NULL: none, the write happens every time)
 * and the packed rb.Reply stored under it with the write. */
typedef struct {
	const char *request_id;
	const uint8_t *reply;
	size_t reply_len;
} hist_once;

/* What a write answered, in the caller's arena: exactly one of
 *   reply_hex  a stored reply (a retry): nothing was written;
 *   refused    "not_found" or "denied" (hist_change): nothing was written;
 *   ut         written and committed: box is its outbox row, idx the
 *              message's, ut its segment (msg that message within it),
 *              read under the room's publishing lock, which the session of
 *              db still holds: the caller publishes and then calls
 *              outbox_published (outbox.h) on the same connection. */
typedef struct {
	char *reply_hex;
	char *refused;
	int64_t box, idx;
	Rb__SUpdateText *ut;
	Rb__Message *msg;
} hist_written;

/* The writes below are one statement each, outside any transaction of the
 * caller, so pg may send one again on a fresh connection when the first
 * broke under it: with a request id that is harmless (the second finds the
 * first's reply, or waits for the first on the request's lock); without
 * one the write may happen twice, as a caller's own retry would. */

/* One statement, one transaction (msg.message_post): takes the room's next
 * idx (the counter row stays locked until commit, so concurrent senders
 * take turns and a rollback leaves no gap), inserts the message, the
 * upload (up, or NULL), the outbox row 'send' and the reply. On failure
 * nothing is written; the publishing lock may be held (outbox_release). */
pg_status hist_post(pg *db, arena *a, const hist_once *once, const hist_new *m,
		    const hist_upload *up, long S, hist_written *out);
/* The same for an edit or a removal (msg.message_change): outbox row
 * 'text'; a removal deletes the message's upload. */
pg_status hist_change(pg *db, arena *a, const hist_once *once, const hist_edit *e, long S,
		      hist_written *out);

/* Fills out (roomid, segment, messages ascending, each with all eleven
 * fields set or null) with segment seg of S messages; past the end the
 * list is empty. */
pg_status hist_segment(pg *db, arena *a, const char *room_id, int64_t seg, long S,
		       Rb__SUpdateText *out);
/* The same for the newest segment: floor(last idx / S), or 0 for a room
 * without messages. One round trip. */
pg_status hist_newest(pg *db, arena *a, const char *room_id, long S, Rb__SUpdateText *out);

/* A segment touched by a bulk change. */
typedef struct {
	char *room_id;
	int64_t segment;
} hist_seg;
/* Masks every message of user_id and deletes the user's uploads; *segs
 * (in a, *n of them) are the segments that changed. */
pg_status hist_mask_user(pg *db, arena *a, const char *user_id, long S, hist_seg **segs, size_t *n);
/* Deletes the room's messages, their images and the room's counter. */
pg_status hist_room_delete(pg *db, const char *room_id);

/* Uploads: path is "<userid>/<name>". *found 0 when unknown; else the type and bytes, copied into a. */
pg_status hist_upload_get(pg *db, arena *a, const char *path, int *found, char **content_type,
			  ProtobufCBinaryData *bytes);

#endif
