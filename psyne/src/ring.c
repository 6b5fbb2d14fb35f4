/* SPDX-License-Identifier: MIT */
/*
 * The ring algorithm, one for all four modes.
 *
 * Producers append records at `tail`: an end marker (a zero state word) past the record,
 * then the record header (RESERVED), then any wrap record leading to it, then tail. With
 * several producers that runs under `prod_lock`, a spin lock held for a few stores and never
 * across a wait. A single producer does all of it at commit instead, for the newest of its
 * reservations (try_reserve_locked() says why that is safe). A record is published by the
 * release store of COMMITTED into its state word. Consumers never read tail: they read the state
 * word at `rd`, where a zero means "nothing yet". They read the record in place and release it;
 * released space comes back as `head` moves over the released prefix.
 *
 * Only consumers move rd and head. A single consumer does so with plain stores, keeps its
 * exact released prefix in `consumed` and publishes head lazily (every capacity/16, when it
 * has caught up, or when a producer sleeps). Several consumers claim and reclaim under
 * `cons_lock`, so no thread ever reads a record header that another may be recycling.
 * spsc takes no lock and, per message, no atomic read-modify-write and no fence: see the
 * asymmetric fences below.
 *
 * Crashes: every record and lock names its owner by tag (slot and generation). A participant
 * that dies keeps its slot until a survivor notices (a waiter looks at its peers' pidfds
 * every PSYNE_CHECK_NS) and reaps it by moving the slot to the next generation. From then
 * on its tag is stale: a consumer turns a stale RESERVED record into CANCELLED and skips it,
 * head moves over a stale CLAIMED record as if released, and a stale lock is broken. A
 * producer stores tail after it has published, so one that died may have left published
 * records past tail: the next producer walks over them first (see repair_tail()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/macro.h"
#include "common/time-util.h"
#include "ring.h"

#define PSYNE_CHECK_NS (20ull * 1000 * 1000) /* peer liveness cadence while waiting */
#define PSYNE_SPIN_MAX_NS (200ull * 1000)    /* the longest a waiter spins before sleeping */
#define PSYNE_SPIN_MIN_NS (2ull * 1000)	     /* ... and the shortest, while spinning pays */
#define PSYNE_SPIN_MAX_PAUSES 4u
#define PSYNE_CPU_EVERY 256u /* a producer that never waits says where it runs this often */
#define PSYNE_REWIND_MIN (64u * 1024) /* records this large go to the start of a drained ring */
#define PSYNE_HEAD_BATCH 16u	      /* a single consumer publishes head every capacity/16 bytes */
#define PSYNE_LOCK_RETRY_NS (1000ull * 1000) /* sleep bound while the producer lock is busy */
#define PSYNE_LINE 64u
#define PSYNE_EVICT_BATCH 1024u /* a consumer hands released lines back this many bytes at once */
#define PSYNE_EVICT_MAX 2048u	/* ... and none of a longer range: see evict_released() */
#define TAG_GEN_BITS 22u
#define TAG_GEN_MASK ((1u << TAG_GEN_BITS) - 1)
#define MSG_COOKIE 0x7073796e65000000ull

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline uint32_t slot_state(uint64_t w)
{
	return (uint32_t)(w & 3u);
}

static inline uint32_t slot_gen(uint64_t w)
{
	return (uint32_t)(w >> 2) & 0x3fffffffu;
}

static inline pid_t slot_pid(uint64_t w)
{
	return (pid_t)(w >> 32);
}

static inline uint32_t make_tag(uint32_t slot, uint32_t gen)
{
	return slot | (gen & TAG_GEN_MASK) << 6;
}

static inline uint32_t rec_kind(uint32_t state)
{
	return state & 15u;
}

static inline uint32_t rec_owner(uint32_t state)
{
	return state >> 4;
}

static inline uint32_t rec_state(uint32_t kind, uint32_t tag)
{
	return kind | tag << 4;
}

static inline struct psyne_ring_rec *rec_at(const struct psyne_ring *r, uint64_t pos)
{
	return (struct psyne_ring_rec *)(r->data + (pos & r->mask));
}

static uint64_t msg_cookie(const struct psyne_ring *r)
{
	return MSG_COOKIE ^ (uint64_t)(uintptr_t)r;
}

/*
 * A reservation's private word: the handle's cookie above the reserved size. The size stays
 * with the message rather than in the record, which the consumer may be polling: one store
 * fewer into a contended line per message.
 */
static uint64_t reservation_word(const struct psyne_ring *r, size_t size)
{
	return (msg_cookie(r) >> 8 | 1) << 32 | (uint32_t)size;
}

static bool is_reservation_word(const struct psyne_ring *r, uint64_t word)
{
	return word >> 32 == (uint32_t)(msg_cookie(r) >> 8 | 1);
}

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *timeout,
		  bool shared)
{
	return syscall(SYS_futex, addr, shared ? op : (op | FUTEX_PRIVATE_FLAG), val, timeout, NULL,
		       0);
}

/*
 * Asymmetric fences. A publisher (commit, release) stores with release semantics and then
 * reads the sleeper count with no fence between: a full fence there would stall every
 * message for a cross-core round trip. The side about to sleep pays instead: after raising
 * the sleeper count it calls membarrier(), which runs a full barrier on every CPU running a
 * registered process, so either the publisher sees the sleeper or the sleeper sees the
 * publication. Processes register once; one that cannot makes the whole ring fall back to
 * seq_cst publication (hdr->strong_publish).
 */
static int membarrier_cmd = -1; /* the fence command this process registered for, or -1 */
static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;

static void membarrier_setup(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0)
		membarrier_cmd = MEMBARRIER_CMD_GLOBAL_EXPEDITED;
}

static bool strong_publish(const struct psyne_ring *r)
{
	return atomic_load_explicit(&r->hdr->strong_publish, memory_order_relaxed) != 0;
}

/* The sleeper's half of the handshake, after raising its sleeper count. */
static void fence_before_sleep(struct psyne_ring *r)
{
	if (membarrier_cmd < 0 || syscall(SYS_membarrier, membarrier_cmd, 0, 0) < 0) {
		atomic_store(&r->hdr->strong_publish, 1);
		atomic_thread_fence(memory_order_seq_cst);
	}
}

/*
 * The publisher's half: a release store (seq_cst where the ring fell back), then, with only
 * a compiler barrier between, a look at the sleeper count. A macro because the published
 * word is 32-bit (record states) or 64-bit (cursors), which C11's generic stores both take.
 */
#define PUBLISH(r, word, val)                                                                      \
	(strong_publish(r) ? atomic_store((word), (val)) :                                         \
			     atomic_store_explicit((word), (val), memory_order_release))

static bool anyone_sleeps(const struct psyne_ring *r, struct psyne_ring_event *ev)
{
	if (strong_publish(r))
		return atomic_load(&ev->waiters) > 0; /* after a seq_cst store: ordered */
	atomic_signal_fence(memory_order_seq_cst);    /* see "Asymmetric fences" above */
	return atomic_load_explicit(&ev->waiters, memory_order_relaxed) > 0;
}

static void wake_all(const struct psyne_ring *r, struct psyne_ring_event *ev)
{
	atomic_store(&ev->woken, 1);
	atomic_fetch_add(&ev->seq, 1);
	(void)futex(&ev->seq, FUTEX_WAKE, INT_MAX, NULL, r->shared); /* nothing to do on failure */
}

/*
 * A publisher's wake-up: one per sleep, not one per message. A sleeper clears `woken` before
 * it reads the futex word it will sleep on; the first publisher after that sets it and wakes
 * everyone, and the ones after it, while the sleeper has not run yet, see it set and need no
 * system call: the wake-up they would make is already under way. Without this, a producer
 * sharing its CPU with a sleeping consumer made one futex call per message until the
 * consumer got the CPU, and fell to a few million messages a second.
 */
static void notify(struct psyne_ring *r, struct psyne_ring_event *ev)
{
	if (!anyone_sleeps(r, ev))
		return;
	if (atomic_load_explicit(&ev->woken, memory_order_relaxed) != 0 ||
	    atomic_exchange(&ev->woken, 1) != 0)
		return;
	r->wakes++;
	atomic_fetch_add(&ev->seq, 1);
	(void)futex(&ev->seq, FUTEX_WAKE, INT_MAX, NULL, r->shared); /* nothing to do on failure */
}

/*
 * Handing released lines back to memory. A consumer's cache keeps the lines it has read,
 * and the producer's next lap over them then has to take every one of them back before
 * it can store into it. Those stores wait in order, the store buffer fills, and the
 * producer stalls on one cross-core round trip after another: on a chiplet CPU with the
 * two cores on different L3s, that held a 64-byte stream to ~5 M messages/s. A line that
 * was flushed instead comes from memory, which the producer's prefetcher streams ahead
 * of it (docs/psyne.md has the numbers). clflushopt only moves data, coherently: what
 * anyone reads never changes, so this is safe on any line, and is done only for lines
 * wholly released, which no one touches again before the producer's next lap.
 */
static bool cpu_can_evict(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;

	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 23)) != 0; /* CLFLUSHOPT */
#else
	return false;
#endif
}

static inline void evict_line(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("clflushopt %0" : "+m"(*(volatile char *)p));
#else
	(void)p;
#endif
}

/*
 * Hands [r->evicted, `to`) back, whole lines only, if that is a batch of small messages.
 * A range longer than PSYNE_EVICT_MAX holds a large message, whose payload this consumer
 * may never have read: flushing lines that sit in the producer's cache only costs it
 * write-backs, and even its header line alone cost more than it saved (1 MiB messages went
 * from 24 to 15 M msg/s with it, 4 KiB ones did not move).
 */
static void evict_released(struct psyne_ring *r, uint64_t to)
{
	uint64_t from = ALIGN_TO(r->evicted, (uint64_t)PSYNE_LINE),
		 end = to & ~(uint64_t)(PSYNE_LINE - 1);

	if (!r->evict || end <= from)
		return;
	if (end - from > PSYNE_EVICT_MAX)
		from = end; /* a large message, a new consumer's first call: nothing goes */
	for (uint64_t p = from; p < end; p += PSYNE_LINE)
		evict_line(r->data + (p & r->mask));
	r->evicted_lines += (end - from) / PSYNE_LINE;
	r->evicted = to & ~(uint64_t)(PSYNE_LINE - 1);
}

uint64_t psyne__ring_region_size(uint64_t capacity)
{
	return PSYNE_RING_DATA_OFFSET + capacity;
}

const char *psyne__mode_to_string(uint32_t mode)
{
	static const char *const names[_PSYNE_MODE_MAX] = {
		[PSYNE_MODE_SPSC] = "spsc",
		[PSYNE_MODE_MPSC] = "mpsc",
		[PSYNE_MODE_SPMC] = "spmc",
		[PSYNE_MODE_MPMC] = "mpmc",
	};

	return mode < _PSYNE_MODE_MAX ? names[mode] : NULL;
}

int psyne__mode_from_string(const char *s)
{
	for (uint32_t i = 0; i < _PSYNE_MODE_MAX; i++)
		if (strcmp(s, psyne__mode_to_string(i)) == 0)
			return (int)i;
	return -EINVAL;
}

int psyne__wait_from_string(const char *s)
{
	static const char *const names[_PSYNE_WAIT_MAX] = {
		[PSYNE_WAIT_AUTO] = "auto",
		[PSYNE_WAIT_SPIN] = "spin",
		[PSYNE_WAIT_BLOCK] = "block",
	};

	for (uint32_t i = 0; i < _PSYNE_WAIT_MAX; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

void psyne__ring_set_wait(struct psyne_ring *r, uint32_t wait_mode)
{
	if (wait_mode < _PSYNE_WAIT_MAX)
		r->wait_mode = wait_mode;
}

int psyne__ring_format(void *mem, uint64_t size, const char *name, uint32_t mode, uint64_t capacity)
{
	struct psyne_ring_hdr *hdr = mem;
	size_t n = strlen(name);

	if (mode >= _PSYNE_MODE_MAX || n == 0 || n > PSYNE_RING_NAME_MAX)
		return -EINVAL;
	if (capacity < PSYNE_RING_MIN_CAPACITY || capacity > PSYNE_RING_MAX_CAPACITY ||
	    (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	if (size < psyne__ring_region_size(capacity))
		return -EINVAL;

	*hdr = (struct psyne_ring_hdr){
		.magic = PSYNE_RING_MAGIC,
		.version_major = PSYNE_RING_VERSION_MAJOR,
		.version_minor = PSYNE_RING_VERSION_MINOR,
		.header_size = PSYNE_RING_DATA_OFFSET,
		.mode = mode,
		.capacity = capacity,
		.region_size = psyne__ring_region_size(capacity),
		.slots = PSYNE_RING_SLOTS,
		.slots_offset = PSYNE_RING_SLOTS_OFFSET,
	};
	memcpy(hdr->name, name, n);
	memset((uint8_t *)mem + PSYNE_RING_SLOTS_OFFSET, 0,
	       PSYNE_RING_SLOTS * sizeof(struct psyne_ring_slot));
	return 0;
}

int psyne__ring_check(const void *mem, uint64_t size, const char *name, uint32_t mode,
		      uint64_t capacity)
{
	const struct psyne_ring_hdr *hdr = mem;

	if (!mem || size < PSYNE_RING_DATA_OFFSET)
		return -EPROTO;
	if (hdr->magic != PSYNE_RING_MAGIC)
		return -EPROTO;
	if (hdr->version_major != PSYNE_RING_VERSION_MAJOR)
		return -EPROTONOSUPPORT;
	if (hdr->header_size != PSYNE_RING_DATA_OFFSET || hdr->slots != PSYNE_RING_SLOTS ||
	    hdr->slots_offset != PSYNE_RING_SLOTS_OFFSET || hdr->mode >= _PSYNE_MODE_MAX)
		return -EPROTO;
	if (hdr->capacity < PSYNE_RING_MIN_CAPACITY || hdr->capacity > PSYNE_RING_MAX_CAPACITY ||
	    (hdr->capacity & (hdr->capacity - 1)) != 0)
		return -EPROTO;
	if (hdr->region_size != psyne__ring_region_size(hdr->capacity) || hdr->region_size > size)
		return -EPROTO;
	if (!memchr(hdr->name, 0, sizeof(hdr->name)))
		return -EPROTO;
	if (name && strcmp(hdr->name, name) != 0)
		return -EPROTO;
	if (mode != UINT32_MAX && mode != hdr->mode)
		return -EEXIST;
	if (capacity != 0 && capacity != hdr->capacity)
		return -EEXIST;
	return 0;
}

bool psyne__ring_is_named(const void *mem, uint64_t size, const char *name)
{
	const struct psyne_ring_hdr *hdr = mem;

	return mem && size >= PSYNE_RING_DATA_OFFSET && hdr->magic == PSYNE_RING_MAGIC &&
	       memchr(hdr->name, 0, sizeof(hdr->name)) && strcmp(hdr->name, name) == 0;
}

/* The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat). */
static int proc_start_time(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		n = -errno;
	(void)close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = 0;

	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	errno = 0;
	unsigned long long v = strtoull(p + 1, NULL, 10);
	if (errno != 0)
		return -errno;
	*ret = v;
	return 0;
}

static bool tag_is_live(const struct psyne_ring *r, uint32_t tag)
{
	uint64_t w = atomic_load_explicit(&r->slots[tag & 63u].word, memory_order_acquire);

	return slot_state(w) == PSYNE_SLOT_ACTIVE && (slot_gen(w) & TAG_GEN_MASK) == tag >> 6;
}

/*
 * Whether the process behind slot `i` (whose word was `w`) still runs. The pidfd is opened
 * once per slot word and checked against the recorded start time, so a recycled pid is
 * never mistaken for the peer.
 */
static bool peer_alive(struct psyne_ring *r, uint32_t i, uint64_t w)
{
	struct psyne_ring_peer *peer = &r->peers[i];
	pid_t pid = slot_pid(w);

	if (!r->shared || pid == r->pid)
		return true;

	if (peer->word != w) {
		uint64_t start = 0, expected;
		int fd;

		peer->pidfd = safe_close(peer->pidfd);
		peer->word = w;
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd < 0) {
			if (errno == ESRCH)
				return false;
			/* No pidfds (old kernel, seccomp): fall back to signal 0. */
			return kill(pid, 0) == 0 || errno == EPERM;
		}
		expected = atomic_load_explicit(&r->slots[i].start_time, memory_order_acquire);
		if (expected != 0 && proc_start_time(pid, &start) >= 0 && start != expected) {
			(void)close(fd);
			return false;
		}
		peer->pidfd = fd;
	}
	if (peer->pidfd < 0)
		return kill(pid, 0) == 0 || errno == EPERM;

	struct pollfd pfd = { .fd = peer->pidfd, .events = POLLIN };
	return poll(&pfd, 1, 0) == 0;
}

static void advance_head(struct psyne_ring *r);
static void adopt_consumer_side(struct psyne_ring *r);
static void say_cpu(struct psyne_ring *r);
static void publish_head(struct psyne_ring *r, bool force);

/* Moves slot `i` from word `w` to FREE and undoes what its owner held. */
static void slot_retire(struct psyne_ring *r, uint32_t i, uint64_t w)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	struct psyne_ring_slot *s = &r->slots[i];
	uint32_t tag = make_tag(i, slot_gen(w));
	uint64_t free_word = (uint64_t)slot_gen(w) << 2 | PSYNE_SLOT_FREE;
	uint32_t expected;

	/* Counters first: once the slot is free a newcomer may reset them. */
	uint64_t messages = atomic_load_explicit(&s->messages, memory_order_relaxed);
	uint64_t bytes = atomic_load_explicit(&s->bytes, memory_order_relaxed);
	uint32_t role = atomic_load(&s->role);
	/* Before the slot is free: whoever produces next must look past tail (repair_tail()). */
	if (role & PSYNE_ROLE_PRODUCER)
		atomic_store(&hdr->tail_check, 1);
	if (!atomic_compare_exchange_strong(&s->word, &w, free_word))
		return; /* somebody else retired it */
	atomic_fetch_add_explicit(&hdr->retired_messages, messages, memory_order_relaxed);
	atomic_fetch_add_explicit(&hdr->retired_bytes, bytes, memory_order_relaxed);

	expected = tag;
	atomic_compare_exchange_strong(&hdr->sp_owner, &expected, 0);
	expected = tag;
	atomic_compare_exchange_strong(&hdr->sc_owner, &expected, 0);
	expected = tag;
	atomic_compare_exchange_strong(&hdr->prod_lock, &expected, 0);
	expected = tag;
	atomic_compare_exchange_strong(&hdr->cons_lock, &expected, 0);

	/* With several consumers the others may all be idle: reclaim what the dead one held
	 * now. A single consumer's successor does it when it takes over (take_role()). */
	if ((role & PSYNE_ROLE_CONSUMER) && r->multi_consumer)
		advance_head(r);

	atomic_fetch_add(&hdr->epoch, 1);
	wake_all(r, &hdr->data);
	wake_all(r, &hdr->space);
}

/*
 * Looks at the other participants: with `check_alive`, reaps the dead ones; then notes
 * whether the producers or consumers that were ever there are all gone.
 */
static void update_peers(struct psyne_ring *r, bool check_alive)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	uint32_t epoch = atomic_load_explicit(&hdr->epoch, memory_order_acquire);
	/*
	 * `ever` before the slots: take_role() sets the slot's role before `ever`, so a role
	 * seen in `ever` here is also seen in the slot below unless its holder has left since.
	 * The other order could see the role in `ever` but not yet in the slot, and call a
	 * side that is just arriving gone.
	 */
	uint32_t ever = atomic_load_explicit(&hdr->ever, memory_order_acquire);
	/* The other side: producers for a consumer, consumers for a producer. */
	uint32_t other = (r->role & PSYNE_ROLE_CONSUMER ? PSYNE_ROLE_PRODUCER : 0) |
			 (r->role & PSYNE_ROLE_PRODUCER ? PSYNE_ROLE_CONSUMER : 0);
	uint32_t roles = 0;

	r->n_others = 0;
	for (uint32_t i = 0; i < PSYNE_RING_SLOTS; i++) {
		uint64_t w = atomic_load_explicit(&r->slots[i].word, memory_order_acquire);
		uint32_t role;

		if (slot_state(w) != PSYNE_SLOT_ACTIVE)
			continue;
		if (check_alive && i != r->slot && !peer_alive(r, i, w)) {
			slot_retire(r, i, w);
			continue;
		}
		role = atomic_load_explicit(&r->slots[i].role, memory_order_acquire);
		roles |= role;
		if (i != r->slot && (role & other))
			r->others[r->n_others++] = (uint8_t)i;
	}

	/* A handle on both sides (memory:// loopback) is its own peer: never gone. */
	r->peers_gone = false;
	if ((r->role & PSYNE_ROLE_CONSUMER) && (ever & PSYNE_ROLE_PRODUCER) &&
	    !(roles & PSYNE_ROLE_PRODUCER))
		r->peers_gone = true;
	if ((r->role & PSYNE_ROLE_PRODUCER) && (ever & PSYNE_ROLE_CONSUMER) &&
	    !(roles & PSYNE_ROLE_CONSUMER))
		r->peers_gone = true;
	r->epoch = epoch;
	if (check_alive)
		r->next_check_ns = now_nsec(CLOCK_MONOTONIC) + PSYNE_CHECK_NS;
}

/* Cheap per-call look: only when membership changed since we last looked. */
static inline void refresh_peers(struct psyne_ring *r)
{
	if (atomic_load_explicit(&r->hdr->epoch, memory_order_acquire) != r->epoch)
		update_peers(r, false);
}

static int take_single(struct psyne_ring *r, _Atomic uint32_t *owner)
{
	for (;;) {
		uint32_t cur = atomic_load(owner);

		if (cur == r->tag)
			return 0;
		if (cur != 0 && tag_is_live(r, cur)) {
			uint32_t i = cur & 63u;
			uint64_t w = atomic_load(&r->slots[i].word);

			if (peer_alive(r, i, w))
				return -EBUSY;
			slot_retire(r, i, w);
			continue;
		}
		if (atomic_compare_exchange_strong(owner, &cur, r->tag))
			return 0;
	}
}

static int take_role(struct psyne_ring *r, uint32_t role)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	int ret = 0;

	if (r->role & role)
		return 0;
	if (role == PSYNE_ROLE_PRODUCER && !r->multi_producer)
		ret = take_single(r, &hdr->sp_owner);
	else if (role == PSYNE_ROLE_CONSUMER && !r->multi_consumer)
		ret = take_single(r, &hdr->sc_owner);
	if (ret < 0)
		return ret;

	atomic_fetch_or(&r->slots[r->slot].role, role);
	atomic_fetch_or(&hdr->ever, role);
	atomic_fetch_add(&hdr->epoch, 1);
	r->role |= role;
	update_peers(r, false);
	/* A consumer that left or died may have left claimed records: give their space back. */
	if (role == PSYNE_ROLE_CONSUMER) {
		if (r->multi_consumer)
			advance_head(r);
		else
			adopt_consumer_side(r);
	}
	return 0;
}

int psyne__ring_join(struct psyne_ring *r, void *mem, uint64_t size, bool shared)
{
	struct psyne_ring_hdr *hdr = mem;
	uint64_t start = 0;
	pid_t pid = getpid();

	if (!r || !mem)
		return -EINVAL;

	*r = (struct psyne_ring){
		.hdr = hdr,
		.slots = (struct psyne_ring_slot *)((uint8_t *)mem + PSYNE_RING_SLOTS_OFFSET),
		.data = (uint8_t *)mem + PSYNE_RING_DATA_OFFSET,
		.capacity = hdr->capacity,
		.mask = hdr->capacity - 1,
		.mode = hdr->mode,
		.shared = shared,
		.multi_producer = hdr->mode == PSYNE_MODE_MPSC || hdr->mode == PSYNE_MODE_MPMC,
		.multi_consumer = hdr->mode == PSYNE_MODE_SPMC || hdr->mode == PSYNE_MODE_MPMC,
		.pid = pid,
		.evict = cpu_can_evict(),
		.spin_ns = PSYNE_SPIN_MAX_NS,
		.one_cpu = sysconf(_SC_NPROCESSORS_ONLN) <= 1,
	};
	for (uint32_t i = 0; i < PSYNE_RING_SLOTS; i++)
		r->peers[i].pidfd = -EBADF;
	(void)pthread_once(&membarrier_once, membarrier_setup);
	if (membarrier_cmd < 0)
		atomic_store(&hdr->strong_publish, 1);
	if (shared)
		(void)proc_start_time(pid, &start); /* 0 means "unknown": pid alone is trusted */

	for (uint32_t i = 0; i < PSYNE_RING_SLOTS; i++) {
		struct psyne_ring_slot *s = &r->slots[i];
		uint64_t w = atomic_load(&s->word);
		uint32_t gen;

		if (slot_state(w) != PSYNE_SLOT_FREE)
			continue;
		gen = (slot_gen(w) + 1) & 0x3fffffffu;
		if ((gen & TAG_GEN_MASK) == 0)
			gen++; /* a tag of 0 means "nobody" */
		uint64_t nw = (uint64_t)(uint32_t)pid << 32 | (uint64_t)gen << 2 |
			      PSYNE_SLOT_ACTIVE;
		if (!atomic_compare_exchange_strong(&s->word, &w, nw))
			continue;

		atomic_store_explicit(&s->role, 0, memory_order_relaxed);
		atomic_store_explicit(&s->messages, 0, memory_order_relaxed);
		atomic_store_explicit(&s->bytes, 0, memory_order_relaxed);
		atomic_store_explicit(&s->start_time, start, memory_order_release);
		atomic_store_explicit(&s->cpu, 0, memory_order_relaxed);
		r->slot = i;
		r->word = nw;
		r->tag = make_tag(i, gen);
		say_cpu(r);
		atomic_fetch_add(&hdr->epoch, 1);
		update_peers(r, false);
		return 0;
	}
	return -EUSERS;
}

void psyne__ring_leave(struct psyne_ring *r)
{
	if (!r || !r->hdr)
		return;
	if ((r->role & PSYNE_ROLE_CONSUMER) && !r->multi_consumer)
		publish_head(r, true);
	if (r->lazy) {
		/* Closing cancels it: nothing was lost for repair_tail() to count. */
		atomic_store_explicit(&r->hdr->lazy_at, 0, memory_order_relaxed);
		r->lazy = false;
	}
	slot_retire(r, r->slot, r->word);
	for (uint32_t i = 0; i < PSYNE_RING_SLOTS; i++)
		r->peers[i].pidfd = safe_close(r->peers[i].pidfd);
	r->hdr = NULL;
}

/*
 * Sleeps until `seq` moves, `deadline` passes or the next liveness check is due. Returns
 * -ETIMEDOUT once the deadline has passed.
 */
static int ring_sleep(struct psyne_ring *r, _Atomic uint32_t *seq, uint32_t seen, uint64_t deadline)
{
	uint64_t now = now_nsec(CLOCK_MONOTONIC), until = deadline;
	struct timespec ts, *tsp = NULL;

	if (now >= deadline)
		return -ETIMEDOUT;
	/* Only a peer in another process can die unseen; in-process peers leave by close. */
	if (r->shared && r->next_check_ns < until)
		until = r->next_check_ns;
	if (r->lock_busy) {
		r->lock_busy = false;
		until = MIN(until, now + PSYNE_LOCK_RETRY_NS);
	}
	if (until != UINT64_MAX) {
		ts = timespec_from_nsec(until > now ? until - now : 0);
		tsp = &ts;
	}
	(void)futex(seq, FUTEX_WAIT, seen, tsp, r->shared); /* EAGAIN, EINTR, ETIMEDOUT: recheck */
	return 0;
}

/*
 * Waiting. Spinning pays only while the other side runs on another CPU: then a message
 * arrives within the spin, with no system call on either side. When it shares our CPU,
 * every spin is time taken from it: the thing that helps is to let it run. A handle
 * therefore says in its slot on which CPU it runs (at each wait, and every PSYNE_CPU_EVERY
 * commits for a producer that never waits), and a waiter whose peers all last said "your
 * CPU", or that runs on a machine of one CPU, yields the CPU instead of spinning: the peer
 * runs at once, and when it answers and waits in turn, it yields back. A yield costs a
 * system call where sleeping costs three (the fence, the sleep, the other side's wake-up).
 * Either way the waiter spins for a budget that follows what spinning has earned: a wait
 * that ended while spinning raises it to a few times what it took; one that ended asleep
 * halves it, unless the whole wait was short enough to spin through (the peer was busy, not
 * gone), which raises it to twice that; and every PSYNE_EXPLORE_EVERY-th wait tries the
 * whole PSYNE_SPIN_MAX_NS, so that a budget driven down while the peer was descheduled (more
 * threads than CPUs) comes back when it runs again. A pinned thread is no reason not to
 * spin: its peer is pinned elsewhere or says it is on our CPU. wait=spin (never sleep: for
 * users who pin) and wait=block (never spin) override it.
 */
#define PSYNE_EXPLORE_EVERY 64u

/* Notes in our slot the CPU we run on now, if it changed. */
static void say_cpu(struct psyne_ring *r)
{
	int cpu = sched_getcpu();
	uint32_t v = cpu >= 0 ? (uint32_t)cpu + 1 : 0;

	if (v != r->cpu) {
		r->cpu = v;
		atomic_store_explicit(&r->slots[r->slot].cpu, v, memory_order_relaxed);
	}
}

/* Whether every peer of the other side last said it runs on our CPU. */
static bool peers_on_my_cpu(const struct psyne_ring *r)
{
	if (r->cpu == 0 || r->n_others == 0)
		return false;
	for (uint32_t i = 0; i < r->n_others; i++)
		if (atomic_load_explicit(&r->slots[r->others[i]].cpu, memory_order_relaxed) !=
		    r->cpu)
			return false;
	return true;
}

/*
 * How long this wait may spin: 0, a budget, or UINT64_MAX (until the deadline); and whether
 * it spins by yielding the CPU: a peer that shares it runs only when we let it.
 */
static uint64_t spin_budget(struct psyne_ring *r, bool *ret_yield)
{
	*ret_yield = false;
	if (r->wait_mode == PSYNE_WAIT_SPIN)
		return UINT64_MAX;
	if (r->wait_mode == PSYNE_WAIT_BLOCK)
		return 0;
	*ret_yield = r->one_cpu || peers_on_my_cpu(r);
	if (++r->waits % PSYNE_EXPLORE_EVERY == 0)
		return PSYNE_SPIN_MAX_NS;
	return r->spin_ns;
}

/* A spin that ended after `spent` ns: with what it waited for (`paid`), or not. */
static void spin_done(struct psyne_ring *r, uint64_t spent, bool paid)
{
	if (r->wait_mode != PSYNE_WAIT_AUTO)
		return;
	if (paid)
		r->spin_ns = MIN(PSYNE_SPIN_MAX_NS, MAX(r->spin_ns, 4 * spent + PSYNE_SPIN_MIN_NS));
	else
		r->spin_ns = MAX(PSYNE_SPIN_MIN_NS, r->spin_ns / 2);
}

/*
 * A wait that slept and got what it waited for after `waited` ns in all. When that is within
 * what a spin may last, a longer spin would have paid (the peer was working, a 1 MiB copy,
 * not gone): the next one gets twice as long.
 */
static void sleep_done(struct psyne_ring *r, uint64_t waited)
{
	if (r->wait_mode == PSYNE_WAIT_AUTO && waited <= PSYNE_SPIN_MAX_NS)
		r->spin_ns =
			MIN(PSYNE_SPIN_MAX_NS, MAX(r->spin_ns, 2 * waited + PSYNE_SPIN_MIN_NS));
}

/*
 * Runs `try` until it stops saying -EAGAIN: first spinning (see "Waiting"), then sleeping
 * on `ev`, announcing the sleep so that the other side knows to wake us.
 */
static int ring_wait(struct psyne_ring *r, struct psyne_ring_event *ev,
		     int (*try)(struct psyne_ring *r, void *ctx), void *ctx, int timeout_ms)
{
	uint64_t deadline, budget, start, now;
	bool yield;
	int ret;

	ret = try(r, ctx);
	if (ret != -EAGAIN)
		return ret;

	now = now_nsec(CLOCK_MONOTONIC);
	if (r->shared && now >= r->next_check_ns) {
		update_peers(r, true);
		ret = try(r, ctx);
		if (ret != -EAGAIN)
			return ret;
	}
	if (timeout_ms == 0)
		return -EAGAIN;

	deadline = deadline_from_timeout_ms(timeout_ms);
	say_cpu(r);
	budget = spin_budget(r, &yield);
	start = now;
	r->spins += budget > 0 && !yield;
	r->yields += budget > 0 && yield;
	/*
	 * Polls back off exponentially (to PSYNE_SPIN_MAX_PAUSES pauses): a poller that keeps
	 * re-reading the line the other side is writing takes it away after every store, and
	 * a little distance lets a burst of records land in a line before we pull it over. A
	 * peer on our CPU gets it instead: two yields make a round trip with no sleep, no
	 * wake-up and no fence on either side.
	 */
	for (unsigned i = 1, pauses = 1; budget > 0; i++) {
		if (yield)
			(void)sched_yield();
		else
			for (unsigned j = 0; j < pauses; j++)
				cpu_relax();
		ret = try(r, ctx);
		if (ret != -EAGAIN) {
			spin_done(r, now_nsec(CLOCK_MONOTONIC) - start, true);
			return ret;
		}
		pauses = MIN(pauses * 2, PSYNE_SPIN_MAX_PAUSES);
		if (!yield && (i & 15) != 0)
			continue;
		now = now_nsec(CLOCK_MONOTONIC);
		if (now >= deadline)
			return -ETIMEDOUT;
		if (budget != UINT64_MAX && now - start >= budget) {
			spin_done(r, now - start, false);
			break;
		}
		/* Spinning for good (wait=spin) still notices a peer that died. */
		if (r->shared && now >= r->next_check_ns)
			update_peers(r, true);
	}

	for (;;) {
		uint32_t seen;

		if (r->shared && now_nsec(CLOCK_MONOTONIC) >= r->next_check_ns)
			update_peers(r, true);

		atomic_fetch_add(&ev->waiters, 1);
		atomic_store(&ev->woken, 0); /* before `seen`: see notify() */
		seen = atomic_load(&ev->seq);
		fence_before_sleep(r);
		r->waiting = true;
		ret = try(r, ctx);
		r->waiting = false;
		if (ret != -EAGAIN) {
			atomic_fetch_sub(&ev->waiters, 1);
			sleep_done(r, now_nsec(CLOCK_MONOTONIC) - start);
			return ret;
		}
		r->sleeps++;
		ret = ring_sleep(r, &ev->seq, seen, deadline);
		atomic_fetch_sub(&ev->waiters, 1);
		if (ret < 0)
			return ret;
		ret = try(r, ctx);
		if (ret != -EAGAIN) {
			sleep_done(r, now_nsec(CLOCK_MONOTONIC) - start);
			return ret;
		}
	}
}

/* Checks a record header at `pos` below `limit`; returns its length or -EPROTO. */
static int64_t rec_len(const struct psyne_ring *r, uint64_t pos, uint32_t kind, uint64_t limit)
{
	uint32_t len = atomic_load_explicit(&rec_at(r, pos)->len, memory_order_relaxed);
	uint64_t off = pos & r->mask;

	if (len < PSYNE_REC_HDR || len % PSYNE_REC_ALIGN != 0 || off + len > r->capacity ||
	    len > limit - pos)
		return -EPROTO;
	/* A wrap record fills the ring to its end, and may be longer than any message (see
	 * try_reserve_locked()); released, it still ends there. Any other is at most half. */
	if (kind == PSYNE_REC_WRAP ? off + len != r->capacity :
				     len > r->capacity / 2 && !(kind == PSYNE_REC_RELEASED &&
								off + len == r->capacity))
		return -EPROTO;
	return len;
}

/*
 * Takes a ring lock (`prod_lock` or `cons_lock`), held by its owner for a few stores or a
 * short walk, never across a wait. A holder that died is reaped by the liveness check and
 * its tag goes stale, which breaks the lock; a holder that is merely preempted, or a corrupt
 * lock word, makes us give up after a bounded spin, and the caller's wait loop retries
 * within its timeout (sleeping at most PSYNE_LOCK_RETRY_NS at a time).
 */
static bool ring_lock(struct psyne_ring *r, _Atomic uint32_t *lock, unsigned spins)
{
	for (unsigned i = 1; i <= spins; i++) {
		uint32_t cur = 0;

		if (atomic_compare_exchange_weak_explicit(lock, &cur, r->tag, memory_order_acquire,
							  memory_order_relaxed))
			return true;
		if (cur != 0 && !tag_is_live(r, cur)) {
			atomic_compare_exchange_strong(lock, &cur, 0);
			continue;
		}
		if ((i & 255) == 0)
			sched_yield();
		else
			cpu_relax();
	}
	r->lock_busy = true;
	return false;
}

static void ring_unlock(_Atomic uint32_t *lock)
{
	atomic_store_explicit(lock, 0, memory_order_release);
}

/*
 * Moves head over the released prefix of [head, rd) and returns whether it moved. Called by
 * the single consumer, or under cons_lock: head never moves under us, so the record at head
 * is never being recycled while we read it.
 */
static bool advance_head_locked(struct psyne_ring *r)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	uint64_t h = atomic_load(&hdr->head), start = h;
	uint64_t rd = atomic_load(&hdr->rd);
	bool moved = false;

	while (h < rd && rd - h <= r->capacity && h % PSYNE_REC_ALIGN == 0) {
		struct psyne_ring_rec *rec = rec_at(r, h);
		uint32_t st = atomic_load(&rec->state);
		uint32_t kind = rec_kind(st);
		int64_t len = rec_len(r, h, kind, rd);

		if (len < 0)
			break; /* corrupt: the next receive reports it */
		if (kind == PSYNE_REC_CLAIMED && !tag_is_live(r, rec_owner(st))) {
			/* Its consumer died holding it: the message is lost, the space is not. */
			if (!atomic_compare_exchange_strong(&rec->state, &st,
							    rec_state(PSYNE_REC_RELEASED, 0)))
				continue;
			atomic_fetch_add_explicit(&hdr->dropped, 1, memory_order_relaxed);
			kind = PSYNE_REC_RELEASED;
		}
		if (kind != PSYNE_REC_RELEASED)
			break;
		h += (uint64_t)len;
		/* seq_cst: pairs with a releaser's state store then waiters/head loads. */
		atomic_store(&hdr->head, h);
		moved = true;
	}
	if (moved)
		notify(r, &hdr->space);
	if (moved) {
		/* Only what this call released: below that, another consumer may have handed
		 * lines back already and producers may be filling them again. */
		r->evicted = start & ~(uint64_t)(PSYNE_LINE - 1);
		evict_released(r, h);
	}
	return moved;
}

/*
 * Single consumer: stores head when capacity/PSYNE_HEAD_BATCH came free, when the consumer has
 * caught up with the producers, or when a producer sleeps. `consumed` was stored before
 * (seq_cst) and the sleeper count is loaded after it: a producer that announced its sleep
 * too late for us to see it sees `consumed` instead (try_reserve_locked()).
 */
static void publish_head(struct psyne_ring *r, bool force)
{
	struct psyne_ring_hdr *hdr = r->hdr;

	if (r->head_local == r->head_published)
		return;
	if (!force && r->head_local - r->head_published < r->capacity / PSYNE_HEAD_BATCH)
		return;
	PUBLISH(r, &hdr->head, r->head_local);
	notify(r, &hdr->space);
	r->head_published = r->head_local;
}

/* Single consumer: moves the released prefix over records released out of order. */
static void consume_released(struct psyne_ring *r, uint64_t rd)
{
	while (r->head_local < rd && r->head_local % PSYNE_REC_ALIGN == 0) {
		uint64_t h = r->head_local;
		uint32_t kind =
			rec_kind(atomic_load_explicit(&rec_at(r, h)->state, memory_order_relaxed));
		int64_t len = rec_len(r, h, kind, rd);

		if (len < 0 || kind != PSYNE_REC_RELEASED)
			break;
		r->head_local = h + (uint64_t)len;
	}
	if (r->head_local - r->evicted >= PSYNE_EVICT_BATCH)
		evict_released(r, r->head_local);
	PUBLISH(r, &r->hdr->consumed, r->head_local);
	publish_head(r, r->caught_up || anyone_sleeps(r, &r->hdr->space));
}

/*
 * A single consumer taking over from one that closed or died: what lies between the
 * released prefix and rd the predecessor received and never released. It is dropped, and
 * counted, and the space comes back.
 */
static void adopt_consumer_side(struct psyne_ring *r)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	uint64_t rd = atomic_load(&hdr->rd), c = atomic_load(&hdr->consumed);
	uint64_t h = atomic_load(&hdr->head), dropped = 0;

	if (c < h || c > rd || rd - h > r->capacity || c % PSYNE_REC_ALIGN != 0)
		c = h; /* corrupt or never used: trust only head */
	if (rd < h || rd - h > r->capacity || h % PSYNE_REC_ALIGN != 0 ||
	    rd % PSYNE_REC_ALIGN != 0) {
		r->head_local = r->head_published = h;
		return; /* the next receive reports the corruption */
	}
	for (uint64_t p = c; p < rd;) {
		uint32_t kind = rec_kind(atomic_load(&rec_at(r, p)->state));
		int64_t len = rec_len(r, p, kind, rd);

		if (len < 0)
			break;
		dropped += kind == PSYNE_REC_COMMITTED || kind == PSYNE_REC_CLAIMED;
		p += (uint64_t)len;
	}
	if (dropped > 0)
		atomic_fetch_add_explicit(&hdr->dropped, dropped, memory_order_relaxed);
	r->head_local = rd;
	r->head_published = h;
	atomic_store(&hdr->consumed, rd);
	publish_head(r, true);
}

/*
 * Lets go of cons_lock, first settling releases that found it busy: a releaser bumps
 * `reclaim_pending` and only then tries the lock, so whoever holds the lock when (or after)
 * the bump sees `reclaim_pending != reclaim_done` here, before or after unlocking, and
 * moves head. No release is left unreclaimed.
 */
static void unlock_consumers(struct psyne_ring *r)
{
	struct psyne_ring_hdr *hdr = r->hdr;

	for (;;) {
		uint32_t pending = atomic_load(&hdr->reclaim_pending);

		if (pending != atomic_load(&hdr->reclaim_done)) {
			advance_head_locked(r);
			atomic_store(&hdr->reclaim_done, pending);
		}
		ring_unlock(&hdr->cons_lock);
		if (atomic_load(&hdr->reclaim_pending) == pending)
			return;
		if (!ring_lock(r, &hdr->cons_lock, 1)) {
			r->lock_busy = false; /* the holder settles it */
			return;
		}
	}
}

/* Gives released space back; see unlock_consumers() for several consumers. */
static void advance_head(struct psyne_ring *r)
{
	struct psyne_ring_hdr *hdr = r->hdr;

	if (!r->multi_consumer) {
		consume_released(r, atomic_load(&hdr->rd));
		return;
	}
	atomic_fetch_add(&hdr->reclaim_pending, 1);
	if (!ring_lock(r, &hdr->cons_lock, 1)) {
		r->lock_busy = false; /* the holder settles it */
		return;
	}
	unlock_consumers(r);
}

struct reserve_ctx {
	uint64_t need;
	size_t size;
	struct psyne_msg *msg;
};

/*
 * Makes a reservation of [t, end) visible: the record at t + wrap, RESERVED by us, and the
 * wrap record of `wrap` bytes at t that leads to it.
 *
 * Consumers read the state word at rd and never tail: the word after the last record must
 * read 0 ("nothing yet"), so the end marker goes down first (into the slack the space check
 * kept), then the record, then the wrap record that leads to it. A reader that sees any of
 * them sees everything it leads to.
 */
static void write_reservation(struct psyne_ring *r, uint64_t t, uint64_t wrap, uint64_t end)
{
	struct psyne_ring_rec *rec = rec_at(r, t + wrap);

	atomic_store_explicit(&rec_at(r, end)->state, 0, memory_order_relaxed);
	atomic_store_explicit(&rec->len, (uint32_t)(end - t - wrap), memory_order_relaxed);
	atomic_store_explicit(&rec->state, rec_state(PSYNE_REC_RESERVED, r->tag),
			      memory_order_release);
	if (wrap > 0) {
		struct psyne_ring_rec *w = rec_at(r, t);

		atomic_store_explicit(&w->len, (uint32_t)wrap, memory_order_relaxed);
		atomic_store_explicit(&w->state, rec_state(PSYNE_REC_WRAP, 0),
				      memory_order_release);
	}
	atomic_store_explicit(&r->hdr->tail, end, memory_order_release);
}

/* Whether every record before `t` was released: the ring holds nothing but our own. */
static bool ring_is_drained(const struct psyne_ring *r, uint64_t t)
{
	if (!r->multi_consumer)
		return atomic_load_explicit(&r->hdr->consumed, memory_order_acquire) == t;
	return atomic_load_explicit(&r->hdr->head, memory_order_acquire) == t;
}

/*
 * A producer that left or died may have stopped anywhere in reserve or commit, and it
 * stores tail last: records it published can lie past tail, and the consumers may have read
 * them already. Writing from the stale tail would overwrite them under the consumers' feet.
 * So the first producer after it (slot_retire() set tail_check) walks from tail over what
 * was published to the end marker, which is always stored before anything that leads to
 * it. A single producer that died holding its unpublished reservation (lazy_at names the
 * tail it was taken at) lost that message: it is counted with the reclaimed ones. Runs as
 * the single producer or under prod_lock, and the one that stopped is gone: nothing past
 * tail moves while we walk but the consumers' state words, never to 0.
 */
static int repair_tail(struct psyne_ring *r)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	uint64_t start = atomic_load(&hdr->tail), t = start;

	if (start % PSYNE_REC_ALIGN != 0)
		return -EPROTO;
	for (;;) {
		uint32_t st = atomic_load(&rec_at(r, t)->state), kind = rec_kind(st);
		int64_t len;

		if (st == 0)
			break;
		if (kind < PSYNE_REC_RESERVED || kind > PSYNE_REC_WRAP)
			return -EPROTO;
		len = rec_len(r, t, kind, start + r->capacity);
		if (len < 0)
			return (int)len;
		t += (uint64_t)len;
	}
	if (t == start && !r->lazy &&
	    atomic_load_explicit(&hdr->lazy_at, memory_order_relaxed) == (start | 1))
		atomic_fetch_add_explicit(&hdr->reclaimed, 1, memory_order_relaxed);
	atomic_store_explicit(&hdr->lazy_at, 0, memory_order_relaxed);
	if (t != start)
		atomic_store_explicit(&hdr->tail, t, memory_order_release);
	atomic_store_explicit(&hdr->tail_check, 0, memory_order_relaxed);
	return 0;
}

/*
 * A single producer keeps its newest reservation to itself ("lazy"): nothing goes into shared
 * memory until commit, which writes the whole header once and publishes it. The cache line
 * a caught-up consumer polls then changes once per message instead of twice. tail stays
 * behind the lazy reservation, so if the producer dies holding it, its successor simply
 * starts there; nothing is left to reclaim. Only a second reservation, made while the first
 * is held, makes the first visible as RESERVED (in order, so a consumer can skip it if we
 * die): then the crash rules for RESERVED records apply.
 */
static int try_reserve_locked(struct psyne_ring *r, struct reserve_ctx *c)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	uint64_t t, off, wrap = 0, total;
	struct psyne_ring_rec *rec;
	int ret;

	if (atomic_load_explicit(&hdr->tail_check, memory_order_relaxed) != 0) {
		ret = repair_tail(r);
		if (ret < 0)
			return ret;
	}
	/* A second reservation while the first is still held: the first must be visible now, so
	 * that a crash leaves a record behind it that a consumer can step over. */
	if (r->lazy) {
		write_reservation(r, r->lazy_pos - r->lazy_wrap, r->lazy_wrap, r->lazy_end);
		r->lazy = false;
	}
	t = atomic_load_explicit(&hdr->tail, memory_order_relaxed);
	off = t & r->mask;

	if (t % PSYNE_REC_ALIGN != 0)
		return -EPROTO;
	/*
	 * A large message into a ring that is drained goes to the ring's start: where the last
	 * ones went, still in cache, instead of memory the ring has not touched for a lap (a
	 * 1 MiB ping-pong walked 32 MiB of cold memory). A pool that hands out the chunk just
	 * released does as much; the ring keeps its order and pays one wrap record. It must fit
	 * below `off` with its end marker: the wrap record then leaves room for it in the count
	 * of bytes in use, which stays below capacity.
	 */
	if (c->need >= PSYNE_REWIND_MIN && c->need + PSYNE_REC_HDR <= off &&
	    ring_is_drained(r, t)) {
		wrap = r->capacity - off;
		r->head_cache = t;
	} else if (off + c->need > r->capacity) {
		wrap = r->capacity - off;
	}
	total = wrap + c->need;

	if (t - r->head_cache + total + PSYNE_REC_HDR > r->capacity) {
		/* Head only moves forward, and a lazily published one may be older than what we
		 * saw of `consumed`: keep the newest. */
		uint64_t h = MAX(atomic_load(&hdr->head), r->head_cache);

		/* A single consumer publishes head lazily: look at what it has released when we
		 * are about to sleep (it stores `consumed` before checking for sleepers, see
		 * publish_head(), so one of us sees the other), and when another producer has
		 * already gone past the published head on the strength of `consumed`. */
		if (!r->multi_consumer && (r->waiting || h > t || t - h > r->capacity)) {
			uint64_t done = atomic_load(&hdr->consumed);

			if (done > h && done <= t)
				h = done;
		}
		if (h > t || t - h > r->capacity)
			return -EPROTO;
		r->head_cache = h;
		if (t - h + total + PSYNE_REC_HDR > r->capacity)
			return -EAGAIN;
	}

	rec = rec_at(r, t + wrap);
	if (r->multi_producer) {
		write_reservation(r, t, wrap, t + total);
	} else {
		r->lazy = true;
		r->lazy_pos = t + wrap;
		r->lazy_wrap = wrap;
		r->lazy_end = t + total;
		/* On a line only producers write: what a successor needs to count it if we die. */
		atomic_store_explicit(&hdr->lazy_at, t | 1, memory_order_relaxed);
	}

	*c->msg = (struct psyne_msg){
		.data = rec + 1,
		.size = c->size,
		.priv = { t + wrap, reservation_word(r, c->size) },
	};
	return 0;
}

static int try_reserve(struct psyne_ring *r, void *ctx)
{
	int ret;

	refresh_peers(r);
	if (r->peers_gone)
		return -EPIPE;
	if (!r->multi_producer)
		return try_reserve_locked(r, ctx);
	if (!ring_lock(r, &r->hdr->prod_lock, 4096))
		return -EAGAIN;
	ret = try_reserve_locked(r, ctx);
	ring_unlock(&r->hdr->prod_lock);
	return ret;
}

int psyne__ring_reserve(struct psyne_ring *r, size_t size, int timeout_ms,
			struct psyne_msg *ret_msg)
{
	/*
	 * The reservation is written straight into *ret_msg (only on success): a copy through a
	 * local would be loaded 16 bytes at a time from 8-byte stores, which cannot be
	 * forwarded, so every call would wait for the whole store buffer (the previous
	 * message's stores into lines the consumer holds) to drain.
	 */
	struct reserve_ctx c = { .size = size, .msg = ret_msg };
	int ret;

	/* Record and end marker must fit twice over: then a wrap never starves it. */
	if (size > r->capacity / 2 - 2 * PSYNE_REC_HDR)
		return -EMSGSIZE;
	c.need = ALIGN_TO(PSYNE_REC_HDR + size, PSYNE_REC_ALIGN);

	ret = take_role(r, PSYNE_ROLE_PRODUCER);
	if (ret < 0)
		return ret;
	return ring_wait(r, &r->hdr->space, try_reserve, &c, timeout_ms);
}

/* The record a producer's message refers to, if it is still that producer's reservation. */
static struct psyne_ring_rec *own_reservation(struct psyne_ring *r, const struct psyne_msg *msg)
{
	struct psyne_ring_rec *rec;

	if (!msg || !is_reservation_word(r, msg->priv[1]) || msg->priv[0] % PSYNE_REC_ALIGN != 0)
		return NULL;
	rec = rec_at(r, msg->priv[0]);
	if (atomic_load_explicit(&rec->state, memory_order_relaxed) !=
	    rec_state(PSYNE_REC_RESERVED, r->tag))
		return NULL;
	return rec;
}

static void publish(struct psyne_ring *r, struct psyne_ring_rec *rec, uint32_t kind)
{
	PUBLISH(r, &rec->state, rec_state(kind, 0));
	notify(r, &r->hdr->data);
}

/* Whether `msg` is this producer's lazy reservation (see try_reserve_locked()). */
static bool is_lazy(const struct psyne_ring *r, const struct psyne_msg *msg)
{
	return r->lazy && msg->priv[0] == r->lazy_pos && is_reservation_word(r, msg->priv[1]);
}

/*
 * Publishes the lazy reservation in one go: end marker, the whole record header, then the
 * wrap record that leads to it, as write_reservation() orders them. The last store is the
 * one at the position a caught-up consumer polls, and only it is followed by the check for
 * sleepers (see "Asymmetric fences").
 */
static void commit_lazy(struct psyne_ring *r, const struct psyne_msg *msg)
{
	struct psyne_ring_rec *rec = rec_at(r, r->lazy_pos);
	uint32_t committed = rec_state(PSYNE_REC_COMMITTED, 0);

	atomic_store_explicit(&rec_at(r, r->lazy_end)->state, 0, memory_order_relaxed);
	atomic_store_explicit(&rec->len, (uint32_t)(r->lazy_end - r->lazy_pos),
			      memory_order_relaxed);
	atomic_store_explicit(&rec->size, (uint32_t)msg->size, memory_order_relaxed);
	atomic_store_explicit(&rec->type, msg->type, memory_order_relaxed);
	if (r->lazy_wrap > 0) {
		struct psyne_ring_rec *w = rec_at(r, r->lazy_pos - r->lazy_wrap);

		atomic_store_explicit(&rec->state, committed, memory_order_release);
		atomic_store_explicit(&w->len, (uint32_t)r->lazy_wrap, memory_order_relaxed);
		rec = w;
		committed = rec_state(PSYNE_REC_WRAP, 0);
	}
	PUBLISH(r, &rec->state, committed);
	notify(r, &r->hdr->data);
	atomic_store_explicit(&r->hdr->tail, r->lazy_end, memory_order_release);
	r->lazy = false;
}

int psyne__ring_commit(struct psyne_ring *r, struct psyne_msg *msg)
{
	struct psyne_ring_slot *s = &r->slots[r->slot];
	struct psyne_ring_rec *rec = NULL;
	bool lazy = msg && is_lazy(r, msg);

	if (!lazy) {
		rec = own_reservation(r, msg);
		if (!rec)
			return -EINVAL;
	}
	if (msg->size > (uint32_t)msg->priv[1])
		return -EINVAL; /* it may shrink, never grow */

	if (!lazy) {
		atomic_store_explicit(&rec->size, (uint32_t)msg->size, memory_order_relaxed);
		atomic_store_explicit(&rec->type, msg->type, memory_order_relaxed);
		publish(r, rec, PSYNE_REC_COMMITTED);
	} else {
		commit_lazy(r, msg);
	}

	r->messages++;
	r->bytes += msg->size;
	if (r->messages % PSYNE_CPU_EVERY == 0)
		say_cpu(r); /* for a consumer deciding whether to spin (see "Waiting") */
	atomic_store_explicit(&s->messages, r->messages, memory_order_relaxed);
	atomic_store_explicit(&s->bytes, r->bytes, memory_order_relaxed);
	msg->priv[1] = 0;
	return 0;
}

void psyne__ring_cancel(struct psyne_ring *r, struct psyne_msg *msg)
{
	struct psyne_ring_rec *rec;

	if (!msg)
		return;
	if (is_lazy(r, msg)) {
		/* Nothing of it was shared and tail never moved past it: just forget it. */
		atomic_store_explicit(&r->hdr->lazy_at, 0, memory_order_relaxed);
		r->lazy = false;
		msg->priv[1] = 0;
		return;
	}
	rec = own_reservation(r, msg);
	if (!rec)
		return;
	publish(r, rec, PSYNE_REC_CANCELLED);
	msg->priv[1] = 0;
}

struct receive_ctx {
	size_t max_size;
	struct psyne_msg *msg;
};

/*
 * Claims the next committed record for the caller: the single consumer, or the holder of
 * cons_lock. rd moves only here, so the header at rd (below tail) is a real, live record.
 */
static int try_receive_locked(struct psyne_ring *r, struct receive_ctx *c)
{
	struct psyne_ring_hdr *hdr = r->hdr;

	/* Every pass moves rd forward; a corrupt ring cannot keep us going round it. */
	for (uint64_t n = 0; n <= r->capacity / PSYNE_REC_ALIGN; n++) {
		uint64_t pos = atomic_load_explicit(&hdr->rd, memory_order_acquire);
		struct psyne_ring_rec *rec;
		uint32_t st, kind, size;
		int64_t len;

		if (pos % PSYNE_REC_ALIGN != 0)
			return -EPROTO;
		rec = rec_at(r, pos);
		st = atomic_load(&rec->state); /* seq_cst: pairs with publish() */
		if (st == 0) {
			/* The end marker: nothing yet (see try_reserve_locked()). Idle time is
			 * when the lines released since the last batch go back, off the path of
			 * the next message. */
			if (!r->multi_consumer)
				evict_released(r, r->head_local);
			r->caught_up = true;
			return r->peers_gone ? -EPIPE : -EAGAIN;
		}
		kind = rec_kind(st);
		len = rec_len(r, pos, kind, pos + r->capacity);
		if (len < 0)
			return (int)len;

		switch (kind) {
		case PSYNE_REC_RESERVED:
			if (tag_is_live(r, rec_owner(st)))
				return r->peers_gone ? -EPIPE : -EAGAIN;
			/* Its producer died before committing: the space comes back. */
			if (atomic_compare_exchange_strong(&rec->state, &st,
							   rec_state(PSYNE_REC_CANCELLED, 0)))
				atomic_fetch_add_explicit(&hdr->reclaimed, 1, memory_order_relaxed);
			continue;

		case PSYNE_REC_COMMITTED:
			size = atomic_load_explicit(&rec->size, memory_order_relaxed);
			if (size > (uint64_t)len - PSYNE_REC_HDR)
				return -EPROTO;
			if (size > c->max_size)
				return -EMSGSIZE;
			/* Several consumers mark their claim before rd moves: one dying in between
			 * leaves a CLAIMED record at rd, which the next steps over and head then
			 * drops. A single consumer's claims are [consumed, rd): no mark needed. */
			if (r->multi_consumer)
				atomic_store_explicit(&rec->state,
						      rec_state(PSYNE_REC_CLAIMED, r->tag),
						      memory_order_relaxed);
			atomic_store_explicit(&hdr->rd, pos + (uint64_t)len, memory_order_release);
			r->caught_up = false;
			*c->msg = (struct psyne_msg){
				.data = rec + 1,
				.size = size,
				.type = atomic_load_explicit(&rec->type, memory_order_relaxed),
				.priv = { pos, msg_cookie(r) },
			};
			return 0;

		case PSYNE_REC_WRAP:
		case PSYNE_REC_CANCELLED:
			atomic_store(&rec->state, rec_state(PSYNE_REC_RELEASED, 0));
			atomic_store_explicit(&hdr->rd, pos + (uint64_t)len, memory_order_release);
			if (r->multi_consumer)
				advance_head_locked(r);
			else
				consume_released(r, pos + (uint64_t)len);
			continue;

		case PSYNE_REC_CLAIMED:
		case PSYNE_REC_RELEASED:
			/* A consumer died between marking it and moving rd: finish that. */
			atomic_store_explicit(&hdr->rd, pos + (uint64_t)len, memory_order_release);
			continue;

		default:
			return -EPROTO;
		}
	}
	return -EPROTO;
}

static int try_receive(struct psyne_ring *r, void *ctx)
{
	int ret;

	refresh_peers(r);
	if (!r->multi_consumer)
		return try_receive_locked(r, ctx);
	if (!ring_lock(r, &r->hdr->cons_lock, 4096))
		return -EAGAIN;
	ret = try_receive_locked(r, ctx);
	unlock_consumers(r);
	return ret;
}

int psyne__ring_receive(struct psyne_ring *r, int timeout_ms, size_t max_size,
			struct psyne_msg *ret_msg)
{
	struct receive_ctx c = { .max_size = max_size, .msg = ret_msg }; /* see reserve */
	int ret;

	ret = take_role(r, PSYNE_ROLE_CONSUMER);
	if (ret < 0)
		return ret;
	return ring_wait(r, &r->hdr->data, try_receive, &c, timeout_ms);
}

/*
 * Single consumer: a message released in order (the common case) just moves the released
 * prefix; one released out of order is marked and picked up when the prefix reaches it.
 */
static void release_single(struct psyne_ring *r, uint64_t pos)
{
	uint64_t rd = atomic_load_explicit(&r->hdr->rd, memory_order_relaxed);
	struct psyne_ring_rec *rec = rec_at(r, pos);
	int64_t len;

	if (pos < r->head_local || pos >= rd)
		return; /* not a message this consumer holds: released twice */
	if (rec_kind(atomic_load_explicit(&rec->state, memory_order_relaxed)) !=
	    PSYNE_REC_COMMITTED)
		return;
	if (pos != r->head_local) {
		atomic_store_explicit(&rec->state, rec_state(PSYNE_REC_RELEASED, 0),
				      memory_order_relaxed);
		return;
	}
	len = rec_len(r, pos, PSYNE_REC_COMMITTED, rd);
	if (len < 0)
		return;
	r->head_local = pos + (uint64_t)len;
	consume_released(r, rd);
}

void psyne__ring_release(struct psyne_ring *r, struct psyne_msg *msg)
{
	struct psyne_ring_rec *rec;
	uint32_t st;

	if (!msg || msg->priv[1] != msg_cookie(r) || msg->priv[0] % PSYNE_REC_ALIGN != 0)
		return;
	msg->priv[1] = 0;
	if (!r->multi_consumer) {
		release_single(r, msg->priv[0]);
		return;
	}
	rec = rec_at(r, msg->priv[0]);
	/* Only the live owner writes a CLAIMED record it holds (advance_head() touches only dead
	 * owners' ones), so a checked store does what a CAS would. */
	st = atomic_load_explicit(&rec->state, memory_order_relaxed);
	if (st != rec_state(PSYNE_REC_CLAIMED, r->tag))
		return; /* not ours any more: we were reaped */
	atomic_store(&rec->state, rec_state(PSYNE_REC_RELEASED, 0));
	advance_head(r);
}

void psyne__ring_stats(struct psyne_ring *r, struct psyne_stats *ret_stats)
{
	struct psyne_ring_hdr *hdr = r->hdr;
	struct psyne_stats st = {
		.capacity = r->capacity,
		.mode = r->mode,
		.messages = atomic_load_explicit(&hdr->retired_messages, memory_order_relaxed),
		.bytes = atomic_load_explicit(&hdr->retired_bytes, memory_order_relaxed),
		.dropped = atomic_load_explicit(&hdr->dropped, memory_order_relaxed),
		.reclaimed = atomic_load_explicit(&hdr->reclaimed, memory_order_relaxed),
	};
	uint64_t h = atomic_load(&hdr->head), t = atomic_load(&hdr->tail);

	/* A single consumer publishes head lazily; its exact released prefix is `consumed`. */
	if (!r->multi_consumer)
		h = MAX(h, MIN(atomic_load(&hdr->consumed), t));

	st.used = t >= h && t - h <= r->capacity ? t - h : 0;
	for (uint32_t i = 0; i < PSYNE_RING_SLOTS; i++) {
		struct psyne_ring_slot *s = &r->slots[i];
		uint32_t role;

		if (slot_state(atomic_load(&s->word)) != PSYNE_SLOT_ACTIVE)
			continue;
		role = atomic_load(&s->role);
		st.producers += !!(role & PSYNE_ROLE_PRODUCER);
		st.consumers += !!(role & PSYNE_ROLE_CONSUMER);
		st.messages += atomic_load_explicit(&s->messages, memory_order_relaxed);
		st.bytes += atomic_load_explicit(&s->bytes, memory_order_relaxed);
	}
	*ret_stats = st;
}
