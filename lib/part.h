/* What the mains of the parts share: the settings rows every part has
 * (NATS; a service's Postgres or Redis, health endpoint) and the state of a
 * service's handler threads (svc_opts.worker_app): a copy of the shared
 * state with a store connection of its own.
 *
 * The rows go into a part's cfg_field table; the struct they fill has the
 * members the macro names (bus_addr nats, kv_addr redis, const char *pg and
 * *pg_password, const char *health_addr and long health_port). */
#ifndef RB_PART_H
#define RB_PART_H

#include <stddef.h>

#include "config.h"
#include "kv.h"
#include "pg.h"

/* REBUTTAL_NATS_URL, _USER, _PASSWORD_FILE into st's bus_addr nats. */
#define PART_CFG_NATS(st)                                                            \
	CFG_S("REBUTTAL_NATS_URL", st, nats.url, "nats://127.0.0.1:4222",                \
	      "NATS server URL, or several separated by commas (a cluster)"),            \
	CFG_S("REBUTTAL_NATS_USER", st, nats.user, "",                                   \
	      "NATS user (empty: connect without authentication)"),                      \
	CFG_SECRET_FILE("REBUTTAL_NATS_PASSWORD_FILE", st, nats.password,                \
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

/* REBUTTAL_HEALTH_ADDR and _PORT (default port) into st's health_addr and
 * health_port. */
#define PART_CFG_HEALTH(st, port)                                                    \
	CFG_S("REBUTTAL_HEALTH_ADDR", st, health_addr, "127.0.0.1",                      \
	      "address of /healthz, /readyz and /metrics (0.0.0.0: every interface)"),   \
	CFG_I("REBUTTAL_HEALTH_PORT", st, health_port, port, 1, 65535,                   \
	      "port of /healthz, /readyz and /metrics")

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
#define PART_WORKERS_PG(T, db, options)                                              \
	static void *worker_app(void *ud, int i)                                     \
	{                                                                            \
		return part_worker_pg(ud, sizeof(T), offsetof(T, db),                \
				      ((const T *)ud)->cfg->pg, options, i);         \
	}                                                                            \
	static void worker_free(void *ud) { part_worker_pg_free(ud, offsetof(T, db)); }
#define PART_WORKERS_KV(T, st)                                                       \
	static void *worker_app(void *ud, int i)                                     \
	{                                                                            \
		(void)i;                                                             \
		return part_worker_kv(ud, sizeof(T), offsetof(T, st),                \
				      &((const T *)ud)->cfg->redis);                 \
	}                                                                            \
	static void worker_free(void *ud) { part_worker_kv_free(ud, offsetof(T, st)); }

#endif
