/* SPDX-License-Identifier: MIT */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Inside the initramfs; /cocoon already holds the job spec. */
#define RO_DIR "/cocoon/ro" /* the image, read-only (overlay lower) */
#define RW_DIR "/cocoon/rw" /* tmpfs for the overlay's upper and work */
#define UPPER_DIR RW_DIR "/upper"
#define WORK_DIR RW_DIR "/work"
#define NEW_ROOT "/cocoon/root" /* the container's root before the switch */

/* How long the disk may take to appear in devtmpfs (virtio-blk probes
 * synchronously at boot, so normally it is already there). */
#define DEV_WAIT_MS 1000

static int mkdir_ok(const char *path, mode_t mode)
{
	return mkdir(path, mode) < 0 && errno != EEXIST ? -errno : 0;
}

static void wait_for_device(const char *dev)
{
	struct timespec ms = {0, 1000000};

	for (int i = 0; i < DEV_WAIT_MS && access(dev, F_OK) < 0; i++)
		nanosleep(&ms, NULL);
}

/* Mount dev on dir as erofs or ext4 (or the virtio-fs share fs_tag);
 * read-only unless rw. */
static int mount_image(const char *dev, const char *fs_tag, const char *dir, bool rw,
                       const char **what)
{
	int err;

	if (fs_tag) {
		*what = rw ? "mount the root directory (virtio-fs) read-write"
		           : "mount the root directory (virtio-fs)";
		return mount(fs_tag, dir, "virtiofs", rw ? 0 : MS_RDONLY, NULL) < 0 ? -errno : 0;
	}

	if (rw) {
		if (mount(dev, dir, "ext4", 0, NULL) == 0)
			return 0;
		err = -errno;
		/* erofs has no write support: say so instead of a bare EINVAL. */
		if (err == -EINVAL && mount(dev, dir, "erofs", MS_RDONLY, NULL) == 0) {
			(void)umount(dir);
			*what = "root image is erofs, which is read-only; "
			        "a read-write root needs an ext4 image";
			return -EROFS;
		}
		*what = "mount root read-write (ext4)";
		return err;
	}
	if (mount(dev, dir, "erofs", MS_RDONLY, NULL) == 0)
		return 0;
	if (mount(dev, dir, "ext4", MS_RDONLY, NULL) == 0)
		return 0;
	err = -errno;
	if (err == -EROFS) /* ext4 on a read-only disk, with a journal to replay */
		*what = "mount root read-only: the ext4 journal needs replaying (the "
		        "image was not closed cleanly; run it once with --rootfs-rw, "
		        "or e2fsck it)";
	else if (err == -EINVAL) /* both found no superblock they know */
		*what = "the root image is neither erofs nor ext4";
	else
		*what = "mount root (erofs, ext4)";
	return err;
}

/*
 * The overlay's root directory is its upper dir: give that the image root's
 * owner and mode, or "/" would be a root-owned 0755 tmpfs directory
 * whatever the image says.
 */
static int copy_root_attrs(const char *from, const char *to)
{
	struct stat st;

	if (stat(from, &st) < 0 || chown(to, st.st_uid, st.st_gid) < 0 ||
	    chmod(to, st.st_mode & 07777) < 0)
		return -errno;
	return 0;
}

static int mount_overlay(const char *dev, const char *fs_tag, const char **what)
{
	int ret;

	*what = "create " RO_DIR;
	if ((ret = mkdir_ok(RO_DIR, 0755)) < 0)
		return ret;
	if ((ret = mount_image(dev, fs_tag, RO_DIR, false, what)) < 0)
		return ret;
	*what = "mount tmpfs on " RW_DIR;
	if ((ret = mkdir_ok(RW_DIR, 0755)) < 0)
		return ret;
	if (mount("tmpfs", RW_DIR, "tmpfs", 0, "mode=0755") < 0)
		return -errno;
	*what = "create the overlay's upper and work dirs";
	if (mkdir(UPPER_DIR, 0755) < 0 || mkdir(WORK_DIR, 0700) < 0)
		return -errno;
	if ((ret = copy_root_attrs(RO_DIR, UPPER_DIR)) < 0)
		return ret;
	*what = "mount overlay on " NEW_ROOT;
	if ((ret = mkdir_ok(NEW_ROOT, 0755)) < 0)
		return ret;
	if (mount("overlay", NEW_ROOT, "overlay", 0,
	          "lowerdir=" RO_DIR ",upperdir=" UPPER_DIR ",workdir=" WORK_DIR) < 0)
		return -errno;
	return 0;
}

/* Move the initramfs mount at /name (name: a few letters) to
 * NEW_ROOT/name, creating the directory when the image lacks it. */
static int move_into_root(const char *name, mode_t mode)
{
	char src[16] = "/", dst[sizeof(NEW_ROOT) + 16] = NEW_ROOT "/";
	struct stat st;

	strcat(src, name);
	strcat(dst, name);
	if (lstat(dst, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		/* mkdir honours the umask; the mode must be exact (1777 /tmp). */
		if (mkdir(dst, mode) < 0 || chmod(dst, mode) < 0)
			return -errno;
	}
	if (mount(src, dst, NULL, MS_MOVE, NULL) < 0)
		return -errno;
	return 0;
}

int rootfs_enter(const char *dev, const char *fs_tag, enum rootfs_mode mode,
                 const char **what)
{
	static const struct {
		const char *name;
		mode_t mode;
		const char *what;
	} moves[] = {
	    {"dev", 0755, "move /dev into the new root"},
	    {"proc", 0555, "move /proc into the new root"},
	    {"sys", 0555, "move /sys into the new root"},
	    {"tmp", 01777, "move /tmp into the new root"},
	};
	int ret;

	if (!fs_tag)
		wait_for_device(dev);
	if (mode == ROOTFS_RW) {
		*what = "create " NEW_ROOT;
		if ((ret = mkdir_ok(NEW_ROOT, 0755)) < 0)
			return ret;
		ret = mount_image(dev, fs_tag, NEW_ROOT, true, what);
	} else {
		ret = mount_overlay(dev, fs_tag, what);
	}
	if (ret < 0)
		return ret;

	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		/* docker --read-only: /tmp is read-only too unless a mount says
		 * otherwise; our tmpfs stays behind in the initramfs. */
		if (mode == ROOTFS_RO && strcmp(moves[i].name, "tmp") == 0)
			continue;
		ret = move_into_root(moves[i].name, moves[i].mode);
		if (ret < 0) {
			*what = moves[i].what;
			return ret;
		}
	}

	/* switch_root: the new root's mount replaces "/" for our view. */
	*what = "switch root";
	if (chdir(NEW_ROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		return -errno;
	return 0;
}

int rootfs_seal(void)
{
	return mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0 ? -errno : 0;
}

int rootfs_write_file(const char *path, const char *const *parts)
{
	char buf[256];
	size_t len = 0;
	ssize_t n;
	int fd;

	for (; *parts; parts++) {
		size_t l = strlen(*parts);

		if (l > sizeof(buf) - len)
			return -ENAMETOOLONG;
		memcpy(buf + len, *parts, l);
		len += l;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n < 0 || (size_t)n != len) {
		int err = n < 0 ? -errno : -EIO;

		close(fd);
		return err;
	}
	return close(fd) < 0 ? -errno : 0;
}

int rootfs_write_identity(const char *hostname, const char *net_addr, const char **what)
{
	char ip[16] = "";
	struct stat st;
	int ret;

	if (stat("/etc", &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (hostname) {
		const char *const parts[] = {hostname, "\n", NULL};

		*what = "write /etc/hostname";
		if ((ret = rootfs_write_file("/etc/hostname", parts)) < 0)
			return ret;
	}
	/* The address part of "A.B.C.D/P" (net.c has checked the syntax). */
	if (net_addr && hostname) {
		size_t n = strcspn(net_addr, "/");

		if (n < sizeof(ip)) {
			memcpy(ip, net_addr, n);
			ip[n] = '\0';
		}
	}
	{
		const char *const parts[] = {
		    "127.0.0.1\tlocalhost", hostname ? " " : "", hostname ? hostname : "",
		    "\n::1\tlocalhost ip6-localhost ip6-loopback\n", ip, ip[0] ? "\t" : "",
		    ip[0] ? hostname : "", ip[0] ? "\n" : "", NULL};

		*what = "write /etc/hosts";
		if ((ret = rootfs_write_file("/etc/hosts", parts)) < 0)
			return ret;
	}
	return 0;
}

int rootfs_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		/* 0755, as docker creates a missing WORKDIR or mount point. */
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (c == '\0')
			return 0;
		*p = c;
	}
}

int rootfs_mount_volume(const char *tag, size_t tag_len, const char *dir, bool ro,
                        const char **what)
{
	char t[64];
	int ret;

	*what = "volume: tag too long";
	if (tag_len >= sizeof(t))
		return -ENAMETOOLONG;
	memcpy(t, tag, tag_len);
	t[tag_len] = '\0';
	*what = "create a volume's mount point";
	if ((ret = rootfs_mkdir_p(dir)) < 0)
		return ret;
	*what = "mount a volume (virtio-fs)";
	if (mount(t, dir, "virtiofs", ro ? MS_RDONLY | MS_NOSUID | MS_NODEV : MS_NOSUID | MS_NODEV,
	          NULL) < 0)
		return -errno;
	return 0;
}
