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
 *
 * Network handles are found the same way, by "psyne/1/UID/net/PID/FD" (abstract.h), and
 * their stats pages are mapped under the same checks. A page's sections are seqlocks
 * (netstat.h): each is read until two looks at its generation agree, within a budget per
 * page, so that a page whose writer is stuck (or hostile) costs a bounded time; every
 * size, offset, count, state and string in it is checked before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abstract.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "inspect.h"
#include "member.h"
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
int psyne__inspect_parse_socket(const char *path, uid_t uid, char ret_name[static 64],
				pid_t *ret_pid, int *ret_fd)
{
	struct psyne_member m;
	int r;

	r = psyne__member_parse(path, uid, &m);
	if (r < 0)
		return r;
	_Static_assert(sizeof(m.name) <= 64, "name fits");
	memcpy(ret_name, m.name, sizeof(m.name));
	*ret_pid = m.pid;
	*ret_fd = m.fd;
	return 0;
}

/* Maps /proc/PID/fd/FD read-only under the checks of psyne__member_map(). */
static int map_fd(pid_t pid, int memfd, uint64_t min_size, uint64_t max_size,
		  struct psyne_member_map *ret)
{
	struct psyne_member m = { .pid = pid, .fd = memfd };

	return psyne__member_map(&m, false, min_size, max_size, ret);
}

/*
 * Maps the segment behind member PID/FD read-only and reads it. -ENOENT means "not a member
 * (any more)": gone, or never a segment of this name; anything else is the channel's answer.
 */
static int inspect_member(const char *name, pid_t pid, int memfd, struct psyne_inspect_channel *ret)
{
	_cleanup_(psyne__member_map_done) struct psyne_member_map m = { .fd = -EBADF };
	int r;

	/* A name is only a pointer, which anyone may bind (member.h): what it leads to is a
	 * member of this channel only if it is a segment that calls itself so. */
	r = map_fd(pid, memfd, PSYNE_RING_DATA_OFFSET,
		   psyne__ring_region_size(PSYNE_RING_MAX_CAPACITY), &m);
	if (r < 0 || !psyne__ring_is_named(m.mem, m.size, name))
		return -ENOENT;
	r = psyne__inspect_segment(m.mem, m.size, name, ret);
	if (r < 0)
		return r;
	ret->id = m.ino;
	psyne__inspect_check_alive(ret);
	return 0;
}

/* Errors that say a member went away between the listing and the look, not the channel. */
static bool member_gone(int r)
{
	return r == -ENOENT || r == -ESRCH || r == -ENOTDIR;
}

int psyne__inspect_ipc(const char *name, psyne_inspect_func_t func, void *userdata)
{
	_cleanup_free_ struct psyne_inspect_channel *ch = NULL;
	_cleanup_free_ struct psyne_member *refs = NULL;
	size_t n;
	int r, found = 0;

	if (!func)
		return -EINVAL;
	ch = malloc(sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	r = psyne__member_list(name, &refs, &n);
	if (r < 0)
		return r;

	for (size_t i = 0, next; i < n; i = next) {
		int error = -ENOENT;

		/* Every member maps the same segment: the first that can be read answers. */
		for (next = i; next < n && streq(refs[next].name, refs[i].name); next++) {
			int q;

			if (error == 0)
				continue;
			q = inspect_member(refs[next].name, refs[next].pid, refs[next].fd, ch);
			/* Success wins; otherwise the first error that is not "gone" is kept. */
			if (q == 0 || member_gone(error))
				error = q;
		}
		if (member_gone(error))
			continue; /* the channel vanished while we looked */

		r = func(refs[i].name, error < 0 ? NULL : ch, error, userdata);
		if (r < 0)
			return r;
		found++;
	}
	return found;
}

/* ---- network handles (netstat.h) -------------------------------------------------- */

/* The largest page a reader maps: a later version may have more peers or bigger entries. */
#define NET_PAGE_MAX (1u << 20)
#define NET_PEERS_LIMIT 4096u
/* Failed looks at changing sections allowed per page, and looks before yielding between. */
#define NET_READ_BUDGET 256u
#define NET_SPIN_TRIES 8u

/* Whether to look at a section once more, after `tries` looks that caught it changing. */
static bool look_again(unsigned *budget, unsigned tries)
{
	if (*budget == 0)
		return false;
	(*budget)--;
	/* The writer holds a section for a few stores, unless it was preempted meanwhile. */
	if (tries >= NET_SPIN_TRIES)
		(void)sched_yield();
	return true;
}

/* Copies a NUL-terminated string of printable ASCII out of a field of `size` bytes. */
static bool copy_text(char *dst, const void *field, size_t size)
{
	size_t n;

	/* The field may change under us: copy first, then check the copy. */
	memcpy(dst, field, size);
	n = strnlen(dst, size);
	if (n == size)
		return false;
	for (size_t i = 0; i < n; i++)
		if (dst[i] < 0x20 || dst[i] > 0x7e)
			return false;
	return true;
}

static bool read_counters(const struct psyne_netstat_hdr *h, unsigned *budget,
			  struct psyne_inspect_net *net, uint32_t *ret_n_peers,
			  uint32_t *ret_last_error)
{
	for (unsigned tries = 0;; tries++) {
		uint64_t g = load64(&h->gen);

		net->sent = load64(&h->sent);
		net->sent_bytes = load64(&h->sent_bytes);
		net->received = load64(&h->received);
		net->received_bytes = load64(&h->received_bytes);
		net->reconnects = load64(&h->reconnects);
		net->dropped = load64(&h->dropped);
		*ret_n_peers = load32(&h->n_peers);
		net->sessions = load32(&h->sessions);
		net->handshakes = load32(&h->handshakes);
		*ret_last_error = load32(&h->last_error);
		net->bad_sessions = load64(&h->bad_sessions); /* 0 before 1.1: reserved */
		if (g % 2 == 0 && load64(&h->gen) == g)
			return true;
		if (!look_again(budget, tries))
			return false;
	}
}

static bool read_peer(const struct psyne_netstat_peer *e, unsigned *budget,
		      struct psyne_inspect_peer *p, uint8_t name[static PSYNE_NETSTAT_NAME_MAX],
		      uint32_t *ret_last_error)
{
	for (unsigned tries = 0;; tries++) {
		uint64_t g = load64(&e->gen);

		p->state = load32(&e->state);
		*ret_last_error = load32(&e->last_error); /* 0 before 1.1: reserved */
		p->tx_queued = load64(&e->tx_queued);
		p->rx_queued = load64(&e->rx_queued);
		p->messages_tx = load64(&e->messages_tx);
		p->bytes_tx = load64(&e->bytes_tx);
		p->messages_rx = load64(&e->messages_rx);
		p->bytes_rx = load64(&e->bytes_rx);
		p->retransmits = load64(&e->retransmits);
		p->reconnects = load64(&e->reconnects);
		for (size_t w = 0; w < ELEMENTSOF(e->name); w++) {
			uint64_t v = load64(&e->name[w]);

			memcpy(name + 8 * w, &v, 8);
		}
		if (g % 2 == 0 && load64(&e->gen) == g)
			return true;
		if (!look_again(budget, tries))
			return false;
	}
}

static uint64_t add_saturated(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int psyne__inspect_net_page(const void *mem, uint64_t size, struct psyne_inspect_net *ret)
{
	_cleanup_free_ struct psyne_inspect_net *net = NULL;
	const struct psyne_netstat_hdr *h = mem;
	struct psyne_netstat_hdr id;
	uint32_t n_peers, last_error;
	unsigned budget = NET_READ_BUDGET;

	if (!mem || size < sizeof(id))
		return -EPROTO;
	/* The identity is written once, before the page is published; still, read it once. */
	memcpy(&id, h, offsetof(struct psyne_netstat_hdr, gen));
	if (id.magic != PSYNE_NETSTAT_MAGIC)
		return -EPROTO;
	if (id.version_major != PSYNE_NETSTAT_VERSION_MAJOR)
		return -EPROTONOSUPPORT;
	/* Fields are only appended: a later minor version has larger, never smaller, parts. */
	if (id.header_size < sizeof(struct psyne_netstat_hdr) || id.header_size % 8 != 0 ||
	    id.peer_size < sizeof(struct psyne_netstat_peer) || id.peer_size % 8 != 0 ||
	    id.max_peers > NET_PEERS_LIMIT ||
	    id.page_size != id.header_size + (uint64_t)id.max_peers * id.peer_size ||
	    id.page_size > size || id.mode >= _PSYNE_MODE_MAX)
		return -EPROTO;

	net = calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	if (!copy_text(net->uri, id.uri, sizeof(id.uri)) || !strstr(net->uri, "://"))
		return -EPROTO;
	net->listener = (id.flags & PSYNE_NETSTAT_F_LISTENER) != 0;
	net->mode = id.mode;
	net->capacity = id.capacity;

	net->consistent = read_counters(h, &budget, net, &n_peers, &last_error);
	if (n_peers > id.max_peers || last_error >= 4096)
		return -EPROTO;
	net->last_error = -(int)last_error;

	net->n_peers = MIN(n_peers, PSYNE_NETSTAT_MAX_PEERS);
	for (uint32_t i = 0; i < net->n_peers; i++) {
		const struct psyne_netstat_peer *e =
			(const void *)((const uint8_t *)mem + id.header_size +
				       (uint64_t)i * id.peer_size);
		struct psyne_inspect_peer *p = &net->peers[i];
		uint8_t name[PSYNE_NETSTAT_NAME_MAX];
		uint32_t peer_error;

		if (!read_peer(e, &budget, p, name, &peer_error))
			net->consistent = false;
		if (p->state >= _PSYNE_NETSTAT_PEER_MAX || peer_error >= 4096 ||
		    !copy_text(p->name, name, sizeof(name)))
			return -EPROTO;
		p->last_error = -(int)peer_error;
		net->up += p->state == PSYNE_NETSTAT_PEER_UP;
		net->used = add_saturated(net->used, add_saturated(p->tx_queued, p->rx_queued));
	}

	memcpy(ret, net, sizeof(*net));
	return 0;
}

int psyne__inspect_parse_net_socket(const char *path, uid_t uid, pid_t *ret_pid, int *ret_fd)
{
	const char *p, *slash;
	uint32_t v, pid, fd;

	p = startswith(path, "@psyne/1/");
	if (!p)
		return -EINVAL;
	slash = strchr(p, '/');
	if (!slash || psyne__abstract_parse_number(p, slash, UINT32_MAX, &v) < 0 ||
	    v != (uint32_t)uid)
		return -EINVAL;
	p = startswith(slash, "/net/");
	if (!p)
		return -EINVAL;
	slash = strchr(p, '/');
	if (!slash || psyne__abstract_parse_number(p, slash, INT32_MAX, &pid) < 0 || pid == 0)
		return -EINVAL;
	p = slash + 1;
	if (psyne__abstract_parse_number(p, p + strlen(p), INT32_MAX, &fd) < 0)
		return -EINVAL;

	*ret_pid = (pid_t)pid;
	*ret_fd = (int)fd;
	return 0;
}

struct net_ref {
	pid_t pid;
	int fd;
};

struct net_list {
	uid_t uid;
	struct net_ref *refs;
	size_t n, allocated;
};

static void net_list_done(struct net_list *l)
{
	free(l->refs);
	l->refs = NULL;
}

static int add_net(const char *path, void *userdata)
{
	struct net_list *l = userdata;
	struct net_ref ref;

	if (psyne__inspect_parse_net_socket(path, l->uid, &ref.pid, &ref.fd) < 0)
		return 0;
	if (l->n == l->allocated) {
		size_t n = MAX(l->allocated * 2, (size_t)16);
		struct net_ref *refs = reallocarray(l->refs, n, sizeof(*refs));

		if (!refs)
			return -ENOMEM;
		l->refs = refs;
		l->allocated = n;
	}
	l->refs[l->n++] = ref;
	return 0;
}

static int net_ref_cmp(const void *a, const void *b)
{
	const struct net_ref *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* Maps the page behind PID/FD read-only and reads it; errors as inspect_member(). */
static int inspect_net_page(pid_t pid, int memfd, struct psyne_inspect_net *ret)
{
	_cleanup_(psyne__member_map_done) struct psyne_member_map m = { .fd = -EBADF };
	int r;

	r = map_fd(pid, memfd, sizeof(struct psyne_netstat_hdr), NET_PAGE_MAX, &m);
	if (r < 0)
		return r;
	r = psyne__inspect_net_page(m.mem, m.size, ret);
	if (r < 0)
		return r;
	ret->id = m.ino;
	return 0;
}

int psyne__inspect_net(psyne_inspect_net_func_t func, void *userdata)
{
	_cleanup_free_ struct psyne_inspect_net *net = NULL;
	_cleanup_(net_list_done) struct net_list l = { .uid = geteuid() };
	int r, found = 0;

	if (!func)
		return -EINVAL;
	net = malloc(sizeof(*net));
	if (!net)
		return -ENOMEM;
	r = psyne__abstract_for_each(add_net, &l);
	if (r < 0)
		return r;
	if (l.n > 0)
		qsort(l.refs, l.n, sizeof(*l.refs), net_ref_cmp);

	for (size_t i = 0; i < l.n; i++) {
		int error = inspect_net_page(l.refs[i].pid, l.refs[i].fd, net);

		if (member_gone(error))
			continue; /* the handle closed while we looked */
		r = func(l.refs[i].pid, l.refs[i].fd, error < 0 ? NULL : net, error, userdata);
		if (r < 0)
			return r;
		found++;
	}
	return found;
}
