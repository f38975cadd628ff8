#define _GNU_SOURCE /* accept4 */
#include "health.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"

/* Connections served at once; more wait in the listen backlog. */
#define HEALTH_CONNS 32
/* A whole request must arrive, and its answer leave, within this. */
#define HEALTH_DEADLINE_MS 2000

typedef struct {
	int fd; /* -1: free */
	int64_t deadline;
	char req[1024];
	size_t n;
	buf out; /* the answer, once the request is complete */
	size_t sent;
} hconn;

struct health {
	int fd;
	volatile int stop;
	pthread_t thread;
	health_ready_fn ready;
	health_metrics_fn metrics;
	void *ud;
	hconn conns[HEALTH_CONNS];
};

static void answer(buf *out, int status, const char *type, const char *body, size_t len)
{
	buf_addf(out,
		 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 status,
		 status == 200   ? "OK"
		 : status == 404 ? "Not Found"
				 : "Service Unavailable",
		 type, len);
	buf_add(out, body, len);
}

static void route(health *h, hconn *c)
{
	if (!strncmp(c->req, "GET /healthz ", 13)) {
		answer(&c->out, 200, "text/plain", "ok\n", 3);
	} else if (!strncmp(c->req, "GET /readyz ", 12)) {
		int ok = !h->ready || h->ready(h->ud);
		answer(&c->out, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n",
		       ok ? 6 : 10);
	} else if (!strncmp(c->req, "GET /metrics ", 13)) {
		buf b = BUF_INIT;
		if (h->metrics)
			h->metrics(h->ud, &b);
		answer(&c->out, 200, "text/plain; version=0.0.4", b.ptr ? b.ptr : "", b.len);
		buf_free(&b);
	} else {
		answer(&c->out, 404, "text/plain", "not found\n", 10);
	}
}

static void conn_close(hconn *c)
{
	close(c->fd);
	c->fd = -1;
	buf_free(&c->out);
}

/* Reads what is there; once the headers are complete, the answer is made.
 * A client may write its request in pieces (bash /dev/tcp writes line by
 * line): answering after the first piece would close on the rest. */
static void conn_read(health *h, hconn *c)
{
	ssize_t r = read(c->fd, c->req + c->n, sizeof c->req - 1 - c->n);
	if (r <= 0) {
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	c->n += (size_t)r;
	c->req[c->n] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") || c->n == sizeof c->req - 1)
		route(h, c);
}

static void conn_write(hconn *c)
{
	ssize_t w = write(c->fd, c->out.ptr + c->sent, c->out.len - c->sent);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w > 0)
		c->sent += (size_t)w;
	if (w <= 0 || c->sent == c->out.len)
		conn_close(c);
}

/* One thread, many connections at once, each with its own deadline: a
 * client that sends a byte now and then holds one slot for 2 s at most and
 * never delays a probe. */
static void *health_main(void *arg)
{
	health *h = arg;
	struct pollfd p[HEALTH_CONNS + 1];
	while (!h->stop) {
		int n = 0, free_slot = -1, oldest = 0;
		int64_t now = bus_now_ms();
		for (int i = 0; i < HEALTH_CONNS; i++) {
			hconn *c = &h->conns[i];
			if (c->fd >= 0 && now >= c->deadline)
				conn_close(c);
			if (c->fd < 0) {
				free_slot = free_slot < 0 ? i : free_slot;
				continue;
			}
			if (c->deadline < h->conns[oldest].deadline)
				oldest = i;
			p[n++] = (struct pollfd){c->fd, c->out.len ? POLLOUT : POLLIN, 0};
		}
		/* The listener last. */
		p[n] = (struct pollfd){h->fd, POLLIN, 0};
		if (poll(p, (nfds_t)n + 1, 100) <= 0)
			continue;
		for (int i = 0, k = 0; i < HEALTH_CONNS && k < n; i++) {
			hconn *c = &h->conns[i];
			if (c->fd < 0 || c->fd != p[k].fd)
				continue;
			if (p[k].revents & (POLLERR | POLLHUP | POLLNVAL) && !c->out.len)
				conn_close(c);
			else if (p[k].revents & POLLOUT)
				conn_write(c);
			else if (p[k].revents & POLLIN)
				conn_read(h, c);
			k++;
		}
		if (p[n].revents & POLLIN) {
			int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd >= 0 && free_slot < 0) {
				/* Full of slow clients: the oldest makes room, so a
				 * probe (done in a millisecond) always gets in. */
				conn_close(&h->conns[oldest]);
				free_slot = oldest;
			}
			if (fd >= 0) {
				hconn *c = &h->conns[free_slot];
				c->fd = fd;
				c->deadline = bus_now_ms() + HEALTH_DEADLINE_MS;
				c->n = 0;
				c->sent = 0;
				c->out = (buf)BUF_INIT;
			}
		}
	}
	for (int i = 0; i < HEALTH_CONNS; i++)
		if (h->conns[i].fd >= 0)
			conn_close(&h->conns[i]);
	return NULL;
}

/* A listening socket on addr:port, or -1 (errno set; EINVAL for an address
 * that is not numeric). */
static int listen_on(const char *addr, int port)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char service[8];
	int fd, one = 1;

	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof service, "%d", port);
	if (getaddrinfo(addr, service, &hints, &ai) != 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
			bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0)) {
		int e = errno;
		close(fd);
		errno = e;
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

health *health_start(const char *addr, int port, health_ready_fn ready, health_metrics_fn metrics,
		     void *ud)
{
	health *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->ready = ready;
	h->metrics = metrics;
	h->ud = ud;
	for (int i = 0; i < HEALTH_CONNS; i++)
		h->conns[i].fd = -1;
	h->fd = listen_on(addr, port);
	if (h->fd < 0 || pthread_create(&h->thread, NULL, health_main, h) != 0) {
		log_error("health: cannot listen on %s port %d: %s", addr, port, strerror(errno));
		if (h->fd >= 0)
			close(h->fd);
		free(h);
		return NULL;
	}
	log_info("health: listening on %s port %d", addr, port);
	return h;
}

void health_stop(health *h)
{
	if (!h)
		return;
	h->stop = 1;
	pthread_join(h->thread, NULL);
	close(h->fd);
	free(h);
}
