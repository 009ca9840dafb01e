/* SPDX-License-Identifier: MIT */
/*
 * The network namespace an OCI engine prepared for a container (docker's
 * libnetwork, podman's netavark, CNI plugins under containerd), seen from
 * inside it: cocoon has setns()'d into it before building the VM.
 *
 * The engine leaves one interface there for the container, typically a
 * veth called eth0 with an IPv4 address, a prefix and a default route via
 * a gateway. netns_find_link finds it; netns_prepare_tap readies a tap to
 * stand in for it; netns_splice joins the two the way Kata Containers'
 * "tcfilter" mode does: an ingress qdisc on each and a filter that
 * redirects every frame arriving on one to the egress of the other
 * (mirred egress redirect, TC_ACT_STOLEN), so the VM behind the tap is on
 * the engine's network with the interface's MAC and address, and the
 * namespace's own stack sees none of that traffic.
 *
 * Everything speaks rtnetlink directly (no iproute2). The filter is
 * "matchall" (Linux 4.8, cls_matchall); a kernel without it gets a u32
 * filter matching every frame instead, as Kata uses. The kernel loads
 * sch_ingress, cls_* and act_mirred on request when they are modules.
 *
 * Every function returns 0 or -errno; those taking `why` write a one-line
 * reason there naming the interface and the step, e.g. "netns: eth0:
 * adding an ingress qdisc: Operation not permitted (needs CAP_NET_ADMIN)".
 */
#ifndef COCOON_NETNS_H
#define COCOON_NETNS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The priority of our filters: 1, ahead of any the engine may have put on
 * the interface (lower runs first). */
#define NETNS_FILTER_PRIO 1u

struct netns_link {
	int ifindex;
	char name[IFNAMSIZ];
	unsigned short type;       /* ARPHRD_* */
	uint8_t mac[6];
	unsigned int mtu;
	uint32_t addr;             /* its (first, primary) IPv4 address, host order */
	unsigned int prefix;
	uint32_t gw;               /* the default route's gateway when that route
				    * goes out of this interface; 0: none */
};

/*
 * Find the interface to take over, in the network namespace of the calling
 * thread: of the interfaces that are up, not loopback and have an IPv4
 * address, the only one; among several, the one the default route (main
 * table, lowest metric) goes out of, else the lowest ifindex (the others
 * stay in the namespace: logged at info level). *found is false when there
 * is none (only lo, or interfaces that are down or have no IPv4 address:
 * the latter logged as a warning), as for a runc container with only lo.
 * Errors: -EOPNOTSUPP when the interface found is not Ethernet (a tun, a
 * WireGuard link: a tap cannot stand in for it), or what netlink said.
 */
int netns_find_link(struct netns_link *link, bool *found, char *why,
		    size_t why_len) __must_check;

/*
 * Ready interface `ifindex` (`name`, a tap just created) to stand in for a
 * link of MTU `mtu`: no IPv6 of its own (best effort: its link-local
 * chatter would reach the guest), that MTU (0: leave it), and up.
 */
int netns_prepare_tap(int ifindex, const char *name, unsigned int mtu, char *why,
		      size_t why_len) __must_check;

/*
 * Redirect every frame arriving on `a` to go out of `b`, and every frame
 * arriving on `b` to go out of `a`: an ingress qdisc on each (one already
 * there is used), any filter at NETNS_FILTER_PRIO removed (left by an
 * earlier cocoon in this namespace, redirecting to a tap now gone), and a
 * filter at that priority with a mirred egress redirect. The filters on a
 * tap go when the tap goes; those on the engine's interface stay, with the
 * namespace.
 */
int netns_splice(int a, const char *a_name, int b, const char *b_name, char *why,
		 size_t why_len) __must_check;

/*
 * The RTM_NEWTFILTER message that netns_splice sends for `from` -> `to`
 * (pure, for tests): a matchall filter, or with `u32` the u32 one. Writes
 * it to buf (4-byte aligned) and returns its length, or 0 when `cap` bytes
 * are too few.
 */
size_t netns_redirect_msg(void *buf, size_t cap, int from, int to, bool u32);

#endif
