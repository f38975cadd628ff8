/* Integration tests of the foundation (tests/integ_foundation.c). */
#define FOUNDATION_TESTS(X)                                                                        \
	X(connect_frame)                                                                           \
	X(login_root_sequence)                                                                     \
	X(login_wrong_password_closes)                                                             \
	X(login_missing_field_closes)                                                              \
	X(login_unknown_protocol_closes)                                                           \
	X(login_v0_protocol_closes)                                                                \
	X(v1_before_login_stays_open)                                                              \
	X(frame_65k_before_login_1009)                                                             \
	X(frame_13m_after_login_1009)                                                              \
	X(invalid_json_3001)                                                                       \
	X(non_object_json_error_then_3001)                                                         \
	X(binary_frame_error_stays_open)                                                           \
	X(unknown_type_error_stays_open)                                                           \
	X(bad_field_error_stays_open)                                                              \
	X(invite_signup_login)                                                                     \
	X(invite_alias_and_url)                                                                    \
	X(invite_reused_refused)                                                                   \
	X(invite_concurrent_one_wins)                                                              \
	X(signup_duplicate_email_keeps_invite)                                                     \
	X(signup_short_password)                                                                   \
	X(signup_nonprintable_name)                                                                \
	X(signup_bad_code)                                                                         \
	X(invite_permission_denied)                                                                \
	X(login_again_refused)                                                                     \
	X(http_probes_and_redirect)                                                                \
	X(http_static_webroot)                                                                     \
	X(http_pipelined_uploads)                                                                  \
	X(health_slow_clients)                                                                     \
	X(http_conflicting_length_refused)                                                         \
	X(tls_login)                                                                               \
	X(authsvc_kill9_restart)                                                                   \
	X(nats_restart_recovers)                                                                   \
	X(postgres_restart_keeps_accounts)                                                         \
	X(gateway_slow_consumer_dropped)                                                           \
	X(gateway_start_stop_under_broadcast)
