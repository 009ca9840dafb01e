/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-rng requests from a hostile driver. A fresh device per
 * input, with no event loop: the harness calls vrng_process itself
 * (bounded), as the loop would on every kick. The input fills the first
 * 64 KiB of guest RAM, which holds the ring (avail ring at 0, used ring at
 * 0x800, descriptor table at 0x1000) and every buffer.XX
 * checks, the harness checks that the device wrote nothing outside guest
 * RAM's first 128 KiB (a canary region after it in the same mapping).
 *
 * Input: byte 0 selects the features the driver accepts (bit 0
 * INDIRECT_DESC, bit 1 EVENT_IDX) and host behaviour (bit 2 a rate limit
 * of a few bytes, which refuses and holds a request; bit 3 the driver
 * resets the device and brings it up again on the same rings for a second
 * round), byte 1 the queue size (1 << (n % 8): up to twice the device's
 * maximum, which it must refuse); the rest is guest memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"
#include "log.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM (128u << 10)
#define FILL (64u << 10)
#define AVAIL 0x0000u
#define USED 0x0800u
#define DESC 0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bringup(struct vfd *d, uint64_t features, uint32_t qsize)
{
	/* A hostile driver goes on whatever FEATURES_OK says. */
	(void)vfd_negotiate(d, features);
	vfd_program_raw(d, 0, qsize, DESC, AVAIL, USED);
	(void)vfd_driver_ok(d);
	vfd_kick(d, 0);
}

static void pump(struct vrng *rng)
{
	for (int round = 0; round < 16 && vrng_process(rng); round++)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct vfd d;
	static int ready;
	struct vrng *rng = NULL;
	uint64_t features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	uint32_t qsize;

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		log_set_level(LOG_ERROR);
		if (gm_create(&mem, &r, 1))
			abort();
		ready = 1;
	}
	if (size < 2)
		return 0;
	if (data[0] & 0x01)
		features |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (data[0] & 0x02)
		features |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	qsize = 1u << (data[1] % 8);
	if (vrng_create(&mem, NULL, &rng)) {
		fprintf(stderr, "fuzz_vrng: vrng_create failed\n");
		abort();
	}
	if (data[0] & 0x04) {
		const struct rl_config rl = { .ops = 2, .bytes = 64, .bytes_burst = 64 };

		if (vrng_set_ratelimit(rng, &rl))
			abort();
	}
	memset(mem.base, 0, RAM);
	memcpy(mem.base, data + 2, size - 2 < FILL ? size - 2 : FILL);
	vfd_init(&d, vrng_dev(rng), &mem);
	bringup(&d, features, qsize);
	pump(rng);
	if (data[0] & 0x08) {
		bringup(&d, features, qsize);
		pump(rng);
	}
	vrng_destroy(vrng_dev(rng));
	return 0;
}
