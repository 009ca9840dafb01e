/* SPDX-License-Identifier: MIT */
/*
 * hostile: a guest program that breaks the virtio rules on purpose.
 *
 *   hostile blk|console|rng|net|vsock|fs [CASE...]
 *   hostile ports                 serial and guest-control port garbage
 *   hostile exit-garbage          an out-of-range status on the exit port
 *   hostile flood-console BYTES   BYTES of output as fast as the guest can
 *
 * For a virtio device it detaches the kernel's driver (unbinds the
 * virtio-mmio platform device, so the kernel resets and releases it), maps
 * the device's register window through /dev/mem and drives it by hand
 * (virtio 1.2 section 4.2.2, the version 2 register layout), with rings and
 * buffers in guest RAM that the kernel was told to keep out of its hands
 * (memmap=SIZE$ADDR on the kernel command line). Each case breaks one rule,
 * then checks what DESIGN.md's "Guest memory and hostile guests" promises:
 * the malformed request completes with length 0 or the device shows
 * DEVICE_NEEDS_RESET, and after a reset the same device answers a
 * well-formed request correctly; the root disk (/dev/vda) still reads.
 *
 * One line per case ("case NAME DEVICE: ok (...)" or "... FAIL (...)"); the
 * exit status is the number of failed cases (capped at 100), so the host
 * sees the verdict even when the device under test is the console that
 * carries stdout. With the console as the target, the lines go to the
 * kernel log (/dev/kmsg), which `cocoon run --console` shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- virtio-mmio registers (4.2.2) and ring layout (2.7) ---------------- */
enum {
	R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR = 0x00c,
	R_DEV_FEAT = 0x010, R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020,
	R_DRV_FEAT_SEL = 0x024, R_QSEL = 0x030, R_QNUM_MAX = 0x034, R_QNUM = 0x038,
	R_QREADY = 0x044, R_QNOTIFY = 0x050, R_ISR = 0x060, R_IACK = 0x064,
	R_STATUS = 0x070, R_QDESC = 0x080, R_QAVAIL = 0x090, R_QUSED = 0x0a0,
	R_SHM_SEL = 0x0ac, R_SHM_LEN = 0x0b0, R_CFG_GEN = 0x0fc, R_CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8,
       S_NEEDS_RESET = 0x40, S_FAILED = 0x80 };
enum { D_NEXT = 1, D_WRITE = 2, D_INDIRECT = 4 };
#define F_INDIRECT (1ull << 28)
#define F_VERSION_1 (1ull << 32)
#define MMIO_MAGIC 0x74726976u
#define EROFS_MAGIC 0xe0f5e1e2u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct avail {
	uint16_t flags, idx, ring[];
};
struct used_elem {
	uint32_t id, len;
};
struct used {
	uint16_t flags, idx;
	struct used_elem ring[];
};

enum { ID_NET = 1, ID_BLK = 2, ID_CONSOLE = 3, ID_RNG = 4, ID_VSOCK = 19, ID_FS = 26 };

/* Our rings: queue q's descriptor table, avail and used ring in one 16 KiB
 * slot of the reserved area; buffers above BUF_OFF. 256 entries at most:
 * 4096 + 518 + 2054 bytes fit. */
#define QSLOT 0x4000u
#define MAX_Q 4u
#define QSIZE_CAP 256u
#define BUF_OFF 0x10000u

struct vq {
	uint16_t size;
	struct desc *desc;
	struct avail *avail;
	struct used *used;
	uint64_t desc_pa, avail_pa, used_pa;
	uint16_t next_avail, seen_used;
};

struct vdev {
	const char *name;
	unsigned int id, pidx; /* device type; index among virtio_mmio.device= */
	volatile uint8_t *regs;
	uint64_t base, offered;
	unsigned int nq, mainq; /* queues we use; the one requests go to */
	struct vq vq[MAX_Q];
	uint64_t guest_cid; /* vsock */
	uint32_t unique;    /* fs */
};

static uint8_t *dma;
static uint64_t dma_pa, dma_size, ram_end, buf_used;
static int log_fd = STDOUT_FILENO;
static int failures;

/* ---- output ----------------------------------------------------------------- */

static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = 0;

	if (log_fd != STDOUT_FILENO)
		n = snprintf(line, sizeof(line), "<2>"); /* above "quiet" */
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(log_fd, line, (size_t)n);
}

static void verdict(const char *cs, const struct vdev *d, bool ok, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	say("case %s %s: %s (%s)", cs, d ? d->name : "-", ok ? "ok" : "FAIL", why);
	if (!ok)
		failures++;
}

static int die(const char *what)
{
	say("hostile: %s: %s", what, strerror(errno));
	return 100;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- setup: reserved memory, RAM size, devices --------------------------- */

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	return 0;
}

static uint64_t parse_size(const char *s, char **end)
{
	uint64_t v = strtoull(s, end, 0);

	switch (**end) {
	case 'K': case 'k': v <<= 10; (*end)++; break;
	case 'M': case 'm': v <<= 20; (*end)++; break;
	case 'G': case 'g': v <<= 30; (*end)++; break;
	}
	return v;
}

/* memmap=SIZE$ADDR: the RAM the kernel left alone for us. */
static int find_dma(const char *cmdline)
{
	const char *p = strstr(cmdline, "memmap=");
	char *end;

	if (!p)
		return -1;
	dma_size = parse_size(p + 7, &end);
	if (*end != '$')
		return -1;
	dma_pa = strtoull(end + 1, &end, 0);
	return dma_size >= (1u << 20) ? 0 : -1;
}

/* The end of guest RAM: the highest "System RAM" range of /proc/iomem. */
static int find_ram_end(void)
{
	static char buf[16384];
	char *line;

	if (read_file("/proc/iomem", buf, sizeof(buf)))
		return -1;
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		uint64_t a, b;

		if (line[0] != ' ' && strstr(line, "System RAM") &&
		    sscanf(line, "%" SCNx64 "-%" SCNx64, &a, &b) == 2 && b + 1 > ram_end)
			ram_end = b + 1;
	}
	return ram_end ? 0 : -1;
}

static void *map_phys(uint64_t pa, size_t len)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)pa);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static uint32_t rd(const struct vdev *d, unsigned int off)
{
	return *(volatile uint32_t *)(d->regs + off);
}

static void wr(const struct vdev *d, unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(d->regs + off) = v;
}

static const char *type_name(unsigned int id)
{
	switch (id) {
	case ID_NET: return "net";
	case ID_BLK: return "blk";
	case ID_CONSOLE: return "console";
	case ID_RNG: return "rng";
	case ID_VSOCK: return "vsock";
	case ID_FS: return "fs";
	}
	return NULL;
}

/*
 * The target: the first device of the type, except for blk, where it is the
 * second disk (the first is the root file system this program runs from).
 */
static int find_device(const char *cmdline, const char *want, struct vdev *d)
{
	const char *p = cmdline;
	unsigned int idx = 0, seen = 0;

	while ((p = strstr(p, "virtio_mmio.device="))) {
		char *end;
		uint64_t base;

		parse_size(p + 19, &end); /* window size */
		base = strtoull(end + 1, &end, 0);
		p = end;
		d->regs = map_phys(base, 4096);
		if (!d->regs)
			return -1;
		d->id = rd(d, R_DEVICE_ID);
		if (type_name(d->id) && !strcmp(type_name(d->id), want) &&
		    (d->id != ID_BLK || seen++ == 1)) {
			d->name = type_name(d->id);
			d->pidx = idx;
			d->base = base;
			return 0;
		}
		munmap((void *)d->regs, 4096);
		idx++;
	}
	errno = ENODEV;
	return -1;
}

static int unbind(const struct vdev *d)
{
	char name[64];
	int fd, n;

	n = snprintf(name, sizeof(name), "virtio-mmio.%u", d->pidx);
	fd = open("/sys/bus/platform/drivers/virtio-mmio/unbind", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, name, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ---- the driver side, by hand ------------------------------------------------ */

static void *balloc(size_t len, uint64_t *pa)
{
	uint64_t off = BUF_OFF + ((buf_used + 15) & ~15ull);

	if (off + len > dma_size)
		off = BUF_OFF, buf_used = 0; /* wrap: earlier cases are done */
	buf_used = off - BUF_OFF + len;
	memset(dma + off, 0, len);
	*pa = dma_pa + off;
	return dma + off;
}

static void reset(struct vdev *d)
{
	wr(d, R_STATUS, 0);
	for (int i = 0; i < 1000 && rd(d, R_STATUS); i++)
		sleep_ms(1);
	wr(d, R_IACK, rd(d, R_ISR));
}

static uint64_t offered_features(struct vdev *d)
{
	wr(d, R_DEV_FEAT_SEL, 0);
	uint64_t lo = rd(d, R_DEV_FEAT);
	wr(d, R_DEV_FEAT_SEL, 1);
	return lo | (uint64_t)rd(d, R_DEV_FEAT) << 32;
}

static void set_features(struct vdev *d, uint64_t f)
{
	wr(d, R_DRV_FEAT_SEL, 0);
	wr(d, R_DRV_FEAT, (uint32_t)f);
	wr(d, R_DRV_FEAT_SEL, 1);
	wr(d, R_DRV_FEAT, (uint32_t)(f >> 32));
}

/* 3.1.1 steps 1-6; 0 when FEATURES_OK stuck. */
static int begin(struct vdev *d, uint64_t want)
{
	reset(d);
	wr(d, R_STATUS, S_ACK);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	d->offered = offered_features(d);
	set_features(d, want & d->offered);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	return (rd(d, R_STATUS) & S_FEATURES_OK) ? 0 : -1;
}

static void program_queue(struct vdev *d, unsigned int q, uint32_t num, uint64_t desc,
			  uint64_t avail, uint64_t used)
{
	wr(d, R_QSEL, q);
	wr(d, R_QNUM, num);
	wr(d, R_QDESC, (uint32_t)desc);
	wr(d, R_QDESC + 4, (uint32_t)(desc >> 32));
	wr(d, R_QAVAIL, (uint32_t)avail);
	wr(d, R_QAVAIL + 4, (uint32_t)(avail >> 32));
	wr(d, R_QUSED, (uint32_t)used);
	wr(d, R_QUSED + 4, (uint32_t)(used >> 32));
	wr(d, R_QREADY, 1);
}

static uint16_t queue_size(struct vdev *d, unsigned int q)
{
	uint32_t max;

	wr(d, R_QSEL, q);
	max = rd(d, R_QNUM_MAX);
	return (uint16_t)(max < QSIZE_CAP ? max : QSIZE_CAP);
}

/* Point our struct vq at queue q's slot and zero the rings. */
static void attach_queue(struct vdev *d, unsigned int q)
{
	struct vq *vq = &d->vq[q];
	uint64_t off = (uint64_t)q * QSLOT;

	memset(dma + off, 0, QSLOT);
	vq->size = queue_size(d, q);
	vq->desc = (struct desc *)(dma + off);
	vq->avail = (struct avail *)(dma + off + 4096);
	vq->used = (struct used *)(dma + off + 8192);
	vq->desc_pa = dma_pa + off;
	vq->avail_pa = vq->desc_pa + 4096;
	vq->used_pa = vq->desc_pa + 8192;
	vq->next_avail = vq->seen_used = 0;
}

static void post_rx(struct vdev *d);

/* A fresh, working device: reset, negotiate, every queue set up. */
static int start(struct vdev *d, uint64_t want)
{
	if (begin(d, want))
		return -1;
	for (unsigned int q = 0; q < d->nq; q++) {
		attach_queue(d, q);
		program_queue(d, q, d->vq[q].size, d->vq[q].desc_pa, d->vq[q].avail_pa,
			      d->vq[q].used_pa);
	}
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if ((rd(d, R_STATUS) & (S_DRIVER_OK | S_NEEDS_RESET)) != S_DRIVER_OK)
		return -1;
	post_rx(d);
	return 0;
}

static void make_avail(struct vdev *d, unsigned int q, uint16_t head)
{
	struct vq *vq = &d->vq[q];

	vq->avail->ring[vq->next_avail % vq->size] = head;
	vq->next_avail++;
	__atomic_store_n(&vq->avail->idx, vq->next_avail, __ATOMIC_RELEASE);
}

static void kick(struct vdev *d, unsigned int q)
{
	__sync_synchronize();
	wr(d, R_QNOTIFY, q);
}

/* 1: a used entry (in *e), 0: NEEDS_RESET, -1: nothing within ms. */
static int wait_used(struct vdev *d, unsigned int q, unsigned int ms, struct used_elem *e)
{
	struct vq *vq = &d->vq[q];
	double until = now_s() + ms / 1000.0;

	do {
		wr(d, R_IACK, rd(d, R_ISR));
		if (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) != vq->seen_used) {
			*e = vq->used->ring[vq->seen_used % vq->size];
			vq->seen_used++;
			return 1;
		}
		if (rd(d, R_STATUS) & S_NEEDS_RESET)
			return 0;
		sleep_ms(1);
	} while (now_s() < until);
	return -1;
}

/* ---- well-formed requests, one kind per device --------------------------- */

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct fuse_in {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
	uint32_t major, minor, max_readahead, flags, flags2, unused[11];
};
struct fuse_out {
	int32_t len, error;
	uint64_t unique;
	uint32_t major, minor;
	uint8_t rest[240];
};

/* What the host put in the second disk's first sector (hostile.sh). */
static const char disk_mark[] = "HOSTILE-DISK\n";
static const char console_mark[] = "hostile-console-tx\n";

/* vsock replies arrive on the rx queue: keep buffers posted there. */
static void post_rx(struct vdev *d)
{
	if (d->id != ID_VSOCK)
		return;
	for (unsigned int i = 0; i < 16; i++) {
		uint64_t pa;

		balloc(4096, &pa);
		d->vq[0].desc[i] = (struct desc){ pa, 4096, D_WRITE, 0 };
		make_avail(d, 0, (uint16_t)i);
	}
	kick(d, 0);
}

/* Descriptors built by the cases: queue q's table from index *n on. */
static uint16_t put_desc(struct vdev *d, unsigned int q, unsigned int *n, uint64_t addr,
			 uint32_t len, uint16_t flags)
{
	uint16_t i = (uint16_t)(*n % d->vq[q].size);

	d->vq[q].desc[i] = (struct desc){ addr, len, flags, (uint16_t)((i + 1) % d->vq[q].size) };
	(*n)++;
	return i;
}

/* The result buffer of the last good request, to check it. */
static void *good_buf[2];

/* Build one well-formed request on the main queue at descriptor *n; its
 * head is returned. */
static uint16_t build_good(struct vdev *d, unsigned int *n)
{
	unsigned int q = d->mainq;
	uint64_t pa, pa2, pa3;
	uint16_t head;

	switch (d->id) {
	case ID_BLK: {
		uint32_t *h = balloc(16, &pa); /* type IN, sector 0 */
		(void)h;
		good_buf[0] = balloc(512, &pa2);
		good_buf[1] = balloc(1, &pa3);
		*(uint8_t *)good_buf[1] = 0xff;
		head = put_desc(d, q, n, pa, 16, D_NEXT);
		put_desc(d, q, n, pa2, 512, D_WRITE | D_NEXT);
		put_desc(d, q, n, pa3, 1, D_WRITE);
		return head;
	}
	case ID_RNG:
		good_buf[0] = balloc(64, &pa);
		return put_desc(d, q, n, pa, 64, D_WRITE);
	case ID_CONSOLE:
		memcpy(balloc(sizeof(console_mark) - 1, &pa), console_mark,
		       sizeof(console_mark) - 1);
		return put_desc(d, q, n, pa, sizeof(console_mark) - 1, 0);
	case ID_NET: {
		uint8_t *f = balloc(12 + 60, &pa); /* virtio_net_hdr, then a frame */

		memset(f + 12, 0xff, 6);                     /* broadcast */
		memcpy(f + 18, "\x02\x00\x00\x00\x00\x01", 6); /* a local MAC */
		f[24] = 0x88, f[25] = 0xb5;                  /* local experimental */
		return put_desc(d, q, n, pa, 12 + 60, 0);
	}
	case ID_VSOCK: {
		struct vsock_hdr *h = balloc(sizeof(*h), &pa);

		/* A connection to a host port nobody listens on: RST comes back. */
		*h = (struct vsock_hdr){ .src_cid = d->guest_cid, .dst_cid = 2,
			.src_port = 40000 + (*n % 1000), .dst_port = 9, .type = 1,
			.op = 1, .buf_alloc = 65536 };
		return put_desc(d, q, n, pa, sizeof(*h), 0);
	}
	case ID_FS: {
		struct fuse_in *in = balloc(sizeof(*in), &pa);

		*in = (struct fuse_in){ .len = sizeof(*in), .opcode = 26 /* INIT */,
			.unique = ++d->unique, .major = 7, .minor = 31,
			.max_readahead = 65536 };
		good_buf[0] = balloc(sizeof(struct fuse_out), &pa2);
		head = put_desc(d, q, n, pa, sizeof(*in), D_NEXT);
		put_desc(d, q, n, pa2, sizeof(struct fuse_out), D_WRITE);
		return head;
	}
	}
	return 0;
}

/* Send a well-formed request and check the answer; why says what broke. */
static int good_request(struct vdev *d, char *why, size_t len)
{
	unsigned int n = 0, q = d->mainq;
	struct used_elem e;
	uint16_t head = build_good(d, &n);
	int r;

	make_avail(d, q, head);
	kick(d, q);
	r = wait_used(d, q, 5000, &e);
	if (r != 1) {
		snprintf(why, len, "well-formed request: %s",
			 r ? "no answer in 5 s" : "NEEDS_RESET");
		return -1;
	}
	switch (d->id) {
	case ID_BLK:
		if (*(uint8_t *)good_buf[1] != 0 ||
		    memcmp(good_buf[0], disk_mark, sizeof(disk_mark) - 1)) {
			snprintf(why, len, "read of sector 0: status %u, data '%.12s'",
				 *(uint8_t *)good_buf[1], (char *)good_buf[0]);
			return -1;
		}
		break;
	case ID_RNG: {
		static const uint8_t zero[64];

		if (!e.len || !memcmp(good_buf[0], zero, 64)) {
			snprintf(why, len, "entropy: %u bytes", e.len);
			return -1;
		}
		break;
	}
	case ID_VSOCK: {
		struct vsock_hdr h;
		uint64_t pa;

		r = wait_used(d, 0, 5000, &e);
		if (r != 1 || e.id >= 16) {
			snprintf(why, len, "no reply to a connect (%d)", r);
			return -1;
		}
		pa = d->vq[0].desc[e.id].addr;
		memcpy(&h, dma + (pa - dma_pa), sizeof(h));
		if (h.op != 3 /* RST */ || h.dst_cid != d->guest_cid) {
			snprintf(why, len, "connect reply op %u to cid %" PRIu64, h.op, h.dst_cid);
			return -1;
		}
		/* Give the buffer back. */
		make_avail(d, 0, (uint16_t)e.id);
		kick(d, 0);
		break;
	}
	case ID_FS: {
		const struct fuse_out *o = good_buf[0];

		if (e.len < 16 || o->unique != d->unique || o->error || o->major != 7) {
			snprintf(why, len, "FUSE_INIT reply: %u bytes, error %d, major %u",
				 e.len, o->error, o->major);
			return -1;
		}
		break;
	}
	}
	return 0;
}

/* ---- the checks after each case ------------------------------------------------ */

/* The root disk is another virtio-blk device: it must still read. */
static int root_disk_ok(void)
{
	void *buf;
	int fd, ok = 0;

	if (posix_memalign(&buf, 4096, 4096))
		return 0;
	fd = open("/dev/vda", O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd >= 0 && pread(fd, buf, 4096, 0) == 4096) {
		uint32_t m;

		memcpy(&m, (uint8_t *)buf + 1024, 4);
		ok = m == EROFS_MAGIC;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return ok;
}

/* After a case: the device still works once reset, and so does the root
 * disk. Prints the case's line. */
static void after(const char *cs, struct vdev *d, const char *outcome)
{
	char why[160] = "";
	uint64_t want = F_VERSION_1;

	if (start(d, want)) {
		verdict(cs, d, false, "%s; restart failed, status %#x", outcome, rd(d, R_STATUS));
		return;
	}
	if (good_request(d, why, sizeof(why))) {
		verdict(cs, d, false, "%s; then %s", outcome, why);
		return;
	}
	if (!root_disk_ok()) {
		verdict(cs, d, false, "%s; then the root disk does not read", outcome);
		return;
	}
	verdict(cs, d, true, "%s; device and root disk work after reset", outcome);
}

/* A malformed request must complete with length 0 or set NEEDS_RESET;
 * with any_len, a completion of any length will do. */
static void expect_rejected(const char *cs, struct vdev *d, unsigned int q, bool any_len)
{
	struct used_elem e;
	char outcome[96];
	int r = wait_used(d, q, any_len ? 20000 : 3000, &e);

	if (any_len && r == 1) {
		snprintf(outcome, sizeof(outcome), "completed with length %u", e.len);
		after(cs, d, outcome);
		return;
	}
	if (r == 1 && e.len != 0) {
		verdict(cs, d, false, "completed with length %u", e.len);
		return;
	}
	if (r < 0) {
		verdict(cs, d, false, "no completion and no NEEDS_RESET in %u s (status %#x)",
			any_len ? 20 : 3, rd(d, R_STATUS));
		return;
	}
	snprintf(outcome, sizeof(outcome), "%s",
		 r ? "completed with length 0" : "NEEDS_RESET");
	after(cs, d, outcome);
}

/* ---- chain cases (DESIGN rule 3) ------------------------------------------------- */

/* The direction the device reads its first buffer in. */
static uint16_t dir(const struct vdev *d)
{
	return d->id == ID_RNG ? D_WRITE : 0;
}

typedef void (*chain_case)(struct vdev *d, unsigned int q, uint64_t pa);

static void c_desc_loop(struct vdev *d, unsigned int q, uint64_t pa)
{
	d->vq[q].desc[0] = (struct desc){ pa, 16, dir(d) | D_NEXT, 1 };
	d->vq[q].desc[1] = (struct desc){ pa, 16, dir(d) | D_NEXT, 0 };
	make_avail(d, q, 0);
}

static void c_self_loop(struct vdev *d, unsigned int q, uint64_t pa)
{
	d->vq[q].desc[3] = (struct desc){ pa, 16, dir(d) | D_NEXT, 3 };
	make_avail(d, q, 3);
}

/* Every descriptor of the table in one ring: longer than the queue. */
static void c_long_chain(struct vdev *d, unsigned int q, uint64_t pa)
{
	for (unsigned int i = 0; i < d->vq[q].size; i++)
		d->vq[q].desc[i] = (struct desc){ pa, 1, dir(d) | D_NEXT,
			(uint16_t)((i + 1) % d->vq[q].size) };
	make_avail(d, q, 0);
}

static void c_next_oob(struct vdev *d, unsigned int q, uint64_t pa)
{
	d->vq[q].desc[0] = (struct desc){ pa, 16, dir(d) | D_NEXT, (uint16_t)(d->vq[q].size + 5) };
	make_avail(d, q, 0);
}

static void c_head_oob(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	make_avail(d, q, (uint16_t)(d->vq[q].size + 3));
}

/* The avail index runs more than a queue's worth ahead of the device. */
static void c_avail_jump(struct vdev *d, unsigned int q, uint64_t pa)
{
	struct vq *vq = &d->vq[q];

	d->vq[q].desc[0] = (struct desc){ pa, 16, dir(d), 0 };
	vq->next_avail = (uint16_t)(vq->next_avail + vq->size + 7);
	__atomic_store_n(&vq->avail->idx, vq->next_avail, __ATOMIC_RELEASE);
}

static void one_desc(struct vdev *d, unsigned int q, uint64_t addr, uint32_t len)
{
	d->vq[q].desc[0] = (struct desc){ addr, len, dir(d), 0 };
	make_avail(d, q, 0);
}

static void c_addr_mmio(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	one_desc(d, q, d->base, 16); /* the device's own registers */
}

static void c_addr_above_ram(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	one_desc(d, q, 0x200000000ull, 4096);
}

static void c_addr_straddle(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	one_desc(d, q, ram_end - 8, 16);
}

static void c_addr_wrap(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	one_desc(d, q, 0xfffffffffffff000ull, 0x2000);
}

static void c_len_huge(struct vdev *d, unsigned int q, uint64_t pa)
{
	one_desc(d, q, pa, 0xffffffffu);
}

/* Readable descriptors, each inside RAM, whose lengths add up past 4 GiB.
 * Read-only, so that nothing is written into the guest's kernel. */
static void c_len_sum_wrap(struct vdev *d, unsigned int q, uint64_t pa)
{
	const uint32_t len = (uint32_t)((ram_end - (16u << 20)) & ~0xfffull);
	unsigned int n = (unsigned int)((1ull << 32) / len) + 2;

	(void)pa;
	if (n > d->vq[q].size)
		n = d->vq[q].size;
	for (unsigned int i = 0; i < n; i++)
		d->vq[q].desc[i] = (struct desc){ 16u << 20, len,
			(uint16_t)(i + 1 < n ? D_NEXT : 0), (uint16_t)(i + 1) };
	make_avail(d, q, 0);
}

/* Every readable/writable flag the wrong way round. */
static void c_wrong_dir(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	unsigned int n = 0;
	uint16_t head = build_good(d, &n);

	for (unsigned int i = 0; i < n; i++)
		d->vq[q].desc[i].flags ^= D_WRITE;
	make_avail(d, q, head);
}

/*
 * A well-formed request whose data is 200 MiB (16 MiB for the console,
 * whose bytes all reach cocoon's stdout): 1 MiB descriptors that all cover
 * the same upper half of the reserved area. Under the 256 MiB chain cap, so
 * the device sees it: it must stream, cap or refuse it, never copy it
 * whole (DESIGN rule 6; hostile.sh checks cocoon's peak RSS).
 */
static void c_big_chain(struct vdev *d, unsigned int q, uint64_t pa)
{
	const uint64_t big = dma_pa + (1u << 20);
	const uint32_t mib = 1u << 20;
	unsigned int n = 0;
	const uint16_t data = d->id == ID_CONSOLE ? 16 : 200;
	uint64_t hpa, spa;
	uint16_t head, i;

	(void)pa;
	switch (d->id) {
	case ID_BLK: { /* read of sector 0 into 200 MiB: past the 1 MiB disk */
		balloc(16, &hpa);
		head = put_desc(d, q, &n, hpa, 16, D_NEXT);
		for (i = 0; i < data; i++)
			put_desc(d, q, &n, big, mib, D_WRITE | D_NEXT);
		balloc(1, &spa);
		put_desc(d, q, &n, spa, 1, D_WRITE);
		break;
	}
	case ID_RNG:
		head = put_desc(d, q, &n, big, mib, D_WRITE | D_NEXT);
		for (i = 1; i < data; i++)
			put_desc(d, q, &n, big, mib, D_WRITE | (i + 1 < data ? D_NEXT : 0));
		break;
	case ID_VSOCK: {
		struct vsock_hdr *h = balloc(sizeof(*h), &hpa);

		/* Data for a connection that does not exist. */
		*h = (struct vsock_hdr){ .src_cid = d->guest_cid, .dst_cid = 2,
			.src_port = 5555, .dst_port = 9, .type = 1, .op = 5 /* RW */,
			.len = data * mib, .buf_alloc = 65536 };
		head = put_desc(d, q, &n, hpa, sizeof(*h), D_NEXT);
		for (i = 0; i < data; i++)
			put_desc(d, q, &n, big, mib, (i + 1 < data ? D_NEXT : 0));
		break;
	}
	case ID_FS: {
		struct fuse_in *in = balloc(sizeof(*in), &hpa);

		/* FUSE_WRITE (16) of 200 MiB to a node that was never looked up. */
		*in = (struct fuse_in){ .len = (uint32_t)(sizeof(*in) + data * mib),
			.opcode = 16, .unique = ++d->unique, .nodeid = 1 };
		in->major = 0, in->minor = data * mib; /* fh 0, offset 0, size */
		head = put_desc(d, q, &n, hpa, sizeof(*in), D_NEXT);
		for (i = 0; i < data; i++)
			put_desc(d, q, &n, big, mib, D_NEXT);
		put_desc(d, q, &n, big, 256, D_WRITE);
		break;
	}
	default: /* console, net: one readable chain (net: a 200 MiB frame) */
		head = put_desc(d, q, &n, big, mib, D_NEXT);
		for (i = 1; i < data; i++)
			put_desc(d, q, &n, big, mib, (i + 1 < data ? D_NEXT : 0));
		break;
	}
	/* Lines of Z for the console; net needs a zero virtio_net_hdr. */
	memset(dma + (1u << 20), d->id == ID_NET ? 0 : 'Z', mib);
	dma[(1u << 20) + mib - 1] = '\n';
	make_avail(d, q, head);
}

static void indirect(struct vdev *d, unsigned int q, uint64_t table, uint32_t len)
{
	d->vq[q].desc[0] = (struct desc){ table, len, D_INDIRECT, 0 };
	make_avail(d, q, 0);
}

static void c_ind_loop(struct vdev *d, unsigned int q, uint64_t pa)
{
	uint64_t tpa;
	struct desc *t = balloc(4 * 16, &tpa);

	for (unsigned int i = 0; i < 4; i++)
		t[i] = (struct desc){ pa, 16, dir(d) | D_NEXT, (uint16_t)((i + 1) % 4) };
	indirect(d, q, tpa, 4 * 16);
}

static void c_ind_next_oob(struct vdev *d, unsigned int q, uint64_t pa)
{
	uint64_t tpa;
	struct desc *t = balloc(2 * 16, &tpa);

	t[0] = (struct desc){ pa, 16, dir(d) | D_NEXT, 2 };
	t[1] = (struct desc){ pa, 16, dir(d), 0 };
	indirect(d, q, tpa, 2 * 16);
}

static void c_ind_bad_len(struct vdev *d, unsigned int q, uint64_t pa)
{
	uint64_t tpa;
	struct desc *t = balloc(2 * 16, &tpa);

	t[0] = (struct desc){ pa, 16, dir(d), 0 };
	indirect(d, q, tpa, 24);
}

static void c_ind_zero_len(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	uint64_t tpa;

	balloc(16, &tpa);
	indirect(d, q, tpa, 0);
}

static void c_ind_nested(struct vdev *d, unsigned int q, uint64_t pa)
{
	uint64_t tpa, t2pa;
	struct desc *t = balloc(16, &tpa), *t2 = balloc(16, &t2pa);

	*t2 = (struct desc){ pa, 16, dir(d), 0 };
	*t = (struct desc){ t2pa, 16, D_INDIRECT, 0 };
	indirect(d, q, tpa, 16);
}

static void c_ind_outside(struct vdev *d, unsigned int q, uint64_t pa)
{
	(void)pa;
	indirect(d, q, ram_end - 16, 64);
}

/* INDIRECT with NEXT in the same descriptor (2.7.5.3.1: not allowed). */
static void c_ind_with_next(struct vdev *d, unsigned int q, uint64_t pa)
{
	uint64_t tpa;
	struct desc *t = balloc(16, &tpa);

	*t = (struct desc){ pa, 16, dir(d), 0 };
	d->vq[q].desc[0] = (struct desc){ tpa, 16, D_INDIRECT | D_NEXT, 1 };
	d->vq[q].desc[1] = (struct desc){ pa, 16, dir(d), 0 };
	make_avail(d, q, 0);
}

/* A huge indirect table: more entries than the queue may chain. */
static void c_ind_huge(struct vdev *d, unsigned int q, uint64_t pa)
{
	uint64_t tpa;
	unsigned int n = 4096;
	struct desc *t = balloc(n * 16, &tpa);

	for (unsigned int i = 0; i < n; i++)
		t[i] = (struct desc){ pa, 1, dir(d) | (i + 1 < n ? D_NEXT : 0),
			(uint16_t)(i + 1) };
	indirect(d, q, tpa, n * 16);
}

static const struct {
	const char *name;
	chain_case fn;
	bool needs_indirect; /* negotiate INDIRECT_DESC first */
} chain_cases[] = {
	{ "desc-loop", c_desc_loop, false },
	{ "desc-self-loop", c_self_loop, false },
	{ "chain-longer-than-queue", c_long_chain, false },
	{ "next-out-of-range", c_next_oob, false },
	{ "head-out-of-range", c_head_oob, false },
	{ "avail-idx-jump", c_avail_jump, false },
	{ "addr-in-mmio", c_addr_mmio, false },
	{ "addr-above-ram", c_addr_above_ram, false },
	{ "addr-straddles-ram-end", c_addr_straddle, false },
	{ "addr-len-wraps-64bit", c_addr_wrap, false },
	{ "len-4g", c_len_huge, false },
	{ "len-sum-wraps-32bit", c_len_sum_wrap, false },
	{ "wrong-direction", c_wrong_dir, false },
	{ "chain-200mib", c_big_chain, false },
	{ "indirect-not-negotiated", c_ind_loop, false },
	{ "indirect-loop", c_ind_loop, true },
	{ "indirect-next-out-of-range", c_ind_next_oob, true },
	{ "indirect-len-not-16n", c_ind_bad_len, true },
	{ "indirect-len-zero", c_ind_zero_len, true },
	{ "indirect-nested", c_ind_nested, true },
	{ "indirect-outside-ram", c_ind_outside, true },
	{ "indirect-with-next", c_ind_with_next, true },
	{ "indirect-table-huge", c_ind_huge, true },
};

static void run_chain_case(struct vdev *d, unsigned int i)
{
	uint64_t want = F_VERSION_1 | (chain_cases[i].needs_indirect ? F_INDIRECT : 0);
	unsigned int q = d->mainq;
	uint64_t pa;

	if (chain_cases[i].needs_indirect && !(offered_features(d) & F_INDIRECT)) {
		verdict(chain_cases[i].name, d, true, "skipped: INDIRECT_DESC not offered");
		return;
	}
	if (start(d, want)) {
		verdict(chain_cases[i].name, d, false, "start failed, status %#x",
			rd(d, R_STATUS));
		return;
	}
	memset(balloc(64, &pa), 0x5a, 64);
	chain_cases[i].fn(d, q, pa);
	kick(d, q);
	expect_rejected(chain_cases[i].name, d, q, chain_cases[i].fn == c_big_chain);
}

/* ---- transport cases (DESIGN rules 2 and 7) -------------------------------------- */

/* Queue q set up with the given (bad) values; DRIVER_OK must end in
 * NEEDS_RESET and no queue may run. */
static void bad_queue(struct vdev *d, const char *cs, uint32_t num, uint64_t desc,
		      uint64_t avail, uint64_t used)
{
	unsigned int q = d->mainq;
	uint32_t st;

	if (begin(d, F_VERSION_1)) {
		verdict(cs, d, false, "FEATURES_OK refused");
		return;
	}
	for (unsigned int i = 0; i < d->nq; i++) {
		attach_queue(d, i);
		if (i != q)
			program_queue(d, i, d->vq[i].size, d->vq[i].desc_pa,
				      d->vq[i].avail_pa, d->vq[i].used_pa);
	}
	program_queue(d, q, num, desc ? desc : d->vq[q].desc_pa,
		      avail ? avail : d->vq[q].avail_pa, used ? used : d->vq[q].used_pa);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	st = rd(d, R_STATUS);
	if (!(st & S_NEEDS_RESET)) {
		verdict(cs, d, false, "status %#x after DRIVER_OK, no NEEDS_RESET", st);
		return;
	}
	/* A kick now must not reach a queue that does not exist. */
	kick(d, q);
	after(cs, d, "NEEDS_RESET at DRIVER_OK");
}

static void t_bad_queues(struct vdev *d)
{
	uint16_t max;
	uint64_t slot = dma_pa + d->mainq * QSLOT;

	wr(d, R_QSEL, d->mainq);
	max = (uint16_t)rd(d, R_QNUM_MAX);
	bad_queue(d, "queue-size-zero", 0, 0, 0, 0);
	bad_queue(d, "queue-size-not-power-of-2", 3, 0, 0, 0);
	bad_queue(d, "queue-size-above-max", max * 2u, 0, 0, 0);
	bad_queue(d, "queue-size-65536", 0x10000, 0, 0, 0);
	bad_queue(d, "ring-desc-misaligned", 8, slot + 8, 0, 0);
	bad_queue(d, "ring-avail-misaligned", 8, 0, slot + 4097, 0);
	bad_queue(d, "ring-used-misaligned", 8, 0, 0, slot + 8194);
	bad_queue(d, "ring-in-mmio", 8, d->base, 0, 0);
	bad_queue(d, "ring-above-ram", 8, 0, 0, 0x200000000ull);
	bad_queue(d, "ring-straddles-ram-end", 8, 0, 0, ram_end - 32);
	bad_queue(d, "ring-wraps-64bit", 8, 0xfffffffffffff000ull, 0, 0);
}

/* Queue registers written after DRIVER_OK are ignored: the queue keeps
 * working where it was. */
static void t_queue_after_driver_ok(struct vdev *d)
{
	const char *cs = "queue-regs-after-driver-ok";
	char why[160];

	if (start(d, F_VERSION_1)) {
		verdict(cs, d, false, "start failed");
		return;
	}
	for (unsigned int q = 0; q < d->nq + 2; q++) {
		wr(d, R_QSEL, q);
		wr(d, R_QNUM, 3);
		wr(d, R_QDESC, (uint32_t)d->base);
		wr(d, R_QDESC + 4, 0);
		wr(d, R_QAVAIL, 1);
		wr(d, R_QUSED + 4, 0xffffffff);
		wr(d, R_QREADY, 0);
	}
	wr(d, R_QSEL, d->mainq);
	if (rd(d, R_QREADY) != 1) {
		verdict(cs, d, false, "QueueReady reads %u", rd(d, R_QREADY));
		return;
	}
	if (good_request(d, why, sizeof(why))) {
		verdict(cs, d, false, "%s", why);
		return;
	}
	after(cs, d, "ignored, queue still served");
}

static void t_features(struct vdev *d)
{
	uint32_t st;

	/* Everything, offered or not. */
	reset(d);
	wr(d, R_STATUS, S_ACK);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	set_features(d, ~0ull);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	st = rd(d, R_STATUS);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if ((st | rd(d, R_STATUS)) & (S_FEATURES_OK | S_DRIVER_OK))
		verdict("features-not-offered", d, false, "status %#x accepted", st);
	else
		after("features-not-offered", d, "FEATURES_OK refused");

	/* No VERSION_1: a legacy driver. */
	reset(d);
	wr(d, R_STATUS, S_ACK);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	set_features(d, offered_features(d) & ~F_VERSION_1);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	st = rd(d, R_STATUS);
	if (st & S_FEATURES_OK)
		verdict("features-without-version-1", d, false, "status %#x", st);
	else
		after("features-without-version-1", d, "FEATURES_OK refused");

	/* Features written after FEATURES_OK do not count. */
	if (begin(d, F_VERSION_1)) {
		verdict("features-after-features-ok", d, false, "FEATURES_OK refused");
		return;
	}
	set_features(d, ~0ull);
	after("features-after-features-ok", d, "ignored");
}

static void t_status(struct vdev *d)
{
	const uint32_t bad[] = { S_DRIVER_OK, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK,
				 0xff, S_NEEDS_RESET, S_ACK | S_DRIVER_OK };
	bool ok = true;
	uint32_t st = 0;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset(d);
		wr(d, R_STATUS, bad[i]);
		st = rd(d, R_STATUS);
		if (st & (S_DRIVER_OK | S_FEATURES_OK | S_NEEDS_RESET))
			ok = false;
		/* Kicks while not live. */
		wr(d, R_QNOTIFY, d->mainq);
	}
	if (!ok)
		verdict("status-skips-steps", d, false, "status reads %#x", st);
	else
		after("status-skips-steps", d, "refused");
}

static void t_readonly_regs(struct vdev *d)
{
	const unsigned int ro[] = { R_MAGIC, R_VERSION, R_DEVICE_ID, R_VENDOR, R_DEV_FEAT,
				    R_QNUM_MAX, R_ISR, R_CFG_GEN, R_SHM_LEN };
	uint32_t before[sizeof(ro) / sizeof(ro[0])];
	unsigned int i;

	if (start(d, F_VERSION_1)) {
		verdict("read-only-register-writes", d, false, "start failed");
		return;
	}
	wr(d, R_QSEL, d->mainq);
	wr(d, R_DEV_FEAT_SEL, 0);
	for (i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		before[i] = rd(d, ro[i]);
	for (i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		wr(d, ro[i], 0x5a5a5a5a);
	for (i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		if (ro[i] != R_ISR && rd(d, ro[i]) != before[i]) {
			verdict("read-only-register-writes", d, false,
				"register %#x: %#x -> %#x", ro[i], before[i], rd(d, ro[i]));
			return;
		}
	}
	after("read-only-register-writes", d, "ignored");
}

/* Write-only, legacy and unknown registers read as 0; writes to them are
 * ignored (DESIGN rule 7). */
static void t_unknown_regs(struct vdev *d)
{
	const unsigned int regs[] = { 0x014, 0x018, 0x01c, 0x020, 0x024, 0x028, 0x02c, 0x030,
				      0x038, 0x03c, 0x040, 0x048, 0x04c, 0x050, 0x054,
				      0x058, 0x05c, 0x064, 0x068, 0x06c, 0x074, 0x078,
				      0x07c, 0x088, 0x08c, 0x098, 0x09c, 0x0a8, 0x0c0,
				      0x0c4, 0x0d0, 0x0e0, 0x0f0, 0x0f8 };
	char why[160];

	if (start(d, F_VERSION_1)) {
		verdict("unknown-registers", d, false, "start failed");
		return;
	}
	for (unsigned int i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (rd(d, regs[i])) {
			verdict("unknown-registers", d, false, "register %#x reads %#x", regs[i],
				rd(d, regs[i]));
			return;
		}
	}
	for (unsigned int i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (regs[i] >= 0x038 && regs[i] != 0x050 && regs[i] != 0x064)
			wr(d, regs[i], 0xffffffff);
	}
	if (good_request(d, why, sizeof(why))) {
		verdict("unknown-registers", d, false, "after writes: %s", why);
		return;
	}
	after("unknown-registers", d, "read 0, writes ignored");
}

/* Config space at every width and offset, past its end too; control
 * registers at widths other than 4 (4.2.2.2 forbids them). */
static void t_config_widths(struct vdev *d)
{
	volatile uint8_t *r = d->regs;
	uint32_t st;
	char why[160];

	if (start(d, F_VERSION_1)) {
		verdict("config-widths", d, false, "start failed");
		return;
	}
	for (unsigned int off = 0x100; off < 0x1000; off += (off < 0x180 ? 1 : 61)) {
		(void)*(volatile uint8_t *)(r + off);
		(void)*(volatile uint16_t *)(r + off);
		(void)*(volatile uint32_t *)(r + off);
		(void)*(volatile uint64_t *)(r + off);
	}
	/* Far past any configuration: zeros. */
	if (*(volatile uint64_t *)(r + 0xff0) || *(volatile uint8_t *)(r + 0xfff) ||
	    *(volatile uint16_t *)(r + 0xffe) || *(volatile uint32_t *)(r + 0xffc)) {
		verdict("config-widths", d, false, "reads past the configuration are not 0");
		return;
	}
	/* Narrow and wide control accesses: reads give 0, writes are dropped. */
	if (*(volatile uint16_t *)(r + R_MAGIC) || *(volatile uint8_t *)(r + R_STATUS + 1)) {
		verdict("config-widths", d, false, "narrow register reads are not 0");
		return;
	}
	st = rd(d, R_STATUS);
	*(volatile uint8_t *)(r + R_STATUS) = 0;
	*(volatile uint16_t *)(r + R_STATUS) = 0;
	*(volatile uint64_t *)(r + R_QNUM) = 0;
	*(volatile uint16_t *)(r + R_QNOTIFY) = (uint16_t)d->mainq;
	if (rd(d, R_STATUS) != st) {
		verdict("config-widths", d, false, "a narrow write changed status to %#x",
			rd(d, R_STATUS));
		return;
	}
	if (good_request(d, why, sizeof(why))) {
		verdict("config-widths", d, false, "after reads: %s", why);
		return;
	}
	/* Writes: zeros at every width over the first 64 bytes and past the
	 * end. (No device here keeps state a write of 0 could break for good;
	 * the reset below is the check.) */
	for (unsigned int off = 0x100; off < 0x140; off++) {
		*(volatile uint8_t *)(r + off) = 0;
		*(volatile uint16_t *)(r + off) = 0;
		*(volatile uint32_t *)(r + off) = 0;
		*(volatile uint64_t *)(r + off) = 0;
	}
	*(volatile uint64_t *)(r + 0xff8) = ~0ull;
	after("config-widths", d, "odd widths and offsets answered, past the end 0");
}

/* Reset while the device holds requests: afterwards it must not touch the
 * used ring (2.4.1), and must come back. */
static void t_reset_during_io(struct vdev *d)
{
	const char *cs = "reset-during-io";
	unsigned int q = d->mainq, n = 0;
	uint16_t idx;

	if (start(d, F_VERSION_1)) {
		verdict(cs, d, false, "start failed");
		return;
	}
	for (unsigned int i = 0; i + 3 <= d->vq[q].size && i < 90; i += 3)
		make_avail(d, q, build_good(d, &n));
	kick(d, q);
	reset(d);
	idx = __atomic_load_n(&d->vq[q].used->idx, __ATOMIC_ACQUIRE);
	sleep_ms(500);
	if (__atomic_load_n(&d->vq[q].used->idx, __ATOMIC_ACQUIRE) != idx) {
		verdict(cs, d, false, "used index moved after reset: %u -> %u", idx,
			d->vq[q].used->idx);
		return;
	}
	after(cs, d, "no used entries after reset");
}

/* A million kicks, or as many as fit in 8 s: each is a VM exit, about 1 us
 * on hardware KVM and 200 us in the emulated rig. */
static unsigned long flood_kicks = 1000000;
#define FLOOD_SECONDS 8.0

/* A storm of notifications, most of them for nothing, some for queues that
 * do not exist: the device must keep serving. */
static void t_notify_flood(struct vdev *d)
{
	const char *cs = "notify-flood";
	double t0 = now_s();
	unsigned long i;
	char why[160];

	if (start(d, F_VERSION_1)) {
		verdict(cs, d, false, "start failed");
		return;
	}
	for (i = 0; i < flood_kicks; i++) {
		wr(d, R_QNOTIFY, (i & 1023) == 0 ? 0xffffu - (uint32_t)(i & 7) : d->mainq);
		if ((i & 1023) == 0 && now_s() - t0 > FLOOD_SECONDS)
			break;
	}
	if (good_request(d, why, sizeof(why))) {
		verdict(cs, d, false, "%s", why);
		return;
	}
	snprintf(why, sizeof(why), "%lu kicks in %.1f s, then served", i, now_s() - t0);
	after(cs, d, why);
}

static const struct {
	const char *name;
	void (*fn)(struct vdev *d);
} transport_cases[] = {
	{ "bad-queues", t_bad_queues },
	{ "queue-regs-after-driver-ok", t_queue_after_driver_ok },
	{ "features", t_features },
	{ "status", t_status },
	{ "read-only-registers", t_readonly_regs },
	{ "unknown-registers", t_unknown_regs },
	{ "config-widths", t_config_widths },
	{ "reset-during-io", t_reset_during_io },
	{ "notify-flood", t_notify_flood },
};

static bool wanted(int argc, char **argv, const char *name)
{
	if (argc == 0)
		return true;
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static int attack_device(const char *type, int argc, char **argv)
{
	static char cmdline[4096];
	struct vdev d = { 0 };
	char why[160];

	if (read_file("/proc/cmdline", cmdline, sizeof(cmdline)))
		return die("/proc/cmdline");
	if (find_dma(cmdline)) {
		say("hostile: no memmap=SIZE$ADDR (1M at least) on the kernel command line");
		return 100;
	}
	if (find_ram_end())
		return die("/proc/iomem");
	dma = map_phys(dma_pa, dma_size);
	if (!dma)
		return die("mmap of the reserved memory through /dev/mem");
	if (find_device(cmdline, type, &d))
		return die(type);
	if (!strcmp(type, "console"))
		log_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (log_fd < 0)
		return die("/dev/kmsg");
	say("hostile: %s is virtio-mmio.%u at %#" PRIx64 "; reserved RAM %#" PRIx64
	    "+%#" PRIx64 ", RAM ends at %#" PRIx64,
	    d.name, d.pidx, d.base, dma_pa, dma_size, ram_end);
	if (unbind(&d))
		return die("unbind");
	switch (d.id) {
	case ID_BLK: d.nq = 1, d.mainq = 0; break;
	case ID_RNG: d.nq = 1, d.mainq = 0; break;
	case ID_CONSOLE: d.nq = 2, d.mainq = 1; break; /* port 0: rx, tx */
	case ID_NET: d.nq = 2, d.mainq = 1; break;     /* rx, tx */
	case ID_VSOCK: d.nq = 3, d.mainq = 1; break;   /* rx, tx, event */
	case ID_FS: d.nq = 2, d.mainq = 1; break;      /* hiprio, requests */
	}
	if (d.id == ID_VSOCK)
		d.guest_cid = *(volatile uint64_t *)(d.regs + R_CONFIG);

	/* First of all: the device works when driven by the book. */
	if (start(&d, F_VERSION_1) || good_request(&d, why, sizeof(why))) {
		verdict("baseline", &d, false, "%s (status %#x)", why, rd(&d, R_STATUS));
		return failures;
	}
	verdict("baseline", &d, true, "a well-formed request is served");

	for (unsigned int i = 0; i < sizeof(chain_cases) / sizeof(chain_cases[0]); i++)
		if (wanted(argc, argv, chain_cases[i].name))
			run_chain_case(&d, i);
	for (unsigned int i = 0; i < sizeof(transport_cases) / sizeof(transport_cases[0]); i++)
		if (wanted(argc, argv, transport_cases[i].name))
			transport_cases[i].fn(&d);
	reset(&d);
	say("hostile: %s: %d failed", d.name, failures);
	return failures > 100 ? 100 : failures;
}

/* ---- I/O ports: the serial ports and guest-init's control ports ------------- */

#define COM1 0x3f8
#define COM2 0x2f8
#define CTL 0x600

static int attack_ports(void)
{
	static const uint8_t junk[] = { 0x00, 0xff, 0x80, 0x7f, 0x1b, 0xa5, 0x5a, 0x03 };
	unsigned int v;

	if (ioperm(0, 0x400, 1) || iopl(3))
		return die("ioperm");
	/* COM1 is the kernel's console (hidden unless --console): garbage in
	 * every register at every width, and accesses that run past the end of
	 * its 8 ports. */
	for (unsigned int rep = 0; rep < 64; rep++)
		for (unsigned int r = 0; r < 8; r++)
			outb(junk[(r + rep) % 8], COM1 + r);
	for (unsigned int r = 0; r < 8; r++) {
		outw(0xa5a5, COM1 + r);
		outl(0xdeadbeef, COM1 + r);
		(void)inb(COM1 + r), (void)inw(COM1 + r), (void)inl(COM1 + r);
	}
	/* COM2: reads at every width, writes only to the scratch register and
	 * past the end (its data register is a host stream). */
	for (unsigned int r = 0; r < 8; r++)
		(void)inb(COM2 + r), (void)inw(COM2 + r), (void)inl(COM2 + r);
	outb(0x42, COM2 + 7);
	outw(0x4242, COM2 + 7);
	outl(0x42424242, COM2 + 6);
	verdict("serial-garbage", NULL, true, "COM1 junk at widths 1/2/4, COM2 reads");

	/* The control ports take a 4-byte exit status and 1-byte marks;
	 * anything else is ignored, and they read as 0. */
	outb(7, CTL);      /* a 1-byte status: must not end the VM */
	outw(7, CTL);
	outw(3, CTL + 1);
	outl(0xffffffff, CTL + 1);
	outb(0, CTL + 1);  /* no such mark */
	outb(200, CTL + 1);
	outb(255, CTL + 1);
	outb(1, CTL + 2), outb(1, CTL + 3);
	outl(7, CTL + 2); /* runs past the range */
	outl(7, CTL + 3);
	v = inb(CTL) | inw(CTL + 1) | inl(CTL) | inl(CTL + 3);
	verdict("control-port-garbage", NULL, v == 0, "reads gave %#x, VM still running", v);

	/* Unknown ports read 0 (DESIGN rule 7); writes vanish. */
	v = inl(0x510) | inb(0x3e8) | inw(0x604);
	outl(0xffffffff, 0x510);
	outb(0xff, 0x3e8);
	verdict("unknown-ports", NULL, v == 0, "reads gave %#x", v);
	if (!root_disk_ok())
		verdict("root-disk-after-ports", NULL, false, "the root disk does not read");
	return failures;
}

/* A status above 255 on the exit port: the VM stops as a broken init. */
static int exit_garbage(void)
{
	if (ioperm(CTL, 4, 1))
		return die("ioperm");
	sync();
	outl(0x12345, CTL);
	sleep(10);
	say("hostile: still running after a bad exit status");
	return 99;
}

/* As much output as the guest can make: the host must keep up or push
 * back, never buffer without bound. Every line is the same 64 bytes, so
 * the host can check the count and the content. */
static int flood_console(unsigned long long bytes)
{
	static char block[65536];
	static const char line[] = "hostile-flood-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL\n";

	for (size_t i = 0; i < sizeof(block); i += 64)
		memcpy(block + i, line, 64);
	_Static_assert(sizeof(line) == 65, "64-byte lines");
	if (bytes % 64)
		return 2;
	while (bytes) {
		size_t n = bytes < sizeof(block) ? (size_t)bytes : sizeof(block);
		ssize_t w = write(STDOUT_FILENO, block, n);

		if (w <= 0)
			return die("write");
		bytes -= (unsigned long long)w;
		/* Keep the pattern aligned after a short write. */
		if (w % 64) {
			say("hostile: short write of %zd", w);
			return 3;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *kicks = getenv("HOSTILE_KICKS");

	if (argc < 2) {
		fprintf(stderr, "usage: hostile blk|console|rng|net|vsock|fs [CASE...] | "
				"ports | exit-garbage | flood-console BYTES\n");
		return 2;
	}
	if (kicks)
		flood_kicks = strtoul(kicks, NULL, 0);
	if (!strcmp(argv[1], "ports"))
		return attack_ports();
	if (!strcmp(argv[1], "exit-garbage"))
		return exit_garbage();
	if (!strcmp(argv[1], "flood-console") && argc == 3)
		return flood_console(strtoull(argv[2], NULL, 0));
	return attack_device(argv[1], argc - 2, argv + 2);
}
