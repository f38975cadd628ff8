/* What the handler files (handlers.c, users.c, groups.c) share: building
 * replies in the request's arena, refusals, account checks, publishing
 * deliveries, and the frame of every administrative write.
 * Everything here runs on the subscription thread, inside a handler. */
#ifndef AUTH_KIT_H
#define AUTH_KIT_H

#include <string.h>

#include "acct.h"
#include "auth.h"
#include "svc.h"

/* A protobuf-c message of type T in the request's arena, initialized. */
#define NEW(r, T, INIT) ((T *)memcpy(arena_alloc((r)->arena, sizeof(T)), &(T)INIT, sizeof(T)))

/* Queues packet msg (member `member`, case CASE) to the requester. */
#define DELIVER(r, CASE, member, msg)                                                              \
	do {                                                                                       \
		Rb__Delivery *d_ = svc_delivery(r);                                                \
		d_->packet_case = RB__DELIVERY__PACKET_##CASE;                                     \
		d_->member = (msg);                                                                \
		svc_reply_deliver((r), d_);                                                        \
	} while (0)

/* The request's op, e.g. "createuser" (static storage). */
const char *kit_op(const svc_req *r);
/* 1 when name is a group name (1-64 printable characters); else 0 after
 * BAD_REQUEST "<op>: groupName must be 1-64 printable characters". */
int kit_group_ok(svc_req *r, const char *name);
/* UNAVAILABLE "<op>: the account store is unavailable, try again" when the
 * database is down, else INTERNAL. */
void kit_fail_store(svc_req *r, pg_status s);

/* The refusal of an insert that did not happen (acct_insert): CONFLICT
 * "<op>: email is already in use" or "<op>: userName is taken: another
 * account's name looks the same". Nothing for ACCT_INSERTED. */
void kit_fail_taken(svc_req *r, acct_insert result);

/* The account as the user object of list replies (in r's arena). */
Rb__User *kit_user_msg(svc_req *r, const acct_user *u);
/* Fills u (in r's arena) from checked fields and hashes the password:
 * 0, or -1 with the refusal filled. u->grp is left to the caller. */
int kit_account_from(svc_req *r, acct_user *u, const char *email, const char *name,
		     const char *password);

/* Publishes, on rb.out.user.<uid>, a setPerms control delivery and then an
 * updatePerms packet with the same set: the gateway applies the first
 * before it forwards the second, so whatever the client sends after seeing
 * updatePerms is judged with the new set. 0, or -1 (logged by the bus). */
int kit_push_perms(svc_req *r, const char *uid, char **perms, size_t n);
/* Reads every group now and publishes updateGroups to all. 0 or -1. */
int kit_push_groups(svc_req *r);

/* An administrative write (users.c, groups.c). */
enum {
	KIT_SECRET = 1, /* the reply carries a secret: stored briefly (idem.h) */
	KIT_GUARD = 2,  /* refused if it leaves no account holding setGroupPerm */
};
typedef struct {
	/* Inside the transaction. Returns the store's status; a refusal is
	 * filled with svc_fail (then everything is rolled back). */
	pg_status (*writes)(svc_req *r, void *ctx);
	/* After the commit: deliveries and events. Not run for a replayed
	 * retry (the first try announced it). */
	void (*announce)(svc_req *r, void *ctx);
	int flags;
} kit_admin_op;

/* Runs op: takes the administration lock (below), opens the idempotent
 * transaction (idem.h; a retry gets the stored reply), runs writes, checks
 * the guard, commits, announces, flushes NATS, releases the lock.
 *
 * The lock (a session-level advisory lock on the handlers' connection) puts
 * every administrative write of every instance, its commit and its
 * publishing in one order: two admins changing one group at once on two
 * instances cannot leave a gateway holding the older permission set, and
 * updateGroups never goes out older than the one before it. */
void kit_admin_run(svc_req *r, const kit_admin_op *op, void *ctx);

#endif
