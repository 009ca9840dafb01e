/* SPDX-License-Identifier: MIT */
#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#define EVLOOP_BATCH 32

int evloop_init(struct evloop *loop)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	memset(loop, 0, sizeof(*loop));
	loop->wake_fd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0 ||
	    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0) {
		int err = -errno;

		evloop_destroy(loop);
		return err;
	}
	return 0;
}

int evloop_add(struct evloop *loop, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0 ? -errno : 0;
}

int evloop_mod(struct evloop *loop, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *loop, struct ev_handler *h)
{
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	/* Called from a handler, h may still have events later in the batch
	 * being dispatched: forget them, so that the caller may free h now. */
	for (int i = loop->batch_next; i < loop->batch_n; i++)
		if (loop->batch[i].data.ptr == h)
			loop->batch[i].data.ptr = NULL;
}

int evloop_dispatch(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, timeout_ms);
	int ran = 0;

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->batch = evs;
	loop->batch_n = n;
	for (int i = 0; i < n; i++) {
		struct ev_handler *h = evs[i].data.ptr;

		loop->batch_next = i + 1;
		if (!h) /* the wake eventfd, or a handler deleted meanwhile */
			continue;
		h->cb(h, evs[i].events);
		ran++;
	}
	loop->batch_n = 0;
	loop->batch = NULL;
	return ran;
}

static void *evloop_thread(void *arg)
{
	struct evloop *loop = arg;

	sb_thread_enter((enum sb_thread)loop->sb_thread);
	while (!__atomic_load_n(&loop->stopping, __ATOMIC_ACQUIRE)) {
		int ret = evloop_dispatch(loop, -1);

		if (ret < 0) {
			log_error("event loop: epoll_wait: %s", strerror(-ret));
			break;
		}
	}
	return NULL;
}

int evloop_start(struct evloop *loop)
{
	int ret = pthread_create(&loop->thread, NULL, evloop_thread, loop);

	if (ret)
		return -ret;
	loop->started = true;
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;

	if (!loop->started)
		return;
	__atomic_store_n(&loop->stopping, true, __ATOMIC_RELEASE);
	if (write(loop->wake_fd, &one, sizeof(one)) < 0)
		log_debug("event loop wake: %s", strerror(errno));
	pthread_join(loop->thread, NULL);
	loop->started = false;
}

void evloop_destroy(struct evloop *loop)
{
	evloop_stop(loop);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->wake_fd = loop->epfd = -1;
}
