/* The gateway's shared state. Everything here is owned by the libwebsockets
 * loop thread; other threads only push onto `inbox` (loopq.h) and wake the
 * loop with lws_cancel_service. */
#ifndef GW_GW_H
#define GW_GW_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdint.h>

#include "buf.h"
#include "bus.h"
#include "histo.h"
#include "limits.h"
#include "loopq.h"
#include "netaddr.h"
#include "packet.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"

typedef struct {
	bus_addr nats; /* password: read from its file */
	long port;
	const char *tls_cert, *tls_key;
	const char *webroot;
	const char *server_name, *icon;
	long frame_max_v0, frame_max_v1;
	long outq_max_bytes;
	long req_timeout_ms, req_attempt_ms;
	long login_deadline_ms, login_window, login_queue_max;
	long heartbeat_ms, lease_ms;
	long req_queue_max;
	const char *trusted_proxy;
	const char *anon_cap_exempt;
	/* limits.c */
	long anon_timeout_ms, anon_per_addr;
	long partial_timeout_ms, partial_rate, partial_max_bytes;
	long user_rate, user_burst, strikes_max, strikes_ms;
	long relay_rate, relay_burst;
	/* drain.c */
	long drain_ms, drain_spread_ms;
} gw_config;

typedef struct frame frame;
typedef struct session session;
typedef struct user_entry user_entry;

#define GW_BUCKETS 4096

/* Which list a frame is: a connection holds at most one unsent frame of
 * each kind (see session_send). */
enum { FRAME_PACKET = 0, FRAME_USERS = 1, FRAME_ROOMS = 2 };
#define FRAME_LISTS 2

/* The last list of one kind this gateway forwarded (its versions). */
typedef struct {
	uint64_t version, media_version;
} list_seen;

typedef struct gw {
	const gw_config *cfg;
	netaddr_list trusted;      /* cfg->trusted_proxy, parsed at start */
	netaddr_list anon_exempt;  /* cfg->anon_cap_exempt, parsed at start */
	char id[UUID_STR_LEN + 1]; /* this gateway process, new at every start */
	int64_t start_time;
	struct lws_context *lws;
	/* What item_post wakes: the context once it exists, NULL again before
	 * it is destroyed (under wake_lock, so no other thread is inside
	 * lws_cancel_service then). */
	pthread_mutex_t wake_lock;
	struct lws_context *wake;
	bus *bus;
	bus_sub *sub_all, *sub_conn, *sub_ctl;
	loopq inbox;
	uint64_t next_conn;
	session *by_id[GW_BUCKETS];
	user_entry *users[GW_BUCKETS];
	session *online; /* logged-in sessions, linked by next_online */
	list_seen last_list[FRAME_LISTS];
	uint64_t last_member_version; /* newest joinRoom/leaveRoom forwarded */
	struct replay *replay;        /* replay.c */
	struct limits *limits;        /* limits.c */
	struct drain *drain;          /* drain.c */
	int draining;                 /* from SIGTERM: /readyz 503, no new WebSocket */
	lws_sorted_usec_list_t tick;
	struct http_wait *http_waits; /* HTTP requests waiting for a service */
	char *webroot;                /* real path of cfg->webroot, or NULL */
	uint64_t next_http;
	uint64_t next_barrier; /* user_entry.barrier ids */
	struct dedup_ring *dedup;
	/* The login window (request.c): password-hashing requests in flight to
	 * authsvc, and the ones waiting their turn, oldest first. */
	long login_inflight;
	struct login_wait *login_head, *login_tail;
	size_t login_queued, login_queue_bytes;
	uint64_t login_waits, login_wait_ms_sum, login_wait_ms_max, login_expired,
		login_refused_full;
	int64_t last_heartbeat;
	/* counters for /metrics */
	uint64_t conn_sum; /* svc_conn_digest summed over logged-in sessions */
	uint64_t n_sessions, n_online, frames_out, frames_in, kicked_slow, requests, timeouts;
	uint64_t outq_frames;    /* frames queued to connections now (gauge) */
	uint64_t outq_bytes;     /* bytes of packets (not lists) among them */
	uint64_t lists_replaced; /* queued lists dropped for a newer one */
	uint64_t replayed;       /* broadcasts sent again after a list */
	uint64_t lists_stale;    /* updateUsers older than a member packet */
	/* Latency histograms (any thread: atomics): request to reply per
	 * service (request.c), and a delivery from the bus to its socket
	 * write (deliver.c stamps the frame, session.c observes). */
	histo req_dur[PART_COUNT];
	histo deliver_dur;
} gw;

/* gateway/session.c: frames, sessions, users, outbound queues */

/* A rendered server packet, shared by every connection it goes to. */
struct frame {
	int refs;
	int list;             /* FRAME_*; set once, before the frame is shared */
	struct timespec born; /* a delivery's arrival from the bus; 0 for others */
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then len bytes of JSON */
};

frame *frame_from_json(json_t *obj); /* renders obj compactly */
void frame_ref(frame *f);
void frame_unref(frame *f);

struct session {
	uint64_t id;
	char cid[24];
	gw *gw;
	struct lws *wsi; /* NULL once the socket is gone */
	session *next_id, *next_online, *prev_online, *next_user;
	user_entry *user; /* set while logged in */
	int logged_in, login_pending;
	int held; /* writes wait for the user's barrier */
	char user_id[UUID_STR_LEN + 1];
	char **perms;
	size_t nperms;
	uint64_t perms_epoch; /* setPerms controls applied: a re-read older than one is dropped */
	char addr[64];
	buf rx; /* reassembly of a fragmented frame */
	int rx_binary, rx_discard;
	struct outq_item *out_head, *out_tail;
	size_t out_bytes, out_count; /* packets only: lists do not count */
	/* The unsent list of each kind in the queue (FRAME_USERS - 1,
	 * FRAME_ROOMS - 1), or NULL. */
	struct outq_item *out_list[FRAME_LISTS];
	/* Requests to one service are sent one at a time per connection, in
	 * the order the client sent them (a WebRTC offer before its ICE
	 * candidates, even across several instances of a service). */
	struct req_item *req_head[PART_COUNT], *req_tail[PART_COUNT];
	int req_queued[PART_COUNT], req_inflight[PART_COUNT];
	int close_code; /* close after the queue drains, when set */
	int close_now;  /* ... or at once, dropping the queue (too slow) */
	int peer_close; /* the code of a close the client sent */
	char close_reason[64];
	conn_limits lim; /* limits.c */
};

struct user_entry {
	user_entry *next;
	user_limits lim; /* limits.c: shared by the user's connections here */
	char user_id[UUID_STR_LEN + 1];
	session *sessions;
	bus_sub *sub;
	/* 0 once NATS is known to have the subscription; until then the id of
	 * the barrier (bus_barrier) that will tell, and the user's sessions
	 * write nothing (session.held): a client that saw `welcome` may cause
	 * a delivery to itself at once, which must not be missed. */
	uint64_t barrier;
};

session *session_new(gw *g, struct lws *wsi);
void session_free(session *s); /* socket closed */
session *session_find(gw *g, const char *cid);
/* Logs s in as user_id with perms (copied); subscribes the user's subject
 * (and flushes) when s is the user's first connection here. */
int session_login(session *s, const char *user_id, char *const *perms, size_t n);
/* Loop thread: barrier `barrier` of the user's subscription came back (or
 * timed out): their sessions write again. */
void session_set_perms(session *s, char *const *perms, size_t n);
user_entry *user_find(gw *g, const char *user_id);
/* Queues f (takes a reference). A connection whose queue of packets passes
 * the limit is closed: a client that does not read must not grow our
 * memory. A list (f->list) replaces the one of its kind still waiting in
 * the queue, so lists never count toward the limit: at most one of each
 * kind waits, the newest. */
void session_send(session *s, frame *f);
void session_send_json(session *s, json_t *obj); /* steals obj */
void session_send_error(session *s, const char *message);
/* Asks for a close with code/reason once what is queued has been written. */
void session_close_after(session *s, int code, const char *reason);
/* LWS_CALLBACK_SERVER_WRITEABLE: writes one frame. -1 means close now. */
int session_writable(session *s);

/* libwebsockets writes an HTTP/2 DATA frame of whatever size it is given;
 * every peer takes frames of 16384 bytes (RFC 9113 SETTINGS_MAX_FRAME_SIZE
 * default), so bodies on HTTP/2 go out in chunks of at most this. */
#define GW_H2_FRAME_MAX 16384

/* Per-connection data libwebsockets keeps for us (WebSocket and HTTP). */
typedef struct {
	session *s;
	char *http_body; /* an HTTP response body, written in HTTP_WRITEABLE */
	size_t http_len, http_off;
	uint64_t http_id;       /* while waiting for a service's answer */
	int file_open, file_fd; /* a static file being streamed (files.c) */
	uint64_t file_off, file_left;
} gw_pss;

/* gateway/ws.c */
extern const struct lws_protocols gw_protocols[];
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		size_t len);

/* gateway/http.c: LWS_CALLBACK_HTTP etc. for non-WebSocket requests */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len);
const struct lws_http_mount *gw_mounts(void);
/* The request's path without its query: GET_URI (or HEAD_URI) on HTTP/1.1,
 * :path on HTTP/2 (also for a WebSocket over HTTP/2, RFC 8441). -1 when
 * absent or holding a NUL. */
int gw_request_path(struct lws *wsi, char *out, int len);
/* 1 when the request states its length twice or both ways
 * (Content-Length and Transfer-Encoding): refused, never guessed. */
int gw_framing_bad(struct lws *wsi);

/* gateway/files.c: the web client's static files (README "Static files").
 * files_root: the real path of webroot (caller frees), NULL when empty or
 * not a folder. files_serve answers GET/HEAD of path from root: 0 answered
 * (the body, if any, follows from files_writable), 1 no such file (nothing
 * written: the caller answers 404), -1 failed (close). files_writable
 * writes the next chunk (-1: close); files_forget closes the file when the
 * request's state goes away. */
char *files_root(const char *webroot);
int files_serve(struct lws *wsi, gw_pss *p, const char *root, const char *path, int head);
int files_writable(struct lws *wsi, gw_pss *p);
void files_forget(gw_pss *p);
/* HTTP_DROP_PROTOCOL and HTTP_BIND_PROTOCOL: a request pipelined behind a
 * streamed HTTP/1.1 answer closes the connection (files_bound says -1). */
void files_dropped(struct lws *wsi, gw_pss *p);
int files_bound(struct lws *wsi);

/* gateway/deliver.c */
int deliver_start(gw *g); /* subscribes rb.out.all and rb.out.conn.<gw>.> */
void deliver_stop(gw *g);
void deliver_bus_msg(void *ud, const bus_msg *m); /* cnats thread */
/* Renders a server packet: {"type": <member name>, ...its fields}. NULL
 * for control deliveries and on allocation failure. */
frame *render_delivery(const Rb__Delivery *d);
json_t *render_delivery_json(const Rb__Delivery *d);

/* gateway/replay.c: broadcasts that a list may have overtaken. `talking`
 * and `servermute` come from mediasvc and lists from roomsvc, on two bus
 * connections, so a list composed before a broadcast can reach a gateway
 * after it and show the older value. Each such broadcast carries the media
 * version of its change, each list the media version it shows; after
 * forwarding a list the gateway sends again the newest broadcast of each
 * user (and packet) whose version the list does not show. Loop thread. */
/* A broadcast to all was forwarded: keep frame (referenced) as the newest
 * of key ("<packet>:<user id>") unless one of a higher version is kept. */
void replay_note(gw *g, const char *key, uint64_t media_version, frame *f);
/* A list showing media_version was forwarded to every logged-in connection
 * (and its versions recorded in g->last_list): sends them what it
 * overtook, then forgets what every later list will show. */
void replay_after_list(gw *g, uint64_t media_version);
void replay_free(gw *g);

/* gateway/drain.c: the graceful stop (README "Drain"). Loop thread.
 * drain_init: 0, or -1 out of memory. drain_done: 0 until SIGTERM; from
 * the first call after it, sets g->draining and runs the drain on the
 * loop's timers; 1 once every connection is closed (or a second signal
 * came): the loop ends and shutdown goes on. drain_free before the
 * context is destroyed. */
int drain_init(gw *g);
int drain_done(gw *g);
void drain_free(gw *g);

/* gateway/request.c */
void request_send(session *s, const void *row, ProtobufCMessage *payload);
void request_queue_free(session *s);
void request_conn_event(gw *g, session *s, const char *what);
/* Every tick: logins waiting past their deadline get `error`. */
void request_tick(gw *g);
void request_metrics(gw *g, buf *b);

/* The gateway a socket belongs to (the context's user pointer). */
static inline gw *gw_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

#endif
