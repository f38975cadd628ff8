/*
 * wsc.h - blocking WebSocket test client on top of libwebsockets.
 *
 * One wsc_ctx is one lws client context (default poll loop, one thread)
 * holding any number of connections.  Nothing runs in the background: every
 * blocking call pumps lws_service() for the whole context until its own
 * condition holds or its timeout passes, so traffic on *all* connections of
 * the context makes progress (and is queued) during any call.
 *
 * Received frames are queued per connection in arrival order, reassembled
 * from fragments, and parsed with jansson on arrival.  Not thread-safe: use
 * a context from one thread only.
 *
 * Timeouts are in milliseconds; 0 means "service once without waiting".
 */
#ifndef WSC_H
#define WSC_H

#include <jansson.h>
#include <stddef.h>

typedef struct wsc_ctx wsc_ctx;
typedef struct wsc wsc;

/* Largest frame (message) accepted from a server; bigger ones close the
 * connection with 1009 and are reported through wsc_last_error(). */
#define WSC_MAX_FRAME ((size_t)64 << 20)

/* New client context.  Returns NULL on failure (out of memory, lws
 * init failure).  Env WSC_LWS_LOG=<lws log bitmask> overrides the default
 * quiet lws logging (errors and warnings only).  Side effect: raises the
 * process' soft RLIMIT_NOFILE towards 65536 (bounded by the hard limit)
 * so load tests can hold many sockets. */
wsc_ctx *wsc_ctx_new(void);

/* Closes (without a close handshake) and frees every connection still
 * belonging to ctx, then the context.  Pointers to its wsc become invalid.
 * NULL is a no-op. */
void wsc_ctx_free(wsc_ctx *ctx);

/* Why the last wsc_open() on ctx failed (or ""); owned by ctx, valid until
 * the next wsc_open(). */
const char *wsc_ctx_last_error(wsc_ctx *ctx);

/*
 * Connects to ws://host:port/path (tls=1: wss://, accepting self-signed or
 * expired certificates and any hostname) and blocks until the handshake is
 * done.  Returns the connection (owned by ctx; release early with
 * wsc_close()) or NULL on refusal, timeout, handshake error or OOM, with
 * the reason in wsc_ctx_last_error().
 */
wsc *wsc_open(wsc_ctx *ctx, const char *host, int port, const char *path, int tls, int timeout_ms);

/* wsc_open() plus extra handshake header lines, e.g.
 * "Authorization: Bearer x\r\nX-Foo: 1\r\n" (a missing final CRLF is
 * added); headers may be NULL.  The string is copied. */
wsc *wsc_open_ex(wsc_ctx *ctx, const char *host, int port, const char *path, int tls,
		 const char *headers, int timeout_ms);

/* Starts a connection without waiting (use wsc_wait_open()).  Returns NULL
 * only on bad arguments or OOM; a connection that fails later reports it
 * through wsc_wait_open()/wsc_last_error().  Owned by ctx. */
wsc *wsc_open_async(wsc_ctx *ctx, const char *host, int port, const char *path, int tls);
wsc *wsc_open_async_ex(wsc_ctx *ctx, const char *host, int port, const char *path, int tls,
		       const char *headers);

/* 0 once established, -1 if it failed/closed or timeout_ms passed (reason
 * in wsc_last_error()).  On -1 the wsc still needs wsc_close() (or
 * wsc_ctx_free()). */
int wsc_wait_open(wsc *c, int timeout_ms);

/*
 * Queue one frame; it is written when the socket is writable, in order
 * (frames queued before the handshake completes go out right after it).
 * Data is copied.  Any size works (13 MiB+ is written as one frame; lws
 * buffers the part the socket did not take and finishes it later).
 * Return 0 when queued, -1 when the connection is closed/closing or on OOM.
 * Nothing is sent until some wsc call services the context.
 */
int wsc_send_text(wsc *c, const char *data, size_t len);
int wsc_send_binary(wsc *c, const void *data, size_t len);
int wsc_sendf(wsc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Serialises obj compactly; does not steal the reference. */
int wsc_send_json(wsc *c, json_t *obj);

/*
 * Next received frame, removed from the queue; the caller owns it
 * (json_decref).  A text frame that is not valid JSON (and every binary
 * frame) comes back as a JSON string holding the raw bytes (use
 * json_string_length; may contain NULs).  Returns NULL on timeout, or when
 * the connection is closed and nothing is queued.
 */
json_t *wsc_recv(wsc *c, int timeout_ms);
/* Same, and *binary (if not NULL) is set to 1 for a binary frame. */
json_t *wsc_recv_frame(wsc *c, int timeout_ms, int *binary);

/* Frames received and not yet taken by wsc_recv/wsc_expect and friends. */
size_t wsc_pending(wsc *c);

/*
 * Receives until a JSON object whose "type" equals type arrives and returns
 * it (caller owns).  Frames before it are discarded (they still count in
 * wsc_count_type()).  NULL on timeout/close (see wsc_last_error()).  The
 * timeout is for the whole wait, not per frame.
 */
json_t *wsc_expect(wsc *c, const char *type, int timeout_ms);

/* Like wsc_expect(), but a frame of type "error" arriving first makes it
 * return NULL (the error frame is consumed) and wsc_last_error() then gives
 * that frame's "message" (or, lacking one, the whole frame as JSON). */
json_t *wsc_expect_noerr(wsc *c, const char *type, int timeout_ms);

/* Last failure on c: a server error message (see wsc_expect_noerr), or a
 * description of a timeout, close or connect failure.  "" if none.  Owned
 * by c; valid until the next call on c. */
const char *wsc_last_error(wsc *c);

/* Blocks until the connection is closed.  Returns the close status code
 * the server sent (e.g. 1009, 3001), 0 if it closed without a code (or
 * never connected), -1 on timeout. */
int wsc_wait_closed(wsc *c, int timeout_ms);

/* 1 once the connection is closed (or failed), else 0. */
int wsc_is_closed(wsc *c);

/* Close code sent by the server so far (0 if none yet / none sent).
 * libwebsockets 4.1's client turns 1012-1015 (newer than RFC 6455's list)
 * into 1002 before we see them: tests of those read the bytes themselves
 * (tests/integ_drain.c). */
int wsc_close_code(wsc *c);
/* The text of the server's close frame ("" if none). Owned by c. */
const char *wsc_close_reason(wsc *c);

/* Client-initiated close: sends what is still queued, then a 1000 close
 * frame, waits (up to 2 s) for the connection to finish, and frees c.
 * Works in any state (connecting, open, closed).  NULL is a no-op. */
void wsc_close(wsc *c);

/* Services the context for ms milliseconds (0: once, without waiting). */
void wsc_service(wsc_ctx *ctx, int ms);

/* How many JSON objects with this "type" arrived on c so far, whether or
 * not they were taken or discarded. */
size_t wsc_count_type(wsc *c, const char *type);

/* Load tests: from now on every text frame of c is handed to fn raw (data
 * valid during the call only) instead of being parsed and queued, so a
 * client reading thousands of frames a second costs almost nothing. Binary
 * frames are still queued. fn NULL turns it off. */
typedef void (*wsc_sink_fn)(void *ud, const char *data, size_t len);
void wsc_set_sink(wsc *c, wsc_sink_fn fn, void *ud);

#endif /* WSC_H */
