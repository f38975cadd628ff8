/* The built-in web client (gateway/web/) in a real browser: headless
 * chromium driven by tests/browser/browser.mjs against a TLS gateway that
 * serves the client, once over HTTP/2 and once over HTTP/1.1. Screenshots
 * and the browser's profile stay in the stack folder (REBUTTAL_STACK_DIR). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "integ.h"

static void browser_run(const char *mode)
{
	char web[PATH_MAX], cmd[2048], last[512], name[32];
	CHECK_MSG(realpath("gateway/web", web),
		  "no gateway/web (tests run from the repository root)");
	CHECK_MSG(system("command -v chromium >/dev/null 2>&1") == 0,
		  "chromium is not installed (scripts/deps.sh installs it)");
	snprintf(name, sizeof name, "web%s", mode);
	int port = tls_gateway(name, web);
	const char *dir = rt_env("REBUTTAL_STACK_DIR");
	snprintf(cmd, sizeof cmd,
		 "node tests/browser/browser.mjs %d root@localhost '%s' '%s' %s 2>&1", port,
		 admin_password(), dir, mode);
	long long t0 = now_ms();
	int rc = run_shown(cmd, last, sizeof last);
	printf("browser test over %s: %lld ms\n", mode, now_ms() - t0);
	snprintf(cmd, sizeof cmd, "kill gateway-%s TERM", name);
	stack(cmd, NULL, 0);
	CHECK_MSG(rc == 0, "browser test (%s) failed: %s", mode, last);
}

void test_browser_h2(void)
{
	browser_run("h2");
}

void test_browser_h1(void)
{
	browser_run("h1");
}
