/* SPDX-License-Identifier: MIT */
/*
 * Read-only inspection: see inspect.h for the contract.
 *
 * Finding channels works as in transport_ipc.c: every handle binds an abstract socket
 * "psyne/1/UID/NAME/m/PID/FD", listed by /proc/net/unix. A channel's segment is reached as
 * /proc/PID/fd/FD of one member, opened O_RDONLY and mapped PROT_READ: a write through the
 * mapping would fault, so nothing here can disturb the channel even by mistake. The same
 * checks as an attach guard the mapping (owner uid, seals against shrinking, size bounds,
 * psyne__ring_check()); after them every cursor, length and slot value is still hostile and
 * checked where it is used.
 *
 * Shared words are read with relaxed atomic loads. The header and slots may change while we
 * read them; no single consistent view exists without joining, so none is pretended.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "inspect.h"
#include "uri.h"

/* The longest walk over queued records; a 1 GiB ring of 16-byte records is 64M of them. */
#define INSPECT_WALK_MAX (1u << 22)
#define INSPECT_WALK_TRIES 3

/*
 * Loads a shared word of a segment that may be mapped read-only: the atomic types are
 * loaded through a cast, since C11 does not allow atomic_load() on a const object. Plain
 * loads on every supported architecture, never a read-modify-write.
 */
static uint64_t load64(const _Atomic uint64_t *p)
{
	return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_acquire);
}

static uint32_t load32(const _Atomic uint32_t *p)
{
	return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

/* Bytes of [h, t) in use; a pair that breaks head <= tail <= head + capacity counts as 0. */
static uint64_t ring_used(const struct psyne_ring_hdr *hdr)
{
	uint64_t h = load64(&hdr->head), t = load64(&hdr->tail);
	bool multi_consumer = hdr->mode == PSYNE_MODE_SPMC || hdr->mode == PSYNE_MODE_MPMC;

	/* As psyne__ring_stats(): a single consumer publishes head lazily, `consumed` exactly. */
	if (!multi_consumer)
		h = MAX(h, MIN(load64(&hdr->consumed), t));
	return t >= h && t - h <= hdr->capacity ? t - h : 0;
}

/*
 * Counts the committed records in [rd, tail): what producers published and no consumer has
 * taken yet. Returns false when the records do not chain from rd to tail (they were recycled
 * under us, or the segment is corrupt) or there are too many to walk.
 */
static bool walk_queued(const struct psyne_ring_hdr *hdr, uint64_t *ret_n, uint64_t *ret_bytes)
{
	const uint8_t *data = (const uint8_t *)hdr + PSYNE_RING_DATA_OFFSET;
	uint64_t cap = hdr->capacity, mask = cap - 1, n = 0, bytes = 0;
	uint64_t rd = load64(&hdr->rd), t = load64(&hdr->tail), p = rd;

	if (t < rd || t - rd > cap || rd % PSYNE_REC_ALIGN != 0)
		return false;
	for (uint32_t i = 0; p < t; i++) {
		const struct psyne_ring_rec *rec = (const void *)(data + (p & mask));
		uint32_t kind = load32(&rec->state) & 15u, len = load32(&rec->len);
		uint64_t off = p & mask;

		if (i == INSPECT_WALK_MAX || kind == 0 || len < PSYNE_REC_HDR ||
		    len % PSYNE_REC_ALIGN != 0 || off + len > cap || len > t - p)
			return false;
		if (kind == PSYNE_REC_WRAP ? off + len != cap : len > cap / 2)
			return false;
		if (kind == PSYNE_REC_COMMITTED) {
			n++;
			bytes += MIN((uint64_t)load32(&rec->size), (uint64_t)len - PSYNE_REC_HDR);
		}
		p += len;
	}
	*ret_n = n;
	*ret_bytes = bytes;
	return true;
}

int psyne__inspect_segment(const void *mem, uint64_t size, const char *name,
			   struct psyne_inspect_channel *ret)
{
	const struct psyne_ring_hdr *hdr = mem;
	const struct psyne_ring_slot *slots;
	struct psyne_inspect_channel ch = { .mode = 0 };
	int r;

	r = psyne__ring_check(mem, size, name, UINT32_MAX, 0);
	if (r < 0)
		return r;
	slots = (const void *)((const uint8_t *)mem + PSYNE_RING_SLOTS_OFFSET);

	/* psyne__ring_check() made sure the name is terminated within the field. */
	memcpy(ch.name, hdr->name, sizeof(ch.name));
	ch.mode = hdr->mode;
	ch.capacity = hdr->capacity;
	ch.dropped = load64(&hdr->dropped);
	ch.reclaimed = load64(&hdr->reclaimed);
	ch.epoch = load32(&hdr->epoch);
	ch.messages = load64(&hdr->retired_messages);
	ch.bytes = load64(&hdr->retired_bytes);

	for (uint32_t i = 0; i < PSYNE_RING_SLOTS; i++) {
		const struct psyne_ring_slot *s = &slots[i];
		uint64_t w = load64(&s->word);
		struct psyne_inspect_member *m;

		if ((w & 3u) != PSYNE_SLOT_ACTIVE)
			continue;
		m = &ch.members[ch.n_members++];
		*m = (struct psyne_inspect_member){
			.slot = i,
			.pid = (uint32_t)(w >> 32),
			.start_time = load64(&s->start_time),
			.role = load32(&s->role) & (PSYNE_ROLE_PRODUCER | PSYNE_ROLE_CONSUMER),
			.alive = true,
			.messages = load64(&s->messages),
			.bytes = load64(&s->bytes),
		};
		ch.producers += !!(m->role & PSYNE_ROLE_PRODUCER);
		ch.consumers += !!(m->role & PSYNE_ROLE_CONSUMER);
		ch.messages += m->messages;
		ch.bytes += m->bytes;
	}

	/* Counters first, then the walk: what was queued then has been committed by now. */
	for (int i = 0; i < INSPECT_WALK_TRIES && !ch.queued_known; i++)
		ch.queued_known = walk_queued(hdr, &ch.queued, &ch.queued_bytes);
	if (ch.queued_known) {
		ch.queued = MIN(ch.queued, ch.messages);
		ch.queued_bytes = MIN(ch.queued_bytes, ch.bytes);
		ch.received = ch.messages - ch.queued;
		ch.received_bytes = ch.bytes - ch.queued_bytes;
	} else {
		ch.queued = ch.queued_bytes = 0;
	}
	ch.used = ring_used(hdr);

	*ret = ch;
	return 0;
}

/*
 * Reads the state (field 3) and start time (field 22) of /proc/PID/stat. The command name,
 * field 2, may hold spaces and parentheses: the fields after it start after the last ')'.
 */
static int proc_stat(uint32_t pid, char *ret_state, uint64_t *ret_start)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long start;
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	if (pid == 0 || pid > INT32_MAX)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;

	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 0)
		return -EIO;
	*ret_state = p[2];
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	errno = 0;
	start = strtoull(p + 1, &end, 10);
	if (errno != 0 || end == p + 1)
		return -EIO;
	*ret_start = start;
	return 0;
}

void psyne__inspect_check_alive(struct psyne_inspect_channel *ch)
{
	ch->producers = ch->consumers = 0;
	for (uint32_t i = 0; i < ch->n_members && i < PSYNE_RING_SLOTS; i++) {
		struct psyne_inspect_member *m = &ch->members[i];
		uint64_t start = 0;
		char state = 0;

		/* A recycled pid shows another start time; a zombie has exited already. */
		m->alive = proc_stat(m->pid, &state, &start) >= 0 && state != 'Z' && state != 'X' &&
			   (m->start_time == 0 || m->start_time == start);
		if (!m->alive)
			continue;
		ch->producers += !!(m->role & PSYNE_ROLE_PRODUCER);
		ch->consumers += !!(m->role & PSYNE_ROLE_CONSUMER);
	}
}

/* A decimal number of at most 10 digits, without sign or leading zero, up to `end`. */
static int parse_decimal(const char *s, const char *end, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;

	if (s == end || end - s > 10 || (s[0] == '0' && end - s > 1))
		return -EINVAL;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int psyne__inspect_parse_socket(const char *path, uid_t uid, char ret_name[static 64],
				pid_t *ret_pid, int *ret_fd)
{
	const char *p, *slash;
	char name[64];
	uint32_t v, pid, fd;

	p = startswith(path, "@psyne/1/");
	if (!p)
		return -EINVAL;
	slash = strchr(p, '/');
	if (!slash || parse_decimal(p, slash, UINT32_MAX, &v) < 0 || v != (uint32_t)uid)
		return -EINVAL;

	p = slash + 1;
	slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= sizeof(name))
		return -EINVAL;
	memcpy(name, p, (size_t)(slash - p));
	name[slash - p] = 0;
	if (!psyne__name_is_valid(name, PSYNE_RING_NAME_MAX))
		return -EINVAL;

	p = startswith(slash, "/m/");
	if (!p)
		return -EINVAL;
	slash = strchr(p, '/');
	if (!slash || parse_decimal(p, slash, INT32_MAX, &pid) < 0 || pid == 0)
		return -EINVAL;
	p = slash + 1;
	if (parse_decimal(p, p + strlen(p), INT32_MAX, &fd) < 0)
		return -EINVAL;

	memcpy(ret_name, name, sizeof(name));
	*ret_pid = (pid_t)pid;
	*ret_fd = (int)fd;
	return 0;
}

/*
 * Maps the segment behind member PID/FD read-only and reads it. -ENOENT (and what open()
 * says of a vanished process) means "not a member any more"; anything else is the
 * channel's answer.
 */
static int inspect_member(const char *name, pid_t pid, int memfd, struct psyne_inspect_channel *ret)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	char path[64];
	void *mem;
	int seals, r;

	/* Look before opening: opening a device or a FIFO someone named here has effects. */
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, memfd);
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
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
	if (st.st_size < (off_t)PSYNE_RING_DATA_OFFSET ||
	    (uint64_t)st.st_size > psyne__ring_region_size(PSYNE_RING_MAX_CAPACITY))
		return -EPROTO;

	mem = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	r = psyne__inspect_segment(mem, (uint64_t)st.st_size, name, ret);
	(void)munmap(mem, (size_t)st.st_size);
	if (r < 0)
		return r;
	ret->id = (uint64_t)st.st_ino;
	psyne__inspect_check_alive(ret);
	return 0;
}

/* Errors that say a member went away between the listing and the look, not the channel. */
static bool member_gone(int r)
{
	return r == -ENOENT || r == -ESRCH || r == -ENOTDIR;
}

struct member_ref {
	char name[64];
	pid_t pid;
	int fd;
};

struct member_list {
	struct member_ref *refs;
	size_t n, allocated;
};

static void member_list_done(struct member_list *l)
{
	free(l->refs);
	*l = (struct member_list){ .n = 0 };
}

static int member_cmp(const void *a, const void *b)
{
	const struct member_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* Collects the members named in /proc/net/unix, sorted by channel name. */
static int list_members(const char *filter, struct member_list *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[512];
	uid_t uid = geteuid();

	f = fopen("/proc/net/unix", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct member_ref ref;
		char *path;

		line[strcspn(line, "\n")] = 0;
		path = strrchr(line, ' ');
		if (!path ||
		    psyne__inspect_parse_socket(path + 1, uid, ref.name, &ref.pid, &ref.fd) < 0)
			continue;
		if (filter && !streq(filter, ref.name))
			continue;
		if (ret->n == ret->allocated) {
			size_t n = MAX(ret->allocated * 2, (size_t)16);
			struct member_ref *refs = reallocarray(ret->refs, n, sizeof(*refs));

			if (!refs)
				return -ENOMEM;
			ret->refs = refs;
			ret->allocated = n;
		}
		ret->refs[ret->n++] = ref;
	}
	if (ferror(f))
		return -EIO;
	if (ret->n > 0)
		qsort(ret->refs, ret->n, sizeof(*ret->refs), member_cmp);
	return 0;
}

int psyne__inspect_ipc(const char *name, psyne_inspect_func_t func, void *userdata)
{
	_cleanup_(member_list_done) struct member_list l = { .n = 0 };
	_cleanup_free_ struct psyne_inspect_channel *ch = NULL;
	int r, found = 0;

	if (!func)
		return -EINVAL;
	ch = malloc(sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	r = list_members(name, &l);
	if (r < 0)
		return r;

	for (size_t i = 0, next; i < l.n; i = next) {
		int error = -ENOENT;

		/* Every member maps the same segment: the first that can be read answers. */
		for (next = i; next < l.n && streq(l.refs[next].name, l.refs[i].name); next++) {
			int q;

			if (error == 0)
				continue;
			q = inspect_member(l.refs[next].name, l.refs[next].pid, l.refs[next].fd,
					   ch);
			/* Success wins; otherwise the first error that is not "gone" is kept. */
			if (q == 0 || member_gone(error))
				error = q;
		}
		if (member_gone(error))
			continue; /* the channel vanished while we looked */

		r = func(l.refs[i].name, error < 0 ? NULL : ch, error, userdata);
		if (r < 0)
			return r;
		found++;
	}
	return found;
}
