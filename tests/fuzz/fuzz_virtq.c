/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: a hostile driver's rings. The input is copied over the first
 * 64 KiB of guest memory (descriptor table, avail ring, used ring and the
 * buffers all live there), its first bytes choose the queue size and the
 * negotiated ring features; then the device pops and completes everything it
 * can. Every chain segment it hands out must lie inside guest RAM.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/queue.h"
#include "devices/virtio/virtio.h"

#define RAM (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static int ready;
	static struct virtq vq;
	static struct virtq_chain chain;
	uint64_t features = 0;
	uint32_t qsize;

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		if (gm_create(&mem, &r, 1))
			abort();
		ready = 1;
	}
	if (size < 2)
		return 0;
	qsize = 1u << (data[0] % 9); /* 1..256 */
	if (data[1] & 1)
		features |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (data[1] & 2)
		features |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	memset(mem.base, 0, RAM);
	memcpy(mem.base, data + 2, size - 2 < RAM ? size - 2 : RAM);
	/* Rings at fixed spots; the fuzzer controls their contents. */
	if (virtq_init(&vq, &mem, qsize, 0x0000, 0x4000, 0x5000, features))
		return 0;
	for (int i = 0; i < 1024; i++) {
		int ret = virtq_pop(&vq, &mem, &chain);

		if (ret == -EAGAIN || ret == -EIO)
			break;
		if (ret == 0) {
			for (unsigned int s = 0; s < chain.nr_segs; s++) {
				const uint8_t *p = chain.segs[s].addr;

				if (chain.segs[s].len &&
				    (p < mem.base || p + chain.segs[s].len > mem.base + RAM))
					abort();
			}
		}
		(void)virtq_push(&vq, chain.head, ret == 0 ? chain.writable_len : 0);
		(void)virtq_needs_notify(&vq);
	}
	virtq_reset(&vq);
	return 0;
}
