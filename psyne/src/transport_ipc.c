/* SPDX-License-Identifier: MIT */
/*
 * ipc://NAME: a ring in a sealed memfd shared by processes of one machine, found by name
 * without a daemon and without a file.
 *
 * Names live in the abstract unix-socket namespace (abstract.h), which the kernel cleans up
 * when the last socket closes, however its owner died. Every handle binds a socket named
 *
 *   psyne/1/<uid>/<NAME>/m/<pid>/<fd>
 *
 * where <fd> is the handle's memfd in process <pid>. A newcomer lists the kernel's unix
 * sockets (/proc/net/unix), opens /proc/<pid>/fd/<fd> of the first live member and maps
 * the same memory. Creation is serialized by binding psyne/1/<uid>/<NAME>/lock, so two
 * processes cannot both create a ring for one name. When the last member exits or is
 * killed its memfd, its mapping and its socket go with it: nothing remains anywhere.
 *
 * Reaching another process's fd through /proc needs the same uid (and a dumpable process),
 * which is also exactly who may share the channel; the memfd's owner is checked too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abstract.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "ring_channel.h"

#define IPC_DEFAULT_CAPACITY (1u << 20)
#define IPC_LOCK_TIMEOUT_MS 5000
#define IPC_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* The common prefix of a channel's socket names, without the leading NUL. */
static void name_prefix(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "psyne/1/%u/%s/", (unsigned)geteuid(), name);
}

/* Takes the creation lock of a name: the holder's socket, released by closing it. */
static int take_lock(const char *prefix)
{
	uint64_t deadline = deadline_from_timeout_ms(IPC_LOCK_TIMEOUT_MS);

	for (;;) {
		int fd = psyne__abstract_bind("%slock", prefix);

		if (fd != -EADDRINUSE)
			return fd;
		if (deadline_passed(deadline))
			return -ETIMEDOUT;
		/* Held for the few syscalls of an open: a short sleep is the whole wait. */
		(void)nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 }, NULL);
	}
}

struct segment {
	int fd;
	void *mem;
	uint64_t size;
};

static void segment_done(struct segment *s)
{
	if (s->mem && s->mem != MAP_FAILED)
		(void)munmap(s->mem, s->size);
	s->mem = NULL;
	s->fd = safe_close(s->fd);
}

static int segment_map(struct segment *s, uint64_t size)
{
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd, 0);

	if (mem == MAP_FAILED)
		return -errno;
	s->mem = mem;
	s->size = size;
	return 0;
}

/*
 * Opens the segment of a member found in /proc/net/unix. -ENOENT and friends mean "this
 * member is gone, try another"; -EEXIST, -EPROTO and -EPROTONOSUPPORT are the channel's
 * answer and final.
 */
static int segment_attach(struct segment *s, pid_t pid, int memfd, const char *name, uint32_t mode,
			  uint64_t capacity)
{
	char path[64];
	struct stat st;
	int seals, r;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, memfd);
	s->fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (s->fd < 0)
		return -errno;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return -ENOENT; /* not what the name says it is */

	/* Unsealed, a peer could shrink it under our mapping and turn reads into SIGBUS. */
	seals = fcntl(s->fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EPROTO;
	if (st.st_size < (off_t)PSYNE_RING_DATA_OFFSET ||
	    (uint64_t)st.st_size > psyne__ring_region_size(PSYNE_RING_MAX_CAPACITY))
		return -EPROTO;

	r = segment_map(s, (uint64_t)st.st_size);
	if (r < 0)
		return r;
	return psyne__ring_check(s->mem, s->size, name, mode, capacity);
}

static int segment_create(struct segment *s, const char *name, uint32_t mode, uint64_t capacity)
{
	char label[PSYNE_RING_NAME_MAX + 8];
	uint64_t size;
	int r;

	if (mode == UINT32_MAX)
		mode = PSYNE_MODE_SPSC;
	if (capacity == 0)
		capacity = IPC_DEFAULT_CAPACITY;
	size = psyne__ring_region_size(capacity);

	snprintf(label, sizeof(label), "psyne:%s", name);
	s->fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd < 0)
		return -errno;
	if (ftruncate(s->fd, (off_t)size) < 0)
		return -errno;
	if (fcntl(s->fd, F_ADD_SEALS, IPC_SEALS) < 0)
		return -errno;
	r = segment_map(s, size);
	if (r < 0)
		return r;
	return psyne__ring_format(s->mem, s->size, name, mode, capacity);
}

/* Parses "<pid>/<fd>" after the member prefix of a /proc/net/unix path. */
static bool parse_member(const char *s, pid_t *ret_pid, int *ret_fd)
{
	char *end;
	long pid, fd;

	errno = 0;
	pid = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '/' || pid <= 0 || pid > INT32_MAX)
		return false;
	s = end + 1;
	fd = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != 0 || fd < 0 || fd > INT32_MAX)
		return false;
	*ret_pid = (pid_t)pid;
	*ret_fd = (int)fd;
	return true;
}

/* Looks for a live member of the channel and attaches to its segment; -ENOENT if none. */
static int segment_find(struct segment *s, const char *prefix, const char *name, uint32_t mode,
			uint64_t capacity)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[512], member[160];
	size_t n;

	snprintf(member, sizeof(member), "@%sm/", prefix);
	n = strlen(member);

	f = fopen("/proc/net/unix", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *path;
		pid_t pid;
		int fd, r;

		line[strcspn(line, "\n")] = 0;
		path = strrchr(line, ' ');
		if (!path || strncmp(path + 1, member, n) != 0)
			continue;
		if (!parse_member(path + 1 + n, &pid, &fd))
			continue;

		r = segment_attach(s, pid, fd, name, mode, capacity);
		if (r >= 0)
			return 0;
		segment_done(s);
		if (r == -EEXIST || r == -EPROTO || r == -EPROTONOSUPPORT)
			return r;
	}
	return -ENOENT;
}

static void ipc_close(struct psyne_channel *ch)
{
	struct ring_channel *c = (struct ring_channel *)ch;

	if (!c)
		return;
	psyne__ring_leave(&c->ring);
	if (c->region)
		(void)munmap(c->region, c->region_size);
	(void)safe_close(c->memfd);
	(void)safe_close(c->member_fd);
	free(c);
}

static int ipc_open(struct psyne_uri *uri, struct psyne_channel **ret_channel)
{
	_cleanup_(segment_done) struct segment seg = { .fd = -EBADF };
	_cleanup_free_ struct ring_channel *c = NULL;
	_cleanup_close_ int lock = -EBADF;
	char prefix[128];
	uint32_t mode;
	uint64_t capacity;
	int r;

	r = psyne__uri_ring_name(uri);
	if (r < 0)
		return r;
	r = psyne__uri_ring_options(uri, &mode, &capacity);
	if (r < 0)
		return r;
	name_prefix(prefix, sizeof(prefix), uri->address);

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &psyne__transport_ipc;
	c->memfd = -EBADF;
	c->member_fd = -EBADF;

	lock = take_lock(prefix);
	if (lock < 0)
		return lock;
	r = segment_find(&seg, prefix, uri->address, mode, capacity);
	if (r == -ENOENT)
		r = segment_create(&seg, uri->address, mode, capacity);
	if (r < 0)
		return r;

	r = psyne__ring_join(&c->ring, seg.mem, seg.size, true);
	if (r < 0)
		return r;
	c->region = TAKE_PTR(seg.mem);
	c->region_size = seg.size;
	c->memfd = TAKE_FD(seg.fd);

	/* Published last: a newcomer that finds us finds a joined, formatted segment. */
	r = psyne__abstract_bind("%sm/%d/%d", prefix, (int)getpid(), c->memfd);
	if (r < 0) {
		ipc_close(&TAKE_PTR(c)->base);
		return r;
	}
	c->member_fd = r;
	*ret_channel = &TAKE_PTR(c)->base;
	return 0;
}

const struct psyne_transport psyne__transport_ipc = {
	.scheme = "ipc",
	.open = ipc_open,
	.close = ipc_close,
	PSYNE_RING_CHANNEL_OPS,
};
