#define _GNU_SOURCE
/* A client that stops reading is disconnected by its gateway, whose memory
 * stays bounded (PROTOCOL/DESIGN: bounded per-connection queues). The slow
 * client is a raw socket that speaks just enough WebSocket to log in and
 * then never reads again: a real library client would keep draining the
 * socket into its own memory. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integ.h"

void test_gateway_slow_consumer_dropped(void)
{
	static const char *const outq[] = {"REBUTTAL_OUTQ_MAX=65536", NULL};
	int port = gateway_with("gateway slow", outq);
	int fd = raw_login(port);

	/* Broadcasts of ~40 KB each (a 7 KB message and its segment) until the
	 * gateway gives up on the client that does not read. */
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char name[64], room[64];
	snprintf(name, sizeof name, "flood-%s", uniq());
	room_made(a, "text", name, room);
	static char text[7001];
	memset(text, 'x', 7000);
	long dropped = 0;
	for (int i = 0; i < 600 && dropped < 1; i++) {
		sendp(a,
		      "{\"type\":\"message\",\"roomid\":\"%s\",\"message\":{\"text\":\"%d %s\"}}",
		      room, i, text);
		json_decref(expect(a, "sendMessage"));
		if (i % 25 == 24)
			dropped = metric_at(port, "rebuttal_gateway_slow_consumers_total");
	}
	CHECK_MSG(dropped >= 1, "the gateway kept a client that reads nothing");
	/* Its socket is closed by the server: we read to the end of it (FIN),
	 * or the kernel reports a reset (the server closed with bytes of ours
	 * unread, or gave up on a full send buffer). Anything else within the
	 * wait means the gateway still holds it. The gateway closes on its next
	 * writable callback, so only once we read; what its kernel buffered
	 * comes first, and through the 4 KiB window of the flood it trickled
	 * (delayed acknowledgements: once more than 5 s): a wide window now,
	 * and the wait counts from the last byte. */
	int wide = 1 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &wide, sizeof wide);
	char buf[65536];
	ssize_t n = -1;
	long long until = now_ms() + WAIT_MS, began = now_ms(), bytes = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	while (now_ms() < until && poll(&pfd, 1, (int)(until - now_ms())) > 0) {
		if ((n = read(fd, buf, sizeof buf)) <= 0)
			break;
		bytes += n;
		until = now_ms() + WAIT_MS;
	}
	printf("slow client read %lld bytes in %lld ms to the end\n", bytes, now_ms() - began);
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

/* ------------------------------------------- start and stop under load */

typedef struct {
	bus *b;
	atomic_int stop;
	long sent;
} flood;

/* Publishes deliveries on rb.out.all as fast as NATS takes them (a short
 * pause every 50 keeps the test's own gateway, which renders each,
 * from drowning). */
static void *flood_run(void *ud)
{
	flood *f = ud;
	Rb__Delivery d = RB__DELIVERY__INIT;
	Rb__SUser su = RB__SUSER__INIT;
	su.userid = "00000000-0000-4000-8000-000000000000";
	d.packet_case = RB__DELIVERY__PACKET_DISCONNECT;
	d.disconnect = &su;
	uint8_t buf[128];
	size_t len = protobuf_c_message_pack(&d.base, buf);
	while (!atomic_load(&f->stop)) {
		if (bus_publish(f->b, "rb.out.all", buf, len) == 0)
			f->sent++;
		if (f->sent % 50 == 0)
			usleep(1000);
	}
	return NULL;
}

/* A gateway started and stopped 50 times while broadcasts keep coming:
 * a broadcast before the gateway's loop exists, or one during its
 * shutdown, must not crash it (test.sh fails the run on any sanitizer
 * report in its log). Each start must answer /readyz and each stop must
 * reach the end of shutdown. */
void test_gateway_start_stop_under_broadcast(void)
{
	enum { ROUNDS = 50 };
	flood f = {.b = bus_as("tester", "integ-flood")};
	pthread_t t;
	CHECK(pthread_create(&t, NULL, flood_run, &f) == 0);
	char out[64], path[512];
	snprintf(path, sizeof path, "%s/logs/gateway-churn.log", rt_env("REBUTTAL_STACK_DIR"));
	for (int i = 0; i < ROUNDS; i++) {
		CHECK_EQ_INT(stack("start-part gateway churn", out, sizeof out), 0);
		CHECK_EQ_INT(stack("kill gateway-churn TERM", NULL, 0), 0);
	}
	atomic_store(&f.stop, 1);
	pthread_join(t, NULL);
	bus_close(f.b);
	/* Every run logged the end of its shutdown. */
	FILE *log = fopen(path, "r");
	CHECK_NOT_NULL(log);
	char line[1024];
	int stopped = 0;
	while (fgets(line, sizeof line, log))
		if (strstr(line, "gateway stopped"))
			stopped++;
	fclose(log);
	printf("%d starts and stops, %ld broadcasts published meanwhile\n", ROUNDS, f.sent);
	CHECK_EQ_INT(stopped, ROUNDS);
}
