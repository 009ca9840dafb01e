/* SPDX-License-Identifier: MIT */
/*
 * Token-bucket rate limiter: the arithmetic against simulated time (every
 * call gets now_ns explicitly, starting from the clock at rl_init, which
 * is when the buckets were filled), then the timer on a real event loop.
 *
 * Expected waits are exact: with a rate of 1 MiB/s a 4 KiB request is
 * 4096 / 1048576 s = 3906250 ns, and refill carries fractions of a token,
 * so a wait asked at any moment is the exact remaining time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "ratelimit.h"

#define MS 1000000ull
#define S 1000000000ull
#define KIB 1024ull
#define MIB (1024ull * 1024)

/* 4 KiB at 1 MiB/s. */
#define T4K 3906250ull

static struct ratelimit rl;

static uint64_t setup_rl(const struct rl_config *cfg)
{
	assert_int_equal(rl_init(&rl, cfg, NULL, NULL), 0);
	/* The buckets were filled at rl_init's clock reading: start later. */
	return now_ns();
}

static int teardown(void **state)
{
	(void)state;
	rl_destroy(&rl);
	return 0;
}

static void disabled_always_passes(void **state)
{
	const struct rl_config zero = { 0 };
	/* Bursts alone limit nothing. */
	const struct rl_config bursts = { .ops_burst = 1, .bytes_burst = 1 };

	(void)state;
	assert_false(rl_config_enabled(NULL));
	assert_false(rl_config_enabled(&zero));
	assert_false(rl_config_enabled(&bursts));
	assert_true(rl_config_enabled(&(struct rl_config){ .ops = 1 }));
	assert_true(rl_config_enabled(&(struct rl_config){ .bytes = 1 }));

	assert_int_equal(rl_init(&rl, NULL, NULL, NULL), 0);
	assert_false(rl_enabled(&rl));
	assert_int_equal(rl.timer.fd, -1);
	for (int i = 0; i < 1000; i++)
		assert_true(rl_consume(&rl, UINT64_MAX, UINT64_MAX, 0));
	assert_int_equal(rl_wait_ns(&rl, UINT64_MAX, UINT64_MAX, 0), 0);
	assert_int_equal(rl.throttled, 0);
	rl_destroy(&rl);

	assert_int_equal(rl_init(&rl, &bursts, NULL, NULL), 0);
	assert_false(rl_enabled(&rl));
	assert_true(rl_consume(&rl, 5, 5, 0));
	rl_destroy(&rl);
	rl_destroy(&rl); /* twice is fine */
	rl_timer_ack(&rl); /* no timer: nothing to read */

	/* A zeroed limiter is a disabled one. */
	memset(&rl, 0, sizeof(rl));
	assert_false(rl_enabled(&rl));
	assert_true(rl_consume(&rl, 1, 1, 0));
	rl_destroy(&rl);
	assert_int_equal(rl.timer.fd, -1);
}

/* 1 MiB/s with a 64 KiB burst: 64 KiB at once, then nothing; a refusal
 * takes nothing. */
static void burst_then_defer(void **state)
{
	const struct rl_config cfg = { .bytes = MIB, .bytes_burst = 64 * KIB };
	uint64_t t0 = setup_rl(&cfg);

	(void)state;
	assert_true(rl_enabled(&rl));
	assert_true(rl.timer.fd >= 0);
	for (int i = 0; i < 16; i++)
		assert_true(rl_consume(&rl, 1, 4 * KIB, t0));
	assert_false(rl_consume(&rl, 1, 4 * KIB, t0));
	assert_false(rl_consume(&rl, 1, 1, t0));
	assert_int_equal(rl.throttled, 2);
	/* Nothing was taken by the refusals: the wait is unchanged. */
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0), T4K);
	/* 0 bytes never wait on the bytes bucket; ops are unlimited. */
	assert_true(rl_consume(&rl, 1000, 0, t0));
	/* No loop attached: refusals only report. */
	assert_false(rl.armed);
	/* A second's refill tops the bucket up to the burst, no more. */
	for (int i = 0; i < 16; i++)
		assert_true(rl_consume(&rl, 1, 4 * KIB, t0 + 10 * S));
	assert_false(rl_consume(&rl, 1, 4 * KIB, t0 + 10 * S));
}

static void wait_is_exact(void **state)
{
	const struct rl_config cfg = { .bytes = MIB, .bytes_burst = 4 * KIB };
	uint64_t t0 = setup_rl(&cfg);

	(void)state;
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0), 0);
	assert_true(rl_consume(&rl, 1, 4 * KIB, t0));
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0), T4K);
	assert_int_equal(rl_wait_ns(&rl, 1, 1 * KIB, t0), 976563); /* 976562.5 */
	/* Asked later, the wait is shorter by exactly the time passed, also
	 * when that time is not a whole number of tokens (1 ms = 1048.576
	 * bytes). */
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0 + 1 * MS), T4K - 1 * MS);
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0 + 1 * MS + 7), T4K - 1 * MS - 7);
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0 + T4K - 1), 1);
	assert_false(rl_consume(&rl, 1, 4 * KIB, t0 + T4K - 1));
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0 + T4K), 0);
	assert_true(rl_consume(&rl, 1, 4 * KIB, t0 + T4K));
	rl_destroy(&rl);

	/* 1 op/s: a wait asked 0.9 s after the bucket emptied is 0.1 s, not
	 * a whole second. */
	t0 = setup_rl(&(struct rl_config){ .ops = 1 });
	assert_true(rl_consume(&rl, 1, 0, t0));
	assert_int_equal(rl_wait_ns(&rl, 1, 0, t0 + 900 * MS), 100 * MS);
	assert_false(rl_consume(&rl, 1, 0, t0 + 900 * MS));
	assert_true(rl_consume(&rl, 1, 0, t0 + 1 * S));
	rl_destroy(&rl);

	/* 3 ops/s: tokens arrive at 1/3 s steps, rounded up to the ns, with
	 * no drift over many of them. (The bucket is drained and never fills
	 * again: a full bucket rightly discards what it earns.) */
	t0 = setup_rl(&(struct rl_config){ .ops = 3, .ops_burst = 10 });
	assert_true(rl_consume(&rl, 10, 0, t0));
	for (uint64_t k = 1; k <= 3000; k++) {
		uint64_t due = t0 + (k * S + 2) / 3; /* ceil(k/3 s) */

		assert_int_equal(rl_wait_ns(&rl, 1, 0, due - 1), 1);
		assert_false(rl_consume(&rl, 1, 0, due - 1));
		assert_true(rl_consume(&rl, 1, 0, due));
	}
}

/* Long run: issue as fast as allowed, jumping simulated time by the wait
 * each refusal reports. */
static uint64_t run_requests(unsigned int n, uint64_t ops, uint64_t bytes, uint64_t t)
{
	for (unsigned int i = 0; i < n; i++) {
		unsigned int tries = 0;

		while (!rl_consume(&rl, ops, bytes, t)) {
			uint64_t w = rl_wait_ns(&rl, ops, bytes, t);

			assert_true(w > 0);
			t += w;
			assert_true(++tries < 3); /* the wait was enough */
		}
	}
	return t;
}

static void long_run_rate(void **state)
{
	const struct rl_config cfg = { .bytes = MIB, .bytes_burst = 4 * KIB };
	uint64_t t0 = setup_rl(&cfg), t;

	(void)state;
	/* 1000 x 4 KiB = 4096000 bytes at 1 MiB/s: 3.90625 s, less the first
	 * request, which the full bucket lets through at once. Exact. */
	t = run_requests(1000, 1, 4 * KIB, t0);
	assert_int_equal(t - t0, 999 * T4K);
	rl_destroy(&rl);

	/* Polling at odd moments (every 1.234567 ms) with an odd rate: after
	 * 10 s exactly burst + floor(rate * 10 s) bytes went through, give
	 * or take the last 4 KiB request. Rounding at each poll would drift. */
	{
		const uint64_t rate = 1000003;
		uint64_t passed = 0;

		/* A burst above what one poll earns: never full after the
		 * first poll, so nothing is discarded. */
		t0 = setup_rl(&(struct rl_config){ .bytes = rate, .bytes_burst = 64 * KIB });
		for (t = t0; t <= t0 + 10 * S; t += 1234567)
			while (rl_consume(&rl, 1, 4 * KIB, t))
				passed += 4 * KIB;
		t -= 1234567;
		{
			uint64_t earned = 64 * KIB + (t - t0) * rate / S;

			assert_true(passed <= earned);
			assert_true(passed > earned - 4 * KIB);
		}
	}
	rl_destroy(&rl);

	/* The ops bucket alike: 1000 ops at 250/s, burst 10. */
	t0 = setup_rl(&(struct rl_config){ .ops = 250, .ops_burst = 10 });
	t = run_requests(1000, 1, 0, t0);
	assert_int_equal(t - t0, 990 * S / 250);
}

static void oversized_goes_into_debt(void **state)
{
	const struct rl_config cfg = { .bytes = MIB, .bytes_burst = 64 * KIB };
	uint64_t t0 = setup_rl(&cfg), t;

	(void)state;
	/* Larger than the bucket: let through when the bucket is full ... */
	assert_int_equal(rl_wait_ns(&rl, 1, MIB, t0), 0);
	assert_true(rl_consume(&rl, 1, MIB, t0));
	/* ... and the next waits until the debt (1 MiB - 64 KiB) is paid and
	 * its own 4 KiB are there. */
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0),
			 (MIB - 64 * KIB + 4 * KIB) * S / MIB);
	assert_false(rl_consume(&rl, 1, 4 * KIB, t0 + 500 * MS));
	assert_false(rl_consume(&rl, 1, 1, t0 + 500 * MS));
	/* 0 bytes pass even in debt. */
	assert_true(rl_consume(&rl, 1, 0, t0 + 500 * MS));
	t = t0 + (MIB - 64 * KIB + 4 * KIB) * S / MIB;
	assert_true(rl_consume(&rl, 1, 4 * KIB, t));
	rl_destroy(&rl);

	/* An oversized request against a bucket that is not full waits until
	 * it is full, not until it holds the whole request. */
	t0 = setup_rl(&cfg);
	assert_true(rl_consume(&rl, 1, 4 * KIB, t0));
	assert_int_equal(rl_wait_ns(&rl, 1, 10 * MIB, t0), T4K);
	assert_false(rl_consume(&rl, 1, 10 * MIB, t0 + T4K - 1));
	assert_true(rl_consume(&rl, 1, 10 * MIB, t0 + T4K));
	rl_destroy(&rl);

	/* The long-run rate holds with oversized requests too: 10 x 1 MiB
	 * through a 64 KiB bucket. Each waits until the previous one's debt
	 * is paid and the bucket is full again: exactly 1 s apart. */
	t0 = setup_rl(&cfg);
	t = run_requests(10, 1, MIB, t0);
	assert_int_equal(t - t0, 9 * S);
}

static void ops_and_bytes_combine(void **state)
{
	const struct rl_config cfg = { .ops = 10, .ops_burst = 1,
				       .bytes = MIB, .bytes_burst = MIB };
	uint64_t t0 = setup_rl(&cfg);

	(void)state;
	assert_true(rl_consume(&rl, 1, MIB, t0));
	/* Both empty: the larger wait wins. */
	assert_int_equal(rl_wait_ns(&rl, 1, 512 * KIB, t0), 500 * MS); /* bytes */
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0), 100 * MS);   /* ops */
	assert_int_equal(rl_wait_ns(&rl, 0, 4 * KIB, t0), T4K);        /* bytes */
	/* At 100 ms the op is there but not the bytes: refused, and the op
	 * is not taken. */
	assert_false(rl_consume(&rl, 1, 512 * KIB, t0 + 100 * MS));
	assert_true(rl_consume(&rl, 1, 0, t0 + 100 * MS));
	/* Now bytes are there (500 ms) but the op was just taken (next at
	 * 200 ms ... already there at 500 ms): passes. */
	assert_true(rl_consume(&rl, 1, 512 * KIB, t0 + 500 * MS));
	/* Ops empty, bytes empty: 100 ms for the op, 3.9 ms for 4 KiB. */
	assert_int_equal(rl_wait_ns(&rl, 1, 4 * KIB, t0 + 500 * MS), 100 * MS);
	/* Several ops in one call. */
	assert_int_equal(rl_wait_ns(&rl, 3, 0, t0 + 500 * MS), 100 * MS); /* oversized */
	assert_int_equal(rl.throttled, 1);
}

static void huge_values_do_not_overflow(void **state)
{
	const struct rl_config max = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX };
	uint64_t t0 = setup_rl(&max);

	(void)state;
	assert_true(rl_consume(&rl, UINT64_MAX, UINT64_MAX, t0));
	assert_true(rl.ops.tokens >= 0 && rl.bytes.tokens >= 0);
	/* Whatever is left, an ns at ~1.8e10 tokens/s refills plenty. */
	assert_true(rl_consume(&rl, 1000, 1000, t0 + 1));
	assert_true(rl_consume(&rl, UINT64_MAX, UINT64_MAX, t0 + 1 * S));
	/* Far in the future: elapsed * rate is near 2^128. */
	assert_true(rl_consume(&rl, 1, 1, UINT64_MAX));
	assert_int_equal(rl_wait_ns(&rl, 1, 1, UINT64_MAX), 0);
	/* Full less one token: an oversized request needs 1 more (1 ns). */
	assert_int_equal(rl_wait_ns(&rl, UINT64_MAX, UINT64_MAX, UINT64_MAX), 1);
	rl_destroy(&rl);

	/* A huge rate with the default burst (one second's worth). */
	t0 = setup_rl(&(struct rl_config){ .bytes = UINT64_MAX });
	assert_true(rl_consume(&rl, 0, UINT64_MAX, t0));
	assert_int_equal(rl_wait_ns(&rl, 0, 1, t0), 1);
	assert_true(rl_consume(&rl, 0, 1, t0 + 1));
	rl_destroy(&rl);

	/* 1 byte/s with a huge burst: drained, refilling it takes ~2^52 s,
	 * which does not fit in 64-bit ns: the wait saturates, never wraps. */
	t0 = setup_rl(&(struct rl_config){ .bytes = 1, .bytes_burst = UINT64_MAX });
	assert_true(rl_consume(&rl, 0, UINT64_MAX, t0));
	assert_int_equal(rl_wait_ns(&rl, 0, UINT64_MAX, t0), UINT64_MAX);
	assert_int_equal(rl_wait_ns(&rl, 0, 1, t0), 1 * S);
	assert_false(rl_consume(&rl, 0, 1, t0 + 1 * S - 1));
	assert_true(rl_consume(&rl, 0, 1, t0 + 1 * S));
	/* Time passing to the end of the clock does not overflow the refill
	 * either: ~1.8e10 s at 1 byte/s. */
	assert_int_equal(rl_wait_ns(&rl, 0, 1, UINT64_MAX), 0);
	assert_int_equal(rl.bytes.tokens, (int64_t)((UINT64_MAX - t0 - 1 * S) / S));
}

/* ---- the timer ------------------------------------------------------------ */

static struct evloop loop;
static uint64_t fired_ns;     /* loop thread writes, test reads (atomics) */
static unsigned int fired;
static bool retry_ok;

static void on_timer(struct ev_handler *h, uint32_t events)
{
	struct ratelimit *r = container_of(h, struct ratelimit, timer);

	(void)events;
	rl_timer_ack(r);
	/* What a device does: retry the deferred work. */
	__atomic_store_n(&retry_ok, rl_consume(r, 1, 0, now_ns()), __ATOMIC_RELAXED);
	__atomic_store_n(&fired_ns, now_ns(), __ATOMIC_RELAXED);
	__atomic_add_fetch(&fired, 1, __ATOMIC_RELEASE);
}

static int setup_loop(void **state)
{
	(void)state;
	fired = 0;
	fired_ns = 0;
	retry_ok = false;
	return evloop_init(&loop);
}

static int teardown_loop(void **state)
{
	(void)state;
	evloop_stop(&loop);
	rl_destroy(&rl);
	evloop_destroy(&loop);
	return 0;
}

/* The handler runs on the loop thread once the wait has passed (50 ms
 * here; the upper bound only catches a timer that never fires). */
static void timer_fires_on_loop(void **state)
{
	const struct rl_config cfg = { .ops = 20, .ops_burst = 1 };
	uint64_t t0;

	(void)state;
	assert_int_equal(rl_init(&rl, &cfg, &loop, on_timer), 0);
	assert_true(rl.watched);
	assert_int_equal(evloop_start(&loop), 0);
	t0 = now_ns();
	assert_true(rl_consume(&rl, 1, 0, t0));
	assert_false(rl.armed);
	assert_false(rl_consume(&rl, 1, 0, now_ns()));
	for (int i = 0; i < 5000 && !__atomic_load_n(&fired, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&fired, __ATOMIC_ACQUIRE), 1);
	assert_true(fired_ns - t0 >= 50 * MS);
	assert_true(fired_ns - t0 < 5 * S);
	assert_true(__atomic_load_n(&retry_ok, __ATOMIC_RELAXED));
	/* One shot: it does not fire again by itself. */
	usleep(120 * 1000);
	evloop_stop(&loop);
	assert_int_equal(fired, 1);
	assert_false(rl.armed);
}

/* Driven by hand (no loop thread): arming, moving the deadline earlier
 * only, ack, and unwatching on destroy. */
static void timer_arming(void **state)
{
	const struct rl_config cfg = { .bytes = MIB, .bytes_burst = 128 * KIB };
	struct itimerspec its;
	uint64_t t0, left;

	(void)state;
	assert_int_equal(rl_init(&rl, &cfg, &loop, on_timer), 0);
	t0 = now_ns();
	assert_true(rl_consume(&rl, 1, 128 * KIB, t0));
	/* 64 KiB: 62.5 ms. */
	assert_false(rl_consume(&rl, 1, 64 * KIB, t0));
	assert_true(rl.armed);
	assert_int_equal(rl.deadline_ns, t0 + 62500 * 1000);
	assert_int_equal(timerfd_gettime(rl.timer.fd, &its), 0);
	left = (uint64_t)its.it_value.tv_sec * S + (uint64_t)its.it_value.tv_nsec;
	assert_true(left > 50 * MS && left <= 62500 * 1000);
	/* A later deadline leaves it alone; an earlier one moves it. */
	assert_false(rl_consume(&rl, 1, 128 * KIB, t0));
	assert_int_equal(rl.deadline_ns, t0 + 62500 * 1000);
	assert_false(rl_consume(&rl, 1, 4 * KIB, t0));
	assert_int_equal(rl.deadline_ns, t0 + T4K);
	assert_int_equal(timerfd_gettime(rl.timer.fd, &its), 0);
	left = (uint64_t)its.it_value.tv_sec * S + (uint64_t)its.it_value.tv_nsec;
	assert_true(left > 0 && left <= T4K);
	/* Fire: the fd becomes readable; ack drains it and disarms. */
	usleep(10 * 1000);
	{
		uint64_t n;

		rl_timer_ack(&rl);
		assert_false(rl.armed);
		assert_true(read(rl.timer.fd, &n, sizeof(n)) < 0 && errno == EAGAIN);
	}
	/* A wait too long for any timer still arms (capped, not wrapped). */
	assert_false(rl_consume(&rl, 1, 64 * KIB, t0));
	rl_timer_ack(&rl);
	rl_destroy(&rl);
	assert_int_equal(rl_init(&rl, &(struct rl_config){ .bytes = 1,
		.bytes_burst = UINT64_MAX }, &loop, on_timer), 0);
	t0 = now_ns();
	assert_true(rl_consume(&rl, 0, UINT64_MAX, t0));
	assert_false(rl_consume(&rl, 0, UINT64_MAX, t0));
	assert_true(rl.armed);
	assert_int_equal(rl.deadline_ns, UINT64_MAX);
	assert_int_equal(timerfd_gettime(rl.timer.fd, &its), 0);
	assert_true(its.it_value.tv_sec > 1000000);
	/* Destroy unwatches and closes: the loop forgets the fd. */
	{
		int fd = rl.timer.fd;

		rl_destroy(&rl);
		assert_int_equal(rl.timer.fd, -1);
		assert_false(rl_enabled(&rl));
		assert_true(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	}
}

/* A failed set-up leaves a disabled limiter and no open fd. */
static void init_failure(void **state)
{
	struct evloop dead = { .epfd = -1, .wake_fd = -1 };
	int probe, ret;

	(void)state;
	probe = dup(0);
	assert_true(probe >= 0);
	close(probe);
	ret = rl_init(&rl, &(struct rl_config){ .ops = 5 }, &dead, on_timer);
	assert_int_equal(ret, -EBADF);
	assert_false(rl_enabled(&rl));
	assert_int_equal(rl.timer.fd, -1);
	assert_true(rl_consume(&rl, 100, 100, 0));
	/* The timerfd it made was closed: the lowest free fd is free again. */
	assert_int_equal(dup(0), probe);
	close(probe);
	rl_destroy(&rl);
	/* Destroy after the loop is gone. */
	assert_int_equal(rl_init(&rl, &(struct rl_config){ .ops = 5 }, &loop, on_timer), 0);
	evloop_destroy(&loop);
	rl_destroy(&rl);
	assert_int_equal(rl.timer.fd, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(disabled_always_passes, teardown),
		cmocka_unit_test_teardown(burst_then_defer, teardown),
		cmocka_unit_test_teardown(wait_is_exact, teardown),
		cmocka_unit_test_teardown(long_run_rate, teardown),
		cmocka_unit_test_teardown(oversized_goes_into_debt, teardown),
		cmocka_unit_test_teardown(ops_and_bytes_combine, teardown),
		cmocka_unit_test_teardown(huge_values_do_not_overflow, teardown),
		cmocka_unit_test_setup_teardown(timer_fires_on_loop, setup_loop, teardown_loop),
		cmocka_unit_test_setup_teardown(timer_arming, setup_loop, teardown_loop),
		cmocka_unit_test_setup_teardown(init_failure, setup_loop, teardown_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
