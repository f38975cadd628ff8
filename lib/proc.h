/* Process start and stop shared by every part: libsodium, signals (the
 * handlers only set a flag), SIGPIPE ignored. */
#ifndef RB_PROC_H
#define RB_PROC_H

#include <stdint.h>
#include <time.h>

/* Returns 0, or -1 when libsodium cannot start. */
int proc_init(const char *part);
/* 1 once SIGTERM or SIGINT arrived. */
int proc_stopping(void);
/* 1 once a second SIGTERM or SIGINT arrived: a part that drains slowly
 * (the gateway) stops draining and stops at once. */
int proc_hurried(void);
/* Sleeps until stopping or ms passed. */
void proc_sleep_ms(int ms);
/* The moment ms (negative: 0) from now on clock (CLOCK_REALTIME or
 * CLOCK_MONOTONIC, as the condition variable waits by), for
 * pthread_cond_timedwait. */
struct timespec proc_deadline(clockid_t clock, int64_t ms);

#endif
