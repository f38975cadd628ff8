#define _GNU_SOURCE
/* A client that stops reading is disconnected by its gateway, whose memory
 * stays bounded (PROTOCOL/DESIGN: bounded per-connection queues). The slow
 * client is a raw socket that speaks just enough WebSocket to log in and
 * then never reads again: a real library client would keep draining the
 * socket into its own memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#include "integ.h"

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
			dropped = metric_at(port, "rebuttal_gateway_slow_consumers_total");
	}
	CHECK_MSG(dropped >= 1, "the gateway kept a client that reads nothing");
	/* Its socket is closed by the server: we read to the end of it (FIN),
	 * or the kernel reports a reset (the server closed with bytes of ours
	 * unread, or gave up on a full send buffer). Anything else within the
	 * wait means the gateway still holds it. */
	char buf[65536];
	ssize_t n;
	long long until = now_ms() + WAIT_MS;
	while ((n = read(fd, buf, sizeof buf)) > 0 && now_ms() < until)
		;
	if (n < 0)
		printf("slow client's read: %s\n", strerror(errno));
	CHECK_MSG(n == 0 || (n < 0 && errno == ECONNRESET),
		  "the slow client's socket is still open");
	close(fd);
	printf("slow consumer dropped; gateway connections now %ld\n",
	       metric_at(port, "rebuttal_gateway_connections"));
	CHECK_EQ_INT(metric_at(port, "rebuttal_gateway_connections"), 0);
	wsc_ctx_free(ctx);
	stack("kill gateway-slow TERM", NULL, 0);
}
