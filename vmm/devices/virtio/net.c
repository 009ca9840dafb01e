/* SPDX-License-Identifier: MIT */
/*
 * virtio-net, virtio 1.2 section 5.1. The contract is in net.h; the
 * comments here cite the spec for each rule.
 *
 * Everything that moves frames runs on the event-loop thread, under the
 * device lock, from five handlers:
 *   rx kick, rx limiter timer, fd readable   -> rx_process
 *   tx kick, tx limiter timer, fd writable   -> tx_process
 *   fd hung up or failed                     -> fd_gone, then tx_process
 * The fd is watched for EPOLLIN only while the device wants frames
 * (rx_want) and for EPOLLOUT only while a write said EAGAIN (tx_blocked);
 * update_watch brings the epoll registration in line after each turn.
 *
 * State held between turns, under the device lock (a reset drops it):
 *   tx.chain   a transmit chain waiting for the limiter or the fd;
 *   rx.chain   the receive chain the next frame goes into first;
 *   rx.len     a frame in the host buffer (bounce) waiting for the limiter
 *              or for more receive chains; rx.used lists the chains
 *              already filled with its first rx.placed bytes.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../log.h"
#include "../../tap.h"

#define RXQ VNET_RX_QUEUE
#define TXQ VNET_TX_QUEUE
#define HDR VNET_HDR_LEN
/* 5.1.4: mac[6], status, max_virtqueue_pairs. */
#define CONFIG_SIZE 10u
/* The host buffer: one byte more than the largest packet, so that a read
 * filling it tells a packet that is too large from one that just fits. */
#define BOUNCE_SIZE (VNET_MAX_PACKET + 1u)
/* Most malformed receive chains skipped in one search for a good one. */
#define MAX_BAD_RX VNET_QUEUE_SIZE

#define F(b) VIRTIO_BIT(VIRTIO_NET_F_##b)

struct vnet_used {
	uint16_t head;
	uint32_t len;
};

struct vnet {
	struct virtio_dev vdev;
	uint8_t config[CONFIG_SIZE];  /* little-endian, as the driver reads it */
	struct evloop *loop;
	int kick_fds[VNET_NR_QUEUES];
	struct ev_handler kick_h[VNET_NR_QUEUES];
	bool kick_watched[VNET_NR_QUEUES];
	struct ev_handler fd_h;       /* fd_h.fd: the tap (ours to close) */
	bool fd_watched;
	uint32_t fd_events;           /* what fd_h is registered for now */
	struct ratelimit rl_tx, rl_rx;
	uint8_t *bounce;              /* BOUNCE_SIZE bytes */
	/* Event-loop thread only. */
	bool rx_want;                 /* watch the fd for EPOLLIN */
	bool tx_blocked;              /* a write said EAGAIN: watch EPOLLOUT */
	bool dead;                    /* the fd hung up or failed for good */
	bool rx_drop_logged, tx_error_logged;
	/* Under dev->lock. */
	struct {
		bool pending;         /* `chain` popped, not yet sent */
		bool charged;         /* ... and paid to the limiter */
		struct virtq_chain chain;
	} tx;
	struct {
		bool have_chain;      /* `chain` popped, no frame in it yet */
		struct virtq_chain chain;
		uint32_t len;         /* header + frame in bounce; 0: none */
		bool charged;         /* len paid to the limiter */
		uint32_t placed;      /* bytes of it already in chains */
		uint16_t nr_used;     /* those chains, rx.chain first */
		struct vnet_used used[VNET_QUEUE_SIZE];
		struct virtq_chain more; /* scratch for the chains after the first */
	} rx;
	struct vnet_stats stats;
};

static struct vnet *to_vnet(struct virtio_dev *dev)
{
	return container_of(dev, struct vnet, vdev);
}

static void kick_self(struct vnet *n, unsigned int q)
{
	uint64_t one = 1;

	/* Cannot block: an eventfd counter saturates long after. */
	if (write(n->kick_fds[q], &one, sizeof(one)) < 0)
		log_debug("virtio-net: kick: %s", strerror(errno));
}

/* ---- offloads and headers ------------------------------------------------- */

/*
 * The offloads negotiated for one direction as TUN_F_* flags: what the
 * guest accepts in frames it receives (`guest`: GUEST_*), or may use in
 * frames it sends (HOST_* and CSUM). Only consistent sets come out: TSO
 * needs the checksum feature and ECN a TSO (5.1.3.1), whatever the driver
 * accepted; the same rule the tap applies to TUNSETOFFLOAD.
 */
static unsigned int offloads(const struct virtio_dev *dev, bool guest)
{
	const unsigned int csum = guest ? VIRTIO_NET_F_GUEST_CSUM : VIRTIO_NET_F_CSUM;
	const unsigned int tso4 = guest ? VIRTIO_NET_F_GUEST_TSO4 : VIRTIO_NET_F_HOST_TSO4;
	const unsigned int tso6 = guest ? VIRTIO_NET_F_GUEST_TSO6 : VIRTIO_NET_F_HOST_TSO6;
	const unsigned int ecn = guest ? VIRTIO_NET_F_GUEST_ECN : VIRTIO_NET_F_HOST_ECN;
	unsigned int f;

	if (!virtio_dev_has_feature(dev, csum))
		return 0;
	f = TUN_F_CSUM;
	if (virtio_dev_has_feature(dev, tso4))
		f |= TUN_F_TSO4;
	if (virtio_dev_has_feature(dev, tso6))
		f |= TUN_F_TSO6;
	if ((f & (TUN_F_TSO4 | TUN_F_TSO6)) && virtio_dev_has_feature(dev, ecn))
		f |= TUN_F_TSO_ECN;
	return f;
}

/*
 * Whether a header (our copy) asks only for offloads in `offl`; then keep
 * only the flag bits in `keep`. The rules are the same both ways: a partial
 * checksum needs CSUM, TCPv4/TCPv6 segmentation TSO4/TSO6, the ECN bit ECN
 * (5.1.6.2.1 for the driver, 5.1.6.4.1 for the device); UDP segmentation
 * was never offered, and ECN means nothing without segmentation.
 */
static bool hdr_ok(uint8_t *hdr, unsigned int offl, uint8_t keep)
{
	uint8_t flags = hdr[0], gso = hdr[1];

	if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(offl & TUN_F_CSUM))
		return false;
	switch (gso & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (gso & VIRTIO_NET_HDR_GSO_ECN)
			return false;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(offl & TUN_F_TSO4))
			return false;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(offl & TUN_F_TSO6))
			return false;
		break;
	default:
		return false;
	}
	if ((gso & VIRTIO_NET_HDR_GSO_ECN) && !(offl & TUN_F_TSO_ECN))
		return false;
	hdr[0] = flags & keep;
	return true;
}

/* ---- the fd ----------------------------------------------------------------- */

static void update_watch(struct vnet *n)
{
	uint32_t ev = 0;
	int ret;

	if (!n->fd_watched)
		return;
	if (n->rx_want)
		ev |= EPOLLIN;
	if (n->tx_blocked)
		ev |= EPOLLOUT;
	if (ev == n->fd_events)
		return;
	ret = evloop_mod(n->loop, &n->fd_h, ev);
	if (ret) {
		log_warn("virtio-net: epoll: %s", strerror(-ret));
		return;
	}
	n->fd_events = ev;
}

/* The fd hung up or failed: stop watching it for good. Hang-up and error
 * are reported by epoll whatever it watches, so keeping it would spin. */
static void fd_gone(struct vnet *n, const char *what)
{
	if (n->dead)
		return;
	log_warn("virtio-net: tap: %s; the guest's network is down", what);
	n->dead = true;
	n->rx_want = false;
	n->tx_blocked = false;
	if (n->fd_watched)
		evloop_del(n->loop, &n->fd_h);
	n->fd_watched = false;
}

/* A write failed with errno `err` (not EAGAIN, not EINTR). The errors that
 * mean the tap or the socket's peer is gone stop the device; others (the
 * tap's checks refused this frame) cost one frame. */
static void write_error(struct vnet *n, int err)
{
	switch (err) {
	case EBADFD:
	case EBADF:
	case EPIPE:
	case ENOTCONN:
	case ECONNRESET:
	case ENODEV:
	case ENXIO:
		fd_gone(n, strerror(err));
		break;
	default:
		if (!n->tx_error_logged)
			log_debug("virtio-net: write: %s (logged once)", strerror(err));
		n->tx_error_logged = true;
	}
}

/* ---- transmit (5.1.6.2) ----------------------------------------------------- */

enum tx_result { TX_SENT, TX_DROPPED, TX_THROTTLED, TX_BLOCKED };

/* A transmit chain: only driver-readable, the header and at most the
 * largest frame (5.1.6.2: "header and packet are added as one output
 * descriptor"; a chain of several readable descriptors is fine). */
static bool tx_chain_ok(const struct virtq_chain *c)
{
	if (c->nr_readable != c->nr_segs) {
		log_guest_once("virtio-net: transmit chain with a device-writable part");
		return false;
	}
	if (c->readable_len < HDR || c->readable_len > VNET_MAX_PACKET) {
		log_guest_once("virtio-net: transmit chain of %u bytes", c->readable_len);
		return false;
	}
	return true;
}

/* Send n->tx.chain (lock held). */
static enum tx_result tx_send(struct vnet *n)
{
	const struct virtq_chain *c = &n->tx.chain;
	uint32_t frame = c->readable_len - HDR;
	struct iovec iov[1 + VIRTQ_MAX_SEGS];
	uint8_t hdr[HDR];
	unsigned int nr;
	ssize_t r;

	if (n->dead)
		return TX_DROPPED;
	/* One copy of the header; the guest may rewrite its own meanwhile.
	 * 5.1.6.2.2: flag bits we do not know are ignored, so cleared; on
	 * transmit that is all but NEEDS_CSUM (5.1.6.2.1). num_buffers is
	 * unused on transmit (5.1.6.2). */
	virtq_chain_read(c, 0, hdr, HDR);
	if (!hdr_ok(hdr, offloads(&n->vdev, false), VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		log_guest_once("virtio-net: transmit header flags %#x gso_type %#x not "
			       "negotiated", hdr[0], hdr[1]);
		return TX_DROPPED;
	}
	put_le16(hdr + 10, 0);
	if (!n->tx.charged) {
		if (!rl_consume(&n->rl_tx, 1, frame, now_ns()))
			return TX_THROTTLED;
		n->tx.charged = true;
	}
	iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = HDR };
	nr = 1 + virtq_chain_iov(c, false, HDR, frame, iov + 1, VIRTQ_MAX_SEGS);
	do
		r = writev(n->fd_h.fd, iov, (int)nr);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TX_BLOCKED;
		/* The tap refused this frame (a header its checks rejected, a
		 * runt, ...) or is gone. */
		write_error(n, errno);
		return TX_DROPPED;
	}
	n->stats.tx_frames++;
	n->stats.tx_bytes += frame;
	return TX_SENT;
}

static void tx_process(struct vnet *n)
{
	struct virtio_dev *dev = &n->vdev;
	unsigned int budget = VNET_BATCH;
	bool more = false;
	int ret;

	virtio_dev_lock(dev);
	n->tx_blocked = false;
	for (;;) {
		if (!virtio_dev_is_active(dev)) {
			n->tx.pending = false; /* DEVICE_NEEDS_RESET: it is lost */
			break;
		}
		if (!n->tx.pending) {
			if (!budget) {
				more = true;
				break;
			}
			ret = virtio_dev_pop(dev, TXQ, &n->tx.chain);
			if (ret == -EAGAIN || ret == -EIO)
				break;
			budget--;
			if (ret == -EBADMSG || !tx_chain_ok(&n->tx.chain)) {
				n->stats.tx_dropped++;
				virtio_dev_push(dev, TXQ, n->tx.chain.head, 0);
				continue;
			}
			n->tx.pending = true;
			n->tx.charged = false;
		}
		switch (tx_send(n)) {
		case TX_THROTTLED: /* the limiter's timer calls us again */
			goto out;
		case TX_BLOCKED:   /* EPOLLOUT calls us again */
			n->tx_blocked = true;
			goto out;
		case TX_DROPPED:
			n->stats.tx_dropped++;
			break;
		case TX_SENT:
			break;
		}
		/* The device writes nothing into a transmit chain. */
		virtio_dev_push(dev, TXQ, n->tx.chain.head, 0);
		n->tx.pending = false;
	}
out:
	virtio_dev_notify_queue(dev, TXQ);
	virtio_dev_unlock(dev);
	/* Out of budget: come back after the other handlers had a turn. */
	if (more)
		kick_self(n, TXQ);
	update_watch(n);
}

/* ---- receive (5.1.6.3, 5.1.6.4) --------------------------------------------- */

enum rx_result {
	RX_EMPTY,     /* the fd has nothing: wait for EPOLLIN */
	RX_GONE,      /* the fd is gone */
	RX_DONE,      /* a frame was delivered or dropped */
	RX_HELD,      /* a frame is in bounce (rx.len) */
};

/* Forget every chain and frame held for receive (lock held). */
static void rx_forget(struct vnet *n)
{
	n->rx.have_chain = false;
	n->rx.len = 0;
	n->rx.charged = false;
	n->rx.placed = 0;
	n->rx.nr_used = 0;
}

/*
 * Pop a usable receive chain into `c`: device-writable only, room for the
 * header at least (5.1.6.3.1: "each buffer MUST be at least" the header
 * with MRG_RXBUF; without it the device needs the header too). Others
 * complete with length 0. False when there is none (or too many bad ones
 * in a row: then the device kicks itself to go on later).
 */
static bool rx_pop(struct vnet *n, struct virtq_chain *c)
{
	struct virtio_dev *dev = &n->vdev;

	for (unsigned int bad = 0; bad < MAX_BAD_RX; bad++) {
		int ret = virtio_dev_pop(dev, RXQ, c);

		if (ret == -EAGAIN || ret == -EIO)
			return false;
		if (ret == 0 && c->nr_readable == 0 && c->writable_len >= HDR)
			return true;
		if (ret == 0)
			log_guest_once("virtio-net: receive chain with %u readable and %u "
				       "writable bytes",
				       c->readable_len, c->writable_len);
		virtio_dev_push(dev, RXQ, c->head, 0);
	}
	kick_self(n, RXQ);
	return false;
}

/* Count a dropped frame; the first one is logged (the counters say the
 * rest: the network must not be able to flood the log). */
static void rx_drop(struct vnet *n, const char *why, uint32_t len)
{
	if (!n->rx_drop_logged)
		log_debug("virtio-net: dropped a received frame of %u bytes: %s "
			  "(logged once)", len, why);
	n->rx_drop_logged = true;
	n->stats.rx_dropped++;
}

/* Header checks for a received frame (our copy): 5.1.6.4.1, flags zero
 * unless GUEST_CSUM; RSC_INFO only with RSC_EXT, never offered. */
static bool rx_hdr_ok(struct vnet *n, uint8_t *hdr)
{
	unsigned int offl = offloads(&n->vdev, true);
	uint8_t keep = offl & TUN_F_CSUM ?
			       VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID :
			       0;

	return hdr_ok(hdr, offl, keep);
}

/*
 * Read one frame (lock held; n->rx.chain is popped and empty). The
 * result tells whether it is read (RX_HELD), or was delivered or dropped
 * already (RX_DONE, direct path), or why there is none.
 */
static enum rx_result rx_read(struct vnet *n)
{
	struct virtq_chain *c = &n->rx.chain;
	struct iovec iov[VIRTQ_MAX_SEGS + 2];
	uint8_t hdr[HDR];
	bool direct = !virtio_dev_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF) &&
		      !rl_enabled(&n->rl_rx);
	unsigned int nr = 0;
	ssize_t r;

	/* Without MRG_RXBUF and without a limiter to hold the frame for,
	 * read straight into the chain: header into our copy, the frame
	 * after it; whatever does not fit lands in bounce and tells us. */
	if (direct) {
		iov[nr++] = (struct iovec){ .iov_base = hdr, .iov_len = HDR };
		nr += virtq_chain_iov(c, true, HDR, c->writable_len - HDR, iov + nr,
				      VIRTQ_MAX_SEGS);
	}
	iov[nr++] = (struct iovec){ .iov_base = n->bounce, .iov_len = BOUNCE_SIZE };
	do
		r = readv(n->fd_h.fd, iov, (int)nr);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return RX_EMPTY;
	/* A tap only fails a read when it is gone (EBADFD); a socket at end
	 * of file reads 0. Either way it would stay readable: stop. */
	if (r <= 0) {
		fd_gone(n, r == 0 ? "end of file" : strerror(errno));
		return RX_GONE;
	}
	if ((size_t)r < HDR || (size_t)r > VNET_MAX_PACKET) {
		rx_drop(n, (size_t)r < HDR ? "shorter than the header" : "too large",
			(uint32_t)r);
		return RX_DONE;
	}
	if (!direct) {
		n->rx.len = (uint32_t)r;
		n->rx.charged = false;
		n->rx.placed = 0;
		n->rx.nr_used = 0;
		return RX_HELD;
	}
	/* The chain stays ours for the next frame when this one is dropped:
	 * what was read into it is not reported, so not seen. */
	if ((size_t)r > c->writable_len) {
		rx_drop(n, "larger than the receive buffer", (uint32_t)r);
		return RX_DONE;
	}
	if (!rx_hdr_ok(n, hdr)) {
		rx_drop(n, "offload not negotiated", (uint32_t)r);
		return RX_DONE;
	}
	put_le16(hdr + 10, 1); /* 5.1.6.4.1: num_buffers 1 without MRG_RXBUF */
	virtq_chain_write(c, 0, hdr, HDR);
	virtio_dev_push(&n->vdev, RXQ, c->head, (uint32_t)r);
	n->rx.have_chain = false;
	n->stats.rx_frames++;
	n->stats.rx_bytes += (uint64_t)r - HDR;
	return RX_DONE;
}

/* The frame in bounce cannot be delivered: drop it, and complete the chains
 * already filled with part of it with length 0 (the driver drops those). */
static void rx_abandon(struct vnet *n, const char *why)
{
	rx_drop(n, why, n->rx.len);
	/* rx.chain is used[0] once anything was placed. */
	for (unsigned int i = 0; i < n->rx.nr_used; i++)
		virtio_dev_push(&n->vdev, RXQ, n->rx.used[i].head, 0);
	if (n->rx.nr_used)
		n->rx.have_chain = false;
	n->rx.len = 0;
	n->rx.nr_used = 0;
	n->rx.placed = 0;
}

/*
 * Copy the frame in bounce into receive chains (lock held, rx.chain
 * popped). Returns false when it needs more chains than the guest has
 * posted: it waits, with the chains filled so far, for the next kick.
 */
static bool rx_place(struct vnet *n)
{
	struct virtio_dev *dev = &n->vdev;
	struct virtq_chain *first = &n->rx.chain;
	bool mrg = virtio_dev_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	uint8_t *hdr = n->bounce;
	uint32_t len = n->rx.len;

	if (n->rx.nr_used == 0) {
		if (!rx_hdr_ok(n, hdr)) {
			rx_abandon(n, "offload not negotiated");
			return true;
		}
		/* 5.1.6.3.2: one chain only without MRG_RXBUF. */
		if (!mrg && len > first->writable_len) {
			rx_abandon(n, "larger than the receive buffer");
			return true;
		}
		n->rx.placed = len < first->writable_len ? len : first->writable_len;
		/* The header goes in last, with num_buffers. */
		virtq_chain_write(first, HDR, hdr + HDR, n->rx.placed - HDR);
		n->rx.used[0] = (struct vnet_used){ first->head, n->rx.placed };
		n->rx.nr_used = 1;
	}
	/* 5.1.6.4.1: every chain but the last is filled completely. */
	while (n->rx.placed < len) {
		struct virtq_chain *c = &n->rx.more;
		uint32_t k;

		/* Holding every head of the ring and still short: the guest
		 * can post nothing more, so waiting would stall forever. */
		if (n->rx.nr_used >= VNET_QUEUE_SIZE ||
		    n->rx.nr_used >= virtio_dev_queue(dev, RXQ)->st.size) {
			rx_abandon(n, "larger than the whole receive ring");
			return true;
		}
		if (!rx_pop(n, c))
			return false;
		k = len - n->rx.placed;
		if (k > c->writable_len)
			k = c->writable_len;
		virtq_chain_write(c, 0, n->bounce + n->rx.placed, k);
		n->rx.used[n->rx.nr_used++] = (struct vnet_used){ c->head, k };
		n->rx.placed += k;
	}
	/* 5.1.6.4.1: num_buffers counts the chains, the first included. */
	put_le16(hdr + 10, n->rx.nr_used);
	virtq_chain_write(first, 0, hdr, HDR);
	for (unsigned int i = 0; i < n->rx.nr_used; i++)
		virtio_dev_push(dev, RXQ, n->rx.used[i].head, n->rx.used[i].len);
	n->stats.rx_frames++;
	n->stats.rx_bytes += len - HDR;
	n->rx.have_chain = false;
	n->rx.len = 0;
	n->rx.nr_used = 0;
	n->rx.placed = 0;
	return true;
}

/* Whether the rx limiter allows reading a frame now (at least one frame
 * and one byte in the bucket); if not, its timer is armed. */
static bool rx_may_read(struct vnet *n)
{
	uint64_t now;

	if (!rl_enabled(&n->rl_rx))
		return true;
	now = now_ns();
	if (rl_wait_ns(&n->rl_rx, 1, 1, now) == 0)
		return true;
	(void)rl_consume(&n->rl_rx, 1, 1, now); /* takes nothing, arms the timer */
	return false;
}

static void rx_process(struct vnet *n)
{
	struct virtio_dev *dev = &n->vdev;
	bool want = false;
	unsigned int frames;

	virtio_dev_lock(dev);
	for (frames = 0; frames < VNET_BATCH; frames++) {
		if (!virtio_dev_is_active(dev)) {
			rx_forget(n); /* DEVICE_NEEDS_RESET: they are lost */
			break;
		}
		if (n->dead)
			break;
		if (!n->rx.len) {
			enum rx_result r;

			if (!n->rx.have_chain) {
				if (!rx_pop(n, &n->rx.chain))
					break;       /* the rx kick resumes */
				n->rx.have_chain = true;
			}
			if (!rx_may_read(n))
				break;               /* the timer resumes */
			r = rx_read(n);
			if (r == RX_EMPTY) {
				want = true;         /* EPOLLIN resumes */
				break;
			}
			if (r == RX_GONE)
				break;
			if (r == RX_DONE)
				continue;
		}
		if (!n->rx.charged) {
			if (!rl_consume(&n->rl_rx, 1, n->rx.len - HDR, now_ns()))
				break;               /* the timer resumes */
			n->rx.charged = true;
		}
		if (!rx_place(n))
			break;                       /* the rx kick resumes */
	}
	/* Out of budget: the fd may hold more; EPOLLIN brings us back after
	 * the other handlers. */
	if (frames == VNET_BATCH)
		want = true;
	n->rx_want = want && !n->dead;
	virtio_dev_notify_queue(dev, RXQ);
	virtio_dev_unlock(dev);
	update_watch(n);
}

/* ---- event-loop handlers ------------------------------------------------------ */

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("virtio-net: eventfd read: %s", strerror(errno));
}

static void on_rx_kick(struct ev_handler *h, uint32_t events)
{
	struct vnet *n = container_of(h, struct vnet, kick_h[RXQ]);

	(void)events;
	drain(h->fd);
	rx_process(n);
}

static void on_tx_kick(struct ev_handler *h, uint32_t events)
{
	struct vnet *n = container_of(h, struct vnet, kick_h[TXQ]);

	(void)events;
	drain(h->fd);
	tx_process(n);
}

static void on_rx_timer(struct ev_handler *h, uint32_t events)
{
	struct vnet *n = container_of(h, struct vnet, rl_rx.timer);

	(void)events;
	rl_timer_ack(&n->rl_rx);
	rx_process(n);
}

static void on_tx_timer(struct ev_handler *h, uint32_t events)
{
	struct vnet *n = container_of(h, struct vnet, rl_tx.timer);

	(void)events;
	rl_timer_ack(&n->rl_tx);
	tx_process(n);
}

static void on_fd(struct ev_handler *h, uint32_t events)
{
	struct vnet *n = container_of(h, struct vnet, fd_h);

	if (events & (EPOLLHUP | EPOLLERR)) {
		fd_gone(n, events & EPOLLERR ? "error" : "hung up");
		tx_process(n); /* complete what waits for it */
		return;
	}
	if (events & EPOLLOUT)
		tx_process(n);
	if (events & EPOLLIN)
		rx_process(n);
}

/* ---- transport callbacks (vCPU threads, dev->lock held) ----------------------- */

static void vnet_config_read(struct virtio_dev *dev, uint32_t offset, void *data,
			     unsigned int size)
{
	memcpy(data, to_vnet(dev)->config + offset, size);
}

static void vnet_config_write(struct virtio_dev *dev, uint32_t offset, const void *data,
			      unsigned int size)
{
	(void)dev;
	(void)data;
	/* 5.1.4: every field is read-only for the driver (5.1.4.2). */
	log_guest_once("virtio-net: config write of %u bytes at %u ignored", size, offset);
}

/* A kick that no ioeventfd caught: hand it to the event loop. */
static void vnet_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	if (q < VNET_NR_QUEUES)
		kick_self(to_vnet(dev), q);
}

static int vnet_activate(struct virtio_dev *dev)
{
	struct vnet *n = to_vnet(dev);
	unsigned int offl = offloads(dev, true);
	int ret;

	/* The kernel hands us only frames the guest accepted: it completes
	 * checksums and segments the rest (5.1.6.4.1 then holds). */
	ret = tap_set_offload(n->fd_h.fd, offl);
	if (ret == -ENOTTY || ret == -EINVAL) {
		log_debug("virtio-net: TUNSETOFFLOAD %#x: %s (not a tap?)", offl,
			  strerror(-ret));
	} else if (ret) {
		log_warn("virtio-net: TUNSETOFFLOAD %#x: %s", offl, strerror(-ret));
		return ret;
	}
	/* Buffers may have been posted before DRIVER_OK without a kick. */
	kick_self(n, RXQ);
	kick_self(n, TXQ);
	return 0;
}

static void vnet_reset(struct virtio_dev *dev)
{
	struct vnet *n = to_vnet(dev);

	/* The chains belong to the old driver; the queues are reset next. */
	n->tx.pending = false;
	n->tx.charged = false;
	rx_forget(n);
}

static const struct virtio_dev_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.features = F(MAC) | F(STATUS) | F(MRG_RXBUF) | F(CSUM) | F(GUEST_CSUM) |
		    F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_ECN) | F(HOST_TSO4) |
		    F(HOST_TSO6) | F(HOST_ECN) | VIRTIO_RING_FEATURES,
	.nr_queues = VNET_NR_QUEUES,
	.queue_max = { VNET_QUEUE_SIZE, VNET_QUEUE_SIZE },
	.config_size = CONFIG_SIZE,
	.config_read = vnet_config_read,
	.config_write = vnet_config_write,
	.queue_notify = vnet_queue_notify,
	.activate = vnet_activate,
	.reset = vnet_reset,
};

/* ---- life cycle ----------------------------------------------------------------- */

/* Free whatever of `n` was set up (vnet_create's failures and destroy). */
static void vnet_free(struct vnet *n)
{
	/* The loop may already be gone (vm_destroy stops it first); then
	 * epoll_ctl fails harmlessly on its closed fd. */
	bool loop_alive = n->loop && n->loop->epfd >= 0;

	for (unsigned int q = 0; q < VNET_NR_QUEUES; q++) {
		if (n->kick_watched[q] && loop_alive)
			evloop_del(n->loop, &n->kick_h[q]);
		if (n->kick_fds[q] >= 0)
			close(n->kick_fds[q]);
	}
	if (n->fd_watched && loop_alive)
		evloop_del(n->loop, &n->fd_h);
	if (n->fd_h.fd >= 0)
		close(n->fd_h.fd);
	rl_destroy(&n->rl_tx);
	rl_destroy(&n->rl_rx);
	virtio_dev_destroy(&n->vdev);
	free(n->bounce);
	free(n);
}

int vnet_create(struct vnet **out, const struct guest_mem *mem, struct evloop *loop,
		int fd, const uint8_t mac[6], const struct rl_config *rl, char *why,
		size_t why_len)
{
	struct vnet *n = calloc(1, sizeof(*n));
	int ret, flags;

	if (!n)
		return why_fail(why, why_len, -ENOMEM, "virtio-net: out of memory");
	n->fd_h.fd = fd;
	n->fd_h.cb = on_fd;
	n->loop = loop;
	n->kick_fds[RXQ] = n->kick_fds[TXQ] = -1;
	n->rl_tx.timer.fd = n->rl_rx.timer.fd = -1;
	if (!loop || fd < 0 || !mac) {
		ret = why_fail(why, why_len, -EINVAL, "virtio-net: no event loop, fd or MAC");
		goto err;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = why_fail(why, why_len, -errno, "virtio-net: fd: %s", strerror(errno));
		goto err;
	}
	ret = virtio_dev_init(&n->vdev, &vnet_ops, mem, NULL, NULL);
	if (ret) {
		why_fail(why, why_len, ret, "virtio-net: %s", strerror(-ret));
		goto err;
	}
	memcpy(n->config, mac, 6);
	put_le16(n->config + 6, VIRTIO_NET_S_LINK_UP);
	put_le16(n->config + 8, 1); /* max_virtqueue_pairs */
	n->bounce = malloc(BOUNCE_SIZE);
	if (!n->bounce) {
		ret = why_fail(why, why_len, -ENOMEM, "virtio-net: out of memory");
		goto err;
	}
	for (unsigned int q = 0; q < VNET_NR_QUEUES; q++) {
		n->kick_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (n->kick_fds[q] < 0) {
			ret = why_fail(why, why_len, -errno, "virtio-net: eventfd: %s",
				       strerror(errno));
			goto err;
		}
		n->kick_h[q].fd = n->kick_fds[q];
		n->kick_h[q].cb = q == RXQ ? on_rx_kick : on_tx_kick;
		ret = evloop_add(loop, &n->kick_h[q], EPOLLIN);
		if (ret) {
			why_fail(why, why_len, ret, "virtio-net: epoll: %s", strerror(-ret));
			goto err;
		}
		n->kick_watched[q] = true;
	}
	/* Nothing to read until the driver posts receive buffers; epoll still
	 * reports a hang-up. */
	ret = evloop_add(loop, &n->fd_h, 0);
	if (ret) {
		why_fail(why, why_len, ret, "virtio-net: epoll on the tap: %s",
			 strerror(-ret));
		goto err;
	}
	n->fd_watched = true;
	ret = rl_init(&n->rl_tx, rl, loop, on_tx_timer);
	if (!ret)
		ret = rl_init(&n->rl_rx, rl, loop, on_rx_timer);
	if (ret) {
		why_fail(why, why_len, ret, "virtio-net: rate limiter: %s", strerror(-ret));
		goto err;
	}
	*out = n;
	return 0;

err:
	n->fd_h.fd = -1; /* still the caller's */
	vnet_free(n);
	return ret;
}

struct virtio_dev *vnet_dev(struct vnet *n)
{
	return &n->vdev;
}

const int *vnet_kick_fds(const struct vnet *n, unsigned int *nr)
{
	*nr = VNET_NR_QUEUES;
	return n->kick_fds;
}

void vnet_get_stats(struct vnet *n, struct vnet_stats *out)
{
	virtio_dev_lock(&n->vdev);
	*out = n->stats;
	virtio_dev_unlock(&n->vdev);
}

void vnet_destroy(struct virtio_dev *dev)
{
	if (dev)
		vnet_free(to_vnet(dev));
}
