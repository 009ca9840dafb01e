/* SPDX-License-Identifier: MIT */
/*
 * A FUSE passthrough server: the files of one host directory (the share),
 * served to a hostile guest through FUSE requests (virtio-fs carries them,
 * devices/virtio/fs.c). It plugs into libfuse3's low-level API without a
 * /dev/fuse: the caller puts one request's bytes in fpt_request_buf() and
 * calls fpt_process(), which checks the request, hands it to
 * fuse_session_process_buf() and lets libfuse call the operations below;
 * their replies come back through the session's custom writev and are
 * copied into the caller's reply iovecs (the guest's device-writable
 * buffers). Everything runs synchronously on the caller's thread.
 *
 * What the guest can and cannot do
 * --------------------------------
 * - Every request is checked before libfuse sees it, because libfuse trusts
 *   the kernel that normally writes /dev/fuse: the header's length must be
 *   the request's, each opcode's fixed arguments must be there, each name
 *   must end with a NUL inside the request, a WRITE's or SETXATTR's payload
 *   and a BATCH_FORGET's entries must fit. A request that fails is answered
 *   EINVAL (or not at all, for those that take no reply). Opcodes not served
 *   here are answered ENOSYS without reaching libfuse; FUSE_INTERRUPT and
 *   FUSE_NOTIFY_REPLY are dropped (requests run one at a time, so there is
 *   nothing to interrupt, and the server sends no notifications).
 * - A name is one path component: not empty, no '/', at most NAME_MAX
 *   bytes; "." and ".." are refused (ENOENT for LOOKUP, EINVAL otherwise).
 *   A name is resolved with openat2(parent, name, O_PATH|O_NOFOLLOW,
 *   RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS) (plain openat
 *   with O_PATH|O_NOFOLLOW only where openat2 is ENOSYS); every other call
 *   is relative to an inode's fd (…at() with AT_EMPTY_PATH or
 *   AT_SYMLINK_NOFOLLOW). No host path is ever built from a guest name, so
 *   no symlink, ".." or rename race leads outside the share.
 * - Inodes: a LOOKUP (and each entry READDIRPLUS returns, and the result of
 *   every create) takes a reference on an inode record that holds an
 *   O_PATH|O_NOFOLLOW fd, deduplicated by (st_dev, st_ino); FORGET drops
 *   references and the last one closes the fd. A node id names a slot and
 *   the slot's generation, so a forgotten or forged id is ESTALE, never
 *   another file.
 * - Opening for I/O reopens the inode's O_PATH fd through /proc/self/fd and
 *   only for regular files and directories (the type of an inode never
 *   changes, and the reopened fd is checked to be the same inode): a
 *   symlink is ELOOP, a fifo, socket or device node ENXIO; they are never
 *   opened on the host. The magic link is the one link that is followed
 *   (O_NOFOLLOW would refuse it); a symlink inode is never reopened. Guest
 *   open flags are filtered: the access mode, O_APPEND, O_TRUNC, O_SYNC and
 *   O_DSYNC pass; O_DIRECT is dropped (the guest's page cache is bypassed by
 *   its own FUSE direct-I/O path, and the host's alignment rules do not
 *   match guest requests); O_CREAT, O_EXCL, O_NOATIME, O_PATH, O_TMPFILE
 *   and the rest are dropped; O_CLOEXEC|O_NOCTTY are added (O_NOFOLLOW where
 *   a name is opened: CREATE).
 * - Host fds held (inode fds plus open files and directories) never exceed
 *   a limit: FPT_MAX_FDS, and at most RLIMIT_NOFILE minus FPT_FD_MARGIN at
 *   creation. Beyond it a lookup or open is answered EMFILE (READDIRPLUS
 *   returns the entry without attributes) and nothing else happens.
 * - Sizes: requests up to FPT_MAX_REQ bytes, reads and writes up to
 *   FPT_MAX_IO, directory listings up to FPT_MAX_READDIR bytes per reply,
 *   xattr values XATTR_SIZE_MAX and lists XATTR_LIST_MAX, symlink targets
 *   PATH_MAX - 1, copy_file_range FPT_MAX_COPY per request. Each reply is
 *   also cut to the guest's buffer; one that still does not fit is replaced
 *   by an EIO header.
 * - Read-only: every operation that changes anything (write, create, mkdir,
 *   mknod, symlink, link, unlink, rmdir, rename, setattr, setxattr,
 *   removexattr, fallocate, copy_file_range, an open for writing or with
 *   O_TRUNC or O_APPEND, ACCESS for W_OK) is EROFS.
 * - mknod makes regular files, fifos and sockets; devices are EPERM.
 * - Extended attributes: only the "user." namespace may be set or removed
 *   (others EOPNOTSUPP: "security.capability" or "trusted.overlay.*" set by
 *   the guest would act on the host); "trusted." ones read as absent and
 *   are left out of lists.
 * - Ownership passes through (the VMM runs as root): what the guest creates
 *   belongs to the request's uid and gid (the group of a set-group-ID
 *   directory), and SETATTR applies uid, gid and mode as asked. The guest
 *   kernel checks permissions (virtiofs mounts with default_permissions).
 *   So guest root is root within the share, setuid bits included: share
 *   only directories whose content no host user trusts.
 * - A filtered share (fpt_create with names; how an OCI engine's bind
 *   mounts of single files such as /etc/hosts are shared without the
 *   files beside them in its directory): in the root, only the listed
 *   names exist for the guest. LOOKUP of another is ENOENT, READDIR and
 *   READDIRPLUS leave others out (never looking them up) and read on past
 *   them, so an empty reply still means the end; offsets stay the host's
 *   d_off, so a listing resumes where it stopped. A name off the list is
 *   ENOENT where it must exist (UNLINK, RMDIR, a RENAME's source or an
 *   EXCHANGE's destination) and EACCES where it would be made or replaced
 *   (CREATE, MKNOD, MKDIR, SYMLINK, LINK, a RENAME's destination), checked
 *   before the host is touched. What a listed name comes to hold is a
 *   regular file or a directory only, as the engine on the host writes
 *   these files by name: SYMLINK, MKNOD of anything but a regular file,
 *   LINK of anything else and a RENAME (or EXCHANGE) that would move
 *   anything else into the root are EPERM (RENAME checks the type first,
 *   so only a guest reaching the source directory through a second share
 *   could race it). The root itself belongs to the engine: SETATTR that
 *   changes anything, SETXATTR and REMOVEXATTR on it are EPERM (also
 *   through a handle of it); opening and listing it are fine. The root is
 *   always one node (inodes are deduplicated by st_dev and st_ino) and ".."
 *   is never looked up, so no other node id or path reaches a hidden
 *   entry. Below a listed directory, nothing is filtered. Read-only
 *   shares answer EROFS first, whatever the name, which tells nothing.
 * - The share removed or replaced on the host while in use: the root fd
 *   keeps the old directory, and requests get ENOENT, ESTALE or the host's
 *   error; nothing loops.
 *
 * Protocol: FUSE 7.31 (the first with virtio-fs) or later is required;
 * libfuse answers INIT with its own version. init() offers max_write and
 * max_readahead FPT_MAX_IO (libfuse then offers max_pages FPT_MAX_IO/4096),
 * and wants neither splice (no splice callbacks are given), writeback
 * cache, POSIX or flock locks (GETLK/SETLK/SETLKW are ENOSYS; the guest
 * keeps locks local), KILLPRIV handling (the guest clears set-user-ID bits
 * itself), nor ioctls.
 *
 * Memory: every buffer is allocated by fpt_create (the request buffer,
 * directory and xattr buffers, the inode and handle tables and the hash
 * table, sized for the fd limit). Serving a request allocates nothing here;
 * libfuse itself allocates its struct fuse_req for each request. A READ is
 * preadv'd straight into the reply iovecs after the 16-byte out header, so
 * its data is copied once, by the host kernel; a WRITE is pwritten from the
 * request buffer.
 *
 * Threads: one thread at a time may call the functions below for one
 * server. The first fpt_process on a thread unshares that thread's
 * filesystem attributes and sets its umask to 0 (the guest kernel applies
 * the guest's umask before a mode reaches us); other threads keep theirs.
 */
#ifndef COCOON_FUSE_PT_H
#define COCOON_FUSE_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "util.h"

/* Largest READ and WRITE: 248 pages, so that with its headers a request
 * fits in 252 buffers, which is what Linux's virtiofs counts per request
 * (FUSE_HEADER_OVERHEAD 4) and below a virtqueue chain's 256. */
#define FPT_MAX_IO (248u * 4096)
/* Largest request (header and arguments): a full WRITE with room to spare. */
#define FPT_MAX_REQ (1024u * 1024 + 4096)
/* Host fds one server may hold, and what it leaves of RLIMIT_NOFILE. */
#define FPT_MAX_FDS 16384u
#define FPT_FD_MARGIN 256u
/* Most reply iovecs fpt_process takes. */
#define FPT_MAX_IOV 256u
/* Largest READDIR/READDIRPLUS reply. */
#define FPT_MAX_READDIR (128u * 1024)
/* Most bytes one COPY_FILE_RANGE copies (the guest asks again for more). */
#define FPT_MAX_COPY (16u * 1024 * 1024)
/* Most names a filtered share shows (fpt_create). */
#define FPT_MAX_NAMES 64u
/* Oldest FUSE minor version accepted in INIT (virtio-fs came with 7.31). */
#define FPT_MIN_MINOR 31u

struct fpt;

/*
 * Serve the directory `host_dir` (opened once now; it must be a
 * directory), read-only if `read_only`. With `nr_names` > 0 the share is
 * filtered: its root shows only `names` (see above); each must be one path
 * component of 1 to NAME_MAX bytes, not "." or "..", and there may be at
 * most FPT_MAX_NAMES (else -EINVAL); they are copied. NULL and 0: the
 * whole directory. A listed name need not exist. Opens /proc/self/fd,
 * allocates every buffer, sets libfuse's log function (libfuse's messages
 * go to the debug log) and creates the libfuse session. Returns 0, or
 * -errno with a one-line reason in why.
 */
int fpt_create(struct fpt **out, const char *host_dir, const char *const *names,
	       unsigned int nr_names, bool read_only, char *why,
	       size_t why_len) __must_check;

/* Where the caller puts a request: FPT_MAX_REQ bytes. */
void *fpt_request_buf(struct fpt *fpt);

/*
 * Serve the `len`-byte request in the request buffer; its reply (if it
 * takes one) is written into `reply` (`nr` iovecs, at most FPT_MAX_IOV are
 * used). Returns the bytes written: 0 for a request that takes no reply or
 * that is ill-formed below the FUSE level (shorter than its header, a
 * header length that is not `len`, longer than FPT_MAX_REQ) or when the
 * reply iovecs cannot hold even an out header. Never fails otherwise: every
 * error is an error reply.
 */
size_t fpt_process(struct fpt *fpt, size_t len, const struct iovec *reply,
		   unsigned int nr);

/* Forget every inode and close every handle (the guest will INIT again),
 * and start a new libfuse session, which accepts a new FUSE_INIT. */
void fpt_reset(struct fpt *fpt);

/* Lower the host-fd limit to `max` (at least 1, for the root; tests). */
void fpt_set_max_fds(struct fpt *fpt, unsigned int max);

/* Host fds held for the guest now: inodes (the root included) and handles. */
unsigned int fpt_fds_held(const struct fpt *fpt);

/* Close everything. Safe on NULL. */
void fpt_destroy(struct fpt *fpt);

#endif
