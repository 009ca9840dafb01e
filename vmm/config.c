/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/layout.h"
#include "log.h"

const char config_default_path_env[] = "PATH=" CONFIG_DEFAULT_PATH;

void config_defaults(struct vm_config *cfg)
{
	const char *s;
	unsigned long secs;

	memset(cfg, 0, sizeof(*cfg));
	cfg->kvm_path = getenv("COCOON_KVM_DEVICE");
	if (!cfg->kvm_path || !*cfg->kvm_path)
		cfg->kvm_path = "/dev/kvm";
	cfg->mem_size = CONFIG_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->boot_timeout_ms = CONFIG_DEFAULT_BOOT_TIMEOUT_MS;
	/* The rig wrapper raises this: emulated guests boot ~100x slower. */
	s = getenv("COCOON_BOOT_TIMEOUT");
	if (s && config_parse_uint(s, 1, CONFIG_MAX_BOOT_TIMEOUT_S, &secs) == 0)
		cfg->boot_timeout_ms = (unsigned int)secs * 1000u;
	cfg->cwd = "/";
	cfg->stop_timeout_s = CONFIG_DEFAULT_STOP_TIMEOUT_S;
}

void config_free(struct vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_env_files; i++)
		free(cfg->env_files[i]);
	cfg->nr_env_files = 0;
	cfg->nenv = 0;
}

int config_parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 20; /* bare numbers are MiB */
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	switch (*end) {
	case '\0':
		break;
	case 'b': case 'B': shift = 0; end++; break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int config_set_env(struct vm_config *cfg, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);

	if (klen == 0)
		return -EINVAL;
	if (!eq) {
		/* `-e KEY`: pass the host's value through, if it has one. */
		char *val = getenv(kv);

		if (!val)
			return 0;
		kv = val - klen - 1; /* environ holds "KEY=VALUE" contiguously */
	}
	for (size_t i = 0; i < cfg->nenv; i++) {
		if (strncmp(cfg->env[i], kv, klen) == 0 && cfg->env[i][klen] == '=') {
			cfg->env[i] = kv;
			return 0;
		}
	}
	if (cfg->nenv == CONFIG_MAX_ENV)
		return -E2BIG;
	cfg->env[cfg->nenv++] = kv;
	return 0;
}

static int bad(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *const rlimit_names[] = {
	"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue",
	"nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
};

static int parse_rlimit_value(const char *s, size_t len)
{
	char buf[32];
	unsigned long v;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "unlimited") == 0 || strcmp(buf, "-1") == 0)
		return 0;
	return config_parse_uint(buf, 0, ULONG_MAX, &v);
}

int config_add_rlimit(struct vm_config *cfg, const char *spec)
{
	const char *eq = strchr(spec, '='), *colon;
	bool known = false;

	if (!eq || cfg->nrlimits == CONFIG_MAX_RLIMITS)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (strlen(rlimit_names[i]) == (size_t)(eq - spec) &&
		    strncmp(spec, rlimit_names[i], (size_t)(eq - spec)) == 0)
			known = true;
	if (!known)
		return -EINVAL;
	colon = strchr(eq + 1, ':');
	if (colon) {
		if (parse_rlimit_value(eq + 1, (size_t)(colon - eq - 1)) ||
		    parse_rlimit_value(colon + 1, strlen(colon + 1)))
			return -EINVAL;
	} else if (parse_rlimit_value(eq + 1, strlen(eq + 1))) {
		return -EINVAL;
	}
	cfg->rlimits[cfg->nrlimits++] = spec;
	return 0;
}

int config_read_env_file(struct vm_config *cfg, const char *path, char *why,
			 size_t why_len)
{
	FILE *f = fopen(path, "r");
	char *buf, *line, *save = NULL;
	size_t len;
	int lineno = 0, ret = 0;

	if (!f)
		return bad(why, why_len, "--env-file %s: %s", path, strerror(errno));
	if (cfg->nr_env_files == CONFIG_MAX_ENV_FILES) {
		fclose(f);
		return bad(why, why_len, "--env-file %s: more than %d env files", path,
			   CONFIG_MAX_ENV_FILES);
	}
	buf = malloc(CONFIG_ENV_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return bad(why, why_len, "--env-file %s: out of memory", path);
	}
	len = fread(buf, 1, CONFIG_ENV_FILE_MAX + 1, f);
	fclose(f);
	if (len > CONFIG_ENV_FILE_MAX) {
		free(buf);
		return bad(why, why_len, "--env-file %s: larger than 1 MiB", path);
	}
	buf[len] = '\0';
	cfg->env_files[cfg->nr_env_files++] = buf;
	/* Docker's format: KEY=VALUE or KEY per line; # comments; no quoting.
	 * The buffer is kept until config_free: the environment points into it. */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t l = strlen(line);

		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		ret = config_set_env(cfg, line);
		if (ret) {
			bad(why, why_len, "--env-file %s: line %d: %s", path, lineno,
			    ret == -EINVAL ? "empty variable name" : "too many variables");
			return -EINVAL;
		}
	}
	return 0;
}

enum {
	OPT_KERNEL = 256,
	OPT_KERNEL_APPEND,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_CONSOLE,
	OPT_CONSOLE_LOG,
	OPT_BOOT_TIMEOUT,
	OPT_TIMINGS,
	OPT_HOSTNAME,
	OPT_LOG_LEVEL,
	OPT_ROOTFS,
	OPT_ROOTFS_RW,
	OPT_DISK,
	OPT_ENV_FILE,
	OPT_ULIMIT,
	OPT_STOP_TIMEOUT,
	OPT_ENTRYPOINT,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "kernel-append", required_argument, NULL, OPT_KERNEL_APPEND },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "console", no_argument, NULL, OPT_CONSOLE },
	{ "console-log", required_argument, NULL, OPT_CONSOLE_LOG },
	{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
	{ "timings", no_argument, NULL, OPT_TIMINGS },
	{ "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "rootfs-rw", no_argument, NULL, OPT_ROOTFS_RW },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },
	{ "user", required_argument, NULL, 'u' },
	{ "tty", no_argument, NULL, 't' },
	{ "interactive", no_argument, NULL, 'i' },
	{ "ulimit", required_argument, NULL, OPT_ULIMIT },
	{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ NULL, 0, NULL, 0 },
};

int config_parse_run(struct vm_config *cfg, int argc, char **argv, char *why,
		     size_t why_len)
{
	static char *default_argv[] = { "sh", NULL };
	unsigned long n;
	enum log_level level;
	int opt, ret;

	/* PATH only: guest-init sets HOME from the user's passwd entry, as
	 * docker does, unless -e gives one. */
	if (config_set_env(cfg, config_default_path_env))
		return bad(why, why_len, "cannot set the default environment");
	optind = 1;
	opterr = 0;
	/* "+": stop at the first non-option, which starts the command. */
	while ((opt = getopt_long(argc, argv, "+:e:w:u:ti", run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL:
			cfg->kernel_path = optarg;
			break;
		case OPT_KERNEL_APPEND:
			cfg->kernel_append = optarg;
			break;
		case OPT_MEMORY: {
			uint64_t size;

			ret = config_parse_size(optarg, &size);
			if (ret)
				return bad(why, why_len,
					   "--memory %s: not a size (use e.g. 256M or 1G)",
					   optarg);
			if (size < LAYOUT_MEM_MIN || size > LAYOUT_MEM_MAX)
				return bad(why, why_len,
					   "--memory %s: must be between %lluM and %lluG",
					   optarg, LAYOUT_MEM_MIN >> 20,
					   LAYOUT_MEM_MAX >> 30);
			if (size % (4096))
				return bad(why, why_len,
					   "--memory %s: must be a multiple of 4K", optarg);
			cfg->mem_size = size;
			break;
		}
		case OPT_CPUS:
			if (config_parse_uint(optarg, 1, CONFIG_MAX_CPUS, &n))
				return bad(why, why_len, "--cpus %s: must be 1-%d", optarg,
					   CONFIG_MAX_CPUS);
			cfg->cpus = (unsigned int)n;
			break;
		case OPT_CONSOLE:
			cfg->console = true;
			break;
		case OPT_CONSOLE_LOG:
			cfg->console_log = optarg;
			break;
		case OPT_BOOT_TIMEOUT:
			if (config_parse_uint(optarg, 1, CONFIG_MAX_BOOT_TIMEOUT_S, &n))
				return bad(why, why_len,
					   "--boot-timeout %s: not a number of seconds (1-%u)",
					   optarg, CONFIG_MAX_BOOT_TIMEOUT_S);
			cfg->boot_timeout_ms = (unsigned int)n * 1000u;
			break;
		case OPT_TIMINGS:
			cfg->timings = true;
			break;
		case 'e':
			ret = config_set_env(cfg, optarg);
			if (ret == -EINVAL)
				return bad(why, why_len, "-e %s: empty variable name", optarg);
			if (ret)
				return bad(why, why_len, "-e %s: more than %d variables",
					   optarg, CONFIG_MAX_ENV);
			break;
		case 'w':
			if (optarg[0] != '/')
				return bad(why, why_len,
					   "-w %s: the working directory must be absolute",
					   optarg);
			cfg->cwd = optarg;
			cfg->cwd_set = true;
			break;
		case OPT_HOSTNAME:
			if (!*optarg || strlen(optarg) > 64)
				return bad(why, why_len,
					   "--hostname %s: must be 1-64 characters", optarg);
			cfg->hostname = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &level))
				return bad(why, why_len,
					   "--log-level %s: use error, warn, info or debug",
					   optarg);
			log_set_level(level);
			break;
		case OPT_ROOTFS:
			cfg->rootfs = optarg;
			break;
		case OPT_ROOTFS_RW:
			cfg->rootfs_rw = true;
			break;
		case OPT_DISK: {
			struct vm_disk *d = &cfg->disks[cfg->nr_disks];
			char *colon = strrchr(optarg, ':');

			if (cfg->nr_disks == CONFIG_MAX_DISKS)
				return bad(why, why_len, "--disk %s: more than %d disks",
					   optarg, CONFIG_MAX_DISKS);
			d->read_only = false;
			if (colon && strcmp(colon, ":ro") == 0) {
				*colon = '\0'; /* optarg points into our own argv */
				d->read_only = true;
			} else if (colon && strcmp(colon, ":rw") == 0) {
				*colon = '\0';
			}
			if (!*optarg)
				return bad(why, why_len, "--disk: empty path");
			d->path = optarg;
			cfg->nr_disks++;
			break;
		}
		case OPT_ENV_FILE:
			ret = config_read_env_file(cfg, optarg, why, why_len);
			if (ret)
				return ret;
			break;
		case 'u':
			if (!*optarg || strlen(optarg) > 256)
				return bad(why, why_len, "-u %s: not a user", optarg);
			cfg->user = optarg;
			break;
		case 't':
			cfg->tty = true;
			break;
		case 'i':
			cfg->interactive = true;
			break;
		case OPT_ULIMIT:
			ret = config_add_rlimit(cfg, optarg);
			if (ret)
				return bad(why, why_len,
					   "--ulimit %s: use NAME=SOFT[:HARD], e.g. nofile=1024:4096",
					   optarg);
			break;
		case OPT_STOP_TIMEOUT:
			if (config_parse_uint(optarg, 0, CONFIG_MAX_BOOT_TIMEOUT_S, &n))
				return bad(why, why_len,
					   "--stop-timeout %s: not a number of seconds", optarg);
			cfg->stop_timeout_s = (unsigned int)n;
			break;
		case OPT_ENTRYPOINT:
			cfg->entrypoint = optarg;
			break;
		case ':':
			return bad(why, why_len, "%s: needs a value", argv[optind - 1]);
		default:
			return bad(why, why_len, "%s: unknown option for 'run'",
				   argv[optind - 1]);
		}
	}
	/* getopt consumed a "--" that ended the options (not an option's value). */
	cfg->dashdash = optind > 1 && optind <= argc && strcmp(argv[optind - 1], "--") == 0 &&
			argv[optind - 1] != optarg;
	if (optind < argc) {
		cfg->cmd_given = true;
		cfg->argc = argc - optind;
		cfg->argv = argv + optind;
	} else {
		cfg->argc = 1;
		cfg->argv = default_argv;
	}
	return 0;
}
