/* SPDX-License-Identifier: MIT */
/*
 * The initramfs built into the cocoon binary: guest-init as /init, the
 * directories it mounts on, /dev/console, and (until block-device root
 * filesystems exist) busybox as the workload's userland. cocoon appends a
 * per-run cpio with the job spec (spec.h).
 */
#ifndef COCOON_INITRAMFS_H
#define COCOON_INITRAMFS_H

#include <stddef.h>
#include <stdint.h>

const uint8_t *initramfs_base(void);
size_t initramfs_base_size(void);

#endif
