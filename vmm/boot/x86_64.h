/* SPDX-License-Identifier: MIT */
/*
 * x86_64 kernel loading: the ELF/PVH and bzImage (64-bit boot protocol)
 * loaders, the e820 map, the zero page, the boot GDT and page tables.
 *
 * Parsers take untrusted bytes and check every field before use. Loaders
 * reach guest memory only through gm_ptr/gm_write. Errors come back as
 * -errno plus a one-line reason in `struct boot_err`.
 */
#ifndef COCOON_BOOT_X86_64_H
#define COCOON_BOOT_X86_64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <asm/bootparam.h>

#include "../memory.h"
#include "../util.h"

struct boot_err {
	char msg[256];
};

enum kernel_format {
	KERNEL_ELF_PVH, /* uncompressed vmlinux, entered through its PVH note */
	KERNEL_BZIMAGE, /* compressed bzImage, 64-bit boot protocol */
};

#define ELF_MAX_LOADS 16

struct elf_load {
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t paddr;  /* guest-physical destination */
	uint64_t memsz;  /* >= filesz; the rest is zeroed */
};

struct elf_pvh_image {
	uint32_t entry; /* XEN_ELFNOTE_PHYS32_ENTRY: 32-bit physical entry */
	unsigned int nr_loads;
	struct elf_load loads[ELF_MAX_LOADS];
	uint64_t end; /* highest paddr + memsz over all loads */
};

/*
 * Validate an ELF64 x86_64 executable and find its PVH entry note.
 * -ENOEXEC when it is not such a file or lacks the note, with the reason.
 */
int elf_pvh_parse(const uint8_t *buf, size_t len, struct elf_pvh_image *out,
		  struct boot_err *err) __must_check;

struct bzimage_info {
	struct setup_header hdr; /* as found in the file, validated */
	size_t hdr_len;          /* bytes of header present in the file */
	size_t kernel_offset;    /* protected-mode code starts here */
	size_t kernel_size;
	uint64_t load_addr;      /* where the protected-mode code goes */
	uint32_t cmdline_max;    /* longest command line, without the NUL */
};

/*
 * Validate a bzImage for the 64-bit boot protocol (header 2.12+ with
 * XLF_KERNEL_64). -ENOEXEC with a reason for truncated or wrong files.
 */
int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage_info *out,
		  struct boot_err *err) __must_check;

/*
 * The guest's e820 map for `mem`: low RAM, the EBDA/BIOS hole as reserved,
 * RAM above 1 MiB, RAM above 4 GiB. Returns the number of entries or -E2BIG.
 */
int x86_e820_build(const struct guest_mem *mem, struct boot_e820_entry *out,
		   unsigned int max);

/*
 * Fill a zero page for a parsed bzImage: header copied from the file, then
 * loader fields, command line, initrd and the e820 map. Pure: no guest memory.
 */
int x86_zero_page_build(struct boot_params *zp, const struct bzimage_info *bz,
			const struct guest_mem *mem, uint64_t cmdline_gpa,
			uint64_t initrd_gpa, uint64_t initrd_size) __must_check;

/* How a vCPU must start to run the loaded kernel. */
struct x86_boot {
	enum kernel_format format;
	uint64_t entry;      /* rip (64-bit) or eip (32-bit PVH) */
	uint64_t boot_info;  /* rsi: zero page, or ebx: hvm_start_info */
	uint64_t kernel_end; /* first byte after the kernel image */
	uint64_t initrd_gpa;
	uint64_t initrd_size;
};

/*
 * Load `kernel` (format chosen by its magic), `initrd` and `cmdline` into
 * guest memory and write the boot structures (GDT, page tables, zero page
 * or hvm_start_info). The initrd is the concatenation of `initrd_parts`
 * buffers (Linux unpacks concatenated cpio archives); it may have none.
 * `kernel_fd`, when not -1, is the open file `kernel` is a mapping of: its
 * pages are then mapped into guest memory copy-on-write where they can be,
 * instead of copied.
 */
int x86_boot_load(const struct guest_mem *mem, const uint8_t *kernel,
		  size_t kernel_len, int kernel_fd, const struct iovec *initrd,
		  unsigned int initrd_parts, const char *cmdline,
		  struct x86_boot *out, struct boot_err *err) __must_check;

/* Boot GDT selectors, as the Linux boot protocol expects them. */
#define X86_BOOT_CS 0x10
#define X86_BOOT_DS 0x18
#define X86_BOOT_TSS 0x20

#endif
