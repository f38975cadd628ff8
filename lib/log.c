#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const char *part_name = "?";
static enum log_level min_level = LOG_INFO;

void log_init(const char *part, enum log_level min)
{
	part_name = part;
	min_level = min;
}

void log_at(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	char line[2048], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (lvl < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One fprintf so concurrent threads never interleave within a line. */
	fprintf(stderr, "%s.%03ldZ %s %s %s\n", ts, now.tv_nsec / 1000000, part_name, names[lvl],
		line);
}
