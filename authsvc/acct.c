#include "acct.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "skeleton.h"

const char *const acct_perms[] = {
	"createRoom",    "createUser",   "renameRoom",    "renameUser",
	"renameServer",  "removeRoom",   "removeUser",    "inviteUser",
	"inviteUserAny", "noInviteFor",  "joinVoiceRoom", "sendMessage",
	"setUserGroup",  "setGroupPerm", "changeMessage", "suppressUser",
};
const size_t acct_nperms = sizeof acct_perms / sizeof *acct_perms;

/* Position in acct_perms; unknown names sort after all known ones. */
static size_t perm_rank(const char *perm)
{
	for (size_t i = 0; i < acct_nperms; i++)
		if (!strcmp(acct_perms[i], perm))
			return i;
	return acct_nperms;
}

int acct_perm_known(const char *perm)
{
	return perm && perm_rank(perm) < acct_nperms;
}

/* ---------------------------------------------------------------- email */

static int ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *acct_email_normalize(arena *a, const char *email)
{
	if (!email)
		return NULL;
	size_t len = strlen(email);
	while (len && ascii_space(*email))
		email++, len--;
	while (len && ascii_space(email[len - 1]))
		len--;
	char *out = arena_strndup(a, email, len);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

void acct_email_hash(const char *email, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)email, strlen(email));
	sodium_bin2hex(out, 65, h, sizeof h);
}

char *acct_avatar(arena *a, const char *fallback, const char *email)
{
	char hex[65];
	buf d = BUF_INIT;

	if (!fallback || !*fallback || !email)
		return NULL;
	acct_email_hash(email, hex);
	/* The fallback may be a URL of the deployment's own image: encode it
	 * so it stays one query value. Keywords like "identicon" pass as is. */
	for (const unsigned char *p = (const unsigned char *)fallback; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			buf_add(&d, p, 1);
		else
			buf_addf(&d, "%%%02X", *p);
	}
	char *url = arena_printf(a, "https://0.gravatar.com/avatar/%s?s=128&d=%s", hex, d.ptr);
	buf_free(&d);
	return url;
}

/* --------------------------------------------------------------- users */

static char *col(arena *a, const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : arena_strdup(a, PQgetvalue(res, row, c));
}

/* Columns in the order of USER_COLS. */
#define USER_COLS "id, email, name, pwhash, grp, hidden"

static acct_user *user_from_row(arena *a, const PGresult *res, int row)
{
	acct_user *u = arena_alloc(a, sizeof *u);
	u->id = col(a, res, row, 0);
	u->email = col(a, res, row, 1);
	u->name = col(a, res, row, 2);
	u->pwhash = col(a, res, row, 3);
	u->grp = col(a, res, row, 4);
	u->hidden = !strcmp(PQgetvalue(res, row, 5), "t");
	return u;
}

/* Runs a statement that returns at most one account row. */
static pg_status user_one(pg *db, arena *a, acct_user **out, const char *sql, int n,
			  const char *const *p)
{
	PGresult *res;
	pg_status s = pg_query(db, &res, sql, n, p);

	*out = NULL;
	if (s != PG_OK)
		return s;
	if (PQntuples(res) > 0)
		*out = user_from_row(a, res, 0);
	PQclear(res);
	return PG_OK;
}

pg_status acct_user_by_email(pg *db, arena *a, const char *email, acct_user **out)
{
	const char *p[] = {email};
	return user_one(db, a, out, "SELECT " USER_COLS " FROM auth.users WHERE email = $1", 1, p);
}

/* ---------------------------------------------------------- name keys */

/* A name's skeleton into key (ACCT_NAME_KEY_MAX bytes); -1 (logged) when it
 * has none: names reach here validated (valid_user_name), so never. */
static int name_key(const char *name, char key[ACCT_NAME_KEY_MAX])
{
	if (skel_of(name, key, ACCT_NAME_KEY_MAX) > 0)
		return 0;
	log_error("account name \"%s\" has no skeleton", name);
	return -1;
}

/* Inside the caller's transaction: takes the key's lock until the commit
 * (two accounts naming themselves alike at once take turns), then looks
 * whether an account other than except_id (NULL: any) holds it. The lock
 * comes first in a statement of its own, so the look sees what the other
 * committed. */
static pg_status name_taken(pg *db, const char *key, const char *except_id, int *taken)
{
	const char *lk[] = {key}, *p[] = {key, except_id};
	pg_status s = pg_query(
		db, NULL, "SELECT pg_advisory_xact_lock(hashtextextended('auth.name:' || $1, 0))",
		1, lk);
	if (s != PG_OK)
		return s;
	return pg_exists(db, taken,
			 "SELECT EXISTS (SELECT 1 FROM auth.users WHERE name_key = $1"
			 " AND id IS DISTINCT FROM $2::uuid)",
			 2, p);
}

pg_status acct_user_insert(pg *db, const acct_user *u, acct_insert *result)
{
	char key[ACCT_NAME_KEY_MAX];
	int taken = 0;

	*result = ACCT_EMAIL_TAKEN;
	if (name_key(u->name, key) < 0)
		return PG_ERROR;
	/* A taken email is the answer before a taken name, as it was before
	 * names were unique. */
	const char *e[] = {u->email};
	pg_status s = pg_exists(db, &taken,
				"SELECT EXISTS (SELECT 1 FROM auth.users WHERE email = $1)", 1, e);
	if (s != PG_OK || taken)
		return s;
	s = name_taken(db, key, NULL, &taken);
	if (s != PG_OK || taken) {
		*result = ACCT_NAME_TAKEN;
		return s;
	}
	const char *p[] = {u->id, u->email, u->name, u->pwhash, u->grp, u->hidden ? "t" : "f", key};
	/* ON CONFLICT instead of catching the unique violation: an error would
	 * abort the caller's transaction, a skipped row lets it decide. */
	long rows = 0;
	s = pg_changed(db, &rows,
		       "INSERT INTO auth.users (" USER_COLS ", name_key)"
		       " VALUES ($1, $2, $3, $4, $5, $6, $7)"
		       " ON CONFLICT (email) DO NOTHING",
		       7, p);
	if (s == PG_OK)
		*result = rows == 1 ? ACCT_INSERTED : ACCT_EMAIL_TAKEN;
	return s;
}

/* Rows the version's folding has not keyed yet, oldest first: the older
 * account keeps a skeleton two share. */
static pg_status keys_fill_rows(pg *db)
{
	PGresult *res;
	pg_status s = pg_query(db, &res,
			       "SELECT id, name FROM auth.users WHERE name_key IS NULL"
			       " ORDER BY created_at, id",
			       0, NULL);
	if (s != PG_OK)
		return s;
	for (int i = 0; s == PG_OK && i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
		char key[ACCT_NAME_KEY_MAX];
		if (skel_of(name, key, sizeof key) <= 0) {
			log_warn("account %s: name \"%s\" has no skeleton; left without one", id,
				 name);
			continue;
		}
		/* No per-key lock (name_taken): one per account could fill the
		 * server's lock table. A signup on a running instance racing
		 * this makes one of the two fail on the unique index, once:
		 * pg_retry runs the fill again, or the client retries. */
		const char *p[] = {id, key};
		long keyed = 0;
		s = pg_changed(db, &keyed,
			       "UPDATE auth.users SET name_key = $2 WHERE id = $1 AND NOT EXISTS"
			       " (SELECT 1 FROM auth.users WHERE name_key = $2)",
			       2, p);
		if (s != PG_OK)
			break;
		if (!keyed)
			log_warn("account %s: name \"%s\" looks like an older account's; kept,"
				 " but without a name key",
				 id, name);
	}
	PQclear(res);
	return s;
}

pg_status acct_name_keys_fill(pg *db)
{
	PGresult *res;
	char version[16];
	int current = 0;

	snprintf(version, sizeof version, "%d", SKEL_VERSION);
	const char *p[] = {version};
	pg_status s = pg_begin(db);
	if (s == PG_OK)
		s = pg_query(db, NULL,
			     "SELECT pg_advisory_xact_lock(hashtextextended('auth.name_keys', 0))",
			     0, NULL);
	if (s == PG_OK)
		s = pg_query(db, &res, "SELECT value FROM auth.meta WHERE key = 'name_key_version'",
			     0, NULL);
	if (s == PG_OK) {
		current = PQntuples(res) > 0 && !strcmp(PQgetvalue(res, 0, 0), version);
		PQclear(res);
	}
	/* Another folding made the stored keys: all of them again. */
	if (s == PG_OK && !current)
		s = pg_query(db, NULL, "UPDATE auth.users SET name_key = NULL", 0, NULL);
	if (s == PG_OK)
		s = keys_fill_rows(db);
	if (s == PG_OK)
		s = pg_query(db, NULL,
			     "INSERT INTO auth.meta (key, value) VALUES ('name_key_version', $1)"
			     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
			     1, p);
	if (s == PG_OK)
		return pg_commit(db);
	pg_rollback(db);
	return s;
}

pg_status acct_user_set_pwhash(pg *db, const char *email, const char *pwhash, int *found)
{
	const char *p[] = {email, pwhash};
	long rows = 0;
	pg_status s =
		pg_changed(db, &rows, "UPDATE auth.users SET pwhash = $2 WHERE email = $1", 2, p);
	if (s == PG_OK)
		*found = rows != 0;
	return s;
}

pg_status acct_user_list(pg *db, arena *a, acct_user ***out, size_t *n)
{
	PGresult *res;
	pg_status s = pg_query(
		db, &res, "SELECT " USER_COLS " FROM auth.users ORDER BY lower(name), name, id", 0,
		NULL);
	*out = NULL;
	*n = 0;
	if (s != PG_OK)
		return s;
	for (int i = 0; i < PQntuples(res); i++)
		arena_push(a, (void ***)out, n, user_from_row(a, res, i));
	PQclear(res);
	return PG_OK;
}

pg_status acct_user_rename(pg *db, arena *a, const char *id, const char *name, acct_user **out,
			   int *taken)
{
	char key[ACCT_NAME_KEY_MAX];

	*out = NULL;
	*taken = 0;
	if (name_key(name, key) < 0)
		return PG_ERROR;
	pg_status s = name_taken(db, key, id, taken);
	if (s != PG_OK || *taken)
		return s;
	const char *p[] = {id, name, key};
	return user_one(db, a, out,
			"UPDATE auth.users SET name = $2, name_key = $3 WHERE id = $1"
			" RETURNING " USER_COLS,
			3, p);
}

pg_status acct_user_set_group(pg *db, arena *a, const char *id, const char *grp, acct_user **out)
{
	const char *p[] = {id, grp};
	return user_one(db, a, out,
			"UPDATE auth.users SET grp = $2 WHERE id = $1 RETURNING " USER_COLS, 2, p);
}

pg_status acct_user_delete(pg *db, arena *a, const char *id, acct_user **out)
{
	const char *p[] = {id};
	return user_one(db, a, out, "DELETE FROM auth.users WHERE id = $1 RETURNING " USER_COLS, 1,
			p);
}

pg_status acct_admins_exist(pg *db, int *yes)
{
	return pg_exists(db, yes,
			 "SELECT EXISTS (SELECT 1 FROM auth.users u JOIN auth.group_perms p"
			 " ON p.grp = u.grp AND p.perm = 'setGroupPerm')",
			 0, NULL);
}

/* -------------------------------------------------------------- groups */

pg_status acct_group_ensure(pg *db, const char *name, int *created)
{
	const char *p[] = {name};
	long rows = 0;
	pg_status s = pg_changed(
		db, &rows, "INSERT INTO auth.groups (name) VALUES ($1) ON CONFLICT DO NOTHING", 1,
		p);
	if (s == PG_OK && created)
		*created = rows == 1;
	return s;
}

pg_status acct_group_revoke(pg *db, const char *name, const char *perm)
{
	const char *p[] = {name, perm};
	return pg_query(db, NULL, "DELETE FROM auth.group_perms WHERE grp = $1 AND perm = $2", 2,
			p);
}

pg_status acct_group_delete(pg *db, const char *name)
{
	const char *p[] = {name};
	return pg_query(db, NULL, "DELETE FROM auth.groups WHERE name = $1", 1, p);
}

/* The first column of every row, in a. */
static pg_status column_list(pg *db, arena *a, char ***out, size_t *n, const char *sql,
			     const char *arg)
{
	PGresult *res;
	const char *p[] = {arg};
	pg_status s = pg_query(db, &res, sql, 1, p);

	*out = NULL;
	*n = 0;
	if (s != PG_OK)
		return s;
	for (int i = 0; i < PQntuples(res); i++)
		arena_push(a, (void ***)out, n, col(a, res, i, 0));
	PQclear(res);
	return PG_OK;
}

static int perm_cmp(const void *a, const void *b);

pg_status acct_group_perms(pg *db, arena *a, const char *name, char ***perms, size_t *n)
{
	pg_status s = column_list(db, a, perms, n,
				  "SELECT perm FROM auth.group_perms WHERE grp = $1", name);
	if (s == PG_OK && *n > 1)
		qsort(*perms, *n, sizeof **perms, perm_cmp);
	return s;
}

pg_status acct_group_members(pg *db, arena *a, const char *name, char ***ids, size_t *n)
{
	return column_list(db, a, ids, n, "SELECT id FROM auth.users WHERE grp = $1", name);
}

pg_status acct_group_grant(pg *db, const char *name, const char *perm)
{
	const char *p[] = {name, perm};
	return pg_query(db, NULL,
			"INSERT INTO auth.group_perms (grp, perm) VALUES ($1, $2)"
			" ON CONFLICT DO NOTHING",
			2, p);
}

static int perm_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t rx = perm_rank(x), ry = perm_rank(y);
	return rx != ry ? (rx < ry ? -1 : 1) : strcmp(x, y);
}

static Rb__SGroups__GroupsEntry *group_entry(arena *a, const char *name)
{
	Rb__SGroups__GroupsEntry *e = arena_alloc(a, sizeof *e);
	Rb__PermList *pl = arena_alloc(a, sizeof *pl);
	rb__sgroups__groups_entry__init(e);
	rb__perm_list__init(pl);
	e->key = arena_strdup(a, name);
	e->value = pl;
	return e;
}

pg_status acct_group_list(pg *db, arena *a, Rb__SGroups *out)
{
	PGresult *res;
	Rb__SGroups__GroupsEntry *cur = NULL;
	pg_status s = pg_query(db, &res,
			       "SELECT g.name, p.perm FROM auth.groups g"
			       " LEFT JOIN auth.group_perms p ON p.grp = g.name"
			       " ORDER BY g.name, p.perm",
			       0, NULL);
	if (s != PG_OK)
		return s;
	/* Rows come grouped by name; a group without permissions is one row
	 * with a NULL perm. */
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		if (!cur || strcmp(cur->key, name) != 0) {
			cur = group_entry(a, name);
			arena_push(a, (void ***)&out->groups, &out->n_groups, cur);
		}
		if (!PQgetisnull(res, i, 1))
			arena_push(a, (void ***)&cur->value->perms, &cur->value->n_perms,
				   col(a, res, i, 1));
	}
	PQclear(res);
	for (size_t i = 0; i < out->n_groups; i++) {
		Rb__PermList *pl = out->groups[i]->value;
		if (pl->n_perms > 1)
			qsort(pl->perms, pl->n_perms, sizeof *pl->perms, perm_cmp);
	}
	return PG_OK;
}

const Rb__PermList *acct_group_find(const Rb__SGroups *groups, const char *name)
{
	for (size_t i = 0; i < groups->n_groups; i++)
		if (!strcmp(groups->groups[i]->key, name))
			return groups->groups[i]->value;
	return NULL;
}

/* ------------------------------------------------------------- invites */

pg_status acct_invite_insert(pg *db, const char *code, const char *grp, long ttl_seconds)
{
	char ttl[32];
	snprintf(ttl, sizeof ttl, "%ld", ttl_seconds);
	const char *p[] = {code, grp, ttl};
	return pg_query(db, NULL,
			"INSERT INTO auth.invites (code, grp, expires_at)"
			" VALUES ($1, $2, now() + make_interval(secs => $3::bigint))",
			3, p);
}

pg_status acct_invite_take(pg *db, arena *a, const char *code, char **grp)
{
	PGresult *res;
	const char *p[] = {code};
	/* One statement that tests and sets: a second taker blocks on the row
	 * lock, then re-checks used_at after the first commits and finds it set. */
	pg_status s = pg_query(db, &res,
			       "UPDATE auth.invites SET used_at = now()"
			       " WHERE code = $1 AND used_at IS NULL AND expires_at > now()"
			       " RETURNING grp",
			       1, p);
	*grp = NULL;
	if (s != PG_OK)
		return s;
	if (PQntuples(res) > 0)
		*grp = col(a, res, 0, 0);
	PQclear(res);
	return PG_OK;
}
