/* rebuttalctl: an operator's command-line tool over the bus. Each command
 * is one request to authsvc's operator routes (rb.auth.admin_* and
 * rb.auth.list_users), which only answer envelopes that name no user and no
 * gateway, i.e. tools like this one. See README.md. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "part.h"
#include "proc.h"
#include "rebuttal.pb-c.h"
#include "uuid.h"

typedef struct {
	bus_addr nats; /* password: read from its file */
	long timeout_ms;
	long tries;
} ctl_config;

static const cfg_field settings[] = {
	PART_CFG_NATS(ctl_config),
	CFG_I("REBUTTAL_CTL_TIMEOUT_MS", ctl_config, timeout_ms, 5000, 100, 600000,
	      "milliseconds to wait for each try of a request"),
	CFG_I("REBUTTAL_CTL_TRIES", ctl_config, tries, 3, 1, 100,
	      "tries per request (the same request id: a retry cannot act twice)"),
};
#define NSETTINGS (sizeof settings / sizeof *settings)

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

typedef struct {
	ctl_config cfg;
	bus *bus;
} ctl;

/* The reply to env (whose payload the caller set) or NULL after printing
 * why: no reply, an undecodable one, or a refusal (its message). Free the
 * result with rb__reply__free_unpacked. */
static Rb__Reply *request(ctl *c, const char *op, Rb__Envelope *env)
{
	char rid[UUID_STR_LEN + 1], subject[64];
	void *out = NULL;
	size_t outlen = 0;
	int rc = -1;

	uuid_new(rid);
	env->request_id = rid;
	snprintf(subject, sizeof subject, "rb.auth.%s", op);
	size_t len = protobuf_c_message_get_packed_size(&env->base);
	uint8_t *bytes = malloc(len ? len : 1);
	if (!bytes) {
		fprintf(stderr, "rebuttalctl: out of memory\n");
		return NULL;
	}
	protobuf_c_message_pack(&env->base, bytes);
	/* Same bytes, so the same request id, on every try: authsvc answers a
	 * retry of a write it already made with the stored reply. */
	for (long i = 0; i < c->cfg.tries && rc < 0; i++)
		rc = bus_request_sync(c->bus, subject, bytes, len, (int)c->cfg.timeout_ms, &out,
				      &outlen);
	free(bytes);
	if (rc < 0) {
		fprintf(stderr,
			"rebuttalctl: %s: no answer from authsvc over %s (%ld tries of %ld ms)\n",
			op, c->cfg.nats.url, c->cfg.tries, c->cfg.timeout_ms);
		return NULL;
	}
	Rb__Reply *r = rb__reply__unpack(NULL, outlen, out);
	free(out);
	if (!r) {
		fprintf(stderr, "rebuttalctl: %s: undecodable reply\n", op);
		return NULL;
	}
	if (r->has_code && r->code != RB__CODE__OK) {
		fprintf(stderr, "rebuttalctl: %s\n", r->message ? r->message : "refused");
		rb__reply__free_unpacked(r, NULL);
		return NULL;
	}
	return r;
}

/* "-" means: read the password from the first line of standard input, so
 * it does not show in the process list or the shell's history. Returns a
 * malloc'd string or NULL (printed). */
static char *password_arg(const char *arg)
{
	char line[1100];
	if (strcmp(arg, "-") != 0)
		return strdup(arg);
	if (!fgets(line, sizeof line, stdin)) {
		fprintf(stderr, "rebuttalctl: no password on standard input\n");
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return strdup(line);
}

/* bus_open returns before the connection is up (it keeps trying): wait
 * for it as long as one try of a request, so that a wrong URL says so. */
static int wait_connected(ctl *c)
{
	for (long waited = 0; !bus_connected(c->bus); waited += 20) {
		if (waited >= c->cfg.timeout_ms) {
			/* NATS refuses a wrong user or password the same way as
			 * no server at all, as far as cnats tells. */
			fprintf(stderr, "rebuttalctl: cannot reach NATS at %s%s%s%s\n",
				c->cfg.nats.url,
				*c->cfg.nats.user ? " as user " : " (no REBUTTAL_NATS_USER set)",
				c->cfg.nats.user,
				*c->cfg.nats.user ? " (or the password is wrong)" : "");
			return -1;
		}
		proc_sleep_ms(20);
	}
	return 0;
}

/* -------------------------------------------------------------- commands */

static int cmd_create_user(ctl *c, char **argv, int argc)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__AdminCreateUser m = RB__ADMIN_CREATE_USER__INIT;
	char *pw = password_arg(argv[2]);

	if (!pw)
		return EXIT_FAILED;
	m.email = argv[0];
	m.name = argv[1];
	m.password = pw;
	m.group = argc > 3 ? argv[3] : "user";
	env.payload_case = RB__ENVELOPE__PAYLOAD_ADMIN_CREATE_USER;
	env.admin_create_user = &m;
	Rb__Reply *r = request(c, "admin_create_user", &env);
	free(pw);
	if (!r)
		return EXIT_FAILED;
	printf("created %s (%s) in group %s: id %s\n", m.email, m.name, m.group,
	       r->n_users && r->users[0]->id ? r->users[0]->id : "?");
	rb__reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

static int cmd_set_password(ctl *c, char **argv, int argc)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__AdminSetPassword m = RB__ADMIN_SET_PASSWORD__INIT;
	char *pw = password_arg(argv[1]);

	(void)argc;
	if (!pw)
		return EXIT_FAILED;
	m.email = argv[0];
	m.password = pw;
	env.payload_case = RB__ENVELOPE__PAYLOAD_ADMIN_SET_PASSWORD;
	env.admin_set_password = &m;
	Rb__Reply *r = request(c, "admin_set_password", &env);
	free(pw);
	if (!r)
		return EXIT_FAILED;
	printf("password of %s changed\n", m.email);
	rb__reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

static int cmd_invite(ctl *c, char **argv, int argc)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__AdminInvite m = RB__ADMIN_INVITE__INIT;
	const Rb__SInvite *inv = NULL;

	(void)argc;
	m.group = argv[0];
	env.payload_case = RB__ENVELOPE__PAYLOAD_ADMIN_INVITE;
	env.admin_invite = &m;
	Rb__Reply *r = request(c, "admin_invite", &env);
	if (!r)
		return EXIT_FAILED;
	for (size_t i = 0; i < r->n_deliver && !inv; i++)
		if (r->deliver[i]->packet_case == RB__DELIVERY__PACKET_INVITE)
			inv = r->deliver[i]->invite;
	int rc = inv && inv->invite_code && inv->url ? EXIT_OK : EXIT_FAILED;
	if (rc == EXIT_OK)
		printf("%s\n%s\n", inv->invite_code, inv->url);
	else
		fprintf(stderr, "rebuttalctl: admin_invite: the reply has no invite\n");
	rb__reply__free_unpacked(r, NULL);
	return rc;
}

static int cmd_list_users(ctl *c, char **argv, int argc)
{
	Rb__Envelope env = RB__ENVELOPE__INIT;
	Rb__ListUsers m = RB__LIST_USERS__INIT;

	(void)argv, (void)argc;
	env.payload_case = RB__ENVELOPE__PAYLOAD_LIST_USERS;
	env.list_users = &m;
	Rb__Reply *r = request(c, "list_users", &env);
	if (!r)
		return EXIT_FAILED;
	/* Names are printable text (no tabs, no newlines): safe columns. */
	for (size_t i = 0; i < r->n_users; i++)
		printf("%s\t%s\t%s\n", r->users[i]->id ? r->users[i]->id : "",
		       r->users[i]->name ? r->users[i]->name : "",
		       r->users[i]->has_hidden && r->users[i]->hidden ? "hidden" : "-");
	rb__reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

static const struct {
	const char *name;
	int min, max; /* arguments after the command */
	const char *args;
	int (*fn)(ctl *c, char **argv, int argc);
} commands[] = {
	{"create-user", 3, 4, "EMAIL NAME PASSWORD [GROUP]", cmd_create_user},
	{"set-password", 2, 2, "EMAIL PASSWORD", cmd_set_password},
	{"invite", 1, 1, "GROUP", cmd_invite},
	{"list-users", 0, 0, "", cmd_list_users},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static int usage(FILE *to, int rc)
{
	fprintf(to, "usage: rebuttalctl COMMAND [ARGS]\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(to, "  rebuttalctl %s %s\n", commands[i].name, commands[i].args);
	fprintf(to, "PASSWORD \"-\" reads it from the first line of standard input.\n"
		    "GROUP of create-user defaults to \"user\".\nSettings (environment):\n");
	for (size_t i = 0; i < NSETTINGS; i++)
		fprintf(to, "  %-24s %s (default: %s)\n", settings[i].env, settings[i].help,
			settings[i].def);
	return rc;
}

int main(int argc, char **argv)
{
	static ctl c;
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(argc < 2 ? stderr : stdout, argc < 2 ? EXIT_USAGE : EXIT_OK);
	for (i = 0; i < NCOMMANDS && strcmp(commands[i].name, argv[1]); i++)
		;
	if (i == NCOMMANDS) {
		fprintf(stderr, "rebuttalctl: unknown command \"%s\"\n", argv[1]);
		return usage(stderr, EXIT_USAGE);
	}
	if (argc - 2 < commands[i].min || argc - 2 > commands[i].max) {
		fprintf(stderr, "usage: rebuttalctl %s %s\n", commands[i].name, commands[i].args);
		return EXIT_USAGE;
	}
	/* Only errors from the library: the outcome is this tool's to print. */
	if (proc_init("rebuttalctl") < 0)
		return EXIT_FAILED;
	log_init("rebuttalctl", LOG_ERROR);
	if (cfg_load(settings, NSETTINGS, &c.cfg) < 0)
		return EXIT_USAGE;
	int rc = EXIT_FAILED;
	if ((c.bus = bus_open(&c.cfg.nats, "rebuttalctl", 0)) && wait_connected(&c) == 0)
		rc = commands[i].fn(&c, argv + 2, argc - 2);
	bus_close(c.bus);
	/* Joins cnats' threads: nothing of the library outlives main. */
	(void)nats_CloseAndWait(2000);
	return rc;
}
