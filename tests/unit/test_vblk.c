/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk against a temporary image file, driven by the fake guest
 * driver: good reads, writes, flush, GET_ID, discard and write zeroes
 * (bytes checked on the host file), then every hostile request the design
 * lists, each answered with the right status (or length 0 when the chain
 * is malformed) and followed by a good read. The whole list runs once per
 * aio engine (threads, then io_uring when the kernel allows it).
 *
 * The event loop is not started: the test dispatches its handlers itself
 * (pump), so each step is deterministic. One test runs the real loop
 * thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aio.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "evloop.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM_SIZE (4 * 1024 * 1024)
#define RINGS 0x10000ull
#define QSIZE 128u
#define HDR 0x100000ull     /* request headers, 16 bytes apart */
#define SEGS 0x110000ull    /* discard / write zeroes segments */
#define STATUS 0x120000ull  /* status bytes, one per request slot */
#define DATA 0x200000ull    /* data buffers */
#define OUTSIDE 0x40000000ull /* not RAM */

#define IMG_SECTORS 2048u   /* 1 MiB test image */
#define SECT 512u

#define F(b) VIRTIO_BIT(b)
#define FEATURES_RW (F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_SEG_MAX) | \
		     F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_BLK_F_FLUSH) |   \
		     F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES))
#define FEATURES_RO (F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_SEG_MAX) | \
		     F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_BLK_F_FLUSH) |   \
		     F(VIRTIO_BLK_F_RO))

#define ST_NONE 0xeeu /* status byte before the device answers */

static struct guest_mem mem;
static struct evloop loop;
static struct vblk *blk;
static struct vfd d;
static char path[64];
static int img = -1;        /* the test's own fd on the image */
static uint16_t used_expected;
static unsigned int slot;   /* rotates header/status slots */
static const char *engine_env;

/* ---- helpers -------------------------------------------------------------- */

static uint8_t pattern(uint64_t byte)
{
	return (uint8_t)(byte * 7 + byte / SECT + 1);
}

static uint8_t *host(uint64_t gpa, uint64_t len)
{
	uint8_t *p = gm_ptr(&mem, gpa, len);

	assert_non_null(p);
	return p;
}

static void make_image(const char *dir, uint64_t size, bool fill)
{
	snprintf(path, sizeof(path), "%s/vblk-test.XXXXXX", dir);
	img = mkstemp(path);
	assert_true(img >= 0);
	assert_int_equal(ftruncate(img, (off_t)size), 0);
	if (fill) {
		uint8_t *buf = malloc(size);

		assert_non_null(buf);
		for (uint64_t i = 0; i < size; i++)
			buf[i] = pattern(i);
		assert_int_equal(pwrite(img, buf, size, 0), (ssize_t)size);
		free(buf);
	}
}

static void open_dev(bool ro, uint64_t features)
{
	char why[128] = "";
	int ret = vblk_create(&blk, &mem, &loop, path, ro, why, sizeof(why));

	if (ret)
		fail_msg("vblk_create: %s", why);
	assert_string_equal(vblk_aio_name(blk), engine_env);
	vfd_init(&d, vblk_dev(blk), &mem);
	used_expected = 0;
	if (features)
		assert_true(vfd_bringup(&d, features, 1, QSIZE, RINGS));
}

/* Reset the device and bring it up again with `features`. */
static void rebringup(uint64_t features, uint32_t qsize)
{
	assert_true(vfd_bringup(&d, features, 1, qsize, RINGS));
	used_expected = 0;
}

static void close_dev(void)
{
	vblk_destroy(blk ? vblk_dev(blk) : NULL);
	blk = NULL;
}

static int setup_common(const char *dir, uint64_t size, bool fill)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };

	assert_int_equal(gm_create(&mem, &r, 1), 0);
	assert_int_equal(evloop_init(&loop), 0);
	make_image(dir, size, fill);
	slot = 0;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	setup_common("/tmp", IMG_SECTORS * SECT, true);
	open_dev(false, FEATURES_RW);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close_dev();
	evloop_destroy(&loop);
	gm_destroy(&mem);
	if (img >= 0)
		close(img);
	img = -1;
	unlink(path);
	return 0;
}

/* Run the loop's handlers on this thread, for at most `ms`, or until the
 * used index reaches `target` (target < 0: the whole time). Only handlers
 * on `only_fd` when it is >= 0. */
static void dispatch(int ms, int target, int only_fd)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct epoll_event evs[8];
		int n;

		if (target >= 0 && vfd_used_idx(&d, 0) == (uint16_t)target)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return;
		n = epoll_wait(loop.epfd, evs, 8, 10);
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;

			if (h && (only_fd < 0 || h->fd == only_fd))
				h->cb(h, evs[i].events);
		}
	}
}

/* Wait for the next used element; check its id and length. */
static void expect_used(uint16_t head, uint32_t len)
{
	uint32_t id, l;

	used_expected++;
	dispatch(10000, used_expected, -1);
	assert_int_equal(vfd_used_idx(&d, 0), used_expected);
	assert_true(vfd_used(&d, 0, &id, &l));
	assert_int_equal(id, head);
	assert_int_equal(l, len);
}

static uint64_t hdr_gpa(void)
{
	return HDR + 16ull * (slot % 256);
}

static uint64_t status_gpa(void)
{
	return STATUS + (slot % 256);
}

/* Write a request header and reset the status byte of the current slot. */
static void put_hdr(uint32_t type, uint64_t sector)
{
	uint8_t *h = host(hdr_gpa(), 16);

	put_le32(h, type);
	put_le32(h + 4, 0);
	put_le64(h + 8, sector);
	*host(status_gpa(), 1) = ST_NONE;
}

/* Post header, the given data buffers, status; kick. Returns the head. */
static uint16_t post(uint32_t type, uint64_t sector, const struct vfd_buf *data,
		     unsigned int n)
{
	struct vfd_buf bufs[VIRTQ_MAX_SEGS];
	uint16_t head;

	assert_true(n + 2 <= ARRAY_SIZE(bufs));
	put_hdr(type, sector);
	bufs[0] = (struct vfd_buf){ hdr_gpa(), 16, false };
	for (unsigned int i = 0; i < n; i++)
		bufs[1 + i] = data[i];
	bufs[n + 1] = (struct vfd_buf){ status_gpa(), 1, true };
	head = vfd_post(&d, 0, bufs, n + 2);
	vfd_kick(&d, 0);
	return head;
}

static uint8_t status_byte(void)
{
	return *host(status_gpa(), 1);
}

/* One request from post() to its completion: check length and status. */
static void roundtrip(uint32_t type, uint64_t sector, const struct vfd_buf *data,
		      unsigned int n, uint32_t len, uint8_t status)
{
	uint16_t head = post(type, sector, data, n);

	expect_used(head, len);
	assert_int_equal(status_byte(), status);
	slot++;
}

static void host_read(uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(img, buf, len, (off_t)off), (ssize_t)len);
}

static void expect_host_pattern(uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	host_read(off, buf, len);
	for (uint64_t i = 0; i < len; i++) {
		if (buf[i] != pattern(off + i))
			fail_msg("host byte %llu is %#x, not the pattern %#x",
				 (unsigned long long)(off + i), buf[i], pattern(off + i));
	}
	free(buf);
}

static void expect_host_zero(uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	host_read(off, buf, len);
	for (uint64_t i = 0; i < len; i++) {
		if (buf[i])
			fail_msg("host byte %llu is %#x, not zero",
				 (unsigned long long)(off + i), buf[i]);
	}
	free(buf);
}

/* The device still works: read 2 sectors at 17 and compare. */
static void good_read(void)
{
	const struct vfd_buf data = { DATA + 0x80000, 2 * SECT, true };

	memset(host(data.addr, data.len), 0, data.len);
	roundtrip(VIRTIO_BLK_T_IN, 17, &data, 1, 2 * SECT + 1, VIRTIO_BLK_S_OK);
	for (uint64_t i = 0; i < 2 * SECT; i++)
		assert_int_equal(host(data.addr, data.len)[i], pattern(17 * SECT + i));
}

static void put_seg(unsigned int i, uint64_t sector, uint32_t n, uint32_t flags)
{
	uint8_t *s = host(SEGS + 16ull * i, 16);

	put_le64(s, sector);
	put_le32(s + 8, n);
	put_le32(s + 12, flags);
}

static uint64_t cfg_read(uint32_t off, unsigned int size)
{
	uint8_t b[8] = { 0 };

	vmmio_read(vblk_dev(blk), 0x100 + off, b, size);
	return get_le64(b);
}

/* ---- good requests -------------------------------------------------------- */

static void config_and_features(void **state)
{
	uint64_t offered;

	(void)state;
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	assert_true((offered & FEATURES_RW) == FEATURES_RW);
	assert_false(offered & F(VIRTIO_BLK_F_RO));
	assert_false(offered & F(VIRTIO_BLK_F_MQ));
	assert_int_equal(vblk_capacity(blk), IMG_SECTORS);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config, capacity), 8),
			 IMG_SECTORS);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config, seg_max), 4), 254);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config, blk_size), 4), 512);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config, max_discard_seg), 4),
			 VBLK_MAX_DISCARD_SEG);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config,
					   max_discard_sectors), 4),
			 VBLK_MAX_DISCARD_SECTORS);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config,
					   discard_sector_alignment), 4),
			 VBLK_DISCARD_ALIGNMENT);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config,
					   max_write_zeroes_sectors), 4),
			 VBLK_MAX_WRITE_ZEROES_SECTORS);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config,
					   max_write_zeroes_seg), 4),
			 VBLK_MAX_WRITE_ZEROES_SEG);
	assert_int_equal(cfg_read(offsetof(struct virtio_blk_config,
					   write_zeroes_may_unmap), 1), 1);
	/* Writes to the configuration are ignored. */
	{
		uint8_t zero[8] = { 0 };

		vmmio_write(vblk_dev(blk), 0x100, zero, 8);
		assert_int_equal(cfg_read(0, 8), IMG_SECTORS);
	}
}

static void read_sectors(void **state)
{
	/* 8 sectors in three uneven pieces. */
	const struct vfd_buf data[] = {
		{ DATA, 1000, true },
		{ DATA + 0x2000, 2000, true },
		{ DATA + 0x4000, 1096, true },
	};
	uint8_t got[8 * SECT];

	(void)state;
	for (unsigned int i = 0; i < ARRAY_SIZE(data); i++)
		memset(host(data[i].addr, data[i].len), 0, data[i].len);
	roundtrip(VIRTIO_BLK_T_IN, 5, data, 3, 8 * SECT + 1, VIRTIO_BLK_S_OK);
	memcpy(got, host(data[0].addr, 1000), 1000);
	memcpy(got + 1000, host(data[1].addr, 2000), 2000);
	memcpy(got + 3000, host(data[2].addr, 1096), 1096);
	for (unsigned int i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], pattern(5 * SECT + i));

	/* The status byte may share the last descriptor with the data. */
	{
		struct vfd_buf bufs[2] = { { HDR + 0x800, 16, false },
					   { DATA, SECT + 1, true } };
		uint8_t *h = host(HDR + 0x800, 16);
		uint16_t head;

		put_le32(h, VIRTIO_BLK_T_IN);
		put_le32(h + 4, 0);
		put_le64(h + 8, IMG_SECTORS - 1);
		memset(host(DATA, SECT + 1), 0xee, SECT + 1);
		head = vfd_post(&d, 0, bufs, 2);
		vfd_kick(&d, 0);
		expect_used(head, SECT + 1);
		assert_int_equal(host(DATA, SECT + 1)[SECT], VIRTIO_BLK_S_OK);
		for (unsigned int i = 0; i < SECT; i++)
			assert_int_equal(host(DATA, SECT)[i],
					 pattern((IMG_SECTORS - 1) * SECT + i));
	}
	/* A read of nothing succeeds. */
	roundtrip(VIRTIO_BLK_T_IN, 3, NULL, 0, 1, VIRTIO_BLK_S_OK);
}

static void write_and_flush(void **state)
{
	const struct vfd_buf data[] = { { DATA, 3 * SECT, false },
					{ DATA + 0x10000, SECT, false } };
	uint8_t buf[4 * SECT];

	(void)state;
	for (unsigned int i = 0; i < 3 * SECT; i++)
		host(DATA, 3 * SECT)[i] = (uint8_t)(0xa0 ^ i);
	memset(host(DATA + 0x10000, SECT), 0x5c, SECT);
	roundtrip(VIRTIO_BLK_T_OUT, 100, data, 2, 1, VIRTIO_BLK_S_OK);
	roundtrip(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1, VIRTIO_BLK_S_OK);
	host_read(100 * SECT, buf, sizeof(buf));
	for (unsigned int i = 0; i < 3 * SECT; i++)
		assert_int_equal(buf[i], (uint8_t)(0xa0 ^ i));
	for (unsigned int i = 3 * SECT; i < 4 * SECT; i++)
		assert_int_equal(buf[i], 0x5c);
	expect_host_pattern(99 * SECT, SECT);
	expect_host_pattern(104 * SECT, SECT);

	/* Header and data in one descriptor: framing is free (2.6.4). */
	{
		struct vfd_buf bufs[2] = { { HDR + 0x800, 16 + SECT, false },
					   { status_gpa(), 1, true } };
		uint8_t *h = host(HDR + 0x800, 16 + SECT);
		uint16_t head;

		put_le32(h, VIRTIO_BLK_T_OUT);
		put_le32(h + 4, 0);
		put_le64(h + 8, IMG_SECTORS - 1);
		memset(h + 16, 0x77, SECT);
		*host(status_gpa(), 1) = ST_NONE;
		head = vfd_post(&d, 0, bufs, 2);
		vfd_kick(&d, 0);
		expect_used(head, 1);
		assert_int_equal(status_byte(), VIRTIO_BLK_S_OK);
		host_read((IMG_SECTORS - 1) * SECT, buf, SECT);
		for (unsigned int i = 0; i < SECT; i++)
			assert_int_equal(buf[i], 0x77);
		slot++;
	}
	good_read();
}

/* Without FLUSH negotiated, writes are made durable before completing
 * (RWF_DSYNC); from the guest's side they simply work. */
static void write_without_flush_feature(void **state)
{
	const struct vfd_buf data = { DATA, SECT, false };
	uint8_t buf[SECT];

	(void)state;
	rebringup(FEATURES_RW & ~F(VIRTIO_BLK_F_FLUSH), QSIZE);
	memset(host(DATA, SECT), 0x42, SECT);
	roundtrip(VIRTIO_BLK_T_OUT, 7, &data, 1, 1, VIRTIO_BLK_S_OK);
	host_read(7 * SECT, buf, SECT);
	for (unsigned int i = 0; i < SECT; i++)
		assert_int_equal(buf[i], 0x42);
}

static void get_id(void **state)
{
	const struct vfd_buf data = { DATA, VBLK_ID_BYTES, true };
	const char *base = strrchr(path, '/') + 1;
	char want[VBLK_ID_BYTES] = { 0 };

	(void)state;
	memcpy(want, base, strnlen(base, sizeof(want)));
	memset(host(DATA, VBLK_ID_BYTES), 0xee, VBLK_ID_BYTES);
	roundtrip(VIRTIO_BLK_T_GET_ID, 0, &data, 1, VBLK_ID_BYTES + 1, VIRTIO_BLK_S_OK);
	assert_memory_equal(host(DATA, VBLK_ID_BYTES), want, VBLK_ID_BYTES);
	good_read();
}

static void discard(void **state)
{
	const struct vfd_buf segs = { SEGS, 2 * 16, false };

	(void)state;
	put_seg(0, 8, 8, 0);
	put_seg(1, 64, 16, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &segs, 1, 1, VIRTIO_BLK_S_OK);
	/* ext4 and tmpfs punch holes: the ranges read back as zeroes. */
	expect_host_zero(8 * SECT, 8 * SECT);
	expect_host_zero(64 * SECT, 16 * SECT);
	expect_host_pattern(0, 8 * SECT);
	expect_host_pattern(16 * SECT, 48 * SECT);
	expect_host_pattern(80 * SECT, 8 * SECT);

	/* An empty segment is fine; so are exactly max_discard_seg. */
	put_seg(0, 5, 0, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &segs, 1, 1, VIRTIO_BLK_S_OK);
	for (unsigned int i = 0; i < VBLK_MAX_DISCARD_SEG; i++)
		put_seg(i, 1000 + 2 * i, 1, 0);
	{
		const struct vfd_buf many = { SEGS, VBLK_MAX_DISCARD_SEG * 16, false };

		roundtrip(VIRTIO_BLK_T_DISCARD, 0, &many, 1, 1, VIRTIO_BLK_S_OK);
	}
	expect_host_zero(1000 * SECT, SECT);
	expect_host_pattern(1001 * SECT, SECT);
	good_read();
}

static void write_zeroes(void **state)
{
	const struct vfd_buf segs = { SEGS, 2 * 16, false };

	(void)state;
	put_seg(0, 200, 10, 0);
	put_seg(1, 300, 3, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &segs, 1, 1, VIRTIO_BLK_S_OK);
	expect_host_zero(200 * SECT, 10 * SECT);
	expect_host_zero(300 * SECT, 3 * SECT);
	expect_host_pattern(199 * SECT, SECT);
	expect_host_pattern(210 * SECT, SECT);
	expect_host_pattern(299 * SECT, SECT);
	expect_host_pattern(303 * SECT, SECT);
	good_read();
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write zeroes falls back to writing
 * zeroes, in pieces of at most 1 MiB. */
static void write_zeroes_fallback(void **state)
{
	const uint64_t sectors = 16384; /* 8 MiB */
	const struct vfd_buf segs = { SEGS, 2 * 16, false };
	struct stat st;

	(void)state;
	close_dev();
	close(img);
	unlink(path);
	img = -1;
	if (stat("/dev/shm", &st) < 0 || !S_ISDIR(st.st_mode))
		skip();
	make_image("/dev/shm", sectors * SECT, true);
	open_dev(false, FEATURES_RW);
	put_seg(0, 1, (uint32_t)sectors - 10, 0);
	put_seg(1, 0, 1, 0);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &segs, 1, 1, VIRTIO_BLK_S_OK);
	expect_host_zero(0, (sectors - 9) * SECT);
	expect_host_pattern((sectors - 9) * SECT, 9 * SECT);
	/* Again, now that the device knows ZERO_RANGE is refused; unmap
	 * punches a hole, which tmpfs can. */
	put_seg(0, sectors - 5, 2, 0);
	put_seg(1, sectors - 2, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &segs, 1, 1, VIRTIO_BLK_S_OK);
	expect_host_zero((sectors - 5) * SECT, 2 * SECT);
	expect_host_pattern((sectors - 3) * SECT, SECT);
	expect_host_zero((sectors - 2) * SECT, SECT);
	expect_host_pattern((sectors - 1) * SECT, SECT);
	/* good_read wants the pattern at sectors 17-18 back. */
	{
		uint8_t buf[2 * SECT];

		for (unsigned int i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(17 * SECT + i);
		assert_int_equal(pwrite(img, buf, sizeof(buf), 17 * SECT), sizeof(buf));
	}
	good_read();
}

/* Many requests at once (a queue of 256): all complete, each with its
 * own bytes. */
static void many_in_flight(void **state)
{
	uint16_t heads[85]; /* 3 descriptors each */
	uint32_t id, len;

	(void)state;
	rebringup(FEATURES_RW, VBLK_QUEUE_SIZE);
	for (unsigned int i = 0; i < ARRAY_SIZE(heads); i++) {
		const struct vfd_buf data = { DATA + i * 2ull * SECT, 2 * SECT, true };

		memset(host(data.addr, data.len), 0, data.len);
		slot = i;
		put_hdr(VIRTIO_BLK_T_IN, 3ull * i);
		heads[i] = vfd_post(&d, 0,
				    (struct vfd_buf[]){ { hdr_gpa(), 16, false }, data,
							{ status_gpa(), 1, true } },
				    3);
	}
	vfd_kick(&d, 0);
	used_expected += ARRAY_SIZE(heads);
	dispatch(10000, used_expected, -1);
	assert_int_equal(vfd_used_idx(&d, 0), used_expected);
	for (unsigned int i = 0; i < ARRAY_SIZE(heads); i++) {
		assert_true(vfd_used(&d, 0, &id, &len));
		assert_int_equal(len, 2 * SECT + 1);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(heads); i++) {
		assert_int_equal(*host(STATUS + i, 1), VIRTIO_BLK_S_OK);
		for (unsigned int b = 0; b < 2 * SECT; b += 97)
			assert_int_equal(host(DATA + i * 2ull * SECT, 2 * SECT)[b],
					 pattern(3ull * i * SECT + b));
	}
	slot = 200;
	good_read();
}

/* ---- hostile requests ----------------------------------------------------- */

static void past_capacity(void **state)
{
	const struct vfd_buf one = { DATA, SECT, true }, two = { DATA, 2 * SECT, true };
	const struct vfd_buf w = { DATA, SECT, false };

	(void)state;
	roundtrip(VIRTIO_BLK_T_IN, IMG_SECTORS, &one, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_IN, IMG_SECTORS - 1, &two, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_OUT, IMG_SECTORS, &w, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_IN, 1ull << 60, &one, 1, 1, VIRTIO_BLK_S_IOERR);
	expect_host_pattern((IMG_SECTORS - 1) * SECT, SECT);
	good_read();
}

static void sector_wraps(void **state)
{
	const struct vfd_buf two = { DATA, 2 * SECT, true };
	const struct vfd_buf w = { DATA, 2 * SECT, false };

	(void)state;
	/* sector + 2 wraps to 0 or 1: must not look "inside" the disk. */
	roundtrip(VIRTIO_BLK_T_IN, UINT64_MAX, &two, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_IN, UINT64_MAX - 1, &two, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_OUT, UINT64_MAX, &w, 1, 1, VIRTIO_BLK_S_IOERR);
	/* sector * 512 wraps to a small offset. */
	roundtrip(VIRTIO_BLK_T_OUT, 1ull << 55, &w, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_OUT, (1ull << 55) + 1, &w, 1, 1, VIRTIO_BLK_S_IOERR);
	expect_host_pattern(0, 4 * SECT);
	good_read();
}

static void length_not_sectors(void **state)
{
	const struct vfd_buf r = { DATA, 1000, true }, w = { DATA, SECT + 1, false };

	(void)state;
	roundtrip(VIRTIO_BLK_T_IN, 0, &r, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_OUT, 0, &w, 1, 1, VIRTIO_BLK_S_IOERR);
	expect_host_pattern(0, 2 * SECT);
	good_read();
}

static void header_writable(void **state)
{
	struct vfd_buf bufs[3];
	uint16_t head;

	(void)state;
	put_hdr(VIRTIO_BLK_T_IN, 0);
	bufs[0] = (struct vfd_buf){ hdr_gpa(), 16, true };
	bufs[1] = (struct vfd_buf){ DATA, SECT, true };
	bufs[2] = (struct vfd_buf){ status_gpa(), 1, true };
	head = vfd_post(&d, 0, bufs, 3);
	vfd_kick(&d, 0);
	expect_used(head, 0);
	assert_int_equal(status_byte(), ST_NONE);
	slot++;

	/* A header shorter than 16 bytes. */
	put_hdr(VIRTIO_BLK_T_IN, 0);
	bufs[0].write = false;
	bufs[0].len = 8;
	head = vfd_post(&d, 0, bufs, 3);
	vfd_kick(&d, 0);
	expect_used(head, 0);
	assert_int_equal(status_byte(), ST_NONE);
	slot++;
	good_read();
}

static void status_not_writable(void **state)
{
	struct vfd_buf bufs[3];
	uint16_t head;

	(void)state;
	put_hdr(VIRTIO_BLK_T_OUT, 0);
	memset(host(DATA, SECT), 0x11, SECT);
	bufs[0] = (struct vfd_buf){ hdr_gpa(), 16, false };
	bufs[1] = (struct vfd_buf){ DATA, SECT, false };
	bufs[2] = (struct vfd_buf){ status_gpa(), 1, false };
	head = vfd_post(&d, 0, bufs, 3);
	vfd_kick(&d, 0);
	expect_used(head, 0);
	assert_int_equal(status_byte(), ST_NONE);
	expect_host_pattern(0, 2 * SECT); /* nothing written */
	slot++;
	/* Header alone. */
	put_hdr(VIRTIO_BLK_T_FLUSH, 0);
	head = vfd_post(&d, 0, bufs, 1);
	vfd_kick(&d, 0);
	expect_used(head, 0);
	slot++;
	good_read();
}

static void data_wrong_direction(void **state)
{
	const struct vfd_buf r = { DATA, SECT, false }, w = { DATA, SECT, true };

	(void)state;
	memset(host(DATA, SECT), 0x33, SECT);
	/* A write whose data is device-writable, a read whose data is
	 * driver-readable. */
	roundtrip(VIRTIO_BLK_T_OUT, 0, &w, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_IN, 0, &r, 1, 1, VIRTIO_BLK_S_IOERR);
	for (unsigned int i = 0; i < SECT; i++)
		assert_int_equal(host(DATA, SECT)[i], 0x33);
	expect_host_pattern(0, SECT);
	good_read();
}

static void read_only_disk(void **state)
{
	const struct vfd_buf w = { DATA, SECT, false }, segs = { SEGS, 16, false };
	uint64_t offered;

	(void)state;
	close_dev();
	open_dev(true, FEATURES_RO);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(offered & F(VIRTIO_BLK_F_RO));
	assert_false(offered & F(VIRTIO_BLK_F_DISCARD));
	memset(host(DATA, SECT), 0x99, SECT);
	put_seg(0, 0, 1, 0);
	for (int round = 0; round < 2; round++) {
		roundtrip(VIRTIO_BLK_T_OUT, 0, &w, 1, 1, VIRTIO_BLK_S_IOERR);
		roundtrip(VIRTIO_BLK_T_DISCARD, 0, &segs, 1, 1, VIRTIO_BLK_S_IOERR);
		roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &segs, 1, 1, VIRTIO_BLK_S_IOERR);
		roundtrip(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1, VIRTIO_BLK_S_OK);
		good_read();
		expect_host_pattern(0, SECT);
		/* Again with a driver that did not accept RO. */
		rebringup(FEATURES_RO & ~F(VIRTIO_BLK_F_RO), QSIZE);
	}
}

static void too_many_segments(void **state)
{
	const struct vfd_buf many = { SEGS, (VBLK_MAX_DISCARD_SEG + 1) * 16, false };
	const struct vfd_buf odd = { SEGS, 24, false };

	(void)state;
	for (unsigned int i = 0; i <= VBLK_MAX_DISCARD_SEG; i++)
		put_seg(i, i, 1, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &many, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &many, 1, 1, VIRTIO_BLK_S_IOERR);
	/* Not a whole number of segments; no segments at all. */
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &odd, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, NULL, 0, 1, VIRTIO_BLK_S_IOERR);
	expect_host_pattern(0, 40 * SECT);
	good_read();
}

static void segment_checks(void **state)
{
	const struct vfd_buf one = { SEGS, 16, false }, two = { SEGS, 32, false };

	(void)state;
	/* 5.2.6.2: unmap on a discard, unknown flags: UNSUPP. */
	put_seg(0, 0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &one, 1, 1, VIRTIO_BLK_S_UNSUPP);
	put_seg(0, 0, 1, 2);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &one, 1, 1, VIRTIO_BLK_S_UNSUPP);
	/* A segment past capacity, or wrapping; one bad segment of two. */
	put_seg(0, IMG_SECTORS - 1, 2, 0);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &one, 1, 1, VIRTIO_BLK_S_IOERR);
	put_seg(0, UINT64_MAX, 2, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &one, 1, 1, VIRTIO_BLK_S_IOERR);
	put_seg(0, 0, 4, 0);
	put_seg(1, IMG_SECTORS, 1, 0);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &two, 1, 1, VIRTIO_BLK_S_IOERR);
	expect_host_pattern(0, 4 * SECT);
	expect_host_pattern((IMG_SECTORS - 1) * SECT, SECT);
	/* Segment data that is device-writable. */
	put_seg(0, 0, 1, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &(struct vfd_buf){ SEGS, 16, true }, 1, 1,
		  VIRTIO_BLK_S_IOERR);
	expect_host_pattern(0, SECT);
	good_read();
}

/* A sparse 4 TiB image: per-request sector limits of discard and write
 * zeroes (all segments together). */
static void segment_total_limit(void **state)
{
	const struct vfd_buf two = { SEGS, 32, false };

	(void)state;
	close_dev();
	close(img);
	unlink(path);
	make_image("/tmp", 4ull << 40, false);
	open_dev(false, FEATURES_RW);
	put_seg(0, 0, VBLK_MAX_DISCARD_SECTORS, 0);
	put_seg(1, 1ull << 30, 1, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &two, 1, 1, VIRTIO_BLK_S_IOERR);
	put_seg(0, 0, VBLK_MAX_DISCARD_SECTORS - 1, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &two, 1, 1, VIRTIO_BLK_S_OK);
	put_seg(0, 0, VBLK_MAX_WRITE_ZEROES_SECTORS, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &two, 1, 1, VIRTIO_BLK_S_IOERR);
	put_seg(0, 3ull << 30, VBLK_MAX_WRITE_ZEROES_SECTORS - 1,
		VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	roundtrip(VIRTIO_BLK_T_WRITE_ZEROES, 0, &two, 1, 1, VIRTIO_BLK_S_OK);
}

static void unknown_type(void **state)
{
	const struct vfd_buf w = { DATA, SECT, true };

	(void)state;
	roundtrip(99, 0, &w, 1, 1, VIRTIO_BLK_S_UNSUPP);
	roundtrip(VIRTIO_BLK_T_SECURE_ERASE, 0, NULL, 0, 1, VIRTIO_BLK_S_UNSUPP);
	roundtrip(0x80000000u | VIRTIO_BLK_T_OUT, 0, NULL, 0, 1, VIRTIO_BLK_S_UNSUPP);
	/* Discard without the feature negotiated. */
	rebringup(FEATURES_RW & ~F(VIRTIO_BLK_F_DISCARD), QSIZE);
	put_seg(0, 0, 1, 0);
	roundtrip(VIRTIO_BLK_T_DISCARD, 0, &(struct vfd_buf){ SEGS, 16, false }, 1, 1,
		  VIRTIO_BLK_S_UNSUPP);
	expect_host_pattern(0, SECT);
	good_read();
}

static void buffer_outside_ram(void **state)
{
	struct vfd_buf bufs[3];
	uint16_t head;

	(void)state;
	put_hdr(VIRTIO_BLK_T_IN, 0);
	bufs[0] = (struct vfd_buf){ hdr_gpa(), 16, false };
	bufs[1] = (struct vfd_buf){ OUTSIDE, SECT, true };
	bufs[2] = (struct vfd_buf){ status_gpa(), 1, true };
	head = vfd_post(&d, 0, bufs, 3);
	vfd_kick(&d, 0);
	expect_used(head, 0);
	assert_int_equal(status_byte(), ST_NONE);
	slot++;
	/* Straddling the end of RAM. */
	put_hdr(VIRTIO_BLK_T_IN, 0);
	bufs[1] = (struct vfd_buf){ RAM_SIZE - SECT / 2, SECT, true };
	head = vfd_post(&d, 0, bufs, 3);
	vfd_kick(&d, 0);
	expect_used(head, 0);
	slot++;
	good_read();
}

/* A file whose size is not whole sectors: the tail is not part of it. */
static void partial_last_sector(void **state)
{
	const struct vfd_buf one = { DATA, SECT, true };

	(void)state;
	close_dev();
	assert_int_equal(ftruncate(img, 3 * SECT + 100), 0);
	open_dev(false, FEATURES_RW);
	assert_int_equal(vblk_capacity(blk), 3);
	roundtrip(VIRTIO_BLK_T_IN, 3, &one, 1, 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_OUT, 3, &(struct vfd_buf){ DATA, SECT, false }, 1, 1,
		  VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_IN, 2, &one, 1, SECT + 1, VIRTIO_BLK_S_OK);
	expect_host_pattern(3 * SECT, 100);
}

/* The host truncates the image under a running device: a read past the
 * new end fails with IOERR (a short read is never passed off as data). */
static void image_shrinks(void **state)
{
	const struct vfd_buf two = { DATA, 2 * SECT, true };

	(void)state;
	assert_int_equal(ftruncate(img, 1000 * SECT + 100), 0);
	roundtrip(VIRTIO_BLK_T_IN, 1500, &two, 1, 2 * SECT + 1, VIRTIO_BLK_S_IOERR);
	roundtrip(VIRTIO_BLK_T_IN, 999, &two, 1, 2 * SECT + 1, VIRTIO_BLK_S_IOERR);
	good_read();
}

/* ---- reset, the real loop, creation errors -------------------------------- */

/* A request popped before a reset is not completed after it. */
static void reset_drops_completion(void **state)
{
	const struct vfd_buf one = { DATA, SECT, true };
	unsigned int nr;
	const int *kicks = vblk_kick_fds(blk, &nr);

	(void)state;
	assert_int_equal(nr, 1);
	post(VIRTIO_BLK_T_IN, 0, &one, 1);
	slot++;
	/* Only the kick: the request is popped and on the disk. */
	dispatch(100, -1, kicks[0]);
	assert_int_equal(vfd_used_idx(&d, 0), 0);
	rebringup(FEATURES_RW, QSIZE); /* resets first */
	dispatch(300, -1, -1);
	assert_int_equal(vfd_used_idx(&d, 0), 0);
	good_read();
}

/*
 * Requests still on the disk from before two resets fill the whole pool:
 * the third driver's requests wait in the ring (nothing is lost or
 * refused) and are served as the old completions free the pool.
 */
static void pool_exhausted_by_resets(void **state)
{
	const unsigned int per_round = VBLK_QUEUE_SIZE / 2; /* 2 descriptors each */
	unsigned int nr;
	const int *kicks = vblk_kick_fds(blk, &nr);

	(void)state;
	for (int round = 0; round < 3; round++) {
		rebringup(FEATURES_RW, VBLK_QUEUE_SIZE);
		for (unsigned int i = 0; i < per_round; i++) {
			slot = i;
			put_hdr(VIRTIO_BLK_T_FLUSH, 0);
			vfd_post(&d, 0, (struct vfd_buf[]){ { hdr_gpa(), 16, false },
				 { status_gpa(), 1, true } }, 2);
		}
		vfd_kick(&d, 0);
		/* Rounds 0 and 1: popped, on the disk, not completed. Round
		 * 2: the pool is empty; nothing is popped. */
		dispatch(100, -1, kicks[0]);
		assert_int_equal(vfd_used_idx(&d, 0), 0);
	}
	/* Only the last driver's requests complete. */
	used_expected = per_round;
	dispatch(10000, used_expected, -1);
	assert_int_equal(vfd_used_idx(&d, 0), used_expected);
	dispatch(200, -1, -1);
	assert_int_equal(vfd_used_idx(&d, 0), used_expected);
	for (unsigned int i = 0; i < per_round; i++)
		assert_int_equal(*host(STATUS + i, 1), VIRTIO_BLK_S_OK);
	d.q[0].used_seen = (uint16_t)used_expected;
	slot = 200;
	good_read();
}

/* ---- rate limiting --------------------------------------------------------- */

#define MSEC 1000000ull

/* A used element and when the test first saw it (no earlier than the
 * device pushed it). */
struct seen {
	uint32_t id, len;
	uint64_t t;
};

/* Run the loop's handlers until `n` more used elements arrived (at most
 * 10 s); record them in order. */
static void collect(struct seen *out, unsigned int n)
{
	uint64_t end = now_ns() + 10000 * MSEC;
	unsigned int got = 0;

	while (got < n && now_ns() < end) {
		dispatch(2, -1, -1);
		while (got < n && vfd_used(&d, 0, &out[got].id, &out[got].len))
			out[got++].t = now_ns();
	}
	assert_int_equal(got, n);
	used_expected += n;
}

static const struct seen *find_seen(const struct seen *s, unsigned int n, uint16_t head)
{
	for (unsigned int i = 0; i < n; i++)
		if (s[i].id == head)
			return &s[i];
	fail_msg("head %u was not completed", head);
	return NULL;
}

static void expect_pattern_at(uint64_t gpa, uint64_t sector, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (host(gpa, len)[i] != pattern(sector * SECT + i))
			fail_msg("guest byte %u of the read at sector %llu is wrong", i,
				 (unsigned long long)sector);
}

/*
 * A disk limited to 32 KiB/s with a 4 KiB burst. An 8 KiB read (larger
 * than the burst) goes at once and leaves 4 KiB of debt; a GET_ID behind
 * it (0 bytes) too; the 4 KiB read after that waits in the device for
 * 8 KiB worth of time, 250 ms, with no used entry, and then completes
 * with the right data without any further kick: the limiter's timer
 * resumed the queue.
 */
static void ratelimit_bytes(void **state)
{
	const struct rl_config cfg = { .bytes = 32 * KiB, .bytes_burst = 4 * KiB };
	const struct vfd_buf a = { DATA, 16 * SECT, true };
	const struct vfd_buf id = { DATA + 0x10000, VBLK_ID_BYTES, true };
	const struct vfd_buf b = { DATA + 0x20000, 8 * SECT, true };
	unsigned int nr;
	const int *kicks = vblk_kick_fds(blk, &nr);
	const char *base = strrchr(path, '/') + 1;
	struct seen s[3];
	uint16_t ha, hid, hb;
	uint64_t t0;

	(void)state;
	assert_int_equal(vblk_set_ratelimit(blk, &cfg), 0);
	memset(host(DATA, 0x30000), 0, 0x30000);
	t0 = now_ns();
	ha = post(VIRTIO_BLK_T_IN, 10, &a, 1);
	slot++;
	hid = post(VIRTIO_BLK_T_GET_ID, 0, &id, 1);
	slot++;
	hb = post(VIRTIO_BLK_T_IN, 40, &b, 1);
	/* The kick alone: GET_ID completes at once (it needs no I/O and no
	 * bytes), the reads are not answered yet. */
	dispatch(20, -1, kicks[0]);
	assert_int_equal(vfd_used_idx(&d, 0), 1);
	collect(s, 1);
	assert_int_equal(s[0].id, hid);
	assert_int_equal(s[0].len, VBLK_ID_BYTES + 1);
	assert_memory_equal(host(id.addr, strlen(base)), base, strlen(base));
	/* Then the 8 KiB read, and 250 ms after the first the 4 KiB one. */
	collect(s + 1, 2);
	assert_int_equal(s[1].id, ha);
	assert_int_equal(s[1].len, 16 * SECT + 1);
	assert_int_equal(s[2].id, hb);
	assert_int_equal(s[2].len, 8 * SECT + 1);
	assert_true(s[2].t - t0 >= 250 * MSEC);
	assert_int_equal(status_byte(), VIRTIO_BLK_S_OK);
	assert_int_equal(*host(STATUS + slot - 2, 1), VIRTIO_BLK_S_OK);
	expect_pattern_at(a.addr, 10, a.len);
	expect_pattern_at(b.addr, 40, b.len);
	slot++;
	good_read();
}

/* 10 requests per second, burst 1: a read goes at once, a GET_ID 100 ms
 * later, a flush 200 ms later; each kind is one operation. */
static void ratelimit_iops(void **state)
{
	const struct rl_config cfg = { .ops = 10, .ops_burst = 1 };
	const struct vfd_buf r = { DATA, SECT, true };
	const struct vfd_buf id = { DATA + 0x10000, VBLK_ID_BYTES, true };
	unsigned int nr;
	const int *kicks = vblk_kick_fds(blk, &nr);
	struct seen s[3];
	uint16_t hr, hid, hf;
	uint64_t t0;

	(void)state;
	assert_int_equal(vblk_set_ratelimit(blk, &cfg), 0);
	memset(host(DATA, SECT), 0, SECT);
	t0 = now_ns();
	hr = post(VIRTIO_BLK_T_IN, 7, &r, 1);
	slot++;
	hid = post(VIRTIO_BLK_T_GET_ID, 0, &id, 1);
	slot++;
	hf = post(VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
	slot++;
	/* The kick alone: the read is on the disk (its completion is not
	 * dispatched), the GET_ID held back, so nothing is answered. */
	dispatch(20, -1, kicks[0]);
	assert_int_equal(vfd_used_idx(&d, 0), 0);
	collect(s, 3);
	assert_true(find_seen(s, 3, hr)->len == SECT + 1);
	assert_true(find_seen(s, 3, hid)->t - t0 >= 100 * MSEC);
	assert_true(find_seen(s, 3, hf)->t - t0 >= 200 * MSEC);
	for (unsigned int i = 1; i <= 3; i++)
		assert_int_equal(*host(STATUS + slot - i, 1), VIRTIO_BLK_S_OK);
	expect_pattern_at(r.addr, 7, SECT);
	good_read();
}

/*
 * A reset while a write is held back by the limiter: the write never
 * happens and is never answered, in the old ring or the new one; the new
 * driver is served.
 */
static void ratelimit_reset_drops_pending(void **state)
{
	const struct rl_config cfg = { .bytes = 16 * KiB, .bytes_burst = 4 * KiB };
	const struct vfd_buf a = { DATA, 8 * SECT, false };
	const struct vfd_buf b = { DATA + 0x10000, 8 * SECT, false };
	struct seen s[1];
	uint16_t ha;
	uint64_t t0;

	(void)state;
	assert_int_equal(vblk_set_ratelimit(blk, &cfg), 0);
	memset(host(a.addr, a.len), 0x11, a.len);
	memset(host(b.addr, b.len), 0x5a, b.len);
	t0 = now_ns();
	ha = post(VIRTIO_BLK_T_OUT, 40, &a, 1);
	slot++;
	post(VIRTIO_BLK_T_OUT, 50, &b, 1);
	collect(s, 1);
	assert_int_equal(s[0].id, ha);
	/* b would start 250 ms after a; reset before that. */
	assert_true(now_ns() - t0 < 200 * MSEC);
	rebringup(FEATURES_RW, QSIZE);
	dispatch(500, -1, -1);
	assert_int_equal(vfd_used_idx(&d, 0), 0);
	assert_int_equal(status_byte(), ST_NONE);
	expect_host_pattern(50 * SECT, 8 * SECT);
	{
		uint8_t buf[8 * SECT];

		host_read(40 * SECT, buf, sizeof(buf));
		for (unsigned int i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0x11);
	}
	slot++;
	good_read();
}

/* No limit (the default, and NULL or zeroes): requests are never held
 * back; replacing a limiter with none works. */
static void ratelimit_none(void **state)
{
	const struct rl_config zero = { 0 };

	(void)state;
	assert_int_equal(vblk_set_ratelimit(blk, &(struct rl_config){ .ops = 1 }), 0);
	assert_int_equal(vblk_set_ratelimit(blk, &zero), 0);
	for (int i = 0; i < 20; i++)
		good_read();
	assert_int_equal(vblk_set_ratelimit(blk, NULL), 0);
	for (int i = 0; i < 20; i++)
		good_read();
}

static void real_loop_thread(void **state)
{
	const struct vfd_buf w = { DATA, 4 * SECT, false };
	const struct vfd_buf r = { DATA + 0x10000, 4 * SECT, true };
	uint16_t head;
	uint32_t id, len;

	(void)state;
	assert_int_equal(evloop_start(&loop), 0);
	memset(host(DATA, 4 * SECT), 0x6b, 4 * SECT);
	for (int i = 0; i < 20; i++) {
		head = post(VIRTIO_BLK_T_OUT, 40, &w, 1);
		slot++;
		for (int t = 0; t < 10000 && vfd_used_idx(&d, 0) == used_expected; t++)
			usleep(1000);
		assert_int_equal(vfd_used_idx(&d, 0), ++used_expected);
		assert_true(vfd_used(&d, 0, &id, &len));
		assert_int_equal(id, head);
		head = post(VIRTIO_BLK_T_IN, 40, &r, 1);
		slot++;
		for (int t = 0; t < 10000 && vfd_used_idx(&d, 0) == used_expected; t++)
			usleep(1000);
		assert_int_equal(vfd_used_idx(&d, 0), ++used_expected);
		assert_true(vfd_used(&d, 0, &id, &len));
		assert_int_equal(id, head);
		assert_int_equal(len, 4 * SECT + 1);
		assert_memory_equal(host(DATA, 4 * SECT), host(DATA + 0x10000, 4 * SECT),
				    4 * SECT);
	}
	evloop_stop(&loop);
}

static void create_errors(void **state)
{
	struct vblk *b = NULL;
	char why[128];
	int ret;

	(void)state;
	ret = vblk_create(&b, &mem, &loop, "/no/such/image.img", false, why, sizeof(why));
	assert_int_equal(ret, -ENOENT);
	assert_null(b);
	assert_string_equal(why, "No such file or directory");
	ret = vblk_create(&b, &mem, &loop, "/tmp", true, why, sizeof(why));
	assert_true(ret < 0);
	assert_null(b);
	/* Opening a directory read-only works; it is then refused by type. */
	assert_string_equal(why, "not a regular file or block device");
	/* The image is in use read-write by this test's device. */
	ret = vblk_create(&b, &mem, &loop, path, false, why, sizeof(why));
	assert_int_equal(ret, -EBUSY);
	ret = vblk_create(&b, &mem, &loop, path, true, why, sizeof(why));
	assert_int_equal(ret, -EBUSY);
	setenv("COCOON_BLK_AIO", "bogus", 1);
	ret = vblk_create(&b, &mem, &loop, path, true, why, sizeof(why));
	setenv("COCOON_BLK_AIO", engine_env, 1);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(why, "COCOON_BLK_AIO=bogus"));
	vblk_destroy(NULL);
	/* Read-only users share the image. */
	close_dev();
	open_dev(true, FEATURES_RO);
	ret = vblk_create(&b, &mem, &loop, path, true, why, sizeof(why));
	assert_int_equal(ret, 0);
	vblk_destroy(vblk_dev(b));
}

static int use_engine(const char *name)
{
	engine_env = name;
	return setenv("COCOON_BLK_AIO", name, 1);
}

static int group_threads(void **state)
{
	(void)state;
	return use_engine("threads");
}

static int group_uring(void **state)
{
	(void)state;
	return use_engine("io_uring");
}

static void noop_complete(void *opaque, struct aio_req *done)
{
	(void)opaque;
	(void)done;
}

static bool uring_usable(void)
{
	struct evloop l;
	struct aio *a = NULL;
	int ret;

	if (evloop_init(&l))
		return false;
	ret = aio_create(&a, &l, AIO_IO_URING, 8, noop_complete, NULL);
	aio_destroy(a);
	evloop_destroy(&l);
	return ret == 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(config_and_features),
		T(read_sectors),
		T(write_and_flush),
		T(write_without_flush_feature),
		T(get_id),
		T(discard),
		T(write_zeroes),
		T(write_zeroes_fallback),
		T(many_in_flight),
		T(past_capacity),
		T(sector_wraps),
		T(length_not_sectors),
		T(header_writable),
		T(status_not_writable),
		T(data_wrong_direction),
		T(read_only_disk),
		T(too_many_segments),
		T(segment_checks),
		T(segment_total_limit),
		T(unknown_type),
		T(buffer_outside_ram),
		T(partial_last_sector),
		T(image_shrinks),
		T(reset_drops_completion),
		T(pool_exhausted_by_resets),
		T(ratelimit_bytes),
		T(ratelimit_iops),
		T(ratelimit_reset_drops_pending),
		T(ratelimit_none),
		T(real_loop_thread),
		T(create_errors),
#undef T
	};
	int failed;

	failed = cmocka_run_group_tests_name("vblk/threads", tests, group_threads, NULL);
	if (uring_usable())
		failed += cmocka_run_group_tests_name("vblk/io_uring", tests, group_uring,
						      NULL);
	else
		printf("io_uring is not usable here: only the threads engine ran\n");
	return failed;
}
