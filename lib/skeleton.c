#include "skeleton.h"

#include <stdint.h>
#include <string.h>

#include "valid.h"

/* U+00C0-U+024F: the base letter of each Latin letter with diacritics
 * (from its compatibility decomposition, plus the stroked and hooked
 * letters that have none: đ ħ ł ø ŧ ƀ ...), '.' where there is none. */
static const char latin_base[] =
	"aaaaaa.ceeeeiiiidnooooo.ouuuuy..aaaaaa.ceeeeiiii.nooooo.ouuuuy.y" /* U+00C0 */
	"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii..jjkk.lllllll" /* U+0100 */
	"lllnnnnnn...oooooo..rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs" /* U+0140 */
	"bb..bbocc.d...eeeffg..likkl..nn.oo..pp.....ttttuuuvyyzz........." /* U+0180 */
	"l............aaiioouuuuuuuuuueaaaa..ggggkkoooo..j...gg..nnaa...." /* U+01C0 */
	"aaaaeeeeiiiioooorrrruuuusstt..hh.d..zzaaeeooooooooyylntj...cc..s" /* U+0200 */
	"z.....eejj..rryy";                                                /* U+0240 */
_Static_assert(sizeof latin_base - 1 == 0x250 - 0xc0, "one letter per code point");

/* Look-alikes of ASCII, sorted by code point (binary search). */
/* clang-format off */
static const struct {
	uint32_t cp;
	char to;
} alike[] = {
	{0x0251, 'a'}, {0x0261, 'g'}, {0x0269, 'i'}, {0x026a, 'i'}, {0x0274, 'n'}, {0x0280, 'r'},
	{0x028f, 'y'}, {0x029c, 'h'}, {0x02b9, '\''}, {0x02bc, '\''},
	/* Greek, uppercase by their uppercase look */
	{0x0386, 'a'}, {0x0388, 'e'}, {0x0389, 'h'}, {0x038a, 'i'}, {0x038c, 'o'}, {0x038e, 'y'},
	{0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'}, {0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'},
	{0x039a, 'k'}, {0x039c, 'm'}, {0x039d, 'n'}, {0x039f, 'o'}, {0x03a1, 'p'}, {0x03a4, 't'},
	{0x03a5, 'y'}, {0x03a7, 'x'}, {0x03aa, 'i'}, {0x03ab, 'y'},
	/* Greek lowercase */
	{0x03ac, 'a'}, {0x03ad, 'e'}, {0x03ae, 'n'}, {0x03af, 'i'}, {0x03b1, 'a'}, {0x03b2, 'b'},
	{0x03b3, 'y'}, {0x03b5, 'e'}, {0x03b7, 'n'}, {0x03b9, 'i'}, {0x03ba, 'k'}, {0x03bc, 'u'},
	{0x03bd, 'v'}, {0x03bf, 'o'}, {0x03c1, 'p'}, {0x03c4, 't'}, {0x03c5, 'u'}, {0x03c7, 'x'},
	{0x03c9, 'w'}, {0x03ca, 'i'}, {0x03cb, 'u'}, {0x03cc, 'o'}, {0x03cd, 'u'}, {0x03ce, 'w'},
	{0x03f2, 'c'}, {0x03f3, 'j'}, {0x03f9, 'c'},
	/* Cyrillic uppercase */
	{0x0400, 'e'}, {0x0401, 'e'}, {0x0405, 's'}, {0x0406, 'i'}, {0x0407, 'i'}, {0x0408, 'j'},
	{0x040c, 'k'}, {0x040e, 'y'}, {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'}, {0x041a, 'k'},
	{0x041c, 'm'}, {0x041d, 'h'}, {0x041e, 'o'}, {0x0420, 'p'}, {0x0421, 'c'}, {0x0422, 't'},
	{0x0423, 'y'}, {0x0425, 'x'}, {0x042c, 'b'},
	/* Cyrillic lowercase */
	{0x0430, 'a'}, {0x0432, 'b'}, {0x0435, 'e'}, {0x043a, 'k'}, {0x043c, 'm'}, {0x043d, 'h'},
	{0x043e, 'o'}, {0x043f, 'n'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0442, 't'}, {0x0443, 'y'},
	{0x0445, 'x'}, {0x044c, 'b'}, {0x0450, 'e'}, {0x0451, 'e'}, {0x0455, 's'}, {0x0456, 'i'},
	{0x0457, 'i'}, {0x0458, 'j'}, {0x045c, 'k'}, {0x045e, 'y'}, {0x04ae, 'y'}, {0x04af, 'y'},
	{0x04ba, 'h'}, {0x04bb, 'h'}, {0x04c0, 'l'}, {0x04cf, 'l'}, {0x04d0, 'a'}, {0x04d1, 'a'},
	{0x04d2, 'a'}, {0x04d3, 'a'}, {0x04e6, 'o'}, {0x04e7, 'o'}, {0x0501, 'd'}, {0x051b, 'q'},
	{0x051d, 'w'},
	/* Armenian */
	{0x0555, 'o'}, {0x0570, 'h'}, {0x0578, 'n'}, {0x057d, 'u'}, {0x0585, 'o'},
	/* dashes, quotes, slashes, bars */
	{0x2010, '-'}, {0x2011, '-'}, {0x2012, '-'}, {0x2013, '-'}, {0x2014, '-'}, {0x2015, '-'},
	{0x2018, '\''}, {0x2019, '\''}, {0x201b, '\''}, {0x201c, '"'}, {0x201d, '"'},
	{0x201f, '"'}, {0x2024, '.'}, {0x2044, '/'},
	/* letterlike symbols */
	{0x2102, 'c'}, {0x210a, 'g'}, {0x210b, 'h'}, {0x210c, 'h'}, {0x210d, 'h'}, {0x210e, 'h'},
	{0x2110, 'i'}, {0x2111, 'i'}, {0x2112, 'l'}, {0x2113, 'l'}, {0x2115, 'n'}, {0x2119, 'p'},
	{0x211a, 'q'}, {0x211b, 'r'}, {0x211c, 'r'}, {0x211d, 'r'}, {0x2124, 'z'}, {0x2128, 'z'},
	{0x212a, 'k'}, {0x212b, 'a'}, {0x212c, 'b'}, {0x212d, 'c'}, {0x212f, 'e'}, {0x2130, 'e'},
	{0x2131, 'f'}, {0x2133, 'm'}, {0x2134, 'o'}, {0x2139, 'i'},
	{0x2160, 'l'}, {0x2170, 'i'}, {0x217c, 'l'},
	{0x2212, '-'}, {0x2215, '/'}, {0x2223, 'l'},
};
/* clang-format on */

static int alike_of(uint32_t cp)
{
	size_t lo = 0, hi = sizeof alike / sizeof *alike;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (alike[mid].cp == cp)
			return alike[mid].to;
		if (alike[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Marks that decorate the letter before them, variation selectors, and
 * what shows nothing at all. */
static int dropped(uint32_t c)
{
	return (c >= 0x0300 && c <= 0x036f) || (c >= 0x1ab0 && c <= 0x1aff) ||
	       (c >= 0x1dc0 && c <= 0x1dff) || (c >= 0x20d0 && c <= 0x20ff) ||
	       (c >= 0xfe20 && c <= 0xfe2f) || (c >= 0xfe00 && c <= 0xfe0f) ||
	       (c >= 0xe0100 && c <= 0xe01ef) || text_invisible(c);
}

static int space_like(uint32_t c)
{
	return c == ' ' || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
	       c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Fullwidth forms, mathematical letters and digits, circled letters: the
 * ASCII character they are drawn from, or c. The mathematical block is
 * thirteen alphabets of 52 letters, then digits in runs of ten. */
static uint32_t styled_ascii(uint32_t c)
{
	if (c >= 0xff01 && c <= 0xff5e)
		return c - 0xfee0;
	if (c >= 0x1d400 && c <= 0x1d6a3) {
		uint32_t i = (c - 0x1d400) % 52;
		return i < 26 ? 'a' + i : 'a' + i - 26;
	}
	if (c >= 0x1d7ce && c <= 0x1d7ff)
		return '0' + (c - 0x1d7ce) % 10;
	if (c >= 0x24b6 && c <= 0x24cf)
		return 'a' + (c - 0x24b6);
	if (c >= 0x24d0 && c <= 0x24e9)
		return 'a' + (c - 0x24d0);
	return c;
}

static uint32_t lower(uint32_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7) ||
	    (c >= 0x391 && c <= 0x3ab && c != 0x3a2) || (c >= 0x410 && c <= 0x42f))
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40f)
		return c + 0x50;
	if (c >= 0x531 && c <= 0x556)
		return c + 0x30;
	return c == 0x3c2 ? 0x3c3 : c; /* final sigma */
}

/* One code point's fold: 0 when dropped. */
static uint32_t fold(uint32_t c)
{
	int to;

	if (dropped(c))
		return 0;
	c = styled_ascii(c);
	if (space_like(c))
		return ' ';
	if ((to = alike_of(c)))
		c = (uint32_t)to;
	c = lower(c);
	if (c >= 0xc0 && c < 0x250 && latin_base[c - 0xc0] != '.')
		c = (uint32_t)latin_base[c - 0xc0];
	switch (c) {
	case '0':
		return 'o';
	case '1':
	case 'i':
	case '|':
		return 'l';
	default:
		return c;
	}
}

static size_t utf8_put(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | c >> 12);
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | c >> 18);
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* The ASCII pass over the folded text, in place: "rn" is m, "vv" is w, one
 * space between words, none at the ends. UTF-8's multibyte sequences hold
 * no ASCII bytes, so working on bytes is safe. Returns the new length. */
static size_t squeeze(char *s, size_t len)
{
	size_t w = 0;
	for (size_t r = 0; r < len; r++) {
		char c = s[r];
		if (c == ' ' && (w == 0 || s[w - 1] == ' '))
			continue;
		if (w > 0 && ((s[w - 1] == 'r' && c == 'n') || (s[w - 1] == 'v' && c == 'v'))) {
			s[w - 1] = c == 'n' ? 'm' : 'w';
			continue;
		}
		s[w++] = c;
	}
	if (w > 0 && s[w - 1] == ' ')
		w--;
	s[w] = '\0';
	return w;
}

long skel_of(const char *s, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), w = 0;
	unsigned cp;

	/* No fold makes a character longer in UTF-8 (ASCII results from
	 * longer ones, case pairs of equal length), so this bounds it all. */
	if (outlen < len + 1)
		return -1;
	int r;
	while ((r = utf8_take(&p, &len, &cp)) > 0) {
		uint32_t c = fold(cp);
		if (c)
			w += utf8_put(c, out + w);
	}
	return r < 0 ? -1 : (long)squeeze(out, w);
}
