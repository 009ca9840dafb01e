/* SPDX-License-Identifier: MIT */
/*
 * Applying an OCI layer changeset (image-spec image-layer.md, "Applying
 * Changesets" and "Whiteouts") without ever resolving a path the layer chose
 * through the host's name lookup:
 *
 * - every entry path is normalised ("./", "/" and "." dropped) and refused if
 *   it has a ".." component, so an absolute path lands beneath the root;
 * - the parent directory is opened from the root fd one component at a time
 *   with O_PATH|O_NOFOLLOW|O_DIRECTORY (after one openat2 RESOLVE_BENEATH|
 *   RESOLVE_NO_SYMLINKS attempt where the kernel has it), so a symlink planted
 *   by this or an earlier layer is an error, never followed;
 * - the final component is created with *at() calls and O_EXCL/O_NOFOLLOW;
 *   whatever was there is removed first (a directory stays for a directory).
 *
 * Opaque directories: a ".wh..wh..opq" marker may come after entries of the
 * same layer in that directory (the spec does not order them). This module
 * records every path the layer writes in a hash set; the marker deletes, under
 * its directory, every non-directory not in the set and every directory not in
 * the set that is empty afterwards. Entries of this layer therefore survive
 * whatever the order, and the work is one walk of the opaque subtree.
 *
 * Directory modes and times are applied after the whole layer, since writing
 * into a directory changes its mtime (and a read-only mode could block the
 * writes when unprivileged).
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer.h"
#include "log.h"
#include "util.h"

#define LAYER_READ_BLOCK (1u << 20)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

struct dir_rec {
	size_t path_off; /* into names */
	mode_t perm;
	struct timespec ts[2];
};

struct applier {
	int root;
	const char *name;
	struct layer_limits lim;
	struct layer_stats st;
	char *why;
	size_t why_len;
	bool privileged;
	bool no_openat2;
	uint64_t devs_skipped;

	/* Paths written by this layer: NUL-terminated strings in one arena,
	 * indexed by an open-addressing set of (offset + 1). */
	char *names;
	size_t names_len, names_cap;
	size_t *set;
	size_t set_cap, set_n;
	struct dir_rec *dirs;
	size_t ndirs, dirs_cap;

	char path[PATH_MAX];   /* the current entry, normalised */
	char target[PATH_MAX]; /* its hard-link target, normalised */
	char walk[PATH_MAX];   /* scratch for the parent walk and opaque walk */
	char disp[256];        /* the current entry as shown in errors */
	char disp2[256];       /* a second name shown in errors */
};

/* ---- small helpers ---------------------------------------------------- */

static bool parse_u64(const char *s, bool suffix, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	unsigned shift = 0;

	if (!s || *p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (suffix && *p) {
		switch (*p | 0x20) {
		case 'k':
			shift = 10;
			break;
		case 'm':
			shift = 20;
			break;
		case 'g':
			shift = 30;
			break;
		case 't':
			shift = 40;
			break;
		default:
			return false;
		}
		p++;
	}
	if (*p || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}

void layer_default_limits(struct layer_limits *l)
{
	uint64_t v;

	l->max_entries = LAYER_DEFAULT_MAX_ENTRIES;
	l->max_bytes = LAYER_DEFAULT_MAX_BYTES;
	l->max_entry_bytes = LAYER_DEFAULT_MAX_ENTRY_BYTES;
	if (parse_u64(getenv("COCOON_LAYER_MAX_ENTRIES"), false, &v))
		l->max_entries = v;
	if (parse_u64(getenv("COCOON_LAYER_MAX_BYTES"), true, &v))
		l->max_bytes = v;
	if (l->max_entry_bytes > l->max_bytes)
		l->max_entry_bytes = l->max_bytes;
}

/* A layer-chosen name made safe for a one-line message. */
static const char *show(char *buf, size_t len, const char *s)
{
	size_t i = 0;

	if (!s || !*s)
		s = ".";
	for (; *s && i + 4 < len; s++)
		buf[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (*s) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* "layer L: entry E: <msg>" */
__attribute__((format(printf, 3, 4))) static int fail(struct applier *a, int err,
                                                      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return why_fail(a->why, a->why_len, err, "layer %s: entry %s%s", a->name, a->disp,
	                msg);
}

static int fail_sys(struct applier *a, const char *op)
{
	int err = errno ? errno : EIO;

	return fail(a, -err, ": %s: %s", op, strerror(err));
}

/*
 * Normalise a layer path into out: components separated by one '/', without
 * "." or empty components; "" is the root. Returns 0, -EPERM for a ".."
 * component, -ENAMETOOLONG.
 */
static int norm_path(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	while (*in) {
		const char *c = in;
		size_t n;

		while (*in && *in != '/')
			in++;
		n = (size_t)(in - c);
		while (*in == '/')
			in++;
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return -EPERM;
		if (o + (o ? 1 : 0) + n + 1 > outlen)
			return -ENAMETOOLONG;
		if (o)
			out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

static size_t leaf_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? (size_t)(s - path) + 1 : 0;
}

/* ---- the set of paths this layer wrote --------------------------------- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static bool set_has(const struct applier *a, const char *s)
{
	if (!a->set_cap)
		return false;
	for (size_t i = hash_str(s) & (a->set_cap - 1);; i = (i + 1) & (a->set_cap - 1)) {
		if (!a->set[i])
			return false;
		if (strcmp(a->names + a->set[i] - 1, s) == 0)
			return true;
	}
}

static void set_put_slot(size_t *set, size_t cap, const char *names, size_t off1)
{
	size_t i = hash_str(names + off1 - 1) & (cap - 1);

	while (set[i])
		i = (i + 1) & (cap - 1);
	set[i] = off1;
}

/* Copy s into the arena; returns its offset or (size_t)-1. */
static size_t arena_add(struct applier *a, const char *s)
{
	size_t n = strlen(s) + 1, off = a->names_len;

	if (a->names_len + n > a->names_cap) {
		size_t cap = a->names_cap ? a->names_cap : 64 * KiB;
		char *p;

		while (cap < a->names_len + n)
			cap *= 2;
		p = realloc(a->names, cap);
		if (!p)
			return (size_t)-1;
		a->names = p;
		a->names_cap = cap;
	}
	memcpy(a->names + off, s, n);
	a->names_len += n;
	return off;
}

static int set_add(struct applier *a, const char *s)
{
	size_t off;

	if (set_has(a, s))
		return 0;
	if ((a->set_n + 1) * 2 > a->set_cap) {
		size_t cap = a->set_cap ? a->set_cap * 2 : 4096;
		size_t *set = calloc(cap, sizeof(*set));

		if (!set)
			return -ENOMEM;
		for (size_t i = 0; i < a->set_cap; i++)
			if (a->set[i])
				set_put_slot(set, cap, a->names, a->set[i]);
		free(a->set);
		a->set = set;
		a->set_cap = cap;
	}
	off = arena_add(a, s);
	if (off == (size_t)-1)
		return -ENOMEM;
	set_put_slot(a->set, a->set_cap, a->names, off + 1);
	a->set_n++;
	return 0;
}

static int dir_defer(struct applier *a, const char *path, mode_t perm,
                     const struct timespec ts[2])
{
	size_t off;

	if (a->ndirs == a->dirs_cap) {
		size_t cap = a->dirs_cap ? a->dirs_cap * 2 : 256;
		struct dir_rec *d = realloc(a->dirs, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		a->dirs = d;
		a->dirs_cap = cap;
	}
	off = arena_add(a, path);
	if (off == (size_t)-1)
		return -ENOMEM;
	a->dirs[a->ndirs++] = (struct dir_rec){off, perm, {ts[0], ts[1]}};
	return 0;
}

/* ---- resolution beneath the root --------------------------------------- */

static int openat2_beneath(struct applier *a, const char *path)
{
	struct open_how how = {
	    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (a->no_openat2)
		return -ENOSYS;
	fd = syscall(SYS_openat2, a->root, path, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS || errno == EINVAL || errno == E2BIG || errno == EPERM)
		a->no_openat2 = true; /* no openat2, or a seccomp filter */
	return -errno;
}

/*
 * Open the directory `dir` (a normalised path, "" for the root) beneath the
 * root without following any symlink. With `create`, missing directories are
 * made (mode 0755: layers may omit parent entries). Returns an O_PATH fd, or
 * -errno with why set; -ENOENT without why when !create and a component is
 * missing.
 */
static int open_dir(struct applier *a, const char *dir, bool create)
{
	size_t n = strlen(dir);
	char *p, *end;
	int fd, err;

	if (n == 0) {
		fd = openat(a->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return fd >= 0 ? fd : fail_sys(a, "open the root");
	}
	fd = openat2_beneath(a, dir);
	if (fd >= 0)
		return fd;

	/* One component at a time: precise errors, and parents to create. */
	memcpy(a->walk, dir, n + 1);
	fd = openat(a->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail_sys(a, "open the root");
	for (p = a->walk; p; p = end) {
		struct stat st;
		int next;

		end = strchr(p, '/');
		if (end)
			*end = '\0';
		next = openat(fd, p, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST) {
				err = fail_sys(a, "mkdir parent");
				goto err_close;
			}
			next =
			    openat(fd, p, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		}
		if (next < 0) {
			err = -errno;
			if (err == -ENOENT && !create)
				goto err_close;
			if (fstatat(fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				err = fail(a, -ELOOP, ": parent %s is a symlink",
				           show(a->disp2, sizeof(a->disp2), a->walk));
			else if (err == -ENOTDIR || err == -ELOOP)
				err = fail(a, -ENOTDIR, ": parent %s is not a directory",
				           show(a->disp2, sizeof(a->disp2), a->walk));
			else
				err = fail(a, err, ": parent %s: %s",
				           show(a->disp2, sizeof(a->disp2), a->walk),
				           strerror(-err));
			goto err_close;
		}
		close(fd);
		fd = next;
		if (end)
			*end++ = '/';
	}
	return fd;

err_close:
	close(fd);
	return err;
}

/* Open the parent of the normalised path in buf (not the root); *leaf is set. */
static int open_parent(struct applier *a, char *buf, const char **leaf, bool create)
{
	size_t l = leaf_of(buf);
	int fd;

	*leaf = buf + l;
	if (l == 0)
		return open_dir(a, "", create);
	buf[l - 1] = '\0';
	fd = open_dir(a, buf, create);
	buf[l - 1] = '/';
	return fd;
}

/* ---- removal ------------------------------------------------------------ */

static int remove_tree(int pfd, const char *name, int depth);

/* Remove name (recursively if a directory) from dirfd; ENOENT is success. */
static int remove_at(int pfd, const char *name, int depth)
{
	if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -errno;
	return remove_tree(pfd, name, depth);
}

static int remove_tree(int pfd, const char *name, int depth)
{
	struct dirent *de;
	bool again = true;
	DIR *d;
	int fd, err = 0;

	if (depth > PATH_MAX / 2)
		return -ELOOP;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	/* Deleting while reading may hide entries from readdir: read again
	 * until a pass finds nothing. */
	while (again && !err) {
		again = false;
		rewinddir(d);
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			err = remove_at(dirfd(d), de->d_name, depth + 1);
			if (err)
				break;
			again = true;
		}
	}
	closedir(d);
	if (!err && unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		err = -errno;
	return err;
}

/*
 * Opaque directory: under the open directory fd whose normalised path is in
 * a->walk[0..len), delete what this layer did not write (see the top).
 */
static int opaque_clear(struct applier *a, int fd, size_t len, int depth)
{
	struct dirent *de;
	int dfd, err = 0;
	DIR *d;

	if (depth > PATH_MAX / 2)
		return -ELOOP;
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		err = -errno;
		close(dfd);
		return err;
	}
	while (!err && (de = readdir(d))) {
		size_t n = strlen(de->d_name), nl = len + (len ? 1 : 0) + n;
		bool keep, isdir;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (nl + 1 > sizeof(a->walk)) {
			err = -ENAMETOOLONG;
			break;
		}
		if (len)
			a->walk[len] = '/';
		memcpy(a->walk + len + (len ? 1 : 0), de->d_name, n + 1);
		keep = set_has(a, a->walk);
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN)
			isdir = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			            0 &&
			        S_ISDIR(st.st_mode);
		if (isdir) {
			int cfd = openat(dirfd(d), de->d_name,
			                 O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd < 0) {
				err = -errno;
				break;
			}
			err = opaque_clear(a, cfd, nl, depth + 1);
			close(cfd);
			if (!err && !keep &&
			    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 &&
			    errno != ENOTEMPTY && errno != EEXIST)
				err = -errno;
		} else if (!keep && unlinkat(dirfd(d), de->d_name, 0) < 0 &&
		           errno != ENOENT) {
			err = -errno;
		}
		a->walk[len] = '\0';
	}
	closedir(d);
	return err;
}

/* ---- metadata -------------------------------------------------------------- */

/* xattrs through fd (fd >= 0) or, for objects we cannot open, a /proc path. */
static int set_xattrs(struct applier *a, struct archive_entry *e, int fd, int dirfd,
                      const char *leaf)
{
	const char *name;
	const void *value;
	size_t size;
	char proc[64 + NAME_MAX];

	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	if (fd < 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, leaf);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		int r = fd >= 0 ? fsetxattr(fd, name, value, size, 0)
		                : lsetxattr(proc, name, value, size, 0);

		if (r == 0)
			continue;
		/* The filesystem or our privilege decides what survives. */
		if (errno == ENOTSUP || errno == EPERM || errno == EACCES) {
			log_debug("layer %s: entry %s: xattr %s skipped: %s", a->name,
			          a->disp, name, strerror(errno));
			continue;
		}
		return fail(a, -errno, ": xattr %s: %s",
		            show(a->disp2, sizeof(a->disp2), name), strerror(errno));
	}
	return 0;
}

static int owner_of(struct applier *a, struct archive_entry *e, uid_t *uid, gid_t *gid)
{
	la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);

	if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX)
		return fail(a, -ERANGE, ": uid/gid %lld:%lld out of range", (long long)u,
		            (long long)g);
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

/* chown failures are errors only when we could have done it. */
static int chown_result(struct applier *a, int r)
{
	if (r == 0 || (!a->privileged && (errno == EPERM || errno == EINVAL)))
		return 0;
	return fail_sys(a, "chown");
}

static void times_of(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime_is_set(e) ? archive_entry_mtime(e) : 0;
	ts[1].tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : 0;
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
	if (ts[0].tv_nsec < 0 || ts[0].tv_nsec > 999999999)
		ts[0].tv_nsec = 0;
	if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
		ts[1].tv_nsec = 0;
}

/* Owner, xattrs, mode, times of a node we cannot open (symlink, fifo, device). */
static int meta_at(struct applier *a, struct archive_entry *e, int dirfd,
                   const char *leaf, bool symlink)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int err;

	err = owner_of(a, e, &uid, &gid);
	if (err)
		return err;
	err = chown_result(a, fchownat(dirfd, leaf, uid, gid, AT_SYMLINK_NOFOLLOW));
	if (err)
		return err;
	err = set_xattrs(a, e, -1, dirfd, leaf);
	if (err)
		return err;
	/* Not a symlink (we just made it), so following is harmless. */
	if (!symlink && fchmodat(dirfd, leaf, archive_entry_perm(e) & 07777, 0) < 0)
		return fail_sys(a, "chmod");
	times_of(e, ts);
	if (utimensat(dirfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_sys(a, "set times");
	return 0;
}

/* ---- entry types -------------------------------------------------------- */

static int write_data(struct applier *a, struct archive *ar, int fd)
{
	const void *buf;
	size_t size;
	la_int64_t off;

	for (;;) {
		int r = archive_read_data_block(ar, &buf, &size, &off);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return fail(a, -EBADMSG, ": truncated or corrupt: %s",
			            archive_error_string(ar) ? archive_error_string(ar)
			                                     : "read error");
		if (off < 0 || (uint64_t)off > a->lim.max_entry_bytes ||
		    size > a->lim.max_entry_bytes - (uint64_t)off)
			return fail(a, -EFBIG, ": larger than max_entry_bytes (%llu)",
			            (unsigned long long)a->lim.max_entry_bytes);
		if (size > a->lim.max_bytes - a->st.bytes)
			return fail(a, -EFBIG, ": layer larger than max_bytes (%llu)",
			            (unsigned long long)a->lim.max_bytes);
		for (size_t done = 0; done < size;) {
			ssize_t w = pwrite(fd, (const char *)buf + done, size - done,
			                   off + (off_t)done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? fail_sys(a, "write")
				             : fail(a, -EIO, ": short write");
			done += (size_t)w;
		}
		a->st.bytes += size;
	}
}

static int apply_file(struct applier *a, struct archive *ar, struct archive_entry *e,
                      int dirfd, const char *leaf)
{
	la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int fd, err;

	if (size < 0 || (uint64_t)size > a->lim.max_entry_bytes)
		return fail(a, -EFBIG, ": size %lld exceeds max_entry_bytes (%llu)",
		            (long long)size, (unsigned long long)a->lim.max_entry_bytes);
	err = owner_of(a, e, &uid, &gid);
	if (err)
		return err;
	fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0 && errno == EEXIST) {
		err = remove_at(dirfd, leaf, 0);
		if (err) {
			errno = -err;
			return fail_sys(a, "replace");
		}
		fd = openat(dirfd, leaf,
		            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return fail_sys(a, "create");
	err = write_data(a, ar, fd);
	if (err)
		goto out;
	/* A sparse file may end in a hole. */
	if (ftruncate(fd, (off_t)size) < 0) {
		err = fail_sys(a, "truncate");
		goto out;
	}
	/* chown clears setuid/setgid and security.capability: chown first. */
	err = chown_result(a, fchown(fd, uid, gid));
	if (err)
		goto out;
	err = set_xattrs(a, e, fd, -1, NULL);
	if (err)
		goto out;
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0) {
		err = fail_sys(a, "chmod");
		goto out;
	}
	times_of(e, ts);
	if (futimens(fd, ts) < 0)
		err = fail_sys(a, "set times");
out:
	close(fd);
	return err;
}

/* A directory: owner and xattrs now, mode and times at the end. */
static int apply_dir(struct applier *a, struct archive_entry *e, int dirfd,
                     const char *leaf)
{
	struct timespec ts[2];
	struct stat st;
	uid_t uid;
	gid_t gid;
	int fd, err;

	err = owner_of(a, e, &uid, &gid);
	if (err)
		return err;
	if (!leaf) {
		fd = openat(a->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		if (mkdirat(dirfd, leaf, 0700) < 0) {
			if (errno != EEXIST)
				return fail_sys(a, "mkdir");
			if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
				return fail_sys(a, "stat");
			if (!S_ISDIR(st.st_mode)) {
				if (unlinkat(dirfd, leaf, 0) < 0 ||
				    mkdirat(dirfd, leaf, 0700) < 0)
					return fail_sys(a, "replace with a directory");
			}
		}
		fd = openat(dirfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return fail_sys(a, "open directory");
	err = chown_result(a, fchown(fd, uid, gid));
	if (!err)
		err = set_xattrs(a, e, fd, -1, NULL);
	close(fd);
	if (err)
		return err;
	times_of(e, ts);
	err = dir_defer(a, a->path, archive_entry_perm(e) & 07777, ts);
	return err ? fail(a, err, ": out of memory") : 0;
}

static int apply_symlink(struct applier *a, struct archive_entry *e, int dirfd,
                         const char *leaf)
{
	const char *target = archive_entry_symlink(e);
	int err;

	if (!target || !*target)
		return fail(a, -EINVAL, ": symlink without a target");
	/* The target is stored verbatim and never resolved here. */
	if (symlinkat(target, dirfd, leaf) < 0) {
		if (errno != EEXIST)
			return fail_sys(a, "symlink");
		err = remove_at(dirfd, leaf, 0);
		if (err) {
			errno = -err;
			return fail_sys(a, "replace");
		}
		if (symlinkat(target, dirfd, leaf) < 0)
			return fail_sys(a, "symlink");
	}
	return meta_at(a, e, dirfd, leaf, true);
}

static int apply_hardlink(struct applier *a, const char *link, int dirfd,
                          const char *leaf)
{
	const char *tleaf;
	struct stat st;
	int tfd, err;

	show(a->disp2, sizeof(a->disp2), link);
	err = norm_path(link, a->target, sizeof(a->target));
	if (err == -EPERM)
		return fail(a, -EPERM, ": hard link target %s escapes the root",
		            a->disp2);
	if (err)
		return fail(a, err, ": hard link target too long");
	if (!a->target[0])
		return fail(a, -EPERM, ": hard link to the root");
	if (strcmp(a->target, a->path) == 0)
		return 0; /* a link to itself: already there */
	tfd = open_parent(a, a->target, &tleaf, false);
	if (tfd == -ENOENT)
		return fail(a, -ENOENT, ": hard link target %s does not exist", a->disp2);
	if (tfd < 0)
		return tfd;
	show(a->disp2, sizeof(a->disp2), link);
	if (fstatat(tfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno == ENOENT
		          ? fail(a, -ENOENT, ": hard link target %s does not exist",
		                 a->disp2)
		          : fail_sys(a, "stat hard link target");
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		err = fail(a, -EPERM, ": hard link target %s is a symlink", a->disp2);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = fail(a, -EPERM, ": hard link target %s is not a regular file",
		           a->disp2);
		goto out;
	}
	/* flags 0: linkat does not follow a symlink at the target. */
	err = 0;
	if (linkat(tfd, tleaf, dirfd, leaf, 0) < 0) {
		if (errno != EEXIST) {
			err = fail_sys(a, "link");
			goto out;
		}
		err = remove_at(dirfd, leaf, 0);
		if (err) {
			errno = -err;
			err = fail_sys(a, "replace");
			goto out;
		}
		if (linkat(tfd, tleaf, dirfd, leaf, 0) < 0)
			err = fail_sys(a, "link");
	}
out:
	close(tfd);
	return err;
}

static int apply_node(struct applier *a, struct archive_entry *e, int dirfd,
                      const char *leaf, mode_t type)
{
	dev_t dev = type == S_IFIFO
	                ? 0
	                : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	int err;

	if (mknodat(dirfd, leaf, type | 0600, dev) < 0) {
		if (errno == EEXIST) {
			err = remove_at(dirfd, leaf, 0);
			if (err) {
				errno = -err;
				return fail_sys(a, "replace");
			}
			if (mknodat(dirfd, leaf, type | 0600, dev) == 0)
				return meta_at(a, e, dirfd, leaf, false);
		}
		/* Unprivileged (or in a user namespace): devices cannot be
		 * made; the guest's devtmpfs provides the usual ones. */
		if (errno == EPERM && type != S_IFIFO) {
			a->devs_skipped++;
			return 0;
		}
		return fail_sys(a, "mknod");
	}
	return meta_at(a, e, dirfd, leaf, false);
}

/* ---- one entry ---------------------------------------------------------- */

static int apply_entry(struct applier *a, struct archive *ar, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e), *leaf, *link;
	mode_t type = archive_entry_filetype(e);
	int dirfd, err;

	show(a->disp, sizeof(a->disp), raw);
	if (!raw)
		return fail(a, -EINVAL, ": no path name");
	if (++a->st.entries > a->lim.max_entries)
		return fail(a, -E2BIG, ": more than max_entries (%llu) entries",
		            (unsigned long long)a->lim.max_entries);
	err = norm_path(raw, a->path, sizeof(a->path));
	if (err == -EPERM)
		return why_fail(a->why, a->why_len, -EPERM,
		                "layer %s: entry %s escapes the root", a->name, a->disp);
	if (err)
		return fail(a, err, ": path too long");

	if (!a->path[0]) {
		/* The root itself: only a directory makes sense. */
		if (type != AE_IFDIR || archive_entry_hardlink(e))
			return fail(a, -EINVAL, ": the root must be a directory");
		return apply_dir(a, e, -1, NULL);
	}

	leaf = a->path + leaf_of(a->path);
	if (!strncmp(leaf, WH_PREFIX, strlen(WH_PREFIX))) {
		const char *victim = leaf + strlen(WH_PREFIX);
		size_t plen = (size_t)(leaf - a->path);

		a->st.whiteouts++;
		if (strcmp(leaf, WH_OPAQUE) &&
		    !strncmp(victim, WH_PREFIX, strlen(WH_PREFIX)))
			return 0; /* other .wh..wh. names are reserved: ignore */
		/* ".wh.." and ".wh..." would name the directory or its parent. */
		if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
			return fail(a, -EPERM, ": whiteout of \"%s\" refused", victim);
		dirfd = open_parent(a, a->path, &leaf, false);
		if (dirfd == -ENOENT)
			return 0; /* nothing below to hide */
		if (dirfd < 0)
			return dirfd;
		if (!strcmp(leaf, WH_OPAQUE)) {
			memcpy(a->walk, a->path, plen);
			a->walk[plen ? plen - 1 : 0] = '\0';
			err = opaque_clear(a, dirfd, plen ? plen - 1 : 0, 0);
		} else {
			err = remove_at(dirfd, leaf + strlen(WH_PREFIX), 0);
		}
		close(dirfd);
		if (err) {
			errno = -err;
			return fail_sys(a, "whiteout");
		}
		return 0;
	}

	err = set_add(a, a->path);
	if (err)
		return fail(a, err, ": out of memory");
	dirfd = open_parent(a, a->path, &leaf, true);
	if (dirfd < 0)
		return dirfd;
	link = archive_entry_hardlink(e);
	if (link)
		err = apply_hardlink(a, link, dirfd, leaf);
	else if (type == AE_IFREG)
		err = apply_file(a, ar, e, dirfd, leaf);
	else if (type == AE_IFDIR)
		err = apply_dir(a, e, dirfd, leaf);
	else if (type == AE_IFLNK)
		err = apply_symlink(a, e, dirfd, leaf);
	else if (type == AE_IFIFO)
		err = apply_node(a, e, dirfd, leaf, S_IFIFO);
	else if (type == AE_IFCHR || type == AE_IFBLK)
		err = apply_node(a, e, dirfd, leaf, type == AE_IFCHR ? S_IFCHR : S_IFBLK);
	else if (type == AE_IFSOCK)
		err = 0; /* a socket in a tar is meaningless */
	else
		err = fail(a, -EINVAL, ": unknown file type 0%o", (unsigned)type);
	close(dirfd);
	return err;
}

/* Directory modes and times, after their contents were written. */
static int finish_dirs(struct applier *a)
{
	for (size_t i = 0; i < a->ndirs; i++) {
		const struct dir_rec *d = &a->dirs[i];
		const char *leaf;
		int pfd, fd;

		snprintf(a->path, sizeof(a->path), "%s", a->names + d->path_off);
		show(a->disp, sizeof(a->disp), a->path);
		if (!a->path[0]) {
			fd = openat(a->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		} else {
			pfd = open_parent(a, a->path, &leaf, false);
			if (pfd == -ENOENT)
				continue;
			if (pfd < 0)
				return pfd;
			fd = openat(pfd, leaf,
			            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(pfd);
		}
		if (fd < 0)
			continue; /* replaced or deleted later in the layer */
		if (fchmod(fd, d->perm) < 0 || futimens(fd, d->ts) < 0) {
			int err = fail_sys(a, "directory mode and times");

			close(fd);
			return err;
		}
		close(fd);
	}
	return 0;
}

int layer_apply(int root_fd, int blob_fd, const char *layer_name,
                const struct layer_limits *lim, struct layer_stats *stats, char *why,
                size_t why_len)
{
	struct archive_entry *e;
	struct applier *a;
	struct archive *ar;
	int err = 0, r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return why_fail(why, why_len, -ENOMEM, "layer %s: out of memory",
		                layer_name);
	a->root = root_fd;
	a->name = layer_name ? layer_name : "?";
	a->why = why;
	a->why_len = why_len;
	a->privileged = geteuid() == 0;
	if (lim)
		a->lim = *lim;
	else
		layer_default_limits(&a->lim);

	ar = archive_read_new();
	if (!ar) {
		err = why_fail(why, why_len, -ENOMEM, "layer %s: out of memory", a->name);
		goto err_free;
	}
	archive_read_support_filter_gzip(ar);
	archive_read_support_filter_zstd(ar);
	archive_read_support_filter_xz(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_fd(ar, blob_fd, LAYER_READ_BLOCK) != ARCHIVE_OK) {
		err = why_fail(
		    why, why_len, -EBADMSG, "layer %s: truncated or corrupt: %s", a->name,
		    archive_error_string(ar) ? archive_error_string(ar) : "read error");
		goto err_archive;
	}
	for (;;) {
		r = archive_read_next_header(ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			err = why_fail(why, why_len, -EBADMSG,
			               "layer %s: truncated or corrupt%s%s: %s", a->name,
			               a->st.entries ? " after entry " : "",
			               a->st.entries ? a->disp : "",
			               archive_error_string(ar) ? archive_error_string(ar)
			                                        : "read error");
			goto err_archive;
		}
		err = apply_entry(a, ar, e);
		if (err)
			goto err_archive;
	}
	err = finish_dirs(a);
	if (a->devs_skipped)
		log_warn(
		    "layer %s: %llu device node(s) skipped: no permission to create them",
		    a->name, (unsigned long long)a->devs_skipped);

err_archive:
	archive_read_free(ar);
err_free:
	if (stats)
		*stats = a->st;
	free(a->names);
	free(a->set);
	free(a->dirs);
	free(a);
	return err;
}
