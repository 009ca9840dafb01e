/* SPDX-License-Identifier: MIT */
/*
 * Build-time tool: writes the base initramfs that is embedded into cocoon.
 *
 *   cocoon-mkinitramfs OUT INIT
 *
 * OUT gets a newc cpio holding /init (guest-init), the mount points it
 * uses before the container's root filesystem is mounted, and /dev/console
 * (the kernel opens it before running init). No userland: the workload's
 * comes from its root image (images/).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../cpio.h"

static int read_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long size;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -EIO;
	}
	*data = malloc((size_t)size + 1);
	if (!*data) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*data, 1, (size_t)size, f);
	fclose(f);
	if (*len != (size_t)size) {
		free(*data);
		return -EIO;
	}
	(*data)[*len] = 0;
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const dirs[] = { "dev", "proc", "sys", "tmp" };
	struct cpio_buf c;
	uint8_t *data = NULL;
	size_t len = 0;
	FILE *out;
	int ret = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OUT INIT\n", argv[0]);
		return 2;
	}
	cpio_init(&c);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !ret; i++)
		ret = cpio_add_dir(&c, dirs[i], strcmp(dirs[i], "tmp") ? 0755 : 01777);
	if (!ret)
		ret = cpio_add(&c, "dev/console", S_IFCHR | 0600, 5, 1, NULL, 0);
	if (!ret && (ret = read_file(argv[2], &data, &len)) == 0) {
		ret = cpio_add_file(&c, "init", 0755, data, len);
		free(data);
	}
	if (!ret)
		ret = cpio_finish(&c);
	if (ret) {
		fprintf(stderr, "cocoon-mkinitramfs: %s\n", strerror(-ret));
		return 1;
	}
	out = fopen(argv[1], "wb");
	if (!out || fwrite(c.data, 1, c.len, out) != c.len || fclose(out)) {
		fprintf(stderr, "cocoon-mkinitramfs: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	cpio_free(&c);
	return 0;
}
