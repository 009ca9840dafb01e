/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: an OCI bundle's config.json (vmm/runtime/bundle.c) on
 * arbitrary bytes, against one bundle directory made once (rootfs/ in a
 * fresh temporary directory; bind sources are host paths such as
 * /etc/hosts). Whatever parses must be a vm_config the VM could be built
 * from: every index in range, every vector NULL-terminated.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/layout.h"
#include "log.h"
#include "runtime/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[PATH_MAX];
static char rootfs[PATH_MAX + 16];

static void cleanup(void)
{
	rmdir(rootfs);
	rmdir(dir);
}

static void make_bundle(void)
{
	char tmpl[] = "/tmp/fuzz_bundle.XXXXXX";

	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		abort();
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
	if (mkdir(rootfs, 0755))
		abort();
	atexit(cleanup);
}

static void check_vector(char **v)
{
	if (!v)
		abort();
	for (; *v; v++)
		(void)strlen(*v);
}

/* What vm.c and the spec writer rely on. */
static void check(const struct bundle *b, const struct vm_config *cfg)
{
	if (cfg->argc < 1 || !cfg->argv[0] || cfg->argv[cfg->argc] || !cfg->cwd ||
	    cfg->cwd[0] != '/' || strcmp(cfg->rootfs_dir, rootfs) != 0 ||
	    cfg->rootfs_ro == cfg->rootfs_rw)
		abort();
	if (cfg->nenv > CONFIG_MAX_ENV || cfg->nrlimits > CONFIG_MAX_RLIMITS ||
	    cfg->nr_groups > CONFIG_MAX_GROUPS || cfg->nr_mounts > CONFIG_MAX_MOUNTS ||
	    cfg->nr_volumes > CONFIG_MAX_VOLUMES)
		abort();
	if (cfg->cpus < 1 || cfg->cpus > CONFIG_MAX_CPUS || cfg->mem_size < BUNDLE_MIN_MEM ||
	    cfg->mem_size > LAYOUT_MEM_MAX || cfg->mem_size % (1u << 20))
		abort();
	for (size_t i = 0; i < cfg->nenv; i++)
		if (!strchr(cfg->env[i], '=') || cfg->env[i][0] == '=')
			abort();
	for (unsigned int i = 0; i < cfg->nr_volumes; i++) {
		const struct vm_volume *v = &cfg->volumes[i];

		if (!v->host || v->host[0] != '/' || v->guest ||
		    v->nr_names > CONFIG_MAX_SHARE_NAMES)
			abort();
		for (unsigned int k = 0; k < v->nr_names; k++)
			if (!v->names[k][0] || strchr(v->names[k], '/'))
				abort();
	}
	for (unsigned int i = 0; i < cfg->nr_mounts; i++) {
		const struct vm_mount *m = &cfg->mounts[i];

		if (!m->dest || m->dest[0] != '/' || strchr(m->dest, '\x1f'))
			abort();
		if (m->kind == VM_MOUNT_SHARE &&
		    (m->share >= cfg->nr_volumes || !m->subpath || m->subpath[0] == '/'))
			abort();
		if (m->kind == VM_MOUNT_FS &&
		    (!m->fstype || !*m->fstype || strchr(m->fstype, '\x1f') ||
		     (m->data && strchr(m->data, '\x1f'))))
			abort();
	}
	if (b->netns == BUNDLE_NETNS_PATH && (!b->netns_path || b->netns_path[0] != '/'))
		abort();
	if (cfg->tty != b->terminal || !cfg->signal_passthrough || cfg->etc_files)
		abort();
	for (int k = 0; k < BUNDLE_NR_HOOK_KINDS; k++) {
		if (b->nr_hooks[k] > BUNDLE_MAX_HOOKS)
			abort();
		for (unsigned int i = 0; i < b->nr_hooks[k]; i++) {
			const struct bundle_hook *h = &b->hooks[k][i];

			if (!h->path || h->path[0] != '/' || !h->args || !h->args[0])
				abort();
			check_vector(h->args);
			check_vector(h->env);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm_config cfg;
	struct bundle b;
	char why[256];

	if (!dir[0]) {
		log_set_level(LOG_ERROR);
		make_bundle();
	}
	memset(&b, 0, sizeof(b));
	config_defaults(&cfg);
	why[0] = '\0';
	if (bundle_parse(&b, dir, (const char *)data, size, &cfg, why, sizeof(why)) == 0)
		check(&b, &cfg);
	else if (!why[0] || !memchr(why, '\0', sizeof(why)))
		abort();
	bundle_free(&b);
	return 0;
}
