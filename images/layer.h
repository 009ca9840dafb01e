/* SPDX-License-Identifier: MIT */
/*
 * Applying one OCI image layer (a tar changeset, OCI image spec
 * image-layer.md "Applying Changesets") onto an extraction root.
 *
 * The layer is hostile: every path is normalised and refused if it leaves the
 * root, every parent directory is opened without following symlinks, and every
 * file is created by this module with *at() calls relative to the root, so the
 * host never follows a link planted by a layer.
 */
#ifndef COCOON_LAYER_H
#define COCOON_LAYER_H

#include <stddef.h>
#include <stdint.h>

struct layer_limits {
	uint64_t max_entries;     /* per layer, e.g. 1,000,000 */
	uint64_t max_bytes;       /* total bytes written per layer, e.g. 64 GiB */
	uint64_t max_entry_bytes; /* one file, e.g. 16 GiB */
};

struct layer_stats {
	uint64_t entries;   /* tar entries read, whiteouts included */
	uint64_t bytes;     /* file data bytes written */
	uint64_t whiteouts; /* .wh.NAME and .wh..wh..opq entries applied */
};

#define LAYER_DEFAULT_MAX_ENTRIES 1000000ull
#define LAYER_DEFAULT_MAX_BYTES (64ull << 30)
#define LAYER_DEFAULT_MAX_ENTRY_BYTES (16ull << 30)

/*
 * Default limits, overridable by env COCOON_LAYER_MAX_BYTES (a number of
 * bytes, optional K/M/G/T binary suffix) and COCOON_LAYER_MAX_ENTRIES (a
 * number). A malformed value is ignored. max_entry_bytes never exceeds
 * max_bytes.
 */
void layer_default_limits(struct layer_limits *l);

/*
 * Apply one layer (a tar stream: gzip, zstd, xz or uncompressed, detected by
 * libarchive) read from fd `blob_fd` onto the directory `root_fd` (an O_PATH
 * or O_DIRECTORY fd of the extraction root). `lim` NULL means the defaults;
 * `stats` (may be NULL) is set to this layer's counts. Returns 0, or -errno
 * with a one-line reason in why naming the layer and the entry at fault (e.g.
 * "layer sha256:ab12…: entry ../etc/passwd escapes the root"). On error the
 * root may hold a partial layer: the caller discards the whole root directory.
 *
 * Whiteouts: ".wh.NAME" deletes NAME (recursively) from the layers below;
 * ".wh..wh..opq" deletes everything under its directory that this layer has
 * not itself written, wherever the marker comes in the stream. Device nodes
 * that cannot be created for lack of privilege (EPERM) are skipped with a
 * warning; fifos are always created; sockets are skipped.
 */
int layer_apply(int root_fd, int blob_fd, const char *layer_name,
                const struct layer_limits *lim, struct layer_stats *stats, char *why,
                size_t why_len) __attribute__((warn_unused_result));

#endif
