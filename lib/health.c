#include "health.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

struct health {
	int fd;
	volatile int stop;
	pthread_t thread;
	health_ready_fn ready;
	health_metrics_fn metrics;
	void *ud;
};

static void respond(int fd, int status, const char *type, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, status == 200 ? "OK" : status == 404 ? "Not Found" : "Service Unavailable",
			 type, len);
	if (write(fd, head, (size_t)n) == n && len)
		(void)!write(fd, body, len);
}

static void serve_one(health *h, int fd)
{
	char req[1024];
	size_t n = 0;
	struct pollfd p = {fd, POLLIN, 0};

	/* Read up to the end of the headers: a client may write its request
	 * in several pieces (bash /dev/tcp writes line by line), and answering
	 * after the first piece would close on the rest (SIGPIPE for it). A
	 * silent peer gets 1 s, so it cannot hold the only health thread. */
	while (n < sizeof req - 1) {
		if (poll(&p, 1, 1000) <= 0)
			return;
		ssize_t r = read(fd, req + n, sizeof req - 1 - n);
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[n] = '\0';
	if (!strncmp(req, "GET /healthz ", 13)) {
		respond(fd, 200, "text/plain", "ok\n", 3);
	} else if (!strncmp(req, "GET /readyz ", 12)) {
		int ok = !h->ready || h->ready(h->ud);
		respond(fd, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n", ok ? 6 : 10);
	} else if (!strncmp(req, "GET /metrics ", 13)) {
		buf b = BUF_INIT;
		if (h->metrics)
			h->metrics(h->ud, &b);
		respond(fd, 200, "text/plain; version=0.0.4", b.ptr ? b.ptr : "", b.len);
		buf_free(&b);
	} else {
		respond(fd, 404, "text/plain", "not found\n", 10);
	}
}

static void *health_main(void *arg)
{
	health *h = arg;
	while (!h->stop) {
		struct pollfd p = {h->fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		int fd = accept(h->fd, NULL, NULL);
		if (fd < 0)
			continue;
		serve_one(h, fd);
		close(fd);
	}
	return NULL;
}

health *health_start(int port, health_ready_fn ready, health_metrics_fn metrics, void *ud)
{
	health *h = calloc(1, sizeof *h);
	struct sockaddr_in sa = {0};
	int one = 1;

	if (!h)
		return NULL;
	h->ready = ready;
	h->metrics = metrics;
	h->ud = ud;
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(h->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(h->fd, 16) < 0 ||
	    pthread_create(&h->thread, NULL, health_main, h) != 0) {
		log_error("health: cannot listen on port %d: %s", port, strerror(errno));
		if (h->fd >= 0)
			close(h->fd);
		free(h);
		return NULL;
	}
	log_info("health: listening on port %d", port);
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
