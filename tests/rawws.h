/*
 * rawws.h - a lean WebSocket client for load generation: plain sockets, no
 * TLS, no extensions, frames parsed in place from one buffer per
 * connection. The load generator must not be the limit it measures: the
 * libwebsockets test client (wsc.h) spends more per frame than the gateway
 * does, so the fan-out benchmark reads with this one.
 *
 * Set-up calls block (bounded by WAIT_MS); afterwards rawws_read is
 * non-blocking and meant for an epoll loop. Client frames go out masked
 * with a zero key (RFC 6455 requires a mask, not a secret one: this is
 * a load client on loopback).
 */
#ifndef RAWWS_H
#define RAWWS_H

/* The WebSocket upgrade request for /ipc on 127.0.0.1 (printf: the port). */
#define RAWWS_UPGRADE                                                                              \
	"GET /ipc HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"                        \
	"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                   \
	"Sec-WebSocket-Version: 13\r\n\r\n"

#include <stddef.h>

typedef struct rawws rawws;

/* Connects to 127.0.0.1:port/ipc and completes the upgrade. */
rawws *rawws_open(int port);
void rawws_close(rawws *c);
int rawws_fd(const rawws *c);
/* Sends one text frame (the whole of it, blocking if the socket is full). */
void rawws_send(rawws *c, const char *text, size_t len);
/* Blocks until a text frame containing `needle` arrives (earlier frames are
 * dropped); CHECK fails after WAIT_MS. */
void rawws_wait_for(rawws *c, const char *needle);
/* Logs in (protocol v1) and waits for welcome. */
void rawws_login(rawws *c, const char *email, const char *password);
/* Non-blocking: reads what the socket has and calls fn for every complete
 * text frame. Returns the frames seen, or -1 when the server closed. */
typedef void (*rawws_frame_fn)(void *ud, const char *data, size_t len);
long rawws_read(rawws *c, rawws_frame_fn fn, void *ud);

#endif
