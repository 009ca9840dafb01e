/* SPDX-License-Identifier: MIT */
/*
 * The workload's stdio channels: the named ports of cocoon's multiport
 * virtio-console (abi.h), found through /sys/class/virtio-ports/<dev>/name
 * and opened as /dev/<dev>, and its console port /dev/hvc0.
 *
 * Ports appear asynchronously: the driver probes at boot, but the ports
 * are added and named by control messages from the host, handled by a
 * kernel worker after init may already run. So the openers poll, with a
 * deadline, but only once ports_console_present() says a device exists.
 */
#ifndef COCOON_GUEST_PORTS_H
#define COCOON_GUEST_PORTS_H

#include <stdbool.h>
#include <stddef.h>

/* How long the host gets to add and name its ports; only a broken or
 * missing host side ever waits this long. Generous for emulated hosts. */
#define PORTS_WAIT_MS 3000u

struct port_req {
	const char *name; /* VIRTIO_CONSOLE_PORT_NAME to look for */
	int flags;        /* open(2) flags; O_CLOEXEC is added */
	int fd;           /* out: the open port, or -1 */
};

/* Is a virtio-console device bound to its driver? (/sys must be mounted.) */
bool ports_console_present(void);

/*
 * Open every port in req[0..n) once its name appears, polling every
 * millisecond until all are open or deadline_ms (CLOCK_MONOTONIC, from
 * ports_deadline) passes. Returns 0; -ETIMEDOUT with the missing ones left
 * at fd -1; or -errno of a failed open, with *failed naming that port.
 */
__attribute__((warn_unused_result)) int ports_open(struct port_req *req, size_t n,
                                                   unsigned long long deadline_ms,
                                                   const char **failed);

/* Open the console port, /dev/hvc0, read-write and without becoming its
 * controlling process, waiting for it like ports_open. Returns the fd or
 * -errno (-ETIMEDOUT when it never appeared). */
__attribute__((warn_unused_result)) int
ports_open_console(unsigned long long deadline_ms);

/* Now plus PORTS_WAIT_MS, in CLOCK_MONOTONIC milliseconds. */
unsigned long long ports_deadline(void);

#endif
