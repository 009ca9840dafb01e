/* SPDX-License-Identifier: MIT */
/* `cocoon run` option parsing: sizes, numbers, env, and the errors users see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/mount.h>

#include "config.h"

static void sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(config_parse_size("128", &v), 0);
	assert_int_equal(v, 128ull << 20);
	assert_int_equal(config_parse_size("1G", &v), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(config_parse_size("512k", &v), 0);
	assert_int_equal(v, 512ull << 10);
	assert_int_equal(config_parse_size("256MiB", &v), 0);
	assert_int_equal(v, 256ull << 20);
	assert_int_equal(config_parse_size("4096B", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("2gb", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(config_parse_size("", &v), -EINVAL);
	assert_int_equal(config_parse_size("-1", &v), -EINVAL);
	assert_int_equal(config_parse_size("12X", &v), -EINVAL);
	assert_int_equal(config_parse_size("1Gx", &v), -EINVAL);
	assert_int_equal(config_parse_size(" 1", &v), -EINVAL);
	assert_int_equal(config_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(config_parse_size("17179869184G", &v), -ERANGE);
}

static void uints(void **state)
{
	unsigned long v;

	(void)state;
	assert_int_equal(config_parse_uint("7", 1, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(config_parse_uint("0", 1, 10, &v), -ERANGE);
	assert_int_equal(config_parse_uint("11", 1, 10, &v), -ERANGE);
	assert_int_equal(config_parse_uint("1x", 1, 10, &v), -EINVAL);
	assert_int_equal(config_parse_uint("", 1, 10, &v), -EINVAL);
	assert_int_equal(config_parse_uint("-3", 0, 10, &v), -EINVAL);
}

static int parse(struct vm_config *cfg, char *why, int argc, ...)
{
	static char *argv[32];
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	config_free(cfg);
	config_defaults(cfg);
	return config_parse_run(cfg, argc, argv, why, 256);
}

static const char *env_of(const struct vm_config *cfg, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < cfg->nenv; i++)
		if (strncmp(cfg->env[i], key, kl) == 0 && cfg->env[i][kl] == '=')
			return cfg->env[i] + kl + 1;
	return NULL;
}

static void run_options(void **state)
{
	static struct vm_config cfg;
	char why[256];

	(void)state;
	setenv("COCOON_TEST_PASS", "through", 1);
	unsetenv("COCOON_TEST_UNSET");
	assert_int_equal(parse(&cfg, why, 13, "run", "--memory", "256M", "-e", "A=1",
			       "-e", "PATH=/x", "-e", "COCOON_TEST_PASS", "-e",
			       "COCOON_TEST_UNSET", "-w", "/srv"), 0);
	assert_int_equal(cfg.mem_size, 256ull << 20);
	assert_string_equal(env_of(&cfg, "A"), "1");
	assert_string_equal(env_of(&cfg, "PATH"), "/x"); /* replaced, not added */
	assert_null(env_of(&cfg, "HOME")); /* guest-init takes it from passwd */
	assert_string_equal(env_of(&cfg, "COCOON_TEST_PASS"), "through");
	assert_null(env_of(&cfg, "COCOON_TEST_UNSET"));
	assert_string_equal(cfg.cwd, "/srv");
	assert_int_equal(cfg.argc, 1);
	assert_string_equal(cfg.argv[0], "sh"); /* default command */

	assert_int_equal(parse(&cfg, why, 6, "run", "--timings", "--", "echo", "-e", "x"), 0);
	assert_true(cfg.timings);
	assert_int_equal(cfg.argc, 3);
	assert_string_equal(cfg.argv[0], "echo");
	assert_string_equal(cfg.argv[1], "-e"); /* the command's, not ours */

	/* Options stop at the command. */
	assert_int_equal(parse(&cfg, why, 4, "run", "ls", "--memory", "1"), 0);
	assert_int_equal(cfg.mem_size, CONFIG_DEFAULT_MEM);
	assert_int_equal(cfg.argc, 3);
}

#define EXPECT_BAD(needle, ...)                                          \
	do {                                                             \
		assert_int_equal(parse(&cfg, why, __VA_ARGS__), -EINVAL); \
		if (!strstr(why, needle))                                \
			fail_msg("'%s' lacks '%s'", why, needle);        \
	} while (0)

static void run_errors(void **state)
{
	static struct vm_config cfg;
	char why[256];

	(void)state;
	EXPECT_BAD("--memory 1: must be between", 3, "run", "--memory", "1");
	EXPECT_BAD("--memory lots: not a size", 3, "run", "--memory", "lots");
	EXPECT_BAD("--memory 100T", 3, "run", "--memory", "100T");
	EXPECT_BAD("multiple of 4K", 3, "run", "--memory", "33554433B");
	EXPECT_BAD("--cpus 0: must be 1-32", 3, "run", "--cpus", "0");
	EXPECT_BAD("--cpus 33", 3, "run", "--cpus", "33");
	EXPECT_BAD("--boot-timeout x", 3, "run", "--boot-timeout", "x");
	EXPECT_BAD("-e =v: empty variable name", 3, "run", "-e", "=v");
	EXPECT_BAD("-w rel: the working directory must be absolute", 3, "run", "-w", "rel");
	EXPECT_BAD("--bogus: unknown option", 2, "run", "--bogus");
	EXPECT_BAD("--memory: needs a value", 2, "run", "--memory");
	EXPECT_BAD("--log-level loud", 3, "run", "--log-level", "loud");
	EXPECT_BAD("--hostname", 3, "run", "--hostname", "");
}

static void docker_like_options(void **state)
{
	static struct vm_config cfg;
	static char disk1[] = "/img/a.img:ro", disk2[] = "/img/b.img";
	char why[256];
	char path[] = "/tmp/cocoon-envfile-XXXXXX";
	int fd = mkstemp(path);
	static const char text[] = "# comment\n\nFOO=bar baz\r\n  SPACED=1\nEMPTY=\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(parse(&cfg, why, 18, "run", "--rootfs", "/r.erofs", "--rootfs-rw",
			       "--disk", disk1, "--disk", disk2, "-u", "1000:100", "-t", "-i",
			       "--ulimit", "nofile=100:200", "--env-file", path,
			       "--", "id"), 0);
	assert_string_equal(cfg.rootfs, "/r.erofs");
	assert_true(cfg.rootfs_rw);
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].path, "/img/a.img");
	assert_true(cfg.disks[0].read_only);
	assert_string_equal(cfg.disks[1].path, "/img/b.img");
	assert_false(cfg.disks[1].read_only);
	assert_string_equal(cfg.user, "1000:100");
	assert_true(cfg.tty && cfg.interactive);
	assert_int_equal(cfg.nrlimits, 1);
	assert_string_equal(env_of(&cfg, "FOO"), "bar baz");
	assert_string_equal(env_of(&cfg, "SPACED"), "1");
	assert_string_equal(env_of(&cfg, "EMPTY"), "");
	assert_string_equal(cfg.argv[0], "id");

	EXPECT_BAD("--ulimit nofile=abc", 3, "run", "--ulimit", "nofile=abc");
	EXPECT_BAD("--ulimit bogus=1", 3, "run", "--ulimit", "bogus=1");
	EXPECT_BAD("--ulimit nofile", 3, "run", "--ulimit", "nofile");
	assert_int_equal(parse(&cfg, why, 3, "run", "--ulimit", "core=unlimited"), 0);
	EXPECT_BAD("--env-file /no/such/file: No such file", 3, "run", "--env-file", "/no/such/file");
	EXPECT_BAD("--stop-timeout x", 3, "run", "--stop-timeout", "x");
	EXPECT_BAD("-u : not a user", 3, "run", "-u", "");

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "OK=1\n=bad\n", 10), 10);
	close(fd);
	EXPECT_BAD("line 2: empty variable name", 3, "run", "--env-file", path);
	unlink(path);
}

/* Network, vsock and rate-limit options. Parsing cuts option strings in
 * place, so each argument is a writable array. */
static void network_options(void **state)
{
	static struct vm_config cfg;
	static char disk[] = "/img/a.img:ro,iops=100,bw=1M,bw-burst=64K";
	static char net[] = "tap:tap7,ip=10.1.2.3/16,gw=10.1.0.1,mac=02:aa:bb:cc:dd:ee,bw=10M,pps=5000";
	static char p1[] = "8080:80", p2[] = "127.0.0.1:2222:22/tcp";
	static char rng[] = "bw=4096";
	char why[256];

	(void)state;
	assert_int_equal(parse(&cfg, why, 18, "run", "--disk", disk, "--net", net, "-p", p1,
			       "--publish", p2, "--dns", "192.0.2.1", "--vsock-uds",
			       "/run/v.sock", "--vsock-cid", "42", "--rng", rng, "true"), 0);
	assert_string_equal(cfg.disks[0].path, "/img/a.img");
	assert_true(cfg.disks[0].read_only);
	assert_int_equal(cfg.disks[0].rl.ops, 100);
	assert_int_equal(cfg.disks[0].rl.bytes, 1u << 20);
	assert_int_equal(cfg.disks[0].rl.bytes_burst, 64u << 10);
	assert_true(cfg.net.enabled);
	assert_string_equal(cfg.net.tap, "tap7");
	assert_int_equal(cfg.net.addr, 0x0a010203);
	assert_int_equal(cfg.net.prefix, 16);
	assert_true(cfg.net.gw_set);
	assert_int_equal(cfg.net.gw, 0x0a010001);
	assert_true(cfg.net.mac_set);
	assert_int_equal(cfg.net.mac[0], 0x02);
	assert_int_equal(cfg.net.mac[5], 0xee);
	assert_int_equal(cfg.net.rl.bytes, 10u << 20);
	assert_int_equal(cfg.net.rl.ops, 5000);
	assert_int_equal(cfg.nr_ports, 2);
	assert_int_equal(cfg.ports[0].host_ip, 0);
	assert_int_equal(cfg.ports[0].host_port, 8080);
	assert_int_equal(cfg.ports[0].guest_port, 80);
	assert_int_equal(cfg.ports[1].host_ip, 0x7f000001);
	assert_int_equal(cfg.ports[1].host_port, 2222);
	assert_int_equal(cfg.ports[1].guest_port, 22);
	assert_int_equal(cfg.nr_dns, 1);
	assert_string_equal(cfg.vsock_uds, "/run/v.sock");
	assert_int_equal(cfg.vsock_cid, 42);
	assert_int_equal(cfg.rng_rl.bytes, 4096); /* bare rates are bytes */

	/* -p alone implies a created tap, as docker run -p implies a network. */
	{
		static char p[] = "80:80";

		assert_int_equal(parse(&cfg, why, 3, "run", "-p", p), 0);
		assert_true(cfg.net.enabled);
		assert_null(cfg.net.tap);
		assert_int_equal(cfg.vsock_cid, CONFIG_DEFAULT_VSOCK_CID);
	}
}

static void network_errors(void **state)
{
	static struct vm_config cfg;
	static char b[16][96];
	char why[256];

	(void)state;
#define ARG(i, text) (strcpy(b[i], text), b[i])
	EXPECT_BAD("--net bridge: use tap or tap:NAME", 3, "run", "--net", ARG(0, "bridge"));
	EXPECT_BAD("ip=300.1.1.1/24", 3, "run", "--net", ARG(0, "tap,ip=300.1.1.1/24"));
	EXPECT_BAD("ip=10.0.0.2/31", 3, "run", "--net", ARG(0, "tap,ip=10.0.0.2/31"));
	EXPECT_BAD("gw=x", 3, "run", "--net", ARG(0, "tap,ip=10.0.0.2/24,gw=x"));
	EXPECT_BAD("gw= needs ip=", 3, "run", "--net", ARG(0, "tap,gw=10.0.0.1"));
	EXPECT_BAD("mac=01:00:00:00:00:01", 3, "run", "--net",
		   ARG(0, "tap,mac=01:00:00:00:00:01"));
	EXPECT_BAD("mac=02:00", 3, "run", "--net", ARG(0, "tap,mac=02:00"));
	EXPECT_BAD("bw=fast", 3, "run", "--net", ARG(0, "tap,bw=fast"));
	EXPECT_BAD("wat: unknown option", 3, "run", "--net", ARG(0, "tap,wat=1"));
	EXPECT_BAD("at most 15", 3, "run", "--net", ARG(0, "tap:abcdefghijklmnop"));
	EXPECT_BAD("given twice", 5, "run", "--net", ARG(0, "tap"), "--net", ARG(1, "tap"));
	EXPECT_BAD("only tcp", 3, "run", "-p", ARG(0, "53:53/udp"));
	EXPECT_BAD("ports must be 1-65535", 3, "run", "-p", ARG(0, "0:80"));
	EXPECT_BAD("ports must be 1-65535", 3, "run", "-p", ARG(0, "80:99999"));
	EXPECT_BAD("use [HOSTIP:]HOSTPORT:GUESTPORT", 3, "run", "-p", ARG(0, "80"));
	EXPECT_BAD("not an IPv4 address", 3, "run", "-p", ARG(0, "host:80:80"));
	EXPECT_BAD("published twice", 5, "run", "-p", ARG(0, "80:80"), "-p", ARG(1, "80:81"));
	EXPECT_BAD("give the guest's address", 5, "run", "--net", ARG(0, "tap:t0"), "-p",
		   ARG(1, "80:80"));
	EXPECT_BAD("--dns nope", 3, "run", "--dns", "nope");
	EXPECT_BAD("more than 3 nameservers", 9, "run", "--dns", "1.1.1.1", "--dns", "1.1.1.2",
		   "--dns", "1.1.1.3", "--dns", "1.1.1.4");
	EXPECT_BAD("--vsock-cid 2: must be 3-", 3, "run", "--vsock-cid", "2");
	EXPECT_BAD("--vsock-uds", 3, "run", "--vsock-uds", "");
	EXPECT_BAD("iops=0", 3, "run", "--disk", ARG(0, "/a.img,iops=0"));
	EXPECT_BAD("iopz: unknown option", 3, "run", "--disk", ARG(0, "/a.img,iopz=1"));
	EXPECT_BAD("bw: use KEY=VALUE", 3, "run", "--disk", ARG(0, "/a.img,bw"));
	EXPECT_BAD("--rng: bw=", 3, "run", "--rng", ARG(0, "bw=-1"));
#undef ARG
}

/* The OCI-flavoured options: --read-only, --tmpfs, --group-add,
 * --security-opt. --tmpfs cuts its argument in place: writable arrays. */
static void container_options(void **state)
{
	static struct vm_config cfg;
	static char t1[] = "/data:size=1m,exec,mode=1777,ro", t2[] = "/run",
		    t3[] = "/a:uid=5,mpol=bind:0", t4[] = "/x:,nodev,,suid,";
	static char v1[] = "/h:/data";
	char why[256];

	(void)state;
	assert_int_equal(parse(&cfg, why, 16, "run", "--read-only", "--tmpfs", t1, "--tmpfs",
			       t2, "--group-add", "10", "--group-add", "2147483647",
			       "--security-opt", "no-new-privileges", "--tmpfs", t3, "--",
			       "id"), 0);
	assert_true(cfg.rootfs_ro);
	assert_false(cfg.rootfs_rw);
	assert_int_equal(cfg.nr_mounts, 3);
	assert_int_equal(cfg.mounts[0].kind, VM_MOUNT_FS);
	assert_string_equal(cfg.mounts[0].fstype, "tmpfs");
	assert_string_equal(cfg.mounts[0].dest, "/data");
	assert_string_equal(cfg.mounts[0].data, "size=1m,mode=1777");
	assert_int_equal(cfg.mounts[0].flags, MS_NOSUID | MS_NODEV | MS_RDONLY);
	/* docker's defaults */
	assert_string_equal(cfg.mounts[1].dest, "/run");
	assert_null(cfg.mounts[1].data);
	assert_int_equal(cfg.mounts[1].flags, MS_NOEXEC | MS_NOSUID | MS_NODEV);
	/* The first ':' ends the path; data may hold more. */
	assert_string_equal(cfg.mounts[2].dest, "/a");
	assert_string_equal(cfg.mounts[2].data, "uid=5,mpol=bind:0");
	assert_int_equal(cfg.nr_groups_add, 2);
	assert_int_equal(cfg.groups_add[0], 10);
	assert_int_equal(cfg.groups_add[1], 2147483647u);
	assert_false(cfg.groups_set); /* added to the user's, not instead */
	assert_true(cfg.no_new_privs);
	assert_true(cfg.etc_files);
	assert_string_equal(cfg.argv[0], "id");

	assert_int_equal(parse(&cfg, why, 3, "run", "--tmpfs", t4), 0);
	assert_null(cfg.mounts[0].data);
	assert_int_equal(cfg.mounts[0].flags, MS_NOEXEC | MS_NODEV);
	assert_int_equal(parse(&cfg, why, 5, "run", "--security-opt", "no-new-privileges=true",
			       "--security-opt", "no-new-privileges:false"), 0);
	assert_false(cfg.no_new_privs);
	assert_int_equal(parse(&cfg, why, 3, "run", "--security-opt",
			       "no-new-privileges:true"), 0);
	assert_true(cfg.no_new_privs);

	EXPECT_BAD("--read-only and --rootfs-rw", 3, "run", "--read-only", "--rootfs-rw");
	EXPECT_BAD("--tmpfs rel: the path must be absolute", 3, "run", "--tmpfs", "rel");
	EXPECT_BAD("--tmpfs /: the path must be absolute, not /", 3, "run", "--tmpfs", "/");
	EXPECT_BAD("--tmpfs /d: bogus: not a tmpfs option", 3, "run", "--tmpfs",
		   (char[]){ "/d:bogus" });
	EXPECT_BAD("--tmpfs /d: size=lots: not a tmpfs option", 3, "run", "--tmpfs",
		   (char[]){ "/d:size=lots" });
	EXPECT_BAD("--tmpfs /d: size=: not a tmpfs option", 3, "run", "--tmpfs",
		   (char[]){ "/d:size=" });
	EXPECT_BAD("--tmpfs /d: mode=999: not a tmpfs option", 3, "run", "--tmpfs",
		   (char[]){ "/d:mode=999" });
	EXPECT_BAD("--tmpfs: /data is mounted twice", 5, "run", "-v", v1, "--tmpfs", "/data");
	EXPECT_BAD("--tmpfs: /t is mounted twice", 5, "run", "--tmpfs", "/t", "--tmpfs", "/t");
	EXPECT_BAD("--group-add wheel: give a numeric group id", 3, "run", "--group-add",
		   "wheel");
	EXPECT_BAD("--group-add 2147483648", 3, "run", "--group-add", "2147483648");
	EXPECT_BAD("--group-add -1", 3, "run", "--group-add", "-1");
	EXPECT_BAD("--security-opt seccomp=unconfined: not supported", 3, "run",
		   "--security-opt", "seccomp=unconfined");
	EXPECT_BAD("--security-opt no-new-privileges=maybe: not supported", 3, "run",
		   "--security-opt", "no-new-privileges=maybe");
	EXPECT_BAD("--tmpfs: needs a value", 2, "run", "--tmpfs");
}

/* Limits: one more --tmpfs or --group-add than config.h allows is refused. */
static void container_limits(void **state)
{
	static struct vm_config cfg;
	static char *argv[2 * CONFIG_MAX_MOUNTS + 4];
	static char dests[CONFIG_MAX_MOUNTS + 1][16];
	char why[256];
	int argc = 0;

	(void)state;
	argv[argc++] = "run";
	for (int i = 0; i <= CONFIG_MAX_MOUNTS; i++) {
		snprintf(dests[i], sizeof(dests[i]), "/t%d", i);
		argv[argc++] = "--tmpfs";
		argv[argc++] = dests[i];
	}
	argv[argc] = NULL;
	config_defaults(&cfg);
	assert_int_equal(config_parse_run(&cfg, argc, argv, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "more than 64 mounts"));
	argc = 0;
	argv[argc++] = "run";
	for (int i = 0; i <= CONFIG_MAX_GROUPS; i++) {
		argv[argc++] = "--group-add";
		argv[argc++] = "7";
	}
	argv[argc] = NULL;
	config_free(&cfg);
	config_defaults(&cfg);
	assert_int_equal(config_parse_run(&cfg, argc, argv, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "more than 64 groups"));
	config_free(&cfg);
}

/* faults.sh (bad-input): these passed the parser and failed only later, or
 * not at all: a soft limit above the hard one, a volume's unknown mode. */
static void refused_while_parsing(void **state)
{
	static struct vm_config cfg;
	static char vol[] = "/a:/b:rx", vol_ro[] = "/a:/b:ro";
	char why[256];

	(void)state;
	EXPECT_BAD("--ulimit nofile=2:1", 3, "run", "--ulimit", "nofile=2:1");
	EXPECT_BAD("--ulimit nofile=unlimited:5", 3, "run", "--ulimit", "nofile=unlimited:5");
	assert_int_equal(parse(&cfg, why, 3, "run", "--ulimit", "nofile=5:unlimited"), 0);
	assert_int_equal(parse(&cfg, why, 3, "run", "--ulimit", "nofile=5:5"), 0);
	EXPECT_BAD("-v /b:rx: unknown mode", 3, "run", "-v", vol);
	assert_int_equal(parse(&cfg, why, 3, "run", "-v", vol_ro), 0);
	assert_true(cfg.volumes[0].read_only);
	assert_string_equal(cfg.volumes[0].guest, "/b");
	config_free(&cfg);
}

/* fuzz_cli: an argument with a newline or an escape made a reason of more
 * than one line (and could drive the terminal). */
static void reason_is_one_line(void **state)
{
	static struct vm_config cfg;
	char why[256];

	(void)state;
	assert_int_equal(parse(&cfg, why, 2, "run", "--\b\n\033[2J"), -EINVAL);
	assert_null(strchr(why, '\n'));
	assert_null(strchr(why, '\033'));
	assert_non_null(strstr(why, "unknown option"));
	assert_int_equal(parse(&cfg, why, 3, "run", "--memory", "1\n2"), -EINVAL);
	assert_string_equal(why, "--memory 1?2: not a size (use e.g. 256M or 1G)");
	/* --cgroup's reason is written by the sandbox's parser. */
	assert_int_equal(parse(&cfg, why, 3, "run", "--cgroup", "\377\ne"), -EINVAL);
	assert_null(strchr(why, '\n'));
	config_free(&cfg);
}

/* fuzz_cli: a parse that failed in the middle of an option cluster ("-tZi"
 * stops at Z) left getopt pointing into that argv, and the next parse of
 * another argv went on reading the old one: it must start afresh. */
static void reparse_after_cluster_error(void **state)
{
	static struct vm_config cfg;
	char first[] = "-tZi", why[256];

	(void)state;
	assert_int_equal(parse(&cfg, why, 3, "run", first, "sh"), -EINVAL);
	memcpy(first, "-xxx", 5);
	assert_int_equal(parse(&cfg, why, 2, "run", "true"), 0);
	assert_false(cfg.interactive);
	assert_int_equal(cfg.argc, 1);
	assert_string_equal(cfg.argv[0], "true");
	config_free(&cfg);
}

static void boot_timeout_env(void **state)
{
	struct vm_config cfg;

	(void)state;
	setenv("COCOON_BOOT_TIMEOUT", "300", 1);
	config_defaults(&cfg);
	assert_int_equal(cfg.boot_timeout_ms, 300000);
	setenv("COCOON_BOOT_TIMEOUT", "junk", 1);
	config_defaults(&cfg);
	assert_int_equal(cfg.boot_timeout_ms, CONFIG_DEFAULT_BOOT_TIMEOUT_MS);
	unsetenv("COCOON_BOOT_TIMEOUT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes),
		cmocka_unit_test(uints),
		cmocka_unit_test(run_options),
		cmocka_unit_test(run_errors),
		cmocka_unit_test(docker_like_options),
		cmocka_unit_test(network_options),
		cmocka_unit_test(network_errors),
		cmocka_unit_test(container_options),
		cmocka_unit_test(container_limits),
		cmocka_unit_test(boot_timeout_env),
		cmocka_unit_test(refused_while_parsing),
		cmocka_unit_test(reason_is_one_line),
		cmocka_unit_test(reparse_after_cluster_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
