/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the `cocoon run` option parser (config_parse_run) on argv
 * vectors split from the input on NUL bytes, after a fixed argv[0] "run",
 * as main.c calls it; then config_free. Every call starts from
 * config_defaults, and one process parses many vectors in a row, as a
 * long-lived caller (the OCI runtime, tests) would.
 *
 * Checks beyond ASan/UBSan: a failed parse writes a reason, one line, that
 * is not empty; a successful one leaves a command to run.
 *
 * --env-file reads files: the harness runs in a private temporary
 * directory holding "env" (two variables, a comment) and "bad.env" (a line
 * with an empty name), with /dev/null as stdin; inputs naming paths under
 * dev/, proc/, sys/ or run/ are skipped (a FIFO or /proc/kmsg would block).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define MAX_ARGS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup(void)
{
	char p[96];

	snprintf(p, sizeof(p), "%s/env", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/bad.env", dir);
	unlink(p);
	rmdir(dir);
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

static void once(void)
{
	int null = open("/dev/null", O_RDONLY);

	snprintf(dir, sizeof(dir), "/tmp/cocoon-fuzz-cli.XXXXXX");
	if (!mkdtemp(dir) || chdir(dir) || null < 0 || dup2(null, 0) < 0)
		abort();
	close(null);
	atexit(cleanup);
	write_file("env", "# comment\nA=1\nB\n  C=three\r\n");
	write_file("bad.env", "OK=1\n=novalue\n");
	log_set_level(LOG_ERROR);
}

static bool risky(const char *arg)
{
	static const char *const prefixes[] = { "dev/", "proc/", "sys/", "run/" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strstr(arg, prefixes[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct vm_config cfg;
	char *copy, *argv[MAX_ARGS + 2], why[256];
	int argc = 0, ret;
	size_t start = 0;

	if (!ready) {
		once();
		ready = 1;
	}
	/* One allocation holding every argument, NUL-terminated, so that ASan
	 * sees any read past an argument's end as an overflow of it. */
	copy = malloc(size + 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = "run";
	for (size_t i = 0; i <= size && argc <= MAX_ARGS; i++) {
		if (i < size && copy[i])
			continue;
		argv[argc++] = copy + start;
		if (risky(copy + start))
			goto out;
		start = i + 1;
	}
	argv[argc] = NULL;

	config_defaults(&cfg);
	why[0] = '\0';
	ret = config_parse_run(&cfg, argc, argv, why, sizeof(why));
	if (ret) {
		if (!why[0] || strchr(why, '\n')) {
			fprintf(stderr, "fuzz_cli: bad reason \"%s\" for %d\n", why, ret);
			abort();
		}
	} else if (cfg.argc < 1 || !cfg.argv || !cfg.argv[0]) {
		fprintf(stderr, "fuzz_cli: parsed without a command\n");
		abort();
	}
	config_free(&cfg);
out:
	free(copy);
	return 0;
}
