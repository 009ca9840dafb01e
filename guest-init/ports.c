/* SPDX-License-Identifier: MIT */
#include "ports.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SYS_PORTS "/sys/class/virtio-ports"
#define CONSOLE_DRIVER "/sys/bus/virtio/drivers/virtio_console"
#define CONSOLE_TTY "/dev/hvc0"

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000u +
	       (unsigned long long)ts.tv_nsec / 1000000u;
}

unsigned long long ports_deadline(void)
{
	return now_ms() + PORTS_WAIT_MS;
}

static void sleep_1ms(void)
{
	struct timespec ts = {0, 1000000};

	nanosleep(&ts, NULL);
}

bool ports_console_present(void)
{
	DIR *d = opendir(CONSOLE_DRIVER);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	/* A bound device shows up as a link named after it: virtio0, ... */
	while (!found && (e = readdir(d)))
		found = strncmp(e->d_name, "virtio", 6) == 0;
	closedir(d);
	return found;
}

/* dst = a + b + c, or false when it does not fit. */
static bool join(char *dst, size_t size, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);

	if (la + lb + lc >= size)
		return false;
	memcpy(dst, a, la);
	memcpy(dst + la, b, lb);
	memcpy(dst + la + lb, c, lc + 1);
	return true;
}

/* The port's name, without the newline sysfs adds; "" when it has none yet. */
static void read_name(const char *dev, char *buf, size_t size)
{
	char path[sizeof(SYS_PORTS) + 256 + 8];
	ssize_t n = -1;
	int fd;

	buf[0] = '\0';
	if (!join(path, sizeof(path), SYS_PORTS "/", dev, "/name"))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
}

/* One pass: open each wanted port that has appeared. Returns how many are
 * still missing, or -errno. */
static int scan(struct port_req *req, size_t n, const char **failed)
{
	DIR *d = opendir(SYS_PORTS);
	struct dirent *e;
	int missing = 0;

	for (size_t i = 0; i < n; i++)
		missing += req[i].fd < 0;
	if (!d)
		return missing; /* the class appears with the driver: not yet */
	while (missing && (e = readdir(d))) {
		char name[128], dev[sizeof("/dev/") + 256];

		if (e->d_name[0] == '.')
			continue;
		read_name(e->d_name, name, sizeof(name));
		for (size_t i = 0; i < n; i++) {
			if (req[i].fd >= 0 || strcmp(name, req[i].name) != 0)
				continue;
			if (!join(dev, sizeof(dev), "/dev/", e->d_name, ""))
				continue;
			req[i].fd = open(dev, req[i].flags | O_CLOEXEC);
			if (req[i].fd < 0) {
				int err = -errno;

				/* devtmpfs creates the node before the name arrives,
				 * so ENOENT cannot mean "not yet". */
				*failed = req[i].name;
				closedir(d);
				return err;
			}
			missing--;
		}
	}
	closedir(d);
	return missing;
}

int ports_open(struct port_req *req, size_t n, unsigned long long deadline_ms,
               const char **failed)
{
	for (size_t i = 0; i < n; i++)
		req[i].fd = -1;
	for (;;) {
		int ret = scan(req, n, failed);

		if (ret <= 0)
			return ret;
		if (now_ms() >= deadline_ms)
			return -ETIMEDOUT;
		sleep_1ms();
	}
}

int ports_open_console(unsigned long long deadline_ms)
{
	for (;;) {
		int fd = open(CONSOLE_TTY, O_RDWR | O_NOCTTY | O_CLOEXEC);

		if (fd >= 0)
			return fd;
		/* No node before the first hvc registers; ENODEV until port 0 is bound.
		 */
		if (errno != ENOENT && errno != ENODEV && errno != ENXIO)
			return -errno;
		if (now_ms() >= deadline_ms)
			return -ETIMEDOUT;
		sleep_1ms();
	}
}
