/* SPDX-License-Identifier: MIT */
/*
 * cocoon-sandbox-info: the number of system calls each VMM thread kind may
 * make, from sandbox.c's own tables (the figures in docs/security.md);
 * with a kind's name, the calls themselves.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

int main(int argc, char **argv)
{
	for (int k = 0; k < SB_NR_THREADS; k++) {
		if (argc > 1) {
			if (!strcmp(argv[1], sb_thread_name((enum sb_thread)k)))
				sb_print_allowed((enum sb_thread)k, STDOUT_FILENO);
			continue;
		}
		printf("%s %d\n", sb_thread_name((enum sb_thread)k),
		       sb_allowed_count((enum sb_thread)k));
	}
	return 0;
}
