#include "event.h"

#include <stdio.h>

#include "arena.h"

int event_user(auth_app *app, const char *what, const acct_user *u)
{
	Rb__UserEvent ev = RB__USER_EVENT__INIT;
	arena a = ARENA_INIT;
	char subject[64], hash[65];

	ev.id = u->id;
	ev.name = u->name;
	ev.group = u->grp;
	ev.has_hidden = 1;
	ev.hidden = u->hidden;
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
