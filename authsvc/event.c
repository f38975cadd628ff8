#include "event.h"

#include <stdio.h>

#include "arena.h"

static int publish_user(auth_app *app, const char *what, const acct_user *u, int vengeance)
{
	Rb__UserEvent ev = RB__USER_EVENT__INIT;
	arena a = ARENA_INIT;
	char subject[64], hash[65];

	ev.id = u->id;
	ev.name = u->name;
	ev.group = u->grp;
	ev.has_hidden = 1;
	ev.hidden = u->hidden;
	if (vengeance >= 0) {
		ev.has_withvengence = 1;
		ev.withvengence = vengeance != 0;
	}
	/* Like avatars, the email hash is only handed out with Gravatar on. */
	ev.avatar = acct_avatar(&a, app->cfg->gravatar, u->email);
	if (ev.avatar) {
		acct_email_hash(u->email, hash);
		ev.email_hash = hash;
	}
	snprintf(subject, sizeof subject, "rb.evt.auth.%s", what);
	int rc = bus_publish_pb(app->bus, subject, &ev.base);
	arena_free(&a);
	return rc;
}

int event_user(auth_app *app, const char *what, const acct_user *u)
{
	return publish_user(app, what, u, -1);
}

int event_user_removed(auth_app *app, const acct_user *u, int withvengence)
{
	return publish_user(app, "user_removed", u, withvengence != 0);
}

int event_perms(auth_app *app, const char *group, const char *user_id)
{
	Rb__PermsChanged ev = RB__PERMS_CHANGED__INIT;
	ev.group = (char *)group;
	ev.user_id = (char *)user_id;
	return bus_publish_pb(app->bus, "rb.evt.auth.perms_changed", &ev.base);
}
