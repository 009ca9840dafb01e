/* SPDX-License-Identifier: MIT */
#include "guestctl.h"

#include <string.h>

#include "../log.h"
#include "../util.h"

void guestctl_init(struct guestctl *g, void (*on_exit)(void *opaque, int status),
		   void *opaque)
{
	memset(g, 0, sizeof(*g));
	g->on_exit = on_exit;
	g->opaque = opaque;
}

void guestctl_read(void *opaque, uint64_t offset, void *data, unsigned int size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size); /* write-only ports */
}

void guestctl_write(void *opaque, uint64_t offset, const void *data,
		    unsigned int size)
{
	struct guestctl *g = opaque;

	if (offset == COCOON_PORT_EXIT - COCOON_PORT_EXIT && size == 4) {
		uint32_t status;

		memcpy(&status, data, 4);
		/* Only 0-255 is a status; anything else is a broken init. */
		if (status > 255) {
			log_guest_once("exit port got out-of-range status %u", status);
			status = COCOON_STATUS_INIT_FAILED;
		}
		g->on_exit(g->opaque, (int)status);
	} else if (offset == COCOON_PORT_TIMER - COCOON_PORT_EXIT && size == 1) {
		uint8_t mark = *(const uint8_t *)data;

		if (mark == 0 || mark >= GUESTCTL_NR_MARKS) {
			log_guest_once("unknown boot-timer mark %u", mark);
			return;
		}
		/* Only the first of each mark counts; the vCPU thread is the
		 * only writer, the main thread reads after joining it. */
		if (!__atomic_load_n(&g->mark_ns[mark], __ATOMIC_RELAXED))
			__atomic_store_n(&g->mark_ns[mark], now_ns(), __ATOMIC_RELEASE);
	} else {
		log_guest_once("guest control port %#llx: bad %u-byte write",
			       (unsigned long long)(COCOON_PORT_EXIT + offset), size);
	}
}
