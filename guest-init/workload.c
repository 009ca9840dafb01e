/* SPDX-License-Identifier: MIT */
#include "workload.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostio.h"
#include "rootfs.h"

__attribute__((warn_unused_result)) static int enter_cwd(const char *cwd)
{
	int ret;

	if (chdir(cwd) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	ret = rootfs_mkdir_p(cwd);
	if (ret < 0)
		return ret;
	return chdir(cwd) < 0 ? -errno : 0;
}

/* The value of the first PATH= entry, as getenv() would find it. */
static const char *find_path(const char *const *envp)
{
	for (; *envp; envp++)
		if (strncmp(*envp, "PATH=", 5) == 0)
			return *envp + 5;
	return NULL;
}

/*
 * Find name in the ':'-separated dirs of path, writing the first regular
 * file with an execute bit to out. Skipping non-executable matches (rather
 * than failing on the first) is what Go's exec.LookPath does, hence runc and
 * docker. An empty element means the current directory (POSIX); an empty
 * PATH finds nothing. Returns 0 or -ENOENT.
 */
__attribute__((warn_unused_result)) static int lookup(const char *name, const char *path,
                                                      char *out, size_t size)
{
	size_t name_len = strlen(name);

	if (name[0] == '\0' || path[0] == '\0')
		return -ENOENT;
	for (;;) {
		size_t elem_len = strcspn(path, ":");
		const char *dir = elem_len ? path : ".";
		size_t dir_len = elem_len ? elem_len : 1;
		struct stat st;

		if (dir_len + 1 + name_len < size) {
			memcpy(out, dir, dir_len);
			out[dir_len] = '/';
			memcpy(out + dir_len + 1, name, name_len + 1);
			if (stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
			    (st.st_mode & 0111))
				return 0;
		}
		if (path[elem_len] == '\0')
			return -ENOENT;
		path += elem_len + 1;
	}
}

/* Base groups (the spec's "groups", else the user's) plus "group_add". */
#define BASE_GROUPS_MAX                                                                  \
	(SPEC_MAX_GROUPS > PASSWD_MAX_GROUPS ? SPEC_MAX_GROUPS : PASSWD_MAX_GROUPS)
static gid_t groups[BASE_GROUPS_MAX + SPEC_MAX_GROUPS];

/*
 * Fill groups[] with the workload's supplementary groups: exactly the
 * spec's "groups" when it has them (OCI additionalGids), else those the
 * user resolved to (none without a user), then each "group_add" gid not
 * already there (docker run --group-add). Returns how many.
 */
static size_t supplementary_groups(const struct workload *w)
{
	const struct spec *spec = w->spec;
	size_t n = 0;

	if (spec->groups_set)
		for (size_t i = 0; i < spec->ngroups; i++)
			groups[n++] = spec->groups[i];
	else if (w->user)
		for (size_t i = 0; i < w->user->ngroups; i++)
			groups[n++] = w->user->groups[i];
	for (size_t i = 0; i < spec->ngroup_add; i++) {
		size_t j = 0;

		while (j < n && groups[j] != spec->group_add[i])
			j++;
		if (j == n)
			groups[n++] = spec->group_add[i];
	}
	return n;
}

enum start_failure workload_exec(const struct workload *w, int *err, size_t *index)
{
	static char found[PATH_MAX];
	struct spec *spec = w->spec;
	const char *file = spec->argv[0];
	const char *path;
	sigset_t none;
	int ret;

	/* Own session and process group: PID 1 signals the whole group. */
	if (setsid() < 0)
		goto err_setup;
	/* A session leader without a terminal acquires this one (-t). */
	if (w->ctty && ioctl(w->stdin_fd, TIOCSCTTY, 0) < 0)
		goto err_setup;
	/* The fds are >= 3 (init guarantees it), so dup2 never hits its own source. */
	if (dup2(w->stdin_fd, 0) < 0 || dup2(w->stdout_fd, 1) < 0 ||
	    dup2(w->stderr_fd, 2) < 0)
		goto err_setup;

	/* As root, like runc: a cwd the user may not create or enter still works. */
	ret = enter_cwd(spec->cwd);
	if (ret < 0) {
		*err = -ret;
		return START_CWD;
	}

	/* Before dropping root: raising a hard limit needs CAP_SYS_RESOURCE. */
	for (size_t i = 0; i < w->nrlimits; i++) {
		if (setrlimit(w->rlimits[i].resource, &w->rlimits[i].lim) < 0) {
			*err = errno;
			*index = i;
			return START_RLIMIT;
		}
	}

	/* Groups first: after setuid we could no longer change them. */
	if ((w->user || spec->groups_set || spec->ngroup_add) &&
	    setgroups(supplementary_groups(w), groups) < 0) {
		*err = errno;
		return START_USER;
	}
	if (w->user && (setgid(w->user->gid) < 0 || setuid(w->user->uid) < 0)) {
		*err = errno;
		return START_USER;
	}
	/* Inherited by the exec'd workload and all it starts; cannot be undone. */
	if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto err_setup;

	path = find_path(spec->envp);
	if (!path) {
		/* envp has spare slots for exactly this (spec.h). */
		path = WORKLOAD_DEFAULT_PATH;
		spec->envp[spec->envc++] = "PATH=" WORKLOAD_DEFAULT_PATH;
		spec->envp[spec->envc] = NULL;
	}
	/* After chdir and setuid, so relative PATH entries and permissions are
	 * what the workload will see. */
	if (!strchr(file, '/')) {
		if (lookup(file, path, found, sizeof(found)) < 0) {
			*err = ENOENT;
			return START_NOT_FOUND;
		}
		file = found;
	}

	/* The blocked mask survives execve: give the workload default signals. */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		goto err_setup;
	hostio_mark(COCOON_MARK_WORKLOAD_EXEC);
	hostio_close();
	/* execve never writes argv/envp; its non-const prototype is historical. */
	execve(file, (char *const *)spec->argv, (char *const *)spec->envp);
	*err = errno;
	return START_EXEC;

err_setup:
	*err = errno;
	return START_SETUP;
}
