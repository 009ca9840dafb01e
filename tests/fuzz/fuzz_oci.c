/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the OCI / Docker JSON parsers (index, manifest, image config,
 * `docker save` manifest.json) on arbitrary bytes, and the argv the job gets
 * from a config that parsed (Entrypoint/Cmd combined with an override and
 * command-line arguments, chosen by the first byte).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct oci_manifest m;
	static int ready;
	struct oci_desc d;
	struct oci_image_config c;
	struct docker_save_entry e;
	enum oci_compression comp;
	char why[256];
	const char *json;
	size_t len;
	uint8_t mode;

	if (!ready) {
		log_set_level(LOG_ERROR);
		ready = 1;
	}
	if (size < 1)
		return 0;
	mode = data[0];
	json = (const char *)data + 1;
	len = size - 1;

	(void)oci_parse_index(json, len, &d, why, sizeof(why));
	if (oci_parse_manifest(json, len, &m, why, sizeof(why)) == 0) {
		if (m.nlayers > OCI_MAX_LAYERS)
			abort();
		for (size_t i = 0; i < m.nlayers; i++)
			(void)oci_layer_compression(m.layers[i].media_type, &comp);
		(void)oci_is_index_type(m.config.media_type);
		(void)oci_is_manifest_type(m.config.media_type);
	}
	memset(&e, 0, sizeof(e));
	if (oci_parse_docker_save(json, len, &e, why, sizeof(why)) == 0)
		oci_docker_save_free(&e);
	memset(&c, 0, sizeof(c));
	if (oci_parse_config(json, len, &c, why, sizeof(why)) == 0) {
		static char a0[] = "cli0", a1[] = "cli1";
		char *cli[] = { a0, a1, NULL };
		const char *ep = (mode & 3) == 0 ? NULL : (mode & 3) == 1 ? "" : "/ep";
		int cli_argc = (mode >> 2) % 3;
		char **argv = NULL;
		int argc = 0;

		if (oci_job_argv(&c, ep, cli_argc, cli, &argv, &argc) == 0) {
			if (!argv || argc <= 0 || argv[argc])
				abort();
			for (int i = 0; i < argc; i++)
				if (!argv[i])
					abort();
			free(argv);
		}
		(void)oci_env_has_path(c.env);
		oci_config_free(&c);
	}
	return 0;
}
