/* libFuzzer target: msgsvc's strict base64 decoder (msgsvc/b64.c).
 * Besides memory errors it checks two properties:
 *   - the decoded length predicted from the text is exactly what decoding
 *     writes, and a buffer one byte short is refused (B64_NOSPACE);
 *   - strictness: whatever it accepts is canonical, so libsodium's encoder
 *     gives back the very same text, and libsodium's strict decoder agrees. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const char *src, size_t len, const uint8_t *out, size_t n)
{
	size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), m = 0;
	char *again = malloc(cap);
	uint8_t *bin = malloc(n ? n : 1);
	if (!again || !bin)
		abort();
	sodium_bin2base64(again, cap, out, n, sodium_base64_VARIANT_ORIGINAL);
	if (strlen(again) != len || memcmp(again, src, len))
		abort();
	if (sodium_base642bin(bin, n ? n : 1, src, len, NULL, &m, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    m != n || memcmp(bin, out, n))
		abort();
	free(again);
	free(bin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t need, consumed, written;
	char *src = malloc(size ? size : 1);
	if (!src)
		return 0;
	memcpy(src, data, size);
	if (b64_decoded_len(src, size, &need) == B64_OK) {
		uint8_t *out = malloc(need ? need : 1);
		if (!out)
			abort();
		if (need &&
		    b64_decode(src, size, out, need - 1, &consumed, &written) != B64_NOSPACE)
			abort();
		enum b64_status s = b64_decode(src, size, out, need, &consumed, &written);
		if (s == B64_OK && (written != need || consumed != size))
			abort();
		if (s != B64_OK && consumed >= size && size)
			abort();
		if (s == B64_OK)
			check_roundtrip(src, size, out, written);
		free(out);
	}
	free(src);
	return 0;
}
