/* SPDX-License-Identifier: MIT */
/*
 * Every guest-physical constant of the x86_64 machine, in one table.
 *
 *   0x0000_0500  GDT (boot segments, Linux boot protocol wants __BOOT_CS 0x10)
 *   0x0000_6000  PVH hvm_start_info, its module list and memory map
 *   0x0000_7000  zero page (struct boot_params) for the bzImage protocol
 *   0x0000_9000  PML4, 0xa000 PDPT, 0xb000-0xefff four PDs: 0-4 GiB identity
 *   0x0002_0000  kernel command line
 *   0x0009_fc00  EBDA (MP table lives here for SMP), reserved to 1 MiB
 *   0x0010_0000  high memory: kernel, then the initrd at the top of low RAM
 *   0xc000_0000  MMIO hole up to 4 GiB (virtio-mmio devices)
 *   0x1_0000_0000 RAM above the hole when the guest has more than 3 GiB
 */
#ifndef COCOON_BOOT_LAYOUT_H
#define COCOON_BOOT_LAYOUT_H

#define LAYOUT_GDT 0x500ull
#define LAYOUT_START_INFO 0x6000ull
#define LAYOUT_ZERO_PAGE 0x7000ull
#define LAYOUT_PML4 0x9000ull
#define LAYOUT_PDPT 0xa000ull
#define LAYOUT_PD 0xb000ull /* four pages */
#define LAYOUT_CMDLINE 0x20000ull
#define LAYOUT_EBDA 0x9fc00ull
#define LAYOUT_HIMEM 0x100000ull
#define LAYOUT_MMIO_HOLE 0xc0000000ull
#define LAYOUT_MMIO_HOLE_END 0x100000000ull
#define LAYOUT_VIRTIO_MMIO_BASE 0xd0000000ull
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ull /* one page per device */

/* Linux x86 COMMAND_LINE_SIZE; the bzImage header may announce less. */
#define X86_CMDLINE_MAX 2048u

/* Guest RAM limits accepted by --memory. */
#define LAYOUT_MEM_MIN (32ull << 20)
#define LAYOUT_MEM_MAX (64ull << 30)

#endif
