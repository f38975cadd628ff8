/* Two string helpers every part wanted a copy of. */
#ifndef RB_STRX_H
#define RB_STRX_H

#include <stdint.h>

/* FNV-1a (64 bits) of a string: the one hash of the code base, for hash
 * tables and for the connection digests gateways and roomsvc compare (so
 * it must never change). Ids are random already; it only spreads them. */
static inline uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Set and not "": proto2 strings are NULL when absent. */
static inline int str_set(const char *s)
{
	return s && *s;
}

#endif
