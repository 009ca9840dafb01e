/* SPDX-License-Identifier: MIT */
#include "spec.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mount.h>

#include "abi.h"

static int fail(struct spec *s, const char *why)
{
	s->error = why;
	return -EINVAL;
}

/*
 * Return the NUL-terminated string at buf[*off] and move *off past its NUL,
 * or NULL when no NUL follows inside the buffer (a truncated or hostile
 * file must not make us read past its end).
 */
static const char *next_string(const char *buf, size_t len, size_t *off)
{
	const char *str = buf + *off;
	const char *nul = memchr(str, '\0', len - *off);

	if (!nul)
		return NULL;
	*off = (size_t)(nul - buf) + 1;
	return str;
}

/* KEY=VALUE with a non-empty KEY: anything else cannot be an environment entry. */
static bool env_entry_ok(const char *e)
{
	const char *eq = strchr(e, '=');

	return eq && eq != e;
}

/* A "0"/"1" flag, set once: *flag is -1 until then. */
static int set_flag(int *flag, const char *val)
{
	/* val[0] first: an empty value's val[1] may lie past the buffer. */
	if (*flag != -1 || (val[0] != '0' && val[0] != '1') || val[1] != '\0')
		return -EINVAL;
	*flag = val[0] - '0';
	return 0;
}

/* The "0"/"1" keys: where each goes, and the reason when it is bad. */
static const struct {
	const char *key;
	size_t offset;
	const char *error;
} flag_keys[] = {
	{"root_rw", offsetof(struct spec, root_rw), "root_rw given twice or not 0/1"},
	{"root_ro", offsetof(struct spec, root_ro), "root_ro given twice or not 0/1"},
	{"etc_files", offsetof(struct spec, etc_files), "etc_files given twice or not 0/1"},
	{"no_new_privs", offsetof(struct spec, no_new_privs),
	 "no_new_privs given twice or not 0/1"},
	{"signal_init", offsetof(struct spec, signal_init),
	 "signal_init given twice or not 0/1"},
	{"tty", offsetof(struct spec, tty), "tty given twice or not 0/1"},
	{"stdin", offsetof(struct spec, stdin_open), "stdin given twice or not 0/1"},
};

/* The field of flag key `key`, or NULL when it is no flag key. */
static int *flag_key(struct spec *s, const char *key, const char **error)
{
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (strcmp(key, flag_keys[i].key) == 0) {
			*error = flag_keys[i].error;
			return (int *)((char *)s + flag_keys[i].offset);
		}
	}
	return NULL;
}

/* "TAG:ro|rw:/DIR" */
static int parse_volume(struct spec *s, const char *val)
{
	const char *c1 = strchr(val, ':');
	struct spec_volume *v;

	if (s->nvolumes == COCOON_MAX_VOLUMES)
		return fail(s, "too many volumes");
	if (!c1 || c1 == val || (size_t)(c1 - val) > SPEC_MAX_TAG)
		return fail(s, "volume tag empty or too long");
	if (strncmp(c1 + 1, "ro:", 3) != 0 && strncmp(c1 + 1, "rw:", 3) != 0)
		return fail(s, "volume mode is not ro or rw");
	if (c1[4] != '/')
		return fail(s, "volume directory is not absolute");
	v = &s->volumes[s->nvolumes++];
	v->tag = val;
	v->tag_len = (size_t)(c1 - val);
	v->read_only = c1[2] == 'o';
	v->dir = c1 + 4;
	return 0;
}

/* "G1,G2,..." (decimal gids, 0-2147483647, as passwd.h takes ids) into
 * out; "" is no gids. */
static int parse_gids(const char *val, unsigned int *out, size_t *n)
{
	*n = 0;
	if (*val == '\0')
		return 0;
	for (;;) {
		const char *start = val;
		unsigned long gid = 0;

		if (*n == SPEC_MAX_GROUPS)
			return -E2BIG;
		for (; *val >= '0' && *val <= '9'; val++) {
			gid = gid * 10 + (unsigned long)(*val - '0');
			if (gid > 2147483647ul)
				return -EINVAL;
		}
		if (val == start)
			return -EINVAL;
		out[(*n)++] = (unsigned int)gid;
		if (*val == '\0')
			return 0;
		if (*val++ != ',')
			return -EINVAL;
	}
}

static int parse_groups(struct spec *s, const char *key, const char *val,
                        unsigned int *out, size_t *n)
{
	int ret = parse_gids(val, out, n);

	if (ret == -E2BIG)
		return fail(s, "too many gids in groups or group_add");
	if (ret < 0)
		return fail(s, "groups or group_add is not a list of gids");
	if (*n == 0 && strcmp(key, "group_add") == 0)
		return fail(s, "group_add is empty");
	return 0;
}

/* A share's subpath: relative, and no ".." component that could climb out
 * of the share (the host refuses that too; this keeps the guest honest). */
static bool subpath_ok(const char *p, size_t len)
{
	const char *end = p + len;

	if (len && *p == '/')
		return false;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n + 1;
	}
	return true;
}

/* 1..16 lower-case hex digits: the MS_* bits of a mount. */
static int parse_hex(const char *p, size_t len, unsigned long *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 2 * sizeof(v))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (unsigned long)(c - 'a' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* "share" SEP TAG SEP SUBPATH SEP FLAGS SEP DEST, or
 * "fs" SEP FSTYPE SEP DATA SEP FLAGS SEP DEST (abi.h). */
static int parse_mount(struct spec *s, const char *val)
{
	const char *f[5];
	size_t n[5], src_max;
	struct spec_mount *m;
	unsigned long flags;

	if (s->nmounts == SPEC_MAX_MOUNTS)
		return fail(s, "too many mounts");
	for (size_t i = 0; i < 4; i++) {
		const char *sep = strchr(val, COCOON_SPEC_SEP);

		if (!sep)
			return fail(s, "mount has fewer than five fields");
		f[i] = val;
		n[i] = (size_t)(sep - val);
		val = sep + 1;
	}
	f[4] = val;
	n[4] = strlen(val);
	if (memchr(f[4], COCOON_SPEC_SEP, n[4]))
		return fail(s, "mount has more than five fields");
	m = &s->mounts[s->nmounts];
	if (n[0] == 5 && memcmp(f[0], "share", 5) == 0) {
		m->kind = SPEC_MOUNT_SHARE;
		src_max = SPEC_MAX_TAG;
	} else if (n[0] == 2 && memcmp(f[0], "fs", 2) == 0) {
		m->kind = SPEC_MOUNT_FS;
		src_max = SPEC_MAX_FSTYPE;
	} else {
		return fail(s, "mount kind is not share or fs");
	}
	if (n[1] == 0 || n[1] > src_max)
		return fail(s, "mount tag or type empty or too long");
	if (n[2] > SPEC_MAX_MOUNT_ARG)
		return fail(s, "mount subpath or data too long");
	if (m->kind == SPEC_MOUNT_SHARE && !subpath_ok(f[2], n[2]))
		return fail(s, "mount subpath is absolute or has a .. component");
	if (parse_hex(f[3], n[3], &flags) < 0 || (flags & ~(unsigned long)COCOON_MOUNT_FLAGS))
		return fail(s, "mount flags are not hex bits of COCOON_MOUNT_FLAGS");
	if (f[4][0] != '/' || n[4] > SPEC_MAX_MOUNT_ARG)
		return fail(s, "mount destination is not an absolute path");
	m->src = f[1];
	m->src_len = n[1];
	m->arg = f[2];
	m->arg_len = n[2];
	m->flags = flags;
	m->dest = f[4];
	s->nmounts++;
	return 0;
}

int spec_parse(struct spec *s, const char *buf, size_t len)
{
	bool have_version = false;
	size_t off = 0;

	s->argc = 0;
	s->envc = 0;
	s->cwd = NULL;
	s->hostname = NULL;
	s->root = NULL;
	s->user = NULL;
	s->nrlimits = 0;
	s->root_fs = NULL;
	s->nvolumes = 0;
	s->net_addr = NULL;
	s->net_gw = NULL;
	s->ndns = 0;
	s->nmounts = 0;
	s->ngroups = 0;
	s->ngroup_add = 0;
	s->groups_set = 0;
	s->root_rw = -1;
	s->root_ro = -1;
	s->etc_files = -1;
	s->no_new_privs = -1;
	s->signal_init = -1;
	s->tty = -1;
	s->stdin_open = -1;
	s->error = NULL;

	while (off < len) {
		const char *key = next_string(buf, len, &off);
		const char *val, *flag_error;
		int *flag;

		if (!key)
			return fail(s, "key not NUL-terminated");
		if (off >= len)
			return fail(s, "key without value");
		val = next_string(buf, len, &off);
		if (!val)
			return fail(s, "value not NUL-terminated");

		/* The version says how to read all the rest, so it must come first. */
		if (!have_version) {
			if (strcmp(key, "version") != 0)
				return fail(s, "first record is not \"version\"");
			if (strcmp(val, COCOON_SPEC_VERSION) != 0)
				return fail(s, "unsupported spec version");
			have_version = true;
		} else if (strcmp(key, "arg") == 0) {
			if (s->argc == SPEC_MAX_ARGS)
				return fail(s, "too many args");
			s->argv[s->argc++] = val;
		} else if (strcmp(key, "env") == 0) {
			if (s->envc == SPEC_MAX_ENV)
				return fail(s, "too many env entries");
			if (!env_entry_ok(val))
				return fail(s, "env entry is not KEY=VALUE");
			s->envp[s->envc++] = val;
		} else if (strcmp(key, "cwd") == 0) {
			if (s->cwd)
				return fail(s, "cwd given twice");
			if (val[0] != '/')
				return fail(s, "cwd is not an absolute path");
			s->cwd = val;
		} else if (strcmp(key, "hostname") == 0) {
			size_t n = strlen(val);

			if (s->hostname)
				return fail(s, "hostname given twice");
			if (n == 0 || n > SPEC_MAX_HOSTNAME)
				return fail(s, "hostname empty or too long");
			s->hostname = val;
		} else if (strcmp(key, "root") == 0) {
			if (s->root)
				return fail(s, "root given twice");
			if (val[0] != '/')
				return fail(s, "root is not an absolute path");
			s->root = val;
		} else if (strcmp(key, "user") == 0) {
			if (s->user)
				return fail(s, "user given twice");
			if (val[0] == '\0')
				return fail(s, "user is empty");
			s->user = val;
		} else if (strcmp(key, "rlimit") == 0) {
			if (s->nrlimits == SPEC_MAX_RLIMITS)
				return fail(s, "too many rlimits");
			s->rlimits[s->nrlimits++] = val;
		} else if (strcmp(key, "root_fs") == 0) {
			if (s->root_fs)
				return fail(s, "root_fs given twice");
			if (val[0] == '\0' || strlen(val) > SPEC_MAX_TAG)
				return fail(s, "root_fs tag empty or too long");
			s->root_fs = val;
		} else if (strcmp(key, "volume") == 0) {
			if (parse_volume(s, val) < 0)
				return -EINVAL;
		} else if (strcmp(key, "net_addr") == 0) {
			if (s->net_addr)
				return fail(s, "net_addr given twice");
			s->net_addr = val;
		} else if (strcmp(key, "net_gw") == 0) {
			if (s->net_gw)
				return fail(s, "net_gw given twice");
			s->net_gw = val;
		} else if (strcmp(key, "dns") == 0) {
			if (s->ndns == SPEC_MAX_DNS)
				return fail(s, "too many dns entries");
			s->dns[s->ndns++] = val;
		} else if ((flag = flag_key(s, key, &flag_error))) {
			if (set_flag(flag, val) < 0)
				return fail(s, flag_error);
		} else if (strcmp(key, "groups") == 0) {
			if (s->groups_set)
				return fail(s, "groups given twice");
			if (parse_groups(s, key, val, s->groups, &s->ngroups) < 0)
				return -EINVAL;
			s->groups_set = 1;
		} else if (strcmp(key, "group_add") == 0) {
			if (s->ngroup_add)
				return fail(s, "group_add given twice");
			if (parse_groups(s, key, val, s->group_add, &s->ngroup_add) < 0)
				return -EINVAL;
		} else if (strcmp(key, "mount") == 0) {
			if (parse_mount(s, val) < 0)
				return -EINVAL;
		} else if (strcmp(key, "version") == 0) {
			return fail(s, "version given twice");
		}
		/* Unknown keys: skipped, so an older init can boot a newer spec. */
	}

	if (!have_version)
		return fail(s, "empty spec");
	if (s->argc == 0)
		return fail(s, "no arg");
	s->argv[s->argc] = NULL;
	s->envp[s->envc] = NULL;
	if (!s->cwd)
		s->cwd = "/";
	if (s->root && s->root_fs)
		return fail(s, "both root and root_fs");
	if (s->net_gw && !s->net_addr)
		return fail(s, "net_gw without net_addr");
	if (s->root_rw == 1 && s->root_ro == 1)
		return fail(s, "both root_rw and root_ro");
	s->root_rw = s->root_rw == 1;
	s->root_ro = s->root_ro == 1;
	s->etc_files = s->etc_files != 0;
	s->no_new_privs = s->no_new_privs == 1;
	s->signal_init = s->signal_init == 1;
	s->tty = s->tty == 1;
	s->stdin_open = s->stdin_open == 1;
	return 0;
}
