#include "image.h"

#include <string.h>

STATUS_TEXT(img_status, IMG_STATUS_MAP)

/* Readers of fixed-width integers; callers have checked the bounds. */
static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le24(const uint8_t *p)
{
	return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Stores a size when both sides are 1..INT32_MAX (the message object's
 * width/height are int32). */
static enum img_status size_ok(img_info *out, uint32_t w, uint32_t h)
{
	if (w == 0 || h == 0 || w > INT32_MAX || h > INT32_MAX)
		return IMG_INVALID;
	out->width = (int32_t)w;
	out->height = (int32_t)h;
	return IMG_OK;
}

/* PNG: the signature, then the IHDR chunk, which the format requires first. */
static enum img_status png_size(const uint8_t *p, size_t len, img_info *out)
{
	if (len < 24)
		return IMG_INCOMPLETE;
	if (be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4))
		return IMG_INVALID;
	return size_ok(out, be32(p + 16), be32(p + 20));
}

/* GIF: the logical screen descriptor follows the 6-byte signature. */
static enum img_status gif_size(const uint8_t *p, size_t len, img_info *out)
{
	if (len < 10)
		return IMG_INCOMPLETE;
	return size_ok(out, le16(p + 6), le16(p + 8));
}

/* JPEG start-of-frame markers: C0-CF except DHT (C4), JPG (C8), DAC (CC). */
static int jpeg_is_sof(uint8_t m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* Markers that stand alone, without a length: TEM, RST0-7, SOI. */
static int jpeg_standalone(uint8_t m)
{
	return m == 0x01 || (m >= 0xd0 && m <= 0xd8);
}

/* JPEG: walks the marker segments after SOI until a SOF, whose payload is
 * precision(1) height(2) width(2). A scan (SOS) or the end (EOI) before any
 * SOF means there is no frame header to read. Each step advances i by at
 * least one byte, so the walk ends. */
static enum img_status jpeg_size(const uint8_t *p, size_t len, img_info *out)
{
	size_t i = 2;

	for (;;) {
		if (i >= len)
			return IMG_INCOMPLETE;
		if (p[i] != 0xff)
			return IMG_INVALID;
		while (i < len && p[i] == 0xff) /* fill bytes */
			i++;
		if (i >= len)
			return IMG_INCOMPLETE;
		uint8_t m = p[i++];
		if (jpeg_standalone(m))
			continue;
		if (m == 0x00 || m == 0xd9 || m == 0xda)
			return IMG_INVALID;
		if (len - i < 2)
			return IMG_INCOMPLETE;
		size_t seglen = be16(p + i);
		if (seglen < 2)
			return IMG_INVALID;
		if (jpeg_is_sof(m)) {
			if (seglen < 7)
				return IMG_INVALID;
			if (len - i < 7)
				return IMG_INCOMPLETE;
			return size_ok(out, be16(p + i + 5), be16(p + i + 3));
		}
		if (len - i < seglen)
			return IMG_INCOMPLETE;
		i += seglen;
	}
}

/* WebP: RIFF container; the first chunk (at 12) says which bitstream
 * follows, and each keeps its size in its own way. Payload starts at 20. */
static enum img_status webp_size(const uint8_t *p, size_t len, img_info *out)
{
	if (len < 21)
		return IMG_INCOMPLETE;
	const uint8_t *d = p + 20;
	if (!memcmp(p + 12, "VP8 ", 4)) {
		/* Lossy: 3-byte frame tag (bit 0 clear on a key frame), start
		 * code 9d 01 2a, then 14-bit width and height. */
		if (len < 30)
			return IMG_INCOMPLETE;
		if ((d[0] & 1) || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a)
			return IMG_INVALID;
		return size_ok(out, le16(d + 6) & 0x3fff, le16(d + 8) & 0x3fff);
	}
	if (!memcmp(p + 12, "VP8L", 4)) {
		/* Lossless: signature 0x2f, then width-1 and height-1 in 14 bits each. */
		if (len < 25)
			return IMG_INCOMPLETE;
		if (d[0] != 0x2f)
			return IMG_INVALID;
		uint32_t bits = le32(d + 1);
		return size_ok(out, (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
	}
	if (!memcmp(p + 12, "VP8X", 4)) {
		/* Extended: flags(1) reserved(3), canvas width-1 and height-1 in 24 bits. */
		if (len < 30)
			return IMG_INCOMPLETE;
		return size_ok(out, le24(d + 4) + 1, le24(d + 7) + 1);
	}
	return IMG_INVALID;
}

/* BMP: 14-byte file header, then a DIB header whose size says its kind:
 * 12 is OS/2 1.x (16-bit sizes), the others carry signed 32-bit sizes
 * (a negative height means top-down rows). */
static enum img_status bmp_size(const uint8_t *p, size_t len, img_info *out)
{
	static const uint32_t dib32[] = {16, 40, 52, 56, 64, 108, 124};

	if (len < 26)
		return IMG_INCOMPLETE;
	uint32_t dib = le32(p + 14);
	if (dib == 12)
		return size_ok(out, le16(p + 18), le16(p + 20));
	for (size_t i = 0; i < sizeof dib32 / sizeof *dib32; i++) {
		if (dib != dib32[i])
			continue;
		int32_t w = (int32_t)le32(p + 18), h = (int32_t)le32(p + 22);
		if (w <= 0 || h == 0 || h == INT32_MIN)
			return IMG_INVALID;
		return size_ok(out, (uint32_t)w, (uint32_t)(h < 0 ? -h : h));
	}
	return IMG_INVALID;
}

/* One row per format: how it starts and how its size is read. */
static const struct {
	const char *format, *content_type;
	size_t magic_at;
	const char *magic;
	size_t magic_len;
	enum img_status (*size)(const uint8_t *p, size_t len, img_info *out);
} formats[] = {
	{"png", "image/png", 0, "\x89PNG\r\n\x1a\n", 8, png_size},
	{"jpeg", "image/jpeg", 0, "\xff\xd8", 2, jpeg_size},
	{"gif", "image/gif", 0, "GIF87a", 6, gif_size},
	{"gif", "image/gif", 0, "GIF89a", 6, gif_size},
	{"webp", "image/webp", 8, "WEBP", 4, webp_size},
	{"bmp", "image/bmp", 0, "BM", 2, bmp_size},
};

/* WebP's magic sits after "RIFF" and a length. */
static int magic_matches(size_t i, const uint8_t *p, size_t len)
{
	size_t at = formats[i].magic_at, n = formats[i].magic_len;
	if (len < at + n || memcmp(p + at, formats[i].magic, n))
		return 0;
	return at == 0 || !memcmp(p, "RIFF", 4);
}

enum img_status img_sniff(const uint8_t *p, size_t len, img_info *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		if (!magic_matches(i, p, len))
			continue;
		out->format = formats[i].format;
		out->content_type = formats[i].content_type;
		enum img_status s = formats[i].size(p, len, out);
		if (s != IMG_OK)
			out->width = out->height = 0;
		return s;
	}
	return IMG_UNKNOWN;
}
