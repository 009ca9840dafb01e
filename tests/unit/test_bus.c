/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "bus.h"

static uint64_t last_off;
static uint8_t last_val;

static void rd(void *opaque, uint64_t off, void *data, unsigned int size)
{
	(void)opaque;
	memset(data, 0x5a, size);
	last_off = off;
}

static void wr(void *opaque, uint64_t off, const void *data, unsigned int size)
{
	(void)opaque;
	(void)size;
	last_off = off;
	last_val = *(const uint8_t *)data;
}

static void dispatch_and_overlap(void **state)
{
	struct bus bus;
	struct bus_range a = { .base = 0x3f8, .len = 8, .name = "a", .read = rd, .write = wr };
	struct bus_range b = { .base = 0x2f8, .len = 8, .name = "b", .read = rd, .write = wr };
	struct bus_range clash = { .base = 0x3ff, .len = 2, .name = "c" };
	struct bus_range wrap = { .base = UINT64_MAX, .len = 2, .name = "w" };
	struct bus_range empty = { .base = 0, .len = 0, .name = "e" };
	uint8_t v = 7;
	uint32_t d = 0xffffffff;

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_add(&bus, &a), 0);
	assert_int_equal(bus_add(&bus, &b), 0);
	assert_int_equal(bus_add(&bus, &clash), -EEXIST);
	assert_int_equal(bus_add(&bus, &wrap), -EINVAL);
	assert_int_equal(bus_add(&bus, &empty), -EINVAL);

	assert_int_equal(bus_write(&bus, 0x3fb, &v, 1), 0);
	assert_int_equal(last_off, 3);
	assert_int_equal(last_val, 7);
	assert_int_equal(bus_write(&bus, 0x2f8, &v, 1), 0);
	assert_int_equal(last_off, 0);

	/* Unknown reads are zeros, unknown writes are dropped. */
	assert_int_equal(bus_read(&bus, 0x80, &d, 4), -ENOENT);
	assert_int_equal(d, 0);
	assert_int_equal(bus_write(&bus, 0x80, &v, 1), -ENOENT);
	/* An access running past the end of a range is not that device's. */
	d = 0xffffffff;
	assert_int_equal(bus_read(&bus, 0x3fe, &d, 4), -ENOENT);
	assert_int_equal(d, 0);
	assert_int_equal(bus_read(&bus, 0x3fc, &d, 4), 0);
	assert_int_equal(d, 0x5a5a5a5a);
}

static void full_bus(void **state)
{
	struct bus bus;

	(void)state;
	bus_init(&bus, "mmio");
	for (unsigned int i = 0; i < BUS_MAX_RANGES; i++) {
		struct bus_range r = { .base = 0x1000 * (i + 1), .len = 0x1000, .name = "x" };

		assert_int_equal(bus_add(&bus, &r), 0);
	}
	struct bus_range r = { .base = 0, .len = 0x1000, .name = "y" };
	assert_int_equal(bus_add(&bus, &r), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dispatch_and_overlap),
		cmocka_unit_test(full_bus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
