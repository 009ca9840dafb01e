/* SPDX-License-Identifier: MIT */
/*
 * x86_64 vCPU set-up: CPUID from KVM_GET_SUPPORTED_CPUID, the MSRs a Linux
 * guest expects from firmware, the local APIC's LINT pins, and the register
 * state of the boot protocol in use.
 */
#ifndef COCOON_BOOT_X86_64_CPU_H
#define COCOON_BOOT_X86_64_CPU_H

#include <linux/kvm.h>

#include "../util.h"
#include "x86_64.h"

/* What KVM can offer, fetched once per VM. Free with free(). */
int x86_cpuid_supported(int kvm_fd, struct kvm_cpuid2 **out) __must_check;

/*
 * Prepare vCPU `index` of `count`. The boot CPU (index 0) gets the entry
 * registers of `boot`; the others wait for INIT/SIPI from the guest.
 * `tsc_deadline` says whether the in-kernel LAPIC offers the TSC-deadline
 * timer (KVM_CAP_TSC_DEADLINE_TIMER), which CPUID must then advertise.
 */
int x86_vcpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported,
		  unsigned int index, unsigned int count, int tsc_deadline,
		  const struct x86_boot *boot) __must_check;

#endif
