/* SPDX-License-Identifier: MIT */
#include "rlimit.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const struct {
	const char *name;
	int resource;
} names[] = {
    {"as", RLIMIT_AS},
    {"core", RLIMIT_CORE},
    {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE},
    {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},
    {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

/* One value of len bytes at s: digits, "unlimited" or "-1". */
static bool parse_value(const char *s, size_t len, rlim_t *out)
{
	rlim_t v = 0;

	if ((len == 9 && memcmp(s, "unlimited", 9) == 0) ||
	    (len == 2 && memcmp(s, "-1", 2) == 0)) {
		*out = RLIM_INFINITY;
		return true;
	}
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned int d = (unsigned char)s[i] - '0';

		/* RLIM_INFINITY is all ones: a number must stay below it. */
		if (d > 9 || v > (RLIM_INFINITY - 1 - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int rlimit_parse(const char *s, struct rlimit_req *out, const char **why)
{
	const char *eq = strchr(s, '='), *val, *colon;
	size_t name_len;
	bool known = false;

	if (!eq) {
		*why = "not NAME=SOFT[:HARD]";
		return -EINVAL;
	}
	name_len = (size_t)(eq - s);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == name_len &&
		    memcmp(s, names[i].name, name_len) == 0) {
			out->resource = names[i].resource;
			known = true;
			break;
		}
	}
	if (!known) {
		*why = "unknown limit name";
		return -EINVAL;
	}
	val = eq + 1;
	colon = strchr(val, ':');
	if (!colon) {
		if (!parse_value(val, strlen(val), &out->lim.rlim_cur)) {
			*why = "bad value: use a number or \"unlimited\"";
			return -EINVAL;
		}
		out->lim.rlim_max = out->lim.rlim_cur;
		return 0;
	}
	if (!parse_value(val, (size_t)(colon - val), &out->lim.rlim_cur) ||
	    !parse_value(colon + 1, strlen(colon + 1), &out->lim.rlim_max)) {
		*why = "bad value: use a number or \"unlimited\"";
		return -EINVAL;
	}
	/* RLIM_INFINITY is the largest rlim_t, so plain comparison is right. */
	if (out->lim.rlim_cur > out->lim.rlim_max) {
		*why = "soft limit above hard limit";
		return -EINVAL;
	}
	return 0;
}
