/* What the mains of the parts share: the settings every part has (NATS;
 * a service's health endpoint and handler threads, its Postgres or Redis),
 * the service skeleton (part_main) and the state of a service's handler
 * threads (svc_opts.worker_app): a copy of the shared state with a store
 * connection of its own.
 *
 * The rows go into a part's cfg_field table; the struct they fill has the
 * members the macro names (bus_addr nats; a service's part_config part;
 * kv_addr redis; const char *pg and *pg_password). */
#ifndef RB_PART_H
#define RB_PART_H

#include <stdatomic.h>
#include <stddef.h>

#include "bus.h"
#include "config.h"
#include "health.h"
#include "kv.h"
#include "pg.h"
#include "svc.h"

/* Settings rows, one per line as in a settings table: */
/* clang-format off */
/* REBUTTAL_NATS_URL, _USER, _PASSWORD_FILE into st's bus_addr nats. */
#define PART_CFG_NATS(st) PART_CFG_NATS_AT(st, nats)
#define PART_CFG_NATS_AT(st, m)                                                      \
	CFG_S("REBUTTAL_NATS_URL", st, m.url, "nats://127.0.0.1:4222",                   \
	      "NATS server URL, or several separated by commas (a cluster)"),            \
	CFG_S("REBUTTAL_NATS_USER", st, m.user, "",                                      \
	      "NATS user (empty: connect without authentication)"),                      \
	CFG_SECRET_FILE("REBUTTAL_NATS_PASSWORD_FILE", st, m.password,                   \
			"file holding the NATS user's password")

/* REBUTTAL_PG and _PG_PASSWORD_FILE into st's pg and pg_password; user is
 * the database user and schema the schema of the default conninfo. */
#define PART_CFG_PG(st, user, schema)                                                \
	CFG_S("REBUTTAL_PG", st, pg,                                                     \
	      "host=127.0.0.1 port=5432 dbname=rebuttal user=" user " gssencmode=disable", \
	      "libpq connection string of the database holding schema " schema),        \
	CFG_SECRET_FILE("REBUTTAL_PG_PASSWORD_FILE", st, pg_password,                    \
			"file holding the password of the user in REBUTTAL_PG")

/* REBUTTAL_REDIS_HOST, _PORT, _USER, _PASSWORD_FILE into st's kv_addr redis;
 * host_help is the host's line of --help. */
#define PART_CFG_REDIS(st, host_help)                                                \
	CFG_S("REBUTTAL_REDIS_HOST", st, redis.host, "127.0.0.1", host_help),            \
	CFG_I("REBUTTAL_REDIS_PORT", st, redis.port, 6379, 1, 65535, "Redis port"),      \
	CFG_S("REBUTTAL_REDIS_USER", st, redis.user, "",                                 \
	      "Redis ACL user (empty: the default user)"),                               \
	CFG_SECRET_FILE("REBUTTAL_REDIS_PASSWORD_FILE", st, redis.password,              \
			"file holding the Redis password (empty: no AUTH)")

/* clang-format on */

/* What every service's settings have: the member `part` of each. */
typedef struct {
	bus_addr nats;           /* password: read from its file */
	const char *health_addr; /* of /healthz, /readyz, /metrics */
	long health_port;
	long threads; /* handler threads; 0: one per online CPU */
} part_config;

/* clang-format off */
/* The rows of st's part_config part: NATS, REBUTTAL_HEALTH_ADDR and _PORT
 * (default def_port), REBUTTAL_THREADS (threads_help: what each holds). */
#define PART_CFG_SERVICE(st, def_port, threads_help)                                 \
	PART_CFG_NATS_AT(st, part.nats),                                                 \
	CFG_S("REBUTTAL_HEALTH_ADDR", st, part.health_addr, "127.0.0.1",                 \
	      "address of /healthz, /readyz and /metrics (0.0.0.0: every interface)"),   \
	CFG_I("REBUTTAL_HEALTH_PORT", st, part.health_port, def_port, 1, 65535,          \
	      "port of /healthz, /readyz and /metrics"),                                 \
	CFG_I("REBUTTAL_THREADS", st, part.threads, 0, 0, 256, threads_help)
/* clang-format on */

/* A service's main, as steps the skeleton (part_main) runs in its order;
 * each hook gets the ud given to part_main. */
typedef struct {
	const char *name;  /* "authsvc": the process in logs and on the bus */
	const char *about; /* --help's first line */
	const cfg_field *settings;
	size_t nsettings;
	void *cfg;               /* what the settings fill */
	const part_config *part; /* its part_config */
	/* What /healthz, /readyz, /metrics answer (health thread). */
	health_ready_fn ready;
	health_metrics_fn metrics;
	/* Where the bus goes: part_main opens it (named name) once the
	 * settings are loaded, before open, with bus_flags (0: BUS_SEND_ASAP). */
	bus **bus;
	int bus_flags;
	/* Settings loaded, bus opened: their own checks, derived values,
	 * stores. 0, or -1 (logged). */
	int (*open)(void *ud);
	/* Probes up: the schema, events, svc_start. NULL on failure (logged). */
	svc *(*start)(void *ud);
	/* While serving, every tick_ms: pings, refreshes, pruning (NULL: none). */
	void (*tick)(void *ud);
	int tick_ms;
	/* After the drain: stop what still runs (events, timers), before the
	 * probes and the bus go (NULL: nothing). */
	void (*quiesce)(void *ud);
	/* Last, with cnats' threads joined: free the stores and the rest. */
	void (*release)(void *ud);
} part_service;

/* How long a stop waits for the requests the service holds (svc_drain). */
#define PART_STOP_WAIT_MS 10000

/* Runs a service until SIGTERM/SIGINT: part_begin; the bus; open; the probes;
 * start; serving (tick) until asked to stop; then not serving, svc_drain
 * (leave the queue group, finish what is held), quiesce, the probes
 * stopped, part_bus_end, release. A step that fails skips to the stop.
 * Returns the exit status: 0 after serving or when asked to stop during
 * start-up, else 1 (or cfg_args' status for the command line). */
int part_main(int argc, char **argv, const part_service *p, void *ud);
/* A service's main(): part_main of the part_service p with its state ud. */
#define PART_MAIN(p, ud)                                                                           \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return part_main(argc, argv, p, ud);                                               \
	}
/* Any thread: 1 while part_main serves (start done, no stop asked). */
int part_serving(void);

/* A part's start: --help and bad arguments (cfg_args: the exit status is
 * returned), the process (proc_init "name"), the settings loaded into cfg
 * and printed. Returns -1 to go on, else the status to exit with (1 when
 * the process or a setting is wrong: logged). */
int part_begin(int argc, char **argv, const char *name, const char *about,
	       const cfg_field *settings, size_t n, void *cfg);
/* A part's end on the bus: closes b and joins cnats' threads (up to 2 s,
 * else logged), so no NATS callback can still be using anything after. */
void part_bus_end(bus *b);

/* A handler thread's state for a service whose state (size bytes) holds
 * its Postgres connection at db_off (a pg *): a copy of shared with a
 * connection of its own, named "requests-<i>", opened on conninfo with the
 * session options (pg_open_with; NULL: none). The caller owns the result
 * (part_worker_pg_free); NULL when out of memory or the connection cannot
 * be made (logged by pg). */
void *part_worker_pg(const void *shared, size_t size, size_t db_off, const char *conninfo,
		     const char *options, int i);
void part_worker_pg_free(void *w, size_t db_off);

/* The same with a Redis connection to redis at st_off (a kv *). */
void *part_worker_kv(const void *shared, size_t size, size_t st_off, const kv_addr *redis);
void part_worker_kv_free(void *w, size_t st_off);

/* Define a service's static worker_app and worker_free (svc_opts) for its
 * state type T, whose cfg member points at its settings: a Postgres
 * connection in member db opened on cfg->pg with the session options (or
 * NULL), or a Redis connection in member st to cfg->redis. */
#define PART_WORKERS_PG(T, db, options)                                                            \
	static void *worker_app(void *ud, int i)                                                   \
	{                                                                                          \
		return part_worker_pg(ud, sizeof(T), offsetof(T, db), ((const T *)ud)->cfg->pg,    \
				      options, i);                                                 \
	}                                                                                          \
	static void worker_free(void *ud)                                                          \
	{                                                                                          \
		part_worker_pg_free(ud, offsetof(T, db));                                          \
	}
#define PART_WORKERS_KV(T, st)                                                                     \
	static void *worker_app(void *ud, int i)                                                   \
	{                                                                                          \
		(void)i;                                                                           \
		return part_worker_kv(ud, sizeof(T), offsetof(T, st),                              \
				      &((const T *)ud)->cfg->redis);                               \
	}                                                                                          \
	static void worker_free(void *ud)                                                          \
	{                                                                                          \
		part_worker_kv_free(ud, offsetof(T, st));                                          \
	}

#endif
