/* Connections and their state. Loop thread only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "log.h"
#include "request.h"
#include "svc.h"

typedef struct outq_item {
	struct outq_item *next;
	frame *f;    /* NULL once a newer list replaced it: skipped, never written */
	size_t sent; /* bytes of f already written as fragments (HTTP/2) */
} outq_item;

/* ----------------------------------------------------------------- frames */

frame *frame_from_json(json_t *obj)
{
	size_t len = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	frame *f = len ? malloc(sizeof *f + LWS_PRE + len) : NULL;
	if (!f)
		return NULL;
	f->refs = 1;
	f->list = FRAME_PACKET;
	f->born = (struct timespec){0, 0};
	f->len = json_dumpb(obj, (char *)f->data + LWS_PRE, len, JSON_COMPACT);
	return f;
}

/* Frames are shared between the cnats thread that renders them and the loop
 * that writes them, so the count is atomic. */
void frame_ref(frame *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

void frame_unref(frame *f)
{
	if (f && __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(f);
}

/* ------------------------------------------------------------ the indexes */

static unsigned hash_str(const char *s)
{
	return (unsigned)(str_hash(s) % GW_BUCKETS);
}

session *session_find(gw *g, const char *cid)
{
	for (session *s = g->by_id[hash_str(cid)]; s; s = s->next_id)
		if (!strcmp(s->cid, cid))
			return s;
	return NULL;
}

user_entry *user_find(gw *g, const char *user_id)
{
	for (user_entry *u = g->users[hash_str(user_id)]; u; u = u->next)
		if (!strcmp(u->user_id, user_id))
			return u;
	return NULL;
}

session *session_new(gw *g, struct lws *wsi)
{
	session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->gw = g;
	s->wsi = wsi;
	s->id = ++g->next_conn;
	snprintf(s->cid, sizeof s->cid, "%llu", (unsigned long long)s->id);
	unsigned h = hash_str(s->cid);
	s->next_id = g->by_id[h];
	g->by_id[h] = s;
	g->n_sessions++;
	return s;
}

static void perms_free(session *s)
{
	for (size_t i = 0; i < s->nperms; i++)
		free(s->perms[i]);
	free(s->perms);
	s->perms = NULL;
	s->nperms = 0;
}

void session_set_perms(session *s, char *const *perms, size_t n)
{
	char **p = n ? calloc(n, sizeof *p) : NULL;
	perms_free(s);
	if (n && !p)
		return;
	for (size_t i = 0; i < n; i++) {
		p[i] = strdup(perms[i]);
		if (!p[i])
			break;
		s->nperms = i + 1;
	}
	s->perms = p;
}

typedef struct {
	gw *g;
	uint64_t id;
	char user_id[UUID_STR_LEN + 1];
} barrier_ctx;

/* cnats thread (it came back) or loop thread (timeout): either way the
 * loop releases the user's sessions (after a timeout NATS is in trouble
 * and holding them longer helps nobody). */
static void on_barrier(void *ud, enum bus_result r, const void *data, size_t len)
{
	barrier_ctx *bc = ud;
	gw_item *it = item_new(IT_BARRIER, bc->user_id, NULL, 0);
	(void)data, (void)len;
	if (r != BUS_REPLY)
		log_warn("user %s: NATS did not confirm the subscription in time", bc->user_id);
	if (it) {
		it->id = bc->id;
		item_post(bc->g, it);
	}
	free(bc);
}

void barrier_handle(gw *g, gw_item *it)
{
	const char *user_id = it->key;
	uint64_t barrier = it->id;
	user_entry *u = user_find(g, user_id);
	if (!u || u->barrier != barrier) /* gone, or subscribed anew since */
		return;
	u->barrier = 0;
	for (session *s = u->sessions; s; s = s->next_user) {
		s->held = 0;
		if (s->wsi)
			lws_callback_on_writable(s->wsi);
	}
}

static user_entry *user_get(gw *g, const char *user_id)
{
	user_entry *u = user_find(g, user_id);
	if (u)
		return u;
	u = calloc(1, sizeof *u);
	barrier_ctx *bc = malloc(sizeof *bc);
	if (!u || !bc) {
		free(u), free(bc);
		return NULL;
	}
	snprintf(u->user_id, sizeof u->user_id, "%s", user_id);
	char subject[96];
	snprintf(subject, sizeof subject, "rb.out.user.%s", user_id);
	u->sub = bus_subscribe(g->bus, subject, NULL, deliver_bus_msg, g);
	/* Deliveries to this user published after the login reply must reach
	 * us: nothing is written to the user's sessions until the server is
	 * known to have the subscription. A barrier, not a flush: the loop
	 * serves every other socket meanwhile. */
	*bc = (barrier_ctx){.g = g, .id = ++g->next_barrier};
	snprintf(bc->user_id, sizeof bc->user_id, "%s", user_id);
	u->barrier = bc->id;
	if (!u->sub || bus_barrier(g->bus, (int)g->cfg->req_timeout_ms, on_barrier, bc) < 0) {
		bus_sub_close(u->sub);
		free(u), free(bc);
		return NULL;
	}
	unsigned h = hash_str(user_id);
	u->next = g->users[h];
	g->users[h] = u;
	return u;
}

static void user_drop(gw *g, user_entry *u)
{
	for (user_entry **pp = &g->users[hash_str(u->user_id)]; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	bus_sub_close(u->sub);
	free(u);
}

int session_login(session *s, const char *user_id, char *const *perms, size_t n)
{
	gw *g = s->gw;
	user_entry *u = user_get(g, user_id);
	if (!u)
		return -1;
	snprintf(s->user_id, sizeof s->user_id, "%s", user_id);
	session_set_perms(s, perms, n);
	s->user = u;
	s->held = u->barrier != 0;
	s->next_user = u->sessions;
	u->sessions = s;
	s->logged_in = 1;
	s->next_online = g->online;
	s->prev_online = NULL;
	if (g->online)
		g->online->prev_online = s;
	g->online = s;
	g->n_online++;
	g->conn_sum += svc_conn_digest(s->cid);
	limits_conn_login(s);
	return 0;
}

static void session_logout(session *s)
{
	gw *g = s->gw;
	user_entry *u = s->user;
	if (!s->logged_in)
		return;
	for (session **pp = &u->sessions; *pp; pp = &(*pp)->next_user) {
		if (*pp == s) {
			*pp = s->next_user;
			break;
		}
	}
	if (!u->sessions)
		user_drop(g, u);
	if (s->prev_online)
		s->prev_online->next_online = s->next_online;
	else
		g->online = s->next_online;
	if (s->next_online)
		s->next_online->prev_online = s->prev_online;
	g->n_online--;
	g->conn_sum -= svc_conn_digest(s->cid);
	s->logged_in = 0;
	s->user = NULL;
}

void session_free(session *s)
{
	gw *g = s->gw;
	limits_conn_close(s);
	session_logout(s);
	for (session **pp = &g->by_id[hash_str(s->cid)]; *pp; pp = &(*pp)->next_id) {
		if (*pp == s) {
			*pp = s->next_id;
			break;
		}
	}
	g->outq_bytes -= s->out_bytes;
	while (s->out_head) {
		outq_item *it = s->out_head;
		s->out_head = it->next;
		if (it->f)
			g->outq_frames--;
		frame_unref(it->f);
		free(it);
	}
	perms_free(s);
	buf_free(&s->rx);
	request_queue_free(s);
	g->n_sessions--;
	free(s);
}

/* ------------------------------------------------------------- outbound */

void session_close_after(session *s, int code, const char *reason)
{
	if (s->close_code)
		return;
	s->close_code = code;
	snprintf(s->close_reason, sizeof s->close_reason, "%s", reason ? reason : "");
	if (s->wsi)
		lws_callback_on_writable(s->wsi);
}

/* A list waiting in s's queue is dropped for the newer one, which is
 * appended at the end rather than put in the old one's place: a list shows
 * the state after everything published before it, so it may come later
 * than planned but must never overtake a packet it depends on (the
 * updateRooms that shows a member after that member's joinRoom). The old
 * item stays in the queue, empty, and is skipped when its turn comes. */
static void list_supersede(session *s, int kind)
{
	outq_item *old = s->out_list[kind - 1];
	if (!old)
		return;
	frame_unref(old->f);
	old->f = NULL;
	s->out_list[kind - 1] = NULL;
	s->gw->outq_frames--;
	s->gw->lists_replaced++;
}

void session_send(session *s, frame *f)
{
	if (!s->wsi || s->close_code)
		return;
	if (!f->list && s->out_bytes + f->len > (size_t)s->gw->cfg->outq_max_bytes) {
		/* Slow consumer: disconnect rather than buffer without bound. */
		log_warn("conn %s: outbound queue over %ld bytes, closing", s->cid,
			 s->gw->cfg->outq_max_bytes);
		s->gw->kicked_slow++;
		s->close_code = 1008;
		s->close_now = 1;
		snprintf(s->close_reason, sizeof s->close_reason, "too slow");
		lws_callback_on_writable(s->wsi);
		return;
	}
	outq_item *it = malloc(sizeof *it);
	if (!it)
		return;
	if (f->list)
		list_supersede(s, f->list);
	frame_ref(f);
	it->f = f;
	it->sent = 0;
	it->next = NULL;
	if (s->out_tail)
		s->out_tail->next = it;
	else
		s->out_head = it;
	s->out_tail = it;
	if (f->list) {
		s->out_list[f->list - 1] = it;
	} else {
		s->out_bytes += f->len;
		s->out_count++;
		s->gw->outq_bytes += f->len;
	}
	s->gw->outq_frames++;
	/* A held session is woken by barrier_handle: a writable callback
	 * now would only find it held again. */
	if (!s->held)
		lws_callback_on_writable(s->wsi);
}

void session_send_json(session *s, json_t *obj)
{
	frame *f = frame_from_json(obj);
	json_decref(obj);
	if (!f)
		return;
	session_send(s, f);
	frame_unref(f);
}

void session_send_error(session *s, const char *message)
{
	session_send_json(s, json_pack("{s:s, s:s}", "type", "error", "message", message));
}

/* Frames written per writable callback at most: several per wake-up save a
 * poll round per frame under fan-out, the cap keeps one client from holding
 * the loop. */
#define WRITES_PER_WAKE 32
/* Bytes of small frames written together as one socket write at most: one
 * syscall and one TCP segment for a batch instead of one each, which under
 * fan-out is most of what a frame costs (DESIGN.md, "Facts"). A bigger
 * frame is written on its own. */
#define BATCH_BYTES 65536

/* Loop thread only: the batch being written. */
static unsigned char batch_buf[LWS_PRE + BATCH_BYTES];

/* Takes the first item off s's queue (caller frees it). */
static outq_item *outq_pop(session *s)
{
	outq_item *it = s->out_head;
	s->out_head = it->next;
	if (!s->out_head)
		s->out_tail = NULL;
	if (!it->f)
		return it;
	s->gw->outq_frames--;
	if (it->f->list) {
		/* A list sent in fragments left out_list already (write_fragment);
		 * a newer one may wait there now. */
		if (s->out_list[it->f->list - 1] == it)
			s->out_list[it->f->list - 1] = NULL;
	} else {
		s->out_bytes -= it->f->len;
		s->out_count--;
		s->gw->outq_bytes -= it->f->len;
	}
	return it;
}

/* The header of a final, unmasked (server) text frame of len bytes into h
 * (10 bytes at most); returns its size. RFC 6455 section 5.2. */
static size_t ws_text_header(unsigned char *h, size_t len)
{
	h[0] = 0x81;
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

/* libwebsockets puts each write on an HTTP/2 stream into one DATA frame
 * and does not split it, and a peer need not take frames over 16 KiB: on
 * HTTP/2 a bigger message goes out as WebSocket fragments (RFC 6455 §5.4)
 * of at most this, header included. */
#define H2_FRAGMENT (GW_H2_FRAME_MAX - 16)
static unsigned char fragment_buf[LWS_PRE + H2_FRAGMENT]; /* loop thread only */

/* Writes the next fragment of the head frame; pops it after the last.
 * A frame being sent in pieces is no longer a waiting list: a newer list
 * must not replace it half-way (list_supersede). 1, or -1: close. */
static int write_fragment(session *s)
{
	outq_item *it = s->out_head;
	size_t left = it->f->len - it->sent, n = left > H2_FRAGMENT ? H2_FRAGMENT : left;
	int flags = it->sent ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT;
	if (n < left)
		flags |= LWS_WRITE_NO_FIN;
	if (it->f->list && s->out_list[it->f->list - 1] == it)
		s->out_list[it->f->list - 1] = NULL;
	/* Frames are shared between connections, and lws writes its header in
	 * front of the bytes it is given: a private copy for each piece. */
	memcpy(fragment_buf + LWS_PRE, it->f->data + LWS_PRE + it->sent, n);
	if (lws_write(s->wsi, fragment_buf + LWS_PRE, n, (enum lws_write_protocol)flags) < 0)
		return -1;
	it->sent += n;
	if (it->sent == it->f->len) {
		it = outq_pop(s);
		frame_unref(it->f);
		free(it);
	}
	return 1;
}

/* Writes the frame at the head of s's queue (live). 1, or -1: close. */
static int write_frame(session *s)
{
	if (lws_get_network_wsi(s->wsi) != s->wsi &&
	    (s->out_head->sent || s->out_head->f->len > H2_FRAGMENT))
		return write_fragment(s);
	outq_item *it = outq_pop(s);
	int n = lws_write(s->wsi, it->f->data + LWS_PRE, it->f->len, LWS_WRITE_TEXT);
	if (it->f->born.tv_sec)
		histo_observe_since(&s->gw->deliver_dur, &it->f->born);
	frame_unref(it->f);
	free(it);
	return n < 0 ? -1 : 1;
}

/* Writes up to max queued frames that fit in BATCH_BYTES as complete
 * WebSocket frames in one raw write (lws passes LWS_WRITE_HTTP through
 * untouched on a WebSocket, and buffers what the socket does not take, as
 * for any write). Returns how many, 0 when the head frame is too big for
 * a batch, -1: close. Only for a WebSocket not inside HTTP/2, whose frames
 * lws must wrap itself. */
static int write_batch(session *s, int max)
{
	size_t used = 0;
	int n = 0;
	while (s->out_head && n < max) {
		outq_item *it = s->out_head;
		if (it->f && used + it->f->len + 10 > BATCH_BYTES)
			break;
		it = outq_pop(s);
		if (it->f) {
			used += ws_text_header(batch_buf + LWS_PRE + used, it->f->len);
			memcpy(batch_buf + LWS_PRE + used, it->f->data + LWS_PRE, it->f->len);
			used += it->f->len;
			if (it->f->born.tv_sec)
				histo_observe_since(&s->gw->deliver_dur, &it->f->born);
			frame_unref(it->f);
			n++;
		}
		free(it);
	}
	if (n && lws_write(s->wsi, batch_buf + LWS_PRE, used, LWS_WRITE_HTTP) < 0)
		return -1;
	return n;
}

int session_writable(session *s)
{
	/* Only a client too slow to read loses its queue; any other close goes
	 * after what was queued (the `error`s that led to it), from a writable
	 * callback, when libwebsockets holds nothing unsent: a close started
	 * with bytes still buffered is a close without its close frame. */
	if (s->close_now || (!s->out_head && s->close_code)) {
		lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
				 (unsigned char *)s->close_reason, strlen(s->close_reason));
		return -1;
	}
	if (s->held)
		return 0; /* barrier_handle asks for the callback again */
	int batch = lws_get_network_wsi(s->wsi) == s->wsi;
	for (int written = 0; written < WRITES_PER_WAKE && s->out_head;) {
		/* After a partial write lws holds the rest and reports the pipe
		 * choked: write more only into a socket that takes it. */
		if (written > 0 && lws_send_pipe_choked(s->wsi))
			break;
		if (!s->out_head->f) { /* a list replaced by a newer one */
			free(outq_pop(s));
			continue;
		}
		int n = batch ? write_batch(s, WRITES_PER_WAKE - written) : 0;
		if (n == 0)
			n = write_frame(s);
		if (n < 0)
			return -1;
		written += n;
		s->gw->frames_out += (uint64_t)n;
	}
	if (s->out_head || s->close_code)
		lws_callback_on_writable(s->wsi);
	return 0;
}
