/* What a scenario needs before it runs, made through the services as a
 * gateway and an operator tool would: accounts (rb.auth.admin_create_user),
 * logged-in connections (rb.evt.gw.conn_opened + heartbeats of a fake
 * gateway that also answers rb.gw.<id>.conns), the rooms (seen on
 * rb.out.all), messages and an image attachment. */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"
#include "proc.h"
#include "svc.h"
#include "uuid.h"

#define HEARTBEAT_MS 2000
#define SEED_TIMEOUT_MS 15000
#define SEED_WINDOW 16

static pthread_t hb_thread;
static atomic_int hb_stop, hb_started;
static pthread_mutex_t rooms_mu = PTHREAD_MUTEX_INITIALIZER;
static bus_sub *sub_all, *sub_conns;

static uint64_t online_sum(lg *g, int32_t *n)
{
	uint64_t sum = 0;
	*n = 0;
	for (size_t i = 0; i < g->nusers; i++)
		if (atomic_load(&g->users[i].online)) {
			sum += svc_conn_digest(g->users[i].conn);
			(*n)++;
		}
	return sum;
}

static void heartbeat(lg *g)
{
	Rb__GwHeartbeat hb = RB__GW_HEARTBEAT__INIT;
	hb.gateway_id = g->gw_id;
	hb.has_lease_ms = hb.has_conns = hb.has_conn_sum = hb.has_start_time = 1;
	hb.lease_ms = 10000;
	hb.start_time = bus_wall_ms();
	hb.conn_sum = online_sum(g, &hb.conns);
	bus_publish_pb(g->bus, "rb.evt.gw.heartbeat", &hb.base);
}

static void *hb_main(void *arg)
{
	lg *g = arg;
	while (!atomic_load(&hb_stop)) {
		heartbeat(g);
		for (int t = 0; t < HEARTBEAT_MS && !atomic_load(&hb_stop); t += 50)
			proc_sleep_ms(50);
	}
	return NULL;
}

/* cnats thread: roomsvc asks for our connections when its record differs. */
static void on_conns(void *ud, const bus_msg *m)
{
	lg *g = ud;
	Rb__ConnList cl = RB__CONN_LIST__INIT;
	size_t n = 0;
	Rb__ConnEvent *evs = calloc(g->nusers ? g->nusers : 1, sizeof *evs);
	Rb__ConnEvent **ptrs = calloc(g->nusers ? g->nusers : 1, sizeof *ptrs);
	if (!m->reply || !evs || !ptrs)
		goto out;
	for (size_t i = 0; i < g->nusers; i++) {
		if (!atomic_load(&g->users[i].online))
			continue;
		rb__conn_event__init(&evs[n]);
		evs[n].gateway_id = g->gw_id;
		evs[n].conn_id = g->users[i].conn;
		evs[n].user_id = g->users[i].id;
		ptrs[n] = &evs[n];
		n++;
	}
	cl.n_conns = n;
	cl.conns = ptrs;
	(void)bus_publish_pb(g->bus, m->reply, &cl.base);
out:
	free(evs);
	free(ptrs);
}

/* cnats thread: the lists every client would get. */
static void on_all(void *ud, const bus_msg *m)
{
	lg *g = ud;
	Rb__Delivery *d = rb__delivery__unpack(NULL, m->len, m->data);
	if (!d)
		return;
	if (d->packet_case == RB__DELIVERY__PACKET_UPDATE_USERS) {
		atomic_fetch_add(&g->lists_seen, 1);
		atomic_fetch_add(&g->lists_bytes, m->len);
		if (g->on_users_list)
			g->on_users_list();
	} else if (d->packet_case == RB__DELIVERY__PACKET_UPDATE_ROOMS && d->updaterooms) {
		pthread_mutex_lock(&rooms_mu);
		for (size_t i = 0; i < d->updaterooms->n_roomlist; i++) {
			Rb__Room *r = d->updaterooms->roomlist[i];
			if (!r->id || !r->type)
				continue;
			char *dst = !strcmp(r->type, "voice") ? g->room_voice : g->room_text;
			if (!*dst)
				snprintf(dst, sizeof g->room_voice, "%s", r->id);
			char prefix[48];
			snprintf(prefix, sizeof prefix, "lgroom %.8s ", g->gw_id + 8);
			size_t n = atomic_load(&g->ntext);
			if (g->text_rooms && r->name && !strncmp(r->name, prefix, strlen(prefix)) &&
			    n < (size_t)g->cfg.rooms) {
				int known = 0;
				for (size_t k = 0; k < n; k++)
					known |= !strcmp(g->text_rooms[k], r->id);
				if (!known) {
					snprintf(g->text_rooms[n], sizeof *g->text_rooms, "%s",
						 r->id);
					atomic_store(&g->ntext, n + 1);
				}
			}
		}
		pthread_mutex_unlock(&rooms_mu);
	}
	rb__delivery__free_unpacked(d, NULL);
}

int seed_connect(lg *g)
{
	char rid[UUID_STR_LEN + 1], subject[96];
	uuid_new(rid);
	snprintf(g->gw_id, sizeof g->gw_id, "loadgen-%.8s", rid);
	randombytes_buf(rid, 12);
	for (size_t i = 0; i < 12; i++)
		g->password[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(unsigned char)rid[i] % 36];
	memcpy(g->password + 12, "-Load1", 7);
	g->bus = bus_open(&g->cfg.nats, "loadgen", BUS_SEND_ASAP);
	for (int waited = 0; g->bus && !bus_connected(g->bus); waited += 20) {
		if (waited >= 5000) {
			fprintf(stderr, "loadgen: cannot reach NATS at %s%s%s\n", g->cfg.nats.url,
				*g->cfg.nats.user ? " as user " : "", g->cfg.nats.user);
			return -1;
		}
		proc_sleep_ms(20);
	}
	if (!g->bus)
		return -1;
	snprintf(subject, sizeof subject, "rb.gw.%s.conns", g->gw_id);
	sub_all = bus_subscribe(g->bus, "rb.out.all", NULL, on_all, g);
	sub_conns = bus_subscribe(g->bus, subject, NULL, on_conns, g);
	if (!sub_all || !sub_conns || bus_flush(g->bus, 2000) < 0)
		return -1;
	if (pthread_create(&hb_thread, NULL, hb_main, g) != 0)
		return -1;
	atomic_store(&hb_started, 1);
	return 0;
}

void seed_stop(lg *g)
{
	for (size_t i = 0; i < g->nusers; i++)
		if (atomic_load(&g->users[i].online))
			seed_conn_event(g, &g->users[i], 0);
	if (g->bus)
		bus_flush(g->bus, 2000);
	atomic_store(&hb_stop, 1);
	if (atomic_load(&hb_started))
		pthread_join(hb_thread, NULL);
	if (sub_all)
		bus_sub_close_wait(sub_all);
	if (sub_conns)
		bus_sub_close_wait(sub_conns);
}

Rb__Reply *seed_request(lg *g, const char *svc, const char *op, Rb__Envelope *e)
{
	char rid[UUID_STR_LEN + 1], subject[96];
	void *out = NULL;
	size_t outlen = 0;
	uuid_new(rid);
	e->request_id = rid;
	snprintf(subject, sizeof subject, "rb.%s.%s", svc, op);
	size_t len = protobuf_c_message_get_packed_size(&e->base);
	uint8_t *bytes = malloc(len ? len : 1);
	if (!bytes)
		return NULL;
	protobuf_c_message_pack(&e->base, bytes);
	int rc = bus_request_sync(g->bus, subject, bytes, len, SEED_TIMEOUT_MS, &out, &outlen);
	free(bytes);
	e->request_id = NULL;
	if (rc < 0) {
		fprintf(stderr, "loadgen: %s: no answer\n", subject);
		return NULL;
	}
	Rb__Reply *r = rb__reply__unpack(NULL, outlen, out);
	free(out);
	if (r && r->has_code && r->code != RB__CODE__OK) {
		fprintf(stderr, "loadgen: %s: code %d: %s\n", subject, (int)r->code,
			r->message ? r->message : "");
		rb__reply__free_unpacked(r, NULL);
		return NULL;
	}
	return r;
}

void seed_conn_event(lg *g, lg_user *u, int opened)
{
	atomic_store(&u->online, opened);
	Rb__ConnEvent ev = RB__CONN_EVENT__INIT;
	ev.gateway_id = g->gw_id;
	ev.conn_id = (char *)u->conn;
	ev.user_id = (char *)u->id;
	bus_publish_pb(g->bus, opened ? "rb.evt.gw.conn_opened" : "rb.evt.gw.conn_closed",
		       &ev.base);
}

/* One admin_create_user envelope for account number i of this run. */
static void account_env(lg *g, size_t i, Rb__Envelope *e, Rb__AdminCreateUser *a, char *email,
			char *name, const char *group)
{
	snprintf(email, 96, "lg-%.8s-%zu@load.test", g->gw_id + 8, i);
	snprintf(name, 40, "lg%.8s%zu", g->gw_id + 8, i);
	rb__envelope__init(e);
	rb__admin_create_user__init(a);
	a->email = email;
	a->name = name;
	a->password = g->password;
	a->group = (char *)group;
	e->payload_case = RB__ENVELOPE__PAYLOAD_ADMIN_CREATE_USER;
	e->admin_create_user = a;
	e->has_deadline_ms = 1;
	e->deadline_ms = bus_wall_ms() + SEED_TIMEOUT_MS;
}

int seed_users(lg *g, size_t n, const char *group, int online)
{
	g->users = calloc(n ? n : 1, sizeof *g->users);
	if (!g->users)
		return -1;
	for (size_t i = 0; i < n; i++) {
		Rb__Envelope e;
		Rb__AdminCreateUser a;
		char name[40];
		lg_user *u = &g->users[i];
		account_env(g, i, &e, &a, u->email, name, group);
		Rb__Reply *r = seed_request(g, "auth", "admin_create_user", &e);
		if (!r || r->n_users < 1 || !r->users[0]->id) {
			if (r)
				rb__reply__free_unpacked(r, NULL);
			return -1;
		}
		snprintf(u->id, sizeof u->id, "%s", r->users[0]->id);
		snprintf(u->conn, sizeof u->conn, "c%zu", i);
		rb__reply__free_unpacked(r, NULL);
		g->nusers = i + 1;
	}
	if (online) {
		for (size_t i = 0; i < n; i++)
			seed_conn_event(g, &g->users[i], 1);
		heartbeat(g);
		bus_flush(g->bus, 2000);
	}
	return 0;
}

static atomic_int window_used, window_failed;

static void on_seeded(void *ud, enum bus_result r, const void *data, size_t len)
{
	(void)ud;
	Rb__Reply *rep = r == BUS_REPLY ? rb__reply__unpack(NULL, len, data) : NULL;
	if (!rep || (rep->has_code && rep->code != RB__CODE__OK))
		atomic_fetch_add(&window_failed, 1);
	if (rep)
		rb__reply__free_unpacked(rep, NULL);
	atomic_fetch_sub(&window_used, 1);
}

int seed_accounts(lg *g, size_t n)
{
	char email[96], name[40];
	size_t base = g->nusers + 1000000; /* never the numbers of seed_users */
	for (size_t i = 0; i < n; i++) {
		while (atomic_load(&window_used) >= SEED_WINDOW) {
			bus_tick(g->bus);
			proc_sleep_ms(1);
		}
		Rb__Envelope e;
		Rb__AdminCreateUser a;
		char rid[UUID_STR_LEN + 1];
		account_env(g, base + i, &e, &a, email, name, "user");
		uuid_new(rid);
		e.request_id = rid;
		size_t len = protobuf_c_message_get_packed_size(&e.base);
		uint8_t *p = malloc(len ? len : 1);
		if (!p)
			return -1;
		protobuf_c_message_pack(&e.base, p);
		atomic_fetch_add(&window_used, 1);
		if (bus_request(g->bus, "rb.auth.admin_create_user", p, len, SEED_TIMEOUT_MS, 0,
				on_seeded, NULL) < 0)
			atomic_fetch_sub(&window_used, 1);
		free(p);
	}
	while (atomic_load(&window_used) > 0) {
		bus_tick(g->bus);
		proc_sleep_ms(1);
	}
	if (atomic_load(&window_failed)) {
		fprintf(stderr, "loadgen: %d of %zu accounts not made\n",
			atomic_load(&window_failed), n);
		return -1;
	}
	return 0;
}

int seed_rooms(lg *g)
{
	/* Every list flush carries updateRooms; a connection event asks for one. */
	for (int waited = 0; waited < SEED_TIMEOUT_MS; waited += 50) {
		pthread_mutex_lock(&rooms_mu);
		int have = *g->room_voice && *g->room_text;
		pthread_mutex_unlock(&rooms_mu);
		if (have)
			return 0;
		if (waited % 1000 == 0 && g->nusers) {
			seed_conn_event(g, &g->users[0], 1);
			heartbeat(g);
		}
		proc_sleep_ms(50);
	}
	fprintf(stderr, "loadgen: no updateRooms with a voice and a text room seen\n");
	return -1;
}

/* A PNG header (800 x 600) and zeros up to image_kib, in base64. */
int seed_image(lg *g)
{
	size_t n = (size_t)g->cfg.image_kib * 1024;
	static const uint8_t head[] = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,
				       13,   'I',  'H', 'D', 'R',  0,    0,    3,    0x20, 0, 0,
				       2,    0x58, 8,   2,   0,    0,    0,    0,    0,    0, 0};
	uint8_t *raw = calloc(n, 1);
	size_t b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	g->image_b64 = malloc(b64len);
	if (!raw || !g->image_b64 || n < sizeof head) {
		free(raw);
		return -1;
	}
	memcpy(raw, head, sizeof head);
	sodium_bin2base64(g->image_b64, b64len, raw, n, sodium_base64_VARIANT_ORIGINAL);
	free(raw);
	return 0;
}

/* seed_request as the first seeded user on its connection, with the
 * permissions seed_perms found (none before it): the reply into *out
 * (caller frees), or freed when out is NULL. 0, or -1 (said on stderr). */
static int request_as_first(lg *g, const char *svc, const char *op, Rb__Envelope *e,
			    Rb__Reply **out)
{
	e->gateway_id = g->gw_id;
	e->conn_id = g->users[0].conn;
	e->user_id = g->users[0].id;
	e->n_perms = g->nperms;
	e->perms = g->perms;
	Rb__Reply *r = seed_request(g, svc, op, e);
	if (out)
		*out = r;
	else if (r)
		rb__reply__free_unpacked(r, NULL);
	return r ? 0 : -1;
}

int seed_messages(lg *g, int n)
{
	for (int i = 0; i < n; i++) {
		Rb__Envelope e = RB__ENVELOPE__INIT;
		Rb__CMessage c = RB__CMESSAGE__INIT;
		Rb__MessageIn in = RB__MESSAGE_IN__INIT;
		char text[64];
		snprintf(text, sizeof text, "history %d", i);
		in.text = text;
		c.roomid = g->room_text;
		c.message = &in;
		e.payload_case = RB__ENVELOPE__PAYLOAD_MESSAGE;
		e.message = &c;
		if (request_as_first(g, "msg", "message", &e, NULL) < 0)
			return -1;
	}
	return 0;
}

int seed_perms(lg *g)
{
	Rb__Envelope e = RB__ENVELOPE__INIT;
	Rb__GetPerms gp = RB__GET_PERMS__INIT;
	Rb__Reply *r = NULL;
	e.payload_case = RB__ENVELOPE__PAYLOAD_GET_PERMS;
	e.get_perms = &gp;
	if (request_as_first(g, "auth", "get_perms", &e, &r) < 0 || !r->login) {
		if (r)
			rb__reply__free_unpacked(r, NULL);
		return -1;
	}
	g->nperms = r->login->n_perms;
	g->perms = calloc(g->nperms ? g->nperms : 1, sizeof *g->perms);
	for (size_t i = 0; g->perms && i < g->nperms; i++)
		g->perms[i] = strdup(r->login->perms[i]);
	rb__reply__free_unpacked(r, NULL);
	return g->perms ? 0 : -1;
}

int seed_text_rooms(lg *g)
{
	if (g->cfg.rooms <= 1)
		return 0;
	pthread_mutex_lock(&rooms_mu);
	g->text_rooms = calloc((size_t)g->cfg.rooms, sizeof *g->text_rooms);
	pthread_mutex_unlock(&rooms_mu);
	if (!g->text_rooms)
		return -1;
	for (long k = 0; k < g->cfg.rooms; k++) {
		Rb__Envelope e = RB__ENVELOPE__INIT;
		Rb__CCreateRoom c = RB__CCREATE_ROOM__INIT;
		char name[64];
		snprintf(name, sizeof name, "lgroom %.8s %ld", g->gw_id + 8, k);
		c.roomname = name;
		c.roomtype = "text";
		e.payload_case = RB__ENVELOPE__PAYLOAD_CREATEROOM;
		e.createroom = &c;
		if (request_as_first(g, "room", "createroom", &e, NULL) < 0)
			return -1;
	}
	for (int waited = 0; waited < SEED_TIMEOUT_MS; waited += 50) {
		if (atomic_load(&g->ntext) == (size_t)g->cfg.rooms)
			return 0;
		proc_sleep_ms(50);
	}
	fprintf(stderr, "loadgen: saw %zu of %ld new rooms in updateRooms\n",
		atomic_load(&g->ntext), g->cfg.rooms);
	return -1;
}
