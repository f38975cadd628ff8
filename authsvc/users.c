#include "users.h"

#include <strings.h>

#include "event.h"
#include "kit.h"
#include "log.h"
#include "pw.h"
#include "uuid.h"
#include "valid.h"

/* What a write found or made, for its announce step. */
typedef struct {
	acct_user *u;
	const char *id;    /* the target */
	const char *value; /* new name or group */
	int withvengence;
	int group_created;
	char **perms; /* setusergroup: the new group's */
	size_t nperms;
} user_op;

static int target_ok(svc_req *r, const char *id, const char *field)
{
	if (uuid_valid(id))
		return 1;
	svc_fail(r, RB__CODE__BAD_REQUEST, "%s: %s must be a user id", kit_op(r), field);
	return 0;
}

static void no_such_user(svc_req *r)
{
	svc_fail(r, RB__CODE__NOT_FOUND, "%s: no such user", kit_op(r));
}

/* ---------------------------------------------------------- createuser */

static pg_status create_writes(svc_req *r, void *ctx)
{
	auth_app *app = r->app;
	user_op *op = ctx;
	acct_insert result = ACCT_INSERTED;
	pg_status s = acct_group_ensure(app->db, op->u->grp, &op->group_created);

	if (s == PG_OK)
		s = acct_user_insert(app->db, op->u, &result);
	if (s == PG_OK)
		kit_fail_taken(r, result);
	return s;
}

static void create_announce(svc_req *r, void *ctx)
{
	user_op *op = ctx;
	log_info("createuser: account %s <%s> in group %s, by %s", op->u->id, op->u->email,
		 op->u->grp, r->env->user_id ? r->env->user_id : "?");
	if (op->group_created)
		kit_push_groups(r);
	/* roomsvc adds the account to its directory and sends updateUsers. */
	event_user(r->app, "user_created", op->u);
}

/* The password is generated here and shown once, in the reply to the
 * requester. The reply is stored for retries as a secret (idem.h): a retry
 * must show the same password, and nothing else keeps it. */
void h_createuser(svc_req *r)
{
	static const kit_admin_op create = {create_writes, create_announce, KIT_SECRET};
	const Rb__CCreateUser *c = r->env->createuser;
	char pw[USERS_PASSWORD_CHARS + 1];
	acct_user u = {0};
	user_op op = {.u = &u};

	if (!kit_group_ok(r, c->groupname))
		return;
	pw_random(pw, USERS_PASSWORD_CHARS);
	if (kit_account_from(r, &u, c->email, c->username, pw) == 0) {
		u.grp = arena_strdup(r->arena, c->groupname);
		Rb__SText *m = NEW(r, Rb__SText, RB__STEXT__INIT);
		m->message =
			arena_printf(r->arena, "User %s (%s) created in group %s. Password: %s",
				     u.email, u.name, u.grp, pw);
		DELIVER(r, ADMIN_MESSAGE, adminmessage, m);
		kit_admin_run(r, &create, &op);
	}
	sodium_memzero(pw, sizeof pw);
}

/* ---------------------------------------------------------- updateuser */

static pg_status rename_writes(svc_req *r, void *ctx)
{
	auth_app *app = r->app;
	user_op *op = ctx;
	int taken = 0;
	pg_status s = acct_user_rename(app->db, r->arena, op->id, op->value, &op->u, &taken);

	if (s == PG_OK && taken)
		kit_fail_taken(r, ACCT_NAME_TAKEN);
	else if (s == PG_OK && !op->u)
		no_such_user(r);
	return s;
}

static void rename_announce(svc_req *r, void *ctx)
{
	user_op *op = ctx;
	log_info("updateuser: %s is now named \"%s\"", op->u->id, op->u->name);
	/* roomsvc re-broadcasts updateUsers from it; msgsvc uses the new name. */
	event_user(r->app, "user_updated", op->u);
}

/* Yourself, or renameUser (PROTOCOL.md §4): the gateway cannot tell, so the
 * row has no static permission and the rule is applied here. */
void h_updateuser(svc_req *r)
{
	static const kit_admin_op rename_op = {rename_writes, rename_announce, 0};
	const Rb__CUpdateUser *c = r->env->updateuser;
	const char *why;
	user_op op = {.id = c->userid, .value = c->username};

	if (!target_ok(r, c->userid, "userid"))
		return;
	int self = str_set(r->env->user_id) && !strcasecmp(r->env->user_id, c->userid);
	if (!self && !svc_has_perm(r->env, "renameUser")) {
		svc_fail(r, RB__CODE__DENIED, "Permission denied \"renameUser\"");
		return;
	}
	if ((why = valid_user_name(c->username))) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "updateuser: %s", why);
		return;
	}
	kit_admin_run(r, &rename_op, &op);
}

/* ---------------------------------------------------------- removeuser */

static pg_status remove_writes(svc_req *r, void *ctx)
{
	auth_app *app = r->app;
	user_op *op = ctx;
	pg_status s = acct_user_delete(app->db, r->arena, op->id, &op->u);

	if (s == PG_OK && !op->u)
		no_such_user(r);
	return s;
}

static void remove_announce(svc_req *r, void *ctx)
{
	user_op *op = ctx;
	Rb__Kick *k = NEW(r, Rb__Kick, RB__KICK__INIT);
	Rb__Delivery *d = svc_delivery(r);

	log_info("removeuser: account %s <%s> removed%s", op->u->id, op->u->email,
		 op->withvengence ? " with vengeance" : "");
	/* Every gateway holding a connection of the user closes it. */
	k->user_id = op->u->id;
	k->reason = "removed";
	d->packet_case = RB__DELIVERY__PACKET_KICK;
	d->kick = k;
	svc_deliver_user(r->bus, op->u->id, d);
	event_user_removed(r->app, op->u, op->withvengence);
}

/* Refused for your own account (you would lose the connection the reply
 * goes to, and an admin locking themself out is never what was meant), and
 * when no account would be left holding setGroupPerm. */
void h_removeuser(svc_req *r)
{
	static const kit_admin_op remove_op = {remove_writes, remove_announce, KIT_GUARD};
	const Rb__CRemoveUser *c = r->env->removeuser;
	user_op op = {.id = c->touserid, .withvengence = c->has_withvengence && c->withvengence};

	if (!target_ok(r, c->touserid, "touserid"))
		return;
	if (str_set(r->env->user_id) && !strcasecmp(r->env->user_id, c->touserid)) {
		svc_fail(r, RB__CODE__CONFLICT, "removeuser: you cannot remove your own account");
		return;
	}
	kit_admin_run(r, &remove_op, &op);
}

/* -------------------------------------------------------- setusergroup */

static pg_status setgroup_writes(svc_req *r, void *ctx)
{
	auth_app *app = r->app;
	user_op *op = ctx;
	pg_status s = acct_group_ensure(app->db, op->value, &op->group_created);

	if (s == PG_OK)
		s = acct_user_set_group(app->db, r->arena, op->id, op->value, &op->u);
	if (s == PG_OK && !op->u)
		no_such_user(r);
	if (s == PG_OK && op->u)
		s = acct_group_perms(app->db, r->arena, op->value, &op->perms, &op->nperms);
	return s;
}

static void setgroup_announce(svc_req *r, void *ctx)
{
	user_op *op = ctx;
	log_info("setusergroup: %s is now in group %s (%zu permissions)", op->u->id, op->u->grp,
		 op->nperms);
	kit_push_perms(r, op->u->id, op->perms, op->nperms);
	if (op->group_created)
		kit_push_groups(r);
	event_user(r->app, "user_updated", op->u);
	event_perms(r->app, op->u->grp, op->u->id);
}

/* Never refused for an unknown group: it is created empty. */
void h_setusergroup(svc_req *r)
{
	static const kit_admin_op setgroup = {setgroup_writes, setgroup_announce, KIT_GUARD};
	const Rb__CSetUserGroup *c = r->env->setusergroup;
	user_op op = {.id = c->userid, .value = c->groupname};

	if (target_ok(r, c->userid, "userid") && kit_group_ok(r, c->groupname))
		kit_admin_run(r, &setgroup, &op);
}
