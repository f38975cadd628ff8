/* Integration tests: real WebSocket to the gateway, real NATS, Redis and
 * PostgreSQL, started by scripts/test.sh. Run one with `make test T=name`. */
#include "runner.h"

#include "list_admin.h"
#include "list_foundation.h"
#include "list_limits.h"
#include "list_load.h"
#include "list_media.h"
#include "list_msg.h"
#include "list_policy.h"
#include "list_room.h"

/* Each part's tests are listed in its own header, so parts can be worked on
 * side by side. */
#define TEST_LIST(X) FOUNDATION_TESTS(X) ROOM_TESTS(X) ADMIN_TESTS(X) MSG_TESTS(X) MEDIA_TESTS(X) \
	POLICY_TESTS(X) \
	LIMITS_TESTS(X) LOAD_TESTS(X)

RT_MAIN(TEST_LIST)
