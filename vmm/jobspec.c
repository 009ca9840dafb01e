/* SPDX-License-Identifier: MIT */
#include "jobspec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../guest-init/abi.h"

struct spec_buf {
	char *data;
	size_t len;
	int err;
};

static void put(struct spec_buf *b, const char *key, const char *value)
{
	size_t kl = strlen(key) + 1, vl = strlen(value) + 1;

	if (b->err)
		return;
	if (kl + vl > COCOON_SPEC_MAX - b->len) {
		b->err = -E2BIG;
		return;
	}
	memcpy(b->data + b->len, key, kl);
	memcpy(b->data + b->len + kl, value, vl);
	b->len += kl + vl;
}

int jobspec_build_cpio(const struct vm_config *cfg, struct cpio_buf *c)
{
	struct spec_buf b = { .data = malloc(COCOON_SPEC_MAX) };
	int ret;

	if (!b.data)
		return -ENOMEM;
	put(&b, "version", COCOON_SPEC_VERSION);
	for (int i = 0; i < cfg->argc; i++)
		put(&b, "arg", cfg->argv[i]);
	for (size_t i = 0; i < cfg->nenv; i++)
		put(&b, "env", cfg->env[i]);
	put(&b, "cwd", cfg->cwd);
	if (cfg->hostname)
		put(&b, "hostname", cfg->hostname);
	/* The root filesystem is always the first virtio-blk disk. */
	if (cfg->rootfs)
		put(&b, "root", "/dev/vda");
	if (cfg->rootfs && cfg->rootfs_rw)
		put(&b, "root_rw", "1");
	if (cfg->user)
		put(&b, "user", cfg->user);
	for (size_t i = 0; i < cfg->nrlimits; i++)
		put(&b, "rlimit", cfg->rlimits[i]);
	if (cfg->tty)
		put(&b, "tty", "1");
	if (cfg->interactive)
		put(&b, "stdin", "1");
	ret = b.err;
	if (!ret)
		ret = cpio_add_dir(c, "cocoon", 0755);
	if (!ret)
		ret = cpio_add_file(c, COCOON_SPEC_PATH, 0400, b.data, b.len);
	if (!ret)
		ret = cpio_finish(c);
	free(b.data);
	return ret;
}
