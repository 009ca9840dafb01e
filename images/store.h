/* SPDX-License-Identifier: MIT */
/*
 * The image store, at ${COCOON_HOME:-/var/lib/cocoon}:
 *   images/<hex>/rootfs.erofs   the flattened layers, read-only erofs
 *   images/<hex>/config.json    the image config, byte for byte as imported
 *   images/<hex>/manifest.json  the image manifest (<hex>: its sha256)
 *   refs.json                   {"NAME:TAG": "sha256:<hex>", ...}
 *   lock                        flock'ed for every change of the two above
 *   tmp/                        private work directories of running imports
 * An import does its work (extract, verify, apply layers, mkfs.erofs) in its
 * own directory under tmp/ and takes the lock only to rename the finished
 * image into images/ and rewrite refs.json (temp file + rename), so a failed
 * or interrupted import leaves nothing behind but that work directory, and
 * two imports of the same image both succeed.
 */
#ifndef COCOON_STORE_H
#define COCOON_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct store {
	char root[2048]; /* leaves room for the paths under it in PATH_MAX */
};

struct store_import_opts {
	const char *name; /* --name, or NULL: from the source */
	bool progress;    /* layer-by-layer progress on stderr */
};

struct store_ref {
	char name[256];
	char digest[DIGEST_STR_LEN + 1];
};

/* Find the store root (no directory is created). */
void store_init(struct store *s);

/* "NAME" -> "NAME:latest" when it has no tag. -ENAMETOOLONG or -EINVAL
 * (empty, spaces, control characters). */
int store_normalize_name(const char *in, char *out, size_t size)
	__attribute__((warn_unused_result));

/*
 * Import an OCI layout directory, a tar of one, or a `docker save` tar.
 * Writes the manifest digest and the name used. 0 or -errno with a one-line
 * reason; on error the store is as it was.
 */
int store_import(struct store *s, const char *src, const struct store_import_opts *o,
		 char digest[DIGEST_STR_LEN + 1], char name[256], char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* The digest NAME[:TAG] names. 0, -ENOENT, or another -errno. */
int store_lookup(const struct store *s, const char *name, char digest[DIGEST_STR_LEN + 1])
	__attribute__((warn_unused_result));

/* root/images/<hex>/file into buf. 0 or -ENAMETOOLONG. */
int store_image_file(const struct store *s, const char *digest, const char *file, char *buf,
		     size_t size) __attribute__((warn_unused_result));

/* All refs, sorted by name; *n entries in a malloc'ed *refs. */
int store_list(const struct store *s, struct store_ref **refs, size_t *n)
	__attribute__((warn_unused_result));

/* Remove NAME's ref, and its image when no other ref names it.
 * *image_removed tells which. 0, -ENOENT, or -errno with a reason. */
int store_remove(struct store *s, const char *name, bool *image_removed, char *why,
		 size_t why_len) __attribute__((warn_unused_result));

/* rm -rf `path`: never follows symlinks, never leaves its file system;
 * best effort (a temporary directory of ours). */
void store_rm_rf(const char *path);

/* Read a whole small file (at most max bytes) into a NUL-terminated buffer. */
int store_read_file(int dirfd, const char *path, size_t max, char **buf, size_t *len)
	__attribute__((warn_unused_result));

#endif
