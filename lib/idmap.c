#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "strx.h"

#define BUCKETS 1024

typedef struct entry {
	struct entry *next;
	void *value;
	char key[IDMAP_KEY_MAX + 1];
} entry;

struct idmap {
	entry *buckets[BUCKETS];
	size_t n;
	idmap_free_fn free_value;
};

static entry **bucket_of(idmap *m, const char *key)
{
	return &m->buckets[str_hash(key) % BUCKETS];
}

static entry **find(idmap *m, const char *key)
{
	entry **pp = bucket_of(m, key);
	while (*pp && strcmp((*pp)->key, key))
		pp = &(*pp)->next;
	return pp;
}

idmap *idmap_new(idmap_free_fn free_value)
{
	idmap *m = calloc(1, sizeof *m);
	if (m)
		m->free_value = free_value;
	return m;
}

void idmap_free(idmap *m)
{
	if (!m)
		return;
	idmap_clear(m);
	free(m);
}

void *idmap_get(idmap *m, const char *key)
{
	entry *e = *find(m, key);
	return e ? e->value : NULL;
}

int idmap_put(idmap *m, const char *key, void *value)
{
	size_t len = strlen(key);
	entry **pp = find(m, key), *e = *pp;

	if (e) {
		m->free_value(e->value);
		e->value = value;
		return 0;
	}
	if (len > IDMAP_KEY_MAX || !(e = calloc(1, sizeof *e))) {
		m->free_value(value);
		return -1;
	}
	memcpy(e->key, key, len + 1);
	e->value = value;
	*pp = e;
	m->n++;
	return 0;
}

void idmap_del(idmap *m, const char *key)
{
	entry **pp = find(m, key), *e = *pp;
	if (!e)
		return;
	*pp = e->next;
	m->free_value(e->value);
	free(e);
	m->n--;
}

void idmap_clear(idmap *m)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		while (m->buckets[i]) {
			entry *e = m->buckets[i];
			m->buckets[i] = e->next;
			m->free_value(e->value);
			free(e);
		}
	}
	m->n = 0;
}

size_t idmap_size(const idmap *m)
{
	return m->n;
}

int idmap_locked_init(idmap_locked *m, idmap_free_fn free_value)
{
	idmap *map = idmap_new(free_value);
	if (!map || pthread_mutex_init(&m->lock, NULL) != 0) {
		idmap_free(map);
		return -1;
	}
	m->map = map;
	return 0;
}

void idmap_locked_destroy(idmap_locked *m)
{
	idmap_free(m->map);
	pthread_mutex_destroy(&m->lock);
}
