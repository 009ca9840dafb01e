/* SPDX-License-Identifier: MIT */
/* The 16550A, register by register, as Linux's 8250 driver probes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "devices/serial.h"

static uint8_t out_buf[64];
static size_t out_len;
static int irq_level, irq_changes;

static void out(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	memcpy(out_buf + out_len, buf, len);
	out_len += len;
}

static void set_irq(void *opaque, int level)
{
	(void)opaque;
	irq_level = level;
	irq_changes++;
}

static struct serial s;

static int setup(void **state)
{
	(void)state;
	out_len = 0;
	irq_level = 0;
	irq_changes = 0;
	serial_init(&s, out, set_irq, NULL);
	return 0;
}

static uint8_t rd(unsigned int reg)
{
	uint8_t v;

	serial_read(&s, reg, &v, 1);
	return v;
}

static void wr(unsigned int reg, uint8_t v)
{
	serial_write(&s, reg, &v, 1);
}

static void transmit(void **state)
{
	(void)state;
	wr(0, 'h');
	wr(0, 'i');
	assert_int_equal(out_len, 2);
	assert_memory_equal(out_buf, "hi", 2);
	/* Transmitter always empty: THRE and TEMT. */
	assert_int_equal(rd(5) & 0x60, 0x60);
	assert_int_equal(irq_changes, 0); /* no interrupt enabled */
}

static void divisor_latch(void **state)
{
	(void)state;
	wr(3, 0x80); /* DLAB */
	wr(0, 0x01);
	wr(1, 0x02);
	assert_int_equal(rd(0), 0x01);
	assert_int_equal(rd(1), 0x02);
	assert_int_equal(out_len, 0); /* divisor writes are not data */
	wr(3, 0x03);
	assert_int_equal(rd(1), 0); /* IER, untouched */
	assert_int_equal(rd(3), 0x03);
}

static void scratch_and_fifo_id(void **state)
{
	(void)state;
	wr(7, 0xa5);
	assert_int_equal(rd(7), 0xa5);
	assert_int_equal(rd(2), 0x01); /* no FIFO, no interrupt */
	wr(2, 0x01);                   /* enable FIFOs */
	assert_int_equal(rd(2), 0xc1); /* 16550A: both FIFO bits */
}

static void thre_interrupt(void **state)
{
	(void)state;
	wr(1, 0x02); /* IER: THRI, while THR is empty: interrupt at once */
	assert_int_equal(irq_level, 1);
	assert_int_equal(rd(2) & 0x0f, 0x02);
	/* Reading IIR acknowledged it. */
	assert_int_equal(irq_level, 0);
	assert_int_equal(rd(2) & 0x0f, 0x01);
	/* Each transmitted byte owes another THRE interrupt. */
	wr(0, 'x');
	assert_int_equal(irq_level, 1);
	wr(1, 0);
	assert_int_equal(irq_level, 0);
	/* Re-enabling THRI raises it again: Linux's UART_BUG_THRE probe. */
	wr(1, 0x02);
	assert_int_equal(irq_level, 1);
}

static void receive_and_priority(void **state)
{
	uint8_t in[20];

	(void)state;
	memset(in, 'z', sizeof(in));
	in[0] = 'a';
	assert_int_equal(serial_receive(&s, in, sizeof(in)), SERIAL_FIFO_SIZE);
	assert_int_equal(rd(5) & 0x01, 0x01);
	wr(1, 0x03); /* RDI and THRI: receive wins (higher priority) */
	assert_int_equal(rd(2) & 0x0f, 0x04);
	assert_int_equal(rd(0), 'a');
	for (int i = 1; i < SERIAL_FIFO_SIZE; i++)
		assert_int_equal(rd(0), 'z');
	assert_int_equal(rd(5) & 0x01, 0);
	assert_int_equal(rd(2) & 0x0f, 0x02); /* now THRE */
	assert_int_equal(rd(0), 0); /* empty FIFO reads 0 */
}

static void loopback(void **state)
{
	(void)state;
	wr(4, 0x10 | 0x0f); /* loop, all outputs up */
	assert_int_equal(rd(6) & 0xf0, 0xf0);
	wr(4, 0x10 | 0x02); /* only RTS -> CTS */
	assert_int_equal(rd(6) & 0xf0, 0x10);
	wr(0, 'L'); /* looped back into the receiver, not out */
	assert_int_equal(out_len, 0);
	assert_int_equal(rd(0), 'L');
	wr(4, 0);
	assert_int_equal(rd(6) & 0xb0, 0xb0); /* carrier, DSR, CTS */
}

static void bad_sizes_and_offsets(void **state)
{
	uint32_t v = 0;

	(void)state;
	serial_read(&s, 0, &v, 4);
	assert_int_equal(v, 0xffffffff);
	serial_write(&s, 0, &v, 4);
	serial_write(&s, 9, &v, 1);
	assert_int_equal(out_len, 0);
	wr(5, 0); /* LSR is read-only */
	assert_int_equal(rd(5) & 0x60, 0x60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(transmit, setup),
		cmocka_unit_test_setup(divisor_latch, setup),
		cmocka_unit_test_setup(scratch_and_fifo_id, setup),
		cmocka_unit_test_setup(thre_interrupt, setup),
		cmocka_unit_test_setup(receive_and_priority, setup),
		cmocka_unit_test_setup(loopback, setup),
		cmocka_unit_test_setup(bad_sizes_and_offsets, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
