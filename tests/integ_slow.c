#define _GNU_SOURCE
/* A client that stops reading is disconnected by its gateway, whose memory
 * stays bounded (PROTOCOL/DESIGN: bounded per-connection queues). The slow
 * client is a raw socket that speaks just enough WebSocket to log in and
 * then never reads again: a real library client would keep draining the
 * socket into its own memory. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc.h"
#include "integ.h"

/* Writes one masked text frame (clients must mask). */
static void raw_send(int fd, const char *text)
{
	size_t len = strlen(text), h = 0;
	unsigned char hdr[14], mask[4] = {0x12, 0x34, 0x56, 0x78};
	hdr[h++] = 0x81;
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	unsigned char *buf = malloc(h + len);
	CHECK_NOT_NULL(buf);
	memcpy(buf, hdr, h);
	for (size_t i = 0; i < len; i++)
		buf[h + i] = (unsigned char)text[i] ^ mask[i % 4];
	CHECK(write(fd, buf, h + len) == (ssize_t)(h + len));
	free(buf);
}

/* Reads until `needle` has been seen in the byte stream (frames unparsed). */
static void raw_wait_for(int fd, const char *needle)
{
	static char win[65536];
	size_t have = 0;
	long long until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		if (have > sizeof win / 2) { /* keep the tail only */
			memmove(win, win + have - 1024, 1024);
			have = 1024;
		}
		ssize_t n = read(fd, win + have, sizeof win - have - 1);
		CHECK_MSG(n > 0, "slow client: socket closed while waiting for %s", needle);
		have += (size_t)n;
		win[have] = '\0';
		if (memmem(win, have, needle, strlen(needle)))
			return;
	}
	CHECK_MSG(0, "slow client: no %s", needle);
}

static int raw_login(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A small receive buffer: the backlog piles up in the gateway, not here. */
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	char req[256];
	int n = snprintf(req, sizeof req,
			 "GET /ipc HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", port);
	CHECK(write(fd, req, (size_t)n) == n);
	raw_wait_for(fd, "\"connect\"");
	char login[256];
	snprintf(login, sizeof login,
		 "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\",\"protocol\":\"v1\"}",
		 admin_password());
	raw_send(fd, login);
	raw_wait_for(fd, "\"welcome\"");
	return fd;
}

static long metric(int port, const char *name)
{
	httpc_resp r;
	long v = -1;
	if (httpc_get("127.0.0.1", port, "/metrics", WAIT_MS, &r) == 0) {
		const char *p = r.body;
		while (p && (p = strstr(p, name))) {
			if ((p == r.body || p[-1] == '\n') && p[strlen(name)] == ' ') {
				v = atol(p + strlen(name) + 1);
				break;
			}
			p += strlen(name);
		}
		httpc_resp_free(&r);
	}
	return v;
}

void test_gateway_slow_consumer_dropped(void)
{
	char out[64];
	setenv("REBUTTAL_OUTQ_MAX", "65536", 1);
	CHECK_EQ_INT(stack("start-part gateway slow", out, sizeof out), 0);
	unsetenv("REBUTTAL_OUTQ_MAX");
	int port = 0;
	CHECK(sscanf(out, "port=%d", &port) == 1);
	int fd = raw_login(port);

	/* Broadcasts of ~40 KB each (a 7 KB message and its segment) until the
	 * gateway gives up on the client that does not read. */
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char name[64], room[64] = "";
	snprintf(name, sizeof name, "flood-%s", uniq());
	sendp(a, "{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\"}", name);
	while (!room[0]) {
		json_t *j = expect(a, "updateRooms");
		json_t *list = json_object_get(j, "roomList");
		for (size_t i = 0; i < json_array_size(list); i++)
			if (!strcmp(jstr(json_array_get(list, i), "name"), name))
				snprintf(room, sizeof room, "%s", jstr(json_array_get(list, i), "id"));
		json_decref(j);
	}
	static char text[7001];
	memset(text, 'x', 7000);
	long dropped = 0;
	for (int i = 0; i < 600 && dropped < 1; i++) {
		sendp(a, "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"%d %s\"}}", room,
		      i, text);
		json_decref(expect(a, "sendMessage"));
		if (i % 25 == 24)
			dropped = metric(port, "rebuttal_gateway_slow_consumers_total");
	}
	CHECK_MSG(dropped >= 1, "the gateway kept a client that reads nothing");
	/* Its socket is closed by the server (we read to the end of it). */
	char buf[65536];
	ssize_t n;
	long long until = now_ms() + WAIT_MS;
	while ((n = read(fd, buf, sizeof buf)) > 0 && now_ms() < until)
		;
	CHECK_MSG(n == 0, "the slow client's socket is still open");
	close(fd);
	printf("slow consumer dropped; gateway connections now %ld\n",
	       metric(port, "rebuttal_gateway_connections"));
	CHECK_EQ_INT(metric(port, "rebuttal_gateway_connections"), 0);
	wsc_ctx_free(ctx);
	stack("kill gateway-slow TERM", NULL, 0);
}
