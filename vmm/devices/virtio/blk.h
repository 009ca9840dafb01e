/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2 section 5.2) on a raw image file or block device.
 *
 * One request queue. Capacity is the file's size in 512-byte sectors,
 * rounded down; nothing past it is ever read or written. Offered features:
 * SEG_MAX (VBLK_SEG_MAX), BLK_SIZE (512), and
 *   read-only images (opened O_RDONLY): RO; every write, discard and write
 *     zeroes completes with VIRTIO_BLK_S_IOERR, whether or not the driver
 *     accepted RO;
 *   read-write images (O_RDWR): FLUSH (fdatasync on the host), DISCARD
 *     (punches holes) and WRITE_ZEROES (zeroes ranges, punching holes when
 *     the driver allows unmap). When the driver declines FLUSH, writes are
 *     made durable before they complete (5.2.6.2, the first "stable" case).
 * GET_ID answers a serial derived from the image's file name.
 *
 * Requests are validated as DESIGN "Guest memory and hostile guests" asks:
 * a chain whose first 16 bytes are not driver-readable or whose last byte
 * is not device-writable is malformed and completes with length 0 and no
 * status; otherwise the status byte says what happened (UNSUPP for unknown
 * types, IOERR for a bad range, length or direction, or a failed host
 * I/O), for that request only.
 *
 * Work happens on the event loop: a kick (the queue's eventfd, written by
 * KVM or by queue_notify) pops requests and hands them to the aio engine
 * (io_uring, or worker threads when io_uring is unusable or
 * COCOON_BLK_AIO=threads); completions come back on the loop and are pushed
 * under the device lock. At most VBLK_QUEUE_SIZE requests are in flight;
 * the loop thread never waits for the disk. A request popped before a
 * device reset is never completed after it (see virtio.h).
 *
 * Rate limiting (vblk_set_ratelimit): every request popped from the ring
 * is one operation, and a read or write that goes to the disk also counts
 * its data bytes (flush, GET_ID, discard, write zeroes and requests
 * refused by validation count as operations with 0 bytes). A request the
 * limiter refuses is held in the device (popped, not started) and the
 * device pops nothing more; the limiter's timer on the event loop resumes
 * the queue when enough tokens are there. So throttling defers requests,
 * in ring order, and never fails or drops them; requests already on the
 * disk are not affected. A device reset drops the held request (it
 * belongs to the old ring).
 *
 * Snapshot: the device's guest-visible state is all in struct virtio_dev
 * (the configuration follows from the image); requests in flight must be
 * completed before one is taken.
 */
#ifndef COCOON_VIRTIO_BLK_H
#define COCOON_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../evloop.h"
#include "../../memory.h"
#include "../../ratelimit.h"
#include "../../util.h"
#include "virtio.h"

#define VBLK_QUEUE_SIZE 256u
/* Data segments per request: with the header and the status byte, a chain
 * stays within VIRTQ_MAX_SEGS. */
#define VBLK_SEG_MAX (VIRTQ_MAX_SEGS - 2u)
#define VBLK_SECTOR_SIZE 512u
#define VBLK_ID_BYTES 20u
/* Discard and write zeroes: segments per request, and sectors per request
 * (all segments together). */
#define VBLK_MAX_DISCARD_SEG 32u
#define VBLK_MAX_DISCARD_SECTORS (1u << 22)     /* 2 GiB */
#define VBLK_MAX_WRITE_ZEROES_SEG 32u
#define VBLK_MAX_WRITE_ZEROES_SECTORS (1u << 22)
#define VBLK_DISCARD_ALIGNMENT 8u               /* sectors: 4 KiB */

struct vblk;

/*
 * Open the image at `path` (read-only: O_RDONLY) and create a virtio-blk
 * device on it whose back-end runs on `loop` (handlers are added now; the
 * loop need not run yet). The aio engine is chosen by COCOON_BLK_AIO
 * ("auto", the default; "io_uring"; "threads"). On error returns -errno and
 * writes a short reason into why that does not repeat the path (e.g. "No
 * such file or directory"); the caller names the image.
 */
int vblk_create(struct vblk **out, const struct guest_mem *mem, struct evloop *loop,
		const char *path, bool read_only, char *why,
		size_t why_len) __must_check;

/* The embedded virtio device, for vm_add_virtio and the transport. */
struct virtio_dev *vblk_dev(struct vblk *blk);

/* One kick eventfd per queue (`*nr` of them), for vm_add_virtio. */
const int *vblk_kick_fds(const struct vblk *blk, unsigned int *nr);

/* Capacity in 512-byte sectors. */
uint64_t vblk_capacity(const struct vblk *blk);

/* "io_uring" or "threads". */
const char *vblk_aio_name(const struct vblk *blk);

/*
 * Limit the device to `cfg` (see ratelimit.h; NULL or all zero: no limit,
 * the default). Call after vblk_create and before the VM runs, while none
 * of the device's handlers can run; a second call replaces the limiter.
 * The limiter's timer is watched on the device's event loop. Returns 0 or
 * -errno (from timerfd_create or the loop); on error the device is left
 * unlimited.
 */
int vblk_set_ratelimit(struct vblk *blk, const struct rl_config *cfg) __must_check;

/*
 * Free a device made by vblk_create (the signature vm_add_virtio takes).
 * None of its handlers may be running (the loop is stopped, or they were
 * never dispatched); waits until no host I/O can touch guest memory. Safe
 * on NULL.
 */
void vblk_destroy(struct virtio_dev *dev);

#endif
