/* Unit tests: no network, no servers. */
#include "runner.h"

#define TEST_LIST(X)                                                                               \
	X(table_rows_match_envelope)                                                               \
	X(table_rate_classes)                                                                      \
	X(table_invalid_json_closes)                                                               \
	X(table_non_object_errors_then_closes)                                                     \
	X(table_v1_before_login)                                                                   \
	X(table_unknown_type)                                                                      \
	X(table_permission_denied)                                                                 \
	X(table_missing_and_wrong_fields)                                                          \
	X(table_login_rules_close)                                                                 \
	X(table_signup_rules)                                                                      \
	X(table_alias_and_limits)                                                                  \
	X(table_ok_packets)                                                                        \
	X(table_rows_have_handlers)                                                                \
	X(table_handler_mismatch_found)                                                            \
	X(table_keys_name_fields)                                                                  \
	X(table_internal_rows_unknown_to_clients)                                                  \
	X(contract_kept)                                                                           \
	X(contract_breaks_found)                                                                   \
	X(contract_release_recorded)                                                               \
	X(pbjson_from_json_types)                                                                  \
	X(pbjson_opaque_json_round_trip)                                                           \
	X(pbjson_to_json_nulls_and_absent)                                                         \
	X(pbjson_groups_map_and_lists)                                                             \
	X(pbjson_dump_matches_tree)                                                                \
	X(valid_text_rules)                                                                        \
	X(netaddr_list_parse)                                                                      \
	X(netaddr_match)                                                                           \
	X(netaddr_forwarded_for)                                                                   \
	X(skeleton_folds)                                                                          \
	X(valid_user_name_invisible)                                                               \
	X(config_secret_file)                                                                      \
	X(config_placeholder_refused)                                                              \
	X(config_print_masks)

RT_MAIN(TEST_LIST)
