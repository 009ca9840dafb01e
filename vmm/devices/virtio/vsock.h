/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock, the socket device (virtio 1.2 section 5.10), with a hybrid
 * host side: there is no host vhost-vsock; the guest's vsock connections end
 * in ordinary Unix stream sockets of the host, under one path PATH.
 *
 * Queues rx (0), tx (1) and event (2); the configuration space is le64
 * guest_cid (5.10.4). Only stream sockets (VIRTIO_VSOCK_TYPE_STREAM) exist:
 * no device feature bit is offered (5.10.3: stream is then implied), only
 * the transport's. A packet of any other type is answered with RST (5.10.6.4).
 * Nothing is ever sent on the event queue.
 *
 * Host to guest: cocoon listens on the Unix socket PATH. A host client
 * connects and writes one line, "CONNECT <port>\n" (decimal, at most
 * VSOCK_LINE_MAX bytes; anything else closes the client). The device picks
 * a host-side port (a counter from VSOCK_HOST_PORT_FIRST, skipping ports in
 * use) and sends OP_REQUEST from (2, hostport) to (guest_cid, port). When
 * the guest answers OP_RESPONSE the client gets "OK <hostport>\n" and from
 * then on its byte stream is the connection; when the guest answers OP_RST
 * (nobody listens) the client is closed. Bytes the client writes after its
 * line are never lost: the device stops reading at the newline and leaves
 * them in the socket until the connection is up.
 *
 * Guest to host: an OP_REQUEST to dst_cid 2 (VMADDR_CID_HOST), port P
 * connects (non-blocking) to the Unix socket "PATH_P" (e.g. /run/x.sock_5000)
 * and answers OP_RESPONSE, or OP_RST when that fails. A request to any other
 * CID is answered with RST.
 *
 * Flow control (5.10.6.3): every packet the device sends carries
 * buf_alloc = VSOCK_BUF_ALLOC and its fwd_cnt (bytes of guest data written
 * to the host socket). It never sends a guest more payload than
 * peer_buf_alloc - (tx_cnt - peer_fwd_cnt), as the guest's last header
 * said; a CREDIT_REQUEST is answered with CREDIT_UPDATE, and a CREDIT_UPDATE
 * is sent unasked once VSOCK_CREDIT_UPDATE_AT bytes were forwarded since the
 * guest last heard of fwd_cnt.
 *
 * Bounded host memory, whatever the guest does:
 *   - guest -> host data goes straight to the host socket; what it will not
 *     take yet is kept per connection, at most VSOCK_BUF_ALLOC bytes (the
 *     credit the guest was given). A guest that sends beyond its credit has
 *     the connection reset (RST) and the data dropped;
 *   - host -> guest data is read from the host socket straight into the
 *     guest's rx buffers, only while the guest has credit and rx buffers;
 *     otherwise the device stops watching the socket, the socket buffer
 *     fills and the host writer blocks;
 *   - control packets (RESPONSE, RST, SHUTDOWN, CREDIT_UPDATE, REQUEST) wait
 *     for rx buffers as flags on their connection, and replies to packets
 *     of no connection in a ring of VSOCK_MAX_PENDING_RST; while that ring
 *     is full the tx queue is not processed (5.10.6.1: "further processing
 *     is not possible until the other side processes the virtqueue that it
 *     has neglected"). Nothing is dropped;
 *   - at most VSOCK_MAX_CONNS connections (host clients included); more are
 *     refused with RST or by closing the client. Worst case:
 *     VSOCK_MAX_CONNS * VSOCK_BUF_ALLOC bytes of buffered guest data, which
 *     only host services that accept and never read can cause.
 * Every guest-chosen size is capped: a tx chain whose readable part is
 * shorter than the 44-byte header, or whose hdr.len exceeds the rest of the
 * chain or VSOCK_MAX_PAYLOAD, is dropped (completed with length 0, logged
 * once); an rx chain with a readable part or fewer than 44 writable bytes
 * is completed with length 0.
 *
 * Closing (5.10.6 "Stream Sockets"): host EOF -> OP_SHUTDOWN(SEND); guest
 * SHUTDOWN(SEND) -> shutdown(SHUT_WR) on the host socket once what was
 * buffered is written; guest SHUTDOWN(RCV) -> the host socket is no longer
 * read. Once both directions are done the device sends RST and frees the
 * connection. Guest RST closes the host socket at once; a host socket error
 * (including writing to one whose peer is gone) sends RST. A packet for an
 * unknown connection (except REQUEST and RST) is answered with RST.
 *
 * Fairness: one turn of the event loop moves at most VSOCK_CONN_TURN bytes
 * for one connection, and VSOCK_TX_BATCH tx chains (at most 1 MiB of
 * payload); the device then kicks itself (or relies on level-triggered
 * epoll) and lets the others run first.
 *
 * Reset (virtio 2.4): every connection the guest has heard of is closed
 * (host sockets closed, clients see EOF). Host clients whose REQUEST has not
 * reached a guest yet (still reading their line, or waiting for the driver)
 * are kept: a driver resets the device when it starts, and a client that
 * connected while the guest was booting should not lose its place.
 *
 * Threads: everything but the transport's callbacks runs on the event-loop
 * thread and holds the device lock (virtio_dev_lock) for the whole handler.
 * The reset callback (a vCPU thread) only kicks the loop; the loop thread
 * closes the connections before it handles anything else, so every epoll
 * change happens on that thread. A connection's slot is never freed while
 * the device lives, so an epoll event still queued for a closed
 * connection is harmless.
 *
 * Snapshot: the guest-visible state is guest_cid and the transport's; host
 * sockets cannot be saved, so a restore would start with no connections
 * (and should send VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, 5.10.6.7).
 */
#ifndef COCOON_VIRTIO_VSOCK_H
#define COCOON_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "../../evloop.h"
#include "../../memory.h"
#include "../../util.h"
#include "virtio.h"

#define VSOCK_NR_QUEUES 3u
#define VSOCK_QUEUE_SIZE 256u
#define VSOCK_HDR_SIZE 44u                 /* struct virtio_vsock_hdr */
#define VSOCK_MAX_PAYLOAD (64u * 1024)     /* per packet, either way */
#define VSOCK_BUF_ALLOC (256u * 1024)      /* our buf_alloc, per connection */
#define VSOCK_CREDIT_UPDATE_AT (VSOCK_BUF_ALLOC / 2)
#define VSOCK_MAX_CONNS 1024u
#define VSOCK_MAX_PENDING_RST 64u          /* RSTs for packets of no connection */
#define VSOCK_LINE_MAX 64u                 /* "CONNECT <port>\n", newline included */
#define VSOCK_HOST_PORT_FIRST (1u << 30)   /* ports of host-initiated connections */
#define VSOCK_CONN_TURN (256u * 1024)      /* host -> guest, per connection and turn */
#define VSOCK_TX_BATCH 128u                /* tx chains per turn */

struct vsock;

/*
 * Create the device for guest memory `mem` with context id `guest_cid`
 * (3 to 0xfffffffe: 5.10.4 reserves the others) and start listening on the
 * Unix socket `uds_path`. If uds_path exists and is a socket nobody listens
 * on (left over by a crashed run), it is replaced; if someone listens on it
 * or it is anything else, creation fails. uds_path must leave room for
 * "_4294967295" within a socket address. Handlers are added to `loop` now
 * (it need not run yet). On error returns -errno, *out untouched, and
 * writes a short reason into why.
 */
int vsock_create(struct vsock **out, const struct guest_mem *mem, struct evloop *loop,
		 uint64_t guest_cid, const char *uds_path, char *why,
		 size_t why_len) __must_check;

/* The embedded virtio device, for vm_add_virtio and the transport. */
struct virtio_dev *vsock_dev(struct vsock *vs);

/* One kick eventfd per queue (`*nr` of them, all the same fd), for
 * vm_add_virtio. */
const int *vsock_kick_fds(const struct vsock *vs, unsigned int *nr);

/* What the device holds right now, for tests and diagnostics. Takes the
 * device lock. */
struct vsock_stats {
	unsigned int conns;        /* slots in use, host clients included */
	unsigned int pending_rst;  /* RSTs waiting for rx buffers */
	uint64_t buffered;         /* guest -> host bytes held, all connections */
	uint64_t buffer_capacity;  /* bytes allocated for them */
};
void vsock_get_stats(struct vsock *vs, struct vsock_stats *st);

/*
 * Free the device (the `destroy` of vm_add_virtio): close every connection
 * and host client, close and unlink the listening socket. No handler may be
 * running (the loop is stopped or destroyed). Safe on NULL.
 */
void vsock_destroy(struct virtio_dev *dev);

#endif
