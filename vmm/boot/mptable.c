/* SPDX-License-Identifier: MIT */
/*
 * MP table writer. Layout from the Intel MultiProcessor Specification 1.4,
 * chapter 4 ("MP Configuration Table"): a 16-byte floating pointer ("_MP_"),
 * then the configuration table ("PCMP") with processor, bus, I/O APIC,
 * I/O interrupt and local interrupt entries. Every structure sums to zero.
 */
#include "mptable.h"

#include <errno.h>
#include <string.h>

#include "layout.h"

#define MP_SPEC_REV 4
#define ENTRY_PROCESSOR 0
#define ENTRY_BUS 1
#define ENTRY_IOAPIC 2
#define ENTRY_IOINT 3
#define ENTRY_LOCALINT 4
#define INT_TYPE_INT 0
#define INT_TYPE_NMI 1
#define INT_TYPE_EXTINT 3
#define APIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define CPU_ENABLED 0x01
#define CPU_BSP 0x02
#define CPU_SIGNATURE 0x600 /* family 6: only informative for Linux */
#define CPU_FEATURES 0x201  /* FPU and on-chip APIC */

/* Worst case: header 44 + 32 CPUs * 20 + bus 8 + I/O APIC 8 + 24 * 8 + 2 * 8. */
#define MPTABLE_MAX_BYTES (16 + 44 + MPTABLE_MAX_CPUS * 20 + 8 + 8 + MPTABLE_IRQS * 8 + 16)

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)(0 - sum);
}

static uint8_t *entry8(uint8_t *p, uint8_t type, uint8_t a, uint16_t b,
		       uint8_t c, uint8_t d, uint8_t e, uint8_t f)
{
	p[0] = type;
	p[1] = a;
	put_le16(p + 2, b);
	p[4] = c;
	p[5] = d;
	p[6] = e;
	p[7] = f;
	return p + 8;
}

int mptable_write(const struct guest_mem *mem, unsigned int cpus)
{
	uint8_t buf[MPTABLE_MAX_BYTES];
	uint8_t *fp = buf, *hdr = buf + 16, *p = hdr + 44;
	const uint8_t ioapic_id = (uint8_t)cpus; /* after the local APIC ids */
	uint16_t entries = 0;
	size_t table_len;

	if (cpus == 0 || cpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	memset(buf, 0, sizeof(buf));

	for (unsigned int i = 0; i < cpus; i++, entries++) {
		p[0] = ENTRY_PROCESSOR;
		p[1] = (uint8_t)i; /* local APIC id == vCPU index (CPUID leaf 1) */
		p[2] = APIC_VERSION;
		p[3] = CPU_ENABLED | (i == 0 ? CPU_BSP : 0);
		put_le32(p + 4, CPU_SIGNATURE);
		put_le32(p + 8, CPU_FEATURES);
		p += 20;
	}
	p[0] = ENTRY_BUS;
	memcpy(p + 2, "ISA   ", 6);
	p += 8;
	entries++;
	p = entry8(p, ENTRY_IOAPIC, ioapic_id, IOAPIC_VERSION | 0x100 /* enabled */,
		   0, 0, 0, 0);
	put_le32(p - 4, MPTABLE_IOAPIC_ADDR);
	entries++;
	/* ISA IRQ n -> I/O APIC pin n; pin 0 carries the 8259's ExtINT. */
	for (unsigned int irq = 0; irq < MPTABLE_IRQS; irq++, entries++)
		p = entry8(p, ENTRY_IOINT, irq ? INT_TYPE_INT : INT_TYPE_EXTINT,
			   0 /* conforming polarity/trigger */, 0 /* ISA bus */,
			   (uint8_t)irq, ioapic_id, (uint8_t)irq);
	/* LINT0 takes ExtINT and LINT1 the NMI, on every local APIC (0xff). */
	p = entry8(p, ENTRY_LOCALINT, INT_TYPE_EXTINT, 0, 0, 0, 0xff, 0);
	p = entry8(p, ENTRY_LOCALINT, INT_TYPE_NMI, 0, 0, 0, 0xff, 1);
	entries += 2;
	table_len = (size_t)(p - hdr);

	memcpy(hdr, "PCMP", 4);
	put_le16(hdr + 4, (uint16_t)table_len);
	hdr[6] = MP_SPEC_REV;
	memcpy(hdr + 8, "COCOON  ", 8);
	memcpy(hdr + 16, "MICROVM     ", 12);
	put_le16(hdr + 34, entries);
	put_le32(hdr + 36, MPTABLE_LAPIC_ADDR);
	hdr[7] = checksum(hdr, table_len);

	memcpy(fp, "_MP_", 4);
	put_le32(fp + 4, (uint32_t)(LAYOUT_EBDA + 16));
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = MP_SPEC_REV;
	fp[10] = checksum(fp, 16);

	if ((uint64_t)(p - buf) > LAYOUT_HIMEM - LAYOUT_EBDA)
		return -EFAULT;
	return gm_write(mem, LAYOUT_EBDA, buf, (uint64_t)(p - buf));
}
