/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs, virtio 1.2 section 5.11. The contract is in fs.h; FUSE itself
 * is fuse_pt.c. This file moves chains between the virtqueues and the
 * server, on the server's own thread:
 *
 *   kick (hiprio or request) -> serve_queue: pop (lock held), copy the
 *   request, fpt_process (no lock), push + notify (lock held, same reset
 *   generation only)
 *
 * State owned by the server thread (never touched by the transport's
 * callbacks): the chain being served, its reply iovecs, and seen_reset,
 * the reset generation the FUSE state belongs to.
 */
#include "fs.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../evloop.h"
#include "../../log.h"
#include "../../sandbox.h"

#define HIPRIO VFS_HIPRIO_QUEUE
#define REQQ VFS_REQUEST_QUEUE
/* 5.11.4: tag[36], le32 num_request_queues (notify_buf_size only with
 * VIRTIO_FS_F_NOTIFICATION, not offered). */
#define CONFIG_SIZE (VFS_TAG_MAX + 4u)

_Static_assert(VIRTQ_MAX_SEGS <= FPT_MAX_IOV, "a chain's writable part fits the server's iovecs");
_Static_assert(VFS_QUEUE_SIZE <= VIRTQ_MAX_SIZE && VFS_HIPRIO_SIZE <= VIRTQ_MAX_SIZE,
	       "queue sizes the queue code takes");

struct vfs {
	struct virtio_dev vdev;
	uint8_t config[CONFIG_SIZE];
	struct fpt *fpt;
	struct evloop loop;           /* the server thread */
	bool loop_ready;              /* evloop_init succeeded */
	int kick_fds[VFS_NR_QUEUES];
	struct ev_handler kick_h[VFS_NR_QUEUES];
	/* Server thread only. */
	uint32_t seen_reset;          /* reset_count the FUSE state is for */
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

static struct vfs *to_vfs(struct virtio_dev *dev)
{
	return container_of(dev, struct vfs, vdev);
}

static void kick_self(struct vfs *fs, unsigned int q)
{
	uint64_t one = 1;

	/* Cannot block: an eventfd counter saturates long after. */
	if (write(fs->kick_fds[q], &one, sizeof(one)) < 0)
		log_debug("virtio-fs: kick: %s", strerror(errno));
}

/*
 * Serve the chain just popped from queue q (no lock held); returns the
 * used length. The readable part is copied once into the server's request
 * buffer (5.11.6.1: struct fuse_in_header and the arguments), so the guest
 * cannot change a request while it is checked and served.
 */
static uint32_t serve_chain(struct vfs *fs, unsigned int q)
{
	const struct virtq_chain *c = &fs->chain;
	uint8_t *req = fpt_request_buf(fs->fpt);
	uint32_t opcode;
	unsigned int n;

	if (c->readable_len < sizeof(struct fuse_in_header)) {
		log_guest_once("virtio-fs: a chain with %u readable bytes, less than a FUSE header",
			       c->readable_len);
		return 0;
	}
	if (c->readable_len > VFS_MAX_REQ) {
		log_guest_once("virtio-fs: a request of %u bytes (at most %u)", c->readable_len,
			       VFS_MAX_REQ);
		return 0;
	}
	if (virtq_chain_read(c, 0, req, c->readable_len) != c->readable_len)
		return 0;
	if (q == HIPRIO) {
		/* 5.11.6.2: only requests without a reply go there. */
		memcpy(&opcode, req + offsetof(struct fuse_in_header, opcode), sizeof(opcode));
		if (opcode != FUSE_FORGET && opcode != FUSE_BATCH_FORGET &&
		    opcode != FUSE_INTERRUPT) {
			log_guest_once("virtio-fs: FUSE opcode %u on the hiprio queue", opcode);
			return 0;
		}
		return (uint32_t)fpt_process(fs->fpt, c->readable_len, NULL, 0);
	}
	n = virtq_chain_iov(c, true, 0, c->writable_len, fs->iov, VIRTQ_MAX_SEGS);
	return (uint32_t)fpt_process(fs->fpt, c->readable_len, fs->iov, n);
}

/*
 * Serve up to VFS_BATCH chains of queue q; true when the batch limit
 * stopped it. The lock is held only around ring work (virtio.h); a reset
 * seen under it first resets the FUSE state, outside it.
 */
static bool serve_queue(struct vfs *fs, unsigned int q)
{
	struct virtio_dev *dev = &fs->vdev;

	for (unsigned int n = 0; n < VFS_BATCH; n++) {
		uint32_t rc, len;
		int ret;

		virtio_dev_lock(dev);
		while (dev->reset_count != fs->seen_reset) {
			rc = dev->reset_count;
			virtio_dev_unlock(dev);
			fpt_reset(fs->fpt);
			fs->seen_reset = rc;
			virtio_dev_lock(dev);
		}
		ret = virtio_dev_pop(dev, q, &fs->chain);
		if (ret == -EAGAIN || ret == -EIO) {
			virtio_dev_unlock(dev);
			return false;
		}
		if (ret == -EBADMSG) {
			virtio_dev_push(dev, q, fs->chain.head, 0);
			virtio_dev_notify_queue(dev, q);
			virtio_dev_unlock(dev);
			continue;
		}
		rc = dev->reset_count;
		virtio_dev_unlock(dev);

		len = serve_chain(fs, q);

		virtio_dev_lock(dev);
		/* After a reset the head may be in flight for another request
		 * of the new ring: this one is gone with the old ring. */
		if (dev->reset_count == rc) {
			virtio_dev_push(dev, q, fs->chain.head, len);
			virtio_dev_notify_queue(dev, q);
		}
		virtio_dev_unlock(dev);
	}
	return true;
}

bool vfs_process(struct vfs *fs)
{
	bool more = serve_queue(fs, HIPRIO);

	return serve_queue(fs, REQQ) || more;
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("virtio-fs: eventfd read: %s", strerror(errno));
}

static void on_hiprio_kick(struct ev_handler *h, uint32_t events)
{
	struct vfs *fs = container_of(h, struct vfs, kick_h[HIPRIO]);

	(void)events;
	drain(h->fd);
	if (serve_queue(fs, HIPRIO))
		kick_self(fs, HIPRIO);
}

static void on_request_kick(struct ev_handler *h, uint32_t events)
{
	struct vfs *fs = container_of(h, struct vfs, kick_h[REQQ]);

	(void)events;
	drain(h->fd);
	if (serve_queue(fs, REQQ))
		kick_self(fs, REQQ);
}

/* ---- transport callbacks (vCPU threads, dev->lock held) ------------------------- */

static void vfs_config_read(struct virtio_dev *dev, uint32_t offset, void *data,
			    unsigned int size)
{
	memcpy(data, to_vfs(dev)->config + offset, size);
}

static void vfs_config_write(struct virtio_dev *dev, uint32_t offset, const void *data,
			     unsigned int size)
{
	(void)dev;
	(void)data;
	/* 5.11.4: every field is read-only for the driver. */
	log_guest_once("virtio-fs: config write of %u bytes at %u ignored", size, offset);
}

/* A kick that no ioeventfd caught: hand it to the server thread. */
static void vfs_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	if (q < VFS_NR_QUEUES)
		kick_self(to_vfs(dev), q);
}

static int vfs_activate(struct virtio_dev *dev)
{
	/* Buffers may have been posted before DRIVER_OK without a kick. */
	kick_self(to_vfs(dev), HIPRIO);
	kick_self(to_vfs(dev), REQQ);
	return 0;
}

/* The server thread resets the FUSE state when it sees reset_count move
 * (serve_queue); wake it so that host fds are released now, not at the
 * guest's next request. */
static void vfs_reset(struct virtio_dev *dev)
{
	kick_self(to_vfs(dev), REQQ);
}

static const struct virtio_dev_ops vfs_ops = {
	.name = "virtio-fs",
	.device_id = VIRTIO_ID_FS,
	.features = VIRTIO_RING_FEATURES,
	.nr_queues = VFS_NR_QUEUES,
	.queue_max = { VFS_HIPRIO_SIZE, VFS_QUEUE_SIZE },
	.config_size = CONFIG_SIZE,
	.config_read = vfs_config_read,
	.config_write = vfs_config_write,
	.queue_notify = vfs_queue_notify,
	.activate = vfs_activate,
	.reset = vfs_reset,
};

/* ---- life cycle --------------------------------------------------------------------- */

static void vfs_free(struct vfs *fs)
{
	/* The thread first: it may be serving a chain. */
	if (fs->loop_ready)
		evloop_destroy(&fs->loop);
	for (unsigned int q = 0; q < VFS_NR_QUEUES; q++)
		if (fs->kick_fds[q] >= 0)
			close(fs->kick_fds[q]);
	fpt_destroy(fs->fpt);
	virtio_dev_destroy(&fs->vdev);
	free(fs);
}

static bool tag_ok(const char *tag)
{
	size_t n = tag ? strnlen(tag, VFS_TAG_MAX + 1) : 0;

	if (n == 0 || n > VFS_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (tag[i] <= ' ' || tag[i] > '~')
			return false;
	return true;
}

int vfs_create(struct vfs **out, const struct guest_mem *mem, const char *host_dir,
	       const char *const *names, unsigned int nr_names, const char *tag,
	       bool read_only, char *why, size_t why_len)
{
	struct vfs *fs;
	char reason[160];
	int ret;

	if (!tag_ok(tag))
		return why_fail(why, why_len, -EINVAL,
				"virtio-fs: the tag must be 1 to %u printable characters "
				"without spaces",
				VFS_TAG_MAX);
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return why_fail(why, why_len, -ENOMEM, "virtio-fs: out of memory");
	fs->kick_fds[HIPRIO] = fs->kick_fds[REQQ] = -1;
	ret = fpt_create(&fs->fpt, host_dir, names, nr_names, read_only, reason,
			 sizeof(reason));
	if (ret) {
		why_fail(why, why_len, ret, "%s", reason);
		goto err;
	}
	ret = virtio_dev_init(&fs->vdev, &vfs_ops, mem, NULL, NULL);
	if (ret) {
		why_fail(why, why_len, ret, "virtio-fs: %s", strerror(-ret));
		goto err;
	}
	fs->seen_reset = fs->vdev.reset_count;
	memcpy(fs->config, tag, strnlen(tag, VFS_TAG_MAX)); /* the rest stays 0 */
	put_le32(fs->config + VFS_TAG_MAX, 1);              /* num_request_queues */
	ret = evloop_init(&fs->loop);
	if (ret) {
		why_fail(why, why_len, ret, "virtio-fs: event loop: %s", strerror(-ret));
		goto err;
	}
	fs->loop_ready = true;
	fs->loop.sb_thread = SB_VFS;
	for (unsigned int q = 0; q < VFS_NR_QUEUES; q++) {
		fs->kick_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fs->kick_fds[q] < 0) {
			ret = why_fail(why, why_len, -errno, "virtio-fs: eventfd: %s",
				       strerror(errno));
			goto err;
		}
		fs->kick_h[q].fd = fs->kick_fds[q];
		fs->kick_h[q].cb = q == HIPRIO ? on_hiprio_kick : on_request_kick;
		ret = evloop_add(&fs->loop, &fs->kick_h[q], EPOLLIN);
		if (ret) {
			why_fail(why, why_len, ret, "virtio-fs: epoll: %s", strerror(-ret));
			goto err;
		}
	}
	*out = fs;
	return 0;

err:
	vfs_free(fs);
	return ret;
}

struct virtio_dev *vfs_dev(struct vfs *fs)
{
	return &fs->vdev;
}

const int *vfs_kick_fds(const struct vfs *fs, unsigned int *nr)
{
	*nr = VFS_NR_QUEUES;
	return fs->kick_fds;
}

int vfs_start(struct vfs *fs)
{
	if (fs->loop.started)
		return 0;
	return evloop_start(&fs->loop);
}

void vfs_set_max_fds(struct vfs *fs, unsigned int max)
{
	fpt_set_max_fds(fs->fpt, max);
}

unsigned int vfs_fds_held(const struct vfs *fs)
{
	return fpt_fds_held(fs->fpt);
}

void vfs_destroy(struct virtio_dev *dev)
{
	if (dev)
		vfs_free(to_vfs(dev));
}
