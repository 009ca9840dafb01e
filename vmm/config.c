/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "boot/layout.h"
#include "log.h"
#include "sandbox.h"

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
	cfg->vsock_cid = CONFIG_DEFAULT_VSOCK_CID;
	cfg->etc_files = true;
}

/* buf = "<directory of the cocoon binary>/rel" when that file is readable. */
static bool beside_exe(const char *rel, char *buf, size_t size)
{
	char exe[PATH_MAX];
	char *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return snprintf(buf, size, "%s/%s", exe, rel) < (int)size && access(buf, R_OK) == 0;
}

/* Where `cocoon run` finds its kernel when --kernel is not given. */
const char *config_home(void)
{
	const char *home = getenv("COCOON_HOME");

	return home && *home ? home : "/var/lib/cocoon";
}

const char *config_default_kernel(char *buf, size_t size)
{
	const char *env = getenv("COCOON_KERNEL");

	if (env && *env)
		return env;
	/* Next to the binary: build/cocoon finds build/kernel/vmlinux. */
	if (beside_exe("kernel/vmlinux", buf, size))
		return buf;
	return NULL;
}

/*
 * The root filesystem when --rootfs is not given: $COCOON_ROOTFS, or the
 * busybox image next to the binary (build/images/busybox.erofs).
 */
const char *config_default_rootfs(char *buf, size_t size)
{
	const char *env = getenv("COCOON_ROOTFS");

	if (env && *env)
		return env;
	if (beside_exe("images/busybox.erofs", buf, size))
		return buf;
	return NULL;
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

/* A reason quotes the user's argument, which may hold a newline or a
 * terminal escape: keep the error one plain line (found by fuzz_cli). */
static void plain_line(char *why, size_t len)
{
	for (char *c = why; len && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	plain_line(why, len);
	return -EINVAL;
}

/* A rate: bytes per second, bare digits being bytes (unlike --memory). */
static int parse_rate(const char *s, uint64_t *out)
{
	unsigned long n;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s)) {
		if (config_parse_uint(s, 0, ULONG_MAX, &n))
			return -EINVAL;
		*out = n;
		return 0;
	}
	return config_parse_size(s, out) ? -EINVAL : 0;
}

int config_parse_limit(struct rl_config *rl, const char *key, const char *value,
		       bool net)
{
	const char *ops = net ? "pps" : "iops";
	const char *ops_burst = net ? "pps-burst" : "iops-burst";
	unsigned long n;
	uint64_t v;

	if (strcmp(key, ops) == 0 || strcmp(key, ops_burst) == 0) {
		if (config_parse_uint(value, 1, UINT32_MAX, &n))
			return -EINVAL;
		*(strcmp(key, ops) == 0 ? &rl->ops : &rl->ops_burst) = n;
		return 0;
	}
	if (strcmp(key, "bw") == 0 || strcmp(key, "bw-burst") == 0) {
		if (parse_rate(value, &v) || v == 0)
			return -EINVAL;
		*(strcmp(key, "bw") == 0 ? &rl->bytes : &rl->bytes_burst) = v;
		return 0;
	}
	return 1;
}

/*
 * Split "KEY=VALUE,KEY=VALUE" (in place, in our own argv) and hand each
 * pair to `one`; `opt` names the option in errors. A value may not hold a
 * comma, so neither may a path given this way.
 */
static int parse_kv_list(char *list, const char *opt, void *ctx, char *why,
			 size_t why_len,
			 int (*one)(void *ctx, const char *key, const char *value,
				    char *why, size_t why_len))
{
	char *save = NULL;

	for (char *kv = strtok_r(list, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		int ret;

		if (!eq || eq == kv || !eq[1])
			return bad(why, why_len, "%s: %s: use KEY=VALUE", opt, kv);
		*eq = '\0';
		ret = one(ctx, kv, eq + 1, why, why_len);
		if (ret)
			return ret;
	}
	return 0;
}

/* A limit key of --disk or --rng (which one: opt_name, for errors). */
static int limit_opt(struct rl_config *rl, const char *opt_name, const char *key,
		     const char *value, char *why, size_t why_len)
{
	int ret = config_parse_limit(rl, key, value, false);

	if (ret > 0)
		return bad(why, why_len,
			   "%s: %s: unknown option (iops, iops-burst, bw, bw-burst)",
			   opt_name, key);
	if (ret)
		return bad(why, why_len, "%s: %s=%s: not a valid %s", opt_name, key, value,
			   key[0] == 'b' ? "rate (e.g. 1M)" : "number (1-4294967295)");
	return 0;
}

static int disk_opt(void *ctx, const char *key, const char *value, char *why,
		    size_t why_len)
{
	return limit_opt(ctx, "--disk", key, value, why, why_len);
}

static int rng_opt(void *ctx, const char *key, const char *value, char *why,
		   size_t why_len)
{
	return limit_opt(ctx, "--rng", key, value, why, why_len);
}

/* "A.B.C.D" into host byte order. */
static int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* A multicast source address is never valid for a NIC. */
	return (mac[0] & 1) ? -EINVAL : 0;
}

static int net_opt(void *ctx, const char *key, const char *value, char *why,
		   size_t why_len)
{
	struct vm_net *net = ctx;
	int ret;

	if (strcmp(key, "ip") == 0) {
		char buf[INET_ADDRSTRLEN];
		const char *slash = strchr(value, '/');
		unsigned long prefix = 24;
		size_t n = slash ? (size_t)(slash - value) : strlen(value);

		if (n >= sizeof(buf))
			goto bad_ip;
		memcpy(buf, value, n);
		buf[n] = '\0';
		if (parse_ipv4(buf, &net->addr) ||
		    (slash && config_parse_uint(slash + 1, 1, 30, &prefix)))
			goto bad_ip;
		net->prefix = (unsigned int)prefix;
		net->addr_set = true;
		return 0;
bad_ip:
		return bad(why, why_len,
			   "--net: ip=%s: use an IPv4 address with a prefix of 1-30, "
			   "e.g. 10.0.0.2/24", value);
	}
	if (strcmp(key, "gw") == 0) {
		if (parse_ipv4(value, &net->gw))
			return bad(why, why_len, "--net: gw=%s: not an IPv4 address", value);
		net->gw_set = true;
		return 0;
	}
	if (strcmp(key, "mac") == 0) {
		if (parse_mac(value, net->mac))
			return bad(why, why_len,
				   "--net: mac=%s: use six hex bytes like 02:00:00:00:00:01 "
				   "(not multicast)", value);
		net->mac_set = true;
		return 0;
	}
	ret = config_parse_limit(&net->rl, key, value, true);
	if (ret > 0)
		return bad(why, why_len,
			   "--net: %s: unknown option (ip, gw, mac, bw, bw-burst, pps, "
			   "pps-burst)", key);
	if (ret)
		return bad(why, why_len, "--net: %s=%s: not a valid %s", key, value,
			   key[0] == 'b' ? "rate (e.g. 10M)" : "number (1-4294967295)");
	return 0;
}

/* --net tap[:NAME][,KEY=VALUE...] */
static int parse_net(struct vm_config *cfg, char *arg, char *why, size_t why_len)
{
	struct vm_net *net = &cfg->net;
	char *comma = strchr(arg, ',');

	if (net->enabled)
		return bad(why, why_len, "--net: given twice (one network device per VM)");
	if (comma)
		*comma = '\0';
	if (strcmp(arg, "tap") == 0) {
		net->tap = NULL;
	} else if (strncmp(arg, "tap:", 4) == 0 && arg[4]) {
		if (strlen(arg + 4) >= 16)
			return bad(why, why_len, "--net %s: interface names have at most 15 "
				   "characters", arg);
		net->tap = arg + 4;
	} else {
		return bad(why, why_len, "--net %s: use tap or tap:NAME", arg);
	}
	net->enabled = true;
	if (comma && parse_kv_list(comma + 1, "--net", net, why, why_len, net_opt))
		return -EINVAL;
	if (net->gw_set && !net->addr_set)
		return bad(why, why_len, "--net: gw= needs ip= as well");
	if (net->gw_set && net->addr_set && net->gw == net->addr)
		return bad(why, why_len, "--net: gw= and ip= are the same address");
	return 0;
}

/* -p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp], as docker run -p takes it. */
static int parse_port(struct vm_config *cfg, char *arg, char *why, size_t why_len)
{
	struct vm_port *p = &cfg->ports[cfg->nr_ports];
	char *proto = strchr(arg, '/');
	char *last, *first;
	unsigned long hp, gp;

	if (cfg->nr_ports == CONFIG_MAX_PORTS)
		return bad(why, why_len, "-p %s: more than %d published ports", arg,
			   CONFIG_MAX_PORTS);
	if (proto) {
		if (strcmp(proto, "/tcp") != 0)
			return bad(why, why_len, "-p %s: only tcp ports can be published", arg);
		*proto = '\0';
	}
	last = strrchr(arg, ':');
	if (!last)
		return bad(why, why_len, "-p %s: use [HOSTIP:]HOSTPORT:GUESTPORT", arg);
	*last = '\0';
	first = strrchr(arg, ':');
	p->host_ip = 0;
	if (first) {
		*first = '\0';
		if (parse_ipv4(arg, &p->host_ip))
			return bad(why, why_len, "-p: %s: not an IPv4 address", arg);
		first++;
	} else {
		first = arg;
	}
	if (config_parse_uint(first, 1, 65535, &hp) || config_parse_uint(last + 1, 1, 65535, &gp))
		return bad(why, why_len, "-p: ports must be 1-65535 (%s:%s)", first, last + 1);
	for (unsigned int i = 0; i < cfg->nr_ports; i++)
		if (cfg->ports[i].host_port == hp &&
		    (cfg->ports[i].host_ip == p->host_ip || !cfg->ports[i].host_ip ||
		     !p->host_ip))
			return bad(why, why_len, "-p: host port %lu published twice", hp);
	p->host_port = (uint16_t)hp;
	p->guest_port = (uint16_t)gp;
	cfg->nr_ports++;
	return 0;
}

/* Whether a volume or a mount already has `dest` as its guest path. */
static bool mount_point_taken(const struct vm_config *cfg, const char *dest)
{
	for (unsigned int i = 0; i < cfg->nr_volumes; i++)
		if (cfg->volumes[i].guest && strcmp(cfg->volumes[i].guest, dest) == 0)
			return true;
	for (unsigned int i = 0; i < cfg->nr_mounts; i++)
		if (cfg->mounts[i].dest && strcmp(cfg->mounts[i].dest, dest) == 0)
			return true;
	return false;
}

/* -v HOSTDIR:GUESTDIR[:ro|:rw], as docker run -v takes a bind mount. */
static int parse_volume(struct vm_config *cfg, char *arg, char *why, size_t why_len)
{
	struct vm_volume *v = &cfg->volumes[cfg->nr_volumes];
	char *colon, *mode;

	if (cfg->nr_volumes == CONFIG_MAX_VOLUMES)
		return bad(why, why_len, "-v %s: more than %d volumes", arg, CONFIG_MAX_VOLUMES);
	v->read_only = false;
	mode = strrchr(arg, ':');
	if (mode && (strcmp(mode, ":ro") == 0 || strcmp(mode, ":rw") == 0) &&
	    strchr(arg, ':') != mode) {
		v->read_only = mode[1] == 'r' && mode[2] == 'o';
		*mode = '\0';
	}
	colon = strchr(arg, ':');
	if (!colon)
		return bad(why, why_len, "-v %s: use HOSTDIR:GUESTDIR[:ro]", arg);
	*colon = '\0';
	if (arg[0] != '/')
		return bad(why, why_len, "-v %s: the host directory must be an absolute path",
			   arg);
	if (colon[1] != '/')
		return bad(why, why_len, "-v %s: the guest path must be absolute", colon + 1);
	/* A third field other than ro/rw ("/a:/b:rx") is a mistake, not a
	 * guest path with a colon (docker refuses it too; faults.sh). */
	if (strchr(colon + 1, ':'))
		return bad(why, why_len, "-v %s: unknown mode after the guest path (use :ro or :rw)",
			   colon + 1);
	if (strspn(colon + 1, "/") == strlen(colon + 1))
		return bad(why, why_len, "-v %s: cannot mount over the guest's root "
			   "(use --rootfs-dir)", colon + 1);
	if (mount_point_taken(cfg, colon + 1))
		return bad(why, why_len, "-v: %s is mounted twice", colon + 1);
	v->host = arg;
	v->guest = colon + 1;
	cfg->nr_volumes++;
	return 0;
}

/* mount(8)'s flag words, as docker --tmpfs and runc take them. */
static const struct {
	const char *name;
	unsigned long set, clear;
} mount_flag_words[] = {
	{ "ro", MS_RDONLY, 0 },           { "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },       { "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },         { "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },       { "exec", 0, MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS, 0 },    { "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "noatime", MS_NOATIME, 0 },     { "atime", 0, MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME, 0 }, { "diratime", 0, MS_NODIRATIME },
	{ "relatime", MS_RELATIME, 0 },   { "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 }, { "nostrictatime", 0, MS_STRICTATIME },
	{ "mand", MS_MANDLOCK, 0 },       { "nomand", 0, MS_MANDLOCK },
	{ "defaults", 0, 0 },
};

bool config_mount_flag(const char *word, size_t len, unsigned long *flags)
{
	for (size_t i = 0; i < ARRAY_SIZE(mount_flag_words); i++) {
		if (strlen(mount_flag_words[i].name) == len &&
		    strncmp(word, mount_flag_words[i].name, len) == 0) {
			*flags = (*flags | mount_flag_words[i].set) & ~mount_flag_words[i].clear;
			return true;
		}
	}
	return false;
}

/* Whether a --tmpfs KEY=VALUE is one tmpfs takes; size and mode checked
 * here so that a typo fails now, not as a mount error in the guest. */
static bool tmpfs_data_ok(const char *kv, size_t len)
{
	static const char *const keys[] = { "size", "mode", "uid", "gid", "nr_inodes",
					    "nr_blocks", "mpol", "huge" };
	const char *eq = memchr(kv, '=', len);
	size_t klen = eq ? (size_t)(eq - kv) : 0, vlen = eq ? len - klen - 1 : 0;
	size_t digits = eq ? strspn(eq + 1, "0123456789") : 0;
	bool known = false;

	if (!eq || vlen == 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strlen(keys[i]) == klen && strncmp(kv, keys[i], klen) == 0)
			known = true;
	if (klen == 4 && strncmp(kv, "size", 4) == 0)
		/* Bytes with an optional k/m/g suffix, or a share of RAM. */
		return digits && (digits == vlen ||
				  (digits + 1 == vlen && strchr("kKmMgG%", eq[1 + digits])));
	if (klen == 4 && strncmp(kv, "mode", 4) == 0)
		return strspn(eq + 1, "01234567") == vlen && vlen <= 4;
	return known;
}

/*
 * --tmpfs DEST[:OPTS], as docker run takes it: a tmpfs at DEST, noexec,
 * nosuid and nodev unless OPTS say otherwise. OPTS mixes flag words
 * (config_mount_flag) and tmpfs data (size=64m, mode=1777...); the data part is
 * compacted in place in our own argv, where the mount's data points.
 */
static int parse_tmpfs(struct vm_config *cfg, char *arg, char *why, size_t why_len)
{
	struct vm_mount *m = &cfg->mounts[cfg->nr_mounts];
	char *opts = strchr(arg, ':'), *r, *w;
	unsigned long flags = MS_NOEXEC | MS_NOSUID | MS_NODEV;

	if (cfg->nr_mounts == CONFIG_MAX_MOUNTS)
		return bad(why, why_len, "--tmpfs %s: more than %d mounts", arg,
			   CONFIG_MAX_MOUNTS);
	if (opts)
		*opts++ = '\0';
	if (arg[0] != '/' || strspn(arg, "/") == strlen(arg))
		return bad(why, why_len, "--tmpfs %s: the path must be absolute, not /", arg);
	if (mount_point_taken(cfg, arg))
		return bad(why, why_len, "--tmpfs: %s is mounted twice", arg);
	/* Each data word moves left to w; w never passes r. */
	for (r = w = opts; r && *r;) {
		size_t len = strcspn(r, ",");

		if (len && !config_mount_flag(r, len, &flags)) {
			if (!tmpfs_data_ok(r, len))
				return bad(why, why_len,
					   "--tmpfs %s: %.*s: not a tmpfs option (size=, mode=, "
					   "uid=, gid=, nr_inodes=, ro, noexec, ...)",
					   arg, (int)len, r);
			if (w != opts)
				*w++ = ',';
			memmove(w, r, len);
			w += len;
		}
		r += len + (r[len] == ',');
	}
	if (w)
		*w = '\0';
	*m = (struct vm_mount){ .kind = VM_MOUNT_FS, .fstype = "tmpfs", .flags = flags,
				.data = opts && *opts ? opts : NULL, .dest = arg };
	cfg->nr_mounts++;
	return 0;
}

/* --security-opt: of docker's, only no-new-privileges[=true|false] means
 * something in a VM (seccomp, apparmor and labels are the host's). */
static int parse_security_opt(struct vm_config *cfg, const char *arg, char *why,
			      size_t why_len)
{
	static const char nnp[] = "no-new-privileges";
	const char *v = arg + sizeof(nnp) - 1;

	if (strncmp(arg, nnp, sizeof(nnp) - 1) == 0) {
		if (!*v || strcmp(v, "=true") == 0 || strcmp(v, ":true") == 0) {
			cfg->no_new_privs = true;
			return 0;
		}
		if (strcmp(v, "=false") == 0 || strcmp(v, ":false") == 0) {
			cfg->no_new_privs = false;
			return 0;
		}
	}
	return bad(why, why_len,
		   "--security-opt %s: not supported (only no-new-privileges[=true|false])",
		   arg);
}

static const char *const rlimit_names[] = {
	"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue",
	"nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
};

static int parse_rlimit_value(const char *s, size_t len, unsigned long *v)
{
	char buf[32];

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*v = ULONG_MAX; /* RLIM_INFINITY */
	if (strcmp(buf, "unlimited") == 0 || strcmp(buf, "-1") == 0)
		return 0;
	return config_parse_uint(buf, 0, ULONG_MAX, v);
}

int config_add_rlimit(struct vm_config *cfg, const char *spec)
{
	const char *eq = strchr(spec, '='), *colon;
	bool known = false;
	unsigned long n;

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
		unsigned long soft, hard;

		/* soft above hard: setrlimit in the guest would refuse it
		 * after boot; refuse it here, as docker does (faults.sh). */
		if (parse_rlimit_value(eq + 1, (size_t)(colon - eq - 1), &soft) ||
		    parse_rlimit_value(colon + 1, strlen(colon + 1), &hard) || soft > hard)
			return -EINVAL;
	} else if (parse_rlimit_value(eq + 1, strlen(eq + 1), &n)) {
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
	OPT_HUGEPAGES,
	OPT_HOSTNAME,
	OPT_LOG_LEVEL,
	OPT_ROOTFS,
	OPT_ROOTFS_RW,
	OPT_DISK,
	OPT_ENV_FILE,
	OPT_ULIMIT,
	OPT_STOP_TIMEOUT,
	OPT_ENTRYPOINT,
	OPT_VSOCK_UDS,
	OPT_VSOCK_CID,
	OPT_NET,
	OPT_DNS,
	OPT_RNG,
	OPT_ROOTFS_DIR,
	OPT_READ_ONLY,
	OPT_TMPFS,
	OPT_GROUP_ADD,
	OPT_SECURITY_OPT,
	OPT_NO_SANDBOX,
	OPT_UID,
	OPT_GID,
	OPT_CGROUP,
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
	{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
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
	{ "vsock-uds", required_argument, NULL, OPT_VSOCK_UDS },
	{ "vsock-cid", required_argument, NULL, OPT_VSOCK_CID },
	{ "net", required_argument, NULL, OPT_NET },
	{ "publish", required_argument, NULL, 'p' },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "rng", required_argument, NULL, OPT_RNG },
	{ "volume", required_argument, NULL, 'v' },
	{ "rootfs-dir", required_argument, NULL, OPT_ROOTFS_DIR },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "tmpfs", required_argument, NULL, OPT_TMPFS },
	{ "group-add", required_argument, NULL, OPT_GROUP_ADD },
	{ "security-opt", required_argument, NULL, OPT_SECURITY_OPT },
	{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
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
	/* 0, not 1: glibc then forgets where it was inside an option cluster
	 * of an earlier argv ("-tZi" failed at Z), which it would otherwise
	 * go on reading (found by fuzz_cli). */
	optind = 0;
	opterr = 0;
	/* "+": stop at the first non-option, which starts the command. */
	while ((opt = getopt_long(argc, argv, "+:e:w:u:tip:v:", run_options, NULL)) != -1) {
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
		case OPT_HUGEPAGES:
			cfg->hugepages = true;
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
			char *comma = strchr(optarg, ',');
			char *colon;

			if (cfg->nr_disks == CONFIG_MAX_DISKS)
				return bad(why, why_len, "--disk %s: more than %d disks",
					   optarg, CONFIG_MAX_DISKS);
			memset(d, 0, sizeof(*d));
			/* optarg points into our own argv: cut it in place. */
			if (comma) {
				*comma = '\0';
				ret = parse_kv_list(comma + 1, "--disk", &d->rl, why, why_len,
						    disk_opt);
				if (ret)
					return ret;
			}
			colon = strrchr(optarg, ':');
			if (colon && strcmp(colon, ":ro") == 0) {
				*colon = '\0';
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
		case OPT_VSOCK_UDS:
			if (!*optarg || strlen(optarg) > CONFIG_VSOCK_PATH_MAX)
				return bad(why, why_len,
					   "--vsock-uds %s: must be 1-%d characters (a Unix "
					   "socket path, with room for _PORT)",
					   optarg, CONFIG_VSOCK_PATH_MAX);
			cfg->vsock_uds = optarg;
			break;
		case OPT_VSOCK_CID:
			/* 0-2 are reserved (hypervisor, local, host); -1U is "any". */
			if (config_parse_uint(optarg, 3, UINT32_MAX - 1, &n))
				return bad(why, why_len, "--vsock-cid %s: must be 3-%u", optarg,
					   UINT32_MAX - 1);
			cfg->vsock_cid = n;
			break;
		case OPT_NET:
			ret = parse_net(cfg, optarg, why, why_len);
			if (ret)
				return ret;
			break;
		case 'p':
			ret = parse_port(cfg, optarg, why, why_len);
			if (ret)
				return ret;
			break;
		case OPT_DNS: {
			uint32_t a;

			if (cfg->nr_dns == CONFIG_MAX_DNS)
				return bad(why, why_len, "--dns %s: more than %d nameservers",
					   optarg, CONFIG_MAX_DNS);
			if (parse_ipv4(optarg, &a))
				return bad(why, why_len, "--dns %s: not an IPv4 address", optarg);
			cfg->dns[cfg->nr_dns++] = optarg;
			break;
		}
		case 'v':
			ret = parse_volume(cfg, optarg, why, why_len);
			if (ret)
				return ret;
			break;
		case OPT_ROOTFS_DIR:
			if (optarg[0] != '/')
				return bad(why, why_len,
					   "--rootfs-dir %s: must be an absolute path", optarg);
			cfg->rootfs_dir = optarg;
			break;
		case OPT_READ_ONLY:
			cfg->rootfs_ro = true;
			break;
		case OPT_TMPFS:
			ret = parse_tmpfs(cfg, optarg, why, why_len);
			if (ret)
				return ret;
			break;
		case OPT_GROUP_ADD:
			if (cfg->nr_groups_add == CONFIG_MAX_GROUPS)
				return bad(why, why_len, "--group-add %s: more than %d groups",
					   optarg, CONFIG_MAX_GROUPS);
			/* Ids as passwd.h takes them. */
			if (config_parse_uint(optarg, 0, 2147483647ul, &n))
				return bad(why, why_len,
					   "--group-add %s: give a numeric group id "
					   "(0-2147483647)", optarg);
			cfg->groups_add[cfg->nr_groups_add++] = (unsigned int)n;
			break;
		case OPT_NO_SANDBOX:
			cfg->sandbox.off = true;
			break;
		case OPT_UID:
		case OPT_GID:
			if (sb_parse_id(optarg, opt == OPT_GID,
					opt == OPT_GID ? &cfg->sandbox.gid : &cfg->sandbox.uid))
				return bad(why, why_len,
					   "%s %s: not a number nor a %s name on this host",
					   opt == OPT_GID ? "--gid" : "--uid", optarg,
					   opt == OPT_GID ? "group" : "user");
			if (opt == OPT_GID)
				cfg->sandbox.gid_set = true;
			else
				cfg->sandbox.uid_set = true;
			break;
		case OPT_CGROUP:
			ret = sb_parse_cgroup(optarg, &cfg->sandbox, why, why_len);
			if (ret) {
				plain_line(why, why_len);
				return ret;
			}
			break;
		case OPT_SECURITY_OPT:
			ret = parse_security_opt(cfg, optarg, why, why_len);
			if (ret)
				return ret;
			break;
		case OPT_RNG:
			ret = parse_kv_list(optarg, "--rng", &cfg->rng_rl, why, why_len, rng_opt);
			if (ret)
				return ret;
			break;
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
	if (cfg->rootfs_dir && cfg->rootfs)
		return bad(why, why_len, "--rootfs-dir and --rootfs: give one root filesystem");
	if (cfg->rootfs_ro && cfg->rootfs_rw)
		return bad(why, why_len, "--read-only and --rootfs-rw: give one");
	/* Publishing a port needs a network, as with docker run -p. */
	if (cfg->nr_ports && !cfg->net.enabled)
		cfg->net.enabled = true;
	if (cfg->net.enabled && cfg->net.tap && cfg->nr_ports && !cfg->net.addr_set)
		return bad(why, why_len,
			   "-p: with --net tap:%s, give the guest's address (ip=) so that "
			   "published ports can reach it", cfg->net.tap);
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
