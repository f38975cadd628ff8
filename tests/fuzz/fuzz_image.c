/* libFuzzer target: msgsvc's image header parser (msgsvc/image.c) on any
 * bytes. ASan/UBSan catch out-of-bounds reads and overflows; the checks
 * below catch results that would store a broken message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	img_info info;
	/* A copy of exactly size bytes, so ASan sees any read past the end. */
	uint8_t *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	enum img_status s = img_sniff(p, size, &info);
	if (s == IMG_OK &&
	    (!info.format || !info.content_type || info.width < 1 || info.height < 1))
		abort();
	if (s != IMG_OK && (info.width || info.height))
		abort();
	if (s == IMG_UNKNOWN && (info.format || info.content_type))
		abort();
	free(p);
	return 0;
}
