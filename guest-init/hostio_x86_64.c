/* SPDX-License-Identifier: MIT */
/*
 * x86 port I/O to the VMM. Own two-line inline asm rather than <sys/io.h>'s
 * outb(): that one is not in every libc, and its argument order differs
 * between systems. Only ioperm() comes from libc.
 */
#include "hostio.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/io.h>

/*
 * The CPU checks one I/O-bitmap bit per byte accessed, so the 32-bit exit
 * write at COCOON_PORT_EXIT needs ports EXIT..EXIT+3; that range also
 * covers COCOON_PORT_TIMER. Granting less makes the exit write fault, and a
 * fault in PID 1 panics the kernel.
 */
#define HOSTIO_FIRST COCOON_PORT_EXIT
#define HOSTIO_COUNT 4

static bool hostio_ok;

static inline void port_outb(uint16_t port, uint8_t val)
{
	__asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline void port_outl(uint16_t port, uint32_t val)
{
	__asm__ volatile("outl %0, %1" : : "a"(val), "Nd"(port));
}

int hostio_open(void)
{
	/* Needs CONFIG_X86_IOPL_IOPERM and CAP_SYS_RAWIO (PID 1 has it). */
	if (ioperm(HOSTIO_FIRST, HOSTIO_COUNT, 1) < 0)
		return -errno;
	hostio_ok = true;
	return 0;
}

void hostio_mark(enum cocoon_mark mark)
{
	if (hostio_ok)
		port_outb(COCOON_PORT_TIMER, (uint8_t)mark);
}

void hostio_exit(unsigned int status)
{
	if (hostio_ok)
		port_outl(COCOON_PORT_EXIT, status);
}

void hostio_close(void)
{
	/* Turning bits off cannot fail for a range we turned on. */
	if (hostio_ok)
		(void)ioperm(HOSTIO_FIRST, HOSTIO_COUNT, 0);
	hostio_ok = false;
}
