#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
	arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define ALIGN(n) (((n) + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1))

void *arena_alloc(arena *a, size_t size)
{
	size = ALIGN(size ? size : 1);
	arena_block *b = a->head;
	if (!b || b->cap - b->used < size) {
		size_t cap = size > 4096 ? size : 4096;
		b = malloc(sizeof *b + cap);
		if (!b)
			abort();
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
	va_list ap, cp;
	va_start(ap, fmt);
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	char *p = arena_alloc(a, n > 0 ? (size_t)n + 1 : 1);
	if (n > 0)
		vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void arena_push(arena *a, void ***arr, size_t *n, void *item)
{
	/* Capacity is the next power of two: grow when n hits one. */
	if (*n == 0 || (*n & (*n - 1)) == 0) {
		size_t cap = *n ? *n * 2 : 4;
		void **p = arena_alloc(a, cap * sizeof *p);
		if (*n)
			memcpy(p, *arr, *n * sizeof *p);
		*arr = p;
	}
	(*arr)[(*n)++] = item;
}

void arena_free(arena *a)
{
	while (a->head) {
		arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
}
