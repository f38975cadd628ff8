/* What the modules of mediasvc share: its settings and its state. */
#ifndef MEDIA_MEDIA_H
#define MEDIA_MEDIA_H

#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "kv.h"
#include "part.h"

/* Filled once by cfg_load from the table in main.c; read-only afterwards.
 * Strings point into the environment or the table. */
typedef struct {
	part_config part; /* NATS, probes, handler threads */
	kv_addr redis;    /* password: read from its file */
	long talking_burst, talking_rate;
} media_config;

typedef struct talk talk;

typedef struct {
	const media_config *cfg;
	bus *bus;
	/* Shared by the event threads and the talking timer (the store locks
	 * itself); each handler thread has its own (worker_app in main.c). */
	kv *st;
	talk *talk;
	/* Set at shutdown: requests still arriving are refused, not served. */
	atomic_int closing;
	/* Requests and events being handled right now: shutdown waits for 0. */
	atomic_int busy;
} media_app;

#endif
