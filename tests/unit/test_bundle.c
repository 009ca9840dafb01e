/* SPDX-License-Identifier: MIT */
/*
 * An OCI bundle's config.json -> struct vm_config (vmm/runtime/bundle.h):
 * a docker-like config field by field, how bind mounts become virtio-fs
 * shares, sizing, the terminal, the network namespace, hooks, and every
 * refusal naming its field. The bundle is a temporary directory with a
 * rootfs/ and host files and directories to bind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bundle.h"
#include "config.h"

/* Documents are written with ' for " and @ for the bundle directory
 * (expand). CFG(x): a 1.x document with root rootfs/ and members x. */
#define PROC(x) "'process':{'args':['sh'],'cwd':'/'" x "}"
#define CFG_HEAD "{'ociVersion':'1.0.2','root':{'path':'rootfs'},"
#define CFG(x) CFG_HEAD x "}"
#define CFG_PROC(x) CFG(PROC("") x)
/* A document left open for parse_list. */
#define CFG_OPEN(x) CFG_HEAD PROC("") x
#define BIND(dest, src, opts)                                                            \
	"{'destination':'" dest "','type':'bind','source':'" src "','options':[" opts "]}"
#define NOSUID_NOEXEC_NODEV (MS_NOSUID | MS_NOEXEC | MS_NODEV)

static char dir[PATH_MAX]; /* the bundle, realpath'd */
static char why[512];
static struct bundle b;
static struct vm_config cfg;

static char *path_in(const char *rel)
{
	static char p[4][PATH_MAX + 64];
	static int next;
	char *s = p[next++ % 4];
	int n = snprintf(s, sizeof(p[0]), "%s/%s", dir, rel);

	assert_true(n > 0 && (size_t)n < sizeof(p[0]));
	return s;
}

static void make_file(const char *rel)
{
	int fd = open(path_in(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	close(fd);
}

static void make_dir(const char *rel)
{
	assert_int_equal(mkdir(path_in(rel), 0755), 0);
}

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/test_bundle.XXXXXX", name[32];

	(void)state;
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		return -1;
	make_dir("rootfs");
	make_file("afile");
	make_dir("etc");
	make_file("etc/hosts");
	make_file("etc/hostname");
	make_file("etc/resolv.conf");
	make_dir("data");
	make_file("data/inside");
	make_dir("other");
	make_file("other/app.conf");
	make_dir("many");
	for (unsigned int i = 0; i <= CONFIG_MAX_SHARE_NAMES; i++) {
		snprintf(name, sizeof(name), "many/f%u", i);
		make_file(name);
	}
	for (unsigned int i = 0; i <= CONFIG_MAX_VOLUMES; i++) {
		snprintf(name, sizeof(name), "d%u", i);
		make_dir(name);
	}
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int group_teardown(void **state)
{
	(void)state;
	bundle_free(&b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* The template with ' -> " and @ -> the bundle directory. */
static char *expand(const char *tmpl)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	for (const char *p = tmpl; *p; p++) {
		if (*p == '\'')
			fputc('"', f);
		else if (*p == '@')
			fputs(dir, f);
		else
			fputc(*p, f);
	}
	assert_int_equal(fclose(f), 0);
	return out;
}

/* A fresh b and cfg (config_defaults) from the template. */
static int parse(const char *tmpl)
{
	char *json = expand(tmpl);
	int ret;

	bundle_free(&b);
	memset(&b, 0, sizeof(b));
	config_defaults(&cfg);
	why[0] = '\0';
	ret = bundle_parse(&b, dir, json, strlen(json), &cfg, why, sizeof(why));
	free(json);
	return ret;
}

/* before, n copies of item joined by ',' (each # as its index), after. */
static int parse_list(const char *before, const char *item, unsigned int n,
		      const char *after)
{
	char *tmpl = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&tmpl, &len);
	int ret;

	assert_non_null(f);
	fputs(before, f);
	for (unsigned int i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		for (const char *p = item; *p; p++)
			if (*p == '#')
				fprintf(f, "%u", i);
			else
				fputc(*p, f);
	}
	fputs(after, f);
	assert_int_equal(fclose(f), 0);
	ret = parse(tmpl);
	free(tmpl);
	return ret;
}

static void check_why(const char *needle)
{
	if (!strstr(why, needle))
		fail_msg("why '%s' lacks '%s'", why, needle);
}

/* A config.json refused with err and a reason holding needle (expanded). */
struct bad_case {
	const char *json;
	int err;
	const char *needle;
};

static void fails_all(const struct bad_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *needle = expand(c[i].needle);
		int ret = parse(c[i].json);

		if (ret != c[i].err)
			fail_msg("%s: got %d (%s), want %d", c[i].json, ret, why, c[i].err);
		check_why(needle);
		free(needle);
	}
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (want)
		assert_string_equal(got, want);
	else
		assert_null(got);
}

static void assert_fs(unsigned int i, const char *fstype, const char *data,
		      unsigned long flags, const char *dest)
{
	const struct vm_mount *m = &cfg.mounts[i];

	assert_int_equal(m->kind, VM_MOUNT_FS);
	assert_string_equal(m->fstype, fstype);
	assert_str_or_null(m->data, data);
	assert_int_equal(m->flags, flags);
	assert_string_equal(m->dest, dest);
}

static void assert_share(unsigned int i, unsigned int share, const char *subpath,
			 unsigned long flags, const char *dest)
{
	const struct vm_mount *m = &cfg.mounts[i];

	assert_int_equal(m->kind, VM_MOUNT_SHARE);
	assert_int_equal(m->share, share);
	assert_string_equal(m->subpath, subpath);
	assert_int_equal(m->flags, flags);
	assert_string_equal(m->dest, dest);
}

/* Volume i: the host directory (relative to the bundle, "" for the bundle
 * itself), read-only, and
 * its visible names (NULL-terminated; none: the whole directory). */
static void assert_volume(unsigned int i, const char *host, bool ro, const char *const *names)
{
	const struct vm_volume *v = &cfg.volumes[i];
	unsigned int n = 0;

	assert_string_equal(v->host, *host ? path_in(host) : dir);
	assert_null(v->guest);
	assert_int_equal(v->read_only, ro);
	for (; names && names[n]; n++)
		assert_string_equal(v->names[n], names[n]);
	assert_int_equal(v->nr_names, n);
}

static const char docker_config[] = "{'ociVersion':'1.0.2-dev',"
	"'process':{'terminal':false,"
	"'user':{'uid':1000,'gid':1000,'additionalGids':[10,1000,4294967294]},"
	"'args':['/bin/sh','-c','echo hi'],"
	"'env':['PATH=/usr/local/bin:/usr/bin:/bin','HOSTNAME=abc123','EMPTY='],"
	"'cwd':'/work',"
	"'capabilities':{'bounding':['CAP_CHOWN'],'effective':['CAP_CHOWN']},"
	"'rlimits':[{'type':'RLIMIT_NOFILE','hard':4096,'soft':1024},"
	"{'type':'RLIMIT_CORE','hard':18446744073709551615,'soft':0}],"
	"'noNewPrivileges':true,'oomScoreAdj':0},"
	"'root':{'path':'rootfs'},"
	"'hostname':'abc123',"
	"'mounts':["
	"{'destination':'/proc','type':'proc','source':'proc','options':['nosuid','noexec','nodev']},"
	"{'destination':'/dev','type':'tmpfs','source':'tmpfs',"
	"'options':['nosuid','strictatime','mode=755','size=65536k']},"
	"{'destination':'/dev/pts','type':'devpts','source':'devpts',"
	"'options':['nosuid','noexec','newinstance','ptmxmode=0666','mode=0620','gid=5']},"
	"{'destination':'/sys','type':'sysfs','source':'sysfs','options':['nosuid','noexec','nodev','ro']},"
	"{'destination':'/sys/fs/cgroup','type':'cgroup','source':'cgroup',"
	"'options':['ro','nosuid','noexec','nodev']},"
	"{'destination':'/dev/mqueue','type':'mqueue','source':'mqueue',"
	"'options':['nosuid','noexec','nodev']},"
	"{'destination':'/dev/shm','type':'tmpfs','source':'shm',"
	"'options':['nosuid','noexec','mode=1777','nodev','size=67108864']},"
	BIND("/etc/hosts", "@/etc/hosts", "'rbind','rprivate'") ","
	BIND("/etc/hostname", "@/etc/hostname", "'rbind','rprivate'") ","
	BIND("/etc/resolv.conf", "@/etc/resolv.conf", "'rbind','rprivate'") ","
	BIND("/data", "@/data", "'rbind','ro','rprivate'") ","
	BIND("/etc/app.conf", "@/other/app.conf", "'rbind','nosuid','rprivate'") "],"
	"'linux':{'namespaces':[{'type':'pid'},{'type':'ipc'},{'type':'uts'},{'type':'mount'}],"
	"'maskedPaths':['/proc/kcore'],'readonlyPaths':['/proc/sys'],"
	"'resources':{'devices':[{'allow':false,'access':'rwm'}]},"
	"'seccomp':{'defaultAction':'SCMP_ACT_ERRNO'}}}";

static void docker_like(void **state)
{
	static const char *const etc[] = {"hosts", "hostname", "resolv.conf", NULL};
	static const char *const app[] = {"app.conf", NULL};

	(void)state;
	assert_int_equal(parse(docker_config), 0);
	assert_int_equal(cfg.argc, 3);
	assert_string_equal(cfg.argv[0], "/bin/sh");
	assert_string_equal(cfg.argv[1], "-c");
	assert_string_equal(cfg.argv[2], "echo hi");
	assert_null(cfg.argv[3]);
	assert_true(cfg.cmd_given);
	assert_int_equal(cfg.nenv, 3);
	assert_string_equal(cfg.env[0], "PATH=/usr/local/bin:/usr/bin:/bin");
	assert_string_equal(cfg.env[1], "HOSTNAME=abc123");
	assert_string_equal(cfg.env[2], "EMPTY=");
	assert_string_equal(cfg.cwd, "/work");
	assert_true(cfg.cwd_set);
	assert_string_equal(cfg.user, "1000:1000");
	assert_true(cfg.groups_set);
	assert_int_equal(cfg.nr_groups, 3);
	assert_int_equal(cfg.groups[0], 10);
	assert_int_equal(cfg.groups[1], 1000);
	assert_int_equal(cfg.groups[2], 4294967294u);
	assert_int_equal(cfg.nrlimits, 2);
	assert_string_equal(cfg.rlimits[0], "nofile=1024:4096");
	assert_string_equal(cfg.rlimits[1], "core=0:unlimited");
	assert_true(cfg.no_new_privs);
	assert_string_equal(cfg.hostname, "abc123");
	assert_string_equal(cfg.rootfs_dir, path_in("rootfs"));
	assert_string_equal(b.rootfs, path_in("rootfs"));
	assert_string_equal(b.dir, dir);
	assert_true(cfg.rootfs_rw);
	assert_false(cfg.rootfs_ro);
	assert_null(cfg.rootfs);
	assert_false(cfg.etc_files);
	assert_true(cfg.signal_passthrough);
	assert_true(cfg.interactive);
	assert_false(cfg.tty);
	assert_false(b.terminal);
	assert_int_equal(b.netns, BUNDLE_NETNS_NONE);
	assert_int_equal(cfg.mem_size, CONFIG_DEFAULT_MEM);
	assert_int_equal(cfg.cpus, 1);
	for (int k = 0; k < BUNDLE_NR_HOOK_KINDS; k++)
		assert_int_equal(b.nr_hooks[k], 0);

	/* proc, /dev, devpts, sysfs and cgroup are guest-init's own. */
	assert_int_equal(cfg.nr_mounts, 7);
	assert_fs(0, "mqueue", NULL, NOSUID_NOEXEC_NODEV, "/dev/mqueue");
	assert_fs(1, "tmpfs", "mode=1777,size=67108864", NOSUID_NOEXEC_NODEV, "/dev/shm");
	assert_share(2, 0, "hosts", 0, "/etc/hosts");
	assert_share(3, 0, "hostname", 0, "/etc/hostname");
	assert_share(4, 0, "resolv.conf", 0, "/etc/resolv.conf");
	assert_share(5, 1, "", MS_RDONLY, "/data");
	assert_share(6, 2, "app.conf", MS_NOSUID, "/etc/app.conf");
	/* The three engine files share one filtered volume. */
	assert_int_equal(cfg.nr_volumes, 3);
	assert_volume(0, "etc", false, etc);
	assert_volume(1, "data", true, NULL);
	assert_volume(2, "other", false, app);
}

static void root_path(void **state)
{
	(void)state;
	assert_int_equal(parse("{'ociVersion':'1.1.0','root':{'path':'@/rootfs/'}," PROC("") "}"),
			 0);
	assert_string_equal(cfg.rootfs_dir, path_in("rootfs"));
	assert_true(cfg.rootfs_rw);
	assert_false(cfg.rootfs_ro);
	assert_int_equal(parse("{'ociVersion':'1.0.0','root':{'path':'rootfs','readonly':true},"
			       PROC("") "}"),
			 0);
	assert_string_equal(cfg.rootfs_dir, path_in("rootfs"));
	assert_true(cfg.rootfs_ro);
	assert_false(cfg.rootfs_rw);
	assert_int_equal(parse("{'ociVersion':'1.0.0','root':{'path':'rootfs','readonly':false},"
			       PROC("") "}"),
			 0);
	assert_true(cfg.rootfs_rw);
	/* Minimal config: no user (the image's), no groups, an empty hostname
	 * is none. */
	assert_int_equal(parse(CFG_PROC(",'hostname':''")), 0);
	assert_null(cfg.user);
	assert_false(cfg.groups_set);
	assert_null(cfg.hostname);
	assert_int_equal(cfg.nenv, 0);
	assert_int_equal(cfg.nr_mounts, 0);
	assert_int_equal(cfg.nr_volumes, 0);
	/* A user without additionalGids has exactly none, as under runc. */
	assert_int_equal(parse(CFG(PROC(",'user':{'uid':0,'gid':0}"))), 0);
	assert_string_equal(cfg.user, "0:0");
	assert_true(cfg.groups_set);
	assert_int_equal(cfg.nr_groups, 0);
}

static void shares(void **state)
{
	(void)state;
	/* The same directory read-only and read-write: two shares. */
	assert_int_equal(parse(CFG_PROC(",'mounts':[" BIND("/a", "@/data", "'rbind','ro'") ","
					BIND("/b", "@/data", "'rbind'") ","
					BIND("/c", "@/data/", "'bind','ro'") "]")),
			 0);
	assert_int_equal(cfg.nr_volumes, 2);
	assert_volume(0, "data", true, NULL);
	assert_volume(1, "data", false, NULL);
	assert_share(0, 0, "", MS_RDONLY, "/a");
	assert_share(1, 1, "", 0, "/b");
	assert_share(2, 0, "", MS_RDONLY, "/c");

	/* A file first: its filtered share cannot serve the whole directory. */
	assert_int_equal(parse(CFG_PROC(",'mounts':[" BIND("/f", "@/data/inside", "'rbind'") ","
					BIND("/d", "@/data", "'rbind'") "]")),
			 0);
	assert_int_equal(cfg.nr_volumes, 2);
	assert_volume(0, "data", false, (const char *const[]){"inside", NULL});
	assert_volume(1, "data", false, NULL);
	assert_share(0, 0, "inside", 0, "/f");
	assert_share(1, 1, "", 0, "/d");
	/* The directory first: its whole share serves the file too. */
	assert_int_equal(parse(CFG_PROC(",'mounts':[" BIND("/d", "@/data", "'rbind'") ","
					BIND("/f", "@/data/inside", "'rbind'") "]")),
			 0);
	assert_int_equal(cfg.nr_volumes, 1);
	assert_volume(0, "data", false, NULL);
	assert_share(1, 0, "inside", 0, "/f");
	/* The same file twice is one name; type "none" with rbind is a bind. */
	assert_int_equal(parse(CFG_PROC(",'mounts':[" BIND("/x", "@/afile", "") ","
					"{'destination':'/y','type':'none','source':'@/afile',"
					"'options':['rbind']}]")),
			 0);
	assert_int_equal(cfg.nr_volumes, 1);
	assert_volume(0, "", false, (const char *const[]){"afile", NULL});
	assert_share(1, 0, "afile", 0, "/y");

	/* One share per directory, CONFIG_MAX_VOLUMES at most. */
	assert_int_equal(parse_list(CFG_OPEN(",'mounts':["),
				    BIND("/d#", "@/d#", "'rbind'"), CONFIG_MAX_VOLUMES, "]}"),
			 0);
	assert_int_equal(cfg.nr_volumes, CONFIG_MAX_VOLUMES);
	assert_int_equal(parse_list(CFG_OPEN(",'mounts':["),
				    BIND("/d#", "@/d#", "'rbind'"), CONFIG_MAX_VOLUMES + 1, "]}"),
			 -E2BIG);
	check_why("mounts");
	/* More files of one directory than a share shows: a second share. */
	assert_int_equal(parse_list(CFG_OPEN(",'mounts':["),
				    BIND("/f#", "@/many/f#", "'rbind'"),
				    CONFIG_MAX_SHARE_NAMES + 1, "]}"),
			 0);
	assert_int_equal(cfg.nr_volumes, 2);
	assert_int_equal(cfg.volumes[0].nr_names, CONFIG_MAX_SHARE_NAMES);
	assert_string_equal(cfg.volumes[0].names[0], "f0");
	assert_volume(1, "many", false, (const char *const[]){"f16", NULL});
	assert_share(CONFIG_MAX_SHARE_NAMES - 1, 0, "f15", 0, "/f15");
	assert_share(CONFIG_MAX_SHARE_NAMES, 1, "f16", 0, "/f16");
}

static void fs_mounts(void **state)
{
	(void)state;
	/* Flag words leave the data; bind and propagation words are dropped;
	 * proc elsewhere than /proc is kept. */
	assert_int_equal(parse(CFG_PROC(",'mounts':["
					"{'destination':'/run','type':'tmpfs','source':'tmpfs',"
					"'options':['rw','size=1m','rprivate','','noatime','mode=755']},"
					"{'destination':'/p','type':'proc'},"
					"{'destination':'/sys','type':'cgroup2'},"
					"{'destination':'/dev','type':'devtmpfs'}]")),
			 0);
	assert_int_equal(cfg.nr_mounts, 3);
	assert_fs(0, "tmpfs", "size=1m,mode=755", MS_NOATIME, "/run");
	assert_fs(1, "proc", NULL, 0, "/p");
	assert_fs(2, "devtmpfs", NULL, 0, "/dev");
	/* CONFIG_MAX_MOUNTS, and skipped ones do not count. */
	assert_int_equal(parse_list(CFG_OPEN(",'mounts':[{'destination':'/proc','type':'proc'},"),
				    "{'destination':'/t#','type':'tmpfs'}", CONFIG_MAX_MOUNTS, "]}"),
			 0);
	assert_int_equal(cfg.nr_mounts, CONFIG_MAX_MOUNTS);
	assert_int_equal(parse_list(CFG_OPEN(",'mounts':["), "{'destination':'/t#','type':'tmpfs'}",
				    CONFIG_MAX_MOUNTS + 1, "]}"),
			 -E2BIG);
	check_why("mounts: more than");
}

static const struct bad_case sizing_refused[] = {
	{CFG_PROC(",'annotations':{'io.cocoon.memory':'lots'}"), -EINVAL,
	 BUNDLE_ANN_MEMORY},
	{CFG_PROC(",'annotations':{'io.cocoon.memory':512}"), -EINVAL, BUNDLE_ANN_MEMORY},
	{CFG_PROC(",'annotations':{'io.cocoon.cpus':'0'}"), -EINVAL, BUNDLE_ANN_CPUS},
	{CFG_PROC(",'annotations':{'io.cocoon.cpus':'33'}"), -EINVAL, BUNDLE_ANN_CPUS},
	{CFG_PROC(",'annotations':{'io.cocoon.cpus':3}"), -EINVAL, BUNDLE_ANN_CPUS},
	{CFG_PROC(",'annotations':{'io.cocoon.memory':'32M'}"), -EINVAL, "memory"},
	{CFG_PROC(",'annotations':{'io.cocoon.memory':'65G'}"), -EINVAL, "memory"},
	{CFG_PROC(",'annotations':[]"), -EINVAL, "annotations"},
	{CFG_PROC(",'linux':{'resources':{'memory':{'limit':10485760}}}"), -EINVAL,
	 "memory limit"},
	{CFG_PROC(",'linux':{'resources':{'memory':{'limit':-2}}}"), -EINVAL,
	 "linux.resources.memory.limit"},
	{CFG_PROC(",'linux':{'resources':{'cpu':{'quota':'1'}}}"), -EINVAL,
	 "linux.resources.cpu.quota"},
	{CFG_PROC(",'linux':{'resources':[]}"), -EINVAL, "linux.resources"},
	{CFG_PROC(",'linux':1"), -EINVAL, "linux"},
};

static void sizing(void **state)
{
	(void)state;
	assert_int_equal(parse(CFG_PROC(",'linux':{'resources':{'memory':{'limit':268435456},"
					"'cpu':{'quota':150000,'period':100000}}}")),
			 0);
	assert_int_equal(cfg.mem_size, 256 * MiB);
	assert_int_equal(cfg.cpus, 2);
	/* Rounded down to whole MiB; the kernel's default period. */
	assert_int_equal(parse(CFG_PROC(",'linux':{'resources':{'memory':{'limit':268436479},"
					"'cpu':{'quota':250000}}}")),
			 0);
	assert_int_equal(cfg.mem_size, 256 * MiB);
	assert_int_equal(cfg.cpus, 3);
	/* -1: unlimited, the defaults stay. */
	assert_int_equal(parse(CFG_PROC(",'linux':{'resources':{'memory':{'limit':-1},"
					"'cpu':{'quota':-1}}}")),
			 0);
	assert_int_equal(cfg.mem_size, CONFIG_DEFAULT_MEM);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(parse(CFG_PROC(",'linux':{'resources':{'cpu':{'quota':100000000,"
					"'period':1000}}}")),
			 0);
	assert_int_equal(cfg.cpus, CONFIG_MAX_CPUS);
	/* A limit or quota of 0 is none: the defaults. */
	assert_int_equal(parse(CFG_PROC(",'linux':{'resources':{'memory':{'limit':0},"
					"'cpu':{'quota':0,'period':100000}}}")),
			 0);
	assert_int_equal(cfg.mem_size, CONFIG_DEFAULT_MEM);
	assert_int_equal(cfg.cpus, 1);
	/* Annotations win. */
	assert_int_equal(parse(CFG_PROC(",'linux':{'resources':{'memory':{'limit':268435456},"
					"'cpu':{'quota':150000,'period':100000}}},"
					"'annotations':{'io.cocoon.memory':'512M','io.cocoon.cpus':'3',"
					"'other':'x'}")),
			 0);
	assert_int_equal(cfg.mem_size, 512 * MiB);
	assert_int_equal(cfg.cpus, 3);
	assert_string_equal(json_object_get_string(json_object_object_get(
				    bundle_annotations(&b), "other")),
			    "x");

	fails_all(sizing_refused, ARRAY_SIZE(sizing_refused));
	assert_null(bundle_annotations(&b));
}

static const struct bad_case terminal_refused[] = {
	{CFG(PROC(",'terminal':'yes'")), -EINVAL, "process.terminal"},
	{CFG(PROC(",'consoleSize':{'height':65536,'width':80}")), -EINVAL,
	 "process.consoleSize.height"},
};

static void terminal(void **state)
{
	(void)state;
	assert_int_equal(parse(CFG(PROC(",'terminal':true,'consoleSize':{'height':40,'width':120}"))),
			 0);
	assert_true(b.terminal);
	assert_true(cfg.tty);
	assert_int_equal(b.rows, 40);
	assert_int_equal(b.cols, 120);
	assert_int_equal(parse(CFG(PROC(",'terminal':true"))), 0);
	assert_true(cfg.tty);
	assert_int_equal(b.rows, 0);
	assert_int_equal(b.cols, 0);
	fails_all(terminal_refused, ARRAY_SIZE(terminal_refused));
}

static const struct bad_case netns_refused[] = {
	{CFG_PROC(",'linux':{'namespaces':[{'type':'network','path':'netns/x'}]}"), -EINVAL,
	 "linux.namespaces"},
	{CFG_PROC(",'linux':{'namespaces':{}}"), -EINVAL, "linux.namespaces"},
};

static void netns(void **state)
{
	(void)state;
	assert_int_equal(parse(CFG_PROC(",'linux':{'namespaces':[{'type':'pid'}]}")), 0);
	assert_int_equal(b.netns, BUNDLE_NETNS_NONE);
	assert_int_equal(parse(CFG_PROC(",'linux':{'namespaces':[{'type':'pid'},"
					"{'type':'network'}]}")),
			 0);
	assert_int_equal(b.netns, BUNDLE_NETNS_NEW);
	assert_int_equal(parse(CFG_PROC(",'linux':{'namespaces':[{'type':'network','path':''}]}")),
			 0);
	assert_int_equal(b.netns, BUNDLE_NETNS_NEW);
	assert_int_equal(parse(CFG_PROC(",'linux':{'namespaces':[{'type':'network',"
					"'path':'/var/run/netns/cni-1'},{'type':'mount'}]}")),
			 0);
	assert_int_equal(b.netns, BUNDLE_NETNS_PATH);
	assert_string_equal(b.netns_path, "/var/run/netns/cni-1");
	fails_all(netns_refused, ARRAY_SIZE(netns_refused));
}

static const struct bad_case hooks_refused[] = {
	{CFG_PROC(",'hooks':{'createContainer':[{'path':'/x'}]}"), -ENOTSUP,
	 "createContainer"},
	{CFG_PROC(",'hooks':{'startContainer':[{'path':'/x'}]}"), -ENOTSUP,
	 "startContainer"},
	{CFG_PROC(",'hooks':{'createContainer':'x'}"), -EINVAL, "hooks.createContainer"},
	{CFG_PROC(",'hooks':{'startContainer':{}}"), -EINVAL, "hooks.startContainer"},
	{CFG_PROC(",'hooks':{'prestart':[{'path':'hook'}]}"), -EINVAL, "hooks.prestart[0]"},
	{CFG_PROC(",'hooks':{'poststart':[{'path':'/a'},{}]}"), -EINVAL,
	 "hooks.poststart[1]"},
	{CFG_PROC(",'hooks':{'poststop':[{'path':'/a','args':[1]}]}"), -EINVAL,
	 "hooks[].args[0]"},
	{CFG_PROC(",'hooks':{'poststop':[{'path':'/a','timeout':-1}]}"), -EINVAL,
	 "hooks[].timeout"},
	{CFG_PROC(",'hooks':{'prestart':{}}"), -EINVAL, "prestart"},
	{CFG_PROC(",'hooks':[]"), -EINVAL, "hooks"},
};

static void hooks(void **state)
{
	const struct bundle_hook *h;

	(void)state;
	assert_int_equal(parse(CFG_PROC(",'hooks':{"
					"'prestart':[{'path':'/usr/bin/hook','args':['hook','prestart'],"
					"'env':['A=1'],'timeout':5},{'path':'/bin/true'}],"
					"'createRuntime':[{'path':'/cr'}],"
					"'createContainer':[],"
					"'poststart':[{'path':'/ps','args':[]}],"
					"'poststop':[{'path':'/stop','args':['x'],'env':[]}]}")),
			 0);
	assert_int_equal(b.nr_hooks[BUNDLE_HOOK_PRESTART], 2);
	h = &b.hooks[BUNDLE_HOOK_PRESTART][0];
	assert_string_equal(h->path, "/usr/bin/hook");
	assert_string_equal(h->args[0], "hook");
	assert_string_equal(h->args[1], "prestart");
	assert_null(h->args[2]);
	assert_string_equal(h->env[0], "A=1");
	assert_null(h->env[1]);
	assert_int_equal(h->timeout_s, 5);
	/* args default to [path]; env to none; no timeout. */
	h = &b.hooks[BUNDLE_HOOK_PRESTART][1];
	assert_string_equal(h->path, "/bin/true");
	assert_string_equal(h->args[0], "/bin/true");
	assert_null(h->args[1]);
	assert_null(h->env[0]);
	assert_int_equal(h->timeout_s, 0);
	assert_int_equal(b.nr_hooks[BUNDLE_HOOK_CREATE_RUNTIME], 1);
	assert_string_equal(b.hooks[BUNDLE_HOOK_CREATE_RUNTIME][0].args[0], "/cr");
	assert_int_equal(b.nr_hooks[BUNDLE_HOOK_POSTSTART], 1);
	assert_string_equal(b.hooks[BUNDLE_HOOK_POSTSTART][0].args[0], "/ps");
	assert_null(b.hooks[BUNDLE_HOOK_POSTSTART][0].args[1]);
	assert_int_equal(b.nr_hooks[BUNDLE_HOOK_POSTSTOP], 1);
	h = &b.hooks[BUNDLE_HOOK_POSTSTOP][0];
	assert_string_equal(h->args[0], "x");
	assert_null(h->env[0]);
	/* Only one of the in-container kinds present, empty. */
	assert_int_equal(parse(CFG_PROC(",'hooks':{'startContainer':[]}")), 0);
	assert_int_equal(parse(CFG_PROC(",'hooks':{'createContainer':[]}")), 0);

	fails_all(hooks_refused, ARRAY_SIZE(hooks_refused));
	assert_int_equal(parse_list(CFG_OPEN(",'hooks':{'poststop':["), "{'path':'/h#'}",
				    BUNDLE_MAX_HOOKS, "]}}"),
			 0);
	assert_int_equal(b.nr_hooks[BUNDLE_HOOK_POSTSTOP], BUNDLE_MAX_HOOKS);
	assert_string_equal(b.hooks[BUNDLE_HOOK_POSTSTOP][BUNDLE_MAX_HOOKS - 1].path, "/h15");
	assert_int_equal(parse_list(CFG_OPEN(",'hooks':{'poststop':["), "{'path':'/h#'}",
				    BUNDLE_MAX_HOOKS + 1, "]}}"),
			 -E2BIG);
	check_why("hooks.poststop");
}

static const struct bad_case documents_refused[] = {
	{"{", -EINVAL, "config.json"},
	{"[]", -EINVAL, "config.json: not a JSON object"},
	{"{'ociVersion':'2.0','root':{'path':'rootfs'}," PROC("") "}", -EINVAL,
	 "ociVersion 2.0"},
	{"{'root':{'path':'rootfs'}," PROC("") "}", -EINVAL, "ociVersion (missing)"},
	{"{'ociVersion':'1.0.2','root':{'path':'rootfs'}}", -EINVAL, "no process"},
	{CFG("'process':[]"), -EINVAL, "process"},
};

static void bad_documents(void **state)
{
	(void)state;
	fails_all(documents_refused, ARRAY_SIZE(documents_refused));
}

static const struct bad_case process_refused[] = {
	{CFG("'process':{'cwd':'/'}"), -EINVAL, "process.args"},
	{CFG("'process':{'args':[],'cwd':'/'}"), -EINVAL, "process.args"},
	{CFG("'process':{'args':[''],'cwd':'/'}"), -EINVAL, "process.args"},
	{CFG("'process':{'args':['sh',1],'cwd':'/'}"), -EINVAL, "process.args[1]"},
	{CFG("'process':{'args':'sh','cwd':'/'}"), -EINVAL, "process.args"},
	{CFG(PROC(",'env':['A=1','NOEQUALS']")), -EINVAL, "process.env[1]"},
	{CFG(PROC(",'env':['=x']")), -EINVAL, "process.env[0]"},
	{CFG(PROC(",'env':[null]")), -EINVAL, "process.env[0]"},
	{CFG("'process':{'args':['sh'],'cwd':'work'}"), -EINVAL, "process.cwd"},
	{CFG("'process':{'args':['sh']}"), -EINVAL, "process.cwd"},
	{CFG(PROC(",'user':{'uid':-1,'gid':0}")), -EINVAL, "process.user.uid"},
	{CFG(PROC(",'user':{'uid':'0','gid':0}")), -EINVAL, "process.user.uid"},
	{CFG(PROC(",'user':{'uid':0,'gid':4294967295}")), -EINVAL, "process.user.gid"},
	{CFG(PROC(",'user':'root'")), -EINVAL, "process.user"},
	{CFG(PROC(",'user':{'additionalGids':['1']}")), -EINVAL,
	 "process.user.additionalGids[0]"},
	{CFG(PROC(",'user':{'additionalGids':[1,-1]}")), -EINVAL,
	 "process.user.additionalGids[1]"},
	{CFG(PROC(",'user':{'additionalGids':[4294967295]}")), -EINVAL,
	 "process.user.additionalGids[0]"},
	{CFG(PROC(",'user':{'additionalGids':1}")), -EINVAL, "process.user.additionalGids"},
	{CFG(PROC(",'rlimits':[{'type':'NOFILE','soft':1,'hard':1}]")), -EINVAL,
	 "process.rlimits[0]"},
	{CFG(PROC(",'rlimits':[{'type':'RLIMIT_','soft':1,'hard':1}]")), -EINVAL,
	 "process.rlimits[0]"},
	{CFG(PROC(",'rlimits':[{'soft':1,'hard':1}]")), -EINVAL, "process.rlimits[0]"},
	{CFG(PROC(",'rlimits':[{'type':'RLIMIT_NOFILE','soft':'1','hard':1}]")), -EINVAL,
	 "process.rlimits[].soft"},
	{CFG(PROC(",'rlimits':{}")), -EINVAL, "process.rlimits"},
	{CFG(PROC(",'noNewPrivileges':1")), -EINVAL, "process.noNewPrivileges"},
};

static void bad_process(void **state)
{
	(void)state;
	fails_all(process_refused, ARRAY_SIZE(process_refused));
}

static const struct bad_case root_refused[] = {
	{"{'ociVersion':'1.0.2'," PROC("") "}", -EINVAL, "root.path"},
	{"{'ociVersion':'1.0.2','root':{}," PROC("") "}", -EINVAL, "root.path"},
	{"{'ociVersion':'1.0.2','root':{'path':'nope'}," PROC("") "}", -ENOENT,
	 "root.path nope"},
	{"{'ociVersion':'1.0.2','root':{'path':'@/nope'}," PROC("") "}", -ENOENT,
	 "root.path"},
	{"{'ociVersion':'1.0.2','root':{'path':'afile'}," PROC("") "}", -ENOTDIR,
	 "root.path afile"},
	{"{'ociVersion':'1.0.2','root':'rootfs'," PROC("") "}", -EINVAL, "root"},
	{"{'ociVersion':'1.0.2','root':{'path':'rootfs','readonly':1}," PROC("") "}",
	 -EINVAL, "root.readonly"},
};

static void bad_root(void **state)
{
	(void)state;
	fails_all(root_refused, ARRAY_SIZE(root_refused));
}

static const struct bad_case mounts_refused[] = {
	{CFG_PROC(",'mounts':{}"), -EINVAL, "mounts"},
	{CFG_PROC(",'mounts':[{'type':'tmpfs'}]"), -EINVAL, "mounts[0]"},
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'tmpfs'},"
	 "{'destination':'tmp','type':'tmpfs'}]"),
	 -EINVAL, "mounts[1]: needs an absolute destination"},
	{CFG_PROC(",'mounts':[1]"), -EINVAL, "mounts[0]"},
	{CFG_PROC(",'mounts':[{'destination':'/a'}]"), -EINVAL, "mounts[0]: needs a type"},
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'bind','options':['rbind']}]"),
	 -EINVAL, "mounts[0]: bind mount without a source"},
	{CFG_PROC(",'mounts':[" BIND("/a", "data", "'rbind'") "]"), -EINVAL,
	 "mounts[0]: bind source data is not absolute"},
	{CFG_PROC(",'mounts':[" BIND("/a", "@/nope", "'rbind'") "]"), -ENOENT,
	 "mounts[0]: @/nope: "},
	{CFG_PROC(",'mounts':[" BIND("/null", "/dev/null", "'rbind'") "]"), -EINVAL,
	 "only directories and regular files"},
	{CFG_PROC(",'mounts':[{'destination':'/a\\u001fb','type':'tmpfs'}]"), -EINVAL,
	 "mounts[0]: bad character"},
	{CFG_PROC(",'mounts':[" BIND("/a", "@/data\\u001f", "'rbind'") "]"), -EINVAL,
	 "mounts[0]: bad character"},
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'tmp\\u001ffs'}]"), -EINVAL,
	 "mounts[0]: needs a type"},
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'tmpfs',"
	 "'options':['size=1\\u001f']}]"),
	 -EINVAL, "mounts[0].options"},
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'tmpfs','options':['ro',1]}]"),
	 -EINVAL, "mounts[0].options"},
	/* After some data (which must not leak). */
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'tmpfs',"
	 "'options':['mode=1777','size=1\\u001f']}]"),
	 -EINVAL, "mounts[0].options: bad option"},
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'tmpfs','options':['size=1',1]}]"),
	 -EINVAL, "mounts[0].options: must be strings"},
	{CFG_PROC(",'mounts':[{'destination':'/a','type':'tmpfs','options':'ro'}]"),
	 -EINVAL, "mounts[].options"},
	{CFG_PROC(",'hostname':1"), -EINVAL, "hostname"},
};

static void bad_mounts(void **state)
{
	(void)state;
	fails_all(mounts_refused, ARRAY_SIZE(mounts_refused));
}

static void write_config(const char *bundle, const char *tmpl)
{
	char p[PATH_MAX + 80], *json = expand(tmpl);
	FILE *f;

	snprintf(p, sizeof(p), "%s/config.json", bundle);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(json, f);
	assert_int_equal(fclose(f), 0);
	free(json);
}

static int load(const char *bundle)
{
	bundle_free(&b);
	memset(&b, 0, sizeof(b));
	config_defaults(&cfg);
	why[0] = '\0';
	return bundle_load(&b, bundle, &cfg, why, sizeof(why));
}

static void load_files(void **state)
{
	char d[PATH_MAX + 64], cwd[PATH_MAX], p[PATH_MAX + 80];
	int fd;

	(void)state;
	snprintf(d, sizeof(d), "%s", path_in("loadme"));
	make_dir("loadme");
	make_dir("loadme/rootfs");
	/* No config.json: the error names the file. */
	assert_int_equal(load(d), -ENOENT);
	check_why(d);
	check_why("config.json");
	assert_int_equal(load(path_in("missing")), -ENOENT);
	check_why("missing");

	/* Relative bundle: made absolute; root.path relative to it. */
	write_config(d, CFG_PROC(",'hostname':'h'"));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(load("loadme"), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(b.dir, d);
	assert_string_equal(cfg.rootfs_dir, path_in("loadme/rootfs"));
	assert_string_equal(cfg.hostname, "h");

	/* config.json opened O_NOFOLLOW. */
	snprintf(p, sizeof(p), "%s/config.json", d);
	assert_int_equal(rename(p, path_in("loadme/real.json")), 0);
	assert_int_equal(symlink("real.json", p), 0);
	assert_int_equal(load(d), -ELOOP);
	check_why("config.json");
	assert_int_equal(unlink(p), 0);

	/* Larger than BUNDLE_CONFIG_MAX: refused before reading. */
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, BUNDLE_CONFIG_MAX + 1), 0);
	close(fd);
	assert_int_equal(load(d), -EFBIG);
	check_why("larger than");
	/* A directory is not a config file. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_true(load(d) < 0);
	check_why("config.json");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(docker_like),
		cmocka_unit_test(root_path),
		cmocka_unit_test(shares),
		cmocka_unit_test(fs_mounts),
		cmocka_unit_test(sizing),
		cmocka_unit_test(terminal),
		cmocka_unit_test(netns),
		cmocka_unit_test(hooks),
		cmocka_unit_test(bad_documents),
		cmocka_unit_test(bad_process),
		cmocka_unit_test(bad_root),
		cmocka_unit_test(bad_mounts),
		cmocka_unit_test(load_files),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
