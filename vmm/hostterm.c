/* SPDX-License-Identifier: MIT */
/* The host terminal for -t; see hostterm.h. */
#include "hostterm.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1;
static volatile sig_atomic_t raw_on;

/* Signals whose default action kills the process; they restore first. */
static const int fatal_signals[] = { SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS,
				     SIGFPE, SIGSEGV, SIGSYS, SIGXCPU, SIGXFSZ };

void hostterm_restore(void)
{
	int err = errno;

	if (raw_on) {
		raw_on = 0;
		/* TCSADRAIN: let output already written reach the screen. */
		tcsetattr(saved_fd, TCSADRAIN, &saved);
	}
	errno = err;
}

static void die_restored(int sig)
{
	hostterm_restore();
	/* SA_RESETHAND put the default action back: die of the signal. */
	raise(sig);
}

static void install_restorers(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return;
	done = true;
	atexit(hostterm_restore);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = die_restored;
	sa.sa_flags = (int)SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++) {
		struct sigaction old;

		/* Leave alone a signal someone chose to ignore or handle. */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_DFL)
			sigaction(fatal_signals[i], &sa, NULL);
	}
}

int hostterm_raw_enter(int fd)
{
	struct termios t;

	if (raw_on)
		return -EBUSY;
	if (!isatty(fd))
		return -ENOTTY;
	if (tcgetattr(fd, &t) < 0)
		return -errno;
	saved = t;
	saved_fd = fd;
	install_restorers();
	cfmakeraw(&t);
	/* Reads return as soon as one byte is there. */
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	raw_on = 1;
	if (tcsetattr(fd, TCSADRAIN, &t) < 0) {
		int err = -errno;

		raw_on = 0;
		return err;
	}
	return 0;
}

int hostterm_winsize(int fd, uint16_t *cols, uint16_t *rows)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return -errno;
	if (!ws.ws_col || !ws.ws_row)
		return -ENOTTY;
	*cols = ws.ws_col;
	*rows = ws.ws_row;
	return 0;
}
