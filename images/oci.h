/* SPDX-License-Identifier: MIT */
/*
 * Parsing of OCI image JSON (image-spec 1.0/1.1: index, manifest, config)
 * and Docker's equivalents (image manifest v2 schema 2, manifest list,
 * `docker save`'s manifest.json), with json-c. Only these media types are
 * accepted; anything else is refused with a reason.
 *
 * Also the rule that turns an image config plus `cocoon run` arguments into
 * the job's argv and environment, as `docker run` does.
 */
#ifndef COCOON_OCI_H
#define COCOON_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"

#define OCI_MAX_LAYERS 512
#define OCI_JSON_MAX (4u << 20) /* index, manifest and config documents */
#define OCI_REF_ANNOTATION "org.opencontainers.image.ref.name"

enum oci_compression { OCI_TAR, OCI_TAR_GZIP, OCI_TAR_ZSTD };

struct oci_desc {
	char media_type[128];
	char digest[72];
	uint64_t size;
	char ref_name[256]; /* OCI_REF_ANNOTATION, or "" */
};

struct oci_manifest {
	struct oci_desc config;
	size_t nlayers;
	struct oci_desc layers[OCI_MAX_LAYERS];
};

/* A NULL-terminated string vector; NULL when the key is absent or null. */
struct oci_image_config {
	char **entrypoint;
	char **cmd;
	char **env;
	char *workdir; /* NULL or "" : not set */
	char *user;
	char *created;
	char *os;
	char *arch;
	char **diff_ids; /* rootfs.diff_ids */
};

struct docker_save_entry {
	char config[512];   /* path inside the archive */
	char repo_tag[256]; /* first of RepoTags, or "" */
	size_t nlayers;
	char (*layers)[512];
};

/* True for an index or manifest list media type. */
struct json_object;

/*
 * Parse exactly `len` bytes of JSON whose top level must be an object (at
 * most OCI_JSON_MAX bytes; trailing whitespace allowed). Returns the object
 * (json_object_put it), or NULL with a one-line reason starting with
 * `what` in why.
 */
struct json_object *oci_parse_json_object(const char *json, size_t len, const char *what,
					  char *why, size_t why_len);

bool oci_is_index_type(const char *mt);
/* True for an image manifest media type. */
bool oci_is_manifest_type(const char *mt);
/* Compression of a known layer media type; -EPROTO for any other. */
int oci_layer_compression(const char *mt, enum oci_compression *c);

/*
 * Parse an index (index.json or a manifest list) and choose one manifest:
 * the linux/amd64 entry when entries have a platform, otherwise the first
 * entry. 0 or -EINVAL / -EPROTO with a one-line reason.
 */
int oci_parse_index(const char *json, size_t len, struct oci_desc *out, char *why,
		    size_t why_len) __attribute__((warn_unused_result));

/* Parse an image manifest. 0 or -EINVAL / -EPROTO with a reason. */
int oci_parse_manifest(const char *json, size_t len, struct oci_manifest *m, char *why,
		       size_t why_len) __attribute__((warn_unused_result));

/* Parse an image config; refuses images for another os or architecture.
 * Free with oci_config_free. 0 or -EINVAL / -EPROTO with a reason. */
int oci_parse_config(const char *json, size_t len, struct oci_image_config *c, char *why,
		     size_t why_len) __attribute__((warn_unused_result));
void oci_config_free(struct oci_image_config *c);

/* Parse `docker save`'s manifest.json (its first image). Free with
 * oci_docker_save_free. 0 or -EINVAL with a reason. */
int oci_parse_docker_save(const char *json, size_t len, struct docker_save_entry *e,
			  char *why, size_t why_len) __attribute__((warn_unused_result));
void oci_docker_save_free(struct docker_save_entry *e);

/*
 * The job's argv, as `docker run`: the entrypoint (the image's, or
 * `entrypoint` when set: "" clears it, anything else replaces it and drops
 * the image's Cmd) followed by the command line's arguments when
 * cli_argc > 0, else the image's Cmd. A new NULL-terminated vector of
 * borrowed strings in *argv_out (free only the vector). -ENOENT when the
 * result is empty, -ENOMEM.
 */
int oci_job_argv(const struct oci_image_config *c, const char *entrypoint, int cli_argc,
		 char **cli_argv, char ***argv_out, int *argc_out)
	__attribute__((warn_unused_result));

/* True when the NULL-terminated env vector sets PATH. */
bool oci_env_has_path(char *const *env);

#endif
