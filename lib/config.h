/* Configuration from REBUTTAL_* environment variables, as a table (redis
 * config.c style): each part lists its settings once with type, default and
 * bounds; cfg_load validates them all, fills the part's struct and prints the
 * result with secrets redacted. getenv appears nowhere else. */
#ifndef RB_CONFIG_H
#define RB_CONFIG_H

#include <stddef.h>

/* CFG_FILE: the setting names a file (a mounted secret); cfg_load puts the
 * file's text, without trailing blanks and newlines, in the member. */
enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_FILE };

typedef struct {
	const char *env; /* e.g. "REBUTTAL_PORT" */
	enum cfg_type type;
	size_t offset;    /* of a const char * (CFG_STR/CFG_FILE) or long (CFG_INT/CFG_BOOL) */
	const char *def;  /* default as text; NULL: empty string / 0 */
	long min, max;    /* CFG_INT bounds */
	int secret;       /* printed as "(set)" */
	const char *help; /* one line for the README and --help */
} cfg_field;

#define CFG_S(env, st, member, def, help)                                                          \
	{                                                                                          \
		env, CFG_STR, offsetof(st, member), def, 0, 0, 0, help                             \
	}
#define CFG_SECRET(env, st, member, help)                                                          \
	{                                                                                          \
		env, CFG_STR, offsetof(st, member), NULL, 0, 0, 1, help                            \
	}
/* A secret read from the file the setting names (empty: none); the env name
 * ends in _FILE, and the same name without _FILE may hold the secret itself
 * instead (not both). Printed as the path and "(read)"; never the text. */
#define CFG_SECRET_FILE(env, st, member, help)                                                     \
	{                                                                                          \
		env, CFG_FILE, offsetof(st, member), NULL, 0, 0, 1, help                           \
	}
#define CFG_I(env, st, member, def, min, max, help)                                                \
	{                                                                                          \
		env, CFG_INT, offsetof(st, member), #def, min, max, 0, help                        \
	}
#define CFG_B(env, st, member, def, help)                                                          \
	{                                                                                          \
		env, CFG_BOOL, offsetof(st, member), #def, 0, 1, 0, help                           \
	}

/* Most secret files one process reads, and their longest text. */
#define CFG_FILES_MAX 8
#define CFG_FILE_MAX 1024

/* Fills out (strings point into the environment, the table or static
 * storage: never free them). A secret (CFG_SECRET, CFG_SECRET_FILE) that
 * still holds the placeholder of the examples (starts with "CHANGE-ME") is
 * refused, as is a secret file that cannot be read, is empty or too long.
 * Returns 0, or -1 after logging every invalid value. */
int cfg_load(const cfg_field *fields, size_t n, void *out);
/* Prints "name=value" lines with secrets redacted (one log line per field):
 * secret values as "(set)", secret files as their path, and a password
 * inside any other value (libpq's password=..., a URL's user:password@)
 * as "***". */
void cfg_print(const cfg_field *fields, size_t n, const void *cfg);
/* The command line of a part that takes no arguments but --help / -h.
 * Returns -1 when there are none (go on). Else prints about (one line) and
 * every setting with its help and default to stdout, and returns the exit
 * status: 0 for --help or -h, 2 for anything else. */
int cfg_args(int argc, char **argv, const char *about, const cfg_field *fields, size_t n);

#endif
