/* SPDX-License-Identifier: MIT */
/*
 * The VMM's sandbox (sandbox.h, docs/security.md): namespaces and an empty
 * root, an unprivileged identity, rlimits, and one seccomp filter per
 * thread kind.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* ---- thread kinds and their allow-lists ----------------------------------- */

static const char *const thread_names[SB_NR_THREADS] = {
	[SB_EVLOOP] = "event-loop", [SB_MAIN] = "main",       [SB_VCPU] = "vcpu",
	[SB_VFS] = "virtio-fs",     [SB_PORTFWD] = "portfwd", [SB_AIO] = "aio",
};
/* The spellings COCOON_SANDBOX_SELFTEST takes. */
static const char *const selftest_names[SB_NR_THREADS] = {
	[SB_EVLOOP] = "evloop", [SB_MAIN] = "main",       [SB_VCPU] = "vcpu",
	[SB_VFS] = "vfs",       [SB_PORTFWD] = "portfwd", [SB_AIO] = "aio",
};

const char *sb_thread_name(enum sb_thread kind)
{
	return (unsigned int)kind < SB_NR_THREADS ? thread_names[kind] : "unknown";
}

#define K(kind) (1u << (kind))
#define K_ALL ((1u << SB_NR_THREADS) - 1)
#define K_IO (K(SB_EVLOOP) | K(SB_VCPU)) /* device back-ends run on both */

enum sb_arg {
	ARG_ANY = 0,
	ARG_NOEXEC,    /* mmap/mprotect: never PROT_EXEC (arg 2) */
	ARG_IOCTL,     /* arg 1 one of the kind's ioctls */
	ARG_FCNTL,     /* arg 1 one of fcntl_ops */
	ARG_SOCKET,    /* arg 0 one of the kind's address families */
	ARG_CLONE_FS,  /* unshare(CLONE_FS) only: fuse_pt's per-thread umask */
	ARG_SELF,      /* tgkill: arg 0 is our own process */
};

struct sb_rule {
	const char *name;
	unsigned int kinds;
	enum sb_arg arg;
};

/*
 * Why each call is there: the libc internals every thread needs first
 * (locks, allocation, logging to stderr, thread exit), then each kind's
 * work. Found by reading the code paths and confirmed by running every
 * integration test with the sandbox on.
 */
static const struct sb_rule rules[] = {
	/* Every thread: futex locks, malloc, stderr, the clock, exit. */
	{ "futex", K_ALL, ARG_ANY },
	{ "read", K_ALL, ARG_ANY },
	{ "write", K_ALL, ARG_ANY },
	{ "readv", K_ALL & ~K(SB_AIO), ARG_ANY },
	{ "writev", K_ALL & ~K(SB_AIO), ARG_ANY },
	{ "close", K_ALL, ARG_ANY },
	{ "mmap", K_ALL, ARG_NOEXEC },
	{ "mprotect", K_ALL, ARG_NOEXEC },
	{ "munmap", K_ALL, ARG_ANY },
	{ "mremap", K_ALL, ARG_ANY },
	{ "madvise", K_ALL, ARG_ANY },
	{ "brk", K_ALL, ARG_ANY },
	{ "fstat", K_ALL, ARG_ANY },
	{ "newfstatat", K_ALL, ARG_ANY },
	{ "fcntl", K_ALL, ARG_FCNTL },
	{ "getrandom", K_ALL, ARG_ANY },
	{ "clock_gettime", K_ALL, ARG_ANY },
	{ "clock_nanosleep", K_ALL, ARG_ANY },
	{ "nanosleep", K_ALL, ARG_ANY },
	{ "sched_yield", K_ALL, ARG_ANY },
	{ "getpid", K_ALL, ARG_ANY },
	{ "gettid", K_ALL, ARG_ANY },
	{ "rt_sigprocmask", K_ALL, ARG_ANY },
	{ "rt_sigreturn", K_ALL, ARG_ANY },
	{ "restart_syscall", K_ALL, ARG_ANY },
	{ "exit", K_ALL, ARG_ANY },
	{ "exit_group", K_ALL, ARG_ANY },

	/* Event loops: the VM's devices, virtio-fs servers, the forwarder;
	 * the main thread's own signal/timer loop. */
	{ "epoll_wait", K_ALL & ~K(SB_AIO) & ~K(SB_VCPU), ARG_ANY },
	{ "epoll_pwait", K_ALL & ~K(SB_AIO) & ~K(SB_VCPU), ARG_ANY },
	{ "epoll_ctl", K_ALL & ~K(SB_AIO), ARG_ANY },
	{ "timerfd_settime", K_ALL & ~K(SB_AIO), ARG_ANY },
	{ "timerfd_gettime", K_ALL & ~K(SB_AIO), ARG_ANY },
	{ "poll", K_IO | K(SB_MAIN), ARG_ANY },
	{ "ppoll", K_IO | K(SB_MAIN), ARG_ANY },

	/* KVM (vCPUs: KVM_RUN; interrupt lines), taps, terminals. */
	{ "ioctl", K_IO | K(SB_MAIN), ARG_IOCTL },
	{ "tgkill", K(SB_MAIN), ARG_SELF }, /* kick vCPUs out of KVM_RUN */

	/* Block I/O: io_uring, or plain calls (workers, the synchronous path). */
	{ "io_uring_enter", K_IO | K(SB_MAIN), ARG_ANY },
	{ "pread64", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "pwrite64", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "preadv", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "pwritev", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "preadv2", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "pwritev2", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "fsync", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "fdatasync", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },
	{ "fallocate", K_IO | K(SB_AIO) | K(SB_VFS), ARG_ANY },

	/* Sockets: vsock's Unix sockets, the console's, the -p forwarder. */
	{ "socket", K(SB_EVLOOP) | K(SB_PORTFWD), ARG_SOCKET },
	{ "connect", K(SB_EVLOOP) | K(SB_PORTFWD), ARG_ANY },
	{ "accept4", K(SB_EVLOOP) | K(SB_PORTFWD), ARG_ANY },
	{ "recvfrom", K_IO | K(SB_PORTFWD) | K(SB_MAIN), ARG_ANY },
	{ "sendto", K_IO | K(SB_PORTFWD) | K(SB_MAIN), ARG_ANY },
	{ "recvmsg", K_IO | K(SB_MAIN), ARG_ANY },
	{ "sendmsg", K_IO | K(SB_MAIN), ARG_ANY },
	{ "shutdown", K_IO | K(SB_PORTFWD) | K(SB_MAIN), ARG_ANY },
	{ "getsockopt", K(SB_PORTFWD), ARG_ANY },
	{ "setsockopt", K(SB_PORTFWD), ARG_ANY },
	{ "getsockname", K(SB_PORTFWD), ARG_ANY },
	{ "getpeername", K(SB_PORTFWD), ARG_ANY },
	/* vsock removes its listening socket at tear-down. */
	{ "unlink", K(SB_MAIN), ARG_ANY },

	/* virtio-fs: file operations relative to the shares' fds. */
	{ "openat", K(SB_VFS), ARG_ANY },
	{ "openat2", K(SB_VFS), ARG_ANY },
	{ "statx", K(SB_VFS), ARG_ANY },
	{ "fstatfs", K(SB_VFS), ARG_ANY },
	{ "getdents64", K(SB_VFS), ARG_ANY },
	{ "lseek", K(SB_VFS), ARG_ANY },
	{ "readlinkat", K(SB_VFS), ARG_ANY },
	{ "mkdirat", K(SB_VFS), ARG_ANY },
	{ "mknodat", K(SB_VFS), ARG_ANY },
	{ "symlinkat", K(SB_VFS), ARG_ANY },
	{ "linkat", K(SB_VFS), ARG_ANY },
	{ "unlinkat", K(SB_VFS), ARG_ANY },
	{ "renameat", K(SB_VFS), ARG_ANY }, /* glibc's renameat2 with no flags */
	{ "renameat2", K(SB_VFS), ARG_ANY },
	{ "fchownat", K(SB_VFS), ARG_ANY },
	{ "fchown", K(SB_VFS), ARG_ANY },
	{ "fchmodat", K(SB_VFS), ARG_ANY },
	{ "fchmod", K(SB_VFS), ARG_ANY },
	{ "utimensat", K(SB_VFS), ARG_ANY },
	{ "ftruncate", K(SB_VFS), ARG_ANY },
	{ "copy_file_range", K(SB_VFS), ARG_ANY },
	{ "getxattr", K(SB_VFS), ARG_ANY },
	{ "lgetxattr", K(SB_VFS), ARG_ANY },
	{ "fgetxattr", K(SB_VFS), ARG_ANY },
	{ "setxattr", K(SB_VFS), ARG_ANY },
	{ "lsetxattr", K(SB_VFS), ARG_ANY },
	{ "fsetxattr", K(SB_VFS), ARG_ANY },
	{ "listxattr", K(SB_VFS), ARG_ANY },
	{ "llistxattr", K(SB_VFS), ARG_ANY },
	{ "flistxattr", K(SB_VFS), ARG_ANY },
	{ "removexattr", K(SB_VFS), ARG_ANY },
	{ "lremovexattr", K(SB_VFS), ARG_ANY },
	{ "fremovexattr", K(SB_VFS), ARG_ANY },
	{ "umask", K(SB_VFS), ARG_ANY },
	{ "faccessat", K(SB_VFS), ARG_ANY },
	{ "faccessat2", K(SB_VFS), ARG_ANY },
	{ "prlimit64", K(SB_VFS), ARG_ANY }, /* its fd budget */
	{ "eventfd2", K_IO | K(SB_VFS), ARG_ANY }, /* sessions renewed on reset */
	{ "getuid", K(SB_VFS), ARG_ANY }, /* libfuse's session */
	{ "geteuid", K(SB_VFS), ARG_ANY },
	{ "getgid", K(SB_VFS), ARG_ANY },
	{ "getegid", K(SB_VFS), ARG_ANY },
	{ "unshare", K(SB_VFS), ARG_CLONE_FS },
};

/* ioctls per kind: KVM_RUN only where vCPUs run; interrupt lines from the
 * devices; the tap's offloads when the guest negotiates them; the host
 * terminal's size and mode (-t). */
static const unsigned long ioctls_vcpu[] = {
	KVM_RUN, KVM_IRQ_LINE, TUNSETOFFLOAD, TUNSETVNETHDRSZ, TIOCGWINSZ,
};
static const unsigned long ioctls_evloop[] = {
	KVM_IRQ_LINE, TUNSETOFFLOAD, TUNSETVNETHDRSZ, TIOCGWINSZ,
};
static const unsigned long ioctls_main[] = {
	KVM_IRQ_LINE, TIOCGWINSZ, TCGETS, TCSETS, TCSETSW, TCSETSF,
};
static const int fcntl_ops[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_DUPFD_CLOEXEC };

/* ---- process state ------------------------------------------------------------- */

#define NAME_TABLE 512 /* x86_64 numbers are below this */
#define FS_CAPS                                                                       \
	((1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_DAC_READ_SEARCH) | \
	 (1ull << CAP_FOWNER) | (1ull << CAP_FSETID))

static struct {
	bool active;
	bool userns;                  /* not root: in a user namespace of our own */
	int selftest;                 /* a kind, or -1 */
	uint64_t keep_caps;           /* capabilities every thread keeps */
	uint64_t bset_left;           /* the bounding set sb_apply left, or 0 */
	struct sock_fprog prog[SB_NR_THREADS];
	char names[NAME_TABLE][24];   /* resolved before the first filter */
} sb = { .selftest = -1 };

static _Thread_local int tl_kind = -1;

bool sb_active(void)
{
	return sb.active;
}

/* ---- the SIGSYS reporter ----------------------------------------------------- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_uint(char *buf, size_t at, size_t cap, unsigned long v)
{
	char tmp[24];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(tmp));
	while (n && at < cap)
		buf[at++] = tmp[--n];
	return at;
}

/* Async-signal-safe: write(2) of a line built by hand, then death. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[200];
	size_t n = 0;
	int nr = si->si_syscall;

	(void)sig;
	(void)uctx;
	n = put_str(line, n, sizeof(line), "cocoon: sandbox: forbidden system call ");
	if (nr >= 0 && nr < NAME_TABLE && sb.names[nr][0])
		n = put_str(line, n, sizeof(line), sb.names[nr]);
	else
		n = put_str(line, n, sizeof(line), "?");
	n = put_str(line, n, sizeof(line), " (nr ");
	n = put_uint(line, n, sizeof(line), (unsigned long)(unsigned int)nr);
	n = put_str(line, n, sizeof(line), ") in the ");
	n = put_str(line, n, sizeof(line), tl_kind >= 0 ? thread_names[tl_kind] : "unknown");
	n = put_str(line, n, sizeof(line), " thread; the VM is stopped\n");
	(void)!write(STDERR_FILENO, line, n);
	/* SIGSYS is blocked while this handler runs: a second trapped call
	 * makes the kernel reset SIGSYS to its default action and deliver
	 * it, which kills the whole process. No thread may call ptrace. */
	for (;;)
		syscall(SYS_ptrace, 0, 0, 0, 0);
}

/* ---- filters ------------------------------------------------------------------- */

static int add_rule(scmp_filter_ctx ctx, const struct sb_rule *r, enum sb_thread kind, int nr)
{
	const unsigned long *ioc = NULL;
	size_t nioc = 0;
	int ret = 0;

	switch (r->arg) {
	case ARG_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case ARG_NOEXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case ARG_IOCTL:
		if (kind == SB_VCPU) {
			ioc = ioctls_vcpu;
			nioc = ARRAY_SIZE(ioctls_vcpu);
		} else if (kind == SB_MAIN) {
			ioc = ioctls_main;
			nioc = ARRAY_SIZE(ioctls_main);
		} else {
			ioc = ioctls_evloop;
			nioc = ARRAY_SIZE(ioctls_evloop);
		}
		/* The kernel takes the request as 32 bits. */
		for (size_t i = 0; i < nioc && !ret; i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
						       (scmp_datum_t)ioc[i]));
		return ret;
	case ARG_FCNTL:
		for (size_t i = 0; i < ARRAY_SIZE(fcntl_ops) && !ret; i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					       SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_ops[i]));
		return ret;
	case ARG_SOCKET:
		if (kind == SB_PORTFWD)
			return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
						SCMP_A0(SCMP_CMP_EQ, AF_INET));
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	case ARG_CLONE_FS:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, CLONE_FS));
	case ARG_SELF:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	}
	return -EINVAL;
}

int sb_allowed_count(enum sb_thread kind)
{
	int count = 0;

	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		if (!(rules[i].kinds & K(kind)))
			continue;
		if (seccomp_syscall_resolve_name(rules[i].name) == __NR_SCMP_ERROR)
			return -ENOENT;
		count++; /* each name appears once in rules[] */
	}
	return count;
}

void sb_print_allowed(enum sb_thread kind, int fd)
{
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if (rules[i].kinds & K(kind))
			dprintf(fd, "%s\n", rules[i].name);
}

/* Compile kind's filter to BPF, kept for the thread to load itself:
 * libseccomp allocates and is not for a thread that is already running
 * guest-driven work. */
static int compile(enum sb_thread kind, char *why, size_t why_len)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	struct sock_filter *insns = NULL;
	int ret, mfd = -1;
	off_t size;

	if (!ctx)
		return why_fail(why, why_len, -ENOMEM, "sandbox: seccomp_init failed");
	/* We set no_new_privs ourselves, before each load. A call of
	 * another ABI (i386, x32) kills the whole process, not just the
	 * thread (libseccomp's default). */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; i < ARRAY_SIZE(rules) && !ret; i++) {
		int nr;

		if (!(rules[i].kinds & K(kind)))
			continue;
		nr = seccomp_syscall_resolve_name(rules[i].name);
		if (nr == __NR_SCMP_ERROR) {
			ret = -ENOENT;
			why_fail(why, why_len, ret, "sandbox: unknown system call %s",
				 rules[i].name);
			goto out;
		}
		ret = add_rule(ctx, &rules[i], kind, nr);
	}
	if (ret) {
		why_fail(why, why_len, ret, "sandbox: %s filter: %s", thread_names[kind],
			 strerror(-ret));
		goto out;
	}
	mfd = memfd_create("cocoon-seccomp", MFD_CLOEXEC);
	if (mfd < 0) {
		ret = why_fail(why, why_len, -errno, "sandbox: memfd: %s", strerror(errno));
		goto out;
	}
	ret = seccomp_export_bpf(ctx, mfd);
	size = ret ? -1 : lseek(mfd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(*insns) || size / (off_t)sizeof(*insns) > BPF_MAXINSNS) {
		ret = why_fail(why, why_len, ret ? ret : -E2BIG, "sandbox: %s filter: export failed",
			       thread_names[kind]);
		goto out;
	}
	insns = malloc((size_t)size);
	if (!insns || pread(mfd, insns, (size_t)size, 0) != size) {
		free(insns);
		ret = why_fail(why, why_len, -EIO, "sandbox: %s filter: cannot read it back",
			       thread_names[kind]);
		goto out;
	}
	sb.prog[kind].filter = insns;
	sb.prog[kind].len = (unsigned short)(size / (off_t)sizeof(*insns));
	ret = 0;
out:
	if (mfd >= 0)
		close(mfd);
	seccomp_release(ctx);
	return ret;
}

/* ---- capabilities -------------------------------------------------------------- */

static int last_cap(void)
{
	int cap = CAP_LAST_CAP;

	/* A newer kernel may know more than our headers. */
	while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
		cap++;
	return cap;
}

/*
 * The bounding and ambient sets, down to sb.keep_caps (needs CAP_SETPCAP,
 * which a thread started after sb_apply still has). `lenient`: a thread
 * started before sb_apply (virtio-blk's workers) lost every capability,
 * CAP_SETPCAP included, when the uid changed under it: its bounding set
 * stays, which only limits what an execve could grant, and no filter
 * allows execve.
 */
static int drop_bounding(bool lenient)
{
	const int last = last_cap();

	for (int cap = 0; cap <= last; cap++) {
		if (sb.keep_caps & (1ull << cap))
			continue;
		/* Threads started after sb_apply inherit its bounding set:
		 * only what it kept can be left (saves ~40 calls a thread). */
		if (sb.bset_left && !(sb.bset_left & (1ull << cap)))
			continue;
		/* With CAP_SETPCAP dropping an absent cap is a no-op: only
		 * the lenient threads, which may lack it, look first. */
		if ((!lenient || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (lenient && errno == EPERM)
				break;
			return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

/* Effective, permitted and inheritable down to sb.keep_caps, then
 * no_new_privs (which also lets an unprivileged thread load a filter). */
static int drop_rest(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)sb.keep_caps;
	data[1].effective = data[1].permitted = (uint32_t)(sb.keep_caps >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

static void die_unconfined(enum sb_thread kind, int err)
{
	char line[160];
	size_t n = 0;

	n = put_str(line, n, sizeof(line), "cocoon: sandbox: cannot confine the ");
	n = put_str(line, n, sizeof(line), thread_names[kind]);
	n = put_str(line, n, sizeof(line), " thread (errno ");
	n = put_uint(line, n, sizeof(line), (unsigned long)-err);
	n = put_str(line, n, sizeof(line), "); the VM is stopped\n");
	(void)!write(STDERR_FILENO, line, n);
	signal(SIGSYS, SIG_DFL);
	kill(getpid(), SIGSYS);
	for (;;)
		pause();
}

void sb_thread_enter(enum sb_thread kind)
{
	int ret;

	if (!sb.active || tl_kind >= 0 || (unsigned int)kind >= SB_NR_THREADS)
		return;
	tl_kind = (int)kind;
	/* The new PID namespace for children the VMM never has (no filter
	 * allows clone without CLONE_THREAD, fork or execve): only this
	 * thread's, the last to start threads, and with the CAP_SYS_ADMIN
	 * kept for this (sb_apply). */
	ret = kind == SB_MAIN && unshare(CLONE_NEWPID) < 0 ? -errno : 0;
	if (!ret)
		ret = drop_bounding(true);
	if (!ret)
		ret = drop_rest();
	if (!ret && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sb.prog[kind]) < 0)
		ret = -errno;
	if (ret)
		die_unconfined(kind, ret);
	if (sb.selftest == (int)kind)
		syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
}

/* ---- --uid, --gid, --cgroup ----------------------------------------------------- */

int sb_parse_id(const char *s, bool group, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s)
		return -EINVAL;
	if (*s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || *end || v >= 0xffffffffu)
			return -EINVAL;
		*out = (uint32_t)v;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(s);

		if (!g)
			return -EINVAL;
		*out = (uint32_t)g->gr_gid;
	} else {
		struct passwd *p = getpwnam(s);

		if (!p)
			return -EINVAL;
		*out = (uint32_t)p->pw_uid;
	}
	return 0;
}

/* "1.5" CPUs -> 150000 us of every 100000 us period. */
static int parse_cpus(const char *s, size_t len, uint64_t *quota_us)
{
	uint64_t whole = 0, frac = 0, scale = 100000;
	size_t i = 0;
	bool digits = false;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits = true) {
		whole = whole * 10 + (uint64_t)(s[i] - '0');
		if (whole > 1024)
			return -EINVAL;
	}
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits = true) {
			if (scale >= 10) {
				scale /= 10;
				frac += (uint64_t)(s[i] - '0') * scale;
			}
		}
	}
	if (!digits || i != len)
		return -EINVAL;
	*quota_us = whole * 100000 + frac;
	/* The kernel's minimum quota is 1 ms. */
	if (*quota_us < 1000)
		return -EINVAL;
	return 0;
}

int sb_parse_cgroup(const char *s, struct vm_sandbox *out, char *why, size_t why_len)
{
	const char *p = s;
	uint64_t cpu = 0, mem = 0;

	if (!s || !*s)
		return why_fail(why, why_len, -EINVAL, "--cgroup: give cpu=N and/or memory=SIZE");
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);

		if (eq && (size_t)(eq - p) == 3 && !strncmp(p, "cpu", 3)) {
			if (parse_cpus(eq + 1, len - 4, &cpu))
				return why_fail(why, why_len, -EINVAL,
						"--cgroup: cpu=%.*s: give a number of CPUs from "
						"0.01 to 1024, e.g. 0.5 or 2",
						(int)(len - 4), eq + 1);
		} else if (eq && (size_t)(eq - p) == 6 && !strncmp(p, "memory", 6)) {
			char val[32];

			if (len - 7 >= sizeof(val) || len == 7)
				return why_fail(why, why_len, -EINVAL,
						"--cgroup: memory=: not a size (use e.g. 512M or 2G)");
			memcpy(val, eq + 1, len - 7);
			val[len - 7] = '\0';
			if (config_parse_size(val, &mem) || mem < (4ull << 20))
				return why_fail(why, why_len, -EINVAL,
						"--cgroup: memory=%s: give a size of at least 4M "
						"(e.g. 512M or 2G)", val);
		} else {
			return why_fail(why, why_len, -EINVAL,
					"--cgroup: %.*s: unknown (use cpu=N,memory=SIZE)",
					(int)len, p);
		}
		p += len;
		if (*p == ',' && !*++p)
			return why_fail(why, why_len, -EINVAL, "--cgroup %s: a trailing comma", s);
	}
	if (cpu)
		out->cpu_quota_us = cpu;
	if (mem)
		out->memory_max = mem;
	return 0;
}

#define CG_ROOT "/sys/fs/cgroup"

static int write_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	err = errno;
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -(n < 0 ? err : EIO);
}

/*
 * The helper that removes the cgroup: it waits for the end of the pipe the
 * VMM holds (closed by the kernel however the VMM exits), then removes the
 * directory once the last task has left it.
 */
static void cgroup_reaper(int wait_fd, const char *name)
{
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	int root, devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	char c;

	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
	}
	root = open(CG_ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	while (read(wait_fd, &c, 1) != 0 && (errno == EINTR || errno == 0))
		;
	/* The exiting VMM leaves the cgroup a moment after its fds close. */
	for (int i = 0; i < 1000; i++) {
		if (unlinkat(root, name, AT_REMOVEDIR) == 0 || errno != EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	_exit(0); /* a forked helper: no atexit handlers of the VMM's */
}

int sb_cgroup_enter(const struct vm_config *cfg, char *why, size_t why_len)
{
	const struct vm_sandbox *s = &cfg->sandbox;
	char name[32], text[64];
	struct statfs sf;
	int root = -1, dir = -1, p[2] = { -1, -1 }, ret;
	pid_t pid;

	if (!s->cpu_quota_us && !s->memory_max)
		return 0;
	if (statfs(CG_ROOT, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
		return why_fail(why, why_len, -ENOTSUP,
				"--cgroup: %s is not a cgroup v2 hierarchy", CG_ROOT);
	root = open(CG_ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return why_fail(why, why_len, -errno, "--cgroup: %s: %s", CG_ROOT,
				strerror(errno));
	/* The controllers for the new child; already enabled is fine. */
	if ((s->cpu_quota_us && (ret = write_file(root, "cgroup.subtree_control", "+cpu"))) ||
	    (s->memory_max && (ret = write_file(root, "cgroup.subtree_control", "+memory")))) {
		why_fail(why, why_len, ret,
			 "--cgroup: cannot enable the cpu/memory controllers in %s: %s "
			 "(cgroup v2 must be writable by cocoon)", CG_ROOT, strerror(-ret));
		goto err;
	}
	snprintf(name, sizeof(name), "cocoon-%d", (int)getpid());
	if (mkdirat(root, name, 0755) < 0 && errno != EEXIST) {
		ret = why_fail(why, why_len, -errno, "--cgroup: %s/%s: %s", CG_ROOT, name,
			       strerror(errno));
		goto err;
	}
	dir = openat(root, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) {
		ret = why_fail(why, why_len, -errno, "--cgroup: %s/%s: %s", CG_ROOT, name,
			       strerror(errno));
		goto err_rmdir;
	}
	if (s->cpu_quota_us) {
		snprintf(text, sizeof(text), "%llu 100000", (unsigned long long)s->cpu_quota_us);
		ret = write_file(dir, "cpu.max", text);
		if (ret) {
			why_fail(why, why_len, ret, "--cgroup: %s/%s/cpu.max: %s", CG_ROOT, name,
				 strerror(-ret));
			goto err_rmdir;
		}
	}
	if (s->memory_max) {
		snprintf(text, sizeof(text), "%llu", (unsigned long long)s->memory_max);
		ret = write_file(dir, "memory.max", text);
		if (ret) {
			why_fail(why, why_len, ret, "--cgroup: %s/%s/memory.max: %s", CG_ROOT,
				 name, strerror(-ret));
			goto err_rmdir;
		}
		/* Swap would let the VM exceed its limit unseen. */
		(void)write_file(dir, "memory.swap.max", "0");
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		ret = why_fail(why, why_len, -errno, "--cgroup: pipe: %s", strerror(errno));
		goto err_rmdir;
	}
	pid = fork();
	if (pid < 0) {
		ret = why_fail(why, why_len, -errno, "--cgroup: fork: %s", strerror(errno));
		goto err_rmdir;
	}
	if (pid == 0) {
		close(p[1]);
		cgroup_reaper(p[0], name);
	}
	close(p[0]);
	p[0] = -1;
	/* p[1] stays open, unused, until this process is gone. */
	ret = write_file(dir, "cgroup.procs", "0");
	if (ret) {
		why_fail(why, why_len, ret, "--cgroup: moving cocoon into %s/%s: %s", CG_ROOT,
			 name, strerror(-ret));
		close(p[1]); /* the helper removes the directory */
		goto err;
	}
	close(dir);
	close(root);
	return 0;

err_rmdir:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (dir >= 0)
		close(dir);
	dir = -1;
	(void)unlinkat(root, name, AT_REMOVEDIR);
err:
	if (dir >= 0)
		close(dir);
	close(root);
	return ret;
}

/* ---- namespaces and the empty root ---------------------------------------------- */

static void warn_off(void)
{
	static const char msg[] =
		"cocoon: WARNING: the sandbox is off (--no-sandbox): the VMM runs with all "
		"of its privileges, every system call and the host's whole filesystem; "
		"a guest that escapes the VM owns this host\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
}

int sb_unshare(const struct vm_config *cfg, char *why, size_t why_len)
{
	/* CLONE_NEWPID waits for sb_thread_enter(SB_MAIN): a thread whose
	 * children's PID namespace differs from its own cannot start
	 * threads (clone(2), EINVAL), and vm_go starts them all first. */
	const int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	const uid_t uid = geteuid();
	const gid_t gid = getegid();

	if (cfg->sandbox.off)
		return 0;
	/*
	 * Not root (a member of the kvm group, say): a user namespace of our
	 * own first, mapping only our ids to themselves, gives the
	 * capabilities the mount, IPC, UTS and PID namespaces and pivot_root
	 * need, over those namespaces only. Files keep their owners and
	 * supplementary groups still count for /dev/kvm. The ids are then
	 * already unprivileged: sb_apply keeps them.
	 */
	if (uid != 0) {
		char map[64];

		if (unshare(CLONE_NEWUSER | flags) < 0)
			return why_fail(why, why_len, -errno,
					"sandbox: new user/mount/IPC/UTS namespaces: %s (unprivileged "
					"user namespaces disabled? run as root, or use --no-sandbox "
					"to debug)", strerror(errno));
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)uid, (unsigned int)uid);
		if (write_file(AT_FDCWD, "/proc/self/setgroups", "deny") ||
		    write_file(AT_FDCWD, "/proc/self/uid_map", map))
			return why_fail(why, why_len, -EPERM, "sandbox: cannot map uid %u in "
					"the user namespace", (unsigned int)uid);
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)gid, (unsigned int)gid);
		if (write_file(AT_FDCWD, "/proc/self/gid_map", map))
			return why_fail(why, why_len, -EPERM, "sandbox: cannot map gid %u in "
					"the user namespace", (unsigned int)gid);
		sb.userns = true;
	} else if (unshare(flags) < 0) {
		return why_fail(why, why_len, -errno,
				"sandbox: new mount/PID/IPC/UTS namespaces: %s (run as root, "
				"or use --no-sandbox to debug)", strerror(errno));
	}
	/* Nothing we mount from here on reaches the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return why_fail(why, why_len, -errno, "sandbox: making / private: %s",
				strerror(errno));
	return 0;
}

/* mkdir -p `path` (absolute) under the directory fd `at`. */
static int mkdir_under(int at, const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdirat(at, buf + 1, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = saved;
			if (!saved)
				break;
		}
	}
	return 0;
}

/* Bind `src` (a path) at `dst` in the new root `newroot` (a path), whose
 * fd is `at`, with nosuid,nodev,noexec. */
static int bind_same(int at, const char *newroot, const char *src, const char *dst,
		     char *why, size_t why_len)
{
	char target[PATH_MAX];
	int ret = mkdir_under(at, dst);

	if (ret)
		return why_fail(why, why_len, ret, "sandbox: mkdir %s: %s", dst, strerror(-ret));
	if ((size_t)snprintf(target, sizeof(target), "%s%s", newroot, dst) >= sizeof(target))
		return why_fail(why, why_len, -ENAMETOOLONG, "sandbox: %s: too long", dst);
	if (mount(src, target, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return why_fail(why, why_len, -errno, "sandbox: bind %s: %s", dst,
				strerror(errno));
	return 0;
}

/*
 * The new root: an empty tmpfs, read-only once built, holding only
 *  - the --vsock-uds directory at its own path (guest-initiated
 *    connections reach PATH_port by name, and the socket is removed at
 *    exit);
 *  - with shares, /proc/self/fd: our own fd directory, through which the
 *    virtio-fs server reaches xattrs of the inodes it holds (fuse_pt.c).
 * Everything else was opened by vm_prepare and is held as an fd.
 */
static int enter_empty_root(const struct vm_config *cfg, bool shares, char *why,
			    size_t why_len)
{
	static const char mnt[] = "/tmp";
	char vsock_dir[PATH_MAX] = "", cwd[PATH_MAX] = "";
	int at, ret, src_fd[2] = { -1, -1 };
	bool relative = false;

	if (cfg->vsock_uds) {
		char tmp[PATH_MAX];
		const char *slash = strrchr(cfg->vsock_uds, '/');

		relative = cfg->vsock_uds[0] != '/';
		if (!slash)
			snprintf(tmp, sizeof(tmp), ".");
		else if (slash == cfg->vsock_uds)
			snprintf(tmp, sizeof(tmp), "/");
		else
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(slash - cfg->vsock_uds),
				 cfg->vsock_uds);
		if (!realpath(tmp, vsock_dir))
			return why_fail(why, why_len, -errno, "sandbox: --vsock-uds %s: %s",
					tmp, strerror(errno));
		if (relative && !getcwd(cwd, sizeof(cwd)))
			return why_fail(why, why_len, -errno, "sandbox: getcwd: %s",
					strerror(errno));
	}
	/* The bind sources as fds first: the tmpfs may hide them (a
	 * directory under /tmp), and /proc/self/fd/N still reaches them. */
	if (vsock_dir[0] && strcmp(vsock_dir, "/"))
		src_fd[0] = open(vsock_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (shares)
		src_fd[1] = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if ((vsock_dir[0] && strcmp(vsock_dir, "/") && src_fd[0] < 0) || (shares && src_fd[1] < 0)) {
		ret = why_fail(why, why_len, -errno, "sandbox: %s: %s",
			       src_fd[0] < 0 ? vsock_dir : "/proc/self/fd", strerror(errno));
		goto out;
	}
	if (mount("cocoon-root", mnt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=64k,nr_inodes=64") < 0) {
		ret = why_fail(why, why_len, -errno, "sandbox: tmpfs for the new root: %s",
			       strerror(errno));
		goto out;
	}
	at = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (at < 0) {
		ret = why_fail(why, why_len, -errno, "sandbox: %s: %s", mnt, strerror(errno));
		goto out;
	}
	ret = 0;
	for (int i = 0; i < 2 && !ret; i++) {
		char src[32];

		if (src_fd[i] < 0)
			continue;
		snprintf(src, sizeof(src), "/proc/self/fd/%d", src_fd[i]);
		ret = bind_same(at, mnt, src, i == 0 ? vsock_dir : "/proc/self/fd", why, why_len);
	}
	if (!ret && cwd[0] && strcmp(cwd, "/") && (ret = mkdir_under(at, cwd)))
		why_fail(why, why_len, ret, "sandbox: mkdir %s: %s", cwd, strerror(-ret));
	close(at);
out:
	for (int i = 0; i < 2; i++)
		if (src_fd[i] >= 0)
			close(src_fd[i]);
	if (ret)
		return ret;
	/* pivot_root(".", "."): the old root ends up stacked on the new
	 * one, and a lazy unmount takes it away (pivot_root(2)). */
	if (chdir(mnt) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return why_fail(why, why_len, -errno, "sandbox: pivot_root: %s",
				strerror(errno));
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return why_fail(why, why_len, -errno, "sandbox: unmounting the old root: %s",
				strerror(errno));
	if (mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return why_fail(why, why_len, -errno, "sandbox: read-only root: %s",
				strerror(errno));
	/* A relative --vsock-uds is found from the directory it was given in. */
	if (cwd[0] && chdir(cwd) < 0)
		return why_fail(why, why_len, -errno, "sandbox: chdir %s: %s", cwd,
				strerror(errno));
	return 0;
}

/* ---- rlimits, identity ---------------------------------------------------------- */

static int set_rlimits(const struct vm_config *cfg, bool shares, char *why, size_t why_len)
{
	struct rlimit rl;
	uint64_t fsize = 1ull << 30;

	/* No core files: they would hold guest memory. */
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) < 0 || setrlimit(RLIMIT_MSGQUEUE, &rl) < 0)
		return why_fail(why, why_len, -errno, "sandbox: rlimits: %s", strerror(errno));
	/* Open files: no more than now (vm_prepare raised the soft limit for
	 * shares, whose fd budget fits under it), and no raising it later. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20))
			rl.rlim_cur = 1u << 20;
		rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return why_fail(why, why_len, -errno, "sandbox: RLIMIT_NOFILE: %s",
					strerror(errno));
	}
	/*
	 * File size: a write may never extend a file past the largest
	 * writable disk (virtio-blk never writes beyond a disk's end) or
	 * 1 GiB, which caps the console log a chatty guest can grow. Shares
	 * write the guest's own files, which may be of any size: no limit.
	 */
	if (shares)
		return 0;
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		struct stat st;

		if (!cfg->disks[i].read_only && stat(cfg->disks[i].path, &st) == 0 &&
		    (uint64_t)st.st_size > fsize)
			fsize = (uint64_t)st.st_size;
	}
	if (cfg->rootfs && cfg->rootfs_rw) {
		struct stat st;

		if (stat(cfg->rootfs, &st) == 0 && (uint64_t)st.st_size > fsize)
			fsize = (uint64_t)st.st_size;
	}
	/* Over the limit, a write fails with EFBIG instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = fsize;
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return why_fail(why, why_len, -errno, "sandbox: RLIMIT_FSIZE: %s", strerror(errno));
	return 0;
}

static int set_identity(uid_t uid, gid_t gid, char *why, size_t why_len)
{
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return why_fail(why, why_len, -errno, "sandbox: switching to uid %u gid %u: %s",
				(unsigned int)uid, (unsigned int)gid, strerror(errno));
	return 0;
}

int sb_apply(const struct vm_config *cfg, bool shares, char *why, size_t why_len)
{
	const struct vm_sandbox *s = &cfg->sandbox;
	struct sigaction sa;
	uid_t uid = 65534;
	gid_t gid = 65534;
	bool keep_root;
	const char *st;
	int ret;

	if (s->off) {
		warn_off();
		return 0;
	}
	if (shares && (s->uid_set || s->gid_set))
		return why_fail(why, why_len, -EINVAL,
				"--uid/--gid: not with virtio-fs shares (-v, --rootfs-dir): the "
				"file server creates files as the guest's users, which needs root");
	if (sb.userns && (s->uid_set || s->gid_set))
		return why_fail(why, why_len, -EPERM,
				"--uid/--gid: only root can switch to other ids (cocoon runs as "
				"uid %u, already unprivileged)", (unsigned int)geteuid());
	/* keep_root: keep our ids (in a user namespace: the caller's own). */
	keep_root = shares || (cfg->vsock_uds && !s->uid_set) || sb.userns;
	/* The host's nobody, looked up while /etc is still in view. */
	if (!keep_root) {
		struct passwd *pw = s->uid_set ? NULL : getpwnam("nobody");

		if (pw) {
			uid = pw->pw_uid;
			gid = pw->pw_gid;
		}
		if (s->uid_set)
			uid = s->uid;
		if (s->gid_set)
			gid = s->gid;
		else if (s->uid_set) {
			struct passwd *u = getpwuid(uid);

			gid = u ? u->pw_gid : (gid_t)uid;
		}
	}
	/* Names for the SIGSYS line, resolved now: the handler cannot. */
	for (int nr = 0; nr < NAME_TABLE; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name) {
			snprintf(sb.names[nr], sizeof(sb.names[nr]), "%s", name);
			free(name);
		}
	}
	for (int k = 0; k < SB_NR_THREADS; k++) {
		ret = compile((enum sb_thread)k, why, why_len);
		if (ret)
			return ret;
	}
	st = getenv("COCOON_SANDBOX_SELFTEST");
	for (int k = 0; st && k < SB_NR_THREADS; k++)
		if (!strcmp(st, selftest_names[k]))
			sb.selftest = k;

	ret = set_rlimits(cfg, shares, why, why_len);
	if (!ret)
		ret = enter_empty_root(cfg, shares, why, why_len);
	if (ret)
		return ret;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return why_fail(why, why_len, -errno, "sandbox: SIGSYS handler: %s",
				strerror(errno));
	/*
	 * Until each thread enters (sb_thread_enter), the process keeps two
	 * more: CAP_SYS_ADMIN for the main thread's PID namespace and
	 * CAP_SETPCAP to empty the bounding set; each thread drops both
	 * before it does any work. The bounding set needs CAP_SETPCAP and
	 * the ids CAP_SETUID/SETGID: those first, while they are effective.
	 */
	sb.keep_caps = (shares ? FS_CAPS : 0) | (1ull << CAP_SYS_ADMIN) | (1ull << CAP_SETPCAP);
	ret = drop_bounding(false);
	if (ret)
		return why_fail(why, why_len, ret, "sandbox: bounding set: %s", strerror(-ret));
	sb.bset_left = sb.keep_caps;
	if (!keep_root) {
		/* Keep the permitted set across the change of uid. */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return why_fail(why, why_len, -errno, "sandbox: keepcaps: %s",
					strerror(errno));
		ret = set_identity(uid, gid, why, why_len);
		if (ret)
			return ret;
		(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	ret = drop_rest();
	if (ret)
		return why_fail(why, why_len, ret, "sandbox: capabilities: %s", strerror(-ret));
	sb.keep_caps = shares ? FS_CAPS : 0;
	sb.active = true;
	return 0;
}
