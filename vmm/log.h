/* SPDX-License-Identifier: MIT */
/*
 * Logging. Quiet by default: errors only. `--log-level debug` shows every
 * guest misbehaviour, each kind once (log_guest_once).
 */
#ifndef COCOON_LOG_H
#define COCOON_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

/*
 * Also write every message that passes the level to `fd` (-1: none): the
 * OCI runtime's --log, where engines look for the reason a command failed.
 * With `json`, one {"level":...,"msg":...,"time":...} object per line, the
 * format runc writes for --log-format json; else "LEVEL: message" lines.
 */
void log_set_sink(int fd, bool json);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Write a one-line reason into why[len] and return err: the idiom of every
 * set-up function that reports "-errno plus why" to its caller.
 */
int why_fail(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * A guest broke a rule. Logged at debug level, once per call site, so that a
 * hostile guest cannot flood the host's log.
 */
#define log_guest_once(...)                         \
	do {                                        \
		static bool logged_;                \
		if (!logged_) {                     \
			logged_ = true;             \
			log_msg(LOG_DEBUG, "guest: " __VA_ARGS__); \
		}                                   \
	} while (0)

#endif
