#include "kit.h"

#include "idem.h"
#include "log.h"
#include "migrations.h"
#include "pw.h"
#include "uuid.h"
#include "valid.h"

/* Flushed to NATS before the administration lock is released, so the next
 * holder's publications reach the server after ours. */
#define FLUSH_TIMEOUT_MS 1000

const char *kit_op(const svc_req *r)
{
	return svc_envelope_type(r->env);
}

int kit_group_ok(svc_req *r, const char *name)
{
	if (text_name_ok(name, 1, 64))
		return 1;
	svc_fail(r, RB__CODE__BAD_REQUEST, "%s: groupName must be 1-64 printable characters",
		 kit_op(r));
	return 0;
}

void kit_fail_store(svc_req *r, pg_status s)
{
	if (s == PG_DOWN)
		svc_fail(r, RB__CODE__UNAVAILABLE,
			 "%s: the account store is unavailable, try again", kit_op(r));
	else
		svc_fail(r, RB__CODE__INTERNAL, "%s: internal error", kit_op(r));
}

void kit_fail_taken(svc_req *r, acct_insert result)
{
	if (result == ACCT_EMAIL_TAKEN)
		svc_fail(r, RB__CODE__CONFLICT, "%s: email is already in use", kit_op(r));
	else if (result == ACCT_NAME_TAKEN)
		svc_fail(r, RB__CODE__CONFLICT,
			 "%s: userName is taken: another account's name looks the same", kit_op(r));
}

Rb__User *kit_user_msg(svc_req *r, const acct_user *u)
{
	auth_app *app = r->app;
	Rb__User *m = NEW(r, Rb__User, RB__USER__INIT);
	m->id = u->id;
	m->name = u->name;
	m->has_hidden = 1;
	m->hidden = u->hidden;
	m->avatar = acct_avatar(r->arena, app->cfg->gravatar, u->email);
	return m;
}

int kit_account_from(svc_req *r, acct_user *u, const char *email, const char *name,
		     const char *password)
{
	auth_app *app = r->app;
	const char *why;
	char *hash;

	u->email = acct_email_normalize(r->arena, email);
	if ((why = valid_user_name(name)) || (why = valid_password(password)) ||
	    (why = valid_email(u->email))) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "%s: %s", kit_op(r), why);
		return -1;
	}
	hash = arena_alloc(r->arena, crypto_pwhash_STRBYTES);
	if (pw_hash(app->cfg, password, hash) < 0) {
		svc_fail(r, RB__CODE__INTERNAL, "%s: internal error", kit_op(r));
		return -1;
	}
	u->id = arena_alloc(r->arena, UUID_STR_LEN + 1);
	uuid_new(u->id);
	u->name = arena_strdup(r->arena, name);
	u->pwhash = hash;
	return 0;
}

/* ---------------------------------------------------------- publishing */

int kit_push_perms(svc_req *r, const char *uid, char **perms, size_t n)
{
	Rb__SetPerms *sp = NEW(r, Rb__SetPerms, RB__SET_PERMS__INIT);
	Rb__SPerms *up = NEW(r, Rb__SPerms, RB__SPERMS__INIT);
	Rb__Delivery *control = svc_delivery(r), *packet = svc_delivery(r);

	sp->user_id = (char *)uid;
	sp->perms = perms;
	sp->n_perms = n;
	control->packet_case = RB__DELIVERY__PACKET_SET_PERMS;
	control->setperms = sp;
	up->perms = perms;
	up->n_perms = n;
	packet->packet_case = RB__DELIVERY__PACKET_UPDATE_PERMS;
	packet->updateperms = up;
	if (svc_deliver_user(r->bus, uid, control) < 0)
		return -1;
	return svc_deliver_user(r->bus, uid, packet);
}

int kit_push_groups(svc_req *r)
{
	auth_app *app = r->app;
	Rb__SGroups *groups = NEW(r, Rb__SGroups, RB__SGROUPS__INIT);
	pg_status s = acct_group_list(app->db, r->arena, groups);

	if (s != PG_OK) {
		log_warn("%s: updateGroups not sent: %s", kit_op(r), pg_status_text(s));
		return -1;
	}
	Rb__Delivery *d = svc_delivery(r);
	d->packet_case = RB__DELIVERY__PACKET_UPDATE_GROUPS;
	d->updategroups = groups;
	return svc_deliver_all(r->bus, d);
}

/* ------------------------------------------------------ administration */

static const char *const lock_sql = "SELECT pg_advisory_lock(hashtextextended('auth.admin', 0))";
static const char *const unlock_sql =
	"SELECT pg_advisory_unlock(hashtextextended('auth.admin', 0))";

/* Inside the transaction: the guard around the op's writes. */
static pg_status guarded_writes(svc_req *r, const kit_admin_op *op, void *ctx)
{
	auth_app *app = r->app;
	int before = 0, after = 1;
	pg_status s = PG_OK;

	if (op->flags & KIT_GUARD)
		s = acct_admins_exist(app->db, &before);
	if (s == PG_OK)
		s = op->writes(r, ctx);
	if (s == PG_OK && r->reply->code == RB__CODE__OK && before)
		s = acct_admins_exist(app->db, &after);
	if (s == PG_OK && r->reply->code == RB__CODE__OK && !after)
		svc_fail(r, RB__CODE__CONFLICT,
			 "%s: refused: no account would be left with permission setGroupPerm",
			 kit_op(r));
	return s;
}

void kit_admin_run(svc_req *r, const kit_admin_op *op, void *ctx)
{
	auth_app *app = r->app;
	int replayed = 0;
	pg_status s = pg_query(app->db, NULL, lock_sql, 0, NULL);

	if (s != PG_OK) {
		kit_fail_store(r, s);
		return;
	}
	s = idem_begin(&auth_replies, r, app->db, &replayed);
	if (s == PG_OK && !replayed) {
		s = guarded_writes(r, op, ctx);
		if (s != PG_OK || r->reply->code != RB__CODE__OK)
			idem_abort(app->db);
		else
			s = (op->flags & KIT_SECRET) ? idem_commit_secret(&auth_replies, r, app->db)
						     : idem_commit(&auth_replies, r, app->db);
		if (s == PG_OK && r->reply->code == RB__CODE__OK)
			op->announce(r, ctx);
	}
	if (s != PG_OK)
		kit_fail_store(r, s);
	/* A broken connection released the lock with its session already. */
	(void)bus_flush(r->bus, FLUSH_TIMEOUT_MS);
	(void)pg_query(app->db, NULL, unlock_sql, 0, NULL);
}
