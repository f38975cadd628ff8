/* Image format and pixel size from the first bytes of a file, for
 * attachments: PNG, JPEG (scanning markers up to the first SOF), GIF, WebP
 * (VP8, VP8L, VP8X) and BMP.
 *
 * Only headers are read, never pixel data; nothing is allocated; every read
 * is bounds-checked against len, so any byte string is safe input (the
 * parser is fuzzed: tests/fuzz/). */
#ifndef MSG_IMAGE_H
#define MSG_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define IMG_STATUS_MAP(X)                                                                          \
	X(IMG_OK, "ok")                                                                            \
	X(IMG_INCOMPLETE, "the header is cut short")                                               \
	X(IMG_INVALID, "the header of a known format is malformed")                                \
	X(IMG_UNKNOWN, "not a supported image format")

STATUS_TYPE(img_status, IMG_STATUS_MAP)

typedef struct {
	const char *format;       /* "png", "jpeg", "gif", "webp", "bmp" (static) */
	const char *content_type; /* "image/png", ... (static) */
	int32_t width, height;    /* both >= 1 on IMG_OK */
} img_info;

/* Identifies p[0..len). On IMG_OK fills *out; on any other status *out is
 * left with format/content_type of the recognized format (NULL when
 * IMG_UNKNOWN) and zero sizes. */
enum img_status img_sniff(const uint8_t *p, size_t len, img_info *out);

#endif
