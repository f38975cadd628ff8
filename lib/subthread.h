/* A module's thread of its own, with the event subscription it goes with
 * if any, started and stopped as one: roomsvc's account directory
 * (subscribe, then load) and presence (gateway events, the sweeper),
 * msgsvc's outbox drainer (no subscription). */
#ifndef RB_SUBTHREAD_H
#define RB_SUBTHREAD_H

#include <pthread.h>
#include <stdatomic.h>

#include "bus.h"

typedef struct {
	bus_sub *sub;
	pthread_t thread;
	int running;     /* the thread was started: a stop joins it */
	atomic_int stop; /* set by subthread_stop; the thread ends once it sees it */
} subthread;

/* Subscribes fn(ud) to subject (queue NULL: every instance; subject NULL:
 * no subscription), then starts main(ud) on the thread: subscribed first,
 * so nothing the thread reads can miss a change. 0, or -1 after logging
 * "<who>: cannot start" with the subscription closed again; ud must stay
 * allocated either way (a callback may still be running). t must be
 * zeroed before. */
int subthread_start(subthread *t, bus *b, const char *subject, const char *queue, bus_msg_fn fn,
		    void *(*main)(void *), void *ud, const char *who);
/* Any thread but t's own: asks the thread to stop, joins it, closes the
 * subscription. Again, or on a t that never started, it does nothing. */
void subthread_stop(subthread *t);

static inline int subthread_stopping(subthread *t)
{
	return atomic_load(&t->stop);
}

#endif
