/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's parsers (--cgroup, --uid/--gid) and its filter tables
 * (every name resolves on this architecture). The filters themselves are
 * tested on a running VM: tests/integration/sandbox.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "sandbox.h"

static void cgroup_ok(const char *s, uint64_t cpu, uint64_t mem)
{
	struct vm_sandbox sb = { 0 };
	char why[256] = "";

	assert_int_equal(sb_parse_cgroup(s, &sb, why, sizeof(why)), 0);
	assert_int_equal(sb.cpu_quota_us, cpu);
	assert_int_equal(sb.memory_max, mem);
}

static void cgroup_bad(const char *s, const char *want)
{
	struct vm_sandbox sb = { 0 };
	char why[256] = "";

	assert_int_equal(sb_parse_cgroup(s, &sb, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, want));
	assert_int_equal(sb.cpu_quota_us, 0);
	assert_int_equal(sb.memory_max, 0);
}

static void test_cgroup(void **state)
{
	(void)state;
	cgroup_ok("cpu=2", 200000, 0);
	cgroup_ok("cpu=0.5", 50000, 0);
	cgroup_ok("cpu=1.25,memory=512M", 125000, 512ull << 20);
	cgroup_ok("memory=1G,cpu=.01", 1000, 1ull << 30);
	cgroup_ok("memory=4M", 0, 4ull << 20);
	cgroup_ok("cpu=0.123456789", 12345, 0); /* beyond µs precision: dropped */
	cgroup_bad("", "give cpu=N and/or memory=SIZE");
	cgroup_bad("cpu=0", "cpu=0: give a number of CPUs");
	cgroup_bad("cpu=0.001", "cpu=0.001:");
	cgroup_bad("cpu=", "cpu=: give");
	cgroup_bad("cpu=1x", "cpu=1x:");
	cgroup_bad("cpu=-1", "cpu=-1:");
	cgroup_bad("cpu=1025", "cpu=1025:");
	cgroup_bad("memory=1k", "memory=1k: give a size of at least 4M");
	cgroup_bad("memory=", "memory=: not a size");
	cgroup_bad("memory=lots", "memory=lots:");
	cgroup_bad("swap=1", "swap=1: unknown");
	cgroup_bad("cpu=1,", "a trailing comma");
	cgroup_bad("cpu", "cpu: unknown");
}

static void test_ids(void **state)
{
	uint32_t id = 7;

	(void)state;
	assert_int_equal(sb_parse_id("0", false, &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(sb_parse_id("4294967294", true, &id), 0);
	assert_int_equal(id, 4294967294u);
	assert_int_equal(sb_parse_id("root", false, &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(sb_parse_id("root", true, &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(sb_parse_id("4294967295", false, &id), -EINVAL); /* (uid_t)-1 */
	assert_int_equal(sb_parse_id("12x", false, &id), -EINVAL);
	assert_int_equal(sb_parse_id("", false, &id), -EINVAL);
	assert_int_equal(sb_parse_id("no-such-user-anywhere", false, &id), -EINVAL);
	assert_int_equal(sb_parse_id("no-such-group-anywhere", true, &id), -EINVAL);
}

/* Every name in the tables is a system call of this architecture, and the
 * vCPU list stays the narrowest of the device threads. */
static void test_tables(void **state)
{
	(void)state;
	for (int k = 0; k < SB_NR_THREADS; k++) {
		int n = sb_allowed_count((enum sb_thread)k);

		assert_true(n > 20);
		assert_true(n < 100);
	}
	assert_true(sb_allowed_count(SB_AIO) < sb_allowed_count(SB_VCPU));
	assert_string_equal(sb_thread_name(SB_VCPU), "vcpu");
	assert_string_equal(sb_thread_name(SB_EVLOOP), "event-loop");
	assert_string_equal(sb_thread_name((enum sb_thread)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
