/* SPDX-License-Identifier: MIT */
/*
 * The guest control ports of guest-init/abi.h: the exit port (the workload's
 * status; the VM stops) and the boot-timer port (timestamped marks).
 */
#ifndef COCOON_GUESTCTL_H
#define COCOON_GUESTCTL_H

#include <stdint.h>

#include "../../guest-init/abi.h"

#define GUESTCTL_NR_MARKS 4 /* enum cocoon_mark values are 1..3 */

struct guestctl {
	/* Host monotonic time (ns) of each mark's first arrival; 0 = none. */
	uint64_t mark_ns[GUESTCTL_NR_MARKS];
	/* Called on the vCPU thread when the guest writes its exit status. */
	void (*on_exit)(void *opaque, int status);
	void *opaque;
};

void guestctl_init(struct guestctl *g, void (*on_exit)(void *opaque, int status),
		   void *opaque);

/* Bus handlers for the four-port range starting at COCOON_PORT_EXIT (the
 * 32-bit exit write covers 0x600-0x603; the timer is the byte at 0x601). */
void guestctl_read(void *opaque, uint64_t offset, void *data, unsigned int size);
void guestctl_write(void *opaque, uint64_t offset, const void *data,
		    unsigned int size);

#endif
