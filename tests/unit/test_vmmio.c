/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport register by register, driven by the fake driver:
 * identity, feature negotiation, the status state machine (legal and illegal
 * steps, reset from every state), queue configuration and its validation at
 * DRIVER_OK, interrupts, configuration space bounds and access widths.
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
#include "devices/virtio/virtio.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM_SIZE (1024 * 1024)
#define RINGS 0x10000ull
#define BUF 0x80000ull

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER VIRTIO_CONFIG_S_DRIVER
#define S_FEATURES_OK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NEEDS_RESET VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAILED VIRTIO_CONFIG_S_FAILED
#define S_LIVE (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)

#define F_VERSION_1 VIRTIO_BIT(VIRTIO_F_VERSION_1)
#define F_DEV0 VIRTIO_BIT(0) /* a device-specific feature the test device offers */

/* ---- a tiny test device: two queues (16 and 64), 12 bytes of config ---------- */

#define CONFIG_SIZE 12

struct tdev {
	struct virtio_dev vdev;
	uint8_t config[CONFIG_SIZE];
	unsigned int irqs, resets, activations, notified[3];
	int activate_ret;
	bool serve; /* queue_notify answers requests on queue 0 */
};

static struct tdev *to_tdev(struct virtio_dev *dev)
{
	return container_of(dev, struct tdev, vdev);
}

static void tdev_irq(struct virtio_dev *dev)
{
	to_tdev(dev)->irqs++;
}

static void tdev_config_read(struct virtio_dev *dev, uint32_t off, void *data,
			     unsigned int size)
{
	memcpy(data, to_tdev(dev)->config + off, size);
}

static void tdev_config_write(struct virtio_dev *dev, uint32_t off, const void *data,
			      unsigned int size)
{
	memcpy(to_tdev(dev)->config + off, data, size);
}

/* Echo: copy the readable part into the writable part, as a device on the
 * vCPU thread would (the lock is held). */
static void tdev_serve(struct virtio_dev *dev, unsigned int q)
{
	struct virtq_chain chain;
	uint8_t buf[64];
	int ret;

	while ((ret = virtio_dev_pop(dev, q, &chain)) != -EAGAIN && ret != -EIO) {
		size_t n;

		if (ret == -EBADMSG) {
			virtio_dev_push(dev, q, chain.head, 0);
			continue;
		}
		n = virtq_chain_read(&chain, 0, buf, sizeof(buf));
		n = virtq_chain_write(&chain, 0, buf, n);
		virtio_dev_push(dev, q, chain.head, (uint32_t)n);
	}
	virtio_dev_notify_queue(dev, q);
}

static void tdev_notify(struct virtio_dev *dev, unsigned int q)
{
	struct tdev *t = to_tdev(dev);

	t->notified[q < 2 ? q : 2]++;
	if (t->serve)
		tdev_serve(dev, q);
}

static int tdev_activate(struct virtio_dev *dev)
{
	to_tdev(dev)->activations++;
	return to_tdev(dev)->activate_ret;
}

static void tdev_reset(struct virtio_dev *dev)
{
	to_tdev(dev)->resets++;
}

static const struct virtio_dev_ops tdev_ops = {
	.name = "tdev",
	.device_id = VIRTIO_ID_CONSOLE,
	.features = F_DEV0 | VIRTIO_RING_FEATURES,
	.nr_queues = 2,
	.queue_max = { 16, 64 },
	.config_size = CONFIG_SIZE,
	.config_read = tdev_config_read,
	.config_write = tdev_config_write,
	.queue_notify = tdev_notify,
	.activate = tdev_activate,
	.reset = tdev_reset,
};

static struct guest_mem mem;
static struct tdev t;
static struct vfd d;

static int setup(void **state)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(gm_create(&mem, &r, 1), 0);
	assert_int_equal(virtio_dev_init(&t.vdev, &tdev_ops, &mem, tdev_irq, NULL), 0);
	for (unsigned int i = 0; i < CONFIG_SIZE; i++)
		t.config[i] = (uint8_t)(0xa0 + i);
	vfd_init(&d, &t.vdev, &mem);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	virtio_dev_destroy(&t.vdev);
	gm_destroy(&mem);
	return 0;
}

static uint32_t status(void)
{
	return vfd_status(&d);
}

static uint32_t isr(void)
{
	return vfd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS);
}

static void set_status(uint32_t v)
{
	vfd_wr(&d, VIRTIO_MMIO_STATUS, v);
}

/* Walk the status register to one of the driver's states. */
static void reach(uint32_t s)
{
	set_status(0);
	if (s & S_ACK)
		set_status(S_ACK);
	if (s & S_DRIVER)
		set_status(S_ACK | S_DRIVER);
	if (s & S_FEATURES_OK) {
		vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
		vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
		set_status(S_ACK | S_DRIVER | S_FEATURES_OK);
	}
	if (s & S_DRIVER_OK)
		set_status(S_LIVE);
	assert_int_equal(status(), s);
}

/* ---- identity and access widths ---------------------------------------------- */

static void identity(void **state)
{
	(void)state;
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_VENDOR_ID), VMMIO_VENDOR);
	/* No shared memory regions: length -1 (4.2.2). */
	vfd_wr(&d, VIRTIO_MMIO_SHM_SEL, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_SHM_LEN_LOW), UINT32_MAX);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_SHM_LEN_HIGH), UINT32_MAX);
	/* Legacy, write-only, unknown and unaligned offsets read zero. */
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_GUEST_PAGE_SIZE), 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_PFN), 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	assert_int_equal(vfd_rd(&d, 0x002), 0);
	assert_int_equal(vfd_rd(&d, 0x0f0), 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
}

static void bad_widths(void **state)
{
	static const unsigned int sizes[] = { 1, 2, 8 };
	uint8_t buf[8];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		memset(buf, 0xcc, sizeof(buf));
		vmmio_read(&t.vdev, VIRTIO_MMIO_MAGIC_VALUE, buf, sizes[i]);
		for (unsigned int j = 0; j < sizes[i]; j++)
			assert_int_equal(buf[j], 0);
		memset(buf, 0, sizeof(buf));
		buf[0] = S_ACK;
		vmmio_write(&t.vdev, VIRTIO_MMIO_STATUS, buf, sizes[i]);
		assert_int_equal(status(), 0);
	}
	/* The same write with the right width works. */
	set_status(S_ACK);
	assert_int_equal(status(), S_ACK);
	/* A narrow reset is ignored too. */
	buf[0] = 0;
	vmmio_write(&t.vdev, VIRTIO_MMIO_STATUS, buf, 1);
	assert_int_equal(status(), S_ACK);
	assert_int_equal(t.resets, 0);
}

/* ---- features ---------------------------------------------------------------- */

static void device_features(void **state)
{
	(void)state;
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES),
			 (uint32_t)(F_DEV0 | VIRTIO_RING_FEATURES));
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, UINT32_MAX);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 0);
}

static void driver_features_only_before_features_ok(void **state)
{
	(void)state;
	/* Before DRIVER: ignored. */
	reach(S_ACK);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	assert_int_equal(t.vdev.st.driver_features, 0);
	/* In DRIVER: taken, both halves; other selectors ignored. */
	set_status(S_ACK | S_DRIVER);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, UINT32_MAX);
	assert_int_equal(t.vdev.st.driver_features, F_VERSION_1 | F_DEV0);
	set_status(S_ACK | S_DRIVER | S_FEATURES_OK);
	assert_int_equal(status(), S_ACK | S_DRIVER | S_FEATURES_OK);
	/* After FEATURES_OK: frozen. */
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX));
	assert_int_equal(t.vdev.st.driver_features, F_VERSION_1 | F_DEV0);
	virtio_dev_lock(&t.vdev);
	assert_true(virtio_dev_has_feature(&t.vdev, 0));
	assert_true(virtio_dev_has_feature(&t.vdev, VIRTIO_F_VERSION_1));
	assert_false(virtio_dev_has_feature(&t.vdev, VIRTIO_RING_F_EVENT_IDX));
	assert_false(virtio_dev_has_feature(&t.vdev, 200));
	virtio_dev_unlock(&t.vdev);
}

static void features_ok_refused(void **state)
{
	(void)state;
	/* Without VERSION_1: a legacy driver, which we do not serve. */
	assert_false(vfd_negotiate(&d, F_DEV0));
	assert_int_equal(status(), S_ACK | S_DRIVER);
	/* A feature never offered. */
	assert_false(vfd_negotiate(&d, F_VERSION_1 | VIRTIO_BIT(5)));
	assert_false(vfd_negotiate(&d, F_VERSION_1 | VIRTIO_BIT(VIRTIO_F_RING_PACKED)));
	/* Features are not negotiated until FEATURES_OK sticks. */
	virtio_dev_lock(&t.vdev);
	assert_false(virtio_dev_has_feature(&t.vdev, VIRTIO_F_VERSION_1));
	virtio_dev_unlock(&t.vdev);
	/* The driver may try again with a subset. */
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	set_status(S_ACK | S_DRIVER | S_FEATURES_OK);
	assert_int_equal(status(), S_ACK | S_DRIVER | S_FEATURES_OK);
	assert_true(vfd_negotiate(&d, F_VERSION_1 | F_DEV0 | VIRTIO_RING_FEATURES));
}

/* ---- the status state machine ------------------------------------------------ */

static void status_legal_path(void **state)
{
	(void)state;
	assert_int_equal(status(), 0);
	set_status(S_ACK);
	assert_int_equal(status(), S_ACK);
	set_status(S_ACK | S_DRIVER);
	assert_int_equal(status(), S_ACK | S_DRIVER);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	set_status(S_ACK | S_DRIVER | S_FEATURES_OK);
	assert_int_equal(status(), S_ACK | S_DRIVER | S_FEATURES_OK);
	/* Writing back what was read changes nothing. */
	set_status(S_ACK | S_DRIVER | S_FEATURES_OK);
	assert_int_equal(status(), S_ACK | S_DRIVER | S_FEATURES_OK);
	assert_int_equal(t.activations, 0);
	/* No queue enabled: legal, the device activates without queues. */
	set_status(S_LIVE);
	assert_int_equal(status(), S_LIVE);
	assert_int_equal(t.activations, 1);
	set_status(S_LIVE);
	assert_int_equal(t.activations, 1);
	virtio_dev_lock(&t.vdev);
	assert_true(virtio_dev_is_active(&t.vdev));
	virtio_dev_unlock(&t.vdev);
	/* FAILED on top of DRIVER_OK. */
	set_status(S_LIVE | S_FAILED);
	assert_int_equal(status(), S_LIVE | S_FAILED);
}

static void status_illegal_steps(void **state)
{
	static const struct {
		uint32_t from, write;
	} bad[] = {
		{ 0, S_DRIVER },                         /* skips ACKNOWLEDGE */
		{ 0, S_ACK | S_DRIVER },                 /* two steps at once */
		{ 0, S_LIVE },
		{ 0, 0x100 | S_ACK },                    /* bits beyond the byte */
		{ S_ACK, S_ACK | S_FEATURES_OK },
		{ S_ACK, S_ACK | S_DRIVER_OK },
		{ S_ACK | S_DRIVER, S_ACK | S_DRIVER | S_DRIVER_OK }, /* no FEATURES_OK */
		{ S_ACK | S_DRIVER, S_LIVE },
		{ S_ACK | S_DRIVER, S_ACK },             /* clearing a bit */
		{ S_ACK | S_DRIVER | S_FEATURES_OK, S_ACK | S_DRIVER },
		{ S_ACK | S_DRIVER | S_FEATURES_OK,              /* an unknown bit */
		  S_ACK | S_DRIVER | S_FEATURES_OK | 0x10 },
		{ S_LIVE, S_ACK },
		{ S_LIVE, S_LIVE | 0x20 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		reach(bad[i].from);
		set_status(bad[i].write);
		assert_int_equal(status(), bad[i].from);
	}
	/* Activation only happened for the legal DRIVER_OK steps of reach(). */
	assert_int_equal(t.activations, 2);
}

static void status_failed_any_time(void **state)
{
	static const uint32_t states[] = {
		0, S_ACK, S_ACK | S_DRIVER, S_ACK | S_DRIVER | S_FEATURES_OK,
		S_LIVE,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		reach(states[i]);
		set_status(states[i] | S_FAILED);
		assert_int_equal(status(), states[i] | S_FAILED);
		/* Nothing but a reset leaves FAILED. */
		set_status(S_ACK);
		set_status(states[i] | S_FAILED | S_ACK | S_DRIVER);
		assert_int_equal(status(), states[i] | S_FAILED);
	}
	reach(S_ACK | S_DRIVER);
	set_status(S_ACK | S_DRIVER | S_FAILED);
	vfd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	assert_int_equal(t.vdev.st.driver_features, 0);
}

/* Every register and queue back to its initial state, from every state. */
static void reset_from_every_state(void **state)
{
	static const uint32_t states[] = {
		S_ACK, S_ACK | S_DRIVER, S_ACK | S_DRIVER | S_FEATURES_OK,
		S_LIVE,
		S_ACK | S_DRIVER | S_FAILED,
		S_LIVE | S_NEEDS_RESET,
	};
	const struct vfd_buf b = { BUF, 4, false };
	static struct virtq_chain chain;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		uint32_t s = states[i] & ~(uint32_t)(S_FAILED | S_NEEDS_RESET);
		unsigned int resets;
		uint32_t gen, gen_resets;

		assert_true(vfd_negotiate(&d, F_VERSION_1));
		if (s & S_DRIVER_OK) {
			vfd_layout(&d, 0, 16, RINGS);
			vfd_program(&d, 0);
			vfd_driver_ok(&d);
			vfd_post(&d, 0, &b, 1);
			virtio_dev_lock(&t.vdev);
			assert_int_equal(virtio_dev_pop(&t.vdev, 0, &chain), 0);
			virtio_dev_unlock(&t.vdev);
		} else {
			reach(s);
		}
		if (states[i] & S_FAILED)
			set_status(states[i]);
		if (states[i] & S_NEEDS_RESET) {
			virtio_dev_lock(&t.vdev);
			virtio_dev_needs_reset(&t.vdev);
			virtio_dev_unlock(&t.vdev);
		}
		assert_int_equal(status(), states[i]);
		vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
		vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
		gen = vfd_rd(&d, VIRTIO_MMIO_CONFIG_GENERATION);
		resets = t.resets;

		gen_resets = t.vdev.reset_count;
		set_status(0);
		assert_int_equal(t.resets, resets + 1);
		assert_int_equal(t.vdev.reset_count, gen_resets + 1);
		assert_int_equal(status(), 0);
		assert_int_equal(isr(), 0);
		assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), gen);
		assert_int_equal(t.vdev.st.queue_sel, 0);
		assert_int_equal(t.vdev.st.device_features_sel, 0);
		assert_int_equal(t.vdev.st.driver_features, 0);
		assert_int_equal(t.vdev.st.device_features,
				 F_VERSION_1 | F_DEV0 | VIRTIO_RING_FEATURES);
		for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
			static const struct virtio_queue_cfg zero;

			assert_memory_equal(&t.vdev.st.queues[q], &zero, sizeof(zero));
			assert_false(virtq_is_ready(&t.vdev.vqs[q]));
			assert_false(virtq_is_broken(&t.vdev.vqs[q]));
			assert_int_equal(t.vdev.vqs[q].st.last_avail, 0);
		}
		virtio_dev_lock(&t.vdev);
		assert_false(virtio_dev_is_active(&t.vdev));
		virtio_dev_unlock(&t.vdev);
		/* Reset is idempotent. */
		set_status(0);
		assert_int_equal(t.resets, resets + 2);
	}
	/* And the device comes back: queue positions start at 0 again. */
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 16, RINGS));
	vfd_post(&d, 0, &b, 1);
	virtio_dev_lock(&t.vdev);
	assert_int_equal(virtio_dev_pop(&t.vdev, 0, &chain), 0);
	assert_int_equal(t.vdev.vqs[0].st.last_avail, 1);
	virtio_dev_unlock(&t.vdev);
}

/* ---- queue registers --------------------------------------------------------- */

static void queue_num_max(void **state)
{
	(void)state;
	reach(S_ACK | S_DRIVER | S_FEATURES_OK);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	/* 4.2.2: zero for a queue that does not exist. */
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, UINT32_MAX);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* Writes to a queue that does not exist go nowhere. */
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_NUM, 8);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		assert_int_equal(t.vdev.st.queues[q].num, 0);
}

static void queue_registers_only_between_features_ok_and_driver_ok(void **state)
{
	struct virtio_queue_cfg before;

	(void)state;
	/* Before FEATURES_OK: ignored. */
	reach(S_ACK | S_DRIVER);
	vfd_program_raw(&d, 0, 16, RINGS, RINGS + 0x100, RINGS + 0x200);
	assert_int_equal(t.vdev.st.queues[0].num, 0);
	assert_int_equal(t.vdev.st.queues[0].desc, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);

	/* Between: taken, 64-bit addresses in halves. */
	reach(S_ACK | S_DRIVER | S_FEATURES_OK);
	vfd_program_raw(&d, 1, 32, 0x123456780ull, 0x9abcdef02ull, 0x1122334454ull);
	assert_int_equal(t.vdev.st.queues[1].num, 32);
	assert_int_equal(t.vdev.st.queues[1].desc, 0x123456780ull);
	assert_int_equal(t.vdev.st.queues[1].driver, 0x9abcdef02ull);
	assert_int_equal(t.vdev.st.queues[1].device, 0x1122334454ull);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 1);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);

	/* After DRIVER_OK: frozen, and the live queue is untouched. */
	vfd_layout(&d, 0, 16, RINGS);
	vfd_program(&d, 0);
	assert_int_equal(vfd_driver_ok(&d), S_LIVE);
	before = t.vdev.st.queues[0];
	vfd_program_raw(&d, 0, 8, 0x40000, 0x40100, 0x40200);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_memory_equal(&t.vdev.st.queues[0], &before, sizeof(before));
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(t.vdev.vqs[0].st.size, 16);
	assert_int_equal(t.vdev.vqs[0].st.desc_gpa, RINGS);
	/* Queue 1 was disabled: it stays so. */
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(virtq_is_ready(&t.vdev.vqs[1]));
	assert_int_equal(status(), S_LIVE);
}

/* DRIVER_OK with queue 0 configured as given: the device must refuse. */
static void expect_bad_queue(uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	unsigned int irqs = t.irqs, activations = t.activations;
	uint32_t s;

	assert_true(vfd_negotiate(&d, F_VERSION_1));
	vfd_layout(&d, 1, 16, RINGS + 0x4000);
	vfd_program(&d, 1);
	vfd_program_raw(&d, 0, num, desc, avail, used);
	s = vfd_driver_ok(&d);
	assert_int_equal(s, S_LIVE | S_NEEDS_RESET);
	assert_int_equal(t.activations, activations);
	assert_int_equal(t.irqs, irqs + 1);
	assert_int_equal(isr(), VIRTIO_MMIO_INT_CONFIG);
	/* No queue runs, the good one neither. */
	assert_false(virtq_is_ready(&t.vdev.vqs[0]));
	assert_false(virtq_is_ready(&t.vdev.vqs[1]));
	vfd_kick(&d, 0);
	vfd_kick(&d, 1);
	assert_int_equal(t.notified[0] + t.notified[1], 0);
	/* Only FAILED or a reset from here; rewriting the status is a no-op. */
	set_status(s & ~(uint32_t)S_NEEDS_RESET);
	assert_int_equal(status(), s);
	set_status(S_ACK);
	assert_int_equal(status(), s);
	vfd_wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(isr(), 0);
}

static void queue_size_invalid(void **state)
{
	(void)state;
	expect_bad_queue(0, RINGS, RINGS + 0x1000, RINGS + 0x2000);
	expect_bad_queue(12, RINGS, RINGS + 0x1000, RINGS + 0x2000);
	expect_bad_queue(15, RINGS, RINGS + 0x1000, RINGS + 0x2000);
	expect_bad_queue(32, RINGS, RINGS + 0x1000, RINGS + 0x2000);   /* above max 16 */
	expect_bad_queue(0x10000, RINGS, RINGS + 0x1000, RINGS + 0x2000);
	expect_bad_queue(UINT32_MAX, RINGS, RINGS + 0x1000, RINGS + 0x2000);
}

static void rings_misaligned(void **state)
{
	(void)state;
	expect_bad_queue(16, RINGS + 8, RINGS + 0x1000, RINGS + 0x2000);
	expect_bad_queue(16, RINGS, RINGS + 0x1001, RINGS + 0x2000);
	expect_bad_queue(16, RINGS, RINGS + 0x1000, RINGS + 0x2002);
}

static void rings_outside_ram(void **state)
{
	(void)state;
	expect_bad_queue(16, RAM_SIZE - 128, RINGS + 0x1000, RINGS + 0x2000);
	expect_bad_queue(16, RAM_SIZE, RINGS + 0x1000, RINGS + 0x2000);
	/* used_event past the end */
	expect_bad_queue(16, RINGS, RAM_SIZE - 36, RINGS + 0x2000);
	/* avail_event past the end */
	expect_bad_queue(16, RINGS, RINGS + 0x1000, RAM_SIZE - 132);
	expect_bad_queue(16, 0xfffffffffffffff0ull, RINGS + 0x1000, RINGS + 0x2000);
	expect_bad_queue(16, RINGS, RINGS + 0x1000, 0xfffffffffffffffcull);
	expect_bad_queue(16, RINGS, 0x100000000ull + 0x1000, RINGS + 0x2000);
	/* The same layout inside RAM is fine. */
	assert_true(vfd_negotiate(&d, F_VERSION_1));
	vfd_program_raw(&d, 0, 16, RAM_SIZE - 256, RAM_SIZE - 512, RAM_SIZE - 1024);
	assert_int_equal(vfd_driver_ok(&d), S_LIVE);
}

/* ---- notifications and interrupts -------------------------------------------- */

static void queue_notify(void **state)
{
	(void)state;
	/* Before DRIVER_OK: ignored. */
	reach(S_ACK | S_DRIVER | S_FEATURES_OK);
	vfd_layout(&d, 0, 16, RINGS);
	vfd_program(&d, 0);
	vfd_kick(&d, 0);
	assert_int_equal(t.notified[0], 0);
	vfd_driver_ok(&d);
	vfd_kick(&d, 0);
	assert_int_equal(t.notified[0], 1);
	/* Queue 1 exists but was not enabled; queue 2 does not exist. */
	vfd_kick(&d, 1);
	vfd_kick(&d, 2);
	vfd_kick(&d, UINT32_MAX);
	assert_int_equal(t.notified[1] + t.notified[2], 0);
	/* After a reset nothing is notified. */
	set_status(0);
	vfd_kick(&d, 0);
	assert_int_equal(t.notified[0], 1);
}

static void interrupt_status_and_ack(void **state)
{
	const struct vfd_buf b = { BUF, 4, true };
	struct virtq_chain chain;

	(void)state;
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 16, RINGS));
	vfd_post(&d, 0, &b, 1);
	virtio_dev_lock(&t.vdev);
	assert_int_equal(virtio_dev_pop(&t.vdev, 0, &chain), 0);
	assert_int_equal(virtio_dev_push(&t.vdev, 0, chain.head, 0), 0);
	virtio_dev_notify_queue(&t.vdev, 0);
	virtio_dev_config_changed(&t.vdev);
	virtio_dev_unlock(&t.vdev);
	assert_int_equal(t.irqs, 2);
	assert_int_equal(isr(),
			 VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	vfd_wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(isr(), VIRTIO_MMIO_INT_CONFIG);
	vfd_wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, UINT32_MAX);
	assert_int_equal(isr(), 0);
	/* InterruptStatus is read-only. */
	vfd_wr(&d, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	assert_int_equal(isr(), 0);

	/* Before DRIVER_OK a config change only bumps the generation. */
	set_status(0);
	virtio_dev_lock(&t.vdev);
	virtio_dev_config_changed(&t.vdev);
	virtio_dev_unlock(&t.vdev);
	assert_int_equal(t.irqs, 2);
	assert_int_equal(isr(), 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), 2);
}

static void device_needs_reset(void **state)
{
	const struct vfd_buf b = { BUF, 4, true };

	(void)state;
	assert_true(vfd_bringup(&d, F_VERSION_1, 2, 16, RINGS));
	virtio_dev_lock(&t.vdev);
	virtio_dev_needs_reset(&t.vdev);
	virtio_dev_needs_reset(&t.vdev); /* once is enough */
	assert_false(virtio_dev_is_active(&t.vdev));
	virtio_dev_unlock(&t.vdev);
	assert_int_equal(t.irqs, 1);
	assert_true(status() & S_NEEDS_RESET);
	assert_int_equal(isr(), VIRTIO_MMIO_INT_CONFIG);
	vfd_post(&d, 0, &b, 1);
	vfd_kick(&d, 0);
	assert_int_equal(t.notified[0], 0);
	virtio_dev_lock(&t.vdev);
	assert_int_equal(virtio_dev_pop(&t.vdev, 0, &(struct virtq_chain){ 0 }), -EIO);
	virtio_dev_unlock(&t.vdev);
	/* FAILED is still accepted, then reset recovers. */
	set_status(status() | S_FAILED);
	assert_true(status() & S_FAILED);
	assert_true(vfd_bringup(&d, F_VERSION_1, 2, 16, RINGS));
}

static void activate_failure(void **state)
{
	(void)state;
	t.activate_ret = -ENOMEM;
	assert_false(vfd_bringup(&d, F_VERSION_1, 2, 16, RINGS));
	assert_int_equal(t.activations, 1);
	assert_int_equal(status(), S_LIVE | S_NEEDS_RESET);
	assert_int_equal(t.irqs, 1);
	vfd_kick(&d, 0);
	assert_int_equal(t.notified[0], 0);
	t.activate_ret = 0;
	assert_true(vfd_bringup(&d, F_VERSION_1, 2, 16, RINGS));
}

/* ---- configuration space ----------------------------------------------------- */

static void config_space(void **state)
{
	uint8_t buf[8];

	(void)state;
	/* Readable before negotiation (the driver may need it to choose). */
	memset(buf, 0, sizeof(buf));
	vmmio_read(&t.vdev, 0x100, buf, 1);
	assert_int_equal(buf[0], 0xa0);
	vmmio_read(&t.vdev, 0x102, buf, 2);
	assert_int_equal(get_le16(buf), 0xa3a2);
	vmmio_read(&t.vdev, 0x108, buf, 4);
	assert_int_equal(get_le32(buf), 0xabaaa9a8);
	vmmio_read(&t.vdev, 0x104, buf, 8);
	assert_int_equal(get_le64(buf), 0xabaaa9a8a7a6a5a4ull);
	vmmio_read(&t.vdev, 0x100 + CONFIG_SIZE - 1, buf, 1);
	assert_int_equal(buf[0], 0xab);

	/* Past the end, even partly: zeros. */
	memset(buf, 0xcc, sizeof(buf));
	vmmio_read(&t.vdev, 0x100 + CONFIG_SIZE - 2, buf, 4);
	assert_int_equal(get_le32(buf), 0);
	memset(buf, 0xcc, sizeof(buf));
	vmmio_read(&t.vdev, 0x100 + CONFIG_SIZE - 4, buf, 8);
	assert_int_equal(get_le64(buf), 0);
	memset(buf, 0xcc, sizeof(buf));
	vmmio_read(&t.vdev, 0x100 + CONFIG_SIZE, buf, 1);
	assert_int_equal(buf[0], 0);
	vmmio_read(&t.vdev, 0xffc, buf, 4);
	assert_int_equal(get_le32(buf), 0);
	vmmio_read(&t.vdev, UINT64_MAX - 3, buf, 4);
	assert_int_equal(get_le32(buf), 0);
	/* A width the spec does not have. */
	memset(buf, 0xcc, sizeof(buf));
	vmmio_read(&t.vdev, 0x100, buf, 3);
	assert_int_equal(buf[0], 0);

	/* Writes inside land in the device, outside are dropped. */
	put_le16(buf, 0x5a5b);
	vmmio_write(&t.vdev, 0x104, buf, 2);
	assert_int_equal(t.config[4], 0x5b);
	assert_int_equal(t.config[5], 0x5a);
	put_le32(buf, 0x01020304);
	vmmio_write(&t.vdev, 0x100 + CONFIG_SIZE - 2, buf, 4);
	vmmio_write(&t.vdev, 0x100 + CONFIG_SIZE, buf, 1);
	vmmio_write(&t.vdev, UINT64_MAX, buf, 1);
	vmmio_write(&t.vdev, 0x100, buf, 3);
	for (unsigned int i = 0; i < CONFIG_SIZE; i++)
		if (i != 4 && i != 5)
			assert_int_equal(t.config[i], 0xa0 + i);
}

/* ---- the whole trip through registers ---------------------------------------- */

static void round_trip(void **state)
{
	const struct vfd_buf b[2] = { { BUF, 5, false }, { BUF + 0x100, 16, true } };
	uint8_t *ram = gm_ptr(&mem, 0, RAM_SIZE);
	uint32_t id, len;
	uint16_t head;

	(void)state;
	t.serve = true;
	assert_true(vfd_bringup(&d, F_VERSION_1 | VIRTIO_RING_FEATURES, 2, 16, RINGS));
	memcpy(ram + BUF, "hello", 5);
	head = vfd_post(&d, 0, b, 2);
	vfd_kick(&d, 0);
	assert_int_equal(t.notified[0], 1);
	assert_int_equal(t.irqs, 1);
	assert_int_equal(isr(), VIRTIO_MMIO_INT_VRING);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 5);
	assert_memory_equal(ram + BUF + 0x100, "hello", 5);
	vfd_wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(isr(), 0);

	/* A hostile chain on the same path: completed empty, device alive. */
	vfd_desc(&d, 0, 7, BUF, 16, VRING_DESC_F_NEXT, 7);
	vfd_publish(&d, 0, 7);
	vfd_kick(&d, 0);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, 7);
	assert_int_equal(len, 0);
	assert_false(status() & S_NEEDS_RESET);

	/* A broken ring on the same path: NEEDS_RESET, config interrupt. */
	vfd_set_avail_idx(&d, 0, 100);
	vfd_kick(&d, 0);
	assert_true(status() & S_NEEDS_RESET);
	assert_true(isr() & VIRTIO_MMIO_INT_CONFIG);
	assert_false(vfd_used(&d, 0, &id, &len));
}

/* ---- ops checked at init ----------------------------------------------------- */

static void init_rejects_bad_ops(void **state)
{
	struct virtio_dev dev;
	struct virtio_dev_ops ops;

	(void)state;
	ops = tdev_ops;
	ops.queue_max[1] = 0;
	assert_int_equal(virtio_dev_init(&dev, &ops, &mem, NULL, NULL), -EINVAL);
	ops.queue_max[1] = 48;
	assert_int_equal(virtio_dev_init(&dev, &ops, &mem, NULL, NULL), -EINVAL);
	ops.queue_max[1] = 2048;
	assert_int_equal(virtio_dev_init(&dev, &ops, &mem, NULL, NULL), -EINVAL);
	ops = tdev_ops;
	ops.nr_queues = VIRTIO_MAX_QUEUES + 1;
	assert_int_equal(virtio_dev_init(&dev, &ops, &mem, NULL, NULL), -EINVAL);
	ops = tdev_ops;
	ops.config_size = VIRTIO_CONFIG_MAX + 1;
	assert_int_equal(virtio_dev_init(&dev, &ops, &mem, NULL, NULL), -EINVAL);
	ops = tdev_ops;
	ops.features |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	assert_int_equal(virtio_dev_init(&dev, &ops, &mem, NULL, NULL), -EINVAL);
	ops = tdev_ops;
	ops.features |= VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(50);
	assert_int_equal(virtio_dev_init(&dev, &ops, &mem, NULL, NULL), 0);
	virtio_dev_destroy(&dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identity),
		T(bad_widths),
		T(device_features),
		T(driver_features_only_before_features_ok),
		T(features_ok_refused),
		T(status_legal_path),
		T(status_illegal_steps),
		T(status_failed_any_time),
		T(reset_from_every_state),
		T(queue_num_max),
		T(queue_registers_only_between_features_ok_and_driver_ok),
		T(queue_size_invalid),
		T(rings_misaligned),
		T(rings_outside_ram),
		T(queue_notify),
		T(interrupt_status_and_ack),
		T(device_needs_reset),
		T(activate_failure),
		T(config_space),
		T(round_trip),
		T(init_rejects_bad_ops),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
