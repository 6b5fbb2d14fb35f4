/* SPDX-License-Identifier: MIT */
/*
 * The ring: one region of memory (an anonymous mapping for memory://, a sealed memfd for
 * ipc://) that holds a header, the participant slots and a byte ring of variable-size
 * records. Everything in the region is fixed-width, offsets not pointers, and pinned with
 * _Static_assert; every value read from it is checked before use.
 *
 * Region layout (all offsets from the region start):
 *
 *   0      struct psyne_ring_hdr      identity, cursors, futex words (a line each)
 *   512    struct psyne_ring_slot[64] one per open handle: pid, role, counters
 *   8192   ring bytes                 capacity bytes, a power of two
 *
 * A record is a 16-byte header followed by its payload, padded to 16 bytes. A record that
 * would cross the end of the ring is preceded by a WRAP record that fills the rest.
 *
 * Cursors are free-running uint64_t byte positions (not uint32_t: at 10 GB/s a 32-bit
 * byte counter wraps in 0.4 s, short enough for a preempted consumer to see ABA):
 *   head <= rd <= tail, tail - head <= capacity
 *   [head, rd)  records claimed by consumers, not all released yet
 *   [rd, tail)  records reserved or committed, not yet claimed
 */
#ifndef PSYNE_RING_H
#define PSYNE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "psyne.h"

#define PSYNE_RING_MAGIC 0x454e5950u /* "PYNE" little-endian */
#define PSYNE_RING_VERSION_MAJOR 1u
#define PSYNE_RING_VERSION_MINOR 1u /* 1: tail_check, lazy_at, ready, event.woken, slot cpu */
#define PSYNE_RING_SLOTS 64u
#define PSYNE_RING_SLOTS_OFFSET 512u
#define PSYNE_RING_DATA_OFFSET 8192u
#define PSYNE_RING_NAME_MAX 48u
#define PSYNE_RING_MIN_CAPACITY 4096u
#define PSYNE_RING_MAX_CAPACITY (1ull << 30)
#define PSYNE_REC_ALIGN 16u
#define PSYNE_REC_HDR 16u

enum {
	PSYNE_MODE_SPSC,
	PSYNE_MODE_MPSC,
	PSYNE_MODE_SPMC,
	PSYNE_MODE_MPMC,
	_PSYNE_MODE_MAX,
};

/* Record kinds: the low 4 bits of a record's state word; the owner tag sits above them. */
enum {
	PSYNE_REC_RESERVED = 1, /* owner: the producer */
	PSYNE_REC_COMMITTED = 2,
	PSYNE_REC_CLAIMED = 3, /* owner: the consumer */
	PSYNE_REC_RELEASED = 4,
	PSYNE_REC_CANCELLED = 5,
	PSYNE_REC_WRAP = 6,
};

/* Slot word: bits 0-1 state, 2-31 generation, 32-63 pid. */
enum {
	PSYNE_SLOT_FREE = 0,
	PSYNE_SLOT_ACTIVE = 1,
};

#define PSYNE_ROLE_PRODUCER 1u
#define PSYNE_ROLE_CONSUMER 2u

/* How a handle waits (the wait= option): ring.c, "Waiting". */
enum {
	PSYNE_WAIT_AUTO,  /* spin while the other side runs on another CPU, else sleep */
	PSYNE_WAIT_SPIN,  /* never sleep: spin until the timeout (pinned, dedicated CPUs) */
	PSYNE_WAIT_BLOCK, /* never spin: sleep at once */
	_PSYNE_WAIT_MAX,
};

struct psyne_ring_rec {
	_Atomic uint32_t state; /* kind | owner tag << 4 */
	_Atomic uint32_t len;	/* record bytes with this header, multiple of 16 */
	_Atomic uint32_t size;	/* payload bytes committed */
	_Atomic uint32_t type;
};
_Static_assert(sizeof(struct psyne_ring_rec) == PSYNE_REC_HDR, "record header abi");

struct psyne_ring_slot {
	_Atomic uint64_t word;	     /* state | gen << 2 | pid << 32 */
	_Atomic uint64_t start_time; /* the pid's start time (clock ticks), 0 while unknown */
	_Atomic uint32_t role;	     /* PSYNE_ROLE_* bits */
	uint32_t reserved0;
	_Atomic uint64_t messages; /* committed by this slot, written by its owner only */
	_Atomic uint64_t bytes;
	_Atomic uint32_t cpu; /* 1 + the CPU its owner last called in on; 0: not known */
	uint32_t reserved1a;
	uint64_t reserved1[2];
};
_Static_assert(sizeof(struct psyne_ring_slot) == 64, "slot abi");

/*
 * What sleepers wait on (ring.c, "Waiting"): a futex word bumped by wakers, the number of
 * handles asleep or about to be, and whether a waker already bumped the word for them.
 */
struct psyne_ring_event {
	_Atomic uint32_t seq;
	_Atomic uint32_t waiters;
	_Atomic uint32_t woken; /* set by the waker that bumps seq; cleared by a new sleeper */
	uint32_t reserved0;
	uint64_t reserved[6];
};
_Static_assert(sizeof(struct psyne_ring_event) == 64, "event abi");

struct psyne_ring_hdr {
	/* line 0: identity, written once by the creator before the region is shared */
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	uint32_t header_size; /* offset of the ring bytes */
	uint32_t mode;
	uint64_t capacity;
	uint64_t region_size;
	uint32_t slots;
	uint32_t slots_offset;
	uint64_t reserved0[3];
	/* line 1 */
	char name[64];
	/* line 2: producer side, written by producers */
	_Atomic uint64_t tail;
	_Atomic uint32_t prod_lock; /* owner tag of the producer in the critical section */
	/* set when a producer left or died: tail may lag behind what it published */
	_Atomic uint32_t tail_check;
	/* single producer: tail | 1 when it took its unpublished reservation, else stale */
	_Atomic uint64_t lazy_at;
	uint64_t reserved2[5];
	/* line 3: consumer side, written by consumers */
	_Atomic uint64_t rd;
	/* multi-consumer: the tag of the consumer claiming or reclaiming */
	_Atomic uint32_t cons_lock;
	/* multi-consumer: bumped by releasers; reclaim_done is its value at the last reclaim */
	_Atomic uint32_t reclaim_pending;
	_Atomic uint32_t reclaim_done;
	uint32_t reserved3a;
	/* single consumer: every record below was released; head follows it lazily */
	_Atomic uint64_t consumed;
	uint64_t reserved3[4];
	/* line 4: reclaim */
	_Atomic uint64_t head;
	uint64_t reserved4[7];
	/* line 5: membership, rarely written */
	_Atomic uint32_t epoch;		   /* bumped on every join, leave and reap */
	_Atomic uint32_t sp_owner;	   /* single-producer modes: the producer's tag, or 0 */
	_Atomic uint32_t sc_owner;	   /* single-consumer modes: the consumer's tag, or 0 */
	_Atomic uint32_t ever;		   /* PSYNE_ROLE_* bits that have ever been taken */
	_Atomic uint64_t retired_messages; /* counters of slots that left */
	_Atomic uint64_t retired_bytes;
	_Atomic uint64_t dropped;
	_Atomic uint64_t reclaimed;
	/* set when a participant cannot use membarrier(): everyone then publishes with seq_cst */
	_Atomic uint32_t strong_publish;
	/* ipc://: 1 once the segment won its name's election (transport_ipc.c); joiners wait */
	_Atomic uint32_t ready;
	uint64_t reserved5[1];
	/* lines 6 and 7: futex words, written only by sleepers and wakers, read by every commit
	 * and every head move; on lines of their own so the cursors never drag them along */
	struct psyne_ring_event data;  /* a record was committed */
	struct psyne_ring_event space; /* space was freed */
};
_Static_assert(sizeof(struct psyne_ring_hdr) == 512, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, name) == 64, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, tail) == 128, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, tail_check) == 140, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, lazy_at) == 144, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, rd) == 192, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, head) == 256, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, epoch) == 320, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, data) == 384, "ring header abi");
_Static_assert(offsetof(struct psyne_ring_hdr, space) == 448, "ring header abi");
_Static_assert(PSYNE_RING_SLOTS_OFFSET >= sizeof(struct psyne_ring_hdr), "layout");
_Static_assert(PSYNE_RING_SLOTS_OFFSET + PSYNE_RING_SLOTS * sizeof(struct psyne_ring_slot) <=
		       PSYNE_RING_DATA_OFFSET,
	       "layout");

/* A peer whose liveness this handle has checked: a pidfd cached per slot word. */
struct psyne_ring_peer {
	uint64_t word;
	int pidfd;
};

/* One handle's view of a ring: process-local, never shared. */
struct psyne_ring {
	struct psyne_ring_hdr *hdr;
	struct psyne_ring_slot *slots;
	uint8_t *data;
	uint64_t capacity;
	uint64_t mask;
	uint32_t mode;
	bool shared; /* other processes map the region: shared futexes, pid liveness */
	bool multi_producer;
	bool multi_consumer;

	uint32_t slot;
	uint32_t tag; /* owner tag: slot | gen << 6 */
	uint64_t word;
	pid_t pid;
	uint32_t role;
	uint32_t epoch;		 /* hdr->epoch when peers were last looked at */
	bool peers_gone;	 /* the other side has been taken and is empty now */
	bool lock_busy;		 /* the last try met a busy producer lock */
	uint64_t head_cache;	 /* producer: last head seen */
	bool caught_up;		 /* consumer: the last receive found the ring empty */
	uint64_t head_local;	 /* single consumer: released prefix (hdr->consumed) */
	uint64_t head_published; /* single consumer: head as last stored */
	bool waiting;		 /* the next try is the last before sleeping */
	uint32_t wait_mode;	 /* PSYNE_WAIT_* */
	uint64_t spin_ns;	 /* auto: what the next wait may spin (spin_budget()) */
	uint32_t waits;		 /* waits that could spin, counted for exploring */
	uint32_t cpu;		 /* 1 + the CPU we last said we run on; 0: not said */
	bool one_cpu;		 /* the machine has one CPU: spinning never pays */
	uint32_t n_others;	 /* slots of the other side, for their CPUs */
	uint8_t others[PSYNE_RING_SLOTS];
	uint64_t spins, yields; /* waits that spun, and that spun by yielding (for tests) */
	uint64_t sleeps;	/* waits that slept (for tests) */
	uint64_t wakes;		/* futex wake-ups this handle made as a publisher (for tests) */
	bool evict;		/* consumer: hand released lines back to memory (clflushopt) */
	uint64_t evicted;	/* consumer: lines below this were handed back */
	uint64_t evicted_lines; /* consumer: how many lines it flushed (for tests) */
	/*
	 * Single producer: the newest reservation, while nothing of it is in shared memory yet
	 * (see try_reserve_locked()). pos is where its record goes, after `wrap` bytes of wrap
	 * record at pos - wrap; end is where the next record goes.
	 */
	bool lazy;
	uint64_t lazy_pos;
	uint64_t lazy_wrap;
	uint64_t lazy_end;
	uint64_t messages;
	uint64_t bytes;
	uint64_t next_check_ns; /* when a waiter next looks at the peers' liveness */
	struct psyne_ring_peer peers[PSYNE_RING_SLOTS];
};

/* Bytes a region of `capacity` ring bytes needs. */
uint64_t psyne__ring_region_size(uint64_t capacity);

/* Writes a fresh header into `mem` (zeroed, psyne__ring_region_size(capacity) bytes). */
int psyne__ring_format(void *mem, uint64_t size, const char *name, uint32_t mode,
		       uint64_t capacity);

/*
 * Checks the identity of a region of `size` bytes that another process may have written:
 * magic, version, sizes, mode, name. Returns 0, -EPROTO (corrupt), -EPROTONOSUPPORT (other
 * major version) or -EEXIST (mode or capacity differ from what the caller asked; pass
 * UINT32_MAX / 0 for "any").
 */
int psyne__ring_check(const void *mem, uint64_t size, const char *name, uint32_t mode,
		      uint64_t capacity);

/*
 * Whether a region of `size` bytes says it is a psyne segment called `name` (magic and name
 * only): what tells a segment from whatever else a hostile name may point at.
 */
bool psyne__ring_is_named(const void *mem, uint64_t size, const char *name);

/*
 * Joins a checked region: takes a slot. `shared` says whether other processes map it. The
 * region must stay mapped until psyne__ring_leave().
 */
int psyne__ring_join(struct psyne_ring *r, void *mem, uint64_t size, bool shared);

/* Leaves: gives the slot and any single-producer/consumer ownership back, wakes waiters. */
void psyne__ring_leave(struct psyne_ring *r);

int psyne__ring_reserve(struct psyne_ring *r, size_t size, int timeout_ms,
			struct psyne_msg *ret_msg);
int psyne__ring_commit(struct psyne_ring *r, struct psyne_msg *msg);
void psyne__ring_cancel(struct psyne_ring *r, struct psyne_msg *msg);

/*
 * Receives the next message no larger than `max_size`; a larger one stays queued and the
 * call fails with -EMSGSIZE.
 */
int psyne__ring_receive(struct psyne_ring *r, int timeout_ms, size_t max_size,
			struct psyne_msg *ret_msg);
void psyne__ring_release(struct psyne_ring *r, struct psyne_msg *msg);

void psyne__ring_stats(struct psyne_ring *r, struct psyne_stats *ret_stats);

/* Mode names, for URIs and tools. */
const char *psyne__mode_to_string(uint32_t mode);
int psyne__mode_from_string(const char *s);

/* Sets how the handle waits: PSYNE_WAIT_* (default AUTO). */
void psyne__ring_set_wait(struct psyne_ring *r, uint32_t wait_mode);

/* Wait mode names ("auto", "spin", "block"), for URIs. */
int psyne__wait_from_string(const char *s);

#endif
