/* SPDX-License-Identifier: MIT */
#include "bus.h"

#include <errno.h>
#include <string.h>

#include "log.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

int bus_add(struct bus *bus, const struct bus_range *range)
{
	unsigned int pos = 0;

	if (range->len == 0 || range->base + range->len < range->base)
		return -EINVAL;
	if (bus->nr == BUS_MAX_RANGES)
		return -ENOSPC;
	for (unsigned int i = 0; i < bus->nr; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (range->base < r->base + r->len && r->base < range->base + range->len)
			return -EEXIST;
		if (r->base < range->base)
			pos = i + 1;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->nr - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = *range;
	bus->nr++;
	return 0;
}

static const struct bus_range *find(const struct bus *bus, uint64_t addr,
				    unsigned int size)
{
	unsigned int lo = 0, hi = bus->nr;

	/* Binary search for the last range whose base is <= addr. */
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct bus_range *r = &bus->ranges[lo - 1];
	uint64_t off = addr - r->base;

	if (off >= r->len || size > r->len - off)
		return NULL;
	return r;
}

int bus_read(const struct bus *bus, uint64_t addr, void *data, unsigned int size)
{
	const struct bus_range *r = find(bus, addr, size);

	if (!r || !r->read) {
		memset(data, 0, size);
		if (!r)
			log_guest_once("%s read of %u bytes at %#llx hits no device",
				       bus->name, size, (unsigned long long)addr);
		return r ? 0 : -ENOENT;
	}
	r->read(r->opaque, addr - r->base, data, size);
	return 0;
}

int bus_write(const struct bus *bus, uint64_t addr, const void *data,
	      unsigned int size)
{
	const struct bus_range *r = find(bus, addr, size);

	if (!r || !r->write) {
		if (!r)
			log_guest_once("%s write of %u bytes at %#llx hits no device",
				       bus->name, size, (unsigned long long)addr);
		return r ? 0 : -ENOENT;
	}
	r->write(r->opaque, addr - r->base, data, size);
	return 0;
}
