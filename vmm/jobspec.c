/* SPDX-License-Identifier: MIT */
#include "jobspec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
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

/* A host-order IPv4 address, with "/prefix" when prefix >= 0. */
static void put_ip(struct spec_buf *b, const char *key, uint32_t ip, int prefix)
{
	struct in_addr a = { .s_addr = htonl(ip) };
	char buf[INET_ADDRSTRLEN + 4];

	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
	if (prefix >= 0)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%d", prefix);
	put(b, key, buf);
}

int jobspec_build_cpio(const struct vm_config *cfg, const struct jobspec_net *net,
		       struct cpio_buf *c)
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
	if (cfg->rootfs_dir)
		put(&b, "root_fs", COCOON_ROOT_TAG);
	if ((cfg->rootfs || cfg->rootfs_dir) && cfg->rootfs_rw)
		put(&b, "root_rw", "1");
	for (unsigned int i = 0; i < cfg->nr_volumes; i++) {
		char v[PATH_MAX + 64];

		snprintf(v, sizeof(v), COCOON_VOLUME_TAG "%u:%s:%s", i,
			 cfg->volumes[i].read_only ? "ro" : "rw", cfg->volumes[i].guest);
		put(&b, "volume", v);
	}
	if (cfg->user)
		put(&b, "user", cfg->user);
	for (size_t i = 0; i < cfg->nrlimits; i++)
		put(&b, "rlimit", cfg->rlimits[i]);
	if (cfg->tty)
		put(&b, "tty", "1");
	if (cfg->interactive)
		put(&b, "stdin", "1");
	if (net) {
		put_ip(&b, "net_addr", net->addr, (int)net->prefix);
		if (net->gw)
			put_ip(&b, "net_gw", net->gw, -1);
		for (unsigned int i = 0; i < net->nr_dns; i++)
			put(&b, "dns", net->dns[i]);
	}
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
