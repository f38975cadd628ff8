/* The foundation: connection life cycle, §1 error rules, v0 packets,
 * invites, TLS, HTTP, and authsvc crashes. */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc.h"
#include "integ.h"
#include "proc.h"

void test_connect_frame(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = wsc_open(ctx, "127.0.0.1", gw_port(), "/ipc", 0, WAIT_MS);
	CHECK_NOT_NULL(c);
	json_t *j = wsc_recv(c, WAIT_MS); /* the very first frame */
	CHECK_NOT_NULL(j);
	CHECK_EQ_STR(jstr(j, "type"), "connect");
	CHECK(json_is_string(json_object_get(j, "message")));
	CHECK(json_is_string(json_object_get(j, "icon")));
	json_t *protos = json_object_get(j, "protocols");
	int has_v1 = 0;
	for (size_t i = 0; i < json_array_size(protos); i++)
		has_v1 |= !strcmp(json_string_value(json_array_get(protos, i)), "v1");
	CHECK(has_v1);
	json_t *menus = json_object_get(j, "contextmenus");
	static const char *const keys[] = {"user", "room", "textroom", "voiceroom", "message"};
	for (size_t i = 0; i < 5; i++)
		CHECK(json_is_array(json_object_get(menus, keys[i])));
	json_decref(j);
	wsc_ctx_free(ctx);
}

static int list_has(json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!strcmp(json_string_value(json_array_get(arr, i)), s))
			return 1;
	return 0;
}

void test_login_root_sequence(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	sendp(c,
	      "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\",\"protocol\":\"v1\"}",
	      admin_password());
	json_t *l = expect(c, "login"), *p = wsc_recv(c, WAIT_MS), *g = wsc_recv(c, WAIT_MS),
	       *w = wsc_recv(c, WAIT_MS);
	CHECK(json_is_true(json_object_get(l, "success")));
	CHECK_EQ_STR(jstr(p, "type"), "updatePerms");
	CHECK_EQ_STR(jstr(g, "type"), "updateGroups");
	CHECK_EQ_STR(jstr(w, "type"), "welcome");
	static const char *const all[] = {
		"createRoom",    "createUser",   "renameRoom",    "renameUser",
		"renameServer",  "removeRoom",   "removeUser",    "inviteUser",
		"inviteUserAny", "noInviteFor",  "joinVoiceRoom", "sendMessage",
		"setUserGroup",  "setGroupPerm", "changeMessage", "suppressUser"};
	json_t *perms = json_object_get(p, "perms");
	CHECK_EQ_INT(json_array_size(perms), 16);
	for (size_t i = 0; i < 16; i++)
		CHECK_MSG(list_has(perms, all[i]), "root lacks %s", all[i]);
	json_t *groups = json_object_get(g, "groups");
	CHECK(list_has(json_object_get(groups, "user"), "joinVoiceRoom"));
	CHECK(list_has(json_object_get(groups, "user"), "sendMessage"));
	CHECK_EQ_INT(json_array_size(json_object_get(groups, "admin")), 16);
	CHECK(json_is_object(json_object_get(w, "contextmenus")));
	json_decref(l), json_decref(p), json_decref(g), json_decref(w);
	wsc_ctx_free(ctx);
}

/* A refused login answers `error` and then closes (PROTOCOL.md §1). */
static void login_refused(const char *packet, const char *msg_part)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	wsc_send_text(c, packet, strlen(packet));
	expect_error(c, msg_part);
	CHECK_MSG(wsc_wait_closed(c, WAIT_MS) >= 0, "socket not closed after refused login");
	wsc_ctx_free(ctx);
}

void test_login_wrong_password_closes(void)
{
	login_refused(
		"{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"wrong-password\","
		"\"protocol\":\"v1\"}",
		"Permission denied");
	login_refused("{\"type\":\"login\",\"email\":\"nobody@nowhere.example\",\"password\":\"x\","
		      "\"protocol\":\"v1\"}",
		      "Permission denied");
}

void test_login_missing_field_closes(void)
{
	login_refused("{\"type\":\"login\",\"email\":\"root@localhost\",\"protocol\":\"v1\"}",
		      "password");
	login_refused("{\"type\":\"login\",\"password\":\"x\",\"protocol\":\"v1\"}", "email");
}

void test_login_unknown_protocol_closes(void)
{
	char p[256];
	snprintf(p, sizeof p,
		 "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\","
		 "\"protocol\":\"v7\"}",
		 admin_password());
	login_refused(p, "protocol");
	snprintf(p, sizeof p,
		 "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\"}",
		 admin_password());
	login_refused(p, "protocol");
}

void test_login_v0_protocol_closes(void)
{
	char p[256];
	snprintf(p, sizeof p,
		 "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\","
		 "\"protocol\":\"v0\"}",
		 admin_password());
	login_refused(p, "protocol");
}

void test_v1_before_login_stays_open(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	/* The web client's hang-up button sends leaveroom before login. */
	sendp(c, "{\"type\":\"leaveroom\"}");
	expect_error(c, "Not logged in");
	sendp(c, "{\"type\":\"createroom\",\"roomType\":\"text\",\"roomName\":\"x\"}");
	expect_error(c, "Not logged in");
	CHECK(!wsc_is_closed(c));
	login(c, "root@localhost", admin_password()); /* still usable */
	wsc_ctx_free(ctx);
}

static char *big_packet(size_t size)
{
	char *s = malloc(size + 1);
	CHECK_NOT_NULL(s);
	int n = sprintf(s, "{\"type\":\"leaveroom\",\"pad\":\"");
	memset(s + n, 'x', size - (size_t)n - 2);
	memcpy(s + size - 2, "\"}", 3);
	return s;
}

void test_frame_65k_before_login_1009(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	char *s = big_packet(65 * 1024);
	wsc_send_text(c, s, strlen(s));
	CHECK_EQ_INT(wsc_wait_closed(c, WAIT_MS), 1009);
	free(s);
	/* 60 KiB before login is fine (an error for "Not logged in"). */
	c = client(ctx);
	s = big_packet(60 * 1024);
	wsc_send_text(c, s, strlen(s));
	expect_error(c, "Not logged in");
	free(s);
	wsc_ctx_free(ctx);
}

void test_frame_13m_after_login_1009(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = admin(ctx);
	char *s = big_packet(13 * 1024 * 1024);
	wsc_send_text(c, s, strlen(s));
	CHECK_EQ_INT(wsc_wait_closed(c, 15000), 1009);
	free(s);
	/* 1 MiB after login is accepted (leaveroom ignores the padding). */
	c = admin(ctx);
	s = big_packet(1024 * 1024);
	wsc_send_text(c, s, strlen(s));
	sendp(c, "{\"type\":\"frobnicate\"}");
	expect_error(c, "frobnicate");
	free(s);
	wsc_ctx_free(ctx);
}

void test_invalid_json_3001(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	sendp(c, "{\"type\": \"login\", ");
	CHECK_EQ_INT(wsc_wait_closed(c, WAIT_MS), 3001);
	wsc_ctx_free(ctx);
}

void test_non_object_json_error_then_3001(void)
{
	static const char *const cases[] = {"[1,2,3]", "\"hello\"", "{\"type\":42}", "{\"a\":1}"};
	wsc_ctx *ctx = wsc_ctx_new();
	for (size_t i = 0; i < 4; i++) {
		wsc *c = client(ctx);
		sendp(c, "%s", cases[i]);
		json_t *e = expect(c, "error");
		json_decref(e);
		CHECK_MSG(wsc_wait_closed(c, WAIT_MS) == 3001, "case %s", cases[i]);
	}
	wsc_ctx_free(ctx);
}

void test_binary_frame_error_stays_open(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	wsc_send_binary(c, "\x01\x02\x03", 3);
	expect_error(c, "binary");
	login(c, "root@localhost", admin_password());
	wsc_send_binary(c, "{}", 2);
	expect_error(c, "binary");
	CHECK(!wsc_is_closed(c));
	wsc_ctx_free(ctx);
}

void test_unknown_type_error_stays_open(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = admin(ctx);
	sendp(c, "{\"type\":\"frobnicate\",\"x\":1}");
	expect_error(c, "frobnicate");
	sendp(c, "{\"type\":\"invite\",\"groupName\":\"user\"}");
	json_decref(expect(c, "invite"));
	wsc_ctx_free(ctx);
}

void test_bad_field_error_stays_open(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = admin(ctx);
	sendp(c, "{\"type\":\"invite\"}");
	expect_error(c, "invite: missing field groupName");
	sendp(c, "{\"type\":\"invite\",\"groupName\":17}");
	expect_error(c, "groupName");
	sendp(c, "{\"type\":\"joinroom\",\"roomid\":\"nope\"}");
	expect_error(c, "joinroom: field roomid");
	sendp(c, "{\"type\":\"invite\",\"groupName\":\"user\"}");
	json_decref(expect(c, "invite"));
	wsc_ctx_free(ctx);
}

static void signup_send(wsc *c, const char *name, const char *pw, const char *email,
			const char *code)
{
	sendp(c,
	      "{\"type\":\"signup\",\"userName\":\"%s\",\"password\":\"%s\",\"email\":\"%s\","
	      "\"signUp\":\"%s\"}",
	      name, pw, email, code);
}

void test_invite_signup_login(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char *code = make_invite(a, "user");
	char email[96];
	snprintf(email, sizeof email, "alice-%s@test.example", uniq());
	wsc *c = client(ctx);
	signup_send(c, "alice", TEST_PASSWORD, email, code);
	json_decref(expect(c, "refreshNow"));
	wsc_close(c);

	c = client(ctx);
	sendp(c,
	      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
	      "\"protocol\":\"v1\"}",
	      email);
	json_t *l = expect(c, "login"), *p = expect(c, "updatePerms");
	CHECK(json_is_true(json_object_get(l, "success")));
	json_t *perms = json_object_get(p, "perms");
	CHECK_EQ_INT(json_array_size(perms), 2);
	CHECK(list_has(perms, "sendMessage") && list_has(perms, "joinVoiceRoom"));
	json_decref(l), json_decref(p);
	json_decref(expect(c, "welcome"));
	/* The email is case-insensitive for login. */
	wsc *c2 = client(ctx);
	for (char *q = email; *q; q++)
		*q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
	login(c2, email, TEST_PASSWORD);
	free(code);
	wsc_ctx_free(ctx);
}

void test_invite_alias_and_url(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	sendp(a, "{\"type\":\"invite\",\"group_name\":\"guests-%s\"}", uniq());
	json_t *j = expect(a, "invite");
	const char *code = jstr(j, "invite_code"), *url = jstr(j, "url");
	CHECK(code && strlen(code) == 36);
	char want[128];
	snprintf(want, sizeof want, "/?invite=%s", code);
	CHECK_MSG(url && strstr(url, want) && !strncmp(url, "http", 4), "url %s", url);
	json_decref(j);
	wsc_ctx_free(ctx);
}

void test_invite_reused_refused(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char *code = make_invite(a, "user");
	char e1[96], e2[96];
	snprintf(e1, sizeof e1, "first-%s@test.example", uniq());
	snprintf(e2, sizeof e2, "second-%s@test.example", uniq());
	wsc *c = client(ctx);
	signup_send(c, "first", TEST_PASSWORD, e1, code);
	json_decref(expect(c, "refreshNow"));
	signup_send(c, "second", TEST_PASSWORD, e2, code);
	expect_error(c, "invite");
	CHECK(!wsc_is_closed(c));
	free(code);
	wsc_ctx_free(ctx);
}

void test_invite_concurrent_one_wins(void)
{
	enum { N = 12 };
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx), *c[N];
	char *code = make_invite(a, "user"), name[32];
	for (int i = 0; i < N; i++)
		c[i] = client(ctx);
	/* One name for all (display names are unique: one nobody took yet). */
	snprintf(name, sizeof name, "racer%s", uniq());
	/* All sends are queued first and go out in one service pass. */
	for (int i = 0; i < N; i++) {
		char email[96];
		snprintf(email, sizeof email, "race%d-%s@test.example", i, uniq());
		signup_send(c[i], name, TEST_PASSWORD, email, code);
	}
	int wins = 0, errors = 0;
	for (int i = 0; i < N; i++) {
		json_t *j = wsc_recv(c[i], WAIT_MS);
		CHECK_NOT_NULL(j);
		wins += !strcmp(jstr(j, "type"), "refreshNow");
		errors += !strcmp(jstr(j, "type"), "error");
		json_decref(j);
	}
	CHECK_EQ_INT(wins, 1);
	CHECK_EQ_INT(errors, N - 1);
	free(code);
	wsc_ctx_free(ctx);
}

void test_signup_duplicate_email_keeps_invite(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char email[64];
	signup_user(ctx, a, "user", "dup", email);
	char *code = make_invite(a, "user");
	wsc *c = client(ctx);
	signup_send(c, "dup2", TEST_PASSWORD, email, code);
	expect_error(c, "email");
	/* The failed sign-up did not use the invite up. */
	char other[96];
	snprintf(other, sizeof other, "dup3-%s@test.example", uniq());
	signup_send(c, "dup3", TEST_PASSWORD, other, code);
	json_decref(expect(c, "refreshNow"));
	free(code);
	wsc_ctx_free(ctx);
}

void test_signup_short_password(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char *code = make_invite(a, "user");
	wsc *c = client(ctx);
	signup_send(c, "shorty", "123456789", "shorty@test.example", code);
	expect_error(c, "password");
	CHECK(!wsc_is_closed(c));
	free(code);
	wsc_ctx_free(ctx);
}

void test_signup_nonprintable_name(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char *code = make_invite(a, "user");
	wsc *c = client(ctx);
	signup_send(c, "bad\\u0007name", TEST_PASSWORD, "np@test.example", code);
	expect_error(c, "userName");
	signup_send(c, "x", TEST_PASSWORD, "np@test.example", code);
	expect_error(c, "userName");
	CHECK(!wsc_is_closed(c));
	free(code);
	wsc_ctx_free(ctx);
}

void test_signup_bad_code(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = client(ctx);
	signup_send(c, "nocode", TEST_PASSWORD, "nocode@test.example",
		    "00000000-0000-4000-8000-000000000000");
	expect_error(c, "invite");
	/* Open sign-up is off unless the deployment names a group. */
	signup_send(c, "nocode", TEST_PASSWORD, "nocode@test.example", "signup");
	expect_error(c, "sign-up");
	wsc_ctx_free(ctx);
}

void test_invite_permission_denied(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char email[64];
	signup_user(ctx, a, "user", "plain", email);
	wsc *u = client(ctx);
	login(u, email, TEST_PASSWORD);
	sendp(u, "{\"type\":\"invite\",\"groupName\":\"admin\"}");
	expect_error(u, "Permission denied \"inviteUserAny\"");
	CHECK(!wsc_is_closed(u));
	wsc_ctx_free(ctx);
}

void test_login_again_refused(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	sendp(a,
	      "{\"type\":\"login\",\"email\":\"root@localhost\",\"password\":\"%s\",\"protocol\":\"v1\"}",
	      admin_password());
	expect_error(a, "already logged in");
	sendp(a,
	      "{\"type\":\"signup\",\"userName\":\"xx\",\"password\":\"0123456789\",\"email\":\"a@b.c\",\"signUp\":\"signup\"}");
	expect_error(a, "already logged in");
	CHECK(!wsc_is_closed(a));
	wsc_ctx_free(ctx);
}

static void http_expect(const char *path, int status, const char *body_part)
{
	httpc_resp r;
	CHECK_EQ_INT(httpc_get("127.0.0.1", gw_port(), path, WAIT_MS, &r), 0);
	CHECK_MSG(r.status == status, "GET %s: %d, wanted %d", path, r.status, status);
	if (body_part)
		CHECK_MSG(r.body && strstr(r.body, body_part), "GET %s: body lacks %s", path,
			  body_part);
	httpc_resp_free(&r);
}

void test_http_probes_and_redirect(void)
{
	http_expect("/healthz", 200, "ok");
	http_expect("/readyz", 200, NULL);
	http_expect("/metrics", 200, "rebuttal_gateway_connections");
	httpc_resp r;
	CHECK_EQ_INT(httpc_get("127.0.0.1", gw_port(),
			       "/invite/0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e", WAIT_MS, &r),
		     0);
	CHECK_EQ_INT(r.status, 302);
	size_t n;
	const char *loc = httpc_header(&r, "Location", &n);
	CHECK(loc && n == strlen("/?invite=0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e") &&
	      !strncmp(loc, "/?invite=0b7e7c3e-6b1f-4c59-9f0e-1d2a3b4c5d6e", n));
	httpc_resp_free(&r);
}

/* A raw loopback connection to the gateway's port; -1 on failure. */
static int raw_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Reads until `want` status lines have arrived with their bodies (every
 * answer here has a Content-Length) or ms pass; returns the statuses seen,
 * in order, as "404 200 404". */
static void read_statuses(int fd, int want, int ms, char *out, size_t outlen)
{
	static char acc[16384];
	size_t len = 0;
	int seen = 0;
	long long end = now_ms() + ms;
	out[0] = '\0';
	while (seen < want && fd_read_by(fd, acc, sizeof acc, &len, end) > 0) {
		/* Count complete answers: status line, headers, body. */
		seen = 0;
		out[0] = '\0';
		for (char *p = acc; (p = strstr(p, "HTTP/1.1 ")) != NULL;) {
			char *hend = strstr(p, "\r\n\r\n");
			char *cl = strstr(p, "content-length: ");
			if (!hend || !cl || cl > hend)
				break;
			char *body_end = hend + 4 + atol(cl + 16);
			if (body_end > acc + len)
				break;
			size_t o = strlen(out);
			snprintf(out + o, outlen - o, "%s%.3s", seen ? " " : "", p + 9);
			seen++;
			p = body_end;
		}
	}
}

/* Pipelined, interleaved and aborted requests for /uploads (answered by
 * msgsvc, so each waits for the bus) mixed with /healthz (answered at
 * once): answers come in request order, and no pattern of hang-ups frees
 * anything twice (the sanitizer run checks that; the gateway must live). */
void test_http_pipelined_uploads(void)
{
	static const char up[] =
		"GET /uploads/00000000-0000-4000-8000-000000000000/b00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char req[512], got[64];
	int rounds = 1000, answered = 0;
	for (int i = 0; i < rounds; i++) {
		int fd = raw_connect(gw_port());
		CHECK_MSG(fd >= 0, "connect failed at round %d", i);
		switch (i % 4) {
		case 0: /* three pipelined uploads, then hang up at once */
			snprintf(req, sizeof req, "%s%s%s", up, up, up);
			CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
			break;
		case 1: /* upload, health, upload in one write: answers in order */
			snprintf(req, sizeof req, "%s%s%s", up, hz, up);
			CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
			read_statuses(fd, 3, WAIT_MS, got, sizeof got);
			CHECK_MSG(!strcmp(got, "404 200 404"), "round %d: answers \"%s\"", i, got);
			answered++;
			break;
		case 2: /* the second request split across writes, mid-wait */
			CHECK(write(fd, up, sizeof up - 1) == (ssize_t)(sizeof up - 1));
			CHECK(write(fd, up, 20) == 20);
			usleep(200);
			CHECK(write(fd, up + 20, sizeof up - 21) == (ssize_t)(sizeof up - 21));
			read_statuses(fd, 2, WAIT_MS, got, sizeof got);
			CHECK_MSG(!strcmp(got, "404 404"), "round %d: answers \"%s\"", i, got);
			answered++;
			break;
		case 3: /* two uploads and half a third, then hang up mid-answer */
			snprintf(req, sizeof req, "%s%s%.15s", up, up, up);
			CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
			read_statuses(fd, 1, WAIT_MS, got, sizeof got);
			break;
		}
		close(fd);
	}
	http_expect("/healthz", 200, "ok");
	printf("pipelined /uploads: %d rounds (%d answered in order), gateway alive\n", rounds,
	       answered);
}

/* A request that states its length twice, or both ways, is refused (the
 * connection closes without an answer), never read one way or the other. */
void test_http_conflicting_length_refused(void)
{
	static const char *const reqs[] = {
		"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
		int fd = raw_connect(gw_port());
		CHECK(fd >= 0);
		CHECK(write(fd, reqs[i], strlen(reqs[i])) == (ssize_t)strlen(reqs[i]));
		char got[64];
		read_statuses(fd, 1, 2000, got, sizeof got);
		CHECK_MSG(!strstr(got, "200"), "request %zu answered %s", i, got);
		close(fd);
	}
	http_expect("/healthz", 200, "ok");
}

/* A service's health port: slow clients (a byte every 0.3 s, more of them
 * than the server has slots) do not make a single probe fail or wait. */
void test_health_slow_clients(void)
{
	enum { SLOW = 48, ROUNDS = 10 };
	char path[512];
	snprintf(path, sizeof path, "%s/ports/authsvc", rt_env("REBUTTAL_STACK_DIR"));
	FILE *f = fopen(path, "r");
	int port = 0, fds[SLOW], ok = 0;
	CHECK_MSG(f && fscanf(f, "%d", &port) == 1, "no port in %s", path);
	fclose(f);
	for (int i = 0; i < SLOW; i++)
		CHECK((fds[i] = raw_connect(port)) >= 0);
	long long worst = 0;
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < SLOW; i++)
			(void)!send(fds[i], "G", 1, MSG_NOSIGNAL); /* evicted ones are closed */
		long long t0 = now_ms();
		httpc_resp resp;
		if (httpc_get("127.0.0.1", port, "/healthz", 1000, &resp) == 0 &&
		    resp.status == 200)
			ok++;
		httpc_resp_free(&resp);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		usleep(300 * 1000);
	}
	for (int i = 0; i < SLOW; i++)
		close(fds[i]);
	printf("health port with %d slow clients: %d/%d probes ok, slowest %lld ms\n", SLOW, ok,
	       ROUNDS, worst);
	CHECK_EQ_INT(ok, ROUNDS);
	CHECK_MSG(worst < 500, "a probe took %lld ms", worst);
}

void test_http_static_webroot(void)
{
	/* scripts/test.sh gives the test gateway a web root with this page. */
	const char *root = rt_env("REBUTTAL_WEBROOT");
	char path[512];
	snprintf(path, sizeof path, "%s/index.html", root);
	FILE *f = fopen(path, "r");
	CHECK_MSG(f, "no %s", path);
	char want[128] = "";
	CHECK(fgets(want, sizeof want, f));
	fclose(f);
	want[strcspn(want, "\n")] = '\0';
	http_expect("/", 200, want);
	http_expect("/index.html", 200, want);
	http_expect("/no-such-file.js", 404, NULL);
	/* And the WebSocket is on the same port. */
	wsc_ctx *ctx = wsc_ctx_new();
	client(ctx);
	wsc_ctx_free(ctx);
}

void test_tls_login(void)
{
	char cmd[1024];
	int port = tls_gateway("tls", NULL);

	wsc_ctx *ctx = wsc_ctx_new();
	wsc *c = wsc_open(ctx, "127.0.0.1", port, "/ipc", 1, WAIT_MS);
	CHECK_MSG(c, "wss open failed: %s", wsc_ctx_last_error(ctx));
	json_decref(expect(c, "connect"));
	login(c, "root@localhost", admin_password());
	/* Plain ws:// to the TLS port does not get a session. */
	CHECK(wsc_open(ctx, "127.0.0.1", port, "/ipc", 0, 2000) == NULL);
	wsc_ctx_free(ctx);

	/* As a browser: one HTTP/2 connection (ALPN h2) with plain GETs and two
	 * WebSockets over extended CONNECT (RFC 8441); tests/h2/h2check.mjs. */
	snprintf(cmd, sizeof cmd, "node tests/h2/h2check.mjs %d root@localhost '%s' '%s' 2>&1",
		 port, admin_password(), rt_env("REBUTTAL_WEBROOT"));
	char last[256];
	int rc = run_shown(cmd, last, sizeof last);
	stack("kill gateway-tls TERM", NULL, 0);
	CHECK_MSG(rc == 0, "h2check failed: %s", last);
}

void test_authsvc_kill9_restart(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char email[64];
	signup_user(ctx, a, "user", "survivor", email);

	/* A second gateway with a short login deadline, to see the deadline. */
	static const char *const deadline[] = {"REBUTTAL_LOGIN_DEADLINE_MS=2000", NULL};
	int port2 = gateway_with("gateway shortlogin", deadline);

	CHECK_EQ_INT(stack("kill authsvc KILL", NULL, 0), 0);
	/* A login while authsvc is down waits (NATS says "no responders"; the
	 * gateway asks again with backoff) instead of failing... */
	wsc *c = client(ctx);
	long long t0 = now_ms();
	sendp(c,
	      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
	      "\"protocol\":\"v1\"}",
	      email);
	/* ...and where the deadline passes first, the client hears `error` at
	 * the deadline and keeps its socket (it was not refused). */
	wsc *d = client_at(ctx, port2);
	long long t1 = now_ms();
	sendp(d,
	      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"" TEST_PASSWORD "\","
	      "\"protocol\":\"v1\"}",
	      email);
	json_t *e = wsc_expect(d, "error", 10000);
	long long waited = now_ms() - t1;
	CHECK_MSG(e, "no error at the login deadline while authsvc is down");
	json_decref(e);
	CHECK_MSG(waited >= 1900 && waited < 4000, "error after %lld ms, deadline 2000", waited);
	wsc_service(ctx, 300);
	CHECK_MSG(!wsc_is_closed(d), "the socket was closed at the deadline");
	printf("login while authsvc down: error at the deadline after %lld ms, socket kept\n",
	       waited);
	CHECK(wsc_count_type(c, "error") == 0);

	proc_sleep_ms(1000);
	CHECK_EQ_INT(stack("start-part authsvc", NULL, 0), 0);
	long long t2 = now_ms();
	/* The waiting login goes through once authsvc is back. */
	json_t *w = wsc_expect_noerr(c, "welcome", 10000);
	CHECK_MSG(w, "the waiting login did not complete: %s", wsc_last_error(c));
	json_decref(w);
	printf("login sent while authsvc was down: welcome %lld ms after it was back (%lld ms in all)\n",
	       now_ms() - t2, now_ms() - t0);
	/* The connected admin's socket survived; new logins work again and
	 * the account made before the crash is still there. */
	sendp(a, "{\"type\":\"invite\",\"groupName\":\"user\"}");
	json_decref(expect(a, "invite"));
	wsc *u = client(ctx);
	login(u, email, TEST_PASSWORD);
	wsc_ctx_free(ctx);
	stack("kill gateway-shortlogin TERM", NULL, 0);
}

/* Logs in until it works or `ms` pass; returns how long it took. */
static long long login_eventually(wsc_ctx *ctx, const char *email, const char *pw, int ms)
{
	long long t0 = now_ms();
	while (now_ms() - t0 < ms) {
		wsc *c = wsc_open(ctx, "127.0.0.1", gw_port(), "/ipc", 0, WAIT_MS);
		json_t *hello = c ? wsc_expect(c, "connect", WAIT_MS) : NULL;
		if (hello) {
			json_decref(hello);
			sendp(c,
			      "{\"type\":\"login\",\"email\":\"%s\",\"password\":\"%s\",\"protocol\":\"v1\"}",
			      email, pw);
			json_t *j = wsc_expect(c, "welcome", 8000);
			if (j) {
				json_decref(j);
				return now_ms() - t0;
			}
		}
		if (c)
			wsc_close(c);
		usleep(200 * 1000);
	}
	CHECK_MSG(0, "no login within %d ms", ms);
	return -1;
}

void test_nats_restart_recovers(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	CHECK_EQ_INT(stack("stop-infra nats", NULL, 0), 0);
	CHECK_EQ_INT(stack("start-infra nats", NULL, 0), 0);
	/* Every part reconnects; the connected admin keeps its socket and its
	 * subscriptions, and new logins work. */
	long long took = login_eventually(ctx, "root@localhost", admin_password(), 20000);
	printf("login works %lld ms after NATS came back\n", took);
	sendp(a, "{\"type\":\"invite\",\"groupName\":\"user\"}");
	json_t *j = wsc_expect(a, "invite", 10000);
	CHECK_MSG(j, "the connected admin gets no answer after the NATS restart");
	json_decref(j);
	wsc_ctx_free(ctx);
}

void test_postgres_restart_keeps_accounts(void)
{
	wsc_ctx *ctx = wsc_ctx_new();
	wsc *a = admin(ctx);
	char email[64];
	signup_user(ctx, a, "user", "pgsurvivor", email);
	CHECK_EQ_INT(stack("stop-infra postgres", NULL, 0), 0);
	CHECK_EQ_INT(stack("start-infra postgres", NULL, 0), 0);
	long long took = login_eventually(ctx, email, TEST_PASSWORD, 20000);
	printf("login works %lld ms after PostgreSQL came back\n", took);
	wsc_ctx_free(ctx);
}
