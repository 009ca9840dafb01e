/* SPDX-License-Identifier: MIT */
/*
 * The spec's "mount" records (abi.h): OCI mounts, made in the container's
 * root after the volumes. A "share" mount binds a file or directory of a
 * virtio-fs share, which may show only single files; an "fs" mount is a
 * filesystem the guest kernel makes (tmpfs, proc, mqueue...).
 */
#ifndef COCOON_GUEST_MOUNTS_H
#define COCOON_GUEST_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "spec.h"

/*
 * Keep a handle on the initramfs's /cocoon, where the shares that "share"
 * mounts bind from are attached out of the workload's sight. Call before
 * rootfs_enter (after it the initramfs has no path). Does nothing when s
 * has no "share" mount. 0 or -errno.
 */
__attribute__((warn_unused_result)) int mounts_prepare(const struct spec *s);

/*
 * Whether one of s's mounts has `path` as its destination: guest-init
 * leaves its own mount there out (/dev/shm, /dev/pts).
 */
bool mounts_cover(const struct spec *s, const char *path);

/*
 * Make s's mounts in order, in the current root:
 *   - "fs": create the destination like mkdir -p, then mount(2) it. One on
 *     /dev itself is skipped (abi.h); one that is refused with EBUSY (the
 *     same superblock is already mounted there: sysfs on guest-init's
 *     /sys) gets its flags applied to that mount instead;
 *   - "share": attach the share once (fsopen, fsmount, move_mount under
 *     /cocoon), clone SUBPATH of it (open_tree OPEN_TREE_CLONE), create the
 *     destination as a directory or an empty file to match, give the clone
 *     the record's mount-level flags (mount_setattr) and move it onto the
 *     destination, following a symlink there as mount(8) does.
 * Returns 0, or -errno with *what naming the step and *failed the index of
 * the mount that failed.
 */
__attribute__((warn_unused_result)) int mounts_apply(const struct spec *s, size_t *failed,
                                                     const char **what);

#endif
