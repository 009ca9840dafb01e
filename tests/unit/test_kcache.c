/* SPDX-License-Identifier: MIT */
/* The private kernel copies: made once, reused, remade when the source or
 * the copy changes, and never the user's file itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kcache.h"

static char home[64], src[96];

static int setup(void **state)
{
	(void)state;
	strcpy(home, "/tmp/cocoon-kcache.XXXXXX");
	assert_non_null(mkdtemp(home));
	snprintf(src, sizeof(src), "%s/vmlinux", home);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd);
}

static void write_src(const char *text)
{
	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int copy_of_src(void)
{
	struct stat st;
	int fd = open(src, O_RDONLY), kfd;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	kfd = kc_open(home, fd, &st);
	close(fd);
	return kfd;
}

static void read_all(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
}

static unsigned int copies(void)
{
	char cmd[160], line[32];
	FILE *p;
	unsigned int n = 0;

	snprintf(cmd, sizeof(cmd), "ls -A '%s/kernels' | wc -l", home);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(line, sizeof(line), p))
		n = (unsigned int)atoi(line);
	pclose(p);
	return n;
}

static void made_once_and_shared(void **state)
{
	struct stat a, b, s;
	char buf[64];
	int k1, k2;

	(void)state;
	write_src("kernel one");
	k1 = copy_of_src();
	k2 = copy_of_src();
	assert_true(k1 >= 0 && k2 >= 0);
	assert_int_equal(fstat(k1, &a), 0);
	assert_int_equal(fstat(k2, &b), 0);
	assert_int_equal(stat(src, &s), 0);
	assert_int_equal(a.st_ino, b.st_ino);  /* the same copy */
	assert_int_not_equal(a.st_ino, s.st_ino); /* not the user's file */
	assert_int_equal(a.st_mode & 0777, 0444);
	assert_int_equal(fcntl(k1, F_GETFL) & O_ACCMODE, O_RDONLY);
	read_all(k1, buf, sizeof(buf));
	assert_string_equal(buf, "kernel one");

	/* Rewritten in place (as `cp` does): the open copy keeps its bytes, a
	 * new VM gets a new copy, and the stale one is gone. */
	write_src("kernel two!");
	read_all(k1, buf, sizeof(buf));
	assert_string_equal(buf, "kernel one");
	close(k2);
	k2 = copy_of_src();
	assert_true(k2 >= 0);
	read_all(k2, buf, sizeof(buf));
	assert_string_equal(buf, "kernel two!");
	assert_int_equal(copies(), 1);
	close(k1);
	close(k2);
}

static void cut_copy_is_remade(void **state)
{
	char path[256], buf[64];
	struct stat st;
	int k;

	(void)state;
	write_src("a whole kernel");
	k = copy_of_src();
	assert_true(k >= 0);
	close(k);
	assert_int_equal(stat(src, &st), 0);
	snprintf(path, sizeof(path), "%s/kernels/%llx-%llx-", home,
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "chmod u+w '%s'* && truncate -s 3 '%s'*", path, path);
		assert_int_equal(system(cmd), 0);
	}
	k = copy_of_src();
	assert_true(k >= 0);
	read_all(k, buf, sizeof(buf));
	assert_string_equal(buf, "a whole kernel");
	close(k);
}

static void unusable_home(void **state)
{
	char bad[128];
	struct stat st;
	int fd;

	(void)state;
	write_src("k");
	fd = open(src, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	/* A file where the home directory should be. */
	snprintf(bad, sizeof(bad), "%s/vmlinux/sub", home);
	assert_true(kc_open(bad, fd, &st) < 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(made_once_and_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(cut_copy_is_remade, setup, teardown),
		cmocka_unit_test_setup_teardown(unusable_home, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
