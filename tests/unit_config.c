/* Unit tests of lib/config.c's secrets: secret files, the placeholder of
 * the examples refused, passwords masked in the printed settings. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "runner.h"

typedef struct {
	const char *pw;
	const char *token;
	const char *url;
} conf;

static const cfg_field fields[] = {
	CFG_SECRET_FILE("UT_PW_FILE", conf, pw, "a password file"),
	CFG_SECRET("UT_TOKEN", conf, token, "a secret"),
	CFG_S("UT_URL", conf, url, "", "an address"),
};
#define NFIELDS (sizeof fields / sizeof *fields)

static void clear(void)
{
	unsetenv("UT_PW_FILE");
	unsetenv("UT_PW");
	unsetenv("UT_TOKEN");
	unsetenv("UT_URL");
}

/* A temporary file holding text; its path (static buffer). */
static const char *file_with(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/rebuttal-unit-XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return path;
}

void test_config_secret_file(void)
{
	conf c;
	clear();
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), 0);
	CHECK_EQ_STR(c.pw, "");
	const char *path = file_with("s3cret-value\n\n");
	setenv("UT_PW_FILE", path, 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), 0);
	CHECK_EQ_STR(c.pw, "s3cret-value");
	/* The value itself in UT_PW, but not both. */
	setenv("UT_PW", "direct", 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), -1);
	unsetenv("UT_PW_FILE");
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), 0);
	CHECK_EQ_STR(c.pw, "direct");
	unlink(path);
	/* Missing, empty. */
	unsetenv("UT_PW");
	setenv("UT_PW_FILE", path, 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), -1);
	path = file_with("\n");
	setenv("UT_PW_FILE", path, 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), -1);
	unlink(path);
	/* Longer than CFG_FILE_MAX. */
	char big[CFG_FILE_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	path = file_with(big);
	setenv("UT_PW_FILE", path, 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), -1);
	unlink(path);
	clear();
}

void test_config_placeholder_refused(void)
{
	conf c;
	clear();
	setenv("UT_TOKEN", "CHANGE-ME-admin-password", 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), -1);
	setenv("UT_TOKEN", "a-real-one", 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), 0);
	const char *path = file_with("CHANGE-ME\n");
	setenv("UT_PW_FILE", path, 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), -1);
	unlink(path);
	unsetenv("UT_PW_FILE");
	setenv("UT_PW", "CHANGE-ME-db", 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), -1);
	clear();
}

/* What cfg_print logs (stderr), captured in a file. */
static char *printed(const conf *c)
{
	static char out[4096];
	FILE *f = tmpfile();
	CHECK_NOT_NULL(f);
	fflush(stderr);
	int saved = dup(2);
	CHECK(saved >= 0 && dup2(fileno(f), 2) == 2);
	cfg_print(fields, NFIELDS, c);
	fflush(stderr);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, sizeof out - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

void test_config_print_masks(void)
{
	conf c;
	clear();
	const char *path = file_with("file-secret\n");
	setenv("UT_PW_FILE", path, 1);
	setenv("UT_TOKEN", "token-secret", 1);
	setenv("UT_URL", "host=db user=x password=conn-secret dbname=y", 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), 0);
	char *out = printed(&c);
	CHECK_MSG(!strstr(out, "secret"), "a secret was printed: %s", out);
	CHECK_MSG(strstr(out, path) && strstr(out, "(read)"), "%s", out);
	CHECK_MSG(strstr(out, "password=*** dbname=y"), "%s", out);
	setenv("UT_URL", "nats://user:url-secret@host:4222", 1);
	CHECK_EQ_INT(cfg_load(fields, NFIELDS, &c), 0);
	out = printed(&c);
	CHECK_MSG(!strstr(out, "secret") && strstr(out, "nats://user:***@host:4222"), "%s", out);
	unlink(path);
	clear();
}
