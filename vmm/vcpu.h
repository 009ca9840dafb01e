/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads: the KVM_RUN loop and exit dispatch. A vCPU thread never does
 * device back-end work; it decodes the exit, calls the bus, and goes back in.
 */
#ifndef COCOON_VCPU_H
#define COCOON_VCPU_H

#include "vm.h"

/* Signal used to kick a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* Create vCPU `index` (fd and kvm_run mapping). */
int vcpu_create(struct vm *vm, struct vcpu *v, unsigned int index) __must_check;

/* Start its thread. */
int vcpu_start(struct vcpu *v) __must_check;

/* Make the thread leave KVM_RUN and wait for it. Idempotent. */
void vcpu_stop(struct vcpu *v);

void vcpu_destroy(struct vcpu *v);

/* Install the no-op handler for VCPU_KICK_SIGNAL (once per process). */
int vcpu_signals_init(void) __must_check;

#endif
