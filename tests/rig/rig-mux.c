// SPDX-License-Identifier: MIT
/*
 * rig-mux: carries one command's stdio, exit status and signals between the
 * caller of tests/rig/kvm-exec and the emulated host (a QEMU TCG guest).
 *
 *   rig-mux host --rundir DIR [--moddir DIR] --qemu-argc N QEMU-ARGV... CMD [ARGS...]
 *       Runs on the caller's machine. Starts QEMU (argv given, N words) with
 *       one end of a socketpair as fd 3, which QEMU turns into a
 *       virtio-serial port; then speaks the protocol below on the other end.
 *       Exits with the command's status, or 125 when the rig fails.
 *
 *   rig-mux guest ROOT
 *       PID 1 of the emulated host, started by its init script once ROOT (the
 *       caller's "/", shared over 9p) and /dev are mounted. Finds the port,
 *       receives the command, runs it chrooted in ROOT, pumps its stdio.
 *
 * One ordered byte stream carries everything, so when the exit frame arrives
 * every byte the command wrote has arrived before it: no separate drain step.
 *
 * Frame: u8 type, 3 zero bytes, u32 payload length (little endian), payload.
 *
 * host -> guest                         guest -> host
 *   'A' one argv word                     'H' hello, u32 protocol version
 *   'E' one environment entry             'O' stdout bytes
 *   'D' working directory                 'R' stderr bytes
 *   'U' u32 umask                         'a' u32: stdin bytes consumed (credit)
 *   'L' rlimit: u32 resource, u64 cur,    'c' the command closed its stdin
 *       u64 max                           'Z' rig-side error text
 *   'N' host name                         'X' u32 exit status 0..255 (last frame)
 *   'M' modules tree for /lib/modules/$(uname -r)
 *   'F' u32 flags (FLAG_*)
 *   'T' u64 host CLOCK_REALTIME in ns (the rig's RTC only has seconds)
 *   'G' start the command
 *   'I' stdin bytes   'i' stdin EOF
 *   'K' u32 signal to forward to the command's process group
 *   'P' stdout reader is gone   'p' stderr reader is gone
 *
 * Stdin is credit-based: the host never has more than STDIN_WINDOW bytes in
 * flight, so the guest can always keep reading the port (signals and the
 * "reader gone" notices are never stuck behind stdin data it cannot place).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTO_VERSION 1u
#define HDR_LEN 8u
#define MAX_PAYLOAD (64u * 1024u)
#define STDIN_WINDOW (256u * 1024u)
#define ACK_EVERY (32u * 1024u)
#define PORT_NAME "cocoon.mux"
#define QEMU_FD 3 /* the socketpair end QEMU gets: -chardev socket,fd=3 */

#define FLAG_STDIN_NULL 1u /* caller's stdin is /dev/null or closed */
#define FLAG_MERGE_ERR 2u  /* caller's stdout and stderr are the same file */

#define EXIT_RIG 125

/* ---------------------------------------------------------------- utilities */

static const char *prog = "kvm-exec";

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	char line[1024];
	size_t len, room;
	va_list ap;
	ssize_t w;
	int n;

	n = snprintf(line, sizeof(line), "%s: ", prog);
	len = n > 0 ? (size_t)n : 0;
	room = sizeof(line) - len - 1; /* keep one byte for the newline */
	va_start(ap, fmt);
	n = vsnprintf(line + len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < room ? (size_t)n : room - 1;
	line[len++] = '\n';
	/* One write, so a line from us never interleaves with command output. */
	w = write(2, line, len);
	(void)w;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	(void)fcntl(fd, F_SETFL, fl);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		msg("out of memory");
		exit(EXIT_RIG);
	}
	return q;
}

/* Growable byte buffer: bytes [off, len) are pending. */
struct buf {
	unsigned char *p;
	size_t off, len, cap;
};

static size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->off && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (b->len + more <= b->cap)
		return;
	if (b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return;
	}
	while (b->cap < b->len + more)
		b->cap = b->cap ? b->cap * 2 : 64 * 1024;
	b->p = xrealloc(b->p, b->cap);
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

static void frame_add(struct buf *b, int type, const void *data, size_t n)
{
	unsigned char h[HDR_LEN] = { (unsigned char)type, 0, 0, 0, 0, 0, 0, 0 };

	put32(h + 4, (uint32_t)n);
	buf_add(b, h, HDR_LEN);
	if (n)
		buf_add(b, data, n);
}

static void frame_add32(struct buf *b, int type, uint32_t v)
{
	unsigned char p[4];

	put32(p, v);
	frame_add(b, type, p, 4);
}

/* Write pending bytes of b to fd (non-blocking fd). Returns -1 on a hard error. */
static int buf_flush(struct buf *b, int fd)
{
	while (buf_used(b)) {
		ssize_t n = write(fd, b->p + b->off, buf_used(b));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		buf_consume(b, (size_t)n);
	}
	return 0;
}

/* Next complete frame in b, or 0. *type, *payload, *len describe it; call
 * buf_consume(b, HDR_LEN + len) when done. Returns -1 on a malformed frame. */
static int frame_next(struct buf *b, int *type, unsigned char **payload, uint32_t *len)
{
	unsigned char *h = b->p + b->off;

	if (buf_used(b) < HDR_LEN)
		return 0;
	*len = get32(h + 4);
	if (*len > MAX_PAYLOAD && h[0] != 'A' && h[0] != 'E' && h[0] != 'D' && h[0] != 'M' &&
	    h[0] != 'Z')
		return -1;
	if (*len > 16u * 1024 * 1024)
		return -1;
	if (buf_used(b) < HDR_LEN + *len)
		return 0;
	*type = h[0];
	*payload = h + HDR_LEN;
	return 1;
}

/* Self-pipe for signals: handlers write the signal number, the loops read it. */
static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;
	ssize_t r = write(sig_pipe[1], &c, 1);

	(void)r;
	errno = saved;
}

static void make_sig_pipe(void)
{
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		msg("pipe: %s", strerror(errno));
		exit(EXIT_RIG);
	}
}

static void catch_signal(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocking writes must return so the loop runs */
	sigaction(sig, &sa, NULL);
}

static void default_signals(void)
{
	sigset_t none;
	int s;

	for (s = 1; s < NSIG; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		signal(s, SIG_DFL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---------------------------------------------------------------- host side */

struct host {
	int sock;             /* our end of the socketpair; QEMU holds the other */
	pid_t qemu;
	int qemu_status;
	int qemu_exited;
	const char *rundir;
	const char *moddir; /* rig kernel's modules tree, for /lib/modules in the rig */
	int debug;
	int keep;

	struct buf in;  /* frames from the guest */
	struct buf out; /* frames to the guest */

	int started;    /* 'G' sent */
	int stdin_open; /* still forwarding fd 0 */
	uint32_t credit;
	unsigned flags;
	int out_dead, err_dead;

	/* A payload being written to fd 1 or 2 (kept in `in`, not yet consumed). */
	int pend_fd;
	size_t pend_frame; /* HDR_LEN + payload length to consume when done */
	size_t pend_done;
	uint32_t pend_len;

	int send_config_now; /* 'H' arrived: send the command */
	uint64_t t_start, t_hello, t_exit; /* for COCOON_RIG_DEBUG timings */
	int have_status;
	int status;
	int got_signal; /* first forwarded signal */
	uint64_t grace_deadline;
};

static void host_usage(void)
{
	fprintf(stderr, "usage: rig-mux host --rundir DIR [--moddir DIR] --qemu-argc N QEMU... CMD [ARGS...]\n");
	exit(EXIT_RIG);
}

static void dump_file(const char *dir, const char *name, size_t tail)
{
	char path[PATH_MAX];
	char buf[8192];
	struct stat st;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		if (tail && (size_t)st.st_size > tail) {
			(void)lseek(fd, st.st_size - (off_t)tail, SEEK_SET);
			dprintf(2, "--- %s (last %zu bytes) ---\n", name, tail);
		} else {
			dprintf(2, "--- %s ---\n", name);
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			ssize_t w = write(2, buf, (size_t)n);
			(void)w;
		}
		dprintf(2, "--- end of %s ---\n", name);
	}
	close(fd);
}

static void host_cleanup_rundir(struct host *h)
{
	static const char *const files[] = { "console.log", "qemu.log", "pid", NULL };
	char path[PATH_MAX];
	int i;

	if (!h->rundir)
		return;
	if (h->keep) {
		/* Without its pid file, later runs do not sweep it away. */
		snprintf(path, sizeof(path), "%s/pid", h->rundir);
		(void)unlink(path);
		msg("rig files kept in %s", h->rundir);
		return;
	}
	for (i = 0; files[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", h->rundir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(h->rundir);
}

/* Stop QEMU (and anything in its session) and reap it. */
static void host_stop_qemu(struct host *h)
{
	uint64_t deadline;

	if (h->qemu <= 0 || h->qemu_exited)
		return;
	(void)kill(-h->qemu, SIGTERM);
	(void)kill(h->qemu, SIGTERM);
	deadline = now_ms() + 3000;
	for (;;) {
		pid_t r = waitpid(h->qemu, &h->qemu_status, WNOHANG);

		if (r == h->qemu || (r < 0 && errno == ECHILD))
			break;
		if (now_ms() >= deadline) {
			(void)kill(-h->qemu, SIGKILL);
			(void)kill(h->qemu, SIGKILL);
			(void)waitpid(h->qemu, &h->qemu_status, 0);
			break;
		}
		usleep(10 * 1000);
	}
	h->qemu_exited = 1;
}

static void host_finish(struct host *h, int code) __attribute__((noreturn));
static void host_finish(struct host *h, int code)
{
	host_stop_qemu(h);
	if (h->debug) {
		if (h->t_hello)
			msg("rig up after %llu ms", (unsigned long long)(h->t_hello - h->t_start));
		if (h->t_exit)
			msg("command done after %llu ms; rig stopped after %llu ms",
			    (unsigned long long)(h->t_exit - h->t_start),
			    (unsigned long long)(now_ms() - h->t_start));
		dump_file(h->rundir, "qemu.log", 0);
		dump_file(h->rundir, "console.log", 0);
	}
	host_cleanup_rundir(h);
	exit(code);
}

static void host_fail(struct host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void host_fail(struct host *h, const char *fmt, ...)
{
	char text[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	msg("%s (exit status 125)", text);
	if (!h->debug) {
		/* The rig failed: its logs are the only clue, show them (before
		 * stopping QEMU, so they do not end with our own SIGTERM). */
		dump_file(h->rundir, "qemu.log", 4000);
		dump_file(h->rundir, "console.log", 8000);
	}
	host_finish(h, EXIT_RIG);
}

static pid_t host_spawn_qemu(struct host *h, int qemu_sock, char **qargv)
{
	char path[PATH_MAX];
	pid_t parent = getpid();
	pid_t pid;
	int logfd;

	snprintf(path, sizeof(path), "%s/qemu.log", h->rundir);
	logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		msg("cannot create %s: %s (exit status 125)", path, strerror(errno));
		exit(EXIT_RIG);
	}
	pid = fork();
	if (pid < 0) {
		msg("fork: %s (exit status 125)", strerror(errno));
		exit(EXIT_RIG);
	}
	if (pid == 0) {
		int nullfd;

		/* Own session: a terminal's ^C reaches kvm-exec, which forwards it
		 * to the command; it must not kill the rig underneath. */
		(void)setsid();
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		default_signals();
		nullfd = open("/dev/null", O_RDONLY);
		if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		if (qemu_sock == QEMU_FD)
			(void)fcntl(QEMU_FD, F_SETFD, 0);
		else if (dup2(qemu_sock, QEMU_FD) < 0)
			_exit(127);
		/* dup2 cleared FD_CLOEXEC on QEMU_FD; everything else we opened has it. */
		execvp(qargv[0], qargv);
		dprintf(2, "exec %s: %s\n", qargv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	return pid;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int stdin_is_null(void)
{
	struct stat st;

	if (fstat(0, &st) < 0)
		return 1;
	return S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

static void host_send_config(struct host *h, char **cmd)
{
	extern char **environ;
	char cwd[PATH_MAX];
	struct utsname uts;
	mode_t mask;
	char **e;
	int r;

	for (; *cmd; cmd++)
		frame_add(&h->out, 'A', *cmd, strlen(*cmd));
	for (e = environ; *e; e++)
		frame_add(&h->out, 'E', *e, strlen(*e));
	if (!getcwd(cwd, sizeof(cwd)))
		host_fail(h, "cannot determine the working directory: %s", strerror(errno));
	frame_add(&h->out, 'D', cwd, strlen(cwd));
	mask = umask(022);
	umask(mask);
	frame_add32(&h->out, 'U', (uint32_t)mask);
	for (r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit rl;
		unsigned char p[20];

		if (getrlimit(r, &rl) < 0)
			continue;
		put32(p, (uint32_t)r);
		put64(p + 4, (uint64_t)rl.rlim_cur);
		put64(p + 12, (uint64_t)rl.rlim_max);
		frame_add(&h->out, 'L', p, sizeof(p));
	}
	if (uname(&uts) == 0)
		frame_add(&h->out, 'N', uts.nodename, strlen(uts.nodename));
	if (h->moddir && *h->moddir)
		frame_add(&h->out, 'M', h->moddir, strlen(h->moddir));
	frame_add32(&h->out, 'F', h->flags);
	{
		struct timespec ts;
		unsigned char p[8];

		clock_gettime(CLOCK_REALTIME, &ts);
		put64(p, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
		frame_add(&h->out, 'T', p, sizeof(p));
	}
	frame_add(&h->out, 'G', NULL, 0);
	h->started = 1;
}

/* Write as much of the pending stdout/stderr payload as the fd takes without
 * us losing control for long (a signal or the 1 s tick interrupts a blocked
 * write). Returns 1 when the payload is done. */
static int host_write_pending(struct host *h)
{
	unsigned char *payload = h->in.p + h->in.off + HDR_LEN;
	int fd = h->pend_fd;

	while (h->pend_done < h->pend_len) {
		ssize_t n;
		int dead = fd == 1 ? h->out_dead : h->err_dead;

		if (dead) {
			h->pend_done = h->pend_len;
			break;
		}
		n = write(fd, payload + h->pend_done, h->pend_len - h->pend_done);
		if (n > 0) {
			h->pend_done += (size_t)n;
			if (h->pend_done < h->pend_len)
				return 0; /* short write: let the loop look at signals first */
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return 0;
		/* EPIPE (SIGPIPE is ignored here) or any other error: the reader is
		 * gone. Tell the guest so the command gets SIGPIPE like it would. */
		if (fd == 1 || (h->flags & FLAG_MERGE_ERR)) {
			if (!h->out_dead)
				frame_add(&h->out, 'P', NULL, 0);
			h->out_dead = 1;
		}
		if (fd == 2 || (h->flags & FLAG_MERGE_ERR)) {
			if (!h->err_dead)
				frame_add(&h->out, 'p', NULL, 0);
			h->err_dead = 1;
		}
	}
	buf_consume(&h->in, h->pend_frame);
	h->pend_fd = -1;
	return 1;
}

/* Handle complete frames from the guest until one needs fd 1/2 to drain. */
static void host_handle_frames(struct host *h)
{
	for (;;) {
		unsigned char *p;
		uint32_t len;
		int type, r;

		if (h->pend_fd >= 0 && !host_write_pending(h))
			return;
		if (h->have_status)
			return;
		r = frame_next(&h->in, &type, &p, &len);
		if (r < 0)
			host_fail(h, "rig protocol error (bad frame from the guest)");
		if (r == 0)
			return;
		switch (type) {
		case 'H':
			if (len != 4 || get32(p) != PROTO_VERSION)
				host_fail(h, "rig protocol version mismatch");
			buf_consume(&h->in, HDR_LEN + len);
			if (!h->started)
				h->send_config_now = 1;
			h->t_hello = now_ms();
			continue;
		case 'O':
		case 'R':
			h->pend_fd = (type == 'O' || (h->flags & FLAG_MERGE_ERR)) ? 1 : 2;
			h->pend_frame = HDR_LEN + len;
			h->pend_len = len;
			h->pend_done = 0;
			continue;
		case 'a':
			if (len == 4)
				h->credit += get32(p);
			if (h->credit > STDIN_WINDOW)
				host_fail(h, "rig protocol error (stdin credit)");
			break;
		case 'c':
			h->stdin_open = 0;
			break;
		case 'Z':
			msg("%.*s", (int)len, (const char *)p);
			break;
		case 'X':
			if (len != 4)
				host_fail(h, "rig protocol error (exit frame)");
			h->status = (int)(get32(p) & 0xff);
			h->have_status = 1;
			h->t_exit = now_ms();
			break;
		default:
			host_fail(h, "rig protocol error (frame type %d)", type);
		}
		buf_consume(&h->in, HDR_LEN + len);
	}
}

static long env_seconds(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n <= 0) {
		msg("ignoring %s=%s (not a positive number of seconds)", name, v);
		return def;
	}
	return n;
}

static int is_terminating(int sig)
{
	return sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT;
}

static int host_main(int argc, char **argv)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct host hh;
	struct host *h = &hh;
	struct itimerval tick;
	char **qargv, **cmd;
	long qargc = -1, timeout_s, boot_s;
	uint64_t start, boot_deadline, deadline;
	int sv[2], i, sock_eof = 0;

	memset(h, 0, sizeof(*h));
	h->pend_fd = -1;
	h->credit = STDIN_WINDOW;
	for (i = 0; i < argc;) {
		if (strcmp(argv[i], "--rundir") == 0 && i + 1 < argc) {
			h->rundir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--moddir") == 0 && i + 1 < argc) {
			h->moddir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--qemu-argc") == 0 && i + 1 < argc) {
			qargc = strtol(argv[i + 1], NULL, 10);
			i += 2;
		} else {
			break;
		}
	}
	if (!h->rundir || qargc <= 0 || argc - i < qargc + 1)
		host_usage();
	qargv = calloc((size_t)qargc + 1, sizeof(*qargv));
	if (!qargv)
		exit(EXIT_RIG);
	memcpy(qargv, argv + i, (size_t)qargc * sizeof(*qargv));
	cmd = argv + i + qargc;

	h->debug = getenv("COCOON_RIG_DEBUG") && strcmp(getenv("COCOON_RIG_DEBUG"), "1") == 0;
	h->keep = h->debug;
	timeout_s = env_seconds("COCOON_RIG_TIMEOUT", 3600);
	boot_s = env_seconds("COCOON_RIG_BOOT_TIMEOUT", 300);

	if (stdin_is_null())
		h->flags |= FLAG_STDIN_NULL;
	else
		h->stdin_open = 1;
	if (same_file(1, 2))
		h->flags |= FLAG_MERGE_ERR;
	/* With 0, 1 or 2 closed, our own pipes would take those numbers and
	 * the command's output would land in them: plug the holes first. */
	for (i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) < 0 && open("/dev/null", i ? O_WRONLY : O_RDONLY) != i) {
			msg("cannot open /dev/null (exit status 125)");
			exit(EXIT_RIG);
		}
	}

	make_sig_pipe();
	for (i = 0; i < (int)(sizeof(forwarded) / sizeof(forwarded[0])); i++)
		catch_signal(forwarded[i]);
	catch_signal(SIGCHLD);
	catch_signal(SIGALRM);
	signal(SIGPIPE, SIG_IGN);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		msg("socketpair: %s (exit status 125)", strerror(errno));
		exit(EXIT_RIG);
	}
	h->t_start = now_ms();
	h->qemu = host_spawn_qemu(h, sv[1], qargv);
	close(sv[1]);
	h->sock = sv[0];
	set_nonblock(h->sock, 1);

	/* A 1 s tick: a write to a stuck stdout reader returns EINTR at least
	 * that often, so deadlines and signals are still honoured. */
	memset(&tick, 0, sizeof(tick));
	tick.it_interval.tv_sec = 1;
	tick.it_value.tv_sec = 1;
	setitimer(ITIMER_REAL, &tick, NULL);

	start = now_ms();
	boot_deadline = start + (uint64_t)boot_s * 1000u;
	deadline = start + (uint64_t)timeout_s * 1000u;

	for (;;) {
		struct pollfd pf[4];
		int npf = 0, ip_sig, ip_sock = -1, ip_out = -1, ip_in = -1, r;
		uint64_t t = now_ms(), wake;

		host_handle_frames(h);
		if (h->send_config_now) {
			h->send_config_now = 0;
			host_send_config(h, cmd);
		}
		if (h->have_status && h->pend_fd < 0)
			break;
		if (buf_flush(&h->out, h->sock) < 0 && !h->have_status)
			sock_eof = 1;
		if (sock_eof && h->pend_fd < 0) {
			int st;

			/* Everything QEMU sent is handled and no exit frame came. */
			if (!h->qemu_exited && waitpid(h->qemu, &st, WNOHANG) == h->qemu) {
				h->qemu_status = st;
				h->qemu_exited = 1;
			}
			if (!h->qemu_exited) {
				/* Give QEMU a moment to exit on its own for a clear status. */
				usleep(200 * 1000);
				if (waitpid(h->qemu, &st, WNOHANG) == h->qemu) {
					h->qemu_status = st;
					h->qemu_exited = 1;
				}
			}
			if (h->qemu_exited && WIFEXITED(h->qemu_status))
				host_fail(h, "the rig stopped before the command finished (QEMU exit status %d)",
					  WEXITSTATUS(h->qemu_status));
			if (h->qemu_exited && WIFSIGNALED(h->qemu_status))
				host_fail(h, "the rig stopped before the command finished (QEMU killed by signal %d)",
					  WTERMSIG(h->qemu_status));
			host_fail(h, "the rig closed its channel before the command finished");
		}

		if (!h->started && t >= boot_deadline)
			host_fail(h, "the rig did not come up within %ld s (COCOON_RIG_BOOT_TIMEOUT)", boot_s);
		if (t >= deadline)
			host_fail(h, "timed out after %ld s (COCOON_RIG_TIMEOUT)", timeout_s);
		if (h->got_signal && t >= h->grace_deadline)
			host_finish(h, 128 + h->got_signal);

		ip_sig = npf;
		pf[npf].fd = sig_pipe[0];
		pf[npf++].events = POLLIN;
		if (!sock_eof) {
			short ev = 0;

			if (h->pend_fd < 0)
				ev |= POLLIN;
			if (buf_used(&h->out))
				ev |= POLLOUT;
			if (ev) {
				ip_sock = npf;
				pf[npf].fd = h->sock;
				pf[npf++].events = ev;
			}
		}
		if (h->pend_fd >= 0) {
			ip_out = npf;
			pf[npf].fd = h->pend_fd;
			pf[npf++].events = POLLOUT;
		}
		if (h->started && h->stdin_open && h->credit > 0 && !h->have_status &&
		    buf_used(&h->out) < 2 * MAX_PAYLOAD) {
			ip_in = npf;
			pf[npf].fd = 0;
			pf[npf++].events = POLLIN;
		}

		wake = deadline;
		if (!h->started && boot_deadline < wake)
			wake = boot_deadline;
		if (h->got_signal && h->grace_deadline < wake)
			wake = h->grace_deadline;
		r = poll(pf, (nfds_t)npf, wake > t ? (int)(wake - t < 60000 ? wake - t : 60000) : 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			host_fail(h, "poll: %s", strerror(errno));
		}

		if (pf[ip_sig].revents) {
			unsigned char sigs[64];
			ssize_t n = read(sig_pipe[0], sigs, sizeof(sigs));

			for (i = 0; i < n; i++) {
				int sig = sigs[i];

				if (sig == SIGALRM)
					continue;
				if (sig == SIGCHLD) {
					int st;

					if (!h->qemu_exited && waitpid(h->qemu, &st, WNOHANG) == h->qemu) {
						h->qemu_status = st;
						h->qemu_exited = 1;
					}
					continue;
				}
				if (!h->started || h->have_status) {
					/* Nothing runs yet (or any more): just stop. */
					host_finish(h, 128 + sig);
				}
				if (is_terminating(sig) && h->got_signal)
					host_finish(h, 128 + sig); /* asked twice: stop now */
				frame_add32(&h->out, 'K', (uint32_t)sig);
				if (is_terminating(sig)) {
					h->got_signal = sig;
					h->grace_deadline = now_ms() + 5000;
				}
			}
		}
		if (ip_sock >= 0 && (pf[ip_sock].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n;

			buf_reserve(&h->in, MAX_PAYLOAD + HDR_LEN);
			n = read(h->sock, h->in.p + h->in.len, h->in.cap - h->in.len);
			if (n > 0)
				h->in.len += (size_t)n;
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				sock_eof = 1;
		}
		if (ip_in >= 0 && pf[ip_in].revents) {
			unsigned char data[MAX_PAYLOAD];
			size_t want = h->credit < MAX_PAYLOAD ? h->credit : MAX_PAYLOAD;
			ssize_t n = read(0, data, want);

			if (n > 0) {
				frame_add(&h->out, 'I', data, (size_t)n);
				h->credit -= (uint32_t)n;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				frame_add(&h->out, 'i', NULL, 0);
				h->stdin_open = 0;
			}
		}
		/* ip_out: host_handle_frames retries the pending write at the top. */
		(void)ip_out;
		if (h->qemu_exited && !sock_eof) {
			/* QEMU is gone; its end of the socket is closed too, so the
			 * next read returns EOF after any data still buffered. */
		}
	}
	host_finish(h, h->status);
}

/* ---------------------------------------------------------------- guest side */

struct guest {
	int port;
	struct buf in, out, stdin_q;
	int in_w, out_r, err_r;
	int stdin_eof;
	uint32_t unacked;
	pid_t child;
	int child_done;
	int status;

	char **argv;
	size_t argc;
	char **envp;
	size_t envc;
	char *cwd;
	char *hostname;
	char *moddir;
	mode_t mask;
	unsigned flags;
	struct {
		int res;
		struct rlimit rl;
	} lim[64];
	int nlim;
};

static void guest_reboot(void) __attribute__((noreturn));
static void guest_reboot(void)
{
	sync();
	if (getpid() == 1)
		reboot(RB_AUTOBOOT);
	exit(EXIT_RIG);
}

static int guest_open_port(void)
{
	uint64_t deadline = now_ms() + 10000;

	for (;;) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[512], name[64];
			ssize_t n;
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, name, sizeof(name) - 1);
			close(fd);
			if (n <= 0)
				continue;
			name[n] = 0;
			if (name[n - 1] == '\n')
				name[n - 1] = 0;
			if (strcmp(name, PORT_NAME) != 0)
				continue;
			snprintf(path, sizeof(path), "/dev/%s", de->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
			if (fd >= 0) {
				closedir(d);
				return fd;
			}
		}
		if (d)
			closedir(d);
		if (now_ms() >= deadline) {
			msg("virtio-serial port %s not found", PORT_NAME);
			return -1;
		}
		usleep(20 * 1000);
	}
}

/* Flush g->out to the port, waiting for room; gives up on a dead port. */
static int guest_flush_all(struct guest *g)
{
	while (buf_used(&g->out)) {
		struct pollfd pf = { .fd = g->port, .events = POLLOUT };

		if (buf_flush(&g->out, g->port) < 0)
			return -1;
		if (buf_used(&g->out) && poll(&pf, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

static char *dup_payload(const unsigned char *p, uint32_t len)
{
	char *s = xrealloc(NULL, (size_t)len + 1);

	memcpy(s, p, len);
	s[len] = 0;
	return s;
}

static void str_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* Receive the command description up to 'G'. Returns 0, or -1 on failure. */
static int guest_receive_config(struct guest *g)
{
	for (;;) {
		struct pollfd pf = { .fd = g->port, .events = POLLIN };
		unsigned char *p;
		uint32_t len;
		int type, r;
		ssize_t n;

		while ((r = frame_next(&g->in, &type, &p, &len)) > 0) {
			switch (type) {
			case 'A':
				str_push(&g->argv, &g->argc, dup_payload(p, len));
				break;
			case 'E':
				str_push(&g->envp, &g->envc, dup_payload(p, len));
				break;
			case 'D':
				free(g->cwd);
				g->cwd = dup_payload(p, len);
				break;
			case 'N':
				free(g->hostname);
				g->hostname = dup_payload(p, len);
				break;
			case 'M':
				free(g->moddir);
				g->moddir = dup_payload(p, len);
				break;
			case 'U':
				if (len == 4)
					g->mask = (mode_t)(get32(p) & 07777);
				break;
			case 'F':
				if (len == 4)
					g->flags = get32(p);
				break;
			case 'T':
				if (len == 8) {
					uint64_t ns = get64(p);
					struct timespec ts = {
						.tv_sec = (time_t)(ns / 1000000000u),
						.tv_nsec = (long)(ns % 1000000000u),
					};

					(void)clock_settime(CLOCK_REALTIME, &ts);
				}
				break;
			case 'L':
				if (len == 20 && g->nlim < 64) {
					g->lim[g->nlim].res = (int)get32(p);
					g->lim[g->nlim].rl.rlim_cur = (rlim_t)get64(p + 4);
					g->lim[g->nlim].rl.rlim_max = (rlim_t)get64(p + 12);
					g->nlim++;
				}
				break;
			case 'G':
				buf_consume(&g->in, HDR_LEN + len);
				return g->argc ? 0 : -1;
			default:
				/* Signals or stdin before 'G' cannot happen; the host
				 * waits for our hello and then sends the set-up first. */
				msg("unexpected frame %d during set-up", type);
				return -1;
			}
			buf_consume(&g->in, HDR_LEN + len);
		}
		if (r < 0) {
			msg("bad frame during set-up");
			return -1;
		}
		if (poll(&pf, 1, -1) < 0 && errno != EINTR)
			return -1;
		buf_reserve(&g->in, MAX_PAYLOAD + HDR_LEN);
		n = read(g->port, g->in.p + g->in.len, g->in.cap - g->in.len);
		if (n > 0)
			g->in.len += (size_t)n;
		else if (n == 0)
			return -1;
		else if (errno != EAGAIN && errno != EINTR)
			return -1;
	}
}

/* Make `moddir` (the rig kernel's modules, a host path) appear as
 * /lib/modules/$(uname -r) so modprobe works inside the rig. Best effort.
 * A caller without /lib/modules (a container) gets the tree under the
 * rig's private /run instead, and MODPROBE_OPTIONS pointing modprobe there. */
static void guest_setup_modules(struct guest *g, const char *moddir)
{
	static const char alt_root[] = "/run/rig-modroot";
	struct utsname uts;
	struct stat st;
	char target[512];

	if (uname(&uts) < 0 || stat(moddir, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	if (stat("/lib/modules", &st) < 0 || !S_ISDIR(st.st_mode)) {
		static char opt[] = "MODPROBE_OPTIONS=-d /run/rig-modroot";

		snprintf(target, sizeof(target), "%s/lib/modules/%s", alt_root, uts.release);
		if (mkdir(alt_root, 0755) < 0 || mkdir("/run/rig-modroot/lib", 0755) < 0 ||
		    mkdir("/run/rig-modroot/lib/modules", 0755) < 0 || mkdir(target, 0755) < 0 ||
		    mount(moddir, target, NULL, MS_BIND, NULL) < 0) {
			msg("bind %s on %s: %s", moddir, target, strerror(errno));
			return;
		}
		str_push(&g->envp, &g->envc, opt);
		return;
	}
	/* Only in the rig's mount table: the caller's /lib/modules is untouched. */
	if (mount("tmpfs", "/lib/modules", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		msg("mount tmpfs on /lib/modules: %s", strerror(errno));
		return;
	}
	snprintf(target, sizeof(target), "/lib/modules/%s", uts.release);
	if (mkdir(target, 0755) < 0 || mount(moddir, target, NULL, MS_BIND, NULL) < 0)
		msg("bind %s on %s: %s", moddir, target, strerror(errno));
}

/* The rig's /run is a fresh tmpfs: recreate the caller's XDG_RUNTIME_DIR
 * there (private, like the real one) so programs that put sockets in it work. */
static void guest_make_runtime_dir(const struct guest *g)
{
	static const char key[] = "XDG_RUNTIME_DIR=";
	char path[PATH_MAX];
	size_t i;
	char *p;

	for (i = 0; i < g->envc; i++) {
		if (strncmp(g->envp[i], key, sizeof(key) - 1) != 0)
			continue;
		snprintf(path, sizeof(path), "%s", g->envp[i] + sizeof(key) - 1);
		if (strncmp(path, "/run/", 5) != 0)
			return;
		for (p = path + 5; (p = strchr(p, '/')); p++) {
			*p = 0;
			(void)mkdir(path, 0755);
			*p = '/';
		}
		(void)mkdir(path, 0700);
		return;
	}
}

static void guest_child(struct guest *g, int in_r, int out_w, int err_w) __attribute__((noreturn));
static void guest_child(struct guest *g, int in_r, int out_w, int err_w)
{
	extern char **environ;
	int i, e;

	(void)setpgid(0, 0);
	if (in_r < 0)
		in_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in_r < 0 || dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		_exit(EXIT_RIG);
	/* Every other descriptor we hold is O_CLOEXEC. */
	umask(g->mask);
	for (i = 0; i < g->nlim; i++)
		(void)setrlimit(g->lim[i].res, &g->lim[i].rl);
	default_signals();
	environ = g->envp ? g->envp : (char *[]){ NULL };
	execvp(g->argv[0], g->argv);
	e = errno;
	dprintf(2, "kvm-exec: %s: %s\n", g->argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

static void guest_reap(struct guest *g)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid <= 0)
			return;
		if (pid == g->child && !g->child_done) {
			g->child_done = 1;
			if (WIFEXITED(st))
				g->status = WEXITSTATUS(st);
			else if (WIFSIGNALED(st))
				g->status = 128 + WTERMSIG(st);
			else
				g->status = EXIT_RIG;
		}
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Read one chunk from a command output pipe into an 'O'/'R' frame.
 * Closes the pipe at EOF, or when it is empty after the command exited. */
static void guest_pump_output(struct guest *g, int *fd, int type)
{
	unsigned char *h;
	ssize_t n;

	if (*fd < 0)
		return;
	buf_reserve(&g->out, HDR_LEN + MAX_PAYLOAD);
	h = g->out.p + g->out.len;
	n = read(*fd, h + HDR_LEN, MAX_PAYLOAD);
	if (n > 0) {
		h[0] = (unsigned char)type;
		h[1] = h[2] = h[3] = 0;
		put32(h + 4, (uint32_t)n);
		g->out.len += HDR_LEN + (size_t)n;
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR) || (errno == EAGAIN && g->child_done))
		close_fd(fd);
}

static int guest_main(const char *root)
{
	struct guest gg;
	struct guest *g = &gg;
	int in_p[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	int sent_exit = 0;

	prog = "rig-mux";
	memset(g, 0, sizeof(*g));
	g->in_w = g->out_r = g->err_r = -1;
	g->mask = 022;

	make_sig_pipe();
	catch_signal(SIGCHLD);
	signal(SIGPIPE, SIG_IGN);

	g->port = guest_open_port();
	if (g->port < 0)
		guest_reboot();
	frame_add32(&g->out, 'H', PROTO_VERSION);
	if (guest_flush_all(g) < 0 || guest_receive_config(g) < 0) {
		msg("no command received from the host");
		guest_reboot();
	}

	/*
	 * switch_root's way rather than a bare chroot: the shared tree is
	 * moved onto / first, so that the command's root is its mount
	 * namespace's root. The kernel refuses a user namespace to a
	 * chrooted process, and cocoon's sandbox makes one when not run as
	 * root (users' hosts allow it; the rig must too).
	 */
	if (chdir(root) == 0 && mount(root, "/", NULL, MS_MOVE, NULL) == 0)
		root = ".";
	if (chroot(root) < 0 || chdir("/") < 0) {
		char text[256];

		snprintf(text, sizeof(text), "rig: cannot enter %s: %s", root, strerror(errno));
		frame_add(&g->out, 'Z', text, strlen(text));
		frame_add32(&g->out, 'X', EXIT_RIG);
		(void)guest_flush_all(g);
		goto wait_host;
	}
	if (g->moddir)
		guest_setup_modules(g, g->moddir);
	guest_make_runtime_dir(g);
	if (g->hostname)
		(void)sethostname(g->hostname, strlen(g->hostname));
	if (!g->cwd || chdir(g->cwd) < 0) {
		char text[PATH_MAX + 128];

		snprintf(text, sizeof(text), "cannot enter the working directory %s inside the rig: %s",
			 g->cwd ? g->cwd : "(none)", strerror(errno));
		frame_add(&g->out, 'Z', text, strlen(text));
		frame_add32(&g->out, 'X', EXIT_RIG);
		(void)guest_flush_all(g);
		goto wait_host;
	}

	if ((!(g->flags & FLAG_STDIN_NULL) && pipe2(in_p, O_CLOEXEC) < 0) || pipe2(out_p, O_CLOEXEC) < 0 ||
	    (!(g->flags & FLAG_MERGE_ERR) && pipe2(err_p, O_CLOEXEC) < 0)) {
		msg("pipe: %s", strerror(errno));
		guest_reboot();
	}
	g->child = fork();
	if (g->child < 0) {
		msg("fork: %s", strerror(errno));
		guest_reboot();
	}
	if (g->child == 0)
		guest_child(g, in_p[0], out_p[1], err_p[1] >= 0 ? err_p[1] : out_p[1]);
	(void)setpgid(g->child, g->child);
	close_fd(&in_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	g->in_w = in_p[1];
	g->out_r = out_p[0];
	g->err_r = err_p[0];
	if (g->in_w >= 0)
		set_nonblock(g->in_w, 1);
	set_nonblock(g->out_r, 1);
	if (g->err_r >= 0)
		set_nonblock(g->err_r, 1);

	for (;;) {
		struct pollfd pf[5];
		int npf = 0, ip_port, ip_in = -1, ip_out = -1, ip_err = -1, ip_sig, r;
		unsigned char *p;
		uint32_t len;
		int type;

		/* Frames from the host. */
		while ((r = frame_next(&g->in, &type, &p, &len)) > 0) {
			switch (type) {
			case 'I':
				if (g->in_w >= 0)
					buf_add(&g->stdin_q, p, len);
				else
					g->unacked += len;
				break;
			case 'i':
				g->stdin_eof = 1;
				break;
			case 'K':
				if (len == 4 && !g->child_done)
					(void)kill(-g->child, (int)get32(p));
				break;
			case 'P':
				close_fd(&g->out_r);
				if (g->flags & FLAG_MERGE_ERR)
					close_fd(&g->err_r);
				break;
			case 'p':
				close_fd(&g->err_r);
				break;
			default:
				msg("unexpected frame %d", type);
				guest_reboot();
			}
			buf_consume(&g->in, HDR_LEN + len);
		}
		if (r < 0) {
			msg("bad frame from the host");
			guest_reboot();
		}

		/* The command's stdin. */
		if (g->in_w >= 0 && buf_used(&g->stdin_q)) {
			ssize_t n = write(g->in_w, g->stdin_q.p + g->stdin_q.off, buf_used(&g->stdin_q));

			if (n > 0) {
				buf_consume(&g->stdin_q, (size_t)n);
				g->unacked += (uint32_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* The command closed its stdin: drop what is queued and
				 * ask the host to stop reading for us. */
				g->unacked += (uint32_t)buf_used(&g->stdin_q);
				buf_consume(&g->stdin_q, buf_used(&g->stdin_q));
				close_fd(&g->in_w);
				frame_add(&g->out, 'c', NULL, 0);
			}
		}
		if (g->in_w >= 0 && g->stdin_eof && !buf_used(&g->stdin_q))
			close_fd(&g->in_w);
		if (g->unacked && (g->unacked >= ACK_EVERY || !buf_used(&g->stdin_q))) {
			frame_add32(&g->out, 'a', g->unacked);
			g->unacked = 0;
		}

		/* After the command exited, whatever it wrote is already in the
		 * pipes: empty them without waiting for more. */
		if (g->child_done) {
			while (g->out_r >= 0 && buf_used(&g->out) < 4 * MAX_PAYLOAD)
				guest_pump_output(g, &g->out_r, 'O');
			while (g->err_r >= 0 && buf_used(&g->out) < 4 * MAX_PAYLOAD)
				guest_pump_output(g, &g->err_r, 'R');
			if (g->out_r < 0 && g->err_r < 0 && !sent_exit) {
				/* Data written through the 9p share is on the host
				 * already; sync covers anything still cached here. */
				sync();
				frame_add32(&g->out, 'X', (uint32_t)g->status);
				sent_exit = 1;
			}
		}

		if (buf_flush(&g->out, g->port) < 0) {
			msg("port write: %s", strerror(errno));
			guest_reboot();
		}
		if (sent_exit && !buf_used(&g->out))
			break;

		ip_sig = npf;
		pf[npf].fd = sig_pipe[0];
		pf[npf++].events = POLLIN;
		ip_port = npf;
		pf[npf].fd = g->port;
		pf[npf++].events = (short)(POLLIN | (buf_used(&g->out) ? POLLOUT : 0));
		if (g->in_w >= 0 && buf_used(&g->stdin_q)) {
			ip_in = npf;
			pf[npf].fd = g->in_w;
			pf[npf++].events = POLLOUT;
		}
		if (buf_used(&g->out) < 2 * MAX_PAYLOAD) {
			if (g->out_r >= 0) {
				ip_out = npf;
				pf[npf].fd = g->out_r;
				pf[npf++].events = POLLIN;
			}
			if (g->err_r >= 0) {
				ip_err = npf;
				pf[npf].fd = g->err_r;
				pf[npf++].events = POLLIN;
			}
		}
		if (poll(pf, (nfds_t)npf, -1) < 0) {
			if (errno == EINTR)
				continue;
			msg("poll: %s", strerror(errno));
			guest_reboot();
		}
		if (pf[ip_sig].revents) {
			unsigned char sigs[64];

			while (read(sig_pipe[0], sigs, sizeof(sigs)) > 0)
				;
			guest_reap(g);
		}
		if (pf[ip_port].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n;

			buf_reserve(&g->in, MAX_PAYLOAD + HDR_LEN);
			n = read(g->port, g->in.p + g->in.len, g->in.cap - g->in.len);
			if (n > 0) {
				g->in.len += (size_t)n;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* The host went away: nobody is listening any more. */
				if (!g->child_done)
					(void)kill(-g->child, SIGKILL);
				guest_reboot();
			}
		}
		if (ip_out >= 0 && pf[ip_out].revents)
			guest_pump_output(g, &g->out_r, 'O');
		if (ip_err >= 0 && pf[ip_err].revents)
			guest_pump_output(g, &g->err_r, 'R');
		(void)ip_in; /* retried at the top of the loop */
	}

wait_host:
	/* The host stops the rig once it has our exit frame; until then keep
	 * the port open (closing early could lose the frame in flight). */
	for (;;) {
		struct pollfd pf = { .fd = g->port, .events = POLLIN };
		unsigned char junk[4096];
		ssize_t n;

		if (poll(&pf, 1, -1) < 0 && errno != EINTR)
			break;
		n = read(g->port, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	guest_reboot();
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "host") == 0)
		return host_main(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "guest") == 0)
		return guest_main(argv[2]);
	fprintf(stderr, "usage: rig-mux host --rundir DIR [--moddir DIR] --qemu-argc N QEMU... CMD [ARGS...]\n"
			"       rig-mux guest ROOT\n");
	return EXIT_RIG;
}
