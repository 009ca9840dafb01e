/* SPDX-License-Identifier: MIT */
/* x86_64 loaders: ELF/PVH parser, bzImage header checks, e820, zero page,
 * the command-line limit, all fed synthetic and malformed images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/layout.h"
#include "boot/mptable.h"
#include "boot/x86_64.h"

/* ---- a synthetic PVH vmlinux --------------------------------------------- */

#define PAYLOAD_OFF 0x1000
#define PAYLOAD_LEN 0x200
#define NOTE_OFF 0x200
#define ELF_LEN (PAYLOAD_OFF + PAYLOAD_LEN)

static uint8_t elf[ELF_LEN];

static void make_elf(void)
{
	Elf64_Ehdr eh = {
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = 0xffffffff81000000ull, .e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = 2,
	};
	Elf64_Phdr load = { .p_type = PT_LOAD, .p_offset = PAYLOAD_OFF,
			    .p_paddr = 0x1000000, .p_filesz = PAYLOAD_LEN,
			    .p_memsz = 0x4000 };
	Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = 24 };
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 8, .n_type = 18 };
	uint64_t entry = 0x1000100;

	memset(elf, 0, sizeof(elf));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(elf, &eh, sizeof(eh));
	memcpy(elf + sizeof(eh), &load, sizeof(load));
	memcpy(elf + sizeof(eh) + sizeof(load), &note, sizeof(note));
	memcpy(elf + NOTE_OFF, &nh, sizeof(nh));
	memcpy(elf + NOTE_OFF + 12, "Xen", 4);
	memcpy(elf + NOTE_OFF + 16, &entry, 8);
	memset(elf + PAYLOAD_OFF, 0x90, PAYLOAD_LEN);
}

static Elf64_Phdr *phdr(int i)
{
	return (Elf64_Phdr *)(elf + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

static void elf_good(void **state)
{
	struct elf_pvh_image img;
	struct boot_err err;

	(void)state;
	make_elf();
	assert_int_equal(elf_pvh_parse(elf, sizeof(elf), &img, &err), 0);
	assert_int_equal(img.entry, 0x1000100);
	assert_int_equal(img.nr_loads, 1);
	assert_int_equal(img.end, 0x1004000);
}

static void expect_elf_error(const char *needle)
{
	struct elf_pvh_image img;
	struct boot_err err;

	assert_int_equal(elf_pvh_parse(elf, sizeof(elf), &img, &err), -ENOEXEC);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void elf_malformed(void **state)
{
	struct elf_pvh_image img;
	struct boot_err err;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;

	(void)state;
	make_elf();
	for (size_t len = 0; len < sizeof(Elf64_Ehdr); len += 7)
		assert_int_equal(elf_pvh_parse(elf, len, &img, &err), -ENOEXEC);

	make_elf(); elf[0] = 0; expect_elf_error("not an ELF");
	make_elf(); eh->e_ident[EI_CLASS] = ELFCLASS32; expect_elf_error("x86_64");
	make_elf(); eh->e_machine = EM_AARCH64; expect_elf_error("x86_64");
	make_elf(); eh->e_type = ET_DYN; expect_elf_error("executable");
	make_elf(); eh->e_phnum = 0; expect_elf_error("program header");
	make_elf(); eh->e_phnum = 1000; expect_elf_error("program header");
	make_elf(); eh->e_phentsize = 12; expect_elf_error("program header");
	make_elf(); eh->e_phoff = UINT64_MAX - 8; expect_elf_error("past the end");
	make_elf(); phdr(0)->p_offset = ELF_LEN - 4; expect_elf_error("past the end");
	make_elf(); phdr(0)->p_offset = UINT64_MAX; expect_elf_error("past the end");
	make_elf(); phdr(0)->p_filesz = 0x10000; phdr(0)->p_offset = 0; expect_elf_error("past the end");
	make_elf(); phdr(0)->p_memsz = 1; expect_elf_error("file size exceeds");
	make_elf(); phdr(0)->p_paddr = UINT64_MAX - 0x10; expect_elf_error("wraps");
	make_elf(); phdr(0)->p_paddr = 0x1000; expect_elf_error("below 1 MiB");
	make_elf(); phdr(0)->p_type = PT_NULL; expect_elf_error("no loadable");
	/* No PVH note, a note of the wrong name, a note running off its segment. */
	make_elf(); phdr(1)->p_type = PT_NULL; expect_elf_error("PVH");
	make_elf(); memcpy(elf + NOTE_OFF + 12, "Xyz", 4); expect_elf_error("PVH");
	make_elf(); ((Elf64_Nhdr *)(elf + NOTE_OFF))->n_descsz = 0x7fffffff; expect_elf_error("PVH");
	make_elf(); ((Elf64_Nhdr *)(elf + NOTE_OFF))->n_namesz = 0xffffffff; expect_elf_error("PVH");
	make_elf(); ((Elf64_Nhdr *)(elf + NOTE_OFF))->n_descsz = 3; expect_elf_error("PVH");
	/* An entry above 4 GiB cannot be a 32-bit entry point. */
	make_elf(); { uint64_t e = 1ull << 33; memcpy(elf + NOTE_OFF + 16, &e, 8); }
	expect_elf_error("PVH");
}

/* ---- a synthetic bzImage ---------------------------------------------------- */

#define BZ_SETUP_SECTS 4
#define BZ_KERNEL_LEN 0x2000
#define BZ_LEN ((BZ_SETUP_SECTS + 1) * 512 + BZ_KERNEL_LEN)

static uint8_t bz[BZ_LEN];

static struct setup_header *bzhdr(void)
{
	return (struct setup_header *)(bz + 0x1f1);
}

static void make_bz(void)
{
	struct setup_header *h = bzhdr();

	memset(bz, 0, sizeof(bz));
	h->setup_sects = BZ_SETUP_SECTS;
	h->syssize = BZ_KERNEL_LEN / 16;
	h->boot_flag = 0xaa55;
	/* jump at 0x200; byte 0x201 is the header length past 0x202 */
	bz[0x200] = 0xeb;
	bz[0x201] = (uint8_t)(sizeof(struct setup_header) - (0x202 - 0x1f1));
	h->header = 0x53726448;
	h->version = 0x20f;
	h->loadflags = LOADED_HIGH;
	h->relocatable_kernel = 1;
	h->kernel_alignment = 0x200000;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 2047;
	h->pref_address = 0x1000000;
	h->init_size = 0x800000;
	h->initrd_addr_max = 0x7fffffff;
}

static void expect_bz_error(size_t len, const char *needle)
{
	struct bzimage_info info;
	struct boot_err err;

	assert_int_equal(bzimage_parse(bz, len, &info, &err), -ENOEXEC);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void bzimage_good(void **state)
{
	struct bzimage_info info;
	struct boot_err err;

	(void)state;
	make_bz();
	assert_int_equal(bzimage_parse(bz, sizeof(bz), &info, &err), 0);
	assert_int_equal(info.kernel_offset, (BZ_SETUP_SECTS + 1) * 512);
	assert_int_equal(info.kernel_size, BZ_KERNEL_LEN);
	assert_int_equal(info.load_addr, 0x1000000);
	assert_int_equal(info.cmdline_max, 2047);
	/* setup_sects == 0 means 4 */
	bzhdr()->setup_sects = 0;
	assert_int_equal(bzimage_parse(bz, sizeof(bz), &info, &err), 0);
	assert_int_equal(info.kernel_offset, 5 * 512);
}

static void bzimage_bad(void **state)
{
	(void)state;
	make_bz();
	/* Truncated anywhere: the header, the setup code, the kernel. */
	expect_bz_error(0, "truncated");
	expect_bz_error(0x200, "truncated");
	expect_bz_error(0x230, "truncated");
	expect_bz_error((BZ_SETUP_SECTS + 1) * 512, "truncated");
	expect_bz_error(BZ_LEN - 16, "truncated");
	make_bz(); bzhdr()->boot_flag = 0; expect_bz_error(BZ_LEN, "not a bzImage");
	make_bz(); bzhdr()->header = 0x12345678; expect_bz_error(BZ_LEN, "not a bzImage");
	make_bz(); bzhdr()->version = 0x204; expect_bz_error(BZ_LEN, "too old");
	make_bz(); bzhdr()->xloadflags = 0; expect_bz_error(BZ_LEN, "64-bit");
	make_bz(); bzhdr()->loadflags = 0; expect_bz_error(BZ_LEN, "high-loaded");
	make_bz(); bzhdr()->init_size = 0; expect_bz_error(BZ_LEN, "init_size");
	make_bz(); bz[0x201] = 0; expect_bz_error(BZ_LEN, "too short");
	make_bz(); bzhdr()->setup_sects = 255; expect_bz_error(BZ_LEN, "truncated");
	/* Garbage of every byte value never parses. */
	for (int v = 0; v < 256; v += 17) {
		memset(bz, v, sizeof(bz));
		struct bzimage_info info;
		struct boot_err err;
		assert_int_equal(bzimage_parse(bz, sizeof(bz), &info, &err), -ENOEXEC);
	}
}

/* ---- e820, zero page, whole loads ------------------------------------------- */

static struct guest_mem mem;

static int mem_setup(void **state)
{
	const struct gm_region r = { .gpa = 0, .size = 64ull << 20 };

	(void)state;
	return gm_create(&mem, &r, 1);
}

static int mem_teardown(void **state)
{
	(void)state;
	gm_destroy(&mem);
	return 0;
}

static void e820_layouts(void **state)
{
	struct boot_e820_entry e[8];
	struct guest_mem two;
	const struct gm_region r[2] = {
		{ .gpa = 0, .size = LAYOUT_MMIO_HOLE },
		{ .gpa = LAYOUT_MMIO_HOLE_END, .size = 1ull << 30 },
	};

	(void)state;
	assert_int_equal(x86_e820_build(&mem, e, 8), 3);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, LAYOUT_EBDA);
	assert_int_equal(e[0].type, 1);
	assert_int_equal(e[1].addr, LAYOUT_EBDA);
	assert_int_equal(e[1].type, 2);
	assert_int_equal(e[2].addr, LAYOUT_HIMEM);
	assert_int_equal(e[2].size, (64ull << 20) - LAYOUT_HIMEM);
	assert_int_equal(x86_e820_build(&mem, e, 2), -E2BIG);

	assert_int_equal(gm_create(&two, r, 2), 0);
	assert_int_equal(x86_e820_build(&two, e, 8), 4);
	assert_int_equal(e[2].addr + e[2].size, LAYOUT_MMIO_HOLE);
	assert_int_equal(e[3].addr, LAYOUT_MMIO_HOLE_END);
	assert_int_equal(e[3].size, 1ull << 30);
	gm_destroy(&two);
}

static void zero_page(void **state)
{
	struct bzimage_info info;
	struct boot_params *zp = calloc(1, sizeof(*zp));
	struct boot_err err;

	(void)state;
	make_bz();
	assert_int_equal(bzimage_parse(bz, sizeof(bz), &info, &err), 0);
	assert_int_equal(x86_zero_page_build(zp, &info, &mem, 0x20000, 0x3000000, 12345), 0);
	assert_int_equal(zp->hdr.header, 0x53726448);
	assert_int_equal(zp->hdr.type_of_loader, 0xff);
	assert_int_equal(zp->hdr.cmd_line_ptr, 0x20000);
	assert_int_equal(zp->hdr.ramdisk_image, 0x3000000);
	assert_int_equal(zp->hdr.ramdisk_size, 12345);
	assert_int_equal(zp->e820_entries, 3);
	assert_int_equal(zp->e820_table[2].addr, LAYOUT_HIMEM);
	free(zp);
}

static void load_bzimage_and_cmdline_limit(void **state)
{
	struct x86_boot boot;
	struct boot_err err;
	char *cmdline = malloc(4096);
	uint8_t initrd[100] = { 1, 2, 3 };
	struct iovec iov = { .iov_base = initrd, .iov_len = sizeof(initrd) };

	(void)state;
	make_bz();
	bzhdr()->cmdline_size = 100;
	memset(cmdline, 'a', 100);
	cmdline[100] = 0;
	assert_int_equal(x86_boot_load(&mem, bz, sizeof(bz), -1, &iov, 1, cmdline, &boot, &err), 0);
	assert_int_equal(boot.format, KERNEL_BZIMAGE);
	assert_int_equal(boot.entry, 0x1000200);
	assert_string_equal((char *)gm_ptr(&mem, LAYOUT_CMDLINE, 101), cmdline);
	assert_true(boot.initrd_gpa >= boot.kernel_end);
	assert_memory_equal(gm_ptr(&mem, boot.initrd_gpa, 100), initrd, 100);
	/* One byte over the header's limit is refused with a reason. */
	cmdline[100] = 'a';
	cmdline[101] = 0;
	assert_int_equal(x86_boot_load(&mem, bz, sizeof(bz), -1, &iov, 1, cmdline, &boot, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "command line"));
	/* The x86 COMMAND_LINE_SIZE caps even a generous header. */
	make_bz();
	memset(cmdline, 'b', 4095);
	cmdline[4095] = 0;
	assert_int_equal(x86_boot_load(&mem, bz, sizeof(bz), -1, &iov, 1, cmdline, &boot, &err), -E2BIG);
	free(cmdline);
}

static void load_elf_and_overflow_checks(void **state)
{
	struct x86_boot boot;
	struct boot_err err;

	(void)state;
	make_elf();
	assert_int_equal(x86_boot_load(&mem, elf, sizeof(elf), -1, NULL, 0, "console=ttyS0", &boot, &err), 0);
	assert_int_equal(boot.format, KERNEL_ELF_PVH);
	assert_int_equal(boot.entry, 0x1000100);
	assert_int_equal(boot.boot_info, LAYOUT_START_INFO);
	assert_memory_equal(gm_ptr(&mem, 0x1000000, PAYLOAD_LEN), elf + PAYLOAD_OFF, PAYLOAD_LEN);
	/* hvm_start_info magic and the command line pointer */
	assert_int_equal(*(uint32_t *)gm_ptr(&mem, LAYOUT_START_INFO, 4), 0x336ec578);
	/* A segment beyond guest RAM is refused, not written. */
	phdr(0)->p_paddr = (64ull << 20) - 0x1000;
	assert_int_equal(x86_boot_load(&mem, elf, sizeof(elf), -1, NULL, 0, "", &boot, &err), -ENOMEM);
	assert_non_null(strstr(err.msg, "does not fit"));
	/* Garbage is neither format. */
	uint8_t junk[4096];
	memset(junk, 0x41, sizeof(junk));
	assert_int_equal(x86_boot_load(&mem, junk, sizeof(junk), -1, NULL, 0, "", &boot, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "not a kernel"));
	assert_int_equal(x86_boot_load(&mem, junk, 0, -1, NULL, 0, "", &boot, &err), -ENOEXEC);
}

static void initrd_too_big(void **state)
{
	struct x86_boot boot;
	struct boot_err err;
	struct iovec iov = { .iov_base = malloc(60u << 20), .iov_len = 60u << 20 };

	(void)state;
	make_bz();
	assert_int_equal(x86_boot_load(&mem, bz, sizeof(bz), -1, &iov, 1, "", &boot, &err), -ENOMEM);
	assert_non_null(strstr(err.msg, "do not fit"));
	free(iov.iov_base);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void mp_table(void **state)
{
	const uint8_t *fp, *hdr, *p;
	unsigned int cpus = 0, bsp = 0, ioints = 0;

	(void)state;
	assert_int_equal(mptable_write(&mem, 0), -EINVAL);
	assert_int_equal(mptable_write(&mem, MPTABLE_MAX_CPUS + 1), -EINVAL);
	assert_int_equal(mptable_write(&mem, MPTABLE_MAX_CPUS), 0);
	assert_int_equal(mptable_write(&mem, 4), 0);
	fp = gm_ptr(&mem, LAYOUT_EBDA, 16);
	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(sum(fp, 16), 0);
	hdr = gm_ptr(&mem, *(const uint32_t *)(fp + 4), 44);
	assert_non_null(hdr);
	assert_memory_equal(hdr, "PCMP", 4);
	uint16_t len = *(const uint16_t *)(hdr + 4);
	assert_true(LAYOUT_EBDA + 16 + len <= LAYOUT_HIMEM);
	assert_int_equal(sum(hdr, len), 0);
	p = hdr + 44;
	for (uint16_t i = 0; i < *(const uint16_t *)(hdr + 34); i++) {
		if (p[0] == 0) {
			assert_int_equal(p[1], cpus); /* APIC ids 0..n-1 */
			bsp += (p[3] & 2) != 0;
			cpus++;
			p += 20;
		} else {
			ioints += p[0] == 3;
			p += 8;
		}
	}
	assert_int_equal(p - hdr, len);
	assert_int_equal(cpus, 4);
	assert_int_equal(bsp, 1);
	assert_int_equal(ioints, MPTABLE_IRQS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mp_table),
		cmocka_unit_test(elf_good),
		cmocka_unit_test(elf_malformed),
		cmocka_unit_test(bzimage_good),
		cmocka_unit_test(bzimage_bad),
		cmocka_unit_test(e820_layouts),
		cmocka_unit_test(zero_page),
		cmocka_unit_test(load_bzimage_and_cmdline_limit),
		cmocka_unit_test(load_elf_and_overflow_checks),
		cmocka_unit_test(initrd_too_big),
	};

	return cmocka_run_group_tests(tests, mem_setup, mem_teardown);
}
