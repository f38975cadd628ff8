/*
 * selftest_wsc.c - self-test of the test infrastructure itself
 * (tests/runner.c, tests/wsc.c, tests/httpc.c).
 *
 * Each test forks its own small libwebsockets echo server (or a canned raw
 * HTTP server) on 127.0.0.1 with a kernel-chosen port, so tests are
 * independent and need nothing from the environment.  tls_echo needs the
 * `openssl` command to make a throw-away self-signed certificate.
 *
 * Build and run from the repo root:
 *   gcc -std=gnu11 -Wall -Wextra -Werror -O2 -g -o selftest_wsc \
 *       tests/selftest_wsc.c tests/wsc.c tests/httpc.c tests/runner.c \
 *       $(pkg-config --cflags --libs libwebsockets jansson) -lpthread
 *   ./selftest_wsc            # all tests; or name some; --list to see them
 * Sanitizer build: add -fsanitize=address,undefined -fno-omit-frame-pointer.
 *
 * Echo server protocol (text frames; anything else is echoed back as is,
 * keeping the text/binary type):
 *   "close:N"  server closes with status N (after flushing queued frames)
 *   "drop"     server closes without a status code
 *   "frag"     server sends {"type":"frag","data":"hello world"} split
 *              into three WebSocket fragments
 *   "flood:N"  server sends N {"type":"tick","i":k} then {"type":"done"}
 */
#define _GNU_SOURCE
#include "httpc.h"
#include "runner.h"
#include "wsc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_LIST(X)                                                        \
    X(open_echo_json)                                                       \
    X(non_json_and_empty_frames)                                            \
    X(big_frame_13mib)                                                      \
    X(binary_16mib)                                                         \
    X(server_fragments)                                                     \
    X(server_close_codes)                                                   \
    X(client_close)                                                         \
    X(many_connections)                                                     \
    X(expect_skips_and_counts)                                              \
    X(expect_noerr_and_timeout)                                             \
    X(open_refused)                                                         \
    X(open_timeout)                                                         \
    X(ctx_free_with_open_connections)                                       \
    X(tls_echo)                                                             \
    X(http_static)                                                          \
    X(httpc_framing)                                                        \
    X(httpc_errors)

RT_MAIN(TEST_LIST)

#define HOST "127.0.0.1"
#define T_MS 10000 /* generous: sanitizer builds are slow */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ==== echo server (runs in a forked child) ============================ */

struct sout {
    struct sout *next;
    unsigned char *buf; /* LWS_PRE headroom + payload */
    size_t len;
    enum lws_write_protocol wp;
};

struct pss {
    unsigned char *rx; /* LWS_PRE headroom + message so far */
    size_t rx_len, rx_cap;
    int in_msg, rx_binary;
    struct sout *head, *tail;
    int close_code, drop;
};

static volatile sig_atomic_t srv_stop_flag;

static void srv_on_term(int sig)
{
    (void)sig;
    srv_stop_flag = 1;
}

/* Takes ownership of buf. */
static int srv_push(struct pss *p, unsigned char *buf, size_t len,
                    enum lws_write_protocol wp)
{
    struct sout *o = calloc(1, sizeof *o);
    if (!o) {
        free(buf);
        return -1;
    }
    o->buf = buf;
    o->len = len;
    o->wp = wp;
    if (p->tail)
        p->tail->next = o;
    else
        p->head = o;
    p->tail = o;
    return 0;
}

static int srv_push_str(struct pss *p, const char *s,
                        enum lws_write_protocol wp)
{
    size_t len = strlen(s);
    unsigned char *b = malloc(LWS_PRE + len + 1);
    if (!b)
        return -1;
    memcpy(b + LWS_PRE, s, len);
    return srv_push(p, b, len, wp);
}

static void srv_free(struct pss *p)
{
    while (p->head) {
        struct sout *o = p->head;
        p->head = o->next;
        free(o->buf);
        free(o);
    }
    p->tail = NULL;
    free(p->rx);
    p->rx = NULL;
    p->rx_len = p->rx_cap = 0;
}

static int srv_command(struct pss *p, const char *msg, size_t len)
{
    char cmd[64];
    int n;

    if (len >= sizeof cmd)
        return 0;
    memcpy(cmd, msg, len);
    cmd[len] = '\0';
    if (sscanf(cmd, "close:%d", &n) == 1) {
        p->close_code = n;
        return 1;
    }
    if (strcmp(cmd, "drop") == 0) {
        p->drop = 1;
        return 1;
    }
    if (strcmp(cmd, "frag") == 0) {
        if (srv_push_str(p, "{\"type\":\"frag\",",
                         LWS_WRITE_TEXT | LWS_WRITE_NO_FIN) ||
            srv_push_str(p, "\"data\":\"hello",
                         LWS_WRITE_CONTINUATION | LWS_WRITE_NO_FIN) ||
            srv_push_str(p, " world\"}", LWS_WRITE_CONTINUATION))
            return -1;
        return 1;
    }
    if (sscanf(cmd, "flood:%d", &n) == 1) {
        char buf[64];
        for (int i = 0; i < n; i++) {
            snprintf(buf, sizeof buf, "{\"type\":\"tick\",\"i\":%d}", i);
            if (srv_push_str(p, buf, LWS_WRITE_TEXT))
                return -1;
        }
        snprintf(buf, sizeof buf, "{\"type\":\"done\",\"n\":%d}", n);
        if (srv_push_str(p, buf, LWS_WRITE_TEXT))
            return -1;
        return 1;
    }
    return 0;
}

static int srv_receive(struct lws *wsi, struct pss *p, const void *in,
                       size_t len)
{
    if (!p->in_msg) {
        p->in_msg = 1;
        p->rx_binary = lws_frame_is_binary(wsi);
        p->rx_len = 0;
    }
    if (p->rx_len + len > p->rx_cap) {
        size_t cap = p->rx_cap ? p->rx_cap : 4096;
        while (cap < p->rx_len + len)
            cap *= 2;
        unsigned char *b = realloc(p->rx, LWS_PRE + cap);
        if (!b)
            return -1;
        p->rx = b;
        p->rx_cap = cap;
    }
    if (len)
        memcpy(p->rx + LWS_PRE + p->rx_len, in, len);
    p->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;

    p->in_msg = 0;
    int r = p->rx_binary ? 0
                         : srv_command(p, (char *)p->rx + LWS_PRE, p->rx_len);
    if (r < 0)
        return -1;
    if (r == 0) {
        /* Echo: hand the whole receive buffer to the send queue. */
        if (!p->rx && srv_push_str(p, "", LWS_WRITE_TEXT) < 0)
            return -1;
        if (p->rx && srv_push(p, p->rx, p->rx_len,
                              p->rx_binary ? LWS_WRITE_BINARY
                                           : LWS_WRITE_TEXT) < 0) {
            p->rx = NULL;
            return -1;
        }
        p->rx = NULL;
        p->rx_len = p->rx_cap = 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

static int srv_writeable(struct lws *wsi, struct pss *p)
{
    struct sout *o = p->head;

    if (o) {
        p->head = o->next;
        if (!p->head)
            p->tail = NULL;
        int n = lws_write(wsi, o->buf + LWS_PRE, o->len, o->wp);
        size_t len = o->len;
        free(o->buf);
        free(o);
        if (n < 0 || (size_t)n < len)
            return -1;
        if (p->head || p->close_code || p->drop)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (p->close_code) {
        lws_close_reason(wsi, (enum lws_close_status)p->close_code,
                         (unsigned char *)"bye", 3);
        return -1;
    }
    if (p->drop)
        return -1;
    return 0;
}

/* A client that sends "X-Hello: v" is greeted with what the server saw:
 * {"type":"hello","x_hello":v,"uri":path,"arg":first query argument}. */
static int srv_established(struct lws *wsi, struct pss *p)
{
    char v[128] = "", uri[256] = "", arg[256] = "";

    if (lws_hdr_custom_length(wsi, "x-hello:", 8) <= 0)
        return 0;
    if (lws_hdr_custom_copy(wsi, v, sizeof v, "x-hello:", 8) < 0)
        return -1;
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0)
        uri[0] = '\0';
    if (lws_hdr_copy_fragment(wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS,
                              0) < 0)
        arg[0] = '\0';
    json_t *g = json_pack("{s:s, s:s, s:s, s:s}", "type", "hello", "x_hello",
                          v, "uri", uri, "arg", arg);
    char *txt = g ? json_dumps(g, JSON_COMPACT) : NULL;
    json_decref(g);
    if (!txt)
        return -1;
    int rc = srv_push_str(p, txt, LWS_WRITE_TEXT);
    free(txt);
    if (rc < 0)
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

static int srv_cb(struct lws *wsi, enum lws_callback_reasons reason,
                  void *user, void *in, size_t len)
{
    struct pss *p = user;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return srv_established(wsi, p);
    case LWS_CALLBACK_RECEIVE:
        return srv_receive(wsi, p, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return srv_writeable(wsi, p);
    case LWS_CALLBACK_CLOSED:
        srv_free(p);
        return 0;
    default:
        break;
    }
    /* Plain HTTP (the static mount) is handled by lws' default logic. */
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols srv_protocols[] = {
    /* First = default, so a WebSocket upgrade without a subprotocol
     * lands here. */
    { "echo", srv_cb, sizeof(struct pss), 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void srv_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* wakes poll() so the stop flag is seen */
}

/* Child side: serve until SIGTERM.  Reports the port (or -1) on port_fd. */
static int srv_run(int port_fd, const char *cert_dir, const char *docroot)
{
    struct lws_context_creation_info info;
    struct lws_http_mount mount;
    lws_sorted_usec_list_t tick;
    char cert[512], key[512];
    struct lws_context *ctx;
    int port = -1;

    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof info);
    memset(&mount, 0, sizeof mount);
    memset(&tick, 0, sizeof tick);
    info.port = 0; /* kernel picks a free one */
    info.iface = HOST;
    info.protocols = srv_protocols;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    if (docroot) {
        mount.mountpoint = "/static";
        mount.mountpoint_len = 7;
        mount.origin = docroot;
        mount.def = "index.html";
        mount.origin_protocol = LWSMPRO_FILE;
        info.mounts = &mount;
    }
    if (cert_dir) {
        snprintf(cert, sizeof cert, "%s/cert.pem", cert_dir);
        snprintf(key, sizeof key, "%s/key.pem", cert_dir);
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cert;
        info.ssl_private_key_filepath = key;
    }
    ctx = lws_create_context(&info);
    if (ctx)
        port = lws_get_vhost_listen_port(lws_get_vhost_by_name(ctx, "default"));
    if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port)
        port = -1;
    close(port_fd);
    if (!ctx)
        return 1;
    while (!srv_stop_flag) {
        lws_sul_schedule(ctx, 0, &tick, srv_tick, 50 * LWS_US_PER_MS);
        if (lws_service(ctx, 0) < 0)
            break;
    }
    lws_sul_cancel(&tick);
    lws_context_destroy(ctx);
    return port > 0 ? 0 : 1;
}

struct srv {
    pid_t pid;
    int port;
};

/* Reads the child's port report; -1 if it died or took too long. */
static int read_port(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int port = -1;

    if (poll(&p, 1, T_MS) == 1 && read(fd, &port, sizeof port) != sizeof port)
        port = -1;
    close(fd);
    return port;
}

/* Child setup shared by all forked helpers: die with the test process. */
static void child_init(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
}

static void srv_start(struct srv *s, const char *cert_dir, const char *docroot)
{
    int fds[2];
    pid_t parent = getpid();

    CHECK(pipe(fds) == 0);
    fflush(NULL);
    s->pid = fork();
    CHECK(s->pid >= 0);
    if (s->pid == 0) {
        child_init(parent);
        close(fds[0]);
        signal(SIGTERM, srv_on_term);
        exit(srv_run(fds[1], cert_dir, docroot));
    }
    close(fds[1]);
    s->port = read_port(fds[0]);
    CHECK_MSG(s->port > 0, "echo server did not start");
}

/* Stops the server and checks it exited cleanly (also: no leaks under
 * LeakSanitizer, which would change its exit code). */
static void srv_stop(struct srv *s)
{
    long long deadline = now_ms() + T_MS;
    int status = 0;
    pid_t r;

    CHECK(kill(s->pid, SIGTERM) == 0);
    while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 &&
           now_ms() < deadline)
        usleep(2000);
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        rt_fail(__FILE__, __LINE__, "echo server did not stop on SIGTERM");
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "echo server exit status 0x%x", status);
}

/* ==== small helpers ==================================================== */

static void canned_start(struct srv *s);
static void canned_stop(struct srv *s);

static wsc *open_ok(wsc_ctx *ctx, int port)
{
    wsc *c = wsc_open(ctx, HOST, port, "/", 0, T_MS);
    CHECK_MSG(c != NULL, "wsc_open: %s", wsc_ctx_last_error(ctx));
    return c;
}

/* Next frame must be a JSON object of this type. */
static json_t *recv_type(wsc *c, const char *type)
{
    json_t *j = wsc_recv(c, T_MS);
    CHECK_MSG(j != NULL, "wsc_recv: %s", wsc_last_error(c));
    CHECK(json_is_object(j));
    CHECK_EQ_STR(json_string_value(json_object_get(j, "type")), type);
    return j;
}

/* Runs argv with output discarded; returns its exit status or -1. */
static int run_quiet(char *const argv[])
{
    int status;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0) {
            dup2(dn, 1);
            dup2(dn, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "fopen %s: %s", path, strerror(errno));
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
}

static void remove_files(const char *dir, const char *const *names)
{
    char path[512];
    for (; *names; names++) {
        snprintf(path, sizeof path, "%s/%s", dir, *names);
        unlink(path);
    }
    rmdir(dir);
}

/* A port on 127.0.0.1 with nothing listening (bound, then released). */
static int closed_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A listening socket that never accepts; *port gets its port. */
static int silent_listener(int *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fd, 16) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static char *pattern_buf(size_t len, int text)
{
    char *b = malloc(len + 1);
    CHECK_NOT_NULL(b);
    for (size_t i = 0; i < len; i++)
        b[i] = text ? (char)('a' + i % 26) : (char)(i * 31 + (i >> 11));
    b[len] = '\0';
    return b;
}

/* ==== WebSocket tests ================================================== */

void test_open_echo_json(void)
{
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);
    CHECK(!wsc_is_closed(c));

    json_t *o = json_pack("{s:s, s:i, s:[i,i]}", "type", "hello", "n", 7,
                          "list", 1, 2);
    CHECK_NOT_NULL(o);
    CHECK_EQ_INT(wsc_send_json(c, o), 0);
    CHECK_EQ_INT(wsc_send_json(c, o), 0); /* not stolen: still usable */
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"fmt\",\"v\":\"%s-%d\"}", "x", 42),
                 0);

    for (int k = 0; k < 2; k++) {
        json_t *j = recv_type(c, "hello");
        CHECK(json_equal(j, o));
        json_decref(j);
    }
    json_decref(o);
    json_t *j = recv_type(c, "fmt");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "v")), "x-42");
    json_decref(j);
    CHECK_EQ_INT(wsc_count_type(c, "hello"), 2);
    CHECK_EQ_INT(wsc_pending(c), 0);

    /* Nothing else is coming: a zero timeout returns at once. */
    long long t0 = now_ms();
    CHECK(wsc_recv(c, 0) == NULL);
    CHECK(now_ms() - t0 < 500);

    wsc_close(c);

    /* Path, query and extra handshake headers reach the server. */
    c = wsc_open_ex(ctx, HOST, s.port, "/chat?token=abc", 0,
                    "X-Hello: there\r\nX-Other: 1", T_MS);
    CHECK_MSG(c != NULL, "wsc_open_ex: %s", wsc_ctx_last_error(ctx));
    j = recv_type(c, "hello");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "x_hello")), "there");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "uri")), "/chat");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "arg")), "token=abc");
    json_decref(j);
    wsc_close(c);

    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_non_json_and_empty_frames(void)
{
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);

    CHECK_EQ_INT(wsc_send_text(c, "not json {", 10), 0);
    CHECK_EQ_INT(wsc_send_text(c, "", 0), 0);
    CHECK_EQ_INT(wsc_send_text(c, "42", 2), 0);

    json_t *j = wsc_recv(c, T_MS);
    CHECK(json_is_string(j));
    CHECK_EQ_STR(json_string_value(j), "not json {");
    json_decref(j);
    j = wsc_recv(c, T_MS);
    CHECK(json_is_string(j));
    CHECK_EQ_INT(json_string_length(j), 0);
    json_decref(j);
    j = wsc_recv(c, T_MS);
    CHECK(json_is_integer(j)); /* any JSON value is accepted at top level */
    CHECK_EQ_INT(json_integer_value(j), 42);
    json_decref(j);

    wsc_close(c);
    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_big_frame_13mib(void)
{
    const size_t n = (size_t)13 << 20;
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);

    char *data = pattern_buf(n, 1);
    json_t *o = json_pack("{s:s, s:s%}", "type", "big", "data", data, n);
    CHECK_NOT_NULL(o);
    CHECK_EQ_INT(wsc_send_json(c, o), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"after\"}"), 0); /* order kept */
    json_decref(o);

    json_t *j = recv_type(c, "big");
    json_t *d = json_object_get(j, "data");
    CHECK_EQ_INT(json_string_length(d), n);
    CHECK(memcmp(json_string_value(d), data, n) == 0);
    json_decref(j);
    json_decref(recv_type(c, "after"));
    free(data);

    wsc_close(c);
    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_binary_16mib(void)
{
    const size_t big = ((size_t)16 << 20) + 1;
    unsigned char small[256];
    struct srv s;
    int binary = 0;

    for (int i = 0; i < 256; i++)
        small[i] = (unsigned char)i; /* includes NULs and invalid UTF-8 */
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);

    char *data = pattern_buf(big, 0);
    CHECK_EQ_INT(wsc_send_binary(c, small, sizeof small), 0);
    CHECK_EQ_INT(wsc_send_binary(c, data, big), 0);
    CHECK_EQ_INT(wsc_send_text(c, "{\"type\":\"t\"}", 12), 0);

    json_t *j = wsc_recv_frame(c, T_MS, &binary);
    CHECK_NOT_NULL(j);
    CHECK_EQ_INT(binary, 1);
    CHECK_EQ_INT(json_string_length(j), sizeof small);
    CHECK(memcmp(json_string_value(j), small, sizeof small) == 0);
    json_decref(j);

    j = wsc_recv_frame(c, T_MS, &binary);
    CHECK_NOT_NULL(j);
    CHECK_EQ_INT(binary, 1);
    CHECK_EQ_INT(json_string_length(j), big);
    CHECK(memcmp(json_string_value(j), data, big) == 0);
    json_decref(j);
    free(data);

    j = wsc_recv_frame(c, T_MS, &binary);
    CHECK_NOT_NULL(j);
    CHECK_EQ_INT(binary, 0);
    json_decref(j);

    wsc_close(c);
    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_server_fragments(void)
{
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);

    CHECK_EQ_INT(wsc_sendf(c, "frag"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "frag"), 0);
    for (int k = 0; k < 2; k++) {
        json_t *j = recv_type(c, "frag");
        CHECK_EQ_STR(json_string_value(json_object_get(j, "data")),
                     "hello world");
        json_decref(j);
    }

    wsc_close(c);
    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_server_close_codes(void)
{
    static const int codes[] = { 3001, 1009, 4000 };
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);

    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        wsc *c = open_ok(ctx, s.port);
        /* Frames queued before the close are still delivered. */
        CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"last\"}"), 0);
        CHECK_EQ_INT(wsc_sendf(c, "close:%d", codes[i]), 0);
        CHECK_EQ_INT(wsc_wait_closed(c, T_MS), codes[i]);
        CHECK(wsc_is_closed(c));
        CHECK_EQ_INT(wsc_close_code(c), codes[i]);
        json_decref(recv_type(c, "last"));
        CHECK(wsc_recv(c, T_MS) == NULL); /* closed and drained: at once */
        CHECK(strstr(wsc_last_error(c), "closed") != NULL);
        CHECK_EQ_INT(wsc_send_text(c, "x", 1), -1);
        CHECK_EQ_INT(wsc_wait_closed(c, 0), codes[i]);
        wsc_close(c);
    }

    /* Closed without a status code. */
    wsc *c = open_ok(ctx, s.port);
    CHECK_EQ_INT(wsc_sendf(c, "drop"), 0);
    CHECK_EQ_INT(wsc_wait_closed(c, T_MS), 0);
    wsc_close(c);

    /* Still open: wait_closed times out. */
    c = open_ok(ctx, s.port);
    long long t0 = now_ms();
    CHECK_EQ_INT(wsc_wait_closed(c, 200), -1);
    long long dt = now_ms() - t0;
    CHECK_MSG(dt >= 190 && dt < 2000, "wait took %lld ms", dt);
    wsc_close(c);

    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_client_close(void)
{
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);

    wsc *a = open_ok(ctx, s.port);
    wsc *b = open_ok(ctx, s.port);
    CHECK_EQ_INT(wsc_sendf(a, "{\"type\":\"bye\"}"), 0);
    long long t0 = now_ms();
    wsc_close(a); /* flushes the queued frame, then closes */
    CHECK_MSG(now_ms() - t0 < 1500, "close took %lld ms", now_ms() - t0);

    /* The other connection is unaffected. */
    CHECK_EQ_INT(wsc_sendf(b, "{\"type\":\"still\"}"), 0);
    json_decref(recv_type(b, "still"));
    wsc_close(b);
    wsc_close(NULL);
    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_many_connections(void)
{
    enum { N = 200 };
    wsc *c[N];
    struct srv s;

    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    long long t0 = now_ms();
    for (int i = 0; i < N; i++) {
        c[i] = wsc_open_async(ctx, HOST, s.port, "/", 0);
        CHECK_NOT_NULL(c[i]);
        /* Queued before the handshake; goes out right after it. */
        CHECK_EQ_INT(wsc_sendf(c[i], "{\"type\":\"hi\",\"i\":%d}", i), 0);
    }
    for (int i = 0; i < N; i++)
        CHECK_MSG(wsc_wait_open(c[i], T_MS) == 0, "conn %d: %s", i,
                  wsc_last_error(c[i]));
    for (int i = 0; i < N; i++) {
        json_t *j = recv_type(c[i], "hi");
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "i")), i);
        json_decref(j);
    }
    /* Every connection gets a "broadcast"-like burst; count them. */
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(wsc_sendf(c[i], "flood:3"), 0);
    for (int i = 0; i < N; i++)
        json_decref(wsc_expect(c[i], "done", T_MS));
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(wsc_count_type(c[i], "tick"), 3);
    printf("# %d connections open+echo+flood in %lld ms\n", N,
           now_ms() - t0);

    for (int i = 0; i < N / 2; i++)
        wsc_close(c[i]);
    wsc_ctx_free(ctx); /* closes the other half */
    srv_stop(&s);
}

void test_expect_skips_and_counts(void)
{
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);

    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"a\"}"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "[1,2]"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"b\"}"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"a\"}"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"want\",\"v\":1}"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"a\"}"), 0);
    json_t *j = wsc_expect(c, "want", T_MS);
    CHECK_MSG(j != NULL, "%s", wsc_last_error(c));
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "v")), 1);
    json_decref(j);
    /* The trailing "a" was received in the same burst, or soon. */
    json_decref(recv_type(c, "a"));
    CHECK_EQ_INT(wsc_count_type(c, "a"), 3);
    CHECK_EQ_INT(wsc_count_type(c, "b"), 1);
    CHECK_EQ_INT(wsc_count_type(c, "want"), 1);
    CHECK_EQ_INT(wsc_count_type(c, "nope"), 0);

    CHECK_EQ_INT(wsc_sendf(c, "flood:50"), 0);
    j = wsc_expect(c, "done", T_MS);
    CHECK_NOT_NULL(j);
    json_decref(j);
    CHECK_EQ_INT(wsc_count_type(c, "tick"), 50);

    /* Counting happens on arrival, before anything is taken. */
    CHECK_EQ_INT(wsc_sendf(c, "flood:5"), 0);
    for (int k = 0; k < 100 && wsc_count_type(c, "done") < 2; k++)
        wsc_service(ctx, 20);
    CHECK_EQ_INT(wsc_count_type(c, "tick"), 55);
    CHECK_EQ_INT(wsc_pending(c), 6);

    wsc_close(c);
    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_expect_noerr_and_timeout(void)
{
    struct srv s;
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);

    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"x\"}"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"error\",\"message\":\"boom\"}"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"want\"}"), 0);
    CHECK(wsc_expect_noerr(c, "want", T_MS) == NULL);
    CHECK_EQ_STR(wsc_last_error(c), "boom");
    json_t *j = wsc_expect_noerr(c, "want", T_MS); /* still queued */
    CHECK_NOT_NULL(j);
    json_decref(j);

    /* An error frame without "message" is reported whole. */
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"error\",\"code\":42}"), 0);
    CHECK(wsc_expect_noerr(c, "want", T_MS) == NULL);
    CHECK_EQ_STR(wsc_last_error(c), "{\"type\":\"error\",\"code\":42}");

    /* Plain wsc_expect skips error frames. */
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"error\",\"message\":\"m\"}"), 0);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"want\"}"), 0);
    j = wsc_expect(c, "want", T_MS);
    CHECK_NOT_NULL(j);
    json_decref(j);
    CHECK_EQ_INT(wsc_count_type(c, "error"), 3);

    /* Timeouts are honoured although lws 4.1 ignores its own. */
    long long t0 = now_ms();
    CHECK(wsc_expect(c, "never", 300) == NULL);
    long long dt = now_ms() - t0;
    CHECK_MSG(dt >= 290 && dt < 2000, "expect took %lld ms", dt);
    CHECK(strstr(wsc_last_error(c), "timeout") != NULL);
    t0 = now_ms();
    CHECK(wsc_recv(c, 150) == NULL);
    dt = now_ms() - t0;
    CHECK_MSG(dt >= 140 && dt < 2000, "recv took %lld ms", dt);
    t0 = now_ms();
    wsc_service(ctx, 100);
    dt = now_ms() - t0;
    CHECK_MSG(dt >= 95 && dt < 2000, "service took %lld ms", dt);

    wsc_close(c);
    wsc_ctx_free(ctx);
    srv_stop(&s);
}

void test_open_refused(void)
{
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    int port = closed_port();
    long long t0 = now_ms();
    CHECK(wsc_open(ctx, HOST, port, "/", 0, T_MS) == NULL);
    CHECK_MSG(now_ms() - t0 < 3000, "refusal took %lld ms", now_ms() - t0);
    CHECK(wsc_ctx_last_error(ctx)[0] != '\0');
    printf("# refused: %s\n", wsc_ctx_last_error(ctx));

    /* Async flavour reports through wsc_wait_open. */
    wsc *c = wsc_open_async(ctx, HOST, port, "/", 0);
    CHECK_NOT_NULL(c);
    CHECK_EQ_INT(wsc_wait_open(c, T_MS), -1);
    CHECK(wsc_is_closed(c));
    CHECK(wsc_recv(c, 100) == NULL);
    CHECK_EQ_INT(wsc_wait_closed(c, 100), 0);
    wsc_close(c);

    CHECK(wsc_open_async(ctx, HOST, 0, "/", 0) == NULL); /* bad port */
    wsc_ctx_free(ctx);
}

void test_open_timeout(void)
{
    int port, lfd = silent_listener(&port);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);

    long long t0 = now_ms();
    CHECK(wsc_open(ctx, HOST, port, "/", 0, 300) == NULL);
    long long dt = now_ms() - t0;
    CHECK_MSG(dt >= 290 && dt < 2500, "open took %lld ms", dt);
    CHECK(strstr(wsc_ctx_last_error(ctx), "timeout") != NULL);

    close(lfd);

    /* A non-WebSocket answer (HTTP 404) is a quick handshake error. */
    struct srv s;
    canned_start(&s);
    t0 = now_ms();
    CHECK(wsc_open(ctx, HOST, s.port, "/", 0, T_MS) == NULL);
    CHECK_MSG(now_ms() - t0 < 3000, "took %lld ms", now_ms() - t0);
    printf("# handshake error: %s\n", wsc_ctx_last_error(ctx));
    CHECK(strstr(wsc_ctx_last_error(ctx), "HTTP 404") != NULL);
    wsc_ctx_free(ctx);
    canned_stop(&s);
}

void test_ctx_free_with_open_connections(void)
{
    struct srv s;
    int lport, lfd = silent_listener(&lport);
    srv_start(&s, NULL, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);

    wsc *a = open_ok(ctx, s.port);
    wsc *b = open_ok(ctx, s.port);
    CHECK_EQ_INT(wsc_sendf(a, "flood:20"), 0);
    wsc_service(ctx, 50); /* frames arrive and stay queued */
    char *big = pattern_buf((size_t)4 << 20, 1);
    CHECK_EQ_INT(wsc_send_text(b, big, (size_t)4 << 20), 0); /* unsent */
    free(big);
    wsc *pending = wsc_open_async(ctx, HOST, lport, "/", 0); /* connecting */
    CHECK_NOT_NULL(pending);
    CHECK_EQ_INT(wsc_sendf(pending, "queued"), 0);
    wsc *dead = wsc_open_async(ctx, HOST, closed_port(), "/", 0);
    CHECK_NOT_NULL(dead);
    wsc_service(ctx, 20);
    wsc_ctx_free(ctx); /* ASan/LSan verify nothing leaks or dangles */
    wsc_ctx_free(NULL);

    /* A fresh context still works afterwards. */
    ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    a = open_ok(ctx, s.port);
    CHECK_EQ_INT(wsc_sendf(a, "{\"type\":\"ok\"}"), 0);
    json_decref(recv_type(a, "ok"));
    /* wsc_close on a still-connecting connection detaches it. */
    pending = wsc_open_async(ctx, HOST, lport, "/", 0);
    CHECK_NOT_NULL(pending);
    wsc_service(ctx, 20);
    wsc_close(pending);
    wsc_service(ctx, 50);
    wsc_ctx_free(ctx);
    close(lfd);
    srv_stop(&s);
}

void test_tls_echo(void)
{
    char dir[] = "/tmp/wsc-selftest-XXXXXX";
    static const char *const files[] = { "cert.pem", "key.pem", NULL };
    char keyp[600], certp[600];

    CHECK(mkdtemp(dir) != NULL);
    snprintf(keyp, sizeof keyp, "%s/key.pem", dir);
    snprintf(certp, sizeof certp, "%s/cert.pem", dir);
    char *argv[] = { "openssl", "req", "-x509", "-newkey", "rsa:2048",
                     "-nodes", "-days", "1", "-subj", "/CN=localhost",
                     "-keyout", keyp, "-out", certp, NULL };
    int rc = run_quiet(argv);
    CHECK_MSG(rc == 0, "openssl req failed (%d)", rc);

    struct srv s;
    srv_start(&s, dir, NULL);
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    /* Hostname 127.0.0.1 does not match CN=localhost: must be accepted. */
    wsc *c = wsc_open(ctx, HOST, s.port, "/", 1, T_MS);
    CHECK_MSG(c != NULL, "wss open: %s", wsc_ctx_last_error(ctx));
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"secure\"}"), 0);
    json_decref(recv_type(c, "secure"));

    /* A large frame exercises partial TLS writes. */
    const size_t n = (size_t)3 << 20;
    char *data = pattern_buf(n, 1);
    CHECK_EQ_INT(wsc_send_text(c, data, n), 0);
    json_t *j = wsc_recv(c, T_MS);
    CHECK(json_is_string(j));
    CHECK_EQ_INT(json_string_length(j), n);
    CHECK(memcmp(json_string_value(j), data, n) == 0);
    json_decref(j);
    free(data);

    CHECK_EQ_INT(wsc_sendf(c, "close:4001"), 0);
    CHECK_EQ_INT(wsc_wait_closed(c, T_MS), 4001);
    wsc_close(c);

    /* Plain ws:// to the TLS port fails instead of hanging. */
    CHECK(wsc_open(ctx, HOST, s.port, "/", 0, 3000) == NULL);

    wsc_ctx_free(ctx);
    srv_stop(&s);
    remove_files(dir, files);
}

/* ==== HTTP tests ======================================================= */

void test_http_static(void)
{
    char dir[] = "/tmp/wsc-selftest-XXXXXX";
    static const char *const files[] = { "hello.txt", "index.html", NULL };
    httpc_resp r;
    size_t len;

    CHECK(mkdtemp(dir) != NULL);
    write_file(dir, "hello.txt", "hello static\n");
    write_file(dir, "index.html", "<p>index</p>\n");
    struct srv s;
    srv_start(&s, NULL, dir);

    CHECK_MSG(httpc_get(HOST, s.port, "/static/hello.txt", T_MS, &r) == 0,
              "%s", httpc_last_error());
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 13);
    CHECK_EQ_STR(r.body, "hello static\n");
    const char *ct = httpc_header(&r, "content-TYPE", &len);
    CHECK_NOT_NULL(ct);
    CHECK(len >= 10 && strncmp(ct, "text/plain", 10) == 0);
    CHECK(httpc_header(&r, "X-Not-There", &len) == NULL);
    CHECK_EQ_INT(len, 0);
    httpc_resp_free(&r);
    httpc_resp_free(&r); /* zeroed: harmless */

    CHECK(httpc_get(HOST, s.port, "/static/", T_MS, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "<p>index</p>\n");
    httpc_resp_free(&r);

    CHECK(httpc_get(HOST, s.port, "/static/missing.txt", T_MS, &r) == 0);
    CHECK_EQ_INT(r.status, 404);
    httpc_resp_free(&r);

    /* The same server still speaks WebSocket. */
    wsc_ctx *ctx = wsc_ctx_new();
    CHECK_NOT_NULL(ctx);
    wsc *c = open_ok(ctx, s.port);
    CHECK_EQ_INT(wsc_sendf(c, "{\"type\":\"ws\"}"), 0);
    json_decref(recv_type(c, "ws"));
    wsc_ctx_free(ctx);

    srv_stop(&s);
    remove_files(dir, files);
}

/* ---- canned raw HTTP server, for framing cases lws won't produce ---- */

static void send_slowly(int fd, const char *s)
{
    /* 7-byte pieces with pauses: the client must reassemble across reads. */
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i += 7) {
        size_t n = len - i < 7 ? len - i : 7;
        if (send(fd, s + i, n, MSG_NOSIGNAL) < 0)
            return;
        usleep(1000);
    }
}

static void canned_handle(int fd)
{
    char req[8192];
    size_t got = 0;
    char *end = NULL;

    while (!end && got < sizeof req - 1) {
        ssize_t n = recv(fd, req + got, sizeof req - 1 - got, 0);
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    if (!end)
        return;
    char path[256] = "";
    if (sscanf(req, "%*s %255s", path) != 1)
        return;

    if (strcmp(path, "/chunked") == 0) {
        send_slowly(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                        "X-Test: a\r\n\r\n"
                        "5\r\nhello\r\n7;ext=1\r\n, world\r\n"
                        "0\r\nTrailer-X: y\r\n\r\n");
        sleep(10); /* keeps the socket open: the end must be detected */
    } else if (strcmp(path, "/keepalive") == 0) {
        send_slowly(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody");
        sleep(10);
    } else if (strcmp(path, "/eof") == 0) {
        send_slowly(fd, "HTTP/1.0 200 OK\r\nx-lower-case:  spaced value  "
                        "\r\n\r\nuntil eof");
    } else if (strcmp(path, "/continue") == 0) {
        send_slowly(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                        "Content-Length: 2\r\n\r\nok");
    } else if (strcmp(path, "/echo") == 0) {
        /* Echo the request back: method line, headers and body. */
        const char *cl = strcasestr(req, "\r\nContent-Length:");
        size_t blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
        size_t hlen = (size_t)(end + 4 - req);
        while (got < hlen + blen && got < sizeof req - 1) {
            ssize_t n = recv(fd, req + got, sizeof req - 1 - got, 0);
            if (n <= 0)
                return;
            got += (size_t)n;
        }
        char head[128];
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", got);
        send_slowly(fd, head);
        if (send(fd, req, got, MSG_NOSIGNAL) < 0)
            return;
    } else if (strcmp(path, "/hang") == 0) {
        sleep(10);
    } else if (strcmp(path, "/garbage") == 0) {
        send_slowly(fd, "SSH-2.0-nope\r\n\r\n");
    } else {
        send_slowly(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

static void canned_start(struct srv *s)
{
    int fds[2];
    pid_t parent = getpid();

    CHECK(pipe(fds) == 0);
    fflush(NULL);
    s->pid = fork();
    CHECK(s->pid >= 0);
    if (s->pid == 0) {
        child_init(parent);
        close(fds[0]);
        int port, lfd = silent_listener(&port);
        if (write(fds[1], &port, sizeof port) != sizeof port)
            _exit(1);
        close(fds[1]);
        pid_t me = getpid();
        for (;;) {
            int fd = accept(lfd, NULL, NULL);
            if (fd < 0)
                continue;
            pid_t k = fork(); /* one process per connection: may sleep */
            if (k == 0) {
                child_init(me);
                close(lfd);
                canned_handle(fd);
                close(fd);
                _exit(0);
            }
            close(fd);
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        }
    }
    close(fds[1]);
    s->port = read_port(fds[0]);
    CHECK_MSG(s->port > 0, "canned server did not start");
}

static void canned_stop(struct srv *s)
{
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
}

void test_httpc_framing(void)
{
    struct srv s;
    httpc_resp r;
    size_t len;
    long long t0;

    canned_start(&s);

    t0 = now_ms();
    CHECK_MSG(httpc_get(HOST, s.port, "/chunked", T_MS, &r) == 0, "%s",
              httpc_last_error());
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello, world");
    CHECK_EQ_INT(r.body_len, 12);
    const char *v = httpc_header(&r, "x-test", &len);
    CHECK(v && len == 1 && *v == 'a');
    CHECK(now_ms() - t0 < 3000);
    httpc_resp_free(&r);

    t0 = now_ms();
    CHECK(httpc_get(HOST, s.port, "/keepalive", T_MS, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "body");
    CHECK(now_ms() - t0 < 3000); /* did not wait for EOF */
    httpc_resp_free(&r);

    CHECK(httpc_get(HOST, s.port, "/eof", T_MS, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "until eof");
    v = httpc_header(&r, "X-Lower-Case", &len);
    CHECK_NOT_NULL(v);
    CHECK_EQ_INT(len, 12);
    CHECK(strncmp(v, "spaced value", len) == 0);
    httpc_resp_free(&r);

    CHECK(httpc_get(HOST, s.port, "/continue", T_MS, &r) == 0);
    CHECK_EQ_INT(r.status, 201);
    CHECK_EQ_STR(r.body, "ok");
    httpc_resp_free(&r);

    CHECK(httpc_get(HOST, s.port, "/nothing", T_MS, &r) == 0);
    CHECK_EQ_INT(r.status, 404);
    CHECK_EQ_INT(r.body_len, 0);
    CHECK_EQ_STR(r.body, "");
    httpc_resp_free(&r);

    CHECK(httpc_request(HOST, s.port, "POST", "/echo", "X-A: 1\r\n", "xyz", 3,
                        T_MS, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strncmp(r.body, "POST /echo HTTP/1.1\r\n", 21) == 0);
    CHECK(strstr(r.body, "\r\nConnection: close\r\n") != NULL);
    CHECK(strstr(r.body, "\r\nX-A: 1\r\n") != NULL);
    CHECK(strstr(r.body, "\r\nContent-Length: 3\r\n") != NULL);
    CHECK(r.body_len > 3 && memcmp(r.body + r.body_len - 3, "xyz", 3) == 0);
    httpc_resp_free(&r);

    canned_stop(&s);
}

void test_httpc_errors(void)
{
    struct srv s;
    httpc_resp r;

    long long t0 = now_ms();
    CHECK_EQ_INT(httpc_get(HOST, closed_port(), "/", T_MS, &r), -1);
    CHECK(now_ms() - t0 < 3000);
    CHECK(r.body == NULL && r.headers == NULL && r.status == 0);
    printf("# refused: %s\n", httpc_last_error());
    httpc_resp_free(&r);

    canned_start(&s);
    t0 = now_ms();
    CHECK_EQ_INT(httpc_get(HOST, s.port, "/hang", 300, &r), -1);
    long long dt = now_ms() - t0;
    CHECK_MSG(dt >= 290 && dt < 2000, "timeout took %lld ms", dt);
    CHECK(strstr(httpc_last_error(), "timeout") != NULL);

    CHECK_EQ_INT(httpc_get(HOST, s.port, "/garbage", T_MS, &r), -1);
    CHECK(strstr(httpc_last_error(), "status") != NULL);
    CHECK_EQ_INT(httpc_get(NULL, s.port, "/", T_MS, &r), -1);
    canned_stop(&s);
}
