/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk, virtio 1.2 section 5.2. The contract is in blk.h; the
 * comments here cite the spec for each rule.
 *
 * Life of a request, all on the event-loop thread:
 *   kick      vblk_process: under the device lock, pop chains, validate
 *             each, ask the rate limiter, and either complete it at once
 *             (bad or trivial) or describe its host I/O as a struct
 *             aio_req; unlock; submit. A request the limiter refuses is
 *             kept as blk->pending and popping stops; the limiter's timer
 *             (vblk_rl_timer) runs vblk_process again, which starts the
 *             pending request first.
 *   I/O       the aio engine runs it (io_uring, or worker threads).
 *   complete  vblk_aio_done: a discard or write zeroes may need more steps
 *             (one per segment, or zero writes when fallocate is refused);
 *             finished requests go to vblk_finish, which pushes them under
 *             the lock, unless the device was reset since they were popped.
 * The request pool has VBLK_QUEUE_SIZE entries: when it runs dry (only
 * possible while requests from before a reset are still on the disk), the
 * ring is left alone until a completion frees one.
 */
#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/virtio_blk.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../aio.h"
#include "../../log.h"

#define HDR_SIZE 16u  /* struct virtio_blk_outhdr: type, reserved, sector */
#define SEG_SIZE 16u  /* struct virtio_blk_discard_write_zeroes */
#define SECTOR VBLK_SECTOR_SIZE
/* Device configuration up to write_zeroes_may_unmap and its padding; the
 * secure-erase and zoned fields belong to features we do not offer. */
#define CONFIG_SIZE offsetof(struct virtio_blk_config, max_secure_erase_sectors)
#define MAX_RANGES (VBLK_MAX_DISCARD_SEG > VBLK_MAX_WRITE_ZEROES_SEG ? \
		    VBLK_MAX_DISCARD_SEG : VBLK_MAX_WRITE_ZEROES_SEG)
/* Zeroes written by hand (when fallocate cannot) go out in pieces of at
 * most ZERO_IOVS * sizeof(zeroes) bytes. */
#define ZERO_IOVS 16u

static const uint8_t zeroes[64 * 1024];

enum prep_result {
	PREP_IO,        /* req->aio describes host I/O to submit */
	PREP_DONE,      /* complete now with req->status_val */
	PREP_MALFORMED, /* complete now with length 0, no status */
};

/* How a write-zeroes range is being zeroed; each falls back to the next
 * when the file system refuses it. */
enum zero_mode {
	ZERO_PUNCH,     /* FALLOC_FL_PUNCH_HOLE: only with the unmap flag */
	ZERO_RANGE,     /* FALLOC_FL_ZERO_RANGE */
	ZERO_WRITE,     /* write zeroes */
};

struct vblk_range {
	uint64_t sector;
	uint32_t nr_sectors;
	bool unmap;
};

struct vblk_req {
	struct aio_req aio;      /* the host I/O step in progress */
	struct vblk_req *next;   /* free list, batches */
	uint32_t reset_count;    /* dev->reset_count when popped */
	uint16_t head;
	bool malformed;
	uint8_t status_val;      /* VIRTIO_BLK_S_* */
	uint32_t type;
	uint8_t *status;         /* the chain's last writable byte */
	uint32_t used_len;       /* bytes written to the writable part */
	uint64_t bytes;          /* data bytes, for the rate limiter */
	bool dsync;              /* writes must be stable at completion */
	/* Discard and write zeroes: ranges[range] is in progress, `done`
	 * sectors of it finished, the step in flight covers `piece`. */
	unsigned int nr_ranges, range;
	uint64_t done, piece;
	enum zero_mode mode;
	struct vblk_range ranges[MAX_RANGES];
	struct iovec iov[VIRTQ_MAX_SEGS];
};

struct vblk {
	struct virtio_dev vdev;
	struct virtio_dev_ops ops;   /* per device: the offered features vary */
	uint8_t config[CONFIG_SIZE]; /* little-endian, as the driver reads it */
	int fd;
	bool read_only;
	uint64_t capacity;           /* sectors */
	char serial[VBLK_ID_BYTES];  /* NUL-padded, not terminated at 20 */
	struct evloop *loop;
	int kick_fd;
	struct ev_handler kick_h;
	bool kick_watched;
	struct aio *aio;
	struct ratelimit rl;         /* zeroed (no limit) unless set */
	/* Under dev->lock (the loop thread takes it around its queue work;
	 * vblk_reset runs with it held on a vCPU thread). */
	struct vblk_req *reqs;       /* VBLK_QUEUE_SIZE of them */
	unsigned int nr_fresh;       /* reqs[nr_fresh..] never used yet */
	struct vblk_req *free;       /* used before, free again */
	bool starved;                /* a kick found the pool empty */
	struct vblk_req *pending;    /* popped, validated, refused by rl */
	enum prep_result pending_prep; /* what prep said about it */
	/* Loop thread only. */
	bool no_punch, no_zero_range; /* fallocate modes the file refused */
	bool io_error_logged;
	struct virtq_chain chain;    /* scratch for pop (dev->lock held) */
};

static struct vblk *to_vblk(struct virtio_dev *dev)
{
	return container_of(dev, struct vblk, vdev);
}

/* ---- completing ----------------------------------------------------------- */

/* A free request, or NULL. Recycled ones first: a never-used entry is
 * taken only when none is free, so the part of the pool (about 5 KiB a
 * request) that a light load never needs is never touched. */
static struct vblk_req *req_alloc(struct vblk *blk)
{
	struct vblk_req *req = blk->free;

	if (req) {
		blk->free = req->next;
		return req;
	}
	if (blk->nr_fresh < VBLK_QUEUE_SIZE)
		return &blk->reqs[blk->nr_fresh++];
	return NULL;
}

static void req_free(struct vblk *blk, struct vblk_req *req)
{
	req->next = blk->free;
	blk->free = req;
}

/* Publish one finished request; dev->lock held. */
static void complete_locked(struct vblk *blk, struct vblk_req *req)
{
	struct virtio_dev *dev = &blk->vdev;

	/* virtio.h: a request popped before a reset belongs to a driver
	 * that is gone; its head may be in flight again for a new one. */
	if (req->reset_count != dev->reset_count) {
		log_debug("vblk: dropping a request from before a device reset");
		return;
	}
	if (req->malformed) {
		virtio_dev_push(dev, 0, req->head, 0);
		return;
	}
	/* 5.2.6: the device writes the status byte; the push publishes it
	 * (the used index is stored with release order). */
	__atomic_store_n(req->status, req->status_val, __ATOMIC_RELAXED);
	virtio_dev_push(dev, 0, req->head, req->used_len);
}

static void vblk_process(struct vblk *blk);
static void range_begin(const struct vblk *blk, struct vblk_req *req);
static bool range_step(struct vblk *blk, struct vblk_req *req);
static void io_error(struct vblk *blk, struct vblk_req *req, int64_t res);

/* Publish a list of finished requests, interrupt once, recycle them. */
static void vblk_finish(struct vblk *blk, struct vblk_req *list)
{
	struct virtio_dev *dev = &blk->vdev;
	bool starved;

	if (!list)
		return;
	virtio_dev_lock(dev);
	while (list) {
		struct vblk_req *next = list->next;

		complete_locked(blk, list);
		req_free(blk, list);
		list = next;
	}
	virtio_dev_notify_queue(dev, 0);
	starved = blk->starved;
	virtio_dev_unlock(dev);
	if (starved)
		vblk_process(blk);
}

/* ---- validation ----------------------------------------------------------- */

static enum prep_result done(struct vblk_req *req, uint8_t status)
{
	req->status_val = status;
	return PREP_DONE;
}

/* Sectors [sector, sector + n) inside the disk, without overflow. */
static bool in_capacity(const struct vblk *blk, uint64_t sector, uint64_t n)
{
	return sector <= blk->capacity && n <= blk->capacity - sector;
}

/* VIRTIO_BLK_T_IN / T_OUT (5.2.6): data follows the header (OUT, driver-
 * readable) or precedes the status byte (IN, device-writable). */
static enum prep_result prep_rw(struct vblk *blk, struct vblk_req *req,
				const struct virtq_chain *c, uint64_t sector, bool write,
				uint64_t data_out, uint64_t data_in)
{
	uint64_t len = write ? data_out : data_in;

	/* 5.2.6.2: with RO offered, every write fails with IOERR and writes
	 * nothing, whether or not the driver accepted RO. */
	if (write && blk->read_only) {
		log_guest_once("vblk: write to a read-only disk");
		return done(req, VIRTIO_BLK_S_IOERR);
	}
	/* Data in the other direction: a read with driver-readable data
	 * or a write with device-writable data. */
	if (write ? data_in : data_out) {
		log_guest_once("vblk: %s request with data in the wrong direction",
			       write ? "write" : "read");
		return done(req, VIRTIO_BLK_S_IOERR);
	}
	/* 5.2.6.1: "The length of data MUST be a multiple of 512 bytes". */
	if (len % SECTOR) {
		log_guest_once("vblk: %s of %" PRIu64 " bytes, not whole sectors",
			       write ? "write" : "read", len);
		return done(req, VIRTIO_BLK_S_IOERR);
	}
	/* 5.2.6.1: no read or write beyond capacity. */
	if (!in_capacity(blk, sector, len / SECTOR)) {
		log_guest_once("vblk: %s of %" PRIu64 " sectors at %" PRIu64
			       " past capacity %" PRIu64,
			       write ? "write" : "read", len / SECTOR, sector,
			       blk->capacity);
		return done(req, VIRTIO_BLK_S_IOERR);
	}
	req->used_len = write ? 1 : (uint32_t)len + 1;
	if (len == 0)
		return done(req, VIRTIO_BLK_S_OK);
	req->bytes = len;
	req->aio = (struct aio_req){
		.op = write ? AIO_WRITEV : AIO_READV,
		.fd = blk->fd,
		.iov = req->iov,
		/* Data starts after the header (OUT) or at the start of the
		 * writable part (IN); the status byte is not included. */
		.niov = virtq_chain_iov(c, !write, write ? HDR_SIZE : 0, len, req->iov,
					ARRAY_SIZE(req->iov)),
		.off = sector * SECTOR, /* sector <= capacity < 2^55 */
		.rw_flags = write && req->dsync ? RWF_DSYNC : 0,
	};
	return PREP_IO;
}

/* VIRTIO_BLK_T_DISCARD / T_WRITE_ZEROES (5.2.6): data is an array of
 * struct virtio_blk_discard_write_zeroes. Copies it once into req. */
static enum prep_result prep_ranges(struct vblk *blk, struct vblk_req *req,
				    const struct virtq_chain *c, uint64_t data_out,
				    uint64_t data_in)
{
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	unsigned int feature = discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
	uint64_t max_seg = discard ? VBLK_MAX_DISCARD_SEG : VBLK_MAX_WRITE_ZEROES_SEG;
	uint64_t max_sectors = discard ? VBLK_MAX_DISCARD_SECTORS :
				       VBLK_MAX_WRITE_ZEROES_SECTORS;
	uint64_t total = 0;

	if (blk->read_only) {
		log_guest_once("vblk: discard or write zeroes on a read-only disk");
		return done(req, VIRTIO_BLK_S_IOERR);
	}
	if (!virtio_dev_has_feature(&blk->vdev, feature)) {
		log_guest_once("vblk: request type %u without its feature", req->type);
		return done(req, VIRTIO_BLK_S_UNSUPP);
	}
	/* 5.2.6.1: a multiple of the segment size, at most max_*_seg of
	 * them; nothing device-writable but the status. */
	if (data_in || data_out == 0 || data_out % SEG_SIZE ||
	    data_out / SEG_SIZE > max_seg) {
		log_guest_once("vblk: discard/write zeroes with %" PRIu64 " bytes of "
			       "segments, %" PRIu64 " writable", data_out, data_in);
		return done(req, VIRTIO_BLK_S_IOERR);
	}
	req->nr_ranges = (unsigned int)(data_out / SEG_SIZE);
	for (unsigned int i = 0; i < req->nr_ranges; i++) {
		struct vblk_range *r = &req->ranges[i];
		uint8_t seg[SEG_SIZE];
		uint32_t flags;

		virtq_chain_read(c, HDR_SIZE + (uint64_t)i * SEG_SIZE, seg, SEG_SIZE);
		r->sector = get_le64(seg);
		r->nr_sectors = get_le32(seg + 8);
		flags = get_le32(seg + 12);
		/* 5.2.6.2: UNSUPP for an unknown flag, and for unmap on a
		 * discard. */
		if ((flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (discard && flags)) {
			log_guest_once("vblk: segment flags %#x", flags);
			return done(req, VIRTIO_BLK_S_UNSUPP);
		}
		r->unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
		total += r->nr_sectors; /* at most 32 * 2^32: no overflow */
		if (!in_capacity(blk, r->sector, r->nr_sectors) || total > max_sectors) {
			log_guest_once("vblk: segment of %u sectors at %" PRIu64
				       " past capacity %" PRIu64 " or the request limit",
				       r->nr_sectors, r->sector, blk->capacity);
			return done(req, VIRTIO_BLK_S_IOERR);
		}
	}
	range_begin(blk, req);
	if (!range_step(blk, req))
		return done(req, VIRTIO_BLK_S_OK); /* only empty segments */
	return PREP_IO;
}

/*
 * Turn a popped chain into a request (dev->lock held). The header is the
 * first 16 driver-readable bytes and the status the last device-writable
 * byte (5.2.6); a chain without both cannot be answered and is malformed.
 */
static enum prep_result prep(struct vblk *blk, struct vblk_req *req,
			     const struct virtq_chain *c)
{
	const struct virtq_seg *last;
	uint8_t hdr[HDR_SIZE];
	uint64_t sector, data_out, data_in;

	req->head = c->head;
	req->reset_count = blk->vdev.reset_count;
	req->malformed = false;
	req->used_len = 1;
	req->bytes = 0;
	req->status_val = VIRTIO_BLK_S_OK;
	req->nr_ranges = 0;
	/* 5.2.6.2 (the first "stable" case): FLUSH offered, not accepted. */
	req->dsync = !virtio_dev_has_feature(&blk->vdev, VIRTIO_BLK_F_FLUSH);
	if (!virtq_chain_has_readable(c, HDR_SIZE) || !virtq_chain_has_writable(c, 1)) {
		log_guest_once("vblk: chain with %u readable and %u writable bytes",
			       c->readable_len, c->writable_len);
		req->malformed = true;
		return PREP_MALFORMED;
	}
	/* One copy of the header; the guest may rewrite it meanwhile. */
	virtq_chain_read(c, 0, hdr, HDR_SIZE);
	req->type = get_le32(hdr);
	sector = get_le64(hdr + 8);
	last = &c->segs[c->nr_segs - 1]; /* writable, never empty */
	req->status = (uint8_t *)last->addr + last->len - 1;
	data_out = c->readable_len - HDR_SIZE;
	data_in = c->writable_len - 1;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		return prep_rw(blk, req, c, sector, false, data_out, data_in);
	case VIRTIO_BLK_T_OUT:
		return prep_rw(blk, req, c, sector, true, data_out, data_in);
	case VIRTIO_BLK_T_FLUSH:
		/* Nothing was ever written to a read-only image. */
		if (blk->read_only)
			return done(req, VIRTIO_BLK_S_OK);
		req->aio = (struct aio_req){ .op = AIO_FDATASYNC, .fd = blk->fd };
		return PREP_IO;
	case VIRTIO_BLK_T_GET_ID: {
		/* 5.2.6: up to 20 bytes, NUL-padded; the driver gives 20. */
		size_t n = data_in < VBLK_ID_BYTES ? (size_t)data_in : VBLK_ID_BYTES;

		n = virtq_chain_write(c, 0, blk->serial, n);
		req->used_len = (uint32_t)n + 1;
		return done(req, VIRTIO_BLK_S_OK);
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return prep_ranges(blk, req, c, data_out, data_in);
	default:
		log_guest_once("vblk: request type %u unsupported", req->type);
		return done(req, VIRTIO_BLK_S_UNSUPP);
	}
}

/* ---- discard and write zeroes, step by step ------------------------------- */

/* How to start on ranges[range]: the first way this file may accept. */
static void range_pick_mode(const struct vblk *blk, struct vblk_req *req)
{
	const struct vblk_range *r = &req->ranges[req->range];

	/* 5.2.6.2: write zeroes may deallocate only with unmap. */
	if (req->type == VIRTIO_BLK_T_DISCARD || (r->unmap && !blk->no_punch))
		req->mode = ZERO_PUNCH;
	else
		req->mode = blk->no_zero_range ? ZERO_WRITE : ZERO_RANGE;
}

/* Start a discard or write zeroes at its first range. */
static void range_begin(const struct vblk *blk, struct vblk_req *req)
{
	req->range = 0;
	req->done = 0;
	range_pick_mode(blk, req);
}

/*
 * Describe the next host step of a discard or write zeroes in req->aio:
 * the rest of the current range, in the current mode. Returns false when
 * every range is done.
 */
static bool range_step(struct vblk *blk, struct vblk_req *req)
{
	const struct vblk_range *r;
	uint64_t left, off;

	/* A discard on a file that cannot punch holes has nothing to do. */
	if (req->type == VIRTIO_BLK_T_DISCARD && blk->no_punch)
		return false;
	for (;;) {
		if (req->range == req->nr_ranges)
			return false;
		r = &req->ranges[req->range];
		if (req->done < r->nr_sectors)
			break;
		req->range++;
		req->done = 0;
		if (req->range < req->nr_ranges)
			range_pick_mode(blk, req);
	}
	left = r->nr_sectors - req->done;
	off = (r->sector + req->done) * SECTOR;
	req->aio = (struct aio_req){ .fd = blk->fd, .off = off };
	if (req->mode != ZERO_WRITE) {
		req->aio.op = AIO_FALLOCATE;
		req->aio.mode = FALLOC_FL_KEEP_SIZE | (req->mode == ZERO_PUNCH ?
			FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
		req->aio.len = left * SECTOR;
		req->piece = left;
		return true;
	}
	req->piece = left < ZERO_IOVS * sizeof(zeroes) / SECTOR ? left :
		     ZERO_IOVS * sizeof(zeroes) / SECTOR;
	req->aio.op = AIO_WRITEV;
	req->aio.iov = req->iov;
	req->aio.rw_flags = req->dsync ? RWF_DSYNC : 0;
	for (uint64_t bytes = req->piece * SECTOR; bytes; req->aio.niov++) {
		size_t n = bytes < sizeof(zeroes) ? (size_t)bytes : sizeof(zeroes);

		/* The kernel only reads from it. */
		req->iov[req->aio.niov] = (struct iovec){
			.iov_base = (void *)(uintptr_t)zeroes, .iov_len = n };
		bytes -= n;
	}
	return true;
}

static bool unsupported(int64_t res)
{
	return res == -EOPNOTSUPP || res == -ENOSYS || res == -EINVAL;
}

/*
 * A discard or write zeroes step finished. Returns true when the request
 * is finished (status_val set), false when req->aio holds the next step.
 */
static bool range_next(struct vblk *blk, struct vblk_req *req)
{
	int64_t res = req->aio.res;

	if (res < 0 && req->type == VIRTIO_BLK_T_DISCARD && unsupported(res)) {
		/* 5.2.6.2: a discard MAY deallocate; a file system that
		 * cannot punch holes simply keeps the data. */
		if (res != -EINVAL)
			blk->no_punch = true;
		res = 0;
	} else if (res < 0 && unsupported(res) && req->mode != ZERO_WRITE) {
		/* Fall back to the next way of zeroing, same piece. The
		 * refusal sticks for this file, unless it was EINVAL (which
		 * may be about this range's alignment only). */
		if (req->mode == ZERO_PUNCH) {
			blk->no_punch |= res != -EINVAL;
			req->mode = blk->no_zero_range ? ZERO_WRITE : ZERO_RANGE;
		} else {
			blk->no_zero_range |= res != -EINVAL;
			req->mode = ZERO_WRITE;
		}
		range_step(blk, req); /* same range, same `done`: cannot end */
		return false;
	}
	if (res < 0) {
		io_error(blk, req, res);
		return true;
	}
	req->done += req->piece;
	if (!range_step(blk, req)) {
		req->status_val = VIRTIO_BLK_S_OK;
		return true;
	}
	return false;
}

/* ---- submitting ----------------------------------------------------------- */

static void io_error(struct vblk *blk, struct vblk_req *req, int64_t res)
{
	if (!blk->io_error_logged) {
		blk->io_error_logged = true;
		log_warn("vblk: host I/O failed (request type %u at byte %" PRIu64
			 "): %s", req->type, req->aio.off, strerror((int)-res));
	}
	req->status_val = VIRTIO_BLK_S_IOERR;
}

/* Submit the requests of `list`; those that cannot go are finished with
 * IOERR. */
static void submit_list(struct vblk *blk, struct vblk_req *list)
{
	struct vblk_req *finished = NULL, **tail = &finished;

	while (list) {
		struct vblk_req *req = list;
		int ret;

		list = list->next;
		ret = aio_submit(blk->aio, &req->aio);
		if (ret) {
			io_error(blk, req, ret);
			req->next = NULL;
			*tail = req;
			tail = &req->next;
		}
	}
	aio_flush(blk->aio);
	vblk_finish(blk, finished);
}

/*
 * Whether the rate limiter lets `req` start now: one operation and its
 * data bytes. When it does not, its timer is armed. dev->lock held.
 */
static bool vblk_admit(struct vblk *blk, const struct vblk_req *req)
{
	return !rl_enabled(&blk->rl) || rl_consume(&blk->rl, 1, req->bytes, now_ns());
}

/* Start an admitted request: its host I/O joins the batch at *tail, or it
 * completes now. dev->lock held. */
static void start(struct vblk *blk, struct vblk_req *req, enum prep_result prep,
		  struct vblk_req ***tail)
{
	if (prep == PREP_IO) {
		req->next = NULL;
		**tail = req;
		*tail = &req->next;
		return;
	}
	complete_locked(blk, req);
	req_free(blk, req);
}

/* Drain the queue: pop, validate, complete what needs no I/O, submit the
 * rest; stop at the first request the rate limiter refuses. Loop thread. */
static void vblk_process(struct vblk *blk)
{
	struct virtio_dev *dev = &blk->vdev;
	struct vblk_req *batch = NULL, **tail = &batch;
	int ret;

	virtio_dev_lock(dev);
	blk->starved = false;
	/* The request refused last time was popped before anything still in
	 * the ring: it goes first, or nothing goes. (A reset dropped it.) */
	if (blk->pending) {
		if (!vblk_admit(blk, blk->pending))
			goto out;
		start(blk, blk->pending, blk->pending_prep, &tail);
		blk->pending = NULL;
	}
	for (;;) {
		struct vblk_req *req = req_alloc(blk);

		if (!req) {
			blk->starved = true;
			break;
		}
		ret = virtio_dev_pop(dev, 0, &blk->chain);
		if (ret == -EAGAIN || ret == -EIO) {
			req_free(blk, req);
			break;
		}
		if (ret == -EBADMSG) {
			/* queue.h: a malformed chain completes with 0. */
			req->head = blk->chain.head;
			req->reset_count = dev->reset_count;
			req->malformed = true;
			req->bytes = 0;
			ret = PREP_MALFORMED;
		} else {
			ret = prep(blk, req, &blk->chain);
		}
		/* Every chain is an operation, even one completed at once: a
		 * guest cannot make the host spin on cheap bad requests. */
		if (!vblk_admit(blk, req)) {
			/* Deferred, not dropped: it stays popped (its head in
			 * flight) until the limiter's timer brings us back. */
			blk->pending = req;
			blk->pending_prep = (enum prep_result)ret;
			break;
		}
		start(blk, req, (enum prep_result)ret, &tail);
	}
out:
	virtio_dev_notify_queue(dev, 0);
	virtio_dev_unlock(dev);
	submit_list(blk, batch);
}

/* aio completions (loop thread). */
static void vblk_aio_done(void *opaque, struct aio_req *list)
{
	struct vblk *blk = opaque;
	struct vblk_req *finished = NULL, **tail = &finished;

	while (list) {
		struct vblk_req *req = container_of(list, struct vblk_req, aio);
		bool fin = true;
		int ret;

		list = list->next;
		if (req->nr_ranges) {
			fin = range_next(blk, req);
			if (!fin) {
				ret = aio_submit(blk->aio, &req->aio);
				if (ret) {
					io_error(blk, req, ret);
					fin = true;
				}
			}
		} else if (req->aio.res < 0) {
			io_error(blk, req, req->aio.res);
		}
		if (fin) {
			req->next = NULL;
			*tail = req;
			tail = &req->next;
		}
	}
	aio_flush(blk->aio);
	vblk_finish(blk, finished);
}

/* The rate limiter's timer: tokens for the pending request are there. */
static void vblk_rl_timer(struct ev_handler *h, uint32_t events)
{
	struct vblk *blk = container_of(h, struct vblk, rl.timer);

	(void)events;
	rl_timer_ack(&blk->rl);
	vblk_process(blk);
}

static void vblk_kick(struct ev_handler *h, uint32_t events)
{
	struct vblk *blk = container_of(h, struct vblk, kick_h);
	uint64_t n;

	(void)events;
	if (read(blk->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("vblk kick eventfd: %s", strerror(errno));
	vblk_process(blk);
}

/* ---- transport callbacks (dev->lock held) --------------------------------- */

static void vblk_config_read(struct virtio_dev *dev, uint32_t offset, void *data,
			     unsigned int size)
{
	memcpy(data, to_vblk(dev)->config + offset, size);
}

static void vblk_config_write(struct virtio_dev *dev, uint32_t offset,
			      const void *data, unsigned int size)
{
	/* Only `writeback` is writable, and only with CONFIG_WCE, which we
	 * do not offer (5.2.4). */
	(void)dev;
	(void)data;
	log_guest_once("vblk: config write of %u bytes at %u ignored", size, offset);
}

static void kick(struct vblk *blk)
{
	uint64_t one = 1;

	if (write(blk->kick_fd, &one, sizeof(one)) < 0)
		log_debug("vblk kick eventfd: %s", strerror(errno));
}

static void vblk_queue_notify(struct virtio_dev *dev, unsigned int qidx)
{
	/* Served on the loop, like a kick KVM caught. */
	(void)qidx;
	kick(to_vblk(dev));
}

static int vblk_activate(struct virtio_dev *dev)
{
	/* Buffers made available before DRIVER_OK are served now. */
	kick(to_vblk(dev));
	return 0;
}

static void vblk_reset(struct virtio_dev *dev)
{
	struct vblk *blk = to_vblk(dev);

	/* Requests on the disk cannot be recalled: their completions are
	 * dropped by reset_count (complete_locked). The one held back by the
	 * rate limiter never started: it belonged to the old ring and is
	 * forgotten (its tokens were never taken). Nothing else to forget:
	 * negotiated features live in dev->st. */
	if (blk->pending) {
		req_free(blk, blk->pending);
		blk->pending = NULL;
	}
}

/* ---- creation ------------------------------------------------------------- */

static const struct virtio_dev_ops vblk_ops_template = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.queue_max = { VBLK_QUEUE_SIZE },
	.config_size = CONFIG_SIZE,
	.config_read = vblk_config_read,
	.config_write = vblk_config_write,
	.queue_notify = vblk_queue_notify,
	.activate = vblk_activate,
	.reset = vblk_reset,
};

#define CFG_PUT32(blk, field, v) \
	put_le32((blk)->config + offsetof(struct virtio_blk_config, field), (v))

static void fill_config(struct vblk *blk)
{
	put_le64(blk->config + offsetof(struct virtio_blk_config, capacity),
		 blk->capacity);
	CFG_PUT32(blk, seg_max, VBLK_SEG_MAX);
	CFG_PUT32(blk, blk_size, SECTOR);
	if (blk->read_only)
		return;
	CFG_PUT32(blk, max_discard_sectors, VBLK_MAX_DISCARD_SECTORS);
	CFG_PUT32(blk, max_discard_seg, VBLK_MAX_DISCARD_SEG);
	CFG_PUT32(blk, discard_sector_alignment, VBLK_DISCARD_ALIGNMENT);
	CFG_PUT32(blk, max_write_zeroes_sectors, VBLK_MAX_WRITE_ZEROES_SECTORS);
	CFG_PUT32(blk, max_write_zeroes_seg, VBLK_MAX_WRITE_ZEROES_SEG);
	/* Write zeroes with unmap punches holes. */
	blk->config[offsetof(struct virtio_blk_config, write_zeroes_may_unmap)] = 1;
}


static int open_image(struct vblk *blk, const char *path, char *why, size_t len)
{
	struct stat st;
	uint64_t size;

	blk->fd = open(path, (blk->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (blk->fd < 0)
		return why_fail(why, len, -errno, "%s", strerror(errno));
	if (fstat(blk->fd, &st) < 0)
		return why_fail(why, len, -errno, "%s", strerror(errno));
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(blk->fd, BLKGETSIZE64, &size) < 0)
			return why_fail(why, len, -errno, "BLKGETSIZE64: %s",
				    strerror(errno));
	} else {
		return why_fail(why, len, -EINVAL, "not a regular file or block device");
	}
	/* Two VMs writing one image corrupt it: writers take it exclusively,
	 * readers shared. A file system without locks (ENOLCK, EOPNOTSUPP)
	 * is let through. */
	if (flock(blk->fd, (blk->read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0 &&
	    errno == EWOULDBLOCK)
		return why_fail(why, len, -EBUSY, "locked by another process using it%s",
			    blk->read_only ? " read-write" : "");
	/* A trailing partial sector is not part of the disk. */
	blk->capacity = size / SECTOR;
	return 0;
}

int vblk_create(struct vblk **out, const struct guest_mem *mem, struct evloop *loop,
		const char *path, bool read_only, char *why, size_t why_len)
{
	const char *env = getenv("COCOON_BLK_AIO"), *base;
	enum aio_engine engine = AIO_AUTO;
	struct vblk *blk;
	int ret;

	*out = NULL;
	if (env && *env && aio_engine_parse(env, &engine))
		return why_fail(why, why_len, -EINVAL,
			    "COCOON_BLK_AIO=%s: use auto, io_uring or threads", env);
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return why_fail(why, why_len, -ENOMEM, "%s", strerror(ENOMEM));
	blk->fd = blk->kick_fd = -1;
	blk->read_only = read_only;
	blk->loop = loop;
	ret = open_image(blk, path, why, why_len);
	if (ret)
		goto err;

	/* GET_ID: the file name, as much of it as fits in 20 bytes. */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	/* NUL-padded: blk came from calloc. */
	memcpy(blk->serial, base, strnlen(base, sizeof(blk->serial)));

	blk->ops = vblk_ops_template;
	blk->ops.features = VIRTIO_RING_FEATURES | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			    VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (read_only)
		blk->ops.features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		blk->ops.features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
				     VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	fill_config(blk);
	ret = virtio_dev_init(&blk->vdev, &blk->ops, mem, NULL, NULL);
	if (ret) {
		why_fail(why, why_len, ret, "virtio device: %s", strerror(-ret));
		goto err;
	}

	blk->reqs = calloc(VBLK_QUEUE_SIZE, sizeof(*blk->reqs));
	if (!blk->reqs) {
		ret = why_fail(why, why_len, -ENOMEM, "%s", strerror(ENOMEM));
		goto err;
	}

	blk->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (blk->kick_fd < 0) {
		ret = why_fail(why, why_len, -errno, "eventfd: %s", strerror(errno));
		goto err;
	}
	blk->kick_h = (struct ev_handler){ .fd = blk->kick_fd, .cb = vblk_kick };
	ret = aio_create(&blk->aio, loop, engine, VBLK_QUEUE_SIZE, vblk_aio_done, blk);
	if (ret) {
		why_fail(why, why_len, ret, "%s: %s",
		     engine == AIO_IO_URING ? "io_uring" : "asynchronous I/O",
		     strerror(-ret));
		goto err;
	}
	ret = evloop_add(loop, &blk->kick_h, EPOLLIN);
	if (ret) {
		why_fail(why, why_len, ret, "event loop: %s", strerror(-ret));
		goto err;
	}
	blk->kick_watched = true;
	log_debug("virtio-blk %s: %" PRIu64 " sectors, %s, %s", path, blk->capacity,
		  read_only ? "read-only" : "read-write", aio_engine_name(blk->aio));
	*out = blk;
	return 0;

err:
	/* Safe at every step: virtio_dev_destroy takes a zeroed device. */
	vblk_destroy(&blk->vdev);
	return ret;
}

struct virtio_dev *vblk_dev(struct vblk *blk)
{
	return &blk->vdev;
}

const int *vblk_kick_fds(const struct vblk *blk, unsigned int *nr)
{
	*nr = 1;
	return &blk->kick_fd;
}

uint64_t vblk_capacity(const struct vblk *blk)
{
	return blk->capacity;
}

const char *vblk_aio_name(const struct vblk *blk)
{
	return aio_engine_name(blk->aio);
}

int vblk_set_ratelimit(struct vblk *blk, const struct rl_config *cfg)
{
	rl_destroy(&blk->rl);
	return rl_init(&blk->rl, cfg, blk->loop, vblk_rl_timer);
}

void vblk_destroy(struct virtio_dev *dev)
{
	struct vblk *blk;

	if (!dev)
		return;
	blk = to_vblk(dev);
	if (blk->kick_watched && blk->loop->epfd >= 0)
		evloop_del(blk->loop, &blk->kick_h);
	rl_destroy(&blk->rl);
	/* First the engine: it waits until nothing writes guest memory. */
	aio_destroy(blk->aio);
	if (blk->kick_fd >= 0)
		close(blk->kick_fd);
	if (blk->fd >= 0)
		close(blk->fd);
	virtio_dev_destroy(&blk->vdev);
	free(blk->reqs);
	free(blk);
}
