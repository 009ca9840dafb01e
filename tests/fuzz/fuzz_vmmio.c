/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: a hostile driver poking the virtio-mmio transport. A tiny
 * echo device (two queues, 16 and 64 entries, 12 bytes of config) sits
 * behind vmmio_read/vmmio_write, with 64 KiB of guest RAM at address 0.
 *
 * Input: byte 0 is the number of register accesses N (0..63); then N
 * accesses of 7 bytes each:
 *   flags   bit 7 write, bits 0-1 size (1, 2, 4, 8), bit 6: the offset byte
 *           below indexes a table of known registers instead
 *   offset  16 bits little-endian (masked to the 4 KiB page)
 *   value   32 bits little-endian (an 8-byte write repeats it)
 * The bytes after them are copied to guest RAM from address 0, so rings
 * and buffers the driver programs hold fuzzer data; a QueueNotify on an
 * activated device makes the echo device pop, copy and push every chain.
 * A fresh device per input: nothing may crash or leak.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_mmio.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"
#include "log.h"
#include "memory.h"

#define RAM (64u << 10)
#define CONFIG_SIZE 12
#define OP_BYTES 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tdev {
	struct virtio_dev vdev;
	uint8_t config[CONFIG_SIZE];
	unsigned int irqs;
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
	if (off > CONFIG_SIZE || size > CONFIG_SIZE - off)
		abort(); /* the transport promised to check */
	memcpy(data, to_tdev(dev)->config + off, size);
}

static void tdev_config_write(struct virtio_dev *dev, uint32_t off, const void *data,
			      unsigned int size)
{
	if (off > CONFIG_SIZE || size > CONFIG_SIZE - off)
		abort();
	memcpy(to_tdev(dev)->config + off, data, size);
	virtio_dev_config_changed(dev);
}

static const struct guest_mem *g_mem;

/* Echo the readable bytes into the writable ones (dev->lock held). */
static void tdev_notify(struct virtio_dev *dev, unsigned int q)
{
	struct virtq_chain chain;
	uint8_t buf[96];
	int ret, n = 0;

	if (q >= 2)
		abort(); /* only set-up queues of this device */
	while ((ret = virtio_dev_pop(dev, q, &chain)) != -EAGAIN && ret != -EIO) {
		size_t len;

		if (++n > 1024)
			abort(); /* a ring cannot hand out more than this */
		if (ret == -EBADMSG) {
			virtio_dev_push(dev, q, chain.head, 0);
			continue;
		}
		for (unsigned int s = 0; s < chain.nr_segs; s++) {
			const uint8_t *p = chain.segs[s].addr;

			if (chain.segs[s].len &&
			    (p < g_mem->base || p + chain.segs[s].len > g_mem->base + RAM))
				abort();
		}
		len = virtq_chain_read(&chain, 0, buf, sizeof(buf));
		len = virtq_chain_write(&chain, 0, buf, len);
		virtio_dev_push(dev, q, chain.head, (uint32_t)len);
	}
	virtio_dev_notify_queue(dev, q);
	/* A misbehaving device gives up now and then. */
	if (n == 3)
		virtio_dev_needs_reset(dev);
}

static const struct virtio_dev_ops tdev_ops = {
	.name = "fuzz-tdev",
	.device_id = VIRTIO_ID_CONSOLE,
	.features = VIRTIO_BIT(0) | VIRTIO_RING_FEATURES,
	.nr_queues = 2,
	.queue_max = { 16, 64 },
	.config_size = CONFIG_SIZE,
	.config_read = tdev_config_read,
	.config_write = tdev_config_write,
	.queue_notify = tdev_notify,
};

static const uint16_t regs[] = {
	VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION, VIRTIO_MMIO_DEVICE_ID,
	VIRTIO_MMIO_VENDOR_ID, VIRTIO_MMIO_DEVICE_FEATURES,
	VIRTIO_MMIO_DEVICE_FEATURES_SEL, VIRTIO_MMIO_DRIVER_FEATURES,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL, VIRTIO_MMIO_QUEUE_SEL,
	VIRTIO_MMIO_QUEUE_NUM_MAX, VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_READY,
	VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_MMIO_INTERRUPT_STATUS,
	VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_STATUS, VIRTIO_MMIO_QUEUE_DESC_LOW,
	VIRTIO_MMIO_QUEUE_DESC_HIGH, VIRTIO_MMIO_QUEUE_AVAIL_LOW,
	VIRTIO_MMIO_QUEUE_AVAIL_HIGH, VIRTIO_MMIO_QUEUE_USED_LOW,
	VIRTIO_MMIO_QUEUE_USED_HIGH, VIRTIO_MMIO_CONFIG_GENERATION,
	VIRTIO_MMIO_CONFIG, VIRTIO_MMIO_CONFIG + 4, VIRTIO_MMIO_CONFIG + 8,
	VIRTIO_MMIO_CONFIG + 10, VIRTIO_MMIO_CONFIG + 11, VIRTIO_MMIO_CONFIG + 12,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct tdev t;
	static int ready;
	size_t nops, pos;
	uint32_t magic = 0;

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		log_set_level(LOG_ERROR);
		if (gm_create(&mem, &r, 1))
			abort();
		g_mem = &mem;
		ready = 1;
	}
	if (size < 1)
		return 0;
	nops = data[0] % 64;
	pos = 1;
	if (nops * OP_BYTES > size - pos)
		nops = (size - pos) / OP_BYTES;
	memset(mem.base, 0, RAM);
	if (size - pos > nops * OP_BYTES) {
		size_t n = size - pos - nops * OP_BYTES;

		memcpy(mem.base, data + pos + nops * OP_BYTES, n < RAM ? n : RAM);
	}
	memset(&t, 0, sizeof(t));
	for (unsigned int i = 0; i < CONFIG_SIZE; i++)
		t.config[i] = (uint8_t)(0xa0 + i);
	if (virtio_dev_init(&t.vdev, &tdev_ops, &mem, tdev_irq, NULL))
		abort();

	for (size_t i = 0; i < nops; i++, pos += OP_BYTES) {
		const uint8_t *op = data + pos;
		unsigned int sz = 1u << (op[0] & 3);
		uint64_t off = (uint64_t)(op[1] | op[2] << 8) % VMMIO_SIZE;
		uint8_t buf[8];

		if (op[0] & 0x40)
			off = regs[op[1] % (sizeof(regs) / sizeof(regs[0]))];
		memcpy(buf, op + 3, 4);
		memcpy(buf + 4, op + 3, 4);
		if (op[0] & 0x80)
			vmmio_write(&t.vdev, off, buf, sz);
		else
			vmmio_read(&t.vdev, off, buf, sz);
	}
	/* The transport still answers its identity. */
	vmmio_read(&t.vdev, VIRTIO_MMIO_MAGIC_VALUE, &magic, 4);
	if (magic != VMMIO_MAGIC)
		abort();
	virtio_dev_destroy(&t.vdev);
	return 0;
}
