/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "store.h"

#define EXIT_FAILED 125

extern char **environ;


void image_run_free(struct image_run *r)
{
	oci_config_free(&r->config);
	free(r->argv);
	r->argv = NULL;
}

/* Could `arg` only be an image name (then not finding it is an error)? */
static bool looks_like_image(const char *arg)
{
	return strchr(arg, ':') || strchr(arg, '/');
}

int image_prepare_run(struct vm_config *cfg, struct image_run *r, char *why, size_t why_len)
{
	struct store s;
	char digest[DIGEST_STR_LEN + 1], path[PATH_MAX];
	const char *name, *user_env[CONFIG_MAX_ENV];
	char *buf;
	size_t len, nuser = 0;
	int cli_argc, ret, argc;
	char **cli_argv;

	memset(r, 0, sizeof(*r));
	if (cfg->rootfs || cfg->rootfs_dir || cfg->dashdash || !cfg->cmd_given || cfg->argc < 1) {
		if (cfg->entrypoint)
			return why_fail(why, why_len, -EINVAL,
				    "--entrypoint: needs an image (cocoon run --entrypoint CMD NAME)");
		return 0;
	}
	name = cfg->argv[0];
	if (name[0] == '/' || name[0] == '.' || name[0] == '\0')
		return 0;
	store_init(&s);
	ret = store_lookup(&s, name, digest);
	/* A store that cannot be read must not stop plain commands. */
	if (ret && !looks_like_image(name)) {
		if (cfg->entrypoint)
			return why_fail(why, why_len, -EINVAL,
				    "--entrypoint: needs an image (cocoon run --entrypoint CMD NAME)");
		return 0; /* a command in the default image */
	}
	if (ret == -ENOENT)
		return why_fail(why, why_len, -ENOENT, "image %s: not found (cocoon image ls)", name);
	if (ret)
		return why_fail(why, why_len, ret, "image store %s: %s", s.root, strerror(-ret));
	if (store_image_file(&s, digest, "rootfs.erofs", r->rootfs, sizeof(r->rootfs)) ||
	    store_image_file(&s, digest, "config.json", path, sizeof(path)))
		return why_fail(why, why_len, -ENAMETOOLONG, "image %s: store path too long", name);
	ret = store_read_file(AT_FDCWD, path, OCI_JSON_MAX, &buf, &len);
	if (ret)
		return why_fail(why, why_len, ret, "image %s: %s: %s", name, path, strerror(-ret));
	ret = oci_parse_config(buf, len, &r->config, why, why_len);
	free(buf);
	if (ret)
		return ret;

	/* The command line after the name replaces Cmd; "--" may separate. */
	cli_argc = cfg->argc - 1;
	cli_argv = cfg->argv + 1;
	if (cli_argc > 0 && strcmp(cli_argv[0], "--") == 0) {
		cli_argc--;
		cli_argv++;
	}
	ret = oci_job_argv(&r->config, cfg->entrypoint, cli_argc, cli_argv, &r->argv, &argc);
	if (ret == -ENOENT) {
		image_run_free(r);
		return why_fail(why, why_len, -EINVAL,
			    "image %s: no command: the image has no Entrypoint or Cmd, give one", name);
	}
	if (ret) {
		image_run_free(r);
		return why_fail(why, why_len, ret, "image %s: %s", name, strerror(-ret));
	}
	cfg->argc = argc;
	cfg->argv = r->argv;

	/* Env: the image's, PATH by default when it sets none, then -e and
	 * --env-file on top (by key), as docker does. */
	for (size_t i = 0; i < cfg->nenv; i++)
		if (cfg->env[i] != config_default_path_env)
			user_env[nuser++] = cfg->env[i];
	cfg->nenv = 0;
	ret = 0;
	for (size_t i = 0; r->config.env && r->config.env[i] && !ret; i++)
		ret = config_set_env(cfg, r->config.env[i]);
	if (!ret && !oci_env_has_path(r->config.env))
		ret = config_set_env(cfg, config_default_path_env);
	for (size_t i = 0; i < nuser && !ret; i++)
		ret = config_set_env(cfg, user_env[i]);
	if (ret) {
		image_run_free(r);
		return why_fail(why, why_len, ret, "image %s: more than %d environment variables", name,
			    CONFIG_MAX_ENV);
	}
	if (!cfg->cwd_set && r->config.workdir && r->config.workdir[0] == '/')
		cfg->cwd = r->config.workdir;
	if (!cfg->user && r->config.user && *r->config.user)
		cfg->user = r->config.user;
	cfg->rootfs = r->rootfs;
	return 1;
}

/* ---- cocoon image ... ----------------------------------------------------- */

static void image_usage(FILE *f)
{
	fprintf(f,
		"usage: cocoon image import FILE|DIR [--name NAME[:TAG]] [--quiet]\n"
		"       cocoon image pull REF [--name NAME[:TAG]] [--quiet]\n"
		"       cocoon image ls\n"
		"       cocoon image inspect NAME[:TAG]\n"
		"       cocoon image rm NAME[:TAG]...\n"
		"\n"
		"import takes an OCI image layout directory (umoci, skopeo oci:DIR),\n"
		"a tar of one (podman save --format oci-archive) or a docker save tar.\n"
		"pull runs skopeo copy docker://REF into a layout, then imports it.\n"
		"The store is $COCOON_HOME (default /var/lib/cocoon).\n");
}

static int cmd_import(int argc, char **argv, bool pull)
{
	struct store_import_opts o = { 0 };
	struct store s;
	char digest[DIGEST_STR_LEN + 1], name[256], why[1024];
	const char *src = NULL;
	bool quiet = false;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "--name") == 0) {
			if (++i == argc) {
				log_error("--name: needs a value");
				return EXIT_FAILED;
			}
			o.name = argv[i];
		} else if (strncmp(argv[i], "--name=", 7) == 0) {
			o.name = argv[i] + 7;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			log_error("%s: unknown option for 'image %s'", argv[i], argv[0]);
			return EXIT_FAILED;
		} else if (!src) {
			src = argv[i];
		} else {
			log_error("image %s: one source only", argv[0]);
			return EXIT_FAILED;
		}
	}
	if (!src) {
		image_usage(stderr);
		return EXIT_FAILED;
	}
	o.progress = !quiet && isatty(STDERR_FILENO);
	store_init(&s);
	if (pull) {
		char dir[PATH_MAX], dest[PATH_MAX + 32], ref[PATH_MAX + 16];
		char *sargv[] = { "skopeo", "copy", "--quiet", ref, dest, NULL };
		posix_spawn_file_actions_t fa;
		pid_t pid;
		int status;

		if (!o.name)
			o.name = src;
		snprintf(dir, sizeof(dir), "%s/tmp", s.root);
		mkdir(s.root, 0755);
		mkdir(dir, 0755);
		snprintf(dir, sizeof(dir), "%s/tmp/pull.XXXXXX", s.root);
		if (!mkdtemp(dir)) {
			log_error("image store %s: %s", dir, strerror(errno));
			return EXIT_FAILED;
		}
		snprintf(ref, sizeof(ref), "docker://%s", src);
		snprintf(dest, sizeof(dest), "oci:%s/layout:latest", dir);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
		ret = posix_spawnp(&pid, "skopeo", &fa, NULL, sargv, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (ret) {
			log_error("image pull: cannot run skopeo: %s (package skopeo)", strerror(ret));
			rmdir(dir);
			return EXIT_FAILED;
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		snprintf(ref, sizeof(ref), "%s/layout", dir);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			log_error("image pull %s: skopeo copy failed", src);
			ret = -EIO;
		} else {
			ret = store_import(&s, ref, &o, digest, name, why, sizeof(why));
			if (ret)
				log_error("%s", why);
		}
		/* Only what skopeo wrote: a layout of plain files. */
		store_rm_rf(dir);
	} else {
		ret = store_import(&s, src, &o, digest, name, why, sizeof(why));
		if (ret)
			log_error("%s", why);
	}
	if (ret)
		return EXIT_FAILED;
	if (!quiet && isatty(STDERR_FILENO))
		fprintf(stderr, "imported %s\n", name);
	printf("%s\n", digest);
	return 0;
}

static void human_size(uint64_t b, char *out, size_t size)
{
	if (b >= (10ull << 20))
		snprintf(out, size, "%lluMB", (unsigned long long)(b / 1000000));
	else
		snprintf(out, size, "%.1fMB", (double)b / 1e6);
}

static int cmd_ls(int argc, char **argv)
{
	struct store s;
	struct store_ref *refs = NULL;
	size_t n = 0;
	int ret;

	(void)argv;
	if (argc > 1) {
		log_error("image ls: takes no arguments");
		return EXIT_FAILED;
	}
	store_init(&s);
	ret = store_list(&s, &refs, &n);
	if (ret) {
		log_error("image store %s/refs.json: %s", s.root, strerror(-ret));
		return EXIT_FAILED;
	}
	printf("%-40s %-19s %-9s %s\n", "NAME", "DIGEST", "SIZE", "CREATED");
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX], size[32] = "?", created[32] = "";
		struct oci_image_config c;
		struct stat st;
		char *buf, why[256];
		size_t len;

		if (!store_image_file(&s, refs[i].digest, "rootfs.erofs", path, sizeof(path)) &&
		    stat(path, &st) == 0)
			human_size((uint64_t)st.st_size, size, sizeof(size));
		if (!store_image_file(&s, refs[i].digest, "config.json", path, sizeof(path)) &&
		    !store_read_file(AT_FDCWD, path, OCI_JSON_MAX, &buf, &len)) {
			if (!oci_parse_config(buf, len, &c, why, sizeof(why))) {
				/* RFC 3339: keep date and time, drop fractions and zone. */
				if (c.created)
					snprintf(created, sizeof(created), "%.19s", c.created);
				for (char *p = created; *p; p++)
					if (*p == 'T')
						*p = ' ';
				oci_config_free(&c);
			}
			free(buf);
		}
		printf("%-40s sha256:%.12s %-9s %s\n", refs[i].name, digest_hex(refs[i].digest), size,
		       created);
	}
	free(refs);
	return 0;
}

static int cmd_inspect(int argc, char **argv)
{
	struct store s;
	struct json_object *out, *cfg;
	char digest[DIGEST_STR_LEN + 1], path[PATH_MAX], name[256];
	int ret;

	if (argc != 2) {
		log_error("usage: cocoon image inspect NAME[:TAG]");
		return EXIT_FAILED;
	}
	store_init(&s);
	ret = store_lookup(&s, argv[1], digest);
	if (ret == -ENOENT) {
		log_error("image %s: not found (cocoon image ls)", argv[1]);
		return EXIT_FAILED;
	}
	if (ret || store_image_file(&s, digest, "config.json", path, sizeof(path))) {
		log_error("image store %s: %s", s.root, strerror(ret ? -ret : ENAMETOOLONG));
		return EXIT_FAILED;
	}
	cfg = json_object_from_file(path);
	if (!cfg) {
		log_error("image %s: %s: unreadable", argv[1], path);
		return EXIT_FAILED;
	}
	if (store_normalize_name(argv[1], name, sizeof(name)))
		snprintf(name, sizeof(name), "%s", argv[1]);
	out = json_object_new_object();
	json_object_object_add(out, "Name", json_object_new_string(name));
	json_object_object_add(out, "Digest", json_object_new_string(digest));
	if (!store_image_file(&s, digest, "rootfs.erofs", path, sizeof(path)))
		json_object_object_add(out, "Rootfs", json_object_new_string(path));
	json_object_object_add(out, "Config", cfg);
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(out);
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	struct store s;
	char why[512];
	int status = 0;

	if (argc < 2) {
		log_error("usage: cocoon image rm NAME[:TAG]...");
		return EXIT_FAILED;
	}
	store_init(&s);
	for (int i = 1; i < argc; i++) {
		bool removed;

		if (store_remove(&s, argv[i], &removed, why, sizeof(why))) {
			log_error("%s", why);
			status = EXIT_FAILED;
			continue;
		}
		printf("untagged %s%s\n", argv[i], removed ? " (image deleted)" : "");
	}
	return status;
}

int image_main(int argc, char **argv)
{
	if (argc < 2) {
		image_usage(stderr);
		return EXIT_FAILED;
	}
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "pull") == 0)
		return cmd_import(argc - 1, argv + 1, true);
	if (strcmp(argv[1], "ls") == 0 || strcmp(argv[1], "list") == 0)
		return cmd_ls(argc - 1, argv + 1);
	if (strcmp(argv[1], "inspect") == 0)
		return cmd_inspect(argc - 1, argv + 1);
	if (strcmp(argv[1], "rm") == 0)
		return cmd_rm(argc - 1, argv + 1);
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		image_usage(stdout);
		return 0;
	}
	log_error("unknown command 'image %s' (try 'cocoon image help')", argv[1]);
	return EXIT_FAILED;
}
