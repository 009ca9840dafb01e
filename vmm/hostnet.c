/* SPDX-License-Identifier: MIT */
/* The host side of --net; see hostnet.h. */
#include "hostnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "netns.h"

#define MAX_HOST_ADDRS 1024u

static uint32_t mask_of(unsigned int prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

uint32_t hostnet_pick_block(const uint32_t *addrs, const unsigned int *prefixes,
			    unsigned int n)
{
	uint32_t blocks = 1u << (32 - HOSTNET_POOL_PREFIX - 2);

	for (uint32_t b = 0; b < blocks; b++) {
		uint32_t net = HOSTNET_POOL + b * 4;
		bool used = false;

		for (unsigned int i = 0; i < n && !used; i++) {
			uint32_t m = mask_of(prefixes[i]);

			/* Their address inside our block, or our block inside
			 * their subnet (a /16 on the host covers the pool). */
			used = (addrs[i] & ~3u) == net || (net & m) == (addrs[i] & m);
		}
		if (!used)
			return net;
	}
	return 0;
}

/* The host's IPv4 addresses and prefixes. */
static int host_addrs(uint32_t *addrs, unsigned int *prefixes, unsigned int *n)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	*n = 0;
	for (i = ifa; i && *n < MAX_HOST_ADDRS; i = i->ifa_next) {
		uint32_t m;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask)
			continue;
		addrs[*n] = ntohl(((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr);
		m = ntohl(((struct sockaddr_in *)(void *)i->ifa_netmask)->sin_addr.s_addr);
		prefixes[*n] = (unsigned int)__builtin_popcount(m);
		(*n)++;
	}
	freeifaddrs(ifa);
	return 0;
}

/* Nameservers from the host's resolv.conf: IPv4, not loopback (the guest
 * could not reach a host-local resolver such as systemd-resolved's). */
static void host_dns(struct hostnet *hn)
{
	char line[256];
	FILE *f = fopen("/etc/resolv.conf", "re");

	if (!f)
		return;
	while (hn->nr_dns < CONFIG_MAX_DNS && fgets(line, sizeof(line), f)) {
		char addr[64];
		struct in_addr a;

		if (sscanf(line, " nameserver %63s", addr) != 1 ||
		    inet_pton(AF_INET, addr, &a) != 1 || (ntohl(a.s_addr) >> 24) == 127)
			continue;
		/* Normalised: "010.0.0.1" style spellings never reach the guest. */
		inet_ntop(AF_INET, &a, hn->dns[hn->nr_dns++], sizeof(hn->dns[0]));
	}
	fclose(f);
}

/* Address the host end of a tap we created; picks the guest's block when
 * the user gave no ip=. */
static int address_created_tap(struct hostnet *hn, const struct vm_net *cfg, char *why,
			       size_t why_len)
{
	static uint32_t addrs[MAX_HOST_ADDRS];
	static unsigned int prefixes[MAX_HOST_ADDRS];
	unsigned int n = 0;
	int lock, ret;

	/* Serialise the pick with other cocoons until our address is on the
	 * tap: then getifaddrs shows it to them. */
	lock = open(HOSTNET_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock >= 0 && flock(lock, LOCK_EX) < 0) {
		close(lock);
		lock = -1;
	}
	if (cfg->addr_set) {
		uint32_t m = mask_of(cfg->prefix), net = cfg->addr & m;

		hn->guest_ip = cfg->addr;
		hn->prefix = cfg->prefix;
		hn->host_ip = cfg->gw_set ? cfg->gw : net + 1 == cfg->addr ? net + 2 : net + 1;
		hn->gw = cfg->gw_set ? cfg->gw : hn->host_ip;
	} else {
		uint32_t block;

		ret = host_addrs(addrs, prefixes, &n);
		if (ret) {
			why_fail(why, why_len, ret, "--net: listing the host's addresses: %s",
				 strerror(-ret));
			goto out;
		}
		block = hostnet_pick_block(addrs, prefixes, n);
		if (!block) {
			ret = why_fail(why, why_len, -EADDRNOTAVAIL,
				       "--net: every /30 of 10.200.0.0/16 is in use on this "
				       "host; give the guest an address with ip=");
			goto out;
		}
		hn->host_ip = block + 1;
		hn->guest_ip = block + 2;
		hn->prefix = 30;
		hn->gw = hn->host_ip;
	}
	hn->guest_addr_set = true;
	ret = tap_set_ipv4(hn->ifname, (struct in_addr){ htonl(hn->host_ip) }, hn->prefix,
			   why, why_len);
out:
	if (lock >= 0)
		close(lock); /* releases the flock */
	return ret;
}

/* The guest's MAC (mac=, else a random one) and, when it has an address,
 * its nameservers (--dns, else the host's). */
static void pick_mac_dns(struct hostnet *hn, const struct vm_net *cfg, const char *const *dns,
			 unsigned int nr_dns)
{
	if (cfg->mac_set) {
		memcpy(hn->mac, cfg->mac, 6);
	} else {
		/* Locally administered, unicast (IEEE 802: bits 1 and 0 of
		 * the first byte). */
		if (getrandom(hn->mac, 6, 0) != 6)
			memset(hn->mac, 0x5a, 6);
		hn->mac[0] = (uint8_t)((hn->mac[0] & 0xfc) | 0x02);
	}
	if (!hn->guest_addr_set)
		return;
	for (unsigned int i = 0; i < nr_dns && i < CONFIG_MAX_DNS; i++) {
		struct in_addr a;

		if (inet_pton(AF_INET, dns[i], &a) == 1) /* config.c checked */
			inet_ntop(AF_INET, &a, hn->dns[hn->nr_dns++], sizeof(hn->dns[0]));
	}
	if (!nr_dns)
		host_dns(hn);
}

/*
 * engine_netns: the guest takes the place of the engine's interface, behind
 * a tap of ours spliced onto it (netns.h). Its IPv4 address stays on the
 * interface: with every frame arriving there redirected to the tap, the
 * namespace's stack never sees one, so it cannot answer ARP or ping for
 * the guest; and removing it would drop the default route with it, change
 * what the engine and its plugins find on tear-down, and leave nothing for
 * a later cocoon in the same namespace to find.
 */
static int take_over(struct hostnet *hn, char *why, size_t why_len)
{
	struct netns_link link;
	unsigned int tap_ifindex;
	bool found;
	int ret;

	ret = netns_find_link(&link, &found, why, why_len);
	if (ret)
		return ret;
	if (!found) {
		hn->no_device = true;
		return 0;
	}
	ret = tap_create("cocoon%d", &hn->tap_fd, hn->ifname, why, why_len);
	if (ret)
		return ret;
	hn->created = true;
	tap_ifindex = if_nametoindex(hn->ifname);
	if (!tap_ifindex)
		return why_fail(why, why_len, -errno, "netns: %s: finding the new tap: %s",
				hn->ifname, strerror(errno));
	ret = netns_prepare_tap((int)tap_ifindex, hn->ifname, link.mtu, why, why_len);
	if (!ret)
		ret = netns_splice(link.ifindex, link.name, (int)tap_ifindex, hn->ifname, why,
				   why_len);
	if (ret)
		return ret;
	snprintf(hn->link, sizeof(hn->link), "%s", link.name);
	memcpy(hn->mac, link.mac, sizeof(hn->mac));
	hn->mtu = link.mtu;
	hn->guest_addr_set = true;
	hn->guest_ip = link.addr;
	hn->prefix = link.prefix;
	hn->gw = link.gw;
	return 0;
}

int hostnet_setup(struct hostnet *hn, const struct vm_net *cfg, const char *const *dns,
		  unsigned int nr_dns, char *why, size_t why_len)
{
	int ret;

	memset(hn, 0, sizeof(*hn));
	hn->tap_fd = -1;
	if (cfg->engine_netns) {
		ret = take_over(hn, why, why_len);
		if (ret)
			goto err;
		if (hn->no_device) {
			log_debug("net: nothing to take over in this namespace: no network "
				  "device");
			return 0;
		}
		log_debug("net: tap %s stands in for %s (mtu %u)", hn->ifname, hn->link,
			  hn->mtu);
	} else if (cfg->tap) {
		ret = tap_open(cfg->tap, &hn->tap_fd, why, why_len);
		if (ret)
			return ret;
		snprintf(hn->ifname, sizeof(hn->ifname), "%s", cfg->tap);
		if (cfg->addr_set) {
			hn->guest_addr_set = true;
			hn->guest_ip = cfg->addr;
			hn->prefix = cfg->prefix;
			hn->gw = cfg->gw_set ? cfg->gw : 0;
		}
	} else {
		ret = tap_create("cocoon%d", &hn->tap_fd, hn->ifname, why, why_len);
		if (ret)
			return ret;
		hn->created = true;
		ret = address_created_tap(hn, cfg, why, why_len);
		if (ret)
			goto err;
	}
	/* engine_netns: take_over gave the interface's MAC, which the engine's
	 * network knows, and no nameservers (the engine bind-mounts its
	 * resolv.conf). */
	if (!cfg->engine_netns)
		pick_mac_dns(hn, cfg, dns, nr_dns);
	if (log_get_level() >= LOG_DEBUG) {
		char g[16], h[16];

		inet_ntop(AF_INET, &(struct in_addr){ htonl(hn->guest_ip) }, g, sizeof(g));
		inet_ntop(AF_INET, &(struct in_addr){ htonl(hn->host_ip) }, h, sizeof(h));
		log_debug("net: tap %s (%s), guest %s/%u, host end %s", hn->ifname,
			  hn->created ? "created" : "existing", g, hn->prefix, h);
	}
	return 0;
err:
	hostnet_close(hn);
	return ret;
}

void hostnet_close(struct hostnet *hn)
{
	if (hn->tap_fd >= 0)
		close(hn->tap_fd);
	hn->tap_fd = -1;
}
