/* Helpers shared by the integration tests: they talk to the stack that
 * scripts/test.sh started (its settings come from the environment written to
 * $REBUTTAL_STACK_DIR/env) over real sockets. */
#ifndef TESTS_INTEG_H
#define TESTS_INTEG_H

#include <jansson.h>

#include "bus.h"
#include "rebuttal.pb-c.h"
#include "runner.h"
#include "wsc.h"

/* How long a test waits for what must happen: 5 s, times
 * REBUTTAL_WAIT_FACTOR (`make SANITIZE=... test` sets 3: sanitized parts
 * run several times slower, and the machine may be shared). */
int wait_ms(void);
#define WAIT_MS wait_ms()

int gw_port(void);
const char *admin_password(void);
/* Opens /ipc on the stack's gateway (or `port`) and takes the `connect` frame. */
wsc *client_at(wsc_ctx *ctx, int port);
wsc *client(wsc_ctx *ctx);
/* Receives a frame of `type` or fails the test, naming what came instead. */
json_t *expect_at(const char *file, int line, wsc *c, const char *type);
#define expect(c, type) expect_at(__FILE__, __LINE__, (c), (type))
/* Asserts the next `error` frame arrives and its message contains `part`. */
void expect_error_at(const char *file, int line, wsc *c, const char *part);
#define expect_error(c, part) expect_error_at(__FILE__, __LINE__, (c), (part))
/* Full login on c; returns the user id (static buffer of the call). Checks
 * the reply sequence login, updatePerms, updateGroups, welcome. */
const char *login_at(const char *file, int line, wsc *c, const char *email, const char *pw);
#define login(c, email, pw) login_at(__FILE__, __LINE__, (c), (email), (pw))
wsc *admin(wsc_ctx *ctx);
/* Makes an invite into group with the admin connection; returns the code
 * (caller frees). */
char *make_invite(wsc *admin_conn, const char *group);
/* Signs up a new account through an invite; writes its email into email
 * (64 bytes). Password is "password-123". */
void signup_user(wsc_ctx *ctx, wsc *admin_conn, const char *group, const char *name, char *email);
/* Sends a packet with printf formatting. */
void sendp(wsc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *jstr(json_t *o, const char *key);
/* Runs scripts/stack.sh with the test stack's folder: `stack("kill authsvc")`.
 * Returns its exit status; its stdout (first line) goes to out if not NULL. */
int stack(const char *args, char *out, size_t outlen);
/* A unique suffix for names and emails in this test run. */
const char *uniq(void);
long long now_ms(void);

#define TEST_PASSWORD "password-123"

/* One account's connection in the admin, room and media tests. */
typedef struct {
	wsc *c;
	char id[64];
	char email[64];
	int talking; /* integ_media.c's barrier: the last value it sent */
} who;

/* A fresh account in `group` (made by an invite), logged in on the gateway
 * at `port`; fails the test on any error. */
void user_at(wsc_ctx *ctx, wsc *adm, const char *group, const char *name, int port, who *w);
/* user_at for several accounts of group "user" on the gateway at port:
 * the arguments after port are pairs of a name and the who it fills,
 * ended by NULL: users_at(ctx, adm, gw_port(), "alice", &a, "bob", &b, NULL). */
void users_at(wsc_ctx *ctx, wsc *adm, int port, ...);
/* Another connection of the same account at `port` (caller closes). */
wsc *second_conn(wsc_ctx *ctx, const who *w, int port);
/* Starts (or finds running) the gateway instance `part` ("gateway NAME");
 * returns its port. */
int gateway_at(const char *part);
/* gateway_at with settings of its own on top of the stack's: "VAR=value"
 * strings, NULL-ended (set for this start only). */
int gateway_with(const char *part, const char *const *settings);
/* Creates a room of type named name as adm and waits for the updateRooms
 * that lists it; its id into id (64 bytes). */
void room_made(wsc *adm, const char *type, const char *name, char *id);
int jbool(json_t *o, const char *key);
/* Both set and equal. */
int streq(const char *a, const char *b);
/* Makes roomsvc compose both lists again for a reason of its own (a new
 * connection of the admin logs in; ctx owns it): updateUsers is not sent
 * again for a join, a leave, `talking`, `servermute` or `golive` (every
 * client gets their own packets, or updateRooms), so a test that checks
 * how updateUsers shows such a change asks for the next list this way. */
void lists_refresh(wsc_ctx *ctx);
/* Sends env to subject over b and returns the decoded reply (caller frees);
 * fails the test when no reply comes. */
Rb__Reply *ask(bus *b, const char *subject, const Rb__Envelope *env);

/* A client that stops reading: a raw socket with a small receive buffer
 * that speaks just enough WebSocket to log in as root on the gateway at
 * port and then reads only when told (a library client would keep
 * draining the socket into its own memory). Returns the socket. */
int raw_login(int port);
/* Writes one masked text frame. */
void raw_send(int fd, const char *text);
/* Reads until needle has been seen in the byte stream (frames unparsed). */
void raw_wait_for(int fd, const char *needle);
/* The value of a sample `name` (with its labels) of /metrics at port (a
 * gateway's, or a part's health port); -1 when absent or unreadable. */
long metric_at(int port, const char *name);
/* The health port a part instance ("mediasvc", "msgsvc-2") was started
 * with (the stack's ports folder), or 0. */
int health_port(const char *inst);
/* The number in the stack's file folder/inst ("pids", "gateway-x": its
 * pid; "ports", "msgsvc": its port), or 0. */
int stack_number(const char *folder, const char *inst);

/* Starts the gateway instance "gateway-NAME" with TLS (a fresh self-signed
 * certificate in the stack folder) serving webroot (NULL: the stack's web
 * root); returns its port. Stop it with stack("kill gateway-NAME TERM"). */
int tls_gateway(const char *name, const char *webroot);
/* Runs a shell command (a check script), copying its output to ours;
 * keeps its last line in last. Returns pclose's status (0: success). */
int run_shown(const char *cmd, char *last, size_t lastlen);
/* Runs a shell command, what it prints into out (outlen bytes at most,
 * NUL-terminated); returns its exit status (128 when it did not exit). */
int run_out(const char *cmd, char *out, size_t outlen);
/* Waits until `until` (now_ms) for bytes on fd and appends them to buf
 * (cap bytes, *len used, kept NUL-terminated). 1 when some came, 0 when
 * time ran out, -1 at the end of the stream, on an error or when buf is
 * full. */
int fd_read_by(int fd, char *buf, size_t cap, size_t *len, long long until);
/* Resident memory (VmRSS) of a stack process ("gateway") in KiB. (bench.c
 * has its own static copy, rss_kib, left alone so that this branch merges
 * cleanly with main's bench.c; it can call this one instead.) */
/* The pid of a part of the stack (its pids/<part>.pid), and its resident
 * memory. */
int part_pid(const char *part);
long part_rss_kib(const char *part);

/* Credentials of the stack (scripts/stack.sh keeps them in
 * $REBUTTAL_STACK_DIR/secrets, 0700). */
/* The path of secret `name` ("nats-gateway", "pgpass"...): static buffer
 * of the call. */
const char *secret_path(const char *name);
/* Its text without the newline: static storage, at most 8 different names. */
const char *secret_text(const char *name);
/* A bus to the stack's NATS as NATS user `user` ("tester": the tests' own
 * user, who may play any part; "gateway", "rebuttalctl"... to check what
 * that part may do), waited for until connected (fails the test if not). */
bus *bus_as(const char *user, const char *name);
/* REBUTTAL_PG as PostgreSQL role `role` ("authsvc", "msgsvc") with the
 * stack's password file: static buffer of the call. */
const char *pg_conninfo_as(const char *role);

#endif
