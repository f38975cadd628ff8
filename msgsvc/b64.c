#include "b64.h"

STATUS_TEXT(b64_status, B64_STATUS_MAP)

/* Value of each alphabet character, 0xff for anything else ('=' included:
 * padding is handled by position, never by lookup). */
static const uint8_t value_of[256] = {
#define R(c, v) [c] = (v) + 1
	/* Stored +1 so that the zero-initialized rest means "not in the alphabet". */
	R('A', 0),  R('B', 1),  R('C', 2),  R('D', 3),  R('E', 4),  R('F', 5),  R('G', 6),
	R('H', 7),  R('I', 8),  R('J', 9),  R('K', 10), R('L', 11), R('M', 12), R('N', 13),
	R('O', 14), R('P', 15), R('Q', 16), R('R', 17), R('S', 18), R('T', 19), R('U', 20),
	R('V', 21), R('W', 22), R('X', 23), R('Y', 24), R('Z', 25), R('a', 26), R('b', 27),
	R('c', 28), R('d', 29), R('e', 30), R('f', 31), R('g', 32), R('h', 33), R('i', 34),
	R('j', 35), R('k', 36), R('l', 37), R('m', 38), R('n', 39), R('o', 40), R('p', 41),
	R('q', 42), R('r', 43), R('s', 44), R('t', 45), R('u', 46), R('v', 47), R('w', 48),
	R('x', 49), R('y', 50), R('z', 51), R('0', 52), R('1', 53), R('2', 54), R('3', 55),
	R('4', 56), R('5', 57), R('6', 58), R('7', 59), R('8', 60), R('9', 61), R('+', 62),
	R('/', 63),
#undef R
};

/* The 6-bit value of c, or -1. */
static int sextet(char c)
{
	return (int)value_of[(unsigned char)c] - 1;
}

enum b64_status b64_decoded_len(const char *src, size_t len, size_t *out)
{
	size_t pad = 0;

	if (len % 4)
		return B64_INCOMPLETE;
	if (len == 0) {
		*out = 0;
		return B64_OK;
	}
	pad = (src[len - 1] == '=') + (src[len - 1] == '=' && src[len - 2] == '=');
	/* A third '=' ("a===") is never valid. */
	if (pad == 2 && src[len - 3] == '=')
		return B64_INVALID;
	*out = len / 4 * 3 - pad;
	return B64_OK;
}

/* Decodes the last quantum, which may hold padding. Returns bytes written
 * (1..3) or -1. Unused low bits must be zero: "QR==" and "QQ==" must not
 * both decode to "A", or the encoding would not be canonical. */
static int last_quantum(const char *q, uint8_t *dst)
{
	int a = sextet(q[0]), b = sextet(q[1]);
	if (a < 0 || b < 0)
		return -1;
	if (q[2] == '=') {
		if (q[3] != '=' || (b & 0x0f))
			return -1;
		dst[0] = (uint8_t)(a << 2 | b >> 4);
		return 1;
	}
	int c = sextet(q[2]);
	if (c < 0)
		return -1;
	if (q[3] == '=') {
		if (c & 0x03)
			return -1;
		dst[0] = (uint8_t)(a << 2 | b >> 4);
		dst[1] = (uint8_t)((b & 0x0f) << 4 | c >> 2);
		return 2;
	}
	int d = sextet(q[3]);
	if (d < 0)
		return -1;
	dst[0] = (uint8_t)(a << 2 | b >> 4);
	dst[1] = (uint8_t)((b & 0x0f) << 4 | c >> 2);
	dst[2] = (uint8_t)((c & 0x03) << 6 | d);
	return 3;
}

enum b64_status b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap, size_t *consumed,
			   size_t *written)
{
	size_t need, i, o = 0;
	enum b64_status s = b64_decoded_len(src, len, &need);

	*consumed = 0;
	*written = 0;
	if (s != B64_OK)
		return s;
	if (need > cap)
		return B64_NOSPACE;
	/* Every quantum but the last is four alphabet characters. */
	for (i = 0; i + 4 < len; i += 4) {
		int a = sextet(src[i]), b = sextet(src[i + 1]), c = sextet(src[i + 2]),
		    d = sextet(src[i + 3]);
		if ((a | b | c | d) < 0) {
			*consumed = i;
			return B64_INVALID;
		}
		dst[o++] = (uint8_t)(a << 2 | b >> 4);
		dst[o++] = (uint8_t)((b & 0x0f) << 4 | c >> 2);
		dst[o++] = (uint8_t)((c & 0x03) << 6 | d);
	}
	if (i < len) {
		int n = last_quantum(src + i, dst + o);
		if (n < 0) {
			*consumed = i;
			return B64_INVALID;
		}
		o += (size_t)n;
	}
	*consumed = len;
	*written = o;
	return B64_OK;
}
