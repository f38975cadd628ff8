#include "groups.h"

#include "event.h"
#include "kit.h"
#include "log.h"
#include "valid.h"

/* What a write found, for its announce step. */
typedef struct {
	const char *name;
	const Rb__CUpdateGroup *changes; /* updategroup */
	int perms_changed;               /* updategroup, removegroup */
	char **perms;                    /* the group's afterwards */
	size_t nperms;
	char **members;
	size_t nmembers;
} group_op;

/* updateGroups to all, then the members' new set to each of them. */
static void announce(svc_req *r, void *ctx)
{
	group_op *op = ctx;

	kit_push_groups(r);
	for (size_t i = 0; i < op->nmembers; i++)
		kit_push_perms(r, op->members[i], op->perms, op->nperms);
	if (op->perms_changed) {
		log_info("%s: group %s has %zu permissions; %zu members told", kit_op(r), op->name,
			 op->nperms, op->nmembers);
		event_perms(r->app, op->name, NULL);
	}
}

/* --------------------------------------------------------- creategroup */

static pg_status create_writes(svc_req *r, void *ctx)
{
	auth_app *app = r->app;
	group_op *op = ctx;
	return acct_group_ensure(app->db, op->name, NULL);
}

/* An existing group is fine: nothing changes, updateGroups goes out anyway. */
void h_creategroup(svc_req *r)
{
	static const kit_admin_op create = {create_writes, announce, 0};
	group_op op = {.name = r->env->creategroup->groupname};

	if (kit_group_ok(r, op.name))
		kit_admin_run(r, &create, &op);
}

/* --------------------------------------------------------- updategroup */

/* Every change names exactly one known permission; else the refusal names
 * the first that does not, and nothing is written. */
static int changes_ok(svc_req *r, const Rb__CUpdateGroup *c)
{
	for (size_t i = 0; i < c->n_changes; i++) {
		const Rb__GroupChange *ch = c->changes[i];
		const char *perm = ch->add ? ch->add : ch->remove;
		if (!ch->add == !ch->remove) {
			svc_fail(
				r, RB__CODE__BAD_REQUEST,
				"updategroup: changes[%zu] must have exactly one of add and remove",
				i);
			return 0;
		}
		if (!acct_perm_known(perm)) {
			svc_fail(r, RB__CODE__BAD_REQUEST,
				 "updategroup: unknown permission \"%.64s\"", perm);
			return 0;
		}
	}
	return 1;
}

static pg_status update_writes(svc_req *r, void *ctx)
{
	auth_app *app = r->app;
	group_op *op = ctx;
	pg_status s = acct_group_ensure(app->db, op->name, NULL);

	for (size_t i = 0; s == PG_OK && i < op->changes->n_changes; i++) {
		const Rb__GroupChange *ch = op->changes->changes[i];
		s = ch->add ? acct_group_grant(app->db, op->name, ch->add)
			    : acct_group_revoke(app->db, op->name, ch->remove);
	}
	if (s == PG_OK)
		s = acct_group_perms(app->db, r->arena, op->name, &op->perms, &op->nperms);
	if (s == PG_OK)
		s = acct_group_members(app->db, r->arena, op->name, &op->members, &op->nmembers);
	return s;
}

/* Changes apply in order, all or none; a missing group is created. */
void h_updategroup(svc_req *r)
{
	static const kit_admin_op update = {update_writes, announce, KIT_GUARD};
	const Rb__CUpdateGroup *c = r->env->updategroup;
	group_op op = {.name = c->groupname, .changes = c, .perms_changed = 1};

	if (kit_group_ok(r, op.name) && changes_ok(r, c))
		kit_admin_run(r, &update, &op);
}

/* --------------------------------------------------------- removegroup */

static pg_status remove_writes(svc_req *r, void *ctx)
{
	auth_app *app = r->app;
	group_op *op = ctx;
	pg_status s = acct_group_members(app->db, r->arena, op->name, &op->members, &op->nmembers);

	if (s == PG_OK)
		s = acct_group_delete(app->db, op->name);
	return s;
}

/* The group row and its permissions go; members keep the group's name
 * (auth.users.grp is not a foreign key) and have no permissions until they
 * are moved or the group is made again. An unknown group is fine. */
void h_removegroup(svc_req *r)
{
	static const kit_admin_op remove_op = {remove_writes, announce, KIT_GUARD};
	group_op op = {.name = r->env->removegroup->groupname, .perms_changed = 1};

	if (kit_group_ok(r, op.name))
		kit_admin_run(r, &remove_op, &op);
}
