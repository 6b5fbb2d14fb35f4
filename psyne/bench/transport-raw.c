/* SPDX-License-Identifier: MIT */
/*
 * The physical reference of the network cells: a bare stream socket with no library on it,
 * the least that moves fixed-size messages between two processes through the kernel.
 * raw-unix is an AF_UNIX stream socket on the abstract name @psyne-bench-raw-TAG, raw-tcp a
 * TCP connection over 127.0.0.1:PORT with TCP_NODELAY on both ends. Side B listens and
 * accepts one connection; side A connects, retrying every millisecond until B listens.
 * Sockets are blocking, with the kernel's default buffer sizes.
 *
 * There is no framing: every message of a cell has the cell's size (control messages too),
 * so a message is simply the next `size` bytes of the stream.
 *
 * Sending: reserve hands out the next message slot of a batch buffer holding as many whole
 * messages as fit in RAW_BATCH_BYTES (at least one), the caller writes the payload there
 * (the bench's touch policy decides how much), and commit adds it to the batch. The batch
 * goes out in one blocking write loop when it is full, and before this side waits to
 * receive: a round trip therefore costs one write() and one read() per hop, and a stream of
 * 64 B messages goes out 4096 to a write. This is the best a raw socket can do: it knows when
 * the peer is about to wait, which no general messaging library can know.
 *
 * Receiving: one large read() at a time into a buffer of a whole number of messages (at
 * least 2 x RAW_BATCH_BYTES, at least two messages), taking whatever the kernel has; each
 * complete message is handed out as a view into that buffer, read in place by the bench's
 * check (touch policy again) and released. When the buffer is drained the next read lands at
 * its start again, so a ping-pong always reads into the same, warm, bytes.
 *
 * Every byte of every message crosses the kernel twice (write copies it in, read copies it
 * out) whatever the touch policy, exactly as it does for psyne's, ZeroMQ's and NNG's socket
 * transports.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

#define RAW_BATCH_BYTES (256u << 10)

struct bench_link {
	int fd;
	size_t size; /* every message's */
	uint8_t *tx;
	size_t tx_cap; /* whole messages */
	size_t tx_len;
	uint8_t *rx;
	size_t rx_cap;	       /* whole messages */
	size_t rx_off, rx_end; /* handed out up to rx_off, read up to rx_end */
};

static void raw_close(struct bench_link *link);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct bench_link *, raw_close);

/* Writes the batch; blocks until all of it is in the socket. */
static int raw_flush(struct bench_link *link)
{
	size_t done = 0;

	while (done < link->tx_len) {
		ssize_t n = send(link->fd, link->tx + done, link->tx_len - done, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return bench_fail(-errno, "send");
		}
		done += (size_t)n;
	}
	link->tx_len = 0;
	return 0;
}

static void raw_close(struct bench_link *link)
{
	if (!link)
		return;
	if (link->fd >= 0) {
		/* The last message (an end marker or an ack) may still sit in the batch. */
		if (link->tx)
			(void)raw_flush(link); /* a failure shows on the other side */
		(void)close(link->fd);
	}
	free(link->tx);
	free(link->rx);
	free(link);
}

static int socket_new(int family, int *ret_fd)
{
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return bench_fail(-errno, "socket");
	if (family == AF_INET && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		int r = -errno;

		(void)close(fd);
		return bench_fail(r, "setsockopt TCP_NODELAY");
	}
	*ret_fd = fd;
	return 0;
}

/* Side B: listens on `addr` and takes the first connection. */
static int raw_accept(const struct sockaddr *addr, socklen_t len, int *ret_fd)
{
	_cleanup_close_ int lfd = -EBADF;
	struct pollfd pfd;
	int fd, one = 1, r;

	r = socket_new(addr->sa_family, &lfd);
	if (r < 0)
		return r;
	if (addr->sa_family == AF_INET &&
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return bench_fail(-errno, "setsockopt SO_REUSEADDR");
	if (bind(lfd, addr, len) < 0)
		return bench_fail(-errno, "bind");
	if (listen(lfd, 1) < 0)
		return bench_fail(-errno, "listen");

	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	do
		r = poll(&pfd, 1, BENCH_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return bench_fail(-errno, "poll");
	if (r == 0)
		return bench_fail(-ETIMEDOUT, "waiting for side A to connect");
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return bench_fail(-errno, "accept");
	if (addr->sa_family == AF_INET &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		r = -errno;
		(void)close(fd);
		return bench_fail(r, "setsockopt TCP_NODELAY");
	}
	*ret_fd = fd;
	return 0;
}

/* Side A: connects to `addr`, again and again until side B listens. */
static int raw_connect(const struct sockaddr *addr, socklen_t len, int *ret_fd)
{
	uint64_t deadline = bench_now() + (uint64_t)BENCH_TIMEOUT_MS * 1000000;

	for (;;) {
		_cleanup_close_ int fd = -EBADF;
		int r;

		r = socket_new(addr->sa_family, &fd);
		if (r < 0)
			return r;
		if (connect(fd, addr, len) >= 0) {
			*ret_fd = TAKE_FD(fd);
			return 0;
		}
		r = -errno;
		if (r != -ECONNREFUSED && r != -ENOENT && r != -EINTR)
			return bench_fail(r, "connect");
		if (bench_now() > deadline)
			return bench_fail(r, "connecting to side B");
		(void)usleep(1000);
	}
}

static int raw_open(const struct bench_cell *cell, enum bench_side side,
		    const struct sockaddr *addr, socklen_t len, struct bench_link **ret_link)
{
	_cleanup_(raw_closep) struct bench_link *link = NULL;
	size_t per_write = MAX(RAW_BATCH_BYTES / cell->size, (uint64_t)1);
	size_t per_read = MAX(2 * RAW_BATCH_BYTES / cell->size, (uint64_t)2);
	int r;

	link = bench_link_alloc(sizeof(*link));
	if (!link)
		return bench_fail(-ENOMEM, "allocating a link");
	link->fd = -EBADF;
	link->size = cell->size;
	link->tx_cap = per_write * cell->size;
	link->rx_cap = per_read * cell->size;
	link->tx = aligned_alloc(64, ALIGN_TO(link->tx_cap, (size_t)64));
	link->rx = aligned_alloc(64, ALIGN_TO(link->rx_cap, (size_t)64));
	if (!link->tx || !link->rx)
		return bench_fail(-ENOMEM, "allocating the socket buffers");
	/* Touched once here, as the other transports' rings are mapped before they run. */
	memset(link->tx, 0, link->tx_cap);
	memset(link->rx, 0, link->rx_cap);

	if (side == BENCH_SIDE_B)
		r = raw_accept(addr, len, &link->fd);
	else
		r = raw_connect(addr, len, &link->fd);
	if (r < 0)
		return r;

	*ret_link = TAKE_PTR(link);
	return 0;
}

static int raw_unix_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			 struct bench_link **ret_link)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int n;

	/* Abstract: sun_path[0] is 0 and the name is not 0-terminated. */
	n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "psyne-bench-raw-%s", cell->tag);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path) - 1)
		return bench_fail(-ENAMETOOLONG, "abstract socket name");
	return raw_open(cell, side, (const struct sockaddr *)&sun,
			(socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n),
			ret_link);
}

static int raw_tcp_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			struct bench_link **ret_link)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)cell->port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};

	return raw_open(cell, side, (const struct sockaddr *)&sin, sizeof(sin), ret_link);
}

static int raw_reserve(struct bench_link *link, size_t size, void **ret_buf)
{
	int r;

	if (size != link->size)
		return bench_fail(-EMSGSIZE, "raw socket: %zu bytes", size);
	if (link->tx_len + size > link->tx_cap) {
		r = raw_flush(link);
		if (r < 0)
			return r;
	}
	*ret_buf = link->tx + link->tx_len;
	return 0;
}

static int raw_commit(struct bench_link *link)
{
	link->tx_len += link->size;
	if (link->tx_len + link->size > link->tx_cap)
		return raw_flush(link);
	return 0;
}

static int raw_receive(struct bench_link *link, const void **ret_buf, size_t *ret_size)
{
	int r;

	/* Whatever this side batched must be out before it waits: the peer may wait for it. */
	if (link->tx_len > 0) {
		r = raw_flush(link);
		if (r < 0)
			return r;
	}

	while (link->rx_end - link->rx_off < link->size) {
		ssize_t n;

		if (link->rx_off == link->rx_end)
			link->rx_off = link->rx_end = 0;
		else if (link->rx_cap - link->rx_off < link->size) {
			/* The partial message must continue where there is room for all of it. */
			memmove(link->rx, link->rx + link->rx_off, link->rx_end - link->rx_off);
			link->rx_end -= link->rx_off;
			link->rx_off = 0;
		}
		n = recv(link->fd, link->rx + link->rx_end, link->rx_cap - link->rx_end, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return bench_fail(-errno, "recv");
		}
		if (n == 0)
			return bench_fail(-EPIPE, "recv: the peer closed the connection");
		link->rx_end += (size_t)n;
	}

	*ret_buf = link->rx + link->rx_off;
	*ret_size = link->size;
	return 0;
}

static void raw_release(struct bench_link *link)
{
	link->rx_off += link->size;
}

const struct bench_transport bench_transport_raw_unix = {
	.id = "raw-unix",
	.family = "raw",
	.label = "raw unix",
	.groups = BENCH_GROUP_NET,
	.net_column = 1,
	.two_processes = true,
	.open = raw_unix_open,
	.close = raw_close,
	.reserve = raw_reserve,
	.commit = raw_commit,
	.receive = raw_receive,
	.release = raw_release,
	.flush = raw_flush,
};

const struct bench_transport bench_transport_raw_tcp = {
	.id = "raw-tcp",
	.family = "raw",
	.label = "raw tcp",
	.groups = BENCH_GROUP_NET,
	.net_column = 5,
	.two_processes = true,
	.uses_port = true,
	.open = raw_tcp_open,
	.close = raw_close,
	.reserve = raw_reserve,
	.commit = raw_commit,
	.receive = raw_receive,
	.release = raw_release,
	.flush = raw_flush,
};
