/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs through the fake driver, on a temporary host directory: FUSE
 * requests are built by hand (<linux/fuse.h>), posted as chains and served
 * by vfs_process on this thread (one test starts the server thread). Each
 * test gets a fresh share:
 *
 *   BASE/share/hello.txt      "hello world\n"
 *   BASE/share/sub/inner      "inner"
 *   BASE/share/etc-link    -> /etc
 *   BASE/share/escape      -> ../outside/secret
 *   BASE/share/fifo           a fifo
 *   BASE/share/null           a character device 1:3 (when mknod works)
 *   BASE/outside/secret       must never be reached
 *
 * Covered: device identity and configuration; FUSE_INIT as Linux 6.12's
 * virtiofs sends it, and what libfuse answers; round trips of lookup,
 * getattr, create, write, read (also into a chain of page-sized buffers),
 * readdir and readdirplus (with continuation), mkdir, rename (+NOREPLACE,
 * EXCHANGE), unlink, rmdir, symlink, readlink, link, mknod, setattr,
 * xattrs, statfs, forget; ownership passed through (as root); and the
 * hostile cases: symlinks out of the share never followed, bad names,
 * fifos and devices never opened, the fd limit, a read-only share, the
 * share removed under the server, malformed requests and chains, wrong
 * queue, reset and FUSE_DESTROY. A filtered share (names {a, subdir}; its
 * tree is described at make_filtered_tree): hidden names neither listed,
 * looked up, made, removed nor renamed, listings through small buffers,
 * the root's attributes, what a listed name may hold, read-only too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/fuse.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/fs.h"
#include "devices/virtio/mmio.h"
#include "log.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM_SIZE (32u << 20)
#define RINGS 0x10000ull   /* hiprio rings; request rings 0x4000 further */
#define REQ 0x100000ull    /* request buffers (up to 2 MiB) */
#define REP 0x400000ull    /* reply buffers (up to 2 MiB) */
#define HIPRIO_SIZE 128u
#define REQ_SIZE 512u      /* room for a chain of 250 buffers */
#define HIPRIO VFS_HIPRIO_QUEUE
#define REQQ VFS_REQUEST_QUEUE
#define ROOT FUSE_ROOT_ID
#define BIG_CAP (1u << 20)
#define TAG "myshare"
/* FUSE 7.39's flag, newer than this <linux/fuse.h>: Linux 6.12 sends it. */
#define CREATE_SUPP_GROUP (1ull << 34)

static struct guest_mem mem;
static uint8_t *ram;
static struct vfs *fs;
static struct vfd d;
static char base[64], share[96], outside[96];
static uint64_t uniq;
static uint32_t ctx_uid, ctx_gid;
static bool have_devnode;

/* The request being built, and the last reply. */
static uint8_t rq[2u << 20];
static size_t rq_len;
static uint8_t rep[2u << 20];
static uint32_t rep_used;

/* ---- host side helpers ---------------------------------------------------------- */

static void path_of(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", share, rel);
}

static void put_file(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	path_of(p, sizeof(p), rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static size_t get_file(const char *rel, char *buf, size_t len)
{
	char p[256];
	ssize_t n;
	int fd;

	path_of(p, sizeof(p), rel);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return (size_t)-1;
	n = read(fd, buf, len - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return (size_t)n;
}

static bool host_exists(const char *rel)
{
	char p[256];
	struct stat st;

	path_of(p, sizeof(p), rel);
	return lstat(p, &st) == 0;
}

static struct stat host_stat(const char *rel)
{
	char p[256];
	struct stat st;

	path_of(p, sizeof(p), rel);
	assert_int_equal(lstat(p, &st), 0);
	return st;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 ? -1 : 0;
}

static void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the guest side ----------------------------------------------------------- */

static void bring_up(void)
{
	uint32_t status;

	assert_true(vfd_negotiate(&d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_RING_FEATURES));
	vfd_layout(&d, HIPRIO, HIPRIO_SIZE, RINGS);
	vfd_program(&d, HIPRIO);
	vfd_layout(&d, REQQ, REQ_SIZE, RINGS + 0x4000);
	vfd_program(&d, REQQ);
	status = vfd_driver_ok(&d);
	assert_true(status & VIRTIO_CONFIG_S_DRIVER_OK);
	assert_false(status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void serve(void)
{
	while (vfs_process(fs))
		;
}

/*
 * Post `len` request bytes (one readable buffer, none when 0) and `cap`
 * writable bytes (split into `seg`-byte buffers when seg, the first of
 * them 16 bytes as Linux posts the out header), serve, and return the used
 * length; the reply lands in rep[].
 */
static uint32_t post_raw(unsigned int q, const void *req, size_t len, size_t cap, size_t seg)
{
	struct vfd_buf bufs[300];
	unsigned int n = 0;
	uint32_t id, used;
	size_t off = 0;

	if (len) {
		memcpy(ram + REQ, req, len);
		bufs[n++] = (struct vfd_buf){ REQ, (uint32_t)len, false };
	}
	memset(ram + REP, 0xa5, cap);
	while (off < cap) {
		size_t k = seg ? (off == 0 ? 16 : seg) : cap;

		if (k > cap - off)
			k = cap - off;
		bufs[n++] = (struct vfd_buf){ REP + off, (uint32_t)k, true };
		off += k;
	}
	vfd_post(&d, q, bufs, n);
	serve();
	assert_true(vfd_used(&d, q, &id, &used));
	assert_true(used <= cap);
	memcpy(rep, ram + REP, cap < sizeof(rep) ? cap : sizeof(rep));
	rep_used = used;
	return used;
}

static struct fuse_in_header *hdr(void)
{
	return (struct fuse_in_header *)(void *)rq;
}

static void begin(uint32_t opcode, uint64_t nodeid)
{
	memset(rq, 0, sizeof(struct fuse_in_header));
	hdr()->opcode = opcode;
	hdr()->unique = ++uniq;
	hdr()->nodeid = nodeid;
	hdr()->uid = ctx_uid;
	hdr()->gid = ctx_gid;
	hdr()->pid = 1;
	rq_len = sizeof(struct fuse_in_header);
}

static void add(const void *p, size_t n)
{
	memcpy(rq + rq_len, p, n);
	rq_len += n;
}

static void add_str(const char *s)
{
	add(s, strlen(s) + 1);
}

/* Send the request built; return the reply's error (0 or -errno). The
 * payload is at rep + 16, reply_len() bytes. */
static int call_seg(size_t cap, size_t seg)
{
	struct fuse_out_header h;
	uint32_t used;

	hdr()->len = (uint32_t)rq_len;
	used = post_raw(REQQ, rq, rq_len, cap, seg);
	assert_true(used >= sizeof(h));
	memcpy(&h, rep, sizeof(h));
	assert_int_equal(h.len, used);
	assert_int_equal(h.unique, hdr()->unique);
	return h.error;
}

static int call(void)
{
	return call_seg(BIG_CAP, 0);
}

static size_t reply_len(void)
{
	return rep_used - sizeof(struct fuse_out_header);
}

static void *payload(void)
{
	return rep + sizeof(struct fuse_out_header);
}

/* Requests without a reply (FORGET): on hiprio, nothing writable. */
static uint32_t call_noreply(unsigned int q)
{
	hdr()->len = (uint32_t)rq_len;
	return post_raw(q, rq, rq_len, 0, 0);
}

/* ---- FUSE operations ------------------------------------------------------------ */

/* FUSE_INIT as Linux 6.12's virtiofs sends it (7.41, 64-byte struct). */
static int fuse_init_minor(uint32_t major, uint32_t minor, struct fuse_init_out *out)
{
	struct fuse_init_in in = { .major = major, .minor = minor,
				   .max_readahead = 128 * 1024 };
	uint64_t flags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC |
			 FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_DONT_MASK |
			 FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_SPLICE_READ |
			 FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA |
			 FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO |
			 FUSE_WRITEBACK_CACHE | FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS |
			 FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL | FUSE_ABORT_ERROR |
			 FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT |
			 FUSE_EXPLICIT_INVAL_DATA | FUSE_HANDLE_KILLPRIV_V2 |
			 FUSE_SETXATTR_EXT | FUSE_INIT_EXT | FUSE_SECURITY_CTX |
			 CREATE_SUPP_GROUP | FUSE_HAS_EXPIRE_ONLY;
	int err;

	in.flags = (uint32_t)flags;
	in.flags2 = (uint32_t)(flags >> 32);
	begin(FUSE_INIT, 0);
	add(&in, sizeof(in));
	err = call();
	if (!err && out)
		memcpy(out, payload(), sizeof(*out));
	return err;
}

static void fuse_init(void)
{
	assert_int_equal(fuse_init_minor(7, 41, NULL), 0);
}

static int lookup(uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	int err;

	begin(FUSE_LOOKUP, parent);
	add_str(name);
	err = call();
	if (!err && e) {
		assert_int_equal(reply_len(), sizeof(*e));
		memcpy(e, payload(), sizeof(*e));
	}
	return err;
}

static uint64_t lookup_id(uint64_t parent, const char *name)
{
	struct fuse_entry_out e;

	assert_int_equal(lookup(parent, name, &e), 0);
	return e.nodeid;
}

static int getattr(uint64_t id, struct fuse_attr *a)
{
	struct fuse_getattr_in in = { 0 };
	int err;

	begin(FUSE_GETATTR, id);
	add(&in, sizeof(in));
	err = call();
	if (!err && a)
		memcpy(a, &((struct fuse_attr_out *)payload())->attr, sizeof(*a));
	return err;
}

static void forget(uint64_t id, uint64_t n)
{
	struct fuse_forget_in in = { .nlookup = n };

	begin(FUSE_FORGET, id);
	add(&in, sizeof(in));
	assert_int_equal(call_noreply(HIPRIO), 0);
}

static int open_node(uint64_t id, uint32_t op, uint32_t flags, uint64_t *fh)
{
	struct fuse_open_in in = { .flags = flags };
	int err;

	begin(op, id);
	add(&in, sizeof(in));
	err = call();
	if (!err) {
		assert_int_equal(reply_len(), sizeof(struct fuse_open_out));
		*fh = ((struct fuse_open_out *)payload())->fh;
	}
	return err;
}

static int do_open(uint64_t id, uint32_t flags, uint64_t *fh)
{
	return open_node(id, FUSE_OPEN, flags, fh);
}

static int release(uint64_t id, uint64_t fh, bool dir)
{
	struct fuse_release_in in = { .fh = fh };

	begin(dir ? FUSE_RELEASEDIR : FUSE_RELEASE, id);
	add(&in, sizeof(in));
	return call();
}

static int create(uint64_t parent, const char *name, uint32_t flags, uint32_t mode,
		  struct fuse_entry_out *e, uint64_t *fh)
{
	struct fuse_create_in in = { .flags = flags, .mode = S_IFREG | mode, .umask = 022 };
	int err;

	begin(FUSE_CREATE, parent);
	add(&in, sizeof(in));
	add_str(name);
	err = call();
	if (!err) {
		assert_int_equal(reply_len(), sizeof(*e) + sizeof(struct fuse_open_out));
		if (e)
			memcpy(e, payload(), sizeof(*e));
		*fh = ((struct fuse_open_out *)(void *)((uint8_t *)payload() + sizeof(*e)))->fh;
	}
	return err;
}

/* Bytes written, or -errno. */
static int64_t fwrite_at(uint64_t id, uint64_t fh, uint64_t off, const void *data, uint32_t len)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = len };
	int err;

	begin(FUSE_WRITE, id);
	add(&in, sizeof(in));
	add(data, len);
	err = call();
	if (err)
		return err;
	assert_int_equal(reply_len(), sizeof(struct fuse_write_out));
	return ((struct fuse_write_out *)payload())->size;
}

/* Bytes read into buf, or -errno; `seg`: reply buffers page by page. */
static int64_t fread_at(uint64_t id, uint64_t fh, uint64_t off, uint32_t size, void *buf,
			size_t seg)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };
	int err;

	begin(FUSE_READ, id);
	add(&in, sizeof(in));
	err = call_seg(sizeof(struct fuse_out_header) + size, seg);
	if (err)
		return err;
	memcpy(buf, payload(), reply_len());
	return (int64_t)reply_len();
}

static int mkdir_(uint64_t parent, const char *name, uint32_t mode, struct fuse_entry_out *e)
{
	struct fuse_mkdir_in in = { .mode = mode, .umask = 022 };
	int err;

	begin(FUSE_MKDIR, parent);
	add(&in, sizeof(in));
	add_str(name);
	err = call();
	if (!err && e)
		memcpy(e, payload(), sizeof(*e));
	return err;
}

static int mknod_(uint64_t parent, const char *name, uint32_t mode, uint32_t rdev,
		  struct fuse_entry_out *e)
{
	struct fuse_mknod_in in = { .mode = mode, .rdev = rdev, .umask = 022 };
	int err;

	begin(FUSE_MKNOD, parent);
	add(&in, sizeof(in));
	add_str(name);
	err = call();
	if (!err && e)
		memcpy(e, payload(), sizeof(*e));
	return err;
}

static int symlink_(uint64_t parent, const char *name, const char *target,
		    struct fuse_entry_out *e)
{
	int err;

	begin(FUSE_SYMLINK, parent);
	add_str(name);
	add_str(target);
	err = call();
	if (!err && e)
		memcpy(e, payload(), sizeof(*e));
	return err;
}

static int link_(uint64_t id, uint64_t newparent, const char *name, struct fuse_entry_out *e)
{
	struct fuse_link_in in = { .oldnodeid = id };
	int err;

	begin(FUSE_LINK, newparent);
	add(&in, sizeof(in));
	add_str(name);
	err = call();
	if (!err && e)
		memcpy(e, payload(), sizeof(*e));
	return err;
}

static int unlink_(uint64_t parent, const char *name, bool dir)
{
	begin(dir ? FUSE_RMDIR : FUSE_UNLINK, parent);
	add_str(name);
	return call();
}

static int rename_(uint64_t parent, const char *name, uint64_t newparent, const char *newname,
		   uint32_t flags)
{
	struct fuse_rename2_in in = { .newdir = newparent, .flags = flags };

	begin(FUSE_RENAME2, parent);
	add(&in, sizeof(in));
	add_str(name);
	add_str(newname);
	return call();
}

static int readlink_(uint64_t id, char *buf, size_t len)
{
	int err;

	begin(FUSE_READLINK, id);
	err = call_seg(sizeof(struct fuse_out_header) + 4096, 0);
	if (!err) {
		assert_true(reply_len() < len);
		memcpy(buf, payload(), reply_len());
		buf[reply_len()] = '\0';
	}
	return err;
}

static int setattr_(uint64_t id, const struct fuse_setattr_in *in, struct fuse_attr *a)
{
	int err;

	begin(FUSE_SETATTR, id);
	add(in, sizeof(*in));
	err = call();
	if (!err && a)
		memcpy(a, &((struct fuse_attr_out *)payload())->attr, sizeof(*a));
	return err;
}

/* Linux sends the 8-byte fuse_setxattr_in unless FUSE_SETXATTR_EXT. */
static int setxattr_(uint64_t id, const char *name, const void *value, uint32_t size,
		     uint32_t flags)
{
	uint32_t in[2] = { size, flags };

	begin(FUSE_SETXATTR, id);
	add(in, sizeof(in));
	add_str(name);
	add(value, size);
	return call();
}

/* Size (size 0) or bytes into buf, or -errno. */
static int64_t getxattr_(uint64_t id, uint32_t op, const char *name, uint32_t size, void *buf)
{
	struct fuse_getxattr_in in = { .size = size };
	int err;

	begin(op, id);
	add(&in, sizeof(in));
	if (name)
		add_str(name);
	err = call();
	if (err)
		return err;
	if (size == 0) {
		assert_int_equal(reply_len(), sizeof(struct fuse_getxattr_out));
		return ((struct fuse_getxattr_out *)payload())->size;
	}
	memcpy(buf, payload(), reply_len());
	return (int64_t)reply_len();
}

static int removexattr_(uint64_t id, const char *name)
{
	begin(FUSE_REMOVEXATTR, id);
	add_str(name);
	return call();
}

/* READDIR(PLUS) one buffer of `size` from `off`; the reply in rep. */
static int readdir_(uint64_t id, uint64_t fh, uint64_t off, uint32_t size, bool plus)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	begin(plus ? FUSE_READDIRPLUS : FUSE_READDIR, id);
	add(&in, sizeof(in));
	return call_seg(sizeof(struct fuse_out_header) + size, 0);
}

/* Walk the entries of the last READDIR(PLUS) reply. */
struct dent {
	char name[NAME_MAX + 1];
	uint64_t off, ino, nodeid;
	uint32_t type, mode;
};

static unsigned int parse_dir(bool plus, struct dent *out, unsigned int max)
{
	const uint8_t *p = payload(), *end = p + reply_len();
	unsigned int n = 0;

	while (p < end && n < max) {
		const struct fuse_dirent *de;
		struct dent *o = &out[n++];
		size_t sz;

		memset(o, 0, sizeof(*o));
		if (plus) {
			const struct fuse_direntplus *dp = (const void *)p;

			o->nodeid = dp->entry_out.nodeid;
			o->mode = dp->entry_out.attr.mode;
			de = &dp->dirent;
			sz = FUSE_DIRENTPLUS_SIZE(dp);
		} else {
			de = (const void *)p;
			sz = FUSE_DIRENT_SIZE(de);
		}
		assert_true(de->namelen <= NAME_MAX);
		memcpy(o->name, de->name, de->namelen);
		o->off = de->off;
		o->ino = de->ino;
		o->type = de->type;
		p += sz;
	}
	assert_true(p == end);
	return n;
}

static struct dent *find_dent(struct dent *d0, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcmp(d0[i].name, name) == 0)
			return &d0[i];
	return NULL;
}

/* ---- fixtures ------------------------------------------------------------------------ */

/* BASE and an empty BASE/share. */
static void make_base(void)
{
	snprintf(base, sizeof(base), "/tmp/cocoon-vfs.XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(share, sizeof(share), "%s/share", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	assert_int_equal(mkdir(share, 0755), 0);
}

static void make_tree(void)
{
	char p[256];

	make_base();
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(p, sizeof(p), "%s/secret", outside);
	assert_int_equal(close(open(p, O_CREAT | O_WRONLY, 0644)), 0);
	put_file("hello.txt", "hello world\n");
	path_of(p, sizeof(p), "sub");
	assert_int_equal(mkdir(p, 0755), 0);
	put_file("sub/inner", "inner");
	path_of(p, sizeof(p), "etc-link");
	assert_int_equal(symlink("/etc", p), 0);
	path_of(p, sizeof(p), "escape");
	assert_int_equal(symlink("../outside/secret", p), 0);
	path_of(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0666), 0);
	path_of(p, sizeof(p), "null");
	have_devnode = mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0;
}

/*
 * The tree of the filtered share (names {a, subdir}):
 *   BASE/share/a, b, secret   "A", "B", "S"
 *   BASE/share/subdir/x       "x"
 *   BASE/share/subdir/fifo    a fifo
 *   BASE/share/subdir/lnk  -> a
 */
static const char *const shown[] = { "a", "subdir" };

static void make_filtered_tree(void)
{
	char p[256];

	make_base();
	put_file("a", "A");
	put_file("b", "B");
	put_file("secret", "S");
	path_of(p, sizeof(p), "subdir");
	assert_int_equal(mkdir(p, 0755), 0);
	put_file("subdir/x", "x");
	path_of(p, sizeof(p), "subdir/fifo");
	assert_int_equal(mkfifo(p, 0644), 0);
	path_of(p, sizeof(p), "subdir/lnk");
	assert_int_equal(symlink("a", p), 0);
}

static void open_dev(bool read_only, const char *const *names, unsigned int nr_names)
{
	char why[200] = "";

	if (vfs_create(&fs, &mem, share, names, nr_names, TAG, read_only, why,
		       sizeof(why)))
		fail_msg("vfs_create: %s", why);
	vfd_init(&d, vfs_dev(fs), &mem);
}

static int setup_common(bool read_only, bool filtered)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };

	uniq = 0;
	ctx_uid = getuid();
	ctx_gid = getgid();
	assert_int_equal(gm_create(&mem, &r, 1), 0);
	ram = gm_ptr(&mem, 0, RAM_SIZE);
	if (filtered) {
		make_filtered_tree();
		open_dev(read_only, shown, ARRAY_SIZE(shown));
	} else {
		make_tree();
		open_dev(read_only, NULL, 0);
	}
	bring_up();
	fuse_init();
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_common(false, false);
}

static int setup_ro(void **state)
{
	(void)state;
	return setup_common(true, false);
}

/* The filtered share, read-only when the test's initial state is
 * &filtered_ro. */
static bool filtered_ro = true;

static int setup_filtered(void **state)
{
	return setup_common(*state == &filtered_ro, true);
}

static int teardown(void **state)
{
	(void)state;
	vfs_destroy(fs ? vfs_dev(fs) : NULL);
	fs = NULL;
	gm_destroy(&mem);
	rm_tree(base);
	return 0;
}

/* ---- the device ---------------------------------------------------------------------- */

static void identity_and_config(void **state)
{
	uint8_t cfg[40];

	(void)state;
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_ID), 26);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	/* 5.11.3: no VIRTIO_FS_F_NOTIFICATION (bit 0); ring features only. */
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES),
			 (uint32_t)VIRTIO_RING_FEATURES);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), VFS_HIPRIO_SIZE);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), VFS_QUEUE_SIZE);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	for (unsigned int i = 0; i < sizeof(cfg); i += 4)
		put_le32(cfg + i, vfd_rd(&d, 0x100 + i));
	assert_memory_equal(cfg, TAG, strlen(TAG));
	for (size_t i = strlen(TAG); i < 36; i++)
		assert_int_equal(cfg[i], 0);
	assert_int_equal(get_le32(cfg + 36), 1); /* num_request_queues */
	vfd_wr(&d, 0x100, 0x41414141);          /* read-only */
	assert_int_equal(vfd_rd(&d, 0x100), get_le32(TAG));
}

/* vfs_create into `other` (destroyed again on success); returns its result. */
static int try_create(const char *dir, const char *const *names, unsigned int nr,
		      const char *tag, char *why, size_t why_len)
{
	struct vfs *other = NULL;
	int ret = vfs_create(&other, &mem, dir, names, nr, tag, false, why, why_len);

	if (!ret)
		vfs_destroy(vfs_dev(other));
	return ret;
}

static void create_errors(void **state)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "/a", "a/" };
	char why[200], p[256], longest[NAME_MAX + 2];
	const char *one[1], *many[65];

	(void)state;
	why[0] = '\0';
	assert_int_equal(try_create("/nonexistent/dir", NULL, 0, TAG, why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "No such file"));
	path_of(p, sizeof(p), "hello.txt");
	assert_int_equal(try_create(p, NULL, 0, TAG, why, sizeof(why)), -ENOTDIR);
	assert_non_null(strstr(why, "not a directory"));
	assert_int_equal(try_create(share, NULL, 0, "", why, sizeof(why)), -EINVAL);
	assert_int_equal(try_create(share, NULL, 0, "has space", why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(try_create(share, NULL, 0, "0123456789012345678901234567890123456",
				    why, sizeof(why)),
			 -EINVAL);
	/* 36 characters is the most, without a NUL. */
	assert_int_equal(try_create(share, NULL, 0, "012345678901234567890123456789012345",
				    why, sizeof(why)),
			 0);
	vfs_destroy(NULL);

	/* Shown names: one component each, NAME_MAX bytes at most. */
	memset(longest, 'n', NAME_MAX);
	longest[NAME_MAX] = '\0';
	one[0] = longest;
	assert_int_equal(try_create(share, one, 1, TAG, why, sizeof(why)), 0);
	longest[NAME_MAX] = 'n';
	longest[NAME_MAX + 1] = '\0';
	assert_int_equal(try_create(share, one, 1, TAG, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "path component"));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		one[0] = bad[i];
		assert_int_equal(try_create(share, one, 1, TAG, why, sizeof(why)),
				 -EINVAL);
	}
	one[0] = NULL;
	assert_int_equal(try_create(share, one, 1, TAG, why, sizeof(why)), -EINVAL);
	assert_int_equal(try_create(share, NULL, 1, TAG, why, sizeof(why)), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = "a";
	assert_int_equal(try_create(share, many, 64, TAG, why, sizeof(why)), 0);
	assert_int_equal(try_create(share, many, 65, TAG, why, sizeof(why)), -EINVAL);
}

/* FUSE_INIT from a Linux 6.12 guest, and what libfuse 3.14 answers. */
static void init_reply(void **state)
{
	struct fuse_init_out out;
	uint64_t flags;

	(void)state;
	/* setup() sent one: a second INIT in a session is refused. */
	assert_int_equal(fuse_init_minor(7, 41, NULL), -EIO);
	/* A reset (what the guest does before a new mount) starts over. */
	bring_up();
	/* Nothing but INIT before INIT. */
	assert_int_equal(lookup(ROOT, "hello.txt", NULL), -EIO);
	assert_int_equal(fuse_init_minor(7, 30, NULL), -EPROTO); /* no virtio-fs */
	assert_int_equal(fuse_init_minor(6, 41, NULL), -EPROTO);
	/* A newer major: libfuse answers its own version, the guest retries. */
	assert_int_equal(fuse_init_minor(8, 0, &out), 0);
	assert_int_equal(out.major, 7);
	assert_int_equal(fuse_init_minor(7, 41, &out), 0);
	assert_int_equal(reply_len(), sizeof(out));
	assert_int_equal(out.major, 7);
	assert_true(out.minor >= 31);
	flags = out.flags | (uint64_t)out.flags2 << 32;
	assert_int_equal(out.max_write, FPT_MAX_IO);
	assert_int_equal(out.max_pages, FPT_MAX_IO / 4096);
	assert_true(out.max_readahead <= 128 * 1024);
	assert_true(out.time_gran == 1);
	assert_true(flags & FUSE_MAX_PAGES);
	assert_true(flags & FUSE_INIT_EXT);
	assert_true(flags & FUSE_ASYNC_READ);
	assert_true(flags & FUSE_DO_READDIRPLUS);
	assert_true(flags & FUSE_ATOMIC_O_TRUNC);
	assert_true(flags & FUSE_BIG_WRITES);
	/* Nothing the server does not do. */
	assert_false(flags & (FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_SPLICE_READ));
	assert_false(flags & (FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS));
	assert_false(flags & (FUSE_HANDLE_KILLPRIV | FUSE_HANDLE_KILLPRIV_V2));
	assert_false(flags & (FUSE_WRITEBACK_CACHE | FUSE_POSIX_ACL | FUSE_EXPORT_SUPPORT));
	assert_false(flags & (FUSE_SETXATTR_EXT | FUSE_SECURITY_CTX | CREATE_SUPP_GROUP));
	assert_false(flags & (FUSE_DONT_MASK | FUSE_HAS_IOCTL_DIR));
	/* And it serves. */
	assert_int_equal(lookup(ROOT, "hello.txt", NULL), 0);
}

/* ---- round trips ------------------------------------------------------------------------ */

static void lookup_getattr(void **state)
{
	struct fuse_entry_out e, e2;
	struct fuse_attr a;
	struct stat st = host_stat("hello.txt");

	(void)state;
	assert_int_equal(lookup(ROOT, "hello.txt", &e), 0);
	assert_true(e.nodeid != 0 && e.nodeid != ROOT);
	assert_int_equal(e.attr.size, 12);
	assert_int_equal(e.attr.ino, st.st_ino);
	assert_true(S_ISREG(e.attr.mode));
	assert_int_equal(e.attr.mode & 07777, st.st_mode & 07777);
	assert_int_equal(e.entry_valid, 1);
	/* The same inode, the same node id. */
	assert_int_equal(lookup(ROOT, "hello.txt", &e2), 0);
	assert_int_equal(e2.nodeid, e.nodeid);
	assert_int_equal(getattr(e.nodeid, &a), 0);
	assert_int_equal(a.size, 12);
	assert_int_equal(getattr(ROOT, &a), 0);
	assert_true(S_ISDIR(a.mode));
	assert_int_equal(lookup(ROOT, "missing", NULL), -ENOENT);
	assert_int_equal(lookup(lookup_id(ROOT, "sub"), "inner", &e), 0);
	assert_int_equal(e.attr.size, 5);
	/* A lookup under a regular file. */
	assert_int_equal(lookup(lookup_id(ROOT, "hello.txt"), "x", NULL), -ENOTDIR);
}

static void create_write_read(void **state)
{
	static uint8_t big[FPT_MAX_IO], back[FPT_MAX_IO];
	struct fuse_entry_out e;
	uint64_t fh, fh2;
	char buf[64];
	struct stat st;

	(void)state;
	assert_int_equal(create(ROOT, "new.txt", O_RDWR | O_CREAT, 0640, &e, &fh), 0);
	assert_true(S_ISREG(e.attr.mode));
	st = host_stat("new.txt");
	/* The mode as the guest gave it (its kernel applied its umask). */
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, ctx_uid);
	assert_int_equal(fwrite_at(e.nodeid, fh, 0, "abcdef", 6), 6);
	assert_int_equal(fread_at(e.nodeid, fh, 0, sizeof(buf), buf, 0), 6);
	assert_memory_equal(buf, "abcdef", 6);
	assert_int_equal(fread_at(e.nodeid, fh, 2, 2, buf, 0), 2);
	assert_memory_equal(buf, "cd", 2);
	assert_int_equal(fread_at(e.nodeid, fh, 100, 10, buf, 0), 0);
	assert_int_equal(get_file("new.txt", buf, sizeof(buf)), 6);
	assert_string_equal(buf, "abcdef");
	/* Exclusive create of an existing name; create of one that exists. */
	assert_int_equal(create(ROOT, "new.txt", O_RDWR | O_CREAT | O_EXCL, 0600, NULL, &fh2),
			 -EEXIST);
	assert_int_equal(create(ROOT, "new.txt", O_RDWR | O_CREAT | O_TRUNC, 0600, NULL, &fh2),
			 0);
	assert_int_equal(host_stat("new.txt").st_size, 0);
	assert_int_equal(release(e.nodeid, fh2, false), 0);
	/* A full-size write and a full-size read into page-sized buffers,
	 * the way Linux lays out a READ. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 4096);
	assert_int_equal(fwrite_at(e.nodeid, fh, 0, big, sizeof(big)), sizeof(big));
	assert_int_equal(fread_at(e.nodeid, fh, 0, sizeof(big), back, 4096), sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	/* Asking for more than max_write gets at most max_write. */
	assert_int_equal(fread_at(e.nodeid, fh, 0, FPT_MAX_IO + 4096, back, 0), FPT_MAX_IO);
	/* A write beyond max_write is malformed. */
	{
		struct fuse_write_in in = { .fh = fh, .size = FPT_MAX_IO + 1 };

		begin(FUSE_WRITE, e.nodeid);
		add(&in, sizeof(in));
		memset(rq + rq_len, 'x', FPT_MAX_IO + 1);
		rq_len += FPT_MAX_IO + 1;
		assert_int_equal(call(), -EINVAL);
	}
	/* Flush, fsync, lseek, fallocate, release. */
	{
		struct fuse_flush_in fl = { .fh = fh };
		struct fuse_fsync_in fs_in = { .fh = fh, .fsync_flags = 1 };
		struct fuse_lseek_in ls = { .fh = fh, .offset = 0, .whence = SEEK_END };
		struct fuse_fallocate_in fa = { .fh = fh, .offset = 0, .length = 2 * FPT_MAX_IO };

		begin(FUSE_FLUSH, e.nodeid);
		add(&fl, sizeof(fl));
		assert_int_equal(call(), 0);
		begin(FUSE_FSYNC, e.nodeid);
		add(&fs_in, sizeof(fs_in));
		assert_int_equal(call(), 0);
		begin(FUSE_LSEEK, e.nodeid);
		add(&ls, sizeof(ls));
		assert_int_equal(call(), 0);
		assert_int_equal(((struct fuse_lseek_out *)payload())->offset, FPT_MAX_IO);
		ls.whence = 99;
		begin(FUSE_LSEEK, e.nodeid);
		add(&ls, sizeof(ls));
		assert_int_equal(call(), -EINVAL);
		begin(FUSE_FALLOCATE, e.nodeid);
		add(&fa, sizeof(fa));
		assert_int_equal(call(), 0);
		assert_int_equal(host_stat("new.txt").st_size, 2 * FPT_MAX_IO);
	}
	assert_int_equal(release(e.nodeid, fh, false), 0);
	/* A released handle is gone. */
	assert_int_equal(fread_at(e.nodeid, fh, 0, 4, buf, 0), -EBADF);
	assert_int_equal(release(e.nodeid, fh, false), -EBADF);
	/* Reading an existing file through OPEN. */
	assert_int_equal(do_open(lookup_id(ROOT, "hello.txt"), O_RDONLY, &fh), 0);
	assert_int_equal(fread_at(0, fh, 0, 64, buf, 0), 12);
	assert_memory_equal(buf, "hello world\n", 12);
	/* ... and writing through a read-only handle fails on the host. */
	assert_int_equal(fwrite_at(0, fh, 0, "x", 1), -EBADF);
	/* O_TRUNC on open (FUSE_ATOMIC_O_TRUNC). */
	assert_int_equal(do_open(lookup_id(ROOT, "hello.txt"), O_WRONLY | O_TRUNC, &fh2), 0);
	assert_int_equal(host_stat("hello.txt").st_size, 0);
}

static void copy_range(void **state)
{
	struct fuse_copy_file_range_in in = { 0 };
	uint64_t src, fh_in, fh_out;
	struct fuse_entry_out e;
	char buf[32];

	(void)state;
	src = lookup_id(ROOT, "hello.txt");
	assert_int_equal(do_open(src, O_RDONLY, &fh_in), 0);
	assert_int_equal(create(ROOT, "copy", O_WRONLY, 0644, &e, &fh_out), 0);
	in.fh_in = fh_in;
	in.off_in = 6;
	in.nodeid_out = e.nodeid;
	in.fh_out = fh_out;
	in.off_out = 0;
	in.len = 100;
	begin(FUSE_COPY_FILE_RANGE, src);
	add(&in, sizeof(in));
	assert_int_equal(call(), 0);
	assert_int_equal(((struct fuse_write_out *)payload())->size, 6);
	assert_int_equal(get_file("copy", buf, sizeof(buf)), 6);
	assert_string_equal(buf, "world\n");
}

static void readdir_plus(void **state)
{
	static struct dent ents[256];
	uint64_t sub, fh, off = 0;
	unsigned int n, total = 0;
	bool seen[60] = { false };
	struct dent *de;
	char name[32];

	(void)state;
	assert_int_equal(open_node(ROOT, FUSE_OPENDIR, O_RDONLY, &fh), 0);
	assert_int_equal(readdir_(ROOT, fh, 0, 4096, true), 0);
	n = parse_dir(true, ents, 256);
	assert_non_null(de = find_dent(ents, n, "hello.txt"));
	assert_true(de->nodeid != 0);
	assert_int_equal(de->nodeid, lookup_id(ROOT, "hello.txt"));
	assert_true(S_ISREG(de->mode));
	assert_int_equal(de->type, DT_REG);
	assert_non_null(de = find_dent(ents, n, "sub"));
	assert_true(S_ISDIR(de->mode));
	assert_non_null(de = find_dent(ents, n, "etc-link"));
	assert_true(S_ISLNK(de->mode));
	assert_non_null(de = find_dent(ents, n, "fifo"));
	assert_true(S_ISFIFO(de->mode));
	/* "." and ".." are listed without attributes. */
	assert_non_null(de = find_dent(ents, n, ".."));
	assert_int_equal(de->nodeid, 0);
	assert_non_null(de = find_dent(ents, n, "."));
	assert_int_equal(de->nodeid, 0);
	/* Plain READDIR too. */
	assert_int_equal(readdir_(ROOT, fh, 0, 4096, false), 0);
	n = parse_dir(false, ents, 256);
	assert_non_null(de = find_dent(ents, n, "hello.txt"));
	assert_int_equal(de->type, DT_REG);
	assert_int_equal(release(ROOT, fh, true), 0);
	/* Many entries through small buffers: each exactly once. */
	sub = lookup_id(ROOT, "sub");
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "sub/file-%02d-%s", i, "padding-padding");
		put_file(name, "x");
	}
	assert_int_equal(open_node(sub, FUSE_OPENDIR, O_RDONLY, &fh), 0);
	for (int round = 0; round < 200; round++) {
		assert_int_equal(readdir_(sub, fh, off, 512, round % 2), 0);
		n = parse_dir(round % 2, ents, 256);
		if (n == 0)
			break;
		for (unsigned int i = 0; i < n; i++) {
			int k;

			off = ents[i].off;
			if (sscanf(ents[i].name, "file-%02d-", &k) == 1) {
				assert_false(seen[k]);
				seen[k] = true;
				total++;
			}
		}
	}
	assert_int_equal(total, 60);
	/* Restart from 0 (a rewinddir). */
	assert_int_equal(readdir_(sub, fh, 0, 4096, false), 0);
	assert_true(parse_dir(false, ents, 256) > 2);
	/* A file handle is not a directory handle, and the reverse. */
	assert_int_equal(readdir_(sub, fh + 1, 0, 4096, false), -EBADF);
	{
		struct fuse_fsync_in in = { .fh = fh };

		begin(FUSE_FSYNCDIR, sub);
		add(&in, sizeof(in));
		assert_int_equal(call(), 0);
	}
	assert_int_equal(release(sub, fh, false), -EBADF);
	assert_int_equal(release(sub, fh, true), 0);
	/* OPENDIR on a file, OPEN on a directory. */
	assert_int_equal(open_node(lookup_id(ROOT, "hello.txt"), FUSE_OPENDIR, O_RDONLY, &fh),
			 -ENOTDIR);
	assert_int_equal(do_open(sub, O_RDONLY, &fh), -EISDIR);
}

static void names_and_links(void **state)
{
	struct fuse_entry_out e, e2;
	char buf[PATH_MAX], p[256];
	uint64_t d1, hello;

	(void)state;
	assert_int_equal(mkdir_(ROOT, "d", 0750, &e), 0);
	d1 = e.nodeid;
	assert_true(S_ISDIR(e.attr.mode));
	assert_int_equal(host_stat("d").st_mode & 07777, 0750);
	assert_int_equal(mkdir_(ROOT, "d", 0750, NULL), -EEXIST);
	/* rename into the new directory */
	assert_int_equal(rename_(ROOT, "hello.txt", d1, "moved", 0), 0);
	assert_false(host_exists("hello.txt"));
	assert_int_equal(get_file("d/moved", buf, sizeof(buf)), 12);
	/* RENAME_NOREPLACE onto an existing name; RENAME_EXCHANGE. */
	put_file("other", "other");
	assert_int_equal(rename_(d1, "moved", ROOT, "other", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(rename_(d1, "moved", ROOT, "other", RENAME_EXCHANGE), 0);
	assert_int_equal(get_file("other", buf, sizeof(buf)), 12);
	assert_int_equal(get_file("d/moved", buf, sizeof(buf)), 5);
	assert_int_equal(rename_(d1, "moved", ROOT, "x", RENAME_WHITEOUT), -EINVAL);
	/* symlink, readlink */
	assert_int_equal(symlink_(ROOT, "ln", "other", &e), 0);
	assert_true(S_ISLNK(e.attr.mode));
	assert_int_equal(readlink_(e.nodeid, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "other");
	path_of(p, sizeof(p), "ln");
	assert_int_equal(readlink(p, buf, sizeof(buf)), 5);
	assert_int_equal(readlink_(lookup_id(ROOT, "other"), buf, sizeof(buf)), -EINVAL);
	assert_int_equal(symlink_(ROOT, "ln2", "", NULL), -ENOENT);
	/* link */
	hello = lookup_id(ROOT, "other");
	assert_int_equal(link_(hello, d1, "hard", &e2), 0);
	assert_int_equal(e2.nodeid, hello); /* the same inode */
	assert_int_equal(host_stat("other").st_nlink, 2);
	assert_int_equal(link_(d1, ROOT, "dirlink", NULL), -EPERM);
	/* unlink, rmdir */
	assert_int_equal(unlink_(ROOT, "d", true), -ENOTEMPTY);
	assert_int_equal(unlink_(d1, "hard", false), 0);
	assert_int_equal(unlink_(d1, "moved", false), 0);
	assert_int_equal(unlink_(ROOT, "d", true), 0);
	assert_false(host_exists("d"));
	assert_int_equal(unlink_(ROOT, "missing", false), -ENOENT);
	assert_int_equal(unlink_(ROOT, "sub", false), -EISDIR);
	/* The removed directory's node id still answers, with the host's
	 * errors. */
	assert_int_equal(mkdir_(d1, "x", 0755, NULL), -ENOENT);
	/* mknod: regular, fifo and socket; never a device. */
	assert_int_equal(mknod_(ROOT, "reg", S_IFREG | 0600, 0, &e), 0);
	assert_true(S_ISREG(host_stat("reg").st_mode));
	assert_int_equal(mknod_(ROOT, "pipe", S_IFIFO | 0600, 0, &e), 0);
	assert_true(S_ISFIFO(host_stat("pipe").st_mode));
	assert_int_equal(mknod_(ROOT, "sock", S_IFSOCK | 0600, 0, &e), 0);
	assert_true(S_ISSOCK(host_stat("sock").st_mode));
	assert_int_equal(mknod_(ROOT, "dev", S_IFCHR | 0666, makedev(1, 3), NULL), -EPERM);
	assert_int_equal(mknod_(ROOT, "blk", S_IFBLK | 0666, makedev(7, 0), NULL), -EPERM);
	assert_false(host_exists("dev") || host_exists("blk"));
}

static void set_attributes(void **state)
{
	struct fuse_setattr_in in;
	struct fuse_attr a;
	uint64_t id, fh;
	struct stat st;

	(void)state;
	id = lookup_id(ROOT, "hello.txt");
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_MODE;
	in.mode = S_IFREG | 04711;
	assert_int_equal(setattr_(id, &in, &a), 0);
	assert_int_equal(a.mode & 07777, 04711);
	assert_int_equal(host_stat("hello.txt").st_mode & 07777, 04711);
	in.valid = FATTR_SIZE;
	in.size = 5;
	assert_int_equal(setattr_(id, &in, &a), 0);
	assert_int_equal(a.size, 5);
	assert_int_equal(host_stat("hello.txt").st_size, 5);
	in.valid = FATTR_ATIME | FATTR_MTIME;
	in.atime = 1000;
	in.mtime = 2000;
	in.mtimensec = 5;
	assert_int_equal(setattr_(id, &in, &a), 0);
	st = host_stat("hello.txt");
	assert_int_equal(st.st_atime, 1000);
	assert_int_equal(st.st_mtime, 2000);
	assert_int_equal(st.st_mtim.tv_nsec, 5);
	in.valid = FATTR_MTIME | FATTR_MTIME_NOW;
	assert_int_equal(setattr_(id, &in, &a), 0);
	assert_true(host_stat("hello.txt").st_mtime > time(NULL) - 100);
	/* Through a handle (FATTR_FH). */
	assert_int_equal(do_open(id, O_RDWR, &fh), 0);
	in.valid = FATTR_SIZE | FATTR_FH;
	in.fh = fh;
	in.size = 1;
	assert_int_equal(setattr_(id, &in, &a), 0);
	assert_int_equal(host_stat("hello.txt").st_size, 1);
	in.fh = fh + 7;
	assert_int_equal(setattr_(id, &in, &a), -EBADF);
	/* Truncating a directory; chmod of a symlink. */
	in.valid = FATTR_SIZE;
	in.size = 0;
	assert_int_equal(setattr_(lookup_id(ROOT, "sub"), &in, NULL), -EISDIR);
	in.valid = FATTR_MODE;
	assert_int_equal(setattr_(lookup_id(ROOT, "etc-link"), &in, NULL), -EOPNOTSUPP);
	/* The symlink's own times change, never /etc's. */
	{
		struct stat etc0, etc1;

		assert_int_equal(stat("/etc", &etc0), 0);
		in.valid = FATTR_MTIME;
		in.mtime = 12345;
		in.mtimensec = 0;
		assert_int_equal(setattr_(lookup_id(ROOT, "etc-link"), &in, &a), 0);
		assert_int_equal(host_stat("etc-link").st_mtime, 12345);
		assert_int_equal(stat("/etc", &etc1), 0);
		assert_int_equal(etc0.st_mtime, etc1.st_mtime);
	}
	if (getuid() != 0)
		return;
	/* chown (as root). */
	in.valid = FATTR_UID | FATTR_GID;
	in.uid = 1234;
	in.gid = 5678;
	assert_int_equal(setattr_(id, &in, &a), 0);
	assert_int_equal(a.uid, 1234);
	st = host_stat("hello.txt");
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	/* The symlink itself, not its target. */
	assert_int_equal(setattr_(lookup_id(ROOT, "etc-link"), &in, &a), 0);
	assert_int_equal(host_stat("etc-link").st_uid, 1234);
	{
		struct stat etc;

		assert_int_equal(stat("/etc", &etc), 0);
		assert_int_equal(etc.st_uid, 0);
	}
}

/* As root, what the guest creates belongs to the request's uid and gid. */
static void ownership(void **state)
{
	struct fuse_entry_out e;
	uint64_t fh;
	char p[256];

	(void)state;
	if (getuid() != 0)
		skip();
	ctx_uid = 1234;
	ctx_gid = 5678;
	assert_int_equal(create(ROOT, "f", O_WRONLY, 0644, &e, &fh), 0);
	assert_int_equal(e.attr.uid, 1234);
	assert_int_equal(host_stat("f").st_uid, 1234);
	assert_int_equal(host_stat("f").st_gid, 5678);
	assert_int_equal(mkdir_(ROOT, "d", 0755, &e), 0);
	assert_int_equal(host_stat("d").st_uid, 1234);
	assert_int_equal(mknod_(ROOT, "p", S_IFIFO | 0644, 0, &e), 0);
	assert_int_equal(host_stat("p").st_gid, 5678);
	assert_int_equal(symlink_(ROOT, "s", "f", &e), 0);
	assert_int_equal(host_stat("s").st_uid, 1234);
	/* A set-group-ID directory gives its group. */
	path_of(p, sizeof(p), "g");
	assert_int_equal(mkdir(p, 02775), 0);
	assert_int_equal(chmod(p, 02775), 0);
	assert_int_equal(chown(p, 0, 4242), 0);
	assert_int_equal(mkdir_(lookup_id(ROOT, "g"), "in", 0755, &e), 0);
	assert_int_equal(host_stat("g/in").st_gid, 4242);
	assert_int_equal(host_stat("g/in").st_uid, 1234);
}

static void xattrs(void **state)
{
	char buf[256], p[256];
	uint64_t id;
	int64_t n;

	(void)state;
	path_of(p, sizeof(p), "hello.txt");
	if (setxattr(p, "user.probe", "1", 1, 0) < 0)
		skip(); /* the host file system has no user xattrs */
	id = lookup_id(ROOT, "hello.txt");
	assert_int_equal(setxattr_(id, "user.test", "value", 5, 0), 0);
	assert_int_equal(getxattr(p, "user.test", buf, sizeof(buf)), 5);
	assert_int_equal(getxattr_(id, FUSE_GETXATTR, "user.test", 0, NULL), 5);
	assert_int_equal(getxattr_(id, FUSE_GETXATTR, "user.test", 64, buf), 5);
	assert_memory_equal(buf, "value", 5);
	assert_int_equal(getxattr_(id, FUSE_GETXATTR, "user.test", 2, buf), -ERANGE);
	assert_int_equal(setxattr_(id, "user.test", "v", 1, XATTR_CREATE), -EEXIST);
	n = getxattr_(id, FUSE_LISTXATTR, NULL, 0, NULL);
	assert_true(n > 0);
	assert_int_equal(getxattr_(id, FUSE_LISTXATTR, NULL, 256, buf), n);
	assert_true(memmem(buf, (size_t)n, "user.test", 10) != NULL);
	assert_int_equal(removexattr_(id, "user.test"), 0);
	assert_int_equal(getxattr_(id, FUSE_GETXATTR, "user.test", 64, buf), -ENODATA);
	/* Only the user namespace changes; trusted.* is never shown. */
	assert_int_equal(setxattr_(id, "trusted.x", "v", 1, 0), -EOPNOTSUPP);
	assert_int_equal(setxattr_(id, "security.capability", "v", 1, 0), -EOPNOTSUPP);
	assert_int_equal(removexattr_(id, "security.x"), -EOPNOTSUPP);
	if (getuid() == 0 && setxattr(p, "trusted.hidden", "h", 1, 0) == 0) {
		assert_int_equal(getxattr_(id, FUSE_GETXATTR, "trusted.hidden", 64, buf),
				 -ENODATA);
		n = getxattr_(id, FUSE_LISTXATTR, NULL, 256, buf);
		assert_true(n >= 0);
		assert_null(memmem(buf, (size_t)n, "trusted.", 8));
	}
	assert_int_equal(setxattr_(id, "", "v", 1, 0), -ERANGE);
	/* On a symlink, the link's own attributes, never the target's. */
	put_file("target", "t");
	path_of(p, sizeof(p), "target");
	assert_int_equal(setxattr(p, "user.t", "secret", 6, 0), 0);
	path_of(buf, sizeof(buf), "tlink");
	assert_int_equal(symlink("target", buf), 0);
	assert_int_equal(getxattr_(lookup_id(ROOT, "tlink"), FUSE_GETXATTR, "user.t", 64, buf),
			 -ENODATA);
	assert_int_equal(getxattr_(lookup_id(ROOT, "target"), FUSE_GETXATTR, "user.t", 64, buf),
			 6);
}

static void statfs_access(void **state)
{
	struct fuse_access_in ac = { .mask = R_OK | W_OK };
	struct fuse_kstatfs st;

	(void)state;
	begin(FUSE_STATFS, ROOT);
	assert_int_equal(call(), 0);
	memcpy(&st, payload(), sizeof(st));
	assert_true(st.blocks > 0);
	assert_true(st.bsize > 0);
	assert_true(st.namelen >= 255);
	begin(FUSE_ACCESS, ROOT);
	add(&ac, sizeof(ac));
	assert_int_equal(call(), 0);
}

static void forget_and_stale(void **state)
{
	unsigned int held = vfs_fds_held(fs);
	uint64_t id, id2;
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[2];
	} batch;

	(void)state;
	id = lookup_id(ROOT, "hello.txt");
	assert_int_equal(lookup_id(ROOT, "hello.txt"), id);
	assert_int_equal(vfs_fds_held(fs), held + 1);
	forget(id, 1);
	assert_int_equal(getattr(id, NULL), 0);
	forget(id, 1);
	assert_int_equal(vfs_fds_held(fs), held);
	assert_int_equal(getattr(id, NULL), -ESTALE);
	/* The slot comes back with another generation: the old id stays stale. */
	id2 = lookup_id(ROOT, "hello.txt");
	assert_true(id2 != id);
	assert_int_equal(getattr(id, NULL), -ESTALE);
	/* Forged ids. */
	assert_int_equal(getattr(0, NULL), -ESTALE);
	assert_int_equal(getattr(0xffffffffull, NULL), -ESTALE);
	assert_int_equal(getattr(id2 + (1ull << 32), NULL), -ESTALE);
	assert_int_equal(lookup(id2 ^ 0x70000000ull, "x", NULL), -ESTALE);
	/* The root is never forgotten. */
	forget(ROOT, 100);
	assert_int_equal(getattr(ROOT, NULL), 0);
	/* BATCH_FORGET, with an unknown id among them. */
	batch.in.count = 2;
	batch.in.dummy = 0;
	batch.one[0] = (struct fuse_forget_one){ .nodeid = id2, .nlookup = 1 };
	batch.one[1] = (struct fuse_forget_one){ .nodeid = 0x12345678, .nlookup = 1 };
	begin(FUSE_BATCH_FORGET, 0);
	add(&batch, sizeof(batch));
	assert_int_equal(call_noreply(HIPRIO), 0);
	assert_int_equal(getattr(id2, NULL), -ESTALE);
	assert_int_equal(vfs_fds_held(fs), held);
}

/* ---- hostile guests ---------------------------------------------------------------- */

static void symlinks_not_followed(void **state)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	char buf[PATH_MAX];
	uint64_t fh;

	(void)state;
	/* lookup gives the link itself */
	assert_int_equal(lookup(ROOT, "etc-link", &e), 0);
	assert_true(S_ISLNK(e.attr.mode));
	assert_int_equal(getattr(e.nodeid, &a), 0);
	assert_true(S_ISLNK(a.mode));
	assert_int_equal(readlink_(e.nodeid, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/etc");
	/* nothing through it */
	assert_int_equal(do_open(e.nodeid, O_RDONLY, &fh), -ELOOP);
	assert_int_equal(open_node(e.nodeid, FUSE_OPENDIR, O_RDONLY, &fh), -ELOOP);
	assert_true(lookup(e.nodeid, "passwd", NULL) < 0);
	assert_true(lookup(e.nodeid, "hostname", NULL) < 0);
	assert_true(mkdir_(e.nodeid, "x", 0755, NULL) < 0);
	assert_true(create(e.nodeid, "x", O_WRONLY, 0644, NULL, &fh) < 0);
	/* the same for a relative link out of the share */
	assert_int_equal(lookup(ROOT, "escape", &e), 0);
	assert_true(S_ISLNK(e.attr.mode));
	assert_int_equal(do_open(e.nodeid, O_RDONLY, &fh), -ELOOP);
	assert_int_equal(do_open(e.nodeid, O_WRONLY | O_TRUNC, &fh), -ELOOP);
	/* CREATE onto an existing symlink neither follows nor replaces it. */
	assert_int_equal(create(ROOT, "escape", O_WRONLY | O_CREAT, 0644, NULL, &fh), -ELOOP);
	assert_int_equal(create(ROOT, "escape", O_WRONLY | O_CREAT | O_EXCL, 0644, NULL, &fh),
			 -EEXIST);
	/* A symlink made by the guest pointing out is only stored. */
	assert_int_equal(symlink_(ROOT, "evil", "/etc/shadow", &e), 0);
	assert_int_equal(do_open(e.nodeid, O_RDONLY, &fh), -ELOOP);
	{
		char p[256];
		struct stat st;

		snprintf(p, sizeof(p), "%s/secret", outside);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_size, 0);
	}
}

static void bad_names(void **state)
{
	char longname[NAME_MAX + 2];
	uint64_t fh;

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(lookup(ROOT, "..", NULL), -ENOENT);
	assert_int_equal(lookup(ROOT, ".", NULL), -ENOENT);
	assert_int_equal(lookup(lookup_id(ROOT, "sub"), "..", NULL), -ENOENT);
	assert_int_equal(lookup(ROOT, "sub/inner", NULL), -EINVAL);
	assert_int_equal(lookup(ROOT, "../outside", NULL), -EINVAL);
	assert_int_equal(lookup(ROOT, "/etc", NULL), -EINVAL);
	assert_int_equal(lookup(ROOT, "", NULL), -EINVAL);
	assert_int_equal(lookup(ROOT, longname, NULL), -ENAMETOOLONG);
	assert_int_equal(mkdir_(ROOT, "..", 0755, NULL), -EINVAL);
	assert_int_equal(mkdir_(ROOT, "a/b", 0755, NULL), -EINVAL);
	assert_int_equal(create(ROOT, "../outside/new", O_WRONLY, 0644, NULL, &fh), -EINVAL);
	assert_int_equal(symlink_(ROOT, "../x", "y", NULL), -EINVAL);
	assert_int_equal(mknod_(ROOT, "x/y", S_IFREG | 0644, 0, NULL), -EINVAL);
	assert_int_equal(unlink_(ROOT, "../outside/secret", false), -EINVAL);
	assert_int_equal(unlink_(ROOT, "..", true), -EINVAL);
	assert_int_equal(rename_(ROOT, "hello.txt", ROOT, "../outside/x", 0), -EINVAL);
	assert_int_equal(rename_(ROOT, "..", ROOT, "x", 0), -EINVAL);
	assert_int_equal(link_(lookup_id(ROOT, "hello.txt"), ROOT, "../x", NULL), -EINVAL);
	/* A name that does not end inside the request. */
	begin(FUSE_LOOKUP, ROOT);
	add("hello.txt", 9);
	assert_int_equal(call(), -EINVAL);
	/* A symlink request with one string only. */
	begin(FUSE_SYMLINK, ROOT);
	add_str("s");
	assert_int_equal(call(), -EINVAL);
	{
		char p[256];
		struct stat st;

		snprintf(p, sizeof(p), "%s/secret", outside);
		assert_int_equal(stat(p, &st), 0);
	}
	assert_false(host_exists("a") || host_exists("x") || host_exists("s"));
}

static void alarm_fail(int sig)
{
	(void)sig;
	fail_msg("the server hung on a special file");
}

static void special_files_never_opened(void **state)
{
	struct fuse_entry_out e;
	uint64_t fh;

	(void)state;
	signal(SIGALRM, alarm_fail);
	alarm(10);
	assert_int_equal(lookup(ROOT, "fifo", &e), 0);
	assert_true(S_ISFIFO(e.attr.mode));
	/* A reader would block on the host until a writer came. */
	assert_int_equal(do_open(e.nodeid, O_RDONLY, &fh), -ENXIO);
	assert_int_equal(do_open(e.nodeid, O_WRONLY, &fh), -ENXIO);
	assert_int_equal(do_open(e.nodeid, O_RDWR, &fh), -ENXIO);
	/* CREATE of an existing fifo's name opens nothing either. */
	assert_int_equal(create(ROOT, "fifo", O_RDONLY | O_CREAT, 0644, NULL, &fh), -ENXIO);
	/* getattr works: it needs no open. */
	assert_int_equal(getattr(e.nodeid, NULL), 0);
	/* A socket the guest made. */
	assert_int_equal(mknod_(ROOT, "sock", S_IFSOCK | 0644, 0, &e), 0);
	assert_int_equal(do_open(e.nodeid, O_RDWR, &fh), -ENXIO);
	if (have_devnode) {
		assert_int_equal(lookup(ROOT, "null", &e), 0);
		assert_true(S_ISCHR(e.attr.mode));
		assert_int_equal(do_open(e.nodeid, O_RDONLY, &fh), -ENXIO);
		assert_int_equal(do_open(e.nodeid, O_WRONLY, &fh), -ENXIO);
		assert_int_equal(create(ROOT, "null", O_WRONLY | O_CREAT, 0644, NULL, &fh),
				 -ENXIO);
	}
	alarm(0);
	signal(SIGALRM, SIG_DFL);
}

static void fd_limit(void **state)
{
	static struct dent ents[64];
	uint64_t ids[40], fh, dirfh;
	unsigned int ok = 0, n, with_attrs = 0;
	char name[32];

	(void)state;
	/* Root + 9 more. */
	vfs_set_max_fds(fs, 10);
	assert_int_equal(vfs_fds_held(fs), 1);
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "sub/f%02d", i);
		put_file(name, "x");
	}
	for (int i = 0; i < 30; i++) {
		struct fuse_entry_out e;
		int err;

		snprintf(name, sizeof(name), "f%02d", i);
		/* The parent's own reference. */
		if (i == 0)
			ids[39] = lookup_id(ROOT, "sub");
		err = lookup(ids[39], name, &e);
		if (err == 0) {
			ids[ok++] = e.nodeid;
		} else {
			assert_int_equal(err, -EMFILE);
		}
	}
	assert_int_equal(ok, 8); /* root, sub and 8 files */
	assert_int_equal(vfs_fds_held(fs), 10);
	/* Known inodes need no new fd. */
	assert_int_equal(lookup_id(ids[39], "f00"), ids[0]);
	/* No fd for an open either; the server still answers. */
	assert_int_equal(do_open(ids[0], O_RDONLY, &fh), -EMFILE);
	assert_int_equal(create(ROOT, "new", O_WRONLY, 0644, NULL, &fh), -EMFILE);
	assert_int_equal(mkdir_(ROOT, "newdir", 0755, NULL), -EMFILE);
	assert_false(host_exists("newdir"));
	assert_int_equal(getattr(ids[1], NULL), 0);
	/* Forget releases. */
	forget(ids[1], 1);
	forget(ids[2], 1);
	assert_int_equal(vfs_fds_held(fs), 8);
	assert_int_equal(do_open(ids[0], O_RDONLY, &fh), 0);
	assert_int_equal(vfs_fds_held(fs), 9);
	/* READDIRPLUS at the limit: the entries come without attributes. */
	assert_int_equal(open_node(ids[39], FUSE_OPENDIR, O_RDONLY, &dirfh), 0);
	assert_int_equal(vfs_fds_held(fs), 10);
	assert_int_equal(readdir_(ids[39], dirfh, 0, 8192, true), 0);
	n = parse_dir(true, ents, 64);
	assert_int_equal(n, 33); /* ".", "..", inner and the 30 files */
	for (unsigned int i = 0; i < n; i++)
		with_attrs += ents[i].nodeid != 0;
	/* The six files still known (f00, f03..f07): no new fd for others. */
	assert_int_equal(with_attrs, 6);
	assert_int_equal(vfs_fds_held(fs), 10);
	assert_int_equal(release(ids[39], dirfh, true), 0);
	assert_int_equal(release(ids[0], fh, false), 0);
	assert_int_equal(vfs_fds_held(fs), 8);
}

static void read_only_share(void **state)
{
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = S_IFREG | 0777 };
	struct fuse_access_in ac = { .mask = W_OK };
	struct fuse_entry_out e;
	struct stat before = host_stat("hello.txt"), after;
	char buf[64];
	uint64_t id, fh, wfh;

	(void)state;
	id = lookup_id(ROOT, "hello.txt");
	/* Reading works. */
	assert_int_equal(do_open(id, O_RDONLY, &fh), 0);
	assert_int_equal(fread_at(id, fh, 0, 64, buf, 0), 12);
	/* Everything that would change something does not. */
	assert_int_equal(fwrite_at(id, fh, 0, "X", 1), -EROFS);
	assert_int_equal(do_open(id, O_WRONLY, &wfh), -EROFS);
	assert_int_equal(do_open(id, O_RDWR, &wfh), -EROFS);
	assert_int_equal(do_open(id, O_RDONLY | O_TRUNC, &wfh), -EROFS);
	assert_int_equal(do_open(id, O_RDONLY | O_APPEND, &wfh), -EROFS);
	assert_int_equal(create(ROOT, "new", O_WRONLY | O_CREAT, 0644, &e, &wfh), -EROFS);
	assert_int_equal(create(ROOT, "hello.txt", O_RDONLY | O_CREAT, 0644, &e, &wfh), -EROFS);
	assert_int_equal(mkdir_(ROOT, "d", 0755, NULL), -EROFS);
	assert_int_equal(mknod_(ROOT, "p", S_IFIFO | 0644, 0, NULL), -EROFS);
	assert_int_equal(symlink_(ROOT, "s", "hello.txt", NULL), -EROFS);
	assert_int_equal(link_(id, ROOT, "l", NULL), -EROFS);
	assert_int_equal(unlink_(ROOT, "hello.txt", false), -EROFS);
	assert_int_equal(unlink_(ROOT, "sub", true), -EROFS);
	assert_int_equal(rename_(ROOT, "hello.txt", ROOT, "x", 0), -EROFS);
	assert_int_equal(setattr_(id, &sa, NULL), -EROFS);
	sa.valid = FATTR_SIZE;
	assert_int_equal(setattr_(id, &sa, NULL), -EROFS);
	sa.valid = FATTR_MTIME | FATTR_MTIME_NOW;
	assert_int_equal(setattr_(id, &sa, NULL), -EROFS);
	sa.valid = FATTR_UID;
	assert_int_equal(setattr_(id, &sa, NULL), -EROFS);
	assert_int_equal(setxattr_(id, "user.x", "v", 1, 0), -EROFS);
	assert_int_equal(removexattr_(id, "user.x"), -EROFS);
	{
		struct fuse_fallocate_in fa = { .fh = fh, .length = 4096 };

		begin(FUSE_FALLOCATE, id);
		add(&fa, sizeof(fa));
		assert_int_equal(call(), -EROFS);
	}
	begin(FUSE_ACCESS, id);
	add(&ac, sizeof(ac));
	assert_int_equal(call(), -EROFS);
	/* The host files are as they were. */
	after = host_stat("hello.txt");
	assert_int_equal(after.st_mode, before.st_mode);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_int_equal(get_file("hello.txt", buf, sizeof(buf)), 12);
	assert_string_equal(buf, "hello world\n");
	assert_false(host_exists("new") || host_exists("d") || host_exists("p") ||
		     host_exists("s") || host_exists("l") || host_exists("x"));
}

static void share_removed(void **state)
{
	uint64_t id, sub, fh, dfh;
	struct fuse_attr a;
	char buf[64];
	int err;

	(void)state;
	id = lookup_id(ROOT, "hello.txt");
	sub = lookup_id(ROOT, "sub");
	assert_int_equal(do_open(id, O_RDONLY, &fh), 0);
	assert_int_equal(open_node(ROOT, FUSE_OPENDIR, O_RDONLY, &dfh), 0);
	/* The host removes the whole share. */
	rm_tree(share);
	assert_false(access(share, F_OK) == 0);
	assert_int_equal(lookup(ROOT, "hello.txt", NULL), -ENOENT);
	assert_int_equal(lookup(sub, "inner", NULL), -ENOENT);
	assert_true(create(ROOT, "new", O_WRONLY, 0644, NULL, &fh) < 0);
	assert_true(mkdir_(ROOT, "d", 0755, NULL) < 0);
	assert_true(mkdir_(sub, "d", 0755, NULL) < 0);
	/* What is open stays readable (it is, on Linux). */
	assert_int_equal(fread_at(id, fh, 0, 64, buf, 0), 12);
	assert_int_equal(getattr(id, &a), 0);
	assert_int_equal(a.nlink, 0);
	/* A removed directory lists nothing (or ENOENT). */
	err = readdir_(ROOT, dfh, 0, 4096, true);
	assert_true(err == -ENOENT || (err == 0 && reply_len() == 0));
	assert_int_equal(getattr(ROOT, NULL), 0);
	/* A new directory at the same path is not the share. */
	assert_int_equal(mkdir(share, 0755), 0);
	put_file("hello.txt", "impostor");
	assert_int_equal(lookup(ROOT, "hello.txt", NULL), -ENOENT);
	assert_int_equal(release(id, fh, false), 0);
	assert_int_equal(release(ROOT, dfh, true), 0);
}

static void malformed(void **state)
{
	struct fuse_in_header h = { .len = 100, .opcode = FUSE_LOOKUP, .unique = 7,
				    .nodeid = ROOT };
	static uint8_t huge[VFS_MAX_REQ + 64];
	struct fuse_out_header oh;
	uint32_t id, len;
	uint64_t hello;

	(void)state;
	hello = lookup_id(ROOT, "hello.txt");
	/* shorter than the header */
	assert_int_equal(post_raw(REQQ, &h, 20, 64, 0), 0);
	/* header length against the buffer */
	memset(huge, 0, 200);
	memcpy(huge, &h, sizeof(h));
	assert_int_equal(post_raw(REQQ, huge, 60, 256, 0), 0);
	assert_int_equal(post_raw(REQQ, huge, 200, 256, 0), 0);
	/* larger than VFS_MAX_REQ, whatever the header says */
	memset(huge, 'a', sizeof(huge));
	h.len = sizeof(huge);
	memcpy(huge, &h, sizeof(h));
	assert_int_equal(post_raw(REQQ, huge, sizeof(huge), 256, 0), 0);
	/* no readable part at all */
	assert_int_equal(post_raw(REQQ, NULL, 0, 256, 0), 0);
	/* unknown and unserved opcodes: ENOSYS */
	begin(999, ROOT);
	assert_int_equal(call(), -ENOSYS);
	begin(FUSE_IOCTL, ROOT);
	add(huge, 64);
	assert_int_equal(call(), -ENOSYS);
	begin(FUSE_GETLK, ROOT);
	add(huge, 64);
	assert_int_equal(call(), -ENOSYS);
	begin(FUSE_SETLKW, ROOT);
	add(huge, 64);
	assert_int_equal(call(), -ENOSYS);
	begin(FUSE_SYNCFS, ROOT);
	add(huge, 8);
	assert_int_equal(call(), -ENOSYS);
	/* arguments shorter than the opcode's struct */
	begin(FUSE_GETATTR, hello);
	add(huge, 4);
	assert_int_equal(call(), -EINVAL);
	begin(FUSE_SETATTR, hello);
	add(huge, 40);
	assert_int_equal(call(), -EINVAL);
	begin(FUSE_INIT, 0);
	add(huge, 8);
	assert_int_equal(call(), -EINVAL);
	/* a WRITE whose size is beyond its payload */
	{
		struct fuse_write_in w = { .fh = 0, .size = 1000 };

		begin(FUSE_WRITE, hello);
		add(&w, sizeof(w));
		add("abc", 3);
		assert_int_equal(call(), -EINVAL);
	}
	/* a SETXATTR whose value is beyond the request */
	{
		uint32_t sx[2] = { 4096, 0 };

		begin(FUSE_SETXATTR, hello);
		add(sx, sizeof(sx));
		add_str("user.x");
		add("v", 1);
		assert_int_equal(call(), -EINVAL);
	}
	/* a BATCH_FORGET claiming a billion entries: no reply, nothing done */
	{
		struct fuse_batch_forget_in bf = { .count = 1000000000u };

		begin(FUSE_BATCH_FORGET, 0);
		add(&bf, sizeof(bf));
		assert_int_equal(call_noreply(HIPRIO), 0);
		assert_int_equal(getattr(hello, NULL), 0);
	}
	/* INTERRUPT and NOTIFY_REPLY: no reply */
	{
		struct fuse_interrupt_in in = { .unique = 3 };

		begin(FUSE_INTERRUPT, 0);
		add(&in, sizeof(in));
		assert_int_equal(call_noreply(HIPRIO), 0);
		begin(FUSE_NOTIFY_REPLY, 0);
		add(huge, 64);
		hdr()->len = (uint32_t)rq_len;
		assert_int_equal(post_raw(REQQ, rq, rq_len, 256, 0), 0);
	}
	/* Wrong queue: a LOOKUP on hiprio is not served. */
	begin(FUSE_LOOKUP, ROOT);
	add_str("hello.txt");
	hdr()->len = (uint32_t)rq_len;
	assert_int_equal(post_raw(HIPRIO, rq, rq_len, 256, 0), 0);
	/* Reply room: none, less than a header, less than the reply. */
	begin(FUSE_LOOKUP, ROOT);
	add_str("hello.txt");
	hdr()->len = (uint32_t)rq_len;
	assert_int_equal(post_raw(REQQ, rq, rq_len, 0, 0), 0);
	assert_int_equal(post_raw(REQQ, rq, rq_len, 8, 0), 0);
	assert_int_equal(post_raw(REQQ, rq, rq_len, 20, 0), sizeof(oh));
	memcpy(&oh, rep, sizeof(oh));
	assert_int_equal(oh.error, -EIO);
	assert_int_equal(oh.len, sizeof(oh));
	/* Those lookups took references that the guest cannot know about; a
	 * FORGET of many drops them all. */
	forget(hello, 1000);
	assert_int_equal(getattr(hello, NULL), -ESTALE);
	/* A chain that the queue code finds malformed (a loop). */
	vfd_desc(&d, REQQ, 300, REQ, 64, VRING_DESC_F_NEXT, 300);
	vfd_publish(&d, REQQ, 300);
	serve();
	assert_true(vfd_used(&d, REQQ, &id, &len));
	assert_int_equal(id, 300);
	assert_int_equal(len, 0);
	/* The device is still fine. */
	assert_false(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(lookup(ROOT, "hello.txt", NULL), 0);
}

static void reset_and_destroy(void **state)
{
	uint64_t id, fh;

	(void)state;
	id = lookup_id(ROOT, "hello.txt");
	assert_int_equal(do_open(id, O_RDONLY, &fh), 0);
	assert_int_equal(vfs_fds_held(fs), 3);
	/* A device reset: everything goes, INIT again. */
	bring_up();
	serve();
	assert_int_equal(vfs_fds_held(fs), 1);
	assert_int_equal(getattr(id, NULL), -EIO); /* no INIT yet */
	fuse_init();
	assert_int_equal(getattr(id, NULL), -ESTALE);
	id = lookup_id(ROOT, "hello.txt");
	assert_int_equal(do_open(id, O_RDONLY, &fh), 0);
	/* FUSE_DESTROY (the guest unmounts): the same, and a new mount
	 * sends INIT on the same device. */
	begin(FUSE_DESTROY, 0);
	assert_int_equal(call(), 0);
	assert_int_equal(vfs_fds_held(fs), 1);
	assert_int_equal(getattr(ROOT, NULL), -EIO);
	fuse_init();
	assert_int_equal(getattr(id, NULL), -ESTALE);
	assert_int_equal(lookup(ROOT, "hello.txt", NULL), 0);
	/* A reset before DRIVER_OK with nothing in flight changes nothing. */
	vfd_wr(&d, VIRTIO_MMIO_STATUS, 0);
	serve();
	assert_int_equal(vfs_fds_held(fs), 1);
}

/* The server's own thread: kicks through the eventfd (as KVM's
 * ioeventfd would) and through QueueNotify. */
static void server_thread(void **state)
{
	unsigned int nr;
	const int *kicks = vfs_kick_fds(fs, &nr);
	struct vfd_buf bufs[2];
	uint64_t one = 1;
	uint32_t id, len;
	bool done = false;

	(void)state;
	assert_int_equal(nr, 2);
	assert_int_equal(vfs_start(fs), 0);
	assert_int_equal(vfs_start(fs), 0);
	for (int k = 0; k < 2; k++) {
		begin(FUSE_LOOKUP, ROOT);
		add_str("hello.txt");
		hdr()->len = (uint32_t)rq_len;
		memcpy(ram + REQ, rq, rq_len);
		bufs[0] = (struct vfd_buf){ REQ, (uint32_t)rq_len, false };
		bufs[1] = (struct vfd_buf){ REP, 4096, true };
		vfd_post(&d, REQQ, bufs, 2);
		if (k == 0)
			assert_int_equal(write(kicks[REQQ], &one, sizeof(one)), sizeof(one));
		else
			vfd_kick(&d, REQQ);
		done = false;
		for (int i = 0; i < 5000 && !done; i++) {
			done = vfd_used(&d, REQQ, &id, &len);
			if (!done)
				usleep(1000);
		}
		assert_true(done);
		assert_int_equal(len, sizeof(struct fuse_out_header) +
					      sizeof(struct fuse_entry_out));
		assert_int_equal(((struct fuse_out_header *)(void *)(ram + REP))->error, 0);
	}
	/* A reset wakes the thread, which drops the share's fds. */
	vfd_wr(&d, VIRTIO_MMIO_STATUS, 0);
	done = false;
	for (int i = 0; i < 5000 && !done; i++) {
		done = vfs_fds_held(fs) == 1;
		if (!done)
			usleep(1000);
	}
	assert_true(done);
	/* teardown stops the thread */
}

/* ---- a filtered share: {a, subdir} of a, b, secret, subdir ------------------------- */

/*
 * List `id` through its handle `fh` in buffers of `size` bytes, each
 * request resuming from the last entry's offset as Linux does, until an
 * empty reply; every name must come once. Returns the entries, in out.
 */
static unsigned int list_all(uint64_t id, uint64_t fh, uint32_t size, bool plus,
			     struct dent *out, unsigned int max)
{
	static struct dent ents[64];
	uint64_t off = 0;
	unsigned int total = 0;

	for (int round = 0; round < 1000; round++) {
		unsigned int n;

		assert_int_equal(readdir_(id, fh, off, size, plus), 0);
		n = parse_dir(plus, ents, ARRAY_SIZE(ents));
		if (n == 0)
			return total;
		for (unsigned int i = 0; i < n; i++) {
			assert_null(find_dent(out, total, ents[i].name));
			assert_true(total < max);
			out[total++] = ents[i];
			off = ents[i].off;
		}
	}
	fail_msg("the listing does not end");
	return 0;
}

/* The root lists exactly ".", "..", "a" and "subdir" (those with node ids
 * when `plus`). */
static void assert_root_listing(const struct dent *ents, unsigned int n, bool plus,
				uint64_t a, uint64_t sub)
{
	static const char *const want[] = { ".", "..", "a", "subdir" };
	struct dent copy[4];

	assert_int_equal(n, ARRAY_SIZE(want));
	memcpy(copy, ents, sizeof(copy));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_non_null(find_dent(copy, n, want[i]));
	if (plus) {
		assert_int_equal(find_dent(copy, n, "a")->nodeid, a);
		assert_int_equal(find_dent(copy, n, "subdir")->nodeid, sub);
		assert_int_equal(find_dent(copy, n, ".")->nodeid, 0);
	}
}

static void filtered_lookup_readdir(void **state)
{
	static const struct {
		uint32_t size;
		bool plus;
	} ways[] = {
		{ 4096, false }, { 4096, true },
		{ 40, false },   /* one 32-byte dirent a reply */
		{ 170, true },   /* one 160-byte direntplus a reply */
	};
	static struct dent ents[16];
	struct fuse_entry_out e;
	uint64_t a, sub, fh;
	char name[64];
	unsigned int n;

	(void)state;
	assert_int_equal(lookup(ROOT, "a", &e), 0);
	assert_true(S_ISREG(e.attr.mode));
	a = e.nodeid;
	sub = lookup_id(ROOT, "subdir");
	assert_int_equal(lookup(ROOT, "secret", NULL), -ENOENT);
	assert_int_equal(lookup(ROOT, "b", NULL), -ENOENT);
	assert_int_equal(lookup(ROOT, "..", NULL), -ENOENT);
	assert_int_equal(lookup(sub, "..", NULL), -ENOENT);
	assert_int_equal(lookup(sub, "x", NULL), 0); /* below: unfiltered */
	/* Enough hidden entries that whole host batches have none to show. */
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "hidden-%03d-padding-padding-padding", i);
		put_file(name, "h");
	}
	assert_int_equal(open_node(ROOT, FUSE_OPENDIR, O_RDONLY, &fh), 0);
	for (size_t w = 0; w < ARRAY_SIZE(ways); w++) {
		n = list_all(ROOT, fh, ways[w].size, ways[w].plus, ents,
			     ARRAY_SIZE(ents));
		assert_root_listing(ents, n, ways[w].plus, a, sub);
	}
	/* The filter goes with the handle, whatever node id the guest names. */
	n = list_all(sub, fh, 4096, true, ents, ARRAY_SIZE(ents));
	assert_root_listing(ents, n, true, a, sub);
	/* No hidden entry was looked up: root, a, subdir, x and the handle. */
	assert_int_equal(vfs_fds_held(fs), 5);
	assert_int_equal(release(ROOT, fh, true), 0);
	/* A listed directory lists everything. */
	assert_int_equal(open_node(sub, FUSE_OPENDIR, O_RDONLY, &fh), 0);
	n = list_all(sub, fh, 4096, true, ents, ARRAY_SIZE(ents));
	assert_int_equal(n, 5);
	assert_non_null(find_dent(ents, n, "x"));
	assert_non_null(find_dent(ents, n, "fifo"));
	assert_non_null(find_dent(ents, n, "lnk"));
	assert_int_equal(release(sub, fh, true), 0);
}

static void filtered_changes(void **state)
{
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = S_IFDIR | 0700 };
	struct fuse_entry_out e;
	struct stat before, after;
	uint64_t a, sub, x, fifo, lnk, fh, dfh;
	char buf[64];

	(void)state;
	assert_int_equal(stat(share, &before), 0);
	a = lookup_id(ROOT, "a");
	sub = lookup_id(ROOT, "subdir");
	x = lookup_id(sub, "x");
	fifo = lookup_id(sub, "fifo");
	lnk = lookup_id(sub, "lnk");
	/* Nothing off the list is made, not even over a hidden entry. */
	assert_int_equal(create(ROOT, "new", O_WRONLY | O_CREAT, 0644, &e, &fh), -EACCES);
	assert_int_equal(create(ROOT, "secret", O_WRONLY | O_CREAT, 0644, &e, &fh),
			 -EACCES);
	assert_int_equal(mknod_(ROOT, "new", S_IFREG | 0644, 0, NULL), -EACCES);
	assert_int_equal(mkdir_(ROOT, "new", 0755, NULL), -EACCES);
	assert_int_equal(symlink_(ROOT, "new", "a", NULL), -EACCES);
	assert_int_equal(link_(x, ROOT, "new", NULL), -EACCES);
	assert_int_equal(link_(x, ROOT, "secret", NULL), -EACCES);
	/* Nothing hidden is removed, renamed or exchanged. */
	assert_int_equal(unlink_(ROOT, "secret", false), -ENOENT);
	assert_int_equal(unlink_(ROOT, "b", true), -ENOENT);
	assert_int_equal(rename_(ROOT, "a", ROOT, "secret", 0), -EACCES);
	assert_int_equal(rename_(sub, "x", ROOT, "secret", 0), -EACCES);
	assert_int_equal(rename_(sub, "x", ROOT, "new", RENAME_NOREPLACE), -EACCES);
	assert_int_equal(rename_(ROOT, "secret", sub, "stolen", 0), -ENOENT);
	assert_int_equal(rename_(ROOT, "secret", sub, "x", RENAME_EXCHANGE), -ENOENT);
	assert_int_equal(rename_(sub, "x", ROOT, "secret", RENAME_EXCHANGE), -ENOENT);
	assert_int_equal(rename_(ROOT, "a", ROOT, "b", RENAME_EXCHANGE), -ENOENT);
	/* A listed name comes to hold a regular file or a directory only. */
	assert_int_equal(rename_(sub, "lnk", ROOT, "a", 0), -EPERM);
	assert_int_equal(rename_(sub, "fifo", ROOT, "a", 0), -EPERM);
	assert_int_equal(rename_(ROOT, "a", sub, "lnk", RENAME_EXCHANGE), -EPERM);
	assert_int_equal(rename_(sub, "lnk", ROOT, "a", RENAME_EXCHANGE), -EPERM);
	assert_int_equal(link_(lnk, ROOT, "a", NULL), -EPERM);
	assert_int_equal(link_(fifo, ROOT, "a", NULL), -EPERM);
	assert_int_equal(mknod_(ROOT, "a", S_IFIFO | 0644, 0, NULL), -EPERM);
	assert_int_equal(symlink_(ROOT, "a", "/etc/shadow", NULL), -EPERM);
	/* The root is the engine's: no attribute of it changes, even through
	 * a handle of it under another node id. */
	assert_int_equal(setattr_(ROOT, &sa, NULL), -EPERM);
	sa.valid = FATTR_UID | FATTR_GID;
	assert_int_equal(setattr_(ROOT, &sa, NULL), -EPERM);
	sa.valid = FATTR_MTIME | FATTR_MTIME_NOW;
	assert_int_equal(setattr_(ROOT, &sa, NULL), -EPERM);
	assert_int_equal(open_node(ROOT, FUSE_OPENDIR, O_RDONLY, &dfh), 0);
	sa.valid = FATTR_MODE | FATTR_FH;
	sa.fh = dfh;
	assert_int_equal(setattr_(sub, &sa, NULL), -EPERM);
	assert_int_equal(release(ROOT, dfh, true), 0);
	assert_int_equal(setxattr_(ROOT, "user.x", "v", 1, 0), -EPERM);
	assert_int_equal(removexattr_(ROOT, "user.x"), -EPERM);
	assert_int_equal(getattr(ROOT, NULL), 0);
	/* A listed file is written, replaced and moved as usual. */
	assert_int_equal(do_open(a, O_WRONLY | O_TRUNC, &fh), 0);
	assert_int_equal(fwrite_at(a, fh, 0, "new", 3), 3);
	assert_int_equal(release(a, fh, false), 0);
	assert_int_equal(get_file("a", buf, sizeof(buf)), 3);
	assert_string_equal(buf, "new");
	assert_int_equal(create(ROOT, "a", O_WRONLY | O_CREAT, 0644, &e, &fh), 0);
	assert_int_equal(e.nodeid, a);
	assert_int_equal(release(a, fh, false), 0);
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_MODE;
	sa.mode = S_IFREG | 0600;
	assert_int_equal(setattr_(a, &sa, NULL), 0);
	assert_int_equal(rename_(ROOT, "a", sub, "a2", 0), 0);
	assert_int_equal(rename_(sub, "x", ROOT, "a", 0), 0);
	assert_int_equal(get_file("a", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "x");
	/* Below the root, nothing is filtered. */
	assert_int_equal(create(sub, "new", O_WRONLY | O_CREAT, 0644, &e, &fh), 0);
	assert_int_equal(release(e.nodeid, fh, false), 0);
	assert_int_equal(mkdir_(sub, "d", 0755, NULL), 0);
	assert_int_equal(symlink_(sub, "s", "../secret", NULL), 0);
	assert_int_equal(unlink_(sub, "a2", false), 0);
	/* The host: hidden entries untouched, nothing new in the root. */
	assert_int_equal(stat(share, &after), 0);
	assert_int_equal(after.st_mode, before.st_mode);
	assert_int_equal(after.st_uid, before.st_uid);
	assert_int_equal(get_file("secret", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "S");
	assert_int_equal(get_file("b", buf, sizeof(buf)), 1);
	assert_false(host_exists("new") || host_exists("subdir/stolen"));
	assert_true(host_exists("subdir/new") && host_exists("subdir/d") &&
		    host_exists("subdir/s"));
}

static void filtered_read_only(void **state)
{
	static struct dent ents[16];
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = S_IFDIR | 0700 };
	struct fuse_entry_out e;
	uint64_t a, sub, fh, wfh;
	unsigned int n;
	char buf[64];

	(void)state;
	a = lookup_id(ROOT, "a");
	sub = lookup_id(ROOT, "subdir");
	assert_int_equal(lookup(ROOT, "secret", NULL), -ENOENT);
	assert_int_equal(do_open(a, O_RDONLY, &fh), 0);
	assert_int_equal(fread_at(a, fh, 0, 64, buf, 0), 1);
	assert_int_equal(fwrite_at(a, fh, 0, "X", 1), -EROFS);
	assert_int_equal(release(a, fh, false), 0);
	assert_int_equal(do_open(a, O_WRONLY, &wfh), -EROFS);
	/* Read-only says no first, to any name: nothing is learnt of hidden
	 * ones. */
	assert_int_equal(create(ROOT, "new", O_WRONLY | O_CREAT, 0644, &e, &wfh), -EROFS);
	assert_int_equal(create(ROOT, "a", O_WRONLY | O_CREAT, 0644, &e, &wfh), -EROFS);
	assert_int_equal(unlink_(ROOT, "a", false), -EROFS);
	assert_int_equal(unlink_(ROOT, "secret", false), -EROFS);
	assert_int_equal(rename_(sub, "x", ROOT, "secret", 0), -EROFS);
	assert_int_equal(mkdir_(sub, "d", 0755, NULL), -EROFS);
	assert_int_equal(setattr_(ROOT, &sa, NULL), -EROFS);
	assert_int_equal(open_node(ROOT, FUSE_OPENDIR, O_RDONLY, &fh), 0);
	n = list_all(ROOT, fh, 4096, true, ents, ARRAY_SIZE(ents));
	assert_root_listing(ents, n, true, a, sub);
	assert_int_equal(release(ROOT, fh, true), 0);
	assert_int_equal(get_file("a", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "A");
	assert_false(host_exists("new") || host_exists("subdir/d"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identity_and_config),
		T(create_errors),
		T(init_reply),
		T(lookup_getattr),
		T(create_write_read),
		T(copy_range),
		T(readdir_plus),
		T(names_and_links),
		T(set_attributes),
		T(ownership),
		T(xattrs),
		T(statfs_access),
		T(forget_and_stale),
		T(symlinks_not_followed),
		T(bad_names),
		T(special_files_never_opened),
		T(fd_limit),
		cmocka_unit_test_setup_teardown(read_only_share, setup_ro, teardown),
		T(share_removed),
		T(malformed),
		T(reset_and_destroy),
		T(server_thread),
#define F(fn) cmocka_unit_test_setup_teardown(fn, setup_filtered, teardown)
		F(filtered_lookup_readdir),
		F(filtered_changes),
		cmocka_unit_test_prestate_setup_teardown(filtered_read_only, setup_filtered,
							 teardown, &filtered_ro),
#undef F
#undef T
	};

	if (getenv("COCOON_TEST_DEBUG"))
		log_set_level(LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
