/* Integration tests of who may reach the stack (issue 12): another user of
 * the host, without the stack's secrets, gets into none of its servers nor
 * its data folder; and each part's NATS user may publish and subscribe
 * only its own subjects (deploy/nats-permissions.conf). The tests run as
 * root; what "another user" tries runs as nobody through runuser. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integ.h"
#include "uuid.h"

/* Runs a shell command (printf format), its stdout and stderr into out;
 * returns its exit status (128 when it did not exit). */
static int sh(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	CHECK_MSG(n > 0 && (size_t)n + 8 < sizeof cmd, "sh: command too long");
	strcat(cmd, " 2>&1");
	return run_out(cmd, out, outlen);
}

#define NOBODY "runuser -u nobody -- "

static int port_of(const char *url)
{
	const char *colon = strrchr(url, ':');
	CHECK_MSG(colon, "no port in %s", url);
	return atoi(colon + 1);
}

/* ------------------------------------------------------------- NATS */

/* A fresh NATS connection speaking the protocol by hand: CONNECT as user
 * (NULL: no credentials), then lines, then PING. Returns what the server
 * said up to PONG, or up to the close that follows an -ERR (static buffer,
 * at most 3 s). */
static const char *nats_raw(const char *user, const char *pass, const char *lines)
{
	static char got[4096];
	char hello[512];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t n = 0;

	CHECK(fd >= 0);
	got[0] = '\0';
	sa.sin_port = htons((uint16_t)port_of(rt_env("REBUTTAL_NATS_URL")));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_MSG(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
		  strerror(errno));
	if (user)
		snprintf(
			hello, sizeof hello,
			"CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"%s\",\"pass\":\"%s\"}\r\n",
			user, pass);
	else
		snprintf(hello, sizeof hello, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
	CHECK(write(fd, hello, strlen(hello)) == (ssize_t)strlen(hello));
	CHECK(write(fd, lines, strlen(lines)) == (ssize_t)strlen(lines));
	CHECK(write(fd, "PING\r\n", 6) == 6);
	long long deadline = now_ms() + 3000;
	while (!strstr(got, "PONG\r\n") && fd_read_by(fd, got, sizeof got, &n, deadline) > 0)
		;
	close(fd);
	/* Past the INFO line: what the server said to us. */
	const char *rest = strstr(got, "\r\n");
	return strncmp(got, "INFO ", 5) || !rest ? got : rest + 2;
}

static const char *nats_as(const char *user, const char *lines)
{
	char name[64];
	snprintf(name, sizeof name, "nats-%s", user);
	return nats_raw(user, secret_text(name), lines);
}

/* user may not do line ("PUB subject 0\r\n\r\n" or "SUB subject 1\r\n"). */
static void refused(const char *user, const char *line)
{
	const char *got = nats_as(user, line);
	CHECK_MSG(strstr(got, "Permissions Violation"), "%s may do %.*s: the server said %s", user,
		  (int)strcspn(line, "\r"), line, got);
	CHECK_MSG(strstr(got, "PONG"), "%s: no PONG after the refusal: %s", user, got);
}

static void allowed(const char *user, const char *line)
{
	const char *got = nats_as(user, line);
	CHECK_MSG(!strstr(got, "-ERR") && strstr(got, "PONG"), "%s may not do %.*s: %s", user,
		  (int)strcspn(line, "\r"), line, got);
}

void test_access_nats_needs_password(void)
{
	const char *got = nats_raw(NULL, NULL, "");
	CHECK_MSG(strstr(got, "Authorization Violation"), "no credentials: %s", got);
	got = nats_raw("gateway", "not-the-password", "");
	CHECK_MSG(strstr(got, "Authorization Violation"), "a wrong password: %s", got);
	got = nats_raw("tester", secret_text("nats-gateway"), "");
	CHECK_MSG(strstr(got, "Authorization Violation"), "another user's password: %s", got);
	allowed("gateway", "SUB rb.out.all 1\r\n");
}

void test_access_nats_gateway_limited(void)
{
	/* The operator's routes, and anything only services may say. */
	static const char *const pubs[] = {
		"rb.auth.admin_create_user",
		"rb.auth.admin_set_password",
		"rb.auth.admin_invite",
		"rb.auth.list_users",
		"rb.out.all",
		"rb.out.user.x",
		"rb.out.conn.gw.1",
		"rb.evt.auth.user_removed",
		"rb.evt.room.removed",
		"rb.evt.media.changed",
		"rb.gw.x.conns",
		"_INBOX.rebuttalctl.x",
	};
	static const char *const subs[] = {"rb.auth.>", "rb.msg.message",       "rb.evt.>",
					   "_INBOX.>",  "_INBOX.rebuttalctl.>", ">"};
	char line[160];
	for (size_t i = 0; i < sizeof pubs / sizeof *pubs; i++) {
		snprintf(line, sizeof line, "PUB %s 0\r\n\r\n", pubs[i]);
		refused("gateway", line);
	}
	for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
		snprintf(line, sizeof line, "SUB %s 1\r\n", subs[i]);
		refused("gateway", line);
	}
	allowed("gateway", "SUB rb.gw.x.conns 1\r\nSUB _INBOX.gateway.x.* 2\r\n");
}

void test_access_nats_parts_limited(void)
{
	refused("roomsvc", "PUB rb.auth.admin_create_user 0\r\n\r\n");
	refused("msgsvc", "PUB rb.auth.admin_set_password 0\r\n\r\n");
	refused("msgsvc", "PUB rb.evt.auth.user_removed 0\r\n\r\n");
	refused("mediasvc", "PUB rb.auth.admin_invite 0\r\n\r\n");
	refused("mediasvc", "PUB rb.evt.gw.heartbeat 0\r\n\r\n");
	refused("authsvc", "SUB rb.msg.> 1\r\n");
	refused("authsvc", "SUB _INBOX.> 1\r\n");
	refused("rebuttalctl", "PUB rb.out.all 0\r\n\r\n");
	refused("rebuttalctl", "SUB rb.out.> 1\r\n");
	refused("rebuttalctl", "PUB rb.msg.message 0\r\n\r\n");
	allowed("rebuttalctl", "SUB _INBOX.rebuttalctl.x 1\r\n");
	allowed("roomsvc", "SUB rb.evt.gw.* 1\r\n");
}

/* An operator route's payload on a subject that the gateway may publish
 * is refused by the service (lib/svc.c): the NATS permission on the
 * route's own subject is what keeps it for rebuttalctl. */
void test_access_internal_own_subject(void)
{
	bus *b = bus_as("tester", "integ-access");
	char rid[UUID_STR_LEN + 1];
	Rb__AdminInvite ai = RB__ADMIN_INVITE__INIT;
	Rb__Envelope env = RB__ENVELOPE__INIT;
	ai.group = "user";
	uuid_new(rid);
	env.request_id = rid;
	env.payload_case = RB__ENVELOPE__PAYLOAD_ADMIN_INVITE;
	env.admin_invite = &ai;
	Rb__Reply *r = ask(b, "rb.auth.login", &env);
	CHECK_EQ_INT(r->code, RB__CODE__DENIED);
	rb__reply__free_unpacked(r, NULL);
	uuid_new(rid);
	r = ask(b, "rb.auth.admin_invite", &env);
	CHECK_MSG(r->code == RB__CODE__OK, "admin_invite on its own subject: %d %s", r->code,
		  r->message ? r->message : "");
	rb__reply__free_unpacked(r, NULL);
}

/* --------------------------------------------------------- PostgreSQL */

void test_access_postgres_refused(void)
{
	static const char *const roles[] = {"postgres", "rebuttal", "authsvc", "msgsvc"};
	const char *pg = rt_env("REBUTTAL_PG");
	char out[4096];
	/* No password (-w: never ask), over TCP. */
	for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
		int rc = sh(out, sizeof out,
			    "cd / && env -u PGPASSWORD -u PGPASSFILE " NOBODY
			    "psql -X -w '%s user=%s' -c 'SELECT 1'",
			    pg, roles[i]);
		CHECK_MSG(rc != 0 && strstr(out, "password"),
			  "psql as %s without a password: %d %s", roles[i], rc, out);
	}
	/* Guessed passwords. */
	int rc = sh(out, sizeof out,
		    "cd / && PGPASSWORD=postgres " NOBODY
		    "psql -X -w '%s user=postgres' -c 'SELECT 1'",
		    pg);
	CHECK_MSG(rc != 0 && strstr(out, "password authentication failed"), "guessed: %d %s", rc,
		  out);
	/* The socket folder is postgres's alone. */
	rc = sh(out, sizeof out,
		"cd / && " NOBODY "psql -X -w -h '%s/pgsock' -p %s -U postgres "
		"-d postgres -c 'SELECT 1'",
		rt_env("REBUTTAL_STACK_DIR"), rt_env("PG_PORT"));
	CHECK_MSG(rc != 0 && strstr(out, "Permission denied"), "socket: %d %s", rc, out);
}

/* The services' roles are no superusers and reach only their own schema. */
void test_access_postgres_roles(void)
{
	PGconn *c = PQconnectdb(pg_conninfo_as("msgsvc"));
	CHECK_MSG(PQstatus(c) == CONNECTION_OK, "postgres: %s", PQerrorMessage(c));
	PGresult *r = PQexec(c, "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
				"WHERE rolname = current_user");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
	CHECK_EQ_STR(PQgetvalue(r, 0, 0), "f");
	CHECK_EQ_STR(PQgetvalue(r, 0, 1), "f");
	CHECK_EQ_STR(PQgetvalue(r, 0, 2), "f");
	PQclear(r);
	r = PQexec(c, "COPY (SELECT 1) TO PROGRAM 'true'");
	CHECK_MSG(PQresultStatus(r) == PGRES_FATAL_ERROR &&
			  strstr(PQresultErrorMessage(r), "superuser"),
		  "COPY TO PROGRAM as msgsvc: %s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "SELECT count(*) FROM auth.users");
	CHECK_MSG(PQresultStatus(r) == PGRES_FATAL_ERROR &&
			  strstr(PQresultErrorMessage(r), "permission"),
		  "msgsvc reads auth.users: %s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'msg'");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
	CHECK_EQ_STR(PQgetvalue(r, 0, 0), "msgsvc");
	PQclear(r);
	PQfinish(c);
}

/* -------------------------------------------------------------- Redis */

void test_access_redis_refused(void)
{
	char out[4096], path[512], line[256];
	const char *port = rt_env("REBUTTAL_REDIS_PORT");
	int rc = sh(out, sizeof out, "cd / && " NOBODY "redis-cli -p %s PING", port);
	CHECK_MSG(strstr(out, "NOAUTH"), "redis-cli without a password: %d %s", rc, out);
	rc = sh(out, sizeof out,
		"cd / && " NOBODY "redis-cli -p %s --no-auth-warning --user default "
		"--pass '' PING",
		port);
	CHECK_MSG(strstr(out, "WRONGPASS") || strstr(out, "NOAUTH"), "as default: %d %s", rc, out);
	/* A part's user may not administer Redis. */
	rc = sh(out, sizeof out,
		"redis-cli -p %s --no-auth-warning --user roomsvc --pass '%s' "
		"CONFIG SET dir /tmp",
		port, secret_text("redis-roomsvc"));
	CHECK_MSG(strstr(out, "NOPERM"), "CONFIG SET as roomsvc: %d %s", rc, out);
	/* And Redis does not run as root. */
	snprintf(path, sizeof path, "%s/pids/redis.pid", rt_env("REBUTTAL_STACK_DIR"));
	FILE *f = fopen(path, "r");
	int pid = 0, uid = -1;
	CHECK(f && fscanf(f, "%d", &pid) == 1);
	fclose(f);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	CHECK_NOT_NULL(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Uid: %d", &uid) == 1)
			break;
	fclose(f);
	CHECK_MSG(uid > 0, "redis runs as uid %d", uid);
}

/* -------------------------------------------------------- the folder */

/* Nothing in the data folder can be read, or listed, by another user: every
 * path two levels down, checked as nobody. */
void test_access_data_folder(void)
{
	const char *dir = rt_env("REBUTTAL_STACK_DIR");
	char out[8192];
	int rc = sh(out, sizeof out,
		    "find '%s' -mindepth 1 -maxdepth 2 -print0 | xargs -0 " NOBODY
		    "sh -c 'for f; do if [ -r \"$f\" ]; then echo \"readable: $f\"; fi; done' sh",
		    dir);
	CHECK_MSG(rc == 0 && !strstr(out, "readable"), "%d %s", rc, out);
	rc = sh(out, sizeof out, NOBODY "ls '%s'", dir);
	CHECK_MSG(rc != 0, "nobody lists %s: %s", dir, out);
	rc = sh(out, sizeof out, NOBODY "cat '%s/env' '%s'", dir, secret_path("nats-tester"));
	CHECK_MSG(rc != 0 && strstr(out, "Permission denied"), "%d %s", rc, out);
}

/* ------------------------------------------------------------ health */

/* The services' probes listen on loopback only (REBUTTAL_HEALTH_ADDR). */
void test_access_health_loopback(void)
{
	static const char *const parts[] = {"authsvc", "roomsvc", "msgsvc", "mediasvc"};
	char line[512];
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		int port = health_port(parts[i]), found = 0;
		CHECK_MSG(port > 0, "no health port for %s", parts[i]);
		FILE *f = fopen("/proc/net/tcp", "r");
		CHECK_NOT_NULL(f);
		while (fgets(line, sizeof line, f)) {
			unsigned addr, p, state;
			if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X", &addr, &p, &state) != 3 ||
			    (int)p != port || state != 0x0A) /* LISTEN */
				continue;
			found = 1;
			CHECK_MSG(addr == htonl(INADDR_LOOPBACK) || addr == 0x0100007F,
				  "%s health listens on %08X", parts[i], addr);
		}
		fclose(f);
		CHECK_MSG(found, "%s: no listener on port %d in /proc/net/tcp", parts[i], port);
	}
}
