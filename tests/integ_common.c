#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "integ.h"
#include "rawws.h"

int gw_port(void)
{
	return atoi(rt_env("GW_PORT"));
}

const char *admin_password(void)
{
	return rt_env("REBUTTAL_ADMIN_PASSWORD");
}

long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *uniq(void)
{
	static char s[32];
	static unsigned n;
	snprintf(s, sizeof s, "%d%04x%u", (int)getpid(), (unsigned)(now_ms() & 0xffff), n++);
	return s;
}

wsc *client_at(wsc_ctx *ctx, int port)
{
	wsc *c = wsc_open(ctx, "127.0.0.1", port, "/ipc", 0, WAIT_MS);
	CHECK_MSG(c, "cannot open ws://127.0.0.1:%d/ipc: %s", port, wsc_ctx_last_error(ctx));
	json_t *j = expect(c, "connect");
	json_decref(j);
	return c;
}

wsc *client(wsc_ctx *ctx)
{
	return client_at(ctx, gw_port());
}

json_t *expect_at(const char *file, int line, wsc *c, const char *type)
{
	json_t *j = wsc_expect(c, type, WAIT_MS);
	if (!j)
		rt_fail(file, line, "no `%s` frame: %s", type, wsc_last_error(c));
	return j;
}

void expect_error_at(const char *file, int line, wsc *c, const char *part)
{
	json_t *j = wsc_expect(c, "error", WAIT_MS);
	if (!j)
		rt_fail(file, line, "no `error` frame (wanted \"%s\"): %s", part,
			wsc_last_error(c));
	const char *m = jstr(j, "message");
	if (!m || !strstr(m, part))
		rt_fail(file, line, "error message \"%s\" lacks \"%s\"", m ? m : "(none)", part);
	json_decref(j);
}

const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

void sendp(wsc *c, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	CHECK(n >= 0 && wsc_send_text(c, s, (size_t)n) == 0);
	free(s);
}

const char *login_at(const char *file, int line, wsc *c, const char *email, const char *pw)
{
	static char uid[64];
	json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "type", "login", "email", email, "password",
				pw, "protocol", "v1");
	wsc_send_json(c, req);
	json_decref(req);
	/* The four frames come in this order and nothing else comes between. */
	static const char *const seq[] = {"login", "updatePerms", "updateGroups", "welcome"};
	for (size_t i = 0; i < 4; i++) {
		json_t *j = wsc_recv(c, WAIT_MS);
		if (!j)
			rt_fail(file, line, "login %s: no `%s`: %s", email, seq[i],
				wsc_last_error(c));
		if (!jstr(j, "type") || strcmp(jstr(j, "type"), seq[i])) {
			char *s = json_dumps(j, JSON_COMPACT);
			rt_fail(file, line, "login %s: wanted `%s`, got %s", email, seq[i], s);
		}
		if (i == 0) {
			if (!json_is_true(json_object_get(j, "success")) || !jstr(j, "userid"))
				rt_fail(file, line, "login reply lacks success/userid");
			snprintf(uid, sizeof uid, "%s", jstr(j, "userid"));
		}
		json_decref(j);
	}
	return uid;
}

wsc *admin(wsc_ctx *ctx)
{
	wsc *c = client(ctx);
	login(c, "root@localhost", admin_password());
	return c;
}

char *make_invite(wsc *a, const char *group)
{
	sendp(a, "{\"type\":\"invite\",\"groupName\":\"%s\"}", group);
	json_t *j = expect(a, "invite");
	const char *code = jstr(j, "invite_code");
	CHECK_NOT_NULL(code);
	char *out = strdup(code);
	json_decref(j);
	return out;
}

void signup_user(wsc_ctx *ctx, wsc *a, const char *group, const char *name, char *email)
{
	char *code = make_invite(a, group), unique[40];
	snprintf(email, 64, "%s-%s@test.example", name, uniq());
	wsc *c = client(ctx);
	json_t *j = NULL;
	/* Display names are unique (lib/skeleton.h): a name another test took
	 * already gets this run's suffix. A refused sign-up leaves the invite
	 * unused. */
	for (int attempt = 0; attempt < 2 && !j; attempt++) {
		snprintf(unique, sizeof unique, "%.20s%s%s", name, attempt ? "-" : "",
			 attempt ? uniq() : "");
		unique[32] = '\0';
		sendp(c,
		      "{\"type\":\"signup\",\"userName\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
		      "\"email\":\"%s\",\"signUp\":\"%s\"}",
		      unique, email, code);
		j = wsc_expect_noerr(c, "refreshNow", WAIT_MS);
		if (!j && !strstr(wsc_last_error(c), "userName is taken"))
			break;
	}
	CHECK_MSG(j, "signup %s failed: %s", email, wsc_last_error(c));
	json_decref(j);
	wsc_close(c);
	free(code);
}

int stack(const char *args, char *out, size_t outlen)
{
	/* "verb rest..." becomes: stack.sh verb DIR rest... */
	char cmd[1024];
	const char *sp = strchr(args, ' ');
	int vlen = sp ? (int)(sp - args) : (int)strlen(args);
	snprintf(cmd, sizeof cmd, "scripts/stack.sh %.*s '%s' %s", vlen, args,
		 rt_env("REBUTTAL_STACK_DIR"), sp ? sp + 1 : "");
	FILE *p = popen(cmd, "r");
	CHECK_NOT_NULL(p);
	char line[256] = "";
	if (!fgets(line, sizeof line, p))
		line[0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	int rc = pclose(p);
	if (out)
		snprintf(out, outlen, "%s", line);
	return rc;
}

void user_at(wsc_ctx *ctx, wsc *adm, const char *group, const char *name, int port, who *w)
{
	memset(w, 0, sizeof *w);
	signup_user(ctx, adm, group, name, w->email);
	w->c = client_at(ctx, port);
	snprintf(w->id, sizeof w->id, "%s", login(w->c, w->email, TEST_PASSWORD));
}

void users_at(wsc_ctx *ctx, wsc *adm, int port, ...)
{
	va_list ap;
	const char *name;

	va_start(ap, port);
	while ((name = va_arg(ap, const char *)))
		user_at(ctx, adm, "user", name, port, va_arg(ap, who *));
	va_end(ap);
}

wsc *second_conn(wsc_ctx *ctx, const who *w, int port)
{
	wsc *c = client_at(ctx, port);
	login(c, w->email, TEST_PASSWORD);
	return c;
}

int gateway_at(const char *part)
{
	char cmd[64], out[64];
	snprintf(cmd, sizeof cmd, "start-part %s", part);
	CHECK_EQ_INT(stack(cmd, out, sizeof out), 0);
	CHECK_MSG(!strncmp(out, "port=", 5), "start-part printed \"%s\"", out);
	return atoi(out + 5);
}

int gateway_with(const char *part, const char *const *settings)
{
	char name[128];
	for (size_t i = 0; settings[i]; i++)
		CHECK(putenv((char *)settings[i]) == 0);
	int port = gateway_at(part);
	for (size_t i = 0; settings[i]; i++) {
		snprintf(name, sizeof name, "%.*s", (int)strcspn(settings[i], "="), settings[i]);
		unsetenv(name);
	}
	return port;
}

void room_made(wsc *adm, const char *type, const char *name, char *id)
{
	sendp(adm, "{\"type\":\"createroom\",\"roomType\":\"%s\",\"roomName\":\"%s\"}", type, name);
	for (*id = '\0'; !*id;) {
		json_t *j = expect(adm, "updateRooms");
		json_t *list = json_object_get(j, "roomList");
		for (size_t i = 0; i < json_array_size(list); i++)
			if (streq(jstr(json_array_get(list, i), "name"), name))
				snprintf(id, 64, "%s", jstr(json_array_get(list, i), "id"));
		json_decref(j);
	}
}

int jbool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

int streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

void lists_refresh(wsc_ctx *ctx)
{
	(void)admin(ctx); /* stays open: a close would send `disconnect` and lists too */
}

Rb__Reply *ask(bus *b, const char *subject, const Rb__Envelope *env)
{
	size_t len = protobuf_c_message_get_packed_size(&env->base), rlen;
	uint8_t *p = malloc(len ? len : 1);
	void *reply = NULL;
	CHECK_NOT_NULL(p);
	protobuf_c_message_pack(&env->base, p);
	CHECK_MSG(bus_request_sync(b, subject, p, len, WAIT_MS, &reply, &rlen) == 0,
		  "no reply on %s", subject);
	free(p);
	Rb__Reply *r = rb__reply__unpack(NULL, rlen, reply);
	free(reply);
	CHECK_NOT_NULL(r);
	return r;
}

/* ------------------------------------------ a client that does not read */

/* Writes one masked text frame (clients must mask). */
void raw_send(int fd, const char *text)
{
	size_t len = strlen(text), h = 0;
	unsigned char hdr[14], mask[4] = {0x12, 0x34, 0x56, 0x78};
	hdr[h++] = 0x81;
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	unsigned char *buf = malloc(h + len);
	CHECK_NOT_NULL(buf);
	memcpy(buf, hdr, h);
	for (size_t i = 0; i < len; i++)
		buf[h + i] = (unsigned char)text[i] ^ mask[i % 4];
	CHECK(write(fd, buf, h + len) == (ssize_t)(h + len));
	free(buf);
}

/* Reads until `needle` has been seen in the byte stream (frames unparsed). */
void raw_wait_for(int fd, const char *needle)
{
	static char win[65536];
	size_t have = 0;
	long long until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		if (have > sizeof win / 2) { /* keep the tail only */
			memmove(win, win + have - 1024, 1024);
			have = 1024;
		}
		ssize_t n = read(fd, win + have, sizeof win - have - 1);
		CHECK_MSG(n > 0, "slow client: socket closed while waiting for %s", needle);
		have += (size_t)n;
		win[have] = '\0';
		if (memmem(win, have, needle, strlen(needle)))
			return;
	}
	CHECK_MSG(0, "slow client: no %s", needle);
}

int raw_login(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A small receive buffer: the backlog piles up in the gateway, not here. */
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	char req[256];
	int n = snprintf(req, sizeof req, RAWWS_UPGRADE, port);
	CHECK(write(fd, req, (size_t)n) == n);
	raw_wait_for(fd, "\"connect\"");
	char login[256];
	snprintf(
		login, sizeof login,
		"{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\",\"protocol\":\"v1\"}",
		admin_password());
	raw_send(fd, login);
	raw_wait_for(fd, "\"welcome\"");
	return fd;
}

const char *secret_path(const char *name)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/secrets/%s", rt_env("REBUTTAL_STACK_DIR"), name);
	return path;
}

const char *secret_text(const char *name)
{
	static char names[8][64], texts[8][256];
	int i;
	for (i = 0; i < 8 && names[i][0]; i++)
		if (!strcmp(names[i], name))
			return texts[i];
	CHECK_MSG(i < 8 && strlen(name) < sizeof names[i], "secret_text: too many names");
	FILE *f = fopen(secret_path(name), "r");
	CHECK_MSG(f, "secret %s: %s", secret_path(name), strerror(errno));
	CHECK(fgets(texts[i], sizeof texts[i], f) != NULL);
	fclose(f);
	texts[i][strcspn(texts[i], "\n")] = '\0';
	snprintf(names[i], sizeof names[i], "%s", name);
	return texts[i];
}

bus *bus_as(const char *user, const char *name)
{
	char file[64];
	snprintf(file, sizeof file, "nats-%s", user);
	bus_addr a = {rt_env("REBUTTAL_NATS_URL"), user, secret_text(file)};
	bus *b = bus_open(&a, name, 0);
	CHECK_NOT_NULL(b);
	for (int i = 0; i < 250 && !bus_connected(b); i++)
		usleep(20000);
	CHECK_MSG(bus_connected(b), "NATS as %s: not connected", user);
	return b;
}

const char *pg_conninfo_as(const char *role)
{
	static char s[1024];
	snprintf(s, sizeof s, "%s user=%s passfile=%s", rt_env("REBUTTAL_PG"), role,
		 secret_path("pgpass"));
	return s;
}

int stack_number(const char *folder, const char *inst)
{
	char path[512];
	int n = 0;
	snprintf(path, sizeof path, "%s/%s/%s", rt_env("REBUTTAL_STACK_DIR"), folder, inst);
	FILE *f = fopen(path, "r");
	if (f && fscanf(f, "%d", &n) != 1)
		n = 0;
	if (f)
		fclose(f);
	return n;
}

int health_port(const char *inst)
{
	return stack_number("ports", inst);
}

long metric_at(int port, const char *name)
{
	httpc_resp r = {0};
	long v = -1;
	size_t n = strlen(name);
	if (httpc_get("127.0.0.1", port, "/metrics", WAIT_MS, &r) == 0 && r.status == 200) {
		for (const char *p = r.body; p && (p = strstr(p, name)); p += n) {
			if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
				v = atol(p + n + 1);
				break;
			}
		}
	}
	httpc_resp_free(&r);
	return v;
}

/* Resident memory of a stack process, from its pid file, in KiB. */
int part_pid(const char *part)
{
	char file[128];
	snprintf(file, sizeof file, "%s.pid", part);
	int pid = stack_number("pids", file);
	CHECK_MSG(pid > 0, "no pid of %s in the stack", part);
	return pid;
}

long part_rss_kib(const char *part)
{
	char path[512], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", part_pid(part));
	FILE *f = fopen(path, "r");
	CHECK_NOT_NULL(f);
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int tls_gateway(const char *name, const char *webroot)
{
	char cmd[1024], out[64];
	const char *dir = rt_env("REBUTTAL_STACK_DIR");
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
		 "-keyout '%s/tls-%s.key' -out '%s/tls-%s.crt' >/dev/null 2>&1",
		 dir, name, dir, name);
	CHECK_EQ_INT(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s/tls-%s.crt", dir, name);
	setenv("REBUTTAL_TLS_CERT", cmd, 1);
	snprintf(cmd, sizeof cmd, "%s/tls-%s.key", dir, name);
	setenv("REBUTTAL_TLS_KEY", cmd, 1);
	if (webroot)
		setenv("REBUTTAL_WEBROOT", webroot, 1);
	snprintf(cmd, sizeof cmd, "start-part gateway %s", name);
	int rc = stack(cmd, out, sizeof out);
	unsetenv("REBUTTAL_TLS_CERT");
	unsetenv("REBUTTAL_TLS_KEY");
	CHECK_EQ_INT(rc, 0);
	int port = 0;
	CHECK_MSG(sscanf(out, "port=%d", &port) == 1, "start-part said \"%s\"", out);
	return port;
}

int run_shown(const char *cmd, char *last, size_t lastlen)
{
	FILE *p = popen(cmd, "r");
	CHECK_NOT_NULL(p);
	char line[512];
	last[0] = '\0';
	while (fgets(line, sizeof line, p)) {
		fputs(line, stdout);
		snprintf(last, lastlen, "%s", line);
	}
	fflush(stdout);
	return pclose(p);
}

int run_out(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	CHECK_NOT_NULL(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int fd_read_by(int fd, char *buf, size_t cap, size_t *len, long long until)
{
	for (long long left; *len < cap - 1 && (left = until - now_ms()) > 0;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(left < 100 ? left : 100)) <= 0)
			continue;
		ssize_t n = read(fd, buf + *len, cap - 1 - *len);
		if (n <= 0)
			return -1;
		*len += (size_t)n;
		buf[*len] = '\0';
		return 1;
	}
	return *len < cap - 1 ? 0 : -1;
}

int wait_ms(void)
{
	static int ms;
	if (!ms) {
		const char *f = getenv("REBUTTAL_WAIT_FACTOR");
		long k = f ? strtol(f, NULL, 10) : 1;
		ms = 5000 * (int)(k >= 1 && k <= 20 ? k : 1);
	}
	return ms;
}
