/* SPDX-License-Identifier: MIT */
/*
 * The job spec parser: the record format of COCOON_SPEC_PATH (see abi.h)
 * turned into argv/envp arrays. Pure: no I/O, no allocation, so the host
 * unit tests can feed it any bytes.
 */
#ifndef COCOON_GUEST_SPEC_H
#define COCOON_GUEST_SPEC_H

#include <stddef.h>

#include "abi.h"

#define SPEC_MAX_ARGS 4096
#define SPEC_MAX_ENV 4096
/* Linux HOST_NAME_MAX; sethostname() rejects longer names. */
#define SPEC_MAX_HOSTNAME 64
/* Docker has 16 limit names; room for repeats and newer ones. */
#define SPEC_MAX_RLIMITS 64
/* resolv.conf(5): the resolver reads at most 3 nameserver lines. */
#define SPEC_MAX_DNS 3
/* virtio-fs tags are at most 36 bytes (virtio 1.2, 5.11.4). */
#define SPEC_MAX_TAG 36
#define SPEC_MAX_MOUNTS COCOON_MAX_MOUNTS
#define SPEC_MAX_GROUPS COCOON_MAX_GROUPS
/* Longest filesystem type name of a "mount" record ("cgroup2", "mqueue"...). */
#define SPEC_MAX_FSTYPE 32
/* A mount's subpath or data: PATH_MAX and mount(2)'s one page, less the NUL. */
#define SPEC_MAX_MOUNT_ARG 4095

enum spec_mount_kind {
	SPEC_MOUNT_SHARE, /* "share": a bind from a virtio-fs share */
	SPEC_MOUNT_FS,    /* "fs": a filesystem the guest kernel makes */
};

struct spec {
	/* Point into the parsed buffer, which must outlive the struct. */
	const char *argv[SPEC_MAX_ARGS + 1]; /* NULL-terminated, argc >= 1 */
	size_t argc;
	/*
	 * NULL-terminated. Two slots more than the cap so that guest-init can
	 * append HOME and a default PATH without copying the array.
	 */
	const char *envp[SPEC_MAX_ENV + 3];
	size_t envc;
	const char *cwd;      /* absolute; "/" when the spec has none */
	const char *hostname; /* NULL when the spec has none */
	const char *root;     /* absolute device path, or NULL: stay in the initramfs */
	const char *user;     /* as given ("uid[:gid]", "name[:group]"), or NULL */
	const char *rlimits[SPEC_MAX_RLIMITS]; /* "name=soft:hard", unparsed */
	size_t nrlimits;
	const char *root_fs;  /* virtio-fs tag of the root, or NULL */
	struct spec_volume {
		const char *tag;  /* the value's start: tag_len bytes, no NUL */
		size_t tag_len;   /* 1..SPEC_MAX_TAG */
		const char *dir;  /* absolute, NUL-terminated */
		int read_only;
	} volumes[COCOON_MAX_VOLUMES];
	size_t nvolumes;
	const char *net_addr; /* "A.B.C.D/PREFIX" for eth0, or NULL: no network */
	const char *net_gw;   /* "A.B.C.D" default route, or NULL */
	const char *dns[SPEC_MAX_DNS]; /* nameservers, unparsed */
	size_t ndns;
	/* "mount" records, in order. src and arg point into the value and are
	 * not NUL-terminated (the separator follows them); dest is. */
	struct spec_mount {
		enum spec_mount_kind kind;
		const char *src;  /* share: the tag (1..SPEC_MAX_TAG bytes);
				   * fs: the type (1..SPEC_MAX_FSTYPE) */
		size_t src_len;
		const char *arg;  /* share: the subpath, relative, no ".."; fs:
				   * the mount data. 0..SPEC_MAX_MOUNT_ARG bytes */
		size_t arg_len;
		unsigned long flags; /* MS_* bits within COCOON_MOUNT_FLAGS */
		const char *dest;    /* absolute */
	} mounts[SPEC_MAX_MOUNTS];
	size_t nmounts;
	/* "groups" (valid when groups_set) and "group_add": gids */
	unsigned int groups[SPEC_MAX_GROUPS];
	size_t ngroups;
	unsigned int group_add[SPEC_MAX_GROUPS];
	size_t ngroup_add;
	int groups_set;
	int root_rw; /* flags: 0 or 1 once parsed ("0"/"1" in the spec) */
	int root_ro;
	int etc_files;     /* 1 unless the spec says "0" */
	int no_new_privs;
	int signal_init;   /* signals follow a PID namespace init's rules */
	int tty;
	int stdin_open;    /* "stdin" */
	const char *error; /* on -EINVAL: a static, human-readable reason */
};

/*
 * Parse len bytes of buf into *s.
 * Returns 0, or -EINVAL with s->error set when: the first record is not
 * "version" "1"; a key or value is not NUL-terminated inside the buffer;
 * there is no "arg"; there are more than SPEC_MAX_ARGS args or SPEC_MAX_ENV
 * env entries; an env entry is not KEY=VALUE with a non-empty KEY; cwd is not
 * absolute; hostname is empty or longer than SPEC_MAX_HOSTNAME; root is not
 * absolute; user is empty; root_rw, root_ro, etc_files, no_new_privs, signal_init, tty or
 * stdin is not "0" or "1"; root_rw and root_ro are both "1"; there are more
 * than SPEC_MAX_RLIMITS rlimits or SPEC_MAX_DNS dns entries; net_gw comes
 * without net_addr; root and root_fs both appear; a volume is not
 * TAG:ro|rw:/DIR, or there are more than COCOON_MAX_VOLUMES; groups or
 * group_add is not a list of decimal gids (0-2147483647, at most
 * SPEC_MAX_GROUPS; group_add not empty); a mount is not one of the two
 * forms of abi.h (five fields, a known kind, lengths within the limits
 * above, FLAGS hex within COCOON_MOUNT_FLAGS, DEST absolute), or there are
 * more than SPEC_MAX_MOUNTS; a key other than arg, env, rlimit, dns, volume
 * and mount appears twice. Unknown keys are skipped; rlimit values are
 * checked later (rlimit.h), addresses by guest-init's net.c.
 * On error the other fields of *s are unspecified.
 */
__attribute__((warn_unused_result)) int spec_parse(struct spec *s, const char *buf,
                                                   size_t len);

#endif
