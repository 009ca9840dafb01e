/* SPDX-License-Identifier: MIT */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/layout.h"
#include "log.h"
#include "oci.h"
#include "store.h"

/* Keep `p` until bundle_free; NULL (out of memory) stays NULL. */
static void *own(struct bundle *b, void *p)
{
	if (!p)
		return NULL;
	if (b->nr_owned == b->cap_owned) {
		size_t cap = b->cap_owned ? b->cap_owned * 2 : 32;
		void **n = realloc(b->owned, cap * sizeof(*n));

		if (!n) {
			free(p);
			return NULL;
		}
		b->owned = n;
		b->cap_owned = cap;
	}
	b->owned[b->nr_owned++] = p;
	return p;
}

static char *own_printf(struct bundle *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static char *own_printf(struct bundle *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return own(b, s);
}

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* A member that must have type t when present (NULL when absent or null). */
static int typed(struct json_object *o, const char *key, enum json_type t, const char *name,
		 struct json_object **out, char *why, size_t why_len)
{
	struct json_object *v = member(o, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, t))
		return why_fail(why, why_len, -EINVAL, "config.json: %s: must be %s", name,
				json_type_to_name(t));
	*out = v;
	return 0;
}

/* An array of strings as a NULL-terminated vector (owned by b). */
static int str_vector(struct bundle *b, struct json_object *arr, const char *name, char ***out,
		      char *why, size_t why_len)
{
	size_t n = arr ? json_object_array_length(arr) : 0;
	char **v = own(b, calloc(n + 1, sizeof(*v)));

	if (!v)
		return why_fail(why, why_len, -ENOMEM, "config.json: out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_string))
			return why_fail(why, why_len, -EINVAL,
					"config.json: %s[%zu]: must be a string", name, i);
		v[i] = (char *)json_object_get_string(e);
	}
	*out = v;
	return 0;
}

/* A whole number member in [0, max]; absent leaves *out alone. */
static int get_uint(struct json_object *o, const char *key, uint64_t max, const char *name,
		    uint64_t *out, bool *present, char *why, size_t why_len)
{
	struct json_object *v = member(o, key);
	int64_t x;

	if (present)
		*present = false;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return why_fail(why, why_len, -EINVAL, "config.json: %s: must be a number", name);
	errno = 0;
	x = json_object_get_int64(v);
	/* json-c saturates; a uint64 above INT64_MAX reads as INT64_MAX. */
	if (x < 0 || (uint64_t)x > max)
		return why_fail(why, why_len, -EINVAL, "config.json: %s: out of range", name);
	*out = (uint64_t)x;
	if (present)
		*present = true;
	return 0;
}

static int parse_user(struct bundle *b, struct json_object *proc, struct vm_config *cfg,
		      char *why, size_t why_len)
{
	struct json_object *user, *gids;
	uint64_t uid = 0, gid = 0;
	int ret;

	if ((ret = typed(proc, "user", json_type_object, "process.user", &user, why, why_len)))
		return ret;
	if (!user)
		return 0;
	if ((ret = get_uint(user, "uid", UINT32_MAX - 1, "process.user.uid", &uid, NULL, why,
			    why_len)) ||
	    (ret = get_uint(user, "gid", UINT32_MAX - 1, "process.user.gid", &gid, NULL, why,
			    why_len)))
		return ret;
	cfg->user = own_printf(b, "%llu:%llu", (unsigned long long)uid,
			       (unsigned long long)gid);
	if (!cfg->user)
		return why_fail(why, why_len, -ENOMEM, "config.json: out of memory");
	if ((ret = typed(user, "additionalGids", json_type_array, "process.user.additionalGids",
			 &gids, why, why_len)))
		return ret;
	/* runc sets exactly these groups (none when absent). */
	cfg->groups_set = true;
	cfg->nr_groups = 0;
	for (size_t i = 0; gids && i < json_object_array_length(gids); i++) {
		struct json_object *e = json_object_array_get_idx(gids, i);
		int64_t g = json_object_get_int64(e);

		if (!json_object_is_type(e, json_type_int) || g < 0 || g >= UINT32_MAX)
			return why_fail(why, why_len, -EINVAL,
					"config.json: process.user.additionalGids[%zu]: "
					"not a group id", i);
		if (cfg->nr_groups == CONFIG_MAX_GROUPS)
			return why_fail(why, why_len, -E2BIG,
					"config.json: process.user.additionalGids: more than %u",
					CONFIG_MAX_GROUPS);
		cfg->groups[cfg->nr_groups++] = (unsigned int)g;
	}
	return 0;
}

/* "RLIMIT_NOFILE" with soft and hard -> "nofile=SOFT:HARD" (guest-init's
 * rlimit.c takes these names and "unlimited"). */
static int parse_rlimits(struct bundle *b, struct json_object *proc, struct vm_config *cfg,
			 char *why, size_t why_len)
{
	struct json_object *arr;
	int ret;

	if ((ret = typed(proc, "rlimits", json_type_array, "process.rlimits", &arr, why,
			 why_len)))
		return ret;
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *type = json_object_get_string(member(e, "type"));
		uint64_t v[2] = {0, 0};
		char num[2][24], *name;

		if (!json_object_is_type(e, json_type_object) || !type ||
		    strncmp(type, "RLIMIT_", 7) != 0 || !type[7])
			return why_fail(why, why_len, -EINVAL,
					"config.json: process.rlimits[%zu]: needs a type "
					"RLIMIT_*", i);
		if ((ret = get_uint(e, "soft", UINT64_MAX, "process.rlimits[].soft", &v[0], NULL,
				    why, why_len)) ||
		    (ret = get_uint(e, "hard", UINT64_MAX, "process.rlimits[].hard", &v[1], NULL,
				    why, why_len)))
			return ret;
		if (cfg->nrlimits == CONFIG_MAX_RLIMITS)
			return why_fail(why, why_len, -E2BIG,
					"config.json: process.rlimits: more than %u",
					CONFIG_MAX_RLIMITS);
		for (int k = 0; k < 2; k++) {
			/* json-c reads RLIM_INFINITY (2^64-1) as INT64_MAX. */
			if (v[k] >= (uint64_t)INT64_MAX)
				snprintf(num[k], sizeof(num[k]), "unlimited");
			else
				snprintf(num[k], sizeof(num[k]), "%llu", (unsigned long long)v[k]);
		}
		name = own_printf(b, "%s=%s:%s", type + 7, num[0], num[1]);
		if (!name)
			return why_fail(why, why_len, -ENOMEM, "config.json: out of memory");
		for (char *p = name; *p != '='; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		cfg->rlimits[cfg->nrlimits++] = name;
	}
	return 0;
}

static int parse_process(struct bundle *b, struct json_object *doc, struct vm_config *cfg,
			 char *why, size_t why_len)
{
	struct json_object *proc, *arr, *v, *size;
	char **args, **env;
	const char *cwd;
	size_t n;
	int ret;

	if ((ret = typed(doc, "process", json_type_object, "process", &proc, why, why_len)))
		return ret;
	if (!proc)
		return why_fail(why, why_len, -EINVAL, "config.json: no process to run");
	if ((ret = typed(proc, "args", json_type_array, "process.args", &arr, why, why_len)) ||
	    (ret = str_vector(b, arr, "process.args", &args, why, why_len)))
		return ret;
	if (!args[0] || !*args[0])
		return why_fail(why, why_len, -EINVAL, "config.json: process.args is empty");
	for (n = 0; args[n]; n++)
		;
	cfg->argv = args;
	cfg->argc = (int)n;
	cfg->cmd_given = true;

	if ((ret = typed(proc, "env", json_type_array, "process.env", &arr, why, why_len)) ||
	    (ret = str_vector(b, arr, "process.env", &env, why, why_len)))
		return ret;
	cfg->nenv = 0;
	for (size_t i = 0; env[i]; i++) {
		if (!strchr(env[i], '=') || env[i][0] == '=')
			return why_fail(why, why_len, -EINVAL,
					"config.json: process.env[%zu]: not KEY=VALUE", i);
		if (cfg->nenv == CONFIG_MAX_ENV)
			return why_fail(why, why_len, -E2BIG,
					"config.json: process.env: more than %u entries",
					CONFIG_MAX_ENV);
		cfg->env[cfg->nenv++] = env[i];
	}

	if ((ret = typed(proc, "cwd", json_type_string, "process.cwd", &v, why, why_len)))
		return ret;
	cwd = v ? json_object_get_string(v) : NULL;
	if (!cwd || cwd[0] != '/')
		return why_fail(why, why_len, -EINVAL,
				"config.json: process.cwd: must be an absolute path");
	cfg->cwd = cwd;
	cfg->cwd_set = true;

	if ((ret = typed(proc, "terminal", json_type_boolean, "process.terminal", &v, why,
			 why_len)))
		return ret;
	b->terminal = v && json_object_get_boolean(v);
	cfg->tty = b->terminal;
	/* stdin is whatever the engine gave us: a pipe for -i, else /dev/null,
	 * which reads as EOF at once, as under runc. */
	cfg->interactive = true;
	if ((ret = typed(proc, "consoleSize", json_type_object, "process.consoleSize", &size,
			 why, why_len)))
		return ret;
	if (size) {
		uint64_t h = 0, w = 0;

		if ((ret = get_uint(size, "height", UINT16_MAX, "process.consoleSize.height", &h,
				    NULL, why, why_len)) ||
		    (ret = get_uint(size, "width", UINT16_MAX, "process.consoleSize.width", &w,
				    NULL, why, why_len)))
			return ret;
		b->rows = (unsigned short)h;
		b->cols = (unsigned short)w;
	}
	if ((ret = typed(proc, "noNewPrivileges", json_type_boolean, "process.noNewPrivileges",
			 &v, why, why_len)))
		return ret;
	cfg->no_new_privs = v && json_object_get_boolean(v);
	if ((ret = parse_user(b, proc, cfg, why, why_len)))
		return ret;
	return parse_rlimits(b, proc, cfg, why, why_len);
}

/* Bind and propagation words: the share is always a bind, and the guest
 * has none of the engine's mount namespaces to propagate to. */
static const char *const bind_words[] = {
	"bind",   "rbind",   "private", "rprivate",   "shared",      "rshared", "slave",
	"rslave", "unbindable", "runbindable", "z", "Z",
};

/* Options -> flags, data (the options that are not flags, comma-joined;
 * NULL when none) and whether it is a bind mount. */
static int mount_options(struct bundle *b, struct json_object *opts, size_t idx,
			 unsigned long *flags, const char **data, bool *bind, char *why,
			 size_t why_len)
{
	size_t n = opts ? json_object_array_length(opts) : 0, len = 0;
	char *d = NULL;

	*flags = 0;
	*bind = false;
	*data = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
		bool known = false;

		if (!json_object_is_type(json_object_array_get_idx(opts, i), json_type_string)) {
			free(d); /* the data so far is not owned yet */
			return why_fail(why, why_len, -EINVAL,
					"config.json: mounts[%zu].options: must be strings", idx);
		}
		if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0)
			*bind = true;
		known = config_mount_flag(o, strlen(o), flags);
		for (size_t k = 0; k < ARRAY_SIZE(bind_words) && !known; k++)
			known = strcmp(o, bind_words[k]) == 0;
		if (known || !*o)
			continue;
		if (strchr(o, '\x1f')) {
			free(d);
			return why_fail(why, why_len, -EINVAL,
					"config.json: mounts[%zu].options: bad option", idx);
		}
		{
			size_t l = strlen(o);
			char *nd = realloc(d, len + l + 2);

			if (!nd) {
				free(d);
				return why_fail(why, why_len, -ENOMEM, "config.json: out of memory");
			}
			d = nd;
			if (len)
				d[len++] = ',';
			memcpy(d + len, o, l + 1);
			len += l;
		}
	}
	if (d && !own(b, d))
		return why_fail(why, why_len, -ENOMEM, "config.json: out of memory");
	*data = d;
	return 0;
}

/* The share for host directory `dir` (read-only or not), created when new;
 * with `name`, one more visible entry of it. Returns its index or -errno. */
static int share_for(struct vm_config *cfg, const char *dir, bool ro, const char *name,
		     char *why, size_t why_len)
{
	unsigned int i;

	for (i = 0; i < cfg->nr_volumes; i++) {
		struct vm_volume *v = &cfg->volumes[i];

		/* A whole-directory share serves names too; a filtered one can
		 * only be reused for more names. */
		if (v->guest || strcmp(v->host, dir) != 0 || v->read_only != ro ||
		    (!name && v->nr_names))
			continue;
		if (!name || !v->nr_names)
			return (int)i;
		for (unsigned int k = 0; k < v->nr_names; k++)
			if (strcmp(v->names[k], name) == 0)
				return (int)i;
		if (v->nr_names < CONFIG_MAX_SHARE_NAMES) {
			v->names[v->nr_names++] = name;
			return (int)i;
		}
	}
	if (cfg->nr_volumes == CONFIG_MAX_VOLUMES)
		return why_fail(why, why_len, -E2BIG,
				"config.json: mounts: bind mounts from more than %u host "
				"directories (each is a virtio-fs device)",
				CONFIG_MAX_VOLUMES);
	cfg->volumes[i] = (struct vm_volume){.host = dir, .read_only = ro};
	if (name)
		cfg->volumes[i].names[cfg->volumes[i].nr_names++] = name;
	cfg->nr_volumes++;
	return (int)i;
}

/* A bind mount: share the directory, or the file through its parent. */
static int add_bind(struct bundle *b, struct vm_config *cfg, size_t idx, const char *src,
		    const char *dest, unsigned long flags, char *why, size_t why_len)
{
	struct vm_mount *m = &cfg->mounts[cfg->nr_mounts];
	bool ro = flags & MS_RDONLY;
	char real[PATH_MAX], *dir, *slash;
	struct stat st;
	int share;

	if (src[0] != '/')
		return why_fail(why, why_len, -EINVAL,
				"config.json: mounts[%zu]: bind source %s is not absolute", idx,
				src);
	if (!realpath(src, real) || stat(real, &st) < 0)
		return why_fail(why, why_len, -errno, "config.json: mounts[%zu]: %s: %s", idx,
				src, strerror(errno));
	dir = own(b, strdup(real));
	if (!dir)
		return why_fail(why, why_len, -ENOMEM, "config.json: out of memory");
	if (S_ISDIR(st.st_mode)) {
		share = share_for(cfg, dir, ro, NULL, why, why_len);
		*m = (struct vm_mount){.kind = VM_MOUNT_SHARE, .subpath = ""};
	} else if (S_ISREG(st.st_mode)) {
		slash = strrchr(dir, '/');
		*slash = '\0';
		share = share_for(cfg, slash == dir ? "/" : dir, ro, slash + 1, why, why_len);
		*m = (struct vm_mount){.kind = VM_MOUNT_SHARE, .subpath = slash + 1};
	} else {
		return why_fail(why, why_len, -EINVAL,
				"config.json: mounts[%zu]: %s: only directories and regular "
				"files can be shared with the VM",
				idx, src);
	}
	if (share < 0)
		return share;
	m->share = (unsigned int)share;
	m->flags = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	m->dest = dest;
	cfg->nr_mounts++;
	return 0;
}

/* Mounts guest-init makes itself, whatever config.json says. */
static bool made_by_init(const char *type, const char *dest)
{
	static const struct {
		const char *type, *dest;
	} skip[] = {
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"tmpfs", "/dev"}, {"devpts", "/dev/pts"},
	};

	if (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
		if (strcmp(type, skip[i].type) == 0 && strcmp(dest, skip[i].dest) == 0)
			return true;
	return false;
}

static int parse_mounts(struct bundle *b, struct json_object *doc, struct vm_config *cfg,
			char *why, size_t why_len)
{
	struct json_object *arr;
	int ret;

	if ((ret = typed(doc, "mounts", json_type_array, "mounts", &arr, why, why_len)))
		return ret;
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *opts;
		const char *dest = json_object_get_string(member(e, "destination"));
		const char *type = json_object_get_string(member(e, "type"));
		const char *src = json_object_get_string(member(e, "source"));
		unsigned long flags;
		const char *data;
		bool bind;

		if (!json_object_is_type(e, json_type_object) || !dest || dest[0] != '/')
			return why_fail(why, why_len, -EINVAL,
					"config.json: mounts[%zu]: needs an absolute destination",
					i);
		if (strchr(dest, '\x1f') || (src && strchr(src, '\x1f')))
			return why_fail(why, why_len, -EINVAL,
					"config.json: mounts[%zu]: bad character in a path", i);
		if ((ret = typed(e, "options", json_type_array, "mounts[].options", &opts, why,
				 why_len)) ||
		    (ret = mount_options(b, opts, i, &flags, &data, &bind, why, why_len)))
			return ret;
		if (!type || !*type)
			type = bind ? "bind" : "";
		if (strcmp(type, "bind") == 0)
			bind = true;
		if (!bind && made_by_init(type, dest))
			continue;
		if (cfg->nr_mounts == CONFIG_MAX_MOUNTS)
			return why_fail(why, why_len, -E2BIG,
					"config.json: mounts: more than %u", CONFIG_MAX_MOUNTS);
		if (bind) {
			if (!src)
				return why_fail(why, why_len, -EINVAL,
						"config.json: mounts[%zu]: bind mount without a "
						"source", i);
			if ((ret = add_bind(b, cfg, i, src, dest, flags, why, why_len)))
				return ret;
			continue;
		}
		if (!*type || strchr(type, '\x1f'))
			return why_fail(why, why_len, -EINVAL,
					"config.json: mounts[%zu]: needs a type", i);
		cfg->mounts[cfg->nr_mounts++] = (struct vm_mount){
			.kind = VM_MOUNT_FS, .fstype = type, .data = data, .flags = flags,
			.dest = dest};
	}
	return 0;
}

static int parse_root(struct bundle *b, struct json_object *doc, struct vm_config *cfg,
		      char *why, size_t why_len)
{
	struct json_object *root, *ro;
	const char *path;
	char joined[PATH_MAX * 2];
	struct stat st;
	int ret;

	if ((ret = typed(doc, "root", json_type_object, "root", &root, why, why_len)))
		return ret;
	path = json_object_get_string(member(root, "path"));
	if (!root || !path || !*path)
		return why_fail(why, why_len, -EINVAL, "config.json: root.path is missing");
	if (path[0] == '/')
		snprintf(joined, sizeof(joined), "%s", path);
	else
		snprintf(joined, sizeof(joined), "%s/%s", b->dir, path);
	if (!realpath(joined, b->rootfs) || stat(b->rootfs, &st) < 0)
		return why_fail(why, why_len, -errno, "config.json: root.path %s: %s", path,
				strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return why_fail(why, why_len, -ENOTDIR,
				"config.json: root.path %s: not a directory", path);
	cfg->rootfs_dir = b->rootfs;
	if ((ret = typed(root, "readonly", json_type_boolean, "root.readonly", &ro, why,
			 why_len)))
		return ret;
	if (ro && json_object_get_boolean(ro))
		cfg->rootfs_ro = true;
	else
		cfg->rootfs_rw = true;
	return 0;
}

static int parse_hooks(struct bundle *b, struct json_object *doc, char *why, size_t why_len)
{
	static const char *const kinds[] = {"prestart", "createRuntime", "poststart",
					    "poststop"};
	struct json_object *hooks, *arr, *cc, *sc;
	int ret;

	if ((ret = typed(doc, "hooks", json_type_object, "hooks", &hooks, why, why_len)))
		return ret;
	if (!hooks)
		return 0;
	/* json_object_array_length asserts that it is given an array, not NULL. */
	if ((ret = typed(hooks, "createContainer", json_type_array, "hooks.createContainer",
			 &cc, why, why_len)) ||
	    (ret = typed(hooks, "startContainer", json_type_array, "hooks.startContainer", &sc,
			 why, why_len)))
		return ret;
	if ((cc && json_object_array_length(cc)) || (sc && json_object_array_length(sc)))
		return why_fail(why, why_len, -ENOTSUP,
				"config.json: hooks: createContainer and startContainer "
				"hooks would run inside the VM; cocoon cannot run them");
	for (int k = 0; k < BUNDLE_NR_HOOK_KINDS; k++) {
		if ((ret = typed(hooks, kinds[k], json_type_array, kinds[k], &arr, why, why_len)))
			return ret;
		for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
			struct json_object *h = json_object_array_get_idx(arr, i), *a, *e;
			struct bundle_hook *hk = &b->hooks[k][b->nr_hooks[k]];
			uint64_t t = 0;

			if (b->nr_hooks[k] == BUNDLE_MAX_HOOKS)
				return why_fail(why, why_len, -E2BIG,
						"config.json: hooks.%s: more than %u", kinds[k],
						BUNDLE_MAX_HOOKS);
			hk->path = json_object_get_string(member(h, "path"));
			if (!json_object_is_type(h, json_type_object) || !hk->path ||
			    hk->path[0] != '/')
				return why_fail(why, why_len, -EINVAL,
						"config.json: hooks.%s[%zu]: needs an absolute path",
						kinds[k], i);
			if ((ret = typed(h, "args", json_type_array, "hooks[].args", &a, why,
					 why_len)) ||
			    (ret = str_vector(b, a, "hooks[].args", &hk->args, why, why_len)) ||
			    (ret = typed(h, "env", json_type_array, "hooks[].env", &e, why,
					 why_len)) ||
			    (ret = str_vector(b, e, "hooks[].env", &hk->env, why, why_len)) ||
			    (ret = get_uint(h, "timeout", 86400, "hooks[].timeout", &t, NULL, why,
					    why_len)))
				return ret;
			if (!hk->args[0]) {
				/* argv[0] defaults to the path, as execv callers expect. */
				char **v = own(b, calloc(2, sizeof(*v)));

				if (!v)
					return why_fail(why, why_len, -ENOMEM,
							"config.json: out of memory");
				v[0] = (char *)hk->path;
				hk->args = v;
			}
			hk->timeout_s = (unsigned int)t;
			b->nr_hooks[k]++;
		}
	}
	return 0;
}

static bool is_minus_one(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key);

	return v && json_object_is_type(v, json_type_int) && json_object_get_int64(v) == -1;
}

/* Network namespace, memory and vCPUs. */
static int parse_linux(struct bundle *b, struct json_object *doc, struct vm_config *cfg,
		       char *why, size_t why_len)
{
	struct json_object *lx, *ns, *res, *ann, *v;
	uint64_t limit = 0, quota = 0, period = 0;
	bool has_limit = false, has_quota = false;
	int ret;

	if ((ret = typed(doc, "linux", json_type_object, "linux", &lx, why, why_len)) ||
	    (ret = typed(lx, "namespaces", json_type_array, "linux.namespaces", &ns, why,
			 why_len)))
		return ret;
	b->netns = BUNDLE_NETNS_NONE;
	for (size_t i = 0; ns && i < json_object_array_length(ns); i++) {
		struct json_object *e = json_object_array_get_idx(ns, i);
		const char *type = json_object_get_string(member(e, "type"));
		const char *path = json_object_get_string(member(e, "path"));

		if (!type || strcmp(type, "network") != 0)
			continue;
		if (path && *path) {
			if (path[0] != '/')
				return why_fail(why, why_len, -EINVAL,
						"config.json: linux.namespaces: network path %s is "
						"not absolute", path);
			b->netns = BUNDLE_NETNS_PATH;
			b->netns_path = path;
		} else {
			b->netns = BUNDLE_NETNS_NEW;
		}
	}

	b->cgroups_path = json_object_get_string(member(lx, "cgroupsPath"));
	if (b->cgroups_path && (!*b->cgroups_path || strstr(b->cgroups_path, "..")))
		b->cgroups_path = NULL;
	if ((ret = typed(lx, "resources", json_type_object, "linux.resources", &res, why,
			 why_len)))
		return ret;
	/* -1 is the kernel's "unlimited" (memory.max, cpu.max): no limit. */
	if ((!is_minus_one(member(res, "memory"), "limit") &&
	     (ret = get_uint(member(res, "memory"), "limit", INT64_MAX,
			     "linux.resources.memory.limit", &limit, &has_limit, why, why_len))) ||
	    (!is_minus_one(member(res, "cpu"), "quota") &&
	     (ret = get_uint(member(res, "cpu"), "quota", INT64_MAX, "linux.resources.cpu.quota",
			     &quota, &has_quota, why, why_len))) ||
	    (ret = get_uint(member(res, "cpu"), "period", INT64_MAX,
			    "linux.resources.cpu.period", &period, NULL, why, why_len)))
		return ret;
	if (has_limit && limit > 0)
		cfg->mem_size = ALIGN_DOWN(limit, MiB);
	if (has_quota && quota > 0) {
		uint64_t p = period ? period : 100000; /* the kernel's default period */
		uint64_t n = (quota + p - 1) / p;

		cfg->cpus = n > CONFIG_MAX_CPUS ? CONFIG_MAX_CPUS : (unsigned int)n;
	}

	/* Annotations win: they are cocoon's own knobs. */
	if ((ret = typed(doc, "annotations", json_type_object, "annotations", &ann, why,
			 why_len)))
		return ret;
	if ((v = member(ann, BUNDLE_ANN_MEMORY))) {
		uint64_t size;

		if (!json_object_is_type(v, json_type_string) ||
		    config_parse_size(json_object_get_string(v), &size))
			return why_fail(why, why_len, -EINVAL,
					"config.json: annotation " BUNDLE_ANN_MEMORY
					": not a size (e.g. 512M)");
		cfg->mem_size = ALIGN_DOWN(size, MiB);
	}
	if ((v = member(ann, BUNDLE_ANN_CPUS))) {
		unsigned long n;

		if (!json_object_is_type(v, json_type_string) ||
		    config_parse_uint(json_object_get_string(v), 1, CONFIG_MAX_CPUS, &n))
			return why_fail(why, why_len, -EINVAL,
					"config.json: annotation " BUNDLE_ANN_CPUS
					": must be 1 to %u",
					CONFIG_MAX_CPUS);
		cfg->cpus = (unsigned int)n;
	}
	if (cfg->mem_size < BUNDLE_MIN_MEM || cfg->mem_size > LAYOUT_MEM_MAX)
		return why_fail(why, why_len, -EINVAL,
				"config.json: the VM's memory (%lluM, from the memory limit or "
				BUNDLE_ANN_MEMORY ") must be between %lluM and %lluG",
				(unsigned long long)(cfg->mem_size >> 20), BUNDLE_MIN_MEM >> 20,
				LAYOUT_MEM_MAX >> 30);
	return 0;
}

int bundle_parse(struct bundle *b, const char *dir, const char *json, size_t len,
		 struct vm_config *cfg, char *why, size_t why_len)
{
	struct json_object *v;
	const char *ver;
	int ret;

	if (snprintf(b->dir, sizeof(b->dir), "%s", dir) >= (int)sizeof(b->dir))
		return why_fail(why, why_len, -ENAMETOOLONG, "bundle path too long");
	b->doc = oci_parse_json_object(json, len, "config.json", why, why_len);
	if (!b->doc)
		return -EINVAL;
	ver = json_object_get_string(member(b->doc, "ociVersion"));
	if (!ver || strncmp(ver, "1.", 2) != 0)
		return why_fail(why, why_len, -EINVAL,
				"config.json: ociVersion %s: cocoon runs 1.x bundles",
				ver ? ver : "(missing)");
	if ((ret = parse_process(b, b->doc, cfg, why, why_len)) ||
	    (ret = parse_root(b, b->doc, cfg, why, why_len)) ||
	    (ret = parse_mounts(b, b->doc, cfg, why, why_len)) ||
	    (ret = parse_hooks(b, b->doc, why, why_len)) ||
	    (ret = parse_linux(b, b->doc, cfg, why, why_len)))
		return ret;
	if ((ret = typed(b->doc, "hostname", json_type_string, "hostname", &v, why, why_len)))
		return ret;
	if (v && *json_object_get_string(v))
		cfg->hostname = json_object_get_string(v);
	/* The engine bind-mounts /etc/hosts, hostname and resolv.conf itself;
	 * runc never writes into the root. */
	cfg->etc_files = false;
	/* Engines stop containers with SIGTERM, then SIGKILL on their own
	 * clock: every signal goes to the workload, none stops the VM. */
	cfg->signal_passthrough = true;
	return 0;
}

int bundle_load(struct bundle *b, const char *dir, struct vm_config *cfg, char *why,
		size_t why_len)
{
	char abs[PATH_MAX];
	char *json;
	size_t len;
	int ret;

	if (!realpath(dir, abs))
		return why_fail(why, why_len, -errno, "bundle %s: %s", dir, strerror(errno));
	{
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/config.json", abs);
		ret = store_read_file(AT_FDCWD, path, BUNDLE_CONFIG_MAX, &json, &len);
	}
	if (ret == -EFBIG)
		return why_fail(why, why_len, ret, "%s/config.json: larger than %u bytes", abs,
				BUNDLE_CONFIG_MAX);
	if (ret)
		return why_fail(why, why_len, ret, "%s/config.json: %s", abs, strerror(-ret));
	ret = bundle_parse(b, abs, json, len, cfg, why, why_len);
	free(json);
	return ret;
}

struct json_object *bundle_annotations(const struct bundle *b)
{
	return member(b->doc, "annotations");
}

void bundle_free(struct bundle *b)
{
	for (size_t i = 0; i < b->nr_owned; i++)
		free(b->owned[i]);
	free(b->owned);
	b->owned = NULL;
	b->nr_owned = b->cap_owned = 0;
	json_object_put(b->doc);
	b->doc = NULL;
}
