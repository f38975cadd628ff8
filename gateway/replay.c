/* Broadcasts that a list may have overtaken (gw.h, DESIGN.md "Lists and
 * the broadcasts they overtake"). Loop thread only.
 *
 * roomsvc composes updateUsers/updateRooms from Redis and publishes them on
 * its bus connection; mediasvc publishes `talking` and `servermute` on its
 * own. A list composed just before a change can therefore reach us just
 * after the broadcast of that change, and would leave clients on the old
 * value, since the lists are no longer sent again for these changes. The
 * media versions tell: a list shows every change up to its media version,
 * so what we forwarded with a higher one goes out again right after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "gw.h"
#include "log.h"

/* Users (and packets) kept at most: only broadcasts newer than a list of
 * either kind are kept, so this is reached only by a flood of changes
 * while no list comes; the oldest then goes. */
#define REPLAY_MAX 4096

typedef struct {
	char key[UUID_STR_LEN + 16]; /* "<packet>:<user id>" */
	uint64_t version;
	frame *f;
} replay_entry;

struct replay {
	replay_entry *e;
	size_t n, cap;
};

/* Every later list shows at least this media version: lists are forwarded
 * in version order (stale_list in deliver.c), each kind on its own. */
static uint64_t shown_by_all(const gw *g)
{
	uint64_t a = g->last_list[0].media_version, b = g->last_list[1].media_version;
	return a < b ? a : b;
}

static void entry_drop(struct replay *r, size_t i)
{
	frame_unref(r->e[i].f);
	r->e[i] = r->e[--r->n];
}

/* A free slot: grows the array, or at REPLAY_MAX drops the oldest entry.
 * NULL when out of memory. */
static replay_entry *entry_new(struct replay *r)
{
	if (r->n == REPLAY_MAX) {
		size_t oldest = 0;
		for (size_t i = 1; i < r->n; i++)
			if (r->e[i].version < r->e[oldest].version)
				oldest = i;
		entry_drop(r, oldest);
	}
	replay_entry *e = grow_for(r->e, &r->cap, r->n, sizeof *e);
	if (!e)
		return NULL;
	r->e = e;
	return &r->e[r->n++];
}

void replay_note(gw *g, const char *key, uint64_t media_version, frame *f)
{
	struct replay *r = g->replay;
	if (!media_version || media_version <= shown_by_all(g))
		return;
	if (!r && !(r = g->replay = calloc(1, sizeof *r)))
		return;
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->e[i].key, key))
			continue;
		if (media_version > r->e[i].version) {
			frame_ref(f);
			frame_unref(r->e[i].f);
			r->e[i].f = f;
			r->e[i].version = media_version;
		}
		return;
	}
	replay_entry *e = entry_new(r);
	if (!e) {
		log_warn("replay: out of memory; %s not kept", key);
		return;
	}
	snprintf(e->key, sizeof e->key, "%s", key);
	e->version = media_version;
	frame_ref(f);
	e->f = f;
}

void replay_after_list(gw *g, uint64_t media_version)
{
	struct replay *r = g->replay;
	if (!media_version)
		return; /* a roomsvc that does not say: nothing to compare */
	for (size_t i = 0; r && i < r->n; i++) {
		if (r->e[i].version <= media_version)
			continue;
		for (session *s = g->online; s; s = s->next_online)
			session_send(s, r->e[i].f);
		g->replayed++;
	}
	uint64_t shown = shown_by_all(g);
	for (size_t i = 0; r && i < r->n;) {
		if (r->e[i].version <= shown)
			entry_drop(r, i);
		else
			i++;
	}
}

void replay_free(gw *g)
{
	struct replay *r = g->replay;
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		frame_unref(r->e[i].f);
	free(r->e);
	free(r);
	g->replay = NULL;
}
