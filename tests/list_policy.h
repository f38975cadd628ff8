/* Integration tests of the account policies (tests/integ_policy.c): login
 * throttling that does not lock the owner out, display names that cannot
 * impersonate. */
#define POLICY_TESTS(X)                                                                            \
	X(policy_login_owner_during_attack)                                                        \
	X(policy_login_address_lock)                                                               \
	X(policy_names_impersonation)                                                              \
	X(policy_names_signup_createuser)                                                          \
	X(policy_names_existing_duplicates)                                                        \
	X(policy_trusted_proxy_bad_entry)
