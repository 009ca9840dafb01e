/* SPDX-License-Identifier: MIT */
/*
 * vsock-tool: the guest side of the vsock tests and benchmarks (static,
 * musl; busybox has no AF_VSOCK).
 *
 *   vsock-tool listen PORT echo   serve forever; each connection gets its
 *                                 bytes back until it half-closes
 *   vsock-tool listen PORT sink   serve forever; read and discard
 *   vsock-tool listen PORT hold   accept connections and never read them
 *   vsock-tool connect CID PORT   stdin -> the connection (then half-close),
 *                                 the connection -> stdout, until both end
 * Prints "listening PORT" on stdout once the socket listens, so a test can
 * wait for it. Exit status 0, or 1 with a one-line error on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* <linux/vm_sockets.h>'s address, spelled out: musl ships no kernel
 * headers, and this is ABI. */
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define VMADDR_CID_ANY 0xffffffffu
struct sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_flags;
	unsigned char svm_zero[3];
};

static char buf[256 * 1024];

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "vsock-tool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned int num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > 0xffffffffUL) {
		fprintf(stderr, "vsock-tool: %s: not a number\n", s);
		exit(2);
	}
	return (unsigned int)v;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

__attribute__((noreturn)) static void serve(int c, const char *mode)
{
	ssize_t n;

	if (strcmp(mode, "hold") == 0) {
		for (;;)
			pause();
	}
	while ((n = read(c, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read");
		}
		if (strcmp(mode, "echo") == 0 && write_all(c, buf, (size_t)n) < 0)
			die("write");
	}
	_exit(0);
}

static int do_listen(unsigned int port, const char *mode)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				  .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strcmp(mode, "echo") && strcmp(mode, "sink") && strcmp(mode, "hold")) {
		fprintf(stderr, "vsock-tool: %s: use echo, sink or hold\n", mode);
		return 2;
	}
	if (fd < 0)
		die("socket(AF_VSOCK)");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(fd, 128) < 0)
		die("listen");
	signal(SIGCHLD, SIG_IGN); /* reap connection children automatically */
	printf("listening %u\n", port);
	fflush(stdout);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		if (strcmp(mode, "hold") == 0)
			continue; /* keep it open, never read */
		switch (fork()) {
		case -1:
			die("fork");
		case 0:
			close(fd);
			serve(c, mode);
			_exit(0);
		default:
			close(c);
		}
	}
}

/*
 * Copy both ways at once. The socket is non-blocking and written only when
 * poll says it can take bytes, while its input is read all along: a peer
 * that echoes must never find us blocked in a write while its own writes
 * back to us wait (with finite buffers on every hop, that deadlocks).
 */
static int do_connect(unsigned int cid, unsigned int port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	static char out[256 * 1024];
	size_t out_len = 0, out_off = 0;
	int in_open = 1, shut = 0;
	struct pollfd p[2];
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket(AF_VSOCK)");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl");
	for (;;) {
		ssize_t n;

		if (!in_open && out_len == 0 && !shut) {
			shutdown(s, SHUT_WR);
			shut = 1;
		}
		p[0] = (struct pollfd){ .fd = in_open && out_len == 0 ? 0 : -1, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = s, .events = POLLIN | (out_len ? POLLOUT : 0) };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[0].revents) {
			n = read(0, out, sizeof(out));
			if (n < 0 && errno != EINTR)
				die("read stdin");
			if (n == 0)
				in_open = 0;
			if (n > 0) {
				out_len = (size_t)n;
				out_off = 0;
			}
		}
		if ((p[1].revents & POLLOUT) && out_len) {
			n = write(s, out + out_off, out_len);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				die("write to the connection");
			if (n > 0) {
				out_off += (size_t)n;
				out_len -= (size_t)n;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(s, buf, sizeof(buf));
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				die("read from the connection");
			if (n == 0)
				return 0;
			if (n > 0 && write_all(1, buf, (size_t)n) < 0)
				die("write stdout");
		}
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "listen") == 0)
		return do_listen(num(argv[2]), argv[3]);
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return do_connect(num(argv[2]), num(argv[3]));
	fprintf(stderr, "usage: vsock-tool listen PORT echo|sink|hold | connect CID PORT\n");
	return 2;
}
