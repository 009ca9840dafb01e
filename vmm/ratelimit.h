/* SPDX-License-Identifier: MIT */
/*
 * Rate limiters for device back-ends (blk, net, rng): two token buckets,
 * one counting operations and one counting bytes, each refilled at a steady
 * rate up to a burst size.
 *
 * A device asks before it starts a piece of work (rl_consume). When either
 * bucket is short, nothing is taken, the work stays where it is (in the
 * guest's ring, or in the host's socket buffer) and the limiter's timer is
 * armed for the moment enough tokens will be there; the device's handler
 * runs again on the event loop then. So a throttled device defers work and
 * never drops it.
 *
 * A single request larger than the burst (a 1 MiB write against a 64 KiB
 * bucket) would never fit; it is let through once the bucket is full and
 * drives the bucket into debt, so the next request waits until the debt is
 * paid back. The long-run rate is exact either way.
 *
 * Rates of 0 mean "no limit" for that bucket; a limiter with both rates 0
 * is disabled and rl_consume always says yes without touching the clock.
 * A bucket starts full. Refill is exact: the fraction of a token earned
 * between two calls is carried over, so any pattern of calls gets exactly
 * `rate` tokens per second (plus the burst), and rl_wait_ns is the exact
 * time, rounded up to a nanosecond, until enough tokens are there. Bursts
 * (and so debts) are capped at 2^52 tokens; waits saturate at UINT64_MAX.
 *
 * Threads: a limiter belongs to one device and is used from the event-loop
 * thread only (or a test's thread).
 */
#ifndef COCOON_RATELIMIT_H
#define COCOON_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "util.h"

/* What the user asked for (config.c parses it; 0 = unlimited). */
struct rl_config {
	uint64_t ops;        /* operations per second */
	uint64_t ops_burst;  /* bucket size in operations; 0: one second's worth */
	uint64_t bytes;      /* bytes per second */
	uint64_t bytes_burst;/* bucket size in bytes; 0: one second's worth */
};

struct rl_bucket {
	uint64_t rate;   /* tokens per second; 0 = unlimited */
	uint64_t size;   /* most tokens it holds */
	int64_t tokens;  /* may go negative: debt from an oversized request */
	uint64_t frac;   /* part of the next token earned, in 1e-9 tokens */
	uint64_t last_ns;/* when tokens were last brought up to date */
};

struct ratelimit {
	struct rl_bucket ops;
	struct rl_bucket bytes;
	struct ev_handler timer; /* timer.fd: a timerfd, or -1 when disabled */
	struct evloop *loop;
	bool has_timer;          /* timer.fd is ours to close */
	bool watched;            /* timer is registered with loop */
	bool armed;              /* the timer is set and has not been acked */
	uint64_t deadline_ns;    /* when armed: the time (now_ns) it fires at */
	uint64_t throttled;      /* times rl_consume said no (for tests, logs) */
};

/* Whether `cfg` asks for any limit. */
bool rl_config_enabled(const struct rl_config *cfg);

/*
 * Set up `rl` for `cfg`. When cfg limits anything, a timerfd is created and
 * watched on `loop` (which may be NULL in tests: then nothing is watched
 * and rl_consume only reports) with `cb` as its handler; `cb` must read or
 * otherwise tolerate the timerfd and retry the deferred work. The handler
 * struct is rl->timer: the device finds itself from it with container_of.
 * `rl` must not hold a limiter (zeroed, destroyed or never set up); it is
 * overwritten. The buckets start full at the current CLOCK_MONOTONIC time:
 * later `now` arguments must not be earlier than that.
 * Returns 0 or -errno. `rl` is usable (disabled) after a failure.
 */
int rl_init(struct ratelimit *rl, const struct rl_config *cfg,
	    struct evloop *loop, ev_callback *cb) __must_check;

/* Whether the limiter limits anything. */
bool rl_enabled(const struct ratelimit *rl);

/*
 * Take `ops` operations and `bytes` bytes at time `now` (now_ns(), util.h)
 * if both buckets have them; true then. Otherwise take nothing, arm the
 * timer for when they will (if a loop is attached), and return false. An
 * armed timer is moved only to an earlier deadline; after it fired it is
 * armed again only by the next refusal (see rl_timer_ack). 0 ops or 0
 * bytes never wait on that bucket, even in debt.
 */
bool rl_consume(struct ratelimit *rl, uint64_t ops, uint64_t bytes,
		uint64_t now);

/*
 * Nanoseconds from `now` until rl_consume(rl, ops, bytes) would succeed
 * (0 when it would now): the larger of the two buckets' waits. Does not
 * change the buckets beyond a refill.
 */
uint64_t rl_wait_ns(struct ratelimit *rl, uint64_t ops, uint64_t bytes,
		    uint64_t now);

/* Drain the timerfd after it fired and mark it unarmed (call first in the
 * timer handler, before retrying the deferred work). */
void rl_timer_ack(struct ratelimit *rl);

/* Unwatch and close the timer; the limiter is then disabled. Safe on a
 * zeroed, failed or destroyed limiter, and after the loop was destroyed. */
void rl_destroy(struct ratelimit *rl);

#endif
