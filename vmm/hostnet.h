/* SPDX-License-Identifier: MIT */
/*
 * The host side of --net: the tap, the addresses on both ends, the MAC and
 * the nameservers the guest is told about.
 *
 * `--net tap` creates a non-persistent tap (gone when cocoon exits; see
 * tap.h). Unless ip= says otherwise, the VM gets a /30 of its own from
 * HOSTNET_POOL (10.200.0.0/16): the host end of the tap takes .1 of the
 * block, the guest .2 with .1 as its gateway. The first block no interface
 * on the host uses is taken, under a lock file (HOSTNET_LOCK) held until
 * the tap has its address, so two cocoons starting at once pick different
 * blocks. With ip= (and optionally gw=) on a created tap, the host end
 * takes gw=, or the first other address of the guest's subnet.
 *
 * `--net tap:NAME` attaches to a tap the user set up; cocoon changes
 * nothing on the host side (address, bridge, routes stay the user's), and
 * the guest gets ip= and gw= when given, else no address.
 *
 * Nameservers (--dns, else the host's own IPv4 nameservers from
 * /etc/resolv.conf that are not loopback, as docker does) go to the guest
 * only when it has an address.
 *
 * With engine_netns (cocoon as an OCI runtime, already inside the network
 * namespace the engine prepared) the VM takes over the engine's interface
 * (netns.h): netns_find_link picks it (eth0, up, with an IPv4 address), a
 * non-persistent tap is created beside it with its MTU, and tc ingress
 * redirects join the two both ways. The guest gets the interface's MAC,
 * IPv4 address, prefix and default gateway; no nameservers (the engine
 * bind-mounts its resolv.conf) and no host end (host_ip 0). ip=, gw=, mac=
 * and --dns do not apply. A namespace with nothing to take over (only lo,
 * as `docker run --network none`) is no error: no_device is set, there is
 * no tap, and the VM gets no virtio-net. The tap and its filter go when
 * cocoon exits; the ingress qdisc and the filter on the engine's interface
 * stay until the engine deletes the namespace, and a later setup in the
 * same namespace replaces that filter.
 */
#ifndef COCOON_HOSTNET_H
#define COCOON_HOSTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tap.h"
#include "util.h"

#define HOSTNET_POOL 0x0ac80000u      /* 10.200.0.0 */
#define HOSTNET_POOL_PREFIX 16
#define HOSTNET_LOCK "/run/cocoon-net.lock"

struct hostnet {
	int tap_fd;                /* -1 when closed or handed over */
	char ifname[TAP_NAME_MAX];
	bool created;
	bool guest_addr_set;       /* the guest gets an address */
	uint32_t guest_ip;         /* host byte order */
	unsigned int prefix;
	uint32_t gw;               /* 0: none */
	uint32_t host_ip;          /* the tap's host end, 0 when not ours */
	uint8_t mac[6];
	unsigned int mtu;          /* engine_netns: the interface's; 0: default */
	bool no_device;            /* engine_netns: nothing to take over: the VM
				    * gets no virtio-net (tap_fd is -1) */
	char link[TAP_NAME_MAX];   /* engine_netns: the interface taken over */
	unsigned int nr_dns;
	char dns[CONFIG_MAX_DNS][16];
};

/*
 * Open or create the tap for `cfg` and settle the addresses, as above.
 * `dns`/`nr_dns` are the --dns values. With cfg->engine_netns, 0 with
 * hn->no_device set means: add no network device. On error returns -errno
 * with a one-line reason in why; hn is then closed (a tap it created is
 * gone).
 */
int hostnet_setup(struct hostnet *hn, const struct vm_net *cfg, const char *const *dns,
		  unsigned int nr_dns, char *why, size_t why_len) __must_check;

/*
 * Pick the first free /30 of the pool given the host's IPv4 addresses and
 * their prefixes (pure, for tests). Returns the block's network address
 * (host byte order), or 0 when every block is used.
 */
uint32_t hostnet_pick_block(const uint32_t *addrs, const unsigned int *prefixes,
			    unsigned int n);

/* Close the tap if still held (a created tap disappears then). */
void hostnet_close(struct hostnet *hn);

#endif
