// SPDX-License-Identifier: MIT
/*
 * kvm-probe: can /dev/kvm on this machine run a standard guest?
 *
 * Some hosts expose a /dev/kvm that accepts every set-up ioctl and even runs
 * simple guest code, but cannot run an ordinary kernel (a paravirtual backend
 * such as PVM expects a guest kernel written for it). Checking that the ioctls
 * succeed proves nothing, so this program runs real guest code and checks the
 * VM exits it must cause. It runs two stages in one VM with 64 KiB of memory
 * at guest-physical 0:
 *
 *   A. 16-bit real mode at 0x1000: "mov dx, PORT; mov al, VALUE_A; out dx, al;
 *      hlt". The first exit must be an OUT of one byte VALUE_A to PORT.
 *
 *   B. 64-bit long mode with 4-level paging, set up the way a VMM boots a
 *      kernel: the code executes "int3", which must be delivered through the
 *      guest's own IDT to a handler that does "out" of VALUE_B to PORT.
 *      Every Linux boot does exactly this (the int3 self-test run while
 *      patching alternatives), and a backend that cannot deliver guest
 *      exceptions through the guest IDT fails here with an internal error.
 *      Measured on a PVM host (kvm_pvm): stage A passes, stage B does not.
 *
 * An alarm bounds the whole run so a misbehaving backend cannot hang us.
 *
 * Usage: kvm-probe [-v] [DEVICE]      (DEVICE defaults to /dev/kvm)
 * Exit status: 0 when both stages behaved as on hardware virtualization,
 * 1 when the guest code did not, 2 when the device could not be used at all.
 * With -v, says why on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PROBE_PORT 0x0cf9u
#define VALUE_A 0xa5u
#define VALUE_B 0x5au
#define TIME_LIMIT_S 5
#define MAX_RUNS 16
#define MAX_CPUID 256

/* Guest-physical layout of the single memory slot. */
#define MEM_SIZE 0x10000u
#define REAL_CODE 0x1000u /* stage A */
#define GDT_ADDR 0x2000u
#define IDT_ADDR 0x3000u
#define PML4_ADDR 0x4000u
#define PDPT_ADDR 0x5000u
#define PD_ADDR 0x6000u
#define LONG_CODE 0x7000u /* stage B entry */
#define HANDLER 0x7100u   /* stage B #BP handler */
#define STACK_TOP 0x9000u

#define SEL_CODE64 0x08
#define SEL_DATA 0x10

static int verbose;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	fputs("kvm-probe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void on_alarm(int sig)
{
	static const char msg[] = "kvm-probe: timed out\n";

	(void)sig;
	if (verbose) {
		ssize_t r = write(2, msg, sizeof(msg) - 1);
		(void)r;
	}
	_exit(1);
}

static const char *exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	default: return "other";
	}
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Emit "mov dx, PORT; mov al, value; out dx, al; hlt" (same bytes in 16- and 64-bit mode
 * apart from the operand-size prefix on the mov to dx). Returns the length. */
static size_t emit_out_hlt(uint8_t *p, int long_mode, uint8_t value)
{
	size_t n = 0;

	if (long_mode)
		p[n++] = 0x66; /* 16-bit operand for "mov dx, imm16" */
	p[n++] = 0xba;
	p[n++] = PROBE_PORT & 0xff;
	p[n++] = PROBE_PORT >> 8;
	p[n++] = 0xb0;
	p[n++] = value;
	p[n++] = 0xee;
	p[n++] = 0xf4;
	return n;
}

/* Run the vCPU until a meaningful exit; 0 when it is OUT of one byte `value` to PROBE_PORT. */
static int expect_out(int vcpu, struct kvm_run *run, uint8_t value, const char *stage)
{
	int i;

	for (i = 0; i < MAX_RUNS; i++) {
		const uint8_t *data;

		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			say("%s: KVM_RUN: %s", stage, strerror(errno));
			return -1;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (run->exit_reason != KVM_EXIT_IO) {
			say("%s: first exit was %s (%u), expected IO", stage,
			    exit_name(run->exit_reason), run->exit_reason);
			return -1;
		}
		data = (const uint8_t *)run + run->io.data_offset;
		if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 ||
		    run->io.port != PROBE_PORT || run->io.count != 1 || data[0] != value) {
			say("%s: unexpected IO exit: dir %u size %u port %#x count %u data %#x",
			    stage, run->io.direction, run->io.size, run->io.port, run->io.count,
			    data[0]);
			return -1;
		}
		say("%s: ok", stage);
		return 0;
	}
	say("%s: no exit after %d runs", stage, MAX_RUNS);
	return -1;
}

static int stage_real_mode(int vcpu, struct kvm_run *run, uint8_t *mem)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	emit_out_hlt(mem + REAL_CODE, 0, VALUE_A);
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
		say("real mode: KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
		say("real mode: KVM_SET_SREGS: %s", strerror(errno));
		return -1;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = REAL_CODE;
	regs.rflags = 0x2; /* bit 1 is reserved and must be set */
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
		say("real mode: KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	return expect_out(vcpu, run, VALUE_A, "real mode out");
}

static int set_cpuid(int kvm, int vcpu)
{
	struct kvm_cpuid2 *cpuid;
	int ret = -1;

	cpuid = calloc(1, sizeof(*cpuid) + MAX_CPUID * sizeof(struct kvm_cpuid_entry2));
	if (!cpuid)
		return -1;
	cpuid->nent = MAX_CPUID;
	/* KVM refuses EFER.LME unless the guest's CPUID reports long mode. */
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
		say("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	else if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0)
		say("KVM_SET_CPUID2: %s", strerror(errno));
	else
		ret = 0;
	free(cpuid);
	return ret;
}

static int stage_long_mode(int kvm, int vcpu, struct kvm_run *run, uint8_t *mem)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_CODE64,
		.type = 0xb, .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_DATA,
		.type = 0x3, .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint8_t *gate;

	if (set_cpuid(kvm, vcpu) < 0)
		return -1;

	/* GDT: null, 64-bit code, flat data. */
	put_le(mem + GDT_ADDR + 0, 0, 8);
	put_le(mem + GDT_ADDR + 8, 0x00af9b000000ffffull, 8);
	put_le(mem + GDT_ADDR + 16, 0x00cf93000000ffffull, 8);

	/* Identity-map the first 2 MiB with one large page. */
	put_le(mem + PML4_ADDR, PDPT_ADDR | 0x3, 8);    /* present, writable */
	put_le(mem + PDPT_ADDR, PD_ADDR | 0x3, 8);
	put_le(mem + PD_ADDR, 0x0 | 0x83, 8);           /* present, writable, 2 MiB */

	/* IDT entry for vector 3 (#BP): 64-bit interrupt gate, DPL 0, to HANDLER. */
	gate = mem + IDT_ADDR + 3 * 16;
	put_le(gate + 0, HANDLER & 0xffff, 2);
	put_le(gate + 2, SEL_CODE64, 2);
	gate[4] = 0;    /* IST */
	gate[5] = 0x8e; /* present, DPL 0, interrupt gate */
	put_le(gate + 6, (HANDLER >> 16) & 0xffff, 2);
	put_le(gate + 8, 0, 4); /* offset 63:32 */

	mem[LONG_CODE] = 0xcc; /* int3 */
	mem[LONG_CODE + 1] = 0xf4; /* hlt: reached only if the breakpoint was swallowed */
	emit_out_hlt(mem + HANDLER, 1, VALUE_B);

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
		say("long mode: KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = GDT_ADDR;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.idt.base = IDT_ADDR;
	sregs.idt.limit = 4 * 16 - 1;
	sregs.cr3 = PML4_ADDR;
	sregs.cr4 = 1u << 5;                        /* PAE */
	sregs.cr0 = (1u << 0) | (1u << 4) | (1u << 31); /* PE, ET, PG */
	sregs.efer = (1u << 8) | (1u << 10);        /* LME, LMA */
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
		say("long mode: KVM_SET_SREGS: %s", strerror(errno));
		return -1;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = LONG_CODE;
	regs.rsp = STACK_TOP;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
		say("long mode: KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	return expect_out(vcpu, run, VALUE_B, "long mode int3 through the IDT");
}

static int create_vcpu(int kvm, int vm, int id, struct kvm_run **run)
{
	int vcpu, size;
	void *p;

	vcpu = ioctl(vm, KVM_CREATE_VCPU, id);
	if (vcpu < 0) {
		say("KVM_CREATE_VCPU: %s", strerror(errno));
		return -1;
	}
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(**run)) {
		say("KVM_GET_VCPU_MMAP_SIZE returned %d", size);
		return -1;
	}
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (p == MAP_FAILED) {
		say("mmap vcpu: %s", strerror(errno));
		return -1;
	}
	*run = p;
	return vcpu;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/kvm";
	struct kvm_userspace_memory_region region;
	struct kvm_run *run;
	uint8_t *mem;
	int kvm, vm, vcpu, api, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else
			dev = argv[i];
	}

	signal(SIGALRM, on_alarm);
	alarm(TIME_LIMIT_S);

	kvm = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		say("open %s: %s", dev, strerror(errno));
		return 2;
	}
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		say("KVM_GET_API_VERSION returned %d", api);
		return 2;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		say("KVM_CREATE_VM: %s", strerror(errno));
		return 2;
	}
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		say("mmap: %s", strerror(errno));
		return 2;
	}
	/* Fill with hlt so a stray jump stops instead of running garbage. */
	memset(mem, 0xf4, MEM_SIZE);
	memset(mem + PML4_ADDR, 0, PD_ADDR + 0x1000 - PML4_ADDR);
	memset(mem + IDT_ADDR, 0, 0x1000);

	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uint64_t)(uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		say("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return 2;
	}

	/* Each stage gets its own vCPU so neither inherits state from the other. */
	vcpu = create_vcpu(kvm, vm, 0, &run);
	if (vcpu < 0)
		return 2;
	if (stage_real_mode(vcpu, run, mem) < 0)
		return 1;
	vcpu = create_vcpu(kvm, vm, 1, &run);
	if (vcpu < 0)
		return 2;
	if (stage_long_mode(kvm, vcpu, run, mem) < 0)
		return 1;
	return 0;
}
