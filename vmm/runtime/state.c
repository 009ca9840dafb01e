/* SPDX-License-Identifier: MIT */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oci.h"
#include "store.h"

#define STATE_MAX (1u << 20)

static const char *const status_names[] = {
	[RT_CREATING] = "creating",
	[RT_CREATED] = "created",
	[RT_RUNNING] = "running",
	[RT_STOPPED] = "stopped",
};

const char *rt_status_name(enum rt_status s)
{
	return status_names[s];
}

int rt_id_check(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > RT_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '+' || c == '-' || c == '.'))
			return -EINVAL;
	}
	return 0;
}

int rt_pid_start(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long t;
	ssize_t n;
	char state;
	int fd;

	*start = 0;
	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': fields start after the
	 * last ')'. Then: state (3), ... starttime (22). */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c", &state) != 1)
		return -ESRCH;
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -ESRCH;
	}
	if (sscanf(p + 1, "%llu", &t) != 1)
		return -ESRCH;
	*start = t;
	return 0;
}

enum rt_status rt_state_status(const struct rt_state *st)
{
	uint64_t start;

	if (rt_pid_start(st->pid, &start) || start != st->pid_start)
		return RT_STOPPED;
	return st->status;
}

void rt_now_rfc3339(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09ldZ", sec, ts.tv_nsec);
}

static const char *get_s(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int copy_s(char *dst, size_t size, const char *src)
{
	if (!src || strlen(src) >= size)
		return -EINVAL;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

int rt_state_read(int dir_fd, struct rt_state *st)
{
	struct json_object *o, *v;
	const char *status;
	char *text, why[128];
	size_t len;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = store_read_file(dir_fd, RT_STATE_FILE, STATE_MAX, &text, &len);
	if (ret)
		return ret == -ENOENT ? -ENOENT : -EINVAL;
	o = oci_parse_json_object(text, len, RT_STATE_FILE, why, sizeof(why));
	free(text);
	if (!o)
		return -EINVAL;
	ret = -EINVAL;
	status = get_s(o, "status");
	if (copy_s(st->id, sizeof(st->id), get_s(o, "id")) ||
	    copy_s(st->bundle, sizeof(st->bundle), get_s(o, "bundle")) ||
	    copy_s(st->rootfs, sizeof(st->rootfs), get_s(o, "rootfs")) ||
	    copy_s(st->created, sizeof(st->created), get_s(o, "created")) || !status)
		goto out;
	if (strcmp(status, "created") == 0)
		st->status = RT_CREATED;
	else if (strcmp(status, "running") == 0)
		st->status = RT_RUNNING;
	else
		goto out;
	if (!json_object_object_get_ex(o, "pid", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	st->pid = (pid_t)json_object_get_int(v);
	if (!json_object_object_get_ex(o, "cocoonPidStart", &v) ||
	    !json_object_is_type(v, json_type_int))
		goto out;
	st->pid_start = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "annotations", &v) &&
	    json_object_is_type(v, json_type_object))
		st->annotations = json_object_get(v);
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

/* The document; `live` uses the live status and hides our own fields. */
static struct json_object *to_json(const struct rt_state *st, bool live)
{
	struct json_object *o = json_object_new_object();
	enum rt_status s = live ? rt_state_status(st) : st->status;

	if (!o)
		return NULL;
	json_object_object_add(o, "ociVersion", json_object_new_string(RT_OCI_VERSION));
	json_object_object_add(o, "id", json_object_new_string(st->id));
	/* runc reports 0 for a stopped container: its pid may be anyone's. */
	json_object_object_add(o, "pid", json_object_new_int(s == RT_STOPPED ? 0 : st->pid));
	json_object_object_add(o, "status", json_object_new_string(rt_status_name(s)));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
	json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
	json_object_object_add(o, "created", json_object_new_string(st->created));
	json_object_object_add(o, "owner", json_object_new_string(""));
	if (st->annotations)
		json_object_object_add(o, "annotations", json_object_get(st->annotations));
	if (!live)
		json_object_object_add(o, "cocoonPidStart",
				       json_object_new_int64((int64_t)st->pid_start));
	return o;
}

struct json_object *rt_state_json(const struct rt_state *st)
{
	return to_json(st, true);
}

int rt_state_write(int dir_fd, const struct rt_state *st)
{
	struct json_object *o = to_json(st, false);
	const char *text;
	size_t len;
	int fd, ret = 0;

	if (!o)
		return -ENOMEM;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	fd = openat(dir_fd, RT_STATE_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
						   O_NOFOLLOW, 0600);
	if (fd < 0) {
		json_object_put(o);
		return -errno;
	}
	if (write(fd, text, len) != (ssize_t)len)
		ret = -EIO;
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	json_object_put(o);
	if (!ret && renameat(dir_fd, RT_STATE_FILE ".tmp", dir_fd, RT_STATE_FILE) < 0)
		ret = -errno;
	if (ret)
		unlinkat(dir_fd, RT_STATE_FILE ".tmp", 0);
	return ret;
}

void rt_state_free(struct rt_state *st)
{
	json_object_put(st->annotations);
	st->annotations = NULL;
}
