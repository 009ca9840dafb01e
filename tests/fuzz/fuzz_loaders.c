/* SPDX-License-Identifier: MIT */
/* libFuzzer: the kernel loaders (ELF/PVH and bzImage) on arbitrary files,
 * loading into a 64 MiB guest. Nothing may crash, read or write out of
 * bounds, whatever the header fields say. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "boot/x86_64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static int ready;
	struct elf_pvh_image img;
	struct bzimage_info bz;
	struct x86_boot boot;
	struct boot_err err;
	uint8_t initrd[64] = { 0 };
	struct iovec iov = { .iov_base = initrd, .iov_len = sizeof(initrd) };

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = 64u << 20 };

		if (gm_create(&mem, &r, 1))
			abort();
		ready = 1;
	}
	(void)elf_pvh_parse(data, size, &img, &err);
	(void)bzimage_parse(data, size, &bz, &err);
	(void)x86_boot_load(&mem, data, size, -1, &iov, 1, "console=ttyS0", &boot, &err);
	return 0;
}
