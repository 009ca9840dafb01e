/* SPDX-License-Identifier: MIT */
#include "vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

static void kick_handler(int sig)
{
	(void)sig; /* only here so that KVM_RUN returns EINTR */
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the ioctl must come back to us. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned int index)
{
	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->index = index;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (v->fd < 0) {
		v->fd = -1;
		return -errno;
	}
	v->run = mmap(NULL, (size_t)vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		int err = -errno;

		v->run = NULL;
		close(v->fd);
		v->fd = -1;
		return err;
	}
	return 0;
}

static void handle_io(struct vm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned int size = run->io.size;

	/* String I/O (rep outsb/insb) packs `count` items back to back. */
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&vm->pio, run->io.port, data, size);
		else
			bus_read(&vm->pio, run->io.port, data, size);
	}
}

static void handle_mmio(struct vm *vm, struct kvm_run *run)
{
	unsigned int len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		log_guest_once("MMIO access of %u bytes", len);
		return;
	}
	if (run->mmio.is_write)
		bus_write(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static int stopping(const struct vm *vm)
{
	return __atomic_load_n(&vm->outcome, __ATOMIC_ACQUIRE) != VM_RUNNING;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	sigset_t set;

	sb_thread_enter(SB_VCPU);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (v->index == 0)
		vm->t_first_run = now_ns();

	while (!stopping(vm)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm_request_stop(vm, VM_FAILED, 125, "KVM_RUN on vCPU %u: %s",
					v->index, strerror(errno));
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(vm, run);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(vm, run);
			break;
		case KVM_EXIT_SHUTDOWN:
			vm_request_stop(vm, VM_GUEST_DIED, 125,
					"the guest reset itself (triple fault or kernel panic)");
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			vm_request_stop(vm, VM_GUEST_DIED, 125,
					"the guest powered off or reset (event %u)",
					run->system_event.type);
			break;
		case KVM_EXIT_HLT:
			vm_request_stop(vm, VM_GUEST_DIED, 125, "the guest halted");
			break;
		case KVM_EXIT_FAIL_ENTRY:
			vm_request_stop(vm, VM_FAILED, 125,
					"KVM could not enter the guest (hardware reason %#llx)",
					(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			vm_request_stop(vm, VM_GUEST_DIED, 125,
					"KVM internal error %u (the guest did something KVM cannot emulate)",
					run->internal.suberror);
			break;
		default:
			vm_request_stop(vm, VM_FAILED, 125, "unexpected KVM exit reason %u",
					run->exit_reason);
			break;
		}
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret)
		return -ret;
	v->started = 1;
	return 0;
}

void vcpu_stop(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal covers a thread already inside it. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	pthread_join(v->thread, NULL);
	v->started = 0;
}

void vcpu_destroy(struct vcpu *v)
{
	vcpu_stop(v);
	if (v->run)
		munmap(v->run, (size_t)v->vm->kvm.vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
