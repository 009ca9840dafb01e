/* SPDX-License-Identifier: MIT */
#include "digest.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/*
 * libcrypto (OpenSSL 3) is loaded on first use, not linked: most runs of
 * cocoon (`run` with a root image file, the OCI runtime's VM process)
 * never compute a digest, and the linked library cost every VMM about
 * 1.4 MB of resident pages and its relocations at each start
 * (bench/run's memory and start-up figures).
 */
static struct {
	EVP_MD_CTX *(*ctx_new)(void);
	void (*ctx_free)(EVP_MD_CTX *);
	const EVP_MD *(*sha256)(void);
	int (*init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
	int (*update)(EVP_MD_CTX *, const void *, size_t);
	int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
	int err;
} crypto;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void crypto_load(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		crypto.err = -ELIBACC;
		return;
	}
	*(void **)&crypto.ctx_new = dlsym(h, "EVP_MD_CTX_new");
	*(void **)&crypto.ctx_free = dlsym(h, "EVP_MD_CTX_free");
	*(void **)&crypto.sha256 = dlsym(h, "EVP_sha256");
	*(void **)&crypto.init = dlsym(h, "EVP_DigestInit_ex");
	*(void **)&crypto.update = dlsym(h, "EVP_DigestUpdate");
	*(void **)&crypto.final = dlsym(h, "EVP_DigestFinal_ex");
	if (!crypto.ctx_new || !crypto.ctx_free || !crypto.sha256 || !crypto.init ||
	    !crypto.update || !crypto.final)
		crypto.err = -ELIBBAD;
}

/* A SHA-256 context, or NULL with *err set. */
static EVP_MD_CTX *sha256_begin(int *err)
{
	EVP_MD_CTX *ctx;

	pthread_once(&crypto_once, crypto_load);
	if (crypto.err) {
		*err = crypto.err;
		return NULL;
	}
	ctx = crypto.ctx_new();
	if (!ctx) {
		*err = -ENOMEM;
		return NULL;
	}
	if (!crypto.init(ctx, crypto.sha256(), NULL)) {
		crypto.ctx_free(ctx);
		*err = -EIO;
		return NULL;
	}
	return ctx;
}

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
	int ret = 0;
	EVP_MD_CTX *ctx = sha256_begin(&ret);

	if (!ctx)
		return ret;
	if (!crypto.update(ctx, buf, len) || !crypto.final(ctx, md, &mdlen) || mdlen != 32)
		ret = -EIO;
	else
		to_hex(md, out);
	crypto.ctx_free(ctx);
	return ret;
}

int digest_fd(int fd, char out[DIGEST_STR_LEN + 1], uint64_t *size)
{
	/* On the heap: a thread-local buffer was 128 KiB of every thread's
	 * TLS, vCPU threads included. */
	unsigned char *buf;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t off = 0;
	int ret = 0;
	EVP_MD_CTX *ctx = sha256_begin(&ret);

	if (!ctx)
		return ret;
	buf = malloc(1 << 17);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, 1 << 17, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (!crypto.update(ctx, buf, (size_t)n)) {
			ret = -EIO;
			goto out;
		}
		off += (uint64_t)n;
	}
	if (!crypto.final(ctx, md, &mdlen) || mdlen != 32) {
		ret = -EIO;
		goto out;
	}
	to_hex(md, out);
	if (size)
		*size = off;
out:
	free(buf);
	crypto.ctx_free(ctx);
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
