/* SPDX-License-Identifier: MIT */
/*
 * OCI image JSON parsing, blob digests, and how an image config and the
 * `cocoon run` command line combine into a job (the table of Docker's
 * "Understand how CMD and ENTRYPOINT interact", and its Env/WorkingDir/User
 * rules).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "digest.h"
#include "oci.h"
#include "store.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static char why[512];

static int parse_index(const char *j, struct oci_desc *d)
{
	return oci_parse_index(j, strlen(j), d, why, sizeof(why));
}

static int parse_manifest(const char *j, struct oci_manifest *m)
{
	return oci_parse_manifest(j, strlen(j), m, why, sizeof(why));
}

static int parse_config(const char *j, struct oci_image_config *c)
{
	return oci_parse_config(j, strlen(j), c, why, sizeof(why));
}

static void index_layout(void **state)
{
	struct oci_desc d;

	(void)state;
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_MT_MANIFEST
				     "\",\"digest\":\"" D1 "\",\"size\":349,\"annotations\":{\""
				     OCI_REF_ANNOTATION "\":\"t\"}}]}", &d), 0);
	assert_string_equal(d.digest, D1);
	assert_int_equal(d.size, 349);
	assert_string_equal(d.ref_name, "t");
	assert_true(oci_is_manifest_type(d.media_type));
}

static void index_picks_linux_amd64(void **state)
{
	struct oci_desc d;
	const char *list =
		"{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MT_LIST "\",\"manifests\":["
		"{\"mediaType\":\"" DOCKER_MT_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
		"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
		"{\"mediaType\":\"" DOCKER_MT_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":2,"
		"\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\"}},"
		"{\"mediaType\":\"" DOCKER_MT_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":3,"
		"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";

	(void)state;
	assert_int_equal(parse_index(list, &d), 0);
	assert_string_equal(d.digest, D3);
	/* No linux/amd64 entry at all. */
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
				     OCI_MT_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
				     "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}",
				     &d), -EPROTO);
	assert_non_null(strstr(why, "linux/amd64"));
}

static void index_bad(void **state)
{
	struct oci_desc d;

	(void)state;
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"manifests\":[]}", &d), -EINVAL);
	assert_int_equal(parse_index("{\"schemaVersion\":1,\"manifests\":[]}", &d), -EPROTO);
	assert_int_equal(parse_index("[1,2]", &d), -EINVAL);
	assert_int_equal(parse_index("{\"schemaVersion\":2,", &d), -EINVAL);
	assert_int_equal(parse_index("{\"schemaVersion\":2} x", &d), -EINVAL);
	/* Unknown media types, for the index and for an entry. */
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"manifests\":[]}",
				     &d), -EPROTO);
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
				     "\"application/vnd.docker.distribution.manifest.v1+json\","
				     "\"digest\":\"" D1 "\",\"size\":1}]}", &d), -EPROTO);
	assert_non_null(strstr(why, "unsupported media type"));
	/* Digests: sha256 only, well formed. */
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
				     OCI_MT_MANIFEST "\",\"digest\":\"sha512:ab\",\"size\":1}]}", &d),
			 -EPROTO);
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
				     OCI_MT_MANIFEST "\",\"digest\":\"" D1 "\"}]}", &d), -EINVAL);
	assert_int_equal(parse_index("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
				     OCI_MT_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":-4}]}", &d),
			 -EINVAL);
}

#define MANIFEST(cfgmt, layermt)                                                                \
	"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"config\":{\"mediaType\":\"" \
	cfgmt "\",\"digest\":\"" D1 "\",\"size\":10},\"layers\":[{\"mediaType\":\"" layermt      \
	"\",\"digest\":\"" D2 "\",\"size\":20},{\"mediaType\":\"" layermt "\",\"digest\":\"" D3  \
	"\",\"size\":30}]}"

static void manifest_good(void **state)
{
	static struct oci_manifest m;
	enum oci_compression c;

	(void)state;
	assert_int_equal(parse_manifest(MANIFEST(OCI_MT_CONFIG,
						 "application/vnd.oci.image.layer.v1.tar+gzip"), &m), 0);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.nlayers, 2);
	assert_string_equal(m.layers[1].digest, D3);
	assert_int_equal(m.layers[1].size, 30);
	assert_int_equal(oci_layer_compression(m.layers[0].media_type, &c), 0);
	assert_int_equal(c, OCI_TAR_GZIP);
	/* Docker v2 schema 2. */
	assert_int_equal(parse_manifest("{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MT_MANIFEST
					"\",\"config\":{\"mediaType\":\"" DOCKER_MT_CONFIG
					"\",\"digest\":\"" D1 "\",\"size\":10},\"layers\":[{"
					"\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
					"\"digest\":\"" D2 "\",\"size\":20}]}", &m), 0);
	assert_int_equal(m.nlayers, 1);
	assert_int_equal(oci_layer_compression("application/vnd.oci.image.layer.v1.tar+zstd", &c), 0);
	assert_int_equal(c, OCI_TAR_ZSTD);
	assert_int_equal(oci_layer_compression("application/vnd.oci.image.layer.v1.tar", &c), 0);
	assert_int_equal(c, OCI_TAR);
}

static void manifest_bad(void **state)
{
	static struct oci_manifest m;

	(void)state;
	assert_int_equal(parse_manifest(MANIFEST("application/json",
						 "application/vnd.oci.image.layer.v1.tar"), &m), -EPROTO);
	assert_int_equal(parse_manifest(MANIFEST(OCI_MT_CONFIG, "application/x-squashfs"), &m),
			 -EPROTO);
	assert_non_null(strstr(why, "unsupported media type"));
	assert_int_equal(parse_manifest("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX
					"\",\"manifests\":[]}", &m), -EPROTO);
	assert_int_equal(parse_manifest("{\"schemaVersion\":2,\"layers\":[]}", &m), -EINVAL);
	assert_non_null(strstr(why, "no config"));
	assert_int_equal(parse_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\""
					OCI_MT_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1}}", &m),
			 -EINVAL);
	assert_non_null(strstr(why, "no layers"));
}

static void config_parse(void **state)
{
	struct oci_image_config c;

	(void)state;
	assert_int_equal(parse_config("{\"architecture\":\"amd64\",\"os\":\"linux\","
				      "\"created\":\"2024-01-02T03:04:05Z\",\"config\":{"
				      "\"Entrypoint\":[\"/bin/app\"],\"Cmd\":[\"--flag\"],"
				      "\"Env\":[\"A=1\",\"PATH=/x\"],\"WorkingDir\":\"/srv\","
				      "\"User\":\"1000:100\"},\"rootfs\":{\"type\":\"layers\","
				      "\"diff_ids\":[\"" D1 "\"]}}", &c), 0);
	assert_string_equal(c.entrypoint[0], "/bin/app");
	assert_null(c.entrypoint[1]);
	assert_string_equal(c.cmd[0], "--flag");
	assert_string_equal(c.env[1], "PATH=/x");
	assert_true(oci_env_has_path(c.env));
	assert_string_equal(c.workdir, "/srv");
	assert_string_equal(c.user, "1000:100");
	assert_string_equal(c.diff_ids[0], D1);
	oci_config_free(&c);
	/* Minimal: no config object at all; null members. */
	assert_int_equal(parse_config("{\"architecture\":\"amd64\",\"os\":\"linux\"}", &c), 0);
	assert_null(c.entrypoint);
	assert_false(oci_env_has_path(c.env));
	oci_config_free(&c);
	assert_int_equal(parse_config("{\"config\":{\"Entrypoint\":null,\"Cmd\":null}}", &c), 0);
	assert_null(c.cmd);
	oci_config_free(&c);
	/* Wrong platform, wrong types. */
	assert_int_equal(parse_config("{\"architecture\":\"arm64\",\"os\":\"linux\"}", &c), -EPROTO);
	assert_non_null(strstr(why, "arm64"));
	assert_int_equal(parse_config("{\"os\":\"windows\"}", &c), -EPROTO);
	assert_int_equal(parse_config("{\"config\":{\"Cmd\":\"echo hi\"}}", &c), -EINVAL);
	assert_int_equal(parse_config("{\"config\":{\"Cmd\":[1]}}", &c), -EINVAL);
	assert_int_equal(parse_config("{\"config\":{\"Env\":[\"NOEQUALS\"]}}", &c), -EINVAL);
}

static void docker_save_manifest(void **state)
{
	struct docker_save_entry e;
	const char *j = "[{\"Config\":\"" "abcd.json\",\"RepoTags\":[\"busybox:1.36\"],"
			"\"Layers\":[\"aaa/layer.tar\",\"bbb/layer.tar\"]}]";

	(void)state;
	assert_int_equal(oci_parse_docker_save(j, strlen(j), &e, why, sizeof(why)), 0);
	assert_string_equal(e.config, "abcd.json");
	assert_string_equal(e.repo_tag, "busybox:1.36");
	assert_int_equal(e.nlayers, 2);
	assert_string_equal(e.layers[1], "bbb/layer.tar");
	oci_docker_save_free(&e);
	j = "[{\"Config\":\"c.json\",\"RepoTags\":null,\"Layers\":[]}]";
	assert_int_equal(oci_parse_docker_save(j, strlen(j), &e, why, sizeof(why)), 0);
	assert_string_equal(e.repo_tag, "");
	oci_docker_save_free(&e);
	j = "{\"Config\":\"c.json\"}";
	assert_int_equal(oci_parse_docker_save(j, strlen(j), &e, why, sizeof(why)), -EINVAL);
	j = "[{\"RepoTags\":[],\"Layers\":[]}]";
	assert_int_equal(oci_parse_docker_save(j, strlen(j), &e, why, sizeof(why)), -EINVAL);
}

static void digests(void **state)
{
	char path[] = "/tmp/cocoon-test-oci.XXXXXX", d[DIGEST_STR_LEN + 1];
	uint64_t size;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(digest_fd(fd, d, &size), 0);
	assert_int_equal(size, 3);
	/* FIPS 180-2's "abc" example. */
	assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(digest_check_fd(fd, d, 3), 0);
	assert_int_equal(digest_check_fd(fd, d, 4), -EMSGSIZE);
	/* One corrupted byte. */
	assert_int_equal(pwrite(fd, "b", 1, 0), 1);
	assert_int_equal(digest_check_fd(fd, d, 3), -EBADMSG);
	assert_int_equal(digest_check_fd(fd, "sha256:abc", 3), -EINVAL);
	assert_int_equal(digest_buf("abc", 3, d), 0);
	assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_false(digest_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(digest_valid("sha256:ba78"));
	close(fd);
}

/* Docker's ENTRYPOINT/CMD table; a config with Entrypoint ep and Cmd cmd. */
static char *job(char **ep, char **cmd, const char *override, int argc, char **argv)
{
	static char out[512];
	struct oci_image_config c = { .entrypoint = ep, .cmd = cmd };
	char **v;
	int n;

	if (oci_job_argv(&c, override, argc, argv, &v, &n))
		return "ERROR";
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		strcat(out, i ? "|" : "");
		strcat(out, v[i]);
	}
	assert_null(v[n]);
	free(v);
	return out;
}

static void entrypoint_cmd_table(void **state)
{
	char *exec_ep[] = { "exec_entry", "p1_entry", NULL };
	char *shell_ep[] = { "/bin/sh", "-c", "exec_entry p1_entry", NULL };
	char *exec_cmd[] = { "exec_cmd", "p1_cmd", NULL };
	char *shell_cmd[] = { "/bin/sh", "-c", "exec_cmd p1_cmd", NULL };
	char *empty[] = { NULL };
	char *cli[] = { "echo", "hi", NULL };

	(void)state;
	/* No ENTRYPOINT. */
	assert_string_equal(job(NULL, NULL, NULL, 0, NULL), "ERROR");
	assert_string_equal(job(NULL, exec_cmd, NULL, 0, NULL), "exec_cmd|p1_cmd");
	assert_string_equal(job(NULL, shell_cmd, NULL, 0, NULL), "/bin/sh|-c|exec_cmd p1_cmd");
	/* ENTRYPOINT exec_entry p1_entry (shell form). */
	assert_string_equal(job(shell_ep, NULL, NULL, 0, NULL), "/bin/sh|-c|exec_entry p1_entry");
	assert_string_equal(job(shell_ep, exec_cmd, NULL, 0, NULL), "/bin/sh|-c|exec_entry p1_entry|exec_cmd|p1_cmd");
	/* ENTRYPOINT ["exec_entry", "p1_entry"]. */
	assert_string_equal(job(exec_ep, NULL, NULL, 0, NULL), "exec_entry|p1_entry");
	assert_string_equal(job(exec_ep, exec_cmd, NULL, 0, NULL), "exec_entry|p1_entry|exec_cmd|p1_cmd");
	assert_string_equal(job(exec_ep, shell_cmd, NULL, 0, NULL),
			    "exec_entry|p1_entry|/bin/sh|-c|exec_cmd p1_cmd");
	/* A command line replaces Cmd and keeps the Entrypoint. */
	assert_string_equal(job(exec_ep, exec_cmd, NULL, 2, cli), "exec_entry|p1_entry|echo|hi");
	assert_string_equal(job(NULL, exec_cmd, NULL, 2, cli), "echo|hi");
	/* An empty Entrypoint array is no entrypoint. */
	assert_string_equal(job(empty, exec_cmd, NULL, 0, NULL), "exec_cmd|p1_cmd");
	assert_string_equal(job(empty, empty, NULL, 0, NULL), "ERROR");
	/* --entrypoint replaces the Entrypoint and drops the image's Cmd. */
	assert_string_equal(job(exec_ep, exec_cmd, "/bin/true", 0, NULL), "/bin/true");
	assert_string_equal(job(exec_ep, exec_cmd, "/bin/echo", 2, cli), "/bin/echo|echo|hi");
	assert_string_equal(job(exec_ep, exec_cmd, "", 2, cli), "echo|hi");
	assert_string_equal(job(exec_ep, exec_cmd, "", 0, NULL), "ERROR");
}

/* ---- image_prepare_run against a store made by hand ---------------------- */

static char home[] = "/tmp/cocoon-test-store.XXXXXX";

static void put(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", home, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup_store(void **state)
{
	char p[512];

	(void)state;
	strcpy(home, "/tmp/cocoon-test-store.XXXXXX");
	assert_non_null(mkdtemp(home));
	snprintf(p, sizeof(p), "%s/images", home);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/images/%s", home, D1 + 7);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/images/%s", home, D2 + 7);
	mkdir(p, 0755);
	put("refs.json", "{\"app:1\":\"" D1 "\",\"bare:latest\":\"" D2 "\"}");
	snprintf(p, sizeof(p), "images/%s/config.json", D1 + 7);
	put(p, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/app\"],"
	       "\"Cmd\":[\"serve\"],\"Env\":[\"A=image\",\"B=image\",\"PATH=/opt/bin\"],"
	       "\"WorkingDir\":\"/srv\",\"User\":\"app:staff\"}}");
	snprintf(p, sizeof(p), "images/%s/config.json", D2 + 7);
	put(p, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]}}");
	setenv("COCOON_HOME", home, 1);
	return 0;
}

static int teardown_store(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	return system(cmd);
}

static int prep(struct vm_config *cfg, struct image_run *r, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	config_defaults(cfg);
	assert_int_equal(config_parse_run(cfg, argc, argv, why, sizeof(why)), 0);
	return image_prepare_run(cfg, r, why, sizeof(why));
}

static const char *env_of(const struct vm_config *cfg, const char *key)
{
	size_t l = strlen(key);

	for (size_t i = 0; i < cfg->nenv; i++)
		if (strncmp(cfg->env[i], key, l) == 0 && cfg->env[i][l] == '=')
			return cfg->env[i] + l + 1;
	return NULL;
}

static void run_with_image(void **state)
{
	static struct vm_config cfg;
	struct image_run r;
	char *a1[] = { "run", "app:1", NULL };
	char *a2[] = { "run", "-e", "B=cli", "-e", "C=cli", "-w", "/tmp", "-u", "0", "app:1",
		       "--", "status", NULL };
	char *a3[] = { "run", "bare", NULL };
	char *a4[] = { "run", "-e", "PATH=/mine", "bare", "ls", "/", NULL };

	(void)state;
	assert_int_equal(prep(&cfg, &r, a1), 1);
	assert_int_equal(cfg.argc, 2);
	assert_string_equal(cfg.argv[0], "/app");
	assert_string_equal(cfg.argv[1], "serve");
	assert_string_equal(env_of(&cfg, "A"), "image");
	assert_string_equal(env_of(&cfg, "PATH"), "/opt/bin"); /* the image's, not the default */
	assert_string_equal(cfg.cwd, "/srv");
	assert_string_equal(cfg.user, "app:staff");
	assert_non_null(strstr(cfg.rootfs, D1 + 7));
	assert_non_null(strstr(cfg.rootfs, "rootfs.erofs"));
	image_run_free(&r);

	assert_int_equal(prep(&cfg, &r, a2), 1);
	assert_int_equal(cfg.argc, 2);
	assert_string_equal(cfg.argv[1], "status");
	assert_string_equal(env_of(&cfg, "A"), "image");
	assert_string_equal(env_of(&cfg, "B"), "cli");
	assert_string_equal(env_of(&cfg, "C"), "cli");
	assert_string_equal(cfg.cwd, "/tmp");
	assert_string_equal(cfg.user, "0");
	/* Image env first, then -e. */
	assert_string_equal(cfg.env[0], "A=image");
	image_run_free(&r);

	/* An image that sets no PATH gets the default; -e PATH wins over it. */
	assert_int_equal(prep(&cfg, &r, a3), 1);
	assert_string_equal(env_of(&cfg, "PATH"), CONFIG_DEFAULT_PATH);
	assert_string_equal(cfg.argv[0], "sh");
	assert_string_equal(cfg.cwd, "/");
	assert_null(cfg.user);
	image_run_free(&r);
	assert_int_equal(prep(&cfg, &r, a4), 1);
	assert_string_equal(env_of(&cfg, "PATH"), "/mine");
	assert_string_equal(cfg.argv[0], "ls");
	image_run_free(&r);
}

static void run_without_image(void **state)
{
	static struct vm_config cfg;
	struct image_run r;
	char *plain[] = { "run", "sh", "-c", "echo", NULL };
	char *dashdash[] = { "run", "--", "app:1", NULL };
	char *bare_dd[] = { "run", "--", "bare", NULL };
	char *path[] = { "run", "/bin/echo", "hi", NULL };
	char *rootfs[] = { "run", "--rootfs", "/x.img", "app:1", NULL };
	char *unknown[] = { "run", "nosuch:tag", NULL };
	char *unknown2[] = { "run", "registry.example/x", NULL };
	char *none[] = { "run", NULL };

	(void)state;
	assert_int_equal(prep(&cfg, &r, plain), 0);
	assert_string_equal(cfg.argv[0], "sh");
	assert_null(cfg.rootfs);
	assert_int_equal(prep(&cfg, &r, dashdash), 0);
	assert_string_equal(cfg.argv[0], "app:1");
	assert_int_equal(prep(&cfg, &r, bare_dd), 0);
	assert_int_equal(prep(&cfg, &r, path), 0);
	assert_int_equal(prep(&cfg, &r, rootfs), 0);
	assert_string_equal(cfg.rootfs, "/x.img");
	assert_int_equal(prep(&cfg, &r, none), 0);
	assert_int_equal(prep(&cfg, &r, unknown), -ENOENT);
	assert_string_equal(why, "image nosuch:tag: not found (cocoon image ls)");
	assert_int_equal(prep(&cfg, &r, unknown2), -ENOENT);
}

static void names(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(store_normalize_name("busybox", out, sizeof(out)), 0);
	assert_string_equal(out, "busybox:latest");
	assert_int_equal(store_normalize_name("localhost:5000/a/b", out, sizeof(out)), 0);
	assert_string_equal(out, "localhost:5000/a/b:latest");
	assert_int_equal(store_normalize_name("a/b:1.2", out, sizeof(out)), 0);
	assert_string_equal(out, "a/b:1.2");
	assert_int_equal(store_normalize_name("", out, sizeof(out)), -EINVAL);
	assert_int_equal(store_normalize_name("a b", out, sizeof(out)), -EINVAL);
	assert_int_equal(store_normalize_name("/abs", out, sizeof(out)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(index_layout),
		cmocka_unit_test(index_picks_linux_amd64),
		cmocka_unit_test(index_bad),
		cmocka_unit_test(manifest_good),
		cmocka_unit_test(manifest_bad),
		cmocka_unit_test(config_parse),
		cmocka_unit_test(docker_save_manifest),
		cmocka_unit_test(digests),
		cmocka_unit_test(entrypoint_cmd_table),
		cmocka_unit_test(names),
		cmocka_unit_test_setup_teardown(run_with_image, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(run_without_image, setup_store, teardown_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
