/* SPDX-License-Identifier: MIT */
#include "digest.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

bool digest_valid(const char *d)
{
	if (!d || strncmp(d, DIGEST_PREFIX, 7) != 0 || strlen(d) != DIGEST_STR_LEN)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

const char *digest_hex(const char *d)
{
	return d + 7;
}

static void to_hex(const unsigned char *md, char out[DIGEST_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, DIGEST_PREFIX, 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[DIGEST_STR_LEN] = '\0';
}

int digest_buf(const void *buf, size_t len, char out[DIGEST_STR_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	to_hex(md, out);
	return 0;
}

int digest_fd(int fd, char out[DIGEST_STR_LEN + 1], uint64_t *size)
{
	static __thread unsigned char buf[1 << 17];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t off = 0;
	int ret = 0;

	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -EIO;
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			ret = -EIO;
			goto out;
		}
		off += (uint64_t)n;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
		ret = -EIO;
		goto out;
	}
	to_hex(md, out);
	if (size)
		*size = off;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

int digest_check_fd(int fd, const char *want, uint64_t size)
{
	char got[DIGEST_STR_LEN + 1];
	uint64_t got_size;
	int ret;

	if (!digest_valid(want))
		return -EINVAL;
	ret = digest_fd(fd, got, &got_size);
	if (ret)
		return ret;
	if (got_size != size)
		return -EMSGSIZE;
	if (strcmp(got, want) != 0)
		return -EBADMSG;
	return 0;
}
