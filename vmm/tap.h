/* SPDX-License-Identifier: MIT */
/*
 * Host tap devices (Linux TUN/TAP in tap mode) for virtio-net.
 *
 * A tap fd made here carries one Ethernet frame per read() and per write(),
 * each preceded by a 12-byte struct virtio_net_hdr_v1 (IFF_VNET_HDR, and
 * TUNSETVNETHDRSZ 12). That is the header a virtio 1.x driver puts in front
 * of every frame (virtio 1.2 section 5.1.6), so frames pass between the
 * guest's rings and the tap without translation. No packet-information
 * prefix (IFF_NO_PI). The header's byte order is the host's, which on the
 * little-endian hosts cocoon runs on (x86_64, arm64) is what virtio 1.x wants.
 * The fd is non-blocking and close-on-exec.
 *
 * Two ways to get a tap:
 *   tap_open    attach to a tap that exists (`ip tuntap add NAME mode tap
 *               user USER`). Never creates one, so a mistyped name fails
 *               instead of making a stray interface. Needs no privilege
 *               when the tap belongs to this user.
 *   tap_create  make a new tap, named by the kernel from a pattern such as
 *               "cocoon%d" (needs CAP_NET_ADMIN). The tap is NOT persistent:
 *               the kernel deletes the interface when its last fd is closed,
 *               that is when cocoon closes it or exits, however it exits. That
 *               is how "--net tap creates one and removes it at exit" is met,
 *               with no clean-up code that a crash could skip. The create asks
 *               for IFF_TUN_EXCL: a pattern without "%d" naming an interface
 *               that exists fails (EBUSY) instead of attaching to somebody
 *               else's tap.
 *
 * Every function returns 0 or -errno. Those taking `why` write a one-line
 * reason there on failure, naming the interface and saying what to do, e.g.
 * "tap0: not permitted: attaching needs CAP_NET_ADMIN unless the tap belongs
 * to this user (ip tuntap add tap0 mode tap user ...)".
 */
#ifndef COCOON_TAP_H
#define COCOON_TAP_H

#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>

#include "util.h"

/* Room for an interface name and its NUL (IFNAMSIZ: 15 characters). */
#define TAP_NAME_MAX IFNAMSIZ
/* The virtio_net_hdr_v1 every frame on a tap fd carries (virtio 1.2 5.1.6). */
#define TAP_VNET_HDR_LEN 12u

/*
 * Attach to the existing tap `name` and set its header size. *fd receives
 * the tap fd. Errors: -ENAMETOOLONG (15 characters at most), -EINVAL (empty
 * name, or not a tap: another kind of interface, a tun, a multi-queue tap),
 * -ENODEV (no such interface), -EBUSY (another process has it open),
 * -EPERM (neither CAP_NET_ADMIN nor the tap's owner), -ENOENT (no
 * /dev/net/tun), or what open/ioctl said.
 */
int tap_open(const char *name, int *fd, char *why, size_t why_len) __must_check;

/*
 * Create a new, non-persistent tap. `pattern` is a name, or a name with one
 * "%d" for the kernel to number ("cocoon%d" -> cocoon0, cocoon1, ...). *fd
 * receives the tap fd and `name` the interface's name. Errors as tap_open,
 * and -EBUSY when a fixed name exists already, -ENFILE when no number is free.
 */
int tap_create(const char *pattern, int *fd, char name[TAP_NAME_MAX], char *why,
	       size_t why_len) __must_check;

/* The interface name of tap fd `fd` (TUNGETIFF). */
int tap_name(int fd, char name[TAP_NAME_MAX]) __must_check;

/*
 * Tell the kernel which offloads the reader of `fd` accepts in the frames
 * it reads (TUNSETOFFLOAD): TUN_F_CSUM (partial checksums), TUN_F_TSO4,
 * TUN_F_TSO6 and TUN_F_TSO_ECN (unsegmented TCP); the kernel then completes
 * checksums and segments frames for whatever is left out. TSO needs CSUM and
 * ECN needs a TSO flag, or the kernel answers -EINVAL. On an fd that is not
 * a tap: -ENOTTY (or -EINVAL).
 */
int tap_set_offload(int fd, unsigned int tun_flags) __must_check;

/*
 * Give interface `name` (the host's side of the tap) the IPv4 address
 * `addr` with a `prefix_len`-bit netmask (0 to 32; SIOCSIFADDR,
 * SIOCSIFNETMASK), then bring it up as tap_up does. Needs CAP_NET_ADMIN.
 */
int tap_set_ipv4(const char *name, struct in_addr addr, unsigned int prefix_len,
		 char *why, size_t why_len) __must_check;

/* Bring interface `name` up (IFF_UP through SIOCSIFFLAGS). Needs
 * CAP_NET_ADMIN. */
int tap_up(const char *name, char *why, size_t why_len) __must_check;

#endif
