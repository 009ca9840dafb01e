/* SPDX-License-Identifier: MIT */
/*
 * /dev/kvm: open it, check the API version and every capability cocoon uses,
 * and explain clearly when something is missing.
 */
#ifndef COCOON_KVM_H
#define COCOON_KVM_H

#include <stddef.h>

#include "util.h"

struct kvm {
	int fd;             /* /dev/kvm */
	int vcpu_mmap_size; /* size of struct kvm_run and the data after it */
};

/*
 * Open the KVM device at `path` (normally /dev/kvm) and check it. On failure
 * returns -errno and writes a one-line reason that names the device, the
 * missing capability or the way out into why[len].
 */
int kvm_open(struct kvm *kvm, const char *path, char *why, size_t len) __must_check;

/*
 * Known hypervisors behind /dev/kvm that cannot run a standard guest kernel.
 * Returns 1 and writes a reason when one is loaded (seen from /sys/module),
 * 0 otherwise. Cheap: one stat. COCOON_KVM_ANY=1 turns the check off.
 */
int kvm_known_unusable(char *why, size_t len);

void kvm_close(struct kvm *kvm);

#endif
