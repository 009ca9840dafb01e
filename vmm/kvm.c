/* SPDX-License-Identifier: MIT */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_HLT, "KVM_CAP_HLT" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

int kvm_known_unusable(char *why, size_t len)
{
	struct stat st;
	const char *any = getenv("COCOON_KVM_ANY");

	/*
	 * PVM ("kvm_pvm") runs only guests built for it: a standard kernel
	 * never gets past its first instructions, so say so before booting.
	 * COCOON_KVM_ANY=1 skips the check: bench/run measures the VMM's own
	 * start-up up to the first KVM_RUN there, which PVM does support.
	 */
	if ((!any || strcmp(any, "1") != 0) && stat("/sys/module/kvm_pvm", &st) == 0) {
		snprintf(why, len,
			 "/dev/kvm is the PVM hypervisor (kvm_pvm), which cannot run a "
			 "standard guest kernel; use a host with VMX/SVM, or run "
			 "through tests/rig/kvm-exec");
		return 1;
	}
	return 0;
}

int kvm_open(struct kvm *kvm, const char *path, char *why, size_t len)
{
	int ret;

	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			snprintf(why, len,
				 "%s does not exist: KVM is not available on this host "
				 "(load kvm-intel or kvm-amd, or run through tests/rig/kvm-exec)",
				 path);
		else if (ret == -EACCES || ret == -EPERM)
			snprintf(why, len,
				 "%s: permission denied (add the user to the 'kvm' group)",
				 path);
		else
			snprintf(why, len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (ret < 0) {
		ret = -errno;
		snprintf(why, len, "%s is not a KVM device (%s)", path, strerror(-ret));
		goto err_close;
	}
	if (ret != KVM_API_VERSION) {
		snprintf(why, len, "%s speaks KVM API %d, cocoon needs %d", path, ret,
			 KVM_API_VERSION);
		ret = -ENOTSUP;
		goto err_close;
	}
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(why, len, "%s lacks the capability %s", path,
				 required_caps[i].name);
			ret = -ENOTSUP;
			goto err_close;
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		snprintf(why, len, "%s reports a bad vCPU mmap size", path);
		ret = -ENOTSUP;
		goto err_close;
	}
	return 0;

err_close:
	close(kvm->fd);
	kvm->fd = -1;
	return ret;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
}
