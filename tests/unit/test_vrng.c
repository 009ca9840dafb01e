/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng through the fake driver: identity, requests filled and their
 * used lengths, the per-request and per-batch caps, wrong-direction and
 * malformed chains, and reset. Then the rate limiter, with the device on
 * an event loop whose handlers the test runs itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_mmio.h>

#include "evloop.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM_SIZE (4u * 1024 * 1024)
#define RINGS 0x10000ull
#define BUF 0x100000ull

#define F_VERSION_1 VIRTIO_BIT(VIRTIO_F_VERSION_1)

static struct guest_mem mem;
static struct vrng *rng;
static struct vfd d;
static unsigned int irqs;
static uint8_t *ram;

static void count_irq(struct virtio_dev *dev)
{
	(void)dev;
	irqs++;
}

static int setup(void **state)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };

	(void)state;
	irqs = 0;
	assert_int_equal(gm_create(&mem, &r, 1), 0);
	ram = gm_ptr(&mem, 0, RAM_SIZE);
	assert_int_equal(vrng_create(&mem, NULL, &rng), 0);
	vrng_dev(rng)->signal_irq = count_irq;
	vfd_init(&d, vrng_dev(rng), &mem);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vrng_destroy(vrng_dev(rng));
	gm_destroy(&mem);
	return 0;
}

static bool all_equal(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* The kick eventfd holds a pending kick (and clears it). */
static bool kicked(void)
{
	uint64_t n = 0;

	return read(vrng_kick_fd(rng), &n, sizeof(n)) == sizeof(n) && n > 0;
}

static void identity(void **state)
{
	(void)state;
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), VRNG_QUEUE_SIZE);
	vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* No configuration space: reads are zero. */
	assert_int_equal(vfd_rd(&d, 0x100), 0);
}

static void fills_requests(void **state)
{
	const struct vfd_buf one = { BUF, 64, true };
	const struct vfd_buf two[2] = { { BUF + 0x1000, 10, true },
					{ BUF + 0x2000, 20, true } };
	uint32_t id, len;
	uint16_t h1, h2;

	(void)state;
	assert_true(vfd_bringup(&d, F_VERSION_1 | VIRTIO_RING_FEATURES, 1, 64, RINGS));
	assert_true(kicked()); /* activation asks the loop to look */
	memset(ram + BUF, 0, 0x3000);
	h1 = vfd_post(&d, 0, &one, 1);
	h2 = vfd_post(&d, 0, two, 2);
	vfd_kick(&d, 0);
	assert_true(kicked()); /* a kick goes to the event loop ... */
	assert_false(vfd_used(&d, 0, &id, &len)); /* ... not served on the vCPU */
	assert_false(vrng_process(rng));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, h1);
	assert_int_equal(len, 64);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, h2);
	assert_int_equal(len, 30);
	assert_false(vfd_used(&d, 0, &id, &len));
	assert_int_equal(irqs, 1);
	/* 64 random bytes are not all zero (p = 2^-512). */
	assert_false(all_equal(ram + BUF, 64, 0));
	assert_false(all_equal(ram + BUF + 0x1000, 10, 0) &&
		     all_equal(ram + BUF + 0x2000, 20, 0));
	/* Nothing past the buffers. */
	assert_true(all_equal(ram + BUF + 64, 0x1000 - 64, 0));
	assert_true(all_equal(ram + BUF + 0x2000 + 20, 0x1000 - 20, 0));
	/* Two requests are not the same bytes. */
	assert_memory_not_equal(ram + BUF, ram + BUF + 0x1000, 10);
}

static void request_capped(void **state)
{
	const struct vfd_buf big = { BUF, 100 * 1024, true };
	uint32_t id, len;

	(void)state;
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	memset(ram + BUF, 0xaa, 100 * 1024);
	vfd_post(&d, 0, &big, 1);
	assert_false(vrng_process(rng));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(len, VRNG_MAX_REQUEST);
	/* 5.4.6.1: the device may use less than the whole buffer; the rest
	 * is left alone. */
	assert_true(all_equal(ram + BUF + VRNG_MAX_REQUEST, 100 * 1024 - VRNG_MAX_REQUEST,
			      0xaa));
}

static void batch_capped(void **state)
{
	const unsigned int per = VRNG_MAX_REQUEST, n = 2 * VRNG_MAX_BATCH / VRNG_MAX_REQUEST;
	uint32_t id, len, total = 0;
	unsigned int done = 0;

	(void)state;
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	(void)kicked();
	for (unsigned int i = 0; i < n; i++) {
		const struct vfd_buf b = { BUF + (uint64_t)i * per, per, true };

		vfd_post(&d, 0, &b, 1);
	}
	/* One turn serves at most one batch, then the device kicks itself. */
	assert_true(vrng_process(rng));
	assert_true(kicked());
	while (vfd_used(&d, 0, &id, &len)) {
		total += len;
		done++;
	}
	assert_int_equal(total, VRNG_MAX_BATCH);
	assert_true(done < n);
	/* The next turn serves the rest. */
	vrng_process(rng);
	while (vfd_used(&d, 0, &id, &len)) {
		total += len;
		done++;
	}
	assert_int_equal(done, n);
	assert_int_equal(total, n * per);
}

static void wrong_direction(void **state)
{
	const struct vfd_buf ro = { BUF, 16, false };
	const struct vfd_buf rw[2] = { { BUF + 0x100, 16, false },
				       { BUF + 0x200, 16, true } };
	const struct vfd_buf ok = { BUF + 0x300, 16, true };
	uint32_t id, len;
	uint16_t h;

	(void)state;
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	memset(ram + BUF, 0x55, 0x400);
	h = vfd_post(&d, 0, &ro, 1);
	vfd_post(&d, 0, rw, 2);
	/* A chain of zero-length descriptors: nothing writable. */
	vfd_desc(&d, 0, 40, BUF, 0, VRING_DESC_F_WRITE, 0);
	vfd_publish(&d, 0, 40);
	vfd_post(&d, 0, &ok, 1);
	vrng_process(rng);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, h);
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, 40);
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(len, 16);
	/* Readable buffers were never written. */
	assert_true(all_equal(ram + BUF, 0x300, 0x55));
}

static void malformed_and_broken(void **state)
{
	const struct vfd_buf ok = { BUF, 8, true };
	uint32_t id, len;

	(void)state;
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	/* A descriptor loop: completed empty, the device goes on. */
	vfd_desc(&d, 0, 50, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 50);
	vfd_publish(&d, 0, 50);
	/* A buffer outside RAM. */
	vfd_desc(&d, 0, 51, RAM_SIZE - 4, 8, VRING_DESC_F_WRITE, 0);
	vfd_publish(&d, 0, 51);
	vfd_post(&d, 0, &ok, 1);
	vrng_process(rng);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, 50);
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(id, 51);
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(len, 8);
	assert_false(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* An avail index far ahead breaks the queue: NEEDS_RESET, no spin. */
	vfd_set_avail_idx(&d, 0, (uint16_t)(d.q[0].avail_idx + 1000));
	assert_false(vrng_process(rng));
	assert_true(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* A reset brings it back. */
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	vfd_post(&d, 0, &ok, 1);
	vrng_process(rng);
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(len, 8);
}

static void inactive(void **state)
{
	const struct vfd_buf ok = { BUF, 8, true };
	uint32_t id, len;

	(void)state;
	/* Before DRIVER_OK and after a reset nothing is served. */
	assert_false(vrng_process(rng));
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	vfd_post(&d, 0, &ok, 1);
	vfd_wr(&d, VIRTIO_MMIO_STATUS, 0);
	assert_false(vrng_process(rng));
	assert_false(vfd_used(&d, 0, &id, &len));
}

/* ---- rate limiting ------------------------------------------------------- */

#define MSEC 1000000ull

static struct evloop loop;

static int setup_loop(void **state)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };

	(void)state;
	irqs = 0;
	assert_int_equal(gm_create(&mem, &r, 1), 0);
	ram = gm_ptr(&mem, 0, RAM_SIZE);
	assert_int_equal(evloop_init(&loop), 0);
	assert_int_equal(vrng_create(&mem, &loop, &rng), 0);
	vrng_dev(rng)->signal_irq = count_irq;
	vfd_init(&d, vrng_dev(rng), &mem);
	return 0;
}

static int teardown_loop(void **state)
{
	(void)state;
	vrng_destroy(vrng_dev(rng));
	evloop_destroy(&loop);
	gm_destroy(&mem);
	return 0;
}

struct seen {
	uint32_t id, len;
	uint64_t t; /* first seen: no earlier than the device pushed it */
};

/* Run the loop's handlers (kick, limiter timer) on this thread until `n`
 * used elements arrived, at most 10 s; record them in order. */
static void collect(struct seen *out, unsigned int n)
{
	uint64_t end = now_ns() + 10000 * MSEC;
	unsigned int got = 0;

	while (got < n && now_ns() < end) {
		(void)evloop_dispatch(&loop, 2);
		while (got < n && vfd_used(&d, 0, &out[got].id, &out[got].len))
			out[got++].t = now_ns();
	}
	assert_int_equal(got, n);
}

/*
 * 8 KiB/s with a 1 KiB burst. A 2 KiB request (larger than the burst) is
 * served at once and leaves 1 KiB of debt; the next 512-byte request is
 * held in the device (a kick does not change that) and served by the
 * limiter's timer 187.5 ms after the first, the one after it at 250 ms.
 */
static void ratelimit_bytes(void **state)
{
	const struct rl_config cfg = { .bytes = 8 * 1024, .bytes_burst = 1024 };
	const struct vfd_buf a = { BUF, 2048, true };
	const struct vfd_buf b = { BUF + 0x1000, 512, true };
	const struct vfd_buf c = { BUF + 0x2000, 512, true };
	struct seen s[2];
	uint32_t id, len;
	uint16_t hb, hc;
	uint64_t t0;

	(void)state;
	assert_int_equal(vrng_set_ratelimit(rng, &cfg), 0);
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	memset(ram + BUF, 0, 0x3000);
	t0 = now_ns();
	vfd_post(&d, 0, &a, 1);
	hb = vfd_post(&d, 0, &b, 1);
	hc = vfd_post(&d, 0, &c, 1);
	assert_false(vrng_process(rng));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(len, 2048);
	assert_false(vfd_used(&d, 0, &id, &len));
	vfd_kick(&d, 0);
	assert_false(vrng_process(rng));
	assert_false(vfd_used(&d, 0, &id, &len));
	assert_true(all_equal(ram + BUF + 0x1000, 512, 0));
	collect(s, 2);
	assert_int_equal(s[0].id, hb);
	assert_int_equal(s[0].len, 512);
	assert_true(s[0].t - t0 >= 187500000ull);
	assert_int_equal(s[1].id, hc);
	assert_int_equal(s[1].len, 512);
	assert_true(s[1].t - t0 >= 250 * MSEC);
	assert_false(all_equal(ram + BUF + 0x1000, 512, 0));
	assert_false(all_equal(ram + BUF + 0x2000, 512, 0));
	/* Nothing past the buffers. */
	assert_true(all_equal(ram + BUF + 0x1000 + 512, 0x1000 - 512, 0));
}

/* 20 requests per second, burst 2: two at once, then one every 50 ms; a
 * chain completed empty (wrong direction) is an operation too. */
static void ratelimit_ops(void **state)
{
	const struct rl_config cfg = { .ops = 20, .ops_burst = 2 };
	const struct vfd_buf ok = { BUF, 16, true }, ro = { BUF + 0x100, 16, false };
	struct seen s[2];
	uint32_t id, len;
	uint16_t hro, hlast;
	uint64_t t0;

	(void)state;
	assert_int_equal(vrng_set_ratelimit(rng, &cfg), 0);
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	t0 = now_ns();
	vfd_post(&d, 0, &ok, 1);
	vfd_post(&d, 0, &ok, 1);
	hro = vfd_post(&d, 0, &ro, 1);
	hlast = vfd_post(&d, 0, &ok, 1);
	assert_false(vrng_process(rng));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_false(vfd_used(&d, 0, &id, &len));
	collect(s, 2);
	assert_int_equal(s[0].id, hro);
	assert_int_equal(s[0].len, 0);
	assert_true(s[0].t - t0 >= 50 * MSEC);
	assert_int_equal(s[1].id, hlast);
	assert_int_equal(s[1].len, 16);
	assert_true(s[1].t - t0 >= 100 * MSEC);
}

/* A reset while a request is held back: it is never served nor answered
 * (its buffer untouched); the new driver's requests are. */
static void ratelimit_reset_drops_pending(void **state)
{
	const struct rl_config cfg = { .bytes = 8 * 1024, .bytes_burst = 512 };
	const struct vfd_buf a = { BUF, 512, true }, b = { BUF + 0x1000, 512, true };
	const struct vfd_buf c = { BUF + 0x2000, 16, true };
	struct seen s[1];
	uint32_t id, len;
	uint16_t hc;

	(void)state;
	assert_int_equal(vrng_set_ratelimit(rng, &cfg), 0);
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	memset(ram + BUF + 0x1000, 0xaa, 512);
	vfd_post(&d, 0, &a, 1);
	vfd_post(&d, 0, &b, 1);
	assert_false(vrng_process(rng));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_false(vfd_used(&d, 0, &id, &len));
	/* b is due 62.5 ms after a; the limiter's timer cannot run before
	 * the test dispatches it, so b is still held back here. */
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	{
		uint64_t end = now_ns() + 200 * MSEC;

		while (now_ns() < end)
			(void)evloop_dispatch(&loop, 5);
	}
	assert_int_equal(vfd_used_idx(&d, 0), 0);
	assert_true(all_equal(ram + BUF + 0x1000, 512, 0xaa));
	hc = vfd_post(&d, 0, &c, 1);
	vfd_kick(&d, 0);
	collect(s, 1);
	assert_int_equal(s[0].id, hc);
	assert_int_equal(s[0].len, 16);
}

/* Without a loop the limiter only refuses: the caller comes back. */
static void ratelimit_without_loop(void **state)
{
	const struct vfd_buf ok = { BUF, 16, true };
	uint32_t id, len;

	(void)state;
	assert_int_equal(vrng_set_ratelimit(rng, &(struct rl_config){ .ops = 100,
							.ops_burst = 1 }), 0);
	assert_true(vfd_bringup(&d, F_VERSION_1, 1, 64, RINGS));
	vfd_post(&d, 0, &ok, 1);
	vfd_post(&d, 0, &ok, 1);
	assert_false(vrng_process(rng));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_false(vfd_used(&d, 0, &id, &len));
	usleep(20 * 1000);
	assert_false(vrng_process(rng));
	assert_true(vfd_used(&d, 0, &id, &len));
	assert_int_equal(len, 16);
	/* Replaced by no limit. */
	assert_int_equal(vrng_set_ratelimit(rng, NULL), 0);
	for (int i = 0; i < 10; i++)
		vfd_post(&d, 0, &ok, 1);
	assert_false(vrng_process(rng));
	for (int i = 0; i < 10; i++)
		assert_true(vfd_used(&d, 0, &id, &len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identity),
		T(fills_requests),
		T(request_capped),
		T(batch_capped),
		T(wrong_direction),
		T(malformed_and_broken),
		T(inactive),
		T(ratelimit_without_loop),
#undef T
#define TL(fn) cmocka_unit_test_setup_teardown(fn, setup_loop, teardown_loop)
		TL(ratelimit_bytes),
		TL(ratelimit_ops),
		TL(ratelimit_reset_drops_pending),
#undef TL
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
