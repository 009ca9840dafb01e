/* SPDX-License-Identifier: MIT */
#include "memory.h"

#include <errno.h>
#include <string.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE_SIZE 4096ull
#define HUGE_PAGE_SIZE (2ull << 20)

int gm_create(struct guest_mem *mem, const struct gm_region *regions,
	      unsigned int nr)
{
	return gm_create_backed(mem, regions, nr, false);
}

int gm_create_backed(struct guest_mem *mem, const struct gm_region *regions,
		     unsigned int nr, bool huge)
{
	const uint64_t align = huge ? HUGE_PAGE_SIZE : PAGE_SIZE;
	uint64_t total = 0;
	int err;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (nr == 0 || nr > GM_MAX_REGIONS)
		return -EINVAL;
	for (unsigned int i = 0; i < nr; i++) {
		const struct gm_region *r = &regions[i];

		if (r->size == 0 || r->gpa % align || r->size % align)
			return -EINVAL;
		if (r->gpa + r->size < r->gpa)
			return -EINVAL;
		if (i > 0 && r->gpa < regions[i - 1].gpa + regions[i - 1].size)
			return -EINVAL;
		if (total + r->size < total)
			return -EINVAL;
		total += r->size;
	}

	mem->fd = memfd_create("cocoon-guest-ram",
			       MFD_CLOEXEC | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0));
	if (mem->fd < 0)
		return -errno;
	if (ftruncate(mem->fd, (off_t)total) < 0) {
		err = -errno;
		goto err_close;
	}
	/*
	 * MAP_NORESERVE: the guest rarely touches all of its RAM and the
	 * memfd pages are allocated on first touch anyway; do not prefault.
	 * Huge pages are the exception: without the reservation a shortage
	 * would be a SIGBUS in whichever thread touched the page first.
	 */
	mem->base = mmap(NULL, total, PROT_READ | PROT_WRITE,
			 MAP_SHARED | (huge ? 0 : MAP_NORESERVE), mem->fd, 0);
	if (mem->base == MAP_FAILED) {
		err = -errno;
		mem->base = NULL;
		goto err_close;
	}
	mem->total = total;
	uint64_t off = 0;
	for (unsigned int i = 0; i < nr; i++) {
		mem->regions[i] = regions[i];
		mem->regions[i].host = mem->base + off;
		off += regions[i].size;
	}
	mem->nr_regions = nr;
	return 0;

err_close:
	close(mem->fd);
	mem->fd = -1;
	return err;
}

void gm_destroy(struct guest_mem *mem)
{
	if (mem->base)
		munmap(mem->base, mem->total);
	if (mem->fd >= 0)
		close(mem->fd);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
}

int gm_map_file(const struct guest_mem *mem, uint64_t gpa, uint64_t len, int fd,
		uint64_t off)
{
	uint8_t *host;

	if (len == 0 || (gpa | len | off) % PAGE_SIZE || off > (uint64_t)INT64_MAX - len)
		return -EINVAL;
	host = gm_ptr(mem, gpa, len);
	if (!host)
		return -EINVAL;
	/* MAP_FIXED replaces the memfd pages of this range atomically; on
	 * failure the old mapping stays. */
	if (mmap(host, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
		 (off_t)off) == MAP_FAILED)
		return -errno;
	return 0;
}

const struct gm_region *gm_region_of(const struct guest_mem *mem, uint64_t gpa)
{
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct gm_region *r = &mem->regions[i];

		/* gpa - r->gpa cannot underflow once gpa >= r->gpa. */
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *gm_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r = gm_region_of(mem, gpa);
	uint64_t off;

	if (!r)
		return NULL;
	off = gpa - r->gpa;
	/* off < size holds, so size - off is the room left; no sum to overflow. */
	if (len > r->size - off)
		return NULL;
	return r->host + off;
}

int gm_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = gm_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(const struct guest_mem *mem, uint64_t gpa, const void *src,
	     uint64_t len)
{
	void *p = gm_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}
