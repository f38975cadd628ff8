/* A small chained hash map from id strings (UUIDs, at most 63 bytes) to a
 * value the map owns: the room cache and the account directory keep their
 * entries in one, with the lock they hold around it (idmap_locked). The
 * map itself is not thread-safe. */
#ifndef RB_IDMAP_H
#define RB_IDMAP_H

#include <pthread.h>
#include <stddef.h>

#define IDMAP_KEY_MAX 63

typedef struct idmap idmap;
/* Frees a value when it is replaced, deleted or the map is cleared. */
typedef void (*idmap_free_fn)(void *value);

/* NULL when out of memory. */
idmap *idmap_new(idmap_free_fn free_value);
void idmap_free(idmap *m);

/* The value under key, or NULL. Borrowed: valid until the next change. */
void *idmap_get(idmap *m, const char *key);
/* Stores value under key, freeing a value it replaces. 0, or -1 when out
 * of memory or the key is too long (then value was freed too: the map owns
 * it from the call on, whatever happens). */
int idmap_put(idmap *m, const char *key, void *value);
void idmap_del(idmap *m, const char *key);
void idmap_clear(idmap *m);
size_t idmap_size(const idmap *m);

/* A map and the mutex its owner holds around it (and around the owner's
 * fields that change with it). */
typedef struct {
	pthread_mutex_t lock;
	idmap *map;
} idmap_locked;

/* 0, or -1 when out of memory (m is then left as it was). */
int idmap_locked_init(idmap_locked *m, idmap_free_fn free_value);
/* Frees the map and its values; m must not be in use. */
void idmap_locked_destroy(idmap_locked *m);

#endif
