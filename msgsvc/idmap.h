/* A small chained hash map from id strings (UUIDs, at most 63 bytes) to a
 * value the map owns: the room cache and the account directory keep their
 * entries in one. Not thread-safe: each owner holds its own lock around it. */
#ifndef MSG_IDMAP_H
#define MSG_IDMAP_H

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

#endif
