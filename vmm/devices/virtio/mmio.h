/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport, version 2 (virtio 1.2 section 4.2.2): one page of
 * registers per device, announced to Linux as
 * virtio_mmio.device=<size>@<base>:<irq>.
 *
 * Registers below 0x100 are 32 bits wide; an access of another width reads
 * as zero and a write of another width is dropped. Device-specific
 * configuration starts at 0x100 and takes 1-, 2-, 4- and 8-byte accesses
 * inside ops->config_size; anything else reads as zero and writes are
 * dropped. Every misuse is logged once (log_guest_once).
 *
 * The state machine, feature negotiation and queue validation live here and
 * act on struct virtio_dev (see virtio.h, whose virtio_dev_* functions this
 * file implements).
 */
#ifndef COCOON_VIRTIO_MMIO_H
#define COCOON_VIRTIO_MMIO_H

#include <stdint.h>

#include "virtio.h"

#define VMMIO_SIZE 0x1000u          /* bytes of MMIO space per device */
#define VMMIO_MAGIC 0x74726976u     /* "virt" */
#define VMMIO_VERSION 2u
#define VMMIO_VENDOR 0x6f636f63u    /* "coco" */

/*
 * Bus handlers (struct bus_range); `opaque` is the struct virtio_dev.
 * `offset` is relative to the device's base; they take dev->lock.
 */
void vmmio_read(void *opaque, uint64_t offset, void *data, unsigned int size);
void vmmio_write(void *opaque, uint64_t offset, const void *data,
		 unsigned int size);

#endif
