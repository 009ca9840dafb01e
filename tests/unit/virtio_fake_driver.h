/* SPDX-License-Identifier: MIT */
/*
 * A fake virtio driver for unit tests. It plays the guest: lays out split
 * rings in test guest memory, writes descriptors and the avail ring, reads
 * the used ring, and drives the device through its virtio-mmio registers
 * (vmmio_read/vmmio_write), in the order Linux's virtio_mmio driver does.
 * It can also break every rule on purpose: all of its state is plain and
 * the raw writers do no checking.
 */
#ifndef COCOON_TEST_VIRTIO_FAKE_DRIVER_H
#define COCOON_TEST_VIRTIO_FAKE_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"
#include "memory.h"

struct vfd_queue {
	uint32_t size;
	uint64_t desc, avail, used; /* guest-physical */
	uint16_t avail_idx;         /* the driver's next avail index */
	uint16_t used_seen;         /* used entries consumed by vfd_used */
	uint16_t next_desc;         /* next free descriptor for vfd_post */
};

struct vfd {
	struct virtio_dev *dev;
	const struct guest_mem *mem;
	struct vfd_queue q[VIRTIO_MAX_QUEUES];
};

/* One buffer of a chain for vfd_post. */
struct vfd_buf {
	uint64_t addr;
	uint32_t len;
	bool write; /* device-writable */
};

void vfd_init(struct vfd *d, struct virtio_dev *dev, const struct guest_mem *mem);

/* 32-bit register access through the transport, as a guest does it. */
uint32_t vfd_rd(struct vfd *d, uint64_t reg);
void vfd_wr(struct vfd *d, uint64_t reg, uint32_t v);
uint32_t vfd_status(struct vfd *d);

/* Reset, ACKNOWLEDGE, DRIVER, write `features`, FEATURES_OK. Returns
 * whether FEATURES_OK reads back set. */
bool vfd_negotiate(struct vfd *d, uint64_t features);

/* Place queue q's rings at `base` (descriptor table, avail ring, used ring,
 * each aligned and with room for the event fields) and zero them. */
void vfd_layout(struct vfd *d, unsigned int q, uint32_t size, uint64_t base);

/* QueueSel, QueueNum and the three addresses from vfd_layout, QueueReady=1. */
void vfd_program(struct vfd *d, unsigned int q);

/* The same with arbitrary values (no layout, nothing zeroed). */
void vfd_program_raw(struct vfd *d, unsigned int q, uint32_t num, uint64_t desc,
		     uint64_t avail, uint64_t used);

/* Set DRIVER_OK; returns Status as read back. */
uint32_t vfd_driver_ok(struct vfd *d);

/* negotiate + layout and program queues 0..nr-1 (each `size`, rings
 * 0x4000 apart from `base`) + DRIVER_OK. True when the device came up
 * (DRIVER_OK set, DEVICE_NEEDS_RESET clear). */
bool vfd_bringup(struct vfd *d, uint64_t features, unsigned int nr, uint32_t size,
		 uint64_t base);

/* Raw descriptor writes: into queue q's table, or into any table (e.g. an
 * indirect one) at guest address `table`. */
void vfd_desc(struct vfd *d, unsigned int q, uint16_t idx, uint64_t addr,
	      uint32_t len, uint16_t flags, uint16_t next);
void vfd_desc_at(struct vfd *d, uint64_t table, uint16_t idx, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next);

/* Put `head` in the next avail slot, then publish the index (release). */
void vfd_publish(struct vfd *d, unsigned int q, uint16_t head);
/* Overwrite the avail index (and the driver's idea of it). */
void vfd_set_avail_idx(struct vfd *d, unsigned int q, uint16_t idx);
void vfd_set_avail_flags(struct vfd *d, unsigned int q, uint16_t flags);
void vfd_set_used_event(struct vfd *d, unsigned int q, uint16_t v);
uint16_t vfd_avail_event(struct vfd *d, unsigned int q);

/* Chain `n` buffers through fresh descriptors and publish the head. */
uint16_t vfd_post(struct vfd *d, unsigned int q, const struct vfd_buf *bufs,
		  unsigned int n);

/* The device's used index as the guest sees it. */
uint16_t vfd_used_idx(struct vfd *d, unsigned int q);
/* Consume the next used element; false when there is none. */
bool vfd_used(struct vfd *d, unsigned int q, uint32_t *id, uint32_t *len);

/* Write QueueNotify. */
void vfd_kick(struct vfd *d, unsigned int q);

#endif
