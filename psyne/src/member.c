/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abstract.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "member.h"
#include "uri.h"

#define NONCE_DIGITS_MAX 16u

static bool is_hex(const char *s, size_t n)
{
	if (n == 0 || n > NONCE_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || s[i] == 0)
			return false;
	return true;
}

int psyne__member_parse(const char *path, uid_t uid, struct psyne_member *ret)
{
	const char *p, *slash;
	struct psyne_member m;
	uint32_t v, pid, fd;
	size_t n;

	p = startswith(path, "@psyne/1/");
	if (!p)
		return -EINVAL;
	slash = strchr(p, '/');
	if (!slash || psyne__abstract_parse_number(p, slash, UINT32_MAX, &v) < 0 ||
	    v != (uint32_t)uid)
		return -EINVAL;

	p = slash + 1;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : 0;
	if (n == 0 || n >= sizeof(m.name))
		return -EINVAL;
	memcpy(m.name, p, n);
	m.name[n] = 0;
	if (!psyne__name_is_valid(m.name, PSYNE_RING_NAME_MAX))
		return -EINVAL;

	p = startswith(slash, "/m/");
	if (!p)
		return -EINVAL;
	slash = strchr(p, '/');
	if (!slash || psyne__abstract_parse_number(p, slash, INT32_MAX, &pid) < 0 || pid == 0)
		return -EINVAL;
	p = slash + 1;
	slash = strchr(p, '/');
	if (!slash || psyne__abstract_parse_number(p, slash, INT32_MAX, &fd) < 0)
		return -EINVAL;
	p = slash + 1;
	if (!is_hex(p, strlen(p)))
		return -EINVAL;

	m.pid = (pid_t)pid;
	m.fd = (int)fd;
	*ret = m;
	return 0;
}

/* 64 bits nobody can guess: getrandom(), or, where it is missing, what we have to hand. */
static uint64_t nonce(void)
{
	static _Atomic uint64_t counter;
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	v = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^
	    (uint64_t)(uintptr_t)&v ^ atomic_fetch_add(&counter, 1) * 0xbf58476d1ce4e5b9ull;
	return v;
}

int psyne__member_bind(const char *name, int memfd)
{
	/* A name taken already is another nonce away (it cannot be ours: ours are new). */
	for (unsigned i = 0;; i++) {
		int r = psyne__abstract_bind("psyne/1/%u/%s/m/%d/%d/%" PRIx64, (unsigned)geteuid(),
					     name, (int)getpid(), memfd, nonce());

		if (r != -EADDRINUSE || i == 8)
			return r;
	}
}

struct list_ctx {
	const char *name;
	uid_t uid;
	struct psyne_member *members;
	size_t n, allocated;
};

static int list_add(const char *path, void *userdata)
{
	struct list_ctx *l = userdata;
	struct psyne_member m;

	if (psyne__member_parse(path, l->uid, &m) < 0)
		return 0;
	if (l->name && !streq(l->name, m.name))
		return 0;
	if (l->n == l->allocated) {
		size_t n = MAX(l->allocated * 2, (size_t)16);
		struct psyne_member *members = reallocarray(l->members, n, sizeof(*members));

		if (!members)
			return -ENOMEM;
		l->members = members;
		l->allocated = n;
	}
	l->members[l->n++] = m;
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	const struct psyne_member *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

int psyne__member_list(const char *name, struct psyne_member **ret_members, size_t *ret_n)
{
	struct list_ctx l = { .name = name, .uid = geteuid() };
	int r;

	r = psyne__abstract_for_each(list_add, &l);
	if (r < 0) {
		free(l.members);
		return r;
	}
	if (l.n > 0)
		qsort(l.members, l.n, sizeof(*l.members), member_cmp);
	*ret_members = l.members;
	*ret_n = l.n;
	return 0;
}

int psyne__member_map(const struct psyne_member *m, bool writable, uint64_t min_size,
		      uint64_t max_size, struct psyne_member_map *ret)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	char path[64];
	void *mem;
	int seals;

	/* Look before opening: opening a device or a FIFO someone named here has effects. */
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)m->pid, m->fd);
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return -ENOENT; /* not what the name says it is */

	/* Unsealed, its owner could shrink it under the mapping and turn reads into SIGBUS. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EPROTO;
	if (st.st_size < 0 || (uint64_t)st.st_size < min_size || (uint64_t)st.st_size > max_size)
		return -EPROTO;

	mem = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
		   writable ? MAP_SHARED | MAP_POPULATE : MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	*ret = (struct psyne_member_map){
		.fd = writable ? TAKE_FD(fd) : -EBADF,
		.mem = mem,
		.size = (uint64_t)st.st_size,
		.dev = (uint64_t)st.st_dev,
		.ino = (uint64_t)st.st_ino,
	};
	return 0;
}

void psyne__member_map_done(struct psyne_member_map *map)
{
	if (map->mem && map->mem != MAP_FAILED)
		(void)munmap(map->mem, (size_t)map->size);
	map->mem = NULL;
	map->fd = safe_close(map->fd);
}
