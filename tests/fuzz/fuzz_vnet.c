/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-net against a hostile driver and a hostile network. A
 * fresh device per input on one end of a socketpair(AF_UNIX,
 * SOCK_SEQPACKET) (the tap's stand-in), brought up through the virtio-mmio
 * transport as the fake driver does. The input fills the start of guest
 * RAM, which holds both queues' rings (receive: avail ring at 0x0000, used
 * ring at 0x0800, descriptors at 0x1000; transmit: 0x2000, 0x2800, 0x3000)
 * and every buffer; the rest of the input is frames for the device to
 * receive. Both queues are kicked, the event loop's handlers run on this
 * thread, the frames go in, whatever the device transmitted is drained,
 * and the device is destroyed before the next input.
 *
 * Input: byte 0 selects the features the driver accepts, byte 1 the queue
 * sizes (low nibble receive, high nibble transmit: 1 << (n % 9)), byte 2
 * options (bit 0 a rate limiter, bit 1 the peer hangs up halfway, bit 2 a
 * tiny socket buffer so that transmit blocks), bytes 3-4 (little-endian)
 * how many bytes of guest memory follow (at most 32 KiB); then frames, each
 * a little-endian 16-bit length and that many bytes.
 */
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "evloop.h"
#include "log.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM (128u << 10)
#define FILL (32u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void pump(struct evloop *loop)
{
	/* Bounded: a device that keeps itself busy (a hostile ring can)
	 * must still let go after each batch; we just stop looking. */
	for (int round = 0; round < 200; round++)
		if (evloop_dispatch(loop, 0) <= 0)
			return;
}

static uint64_t features_of(uint8_t b)
{
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1);

	if (b & 0x01)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (b & 0x02)
		f |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
		     VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN);
	if (b & 0x04)
		f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	if (b & 0x08)
		f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
		     VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN); /* with or without GUEST_CSUM */
	if (b & 0x10)
		f |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (b & 0x20)
		f |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	if (b & 0x40)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS);
	if (b & 0x80)
		f |= VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ); /* never offered: refused */
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 1 };
	static const struct rl_config rl = { .ops = 1000, .ops_burst = 3,
					     .bytes = 1 << 20, .bytes_burst = 4096 };
	static struct guest_mem mem;
	static struct evloop loop;
	static struct vfd d;
	static uint8_t junk[VNET_MAX_PACKET + 64];
	static int ready;
	struct vnet *net = NULL;
	char why[128] = "";
	size_t fill, off;
	int sv[2];

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		log_set_level(LOG_ERROR);
		if (gm_create(&mem, &r, 1) || evloop_init(&loop))
			abort();
		ready = 1;
	}
	if (size < 5)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	if (data[2] & 0x04) {
		int small = 4096;

		(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	}
	if (vnet_create(&net, &mem, &loop, sv[0], mac, data[2] & 0x01 ? &rl : NULL, why,
			sizeof(why))) {
		fprintf(stderr, "fuzz_vnet: vnet_create: %s\n", why);
		abort();
	}
	fill = get_le16(data + 3);
	if (fill > FILL)
		fill = FILL;
	if (fill > size - 5)
		fill = size - 5;
	memset(mem.base, 0, RAM);
	memcpy(mem.base, data + 5, fill);
	off = 5 + fill;

	vfd_init(&d, vnet_dev(net), &mem);
	/* Features the device does not offer make FEATURES_OK fail; the
	 * driver goes on regardless, as a hostile one would. */
	(void)vfd_negotiate(&d, features_of(data[0]));
	vfd_program_raw(&d, VNET_RX_QUEUE, 1u << ((data[1] & 0xf) % 9), 0x1000, 0x0000,
			0x0800);
	vfd_program_raw(&d, VNET_TX_QUEUE, 1u << ((data[1] >> 4) % 9), 0x3000, 0x2000,
			0x2800);
	(void)vfd_driver_ok(&d);
	vfd_kick(&d, VNET_RX_QUEUE);
	vfd_kick(&d, VNET_TX_QUEUE);
	pump(&loop);

	/* Frames from the network; the socket may fill up (EAGAIN). */
	for (unsigned int i = 0; off + 2 <= size; i++) {
		size_t len = get_le16(data + off);

		off += 2;
		if (len > size - off)
			len = size - off;
		/* Every fourth frame, a length beyond the input: the device
		 * must drop what does not fit. */
		if (i % 4 == 3 && len < 64) {
			memset(junk, data[off - 1], sizeof(junk));
			(void)send(sv[1], junk, sizeof(junk) - len, MSG_DONTWAIT);
		} else {
			(void)send(sv[1], data + off, len, MSG_DONTWAIT);
		}
		off += len;
		if (i % 3 == 0)
			pump(&loop);
		if (i == 2 && (data[2] & 0x02)) {
			close(sv[1]);
			sv[1] = -1;
			break;
		}
	}
	pump(&loop);
	if (sv[1] >= 0)
		while (recv(sv[1], junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
	vfd_kick(&d, VNET_RX_QUEUE);
	vfd_kick(&d, VNET_TX_QUEUE);
	pump(&loop);
	vnet_destroy(vnet_dev(net));
	if (sv[1] >= 0)
		close(sv[1]);
	return 0;
}
