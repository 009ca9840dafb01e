/* SPDX-License-Identifier: MIT */
/*
 * How the workload's fate becomes the `docker run` status that guest-init
 * writes to COCOON_PORT_EXIT. Pure functions, so the host tests cover them.
 */
#ifndef COCOON_GUEST_STATUS_H
#define COCOON_GUEST_STATUS_H

/* Why the forked child could not start the workload. */
enum start_failure {
	START_SETUP = 1, /* session, stdio or environment: guest-init's own fault */
	START_CWD,       /* the working directory could not be made or entered */
	START_NOT_FOUND, /* argv[0] has no '/' and no PATH entry holds it */
	START_EXEC,      /* execve itself failed; the errno decides */
	START_RLIMIT,    /* setrlimit refused a limit (e.g. above fs.nr_open) */
	START_USER,      /* setgroups/setgid/setuid failed */
};

/*
 * The status for a child that stopped before execve succeeded: 125 for
 * START_SETUP, START_CWD, START_RLIMIT and START_USER (like docker, which
 * fails before the process runs), 127 for START_NOT_FOUND, and for
 * START_EXEC 127 when err says the path does not resolve (ENOENT, ENOTDIR),
 * 126 for anything else (EACCES, ENOEXEC, EISDIR, E2BIG, ...: found but not
 * runnable). Unknown stages: 125.
 */
int status_from_start_failure(enum start_failure stage, int err);

/*
 * The status for a reaped workload, from a waitpid() status word: the exit
 * code, or 128+N when signal N killed it. Anything else (a stop report,
 * which cannot happen without WUNTRACED) maps to 125.
 */
int status_from_wait(int wstatus);

#endif
