/* SPDX-License-Identifier: MIT */
/* The job spec, both ends: what cocoon writes, guest-init must read back
 * exactly; and guest-init refuses every malformed spec with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "../../guest-init/abi.h"
#include "../../guest-init/net.h"
#include "../../guest-init/spec.h"
#include "../../guest-init/status.h"
#include "config.h"
#include "jobspec.h"

/* Find the spec file's bytes inside the newc archive cocoon built. */
static const char *find_spec(const struct cpio_buf *c, size_t *len)
{
	size_t off = 0;

	while (off + 110 <= c->len) {
		char num[9] = { 0 };
		size_t namesize, filesize;
		const char *name = (const char *)c->data + off + 110;

		memcpy(num, c->data + off + 6 + 8 * 6, 8);
		filesize = strtoul(num, NULL, 16);
		memcpy(num, c->data + off + 6 + 8 * 11, 8);
		namesize = strtoul(num, NULL, 16);
		size_t data = (off + 110 + namesize + 3) & ~(size_t)3;
		if (strcmp(name, COCOON_SPEC_PATH + 1) == 0) {
			*len = filesize;
			return (const char *)c->data + data;
		}
		off = (data + filesize + 3) & ~(size_t)3;
	}
	return NULL;
}

static void round_trip(void **state)
{
	static struct vm_config cfg;
	static struct spec s;
	static char *argv[] = { "sh", "-c", "echo \"$X\"\n; exit 3", "", NULL };
	struct cpio_buf c;
	const char *data;
	size_t len = 0;

	(void)state;
	config_defaults(&cfg);
	cfg.argc = 4;
	cfg.argv = argv;
	assert_int_equal(config_set_env(&cfg, "X=a b=c\nd"), 0);
	assert_int_equal(config_set_env(&cfg, "EMPTY="), 0);
	cfg.cwd = "/work dir";
	cfg.hostname = "box";
	cpio_init(&c);
	assert_int_equal(jobspec_build_cpio(&cfg, NULL, &c), 0);
	data = find_spec(&c, &len);
	assert_non_null(data);
	assert_int_equal(spec_parse(&s, data, len), 0);
	assert_int_equal(s.argc, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(s.argv[i], argv[i]);
	assert_null(s.argv[4]);
	assert_int_equal(s.envc, 2);
	assert_string_equal(s.envp[0], "X=a b=c\nd");
	assert_string_equal(s.envp[1], "EMPTY=");
	assert_string_equal(s.cwd, "/work dir");
	assert_string_equal(s.hostname, "box");
	cpio_free(&c);
}

static void too_big_spec(void **state)
{
	static struct vm_config cfg;
	static char *argv[] = { "true", NULL };
	char *huge = malloc(COCOON_SPEC_MAX);
	struct cpio_buf c;

	(void)state;
	config_defaults(&cfg);
	cfg.argc = 1;
	cfg.argv = argv;
	memset(huge, 'v', COCOON_SPEC_MAX - 1);
	memcpy(huge, "K=", 2);
	huge[COCOON_SPEC_MAX - 1] = 0;
	assert_int_equal(config_set_env(&cfg, huge), 0);
	cpio_init(&c);
	assert_int_equal(jobspec_build_cpio(&cfg, NULL, &c), -E2BIG);
	cpio_free(&c);
	free(huge);
}

#define BAD(lit, needle)                                                     \
	do {                                                                 \
		static const char b_[] = lit;                                \
		assert_int_equal(spec_parse(&s, b_, sizeof(b_) - 1), -EINVAL); \
		assert_non_null(s.error);                                    \
		if (!strstr(s.error, needle))                                \
			fail_msg("'%s' lacks '%s'", s.error, needle);        \
	} while (0)

static void malformed(void **state)
{
	static struct spec s;

	(void)state;
	assert_int_equal(spec_parse(&s, "", 0), -EINVAL);
	BAD("version\0" "2\0arg\0x\0", "version");
	BAD("arg\0x\0version\0" "1\0", "version");
	BAD("version\0" "1\0", "arg");
	BAD("version\0" "1\0arg\0x", "terminated");
	BAD("version\0" "1\0arg", "terminated");
	BAD("version\0" "1\0arg\0x\0env\0NOEQUALS\0", "env");
	BAD("version\0" "1\0arg\0x\0env\0=v\0", "env");
	BAD("version\0" "1\0arg\0x\0cwd\0relative\0", "cwd");
	BAD("version\0" "1\0arg\0x\0cwd\0/a\0cwd\0/b\0", "cwd");
	BAD("version\0" "1\0arg\0x\0hostname\0\0", "hostname");
	/* An empty flag as the very last bytes (found by the spec fuzzer). */
	BAD("version\0" "1\0arg\0x\0tty\0\0", "tty");
	/* Unknown keys are skipped. */
	static const char ok[] = "version\0" "1\0future\0thing\0arg\0x\0";
	assert_int_equal(spec_parse(&s, ok, sizeof(ok) - 1), 0);
	assert_string_equal(s.argv[0], "x");
	assert_string_equal(s.cwd, "/");
}

/* The container keys: what cocoon writes for --rootfs, -u, --ulimit, -t,
 * -i comes back; each is refused when malformed or repeated. */
static void container_keys(void **state)
{
	static struct vm_config cfg;
	static struct spec s;
	static char *argv[] = { "id", NULL };
	struct cpio_buf c;
	const char *data;
	size_t len = 0;

	(void)state;
	config_defaults(&cfg);
	cfg.argc = 1;
	cfg.argv = argv;
	cfg.rootfs = "/images/root.ext4";
	cfg.rootfs_rw = true;
	cfg.user = "user:users";
	cfg.tty = true;
	cfg.interactive = true;
	assert_int_equal(config_add_rlimit(&cfg, "nofile=100:200"), 0);
	assert_int_equal(config_add_rlimit(&cfg, "core=0"), 0);
	cpio_init(&c);
	assert_int_equal(jobspec_build_cpio(&cfg, NULL, &c), 0);
	data = find_spec(&c, &len);
	assert_non_null(data);
	assert_int_equal(spec_parse(&s, data, len), 0);
	assert_string_equal(s.root, "/dev/vda");
	assert_int_equal(s.root_rw, 1);
	assert_string_equal(s.user, "user:users");
	assert_int_equal(s.nrlimits, 2);
	assert_string_equal(s.rlimits[0], "nofile=100:200");
	assert_string_equal(s.rlimits[1], "core=0");
	assert_int_equal(s.tty, 1);
	assert_int_equal(s.stdin_open, 1);
	cpio_free(&c);

	/* Absent keys: no root, no user, flags off. */
	static const char bare[] = "version\0" "1\0arg\0x\0";
	assert_int_equal(spec_parse(&s, bare, sizeof(bare) - 1), 0);
	assert_null(s.root);
	assert_null(s.user);
	assert_int_equal(s.nrlimits, 0);
	assert_int_equal(s.root_rw, 0);
	assert_int_equal(s.tty, 0);
	assert_int_equal(s.stdin_open, 0);
	assert_int_equal(s.root_ro, 0);
	assert_int_equal(s.etc_files, 1);
	assert_int_equal(s.no_new_privs, 0);
	assert_int_equal(s.groups_set, 0);
	assert_int_equal(s.ngroup_add, 0);
	assert_int_equal(s.nmounts, 0);
	static const char off[] = "version\0" "1\0arg\0x\0tty\0" "0\0stdin\0" "0\0";
	assert_int_equal(spec_parse(&s, off, sizeof(off) - 1), 0);
	assert_int_equal(s.tty, 0);

	BAD("version\0" "1\0arg\0x\0root\0vda\0", "root");
	BAD("version\0" "1\0arg\0x\0root\0/a\0root\0/b\0", "root");
	BAD("version\0" "1\0arg\0x\0user\0\0", "user");
	BAD("version\0" "1\0arg\0x\0user\0a\0user\0b\0", "user");
	BAD("version\0" "1\0arg\0x\0tty\0yes\0", "tty");
	BAD("version\0" "1\0arg\0x\0tty\0" "1\0tty\0" "1\0", "tty");
	BAD("version\0" "1\0arg\0x\0stdin\0" "11\0", "stdin");
	BAD("version\0" "1\0arg\0x\0root_rw\0\0", "root_rw");
}

static void too_many_args(void **state)
{
	static struct spec s;
	size_t n = SPEC_MAX_ARGS + 1, len = 10 + n * 6;
	char *b = malloc(len), *p = b;

	(void)state;
	memcpy(p, "version\0" "1\0", 10);
	p += 10;
	for (size_t i = 0; i < n; i++, p += 6)
		memcpy(p, "arg\0x\0", 6);
	assert_int_equal(spec_parse(&s, b, len), -EINVAL);
	assert_int_equal(spec_parse(&s, b, len - 6), 0);
	assert_int_equal(s.argc, SPEC_MAX_ARGS);
	free(b);
}

/* The network keys: what vm.c settles travels to guest-init intact, and
 * guest-init's address parser refuses what it cannot configure. */
static void network_keys(void **state)
{
	static struct vm_config cfg;
	static struct spec s;
	static char *argv[] = { "true", NULL };
	struct jobspec_net net = { .addr = 0x0ac80002, .prefix = 30, .gw = 0x0ac80001,
				   .nr_dns = 2, .dns = { "192.0.2.53", "198.51.100.1" } };
	struct cpio_buf c;
	const char *data;
	size_t len = 0;
	uint32_t a;
	unsigned int p;

	(void)state;
	config_defaults(&cfg);
	cfg.argc = 1;
	cfg.argv = argv;
	cpio_init(&c);
	assert_int_equal(jobspec_build_cpio(&cfg, &net, &c), 0);
	data = find_spec(&c, &len);
	assert_non_null(data);
	assert_int_equal(spec_parse(&s, data, len), 0);
	assert_string_equal(s.net_addr, "10.200.0.2/30");
	assert_string_equal(s.net_gw, "10.200.0.1");
	assert_int_equal(s.ndns, 2);
	assert_string_equal(s.dns[0], "192.0.2.53");
	assert_string_equal(s.dns[1], "198.51.100.1");
	cpio_free(&c);

	/* No network: no keys. */
	cpio_init(&c);
	assert_int_equal(jobspec_build_cpio(&cfg, NULL, &c), 0);
	data = find_spec(&c, &len);
	assert_int_equal(spec_parse(&s, data, len), 0);
	assert_null(s.net_addr);
	assert_null(s.net_gw);
	assert_int_equal(s.ndns, 0);
	cpio_free(&c);

	assert_int_equal(net_parse_cidr("10.200.0.2/30", &a, &p), 0);
	assert_int_equal(a, 0x0ac80002);
	assert_int_equal(p, 30);
	assert_int_equal(net_parse_cidr("0.0.0.0/0", &a, &p), 0);
	assert_int_equal(net_parse_cidr("10.0.0.1", &a, &p), -EINVAL);
	assert_int_equal(net_parse_cidr("10.0.0.1/33", &a, &p), -EINVAL);
	assert_int_equal(net_parse_cidr("10.0.0.1/", &a, &p), -EINVAL);
	assert_int_equal(net_parse_cidr("10.0.0.1/+7", &a, &p), -EINVAL);
	assert_int_equal(net_parse_cidr("10.0.0.1/123", &a, &p), -EINVAL);
	assert_int_equal(net_parse_cidr("/24", &a, &p), -EINVAL);
	assert_int_equal(net_parse_cidr("10.0.0.256/24", &a, &p), -EINVAL);
	assert_int_equal(net_parse_cidr("1234567890123456789/8", &a, &p), -EINVAL);
}

static void network_keys_malformed(void **state)
{
	static struct spec s;
	static const char gw_only[] = "version\0" "1\0" "arg\0" "x\0" "net_gw\0" "10.0.0.1\0";
	static const char twice[] = "version\0" "1\0" "arg\0" "x\0" "net_addr\0" "10.0.0.2/24\0"
				    "net_addr\0" "10.0.0.3/24\0";
	static const char dns4[] = "version\0" "1\0" "arg\0" "x\0" "dns\0" "1.1.1.1\0"
				   "dns\0" "1.1.1.2\0" "dns\0" "1.1.1.3\0" "dns\0" "1.1.1.4\0";

	(void)state;
	assert_int_equal(spec_parse(&s, gw_only, sizeof(gw_only) - 1), -EINVAL);
	assert_string_equal(s.error, "net_gw without net_addr");
	assert_int_equal(spec_parse(&s, twice, sizeof(twice) - 1), -EINVAL);
	assert_int_equal(spec_parse(&s, dns4, sizeof(dns4) - 1), -EINVAL);
	assert_string_equal(s.error, "too many dns entries");
}

/* Build cfg's spec and parse it back into s (both static: they are big). */
static void build_parse(const struct vm_config *cfg, struct spec *s, struct cpio_buf *c)
{
	const char *data;
	size_t len = 0;

	cpio_init(c);
	assert_int_equal(jobspec_build_cpio(cfg, NULL, c), 0);
	data = find_spec(c, &len);
	assert_non_null(data);
	assert_int_equal(spec_parse(s, data, len), 0);
}

/* A spec_mount's field (not NUL-terminated) against a string. */
static void assert_field(const char *p, size_t len, const char *want)
{
	if (len != strlen(want) || memcmp(p, want, len) != 0)
		fail_msg("field '%.*s' is not '%s'", (int)len, p, want);
}

/* The OCI keys: root_ro, etc_files, groups, group_add, no_new_privs and
 * mounts travel intact, separators and all; a volume without a guest path
 * gets no record but keeps its tag. */
static void oci_keys(void **state)
{
	static struct vm_config cfg;
	static struct spec s;
	static char *argv[] = { "id", NULL };
	struct cpio_buf c;

	(void)state;
	config_defaults(&cfg);
	cfg.argc = 1;
	cfg.argv = argv;
	cfg.rootfs_dir = "/bundle/rootfs";
	cfg.rootfs_ro = true;
	cfg.etc_files = false;
	cfg.groups_set = true;
	cfg.nr_groups = 2;
	cfg.groups[0] = 0;
	cfg.groups[1] = 2147483647;
	cfg.nr_groups_add = 1;
	cfg.groups_add[0] = 10;
	cfg.no_new_privs = true;
	cfg.nr_volumes = 2;
	cfg.volumes[0] = (struct vm_volume){ .host = "/etc-files", .nr_names = 1,
					     .names = { "hosts" } };
	cfg.volumes[1] = (struct vm_volume){ .host = "/h", .guest = "/v:w" };
	cfg.nr_mounts = 4;
	/* A file bind: propagation and bind flags are dropped. */
	cfg.mounts[0] = (struct vm_mount){ .kind = VM_MOUNT_SHARE, .share = 0,
					   .subpath = "hosts", .dest = "/etc/hosts",
					   .flags = MS_RDONLY | MS_BIND | MS_REC | MS_PRIVATE };
	/* The share's root, with a ':' in the destination. */
	cfg.mounts[1] = (struct vm_mount){ .kind = VM_MOUNT_SHARE, .share = 1,
					   .subpath = "", .dest = "/a:b c" };
	cfg.mounts[2] = (struct vm_mount){ .kind = VM_MOUNT_FS, .fstype = "tmpfs",
					   .data = "size=1m,mode=1777", .dest = "/data",
					   .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC };
	cfg.mounts[3] = (struct vm_mount){ .kind = VM_MOUNT_FS, .fstype = "mqueue",
					   .dest = "/dev/mqueue" };
	build_parse(&cfg, &s, &c);
	assert_string_equal(s.root_fs, COCOON_ROOT_TAG);
	assert_int_equal(s.root_ro, 1);
	assert_int_equal(s.root_rw, 0);
	assert_int_equal(s.etc_files, 0);
	assert_int_equal(s.groups_set, 1);
	assert_int_equal(s.ngroups, 2);
	assert_int_equal(s.groups[0], 0);
	assert_int_equal(s.groups[1], 2147483647u);
	assert_int_equal(s.ngroup_add, 1);
	assert_int_equal(s.group_add[0], 10);
	assert_int_equal(s.no_new_privs, 1);
	assert_int_equal(s.nvolumes, 1);
	assert_field(s.volumes[0].tag, s.volumes[0].tag_len, COCOON_VOLUME_TAG "1");
	assert_string_equal(s.volumes[0].dir, "/v:w");
	assert_int_equal(s.nmounts, 4);
	assert_int_equal(s.mounts[0].kind, SPEC_MOUNT_SHARE);
	assert_field(s.mounts[0].src, s.mounts[0].src_len, COCOON_VOLUME_TAG "0");
	assert_field(s.mounts[0].arg, s.mounts[0].arg_len, "hosts");
	assert_int_equal(s.mounts[0].flags, MS_RDONLY);
	assert_string_equal(s.mounts[0].dest, "/etc/hosts");
	assert_field(s.mounts[1].src, s.mounts[1].src_len, COCOON_VOLUME_TAG "1");
	assert_int_equal(s.mounts[1].arg_len, 0);
	assert_int_equal(s.mounts[1].flags, 0);
	assert_string_equal(s.mounts[1].dest, "/a:b c");
	assert_int_equal(s.mounts[2].kind, SPEC_MOUNT_FS);
	assert_field(s.mounts[2].src, s.mounts[2].src_len, "tmpfs");
	assert_field(s.mounts[2].arg, s.mounts[2].arg_len, "size=1m,mode=1777");
	assert_int_equal(s.mounts[2].flags, MS_NOSUID | MS_NODEV | MS_NOEXEC);
	assert_string_equal(s.mounts[2].dest, "/data");
	assert_field(s.mounts[3].src, s.mounts[3].src_len, "mqueue");
	assert_int_equal(s.mounts[3].arg_len, 0);
	cpio_free(&c);

	/* Empty groups: none at all, which is not the same as no record. */
	cfg.nr_groups = 0;
	cfg.nr_groups_add = 0;
	build_parse(&cfg, &s, &c);
	assert_int_equal(s.groups_set, 1);
	assert_int_equal(s.ngroups, 0);
	assert_int_equal(s.ngroup_add, 0);
	cpio_free(&c);

	/* Without a root there is nothing to make read-only. */
	cfg.rootfs_dir = NULL;
	build_parse(&cfg, &s, &c);
	assert_null(s.root_fs);
	assert_int_equal(s.root_ro, 0);
	cpio_free(&c);
}

/* What the writer refuses: fields the record format cannot carry, a share
 * past the volumes, flags guest-init would not apply. */
static void oci_keys_unwritable(void **state)
{
	static struct vm_config cfg;
	static char *argv[] = { "id", NULL };
	static const struct vm_mount bad[] = {
		{ .kind = VM_MOUNT_SHARE, .share = 1, .subpath = "", .dest = "/x" },
		{ .kind = VM_MOUNT_SHARE, .share = 0, .subpath = "a\x1f" "b", .dest = "/x" },
		{ .kind = VM_MOUNT_SHARE, .share = 0, .subpath = "", .dest = "/x\x1f" },
		{ .kind = VM_MOUNT_SHARE, .share = 0, .subpath = "", .dest = "x" },
		{ .kind = VM_MOUNT_SHARE, .share = 0, .subpath = "", .dest = NULL },
		{ .kind = VM_MOUNT_FS, .fstype = "tmpfs", .data = "\x1f", .dest = "/x" },
		{ .kind = VM_MOUNT_FS, .fstype = "tmp\x1f" "fs", .dest = "/x" },
		{ .kind = VM_MOUNT_FS, .fstype = "", .dest = "/x" },
		{ .kind = VM_MOUNT_FS, .fstype = NULL, .dest = "/x" },
		{ .kind = VM_MOUNT_FS, .fstype = "tmpfs", .dest = "/x", .flags = MS_MOVE },
		{ .kind = VM_MOUNT_FS, .fstype = "tmpfs", .dest = "/x", .flags = MS_REMOUNT },
		{ .kind = (enum vm_mount_kind)7, .fstype = "tmpfs", .dest = "/x" },
	};
	struct cpio_buf c;

	(void)state;
	config_defaults(&cfg);
	cfg.argc = 1;
	cfg.argv = argv;
	cfg.nr_volumes = 1;
	cfg.volumes[0] = (struct vm_volume){ .host = "/h" };
	cfg.nr_mounts = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.mounts[0] = bad[i];
		cpio_init(&c);
		if (jobspec_build_cpio(&cfg, NULL, &c) != -EINVAL)
			fail_msg("mount %zu was written", i);
		cpio_free(&c);
	}
	cfg.nr_mounts = CONFIG_MAX_MOUNTS + 1;
	cpio_init(&c);
	assert_int_equal(jobspec_build_cpio(&cfg, NULL, &c), -EINVAL);
	cpio_free(&c);
}

#define V1 "version\0" "1\0arg\0x\0"
#define US "\x1f"

static void oci_keys_malformed(void **state)
{
	static struct spec s;

	(void)state;
	BAD(V1 "root_rw\0" "1\0root_ro\0" "1\0", "both root_rw and root_ro");
	BAD(V1 "root_ro\0" "2\0", "root_ro");
	BAD(V1 "root_ro\0" "1\0root_ro\0" "1\0", "root_ro");
	BAD(V1 "etc_files\0" "0\0etc_files\0" "0\0", "etc_files");
	BAD(V1 "etc_files\0no\0", "etc_files");
	BAD(V1 "no_new_privs\0\0", "no_new_privs");
	BAD(V1 "groups\0" "1,,2\0", "not a list of gids");
	BAD(V1 "groups\0" "1,\0", "not a list of gids");
	BAD(V1 "groups\0,1\0", "not a list of gids");
	BAD(V1 "groups\0wheel\0", "not a list of gids");
	BAD(V1 "groups\0 1\0", "not a list of gids");
	BAD(V1 "groups\0-1\0", "not a list of gids");
	BAD(V1 "groups\0" "2147483648\0", "not a list of gids");
	BAD(V1 "groups\0" "99999999999999999999\0", "not a list of gids");
	BAD(V1 "groups\0" "1\0groups\0" "2\0", "groups given twice");
	BAD(V1 "groups\0\0groups\0\0", "groups given twice");
	BAD(V1 "group_add\0\0", "group_add is empty");
	BAD(V1 "group_add\0" "1\0group_add\0" "2\0", "group_add given twice");
	/* Fields: too few, too many (a stray separator), unknown kind. */
	BAD(V1 "mount\0fs" US "tmpfs" US US "/x\0", "fewer than five");
	BAD(V1 "mount\0fs" US "tmpfs" US US "0" US "/x" US "\0", "more than five");
	BAD(V1 "mount\0fs" US "tmpfs" US US "0" US "/x" US "/y\0", "more than five");
	BAD(V1 "mount\0\0", "fewer than five");
	BAD(V1 "mount\0bind" US "t" US US "0" US "/x\0", "kind");
	BAD(V1 "mount\0share" US US US "0" US "/x\0", "tag or type");
	BAD(V1 "mount\0share" US "0123456789012345678901234567890123456" US US "0" US "/x\0",
	    "tag or type");
	BAD(V1 "mount\0fs" US "012345678901234567890123456789012" US US "0" US "/x\0",
	    "tag or type");
	BAD(V1 "mount\0share" US "t" US "/etc" US "0" US "/x\0", "subpath");
	BAD(V1 "mount\0share" US "t" US ".." US "0" US "/x\0", "subpath");
	BAD(V1 "mount\0share" US "t" US "a/../b" US "0" US "/x\0", "subpath");
	BAD(V1 "mount\0share" US "t" US "a/.." US "0" US "/x\0", "subpath");
	BAD(V1 "mount\0fs" US "tmpfs" US US US "/x\0", "flags");
	BAD(V1 "mount\0fs" US "tmpfs" US US "zz" US "/x\0", "flags");
	BAD(V1 "mount\0fs" US "tmpfs" US US "1A" US "/x\0", "flags");
	BAD(V1 "mount\0fs" US "tmpfs" US US "-1" US "/x\0", "flags");
	BAD(V1 "mount\0fs" US "tmpfs" US US "1000" US "/x\0", "flags"); /* MS_BIND */
	BAD(V1 "mount\0fs" US "tmpfs" US US "12345678901234567" US "/x\0", "flags");
	BAD(V1 "mount\0fs" US "tmpfs" US US "0" US "x\0", "destination");
	BAD(V1 "mount\0fs" US "tmpfs" US US "0" US "\0", "destination");
	/* Truncated inside a mount value. */
	BAD(V1 "mount\0fs" US "tmpfs", "terminated");

	/* A ".." inside a name is a name; a DATA may hold anything else. */
	static const char ok[] = V1 "mount\0share" US "t" US "..a/b..c/.d" US "1" US "/x\0"
				 "mount\0fs" US "tmpfs" US "size=1m,x:y=/z" US "0" US "/d:e\0";
	assert_int_equal(spec_parse(&s, ok, sizeof(ok) - 1), 0);
	assert_int_equal(s.nmounts, 2);
	assert_int_equal(s.mounts[0].flags, MS_RDONLY);
	assert_field(s.mounts[0].arg, s.mounts[0].arg_len, "..a/b..c/.d");
	assert_field(s.mounts[1].arg, s.mounts[1].arg_len, "size=1m,x:y=/z");
	assert_string_equal(s.mounts[1].dest, "/d:e");
}

/* SPEC_MAX_MOUNTS mounts and SPEC_MAX_GROUPS gids parse; one more does not. */
static void oci_limits(void **state)
{
	static const char rec[] = "mount\0fs" US "tmpfs" US US "0" US "/x\0";
	static struct spec s;
	static char b[16 + (SPEC_MAX_MOUNTS + 1) * sizeof(rec)];
	static char g[64 + (SPEC_MAX_GROUPS + 1) * 2];
	size_t len = sizeof(V1) - 1, glen;

	(void)state;
	memcpy(b, V1, len);
	for (size_t i = 0; i <= SPEC_MAX_MOUNTS; i++, len += sizeof(rec) - 1)
		memcpy(b + len, rec, sizeof(rec) - 1);
	assert_int_equal(spec_parse(&s, b, len), -EINVAL);
	assert_string_equal(s.error, "too many mounts");
	assert_int_equal(spec_parse(&s, b, len - (sizeof(rec) - 1)), 0);
	assert_int_equal(s.nmounts, SPEC_MAX_MOUNTS);

	/* "groups" "7,7,...,7" with SPEC_MAX_GROUPS gids */
	glen = sizeof(V1 "groups") - 1 + 1;
	memcpy(g, V1 "groups", glen);
	for (size_t i = 0; i < SPEC_MAX_GROUPS; i++, glen += 2)
		memcpy(g + glen, "7,", 2);
	g[--glen] = '\0';
	assert_int_equal(spec_parse(&s, g, glen + 1), 0);
	assert_int_equal(s.ngroups, SPEC_MAX_GROUPS);
	memcpy(g + glen, ",7", 3);
	assert_int_equal(spec_parse(&s, g, glen + 3), -EINVAL);
	assert_string_equal(s.error, "too many gids in groups or group_add");
}

static void statuses(void **state)
{
	(void)state;
	assert_int_equal(status_from_start_failure(START_NOT_FOUND, 0), 127);
	assert_int_equal(status_from_start_failure(START_EXEC, ENOENT), 127);
	assert_int_equal(status_from_start_failure(START_EXEC, EACCES), 126);
	assert_int_equal(status_from_start_failure(START_EXEC, ENOEXEC), 126);
	assert_int_equal(status_from_start_failure(START_SETUP, 0), 125);
	assert_int_equal(status_from_start_failure(START_RLIMIT, EPERM), 125);
	assert_int_equal(status_from_start_failure(START_USER, EPERM), 125);
	assert_int_equal(status_from_wait(7 << 8), 7);
	assert_int_equal(status_from_wait(SIGKILL), 137);
	assert_int_equal(status_from_wait(SIGTERM), 143);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(too_big_spec),
		cmocka_unit_test(malformed),
		cmocka_unit_test(container_keys),
		cmocka_unit_test(too_many_args),
		cmocka_unit_test(network_keys),
		cmocka_unit_test(network_keys_malformed),
		cmocka_unit_test(oci_keys),
		cmocka_unit_test(oci_keys_unwritable),
		cmocka_unit_test(oci_keys_malformed),
		cmocka_unit_test(oci_limits),
		cmocka_unit_test(statuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
