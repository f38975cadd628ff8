/* httpc.c - see httpc.h. */
#define _GNU_SOURCE
#include "httpc.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536

static __thread char last_err[256];

static void set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_err, sizeof last_err, fmt, ap);
	va_end(ap);
}

const char *httpc_last_error(void)
{
	return last_err;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when fd is ready for events, 0 on timeout, -1 on poll error. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int connect_to(const char *host, int port, long long deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	int fd = -1, rc, last_errno = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof portstr, "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		set_err("resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			int err = 0;
			socklen_t elen = sizeof err;
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
			    err == 0)
				break;
			last_errno = rc == 0 ? ETIMEDOUT : (err ? err : errno);
		} else {
			last_errno = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		set_err("connect %s:%d: %s", host, port, strerror(last_errno));
	return fd;
}

static int send_all(int fd, const char *p, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline) != 1) {
				set_err("timeout sending request");
				return -1;
			}
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			set_err("send: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Growable byte buffer; data is kept NUL-terminated. */
struct buf {
	char *data;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		set_err("out of memory");
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

static int buf_append(struct buf *b, const char *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* The response as read so far, and how far it has been parsed. */
struct reader {
	int fd;
	long long deadline;
	struct buf in;
	size_t pos;
	int eof;
};

/* Reads more input.  1 = got bytes, 0 = EOF, -1 = error/timeout. */
static int read_more(struct reader *r)
{
	if (r->eof)
		return 0;
	if (buf_reserve(&r->in, READ_CHUNK) < 0)
		return -1;
	for (;;) {
		ssize_t n = recv(r->fd, r->in.data + r->in.len, READ_CHUNK, 0);
		if (n > 0) {
			r->in.len += (size_t)n;
			r->in.data[r->in.len] = '\0';
			return 1;
		}
		if (n == 0) {
			r->eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			set_err("recv: %s", strerror(errno));
			return -1;
		}
		int w = wait_fd(r->fd, POLLIN, r->deadline);
		if (w != 1) {
			set_err(w == 0 ? "timeout reading response" : "poll failed");
			return -1;
		}
	}
}

/* Makes r->in hold at least `need` bytes; -1 on EOF before that. */
static int need_bytes(struct reader *r, size_t need)
{
	while (r->in.len < need) {
		int n = read_more(r);
		if (n == 0)
			set_err("connection closed mid-response");
		if (n <= 0)
			return -1;
	}
	return 0;
}

/* Offset of the next occurrence of pat at/after r->pos, reading as needed. */
static long find(struct reader *r, const char *pat)
{
	size_t plen = strlen(pat), from = r->pos;

	for (;;) {
		if (r->in.len >= plen) {
			char *hit = memmem(r->in.data + from, r->in.len - from, pat, plen);
			if (hit)
				return hit - r->in.data;
			/* Keep the overlap so a pattern split across reads is found. */
			if (r->in.len - plen + 1 > from)
				from = r->in.len - plen + 1;
		}
		int n = read_more(r);
		if (n == 0)
			set_err("connection closed mid-response");
		if (n <= 0)
			return -1;
	}
}

static int has_token(const char *v, size_t len, const char *tok)
{
	size_t tl = strlen(tok);
	for (size_t i = 0; i + tl <= len; i++)
		if (strncasecmp(v + i, tok, tl) == 0)
			return 1;
	return 0;
}

static int read_chunked(struct reader *r, struct buf *body)
{
	for (;;) {
		long eol = find(r, "\r\n");
		if (eol < 0)
			return -1;
		/* "1a3;ext=1\r\n": strtoull stops at the extension. */
		char *end;
		errno = 0;
		unsigned long long size = strtoull(r->in.data + r->pos, &end, 16);
		if (errno || end == r->in.data + r->pos || size > (1ULL << 40)) {
			set_err("bad chunk size line");
			return -1;
		}
		r->pos = (size_t)eol + 2;
		if (size == 0)
			break;
		if (need_bytes(r, r->pos + (size_t)size + 2) < 0)
			return -1;
		if (buf_append(body, r->in.data + r->pos, (size_t)size) < 0)
			return -1;
		r->pos += (size_t)size;
		if (memcmp(r->in.data + r->pos, "\r\n", 2) != 0) {
			set_err("chunk not followed by CRLF");
			return -1;
		}
		r->pos += 2;
	}
	/* Trailer fields, then the empty line. */
	for (;;) {
		long eol = find(r, "\r\n");
		if (eol < 0)
			return -1;
		int empty = (size_t)eol == r->pos;
		r->pos = (size_t)eol + 2;
		if (empty)
			return 0;
	}
}

static int read_response(struct reader *r, int head_only, httpc_resp *out)
{
	struct buf body = {0};
	long hdr_end;
	int status;

	/* Skip interim 1xx responses (e.g. 100 Continue). */
	for (;;) {
		hdr_end = find(r, "\r\n\r\n");
		if (hdr_end < 0)
			return -1;
		const char *line = r->in.data + r->pos;
		if (sscanf(line, "HTTP/%*d.%*d %3d", &status) != 1 || status < 100) {
			set_err("bad status line");
			return -1;
		}
		if (status >= 200)
			break;
		r->pos = (size_t)hdr_end + 4;
	}

	/* headers = everything after the status line, up to the blank line. */
	const char *sl_end = memmem(r->in.data + r->pos, (size_t)hdr_end + 2 - r->pos, "\r\n", 2);
	size_t hstart = (size_t)(sl_end - r->in.data) + 2;
	size_t hlen = (size_t)hdr_end + 2 - hstart;
	out->headers = malloc(hlen + 1);
	if (!out->headers) {
		set_err("out of memory");
		return -1;
	}
	memcpy(out->headers, r->in.data + hstart, hlen);
	out->headers[hlen] = '\0';
	out->headers_len = hlen;
	out->status = status;
	r->pos = (size_t)hdr_end + 4;

	size_t te_len = 0, cl_len = 0;
	const char *te = httpc_header(out, "Transfer-Encoding", &te_len);
	const char *cl = httpc_header(out, "Content-Length", &cl_len);
	int rc = 0;

	if (head_only || status == 204 || status == 304) {
		/* no body */
	} else if (te && has_token(te, te_len, "chunked")) {
		rc = read_chunked(r, &body);
	} else if (cl) {
		char num[32];
		char *end;
		if (cl_len == 0 || cl_len >= sizeof num) {
			set_err("bad Content-Length");
			return -1;
		}
		memcpy(num, cl, cl_len);
		num[cl_len] = '\0';
		errno = 0;
		unsigned long long n = strtoull(num, &end, 10);
		if (errno || *end || n > (1ULL << 40)) {
			set_err("bad Content-Length");
			return -1;
		}
		rc = need_bytes(r, r->pos + (size_t)n);
		if (rc == 0)
			rc = buf_append(&body, r->in.data + r->pos, (size_t)n);
	} else {
		int n;
		while ((n = read_more(r)) > 0)
			;
		rc = n < 0 ? -1 : buf_append(&body, r->in.data + r->pos, r->in.len - r->pos);
	}
	if (rc == 0 && !body.data)
		rc = buf_append(&body, "", 0); /* body is never NULL on success */
	if (rc < 0) {
		free(body.data);
		return -1;
	}
	out->body = body.data;
	out->body_len = body.len;
	return 0;
}

int httpc_request(const char *host, int port, const char *method, const char *path,
		  const char *extra_headers, const void *body, size_t body_len, int timeout_ms,
		  httpc_resp *out)
{
	struct reader r = {.fd = -1};
	char *req = NULL;
	int n, rc = -1;

	if (out)
		memset(out, 0, sizeof *out);
	if (!host || !method || !path || !out || port <= 0 || port > 65535) {
		set_err("bad arguments");
		return -1;
	}
	r.deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int v6 = strchr(host, ':') != NULL; /* literal IPv6 needs brackets */
	char clen[48] = "";
	if (body)
		snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", body_len);
	n = asprintf(&req,
		     "%s %s HTTP/1.1\r\nHost: %s%s%s:%d\r\n"
		     "User-Agent: httpc-test\r\nAccept: */*\r\n"
		     "Connection: close\r\n%s%s\r\n",
		     method, path, v6 ? "[" : "", host, v6 ? "]" : "", port, clen,
		     extra_headers ? extra_headers : "");
	if (n < 0) {
		set_err("out of memory");
		return -1;
	}
	r.fd = connect_to(host, port, r.deadline);
	if (r.fd < 0)
		goto done;
	if (send_all(r.fd, req, (size_t)n, r.deadline) < 0)
		goto done;
	if (body && body_len && send_all(r.fd, body, body_len, r.deadline) < 0)
		goto done;
	rc = read_response(&r, strcasecmp(method, "HEAD") == 0, out);
done:
	if (rc < 0)
		httpc_resp_free(out);
	if (r.fd >= 0)
		close(r.fd);
	free(r.in.data);
	free(req);
	return rc;
}

int httpc_get(const char *host, int port, const char *path, int timeout_ms, httpc_resp *out)
{
	return httpc_request(host, port, "GET", path, NULL, NULL, 0, timeout_ms, out);
}

void httpc_resp_free(httpc_resp *r)
{
	if (!r)
		return;
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}

const char *httpc_header(const httpc_resp *r, const char *name, size_t *len)
{
	size_t nlen = name ? strlen(name) : 0;
	const char *p, *end;

	if (len)
		*len = 0;
	if (!r || !r->headers || !nlen)
		return NULL;
	p = r->headers;
	end = r->headers + r->headers_len;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (len)
				*len = (size_t)(ve - v);
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}
