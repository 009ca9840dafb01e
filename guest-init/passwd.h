/* SPDX-License-Identifier: MIT */
/*
 * `docker run -u` resolution against the container root's /etc/passwd and
 * /etc/group. A static musl binary has no NSS, so guest-init parses the
 * files itself. Pure: the caller reads the files into buffers (at most
 * PASSWD_MAX_FILE bytes each); nothing here allocates or does I/O, so the
 * host unit tests can feed it any bytes.
 *
 * Semantics follow runc (libcontainer/user GetExecUser), which docker uses:
 *   - USER is a name or a numeric uid; GROUP, after an optional ':', a name
 *     or a numeric gid. An empty USER means uid 0.
 *   - USER matches the first passwd entry with that name, or, when numeric,
 *     that uid. A numeric USER with no entry is allowed (gid 0, home "/");
 *     a name with no entry is an error.
 *   - GROUP, when numeric, matches that gid (allowed without an entry);
 *     when a name, that group's entry, which must exist.
 *   - Without GROUP: the gid is the passwd entry's, and the supplementary
 *     groups are every group that lists the user's name as a member. With
 *     GROUP there are no supplementary groups.
 *   - Ids are 0..2147483647.
 * Lines that are empty, start with '#', '+' or '-', contain a NUL byte, are
 * longer than PASSWD_MAX_LINE, have too few fields or bad ids are skipped:
 * unlike runc, a malformed line never turns into uid 0.
 */
#ifndef COCOON_GUEST_PASSWD_H
#define COCOON_GUEST_PASSWD_H

#include <stddef.h>
#include <stdint.h>

#define PASSWD_MAX_FILE (1u << 20) /* per file; the reader enforces it */
#define PASSWD_MAX_LINE 4096u      /* bytes, without the newline */
#define PASSWD_MAX_GROUPS 256u     /* supplementary groups */
#define PASSWD_ID_MAX 2147483647u
#define PASSWD_ERROR_MAX 320u /* size for the error buffer */

struct user_ids {
	uint32_t uid, gid;
	size_t ngroups;
	uint32_t groups[PASSWD_MAX_GROUPS]; /* supplementary, no duplicates */
	/* The passwd entry's home directory, pointing into the passwd buffer
	 * (not NUL-terminated); NULL when the user has no entry. */
	const char *home;
	size_t home_len;
};

/*
 * Resolve the user spec `spec` (NULL or "" means "0") against the passwd
 * and group file contents (a NULL buffer, e.g. for a missing file, counts
 * as empty). On success returns 0 and fills *out. On failure returns
 * -EINVAL and writes a one-line reason into err (PASSWD_ERROR_MAX bytes,
 * NUL-terminated), docker's wording where docker has one:
 *   "unable to find user NAME: no matching entries in passwd file"
 *   "unable to find group NAME: no matching entries in group file"
 *   "uids and gids must be in range 0-2147483647"
 *   "invalid user \"SPEC\"" (more than one ':')
 *   "user NAME is in more than 256 groups"
 */
__attribute__((warn_unused_result)) int user_resolve(const char *spec, const char *passwd,
                                                     size_t passwd_len, const char *group,
                                                     size_t group_len,
                                                     struct user_ids *out, char *err);

#endif
