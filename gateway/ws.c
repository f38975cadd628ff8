/* The /ipc WebSocket protocol: frames in, PROTOCOL.md §1 rules, packets out.
 * Loop thread. */
#include <stdio.h>
#include <string.h>

#include "gw.h"
#include "log.h"
#include "netaddr.h"
#include "parse.h"
#include "pbjson.h"
#include "rebuttal.pb-c.h"
#include "request.h"

static void send_connect(session *s)
{
	const gw_config *c = s->gw->cfg;
	Rb__Delivery d = RB__DELIVERY__INIT;
	Rb__SConnect con = RB__SCONNECT__INIT;
	Rb__ContextMenus menus = RB__CONTEXT_MENUS__INIT;
	char *protocols[] = {"v1"};

	con.message = (char *)c->server_name;
	con.icon = (char *)c->icon;
	con.protocols = protocols;
	con.n_protocols = 1;
	con.contextmenus = &menus;
	d.packet_case = RB__DELIVERY__PACKET_CONNECT;
	d.connect = &con;
	frame *f = render_delivery(&d);
	if (f) {
		session_send(s, f);
		frame_unref(f);
	}
}

/* The client's address: the peer's, or, when the peer is a trusted proxy
 * (REBUTTAL_TRUSTED_PROXY), the one its X-Forwarded-For names (netaddr.h).
 * The header is read whole: cut short, a client could pad it so that the
 * proxy itself is blamed for its failed logins. */
static void peer_address(struct lws *wsi, const gw *g, char *out, size_t len)
{
	char peer[NETADDR_TEXT_MAX], addr[NETADDR_TEXT_MAX], xff[8192] = "";

	lws_get_peer_simple(wsi, peer, sizeof peer);
	if (g->trusted.n && lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) < 0)
		xff[0] = '\0';
	netaddr_client(&g->trusted, peer, xff, addr);
	snprintf(out, len, "%s", addr);
}

static int dispatch(session *s, struct lws *wsi)
{
	packet_caller who = {s->logged_in, (const char *const *)s->perms, s->nperms};
	packet_result r;

	s->gw->frames_in++;
	packet_parse(s->rx.ptr ? s->rx.ptr : "", s->rx.len, &who, &r);
	switch (r.status) {
	case PKT_CLOSE:
		lws_close_reason(wsi, (enum lws_close_status)r.close_code,
				 (unsigned char *)r.close_reason, strlen(r.close_reason));
		return -1;
	case PKT_ERROR:
		session_send_error(s, r.error);
		break;
	case PKT_ERROR_CLOSE:
		session_send_error(s, r.error);
		session_close_after(s, r.close_code, r.close_reason);
		break;
	case PKT_OK:
		if ((r.row->flags & PKT_LOGIN) && s->login_pending) {
			session_send_error(s, "login: already in progress");
			break;
		}
		if (!limits_admit(s, r.row, r.msg))
			break;
		if (r.row->flags & PKT_HASHES)
			limits_hello_sent(s);
		request_send(s, r.row, r.msg);
		r.msg = NULL;
		break;
	}
	packet_result_free(&r);
	return 0;
}

/* Bytes of reassembly buffer a connection keeps between messages. */
#define RX_KEEP (64 * 1024)

static int on_receive(session *s, struct lws *wsi, const void *in, size_t len)
{
	const gw_config *c = s->gw->cfg;
	size_t limit = (size_t)(s->logged_in ? c->frame_max_v1 : c->frame_max_v0);

	if (s->close_code)
		return 0; /* closing: the rest is ignored */
	if (lws_frame_is_binary(wsi))
		s->rx_binary = 1;
	/* Refuse before buffering: nothing past the limit is kept. */
	if (s->rx.len + (size_t)s->rx_discard + len > limit) {
		static const char why[] = "Message too big";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
				 sizeof why - 1);
		return -1;
	}
	int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	if (limits_rx(s, wsi, len, final) < 0)
		return -1;
	if (s->rx_binary)
		s->rx_discard += (int)len;
	else
		buf_add(&s->rx, in, len);
	if (!final)
		return 0;

	int rc = 0;
	if (s->rx_binary)
		session_send_error(s, "binary frames are not supported; send JSON text frames");
	else
		rc = dispatch(s, wsi);
	limits_rx_end(s);
	/* A big message's buffer is not kept for the next one. */
	if (s->rx.cap > RX_KEEP)
		buf_free(&s->rx);
	else
		buf_reset(&s->rx);
	s->rx_binary = 0;
	s->rx_discard = 0;
	return rc;
}

int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	gw_pss *p = user;
	gw *g = gw_of(wsi);
	char uri[64];

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* The WebSocket lives at /ipc only, over HTTP/1.1 (Upgrade) or
		 * HTTP/2 (extended CONNECT, where the path is in :path). */
		if (gw_request_path(wsi, uri, sizeof uri) < 0 || strcmp(uri, "/ipc") ||
		    gw_framing_bad(wsi))
			return -1;
		/* Draining (drain.c): the client is to go to another gateway. */
		if (g->draining) {
			lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		p->s = session_new(g, wsi);
		if (!p->s)
			return -1;
		peer_address(wsi, g, p->s->addr, sizeof p->s->addr);
		if (limits_conn_open(p->s) < 0) {
			session_close_after(p->s, 1008, "too many connections from your address");
			return 0;
		}
		send_connect(p->s);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return p->s ? on_receive(p->s, wsi, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return p->s ? session_writable(p->s) : -1;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (p->s)
			p->s->peer_close = len >= 2 ? ((const unsigned char *)in)[0] << 8 |
							      ((const unsigned char *)in)[1]
						    : 1005;
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (p->s) {
			/* Who closed, and with what: the first thing to look at when
			 * a user says "I was disconnected". */
			if (p->s->peer_close)
				log_info("conn %s: closed by the client (%d)%s%s", p->s->cid,
					 p->s->peer_close, p->s->logged_in ? ", user " : "",
					 p->s->logged_in ? p->s->user_id : "");
			else if (p->s->close_code)
				log_info("conn %s: closed by the gateway (%d %s)%s%s", p->s->cid,
					 p->s->close_code, p->s->close_reason,
					 p->s->logged_in ? ", user " : "",
					 p->s->logged_in ? p->s->user_id : "");
			else
				log_info("conn %s: connection lost%s%s", p->s->cid,
					 p->s->logged_in ? ", user " : "",
					 p->s->logged_in ? p->s->user_id : "");
			p->s->wsi = NULL;
			if (p->s->logged_in)
				request_conn_event(g, p->s, "conn_closed");
			session_free(p->s);
			p->s = NULL;
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (g)
			items_run(g);
		return 0;
	default:
		return http_callback(wsi, reason, user, in, len);
	}
}

const struct lws_protocols gw_protocols[] = {
	/* First, so a client that names no subprotocol (browsers) lands here. */
	{"ipc", ws_callback, sizeof(gw_pss), 16 * 1024, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};
