/* The msg schema's statements about messages, segments and uploads. Each
 * function runs its statements on the connection it is given, inside
 * whatever transaction the caller has open; results that outlive the call
 * are allocated in the caller's arena. On failure the store has logged it
 * and the caller rolls back. */
#ifndef MSG_HISTORY_H
#define MSG_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "rebuttal.pb-c.h"
#include "pg.h"

#define HIST_REMOVED_TEXT "*Message Removed*"

/* A message to append. Strings are borrowed for the call. */
typedef struct {
	const char *room_id, *user_id, *username, *text;
	const char *url;        /* NULL: none */
	char *const *tags;
	size_t n_tags;
	const char *request_id; /* NULL: none */
	const char *img;        /* "uploads/<path>", or NULL without an image */
	int32_t width, height;
} hist_new;

/* Takes the room's next idx (the counter row stays locked until the
 * transaction ends, so concurrent senders take turns and a rollback leaves
 * no gap) and inserts the message. *idx is the new message's idx. */
pg_status hist_append(pg *db, const hist_new *m, int64_t *idx);

/* Fills out (roomid, segment, messages ascending, each with all eleven
 * fields set or null) with segment seg of S messages; past the end the
 * list is empty. */
pg_status hist_segment(pg *db, arena *a, const char *room_id, int64_t seg, long S,
		       Rb__SUpdateText *out);
/* floor(last idx / S), or 0 for a room without messages. */
pg_status hist_newest_segment(pg *db, const char *room_id, long S, int64_t *seg);

/* Locks the message for a change and reads its author (NULL when masked)
 * and image URL (NULL when none); *found 0 when there is no such message. */
pg_status hist_lock(pg *db, arena *a, const char *room_id, int64_t idx, int *found,
		    char **user_id, char **img);
/* Sets text and url when not NULL, and tags when set_tags. */
pg_status hist_edit(pg *db, const char *room_id, int64_t idx, const char *text,
		    const char *url, char *const *tags, size_t n_tags, int set_tags);
/* Masks the message as removed and deletes its image (img from hist_lock). */
pg_status hist_mask(pg *db, const char *room_id, int64_t idx, const char *img);

/* A segment touched by a bulk change. */
typedef struct {
	char *room_id;
	int64_t segment;
} hist_seg;
/* Masks every message of user_id and deletes the user's uploads; *segs
 * (in a, *n of them) are the segments that changed. */
pg_status hist_mask_user(pg *db, arena *a, const char *user_id, long S, hist_seg **segs,
			 size_t *n);
/* Deletes the room's messages, their images and the room's counter. */
pg_status hist_room_delete(pg *db, const char *room_id);

/* Uploads: path is "<userid>/<name>". */
pg_status hist_upload_put(pg *db, const char *path, const char *user_id,
			  const char *content_type, const uint8_t *bytes, size_t len);
/* *found 0 when unknown; else the type and bytes, copied into a. */
pg_status hist_upload_get(pg *db, arena *a, const char *path, int *found,
			  char **content_type, ProtobufCBinaryData *bytes);

#endif
