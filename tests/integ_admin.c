/* authsvc administration over the protocol: invite, createuser, updateuser,
 * removeuser, setusergroup, creategroup, updategroup, removegroup, each as
 * an admin and as a plain user (who must be refused with the row's
 * permission), with a second connection of the affected user watching;
 * the revoke race over two gateways; login throttling; rebuttalctl.
 *
 * Groups made here are named "<what>-<uniq>" so that no test changes the
 * groups `admin` and `user` that the other suites rely on. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus.h"
#include "integ.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"

#define ADMIN_GW2 "gateway adm2" /* this file's second gateway (instance gateway-adm2) */

/* ------------------------------------------------------------ helpers */

static int has(json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (json_is_string(json_array_get(arr, i)) &&
		    !strcmp(json_string_value(json_array_get(arr, i)), s))
			return 1;
	return 0;
}

static void user(wsc_ctx *ctx, wsc *adm, const char *group, const char *name, who *w)
{
	user_at(ctx, adm, group, name, gw_port(), w);
}

static int gw2_port(void)
{
	return gateway_at(ADMIN_GW2);
}

/* The group tests' start: a plain user p, and a member m of a new group
 * (named <prefix>-<uniq> into group, 64 bytes); returns a second
 * connection of m's on the gateway at port. */
static wsc *group_member(wsc_ctx *ctx, wsc *a, const char *prefix, char *group, who *p, who *m,
			 int port)
{
	snprintf(group, 64, "%s-%s", prefix, uniq());
	user(ctx, a, "user", "plain", p);
	user(ctx, a, group, "member", m);
	return second_conn(ctx, m, port);
}

/* Waits for an updatePerms on c that lists exactly `n` permissions, among
 * them those named after n. Earlier updatePerms frames are skipped: a
 * connection that logs in while its group changes may be told the new
 * permissions twice (the login's re-read and the change's broadcast),
 * and the repeat may come after the test's next change. */
#define expect_perms(c, n, ...)                                                                    \
	expect_perms_at(__FILE__, __LINE__, (c), (n), (const char *const[]){__VA_ARGS__, NULL})
static void expect_perms_at(const char *file, int line, wsc *c, size_t n, const char *const *want)
{
	long long end = now_ms() + WAIT_MS;
	char *last = NULL;
	while (now_ms() < end) {
		json_t *j = wsc_expect(c, "updatePerms", (int)(end - now_ms()));
		if (!j)
			break;
		json_t *perms = json_object_get(j, "perms");
		int ok = json_array_size(perms) == n;
		for (size_t i = 0; ok && want[i]; i++)
			ok = has(perms, want[i]);
		free(last);
		last = json_dumps(perms, JSON_COMPACT);
		json_decref(j);
		if (ok) {
			free(last);
			return;
		}
	}
	rt_fail(file, line, "no updatePerms with %zu permissions as wanted (last: %s)", n,
		last ? last : wsc_last_error(c));
}

/* Waits for an updateGroups on c whose `groups` has group `name` with
 * exactly the permissions listed (NULL-terminated), or, with absent set,
 * lacks the group. Earlier updateGroups frames are skipped. */
static void expect_group_at(const char *file, int line, wsc *c, const char *name, int absent,
			    const char *const *perms)
{
	long long end = now_ms() + WAIT_MS;
	char *last = NULL;
	while (now_ms() < end) {
		json_t *j = wsc_expect(c, "updateGroups", (int)(end - now_ms()));
		if (!j)
			break;
		json_t *g = json_object_get(json_object_get(j, "groups"), name);
		size_t n = 0;
		int ok = absent ? !g : json_is_array(g);
		for (; ok && perms && perms[n]; n++)
			ok = has(g, perms[n]);
		ok = ok && (absent || json_array_size(g) == n);
		free(last);
		last = json_dumps(json_object_get(j, "groups"), JSON_COMPACT);
		json_decref(j);
		if (ok) {
			free(last);
			return;
		}
	}
	rt_fail(file, line, "no updateGroups with group %s %s (last: %s)", name,
		absent ? "absent" : "as wanted", last ? last : wsc_last_error(c));
}
#define expect_group(c, name, ...)                                                                 \
	expect_group_at(__FILE__, __LINE__, (c), (name), 0,                                        \
			(const char *const[]){__VA_ARGS__, NULL})
#define expect_group_empty(c, name) expect_group_at(__FILE__, __LINE__, (c), (name), 0, NULL)
#define expect_group_absent(c, name) expect_group_at(__FILE__, __LINE__, (c), (name), 1, NULL)

/* Waits for an updateUsers (roomsvc) listing user id with this name, or
 * (name NULL) not listing user id at all. */
static void expect_user_named_at(const char *file, int line, wsc *c, const char *id,
				 const char *name)
{
	long long end = now_ms() + WAIT_MS;
	while (now_ms() < end) {
		json_t *j = wsc_expect(c, "updateUsers", (int)(end - now_ms()));
		if (!j)
			break;
		json_t *list = json_object_get(j, "userList");
		int listed = 0, named = 0;
		for (size_t i = 0; i < json_array_size(list); i++) {
			json_t *u = json_array_get(list, i);
			if (!jstr(u, "id") || strcmp(jstr(u, "id"), id))
				continue;
			listed = 1;
			named = name && jstr(u, "name") && !strcmp(jstr(u, "name"), name);
		}
		json_decref(j);
		if (name ? named : !listed)
			return;
	}
	rt_fail(file, line, "no updateUsers with %s %s%s%s: %s", id, name ? "named \"" : "absent",
		name ? name : "", name ? "\"" : "", wsc_last_error(c));
}
#define expect_user_named(c, id, name) expect_user_named_at(__FILE__, __LINE__, (c), (id), (name))
#define expect_user_gone(c, id) expect_user_named_at(__FILE__, __LINE__, (c), (id), NULL)

/* A login that must be refused with `part` and then closed. */
static void login_refused(wsc_ctx *ctx, const char *email, const char *pw, const char *part)
{
	wsc *c = client(ctx);
	sendp(c, "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"%s\",\"protocol\":\"v1\"}",
	      email, pw);
	expect_error(c, part);
	CHECK_MSG(wsc_wait_closed(c, WAIT_MS) >= 0, "socket not closed after refused login");
	wsc_close(c);
}

/* The plain user gets the row's permission in its refusal, and stays. */
static void denied(wsc *c, const char *perm, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void denied(wsc *c, const char *perm, const char *fmt, ...)
{
	char pkt[512], want[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pkt, sizeof pkt, fmt, ap);
	va_end(ap);
	sendp(c, "%s", pkt);
	snprintf(want, sizeof want, "Permission denied \"%s\"", perm);
	expect_error(c, want);
	CHECK(!wsc_is_closed(c));
}

/* ------------------------------------------------------------- invite */

void test_admin_invite(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p;
	user(ctx, a, "user", "plain", &p);
	denied(p.c, "inviteUserAny", "{\"type\":\"invite\",\"groupName\":\"user\"}");

	/* The alias group_name; the url is the deployment's public URL. */
	sendp(a, "{\"type\":\"invite\",\"group_name\":\"inv-%s\"}", uniq());
	json_t *j = expect(a, "invite");
	const char *code = jstr(j, "invite_code"), *url = jstr(j, "url");
	char want[256];
	snprintf(want, sizeof want, "%s/?invite=%s", rt_env("REBUTTAL_PUBLIC_URL"), code);
	CHECK_EQ_STR(url, want);
	json_decref(j);

	/* Expiry (REBUTTAL_INVITE_TTL, 60 s at least): the invite is aged in
	 * the database rather than waited for. */
	char *code2 = make_invite(a, "user"), cmd[1024];
	snprintf(
		cmd, sizeof cmd,
		"psql -X -q -v ON_ERROR_STOP=1 '%s' -c \"UPDATE auth.invites SET expires_at = now()"
		" - interval '1 second' WHERE code = '%s'\" >/dev/null 2>&1",
		pg_conninfo_as("authsvc"), code2);
	CHECK_EQ_INT(system(cmd), 0);
	wsc *s = client(ctx);
	sendp(s,
	      "{\"type\":\"signup\",\"userName\":\"late\",\"password\":\"" TEST_PASSWORD "\","
	      "\"email\":\"late-%s@test.example\",\"signUp\":\"%s\"}",
	      uniq(), code2);
	expect_error(s, "invalid, used or expired");
	free(code2);
	wsc_ctx_free(ctx);
}

/* --------------------------------------------------------- createuser */

void test_admin_createuser(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p;
	user(ctx, a, "user", "plain", &p);
	char email[96], group[64], name[32];
	snprintf(email, sizeof email, "made-%s@test.example", uniq());
	snprintf(group, sizeof group, "made-%s", uniq());
	snprintf(name, sizeof name, "made%s", uniq());
	name[20] = '\0';
	denied(p.c, "createUser",
	       "{\"type\":\"createuser\",\"userName\":\"%s\",\"groupName\":\"user\",\"email\":\"%s\"}",
	       name, email);

	sendp(a,
	      "{\"type\":\"createuser\",\"userName\":\"%s\",\"groupName\":\"%s\",\"email\":\"%s\"}",
	      name, group, email);
	json_t *m = wsc_expect_noerr(a, "adminMessage", WAIT_MS);
	CHECK_MSG(m, "createuser: %s", wsc_last_error(a));
	const char *text = jstr(m, "message"), *pw = text ? strstr(text, "Password: ") : NULL;
	CHECK_MSG(text && strstr(text, email) && pw, "adminMessage \"%s\"", text ? text : "");
	char password[64];
	snprintf(password, sizeof password, "%s", pw + strlen("Password: "));
	CHECK_EQ_INT(strlen(password), 16);
	json_decref(m);
	/* The new group, empty, to everyone (the plain user too). */
	expect_group_empty(p.c, group);

	/* The account logs in with that password, in its (empty) group. */
	wsc *n = client(ctx);
	sendp(n, "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"%s\",\"protocol\":\"v1\"}",
	      email, password);
	json_t *l = expect(n, "login");
	char uid[64];
	snprintf(uid, sizeof uid, "%s", jstr(l, "userid"));
	json_decref(l);
	expect_perms(n, 0, NULL);
	/* updateUsers to all lists it (roomsvc's directory, from user_created). */
	expect_user_named(p.c, uid, name);

	/* Duplicate email (any case): refused, nothing made. */
	for (char *q = email; *q; q++)
		*q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
	sendp(a,
	      "{\"type\":\"createuser\",\"userName\":\"other\",\"groupName\":\"user\",\"email\":\"%s\"}",
	      email);
	expect_error(a, "email is already in use");
	wsc_ctx_free(ctx);
}

/* A retry of createuser (same request id, as a gateway sends it after a
 * timeout) answers with the first try's reply, the same password, and
 * makes and announces the account once. Sent over the bus directly, as a
 * gateway would. */
static atomic_int created_events;
static char created_name[32];

/* cnats thread. */
static void on_created(void *ud, const bus_msg *m)
{
	Rb__UserEvent *ev = rb__user_event__unpack(NULL, m->len, m->data);
	(void)ud;
	if (ev && ev->name && !strcmp(ev->name, created_name))
		atomic_fetch_add(&created_events, 1);
	rb__user_event__free_unpacked(ev, NULL);
}

static const char *admin_text(const Rb__Reply *r)
{
	CHECK_MSG(r->code == RB__CODE__OK, "createuser: %s", r->message ? r->message : "?");
	CHECK(r->n_deliver == 1 &&
	      r->deliver[0]->packet_case == RB__DELIVERY__PACKET_ADMIN_MESSAGE);
	return r->deliver[0]->adminmessage->message;
}

void test_admin_createuser_retry(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	char root_id[64], rid[UUID_STR_LEN + 1], email[96];
	snprintf(root_id, sizeof root_id, "%s",
		 login(client(ctx), "root@localhost", admin_password()));
	snprintf(created_name, sizeof created_name, "retry%s", uniq());
	created_name[24] = '\0';
	snprintf(email, sizeof email, "retry-%s@test.example", uniq());
	bus *b = bus_as("tester", "integ-admin");
	bus_sub *sub = bus_subscribe(b, "rb.evt.auth.user_created", NULL, on_created, NULL);
	CHECK(sub && bus_flush(b, WAIT_MS) == 0);

	char *perms[] = {"createUser"};
	Rb__CCreateUser cu = RB__CCREATE_USER__INIT;
	Rb__Envelope env = RB__ENVELOPE__INIT;
	uuid_new(rid);
	cu.username = created_name;
	cu.groupname = "user";
	cu.email = email;
	env.request_id = rid;
	env.gateway_id = "integ-admin-gw";
	env.conn_id = "1";
	env.user_id = root_id;
	env.perms = perms;
	env.n_perms = 1;
	env.payload_case = RB__ENVELOPE__PAYLOAD_CREATEUSER;
	env.createuser = &cu;
	Rb__Reply *r1 = ask(b, "rb.auth.createuser", &env),
		  *r2 = ask(b, "rb.auth.createuser", &env);
	CHECK_EQ_STR(admin_text(r1), admin_text(r2));
	/* A new request for the same email is a new attempt: refused. */
	uuid_new(rid);
	Rb__Reply *r3 = ask(b, "rb.auth.createuser", &env);
	CHECK_EQ_INT(r3->code, RB__CODE__CONFLICT);
	/* Without the permission in the envelope: refused by authsvc too. */
	uuid_new(rid);
	env.n_perms = 0;
	Rb__Reply *r4 = ask(b, "rb.auth.createuser", &env);
	CHECK_EQ_INT(r4->code, RB__CODE__DENIED);
	CHECK_EQ_STR(r4->message, "Permission denied \"createUser\"");

	const char *pw = strstr(admin_text(r1), "Password: ") + strlen("Password: ");
	login(client(ctx), email, pw);
	usleep(300000);
	CHECK_EQ_INT(atomic_load(&created_events), 1);
	rb__reply__free_unpacked(r1, NULL);
	rb__reply__free_unpacked(r2, NULL);
	rb__reply__free_unpacked(r3, NULL);
	rb__reply__free_unpacked(r4, NULL);
	bus_sub_close(sub);
	bus_close(b);
	wsc_ctx_free(ctx);
}

/* --------------------------------------------------------- updateuser */

void test_admin_updateuser(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p, q;
	user(ctx, a, "user", "plain", &p);
	user(ctx, a, "user", "other", &q);
	wsc *watch = second_conn(ctx, &p, gw_port());
	char n1[32], n2[32];
	snprintf(n1, sizeof n1, "self%s", uniq());
	snprintf(n2, sizeof n2, "byadmin%s", uniq());
	n1[24] = n2[24] = '\0';

	/* Yourself: no permission needed. */
	sendp(p.c, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"%s\"}", p.id, n1);
	expect_user_named(watch, p.id, n1);
	/* Someone else: renameUser. */
	denied(p.c, "renameUser",
	       "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"nope\"}", q.id);
	/* The admin renames the plain user: its other connection sees it. */
	sendp(a, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"%s\"}", p.id, n2);
	expect_user_named(watch, p.id, n2);
	expect_user_named(q.c, p.id, n2);

	/* Name rules as in sign-up; unknown user. */
	sendp(a, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"x\"}", p.id);
	expect_error(a, "userName");
	sendp(a, "{\"type\":\"updateuser\",\"userid\":\"%s\",\"userName\":\"bad\\u0007\"}", p.id);
	expect_error(a, "userName");
	sendp(a, "{\"type\":\"updateuser\",\"userid\":\"0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e\","
		 "\"userName\":\"ghost\"}");
	expect_error(a, "no such user");
	/* The new name is the account's: a fresh login shows it in the list. */
	wsc *again = second_conn(ctx, &p, gw_port());
	expect_user_named(again, p.id, n2);
	wsc_ctx_free(ctx);
}

/* --------------------------------------------------------- removeuser */

void test_admin_removeuser(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p, victim;
	user(ctx, a, "user", "plain", &p);
	user(ctx, a, "user", "victim", &victim);
	int port2 = gw2_port();
	wsc *v2 = second_conn(ctx, &victim, gw_port()), *v3 = second_conn(ctx, &victim, port2);

	/* Listed first: denied() below skips (drops) every other frame until
	 * its error, and the lists that show the victim may all come before
	 * that error. */
	expect_user_named(p.c, victim.id, "victim");
	denied(p.c, "removeUser", "{\"type\":\"removeuser\",\"touserid\":\"%s\"}", victim.id);
	CHECK(!wsc_is_closed(victim.c));

	/* Every connection of the target, on every gateway, is closed. */
	sendp(a, "{\"type\":\"removeuser\",\"touserid\":\"%s\",\"withvengence\":true}", victim.id);
	CHECK_MSG(wsc_wait_closed(victim.c, WAIT_MS) >= 0, "victim's socket still open");
	CHECK_MSG(wsc_wait_closed(v2, WAIT_MS) >= 0, "victim's second socket still open");
	CHECK_MSG(wsc_wait_closed(v3, WAIT_MS) >= 0, "victim's socket on gateway 2 still open");
	CHECK_EQ_INT(wsc_close_code(victim.c), 4000);
	CHECK(!wsc_is_closed(p.c));
	/* updateUsers to all without the account (roomsvc, from user_removed). */
	expect_user_gone(p.c, victim.id);
	login_refused(ctx, victim.email, TEST_PASSWORD, "Permission denied");

	/* Again (already gone), yourself, a bad id. */
	sendp(a, "{\"type\":\"removeuser\",\"touserid\":\"%s\"}", victim.id);
	expect_error(a, "no such user");
	const char *root = login(client(ctx), "root@localhost", admin_password());
	char root_id[64];
	snprintf(root_id, sizeof root_id, "%s", root);
	sendp(a, "{\"type\":\"removeuser\",\"touserid\":\"%s\"}", root_id);
	expect_error(a, "your own account");
	CHECK(!wsc_is_closed(a));
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------------- setusergroup */

void test_admin_setusergroup(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p, t;
	user(ctx, a, "user", "plain", &p);
	user(ctx, a, "user", "target", &t);
	int port2 = gw2_port();
	wsc *t2 = second_conn(ctx, &t, port2);
	char group[64];
	snprintf(group, sizeof group, "sg-%s", uniq());

	denied(p.c, "setUserGroup",
	       "{\"type\":\"setusergroup\",\"userid\":\"%s\",\"groupName\":\"admin\"}", p.id);

	/* Into a group that does not exist: made empty, never refused. */
	sendp(a, "{\"type\":\"setusergroup\",\"userid\":\"%s\",\"groupName\":\"%s\"}", t.id, group);
	expect_perms(t.c, 0, NULL);
	expect_perms(t2, 0, NULL);
	expect_group_empty(p.c, group);

	/* Into admin: every permission, and the gateways judge with them at
	 * once (creategroup needs setGroupPerm). */
	sendp(a, "{\"type\":\"setusergroup\",\"userid\":\"%s\",\"groupName\":\"admin\"}", t.id);
	expect_perms(t.c, 16, "setGroupPerm", "createUser");
	expect_perms(t2, 16, "setGroupPerm", "createUser");
	sendp(t2, "{\"type\":\"creategroup\",\"groupName\":\"%s\"}", group);
	json_t *g = wsc_expect_noerr(t2, "updateGroups", WAIT_MS);
	CHECK_MSG(g, "creategroup as new admin: %s", wsc_last_error(t2));
	json_decref(g);

	/* Back to user: the next packet is judged with the smaller set. */
	sendp(a, "{\"type\":\"setusergroup\",\"userid\":\"%s\",\"groupName\":\"user\"}", t.id);
	expect_perms(t.c, 2, "sendMessage", "joinVoiceRoom");
	expect_perms(t2, 2, "sendMessage", "joinVoiceRoom");
	denied(t.c, "setGroupPerm", "{\"type\":\"creategroup\",\"groupName\":\"%s\"}", group);
	denied(t2, "setGroupPerm", "{\"type\":\"creategroup\",\"groupName\":\"%s\"}", group);

	sendp(a, "{\"type\":\"setusergroup\",\"userid\":\"0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e\","
		 "\"groupName\":\"user\"}");
	expect_error(a, "no such user");
	wsc_ctx_free(ctx);
}

/* -------------------------------------------------------- creategroup */

void test_admin_creategroup(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p;
	user(ctx, a, "user", "plain", &p);
	char group[64];
	snprintf(group, sizeof group, "cg-%s", uniq());

	denied(p.c, "setGroupPerm", "{\"type\":\"creategroup\",\"groupName\":\"%s\"}", group);
	sendp(a, "{\"type\":\"creategroup\",\"groupName\":\"%s\"}", group);
	expect_group_empty(a, group);
	expect_group_empty(p.c, group);
	/* It exists already: fine, updateGroups again, no error. */
	sendp(a, "{\"type\":\"creategroup\",\"groupName\":\"%s\"}", group);
	json_t *g = wsc_expect_noerr(a, "updateGroups", WAIT_MS);
	CHECK_MSG(g, "creategroup again: %s", wsc_last_error(a));
	json_decref(g);
	expect_group_empty(p.c, group);
	wsc_ctx_free(ctx);
}

/* -------------------------------------------------------- updategroup */

void test_admin_updategroup(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p, m;
	char group[64];
	wsc *m2 = group_member(ctx, a, "ug", group, &p, &m, gw2_port());

	denied(p.c, "setGroupPerm",
	       "{\"type\":\"updategroup\",\"groupName\":\"user\",\"changes\":[{\"add\":\"createUser\"}]}");

	/* In order: add, add, remove. */
	sendp(a,
	      "{\"type\":\"updategroup\",\"groupName\":\"%s\",\"changes\":[{\"add\":\"createRoom\"},"
	      "{\"add\":\"sendMessage\"},{\"remove\":\"sendMessage\"}]}",
	      group);
	expect_perms(m.c, 1, "createRoom");
	expect_perms(m2, 1, "createRoom");
	expect_group(p.c, group, "createRoom");

	/* An unknown permission: an error naming it, and nothing applied. */
	sendp(a,
	      "{\"type\":\"updategroup\",\"groupName\":\"%s\",\"changes\":[{\"add\":\"joinVoiceRoom\"},"
	      "{\"add\":\"flyToTheMoon\"}]}",
	      group);
	expect_error(a, "flyToTheMoon");
	sendp(a,
	      "{\"type\":\"updategroup\",\"groupName\":\"%s\",\"changes\":[{\"remove\":\"createRoom\"},"
	      "{\"add\":\"joinVoiceRoom\",\"remove\":\"createRoom\"}]}",
	      group);
	expect_error(a, "changes[1]");
	sendp(a, "{\"type\":\"updategroup\",\"groupName\":\"%s\",\"changes\":[{}]}", group);
	expect_error(a, "changes[0]");
	/* Nothing of those went through: an empty change list re-announces
	 * the group as it is, and the members' next updatePerms is this one. */
	sendp(a, "{\"type\":\"updategroup\",\"groupName\":\"%s\",\"changes\":[]}", group);
	expect_group(a, group, "createRoom");
	expect_perms(m.c, 1, "createRoom");

	/* A missing group is created by updategroup. */
	char fresh[64];
	snprintf(fresh, sizeof fresh, "ug2-%s", uniq());
	sendp(a,
	      "{\"type\":\"updategroup\",\"groupName\":\"%s\",\"changes\":[{\"add\":\"renameRoom\"}]}",
	      fresh);
	expect_group(p.c, fresh, "renameRoom");
	wsc_ctx_free(ctx);
}

/* -------------------------------------------------------- removegroup */

void test_admin_removegroup(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	who p, m;
	char group[64];
	wsc *m2 = group_member(ctx, a, "rg", group, &p, &m, gw_port());
	sendp(a,
	      "{\"type\":\"updategroup\",\"groupName\":\"%s\",\"changes\":[{\"add\":\"createRoom\"},"
	      "{\"add\":\"sendMessage\"}]}",
	      group);
	expect_perms(m.c, 2, "createRoom", "sendMessage");
	expect_perms(m2, 2, "createRoom", "sendMessage");

	denied(p.c, "setGroupPerm", "{\"type\":\"removegroup\",\"groupName\":\"%s\"}", group);

	sendp(a, "{\"type\":\"removegroup\",\"groupName\":\"%s\"}", group);
	expect_perms(m.c, 0, NULL);
	expect_perms(m2, 0, NULL);
	expect_group_absent(p.c, group);
	denied(m.c, "createRoom",
	       "{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"no\"}");
	/* The members keep the name and log in without permissions. */
	wsc *again = client(ctx);
	sendp(again,
	      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
	      "\"protocol\":\"v1\"}",
	      m.email);
	json_decref(expect(again, "login"));
	expect_perms(again, 0, NULL);
	/* Removing it again (or any unknown group) is no error. */
	sendp(a, "{\"type\":\"removegroup\",\"groupName\":\"%s\"}", group);
	expect_group_absent(a, group);
	wsc_ctx_free(ctx);
}

/* ------------------------------------------------------- revoke race */

enum { RACE_CONNS = 2, RACE_MAX_SENDS = 400, RACE_AFTER = 15 };

typedef struct {
	wsc *c;
	int phase;    /* 0: no createRoom yet, 1: granted seen, 2: revoke seen */
	int after;    /* sends made in phase 2 */
	long denials; /* `Permission denied "createRoom"` received */
} racer;

typedef struct {
	char name[64];
	int phase; /* of its connection when it was sent */
} race_send;

/* Takes what c has received so far, without waiting. */
static void race_drain(racer *r)
{
	json_t *j;
	while ((j = wsc_recv(r->c, 0))) {
		const char *type = jstr(j, "type");
		if (type && !strcmp(type, "updatePerms")) {
			int can = has(json_object_get(j, "perms"), "createRoom");
			if (can && r->phase == 0)
				r->phase = 1;
			else if (!can && r->phase == 1)
				r->phase = 2;
		} else if (type && !strcmp(type, "error")) {
			const char *m = jstr(j, "message");
			r->denials += m && strstr(m, "Permission denied \"createRoom\"") != NULL;
		}
		json_decref(j);
	}
}

static int room_listed(json_t *rooms, const char *name)
{
	for (size_t i = 0; i < json_array_size(rooms); i++)
		if (jstr(json_array_get(rooms, i), "name") &&
		    !strcmp(jstr(json_array_get(rooms, i), "name"), name))
			return 1;
	return 0;
}

/* The latest room list: a marker room is made and its updateRooms taken. */
static json_t *rooms_now(wsc *a, const char *marker)
{
	sendp(a, "{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\"}", marker);
	long long end = now_ms() + WAIT_MS;
	while (now_ms() < end) {
		json_t *j = wsc_expect(a, "updateRooms", (int)(end - now_ms()));
		CHECK_MSG(j, "no updateRooms with %s: %s", marker, wsc_last_error(a));
		if (room_listed(json_object_get(j, "roomList"), marker))
			return j;
		json_decref(j);
	}
	rt_fail(__FILE__, __LINE__, "no updateRooms with %s", marker);
}

/* Removes the rooms this test made (their names start with prefix). */
static void rooms_cleanup(wsc *a, json_t *rooms, const char *prefix)
{
	for (size_t i = 0; i < json_array_size(json_object_get(rooms, "roomList")); i++) {
		json_t *r = json_array_get(json_object_get(rooms, "roomList"), i);
		if (jstr(r, "name") && !strncmp(jstr(r, "name"), prefix, strlen(prefix)))
			sendp(a, "{\"type\":\"removeroom\",\"roomid\":\"%s\"}", jstr(r, "id"));
	}
}

/* While the user sends createroom in a loop on two gateways, the admin
 * grants, then revokes createRoom for its group. Every createroom a
 * connection sent after it had received the revoke's updatePerms must be
 * refused (the setPerms control delivery came first on the same subject). */
void test_admin_race_revoke(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char group[64], prefix[32];
	snprintf(group, sizeof group, "race-%s", uniq());
	snprintf(prefix, sizeof prefix, "rr%s-", uniq());
	who u;
	user(ctx, a, group, "racer", &u);
	racer rc[RACE_CONNS] = {{.c = u.c}, {.c = second_conn(ctx, &u, gw2_port())}};
	static race_send sends[RACE_CONNS * RACE_MAX_SENDS];
	int nsends = 0, granted = 0, revoked = 0, since_grant = 0, done = 0;

	for (int iter = 0; !done; iter++) {
		CHECK_MSG(iter < RACE_MAX_SENDS, "race did not finish: phases %d/%d", rc[0].phase,
			  rc[1].phase);
		done = 1;
		for (int k = 0; k < RACE_CONNS; k++) {
			race_drain(&rc[k]);
			race_send *s = &sends[nsends++];
			snprintf(s->name, sizeof s->name, "%s%d-%d", prefix, k, iter);
			s->phase = rc[k].phase;
			rc[k].after += s->phase == 2;
			sendp(rc[k].c,
			      "{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"%s\"}",
			      s->name);
			done &= rc[k].after >= RACE_AFTER;
		}
		if (iter == 3) {
			sendp(a,
			      "{\"type\":\"updategroup\",\"groupName\":\"%s\","
			      "\"changes\":[{\"add\":\"createRoom\"}]}",
			      group);
			granted = 1;
		}
		/* Revoked while both connections are busy creating rooms. */
		if (granted && !revoked && rc[0].phase >= 1 && rc[1].phase >= 1 &&
		    ++since_grant >= 5) {
			sendp(a,
			      "{\"type\":\"updategroup\",\"groupName\":\"%s\","
			      "\"changes\":[{\"remove\":\"createRoom\"}]}",
			      group);
			revoked = 1;
		}
		wsc_service(ctx, 3);
	}
	/* Every reply is in once the marker's list is (one roomsvc). */
	char marker[80];
	snprintf(marker, sizeof marker, "%smarker", prefix);
	json_t *final = rooms_now(a, marker);
	wsc_service(ctx, 300);
	json_t *list = json_object_get(final, "roomList");
	int made_in_grant = 0, after_sends = 0;
	for (int i = 0; i < nsends; i++) {
		int listed = room_listed(list, sends[i].name);
		made_in_grant += listed && sends[i].phase == 1;
		after_sends += sends[i].phase == 2;
		CHECK_MSG(!(listed && sends[i].phase == 2),
			  "%s was sent after the revoke's updatePerms and was created",
			  sends[i].name);
	}
	long denials = 0;
	for (int k = 0; k < RACE_CONNS; k++) {
		race_drain(&rc[k]);
		denials += rc[k].denials;
	}
	printf("race: %d sends, %d created while granted, %d after the revoke, %ld denials\n",
	       nsends, made_in_grant, after_sends, denials);
	CHECK_MSG(made_in_grant > 0, "the grant never took effect");
	CHECK_MSG(denials >= after_sends, "%ld denials for %d refused sends", denials, after_sends);
	rooms_cleanup(a, final, prefix);
	json_decref(final);
	wsc_service(ctx, 300);
	wsc_ctx_free(ctx);
}

/* ---------------------------------------------------------- throttling */

/* Default settings: 5 failures for one email from one address in 60 s
 * lock that pair (REBUTTAL_LOGIN_MAX_FAILS_PAIR), the right password
 * included; the address limit is 50, so other accounts from the same
 * address still get in. (The same email from elsewhere still gets in too:
 * tests/integ_policy.c.) */
void test_admin_login_throttle(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char email[64], other[64];
	signup_user(ctx, a, "user", "locked", email);
	signup_user(ctx, a, "user", "neighbour", other);
	for (int i = 0; i < 5; i++)
		login_refused(ctx, email, "wrong-password", "Permission denied");
	login_refused(ctx, email, TEST_PASSWORD, "Too many failed logins");
	/* The email in another case is the same email. */
	char upper[64];
	snprintf(upper, sizeof upper, "%s", email);
	upper[0] = (char)(upper[0] - 32);
	login_refused(ctx, upper, TEST_PASSWORD, "Too many failed logins");
	login(client(ctx), other, TEST_PASSWORD);
	login(client(ctx), "root@localhost", admin_password());
	wsc_ctx_free(ctx);
}

/* --------------------------------------------------------- rebuttalctl */

/* Runs rebuttalctl with args (shell words) and the stack's environment,
 * input (if not NULL) as one line on its stdin; stdout and stderr go to
 * out. Returns its exit status. */
static int ctl_in(const char *input, char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int ctl_in(const char *input, char *out, size_t outlen, const char *fmt, ...)
{
	char args[512], cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	/* As the operator: rebuttalctl's own NATS user. */
	char as[600];
	snprintf(as, sizeof as, "REBUTTAL_NATS_USER=rebuttalctl REBUTTAL_NATS_PASSWORD_FILE='%s'",
		 secret_path("nats-rebuttalctl"));
	if (input)
		snprintf(cmd, sizeof cmd, "printf '%%s\\n' '%s' | %s '%s/rebuttalctl' %s 2>&1",
			 input, as, rt_env("REBUTTAL_BIN_DIR"), args);
	else
		snprintf(cmd, sizeof cmd, "%s '%s/rebuttalctl' %s 2>&1 </dev/null", as,
			 rt_env("REBUTTAL_BIN_DIR"), args);
	return run_out(cmd, out, outlen);
}
#define ctl(...) ctl_in(NULL, __VA_ARGS__)

void test_admin_rebuttalctl(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	char out[8192], email[96], name[32], group[64];
	snprintf(email, sizeof email, "ctl-%s@test.example", uniq());
	snprintf(name, sizeof name, "ctl%s", uniq());
	name[20] = '\0';
	snprintf(group, sizeof group, "ctl-%s", uniq());

	int rc = ctl(out, sizeof out, "create-user '%s' '%s' ctl-password-1 '%s'", email, name,
		     group);
	CHECK_MSG(rc == 0 && strstr(out, "created"), "create-user: %d %s", rc, out);
	wsc *c = client(ctx);
	const char *uid = login(c, email, "ctl-password-1");
	CHECK_MSG(strstr(out, uid), "create-user printed \"%s\", id is %s", out, uid);

	rc = ctl(out, sizeof out, "create-user '%s' again ctl-password-2", email);
	CHECK_MSG(rc == 1 && strstr(out, "email is already in use"), "duplicate: %d %s", rc, out);
	rc = ctl(out, sizeof out, "create-user 'bad-%s' x ctl-password-2", email);
	CHECK_MSG(rc == 1 && strstr(out, "userName"), "bad name: %d %s", rc, out);

	rc = ctl(out, sizeof out, "list-users");
	CHECK_MSG(rc == 0 && strstr(out, uid) && strstr(out, name), "list-users: %d %s", rc, out);

	/* A password on stdin, then a login with it. */
	rc = ctl_in("ctl-password-3", out, sizeof out, "set-password '%s' -", email);
	CHECK_MSG(rc == 0, "set-password: %d %s", rc, out);
	login(client(ctx), email, "ctl-password-3");
	rc = ctl(out, sizeof out, "set-password 'nobody-%s' ctl-password-4", email);
	CHECK_MSG(rc == 1 && strstr(out, "no account"), "set-password unknown: %d %s", rc, out);

	/* invite prints the code, then the url; the code signs up. */
	rc = ctl(out, sizeof out, "invite '%s'", group);
	char code[64] = "", url[256] = "";
	CHECK_MSG(rc == 0 && sscanf(out, "%63s %255s", code, url) == 2, "invite: %d %s", rc, out);
	CHECK_EQ_INT(strlen(code), 36);
	CHECK_MSG(strstr(url, code) && strstr(url, "/?invite="), "invite url %s", url);
	wsc *s = client(ctx);
	sendp(s,
	      "{\"type\":\"signup\",\"userName\":\"invited\",\"password\":\"" TEST_PASSWORD "\","
	      "\"email\":\"inv-%s\",\"signUp\":\"%s\"}",
	      email, code);
	json_t *j = wsc_expect_noerr(s, "refreshNow", WAIT_MS);
	CHECK_MSG(j, "signup with the tool's invite: %s", wsc_last_error(s));
	json_decref(j);

	CHECK_EQ_INT(ctl(out, sizeof out, "frobnicate"), 2);
	CHECK_EQ_INT(ctl(out, sizeof out, "invite"), 2);
	CHECK_EQ_INT(ctl(out, sizeof out, "list-users extra"), 2);
	setenv("REBUTTAL_NATS_URL", "nats://127.0.0.1:1", 1);
	setenv("REBUTTAL_CTL_TIMEOUT_MS", "300", 1);
	rc = ctl(out, sizeof out, "list-users");
	CHECK_MSG(rc == 1 && strstr(out, "NATS"), "no NATS: %d %s", rc, out);
	wsc_ctx_free(ctx);
}
