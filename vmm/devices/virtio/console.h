/* SPDX-License-Identifier: MIT */
/*
 * virtio-console with multiple ports (virtio 1.2 section 5.3), carrying the
 * container's stdio. Ports, as guest-init/abi.h promises:
 *   0  the console port (guest /dev/hvc0): the workload's terminal with -t;
 *      its output goes to the host's stdout, and with -t the host's stdin
 *      comes in here;
 *   1  COCOON_PORT_STDIN    host stdin -> guest (only with -i or -t and
 *                           not -t: with -t the input goes to port 0);
 *                           the host never opening it, or closing it at
 *                           EOF (PORT_OPEN 0), is EOF for the guest;
 *   2  COCOON_PORT_STDOUT   guest -> host stdout, byte-exact;
 *   3  COCOON_PORT_STDERR   guest -> host stderr, byte-exact;
 *   4  COCOON_PORT_CONTROL  host -> guest lines "signal N\n".
 * Queues (5.3.2): receiveq0 0, transmitq0 1, control receiveq 2, control
 * transmitq 3, then receiveqN 2N+2 and transmitqN 2N+3.
 *
 * Control protocol (5.3.6.2): the driver's DEVICE_READY makes the device
 * send PORT_ADD for every port; each PORT_READY from the driver makes it
 * send CONSOLE_PORT (port 0), the window size as RESIZE (port 0; Linux
 * applies it to hvc0 when VIRTIO_CONSOLE_F_SIZE is negotiated, and ignores
 * the configuration-space size in multiport mode), PORT_NAME (named ports)
 * and PORT_OPEN with the host side's state. The driver's PORT_OPEN messages
 * are recorded: host data goes only to ports the guest has open (Linux
 * drops it otherwise). Messages owed to the guest are per-port flags, not a
 * queue, so a driver flooding the control queue cannot grow host memory.
 *
 * Bounded memory and flow control: the device never copies guest output
 * into host buffers. A transmit chain is written to the host fd straight
 * from guest memory (writev); when the fd is full (EAGAIN) the chain stays
 * held, the port's queue is not popped, and EPOLLOUT on the fd resumes it,
 * so a guest writing faster than the host reader is throttled. Host input
 * is read (readv) only into a receive chain the guest posted, at most
 * VCON_MAX_RX_CHUNK per read. Transmit chains above VCON_MAX_TX_CHAIN bytes
 * and chains of the wrong direction are completed with length 0 (and their
 * data dropped). One event-loop turn moves at most VCON_MAX_BATCH bytes per
 * direction, then the device kicks itself. A host fd that fails (EPIPE:
 * cocoon's stdout was closed) has its stream's data dropped from then on;
 * the guest keeps running.
 *
 * Threads: vcon_poll runs on the event-loop thread (or a test's); the
 * transport's callbacks on vCPU threads; vcon_send_signal and
 * vcon_set_winsize on any thread. All of them hold the device lock, which
 * guards host-side state too.
 */
#ifndef COCOON_VIRTIO_CONSOLE_H
#define COCOON_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../evloop.h"
#include "../../memory.h"
#include "../../util.h"
#include "virtio.h"

enum vcon_port {
	VCON_PORT_CONSOLE = 0,
	VCON_PORT_STDIN = 1,
	VCON_PORT_STDOUT = 2,
	VCON_PORT_STDERR = 3,
	VCON_PORT_CONTROL = 4,
	VCON_NR_PORTS = 5,
};

#define VCON_NR_QUEUES (2u * VCON_NR_PORTS + 2u)
#define VCON_QUEUE_SIZE 128u       /* data queues */
#define VCON_CTRL_QUEUE_SIZE 32u   /* control queues */
#define VCON_MAX_TX_CHAIN (1u << 20)  /* bytes in one transmit chain */
#define VCON_MAX_RX_CHUNK (64u * 1024) /* bytes read from the host per chain */
#define VCON_MAX_BATCH (1u << 20)  /* bytes per direction per event-loop turn */
#define VCON_CTRL_BATCH 256u       /* control messages per event-loop turn */
#define VCON_SIGNAL_BUF 256u       /* pending "signal N\n" bytes */

/* Receive queue and transmit queue of port `p` (5.3.2). */
static inline unsigned int vcon_rxq(unsigned int p)
{
	return p == 0 ? 0u : 2u * p + 2u;
}

static inline unsigned int vcon_txq(unsigned int p)
{
	return vcon_rxq(p) + 1u;
}

#define VCON_CTRL_RXQ 2u
#define VCON_CTRL_TXQ 3u

/* Host side of the streams. The device takes ownership of the fds (it
 * closes them); -1 means none. */
struct vcon_host {
	int in_fd;    /* host input, or -1: the input port stays closed (EOF) */
	int out_fd;   /* the guest's stdout port and console port output */
	int err_fd;   /* the guest's stderr port */
	bool tty;     /* host input goes to the console port, not the stdin port */
	uint16_t cols, rows; /* initial window size of the console port; 0 unknown */
};

struct vcon;

/*
 * An fd for a host stream of the device, from cocoon's own `fd` (0, 1 or
 * 2), suitable for non-blocking use without changing `fd` itself (which
 * the shell that started cocoon shares): pipes, FIFOs and terminals are
 * reopened through /proc/self/fd with O_NONBLOCK (a new open file
 * description); regular files, block devices and sockets are dup'd (files
 * never block; sockets are used with MSG_DONTWAIT). Returns the new fd or
 * -errno.
 */
int vcon_open_host_fd(int fd, bool for_write) __must_check;

/*
 * Create the device. With `loop` (may be NULL, for tests) its kick eventfd
 * and host fds are watched there and every event runs vcon_poll. Takes
 * ownership of host->*_fd, also on failure. Returns 0 or -errno.
 */
int vcon_create(const struct guest_mem *mem, struct evloop *loop,
		const struct vcon_host *host, struct vcon **out) __must_check;

/* The embedded transport device, for vm_add_virtio. */
struct virtio_dev *vcon_dev(struct vcon *con);

/* The eventfd for every queue's KVM ioeventfd (one for all queues). */
int vcon_kick_fd(const struct vcon *con);

/*
 * Do all work that can be done now: guest control messages, guest output
 * to host fds, host input into guest buffers, control messages owed to the
 * guest; update which host fds the loop watches. Takes the device lock.
 * Returns true when a batch limit stopped it (it has kicked itself).
 */
bool vcon_poll(struct vcon *con);

/*
 * Queue "signal N\n" on the control port for guest-init. Any thread.
 * Returns 0, or -ENOSPC when VCON_SIGNAL_BUF bytes are already pending
 * (the guest is not reading its control port).
 */
int vcon_send_signal(struct vcon *con, int signo) __must_check;

/* The host terminal's new size: sent to the guest's console port (RESIZE)
 * once it is ready. Any thread. */
void vcon_set_winsize(struct vcon *con, uint16_t cols, uint16_t rows);

/*
 * After the VM stopped (no vCPU, no event loop): write out everything the
 * guest left in its transmit queues, waiting for slow host readers with
 * poll(). Returns 0 when done, or -EINTR as soon as `abort_fd` (e.g. a
 * signalfd; -1 for none) becomes readable; it does not read it.
 */
int vcon_drain(struct vcon *con, int abort_fd) __must_check;

/* Free the device and close its fds (the `destroy` of vm_add_virtio).
 * Safe on NULL. */
void vcon_destroy(struct virtio_dev *dev);

#endif
