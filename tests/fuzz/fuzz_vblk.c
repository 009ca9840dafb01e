/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-blk requests from a hostile driver. A fresh device per
 * input on one 1 MiB image (made once, in /dev/shm when it exists), brought
 * up through the virtio-mmio transport as the fake driver does; the input
 * fills the first 64 KiB of guest RAM, which holds the rings (avail ring at
 * 0, used ring at 0x800, descriptor table at 0x1000), the request
 * headers, status bytes and data buffers. Then a kick, and the event loop's
 * handlers run on this thread until no request is in flight; the device is
 * destroyed (which waits for host I/O) before the next input.
 *
 * Input: byte 0 selects the features the driver accepts and whether the
 * image is opened read-only, byte 1 the queue size (1..256); the rest is
 * guest memory. The image must keep its size.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "evloop.h"
#include "log.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM (128u << 10)
#define FILL (64u << 10)
#define IMG_SIZE (1u << 20)
#define AVAIL 0x0000u
#define USED 0x0800u
#define DESC 0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int img = -1;

static void remove_image(void)
{
	if (path[0])
		unlink(path);
}

static void image_once(void)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(path, sizeof(path), "%s/cocoon-fuzz-vblk.XXXXXX", dir);
	img = mkstemp(path);
	if (img < 0 || ftruncate(img, IMG_SIZE)) {
		perror("fuzz_vblk: image");
		abort();
	}
	atexit(remove_image);
}

static bool idle(struct vblk *blk)
{
	const struct virtq *vq = &vblk_dev(blk)->vqs[0];
	bool any = false;

	virtio_dev_lock(vblk_dev(blk));
	if (vq->st.size && !vq->st.broken)
		for (size_t i = 0; i < sizeof(vq->st.inflight) / sizeof(vq->st.inflight[0]); i++)
			any |= vq->st.inflight[i] != 0;
	virtio_dev_unlock(vblk_dev(blk));
	return !any;
}

/* Run the loop's handlers here until nothing is ready and nothing is in
 * flight (bounded: vblk_destroy waits for the rest anyway). */
static void pump(struct evloop *loop, struct vblk *blk)
{
	for (int round = 0; round < 2000; round++) {
		bool quiet = idle(blk);

		if (evloop_dispatch(loop, quiet ? 0 : 5) <= 0 && quiet)
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct evloop loop;
	static struct vfd d;
	static int ready;
	struct vblk *blk = NULL;
	char why[128] = "";
	uint64_t features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	bool ro;
	uint32_t qsize;
	struct stat st;

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		log_set_level(LOG_ERROR);
		if (gm_create(&mem, &r, 1) || evloop_init(&loop))
			abort();
		image_once();
		ready = 1;
	}
	if (size < 2)
		return 0;
	ro = data[0] & 0x80;
	if (data[0] & 0x01)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (data[0] & 0x02)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
	if (data[0] & 0x04)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (data[0] & 0x08)
		features |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (data[0] & 0x10)
		features |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	if (data[0] & 0x20)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE);
	if (data[0] & 0x40)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	qsize = 1u << (data[1] % 9);

	if (vblk_create(&blk, &mem, &loop, path, ro, why, sizeof(why))) {
		fprintf(stderr, "fuzz_vblk: vblk_create: %s\n", why);
		abort();
	}
	memset(mem.base, 0, RAM);
	memcpy(mem.base, data + 2, size - 2 < FILL ? size - 2 : FILL);
	vfd_init(&d, vblk_dev(blk), &mem);
	/* Features the device does not offer make FEATURES_OK fail; the
	 * driver goes on regardless, as a hostile one would. */
	(void)vfd_negotiate(&d, features);
	vfd_program_raw(&d, 0, qsize, DESC, AVAIL, USED);
	(void)vfd_driver_ok(&d);
	vfd_kick(&d, 0);
	pump(&loop, blk);
	vblk_destroy(vblk_dev(blk));
	if (fstat(img, &st) || st.st_size != IMG_SIZE) {
		fprintf(stderr, "fuzz_vblk: image size changed to %lld\n",
			(long long)st.st_size);
		abort();
	}
	return 0;
}
