/* SPDX-License-Identifier: MIT */
#include "cpio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NEWC_HDR_LEN 110 /* "070701" + 13 fields of 8 hex digits */

void cpio_init(struct cpio_buf *c)
{
	memset(c, 0, sizeof(*c));
	c->next_ino = 1;
}

void cpio_free(struct cpio_buf *c)
{
	free(c->data);
	memset(c, 0, sizeof(*c));
}

static int reserve(struct cpio_buf *c, size_t more)
{
	size_t want;
	uint8_t *p;

	if (more > SIZE_MAX - c->len)
		return -ENOMEM;
	want = c->len + more;
	if (want <= c->cap)
		return 0;
	size_t cap = c->cap ? c->cap : 4096;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(c->data, cap);
	if (!p)
		return -ENOMEM;
	c->data = p;
	c->cap = cap;
	return 0;
}

static void pad4(struct cpio_buf *c)
{
	while (c->len % 4)
		c->data[c->len++] = 0;
}

int cpio_add(struct cpio_buf *c, const char *name, uint32_t mode,
	     unsigned int rdev_major, unsigned int rdev_minor, const void *data,
	     size_t len)
{
	char hdr[NEWC_HDR_LEN + 1];
	size_t name_len;
	int ret;

	while (*name == '/')
		name++;
	name_len = strlen(name);
	if (name_len == 0 || name_len > CPIO_NAME_MAX || len > UINT32_MAX)
		return -EINVAL;
	/* header + name + NUL + padding + data + padding */
	ret = reserve(c, NEWC_HDR_LEN + name_len + 1 + 3 + len + 3);
	if (ret)
		return ret;
	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 c->next_ino++, mode, 0u /* uid */, 0u /* gid */,
		 S_ISDIR(mode) ? 2u : 1u, 0u /* mtime */, (unsigned int)len,
		 0u, 0u, rdev_major, rdev_minor, (unsigned int)(name_len + 1),
		 0u /* check */);
	memcpy(c->data + c->len, hdr, NEWC_HDR_LEN);
	c->len += NEWC_HDR_LEN;
	memcpy(c->data + c->len, name, name_len + 1);
	c->len += name_len + 1;
	pad4(c);
	if (len)
		memcpy(c->data + c->len, data, len);
	c->len += len;
	pad4(c);
	return 0;
}

int cpio_add_dir(struct cpio_buf *c, const char *name, uint32_t perm)
{
	return cpio_add(c, name, S_IFDIR | (perm & 07777), 0, 0, NULL, 0);
}

int cpio_add_file(struct cpio_buf *c, const char *name, uint32_t perm,
		  const void *data, size_t len)
{
	return cpio_add(c, name, S_IFREG | (perm & 07777), 0, 0, data, len);
}

int cpio_add_symlink(struct cpio_buf *c, const char *name, const char *target)
{
	return cpio_add(c, name, S_IFLNK | 0777, 0, 0, target, strlen(target));
}

int cpio_finish(struct cpio_buf *c)
{
	return cpio_add(c, "TRAILER!!!", 0, 0, 0, NULL, 0);
}
