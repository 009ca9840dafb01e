/* SPDX-License-Identifier: MIT */
/*
 * Private, immutable copies of kernel files, so that guest memory can map a
 * kernel's pages copy-on-write (gm_map_file) without the user's file being
 * able to change under a running VM.
 *
 * Mapping the user's kernel file directly would be fastest, but a MAP_PRIVATE
 * page that the guest has not written yet still shows the file: `cp new
 * vmlinux` over it (which truncates and rewrites in place) would truncate a
 * running guest's memory (KVM_RUN fails with EFAULT) or change its kernel
 * text. So the first VM booted from a given kernel file copies it once into
 * $COCOON_HOME/kernels/, named by the source's device, inode, size, mtime and
 * ctime, read-only; every later VM maps that copy, and all of them share its
 * page cache. A source changed in any way gets a new name (the stale copy of
 * the same inode is removed); a rename over the source gives a new inode.
 */
#ifndef COCOON_KCACHE_H
#define COCOON_KCACHE_H

#include <sys/stat.h>

#include "util.h"

/*
 * An O_RDONLY descriptor of the private copy of kernel file `src_fd` (whose
 * fstat is `st`), made under `home`/kernels when missing. Returns the fd or
 * -errno (the caller then copies the kernel into guest memory instead).
 */
int kc_open(const char *home, int src_fd, const struct stat *st) __must_check;

#endif
