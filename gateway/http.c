/* Plain HTTP on the WebSocket port: probes, metrics, the invite redirect,
 * uploads, and the web client's static files (files.c). Loop thread. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "log.h"
#include "rebuttal.pb-c.h"
#include "request.h"
#include "valid.h"

/* An HTTP request parked until a service answers; looked up by id because
 * the client may hang up meanwhile. It names the wsi, never the gw_pss:
 * libwebsockets frees a pss when the transaction ends or the connection
 * closes (HTTP_DROP_PROTOCOL, CLOSED_HTTP), and both take the wait away
 * first, so a wait found by id always has a live wsi whose pss is the one
 * that asked. */
struct http_wait {
	struct http_wait *next;
	uint64_t id;
	struct lws *wsi;
};

/* An HTTP/2 stream is a child of the network connection's wsi. */
static int is_h2_stream(struct lws *wsi)
{
	return lws_get_network_wsi(wsi) != wsi;
}

int gw_framing_bad(struct lws *wsi)
{
	char v[32];
	return lws_hdr_copy_fragment(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0 ||
	       lws_hdr_copy_fragment(wsi, v, sizeof v, WSI_TOKEN_HTTP_TRANSFER_ENCODING, 1) > 0 ||
	       (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
		lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0);
}

int gw_request_path(struct lws *wsi, char *out, int len)
{
	int n = lws_hdr_copy(wsi, out, len, WSI_TOKEN_GET_URI);
	if (n <= 0)
		n = lws_hdr_copy(wsi, out, len, WSI_TOKEN_HEAD_URI);
	if (n <= 0)
		n = lws_hdr_copy(wsi, out, len, WSI_TOKEN_HTTP_COLON_PATH);
	/* A decoded %00 would cut the path short: refused, not truncated. */
	if (n <= 0 || strlen(out) != (size_t)n)
		return -1;
	out[strcspn(out, "?")] = '\0';
	return 0;
}

/* HEAD: its own URI token on HTTP/1.1, :method on HTTP/2. */
static int is_head(struct lws *wsi)
{
	char m[8];
	return lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0 ||
	       (lws_hdr_copy(wsi, m, sizeof m, WSI_TOKEN_HTTP_COLON_METHOD) > 0 &&
		!strcmp(m, "HEAD"));
}

/* HTTP/2 names every method in :method; HTTP/1.1 requests other than GET
 * and HEAD have no GET_URI/HEAD_URI and never get this far. */
static int is_get_or_head(struct lws *wsi)
{
	char m[8];
	return lws_hdr_copy(wsi, m, sizeof m, WSI_TOKEN_HTTP_COLON_METHOD) <= 0 ||
	       !strcmp(m, "GET") || !strcmp(m, "HEAD");
}

#define HTTP_CHUNK GW_H2_FRAME_MAX

/* HTTP/1.1 and pipelining: while a service is asked for an answer the
 * connection reads nothing more (lws_rx_flow_control), so a pipelined
 * request cannot start — and make libwebsockets free this request's pss —
 * before this one is answered. libwebsockets services neither POLLIN nor
 * POLLOUT of a flow-controlled HTTP/1.1 connection, so reading is allowed
 * again just before the answer is written, and the answer is written in one
 * go: libwebsockets keeps what the socket does not take and writes it, in
 * order, before anything a next request writes. An HTTP/2 stream has no
 * pipelining (flow control is a no-op there); its body goes out in chunks
 * from HTTP_WRITEABLE, within the stream's flow-control window. */
static int respond(struct lws *wsi, gw_pss *p, unsigned status, const char *type,
		   const char *location, const char *body, size_t len)
{
	unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *q = start,
					   *end = hdr + sizeof hdr - 1;
	int h2 = is_h2_stream(wsi);

	if (!h2)
		lws_rx_flow_control(wsi, 1);
	if (lws_add_http_common_headers(wsi, status, type, len, &q, end))
		return -1;
	if (location && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION,
						     (const unsigned char *)location,
						     (int)strlen(location), &q, end))
		return -1;
	/* Uploads are users' bytes: a browser must take the type we checked,
	 * never guess HTML or script from the content. */
	static const char nosniff[] = "nosniff";
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)nosniff, sizeof nosniff - 1, &q,
					end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &q, end))
		return -1;
	/* An HTTP/2 stream needs its END_STREAM even without a body: an empty
	 * final write carries it. */
	if (!len && !h2)
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	char *copy = malloc(LWS_PRE + len + 1);
	if (!copy)
		return -1;
	if (len)
		memcpy(copy + LWS_PRE, body, len);
	if (!h2) {
		int n = lws_write(wsi, (unsigned char *)copy + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
		free(copy);
		if (n < 0)
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	p->http_body = copy;
	p->http_len = len;
	p->http_off = 0;
	lws_callback_on_writable(wsi);
	return 0;
}

static int respond_text(struct lws *wsi, gw_pss *p, unsigned status, const char *text)
{
	return respond(wsi, p, status, "text/plain", NULL, text, strlen(text));
}

/* The gateway's own numbers in /metrics, each a uint64_t member of gw,
 * written on the loop thread. */
typedef struct {
	const char *name;
	size_t off;
} gw_stat;

static const gw_stat gw_counters[] = {
	{"rebuttal_gateway_frames_in_total", offsetof(gw, frames_in)},
	{"rebuttal_gateway_frames_out_total", offsetof(gw, frames_out)},
	{"rebuttal_gateway_requests_total", offsetof(gw, requests)},
	{"rebuttal_gateway_request_timeouts_total", offsetof(gw, timeouts)},
	{"rebuttal_gateway_slow_consumers_total", offsetof(gw, kicked_slow)},
	{"rebuttal_gateway_lists_replaced_total", offsetof(gw, lists_replaced)},
	{"rebuttal_gateway_broadcasts_replayed_total", offsetof(gw, replayed)},
	{"rebuttal_gateway_lists_stale_total", offsetof(gw, lists_stale)},
};

static const gw_stat gw_gauges[] = {
	{"rebuttal_gateway_connections", offsetof(gw, n_sessions)},
	{"rebuttal_gateway_logged_in", offsetof(gw, n_online)},
	{"rebuttal_gateway_outq_frames", offsetof(gw, outq_frames)},
	{"rebuttal_gateway_outq_bytes", offsetof(gw, outq_bytes)},
};

static void stat_print(buf *b, const char *type, const char *name, unsigned long long v)
{
	buf_addf(b, "# TYPE %s %s\n%s %llu\n", name, type, name, v);
}

static void stats_print(buf *b, const gw *g, const char *type, const gw_stat *st, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, (const char *)g + st[i].off, sizeof v);
		stat_print(b, type, st[i].name, v);
	}
}

static void metrics_text(gw *g, buf *b)
{
	stats_print(b, g, "gauge", gw_gauges, sizeof gw_gauges / sizeof *gw_gauges);
	stats_print(b, g, "counter", gw_counters, sizeof gw_counters / sizeof *gw_counters);
	stat_print(b, "gauge", "rebuttal_gateway_pending_requests", bus_pending(g->bus));
	stat_print(b, "counter", "rebuttal_gateway_request_resends_total", bus_resends(g->bus));
	request_metrics(g, b);
	limits_metrics(g, b);
}

/* An invite code goes into a Location header: only UUID characters. */
static int code_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

typedef struct {
	gw *g;
	uint64_t id;
} http_ctx;

/* cnats thread (reply) or loop thread (timeout). */
static void on_upload_reply(void *ud, enum bus_result r, const void *data, size_t len)
{
	http_ctx *hc = ud;
	gw_item *it = item_new(IT_HTTP_REPLY, NULL, data, len);
	if (it) {
		it->id = hc->id;
		it->timeout = r == BUS_TIMEOUT;
		item_post(hc->g, it);
	}
	free(hc);
}

static struct http_wait *http_wait_take(gw *g, uint64_t id)
{
	for (struct http_wait **pp = &g->http_waits; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct http_wait *w = *pp;
			*pp = w->next;
			return w;
		}
	}
	return NULL;
}

/* Asks msgsvc for the bytes; the answer comes back to http_reply_handle. */
static int upload_start(struct lws *wsi, gw_pss *p, const char *path)
{
	gw *g = gw_of(wsi);
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__GetUpload gu = RB__GET_UPLOAD__INIT;
	char rid[UUID_STR_LEN + 1];
	uint8_t buf[512];
	struct http_wait *w;
	http_ctx *hc;

	if (!valid_upload_path(path))
		return respond_text(wsi, p, 404, "not found\n");
	w = calloc(1, sizeof *w);
	hc = calloc(1, sizeof *hc);
	if (!w || !hc) {
		free(w);
		free(hc);
		return -1;
	}
	uuid_new(rid);
	env.request_id = rid;
	env.gateway_id = g->id;
	gu.path = (char *)path;
	env.payload_case = RB__ENVELOPE__PAYLOAD_GET_UPLOAD;
	env.get_upload = &gu;
	if (protobuf_c_message_get_packed_size(&env.base) > sizeof buf) {
		free(w), free(hc);
		return respond_text(wsi, p, 404, "not found\n");
	}
	size_t len = protobuf_c_message_pack(&env.base, buf);
	w->id = hc->id = ++g->next_http;
	w->wsi = wsi;
	w->next = g->http_waits;
	g->http_waits = w;
	p->http_id = w->id;
	hc->g = g;
	if (bus_request(g->bus, "rb.msg.get_upload", buf, len, (int)g->cfg->req_timeout_ms,
			(int)g->cfg->req_attempt_ms, on_upload_reply, hc) < 0) {
		free(hc);
		free(http_wait_take(g, w->id));
		p->http_id = 0;
		return respond_text(wsi, p, 503, "unavailable\n");
	}
	/* Read no pipelined request until this one is answered (respond). */
	lws_rx_flow_control(wsi, 0);
	return 0;
}

void http_reply_handle(gw *g, gw_item *it)
{
	struct http_wait *w = http_wait_take(g, it->id);
	if (!w)
		return; /* the client went away */
	struct lws *wsi = w->wsi;
	gw_pss *p = lws_wsi_user(wsi);
	free(w);
	if (!p || p->http_id != it->id)
		return;
	p->http_id = 0;
	Rb__Reply *r = it->timeout ? NULL : rb__reply__unpack(NULL, it->len, it->data);
	int rc;
	if (it->timeout)
		rc = respond_text(wsi, p, 503, "upload store unavailable\n");
	else if (!r || (r->has_code && r->code != RB__CODE__OK) || !r->has_data || !r->content_type)
		rc = respond_text(wsi, p, 404, "not found\n");
	else
		rc = respond(wsi, p, 200, r->content_type, NULL, (const char *)r->data.data,
			     r->data.len);
	if (r)
		rb__reply__free_unpacked(r, NULL);
	if (rc < 0)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static int on_http(struct lws *wsi, gw_pss *p)
{
	gw *g = gw_of(wsi);
	char uri[512];

	if (p->http_id || p->http_body || p->file_open)
		return -1; /* one request at a time per transaction */
	if (gw_request_path(wsi, uri, sizeof uri) < 0)
		return respond_text(wsi, p, 404, "not found\n");
	if (!is_get_or_head(wsi))
		return respond_text(wsi, p, 405, "method not allowed\n");
	if (is_head(wsi)) {
		/* Only files answer HEAD; elsewhere a bodiless 404. */
		int rc = files_serve(wsi, p, g->webroot, uri, 1);
		return rc != 1 ? rc : respond(wsi, p, 404, "text/plain", NULL, NULL, 0);
	}
	if (!strcmp(uri, "/healthz"))
		return respond_text(wsi, p, 200, "ok\n");
	if (!strcmp(uri, "/readyz")) {
		if (g->draining)
			return respond_text(wsi, p, 503, "draining\n");
		int ok = bus_connected(g->bus);
		return respond_text(wsi, p, ok ? 200 : 503,
				    ok ? "ready\n" : "not connected to NATS\n");
	}
	if (!strcmp(uri, "/metrics")) {
		buf b = BUF_INIT;
		metrics_text(g, &b);
		int rc = respond(wsi, p, 200, "text/plain; version=0.0.4", NULL, b.ptr, b.len);
		buf_free(&b);
		return rc;
	}
	if (!strncmp(uri, "/invite/", 8) && code_ok(uri + 8)) {
		char loc[128];
		snprintf(loc, sizeof loc, "/?invite=%s", uri + 8);
		return respond(wsi, p, 302, "text/plain", loc, NULL, 0);
	}
	if (!strncmp(uri, "/uploads/", 9))
		return upload_start(wsi, p, uri + 9);
	int rc = files_serve(wsi, p, g->webroot, uri, 0);
	return rc != 1 ? rc : respond_text(wsi, p, 404, "not found\n");
}

/* HTTP/2: writes the body in chunks, one per writable callback. */
static int on_http_writable(struct lws *wsi, gw_pss *p)
{
	if (p && p->file_open)
		return files_writable(wsi, p);
	if (!p || !p->http_body)
		return 0;
	size_t left = p->http_len - p->http_off, n = left > HTTP_CHUNK ? HTTP_CHUNK : left;
	int last = n == left;
	unsigned char *chunk = (unsigned char *)p->http_body + LWS_PRE + p->http_off;
	/* lws writes its framing into the LWS_PRE bytes before the chunk; for
	 * later chunks those bytes are body already sent, so that is safe. */
	if (lws_write(wsi, chunk, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
		return -1;
	p->http_off += n;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(p->http_body);
	p->http_body = NULL;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The pss is about to be freed (connection closed, or its transaction
 * ended and the next pipelined one begins): nothing may point at it. */
static void http_forget(gw *g, gw_pss *p)
{
	if (!p)
		return;
	files_forget(p);
	free(p->http_body);
	p->http_body = NULL;
	if (p->http_id)
		free(http_wait_take(g, p->http_id));
	p->http_id = 0;
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	gw_pss *p = user;
	switch (reason) {
	case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
		/* Two lengths, or a length and chunks: whoever reads this
		 * request differently from us (a proxy) could smuggle another. */
		return gw_framing_bad(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, p);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_http_writable(wsi, p);
	case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
		return files_bound(wsi);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		files_dropped(wsi, p);
		http_forget(gw_of(wsi), p);
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
		http_forget(gw_of(wsi), p);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* Everything goes to on_http, static files included (files.c), so one
 * callback mount at "/" is all libwebsockets needs. */
static const struct lws_http_mount root_mount = {
	.mountpoint = "/",
	.origin = "ipc",
	.origin_protocol = LWSMPRO_CALLBACK,
	.mountpoint_len = 1,
};

const struct lws_http_mount *gw_mounts(void)
{
	return &root_mount;
}
