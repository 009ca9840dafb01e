/* SPDX-License-Identifier: MIT */
/*
 * The VMM's own sandbox: what is left to a guest that escaped the VM into
 * the cocoon process (docs/security.md). On by default; --no-sandbox turns
 * it off for debugging and says so on every run.
 *
 * Order, in the VM process (cocoon run, or the OCI runtime's VM process):
 *   sb_cgroup_enter()  --cgroup: a cgroup v2 child with cpu.max/memory.max;
 *                      before vm_prepare, so that guest memory is charged;
 *   sb_unshare()       new mount, PID, IPC and UTS namespaces; before any
 *                      thread exists (unshare(CLONE_NEWNS) refuses a
 *                      process whose threads share its fs_struct);
 *   vm_prepare()       opens every file: kernel, /dev/kvm, images, taps,
 *                      shares, sockets, the console log;
 *   sb_apply()         pivot_root into an empty read-only tmpfs, rlimits,
 *                      the unprivileged uid/gid, capabilities, no_new_privs,
 *                      the SIGSYS reporter; compiles the seccomp filters;
 *   vm_go()            each thread calls sb_thread_enter(kind) first thing:
 *                      its own filter (no TSYNC), before it does any work.
 *
 * Identity: the VMM drops to --uid/--gid (default: the host's `nobody`)
 * with no capabilities at all, except in two cases. With virtio-fs shares
 * (-v, --rootfs-dir, OCI binds) the file server creates files as the
 * guest's users and reads files whatever their modes, as root does: it
 * keeps uid 0 and exactly CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
 * CAP_FOWNER and CAP_FSETID (nothing that reaches beyond files it can
 * name, and it names only files under its shares' fds). With --vsock-uds
 * and no --uid, the VMM keeps uid 0 without capabilities, so that it can
 * still connect to and remove the sockets root made in that directory.
 *
 * Seccomp: an allowed system call outside the thread's list raises SIGSYS
 * (SECCOMP_RET_TRAP); the handler writes one line naming the call and the
 * thread, then makes a call no thread may make with SIGSYS blocked, which
 * the kernel answers by killing the process with SIGSYS (a forced signal
 * that is blocked falls back to its default action). `cocoon run`'s parent
 * sees status 128+31.
 *
 * Test hook: COCOON_SANDBOX_SELFTEST=KIND (main, vcpu, evloop, vfs,
 * portfwd, aio) makes that kind of thread make one forbidden call (ptrace)
 * right after its filter is loaded; tests/integration/sandbox.sh uses it.
 */
#ifndef COCOON_SANDBOX_H
#define COCOON_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

/* Thread kinds, each with its own allow-list. SB_EVLOOP is 0: an evloop's
 * default (evloop.h's sb_thread). */
enum sb_thread {
	SB_EVLOOP = 0, /* the VM's device event loop */
	SB_MAIN,       /* vm_go's signal/timer loop and the tear-down */
	SB_VCPU,
	SB_VFS,        /* a virtio-fs server */
	SB_PORTFWD,    /* the -p forwarder */
	SB_AIO,        /* virtio-blk worker threads (no io_uring) */
	SB_NR_THREADS,
};

/* "vcpu", "event-loop", ...: the name in messages and in docs/security.md. */
const char *sb_thread_name(enum sb_thread kind);

/*
 * Parse --cgroup's "cpu=N,memory=SIZE" (either or both; N a decimal number
 * of CPUs such as 0.5 or 2, SIZE as --memory, at least 4M) into sb.
 * Returns 0, or -EINVAL with a one-line reason in why.
 */
int sb_parse_cgroup(const char *s, struct vm_sandbox *sb, char *why,
		    size_t why_len) __must_check;

/*
 * Parse --uid (group false) or --gid (group true): a number below
 * 4294967295, or a name in the host's passwd/group database. Returns 0 or
 * -EINVAL.
 */
int sb_parse_id(const char *s, bool group, uint32_t *out) __must_check;

/*
 * --cgroup: create /sys/fs/cgroup/cocoon-PID (cgroup v2, the cpu and
 * memory controllers enabled for it), write cpu.max and memory.max, and
 * move this process in. A small helper process, forked here (the VMM forks
 * nowhere else), stays outside the cgroup and the sandbox and removes the
 * cgroup once the VMM has exited, however it died. Nothing to do without
 * --cgroup. Returns 0 or -errno with a one-line reason in why.
 */
int sb_cgroup_enter(const struct vm_config *cfg, char *why, size_t why_len) __must_check;

/*
 * New mount (all mounts made private), PID, IPC and UTS namespaces. Call
 * while the process has one thread. Does nothing with --no-sandbox.
 * Returns 0 or -errno with a reason in why.
 */
int sb_unshare(const struct vm_config *cfg, char *why, size_t why_len) __must_check;

/*
 * Confine the process, after vm_prepare and before any vCPU runs; the
 * calling thread must be the one that called sb_unshare. `shares`: the VM
 * has virtio-fs shares (see the identity rules above). With --no-sandbox,
 * only prints the warning. Returns 0 or -errno with a reason in why; on
 * error the process may be half-confined and must not run the VM.
 */
int sb_apply(const struct vm_config *cfg, bool shares, char *why, size_t why_len) __must_check;

/*
 * Load the filter for `kind` into the calling thread (once per thread;
 * later calls do nothing), after dropping whatever privileges the thread
 * still has (a thread started before sb_apply keeps its own credentials).
 * Nothing happens before sb_apply or with --no-sandbox. A thread that
 * cannot be confined does not run: the process dies of SIGSYS with a
 * message.
 */
void sb_thread_enter(enum sb_thread kind);

/* Whether sb_apply has confined the process. */
bool sb_active(void);

/*
 * The number of distinct system calls `kind` may make (argument filters
 * not counted separately); for docs/security.md, through `cocoon
 * sandbox-info`. Returns -errno when the table names an unknown call.
 */
int sb_allowed_count(enum sb_thread kind);

/* The names of the system calls `kind` may make, one per line, on fd. */
void sb_print_allowed(enum sb_thread kind, int fd);

#endif
