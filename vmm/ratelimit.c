/* SPDX-License-Identifier: MIT */
/* Token-bucket rate limiters; see ratelimit.h. */
#include "ratelimit.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define NS_PER_S 1000000000ull
/* Most tokens a bucket holds, and most a single request takes: tokens
 * stay within [-RL_MAX_TOKENS, RL_MAX_TOKENS], far from int64_t's ends. */
#define RL_MAX_TOKENS (1ull << 52)
/* Longest timer we set: fits any time_t. A wait this long is "never"
 * anyway; the timer is re-armed if it ever fires early. */
#define RL_MAX_TIMER_S 0x7fffffffull

bool rl_config_enabled(const struct rl_config *cfg)
{
	return cfg && (cfg->ops || cfg->bytes);
}

static void bucket_init(struct rl_bucket *b, uint64_t rate, uint64_t burst,
			uint64_t now)
{
	b->rate = rate;
	/* Capped so that tokens (int64_t) and the arithmetic below never
	 * overflow, whatever the user typed. */
	b->size = burst ? burst : rate;
	if (b->size > RL_MAX_TOKENS)
		b->size = RL_MAX_TOKENS;
	b->tokens = (int64_t)b->size; /* start full: a fresh device may burst */
	b->frac = 0;
	b->last_ns = now;
}

/*
 * Bring the bucket up to `now`. Elapsed time times rate, in 1e-9 tokens,
 * plus the fraction carried from the last call: whole tokens are added,
 * the remainder is carried again, so nothing is lost to rounding however
 * often this runs. 128 bits: both factors may be near 2^64.
 */
static void bucket_refill(struct rl_bucket *b, uint64_t now)
{
	unsigned __int128 earned, add;

	if (!b->rate || now <= b->last_ns)
		return;
	earned = (unsigned __int128)(now - b->last_ns) * b->rate + b->frac;
	b->last_ns = now;
	add = earned / NS_PER_S;
	/* size - tokens: at most 2 * RL_MAX_TOKENS, never negative. */
	if (add >= (unsigned __int128)((int64_t)b->size - b->tokens)) {
		b->tokens = (int64_t)b->size;
		b->frac = 0; /* a full bucket earns nothing more */
		return;
	}
	b->tokens += (int64_t)add;
	b->frac = (uint64_t)(earned % NS_PER_S);
}

/* Tokens a request of `n` needs present: all of n, or a full bucket when n
 * is larger than the bucket (see "oversized" in ratelimit.h). */
static int64_t bucket_need(const struct rl_bucket *b, uint64_t n)
{
	return (int64_t)(n < b->size ? n : b->size);
}

/* Nanoseconds until `n` can be taken; the bucket is up to date. */
static uint64_t bucket_wait(const struct rl_bucket *b, uint64_t n)
{
	unsigned __int128 missing, ns;
	int64_t short_by;

	if (!b->rate || n == 0)
		return 0;
	short_by = bucket_need(b, n) - b->tokens;
	if (short_by <= 0)
		return 0;
	/* In 1e-9 tokens, less the fraction already earned (frac < 1e9 <=
	 * short_by * 1e9). Rounded up: waking early would only re-arm. */
	missing = (unsigned __int128)short_by * NS_PER_S - b->frac;
	ns = (missing + b->rate - 1) / b->rate;
	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static void bucket_take(struct rl_bucket *b, uint64_t n)
{
	if (!b->rate)
		return;
	if (n > RL_MAX_TOKENS)
		n = RL_MAX_TOKENS;
	b->tokens -= (int64_t)n;
}

int rl_init(struct ratelimit *rl, const struct rl_config *cfg,
	    struct evloop *loop, ev_callback *cb)
{
	uint64_t now = now_ns();
	int ret;

	memset(rl, 0, sizeof(*rl));
	rl->timer.fd = -1;
	if (!rl_config_enabled(cfg))
		return 0;
	bucket_init(&rl->ops, cfg->ops, cfg->ops_burst, now);
	bucket_init(&rl->bytes, cfg->bytes, cfg->bytes_burst, now);
	rl->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rl->timer.fd < 0) {
		ret = -errno;
		goto err;
	}
	rl->has_timer = true;
	rl->timer.cb = cb;
	if (loop) {
		ret = evloop_add(loop, &rl->timer, EPOLLIN);
		if (ret)
			goto err;
		rl->loop = loop;
		rl->watched = true;
	}
	return 0;
err:
	rl_destroy(rl);
	return ret;
}

bool rl_enabled(const struct ratelimit *rl)
{
	return rl->ops.rate || rl->bytes.rate;
}

uint64_t rl_wait_ns(struct ratelimit *rl, uint64_t ops, uint64_t bytes,
		    uint64_t now)
{
	uint64_t a, b;

	if (!rl_enabled(rl))
		return 0;
	bucket_refill(&rl->ops, now);
	bucket_refill(&rl->bytes, now);
	a = bucket_wait(&rl->ops, ops);
	b = bucket_wait(&rl->bytes, bytes);
	return a > b ? a : b;
}

/* Make the timer fire `wait_ns` after `now`, unless it is already set to
 * fire no later than that. */
static void arm(struct ratelimit *rl, uint64_t now, uint64_t wait_ns)
{
	struct itimerspec its = { 0 };
	uint64_t deadline = wait_ns > UINT64_MAX - now ? UINT64_MAX : now + wait_ns;
	uint64_t secs = wait_ns / NS_PER_S;

	if (!rl->watched || (rl->armed && rl->deadline_ns <= deadline))
		return;
	if (secs > RL_MAX_TIMER_S)
		secs = RL_MAX_TIMER_S;
	its.it_value.tv_sec = (time_t)secs;
	its.it_value.tv_nsec = (long)(wait_ns % NS_PER_S);
	/* An all-zero it_value would disarm the timer instead. */
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(rl->timer.fd, 0, &its, NULL) < 0) {
		log_warn("rate limiter: timerfd_settime: %s", strerror(errno));
		return;
	}
	rl->armed = true;
	rl->deadline_ns = deadline;
}

bool rl_consume(struct ratelimit *rl, uint64_t ops, uint64_t bytes,
		uint64_t now)
{
	uint64_t wait;

	if (!rl_enabled(rl))
		return true;
	wait = rl_wait_ns(rl, ops, bytes, now);
	if (wait) {
		rl->throttled++;
		arm(rl, now, wait);
		return false;
	}
	bucket_take(&rl->ops, ops);
	bucket_take(&rl->bytes, bytes);
	return true;
}

void rl_timer_ack(struct ratelimit *rl)
{
	uint64_t n;

	if (!rl->has_timer)
		return;
	if (read(rl->timer.fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("rate limiter: timerfd read: %s", strerror(errno));
	rl->armed = false;
}

void rl_destroy(struct ratelimit *rl)
{
	/* A destroyed loop has closed its epoll fd (and its number may be
	 * reused by now): nothing to unwatch then. */
	if (rl->watched && rl->loop->epfd >= 0)
		evloop_del(rl->loop, &rl->timer);
	if (rl->has_timer)
		close(rl->timer.fd);
	rl->watched = false;
	rl->has_timer = false;
	rl->armed = false;
	rl->loop = NULL;
	rl->timer.fd = -1;
	rl->ops.rate = 0;
	rl->bytes.rate = 0;
}
