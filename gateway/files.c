/* Static files of the web client under REBUTTAL_WEBROOT, served the way
 * browsers expect: type from the name, ETag and 304, caching by name,
 * single byte ranges, precompressed siblings, HEAD. Bodies are streamed
 * from the file in chunks on HTTP_WRITEABLE, never held whole in memory.
 * Loop thread. The rules are listed in gateway/README.md ("Static files"). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw.h"
#include "log.h"

#define FILE_CHUNK 65536
/* HTTP/1.1 answers up to this size go out in one write (see files_serve). */
#define FILE_ONE_WRITE_MAX (256 * 1024)
#define PATH_IN_MAX 400
/* Seconds a streaming answer may go without the client taking a chunk. */
#define FILE_STALL_SECS 30

static const struct {
	const char *ext, *type;
} types[] = {
	{"html", "text/html; charset=utf-8"},
	{"htm", "text/html; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"mjs", "text/javascript; charset=utf-8"},
	{"json", "application/json"},
	{"map", "application/json"},
	{"webmanifest", "application/manifest+json"},
	{"txt", "text/plain; charset=utf-8"},
	{"md", "text/markdown; charset=utf-8"},
	{"xml", "application/xml"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"jpg", "image/jpeg"},
	{"jpeg", "image/jpeg"},
	{"gif", "image/gif"},
	{"webp", "image/webp"},
	{"avif", "image/avif"},
	{"ico", "image/x-icon"},
	{"bmp", "image/bmp"},
	{"woff", "font/woff"},
	{"woff2", "font/woff2"},
	{"ttf", "font/ttf"},
	{"otf", "font/otf"},
	{"wasm", "application/wasm"},
	{"pdf", "application/pdf"},
	{"mp3", "audio/mpeg"},
	{"ogg", "audio/ogg"},
	{"wav", "audio/wav"},
	{"mp4", "video/mp4"},
	{"webm", "video/webm"},
	{"gz", "application/gzip"},
	{"br", "application/x-brotli"},
	{"zip", "application/zip"},
};

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot || strchr(dot, '/'))
		return "application/octet-stream";
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		if (!strcasecmp(dot + 1, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* A name that carries a hash of its content ("app.3f9a0c1d.js": a part of
 * 8 or more hex digits just before the extension) never changes under the
 * same name, so it may be cached for a year; anything else is revalidated
 * on every use (no-cache + ETag). */
static int name_is_hashed(const char *path)
{
	const char *base = strrchr(path, '/'), *ext, *start;
	base = base ? base + 1 : path;
	ext = strrchr(base, '.');
	if (!ext || ext == base)
		return 0;
	start = ext;
	while (start > base && isxdigit((unsigned char)start[-1]))
		start--;
	return ext - start >= 8 && start > base && start[-1] == '.';
}

/* Every segment is a plain name: no empty one, none starting with '.'
 * (no "..", no hidden files), no backslash, no control bytes. */
static int path_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > PATH_IN_MAX || p[0] != '/' || strstr(p, "//"))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return 0;
		if (c == '/' && p[i + 1] == '.')
			return 0;
	}
	return 1;
}

/* Opens root + rel if it resolves (symlinks included) to a regular file
 * inside root. Returns the fd (caller closes) or -1. */
static int open_inside(const char *root, const char *rel, struct stat *st)
{
	char full[PATH_MAX], real[PATH_MAX];
	size_t rl = strlen(root);
	if ((size_t)snprintf(full, sizeof full, "%s%s", root, rel) >= sizeof full)
		return -1;
	if (!realpath(full, real) || strncmp(real, root, rl) || real[rl] != '/')
		return -1;
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One item of a comma-separated header value: its text (n bytes, up to a
 * space, comma or `;`) and its parameters (np bytes, up to the next comma). */
typedef struct {
	const char *text, *params;
	size_t n, np;
} list_item;

/* Calls fn on each item of header tok until it returns non-zero: returns
 * that, or 0 (also when the header is absent or longer than 512 bytes). */
static int header_each(struct lws *wsi, enum lws_token_indexes tok,
		       int (*fn)(const list_item *it, const char *want), const char *want)
{
	char v[512];
	const char *t = v;
	list_item it;
	int r = 0;

	if (lws_hdr_copy(wsi, v, sizeof v, tok) <= 0)
		return 0;
	while (!r && *(t += strspn(t, " ,"))) {
		it.text = t;
		it.n = strcspn(t, " ,;");
		it.params = t + it.n;
		it.np = strcspn(it.params, ",");
		t = it.params + it.np;
		r = fn(&it, want);
	}
	return r;
}

/* Accept-Encoding: 1 for the coding wanted, -1 when it comes with q=0. */
static int coding_is(const list_item *it, const char *coding)
{
	size_t cl = strlen(coding);
	if (it->n != cl || strncasecmp(it->text, coding, cl))
		return 0;
	const char *q = strstr(it->params, "q=");
	return q && q < it->params + it->np && strtod(q + 2, NULL) <= 0.0 ? -1 : 1;
}

/* If-None-Match: "*" or the etag wanted (weak comparison). */
static int etag_is(const list_item *it, const char *etag)
{
	const char *v = it->text;
	size_t n = it->n, el = strlen(etag);
	if (n >= 2 && !strncmp(v, "W/", 2))
		v += 2, n -= 2;
	return (n == 1 && *v == '*') || (n == el && !strncmp(v, etag, el));
}

/* 1 when the client accepts `coding` (Accept-Encoding, q=0 refuses). */
static int accepts(struct lws *wsi, const char *coding)
{
	return header_each(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING, coding_is, coding) > 0;
}

/* If-None-Match: "*" or a list holding etag. */
static int etag_matches(struct lws *wsi, const char *etag)
{
	return header_each(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH, etag_is, etag) > 0;
}

enum range_result { RANGE_NONE, RANGE_OK, RANGE_BAD };

/* One "bytes=a-b", "bytes=a-" or "bytes=-n" range. Anything else (several
 * ranges, another unit, bad syntax) is ignored: the whole file is sent,
 * as RFC 9110 allows. RANGE_BAD: no byte of the file is in the range. */
static enum range_result range_parse(struct lws *wsi, uint64_t size, uint64_t *from, uint64_t *to)
{
	char r[128];
	if (lws_hdr_copy(wsi, r, sizeof r, WSI_TOKEN_HTTP_RANGE) <= 0 || strncmp(r, "bytes=", 6) ||
	    strchr(r, ','))
		return RANGE_NONE;
	const char *s = r + 6, *dash = strchr(s, '-');
	if (!dash || strspn(s, "0123456789") != (size_t)(dash - s) ||
	    strspn(dash + 1, "0123456789") != strlen(dash + 1) || (dash == s && !dash[1]) ||
	    strlen(s) > 40)
		return RANGE_NONE;
	unsigned long long a = strtoull(s, NULL, 10), b = strtoull(dash + 1, NULL, 10);
	if (dash == s) { /* the last b bytes */
		if (b == 0 || size == 0)
			return RANGE_BAD;
		*from = b >= size ? 0 : size - b;
		*to = size - 1;
		return RANGE_OK;
	}
	if (dash[1] && b < a)
		return RANGE_NONE;
	if (a >= size)
		return RANGE_BAD;
	*from = a;
	*to = dash[1] && b < size ? b : size - 1;
	return RANGE_OK;
}

typedef struct {
	unsigned status;
	const char *type, *encoding;
	char etag[64], range[80];
	int cache_forever;
	uint64_t len; /* body bytes */
	int head;
} answer;

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **q,
		      unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
					   (const unsigned char *)value, (int)strlen(value), q,
					   end);
}

/* Writes the status line and headers of a; no body. */
static int write_headers(struct lws *wsi, const answer *a)
{
	unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *q = start,
					   *end = hdr + sizeof hdr - 1;
	int with_len = a->status != 304;
	if (with_len ? lws_add_http_common_headers(wsi, a->status, a->type, a->len, &q, end)
		     : lws_add_http_header_status(wsi, a->status, &q, end))
		return -1;
	if (a->etag[0] && add_header(wsi, "etag:", a->etag, &q, end))
		return -1;
	if (add_header(wsi, "cache-control:",
		       a->cache_forever ? "public, max-age=31536000, immutable" : "no-cache", &q,
		       end) ||
	    add_header(wsi, "vary:", "Accept-Encoding", &q, end) ||
	    add_header(wsi, "x-content-type-options:", "nosniff", &q, end))
		return -1;
	if (a->status == 200 && add_header(wsi, "accept-ranges:", "bytes", &q, end))
		return -1;
	if (a->encoding && add_header(wsi, "content-encoding:", a->encoding, &q, end))
		return -1;
	if (a->range[0] && add_header(wsi, "content-range:", a->range, &q, end))
		return -1;
	return lws_finalize_write_http_header(wsi, start, &q, end) ? -1 : 0;
}

/* Ends an answer that has no (more) body: an HTTP/2 stream needs an empty
 * final DATA frame for its END_STREAM, HTTP/1.1 just completes. */
static int finish(struct lws *wsi)
{
	if (lws_get_network_wsi(wsi) != wsi) {
		unsigned char b[LWS_PRE + 1];
		if (lws_write(wsi, b + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0)
			return -1;
	}
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Picks the precompressed sibling (".br", else ".gz") of rel when the
 * client takes it; returns its fd or -1 and sets a->encoding. */
static int open_encoded(struct lws *wsi, const char *root, const char *rel, struct stat *st,
			answer *a)
{
	static const struct {
		const char *coding, *suffix;
	} codings[] = {{"br", ".br"}, {"gzip", ".gz"}};
	char alt[PATH_IN_MAX + 16];
	for (size_t i = 0; i < sizeof codings / sizeof *codings; i++) {
		int len = snprintf(alt, sizeof alt, "%s%s", rel, codings[i].suffix);
		if (len < 0 || (size_t)len >= sizeof alt || !accepts(wsi, codings[i].coding))
			continue;
		int fd = open_inside(root, alt, st);
		if (fd >= 0) {
			a->encoding = codings[i].coding;
			return fd;
		}
	}
	return -1;
}

static int one_write(struct lws *wsi, gw_pss *p)
{
	size_t n = (size_t)p->file_left;
	unsigned char *b = malloc(LWS_PRE + n);
	int rc = -1;
	if (b && pread(p->file_fd, b + LWS_PRE, n, (off_t)p->file_off) == (ssize_t)n &&
	    lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) >= 0)
		rc = 0;
	free(b);
	files_forget(p);
	if (rc < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Opens the representation of rel to send (a compressed sibling when the
 * client takes one and no range is asked for) and fills in a's type,
 * caching and ETag. Returns the fd or -1 (no such file); st is its stat. */
static int representation(struct lws *wsi, const char *root, const char *rel, int ranged,
			  struct stat *st, answer *a)
{
	int plain = open_inside(root, rel, st);
	if (plain < 0)
		return -1;
	a->type = type_of(rel);
	a->cache_forever = name_is_hashed(rel);
	/* A range is of the plain file: a compressed sibling is chosen only
	 * for whole answers. */
	struct stat est;
	int fd = ranged ? -1 : open_encoded(wsi, root, rel, &est, a);
	if (fd >= 0) {
		close(plain);
		*st = est;
	} else {
		fd = plain;
	}
	snprintf(a->etag, sizeof a->etag, "\"%llx-%llx%s%s\"", (unsigned long long)st->st_size,
		 (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
			 (unsigned long long)st->st_mtim.tv_nsec,
		 a->encoding ? "-" : "", a->encoding ? a->encoding : "");
	return fd;
}

/* The status and length of the answer: 304, 416, 206 or 200. */
static void choose_status(struct lws *wsi, uint64_t size, answer *a, uint64_t *from)
{
	uint64_t f = 0, to = 0;
	enum range_result rr = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_RANGE) > 0
				       ? range_parse(wsi, size, &f, &to)
				       : RANGE_NONE;
	char ifr[80];
	if (rr != RANGE_NONE && lws_hdr_copy(wsi, ifr, sizeof ifr, WSI_TOKEN_HTTP_IF_RANGE) > 0 &&
	    strcmp(ifr, a->etag))
		rr = RANGE_NONE; /* If-Range names another version: whole file */
	a->status = 200;
	a->len = size;
	*from = 0;
	if (etag_matches(wsi, a->etag)) {
		a->status = 304;
		a->len = 0;
	} else if (rr == RANGE_BAD) {
		a->status = 416;
		a->type = "text/plain";
		a->len = 0;
		snprintf(a->range, sizeof a->range, "bytes */%llu", (unsigned long long)size);
	} else if (rr == RANGE_OK) {
		a->status = 206;
		a->len = to - f + 1;
		*from = f;
		snprintf(a->range, sizeof a->range, "bytes %llu-%llu/%llu", (unsigned long long)f,
			 (unsigned long long)to, (unsigned long long)size);
	}
}

int files_serve(struct lws *wsi, gw_pss *p, const char *root, const char *path, int head)
{
	char rel[PATH_IN_MAX + 16];
	struct stat st;
	answer a = {.head = head};
	uint64_t from = 0;

	if (!root || !path_ok(path))
		return 1;
	snprintf(rel, sizeof rel, "%s%s", path, path[strlen(path) - 1] == '/' ? "index.html" : "");
	int ranged = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_RANGE) > 0;
	int fd = representation(wsi, root, rel, ranged, &st, &a);
	if (fd < 0)
		return 1;
	choose_status(wsi, (uint64_t)st.st_size, &a, &from);
	if (write_headers(wsi, &a) < 0) {
		close(fd);
		return -1;
	}
	if (head || a.len == 0) {
		close(fd);
		return finish(wsi);
	}
	p->file_fd = fd;
	p->file_open = 1;
	p->file_off = from;
	p->file_left = a.len;
	/* HTTP/1.1 may pipeline: libwebsockets parses a request that arrives
	 * while an answer is still being written, and that ends the answer's
	 * state (see files_dropped). So a small answer is written in one go,
	 * completing the transaction at once (libwebsockets keeps what the
	 * socket does not take); a larger one is streamed. */
	if (lws_get_network_wsi(wsi) == wsi && a.len <= FILE_ONE_WRITE_MAX)
		return one_write(wsi, p);
	lws_callback_on_writable(wsi);
	return 0;
}

int files_writable(struct lws *wsi, gw_pss *p)
{
	static unsigned char chunk[LWS_PRE + FILE_CHUNK];
	size_t max = lws_get_network_wsi(wsi) != wsi ? GW_H2_FRAME_MAX : FILE_CHUNK;
	size_t n = p->file_left > max ? max : (size_t)p->file_left;
	/* An HTTP/2 stream may send only what the peer's window allows. */
	lws_fileofs_t allow = lws_get_peer_write_allowance(wsi);
	if (allow == 0)
		return 0; /* libwebsockets asks again when the window opens */
	if (allow > 0 && (uint64_t)allow < n)
		n = (size_t)allow;
	ssize_t got = pread(p->file_fd, chunk + LWS_PRE, n, (off_t)p->file_off);
	if (got <= 0) {
		log_warn("static file read failed: %s", got < 0 ? strerror(errno) : "file shrank");
		return -1;
	}
	int last = (uint64_t)got == p->file_left;
	if (lws_write(wsi, chunk + LWS_PRE, (size_t)got,
		      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
		return -1;
	p->file_off += (uint64_t)got;
	p->file_left -= (uint64_t)got;
	if (!last) {
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, FILE_STALL_SECS);
		lws_callback_on_writable(wsi);
		return 0;
	}
	files_forget(p);
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void files_forget(gw_pss *p)
{
	if (p && p->file_open) {
		close(p->file_fd);
		p->file_open = 0;
	}
}

/* An HTTP/1.1 connection whose streamed answer was cut short by a
 * pipelined request. libwebsockets drops the answer's state (DROP_PROTOCOL)
 * and at once binds the next request's (BIND_PROTOCOL) on the same wsi;
 * nothing else runs in between, so one pointer is enough. */
static struct lws *cut_short;

void files_dropped(struct lws *wsi, gw_pss *p)
{
	if (p && p->file_open && lws_get_network_wsi(wsi) == wsi)
		cut_short = wsi;
	files_forget(p);
}

int files_bound(struct lws *wsi)
{
	if (cut_short != wsi)
		return 0;
	/* The client has part of a body whose length it was told: closing
	 * tells it the answer is incomplete; writing the next answer after it
	 * would be taken for the rest of the body. */
	cut_short = NULL;
	log_info("HTTP/1.1 request pipelined behind a streamed file: connection closed");
	return -1;
}

char *files_root(const char *webroot)
{
	char real[PATH_MAX];
	struct stat st;
	if (!webroot[0])
		return NULL;
	if (!realpath(webroot, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("REBUTTAL_WEBROOT %s is not a folder; static files are off", webroot);
		return NULL;
	}
	return strdup(real);
}
