/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: layer_apply on arbitrary bytes as a layer blob (tar, maybe
 * compressed), with small limits, onto a fresh directory each run. The
 * directory sits next to an empty sentinel directory in a private temporary
 * base; after the run the base must hold exactly those two and the sentinel
 * must still be empty: nothing may land outside the root. The root is then
 * removed with *at calls only (no path ever followed through a symlink).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer.h"
#include "log.h"

#define MAX_DEPTH 48        /* deeper subtrees are moved up and done later */
#define MAX_PENDING 100000  /* bounds the whole removal */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int base_fd = -1;
static unsigned long pending_seq, pending_done;

static void rm_at(int dfd, const char *name, int depth);

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "fuzz_layer: %s: %s\n", what, strerror(errno));
	abort();
}

/* Remove everything inside the open directory `fd` (closed here). */
static void rm_children(int fd, int depth)
{
	DIR *dir = fdopendir(fd);
	struct dirent *de;

	if (!dir) {
		close(fd);
		return;
	}
	/* Removing while reading may skip entries: loop until a pass finds
	 * nothing to do (bounded: each pass removes or moves what it sees). */
	for (int pass = 0; pass < 64; pass++) {
		int seen = 0;

		rewinddir(dir);
		while ((de = readdir(dir))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			seen = 1;
			rm_at(dirfd(dir), de->d_name, depth + 1);
		}
		if (!seen)
			break;
	}
	closedir(dir);
}

static void rm_at(int dfd, const char *name, int depth)
{
	struct stat st;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return;
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, name, 0) && errno != ENOENT)
			die("unlinkat");
		return;
	}
	if (depth >= MAX_DEPTH) {
		char tmp[64];

		/* Too deep to hold more fds: park it in the base for later. */
		snprintf(tmp, sizeof(tmp), "pending.%lu", pending_seq++);
		if (renameat(dfd, name, base_fd, tmp))
			die("renameat");
		return;
	}
	(void)fchmodat(dfd, name, 0700, 0);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die("openat");
	rm_children(fd, depth);
	if (unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT)
		die("unlinkat dir");
}

static void rm_tree(const char *name)
{
	rm_at(base_fd, name, 0);
	while (pending_done < pending_seq) {
		char tmp[64];

		if (pending_done >= MAX_PENDING) {
			fprintf(stderr, "fuzz_layer: tree too deep to remove\n");
			abort();
		}
		snprintf(tmp, sizeof(tmp), "pending.%lu", pending_done++);
		rm_at(base_fd, tmp, 0);
	}
}

/* The base must hold "root" and "sentinel" only, the sentinel nothing. */
static void check_base(void)
{
	int fd = openat(base_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;

	if (fd < 0 || !(dir = fdopendir(fd)))
		die("open base");
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "root") && strcmp(de->d_name, "sentinel")) {
			fprintf(stderr, "fuzz_layer: '%s' appeared outside the root\n",
				de->d_name);
			abort();
		}
	}
	closedir(dir);
	fd = openat(base_fd, "sentinel", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd)))
		die("open sentinel");
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			fprintf(stderr, "fuzz_layer: '%s' appeared in the sentinel\n",
				de->d_name);
			abort();
		}
	}
	closedir(dir);
}

static void cleanup_base(void)
{
	if (base_fd >= 0) {
		rm_tree("root");
		(void)unlinkat(base_fd, "sentinel", AT_REMOVEDIR);
	}
}

static char base_path[64];

static void remove_base(void)
{
	cleanup_base();
	(void)rmdir(base_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int blob = -1;
	const struct layer_limits lim = {
		.max_entries = 64,
		.max_bytes = 256u << 10,
		.max_entry_bytes = 64u << 10,
	};
	struct layer_stats st;
	char why[512];
	int root;

	if (base_fd < 0) {
		log_set_level(LOG_ERROR);
		snprintf(base_path, sizeof(base_path), "/tmp/cocoon-fuzz-layer.XXXXXX");
		if (!mkdtemp(base_path))
			die("mkdtemp");
		base_fd = open(base_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (base_fd < 0 || mkdirat(base_fd, "sentinel", 0700))
			die("base");
		blob = memfd_create("fuzz-layer", MFD_CLOEXEC);
		if (blob < 0)
			die("memfd_create");
		atexit(remove_base);
	}
	if (ftruncate(blob, 0) || (size && pwrite(blob, data, size, 0) != (ssize_t)size) ||
	    lseek(blob, 0, SEEK_SET))
		die("blob");
	if (mkdirat(base_fd, "root", 0755))
		die("mkdirat root");
	root = openat(base_fd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die("open root");
	(void)layer_apply(root, blob, "sha256:fuzz", &lim, &st, why, sizeof(why));
	close(root);
	check_base();
	rm_tree("root");
	{
		/* Only the sentinel may be left. */
		struct stat s;

		if (!fstatat(base_fd, "root", &s, AT_SYMLINK_NOFOLLOW))
			die("root not removed");
	}
	return 0;
}
