#include "loopq.h"

#include <stddef.h>

void loopq_init(loopq *q)
{
	pthread_mutex_init(&q->lock, NULL);
	q->head = q->tail = NULL;
}

void loopq_destroy(loopq *q)
{
	pthread_mutex_destroy(&q->lock);
}

int loopq_push(loopq *q, loopq_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&q->lock);
	int was_empty = !q->tail;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	pthread_mutex_unlock(&q->lock);
	return was_empty;
}

loopq_item *loopq_take_all(loopq *q)
{
	pthread_mutex_lock(&q->lock);
	loopq_item *h = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	return h;
}
