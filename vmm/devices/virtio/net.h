/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2 section 5.1) on a host fd that carries one Ethernet
 * frame per read and per write, each preceded by a 12-byte struct
 * virtio_net_hdr_v1: a tap made by tap.c, or in tests one end of a
 * socketpair(AF_UNIX, SOCK_SEQPACKET). The header passes between the guest
 * and the fd as it is, after the checks below, so checksum and segmentation
 * offloads work end to end without the device touching a payload byte.
 *
 * Queues (5.1.2): receiveq1 (0) and transmitq1 (1); no control queue, so no
 * multiqueue, MAC filtering or VLAN filtering: the tap sees every frame.
 *
 * Offered features (5.1.3), a set that is closed under the dependencies of
 * 5.1.3.1:
 *   MAC, STATUS              the caller's MAC; link always up (5.1.4);
 *   MRG_RXBUF                a received frame may span several rx chains
 *                            (5.1.6.3, 5.1.6.4);
 *   CSUM, HOST_TSO4/6/ECN    the guest may send partial checksums and
 *                            unsegmented TCP (HOST_* need CSUM, HOST_ECN a
 *                            HOST_TSO);
 *   GUEST_CSUM, GUEST_TSO4/6/ECN  the guest may receive the same (GUEST_TSO*
 *                            need GUEST_CSUM, GUEST_ECN a GUEST_TSO);
 *   and VIRTIO_RING_FEATURES. No UFO, USO, MTU, CTRL_*, MQ.
 * At activation the device tells the tap which offloads the guest accepted
 * for its receive side (GUEST_CSUM -> TUN_F_CSUM, GUEST_TSO4 -> TUN_F_TSO4,
 * GUEST_TSO6 -> TUN_F_TSO6, GUEST_ECN -> TUN_F_TSO_ECN, each only when its
 * dependencies were accepted too), so the kernel completes checksums and
 * segments everything else before the device reads it. On an fd that is
 * not a tap that ioctl fails with ENOTTY or EINVAL, which is fine (logged at
 * debug level); any other failure makes activation fail (DEVICE_NEEDS_RESET).
 *
 * Configuration space (5.1.4), read-only: mac[6], status (LINK_UP), and
 * max_virtqueue_pairs = 1. Driver writes are ignored.
 *
 * Transmit (5.1.6.2): each chain must be driver-readable only and hold the
 * 12-byte header plus at most VNET_MAX_FRAME bytes; anything else is
 * malformed. The header is copied once; flag bits other than NEEDS_CSUM are
 * cleared (5.1.6.2.2), and a frame asking for an offload the driver did not
 * negotiate (NEEDS_CSUM without CSUM, TCPv4/TCPv6 segmentation without
 * HOST_TSO4/6, ECN without HOST_ECN, UDP segmentation at all) is refused
 * (5.1.6.2.1). Malformed and refused frames are dropped and counted; their
 * chains complete with length 0, as every transmit chain does (the device
 * writes nothing). When the fd is full (EAGAIN) the chain stays with the
 * device and the fd is watched for EPOLLOUT. One event-loop turn sends at
 * most VNET_BATCH frames; then the device kicks itself.
 *
 * Receive (5.1.6.3, 5.1.6.4): the device reads the fd only while it holds an
 * rx chain to put a frame in. With MRG_RXBUF, the frame is read into a host
 * buffer of VNET_MAX_PACKET bytes and copied into as many chains as it needs,
 * filling every chain but the last and writing num_buffers into the first
 * header. Without it, the frame is read straight into one chain (the driver
 * posts buffers for the largest frame it negotiated), and num_buffers is 1.
 * A frame larger than VNET_MAX_FRAME, or than that single chain, or shorter
 * than the header, or whose header carries an offload the guest did not
 * accept, is dropped and counted; nothing is written past a chain. Chains
 * must be device-writable only and at least 12 bytes (5.1.6.3.1); others
 * complete with length 0. When the guest has no rx chain left, the device
 * stops watching the fd for EPOLLIN until the guest kicks the rx queue: the
 * frames wait in the kernel's queue for the tap (bounded by the kernel), never
 * in cocoon, and nothing spins. A frame that needs more chains than the guest
 * has posted waits in the host buffer for its next kick, unless the device
 * already holds every chain of the ring; then it is dropped and those
 * chains complete with length 0. One turn receives at most VNET_BATCH frames.
 *
 * Rate limiting (ratelimit.h): the caller's rl_config applies to each
 * direction with its own limiter; an operation is a frame, the bytes are
 * the frame's (without the 12-byte header). A throttled transmit keeps its
 * chain and is retried when the limiter's timer fires. Receive reads only
 * when at least one frame and one byte are in the bucket, and a frame read
 * beyond what is left waits in the host buffer until the timer. Deferred,
 * never dropped.
 *
 * If the fd hangs up or fails (the tap was deleted, the socket's peer
 * closed), the device logs it once, stops watching it, and from then on
 * drops every frame the guest sends (completing its chains) and receives
 * nothing. The process must ignore SIGPIPE (main.c does): a socket peer
 * that closed raises it on write.
 *
 * Threads and locking (virtio.h): the transport's callbacks run on vCPU
 * threads with the device lock held and only hand work to the event loop
 * (kick eventfds) or program the tap's offloads; every frame moves on the
 * event-loop thread under the device lock. Chains the device holds between
 * turns (a transmit waiting for the fd or the limiter, receive chains for
 * the next frame) are dropped by a reset, which runs under the same lock.
 *
 * Snapshot: the guest-visible state is struct virtio_dev plus the MAC;
 * the chains the device holds are in flight in the queue state and would
 * have to be completed (or re-offered) before one is taken.
 */
#ifndef COCOON_VIRTIO_NET_H
#define COCOON_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "../../evloop.h"
#include "../../memory.h"
#include "../../ratelimit.h"
#include "../../util.h"
#include "virtio.h"

#define VNET_RX_QUEUE 0u
#define VNET_TX_QUEUE 1u
#define VNET_NR_QUEUES 2u
#define VNET_QUEUE_SIZE 256u
/* struct virtio_net_hdr_v1: the 10-byte legacy header and num_buffers. */
#define VNET_HDR_LEN 12u
/* Largest frame, header excluded: a 64 KiB GSO packet and its Ethernet
 * header (the kernel's tap never builds more). With the header this is the
 * 65562-byte buffer virtio 1.2 5.1.6.3.1 tells drivers to post without
 * MRG_RXBUF. */
#define VNET_MAX_FRAME 65550u
#define VNET_MAX_PACKET (VNET_HDR_LEN + VNET_MAX_FRAME)
/* Frames each direction moves per event-loop turn. */
#define VNET_BATCH 64u

struct vnet;

/* Counters, for tests and logs. Bytes are frame bytes, headers excluded. */
struct vnet_stats {
	uint64_t tx_frames, tx_bytes; /* written to the fd */
	uint64_t tx_dropped;          /* malformed, refused, write failed, fd gone */
	uint64_t rx_frames, rx_bytes; /* delivered to the guest */
	uint64_t rx_dropped;          /* too large, runt, refused header, no room */
};

/*
 * Create the device on `fd` (a tap from tap.c, or anything that carries
 * frames the same way). On success the device owns `fd` (vnet_destroy
 * closes it); on failure it is left open and the caller's. It is made
 * non-blocking. `mac` is the guest's address; `rl` (NULL: no limits)
 * applies to each direction separately. The device's handlers (two kick
 * eventfds, the fd, the limiters' timers) are added to `loop` now; the loop
 * need not run yet. On error returns -errno and writes a one-line reason
 * into why.
 */
int vnet_create(struct vnet **out, const struct guest_mem *mem, struct evloop *loop,
		int fd, const uint8_t mac[6], const struct rl_config *rl, char *why,
		size_t why_len) __must_check;

/* The embedded virtio device, for vm_add_virtio and the transport. */
struct virtio_dev *vnet_dev(struct vnet *n);

/* One kick eventfd per queue (`*nr` = 2: rx, tx), for vm_add_virtio. */
const int *vnet_kick_fds(const struct vnet *n, unsigned int *nr);

/* A copy of the counters (takes the device lock). */
void vnet_get_stats(struct vnet *n, struct vnet_stats *out);

/*
 * Free a device made by vnet_create (the signature vm_add_virtio takes):
 * unwatch its handlers (the loop must not be running them), close its
 * eventfds, timers and the fd. Safe on NULL.
 */
void vnet_destroy(struct virtio_dev *dev);

#endif
