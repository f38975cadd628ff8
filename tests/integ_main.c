/* Integration tests: real WebSocket to the gateway, real NATS, Redis and
 * PostgreSQL, started by scripts/test.sh. Run one with `make test T=name`. */
#include "runner.h"

#include "list_access.h"
#include "list_admin.h"
#include "list_drain.h"
#include "list_foundation.h"
#include "list_limits.h"
#include "list_load.h"
#include "list_media.h"
#include "list_msg.h"
#include "list_policy.h"
#include "list_room.h"
#include "list_static.h"

/* Each part's tests are listed in its own header, so parts can be worked on
 * side by side. */
#define TEST_LIST(X)                                                                               \
	FOUNDATION_TESTS(X)                                                                        \
	ROOM_TESTS(X)                                                                              \
	ADMIN_TESTS(X)                                                                             \
	MSG_TESTS(X)                                                                               \
	MEDIA_TESTS(X)                                                                             \
	POLICY_TESTS(X)                                                                            \
	LIMITS_TESTS(X)                                                                            \
	STATIC_TESTS(X)                                                                            \
	BROWSER_TESTS(X)                                                                           \
	ACCESS_TESTS(X)                                                                            \
	LOAD_TESTS(X)

/* The graceful stops and the mixed-version test (list_drain.h) last. */
#define ALL_TESTS(X) TEST_LIST(X) DRAIN_TESTS(X)
RT_MAIN(ALL_TESTS)
