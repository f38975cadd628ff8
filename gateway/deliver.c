/* Deliveries from the bus to local sockets. The cnats thread decodes and
 * renders each delivery once; the loop thread routes the shared frame to
 * every local target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "log.h"
#include "pbjson.h"
#include "rebuttal.pb-c.h"
#include "request.h"
#include "strx.h"

json_t *render_delivery_json(const Rb__Delivery *d)
{
	const ProtobufCFieldDescriptor *f = pbjson_oneof_set(&d->base);
	if (!f || f->id >= RB__DELIVERY__PACKET_SET_PERMS)
		return NULL;
	const ProtobufCMessage *m = *(ProtobufCMessage *const *)((const char *)d + f->offset);
	json_t *o = json_pack("{s:s}", "type", f->name);
	json_t *fields = m ? pbjson_to_json(m) : json_object();
	if (!o || !fields) {
		json_decref(o);
		json_decref(fields);
		return NULL;
	}
	json_object_update(o, fields);
	json_decref(fields);
	return o;
}

frame *render_delivery(const Rb__Delivery *d)
{
	/* Written straight from the message when pbjson can (the same bytes
	 * as the tree's dump), else through the tree. */
	const ProtobufCFieldDescriptor *fd = pbjson_oneof_set(&d->base);
	if (!fd || fd->id >= RB__DELIVERY__PACKET_SET_PERMS)
		return NULL;
	size_t len;
	const ProtobufCMessage *m = *(ProtobufCMessage *const *)((const char *)d + fd->offset);
	char *text = pbjson_dump_typed(fd->name, m, &len);
	if (text) {
		frame *f = malloc(sizeof *f + LWS_PRE + len);
		if (f) {
			f->refs = 1;
			f->list = FRAME_PACKET;
			f->born = (struct timespec){0, 0};
			f->len = len;
			memcpy(f->data + LWS_PRE, text, len);
		}
		free(text);
		return f;
	}
	json_t *o = render_delivery_json(d);
	if (!o)
		return NULL;
	frame *f = frame_from_json(o);
	json_decref(o);
	return f;
}

static int list_kind(int packet)
{
	return packet == RB__DELIVERY__PACKET_UPDATE_USERS   ? FRAME_USERS
	       : packet == RB__DELIVERY__PACKET_UPDATE_ROOMS ? FRAME_ROOMS
							     : FRAME_PACKET;
}

static int parse_target(gw *g, const char *subject, gw_item *it)
{
	static const char all[] = "rb.out.all", user[] = "rb.out.user.", conn[] = "rb.out.conn.";
	if (!strcmp(subject, all)) {
		it->target = T_ALL;
		return 0;
	}
	if (!strncmp(subject, user, sizeof user - 1)) {
		it->target = T_USER;
		snprintf(it->key, sizeof it->key, "%s", subject + sizeof user - 1);
		return 0;
	}
	size_t idlen = strlen(g->id);
	const char *p = subject + sizeof conn - 1;
	if (!strncmp(subject, conn, sizeof conn - 1) && !strncmp(p, g->id, idlen) &&
	    p[idlen] == '.') {
		it->target = T_CONN;
		snprintf(it->key, sizeof it->key, "%s", p + idlen + 1);
		return 0;
	}
	return -1;
}

/* cnats thread (the single global delivery thread: order is kept). */
void deliver_bus_msg(void *ud, const bus_msg *m)
{
	gw *g = ud;
	gw_item *it = item_new(IT_DELIVERY, NULL, NULL, 0);
	Rb__Delivery *d = NULL;
	struct timespec arrived;

	clock_gettime(CLOCK_MONOTONIC, &arrived);
	if (!it)
		return;
	if (parse_target(g, m->subject, it) < 0 ||
	    !(d = rb__delivery__unpack(NULL, m->len, m->data))) {
		log_warn("deliver: dropping undecodable delivery on %s", m->subject);
		free(it);
		return;
	}
	it->packet = (int)d->packet_case;
	it->version = d->has_version ? d->version : 0;
	it->media_version = d->has_media_version ? d->media_version : 0;
	if (d->packet_case == RB__DELIVERY__PACKET_TALKING && d->talking->userid)
		snprintf(it->about, sizeof it->about, "talking:%s", d->talking->userid);
	else if (d->packet_case == RB__DELIVERY__PACKET_SERVERMUTE && d->servermute->userid)
		snprintf(it->about, sizeof it->about, "servermute:%s", d->servermute->userid);
	if (d->exclude_conn)
		snprintf(it->exclude, sizeof it->exclude, "%s", d->exclude_conn);
	if (d->dedup)
		snprintf(it->dedup, sizeof it->dedup, "%s", d->dedup);
	if (d->packet_case >= RB__DELIVERY__PACKET_SET_PERMS) {
		it->control = d;
	} else {
		it->frame = render_delivery(d);
		rb__delivery__free_unpacked(d, NULL);
		if (!it->frame) {
			free(it);
			return;
		}
		it->frame->list = list_kind(it->packet);
		it->frame->born = arrived;
	}
	item_post(g, it);
}

/* Lists carry a state version: never replace a newer list with an older
 * one (several roomsvc instances may publish concurrently). Both versions
 * are read at one instant, so at an equal state version the media version
 * orders them. */
static int stale_list(gw *g, gw_item *it)
{
	int kind = list_kind(it->packet);
	if (!kind || !it->version)
		return 0;
	list_seen *last = &g->last_list[kind - 1];
	if (it->version < last->version ||
	    (it->version == last->version && it->media_version < last->media_version))
		return 1;
	last->version = it->version;
	last->media_version = it->media_version;
	return 0;
}

/* An updateUsers composed before a joinRoom/leaveRoom we forwarded already
 * shows the user's old currentRoom, and roomsvc sends no updateUsers of its
 * own for a join or leave: ask for a fresh one. Only a list from another
 * roomsvc instance can come this late (within one, a lock orders them). */
static void lists_stale(gw *g, const gw_item *it)
{
	Rb__ListsStale ls = RB__LISTS_STALE__INIT;
	if (it->version >= g->last_member_version)
		return;
	ls.gateway_id = g->id;
	ls.has_version = 1;
	ls.version = it->version;
	g->lists_stale++;
	(void)bus_publish_pb(g->bus, "rb.evt.gw.lists_stale", &ls.base);
}

/* After a delivery to every connection: what it tells the later ones. */
static void after_all(gw *g, const gw_item *it)
{
	int kind = list_kind(it->packet);
	if (kind) {
		replay_after_list(g, it->media_version);
		if (kind == FRAME_USERS && it->version)
			lists_stale(g, it);
	} else if (it->about[0]) {
		replay_note(g, it->about, it->media_version, it->frame);
	} else if ((it->packet == RB__DELIVERY__PACKET_JOIN_ROOM ||
		    it->packet == RB__DELIVERY__PACKET_LEAVE_ROOM) &&
		   it->version > g->last_member_version) {
		g->last_member_version = it->version;
	}
}

static int excluded(gw *g, gw_item *it, session *s)
{
	size_t n = strlen(g->id);
	return it->exclude[0] && !strncmp(it->exclude, g->id, n) && it->exclude[n] == '.' &&
	       !strcmp(it->exclude + n + 1, s->cid);
}

static void control_apply(gw_item *it, session *s)
{
	Rb__Delivery *d = it->control;
	if (d->packet_case == RB__DELIVERY__PACKET_SET_PERMS) {
		session_set_perms(s, d->setperms->perms, d->setperms->n_perms);
		s->perms_epoch++;
	} else if (d->packet_case == RB__DELIVERY__PACKET_KICK)
		session_close_after(s, 4000, d->kick->reason ? d->kick->reason : "removed");
}

/* The last DEDUP_KEEP keys seen, in a ring plus a small hash index: a
 * message re-published by msgsvc's outbox after a crash must not reach a
 * client twice. */
#define DEDUP_KEEP 8192
#define DEDUP_BUCKETS 16384
struct dedup_ring {
	char keys[DEDUP_KEEP][96];
	int next_in_bucket[DEDUP_KEEP];
	int bucket[DEDUP_BUCKETS]; /* slot + 1, 0 = empty */
	int head;
	int full;
};

static unsigned dedup_hash(const char *s)
{
	return (unsigned)(str_hash(s) % DEDUP_BUCKETS);
}

static void dedup_unlink(struct dedup_ring *r, int slot)
{
	for (int *p = &r->bucket[dedup_hash(r->keys[slot])]; *p; p = &r->next_in_bucket[*p - 1]) {
		if (*p - 1 == slot) {
			*p = r->next_in_bucket[slot];
			return;
		}
	}
}

/* 1 when key was seen recently; else remembers it and returns 0. */
static int dedup_seen(gw *g, const char *key)
{
	struct dedup_ring *r = g->dedup;
	if (!r && !(r = g->dedup = calloc(1, sizeof *r)))
		return 0;
	unsigned h = dedup_hash(key);
	for (int i = r->bucket[h]; i; i = r->next_in_bucket[i - 1])
		if (!strcmp(r->keys[i - 1], key))
			return 1;
	int slot = r->head;
	if (r->full)
		dedup_unlink(r, slot);
	snprintf(r->keys[slot], sizeof r->keys[slot], "%s", key);
	r->next_in_bucket[slot] = r->bucket[h];
	r->bucket[h] = slot + 1;
	r->head = (slot + 1) % DEDUP_KEEP;
	r->full |= r->head == 0;
	return 0;
}

void deliver_handle(gw *g, gw_item *it)
{
	if (it->dedup[0] && dedup_seen(g, it->dedup))
		return;
	if (it->target == T_ALL) {
		if (!it->frame || stale_list(g, it))
			return;
		for (session *s = g->online; s; s = s->next_online)
			if (!excluded(g, it, s))
				session_send(s, it->frame);
		after_all(g, it);
	} else if (it->target == T_USER) {
		user_entry *u = user_find(g, it->key);
		for (session *s = u ? u->sessions : NULL; s; s = s->next_user) {
			if (it->control)
				control_apply(it, s);
			else if (!excluded(g, it, s))
				session_send(s, it->frame);
		}
	} else {
		session *s = session_find(g, it->key);
		if (s && it->frame)
			session_send(s, it->frame);
		else if (s && it->control)
			control_apply(it, s);
	}
}

/* cnats thread: roomsvc asks for our connections; the loop answers. */
static void on_conn_list(void *ud, const bus_msg *m)
{
	gw *g = ud;
	size_t n = m->reply ? strlen(m->reply) : 0;
	gw_item *it = n ? item_new(IT_CONN_LIST, NULL, m->reply, n + 1) : NULL;
	if (it)
		item_post(g, it);
}

/* Loop thread: every logged-in connection, as (gateway, conn, user). */
void conn_list_handle(gw *g, gw_item *it)
{
	const char *reply_to = (const char *)it->data;
	Rb__ConnList list = RB__CONN_LIST__INIT;
	size_t n = 0;
	for (session *s = g->online; s; s = s->next_online)
		n++;
	Rb__ConnEvent *evs = n ? calloc(n, sizeof *evs) : NULL;
	Rb__ConnEvent **ptrs = n ? calloc(n, sizeof *ptrs) : NULL;
	if (n && (!evs || !ptrs)) {
		free(evs), free(ptrs);
		return;
	}
	size_t i = 0;
	for (session *s = g->online; s; s = s->next_online, i++) {
		rb__conn_event__init(&evs[i]);
		evs[i].gateway_id = g->id;
		evs[i].conn_id = s->cid;
		evs[i].user_id = s->user_id;
		ptrs[i] = &evs[i];
	}
	list.conns = ptrs;
	list.n_conns = n;
	size_t len = protobuf_c_message_get_packed_size(&list.base);
	uint8_t *bytes = malloc(len ? len : 1);
	if (bytes) {
		protobuf_c_message_pack(&list.base, bytes);
		bus_publish(g->bus, reply_to, bytes, len);
	}
	free(bytes), free(evs), free(ptrs);
}

int deliver_start(gw *g)
{
	char subject[128];
	g->sub_all = bus_subscribe(g->bus, "rb.out.all", NULL, deliver_bus_msg, g);
	snprintf(subject, sizeof subject, "rb.out.conn.%s.>", g->id);
	g->sub_conn = bus_subscribe(g->bus, subject, NULL, deliver_bus_msg, g);
	snprintf(subject, sizeof subject, "rb.gw.%s.conns", g->id);
	g->sub_ctl = bus_subscribe(g->bus, subject, NULL, on_conn_list, g);
	return g->sub_all && g->sub_conn && g->sub_ctl ? 0 : -1;
}

void deliver_stop(gw *g)
{
	/* Waiting: none of their callbacks runs after this. */
	bus_sub_close_wait(g->sub_all);
	bus_sub_close_wait(g->sub_conn);
	bus_sub_close_wait(g->sub_ctl);
	g->sub_all = g->sub_conn = g->sub_ctl = NULL;
}
