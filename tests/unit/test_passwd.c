/* SPDX-License-Identifier: MIT */
/* `-u` resolution against /etc/passwd and /etc/group (guest-init/passwd.h),
 * and the rlimit records (guest-init/rlimit.h): runc's semantics, docker's
 * messages, and no malformed line ever becoming root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest-init/passwd.h"
#include "../../guest-init/rlimit.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "user:x:1000:1000:user:/home/user:/bin/sh\n"
			     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
			     "www:x:33:33::/var/www:/usr/sbin/nologin"; /* no final newline */

static const char group[] = "root:x:0:\n"
			    "users:x:100:user\n"
			    "user:x:1000:\n"
			    "audio:x:29:pulse,user,other\n"
			    "video:x:44:userx,xuser\n" /* not "user" */
			    "nogroup:x:65534:\n";

static struct user_ids ids;
static char err[PASSWD_ERROR_MAX];

static int resolve(const char *spec)
{
	return user_resolve(spec, passwd, strlen(passwd), group, strlen(group), &ids, err);
}

static void expect_home(const char *home)
{
	if (!home) {
		assert_null(ids.home);
		return;
	}
	assert_non_null(ids.home);
	assert_int_equal(ids.home_len, strlen(home));
	assert_memory_equal(ids.home, home, strlen(home));
}

static void by_name(void **state)
{
	(void)state;
	assert_int_equal(resolve("user"), 0);
	assert_int_equal(ids.uid, 1000);
	assert_int_equal(ids.gid, 1000);
	/* Every group listing the user, in file order; never near-misses. */
	assert_int_equal(ids.ngroups, 2);
	assert_int_equal(ids.groups[0], 100);
	assert_int_equal(ids.groups[1], 29);
	expect_home("/home/user");

	assert_int_equal(resolve("nobody"), 0);
	assert_int_equal(ids.uid, 65534);
	assert_int_equal(ids.gid, 65534);
	assert_int_equal(ids.ngroups, 0);
	expect_home("/nonexistent");

	/* The last line has no newline. */
	assert_int_equal(resolve("www"), 0);
	assert_int_equal(ids.uid, 33);
	expect_home("/var/www");
}

static void by_uid(void **state)
{
	(void)state;
	/* A uid with an entry gets that entry's gid, groups and home. */
	assert_int_equal(resolve("1000"), 0);
	assert_int_equal(ids.uid, 1000);
	assert_int_equal(ids.gid, 1000);
	assert_int_equal(ids.ngroups, 2);
	expect_home("/home/user");

	/* Without an entry: allowed, gid 0, no groups, no home. */
	assert_int_equal(resolve("1234"), 0);
	assert_int_equal(ids.uid, 1234);
	assert_int_equal(ids.gid, 0);
	assert_int_equal(ids.ngroups, 0);
	expect_home(NULL);

	/* Empty user means root. */
	assert_int_equal(resolve(NULL), 0);
	assert_int_equal(ids.uid, 0);
	expect_home("/root");
	assert_int_equal(resolve(""), 0);
	assert_int_equal(ids.uid, 0);
	assert_int_equal(resolve(":100"), 0);
	assert_int_equal(ids.uid, 0);
	assert_int_equal(ids.gid, 100);
}

static void with_group(void **state)
{
	(void)state;
	/* An explicit group replaces the primary one and drops the others. */
	assert_int_equal(resolve("1000:100"), 0);
	assert_int_equal(ids.uid, 1000);
	assert_int_equal(ids.gid, 100);
	assert_int_equal(ids.ngroups, 0);
	expect_home("/home/user");

	assert_int_equal(resolve("user:users"), 0);
	assert_int_equal(ids.gid, 100);
	assert_int_equal(resolve("user:nogroup"), 0);
	assert_int_equal(ids.gid, 65534);
	assert_int_equal(resolve("1000:audio"), 0);
	assert_int_equal(ids.uid, 1000);
	assert_int_equal(ids.gid, 29);
	assert_int_equal(resolve("nobody:44"), 0);
	assert_int_equal(ids.uid, 65534);
	assert_int_equal(ids.gid, 44);
	/* A numeric group without an entry is allowed. */
	assert_int_equal(resolve("1234:4321"), 0);
	assert_int_equal(ids.uid, 1234);
	assert_int_equal(ids.gid, 4321);
	/* "user:" is "user". */
	assert_int_equal(resolve("user:"), 0);
	assert_int_equal(ids.gid, 1000);
	assert_int_equal(ids.ngroups, 2);
}

static void unknown(void **state)
{
	(void)state;
	assert_int_equal(resolve("nosuch"), -EINVAL);
	assert_string_equal(err, "unable to find user nosuch: no matching entries in passwd file");
	assert_int_equal(resolve("nosuch:users"), -EINVAL);
	assert_string_equal(err, "unable to find user nosuch: no matching entries in passwd file");
	assert_int_equal(resolve("user:nosuch"), -EINVAL);
	assert_string_equal(err, "unable to find group nosuch: no matching entries in group file");
	assert_int_equal(resolve("1000:nosuch"), -EINVAL);
	assert_string_equal(err, "unable to find group nosuch: no matching entries in group file");
	/* Names are exact: no prefix or case folding. */
	assert_int_equal(resolve("use"), -EINVAL);
	assert_int_equal(resolve("User"), -EINVAL);
	assert_int_equal(resolve("user "), -EINVAL);
	/* Missing files: names fail, numbers work. */
	assert_int_equal(user_resolve("root", NULL, 0, NULL, 0, &ids, err), -EINVAL);
	assert_int_equal(user_resolve("0:0", NULL, 0, NULL, 0, &ids, err), 0);
	assert_int_equal(user_resolve("5:7", NULL, 0, NULL, 0, &ids, err), 0);
	assert_int_equal(ids.uid, 5);
	assert_int_equal(ids.gid, 7);
	expect_home(NULL);
}

static void bad_specs(void **state)
{
	(void)state;
	assert_int_equal(resolve("a:b:c"), -EINVAL);
	assert_string_equal(err, "invalid user \"a:b:c\"");
	assert_int_equal(resolve("2147483648"), -EINVAL);
	assert_string_equal(err, "uids and gids must be in range 0-2147483647");
	assert_int_equal(resolve("1:99999999999999999999"), -EINVAL);
	assert_string_equal(err, "uids and gids must be in range 0-2147483647");
	assert_int_equal(resolve("-1"), -EINVAL);
	assert_string_equal(err, "uids and gids must be in range 0-2147483647");
	assert_int_equal(resolve("2147483647"), 0);
	assert_int_equal(ids.uid, 2147483647u);
	assert_int_equal(resolve("+5"), 0);
	assert_int_equal(ids.uid, 5);
	/* A long name is cut in the message, never overflows it. */
	{
		char spec[1000];

		memset(spec, 'n', sizeof(spec) - 1);
		spec[sizeof(spec) - 1] = '\0';
		assert_int_equal(resolve(spec), -EINVAL);
		assert_int_equal(strlen(err), PASSWD_ERROR_MAX - 1);
	}
}

static void malformed_lines(void **state)
{
	static const char bad[] = "\n"
				  "# evil:x:0:0::/:/bin/sh\n"
				  "+evil:x:0:0::/:/bin/sh\n"
				  "-evil:x:0:0::/:/bin/sh\n"
				  "evil:x\n"          /* too few fields */
				  "evil:x:0\n"        /* no gid */
				  "evil:x::0::/:\n"   /* empty uid */
				  "evil:x:abc:0::/:\n"
				  "evil:x:-1:0::/:\n"
				  "evil:x:0x0:0::/:\n"
				  "evil:x:99999999999:0::/:\n"
				  "evil:x:0:0 ::/:\n"
				  ":x:7:7::/:\n"      /* no name */
				  "ok:x:5:6\n"        /* four fields: fine, no home */
				  "evil:x:9:9::/home/evil:/bin/sh\n";
	static const char bad_group[] = "grp:x:abc:ok\n"
					"grp:x:\n"
					"grp2:x:-5:ok\n"
					"grp3:x:12:ok\n";
	char with_nul[] = "nul:x:0:0::/:\nnul2:x:8:8::/a\0b:/bin/sh\nnul:x:3:3::/:\n";

	(void)state;
	/* Every malformed "evil" line is skipped: the first good one counts. */
	assert_int_equal(user_resolve("evil", bad, strlen(bad), NULL, 0, &ids, err), 0);
	assert_int_equal(ids.uid, 9);
	assert_int_equal(ids.gid, 9);
	expect_home("/home/evil");
	/* "0" never matches a skipped line, so it is a bare uid 0 here. */
	assert_int_equal(user_resolve("0", bad, strlen(bad), NULL, 0, &ids, err), 0);
	expect_home(NULL);
	assert_int_equal(user_resolve("7", bad, strlen(bad), NULL, 0, &ids, err), 0);
	expect_home(NULL);
	assert_int_equal(user_resolve("ok", bad, strlen(bad), bad_group, strlen(bad_group),
				      &ids, err), 0);
	assert_int_equal(ids.uid, 5);
	assert_int_equal(ids.gid, 6);
	expect_home(NULL);
	assert_int_equal(ids.ngroups, 1);
	assert_int_equal(ids.groups[0], 12);
	assert_int_equal(user_resolve("ok:grp", bad, strlen(bad), bad_group,
				      strlen(bad_group), &ids, err), -EINVAL);
	/* A line with a NUL byte is skipped whole. */
	assert_int_equal(user_resolve("nul2", with_nul, sizeof(with_nul) - 1, NULL, 0, &ids,
				      err), -EINVAL);
	assert_int_equal(user_resolve("nul", with_nul, sizeof(with_nul) - 1, NULL, 0, &ids,
				      err), 0);
	assert_int_equal(ids.uid, 0);
}

static void long_lines(void **state)
{
	size_t len = PASSWD_MAX_LINE + 200;
	char *buf = malloc(2 * len);
	size_t n;

	(void)state;
	assert_non_null(buf);
	/* One line just over the cap, naming "long" uid 0: skipped. Then a
	 * normal line for "long". */
	n = (size_t)sprintf(buf, "long:x:0:0::/");
	memset(buf + n, 'a', PASSWD_MAX_LINE + 1 - n);
	n = PASSWD_MAX_LINE + 1;
	n += (size_t)sprintf(buf + n, "\nlong:x:42:42::/home/long:\n");
	assert_int_equal(user_resolve("long", buf, n, NULL, 0, &ids, err), 0);
	assert_int_equal(ids.uid, 42);
	expect_home("/home/long");

	/* Exactly at the cap: used. */
	n = (size_t)sprintf(buf, "long:x:7:7::/");
	memset(buf + n, 'b', PASSWD_MAX_LINE - n);
	n = PASSWD_MAX_LINE;
	buf[n++] = '\n';
	assert_int_equal(user_resolve("long", buf, n, NULL, 0, &ids, err), 0);
	assert_int_equal(ids.uid, 7);
	assert_int_equal(ids.home_len, PASSWD_MAX_LINE - strlen("long:x:7:7::"));
	free(buf);
}

static void many_groups(void **state)
{
	size_t cap = (PASSWD_MAX_GROUPS + 2) * 32;
	char *grp = malloc(cap);
	size_t n = 0;

	(void)state;
	assert_non_null(grp);
	/* Duplicated gids count once. */
	n += (size_t)sprintf(grp + n, "a:x:500:user\nb:x:500:user\n");
	for (unsigned int i = 1; i < PASSWD_MAX_GROUPS; i++)
		n += (size_t)sprintf(grp + n, "g%u:x:%u:user\n", i, 500 + i);
	assert_int_equal(user_resolve("user", passwd, strlen(passwd), grp, n, &ids, err), 0);
	assert_int_equal(ids.ngroups, PASSWD_MAX_GROUPS);
	n += (size_t)sprintf(grp + n, "last:x:9999:user\n");
	assert_int_equal(user_resolve("user", passwd, strlen(passwd), grp, n, &ids, err),
			 -EINVAL);
	assert_string_equal(err, "user user is in more than 256 groups");
	free(grp);
}

static void rlimits(void **state)
{
	struct rlimit_req r;
	const char *why = NULL;

	(void)state;
	assert_int_equal(rlimit_parse("nofile=1024:4096", &r, &why), 0);
	assert_int_equal(r.resource, RLIMIT_NOFILE);
	assert_int_equal(r.lim.rlim_cur, 1024);
	assert_int_equal(r.lim.rlim_max, 4096);
	assert_int_equal(rlimit_parse("core=0", &r, &why), 0);
	assert_int_equal(r.resource, RLIMIT_CORE);
	assert_int_equal(r.lim.rlim_cur, 0);
	assert_int_equal(r.lim.rlim_max, 0);
	assert_int_equal(rlimit_parse("memlock=unlimited", &r, &why), 0);
	assert_true(r.lim.rlim_cur == RLIM_INFINITY && r.lim.rlim_max == RLIM_INFINITY);
	assert_int_equal(rlimit_parse("stack=8388608:-1", &r, &why), 0);
	assert_int_equal(r.resource, RLIMIT_STACK);
	assert_true(r.lim.rlim_max == RLIM_INFINITY);
	assert_int_equal(rlimit_parse("nproc=10:unlimited", &r, &why), 0);
	assert_int_equal(rlimit_parse("rttime=1", &r, &why), 0);
	assert_int_equal(r.resource, RLIMIT_RTTIME);
	assert_int_equal(rlimit_parse("sigpending=1", &r, &why), 0);
	assert_int_equal(r.resource, RLIMIT_SIGPENDING);

	assert_int_equal(rlimit_parse("nofile=200:100", &r, &why), -EINVAL);
	assert_string_equal(why, "soft limit above hard limit");
	assert_int_equal(rlimit_parse("nofile=unlimited:100", &r, &why), -EINVAL);
	assert_int_equal(rlimit_parse("nofiles=1", &r, &why), -EINVAL);
	assert_string_equal(why, "unknown limit name");
	assert_int_equal(rlimit_parse("NOFILE=1", &r, &why), -EINVAL);
	assert_int_equal(rlimit_parse("=1", &r, &why), -EINVAL);
	assert_int_equal(rlimit_parse("nofile", &r, &why), -EINVAL);
	assert_string_equal(why, "not NAME=SOFT[:HARD]");
	static const char *const bad[] = {
		"nofile=", "nofile=:", "nofile=1:", "nofile=:1", "nofile=1:2:3", "nofile=-2",
		"nofile=1k", "nofile= 1", "nofile=0x10", "nofile=18446744073709551615",
		"nofile=99999999999999999999", "nofile=Unlimited",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rlimit_parse(bad[i], &r, &why), -EINVAL);
	/* The largest number below RLIM_INFINITY is still a number. */
	assert_int_equal(rlimit_parse("fsize=18446744073709551614", &r, &why), 0);
	assert_true(r.lim.rlim_cur == RLIM_INFINITY - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(by_name),         cmocka_unit_test(by_uid),
		cmocka_unit_test(with_group),      cmocka_unit_test(unknown),
		cmocka_unit_test(bad_specs),       cmocka_unit_test(malformed_lines),
		cmocka_unit_test(long_lines),      cmocka_unit_test(many_groups),
		cmocka_unit_test(rlimits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
