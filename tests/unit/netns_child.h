/* SPDX-License-Identifier: MIT */
/*
 * Tests that need CAP_NET_ADMIN (taps, veths, tc) run each case in a
 * forked child inside a new network namespace, so nothing they make
 * reaches the host's, and everything goes when the child exits. In the
 * child cmocka's asserts cannot report (they longjmp into the parent's
 * copy of the runner): CHECK prints the failed condition and exits 1.
 */
#ifndef COCOON_TEST_NETNS_CHILD_H
#define COCOON_TEST_NETNS_CHILD_H

#include <stdio.h>
#include <unistd.h>

/* A child's exit status for "not permitted here": the case is skipped. */
#define NETNS_CHILD_SKIP 77

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,     \
				__LINE__, #cond);                                  \
			_exit(1);                                                  \
		}                                                                  \
	} while (0)

/* Run `fn` in a child in a new network namespace and fail the test when
 * it fails; skip it when that or /dev/net/tun is not available to us. */
void in_netns(void (*fn)(void));

#endif
