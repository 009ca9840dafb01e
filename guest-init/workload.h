/* SPDX-License-Identifier: MIT */
/* The workload child: everything between fork() and execve(). */
#ifndef COCOON_GUEST_WORKLOAD_H
#define COCOON_GUEST_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "passwd.h"
#include "rlimit.h"
#include "spec.h"
#include "status.h"

/* Docker's default: used for the lookup and exported when the spec's env has no PATH. */
#define WORKLOAD_DEFAULT_PATH                                                            \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct workload {
	struct spec *spec;
	/* Become the workload's fds 0, 1, 2; each must be >= 3. */
	int stdin_fd, stdout_fd, stderr_fd;
	bool ctty; /* stdin_fd is a terminal to make the controlling one (-t) */
	const struct rlimit_req *rlimits;
	size_t nrlimits;
	const struct user_ids *user; /* NULL: stay root */
};

/*
 * Run in the forked child of PID 1. Becomes a session leader (with w->ctty,
 * takes stdin_fd as its controlling terminal); installs the stdio fds;
 * enters spec->cwd, creating it like `mkdir -p` when missing (as root, like
 * runc); applies the rlimits; sets the supplementary groups (the spec's
 * "groups", else w->user's, plus "group_add"; untouched when there is
 * none of the three); switches to w->user (setgid, setuid); sets
 * no_new_privs when the spec asks; uses spec->envp as the whole environment (adding the default
 * PATH when it has none; may append to spec->envp); resolves argv[0]
 * through PATH when it has no '/'; unblocks all signals; marks
 * COCOON_MARK_WORKLOAD_EXEC; drops port access and execs.
 * Returns only on failure: what failed, with its errno in *err and, for
 * START_RLIMIT, the index of the refused limit in *index.
 */
enum start_failure workload_exec(const struct workload *w, int *err, size_t *index);

#endif
