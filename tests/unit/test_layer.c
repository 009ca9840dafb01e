/* SPDX-License-Identifier: MIT */
/*
 * Layer apply: tarballs made here with libarchive's writer (pax, optionally
 * gzip or zstd), applied to a temporary root next to an "outside" sentinel
 * directory that must stay empty whatever the layer tries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer.h"

enum { F_NONE, F_GZIP, F_ZSTD };

struct fix {
	char base[64];
	char root[PATH_MAX];
	char outside[PATH_MAX];
	char blob[PATH_MAX];
	int root_fd;
	struct archive *w;
	char why[512];
	struct layer_stats st;
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/test-layer.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->root, sizeof(f->root), "%s/root", f->base);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
	snprintf(f->blob, sizeof(f->blob), "%s/blob", f->base);
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	f->root_fd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root_fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	close(f->root_fd);
	nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- the tarball writer ------------------------------------------------- */

static void tar_begin(struct fix *f, int filter)
{
	f->w = archive_write_new();
	assert_non_null(f->w);
	assert_int_equal(archive_write_set_format_pax(f->w), ARCHIVE_OK);
	if (filter == F_GZIP)
		assert_int_equal(archive_write_add_filter_gzip(f->w), ARCHIVE_OK);
	if (filter == F_ZSTD)
		assert_true(archive_write_add_filter_zstd(f->w) >= ARCHIVE_WARN);
	assert_int_equal(archive_write_open_filename(f->w, f->blob), ARCHIVE_OK);
}

struct ent {
	const char *path;
	mode_t mode;      /* type | permissions */
	const char *data; /* file contents, or symlink target */
	const char *hardlink;
	size_t size; /* for files without data: this many 'x' bytes */
	int64_t uid, gid, mtime;
	const char *xattr; /* "name=value" */
};

static void tar_add(struct fix *f, struct ent e)
{
	struct archive_entry *ae = archive_entry_new();
	size_t size = 0;

	archive_entry_set_pathname(ae, e.path);
	archive_entry_set_mode(ae, e.mode);
	archive_entry_set_uid(ae, e.uid);
	archive_entry_set_gid(ae, e.gid);
	archive_entry_set_mtime(ae, e.mtime ? e.mtime : 1700000000, 0);
	if (e.hardlink) {
		archive_entry_set_hardlink(ae, e.hardlink);
	} else if (S_ISLNK(e.mode)) {
		archive_entry_set_symlink(ae, e.data);
	} else if (S_ISREG(e.mode)) {
		size = e.data ? strlen(e.data) : e.size;
		archive_entry_set_size(ae, (la_int64_t)size);
	}
	if (e.xattr) {
		const char *eq = strchr(e.xattr, '=');
		char name[64];

		snprintf(name, sizeof(name), "%.*s", (int)(eq - e.xattr), e.xattr);
		archive_entry_xattr_add_entry(ae, name, eq + 1, strlen(eq + 1));
	}
	assert_int_equal(archive_write_header(f->w, ae), ARCHIVE_OK);
	if (size && e.data) {
		assert_int_equal(archive_write_data(f->w, e.data, size),
		                 (la_ssize_t)size);
	} else if (size) {
		char buf[4096];

		memset(buf, 'x', sizeof(buf));
		for (size_t done = 0; done < size;) {
			size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);

			assert_int_equal(archive_write_data(f->w, buf, n), (la_ssize_t)n);
			done += n;
		}
	}
	archive_entry_free(ae);
}

#define FILE_(p, d)                                                                      \
	tar_add(f, (struct ent){.path = (p), .mode = S_IFREG | 0644, .data = (d)})
#define DIR_(p) tar_add(f, (struct ent){.path = (p), .mode = S_IFDIR | 0755})
#define LINK_(p, t)                                                                      \
	tar_add(f, (struct ent){.path = (p), .mode = S_IFLNK | 0777, .data = (t)})
#define HARD_(p, t)                                                                      \
	tar_add(f, (struct ent){.path = (p), .mode = S_IFREG | 0644, .hardlink = (t)})

static void tar_end(struct fix *f)
{
	assert_int_equal(archive_write_close(f->w), ARCHIVE_OK);
	archive_write_free(f->w);
	f->w = NULL;
}

static int apply_lim(struct fix *f, const struct layer_limits *lim)
{
	int fd = open(f->blob, O_RDONLY | O_CLOEXEC), r;

	assert_true(fd >= 0);
	f->why[0] = '\0';
	r = layer_apply(f->root_fd, fd, "sha256:test", lim, &f->st, f->why,
	                sizeof(f->why));
	close(fd);
	return r;
}

static int apply(struct fix *f)
{
	return apply_lim(f, NULL);
}

/* ---- checks -------------------------------------------------------------- */

static int lst(struct fix *f, const char *rel, struct stat *st)
{
	return fstatat(f->root_fd, rel, st, AT_SYMLINK_NOFOLLOW);
}

static bool exists(struct fix *f, const char *rel)
{
	struct stat st;

	return lst(f, rel, &st) == 0;
}

static void check_content(struct fix *f, const char *rel, const char *want)
{
	char buf[256];
	int fd = openat(f->root_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

/* Nothing escaped: the sentinel is empty and base holds only our three. */
static void check_contained(struct fix *f)
{
	struct dirent *de;
	DIR *d = opendir(f->outside);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	assert_int_equal(n, 0);
	d = opendir(f->base);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "root") && strcmp(de->d_name, "outside") &&
		    strcmp(de->d_name, "blob"))
			fail_msg("%s/%s was written outside the root", f->base,
			         de->d_name);
	closedir(d);
}

static void expect_error(struct fix *f, int r, const char *entry, const char *what)
{
	assert_true(r < 0);
	if (!strstr(f->why, entry) || !strstr(f->why, what))
		fail_msg("why \"%s\" lacks \"%s\" or \"%s\"", f->why, entry, what);
	assert_non_null(strstr(f->why, "layer sha256:test"));
	check_contained(f);
}

/* ---- tests ----------------------------------------------------------------- */

static void kinds_and_metadata(void **state)
{
	struct fix *f = *state;
	struct stat st, st2;
	char buf[64], path[PATH_MAX + 16];
	ssize_t n;

	tar_begin(f, F_NONE);
	tar_add(f, (struct ent){.path = "./", .mode = S_IFDIR | 0751});
	tar_add(f, (struct ent){.path = "./etc",
	                        .mode = S_IFDIR | 0700,
	                        .uid = 7,
	                        .gid = 8,
	                        .mtime = 1234567});
	tar_add(f, (struct ent){.path = "./etc/hosts",
	                        .mode = S_IFREG | 0640,
	                        .data = "127.0.0.1 localhost\n",
	                        .uid = 1000,
	                        .gid = 100,
	                        .mtime = 1111111,
	                        .xattr = "user.cocoon=yes"});
	tar_add(f, (struct ent){.path = "bin/su",
	                        .mode = S_IFREG | 04755,
	                        .data = "suid",
	                        .uid = 0,
	                        .gid = 0});
	tar_add(f, (struct ent){.path = "bin/sg",
	                        .mode = S_IFREG | 02755,
	                        .data = "sgid",
	                        .uid = 5,
	                        .gid = 5});
	tar_add(f, (struct ent){.path = "tmp", .mode = S_IFDIR | 01777});
	LINK_("bin/sh", "/bin/busybox");
	LINK_("dangling", "../../../nowhere");
	HARD_("etc/hosts.hard", "etc/hosts");
	tar_add(f, (struct ent){
	               .path = "run/fifo", .mode = S_IFIFO | 0620, .uid = 3, .gid = 4});
	tar_add(f, (struct ent){.path = "dev/null", .mode = S_IFCHR | 0666});
	tar_add(f, (struct ent){.path = "big", .mode = S_IFREG | 0600, .size = 3 << 20});
	tar_end(f);

	assert_int_equal(apply(f), 0);
	assert_int_equal(f->st.entries, 12);
	assert_int_equal(f->st.whiteouts, 0);
	assert_int_equal(f->st.bytes, 20 + 4 + 4 + (3 << 20));

	assert_int_equal(lst(f, ".", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751);
	assert_int_equal(lst(f, "etc", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
	/* Set after etc/hosts was written into it. */
	assert_int_equal(st.st_mtime, 1234567);

	check_content(f, "etc/hosts", "127.0.0.1 localhost\n");
	assert_int_equal(lst(f, "etc/hosts", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st.st_mtime, 1111111);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(lst(f, "etc/hosts.hard", &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);

	snprintf(path, sizeof(path), "%s/etc/hosts", f->root);
	n = getxattr(path, "user.cocoon", buf, sizeof(buf));
	if (n < 0 && errno == ENOTSUP) {
		print_message("user xattrs unsupported on /tmp: not checked\n");
	} else {
		assert_int_equal(n, 3);
		assert_memory_equal(buf, "yes", 3);
	}

	assert_int_equal(lst(f, "bin/su", &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(lst(f, "bin/sg", &st), 0);
	assert_int_equal(st.st_mode & 07777, 02755);
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(lst(f, "tmp", &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);

	assert_int_equal(lst(f, "bin/sh", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	n = readlinkat(f->root_fd, "bin/sh", buf, sizeof(buf));
	assert_int_equal(n, 12);
	assert_memory_equal(buf, "/bin/busybox", 12);
	n = readlinkat(f->root_fd, "dangling", buf, sizeof(buf));
	assert_int_equal(n, 16);
	assert_memory_equal(buf, "../../../nowhere", 16);

	assert_int_equal(lst(f, "run/fifo", &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	assert_int_equal(st.st_uid, 3);
	assert_int_equal(st.st_gid, 4);
	/* A device node exists when we may make one (root), else is skipped. */
	if (geteuid() == 0) {
		assert_int_equal(lst(f, "dev/null", &st), 0);
		assert_true(S_ISCHR(st.st_mode));
	}
	assert_int_equal(lst(f, "big", &st), 0);
	assert_int_equal(st.st_size, 3 << 20);
	check_contained(f);
}

static void compressed(void **state)
{
	struct fix *f = *state;

	tar_begin(f, F_GZIP);
	FILE_("gz/file", "gzip");
	tar_end(f);
	assert_int_equal(apply(f), 0);
	check_content(f, "gz/file", "gzip");

	tar_begin(f, F_ZSTD);
	FILE_("zst/file", "zstd");
	tar_end(f);
	assert_int_equal(apply(f), 0);
	check_content(f, "zst/file", "zstd");
	check_content(f, "gz/file", "gzip");
}

static void whiteouts(void **state)
{
	struct fix *f = *state;

	tar_begin(f, F_NONE);
	FILE_("a/file", "1");
	FILE_("a/keep", "1");
	FILE_("d/sub/deep/x", "1");
	FILE_(".hidden", "1");
	tar_end(f);
	assert_int_equal(apply(f), 0);

	tar_begin(f, F_NONE);
	FILE_("a/.wh.file", "");
	FILE_(".wh.d", "");
	FILE_("nowhere/.wh.x", ""); /* parent absent: nothing to hide */
	FILE_("a/new", "2");
	tar_end(f);
	assert_int_equal(apply(f), 0);
	assert_int_equal(f->st.whiteouts, 3);
	assert_false(exists(f, "a/file"));
	assert_false(exists(f, "a/.wh.file"));
	assert_false(exists(f, "d"));
	assert_false(exists(f, ".wh.d"));
	assert_false(exists(f, "nowhere"));
	check_content(f, "a/keep", "1");
	check_content(f, "a/new", "2");
	check_content(f, ".hidden", "1");
}

static void opaque(void **state)
{
	struct fix *f = *state;

	tar_begin(f, F_NONE);
	FILE_("o/old", "1");
	FILE_("o/olddir/y", "1");
	FILE_("o/kept/z", "1");
	FILE_("other/x", "1");
	tar_end(f);
	assert_int_equal(apply(f), 0);

	/* Entries of this layer before and after the marker survive; so does
	 * o/kept (named again by this layer), but not its lower content. */
	tar_begin(f, F_NONE);
	FILE_("o/before", "2");
	DIR_("o/kept");
	FILE_("o/kept/new", "2");
	FILE_("o/.wh..wh..opq", "");
	FILE_("o/after", "2");
	tar_end(f);
	assert_int_equal(apply(f), 0);
	assert_int_equal(f->st.whiteouts, 1);
	assert_false(exists(f, "o/old"));
	assert_false(exists(f, "o/olddir"));
	assert_false(exists(f, "o/kept/z"));
	assert_false(exists(f, "o/.wh..wh..opq"));
	check_content(f, "o/before", "2");
	check_content(f, "o/after", "2");
	check_content(f, "o/kept/new", "2");
	check_content(f, "other/x", "1");
}

static void replace_types(void **state)
{
	struct fix *f = *state;
	struct stat st;

	tar_begin(f, F_NONE);
	FILE_("f", "file");
	FILE_("g/c", "child");
	LINK_("l", "/etc");
	FILE_("same", "one");
	tar_end(f);
	assert_int_equal(apply(f), 0);

	tar_begin(f, F_NONE);
	FILE_("f/x", "now a dir");
	FILE_("g", "now a file");
	DIR_("l");
	FILE_("same", "two");
	tar_end(f);
	/* "f/x" needs f to be a directory: a layer must say so itself. */
	assert_int_equal(apply(f), -ENOTDIR);
	assert_non_null(strstr(f->why, "entry f/x: parent f is not a directory"));

	tar_begin(f, F_NONE);
	DIR_("f");
	FILE_("f/x", "now a dir");
	FILE_("g", "now a file");
	DIR_("l");
	FILE_("same", "two");
	tar_end(f);
	assert_int_equal(apply(f), 0);
	check_content(f, "f/x", "now a dir");
	check_content(f, "g", "now a file");
	assert_int_equal(lst(f, "l", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	check_content(f, "same", "two");
	check_contained(f);
}

static void hostile_paths(void **state)
{
	struct fix *f = *state;
	struct stat st;

	tar_begin(f, F_NONE);
	FILE_("../escape", "x");
	tar_end(f);
	expect_error(f, apply(f), "entry ../escape escapes the root", "");

	tar_begin(f, F_NONE);
	FILE_("a/../../x", "x");
	tar_end(f);
	expect_error(f, apply(f), "a/../../x", "escapes the root");

	tar_begin(f, F_NONE);
	FILE_("ok/../y", "x");
	tar_end(f);
	expect_error(f, apply(f), "ok/../y", "escapes the root");

	/* A whiteout may not name its directory or the one above. */
	tar_begin(f, F_NONE);
	FILE_("keep", "k");
	FILE_(".wh...", "");
	tar_end(f);
	expect_error(f, apply(f), "entry .wh...", "refused");
	tar_begin(f, F_NONE);
	FILE_("sub/keep", "k");
	FILE_("sub/.wh..", "");
	tar_end(f);
	expect_error(f, apply(f), "entry sub/.wh..", "refused");
	check_content(f, "keep", "k");
	check_content(f, "sub/keep", "k");

	/* Absolute paths are relative to the root. */
	tar_begin(f, F_NONE);
	FILE_("/abs/path", "inside");
	FILE_("//./abs//two", "inside");
	tar_end(f);
	assert_int_equal(apply(f), 0);
	check_content(f, "abs/path", "inside");
	check_content(f, "abs/two", "inside");
	assert_int_equal(stat("/abs/path", &st), -1);
	check_contained(f);
}

static void symlink_then_write(void **state)
{
	struct fix *f = *state;

	/* Across layers. */
	tar_begin(f, F_NONE);
	LINK_("link", f->outside);
	LINK_("rel", "../outside");
	tar_end(f);
	assert_int_equal(apply(f), 0);
	tar_begin(f, F_NONE);
	FILE_("link/pwned", "x");
	tar_end(f);
	expect_error(f, apply(f), "entry link/pwned", "parent link is a symlink");
	tar_begin(f, F_NONE);
	FILE_("rel/pwned", "x");
	tar_end(f);
	expect_error(f, apply(f), "entry rel/pwned", "parent rel is a symlink");
	/* Whiteouts and opaque markers do not follow it either. */
	tar_begin(f, F_NONE);
	FILE_("link/.wh.x", "");
	tar_end(f);
	expect_error(f, apply(f), "link/.wh.x", "parent link is a symlink");

	/* Within one layer, and deeper. */
	tar_begin(f, F_NONE);
	DIR_("d");
	LINK_("d/l2", f->outside);
	FILE_("d/l2/sub/pwned", "x");
	tar_end(f);
	expect_error(f, apply(f), "entry d/l2/sub/pwned", "parent d/l2 is a symlink");

	/* A symlink to a directory inside the root is refused the same way. */
	tar_begin(f, F_NONE);
	DIR_("real");
	LINK_("alias", "real");
	FILE_("alias/file", "x");
	tar_end(f);
	expect_error(f, apply(f), "alias/file", "is a symlink");
	assert_false(exists(f, "real/file"));
}

static void hostile_hardlinks(void **state)
{
	struct fix *f = *state;
	struct stat st;

	tar_begin(f, F_NONE);
	HARD_("passwd", "../../etc/passwd");
	tar_end(f);
	expect_error(f, apply(f), "entry passwd",
	             "hard link target ../../etc/passwd escapes");

	/* An absolute target is beneath the root too: here it does not exist. */
	tar_begin(f, F_NONE);
	HARD_("passwd", "/etc/passwd");
	tar_end(f);
	expect_error(f, apply(f), "entry passwd", "does not exist");

	tar_begin(f, F_NONE);
	LINK_("sl", "/etc/passwd");
	HARD_("viasl", "sl");
	tar_end(f);
	expect_error(f, apply(f), "entry viasl", "hard link target sl is a symlink");

	tar_begin(f, F_NONE);
	LINK_("sd", f->outside);
	HARD_("viasd", "sd/file");
	tar_end(f);
	expect_error(f, apply(f), "entry viasd", "parent sd is a symlink");

	tar_begin(f, F_NONE);
	DIR_("dir");
	HARD_("todir", "dir");
	tar_end(f);
	expect_error(f, apply(f), "entry todir", "not a regular file");
	assert_int_equal(stat("/etc/passwd", &st), 0);
}

static void corrupt(void **state)
{
	struct fix *f = *state;
	struct stat st;
	char buf[4096];
	int fd;

	tar_begin(f, F_NONE);
	FILE_("first", "ok");
	tar_add(f,
	        (struct ent){.path = "cut/here", .mode = S_IFREG | 0644, .size = 200000});
	tar_end(f);
	assert_int_equal(stat(f->blob, &st), 0);
	assert_int_equal(truncate(f->blob, 100000), 0);
	expect_error(f, apply(f), "entry cut/here", "truncated or corrupt");

	tar_begin(f, F_GZIP);
	tar_add(f,
	        (struct ent){.path = "gz/cut", .mode = S_IFREG | 0644, .size = 200000});
	tar_end(f);
	assert_int_equal(stat(f->blob, &st), 0);
	assert_int_equal(truncate(f->blob, st.st_size / 2), 0);
	expect_error(f, apply(f), "layer sha256:test", "truncated or corrupt");

	fd = open(f->blob, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131 + 7);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	expect_error(f, apply(f), "layer sha256:test", "");
	assert_int_equal(truncate(f->blob, 0), 0);
	assert_true(apply(f) < 0);
}

static void limits(void **state)
{
	struct fix *f = *state;
	struct layer_limits lim;

	layer_default_limits(&lim);
	assert_int_equal(lim.max_entries, LAYER_DEFAULT_MAX_ENTRIES);
	assert_int_equal(lim.max_bytes, LAYER_DEFAULT_MAX_BYTES);
	assert_int_equal(lim.max_entry_bytes, LAYER_DEFAULT_MAX_ENTRY_BYTES);
	setenv("COCOON_LAYER_MAX_BYTES", "1M", 1);
	setenv("COCOON_LAYER_MAX_ENTRIES", "12", 1);
	layer_default_limits(&lim);
	assert_int_equal(lim.max_entries, 12);
	assert_int_equal(lim.max_bytes, 1 << 20);
	assert_int_equal(lim.max_entry_bytes, 1 << 20);
	setenv("COCOON_LAYER_MAX_BYTES", "junk", 1);
	layer_default_limits(&lim);
	assert_int_equal(lim.max_bytes, LAYER_DEFAULT_MAX_BYTES);
	unsetenv("COCOON_LAYER_MAX_BYTES");
	unsetenv("COCOON_LAYER_MAX_ENTRIES");

	tar_begin(f, F_NONE);
	FILE_("one", "1");
	FILE_("two", "2");
	FILE_("three", "3");
	tar_end(f);
	lim = (struct layer_limits){
	    .max_entries = 2, .max_bytes = 1000, .max_entry_bytes = 100};
	expect_error(f, apply_lim(f, &lim), "entry three", "max_entries");
	lim.max_entries = 3;
	assert_int_equal(apply_lim(f, &lim), 0);

	tar_begin(f, F_NONE);
	tar_add(f, (struct ent){.path = "huge", .mode = S_IFREG | 0644, .size = 101});
	tar_end(f);
	expect_error(f, apply_lim(f, &lim), "entry huge", "max_entry_bytes");

	tar_begin(f, F_NONE);
	tar_add(f, (struct ent){.path = "p1", .mode = S_IFREG | 0644, .size = 100});
	tar_add(f, (struct ent){.path = "p2", .mode = S_IFREG | 0644, .size = 100});
	tar_end(f);
	lim.max_bytes = 150;
	expect_error(f, apply_lim(f, &lim), "entry p2", "max_bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(kinds_and_metadata, setup, teardown),
	    cmocka_unit_test_setup_teardown(compressed, setup, teardown),
	    cmocka_unit_test_setup_teardown(whiteouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(opaque, setup, teardown),
	    cmocka_unit_test_setup_teardown(replace_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(hostile_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(symlink_then_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(hostile_hardlinks, setup, teardown),
	    cmocka_unit_test_setup_teardown(corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
