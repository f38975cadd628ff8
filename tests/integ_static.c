/* The gateway's static files (gateway/files.c) over HTTP/1.1, from the web
 * root scripts/test.sh gives the test gateway. HTTP/2 is checked by
 * tests/h2/h2check.mjs (test tls_login) and the browser test. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpc.h"
#include "integ.h"

/* Writes a file under the web root (folders made as needed). */
static void put(const char *rel, const void *data, size_t len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", rt_env("REBUTTAL_WEBROOT"), rel);
	for (char *s = strchr(path + strlen(rt_env("REBUTTAL_WEBROOT")) + 1, '/'); s;
	     s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	FILE *f = fopen(path, "wb");
	CHECK_MSG(f, "cannot write %s", path);
	CHECK(fwrite(data, 1, len, f) == len);
	fclose(f);
}

static void get(const char *path, const char *headers, httpc_resp *r)
{
	CHECK_MSG(httpc_request("127.0.0.1", gw_port(), "GET", path, headers, NULL, 0, WAIT_MS,
				r) == 0,
		  "GET %s: %s", path, httpc_last_error());
}

/* The header's value as a string (static buffer), "" when absent. */
static const char *hdr(const httpc_resp *r, const char *name)
{
	static char v[256];
	size_t n;
	const char *p = httpc_header(r, name, &n);
	snprintf(v, sizeof v, "%.*s", p ? (int)n : 0, p ? p : "");
	return v;
}

void test_static_types_and_cache(void)
{
	httpc_resp r;
	put("LICENSE", "plain words\n", 12);
	get("/LICENSE", NULL, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(hdr(&r, "Content-Type"), "application/octet-stream");
	CHECK_EQ_STR(r.body, "plain words\n");
	CHECK_EQ_STR(hdr(&r, "X-Content-Type-Options"), "nosniff");
	CHECK_EQ_STR(hdr(&r, "Cache-Control"), "no-cache");
	char etag[256];
	snprintf(etag, sizeof etag, "%s", hdr(&r, "ETag"));
	CHECK_MSG(etag[0] == '"', "no ETag: \"%s\"", etag);
	httpc_resp_free(&r);

	/* A second load with the ETag: 304, no body, same validators. */
	char h[320];
	snprintf(h, sizeof h, "If-None-Match: %s\r\n", etag);
	get("/LICENSE", h, &r);
	CHECK_EQ_INT(r.status, 304);
	CHECK_EQ_INT((int)r.body_len, 0);
	CHECK_EQ_STR(hdr(&r, "ETag"), etag);
	CHECK_EQ_STR(hdr(&r, "X-Content-Type-Options"), "nosniff");
	httpc_resp_free(&r);
	get("/LICENSE", "If-None-Match: \"other\"\r\n", &r);
	CHECK_EQ_INT(r.status, 200);
	httpc_resp_free(&r);

	/* A name with a content hash is cached for a year; a short hex part
	 * is no hash. */
	put("js/app.0123abcd.js", "1;", 2);
	put("js/app.0123.js", "2;", 2);
	get("/js/app.0123abcd.js", NULL, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(hdr(&r, "Content-Type"), "text/javascript; charset=utf-8");
	CHECK_EQ_STR(hdr(&r, "Cache-Control"), "public, max-age=31536000, immutable");
	httpc_resp_free(&r);
	get("/js/app.0123.js", NULL, &r);
	CHECK_EQ_STR(hdr(&r, "Cache-Control"), "no-cache");
	httpc_resp_free(&r);

	/* HEAD: the headers of GET, no body. */
	CHECK_EQ_INT(httpc_request("127.0.0.1", gw_port(), "HEAD", "/LICENSE", NULL, NULL, 0,
				   WAIT_MS, &r),
		     0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(hdr(&r, "Content-Length"), "12");
	CHECK_EQ_STR(hdr(&r, "ETag"), etag);
	httpc_resp_free(&r);
	/* And the connection is still good for the next request: GET after HEAD. */
	get("/LICENSE", NULL, &r);
	CHECK_EQ_INT(r.status, 200);
	httpc_resp_free(&r);
}

void test_static_ranges(void)
{
	httpc_resp r;
	put("r.txt", "0123456789", 10);
	/* Range header, status, body (NULL: not checked), Content-Range (NULL:
	 * not checked). Several ranges, or nonsense: the whole file (RFC 9110
	 * allows it). */
	static const struct {
		const char *range;
		int status;
		const char *body, *content_range;
	} cases[] = {
		{"bytes=2-5", 206, "2345", "bytes 2-5/10"},
		{"bytes=-3", 206, "789", NULL},
		{"bytes=7-", 206, "789", NULL},
		{"bytes=10-12", 416, NULL, "bytes */10"},
		{"bytes=0-1,4-5", 200, "0123456789", NULL},
		{"bytes=x-y", 200, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char h[64];
		snprintf(h, sizeof h, "Range: %s\r\n", cases[i].range);
		get("/r.txt", h, &r);
		CHECK_MSG(r.status == cases[i].status, "%s: status %d", cases[i].range, r.status);
		if (cases[i].body)
			CHECK_EQ_STR(r.body, cases[i].body);
		if (cases[i].content_range)
			CHECK_EQ_STR(hdr(&r, "Content-Range"), cases[i].content_range);
		httpc_resp_free(&r);
	}
	/* If-Range with another version: the whole file. */
	get("/r.txt", "Range: bytes=2-5\r\nIf-Range: \"nope\"\r\n", &r);
	CHECK_EQ_INT(r.status, 200);
	httpc_resp_free(&r);
}

void test_static_precompressed(void)
{
	httpc_resp r;
	put("c/site.css", "body{color:red}", 15);
	put("c/site.css.gz", "GZBYTES", 7); /* the gateway serves, never reads, it */
	get("/c/site.css", "Accept-Encoding: gzip, deflate\r\n", &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(hdr(&r, "Content-Encoding"), "gzip");
	CHECK_EQ_STR(hdr(&r, "Content-Type"), "text/css; charset=utf-8");
	CHECK_EQ_STR(hdr(&r, "Vary"), "Accept-Encoding");
	CHECK_EQ_STR(r.body, "GZBYTES");
	char gz_etag[256];
	snprintf(gz_etag, sizeof gz_etag, "%s", hdr(&r, "ETag"));
	httpc_resp_free(&r);
	get("/c/site.css", NULL, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(hdr(&r, "Content-Encoding"), "");
	CHECK_EQ_STR(hdr(&r, "Vary"), "Accept-Encoding");
	CHECK_EQ_STR(r.body, "body{color:red}");
	CHECK_MSG(strcmp(hdr(&r, "ETag"), gz_etag), "both encodings share ETag %s", gz_etag);
	httpc_resp_free(&r);
	get("/c/site.css", "Accept-Encoding: gzip;q=0, identity\r\n", &r);
	CHECK_EQ_STR(hdr(&r, "Content-Encoding"), "");
	httpc_resp_free(&r);
	/* Brotli wins when both exist and both are accepted. */
	put("c/site.css.br", "BRBYTES", 7);
	get("/c/site.css", "Accept-Encoding: gzip, br\r\n", &r);
	CHECK_EQ_STR(hdr(&r, "Content-Encoding"), "br");
	CHECK_EQ_STR(r.body, "BRBYTES");
	httpc_resp_free(&r);
}

/* Sends raw bytes as a request and returns the status (0: none, closed). */
static int raw_status(const char *req)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw_port())};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	char got[256] = "";
	size_t len = 0;
	long long end = now_ms() + WAIT_MS;
	while (len < 12 && fd_read_by(fd, got, sizeof got, &len, end) > 0)
		;
	close(fd);
	int status = 0;
	sscanf(got, "HTTP/1.1 %d", &status);
	return status;
}

void test_static_no_escape(void)
{
	char req[512], outside[512];
	put("in/ok.txt", "ok", 2);
	/* A file next to the web root, and a symlink to it from inside. */
	snprintf(outside, sizeof outside, "%s/../static-secret.txt", rt_env("REBUTTAL_WEBROOT"));
	FILE *f = fopen(outside, "w");
	CHECK_NOT_NULL(f);
	fputs("secret", f);
	fclose(f);
	char link[512];
	snprintf(link, sizeof link, "%s/in/link.txt", rt_env("REBUTTAL_WEBROOT"));
	unlink(link);
	CHECK_EQ_INT(symlink(outside, link), 0);
	put(".hidden", "h", 1);
	static const char *paths[] = {
		"/in/link.txt",
		"/../static-secret.txt",
		"/in/../../static-secret.txt",
		"/%2e%2e/static-secret.txt",
		"/in%2f..%2f..%2fstatic-secret.txt",
		"/in/..%2f..%2fstatic-secret.txt",
		"/.hidden",
		"/in/",
		"/in",
		"/in\\ok.txt",
		"/in/ok.txt%00.png",
	};
	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
		int st = raw_status(req);
		CHECK_MSG(st != 200 && st != 206, "GET %s answered %d", paths[i], st);
	}
	snprintf(req, sizeof req, "GET /in/ok.txt HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_EQ_INT(raw_status(req), 200);
	/* A symlink that stays inside the root is followed. */
	snprintf(link, sizeof link, "%s/in/alias.txt", rt_env("REBUTTAL_WEBROOT"));
	unlink(link);
	CHECK_EQ_INT(symlink("ok.txt", link), 0);
	CHECK_EQ_INT(raw_status("GET /in/alias.txt HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
	/* Not GET or HEAD: refused. */
	int st = raw_status("DELETE /in/ok.txt HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_MSG(st != 200, "DELETE answered %d", st);
}

/* A 20 MB file read slowly over one connection: the gateway streams it
 * from the file, and every byte arrives. While the client stops reading
 * after the first MiB, the gateway holds a chunk or so, not the file. (That
 * is the figure checked: under AddressSanitizer the freed chunks of the
 * whole transfer stay resident in its quarantine.) */
void test_static_big_file_streamed(void)
{
	enum { SIZE = 20 * 1024 * 1024 };
	char *data = malloc(SIZE);
	CHECK_NOT_NULL(data);
	for (size_t i = 0; i < SIZE; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	put("big.bin", data, SIZE);
	long before = part_rss_kib("gateway"), peak = before, stalled = -1;

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw_port())};
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 64 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
	char *got = malloc(SIZE + 4096);
	CHECK_NOT_NULL(got);
	size_t len = 0, body = 0;
	long long t0 = now_ms(), last_sample = 0;
	char *hend = NULL;
	while (now_ms() - t0 < 30000) {
		ssize_t n = read(fd, got + len, 32768);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (!hend) {
			got[len] = '\0';
			hend = strstr(got, "\r\n\r\n");
		}
		body = hend ? len - (size_t)(hend + 4 - got) : 0;
		if (body >= SIZE)
			break;
		if (stalled < 0 && body >= 1024 * 1024) {
			usleep(500 * 1000); /* the gateway must wait, not read ahead */
			stalled = part_rss_kib("gateway");
		}
		if (now_ms() - last_sample > 100) {
			last_sample = now_ms();
			long rss = part_rss_kib("gateway");
			if (rss > peak)
				peak = rss;
		}
		usleep(1000); /* a slow reader */
	}
	close(fd);
	CHECK_MSG(hend, "no headers");
	CHECK_MSG(body == SIZE, "got %zu of %d body bytes", body, SIZE);
	CHECK_MSG(!memcmp(hend + 4, data, SIZE), "body differs from the file");
	printf("20 MiB static file in %lld ms; gateway RSS %ld KiB before, %ld KiB while the "
	       "client paused after 1 MiB, peak %ld KiB\n",
	       now_ms() - t0, before, stalled, peak);
	CHECK_MSG(stalled - before < 8 * 1024, "gateway grew by %ld KiB with the client paused",
		  stalled - before);
	free(got);
	free(data);
}

/* Reads from fd until it closes or ms pass; returns the bytes (caller
 * frees) and their count in *len. */
static char *read_all(int fd, int ms, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap + 1);
	CHECK_NOT_NULL(b);
	long long end = now_ms() + ms;
	while (now_ms() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
			CHECK_NOT_NULL(b);
		}
		ssize_t got = read(fd, b + n, cap - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	b[n] = '\0';
	*len = n;
	return b;
}

static int count_answers(const char *b, size_t len)
{
	int n = 0;
	for (const char *p = b; (p = memmem(p, len - (size_t)(p - b), "HTTP/1.1 ", 9)); p += 9)
		n++;
	return n;
}

/* Pipelined requests for small files are answered in order, like other
 * paths. One pipelined behind a big (streamed) answer closes the
 * connection instead of writing an answer into the middle of a body. */
void test_static_pipelined(void)
{
	put("p1.txt", "first", 5);
	put("p2.txt", "second", 6);
	char *big = calloc(1, 4 << 20);
	CHECK_NOT_NULL(big);
	put("p-big.bin", big, 4 << 20);
	free(big);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw_port())};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	static const char small[] = "GET /p1.txt HTTP/1.1\r\nHost: x\r\n\r\n"
				    "GET /p2.txt HTTP/1.1\r\nHost: x\r\n\r\n"
				    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	CHECK(write(fd, small, sizeof small - 1) == (ssize_t)(sizeof small - 1));
	size_t len;
	char *got = read_all(fd, WAIT_MS, &len);
	close(fd);
	char *a = strstr(got, "first"), *b = strstr(got, "second"), *c = strstr(got, "ok\n");
	CHECK_MSG(a && b && c && a < b && b < c, "pipelined small files out of order: %s", got);
	free(got);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	static const char behind[] = "GET /p-big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
				     "GET /p1.txt HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(write(fd, behind, sizeof behind - 1) == (ssize_t)(sizeof behind - 1));
	got = read_all(fd, WAIT_MS, &len);
	close(fd);
	int answers = count_answers(got, len);
	printf("request pipelined behind a 4 MiB file: %d answer(s), %zu bytes, then closed\n",
	       answers, len);
	CHECK_MSG(answers == 1, "%d answers on the connection", answers);
	CHECK_MSG(len < (4u << 20), "the whole big body came (%zu bytes) and no close", len);
	free(got);
}
