#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int parse_bool(const char *s, long *out)
{
	static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off", ""};
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
		*(const char **)p = v;
		return 0;
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

void cfg_print(const cfg_field *fields, size_t n, const void *cfg)
{
	for (size_t i = 0; i < n; i++) {
		const cfg_field *f = &fields[i];
		const char *p = (const char *)cfg + f->offset;
		if (f->type == CFG_STR) {
			const char *s = *(const char *const *)p;
			log_info("config %s=%s", f->env, f->secret ? (*s ? "(set)" : "(unset)") : s);
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
	}
	return strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? 2 : 0;
}
