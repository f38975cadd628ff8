/* Plain HTTP on the WebSocket port: probes, metrics, the invite redirect,
 * uploads, and the web client's static files (a file mount). Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "log.h"

/* Writes the status line and headers now and keeps the body for
 * HTTP_WRITEABLE (lws wants bodies written from there). */
static int respond(struct lws *wsi, gw_pss *p, unsigned status, const char *type,
		   const char *location, const char *body, size_t len)
{
	unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *q = start,
					   *end = hdr + sizeof hdr - 1;

	if (lws_add_http_common_headers(wsi, status, type, len, &q, end))
		return -1;
	if (location && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION,
						     (const unsigned char *)location,
						     (int)strlen(location), &q, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &q, end))
		return -1;
	if (!len)
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	p->http_body = malloc(LWS_PRE + len);
	if (!p->http_body)
		return -1;
	memcpy(p->http_body + LWS_PRE, body, len);
	p->http_len = len;
	lws_callback_on_writable(wsi);
	return 0;
}

static int respond_text(struct lws *wsi, gw_pss *p, unsigned status, const char *text)
{
	return respond(wsi, p, status, "text/plain", NULL, text, strlen(text));
}

static void metrics_text(gw *g, buf *b)
{
	buf_addf(b, "# TYPE rebuttal_gateway_connections gauge\nrebuttal_gateway_connections %llu\n",
		 (unsigned long long)g->n_sessions);
	buf_addf(b, "# TYPE rebuttal_gateway_logged_in gauge\nrebuttal_gateway_logged_in %llu\n",
		 (unsigned long long)g->n_online);
	buf_addf(b, "# TYPE rebuttal_gateway_frames_in_total counter\nrebuttal_gateway_frames_in_total %llu\n",
		 (unsigned long long)g->frames_in);
	buf_addf(b, "# TYPE rebuttal_gateway_frames_out_total counter\nrebuttal_gateway_frames_out_total %llu\n",
		 (unsigned long long)g->frames_out);
	buf_addf(b, "# TYPE rebuttal_gateway_requests_total counter\nrebuttal_gateway_requests_total %llu\n",
		 (unsigned long long)g->requests);
	buf_addf(b, "# TYPE rebuttal_gateway_request_timeouts_total counter\nrebuttal_gateway_request_timeouts_total %llu\n",
		 (unsigned long long)g->timeouts);
	buf_addf(b, "# TYPE rebuttal_gateway_slow_consumers_total counter\nrebuttal_gateway_slow_consumers_total %llu\n",
		 (unsigned long long)g->kicked_slow);
	buf_addf(b, "# TYPE rebuttal_gateway_pending_requests gauge\nrebuttal_gateway_pending_requests %zu\n",
		 bus_pending(g->bus));
}

/* An invite code goes into a Location header: only UUID characters. */
static int code_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

static int on_http(struct lws *wsi, gw_pss *p)
{
	gw *g = the_gw;
	char uri[512];

	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
		return respond_text(wsi, p, 404, "not found\n");
	if (!strcmp(uri, "/healthz"))
		return respond_text(wsi, p, 200, "ok\n");
	if (!strcmp(uri, "/readyz")) {
		int ok = bus_connected(g->bus);
		return respond_text(wsi, p, ok ? 200 : 503, ok ? "ready\n" : "not connected to NATS\n");
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
	return respond_text(wsi, p, 404, "not found\n");
}

static int on_http_writable(struct lws *wsi, gw_pss *p)
{
	if (!p->http_body)
		return 0;
	int n = lws_write(wsi, (unsigned char *)p->http_body + LWS_PRE, p->http_len,
			  LWS_WRITE_HTTP_FINAL);
	free(p->http_body);
	p->http_body = NULL;
	if (n < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	gw_pss *p = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, p);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_http_writable(wsi, p);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (p) {
			free(p->http_body);
			p->http_body = NULL;
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* Dynamic paths are callback mounts so they win over the "/" file mount
 * (libwebsockets picks the longest matching mountpoint). */
#define DYN_MOUNT(path)                                                                       \
	{.mountpoint = path, .origin = "ipc", .origin_protocol = LWSMPRO_CALLBACK,            \
	 .mountpoint_len = sizeof path - 1}

static struct lws_http_mount mounts[] = {
	DYN_MOUNT("/healthz"), DYN_MOUNT("/readyz"), DYN_MOUNT("/metrics"),
	DYN_MOUNT("/invite"),  DYN_MOUNT("/uploads"), DYN_MOUNT("/"), /* last: "/" */
};

const struct lws_http_mount *gw_mounts(const gw_config *cfg)
{
	size_t n = sizeof mounts / sizeof *mounts;
	for (size_t i = 0; i + 1 < n; i++)
		mounts[i].mount_next = &mounts[i + 1];
	/* With a web client configured, "/" and below are its files; without
	 * one they answer 404 from on_http. */
	if (cfg->webroot[0]) {
		mounts[n - 1].origin = cfg->webroot;
		mounts[n - 1].origin_protocol = LWSMPRO_FILE;
		mounts[n - 1].def = "index.html";
	}
	return &mounts[0];
}
