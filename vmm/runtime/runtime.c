/* SPDX-License-Identifier: MIT */
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "config.h"
#include "hostterm.h"
#include "log.h"
#include "sandbox.h"
#include "state.h"
#include "store.h"
#include "vcpu.h"
#include "vm.h"

#define RT_FAILED 1
#define RT_DELETE_WAIT_MS 10000 /* delete --force: how long SIGKILL may take */
#define RT_HOOK_OUTPUT_MAX 4096

/* Messages from the VM process to `create` on the sync pipe. */
#define SYNC_NETNS 'N' /* in its network namespace: run the hooks */
#define SYNC_READY 'R' /* prepared, waiting for start */
#define SYNC_ERROR 'E' /* followed by a reason, then EOF */
#define SYNC_GO 'G'    /* create -> VM process: the hooks ran */

struct rt {
	const char *root;
	int root_fd;
	int log_fd;     /* --log, or -1 */
	uint64_t t_start;
};

static const char *const commands[] = {"create", "start", "state", "kill", "delete",
				       "ps", "list", "features", "exec", "pause",
				       "resume", "update", "events", "checkpoint",
				       "restore", "spec"};

bool rt_is_runtime_cli(int argc, char **argv)
{
	if (argc < 2)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i]) == 0)
			return true;
	return strncmp(argv[1], "--root", 6) == 0 || strncmp(argv[1], "--log", 5) == 0 ||
	       strcmp(argv[1], "--systemd-cgroup") == 0 || strcmp(argv[1], "--debug") == 0 ||
	       strncmp(argv[1], "--rootless", 10) == 0 || strncmp(argv[1], "--criu", 6) == 0;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_error("%s", buf);
	return RT_FAILED;
}

/* ROOT/ID, opened as a directory. */
static int open_container_dir(const struct rt *rt, const char *id)
{
	return openat(rt->root_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* Load ID's state; on failure logs and returns RT_FAILED. */
static int load(const struct rt *rt, const char *id, int *dir_fd, struct rt_state *st)
{
	int ret;

	if (rt_id_check(id))
		return fail("invalid container ID '%s'", id);
	*dir_fd = open_container_dir(rt, id);
	if (*dir_fd < 0)
		return fail("container %s does not exist", id);
	ret = rt_state_read(*dir_fd, st);
	if (ret) {
		close(*dir_fd);
		*dir_fd = -1;
		if (ret == -ENOENT)
			return fail("container %s does not exist", id);
		return fail("container %s: %s/%s/" RT_STATE_FILE " is unreadable", id, rt->root,
			    id);
	}
	return 0;
}

static void rm_container_dir(const struct rt *rt, const char *id)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", rt->root, id);
	store_rm_rf(path);
}

/* Write `text` to `path` atomically (the pid file engines read). */
static int write_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd, ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.cocoon-tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		ret = -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

/* ---- signals ---------------------------------------------------------- */

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
	{"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"IOT", SIGIOT},     {"BUS", SIGBUS},
	{"FPE", SIGFPE},   {"KILL", SIGKILL},     {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
	{"USR2", SIGUSR2}, {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
	{"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP},
	{"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},
	{"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
	{"WINCH", SIGWINCH}, {"IO", SIGIO},       {"POLL", SIGPOLL},   {"PWR", SIGPWR},
	{"SYS", SIGSYS},
};

/* "TERM", "SIGTERM", "15", "RTMIN+3": the signal, or -EINVAL. */
static int parse_signal(const char *s)
{
	unsigned long n;

	if (config_parse_uint(s, 1, (unsigned long)SIGRTMAX, &n) == 0)
		return (int)n;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (strcmp(s, signal_names[i].name) == 0)
			return signal_names[i].sig;
	if (strncmp(s, "RTMIN", 5) == 0) {
		if (!s[5])
			return SIGRTMIN;
		if (s[5] == '+' && config_parse_uint(s + 6, 1, (unsigned long)(SIGRTMAX - SIGRTMIN),
						     &n) == 0)
			return SIGRTMIN + (int)n;
	}
	if (strncmp(s, "RTMAX", 5) == 0) {
		if (!s[5])
			return SIGRTMAX;
		if (s[5] == '-' && config_parse_uint(s + 6, 1, (unsigned long)(SIGRTMAX - SIGRTMIN),
						     &n) == 0)
			return SIGRTMAX - (int)n;
	}
	return -EINVAL;
}

/* ---- hooks ---------------------------------------------------------------- */

/* The state document hooks read on stdin (runtime-spec, "State"). */
static char *hook_state(const char *id, const char *status, pid_t pid, const struct bundle *b)
{
	struct json_object *o = json_object_new_object(), *ann = bundle_annotations(b);
	char *text;

	if (!o)
		return NULL;
	json_object_object_add(o, "ociVersion", json_object_new_string(RT_OCI_VERSION));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "pid", json_object_new_int(pid));
	json_object_object_add(o, "bundle", json_object_new_string(b->dir));
	if (ann)
		json_object_object_add(o, "annotations", json_object_get(ann));
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

/* Run one hook with `state` on its stdin; its stdout and stderr are kept
 * for the error message. 0, or -1 after logging why. */
static int run_hook(const struct bundle_hook *h, const char *kind, const char *state)
{
	int in[2], out = memfd_create("cocoon-hook", MFD_CLOEXEC), status = 0;
	uint64_t deadline = h->timeout_s ? now_ns() + h->timeout_s * 1000000000ull : 0;
	char msg[RT_HOOK_OUTPUT_MAX];
	ssize_t n;
	pid_t pid;

	if (out < 0 || pipe2(in, O_CLOEXEC) < 0) {
		if (out >= 0)
			close(out);
		log_error("hook %s %s: %s", kind, h->path, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		execve(h->path, h->args, h->env);
		dprintf(2, "exec: %s", strerror(errno));
		_exit(127);
	}
	close(in[0]);
	if (pid > 0) {
		/* A hook that does not read its stdin must not block us: the
		 * state is far below a pipe's buffer. */
		(void)!write(in[1], state, strlen(state));
	}
	close(in[1]);
	while (pid > 0) {
		pid_t w = waitpid(pid, &status, deadline ? WNOHANG : 0);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		if (deadline && now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			log_error("hook %s %s: timed out after %u s", kind, h->path, h->timeout_s);
			close(out);
			return -1;
		}
		if (deadline)
			usleep(10000);
	}
	n = pread(out, msg, sizeof(msg) - 1, 0);
	close(out);
	msg[n > 0 ? n : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_error("hook %s %s failed (%s %d)%s%s", kind, h->path,
			  pid > 0 && WIFSIGNALED(status) ? "signal" : "exit status",
			  pid > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			  msg[0] ? ": " : "", msg);
		return -1;
	}
	return 0;
}

static int run_hooks(const struct bundle *b, enum bundle_hook_kind k, const char *kind,
		     const char *id, const char *status, pid_t pid)
{
	char *state;
	int ret = 0;

	if (!b->nr_hooks[k])
		return 0;
	state = hook_state(id, status, pid, b);
	if (!state) {
		log_error("hook %s: out of memory", kind);
		return -1;
	}
	for (unsigned int i = 0; i < b->nr_hooks[k] && !ret; i++)
		ret = run_hook(&b->hooks[k][i], kind, state);
	free(state);
	return ret;
}

/* mkdir -p: every missing directory of `path` with `mode`. 0 or -errno. */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -errno;
			if (!c)
				return 0;
			*p = c;
		}
	}
}

/* ---- cgroups ----------------------------------------------------------------- */

#define CGROUP2_ROOT "/sys/fs/cgroup"

/* The cgroup v2 directory for linux.cgroupsPath, when cocoon can place
 * processes there: cgroupfs-style paths ("/docker/ID") on a unified
 * hierarchy. systemd's "slice:prefix:name" needs systemd: not handled. */
static bool cgroup_dir(const struct bundle *b, char *buf, size_t size)
{
	struct stat st;

	if (!b->cgroups_path || strchr(b->cgroups_path, ':') ||
	    stat(CGROUP2_ROOT "/cgroup.controllers", &st) < 0)
		return false;
	return snprintf(buf, size, CGROUP2_ROOT "/%s",
			b->cgroups_path + (b->cgroups_path[0] == '/')) < (int)size;
}

/* Move `pid` into the bundle's cgroup (created when missing). Best effort:
 * a warning, as the container runs the same without it. */
static void cgroup_enter(const struct bundle *b, pid_t pid)
{
	char dir[PATH_MAX], procs[PATH_MAX + 16];
	int fd, ret;

	if (!cgroup_dir(b, dir, sizeof(dir)))
		return;
	ret = mkdir_p(dir, 0755);
	if (ret) {
		log_warn("cgroup %s: %s", dir, strerror(-ret));
		return;
	}
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || dprintf(fd, "%d\n", (int)pid) < 0)
		log_warn("cgroup %s: cannot move the VM process there: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* After the VM process is gone: remove its cgroup (if empty). */
static void cgroup_remove(const struct bundle *b)
{
	char dir[PATH_MAX];

	if (cgroup_dir(b, dir, sizeof(dir)))
		rmdir(dir);
}

/* ---- create ---------------------------------------------------------------- */

/* Send the pty master to the console socket (runtime-spec: the master as
 * SCM_RIGHTS, with its name as the payload, as runc does). */
static int send_console(const char *sock_path, int master, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int fd, ret = 0;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || sendmsg(fd, &mh, 0) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* A pty pair for terminal: true; the master goes to the console socket. */
static int make_console(const char *sock_path, const struct bundle *b, int *slave_out)
{
	struct winsize ws = {.ws_row = b->rows, .ws_col = b->cols};
	char name[64];
	int master, slave, ret;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return fail("terminal: cannot open a pty: %s", strerror(errno));
	if (grantpt(master) < 0 || unlockpt(master) < 0 ||
	    ptsname_r(master, name, sizeof(name)) != 0) {
		ret = errno;
		close(master);
		return fail("terminal: pty set-up: %s", strerror(ret));
	}
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		ret = errno;
		close(master);
		return fail("terminal: open %s: %s", name, strerror(ret));
	}
	if (ws.ws_row && ws.ws_col)
		(void)ioctl(slave, TIOCSWINSZ, &ws);
	ret = send_console(sock_path, master, name);
	close(master);
	if (ret) {
		close(slave);
		return fail("--console-socket %s: %s", sock_path, strerror(-ret));
	}
	*slave_out = slave;
	return 0;
}

/* Close every fd from `from` up except those in keep[]. */
static void close_fds_except(int from, const int *keep, size_t nkeep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self;

	if (!d)
		return;
	self = dirfd(d);
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		bool kept = fd == self || fd < from || e->d_name[0] == '.';

		for (size_t i = 0; i < nkeep && !kept; i++)
			kept = keep[i] == fd;
		if (!kept)
			close(fd);
	}
	closedir(d);
}

/* Die of `sig` (a created container killed before start). */
static void die_of(int sig)
{
	sigset_t one;

	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
	kill(getpid(), SIGKILL);
}

/*
 * Wait in the created state: until `start` writes to the exec fifo (true)
 * or a signal kills the container (never returns). Reopens the fifo when a
 * writer left without writing.
 */
static bool wait_for_start(const char *fifo_path, int fifo, const sigset_t *sigs)
{
	int sfd = signalfd(-1, sigs, SFD_CLOEXEC);

	if (sfd < 0)
		return false;
	for (;;) {
		struct pollfd p[2] = {{.fd = fifo, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		struct signalfd_siginfo si;
		char c;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			int sig = (int)si.ssi_signo;

			if (sig == VM_SIGNAL_RELAY)
				sig = si.ssi_int;
			if (sig > 0 && sig < SIGRTMIN + 4 && sig != SIGWINCH && sig != SIGCONT &&
			    sig != SIGCHLD && sig != SIGURG)
				die_of(sig);
			continue;
		}
		if (p[0].revents & POLLIN && read(fifo, &c, 1) == 1) {
			close(sfd);
			return true;
		}
		if (p[0].revents & (POLLHUP | POLLERR)) {
			int again = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

			if (again < 0)
				break;
			dup2(again, fifo);
			close(again);
		}
	}
	close(sfd);
	return false;
}

static void sync_error(int fd, const char *why)
{
	char c = SYNC_ERROR;

	(void)!write(fd, &c, 1);
	(void)!write(fd, why, strlen(why));
}

/*
 * The VM process: namespaces, then (after the hooks) the VM, then the wait
 * for start, then the VM runs. Returns the container's exit status.
 */
static int vm_process(struct vm_config *cfg, struct bundle *b, int sync_w, int go_r,
		      const char *fifo_path, uint64_t t_start)
{
	static struct vm vm;
	char why[PATH_MAX + 128], c = 0;
	enum vm_outcome outcome;
	sigset_t sigs;
	int fifo, status;

	if (b->netns == BUNDLE_NETNS_PATH) {
		int ns = open(b->netns_path, O_RDONLY | O_CLOEXEC);

		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
			snprintf(why, sizeof(why), "network namespace %s: %s", b->netns_path,
				 strerror(errno));
			sync_error(sync_w, why);
			return RT_FAILED;
		}
		close(ns);
	} else if (b->netns == BUNDLE_NETNS_NEW && unshare(CLONE_NEWNET) < 0) {
		snprintf(why, sizeof(why), "new network namespace: %s", strerror(errno));
		sync_error(sync_w, why);
		return RT_FAILED;
	}
	c = SYNC_NETNS;
	if (write(sync_w, &c, 1) != 1 || read(go_r, &c, 1) != 1 || c != SYNC_GO)
		return RT_FAILED; /* create gave up (a hook failed) */
	close(go_r);
	if (b->netns != BUNDLE_NETNS_NONE) {
		/* The interface the engine put in the namespace becomes the
		 * VM's (hostnet.h); none: the VM has only lo, as runc's
		 * container would. */
		cfg->net.enabled = true;
		cfg->net.engine_netns = true;
	}

	/* Every thread vm_prepare starts inherits this mask. */
	vm_signal_set(cfg, &sigs);
	sigaddset(&sigs, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(&sigs, VCPU_KICK_SIGNAL);
	if (vcpu_signals_init()) {
		snprintf(why, sizeof(why), "cannot install signal handlers: %s", strerror(errno));
		sync_error(sync_w, why);
		return RT_FAILED;
	}
	/* The sandbox's namespaces while this process has one thread; the
	 * rest after the wait for start, which reopens the fifo by path. */
	if (sb_unshare(cfg, why, sizeof(why))) {
		sync_error(sync_w, why);
		return RT_FAILED;
	}
	if (vm_prepare(&vm, cfg, t_start, why, sizeof(why))) {
		sync_error(sync_w, why);
		vm_destroy(&vm);
		return RT_FAILED;
	}
	fifo = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fifo < 0) {
		snprintf(why, sizeof(why), "%s: %s", fifo_path, strerror(errno));
		sync_error(sync_w, why);
		vm_destroy(&vm);
		return RT_FAILED;
	}
	c = SYNC_READY;
	(void)!write(sync_w, &c, 1);
	close(sync_w);

	if (!wait_for_start(fifo_path, fifo, &sigs)) {
		log_error("waiting for start: %s", strerror(errno));
		vm_destroy(&vm);
		return RT_FAILED;
	}
	close(fifo);
	if (sb_apply(cfg, vm.nr_fs > 0, why, sizeof(why))) {
		log_error("%s", why);
		vm_destroy(&vm);
		return RT_FAILED;
	}
	if (cfg->tty) {
		int ret = hostterm_raw_enter(STDIN_FILENO);

		if (ret && ret != -ENOTTY)
			log_warn("terminal: cannot set raw mode: %s", strerror(-ret));
		/* Engines may size the pty between create and start (conmon
		 * does), when the VM's size was already taken and the
		 * SIGWINCH was dropped: vm_go reads this pending one and
		 * gives the guest the size the terminal has now. */
		kill(getpid(), SIGWINCH);
	}
	outcome = vm_go(&vm);
	hostterm_restore();
	status = vm.status;
	if (outcome != VM_EXITED && outcome != VM_SIGNALED) {
		log_error("%s", vm.reason);
		status = 125;
	}
	vm_destroy(&vm);
	return status;
}

/* Read the VM process's sync messages until `want`; false after logging. */
static bool sync_wait(int sync_r, char want, const char *id)
{
	char c, why[600];
	ssize_t n;

	do
		n = read(sync_r, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == want)
		return true;
	if (n == 1 && c == SYNC_ERROR) {
		size_t len = 0;

		while (len < sizeof(why) - 1) {
			n = read(sync_r, why + len, sizeof(why) - 1 - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		why[len] = '\0';
		log_error("container %s: %s", id, why);
		return false;
	}
	log_error("container %s: the VM process exited during create", id);
	return false;
}

struct create_opts {
	const char *bundle, *pid_file, *console_socket;
	unsigned long preserve_fds;
};

static int do_create(struct rt *rt, const char *id, const struct create_opts *o)
{
	static struct vm_config cfg;
	static struct bundle b;
	char why[512], kernel_buf[PATH_MAX], fifo_path[PATH_MAX], num[32];
	int sync_p[2] = {-1, -1}, go_p[2] = {-1, -1}, dir_fd = -1, slave = -1;
	struct rt_state st = {0};
	pid_t pid = -1;
	int ret = RT_FAILED;

	if (rt_id_check(id))
		return fail("invalid container ID '%s': use 1 to %u of A-Z a-z 0-9 _ + - .", id,
			    RT_ID_MAX);
	config_defaults(&cfg);
	if (bundle_load(&b, o->bundle, &cfg, why, sizeof(why))) {
		bundle_free(&b);
		return fail("%s", why);
	}
	if (!cfg.kernel_path)
		cfg.kernel_path = config_default_kernel(kernel_buf, sizeof(kernel_buf));
	if (!cfg.kernel_path) {
		bundle_free(&b);
		return fail("no guest kernel found: set $COCOON_KERNEL, or install "
			    "kernel/vmlinux next to the cocoon binary");
	}
	if (mkdirat(rt->root_fd, id, 0711) < 0) {
		int e = errno;

		bundle_free(&b);
		if (e == EEXIST)
			return fail("container %s already exists", id);
		return fail("%s/%s: %s", rt->root, id, strerror(e));
	}
	dir_fd = open_container_dir(rt, id);
	snprintf(fifo_path, sizeof(fifo_path), "%s/%s/" RT_FIFO, rt->root, id);
	if (dir_fd < 0 || mkfifoat(dir_fd, RT_FIFO, 0600) < 0) {
		log_error("%s: %s", fifo_path, strerror(errno));
		goto out;
	}
	if (b.terminal) {
		if (!o->console_socket) {
			log_error("config.json asks for a terminal but no --console-socket was given");
			goto out;
		}
		if (make_console(o->console_socket, &b, &slave))
			goto out;
	}
	if (pipe2(sync_p, O_CLOEXEC) < 0 || pipe2(go_p, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		goto out;
	}

	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int keep[] = {sync_p[1], go_p[0], slave, rt->log_fd};

		close(sync_p[0]);
		close(go_p[1]);
		close(dir_fd);
		close(rt->root_fd);
		rt->root_fd = -1;
		/* Its own session: the pty (when there is one) becomes its
		 * controlling terminal, so SIGWINCH arrives on resizes; and
		 * the engine's process group signals do not reach it. */
		setsid();
		if (slave >= 0) {
			if (ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, 0) < 0 ||
			    dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
				_exit(RT_FAILED);
			close(slave);
			keep[2] = -1;
		}
		close_fds_except(3 + (int)o->preserve_fds, keep, ARRAY_SIZE(keep));
		(void)!chdir("/");
		return vm_process(&cfg, &b, sync_p[1], go_p[0], fifo_path, rt->t_start);
	}
	close(sync_p[1]);
	close(go_p[0]);
	sync_p[1] = go_p[0] = -1;
	if (slave >= 0)
		close(slave);
	slave = -1;

	/* Before anything runs in it: vm_prepare's threads inherit it. */
	cgroup_enter(&b, pid);
	if (!sync_wait(sync_p[0], SYNC_NETNS, id))
		goto out;
	/* Hooks that set up the network (docker's libnetwork-setkey) see the
	 * VM process in its namespace, before the VM takes the interface. */
	if (run_hooks(&b, BUNDLE_HOOK_PRESTART, "prestart", id, "creating", pid) ||
	    run_hooks(&b, BUNDLE_HOOK_CREATE_RUNTIME, "createRuntime", id, "creating", pid))
		goto out;
	{
		char go = SYNC_GO;

		if (write(go_p[1], &go, 1) != 1) {
			log_error("container %s: the VM process exited during create", id);
			goto out;
		}
	}
	if (!sync_wait(sync_p[0], SYNC_READY, id))
		goto out;

	snprintf(st.id, sizeof(st.id), "%s", id);
	st.pid = pid;
	if (rt_pid_start(pid, &st.pid_start)) {
		log_error("container %s: the VM process exited during create", id);
		goto out;
	}
	snprintf(st.bundle, sizeof(st.bundle), "%s", b.dir);
	snprintf(st.rootfs, sizeof(st.rootfs), "%s", b.rootfs);
	rt_now_rfc3339(st.created, sizeof(st.created));
	st.status = RT_CREATED;
	st.annotations = bundle_annotations(&b);
	if (rt_state_write(dir_fd, &st)) {
		log_error("%s/%s/" RT_STATE_FILE ": %s", rt->root, id, strerror(errno));
		goto out;
	}
	snprintf(num, sizeof(num), "%d", (int)pid);
	if (o->pid_file && (ret = write_atomic(o->pid_file, num))) {
		log_error("--pid-file %s: %s", o->pid_file, strerror(-ret));
		ret = RT_FAILED;
		goto out;
	}
	ret = 0;
out:
	if (ret) {
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cgroup_remove(&b);
		}
		rm_container_dir(rt, id);
	}
	for (int i = 0; i < 2; i++) {
		if (sync_p[i] >= 0)
			close(sync_p[i]);
		if (go_p[i] >= 0)
			close(go_p[i]);
	}
	if (slave >= 0)
		close(slave);
	if (dir_fd >= 0)
		close(dir_fd);
	bundle_free(&b);
	return ret;
}

static int cmd_create(struct rt *rt, int argc, char **argv)
{
	static const struct option opts[] = {
		{"bundle", required_argument, NULL, 'b'},
		{"pid-file", required_argument, NULL, 'p'},
		{"console-socket", required_argument, NULL, 'c'},
		{"preserve-fds", required_argument, NULL, 'f'},
		{"no-pivot", no_argument, NULL, 'n'},
		{"no-new-keyring", no_argument, NULL, 'k'},
		{"notify-socket", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	struct create_opts o = {.bundle = "."};
	int c;

	while ((c = getopt_long(argc, argv, "+b:", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.bundle = optarg;
			break;
		case 'p':
			o.pid_file = optarg;
			break;
		case 'c':
			o.console_socket = optarg;
			break;
		case 'f':
			if (config_parse_uint(optarg, 0, 1024, &o.preserve_fds))
				return fail("--preserve-fds %s: not a number up to 1024", optarg);
			break;
		case 'n': /* nothing to pivot: the root is the VM's */
		case 'k': /* keyrings are the guest kernel's */
		case 's': /* no sd_notify from inside a VM */
			break;
		default:
			return fail("create: unknown option (see cocoon help)");
		}
	}
	if (optind != argc - 1)
		return fail("create: needs exactly one container ID");
	return do_create(rt, argv[optind], &o);
}

/* ---- start, state, kill, delete, ps, list, features ------------------------ */

static int cmd_start(const struct rt *rt, const char *id)
{
	struct rt_state st;
	struct bundle b = {0};
	struct vm_config cfg;
	char why[512];
	int dir_fd, fd, ret = RT_FAILED;
	enum rt_status s;

	if (load(rt, id, &dir_fd, &st))
		return RT_FAILED;
	flock(dir_fd, LOCK_EX);
	s = rt_state_status(&st);
	if (s != RT_CREATED) {
		fail("cannot start container %s: it is %s", id, rt_status_name(s));
		goto out;
	}
	fd = openat(dir_fd, RT_FIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fail("cannot start container %s: %s", id,
		     errno == ENXIO ? "its VM process has exited" : strerror(errno));
		goto out;
	}
	if (write(fd, "0", 1) != 1) {
		fail("cannot start container %s: %s", id, strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	unlinkat(dir_fd, RT_FIFO, 0);
	st.status = RT_RUNNING;
	if (rt_state_write(dir_fd, &st))
		log_warn("container %s: cannot record the running state", id);
	ret = 0;
	/* poststart failures are warnings (runtime-spec, "Lifecycle" step 12). */
	config_defaults(&cfg);
	if (bundle_load(&b, st.bundle, &cfg, why, sizeof(why)) == 0 &&
	    run_hooks(&b, BUNDLE_HOOK_POSTSTART, "poststart", id, "running", st.pid))
		log_warn("container %s: a poststart hook failed", id);
	bundle_free(&b);
out:
	close(dir_fd);
	rt_state_free(&st);
	return ret;
}

static int cmd_state(const struct rt *rt, const char *id)
{
	struct rt_state st;
	struct json_object *o;
	int dir_fd;

	if (load(rt, id, &dir_fd, &st))
		return RT_FAILED;
	close(dir_fd);
	o = rt_state_json(&st);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	rt_state_free(&st);
	return 0;
}

/* Signal the VM process: SIGKILL and SIGSTOP as themselves, every other
 * signal relayed to the workload. */
static int signal_vm(pid_t pid, int sig)
{
	union sigval v = {.sival_int = sig};

	if (sig == SIGKILL || sig == SIGSTOP)
		return kill(pid, sig) < 0 ? -errno : 0;
	return sigqueue(pid, VM_SIGNAL_RELAY, v) < 0 ? -errno : 0;
}

static int cmd_kill(const struct rt *rt, int argc, char **argv)
{
	struct rt_state st;
	int dir_fd, sig = SIGTERM, i = 1, ret = 0;

	while (i < argc && argv[i][0] == '-' && argv[i][1]) {
		if (strcmp(argv[i], "--all") && strcmp(argv[i], "-a"))
			return fail("kill: unknown option %s", argv[i]);
		i++; /* the VM process is the container's only host process */
	}
	if (i >= argc || argc - i > 2)
		return fail("kill: usage: kill [--all] ID [SIGNAL]");
	if (argc - i == 2 && (sig = parse_signal(argv[i + 1])) < 0)
		return fail("kill: %s: not a signal", argv[i + 1]);
	if (load(rt, argv[i], &dir_fd, &st))
		return RT_FAILED;
	close(dir_fd);
	if (rt_state_status(&st) == RT_STOPPED)
		ret = fail("container %s is not running", argv[i]);
	else if ((ret = signal_vm(st.pid, sig)))
		ret = fail("kill container %s: %s", argv[i], strerror(-ret));
	rt_state_free(&st);
	return ret;
}

/* SIGKILL the VM process and wait (bounded) until it is gone or a zombie. */
static void kill_and_wait(const struct rt_state *st)
{
	if (rt_state_status(st) == RT_STOPPED)
		return;
	kill(st->pid, SIGKILL);
	for (int ms = 0; ms < RT_DELETE_WAIT_MS && rt_state_status(st) != RT_STOPPED; ms += 10)
		usleep(10000);
}

static int cmd_delete(const struct rt *rt, int argc, char **argv)
{
	struct rt_state st;
	struct bundle b = {0};
	struct vm_config cfg;
	bool force = false;
	char why[512];
	int dir_fd, i = 1;
	enum rt_status s;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			force = true;
		else
			return fail("delete: unknown option %s", argv[i]);
	}
	if (i != argc - 1)
		return fail("delete: usage: delete [--force] ID");
	if (rt_id_check(argv[i]) == 0 && force && open_container_dir(rt, argv[i]) < 0)
		return 0; /* --force: a container that is gone is deleted */
	if (load(rt, argv[i], &dir_fd, &st))
		return RT_FAILED;
	flock(dir_fd, LOCK_EX);
	s = rt_state_status(&st);
	if (s == RT_RUNNING && !force) {
		close(dir_fd);
		rt_state_free(&st);
		return fail("cannot delete container %s: it is running (use --force)", argv[i]);
	}
	/* A created container never ran: deleting it kills it (as runc). */
	kill_and_wait(&st);
	config_defaults(&cfg);
	if (bundle_load(&b, st.bundle, &cfg, why, sizeof(why)) == 0) {
		cgroup_remove(&b);
		if (run_hooks(&b, BUNDLE_HOOK_POSTSTOP, "poststop", argv[i], "stopped", 0))
			log_warn("container %s: a poststop hook failed", argv[i]);
	}
	bundle_free(&b);
	rm_container_dir(rt, argv[i]);
	close(dir_fd);
	rt_state_free(&st);
	return 0;
}

static int cmd_ps(const struct rt *rt, int argc, char **argv)
{
	bool json = false;
	struct rt_state st;
	int dir_fd, i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *f = NULL;

		if ((strcmp(argv[i], "--format") == 0 || strcmp(argv[i], "-f") == 0) && i + 1 < argc)
			f = argv[++i];
		else if (strncmp(argv[i], "--format=", 9) == 0)
			f = argv[i] + 9;
		if (!f || (strcmp(f, "json") && strcmp(f, "table")))
			return fail("ps: usage: ps [--format table|json] ID");
		json = strcmp(f, "json") == 0;
	}
	if (i >= argc)
		return fail("ps: usage: ps [--format table|json] ID");
	if (load(rt, argv[i], &dir_fd, &st))
		return RT_FAILED;
	close(dir_fd);
	/* The workload's processes live in the guest; on the host the
	 * container is its VM process. */
	if (rt_state_status(&st) == RT_STOPPED)
		printf(json ? "[]\n" : "PID\n");
	else
		printf(json ? "[%d]\n" : "PID\n%d\n", (int)st.pid);
	rt_state_free(&st);
	return 0;
}

static int cmd_list(const struct rt *rt, int argc, char **argv)
{
	bool quiet = false, json = false;
	struct json_object *arr = json_object_new_array();
	DIR *d;
	struct dirent *e;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			quiet = true;
		else if ((strcmp(argv[i], "--format") == 0 || strcmp(argv[i], "-f") == 0) &&
			 i + 1 < argc)
			json = strcmp(argv[++i], "json") == 0;
		else
			return fail("list: usage: list [--quiet] [--format table|json]");
	}
	d = fdopendir(dup(rt->root_fd));
	if (!d)
		return fail("%s: %s", rt->root, strerror(errno));
	if (!quiet && !json)
		printf("ID\tPID\tSTATUS\tBUNDLE\tCREATED\n");
	while ((e = readdir(d))) {
		struct rt_state st;
		int fd;

		if (e->d_name[0] == '.' || rt_id_check(e->d_name))
			continue;
		fd = open_container_dir(rt, e->d_name);
		if (fd < 0)
			continue;
		if (rt_state_read(fd, &st) == 0) {
			if (quiet)
				printf("%s\n", st.id);
			else if (json)
				json_object_array_add(arr, rt_state_json(&st));
			else
				printf("%s\t%d\t%s\t%s\t%s\n", st.id,
				       rt_state_status(&st) == RT_STOPPED ? 0 : (int)st.pid,
				       rt_status_name(rt_state_status(&st)), st.bundle, st.created);
			rt_state_free(&st);
		}
		close(fd);
	}
	closedir(d);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

/* runtime-spec features.md: what this runtime understands. */
static int cmd_features(void)
{
	static const char *const hooks[] = {"prestart", "createRuntime", "poststart", "poststop"};
	struct json_object *o = json_object_new_object(), *arr, *lx, *t;

	json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
	json_object_object_add(o, "ociVersionMax", json_object_new_string("1.1.0"));
	arr = json_object_new_array();
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++)
		json_object_array_add(arr, json_object_new_string(hooks[i]));
	json_object_object_add(o, "hooks", arr);
	arr = json_object_new_array();
	{
		static const char *const mopts[] = {
			"bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev",
			"noexec", "exec", "sync", "async", "noatime", "atime", "nodiratime",
			"diratime", "relatime", "norelatime", "strictatime", "dirsync",
			"mand", "nomand", "defaults"};

		for (size_t i = 0; i < ARRAY_SIZE(mopts); i++)
			json_object_array_add(arr, json_object_new_string(mopts[i]));
	}
	json_object_object_add(o, "mountOptions", arr);
	lx = json_object_new_object();
	arr = json_object_new_array();
	json_object_array_add(arr, json_object_new_string("network"));
	json_object_object_add(lx, "namespaces", arr);
	t = json_object_new_object();
	json_object_object_add(t, "enabled", json_object_new_boolean(false));
	json_object_object_add(lx, "seccomp", t);
	t = json_object_new_object();
	json_object_object_add(t, "v1", json_object_new_boolean(false));
	json_object_object_add(t, "v2", json_object_new_boolean(false));
	json_object_object_add(t, "systemd", json_object_new_boolean(false));
	json_object_object_add(lx, "cgroup", t);
	json_object_object_add(o, "linux", lx);
	t = json_object_new_object();
	json_object_object_add(t, BUNDLE_ANN_MEMORY,
			       json_object_new_string("guest RAM, e.g. 512M (default: the "
						      "memory limit, else 128M)"));
	json_object_object_add(t, BUNDLE_ANN_CPUS,
			       json_object_new_string("vCPUs, 1-32 (default: the CPU quota, "
						      "else 1)"));
	json_object_object_add(o, "annotations", t);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

/* ---- the command line --------------------------------------------------------- */

/* --root, created with mode 0711 when missing: others may traverse to
 * their bundles' pids, not list the containers. */
static int open_root(const char *root)
{
	int ret = mkdir_p(root, 0711);

	if (ret) {
		errno = -ret;
		return -1;
	}
	return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int rt_main(int argc, char **argv, uint64_t t_start)
{
	struct rt rt = {.root = RT_DEFAULT_ROOT, .root_fd = -1, .log_fd = -1, .t_start = t_start};
	const char *log_path = NULL, *cmd;
	bool log_json = false;
	int i = 1, ret;

	for (; i < argc && argv[i][0] == '-'; i++) {
		static const char *const valued[] = {"--root", "--log", "--log-format",
						     "--rootless", "--criu"};
		char name[32];
		const char *a = argv[i], *eq = strchr(a, '='), *v = NULL;
		size_t klen = eq ? (size_t)(eq - a) : strlen(a);

		snprintf(name, sizeof(name), "%.*s", (int)klen, a);
		for (size_t k = 0; k < ARRAY_SIZE(valued); k++) {
			if (strcmp(name, valued[k]) == 0) {
				v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
				if (!v)
					return fail("%s needs a value", name);
			}
		}
		if (strcmp(name, "--root") == 0) {
			rt.root = v;
		} else if (strcmp(name, "--log") == 0) {
			log_path = v;
		} else if (strcmp(name, "--log-format") == 0) {
			if (strcmp(v, "json") && strcmp(v, "text"))
				return fail("--log-format %s: use text or json", v);
			log_json = strcmp(v, "json") == 0;
		} else if (strcmp(name, "--debug") == 0) {
			log_set_level(LOG_DEBUG);
		} else if (!v && strcmp(name, "--systemd-cgroup") != 0) {
			return fail("unknown global option %s", a);
		}
		/* --systemd-cgroup, --rootless, --criu: accepted. cgroups are the
		 * engine's: the VM process stays in the one it was started in. */
	}
	if (log_path) {
		rt.log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (rt.log_fd < 0)
			return fail("--log %s: %s", log_path, strerror(errno));
		log_set_sink(rt.log_fd, log_json);
	}
	if (i >= argc)
		return fail("no command (try 'cocoon help')");
	cmd = argv[i];
	argc -= i;
	argv += i;
	if (strcmp(cmd, "features") == 0)
		return cmd_features();
	if (rt.root[0] != '/')
		return fail("--root %s: must be an absolute path", rt.root);
	rt.root_fd = open_root(rt.root);
	if (rt.root_fd < 0)
		return fail("--root %s: %s", rt.root, strerror(errno));

	optind = 1;
	if (strcmp(cmd, "create") == 0)
		ret = cmd_create(&rt, argc, argv);
	else if (strcmp(cmd, "start") == 0 || strcmp(cmd, "state") == 0) {
		if (argc != 2)
			ret = fail("%s: needs exactly one container ID", cmd);
		else if (strcmp(cmd, "start") == 0)
			ret = cmd_start(&rt, argv[1]);
		else
			ret = cmd_state(&rt, argv[1]);
	} else if (strcmp(cmd, "kill") == 0)
		ret = cmd_kill(&rt, argc, argv);
	else if (strcmp(cmd, "delete") == 0)
		ret = cmd_delete(&rt, argc, argv);
	else if (strcmp(cmd, "ps") == 0)
		ret = cmd_ps(&rt, argc, argv);
	else if (strcmp(cmd, "list") == 0)
		ret = cmd_list(&rt, argc, argv);
	else
		ret = fail("%s: not supported by cocoon (the container is a VM; see "
			   "docs/oci-runtime.md)", cmd);
	if (rt.root_fd >= 0)
		close(rt.root_fd);
	if (rt.log_fd >= 0)
		close(rt.log_fd);
	return ret;
}
