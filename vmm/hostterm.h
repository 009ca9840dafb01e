/* SPDX-License-Identifier: MIT */
/*
 * The host terminal of `cocoon run -t`: raw mode while the VM runs (the
 * guest's own terminal, hvc0, does line editing and echo) and the window
 * size the guest's terminal should have.
 *
 * Raw mode must never outlive cocoon: hostterm_raw_enter registers
 * hostterm_restore with atexit and installs handlers for the fatal signals
 * that restore the terminal and then die of the same signal. (SIGINT,
 * SIGTERM and SIGHUP are blocked and read from a signalfd, so they end in an
 * ordinary exit.)
 */
#ifndef COCOON_HOSTTERM_H
#define COCOON_HOSTTERM_H

#include <stdint.h>

#include "util.h"

/*
 * Put the terminal on `fd` in raw mode, remembering its settings. Returns
 * 0, -ENOTTY when fd is not a terminal (nothing changed), -EBUSY when raw
 * mode is already on, or -errno.
 */
int hostterm_raw_enter(int fd) __must_check;

/* Put back what hostterm_raw_enter changed. Idempotent; async-signal-safe. */
void hostterm_restore(void);

/* The window size of the terminal on `fd`. 0, or -errno (-ENOTTY). Both
 * values are non-zero on success. */
int hostterm_winsize(int fd, uint16_t *cols, uint16_t *rows) __must_check;

#endif
