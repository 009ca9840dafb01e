/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-console (multiport) against a hostile driver. A fresh
 * device per input, with no event loop: the harness calls vcon_poll itself
 * (bounded), as the loop would on every kick. The input fills the start of
 * guest RAM, which holds all twelve queues' rings (queue q: avail ring at
 * q * 0x1000, used ring at +0x200, descriptor table at +0x800) and every
 * buffer, including the driver's control messages on the control transmit
 * queue (DEVICE_READY, PORT_READY, PORT_OPEN, ...) and the buffers for the
 * device's own on the control receive queue.
 *
 * Input: byte 0 selects the features the driver accepts (bit 0 MULTIPORT,
 * bit 1 SIZE, bit 2 INDIRECT_DESC, bit 3 EVENT_IDX) and host behaviour
 * (bit 4 a terminal: host input goes to the console port; bit 5 the output
 * streams are pipes the harness reads after every poll, else /dev/null,
 * which also lets vcon_drain run at the end; bit 6 the driver resets the
 * device and brings it up again on the same rings for a second round;
 * bit 7 the host sends a signal and a window size between the rounds),
 * byte 1 the data queues' size (1 << (n % 8)), byte 2 the control queues'
 * (1 << (n % 6)), bytes 3-4 (little-endian) how many bytes of guest memory
 * follow (at most 64 KiB); the rest is the host's input, then EOF.
 */
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "log.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM (128u << 10)
#define FILL (64u << 10)
#define STRIDE 0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bringup(struct vfd *d, uint64_t features, uint32_t dsize, uint32_t csize)
{
	/* A hostile driver goes on whatever FEATURES_OK says. */
	(void)vfd_negotiate(d, features);
	for (unsigned int q = 0; q < VCON_NR_QUEUES; q++) {
		uint64_t base = (uint64_t)q * STRIDE;
		bool ctrl = q == VCON_CTRL_RXQ || q == VCON_CTRL_TXQ;

		vfd_program_raw(d, q, ctrl ? csize : dsize, base + 0x800, base, base + 0x200);
	}
	(void)vfd_driver_ok(d);
}

static void drain_pipe(int fd)
{
	char buf[65536];

	if (fd >= 0)
		while (read(fd, buf, sizeof(buf)) > 0)
			;
}

/* Poll until the device has nothing left to do now (bounded: a hostile
 * ring may keep it busy; it must let go after each batch). */
static void pump(struct vcon *con, int out_r, int err_r)
{
	for (int round = 0; round < 64; round++) {
		bool more = vcon_poll(con);

		drain_pipe(out_r);
		drain_pipe(err_r);
		if (!more)
			return;
	}
}

/* A pipe whose read end the harness keeps (non-blocking); returns the
 * write end for the device. */
static int out_pipe(int *keep)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		abort();
	*keep = p[0];
	return p[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct vfd d;
	static int ready;
	struct vcon_host host = { .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	struct vcon *con = NULL;
	uint64_t features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	int in[2], out_r = -1, err_r = -1;
	uint32_t dsize, csize;
	size_t fill, in_len;
	uint8_t opt;

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		log_set_level(LOG_ERROR);
		if (gm_create(&mem, &r, 1))
			abort();
		ready = 1;
	}
	if (size < 5)
		return 0;
	opt = data[0];
	if (opt & 0x01)
		features |= VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT);
	if (opt & 0x02)
		features |= VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE);
	if (opt & 0x04)
		features |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (opt & 0x08)
		features |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	dsize = 1u << (data[1] % 8);
	csize = 1u << (data[2] % 6);
	fill = (size_t)(data[3] | data[4] << 8);
	if (fill > FILL)
		fill = FILL;
	if (fill > size - 5)
		fill = size - 5;
	in_len = size - 5 - fill;

	/* Host input: a pipe holding the input's tail, then EOF (it fits: the
	 * tail is below the pipe's 64 KiB whenever max_len is). */
	if (pipe2(in, O_CLOEXEC | O_NONBLOCK))
		abort();
	if (in_len)
		(void)!write(in[1], data + 5 + fill, in_len);
	close(in[1]);
	host.in_fd = in[0];
	host.tty = opt & 0x10;
	if (opt & 0x20) {
		host.out_fd = out_pipe(&out_r);
		host.err_fd = out_pipe(&err_r);
	} else {
		host.out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		host.err_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	host.cols = 80;
	host.rows = 24;
	if (vcon_create(&mem, NULL, &host, &con)) {
		fprintf(stderr, "fuzz_vcon: vcon_create failed\n");
		abort();
	}
	memset(mem.base, 0, RAM);
	memcpy(mem.base, data + 5, fill);
	vfd_init(&d, vcon_dev(con), &mem);
	bringup(&d, features, dsize, csize);
	for (unsigned int q = 0; q < VCON_NR_QUEUES; q++)
		vfd_kick(&d, q);
	pump(con, out_r, err_r);
	if (opt & 0x80) {
		(void)vcon_send_signal(con, 15);
		vcon_set_winsize(con, 132, 43);
		pump(con, out_r, err_r);
	}
	if (opt & 0x40) {
		bringup(&d, features, dsize, csize);
		for (unsigned int q = 0; q < VCON_NR_QUEUES; q++)
			vfd_kick(&d, q);
		pump(con, out_r, err_r);
	}
	/* With pipes nobody would read the rest while vcon_drain waits. */
	if (!(opt & 0x20) && vcon_drain(con, -1))
		abort();
	vcon_destroy(vcon_dev(con));
	if (out_r >= 0)
		close(out_r);
	if (err_r >= 0)
		close(err_r);
	return 0;
}
