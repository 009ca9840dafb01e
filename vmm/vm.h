/* SPDX-License-Identifier: MIT */
/*
 * struct vm: one microVM and everything it owns (KVM fds, guest memory,
 * buses, devices, vCPU threads). Starting one is split in two, so that a
 * prepared VM can wait in a pool:
 *   vm_prepare()  memory, kernel, initramfs, devices, vCPU registers;
 *   vm_go()       vCPU threads run; the calling thread runs the event loop
 *                 until the VM stops, then returns the outcome.
 * vm_destroy() tears everything down, whatever state the VM reached.
 */
#ifndef COCOON_VM_H
#define COCOON_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "boot/x86_64.h"
#include "bus.h"
#include "config.h"
#include "devices/guestctl.h"
#include "devices/serial.h"
#include "devices/virtio/console.h"
#include "devices/virtio/virtio.h"
#include "evloop.h"
#include "hostnet.h"
#include "kvm.h"
#include "memory.h"
#include "portfwd.h"
#include "util.h"

#define VM_MAX_VCPUS 32
#define VM_MAX_VIRTIO 16  /* virtio-mmio slots, one page and one GSI each */
#define VM_VIRTIO_FIRST_GSI 5 /* GSIs 5..20: above the UARTs' 3 and 4 */

enum vm_outcome {
	VM_RUNNING = 0,
	VM_EXITED,     /* guest-init reported the workload's status */
	VM_GUEST_DIED, /* the guest stopped without reporting (panic, reset) */
	VM_WATCHDOG,   /* no guest progress before the boot timeout */
	VM_SIGNALED,   /* stopped after cocoon got SIGINT/SIGTERM/SIGHUP: the
			* workload did not exit within --stop-timeout of the
			* forwarded signal, or a second SIGINT came */
	VM_FAILED,     /* the host side failed */
};

struct vm;
struct vfs;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
};

/* One virtio-mmio device as the VM placed it. */
struct vm_virtio {
	struct virtio_dev *dev;
	void (*destroy)(struct virtio_dev *dev); /* frees the device */
	uint64_t base;  /* MMIO base address */
	unsigned int gsi;
	int irq_fd;     /* KVM irqfd: a write injects the device's interrupt */
};

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;
	int vm_fd;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct serial com1; /* ttyS0: kernel console */
	struct serial com2; /* ttyS1: the workload's stdio */
	struct guestctl ctl;
	struct x86_boot boot;
	const uint8_t *kernel; /* the kernel file, mapped until it is loaded */
	size_t kernel_len;
	int kernel_fd;         /* open until loaded: its pages map into guest RAM */
	struct vcpu vcpus[VM_MAX_VCPUS];
	unsigned int nr_vcpus;
	struct evloop loop;  /* device back-ends run here */
	struct vm_virtio virtio[VM_MAX_VIRTIO];
	unsigned int nr_virtio;
	struct vcon *con;   /* the workload's stdio (owned by its virtio slot) */
	int stop_fd;        /* eventfd: a vCPU asks the loop to stop */
	int console_log_fd; /* --console-log, or -1 */
	struct hostnet net; /* --net: the tap and the addresses */
	struct portfwd *ports; /* -p forwarder, or NULL */
	struct vfs *fs[CONFIG_MAX_VOLUMES + 1]; /* virtio-fs shares (owned by their slots) */
	unsigned int nr_fs;

	/* Outcome: the first vm_request_stop() wins. */
	int outcome;        /* enum vm_outcome, atomic */
	int status;         /* exit status to report */
	char reason[256];

	/* Timings, host monotonic ns. */
	uint64_t t_start, t_first_run, t_stopped;
};

/*
 * A signal that carries another: sigqueue(pid, VM_SIGNAL_RELAY, {signo})
 * makes a VM with signal_passthrough forward signo to the workload, for
 * signals cocoon cannot take as themselves (SIGUSR1 kicks vCPUs).
 */
#define VM_SIGNAL_RELAY (SIGRTMIN + 4)

/*
 * The signals vm_go takes through a signalfd for `cfg`: SIGINT, SIGTERM,
 * SIGHUP and SIGWINCH; with signal_passthrough also every other signal a
 * workload can be sent and VM_SIGNAL_RELAY. The caller blocks them in
 * every thread (before vm_prepare starts any) so that none is lost.
 */
void vm_signal_set(const struct vm_config *cfg, sigset_t *set);

/*
 * Build the VM for `cfg`, up to the point where vCPUs could run. `t_start`
 * is the process start time for --timings. On error returns -errno with a
 * one-line reason in why; the caller still calls vm_destroy().
 */
int vm_prepare(struct vm *vm, const struct vm_config *cfg, uint64_t t_start,
	       char *why, size_t why_len) __must_check;

/*
 * Run until the VM stops. Returns the outcome; vm->status holds the exit
 * status to report and vm->reason explains any outcome but VM_EXITED.
 * SIGINT, SIGTERM and SIGHUP (blocked by the caller) are forwarded to the
 * workload through the console's control port, docker-like; a second SIGINT
 * or cfg->stop_timeout_s after the first forwarded signal stops the VM
 * (VM_SIGNALED, status 128 + that first signal). SIGWINCH (blocked too)
 * sends the terminal's size with -t. After VM_EXITED, the workload's output
 * still in the console's rings is written out before returning.
 */
enum vm_outcome vm_go(struct vm *vm);

/* Ask the VM to stop. Safe from any thread; only the first call counts. */
void vm_request_stop(struct vm *vm, enum vm_outcome outcome, int status,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Place a virtio device on the next virtio-mmio slot: its MMIO page, an
 * irqfd for its interrupt, a KVM ioeventfd for each queue's kick (kick_fds[q],
 * -1 for none: such kicks reach ops->queue_notify on the vCPU thread), and
 * its virtio_mmio.device= kernel argument. The VM owns the device from the
 * call on: destroy(dev) runs in vm_destroy, or at once when this fails.
 * Only during vm_prepare (before vCPUs run).
 */
int vm_add_virtio(struct vm *vm, struct virtio_dev *dev,
		  void (*destroy)(struct virtio_dev *dev), const int *kick_fds,
		  unsigned int nr_kicks, char *why, size_t why_len) __must_check;

/* Print the --timings line on stderr. */
void vm_print_timings(const struct vm *vm, uint64_t t_exit);

void vm_destroy(struct vm *vm);

#endif
