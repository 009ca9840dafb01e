/* SPDX-License-Identifier: MIT */
#include "jobspec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "../guest-init/abi.h"

_Static_assert(CONFIG_MAX_MOUNTS <= COCOON_MAX_MOUNTS, "guest-init takes fewer mounts");
_Static_assert(CONFIG_MAX_GROUPS <= COCOON_MAX_GROUPS, "guest-init takes fewer groups");

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

/* "G1,G2,..." of n gids (COCOON_MAX_GROUPS at most: config.h's cap is lower). */
static void put_gids(struct spec_buf *b, const char *key, const unsigned int *gids,
		     unsigned int n)
{
	char v[COCOON_MAX_GROUPS * 11 + 1];
	size_t len = 0;

	v[0] = '\0';
	for (unsigned int i = 0; i < n; i++)
		len += (size_t)snprintf(v + len, sizeof(v) - len, "%s%u", i ? "," : "",
					gids[i]);
	put(b, key, v);
}

/*
 * One "mount" record (abi.h). Propagation flags, MS_BIND, MS_REC and
 * MS_MANDLOCK mean nothing in the guest (its mounts have no peers; a share
 * mount is a bind anyway; Linux 5.15+ ignores mandatory locking) and are
 * dropped; any other flag outside COCOON_MOUNT_FLAGS, a
 * field holding the separator, or a share index past the volumes is
 * -EINVAL.
 */
static int put_mount(struct spec_buf *b, const struct vm_config *cfg,
		     const struct vm_mount *m)
{
	const unsigned long ignored = MS_BIND | MS_REC | MS_PRIVATE | MS_SLAVE | MS_SHARED |
				      MS_UNBINDABLE | MS_MANDLOCK;
	unsigned long flags = m->flags & ~ignored;
	const char *src, *arg = m->kind == VM_MOUNT_SHARE ? m->subpath : m->data;
	char tag[sizeof(COCOON_VOLUME_TAG) + 12];
	char *v;
	int len;

	if (!arg)
		arg = "";
	if (m->kind == VM_MOUNT_SHARE) {
		if (m->share >= cfg->nr_volumes)
			return -EINVAL;
		snprintf(tag, sizeof(tag), COCOON_VOLUME_TAG "%u", m->share);
		src = tag;
	} else if (m->kind == VM_MOUNT_FS && m->fstype && *m->fstype) {
		src = m->fstype;
	} else {
		return -EINVAL;
	}
	if ((flags & ~(unsigned long)COCOON_MOUNT_FLAGS) || !m->dest || m->dest[0] != '/' ||
	    strchr(src, COCOON_SPEC_SEP) || strchr(arg, COCOON_SPEC_SEP) ||
	    strchr(m->dest, COCOON_SPEC_SEP))
		return -EINVAL;
	len = asprintf(&v, "%s%c%s%c%s%c%lx%c%s", m->kind == VM_MOUNT_SHARE ? "share" : "fs",
		       COCOON_SPEC_SEP, src, COCOON_SPEC_SEP, arg, COCOON_SPEC_SEP, flags,
		       COCOON_SPEC_SEP, m->dest);
	if (len < 0)
		return -ENOMEM;
	put(b, "mount", v);
	free(v);
	return 0;
}

int jobspec_build_cpio(const struct vm_config *cfg, const struct jobspec_net *net,
		       struct cpio_buf *c)
{
	struct spec_buf b = { .data = malloc(COCOON_SPEC_MAX) };
	int ret;

	if (cfg->nr_mounts > CONFIG_MAX_MOUNTS || cfg->nr_groups > CONFIG_MAX_GROUPS ||
	    cfg->nr_groups_add > CONFIG_MAX_GROUPS) {
		free(b.data);
		return -EINVAL;
	}
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
	if ((cfg->rootfs || cfg->rootfs_dir) && cfg->rootfs_ro)
		put(&b, "root_ro", "1");
	if (!cfg->etc_files)
		put(&b, "etc_files", "0");
	/* Volumes without a guest path are only sources of mounts[]; they
	 * keep their index, hence their tag. */
	for (unsigned int i = 0; i < cfg->nr_volumes; i++) {
		char v[PATH_MAX + 64];

		if (!cfg->volumes[i].guest)
			continue;
		snprintf(v, sizeof(v), COCOON_VOLUME_TAG "%u:%s:%s", i,
			 cfg->volumes[i].read_only ? "ro" : "rw", cfg->volumes[i].guest);
		put(&b, "volume", v);
	}
	for (unsigned int i = 0; i < cfg->nr_mounts; i++) {
		ret = put_mount(&b, cfg, &cfg->mounts[i]);
		if (ret)
			goto out;
	}
	if (cfg->user)
		put(&b, "user", cfg->user);
	if (cfg->groups_set)
		put_gids(&b, "groups", cfg->groups, cfg->nr_groups);
	if (cfg->nr_groups_add)
		put_gids(&b, "group_add", cfg->groups_add, cfg->nr_groups_add);
	if (cfg->no_new_privs)
		put(&b, "no_new_privs", "1");
	/* OCI: the workload is the container's init, as under runc. */
	if (cfg->signal_passthrough)
		put(&b, "signal_init", "1");
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
out:
	free(b.data);
	return ret;
}
