/* lib/netaddr.h: the trusted proxy list and X-Forwarded-For. */
#include <string.h>

#include "netaddr.h"
#include "runner.h"

static netaddr_list list_of(const char *s)
{
	netaddr_list l;
	char why[160];
	CHECK_MSG(netaddr_list_parse(s, &l, why, sizeof why) == 0, "\"%s\": %s", s, why);
	return l;
}

/* Refused, with a reason naming the entry. */
static void refused(const char *s, const char *entry)
{
	netaddr_list l = {NULL, 7};
	char why[160];
	CHECK_MSG(netaddr_list_parse(s, &l, why, sizeof why) < 0, "\"%s\" was taken", s);
	CHECK_MSG(strstr(why, entry), "\"%s\": reason \"%s\" does not name %s", s, why, entry);
	CHECK(l.n == 0 && l.r == NULL);
}

void test_netaddr_list_parse(void)
{
	netaddr_list l = list_of("");
	CHECK_EQ_INT(l.n, 0);
	l = list_of(" , ");
	CHECK_EQ_INT(l.n, 0);
	l = list_of("127.0.0.1, 10.0.0.0/8 ::1\tfd00::/8,192.168.0.0/16,0.0.0.0/0");
	CHECK_EQ_INT(l.n, 6);
	CHECK_EQ_INT(l.r[0].bits, 128);
	CHECK_EQ_INT(l.r[1].bits, 104);
	CHECK_EQ_INT(l.r[3].bits, 8);
	CHECK_EQ_INT(l.r[5].bits, 96);
	netaddr_list_free(&l);
	CHECK(l.n == 0 && l.r == NULL);
	refused("127.0.0.1, localhost", "\"localhost\"");
	refused("10.0.0.1/8", "bits set past the prefix");
	refused("10.0.0.0/33", "prefix longer");
	refused("::/129", "prefix longer");
	refused("10.0.0.0/", "bad prefix");
	refused("10.0.0.0/x", "bad prefix");
	refused("10.0.0.0/0008", "bad prefix");
	refused("1.2.3", "\"1.2.3\"");
	refused("1.2.3.4:80", "\"1.2.3.4:80\"");
	refused("[::1]", "\"[::1]\"");
}

void test_netaddr_match(void)
{
	netaddr_list l = list_of("127.0.0.1 10.0.0.0/8 fd00::/8 2001:db8:0:1::/64 172.16.0.0/12");
	CHECK(netaddr_list_has(&l, "127.0.0.1"));
	CHECK(!netaddr_list_has(&l, "127.0.0.2"));
	CHECK(netaddr_list_has(&l, "10.255.1.2"));
	CHECK(!netaddr_list_has(&l, "11.0.0.1"));
	CHECK(netaddr_list_has(&l, "172.31.255.255"));
	CHECK(!netaddr_list_has(&l, "172.32.0.0"));
	/* A dual-stack socket reports IPv4 peers as mapped IPv6. */
	CHECK(netaddr_list_has(&l, "::ffff:10.9.8.7"));
	CHECK(netaddr_list_has(&l, "::FFFF:127.0.0.1"));
	CHECK(netaddr_list_has(&l, "fdab::1"));
	CHECK(!netaddr_list_has(&l, "fe00::1"));
	CHECK(netaddr_list_has(&l, "2001:db8:0:1:ffff::9"));
	CHECK(!netaddr_list_has(&l, "2001:db8:0:2::1"));
	CHECK(!netaddr_list_has(&l, "::1"));
	CHECK(!netaddr_list_has(&l, "not an address"));
	CHECK(!netaddr_list_has(&l, ""));
	CHECK(!netaddr_list_has(&l, NULL));
	netaddr_list_free(&l);
	l = list_of("::/0");
	CHECK(netaddr_list_has(&l, "1.2.3.4")); /* mapped IPv4 is inside ::/0 */
	netaddr_list_free(&l);
	l = list_of("0.0.0.0/0");
	CHECK(netaddr_list_has(&l, "1.2.3.4"));
	CHECK(!netaddr_list_has(&l, "2001:db8::1"));
	netaddr_list_free(&l);
}

static void client_is(const netaddr_list *l, const char *peer, const char *xff, const char *want)
{
	char out[NETADDR_TEXT_MAX];
	netaddr_client(l, peer, xff, out);
	CHECK_MSG(!strcmp(out, want), "peer %s, X-Forwarded-For \"%s\": got %s, want %s", peer,
		  xff ? xff : "(none)", out, want);
}

void test_netaddr_forwarded_for(void)
{
	netaddr_list l = list_of("127.0.0.1, 10.0.0.0/8, fd00::/8");
	/* Not from a proxy: the header is the client's own word, ignored. */
	client_is(&l, "203.0.113.9", "198.51.100.1", "203.0.113.9");
	client_is(&l, "127.0.0.1", NULL, "127.0.0.1");
	client_is(&l, "127.0.0.1", "", "127.0.0.1");
	client_is(&l, "127.0.0.1", "198.51.100.1", "198.51.100.1");
	client_is(&l, "::ffff:127.0.0.1", " 198.51.100.1 ", "198.51.100.1");
	/* The rightmost untrusted entry: what the client wrote itself (left)
	 * is not believed. */
	client_is(&l, "127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1");
	client_is(&l, "10.1.1.1", "6.6.6.6, 198.51.100.1, 10.2.2.2, 10.3.3.3", "198.51.100.1");
	/* Every hop trusted: the leftmost. */
	client_is(&l, "10.1.1.1", "10.9.9.9, 10.2.2.2", "10.9.9.9");
	/* Ports and brackets; canonical text out. */
	client_is(&l, "127.0.0.1", "198.51.100.1:5123", "198.51.100.1");
	client_is(&l, "fd00::5", "[2001:DB8::0:1]:443", "2001:db8::1");
	client_is(&l, "fd00::5", "2001:0db8::1", "2001:db8::1");
	client_is(&l, "127.0.0.1", "::ffff:198.51.100.7", "198.51.100.7");
	/* A hop that is not an address: the last proxy that vouched. */
	client_is(&l, "127.0.0.1", "198.51.100.1, junk", "127.0.0.1");
	client_is(&l, "10.1.1.1", "junk, 10.2.2.2", "10.2.2.2");
	client_is(&l, "127.0.0.1", "198.51.100.1,", "127.0.0.1");
	/* An empty list trusts nobody. */
	netaddr_list none = list_of("");
	client_is(&none, "127.0.0.1", "198.51.100.1", "127.0.0.1");
	/* A peer that is no address stays as it is. */
	client_is(&l, "unix-socket", "198.51.100.1", "unix-socket");
	netaddr_list_free(&l);
}
