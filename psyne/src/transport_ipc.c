/* SPDX-License-Identifier: MIT */
/*
 * ipc://NAME: a ring in a sealed memfd shared by processes of one machine, found by name
 * without a daemon and without a file.
 *
 * Every handle binds a name in the abstract unix-socket namespace (member.h), which the
 * kernel drops when the socket closes, however its owner died:
 *
 *   psyne/1/<uid>/<NAME>/m/<pid>/<fd>/<nonce>
 *
 * where <fd> is the handle's memfd in process <pid>. A newcomer lists the kernel's unix
 * sockets (/proc/net/unix), opens /proc/<pid>/fd/<fd> of a member and maps the same memory.
 * When the last member exits or is killed its memfd, its mapping and its socket go with it:
 * nothing remains anywhere.
 *
 * The namespace has no permissions: another user can bind any name, ours included, and
 * point it anywhere. So names are only pointers (member.h checks what they lead to), and
 * nothing depends on holding a well-known name: there is no lock to squat. Who creates the
 * segment of a name is settled by an election among the segments the names lead to:
 *
 *   1. Look. A *ready* segment (hdr->ready) is the channel: join it. A segment that is not
 *      ready yet is someone's candidate: wait a little and look again.
 *   2. Nothing there: make a candidate segment, bind our name to it, and look again. Any
 *      other segment of the name now seen (ready or not) means someone raced us: drop ours,
 *      wait a random little while, start over. Otherwise ours is the channel: mark it
 *      ready. Two candidates can both drop out, never both stay: each looks only after its
 *      own name is bound, so the later of the two looks sees the other's name.
 *   3. A joiner binds its name and looks again too: its segment may have lost its last
 *      member while it joined, and a candidate may have been made meanwhile. If no other
 *      member's name leads to our segment and another segment is there, it leaves and
 *      starts over.
 *
 * Reaching another process's fd through /proc needs the same uid (and a dumpable process),
 * which is also exactly who may share the channel; the memfd's owner is checked too. What
 * another user can do is bind names that lead nowhere, or to our own fds: those are skipped
 * after a few system calls each.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "log.h"
#include "member.h"
#include "ring_channel.h"

#define IPC_DEFAULT_CAPACITY (1u << 20)
#define IPC_OPEN_TIMEOUT_MS 5000
#define IPC_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define IPC_BACKOFF_MIN_US 50u
#define IPC_BACKOFF_MAX_SHIFT 6u

static bool is_ready(const struct psyne_member_map *map)
{
	const struct psyne_ring_hdr *hdr = map->mem;

	return atomic_load_explicit((_Atomic uint32_t *)&hdr->ready, memory_order_acquire) != 0;
}

static bool same_file(const struct psyne_member_map *a, uint64_t dev, uint64_t ino)
{
	return a && a->mem && a->dev == dev && a->ino == ino;
}

/* What one look at a name's members found. */
struct look {
	struct psyne_member_map join; /* a ready segment that matches, mapped read-write */
	int refused; /* a segment of the name that is not one we can use: -EEXIST (another mode or
		      * capacity), -EPROTONOSUPPORT (another major version), -EPROTO (corrupt) */
	struct psyne_ring_hdr refused_hdr; /* its header's identity line, for the message */
	unsigned others;		   /* segments of the name other than `own`, ready or not */
	unsigned candidates;		   /* of them, not ready */
	unsigned own_members;		   /* names of other handles that lead to `own` */
};

static void look_done(struct look *l)
{
	psyne__member_map_done(&l->join);
}

/*
 * Looks at the segments the names of channel `name` lead to, skipping our own name
 * (`own_fd`) and whatever is not a segment of that name. With `join`, maps the first ready
 * segment that matches `mode` and `capacity` into l->join.
 */
static int look(const char *name, uint32_t mode, uint64_t capacity, bool join,
		const struct psyne_member_map *own, int own_fd, struct look *ret)
{
	_cleanup_free_ struct psyne_member *members = NULL;
	_cleanup_free_ struct stat *seen = NULL;
	size_t n, n_seen = 0;
	pid_t self = getpid();
	int r;

	*ret = (struct look){ .join = { .fd = -EBADF } };
	r = psyne__member_list(name, &members, &n);
	if (r < 0)
		return r;
	seen = calloc(MAX(n, (size_t)1), sizeof(*seen));
	if (!seen)
		return -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		_cleanup_(psyne__member_map_done) struct psyne_member_map map = { .fd = -EBADF };
		const struct psyne_member *m = &members[i];
		bool known = false;
		struct stat st;
		char path[64];

		if (m->pid == self && m->fd == own_fd)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)m->pid, m->fd);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue; /* gone, or never what the name says */
		if (same_file(own, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) {
			ret->own_members++;
			continue;
		}
		for (size_t j = 0; j < n_seen; j++)
			known |= seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino;
		if (known)
			continue;
		seen[n_seen++] = st;

		if (psyne__member_map(m, false, PSYNE_RING_DATA_OFFSET,
				      psyne__ring_region_size(PSYNE_RING_MAX_CAPACITY), &map) < 0)
			continue;
		if (!psyne__ring_is_named(map.mem, map.size, name))
			continue; /* not a segment of this name */
		ret->others++;
		r = psyne__ring_check(map.mem, map.size, name, UINT32_MAX, 0);
		if (r < 0) {
			ret->refused = r; /* another major version, or corrupt */
			memcpy(&ret->refused_hdr, map.mem, 64);
			continue;
		}
		if (!is_ready(&map)) {
			ret->candidates++;
			continue;
		}
		if (!join || ret->join.mem)
			continue;
		r = psyne__ring_check(map.mem, map.size, name, mode, capacity);
		if (r < 0) {
			ret->refused = r;
			memcpy(&ret->refused_hdr, map.mem, 64);
			continue;
		}
		psyne__member_map_done(&map);
		if (psyne__member_map(m, true, PSYNE_RING_DATA_OFFSET,
				      psyne__ring_region_size(PSYNE_RING_MAX_CAPACITY),
				      &ret->join) < 0)
			ret->join = (struct psyne_member_map){ .fd = -EBADF };
	}
	return 0;
}

/* A new, unready segment in a sealed memfd, mapped read-write. */
static int candidate_create(const char *name, uint32_t mode, uint64_t capacity,
			    struct psyne_member_map *ret)
{
	_cleanup_(psyne__member_map_done) struct psyne_member_map map = { .fd = -EBADF };
	char label[PSYNE_RING_NAME_MAX + 8];
	struct stat st;
	void *mem;
	int r;

	if (mode == UINT32_MAX)
		mode = PSYNE_MODE_SPSC;
	if (capacity == 0)
		capacity = IPC_DEFAULT_CAPACITY;
	map.size = psyne__ring_region_size(capacity);

	snprintf(label, sizeof(label), "psyne:%s", name);
	map.fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (map.fd < 0)
		return -errno;
	if (ftruncate(map.fd, (off_t)map.size) < 0)
		return -errno;
	if (fcntl(map.fd, F_ADD_SEALS, IPC_SEALS) < 0)
		return -errno;
	if (fstat(map.fd, &st) < 0)
		return -errno;
	map.dev = (uint64_t)st.st_dev;
	map.ino = (uint64_t)st.st_ino;
	mem = mmap(NULL, map.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, map.fd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	map.mem = mem;
	r = psyne__ring_format(map.mem, map.size, name, mode, capacity);
	if (r < 0)
		return r;
	*ret = map;
	map = (struct psyne_member_map){ .fd = -EBADF };
	return 0;
}

/* A random pause before the next look, longer after each lost race. */
static void backoff(unsigned attempt)
{
	uint32_t max_us = IPC_BACKOFF_MIN_US << MIN(attempt, IPC_BACKOFF_MAX_SHIFT), v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)now_nsec(CLOCK_MONOTONIC) ^ (uint32_t)getpid();
	(void)nanosleep(&(struct timespec){ .tv_nsec = 1000 * (IPC_BACKOFF_MIN_US + v % max_us) },
			NULL);
}

/* Undoes channel_take(): the handle has no segment, no slot and no name after it. */
static void channel_drop(struct ring_channel *c)
{
	if (c->region) {
		psyne__ring_leave(&c->ring);
		(void)munmap(c->region, c->region_size);
	}
	c->region = NULL;
	c->memfd = safe_close(c->memfd);
	c->member_fd = safe_close(c->member_fd);
}

/* Makes `map` the handle's segment, taking it over (also on failure): a slot, our name. */
static int channel_take(struct ring_channel *c, struct psyne_member_map *map, const char *name)
{
	int r;

	c->memfd = TAKE_FD(map->fd);
	r = psyne__ring_join(&c->ring, map->mem, map->size, true);
	if (r < 0) {
		psyne__member_map_done(map);
		return r;
	}
	c->region = TAKE_PTR(map->mem);
	c->region_size = map->size;
	r = psyne__member_bind(name, c->memfd);
	if (r < 0)
		return r;
	c->member_fd = r;
	return 0;
}

static void ipc_close(struct psyne_channel *ch)
{
	struct ring_channel *c = (struct ring_channel *)ch;

	if (!c)
		return;
	channel_drop(c);
	free(c);
}

/* Says why a segment of the name cannot be joined: its identity line is in `hdr`. */
static void refused(const char *name, uint32_t mode, uint64_t capacity, int error,
		    const struct psyne_ring_hdr *hdr)
{
	const char *has = psyne__mode_to_string(hdr->mode);

	if (error == -EEXIST)
		psyne__log_error("ipc://%s exists with mode=%s and capacity=%" PRIu64
				 "; asked for mode=%s and capacity=%" PRIu64,
				 name, has ? has : "?", hdr->capacity,
				 mode == UINT32_MAX ? has : psyne__mode_to_string(mode),
				 capacity == 0 ? hdr->capacity : capacity);
	else if (error == -EPROTONOSUPPORT)
		psyne__log_error(
			"ipc://%s: its segment has version %u.%u, this library speaks %u.x", name,
			hdr->version_major, hdr->version_minor, PSYNE_RING_VERSION_MAJOR);
	else
		psyne__log_error("ipc://%s: its segment is corrupt (%s)", name, strerror(-error));
}

/*
 * One round of the election (see the top of this file). Returns 0 with the handle on the
 * channel's segment, -EAGAIN to look again after a pause, or an error.
 */
static int elect(struct ring_channel *c, const char *name, uint32_t mode, uint64_t capacity)
{
	_cleanup_(look_done) struct look l = { .join = { .fd = -EBADF } };
	struct psyne_member_map map = { .fd = -EBADF }, own;
	bool created = false;
	int r;

	r = look(name, mode, capacity, true, NULL, -EBADF, &l);
	if (r < 0)
		return r;
	if (l.join.mem) {
		map = l.join;
		l.join = (struct psyne_member_map){ .fd = -EBADF };
	} else if (l.refused < 0) {
		refused(name, mode, capacity, l.refused, &l.refused_hdr);
		return l.refused;
	} else if (l.candidates > 0) {
		return -EAGAIN; /* someone is making it */
	} else {
		r = candidate_create(name, mode, capacity, &map);
		if (r < 0)
			return r;
		created = true;
	}

	own = map;
	r = channel_take(c, &map, name);
	if (r >= 0) {
		look_done(&l);
		r = look(name, mode, capacity, false, &own, c->memfd, &l);
	}
	if (r < 0) {
		channel_drop(c);
		return r;
	}
	/* A candidate stays alone or not at all; a joiner stays where another member is. */
	if (l.others > 0 && (created || l.own_members == 0)) {
		channel_drop(c);
		return -EAGAIN;
	}
	if (created)
		atomic_store_explicit(&((struct psyne_ring_hdr *)c->region)->ready, 1,
				      memory_order_release);
	return 0;
}

static int ipc_open(struct psyne_uri *uri, struct psyne_channel **ret_channel)
{
	_cleanup_free_ struct ring_channel *c = NULL;
	uint64_t deadline, capacity;
	uint32_t mode, wait;
	int r;

	r = psyne__uri_ring_name(uri);
	if (r < 0)
		return r;
	r = psyne__uri_ring_options(uri, &mode, &capacity);
	if (r < 0)
		return r;
	r = psyne__uri_ring_wait(uri, &wait);
	if (r < 0)
		return r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &psyne__transport_ipc;
	c->memfd = -EBADF;
	c->member_fd = -EBADF;

	deadline = deadline_from_timeout_ms(IPC_OPEN_TIMEOUT_MS);
	for (unsigned attempt = 0;; attempt++) {
		r = elect(c, uri->address, mode, capacity);
		if (r != -EAGAIN)
			break;
		if (deadline_passed(deadline))
			return -ETIMEDOUT;
		backoff(attempt);
	}
	if (r < 0)
		return r;
	psyne__ring_set_wait(&c->ring, wait);
	*ret_channel = &TAKE_PTR(c)->base;
	return 0;
}

const struct psyne_transport psyne__transport_ipc = {
	.scheme = "ipc",
	.open = ipc_open,
	.close = ipc_close,
	PSYNE_RING_CHANNEL_OPS,
};
