/* SPDX-License-Identifier: MIT */
/*
 * libpsyne, through its zero-copy calls only: the producer reserves, writes in place and
 * commits; the consumer receives a view, reads in place and releases. Every wait passes
 * timeout -1.
 *
 * memory:// (two threads) and ipc:// (two processes): one spsc channel per direction. A
 * waiter spins briefly, then sleeps on a futex.
 *
 * unix:// and tcp:// (two processes): one spsc handle per side on one connection, which
 * carries both directions, as the library means a session to be used. Side B listens
 * (`unix://@psyne-bench-TAG?listen`, `tcp://127.0.0.1:PORT?listen`), side A dials; its
 * psyne_open() waits until the session is up. Both sides get `capacity` ring bytes, so the
 * largest message (capacity/2 - 64) is the same as ipc://'s. Everything else is psyne's
 * default: TCP_NODELAY, heartbeats every 500 ms, the library's own batching of commits that
 * follow a write within 2 us (docs/psyne.md), its I/O thread. A reservation is a slot in
 * the session's send ring right behind the frame header, and a received message a view into
 * the receive ring that recv() wrote into; the bytes cross the kernel like any socket's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
	if (link->rx != link->tx)
		psyne_close(link->rx);
	psyne_close(link->tx);
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

/* A network link: one handle for both directions, side B listening. */
static int psyne_net_open(const struct bench_cell *cell, const char *address, enum bench_side side,
			  struct bench_link **ret_link)
{
	_cleanup_(psyne_link_closep) struct bench_link *link = NULL;
	char uri[192];
	int r;

	link = bench_link_alloc(sizeof(*link));
	if (!link)
		return bench_fail(-ENOMEM, "allocating a link");

	/* connect_timeout is a dialer's option: a listener refuses it. */
	if (side == BENCH_SIDE_B)
		(void)snprintf(uri, sizeof(uri), "%s?listen&mode=spsc&capacity=%" PRIu64 "K",
			       address, cell->capacity / 1024);
	else
		(void)snprintf(uri, sizeof(uri),
			       "%s?mode=spsc&capacity=%" PRIu64 "K&connect_timeout=%d", address,
			       cell->capacity / 1024, BENCH_TIMEOUT_MS);
	/* Side B may not listen yet: a dialer is refused at once then, so dial again. */
	uint64_t deadline = bench_now() + (uint64_t)BENCH_TIMEOUT_MS * 1000000;
	while ((r = psyne_open(uri, &link->tx)) == -ECONNREFUSED && bench_now() < deadline)
		(void)usleep(1000);
	if (r < 0)
		return bench_fail(r, "psyne_open '%s'", uri);
	link->rx = link->tx;

	*ret_link = TAKE_PTR(link);
	return 0;
}

static int psyne_unix_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			   struct bench_link **ret_link)
{
	char address[96];

	(void)snprintf(address, sizeof(address), "unix://@psyne-bench-%s", cell->tag);
	return psyne_net_open(cell, address, side, ret_link);
}

static int psyne_tcp_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			  struct bench_link **ret_link)
{
	char address[64];

	(void)snprintf(address, sizeof(address), "tcp://127.0.0.1:%u", cell->port);
	return psyne_net_open(cell, address, side, ret_link);
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
	.groups = BENCH_GROUP_LOCAL,
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
	.groups = BENCH_GROUP_LOCAL,
	.two_processes = true,
	.open = psyne_ipc_open,
	.close = psyne_link_close,
	.reserve = psyne_link_reserve,
	.commit = psyne_link_commit,
	.receive = psyne_link_receive,
	.release = psyne_link_release,
};

const struct bench_transport bench_transport_psyne_unix = {
	.id = "psyne-unix",
	.family = "psyne",
	.label = "psyne unix://",
	.groups = BENCH_GROUP_NET,
	.net_column = 2,
	.two_processes = true,
	.open = psyne_unix_open,
	.close = psyne_link_close,
	.reserve = psyne_link_reserve,
	.commit = psyne_link_commit,
	.receive = psyne_link_receive,
	.release = psyne_link_release,
};

const struct bench_transport bench_transport_psyne_tcp = {
	.id = "psyne-tcp",
	.family = "psyne",
	.label = "psyne tcp://",
	.groups = BENCH_GROUP_NET,
	.net_column = 6,
	.two_processes = true,
	.uses_port = true,
	.open = psyne_tcp_open,
	.close = psyne_link_close,
	.reserve = psyne_link_reserve,
	.commit = psyne_link_commit,
	.receive = psyne_link_receive,
	.release = psyne_link_release,
};
