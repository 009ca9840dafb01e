/* SPDX-License-Identifier: MIT */
/*
 * Guest memory: the only code that turns a guest-physical address into a host
 * pointer.
 *
 * All of guest RAM is one memfd (so that a later snapshot can write it out and
 * map it back copy-on-write), mapped once. The guest-physical address space
 * is split into regions (on x86 a low region below the MMIO hole and a high one
 * above 4 GiB); consecutive regions are consecutive in the host mapping, but a
 * guest range is only valid when it lies wholly inside ONE region.
 */
#ifndef COCOON_MEMORY_H
#define COCOON_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define GM_MAX_REGIONS 4

struct gm_region {
	uint64_t gpa;   /* first guest-physical address */
	uint64_t size;  /* bytes; never 0 */
	uint8_t *host;  /* host address of gpa */
};

struct guest_mem {
	struct gm_region regions[GM_MAX_REGIONS];
	unsigned int nr_regions;
	int fd;          /* the memfd backing all regions, -1 when none */
	uint8_t *base;   /* start of the single host mapping */
	uint64_t total;  /* sum of region sizes == mapping length */
};

/*
 * Create guest memory with the given regions, which must be sorted, page
 * aligned, non-empty and non-overlapping. `regions[i].host` is ignored on
 * input and filled in. Memory is not prefaulted. Returns 0 or -errno
 * (-EINVAL for a bad layout).
 */
int gm_create(struct guest_mem *mem, const struct gm_region *regions,
	      unsigned int nr) __must_check;

/*
 * As gm_create, backed by 2 MiB hugetlb pages (a MFD_HUGETLB memfd) when
 * `huge`: fewer nested page faults and TLB misses, at the price of whole
 * 2 MiB pages per touch. Regions must then be 2 MiB aligned. The pages are
 * reserved at mapping time, so a shortage is -ENOMEM here, never a SIGBUS
 * later.
 */
int gm_create_backed(struct guest_mem *mem, const struct gm_region *regions,
		     unsigned int nr, bool huge) __must_check;

/* Unmap and close. Safe on a zeroed or already destroyed struct. */
void gm_destroy(struct guest_mem *mem);

/*
 * Host pointer for guest range [gpa, gpa+len), or NULL unless the whole range
 * lies inside one region. The sum gpa+len is overflow-checked. A zero-length
 * range is valid when gpa lies inside a region (not at its end).
 */
void *gm_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy between guest and host. 0, or -EFAULT when gm_ptr would fail. */
int gm_read(const struct guest_mem *mem, uint64_t gpa, void *dst,
	    uint64_t len) __must_check;
int gm_write(const struct guest_mem *mem, uint64_t gpa, const void *src,
	     uint64_t len) __must_check;

/*
 * Map `len` bytes of file `fd` from offset `off` over guest range
 * [gpa, gpa+len), private and copy-on-write: the guest reads the file's
 * page-cache pages (one copy shared by every VM booted from the same file)
 * and a page it writes becomes its own. gpa, len and off must be page
 * aligned and the range inside one region. Those pages are then no longer
 * in the memfd (a snapshot has to read them through the mapping). Returns 0
 * or -errno (-EINVAL for a bad range; the memory is unchanged on failure).
 */
int gm_map_file(const struct guest_mem *mem, uint64_t gpa, uint64_t len, int fd,
		uint64_t off) __must_check;

/* The region holding gpa, or NULL. */
const struct gm_region *gm_region_of(const struct guest_mem *mem, uint64_t gpa);

#endif
