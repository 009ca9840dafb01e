/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-fs and its FUSE server against arbitrary request bytes.
 * A fresh device per input, brought up through the virtio-mmio transport
 * by the fake driver, shares one of two temporary directories: a read-only
 * one (a file, a directory, a symlink to /etc, a symlink out of the share,
 * a fifo) or a read-write copy that is rebuilt every 256 inputs. Files may
 * not grow past RLIMIT_FSIZE (16 MiB here) and RLIMIT_NOFILE is 1024, so
 * the server's fd limit is about 768.
 *
 * Input: byte 0 options (bit 0 read-write share, bit 1 no automatic
 * FUSE_INIT first, bit 2 an fd limit of 12, bit 3 a filtered share that
 * shows only "file", "dir" and "new" of its root, after which the root's
 * other entries must still be the same ones); then requests, each one byte
 * of flags (bit 0 on the hiprio queue, bits 1-2 the reply buffer: 4 KiB,
 * 64 bytes, none, 128 KiB in pages; bit 3 keep the header's len field as
 * given), a little-endian 16-bit length and that many request bytes. To
 * reach deep states, a header's nodeid below 8 is replaced by the node id
 * of that index that an earlier reply returned (0: the root), and the fh
 * of the operations that carry one, if below 8, by the handle of that
 * index (the same for node ids in RENAME, LINK and COPY_FILE_RANGE
 * arguments). Everything is served on this thread; the device is
 * destroyed before the next input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/fs.h"
#include "devices/virtio/mmio.h"
#include "log.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM (4u << 20)
#define RINGS 0x1000ull
#define REQ 0x20000ull
#define REP 0x100000ull
#define QSIZE 64u
#define MAX_REQS 64
#define HDR sizeof(struct fuse_in_header)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char ro_dir[64], rw_dir[96];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 ? -1 : 0;
}

static void populate(const char *dir)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/file", dir);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd >= 0) {
		(void)!write(fd, "hello world\n", 12);
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/dir", dir);
	(void)mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/dir/inner", dir);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	snprintf(p, sizeof(p), "%s/etc", dir);
	(void)symlink("/etc", p);
	snprintf(p, sizeof(p), "%s/out", dir);
	(void)symlink("../../outside", p);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	(void)mkfifo(p, 0644);
}

static void rebuild_rw(void)
{
	nftw(rw_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(rw_dir, 0755) < 0)
		abort();
	populate(rw_dir);
}

static void remove_dirs(void)
{
	nftw(rw_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(ro_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void init_once(void)
{
	struct rlimit fsize = { 16u << 20, 16u << 20 }, nofile = { 1024, 1024 };

	log_set_level(LOG_ERROR);
	signal(SIGXFSZ, SIG_IGN);
	(void)setrlimit(RLIMIT_FSIZE, &fsize);
	(void)setrlimit(RLIMIT_NOFILE, &nofile);
	snprintf(ro_dir, sizeof(ro_dir), "/tmp/cocoon-fuzz-vfs.XXXXXX");
	if (!mkdtemp(ro_dir))
		abort();
	populate(ro_dir);
	snprintf(rw_dir, sizeof(rw_dir), "%s-rw", ro_dir);
	rebuild_rw();
	atexit(remove_dirs); /* libFuzzer exits with exit() */
}

/* What a filtered share shows of its root (byte 0, bit 3). */
static const char *const shown[] = { "file", "dir", "new" };

static bool is_shown(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(shown); i++)
		if (strcmp(name, shown[i]) == 0)
			return true;
	return false;
}

/*
 * An order-free digest of the root's entries that a filtered share hides:
 * their names, inodes and types. The guest must not be able to make,
 * remove, rename or replace any of them. (Not their content or mode: an
 * unfiltered input may have made one a hard link of a shown file.)
 */
static uint64_t hidden_digest(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t sum = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		uint64_t h = 14695981039346656037ull;
		struct stat st;

		if (is_shown(e->d_name) || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			abort();
		for (const char *c = e->d_name; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
		h ^= (uint64_t)st.st_ino * 0x9e3779b97f4a7c15ull ^ (st.st_mode & S_IFMT);
		sum += h | 1;
	}
	closedir(d);
	return sum;
}

/* Where an operation carries its fh (offset into the arguments), or -1. */
static int fh_offset(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_READ:
	case FUSE_WRITE:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_FALLOCATE:
	case FUSE_LSEEK:
	case FUSE_COPY_FILE_RANGE:
		return 0;
	case FUSE_GETATTR:
	case FUSE_SETATTR:
		return 8;
	default:
		return -1;
	}
}

/* A node id in the arguments (newdir, oldnodeid, nodeid_out), or -1. */
static int node_offset(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_LINK:
		return 0;
	case FUSE_COPY_FILE_RANGE:
		return 16;
	default:
		return -1;
	}
}

/* Replace a small number at req[off] by the id of that index, if any. */
static void map_id(uint8_t *req, size_t len, int off, const uint64_t *ids, unsigned int nr)
{
	uint64_t v;

	if (off < 0 || len < HDR + (size_t)off + 8)
		return;
	v = get_le64(req + HDR + off);
	if (v < 8 && v < nr)
		put_le64(req + HDR + off, ids[v]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct vfd d;
	static uint8_t req[65536 + HDR];
	static unsigned int runs;
	static int ready;
	uint64_t nodes[8] = { FUSE_ROOT_ID }, fhs[8] = { 0 };
	unsigned int nr_nodes = 1, nr_fhs = 0;
	struct vfs *fs = NULL;
	char why[200] = "";
	const char *dir;
	uint64_t digest = 0;
	size_t off = 1;

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		if (gm_create(&mem, &r, 1))
			abort();
		init_once();
		ready = 1;
	}
	if (size < 1)
		return 0;
	if (++runs % 256 == 0)
		rebuild_rw();
	dir = (data[0] & 1) ? rw_dir : ro_dir;
	if (data[0] & 8)
		digest = hidden_digest(dir);
	if (vfs_create(&fs, &mem, dir, (data[0] & 8) ? shown : NULL,
		       (data[0] & 8) ? (unsigned int)ARRAY_SIZE(shown) : 0, "fuzz",
		       !(data[0] & 1), why, sizeof(why))) {
		fprintf(stderr, "fuzz_vfs: vfs_create: %s\n", why);
		abort();
	}
	if (data[0] & 4)
		vfs_set_max_fds(fs, 12);
	memset(mem.base, 0, REP);
	vfd_init(&d, vfs_dev(fs), &mem);
	if (!vfd_bringup(&d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_RING_FEATURES, 2, QSIZE,
			 RINGS))
		abort();

	for (int n = -1; n < MAX_REQS; n++) {
		struct fuse_in_header h;
		struct vfd_buf bufs[40];
		unsigned int nb = 0, q = VFS_REQUEST_QUEUE;
		size_t len, cap = 4096 + 16, seg = 0;
		uint32_t id, used;
		uint8_t flags = 0;

		if (n < 0) {
			/* FUSE_INIT as Linux sends it, unless the input says not. */
			struct fuse_init_in in = { .major = 7, .minor = 41,
						   .max_readahead = 1 << 20,
						   .flags = FUSE_MAX_PAGES | FUSE_INIT_EXT |
							    FUSE_DO_READDIRPLUS |
							    FUSE_ATOMIC_O_TRUNC };

			if (data[0] & 2)
				continue;
			memset(&h, 0, sizeof(h));
			h.opcode = FUSE_INIT;
			h.unique = 1;
			h.len = (uint32_t)(HDR + sizeof(in));
			memcpy(req, &h, HDR);
			memcpy(req + HDR, &in, sizeof(in));
			len = h.len;
		} else {
			if (off + 3 > size)
				break;
			flags = data[off];
			len = get_le16(data + off + 1);
			off += 3;
			if (len > size - off)
				len = size - off;
			memcpy(req, data + off, len);
			off += len;
			if (flags & 1)
				q = VFS_HIPRIO_QUEUE;
			switch ((flags >> 1) & 3) {
			case 1:
				cap = 64;
				break;
			case 2:
				cap = 0;
				break;
			case 3:
				cap = 128 * 1024 + 16;
				seg = 4096;
				break;
			}
			if (len >= HDR) {
				memcpy(&h, req, HDR);
				if (!(flags & 8))
					h.len = (uint32_t)len;
				if (h.nodeid < 8)
					h.nodeid = h.nodeid < nr_nodes ? nodes[h.nodeid] : FUSE_ROOT_ID;
				memcpy(req, &h, HDR);
				map_id(req, len, fh_offset(h.opcode), fhs, nr_fhs);
				map_id(req, len, node_offset(h.opcode), nodes, nr_nodes);
				if (h.opcode == FUSE_COPY_FILE_RANGE)
					map_id(req, len, 24, fhs, nr_fhs); /* fh_out */
			}
		}
		if (len) {
			memcpy(mem.base + REQ, req, len);
			bufs[nb++] = (struct vfd_buf){ REQ, (uint32_t)len, false };
		}
		for (size_t o = 0; o < cap && nb < 40;) {
			size_t k = seg ? (o ? seg : 16) : cap;

			if (k > cap - o)
				k = cap - o;
			bufs[nb++] = (struct vfd_buf){ REP + o, (uint32_t)k, true };
			o += k;
		}
		if (!nb)
			continue;
		vfd_post(&d, q, bufs, nb);
		while (vfs_process(fs))
			;
		if (!vfd_used(&d, q, &id, &used))
			abort(); /* every chain completes */
		if (used > cap)
			abort();
		/* Remember node ids and handles the replies give. */
		if (len >= HDR && used >= sizeof(struct fuse_out_header) + 8 &&
		    get_le32(mem.base + REP + 4) == 0) {
			const uint8_t *p = mem.base + REP + sizeof(struct fuse_out_header);

			memcpy(&h, req, HDR);
			switch (h.opcode) {
			case FUSE_CREATE:
				if (used >= 16 + sizeof(struct fuse_entry_out) + 8)
					fhs[nr_fhs++ % 8] = get_le64(p + sizeof(struct fuse_entry_out));
				/* fall through */
			case FUSE_LOOKUP:
			case FUSE_MKDIR:
			case FUSE_MKNOD:
			case FUSE_SYMLINK:
			case FUSE_LINK:
				if (nr_nodes < 8)
					nodes[nr_nodes++] = get_le64(p);
				break;
			case FUSE_OPEN:
			case FUSE_OPENDIR:
				fhs[nr_fhs++ % 8] = get_le64(p);
				break;
			}
			if (nr_fhs > 8)
				nr_fhs = 8;
		}
	}
	vfs_destroy(vfs_dev(fs));
	if ((data[0] & 8) && hidden_digest(dir) != digest) {
		fprintf(stderr, "fuzz_vfs: a filtered share changed a hidden entry\n");
		abort();
	}
	return 0;
}
