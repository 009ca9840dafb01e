/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD probe for bench/run's start-up figure: the VMM process (cocoon
 * or QEMU, the same probe for both) stops at its first KVM_RUN ioctl. There
 * it writes the CLOCK_MONOTONIC time in ns as one line to the inherited file
 * descriptor named by $FIRST_KVM_RUN_FD and exits at once with status 0;
 * the parent takes the CPU time from wait4. That is the whole of the VMM's
 * work before the first guest instruction, measured the same way for both,
 * and it works where /dev/kvm cannot run a standard guest (PVM), since the
 * guest never runs. Only write and exit_group are called (clock_gettime is
 * the vDSO's), which cocoon's vCPU sandbox allows.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int ioctl(int fd, unsigned long req, ...);

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, void *);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KVM_RUN) {
		struct timespec ts;
		char line[64];
		const char *env = getenv("FIRST_KVM_RUN_FD");
		int n, out = env ? atoi(env) : 2;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = snprintf(line, sizeof(line), "%lld\n",
			     (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec);
		if (n > 0 && write(out, line, (size_t)n) < 0)
			n = 0;
		_exit(0);
	}
	if (!real)
		real = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
	return real(fd, req, arg);
}
