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

/*
 * Append COCOON_SPEC_PATH (and its directory) for `cfg` to `c`, and the
 * archive trailer. -E2BIG when the spec would exceed COCOON_SPEC_MAX.
 */
int jobspec_build_cpio(const struct vm_config *cfg, struct cpio_buf *c) __must_check;

#endif
