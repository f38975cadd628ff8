#include "part.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "log.h"
#include "proc.h"

static void close_pg(void *db)
{
	pg_close(db);
}

static void close_kv(void *st)
{
	kv_close(st);
}

/* A copy of shared's size bytes with the pointer conn stored at off. NULL
 * when conn is NULL (it could not be made) or out of memory; conn is then
 * closed with close. */
static void *copy_with(const void *shared, size_t size, size_t off, void *conn,
		       void (*close)(void *))
{
	char *w = conn ? malloc(size) : NULL;
	if (!w) {
		close(conn);
		return NULL;
	}
	memcpy(w, shared, size);
	memcpy(w + off, &conn, sizeof conn);
	return w;
}

/* The pointer stored at off in w. */
static void *conn_of(const void *w, size_t off)
{
	void *conn;
	memcpy(&conn, (const char *)w + off, sizeof conn);
	return conn;
}

void *part_worker_pg(const void *shared, size_t size, size_t db_off, const char *conninfo,
		     const char *options, int i)
{
	char name[32];
	snprintf(name, sizeof name, "requests-%d", i);
	pg *db = options ? pg_open_with(conninfo, name, options) : pg_open(conninfo, name);
	return copy_with(shared, size, db_off, db, close_pg);
}

void part_worker_pg_free(void *w, size_t db_off)
{
	pg_close(conn_of(w, db_off));
	free(w);
}

void *part_worker_kv(const void *shared, size_t size, size_t st_off, const kv_addr *redis)
{
	return copy_with(shared, size, st_off, kv_open(redis), close_kv);
}

void part_worker_kv_free(void *w, size_t st_off)
{
	kv_close(conn_of(w, st_off));
	free(w);
}

int part_begin(int argc, char **argv, const char *name, const char *about,
	       const cfg_field *settings, size_t n, void *cfg)
{
	int help = cfg_args(argc, argv, about, settings, n);
	if (help >= 0)
		return help;
	if (proc_init(name) < 0 || cfg_load(settings, n, cfg) < 0)
		return 1;
	cfg_print(settings, n, cfg);
	return -1;
}

void part_bus_end(bus *b)
{
	bus_close(b);
	if (nats_CloseAndWait(2000) != NATS_OK && b)
		log_warn("NATS library did not shut down within 2 s");
}

/* One service per process. */
static atomic_int serving;

int part_serving(void)
{
	return atomic_load(&serving);
}

int part_main(int argc, char **argv, const part_service *p, void *ud)
{
	health *h = NULL;
	svc *s = NULL;
	int rc = part_begin(argc, argv, p->name, p->about, p->settings, p->nsettings, p->cfg);

	if (rc >= 0)
		return rc;
	*p->bus = bus_open(&p->part->nats, p->name, p->bus_flags ? p->bus_flags : BUS_SEND_ASAP);
	if (*p->bus && p->open(ud) == 0)
		h = health_start(p->part->health_addr, (int)p->part->health_port, p->ready,
				 p->metrics, ud);
	if (h && (s = p->start(ud))) {
		atomic_store(&serving, 1);
		while (!proc_stopping()) {
			proc_sleep_ms(p->tick_ms);
			if (p->tick)
				p->tick(ud);
		}
	}
	/* Asked to stop, even before start-up finished: a clean exit. */
	rc = s || proc_stopping() ? 0 : 1;
	log_info("stopping");
	/* Not ready any more; the requests held finish, new ones go to the
	 * other instances. */
	atomic_store(&serving, 0);
	svc_drain(s, PART_STOP_WAIT_MS);
	if (p->quiesce)
		p->quiesce(ud);
	health_stop(h);
	part_bus_end(*p->bus);
	p->release(ud);
	return rc;
}
