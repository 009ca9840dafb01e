/* SPDX-License-Identifier: MIT */
/*
 * The FUSE passthrough server; the contract and the security rules are in
 * fuse_pt.h. Reading order: the tables (inodes, handles), name resolution,
 * the request check that runs before libfuse, the reply path (custom
 * writev), the operations libfuse calls, then the session and life cycle.
 *
 * libfuse 3.14 notes, for whoever upgrades it:
 *   - fuse_session_process_buf() checks nothing of a request's size: it
 *     reads the in header and each opcode's argument struct where it
 *     expects them. check_request() below is what makes that safe, and the
 *     request buffer has REQ_PAD zero bytes after every request so that a
 *     short fixed struct (an old INIT) reads zeros, never stale bytes.
 *   - It accepts FUSE_INIT once per session (got_init) and has no call to
 *     forget it: a device reset or a FUSE_DESTROY ends the session and
 *     starts a new one.
 *   - Its do_setxattr() looks for the name after a 16-byte
 *     fuse_setxattr_in, although without FUSE_SETXATTR_EXT (never
 *     negotiated) the kernel sends the 8-byte one (fixed in 3.15). The
 *     setxattr operation therefore takes name and value from
 *     check_request()'s parse, never from libfuse's arguments.
 *   - FUSE_INTERRUPT for a request it does not know is queued for ever;
 *     interrupts never reach it here.
 *   - fuse_send_msg() perror()s when writev fails: ours never fails.
 */
#define FUSE_USE_VERSION 312
#include "fuse_pt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <linux/fuse.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"

#define HDR_OUT sizeof(struct fuse_out_header)
/* Zero bytes kept after each request: more than any fixed argument struct
 * libfuse reads (fuse_init_in, 64 bytes; fuse_setattr_in, 88). */
#define REQ_PAD 256u
/* directory replies, xattr values and lists, symlink targets */
#define OUT_SIZE FPT_MAX_READDIR
/* Attribute and entry cache time given to the guest, seconds: a host
 * change shows in the guest within this. */
#define TIMEOUT 1.0
#define NO_SLOT (-1)

_Static_assert(OUT_SIZE >= XATTR_SIZE_MAX && OUT_SIZE >= XATTR_LIST_MAX &&
		       OUT_SIZE >= PATH_MAX,
	       "the output buffer holds any xattr value, list or symlink target");
_Static_assert(FPT_MAX_REQ >= sizeof(struct fuse_in_header) +
				      sizeof(struct fuse_write_in) + FPT_MAX_IO,
	       "a full WRITE fits in a request");

/*
 * An inode the guest holds references to. A node id is the slot's
 * generation (high 32 bits) and its index + 1 (low 32 bits); the root is
 * slot 0, generation 0: FUSE_ROOT_ID.
 */
struct fpt_inode {
	int fd;           /* O_PATH|O_NOFOLLOW; -1: the slot is free */
	uint32_t gen;     /* bumped each time the slot is freed */
	int32_t next;     /* the hash chain, or the free list when free */
	mode_t type;      /* S_IFMT bits: an inode's type never changes */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup; /* references the guest holds (FUSE's lookup count) */
};

/* An open file or directory; fh is the generation and the index. */
struct fpt_handle {
	int fd;           /* -1: the slot is free */
	uint32_t gen;
	int32_t next_free;
	bool dir;
	bool filtered;    /* the root of a filtered share: shows only its names */
	bool pos_known;   /* directories: the fd stands at `pos` */
	int64_t pos;      /* directories: the d_off the guest continues from */
};

enum handle_kind { H_ANY, H_FILE, H_DIR };

/* The request being served. */
struct fpt_cur {
	const struct iovec *reply;
	unsigned int nr;
	size_t cap;        /* bytes the reply iovecs hold */
	size_t written;
	bool replied;
	/* From check_request: pointers into the request buffer. */
	const char *name[2];
	const char *value; /* SETXATTR */
	uint32_t value_size;
};

struct fpt {
	int proc_fd;              /* /proc/self/fd, O_PATH */
	bool read_only;
	unsigned int nr_names;    /* 0: the whole root is shown */
	char (*names)[NAME_MAX + 1]; /* [nr_names]: the root's entries shown */
	unsigned int cap;         /* slots in each table */
	unsigned int max_fds;     /* <= cap */
	unsigned int nr_fds;      /* inode fds (root included) + handles */
	struct fpt_inode *inodes; /* [cap]; [0] is the root */
	int32_t free_inode;
	int32_t *buckets;         /* [mask + 1] heads of hash chains */
	uint32_t mask;
	struct fpt_handle *handles; /* [cap] */
	int32_t free_handle;
	bool tables_ready;        /* the tables above are initialised */
	struct fuse_session *se;
	bool renew;               /* FUSE_DESTROY: a new session after it */
	uint8_t *req;             /* FPT_MAX_REQ + REQ_PAD */
	uint8_t *dents;           /* FPT_MAX_READDIR: getdents64 */
	uint8_t *out;             /* OUT_SIZE */
	struct fpt_cur cur;
	struct iovec iov[FPT_MAX_IOV]; /* a READ's destination */
};

/* The data of a READ is already in the reply iovecs: writev skips an iovec
 * that points here (see op_read). */
static const char in_place[1];

static bool no_openat2; /* openat2 said ENOSYS once; shared by servers */

static int reply_err(fuse_req_t req, int err)
{
	/* libfuse refuses errors outside 1..999; errno values are far below. */
	if (err <= 0 || err >= 1000)
		err = EIO;
	return fuse_reply_err(req, err);
}

/* The decimal name of `fd` in /proc/self/fd. */
static void fd_name(int fd, char buf[16])
{
	snprintf(buf, 16, "%d", fd);
}

/* ---- inodes ------------------------------------------------------------------ */

static bool fd_room(const struct fpt *f, unsigned int n)
{
	return f->nr_fds + n <= f->max_fds;
}

static uint32_t key_hash(const struct fpt *f, dev_t dev, ino_t ino)
{
	uint64_t x = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 31;
	return (uint32_t)x & f->mask;
}

static uint64_t nodeid_of(const struct fpt *f, int32_t i)
{
	return (uint64_t)f->inodes[i].gen << 32 | (uint32_t)(i + 1);
}

/* The inode a node id names, or NULL (never issued, forgotten, forged). */
static struct fpt_inode *inode_get(struct fpt *f, fuse_ino_t id)
{
	uint64_t slot = id & 0xffffffffu;
	struct fpt_inode *in;

	if (slot == 0 || slot > f->cap)
		return NULL;
	in = &f->inodes[slot - 1];
	if (in->fd < 0 || in->gen != (uint32_t)(id >> 32))
		return NULL;
	return in;
}

static int32_t inode_find(const struct fpt *f, dev_t dev, ino_t ino)
{
	for (int32_t i = f->buckets[key_hash(f, dev, ino)]; i != NO_SLOT; i = f->inodes[i].next)
		if (f->inodes[i].dev == dev && f->inodes[i].ino == ino)
			return i;
	return NO_SLOT;
}

/* Record a new inode; takes `fd`. The caller checked fd_room. */
static int32_t inode_add(struct fpt *f, int fd, const struct stat *st)
{
	int32_t i = f->free_inode;
	struct fpt_inode *in;
	uint32_t b;

	if (i == NO_SLOT) { /* cannot happen while nr_fds <= max_fds <= cap */
		close(fd);
		return NO_SLOT;
	}
	in = &f->inodes[i];
	f->free_inode = in->next;
	b = key_hash(f, st->st_dev, st->st_ino);
	in->fd = fd;
	in->type = st->st_mode & S_IFMT;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->nlookup = 0;
	in->next = f->buckets[b];
	f->buckets[b] = i;
	f->nr_fds++;
	return i;
}

static void inode_free(struct fpt *f, int32_t i)
{
	struct fpt_inode *in = &f->inodes[i];
	int32_t *link = &f->buckets[key_hash(f, in->dev, in->ino)];

	while (*link != i)
		link = &f->inodes[*link].next;
	*link = in->next;
	close(in->fd);
	in->fd = -1;
	in->nlookup = 0;
	/* Old node ids of this slot turn stale; generation 0 is the root's. */
	if (++in->gen == 0)
		in->gen = 1;
	in->next = f->free_inode;
	f->free_inode = i;
	f->nr_fds--;
}

/* The guest dropped `n` references (FORGET); the root stays for good. */
static void inode_unref(struct fpt *f, struct fpt_inode *in, uint64_t n)
{
	int32_t i = (int32_t)(in - f->inodes);

	if (i == 0)
		return;
	if (n >= in->nlookup)
		inode_free(f, i);
	else
		in->nlookup -= n;
}

/* ---- handles ------------------------------------------------------------------- */

/* Record an open fd (takes it). The caller checked fd_room. */
static uint64_t handle_new(struct fpt *f, int fd, bool dir)
{
	int32_t i = f->free_handle;
	struct fpt_handle *h;

	if (i == NO_SLOT) { /* cannot happen: see inode_add */
		close(fd);
		return 0;
	}
	h = &f->handles[i];
	f->free_handle = h->next_free;
	h->fd = fd;
	h->dir = dir;
	h->filtered = false;
	h->pos_known = true;
	h->pos = 0;
	f->nr_fds++;
	return (uint64_t)h->gen << 32 | (uint32_t)i;
}

static struct fpt_handle *handle_get(struct fpt *f, uint64_t fh, enum handle_kind kind)
{
	uint64_t i = fh & 0xffffffffu;
	struct fpt_handle *h;

	if (i >= f->cap)
		return NULL;
	h = &f->handles[i];
	if (h->fd < 0 || h->gen != (uint32_t)(fh >> 32))
		return NULL;
	if ((kind == H_FILE && h->dir) || (kind == H_DIR && !h->dir))
		return NULL;
	return h;
}

static void handle_close(struct fpt *f, struct fpt_handle *h)
{
	close(h->fd);
	h->fd = -1;
	if (++h->gen == 0)
		h->gen = 1;
	h->next_free = f->free_handle;
	f->free_handle = (int32_t)(h - f->handles);
	f->nr_fds--;
}

/* Forget every inode but the root and close every handle. */
static void drop_all(struct fpt *f)
{
	for (unsigned int i = 1; i < f->cap; i++)
		if (f->inodes[i].fd >= 0)
			inode_free(f, (int32_t)i);
	for (unsigned int i = 0; i < f->cap; i++)
		if (f->handles[i].fd >= 0)
			handle_close(f, &f->handles[i]);
}

/* ---- names ------------------------------------------------------------------------ */

/*
 * A guest name must be one path component. "." and ".." are refused
 * rather than resolved: the share's root has no parent the guest may see.
 * Returns 0 or a positive errno.
 */
static int check_name(const char *name, bool lookup)
{
	size_t n = strnlen(name, NAME_MAX + 1);

	if (n == 0 || memchr(name, '/', n))
		return EINVAL;
	if (n > NAME_MAX)
		return ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return lookup ? ENOENT : EINVAL;
	return 0;
}

/* Whether `p` is the root of a share that shows only some names. */
static bool filtered(const struct fpt *f, const struct fpt_inode *p)
{
	return f->nr_names && p == &f->inodes[0];
}

enum name_use {
	NAME_LOOKUP, /* LOOKUP */
	NAME_OLD,    /* an entry that must exist: unlink, rmdir, rename's source */
	NAME_NEW,    /* an entry that may be made or replaced */
};

/*
 * check_name, and in a filtered root the allow-list: a name off the list
 * does not exist for the guest (ENOENT where it must exist) and cannot be
 * made (EACCES, before anything on the host is touched, so that not even
 * EEXIST tells the guest it is there). The root is always slot 0: inodes
 * are deduplicated by (st_dev, st_ino), so no other node id reaches it.
 * Returns 0 or a positive errno.
 */
static int check_entry(const struct fpt *f, const struct fpt_inode *p, const char *name,
		       enum name_use use)
{
	int err = check_name(name, use == NAME_LOOKUP);

	if (err || !filtered(f, p))
		return err;
	for (unsigned int i = 0; i < f->nr_names; i++)
		if (strcmp(f->names[i], name) == 0)
			return 0;
	return use == NAME_NEW ? EACCES : ENOENT;
}

/*
 * In a filtered root a name may come to hold only a regular file or a
 * directory: the engine on the host rewrites these files by name (Docker's
 * hosts, for one) and must not be led through a symlink or block on a
 * fifo. Checks the entry `name` of `dirfd` that a rename would move there.
 * Returns 0 or a positive errno.
 */
static int check_movable(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ? 0 : EPERM;
}

/*
 * openat2 with every RESOLVE_* restriction that applies to one component:
 * it cannot leave `dirfd` (BENEATH), follows no symlink, plain or magic.
 * The fallback for kernels before 5.6 relies on `name` being one
 * component (check_name) and on O_NOFOLLOW. Returns an fd or -errno.
 */
static int open_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd;

	if (!__atomic_load_n(&no_openat2, __ATOMIC_RELAXED)) {
		struct open_how how = {
			.flags = (uint64_t)flags,
			.mode = (flags & O_CREAT) ? mode : 0,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long r = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

		if (r >= 0)
			return (int)r;
		if (errno != ENOSYS)
			return -errno;
		__atomic_store_n(&no_openat2, true, __ATOMIC_RELAXED);
	}
	fd = openat(dirfd, name, flags, mode);
	return fd < 0 ? -errno : fd;
}

static void fill_entry(const struct fpt *f, int32_t i, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = nodeid_of(f, i);
	e->attr = *st;
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
}

/*
 * Resolve `name` in the directory `dirfd` and take one reference on its
 * inode; fill `e` for the reply. A known inode costs one fstatat and no fd.
 * Returns 0 or a positive errno (EMFILE at the fd limit).
 */
static int lookup_ref(struct fpt *f, int dirfd, const char *name, struct fuse_entry_param *e)
{
	struct stat st;
	int32_t i;
	int fd;

	/* One component, no symlink followed: it names an entry of dirfd. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	i = inode_find(f, st.st_dev, st.st_ino);
	if (i == NO_SLOT) {
		if (!fd_room(f, 1))
			return EMFILE;
		fd = open_beneath(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0)
			return -fd;
		/* The name may have moved meanwhile: what counts is the fd. */
		if (fstat(fd, &st) < 0) {
			int err = errno;

			close(fd);
			return err;
		}
		i = inode_find(f, st.st_dev, st.st_ino);
		if (i == NO_SLOT)
			i = inode_add(f, fd, &st);
		else
			close(fd);
		if (i == NO_SLOT)
			return EMFILE;
	}
	f->inodes[i].nlookup++;
	fill_entry(f, i, &st, e);
	return 0;
}

/* The inode record behind an entry that lookup_ref filled. */
static struct fpt_inode *entry_inode(struct fpt *f, const struct fuse_entry_param *e)
{
	return inode_get(f, e->ino);
}

/*
 * Reopen an inode for I/O through /proc/self/fd (see fuse_pt.h): only a
 * regular file (`dir` false) or a directory (`dir` true), with the guest's
 * `flags` filtered. Returns 0 with *out set, or a positive errno.
 */
static int open_inode(struct fpt *f, const struct fpt_inode *in, int flags, bool dir, int *out)
{
	int acc = flags & O_ACCMODE, host;
	char num[16];
	struct stat st;
	int fd;

	if (in->type == S_IFLNK)
		return ELOOP;
	if (dir) {
		if (in->type != S_IFDIR)
			return ENOTDIR;
		host = O_RDONLY | O_DIRECTORY;
	} else {
		if (in->type == S_IFDIR)
			return EISDIR;
		if (in->type != S_IFREG)
			return ENXIO; /* fifos, sockets, devices: never opened */
		if (acc == O_ACCMODE)
			return EINVAL;
		if (f->read_only && (acc != O_RDONLY || (flags & (O_TRUNC | O_APPEND))))
			return EROFS;
		host = acc | (flags & (O_APPEND | O_TRUNC | O_SYNC | O_DSYNC));
	}
	if (!fd_room(f, 1))
		return EMFILE;
	fd_name(in->fd, num);
	fd = openat(f->proc_fd, num, host | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0 || st.st_dev != in->dev || st.st_ino != in->ino ||
	    (st.st_mode & S_IFMT) != in->type) {
		close(fd);
		return EIO;
	}
	*out = fd;
	return 0;
}

/* ---- the request check (before libfuse) ------------------------------------------ */

#define SERVED 1u  /* the opcode is served (others: ENOSYS) */
#define NOREPLY 2u /* the opcode takes no reply */

/* The argument layout of each served opcode (FUSE 7.31 and later; the
 * kernel sends the full structs, the compat sizes only before 7.9/7.12). */
struct op_shape {
	uint16_t fixed; /* bytes of the argument struct */
	uint8_t names;  /* NUL-terminated strings after it */
	uint8_t flags;
};

#define SHAPE(op, st, n, fl) [op] = { (uint16_t)(st), (n), SERVED | (fl) }
static const struct op_shape shapes[] = {
	SHAPE(FUSE_LOOKUP, 0, 1, 0),
	SHAPE(FUSE_FORGET, sizeof(struct fuse_forget_in), 0, NOREPLY),
	SHAPE(FUSE_GETATTR, sizeof(struct fuse_getattr_in), 0, 0),
	SHAPE(FUSE_SETATTR, sizeof(struct fuse_setattr_in), 0, 0),
	SHAPE(FUSE_READLINK, 0, 0, 0),
	SHAPE(FUSE_SYMLINK, 0, 2, 0), /* entry name, then the target */
	SHAPE(FUSE_MKNOD, sizeof(struct fuse_mknod_in), 1, 0),
	SHAPE(FUSE_MKDIR, sizeof(struct fuse_mkdir_in), 1, 0),
	SHAPE(FUSE_UNLINK, 0, 1, 0),
	SHAPE(FUSE_RMDIR, 0, 1, 0),
	SHAPE(FUSE_RENAME, sizeof(struct fuse_rename_in), 2, 0),
	SHAPE(FUSE_LINK, sizeof(struct fuse_link_in), 1, 0),
	SHAPE(FUSE_OPEN, sizeof(struct fuse_open_in), 0, 0),
	SHAPE(FUSE_READ, sizeof(struct fuse_read_in), 0, 0),
	SHAPE(FUSE_WRITE, sizeof(struct fuse_write_in), 0, 0),
	SHAPE(FUSE_STATFS, 0, 0, 0),
	SHAPE(FUSE_RELEASE, sizeof(struct fuse_release_in), 0, 0),
	SHAPE(FUSE_FSYNC, sizeof(struct fuse_fsync_in), 0, 0),
	/* Without FUSE_SETXATTR_EXT the kernel sends the 8-byte struct. */
	SHAPE(FUSE_SETXATTR, FUSE_COMPAT_SETXATTR_IN_SIZE, 1, 0),
	SHAPE(FUSE_GETXATTR, sizeof(struct fuse_getxattr_in), 1, 0),
	SHAPE(FUSE_LISTXATTR, sizeof(struct fuse_getxattr_in), 0, 0),
	SHAPE(FUSE_REMOVEXATTR, 0, 1, 0),
	SHAPE(FUSE_FLUSH, sizeof(struct fuse_flush_in), 0, 0),
	/* major, minor, max_readahead, flags: the rest reads as zeros. */
	SHAPE(FUSE_INIT, 16, 0, 0),
	SHAPE(FUSE_OPENDIR, sizeof(struct fuse_open_in), 0, 0),
	SHAPE(FUSE_READDIR, sizeof(struct fuse_read_in), 0, 0),
	SHAPE(FUSE_RELEASEDIR, sizeof(struct fuse_release_in), 0, 0),
	SHAPE(FUSE_FSYNCDIR, sizeof(struct fuse_fsync_in), 0, 0),
	SHAPE(FUSE_ACCESS, sizeof(struct fuse_access_in), 0, 0),
	SHAPE(FUSE_CREATE, sizeof(struct fuse_create_in), 1, 0),
	SHAPE(FUSE_DESTROY, 0, 0, 0),
	SHAPE(FUSE_BATCH_FORGET, sizeof(struct fuse_batch_forget_in), 0, NOREPLY),
	SHAPE(FUSE_FALLOCATE, sizeof(struct fuse_fallocate_in), 0, 0),
	SHAPE(FUSE_READDIRPLUS, sizeof(struct fuse_read_in), 0, 0),
	SHAPE(FUSE_RENAME2, sizeof(struct fuse_rename2_in), 2, 0),
	SHAPE(FUSE_LSEEK, sizeof(struct fuse_lseek_in), 0, 0),
	SHAPE(FUSE_COPY_FILE_RANGE, sizeof(struct fuse_copy_file_range_in), 0, 0),
};
#undef SHAPE

#define DROP (-1) /* check_request: complete without a reply */

/*
 * Everything libfuse will read of the request, checked: returns 0 to hand
 * it to libfuse, a positive errno to answer here, or DROP.
 */
static int check_request(struct fpt *f, const struct fuse_in_header *in, size_t len)
{
	const char *args = (const char *)f->req + sizeof(*in);
	const char *end = (const char *)f->req + len;
	const struct op_shape *s;
	const char *p;
	uint32_t v[2];

	/* Requests run one at a time: by the time an INTERRUPT is read, the
	 * request it names is answered. No notification was ever sent. */
	if (in->opcode == FUSE_INTERRUPT || in->opcode == FUSE_NOTIFY_REPLY)
		return DROP;
	if (in->opcode >= ARRAY_SIZE(shapes) || !(shapes[in->opcode].flags & SERVED)) {
		log_guest_once("virtio-fs: FUSE opcode %u is not served (ENOSYS)", in->opcode);
		return ENOSYS;
	}
	s = &shapes[in->opcode];
	if ((size_t)(end - args) < s->fixed)
		goto bad;
	p = args + s->fixed;
	for (unsigned int i = 0; i < s->names; i++) {
		const char *nul = memchr(p, 0, (size_t)(end - p));

		if (!nul)
			goto bad;
		f->cur.name[i] = p;
		p = nul + 1;
	}
	switch (in->opcode) {
	case FUSE_WRITE: {
		struct fuse_write_in w;

		memcpy(&w, args, sizeof(w));
		if (w.size > FPT_MAX_IO || w.size > (size_t)(end - p))
			goto bad;
		break;
	}
	case FUSE_SETXATTR:
		memcpy(v, args, sizeof(uint32_t)); /* size */
		if (v[0] > (size_t)(end - p))
			goto bad;
		f->cur.value = p;
		f->cur.value_size = v[0];
		break;
	case FUSE_BATCH_FORGET:
		memcpy(v, args, sizeof(uint32_t)); /* count */
		if ((uint64_t)v[0] * sizeof(struct fuse_forget_one) > (size_t)(end - p))
			goto bad;
		break;
	case FUSE_INIT:
		memcpy(v, args, sizeof(v)); /* major, minor */
		/* A major above 7 gets libfuse's version and the guest asks
		 * again (FUSE's version negotiation); below 7.31, no virtio-fs. */
		if (v[0] < 7 || (v[0] == 7 && v[1] < FPT_MIN_MINOR)) {
			log_guest_once("virtio-fs: FUSE %u.%u is too old", v[0], v[1]);
			return EPROTO;
		}
		break;
	}
	return 0;

bad:
	log_guest_once("virtio-fs: malformed FUSE request (opcode %u, %zu bytes)", in->opcode,
		       len);
	return (s->flags & NOREPLY) ? DROP : EINVAL;
}

/* ---- replies ------------------------------------------------------------------------ */

/* Copy into the reply iovecs at `off`; returns the bytes copied. */
static size_t copy_out(const struct fpt_cur *c, size_t off, const void *src, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < c->nr && done < len; i++) {
		size_t l = c->reply[i].iov_len, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < len - done ? l - off : len - done;
		memcpy((char *)c->reply[i].iov_base + off, (const char *)src + done, k);
		done += k;
		off = 0;
	}
	return done;
}

/* Describe `len` bytes of the reply iovecs from `off` in out[max]. */
static unsigned int reply_slice(const struct fpt_cur *c, size_t off, size_t len,
				struct iovec *out, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->nr && len && n < max; i++) {
		size_t l = c->reply[i].iov_len, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < len ? l - off : len;
		out[n++] = (struct iovec){ (char *)c->reply[i].iov_base + off, k };
		len -= k;
		off = 0;
	}
	return n;
}

/* An error answered without libfuse (check_request). */
static void reply_here(struct fpt *f, uint64_t unique, int err)
{
	struct fuse_out_header h = { .len = HDR_OUT, .error = -err, .unique = unique };

	if (f->cur.cap >= HDR_OUT)
		f->cur.written = copy_out(&f->cur, 0, &h, sizeof(h));
}

/*
 * The session's writev: libfuse's reply (out header first) goes into the
 * reply iovecs. A reply larger than the guest's buffer becomes an EIO
 * header; with no room for a header, nothing is written. Never fails, so
 * libfuse never perror()s.
 */
static ssize_t fpt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fpt *f = userdata;
	struct fpt_cur *c = &f->cur;
	size_t total = 0, off = 0;

	(void)fd;
	for (int i = 0; i < count; i++)
		total += iov[i].iov_len;
	if (c->replied || count < 1 || iov[0].iov_len != HDR_OUT || c->cap < HDR_OUT) {
		c->replied = true;
		return (ssize_t)total;
	}
	c->replied = true;
	if (total > c->cap) {
		struct fuse_out_header h;

		memcpy(&h, iov[0].iov_base, sizeof(h));
		log_guest_once("virtio-fs: a %zu-byte reply does not fit the guest's %zu bytes",
			       total, c->cap);
		h.len = HDR_OUT;
		h.error = -EIO;
		c->written = copy_out(c, 0, &h, sizeof(h));
		return (ssize_t)total;
	}
	for (int i = 0; i < count; i++) {
		if (iov[i].iov_base != in_place)
			copy_out(c, off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	c->written = total;
	return (ssize_t)total;
}

/* libfuse only reads through this when it runs its own loop: never here. */
static ssize_t fpt_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)fd;
	(void)buf;
	(void)len;
	(void)userdata;
	errno = ENOSYS;
	return -1;
}

static size_t reply_room(const struct fpt *f)
{
	return f->cur.cap > HDR_OUT ? f->cur.cap - HDR_OUT : 0;
}

/* ---- operations: session and inodes -------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Requests and replies must fit the device's buffers and a chain
	 * (fuse_pt.h); libfuse derives max_pages from max_write. */
	if (conn->max_write > FPT_MAX_IO)
		conn->max_write = FPT_MAX_IO;
	if (conn->max_readahead > FPT_MAX_IO)
		conn->max_readahead = FPT_MAX_IO;
	conn->want &= ~(unsigned int)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				      FUSE_CAP_SPLICE_MOVE | FUSE_CAP_HANDLE_KILLPRIV |
				      FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_POSIX_LOCKS |
				      FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_IOCTL_DIR |
				      FUSE_CAP_POSIX_ACL | FUSE_CAP_EXPORT_SUPPORT);
#ifdef FUSE_CAP_SETXATTR_EXT
	conn->want &= ~(unsigned int)FUSE_CAP_SETXATTR_EXT; /* check_request's layout */
#endif
	conn->time_gran = 1;
	log_debug("virtio-fs: FUSE %u.%u, max_write %u", conn->proto_major, conn->proto_minor,
		  conn->max_write);
}

/* FUSE_DESTROY (the guest unmounted) or the end of a session. */
static void op_destroy(void *userdata)
{
	struct fpt *f = userdata;

	drop_all(f);
	f->renew = true;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *p = inode_get(f, parent);
	struct fuse_entry_param e;
	int err = p ? check_entry(f, p, name, NAME_LOOKUP) : check_name(name, true);

	if (!err && !p)
		err = ESTALE;
	if (!err)
		err = lookup_ref(f, p->fd, name, &e);
	if (err)
		reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);

	if (in)
		inode_unref(f, in, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fpt *f = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++) {
		struct fpt_inode *in = inode_get(f, forgets[i].ino);

		if (in)
			inode_unref(f, in, forgets[i].nlookup);
	}
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	struct fpt_handle *h = NULL;
	struct stat st;
	int r;

	if (!in) {
		reply_err(req, ESTALE);
		return;
	}
	if (fi && !(h = handle_get(f, fi->fh, H_ANY))) {
		reply_err(req, EBADF);
		return;
	}
	r = h ? fstat(h->fd, &st) : fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_attr(req, &st, TIMEOUT);
}

/* utimensat on an inode, through the O_PATH fd (AT_EMPTY_PATH, 5.8+) or
 * the magic link for anything but a symlink on older kernels. */
static int set_times(struct fpt *f, const struct fpt_inode *in, const struct timespec ts[2])
{
	char num[16];

	if (utimensat(in->fd, "", ts, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != EINVAL || in->type == S_IFLNK)
		return -1;
	fd_name(in->fd, num);
	return utimensat(f->proc_fd, num, ts, 0);
}

static int truncate_inode(struct fpt *f, const struct fpt_inode *in, off_t size)
{
	char num[16];
	int fd, r, err;

	if (in->type != S_IFREG) {
		errno = in->type == S_IFDIR ? EISDIR : EINVAL;
		return -1;
	}
	fd_name(in->fd, num);
	fd = openat(f->proc_fd, num, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	r = ftruncate(fd, size);
	err = errno;
	close(fd);
	errno = err;
	return r;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			  FUSE_SET_ATTR_MTIME_NOW;
	const int changes = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
			    FUSE_SET_ATTR_SIZE | times;
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	struct fpt_handle *h = NULL;
	struct stat st;
	char num[16];

	if (!in) {
		reply_err(req, ESTALE);
		return;
	}
	if (fi && !(h = handle_get(f, fi->fh, H_ANY))) {
		reply_err(req, EBADF);
		return;
	}
	if ((to_set & changes) && f->read_only) {
		reply_err(req, EROFS);
		return;
	}
	/* A filtered root is the engine's own directory, not the guest's;
	 * the guest names the node and the handle apart, so check both. */
	if ((to_set & changes) && (filtered(f, in) || (h && h->filtered))) {
		reply_err(req, EPERM);
		return;
	}
	/* Owner first: a chown clears set-user-ID bits that a mode in the
	 * same request may set again. */
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t g = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(in->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			goto err;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		mode_t mode = attr->st_mode & 07777;

		if (h) {
			if (fchmod(h->fd, mode) < 0)
				goto err;
		} else if (in->type == S_IFLNK) {
			errno = EOPNOTSUPP; /* a symlink has no mode of its own */
			goto err;
		} else {
			fd_name(in->fd, num);
			if (fchmodat(f->proc_fd, num, mode, 0) < 0)
				goto err;
		}
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (h && !h->dir) {
			if (ftruncate(h->fd, attr->st_size) < 0)
				goto err;
		} else if (truncate_inode(f, in, attr->st_size) < 0) {
			goto err;
		}
	}
	if (to_set & times) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		if (h ? futimens(h->fd, ts) : set_times(f, in, ts))
			goto err;
	}
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		goto err;
	fuse_reply_attr(req, &st, TIMEOUT);
	return;

err:
	reply_err(req, errno);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	char *buf = (char *)f->out;
	ssize_t n;

	if (!in) {
		reply_err(req, ESTALE);
		return;
	}
	if (in->type != S_IFLNK) {
		reply_err(req, EINVAL);
		return;
	}
	n = readlinkat(in->fd, "", buf, PATH_MAX);
	if (n < 0) {
		reply_err(req, errno);
		return;
	}
	if (n >= PATH_MAX) {
		reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- operations: making and removing names ------------------------------------------- */

/*
 * After a node was made as `name` in `p`: take a reference on it and give
 * it to the requester (uid, and gid or the set-group-ID directory's group).
 * On failure the node is removed again. Returns 0 or a positive errno.
 */
static int finish_new(struct fpt *f, fuse_req_t req, struct fpt_inode *p, const char *name,
		      bool dir, struct fuse_entry_param *e)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uid_t uid = ctx->uid;
	gid_t gid = ctx->gid;
	struct stat pst;
	int err = lookup_ref(f, p->fd, name, e);

	if (err)
		goto err_remove;
	if (fstat(p->fd, &pst) == 0 && (pst.st_mode & S_ISGID))
		gid = pst.st_gid;
	if (e->attr.st_uid != uid || e->attr.st_gid != gid) {
		struct fpt_inode *in = entry_inode(f, e);

		if (fchownat(in->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			err = errno;
			inode_unref(f, in, 1);
			goto err_remove;
		}
		e->attr.st_uid = uid;
		e->attr.st_gid = gid;
	}
	return 0;

err_remove:
	(void)unlinkat(p->fd, name, dir ? AT_REMOVEDIR : 0);
	return err;
}

enum make_kind { MAKE_NODE, MAKE_DIR, MAKE_SYMLINK };

static void make_entry(fuse_req_t req, fuse_ino_t parent, const char *name, enum make_kind kind,
		       mode_t mode, const char *target)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *p = inode_get(f, parent);
	struct fuse_entry_param e;
	int err = 0, r = 0;

	if (f->read_only)
		err = EROFS;
	else if (!p)
		err = ESTALE;
	else
		err = check_entry(f, p, name, NAME_NEW);
	/* Only regular files and directories in a filtered root (check_movable). */
	if (!err && filtered(f, p) &&
	    (kind == MAKE_SYMLINK || (kind == MAKE_NODE && !S_ISREG(mode))))
		err = EPERM;
	if (!err && !fd_room(f, 1))
		err = EMFILE;
	if (err) {
		reply_err(req, err);
		return;
	}
	switch (kind) {
	case MAKE_NODE:
		r = mknodat(p->fd, name, mode & (S_IFMT | 07777), 0);
		break;
	case MAKE_DIR:
		r = mkdirat(p->fd, name, mode & 07777);
		break;
	case MAKE_SYMLINK:
		r = symlinkat(target, p->fd, name);
		break;
	}
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	err = finish_new(f, req, p, name, kind == MAKE_DIR, &e);
	if (err)
		reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)rdev;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		make_entry(req, parent, name, MAKE_NODE, mode, NULL);
		return;
	case S_IFCHR:
	case S_IFBLK:
		/* A device node in the share would be one on the host. */
		reply_err(req, EPERM);
		return;
	default:
		reply_err(req, EINVAL);
	}
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_entry(req, parent, name, MAKE_DIR, mode, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	size_t n = strnlen(link, PATH_MAX);

	/* The target is only stored, never followed here. */
	if (n == 0) {
		reply_err(req, ENOENT);
		return;
	}
	if (n >= PATH_MAX) {
		reply_err(req, ENAMETOOLONG);
		return;
	}
	make_entry(req, parent, name, MAKE_SYMLINK, 0, link);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *p = inode_get(f, parent);
	int err;

	if (f->read_only)
		err = EROFS;
	else if (!p)
		err = ESTALE;
	else
		err = check_entry(f, p, name, NAME_OLD);
	if (!err && unlinkat(p->fd, name, flags) < 0)
		err = errno;
	if (err)
		reply_err(req, err);
	else
		fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, AT_REMOVEDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *p = inode_get(f, parent), *np = inode_get(f, newparent);
	int err;

	if (f->read_only)
		err = EROFS;
	else if (!p || !np)
		err = ESTALE;
	else if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		err = EINVAL; /* RENAME_WHITEOUT would make a device node */
	else if (!(err = check_entry(f, p, name, NAME_OLD)))
		err = check_entry(f, np, newname,
				  (flags & RENAME_EXCHANGE) ? NAME_OLD : NAME_NEW);
	/* What lands in a filtered root: the source, and with EXCHANGE the
	 * destination too. Checked before the rename: requests of one share
	 * run one at a time, so only a guest that also reached the source
	 * directory through a second share could swap it in between. */
	if (!err && filtered(f, np))
		err = check_movable(p->fd, name);
	if (!err && (flags & RENAME_EXCHANGE) && filtered(f, p))
		err = check_movable(np->fd, newname);
	if (!err && renameat2(p->fd, name, np->fd, newname, flags) < 0)
		err = errno;
	if (err)
		reply_err(req, err);
	else
		fuse_reply_err(req, 0);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino), *np = inode_get(f, newparent);
	struct fuse_entry_param e;
	char num[16];
	int err;

	if (f->read_only)
		err = EROFS;
	else if (!in || !np)
		err = ESTALE;
	else if (in->type == S_IFDIR)
		err = EPERM;
	else if (!(err = check_entry(f, np, newname, NAME_NEW)) && filtered(f, np) &&
		 in->type != S_IFREG)
		err = EPERM; /* a regular file or nothing (check_movable) */
	if (err) {
		reply_err(req, err);
		return;
	}
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (root has it); without,
	 * the magic link, never for a symlink (AT_SYMLINK_FOLLOW). */
	if (linkat(in->fd, "", np->fd, newname, AT_EMPTY_PATH) < 0) {
		err = errno;
		if (err == ENOENT && in->type != S_IFLNK) {
			fd_name(in->fd, num);
			err = linkat(f->proc_fd, num, np->fd, newname, AT_SYMLINK_FOLLOW) < 0 ?
				      errno :
				      0;
		}
		if (err) {
			reply_err(req, err);
			return;
		}
	}
	err = lookup_ref(f, np->fd, newname, &e);
	if (err)
		reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* ---- operations: open files ------------------------------------------------------------ */

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	int fd = -1, err;

	err = in ? open_inode(f, in, fi->flags, false, &fd) : ESTALE;
	if (err) {
		reply_err(req, err);
		return;
	}
	fi->fh = handle_new(f, fd, false);
	fi->direct_io = 0;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *p = inode_get(f, parent), *in;
	int acc = fi->flags & O_ACCMODE, fd = -1, err;
	struct fuse_entry_param e;
	struct stat st;

	if (f->read_only)
		err = EROFS;
	else if (!p)
		err = ESTALE;
	else if (acc == O_ACCMODE)
		err = EINVAL;
	else
		err = check_entry(f, p, name, NAME_NEW);
	if (!err && !fd_room(f, 2))
		err = EMFILE;
	if (err) {
		reply_err(req, err);
		return;
	}
	/* Always exclusive, never through a symlink: the new file is ours. */
	fd = open_beneath(p->fd, name,
			  acc | (fi->flags & (O_APPEND | O_SYNC | O_DSYNC)) | O_CREAT | O_EXCL |
				  O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			  mode & 07777);
	if (fd == -EEXIST && !(fi->flags & O_EXCL)) {
		/* It exists: open it as OPEN would, type checks and all. */
		err = lookup_ref(f, p->fd, name, &e);
		if (err) {
			reply_err(req, err);
			return;
		}
		in = entry_inode(f, &e);
		err = open_inode(f, in, fi->flags, false, &fd);
		if (err) {
			inode_unref(f, in, 1);
			reply_err(req, err);
			return;
		}
	} else if (fd < 0) {
		reply_err(req, -fd);
		return;
	} else {
		err = finish_new(f, req, p, name, false, &e);
		/* The name must still be the file we made. */
		if (!err && (fstat(fd, &st) < 0 || st.st_dev != e.attr.st_dev ||
			     st.st_ino != e.attr.st_ino)) {
			inode_unref(f, entry_inode(f, &e), 1);
			err = EIO;
		}
		if (err) {
			close(fd);
			reply_err(req, err);
			return;
		}
	}
	fi->fh = handle_new(f, fd, false);
	fi->direct_io = 0;
	fi->keep_cache = 0;
	fuse_reply_create(req, &e, fi);
}

/*
 * READ: the data goes straight into the guest's buffers after the out
 * header (preadv), then the reply names the in_place marker for it, which
 * writev skips. One copy, by the host kernel, and no buffer of ours.
 */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *h = handle_get(f, fi->fh, H_FILE);
	unsigned int n;
	ssize_t r;

	(void)ino;
	if (!h) {
		reply_err(req, EBADF);
		return;
	}
	if (size > FPT_MAX_IO)
		size = FPT_MAX_IO;
	if (size > reply_room(f))
		size = reply_room(f);
	if (!size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	n = reply_slice(&f->cur, HDR_OUT, size, f->iov, FPT_MAX_IOV);
	do
		r = preadv(h->fd, f->iov, (int)n, off);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_buf(req, r ? in_place : NULL, (size_t)r);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *h = handle_get(f, fi->fh, H_FILE);
	ssize_t r;

	(void)ino;
	if (f->read_only) {
		reply_err(req, EROFS);
		return;
	}
	if (!h) {
		reply_err(req, EBADF);
		return;
	}
	/* `buf` and `size` were checked against the request (check_request). */
	do
		r = pwrite(h->fd, buf, size, off);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_write(req, (size_t)r);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);

	(void)ino;
	/* No locks are held for lock owners, and writes are not buffered. */
	if (handle_get(f, fi->fh, H_FILE))
		fuse_reply_err(req, 0);
	else
		reply_err(req, EBADF);
}

/* RELEASE and RELEASEDIR: close the handle of that kind. */
static void release_handle(fuse_req_t req, struct fuse_file_info *fi, enum handle_kind kind)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *h = handle_get(f, fi->fh, kind);

	if (!h) {
		reply_err(req, EBADF);
		return;
	}
	handle_close(f, h);
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	release_handle(req, fi, H_FILE);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	release_handle(req, fi, H_DIR);
}

static void sync_handle(fuse_req_t req, struct fuse_file_info *fi, bool dir, int datasync)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *h = handle_get(f, fi->fh, dir ? H_DIR : H_FILE);

	if (!h) {
		reply_err(req, EBADF);
		return;
	}
	if ((datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	sync_handle(req, fi, false, datasync);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	sync_handle(req, fi, true, datasync);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *h = handle_get(f, fi->fh, H_FILE);

	(void)ino;
	if (f->read_only) {
		reply_err(req, EROFS);
		return;
	}
	if (!h) {
		reply_err(req, EBADF);
		return;
	}
	if (fallocate(h->fd, mode, offset, length) < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_err(req, 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *h = handle_get(f, fi->fh, H_FILE);
	off_t r;

	(void)ino;
	if (!h) {
		reply_err(req, EBADF);
		return;
	}
	if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END &&
	    whence != SEEK_DATA && whence != SEEK_HOLE) {
		reply_err(req, EINVAL);
		return;
	}
	r = lseek(h->fd, off, whence);
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_lseek(req, r);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *hi = handle_get(f, fi_in->fh, H_FILE);
	struct fpt_handle *ho = handle_get(f, fi_out->fh, H_FILE);
	loff_t a = off_in, b = off_out;
	ssize_t r;

	(void)ino_in;
	(void)ino_out;
	if (f->read_only) {
		reply_err(req, EROFS);
		return;
	}
	if (!hi || !ho) {
		reply_err(req, EBADF);
		return;
	}
	if (flags) {
		reply_err(req, EINVAL);
		return;
	}
	/* Bounded, so that one request cannot hold the server for long. */
	if (len > FPT_MAX_COPY)
		len = FPT_MAX_COPY;
	r = copy_file_range(hi->fd, &a, ho->fd, &b, len, 0);
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_write(req, (size_t)r);
}

/* ---- operations: directories ------------------------------------------------------------- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	struct fpt_handle *h;
	int fd = -1, err;

	err = in ? open_inode(f, in, O_RDONLY, true, &fd) : ESTALE;
	if (err) {
		reply_err(req, err);
		return;
	}
	fi->fh = handle_new(f, fd, true);
	/* READDIR filters by the handle: its node id is the guest's word. */
	h = handle_get(f, fi->fh, H_DIR);
	if (h)
		h->filtered = filtered(f, in);
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

static bool dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/*
 * READDIR and READDIRPLUS: one getdents64 from the position the guest
 * asks for (the d_off of the last entry it got), as many entries as fit
 * in its buffer (at most FPT_MAX_READDIR). READDIRPLUS looks each entry up
 * (a reference the guest owns, as for LOOKUP); "." and "..", an entry that
 * vanished and any entry beyond the fd limit go without attributes (node
 * id 0), which the kernel takes as "no entry to cache".
 */
static void read_dir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		     bool plus)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_handle *h = handle_get(f, fi->fh, H_DIR);
	char *out = (char *)f->out;
	size_t used = 0, want;
	long n;

	if (!h) {
		reply_err(req, EBADF);
		return;
	}
	if (size > FPT_MAX_READDIR)
		size = FPT_MAX_READDIR;
	if (size > reply_room(f))
		size = reply_room(f);
	if (!h->pos_known || h->pos != off) {
		if (lseek(h->fd, off, SEEK_SET) < 0) {
			reply_err(req, errno);
			return;
		}
		h->pos = off;
		h->pos_known = true;
	}
	want = size < 4096 ? 4096 : size;
	/* An empty reply ends the guest's listing: in a filtered root, where
	 * a whole batch may be hidden, read on until an entry is shown or
	 * the directory ends. */
	for (bool full = false; !full && used == 0;) {
		n = getdents64(h->fd, f->dents, want);
		if (n < 0) {
			reply_err(req, errno);
			return;
		}
		if (n == 0)
			break;
		for (long p = 0; p < n;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(f->dents + p);
			struct fuse_entry_param e;
			size_t sz;

			if (d->d_reclen == 0)
				break;
			p += d->d_reclen;
			/* A hidden entry is passed over, never looked up; the
			 * guest's next offset is that of the last entry shown,
			 * so resuming reads past hidden ones again. */
			if (h->filtered && !dot_or_dotdot(d->d_name) &&
			    check_entry(f, &f->inodes[0], d->d_name, NAME_LOOKUP)) {
				h->pos = d->d_off;
				continue;
			}
			/* With no buffer, these only say how much room the
			 * entry takes. */
			memset(&e, 0, sizeof(e));
			sz = plus ? fuse_add_direntry_plus(req, NULL, 0, d->d_name, &e,
							   d->d_off) :
				    fuse_add_direntry(req, NULL, 0, d->d_name, &e.attr,
						      d->d_off);
			if (sz > size - used) {
				/* The fd has read past what the guest gets. */
				h->pos_known = false;
				full = true;
				break;
			}
			if (!plus || dot_or_dotdot(d->d_name) ||
			    lookup_ref(f, h->fd, d->d_name, &e)) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->d_ino;
				e.attr.st_mode = DTTOIF(d->d_type);
			}
			if (plus)
				fuse_add_direntry_plus(req, out + used, size - used,
						       d->d_name, &e, d->d_off);
			else
				fuse_add_direntry(req, out + used, size - used, d->d_name,
						  &e.attr, d->d_off);
			used += sz;
			h->pos = d->d_off;
		}
	}
	fuse_reply_buf(req, out, used);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, off, fi, true);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	struct statvfs sv = { 0 };
	struct statfs sf;

	if (!in)
		in = &f->inodes[0];
	if (fstatfs(in->fd, &sf) < 0) {
		reply_err(req, errno);
		return;
	}
	sv.f_bsize = (unsigned long)sf.f_bsize;
	sv.f_frsize = sf.f_frsize ? (unsigned long)sf.f_frsize : (unsigned long)sf.f_bsize;
	sv.f_blocks = sf.f_blocks;
	sv.f_bfree = sf.f_bfree;
	sv.f_bavail = sf.f_bavail;
	sv.f_files = sf.f_files;
	sv.f_ffree = sf.f_ffree;
	sv.f_namemax = (unsigned long)sf.f_namelen;
	fuse_reply_statfs(req, &sv);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fpt *f = fuse_req_userdata(req);

	/* The guest kernel checks permissions (default_permissions); only
	 * what the host imposes is left to say. */
	if (!inode_get(f, ino)) {
		reply_err(req, ESTALE);
		return;
	}
	if ((mask & W_OK) && f->read_only) {
		reply_err(req, EROFS);
		return;
	}
	fuse_reply_err(req, 0);
}

/* ---- operations: extended attributes --------------------------------------------------- */

/*
 * xattr calls have no *at() form before Linux 6.13 and refuse O_PATH fds:
 * they go through the inode's magic link, /proc/self/fd/N (our fd's
 * number, never a guest name), which resolves to the inode itself, a
 * symlink included (the link is not followed further).
 */
static void xattr_path(const struct fpt_inode *in, char buf[32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", in->fd);
}

static int check_xattr_name(const char *name, bool change)
{
	size_t n = strnlen(name, XATTR_NAME_MAX + 1);

	if (n == 0 || n > XATTR_NAME_MAX)
		return ERANGE;
	/* Only the user namespace may change: security.capability,
	 * trusted.overlay.* or an ACL set by the guest would act on the
	 * host. trusted.* is not even shown. */
	if (change && strncmp(name, "user.", 5) != 0)
		return EOPNOTSUPP;
	if (!change && strncmp(name, "trusted.", 8) == 0)
		return ENODATA;
	return 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name_unused,
			const char *value_unused, size_t size_unused, int flags)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	/* libfuse 3.14 misplaces name and value (see the top of this file). */
	const char *name = f->cur.name[0], *value = f->cur.value;
	size_t size = f->cur.value_size;
	char path[32];
	int err;

	(void)name_unused;
	(void)value_unused;
	(void)size_unused;
	if (f->read_only)
		err = EROFS;
	else if (!in)
		err = ESTALE;
	else if (filtered(f, in))
		err = EPERM; /* the engine's directory, as for SETATTR */
	else if (size > XATTR_SIZE_MAX)
		err = E2BIG;
	else if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		err = EINVAL;
	else
		err = check_xattr_name(name, true);
	if (!err) {
		xattr_path(in, path);
		if (setxattr(path, name, value, size, flags) < 0)
			err = errno;
	}
	if (err)
		reply_err(req, err);
	else
		fuse_reply_err(req, 0);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	char path[32];
	ssize_t r;
	int err;

	err = in ? check_xattr_name(name, false) : ESTALE;
	if (err) {
		reply_err(req, err);
		return;
	}
	xattr_path(in, path);
	if (size == 0) {
		r = getxattr(path, name, NULL, 0);
		if (r < 0) {
			reply_err(req, errno);
			return;
		}
		fuse_reply_xattr(req, (size_t)r);
		return;
	}
	if (size > XATTR_SIZE_MAX)
		size = XATTR_SIZE_MAX;
	if (size > reply_room(f))
		size = reply_room(f);
	r = getxattr(path, name, f->out, size);
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	fuse_reply_buf(req, (const char *)f->out, (size_t)r);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	char *list = (char *)f->out, path[32];
	size_t n = 0;
	ssize_t r;

	if (!in) {
		reply_err(req, ESTALE);
		return;
	}
	xattr_path(in, path);
	r = listxattr(path, list, XATTR_LIST_MAX);
	if (r < 0) {
		reply_err(req, errno);
		return;
	}
	/* Leave out trusted.* names (check_xattr_name), in place. */
	for (ssize_t i = 0; i < r;) {
		size_t l = strnlen(list + i, (size_t)(r - i)) + 1;

		if (strncmp(list + i, "trusted.", 8) != 0) {
			memmove(list + n, list + i, l);
			n += l;
		}
		i += (ssize_t)l;
	}
	if (size == 0) {
		fuse_reply_xattr(req, n);
		return;
	}
	if (n > size) {
		reply_err(req, ERANGE);
		return;
	}
	fuse_reply_buf(req, list, n);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fpt *f = fuse_req_userdata(req);
	struct fpt_inode *in = inode_get(f, ino);
	char path[32];
	int err;

	if (f->read_only)
		err = EROFS;
	else if (!in)
		err = ESTALE;
	else if (filtered(f, in))
		err = EPERM; /* the engine's directory, as for SETATTR */
	else
		err = check_xattr_name(name, true);
	if (!err) {
		xattr_path(in, path);
		if (removexattr(path, name) < 0)
			err = errno;
	}
	if (err)
		reply_err(req, err);
	else
		fuse_reply_err(req, 0);
}

/* No getlk/setlk/flock: libfuse answers ENOSYS, and without POSIX_LOCKS
 * and FLOCK_LOCKS in INIT the guest keeps its locks to itself. */
static const struct fuse_lowlevel_ops fpt_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.copy_file_range = op_copy_file_range,
};

/* ---- the session ------------------------------------------------------------------------ */

/* libfuse's messages: to the debug log, one line each (a guest can cause
 * some of them, so never above debug). */
__attribute__((format(printf, 2, 0))) static void fpt_log(enum fuse_log_level level,
							   const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	(void)level;
	if (log_get_level() < LOG_DEBUG)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("virtio-fs: libfuse: %s", buf);
}

static void end_session(struct fpt *f)
{
	if (f->se)
		fuse_session_destroy(f->se); /* closes the session's eventfd */
	f->se = NULL;
}

/*
 * A session that has not seen FUSE_INIT. No mount and no /dev/fuse:
 * fuse_session_custom_io wants an fd it will close at the end, so it gets
 * an eventfd it never uses; replies go through fpt_writev.
 */
static int new_session(struct fpt *f)
{
	static char arg0[] = "cocoon-virtiofs";
	static const struct fuse_custom_io io = { .writev = fpt_writev, .read = fpt_read };
	char *argv[] = { arg0, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se;
	int fd, ret;

	se = fuse_session_new(&args, &fpt_ops, sizeof(fpt_ops), f);
	fuse_opt_free_args(&args);
	if (!se)
		return -ENOMEM;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		goto err_session;
	}
	ret = fuse_session_custom_io(se, &io, fd);
	if (ret) {
		close(fd);
		goto err_session;
	}
	f->se = se;
	f->renew = false;
	return 0;

err_session:
	fuse_session_destroy(se);
	return ret;
}

/* The first request on a thread: the guest's modes arrive with its umask
 * already applied; ours must not apply again (see fuse_pt.h). */
static void prepare_thread(void)
{
	static _Thread_local bool done;

	if (done)
		return;
	done = true;
	if (unshare(CLONE_FS) < 0) {
		log_warn("virtio-fs: unshare(CLONE_FS): %s; new files get the VMM's umask",
			 strerror(errno));
		return;
	}
	umask(0);
}

size_t fpt_process(struct fpt *f, size_t len, const struct iovec *reply, unsigned int nr)
{
	struct fuse_in_header in;
	struct fuse_buf buf = { 0 };
	int ret;

	prepare_thread();
	memset(&f->cur, 0, sizeof(f->cur));
	f->cur.reply = reply;
	f->cur.nr = nr < FPT_MAX_IOV ? nr : FPT_MAX_IOV;
	for (unsigned int i = 0; i < f->cur.nr; i++)
		f->cur.cap += reply[i].iov_len;
	if (len < sizeof(in) || len > FPT_MAX_REQ) {
		log_guest_once("virtio-fs: a request of %zu bytes", len);
		return 0;
	}
	memset(f->req + len, 0, REQ_PAD);
	memcpy(&in, f->req, sizeof(in));
	if (in.len != len) {
		log_guest_once("virtio-fs: request header says %u bytes, the buffer has %zu",
			       in.len, len);
		return 0;
	}
	ret = check_request(f, &in, len);
	if (ret == DROP)
		return 0;
	if (ret > 0) {
		reply_here(f, in.unique, ret);
		return f->cur.written;
	}
	if (!f->se && new_session(f) < 0) {
		reply_here(f, in.unique, EIO);
		return f->cur.written;
	}
	buf.mem = f->req;
	buf.size = len;
	fuse_session_process_buf(f->se, &buf);
	/* After FUSE_DESTROY a new mount sends FUSE_INIT again. */
	if (f->renew) {
		end_session(f);
		if (new_session(f) < 0)
			log_warn("virtio-fs: cannot start a new FUSE session");
	}
	return f->cur.written;
}

/* ---- life cycle --------------------------------------------------------------------------- */

void fpt_reset(struct fpt *f)
{
	end_session(f); /* calls op_destroy after an INIT */
	drop_all(f);
	if (new_session(f) < 0)
		log_warn("virtio-fs: cannot start a new FUSE session");
}

void *fpt_request_buf(struct fpt *f)
{
	return f->req;
}

void fpt_set_max_fds(struct fpt *f, unsigned int max)
{
	if (max < 1)
		max = 1;
	if (max < f->max_fds)
		f->max_fds = max;
}

unsigned int fpt_fds_held(const struct fpt *f)
{
	return f->nr_fds;
}

/* The fd limit: FPT_MAX_FDS, and RLIMIT_NOFILE minus a margin for the
 * rest of the VMM (half of it when the limit is small). */
static unsigned int fd_limit(void)
{
	unsigned int max = FPT_MAX_FDS;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t lim = rl.rlim_cur > 2 * FPT_FD_MARGIN ? rl.rlim_cur - FPT_FD_MARGIN :
							       rl.rlim_cur / 2;

		if (lim < max)
			max = (unsigned int)lim;
	}
	return max < 2 ? 2 : max;
}

void fpt_destroy(struct fpt *f)
{
	if (!f)
		return;
	end_session(f);
	if (f->tables_ready) {
		drop_all(f);
		if (f->inodes[0].fd >= 0)
			close(f->inodes[0].fd);
	}
	if (f->proc_fd >= 0)
		close(f->proc_fd);
	free(f->inodes);
	free(f->handles);
	free(f->buckets);
	free(f->req);
	free(f->dents);
	free(f->out);
	free(f->names);
	free(f);
}

/* Check the allow-list and keep a copy of it in f. Returns 0 or -errno
 * with a reason in why. */
static int set_names(struct fpt *f, const char *const *names, unsigned int nr, char *why,
		     size_t why_len)
{
	if (nr > FPT_MAX_NAMES || (nr && !names))
		return why_fail(why, why_len, -EINVAL, "at most %u names, not %u",
				FPT_MAX_NAMES, nr);
	for (unsigned int i = 0; i < nr; i++)
		if (!names[i] || check_name(names[i], false))
			return why_fail(why, why_len, -EINVAL,
					"shown name \"%.40s\" is not one path component "
					"of 1 to %d bytes other than \".\" and \"..\"",
					names[i] ? names[i] : "(null)", NAME_MAX);
	if (!nr)
		return 0;
	f->names = calloc(nr, sizeof(*f->names));
	if (!f->names)
		return why_fail(why, why_len, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < nr; i++)
		strcpy(f->names[i], names[i]); /* at most NAME_MAX: check_name */
	f->nr_names = nr;
	return 0;
}

int fpt_create(struct fpt **out, const char *host_dir, const char *const *names,
	       unsigned int nr_names, bool read_only, char *why, size_t why_len)
{
	struct fpt *f = calloc(1, sizeof(*f));
	uint32_t nb = 1;
	struct stat st;
	int fd, ret;

	if (!f)
		return why_fail(why, why_len, -ENOMEM, "out of memory");
	f->proc_fd = -1;
	f->read_only = read_only;
	ret = set_names(f, names, nr_names, why, why_len);
	if (ret)
		goto err;
	f->cap = f->max_fds = fd_limit();
	while (nb < 2 * f->cap)
		nb <<= 1;
	f->mask = nb - 1;
	f->inodes = calloc(f->cap, sizeof(*f->inodes));
	f->handles = calloc(f->cap, sizeof(*f->handles));
	f->buckets = malloc(nb * sizeof(*f->buckets));
	f->req = malloc(FPT_MAX_REQ + REQ_PAD);
	f->dents = malloc(FPT_MAX_READDIR);
	f->out = malloc(OUT_SIZE);
	if (!f->inodes || !f->handles || !f->buckets || !f->req || !f->dents || !f->out) {
		ret = why_fail(why, why_len, -ENOMEM, "out of memory");
		goto err;
	}
	for (uint32_t b = 0; b < nb; b++)
		f->buckets[b] = NO_SLOT;
	/* Free lists in index order; generations start at 1 (0: the root). */
	f->free_inode = f->free_handle = NO_SLOT;
	for (unsigned int i = f->cap; i-- > 0;) {
		f->inodes[i] = (struct fpt_inode){ .fd = -1, .gen = i ? 1 : 0, .next = NO_SLOT };
		f->handles[i] = (struct fpt_handle){ .fd = -1, .gen = 1,
						     .next_free = f->free_handle };
		f->free_handle = (int32_t)i;
		if (i) {
			f->inodes[i].next = f->free_inode;
			f->free_inode = (int32_t)i;
		}
	}
	f->tables_ready = true;
	fd = open(host_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = why_fail(why, why_len, -errno, "%s",
			       errno == ENOTDIR ? "not a directory" : strerror(errno));
		goto err;
	}
	if (fstat(fd, &st) < 0) {
		ret = why_fail(why, why_len, -errno, "%s", strerror(errno));
		close(fd);
		goto err;
	}
	/* The root: slot 0, node id FUSE_ROOT_ID, never forgotten. */
	f->inodes[0].fd = fd;
	f->inodes[0].type = S_IFDIR;
	f->inodes[0].dev = st.st_dev;
	f->inodes[0].ino = st.st_ino;
	f->inodes[0].next = NO_SLOT;
	f->buckets[key_hash(f, st.st_dev, st.st_ino)] = 0;
	f->nr_fds = 1;
	f->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (f->proc_fd < 0) {
		ret = why_fail(why, why_len, -errno, "/proc/self/fd: %s (is /proc mounted?)",
			       strerror(errno));
		goto err;
	}
	fuse_set_log_func(fpt_log);
	ret = new_session(f);
	if (ret) {
		why_fail(why, why_len, ret, "libfuse session: %s", strerror(-ret));
		goto err;
	}
	*out = f;
	return 0;

err:
	fpt_destroy(f);
	return ret;
}
