/* SPDX-License-Identifier: MIT */
/*
 * The virtio device core: what every virtio device (blk, console, rng, ...)
 * shares with the transport (mmio.c, virtio-mmio version 2).
 *
 * A device embeds struct virtio_dev, fills a struct virtio_dev_ops and
 * reaches its own state from the callbacks with container_of. The transport
 * runs the device-status state machine (virtio 1.2 section 3.1.1), feature
 * negotiation, queue configuration and validation (at DRIVER_OK), interrupts
 * and reset, and calls the device back:
 *
 *   config_read/config_write  the device-specific configuration space; the
 *                             transport has checked offset + size against
 *                             ops->config_size. Little-endian, as the spec
 *                             lays it out.
 *   queue_notify(dev, q)      the driver kicked queue q (a write to
 *                             QueueNotify that no ioeventfd caught). Only
 *                             for a set-up queue of an activated device.
 *   activate(dev)             DRIVER_OK was accepted and every queue the
 *                             driver enabled is valid: start working.
 *                             Non-zero -> DEVICE_NEEDS_RESET.
 *   reset(dev)                the driver wrote 0 to Status (at any time, also
 *                             before activate): drop every buffer in flight
 *                             and forget negotiated state. The queues are
 *                             reset right after it returns.
 * Every callback may be NULL.
 *
 * Locking rule
 * ------------
 * dev->lock guards everything in struct virtio_dev: the transport state, the
 * queues and their rings. Register accesses (vCPU threads) take it; every
 * callback above runs with it held. Device code on the event-loop thread
 * takes it (virtio_dev_lock) around its queue work: pop, push, notify. So a
 * reset never races with a pop or push. Consequences for devices:
 *   - all virtio_dev_* functions below, except init/destroy/lock/unlock,
 *     expect dev->lock held; callbacks already hold it, other threads lock;
 *   - callbacks must not take dev->lock nor wait for a thread that might;
 *   - a device that drops the lock between pop and push (long I/O) must
 *     expect a reset in between: it notes dev->reset_count at pop and
 *     pushes only if it is unchanged (after a reset and a new DRIVER_OK the
 *     same head may be in flight again, for another request). Buffers it
 *     still holds point into guest RAM, which stays mapped.
 *   - signal_irq (host side) is called with the lock held; it must not call
 *     back into the device (the VM writes an irqfd).
 *
 * Interrupts: a used-buffer notification sets InterruptStatus bit 0
 * (VIRTIO_MMIO_INT_VRING) and a configuration change bit 1
 * (VIRTIO_MMIO_INT_CONFIG); each time one is due, signal_irq is called once;
 * the driver clears bits through InterruptACK.
 *
 * Snapshot: dev->st and each dev->vqs[i].st are the guest-visible state
 * (plain data); the rest is host resources or derived from them.
 */
#ifndef COCOON_VIRTIO_H
#define COCOON_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "../../memory.h"
#include "../../util.h"
#include "queue.h"

/* Most queues of one device (a multiport console with 5 ports has 12). */
#define VIRTIO_MAX_QUEUES 16u
/* Most bytes of device-specific configuration (0x100..0xfff in the page). */
#define VIRTIO_CONFIG_MAX 0xf00u

#define VIRTIO_BIT(b) (1ull << (b))
/* Ring features the queue code implements; devices usually offer both. */
#define VIRTIO_RING_FEATURES \
	(VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX))
/* Transport features (bits 28-41) a device may offer; VERSION_1 is added by
 * the transport. Anything else in that range (packed rings, ...) is refused
 * by virtio_dev_init. */
#define VIRTIO_TRANSPORT_FEATURES (VIRTIO_RING_FEATURES | VIRTIO_BIT(VIRTIO_F_VERSION_1))

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;     /* for log lines */
	uint32_t device_id;   /* VIRTIO_ID_* */
	uint64_t features;    /* offered: device bits | VIRTIO_RING_FEATURES */
	unsigned int nr_queues;                 /* at most VIRTIO_MAX_QUEUES */
	uint16_t queue_max[VIRTIO_MAX_QUEUES];  /* powers of two, <= VIRTQ_MAX_SIZE */
	uint32_t config_size; /* bytes of device config, <= VIRTIO_CONFIG_MAX */

	void (*config_read)(struct virtio_dev *dev, uint32_t offset, void *data,
			    unsigned int size);
	void (*config_write)(struct virtio_dev *dev, uint32_t offset,
			     const void *data, unsigned int size);
	void (*queue_notify)(struct virtio_dev *dev, unsigned int qidx);
	int (*activate)(struct virtio_dev *dev);
	void (*reset)(struct virtio_dev *dev);
};

/* Per-queue registers as the driver wrote them (checked at DRIVER_OK). */
struct virtio_queue_cfg {
	uint32_t num;    /* QueueNum */
	uint32_t ready;  /* QueueReady */
	uint64_t desc;   /* QueueDesc: descriptor table */
	uint64_t driver; /* QueueDriver: avail ring */
	uint64_t device; /* QueueDevice: used ring */
};

/* Guest-visible transport state: plain data, snapshot-ready. */
struct virtio_dev_state {
	uint32_t status;              /* VIRTIO_CONFIG_S_* */
	uint64_t device_features;     /* offered */
	uint64_t driver_features;     /* acked; negotiated once FEATURES_OK */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t interrupt_status;    /* VIRTIO_MMIO_INT_* */
	uint32_t config_generation;
	struct virtio_queue_cfg queues[VIRTIO_MAX_QUEUES];
};

struct virtio_dev {
	pthread_mutex_t lock;
	struct virtio_dev_state st;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	/* Host side. */
	const struct virtio_dev_ops *ops;
	const struct guest_mem *mem;
	void (*signal_irq)(struct virtio_dev *dev);
	void *irq_opaque;   /* for signal_irq; the transport never reads it */
	bool active;        /* activate() succeeded and no reset since */
	uint32_t reset_count; /* incremented by every reset */
};

/*
 * Set up `dev` for a device described by `ops` (kept by pointer: it must
 * outlive dev). `signal_irq` (may be NULL) injects the device's interrupt.
 * Returns 0, -EINVAL for bad ops (too many queues, a queue maximum that is
 * not a power of two up to VIRTQ_MAX_SIZE, config too large, an unsupported
 * transport feature), or -errno from pthread_mutex_init.
 */
int virtio_dev_init(struct virtio_dev *dev, const struct virtio_dev_ops *ops,
		    const struct guest_mem *mem,
		    void (*signal_irq)(struct virtio_dev *dev),
		    void *irq_opaque) __must_check;

/* Free what a successful init took; safe on a zeroed struct. No thread may
 * use the device any more. */
void virtio_dev_destroy(struct virtio_dev *dev);

void virtio_dev_lock(struct virtio_dev *dev);
void virtio_dev_unlock(struct virtio_dev *dev);

/* --- everything below: dev->lock held ----------------------------------- */

/* Whether feature `bit` was negotiated (false before FEATURES_OK). */
bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned int bit);

/* Whether the device is activated and does not need a reset. */
bool virtio_dev_is_active(const struct virtio_dev *dev);

/* Queue `qidx`, or NULL when out of range for this device. */
struct virtq *virtio_dev_queue(struct virtio_dev *dev, unsigned int qidx);

/*
 * virtq_pop on queue `qidx` with the device's memory; returns what it
 * returns, and -EAGAIN for a bad index or an inactive device. On -EIO (the
 * queue broke) the device is put in DEVICE_NEEDS_RESET. Typical loop:
 *
 *	while ((ret = virtio_dev_pop(dev, q, &chain)) != -EAGAIN && ret != -EIO) {
 *		if (ret == -EBADMSG) {
 *			virtio_dev_push(dev, q, chain.head, 0);
 *			continue;
 *		}
 *		...serve chain...;
 *		virtio_dev_push(dev, q, chain.head, bytes_written);
 *	}
 *	virtio_dev_notify_queue(dev, q);
 */
int virtio_dev_pop(struct virtio_dev *dev, unsigned int qidx,
		   struct virtq_chain *chain) __must_check;

/* virtq_push on queue `qidx` (-EINVAL for a bad index). */
int virtio_dev_push(struct virtio_dev *dev, unsigned int qidx, uint16_t head,
		    uint32_t len);

/* Interrupt the driver when virtq_needs_notify says it wants one for the
 * pushes since the last call. Call once after a batch of pushes. */
void virtio_dev_notify_queue(struct virtio_dev *dev, unsigned int qidx);

/*
 * The device changed its configuration space: bump ConfigGeneration and,
 * once DRIVER_OK is set, send a configuration change interrupt.
 */
void virtio_dev_config_changed(struct virtio_dev *dev);

/*
 * The device cannot go on (virtio 1.2 section 2.1.2): set
 * DEVICE_NEEDS_RESET, stop every queue, and once DRIVER_OK is set send a
 * configuration change interrupt. Only a reset by the driver recovers.
 */
void virtio_dev_needs_reset(struct virtio_dev *dev);

#endif
