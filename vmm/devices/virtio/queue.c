/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues, device side (virtio 1.2 section 2.7). The rules this
 * file enforces are listed in queue.h; the comments below say where in the
 * spec each one comes from.
 *
 * Ring memory is shared with a guest that may write it concurrently. Ring
 * indices and entries are read with single atomic loads; a descriptor is
 * copied with one volatile pass and only the copy is looked at afterwards.
 * The host addresses of the rings keep the alignment of their guest
 * addresses (regions are page aligned in both), so the 2- and 4-byte atomics
 * below are naturally aligned once virtq_init checked the guest alignment.
 */
#include "queue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "../../log.h"

#define DESC_SIZE sizeof(struct vring_desc)

/* 2.7.5 / 2.7.6 / 2.7.8: ring sizes, including used_event / avail_event. */
static uint64_t desc_bytes(uint32_t size)
{
	return (uint64_t)size * DESC_SIZE;
}

static uint64_t avail_bytes(uint32_t size)
{
	return offsetof(struct vring_avail, ring) +
	       sizeof(uint16_t) * ((uint64_t)size + 1);
}

static uint64_t used_bytes(uint32_t size)
{
	return offsetof(struct vring_used, ring) +
	       sizeof(struct vring_used_elem) * (uint64_t)size + sizeof(uint16_t);
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

int virtq_init(struct virtq *vq, const struct guest_mem *mem, uint32_t size,
	       uint64_t desc, uint64_t avail, uint64_t used, uint64_t features)
{
	void *d, *a, *u;

	virtq_reset(vq);
	/* 2.7: "Queue Size ... is always a power of 2", and 0 means no queue. */
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	/* 2.7, table "Virtqueue Part Alignment": 16, 2 and 4 bytes. */
	if (desc % VRING_DESC_ALIGN_SIZE || avail % VRING_AVAIL_ALIGN_SIZE ||
	    used % VRING_USED_ALIGN_SIZE)
		return -EINVAL;
	d = gm_ptr(mem, desc, desc_bytes(size));
	a = gm_ptr(mem, avail, avail_bytes(size));
	u = gm_ptr(mem, used, used_bytes(size));
	if (!d || !a || !u)
		return -EFAULT;

	vq->st.desc_gpa = desc;
	vq->st.avail_gpa = avail;
	vq->st.used_gpa = used;
	vq->st.size = (uint16_t)size;
	vq->st.event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	vq->st.indirect = features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	return 0;
}

bool virtq_is_ready(const struct virtq *vq)
{
	return vq->st.size != 0;
}

bool virtq_is_broken(const struct virtq *vq)
{
	return vq->st.broken;
}

void virtq_set_broken(struct virtq *vq)
{
	vq->st.broken = true;
}

static bool inflight_test(const struct virtq *vq, uint16_t head)
{
	return vq->st.inflight[head / 64] & (1ull << (head % 64));
}

static void inflight_set(struct virtq *vq, uint16_t head, bool on)
{
	if (on)
		vq->st.inflight[head / 64] |= 1ull << (head % 64);
	else
		vq->st.inflight[head / 64] &= ~(1ull << (head % 64));
}

/* 2.7.13.3: the driver publishes ring entries, then the index; acquire pairs
 * with its write barrier so that the entries read afterwards are current. */
static uint16_t load_avail_idx(const struct virtq *vq)
{
	return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
}

static uint16_t *avail_event(const struct virtq *vq)
{
	/* 2.7.8: avail_event follows the used ring's `size` elements. */
	return (uint16_t *)(void *)&vq->used->ring[vq->st.size];
}

static uint16_t *used_event(const struct virtq *vq)
{
	/* 2.7.6: used_event follows the avail ring's `size` entries. */
	return &vq->avail->ring[vq->st.size];
}

/* One pass over the guest's bytes; afterwards only the copy is used. */
static void desc_copy(struct vring_desc *dst, const uint8_t *src)
{
	const volatile uint8_t *s = (const volatile uint8_t *)src;
	uint8_t buf[DESC_SIZE];

	for (size_t i = 0; i < DESC_SIZE; i++)
		buf[i] = s[i];
	dst->addr = get_le64(buf);
	dst->len = get_le32(buf + 8);
	dst->flags = get_le16(buf + 12);
	dst->next = get_le16(buf + 14);
}

static void chain_clear(struct virtq_chain *c)
{
	c->nr_segs = 0;
	c->nr_readable = 0;
	c->readable_len = 0;
	c->writable_len = 0;
}

/*
 * An indirect descriptor (2.7.5.3): switch the walk to its table. Returns
 * the number of entries, or -errno.
 */
static int indirect_table(const struct virtq *vq, const struct guest_mem *mem,
			  const struct vring_desc *d, bool nested,
			  const uint8_t **table)
{
	if (!vq->st.indirect) {
		log_guest_once("virtq: indirect descriptor, not negotiated");
		return -EINVAL;
	}
	/* 2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag
	 * within an indirect descriptor (ie. only one table per descriptor)". */
	if (nested) {
		log_guest_once("virtq: indirect descriptor inside an indirect table");
		return -EINVAL;
	}
	/* 2.7.5.3.1: "MUST NOT set both VIRTQ_DESC_F_INDIRECT and
	 * VIRTQ_DESC_F_NEXT". */
	if (d->flags & VRING_DESC_F_NEXT) {
		log_guest_once("virtq: indirect descriptor with NEXT set");
		return -EINVAL;
	}
	if (d->len == 0 || d->len % DESC_SIZE ||
	    d->len / DESC_SIZE > VIRTQ_MAX_INDIRECT) {
		log_guest_once("virtq: indirect table of %u bytes", d->len);
		return -EINVAL;
	}
	*table = gm_ptr(mem, d->addr, d->len);
	if (!*table) {
		log_guest_once("virtq: indirect table at %#llx+%u outside RAM",
			       (unsigned long long)d->addr, d->len);
		return -EFAULT;
	}
	return (int)(d->len / DESC_SIZE);
}

/* Append one non-empty buffer to the chain. */
static int chain_add(struct virtq_chain *c, const struct guest_mem *mem,
		     const struct vring_desc *d, bool write)
{
	void *p = gm_ptr(mem, d->addr, d->len);

	if (!p) {
		log_guest_once("virtq: buffer %#llx+%u outside RAM",
			       (unsigned long long)d->addr, d->len);
		return -EFAULT;
	}
	if (c->nr_segs == VIRTQ_MAX_SEGS) {
		log_guest_once("virtq: chain longer than %u buffers", VIRTQ_MAX_SEGS);
		return -E2BIG;
	}
	/* Both sums stay <= VIRTQ_MAX_CHAIN_BYTES, so this cannot wrap. */
	if (d->len > VIRTQ_MAX_CHAIN_BYTES - c->readable_len - c->writable_len) {
		log_guest_once("virtq: chain longer than %u bytes",
			       VIRTQ_MAX_CHAIN_BYTES);
		return -E2BIG;
	}
	c->segs[c->nr_segs].addr = p;
	c->segs[c->nr_segs].len = d->len;
	c->segs[c->nr_segs].write = write;
	c->nr_segs++;
	if (write) {
		c->writable_len += d->len;
	} else {
		c->nr_readable++;
		c->readable_len += d->len;
	}
	return 0;
}

/* Walk the chain starting at `head` (already checked < size). */
static int chain_walk(const struct virtq *vq, const struct guest_mem *mem,
		      uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t table_size = vq->st.size, seen = 0, idx = head;
	bool in_indirect = false, seen_write = false;
	int ret;

	for (;;) {
		struct vring_desc d;
		bool write;

		/* 2.7.5.2 forbids loops, so a chain visits each descriptor
		 * of its table at most once; one more means a loop. */
		if (seen++ == table_size) {
			log_guest_once("virtq: descriptor chain loops");
			return -ELOOP;
		}
		desc_copy(&d, table + (size_t)idx * DESC_SIZE);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			ret = indirect_table(vq, mem, &d, in_indirect, &table);
			if (ret < 0)
				return ret;
			table_size = (uint32_t)ret;
			in_indirect = true;
			seen = 0;
			idx = 0; /* 2.7.5.3.2: the chain starts at entry 0 */
			continue;
		}

		/* 2.7.4.2: "The driver MUST NOT add a device-readable
		 * descriptor after a device-writable one" (also across an
		 * indirect table). */
		write = d.flags & VRING_DESC_F_WRITE;
		if (!write && seen_write) {
			log_guest_once("virtq: readable descriptor after a writable one");
			return -EINVAL;
		}
		seen_write = write;
		/* A zero-length buffer is legal and carries nothing. */
		if (d.len) {
			ret = chain_add(c, mem, &d, write);
			if (ret)
				return ret;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= table_size) {
			log_guest_once("virtq: next %u past a table of %u", idx,
				       table_size);
			return -EINVAL;
		}
	}
}

static int break_queue(struct virtq *vq)
{
	vq->st.broken = true;
	return -EIO;
}

int virtq_pop(struct virtq *vq, const struct guest_mem *mem,
	      struct virtq_chain *chain)
{
	uint16_t avail_idx, pending, head, *slot;

	chain_clear(chain);
	chain->head = 0;
	if (vq->st.broken)
		return -EIO;
	if (!vq->avail)
		return -EAGAIN;

	avail_idx = load_avail_idx(vq);
	pending = (uint16_t)(avail_idx - vq->st.last_avail);
	if (pending == 0 && vq->st.event_idx) {
		/* 2.7.10: ask for a kick once the driver goes past what we
		 * have seen, then look again: a buffer added before the
		 * driver could see avail_event would otherwise sleep. The
		 * full fence orders our store before the reload. */
		__atomic_store_n(avail_event(vq), htole16(vq->st.last_avail),
				 __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = load_avail_idx(vq);
		pending = (uint16_t)(avail_idx - vq->st.last_avail);
	}
	if (pending == 0)
		return -EAGAIN;
	/* 2.7.6: the driver can make at most `size` entries available. */
	if (pending > vq->st.size) {
		log_guest_once("virtq: avail index %u is %u ahead of %u (size %u)",
			       avail_idx, pending, vq->st.last_avail, vq->st.size);
		return break_queue(vq);
	}

	slot = &vq->avail->ring[vq->st.last_avail & (vq->st.size - 1)];
	head = le16toh(__atomic_load_n(slot, __ATOMIC_RELAXED));
	vq->st.last_avail++;
	if (head >= vq->st.size) {
		/* Nothing to complete: a used element with this id would be
		 * as bogus as the head itself. */
		log_guest_once("virtq: head %u out of a queue of %u", head, vq->st.size);
		return break_queue(vq);
	}
	if (inflight_test(vq, head)) {
		/* Completing it again would hand the driver one buffer twice. */
		log_guest_once("virtq: head %u made available while in flight", head);
		return break_queue(vq);
	}
	inflight_set(vq, head, true);
	chain->head = head;

	if (chain_walk(vq, mem, head, chain)) {
		chain_clear(chain);
		return -EBADMSG;
	}
	return 0;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	if (vq->st.broken)
		return -EIO;
	if (!vq->used || head >= vq->st.size || !inflight_test(vq, head)) {
		/* A device pushing after a reset it raced with, or a bug. */
		log_guest_once("virtq: completion of head %u, which is not in flight",
			       head);
		return -EINVAL;
	}
	inflight_set(vq, head, false);
	e = &vq->used->ring[vq->st.used_idx & (vq->st.size - 1)];
	__atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(len), __ATOMIC_RELAXED);
	vq->st.used_idx++;
	/* 2.7.8.2 / 2.7.13.3: the element before the index that publishes it. */
	__atomic_store_n(&vq->used->idx, htole16(vq->st.used_idx), __ATOMIC_RELEASE);
	return 0;
}

bool virtq_needs_notify(struct virtq *vq)
{
	uint16_t old = vq->st.signalled_used, new = vq->st.used_idx, event;

	if (!vq->used || vq->st.broken || old == new)
		return false;
	vq->st.signalled_used = new;
	/* 2.7.7: our used index store must be visible before we read the
	 * driver's suppression state, or both sides could skip. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->st.event_idx) {
		uint16_t flags = __atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED);

		return !(le16toh(flags) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	/* 2.7.7.2: interrupt when used_event lies in [old, new). */
	event = __atomic_load_n(used_event(vq), __ATOMIC_RELAXED);
	return vring_need_event(le16toh(event), new, old);
}

bool virtq_chain_has_readable(const struct virtq_chain *chain, uint64_t n)
{
	return chain->readable_len >= n;
}

bool virtq_chain_has_writable(const struct virtq_chain *chain, uint64_t n)
{
	return chain->writable_len >= n;
}

/*
 * Visit `len` bytes of one part of the chain from `off`, calling fn per
 * piece; returns the bytes visited.
 */
static size_t chain_span(const struct virtq_chain *chain, bool writable,
			 uint64_t off, uint64_t len,
			 bool (*fn)(void *ctx, uint8_t *p, size_t n), void *ctx)
{
	unsigned int first = writable ? chain->nr_readable : 0;
	unsigned int end = writable ? chain->nr_segs : chain->nr_readable;
	size_t done = 0;

	for (unsigned int i = first; i < end && done < len; i++) {
		const struct virtq_seg *s = &chain->segs[i];
		size_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (!fn(ctx, (uint8_t *)s->addr + off, n))
			break;
		done += n;
		off = 0;
	}
	return done;
}

struct copy_ctx {
	uint8_t *buf;
	bool to_guest;
};

static bool copy_piece(void *opaque, uint8_t *p, size_t n)
{
	struct copy_ctx *c = opaque;

	if (c->to_guest)
		memcpy(p, c->buf, n);
	else
		memcpy(c->buf, p, n);
	c->buf += n;
	return true;
}

size_t virtq_chain_read(const struct virtq_chain *chain, uint64_t off, void *dst,
			size_t len)
{
	struct copy_ctx c = { .buf = dst, .to_guest = false };

	return chain_span(chain, false, off, len, copy_piece, &c);
}

size_t virtq_chain_write(const struct virtq_chain *chain, uint64_t off,
			 const void *src, size_t len)
{
	struct copy_ctx c = { .buf = (uint8_t *)(uintptr_t)src, .to_guest = true };

	return chain_span(chain, true, off, len, copy_piece, &c);
}

struct iov_ctx {
	struct iovec *iov;
	unsigned int nr, max;
};

static bool iov_piece(void *opaque, uint8_t *p, size_t n)
{
	struct iov_ctx *c = opaque;

	if (c->nr == c->max)
		return false;
	c->iov[c->nr].iov_base = p;
	c->iov[c->nr].iov_len = n;
	c->nr++;
	return true;
}

unsigned int virtq_chain_iov(const struct virtq_chain *chain, bool writable,
			     uint64_t off, uint64_t len, struct iovec *iov,
			     unsigned int max_iov)
{
	struct iov_ctx c = { .iov = iov, .nr = 0, .max = max_iov };

	chain_span(chain, writable, off, len, iov_piece, &c);
	return c.nr;
}
