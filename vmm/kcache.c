/* SPDX-License-Identifier: MIT */
#include "kcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy all of src into dst: copy_file_range (in the kernel, a reflink where
 * the file system can), read/write where it cannot. */
static int copy_all(int src, int dst, off_t size)
{
	off_t in = 0, out = 0;
	char buf[65536];

	while (in < size) {
		ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(size - in), 0);

		if (n > 0)
			continue;
		if (n == 0)
			return -EIO; /* the source shrank while we copied */
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP)
			return -errno;
		/* Fallback from where copy_file_range stopped. */
		while (in < size) {
			ssize_t r = pread(src, buf, sizeof(buf), in);

			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			for (ssize_t w = 0; w < r;) {
				ssize_t k = pwrite(dst, buf + w, (size_t)(r - w), in + w);

				if (k < 0)
					return -errno;
				w += k;
			}
			in += r;
		}
	}
	return 0;
}

/* Remove older copies of the same source inode ("DEV-INO-*" but not name). */
static void prune(int dfd, const char *name, size_t prefix_len)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, name, prefix_len) == 0 && strcmp(e->d_name, name) != 0)
			unlinkat(dfd, e->d_name, 0);
	closedir(d);
}

int kc_open(const char *home, int src_fd, const struct stat *st)
{
	char dir[4096], name[160], tmp[192];
	int dfd, fd, ret, prefix;
	struct stat cst;

	if (snprintf(dir, sizeof(dir), "%s/kernels", home) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	/* The store's directory and this one: only root's (or the user's). */
	if (mkdir(home, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	prefix = snprintf(name, sizeof(name), "%llx-%llx-",
			  (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
	snprintf(name + prefix, sizeof(name) - (size_t)prefix, "%llx-%lld.%09ld-%lld.%09ld",
		 (unsigned long long)st->st_size, (long long)st->st_mtim.tv_sec,
		 st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		/* A copy cut short (a full disk, a crash before the rename
		 * cannot leave one, but a hand could) is made again. */
		if (fstat(fd, &cst) == 0 && S_ISREG(cst.st_mode) && cst.st_size == st->st_size) {
			close(dfd);
			return fd;
		}
		close(fd);
		unlinkat(dfd, name, 0);
	}

	snprintf(tmp, sizeof(tmp), ".tmp-%d-%s", (int)getpid(), name);
	fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = copy_all(src_fd, fd, st->st_size);
	/* A source written while we copied: the copy is not what `st` names. */
	if (!ret && (fstat(src_fd, &cst) < 0 || cst.st_size != st->st_size ||
		     cst.st_mtim.tv_sec != st->st_mtim.tv_sec ||
		     cst.st_mtim.tv_nsec != st->st_mtim.tv_nsec ||
		     cst.st_ctim.tv_sec != st->st_ctim.tv_sec ||
		     cst.st_ctim.tv_nsec != st->st_ctim.tv_nsec))
		ret = -EAGAIN;
	/* Renamed into place only when whole: others may map it at once. */
	if (!ret && renameat(dfd, tmp, dfd, name) < 0)
		ret = -errno;
	close(fd);
	if (ret) {
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	prune(dfd, name, (size_t)prefix);
	ret = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (ret < 0)
		ret = -errno;
out:
	close(dfd);
	return ret;
}
