/* SPDX-License-Identifier: MIT */
/*
 * NNG, one pair0 socket per side. Messages are allocated with nng_msg_alloc() and written in
 * place, then handed over with nng_sendmsg(); the consumer reads them in place from
 * nng_recvmsg(). inproc:// passes the message between the threads; ipc:// (a Unix socket in
 * the run directory) and tcp:// (127.0.0.1:PORT, TCP_NODELAY by NNG's default) copy it
 * through the socket, driven by NNG's own threads. Calls block: on two cores NNG's threads
 * need the CPU a spinning caller would take.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

struct bench_link {
	nng_socket sock;
	bool open;
	bool sent_last; /* the last thing this link did was a send */
	nng_msg *tx, *rx;
};

/* How long a link whose last act was a send waits before closing. */
#define NNG_LINGER_MS 100

static int nng_to_errno(int rv)
{
	if (rv & NNG_ESYSERR)
		return -(rv & ~NNG_ESYSERR);
	switch (rv) {
	case NNG_ENOMEM:
		return -ENOMEM;
	case NNG_EINVAL:
		return -EINVAL;
	case NNG_ETIMEDOUT:
		return -ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECONNSHUT:
		return -EPIPE;
	case NNG_ECONNREFUSED:
		return -ECONNREFUSED;
	case NNG_EADDRINUSE:
		return -EADDRINUSE;
	case NNG_EMSGSIZE:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

static int nng_fail(int rv, const char *what)
{
	return bench_fail(nng_to_errno(rv), "%s (%s)", what, nng_strerror(rv));
}

static void nng_link_close(struct bench_link *link)
{
	if (!link)
		return;
	if (link->open) {
		/*
		 * NNG has no linger: nng_close() discards messages still queued in the socket,
		 * such as the final ack. Give them time to leave.
		 */
		if (link->sent_last)
			nng_msleep(NNG_LINGER_MS);
		(void)nng_close(link->sock);
	}
	free(link);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct bench_link *, nng_link_close);

static int nng_link_open(const struct bench_cell *cell, enum bench_side side, const char *url,
			 struct bench_link **ret_link)
{
	_cleanup_(nng_link_closep) struct bench_link *link = NULL;
	int buffered = (int)MIN(bench_queue_depth(cell->size, cell->capacity), UINT64_C(8192));
	int rv;

	link = bench_link_alloc(sizeof(*link));
	if (!link)
		return bench_fail(-ENOMEM, "allocating a link");

	rv = nng_pair0_open(&link->sock);
	if (rv != 0)
		return nng_fail(rv, "nng_pair0_open");
	link->open = true;

	/* No receive size limit (1 MiB by default), and queues as deep as the psyne ring. */
	rv = nng_socket_set_size(link->sock, NNG_OPT_RECVMAXSZ, 0);
	if (rv == 0)
		rv = nng_socket_set_int(link->sock, NNG_OPT_SENDBUF, buffered);
	if (rv == 0)
		rv = nng_socket_set_int(link->sock, NNG_OPT_RECVBUF, buffered);
	if (rv == 0)
		rv = nng_socket_set_ms(link->sock, NNG_OPT_RECONNMINT, 1);
	if (rv != 0)
		return nng_fail(rv, "nng_socket_set");

	/*
	 * The size limit is set on the listener and dialer too: ipc:// pipes take it from their
	 * endpoint, and a message over it silently drops the connection.
	 */
	if (side == BENCH_SIDE_B) {
		nng_listener listener;

		rv = nng_listener_create(&listener, link->sock, url);
		if (rv == 0)
			rv = nng_listener_set_size(listener, NNG_OPT_RECVMAXSZ, 0);
		if (rv == 0)
			rv = nng_listener_start(listener, 0);
		if (rv != 0)
			return nng_fail(rv, "nng_listen");
	} else {
		nng_dialer dialer;

		rv = nng_dialer_create(&dialer, link->sock, url);
		if (rv == 0)
			rv = nng_dialer_set_size(dialer, NNG_OPT_RECVMAXSZ, 0);
		if (rv == 0)
			rv = nng_dialer_set_ms(dialer, NNG_OPT_RECONNMINT, 1);
		/* Non-blocking: keeps redialling until side B listens. */
		if (rv == 0)
			rv = nng_dialer_start(dialer, NNG_FLAG_NONBLOCK);
		if (rv != 0)
			return nng_fail(rv, "nng_dial");
	}

	*ret_link = TAKE_PTR(link);
	return 0;
}

static int nng_inproc_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			   struct bench_link **ret_link)
{
	char url[128];

	(void)snprintf(url, sizeof(url), "inproc://bench-%s", cell->tag);
	return nng_link_open(cell, side, url, ret_link);
}

static int nng_ipc_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			struct bench_link **ret_link)
{
	char url[160];

	(void)snprintf(url, sizeof(url), "ipc://%s/nng-%s.sock", cell->dir, cell->tag);
	return nng_link_open(cell, side, url, ret_link);
}

static int nng_tcp_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			struct bench_link **ret_link)
{
	char url[64];

	(void)snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", cell->port);
	return nng_link_open(cell, side, url, ret_link);
}

static int nng_link_reserve(struct bench_link *link, size_t size, void **ret_buf)
{
	int rv;

	rv = nng_msg_alloc(&link->tx, size);
	if (rv != 0)
		return nng_fail(rv, "nng_msg_alloc");
	*ret_buf = nng_msg_body(link->tx);
	return 0;
}

static int nng_link_commit(struct bench_link *link)
{
	int rv;

	rv = nng_sendmsg(link->sock, link->tx, 0);
	if (rv != 0) {
		/* NNG takes the message only on success. */
		nng_msg_free(link->tx);
		return nng_fail(rv, "nng_sendmsg");
	}
	link->tx = NULL;
	link->sent_last = true;
	return 0;
}

static int nng_link_receive(struct bench_link *link, const void **ret_buf, size_t *ret_size)
{
	int rv;

	rv = nng_recvmsg(link->sock, &link->rx, 0);
	if (rv != 0)
		return nng_fail(rv, "nng_recvmsg");
	link->sent_last = false;
	*ret_buf = nng_msg_body(link->rx);
	*ret_size = nng_msg_len(link->rx);
	return 0;
}

static void nng_link_release(struct bench_link *link)
{
	nng_msg_free(link->rx);
	link->rx = NULL;
}

const struct bench_transport bench_transport_nng_inproc = {
	.id = "nng-inproc",
	.family = "nng",
	.label = "nng inproc",
	.groups = BENCH_GROUP_LOCAL,
	.two_processes = false,
	.open = nng_inproc_open,
	.close = nng_link_close,
	.reserve = nng_link_reserve,
	.commit = nng_link_commit,
	.receive = nng_link_receive,
	.release = nng_link_release,
};

const struct bench_transport bench_transport_nng_ipc = {
	.id = "nng-ipc",
	.family = "nng",
	.label = "nng ipc",
	.groups = BENCH_GROUP_LOCAL | BENCH_GROUP_NET,
	.net_column = 4,
	.two_processes = true,
	.open = nng_ipc_open,
	.close = nng_link_close,
	.reserve = nng_link_reserve,
	.commit = nng_link_commit,
	.receive = nng_link_receive,
	.release = nng_link_release,
};

const struct bench_transport bench_transport_nng_tcp = {
	.id = "nng-tcp",
	.family = "nng",
	.label = "nng tcp",
	.groups = BENCH_GROUP_NET,
	.net_column = 8,
	.two_processes = true,
	.uses_port = true,
	.open = nng_tcp_open,
	.close = nng_link_close,
	.reserve = nng_link_reserve,
	.commit = nng_link_commit,
	.receive = nng_link_receive,
	.release = nng_link_release,
};
