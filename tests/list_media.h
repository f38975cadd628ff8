/* Integration tests of mediasvc (tests/integ_media.c). */
#define MEDIA_TESTS(X)                                                                             \
	X(media_video_relay)                                                                       \
	X(media_payload_roundtrip)                                                                 \
	X(media_relay_offline_dropped)                                                             \
	X(media_ext_hooks_accepted)                                                                \
	X(media_chatdev_room_only)                                                                 \
	X(media_golive_room_only)                                                                  \
	X(media_golive_ends_on_leave)                                                              \
	X(media_golive_ends_on_kill)                                                               \
	X(media_servermute_denied)                                                                 \
	X(media_servermute_everyone)                                                               \
	X(media_talking_flood)                                                                     \
	X(media_talking_burst)                                                                     \
	X(media_talking_shaped)
