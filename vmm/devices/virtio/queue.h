/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues, device side (virtio 1.2 section 2.7).
 *
 * The rings live in guest memory and the guest may rewrite them at any
 * moment, so every pop re-validates what it reads (DESIGN "Guest memory and
 * hostile guests", rules 3 to 6):
 *   - the avail index may run at most `size` entries ahead of the device;
 *   - a head must be below `size` and not already in flight;
 *   - a chain is walked at most `size` descriptors deep (an indirect table at
 *     most len/16), each descriptor copied once and only the copy used;
 *   - every buffer is checked with gm_ptr; lengths are summed with overflow
 *     checks against VIRTQ_MAX_CHAIN_BYTES; segments are capped;
 *   - driver-readable descriptors come before device-writable ones.
 *
 * Two kinds of failure:
 *   - a malformed chain (bad descriptor, loop, bad indirect table, ...): the
 *     head is valid, so virtq_pop returns -EBADMSG with chain->head set and
 *     the device completes it with virtq_push(vq, head, 0);
 *   - a broken queue (avail index jump, head out of range or already in
 *     flight): nothing can be completed safely, so the queue stops for good
 *     (pop and push return -EIO) until the driver resets the device. The
 *     device must then set DEVICE_NEEDS_RESET (virtio_dev_pop does it).
 *
 * No function here takes a lock: a queue belongs to whoever holds its
 * device's lock (see virtio.h).
 */
#ifndef COCOON_VIRTIO_QUEUE_H
#define COCOON_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>

#include "../../memory.h"
#include "../../util.h"

/* Largest queue size any device may offer (the guest picks up to this). */
#define VIRTQ_MAX_SIZE 1024u
/* Most non-empty buffers in one chain; a longer chain is malformed. */
#define VIRTQ_MAX_SEGS 256u
/* Most entries in one indirect descriptor table (16 KiB). */
#define VIRTQ_MAX_INDIRECT 1024u
/* Most bytes (readable + writable) in one chain. */
#define VIRTQ_MAX_CHAIN_BYTES (256u * 1024 * 1024)

/* One buffer of a chain: host memory already checked with gm_ptr. */
struct virtq_seg {
	void *addr;
	uint32_t len;  /* never 0 */
	bool write;    /* device-writable */
};

/*
 * A popped descriptor chain. Readable segments always come first:
 * segs[0, nr_readable) are driver-readable, segs[nr_readable, nr_segs)
 * device-writable.
 */
struct virtq_chain {
	uint16_t head;
	uint16_t nr_segs;
	uint16_t nr_readable;
	uint32_t readable_len; /* bytes in the readable segments */
	uint32_t writable_len; /* bytes in the writable segments */
	struct virtq_seg segs[VIRTQ_MAX_SEGS];
};

/* Guest-visible state of one queue: plain data, enough to save and restore. */
struct virtq_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size;           /* 0: the queue is not set up */
	uint16_t last_avail;     /* next avail ring entry the device reads */
	uint16_t used_idx;       /* next used index the device publishes */
	uint16_t signalled_used; /* used_idx when notification was last decided */
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;           /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool broken;             /* stopped until reset */
	uint64_t inflight[VIRTQ_MAX_SIZE / 64]; /* heads popped, not yet pushed */
};

struct virtq {
	struct virtq_state st;
	/* Host addresses of the rings, derived from st by virtq_init. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

/*
 * Validate a queue as the driver configured it and make it ready
 * (virtio 1.2 section 2.7: size a power of two, 1 to VIRTQ_MAX_SIZE;
 * descriptor table 16-aligned, avail ring 2-aligned, used ring 4-aligned;
 * each ring, including its event-index field, wholly inside one RAM region).
 * `features` is the negotiated feature set (for INDIRECT_DESC and
 * EVENT_IDX). The caller checks the device's own maximum. Returns 0,
 * -EINVAL for a bad size or alignment, -EFAULT for a ring outside RAM; on
 * error the queue is left reset (not ready).
 */
int virtq_init(struct virtq *vq, const struct guest_mem *mem, uint32_t size,
	       uint64_t desc, uint64_t avail, uint64_t used,
	       uint64_t features) __must_check;

/* Back to the initial state: not ready, positions 0, nothing in flight. */
void virtq_reset(struct virtq *vq);

/* True once virtq_init succeeded (until reset), broken or not. */
bool virtq_is_ready(const struct virtq *vq);

/* True when the queue stopped for good until reset. */
bool virtq_is_broken(const struct virtq *vq);

/* Stop the queue until reset: pop and push then return -EIO. */
void virtq_set_broken(struct virtq *vq);

/*
 * Take the next available chain. Returns
 *   0        a chain: chain->head is in flight until virtq_push;
 *   -EAGAIN  nothing available (or the queue is not set up);
 *   -EBADMSG a malformed chain: chain->head is in flight and must be
 *            completed with virtq_push(vq, chain->head, 0); the other chain
 *            fields are zero;
 *   -EIO     the queue is broken (now or before): stop processing it.
 * With EVENT_IDX, an empty ring also writes avail_event so that the driver
 * kicks for its next buffer (virtio 1.2 section 2.7.10).
 */
int virtq_pop(struct virtq *vq, const struct guest_mem *mem,
	      struct virtq_chain *chain) __must_check;

/*
 * Complete a chain: `len` bytes were written into its writable part.
 * Publishes the used element, then the used index with release order.
 * Returns 0, -EIO when the queue is broken, -EINVAL when `head` is not in
 * flight (never popped, already pushed, or popped before a reset).
 */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * call (virtio 1.2 section 2.7.7): with EVENT_IDX, when the used index
 * passed used_event; without it, unless VRING_AVAIL_F_NO_INTERRUPT is set.
 * False when nothing was pushed since the last call. Records the decision:
 * call it once per batch of pushes and interrupt when it says so.
 */
bool virtq_needs_notify(struct virtq *vq);

/*
 * Direction checks for device headers and trailers. "The first n bytes are
 * driver-readable" (e.g. a request header) and "the last n bytes are
 * device-writable" (e.g. a status byte). Because readable segments precede
 * writable ones, these are readable_len >= n and writable_len >= n.
 */
bool virtq_chain_has_readable(const struct virtq_chain *chain, uint64_t n);
bool virtq_chain_has_writable(const struct virtq_chain *chain, uint64_t n);

/*
 * Copy up to `len` bytes out of the readable part, starting `off` bytes into
 * it. Returns the bytes copied (less at the end of the readable part). The
 * guest may change the buffer meanwhile: validate the copy, not the source.
 */
size_t virtq_chain_read(const struct virtq_chain *chain, uint64_t off, void *dst,
			size_t len);

/* Copy up to `len` bytes into the writable part at `off`. Returns the bytes
 * copied. */
size_t virtq_chain_write(const struct virtq_chain *chain, uint64_t off,
			 const void *src, size_t len);

/*
 * Describe `len` bytes of the readable (writable == false) or writable part,
 * starting `off` bytes into it, as at most `max_iov` iovecs (for preadv and
 * friends). Returns the number of iovecs filled; they cover less than `len`
 * when the part ends first or `max_iov` runs out (sum them to know).
 */
unsigned int virtq_chain_iov(const struct virtq_chain *chain, bool writable,
			     uint64_t off, uint64_t len, struct iovec *iov,
			     unsigned int max_iov);

#endif
