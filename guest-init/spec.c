/* SPDX-License-Identifier: MIT */
#include "spec.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

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
	s->root_rw = -1;
	s->tty = -1;
	s->stdin_open = -1;
	s->error = NULL;

	while (off < len) {
		const char *key = next_string(buf, len, &off);
		const char *val;

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
		} else if (strcmp(key, "root_rw") == 0) {
			if (set_flag(&s->root_rw, val) < 0)
				return fail(s, "root_rw given twice or not 0/1");
		} else if (strcmp(key, "tty") == 0) {
			if (set_flag(&s->tty, val) < 0)
				return fail(s, "tty given twice or not 0/1");
		} else if (strcmp(key, "stdin") == 0) {
			if (set_flag(&s->stdin_open, val) < 0)
				return fail(s, "stdin given twice or not 0/1");
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
	s->root_rw = s->root_rw == 1;
	s->tty = s->tty == 1;
	s->stdin_open = s->stdin_open == 1;
	return 0;
}
