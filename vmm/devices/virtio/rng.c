/* SPDX-License-Identifier: MIT */
/* virtio-rng (virtio 1.2 section 5.4); see rng.h. */
#include "rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "../../log.h"

#define VRNG_QUEUE 0u

/* What to do with a popped chain. */
enum vrng_serve {
	SERVE_FILL,  /* fill its writable part */
	SERVE_EMPTY, /* complete it with length 0 (malformed or wrong way) */
};

struct vrng {
	struct virtio_dev vdev;
	struct evloop *loop;
	struct ev_handler kick; /* kick.fd: the request queue's eventfd */
	bool watched;           /* kick is registered with loop */
	struct ratelimit rl;    /* zeroed (no limit) unless set */
	/* Under dev->lock: the chain being served, and whether it is one the
	 * limiter refused (popped, not served yet) and how to serve it. */
	struct virtq_chain chain;
	bool pending;
	enum vrng_serve pending_serve;
};

static struct vrng *to_vrng(struct virtio_dev *dev)
{
	return container_of(dev, struct vrng, vdev);
}

static void kick_self(struct vrng *rng)
{
	uint64_t one = 1;

	/* Cannot block: an eventfd counter saturates long after. */
	if (write(rng->kick.fd, &one, sizeof(one)) < 0)
		log_debug("virtio-rng: kick: %s", strerror(errno));
}

/*
 * Fill up to `len` bytes of the chain's writable part. getrandom() blocks
 * only until the host's pool is first seeded, which on a running host is
 * long past; it may return less than asked (signals, >32 MiB), so loop.
 * Returns the bytes filled.
 */
static uint32_t fill(const struct virtq_chain *chain, uint32_t len)
{
	struct iovec iov[VIRTQ_MAX_SEGS];
	unsigned int n = virtq_chain_iov(chain, true, 0, len, iov, VIRTQ_MAX_SEGS);
	uint32_t done = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left) {
			ssize_t r = getrandom(p, left, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				log_warn("virtio-rng: getrandom: %s",
					 r < 0 ? strerror(errno) : "no bytes");
				return done;
			}
			p += r;
			left -= (size_t)r;
			done += (uint32_t)r;
		}
	}
	return done;
}

/* Pop the next chain and decide how to serve it; false when there is
 * none (empty, broken, or the device is not active). dev->lock held. */
static bool next_chain(struct vrng *rng, enum vrng_serve *serve)
{
	int ret = virtio_dev_pop(&rng->vdev, VRNG_QUEUE, &rng->chain);

	if (ret == -EAGAIN || ret == -EIO)
		return false;
	*serve = SERVE_FILL;
	if (ret == -EBADMSG) {
		*serve = SERVE_EMPTY;
	} else if (rng->chain.nr_readable || !rng->chain.writable_len) {
		/* 5.4.6.1: requests are device-writable only. */
		log_guest_once("virtio-rng: request with a readable part or "
			       "nothing writable");
		*serve = SERVE_EMPTY;
	}
	return true;
}

bool vrng_process(struct vrng *rng)
{
	struct virtio_dev *dev = &rng->vdev;
	uint32_t budget = VRNG_MAX_BATCH;
	bool more = false;

	virtio_dev_lock(dev);
	while (budget) {
		enum vrng_serve serve;
		uint32_t want = 0;

		/* A chain the limiter refused last time comes before the
		 * ring's (a reset cleared it). */
		if (rng->pending) {
			serve = rng->pending_serve;
		} else if (!next_chain(rng, &serve)) {
			break;
		}
		if (serve == SERVE_FILL) {
			want = rng->chain.writable_len;
			if (want > VRNG_MAX_REQUEST)
				want = VRNG_MAX_REQUEST;
			if (want > budget)
				want = budget;
		}
		/* Every chain is an operation, also one completed empty. */
		if (rl_enabled(&rng->rl) && !rl_consume(&rng->rl, 1, want, now_ns())) {
			rng->pending = true;
			rng->pending_serve = serve;
			break;
		}
		rng->pending = false;
		if (want)
			want = fill(&rng->chain, want);
		budget -= want;
		virtio_dev_push(dev, VRNG_QUEUE, rng->chain.head, want);
	}
	/* Out of budget: the queue may hold more; come back after the other
	 * handlers had their turn instead of serving one guest forever. */
	if (!budget) {
		more = true;
		kick_self(rng);
	}
	virtio_dev_notify_queue(dev, VRNG_QUEUE);
	virtio_dev_unlock(dev);
	return more;
}

/* The rate limiter's timer: tokens for the pending request are there. */
static void vrng_rl_timer(struct ev_handler *h, uint32_t events)
{
	struct vrng *rng = container_of(h, struct vrng, rl.timer);

	(void)events;
	rl_timer_ack(&rng->rl);
	vrng_process(rng);
}

static void vrng_kicked(struct ev_handler *h, uint32_t events)
{
	struct vrng *rng = container_of(h, struct vrng, kick);
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("virtio-rng: kick read: %s", strerror(errno));
	vrng_process(rng);
}

/* A kick that no ioeventfd caught (vCPU thread, lock held): hand it to the
 * event loop rather than fill buffers on the vCPU thread. */
static void vrng_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	(void)q;
	kick_self(to_vrng(dev));
}

static int vrng_activate(struct virtio_dev *dev)
{
	/* Buffers may have been posted before DRIVER_OK without a kick. */
	kick_self(to_vrng(dev));
	return 0;
}

/* dev->lock held. A chain held back by the limiter belongs to the old
 * ring: forget it (its head may come back in a new request). */
static void vrng_reset(struct virtio_dev *dev)
{
	to_vrng(dev)->pending = false;
}

static const struct virtio_dev_ops vrng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.features = VIRTIO_RING_FEATURES,
	.nr_queues = 1,
	.queue_max = { VRNG_QUEUE_SIZE },
	.config_size = 0, /* 5.4.4: no configuration */
	.queue_notify = vrng_queue_notify,
	.activate = vrng_activate,
	.reset = vrng_reset,
};

int vrng_create(const struct guest_mem *mem, struct evloop *loop, struct vrng **out)
{
	struct vrng *rng = calloc(1, sizeof(*rng));
	int ret;

	if (!rng)
		return -ENOMEM;
	rng->kick.fd = -1;
	ret = virtio_dev_init(&rng->vdev, &vrng_ops, mem, NULL, NULL);
	if (ret)
		goto err_free;
	rng->kick.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rng->kick.fd < 0) {
		ret = -errno;
		goto err_dev;
	}
	rng->kick.cb = vrng_kicked;
	if (loop) {
		ret = evloop_add(loop, &rng->kick, EPOLLIN);
		if (ret)
			goto err_close;
		rng->loop = loop;
		rng->watched = true;
	}
	*out = rng;
	return 0;

err_close:
	close(rng->kick.fd);
err_dev:
	virtio_dev_destroy(&rng->vdev);
err_free:
	free(rng);
	return ret;
}

struct virtio_dev *vrng_dev(struct vrng *rng)
{
	return &rng->vdev;
}

int vrng_kick_fd(const struct vrng *rng)
{
	return rng->kick.fd;
}

int vrng_set_ratelimit(struct vrng *rng, const struct rl_config *cfg)
{
	rl_destroy(&rng->rl);
	return rl_init(&rng->rl, cfg, rng->loop, vrng_rl_timer);
}

void vrng_destroy(struct virtio_dev *dev)
{
	struct vrng *rng;

	if (!dev)
		return;
	rng = to_vrng(dev);
	/* The loop may already be gone (vm_destroy stops it first); then
	 * epoll_ctl fails harmlessly on its closed fd. */
	if (rng->watched && rng->loop->epfd >= 0)
		evloop_del(rng->loop, &rng->kick);
	rl_destroy(&rng->rl);
	if (rng->kick.fd >= 0)
		close(rng->kick.fd);
	virtio_dev_destroy(&rng->vdev);
	free(rng);
}
