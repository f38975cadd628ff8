/* Integration tests of msgsvc (tests/integ_msg.c, tests/integ_msg_race.c,
 * tests/integ_msg_crash.c, tests/integ_msg_events.c). */
#define MSG_TESTS(X)                                                                               \
	X(msg_send_and_history)                                                                    \
	X(msg_forged_userid_ignored)                                                               \
	X(msg_room_checks)                                                                         \
	X(msg_segment_boundaries)                                                                  \
	X(msg_png_sizes_and_served)                                                                \
	X(msg_image_formats)                                                                       \
	X(msg_not_an_image_refused)                                                                \
	X(msg_upload_limit)                                                                        \
	X(msg_pixel_cap)                                                                           \
	X(msg_two_clients_order)                                                                   \
	X(msg_update_remove_author)                                                                \
	X(msg_update_remove_admin)                                                                 \
	X(msg_update_remove_denied)                                                                \
	X(msg_update_targets)                                                                      \
	X(msg_retry_stores_once)                                                                   \
	X(msg_outbox_drainer)                                                                      \
	X(msg_vengeance_masks)                                                                     \
	X(msg_room_removed_deletes)                                                                \
	X(msg_username_at_send_time)                                                               \
	X(msg_two_instances_consistent)                                                            \
	X(msg_retry_after_kill)                                                                    \
	X(msg_crash_kill9)                                                                         \
	X(msg_drain_term)

/* Helpers of the msg tests, defined in integ_msg.c (and, after the marks
 * below, in integ_msg_crash.c and integ_msg_race.c) and used by the integ_msg*.c files (only seen
 * by files that include integ.h first). */
#if defined(TESTS_INTEG_H) && !defined(TESTS_LIST_MSG_HELPERS)
#define TESTS_LIST_MSG_HELPERS
#include <libpq-fe.h>
#include <stdint.h>

#include "bus.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"

#define REMOVED "*Message Removed*"

/* REBUTTAL_SEGMENT_SIZE, as the stack has it. */
long mt_seg_size(void);
/* Creates a room of `type` named msg-<uniq>; its id into out (64 bytes). */
void mt_new_room(wsc *adm, const char *type, char *out);
/* A fresh account in group user, logged in; its id into uid (64 bytes). */
wsc *mt_new_user(wsc_ctx *ctx, wsc *adm, const char *name, char *uid);
/* mt_new_user, then a new text room (its id into room, 64 bytes). */
wsc *mt_user_and_room(wsc_ctx *ctx, wsc *adm, const char *name, char *uid, char *room);
/* Sends a message packet with only a text. */
void mt_say(wsc *c, const char *room, const char *text);
/* The next sendMessage's message object (caller decrefs the frame *f). */
json_t *mt_expect_sent(wsc *c, json_t **f);
/* Waits for an updateText of room/seg and returns it. */
json_t *mt_expect_text(wsc *c, const char *room, long long seg);
/* The message with idx in an updateText frame, or NULL. */
json_t *mt_msg_at(json_t *ut, long long idx);
/* Sends text and waits for its broadcasts; returns its idx. */
long long mt_say_ok(wsc *c, const char *room, const char *text);
/* getmessages for seg (-1: none given); the updateText frame. */
json_t *mt_get_segment(wsc *c, const char *room, long long seg);
/* Every message object has all eleven fields (PROTOCOL.md §2). */
void mt_check_shape(json_t *m);
json_t *mt_msgs_of(json_t *ut);
/* A real w x h RGB PNG. Caller frees. */
uint8_t *mt_png_make(uint32_t w, uint32_t h, size_t *len);
/* Sends an image and checks the stored message; returns its img (static). */
const char *mt_send_image(wsc *c, const char *uid, const char *room, const char *filename,
			  const uint8_t *p, size_t n, int w, int h);
/* The test process' bus connection (never closed). */
bus *mt_test_bus(void);
/* The upload behind img is gone, over the bus and over HTTP. */
void mt_check_gone(bus *b, const char *img);
/* Waits for the updateText in which idx has `text`; returns the message
 * (its frame into *f for the caller to decref). */
json_t *mt_changed(wsc *c, const char *room, long long idx, const char *text, json_t **f);
/* idx is masked as removemessage does, username kept. */
void mt_check_removed(json_t *m, long long idx, const char *username);

/* Defined in integ_msg_crash.c. */
/* Waits until msgsvc instance inst is ready and has its account directory
 * (a message before that is refused "not ready, try again"). */
void mt_wait_ready(const char *inst);

/* Defined in integ_msg_race.c. */
/* A connection to the stack's postgres (caller PQfinish-es it). */
PGconn *mt_test_pg(void);
/* Runs q (room as $1 unless NULL); fails the test on an error. */
void mt_sql(PGconn *pg, const char *q, const char *room);
/* The first column of q's first row (room as $1) as a number. */
long long mt_sql_num(PGconn *pg, const char *q, const char *room);
/* Rows of msg.<table> (messages, outbox) of room. */
int mt_rows(PGconn *pg, const char *table, const char *room);
/* Polls until room has no rows in msg.<table> (messages, outbox). */
void mt_no_rows(PGconn *pg, const char *table, const char *room, int ms);
#define MT_MAX_IDX 4096
enum { MT_MAX_SEQ = 1000 };
/* One client sending "c<k>-<seq>" texts into a room and recording what it
 * sees of the room. With one message in flight at a time (the next once
 * the previous came back as its own sendMessage or as an `error`), every
 * error belongs to exactly one message. */
typedef struct mt_sender {
	wsc *c;
	char uid[64];
	int k, quota, next, inflight; /* inflight: seq awaiting its outcome, or -1 */
	long long since, worst;       /* inflight's send time, longest wait */
	char err[MT_MAX_SEQ], own[MT_MAX_SEQ], stored[MT_MAX_SEQ];
	long long sent_at[MT_MAX_SEQ];
	int sms, errors, stray, lost, slow; /* slow: outcome after more than 1 s */
	int hard;                           /* errors that do not say "try again" */
	unsigned char sm[MT_MAX_IDX];       /* sendMessage frames per idx */
	unsigned char ut[MT_MAX_IDX];       /* idx seen in an updateText */
	json_t *last[MT_MAX_IDX];           /* last updateText per segment */
	char first_error[160];
} mt_sender;
/* n of them, client k numbered k (free with mt_senders_free). */
mt_sender *mt_senders_new(int n);
void mt_senders_free(mt_sender *ss, int n);
void mt_free_texts(char **t, int n);
/* s sends its next text into room. */
void mt_send_seq(mt_sender *s, const char *room);
/* Takes the frames there are (waiting up to ms on the first client when
 * there were none); 1 if there was one. */
int mt_pump(mt_sender *ss, int n, const char *room, int ms);
/* Pumps until every client saw `want` sendMessage frames and then nothing
 * came for quiet_ms. */
void mt_settle(mt_sender *ss, int n, const char *room, int want, long long quiet_ms);
/* History of room read by v checked against what the ns clients saw
 * (integ_msg_race.c says what); returns its length, the texts to *texts
 * (or freed). */
int mt_check_room(wsc *v, const char *room, mt_sender *ss, int ns, int strict, char ***texts);
/* Two clients (ss[0] adm, ss[1] a new user) send `each` messages at once
 * into a new room (its id into room, 64 bytes); returns the stored texts
 * (free with mt_free_texts(t, 2 * each)). */
char **mt_race(wsc_ctx *ctx, wsc *adm, char *room, int each, mt_sender *ss);
/* Counts sendMessage frames for room until nothing came for 500 ms. */
int mt_count_sent(wsc *c, const char *room);
/* A message request as the gateway would send it. */
typedef struct {
	Rb__Envelope env;
	Rb__CMessage cm;
	Rb__MessageIn in;
	char *perms[1];
	char rid[UUID_STR_LEN + 1];
} mt_message_req;
/* A fresh request id, sendMessage permission, text into room by uid. */
void mt_message_req_init(mt_message_req *q, const char *uid, const char *room, const char *text);
#endif
