/* Graceful stops and mixed versions (tests/integ_drain.c). */
#define DRAIN_TESTS(X)                                                                             \
	X(gateway_drain)                                                                           \
	X(upgrade_mixed_versions)
