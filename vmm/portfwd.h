/* SPDX-License-Identifier: MIT */
/*
 * Published ports (-p [HOSTIP:]HOSTPORT:GUESTPORT): a TCP forwarder on the
 * host. cocoon listens on HOSTIP:HOSTPORT; each connection accepted there
 * is joined to a new connection to the guest's address and GUESTPORT over
 * the VM's tap network, and bytes are copied both ways until both sides
 * have closed, half-closes passed on.
 *
 * Why a forwarder rather than nftables DNAT rules (docker does both):
 *   - it answers connections from the host itself, including 127.0.0.1,
 *     which a prerouting DNAT never sees (docker needs its userland proxy
 *     for exactly this case);
 *   - it needs no nftables on the host and leaves no rule behind when
 *     cocoon is killed: the kernel closes the listening sockets with the
 *     process;
 *   - a port already in use fails `cocoon run` at start with the usual
 *     "address already in use", and `ss -ltnp` shows cocoon as its owner.
 * The price is a copy through user space, and the workload sees the
 * connection come from the tap's host address, as behind docker-proxy.
 *
 * The forwarder runs on its own event-loop thread, so a busy connection
 * never delays the VM's devices. Memory is bounded: PORTFWD_BUF bytes per
 * direction per connection and at most PORTFWD_MAX_CONNS connections (more
 * are accepted and closed at once). A connection the guest refuses, or one
 * that cannot be made within the kernel's connect timeout, closes the
 * client's connection.
 */
#ifndef COCOON_PORTFWD_H
#define COCOON_PORTFWD_H

#include <stdint.h>
#include <stddef.h>

#include "config.h"
#include "util.h"

#define PORTFWD_BUF (64u * 1024)
#define PORTFWD_MAX_CONNS 1024u

struct portfwd;

/*
 * Bind and listen on every host address and port in `ports` (all of them
 * or none), forwarding to `guest_ip` (host byte order). Nothing runs until
 * portfwd_start. On error returns -errno with a one-line reason naming the
 * port in why.
 */
int portfwd_create(struct portfwd **out, const struct vm_port *ports,
		   unsigned int nr, uint32_t guest_ip, char *why,
		   size_t why_len) __must_check;

/* Start the forwarder's thread. 0 or -errno. */
int portfwd_start(struct portfwd *pf) __must_check;

/* The host port listener i really got (for HOSTPORT 0 in tests). */
uint16_t portfwd_host_port(const struct portfwd *pf, unsigned int i);

/* Stop the thread, close every connection and listener, free. NULL-safe. */
void portfwd_destroy(struct portfwd *pf);

#endif
