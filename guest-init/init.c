/* SPDX-License-Identifier: MIT */
/*
 * guest-init: PID 1 of a cocoon microVM. Mounts the kernel filesystems,
 * reads the job spec, finds the workload's stdio (the virtio-console ports,
 * or ttyS1 without a virtio console), makes the container's block device
 * the root, runs the workload as the requested user with its limits, reaps
 * every process, forwards signals, and reports the workload's status to
 * the VMM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "hostio.h"
#include "mounts.h"
#include "passwd.h"
#include "ports.h"
#include "rlimit.h"
#include "net.h"
#include "rootfs.h"
#include "spec.h"
#include "status.h"
#include "workload.h"

/* Without a virtio console: stdout and stderr merged on the second UART. */
#define SERIAL_TTY "/dev/ttyS1"

/* What the workload child sends up the exec pipe when it cannot start. */
struct start_report {
	int stage;    /* enum start_failure */
	int err;      /* errno */
	size_t index; /* START_RLIMIT: which limit */
};

/* In BSS, so only the pages a file really uses are ever touched. */
static char spec_buf[COCOON_SPEC_MAX + 1];
static char passwd_buf[PASSWD_MAX_FILE + 1];
static char group_buf[PASSWD_MAX_FILE + 1];
static char home_env[sizeof("HOME=") + PASSWD_MAX_LINE];
static char user_error[PASSWD_ERROR_MAX];
static struct spec spec;
static struct user_ids user;
static struct rlimit_req rlimits[SPEC_MAX_RLIMITS];

/* Where our own messages go: the console the kernel gave us, then the
 * stderr port or ttyS1 once open. */
static int msg_fd = 2;
/* ttyS1 when it carries the output: drained before the exit write. */
static int serial_fd = -1;
/* "/" is the read-write root device (spec root_rw), mounted. */
static bool root_rw;

/* The workload's stdio as guest-init found it; every fd >= 3 or -1. */
struct stdio {
	int in, out, err;
	int ctl;   /* the control port, or -1 */
	int spare; /* opened but unused (the stdout port under -t), or -1 */
	bool ctty; /* in/out/err are the console terminal (-t) */
};

/* Close fd after the fork unless it is our message channel or one of the
 * (already closed) fds before it. */
static void close_unless_kept(int fd, int seen1, int seen2)
{
	if (fd >= 0 && fd != msg_fd && fd != seen1 && fd != seen2)
		close(fd);
}

/* One line "cocoon-init: <strings...>\n", in one write so it never interleaves. */
__attribute__((sentinel)) static void say(const char *first, ...)
{
	static const char prefix[] = "cocoon-init: ";
	char line[512];
	size_t len = sizeof(prefix) - 1;
	va_list ap;

	memcpy(line, prefix, len);
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		size_t n = strlen(s);

		/* Keep a byte for the newline; a too-long line is cut, not dropped. */
		if (n > sizeof(line) - 1 - len)
			n = sizeof(line) - 1 - len;
		memcpy(line + len, s, n);
		len += n;
	}
	va_end(ap);
	line[len++] = '\n';
	/* Nothing useful to do if even the error channel fails. */
	if (write(msg_fd, line, len) < 0)
		return;
}

/*
 * A read-write root is a persistent ext4: leave it clean, or the next
 * read-only mount of the image (the default) finds a journal to replay and
 * fails. Remounting read-only commits the journal and marks the filesystem
 * clean; it needs every file closed for writing, so end whatever the
 * workload left running first (the VM is about to stop anyway).
 */
static void root_rw_close(void)
{
	struct timespec ms = {0, 1000000};

	(void)kill(-1, SIGKILL);
	/* Bounded: a process stuck in the kernel must not hang the exit. */
	for (int i = 0; i < 2000; i++) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid < 0)
			break; /* ECHILD: all gone */
		if (pid == 0)
			nanosleep(&ms, NULL);
	}
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		say("remount / read-only: ", strerror(errno), NULL);
}

/* Report status to the VMM and stop the machine. Never returns: PID 1 must not exit. */
__attribute__((noreturn)) static void finish(int status)
{
	/*
	 * The VM stops at the exit write, so output must be out of the guest
	 * by then. ttyS1: wait for the UART to send what is queued. virtio
	 * ports: a write returns once its buffer is in the transmit queue and
	 * the host was notified, and the VMM consumes every queued buffer
	 * before it acts on the exit write (abi.h); the hvc0 terminal writes
	 * synchronously. There is nothing to fsync on a port.
	 */
	if (serial_fd >= 0)
		(void)tcdrain(serial_fd);
	if (root_rw)
		root_rw_close();
	sync();
	hostio_exit((unsigned int)status);
	/* Still running: not under cocoon (e.g. plain QEMU), or no port access. */
	reboot(RB_POWER_OFF);
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

__attribute__((noreturn)) static void fail(const char *what, int err)
{
	say(what, ": ", strerror(err), NULL);
	finish(COCOON_STATUS_INIT_FAILED);
}

__attribute__((warn_unused_result)) static int
mount_fs(const char *dir, const char *type, unsigned long flags, const char *data)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount(type, dir, type, flags, data) < 0)
		return -errno;
	return 0;
}

/*
 * Open the workload's output UART in raw mode, so its bytes reach the VMM
 * unchanged (no CR added to LF, no flow control), and return the fd.
 */
__attribute__((warn_unused_result)) static int serial_open(const char *path)
{
	struct termios t;
	int fd, flags, err;

	/* O_NONBLOCK: until CLOCAL is set, open() waits for a carrier (DCD) that a
	 * virtual UART may never raise. */
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &t) < 0)
		goto err_close;
	cfmakeraw(&t); /* 8 bits, no parity, no echo, no OPOST, no signals from input */
	t.c_cflag &= ~(tcflag_t)(CSTOPB | CRTSCTS);
	t.c_cflag |= CLOCAL | CREAD;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		goto err_close;
	/* Blocking again: a fast writer must wait for the UART, not get EAGAIN. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto err_close;
	return fd;
err_close:
	err = -errno;
	close(fd);
	return err;
}

/*
 * Open /dev/null until it lands above fd 2: the kernel gives PID 1 fds 0-2
 * only when the initramfs has /dev/console, and the child's dup2 into 0-2
 * must never clobber the fds it copies from.
 */
__attribute__((warn_unused_result)) static int null_open(void)
{
	for (;;) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		if (fd > 2)
			return fd;
	}
}

/*
 * Read the whole of a small file into buf (cap bytes at most; buf has one
 * byte more, which tells a too-big file) and NUL-terminate it.
 */
__attribute__((warn_unused_result)) static int read_small(const char *path, char *buf,
                                                          size_t cap, size_t *len)
{
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n <= cap) {
		ssize_t r = read(fd, buf + n, cap + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > cap)
		return -EFBIG;
	buf[n] = '\0';
	*len = n;
	return 0;
}

/*
 * Find the workload's stdio. With a virtio console: the named ports (and
 * hvc0 for -t); our own messages go to the stderr port from then on.
 * Without one: ttyS1 for stdout and stderr, /dev/null for stdin.
 */
static void stdio_open(struct stdio *io, int null_fd, bool tty, bool want_stdin)
{
	struct port_req req[] = {
	    {COCOON_PORT_STDERR, O_WRONLY, -1},
	    {COCOON_PORT_STDOUT, O_WRONLY, -1},
	    {COCOON_PORT_CONTROL, O_RDONLY | O_NONBLOCK, -1},
	    {COCOON_PORT_STDIN, O_RDONLY, -1},
	};
	/* With -t the terminal is stdin too, as with docker. */
	size_t n = want_stdin && !tty ? 4 : 3;
	unsigned long long deadline;
	const char *failed = "";
	int ret;

	*io = (struct stdio){null_fd, -1, -1, -1, -1, false};
	if (!ports_console_present()) {
		serial_fd = serial_open(SERIAL_TTY);
		if (serial_fd < 0)
			fail("open " SERIAL_TTY, -serial_fd);
		msg_fd = serial_fd;
		io->out = io->err = serial_fd;
		return;
	}

	deadline = ports_deadline();
	ret = ports_open(req, n, deadline, &failed);
	if (req[0].fd >= 0)
		msg_fd = req[0].fd;
	if (ret == -ETIMEDOUT) {
		for (size_t i = 0; i < n; i++)
			if (req[i].fd < 0)
				say("virtio console port ", req[i].name,
				    " did not appear", NULL);
		finish(COCOON_STATUS_INIT_FAILED);
	}
	if (ret < 0) {
		say("open virtio console port ", failed, ": ", strerror(-ret), NULL);
		finish(COCOON_STATUS_INIT_FAILED);
	}
	io->err = req[0].fd;
	io->out = req[1].fd;
	io->ctl = req[2].fd;
	if (n == 4)
		io->in = req[3].fd;
	if (tty) {
		ret = ports_open_console(deadline);
		if (ret < 0)
			fail("open the console port /dev/hvc0", -ret);
		io->spare = io->out;
		io->in = io->out = io->err = ret;
		io->ctty = true;
	}
	/*
	 * SIGIO when the host connects to the control port (or sends on it):
	 * until it has, the port polls as hung up and the loop leaves it out.
	 */
	if (fcntl(io->ctl, F_SETOWN, getpid()) < 0 ||
	    fcntl(io->ctl, F_SETFL, O_RDONLY | O_NONBLOCK | O_ASYNC) < 0)
		fail("control port: O_ASYNC", errno);
}

/* The index of NAME= in the spec's environment, or -1. */
static long env_find(const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < spec.envc; i++)
		if (strncmp(spec.envp[i], name, len) == 0 && spec.envp[i][len] == '=')
			return (long)i;
	return -1;
}

/* A file of the container's root for user_resolve: a missing one is empty. */
static const char *read_db(const char *path, char *buf, size_t *len)
{
	int ret = read_small(path, buf, PASSWD_MAX_FILE, len);

	if (ret == -ENOENT)
		return NULL;
	if (ret == -EFBIG)
		say(path, " is larger than 1 MiB", NULL);
	if (ret < 0)
		fail(path, -ret);
	return buf;
}

/*
 * Resolve the spec's user in the container's /etc/passwd and /etc/group,
 * and set HOME the way docker does: from the user's passwd entry ("/"
 * without one) when the environment has no HOME. Returns the user to switch
 * to, or NULL to stay root.
 */
static const struct user_ids *user_setup(void)
{
	long home = env_find("HOME");
	const char *passwd, *group;
	size_t plen = 0, glen = 0;

	if (!spec.user && home >= 0)
		return NULL; /* nothing to look up: skip reading the files */
	passwd = read_db("/etc/passwd", passwd_buf, &plen);
	group = spec.user ? read_db("/etc/group", group_buf, &glen) : NULL;
	if (user_resolve(spec.user, passwd, plen, group, glen, &user, user_error) < 0) {
		say(user_error, NULL);
		finish(COCOON_STATUS_INIT_FAILED);
	}
	if (home < 0) {
		size_t n = user.home && user.home_len ? user.home_len : 1;

		memcpy(home_env, "HOME=", 5);
		memcpy(home_env + 5, user.home && user.home_len ? user.home : "/", n);
		home_env[5 + n] = '\0';
		/* envp has spare slots for this (spec.h). */
		home = (long)spec.envc++;
		spec.envp[spec.envc] = NULL;
		spec.envp[home] = home_env;
	}
	return spec.user ? &user : NULL;
}

static void rlimits_parse(void)
{
	for (size_t i = 0; i < spec.nrlimits; i++) {
		const char *why = "";

		if (rlimit_parse(spec.rlimits[i], &rlimits[i], &why) < 0) {
			say("invalid rlimit \"", spec.rlimits[i], "\": ", why, NULL);
			finish(COCOON_STATUS_INIT_FAILED);
		}
	}
}

static void report_start_failure(const struct start_report *rep)
{
	const char *err = strerror(rep->err);

	switch (rep->stage) {
	case START_CWD:
		say("chdir to cwd \"", spec.cwd, "\": ", err, NULL);
		break;
	case START_NOT_FOUND:
		say("exec \"", spec.argv[0], "\": executable file not found in $PATH",
		    NULL);
		break;
	case START_EXEC:
		say("exec \"", spec.argv[0], "\": ", err, NULL);
		break;
	case START_RLIMIT:
		say("setrlimit ",
		    rep->index < spec.nrlimits ? spec.rlimits[rep->index] : "?", ": ",
		    err, NULL);
		break;
	case START_USER:
		/* Also the groups alone, as root: spec.user may be NULL. */
		say("switching to user \"", spec.user ? spec.user : "0", "\": ", err, NULL);
		break;
	default:
		say("starting the workload: ", err, NULL);
		break;
	}
}

/* Whether `pid` has a handler for `sig` (SigCgt in /proc/PID/status). */
static bool handles(pid_t pid, int sig)
{
	char path[32], buf[2048], *p;
	unsigned long long mask;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strstr(buf, "\nSigCgt:");
	if (!p || sig < 1 || sig > 64)
		return false;
	mask = strtoull(p + 9, NULL, 16);
	return mask >> (sig - 1) & 1;
}

/* Pass a signal on to the workload's process group (to the child alone before its
 * setsid()); with signal_init, to the workload alone, as the kernel delivers
 * signals to a PID namespace's init from outside it. */
static void forward(pid_t child, int sig)
{
	if (spec.signal_init) {
		if (sig == SIGKILL || sig == SIGSTOP || handles(child, sig))
			(void)kill(child, sig);
		return;
	}
	if (kill(-child, sig) < 0 && errno == ESRCH)
		(void)kill(child, sig);
}

/* One control line: "signal N" forwards signal N; anything else is ignored
 * (newer hosts may send more). */
static void control_line(const char *line, pid_t child)
{
	int sig = 0;

	if (strncmp(line, "signal ", 7) != 0)
		return;
	line += 7;
	if (*line == '\0')
		return;
	for (; *line; line++) {
		if (*line < '0' || *line > '9' || sig > 64)
			return;
		sig = sig * 10 + (*line - '0');
	}
	if (sig >= 1 && sig <= 64)
		forward(child, sig);
}

/*
 * Read what the control port has, dispatching whole lines. Returns false
 * when the host is not connected (read gives EOF): the caller stops
 * polling the port until SIGIO says the host connected.
 */
static bool control_read(int fd, pid_t child)
{
	static char line[64];
	static size_t len;
	static bool overlong;

	for (;;) {
		char chunk[256];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				line[len] = '\0';
				if (!overlong)
					control_line(line, child);
				len = 0;
				overlong = false;
			} else if (len == sizeof(line) - 1) {
				overlong = true; /* no command is this long: drop it */
			} else {
				line[len++] = chunk[i];
			}
		}
	}
}

/*
 * The PID 1 loop: every orphan in the VM is reparented to us, so reap all
 * of them, and forward termination signals (ours and the control port's),
 * until the workload itself exits. Returns its status.
 */
static int supervise(pid_t child, int sig_fd, int ctl_fd)
{
	bool ctl_on = ctl_fd >= 0;

	for (;;) {
		struct pollfd pfd[2] = {{sig_fd, POLLIN, 0},
		                        {ctl_on ? ctl_fd : -1, POLLIN, 0}};
		struct signalfd_siginfo si[8];
		ssize_t n;

		if (poll(pfd, 2, -1) < 0)
			continue; /* EINTR only */
		if (pfd[1].revents)
			ctl_on = control_read(ctl_fd, child);
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(sig_fd, si, sizeof(si));
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(si[0]); i++) {
			int sig = (int)si[i].ssi_signo;

			if (sig == SIGIO) {
				ctl_on = ctl_fd >= 0;
				continue;
			}
			if (sig != SIGCHLD) {
				forward(child, sig);
				continue;
			}
			/* One SIGCHLD may stand for many exits: drain them all. */
			for (;;) {
				int ws;
				pid_t pid = waitpid(-1, &ws, WNOHANG);

				if (pid == child)
					return status_from_wait(ws);
				/* Cannot happen while the child is unreaped; never spin
				 * on it. */
				if (pid < 0 && errno == ECHILD)
					return COCOON_STATUS_INIT_FAILED;
				if (pid <= 0)
					break;
			}
		}
	}
}

int main(void)
{
	int io_err = hostio_open();
	struct start_report rep;
	struct workload w;
	struct stdio io;
	int status, forced = -1;
	int null_fd, sig_fd, pipe_fds[2];
	int early_err = 0, spec_err;
	const char *early_what = NULL, *what = "";
	sigset_t set;
	size_t len = 0, bad_mount = 0;
	pid_t child;
	int ret;

	hostio_mark(COCOON_MARK_INIT_START);

	/*
	 * Blocked from the start and taken through a signalfd: a signal that
	 * arrives during setup stays pending and is forwarded once the workload
	 * runs. Blocked signals also escape the kernel's rule that drops
	 * default-action signals sent to init.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGIO);
	sigprocmask(SIG_BLOCK, &set, NULL);

	/*
	 * /dev, /proc and /sys first: the stdio channels are found through them,
	 * and every later error is reported there. Failures wait until a channel
	 * is open. /dev/null before anything else is opened, so that nothing
	 * lands in a hole in fds 0-2 (see null_open).
	 */
	ret = mount_fs("/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	if (ret < 0 && !early_err)
		early_err = ret, early_what = "mount /dev";
	null_fd = null_open();
	if (null_fd < 0 && !early_err)
		early_err = null_fd, early_what = "open /dev/null";
	ret = mount_fs("/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (ret < 0 && !early_err)
		early_err = ret, early_what = "mount /proc";
	ret = mount_fs("/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (ret < 0 && !early_err)
		early_err = ret, early_what = "mount /sys";

	/* The spec says whether stdin and a terminal are wanted. */
	ret = read_small(COCOON_SPEC_PATH, spec_buf, COCOON_SPEC_MAX, &len);
	spec_err = ret < 0 ? ret : spec_parse(&spec, spec_buf, len);

	stdio_open(&io, null_fd, spec_err == 0 && spec.tty,
	           spec_err == 0 && spec.stdin_open);
	if (io_err < 0)
		say("ioperm: ", strerror(-io_err), ": no boot marks, no exit status",
		    NULL);
	if (early_err < 0)
		fail(early_what, -early_err);
	if (ret < 0)
		fail("read " COCOON_SPEC_PATH, -ret);
	if (spec_err < 0) {
		say("bad " COCOON_SPEC_PATH ": ", spec.error, NULL);
		finish(COCOON_STATUS_INIT_FAILED);
	}

	/* /tmp and the /dev submounts move into the container's root with /dev. */
	ret = mount_fs("/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	if (ret < 0)
		fail("mount /tmp", -ret);
	/* Optional: without UNIX98 ptys, workloads that need no pty still run.
	 * A spec mount there replaces ours (rather than hiding it). */
	if (!mounts_cover(&spec, "/dev/pts"))
		(void)!mount_fs("/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		                "ptmxmode=0666,mode=0620,gid=5");
	/* What runc gives every container: /dev/shm, and the /dev/fd and
	 * /dev/std* links that scripts write to. Failures are harmless. */
	if (!mounts_cover(&spec, "/dev/shm") &&
	    mount_fs("/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		say("mount /dev/shm failed", NULL);
	(void)!symlink("/proc/self/fd", "/dev/fd");
	(void)!symlink("/proc/self/fd/0", "/dev/stdin");
	(void)!symlink("/proc/self/fd/1", "/dev/stdout");
	(void)!symlink("/proc/self/fd/2", "/dev/stderr");

	/* Before the root switch: nothing here needs the image, and a bad
	 * address fails the run before anything is mounted read-write. */
	ret = net_setup(&spec, &what);
	if (ret < 0)
		fail(what, -ret);

	/* The shares that mounts bind from are attached in the initramfs,
	 * which has no path once the root is switched. */
	ret = mounts_prepare(&spec);
	if (ret < 0)
		fail("open /cocoon", -ret);
	if (spec.root || spec.root_fs) {
		enum rootfs_mode mode = spec.root_rw   ? ROOTFS_RW
		                        : spec.root_ro ? ROOTFS_RO
		                                       : ROOTFS_OVERLAY;

		ret = rootfs_enter(spec.root, spec.root_fs, mode, &what);
		if (ret < 0) {
			say(what, ": ", spec.root ? spec.root : spec.root_fs, ": ",
			    strerror(-ret), NULL);
			finish(COCOON_STATUS_INIT_FAILED);
		}
		root_rw = spec.root_rw;
		ret = spec.etc_files ? rootfs_write_identity(spec.hostname, spec.net_addr, &what)
		                     : 0;
		if (ret < 0)
			fail(what, -ret);
		ret = spec.etc_files ? net_write_resolv(&spec, &what) : 0;
		if (ret < 0)
			fail(what, -ret);
	}
	for (size_t i = 0; i < spec.nvolumes; i++) {
		const struct spec_volume *v = &spec.volumes[i];

		ret = rootfs_mount_volume(v->tag, v->tag_len, v->dir, v->read_only, &what);
		if (ret < 0) {
			say(what, ": ", v->dir, ": ", strerror(-ret), NULL);
			finish(COCOON_STATUS_INIT_FAILED);
		}
	}
	ret = mounts_apply(&spec, &bad_mount, &what);
	if (ret < 0) {
		say(what, ": ", spec.mounts[bad_mount].dest, ": ", strerror(-ret), NULL);
		finish(COCOON_STATUS_INIT_FAILED);
	}
	/* Last: the mount points and /etc files above were made in the root. */
	if ((spec.root || spec.root_fs) && spec.root_ro && (ret = rootfs_seal()) < 0)
		fail("remount / read-only", -ret);
	if (spec.hostname && sethostname(spec.hostname, strlen(spec.hostname)) < 0)
		fail("sethostname", errno);

	rlimits_parse();
	w = (struct workload){
	    .spec = &spec,
	    .stdin_fd = io.in,
	    .stdout_fd = io.out,
	    .stderr_fd = io.err,
	    .ctty = io.ctty,
	    .rlimits = rlimits,
	    .nrlimits = spec.nrlimits,
	};
	w.user = user_setup();

	sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig_fd < 0)
		fail("signalfd", errno);
	/* CLOEXEC: execve closes the write end, so EOF means the workload started. */
	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		fail("pipe", errno);

	child = fork();
	if (child < 0)
		fail("fork", errno);
	if (child == 0) {
		rep.err = 0;
		rep.index = 0;
		rep.stage = (int)workload_exec(&w, &rep.err, &rep.index);
		/* Atomic (< PIPE_BUF); if lost, the exit status still tells. */
		ssize_t wr = write(pipe_fds[1], &rep, sizeof(rep));
		(void)wr;
		_exit(status_from_start_failure(rep.stage, rep.err));
	}

	/*
	 * Only the child needs these. We keep our message channel (the stderr
	 * port or ttyS1) and the control port; closing the rest lets the host
	 * see EOF once the workload and its descendants are done with them.
	 */
	close(pipe_fds[1]);
	close_unless_kept(io.in, -1, -1);
	close_unless_kept(io.out, io.in, -1);
	close_unless_kept(io.err, io.in, io.out);
	close_unless_kept(io.spare, -1, -1);
	if (null_fd != io.in)
		close(null_fd);
	for (;;) {
		ssize_t n = read(pipe_fds[0], &rep, sizeof(rep));

		if (n < 0 && errno == EINTR)
			continue;
		if (n == (ssize_t)sizeof(rep)) {
			report_start_failure(&rep);
			forced = status_from_start_failure(rep.stage, rep.err);
		}
		break;
	}
	close(pipe_fds[0]);

	status = supervise(child, sig_fd, io.ctl);
	hostio_mark(COCOON_MARK_WORKLOAD_EXIT);
	finish(forced >= 0 ? forced : status);
}
