/* SPDX-License-Identifier: MIT */
/* The workload child: everything between fork() and execve(). */
#ifndef COCOON_GUEST_WORKLOAD_H
#define COCOON_GUEST_WORKLOAD_H

#include "spec.h"
#include "status.h"

/* Docker's default: used for the lookup and exported when the spec's env has no PATH. */
#define WORKLOAD_DEFAULT_PATH                                                            \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * Run in the forked child of PID 1. Becomes a session leader; makes
 * stdin_fd its stdin and out_fd its stdout and stderr (both must be >= 3);
 * enters spec->cwd, creating it like `mkdir -p` when missing; uses
 * spec->envp as the whole environment (adding the default PATH when it has
 * none; may append to spec->envp); resolves argv[0] through PATH when it
 * has no '/'; unblocks all signals; marks COCOON_MARK_WORKLOAD_EXEC; drops
 * port access and execs.
 * Returns only on failure: what failed, with its errno in *err.
 */
enum start_failure workload_exec(struct spec *spec, int stdin_fd, int out_fd, int *err);

#endif
