/* SPDX-License-Identifier: MIT */
/*
 * The device event loop: one epoll thread that runs device back-ends.
 * Guest kicks arrive as eventfds (KVM ioeventfd), host I/O completions and
 * host streams as fds; handlers run one at a time on the loop thread, so a
 * device's back-end state needs no lock against itself.
 */
#ifndef COCOON_EVLOOP_H
#define COCOON_EVLOOP_H

#include <pthread.h>
#include <sys/epoll.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct ev_handler;
typedef void ev_callback(struct ev_handler *h, uint32_t events);

struct ev_handler {
	int fd;
	ev_callback *cb; /* runs on the loop thread with the epoll events */
};

struct evloop {
	int epfd;
	int wake_fd;  /* eventfd: asks the thread to stop */
	pthread_t thread;
	bool started;
	bool stopping;
	int sb_thread;  /* the sandbox filter its thread loads (enum sb_thread,
			 * sandbox.h); 0, the default, is the VM's event loop */
	/* The batch being dispatched (loop thread only), so that evloop_del
	 * can drop a deleted handler's pending events. */
	struct epoll_event *batch;
	int batch_n, batch_next;
};

int evloop_init(struct evloop *loop) __must_check;

/* Watch h->fd for `events` (EPOLLIN, ...). The handler must stay alive and
 * at the same address until evloop_del or the loop is destroyed. */
int evloop_add(struct evloop *loop, struct ev_handler *h, uint32_t events) __must_check;
int evloop_mod(struct evloop *loop, struct ev_handler *h, uint32_t events) __must_check;
/* Stop watching h. From a handler on the loop thread, h's events still
 * pending in the current batch are dropped too, so h may be freed at once. */
void evloop_del(struct evloop *loop, struct ev_handler *h);

/*
 * Wait up to timeout_ms (-1: forever, 0: not at all) for ready handlers and
 * run one batch of them on the calling thread. What the loop's thread does
 * each turn; tests and fuzzers call it to drive devices without the thread
 * (never both at once). Returns the handlers run, or -errno.
 */
int evloop_dispatch(struct evloop *loop, int timeout_ms);

int evloop_start(struct evloop *loop) __must_check;

/* Stop the thread (after its current handler) and wait for it. Idempotent. */
void evloop_stop(struct evloop *loop);

/* Stop, then close the loop's own fds (not the handlers'). */
void evloop_destroy(struct evloop *loop);

#endif
