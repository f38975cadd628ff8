/* What the modules of authsvc share: its settings and its state. */
#ifndef AUTH_AUTH_H
#define AUTH_AUTH_H

#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>

#include "bus.h"
#include "part.h"
#include "pg.h"

/* Filled once by cfg_load from the table in main.c; read-only afterwards.
 * Strings point into the environment or the table. */
typedef struct {
	part_config part; /* NATS, probes, handler threads */
	const char *pg;
	const char *pg_password; /* read from its file */
	const char *admin_password;
	const char *public_url;
	const char *infinite_signup;
	const char *gravatar;
	long pwhash_opslimit;
	long pwhash_memlimit;
	long invite_ttl;
	long login_max_fails_pair;
	long login_max_fails_addr;
	long login_max_fails_email;
	long login_window_s;
	long login_lock_s;
	long login_slow_s;
	long login_known_days;
} auth_config;

typedef struct {
	const auth_config *cfg;
	bus *bus;
	/* The handlers' connection: each handler thread has its own copy of
	 * this struct (main.c, worker_app) with its own connection, so it
	 * needs no lock. NULL in the process-wide one. */
	pg *db;
	/* public_url without trailing slashes is its first public_url_len bytes. */
	int public_url_len;
	/* A hash of a random password, verified against when an email is
	 * unknown so that a failed login costs the same either way. */
	char dummy_hash[crypto_pwhash_STRBYTES];
	/* Set at shutdown: requests still arriving are refused, not served. */
	atomic_int closing;
	/* Requests held (queued or in a handler): shutdown waits for 0. */
	atomic_int busy;
} auth_app;

#endif
