/* Integration tests of who may reach the stack's servers and data
 * (tests/integ_access.c). */
#define ACCESS_TESTS(X)                                                                            \
	X(access_nats_needs_password)                                                              \
	X(access_nats_gateway_limited)                                                             \
	X(access_nats_parts_limited)                                                               \
	X(access_internal_own_subject)                                                             \
	X(access_postgres_refused)                                                                 \
	X(access_postgres_roles)                                                                   \
	X(access_redis_refused)                                                                    \
	X(access_data_folder)                                                                      \
	X(access_health_loopback)
