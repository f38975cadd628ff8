/* Integration tests of authsvc administration (tests/integ_admin.c). */
#define ADMIN_TESTS(X)
