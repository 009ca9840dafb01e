/* SPDX-License-Identifier: MIT */
#include "store.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>

#include "layer.h"
#include "log.h"
#include "oci.h"

extern char **environ;


void store_init(struct store *s)
{
	snprintf(s->root, sizeof(s->root), "%s", config_home());
}

int store_normalize_name(const char *in, char *out, size_t size)
{
	const char *slash = strrchr(in, '/');
	const char *tail = slash ? slash + 1 : in;
	int n;

	if (!*in || !*tail || in[0] == '/' || in[0] == '.')
		return -EINVAL;
	for (const char *p = in; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f)
			return -EINVAL;
	n = snprintf(out, size, "%s%s", in, strchr(tail, ':') ? "" : ":latest");
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int store_image_file(const struct store *s, const char *digest, const char *file, char *buf,
		     size_t size)
{
	int n = snprintf(buf, size, "%s/images/%s%s%s", s->root, digest_hex(digest),
			 *file ? "/" : "", file);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Read a whole regular file at fd (at most max bytes), NUL-terminated. */
static int read_all_fd(int fd, size_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *b;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	b = malloc((size_t)st.st_size + 1);
	if (!b)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;

			free(b);
			return e;
		}
		got += (size_t)n;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

int store_read_file(int dirfd, const char *path, size_t max, char **buf, size_t *len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;

	if (fd < 0)
		return -errno;
	ret = read_all_fd(fd, max, buf, len);
	close(fd);
	return ret;
}

static int write_file_at(int dirfd, const char *path, const void *data, size_t len)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	const char *p = data;
	int ret = 0;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void store_rm_rf(const char *path)
{
	/* Layers may hold directories without write or search permission. */
	nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- refs.json, under the lock ------------------------------------------- */

static int lock_store(const struct store *s, char *why, size_t why_len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/lock", s->root);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return why_fail(why, why_len, -errno, "image store: %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			int e = errno;

			close(fd);
			return why_fail(why, why_len, -e, "image store: lock %s: %s", path, strerror(e));
		}
	}
	return fd;
}

static void unlock_store(int fd)
{
	close(fd); /* drops the flock */
}

/* refs.json as a JSON object (an empty one when the file is absent). */
static struct json_object *load_refs(const struct store *s, int *err)
{
	char path[PATH_MAX];
	char *buf;
	size_t len;
	struct json_object *o;
	int ret;

	*err = 0;
	snprintf(path, sizeof(path), "%s/refs.json", s->root);
	ret = store_read_file(AT_FDCWD, path, 16u << 20, &buf, &len);
	if (ret == -ENOENT)
		return json_object_new_object();
	if (ret) {
		*err = ret;
		return NULL;
	}
	o = json_tokener_parse(buf);
	free(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*err = -EBADMSG;
		return NULL;
	}
	return o;
}

static int save_refs(const struct store *s, struct json_object *refs)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	const char *text = json_object_to_json_string_ext(refs, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	int ret;

	snprintf(path, sizeof(path), "%s/refs.json", s->root);
	snprintf(tmp, sizeof(tmp), "%s/refs.json.tmp", s->root);
	ret = write_file_at(AT_FDCWD, tmp, text, strlen(text));
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int store_lookup(const struct store *s, const char *name, char digest[DIGEST_STR_LEN + 1])
{
	char norm[256];
	struct json_object *refs, *v;
	int err;

	if (store_normalize_name(name, norm, sizeof(norm)))
		return -ENOENT;
	refs = load_refs(s, &err);
	if (!refs)
		return err;
	if (!json_object_object_get_ex(refs, norm, &v) || !json_object_is_type(v, json_type_string) ||
	    !digest_valid(json_object_get_string(v))) {
		json_object_put(refs);
		return -ENOENT;
	}
	memcpy(digest, json_object_get_string(v), DIGEST_STR_LEN + 1);
	json_object_put(refs);
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	return strcmp(((const struct store_ref *)a)->name, ((const struct store_ref *)b)->name);
}

int store_list(const struct store *s, struct store_ref **out, size_t *n)
{
	struct json_object *refs;
	struct store_ref *r;
	size_t k = 0;
	int err;

	refs = load_refs(s, &err);
	if (!refs)
		return err;
	r = calloc((size_t)json_object_object_length(refs) + 1, sizeof(*r));
	if (!r) {
		json_object_put(refs);
		return -ENOMEM;
	}
	json_object_object_foreach(refs, key, val) {
		if (!json_object_is_type(val, json_type_string) ||
		    !digest_valid(json_object_get_string(val)) || strlen(key) >= sizeof(r->name))
			continue;
		snprintf(r[k].name, sizeof(r[k].name), "%s", key);
		memcpy(r[k].digest, json_object_get_string(val), DIGEST_STR_LEN + 1);
		k++;
	}
	json_object_put(refs);
	qsort(r, k, sizeof(*r), cmp_ref);
	*out = r;
	*n = k;
	return 0;
}

int store_remove(struct store *s, const char *name, bool *image_removed, char *why,
		 size_t why_len)
{
	char norm[256], dir[PATH_MAX], digest[DIGEST_STR_LEN + 1];
	struct json_object *refs, *v;
	bool other = false;
	int lock, ret, err;

	*image_removed = false;
	if (store_normalize_name(name, norm, sizeof(norm)))
		return why_fail(why, why_len, -ENOENT, "image %s: not found (cocoon image ls)", name);
	if (access(s->root, F_OK))
		return why_fail(why, why_len, -ENOENT, "image %s: not found (cocoon image ls)", name);
	lock = lock_store(s, why, why_len);
	if (lock < 0)
		return lock;
	refs = load_refs(s, &err);
	if (!refs) {
		ret = why_fail(why, why_len, err, "image store: %s/refs.json: %s", s->root,
			   strerror(-err));
		goto out;
	}
	if (!json_object_object_get_ex(refs, norm, &v) || !json_object_is_type(v, json_type_string) ||
	    !digest_valid(json_object_get_string(v))) {
		ret = why_fail(why, why_len, -ENOENT, "image %s: not found (cocoon image ls)", name);
		goto out_refs;
	}
	memcpy(digest, json_object_get_string(v), DIGEST_STR_LEN + 1);
	json_object_object_del(refs, norm);
	json_object_object_foreach(refs, key, val) {
		(void)key;
		if (json_object_is_type(val, json_type_string) &&
		    strcmp(json_object_get_string(val), digest) == 0)
			other = true;
	}
	ret = save_refs(s, refs);
	if (ret) {
		why_fail(why, why_len, ret, "image store: writing refs.json: %s", strerror(-ret));
		goto out_refs;
	}
	if (!other && !store_image_file(s, digest, "", dir, sizeof(dir))) {
		/* A running VM keeps its open rootfs.erofs: unlinking is safe. */
		store_rm_rf(dir);
		*image_removed = true;
	}
out_refs:
	json_object_put(refs);
out:
	unlock_store(lock);
	return ret;
}

/* ---- import ----------------------------------------------------------------- */

struct import {
	struct store *s;
	const struct store_import_opts *o;
	char work[2200]; /* tmp/import.XXXXXX, under the store root */
	int work_fd;
	char *why;
	size_t why_len;
};

static const char *short_digest(const char *d, char buf[32])
{
	snprintf(buf, 32, "sha256:%.12s", digest_hex(d));
	return buf;
}

/* Open path under src and verify it against (digest, size). The fd or -errno. */
static int open_verified(struct import *im, int src_fd, const char *path, const char *digest,
			 uint64_t size, const char *what)
{
	char sd[32];
	struct stat st;
	int fd, ret;

	fd = openat(src_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ELOOP)
			return why_fail(im->why, im->why_len, -ENOENT,
				    "image: %s blob %s is missing from the image", what,
				    short_digest(digest, sd));
		return why_fail(im->why, im->why_len, ret, "image: %s blob %s: %s", what,
			    short_digest(digest, sd), strerror(-ret));
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return why_fail(im->why, im->why_len, -EINVAL, "image: %s blob %s is not a regular file",
			    what, short_digest(digest, sd));
	}
	if ((uint64_t)st.st_size != size) {
		close(fd);
		return why_fail(im->why, im->why_len, -EBADMSG,
			    "image: blob %s has %llu bytes, its descriptor says %llu",
			    short_digest(digest, sd), (unsigned long long)st.st_size,
			    (unsigned long long)size);
	}
	ret = digest_check_fd(fd, digest, size);
	if (ret) {
		close(fd);
		if (ret == -EBADMSG || ret == -EMSGSIZE)
			return why_fail(im->why, im->why_len, -EBADMSG,
				    "image: blob %s does not match its digest",
				    short_digest(digest, sd));
		return why_fail(im->why, im->why_len, ret, "image: blob %s: %s",
			    short_digest(digest, sd), strerror(-ret));
	}
	return fd;
}

static int read_verified(struct import *im, int src_fd, const char *path, const char *digest,
			 uint64_t size, const char *what, char **buf, size_t *len)
{
	int fd, ret;
	char sd[32];

	if (size > OCI_JSON_MAX)
		return why_fail(im->why, im->why_len, -EFBIG, "image: %s blob %s: larger than %u bytes",
			    what, short_digest(digest, sd), OCI_JSON_MAX);
	fd = open_verified(im, src_fd, path, digest, size, what);
	if (fd < 0)
		return fd;
	ret = read_all_fd(fd, OCI_JSON_MAX, buf, len);
	close(fd);
	if (ret)
		return why_fail(im->why, im->why_len, ret, "image: %s blob %s: %s", what,
			    short_digest(digest, sd), strerror(-ret));
	return 0;
}

static int blob_path(const char *digest, char *buf, size_t size)
{
	return snprintf(buf, size, "blobs/sha256/%s", digest_hex(digest)) >= (int)size ? -1 : 0;
}

static int run_mkfs(struct import *im, const char *out, const char *dir)
{
	char *argv[] = { "mkfs.erofs", "--quiet", "-T0", (char *)out, (char *)dir, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, ret;

	posix_spawn_file_actions_init(&fa);
	/* Its banner goes nowhere; its errors stay on stderr. */
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	ret = posix_spawnp(&pid, "mkfs.erofs", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		return why_fail(im->why, im->why_len, -ret,
			    "image: cannot run mkfs.erofs: %s (package erofs-utils)", strerror(ret));
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return why_fail(im->why, im->why_len, -errno, "image: mkfs.erofs: %s",
				    strerror(errno));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return why_fail(im->why, im->why_len, -EIO, "image: mkfs.erofs failed (status %d)",
			    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

/* Make NAME[:TAG] name digest; under the lock. */
static int set_ref(struct import *im, const char *name, const char *digest)
{
	struct json_object *refs;
	int err, ret;

	refs = load_refs(im->s, &err);
	if (!refs)
		return why_fail(im->why, im->why_len, err, "image store: %s/refs.json: %s", im->s->root,
			    strerror(-err));
	json_object_object_add(refs, name, json_object_new_string(digest));
	ret = save_refs(im->s, refs);
	json_object_put(refs);
	if (ret)
		return why_fail(im->why, im->why_len, ret, "image store: writing refs.json: %s",
			    strerror(-ret));
	return 0;
}

/* images/<hex> exists, with its rootfs. */
static bool have_image(const struct store *s, const char *digest)
{
	char p[PATH_MAX];

	return !store_image_file(s, digest, "rootfs.erofs", p, sizeof(p)) && access(p, R_OK) == 0;
}

/* Point the ref at an image already in the store. 0, -EAGAIN when it has
 * gone meanwhile (a concurrent rm), or -errno. */
static int commit_ref_only(struct import *im, const char *name, const char *digest)
{
	int lock = lock_store(im->s, im->why, im->why_len), ret;

	if (lock < 0)
		return lock;
	ret = have_image(im->s, digest) ? set_ref(im, name, digest) : -EAGAIN;
	unlock_store(lock);
	return ret;
}

struct layer_src {
	char path[512];         /* relative to the source directory */
	struct oci_desc desc;   /* digest, size, media type */
};

/*
 * Build images/<hex> from verified manifest and config bytes and the layer
 * blobs under src_fd (each verified before use), then commit it and the ref.
 */
static int build_image(struct import *im, int src_fd, const char *name, const char *mdigest,
		       const char *manifest, size_t mlen, const char *config_path,
		       const struct oci_desc *config_desc, const struct layer_src *layers,
		       size_t nlayers)
{
	struct oci_image_config cfg;
	struct layer_limits lim;
	struct layer_stats st = { 0 };
	char *config = NULL, path[PATH_MAX], dst[PATH_MAX], sd[32];
	size_t clen;
	int root_fd = -1, lock, ret;
	uint64_t total = 0;

	if (have_image(im->s, mdigest)) {
		ret = commit_ref_only(im, name, mdigest);
		if (ret != -EAGAIN)
			return ret;
	}
	ret = read_verified(im, src_fd, config_path, config_desc->digest, config_desc->size,
			    "config", &config, &clen);
	if (ret)
		return ret;
	ret = oci_parse_config(config, clen, &cfg, im->why, im->why_len);
	if (ret)
		goto out;
	oci_config_free(&cfg);

	if (mkdirat(im->work_fd, "rootfs", 0755) || mkdirat(im->work_fd, "image", 0755)) {
		ret = why_fail(im->why, im->why_len, -errno, "image: %s: %s", im->work, strerror(errno));
		goto out;
	}
	root_fd = openat(im->work_fd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		ret = why_fail(im->why, im->why_len, -errno, "image: %s/rootfs: %s", im->work,
			   strerror(errno));
		goto out;
	}
	layer_default_limits(&lim);
	for (size_t i = 0; i < nlayers; i++) {
		char lname[96];
		int fd;

		if (im->o->progress)
			fprintf(stderr, "layer %zu/%zu %s: verifying %llu bytes\n", i + 1, nlayers,
				short_digest(layers[i].desc.digest, sd),
				(unsigned long long)layers[i].desc.size);
		fd = open_verified(im, src_fd, layers[i].path, layers[i].desc.digest,
				   layers[i].desc.size, "layer");
		if (fd < 0) {
			ret = fd;
			goto out;
		}
		snprintf(lname, sizeof(lname), "%s (%zu of %zu)",
			 short_digest(layers[i].desc.digest, sd), i + 1, nlayers);
		ret = layer_apply(root_fd, fd, lname, &lim, &st, im->why, im->why_len);
		close(fd);
		if (ret) {
			if (strncmp(im->why, "image: ", 7) != 0) {
				char tmp[512];

				snprintf(tmp, sizeof(tmp), "%s", im->why);
				why_fail(im->why, im->why_len, ret, "image: %s", tmp);
			}
			goto out;
		}
		total += layers[i].desc.size;
	}
	if (im->o->progress)
		fprintf(stderr, "applied %zu layers (%llu bytes, %llu entries); building erofs\n",
			nlayers, (unsigned long long)total, (unsigned long long)st.entries);
	snprintf(path, sizeof(path), "%s/image/rootfs.erofs", im->work);
	snprintf(dst, sizeof(dst), "%s/rootfs", im->work);
	ret = run_mkfs(im, path, dst);
	if (ret)
		goto out;
	ret = write_file_at(im->work_fd, "image/config.json", config, clen);
	if (!ret)
		ret = write_file_at(im->work_fd, "image/manifest.json", manifest, mlen);
	if (ret) {
		why_fail(im->why, im->why_len, ret, "image: writing %s/image: %s", im->work,
		     strerror(-ret));
		goto out;
	}

	lock = lock_store(im->s, im->why, im->why_len);
	if (lock < 0) {
		ret = lock;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/image", im->work);
	if (store_image_file(im->s, mdigest, "", dst, sizeof(dst)) == 0 && rename(path, dst) &&
	    errno != EEXIST && errno != ENOTEMPTY) {
		/* EEXIST/ENOTEMPTY: a concurrent import of the same image won. */
		ret = why_fail(im->why, im->why_len, -errno, "image: rename into %s: %s", dst,
			   strerror(errno));
	}
	if (!ret)
		ret = set_ref(im, name, mdigest);
	unlock_store(lock);
out:
	if (root_fd >= 0)
		close(root_fd);
	free(config);
	return ret;
}

/* The name an image gets: --name, else its ref annotation or RepoTags. A bare
 * tag in the annotation (umoci and skopeo write just "TAG") is combined with
 * the source's file name. */
static int choose_name(struct import *im, const char *src, const char *ref, char out[256])
{
	char buf[512];
	const char *given = im->o->name;

	if (!given && ref && *ref) {
		if (strchr(ref, ':') || strchr(ref, '/')) {
			given = ref;
		} else {
			const char *base = strrchr(src, '/');
			size_t l;

			base = base ? base + 1 : src;
			l = strcspn(base, ".");
			snprintf(buf, sizeof(buf), "%.*s:%s", (int)(l ? l : strlen(base)), base, ref);
			given = buf;
		}
	}
	if (!given)
		return why_fail(im->why, im->why_len, -EINVAL,
			    "image: %s names no image (no ref annotation or RepoTags): use --name NAME:TAG",
			    src);
	if (store_normalize_name(given, out, 256))
		return why_fail(im->why, im->why_len, -EINVAL, "image: '%s' is not a valid name", given);
	return 0;
}

static int import_layout(struct import *im, int src_fd, const char *src, char *name,
			 char *digest)
{
	struct oci_desc desc;
	struct oci_manifest *m = NULL;
	struct layer_src *layers = NULL;
	char *buf = NULL, *mbuf = NULL, path[128];
	size_t len, mlen;
	int ret;

	ret = store_read_file(src_fd, "index.json", OCI_JSON_MAX, &buf, &len);
	if (ret)
		return why_fail(im->why, im->why_len, ret, "image: %s/index.json: %s", src,
			    strerror(-ret));
	ret = oci_parse_index(buf, len, &desc, im->why, im->why_len);
	free(buf);
	if (ret)
		goto prefix;
	ret = choose_name(im, src, desc.ref_name, name);
	if (ret)
		return ret;
	/* A nested index (a manifest list in a layout): at most a few levels. */
	for (int depth = 0; oci_is_index_type(desc.media_type); depth++) {
		if (depth == 4)
			return why_fail(im->why, im->why_len, -ELOOP, "image: indexes nested too deep");
		blob_path(desc.digest, path, sizeof(path));
		ret = read_verified(im, src_fd, path, desc.digest, desc.size, "index", &buf, &len);
		if (ret)
			return ret;
		ret = oci_parse_index(buf, len, &desc, im->why, im->why_len);
		free(buf);
		if (ret)
			goto prefix;
	}
	blob_path(desc.digest, path, sizeof(path));
	ret = read_verified(im, src_fd, path, desc.digest, desc.size, "manifest", &mbuf, &mlen);
	if (ret)
		return ret;
	m = malloc(sizeof(*m));
	layers = calloc(OCI_MAX_LAYERS, sizeof(*layers));
	if (!m || !layers) {
		ret = why_fail(im->why, im->why_len, -ENOMEM, "image: out of memory");
		goto out;
	}
	ret = oci_parse_manifest(mbuf, mlen, m, im->why, im->why_len);
	if (ret) {
		free(layers);
		free(m);
		free(mbuf);
		goto prefix;
	}
	for (size_t i = 0; i < m->nlayers; i++) {
		layers[i].desc = m->layers[i];
		blob_path(m->layers[i].digest, layers[i].path, sizeof(layers[i].path));
	}
	memcpy(digest, desc.digest, DIGEST_STR_LEN + 1);
	blob_path(m->config.digest, path, sizeof(path));
	ret = build_image(im, src_fd, name, desc.digest, mbuf, mlen, path, &m->config, layers,
			  m->nlayers);
out:
	free(layers);
	free(m);
	free(mbuf);
	return ret;
prefix: {
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", im->why);
	return why_fail(im->why, im->why_len, ret, "image: %s: %s", src, tmp);
}
}

/* The digest a `docker save` path encodes: "<hex>.json", "<hex>/layer.tar"
 * or "blobs/sha256/<hex>"; "" when it encodes none. */
static void digest_of_path(const char *p, char out[DIGEST_STR_LEN + 1])
{
	const char *cands[3] = { p, NULL, NULL };
	const char *slash = strrchr(p, '/');

	out[0] = '\0';
	if (slash)
		cands[1] = slash + 1;
	for (int i = 0; i < 3 && cands[i]; i++) {
		char d[DIGEST_STR_LEN + 8];

		snprintf(d, sizeof(d), "sha256:%.64s", cands[i]);
		if (digest_valid(d) && (cands[i][64] == '\0' || cands[i][64] == '.' ||
					cands[i][64] == '/')) {
			memcpy(out, d, DIGEST_STR_LEN + 1);
			return;
		}
	}
}

static int import_docker(struct import *im, int src_fd, const char *src, char *name,
			 char *digest)
{
	struct docker_save_entry e;
	struct oci_image_config cfg = { 0 };
	struct oci_desc cdesc = { 0 };
	struct layer_src *layers = NULL;
	struct json_object *man = NULL, *arr, *d;
	char *buf = NULL, *cbuf = NULL, mdigest[DIGEST_STR_LEN + 1];
	const char *mtext;
	size_t len, clen, n;
	int ret, fd;

	ret = store_read_file(src_fd, "manifest.json", OCI_JSON_MAX, &buf, &len);
	if (ret)
		return why_fail(im->why, im->why_len, ret, "image: %s/manifest.json: %s", src,
			    strerror(-ret));
	ret = oci_parse_docker_save(buf, len, &e, im->why, im->why_len);
	free(buf);
	if (ret)
		return ret;
	ret = choose_name(im, src, e.repo_tag, name);
	if (ret)
		goto out;
	/* The config is named by its digest; the layers by their diff_ids (the
	 * digests of the uncompressed tars, which is what docker save writes). */
	digest_of_path(e.config, cdesc.digest);
	if (!cdesc.digest[0]) {
		ret = why_fail(im->why, im->why_len, -EPROTO,
			   "image: %s: config %s is not named by its digest", src, e.config);
		goto out;
	}
	fd = openat(src_fd, e.config, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		ret = why_fail(im->why, im->why_len, -ENOENT, "image: config blob %s is missing",
			   e.config);
		goto out;
	}
	{
		struct stat st;

		fstat(fd, &st);
		cdesc.size = (uint64_t)st.st_size;
		close(fd);
	}
	snprintf(cdesc.media_type, sizeof(cdesc.media_type), "%s", OCI_MT_CONFIG);
	ret = read_verified(im, src_fd, e.config, cdesc.digest, cdesc.size, "config", &cbuf, &clen);
	if (ret)
		goto out;
	ret = oci_parse_config(cbuf, clen, &cfg, im->why, im->why_len);
	if (ret)
		goto out;
	n = 0;
	while (cfg.diff_ids && cfg.diff_ids[n])
		n++;
	if (n != e.nlayers) {
		ret = why_fail(im->why, im->why_len, -EPROTO,
			   "image: %s: %zu layers but %zu diff_ids in the config", src, e.nlayers, n);
		goto out;
	}
	layers = calloc(n ? n : 1, sizeof(*layers));
	man = json_object_new_object();
	arr = json_object_new_array();
	if (!layers || !man || !arr) {
		json_object_put(arr);
		ret = why_fail(im->why, im->why_len, -ENOMEM, "image: out of memory");
		goto out;
	}
	json_object_object_add(man, "schemaVersion", json_object_new_int(2));
	json_object_object_add(man, "mediaType", json_object_new_string(OCI_MT_MANIFEST));
	d = json_object_new_object();
	json_object_object_add(d, "mediaType", json_object_new_string(OCI_MT_CONFIG));
	json_object_object_add(d, "digest", json_object_new_string(cdesc.digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)cdesc.size));
	json_object_object_add(man, "config", d);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (!digest_valid(cfg.diff_ids[i])) {
			ret = why_fail(im->why, im->why_len, -EPROTO, "image: %s: diff_id %zu is not sha256",
				   src, i);
			goto out;
		}
		snprintf(layers[i].path, sizeof(layers[i].path), "%s", e.layers[i]);
		snprintf(layers[i].desc.digest, sizeof(layers[i].desc.digest), "%s",
			 cfg.diff_ids[i]);
		snprintf(layers[i].desc.media_type, sizeof(layers[i].desc.media_type),
			 "application/vnd.oci.image.layer.v1.tar");
		if (fstatat(src_fd, e.layers[i], &st, AT_SYMLINK_NOFOLLOW)) {
			char sd[32];

			ret = why_fail(im->why, im->why_len, -ENOENT,
				   "image: layer blob %s is missing from the image",
				   short_digest(cfg.diff_ids[i], sd));
			goto out;
		}
		layers[i].desc.size = (uint64_t)st.st_size;
		d = json_object_new_object();
		json_object_object_add(d, "mediaType",
				       json_object_new_string(layers[i].desc.media_type));
		json_object_object_add(d, "digest", json_object_new_string(cfg.diff_ids[i]));
		json_object_object_add(d, "size", json_object_new_int64((int64_t)st.st_size));
		json_object_array_add(arr, d);
	}
	json_object_object_add(man, "layers", arr);
	/* The store is keyed by a manifest digest: that of the OCI manifest this
	 * archive would have, written deterministically. */
	mtext = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	ret = digest_buf(mtext, strlen(mtext), mdigest);
	if (ret) {
		why_fail(im->why, im->why_len, ret, "image: sha256 failed");
		goto out;
	}
	memcpy(digest, mdigest, DIGEST_STR_LEN + 1);
	ret = build_image(im, src_fd, name, mdigest, mtext, strlen(mtext), e.config, &cdesc,
			  layers, n);
out:
	json_object_put(man);
	free(layers);
	free(cbuf);
	oci_config_free(&cfg);
	oci_docker_save_free(&e);
	return ret;
}

/* A path from an archive, made relative and free of "." and "..". */
static int clean_path(const char *in, char *out, size_t size)
{
	size_t k = 0;

	while (*in) {
		const char *end;
		size_t l;

		while (*in == '/')
			in++;
		end = strchrnul(in, '/');
		l = (size_t)(end - in);
		if (l == 2 && in[0] == '.' && in[1] == '.')
			return -EINVAL;
		if (l && !(l == 1 && in[0] == '.')) {
			if (k + l + 2 > size)
				return -ENAMETOOLONG;
			if (k)
				out[k++] = '/';
			memcpy(out + k, in, l);
			k += l;
		}
		in = end;
	}
	out[k] = '\0';
	return 0;
}

/* Create the parent directories of rel under dir_fd (no symlink is ever
 * created there, so plain mkdirat is safe). */
static int make_parents(int dir_fd, const char *rel)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", rel);
	for (char *p = buf; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdirat(dir_fd, buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Extract regular files and directories of a tar into dir_fd. */
static int extract_tar(struct import *im, const char *tarpath, int dir_fd)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	uint64_t total = 0;
	int ret = 0, r;

	if (!a)
		return why_fail(im->why, im->why_len, -ENOMEM, "image: out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, tarpath, 1 << 16) != ARCHIVE_OK) {
		ret = why_fail(im->why, im->why_len, -EINVAL, "image: %s: %s", tarpath,
			   archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		char rel[PATH_MAX];
		mode_t type = archive_entry_filetype(ae);
		const void *blk;
		size_t len;
		la_int64_t off;
		int fd;

		if (clean_path(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "", rel,
			       sizeof(rel))) {
			ret = why_fail(im->why, im->why_len, -EINVAL, "image: %s: entry %.200s: bad path",
				   tarpath, archive_entry_pathname(ae));
			goto out;
		}
		if (!*rel)
			continue;
		if (type != AE_IFREG && type != AE_IFDIR)
			continue; /* an image layout holds no links or devices */
		if (make_parents(dir_fd, rel)) {
			ret = why_fail(im->why, im->why_len, -errno, "image: %s: entry %.200s: %s",
				   tarpath, rel, strerror(errno));
			goto out;
		}
		if (type == AE_IFDIR) {
			if (mkdirat(dir_fd, rel, 0755) && errno != EEXIST) {
				ret = why_fail(im->why, im->why_len, -errno, "image: %s: entry %.200s: %s",
					   tarpath, rel, strerror(errno));
				goto out;
			}
			continue;
		}
		fd = openat(dir_fd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			ret = why_fail(im->why, im->why_len, -errno, "image: %s: entry %.200s: %s",
				   tarpath, rel, strerror(errno));
			goto out;
		}
		while ((r = archive_read_data_block(a, &blk, &len, &off)) == ARCHIVE_OK) {
			if (pwrite(fd, blk, len, off) != (ssize_t)len) {
				r = ARCHIVE_FATAL;
				break;
			}
			total += len;
		}
		close(fd);
		if (r != ARCHIVE_EOF) {
			ret = why_fail(im->why, im->why_len, -EIO, "image: %s: entry %.200s: %s", tarpath,
				   rel, archive_error_string(a) ? archive_error_string(a) : "write failed");
			goto out;
		}
	}
	if (r != ARCHIVE_EOF) {
		ret = why_fail(im->why, im->why_len, -EINVAL, "image: %s: %s", tarpath,
			   archive_error_string(a));
		goto out;
	}
	if (im->o->progress)
		fprintf(stderr, "extracted %llu bytes from %s\n", (unsigned long long)total, tarpath);
out:
	archive_read_free(a);
	return ret;
}

int store_import(struct store *s, const char *src, const struct store_import_opts *o,
		 char digest[DIGEST_STR_LEN + 1], char name[256], char *why, size_t why_len)
{
	struct import im = { .s = s, .o = o, .why = why, .why_len = why_len, .work_fd = -1 };
	char tmp[PATH_MAX];
	struct stat st;
	int src_fd = -1, ret;

	if (stat(src, &st))
		return why_fail(why, why_len, -errno, "image: %s: %s", src, strerror(errno));
	if (snprintf(tmp, sizeof(tmp), "%s/tmp", s->root) >= (int)sizeof(tmp))
		return why_fail(why, why_len, -ENAMETOOLONG, "image store: path too long");
	ret = mkdir_p(tmp);
	if (!ret) {
		snprintf(tmp, sizeof(tmp), "%s/images", s->root);
		ret = mkdir_p(tmp);
	}
	if (ret)
		return why_fail(why, why_len, ret, "image store: %s: %s", tmp, strerror(-ret));
	snprintf(im.work, sizeof(im.work), "%s/tmp/import.XXXXXX", s->root);
	if (!mkdtemp(im.work))
		return why_fail(why, why_len, -errno, "image store: %s: %s", im.work, strerror(errno));
	im.work_fd = open(im.work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im.work_fd < 0) {
		ret = why_fail(why, why_len, -errno, "image store: %s: %s", im.work, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		src_fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		if (mkdirat(im.work_fd, "src", 0700)) {
			ret = why_fail(why, why_len, -errno, "image store: %s/src: %s", im.work,
				   strerror(errno));
			goto out;
		}
		src_fd = openat(im.work_fd, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (src_fd >= 0) {
			ret = extract_tar(&im, src, src_fd);
			if (ret)
				goto out;
		}
	}
	if (src_fd < 0) {
		ret = why_fail(why, why_len, -errno, "image: %s: %s", src, strerror(errno));
		goto out;
	}
	if (faccessat(src_fd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		ret = import_layout(&im, src_fd, src, name, digest);
	else if (faccessat(src_fd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		ret = import_docker(&im, src_fd, src, name, digest);
	else
		ret = why_fail(why, why_len, -EINVAL,
			   "image: %s is neither an OCI image layout (index.json) nor a docker save "
			   "archive (manifest.json)", src);
out:
	if (src_fd >= 0)
		close(src_fd);
	if (im.work_fd >= 0)
		close(im.work_fd);
	store_rm_rf(im.work);
	return ret;
}
