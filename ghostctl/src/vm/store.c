/* SPDX-License-Identifier: MIT */
/* Profiles on disk; see store.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "qemu.h"
#include "settings.h"
#include "store.h"

char *gc_vm_dir(const struct gc_settings *s, const char *name)
{
	char *d;

	if (asprintf(&d, "%s/%s", gc_settings_get(s, GC_SETTING_VM_DIR), name) < 0)
		return NULL;
	return d;
}

static char *profile_path(const struct gc_settings *s, const char *name)
{
	char *d;

	if (asprintf(&d, "%s/%s/vm.ini", gc_settings_get(s, GC_SETTING_VM_DIR), name) < 0)
		return NULL;
	return d;
}

bool gc_vm_exists(const struct gc_settings *s, const char *name)
{
	_cleanup_free_ char *path = profile_path(s, name);

	return path && access(path, F_OK) == 0;
}

int gc_mkdir_p(const char *path, bool private_dir)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, private_dir ? 0700 : 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (c == '\0')
			return 0;
	}
}

static int write_and_sync(int fd, const char *data, size_t size)
{
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, data + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

int gc_write_file_atomic(const char *path, const char *data, size_t size)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_and_sync(fd, data, size);
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp); /* best effort: the error that matters is r */
	return r;
}

int gc_vm_load(const struct gc_settings *s, const char *name, struct gc_vm_profile *p)
{
	_cleanup_free_ char *path = profile_path(s, name), *text = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	char err[512];
	size_t size = 0;
	int r;

	if (!path)
		return log_oom();
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT)
			return r;
		return log_error_errno(r, "Failed to open '%s': %m", path);
	}
	/* Read the whole file (bounded) and hand it to the parser. */
	text = malloc((1u << 20) + 1);
	if (!text)
		return log_oom();
	size = fread(text, 1, 1u << 20, f);
	if (ferror(f))
		return log_error_errno(EIO, "Failed to read '%s': %m", path);
	if (size == 1u << 20 && fgetc(f) != EOF) {
		log_error("%s: larger than 1 MiB, not a profile", path);
		return -EFBIG;
	}
	text[size] = '\0';
	if (strlen(text) != size) {
		log_error("%s: contains a NUL byte, not a profile", path);
		return -EINVAL;
	}
	r = gc_vm_profile_parse(p, name, text, err, sizeof(err));
	if (r < 0) {
		gc_vm_profile_done(p);
		if (r == -ENOMEM)
			return log_oom();
		/* Parse errors start with the line number; validation errors do not. */
		if (err[0] >= '0' && err[0] <= '9')
			log_error("%s:%s", path, err);
		else
			log_error("%s: %s", path, err);
		return r;
	}
	return 0;
}

int gc_vm_save(const struct gc_settings *s, const struct gc_vm_profile *p)
{
	_cleanup_free_ char *dir = gc_vm_dir(s, p->name), *path = profile_path(s, p->name);
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	FILE *f;
	int r;

	if (!dir || !path)
		return log_oom();
	r = gc_mkdir_p(dir, false);
	if (r < 0)
		return log_error_errno(r, "Failed to create '%s': %m", dir);
	f = open_memstream(&buf, &size);
	if (!f)
		return log_oom();
	r = gc_vm_profile_write(p, f);
	if (fclose(f) != 0 || r < 0)
		return log_oom();
	r = gc_write_file_atomic(path, buf, size);
	if (r < 0)
		return log_error_errno(r, "Failed to write '%s': %m", path);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int gc_vm_list_names(const struct gc_settings *s, char ***ret)
{
	const char *base = gc_settings_get(s, GC_SETTING_VM_DIR);
	_cleanup_closedir_ DIR *d = opendir(base);
	char **v = calloc(1, sizeof(char *));
	size_t n = 0;
	struct dirent *de;

	if (!v)
		return -ENOMEM;
	if (!d) {
		if (errno == ENOENT) {
			*ret = v;
			return 0;
		}
		int r = -errno;

		free(v);
		return r;
	}
	while ((de = readdir(d))) {
		char **nv;

		if (!gc_vm_name_is_valid(de->d_name) || !gc_vm_exists(s, de->d_name))
			continue;
		nv = realloc(v, (n + 2) * sizeof(char *));
		if (!nv) {
			gc_strv_free(v);
			return -ENOMEM;
		}
		v = nv;
		v[n] = strdup(de->d_name);
		v[++n] = NULL;
		if (!v[n - 1]) {
			gc_strv_free(v);
			return -ENOMEM;
		}
	}
	qsort(v, n, sizeof(char *), cmp_str);
	*ret = v;
	return 0;
}
