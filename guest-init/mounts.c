/* SPDX-License-Identifier: MIT */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "abi.h"
#include "rootfs.h"

/*
 * The new mount API (Linux 5.2; mount_setattr 5.12). musl 1.2.3 has the
 * syscall numbers but neither wrappers nor constants; the values are the
 * kernel's (include/uapi/linux/mount.h).
 */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x1
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x1
#endif
#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING 1
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 0x1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#endif
#ifndef MOVE_MOUNT_T_SYMLINKS
#define MOVE_MOUNT_T_SYMLINKS 0x10
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x01
#define MOUNT_ATTR_NOSUID 0x02
#define MOUNT_ATTR_NODEV 0x04
#define MOUNT_ATTR_NOEXEC 0x08
#define MOUNT_ATTR__ATIME 0x70
#define MOUNT_ATTR_RELATIME 0x00
#define MOUNT_ATTR_NOATIME 0x10
#define MOUNT_ATTR_STRICTATIME 0x20
#define MOUNT_ATTR_NODIRATIME 0x80
#endif

/* struct mount_attr, MOUNT_ATTR_SIZE_VER0; our own name, as glibc has one. */
struct setattr_args {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* Where shares are attached, under the initramfs's /cocoon: "shares/N". */
#define STAGE_DIR "shares"

/* The initramfs's /cocoon (O_PATH), from mounts_prepare; -1 until then. */
static int cocoon_fd = -1;

/* Shares attached so far: the tag and an fd of the attached mount's root. */
static struct stage {
	char tag[SPEC_MAX_TAG + 1];
	int fd;
} stages[SPEC_MAX_MOUNTS];
static size_t nstages;

/* A record's field as a C string (the separator ends it in the spec). */
static char src_buf[(SPEC_MAX_TAG > SPEC_MAX_FSTYPE ? SPEC_MAX_TAG : SPEC_MAX_FSTYPE) + 1];
static char arg_buf[SPEC_MAX_MOUNT_ARG + 1];

static void field(char *buf, const char *p, size_t len)
{
	memcpy(buf, p, len);
	buf[len] = '\0';
}

int mounts_prepare(const struct spec *s)
{
	for (size_t i = 0; i < s->nmounts; i++) {
		if (s->mounts[i].kind != SPEC_MOUNT_SHARE)
			continue;
		cocoon_fd = open("/cocoon", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return cocoon_fd < 0 ? -errno : 0;
	}
	return 0;
}

/* path without its trailing slashes equals want (which has none). */
static bool same_path(const char *path, const char *want)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	return n == strlen(want) && memcmp(path, want, n) == 0;
}

bool mounts_cover(const struct spec *s, const char *path)
{
	for (size_t i = 0; i < s->nmounts; i++)
		if (same_path(s->mounts[i].dest, path))
			return true;
	return false;
}

/*
 * The attached share `tag` (in src_buf), attaching it on first use. A
 * detached mount (fsmount) cannot be cloned from before Linux 6.15
 * (__do_loopback's check_mnt), and only a clone can bind a subpath or a
 * file: so each share is attached under /cocoon, outside the container's
 * root, and the fd of that attached mount is what binds clone from.
 */
static int stage_share(const char *tag, const char **what)
{
	char name[sizeof(STAGE_DIR) + 24];
	int fs, mnt, err;

	for (size_t i = 0; i < nstages; i++)
		if (strcmp(stages[i].tag, tag) == 0)
			return stages[i].fd;
	*what = "mount the virtio-fs share to bind from";
	if (cocoon_fd < 0)
		return -EBADF; /* mounts_prepare was not called: a bug */
	fs = (int)syscall(SYS_fsopen, "virtiofs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", tag, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto err_fs;
	mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		goto err_fs;
	close(fs);
	snprintf(name, sizeof(name), STAGE_DIR "/%zu", nstages);
	if ((mkdirat(cocoon_fd, STAGE_DIR, 0700) < 0 && errno != EEXIST) ||
	    mkdirat(cocoon_fd, name, 0700) < 0 ||
	    syscall(SYS_move_mount, mnt, "", cocoon_fd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		goto err_mnt;
	/* The fd now stands for the attached mount: clones of it are allowed. */
	memcpy(stages[nstages].tag, tag, strlen(tag) + 1);
	stages[nstages].fd = mnt;
	nstages++;
	return mnt;
err_mnt:
	err = -errno;
	close(mnt);
	return err;
err_fs:
	err = -errno;
	close(fs);
	return err;
}

/* A missing mount point, like runc: a directory for a directory, else an
 * empty file (and its parent directories). An existing one is kept: the
 * mount says whether it fits. */
static int make_mount_point(const char *dest, bool dir)
{
	char parent[SPEC_MAX_MOUNT_ARG + 1];
	struct stat st;
	size_t n;
	int fd, ret;

	if (stat(dest, &st) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	if (dir)
		return rootfs_mkdir_p(dest);
	n = strlen(dest);
	while (n > 1 && dest[n - 1] == '/')
		n--;
	while (n > 0 && dest[n - 1] != '/')
		n--;
	if (n > 1) {
		field(parent, dest, n - 1);
		if ((ret = rootfs_mkdir_p(parent)) < 0)
			return ret;
	}
	fd = open(dest, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* The mount-level part of MS_* flags, as mount_setattr takes them. */
static void bind_attrs(unsigned long flags, struct setattr_args *a)
{
	*a = (struct setattr_args){0};
	if (flags & MS_RDONLY)
		a->attr_set |= MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID)
		a->attr_set |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV)
		a->attr_set |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC)
		a->attr_set |= MOUNT_ATTR_NOEXEC;
	if (flags & MS_NODIRATIME)
		a->attr_set |= MOUNT_ATTR_NODIRATIME;
	/* The atime mode is one value of a field: clear it to set it. */
	if (flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
		a->attr_clr |= MOUNT_ATTR__ATIME;
		a->attr_set |= flags & MS_NOATIME       ? MOUNT_ATTR_NOATIME
		               : flags & MS_STRICTATIME ? MOUNT_ATTR_STRICTATIME
		                                        : MOUNT_ATTR_RELATIME;
	}
}

static int bind_share(const struct spec_mount *m, const char **what)
{
	struct setattr_args attrs;
	struct stat st;
	int share, tree, ret;

	field(src_buf, m->src, m->src_len);
	field(arg_buf, m->arg, m->arg_len);
	share = stage_share(src_buf, what);
	if (share < 0)
		return share;
	*what = "bind from a virtio-fs share";
	tree = (int)syscall(SYS_open_tree, share, arg_buf,
	                    OPEN_TREE_CLONE | O_CLOEXEC | (m->arg_len ? 0 : AT_EMPTY_PATH));
	if (tree < 0)
		return -errno;
	if (fstat(tree, &st) < 0)
		goto err_errno;
	*what = "create a mount point";
	if ((ret = make_mount_point(m->dest, S_ISDIR(st.st_mode))) < 0)
		goto err_close;
	/* On the detached clone, so the bind is never visible with other flags. */
	*what = "set a bind mount's flags";
	bind_attrs(m->flags, &attrs);
	if ((attrs.attr_set || attrs.attr_clr) &&
	    syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attrs, sizeof(attrs)) < 0)
		goto err_errno;
	*what = "bind from a virtio-fs share";
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, m->dest,
	            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) < 0)
		goto err_errno;
	close(tree);
	return 0;
err_errno:
	ret = -errno;
err_close:
	close(tree);
	return ret;
}

static int mount_fs(const struct spec_mount *m, const char **what)
{
	int ret;

	/* Our devtmpfs already holds every device the VM has; a tmpfs over it
	 * would hide them and the /dev submounts (abi.h). */
	if (same_path(m->dest, "/dev"))
		return 0;
	field(src_buf, m->src, m->src_len);
	field(arg_buf, m->arg, m->arg_len);
	*what = "create a mount point";
	if ((ret = rootfs_mkdir_p(m->dest)) < 0)
		return ret;
	*what = "mount a filesystem";
	if (mount(src_buf, m->dest, src_buf, m->flags, m->arg_len ? arg_buf : NULL) == 0)
		return 0;
	/* EBUSY: the filesystem is one superblock per namespace (sysfs) and
	 * ours is already there; stacking it on itself is refused
	 * (do_add_mount). Give that mount the flags instead. */
	if (errno != EBUSY ||
	    mount(NULL, m->dest, NULL, MS_REMOUNT | MS_BIND | m->flags, NULL) < 0)
		return -errno;
	return 0;
}

int mounts_apply(const struct spec *s, size_t *failed, const char **what)
{
	for (size_t i = 0; i < s->nmounts; i++) {
		const struct spec_mount *m = &s->mounts[i];
		int ret = m->kind == SPEC_MOUNT_SHARE ? bind_share(m, what) : mount_fs(m, what);

		if (ret < 0) {
			*failed = i;
			return ret;
		}
	}
	return 0;
}
