#define _GNU_SOURCE
#include "rawws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integ.h"

#define BUF_MIN (256 * 1024)
#define FRAME_MAX ((size_t)16 << 20)

struct rawws {
	int fd;
	unsigned char *buf;
	size_t cap, have;   /* bytes [0, have) received, not yet parsed */
	unsigned char *msg; /* a fragmented message being joined */
	size_t msg_len;
};

static void write_all(int fd, const void *p, size_t len)
{
	const char *b = p;
	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd w = {fd, POLLOUT, 0};
			(void)poll(&w, 1, 100);
			continue;
		}
		CHECK_MSG(n > 0, "rawws: write: %s", strerror(errno));
		b += n;
		len -= (size_t)n;
	}
}

/* One read into the free end of the buffer (grown first when less than
 * 4 KiB of it is free); what read returned, the bytes kept. */
static ssize_t read_some(rawws *c)
{
	if (c->cap - c->have < 4096) {
		c->cap *= 2;
		c->buf = realloc(c->buf, c->cap);
		CHECK_NOT_NULL(c->buf);
	}
	ssize_t n = read(c->fd, c->buf + c->have, c->cap - c->have);
	if (n > 0)
		c->have += (size_t)n;
	return n;
}

/* 1 when read_some found nothing for now (not an end). */
static int again(ssize_t n)
{
	return n < 0 && (errno == EAGAIN || errno == EINTR);
}

/* Waits up to the deadline for readable bytes and appends them. */
static void fill_blocking(rawws *c, long long until)
{
	for (;;) {
		CHECK_MSG(now_ms() < until, "rawws: nothing from the server in time");
		struct pollfd p = {c->fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read_some(c);
		if (again(n))
			continue;
		CHECK_MSG(n > 0, "rawws: the server closed the connection");
		return;
	}
}

rawws *rawws_open(int port)
{
	rawws *c = calloc(1, sizeof *c);
	CHECK_NOT_NULL(c);
	c->cap = BUF_MIN;
	c->buf = malloc(c->cap);
	CHECK_NOT_NULL(c->buf);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c->fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_MSG(connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0, "rawws: connect: %s",
		  strerror(errno));
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	CHECK(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) == 0);
	char req[256];
	int n = snprintf(req, sizeof req, RAWWS_UPGRADE, port);
	write_all(c->fd, req, (size_t)n);
	long long until = now_ms() + WAIT_MS;
	unsigned char *end;
	while (!(end = memmem(c->buf, c->have, "\r\n\r\n", 4)))
		fill_blocking(c, until);
	CHECK_MSG(c->have >= 12 && !memcmp(c->buf, "HTTP/1.1 101", 12), "rawws: upgrade refused");
	size_t used = (size_t)(end + 4 - c->buf);
	memmove(c->buf, c->buf + used, c->have - used);
	c->have -= used;
	return c;
}

void rawws_close(rawws *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c->msg);
	free(c);
}

int rawws_fd(const rawws *c)
{
	return c->fd;
}

void rawws_send(rawws *c, const char *text, size_t len)
{
	unsigned char hdr[14];
	size_t h = 0;
	hdr[h++] = 0x81;
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	memset(hdr + h, 0, 4); /* the mask key: XOR with 0 leaves the text as is */
	h += 4;
	char stack[1024];
	char *out = h + len <= sizeof stack ? stack : malloc(h + len);
	CHECK_NOT_NULL(out);
	memcpy(out, hdr, h);
	memcpy(out + h, text, len);
	write_all(c->fd, out, h + len);
	if (out != stack)
		free(out);
}

/* Parses the complete frames in the buffer. Returns frames seen. */
static long parse(rawws *c, rawws_frame_fn fn, void *ud)
{
	size_t off = 0;
	long frames = 0;
	for (;;) {
		unsigned char *p = c->buf + off;
		size_t avail = c->have - off, h = 2;
		if (avail < 2)
			break;
		int fin = p[0] & 0x80, op = p[0] & 0x0f;
		uint64_t len = p[1] & 0x7f;
		CHECK_MSG(!(p[1] & 0x80), "rawws: a masked frame from the server");
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)p[2] << 8 | p[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			h = 10;
		}
		CHECK_MSG(len <= FRAME_MAX, "rawws: a frame of %llu bytes",
			  (unsigned long long)len);
		if (avail < h + len) {
			if (h + len > c->cap) { /* make room for it */
				c->cap = h + len + BUF_MIN;
				memmove(c->buf, p, avail);
				c->buf = realloc(c->buf, c->cap);
				CHECK_NOT_NULL(c->buf);
				c->have = avail;
				return frames;
			}
			break;
		}
		const char *data = (const char *)p + h;
		if (op == 0x1 && fin) {
			fn(ud, data, (size_t)len);
			frames++;
		} else if (op == 0x1 || op == 0x0) { /* fragments: join them */
			c->msg = realloc(c->msg, c->msg_len + len + 1);
			CHECK_NOT_NULL(c->msg);
			memcpy(c->msg + c->msg_len, data, len);
			c->msg_len += len;
			if (fin) {
				fn(ud, (const char *)c->msg, c->msg_len);
				c->msg_len = 0;
				frames++;
			}
		}
		/* ping, pong, close: the gateway sends none during a benchmark */
		off += h + (size_t)len;
	}
	memmove(c->buf, c->buf + off, c->have - off);
	c->have -= off;
	return frames;
}

long rawws_read(rawws *c, rawws_frame_fn fn, void *ud)
{
	long frames = 0;
	for (;;) {
		ssize_t n = read_some(c);
		if (again(n))
			return frames;
		if (n <= 0)
			return -1;
		frames += parse(c, fn, ud);
		if ((size_t)n < 65536)
			return frames; /* drained, most likely: back to epoll */
	}
}

typedef struct {
	const char *needle;
	int found;
} wait_ctx;

static void on_wait_frame(void *ud, const char *data, size_t len)
{
	wait_ctx *w = ud;
	if (!w->found && memmem(data, len, w->needle, strlen(w->needle)))
		w->found = 1;
}

void rawws_wait_for(rawws *c, const char *needle)
{
	wait_ctx w = {needle, 0};
	long long until = now_ms() + WAIT_MS;
	while (!w.found) {
		long n = parse(c, on_wait_frame, &w);
		if (w.found || n < 0)
			break;
		fill_blocking(c, until);
	}
	CHECK_MSG(w.found, "rawws: no %s", needle);
}

void rawws_login(rawws *c, const char *email, const char *password)
{
	char login[512];
	int n = snprintf(
		login, sizeof login,
		"{\"type\":\"login\",\"email\":\"%s\",\"password\":\"%s\",\"protocol\":\"v1\"}",
		email, password);
	CHECK(n > 0 && (size_t)n < sizeof login);
	rawws_wait_for(c, "\"type\":\"connect\"");
	rawws_send(c, login, (size_t)n);
	rawws_wait_for(c, "\"type\":\"welcome\"");
}
