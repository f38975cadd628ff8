/* A bump allocator for building one reply or delivery: protobuf-c structs are
 * trees of pointers, and freeing them field by field is where leaks hide.
 * Everything allocated from an arena is freed by arena_free at once.
 * Allocation failure aborts (the sizes are bounded by the callers). */
#ifndef RB_ARENA_H
#define RB_ARENA_H

#include <stddef.h>
#include <string.h>

typedef struct arena_block arena_block;
typedef struct {
	arena_block *head;
} arena;

#define ARENA_INIT                                                                                 \
	{                                                                                          \
		NULL                                                                               \
	}

void *arena_alloc(arena *a, size_t size);    /* zeroed */
char *arena_strdup(arena *a, const char *s); /* NULL stays NULL */
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends item to a protobuf-c repeated field (*arr, *n), growing it in the arena. */
void arena_push(arena *a, void ***arr, size_t *n, void *item);
void arena_free(arena *a);
/* A T in the arena, initialised from an initializer (a protobuf-c
 * *__INIT, or braces): ARENA_NEW(a, Rb__SUser, RB__SUSER__INIT). */
#define ARENA_NEW(a, T, ...) ((T *)memcpy(arena_alloc((a), sizeof(T)), &(T)__VA_ARGS__, sizeof(T)))

#endif
