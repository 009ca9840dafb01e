/* SPDX-License-Identifier: MIT */
/*
 * An OCI bundle's config.json (runtime-spec 1.0/1.1, config.md and
 * config-linux.md) turned into the struct vm_config that `cocoon run`
 * would build, plus what only the runtime commands use: the terminal,
 * the network namespace, the hooks.
 *
 * What a container gets in the VM (runc's behaviour, where it can be had):
 *   process   args, env (exactly as given), cwd, user.uid/gid and
 *             additionalGids, terminal, rlimits, noNewPrivileges;
 *             capabilities, apparmor, selinux and oomScoreAdj are not
 *             applied (the VM is the boundary; the workload runs as the
 *             given user with the guest kernel's default capabilities)
 *   root      root.path shared over virtio-fs and used read-write, as runc
 *             uses it (the engine's writable layer); root.readonly mounts
 *             it read-only, with no overlay
 *   hostname  set in the guest
 *   mounts    bind mounts become virtio-fs shares: a directory is shared
 *             itself; a file is shared through its parent directory with
 *             only that file visible (vm_volume.names), so that engine
 *             directories such as /var/lib/docker/containers/ID do not
 *             leak their other files. tmpfs, mqueue, devpts and the like
 *             are made by the guest kernel. /proc, /sys, /dev, /dev/pts and
 *             cgroup mounts are skipped: guest-init makes its own.
 *   sizing    annotations io.cocoon.memory (a size, "512M") and
 *             io.cocoon.cpus (1..32) first; else linux.resources.memory.limit
 *             and cpu.quota/period (rounded up); else the defaults
 *   netns     linux.namespaces' network entry: its path (the engine's
 *             prepared namespace) or a new empty one; no entry: none
 *   cgroup    linux.cgroupsPath: the VM process is placed in that cgroup
 *             (cgroup v2, cgroupfs-style paths), so that the engine's
 *             accounting (docker stats) sees the whole VM; no limits are
 *             written: the VM's size is its memory limit
 *   hooks     prestart, createRuntime, poststart and poststop run on the
 *             host as runc runs them; createContainer and startContainer
 *             would run inside the container, which is a VM: refused
 * Everything else (other namespaces, cgroups, seccomp, devices, sysctl)
 * is the VM's to provide and is ignored.
 */
#ifndef COCOON_RUNTIME_BUNDLE_H
#define COCOON_RUNTIME_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "util.h"

#define BUNDLE_CONFIG_MAX (4u << 20) /* config.json larger than this: refused */
#define BUNDLE_MAX_HOOKS 16          /* per kind */
#define BUNDLE_MIN_MEM (64ull << 20) /* a guest kernel with room to run */
#define BUNDLE_ANN_MEMORY "io.cocoon.memory"
#define BUNDLE_ANN_CPUS "io.cocoon.cpus"

struct json_object;

enum bundle_hook_kind {
	BUNDLE_HOOK_PRESTART,
	BUNDLE_HOOK_CREATE_RUNTIME,
	BUNDLE_HOOK_POSTSTART,
	BUNDLE_HOOK_POSTSTOP,
	BUNDLE_NR_HOOK_KINDS,
};

struct bundle_hook {
	const char *path;
	char **args;     /* NULL-terminated; args[0] may differ from path */
	char **env;      /* NULL-terminated, may be empty */
	unsigned int timeout_s; /* 0: none */
};

struct bundle {
	struct json_object *doc; /* owns the strings cfg points into */
	char dir[4096];          /* the bundle, absolute */
	char rootfs[4096];       /* root.path, absolute */
	bool terminal;
	unsigned short cols, rows; /* process.consoleSize, 0 when absent */
	int netns;               /* BUNDLE_NETNS_* */
	const char *netns_path;  /* BUNDLE_NETNS_PATH */
	const char *cgroups_path; /* linux.cgroupsPath, or NULL */
	struct bundle_hook hooks[BUNDLE_NR_HOOK_KINDS][BUNDLE_MAX_HOOKS];
	unsigned int nr_hooks[BUNDLE_NR_HOOK_KINDS];
	/* Allocations cfg and hooks point into, freed by bundle_free. */
	void **owned;
	size_t nr_owned, cap_owned;
};

enum {
	BUNDLE_NETNS_NONE, /* no network namespace entry: the runtime's own */
	BUNDLE_NETNS_NEW,  /* an entry without a path: a new, empty one */
	BUNDLE_NETNS_PATH, /* join netns_path */
};

/*
 * Read DIR/config.json into *b and fill *cfg (which the caller set with
 * config_defaults). On error returns -errno with a one-line reason naming
 * the field in why; *b must still be freed.
 */
int bundle_load(struct bundle *b, const char *dir, struct vm_config *cfg, char *why,
		size_t why_len) __must_check;

/* As bundle_load for config.json's text (`json`, `len` bytes), with the
 * bundle directory `dir` (absolute) for relative paths. For tests. */
int bundle_parse(struct bundle *b, const char *dir, const char *json, size_t len,
		 struct vm_config *cfg, char *why, size_t why_len) __must_check;

/* The annotations object (NULL when there is none), for `state`. */
struct json_object *bundle_annotations(const struct bundle *b);

void bundle_free(struct bundle *b);

#endif
