/* SPDX-License-Identifier: MIT */
/*
 * sha256 digests as OCI descriptors spell them: "sha256:" and 64 lower-case
 * hex digits. Files are hashed streamed, never read whole into memory.
 */
#ifndef COCOON_DIGEST_H
#define COCOON_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_PREFIX "sha256:"
#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN) /* without the NUL */

/* True when d is "sha256:" followed by exactly 64 lower-case hex digits. */
bool digest_valid(const char *d);

/* The hex part of a valid digest (d + 7). */
const char *digest_hex(const char *d);

/* Digest of a buffer into out ("sha256:..."). 0 or -EIO. */
int digest_buf(const void *buf, size_t len, char out[DIGEST_STR_LEN + 1])
	__attribute__((warn_unused_result));

/*
 * Digest of the whole file open at fd (read with pread from offset 0; the
 * file offset is not used). *size gets its length. 0 or -errno.
 */
int digest_fd(int fd, char out[DIGEST_STR_LEN + 1], uint64_t *size)
	__attribute__((warn_unused_result));

/*
 * Check that the file at fd has exactly `size` bytes and the digest `want`.
 * 0; -EMSGSIZE when the size differs; -EBADMSG when the digest differs;
 * -EINVAL when want is not a valid sha256 digest; other -errno from reading.
 */
int digest_check_fd(int fd, const char *want, uint64_t size)
	__attribute__((warn_unused_result));

#endif
