/* Integration tests of msgsvc (tests/integ_msg.c). */
#define MSG_TESTS(X)                         \
	X(msg_send_and_history)              \
	X(msg_forged_userid_ignored)         \
	X(msg_room_checks)                   \
	X(msg_segment_boundaries)            \
	X(msg_png_sizes_and_served)          \
	X(msg_image_formats)                 \
	X(msg_not_an_image_refused)          \
	X(msg_upload_limit)                  \
	X(msg_two_clients_order)             \
	X(msg_update_remove_author)          \
	X(msg_update_remove_admin)           \
	X(msg_update_remove_denied)          \
	X(msg_update_targets)                \
	X(msg_retry_stores_once)             \
	X(msg_outbox_drainer)                \
	X(msg_vengeance_masks)               \
	X(msg_room_removed_deletes)          \
	X(msg_username_at_send_time)         \
	X(msg_two_instances_consistent)
