/* SPDX-License-Identifier: MIT */
/*
 * The container's root filesystem: the block device named by the spec's
 * "root" becomes "/", replacing the initramfs.
 */
#ifndef COCOON_GUEST_ROOTFS_H
#define COCOON_GUEST_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

enum rootfs_mode {
	/* dev read-only (erofs, else ext4) under a writable overlay whose
	 * upper and work dirs live in a tmpfs, so writes vanish at exit */
	ROOTFS_OVERLAY,
	/* dev read-write (ext4 only; erofs is refused with a clear reason),
	 * used directly */
	ROOTFS_RW,
	/* the overlay, for the caller to make read-only (rootfs_seal) once
	 * the mount points and /etc files are in place, as runc does with a
	 * read-only root; /tmp is left as the image has it, like docker's */
	ROOTFS_RO,
};

/*
 * Mount dev (a block device; or with fs_tag, the virtio-fs share of that
 * tag, and dev is ignored) as `mode` says and make it the root of every
 * process started afterwards.
 * Then moves the initramfs's /dev, /proc, /sys and /tmp (not with
 * ROOTFS_RO) mounts (with their submounts) into it, creating the
 * directories when the image lacks them, and switches root the way
 * switch_root does (the initramfs is rootfs, which pivot_root cannot
 * move): chdir, MS_MOVE onto "/", chroot. The initramfs's files are left
 * in place (a few hundred KiB).
 * Returns 0, or -errno with *what set to a static description of the step
 * that failed ("mount /dev/vda (erofs, ext4)", ...).
 */
__attribute__((warn_unused_result)) int rootfs_enter(const char *dev, const char *fs_tag,
                                                     enum rootfs_mode mode,
                                                     const char **what);

/*
 * Make the root mount read-only (MS_REMOUNT | MS_BIND | MS_RDONLY: the
 * mount, not the filesystem), so that every write under "/" that is not
 * on another mount fails with EROFS. 0 or -errno.
 */
__attribute__((warn_unused_result)) int rootfs_seal(void);

/*
 * Create every missing directory of the absolute `path` (mode 0755), like
 * `mkdir -p`. 0 or -errno (-ENAMETOOLONG beyond PATH_MAX).
 */
__attribute__((warn_unused_result)) int rootfs_mkdir_p(const char *path);

/*
 * Mount the virtio-fs share `tag` (tag_len bytes) at `dir` in the current
 * root, creating dir and its parents (mode 0755) when missing; read-only
 * with ro. 0 or -errno with *what naming the step.
 */
__attribute__((warn_unused_result)) int rootfs_mount_volume(const char *tag, size_t tag_len,
                                                            const char *dir, bool ro,
                                                            const char **what);

/*
 * In the (new) root, when it has /etc: write /etc/hostname (when hostname
 * is not NULL) and /etc/hosts (localhost, and hostname on the same line;
 * with net_addr "A.B.C.D/P" also "A.B.C.D hostname", as docker writes it).
 * Returns 0 or -errno with *what naming the file.
 */
__attribute__((warn_unused_result)) int rootfs_write_identity(const char *hostname,
                                                              const char *net_addr,
                                                              const char **what);

/*
 * Write the concatenation of `parts` (NULL-terminated, 256 bytes at most)
 * to `path`, mode 0644, replacing its contents; a symlink at path is not
 * followed (-ELOOP). 0 or -errno.
 */
__attribute__((warn_unused_result)) int rootfs_write_file(const char *path,
                                                          const char *const *parts);

#endif
