/*
 * httpc.h - tiny blocking HTTP/1.1 client over a plain TCP socket, for
 * tests (health/metrics endpoints, static files).  No TLS, no redirects,
 * no keep-alive: every request sends `Connection: close`.
 */
#ifndef HTTPC_H
#define HTTPC_H

#include <stddef.h>

typedef struct httpc_resp {
	int status;    /* e.g. 200 */
	char *headers; /* raw header lines after the status line, each
                           ending "\r\n"; NUL-terminated */
	size_t headers_len;
	char *body; /* decoded body (chunked is undone); NUL-terminated
                           for convenience, may also contain NULs */
	size_t body_len;
} httpc_resp;

/*
 * GET http://host:port/path.  The body ends at Content-Length, at the end
 * of a chunked body, or at EOF.  timeout_ms bounds the whole exchange.
 * Returns 0 and fills *out (caller frees with httpc_resp_free) for any
 * HTTP status; -1 on resolve/connect/timeout/protocol errors or OOM, with
 * *out zeroed (httpc_resp_free on it is then a harmless no-op) and a
 * reason in httpc_last_error().
 */
int httpc_get(const char *host, int port, const char *path, int timeout_ms, httpc_resp *out);

/*
 * General form: method (e.g. "POST"), extra_headers (NULL or complete
 * "Name: value\r\n" lines), body (may be NULL when body_len is 0; a
 * Content-Length header is added when body is non-NULL).  Same results
 * and ownership as httpc_get().
 */
int httpc_request(const char *host, int port, const char *method, const char *path,
		  const char *extra_headers, const void *body, size_t body_len, int timeout_ms,
		  httpc_resp *out);

/* Frees what *r owns and zeroes it; NULL or a zeroed resp is fine. */
void httpc_resp_free(httpc_resp *r);

/*
 * Case-insensitive lookup of the first header called name.  Returns a
 * pointer into r->headers at the value (leading/trailing blanks skipped)
 * and its length in *len (the value is NOT NUL-terminated there), or NULL
 * (and *len = 0) if absent.  Valid while *r is.
 */
const char *httpc_header(const httpc_resp *r, const char *name, size_t *len);

/* Why the last failing call in this thread returned -1. */
const char *httpc_last_error(void);

#endif /* HTTPC_H */
