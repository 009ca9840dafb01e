/* SPDX-License-Identifier: MIT */
/*
 * The guest's network, as the spec asks (abi.h: net_addr, net_gw, dns):
 * lo up always; eth0 (the virtio-net device) up with its IPv4 address and
 * the default route; nameservers in /etc/resolv.conf. Plain ioctls, as
 * ifconfig and route do: no netlink library in a 60 KB init.
 */
#ifndef COCOON_GUEST_NET_H
#define COCOON_GUEST_NET_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/*
 * Parse "A.B.C.D/P" (P 0-32) into a host-order address and prefix length.
 * Pure, for the host's unit tests. 0 or -EINVAL.
 */
__attribute__((warn_unused_result)) int net_parse_cidr(const char *s, uint32_t *addr,
                                                       unsigned int *prefix);

/*
 * Bring lo up, then, when s->net_addr is set, eth0 with that address and
 * its netmask, and the default route through s->net_gw when set. Waits up
 * to 3 s for eth0 to appear (the virtio-net driver probes asynchronously).
 * Returns 0, or -errno with *what naming the step ("eth0: set address").
 */
__attribute__((warn_unused_result)) int net_setup(const struct spec *s,
                                                  const char **what);

/*
 * In the (new) root, when it has /etc and the spec names nameservers:
 * write /etc/resolv.conf with them. 0 or -errno with *what set.
 */
__attribute__((warn_unused_result)) int net_write_resolv(const struct spec *s,
                                                         const char **what);

#endif
