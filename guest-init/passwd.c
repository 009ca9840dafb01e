/* SPDX-License-Identifier: MIT */
#include "passwd.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* A byte range of a file or of the spec: nothing here is NUL-terminated. */
struct str {
	const char *p;
	size_t n;
};

enum id_kind { ID_NAME, ID_NUMBER, ID_RANGE };

/* Fields of passwd(5) and group(5) that we use, by position. */
enum { PW_NAME, PW_PASSWD, PW_UID, PW_GID, PW_GECOS, PW_HOME, PW_FIELDS = 7 };
enum { GR_NAME, GR_PASSWD, GR_GID, GR_MEMBERS, GR_FIELDS };

static bool str_eq(struct str a, struct str b)
{
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* Digits only, at most PASSWD_ID_MAX. */
static bool parse_id(struct str s, uint32_t *out)
{
	uint32_t v = 0;

	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		unsigned int d = (unsigned char)s.p[i] - '0';

		if (d > 9 || v > (PASSWD_ID_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * A name or a number from the user spec. Like Go's strconv.Atoi in runc,
 * a sign followed by digits is a number too, so "-1" is out of range rather
 * than an unknown name.
 */
static enum id_kind classify(struct str s, uint32_t *num)
{
	bool neg = false;

	if (s.n > 1 && (s.p[0] == '-' || s.p[0] == '+')) {
		neg = s.p[0] == '-';
		s.p++;
		s.n--;
	}
	if (s.n == 0)
		return ID_NAME;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return ID_NAME;
	if (!parse_id(s, num) || (neg && *num != 0))
		return ID_RANGE;
	return ID_NUMBER;
}

struct lines {
	const char *buf;
	size_t len, off;
};

/* The next line worth parsing; see passwd.h for what is skipped. */
static bool next_line(struct lines *it, struct str *line)
{
	while (it->off < it->len) {
		const char *start = it->buf + it->off;
		size_t rest = it->len - it->off;
		const char *nl = memchr(start, '\n', rest);
		size_t n = nl ? (size_t)(nl - start) : rest;

		it->off += n + (nl ? 1 : 0);
		if (n == 0 || n > PASSWD_MAX_LINE || start[0] == '#' || start[0] == '+' ||
		    start[0] == '-' || memchr(start, '\0', n))
			continue;
		line->p = start;
		line->n = n;
		return true;
	}
	return false;
}

/* Split at ':' into at most max fields (any further ones are ignored);
 * returns how many there are. */
static size_t split(struct str line, struct str *f, size_t max, char sep)
{
	const char *p = line.p, *end = line.p + line.n;
	size_t nf = 0;

	while (nf < max) {
		const char *c = memchr(p, sep, (size_t)(end - p));

		f[nf].p = p;
		f[nf].n = c ? (size_t)(c - p) : (size_t)(end - p);
		nf++;
		if (!c)
			break;
		p = c + 1;
	}
	return nf;
}

/* Build "a" "b" "c" into err, cut to fit. */
static int failv(char *err, const char *a, struct str b, const char *c)
{
	size_t len = 0;
	struct str parts[3] = {{a, strlen(a)}, b, {c, strlen(c)}};

	for (size_t i = 0; i < 3; i++) {
		size_t n = parts[i].n;

		if (n > PASSWD_ERROR_MAX - 1 - len)
			n = PASSWD_ERROR_MAX - 1 - len;
		memcpy(err + len, parts[i].p, n);
		len += n;
	}
	err[len] = '\0';
	return -EINVAL;
}

static int fail(char *err, const char *msg)
{
	static const struct str none = {"", 0};

	return failv(err, msg, none, "");
}

static int add_group(struct user_ids *out, uint32_t gid, struct str name, char *err)
{
	for (size_t i = 0; i < out->ngroups; i++)
		if (out->groups[i] == gid)
			return 0;
	if (out->ngroups == PASSWD_MAX_GROUPS)
		return failv(err, "user ", name, " is in more than 256 groups");
	out->groups[out->ngroups++] = gid;
	return 0;
}

/* Is name one of the ','-separated members? */
static bool is_member(struct str members, struct str name)
{
	struct lines it = {members.p, members.n, 0};

	while (it.off < it.len) {
		const char *start = it.buf + it.off;
		const char *comma = memchr(start, ',', it.len - it.off);
		struct str m = {start, comma ? (size_t)(comma - start) : it.len - it.off};

		if (str_eq(m, name))
			return true;
		it.off += m.n + 1;
	}
	return false;
}

int user_resolve(const char *spec, const char *passwd, size_t passwd_len,
                 const char *group, size_t group_len, struct user_ids *out, char *err)
{
	const char *colon;
	struct str user, grp = {"", 0}, name = {"", 0}, line, f[PW_FIELDS];
	enum id_kind user_kind, grp_kind = ID_NAME;
	uint32_t user_num = 0, grp_num = 0;
	struct lines it;
	bool found = false;

	out->uid = 0;
	out->gid = 0;
	out->ngroups = 0;
	out->home = NULL;
	out->home_len = 0;
	err[0] = '\0';
	if (!spec)
		spec = "";
	if (!passwd)
		passwd_len = 0;
	if (!group)
		group_len = 0;

	colon = strchr(spec, ':');
	if (colon && strchr(colon + 1, ':')) {
		struct str s = {spec, strlen(spec)};

		return failv(err, "invalid user \"", s, "\"");
	}
	user.p = spec;
	user.n = colon ? (size_t)(colon - spec) : strlen(spec);
	if (user.n == 0) {
		user.p = "0";
		user.n = 1;
	}
	if (colon) {
		grp.p = colon + 1;
		grp.n = strlen(colon + 1);
	}

	user_kind = classify(user, &user_num);
	if (grp.n)
		grp_kind = classify(grp, &grp_num);
	if (user_kind == ID_RANGE || grp_kind == ID_RANGE)
		return fail(err, "uids and gids must be in range 0-2147483647");

	it = (struct lines){passwd, passwd_len, 0};
	while (!found && next_line(&it, &line)) {
		uint32_t uid, gid;
		size_t nf = split(line, f, PW_FIELDS, ':');

		if (nf <= PW_GID || f[PW_NAME].n == 0 || !parse_id(f[PW_UID], &uid) ||
		    !parse_id(f[PW_GID], &gid))
			continue;
		if (user_kind == ID_NUMBER ? uid != user_num : !str_eq(f[PW_NAME], user))
			continue;
		found = true;
		name = f[PW_NAME];
		out->uid = uid;
		out->gid = gid;
		if (nf > PW_HOME) {
			out->home = f[PW_HOME].p;
			out->home_len = f[PW_HOME].n;
		}
	}
	if (!found) {
		if (user_kind != ID_NUMBER)
			return failv(err, "unable to find user ", user,
			             ": no matching entries in passwd file");
		out->uid = user_num;
	}

	if (grp.n) {
		bool grp_found = false;

		it = (struct lines){group, group_len, 0};
		while (!grp_found && next_line(&it, &line)) {
			uint32_t gid;
			size_t nf = split(line, f, GR_FIELDS, ':');

			if (nf <= GR_GID || f[GR_NAME].n == 0 ||
			    !parse_id(f[GR_GID], &gid))
				continue;
			if (grp_kind == ID_NUMBER ? gid != grp_num
			                          : !str_eq(f[GR_NAME], grp))
				continue;
			grp_found = true;
			out->gid = gid;
		}
		if (!grp_found) {
			if (grp_kind != ID_NUMBER)
				return failv(err, "unable to find group ", grp,
				             ": no matching entries in group file");
			out->gid = grp_num;
		}
		return 0;
	}

	if (!found)
		return 0;
	it = (struct lines){group, group_len, 0};
	while (next_line(&it, &line)) {
		uint32_t gid;
		size_t nf = split(line, f, GR_FIELDS, ':');
		int ret;

		if (nf <= GR_MEMBERS || f[GR_NAME].n == 0 || !parse_id(f[GR_GID], &gid) ||
		    !is_member(f[GR_MEMBERS], name))
			continue;
		ret = add_group(out, gid, name, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}
