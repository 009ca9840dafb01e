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
};

/* -v HOSTDIR:GUESTDIR[:ro] */
struct vm_volume {
	const char *host;          /* absolute host directory */
	const char *guest;         /* absolute path in the guest, not "/" */
	bool read_only;
};

/* -p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp] */
struct vm_port {
	uint32_t host_ip;          /* host byte order; 0: every address */
	uint16_t host_port;
	uint16_t guest_port;
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

	/* Block devices: the root filesystem is /dev/vda, then --disk ones. */
	const char *rootfs;        /* NULL: the default image */
	bool rootfs_rw;
	unsigned int nr_disks;
	struct vm_disk disks[CONFIG_MAX_DISKS];
	/* Host directories over virtio-fs: the root (--rootfs-dir) and -v. */
	const char *rootfs_dir;    /* NULL: the root is a block image */
	unsigned int nr_volumes;
	struct vm_volume volumes[CONFIG_MAX_VOLUMES];

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
};

/* The PATH entry config_parse_run puts first in env[] unless -e replaces it
 * (the image code tells it from a user's PATH by this address). */
extern const char config_default_path_env[];

/* Set defaults (reads COCOON_KVM_DEVICE and COCOON_BOOT_TIMEOUT). */
void config_defaults(struct vm_config *cfg);

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
