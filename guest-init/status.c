/* SPDX-License-Identifier: MIT */
#include "status.h"

#include <errno.h>
#include <sys/wait.h>

#include "abi.h"

int status_from_start_failure(enum start_failure stage, int err)
{
	switch (stage) {
	case START_SETUP:
	case START_CWD:
	case START_RLIMIT:
	case START_USER:
		return COCOON_STATUS_INIT_FAILED;
	case START_NOT_FOUND:
		return COCOON_STATUS_NOT_FOUND;
	case START_EXEC:
		/* ENOTDIR: a path component is a file, so no command is there either. */
		if (err == ENOENT || err == ENOTDIR)
			return COCOON_STATUS_NOT_FOUND;
		return COCOON_STATUS_NOT_EXECUTABLE;
	}
	return COCOON_STATUS_INIT_FAILED;
}

int status_from_wait(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return COCOON_STATUS_INIT_FAILED;
}
