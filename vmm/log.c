/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static enum log_level current_level = LOG_ERROR;
static int sink_fd = -1;
static bool sink_json;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_sink(int fd, bool json)
{
	sink_fd = fd;
	sink_json = json;
}

/* msg as the inside of a JSON string (RFC 8259 section 7). */
static size_t json_escape(char *out, size_t size, const char *msg)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)msg; *p && n + 7 < size; p++) {
		if (*p == '"' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = (char)*p;
		} else if (*p < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", *p);
		} else {
			out[n++] = (char)*p;
		}
	}
	out[n] = '\0';
	return n;
}

static void write_sink(enum log_level level, const char *msg)
{
	char line[2560], esc[2100], when[40];
	struct timespec ts;
	struct tm tm;
	int n;

	if (sink_fd < 0)
		return;
	if (sink_json) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_escape(esc, sizeof(esc), msg);
		n = snprintf(line, sizeof(line), "{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%s\"}\n",
			     level_names[level], esc, when);
	} else {
		n = snprintf(line, sizeof(line), "%s: %s\n", level_names[level], msg);
	}
	if (n > 0)
		(void)!write(sink_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per line so that lines from several threads do not mix. */
	fprintf(stderr, "cocoon: %s\n", buf);
	write_sink(level, buf);
}

int why_fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
