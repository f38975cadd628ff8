/* Strict base64 (RFC 4648 §4: standard alphabet, '=' padding required, no
 * whitespace, no line breaks, canonical final bits), for attachments that
 * arrive as client text.
 *
 * Like every parser of network input here it allocates nothing: the caller
 * learns the decoded size from the text's length first (so an oversized
 * attachment is refused before a byte is decoded or allocated), sizes the
 * buffer from it, and decodes into it. */
#ifndef MSG_B64_H
#define MSG_B64_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define B64_STATUS_MAP(X)                                                                          \
	X(B64_OK, "ok")                                                                            \
	X(B64_INCOMPLETE, "length is not a multiple of 4")                                         \
	X(B64_INVALID, "not base64")                                                               \
	X(B64_NOSPACE, "output buffer too small")

STATUS_TYPE(b64_status, B64_STATUS_MAP)

/* Size that src[0..len) decodes to, from its length and padding alone (O(1)).
 * B64_INCOMPLETE when len is not a multiple of 4, B64_INVALID when the
 * padding is malformed; *out is set only on B64_OK. The characters are
 * checked by b64_decode. */
enum b64_status b64_decoded_len(const char *src, size_t len, size_t *out);

/* Decodes src[0..len) into dst (cap bytes, at least b64_decoded_len).
 * *consumed is the number of input characters accepted (len on success, the
 * offset of the first bad quantum otherwise) and *written the bytes written
 * (only meaningful on B64_OK). Nothing is allocated. */
enum b64_status b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap, size_t *consumed,
			   size_t *written);

#endif
