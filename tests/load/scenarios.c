/* The scenarios: one row each, {name, part, subject, setup, build}. A
 * build fills only the payload and picks the acting user; loadgen.c fills
 * the header the way gateway/request.c does (request id, gateway and
 * connection ids, user id, permission set, deadline). */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "loadgen.h"

#define USERS(g) ((size_t)(g)->cfg.users)
/* A build of request i (lg_scenario.build); most use only part of what it
 * gets. */
#define UNUSED __attribute__((unused))
#define BUILD(name)                                                                                \
	static void name(lg *g UNUSED, uint64_t i UNUSED, lg_user **u UNUSED, Rb__Envelope *e,     \
			 lg_tmp *t UNUSED)

static int setup_online(lg *g)
{
	return seed_users(g, USERS(g), "admin", 1) || seed_perms(g) || seed_rooms(g);
}

static int setup_login(lg *g)
{
	return seed_users(g, USERS(g), "user", 0);
}

static int setup_messages(lg *g)
{
	return setup_online(g) || seed_text_rooms(g);
}

static int setup_history(lg *g)
{
	return setup_online(g) || seed_messages(g, 100);
}

static int setup_image(lg *g)
{
	return setup_messages(g) || seed_image(g);
}

static int setup_lists(lg *g)
{
	return seed_accounts(g, (size_t)g->cfg.accounts) || setup_online(g);
}

BUILD(b_login)
{
	lg_user *a = &g->users[i % g->nusers];
	rb__clogin__init(&t->p.login);
	t->p.login.email = a->email;
	t->p.login.password = g->password;
	t->p.login.protocol = "v1";
	e->payload_case = RB__ENVELOPE__PAYLOAD_LOGIN;
	e->login = &t->p.login;
	*u = NULL; /* before login the connection has no user */
}

BUILD(b_perms)
{
	rb__get_perms__init(&t->p.perms);
	e->payload_case = RB__ENVELOPE__PAYLOAD_GET_PERMS;
	e->get_perms = &t->p.perms;
}

/* User i % n joins on its even turns and leaves on its odd ones: the
 * requests of one user are ordered (svc_key_user), so each is a real change. */
BUILD(b_joinleave)
{
	rb__croom_id__init(&t->p.room);
	t->p.room.roomid = g->room_voice;
	if ((i / g->nusers) % 2 == 0) {
		e->payload_case = RB__ENVELOPE__PAYLOAD_JOINROOM;
		e->joinroom = &t->p.room;
	} else {
		e->payload_case = RB__ENVELOPE__PAYLOAD_LEAVEROOM;
		e->leaveroom = &t->p.room;
	}
}

BUILD(b_createroom)
{
	rb__ccreate_room__init(&t->p.create);
	snprintf(t->text, sizeof t->text, "load %.8s %llu", g->gw_id + 8, (unsigned long long)i);
	t->p.create.roomname = t->text;
	t->p.create.roomtype = "text";
	e->payload_case = RB__ENVELOPE__PAYLOAD_CREATEROOM;
	e->createroom = &t->p.create;
}

BUILD(b_message)
{
	rb__cmessage__init(&t->p.msg);
	rb__message_in__init(&t->in);
	snprintf(t->text, sizeof t->text, "load message %llu", (unsigned long long)i);
	t->in.text = t->text;
	size_t nt = atomic_load(&g->ntext);
	t->p.msg.roomid = nt ? g->text_rooms[i % nt] : g->room_text;
	t->p.msg.message = &t->in;
	e->payload_case = RB__ENVELOPE__PAYLOAD_MESSAGE;
	e->message = &t->p.msg;
}

BUILD(b_image)
{
	b_message(g, i, u, e, t);
	t->p.msg.filename = "load.png";
	t->p.msg.rawfile = g->image_b64;
}

BUILD(b_history)
{
	rb__cget_messages__init(&t->p.get);
	t->p.get.roomid = g->room_text;
	e->payload_case = RB__ENVELOPE__PAYLOAD_GETMESSAGES;
	e->getmessages = &t->p.get;
}

/* To the next user: relayed to rb.out.user.<id> (nobody subscribes, as for
 * a user without a connection here; the relay's work is the same). */
BUILD(b_video)
{
	static const char sdp[] = "{\"type\":\"candidate\",\"candidate\":\"candidate:1 1 udp "
				  "2122260223 192.0.2.1 54321 typ host generation 0\"}";
	rb__cvideo__init(&t->p.video);
	t->p.video.touserid = g->users[(i + 1) % g->nusers].id;
	t->p.video.has_payload = 1;
	t->p.video.payload.data = (uint8_t *)sdp;
	t->p.video.payload.len = sizeof sdp - 1;
	e->payload_case = RB__ENVELOPE__PAYLOAD_VIDEO;
	e->video = &t->p.video;
}

BUILD(b_talking)
{
	rb__ctalking__init(&t->p.talking);
	t->p.talking.has_talking = 1;
	t->p.talking.talking = (i / g->nusers) % 2 == 0;
	e->payload_case = RB__ENVELOPE__PAYLOAD_TALKING;
	e->talking = &t->p.talking;
}

static const lg_scenario scenarios[] = {
	{"auth.login", "authsvc", "auth", "login",
	 "login of a seeded account (one argon2id verify)", setup_login, b_login},
	{"auth.get_perms", "authsvc", "auth", "get_perms",
	 "the acting user's group and permissions", setup_online, b_perms},
	{"room.joinleave", "roomsvc", "room", "joinroom",
	 "joinroom/leaveroom of the voice room, alternating per user", setup_online, b_joinleave},
	{"room.createroom", "roomsvc", "room", "createroom",
	 "a new text room each (updateRooms grows)", setup_online, b_createroom},
	{"room.lists", "roomsvc", "room", "conn_opened",
	 "connections going offline and online again (events) with REBUTTAL_LOAD_ACCOUNTS accounts: time to the next updateUsers, its size and compose time",
	 setup_lists, NULL},
	{"msg.message", "msgsvc", "msg", "message",
	 "a text message, spread over REBUTTAL_LOAD_ROOMS rooms", setup_messages, b_message},
	{"msg.getmessages", "msgsvc", "msg", "getmessages",
	 "the latest segment of a room of 100+ messages", setup_history, b_history},
	{"msg.image", "msgsvc", "msg", "message",
	 "a message with a REBUTTAL_LOAD_IMAGE_KIB PNG attachment", setup_image, b_image},
	{"media.video", "mediasvc", "media", "video", "a WebRTC candidate relayed to another user",
	 setup_online, b_video},
	{"media.talking", "mediasvc", "media", "talking",
	 "talking true/false, alternating per user (shaped)", setup_online, b_talking},
};

const lg_scenario *lg_scenario_find(const char *name)
{
	for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
		if (!strcmp(scenarios[i].name, name))
			return &scenarios[i];
	return NULL;
}

void lg_scenarios_print(void)
{
	for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
		printf("  %-16s %s\n", scenarios[i].name, scenarios[i].about);
}
