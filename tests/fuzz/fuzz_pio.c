/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the PIO devices a guest reaches with in/out instructions, the
 * 16550A UART (serial.c) and the guest control ports (guestctl.c), driven
 * by a sequence of accesses of any size and offset, as vcpu.c dispatches
 * them from the bus, with host input arriving in between.
 *
 * Input: records of 2 bytes and more: byte 0 picks the operation (bits
 * 0-1: 0 serial read, 1 serial write, 2 guestctl read or write by bit 7,
 * 3 host input of (byte 1 % 32) bytes taken from what follows), bits 2-4
 * the access size (1, 2, 4 or 8; other values as given); byte 1 the
 * offset (serial: % 16, so past the 8 registers too; guestctl: % 8);
 * then the data of a write (size bytes).
 *
 * Checks beyond ASan/UBSan: the interrupt line the UART reports is 0 or 1,
 * it never transmits more bytes than it was written to, the receive FIFO
 * never holds more than SERIAL_FIFO_SIZE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/guestctl.h"
#include "devices/serial.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	size_t out_bytes, writes;
	int irq;
};

static void out(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;

	(void)buf;
	s->out_bytes += len;
}

static void set_irq(void *opaque, int level)
{
	struct sink *s = opaque;

	if (level != 0 && level != 1) {
		fprintf(stderr, "fuzz_pio: irq level %d\n", level);
		abort();
	}
	s->irq = level;
}

static void on_exit_status(void *opaque, int status)
{
	struct sink *s = opaque;

	(void)s;
	(void)status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int sizes[8] = { 1, 2, 4, 8, 0, 3, 16, 1 };
	struct sink sink = { 0 };
	struct serial ser;
	struct guestctl gc;
	size_t i = 0;

	log_set_level(LOG_ERROR);
	serial_init(&ser, out, set_irq, &sink);
	guestctl_init(&gc, on_exit_status, &sink);
	while (i + 2 <= size) {
		uint8_t op = data[i], arg = data[i + 1];
		unsigned int len = sizes[(op >> 2) & 7];
		uint8_t buf[16] = { 0 };

		i += 2;
		switch (op & 3) {
		case 0:
			serial_read(&ser, arg % 16, buf, len);
			break;
		case 1:
			if (size - i < len)
				goto done;
			memcpy(buf, data + i, len);
			i += len;
			serial_write(&ser, arg % 16, buf, len);
			if (len == 1 && arg % 16 == 0)
				sink.writes++;
			break;
		case 2:
			if (!(op & 0x80)) {
				guestctl_read(&gc, arg % 8, buf, len);
				break;
			}
			if (size - i < len)
				goto done;
			memcpy(buf, data + i, len);
			i += len;
			guestctl_write(&gc, arg % 8, buf, len);
			break;
		case 3: {
			size_t n = arg % 32u;

			if (n > size - i)
				n = size - i;
			if (serial_receive(&ser, data + i, n) > n)
				abort();
			i += n;
			break;
		}
		}
		if (ser.st.rx_count > SERIAL_FIFO_SIZE || sink.out_bytes > sink.writes) {
			fprintf(stderr, "fuzz_pio: rx_count %u, %zu bytes out for %zu writes\n",
				ser.st.rx_count, sink.out_bytes, sink.writes);
			abort();
		}
	}
done:
	pthread_mutex_destroy(&ser.lock);
	return 0;
}
