/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous file I/O: an io_uring engine and a thread-pool engine behind
 * the interface of aio.h. Both report to the event loop through one
 * eventfd; a `ready` list, also drained by the eventfd handler, carries
 * requests that finish without reaching an engine (nothing to move, or no
 * room to resubmit).
 */
#include "aio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

struct aio {
	enum aio_engine engine;
	struct evloop *loop;
	struct ev_handler h;     /* watches efd */
	int efd;
	unsigned int depth;
	unsigned int inflight;   /* loop thread only */
	aio_complete_fn *complete;
	void *opaque;
	struct aio_req *ready, **ready_tail; /* loop thread only */

	/* io_uring */
	struct io_uring ring;
	bool ring_up;
	unsigned int unsubmitted;

	/* threads */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool sync_up;
	bool stop;
	struct aio_req *queue, **queue_tail;
	struct aio_req *done, **done_tail;
	pthread_t workers[AIO_NR_THREADS];
	unsigned int nr_workers;
};

static bool is_rw(const struct aio_req *r)
{
	return r->op == AIO_READV || r->op == AIO_WRITEV;
}

/* Drop `n` bytes from the front of the request's iovecs, and any empty
 * iovecs left at the front. */
static void iov_advance(struct aio_req *r, uint64_t n)
{
	while (r->niov) {
		if (n >= r->iov[0].iov_len) {
			n -= r->iov[0].iov_len;
			r->iov++;
			r->niov--;
			continue;
		}
		if (n == 0)
			return;
		r->iov[0].iov_base = (uint8_t *)r->iov[0].iov_base + n;
		r->iov[0].iov_len -= n;
		return;
	}
}

static void append(struct aio_req ***tail, struct aio_req *r)
{
	r->next = NULL;
	**tail = r;
	*tail = &r->next;
}

static void signal_efd(struct aio *a)
{
	uint64_t one = 1;

	if (write(a->efd, &one, sizeof(one)) < 0)
		log_debug("aio eventfd: %s", strerror(errno));
}

/* Finish `r` with `res` without an engine: delivered by the next handler
 * run, never from inside aio_submit. */
static void finish_later(struct aio *a, struct aio_req *r, int64_t res)
{
	r->res = res;
	append(&a->ready_tail, r);
	signal_efd(a);
}

/* ---- io_uring ------------------------------------------------------------- */

static int uring_prep(struct aio *a, struct aio_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
	unsigned int niov = r->niov < IOV_MAX ? r->niov : IOV_MAX;

	if (!sqe) {
		/* The ring has as many entries as requests may be in flight,
		 * so this only happens with a batch still unsubmitted. */
		aio_flush(a);
		sqe = io_uring_get_sqe(&a->ring);
		if (!sqe)
			return -EBUSY;
	}
	switch (r->op) {
	case AIO_READV:
		io_uring_prep_readv(sqe, r->fd, r->iov, niov, r->off);
		break;
	case AIO_WRITEV:
		io_uring_prep_writev(sqe, r->fd, r->iov, niov, r->off);
		sqe->rw_flags = r->rw_flags;
		break;
	case AIO_FDATASYNC:
		io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
		break;
	case AIO_FALLOCATE:
		io_uring_prep_fallocate(sqe, r->fd, r->mode, (off_t)r->off,
					(off_t)r->len);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
	a->unsubmitted++;
	return 0;
}

/* One CQE for `r`: true when the request is finished (r->res set), false
 * when the rest of a short transfer went back to the ring. */
static bool uring_step(struct aio *a, struct aio_req *r, int res)
{
	if (res < 0) {
		r->res = res;
		return true;
	}
	if (!is_rw(r)) {
		r->res = 0;
		return true;
	}
	if (res == 0) {
		/* The end of the file (it shrank under us), or a device
		 * that takes nothing more. */
		r->res = -EIO;
		return true;
	}
	r->done_ += (uint64_t)res;
	if (r->done_ >= r->total_) {
		r->res = (int64_t)r->done_;
		return true;
	}
	r->off += (uint64_t)res;
	iov_advance(r, (uint64_t)res);
	if (uring_prep(a, r)) {
		r->res = -EIO;
		return true;
	}
	return false;
}

static void uring_reap(struct aio *a, struct aio_req ***tail)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(&a->ring, head, cqe) {
		struct aio_req *r = io_uring_cqe_get_data(cqe);

		seen++;
		if (r && uring_step(a, r, cqe->res))
			append(tail, r);
	}
	io_uring_cq_advance(&a->ring, seen);
}

/* Set up the ring, or say why not. Every operation we use must be there. */
static int uring_init(struct aio *a)
{
	static const int ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				   IORING_OP_FALLOCATE };
	struct io_uring_probe *probe;
	int ret = io_uring_queue_init(a->depth, &a->ring, 0);

	if (ret < 0)
		return ret;
	probe = io_uring_get_probe_ring(&a->ring);
	if (!probe) {
		ret = -ENOSYS;
		goto err;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		if (!io_uring_opcode_supported(probe, ops[i]))
			ret = -ENOSYS;
	}
	io_uring_free_probe(probe);
	if (ret)
		goto err;
	ret = io_uring_register_eventfd(&a->ring, a->efd);
	if (ret < 0)
		goto err;
	a->ring_up = true;
	return 0;

err:
	io_uring_queue_exit(&a->ring);
	return ret;
}

/* Wait for every request the kernel holds: after this, nothing writes to
 * their buffers. */
static void uring_drain(struct aio *a)
{
	unsigned int held;

	aio_flush(a);
	held = a->inflight;
	for (struct aio_req *r = a->ready; r; r = r->next)
		held--; /* finished already, never in the kernel */
	/* Entries a failed submit left in the ring never reach the kernel:
	 * io_uring_queue_exit drops them. */
	held = held > a->unsubmitted ? held - a->unsubmitted : 0;
	while (held) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_wait_cqe(&a->ring, &cqe);

		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			log_warn("aio: waiting for io_uring completions: %s",
				 strerror(-ret));
			break;
		}
		if (io_uring_cqe_get_data(cqe))
			held--;
		io_uring_cqe_seen(&a->ring, cqe);
	}
}

/* ---- threads -------------------------------------------------------------- */

static int64_t run_rw(struct aio_req *r)
{
	uint64_t done = 0;

	iov_advance(r, 0);
	while (r->niov) {
		int n = r->niov < IOV_MAX ? (int)r->niov : IOV_MAX;
		ssize_t got = r->op == AIO_READV ?
			preadv(r->fd, r->iov, n, (off_t)r->off) :
			pwritev2(r->fd, r->iov, n, (off_t)r->off, r->rw_flags);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		done += (uint64_t)got;
		r->off += (uint64_t)got;
		iov_advance(r, (uint64_t)got);
	}
	return (int64_t)done;
}

static int64_t run_one(struct aio_req *r)
{
	switch (r->op) {
	case AIO_READV:
	case AIO_WRITEV:
		return run_rw(r);
	case AIO_FDATASYNC:
		return fdatasync(r->fd) < 0 ? -errno : 0;
	case AIO_FALLOCATE:
		if (fallocate(r->fd, r->mode, (off_t)r->off, (off_t)r->len) < 0)
			return -errno;
		return 0;
	}
	return -EINVAL;
}

static void *worker(void *arg)
{
	struct aio *a = arg;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		struct aio_req *r;

		while (!a->stop && !a->queue)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->stop)
			break;
		r = a->queue;
		a->queue = r->next;
		if (!a->queue)
			a->queue_tail = &a->queue;
		pthread_mutex_unlock(&a->lock);

		/* Workers start in vm_prepare, before the sandbox exists: each
		 * confines itself before its first request (all from the guest). */
		sb_thread_enter(SB_AIO);
		r->res = run_one(r);

		pthread_mutex_lock(&a->lock);
		append(&a->done_tail, r);
		signal_efd(a);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static int threads_init(struct aio *a)
{
	int ret = pthread_mutex_init(&a->lock, NULL);

	if (ret)
		return -ret;
	ret = pthread_cond_init(&a->cond, NULL);
	if (ret) {
		pthread_mutex_destroy(&a->lock);
		return -ret;
	}
	a->sync_up = true;
	a->queue_tail = &a->queue;
	a->done_tail = &a->done;
	for (unsigned int i = 0; i < AIO_NR_THREADS; i++) {
		ret = pthread_create(&a->workers[i], NULL, worker, a);
		if (ret)
			return -ret; /* aio_destroy joins those started */
		a->nr_workers++;
	}
	return 0;
}

/* Stop the workers: each finishes the system call it is in; requests
 * still queued are dropped. */
static void threads_stop(struct aio *a)
{
	if (!a->sync_up)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	for (unsigned int i = 0; i < a->nr_workers; i++)
		pthread_join(a->workers[i], NULL);
	a->nr_workers = 0;
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	a->sync_up = false;
}

/* ---- common --------------------------------------------------------------- */

static void on_event(struct ev_handler *h, uint32_t events)
{
	struct aio *a = container_of(h, struct aio, h);
	struct aio_req *list, **tail;
	uint64_t count;

	(void)events;
	if (read(a->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_debug("aio eventfd: %s", strerror(errno));
	/* Requests finished without an engine come first: they are older
	 * than anything the engine can report now. */
	list = a->ready;
	tail = a->ready ? a->ready_tail : &list;
	a->ready = NULL;
	a->ready_tail = &a->ready;
	if (a->engine == AIO_IO_URING) {
		uring_reap(a, &tail);
		aio_flush(a); /* continuations of short transfers */
	} else {
		pthread_mutex_lock(&a->lock);
		if (a->done) {
			*tail = a->done;
			tail = a->done_tail;
			a->done = NULL;
			a->done_tail = &a->done;
		}
		pthread_mutex_unlock(&a->lock);
	}
	if (!list)
		return;
	for (struct aio_req *r = list; r; r = r->next)
		a->inflight--;
	a->complete(a->opaque, list);
}

int aio_engine_parse(const char *s, enum aio_engine *out)
{
	if (!strcmp(s, "auto"))
		*out = AIO_AUTO;
	else if (!strcmp(s, "io_uring") || !strcmp(s, "uring"))
		*out = AIO_IO_URING;
	else if (!strcmp(s, "threads"))
		*out = AIO_THREADS;
	else
		return -EINVAL;
	return 0;
}

int aio_create(struct aio **out, struct evloop *loop, enum aio_engine engine,
	       unsigned int depth, aio_complete_fn *complete, void *opaque)
{
	struct aio *a;
	int ret;

	*out = NULL;
	/* A sane bound; io_uring itself allows up to 32768 entries. */
	if (depth == 0 || depth > 4096 || !complete)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->depth = depth;
	a->complete = complete;
	a->opaque = opaque;
	a->ready_tail = &a->ready;
	a->h.fd = a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->h.cb = on_event;
	if (a->efd < 0) {
		ret = -errno;
		goto err;
	}

	ret = -ENOSYS;
	if (engine != AIO_THREADS) {
		ret = uring_init(a);
		if (ret && engine == AIO_IO_URING)
			goto err;
		if (ret)
			log_debug("aio: io_uring unusable (%s), using threads",
				  strerror(-ret));
	}
	if (ret) {
		a->engine = AIO_THREADS;
		ret = threads_init(a);
		if (ret)
			goto err;
	} else {
		a->engine = AIO_IO_URING;
	}
	ret = evloop_add(loop, &a->h, EPOLLIN);
	if (ret)
		goto err;
	*out = a;
	return 0;

err:
	a->loop = NULL; /* not watched yet */
	aio_destroy(a);
	return ret;
}

int aio_submit(struct aio *a, struct aio_req *r)
{
	int ret;

	if (a->inflight >= a->depth)
		return -EBUSY;
	r->res = 0;
	r->done_ = 0;
	r->total_ = 0;
	r->next = NULL;
	if (is_rw(r)) {
		for (unsigned int i = 0; i < r->niov; i++)
			r->total_ += r->iov[i].iov_len;
		iov_advance(r, 0);
	}
	a->inflight++;
	if (is_rw(r) && r->total_ == 0) {
		finish_later(a, r, 0);
		return 0;
	}
	if (a->engine == AIO_IO_URING) {
		ret = uring_prep(a, r);
		if (ret) {
			a->inflight--;
			return ret;
		}
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	append(&a->queue_tail, r);
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

void aio_flush(struct aio *a)
{
	int ret;

	if (a->engine != AIO_IO_URING || !a->unsubmitted)
		return;
	do {
		ret = io_uring_submit(&a->ring);
	} while (ret == -EINTR);
	if (ret < 0) {
		/* The entries stay in the ring and go with the next flush. */
		log_warn("aio: io_uring_submit: %s", strerror(-ret));
		return;
	}
	a->unsubmitted = (unsigned int)ret >= a->unsubmitted ? 0 :
			 a->unsubmitted - (unsigned int)ret;
}

unsigned int aio_inflight(const struct aio *a)
{
	return a->inflight;
}

const char *aio_engine_name(const struct aio *a)
{
	return a->engine == AIO_IO_URING ? "io_uring" : "threads";
}

void aio_destroy(struct aio *a)
{
	if (!a)
		return;
	if (a->loop && a->loop->epfd >= 0)
		evloop_del(a->loop, &a->h);
	if (a->ring_up) {
		uring_drain(a);
		io_uring_queue_exit(&a->ring);
	}
	threads_stop(a);
	if (a->efd >= 0)
		close(a->efd);
	free(a);
}
