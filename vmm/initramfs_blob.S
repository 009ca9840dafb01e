/* SPDX-License-Identifier: MIT */
/* The base initramfs, embedded at build time. COCOON_INITRAMFS_PATH is
 * passed by CMake. Aligned to 4: cpio "newc" wants it, and so does the
 * archive cocoon appends after it. */
	.section .rodata
	.balign 4096
	.global cocoon_initramfs_start
	.global cocoon_initramfs_end
cocoon_initramfs_start:
	.incbin COCOON_INITRAMFS_PATH
cocoon_initramfs_end:
	.balign 4
	.section .note.GNU-stack,"",@progbits
