/* SPDX-License-Identifier: MIT */
/*
 * x86_64 kernel loaders. References:
 *  - Linux Documentation/arch/x86/boot.rst ("THE LINUX/x86 BOOT PROTOCOL"),
 *    sections "The Real-Mode Kernel Header", "64-bit Boot Protocol";
 *  - Xen's public arch-x86/hvm/start_info.h, which defines the PVH entry ABI
 *    (hvm_start_info v1) that Linux implements in arch/x86/platform/pvh/.
 */
#include "x86_64.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "layout.h"

static int fail(struct boot_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct boot_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* True when [off, off+len) lies inside a buffer of `size` bytes. */
static int in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* ---- ELF / PVH ---------------------------------------------------------- */

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define ELF_MAX_PHDRS 64

/* Walk one PT_NOTE segment looking for Xen's PHYS32_ENTRY note. */
static int find_pvh_note(const uint8_t *seg, uint64_t size, uint32_t *entry)
{
	uint64_t off = 0;

	while (size - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_len, desc_len;

		memcpy(&nh, seg + off, sizeof(nh));
		off += sizeof(nh);
		/* ELF notes pad name and descriptor to 4 bytes. */
		name_len = ALIGN_UP((uint64_t)nh.n_namesz, 4);
		desc_len = ALIGN_UP((uint64_t)nh.n_descsz, 4);
		if (!in_bounds(off, name_len, size) ||
		    !in_bounds(off + name_len, desc_len, size))
			return -ENOEXEC;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(seg + off, "Xen", 4) == 0) {
			const uint8_t *d = seg + off + name_len;
			uint64_t e;

			/* Linux emits the entry as a pointer-sized value. */
			if (nh.n_descsz == 4)
				e = get_le32(d);
			else if (nh.n_descsz == 8)
				e = get_le64(d);
			else
				return -ENOEXEC;
			if (e == 0 || e > UINT32_MAX)
				return -ENOEXEC;
			*entry = (uint32_t)e;
			return 0;
		}
		off += name_len + desc_len;
	}
	return -ENOENT;
}

int elf_pvh_parse(const uint8_t *buf, size_t len, struct elf_pvh_image *out,
		  struct boot_err *err)
{
	Elf64_Ehdr eh;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(eh))
		return fail(err, -ENOEXEC, "ELF file truncated (%zu bytes)", len);
	memcpy(&eh, buf, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, -ENOEXEC, "not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return fail(err, -ENOEXEC, "ELF file is not little-endian x86_64");
	if (eh.e_type != ET_EXEC)
		return fail(err, -ENOEXEC, "ELF file is not an executable");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > ELF_MAX_PHDRS)
		return fail(err, -ENOEXEC, "ELF program header table is malformed");
	if (!in_bounds(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
		return fail(err, -ENOEXEC,
			    "ELF program headers extend past the end of the file");

	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (!in_bounds(ph.p_offset, ph.p_filesz, len))
			return fail(err, -ENOEXEC,
				    "ELF segment %u extends past the end of the file", i);
		if (ph.p_type == PT_NOTE) {
			if (!found && find_pvh_note(buf + ph.p_offset, ph.p_filesz,
						    &out->entry) == 0)
				found = 1;
			continue;
		}
		if (ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return fail(err, -ENOEXEC,
				    "ELF segment %u: file size exceeds memory size", i);
		if (ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return fail(err, -ENOEXEC, "ELF segment %u wraps around", i);
		if (ph.p_paddr < LAYOUT_HIMEM)
			return fail(err, -ENOEXEC,
				    "ELF segment %u loads below 1 MiB (at %#llx)", i,
				    (unsigned long long)ph.p_paddr);
		if (out->nr_loads == ELF_MAX_LOADS)
			return fail(err, -ENOEXEC, "ELF file has too many segments");
		out->loads[out->nr_loads++] = (struct elf_load){
			.offset = ph.p_offset,
			.filesz = ph.p_filesz,
			.paddr = ph.p_paddr,
			.memsz = ph.p_memsz,
		};
		if (ph.p_paddr + ph.p_memsz > out->end)
			out->end = ph.p_paddr + ph.p_memsz;
	}
	if (out->nr_loads == 0)
		return fail(err, -ENOEXEC, "ELF file has no loadable segment");
	if (!found)
		return fail(err, -ENOEXEC,
			    "ELF file has no PVH entry note (kernel built without CONFIG_PVH?)");
	return 0;
}

/* ---- bzImage ------------------------------------------------------------ */

#define SETUP_HDR_OFFSET 0x1f1
#define BOOT_FLAG 0xaa55
#define HDRS_MAGIC 0x53726448 /* "HdrS" */
#define MIN_PROTOCOL 0x20c    /* 2.12: xloadflags and 64-bit entry */

int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage_info *out,
		  struct boot_err *err)
{
	struct setup_header *h = &out->hdr;
	size_t setup_sects, setup_size;

	memset(out, 0, sizeof(*out));
	/* Offset 0x201 holds the length of the header past 0x202. */
	if (len < 0x202 + 1)
		return fail(err, -ENOEXEC, "bzImage truncated (%zu bytes)", len);
	out->hdr_len = 0x202 + buf[0x201] - SETUP_HDR_OFFSET;
	if (out->hdr_len > sizeof(*h))
		out->hdr_len = sizeof(*h);
	if (get_le16(buf + 0x1fe) != BOOT_FLAG || len < 0x206 ||
	    get_le32(buf + 0x202) != HDRS_MAGIC)
		return fail(err, -ENOEXEC, "not a bzImage (no boot-protocol header)");
	if (!in_bounds(SETUP_HDR_OFFSET, out->hdr_len, len))
		return fail(err, -ENOEXEC, "bzImage header truncated");
	memcpy(h, buf + SETUP_HDR_OFFSET, out->hdr_len);
	if (out->hdr_len < offsetof(struct setup_header, version) + 2)
		return fail(err, -ENOEXEC, "bzImage header is too short for 2.12");
	if (h->version < MIN_PROTOCOL)
		return fail(err, -ENOEXEC,
			    "bzImage boot protocol %u.%02u is too old (need 2.12)",
			    h->version >> 8, h->version & 0xff);
	if (out->hdr_len < offsetof(struct setup_header, init_size) + 4)
		return fail(err, -ENOEXEC, "bzImage header is too short for 2.12");
	if (!(h->xloadflags & XLF_KERNEL_64))
		return fail(err, -ENOEXEC, "bzImage has no 64-bit entry point");
	if (!(h->loadflags & LOADED_HIGH))
		return fail(err, -ENOEXEC, "bzImage is not a high-loaded (bz) kernel");

	/* "setup_sects: if this field is 0, the real value is 4." */
	setup_sects = h->setup_sects ? h->setup_sects : 4;
	setup_size = (setup_sects + 1) * 512;
	if (setup_size >= len)
		return fail(err, -ENOEXEC, "bzImage truncated after its setup code");
	out->kernel_offset = setup_size;
	out->kernel_size = len - setup_size;
	/* syssize counts 16-byte paragraphs of protected-mode code. */
	if ((uint64_t)h->syssize * 16 > out->kernel_size)
		return fail(err, -ENOEXEC,
			    "bzImage truncated (%zu of %llu kernel bytes)",
			    out->kernel_size, (unsigned long long)h->syssize * 16);
	if (h->init_size == 0)
		return fail(err, -ENOEXEC, "bzImage has no init_size");

	/*
	 * A relocatable kernel may run anywhere aligned to kernel_alignment;
	 * we put it at its preferred address (2.10+) so it need not move.
	 */
	out->load_addr = h->pref_address;
	if (out->load_addr < LAYOUT_HIMEM || out->load_addr % 4096)
		out->load_addr = LAYOUT_HIMEM;
	if (h->relocatable_kernel && h->kernel_alignment &&
	    (h->kernel_alignment & (h->kernel_alignment - 1)) == 0)
		out->load_addr = ALIGN_UP(out->load_addr, (uint64_t)h->kernel_alignment);
	out->cmdline_max = h->cmdline_size ? h->cmdline_size : 255;
	if (out->cmdline_max > X86_CMDLINE_MAX - 1)
		out->cmdline_max = X86_CMDLINE_MAX - 1;
	return 0;
}

/* ---- memory map, zero page ---------------------------------------------- */

int x86_e820_build(const struct guest_mem *mem, struct boot_e820_entry *out,
		   unsigned int max)
{
	unsigned int n = 0;

#define ADD(a, s, t)                                         \
	do {                                                 \
		if (n == max)                                \
			return -E2BIG;                       \
		out[n++] = (struct boot_e820_entry){ .addr = (a), \
			.size = (s), .type = (t) };          \
	} while (0)

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct gm_region *r = &mem->regions[i];
		uint64_t start = r->gpa, end = r->gpa + r->size;

		if (start < LAYOUT_HIMEM) {
			/* Conventional memory, then the EBDA and BIOS area. */
			uint64_t low_end = end < LAYOUT_EBDA ? end : LAYOUT_EBDA;

			ADD(start, low_end - start, 1 /* E820_RAM */);
			if (end > LAYOUT_EBDA)
				ADD(LAYOUT_EBDA, LAYOUT_HIMEM - LAYOUT_EBDA,
				    2 /* E820_RESERVED */);
			start = LAYOUT_HIMEM;
		}
		if (end > start)
			ADD(start, end - start, 1);
	}
#undef ADD
	return (int)n;
}

int x86_zero_page_build(struct boot_params *zp, const struct bzimage_info *bz,
			const struct guest_mem *mem, uint64_t cmdline_gpa,
			uint64_t initrd_gpa, uint64_t initrd_size)
{
	int n;

	memset(zp, 0, sizeof(*zp));
	memcpy(&zp->hdr, &bz->hdr, bz->hdr_len);
	/* "type_of_loader: 0xFF means undefined" - we have no assigned id. */
	zp->hdr.type_of_loader = 0xff;
	/* No real-mode heap is used by the 64-bit entry; say so. */
	zp->hdr.loadflags &= (uint8_t)~CAN_USE_HEAP;
	zp->hdr.code32_start = (uint32_t)bz->load_addr;
	zp->hdr.cmd_line_ptr = (uint32_t)cmdline_gpa;
	zp->ext_cmd_line_ptr = (uint32_t)(cmdline_gpa >> 32);
	zp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
	zp->ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
	zp->hdr.ramdisk_size = (uint32_t)initrd_size;
	zp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	n = x86_e820_build(mem, zp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	if (n < 0)
		return n;
	zp->e820_entries = (uint8_t)n;
	return 0;
}

/* ---- PVH start info ----------------------------------------------------- */

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define PVH_MAX_MEMMAP 8

static int write_start_info(const struct guest_mem *mem, uint64_t cmdline_gpa,
			    uint64_t initrd_gpa, uint64_t initrd_size)
{
	struct boot_e820_entry e820[PVH_MAX_MEMMAP];
	struct hvm_memmap_entry map[PVH_MAX_MEMMAP];
	struct hvm_modlist_entry mod = { .paddr = initrd_gpa, .size = initrd_size };
	uint64_t mod_gpa = LAYOUT_START_INFO + sizeof(struct hvm_start_info);
	uint64_t map_gpa = mod_gpa + sizeof(mod);
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1, /* memmap fields are valid */
		.nr_modules = initrd_size ? 1 : 0,
		.modlist_paddr = initrd_size ? mod_gpa : 0,
		.cmdline_paddr = cmdline_gpa,
		.memmap_paddr = map_gpa,
	};
	int n = x86_e820_build(mem, e820, PVH_MAX_MEMMAP);

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		map[i] = (struct hvm_memmap_entry){ .addr = e820[i].addr,
			.size = e820[i].size, .type = e820[i].type };
	si.memmap_entries = (uint32_t)n;
	if (gm_write(mem, LAYOUT_START_INFO, &si, sizeof(si)) ||
	    gm_write(mem, mod_gpa, &mod, sizeof(mod)) ||
	    gm_write(mem, map_gpa, map, (uint64_t)n * sizeof(map[0])))
		return -EFAULT;
	return 0;
}

/* ---- GDT and page tables ------------------------------------------------ */

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) |
	       ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) |
	       ((uint64_t)(base & 0x00ffffffu) << 16) | (uint64_t)(limit & 0xffffu);
}

static int write_gdt(const struct guest_mem *mem, int long_mode)
{
	uint64_t gdt[5] = {
		0,
		0,
		/* 0x10: code, 64-bit (L) for the bzImage entry, 32-bit (D) for PVH */
		long_mode ? gdt_entry(0xa09b, 0, 0xfffff) : gdt_entry(0xc09b, 0, 0xfffff),
		/* 0x18: flat data */
		gdt_entry(0xc093, 0, 0xfffff),
		/* 0x20: a TSS descriptor; VMX requires a usable TR */
		gdt_entry(0x0089, 0, 0x67),
	};

	return gm_write(mem, LAYOUT_GDT, gdt, sizeof(gdt));
}

/* Identity-map 0-4 GiB with 2 MiB pages: enough for the kernel, boot data
 * and the initrd, all of which live below the MMIO hole. */
static int write_page_tables(const struct guest_mem *mem)
{
	uint64_t *pml4 = gm_ptr(mem, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gm_ptr(mem, LAYOUT_PDPT, 4096);
	uint64_t *pd = gm_ptr(mem, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | 0x3; /* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	return 0;
}

/* ---- the loader --------------------------------------------------------- */

static uint64_t low_ram_end(const struct guest_mem *mem)
{
	const struct gm_region *r = gm_region_of(mem, LAYOUT_HIMEM);

	return r ? r->gpa + r->size : 0;
}

/* Put the initrd at the top of low RAM, page aligned, above the kernel. */
static int place_initrd(const struct guest_mem *mem, uint64_t kernel_end,
			uint64_t limit, const struct iovec *parts, unsigned int n,
			size_t len, uint64_t *gpa, struct boot_err *err)
{
	uint64_t top = low_ram_end(mem), at;

	if (limit && top > limit + 1)
		top = limit + 1;
	if (len > top || ALIGN_DOWN(top - len, 4096) < ALIGN_UP(kernel_end, 4096))
		return fail(err, -ENOMEM,
			    "kernel and initramfs (%zu KiB) do not fit in guest memory",
			    len >> 10);
	*gpa = at = ALIGN_DOWN(top - len, 4096);
	for (unsigned int i = 0; i < n; i++) {
		if (gm_write(mem, at, parts[i].iov_base, parts[i].iov_len))
			return fail(err, -EFAULT, "initramfs does not fit in guest memory");
		at += parts[i].iov_len;
	}
	return 0;
}

static int write_cmdline(const struct guest_mem *mem, const char *cmdline,
			 size_t max, struct boot_err *err)
{
	size_t len = strlen(cmdline);

	if (len > max)
		return fail(err, -E2BIG,
			    "kernel command line is %zu bytes, the limit is %zu",
			    len, max);
	if (gm_write(mem, LAYOUT_CMDLINE, cmdline, len + 1))
		return fail(err, -EFAULT, "no room for the kernel command line");
	return 0;
}

/*
 * Put kernel bytes [off, off+len) at guest address gpa (host pointer dst).
 * With the kernel's file descriptor, every whole page whose file offset and
 * guest address agree modulo the page size is mapped copy-on-write from the
 * file instead of copied (gm_map_file): all VMs share one page-cache copy of
 * the kernel, and start-up skips copying it (17 MB for a vmlinux). The
 * partial pages at either end, and everything when mapping is impossible
 * (offsets not congruent, a file system without mmap), are copied.
 */
static void place(const struct guest_mem *mem, uint64_t gpa, uint8_t *dst,
		  const uint8_t *kernel, uint64_t off, uint64_t len, int kernel_fd)
{
	const uint64_t pg = 4096;
	uint64_t a = (gpa + pg - 1) & ~(pg - 1), e = (gpa + len) & ~(pg - 1);

	if (kernel_fd >= 0 && ((off ^ gpa) & (pg - 1)) == 0 && e > a &&
	    gm_map_file(mem, a, e - a, kernel_fd, off + (a - gpa)) == 0) {
		memcpy(dst, kernel + off, a - gpa);
		memcpy(dst + (e - gpa), kernel + off + (e - gpa), gpa + len - e);
		return;
	}
	memcpy(dst, kernel + off, len);
}

static int load_elf(const struct guest_mem *mem, const uint8_t *kernel,
		    size_t kernel_len, int kernel_fd, struct x86_boot *out,
		    struct boot_err *err)
{
	struct elf_pvh_image img;
	int ret = elf_pvh_parse(kernel, kernel_len, &img, err);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < img.nr_loads; i++) {
		const struct elf_load *l = &img.loads[i];
		uint8_t *dst = gm_ptr(mem, l->paddr, l->memsz);

		if (!dst)
			return fail(err, -ENOMEM,
				    "kernel segment at %#llx (%llu KiB) does not fit in guest memory",
				    (unsigned long long)l->paddr,
				    (unsigned long long)(l->memsz >> 10));
		place(mem, l->paddr, dst, kernel, l->offset, l->filesz, kernel_fd);
		/* Fresh memfd pages are zero already, so is the bss. */
	}
	out->format = KERNEL_ELF_PVH;
	out->entry = img.entry;
	out->boot_info = LAYOUT_START_INFO;
	out->kernel_end = img.end;
	return 0;
}

static int load_bzimage(const struct guest_mem *mem, const uint8_t *kernel,
			size_t kernel_len, int kernel_fd, struct bzimage_info *bz,
			struct x86_boot *out, struct boot_err *err)
{
	int ret = bzimage_parse(kernel, kernel_len, bz, err);
	uint64_t need;

	if (ret)
		return ret;
	/* The decompressor needs init_size bytes from the load address. */
	need = bz->hdr.init_size > bz->kernel_size ? bz->hdr.init_size : bz->kernel_size;
	if (!gm_ptr(mem, bz->load_addr, need))
		return fail(err, -ENOMEM,
			    "kernel needs %llu MiB from %#llx; give the guest more memory",
			    (unsigned long long)(need >> 20),
			    (unsigned long long)bz->load_addr);
	place(mem, bz->load_addr, gm_ptr(mem, bz->load_addr, need), kernel,
	      bz->kernel_offset, bz->kernel_size, kernel_fd);
	out->format = KERNEL_BZIMAGE;
	/* "the 64-bit entry point is at offset 0x200 of the loaded kernel" */
	out->entry = bz->load_addr + 0x200;
	out->boot_info = LAYOUT_ZERO_PAGE;
	out->kernel_end = bz->load_addr + need;
	return 0;
}

int x86_boot_load(const struct guest_mem *mem, const uint8_t *kernel,
		  size_t kernel_len, int kernel_fd, const struct iovec *initrd,
		  unsigned int initrd_parts, const char *cmdline,
		  struct x86_boot *out, struct boot_err *err)
{
	struct bzimage_info bz;
	uint64_t initrd_gpa = 0;
	size_t initrd_len = 0;
	int ret;

	for (unsigned int i = 0; i < initrd_parts; i++) {
		if (initrd[i].iov_len > SIZE_MAX - initrd_len)
			return fail(err, -E2BIG, "initramfs too large");
		initrd_len += initrd[i].iov_len;
	}

	memset(out, 0, sizeof(*out));
	err->msg[0] = '\0';
	if (kernel_len >= SELFMAG && memcmp(kernel, ELFMAG, SELFMAG) == 0)
		ret = load_elf(mem, kernel, kernel_len, kernel_fd, out, err);
	else if (kernel_len > 0x206 && get_le32(kernel + 0x202) == HDRS_MAGIC)
		ret = load_bzimage(mem, kernel, kernel_len, kernel_fd, &bz, out, err);
	else
		ret = fail(err, -ENOEXEC,
			   "not a kernel: neither an ELF vmlinux nor a bzImage");
	if (ret)
		return ret;

	ret = write_cmdline(mem, cmdline,
			    out->format == KERNEL_BZIMAGE ? bz.cmdline_max
							  : X86_CMDLINE_MAX - 1,
			    err);
	if (ret)
		return ret;
	if (initrd_len) {
		ret = place_initrd(mem, out->kernel_end,
				   out->format == KERNEL_BZIMAGE ? bz.hdr.initrd_addr_max : 0,
				   initrd, initrd_parts, initrd_len, &initrd_gpa, err);
		if (ret)
			return ret;
	}
	out->initrd_gpa = initrd_gpa;
	out->initrd_size = initrd_len;

	if (out->format == KERNEL_BZIMAGE) {
		struct boot_params *zp = gm_ptr(mem, LAYOUT_ZERO_PAGE, sizeof(*zp));

		if (!zp || x86_zero_page_build(zp, &bz, mem, LAYOUT_CMDLINE,
					       initrd_gpa, initrd_len))
			return fail(err, -EFAULT, "cannot build the zero page");
	} else if (write_start_info(mem, LAYOUT_CMDLINE, initrd_gpa, initrd_len)) {
		return fail(err, -EFAULT, "cannot write the PVH start info");
	}
	if (write_gdt(mem, out->format == KERNEL_BZIMAGE) ||
	    (out->format == KERNEL_BZIMAGE && write_page_tables(mem)))
		return fail(err, -EFAULT, "cannot write boot page tables");
	return 0;
}
