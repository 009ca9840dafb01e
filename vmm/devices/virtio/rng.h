/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng, the entropy device (virtio 1.2 section 5.4): one request
 * queue; the device fills the device-writable part of each chain with bytes
 * from the host's getrandom() and completes it with the number written.
 *
 * A hostile guest must not make the host spin: each request is served up to
 * VRNG_MAX_REQUEST bytes (the rest of its buffer is left as it was and the
 * used length says so, as 5.4.6.1 allows), and one turn of the event loop
 * serves at most VRNG_MAX_BATCH bytes; the device then kicks itself and
 * lets the other handlers run first. A chain with a driver-readable part or
 * no device-writable part is completed with length 0 (5.4.6.1: the device
 * only writes).
 *
 * Rate limiting (vrng_set_ratelimit): each chain popped is one operation
 * and the bytes it is to be served (after the caps above; 0 for a chain
 * completed empty) are its bytes. A request the limiter refuses is held in
 * the device, popped but not served, and nothing more is popped until the
 * limiter's timer on the event loop serves it; it is never cut short or
 * dropped for the limiter's sake. A request larger than the bytes burst
 * goes through when the bucket is full (see ratelimit.h). A device reset
 * drops the held request.
 *
 * Threads: vrng_process runs on the event-loop thread (or a test's) and takes
 * the device lock; the transport's callbacks run on vCPU threads. Besides
 * its kick eventfd and limiter, the device holds at most one request
 * refused by the limiter; with no limiter, snapshotting it is the
 * transport's state alone.
 */
#ifndef COCOON_VIRTIO_RNG_H
#define COCOON_VIRTIO_RNG_H

#include <stdbool.h>

#include "../../evloop.h"
#include "../../memory.h"
#include "../../ratelimit.h"
#include "../../util.h"
#include "virtio.h"

#define VRNG_QUEUE_SIZE 64u
#define VRNG_MAX_REQUEST (64u * 1024)   /* bytes served per chain */
#define VRNG_MAX_BATCH (256u * 1024)    /* bytes served per event-loop turn */

struct vrng;

/*
 * Create the device for guest memory `mem`. With `loop` (may be NULL, for
 * tests), its kick eventfd is watched there and every kick serves the queue.
 * Returns 0 or -errno.
 */
int vrng_create(const struct guest_mem *mem, struct evloop *loop,
		struct vrng **out) __must_check;

/* The embedded transport device, for vm_add_virtio. */
struct virtio_dev *vrng_dev(struct vrng *rng);

/* The eventfd that KVM's ioeventfd for the request queue should signal. */
int vrng_kick_fd(const struct vrng *rng);

/*
 * Serve available requests, at most VRNG_MAX_BATCH bytes. Takes the device
 * lock. Returns true when the batch limit stopped it (the device has kicked
 * itself to come back), false when the queue is empty, the device is not
 * active, or the rate limiter refused a request (its timer comes back;
 * without a loop nothing does, and the caller calls again).
 */
bool vrng_process(struct vrng *rng);

/*
 * Limit the device to `cfg` (see ratelimit.h; NULL or all zero: no limit,
 * the default). Call after vrng_create and before the VM runs, while
 * vrng_process cannot run; a second call replaces the limiter. The
 * limiter's timer is watched on the loop given to vrng_create (with none,
 * the limiter only refuses). Returns 0 or -errno; on error the device is
 * left unlimited.
 */
int vrng_set_ratelimit(struct vrng *rng, const struct rl_config *cfg) __must_check;

/* Free the device (the `destroy` of vm_add_virtio). Safe on NULL. */
void vrng_destroy(struct virtio_dev *dev);

#endif
