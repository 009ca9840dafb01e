/* SPDX-License-Identifier: MIT */
/*
 * fs-tool: the guest side of the virtio-fs tests and benchmarks (static,
 * musl; busybox lacks these).
 *
 *   fs-tool openmany DIR N        create and hold open DIR/f0..f(N-1); prints
 *                                 "opened K failed M FIRST-ERROR"
 *   fs-tool setxattr PATH NAME VALUE
 *   fs-tool getxattr PATH NAME    prints the value
 *   fs-tool smallfiles DIR N      create N 1 KiB files, then stat each; prints
 *                                 "create R/s stat R/s"
 *   fs-tool randread DEV N        N reads of 4 KiB at random 4 KiB-aligned
 *                                 offsets of DEV, O_DIRECT (no page cache),
 *                                 one at a time; prints "randread IOPS"
 * Exit status 0, or 1 with a one-line error on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static unsigned long num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end) {
		fprintf(stderr, "fs-tool: %s: not a number\n", s);
		exit(2);
	}
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int openmany(const char *dir, unsigned long n)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	unsigned long opened = 0, failed = 0;
	int first = 0;
	char path[4096];

	/* As many fds as the kernel allows, so the host's cap is what bites. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (unsigned long i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%lu", dir, i);
		fd = open(path, O_RDWR | O_CREAT, 0644);
		if (fd < 0) {
			if (!failed)
				first = errno;
			failed++;
			continue;
		}
		opened++;
	}
	printf("opened %lu failed %lu %s\n", opened, failed, failed ? strerror(first) : "-");
	return 0;
}

static int smallfiles(const char *dir, unsigned long n)
{
	static char buf[1024];
	char path[4096];
	struct stat st;
	double t0, t1, t2;

	memset(buf, 'x', sizeof(buf));
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/s%lu", dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || close(fd) < 0) {
			fprintf(stderr, "fs-tool: %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	t1 = now();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/s%lu", dir, i);
		if (stat(path, &st) < 0 || st.st_size != sizeof(buf)) {
			fprintf(stderr, "fs-tool: stat %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	t2 = now();
	printf("create %.0f/s stat %.0f/s\n", (double)n / (t1 - t0), (double)n / (t2 - t1));
	return 0;
}

static int randread(const char *dev, unsigned long n)
{
	int fd = open(dev, O_RDONLY | O_DIRECT);
	off_t size;
	void *buf;
	unsigned long long x = 88172645463325252ull; /* xorshift64 */
	double t0;

	if (fd < 0 || (size = lseek(fd, 0, SEEK_END)) < 4096) {
		fprintf(stderr, "fs-tool: %s: %s\n", dev, fd < 0 ? strerror(errno) : "too small");
		return 1;
	}
	if (posix_memalign(&buf, 4096, 4096))
		return 1;
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (pread(fd, buf, 4096, (off_t)(x % (unsigned long long)(size / 4096)) * 4096) != 4096) {
			fprintf(stderr, "fs-tool: read %s: %s\n", dev, strerror(errno));
			return 1;
		}
	}
	printf("randread %.0f\n", (double)n / (now() - t0));
	free(buf);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "randread") == 0)
		return randread(argv[2], num(argv[3]));
	if (argc == 4 && strcmp(argv[1], "openmany") == 0)
		return openmany(argv[2], num(argv[3]));
	if (argc == 4 && strcmp(argv[1], "smallfiles") == 0)
		return smallfiles(argv[2], num(argv[3]));
	if (argc == 5 && strcmp(argv[1], "setxattr") == 0) {
		if (setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) < 0) {
			fprintf(stderr, "fs-tool: setxattr %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "getxattr") == 0) {
		char v[4096];
		ssize_t n = getxattr(argv[2], argv[3], v, sizeof(v) - 1);

		if (n < 0) {
			fprintf(stderr, "fs-tool: getxattr %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		v[n] = '\0';
		printf("%s\n", v);
		return 0;
	}
	fprintf(stderr, "usage: fs-tool openmany DIR N | smallfiles DIR N | randread DEV N | "
			"setxattr PATH NAME VALUE | getxattr PATH NAME\n");
	return 2;
}
