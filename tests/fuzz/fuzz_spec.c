/* SPDX-License-Identifier: MIT */
/* libFuzzer: guest-init's parsers, which read what the host (spec) and the
 * container image (passwd, group) hand them. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "passwd.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spec s;
	static struct user_ids ids;
	char err[PASSWD_ERROR_MAX];
	size_t half = size / 2;

	(void)spec_parse(&s, (const char *)data, size);
	/* First half passwd, second half group, user "user:grp" and "1000". */
	(void)user_resolve("user", (const char *)data, half,
			   (const char *)data + half, size - half, &ids, err);
	(void)user_resolve("user:grp", (const char *)data, half,
			   (const char *)data + half, size - half, &ids, err);
	(void)user_resolve("1000:100", (const char *)data, half, NULL, 0, &ids, err);
	return 0;
}
