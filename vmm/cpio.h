/* SPDX-License-Identifier: MIT */
/*
 * A writer for "newc" cpio archives (the format the Linux initramfs reads,
 * Documentation/driver-api/early-userspace/buffer-format.rst), into memory.
 */
#ifndef COCOON_CPIO_H
#define COCOON_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Longest entry name, NUL excluded; Linux's initramfs allows PATH_MAX. */
#define CPIO_NAME_MAX 4095

struct cpio_buf {
	uint8_t *data;
	size_t len, cap;
	uint32_t next_ino;
};

void cpio_init(struct cpio_buf *c);
void cpio_free(struct cpio_buf *c);

/*
 * Append one entry. `mode` carries the file type (S_IFREG, S_IFDIR, ...);
 * `data` is the file's contents or a symlink's target. Names are stored
 * without a leading "/". -EINVAL for an empty or too long name, -ENOMEM.
 */
int cpio_add(struct cpio_buf *c, const char *name, uint32_t mode,
	     unsigned int rdev_major, unsigned int rdev_minor, const void *data,
	     size_t len) __must_check;

int cpio_add_dir(struct cpio_buf *c, const char *name, uint32_t perm) __must_check;
int cpio_add_file(struct cpio_buf *c, const char *name, uint32_t perm,
		  const void *data, size_t len) __must_check;
int cpio_add_symlink(struct cpio_buf *c, const char *name,
		     const char *target) __must_check;

/* Append the TRAILER!!! entry that ends an archive. */
int cpio_finish(struct cpio_buf *c) __must_check;

#endif
