/* SPDX-License-Identifier: MIT */
#include "initramfs.h"

/* Defined by initramfs_blob.S, which .incbin's the archive built by CMake. */
extern const uint8_t cocoon_initramfs_start[];
extern const uint8_t cocoon_initramfs_end[];

const uint8_t *initramfs_base(void)
{
	return cocoon_initramfs_start;
}

size_t initramfs_base_size(void)
{
	return (size_t)(cocoon_initramfs_end - cocoon_initramfs_start);
}
