/* SPDX-License-Identifier: MIT */
/*
 * I/O buses: port I/O and MMIO address ranges with their handlers.
 *
 * Ranges are added before the first vCPU runs and never change afterwards,
 * so lookups need no lock. Overlapping ranges are refused. Devices do their
 * own locking. Accesses that hit no range read as zeros and writes are
 * dropped (DESIGN rule 7).
 */
#ifndef COCOON_BUS_H
#define COCOON_BUS_H

#include <stdint.h>

#include "util.h"

#define BUS_MAX_RANGES 32

struct bus_range {
	uint64_t base;
	uint64_t len;
	const char *name;
	void *opaque;
	/* offset is relative to base; size is 1, 2, 4 or 8 */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned int size);
	void (*write)(void *opaque, uint64_t offset, const void *data,
		      unsigned int size);
};

struct bus {
	const char *name;
	unsigned int nr;
	struct bus_range ranges[BUS_MAX_RANGES]; /* sorted by base */
};

void bus_init(struct bus *bus, const char *name);

/* Add a range. -EINVAL for an empty or wrapping range, -EEXIST when it
 * overlaps another, -ENOSPC when the bus is full. */
int bus_add(struct bus *bus, const struct bus_range *range) __must_check;

/* Dispatch an access. Returns 0 when a device handled it, -ENOENT when no
 * range covers [addr, addr+size) (a read then yields zeros). */
int bus_read(const struct bus *bus, uint64_t addr, void *data, unsigned int size);
int bus_write(const struct bus *bus, uint64_t addr, const void *data,
	      unsigned int size);

#endif
