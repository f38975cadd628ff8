/* What the modules of roomsvc share: its settings and its state.
 *
 * Threads of the process (each module labels its callbacks):
 * - the request subscription's cnats thread: the route table (rooms.c);
 * - one cnats thread per event subscription: gateway events (presence.c),
 *   account events (accounts.c), media events (lists.c);
 * - the sweeper (presence.c), the flusher (lists.c), the directory loader
 *   (accounts.c), the health listener (lib/health.c) and main. */
#ifndef ROOM_ROOMSVC_H
#define ROOM_ROOMSVC_H

#include <pthread.h>
#include <stdatomic.h>

#include "bus.h"
#include "kv.h"
#include "part.h"
#include "uuid.h"

/* Filled once by cfg_load from the table in main.c; read-only afterwards. */
typedef struct {
	part_config part; /* NATS, probes, handler threads */
	kv_addr redis;    /* password: read from its file */
	long coalesce_ms;
	long list_budget;
	long sweep_ms;
} room_config;

typedef struct lists lists;
typedef struct dir dir; /* lib/directory.h */
typedef struct accounts accounts;
typedef struct presence presence;

/* The queue group of every subscription that must reach one instance. */
#define ROOM_QUEUE "room"
/* Lease of a gateway whose heartbeat names none (GwHeartbeat.lease_ms). */
#define ROOM_DEFAULT_LEASE_MS 10000

typedef struct {
	const room_config *cfg;
	bus *bus;
	kv *store; /* each handler thread has its own (worker_app in main.c) */
	/* Held around "change the state, publish what the change itself
	 * says" (joinRoom, leaveRoom, disconnect, room removal) and around
	 * "read the state, publish the lists". Within one instance a list
	 * therefore never overtakes the packet announcing the change it shows:
	 * PROTOCOL.md orders leaveRoom, joinRoom, then updateRooms, and NATS
	 * keeps one connection's publish order. Voice joins and leaves take it
	 * shared (several handler threads at once; one user's requests are
	 * ordered by their route key), the rest exclusive; writers are
	 * preferred, so the flusher is not starved by a stream of joins.
	 * Taken before the store's own lock. Shared by every handler thread's
	 * copy of the app. */
	pthread_rwlock_t *emit;
	lists *lists;
	dir *dir; /* the accounts (lib/directory.h), kept by accounts.c */
	accounts *accounts;
	presence *presence;
	char instance[UUID_STR_LEN + 1]; /* this process, for sweep locks */
	/* Set by main once every module above exists; the health thread
	 * (started earlier, to answer while Redis is awaited) reads the
	 * modules only after it. */
	atomic_int started;
} room_app;

#endif
