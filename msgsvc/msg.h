/* What the modules of msgsvc share: its settings and its state. */
#ifndef MSG_MSG_H
#define MSG_MSG_H

#include <ctype.h>
#include <stdatomic.h>

#include "bus.h"
#include "part.h"
#include "pg.h"
#include "uuid.h"

/* Filled once by cfg_load from the table in main.c; read-only afterwards.
 * Strings point into the environment or the table. */
typedef struct {
	part_config part; /* NATS, probes, handler threads */
	const char *pg;
	const char *pg_password; /* read from its file */
	long segment_size;       /* S: messages per segment */
	long upload_max;         /* largest decoded attachment, bytes */
	long image_max_pixels;   /* width x height of an attachment at most */
	long image_max_side;     /* width and height each at most */
	long outbox_age_ms;      /* an outbox row this old is taken by the drainer */
	long test_hooks;         /* tests only: pause points of the write path */
} msg_config;

typedef struct rooms rooms;
typedef struct dir dir;
typedef struct outbox outbox;

typedef struct {
	const msg_config *cfg;
	bus *bus;
	/* The handlers' connection: each handler thread has its own copy of
	 * this struct (main.c, worker_app) with its own connection, so it
	 * needs no lock. NULL in the process-wide one. */
	pg *db;
	/* Shared by every thread; each takes its own lock (rooms.h,
	 * directory.h) or is lock-free (outbox.h). */
	rooms *rooms;   /* room check through roomsvc, cached */
	dir *dir;       /* user id -> current name */
	outbox *outbox; /* publishing committed broadcasts */
	/* Set at shutdown: requests still arriving are refused, not served.
	 * svc is given the process-wide one's address (not a thread's copy). */
	atomic_int closing;
	/* Requests held (queued or in a handler): shutdown waits for 0. */
	atomic_int busy;
} msg_app;

/* Copies a UUID in lowercase (the form Postgres prints and the cache keys
 * use): clients may send ids in either case. 0, or -1 when in is no UUID. */
static inline int msg_uuid_lower(const char *in, char out[UUID_STR_LEN + 1])
{
	if (!uuid_valid(in))
		return -1;
	for (int i = 0; i <= UUID_STR_LEN; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return 0;
}

#endif
