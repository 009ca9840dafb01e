/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-vsock against a hostile driver and busy host sockets.
 * A fresh device per input, listening in a private temporary directory
 * (made once) where a host service also listens at PATH_1234, brought up
 * through the virtio-mmio transport as the fake driver does. The input
 * fills the start of guest RAM, which holds the three queues' rings (rx:
 * avail ring at 0x0000, used ring at 0x0800, descriptors at 0x1000; tx:
 * 0x2000, 0x2800, 0x3000; event: 0x4000, 0x4800, 0x5000) and every buffer.
 * Optionally a host client connects first ("CONNECT 80\n" and more bytes:
 * its connection gets host port 1 << 30, so inputs can answer it). The rx
 * and tx queues are kicked, the event loop's handlers run on this thread,
 * the host service accepts, writes and reads what the guest connected, the
 * host sockets close, the handlers run again, and the device is destroyed
 * before the next input.
 *
 * Input: byte 0 selects the features the driver accepts (bit 0
 * INDIRECT_DESC, bit 1 EVENT_IDX) and host behaviour (bit 2 a client
 * connects, bit 3 the host service writes to what it accepted, bit 4 host
 * sockets close before the second round, bit 5 the driver resets the
 * device and brings it up again on the same rings before the second
 * round), byte 1 the queue sizes (low
 * nibble rx, high nibble tx: 1 << (n % 9); event 4), bytes 2-3
 * (little-endian) how many bytes of guest memory follow (at most 32 KiB);
 * the rest is what host sockets send.
 */
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/vsock.h"
#include "evloop.h"
#include "log.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM (128u << 10)
#define FILL (32u << 10)
#define MAX_ACCEPT 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96], service_path[112];
static int service = -1;

static void cleanup(void)
{
	unlink(service_path);
	unlink(path);
	rmdir(dir);
}

static void set_addr(struct sockaddr_un *sa, const char *p)
{
	size_t n = strlen(p);

	if (n >= sizeof(sa->sun_path))
		abort();
	memcpy(sa->sun_path, p, n + 1);
}

static void once(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(dir, sizeof(dir), "/tmp/cocoon-fuzz-vsock.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	snprintf(service_path, sizeof(service_path), "%s_1234", path);
	set_addr(&sa, service_path);
	service = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (service < 0 || bind(service, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(service, 64)) {
		perror("fuzz_vsock: service socket");
		abort();
	}
	atexit(cleanup);
}

static void pump(struct evloop *loop)
{
	/* Bounded: a hostile ring can keep the device busy; it must still
	 * let go after each batch, and we just stop looking. */
	for (int round = 0; round < 200; round++)
		if (evloop_dispatch(loop, 0) <= 0)
			return;
}

static void bringup(struct vfd *d, uint64_t features, uint8_t sizes)
{
	/* A hostile driver goes on whatever FEATURES_OK says. */
	(void)vfd_negotiate(d, features);
	vfd_program_raw(d, 0, 1u << ((sizes & 15) % 9), 0x1000, 0x0000, 0x0800);
	vfd_program_raw(d, 1, 1u << ((sizes >> 4) % 9), 0x3000, 0x2000, 0x2800);
	vfd_program_raw(d, 2, 4, 0x5000, 0x4000, 0x4800);
	(void)vfd_driver_ok(d);
}

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct evloop loop;
	static struct vfd d;
	static int ready;
	struct vsock *vs = NULL;
	char why[128] = "";
	uint64_t features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	int accepted[MAX_ACCEPT], nr_accepted = 0, client = -1;
	const uint8_t *host_bytes;
	size_t fill, host_len;
	uint8_t opt;

	if (!ready) {
		const struct gm_region r = { .gpa = 0, .size = RAM };

		log_set_level(LOG_ERROR);
		if (gm_create(&mem, &r, 1) || evloop_init(&loop))
			abort();
		once();
		ready = 1;
	}
	if (size < 4)
		return 0;
	opt = data[0];
	if (opt & 0x01)
		features |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (opt & 0x02)
		features |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	fill = (size_t)(data[2] | data[3] << 8);
	if (fill > FILL)
		fill = FILL;
	if (fill > size - 4)
		fill = size - 4;
	host_bytes = data + 4 + fill;
	host_len = size - 4 - fill;

	if (vsock_create(&vs, &mem, &loop, 3, path, why, sizeof(why))) {
		fprintf(stderr, "fuzz_vsock: vsock_create: %s\n", why);
		abort();
	}
	memset(mem.base, 0, RAM);
	memcpy(mem.base, data + 4, fill);
	vfd_init(&d, vsock_dev(vs), &mem);
	bringup(&d, features, data[1]);

	if (opt & 0x04) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		set_addr(&sa, path);
		client = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (client < 0 || connect(client, (struct sockaddr *)&sa, sizeof(sa)))
			abort();
		if (send(client, "CONNECT 80\n", 11, MSG_NOSIGNAL) != 11)
			abort();
		if (host_len)
			(void)send(client, host_bytes, host_len,
				   MSG_DONTWAIT | MSG_NOSIGNAL);
		pump(&loop); /* the line, before the guest's packets */
	}
	vfd_kick(&d, 0);
	vfd_kick(&d, 1);
	pump(&loop);

	/* The host service: take what the guest connected, talk, read. */
	while (nr_accepted < MAX_ACCEPT) {
		int fd = accept4(service, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		accepted[nr_accepted++] = fd;
		if ((opt & 0x08) && host_len)
			(void)send(fd, host_bytes, host_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		drain(fd);
	}
	if (client >= 0)
		drain(client);
	if (opt & 0x10) {
		for (int i = 0; i < nr_accepted; i++)
			close(accepted[i]);
		nr_accepted = 0;
		if (client >= 0)
			close(client);
		client = -1;
	}
	if (opt & 0x20)
		bringup(&d, features, data[1]); /* starts with a reset */
	vfd_kick(&d, 0);
	vfd_kick(&d, 1);
	pump(&loop);

	for (int i = 0; i < nr_accepted; i++) {
		drain(accepted[i]);
		close(accepted[i]);
	}
	if (client >= 0)
		close(client);
	pump(&loop);
	vsock_destroy(vsock_dev(vs));
	/* Anything the device left queued at the service goes too. */
	for (int fd; (fd = accept4(service, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
		close(fd);
	return 0;
}
