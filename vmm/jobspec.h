/* SPDX-License-Identifier: MIT */
/*
 * The job spec that guest-init reads (format in guest-init/abi.h), packed
 * into a small cpio archive that follows the embedded initramfs.
 */
#ifndef COCOON_JOBSPEC_H
#define COCOON_JOBSPEC_H

#include "config.h"
#include "cpio.h"
#include "util.h"

/* The guest's network as the host side settled it (vm.c), for the spec. */
struct jobspec_net {
	uint32_t addr;        /* host byte order */
	unsigned int prefix;
	uint32_t gw;          /* 0: no default route */
	unsigned int nr_dns;
	const char *dns[CONFIG_MAX_DNS];
};

/*
 * Append COCOON_SPEC_PATH (and its directory) for `cfg` to `c`, and the
 * archive trailer; `net` (NULL: none) adds net_addr, net_gw and dns.
 * -E2BIG when the spec would exceed COCOON_SPEC_MAX; -EINVAL for a mount
 * the spec cannot carry: a field holding COCOON_SPEC_SEP, a relative dest,
 * a share index past nr_volumes, an FS mount without a type, or flags
 * other than COCOON_MOUNT_FLAGS (propagation flags, MS_BIND, MS_REC and
 * MS_MANDLOCK are dropped instead: they mean nothing in the guest).
 */
int jobspec_build_cpio(const struct vm_config *cfg, const struct jobspec_net *net,
		       struct cpio_buf *c) __must_check;

#endif
