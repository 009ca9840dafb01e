/* SPDX-License-Identifier: MIT */
/*
 * The runtime's record of one container: ROOT/ID/state.json, where ROOT is
 * the --root directory (default RT_DEFAULT_ROOT). Written atomically
 * (temporary file, fsync, rename), so a reader sees the old or the new
 * record, never half of one.
 *
 * The container's process is the cocoon VM process. Its pid alone could be
 * reused once the engine reaps it, so the record also keeps the process's
 * start time (/proc/PID/stat field 22): a pid whose start time differs, a
 * zombie or no process at all means the container has stopped.
 */
#ifndef COCOON_RUNTIME_STATE_H
#define COCOON_RUNTIME_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define RT_DEFAULT_ROOT "/run/cocoon"
#define RT_ID_MAX 1024
#define RT_OCI_VERSION "1.0.2"
#define RT_STATE_FILE "state.json"
#define RT_FIFO "exec.fifo"

struct json_object;

enum rt_status { RT_CREATING, RT_CREATED, RT_RUNNING, RT_STOPPED };

struct rt_state {
	char id[RT_ID_MAX + 1];
	pid_t pid;
	uint64_t pid_start;   /* /proc/PID/stat starttime */
	char bundle[4096];
	char rootfs[4096];
	char created[40];     /* RFC 3339, UTC, nanoseconds */
	enum rt_status status; /* as recorded: created or running */
	struct json_object *annotations; /* owned, or NULL */
};

/* A container ID engines may use: 1..RT_ID_MAX of [A-Za-z0-9_+.-], not
 * "." or "..". 0 or -EINVAL. */
int rt_id_check(const char *id) __must_check;

/* The start time of `pid` (0 and -ESRCH when it does not exist or is a
 * zombie). */
int rt_pid_start(pid_t pid, uint64_t *start) __must_check;

/* What the container is now: the recorded status while its process lives
 * (same pid and start time, not a zombie), else RT_STOPPED. */
enum rt_status rt_state_status(const struct rt_state *st);

const char *rt_status_name(enum rt_status s);

/* Now as RFC 3339 with nanoseconds ("2026-12-06T23:49:03.123456789Z"). */
void rt_now_rfc3339(char *buf, size_t size);

/* Read DIR/state.json. -ENOENT when absent, -EINVAL when unreadable. */
int rt_state_read(int dir_fd, struct rt_state *st) __must_check;

/* Write DIR/state.json atomically. 0 or -errno. */
int rt_state_write(int dir_fd, const struct rt_state *st) __must_check;

/* The OCI state document (runtime-spec "State") as `state` prints it,
 * with the live status. json_object_put it. */
struct json_object *rt_state_json(const struct rt_state *st);

void rt_state_free(struct rt_state *st);

#endif
