/* Integration tests of authsvc administration (tests/integ_admin.c). */
#define ADMIN_TESTS(X)                                                                             \
	X(admin_invite)                                                                            \
	X(admin_createuser)                                                                        \
	X(admin_createuser_retry)                                                                  \
	X(admin_updateuser)                                                                        \
	X(admin_removeuser)                                                                        \
	X(admin_setusergroup)                                                                      \
	X(admin_creategroup)                                                                       \
	X(admin_updategroup)                                                                       \
	X(admin_removegroup)                                                                       \
	X(admin_race_revoke)                                                                       \
	X(admin_login_throttle)                                                                    \
	X(admin_rebuttalctl)
