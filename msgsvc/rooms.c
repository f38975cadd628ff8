#include "rooms.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "log.h"
#include "rebuttal.pb-c.h"

/* Rooms are few; past this many entries something is asking about junk
 * ids, and starting over is cheaper than tracking age. */
#define CACHE_MAX 4096

typedef struct {
	char *name;
	int is_text;
} cached;

struct rooms {
	bus *bus;
	int timeout_ms;
	idmap_locked cache; /* its lock guards gen too */
	/* Bumped by every forget: an answer that was in flight meanwhile may
	 * predate the change, so it is used but not cached. */
	uint64_t gen;
	atomic_ulong hits, misses;
};

static void cached_free(void *v)
{
	cached *c = v;
	if (c)
		free(c->name);
	free(c);
}

rooms *rooms_new(bus *b, int timeout_ms)
{
	rooms *rs = calloc(1, sizeof *rs);
	if (!rs || idmap_locked_init(&rs->cache, cached_free) < 0) {
		free(rs);
		return NULL;
	}
	rs->bus = b;
	rs->timeout_ms = timeout_ms;
	return rs;
}

void rooms_free(rooms *rs)
{
	if (!rs)
		return;
	idmap_locked_destroy(&rs->cache);
	free(rs);
}

/* Copies the cached entry into *out; 1 when there was one. */
static int from_cache(rooms *rs, const char *id, arena *a, rooms_info *out, uint64_t *gen)
{
	pthread_mutex_lock(&rs->cache.lock);
	cached *c = idmap_get(rs->cache.map, id);
	if (c) {
		out->name = arena_strdup(a, c->name);
		out->is_text = c->is_text;
	}
	*gen = rs->gen;
	pthread_mutex_unlock(&rs->cache.lock);
	return c != NULL;
}

static void to_cache(rooms *rs, const char *id, const rooms_info *info, uint64_t gen)
{
	cached *c = calloc(1, sizeof *c);
	if (!c || !(c->name = strdup(info->name))) {
		cached_free(c);
		return;
	}
	c->is_text = info->is_text;
	pthread_mutex_lock(&rs->cache.lock);
	if (rs->gen != gen) {
		cached_free(c);
	} else {
		if (idmap_size(rs->cache.map) >= CACHE_MAX)
			idmap_clear(rs->cache.map);
		(void)idmap_put(rs->cache.map, id, c); /* a failure only costs a later miss */
	}
	pthread_mutex_unlock(&rs->cache.lock);
}

/* Interprets roomsvc's reply. */
static enum rooms_status decode(const void *data, size_t len, arena *a, rooms_info *out)
{
	Rb__Reply *rep = rb__reply__unpack(NULL, len, data);
	enum rooms_status s = ROOMS_UNAVAILABLE;

	if (!rep) {
		log_warn("rooms: undecodable get_room reply");
		return s;
	}
	if (rep->has_code && rep->code == RB__CODE__NOT_FOUND) {
		s = ROOMS_NOT_FOUND;
	} else if ((!rep->has_code || rep->code == RB__CODE__OK) && rep->room && rep->room->name) {
		out->name = arena_strdup(a, rep->room->name);
		out->is_text = rep->room->type && !strcmp(rep->room->type, "text");
		s = ROOMS_OK;
	} else {
		log_warn("rooms: get_room answered code %d: %s", rep->has_code ? (int)rep->code : 0,
			 rep->message ? rep->message : "(no message)");
	}
	rb__reply__free_unpacked(rep, NULL);
	return s;
}

/* Asks roomsvc. The envelope names no user or gateway: this is a
 * service's own question. */
static enum rooms_status ask(rooms *rs, const char *id, arena *a, rooms_info *out)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__GetRoom gr = RB__GET_ROOM__INIT;
	uint8_t packed[256];
	void *reply = NULL;
	size_t len;

	gr.room_id = (char *)id;
	env.payload_case = RB__ENVELOPE__PAYLOAD_GET_ROOM;
	env.get_room = &gr;
	if (protobuf_c_message_get_packed_size(&env.base) > sizeof packed)
		return ROOMS_NOT_FOUND; /* only an absurd id gets here */
	len = protobuf_c_message_pack(&env.base, packed);
	if (bus_request_sync(rs->bus, "rb.room.get_room", packed, len, rs->timeout_ms, &reply,
			     &len) < 0)
		return ROOMS_UNAVAILABLE;
	enum rooms_status s = decode(reply, len, a, out);
	free(reply);
	return s;
}

enum rooms_status rooms_get(rooms *rs, const char *room_id, arena *a, rooms_info *out)
{
	uint64_t gen;

	if (from_cache(rs, room_id, a, out, &gen)) {
		atomic_fetch_add(&rs->hits, 1);
		return ROOMS_OK;
	}
	atomic_fetch_add(&rs->misses, 1);
	enum rooms_status s = ask(rs, room_id, a, out);
	if (s == ROOMS_OK)
		to_cache(rs, room_id, out, gen);
	return s;
}

void rooms_forget(rooms *rs, const char *room_id)
{
	pthread_mutex_lock(&rs->cache.lock);
	idmap_del(rs->cache.map, room_id);
	rs->gen++;
	pthread_mutex_unlock(&rs->cache.lock);
}

void rooms_forget_all(rooms *rs)
{
	pthread_mutex_lock(&rs->cache.lock);
	idmap_clear(rs->cache.map);
	rs->gen++;
	pthread_mutex_unlock(&rs->cache.lock);
}

void rooms_metrics(rooms *rs, buf *out)
{
	buf_addf(out,
		 "# TYPE msgsvc_room_cache_total counter\n"
		 "msgsvc_room_cache_total{result=\"hit\"} %lu\n"
		 "msgsvc_room_cache_total{result=\"miss\"} %lu\n",
		 atomic_load(&rs->hits), atomic_load(&rs->misses));
}
