/* Growing an array by doubling: one way for every part. */
#ifndef RB_GROW_H
#define RB_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* The array v (n elements of size bytes used, *cap allocated), with room
 * for one more: v itself, or v moved into twice the room (64 elements at
 * first; *cap updated). NULL when out of memory: v is then as it was and
 * still the caller's. */
static inline void *grow_for(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	size_t want = *cap ? *cap * 2 : 64;
	if (want > SIZE_MAX / size)
		return NULL;
	void *p = realloc(v, want * size);
	if (p)
		*cap = want;
	return p;
}

#endif
