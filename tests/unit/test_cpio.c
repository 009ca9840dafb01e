/* SPDX-License-Identifier: MIT */
/* The newc writer, checked field by field and against GNU cpio itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpio.h"

static unsigned long field(const uint8_t *hdr, int i)
{
	char buf[9];

	memcpy(buf, hdr + 6 + 8 * i, 8);
	buf[8] = 0;
	return strtoul(buf, NULL, 16);
}

static void layout(void **state)
{
	struct cpio_buf c;

	(void)state;
	cpio_init(&c);
	assert_int_equal(cpio_add_file(&c, "/etc/x", 0644, "hello", 5), 0);
	assert_memory_equal(c.data, "070701", 6);
	assert_int_equal(field(c.data, 1), S_IFREG | 0644); /* mode */
	assert_int_equal(field(c.data, 6), 5);              /* filesize */
	assert_int_equal(field(c.data, 11), 6);             /* namesize "etc/x\0" */
	assert_string_equal((char *)c.data + 110, "etc/x"); /* leading / dropped */
	/* 110 + 6 = 116, already aligned; data, then pad to 4 */
	assert_memory_equal(c.data + 116, "hello", 5);
	assert_int_equal(c.len, 124);
	assert_int_equal(c.len % 4, 0);
	assert_int_equal(cpio_add(&c, "dev/console", S_IFCHR | 0600, 5, 1, NULL, 0), 0);
	assert_int_equal(cpio_finish(&c), 0);
	assert_int_equal(c.len % 4, 0);
	assert_non_null(memmem(c.data, c.len, "TRAILER!!!", 10));
	cpio_free(&c);
}

static void bad_names(void **state)
{
	struct cpio_buf c;
	char *longname = malloc(CPIO_NAME_MAX + 2);

	(void)state;
	cpio_init(&c);
	assert_int_equal(cpio_add_file(&c, "", 0644, NULL, 0), -EINVAL);
	assert_int_equal(cpio_add_file(&c, "///", 0644, NULL, 0), -EINVAL);
	memset(longname, 'a', CPIO_NAME_MAX + 1);
	longname[CPIO_NAME_MAX + 1] = 0;
	assert_int_equal(cpio_add_file(&c, longname, 0644, NULL, 0), -EINVAL);
	longname[CPIO_NAME_MAX] = 0;
	assert_int_equal(cpio_add_file(&c, longname, 0644, NULL, 0), 0);
	cpio_free(&c);
	free(longname);
}

/* GNU cpio must list and extract what we wrote, byte for byte. */
static void gnu_cpio_reads_it(void **state)
{
	struct cpio_buf c;
	char dir[] = "/tmp/cocoon-cpio-XXXXXX";
	char cmd[512], path[300];
	uint8_t big[10000];
	FILE *f;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	cpio_init(&c);
	assert_int_equal(cpio_add_dir(&c, "d", 0755), 0);
	assert_int_equal(cpio_add_file(&c, "d/big", 0600, big, sizeof(big)), 0);
	assert_int_equal(cpio_add_file(&c, "d/odd", 0644, "abc", 3), 0);
	assert_int_equal(cpio_add_symlink(&c, "d/link", "odd"), 0);
	assert_int_equal(cpio_finish(&c), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.cpio", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(c.data, 1, c.len, f), c.len);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && cpio -id --quiet < a.cpio && test \"$(cat d/odd)\" = abc && "
		 "test \"$(readlink d/link)\" = odd && test $(stat -c %%s d/big) = 10000 && "
		 "test $(stat -c %%a d/big) = 600", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/d/big", dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t back[sizeof(big)];
	assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(back));
	fclose(f);
	assert_memory_equal(back, big, sizeof(big));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	cpio_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout),
		cmocka_unit_test(bad_names),
		cmocka_unit_test(gnu_cpio_reads_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
