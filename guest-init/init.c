/* SPDX-License-Identifier: MIT */
/*
 * guest-init: PID 1 of a cocoon microVM. Mounts the kernel filesystems,
 * reads the job spec, runs the workload with ttyS1 as its stdout/stderr,
 * reaps every process and reports the workload's status to the VMM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "abi.h"
#include "hostio.h"
#include "spec.h"
#include "status.h"
#include "workload.h"

#define WORKLOAD_TTY "/dev/ttyS1"

/* What the workload child sends up the exec pipe when it cannot start. */
struct start_report {
	int stage; /* enum start_failure */
	int err;   /* errno */
};

/* In BSS, so only the pages the spec really uses are ever touched. */
static char spec_buf[COCOON_SPEC_MAX + 1];
static struct spec spec;

/* Where our own messages go: the console the kernel gave us, then ttyS1 once open. */
static int msg_fd = 2;
static int tty_fd = -1;

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

/* Report status to the VMM and stop the machine. Never returns: PID 1 must not exit. */
__attribute__((noreturn)) static void finish(int status)
{
	/* The VM stops at the exit write: output still queued in the tty is lost. */
	if (tty_fd >= 0)
		(void)tcdrain(tty_fd);
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
__attribute__((warn_unused_result)) static int tty_open(const char *path)
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

/* Read the whole spec file; one byte of room past the cap tells a too-big file. */
__attribute__((warn_unused_result)) static int spec_read(size_t *len)
{
	size_t n = 0;
	int fd = open(COCOON_SPEC_PATH, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n < sizeof(spec_buf)) {
		ssize_t r = read(fd, spec_buf + n, sizeof(spec_buf) - n);

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
	if (n > COCOON_SPEC_MAX)
		return -EFBIG;
	*len = n;
	return 0;
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
	default:
		say("starting the workload: ", err, NULL);
		break;
	}
}

/* Pass a signal on to the workload's process group (to the child alone before its
 * setsid()). */
static void forward(pid_t child, int sig)
{
	if (kill(-child, sig) < 0 && errno == ESRCH)
		(void)kill(child, sig);
}

/*
 * The PID 1 loop: every orphan in the VM is reparented to us, so reap all
 * of them, and forward termination signals, until the workload itself
 * exits. Returns its status.
 */
static int supervise(pid_t child, const sigset_t *set)
{
	for (;;) {
		int sig = sigwaitinfo(set, NULL);

		if (sig < 0)
			continue; /* EINTR only: every signal we wait for is blocked */
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
			/* Cannot happen while the child is unreaped; never spin on it. */
			if (pid < 0 && errno == ECHILD)
				return COCOON_STATUS_INIT_FAILED;
			if (pid <= 0)
				break;
		}
	}
}

int main(void)
{
	int io_err = hostio_open();
	struct start_report rep;
	int status, forced = -1;
	int null_fd, pipe_fds[2];
	sigset_t set;
	size_t len = 0;
	pid_t child;
	int ret;

	hostio_mark(COCOON_MARK_INIT_START);

	/*
	 * Blocked from the start and taken with sigwaitinfo(): a signal that
	 * arrives during setup stays pending and is forwarded once the workload
	 * runs. Blocked signals also escape the kernel's rule that drops
	 * default-action signals sent to init.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);

	/*
	 * /dev first: its ttyS1 is where every later error is reported.
	 * /dev/null before the tty, so that the tty cannot land in a hole in
	 * fds 0-2 (see null_open).
	 */
	ret = mount_fs("/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	null_fd = null_open();
	tty_fd = tty_open(WORKLOAD_TTY);
	if (tty_fd >= 0)
		msg_fd = tty_fd;
	if (io_err < 0)
		say("ioperm: ", strerror(-io_err), ": no boot marks, no exit status",
		    NULL);
	if (ret < 0)
		fail("mount /dev", -ret);
	if (null_fd < 0)
		fail("open /dev/null", -null_fd);
	if (tty_fd < 0)
		fail("open " WORKLOAD_TTY, -tty_fd);

	ret = mount_fs("/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (ret < 0)
		fail("mount /proc", -ret);
	ret = mount_fs("/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (ret < 0)
		fail("mount /sys", -ret);
	ret = mount_fs("/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	if (ret < 0)
		fail("mount /tmp", -ret);
	ret = mount_fs("/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	               "ptmxmode=0666,mode=0620,gid=5");
	if (ret < 0) {
		/* Optional: without UNIX98 ptys, workloads that need no pty still run. */
	}
	/* What runc gives every container: /dev/shm, and the /dev/fd and
	 * /dev/std* links that scripts write to. Failures are harmless. */
	if (mount_fs("/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		say("mount /dev/shm failed", NULL);
	(void)!symlink("/proc/self/fd", "/dev/fd");
	(void)!symlink("/proc/self/fd/0", "/dev/stdin");
	(void)!symlink("/proc/self/fd/1", "/dev/stdout");
	(void)!symlink("/proc/self/fd/2", "/dev/stderr");

	ret = spec_read(&len);
	if (ret < 0)
		fail("read " COCOON_SPEC_PATH, -ret);
	if (spec_parse(&spec, spec_buf, len) < 0) {
		say("bad " COCOON_SPEC_PATH ": ", spec.error, NULL);
		finish(COCOON_STATUS_INIT_FAILED);
	}
	if (spec.hostname && sethostname(spec.hostname, strlen(spec.hostname)) < 0)
		fail("sethostname", errno);

	/* CLOEXEC: execve closes the write end, so EOF means the workload started. */
	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		fail("pipe", errno);

	child = fork();
	if (child < 0)
		fail("fork", errno);
	if (child == 0) {
		rep.err = 0;
		rep.stage = (int)workload_exec(&spec, null_fd, tty_fd, &rep.err);
		/* Atomic (< PIPE_BUF); if lost, the exit status still tells. */
		ssize_t w = write(pipe_fds[1], &rep, sizeof(rep));
		(void)w;
		_exit(status_from_start_failure(rep.stage, rep.err));
	}

	close(pipe_fds[1]);
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

	status = supervise(child, &set);
	hostio_mark(COCOON_MARK_WORKLOAD_EXIT);
	finish(forced >= 0 ? forced : status);
}
