/* The bus-level load generator (tests/load/README.md): it stands in for a
 * gateway and drives ONE service over NATS with the envelopes the gateway
 * would send. loadgen.c runs the modes and reports, seed.c makes the
 * accounts, rooms and connections a scenario needs (through the services
 * themselves), scenarios.c is the table of scenarios. */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <stdint.h>

#include "bus.h"
#include "rebuttal.pb-c.h"

typedef struct {
	bus_addr nats;         /* password: read from its file */
	const char *stack_dir; /* for the service's pids (CPU); "" when unknown */
	const char *pids;      /* explicit pids of the service, comma-separated */
	const char *mode;      /* open | step | closed */
	long rate;             /* open: requests/s; step: the first step */
	long rate_max;         /* step: the last step at most */
	long step_pct;         /* step: each step's rate is this % of the last */
	long secs;             /* per run or per step */
	long inflight;         /* closed loop */
	long p99_limit_ms;     /* step: the knee is the last step under this */
	long retries;          /* step: runs again of a failed step */
	long timeout_ms;       /* envelope deadline and reply wait */
	long accounts;         /* accounts to seed (room.lists: the directory size) */
	long users;            /* distinct acting users / connections */
	long image_kib;        /* msg.image: attachment size */
	long rooms;            /* msg.*: text rooms the messages spread over */
	const char *label;     /* extra label of the result rows (e.g. "2 instances") */
	const char *json;      /* append JSON lines here ("" = stdout only) */
	const char *admin_password;
} lg_config;

/* An account the generator acts as. */
typedef struct {
	char id[64];
	char email[96];
	char conn[40];
	_Atomic int online; /* on the fake gateway now */
} lg_user;

typedef struct lg lg;

/* One request of a scenario: fills e's payload (e's header is filled by
 * the caller) with storage from tmp, which lives until e is packed. */
typedef struct {
	union {
		Rb__CLogin login;
		Rb__CRoomId room;
		Rb__CCreateRoom create;
		Rb__CMessage msg;
		Rb__CGetMessages get;
		Rb__CVideo video;
		Rb__CTalking talking;
		Rb__GetPerms perms;
	} p;
	Rb__MessageIn in;
	char text[96];
} lg_tmp;

typedef struct {
	const char *name; /* "auth.login" */
	const char *part; /* the service whose CPU is read: "authsvc" */
	const char *svc;  /* subject rb.<svc>.<op> */
	const char *op;
	const char *about;
	int (*setup)(lg *g);
	/* Request i of the run, as user *u: user i % nusers unless the build
	 * changes it (NULL: an anonymous connection). NULL for an event scenario (room.lists: connection events, each
	 * timed until the next updateUsers on rb.out.all). */
	void (*build)(lg *g, uint64_t i, lg_user **u, Rb__Envelope *e, lg_tmp *t);
} lg_scenario;

struct lg {
	lg_config cfg;
	bus *bus;
	char gw_id[48];
	lg_user *users; /* cfg.users of them */
	size_t nusers;
	char password[40]; /* of every seeded account */
	char room_voice[48], room_text[48];
	char (*text_rooms)[48]; /* cfg.rooms made for this run (seed_text_rooms) */
	_Atomic size_t ntext;
	char *image_b64; /* msg.image */
	char **perms;    /* of the seeded accounts' group (get_perms) */
	size_t nperms;
	const lg_scenario *sc;
	/* room.lists: updateUsers seen on rb.out.all (any thread). */
	_Atomic unsigned long lists_seen, lists_bytes;
	void (*on_users_list)(void); /* called for each (cnats thread) */
};

const lg_scenario *lg_scenario_find(const char *name);
void lg_scenarios_print(void);

/* seed.c. Each returns 0, or -1 after printing why. */
int seed_connect(lg *g);
int seed_users(lg *g, size_t n, const char *group, int online);
int seed_accounts(lg *g, size_t n);
int seed_rooms(lg *g);
/* cfg.rooms text rooms of this run (rb.room.createroom), ids from updateRooms. */
int seed_text_rooms(lg *g);
int seed_image(lg *g);
int seed_messages(lg *g, int n);
/* g->perms: the permission set of users[0], from rb.auth.get_perms. */
int seed_perms(lg *g);
/* A blocking request of env to rb.<svc>.<op>; the reply (caller frees
 * with rb__reply__free_unpacked) or NULL. */
Rb__Reply *seed_request(lg *g, const char *svc, const char *op, Rb__Envelope *e);
/* The fake gateway's connection events for u (rb.evt.gw.conn_opened). */
void seed_conn_event(lg *g, lg_user *u, int opened);
void seed_stop(lg *g);

#endif
