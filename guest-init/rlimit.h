/* SPDX-License-Identifier: MIT */
/*
 * The spec's "rlimit" records ("NAME=SOFT:HARD", abi.h) turned into
 * setrlimit() arguments. Pure, for the host unit tests.
 */
#ifndef COCOON_GUEST_RLIMIT_H
#define COCOON_GUEST_RLIMIT_H

#include <sys/resource.h>

struct rlimit_req {
	int resource; /* RLIMIT_* */
	struct rlimit lim;
};

/*
 * Parse "NAME=SOFT:HARD" or "NAME=VALUE" (soft and hard both VALUE), where
 * NAME is an RLIMIT_* name without the prefix, in lower case ("nofile"),
 * and a value is a decimal number, "unlimited" or "-1" (RLIM_INFINITY), as
 * `docker run --ulimit` takes them. Returns 0, or -EINVAL with *why set to
 * a static reason: unknown name, malformed, bad value, soft above hard.
 */
__attribute__((warn_unused_result)) int
rlimit_parse(const char *s, struct rlimit_req *out, const char **why);

#endif
