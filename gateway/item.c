#include "item.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*const handler[IT_KINDS])(gw *g, gw_item *it) = {
	[IT_DELIVERY] = deliver_handle,    [IT_REPLY] = reply_handle,
	[IT_PERMS] = perms_reply_handle,   [IT_HTTP_REPLY] = http_reply_handle,
	[IT_CONN_LIST] = conn_list_handle, [IT_BARRIER] = barrier_handle,
};

gw_item *item_new(enum item_kind kind, const char *key, const void *data, size_t len)
{
	gw_item *it = calloc(1, sizeof *it + len);
	if (!it)
		return NULL;
	it->kind = kind;
	if (key)
		snprintf(it->key, sizeof it->key, "%s", key);
	it->len = len;
	if (len)
		memcpy(it->data, data, len);
	return it;
}

void item_post(gw *g, gw_item *it)
{
	if (loopq_push(&g->inbox, &it->link)) {
		pthread_mutex_lock(&g->wake_lock);
		if (g->wake)
			lws_cancel_service(g->wake);
		pthread_mutex_unlock(&g->wake_lock);
	}
}

static void item_free(gw_item *it)
{
	frame_unref(it->frame);
	if (it->control)
		rb__delivery__free_unpacked(it->control, NULL);
	free(it);
}

void items_run(gw *g)
{
	loopq_item *li = loopq_take_all(&g->inbox);
	while (li) {
		gw_item *it = (gw_item *)li;
		li = li->next;
		handler[it->kind](g, it);
		item_free(it);
	}
}

void items_discard(gw *g)
{
	for (loopq_item *li = loopq_take_all(&g->inbox); li;) {
		gw_item *it = (gw_item *)li;
		li = li->next;
		item_free(it);
	}
}
