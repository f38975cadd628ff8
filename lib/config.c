#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

/* The texts of the secret files this process read: static, so they live as
 * long as the config that points at them and are never reported leaked. */
static char file_texts[CFG_FILES_MAX][CFG_FILE_MAX + 1];
static int nfile_texts;

/* The examples ship secrets as CHANGE-ME...: a part must not run on one. */
static int is_placeholder(const char *s)
{
	return !strncmp(s, "CHANGE-ME", 9);
}

/* Reads the secret file path into static storage; NULL (logged) on failure. */
static const char *read_secret(const char *env, const char *path)
{
	char *text;
	size_t n;
	FILE *f;

	if (nfile_texts == CFG_FILES_MAX) {
		log_error("config: %s: more than %d secret files", env, CFG_FILES_MAX);
		return NULL;
	}
	if (!(f = fopen(path, "r"))) {
		log_error("config: %s=%s: cannot read: %s", env, path, strerror(errno));
		return NULL;
	}
	text = file_texts[nfile_texts];
	n = fread(text, 1, CFG_FILE_MAX + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n > CFG_FILE_MAX) {
		if (bad)
			log_error("config: %s=%s: read error", env, path);
		else
			log_error("config: %s=%s: longer than %d bytes", env, path, CFG_FILE_MAX);
		return NULL;
	}
	while (n && text[n - 1] && strchr(" \t\r\n", text[n - 1]))
		n--;
	text[n] = 0;
	if (!n || strlen(text) != n) {
		log_error("config: %s=%s: the file is empty or holds a NUL byte", env, path);
		return NULL;
	}
	nfile_texts++;
	return text;
}

/* A secret file setting "X_FILE" may instead get the secret itself in "X"
 * (the convention of the postgres image), for where a file is awkward, e.g.
 * docker compose's env file. The value of X, or "". */
static const char *direct_value(const cfg_field *f)
{
	char name[128];
	size_t n = strlen(f->env);
	if (n <= 5 || n >= sizeof name || strcmp(f->env + n - 5, "_FILE"))
		return "";
	memcpy(name, f->env, n - 5);
	name[n - 5] = '\0';
	const char *v = getenv(name);
	return v ? v : "";
}

static int parse_bool(const char *s, long *out)
{
	static const char *yes[] = {"1", "true", "yes", "on"},
			  *no[] = {"0", "false", "no", "off", ""};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		if (!strcasecmp(s, yes[i]))
			return *out = 1, 0;
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		if (!strcasecmp(s, no[i]))
			return *out = 0, 0;
	return -1;
}

static int load_one(const cfg_field *f, void *out)
{
	const char *v = getenv(f->env);
	char *p = (char *)out + f->offset;
	long n;

	if (!v)
		v = f->def ? f->def : "";
	switch (f->type) {
	case CFG_STR:
		if (f->secret && is_placeholder(v)) {
			log_error("config: %s is still the example's placeholder (CHANGE-ME...): "
				  "set a real secret",
				  f->env);
			return -1;
		}
		*(const char **)p = v;
		return 0;
	case CFG_FILE: {
		const char *value = direct_value(f);
		if (*v && *value) {
			log_error("config: set %s or %.*s, not both", f->env,
				  (int)(strlen(f->env) - 5), f->env);
			return -1;
		}
		if (*value)
			v = value;
		else if (*v && !(v = read_secret(f->env, v)))
			return -1;
		if (is_placeholder(v)) {
			log_error("config: the file of %s holds the example's placeholder "
				  "(CHANGE-ME...): put a real secret there",
				  f->env);
			return -1;
		}
		*(const char **)p = v;
		return 0;
	}
	case CFG_BOOL:
		if (parse_bool(v, &n) < 0) {
			log_error("config: %s=%s is not a boolean (true/false)", f->env, v);
			return -1;
		}
		*(long *)p = n;
		return 0;
	case CFG_INT: {
		char *end;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < f->min || n > f->max) {
			log_error("config: %s=%s must be an integer in %ld..%ld", f->env, v, f->min,
				  f->max);
			return -1;
		}
		*(long *)p = n;
		return 0;
	}
	}
	return -1;
}

int cfg_load(const cfg_field *fields, size_t n, void *out)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		if (load_one(&fields[i], out) < 0)
			rc = -1;
	return rc;
}

/* Copies s to out with a password inside it masked: libpq's
 * "password=VALUE" (up to the next blank) and a URL's "//user:PASSWORD@". */
static void redact(buf *out, const char *s)
{
	const char *pw = strstr(s, "password="), *url = strstr(s, "://");
	size_t auth = url ? strcspn(url + 3, "/@") : 0;
	const char *at = url && url[3 + auth] == '@' ? url + 3 + auth : NULL;
	const char *colon = at ? memchr(url + 3, ':', auth) : NULL;

	if (pw) {
		pw += 9;
		buf_add(out, s, (size_t)(pw - s));
		buf_adds(out, "***");
		buf_adds(out, pw + strcspn(pw, " \t"));
	} else if (colon) {
		buf_add(out, s, (size_t)(colon + 1 - s));
		buf_adds(out, "***");
		buf_adds(out, at);
	} else {
		buf_adds(out, s);
	}
}

void cfg_print(const cfg_field *fields, size_t n, const void *cfg)
{
	for (size_t i = 0; i < n; i++) {
		const cfg_field *f = &fields[i];
		const char *p = (const char *)cfg + f->offset;
		if (f->type == CFG_FILE) {
			const char *s = *(const char *const *)p, *path = getenv(f->env);
			if (*direct_value(f))
				log_info("config %s=(set in %.*s)", f->env,
					 (int)(strlen(f->env) - 5), f->env);
			else
				log_info("config %s=%s%s", f->env, path ? path : "",
					 *s ? " (read)" : "");
		} else if (f->type == CFG_STR && f->secret) {
			const char *s = *(const char *const *)p;
			log_info("config %s=%s", f->env, *s ? "(set)" : "(unset)");
		} else if (f->type == CFG_STR) {
			buf b = BUF_INIT;
			redact(&b, *(const char *const *)p);
			log_info("config %s=%s", f->env, b.ptr ? b.ptr : "");
			buf_free(&b);
		} else {
			log_info("config %s=%ld", f->env, *(const long *)p);
		}
	}
}

int cfg_args(int argc, char **argv, const char *about, const cfg_field *fields, size_t n)
{
	if (argc < 2)
		return -1;
	printf("%s\nSettings (environment):\n", about);
	for (size_t i = 0; i < n; i++) {
		const char *def = fields[i].def ? fields[i].def : "";
		printf("  %-26s %s%s%s%s\n", fields[i].env, fields[i].help,
		       *def ? " (default: " : "", def, *def ? ")" : "");
		if (fields[i].type == CFG_FILE)
			printf("  %-26s or the secret itself in %.*s\n", "",
			       (int)(strlen(fields[i].env) - 5), fields[i].env);
	}
	return strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? 2 : 0;
}
