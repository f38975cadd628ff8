/* A locked FIFO from other threads to the loop thread (STYLE.md: other
 * threads only enqueue and wake the loop). Items are allocated by the
 * producer and owned by whoever pops them. */
#ifndef GW_LOOPQ_H
#define GW_LOOPQ_H

#include <pthread.h>

typedef struct loopq_item {
	struct loopq_item *next;
} loopq_item;

typedef struct {
	pthread_mutex_t lock;
	loopq_item *head, *tail;
} loopq;

void loopq_init(loopq *q);
void loopq_destroy(loopq *q);
/* Any thread. 1 when the queue was empty: only then does the loop need
 * waking (it takes the whole queue when it wakes). */
int loopq_push(loopq *q, loopq_item *it);
loopq_item *loopq_take_all(loopq *q); /* loop thread: the whole list, in order */

#endif
