/* SPDX-License-Identifier: MIT */
/*
 * The Intel MultiProcessor table (MP spec 1.4): how a guest without ACPI
 * learns its CPUs' local APIC ids, the I/O APIC and the IRQ routing. Linux
 * scans the last KiB of base memory for it, which is where it goes.
 */
#ifndef COCOON_BOOT_MPTABLE_H
#define COCOON_BOOT_MPTABLE_H

#include "../memory.h"
#include "../util.h"

#define MPTABLE_MAX_CPUS 32
#define MPTABLE_IRQS 24 /* I/O APIC pins, all routed 1:1 from ISA IRQs */
#define MPTABLE_IOAPIC_ADDR 0xfec00000u
#define MPTABLE_LAPIC_ADDR 0xfee00000u

/* Write the floating pointer and configuration table for `cpus` CPUs at
 * LAYOUT_EBDA. -EINVAL for a bad count, -EFAULT when it does not fit. */
int mptable_write(const struct guest_mem *mem, unsigned int cpus) __must_check;

#endif
