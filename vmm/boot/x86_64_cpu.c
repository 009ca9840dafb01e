/* SPDX-License-Identifier: MIT */
#include "x86_64_cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "layout.h"

#define CPUID_MAX_ENTRIES 256

int x86_cpuid_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	size_t size = sizeof(struct kvm_cpuid2) +
		      CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, size);

	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int err = -errno;

		free(c);
		return err;
	}
	*out = c;
	return 0;
}

static int set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported,
		     unsigned int index, unsigned int count, int tsc_deadline)
{
	size_t size = sizeof(struct kvm_cpuid2) +
		      supported->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(size);
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC id, logical CPU count, CLFLUSH line (8 qwords). */
			e->ebx = (index << 24) | ((count & 0xff) << 16) | (8 << 8);
			e->ecx |= 1u << 31; /* hypervisor present */
			if (tsc_deadline)
				e->ecx |= 1u << 24;
			if (count > 1)
				e->edx |= 1u << 28; /* HTT: count field is valid */
			break;
		case 0xb:
		case 0x1f:
			/* Extended topology: the x2APIC id of this CPU. */
			e->edx = index;
			break;
		case 6:
			/* No thermal or power management to talk to. */
			e->ecx &= ~1u; /* no APERF/MPERF */
			break;
		}
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff

static int set_msrs(int vcpu_fd)
{
	/* What firmware leaves behind: syscall MSRs clear, fast strings on,
	 * MTRRs enabled with write-back as the default memory type. */
	static const struct {
		uint32_t index;
		uint64_t value;
	} msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 },
		{ MSR_LSTAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_TSC, 0 }, { MSR_IA32_MISC_ENABLE, 1 },
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[ARRAY_SIZE(msrs)];
	} buf;
	int n;

	memset(&buf, 0, sizeof(buf));
	buf.hdr.nmsrs = ARRAY_SIZE(msrs);
	for (size_t i = 0; i < ARRAY_SIZE(msrs); i++) {
		buf.e[i].index = msrs[i].index;
		buf.e[i].data = msrs[i].value;
	}
	n = ioctl(vcpu_fd, KVM_SET_MSRS, &buf);
	if (n < 0)
		return -errno;
	/* KVM_SET_MSRS returns how many it set; a short count is a refusal. */
	return n == (int)ARRAY_SIZE(msrs) ? 0 : -EINVAL;
}

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static int set_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	/* As a PC BIOS does: LINT0 takes the 8259's ExtINT, LINT1 the NMI. */
	memcpy(&v, lapic.regs + APIC_LVT0, 4);
	v = (v & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(lapic.regs + APIC_LVT0, &v, 4);
	memcpy(&v, lapic.regs + APIC_LVT1, 4);
	v = (v & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(lapic.regs + APIC_LVT1, &v, 4);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type,
			 int code64)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code64 ? 0 : 1,
		.s = 1,
		.l = code64 ? 1 : 0,
		.g = 1,
	};
}

#define X86_CR0_PE 0x1u
#define X86_CR0_ET 0x10u
#define X86_CR0_PG 0x80000000u
#define X86_CR4_PAE 0x20u
#define EFER_LME 0x100u
#define EFER_LMA 0x400u

static int set_boot_registers(int vcpu_fd, const struct x86_boot *boot)
{
	int long_mode = boot->format == KERNEL_BZIMAGE;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	flat_segment(&sregs.cs, X86_BOOT_CS, 0xb /* code, read, accessed */, long_mode);
	flat_segment(&sregs.ds, X86_BOOT_DS, 0x3 /* data, write, accessed */, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .selector = X86_BOOT_TSS, .limit = 0x67,
		.type = 0xb /* busy 32-bit TSS */, .present = 1 };
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (long_mode) {
		/* 64-bit boot protocol: paging on, identity mapped. */
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = X86_CR4_PAE;
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
		sregs.efer = EFER_LME | EFER_LMA;
	} else {
		/* PVH: 32-bit protected mode, paging off (start_info.h). */
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
		sregs.efer = 0;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2; /* bit 1 is always set; interrupts off */
	regs.rip = boot->entry;
	if (long_mode)
		regs.rsi = boot->boot_info; /* the zero page */
	else
		regs.rbx = boot->boot_info; /* hvm_start_info */
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;     /* x87 reset value */
	fpu.mxcsr = 0x1f80;  /* SSE reset value */
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

int x86_vcpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported,
		  unsigned int index, unsigned int count, int tsc_deadline,
		  const struct x86_boot *boot)
{
	int ret = set_cpuid(vcpu_fd, supported, index, count, tsc_deadline);

	if (!ret)
		ret = set_msrs(vcpu_fd);
	if (!ret)
		ret = set_lapic(vcpu_fd);
	if (!ret && index == 0)
		ret = set_boot_registers(vcpu_fd, boot);
	return ret;
}
