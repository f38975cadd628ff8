/* Request handlers. Every request goes through svc's request path, which
 * finds the row, refuses what the row does not admit (shutdown, caller,
 * permission), runs the handler and counts the outcome; handlers only
 * check their fields.
 * Handler threads (svc's pool), each with its own Postgres connection. */
#include "handlers.h"

#include <string.h>

#include "acct.h"
#include "auth.h"
#include "event.h"
#include "groups.h"
#include "idem.h"
#include "kit.h"
#include "log.h"
#include "migrations.h"
#include "pw.h"
#include "routes.h"
#include "throttle.h"
#include "users.h"
#include "uuid.h"
#include "valid.h"

/* Every route keys replies by request_id and its refusals carry only their
 * message (main.c's svc flags). Each h_<type> is below, in users.c or in
 * groups.c; updateuser has no static permission: "yourself, or renameUser"
 * is decided by h_updateuser. */
SVC_ROUTE_TABLE(AUTHSVC_ROUTES, handlers, "authsvc")

/* --------------------------------------------------------------- login */

/* Everything a successful login answers: LoginResult, then login,
 * updatePerms, updateGroups, welcome, in that order. */
static void login_reply(svc_req *r, const acct_user *u)
{
	auth_app *app = r->app;
	Rb__SGroups *groups = NEW(r, Rb__SGroups, RB__SGROUPS__INIT);
	pg_status s = acct_group_list(app->db, r->arena, groups);
	if (s != PG_OK) {
		kit_fail_store(r, s);
		return;
	}
	/* A user whose group was removed keeps its name and has no perms. */
	const Rb__PermList *pl = acct_group_find(groups, u->grp);
	Rb__LoginResult *lr = NEW(r, Rb__LoginResult, RB__LOGIN_RESULT__INIT);
	lr->user_id = u->id;
	lr->name = u->name;
	lr->group = u->grp;
	lr->n_perms = pl ? pl->n_perms : 0;
	lr->perms = pl ? pl->perms : NULL;
	r->reply->login = lr;

	Rb__SLogin *l = NEW(r, Rb__SLogin, RB__SLOGIN__INIT);
	l->userid = u->id;
	l->has_success = l->success = 1;
	DELIVER(r, LOGIN, login, l);
	Rb__SPerms *p = NEW(r, Rb__SPerms, RB__SPERMS__INIT);
	p->n_perms = lr->n_perms;
	p->perms = lr->perms;
	DELIVER(r, UPDATE_PERMS, updateperms, p);
	DELIVER(r, UPDATE_GROUPS, updategroups, groups);
	/* An unset message renders as null; clients want the empty menus. */
	Rb__SWelcome *w = NEW(r, Rb__SWelcome, RB__SWELCOME__INIT);
	w->contextmenus = NEW(r, Rb__ContextMenus, RB__CONTEXT_MENUS__INIT);
	DELIVER(r, WELCOME, welcome, w);
}

void h_login(svc_req *r)
{
	auth_app *app = r->app;
	const Rb__CLogin *c = r->env->login;
	const char *addr = str_set(r->env->client_addr) ? r->env->client_addr : "";
	char *email = acct_email_normalize(r->arena, c->email);
	acct_user *u = NULL;

	if (!email || !c->password) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "login: %s is missing",
			 email ? "password" : "email");
		return;
	}
	/* Before any hash is spent: a locked pair or address, or a slowed
	 * email, costs nothing. */
	throttle_keys t;
	int allowed;
	pg_status s = throttle_check(app, email, addr, &t, &allowed);
	if (s == PG_OK && !allowed) {
		log_info("login: refused (throttled) for %s%s%s", email, *addr ? " from " : "",
			 addr);
		svc_fail(r, RB__CODE__DENIED, "Too many failed logins, try again later");
		return;
	}
	if (s == PG_OK)
		s = acct_user_by_email(app->db, r->arena, email, &u);
	if (s != PG_OK) {
		kit_fail_store(r, s);
		return;
	}
	/* An unknown email costs a verify too: the reply time must not tell
	 * which emails have accounts. */
	int ok = pw_verify(u ? u->pwhash : app->dummy_hash, c->password) && u;
	int locked = throttle_record(app, &t, ok);
	if (!ok) {
		log_info("login: denied for %s%s%s%s%s%s", email, *addr ? " from " : "", addr,
			 locked & THROTTLE_LOCKED_PAIR ? "; pair locked" : "",
			 locked & THROTTLE_LOCKED_ADDR ? "; address locked" : "",
			 locked & THROTTLE_SLOWED_EMAIL ? "; email slowed" : "");
		svc_fail(r, RB__CODE__DENIED, "Permission denied");
		return;
	}
	login_reply(r, u);
}

/* The acting user's permissions now: the gateway asks right after it has
 * subscribed to the user's subject, closing the window in which a change
 * published between the login's read and that subscription would be lost. */
void h_get_perms(svc_req *r)
{
	auth_app *app = r->app;
	const char *uid = r->env->user_id;
	PGresult *res = NULL;
	char **perms = NULL;
	size_t n = 0;

	if (!uid || !uuid_valid(uid)) {
		svc_fail(r, RB__CODE__DENIED, "Not logged in");
		return;
	}
	const char *p[] = {uid};
	pg_status s = pg_query(app->db, &res, "SELECT grp FROM auth.users WHERE id = $1", 1, p);
	if (s == PG_OK && PQntuples(res) == 0) {
		PQclear(res);
		svc_fail(r, RB__CODE__NOT_FOUND, "no such user");
		return;
	}
	char *grp = s == PG_OK ? arena_strdup(r->arena, PQgetvalue(res, 0, 0)) : NULL;
	if (res)
		PQclear(res);
	if (s == PG_OK)
		s = acct_group_perms(app->db, r->arena, grp, &perms, &n);
	if (s != PG_OK) {
		kit_fail_store(r, s);
		return;
	}
	Rb__LoginResult *lr = NEW(r, Rb__LoginResult, RB__LOGIN_RESULT__INIT);
	lr->user_id = arena_strdup(r->arena, uid);
	lr->group = grp;
	lr->perms = perms;
	lr->n_perms = n;
	r->reply->login = lr;
}

/* -------------------------------------------------------------- signup */

/* Inside the transaction: the group (from the invite, or the open sign-up
 * group), then the account. Fills the refusal when one is due. */
static pg_status signup_writes(svc_req *r, acct_user *u, const char *code)
{
	auth_app *app = r->app;
	acct_insert result = ACCT_INSERTED;
	pg_status s;

	if (code) {
		s = acct_invite_take(app->db, r->arena, code, &u->grp);
		if (s == PG_OK && !u->grp) {
			svc_fail(r, RB__CODE__CONFLICT,
				 "signup: invite code is invalid, used or expired");
			return s;
		}
	} else {
		u->grp = (char *)app->cfg->infinite_signup;
		s = acct_group_ensure(app->db, u->grp, NULL);
	}
	if (s == PG_OK)
		s = acct_user_insert(app->db, u, &result);
	if (s == PG_OK)
		kit_fail_taken(r, result);
	return s;
}

/* Runs writes in an idempotent transaction (idem.h) and, once committed,
 * announces the account. An account the retry of a request finds made
 * already was announced by the first try. */
static void create_account(svc_req *r, acct_user *u, const char *code,
			   pg_status (*writes)(svc_req *, acct_user *, const char *))
{
	auth_app *app = r->app;
	int replayed;
	pg_status s = idem_begin(&auth_replies, r, app->db, &replayed);

	if (s != PG_OK || replayed) {
		if (s != PG_OK)
			kit_fail_store(r, s);
		return;
	}
	s = writes(r, u, code);
	if (s != PG_OK || r->reply->code != RB__CODE__OK) {
		/* The invite is not consumed when the account is refused. */
		idem_abort(app->db);
		if (s != PG_OK)
			kit_fail_store(r, s);
		return;
	}
	s = idem_commit(&auth_replies, r, app->db);
	if (s != PG_OK) {
		kit_fail_store(r, s);
		return;
	}
	log_info("%s: account %s <%s> in group %s", kit_op(r), u->id, u->email, u->grp);
	event_user(app, "user_created", u);
}

void h_signup(svc_req *r)
{
	auth_app *app = r->app;
	const Rb__CSignup *c = r->env->signup;
	acct_user u = {0};
	int open = c->signup && !strcmp(c->signup, "signup");

	if (!c->signup) {
		svc_fail(r, RB__CODE__BAD_REQUEST,
			 "signup: signUp must be an invite code or \"signup\"");
		return;
	}
	if (open && !*app->cfg->infinite_signup) {
		svc_fail(r, RB__CODE__DENIED, "signup: open sign-up is disabled");
		return;
	}
	if (!open && !uuid_valid(c->signup)) {
		svc_fail(r, RB__CODE__BAD_REQUEST,
			 "signup: invite code is invalid, used or expired");
		return;
	}
	if (kit_account_from(r, &u, c->email, c->username, c->password) < 0)
		return;
	DELIVER(r, REFRESH_NOW, refreshnow, NEW(r, Rb__SEmpty, RB__SEMPTY__INIT));
	create_account(r, &u, open ? NULL : c->signup, signup_writes);
}

/* -------------------------------------------------------------- invite */

static pg_status invite_writes(svc_req *r, const char *grp, const char *code)
{
	auth_app *app = r->app;
	pg_status s = acct_group_ensure(app->db, grp, NULL);
	if (s == PG_OK)
		s = acct_invite_insert(app->db, code, grp, app->cfg->invite_ttl);
	return s;
}

/* invite and admin_invite: a single-use code into grp (created if missing),
 * answered with an invite packet. Idempotent like sign-up, so a retry
 * answers with the same code instead of making a second one. */
static void make_invite(svc_req *r, const char *grp)
{
	auth_app *app = r->app;
	char *code = arena_alloc(r->arena, UUID_STR_LEN + 1);
	int replayed;

	if (!kit_group_ok(r, grp))
		return;
	uuid_new(code);
	Rb__SInvite *inv = NEW(r, Rb__SInvite, RB__SINVITE__INIT);
	inv->invite_code = code;
	inv->url = arena_printf(r->arena, "%.*s/?invite=%s", app->public_url_len,
				app->cfg->public_url, code);
	DELIVER(r, INVITE, invite, inv);

	pg_status s = idem_begin(&auth_replies, r, app->db, &replayed);
	if (s == PG_OK && !replayed) {
		s = invite_writes(r, grp, code);
		if (s == PG_OK)
			s = idem_commit(&auth_replies, r, app->db);
		else
			idem_abort(app->db);
		if (s == PG_OK)
			log_info("%s: invite %s into group %s", kit_op(r), code, grp);
	}
	if (s != PG_OK)
		kit_fail_store(r, s);
}

void h_invite(svc_req *r)
{
	make_invite(r, r->env->invite->groupname);
}

void h_admin_invite(svc_req *r)
{
	make_invite(r, r->env->admin_invite->group);
}

/* ---------------------------------------------------------- list_users */

void h_list_users(svc_req *r)
{
	auth_app *app = r->app;
	acct_user **users;
	size_t n;
	pg_status s = acct_user_list(app->db, r->arena, &users, &n);

	if (s != PG_OK) {
		kit_fail_store(r, s);
		return;
	}
	for (size_t i = 0; i < n; i++)
		arena_push(r->arena, (void ***)&r->reply->users, &r->reply->n_users,
			   kit_user_msg(r, users[i]));
}

/* ------------------------------------------------------ operator tools */

static pg_status admin_writes(svc_req *r, acct_user *u, const char *unused)
{
	auth_app *app = r->app;
	acct_insert result = ACCT_INSERTED;
	pg_status s = acct_group_ensure(app->db, u->grp, NULL);

	(void)unused;
	if (s == PG_OK)
		s = acct_user_insert(app->db, u, &result);
	if (s == PG_OK)
		kit_fail_taken(r, result);
	return s;
}

void h_admin_create_user(svc_req *r)
{
	const Rb__AdminCreateUser *c = r->env->admin_create_user;
	acct_user u = {0};

	if (!text_name_ok(c->group, 1, 64)) {
		svc_fail(r, RB__CODE__BAD_REQUEST,
			 "admin_create_user: group must be 1-64 printable characters");
		return;
	}
	if (kit_account_from(r, &u, c->email, c->name, c->password) < 0)
		return;
	u.grp = arena_strdup(r->arena, c->group);
	/* The new account, so the tool can show its id. */
	arena_push(r->arena, (void ***)&r->reply->users, &r->reply->n_users, kit_user_msg(r, &u));
	create_account(r, &u, NULL, admin_writes);
}

void h_admin_set_password(svc_req *r)
{
	auth_app *app = r->app;
	const Rb__AdminSetPassword *c = r->env->admin_set_password;
	char *email = acct_email_normalize(r->arena, c->email);
	char hash[crypto_pwhash_STRBYTES];
	const char *why;
	int found = 0;

	if ((why = valid_email(email)) || (why = valid_password(c->password))) {
		svc_fail(r, RB__CODE__BAD_REQUEST, "admin_set_password: %s", why);
		return;
	}
	if (pw_hash(app->cfg, c->password, hash) < 0) {
		svc_fail(r, RB__CODE__INTERNAL, "admin_set_password: internal error");
		return;
	}
	pg_status s = acct_user_set_pwhash(app->db, email, hash, &found);
	if (s != PG_OK)
		kit_fail_store(r, s);
	else if (!found)
		svc_fail(r, RB__CODE__NOT_FOUND, "admin_set_password: no account has this email");
	else
		log_info("admin_set_password: new password for %s", email);
}
