/* SPDX-License-Identifier: MIT */
/*
 * struct vm_config: everything `cocoon run` was asked to do, parsed and
 * validated. Every limit lives here.
 */
#ifndef COCOON_CONFIG_H
#define COCOON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"
#include "util.h"

#define CONFIG_MAX_ENV 4096
#define CONFIG_MAX_CPUS 32      /* MP table and VM_MAX_VCPUS */
#define CONFIG_MAX_DISKS 8      /* --disk images, besides the root filesystem */
#define CONFIG_MAX_RLIMITS 16
#define CONFIG_ENV_FILE_MAX (1u << 20)
#define CONFIG_MAX_ENV_FILES 16
#define CONFIG_DEFAULT_STOP_TIMEOUT_S 10u
#define CONFIG_DEFAULT_MEM (128ull << 20)
#define CONFIG_DEFAULT_BOOT_TIMEOUT_MS 10000u /* hardware KVM boots in << 1 s */
#define CONFIG_MAX_BOOT_TIMEOUT_S 86400u
#define CONFIG_MAX_PORTS 64     /* -p mappings */
#define CONFIG_MAX_VOLUMES 8    /* -v shares (virtio-fs devices) */
#define CONFIG_MAX_SHARE_NAMES 16 /* entries a share of single files shows */
#define CONFIG_MAX_MOUNTS 64    /* OCI mounts made in the guest, in order */
#define CONFIG_MAX_GROUPS 64    /* supplementary groups given as numbers */
#define CONFIG_MAX_DNS 3        /* resolv.conf(5) reads at most 3 */
#define CONFIG_DEFAULT_VSOCK_CID 3 /* the first CID a guest may have */
#define CONFIG_VSOCK_PATH_MAX 100  /* sun_path (108) minus "_PORT" */
#define CONFIG_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct vm_disk {
	const char *path;
	bool read_only;
	struct rl_config rl;       /* iops=, bw=, iops-burst=, bw-burst= */
};

/* --net: one virtio-net device on a tap. */
struct vm_net {
	bool enabled;
	const char *tap;           /* existing tap's name; NULL: create one */
	bool addr_set;             /* ip=: the guest's address */
	uint32_t addr;             /* host byte order */
	unsigned int prefix;
	bool gw_set;               /* gw=: the guest's default route */
	uint32_t gw;
	bool mac_set;
	uint8_t mac[6];
	struct rl_config rl;       /* bw=, pps=, each direction on its own */
	/* The OCI runtime: take over the interface of the network namespace
	 * the engine prepared, which cocoon is in (hostnet.h); tap, ip=, gw=,
	 * mac= do not apply. */
	bool engine_netns;
};

/*
 * A virtio-fs share: -v HOSTDIR:GUESTDIR[:ro], or a host directory that
 * OCI bind mounts (struct vm_mount) take files or subdirectories from.
 */
struct vm_volume {
	const char *host;          /* absolute host directory */
	const char *guest;         /* -v: absolute path in the guest, not "/";
				    * NULL: mounted only through mounts[] */
	bool read_only;
	/* 0: the whole directory. Otherwise the guest sees only these entries
	 * of the share's root (single names, no '/'); the others do not exist
	 * for it and cannot be created: how a bind mount of one host file is
	 * shared without exposing its siblings. */
	unsigned int nr_names;
	const char *names[CONFIG_MAX_SHARE_NAMES];
};

/* One OCI mount (config.json "mounts"), made by guest-init in order after
 * the root and the -v volumes. */
enum vm_mount_kind {
	VM_MOUNT_SHARE, /* a bind mount: a path inside volumes[share] */
	VM_MOUNT_FS,    /* a filesystem the guest kernel makes: tmpfs, proc... */
};

struct vm_mount {
	enum vm_mount_kind kind;
	unsigned int share;        /* SHARE: index into volumes[] */
	const char *subpath;       /* SHARE: relative path in the share, "" for
				    * its root; no "..", no leading '/' */
	const char *fstype;        /* FS: the filesystem type */
	const char *data;          /* FS: mount(2) data, e.g. "size=65536k", or NULL */
	unsigned long flags;       /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC,
				    * MS_NOATIME... as mount(2) takes them */
	const char *dest;          /* absolute path in the container */
};

/* -p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp] */
struct vm_port {
	uint32_t host_ip;          /* host byte order; 0: every address */
	uint16_t host_port;
	uint16_t guest_port;
};

/* The VMM's own sandbox (sandbox.h): --no-sandbox, --uid, --gid, --cgroup. */
struct vm_sandbox {
	bool off;                 /* --no-sandbox */
	bool uid_set, gid_set;    /* otherwise the host's nobody */
	uint32_t uid, gid;
	uint64_t cpu_quota_us;    /* --cgroup cpu=: per 100 ms period; 0 none */
	uint64_t memory_max;      /* --cgroup memory=: bytes; 0 none */
};

struct vm_config {
	const char *kvm_path;      /* default /dev/kvm, or $COCOON_KVM_DEVICE */
	const char *kernel_path;   /* NULL: the default kernel */
	const char *kernel_append; /* extra kernel command line, or NULL */
	uint64_t mem_size;
	unsigned int cpus;
	bool console;              /* show the kernel console on stderr */
	const char *console_log;   /* also write it to this file */
	unsigned int boot_timeout_ms;
	bool timings;
	bool hugepages;            /* guest RAM from 2 MiB hugetlb pages */

	/* The job. */
	int argc;
	char **argv;               /* NULL-terminated; points into main's argv */
	size_t nenv;
	const char *env[CONFIG_MAX_ENV];
	const char *cwd;
	bool cwd_set;              /* -w given (an image's WorkingDir yields to it) */
	const char *entrypoint;    /* --entrypoint (images/: "" clears), or NULL */
	bool cmd_given;            /* argv came from the command line, not the default */
	bool dashdash;             /* the command followed "--": never an image name */
	const char *hostname;
	const char *user;          /* -u: "uid[:gid]" or "name[:group]", or NULL */
	bool tty;                  /* -t */
	bool interactive;          /* -i */
	size_t nrlimits;
	const char *rlimits[CONFIG_MAX_RLIMITS]; /* "name=soft:hard" */
	unsigned int stop_timeout_s;
	bool signal_passthrough;   /* OCI: every signal cocoon gets goes to the
				    * workload; none stops the VM (engines
				    * SIGKILL on their own clock) */
	bool groups_set;           /* exactly these supplementary groups (OCI
				    * additionalGids), instead of /etc/group's */
	unsigned int nr_groups;
	unsigned int groups[CONFIG_MAX_GROUPS];
	unsigned int nr_groups_add; /* --group-add: added to the user's groups */
	unsigned int groups_add[CONFIG_MAX_GROUPS];
	bool no_new_privs;         /* PR_SET_NO_NEW_PRIVS for the workload */
	bool etc_files;            /* write /etc/hosts, /etc/hostname and
				    * /etc/resolv.conf into the root (default;
				    * an OCI engine bind-mounts its own) */

	/* Block devices: the root filesystem is /dev/vda, then --disk ones. */
	const char *rootfs;        /* NULL: the default image */
	bool rootfs_rw;
	bool rootfs_ro;            /* the root read-only with no overlay (OCI
				    * root.readonly, --read-only): writes fail
				    * with EROFS instead of vanishing */
	unsigned int nr_disks;
	struct vm_disk disks[CONFIG_MAX_DISKS];
	/* Host directories over virtio-fs: the root (--rootfs-dir) and -v. */
	const char *rootfs_dir;    /* NULL: the root is a block image */
	unsigned int nr_volumes;
	struct vm_volume volumes[CONFIG_MAX_VOLUMES];
	unsigned int nr_mounts;
	struct vm_mount mounts[CONFIG_MAX_MOUNTS];

	/* Talking to the guest. */
	const char *vsock_uds;     /* --vsock-uds PATH, or NULL: no vsock device */
	uint64_t vsock_cid;        /* --vsock-cid */
	struct vm_net net;
	unsigned int nr_ports;
	struct vm_port ports[CONFIG_MAX_PORTS];
	unsigned int nr_dns;
	const char *dns[CONFIG_MAX_DNS]; /* --dns, or the host's (vm.c) */
	struct rl_config rng_rl;   /* --rng bw=,iops= */

	/* --env-file contents, which env[] points into; freed by config_free. */
	unsigned int nr_env_files;
	char *env_files[CONFIG_MAX_ENV_FILES];

	struct vm_sandbox sandbox;
};

/* The PATH entry config_parse_run puts first in env[] unless -e replaces it
 * (the image code tells it from a user's PATH by this address). */
extern const char config_default_path_env[];

/* Set defaults (reads COCOON_KVM_DEVICE and COCOON_BOOT_TIMEOUT). */
void config_defaults(struct vm_config *cfg);

/* cocoon's state directory: $COCOON_HOME, or /var/lib/cocoon (the image
 * store, and the private kernel copies of kcache.h). */
const char *config_home(void);

/* The guest kernel when --kernel is not given: $COCOON_KERNEL, or
 * kernel/vmlinux next to the cocoon binary (build/kernel/vmlinux). NULL
 * when there is none; buf holds the path otherwise. */
const char *config_default_kernel(char *buf, size_t size);

/* The root image when --rootfs is not given: $COCOON_ROOTFS, or
 * images/busybox.erofs next to the binary. NULL when there is none. */
const char *config_default_rootfs(char *buf, size_t size);

/* Free what parsing allocated (env files). The config is unusable after. */
void config_free(struct vm_config *cfg);

/*
 * Parse a size: digits with an optional K, M, G or T suffix (binary units,
 * optional "iB"/"B"). A bare number means MiB, as for QEMU's -m.
 * 0 or -EINVAL (garbage) / -ERANGE (overflow).
 */
int config_parse_size(const char *s, uint64_t *out) __must_check;

/* Parse a whole decimal number in [min, max]. 0 or -EINVAL / -ERANGE. */
int config_parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out) __must_check;

/*
 * Set or replace KEY=VALUE in the environment (by key). "KEY" alone takes
 * the value from cocoon's own environment, as `docker run -e KEY` does, and
 * is skipped when unset there. -EINVAL for an empty key, -E2BIG when full.
 */
int config_set_env(struct vm_config *cfg, const char *kv) __must_check;

/*
 * Parse "--disk"-style limit options into `rl`: one KEY=VALUE (iops=N,
 * iops-burst=N, bw=RATE, bw-burst=SIZE; with `net` the op keys are pps= and
 * pps-burst=). RATE and SIZE are bytes with an optional K/M/G suffix
 * (binary). Returns 1 when `key` is not a limit key, 0 when parsed, -EINVAL
 * for a bad value.
 */
int config_parse_limit(struct rl_config *rl, const char *key, const char *value,
		       bool net) __must_check;

/*
 * Apply one mount(8) flag word of len bytes (ro, rw, nosuid, suid, nodev,
 * dev, noexec, exec, sync, async, dirsync, [no]atime, [no]diratime,
 * [no]relatime, [no]strictatime, [no]mand, defaults: the names docker
 * --tmpfs and runc take) to the MS_* bits in *flags. false when the word
 * is none of them: filesystem data (size=64m) or unknown, for the caller.
 */
bool config_mount_flag(const char *word, size_t len, unsigned long *flags);

/* Add a --ulimit NAME=SOFT[:HARD] (names as Docker's). 0 or -EINVAL. */
int config_add_rlimit(struct vm_config *cfg, const char *spec) __must_check;

/* Read a Docker-style env file (KEY=VALUE lines, # comments). 0 or -EINVAL
 * with a reason naming the file and line. */
int config_read_env_file(struct vm_config *cfg, const char *path, char *why,
			 size_t why_len) __must_check;

/*
 * Parse `cocoon run` arguments (argv[0] is "run"). On error returns -EINVAL
 * and writes a one-line reason naming the option into why.
 */
int config_parse_run(struct vm_config *cfg, int argc, char **argv, char *why,
		     size_t why_len) __must_check;

#endif
