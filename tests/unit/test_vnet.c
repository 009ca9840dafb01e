/* SPDX-License-Identifier: MIT */
/*
 * virtio-net through the fake driver, with a socketpair(AF_UNIX,
 * SOCK_SEQPACKET) standing in for the tap (one frame per message, each
 * with its 12-byte header, as a tap carries them): transmit and receive
 * byte for byte, merged receive buffers, back-pressure both ways (no
 * receive buffers, a full socket), malformed and oversized cases, headers
 * with offloads that were not negotiated, rate limiting, reset, a peer
 * that hangs up, and the configuration space.
 *
 * The event loop is not started: the test runs its handlers on this thread
 * (pump), so each step is deterministic, and a device that keeps the loop
 * busy without progress fails the test.
 *
 * The tap tests need CAP_NET_ADMIN: each runs in a forked child inside a
 * new network namespace and is skipped when that is not permitted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "evloop.h"
#include "log.h"
#include "memory.h"
#include "netns_child.h"
#include "ratelimit.h"
#include "tap.h"
#include "virtio_fake_driver.h"

#define RAM_SIZE (4u * 1024 * 1024)
#define RINGS 0x10000ull  /* rx rings here, tx rings 0x4000 further */
#define RXBUF 0x100000ull /* receive buffers */
#define TXBUF 0x200000ull /* transmit buffers */
#define QSIZE 64u
#define HDR VNET_HDR_LEN
#define RXQ 0u
#define TXQ 1u

#define F(b) VIRTIO_BIT(b)
#define FEAT_BASE (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))
#define FEAT_MRG (FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF))
#define FEAT_ALL (FEAT_MRG | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |       \
		  F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |             \
		  F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_HOST_TSO4) |               \
		  F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) | VIRTIO_RING_FEATURES)

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static struct guest_mem mem;
static uint8_t *ram;
static struct evloop loop;
static struct vnet *net;
static struct vfd d;
static int devfd = -1; /* the device's end (owned by the device) */
static int peer = -1;  /* the test's end: "the host network" */
static unsigned int irqs;

/* ---- helpers ---------------------------------------------------------------- */

static void count_irq(struct virtio_dev *dev)
{
	(void)dev;
	irqs++;
}

static void open_dev(const struct rl_config *rl, int sndbuf)
{
	char why[160] = "";
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0, sv),
			 0);
	if (sndbuf)
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
					    sizeof(sndbuf)),
				 0);
	devfd = sv[0];
	peer = sv[1];
	if (vnet_create(&net, &mem, &loop, devfd, mac, rl, why, sizeof(why)))
		fail_msg("vnet_create: %s", why);
	vnet_dev(net)->signal_irq = count_irq;
	vfd_init(&d, vnet_dev(net), &mem);
}

static void close_dev(void)
{
	vnet_destroy(net ? vnet_dev(net) : NULL);
	net = NULL;
	devfd = -1;
	if (peer >= 0)
		close(peer);
	peer = -1;
}

static int setup(void **state)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };

	(void)state;
	irqs = 0;
	assert_int_equal(gm_create(&mem, &r, 1), 0);
	ram = gm_ptr(&mem, 0, RAM_SIZE);
	assert_int_equal(evloop_init(&loop), 0);
	open_dev(NULL, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close_dev();
	evloop_destroy(&loop);
	gm_destroy(&mem);
	return 0;
}

static void dispatch(int timeout_ms, int *n_out)
{
	*n_out = evloop_dispatch(&loop, timeout_ms);
}

/* Run the loop's handlers on this thread until nothing is ready. A device
 * that keeps something ready without getting anywhere would spin: fail. */
static void pump(void)
{
	for (int round = 0; round < 500; round++) {
		int n;

		dispatch(0, &n);
		if (n <= 0)
			return;
	}
	fail_msg("the device keeps the event loop busy");
}

static uint64_t ms_now(void)
{
	return now_ns() / 1000000;
}

static void bringup(uint64_t features)
{
	assert_true(vfd_bringup(&d, features, 2, QSIZE, RINGS));
	pump();
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
}

/* A header as a driver or the tap writes it. */
static void make_hdr(uint8_t *h, uint8_t flags, uint8_t gso, uint16_t num_buffers)
{
	memset(h, 0, HDR);
	h[0] = flags;
	h[1] = gso;
	put_le16(h + 2, 54);  /* hdr_len */
	put_le16(h + 4, 1448); /* gso_size */
	put_le16(h + 6, 34);  /* csum_start */
	put_le16(h + 8, 16);  /* csum_offset */
	put_le16(h + 10, num_buffers);
}

static uint16_t post_rx(uint64_t gpa, uint32_t len)
{
	const struct vfd_buf b = { gpa, len, true };

	return vfd_post(&d, RXQ, &b, 1);
}

/* Put header + frame at `gpa` and post it as `nsegs` readable pieces. */
static uint16_t post_tx(uint64_t gpa, const uint8_t *pkt, uint32_t len, unsigned int nsegs)
{
	struct vfd_buf b[8];
	uint32_t off = 0;

	memcpy(ram + gpa, pkt, len);
	for (unsigned int i = 0; i < nsegs; i++) {
		uint32_t piece = i + 1 == nsegs ? len - off : len / nsegs;

		b[i] = (struct vfd_buf){ gpa + off, piece, false };
		off += piece;
	}
	return vfd_post(&d, TXQ, b, nsegs);
}

static void expect_used(unsigned int q, uint16_t head, uint32_t len)
{
	uint32_t id, l;

	assert_true(vfd_used(&d, q, &id, &l));
	assert_int_equal(id, head);
	assert_int_equal(l, len);
}

static void expect_no_used(unsigned int q)
{
	uint32_t id, l;

	assert_false(vfd_used(&d, q, &id, &l));
}

static void peer_send(const uint8_t *p, size_t len)
{
	assert_int_equal(send(peer, p, len, 0), (ssize_t)len);
}

/* The next message on the peer, or -1 when there is none. */
static ssize_t peer_recv(uint8_t *p, size_t cap)
{
	return recv(peer, p, cap, MSG_DONTWAIT);
}

static bool dev_readable(void)
{
	struct pollfd p = { .fd = devfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static struct vnet_stats stats(void)
{
	struct vnet_stats s;

	vnet_get_stats(net, &s);
	return s;
}

static bool all_equal(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* ---- identity and configuration ---------------------------------------------- */

static void identity_and_config(void **state)
{
	uint8_t b[8];
	uint64_t f;

	(void)state;
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f = vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f |= (uint64_t)vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	assert_int_equal(f, FEAT_ALL);
	for (unsigned int q = 0; q < 3; q++) {
		vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX),
				 q < 2 ? VNET_QUEUE_SIZE : 0);
	}
	/* 5.1.4: mac, status, max_virtqueue_pairs; nothing after. */
	for (unsigned int i = 0; i < 6; i++) {
		vmmio_read(vnet_dev(net), VIRTIO_MMIO_CONFIG + i, b, 1);
		assert_int_equal(b[0], mac[i]);
	}
	vmmio_read(vnet_dev(net), VIRTIO_MMIO_CONFIG + 6, b, 2);
	assert_int_equal(get_le16(b), VIRTIO_NET_S_LINK_UP);
	vmmio_read(vnet_dev(net), VIRTIO_MMIO_CONFIG + 8, b, 2);
	assert_int_equal(get_le16(b), 1);
	vmmio_read(vnet_dev(net), VIRTIO_MMIO_CONFIG + 10, b, 2);
	assert_int_equal(get_le16(b), 0);
	/* Read-only: a write changes nothing. */
	memset(b, 0xff, sizeof(b));
	vmmio_write(vnet_dev(net), VIRTIO_MMIO_CONFIG, b, 4);
	vmmio_read(vnet_dev(net), VIRTIO_MMIO_CONFIG, b, 4);
	assert_memory_equal(b, mac, 4);
	/* Kick fds: one per queue, distinct. */
	{
		unsigned int nr;
		const int *k = vnet_kick_fds(net, &nr);

		assert_int_equal(nr, 2);
		assert_true(k[0] >= 0 && k[1] >= 0 && k[0] != k[1]);
	}
}

/* ---- transmit ------------------------------------------------------------------- */

static void tx_byte_exact(void **state)
{
	uint8_t pkt[HDR + 1514], got[HDR + 2000];
	uint16_t h1, h2;

	(void)state;
	bringup(FEAT_ALL);
	/* A plain frame in three pieces. */
	make_hdr(pkt, 0, VIRTIO_NET_HDR_GSO_NONE, 0);
	fill(pkt + HDR, 1514, 1);
	h1 = post_tx(TXBUF, pkt, sizeof(pkt), 3);
	vfd_kick(&d, TXQ);
	pump();
	expect_used(TXQ, h1, 0);
	assert_int_equal(peer_recv(got, sizeof(got)), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	/* A TSO frame with a partial checksum: the header goes through as
	 * it is, but for flag bits the device does not know (cleared) and
	 * num_buffers (zero on transmit). */
	make_hdr(pkt, VIRTIO_NET_HDR_F_NEEDS_CSUM | 0x40, VIRTIO_NET_HDR_GSO_TCPV4, 7);
	fill(pkt + HDR, 1000, 2);
	h2 = post_tx(TXBUF + 0x1000, pkt, HDR + 1000, 1);
	vfd_kick(&d, TXQ);
	pump();
	expect_used(TXQ, h2, 0);
	assert_int_equal(peer_recv(got, sizeof(got)), HDR + 1000);
	assert_int_equal(got[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(got[1], VIRTIO_NET_HDR_GSO_TCPV4);
	assert_memory_equal(got + 2, pkt + 2, 8);
	assert_int_equal(get_le16(got + 10), 0);
	assert_memory_equal(got + HDR, pkt + HDR, 1000);
	assert_int_equal(peer_recv(got, sizeof(got)), -1);
	assert_int_equal(stats().tx_frames, 2);
	assert_int_equal(stats().tx_bytes, 1514 + 1000);
	assert_true(irqs > 0);
}

static void tx_malformed(void **state)
{
	uint8_t pkt[HDR + 100], got[256];
	const struct vfd_buf rw[2] = { { TXBUF, HDR + 100, false },
				       { TXBUF + 0x1000, 64, true } };
	const struct vfd_buf runt = { TXBUF, HDR - 1, false };
	const struct vfd_buf huge = { TXBUF, VNET_MAX_PACKET + 1, false };
	uint16_t heads[6];

	(void)state;
	bringup(FEAT_BASE); /* no CSUM, no HOST_TSO */
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 100, 3);
	memcpy(ram + TXBUF, pkt, sizeof(pkt));
	heads[0] = vfd_post(&d, TXQ, rw, 2);       /* a device-writable part */
	heads[1] = vfd_post(&d, TXQ, &runt, 1);    /* shorter than the header */
	heads[2] = vfd_post(&d, TXQ, &huge, 1);    /* longer than any frame */
	vfd_desc(&d, TXQ, 60, TXBUF, 16, VRING_DESC_F_NEXT, 60); /* a loop */
	vfd_publish(&d, TXQ, 60);
	heads[3] = 60;
	/* Offloads the driver did not negotiate (5.1.6.2.1). */
	make_hdr(pkt, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0);
	heads[4] = post_tx(TXBUF + 0x2000, pkt, sizeof(pkt), 1);
	make_hdr(pkt, 0, VIRTIO_NET_HDR_GSO_TCPV6, 0);
	heads[5] = post_tx(TXBUF + 0x3000, pkt, sizeof(pkt), 1);
	vfd_kick(&d, TXQ);
	pump();
	for (unsigned int i = 0; i < 6; i++)
		expect_used(TXQ, heads[i], 0);
	assert_int_equal(peer_recv(got, sizeof(got)), -1);
	assert_int_equal(stats().tx_dropped, 6);
	assert_false(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The device goes on. */
	make_hdr(pkt, 0, 0, 0);
	heads[0] = post_tx(TXBUF + 0x4000, pkt, sizeof(pkt), 2);
	vfd_kick(&d, TXQ);
	pump();
	expect_used(TXQ, heads[0], 0);
	assert_int_equal(peer_recv(got, sizeof(got)), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
}

static void tx_batches(void **state)
{
	uint8_t pkt[HDR + 60], got[256];
	const unsigned int n = VNET_BATCH + 10;
	unsigned int seen = 0;
	int ready;

	(void)state;
	close_dev();
	open_dev(NULL, 0);
	assert_true(vfd_bringup(&d, FEAT_BASE, 2, 128, RINGS));
	pump();
	for (unsigned int i = 0; i < n; i++) {
		make_hdr(pkt, 0, 0, 0);
		fill(pkt + HDR, 60, i);
		post_tx(TXBUF + i * 0x100ull, pkt, sizeof(pkt), 1);
	}
	vfd_kick(&d, TXQ);
	/* One turn sends one batch, then the device kicks itself. */
	dispatch(0, &ready);
	assert_int_equal(vfd_used_idx(&d, TXQ), VNET_BATCH);
	pump();
	assert_int_equal(vfd_used_idx(&d, TXQ), n);
	while (peer_recv(got, sizeof(got)) == sizeof(pkt)) {
		fill(pkt + HDR, 60, seen);
		assert_memory_equal(got + HDR, pkt + HDR, 60);
		seen++;
	}
	assert_int_equal(seen, n);
}

/* The socket is full: the chain waits, EPOLLOUT brings it back, order
 * kept, and nothing spins meanwhile. */
static void tx_backpressure(void **state)
{
	uint8_t pkt[HDR + 1500], got[HDR + 2000];
	const unsigned int n = 40;
	unsigned int seen = 0;

	(void)state;
	close_dev();
	open_dev(NULL, 4096); /* the smallest send buffer */
	bringup(FEAT_BASE);
	for (unsigned int i = 0; i < n; i++) {
		make_hdr(pkt, 0, 0, 0);
		fill(pkt + HDR, 1500, i);
		post_tx(TXBUF + i * 0x1000ull, pkt, sizeof(pkt), 1);
	}
	vfd_kick(&d, TXQ);
	pump();
	assert_true(vfd_used_idx(&d, TXQ) < n); /* blocked, not spinning */
	while (seen < n) {
		ssize_t r = peer_recv(got, sizeof(got));

		if (r < 0) {
			uint16_t before = vfd_used_idx(&d, TXQ);

			pump();
			assert_true(vfd_used_idx(&d, TXQ) > before);
			continue;
		}
		assert_int_equal(r, sizeof(pkt));
		fill(pkt + HDR, 1500, seen);
		assert_memory_equal(got + HDR, pkt + HDR, 1500);
		seen++;
	}
	assert_int_equal(vfd_used_idx(&d, TXQ), n);
	assert_int_equal(stats().tx_frames, n);
}

static void tx_rate_limited(void **state)
{
	const struct rl_config rl = { .bytes = 10000, .bytes_burst = 1000 };
	uint8_t pkt[HDR + 1000], got[HDR + 1000];
	uint16_t h1, h2;
	uint64_t t0;

	(void)state;
	close_dev();
	open_dev(&rl, 0);
	bringup(FEAT_BASE);
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 1000, 5);
	h1 = post_tx(TXBUF, pkt, HDR + 1000, 1);  /* takes the whole burst */
	fill(pkt + HDR, 500, 6);
	h2 = post_tx(TXBUF + 0x1000, pkt, HDR + 500, 1); /* must wait 50 ms */
	t0 = ms_now();
	vfd_kick(&d, TXQ);
	pump();
	expect_used(TXQ, h1, 0);
	assert_int_equal(peer_recv(got, sizeof(got)), HDR + 1000);
	/* Deferred: not on the socket, not completed. */
	expect_no_used(TXQ);
	assert_int_equal(peer_recv(got, sizeof(got)), -1);
	/* A kick meanwhile changes nothing. */
	vfd_kick(&d, TXQ);
	pump();
	expect_no_used(TXQ);
	assert_int_equal(peer_recv(got, sizeof(got)), -1);
	/* The limiter's timer sends it. */
	while (vfd_used_idx(&d, TXQ) != 2 && ms_now() - t0 < 2000) {
		int ready;

		dispatch(10, &ready);
	}
	assert_true(ms_now() - t0 >= 30);
	expect_used(TXQ, h2, 0);
	assert_int_equal(peer_recv(got, sizeof(got)), HDR + 500);
	assert_memory_equal(got + HDR, pkt + HDR, 500);
	assert_int_equal(stats().tx_dropped, 0);
}

/* ---- receive -------------------------------------------------------------------- */

static void rx_single_buffer(void **state)
{
	uint8_t pkt[HDR + 300];
	uint16_t h;

	(void)state;
	bringup(FEAT_BASE);
	memset(ram + RXBUF, 0xee, 0x1000);
	h = post_rx(RXBUF, 2048);
	vfd_kick(&d, RXQ);
	pump();
	make_hdr(pkt, 0, 0, 0xbeef); /* the tap leaves num_buffers alone */
	memset(pkt + 2, 0, 8);
	fill(pkt + HDR, 300, 9);
	peer_send(pkt, sizeof(pkt));
	pump();
	expect_used(RXQ, h, sizeof(pkt));
	/* 5.1.6.4.1: num_buffers 1 without MRG_RXBUF. */
	put_le16(pkt + 10, 1);
	assert_memory_equal(ram + RXBUF, pkt, sizeof(pkt));
	assert_true(all_equal(ram + RXBUF + sizeof(pkt), 0x1000 - sizeof(pkt), 0xee));
	assert_int_equal(stats().rx_frames, 1);
	assert_int_equal(stats().rx_bytes, 300);
	assert_false(dev_readable());
}

static void rx_mrg_spans_buffers(void **state)
{
	uint8_t pkt[HDR + 2500], small[HDR + 40];
	uint16_t h[4];

	(void)state;
	bringup(FEAT_MRG);
	memset(ram + RXBUF, 0xee, 0x10000);
	for (unsigned int i = 0; i < 4; i++)
		h[i] = post_rx(RXBUF + i * 0x1000ull, 1000);
	vfd_kick(&d, RXQ);
	pump();
	make_hdr(pkt, 0, 0, 0);
	memset(pkt + 2, 0, 8);
	fill(pkt + HDR, 2500, 11);
	peer_send(pkt, sizeof(pkt));
	pump();
	/* 5.1.6.4.1: all buffers but the last filled up, num_buffers 3. */
	expect_used(RXQ, h[0], 1000);
	expect_used(RXQ, h[1], 1000);
	expect_used(RXQ, h[2], sizeof(pkt) - 2000);
	expect_no_used(RXQ);
	assert_int_equal(get_le16(ram + RXBUF + 10), 3);
	put_le16(pkt + 10, 3);
	assert_memory_equal(ram + RXBUF, pkt, 1000);
	assert_memory_equal(ram + RXBUF + 0x1000, pkt + 1000, 1000);
	assert_memory_equal(ram + RXBUF + 0x2000, pkt + 2000, sizeof(pkt) - 2000);
	assert_true(all_equal(ram + RXBUF + 0x2000 + sizeof(pkt) - 2000,
			      0x1000 - (sizeof(pkt) - 2000), 0xee));
	/* The next frame takes the fourth buffer alone. */
	make_hdr(small, 0, 0, 0);
	memset(small + 2, 0, 8);
	fill(small + HDR, 40, 12);
	peer_send(small, sizeof(small));
	pump();
	expect_used(RXQ, h[3], sizeof(small));
	assert_int_equal(get_le16(ram + RXBUF + 0x3000 + 10), 1);
	assert_memory_equal(ram + RXBUF + 0x3000 + HDR, small + HDR, 40);
	assert_int_equal(stats().rx_frames, 2);
}

/* A frame needing more buffers than are posted waits for the next ones. */
static void rx_mrg_waits_for_buffers(void **state)
{
	uint8_t pkt[HDR + 3000];
	uint16_t h[3];

	(void)state;
	bringup(FEAT_MRG);
	h[0] = post_rx(RXBUF, 1024);
	vfd_kick(&d, RXQ);
	pump();
	make_hdr(pkt, 0, 0, 0);
	memset(pkt + 2, 0, 8);
	fill(pkt + HDR, 3000, 13);
	peer_send(pkt, sizeof(pkt));
	pump();
	expect_no_used(RXQ);
	h[1] = post_rx(RXBUF + 0x1000, 1024);
	vfd_kick(&d, RXQ);
	pump();
	expect_no_used(RXQ);
	h[2] = post_rx(RXBUF + 0x2000, 2048);
	vfd_kick(&d, RXQ);
	pump();
	expect_used(RXQ, h[0], 1024);
	expect_used(RXQ, h[1], 1024);
	expect_used(RXQ, h[2], sizeof(pkt) - 2048);
	assert_int_equal(get_le16(ram + RXBUF + 10), 3);
	assert_memory_equal(ram + RXBUF + HDR, pkt + HDR, 1024 - HDR);
	assert_memory_equal(ram + RXBUF + 0x1000, pkt + 1024, 1024);
	assert_memory_equal(ram + RXBUF + 0x2000, pkt + 2048, sizeof(pkt) - 2048);
}

/* No receive buffers: the device stops reading, the frames wait in the
 * socket, and a kick after posting buffers brings them in, in order. */
static void rx_no_buffers_stops_reading(void **state)
{
	uint8_t pkt[HDR + 100];
	uint16_t h[3];

	(void)state;
	bringup(FEAT_MRG);
	for (unsigned int i = 0; i < 3; i++) {
		make_hdr(pkt, 0, 0, 0);
		fill(pkt + HDR, 100, 20 + i);
		peer_send(pkt, sizeof(pkt));
	}
	pump(); /* fails if the device spins on the readable socket */
	assert_true(dev_readable());
	expect_no_used(RXQ);
	/* One buffer: one frame; the others stay in the socket. */
	h[0] = post_rx(RXBUF, 2048);
	vfd_kick(&d, RXQ);
	pump();
	expect_used(RXQ, h[0], sizeof(pkt));
	expect_no_used(RXQ);
	assert_true(dev_readable());
	/* The rest after the next kick. */
	h[1] = post_rx(RXBUF + 0x1000, 2048);
	h[2] = post_rx(RXBUF + 0x2000, 2048);
	vfd_kick(&d, RXQ);
	pump();
	expect_used(RXQ, h[1], sizeof(pkt));
	expect_used(RXQ, h[2], sizeof(pkt));
	assert_false(dev_readable());
	for (unsigned int i = 0; i < 3; i++) {
		fill(pkt + HDR, 100, 20 + i);
		assert_memory_equal(ram + RXBUF + i * 0x1000ull + HDR, pkt + HDR, 100);
	}
	/* Buffers left over: the device watches the socket again. */
	h[0] = post_rx(RXBUF + 0x3000, 2048);
	vfd_kick(&d, RXQ);
	pump();
	fill(pkt + HDR, 100, 30);
	peer_send(pkt, sizeof(pkt));
	pump();
	expect_used(RXQ, h[0], sizeof(pkt));
	assert_memory_equal(ram + RXBUF + 0x3000 + HDR, pkt + HDR, 100);
}

static void rx_oversized_dropped(void **state)
{
	static uint8_t big[VNET_MAX_PACKET + 100];
	uint8_t pkt[HDR + 1000];
	uint16_t h;

	(void)state;
	bringup(FEAT_BASE);
	memset(ram + RXBUF, 0xee, 0x2000);
	h = post_rx(RXBUF, 256);
	vfd_kick(&d, RXQ);
	pump();
	/* Too big for the one buffer (no MRG_RXBUF): dropped, nothing
	 * written past the buffer, the buffer kept for the next frame. */
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 1000, 40);
	peer_send(pkt, sizeof(pkt));
	pump();
	expect_no_used(RXQ);
	assert_true(all_equal(ram + RXBUF + 256, 0x2000 - 256, 0xee));
	assert_int_equal(stats().rx_dropped, 1);
	/* Larger than any frame: dropped as well. */
	memset(big, 0, sizeof(big));
	peer_send(big, sizeof(big));
	pump();
	expect_no_used(RXQ);
	assert_int_equal(stats().rx_dropped, 2);
	/* Shorter than the header: dropped. */
	peer_send(pkt, HDR - 2);
	pump();
	assert_int_equal(stats().rx_dropped, 3);
	/* A frame that fits lands in the same buffer. */
	make_hdr(pkt, 0, 0, 0);
	memset(pkt + 2, 0, 8);
	fill(pkt + HDR, 200, 41);
	peer_send(pkt, HDR + 200);
	pump();
	expect_used(RXQ, h, HDR + 200);
	assert_memory_equal(ram + RXBUF + HDR, pkt + HDR, 200);
	assert_true(all_equal(ram + RXBUF + 256, 0x2000 - 256, 0xee));
	assert_int_equal(stats().rx_frames, 1);
}

/* With MRG_RXBUF, a frame larger than the whole (tiny) ring can never be
 * delivered: dropped once the device holds every buffer, no stall. */
static void rx_mrg_larger_than_ring(void **state)
{
	uint8_t pkt[HDR + 1000];
	uint16_t h[4];
	uint32_t id, len;

	(void)state;
	assert_true(vfd_bringup(&d, FEAT_MRG, 2, 4, RINGS));
	pump();
	memset(ram + RXBUF, 0xee, 0x4000);
	for (unsigned int i = 0; i < 4; i++)
		h[i] = post_rx(RXBUF + i * 0x1000ull, 100);
	vfd_kick(&d, RXQ);
	pump();
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 1000, 42);
	peer_send(pkt, sizeof(pkt));
	pump();
	for (unsigned int i = 0; i < 4; i++) {
		assert_true(vfd_used(&d, RXQ, &id, &len));
		assert_int_equal(id, h[i]);
		assert_int_equal(len, 0);
		assert_true(all_equal(ram + RXBUF + i * 0x1000ull + 100, 0x1000 - 100, 0xee));
	}
	assert_int_equal(stats().rx_dropped, 1);
	/* The ring works on. */
	h[0] = post_rx(RXBUF, 1024);
	vfd_kick(&d, RXQ);
	pump();
	peer_send(pkt, HDR + 500);
	pump();
	expect_used(RXQ, h[0], HDR + 500);
}

static void rx_malformed_chains(void **state)
{
	const struct vfd_buf ro = { RXBUF, 2048, false };
	const struct vfd_buf mixed[2] = { { RXBUF + 0x1000, 16, false },
					  { RXBUF + 0x2000, 2048, true } };
	uint8_t pkt[HDR + 64];
	uint16_t bad[4], good;

	(void)state;
	bringup(FEAT_MRG);
	memset(ram + RXBUF, 0xee, 0x6000);
	bad[0] = vfd_post(&d, RXQ, &ro, 1);
	bad[1] = vfd_post(&d, RXQ, mixed, 2);
	bad[2] = post_rx(RXBUF + 0x3000, HDR - 1); /* 5.1.6.3.1: at least a header */
	vfd_desc(&d, RXQ, 50, RXBUF + 0x4000, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 50);
	vfd_publish(&d, RXQ, 50);
	bad[3] = 50;
	good = post_rx(RXBUF + 0x5000, 2048);
	vfd_kick(&d, RXQ);
	pump();
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 64, 43);
	peer_send(pkt, sizeof(pkt));
	pump();
	for (unsigned int i = 0; i < 4; i++)
		expect_used(RXQ, bad[i], 0);
	expect_used(RXQ, good, sizeof(pkt));
	assert_true(all_equal(ram + RXBUF, 0x5000, 0xee));
	assert_memory_equal(ram + RXBUF + 0x5000 + HDR, pkt + HDR, 64);
}

/* 5.1.6.4.1: the device hands over only offloads the guest accepted. */
static void rx_header_offloads(void **state)
{
	uint8_t pkt[HDR + 80];
	uint16_t h;

	(void)state;
	bringup(FEAT_MRG); /* no GUEST_CSUM */
	h = post_rx(RXBUF, 2048);
	vfd_kick(&d, RXQ);
	pump();
	fill(pkt + HDR, 80, 44);
	make_hdr(pkt, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0); /* partial checksum */
	peer_send(pkt, sizeof(pkt));
	make_hdr(pkt, 0, VIRTIO_NET_HDR_GSO_TCPV4, 0);     /* unsegmented */
	peer_send(pkt, sizeof(pkt));
	make_hdr(pkt, 0, VIRTIO_NET_HDR_GSO_UDP, 0);       /* never offered */
	peer_send(pkt, sizeof(pkt));
	make_hdr(pkt, VIRTIO_NET_HDR_F_DATA_VALID, 0, 0);  /* fine, flags cleared */
	peer_send(pkt, sizeof(pkt));
	pump();
	assert_int_equal(stats().rx_dropped, 3);
	expect_used(RXQ, h, sizeof(pkt));
	assert_int_equal(ram[RXBUF], 0);
	/* With GUEST_CSUM and GUEST_TSO4 both go through unchanged. */
	assert_true(vfd_bringup(&d, FEAT_ALL, 2, QSIZE, RINGS));
	pump();
	h = post_rx(RXBUF, 4096);
	vfd_kick(&d, RXQ);
	pump();
	make_hdr(pkt, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 |
		 VIRTIO_NET_HDR_GSO_ECN, 0);
	peer_send(pkt, sizeof(pkt));
	pump();
	expect_used(RXQ, h, sizeof(pkt));
	assert_int_equal(ram[RXBUF], VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(ram[RXBUF + 1], VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
	assert_memory_equal(ram + RXBUF + 2, pkt + 2, 8);
	assert_int_equal(get_le16(ram + RXBUF + 10), 1);
}

static void rx_rate_limited(void **state)
{
	const struct rl_config rl = { .ops = 20, .ops_burst = 1 };
	uint8_t pkt[HDR + 100];
	uint16_t h[2];
	uint64_t t0;

	(void)state;
	close_dev();
	open_dev(&rl, 0);
	bringup(FEAT_MRG);
	h[0] = post_rx(RXBUF, 2048);
	h[1] = post_rx(RXBUF + 0x1000, 2048);
	vfd_kick(&d, RXQ);
	pump();
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 100, 50);
	peer_send(pkt, sizeof(pkt));
	fill(pkt + HDR, 100, 51);
	peer_send(pkt, sizeof(pkt));
	t0 = ms_now();
	pump();
	expect_used(RXQ, h[0], sizeof(pkt));
	/* The second one waits in the socket, not in the device. */
	expect_no_used(RXQ);
	assert_true(dev_readable());
	while (vfd_used_idx(&d, RXQ) != 2 && ms_now() - t0 < 2000) {
		int ready;

		dispatch(10, &ready);
	}
	assert_true(ms_now() - t0 >= 25);
	expect_used(RXQ, h[1], sizeof(pkt));
	assert_memory_equal(ram + RXBUF + 0x1000 + HDR, pkt + HDR, 100);
	assert_false(dev_readable());
	assert_int_equal(stats().rx_dropped, 0);
}

/* A reset drops what the device holds (a throttled transmit, a frame half
 * placed in receive buffers); the new driver starts clean. */
static void reset_drops_pending(void **state)
{
	const struct rl_config rl = { .ops = 4, .ops_burst = 1 };
	uint8_t pkt[HDR + 100], next[HDR + 238], got[512];
	uint64_t t0;
	uint16_t h;

	(void)state;
	close_dev();
	open_dev(&rl, 0);
	bringup(FEAT_MRG);
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 100, 60);
	post_tx(TXBUF, pkt, sizeof(pkt), 1);
	post_tx(TXBUF + 0x1000, pkt, sizeof(pkt), 1); /* throttled: held */
	post_rx(RXBUF, 100);
	vfd_kick(&d, TXQ);
	vfd_kick(&d, RXQ);
	pump();
	assert_int_equal(vfd_used_idx(&d, TXQ), 1);
	assert_int_equal(peer_recv(got, sizeof(got)), sizeof(pkt));
	/* It needs two receive buffers, the guest posted one: held, half
	 * placed. The next frame waits in the socket. */
	peer_send(pkt, sizeof(pkt));
	make_hdr(next, 0, 0, 0);
	fill(next + HDR, 238, 61);
	peer_send(next, sizeof(next));
	pump();
	assert_int_equal(vfd_used_idx(&d, RXQ), 0);
	/* Reset and bring up again; both limiters' timers fire meanwhile. */
	bringup(FEAT_MRG);
	h = post_rx(RXBUF + 0x2000, 2048);
	vfd_kick(&d, RXQ);
	t0 = ms_now();
	while (ms_now() - t0 < 700) {
		int ready;

		dispatch(10, &ready);
	}
	/* Only the frame from the socket arrives, in the new buffer. */
	expect_used(RXQ, h, sizeof(next));
	assert_memory_equal(ram + RXBUF + 0x2000 + HDR, next + HDR, 238);
	expect_no_used(RXQ);
	expect_no_used(TXQ);
	assert_int_equal(peer_recv(got, sizeof(got)), -1);
}

/* The peer closes: the device stops watching (epoll reports a hang-up
 * whatever it watches: no spin) and completes whatever the guest sends,
 * dropping it. First while not reading (no receive buffers)... */
static void peer_hangup(void **state)
{
	uint8_t pkt[HDR + 100];
	uint16_t h;

	(void)state;
	bringup(FEAT_MRG);
	close(peer);
	peer = -1;
	pump();
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 100, 70);
	h = post_tx(TXBUF, pkt, sizeof(pkt), 1);
	vfd_kick(&d, TXQ);
	pump();
	expect_used(TXQ, h, 0);
	assert_int_equal(stats().tx_dropped, 1);
	assert_int_equal(stats().tx_frames, 0);
	/* Receive buffers posted later stay with the guest. */
	post_rx(RXBUF, 2048);
	vfd_kick(&d, RXQ);
	pump();
	assert_int_equal(vfd_used_idx(&d, RXQ), 0);
}

/* ... then while reading: the read sees the end of the socket. */
static void peer_hangup_reading(void **state)
{
	uint8_t pkt[HDR + 100];
	uint16_t h;

	(void)state;
	bringup(FEAT_MRG);
	post_rx(RXBUF, 2048);
	vfd_kick(&d, RXQ);
	pump();
	close(peer);
	peer = -1;
	pump();
	make_hdr(pkt, 0, 0, 0);
	h = post_tx(TXBUF, pkt, sizeof(pkt), 1);
	vfd_kick(&d, TXQ);
	pump();
	expect_used(TXQ, h, 0);
	expect_no_used(RXQ);
	assert_int_equal(stats().tx_dropped, 1);
}

static void inactive(void **state)
{
	uint8_t pkt[HDR + 100];

	(void)state;
	/* Before DRIVER_OK nothing is read. */
	make_hdr(pkt, 0, 0, 0);
	fill(pkt + HDR, 100, 80);
	peer_send(pkt, sizeof(pkt));
	pump();
	assert_true(dev_readable());
	assert_int_equal(stats().rx_frames + stats().rx_dropped, 0);
}

static void create_errors(void **state)
{
	struct vnet *n2 = NULL;
	char why[128] = "";
	int fds[2];

	(void)state;
	assert_int_equal(vnet_create(&n2, &mem, &loop, -1, mac, NULL, why, sizeof(why)),
			 -EINVAL);
	assert_true(why[0] != '\0');
	/* On failure the fd stays the caller's (open). */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
	assert_int_equal(vnet_create(&n2, &mem, NULL, fds[0], mac, NULL, why, sizeof(why)),
			 -EINVAL);
	assert_true(fcntl(fds[0], F_GETFD) >= 0);
	close(fds[0]);
	close(fds[1]);
	vnet_destroy(NULL);
}

/* ---- the tap (root, in a network namespace) ------------------------------------- */

static bool if_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

static void tap_basics_child(void)
{
	char name[TAP_NAME_MAX], got[TAP_NAME_MAX], why[256];
	struct in_addr a;
	struct ifreq ifr;
	int fd = -1, fd2 = -1, sock;

	CHECK(tap_create("cocoon%d", &fd, name, why, sizeof(why)) == 0);
	CHECK(strncmp(name, "cocoon", 6) == 0 && name[6] >= '0' && name[6] <= '9');
	CHECK(if_exists(name));
	CHECK(tap_name(fd, got) == 0 && strcmp(got, name) == 0);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* The header size is the 12-byte v1 header. */
	{
		int sz = 0;

		CHECK(ioctl(fd, TUNGETVNETHDRSZ, &sz) == 0 && sz == 12);
	}
	/* Offloads: consistent sets only. */
	CHECK(tap_set_offload(fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) == 0);
	CHECK(tap_set_offload(fd, 0) == 0);
	CHECK(tap_set_offload(fd, TUN_F_TSO4) == -EINVAL);
	/* An address and the link up. */
	inet_pton(AF_INET, "10.11.12.1", &a);
	CHECK(tap_set_ipv4(name, a, 24, why, sizeof(why)) == 0);
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	CHECK(ioctl(sock, SIOCGIFADDR, &ifr) == 0);
	CHECK(((struct sockaddr_in *)(void *)&ifr.ifr_addr)->sin_addr.s_addr == a.s_addr);
	CHECK(ioctl(sock, SIOCGIFNETMASK, &ifr) == 0);
	CHECK(((struct sockaddr_in *)(void *)&ifr.ifr_netmask)->sin_addr.s_addr ==
	      htonl(0xffffff00u));
	CHECK(ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP));
	close(sock);
	CHECK(tap_set_ipv4(name, a, 33, why, sizeof(why)) == -EINVAL);
	/* Busy: one queue, attached; a create of the same name refuses to
	 * attach to it. */
	CHECK(tap_open(name, &fd2, why, sizeof(why)) == -EBUSY);
	CHECK(strstr(why, name) != NULL);
	CHECK(tap_create(name, &fd2, got, why, sizeof(why)) == -EBUSY);
	/* A second create gets the next number. */
	CHECK(tap_create("cocoon%d", &fd2, got, why, sizeof(why)) == 0);
	CHECK(strcmp(got, name) != 0);
	/* Not persistent: closing the fd removes the interface. */
	close(fd);
	CHECK(!if_exists(name));
	close(fd2);
	CHECK(!if_exists(got));
	/* Errors with a reason. */
	CHECK(tap_open(name, &fd, why, sizeof(why)) == -ENODEV);
	CHECK(strstr(why, "no such interface") != NULL);
	CHECK(tap_open("lo", &fd, why, sizeof(why)) == -EINVAL);
	CHECK(strstr(why, "not a tap") != NULL);
	CHECK(tap_open("a-name-far-too-long", &fd, why, sizeof(why)) == -ENAMETOOLONG);
	CHECK(tap_create("x%d%d", &fd, got, why, sizeof(why)) == -EINVAL);
	CHECK(tap_open("", &fd, why, sizeof(why)) == -EINVAL);
}

static void tap_basics(void **state)
{
	(void)state;
	in_netns(tap_basics_child);
}

/* An existing tap made persistent by someone else: tap_open attaches. */
static void tap_open_existing_child(void)
{
	char name[TAP_NAME_MAX], why[256];
	struct ifreq ifr;
	int mk, fd = -1;

	mk = open("/dev/net/tun", O_RDWR);
	CHECK(mk >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "ext0");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	CHECK(ioctl(mk, TUNSETIFF, &ifr) == 0);
	CHECK(ioctl(mk, TUNSETPERSIST, 1) == 0);
	close(mk);
	CHECK(if_exists("ext0"));
	CHECK(tap_open("ext0", &fd, why, sizeof(why)) == 0);
	CHECK(tap_name(fd, name) == 0 && strcmp(name, "ext0") == 0);
	close(fd);
	CHECK(if_exists("ext0")); /* persistent: still there */
}

static void tap_open_existing(void **state)
{
	(void)state;
	in_netns(tap_open_existing_child);
}

/* Without CAP_NET_ADMIN, creating a tap says so. */
static void tap_needs_cap_child(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	char name[TAP_NAME_MAX], why[256];
	int fd;

	CHECK(syscall(SYS_capget, &hdr, data) == 0);
	data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	CHECK(syscall(SYS_capset, &hdr, data) == 0);
	CHECK(tap_create("cocoon%d", &fd, name, why, sizeof(why)) == -EPERM);
	CHECK(strstr(why, "CAP_NET_ADMIN") != NULL);
}

static void tap_needs_cap(void **state)
{
	(void)state;
	in_netns(tap_needs_cap_child);
}

/*
 * End to end on a real tap: the guest sends a UDP datagram that a host
 * socket receives, and a host datagram arrives in the guest's buffers with
 * a partial checksum, which the tap only hands over after the device told
 * it (TUNSETOFFLOAD) that the guest accepted GUEST_CSUM.
 */
static uint16_t ip_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void child_pump(void)
{
	for (int round = 0; round < 50; round++)
		(void)evloop_dispatch(&loop, 20);
}

static void tap_end_to_end_child(void)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };
	const uint8_t gmac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
	char name[TAP_NAME_MAX], why[256];
	struct sockaddr_in host = { .sin_family = AF_INET, .sin_port = htons(5555) };
	struct sockaddr_in guest = { .sin_family = AF_INET, .sin_port = htons(6666) };
	struct arpreq arp;
	struct ifreq ifr;
	uint8_t frame[HDR + 14 + 20 + 8 + 5], *ip, *udp, got[64], hmac[6];
	const uint8_t *rxhdr;
	uint32_t id, len;
	int fd, sock;

	CHECK(gm_create(&mem, &r, 1) == 0);
	ram = gm_ptr(&mem, 0, RAM_SIZE);
	CHECK(evloop_init(&loop) == 0);
	CHECK(tap_create("cocoon%d", &fd, name, why, sizeof(why)) == 0);
	inet_pton(AF_INET, "10.11.12.1", &host.sin_addr);
	inet_pton(AF_INET, "10.11.12.2", &guest.sin_addr);
	CHECK(tap_set_ipv4(name, host.sin_addr, 24, why, sizeof(why)) == 0);
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(bind(sock, (struct sockaddr *)&host, sizeof(host)) == 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	CHECK(ioctl(sock, SIOCGIFHWADDR, &ifr) == 0);
	memcpy(hmac, ifr.ifr_hwaddr.sa_data, 6);
	/* The guest's address is known: no ARP round trip. */
	memset(&arp, 0, sizeof(arp));
	memcpy(&arp.arp_pa, &guest, sizeof(guest));
	arp.arp_ha.sa_family = ARPHRD_ETHER;
	memcpy(arp.arp_ha.sa_data, gmac, 6);
	arp.arp_flags = ATF_PERM | ATF_COM;
	snprintf(arp.arp_dev, sizeof(arp.arp_dev), "%s", name);
	CHECK(ioctl(sock, SIOCSARP, &arp) == 0);

	CHECK(vnet_create(&net, &mem, &loop, fd, gmac, NULL, why, sizeof(why)) == 0);
	vfd_init(&d, vnet_dev(net), &mem);
	CHECK(vfd_bringup(&d, FEAT_ALL, 2, QSIZE, RINGS));
	for (unsigned int i = 0; i < 8; i++)
		CHECK(post_rx(RXBUF + i * 0x1000ull, 4096) == i);
	vfd_kick(&d, RXQ);
	child_pump();

	/* Guest -> host: Ethernet, IPv4, UDP (checksum 0: none), "hello". */
	memset(frame, 0, sizeof(frame));
	memcpy(frame + HDR, hmac, 6);
	memcpy(frame + HDR + 6, gmac, 6);
	frame[HDR + 12] = 0x08;
	ip = frame + HDR + 14;
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 5; /* total length, big-endian */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &guest.sin_addr, 4);
	memcpy(ip + 16, &host.sin_addr, 4);
	{
		uint16_t c = ip_csum(ip, 20);

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	udp = ip + 20;
	memcpy(udp, &guest.sin_port, 2);
	memcpy(udp + 2, &host.sin_port, 2);
	udp[5] = 8 + 5;
	memcpy(udp + 8, "hello", 5);
	post_tx(TXBUF, frame, sizeof(frame), 2);
	vfd_kick(&d, TXQ);
	child_pump();
	CHECK(vfd_used(&d, TXQ, &id, &len) && len == 0);
	CHECK(recv(sock, got, sizeof(got), MSG_DONTWAIT) == 5);
	CHECK(memcmp(got, "hello", 5) == 0);

	/* Host -> guest. The kernel may send IPv6 chatter out of the new
	 * interface too: look for our datagram among what arrived. */
	CHECK(sendto(sock, "world!", 6, 0, (struct sockaddr *)&guest, sizeof(guest)) == 6);
	child_pump();
	{
		const uint8_t *f = NULL;

		while (vfd_used(&d, RXQ, &id, &len)) {
			const uint8_t *p = ram + RXBUF + (uint64_t)id * 0x1000;

			CHECK(id < 8 && len >= HDR + 14);
			if (p[HDR + 12] == 0x08 && p[HDR + 13] == 0x00)
				f = p;
		}
		CHECK(f != NULL);
		CHECK(get_le16(f + 10) == 1);
		CHECK(memcmp(f + HDR, gmac, 6) == 0);
		CHECK(memcmp(f + HDR + 14 + 28, "world!", 6) == 0);
		rxhdr = f;
	}
	/* TUNSETOFFLOAD took: the checksum is left to the guest. */
	CHECK(rxhdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM);

	vnet_destroy(vnet_dev(net));
	CHECK(!if_exists(name)); /* the device closed the tap: it is gone */
	close(sock);
	evloop_destroy(&loop);
	gm_destroy(&mem);
}

static void tap_end_to_end(void **state)
{
	(void)state;
	in_netns(tap_end_to_end_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identity_and_config),
		T(tx_byte_exact),
		T(tx_malformed),
		T(tx_batches),
		T(tx_backpressure),
		T(tx_rate_limited),
		T(rx_single_buffer),
		T(rx_mrg_spans_buffers),
		T(rx_mrg_waits_for_buffers),
		T(rx_no_buffers_stops_reading),
		T(rx_oversized_dropped),
		T(rx_mrg_larger_than_ring),
		T(rx_malformed_chains),
		T(rx_header_offloads),
		T(rx_rate_limited),
		T(reset_drops_pending),
		T(peer_hangup),
		T(peer_hangup_reading),
		T(inactive),
		T(create_errors),
#undef T
		cmocka_unit_test(tap_basics),
		cmocka_unit_test(tap_open_existing),
		cmocka_unit_test(tap_needs_cap),
		cmocka_unit_test(tap_end_to_end),
	};

	/* A closed socket peer raises SIGPIPE on write; cocoon ignores it. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
