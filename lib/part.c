#include "part.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
