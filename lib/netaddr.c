#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int netaddr_parse(const char *s, size_t len, unsigned char out[16])
{
	char text[NETADDR_TEXT_MAX];
	struct in_addr v4;

	if (len == 0 || len >= sizeof text)
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET, text, &v4) == 1) {
		memcpy(out, v4_mapped, 12);
		memcpy(out + 12, &v4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

static int is_v4(const unsigned char a[16])
{
	return !memcmp(a, v4_mapped, 12);
}

/* Canonical text of a parsed address into out (NETADDR_TEXT_MAX bytes). */
static void to_text(const unsigned char a[16], char *out)
{
	const char *ok = is_v4(a) ? inet_ntop(AF_INET, a + 12, out, NETADDR_TEXT_MAX)
				  : inet_ntop(AF_INET6, a, out, NETADDR_TEXT_MAX);
	if (!ok)
		out[0] = '\0';
}

static int in_range(const netaddr_range *r, const unsigned char a[16])
{
	int full = r->bits / 8, rest = r->bits % 8;
	if (memcmp(r->addr, a, (size_t)full))
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (r->addr[full] & mask) == (a[full] & mask);
}

static int list_has(const netaddr_list *l, const unsigned char a[16])
{
	for (size_t i = 0; i < l->n; i++)
		if (in_range(&l->r[i], a))
			return 1;
	return 0;
}

int netaddr_list_has(const netaddr_list *l, const char *addr)
{
	unsigned char a[16];
	return addr && netaddr_parse(addr, strlen(addr), a) == 0 && list_has(l, a);
}

/* "addr" or "addr/bits" of len bytes into r. NULL, or why it is not one. */
static const char *range_parse(const char *s, size_t len, netaddr_range *r)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;

	if (netaddr_parse(s, alen, r->addr) < 0)
		return "is not an IPv4 or IPv6 address";
	int max = is_v4(r->addr) ? 32 : 128;
	int bits = max;
	if (slash) {
		const char *p = slash + 1, *end = s + len;
		if (p == end || end - p > 3)
			return "has a bad prefix length";
		bits = 0;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return "has a bad prefix length";
			bits = bits * 10 + (*p - '0');
		}
		if (bits > max)
			return "has a prefix longer than the address";
	}
	r->bits = bits + (128 - max);
	for (int i = r->bits; i < 128; i++)
		if (r->addr[i / 8] & (0x80 >> (i % 8)))
			return "has bits set past the prefix";
	return NULL;
}

static int is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int netaddr_list_parse(const char *s, netaddr_list *out, char *why, size_t whylen)
{
	netaddr_list l = {NULL, 0};
	size_t cap = 0;

	out->r = NULL;
	out->n = 0;
	for (const char *p = s ? s : ""; *p;) {
		if (is_sep(*p)) {
			p++;
			continue;
		}
		size_t len = 0;
		while (p[len] && !is_sep(p[len]))
			len++;
		if (l.n == cap) {
			size_t ncap = cap ? 2 * cap : 4;
			netaddr_range *nr = realloc(l.r, ncap * sizeof *nr);
			if (!nr) {
				snprintf(why, whylen, "out of memory");
				free(l.r);
				return -1;
			}
			l.r = nr;
			cap = ncap;
		}
		const char *bad = range_parse(p, len, &l.r[l.n]);
		if (bad) {
			snprintf(why, whylen, "\"%.*s\" %s", len > 64 ? 64 : (int)len, p, bad);
			free(l.r);
			return -1;
		}
		l.n++;
		p += len;
	}
	*out = l;
	return 0;
}

void netaddr_list_free(netaddr_list *l)
{
	free(l->r);
	l->r = NULL;
	l->n = 0;
}

/* One X-Forwarded-For entry of len bytes, trimmed: "a.b.c.d", "a.b.c.d:port",
 * an IPv6 address or "[v6]" / "[v6]:port". 0, or -1 when it is none. */
static int entry_parse(const char *s, size_t len, unsigned char out[16])
{
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len && *s == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return -1;
		return netaddr_parse(s + 1, (size_t)(close - s - 1), out);
	}
	const char *colon = memchr(s, ':', len);
	/* One colon only: IPv4 with a port (IPv6 has at least two). */
	if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
		len = (size_t)(colon - s);
	return netaddr_parse(s, len, out);
}

void netaddr_client(const netaddr_list *trusted, const char *peer, const char *xff, char *out)
{
	unsigned char a[16], hop[16];

	if (!peer || netaddr_parse(peer, strlen(peer), a) < 0) {
		snprintf(out, NETADDR_TEXT_MAX, "%s", peer ? peer : "");
		return;
	}
	if (list_has(trusted, a) && xff) {
		/* Right to left: each step is one proxy further from us. */
		size_t end = strlen(xff);
		while (end > 0) {
			size_t start = end;
			while (start > 0 && xff[start - 1] != ',')
				start--;
			if (entry_parse(xff + start, end - start, hop) < 0)
				break;
			memcpy(a, hop, sizeof a);
			if (!list_has(trusted, a))
				break;
			end = start ? start - 1 : 0;
		}
	}
	to_text(a, out);
}
