#include "subthread.h"

#include "log.h"

int subthread_start(subthread *t, bus *b, const char *subject, const char *queue, bus_msg_fn fn,
		    void *(*main)(void *), void *ud, const char *who)
{
	t->sub = subject ? bus_subscribe(b, subject, queue, fn, ud) : NULL;
	if ((subject && !t->sub) || pthread_create(&t->thread, NULL, main, ud) != 0) {
		log_error("%s: cannot start", who);
		bus_sub_close(t->sub);
		t->sub = NULL;
		return -1;
	}
	t->running = 1;
	return 0;
}

void subthread_stop(subthread *t)
{
	atomic_store(&t->stop, 1);
	if (t->running)
		pthread_join(t->thread, NULL);
	t->running = 0;
	bus_sub_close(t->sub);
	t->sub = NULL;
}
