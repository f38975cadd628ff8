/* The auth schema's data: accounts, groups and their permissions, invites.
 * Every function is one or two parameterized statements on the store it is
 * given, so callers decide what runs inside a transaction. Results are
 * copied into the caller's arena (freed with the request). Each returns
 * PG_OK or the store's failure (logged by the store). */
#ifndef AUTH_ACCT_H
#define AUTH_ACCT_H

#include <stddef.h>

#include "arena.h"
#include "pg.h"
#include "rebuttal.pb-c.h"

/* Every permission the protocol knows, in the order clients are shown
 * them (PROTOCOL.md §2). The only list of them in authsvc. */
extern const char *const acct_perms[];
extern const size_t acct_nperms;
int acct_perm_known(const char *perm);

typedef struct {
	char *id;
	char *email; /* normalized (acct_email_normalize) */
	char *name;
	char *pwhash;
	char *grp;
	int hidden;
} acct_user;

/* Trimmed of ASCII white space and ASCII-lowercased, in a; NULL stays NULL.
 * Emails are stored and looked up in this form only. */
char *acct_email_normalize(arena *a, const char *email);
/* Gravatar URL for a normalized email, or NULL when fallback is empty
 * (Gravatar off: avatars stay unset everywhere). */
char *acct_avatar(arena *a, const char *fallback, const char *email);
/* Lowercase hex sha256 of a normalized email (65 bytes with the NUL). */
void acct_email_hash(const char *email, char out[65]);

/* *out is NULL when no account has this (normalized) email. */
pg_status acct_user_by_email(pg *db, arena *a, const char *email, acct_user **out);
/* Display names are unique by skeleton (lib/skeleton.h), kept in
 * auth.users.name_key. A key is at most this long (32 characters of 4
 * bytes, and the NUL). */
#define ACCT_NAME_KEY_MAX (32 * 4 + 1)
typedef enum { ACCT_INSERTED, ACCT_EMAIL_TAKEN, ACCT_NAME_TAKEN } acct_insert;
/* Inside a transaction (the name check locks the name's skeleton until the
 * commit). Nothing is written unless *result is ACCT_INSERTED. */
pg_status acct_user_insert(pg *db, const acct_user *u, acct_insert *result);
/* At start, in a transaction of its own: gives every account without a
 * name key (all of them when SKEL_VERSION changed) its name's skeleton,
 * oldest account first; an account whose skeleton an older one holds keeps
 * none (logged): its name stays, and new names are checked against the
 * others only. */
pg_status acct_name_keys_fill(pg *db);
/* *found is 0 when no account has this email. */
pg_status acct_user_set_pwhash(pg *db, const char *email, const char *pwhash, int *found);
/* Every account sorted by name, ignoring case (then id: a stable order). */
pg_status acct_user_list(pg *db, arena *a, acct_user ***out, size_t *n);
/* The next three change one account by id (a valid UUID) and return it as
 * it is afterwards (as it was, for the delete) in *out, which is NULL when
 * no account has this id. A rename inside a transaction (as an insert),
 * and *taken is 1 (nothing written, *out NULL) when another account's
 * name has the new name's skeleton. */
pg_status acct_user_rename(pg *db, arena *a, const char *id, const char *name, acct_user **out,
			   int *taken);
pg_status acct_user_set_group(pg *db, arena *a, const char *id, const char *grp, acct_user **out);
pg_status acct_user_delete(pg *db, arena *a, const char *id, acct_user **out);
/* *yes is 1 when some account's group holds setGroupPerm: someone can
 * still administer groups. */
pg_status acct_admins_exist(pg *db, int *yes);

/* Creates the group without permissions unless it exists; *created (may
 * be NULL) tells whether it did. */
pg_status acct_group_ensure(pg *db, const char *name, int *created);
pg_status acct_group_grant(pg *db, const char *name, const char *perm);
pg_status acct_group_revoke(pg *db, const char *name, const char *perm);
/* Deletes the group and its permissions (members keep the name). */
pg_status acct_group_delete(pg *db, const char *name);
/* The group's permissions in acct_perms order (none for an unknown group). */
pg_status acct_group_perms(pg *db, arena *a, const char *name, char ***perms, size_t *n);
/* Ids of the accounts in the group, in one statement. */
pg_status acct_group_members(pg *db, arena *a, const char *name, char ***ids, size_t *n);
/* Every group, empty ones included, each with its permissions in
 * acct_perms order, as the updateGroups packet carries them. */
pg_status acct_group_list(pg *db, arena *a, Rb__SGroups *out);
/* The group's list in an acct_group_list result, or NULL. */
const Rb__PermList *acct_group_find(const Rb__SGroups *groups, const char *name);

pg_status acct_invite_insert(pg *db, const char *code, const char *grp, long ttl_seconds);
/* Marks the invite used if it is unused and unexpired, and returns its
 * group in *grp; *grp is NULL when it was not. The row lock this takes makes
 * concurrent takers of one code wait, so exactly one gets it. */
pg_status acct_invite_take(pg *db, arena *a, const char *code, char **grp);

#endif
