/* SPDX-License-Identifier: MIT */
#include "oci.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "digest.h"
#include "log.h"


bool oci_is_index_type(const char *mt)
{
	return strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0;
}

bool oci_is_manifest_type(const char *mt)
{
	return strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0;
}

int oci_layer_compression(const char *mt, enum oci_compression *c)
{
	static const struct {
		const char *mt;
		enum oci_compression c;
	} known[] = {
		{ "application/vnd.oci.image.layer.v1.tar", OCI_TAR },
		{ "application/vnd.oci.image.layer.v1.tar+gzip", OCI_TAR_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar+zstd", OCI_TAR_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_TAR },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_TAR_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_TAR_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_TAR_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_TAR_GZIP },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(mt, known[i].mt) == 0) {
			*c = known[i].c;
			return 0;
		}
	}
	return -EPROTO;
}

/* Parse exactly `len` bytes of JSON (no terminator needed); any top level. */
static struct json_object *parse_json(const char *json, size_t len, const char *what,
				      char *why, size_t why_len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > OCI_JSON_MAX || len > (size_t)INT32_MAX) {
		why_fail(why, why_len, -EINVAL, "%s: larger than %u bytes", what, OCI_JSON_MAX);
		return NULL;
	}
	tok = json_tokener_new();
	if (!tok) {
		why_fail(why, why_len, -ENOMEM, "%s: out of memory", what);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) < len) {
		/* Trailing whitespace is fine; anything else is not. */
		size_t end = o ? json_tokener_get_parse_end(tok) : 0;
		bool ok = o != NULL;

		for (size_t i = end; ok && i < len; i++)
			if (json[i] != ' ' && json[i] != '\n' && json[i] != '\r' &&
			    json[i] != '\t')
				ok = false;
		if (!ok) {
			json_object_put(o);
			json_tokener_free(tok);
			why_fail(why, why_len, -EINVAL, "%s: not valid JSON", what);
			return NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

struct json_object *oci_parse_json_object(const char *json, size_t len, const char *what,
					  char *why, size_t why_len)
{
	struct json_object *o = parse_json(json, len, what, why, why_len);

	if (!o)
		return NULL;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		why_fail(why, why_len, -EINVAL, "%s: not a JSON object", what);
		return NULL;
	}
	return o;
}

/* A string member, or NULL when absent or not a string. */
static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int copy_str(char *dst, size_t size, const char *src)
{
	size_t l = strlen(src);

	if (l >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, l + 1);
	return 0;
}

static int parse_desc(struct json_object *o, struct oci_desc *d, const char *what, char *why,
		      size_t why_len)
{
	struct json_object *v, *ann;
	const char *mt, *dg, *ref;
	int64_t size;

	memset(d, 0, sizeof(*d));
	if (!json_object_is_type(o, json_type_object))
		return why_fail(why, why_len, -EINVAL, "%s: descriptor is not an object", what);
	mt = get_str(o, "mediaType");
	dg = get_str(o, "digest");
	if (!mt || !*mt)
		return why_fail(why, why_len, -EINVAL, "%s: descriptor without mediaType", what);
	if (!dg)
		return why_fail(why, why_len, -EINVAL, "%s: descriptor without digest", what);
	if (!digest_valid(dg))
		return why_fail(why, why_len, -EPROTO,
			    "%s: digest '%.80s' is not sha256 (the only algorithm supported)",
			    what, dg);
	if (!json_object_object_get_ex(o, "size", &v) || !json_object_is_type(v, json_type_int))
		return why_fail(why, why_len, -EINVAL, "%s: descriptor %s without size", what, dg);
	size = json_object_get_int64(v);
	if (size < 0)
		return why_fail(why, why_len, -EINVAL, "%s: descriptor %s: negative size", what, dg);
	if (copy_str(d->media_type, sizeof(d->media_type), mt))
		return why_fail(why, why_len, -EINVAL, "%s: media type too long", what);
	memcpy(d->digest, dg, DIGEST_STR_LEN + 1);
	d->size = (uint64_t)size;
	if (json_object_object_get_ex(o, "annotations", &ann) &&
	    json_object_is_type(ann, json_type_object)) {
		ref = get_str(ann, OCI_REF_ANNOTATION);
		if (ref && copy_str(d->ref_name, sizeof(d->ref_name), ref))
			return why_fail(why, why_len, -EINVAL, "%s: ref name too long", what);
	}
	return 0;
}

int oci_parse_index(const char *json, size_t len, struct oci_desc *out, char *why,
		    size_t why_len)
{
	struct json_object *o, *v, *arr;
	const char *mt;
	int ret = -EINVAL;
	size_t n, chosen = SIZE_MAX;

	o = oci_parse_json_object(json, len, "index", why, why_len);
	if (!o)
		return -EINVAL;
	if (!json_object_object_get_ex(o, "schemaVersion", &v) ||
	    json_object_get_int(v) != 2) {
		why_fail(why, why_len, -EPROTO, "index: schemaVersion is not 2");
		ret = -EPROTO;
		goto out;
	}
	/* Optional in index.json of a layout; when present it must say index. */
	mt = get_str(o, "mediaType");
	if (mt && !oci_is_index_type(mt)) {
		why_fail(why, why_len, -EPROTO, "index: unsupported media type %.100s", mt);
		ret = -EPROTO;
		goto out;
	}
	if (!json_object_object_get_ex(o, "manifests", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		why_fail(why, why_len, -EINVAL, "index: no manifests array");
		goto out;
	}
	n = json_object_array_length(arr);
	if (n == 0) {
		why_fail(why, why_len, -EINVAL, "index: lists no manifest");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *plat;
		const char *os, *arch;

		if (!json_object_object_get_ex(e, "platform", &plat) ||
		    !json_object_is_type(plat, json_type_object)) {
			/* No platform: take it unless a matching one comes. */
			if (chosen == SIZE_MAX)
				chosen = i;
			continue;
		}
		os = get_str(plat, "os");
		arch = get_str(plat, "architecture");
		if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0) {
			chosen = i;
			break;
		}
	}
	if (chosen == SIZE_MAX) {
		why_fail(why, why_len, -EPROTO, "index: no manifest for linux/amd64");
		ret = -EPROTO;
		goto out;
	}
	ret = parse_desc(json_object_array_get_idx(arr, chosen), out, "index", why, why_len);
	if (ret)
		goto out;
	if (!oci_is_index_type(out->media_type) && !oci_is_manifest_type(out->media_type)) {
		ret = why_fail(why, why_len, -EPROTO, "index: entry %s: unsupported media type %.100s",
			   out->digest, out->media_type);
		goto out;
	}
out:
	json_object_put(o);
	return ret;
}

int oci_parse_manifest(const char *json, size_t len, struct oci_manifest *m, char *why,
		       size_t why_len)
{
	struct json_object *o, *v, *arr;
	const char *mt;
	enum oci_compression c;
	int ret = -EINVAL;
	size_t n;

	memset(m, 0, sizeof(*m));
	o = oci_parse_json_object(json, len, "manifest", why, why_len);
	if (!o)
		return -EINVAL;
	if (!json_object_object_get_ex(o, "schemaVersion", &v) ||
	    json_object_get_int(v) != 2) {
		ret = why_fail(why, why_len, -EPROTO, "manifest: schemaVersion is not 2");
		goto out;
	}
	mt = get_str(o, "mediaType");
	if (mt && !oci_is_manifest_type(mt)) {
		ret = why_fail(why, why_len, -EPROTO, "manifest: unsupported media type %.100s", mt);
		goto out;
	}
	if (!json_object_object_get_ex(o, "config", &v)) {
		why_fail(why, why_len, -EINVAL, "manifest: no config");
		goto out;
	}
	ret = parse_desc(v, &m->config, "manifest config", why, why_len);
	if (ret)
		goto out;
	if (strcmp(m->config.media_type, OCI_MT_CONFIG) != 0 &&
	    strcmp(m->config.media_type, DOCKER_MT_CONFIG) != 0) {
		ret = why_fail(why, why_len, -EPROTO, "manifest: config %s: unsupported media type %.100s",
			   m->config.digest, m->config.media_type);
		goto out;
	}
	if (!json_object_object_get_ex(o, "layers", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		ret = why_fail(why, why_len, -EINVAL, "manifest: no layers array");
		goto out;
	}
	n = json_object_array_length(arr);
	if (n > OCI_MAX_LAYERS) {
		ret = why_fail(why, why_len, -EINVAL, "manifest: %zu layers, more than %d", n,
			   OCI_MAX_LAYERS);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ret = parse_desc(json_object_array_get_idx(arr, i), &m->layers[i],
				 "manifest layer", why, why_len);
		if (ret)
			goto out;
		if (oci_layer_compression(m->layers[i].media_type, &c)) {
			ret = why_fail(why, why_len, -EPROTO,
				   "manifest: layer %s: unsupported media type %.100s",
				   m->layers[i].digest, m->layers[i].media_type);
			goto out;
		}
	}
	m->nlayers = n;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

/* A NULL-terminated copy of a JSON array of strings; *out NULL for null/absent. */
static int str_array(struct json_object *parent, const char *key, char ***out,
		     const char *what, char *why, size_t why_len)
{
	struct json_object *arr;
	size_t n;
	char **v;

	*out = NULL;
	if (!parent || !json_object_object_get_ex(parent, key, &arr) || !arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return why_fail(why, why_len, -EINVAL, "%s: %s is not an array of strings", what, key);
	n = json_object_array_length(arr);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return why_fail(why, why_len, -ENOMEM, "%s: out of memory", what);
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(s, json_type_string) ||
		    !(v[i] = strdup(json_object_get_string(s)))) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return why_fail(why, why_len, -EINVAL, "%s: %s is not an array of strings",
				    what, key);
		}
	}
	*out = v;
	return 0;
}

static void free_vec(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static char *dup_opt(struct json_object *o, const char *key)
{
	const char *s = o ? get_str(o, key) : NULL;

	return s ? strdup(s) : NULL;
}

void oci_config_free(struct oci_image_config *c)
{
	free_vec(c->entrypoint);
	free_vec(c->cmd);
	free_vec(c->env);
	free_vec(c->diff_ids);
	free(c->workdir);
	free(c->user);
	free(c->created);
	free(c->os);
	free(c->arch);
	memset(c, 0, sizeof(*c));
}

int oci_parse_config(const char *json, size_t len, struct oci_image_config *c, char *why,
		     size_t why_len)
{
	struct json_object *o, *cfg = NULL, *rootfs = NULL;
	int ret;

	memset(c, 0, sizeof(*c));
	o = oci_parse_json_object(json, len, "image config", why, why_len);
	if (!o)
		return -EINVAL;
	c->os = dup_opt(o, "os");
	c->arch = dup_opt(o, "architecture");
	c->created = dup_opt(o, "created");
	if (c->os && strcmp(c->os, "linux") != 0) {
		ret = why_fail(why, why_len, -EPROTO, "image config: the image is for os %.40s, not linux",
			   c->os);
		goto out;
	}
	if (c->arch && strcmp(c->arch, "amd64") != 0) {
		ret = why_fail(why, why_len, -EPROTO,
			   "image config: the image is for architecture %.40s, not amd64", c->arch);
		goto out;
	}
	if (json_object_object_get_ex(o, "config", &cfg) && cfg &&
	    !json_object_is_type(cfg, json_type_object)) {
		ret = why_fail(why, why_len, -EINVAL, "image config: config is not an object");
		goto out;
	}
	ret = str_array(cfg, "Entrypoint", &c->entrypoint, "image config", why, why_len);
	if (!ret)
		ret = str_array(cfg, "Cmd", &c->cmd, "image config", why, why_len);
	if (!ret)
		ret = str_array(cfg, "Env", &c->env, "image config", why, why_len);
	if (ret)
		goto out;
	if (c->env) {
		for (char **e = c->env; *e; e++) {
			if (!strchr(*e, '=') || **e == '=') {
				ret = why_fail(why, why_len, -EINVAL,
					   "image config: Env entry '%.60s' is not KEY=VALUE", *e);
				goto out;
			}
		}
	}
	c->workdir = dup_opt(cfg, "WorkingDir");
	c->user = dup_opt(cfg, "User");
	if (json_object_object_get_ex(o, "rootfs", &rootfs))
		ret = str_array(rootfs, "diff_ids", &c->diff_ids, "image config", why, why_len);
out:
	if (ret)
		oci_config_free(c);
	json_object_put(o);
	return ret;
}

void oci_docker_save_free(struct docker_save_entry *e)
{
	free(e->layers);
	memset(e, 0, sizeof(*e));
}

int oci_parse_docker_save(const char *json, size_t len, struct docker_save_entry *e,
			  char *why, size_t why_len)
{
	struct json_object *top, *o, *arr, *tags;
	const char *cfg;
	int ret = -EINVAL;
	size_t n;

	memset(e, 0, sizeof(*e));
	if (len > OCI_JSON_MAX)
		return why_fail(why, why_len, -EINVAL, "manifest.json: too large");
	/* Bounded by len: json need not be NUL-terminated. */
	top = parse_json(json, len, "manifest.json", why, why_len);
	if (!top)
		return -EINVAL;
	if (!json_object_is_type(top, json_type_array) ||
	    json_object_array_length(top) == 0) {
		why_fail(why, why_len, -EINVAL, "manifest.json: not a non-empty JSON array");
		goto out;
	}
	o = json_object_array_get_idx(top, 0);
	cfg = json_object_is_type(o, json_type_object) ? get_str(o, "Config") : NULL;
	if (!cfg || copy_str(e->config, sizeof(e->config), cfg)) {
		why_fail(why, why_len, -EINVAL, "manifest.json: no Config");
		goto out;
	}
	if (json_object_object_get_ex(o, "RepoTags", &tags) &&
	    json_object_is_type(tags, json_type_array) && json_object_array_length(tags) > 0) {
		struct json_object *t = json_object_array_get_idx(tags, 0);

		if (json_object_is_type(t, json_type_string))
			copy_str(e->repo_tag, sizeof(e->repo_tag), json_object_get_string(t));
	}
	if (!json_object_object_get_ex(o, "Layers", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		why_fail(why, why_len, -EINVAL, "manifest.json: no Layers");
		goto out;
	}
	n = json_object_array_length(arr);
	if (n > OCI_MAX_LAYERS) {
		why_fail(why, why_len, -EINVAL, "manifest.json: more than %d layers", OCI_MAX_LAYERS);
		goto out;
	}
	e->layers = calloc(n ? n : 1, sizeof(*e->layers));
	if (!e->layers) {
		ret = why_fail(why, why_len, -ENOMEM, "manifest.json: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *l = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(l, json_type_string) ||
		    copy_str(e->layers[i], sizeof(e->layers[i]), json_object_get_string(l))) {
			why_fail(why, why_len, -EINVAL, "manifest.json: layer %zu is not a path", i);
			goto out;
		}
	}
	e->nlayers = n;
	ret = 0;
out:
	if (ret)
		oci_docker_save_free(e);
	json_object_put(top);
	return ret;
}

static size_t vec_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

int oci_job_argv(const struct oci_image_config *c, const char *entrypoint, int cli_argc,
		 char **cli_argv, char ***argv_out, int *argc_out)
{
	char *ep_one[2] = { (char *)entrypoint, NULL };
	char *const *ep = c->entrypoint, *const *cmd = c->cmd;
	size_t ne, nc, k = 0;
	char **v;

	if (entrypoint) {
		/* docker run --entrypoint: replaces the image's, and drops its Cmd. */
		ep = *entrypoint ? ep_one : NULL;
		cmd = NULL;
	}
	if (cli_argc > 0)
		cmd = cli_argv;
	ne = vec_len(ep);
	nc = cli_argc > 0 ? (size_t)cli_argc : vec_len(cmd);
	if (ne + nc == 0)
		return -ENOENT;
	v = calloc(ne + nc + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < ne; i++)
		v[k++] = ep[i];
	for (size_t i = 0; i < nc; i++)
		v[k++] = cmd[i];
	*argv_out = v;
	*argc_out = (int)k;
	return 0;
}

bool oci_env_has_path(char *const *env)
{
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			return true;
	return false;
}
