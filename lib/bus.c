#define _GNU_SOURCE /* ppoll */
#include "bus.h"

#include <errno.h>
#include <nats/nats.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

#define PENDING_BUCKETS 1024
#define BUS_USER_MAX 32

typedef struct pending {
	struct pending *next;
	uint64_t token;
	char *subject;
	void *data;
	size_t len;
	int attempt_ms;
	int bounces;      /* "no responders" answers so far: the backoff grows */
	int64_t deadline; /* bus_now_ms(): BUS_TIMEOUT then */
	int64_t try_at;   /* bus_now_ms(): send again then, unless heard from */
	bus_reply_fn fn;
	void *ud;
} pending;

/* BUS_BATCH: the thread that polls the NATS socket for cnats (its
 * event-loop mode). cnats calls the callbacks below with its connection
 * lock held (publishers, its reconnect thread, this thread): they only
 * note what to poll for and wake this thread when it sleeps in poll. */
typedef struct {
	pthread_mutex_t mu;
	/* Held around natsConnection_ProcessWriteEvent: two writers would
	 * race, and cnats takes a write of an empty buffer for a closed
	 * connection (it reconnects). */
	pthread_mutex_t wmu;
	natsConnection *nc;
	int fd;             /* the connection's socket, -1 when none */
	int want_read;      /* cnats's read interest */
	int want_write;     /* cnats has bytes buffered to write */
	int polling;        /* the thread is in poll (or about to be) with no
			   * timeout: a change must wake it */
	int64_t last_write; /* io_now_us() of the last write */
	int stop;
	int wake; /* eventfd */
	pthread_t th;
	int started;
} bus_io;

struct bus {
	natsConnection *nc;
	bus_io *io; /* BUS_BATCH */
	natsOptions *opts;
	natsSubscription *inbox_sub;
	char user[BUS_USER_MAX + 1]; /* "" without authentication */
	char inbox[80];              /* "_INBOX.<nuid>" or "_INBOX.<user>.<nuid>" */
	volatile int closing;
	/* cnats runs connection callbacks on its own thread, possibly after
	 * natsConnection_Close returned: bus_close waits for the "closed" one
	 * (always the last) before freeing. */
	pthread_mutex_t close_mu;
	pthread_cond_t close_cv;
	int closed;
	pthread_mutex_t lock;
	uint64_t next_token;
	uint64_t resends; /* tries sent again (no responders, silent holder) */
	size_t npending;
	pending *buckets[PENDING_BUCKETS];
};

struct bus_sub {
	natsSubscription *sub;
	bus_msg_fn fn;
	void *ud;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int complete, waiting;
};

/* Requests of the whole process that ran out of time (bus_timeouts). */
static atomic_ulong timeouts_all;

int64_t bus_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bus_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_disconnected(natsConnection *nc, void *ud)
{
	bus *b = ud;
	(void)nc;
	if (!b->closing)
		log_warn("bus: disconnected from NATS, reconnecting");
}

static void on_reconnected(natsConnection *nc, void *ud)
{
	(void)nc, (void)ud;
	log_info("bus: reconnected to NATS");
}

static void on_closed(natsConnection *nc, void *ud)
{
	bus *b = ud;
	/* Not asked for: the server refused us for good. cnats then says "no
	 * server available", also when the server refused the user or its
	 * password (REBUTTAL_NATS_USER, REBUTTAL_NATS_PASSWORD_FILE). */
	if (!b->closing) {
		const char *why = NULL;
		natsConnection_GetLastError(nc, &why);
		log_error("bus: the connection to NATS%s%s is closed for good: %s "
			  "(a wrong user or password ends like this too)",
			  *b->user ? " as user " : "", b->user,
			  why && *why ? why : "no reason given");
	}
	pthread_mutex_lock(&b->close_mu);
	b->closed = 1;
	pthread_cond_signal(&b->close_cv);
	pthread_mutex_unlock(&b->close_mu);
}

/* cnats thread: an asynchronous error, e.g. the server refused a publish or
 * subscription this user is not permitted (deploy/nats-users.conf). */
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *ud)
{
	const char *text = NULL;
	(void)sub, (void)ud;
	natsConnection_GetLastError(nc, &text);
	log_warn("bus: NATS error: %s", text && *text ? text : natsStatus_GetText(err));
}

static void on_connected(natsConnection *nc, void *ud)
{
	(void)nc, (void)ud;
	log_info("bus: connected to NATS");
}

static pending **bucket_of(bus *b, uint64_t token)
{
	return &b->buckets[token % PENDING_BUCKETS];
}

/* Removes and returns the pending request with this token; caller holds lock. */
static pending *pending_take(bus *b, uint64_t token)
{
	for (pending **pp = bucket_of(b, token); *pp; pp = &(*pp)->next) {
		if ((*pp)->token == token) {
			pending *p = *pp;
			*pp = p->next;
			b->npending--;
			return p;
		}
	}
	return NULL;
}

static void pending_free(pending *p)
{
	free(p->subject);
	free(p->data);
	free(p);
}

/* Backoff before sending again after "no responders": 50 ms doubling to
 * 1 s, each with up to half of it again as jitter, so requesters that all
 * found a service gone do not all come back at once. */
static int64_t backoff_ms(int bounces)
{
	int64_t base = 50LL << (bounces < 5 ? bounces : 5);
	if (base > 1000)
		base = 1000;
	return base + (int64_t)(rand() % (int)(base / 2 + 1));
}

static int is_ack(natsMsg *m);

/* The token of a reply subject "<inbox>.<token>", or 0. */
static uint64_t token_of(bus *b, const char *subj)
{
	size_t plen = strlen(b->inbox);
	char *end;
	if (strlen(subj) <= plen + 1 || strncmp(subj, b->inbox, plen) || subj[plen] != '.')
		return 0;
	uint64_t token = strtoull(subj + plen + 1, &end, 10);
	return *end ? 0 : token;
}

/* cnats thread: a reply arrived on our inbox. Three kinds:
 * - "no responders" (no instance is subscribed, e.g. while it restarts):
 *   nobody took the request, so it is sent again after a backoff;
 * - an ack (header BUS_ACK_HEADER): an instance holds the request and is
 *   still working on it (svc says so while a request waits,
 *   BUS_ACK_EVERY_MS): no resend for another attempt_ms;
 * - anything else is the answer. */
static void on_inbox(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
	bus *b = ud;
	uint64_t token = token_of(b, natsMsg_GetSubject(msg));
	int len = natsMsg_GetDataLength(msg);
	int ack = is_ack(msg);
	(void)nc, (void)sub;

	if (!token) {
		natsMsg_Destroy(msg);
		return;
	}
	pthread_mutex_lock(&b->lock);
	if (natsMsg_IsNoResponders(msg) || ack) {
		pending *p = NULL;
		for (pending *q = *bucket_of(b, token); q && !p; q = q->next)
			if (q->token == token)
				p = q;
		if (p && ack)
			p->try_at = p->attempt_ms ? bus_now_ms() + p->attempt_ms : INT64_MAX;
		else if (p)
			p->try_at = bus_now_ms() + backoff_ms(p->bounces++);
		pthread_mutex_unlock(&b->lock);
		natsMsg_Destroy(msg);
		return;
	}
	pending *p = pending_take(b, token);
	pthread_mutex_unlock(&b->lock);
	if (p) {
		p->fn(p->ud, BUS_REPLY, natsMsg_GetData(msg), (size_t)len);
		pending_free(p);
	}
	natsMsg_Destroy(msg);
}

/* A fresh inbox subject of this process into out: "_INBOX.<nuid>", with
 * the user's name after "_INBOX." when there is one. */
static natsStatus inbox_new(const bus *b, char *out, size_t n)
{
	natsInbox *inbox = NULL;
	natsStatus s = natsInbox_Create(&inbox);
	if (s != NATS_OK)
		return s;
	/* cnats makes "_INBOX.<nuid>". */
	const char *nuid = strchr((const char *)inbox, '.');
	nuid = nuid ? nuid + 1 : (const char *)inbox;
	if (*b->user)
		snprintf(out, n, "_INBOX.%s.%s", b->user, nuid);
	else
		snprintf(out, n, "_INBOX.%s", nuid);
	natsInbox_Destroy(inbox);
	return NATS_OK;
}

/* 1 when user is empty or a plain subject token of [a-z0-9_-]. */
static int user_ok(const char *user)
{
	size_t n = strspn(user, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	return !user[n] && n <= BUS_USER_MAX;
}

/* REBUTTAL_NATS_URL may list servers ("nats://a:4222,nats://b:4222", a
 * cluster): natsOptions_SetURL takes one only and, given a list, never
 * connects; the list goes to natsOptions_SetServers. */
static natsStatus set_servers(natsOptions *o, const char *url)
{
	enum { MAX_SERVERS = 16 };
	char copy[1024], *save = NULL;
	const char *servers[MAX_SERVERS];
	int n = 0;
	if (!strchr(url, ','))
		return natsOptions_SetURL(o, url);
	if (strlen(url) >= sizeof copy)
		return NATS_INVALID_ARG;
	snprintf(copy, sizeof copy, "%s", url);
	for (char *t = strtok_r(copy, ", ", &save); t && n < MAX_SERVERS;
	     t = strtok_r(NULL, ", ", &save))
		servers[n++] = t;
	return n ? natsOptions_SetServers(o, servers, n) : NATS_INVALID_ARG;
}

/* ------------------------------------------------- BUS_BATCH socket thread */

static void io_wake(bus_io *io)
{
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(io->wake, &one, sizeof one);
	while (n < 0 && errno == EINTR);
}

/* The thread that writes its own publishes (bus_write_batch), if this is
 * it. */
static __thread bus_io *io_self_writer;

/* Under io->mu: wakes the thread if it sleeps (it reads the state again
 * before every poll otherwise). */
static void io_changed(bus_io *io)
{
	if (io->polling) {
		io->polling = 0;
		io_wake(io);
	}
}

static natsStatus io_attach(void **ud, void *loop, natsConnection *nc, natsSock sock)
{
	bus_io *io = loop;
	pthread_mutex_lock(&io->mu);
	io->nc = nc;
	io->fd = (int)sock;
	io->want_read = 1;
	io->want_write = 0;
	io_changed(io);
	pthread_mutex_unlock(&io->mu);
	*ud = io;
	return NATS_OK;
}

static natsStatus io_read(void *ud, bool add)
{
	bus_io *io = ud;
	pthread_mutex_lock(&io->mu);
	io->want_read = add;
	if (add)
		io_changed(io);
	pthread_mutex_unlock(&io->mu);
	return NATS_OK;
}

/* A publisher (add, once per buffered batch) or this thread (remove, all
 * written). */
static natsStatus io_write(void *ud, bool add)
{
	bus_io *io = ud;
	pthread_mutex_lock(&io->mu);
	io->want_write = add;
	/* The loop that batches writes them at the end of its pass. */
	if (add && io_self_writer != io)
		io_changed(io);
	pthread_mutex_unlock(&io->mu);
	return NATS_OK;
}

static natsStatus io_detach(void *ud)
{
	bus_io *io = ud;
	pthread_mutex_lock(&io->mu);
	io->fd = -1;
	io->want_read = io->want_write = 0;
	io_changed(io);
	pthread_mutex_unlock(&io->mu);
	return NATS_OK;
}

/* Publishes of other threads wait at most this long after the previous
 * write, so that a busy part writes a few at once: each write costs the
 * server a read and a wake-up too. An idle part writes at once. */
#define IO_GATHER_US 500

static int64_t io_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Writes what cnats has buffered, if anything. */
static void io_write_now(bus_io *io)
{
	pthread_mutex_lock(&io->wmu);
	pthread_mutex_lock(&io->mu);
	natsConnection *nc = io->want_write && io->fd >= 0 ? io->nc : NULL;
	pthread_mutex_unlock(&io->mu);
	if (nc) {
		natsConnection_ProcessWriteEvent(nc);
		int64_t now = io_now_us();
		pthread_mutex_lock(&io->mu);
		io->last_write = now;
		pthread_mutex_unlock(&io->mu);
	}
	pthread_mutex_unlock(&io->wmu);
}

static void *io_main(void *arg)
{
	bus_io *io = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = io->wake, .events = POLLIN}, {.fd = -1}};
		pthread_mutex_lock(&io->mu);
		if (io->stop) {
			pthread_mutex_unlock(&io->mu);
			return NULL;
		}
		natsConnection *nc = io->nc;
		int rd = io->want_read, wr = io->want_write;
		/* Within IO_GATHER_US of the last write, a sleep until then
		 * (no wake-up needed for a publish meanwhile), and the write
		 * after it. */
		int64_t wait_us = io->last_write + IO_GATHER_US - io_now_us();
		if (wait_us > 0)
			wr = 0;
		p[1].fd = io->fd;
		p[1].events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
		io->polling = wait_us <= 0;
		pthread_mutex_unlock(&io->mu);
		/* No interest: the socket is left out (poll reports a hang-up
		 * even for no events, and cnats may be closing it). */
		int nfds = p[1].fd >= 0 && p[1].events ? 2 : 1;
		struct timespec ts = {0, wait_us * 1000};
		int n = ppoll(p, (nfds_t)nfds, wait_us > 0 ? &ts : NULL, NULL);
		pthread_mutex_lock(&io->mu);
		io->polling = 0;
		pthread_mutex_unlock(&io->mu);
		if (n < 0)
			continue; /* EINTR */
		if (p[0].revents & POLLIN) {
			uint64_t v;
			(void)!read(io->wake, &v, sizeof v);
		}
		if (nfds < 2 || !p[1].revents)
			continue;
		/* cnats checks that the socket is still the connection's. */
		if (rd && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			natsConnection_ProcessReadEvent(nc);
		if (wr && (p[1].revents & (POLLOUT | POLLERR)))
			io_write_now(io);
	}
}

static bus_io *io_start(void)
{
	bus_io *io = calloc(1, sizeof *io);
	if (!io)
		return NULL;
	pthread_mutex_init(&io->mu, NULL);
	pthread_mutex_init(&io->wmu, NULL);
	io->fd = -1;
	io->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->wake < 0 || pthread_create(&io->th, NULL, io_main, io) != 0) {
		if (io->wake >= 0)
			close(io->wake);
		pthread_mutex_destroy(&io->mu);
		pthread_mutex_destroy(&io->wmu);
		free(io);
		return NULL;
	}
	io->started = 1;
	return io;
}

void bus_write_batch(bus *b, int on)
{
	if (!b->io)
		return;
	if (on) {
		io_self_writer = b->io;
		return;
	}
	io_self_writer = NULL;
	pthread_mutex_lock(&b->io->mu);
	if (b->io->want_write)
		io_changed(b->io);
	pthread_mutex_unlock(&b->io->mu);
}

void bus_write_pending(bus *b)
{
	bus_io *io = b->io;
	if (!io || io_self_writer != io)
		return;
	/* All buffered, in one write; what the socket did not take is left
	 * to io_main, which waits for it to drain. */
	io_write_now(io);
	pthread_mutex_lock(&io->mu);
	if (io->want_write)
		io_changed(io);
	pthread_mutex_unlock(&io->mu);
}

/* A call that waits for the server on this thread: what it sends must not
 * wait for the end of the pass. */
static bus_io *io_defer_off(void)
{
	bus_io *was = io_self_writer;
	if (was) {
		io_self_writer = NULL;
		pthread_mutex_lock(&was->mu);
		if (was->want_write)
			io_changed(was);
		pthread_mutex_unlock(&was->mu);
	}
	return was;
}

/* After the connection is closed (cnats detached it). */
static void io_stop(bus_io *io)
{
	if (!io)
		return;
	pthread_mutex_lock(&io->mu);
	io->stop = 1;
	io_wake(io);
	pthread_mutex_unlock(&io->mu);
	pthread_join(io->th, NULL);
	close(io->wake);
	pthread_mutex_destroy(&io->mu);
	pthread_mutex_destroy(&io->wmu);
	free(io);
}

bus *bus_open(const bus_addr *addr, const char *name, int flags)
{
	const char *url = addr->url, *user = addr->user ? addr->user : "";
	bus *b;
	natsStatus s;

	if (!user_ok(user)) {
		log_error("bus: NATS user \"%s\" must be 1-%d of a-z, 0-9, _ and -", user,
			  BUS_USER_MAX);
		return NULL;
	}
	if (*user && !(addr->password && *addr->password)) {
		log_error("bus: NATS user %s has no password", user);
		return NULL;
	}
	if (!(b = calloc(1, sizeof *b)))
		return NULL;
	snprintf(b->user, sizeof b->user, "%s", user);
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->close_mu, NULL);
	pthread_cond_init(&b->close_cv, NULL);
	b->next_token = 1;
	s = natsOptions_Create(&b->opts);
	if (s == NATS_OK)
		s = set_servers(b->opts, url);
	if (s == NATS_OK)
		s = natsOptions_SetName(b->opts, name);
	if (s == NATS_OK && *user)
		s = natsOptions_SetUserInfo(b->opts, user, addr->password);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(b->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(b->opts, 250);
	/* Requests published while reconnecting are buffered up to this size
	 * instead of failing (uploads can be a few MiB). */
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(b->opts, 32 * 1024 * 1024);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(b->opts, true, on_connected, b);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(b->opts, on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(b->opts, on_reconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(b->opts, on_closed, b);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(b->opts, on_error, b);
	/* With BUS_BATCH too: no flusher thread, a flush asks io_main to
	 * write. */
	if (s == NATS_OK && (flags & (BUS_SEND_ASAP | BUS_BATCH)))
		s = natsOptions_SetSendAsap(b->opts, true);
	if (s == NATS_OK && (flags & BUS_BATCH)) {
		b->io = io_start();
		s = b->io ? natsOptions_SetEventLoop(b->opts, b->io, io_attach, io_read, io_write,
						     io_detach)
			  : NATS_NO_MEMORY;
	}
	if (s == NATS_OK && (flags & BUS_ORDERED)) {
		s = natsOptions_UseGlobalMessageDelivery(b->opts, true);
		if (s == NATS_OK)
			s = nats_SetMessageDeliveryPoolSize(1);
	}
	if (s == NATS_OK) {
		s = natsConnection_Connect(&b->nc, b->opts);
		if (s == NATS_NOT_YET_CONNECTED)
			s = NATS_OK;
	}
	if (s == NATS_OK)
		s = inbox_new(b, b->inbox, sizeof b->inbox);
	if (s == NATS_OK) {
		char subj[96];
		snprintf(subj, sizeof subj, "%s.*", b->inbox);
		s = natsConnection_Subscribe(&b->inbox_sub, b->nc, subj, on_inbox, b);
	}
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(b->inbox_sub, -1, 1024 * 1024 * 1024);
	if (s != NATS_OK) {
		log_error("bus: cannot open %s: %s", url, natsStatus_GetText(s));
		bus_close(b);
		return NULL;
	}
	return b;
}

void bus_close(bus *b)
{
	if (!b)
		return;
	b->closing = 1;
	if (b->inbox_sub) {
		natsSubscription_Unsubscribe(b->inbox_sub);
		natsSubscription_Destroy(b->inbox_sub);
	}
	if (b->nc) {
		natsConnection_Close(b->nc);
		pthread_mutex_lock(&b->close_mu);
		while (!b->closed) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 5;
			if (pthread_cond_timedwait(&b->close_cv, &b->close_mu, &ts) != 0)
				break;
		}
		pthread_mutex_unlock(&b->close_mu);
		/* Closed: cnats has detached the socket and calls the thread's
		 * entry points no more. */
		io_stop(b->io);
		b->io = NULL;
		natsConnection_Destroy(b->nc);
	}
	io_stop(b->io);
	natsOptions_Destroy(b->opts);
	for (size_t i = 0; i < PENDING_BUCKETS; i++) {
		while (b->buckets[i]) {
			pending *p = b->buckets[i];
			b->buckets[i] = p->next;
			pending_free(p);
		}
	}
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->close_mu);
	pthread_cond_destroy(&b->close_cv);
	free(b);
}

int bus_connected(bus *b)
{
	return natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

int bus_publish_reply(bus *b, const char *subject, const char *reply, const void *data, size_t len)
{
	natsStatus s = natsConnection_PublishRequest(b->nc, subject, reply, data, (int)len);
	if (s != NATS_OK) {
		log_warn("bus: publish %s: %s", subject, natsStatus_GetText(s));
		return -1;
	}
	return 0;
}

int bus_publish(bus *b, const char *subject, const void *data, size_t len)
{
	natsStatus s = natsConnection_Publish(b->nc, subject, data, (int)len);
	if (s != NATS_OK) {
		log_warn("bus: publish %s: %s", subject, natsStatus_GetText(s));
		return -1;
	}
	return 0;
}

int bus_publish_pb(bus *b, const char *subject, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t stackbuf[1024], *p = len <= sizeof stackbuf ? stackbuf : malloc(len);
	if (!p)
		return -1;
	protobuf_c_message_pack(m, p);
	int rc = bus_publish(b, subject, p, len);
	if (p != stackbuf)
		free(p);
	return rc;
}

int bus_flush(bus *b, int timeout_ms)
{
	bus_io *was = io_defer_off();
	int rc = natsConnection_FlushTimeout(b->nc, timeout_ms) == NATS_OK ? 0 : -1;
	io_self_writer = was;
	return rc;
}

/* cnats thread. */
static void on_sub(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
	bus_sub *s = ud;
	bus_msg m = {natsMsg_GetSubject(msg), natsMsg_GetReply(msg), natsMsg_GetData(msg),
		     (size_t)natsMsg_GetDataLength(msg)};
	(void)nc, (void)sub;
	s->fn(s->ud, &m);
	natsMsg_Destroy(msg);
}

/* cnats thread: the subscription is closed and its last callback returned,
 * so nothing can touch s any more. */
static void sub_free(bus_sub *s)
{
	natsSubscription_Destroy(s->sub);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static void on_sub_complete(void *ud)
{
	bus_sub *s = ud;
	pthread_mutex_lock(&s->mu);
	s->complete = 1;
	if (s->waiting) {
		/* bus_sub_close_wait frees it. */
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	pthread_mutex_unlock(&s->mu);
	sub_free(s);
}

bus_sub *bus_subscribe(bus *b, const char *subject, const char *queue, bus_msg_fn fn, void *ud)
{
	bus_sub *s = calloc(1, sizeof *s);
	natsStatus st;

	if (!s)
		return NULL;
	s->fn = fn;
	s->ud = ud;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (queue)
		st = natsConnection_QueueSubscribe(&s->sub, b->nc, subject, queue, on_sub, s);
	else
		st = natsConnection_Subscribe(&s->sub, b->nc, subject, on_sub, s);
	/* A busy part must queue rather than drop: the defaults (64k messages,
	 * 64 MiB) are too small for a gateway fanning out uploads. */
	if (st == NATS_OK)
		st = natsSubscription_SetPendingLimits(s->sub, -1, 1024 * 1024 * 1024);
	if (st == NATS_OK)
		st = natsSubscription_SetOnCompleteCB(s->sub, on_sub_complete, s);
	if (st != NATS_OK) {
		log_error("bus: subscribe %s: %s", subject, natsStatus_GetText(st));
		if (s->sub)
			natsSubscription_Destroy(s->sub);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		free(s);
		return NULL;
	}
	return s;
}

void bus_sub_close(bus_sub *s)
{
	if (!s)
		return;
	/* s is freed by on_sub_complete once cnats is done with it: a callback
	 * may be running on another thread right now.
	 * If the connection is already closed, cnats closed the subscription
	 * itself and the completion has run or will run. */
	natsSubscription_Unsubscribe(s->sub);
}

/* Waits up to ms for the subscription's completion (waiting set before
 * it was closed), then frees s if it came. */
static void sub_wait_complete(bus_sub *s, int ms)
{
	struct timespec ts = proc_deadline(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&s->mu);
	while (!s->complete)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
			break; /* never block shutdown forever */
	int done = s->complete;
	pthread_mutex_unlock(&s->mu);
	if (done)
		sub_free(s);
}

void bus_sub_close_wait(bus_sub *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->waiting = 1;
	pthread_mutex_unlock(&s->mu);
	natsSubscription_Unsubscribe(s->sub);
	sub_wait_complete(s, 5000);
}

void bus_sub_drain_wait(bus_sub *s, int timeout_ms)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->waiting = 1;
	pthread_mutex_unlock(&s->mu);
	/* cnats sends UNSUB, then a PING: everything the server sent before
	 * it took the UNSUB is in our queue by the PONG and is handled. */
	if (natsSubscription_DrainTimeout(s->sub, timeout_ms) != NATS_OK)
		natsSubscription_Unsubscribe(s->sub);
	sub_wait_complete(s, timeout_ms + 1000);
}

/* Lock held. Gives p its token and files it. */
static void pending_insert(bus *b, pending *p)
{
	p->token = b->next_token++;
	pending **bk = bucket_of(b, p->token);
	p->next = *bk;
	*bk = p;
	b->npending++;
}

static int send_try(bus *b, pending *p)
{
	char reply[112];
	snprintf(reply, sizeof reply, "%s.%llu", b->inbox, (unsigned long long)p->token);
	return bus_publish_reply(b, p->subject, reply, p->data, p->len);
}

int bus_request(bus *b, const char *subject, const void *data, size_t len, int timeout_ms,
		int attempt_ms, bus_reply_fn fn, void *ud)
{
	pending *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->subject = strdup(subject);
	p->data = malloc(len ? len : 1);
	if (!p->subject || !p->data) {
		pending_free(p);
		return -1;
	}
	memcpy(p->data, data, len);
	p->len = len;
	p->attempt_ms = attempt_ms > 0 ? attempt_ms : 0;
	p->deadline = bus_now_ms() + timeout_ms;
	p->try_at = p->attempt_ms ? bus_now_ms() + p->attempt_ms : INT64_MAX;
	p->fn = fn;
	p->ud = ud;

	pthread_mutex_lock(&b->lock);
	pending_insert(b, p);
	pthread_mutex_unlock(&b->lock);

	/* A failed publish (e.g. while reconnecting with a full buffer) is not
	 * an error here: the retry/timeout path reports it. */
	send_try(b, p);
	return 0;
}

int bus_barrier(bus *b, int timeout_ms, bus_reply_fn fn, void *ud)
{
	char self[sizeof b->inbox + 24];
	pending *p = calloc(1, sizeof *p);
	if (!p || !(p->subject = malloc(sizeof self))) {
		free(p);
		return -1;
	}
	p->deadline = bus_now_ms() + timeout_ms;
	p->try_at = INT64_MAX; /* never sent again: its loss is a timeout */
	p->fn = fn;
	p->ud = ud;

	pthread_mutex_lock(&b->lock);
	pending_insert(b, p);
	snprintf(self, sizeof self, "%s.%llu", b->inbox, (unsigned long long)p->token);
	memcpy(p->subject, self, sizeof self);
	pthread_mutex_unlock(&b->lock);
	/* To our own inbox: it comes back as the "answer" once the server has
	 * read everything this connection sent before it. */
	(void)bus_publish(b, self, "", 0);
	return 0;
}

void bus_tick(bus *b)
{
	int64_t now = bus_now_ms();
	pending *expired = NULL;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < PENDING_BUCKETS; i++) {
		pending **pp = &b->buckets[i];
		while (*pp) {
			pending *p = *pp;
			if (p->deadline <= now) {
				*pp = p->next;
				b->npending--;
				p->next = expired;
				expired = p;
				continue;
			}
			if (p->try_at <= now) {
				p->try_at = p->attempt_ms ? now + p->attempt_ms : INT64_MAX;
				b->resends++;
				send_try(b, p);
			}
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&b->lock);

	while (expired) {
		pending *p = expired;
		expired = p->next;
		atomic_fetch_add_explicit(&timeouts_all, 1, memory_order_relaxed);
		p->fn(p->ud, BUS_TIMEOUT, NULL, 0);
		pending_free(p);
	}
}

uint64_t bus_timeouts(void)
{
	return atomic_load_explicit(&timeouts_all, memory_order_relaxed);
}

uint64_t bus_resends(bus *b)
{
	pthread_mutex_lock(&b->lock);
	uint64_t n = b->resends;
	pthread_mutex_unlock(&b->lock);
	return n;
}

size_t bus_pending(bus *b)
{
	pthread_mutex_lock(&b->lock);
	size_t n = b->npending;
	pthread_mutex_unlock(&b->lock);
	return n;
}

int bus_ack(bus *b, const char *subject)
{
	natsMsg *m = NULL;
	natsStatus s = natsMsg_Create(&m, subject, NULL, NULL, 0);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, BUS_ACK_HEADER, "1");
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(b->nc, m);
	natsMsg_Destroy(m);
	return s == NATS_OK ? 0 : -1;
}

static int is_ack(natsMsg *m)
{
	const char *v = NULL;
	return natsMsgHeader_Get(m, BUS_ACK_HEADER, &v) == NATS_OK;
}

/* A private inbox rather than natsConnection_Request: the answer is the
 * first message that is not an ack (a service acks what it holds). */
int bus_request_sync(bus *b, const char *subject, const void *data, size_t len, int timeout_ms,
		     void **out, size_t *out_len)
{
	char inbox[80];
	natsSubscription *sub = NULL;
	natsMsg *reply = NULL;
	int64_t deadline = bus_now_ms() + timeout_ms;
	bus_io *was = io_defer_off();
	natsStatus s = inbox_new(b, inbox, sizeof inbox);
	if (s == NATS_OK)
		s = natsConnection_SubscribeSync(&sub, b->nc, inbox);
	if (s == NATS_OK)
		s = natsConnection_PublishRequest(b->nc, subject, inbox, data, (int)len);
	while (s == NATS_OK) {
		int64_t left = deadline - bus_now_ms();
		s = left > 0 ? natsSubscription_NextMsg(&reply, sub, left) : NATS_TIMEOUT;
		if (s == NATS_OK && natsMsg_IsNoResponders(reply))
			s = NATS_NO_RESPONDERS;
		if (s != NATS_OK || !is_ack(reply))
			break;
		natsMsg_Destroy(reply);
		reply = NULL;
	}
	if (sub) {
		natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	io_self_writer = was;
	if (s != NATS_OK) {
		natsMsg_Destroy(reply);
		if (s == NATS_TIMEOUT)
			atomic_fetch_add_explicit(&timeouts_all, 1, memory_order_relaxed);
		log_warn("bus: request %s: %s", subject, natsStatus_GetText(s));
		return -1;
	}
	size_t n = (size_t)natsMsg_GetDataLength(reply);
	void *p = malloc(n ? n : 1);
	if (!p) {
		natsMsg_Destroy(reply);
		return -1;
	}
	memcpy(p, natsMsg_GetData(reply), n);
	natsMsg_Destroy(reply);
	*out = p;
	*out_len = n;
	return 0;
}
