/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART. Register map and interrupt priorities follow the National
 * Semiconductor PC16550D data sheet (tables 2 and 4); Linux's 8250 driver
 * probes exactly these behaviours: scratch register, FIFO bits in IIR,
 * loopback through MCR/MSR, and the THRE interrupt on IER writes.
 */
#include "serial.h"

#include <string.h>

enum {
	REG_RBR_THR = 0, /* DLL when LCR.DLAB */
	REG_IER = 1,     /* DLM when LCR.DLAB */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define LCR_DLAB 0x80
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO_ON 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LSR_DR 0x01
#define LSR_ERRORS 0x1e
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80

void serial_init(struct serial *s,
		 void (*out)(void *opaque, const uint8_t *buf, size_t len),
		 void (*set_irq)(void *opaque, int level), void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out = out;
	s->set_irq = set_irq;
	s->opaque = opaque;
	s->st.lsr = LSR_THRE | LSR_TEMT;
	/* A modem with carrier: CTS, DSR and DCD up. */
	s->st.msr = MSR_CTS | MSR_DSR | MSR_DCD;
}

static uint8_t iir_id(const struct serial_state *st)
{
	if ((st->ier & IER_RLSI) && (st->lsr & LSR_ERRORS))
		return IIR_RLSI;
	if ((st->ier & IER_RDI) && (st->lsr & LSR_DR))
		return IIR_RDI;
	if ((st->ier & IER_THRI) && st->thr_ipending)
		return IIR_THRI;
	return IIR_NO_INT;
}

static void update_irq(struct serial *s)
{
	int level = iir_id(&s->st) != IIR_NO_INT;

	if (level != s->st.irq_level) {
		s->st.irq_level = level;
		if (s->set_irq)
			s->set_irq(s->opaque, level);
	}
}

static void rx_push(struct serial_state *st, uint8_t b)
{
	if (st->rx_count == SERIAL_FIFO_SIZE) {
		st->lsr |= 0x02; /* overrun error */
		return;
	}
	st->rx[(st->rx_head + st->rx_count) % SERIAL_FIFO_SIZE] = b;
	st->rx_count++;
	st->lsr |= LSR_DR;
}

static uint8_t rx_pop(struct serial_state *st)
{
	uint8_t b;

	if (st->rx_count == 0)
		return 0;
	b = st->rx[st->rx_head];
	st->rx_head = (st->rx_head + 1) % SERIAL_FIFO_SIZE;
	if (--st->rx_count == 0)
		st->lsr &= (uint8_t)~LSR_DR;
	return b;
}

static uint8_t modem_status(const struct serial_state *st)
{
	if (!(st->mcr & MCR_LOOP))
		return st->msr;
	/* Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
	return (uint8_t)(((st->mcr & 0x02) << 3) | ((st->mcr & 0x01) << 5) |
			 ((st->mcr & 0x04) << 4) | ((st->mcr & 0x08) << 4));
}

void serial_read(void *opaque, uint64_t offset, void *data, unsigned int size)
{
	struct serial *s = opaque;
	struct serial_state *st = &s->st;
	uint8_t v = 0;

	if (size != 1 || offset >= SERIAL_NR_REGS) {
		memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case REG_RBR_THR:
		v = (st->lcr & LCR_DLAB) ? st->dll : rx_pop(st);
		break;
	case REG_IER:
		v = (st->lcr & LCR_DLAB) ? st->dlm : st->ier;
		break;
	case REG_IIR_FCR: {
		uint8_t id = iir_id(st);

		v = id | ((st->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
		/* Reading IIR while it reports THRE acknowledges it. */
		if (id == IIR_THRI)
			st->thr_ipending = false;
		break;
	}
	case REG_LCR:
		v = st->lcr;
		break;
	case REG_MCR:
		v = st->mcr;
		break;
	case REG_LSR:
		v = st->lsr;
		st->lsr &= (uint8_t)~LSR_ERRORS; /* errors clear on read */
		break;
	case REG_MSR:
		v = modem_status(st);
		break;
	case REG_SCR:
		v = st->scr;
		break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	*(uint8_t *)data = v;
}

void serial_write(void *opaque, uint64_t offset, const void *data,
		  unsigned int size)
{
	struct serial *s = opaque;
	struct serial_state *st = &s->st;
	uint8_t v;

	if (size != 1 || offset >= SERIAL_NR_REGS)
		return;
	v = *(const uint8_t *)data;
	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case REG_RBR_THR:
		if (st->lcr & LCR_DLAB) {
			st->dll = v;
			break;
		}
		if (st->mcr & MCR_LOOP)
			rx_push(st, v);
		else if (s->out)
			s->out(s->opaque, &v, 1);
		/* The byte left at once: the holding register is empty again. */
		st->thr_ipending = true;
		break;
	case REG_IER:
		if (st->lcr & LCR_DLAB) {
			st->dlm = v;
			break;
		}
		/* Enabling THRI with an empty THR raises the interrupt. */
		if ((v & IER_THRI) && !(st->ier & IER_THRI))
			st->thr_ipending = true;
		st->ier = v & 0x0f;
		break;
	case REG_IIR_FCR:
		if (v & FCR_CLEAR_RX) {
			st->rx_count = 0;
			st->lsr &= (uint8_t)~LSR_DR;
		}
		st->fcr = v & 0xc9;
		break;
	case REG_LCR:
		st->lcr = v;
		break;
	case REG_MCR:
		st->mcr = v & 0x1f;
		break;
	case REG_SCR:
		st->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && s->st.rx_count < SERIAL_FIFO_SIZE)
		rx_push(&s->st, buf[n++]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}
