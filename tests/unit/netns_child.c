/* SPDX-License-Identifier: MIT */
/* Test cases in a network namespace of their own; see netns_child.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns_child.h"

void in_netns(void (*fn)(void))
{
	pid_t pid;
	int st;

	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) != 0)
			_exit(NETNS_CHILD_SKIP);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == NETNS_CHILD_SKIP)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}
