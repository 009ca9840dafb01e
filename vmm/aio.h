/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous file I/O for device back-ends, completed on the event loop.
 *
 * Two engines behind one interface:
 *   io_uring  requests go to a ring (liburing); the ring posts to an eventfd
 *             that the event loop watches, and the loop reaps completions;
 *   threads   AIO_NR_THREADS workers run the system calls taken from a
 *             bounded queue and post completions through an eventfd that
 *             the event loop watches.
 * AIO_AUTO picks io_uring when the kernel lets us set up a ring offering
 * every operation below (it may be missing, or refused: ENOSYS, EPERM under
 * a seccomp policy or kernel.io_uring_disabled), threads otherwise.
 *
 * Threading: aio_submit, aio_flush and the completion callback run on one
 * thread at a time: the event-loop thread once it runs (a test may drive
 * the loop's handlers from its own thread instead). Nothing here blocks
 * that thread on the disk.
 *
 * The buffers a request names (iovecs) must stay valid until its
 * completion is delivered or aio_destroy returned: they are typically
 * guest memory, which outlives the device.
 */
#ifndef COCOON_AIO_H
#define COCOON_AIO_H

#include <stdint.h>
#include <sys/uio.h>

#include "evloop.h"
#include "util.h"

#define AIO_NR_THREADS 4u

enum aio_engine {
	AIO_AUTO,
	AIO_IO_URING,
	AIO_THREADS,
};

enum aio_op {
	AIO_READV,     /* read iov from fd at off, all of it */
	AIO_WRITEV,    /* write iov to fd at off, all of it, with rw_flags */
	AIO_FDATASYNC, /* fdatasync(fd) */
	AIO_FALLOCATE, /* fallocate(fd, mode, off, len) */
};

struct aio_req {
	/* Set by the submitter. */
	enum aio_op op;
	int fd;
	struct iovec *iov;  /* READV/WRITEV; consumed in place (see aio_submit) */
	unsigned int niov;
	uint64_t off;       /* file offset; advanced in place by READV/WRITEV */
	uint64_t len;       /* FALLOCATE: bytes */
	int mode;           /* FALLOCATE: FALLOC_FL_* */
	int rw_flags;       /* WRITEV: RWF_* (e.g. RWF_DSYNC) */
	/* Set at completion: READV/WRITEV the bytes moved (always all of
	 * them), others 0; or -errno. A read that meets the end of the file
	 * first fails with -EIO. */
	int64_t res;
	/* Private. */
	uint64_t total_, done_;
	struct aio_req *next; /* links the completion list */
};

/* Completions, oldest first, linked through ->next. Runs on the loop
 * thread; it may submit new requests (and should aio_flush them). */
typedef void aio_complete_fn(void *opaque, struct aio_req *done);

struct aio;

/*
 * Create an engine whose completion eventfd is watched by `loop` (added
 * now; the loop need not run yet). At most `depth` requests are in flight
 * at once. `complete(opaque, list)` receives finished requests. Returns 0,
 * -EINVAL for a bad depth, -ENOSYS when io_uring was asked for and is not
 * usable, or -errno.
 */
int aio_create(struct aio **out, struct evloop *loop, enum aio_engine engine,
	       unsigned int depth, aio_complete_fn *complete,
	       void *opaque) __must_check;

/*
 * Queue one request. READV/WRITEV move every byte of iov (short transfers
 * are continued), modifying iov, niov and off as they go. Returns 0, or
 * -EBUSY when `depth` requests are already in flight. The request may
 * only start at the next aio_flush.
 */
int aio_submit(struct aio *aio, struct aio_req *req) __must_check;

/* Start everything submitted since the last flush (one system call for a
 * batch with io_uring). */
void aio_flush(struct aio *aio);

/* Requests submitted and not yet delivered to the callback. */
unsigned int aio_inflight(const struct aio *aio);

/* "io_uring" or "threads". */
const char *aio_engine_name(const struct aio *aio);

/* Parse "auto", "io_uring" (or "uring") and "threads". 0 or -EINVAL. */
int aio_engine_parse(const char *s, enum aio_engine *out) __must_check;

/*
 * Tear down. No handler of this engine may be running; waits until no
 * system call can touch a request's buffers any more (requests not started
 * are dropped); callbacks are not called. Safe on NULL.
 */
void aio_destroy(struct aio *aio);

#endif
