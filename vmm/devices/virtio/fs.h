/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs (virtio 1.2 section 5.11): a host directory shared with the
 * guest, which mounts it with `mount -t virtiofs TAG DIR`. The device
 * carries FUSE requests; the FUSE passthrough server in fuse_pt.[ch]
 * serves them on the host directory (its header says what a hostile guest
 * can and cannot do there).
 *
 * Device (5.11.1 to 5.11.4): device ID 26; configuration tag[36] (the
 * caller's tag, NUL-padded) and num_request_queues = 1, read-only; queues
 * hiprio (0) and one request queue (1). Offered features:
 * VIRTIO_RING_FEATURES only: no notification queue
 * (VIRTIO_FS_F_NOTIFICATION), no DAX window (no shared memory region).
 *
 * Requests (5.11.6.1): a chain's device-readable part is a struct
 * fuse_in_header and the operation's arguments; it is copied once into a
 * buffer of VFS_MAX_REQ bytes allocated with the device, and the server
 * reads only that copy. The device-writable part receives struct
 * fuse_out_header and the reply, and the chain completes with the bytes
 * written. A chain whose readable part is shorter than the header, longer
 * than VFS_MAX_REQ or disagrees with the header's length, or that has no
 * room for an out header when the operation replies, completes with
 * length 0 (logged once, at debug level); a malformed chain too.
 *
 * hiprio (5.11.6.2): FUSE_FORGET, FUSE_BATCH_FORGET and FUSE_INTERRUPT,
 * which take no reply (completed with length 0). Any other opcode there is
 * completed with length 0 and not served.
 *
 * Threads: the server runs on its own thread, an event loop private to the
 * device started by vfs_start, which watches both kick eventfds. So a slow
 * host filesystem stalls only this share, never the VM's device loop or a
 * vCPU. The server pops a chain under the device lock, serves it with the
 * lock dropped and pushes it under the lock again, unless the device was
 * reset meanwhile (virtio.h: reset_count); after at most VFS_BATCH chains
 * of one queue it kicks itself and lets the other queue's handler run. The
 * transport's callbacks (vCPU threads, lock held) only kick the server.
 *
 * Reset: a device reset (and FUSE_DESTROY, at unmount) makes the server
 * forget every inode and close every file it opened for the guest, and
 * start a new libfuse session, which expects a new FUSE_INIT. The reset
 * callback cannot wait for the server thread, so the server does this
 * itself before it pops anything after the reset (the callback kicks it).
 *
 * Snapshot: the guest-visible state is struct virtio_dev and the tag; the
 * FUSE state (node ids, open files) lives in host fds and could not be
 * restored as is: a snapshot would need the guest to remount.
 */
#ifndef COCOON_VIRTIO_FS_H
#define COCOON_VIRTIO_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "../../fuse_pt.h"
#include "../../memory.h"
#include "../../util.h"
#include "virtio.h"

#define VFS_HIPRIO_QUEUE 0u
#define VFS_REQUEST_QUEUE 1u
#define VFS_NR_QUEUES 2u
#define VFS_HIPRIO_SIZE 128u
/* Linux's virtiofs caps a request's pages at the queue size minus 4; 1024
 * leaves that above FPT_MAX_IO's 248 pages. */
#define VFS_QUEUE_SIZE 1024u
/* 5.11.4: the tag is at most 36 bytes, NUL-padded (no NUL when 36). */
#define VFS_TAG_MAX 36u
/* Largest request copied from a chain (header and arguments). */
#define VFS_MAX_REQ FPT_MAX_REQ
/* Chains of one queue served per turn of the server's loop. */
#define VFS_BATCH 32u

struct vfs;

/*
 * Create the device for guest memory `mem`, sharing the directory
 * `host_dir` (opened now: it must exist and be a directory) under `tag`
 * (1 to 36 printable ASCII characters, no space). With `nr_names` > 0 the
 * guest sees only those entries of the directory itself and can make no
 * other (fpt_create's filtered share; the names are copied); NULL and 0:
 * the whole directory. With `read_only`, the host refuses every change the
 * guest asks for (EROFS). The server's thread does not run until
 * vfs_start. On error returns -errno and writes a one-line reason into why
 * (without the directory's name).
 */
int vfs_create(struct vfs **out, const struct guest_mem *mem, const char *host_dir,
	       const char *const *names, unsigned int nr_names, const char *tag,
	       bool read_only, char *why, size_t why_len) __must_check;

/* The embedded virtio device, for vm_add_virtio and the transport. */
struct virtio_dev *vfs_dev(struct vfs *fs);

/* One kick eventfd per queue (`*nr` = 2: hiprio, request). */
const int *vfs_kick_fds(const struct vfs *fs, unsigned int *nr);

/* Start the server thread. Idempotent. Returns 0 or -errno. */
int vfs_start(struct vfs *fs) __must_check;

/*
 * Serve what both queues hold, at most VFS_BATCH chains of each, on the
 * calling thread: what the server thread does on a kick, for tests and
 * fuzzing (never while the thread runs). Returns true when a batch limit
 * stopped it (call again).
 */
bool vfs_process(struct vfs *fs);

/* Lower the limit of host fds the server holds (fpt_set_max_fds): vm.c
 * splits one per-VM budget between shares; tests use it too. Before
 * vfs_start. */
void vfs_set_max_fds(struct vfs *fs, unsigned int max);

/* Host fds the server holds for the guest now (tests; not while the
 * thread runs). */
unsigned int vfs_fds_held(const struct vfs *fs);

/* Stop the server thread, close every fd, free the device (the signature
 * vm_add_virtio takes). Safe on NULL. */
void vfs_destroy(struct virtio_dev *dev);

#endif
