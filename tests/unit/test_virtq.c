/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues against a fake driver that breaks the rules on purpose.
 * Each hostile case shows that the VMM survives it, that a malformed chain
 * is completed with zero length (the queue goes on), and that a broken
 * queue makes no further progress until the driver resets the device.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <linux/virtio_mmio.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/queue.h"
#include "devices/virtio/virtio.h"
#include "memory.h"
#include "virtio_fake_driver.h"

/* Big enough for a chain past VIRTQ_MAX_CHAIN_BYTES; untouched pages cost
 * nothing (the memfd is sparse). */
#define LOW_SIZE (160ull * 1024 * 1024)
#define HIGH_GPA 0x100000000ull
#define HIGH_SIZE (64 * 1024)

#define RINGS 0x10000ull
#define QSIZE 16u
#define BUF 0x100000ull
#define TABLE 0x80000ull /* indirect tables */

#define F_VERSION_1 VIRTIO_BIT(VIRTIO_F_VERSION_1)
#define F_INDIRECT VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX)

/* ---- a tiny test device: two queues, eight bytes of config ------------------- */

struct tdev {
	struct virtio_dev vdev;
	unsigned int irqs, resets, activations;
};

static void tdev_irq(struct virtio_dev *dev)
{
	container_of(dev, struct tdev, vdev)->irqs++;
}

static void tdev_reset(struct virtio_dev *dev)
{
	container_of(dev, struct tdev, vdev)->resets++;
}

static int tdev_activate(struct virtio_dev *dev)
{
	container_of(dev, struct tdev, vdev)->activations++;
	return 0;
}

static const struct virtio_dev_ops tdev_ops = {
	.name = "tdev",
	.device_id = VIRTIO_ID_RNG,
	.features = VIRTIO_RING_FEATURES,
	.nr_queues = 2,
	.queue_max = { QSIZE, 64 },
	.config_size = 8,
	.activate = tdev_activate,
	.reset = tdev_reset,
};

struct fixture {
	struct guest_mem mem;
	struct tdev t;
	struct vfd d;
	struct virtq_chain chain;
};

static struct fixture fx;

static int setup(void **state)
{
	const struct gm_region r[2] = {
		{ .gpa = 0, .size = LOW_SIZE },
		{ .gpa = HIGH_GPA, .size = HIGH_SIZE },
	};

	memset(&fx, 0, sizeof(fx));
	assert_int_equal(gm_create(&fx.mem, r, 2), 0);
	assert_int_equal(virtio_dev_init(&fx.t.vdev, &tdev_ops, &fx.mem, tdev_irq, NULL),
			 0);
	vfd_init(&fx.d, &fx.t.vdev, &fx.mem);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	virtio_dev_destroy(&fx.t.vdev);
	gm_destroy(&fx.mem);
	return 0;
}

/* Device-side helpers: lock as the event-loop thread does. */
static int pop(unsigned int q)
{
	int ret;

	virtio_dev_lock(&fx.t.vdev);
	ret = virtio_dev_pop(&fx.t.vdev, q, &fx.chain);
	virtio_dev_unlock(&fx.t.vdev);
	return ret;
}

static int push(unsigned int q, uint16_t head, uint32_t len)
{
	int ret;

	virtio_dev_lock(&fx.t.vdev);
	ret = virtio_dev_push(&fx.t.vdev, q, head, len);
	virtio_dev_unlock(&fx.t.vdev);
	return ret;
}

static void notify(unsigned int q)
{
	virtio_dev_lock(&fx.t.vdev);
	virtio_dev_notify_queue(&fx.t.vdev, q);
	virtio_dev_unlock(&fx.t.vdev);
}

static void up(uint64_t features)
{
	unsigned int activations = fx.t.activations;

	assert_true(vfd_bringup(&fx.d, F_VERSION_1 | features, 2, QSIZE, RINGS));
	assert_int_equal(fx.t.activations, activations + 1);
}

static uint8_t *ram(uint64_t gpa)
{
	return gm_ptr(&fx.mem, gpa, 1);
}

/* A malformed chain: -EBADMSG, completed with zero length, queue goes on. */
static void expect_malformed(uint16_t head)
{
	uint32_t id, len;

	assert_int_equal(pop(0), -EBADMSG);
	assert_int_equal(fx.chain.head, head);
	assert_int_equal(fx.chain.nr_segs, 0);
	assert_int_equal(push(0, head, 0), 0);
	assert_true(vfd_used(&fx.d, 0, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_int_equal(pop(0), -EAGAIN);
	assert_false(fx.t.vdev.st.status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* A broken queue: -EIO now and for good; DEVICE_NEEDS_RESET and a config
 * interrupt; nothing reaches the used ring. */
static void expect_broken(void)
{
	uint16_t used = vfd_used_idx(&fx.d, 0);
	unsigned int irqs = fx.t.irqs;

	assert_int_equal(pop(0), -EIO);
	assert_true(fx.t.vdev.st.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(fx.t.vdev.st.interrupt_status & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(fx.t.irqs, irqs + 1);
	assert_true(vfd_rd(&fx.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Even a well-formed chain is not served any more. */
	vfd_desc(&fx.d, 0, 5, BUF, 8, 0, 0);
	vfd_publish(&fx.d, 0, 5);
	assert_int_equal(pop(0), -EIO);
	assert_int_equal(pop(1), -EIO);
	notify(0);
	assert_int_equal(vfd_used_idx(&fx.d, 0), used);
	assert_int_equal(fx.t.irqs, irqs + 1);
}

/* After a reset and a new bring-up the device works again. */
static void expect_recovery(void)
{
	const struct vfd_buf b = { BUF, 4, false };
	unsigned int resets = fx.t.resets;

	vfd_wr(&fx.d, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(fx.t.resets, resets + 1);
	assert_int_equal(vfd_status(&fx.d), 0);
	assert_true(vfd_bringup(&fx.d, F_VERSION_1 | VIRTIO_RING_FEATURES, 2, QSIZE,
				RINGS));
	vfd_post(&fx.d, 0, &b, 1);
	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.head, 0);
	assert_int_equal(push(0, 0, 0), 0);
}

/* ---- the good path ----------------------------------------------------------- */

static void round_trip(void **state)
{
	const struct vfd_buf b[2] = { { BUF, 16, false }, { BUF + 0x1000, 64, true } };
	uint32_t id, len;
	uint16_t head;

	(void)state;
	up(VIRTIO_RING_FEATURES);
	memcpy(ram(BUF), "request header..", 16);
	head = vfd_post(&fx.d, 0, b, 2);

	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.head, head);
	assert_int_equal(fx.chain.nr_segs, 2);
	assert_int_equal(fx.chain.nr_readable, 1);
	assert_int_equal(fx.chain.readable_len, 16);
	assert_int_equal(fx.chain.writable_len, 64);
	assert_ptr_equal(fx.chain.segs[0].addr, ram(BUF));
	assert_false(fx.chain.segs[0].write);
	assert_ptr_equal(fx.chain.segs[1].addr, ram(BUF + 0x1000));
	assert_true(fx.chain.segs[1].write);
	assert_true(virtq_chain_has_readable(&fx.chain, 16));
	assert_true(virtq_chain_has_writable(&fx.chain, 64));
	assert_int_equal(virtq_chain_write(&fx.chain, 0, "response", 8), 8);
	assert_int_equal(pop(0), -EAGAIN);

	assert_int_equal(push(0, head, 8), 0);
	assert_int_equal(fx.t.irqs, 0);
	notify(0);
	assert_int_equal(fx.t.irqs, 1);
	assert_int_equal(vfd_rd(&fx.d, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING);
	assert_true(vfd_used(&fx.d, 0, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 8);
	assert_memory_equal(ram(BUF + 0x1000), "response", 8);
	assert_false(vfd_used(&fx.d, 0, &id, &len));
	/* Nothing new pushed: no second interrupt. */
	notify(0);
	assert_int_equal(fx.t.irqs, 1);
}

static void whole_ring_then_wrap(void **state)
{
	const struct vfd_buf b = { BUF, 4, false };
	uint32_t id, len;

	(void)state;
	up(0);
	/* Exactly `size` entries outstanding is legal; go round the 16-bit
	 * index space too. */
	for (unsigned int round = 0; round < 8200; round++) {
		for (unsigned int i = 0; i < QSIZE; i++)
			vfd_post(&fx.d, 0, &b, 1);
		for (unsigned int i = 0; i < QSIZE; i++) {
			assert_int_equal(pop(0), 0);
			assert_int_equal(push(0, fx.chain.head, 0), 0);
		}
		assert_int_equal(pop(0), -EAGAIN);
		for (unsigned int i = 0; i < QSIZE; i++)
			assert_true(vfd_used(&fx.d, 0, &id, &len));
	}
	assert_false(fx.t.vdev.st.status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void zero_length_descriptors(void **state)
{
	(void)state;
	up(0);
	vfd_desc(&fx.d, 0, 0, 0xdeadbeef0000ull, 0, VRING_DESC_F_NEXT, 1);
	vfd_desc(&fx.d, 0, 1, BUF, 16, VRING_DESC_F_NEXT, 2);
	vfd_desc(&fx.d, 0, 2, 0, 0, VRING_DESC_F_WRITE, 0);
	vfd_publish(&fx.d, 0, 0);
	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.nr_segs, 1);
	assert_int_equal(fx.chain.readable_len, 16);
	assert_int_equal(fx.chain.writable_len, 0);
}

static void buffer_in_high_region(void **state)
{
	(void)state;
	up(0);
	vfd_desc(&fx.d, 0, 0, HIGH_GPA + HIGH_SIZE - 16, 16, VRING_DESC_F_WRITE, 0);
	vfd_publish(&fx.d, 0, 0);
	assert_int_equal(pop(0), 0);
	assert_ptr_equal(fx.chain.segs[0].addr,
			 gm_ptr(&fx.mem, HIGH_GPA + HIGH_SIZE - 16, 16));
}

/* ---- malformed chains -------------------------------------------------------- */

static void chain_loop(void **state)
{
	(void)state;
	up(0);
	vfd_desc(&fx.d, 0, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	vfd_desc(&fx.d, 0, 1, BUF, 8, VRING_DESC_F_NEXT, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);

	/* A descriptor pointing at itself, all zero-length: the walk still
	 * ends after `size` steps. */
	vfd_desc(&fx.d, 0, 3, 0, 0, VRING_DESC_F_NEXT, 3);
	vfd_publish(&fx.d, 0, 3);
	expect_malformed(3);

	/* The longest legal chain: all `size` descriptors. */
	for (uint16_t i = 0; i < QSIZE; i++)
		vfd_desc(&fx.d, 0, i, BUF, 1,
			 i + 1u < QSIZE ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	vfd_publish(&fx.d, 0, 0);
	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.nr_segs, QSIZE);
}

static void next_out_of_range(void **state)
{
	(void)state;
	up(0);
	vfd_desc(&fx.d, 0, 0, BUF, 8, VRING_DESC_F_NEXT, QSIZE);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);
	vfd_desc(&fx.d, 0, 1, BUF, 8, VRING_DESC_F_NEXT, 0xffff);
	vfd_publish(&fx.d, 0, 1);
	expect_malformed(1);
}

static void descriptor_outside_ram(void **state)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ LOW_SIZE - 8, 16 },             /* ends past RAM */
		{ LOW_SIZE, 1 },                  /* starts at the end */
		/* across the hole between the regions */
		{ LOW_SIZE - 8, (uint32_t)(HIGH_GPA - LOW_SIZE + 16) },
		{ HIGH_GPA + HIGH_SIZE - 8, 16 }, /* past the high region */
		{ UINT64_MAX - 7, 16 },           /* address + length wraps */
		{ 0xfffffffffffff000ull, UINT32_MAX },
		{ 0, UINT32_MAX },                /* longer than RAM */
	};

	(void)state;
	up(0);
	for (uint16_t i = 0; i < ARRAY_SIZE(bad); i++) {
		vfd_desc(&fx.d, 0, i, bad[i].addr, bad[i].len, 0, 0);
		vfd_publish(&fx.d, 0, i);
		expect_malformed(i);
	}
	/* In the middle of a chain, too. */
	vfd_desc(&fx.d, 0, 10, BUF, 16, VRING_DESC_F_NEXT, 11);
	vfd_desc(&fx.d, 0, 11, UINT64_MAX - 7, 16, VRING_DESC_F_WRITE, 0);
	vfd_publish(&fx.d, 0, 10);
	expect_malformed(10);
}

static void readable_after_writable(void **state)
{
	(void)state;
	up(0);
	vfd_desc(&fx.d, 0, 0, BUF, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	vfd_desc(&fx.d, 0, 1, BUF + 16, 16, 0, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);
}

/* A device that needs a readable header sees that the chain's first bytes
 * are device-writable and completes it with zero length. */
static void header_wrong_direction(void **state)
{
	const struct vfd_buf wrong[2] = { { BUF, 16, true }, { BUF + 16, 1, true } };
	const struct vfd_buf split[3] = {
		{ BUF, 8, false }, { BUF + 8, 8, false }, { BUF + 16, 1, true } };
	uint8_t hdr[16];

	(void)state;
	up(0);
	vfd_post(&fx.d, 0, wrong, 2);
	assert_int_equal(pop(0), 0);
	assert_false(virtq_chain_has_readable(&fx.chain, 16));
	assert_false(virtq_chain_has_readable(&fx.chain, 1));
	assert_true(virtq_chain_has_readable(&fx.chain, 0));
	assert_true(virtq_chain_has_writable(&fx.chain, 17));
	assert_false(virtq_chain_has_writable(&fx.chain, 18));
	assert_int_equal(virtq_chain_read(&fx.chain, 0, hdr, sizeof(hdr)), 0);
	assert_int_equal(push(0, fx.chain.head, 0), 0);

	/* A header split over two readable descriptors is fine. */
	memcpy(ram(BUF), "0123456789abcdef", 16);
	vfd_post(&fx.d, 0, split, 3);
	assert_int_equal(pop(0), 0);
	assert_true(virtq_chain_has_readable(&fx.chain, 16));
	assert_false(virtq_chain_has_readable(&fx.chain, 17));
	assert_true(virtq_chain_has_writable(&fx.chain, 1));
	assert_int_equal(virtq_chain_read(&fx.chain, 0, hdr, sizeof(hdr)), 16);
	assert_memory_equal(hdr, "0123456789abcdef", 16);
}

static void too_many_segments(void **state)
{
	(void)state;
	up(VIRTIO_RING_FEATURES);
	/* An indirect table of VIRTQ_MAX_SEGS + 1 one-byte buffers. */
	for (uint16_t i = 0; i <= VIRTQ_MAX_SEGS; i++)
		vfd_desc_at(&fx.d, TABLE, i, BUF + i, 1,
			    i < VIRTQ_MAX_SEGS ? VRING_DESC_F_NEXT : 0,
			    (uint16_t)(i + 1));
	vfd_desc(&fx.d, 0, 0, TABLE, 16 * (VIRTQ_MAX_SEGS + 1), VRING_DESC_F_INDIRECT, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);

	/* VIRTQ_MAX_SEGS exactly is accepted. */
	vfd_desc_at(&fx.d, TABLE, VIRTQ_MAX_SEGS - 1, BUF, 1, 0, 0);
	vfd_desc(&fx.d, 0, 1, TABLE, 16 * VIRTQ_MAX_SEGS, VRING_DESC_F_INDIRECT, 0);
	vfd_publish(&fx.d, 0, 1);
	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.nr_segs, VIRTQ_MAX_SEGS);
}

static void too_many_bytes(void **state)
{
	const uint32_t big = VIRTQ_MAX_CHAIN_BYTES / 2 + 1;

	(void)state;
	up(0);
	/* Each buffer is in RAM; together they pass the cap. */
	vfd_desc(&fx.d, 0, 0, 0, big, VRING_DESC_F_NEXT, 1);
	vfd_desc(&fx.d, 0, 1, 0, big, VRING_DESC_F_WRITE, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);

	vfd_desc(&fx.d, 0, 2, 0, big, VRING_DESC_F_NEXT, 3);
	vfd_desc(&fx.d, 0, 3, 0, big - 2, VRING_DESC_F_WRITE, 0);
	vfd_publish(&fx.d, 0, 2);
	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.readable_len, big);
	assert_int_equal(fx.chain.writable_len, big - 2);
}

/* ---- indirect descriptors ---------------------------------------------------- */

static void indirect_good(void **state)
{
	(void)state;
	up(VIRTIO_RING_FEATURES);
	vfd_desc_at(&fx.d, TABLE, 0, BUF, 16, VRING_DESC_F_NEXT, 2);
	vfd_desc_at(&fx.d, TABLE, 2, BUF + 16, 32,
		    VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	vfd_desc_at(&fx.d, TABLE, 1, BUF + 48, 8, VRING_DESC_F_WRITE, 0);
	/* The WRITE flag of the indirect descriptor itself is ignored
	 * (2.7.5.3.2). */
	vfd_desc(&fx.d, 0, 4, TABLE, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	vfd_publish(&fx.d, 0, 4);
	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.head, 4);
	assert_int_equal(fx.chain.nr_segs, 3);
	assert_int_equal(fx.chain.readable_len, 16);
	assert_int_equal(fx.chain.writable_len, 40);
	assert_int_equal(push(0, 4, 40), 0);

	/* Direct descriptors followed by one indirect (2.7.5.3.2). */
	vfd_desc(&fx.d, 0, 6, BUF, 4, VRING_DESC_F_NEXT, 7);
	vfd_desc(&fx.d, 0, 7, TABLE, 48, VRING_DESC_F_INDIRECT, 0);
	vfd_desc_at(&fx.d, TABLE, 0, BUF, 16, VRING_DESC_F_WRITE, 0);
	vfd_publish(&fx.d, 0, 6);
	assert_int_equal(pop(0), 0);
	assert_int_equal(fx.chain.nr_segs, 2);
	assert_int_equal(fx.chain.readable_len, 4);
	assert_int_equal(fx.chain.writable_len, 16);
}

static void indirect_not_negotiated(void **state)
{
	(void)state;
	up(F_EVENT_IDX);
	vfd_desc_at(&fx.d, TABLE, 0, BUF, 16, 0, 0);
	vfd_desc(&fx.d, 0, 0, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);
}

static void indirect_misconfigured(void **state)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
	} bad[] = {
		{ TABLE, 0, 0 },                     /* empty table */
		{ TABLE, 40, 0 },                    /* not a multiple of 16 */
		{ TABLE, 33, 0 },
		{ TABLE, 15, 0 },
		{ TABLE, 16 * (VIRTQ_MAX_INDIRECT + 1), 0 }, /* over the cap */
		{ LOW_SIZE - 16, 32, 0 },            /* table past RAM */
		{ UINT64_MAX - 15, 32, 0 },          /* table address wraps */
		{ TABLE, 32, VRING_DESC_F_NEXT },    /* INDIRECT with NEXT */
	};

	(void)state;
	up(VIRTIO_RING_FEATURES);
	vfd_desc_at(&fx.d, TABLE, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
	vfd_desc_at(&fx.d, TABLE, 1, BUF, 16, 0, 0);
	for (uint16_t i = 0; i < ARRAY_SIZE(bad); i++) {
		vfd_desc(&fx.d, 0, i, bad[i].addr, bad[i].len,
			 (uint16_t)(VRING_DESC_F_INDIRECT | bad[i].flags),
			 (uint16_t)(i + 1));
		vfd_publish(&fx.d, 0, i);
		expect_malformed(i);
	}
}

static void indirect_nested(void **state)
{
	(void)state;
	up(VIRTIO_RING_FEATURES);
	vfd_desc_at(&fx.d, TABLE + 0x100, 0, BUF, 16, 0, 0);
	vfd_desc_at(&fx.d, TABLE, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
	vfd_desc_at(&fx.d, TABLE, 1, TABLE + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	vfd_desc(&fx.d, 0, 0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);

	/* A table pointing at itself. */
	vfd_desc_at(&fx.d, TABLE, 0, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	vfd_desc(&fx.d, 0, 1, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	vfd_publish(&fx.d, 0, 1);
	expect_malformed(1);
}

static void indirect_bad_chain(void **state)
{
	(void)state;
	up(VIRTIO_RING_FEATURES);
	/* A loop inside the table. */
	vfd_desc_at(&fx.d, TABLE, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
	vfd_desc_at(&fx.d, TABLE, 1, BUF, 16, VRING_DESC_F_NEXT, 0);
	vfd_desc(&fx.d, 0, 0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);

	/* next within the queue size but past the table's len/16. */
	vfd_desc_at(&fx.d, TABLE, 1, BUF, 16, VRING_DESC_F_NEXT, 2);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);

	/* A buffer of the table outside RAM. */
	vfd_desc_at(&fx.d, TABLE, 1, LOW_SIZE - 4, 16, 0, 0);
	vfd_publish(&fx.d, 0, 0);
	expect_malformed(0);
}

/* ---- broken queues ----------------------------------------------------------- */

static void avail_index_jump(void **state)
{
	(void)state;
	up(0);
	vfd_desc(&fx.d, 0, 0, BUF, 8, 0, 0);
	vfd_set_avail_idx(&fx.d, 0, QSIZE + 1);
	expect_broken();
	/* Putting the index back does not revive the queue. */
	vfd_set_avail_idx(&fx.d, 0, 1);
	assert_int_equal(pop(0), -EIO);
	expect_recovery();
}

static void avail_index_backwards(void **state)
{
	const struct vfd_buf b = { BUF, 4, false };

	(void)state;
	up(0);
	vfd_post(&fx.d, 0, &b, 1);
	assert_int_equal(pop(0), 0);
	assert_int_equal(push(0, fx.chain.head, 0), 0);
	/* One behind the device reads as 65535 ahead. */
	vfd_set_avail_idx(&fx.d, 0, 0);
	expect_broken();
}

static void head_out_of_range(void **state)
{
	(void)state;
	up(0);
	vfd_publish(&fx.d, 0, QSIZE);
	expect_broken();
	expect_recovery();
}

static void head_available_twice(void **state)
{
	const struct vfd_buf b[2] = { { BUF, 16, false }, { BUF + 16, 16, true } };
	uint16_t head;

	(void)state;
	up(0);
	head = vfd_post(&fx.d, 0, b, 2);
	assert_int_equal(pop(0), 0);
	/* The driver offers the same chain again while the device holds it. */
	vfd_publish(&fx.d, 0, head);
	expect_broken();
	/* The device cannot complete it (twice or at all) any more. */
	assert_int_equal(push(0, head, 16), -EIO);
	assert_int_equal(vfd_used_idx(&fx.d, 0), 0);
	expect_recovery();
}

static void push_not_in_flight(void **state)
{
	const struct vfd_buf b = { BUF, 4, false };

	(void)state;
	up(0);
	assert_int_equal(push(0, 3, 0), -EINVAL);     /* never popped */
	assert_int_equal(push(0, QSIZE, 0), -EINVAL); /* out of range */
	assert_int_equal(push(2, 0, 0), -EINVAL);     /* no such queue */
	vfd_post(&fx.d, 0, &b, 1);
	assert_int_equal(pop(0), 0);
	assert_int_equal(push(0, fx.chain.head, 0), 0);
	assert_int_equal(push(0, fx.chain.head, 0), -EINVAL); /* twice */
	assert_int_equal(vfd_used_idx(&fx.d, 0), 1);
	assert_false(fx.t.vdev.st.status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void push_after_reset(void **state)
{
	const struct vfd_buf b = { BUF, 4, false };
	uint16_t head;

	(void)state;
	up(0);
	vfd_post(&fx.d, 0, &b, 1);
	assert_int_equal(pop(0), 0);
	head = fx.chain.head;
	vfd_wr(&fx.d, VIRTIO_MMIO_STATUS, 0);
	/* A completion that raced with the reset is dropped. */
	assert_int_equal(push(0, head, 4), -EINVAL);
	assert_int_equal(vfd_used_idx(&fx.d, 0), 0);
	assert_int_equal(pop(0), -EAGAIN);
	/* And after a new bring-up, still not in flight. */
	up(0);
	assert_int_equal(push(0, head, 4), -EINVAL);
}

/* ---- notification suppression ------------------------------------------------ */

static void serve_one(uint16_t *used_idx)
{
	const struct vfd_buf b = { BUF, 4, true };
	uint32_t id, len;

	vfd_post(&fx.d, 0, &b, 1);
	assert_int_equal(pop(0), 0);
	assert_int_equal(push(0, fx.chain.head, 4), 0);
	notify(0);
	assert_true(vfd_used(&fx.d, 0, &id, &len));
	(*used_idx)++;
}

static void event_idx_used_event(void **state)
{
	uint16_t used = 0;

	(void)state;
	up(F_EVENT_IDX);
	/* used_event 0: interrupt when the used index passes 0. */
	vfd_set_used_event(&fx.d, 0, 0);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 1);
	/* used_event still 0: no interrupt for entries 1 and 2. */
	serve_one(&used);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 1);
	/* The driver asks for one after entry 5. */
	vfd_set_used_event(&fx.d, 0, 5);
	serve_one(&used);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 1);
	serve_one(&used); /* used index 5 -> 6 crosses used_event 5 */
	assert_int_equal(fx.t.irqs, 2);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 2);
	/* Several pushes in one batch covering used_event: one interrupt. */
	vfd_set_used_event(&fx.d, 0, 8);
	for (int i = 0; i < 3; i++) {
		const struct vfd_buf b = { BUF, 4, true };

		vfd_post(&fx.d, 0, &b, 1);
		assert_int_equal(pop(0), 0);
		assert_int_equal(push(0, fx.chain.head, 4), 0);
	}
	notify(0);
	assert_int_equal(fx.t.irqs, 3);
	/* The flag is ignored when EVENT_IDX is negotiated. */
	vfd_set_avail_flags(&fx.d, 0, VRING_AVAIL_F_NO_INTERRUPT);
	vfd_set_used_event(&fx.d, 0, 10);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 4);
}

static void event_idx_avail_event(void **state)
{
	const struct vfd_buf b = { BUF, 4, false };

	(void)state;
	up(F_EVENT_IDX);
	assert_int_equal(vfd_avail_event(&fx.d, 0), 0);
	vfd_post(&fx.d, 0, &b, 1);
	vfd_post(&fx.d, 0, &b, 1);
	assert_int_equal(pop(0), 0);
	assert_int_equal(pop(0), 0);
	/* Not written while there is work. */
	assert_int_equal(vfd_avail_event(&fx.d, 0), 0);
	/* An empty ring asks for a kick at the next buffer. */
	assert_int_equal(pop(0), -EAGAIN);
	assert_int_equal(vfd_avail_event(&fx.d, 0), 2);
}

static void no_interrupt_flag(void **state)
{
	uint16_t used = 0;

	(void)state;
	up(0);
	vfd_set_avail_flags(&fx.d, 0, VRING_AVAIL_F_NO_INTERRUPT);
	serve_one(&used);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 0);
	assert_int_equal(fx.t.vdev.st.interrupt_status, 0);
	vfd_set_avail_flags(&fx.d, 0, 0);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 1);
	/* The used_event field means nothing without EVENT_IDX. */
	vfd_set_used_event(&fx.d, 0, 100);
	serve_one(&used);
	assert_int_equal(fx.t.irqs, 2);
}

/* ---- chain helpers ----------------------------------------------------------- */

static void chain_copy_and_iov(void **state)
{
	const struct vfd_buf b[4] = {
		{ BUF, 3, false },
		{ BUF + 0x100, 5, false },
		{ BUF + 0x200, 2, true },
		{ BUF + 0x300, 6, true },
	};
	struct iovec iov[4];
	uint8_t buf[16];

	(void)state;
	up(0);
	memcpy(ram(BUF), "abc", 3);
	memcpy(ram(BUF + 0x100), "defgh", 5);
	vfd_post(&fx.d, 0, b, 4);
	assert_int_equal(pop(0), 0);

	assert_int_equal(virtq_chain_read(&fx.chain, 0, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	assert_int_equal(virtq_chain_read(&fx.chain, 2, buf, 4), 4);
	assert_memory_equal(buf, "cdef", 4);
	assert_int_equal(virtq_chain_read(&fx.chain, 8, buf, 4), 0);
	assert_int_equal(virtq_chain_read(&fx.chain, UINT64_MAX, buf, 4), 0);

	assert_int_equal(virtq_chain_write(&fx.chain, 1, "WXYZ", 4), 4);
	assert_memory_equal(ram(BUF + 0x201), "W", 1);
	assert_memory_equal(ram(BUF + 0x300), "XYZ", 3);
	assert_int_equal(virtq_chain_write(&fx.chain, 6, "123456", 6), 2);

	assert_int_equal(virtq_chain_iov(&fx.chain, false, 1, 100, iov, 4), 2);
	assert_ptr_equal(iov[0].iov_base, ram(BUF + 1));
	assert_int_equal(iov[0].iov_len, 2);
	assert_int_equal(iov[1].iov_len, 5);
	assert_int_equal(virtq_chain_iov(&fx.chain, true, 0, 4, iov, 4), 2);
	assert_int_equal(iov[0].iov_len, 2);
	assert_int_equal(iov[1].iov_len, 2);
	assert_int_equal(virtq_chain_iov(&fx.chain, true, 0, 100, iov, 1), 1);
	assert_int_equal(iov[0].iov_len, 2);
}

/* ---- virtq_init on its own --------------------------------------------------- */

static int init(uint32_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	static struct virtq vq;

	return virtq_init(&vq, &fx.mem, size, desc, avail, used, 0);
}

static void init_checks(void **state)
{
	struct virtq vq;

	(void)state;
	assert_int_equal(virtq_init(&vq, &fx.mem, 16, RINGS, RINGS + 256, RINGS + 512, 0),
			 0);
	assert_true(virtq_is_ready(&vq));
	assert_int_equal(virtq_init(&vq, &fx.mem, 0, RINGS, RINGS + 256, RINGS + 512, 0),
			 -EINVAL);
	assert_false(virtq_is_ready(&vq));
	/* Sizes: a power of two up to VIRTQ_MAX_SIZE. */
	assert_int_equal(init(12, RINGS, RINGS + 256, RINGS + 512), -EINVAL);
	assert_int_equal(init(2048, RINGS, RINGS + 0x8000, RINGS + 0x10000), -EINVAL);
	assert_int_equal(init(0x10000, RINGS, RINGS + 256, RINGS + 512), -EINVAL);
	assert_int_equal(init(1024, RINGS, RINGS + 0x4000, RINGS + 0x5000), 0);
	/* Alignment: 16, 2, 4. */
	assert_int_equal(init(16, RINGS + 8, RINGS + 256, RINGS + 512), -EINVAL);
	assert_int_equal(init(16, RINGS, RINGS + 257, RINGS + 512), -EINVAL);
	assert_int_equal(init(16, RINGS, RINGS + 256, RINGS + 514), -EINVAL);
	/* The used ring with its avail_event is 4 + 8 * 16 + 2 bytes. */
	assert_int_equal(init(16, RINGS, RINGS + 256, LOW_SIZE - 136), 0);
	assert_int_equal(init(16, RINGS, RINGS + 256, LOW_SIZE - 132), -EFAULT);
	/* The avail ring with its used_event is 4 + 2 * 16 + 2 bytes. */
	assert_int_equal(init(16, RINGS, LOW_SIZE - 38, RINGS + 512), 0);
	assert_int_equal(init(16, RINGS, LOW_SIZE - 36, RINGS + 512), -EFAULT);
	assert_int_equal(init(16, LOW_SIZE - 240, RINGS + 256, RINGS + 512), -EFAULT);
	assert_int_equal(init(16, 0xfffffffffffffff0ull, RINGS + 256, RINGS + 512),
			 -EFAULT);
	/* A pop on a queue that is not set up finds nothing. */
	virtq_reset(&vq);
	assert_int_equal(virtq_pop(&vq, &fx.mem, &fx.chain), -EAGAIN);
	assert_int_equal(virtq_push(&vq, 0, 0), -EINVAL);
	assert_false(virtq_needs_notify(&vq));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(round_trip),
		T(whole_ring_then_wrap),
		T(zero_length_descriptors),
		T(buffer_in_high_region),
		T(chain_loop),
		T(next_out_of_range),
		T(descriptor_outside_ram),
		T(readable_after_writable),
		T(header_wrong_direction),
		T(too_many_segments),
		T(too_many_bytes),
		T(indirect_good),
		T(indirect_not_negotiated),
		T(indirect_misconfigured),
		T(indirect_nested),
		T(indirect_bad_chain),
		T(avail_index_jump),
		T(avail_index_backwards),
		T(head_out_of_range),
		T(head_available_twice),
		T(push_not_in_flight),
		T(push_after_reset),
		T(event_idx_used_event),
		T(event_idx_avail_event),
		T(no_interrupt_flag),
		T(chain_copy_and_iov),
		T(init_checks),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
