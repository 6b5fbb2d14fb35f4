/* SPDX-License-Identifier: MIT */
/*
 * libpsyne, through its zero-copy calls only: the producer reserves, writes in place and
 * commits; the consumer receives a view, reads in place and releases. Every wait passes
 * timeout -1, which spins briefly and then sleeps on a futex. One spsc channel per direction;
 * memory:// between two threads, ipc:// between two processes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "psyne.h"

struct bench_link {
	struct psyne_channel *tx, *rx;
	struct psyne_msg tx_msg, rx_msg;
};

static void psyne_link_close(struct bench_link *link)
{
	if (!link)
		return;
	psyne_close(link->tx);
	psyne_close(link->rx);
	free(link);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct bench_link *, psyne_link_close);

static int open_channel(const struct bench_cell *cell, const char *scheme, const char *dir,
			struct psyne_channel **ret_channel)
{
	char uri[160];
	int r;

	(void)snprintf(uri, sizeof(uri), "%s://bench-%s-%s?mode=spsc&capacity=%" PRIu64 "K", scheme,
		       cell->tag, dir, cell->capacity / 1024);
	r = psyne_open(uri, ret_channel);
	if (r < 0)
		return bench_fail(r, "psyne_open '%s'", uri);
	return 0;
}

static int psyne_link_open(const struct bench_cell *cell, const char *scheme, enum bench_side side,
			   struct bench_link **ret_link)
{
	_cleanup_(psyne_link_closep) struct bench_link *link = NULL;
	int r;

	link = bench_link_alloc(sizeof(*link));
	if (!link)
		return bench_fail(-ENOMEM, "allocating a link");

	r = open_channel(cell, scheme, side == BENCH_SIDE_A ? "ab" : "ba", &link->tx);
	if (r < 0)
		return r;
	r = open_channel(cell, scheme, side == BENCH_SIDE_A ? "ba" : "ab", &link->rx);
	if (r < 0)
		return r;

	*ret_link = TAKE_PTR(link);
	return 0;
}

static int psyne_memory_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			     struct bench_link **ret_link)
{
	return psyne_link_open(cell, "memory", side, ret_link);
}

static int psyne_ipc_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			  struct bench_link **ret_link)
{
	return psyne_link_open(cell, "ipc", side, ret_link);
}

static int psyne_link_reserve(struct bench_link *link, size_t size, void **ret_buf)
{
	int r;

	r = psyne_reserve(link->tx, size, -1, &link->tx_msg);
	if (r < 0)
		return bench_fail(r, "psyne_reserve");
	*ret_buf = link->tx_msg.data;
	return 0;
}

static int psyne_link_commit(struct bench_link *link)
{
	int r;

	r = psyne_commit(link->tx, &link->tx_msg);
	if (r < 0)
		return bench_fail(r, "psyne_commit");
	return 0;
}

static int psyne_link_receive(struct bench_link *link, const void **ret_buf, size_t *ret_size)
{
	int r;

	r = psyne_receive(link->rx, -1, &link->rx_msg);
	if (r < 0)
		return bench_fail(r, "psyne_receive");
	*ret_buf = link->rx_msg.data;
	*ret_size = link->rx_msg.size;
	return 0;
}

static void psyne_link_release(struct bench_link *link)
{
	psyne_release(link->rx, &link->rx_msg);
}

const struct bench_transport bench_transport_psyne_memory = {
	.id = "psyne-memory",
	.family = "psyne",
	.label = "psyne memory://",
	.two_processes = false,
	.open = psyne_memory_open,
	.close = psyne_link_close,
	.reserve = psyne_link_reserve,
	.commit = psyne_link_commit,
	.receive = psyne_link_receive,
	.release = psyne_link_release,
};

const struct bench_transport bench_transport_psyne_ipc = {
	.id = "psyne-ipc",
	.family = "psyne",
	.label = "psyne ipc://",
	.two_processes = true,
	.open = psyne_ipc_open,
	.close = psyne_link_close,
	.reserve = psyne_link_reserve,
	.commit = psyne_link_commit,
	.receive = psyne_link_receive,
	.release = psyne_link_release,
};
