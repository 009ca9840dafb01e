/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART on the PIO bus (8 registers). Transmitted bytes go straight
 * to a sink callback; received bytes wait in a 16-byte FIFO. The interrupt
 * line is level-triggered and recomputed after every register access.
 */
#ifndef COCOON_SERIAL_H
#define COCOON_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util.h"

#define SERIAL_FIFO_SIZE 16
#define SERIAL_NR_REGS 8

/* Guest-visible state, kept apart from host resources (snapshot-ready). */
struct serial_state {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	bool thr_ipending; /* a THR-empty interrupt is owed to the guest */
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	int irq_level;
};

struct serial {
	pthread_mutex_t lock;
	struct serial_state st;
	/* Host side. */
	void (*out)(void *opaque, const uint8_t *buf, size_t len);
	void (*set_irq)(void *opaque, int level);
	void *opaque;
};

void serial_init(struct serial *s,
		 void (*out)(void *opaque, const uint8_t *buf, size_t len),
		 void (*set_irq)(void *opaque, int level), void *opaque);

/* Bus handlers; offset 0-7, one byte. Other sizes read 0xff / are ignored. */
void serial_read(void *opaque, uint64_t offset, void *data, unsigned int size);
void serial_write(void *opaque, uint64_t offset, const void *data,
		  unsigned int size);

/* Queue input for the guest. Returns how many bytes fitted in the FIFO. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif
