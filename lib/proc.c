#include "proc.h"

#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "log.h"

static volatile sig_atomic_t stopping, hurried;

static void on_signal(int sig)
{
	(void)sig;
	if (stopping)
		hurried = 1;
	stopping = 1;
}

int proc_init(const char *part)
{
	struct sigaction sa;

	log_init(part, LOG_INFO);
	if (sodium_init() < 0) {
		log_error("libsodium failed to start");
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int proc_stopping(void)
{
	return stopping;
}

int proc_hurried(void)
{
	return hurried;
}

struct timespec proc_deadline(clockid_t clock, int64_t ms)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	if (ms < 0)
		ms = 0;
	int64_t ns = (int64_t)ts.tv_nsec + (ms % 1000) * 1000000LL;
	ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	return ts;
}

void proc_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}
