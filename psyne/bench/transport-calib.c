/* SPDX-License-Identifier: MIT */
/*
 * The calibration: the smallest thing that can move a message between two cores, a
 * fixed-slot single-producer single-consumer ring in one process, carrying messages of one
 * fixed size, with free-running 64-bit indices on their own cache lines, a cached copy of
 * the other side's index, and spinning.
 * What it measures is the machine (cache-line transfer between the two cores), which is the
 * floor every other column stands on.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

struct calib_ring {
	_Alignas(64) _Atomic uint64_t head; /* written by the producer */
	_Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
	_Alignas(64) uint64_t n_slots;	    /* a power of two */
	uint64_t slot_size;		    /* a multiple of 64 */
	uint8_t *slots;
};

struct calib_shared {
	struct calib_ring rings[2]; /* [0]: A->B, [1]: B->A */
};

struct bench_link {
	struct calib_ring *tx, *rx;
	uint64_t tx_head, tx_tail_cache; /* the producer's view */
	uint64_t rx_tail, rx_head_cache; /* the consumer's view */
	uint64_t size;			 /* every message has the cell's size */
	bool yield;
};

static void calib_shared_free(void *userdata)
{
	struct calib_shared *shared = userdata;

	if (!shared)
		return;
	for (size_t i = 0; i < 2; i++) {
		struct calib_ring *ring = &shared->rings[i];

		if (ring->slots)
			(void)munmap(ring->slots, ring->n_slots * ring->slot_size);
	}
	free(shared);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct calib_shared *, calib_shared_free);

static int calib_shared_new(const struct bench_cell *cell, void **ret_shared)
{
	_cleanup_(calib_shared_freep) struct calib_shared *shared = NULL;
	uint64_t slot_size = ALIGN_TO(cell->size, UINT64_C(64)), n_slots = 2;

	/* As many slots as the same capacity holds in the other rings, a power of two. */
	while (n_slots * 2 <= bench_queue_depth(cell->size, cell->capacity))
		n_slots *= 2;

	shared = aligned_alloc(64, sizeof(*shared));
	if (!shared)
		return bench_fail(-ENOMEM, "allocating the calibration rings");
	memset(shared, 0, sizeof(*shared));

	for (size_t i = 0; i < 2; i++) {
		struct calib_ring *ring = &shared->rings[i];
		void *p;

		ring->n_slots = n_slots;
		ring->slot_size = slot_size;
		/* Populated up front, as the shared-memory rings of the others are. */
		p = mmap(NULL, n_slots * slot_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			return bench_fail(-errno, "mapping a calibration ring");
		ring->slots = p;
	}

	*ret_shared = TAKE_PTR(shared);
	return 0;
}

static int calib_open(const struct bench_cell *cell, void *userdata, enum bench_side side,
		      struct bench_link **ret_link)
{
	struct calib_shared *shared = userdata;
	struct bench_link *link;

	link = bench_link_alloc(sizeof(*link));
	if (!link)
		return bench_fail(-ENOMEM, "allocating a link");
	link->tx = &shared->rings[side == BENCH_SIDE_A ? 0 : 1];
	link->rx = &shared->rings[side == BENCH_SIDE_A ? 1 : 0];
	link->size = cell->size;
	link->yield = cell->yield;

	*ret_link = link;
	return 0;
}

static void calib_close(struct bench_link *link)
{
	free(link);
}

static int calib_reserve(struct bench_link *link, size_t size, void **ret_buf)
{
	struct calib_ring *ring = link->tx;

	if (size != link->size)
		return bench_fail(-EMSGSIZE, "calibration ring: %zu bytes", size);

	while (link->tx_head - link->tx_tail_cache >= ring->n_slots) {
		link->tx_tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
		if (link->tx_head - link->tx_tail_cache >= ring->n_slots)
			bench_relax(link->yield);
	}

	*ret_buf = ring->slots + (link->tx_head & (ring->n_slots - 1)) * ring->slot_size;
	return 0;
}

static int calib_commit(struct bench_link *link)
{
	atomic_store_explicit(&link->tx->head, ++link->tx_head, memory_order_release);
	return 0;
}

static int calib_receive(struct bench_link *link, const void **ret_buf, size_t *ret_size)
{
	struct calib_ring *ring = link->rx;

	while (link->rx_tail == link->rx_head_cache) {
		link->rx_head_cache = atomic_load_explicit(&ring->head, memory_order_acquire);
		if (link->rx_tail == link->rx_head_cache)
			bench_relax(link->yield);
	}

	*ret_buf = ring->slots + (link->rx_tail & (ring->n_slots - 1)) * ring->slot_size;
	*ret_size = link->size;
	return 0;
}

static void calib_release(struct bench_link *link)
{
	atomic_store_explicit(&link->rx->tail, ++link->rx_tail, memory_order_release);
}

const struct bench_transport bench_transport_calib = {
	.id = "calib",
	.family = "calib",
	.label = "calib ring",
	.groups = BENCH_GROUP_LOCAL,
	.two_processes = false,
	.shared_new = calib_shared_new,
	.shared_free = calib_shared_free,
	.open = calib_open,
	.close = calib_close,
	.reserve = calib_reserve,
	.commit = calib_commit,
	.receive = calib_receive,
	.release = calib_release,
};
