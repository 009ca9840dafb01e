/* SPDX-License-Identifier: MIT */
/*
 * Published ports: the forwarder against a loopback server standing in for
 * the guest; and the choice of a VM's /30 (hostnet_pick_block).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostnet.h"
#include "portfwd.h"

#define LOOPBACK 0x7f000001u

/* The "guest": a loopback echo server, one connection at a time. */
struct echo_srv {
	int fd;
	uint16_t port;
	pthread_t thread;
};

static void *echo_thread(void *arg)
{
	struct echo_srv *e = arg;
	static char buf[65536];

	for (;;) {
		int c = accept(e->fd, NULL, NULL);
		ssize_t n;

		if (c < 0)
			return NULL;
		while ((n = read(c, buf, sizeof(buf))) > 0)
			if (write(c, buf, (size_t)n) != n)
				break;
		close(c);
	}
}

static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LOOPBACK) };
	socklen_t l = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &l), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int connect_loopback(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Send `len` bytes and read the echo concurrently (the forwarder's buffers
 * are smaller than the payload, so a writer that never reads would stall). */
static void echo_roundtrip(int fd, const uint8_t *data, size_t len, uint8_t *back)
{
	size_t sent = 0, got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0) };

		assert_true(poll(&p, 1, 10000) > 0);
		if ((p.revents & POLLOUT) && sent < len) {
			ssize_t n = send(fd, data + sent, len - sent > 65536 ? 65536 : len - sent,
					 MSG_DONTWAIT);

			if (n > 0)
				sent += (size_t)n;
			if (sent == len)
				shutdown(fd, SHUT_WR);
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(fd, back + got, len - got);

			assert_true(n > 0);
			got += (size_t)n;
		}
	}
}

static void forwards_both_ways(void **state)
{
	struct echo_srv e;
	struct vm_port port = { .host_ip = LOOPBACK, .host_port = 0 };
	struct portfwd *pf;
	size_t len = 3u << 20;
	uint8_t *data = malloc(len), *back = malloc(len);
	char why[256];
	char eof;

	(void)state;
	e.fd = listen_loopback(&e.port);
	assert_int_equal(pthread_create(&e.thread, NULL, echo_thread, &e), 0);
	port.guest_port = e.port;
	assert_int_equal(portfwd_create(&pf, &port, 1, LOOPBACK, why, sizeof(why)), 0);
	assert_int_equal(portfwd_start(pf), 0);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + i / 4096);
	/* Twice: connections are independent. */
	for (int round = 0; round < 2; round++) {
		int fd = connect_loopback(portfwd_host_port(pf, 0));

		memset(back, 0, len);
		echo_roundtrip(fd, data, len, back);
		assert_memory_equal(data, back, len);
		/* The guest's close after our half-close reaches us as EOF. */
		assert_int_equal(read(fd, &eof, 1), 0);
		close(fd);
	}
	portfwd_destroy(pf);
	shutdown(e.fd, SHUT_RDWR);
	close(e.fd);
	pthread_join(e.thread, NULL);
	free(data);
	free(back);
}

static void guest_refuses(void **state)
{
	struct vm_port port = { .host_ip = LOOPBACK, .host_port = 0 };
	struct portfwd *pf;
	uint16_t closed_port;
	char why[256], c;
	int fd, lfd;

	(void)state;
	/* A port nobody listens on: bind one, note it, close it. */
	lfd = listen_loopback(&closed_port);
	close(lfd);
	port.guest_port = closed_port;
	assert_int_equal(portfwd_create(&pf, &port, 1, LOOPBACK, why, sizeof(why)), 0);
	assert_int_equal(portfwd_start(pf), 0);
	fd = connect_loopback(portfwd_host_port(pf, 0));
	/* Closed: EOF or a reset, never a hang. */
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };

		assert_true(poll(&p, 1, 10000) == 1);
	}
	assert_true(read(fd, &c, 1) <= 0);
	close(fd);
	portfwd_destroy(pf);
}

static void port_in_use(void **state)
{
	struct vm_port port = { .host_ip = LOOPBACK };
	struct portfwd *pf;
	uint16_t busy;
	char why[256], want[64];
	int lfd;

	(void)state;
	lfd = listen_loopback(&busy);
	port.host_port = busy;
	port.guest_port = 80;
	assert_int_equal(portfwd_create(&pf, &port, 1, LOOPBACK, why, sizeof(why)), -EADDRINUSE);
	assert_null(pf);
	snprintf(want, sizeof(want), "-p 127.0.0.1:%u: Address already in use", busy);
	assert_string_equal(why, want);
	close(lfd);
}

static void picks_free_blocks(void **state)
{
	uint32_t addrs[4] = { 0 };
	unsigned int prefixes[4] = { 0 };

	(void)state;
	/* Nothing on the host: the first block. */
	assert_int_equal(hostnet_pick_block(addrs, prefixes, 0), HOSTNET_POOL);
	/* Another cocoon's host end in block 0: block 1. */
	addrs[0] = HOSTNET_POOL + 1;
	prefixes[0] = 30;
	assert_int_equal(hostnet_pick_block(addrs, prefixes, 1), HOSTNET_POOL + 4);
	/* Also an address inside block 1 under a /32: block 2. */
	addrs[1] = HOSTNET_POOL + 6;
	prefixes[1] = 32;
	assert_int_equal(hostnet_pick_block(addrs, prefixes, 2), HOSTNET_POOL + 8);
	/* A /16 that covers the whole pool: nothing is free. */
	addrs[2] = HOSTNET_POOL + 77;
	prefixes[2] = 16;
	assert_int_equal(hostnet_pick_block(addrs, prefixes, 3), 0);
	/* Unrelated networks don't matter. */
	addrs[0] = 0xc0a80001;
	prefixes[0] = 24;
	addrs[1] = 0x7f000001;
	prefixes[1] = 8;
	assert_int_equal(hostnet_pick_block(addrs, prefixes, 2), HOSTNET_POOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forwards_both_ways),
		cmocka_unit_test(guest_refuses),
		cmocka_unit_test(port_in_use),
		cmocka_unit_test(picks_free_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
