/* SPDX-License-Identifier: MIT */
/*
 * ZeroMQ (libzmq), one PAIR socket per side. Messages are built with zmq_msg_init_size() and
 * written in place, then handed over with zmq_msg_send(); the consumer reads them in place
 * from zmq_msg_recv(). Over inproc:// libzmq passes the message buffer between the threads;
 * over ipc:// (a Unix socket in the run directory) and tcp:// (127.0.0.1:PORT) it is copied
 * through the socket by the context's I/O thread, which batches small messages per write.
 * libzmq sets TCP_NODELAY on its TCP sockets itself. Calls block (no ZMQ_DONTWAIT
 * spinning): on two cores the I/O thread needs the CPU a spinning caller would take. Default
 * high-water marks (1000 messages) apply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "bench.h"

/*
 * How long closing waits for queued messages (the final ack) to leave over ipc://; with 0
 * libzmq would drop them.
 */
#define ZMQ_LINGER_MS 2000

struct bench_link {
	void *ctx; /* owned by the link over ipc://, borrowed from shared over inproc:// */
	bool own_ctx;
	void *sock;
	zmq_msg_t tx, rx;
};

static int zmq_fail(const char *what)
{
	int r = -zmq_errno();

	return bench_fail(r, "%s (%s)", what, zmq_strerror(-r));
}

static int zmq_shared_new(const struct bench_cell *cell, void **ret_shared)
{
	void *ctx;

	ctx = zmq_ctx_new();
	if (!ctx)
		return zmq_fail("zmq_ctx_new");
	*ret_shared = ctx;
	return 0;
}

static void zmq_shared_free(void *shared)
{
	if (shared)
		(void)zmq_ctx_term(shared);
}

static void zmq_link_close(struct bench_link *link)
{
	if (!link)
		return;
	if (link->sock)
		(void)zmq_close(link->sock);
	if (link->own_ctx)
		(void)zmq_ctx_term(link->ctx);
	free(link);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct bench_link *, zmq_link_close);

static int zmq_link_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			 const char *url, struct bench_link **ret_link)
{
	_cleanup_(zmq_link_closep) struct bench_link *link = NULL;
	int linger = ZMQ_LINGER_MS, r;

	link = bench_link_alloc(sizeof(*link));
	if (!link)
		return bench_fail(-ENOMEM, "allocating a link");

	link->ctx = shared;
	if (!link->ctx) {
		link->ctx = zmq_ctx_new();
		if (!link->ctx)
			return zmq_fail("zmq_ctx_new");
		link->own_ctx = true;
	}

	link->sock = zmq_socket(link->ctx, ZMQ_PAIR);
	if (!link->sock)
		return zmq_fail("zmq_socket");
	if (zmq_setsockopt(link->sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0)
		return zmq_fail("zmq_setsockopt ZMQ_LINGER");

	if (side == BENCH_SIDE_B)
		r = zmq_bind(link->sock, url);
	else
		r = zmq_connect(link->sock, url);
	if (r < 0)
		return zmq_fail(side == BENCH_SIDE_B ? "zmq_bind" : "zmq_connect");

	*ret_link = TAKE_PTR(link);
	return 0;
}

static int zmq_inproc_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			   struct bench_link **ret_link)
{
	char url[128];

	(void)snprintf(url, sizeof(url), "inproc://bench-%s", cell->tag);
	return zmq_link_open(cell, shared, side, url, ret_link);
}

static int zmq_ipc_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			struct bench_link **ret_link)
{
	char url[160];

	(void)snprintf(url, sizeof(url), "ipc://%s/zmq-%s.sock", cell->dir, cell->tag);
	return zmq_link_open(cell, NULL, side, url, ret_link);
}

static int zmq_tcp_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			struct bench_link **ret_link)
{
	char url[64];

	(void)snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", cell->port);
	return zmq_link_open(cell, NULL, side, url, ret_link);
}

static int zmq_link_reserve(struct bench_link *link, size_t size, void **ret_buf)
{
	if (zmq_msg_init_size(&link->tx, size) < 0)
		return zmq_fail("zmq_msg_init_size");
	*ret_buf = zmq_msg_data(&link->tx);
	return 0;
}

static int zmq_link_commit(struct bench_link *link)
{
	int r;

	for (;;) {
		if (zmq_msg_send(&link->tx, link->sock, 0) >= 0)
			return 0; /* the message is libzmq's now */
		if (zmq_errno() != EINTR)
			break;
	}

	r = zmq_fail("zmq_msg_send");
	(void)zmq_msg_close(&link->tx);
	return r;
}

static int zmq_link_receive(struct bench_link *link, const void **ret_buf, size_t *ret_size)
{
	(void)zmq_msg_init(&link->rx);
	for (;;) {
		if (zmq_msg_recv(&link->rx, link->sock, 0) >= 0)
			break;
		if (zmq_errno() != EINTR) {
			int r = zmq_fail("zmq_msg_recv");

			(void)zmq_msg_close(&link->rx);
			return r;
		}
	}

	*ret_buf = zmq_msg_data(&link->rx);
	*ret_size = zmq_msg_size(&link->rx);
	return 0;
}

static void zmq_link_release(struct bench_link *link)
{
	(void)zmq_msg_close(&link->rx);
}

const struct bench_transport bench_transport_zmq_inproc = {
	.id = "zmq-inproc",
	.family = "zmq",
	.label = "zmq inproc",
	.groups = BENCH_GROUP_LOCAL,
	.two_processes = false,
	.shared_new = zmq_shared_new,
	.shared_free = zmq_shared_free,
	.open = zmq_inproc_open,
	.close = zmq_link_close,
	.reserve = zmq_link_reserve,
	.commit = zmq_link_commit,
	.receive = zmq_link_receive,
	.release = zmq_link_release,
};

const struct bench_transport bench_transport_zmq_ipc = {
	.id = "zmq-ipc",
	.family = "zmq",
	.label = "zmq ipc",
	.groups = BENCH_GROUP_LOCAL | BENCH_GROUP_NET,
	.net_column = 3,
	.two_processes = true,
	.open = zmq_ipc_open,
	.close = zmq_link_close,
	.reserve = zmq_link_reserve,
	.commit = zmq_link_commit,
	.receive = zmq_link_receive,
	.release = zmq_link_release,
};

const struct bench_transport bench_transport_zmq_tcp = {
	.id = "zmq-tcp",
	.family = "zmq",
	.label = "zmq tcp",
	.groups = BENCH_GROUP_NET,
	.net_column = 7,
	.two_processes = true,
	.uses_port = true,
	.open = zmq_tcp_open,
	.close = zmq_link_close,
	.reserve = zmq_link_reserve,
	.commit = zmq_link_commit,
	.receive = zmq_link_receive,
	.release = zmq_link_release,
};
