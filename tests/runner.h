/*
 * runner.h - a tiny test runner (in the spirit of libuv's test/runner.c).
 *
 * A test is a function `void test_NAME(void)`.  A test binary lists its tests
 * with an X-macro and lets the runner provide main():
 *
 *     // list_unit.h
 *     #define TEST_LIST(X) X(table_ok) X(table_bad_field)
 *
 *     // main file
 *     #include "runner.h"
 *     #include "list_unit.h"
 *     TEST_LIST(RT_DECLARE)
 *     static const rt_test tests[] = { TEST_LIST(RT_ENTRY) };
 *     int main(int argc, char **argv)
 *     { return rt_main(tests, sizeof tests / sizeof tests[0], argc, argv); }
 *
 * or, equivalently, just `RT_MAIN(TEST_LIST)`.
 *
 * Each test runs in its own forked child (own process group) so a crash,
 * a failed CHECK or a hang only takes down that test.  The child's
 * stdout/stderr are inherited, so test output passes straight through.
 */
#ifndef RT_RUNNER_H
#define RT_RUNNER_H

#include <stddef.h>

typedef struct rt_test {
	const char *name;
	void (*fn)(void);
} rt_test;

#define RT_DECLARE(name) void test_##name(void);
#define RT_ENTRY(name) {#name, test_##name},

#define RT_MAIN(LIST)                                                                              \
	LIST(RT_DECLARE)                                                                           \
	static const rt_test rt_tests_[] = {LIST(RT_ENTRY)};                                       \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return rt_main(rt_tests_, sizeof rt_tests_ / sizeof rt_tests_[0], argc, argv);     \
	}

/*
 * Runs the tests.  argv: no arguments = all tests in list order; names =
 * only those, in the order given; `--list` prints the names and returns 0.
 * An unknown name or option prints an error and returns 2 before anything
 * runs.  Each test gets RT_TIMEOUT seconds (env, default 60); on timeout its
 * whole process group is killed.  Prints `ok   NAME (N ms)` or
 * `FAIL NAME (exit N | signal N | timeout)` per test and finally exactly one
 * line `N passed, N failed`.  Returns 0 iff no test failed, 1 otherwise.
 * The child's environment has RT_TEST_NAME set to the test's name.
 */
int rt_main(const rt_test *tests, size_t ntests, int argc, char **argv);

/*
 * Failure plumbing used by the CHECK macros: prints `file:line: message`
 * to stderr, flushes stdio and _exit(1)s, i.e. it ends the current test
 * (and must only be called inside a test).  Never returns.
 */
_Noreturn void rt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rt_check_eq_int(const char *file, int line, const char *expr_a, const char *expr_b,
		     long long a, long long b);
void rt_check_eq_str(const char *file, int line, const char *expr_a, const char *expr_b,
		     const char *a, const char *b);

/*
 * rt_env(name): getenv(name).  If the variable is unset or empty the test
 * fails with a message naming the variable.  The result belongs to the
 * environment; do not free it.
 */
const char *rt_env_at(const char *file, int line, const char *name);
#define rt_env(name) rt_env_at(__FILE__, __LINE__, (name))

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			rt_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                    \
	} while (0)

/* CHECK_MSG(cond, fmt, ...): on failure prints the formatted message. */
#define CHECK_MSG(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond))                                                                       \
			rt_fail(__FILE__, __LINE__, __VA_ARGS__);                                  \
	} while (0)

/* Both sides are evaluated once, as long long; prints both on failure. */
#define CHECK_EQ_INT(a, b)                                                                         \
	rt_check_eq_int(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b))

/* strcmp equality; NULL equals only NULL; prints both on failure. */
#define CHECK_EQ_STR(a, b) rt_check_eq_str(__FILE__, __LINE__, #a, #b, (a), (b))

#define CHECK_NOT_NULL(p)                                                                          \
	do {                                                                                       \
		if ((p) == NULL)                                                                   \
			rt_fail(__FILE__, __LINE__, "CHECK_NOT_NULL(%s) failed", #p);              \
	} while (0)

#endif /* RT_RUNNER_H */
