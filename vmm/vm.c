/* SPDX-License-Identifier: MIT */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/virtio_mmio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "boot/layout.h"
#include "boot/mptable.h"
#include "boot/x86_64_cpu.h"
#include "cpio.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/fs.h"
#include "fuse_pt.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "initramfs.h"
#include "kcache.h"
#include "log.h"
#include "sandbox.h"
#include "jobspec.h"
#include "hostterm.h"
#include "vcpu.h"

/* KVM needs three pages for the TSS and one for the identity map (VMX
 * only), somewhere the guest never uses: just below 4 GiB, in the hole. */
#define KVM_TSS_ADDR 0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

#define COM1_PORT 0x3f8
#define COM1_IRQ 4
#define COM2_PORT 0x2f8
#define COM2_IRQ 3


void vm_request_stop(struct vm *vm, enum vm_outcome outcome, int status,
		     const char *fmt, ...)
{
	int expected = VM_RUNNING;
	uint64_t one = 1;
	va_list ap;

	if (!__atomic_compare_exchange_n(&vm->outcome, &expected, -1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	vm->status = status;
	vm->t_stopped = now_ns();
	va_start(ap, fmt);
	vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
	va_end(ap);
	/* Publish the outcome last: readers see status and reason with it. */
	__atomic_store_n(&vm->outcome, (int)outcome, __ATOMIC_RELEASE);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		log_debug("stop eventfd: %s", strerror(errno));
}

/* ---- device glue -------------------------------------------------------- */

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a closed reader loses the output, not the VM */
		buf += n;
		len -= (size_t)n;
	}
}

static void console_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = container_of(opaque, struct vm, com1);

	if (vm->cfg->console)
		write_all(STDERR_FILENO, buf, len);
	if (vm->console_log_fd >= 0)
		write_all(vm->console_log_fd, buf, len);
}

static void stdio_out(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	write_all(STDOUT_FILENO, buf, len);
}

static void set_irq_line(struct vm *vm, unsigned int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		log_debug("KVM_IRQ_LINE %u: %s", irq, strerror(errno));
}

static void com1_irq(void *opaque, int level)
{
	set_irq_line(container_of(opaque, struct vm, com1), COM1_IRQ, level);
}

static void com2_irq(void *opaque, int level)
{
	set_irq_line(container_of(opaque, struct vm, com2), COM2_IRQ, level);
}

static void guest_exit(void *opaque, int status)
{
	vm_request_stop(opaque, VM_EXITED, status, "exited");
}

static void virtio_irq(struct virtio_dev *dev)
{
	const struct vm_virtio *slot = dev->irq_opaque;
	uint64_t one = 1;

	/* An eventfd write cannot block: the counter saturates long after. */
	if (write(slot->irq_fd, &one, sizeof(one)) < 0)
		log_debug("%s irqfd: %s", dev->ops->name, strerror(errno));
}

int vm_add_virtio(struct vm *vm, struct virtio_dev *dev,
		  void (*destroy)(struct virtio_dev *dev), const int *kick_fds,
		  unsigned int nr_kicks, char *why, size_t len)
{
	struct vm_virtio *slot;
	struct kvm_irqfd irqfd = { 0 };
	struct bus_range range;
	int ret;

	if (vm->nr_virtio == VM_MAX_VIRTIO) {
		ret = why_fail(why, len, -ENOSPC, "%s: more than %d virtio devices",
			       dev->ops->name, VM_MAX_VIRTIO);
		destroy(dev);
		return ret;
	}
	slot = &vm->virtio[vm->nr_virtio];
	*slot = (struct vm_virtio){
		.base = LAYOUT_VIRTIO_MMIO_BASE + vm->nr_virtio * (uint64_t)VMMIO_SIZE,
		.gsi = VM_VIRTIO_FIRST_GSI + vm->nr_virtio,
		.irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
	};
	if (slot->irq_fd < 0) {
		ret = why_fail(why, len, -errno, "%s: eventfd: %s", dev->ops->name,
			       strerror(errno));
		destroy(dev);
		return ret;
	}
	irqfd.fd = (uint32_t)slot->irq_fd;
	irqfd.gsi = slot->gsi;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		ret = why_fail(why, len, -errno, "%s: KVM_IRQFD: %s", dev->ops->name,
			   strerror(errno));
		goto err_close;
	}
	for (unsigned int q = 0; q < nr_kicks; q++) {
		struct kvm_ioeventfd io = {
			.datamatch = q,
			.addr = slot->base + VIRTIO_MMIO_QUEUE_NOTIFY,
			.len = 4,
			.fd = kick_fds[q],
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};

		if (kick_fds[q] < 0)
			continue;
		if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
			ret = why_fail(why, len, -errno, "%s: KVM_IOEVENTFD: %s",
				   dev->ops->name, strerror(errno));
			goto err_close;
		}
	}
	range = (struct bus_range){ .base = slot->base, .len = VMMIO_SIZE,
		.name = dev->ops->name, .opaque = dev,
		.read = vmmio_read, .write = vmmio_write };
	ret = bus_add(&vm->mmio, &range);
	if (ret) {
		why_fail(why, len, ret, "%s: cannot place it on the MMIO bus", dev->ops->name);
		goto err_close;
	}
	dev->signal_irq = virtio_irq;
	dev->irq_opaque = slot;
	slot->dev = dev;
	slot->destroy = destroy;
	vm->nr_virtio++;
	return 0;

err_close:
	/* Closing the eventfd also drops the irqfd and ioeventfds using it. */
	close(slot->irq_fd);
	slot->irq_fd = -1;
	destroy(dev);
	return ret;
}

/* ---- preparation -------------------------------------------------------- */

static int setup_memory(struct vm *vm, char *why, size_t len)
{
	uint64_t size = vm->cfg->mem_size;
	struct gm_region regions[2];
	unsigned int nr = 1;
	int ret;

	/* RAM up to the MMIO hole, the rest above 4 GiB. */
	regions[0] = (struct gm_region){ .gpa = 0,
		.size = size < LAYOUT_MMIO_HOLE ? size : LAYOUT_MMIO_HOLE };
	if (size > LAYOUT_MMIO_HOLE)
		regions[nr++] = (struct gm_region){ .gpa = LAYOUT_MMIO_HOLE_END,
			.size = size - LAYOUT_MMIO_HOLE };
	if (vm->cfg->hugepages && size % (2u << 20))
		return why_fail(why, len, -EINVAL,
				"--hugepages: --memory must be a multiple of 2M");
	ret = gm_create_backed(&vm->mem, regions, nr, vm->cfg->hugepages);
	if (ret && vm->cfg->hugepages)
		return why_fail(why, len, ret,
				"--hugepages: cannot reserve %llu huge pages of 2 MiB (%s); "
				"see vm.nr_hugepages and HugePages_Free in /proc/meminfo",
				(unsigned long long)(size >> 21), strerror(-ret));
	if (ret)
		return why_fail(why, len, ret, "cannot allocate %llu MiB of guest memory: %s",
			    (unsigned long long)(size >> 20), strerror(-ret));
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct gm_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region kr = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
			return why_fail(why, len, -errno, "KVM_SET_USER_MEMORY_REGION: %s",
				    strerror(errno));
	}
	return 0;
}

/* The terminal whose size the guest's console gets with -t: stdin's, else
 * stdout's. */
static int host_winsize(uint16_t *cols, uint16_t *rows)
{
	if (hostterm_winsize(STDIN_FILENO, cols, rows) == 0)
		return 0;
	return hostterm_winsize(STDOUT_FILENO, cols, rows);
}

/* One of cocoon's stdio fds for the console; -1 when it cannot be had (the
 * stream's output is then dropped, or there is no input). */
static int console_host_fd(int fd, bool for_write)
{
	int ret = vcon_open_host_fd(fd, for_write);

	if (ret < 0) {
		log_debug("virtio-console: cocoon's fd %d: %s", fd, strerror(-ret));
		return -1;
	}
	return ret;
}

/*
 * The workload's stdio: a multiport virtio-console (guest-init/abi.h).
 * cocoon's stdin is read only with -i or -t; otherwise the guest's stdin
 * port stays closed and reads as EOF. One eventfd takes every queue's kick.
 */
static int add_console(struct vm *vm, char *why, size_t len)
{
	const struct vm_config *cfg = vm->cfg;
	struct vcon_host host = { .in_fd = -1, .tty = cfg->tty };
	int kicks[VCON_NR_QUEUES];
	struct vcon *con;
	int ret;

	if (cfg->interactive || cfg->tty)
		host.in_fd = console_host_fd(STDIN_FILENO, false);
	host.out_fd = console_host_fd(STDOUT_FILENO, true);
	host.err_fd = console_host_fd(STDERR_FILENO, true);
	if (cfg->tty && host_winsize(&host.cols, &host.rows))
		host.cols = host.rows = 0; /* not a terminal: no size */
	ret = vcon_create(&vm->mem, &vm->loop, &host, &con);
	if (ret)
		return why_fail(why, len, ret, "virtio-console: %s", strerror(-ret));
	for (unsigned int q = 0; q < VCON_NR_QUEUES; q++)
		kicks[q] = vcon_kick_fd(con);
	ret = vm_add_virtio(vm, vcon_dev(con), vcon_destroy, kicks, VCON_NR_QUEUES,
			    why, len);
	if (ret)
		return ret;
	vm->con = con;
	return 0;
}

/* virtio-rng: seeds the guest's CRNG, so getrandom() never waits at boot. */
static int add_rng(struct vm *vm, char *why, size_t len)
{
	struct vrng *rng;
	int kick, ret;

	ret = vrng_create(&vm->mem, &vm->loop, &rng);
	if (ret)
		return why_fail(why, len, ret, "virtio-rng: %s", strerror(-ret));
	if (rl_config_enabled(&vm->cfg->rng_rl)) {
		ret = vrng_set_ratelimit(rng, &vm->cfg->rng_rl);
		if (ret) {
			vrng_destroy(vrng_dev(rng));
			return why_fail(why, len, ret, "--rng: rate limiter: %s", strerror(-ret));
		}
	}
	kick = vrng_kick_fd(rng);
	return vm_add_virtio(vm, vrng_dev(rng), vrng_destroy, &kick, 1, why, len);
}

/*
 * virtio-net on a tap (hostnet.h settles the tap and the addresses), and
 * the forwarder for published ports, which listens now so that a port in
 * use fails the run before the guest boots.
 */
static int add_net(struct vm *vm, char *why, size_t len)
{
	const struct vm_config *cfg = vm->cfg;
	struct vnet *net;
	const int *kicks;
	unsigned int nr;
	char reason[200];
	int ret;

	ret = hostnet_setup(&vm->net, &cfg->net, cfg->dns, cfg->nr_dns, why, len);
	if (ret)
		return ret;
	/* An engine's namespace with no interface to take over (only lo):
	 * the VM gets no network device, as runc's container gets only lo. */
	if (vm->net.no_device)
		return 0;
	if (cfg->nr_ports) {
		ret = portfwd_create(&vm->ports, cfg->ports, cfg->nr_ports,
				     vm->net.guest_ip, why, len);
		if (ret)
			return ret;
	}
	ret = vnet_create(&net, &vm->mem, &vm->loop, vm->net.tap_fd, vm->net.mac,
			  rl_config_enabled(&cfg->net.rl) ? &cfg->net.rl : NULL, reason,
			  sizeof(reason));
	if (ret)
		return why_fail(why, len, ret, "--net: %s", reason);
	vm->net.tap_fd = -1; /* the device owns it now */
	kicks = vnet_kick_fds(net, &nr);
	return vm_add_virtio(vm, vnet_dev(net), vnet_destroy, kicks, nr, why, len);
}

/* virtio-vsock, with its host side on Unix sockets (vsock.h). */
static int add_vsock(struct vm *vm, char *why, size_t len)
{
	const struct vm_config *cfg = vm->cfg;
	struct vsock *vs;
	const int *kicks;
	unsigned int nr;
	char reason[200];
	int ret;

	ret = vsock_create(&vs, &vm->mem, &vm->loop, cfg->vsock_cid, cfg->vsock_uds,
			   reason, sizeof(reason));
	if (ret)
		return why_fail(why, len, ret, "--vsock-uds %s: %s", cfg->vsock_uds, reason);
	kicks = vsock_kick_fds(vs, &nr);
	return vm_add_virtio(vm, vsock_dev(vs), vsock_destroy, kicks, nr, why, len);
}

/* One virtio-fs share of host_dir with `tag`, showing only `names` of its
 * root when nr_names > 0 (vfs_create); errors name the option. */
static int add_share(struct vm *vm, const char *opt, const char *host_dir,
		     const char *const *names, unsigned int nr_names, const char *tag,
		     bool read_only, char *why, size_t len)
{
	char reason[200];
	struct vfs *fs;
	const int *kicks;
	unsigned int nr;
	int ret;

	ret = vfs_create(&fs, &vm->mem, host_dir, names, nr_names, tag, read_only, reason,
			 sizeof(reason));
	if (ret)
		return why_fail(why, len, ret, "%s %s: %s", opt, host_dir, reason);
	kicks = vfs_kick_fds(fs, &nr);
	ret = vm_add_virtio(vm, vfs_dev(fs), vfs_destroy, kicks, nr, why, len);
	if (ret)
		return ret;
	vm->fs[vm->nr_fs++] = fs;
	return 0;
}

/* The root directory (--rootfs-dir) and the -v volumes, tagged as
 * guest-init/abi.h says. A root that is not --rootfs-rw is shared
 * read-only: the guest writes into its overlay, and the host refuses
 * writes whatever the guest tries. */
static int setup_shares(struct vm *vm, char *why, size_t len)
{
	const struct vm_config *cfg = vm->cfg;
	struct rlimit rl;
	char tag[40];
	int ret;

	if (cfg->rootfs_dir) {
		ret = add_share(vm, "--rootfs-dir", cfg->rootfs_dir, NULL, 0,
				COCOON_ROOT_TAG, !cfg->rootfs_rw, why, len);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < cfg->nr_volumes; i++) {
		snprintf(tag, sizeof(tag), COCOON_VOLUME_TAG "%u", i);
		ret = add_share(vm, "-v", cfg->volumes[i].host, cfg->volumes[i].names,
				cfg->volumes[i].nr_names, tag, cfg->volumes[i].read_only,
				why, len);
		if (ret)
			return ret;
	}
	/*
	 * Take the hard limit on open files as our soft one: a share holds an
	 * fd per file the guest keeps looked up or open, and the usual soft
	 * limit of 1024 would make the guest hit a wall the user never asked
	 * for. The guest's workload is unaffected.
	 */
	if (vm->nr_fs && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* The fd cap is per VM: the shares split one budget, so that more
	 * shares cannot make the guest hold more of the host's fds. */
	if (vm->nr_fs > 1) {
		uint64_t budget = FPT_MAX_FDS;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur < budget + FPT_FD_MARGIN)
			budget = rl.rlim_cur > FPT_FD_MARGIN ? rl.rlim_cur - FPT_FD_MARGIN : 0;
		for (unsigned int i = 0; i < vm->nr_fs; i++)
			vfs_set_max_fds(vm->fs[i], (unsigned int)(budget / vm->nr_fs));
	}
	return 0;
}

static int setup_devices(struct vm *vm, char *why, size_t len)
{
	const struct bus_range ranges[] = {
		{ .base = COM1_PORT, .len = SERIAL_NR_REGS, .name = "ttyS0",
		  .opaque = &vm->com1, .read = serial_read, .write = serial_write },
		{ .base = COM2_PORT, .len = SERIAL_NR_REGS, .name = "ttyS1",
		  .opaque = &vm->com2, .read = serial_read, .write = serial_write },
		{ .base = COCOON_PORT_EXIT, .len = 4, .name = "guestctl",
		  .opaque = &vm->ctl, .read = guestctl_read, .write = guestctl_write },
	};
	int ret;

	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	serial_init(&vm->com1, console_out, com1_irq, &vm->com1);
	serial_init(&vm->com2, stdio_out, com2_irq, &vm->com2);
	guestctl_init(&vm->ctl, guest_exit, vm);
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		ret = bus_add(&vm->pio, &ranges[i]);
		if (ret)
			return why_fail(why, len, ret, "cannot place device %s: %s",
				    ranges[i].name, strerror(-ret));
	}
	/* The first virtio devices, in this order: console, rng (block
	 * devices come after them). */
	ret = add_console(vm, why, len);
	if (!ret)
		ret = add_rng(vm, why, len);
	if (!ret && vm->cfg->net.enabled)
		ret = add_net(vm, why, len);
	if (!ret && vm->cfg->vsock_uds)
		ret = add_vsock(vm, why, len);
	if (!ret)
		ret = setup_shares(vm, why, len);
	return ret;
}

/* One virtio-blk disk; errors name the option and the file. */
static int add_disk(struct vm *vm, const char *opt, const char *path, bool read_only,
		    const struct rl_config *rl, char *why, size_t len)
{
	char reason[200];
	struct vblk *blk;
	const int *kicks;
	unsigned int nr;
	int ret;

	ret = vblk_create(&blk, &vm->mem, &vm->loop, path, read_only, reason,
			  sizeof(reason));
	if (ret)
		return why_fail(why, len, ret, "%s %s: %s", opt, path, reason);
	if (rl && rl_config_enabled(rl)) {
		ret = vblk_set_ratelimit(blk, rl);
		if (ret) {
			vblk_destroy(vblk_dev(blk));
			return why_fail(why, len, ret, "%s %s: rate limiter: %s", opt, path,
					strerror(-ret));
		}
	}
	kicks = vblk_kick_fds(blk, &nr);
	ret = vm_add_virtio(vm, vblk_dev(blk), vblk_destroy, kicks, nr, reason,
			    sizeof(reason));
	if (ret)
		return why_fail(why, len, ret, "%s %s: %s", opt, path, reason);
	return 0;
}

/*
 * Block devices come after every other virtio device, in this order: the
 * root filesystem is the first virtio-blk disk (/dev/vda, as the job spec
 * says), then the --disk images (vdb, vdc, ...). Linux names the disks in
 * the order of their virtio_mmio.device= arguments.
 */
static int setup_disks(struct vm *vm, char *why, size_t len)
{
	const struct vm_config *cfg = vm->cfg;
	int ret;

	if (cfg->rootfs) {
		ret = add_disk(vm, "--rootfs", cfg->rootfs, !cfg->rootfs_rw, NULL, why, len);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		ret = add_disk(vm, "--disk", cfg->disks[i].path, cfg->disks[i].read_only,
			       &cfg->disks[i].rl, why, len);
		if (ret)
			return ret;
	}
	return 0;
}

static int build_cmdline(const struct vm *vm, char *buf, size_t size)
{
	const struct vm_config *cfg = vm->cfg;
	size_t used;
	int n;

	/*
	 * ttyS0 is the console; only two UARTs exist. reboot=t turns any
	 * reboot into a triple fault (KVM_EXIT_SHUTDOWN); panic=-1 reboots at
	 * once on panic, so a dead guest never hangs. The console is quiet
	 * unless shown: every byte on it is a VM exit.
	 */
	n = snprintf(buf, size,
		     "console=ttyS0 8250.nr_uarts=2 reboot=t panic=-1 rdinit=/init%s",
		     (cfg->console || cfg->console_log) ? "" : " quiet");
	if (n < 0 || (size_t)n >= size)
		return -E2BIG;
	used = (size_t)n;
	/* Each virtio-mmio device: "virtio_mmio.device=<size>@<base>:<irq>". */
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		n = snprintf(buf + used, size - used, " virtio_mmio.device=4K@%#llx:%u",
			     (unsigned long long)vm->virtio[i].base, vm->virtio[i].gsi);
		if (n < 0 || (size_t)n >= size - used)
			return -E2BIG;
		used += (size_t)n;
	}
	/* The user's arguments last, so that they win. */
	if (cfg->kernel_append) {
		n = snprintf(buf + used, size - used, " %s", cfg->kernel_append);
		if (n < 0 || (size_t)n >= size - used)
			return -E2BIG;
	}
	return 0;
}

/* Map the kernel file read-only. Done first, so that a wrong path is
 * reported before anything about KVM. */
static int map_kernel(struct vm *vm, char *why, size_t len)
{
	const char *path = vm->cfg->kernel_path;
	const char *copy;
	bool mappable = false;
	char magic[4];
	struct stat st;
	void *map;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return why_fail(why, len, -errno, "kernel %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return why_fail(why, len, -ENOEXEC, "kernel %s: not a regular, non-empty file",
			    path);
	}
	/*
	 * The pages guest memory maps come from cocoon's private copy of the
	 * file (kcache.h says why); parse that same copy. Without one (no
	 * writable $COCOON_HOME, or COCOON_KERNEL_COPY=1) the kernel is copied
	 * into guest memory instead.
	 */
	copy = getenv("COCOON_KERNEL_COPY");
	/* Only a vmlinux (ELF) maps: a bzImage's payload starts at a
	 * 512-byte sector boundary, not congruent with its load address. */
	if ((!copy || strcmp(copy, "1") != 0) && pread(fd, magic, 4, 0) == 4 &&
	    memcmp(magic, "\177ELF", 4) == 0) {
		int kfd = kc_open(config_home(), fd, &st);

		if (kfd >= 0) {
			close(fd);
			fd = kfd;
			mappable = true;
		} else {
			log_debug("kernel %s: no private copy to map (%s); copying it",
				  path, strerror(-kfd));
		}
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return why_fail(why, len, err, "kernel %s: %s", path, strerror(-err));
	}
	vm->kernel = map;
	vm->kernel_len = (size_t)st.st_size;
	if (mappable) {
		vm->kernel_fd = fd;
	} else {
		close(fd);
		vm->kernel_fd = -1;
	}
	return 0;
}

static void unmap_kernel(struct vm *vm)
{
	if (vm->kernel)
		munmap((void *)vm->kernel, vm->kernel_len);
	vm->kernel = NULL;
	if (vm->kernel_fd >= 0)
		close(vm->kernel_fd);
	vm->kernel_fd = -1;
}

static int load_kernel(struct vm *vm, char *why, size_t len)
{
	const char *path = vm->cfg->kernel_path;
	struct iovec initrd[2];
	struct cpio_buf spec;
	struct boot_err berr;
	char cmdline[X86_CMDLINE_MAX * 2];
	int ret;

	cpio_init(&spec);
	if (vm->net.guest_addr_set) {
		struct jobspec_net net = {
			.addr = vm->net.guest_ip,
			.prefix = vm->net.prefix,
			.gw = vm->net.gw,
			.nr_dns = vm->net.nr_dns,
		};

		for (unsigned int i = 0; i < net.nr_dns; i++)
			net.dns[i] = vm->net.dns[i];
		ret = jobspec_build_cpio(vm->cfg, &net, &spec);
	} else {
		ret = jobspec_build_cpio(vm->cfg, NULL, &spec);
	}
	if (ret) {
		why_fail(why, len, ret, ret == -E2BIG ?
		     "the command and environment exceed the 1 MiB job spec limit" :
		     "cannot build the job spec: %s", strerror(-ret));
		goto out;
	}
	initrd[0] = (struct iovec){ .iov_base = (void *)initramfs_base(),
		.iov_len = initramfs_base_size() };
	initrd[1] = (struct iovec){ .iov_base = spec.data, .iov_len = spec.len };
	ret = build_cmdline(vm, cmdline, sizeof(cmdline));
	if (ret) {
		why_fail(why, len, ret, "--kernel-append: kernel command line too long");
		goto out;
	}
	ret = x86_boot_load(&vm->mem, vm->kernel, vm->kernel_len, vm->kernel_fd, initrd, 2, cmdline,
			    &vm->boot, &berr);
	if (ret)
		why_fail(why, len, ret, "kernel %s: %s", path, berr.msg);
	else if ((ret = mptable_write(&vm->mem, vm->cfg->cpus)) != 0)
		why_fail(why, len, ret, "cannot write the MP table: %s", strerror(-ret));
out:
	cpio_free(&spec);
	unmap_kernel(vm); /* its bytes are in guest memory now */
	return ret;
}

static int setup_vcpus(struct vm *vm, char *why, size_t len)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int tsc_deadline = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION,
				 KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	int ret = x86_cpuid_supported(vm->kvm.fd, &cpuid);

	if (ret)
		return why_fail(why, len, ret, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
	for (unsigned int i = 0; i < vm->cfg->cpus; i++) {
		ret = vcpu_create(vm, &vm->vcpus[i], i);
		if (ret) {
			why_fail(why, len, ret, "KVM_CREATE_VCPU %u: %s", i, strerror(-ret));
			break;
		}
		vm->nr_vcpus = i + 1;
		ret = x86_vcpu_init(vm->vcpus[i].fd, cpuid, i, vm->cfg->cpus,
				    tsc_deadline, &vm->boot);
		if (ret) {
			why_fail(why, len, ret, "cannot set up vCPU %u: %s", i, strerror(-ret));
			break;
		}
	}
	free(cpuid);
	return ret;
}

int vm_prepare(struct vm *vm, const struct vm_config *cfg, uint64_t t_start,
	       char *why, size_t len)
{
	struct kvm_pit_config pit = { .flags = 0 };
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->t_start = t_start;
	vm->kvm.fd = vm->vm_fd = vm->stop_fd = vm->console_log_fd = vm->kernel_fd = -1;
	vm->mem.fd = -1;
	vm->loop.epfd = vm->loop.wake_fd = -1;
	vm->net.tap_fd = -1;

	ret = map_kernel(vm, why, len);
	if (ret)
		return ret;
	if (kvm_known_unusable(why, len))
		return -ENOTSUP;
	ret = kvm_open(&vm->kvm, cfg->kvm_path, why, len);
	if (ret)
		return ret;
	if (cfg->console_log) {
		vm->console_log_fd = open(cfg->console_log,
					  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (vm->console_log_fd < 0)
			return why_fail(why, len, -errno, "--console-log %s: %s",
				    cfg->console_log, strerror(errno));
	}
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return why_fail(why, len, -errno, "eventfd: %s", strerror(errno));
	ret = evloop_init(&vm->loop);
	if (ret)
		return why_fail(why, len, ret, "event loop: %s", strerror(-ret));
	vm->vm_fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return why_fail(why, len, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		return why_fail(why, len, -errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	{
		uint64_t idmap = KVM_IDENTITY_MAP_ADDR;

		/* Only VMX uses it; others may refuse, which is harmless. */
		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
			log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	}
	/*
	 * Memory before the irqchip, as Firecracker orders it: once the
	 * in-kernel PIC, IOAPIC and PIT exist, each memslot update waits
	 * longer (measured on the PVM host: 0.1 ms before, 3-10 ms after).
	 */
	ret = setup_memory(vm, why, len);
	if (ret)
		return ret;
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return why_fail(why, len, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return why_fail(why, len, -errno, "KVM_CREATE_PIT2: %s", strerror(errno));

	ret = setup_devices(vm, why, len);
	if (!ret)
		ret = setup_disks(vm, why, len);
	if (!ret)
		ret = load_kernel(vm, why, len);
	if (!ret)
		ret = setup_vcpus(vm, why, len);
	return ret;
}

/* ---- running ------------------------------------------------------------ */

static int add_fd(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void stop_all(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_stop(&vm->vcpus[i]);
}

void vm_signal_set(const struct vm_config *cfg, sigset_t *set)
{
	/* Not SIGUSR1 (VCPU_KICK_SIGNAL), SIGPIPE (ignored), SIGCHLD, nor the
	 * synchronous ones (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT). */
	static const int more[] = {SIGQUIT, SIGUSR2, SIGALRM, SIGCONT, SIGTSTP, SIGTTIN,
				   SIGTTOU, SIGURG,  SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF,
				   SIGIO,   SIGPWR};

	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGWINCH);
	if (!cfg->signal_passthrough)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(more); i++)
		sigaddset(set, more[i]);
	sigaddset(set, VM_SIGNAL_RELAY);
}

/*
 * SIGINT, SIGTERM, SIGHUP, docker-like: each is forwarded to the workload
 * ("signal N" on the console's control port, which guest-init reads); the
 * first also starts the stop timer. A second SIGINT (^C again) stops the VM
 * at once, as does any signal without a console or with --stop-timeout 0;
 * the status is then 128 + the first signal. SIGWINCH: the terminal's new
 * size for the guest's console (-t).
 */
static void on_signal(struct vm *vm, int signo, int *first, int stop_tfd)
{
	const unsigned int timeout = vm->cfg->stop_timeout_s;
	const struct itimerspec stop = { .it_value = { .tv_sec = (time_t)timeout } };
	uint16_t cols, rows;

	if (signo == SIGWINCH) {
		if (vm->con && vm->cfg->tty && host_winsize(&cols, &rows) == 0)
			vcon_set_winsize(vm->con, cols, rows);
		return;
	}
	if (vm->cfg->signal_passthrough) {
		/* OCI: the engine decides when to SIGKILL us. */
		if (!vm->con || vcon_send_signal(vm->con, signo))
			log_debug("signal %d not forwarded: the guest does not read its "
				  "control port", signo);
		return;
	}
	if (!*first) {
		*first = signo;
		if (!vm->con || !timeout || timerfd_settime(stop_tfd, 0, &stop, NULL) < 0)
			goto stop;
	} else if (signo == SIGINT) {
		goto stop;
	}
	if (vcon_send_signal(vm->con, signo))
		log_debug("signal %d not forwarded: the guest does not read its "
			  "control port", signo);
	return;
stop:
	vm_request_stop(vm, VM_SIGNALED, 128 + *first, "stopped by signal %d", *first);
}

/* The workload exited; what it wrote may still be in the console's rings.
 * Write it out, unless a signal (not SIGWINCH) says not to wait. */
static void drain_console(struct vm *vm, int sfd)
{
	struct signalfd_siginfo si;

	while (vcon_drain(vm->con, sfd) == -EINTR) {
		if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGWINCH)
			return;
	}
}

enum vm_outcome vm_go(struct vm *vm)
{
	struct itimerspec watchdog = {
		.it_value = { .tv_sec = vm->cfg->boot_timeout_ms / 1000,
			      .tv_nsec = (long)(vm->cfg->boot_timeout_ms % 1000) * 1000000 },
	};
	int ep = -1, tfd = -1, sfd = -1, stop_tfd = -1, first_signal = 0;
	sigset_t sigs;

	vm_signal_set(vm->cfg, &sigs);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	stop_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || stop_tfd < 0 || ep < 0 || add_fd(ep, vm->stop_fd) ||
	    add_fd(ep, sfd) || add_fd(ep, tfd) || add_fd(ep, stop_tfd) ||
	    timerfd_settime(tfd, 0, &watchdog, NULL) < 0) {
		vm_request_stop(vm, VM_FAILED, 125, "event loop set-up: %s",
				strerror(errno));
		goto out;
	}
	if (evloop_start(&vm->loop)) {
		vm_request_stop(vm, VM_FAILED, 125, "cannot start the event loop");
		goto out;
	}
	for (unsigned int i = 0; i < vm->nr_fs; i++) {
		int ret = vfs_start(vm->fs[i]);

		if (ret) {
			vm_request_stop(vm, VM_FAILED, 125, "cannot start the virtio-fs server: %s",
					strerror(-ret));
			goto out;
		}
	}
	if (vm->ports && portfwd_start(vm->ports)) {
		vm_request_stop(vm, VM_FAILED, 125, "cannot start the published-port forwarder");
		goto out;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_start(&vm->vcpus[i]);

		if (ret) {
			vm_request_stop(vm, VM_FAILED, 125, "cannot start vCPU %u: %s",
					i, strerror(-ret));
			goto out;
		}
	}
	/* Every thread is started: this one needs no more clone/mmap(stack). */
	sb_thread_enter(SB_MAIN);

	while (__atomic_load_n(&vm->outcome, __ATOMIC_ACQUIRE) == VM_RUNNING) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, ARRAY_SIZE(evs), -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			vm_request_stop(vm, VM_FAILED, 125, "epoll_wait: %s",
					strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if ((int)si.ssi_signo == VM_SIGNAL_RELAY) {
					/* Only 1..31 and real-time signals; never
					 * the relay itself. */
					if (si.ssi_int <= 0 || si.ssi_int >= SIGRTMIN + 4 ||
					    si.ssi_int == SIGKILL || si.ssi_int == SIGSTOP)
						continue;
					si.ssi_signo = (uint32_t)si.ssi_int;
				}
				on_signal(vm, (int)si.ssi_signo, &first_signal, stop_tfd);
			} else if (fd == stop_tfd) {
				uint64_t ticks;

				if (read(stop_tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				vm_request_stop(vm, VM_SIGNALED, 128 + first_signal,
						"the workload did not stop within %u s of signal %d",
						vm->cfg->stop_timeout_s, first_signal);
			} else if (fd == tfd) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				if (!__atomic_load_n(&vm->ctl.mark_ns[COCOON_MARK_INIT_START],
						     __ATOMIC_ACQUIRE))
					vm_request_stop(vm, VM_WATCHDOG, 125,
							"the guest made no progress in %u s: this /dev/kvm "
							"may be unable to run a standard guest (PVM, or nested "
							"virtualization without VMX/SVM). Use a host with "
							"VMX/SVM, or run through tests/rig/kvm-exec; "
							"--console shows the guest console, --boot-timeout "
							"raises the limit",
							vm->cfg->boot_timeout_ms / 1000);
			}
			/* stop_fd: the loop condition sees the outcome. */
		}
	}
out:
	stop_all(vm);
	evloop_stop(&vm->loop);
	if (vm->con && sfd >= 0 &&
	    __atomic_load_n(&vm->outcome, __ATOMIC_ACQUIRE) == VM_EXITED)
		drain_console(vm, sfd);
	if (ep >= 0)
		close(ep);
	if (tfd >= 0)
		close(tfd);
	if (stop_tfd >= 0)
		close(stop_tfd);
	if (sfd >= 0)
		close(sfd);
	return (enum vm_outcome)__atomic_load_n(&vm->outcome, __ATOMIC_ACQUIRE);
}

void vm_print_timings(const struct vm *vm, uint64_t t_exit)
{
	const uint64_t *m = vm->ctl.mark_ns;
#define US(t) ((t) ? (long long)(((t) - vm->t_start) / 1000) : -1ll)
	fprintf(stderr,
		"cocoon: timings (us since process start; -1 = not reached): "
		"first_kvm_run=%lld init_start=%lld workload_exec=%lld "
		"workload_exit=%lld cocoon_exit=%lld start_monotonic_ns=%llu\n",
		US(vm->t_first_run), US(m[COCOON_MARK_INIT_START]),
		US(m[COCOON_MARK_WORKLOAD_EXEC]), US(m[COCOON_MARK_WORKLOAD_EXIT]),
		US(t_exit), (unsigned long long)vm->t_start);
#undef US
}

void vm_destroy(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	vm->nr_vcpus = 0;
	/* Device threads stop before devices go, devices before memory. */
	evloop_destroy(&vm->loop);
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio *slot = &vm->virtio[i];

		if (slot->destroy)
			slot->destroy(slot->dev);
		if (slot->irq_fd >= 0)
			close(slot->irq_fd);
	}
	vm->nr_virtio = 0;
	vm->nr_fs = 0;
	vm->con = NULL;
	portfwd_destroy(vm->ports);
	vm->ports = NULL;
	hostnet_close(&vm->net);
	gm_destroy(&vm->mem);
	unmap_kernel(vm);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->console_log_fd >= 0)
		close(vm->console_log_fd);
	kvm_close(&vm->kvm);
	vm->vm_fd = vm->stop_fd = vm->console_log_fd = -1;
}
