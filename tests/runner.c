/* runner.c - see runner.h. */
#define _GNU_SOURCE
#include "runner.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_S 60
#define MAX_SHOWN 512 /* chars of a string shown by CHECK_EQ_STR */

/* Process group of the running test, so an interrupted runner can take the
 * test (and anything it spawned) down with it instead of orphaning it. */
static volatile sig_atomic_t running_pgid;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

_Noreturn void rt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	/* stdout may be a pipe (fully buffered); _exit would drop it. */
	fflush(stdout);
	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

void rt_check_eq_int(const char *file, int line, const char *expr_a, const char *expr_b,
		     long long a, long long b)
{
	if (a != b)
		rt_fail(file, line, "CHECK_EQ_INT(%s, %s) failed: %lld != %lld", expr_a, expr_b, a,
			b);
}

/* Shows a possibly huge or NULL string without flooding the log. */
static void show_str(char *buf, size_t cap, const char *s)
{
	if (!s) {
		snprintf(buf, cap, "NULL");
		return;
	}
	size_t n = strlen(s);
	snprintf(buf, cap, "\"%.*s\"%s", MAX_SHOWN, s, n > MAX_SHOWN ? "... (truncated)" : "");
}

void rt_check_eq_str(const char *file, int line, const char *expr_a, const char *expr_b,
		     const char *a, const char *b)
{
	char sa[MAX_SHOWN + 32], sb[MAX_SHOWN + 32];

	if (a == b || (a && b && strcmp(a, b) == 0))
		return;
	show_str(sa, sizeof sa, a);
	show_str(sb, sizeof sb, b);
	rt_fail(file, line, "CHECK_EQ_STR(%s, %s) failed: %s != %s", expr_a, expr_b, sa, sb);
}

const char *rt_env_at(const char *file, int line, const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		rt_fail(file, line, "environment variable %s is not set; this test needs it", name);
	return v;
}

static void on_signal(int sig)
{
	pid_t pg = (pid_t)running_pgid;

	if (pg > 0) {
		kill(-pg, SIGKILL);
		/* Reap it too, so no zombie is left for init to collect. */
		while (waitpid(pg, NULL, 0) < 0 && errno == EINTR)
			;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static const rt_test *find_test(const rt_test *tests, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tests[i].name, name) == 0)
			return &tests[i];
	return NULL;
}

static int parse_timeout(int *out_s)
{
	const char *v = getenv("RT_TIMEOUT");
	char *end;
	long s;

	*out_s = DEFAULT_TIMEOUT_S;
	if (!v || !*v)
		return 0;
	errno = 0;
	s = strtol(v, &end, 10);
	if (errno || *end || s <= 0 || s > 86400) {
		fprintf(stderr, "runner: bad RT_TIMEOUT '%s' (want seconds > 0)\n", v);
		return -1;
	}
	*out_s = (int)s;
	return 0;
}

/* Runs one test in a child; returns 1 if it passed. */
static int run_one(const rt_test *t, int timeout_s)
{
	long long start = now_ms(), deadline = start + (long long)timeout_s * 1000;
	int status = 0, timed_out = 0;
	long sleep_us = 200;
	pid_t pid, r;

	/* Anything buffered now would otherwise be written twice. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		printf("FAIL %s (fork: %s)\n", t->name, strerror(errno));
		fflush(stdout);
		return 0;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		setpgid(0, 0);
		setenv("RT_TEST_NAME", t->name, 1);
		t->fn();
		fflush(stdout);
		fflush(stderr);
		/* exit, not _exit: LeakSanitizer reports from an atexit hook. */
		exit(0);
	}
	/* Also set it here: whichever of parent/child runs first wins the race. */
	setpgid(pid, pid);
	running_pgid = pid;

	/*
     * Poll with a short, growing sleep: simple, and no SIGCHLD plumbing.
     * WNOWAIT leaves the child a zombie, which keeps its pid (= the group id)
     * from being reused until stragglers in its group are killed below.
     */
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof si);
		r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if (r == 0 && si.si_pid == pid)
			break;
		if (r < 0 && errno != EINTR) {
			printf("FAIL %s (waitid: %s)\n", t->name, strerror(errno));
			fflush(stdout);
			kill(-pid, SIGKILL);
			running_pgid = 0;
			return 0;
		}
		if (now_ms() >= deadline) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			break;
		}
		struct timespec ts = {0, sleep_us * 1000};
		nanosleep(&ts, NULL);
		if (sleep_us < 5000)
			sleep_us *= 2;
	}
	/* Reap stragglers the test left behind (e.g. servers it forked). */
	kill(-pid, SIGKILL);
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	running_pgid = 0;
	if (r != pid) {
		printf("FAIL %s (waitpid: %s)\n", t->name, strerror(errno));
		fflush(stdout);
		return 0;
	}

	long long ms = now_ms() - start;
	int ok = 0;
	if (timed_out)
		printf("FAIL %s (timeout)\n", t->name);
	else if (WIFSIGNALED(status))
		printf("FAIL %s (signal %d)\n", t->name, WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		printf("FAIL %s (exit %d)\n", t->name, WEXITSTATUS(status));
	else {
		printf("ok   %s (%lld ms)\n", t->name, ms);
		ok = 1;
	}
	fflush(stdout);
	return ok;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--list] [TEST_NAME...]\n", prog);
}

int rt_main(const rt_test *tests, size_t ntests, int argc, char **argv)
{
	const char *prog = argc > 0 ? argv[0] : "test";
	size_t nsel = 0, passed = 0, failed = 0;
	const rt_test **sel;
	int timeout_s;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0) {
			for (size_t k = 0; k < ntests; k++)
				printf("%s\n", tests[k].name);
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(prog);
			return 0;
		}
		if (argv[i][0] == '-') {
			fprintf(stderr, "%s: unknown option '%s'\n", prog, argv[i]);
			usage(prog);
			return 2;
		}
		if (!find_test(tests, ntests, argv[i])) {
			fprintf(stderr, "%s: unknown test '%s' (see --list)\n", prog, argv[i]);
			return 2;
		}
	}
	if (parse_timeout(&timeout_s) < 0)
		return 2;

	sel = calloc(argc > 1 ? (size_t)argc : ntests + 1, sizeof *sel);
	if (!sel) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 2;
	}
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			sel[nsel++] = find_test(tests, ntests, argv[i]);
	} else {
		for (size_t k = 0; k < ntests; k++)
			sel[nsel++] = &tests[k];
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	for (size_t i = 0; i < nsel; i++) {
		if (run_one(sel[i], timeout_s))
			passed++;
		else
			failed++;
	}
	free(sel);

	printf("%zu passed, %zu failed\n", passed, failed);
	fflush(stdout);
	return failed ? 1 : 0;
}
