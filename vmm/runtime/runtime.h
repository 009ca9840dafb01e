/* SPDX-License-Identifier: MIT */
/*
 * cocoon as an OCI runtime: the command line runc and crun implement, as
 * docker (through containerd's runc shim), podman (through conmon) and
 * containerd call it:
 *
 *   cocoon [--root DIR] [--log FILE] [--log-format text|json]
 *          [--systemd-cgroup] [--debug] COMMAND ...
 *     create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK]
 *            [--preserve-fds N] [--no-pivot] [--no-new-keyring] ID
 *     start ID
 *     state ID
 *     kill [--all] ID [SIGNAL]
 *     delete [--force] ID
 *     ps [--format table|json] ID
 *     list [--quiet] [--format table|json]
 *     features
 *
 * The container's process is one cocoon process, the VM (DESIGN.md: one
 * process per VM). `create` forks it and returns once the VM is prepared
 * (memory, kernel, devices: vm_prepare); the process then waits on
 * ROOT/ID/exec.fifo, and `start` lets its vCPUs run (vm_go). Its exit
 * status is the workload's, in `docker run` form, so the containerd shim
 * and conmon, which reap it as subreapers, report the right status. It
 * keeps the stdin, stdout and stderr `create` was given (the engine's
 * pipes), or the pty slave with a terminal, whose master went to the
 * console socket (runtime-spec, "consoleSocket").
 *
 * Signals: `kill` relays every signal but SIGKILL and SIGSTOP to the
 * workload (VM_SIGNAL_RELAY); SIGKILL ends the VM process, and with it
 * the VM, at once. A created container killed before `start` dies of the
 * signal.
 *
 * Exit status of the commands: 0, or 1 after one line on stderr (and in
 * --log) naming what failed, as runc.
 */
#ifndef COCOON_RUNTIME_H
#define COCOON_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

/* True when argv[1] starts the runtime command line: a global flag or a
 * runtime command. */
bool rt_is_runtime_cli(int argc, char **argv);

/* Run the runtime command line (argv[0] is the program). Returns the exit
 * status. `t_start` is the process start time (for --timings in the VM). */
int rt_main(int argc, char **argv, uint64_t t_start);

#endif
