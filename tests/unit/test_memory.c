/* SPDX-License-Identifier: MIT */
/* gm_ptr and friends: the one gate between guest addresses and host memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory.h"

#define LOW_SIZE (64 * 1024)
#define HIGH_GPA 0x100000000ull
#define HIGH_SIZE (32 * 1024)

static int setup(void **state)
{
	static struct guest_mem mem;
	const struct gm_region r[2] = {
		{ .gpa = 0, .size = LOW_SIZE },
		{ .gpa = HIGH_GPA, .size = HIGH_SIZE },
	};

	assert_int_equal(gm_create(&mem, r, 2), 0);
	*state = &mem;
	return 0;
}

static int teardown(void **state)
{
	gm_destroy(*state);
	return 0;
}

static void whole_region_and_edges(void **state)
{
	struct guest_mem *mem = *state;

	assert_non_null(gm_ptr(mem, 0, LOW_SIZE));
	assert_ptr_equal(gm_ptr(mem, 0, 1), mem->regions[0].host);
	assert_non_null(gm_ptr(mem, LOW_SIZE - 1, 1));
	assert_null(gm_ptr(mem, LOW_SIZE - 1, 2));
	assert_null(gm_ptr(mem, LOW_SIZE, 1));
	assert_null(gm_ptr(mem, 0, LOW_SIZE + 1));
	assert_non_null(gm_ptr(mem, HIGH_GPA, HIGH_SIZE));
	assert_null(gm_ptr(mem, HIGH_GPA - 1, 1));
	assert_null(gm_ptr(mem, HIGH_GPA + HIGH_SIZE, 1));
	assert_ptr_equal(gm_ptr(mem, HIGH_GPA + 5, 1), mem->regions[1].host + 5);
}

static void wrap_around_is_refused(void **state)
{
	struct guest_mem *mem = *state;

	assert_null(gm_ptr(mem, 16, UINT64_MAX));
	assert_null(gm_ptr(mem, 16, UINT64_MAX - 15));
	assert_null(gm_ptr(mem, UINT64_MAX, 2));
	assert_null(gm_ptr(mem, UINT64_MAX, 0));
	assert_null(gm_ptr(mem, HIGH_GPA + 8, UINT64_MAX - 7));
}

static void zero_length(void **state)
{
	struct guest_mem *mem = *state;

	assert_non_null(gm_ptr(mem, 0, 0));
	assert_non_null(gm_ptr(mem, LOW_SIZE - 1, 0));
	/* One past the end is not inside a region. */
	assert_null(gm_ptr(mem, LOW_SIZE, 0));
}

static void straddling_regions_is_refused(void **state)
{
	struct guest_mem *mem = *state;

	/* In the host both regions are adjacent in one mapping; in the guest
	 * they are not, so a range across the hole must fail. */
	assert_null(gm_ptr(mem, LOW_SIZE - 8, HIGH_GPA - LOW_SIZE + 16));
	assert_null(gm_ptr(mem, LOW_SIZE - 8, 16));
}

static void read_write(void **state)
{
	struct guest_mem *mem = *state;
	uint8_t buf[16], out[16];

	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(gm_write(mem, HIGH_GPA + HIGH_SIZE - 16, buf, 16), 0);
	assert_int_equal(gm_read(mem, HIGH_GPA + HIGH_SIZE - 16, out, 16), 0);
	assert_memory_equal(buf, out, 16);
	assert_int_equal(gm_write(mem, HIGH_GPA + HIGH_SIZE - 15, buf, 16), -EFAULT);
	assert_int_equal(gm_read(mem, LOW_SIZE, out, 1), -EFAULT);
}

static void bad_layouts(void **state)
{
	struct guest_mem m;
	const struct gm_region unaligned = { .gpa = 0, .size = 100 };
	const struct gm_region overlap[2] = { { .gpa = 0, .size = 8192 },
					      { .gpa = 4096, .size = 4096 } };
	const struct gm_region wrap = { .gpa = UINT64_MAX - 4095, .size = 8192 };
	const struct gm_region empty = { .gpa = 0, .size = 0 };

	(void)state;
	assert_int_equal(gm_create(&m, &unaligned, 1), -EINVAL);
	assert_int_equal(gm_create(&m, overlap, 2), -EINVAL);
	assert_int_equal(gm_create(&m, &wrap, 1), -EINVAL);
	assert_int_equal(gm_create(&m, &empty, 1), -EINVAL);
	assert_int_equal(gm_create(&m, &empty, 0), -EINVAL);
	gm_destroy(&m); /* safe on a failed create */
}

/* Huge-page backing wants 2 MiB alignment; file pages map only where
 * page aligned and inside one region, and then read as the file. */
static void huge_alignment_and_file_mapping(void **state)
{
	struct guest_mem m;
	const struct gm_region small = { .gpa = 0, .size = 1u << 20 };
	const struct gm_region r = { .gpa = 0, .size = 64u << 10 };
	char path[] = "/tmp/cocoon-test-mem.XXXXXX";
	uint8_t page[8192], out[16];
	int fd;

	(void)state;
	assert_int_equal(gm_create_backed(&m, &small, 1, true), -EINVAL);
	assert_int_equal(gm_create(&m, &r, 1), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	memset(page, 'k', sizeof(page));
	assert_int_equal(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	assert_int_equal(gm_map_file(&m, 4096, 4096, fd, 4096), 0);
	assert_int_equal(gm_map_file(&m, 100, 4096, fd, 0), -EINVAL);
	assert_int_equal(gm_map_file(&m, 60u << 10, 8192, fd, 0), -EINVAL);
	assert_int_equal(gm_map_file(&m, 0, 0, fd, 0), -EINVAL);
	assert_int_equal(gm_read(&m, 4096, out, sizeof(out)), 0);
	assert_memory_equal(out, page, sizeof(out));
	/* Copy-on-write: a guest write does not reach the file. */
	assert_int_equal(gm_write(&m, 4096, "guest", 5), 0);
	assert_int_equal(pread(fd, out, 5, 4096), 5);
	assert_memory_equal(out, "kkkkk", 5);
	assert_int_equal(gm_read(&m, 0, out, 4), 0); /* untouched memfd page */
	assert_memory_equal(out, "\0\0\0\0", 4);
	close(fd);
	gm_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_region_and_edges),
		cmocka_unit_test(wrap_around_is_refused),
		cmocka_unit_test(zero_length),
		cmocka_unit_test(straddling_regions_is_refused),
		cmocka_unit_test(read_write),
		cmocka_unit_test(bad_layouts),
		cmocka_unit_test(huge_alignment_and_file_mapping),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
