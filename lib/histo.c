#include "histo.h"

#include <stdio.h>

/* Upper bounds in microseconds; the printed le values are the same in
 * seconds (the text of both from one table). */
static const struct {
	long us;
	const char *le;
} bounds[HISTO_BOUNDS] = {
	{100, "0.0001"},  {250, "0.00025"}, {500, "0.0005"},  {1000, "0.001"},
	{2500, "0.0025"}, {5000, "0.005"},  {10000, "0.01"},  {25000, "0.025"},
	{50000, "0.05"},  {100000, "0.1"},  {250000, "0.25"}, {500000, "0.5"},
	{1000000, "1"},   {2500000, "2.5"}, {5000000, "5"},   {10000000, "10"},
};

void histo_observe_us(histo *h, long us)
{
	size_t i = 0;
	if (us < 0)
		us = 0;
	while (i < HISTO_BOUNDS && us > bounds[i].us)
		i++;
	atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (unsigned long)us, memory_order_relaxed);
}

long histo_observe_since(histo *h, const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Seconds first and bounded: a t0 from another clock cannot overflow. */
	long s = (long)(t1.tv_sec - t0->tv_sec);
	if (s > 1000000 || s < -1000000)
		s = s > 0 ? 1000000 : -1000000;
	long us = s * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
	histo_observe_us(h, us);
	return us > 0 ? us : 0;
}

void histo_print_head(buf *out, const char *name, const char *help)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
}

void histo_print_one(buf *out, const char *help, const histo *h, const char *name_fmt,
		     const char *part)
{
	char name[128];
	snprintf(name, sizeof name, name_fmt, part);
	histo_print_head(out, name, help);
	histo_print(out, name, "", h);
}

void histo_print(buf *out, const char *name, const char *labels, const histo *h)
{
	const char *sep = *labels ? "," : "";
	unsigned long cum = 0;
	for (size_t i = 0; i <= HISTO_BOUNDS; i++) {
		cum += atomic_load_explicit(&h->b[i], memory_order_relaxed);
		buf_addf(out, "%s_bucket{%s%sle=\"%s\"} %lu\n", name, labels, sep,
			 i < HISTO_BOUNDS ? bounds[i].le : "+Inf", cum);
	}
	double sum = (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6;
	if (*labels) {
		buf_addf(out, "%s_sum{%s} %.6f\n", name, labels, sum);
		buf_addf(out, "%s_count{%s} %lu\n", name, labels, cum);
	} else {
		buf_addf(out, "%s_sum %.6f\n%s_count %lu\n", name, sum, name, cum);
	}
}
