/* SPDX-License-Identifier: MIT */
/*
 * hostnet in engine_netns mode (netns.h): taking over the interface an OCI
 * engine left in a network namespace.
 *
 * Each case runs in a forked child inside a new network namespace, "the
 * container's", set up with iproute2 as an engine would: a veth eth0 with
 * 10.9.0.2/24 and a default route via 10.9.0.1, whose other end is in a
 * second namespace (a grandchild's), "the engine's network", with
 * 10.9.0.1/24. A frame the guest would send, written into the tap fd,
 * must get an answer from that peer back on the tap fd: ARP, then ping.
 * Skipped without CAP_NET_ADMIN, /dev/net/tun or ip(8).
 *
 * Also: a namespace with only lo, or with interfaces down or without IPv4,
 * gives "no network device"; of several, the default route's wins; a
 * non-Ethernet interface is refused; a failed step leaves no tap; the
 * filter message is byte for byte what iproute2's tc sends (matchall
 * cannot be tried on a kernel without it, so this pins its encoding).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hostnet.h"
#include "netns.h"
#include "netns_child.h"

#define HDR TAP_VNET_HDR_LEN
#define GUEST_IP 0x0a090002u /* 10.9.0.2 */
#define PEER_IP 0x0a090001u  /* 10.9.0.1 */

/* Run a shell command line; true when it exited 0. */
static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		fprintf(stderr, "failed (%d): %s\n", st, cmd);
	return st == 0;
}

/*
 * A test case: `name`_child runs in a network namespace of its own (skipped
 * without ip(8) as without the privilege).
 */
#define NETNS_CASE(name)                                                           \
	static void name(void **state)                                             \
	{                                                                          \
		(void)state;                                                       \
		if (system("ip -V >/dev/null 2>&1") != 0)                          \
			skip();                                                    \
		in_netns(name##_child);                                            \
	}

static struct vm_net engine_cfg(void)
{
	return (struct vm_net){ .enabled = true, .engine_netns = true };
}

/* ---- the engine's network: a peer namespace ------------------------------------ */

struct peer {
	pid_t pid;
	int go, done; /* our ends of the two pipes */
};

/*
 * A grandchild in a namespace of its own, whose veth end peer0 (moved
 * there by us) gets 10.9.0.1/24; it lives, and its stack answers, until
 * peer_stop.
 */
static void peer_start(struct peer *p)
{
	int go[2], done[2];
	char c;

	CHECK(pipe(go) == 0 && pipe(done) == 0);
	p->pid = fork();
	CHECK(p->pid >= 0);
	if (p->pid == 0) {
		close(go[1]);
		close(done[0]);
		if (unshare(CLONE_NEWNET) != 0 || write(done[1], "u", 1) != 1)
			_exit(1);
		/* peer0 is here now. */
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		if (!sh("ip addr add 10.9.0.1/24 dev peer0 && ip link set peer0 mtu 1400 up"))
			_exit(1);
		if (write(done[1], "c", 1) != 1)
			_exit(1);
		while (read(go[0], &c, 1) > 0) /* until peer_stop closes */
			;
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	p->go = go[1];
	p->done = done[0];
	CHECK(read(p->done, &c, 1) == 1 && c == 'u');
}

static void peer_configure(struct peer *p)
{
	char c;

	CHECK(write(p->go, "g", 1) == 1);
	CHECK(read(p->done, &c, 1) == 1 && c == 'c');
}

static void peer_stop(struct peer *p)
{
	int st;

	close(p->go);
	close(p->done);
	CHECK(waitpid(p->pid, &st, 0) == p->pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The container's side as docker leaves it, the peer's end in `p`. */
static void engine_setup(struct peer *p)
{
	peer_start(p);
	CHECK(sh("ip link add eth0 type veth peer name peer0 netns %d", (int)p->pid));
	CHECK(sh("ip link set eth0 mtu 1400 up && ip addr add 10.9.0.2/24 dev eth0 && "
		 "ip route add default via 10.9.0.1"));
	peer_configure(p);
}

/* ---- frames on the tap fd -------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071: the ones' complement of the ones' complement sum of 16-bit
 * words (n is even here). */
static uint16_t inet_sum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < n; i += 2)
		sum += get16(p + i);
	sum = (sum & 0xffff) + (sum >> 16);
	sum += sum >> 16;
	return (uint16_t)~sum;
}

/* An Ethernet header after the (all-zero) virtio-net header. */
static uint8_t *eth_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
			  uint16_t type)
{
	memset(f, 0, HDR);
	memcpy(f + HDR, dst, 6);
	memcpy(f + HDR + 6, src, 6);
	put16(f + HDR + 12, type);
	return f + HDR + 14;
}

/* Read frames from the tap for up to two seconds until `want` accepts one
 * (its Ethernet payload, after the headers); false if none did. */
static bool await_frame(int fd, uint8_t *f, size_t cap,
			bool (*want)(const uint8_t *eth, size_t len))
{
	struct timespec end, now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 2;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			return false;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(fd, f, cap);
		if (n >= (ssize_t)(HDR + 14) && want(f + HDR, (size_t)n - HDR))
			return true;
	}
}

static bool is_arp_reply(const uint8_t *eth, size_t len)
{
	const uint8_t *arp = eth + 14;

	return len >= 14 + 28 && get16(eth + 12) == 0x0806 && get16(arp + 6) == 2 &&
	       memcmp(arp + 14, (uint8_t[]){ 10, 9, 0, 1 }, 4) == 0;
}

static bool is_echo_reply(const uint8_t *eth, size_t len)
{
	const uint8_t *ip = eth + 14, *icmp = ip + 20;

	return len >= 14 + 20 + 8 && get16(eth + 12) == 0x0800 && ip[9] == 1 &&
	       icmp[0] == 0 && get16(icmp + 4) == 0x4242 &&
	       memcmp(ip + 16, (uint8_t[]){ 10, 9, 0, 2 }, 4) == 0;
}

/*
 * As the guest: ARP for the gateway, then ping it. The answers coming back
 * on the tap prove both redirects (and that the peer took the guest for
 * the owner of eth0's MAC and address).
 */
static void guest_pings_gateway(int fd, const uint8_t gmac[6])
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t f[2048], pmac[6], *arp, *ip, *icmp;

	memset(f, 0, sizeof(f));
	arp = eth_frame(f, bcast, gmac, 0x0806);
	put16(arp, 1);      /* Ethernet */
	put16(arp + 2, 0x0800);
	arp[4] = 6;
	arp[5] = 4;
	put16(arp + 6, 1);  /* request */
	memcpy(arp + 8, gmac, 6);
	put32(arp + 14, GUEST_IP);
	put32(arp + 24, PEER_IP);
	CHECK(write(fd, f, HDR + 14 + 28) == HDR + 14 + 28);
	CHECK(await_frame(fd, f, sizeof(f), is_arp_reply));
	CHECK(memcmp(f + HDR, gmac, 6) == 0);
	memcpy(pmac, f + HDR + 14 + 8, 6);

	memset(f, 0, sizeof(f));
	ip = eth_frame(f, pmac, gmac, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + 6);
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, PEER_IP);
	put16(ip + 10, inet_sum(ip, 20));
	icmp = ip + 20;
	icmp[0] = 8; /* echo request */
	put16(icmp + 4, 0x4242);
	put16(icmp + 6, 1);
	memcpy(icmp + 8, "cocoon", 6);
	put16(icmp + 2, inet_sum(icmp, 8 + 6));
	CHECK(write(fd, f, HDR + 14 + 20 + 8 + 6) == HDR + 14 + 20 + 8 + 6);
	CHECK(await_frame(fd, f, sizeof(f), is_echo_reply));
	CHECK(memcmp(f + HDR + 14 + 20 + 8, "cocoon", 6) == 0);
}

/* ---- cases --------------------------------------------------------------------------- */

static void if_info(const char *name, unsigned long req, struct ifreq *ifr)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(sock >= 0);
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	CHECK(ioctl(sock, req, ifr) == 0);
	close(sock);
}

static void takes_over_child(void)
{
	const struct vm_net cfg = engine_cfg();
	struct hostnet hn;
	struct ifreq ifr;
	struct peer p;
	uint8_t mac[6];
	char why[256] = "";
	char tap[TAP_NAME_MAX];

	engine_setup(&p);
	if_info("eth0", SIOCGIFHWADDR, &ifr);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);

	if (hostnet_setup(&hn, &cfg, NULL, 0, why, sizeof(why)) != 0) {
		fprintf(stderr, "hostnet_setup: %s\n", why);
		_exit(1);
	}
	CHECK(!hn.no_device && hn.tap_fd >= 0 && hn.created);
	CHECK(strcmp(hn.link, "eth0") == 0);
	CHECK(hn.guest_addr_set && hn.guest_ip == GUEST_IP && hn.prefix == 24);
	CHECK(hn.gw == PEER_IP && hn.host_ip == 0 && hn.nr_dns == 0);
	CHECK(memcmp(hn.mac, mac, 6) == 0);
	CHECK(hn.mtu == 1400);
	if_info(hn.ifname, SIOCGIFFLAGS, &ifr);
	CHECK(ifr.ifr_flags & IFF_UP);
	if_info(hn.ifname, SIOCGIFMTU, &ifr);
	CHECK(ifr.ifr_mtu == 1400);
	/* The address stays on eth0 (hostnet.c says why). */
	CHECK(sh("ip -4 addr show dev eth0 | grep -q 10.9.0.2/24"));

	guest_pings_gateway(hn.tap_fd, hn.mac);

	snprintf(tap, sizeof(tap), "%s", hn.ifname);
	hostnet_close(&hn);
	CHECK(hn.tap_fd == -1);
	CHECK(if_nametoindex(tap) == 0); /* gone with its fd */

	/* A second cocoon in the same namespace: eth0's filter from the first
	 * (redirecting to a tap now gone) is replaced. */
	if (hostnet_setup(&hn, &cfg, NULL, 0, why, sizeof(why)) != 0) {
		fprintf(stderr, "hostnet_setup again: %s\n", why);
		_exit(1);
	}
	guest_pings_gateway(hn.tap_fd, hn.mac);
	hostnet_close(&hn);
	peer_stop(&p);
}

NETNS_CASE(takes_over)

/* No device, and no tap left behind. */
static void expect_no_device(void)
{
	const struct vm_net cfg = engine_cfg();
	struct hostnet hn;
	char why[256] = "";

	if (hostnet_setup(&hn, &cfg, NULL, 0, why, sizeof(why)) != 0) {
		fprintf(stderr, "hostnet_setup: %s\n", why);
		_exit(1);
	}
	CHECK(hn.no_device && hn.tap_fd == -1 && !hn.guest_addr_set);
	CHECK(if_nametoindex("cocoon0") == 0);
	hostnet_close(&hn);
}

static void no_device_child(void)
{
	/* Only lo, even up and with its address (docker --network none). */
	CHECK(sh("ip link set lo up"));
	expect_no_device();
	/* Up but no IPv4 (here none at all; IPv6-only is the same). */
	CHECK(sh("ip link add eth0 type veth peer name peer0 && ip link set eth0 up && "
		 "ip link set peer0 up"));
	expect_no_device();
	/* IPv4 but down. */
	CHECK(sh("ip link add eth1 type veth peer name peer1 && "
		 "ip addr add 10.9.0.2/24 dev eth1"));
	expect_no_device();
}

NETNS_CASE(no_device)

static void picks_the_default_routes_child(void)
{
	struct netns_link l;
	char why[256] = "";
	bool found;

	CHECK(sh("ip link add eth0 type veth peer name peer0 && "
		 "ip link add eth1 type veth peer name peer1 && "
		 "ip link set peer0 up && ip link set peer1 up && "
		 "ip link set eth0 up && ip link set eth1 up && "
		 "ip addr add 10.9.0.2/24 dev eth0 && ip addr add 10.8.0.2/16 dev eth1 && "
		 "ip addr add 10.8.0.3/16 dev eth1"));
	/* No default route: the first. */
	CHECK(netns_find_link(&l, &found, why, sizeof(why)) == 0 && found);
	CHECK(strcmp(l.name, "eth0") == 0 && l.addr == GUEST_IP && l.gw == 0);
	/* The default route's interface, its primary address, the gateway. */
	CHECK(sh("ip route add default via 10.8.0.1"));
	CHECK(netns_find_link(&l, &found, why, sizeof(why)) == 0 && found);
	CHECK(strcmp(l.name, "eth1") == 0 && l.addr == 0x0a080002u && l.prefix == 16);
	CHECK(l.gw == 0x0a080001u && l.ifindex == (int)if_nametoindex("eth1"));
	/* Of two defaults, the lower metric's. */
	CHECK(sh("ip route del default && ip route add default via 10.8.0.1 metric 10 && "
		 "ip route add default via 10.9.0.1 metric 5"));
	CHECK(netns_find_link(&l, &found, why, sizeof(why)) == 0 && found);
	CHECK(strcmp(l.name, "eth0") == 0 && l.gw == PEER_IP);
}

NETNS_CASE(picks_the_default_routes)

/* hostnet_setup fails with `err` and a one-line reason starting `why_start`,
 * and leaves no tap behind. */
static void expect_failure(int err, const char *why_start)
{
	const struct vm_net cfg = engine_cfg();
	struct hostnet hn;
	char why[256] = "";

	CHECK(hostnet_setup(&hn, &cfg, NULL, 0, why, sizeof(why)) == err);
	if (strncmp(why, why_start, strlen(why_start)) != 0 || strchr(why, '\n')) {
		fprintf(stderr, "unexpected reason: %s\n", why);
		_exit(1);
	}
	CHECK(hn.tap_fd == -1 && if_nametoindex("cocoon0") == 0);
}

static void refuses_non_ethernet_child(void)
{
	CHECK(sh("ip tuntap add tun0 mode tun && ip addr add 10.9.0.2/24 dev tun0 && "
		 "ip link set tun0 up"));
	expect_failure(-EOPNOTSUPP, "netns: tun0: not an Ethernet interface");
}

NETNS_CASE(refuses_non_ethernet)

/* A step that fails says which interface and which step: here a tap
 * cannot have eth0's MTU (at most 65521). */
static void fails_cleanly_child(void)
{
	CHECK(sh("ip link add eth0 type veth peer name peer0 && ip link set peer0 up && "
		 "ip link set eth0 mtu 65535 up && ip addr add 10.9.0.2/24 dev eth0"));
	expect_failure(-EINVAL, "netns: cocoon0: setting its MTU and bringing it up: ");
}

NETNS_CASE(fails_cleanly)

/*
 * What `tc filter add dev IF parent ffff: protocol all prio 1 matchall
 * action mirred egress redirect dev 2` sends (strace), after the tcmsg;
 * and the same with `u32 match u32 0 0`.
 */
static const uint8_t tc_matchall[] = {
	0x0d, 0x00, 0x01, 0x00, 'm', 'a', 't', 'c', 'h', 'a', 'l', 'l', 0x00, 0x00, 0x00, 0x00,
	0x3c, 0x00, 0x02, 0x00, 0x38, 0x00, 0x02, 0x00, 0x34, 0x00, 0x01, 0x00, 0x0b, 0x00,
	0x01, 0x00, 'm', 'i', 'r', 'r', 'e', 'd', 0x00, 0x00, 0x24, 0x00, 0x02, 0x80, 0x20,
	0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0, 0, 0, 0x02, 0, 0, 0,
};
static const uint8_t tc_u32[] = {
	0x08, 0x00, 0x01, 0x00, 'u', '3', '2', 0x00, 0x60, 0x00, 0x02, 0x00, 0x38, 0x00, 0x07,
	0x00, 0x34, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x01, 0x00, 'm', 'i', 'r', 'r', 'e', 'd',
	0x00, 0x00, 0x24, 0x00, 0x02, 0x80, 0x20, 0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
	0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x02, 0, 0, 0,
	/* TCA_U32_SEL: terminal, one key; the rest (and the key) zero */
	0x24, 0x00, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 12 + 16 bytes */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static void check_filter_msg(bool u32, const uint8_t *want, size_t want_len)
{
	uint32_t buf[64];
	const struct nlmsghdr *h = (const void *)buf;
	const struct tcmsg *t = NLMSG_DATA(h);
	size_t len = netns_redirect_msg(buf, sizeof(buf), 7, 2, u32);

	assert_int_equal(len, NLMSG_LENGTH(sizeof(*t)) + want_len);
	assert_int_equal(h->nlmsg_len, len);
	assert_int_equal(h->nlmsg_type, RTM_NEWTFILTER);
	assert_int_equal(h->nlmsg_flags,
			 NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE);
	assert_int_equal(t->tcm_family, AF_UNSPEC);
	assert_int_equal(t->tcm_ifindex, 7);
	assert_int_equal(t->tcm_handle, 0);
	assert_int_equal(t->tcm_parent, 0xffff0000u);
	assert_int_equal(t->tcm_info, 0x10300u); /* prio 1, ETH_P_ALL (network order) */
	assert_memory_equal((const uint8_t *)buf + NLMSG_LENGTH(sizeof(*t)), want, want_len);
	/* Too little room: nothing. */
	assert_int_equal(netns_redirect_msg(buf, len - 4, 7, 2, u32), 0);
}

static void filter_msg_matches_tc(void **state)
{
	(void)state;
	check_filter_msg(false, tc_matchall, sizeof(tc_matchall));
	check_filter_msg(true, tc_u32, sizeof(tc_u32));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filter_msg_matches_tc),
		cmocka_unit_test(takes_over),
		cmocka_unit_test(no_device),
		cmocka_unit_test(picks_the_default_routes),
		cmocka_unit_test(refuses_non_ethernet),
		cmocka_unit_test(fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
