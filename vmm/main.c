/* SPDX-License-Identifier: MIT */
/*
 * cocoon: run a container's command in its own KVM microVM.
 *
 * The only file that exits. Exit statuses follow `docker run`: the
 * workload's own status, 125 when cocoon itself failed, 126/127 when the
 * command cannot be run or found, 128+N when it was killed by signal N.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "cpio.h"
#include "initramfs.h"
#include "jobspec.h"
#include "runtime.h"
#include "sandbox.h"
#include "log.h"
#include "hostterm.h"
#include "vcpu.h"
#include "vm.h"

#ifndef COCOON_VERSION
#define COCOON_VERSION "0.1.0"
#endif

#define EXIT_COCOON_FAILED 125

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cocoon run [OPTIONS] [--] [CMD [ARG...]]\n"
		"       cocoon run [OPTIONS] NAME[:TAG] [CMD [ARG...]]\n"
		"       cocoon image import|pull|ls|inspect|rm ...\n"
		"       cocoon initramfs [OPTIONS] [--] [CMD [ARG...]] > FILE\n"
		"       cocoon version\n"
		"\n"
		"Runs CMD in a new KVM microVM and exits with its status. NAME is an\n"
		"image in the store (cocoon image ls) when it contains ':' or '/' or is\n"
		"in the store; after \"--\" the command never names an image.\n"
		"\n"
		"options for run:\n"
		"  --kernel FILE         guest kernel (vmlinux or bzImage; default: the built one)\n"
		"  --kernel-append ARGS  extra kernel command-line arguments\n"
		"  --memory SIZE         guest RAM, e.g. 256M, 1G (default 128M; bare numbers are MiB)\n"
		"  --cpus N              vCPUs (1)\n"
		"  -e, --env KEY=VALUE   set an environment variable (KEY alone: take cocoon's)\n"
		"  -w, --workdir DIR     working directory in the guest (default /)\n"
		"  --hostname NAME       guest hostname\n"
		"  --rootfs IMAGE        root filesystem image, erofs or ext4, read-only under a\n"
		"                        tmpfs overlay (default: images/busybox.erofs next to\n"
		"                        cocoon, or $COCOON_ROOTFS)\n"
		"  --rootfs-rw           use the (ext4) root image read-write, no overlay\n"
		"  --rootfs-dir DIR      boot a host directory as the root (virtio-fs), under a\n"
		"                        tmpfs overlay; with --rootfs-rw, the directory itself\n"
		"  --read-only           the root filesystem read-only: writes fail (/tmp\n"
		"                        too; add --tmpfs /tmp)\n"
		"  -v, --volume HOSTDIR:GUESTDIR[:ro]  share a host directory (virtio-fs)\n"
		"  --tmpfs DIR[:OPTS]    a tmpfs at DIR, noexec,nosuid,nodev unless OPTS say\n"
		"                        otherwise (e.g. size=64m,mode=1777,exec,ro)\n"
		"  --entrypoint CMD      replace the image's Entrypoint (\"\": none) and Cmd\n"
		"  -u, --user USER[:GROUP]  run as this user (names from the image's /etc/passwd)\n"
		"  --group-add GID       add a supplementary group (a number) to the user's\n"
		"  --security-opt no-new-privileges  the command and its children cannot\n"
		"                        gain privileges (setuid bits, file capabilities)\n"
		"  --ulimit NAME=SOFT[:HARD]  resource limit, e.g. nofile=1024:4096\n"
		"  --disk FILE[:ro][,iops=N][,bw=RATE]  another virtio-blk disk, optionally\n"
		"                        rate-limited (RATE: bytes/s, e.g. 1M)\n"
		"  --net tap[:NAME][,ip=A.B.C.D/P][,gw=A.B.C.D][,mac=M][,bw=RATE][,pps=N]\n"
		"                        virtio-net on a new tap (or an existing one)\n"
		"  -p, --publish [IP:]HOSTPORT:GUESTPORT  forward a host TCP port to the guest\n"
		"  --dns A.B.C.D         nameserver for the guest (default: the host's)\n"
		"  --vsock-uds PATH      virtio-vsock; the host side is Unix sockets at PATH\n"
		"                        (\"CONNECT PORT\" to reach the guest) and PATH_PORT\n"
		"  --vsock-cid N         the guest's vsock CID (default 3)\n"
		"  --rng [iops=N][,bw=RATE]  rate-limit the entropy device\n"
		"  --console             show the guest kernel console on stderr\n"
		"  --console-log FILE    write the guest kernel console to FILE\n"
		"  --boot-timeout SECS   fail if guest-init has not started by then (default 10,\n"
		"                        or $COCOON_BOOT_TIMEOUT)\n"
		"  --timings             print boot phase timings on stderr\n"
		"  --hugepages           back guest RAM with 2 MiB huge pages (vm.nr_hugepages)\n"
		"  --log-level LEVEL     error (default), warn, info or debug\n"
		"  --uid UID, --gid GID  the VMM's own unprivileged ids, numbers or host names\n"
		"                        (default: nobody); see docs/security.md\n"
		"  --cgroup cpu=N,memory=SIZE  run the VMM in its own cgroup v2 with these limits\n"
		"  --no-sandbox          turn the VMM's sandbox off (debugging only)\n"
		"\n"
		"'initramfs' writes the initramfs that 'run' with the same arguments\n"
		"would boot (for running the same guest under another VMM, which must\n"
		"attach the root image as its first virtio-blk disk; --net ...,ip= sets\n"
		"up its network device the same way).\n"
		"\n"
		"exit status: the command's; 125 cocoon failed; 126 not executable;\n"
		"127 not found; 128+N killed by signal N\n");
}

#define NO_ROOTFS_MSG                                                                  \
	"no root filesystem image found: build the default one (cmake --build build "   \
	"--target busybox-image), or name one with --rootfs or $COCOON_ROOTFS"

/* Parse run-style options and fill in the default root image. 0, or -1
 * after logging the error. */
static int parse_job(struct vm_config *cfg, int argc, char **argv,
		     char *rootfs_buf, size_t rootfs_len)
{
	static struct image_run image; /* borrowed by cfg until exit */
	char why[512];

	config_defaults(cfg);
	if (config_parse_run(cfg, argc, argv, why, sizeof(why))) {
		log_error("%s", why);
		return -1;
	}
	if (image_prepare_run(cfg, &image, why, sizeof(why)) < 0) {
		log_error("%s", why);
		return -1;
	}
	if (!cfg->rootfs && !cfg->rootfs_dir) {
		cfg->rootfs = config_default_rootfs(rootfs_buf, rootfs_len);
		if (!cfg->rootfs) {
			log_error(NO_ROOTFS_MSG);
			return -1;
		}
	}
	return 0;
}

static int cmd_run(int argc, char **argv, uint64_t t_start)
{
	static struct vm_config cfg;
	static struct vm vm;
	char kernel_buf[PATH_MAX], rootfs_buf[PATH_MAX];
	char why[512];
	enum vm_outcome outcome;
	sigset_t block;
	uint64_t t_sb[3];
	int status;

	if (parse_job(&cfg, argc, argv, rootfs_buf, sizeof(rootfs_buf)))
		return EXIT_COCOON_FAILED;
	if (!cfg.kernel_path) {
		cfg.kernel_path = config_default_kernel(kernel_buf, sizeof(kernel_buf));
		if (!cfg.kernel_path) {
			log_error("no guest kernel found: build it (cmake --build build "
				  "--target kernel), or name one with --kernel or $COCOON_KERNEL");
			return EXIT_COCOON_FAILED;
		}
	}
	/* The event loop takes these through a signalfd; vCPU threads inherit
	 * the mask and unblock only their kick signal. */
	vm_signal_set(&cfg, &block);
	sigaddset(&block, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (vcpu_signals_init()) {
		log_error("cannot install signal handlers: %s", strerror(errno));
		return EXIT_COCOON_FAILED;
	}

	/* The sandbox (sandbox.h): cgroup and namespaces while this is the
	 * only thread, the rest once vm_prepare has opened every file. */
	t_sb[0] = now_ns();
	if (sb_cgroup_enter(&cfg, why, sizeof(why)) || sb_unshare(&cfg, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_COCOON_FAILED;
	}
	t_sb[1] = now_ns();
	if (vm_prepare(&vm, &cfg, t_start, why, sizeof(why))) {
		log_error("%s", why);
		vm_destroy(&vm);
		return EXIT_COCOON_FAILED;
	}
	t_sb[2] = now_ns();
	if (sb_apply(&cfg, vm.nr_fs > 0, why, sizeof(why))) {
		log_error("%s", why);
		vm_destroy(&vm);
		return EXIT_COCOON_FAILED;
	}
	log_info("sandbox set-up: %llu us before vm_prepare, %llu us after",
		 (unsigned long long)(t_sb[1] - t_sb[0]) / 1000,
		 (unsigned long long)(now_ns() - t_sb[2]) / 1000);
	/* -t: raw mode while the VM runs, so that keys reach the guest's
	 * terminal as typed (^C included). hostterm.h restores it on every way
	 * out; here first, before any message is printed. Without a terminal
	 * on stdin there is nothing to set. */
	if (cfg.tty) {
		int ret = hostterm_raw_enter(STDIN_FILENO);

		if (ret && ret != -ENOTTY)
			log_warn("-t: cannot put the terminal in raw mode: %s",
				 strerror(-ret));
	}
	outcome = vm_go(&vm);
	hostterm_restore();
	status = vm.status;
	switch (outcome) {
	case VM_EXITED:
	case VM_SIGNALED:
		break;
	case VM_GUEST_DIED:
		log_error("%s before reporting an exit status; run with --console to "
			  "see the guest's console", vm.reason);
		status = EXIT_COCOON_FAILED;
		break;
	default:
		log_error("%s", vm.reason);
		status = EXIT_COCOON_FAILED;
		break;
	}
	vm_destroy(&vm);
	if (cfg.timings)
		vm_print_timings(&vm, now_ns());
	return status;
}

/* `cocoon initramfs`: the exact initramfs `run` would boot, on stdout. */
static int cmd_initramfs(int argc, char **argv)
{
	static struct vm_config cfg;
	struct cpio_buf spec;
	char rootfs_buf[PATH_MAX];
	int ret;

	/* Same spec as `run`: the root is /dev/vda, which the other VMM must
	 * provide (the image itself is not part of the initramfs). */
	if (parse_job(&cfg, argc, argv, rootfs_buf, sizeof(rootfs_buf)))
		return EXIT_COCOON_FAILED;
	if (isatty(STDOUT_FILENO)) {
		log_error("initramfs: refusing to write a binary archive to a terminal");
		return EXIT_COCOON_FAILED;
	}
	cpio_init(&spec);
	/* With --net ...,ip=, the other VMM's network device gets the same
	 * address, route and nameservers (no tap is made here). */
	if (cfg.net.enabled && cfg.net.addr_set) {
		struct jobspec_net net = {
			.addr = cfg.net.addr,
			.prefix = cfg.net.prefix,
			.gw = cfg.net.gw_set ? cfg.net.gw : 0,
			.nr_dns = cfg.nr_dns,
		};

		for (unsigned int i = 0; i < cfg.nr_dns; i++)
			net.dns[i] = cfg.dns[i];
		ret = jobspec_build_cpio(&cfg, &net, &spec);
	} else {
		ret = jobspec_build_cpio(&cfg, NULL, &spec);
	}
	if (ret) {
		log_error("cannot build the job spec: %s", strerror(-ret));
		cpio_free(&spec);
		return EXIT_COCOON_FAILED;
	}
	if (fwrite(initramfs_base(), 1, initramfs_base_size(), stdout) !=
		    initramfs_base_size() ||
	    fwrite(spec.data, 1, spec.len, stdout) != spec.len || fflush(stdout)) {
		log_error("initramfs: write: %s", strerror(errno));
		ret = -EIO;
	}
	cpio_free(&spec);
	return ret ? EXIT_COCOON_FAILED : 0;
}

int main(int argc, char **argv)
{
	uint64_t t_start = now_ns();

	if (argc < 2) {
		usage(stderr);
		return EXIT_COCOON_FAILED;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1, t_start);
	/* The OCI runtime command line, as engines call runc. */
	if (rt_is_runtime_cli(argc, argv))
		return rt_main(argc, argv, t_start);
	if (strcmp(argv[1], "image") == 0)
		return image_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "initramfs") == 0)
		return cmd_initramfs(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("cocoon %s\n", COCOON_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	log_error("unknown command '%s' (try 'cocoon help')", argv[1]);
	return EXIT_COCOON_FAILED;
}
