/* Latency histograms for /metrics: fixed log buckets (1-2.5-5 per decade,
 * 100 us to 10 s, then +Inf), counted with relaxed atomics so the hot path
 * takes no lock. One writer or many; the health thread reads. Printed as a
 * Prometheus histogram: cumulative _bucket{le}, _sum in seconds, _count
 * equal to the +Inf bucket (both are made from the same reads). */
#ifndef RB_HISTO_H
#define RB_HISTO_H

#include <stdatomic.h>
#include <time.h>

#include "buf.h"

#define HISTO_BOUNDS 16 /* finite upper bounds; one more bucket for +Inf */

typedef struct {
	atomic_ulong b[HISTO_BOUNDS + 1]; /* per bucket, not cumulative */
	atomic_ulong sum_us;
} histo;

/* Counts one observation of us microseconds (negative counts as 0). */
void histo_observe_us(histo *h, long us);
/* Counts the time since t0 (CLOCK_MONOTONIC) and returns it in us. */
long histo_observe_since(histo *h, const struct timespec *t0);

/* "# HELP" and "# TYPE name histogram" once per family, then one
 * histo_print per label set. labels: "" or e.g. "op=\"login\"" (no braces). */
void histo_print_head(buf *out, const char *name, const char *help);
void histo_print(buf *out, const char *name, const char *labels, const histo *h);
/* A family of one histogram without labels, named name_fmt with its %s
 * replaced by part ("%s_store_pg_round_trip_seconds"). */
void histo_print_one(buf *out, const char *help, const histo *h, const char *name_fmt,
		     const char *part);

#endif
