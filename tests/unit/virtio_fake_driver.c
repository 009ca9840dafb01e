/* SPDX-License-Identifier: MIT */
/* The guest's half of a virtqueue, for tests (see virtio_fake_driver.h). */
#include "virtio_fake_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_mmio.h>

#include "util.h"

static uint8_t *host(struct vfd *d, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gm_ptr(d->mem, gpa, len);

	/* The fake driver only touches memory where the test put RAM. */
	if (!p) {
		fprintf(stderr, "fake driver: %#llx+%llu is not RAM\n",
			(unsigned long long)gpa, (unsigned long long)len);
		abort();
	}
	return p;
}

void vfd_init(struct vfd *d, struct virtio_dev *dev, const struct guest_mem *mem)
{
	memset(d, 0, sizeof(*d));
	d->dev = dev;
	d->mem = mem;
}

uint32_t vfd_rd(struct vfd *d, uint64_t reg)
{
	uint8_t b[4];

	vmmio_read(d->dev, reg, b, 4);
	return get_le32(b);
}

void vfd_wr(struct vfd *d, uint64_t reg, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	vmmio_write(d->dev, reg, b, 4);
}

uint32_t vfd_status(struct vfd *d)
{
	return vfd_rd(d, VIRTIO_MMIO_STATUS);
}

static void add_status(struct vfd *d, uint32_t bit)
{
	vfd_wr(d, VIRTIO_MMIO_STATUS, vfd_status(d) | bit);
}

bool vfd_negotiate(struct vfd *d, uint64_t features)
{
	vfd_wr(d, VIRTIO_MMIO_STATUS, 0);
	add_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	add_status(d, VIRTIO_CONFIG_S_DRIVER);
	vfd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vfd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vfd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vfd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	add_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
	return vfd_status(d) & VIRTIO_CONFIG_S_FEATURES_OK;
}

void vfd_layout(struct vfd *d, unsigned int q, uint32_t size, uint64_t base)
{
	struct vfd_queue *vq = &d->q[q];
	uint64_t avail_len = 4 + 2ull * size + 2, used_len = 4 + 8ull * size + 2;

	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->desc = base;
	vq->avail = base + 16ull * size;
	vq->used = ALIGN_UP(vq->avail + avail_len, 4ull);
	memset(host(d, vq->desc, 16ull * size), 0, 16ull * size);
	memset(host(d, vq->avail, avail_len), 0, avail_len);
	memset(host(d, vq->used, used_len), 0, used_len);
}

void vfd_program_raw(struct vfd *d, unsigned int q, uint32_t num, uint64_t desc,
		     uint64_t avail, uint64_t used)
{
	vfd_wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
	vfd_wr(d, VIRTIO_MMIO_QUEUE_NUM, num);
	vfd_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vfd_wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vfd_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	vfd_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	vfd_wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	vfd_wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	vfd_wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

void vfd_program(struct vfd *d, unsigned int q)
{
	const struct vfd_queue *vq = &d->q[q];

	vfd_program_raw(d, q, vq->size, vq->desc, vq->avail, vq->used);
}

uint32_t vfd_driver_ok(struct vfd *d)
{
	add_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
	return vfd_status(d);
}

bool vfd_bringup(struct vfd *d, uint64_t features, unsigned int nr, uint32_t size,
		 uint64_t base)
{
	uint32_t status;

	if (!vfd_negotiate(d, features))
		return false;
	for (unsigned int q = 0; q < nr; q++) {
		vfd_layout(d, q, size, base + 0x4000ull * q);
		vfd_program(d, q);
	}
	status = vfd_driver_ok(d);
	return (status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

void vfd_desc_at(struct vfd *d, uint64_t table, uint16_t idx, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = host(d, table + 16ull * idx, 16);

	put_le64(p, addr);
	put_le32(p + 8, len);
	put_le16(p + 12, flags);
	put_le16(p + 14, next);
}

void vfd_desc(struct vfd *d, unsigned int q, uint16_t idx, uint64_t addr,
	      uint32_t len, uint16_t flags, uint16_t next)
{
	vfd_desc_at(d, d->q[q].desc, idx, addr, len, flags, next);
}

void vfd_set_avail_idx(struct vfd *d, unsigned int q, uint16_t idx)
{
	uint16_t *p = (uint16_t *)(void *)host(d, d->q[q].avail + 2, 2);

	d->q[q].avail_idx = idx;
	__atomic_store_n(p, idx, __ATOMIC_RELEASE);
}

void vfd_publish(struct vfd *d, unsigned int q, uint16_t head)
{
	struct vfd_queue *vq = &d->q[q];
	uint64_t slot = vq->avail + 4 + 2ull * (vq->avail_idx % vq->size);

	put_le16(host(d, slot, 2), head);
	vfd_set_avail_idx(d, q, (uint16_t)(vq->avail_idx + 1));
}

void vfd_set_avail_flags(struct vfd *d, unsigned int q, uint16_t flags)
{
	put_le16(host(d, d->q[q].avail, 2), flags);
}

void vfd_set_used_event(struct vfd *d, unsigned int q, uint16_t v)
{
	put_le16(host(d, d->q[q].avail + 4 + 2ull * d->q[q].size, 2), v);
}

uint16_t vfd_avail_event(struct vfd *d, unsigned int q)
{
	return get_le16(host(d, d->q[q].used + 4 + 8ull * d->q[q].size, 2));
}

uint16_t vfd_post(struct vfd *d, unsigned int q, const struct vfd_buf *bufs,
		  unsigned int n)
{
	struct vfd_queue *vq = &d->q[q];
	uint16_t head = vq->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);
		uint16_t next = (uint16_t)((head + i + 1) % vq->size);
		uint16_t flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0));

		vfd_desc(d, q, idx, bufs[i].addr, bufs[i].len, flags, next);
	}
	vq->next_desc = (uint16_t)((head + n) % vq->size);
	vfd_publish(d, q, head);
	return head;
}

uint16_t vfd_used_idx(struct vfd *d, unsigned int q)
{
	const uint16_t *p = (const uint16_t *)(void *)host(d, d->q[q].used + 2, 2);

	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

bool vfd_used(struct vfd *d, unsigned int q, uint32_t *id, uint32_t *len)
{
	struct vfd_queue *vq = &d->q[q];
	const uint8_t *e;

	if (vfd_used_idx(d, q) == vq->used_seen)
		return false;
	e = host(d, vq->used + 4 + 8ull * (vq->used_seen % vq->size), 8);
	*id = get_le32(e);
	*len = get_le32(e + 4);
	vq->used_seen++;
	return true;
}

void vfd_kick(struct vfd *d, unsigned int q)
{
	vfd_wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}
