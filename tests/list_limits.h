/* Integration tests of the gateway's limits (tests/integ_limits.c). */
#define LIMITS_TESTS(X)                                                                            \
	X(gateway_login_deadline)                                                                  \
	X(gateway_partial_deadline)                                                                \
	X(gateway_partial_cap)                                                                     \
	X(gateway_user_rate)                                                                       \
	X(gateway_relay_limit)
