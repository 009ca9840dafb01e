/* SPDX-License-Identifier: MIT */
/*
 * guest-init's two messages to the VMM (abi.h): boot-timer marks and the
 * final status. The only architecture-specific part of guest-init; each
 * architecture has its own hostio_<arch>.c.
 */
#ifndef COCOON_GUEST_HOSTIO_H
#define COCOON_GUEST_HOSTIO_H

#include "abi.h"

/*
 * Gain access to the VMM's ports. Returns 0 or -errno; after a failure the
 * other calls do nothing, so a kernel without port access still runs the
 * workload (it only loses marks and the exit status).
 */
__attribute__((warn_unused_result)) int hostio_open(void);

/* Record a boot-timer mark. */
void hostio_mark(enum cocoon_mark mark);

/* Report the final status; under the cocoon VMM this does not return. */
void hostio_exit(unsigned int status);

/*
 * Give up port access, in the workload child before execve: the access
 * would otherwise survive execve and let any later non-root workload fake
 * marks or its status.
 */
void hostio_close(void);

#endif
