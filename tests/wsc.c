/* wsc.c - see wsc.h. */
#define _GNU_SOURCE
#include "wsc.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define CLOSE_WAIT_MS 2000

enum state { ST_CONNECTING, ST_OPEN, ST_CLOSED };

/* One received frame. */
struct msg {
	struct msg *next;
	json_t *json;
	int binary;
};

/* One frame waiting to be written; buf has LWS_PRE bytes of headroom that
 * lws_write() needs for the frame header. */
struct out {
	struct out *next;
	unsigned char *buf;
	size_t len;
	enum lws_write_protocol wp;
};

struct type_count {
	char *type;
	size_t n;
};

struct wsc {
	wsc_ctx *ctx;
	wsc *prev, *next; /* ctx's list of live connections */
	struct lws *wsi;  /* NULL once lws destroyed it */
	char *headers;    /* extra handshake header lines, or NULL */
	enum state state;
	int closing;            /* wsc_close() asked for a close frame */
	int close_code;         /* from the server's close frame, 0 if none */
	char close_reason[124]; /* the text of that close frame */
	int destroyed;          /* lws sent WSI_DESTROY for our wsi */

	struct msg *rx_head, *rx_tail;
	size_t rx_count;
	struct out *tx_head, *tx_tail;

	/* Message being reassembled from fragments. */
	unsigned char *frag;
	size_t frag_len, frag_cap;
	int in_msg, frag_binary;

	struct type_count *types;
	size_t ntypes, types_cap;

	wsc_sink_fn sink; /* when set, text frames go here raw (wsc_set_sink) */
	void *sink_ud;

	char reason[256];     /* why it ended abnormally; sticky */
	char last_error[512]; /* outcome of the last failing call */
};

struct wsc_ctx {
	struct lws_context *lws;
	wsc *head;
	lws_sorted_usec_list_t wake; /* bounds poll() to our deadline */
	char last_error[512];
};

/* ---- small helpers --------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_error(wsc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(wsc *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
	va_end(ap);
}

/* Records why the connection is failing; also becomes the last error. */
static void set_reason(wsc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(wsc *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof c->reason, fmt, ap);
	va_end(ap);
	set_error(c, "%s", c->reason);
}

static void free_tx(wsc *c)
{
	while (c->tx_head) {
		struct out *o = c->tx_head;
		c->tx_head = o->next;
		free(o->buf);
		free(o);
	}
	c->tx_tail = NULL;
}

static void free_conn(wsc *c)
{
	while (c->rx_head) {
		struct msg *m = c->rx_head;
		c->rx_head = m->next;
		json_decref(m->json);
		free(m);
	}
	free_tx(c);
	free(c->frag);
	free(c->headers);
	for (size_t i = 0; i < c->ntypes; i++)
		free(c->types[i].type);
	free(c->types);
	free(c);
}

static void unlink_conn(wsc *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->ctx->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static int count_type(wsc *c, const char *type)
{
	for (size_t i = 0; i < c->ntypes; i++)
		if (strcmp(c->types[i].type, type) == 0) {
			c->types[i].n++;
			return 0;
		}
	if (c->ntypes == c->types_cap) {
		size_t cap = c->types_cap ? c->types_cap * 2 : 8;
		struct type_count *t = realloc(c->types, cap * sizeof *t);
		if (!t)
			return -1;
		c->types = t;
		c->types_cap = cap;
	}
	char *dup = strdup(type);
	if (!dup)
		return -1;
	c->types[c->ntypes].type = dup;
	c->types[c->ntypes].n = 1;
	c->ntypes++;
	return 0;
}

/* Turns the reassembled message into a queued json_t.  -1 on OOM. */
static int deliver(wsc *c)
{
	const char *data = c->frag ? (const char *)c->frag : "";
	json_t *j = NULL;
	struct msg *m;

	if (c->sink && !c->frag_binary) {
		c->sink(c->sink_ud, data, c->frag_len);
		c->frag_len = 0;
		return 0;
	}
	if (!c->frag_binary)
		j = json_loadb(data, c->frag_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!j)
		j = json_stringn_nocheck(data, c->frag_len);
	m = calloc(1, sizeof *m);
	if (!j || !m) {
		json_decref(j);
		free(m);
		return -1;
	}
	if (json_is_object(j)) {
		const char *type = json_string_value(json_object_get(j, "type"));
		if (type && count_type(c, type) < 0) {
			json_decref(j);
			free(m);
			return -1;
		}
	}
	m->json = j;
	m->binary = c->frag_binary;
	if (c->rx_tail)
		c->rx_tail->next = m;
	else
		c->rx_head = m;
	c->rx_tail = m;
	c->rx_count++;

	/* Drop big buffers so a 16 MiB frame does not pin 16 MiB per socket. */
	if (c->frag_cap > 65536) {
		free(c->frag);
		c->frag = NULL;
		c->frag_cap = 0;
	}
	c->frag_len = 0;
	return 0;
}

/* LWS_CALLBACK_CLIENT_RECEIVE: lws hands us the message in pieces (its rx
 * buffer size and the sender's fragmentation); glue them back together. */
static int on_receive(wsc *c, struct lws *wsi, const void *in, size_t len)
{
	if (!c->in_msg) {
		c->in_msg = 1;
		c->frag_binary = lws_frame_is_binary(wsi);
		c->frag_len = 0;
	}
	if (len > WSC_MAX_FRAME - c->frag_len) {
		set_reason(c, "frame larger than %zu bytes", (size_t)WSC_MAX_FRAME);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (c->frag_len + len > c->frag_cap) {
		size_t cap = c->frag_cap ? c->frag_cap : 4096;
		while (cap < c->frag_len + len)
			cap *= 2;
		unsigned char *p = realloc(c->frag, cap);
		if (!p) {
			set_reason(c, "out of memory receiving a %zu byte frame",
				   c->frag_len + len);
			return -1;
		}
		c->frag = p;
		c->frag_cap = cap;
	}
	if (len)
		memcpy(c->frag + c->frag_len, in, len);
	c->frag_len += len;

	/* lws_is_final_fragment() alone is not enough when lws is built
     * without extensions: it then ignores the unread rest of the frame. */
	if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
		c->in_msg = 0;
		if (deliver(c) < 0) {
			set_reason(c, "out of memory queueing a received frame");
			return -1;
		}
	}
	return 0;
}

static int on_writeable(wsc *c, struct lws *wsi)
{
	struct out *o = c->tx_head;

	if (o) {
		c->tx_head = o->next;
		if (!c->tx_head)
			c->tx_tail = NULL;
		/* One write per callback.  A large frame is taken whole: lws keeps
         * whatever the socket refused and flushes it before it calls us
         * back as writeable again, so ordering is preserved. */
		int n = lws_write(wsi, o->buf + LWS_PRE, o->len, o->wp);
		size_t len = o->len;
		free(o->buf);
		free(o);
		if (n < 0 || (size_t)n < len) {
			set_reason(c, "write failed");
			return -1;
		}
		if (c->tx_head || c->closing)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->closing) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1; /* lws sends the close frame and tears down */
	}
	return 0;
}

static void mark_closed(wsc *c)
{
	c->state = ST_CLOSED;
	c->in_msg = 0;
	free_tx(c); /* can never be sent now */
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	wsc *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	(void)user;

	if (!c) {
		/* A wsi whose wsc was freed by wsc_close(): just make it go away. */
		switch (reason) {
		case LWS_CALLBACK_CLIENT_ESTABLISHED:
		case LWS_CALLBACK_CLIENT_RECEIVE:
		case LWS_CALLBACK_CLIENT_WRITEABLE:
			return -1;
		default:
			return 0;
		}
	}

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		const char *why = in ? (const char *)in : "unknown error";
		int n = in ? (int)(len ? len : strlen(why)) : (int)strlen(why);
		int http = lws_http_client_http_response(wsi);
		if (http)
			set_reason(c, "connect failed: %.*s (HTTP %d)", n, why, http);
		else
			set_reason(c, "connect failed: %.*s", n, why);
		mark_closed(c);
		break;
	}
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (c->headers) {
			/* in: cursor into lws' header buffer; len: room left. */
			char **p = in;
			size_t n = strlen(c->headers);
			if (n > len) {
				set_reason(c, "extra headers too long (%zu bytes)", n);
				return -1;
			}
			memcpy(*p, c->headers, n);
			*p += n;
		}
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->wsi = wsi;
		c->state = ST_OPEN;
		if (c->tx_head || c->closing)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(c, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* Payload is a 2-byte big-endian status code, then a reason. */
		if (in && len >= 2) {
			const unsigned char *p = in;
			c->close_code = (p[0] << 8) | p[1];
			size_t n = len - 2 < sizeof c->close_reason - 1
					   ? len - 2
					   : sizeof c->close_reason - 1;
			memcpy(c->close_reason, p + 2, n);
			c->close_reason[n] = '\0';
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		mark_closed(c);
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		/* The definitive end: after this the wsi pointer is dangling. */
		c->wsi = NULL;
		c->destroyed = 1;
		if (c->state != ST_CLOSED)
			mark_closed(c);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {{"wsc", callback, 0, 0, 0, NULL, 0},
						 {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- pumping --------------------------------------------------------- */

static void wake_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul; /* only here to make poll() return */
}

/*
 * lws 4.1 ignores lws_service()'s timeout (it sleeps until the next lws
 * timer), so a timer of our own at the deadline bounds each wait.
 * Services until cond(c) holds (returns 1) or timeout_ms passes (returns
 * cond's final value).  cond may be NULL to just service for timeout_ms.
 */
static int pump(wsc_ctx *ctx, int (*cond)(wsc *), wsc *c, int timeout_ms)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int first = 1;

	for (;;) {
		if (cond && cond(c))
			return 1;
		long long left = deadline - now_ms();
		if (left <= 0 && !first)
			break;
		first = 0;
		if (left > 0) {
			lws_sul_schedule(ctx->lws, 0, &ctx->wake, wake_cb,
					 (lws_usec_t)left * LWS_US_PER_MS);
			if (lws_service(ctx->lws, 0) < 0)
				break;
		} else if (lws_service(ctx->lws, -1) < 0) { /* -1: don't block */
			break;
		}
	}
	lws_sul_cancel(&ctx->wake);
	return cond ? cond(c) : 0;
}

static int is_open_or_closed(wsc *c)
{
	return c->state != ST_CONNECTING;
}
static int is_closed(wsc *c)
{
	return c->state == ST_CLOSED;
}
static int is_gone(wsc *c)
{
	return c->wsi == NULL;
}
static int has_frame(wsc *c)
{
	return c->rx_head || c->state == ST_CLOSED;
}

/* ---- context --------------------------------------------------------- */

/* Load tests open hundreds of sockets; lws sizes its fd table from the
 * soft limit at context creation, so lift it (up to the hard limit). */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	const rlim_t want = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the old limit still works */
}

wsc_ctx *wsc_ctx_new(void)
{
	struct lws_context_creation_info info;
	const char *lvl = getenv("WSC_LWS_LOG");
	wsc_ctx *ctx = calloc(1, sizeof *ctx);

	if (!ctx)
		return NULL;
	raise_fd_limit();
	lws_set_log_level(lvl && *lvl ? atoi(lvl) : (LLL_ERR | LLL_WARN), NULL);

	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.gid = -1;
	info.uid = -1;
	ctx->lws = lws_create_context(&info);
	if (!ctx->lws) {
		free(ctx);
		return NULL;
	}
	return ctx;
}

void wsc_ctx_free(wsc_ctx *ctx)
{
	if (!ctx)
		return;
	lws_sul_cancel(&ctx->wake);
	/* Destroy first: lws' close callbacks still find their wsc alive. */
	lws_context_destroy(ctx->lws);
	while (ctx->head) {
		wsc *c = ctx->head;
		unlink_conn(c);
		free_conn(c);
	}
	free(ctx);
}

const char *wsc_ctx_last_error(wsc_ctx *ctx)
{
	return ctx ? ctx->last_error : "";
}

/* ---- connections ----------------------------------------------------- */

wsc *wsc_open_async_ex(wsc_ctx *ctx, const char *host, int port, const char *path, int tls,
		       const char *headers)
{
	struct lws_client_connect_info i;
	struct lws *wsi;
	wsc *c;

	if (!ctx || !host || port <= 0 || port > 65535)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (headers && *headers) {
		size_t n = strlen(headers);
		int crlf = n >= 2 && strcmp(headers + n - 2, "\r\n") == 0;
		if (asprintf(&c->headers, "%s%s", headers, crlf ? "" : "\r\n") < 0) {
			free(c);
			return NULL;
		}
	}
	c->ctx = ctx;
	c->state = ST_CONNECTING;
	c->next = ctx->head;
	if (ctx->head)
		ctx->head->prev = c;
	ctx->head = c;

	memset(&i, 0, sizeof i);
	i.context = ctx->lws;
	i.address = host;
	i.port = port;
	i.path = path && *path ? path : "/";
	i.host = host;
	i.origin = host;
	i.local_protocol_name = protocols[0].name;
	i.opaque_user_data = c;
	if (tls)
		i.ssl_connection = LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED |
				   LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK | LCCSCF_ALLOW_EXPIRED |
				   LCCSCF_ALLOW_INSECURE;

	/* Errors may be reported through the callback before this returns;
     * on NULL the wsi is already gone.  A wsi that is returned is tracked
     * even if it already failed, so wsc_close() can detach it. */
	wsi = lws_client_connect_via_info(&i);
	if (!wsi) {
		if (!c->reason[0])
			set_reason(c, "connect to %s:%d failed", host, port);
		if (c->state != ST_CLOSED)
			mark_closed(c);
	} else if (!c->destroyed) {
		c->wsi = wsi;
	}
	return c;
}

wsc *wsc_open_async(wsc_ctx *ctx, const char *host, int port, const char *path, int tls)
{
	return wsc_open_async_ex(ctx, host, port, path, tls, NULL);
}

int wsc_wait_open(wsc *c, int timeout_ms)
{
	if (!c)
		return -1;
	pump(c->ctx, is_open_or_closed, c, timeout_ms);
	if (c->state == ST_OPEN)
		return 0;
	if (c->state == ST_CONNECTING)
		set_error(c, "timeout after %d ms waiting for the handshake", timeout_ms);
	else
		set_error(c, "%s",
			  c->reason[0] ? c->reason : "connection closed during the handshake");
	return -1;
}

wsc *wsc_open_ex(wsc_ctx *ctx, const char *host, int port, const char *path, int tls,
		 const char *headers, int timeout_ms)
{
	wsc *c;

	if (!ctx)
		return NULL;
	ctx->last_error[0] = '\0';
	c = wsc_open_async_ex(ctx, host, port, path, tls, headers);
	if (!c) {
		snprintf(ctx->last_error, sizeof ctx->last_error, "bad arguments or out of memory");
		return NULL;
	}
	if (wsc_wait_open(c, timeout_ms) < 0) {
		snprintf(ctx->last_error, sizeof ctx->last_error, "%s", c->last_error);
		wsc_close(c);
		return NULL;
	}
	return c;
}

wsc *wsc_open(wsc_ctx *ctx, const char *host, int port, const char *path, int tls, int timeout_ms)
{
	return wsc_open_ex(ctx, host, port, path, tls, NULL, timeout_ms);
}

void wsc_close(wsc *c)
{
	if (!c)
		return;
	if (c->wsi && c->state == ST_OPEN) {
		c->closing = 1;
		lws_callback_on_writable(c->wsi);
		pump(c->ctx, is_gone, c, CLOSE_WAIT_MS);
	}
	if (c->wsi) {
		/* Still connecting, or the close did not finish: detach it so
         * later callbacks cannot reach freed memory, and have lws kill it
         * at its next timeout check. */
		lws_set_opaque_user_data(c->wsi, NULL);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		c->wsi = NULL;
	}
	unlink_conn(c);
	free_conn(c);
}

int wsc_is_closed(wsc *c)
{
	return !c || c->state == ST_CLOSED;
}

const char *wsc_close_reason(wsc *c)
{
	return c ? c->close_reason : "";
}

int wsc_close_code(wsc *c)
{
	return c ? c->close_code : 0;
}

int wsc_wait_closed(wsc *c, int timeout_ms)
{
	if (!c)
		return -1;
	if (!pump(c->ctx, is_closed, c, timeout_ms)) {
		set_error(c, "timeout after %d ms waiting for close", timeout_ms);
		return -1;
	}
	return c->close_code;
}

void wsc_service(wsc_ctx *ctx, int ms)
{
	if (ctx)
		pump(ctx, NULL, NULL, ms);
}

/* ---- sending --------------------------------------------------------- */

static int enqueue(wsc *c, const void *data, size_t len, enum lws_write_protocol wp)
{
	struct out *o;

	if (!c || c->state == ST_CLOSED || c->closing)
		return -1;
	if (len > (size_t)0x7fffffff - LWS_PRE) /* lws_write returns int */
		return -1;
	o = calloc(1, sizeof *o);
	if (!o)
		return -1;
	o->buf = malloc(LWS_PRE + len + 1);
	if (!o->buf) {
		free(o);
		return -1;
	}
	if (len)
		memcpy(o->buf + LWS_PRE, data, len);
	o->len = len;
	o->wp = wp;
	if (c->tx_tail)
		c->tx_tail->next = o;
	else
		c->tx_head = o;
	c->tx_tail = o;
	if (c->state == ST_OPEN && c->wsi)
		lws_callback_on_writable(c->wsi);
	return 0;
}

int wsc_send_text(wsc *c, const char *data, size_t len)
{
	return enqueue(c, data, len, LWS_WRITE_TEXT);
}

int wsc_send_binary(wsc *c, const void *data, size_t len)
{
	return enqueue(c, data, len, LWS_WRITE_BINARY);
}

int wsc_sendf(wsc *c, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n, rc;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	rc = wsc_send_text(c, s, (size_t)n);
	free(s);
	return rc;
}

int wsc_send_json(wsc *c, json_t *obj)
{
	char *s;
	int rc;

	if (!obj)
		return -1;
	s = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return -1;
	rc = wsc_send_text(c, s, strlen(s));
	free(s);
	return rc;
}

/* ---- receiving ------------------------------------------------------- */

json_t *wsc_recv_frame(wsc *c, int timeout_ms, int *binary)
{
	struct msg *m;
	json_t *j;

	if (!c)
		return NULL;
	pump(c->ctx, has_frame, c, timeout_ms);
	m = c->rx_head;
	if (!m) {
		if (c->state == ST_CLOSED) {
			set_error(c, "connection closed (code %d)%s%s", c->close_code,
				  c->reason[0] ? ": " : "", c->reason);
		} else {
			set_error(c, "timeout after %d ms waiting for a frame", timeout_ms);
		}
		return NULL;
	}
	c->rx_head = m->next;
	if (!c->rx_head)
		c->rx_tail = NULL;
	c->rx_count--;
	j = m->json;
	if (binary)
		*binary = m->binary;
	free(m);
	return j;
}

json_t *wsc_recv(wsc *c, int timeout_ms)
{
	return wsc_recv_frame(c, timeout_ms, NULL);
}

size_t wsc_pending(wsc *c)
{
	return c ? c->rx_count : 0;
}

static json_t *expect(wsc *c, const char *type, int timeout_ms, int stop_on_error)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	if (!c || !type)
		return NULL;
	for (;;) {
		long long left = deadline - now_ms();
		json_t *j = wsc_recv(c, left > 0 ? (int)left : 0);
		if (!j) {
			if (c->state == ST_CLOSED)
				set_error(c, "connection closed (code %d) before '%s'%s%s",
					  c->close_code, type, c->reason[0] ? ": " : "", c->reason);
			else
				set_error(c, "timeout after %d ms waiting for '%s'", timeout_ms,
					  type);
			return NULL;
		}
		const char *t =
			json_is_object(j) ? json_string_value(json_object_get(j, "type")) : NULL;
		if (t && strcmp(t, type) == 0)
			return j;
		if (stop_on_error && t && strcmp(t, "error") == 0) {
			const char *msg = json_string_value(json_object_get(j, "message"));
			if (msg) {
				set_error(c, "%s", msg);
			} else {
				char *dump = json_dumps(j, JSON_COMPACT);
				set_error(c, "%s", dump ? dump : "error frame");
				free(dump);
			}
			json_decref(j);
			return NULL;
		}
		json_decref(j);
	}
}

json_t *wsc_expect(wsc *c, const char *type, int timeout_ms)
{
	return expect(c, type, timeout_ms, 0);
}

json_t *wsc_expect_noerr(wsc *c, const char *type, int timeout_ms)
{
	return expect(c, type, timeout_ms, 1);
}

const char *wsc_last_error(wsc *c)
{
	return c ? c->last_error : "";
}

void wsc_set_sink(wsc *c, wsc_sink_fn fn, void *ud)
{
	c->sink = fn;
	c->sink_ud = ud;
}

size_t wsc_count_type(wsc *c, const char *type)
{
	if (!c || !type)
		return 0;
	for (size_t i = 0; i < c->ntypes; i++)
		if (strcmp(c->types[i].type, type) == 0)
			return c->types[i].n;
	return 0;
}
