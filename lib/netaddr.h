/* IP addresses and ranges: a list of trusted proxies (addresses and CIDR
 * ranges, IPv4 and IPv6) parsed once at start, the test "is this peer in
 * the list", and the client address behind such proxies from their
 * X-Forwarded-For header.
 *
 * IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d), so "10.0.0.0/8" also
 * matches a peer that a dual-stack socket reports as ::ffff:10.1.2.3, and
 * addresses are written back in one canonical text form (dotted IPv4,
 * compressed lowercase IPv6). Nothing here does I/O. */
#ifndef RB_NETADDR_H
#define RB_NETADDR_H

#include <stddef.h>

/* 39 characters of IPv6 text (INET6_ADDRSTRLEN is 46 with room for a
 * mapped IPv4 suffix) and the NUL. */
#define NETADDR_TEXT_MAX 46

typedef struct {
	unsigned char addr[16];
	int bits; /* prefix length over the 128 bits (IPv4 /n is 96 + n) */
} netaddr_range;

typedef struct {
	netaddr_range *r; /* malloc'd; NULL when n is 0 */
	size_t n;
} netaddr_list;

/* One address of len bytes ("10.1.2.3", "2001:db8::1"; no brackets, no
 * port) into out. 0, or -1 when it is not one. */
int netaddr_parse(const char *s, size_t len, unsigned char out[16]);

/* Parses entries separated by commas and/or white space, each an address
 * or address/prefix ("127.0.0.1, 10.0.0.0/8 fd00::/8"). An empty string is
 * an empty list. On success returns 0 and out owns an array (free with
 * netaddr_list_free). On the first bad entry returns -1, leaves out empty
 * and writes a reason naming the entry into why (whylen bytes). Bits set
 * past the prefix ("10.0.0.1/8") are refused: such an entry is a typo more
 * often than not. */
int netaddr_list_parse(const char *s, netaddr_list *out, char *why, size_t whylen);
void netaddr_list_free(netaddr_list *l);

/* 1 when addr (text) is inside a range of l, else 0 (also when addr is
 * not an address). */
int netaddr_list_has(const netaddr_list *l, const char *addr);

/* The client's address for a connection from peer that carried the
 * X-Forwarded-For value xff (NULL or "" when absent), written canonically
 * into out (NETADDR_TEXT_MAX bytes). When peer is in trusted, xff's
 * entries are read from the right (each proxy appends the address it saw):
 * the first one not in trusted is the client; when all are trusted, the
 * leftmost is. An entry that is not an address ends the walk: the hop that
 * wrote it is taken, as it is the last one the chain vouches for. Entries
 * may carry an IPv4 ":port" or be a bracketed IPv6 "[...]:port".
 * Otherwise (peer not trusted, or peer not an address) out is peer as is,
 * cut to fit. */
void netaddr_client(const netaddr_list *trusted, const char *peer, const char *xff, char *out);

#endif
