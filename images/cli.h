/* SPDX-License-Identifier: MIT */
/*
 * The command line of the image store: `cocoon image ...`, and the part of
 * `cocoon run` that turns an image name into a root filesystem and a job.
 */
#ifndef COCOON_IMAGES_CLI_H
#define COCOON_IMAGES_CLI_H

#include <limits.h>
#include <stddef.h>

#include "config.h"
#include "oci.h"

/* What a run borrows from its image; alive until image_run_free. */
struct image_run {
	char rootfs[PATH_MAX];
	struct oci_image_config config;
	char **argv;
};

/*
 * `cocoon run [OPTIONS] NAME[:TAG] [--] [CMD...]`: when no --rootfs was given
 * and the command did not follow "--", the first positional argument names
 * an image if it contains ':' or '/' (and does not start with '/' or '.'),
 * or if NAME:latest is in the store. Then cfg gets the image's root and its
 * config applied as `docker run` applies it (Entrypoint + Cmd, Env under -e,
 * WorkingDir under -w, User under -u). Returns 1 (image applied), 0 (no
 * image: cfg untouched), or -errno with a one-line reason (e.g. an unknown
 * name that can only be an image).
 */
int image_prepare_run(struct vm_config *cfg, struct image_run *r, char *why, size_t why_len)
	__attribute__((warn_unused_result));
void image_run_free(struct image_run *r);

/* `cocoon image SUBCOMMAND ...` (argv[0] is "image"): the exit status. */
int image_main(int argc, char **argv);

#endif
