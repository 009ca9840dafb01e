/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (multiport) through the fake driver, with pipes as the
 * host's stdin, stdout and stderr: the control handshake, each port's data
 * to and from the right host fd, flow control against a slow reader, EOF,
 * signals and window sizes, and a hostile driver (malformed control
 * messages, wrong-direction chains, floods, resets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>

#include "../../guest-init/abi.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM_SIZE (16u * 1024 * 1024)
#define RINGS 0x10000ull   /* 12 queues, 0x4000 apart */
#define CTRL_BUF 0x80000ull /* control receive buffers, 64 bytes per descriptor */
#define BUF 0x100000ull    /* everything else, from galloc */
#define QSIZE 32u

#define F_VERSION_1 VIRTIO_BIT(VIRTIO_F_VERSION_1)
#define F_MULTIPORT VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT)
#define F_SIZE VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE)
#define F_ALL (F_VERSION_1 | F_MULTIPORT | F_SIZE | VIRTIO_RING_FEATURES)

#define P_CON VCON_PORT_CONSOLE
#define P_IN VCON_PORT_STDIN
#define P_OUT VCON_PORT_STDOUT
#define P_ERR VCON_PORT_STDERR
#define P_CTL VCON_PORT_CONTROL

static struct guest_mem mem;
static struct vcon *con;
static struct vfd d;
static uint8_t *ram;
static uint64_t next_buf;
/* The test's ends of the host streams. */
static int in_w = -1, out_r = -1, err_r = -1;

struct cmsg {
	uint32_t id;
	uint16_t event, value;
	uint32_t len;
	uint8_t extra[56];
};

/* ---- set-up ------------------------------------------------------------------ */

static uint64_t galloc(uint32_t len)
{
	uint64_t a = next_buf;

	next_buf = ALIGN_UP(next_buf + len, 16ull);
	assert_true(next_buf < RAM_SIZE);
	return a;
}

static void close_ends(void)
{
	if (in_w >= 0)
		close(in_w);
	if (out_r >= 0)
		close(out_r);
	if (err_r >= 0)
		close(err_r);
	in_w = out_r = err_r = -1;
}

/* Create the device with fresh pipes; with_in: a host stdin exists. */
static void make_con(bool with_in, bool tty, uint16_t cols, uint16_t rows)
{
	int in[2] = { -1, -1 }, out[2], err[2];
	struct vcon_host host;

	if (with_in)
		assert_int_equal(pipe2(in, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_NONBLOCK | O_CLOEXEC), 0);
	host = (struct vcon_host){ .in_fd = in[0], .out_fd = out[1], .err_fd = err[1],
		.tty = tty, .cols = cols, .rows = rows };
	in_w = in[1];
	out_r = out[0];
	err_r = err[0];
	assert_int_equal(vcon_create(&mem, NULL, &host, &con), 0);
	vfd_init(&d, vcon_dev(con), &mem);
}

static void destroy_con(void)
{
	if (con)
		vcon_destroy(vcon_dev(con));
	con = NULL;
	close_ends();
}

static int setup(void **state)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };

	(void)state;
	assert_int_equal(gm_create(&mem, &r, 1), 0);
	ram = gm_ptr(&mem, 0, RAM_SIZE);
	next_buf = BUF;
	make_con(true, false, 0, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	destroy_con();
	gm_destroy(&mem);
	return 0;
}

/* ---- the guest's side ----------------------------------------------------------- */

static uint16_t last_avail(unsigned int q)
{
	return vcon_dev(con)->vqs[q].st.last_avail;
}

static void poll_dev(void)
{
	vcon_poll(con);
}

/* Post n control receive buffers (64 bytes, at CTRL_BUF + 64 * head). */
static void ctrl_post_rx(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t head = d.q[VCON_CTRL_RXQ].next_desc;
		const struct vfd_buf b = { CTRL_BUF + 64ull * head, 64, true };

		vfd_post(&d, VCON_CTRL_RXQ, &b, 1);
	}
}

/* Control messages the device sent; each consumed buffer is reposted. */
static unsigned int ctrl_recv(struct cmsg *m, unsigned int max)
{
	uint32_t id, len;
	unsigned int n = 0;

	while (n < max && vfd_used(&d, VCON_CTRL_RXQ, &id, &len)) {
		const uint8_t *p = ram + CTRL_BUF + 64ull * id;

		assert_true(len >= 8 && len <= 64);
		m[n] = (struct cmsg){ .id = get_le32(p), .event = get_le16(p + 4),
			.value = get_le16(p + 6), .len = len - 8 };
		memcpy(m[n].extra, p + 8, len - 8);
		n++;
		ctrl_post_rx(1);
	}
	return n;
}

static void ctrl_post(uint32_t id, uint16_t event, uint16_t value)
{
	uint64_t a = galloc(8);

	put_le32(ram + a, id);
	put_le16(ram + a + 4, event);
	put_le16(ram + a + 6, value);
	vfd_post(&d, VCON_CTRL_TXQ, &(struct vfd_buf){ a, 8, false }, 1);
}

/* The driver sends one control message; the device runs a turn. */
static void ctrl_send(uint32_t id, uint16_t event, uint16_t value)
{
	ctrl_post(id, event, value);
	poll_dev();
}

static void expect_msg(const struct cmsg *m, uint32_t id, uint16_t event,
		       uint16_t value)
{
	assert_int_equal(m->id, id);
	assert_int_equal(m->event, event);
	assert_int_equal(m->value, value);
}

static void expect_name(const struct cmsg *m, uint32_t id, const char *name)
{
	assert_int_equal(m->id, id);
	assert_int_equal(m->event, VIRTIO_CONSOLE_PORT_NAME);
	assert_int_equal(m->len, strlen(name));
	assert_memory_equal(m->extra, name, strlen(name));
}

/* Bring the device up as Linux does, through PORT_READY for every port;
 * then the guest opens the ports in `open_mask`. */
static void handshake(uint64_t features, unsigned int open_mask)
{
	struct cmsg m[32];
	unsigned int n;

	assert_true(vfd_bringup(&d, features, VCON_NR_QUEUES, QSIZE, RINGS));
	ctrl_post_rx(16);
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	n = ctrl_recv(m, 32);
	assert_int_equal(n, VCON_NR_PORTS);
	for (unsigned int p = 0; p < VCON_NR_PORTS; p++) {
		assert_int_equal(m[p].event, VIRTIO_CONSOLE_PORT_ADD);
		assert_int_equal(m[p].id, p);
	}
	for (unsigned int p = 0; p < VCON_NR_PORTS; p++)
		ctrl_send(p, VIRTIO_CONSOLE_PORT_READY, 1);
	(void)ctrl_recv(m, 32);
	for (unsigned int p = 0; p < VCON_NR_PORTS; p++)
		if (open_mask & (1u << p))
			ctrl_send(p, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_int_equal(ctrl_recv(m, 32), 0);
}

/* A transmit chain of `len` bytes of `data` on port p. */
static uint16_t tx_post(unsigned int p, const void *data, uint32_t len)
{
	uint64_t a = galloc(len);

	memcpy(ram + a, data, len);
	return vfd_post(&d, vcon_txq(p), &(struct vfd_buf){ a, len, false }, 1);
}

/* A receive buffer of `len` bytes on port p; returns its address. */
static uint64_t rx_post(unsigned int p, uint32_t len)
{
	uint64_t a = galloc(len);

	memset(ram + a, 0xee, len);
	vfd_post(&d, vcon_rxq(p), &(struct vfd_buf){ a, len, true }, 1);
	return a;
}

static size_t drain_fd(int fd, void *buf, size_t max)
{
	size_t got = 0;

	while (got < max) {
		ssize_t n = read(fd, (uint8_t *)buf + got, max - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static int pending_bytes(int fd)
{
	int n = -1;

	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* ---- the handshake ------------------------------------------------------------- */

static void control_handshake(void **state)
{
	struct cmsg m[32];
	unsigned int n;
	uint8_t cfg[12];

	(void)state;
	destroy_con();
	make_con(true, false, 80, 24);
	/* Configuration: the size and max_nr_ports (5.3.4). */
	vmmio_read(vcon_dev(con), 0x100, cfg, 4);
	assert_int_equal(get_le16(cfg), 80);
	assert_int_equal(get_le16(cfg + 2), 24);
	vmmio_read(vcon_dev(con), 0x104, cfg, 4);
	assert_int_equal(get_le32(cfg), VCON_NR_PORTS);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES) & 7, 3); /* SIZE, MULTIPORT */

	assert_true(vfd_bringup(&d, F_ALL, VCON_NR_QUEUES, QSIZE, RINGS));
	ctrl_post_rx(16);
	poll_dev();
	assert_int_equal(ctrl_recv(m, 32), 0); /* nothing before DEVICE_READY */

	/* DEVICE_READY -> PORT_ADD for each port, in order. */
	ctrl_send(VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	n = ctrl_recv(m, 32);
	assert_int_equal(n, VCON_NR_PORTS);
	for (unsigned int p = 0; p < n; p++)
		expect_msg(&m[p], p, VIRTIO_CONSOLE_PORT_ADD, 1);

	/* PORT_READY 0 -> console port, its size, host open. */
	ctrl_send(0, VIRTIO_CONSOLE_PORT_READY, 1);
	n = ctrl_recv(m, 32);
	assert_int_equal(n, 3);
	expect_msg(&m[0], 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	expect_msg(&m[1], 0, VIRTIO_CONSOLE_RESIZE, 0);
	assert_int_equal(m[1].len, 4);
	assert_int_equal(get_le16(m[1].extra), 80);     /* cols first */
	assert_int_equal(get_le16(m[1].extra + 2), 24); /* then rows */
	expect_msg(&m[2], 0, VIRTIO_CONSOLE_PORT_OPEN, 1);

	/* Named ports: name, then host open (stdin: there is input). */
	{
		static const char *const names[] = { NULL, COCOON_PORT_STDIN,
			COCOON_PORT_STDOUT, COCOON_PORT_STDERR, COCOON_PORT_CONTROL };

		for (unsigned int p = 1; p < VCON_NR_PORTS; p++) {
			ctrl_send(p, VIRTIO_CONSOLE_PORT_READY, 1);
			n = ctrl_recv(m, 32);
			assert_int_equal(n, 2);
			/* Open before the name: guest-init reads a port once
			 * it finds it by name. */
			expect_msg(&m[0], p, VIRTIO_CONSOLE_PORT_OPEN, 1);
			expect_name(&m[1], p, names[p]);
		}
	}
	/* The guest's PORT_OPEN answers nothing. */
	ctrl_send(P_OUT, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_int_equal(ctrl_recv(m, 32), 0);
	/* Every control message the driver sent was completed, length 0. */
	{
		uint32_t id, len;
		unsigned int k = 0;

		while (vfd_used(&d, VCON_CTRL_TXQ, &id, &len)) {
			assert_int_equal(len, 0);
			k++;
		}
		assert_int_equal(k, 1 + VCON_NR_PORTS + 1);
	}
}

static void control_buffers_later(void **state)
{
	struct cmsg m[32];

	(void)state;
	/* Messages owed while the driver has no receive buffer wait for one. */
	assert_true(vfd_bringup(&d, F_ALL, VCON_NR_QUEUES, QSIZE, RINGS));
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ctrl_post_rx(2);
	{
		unsigned int n = 0, turns = 0;

		/* Two buffers at a time: two messages per turn, in order. */
		while (n < VCON_NR_PORTS) {
			unsigned int k;

			poll_dev();
			k = ctrl_recv(m + n, 32 - n); /* reposts as many */
			assert_true(k <= 2);
			n += k;
			assert_true(++turns <= 3);
		}
		for (unsigned int p = 0; p < VCON_NR_PORTS; p++)
			expect_msg(&m[p], p, VIRTIO_CONSOLE_PORT_ADD, 1);
	}
}

static void stdin_closed_without_input(void **state)
{
	struct cmsg m[32];

	(void)state;
	destroy_con();
	make_con(false, false, 0, 0); /* no -i: the stdin port stays closed */
	assert_true(vfd_bringup(&d, F_ALL, VCON_NR_QUEUES, QSIZE, RINGS));
	ctrl_post_rx(16);
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	(void)ctrl_recv(m, 32);
	ctrl_send(P_IN, VIRTIO_CONSOLE_PORT_READY, 1);
	assert_int_equal(ctrl_recv(m, 32), 1);
	expect_name(&m[0], P_IN, COCOON_PORT_STDIN);
	/* No size known: no RESIZE for the console port. */
	ctrl_send(P_CON, VIRTIO_CONSOLE_PORT_READY, 1);
	assert_int_equal(ctrl_recv(m, 32), 2);
	expect_msg(&m[0], 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	expect_msg(&m[1], 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
}

/* ---- guest output ---------------------------------------------------------------- */

static void output_to_the_right_fd(void **state)
{
	char buf[64];
	uint32_t id, len;
	uint16_t h;

	(void)state;
	handshake(F_ALL, 1u << P_OUT | 1u << P_ERR | 1u << P_CON);
	h = tx_post(P_OUT, "out\n", 4);
	tx_post(P_ERR, "err\n", 4);
	tx_post(P_CON, "con", 3);
	poll_dev();
	/* Ports 0 and 2 share the host's stdout; port order within a turn. */
	assert_int_equal(drain_fd(out_r, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "conout\n", 7);
	assert_int_equal(drain_fd(err_r, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "err\n", 4);
	assert_true(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
	assert_int_equal(id, h);
	assert_int_equal(len, 0); /* nothing written into a transmit buffer */
	assert_true(vfd_used(&d, vcon_txq(P_ERR), &id, &len));
	assert_true(vfd_used(&d, vcon_txq(P_CON), &id, &len));

	/* Byte-exact: every byte value, over a chain of several buffers. */
	{
		uint8_t all[256], got[256];
		uint64_t a = galloc(256);
		const struct vfd_buf b[3] = { { a, 1, false }, { a + 1, 100, false },
					      { a + 101, 155, false } };

		for (unsigned int i = 0; i < 256; i++)
			all[i] = (uint8_t)i;
		memcpy(ram + a, all, 256);
		vfd_post(&d, vcon_txq(P_ERR), b, 3);
		poll_dev();
		assert_int_equal(drain_fd(err_r, got, sizeof(got)), 256);
		assert_memory_equal(got, all, 256);
		assert_int_equal(drain_fd(out_r, got, sizeof(got)), 0);
	}
	/* Output on host -> guest ports is dropped, not sent anywhere. */
	tx_post(P_IN, "x", 1);
	tx_post(P_CTL, "y", 1);
	poll_dev();
	assert_true(vfd_used(&d, vcon_txq(P_IN), &id, &len));
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, vcon_txq(P_CTL), &id, &len));
	assert_int_equal(drain_fd(out_r, buf, sizeof(buf)) + drain_fd(err_r, buf, sizeof(buf)),
			 0);
}

static void slow_reader_throttles(void **state)
{
	enum { CHUNK = 4096, N = 8 };
	static uint8_t data[N * CHUNK], got[N * CHUNK];
	size_t have = 0;
	uint32_t id, len;
	unsigned int used = 0, rounds = 0;
	uint16_t h;

	(void)state;
	/* The smallest pipe there is: one page. */
	assert_int_equal(fcntl(out_r, F_SETPIPE_SZ, 4096), 4096);
	handshake(F_ALL, 1u << P_OUT | 1u << P_ERR);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	for (unsigned int i = 0; i < N; i++)
		tx_post(P_OUT, data + i * CHUNK, CHUNK);
	poll_dev();
	/* One chain fit; the next is held; no other was popped. */
	assert_int_equal(last_avail(vcon_txq(P_OUT)), 2);
	assert_true(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
	assert_false(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
	used = 1;
	/* More turns without a reader change nothing. */
	poll_dev();
	poll_dev();
	assert_int_equal(last_avail(vcon_txq(P_OUT)), 2);

	/* stderr is not held up by stdout. */
	h = tx_post(P_ERR, "still here", 10);
	poll_dev();
	assert_true(vfd_used(&d, vcon_txq(P_ERR), &id, &len));
	assert_int_equal(id, h);
	assert_int_equal(drain_fd(err_r, got, 64), 10);

	/* The reader reads; the device goes on, a pipeful at a time. */
	while (have < sizeof(data) && rounds++ < 100) {
		have += drain_fd(out_r, got + have, sizeof(got) - have);
		poll_dev();
		assert_true(last_avail(vcon_txq(P_OUT)) <= used + 2);
		while (vfd_used(&d, vcon_txq(P_OUT), &id, &len))
			used++;
	}
	have += drain_fd(out_r, got + have, sizeof(got) - have);
	assert_int_equal(have, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	assert_int_equal(used, N);
}

static void closed_stdout_is_dropped(void **state)
{
	char buf[16];
	uint32_t id, len;

	(void)state;
	handshake(F_ALL, 1u << P_OUT | 1u << P_ERR);
	close(out_r); /* cocoon's stdout reader went away: EPIPE */
	out_r = -1;
	tx_post(P_OUT, "lost", 4);
	tx_post(P_OUT, "lost too", 8);
	tx_post(P_ERR, "kept", 4);
	poll_dev();
	assert_true(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
	assert_true(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, vcon_txq(P_ERR), &id, &len));
	assert_int_equal(drain_fd(err_r, buf, sizeof(buf)), 4);
	assert_false(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void batch_limit_and_regular_file(void **state)
{
	const uint32_t big = 512 * 1024;
	char path[] = "/tmp/test_vcon.XXXXXX";
	int fd = mkstemp(path);
	struct vcon_host host;
	uint64_t ev = 0;
	uint32_t id, len;
	unsigned int n = 0;
	struct stat st;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	destroy_con();
	/* stdout is a regular file: never waits, never polled. */
	host = (struct vcon_host){ .in_fd = -1, .out_fd = dup(fd), .err_fd = -1 };
	assert_int_equal(vcon_create(&mem, NULL, &host, &con), 0);
	vfd_init(&d, vcon_dev(con), &mem);
	handshake(F_ALL, 1u << P_OUT);
	for (unsigned int i = 0; i < 3; i++) {
		uint64_t a = galloc(big);

		memset(ram + a, 'a' + (int)i, big);
		vfd_post(&d, vcon_txq(P_OUT), &(struct vfd_buf){ a, big, false }, 1);
	}
	if (read(vcon_kick_fd(con), &ev, sizeof(ev)) < 0)
		ev = 0; /* no kick pending: fine */
	/* One turn moves at most VCON_MAX_BATCH (1 MiB), then kicks itself. */
	assert_true(vcon_poll(con));
	assert_int_equal(read(vcon_kick_fd(con), &ev, sizeof(ev)), sizeof(ev));
	while (vfd_used(&d, vcon_txq(P_OUT), &id, &len))
		n++;
	assert_int_equal(n, 2);
	assert_false(vcon_poll(con));
	while (vfd_used(&d, vcon_txq(P_OUT), &id, &len))
		n++;
	assert_int_equal(n, 3);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 3 * big);
	/* A chain above VCON_MAX_TX_CHAIN is dropped whole. */
	{
		uint64_t a = galloc(VCON_MAX_TX_CHAIN + 1);

		vfd_post(&d, vcon_txq(P_OUT),
			 &(struct vfd_buf){ a, VCON_MAX_TX_CHAIN + 1, false }, 1);
		poll_dev();
		assert_true(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 3 * big);
	}
	close(fd);
}

static void drain_after_stop(void **state)
{
	char buf[64];
	int abort_fd;

	(void)state;
	handshake(F_ALL, 1u << P_OUT | 1u << P_ERR);
	/* The guest left output in its rings and stopped: no kick, no turn. */
	tx_post(P_OUT, "last ", 5);
	tx_post(P_OUT, "words", 5);
	tx_post(P_ERR, "bye", 3);
	assert_int_equal(vcon_drain(con, -1), 0);
	assert_int_equal(drain_fd(out_r, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "last words", 10);
	assert_int_equal(drain_fd(err_r, buf, sizeof(buf)), 3);

	/* A reader that never reads: the drain waits until told to stop. */
	assert_int_equal(fcntl(out_r, F_SETPIPE_SZ, 4096), 4096);
	{
		static uint8_t big[8192];

		tx_post(P_OUT, big, sizeof(big));
	}
	abort_fd = eventfd(1, EFD_CLOEXEC);
	assert_int_equal(vcon_drain(con, abort_fd), -EINTR);
	close(abort_fd);
	assert_int_equal(drain_fd(out_r, buf, sizeof(buf)), sizeof(buf));
}

/* ---- guest input ------------------------------------------------------------------ */

static void stdin_to_stdin_port(void **state)
{
	struct cmsg m[8];
	uint32_t id, len;
	uint64_t a;

	(void)state;
	handshake(F_ALL, 1u << P_OUT);
	assert_int_equal(write(in_w, "abc", 3), 3);
	a = rx_post(P_IN, 16);
	poll_dev();
	/* The guest has not opened the port: nothing read (Linux would drop
	 * it). */
	assert_int_equal(pending_bytes(in_w), 3);
	assert_false(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
	ctrl_send(P_IN, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_true(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(ram + a, "abc", 3);
	assert_int_equal(ram[a + 3], 0xee);
	assert_int_equal(pending_bytes(in_w), 0);
	/* Not on the console port. */
	assert_false(vfd_used(&d, vcon_rxq(P_CON), &id, &len));

	/* No buffer posted: the input waits in the pipe. */
	assert_int_equal(write(in_w, "defgh", 5), 5);
	poll_dev();
	assert_int_equal(pending_bytes(in_w), 5);
	/* A buffer smaller than the input: the rest goes in the next one. */
	a = rx_post(P_IN, 2);
	rx_post(P_IN, 16);
	vfd_kick(&d, vcon_rxq(P_IN));
	poll_dev();
	assert_true(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(ram + a, "de", 2);
	assert_true(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
	assert_int_equal(len, 3);

	/* EOF: PORT_OPEN 0 for the stdin port, after the data. The device
	 * sees EOF when it has a buffer to read into: Linux always has some
	 * posted. */
	rx_post(P_IN, 16);
	rx_post(P_IN, 16);
	assert_int_equal(write(in_w, "z", 1), 1);
	close(in_w);
	in_w = -1;
	poll_dev();
	assert_true(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
	assert_int_equal(len, 1);
	assert_int_equal(ctrl_recv(m, 8), 1);
	expect_msg(&m[0], P_IN, VIRTIO_CONSOLE_PORT_OPEN, 0);
	/* Once. */
	poll_dev();
	assert_int_equal(ctrl_recv(m, 8), 0);
	assert_false(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
}

static void eof_before_port_ready(void **state)
{
	struct cmsg m[8];

	(void)state;
	/* Input ends before the guest reads it: the port is announced open,
	 * and closed once the device sees the EOF. */
	close(in_w);
	in_w = -1;
	assert_true(vfd_bringup(&d, F_ALL, VCON_NR_QUEUES, QSIZE, RINGS));
	ctrl_post_rx(16);
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	(void)ctrl_recv(m, 8);
	ctrl_send(P_IN, VIRTIO_CONSOLE_PORT_READY, 1);
	assert_int_equal(ctrl_recv(m, 8), 2);
	expect_msg(&m[0], P_IN, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_name(&m[1], P_IN, COCOON_PORT_STDIN);
	/* The guest opens it, reads: EOF. */
	rx_post(P_IN, 16);
	ctrl_send(P_IN, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_int_equal(ctrl_recv(m, 8), 1);
	expect_msg(&m[0], P_IN, VIRTIO_CONSOLE_PORT_OPEN, 0);
}

static void tty_input_to_console_port(void **state)
{
	struct cmsg m[8];
	uint32_t id, len;
	uint64_t a;

	(void)state;
	destroy_con();
	make_con(true, true, 100, 30);
	handshake(F_ALL, 1u << P_CON | 1u << P_IN);
	assert_int_equal(write(in_w, "ls\r", 3), 3);
	rx_post(P_IN, 16);
	a = rx_post(P_CON, 16);
	poll_dev();
	assert_true(vfd_used(&d, vcon_rxq(P_CON), &id, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(ram + a, "ls\r", 3);
	assert_false(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
	/* A terminal has no EOF: the console port stays open. */
	rx_post(P_CON, 16);
	close(in_w);
	in_w = -1;
	poll_dev();
	assert_int_equal(ctrl_recv(m, 8), 0);

	/* SIGWINCH: a RESIZE for the console port. */
	vcon_set_winsize(con, 132, 43);
	poll_dev();
	assert_int_equal(ctrl_recv(m, 8), 1);
	expect_msg(&m[0], 0, VIRTIO_CONSOLE_RESIZE, 0);
	assert_int_equal(get_le16(m[0].extra), 132);
	assert_int_equal(get_le16(m[0].extra + 2), 43);
}

static void tty_stdin_port_closed(void **state)
{
	struct cmsg m[8];

	(void)state;
	destroy_con();
	make_con(true, true, 0, 0);
	assert_true(vfd_bringup(&d, F_ALL, VCON_NR_QUEUES, QSIZE, RINGS));
	ctrl_post_rx(16);
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	(void)ctrl_recv(m, 8);
	/* With -t the input goes to the console: the stdin port is closed. */
	ctrl_send(P_IN, VIRTIO_CONSOLE_PORT_READY, 1);
	assert_int_equal(ctrl_recv(m, 8), 1);
	expect_name(&m[0], P_IN, COCOON_PORT_STDIN);
}

static void signals_on_control_port(void **state)
{
	char expect[VCON_SIGNAL_BUF + 32];
	uint32_t id, len;
	uint64_t a;
	int k = 0;

	(void)state;
	handshake(F_ALL, 1u << P_OUT);
	assert_int_equal(vcon_send_signal(con, 15), 0);
	a = rx_post(P_CTL, 64);
	poll_dev();
	/* Not open in the guest yet: kept. */
	assert_false(vfd_used(&d, vcon_rxq(P_CTL), &id, &len));
	ctrl_send(P_CTL, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_true(vfd_used(&d, vcon_rxq(P_CTL), &id, &len));
	assert_int_equal(len, 10);
	assert_memory_equal(ram + a, "signal 15\n", 10);

	/* Bounded: a guest that never reads cannot make the host buffer
	 * signals without end. */
	expect[0] = '\0';
	while (vcon_send_signal(con, 2) == 0) {
		strcat(expect, "signal 2\n");
		assert_true(++k < 1000);
	}
	assert_true(strlen(expect) <= VCON_SIGNAL_BUF);
	/* Small buffers: the lines arrive split, in order. */
	{
		char got[VCON_SIGNAL_BUF + 1];
		size_t have = 0;

		for (int i = 0; i < 100 && have < strlen(expect); i++) {
			a = rx_post(P_CTL, 7);
			poll_dev();
			while (vfd_used(&d, vcon_rxq(P_CTL), &id, &len)) {
				memcpy(got + have, ram + a, len);
				have += len;
			}
		}
		assert_int_equal(have, strlen(expect));
		assert_memory_equal(got, expect, have);
	}
	assert_int_equal(vcon_send_signal(con, 9), 0);
}

/* ---- a hostile driver ---------------------------------------------------------------- */

static void malformed_control(void **state)
{
	struct cmsg m[32];
	uint32_t id, len;
	uint64_t a;

	(void)state;
	assert_true(vfd_bringup(&d, F_ALL, VCON_NR_QUEUES, QSIZE, RINGS));
	ctrl_post_rx(16);
	/* Short. */
	a = galloc(8);
	put_le32(ram + a, 0);
	vfd_post(&d, VCON_CTRL_TXQ, &(struct vfd_buf){ a, 4, false }, 1);
	/* Split over two buffers: fine, it is one message. */
	a = galloc(8);
	put_le32(ram + a, 0);
	put_le16(ram + a + 4, VIRTIO_CONSOLE_DEVICE_READY);
	put_le16(ram + a + 6, 1);
	{
		const struct vfd_buf two[2] = { { a, 3, false }, { a + 3, 5, false } };

		vfd_post(&d, VCON_CTRL_TXQ, two, 2);
	}
	/* Unknown events, ports out of range, device-only events. */
	ctrl_post(0, 99, 1);
	ctrl_post(0xffff, 0xffff, 0xffff);
	ctrl_post(VCON_NR_PORTS, VIRTIO_CONSOLE_PORT_READY, 1);
	ctrl_post(UINT32_MAX, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ctrl_post(0, VIRTIO_CONSOLE_PORT_ADD, 1);
	ctrl_post(0, VIRTIO_CONSOLE_RESIZE, 1);
	ctrl_post(1, VIRTIO_CONSOLE_PORT_NAME, 1);
	/* Writable (wrong direction). */
	a = galloc(8);
	vfd_post(&d, VCON_CTRL_TXQ, &(struct vfd_buf){ a, 8, true }, 1);
	/* A descriptor loop. */
	vfd_desc(&d, VCON_CTRL_TXQ, 30, a, 8, VRING_DESC_F_NEXT, 30);
	vfd_publish(&d, VCON_CTRL_TXQ, 30);
	poll_dev();
	for (unsigned int i = 0; i < 11; i++) {
		assert_true(vfd_used(&d, VCON_CTRL_TXQ, &id, &len));
		assert_int_equal(len, 0);
	}
	assert_false(vfd_used(&d, VCON_CTRL_TXQ, &id, &len));
	/* Only the one good DEVICE_READY was acted on. */
	assert_int_equal(ctrl_recv(m, 32), VCON_NR_PORTS);
	assert_false(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* DEVICE_READY 0 (the driver failed) and PORT_READY 0: nothing. */
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 0);
	ctrl_send(2, VIRTIO_CONSOLE_PORT_READY, 0);
	assert_int_equal(ctrl_recv(m, 32), 0);
	/* Still works. */
	ctrl_send(2, VIRTIO_CONSOLE_PORT_READY, 1);
	assert_int_equal(ctrl_recv(m, 32), 2);
}

static void bad_control_receive_buffers(void **state)
{
	struct cmsg m[8];
	uint32_t id, len;
	uint64_t a = galloc(64);

	(void)state;
	assert_true(vfd_bringup(&d, F_ALL, VCON_NR_QUEUES, QSIZE, RINGS));
	/* Readable, and too small for a message: completed empty; the
	 * message waits for a proper buffer. */
	vfd_post(&d, VCON_CTRL_RXQ, &(struct vfd_buf){ a, 64, false }, 1);
	vfd_post(&d, VCON_CTRL_RXQ, &(struct vfd_buf){ a, 4, true }, 1);
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	assert_true(vfd_used(&d, VCON_CTRL_RXQ, &id, &len));
	assert_int_equal(len, 0);
	assert_true(vfd_used(&d, VCON_CTRL_RXQ, &id, &len));
	assert_int_equal(len, 0);
	ctrl_post_rx(8);
	poll_dev();
	assert_int_equal(ctrl_recv(m, 8), VCON_NR_PORTS);
	expect_msg(&m[0], 0, VIRTIO_CONSOLE_PORT_ADD, 1);
}

static void control_flood_is_bounded(void **state)
{
	struct cmsg m[32];
	unsigned int n;

	(void)state;
	handshake(F_ALL, 0);
	/* 600 requests for replies, with 16 receive buffers and no more. */
	for (unsigned int round = 0; round < 20; round++) {
		for (unsigned int i = 0; i < 30; i++)
			ctrl_post(P_OUT, VIRTIO_CONSOLE_PORT_READY, 1);
		poll_dev();
	}
	/* Whatever buffers the driver had left got a reply each; what is
	 * still owed is one NAME and one OPEN, however many requests. */
	(void)ctrl_recv(m, 32);
	poll_dev();
	n = ctrl_recv(m, 32);
	assert_true(n <= 2);
	poll_dev();
	assert_int_equal(ctrl_recv(m, 32), 0);
}

static void wrong_direction_data(void **state)
{
	uint32_t id, len;
	uint64_t a = galloc(16);
	char buf[16];

	(void)state;
	handshake(F_ALL, 1u << P_OUT | 1u << P_IN);
	memcpy(ram + a, "secret", 6);
	/* A transmit chain with a writable part: dropped, length 0. */
	{
		const struct vfd_buf b[2] = { { a, 6, false }, { a + 8, 8, true } };

		vfd_post(&d, vcon_txq(P_OUT), b, 2);
	}
	/* A receive chain with a readable part: length 0, no input used. */
	assert_int_equal(write(in_w, "in", 2), 2);
	vfd_post(&d, vcon_rxq(P_IN), &(struct vfd_buf){ a, 8, false }, 1);
	poll_dev();
	assert_true(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
	assert_int_equal(len, 0);
	assert_int_equal(drain_fd(out_r, buf, sizeof(buf)), 0);
	assert_true(vfd_used(&d, vcon_rxq(P_IN), &id, &len));
	assert_int_equal(len, 0);
	assert_int_equal(pending_bytes(in_w), 2);
	assert_memory_equal(ram + a, "secret", 6);
	/* A broken ring: NEEDS_RESET, nothing else. */
	vfd_set_avail_idx(&d, vcon_txq(P_OUT), 500);
	poll_dev();
	assert_true(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void reset_drops_held_chains(void **state)
{
	static uint8_t big[3 * 4096];
	char buf[64];
	uint32_t id, len;

	(void)state;
	assert_int_equal(fcntl(out_r, F_SETPIPE_SZ, 4096), 4096);
	handshake(F_ALL, 1u << P_OUT | 1u << P_IN);
	tx_post(P_OUT, big, sizeof(big)); /* held: the pipe is full */
	rx_post(P_IN, 16);                /* held: no input */
	poll_dev();
	assert_int_equal(drain_fd(out_r, big, sizeof(big)), 4096);
	vfd_wr(&d, VIRTIO_MMIO_STATUS, 0);
	poll_dev(); /* inactive: nothing */
	/* The driver comes back; the old chains are forgotten. */
	handshake(F_ALL, 1u << P_OUT);
	tx_post(P_OUT, "new", 3);
	poll_dev();
	assert_true(vfd_used(&d, vcon_txq(P_OUT), &id, &len));
	assert_int_equal(drain_fd(out_r, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "new", 3);
}

static void without_multiport(void **state)
{
	char buf[16];
	uint32_t id, len;
	uint64_t a;

	(void)state;
	destroy_con();
	make_con(true, true, 0, 0);
	/* An old driver: port 0 only, a console from the start. */
	assert_true(vfd_bringup(&d, F_VERSION_1, 2, QSIZE, RINGS));
	tx_post(P_CON, "hvc", 3);
	assert_int_equal(write(in_w, "k", 1), 1);
	a = rx_post(P_CON, 8);
	poll_dev();
	assert_int_equal(drain_fd(out_r, buf, sizeof(buf)), 3);
	assert_true(vfd_used(&d, vcon_rxq(P_CON), &id, &len));
	assert_int_equal(len, 1);
	assert_int_equal(ram[a], 'k');
	/* A resize goes through the configuration space. */
	vcon_set_winsize(con, 90, 20);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_true(vfd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(vfd_rd(&d, 0x100), 90 | 20 << 16);
}

static void open_host_fd(void **state)
{
	int p[2], fd, fl;
	char path[] = "/tmp/test_vcon.XXXXXX";
	int file = mkstemp(path);

	(void)state;
	unlink(path);
	/* A pipe: a new description, non-blocking; the original untouched. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fd = vcon_open_host_fd(p[1], true);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	fd = vcon_open_host_fd(p[0], false);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	close(p[0]);
	close(p[1]);
	/* A file opened for append: shared, so the offset and O_APPEND hold. */
	fl = fcntl(file, F_GETFL);
	assert_int_equal(fcntl(file, F_SETFL, fl | O_APPEND), 0);
	assert_int_equal(write(file, "ab", 2), 2);
	fd = vcon_open_host_fd(file, true);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_APPEND);
	assert_int_equal(write(fd, "cd", 2), 2);
	assert_int_equal(lseek(file, 0, SEEK_END), 4);
	close(fd);
	close(file);
	assert_int_equal(vcon_open_host_fd(1000, true), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(control_handshake),
		T(control_buffers_later),
		T(stdin_closed_without_input),
		T(output_to_the_right_fd),
		T(slow_reader_throttles),
		T(closed_stdout_is_dropped),
		T(batch_limit_and_regular_file),
		T(drain_after_stop),
		T(stdin_to_stdin_port),
		T(eof_before_port_ready),
		T(tty_input_to_console_port),
		T(tty_stdin_port_closed),
		T(signals_on_control_port),
		T(malformed_control),
		T(bad_control_receive_buffers),
		T(control_flood_is_bounded),
		T(wrong_direction_data),
		T(reset_drops_held_chains),
		T(without_multiport),
		T(open_host_fd),
#undef T
	};

	/* cocoon ignores SIGPIPE; so does the test of a closed reader. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
