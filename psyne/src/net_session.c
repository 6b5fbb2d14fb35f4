/* SPDX-License-Identifier: MIT */
/*
 * Sessions of the stream engine (net_internal.h): their life (made, up, down, resumed,
 * gone, reaped), reading from their connections into the receive parser (net_rx.c) and
 * acting on what it reports, their timers, and the handle's stats page (netstat.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "net_internal.h"
#include "netstat.h"
#include "tls.h"

/* recv() or its TLS counterpart: bytes, 0 at the peer's close, or a negative errno. */
ssize_t psyne__net_stream_read(struct psyne_tls *tls, int fd, void *buf, size_t len, bool block)
{
	ssize_t n;

	if (tls)
		return psyne__tls_read(tls, buf, len);
	n = recv(fd, buf, len, block ? 0 : MSG_DONTWAIT);
	return n < 0 ? -errno : n;
}

/*
 * recvmsg() on a unix socket, which may carry memfds: they go to `fds` (at most `max`, the
 * number in *ret_nfds). A message whose descriptors did not fit is a protocol error.
 */
static ssize_t stream_read_fds(int fd, void *buf, size_t len, bool block, int *fds, unsigned max,
			       unsigned *ret_nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	unsigned n_fds = 0;
	bool lost = false;
	ssize_t n;

	n = recvmsg(fd, &mh, (block ? 0 : MSG_DONTWAIT) | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n_fds < max)
				fds[n_fds++] = got;
			else {
				close(got);
				lost = true;
			}
		}
	}
	*ret_nfds = n_fds;
	if (lost || (mh.msg_flags & MSG_CTRUNC)) {
		for (unsigned i = 0; i < n_fds; i++)
			close(fds[i]);
		*ret_nfds = 0;
		return -EPROTO;
	}
	return n;
}

/* ---- the stats page (netstat.h) ---------------------------------------------------- */

/*
 * Everything here runs under the lock and only stores to the page: no system call, no
 * allocation. The counters of a commit or a receive are a handful of stores; the I/O thread
 * writes the whole page once per turn of its loop, and state changes write it at once.
 */

static const uint32_t page_states[] = {
	[NET_PEER_CONNECTING] = PSYNE_NETSTAT_PEER_CONNECTING,
	[NET_PEER_TLS] = PSYNE_NETSTAT_PEER_TLS,
	[NET_PEER_HELLO] = PSYNE_NETSTAT_PEER_HELLO,
	[NET_PEER_UP] = PSYNE_NETSTAT_PEER_UP,
	[NET_PEER_DOWN] = PSYNE_NETSTAT_PEER_DOWN,
	[NET_PEER_GONE] = PSYNE_NETSTAT_PEER_GONE,
};

/* After a commit: what it sent. */
void psyne__net_page_sent(struct net_peer *p)
{
	struct psyne_netstat *s = p->ch->page;
	struct psyne_netstat_peer *e;

	if (!s)
		return;
	psyne__netstat_begin(&s->hdr->gen);
	psyne__netstat_put(&s->hdr->sent, p->ch->count.sent);
	psyne__netstat_put(&s->hdr->sent_bytes, p->ch->count.sent_bytes);
	psyne__netstat_end(&s->hdr->gen);
	e = psyne__netstat_entry(s, p->index, p);
	if (!e)
		return;
	psyne__netstat_begin(&e->gen);
	psyne__netstat_put(&e->tx_queued, p->tx.end - p->tx.acked);
	psyne__netstat_put(&e->messages_tx, p->messages_tx);
	psyne__netstat_put(&e->bytes_tx, p->bytes_tx);
	psyne__netstat_end(&e->gen);
}

/* After a message was taken (`taken`) or released: what is received and still held. */
void psyne__net_page_received(struct net_peer *p, bool taken)
{
	struct psyne_netstat *s = p->ch->page;
	struct psyne_netstat_peer *e;

	if (!s)
		return;
	if (taken) {
		psyne__netstat_begin(&s->hdr->gen);
		psyne__netstat_put(&s->hdr->received, p->ch->count.received);
		psyne__netstat_put(&s->hdr->received_bytes, p->ch->count.received_bytes);
		psyne__netstat_end(&s->hdr->gen);
	}
	e = psyne__netstat_entry(s, p->index, p);
	if (!e)
		return;
	psyne__netstat_begin(&e->gen);
	psyne__netstat_put(&e->rx_queued, p->rx.filled - p->rx.free);
	if (taken) {
		psyne__netstat_put(&e->messages_rx, p->messages_rx);
		psyne__netstat_put(&e->bytes_rx, p->bytes_rx);
	}
	psyne__netstat_end(&e->gen);
}

/* The whole page: counters, and every session the table has room for. */
void psyne__net_page_sync(struct net_chan *c)
{
	struct psyne_netstat *s = c->page;
	uint32_t n;

	if (!s)
		return;
	n = MIN(c->n_peers, PSYNE_NETSTAT_MAX_PEERS);
	psyne__netstat_begin(&s->hdr->gen);
	psyne__netstat_put(&s->hdr->sent, c->count.sent);
	psyne__netstat_put(&s->hdr->sent_bytes, c->count.sent_bytes);
	psyne__netstat_put(&s->hdr->received, c->count.received);
	psyne__netstat_put(&s->hdr->received_bytes, c->count.received_bytes);
	psyne__netstat_put(&s->hdr->reconnects, c->count.reconnects);
	psyne__netstat_put(&s->hdr->dropped, c->lis.dropped);
	psyne__netstat_put32(&s->hdr->n_peers, n);
	psyne__netstat_put32(&s->hdr->sessions, c->n_peers);
	psyne__netstat_put32(&s->hdr->handshakes, c->lis.n_pending);
	psyne__netstat_put32(&s->hdr->last_error, (uint32_t)-c->last_error);
	psyne__netstat_put(&s->hdr->bad_sessions, c->count.bad_sessions);
	psyne__netstat_end(&s->hdr->gen);
	for (uint32_t i = 0; i < n; i++) {
		struct net_peer *p = c->peers[i];
		struct psyne_netstat_peer *e = psyne__netstat_claim(s, i, p, p->name);

		if (!e)
			break;
		psyne__netstat_begin(&e->gen);
		psyne__netstat_put32(&e->state, page_states[p->state]);
		psyne__netstat_put32(&e->last_error, (uint32_t)-p->last_error);
		psyne__netstat_put(&e->tx_queued, p->tx.end - p->tx.acked);
		psyne__netstat_put(&e->rx_queued, p->rx.filled - p->rx.free);
		psyne__netstat_put(&e->messages_tx, p->messages_tx);
		psyne__netstat_put(&e->bytes_tx, p->bytes_tx);
		psyne__netstat_put(&e->messages_rx, p->messages_rx);
		psyne__netstat_put(&e->bytes_rx, p->bytes_rx);
		psyne__netstat_put(&e->retransmits, p->retransmits);
		psyne__netstat_put(&e->reconnects, p->reconnects > 0 ? p->reconnects - 1 : 0);
		psyne__netstat_end(&e->gen);
	}
	psyne__netstat_trim(s, n);
}

/* Made before the I/O thread starts; a handle without one works, unseen by psyne stat. */
void psyne__net_page_open(struct net_chan *c, const struct psyne_uri *uri)
{
	int r = psyne__netstat_new(uri->scheme, uri->address, c->cfg.listener, c->cfg.mode,
				   c->cfg.capacity, &c->page);

	if (r < 0)
		psyne__log_debug("%s: no stats page: %s, ignoring", c->addr.text, strerror(-r));
}

/* Published last, as ipc:// does: a reader that finds it finds a working handle. */
void psyne__net_page_publish(struct net_chan *c)
{
	int r;

	if (!c->page)
		return;
	pthread_mutex_lock(&c->lock);
	psyne__net_page_sync(c);
	r = psyne__netstat_publish(c->page);
	if (r < 0) {
		psyne__log_debug("%s: stats page not published: %s, ignoring", c->addr.text,
				 strerror(-r));
		c->page = psyne__netstat_free(c->page);
	}
	pthread_mutex_unlock(&c->lock);
}

/* Closes a socket another thread was using when the session dropped it. */
void psyne__net_fd_settle(struct net_peer *p)
{
	if (p->conn.dead_fd >= 0 && !p->conn.reading && !p->conn.writing) {
		psyne__tls_free(p->conn.dead_tls);
		p->conn.dead_tls = NULL;
		close(p->conn.dead_fd);
		p->conn.dead_fd = -1;
	}
}

void psyne__net_peer_gone(struct net_peer *p, int err)
{
	struct net_chan *c = p->ch;
	bool bad = err == -EPROTO || err == -EBADMSG || err == -EMSGSIZE || err == -EPROTONOSUPPORT;

	p->state = NET_PEER_GONE;
	p->error = err;
	p->last_error = err;
	c->last_error = err;
	if (bad) {
		c->count.bad_sessions++;
		c->proved_bad += p->proved;
	} else if (p->proved) {
		c->end_error = err;
	}
	net_wake_user(c);
}

/*
 * A large frame arrives in many pieces, and each would wake the waiting thread (poll(),
 * then recv()) for a part of it: a 1 MiB frame over TCP loopback took about ten. While
 * the rest of a large frame is missing, SO_RCVLOWAT tells the kernel to wake us only once
 * that much is there (it grows the receive buffer to hold it). Only over plain TCP: TLS
 * bytes are not frame bytes, and Unix sockets do not heed it in poll(). The rest of a
 * frame always comes, since the sender writes whole frames, and the header's length was
 * checked by the parser.
 */
static void rx_lowat(struct net_peer *p)
{
	uint64_t missing;
	int want = 1;

	if (p->conn.tls || p->ch->addr.ss.ss_family == AF_UNIX || p->conn.fd < 0)
		return;
	missing = psyne__net_rx_missing(&p->rx);
	if (missing >= NET_LOWAT_MIN)
		want = (int)MIN(missing, (uint64_t)NET_LOWAT_MAX);
	if ((uint32_t)want == p->conn.rcvlowat || (p->conn.rcvlowat == 0 && want == 1))
		return;
	if (setsockopt(p->conn.fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == 0)
		p->conn.rcvlowat = (uint32_t)want;
}

/* What a frame asks of the session (psyne__net_rx_parse()). */
static int peer_event(struct net_peer *p, const struct net_rx_event *ev)
{
	uint32_t e;

	uint64_t acked = p->tx.acked_seq;

	switch (ev->kind) {
	case NET_RX_EV_ACK:
		psyne__net_tx_ack(p, ev->seq);
		if (!p->proved && p->tx.acked_seq > acked)
			return psyne__net_peer_prove(p, false); /* one of ours arrived */
		return 0;
	case NET_RX_EV_PING:
		(void)psyne__net_ctl_append(p, PSYNE_FRAME_PONG, ev->seq, NULL, 0);
		if (p->rx.seq != UINT64_MAX &&
		    psyne__net_ctl_append(p, PSYNE_FRAME_ACK, p->rx.seq, NULL, 0))
			p->rx.unacked = 0;
		return 0;
	case NET_RX_EV_BYE:
		if (psyne__net_ctl_append(p, PSYNE_FRAME_ACK, p->rx.seq, NULL, 0))
			p->rx.unacked = 0;
		return 0;
	case NET_RX_EV_HELLO:
		if (p->state != NET_PEER_HELLO)
			return -EPROTO;
		return psyne__net_dial_hello(p, ev->payload);
	case NET_RX_EV_REJECT:
		memcpy(&e, ev->payload, 4);
		e = le32toh(e);
		psyne__log_warning("%s refused us: %.*s", p->name, (int)(ev->length - 4),
				   (const char *)ev->payload + 4);
		return e > 0 && e < 4096 ? -(int)e : -ECONNREFUSED;
	}
	return -EPROTO;
}

/*
 * Parses what was read and acts on it. Returns 0, or a negative errno when the peer sent
 * something it must not have (the connection is then to be dropped).
 */
static int peer_parse(struct net_peer *p)
{
	uint64_t parsed = p->rx.parsed;
	struct net_rx_event ev;
	int r;

	while ((r = psyne__net_rx_parse(&p->rx, p->state == NET_PEER_UP, &ev)) > 0) {
		r = peer_event(p, &ev);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	/* Before anything it sent can be taken: the lock is held from here to the caller. */
	if (!p->proved && (p->rx.data_seen || p->rx.bye_received)) {
		r = psyne__net_peer_prove(p, !p->rx.data_seen);
		if (r < 0)
			return r;
	}
	/* The peer is alive: it sent whole frames (once per read; the clock costs). */
	if (p->rx.parsed != parsed)
		p->last_rx_ns = net_now();
	psyne__net_rx_collect(&p->rx);
	/* Acknowledge often enough that the sender never runs out of ring. */
	if (net_rx_ack_due(&p->rx) && psyne__net_ctl_append(p, PSYNE_FRAME_ACK, p->rx.seq, NULL, 0))
		p->rx.unacked = 0;
	return 0;
}

ssize_t psyne__net_rx_read(struct net_peer *p, bool block)
{
	struct net_chan *c = p->ch;
	uint64_t room = net_rx_room(&p->rx);
	ssize_t n;
	int fd = p->conn.fd, r;

	uint8_t *at = psyne__dbuf_at(&p->rx.buf, p->rx.filled);
	struct psyne_tls *tls = p->conn.tls;

	if (!net_can_read(p) || fd < 0 || room == 0 || p->state == NET_PEER_TLS)
		return 0;
	int fds[8];
	unsigned n_fds = 0;
	size_t want = (size_t)MIN(room, (uint64_t)NET_READ_MAX);

	p->conn.reading = true;
	pthread_mutex_unlock(&c->lock);
	if (c->cfg.fd_passing)
		n = stream_read_fds(fd, at, want, block, fds, ELEMENTSOF(fds), &n_fds);
	else
		n = psyne__net_stream_read(tls, fd, at, want, block);
	int e = n < 0 ? (int)-n : 0;
	pthread_mutex_lock(&c->lock);
	p->conn.reading = false;
	/* A short read took all the socket had (TLS hands over a record at a time: never). */
	p->conn.drained = !tls && (n < 0 ? e == EAGAIN : (size_t)n < want);
	psyne__net_fd_settle(p);
	if (p->conn.fd != fd) {
		for (unsigned i = 0; i < n_fds; i++)
			close(fds[i]);
		return 0; /* dropped meanwhile */
	}
	if (psyne__net_rx_push_fds(&p->rx, fds, n_fds) < 0) {
		e = EPROTO; /* descriptors far ahead of their frames */
		n = -1;
	}
	if (n == 0) {
		psyne__net_peer_down(p, p->rx.bye_received ? -EPIPE : -ECONNRESET,
				     "connection closed");
		return -ECONNRESET;
	}
	if (n < 0) {
		if (e == EAGAIN || e == EINTR)
			return 0;
		if (tls && p->state == NET_PEER_HELLO) {
			/* TLS 1.3 finishes the dialer's handshake before the listener has checked
			 * its certificate: a refusal shows up here, as the first read failing. */
			psyne__log_warning("%s: TLS: the listener refused our credentials",
					   p->name);
			psyne__net_peer_down(p, -EACCES, "TLS refused");
			return -EACCES;
		}
		psyne__net_peer_down(p, -e, "read failed");
		return -e;
	}
	p->rx.filled += (uint64_t)n;
	r = peer_parse(p);
	if (r < 0) {
		/* A peer that breaks the protocol is not waited for: its session ends, and only
		 * its own (psyne__net_peer_gone()). */
		psyne__net_listener_warn(c, "%s: %s: session dropped: %s", c->where, p->name,
					 psyne_strerror(r));
		psyne__net_peer_down(p, r, psyne_strerror(r));
		return r;
	}
	rx_lowat(p);
	if (psyne__net_tx_pending(p))
		(void)psyne__net_tx_flush(p); /* owed control frames: ACK, PONG */
	return n;
}

int psyne__net_take_message(struct net_peer *p, size_t max_size, struct psyne_msg *ret)
{
	int r = psyne__net_rx_take(&p->rx, max_size, p, ret);

	if (r < 0)
		return r;
	p->tx.taken_since_write = true;
	p->messages_rx++;
	p->bytes_rx += ret->size;
	p->ch->count.received++;
	p->ch->count.received_bytes += ret->size;
	psyne__net_page_received(p, true);
	return 0;
}

void psyne__net_peer_free(struct net_peer *p)
{
	if (!p)
		return;
	psyne__net_unwatch(p->ch, &p->ep);
	psyne__net_tx_done(p);
	psyne__net_rx_done(&p->rx);
	psyne__tls_free(p->conn.tls);
	psyne__tls_free(p->conn.dead_tls);
	if (p->conn.fd >= 0)
		close(p->conn.fd);
	if (p->conn.dead_fd >= 0)
		close(p->conn.dead_fd);
	free(p);
}

int psyne__net_peer_new(struct net_chan *c, uint64_t session, struct net_peer **ret)
{
	struct net_peer *p, **v;
	int r;

	if (c->n_peers % 8 == 0) {
		v = realloc(c->peers, (c->n_peers + 8) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->peers = v;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ch = c;
	p->conn.fd = p->conn.dead_fd = -1;
	p->ep = (struct net_ep){ .kind = NET_EP_PEER, .owner = p, .fd = -1 };
	p->session = session;
	p->state = NET_PEER_DOWN;
	p->backoff_ms = NET_BACKOFF_MIN_MS;
	r = psyne__dbuf_init(&p->tx.buf, c->cfg.capacity);
	if (r >= 0)
		r = psyne__net_rx_init(&p->rx, c->cfg.capacity, c->cfg.max_msg, c->cfg.fd_passing);
	if (r >= 0 && c->tls) {
		p->tx.stage = malloc(NET_STAGE);
		if (!p->tx.stage)
			r = -ENOMEM;
	}
	if (r < 0) {
		psyne__net_peer_free(p);
		return r;
	}
	p->index = c->n_peers;
	c->peers[c->n_peers++] = p;
	*ret = p;
	return 0;
}

static void peer_remove(struct net_chan *c, struct net_peer *p)
{
	uint32_t i = p->index;

	c->peers[i] = c->peers[--c->n_peers];
	c->peers[i]->index = i;
	psyne__net_peer_free(p);
}

/* Connection lost (or refused): close it; the session lives on unless `err` ends it. */
void psyne__net_peer_down(struct net_peer *p, int err, const char *why)
{
	struct net_chan *c = p->ch;

	if (p->conn.fd >= 0) {
		if (p->state == NET_PEER_UP && !p->rx.bye_received)
			psyne__log_debug("%s: connection lost: %s", p->name, why);
		/* Before the descriptor is closed, or left to the other thread to close. */
		psyne__net_unwatch(c, &p->ep);
		if (p->conn.reading || p->conn.writing) {
			/* The other thread is in a system call on it: the number must not be
			 * reused under it. It closes the socket when it comes back. */
			(void)shutdown(p->conn.fd, SHUT_RDWR);
			p->conn.dead_fd = p->conn.fd;
			p->conn.dead_tls = p->conn.tls;
		} else {
			psyne__tls_free(p->conn.tls);
			close(p->conn.fd);
		}
		p->conn.tls = NULL;
		p->conn.fd = -1;
	}
	p->tx.ctl_off = p->tx.ctl_len = 0;
	p->tx.stage_off = p->tx.stage_len = 0;
	p->tx.off = 0;
	/* Whatever was read of a frame that did not complete is dropped with the connection. */
	psyne__net_rx_reset_connection(&p->rx);
	if (p->rx.bye_received || err == -EEXIST || err == -EBUSY || err == -EUSERS ||
	    err == -EPROTONOSUPPORT || err == -EACCES || err == -EPROTO || err == -EBADMSG ||
	    err == -EMSGSIZE) {
		psyne__net_peer_gone(p, p->rx.bye_received ? -EPIPE : err);
	} else if (p->state != NET_PEER_GONE) {
		if (p->state == NET_PEER_UP)
			p->down_since_ns = net_now();
		p->state = NET_PEER_DOWN;
		p->last_error = err;
		p->next_dial_ns = net_now() + net_ms(p->backoff_ms);
	}
	psyne__net_page_sync(c);
	net_wake_user(c);
	net_kick(c->io.wake);
}

void psyne__net_peer_up(struct net_peer *p)
{
	struct net_chan *c = p->ch;

	if (c->ever_up)
		c->count.reconnects++;
	if (p->reconnects++ > 0)
		psyne__log_debug("%s: session resumed", p->name);
	p->state = NET_PEER_UP;
	p->bye_sent = false; /* a BYE lost with the old connection goes again */
	/* Every read and write says MSG_DONTWAIT, so a blocking socket only lets
	 * wait_in_read() sleep in recv(). OpenSSL reads and writes for itself: not with TLS. */
	p->conn.blocking = false;
	if (!p->conn.tls && p->conn.fd >= 0) {
		int fl = fcntl(p->conn.fd, F_GETFL);

		p->conn.blocking = fl >= 0 && fcntl(p->conn.fd, F_SETFL, fl & ~O_NONBLOCK) == 0;
	}
	p->backoff_ms = NET_BACKOFF_MIN_MS;
	p->conn.rcvlowat = 0; /* a new socket */
	p->last_rx_ns = p->last_tx_ns = net_now();
	c->ever_up = true;
	psyne__net_page_sync(c);
	net_wake_user(c);
}

/* Resend from `next_seq` on: what the peer has below it counts as acknowledged. */
void psyne__net_peer_resume(struct net_peer *p, uint64_t next_seq)
{
	if (next_seq == UINT64_MAX) {
		/* The other side starts afresh (it is a new process): send all we still hold. */
		next_seq = p->tx.acked_seq;
	}
	psyne__net_tx_ack(p, next_seq);
	if (p->tx.slot != p->tx.acked)
		p->retransmits++;
	p->tx.slot = p->tx.acked;
	p->tx.off = 0;
}

void psyne__net_socket_setup(struct net_chan *c, int fd)
{
	int one = 1;

	if (c->addr.ss.ss_family != AF_UNIX && c->cfg.nodelay)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* best effort */
}

/* Timers: dialing, handshakes, heartbeats, dead peers. Returns the next deadline. */
uint64_t psyne__net_peers_tick(struct net_chan *c)
{
	uint64_t t = net_now(), next = t + net_ms(c->cfg.heartbeat_ms);

	for (uint32_t i = 0; i < c->n_peers; i++) {
		struct net_peer *p = c->peers[i];

		switch (p->state) {
		case NET_PEER_DOWN:
			if (c->cfg.reconnect_ms > 0 &&
			    t - p->down_since_ns >= net_ms(c->cfg.reconnect_ms)) {
				psyne__log_info(
					"%s: session given up after %u ms without a connection",
					p->name, c->cfg.reconnect_ms);
				psyne__net_peer_gone(p, -ECONNRESET);
				break;
			}
			if (c->cfg.listener)
				break; /* it is the dialer's to come back */
			if (t >= p->next_dial_ns) {
				int r = psyne__net_dial(p);

				if (r < 0) {
					psyne__log_debug("%s: dial: %s", p->name, strerror(-r));
					psyne__net_dial_failed(p, r);
				}
			}
			next = MIN(next, p->next_dial_ns);
			break;
		case NET_PEER_CONNECTING:
		case NET_PEER_TLS:
		case NET_PEER_HELLO:
			if (t >= p->hello_deadline_ns) {
				psyne__net_peer_down(p, -ETIMEDOUT, "handshake timed out");
				psyne__net_backoff(p);
			}
			next = MIN(next, p->hello_deadline_ns);
			break;
		case NET_PEER_UP: {
			bool rx_full = p->rx.filled - p->rx.free >= p->rx.buf.capacity;

			if (!rx_full && t - p->last_rx_ns >= net_ms(c->cfg.peer_timeout_ms)) {
				psyne__net_peer_down(p, -ETIMEDOUT, "peer silent");
				psyne__net_backoff(p);
				break;
			}
			if (t - p->last_tx_ns >= net_ms(c->cfg.heartbeat_ms)) {
				(void)psyne__net_ctl_append(p, PSYNE_FRAME_PING, t, NULL, 0);
				if (p->rx.seq != UINT64_MAX && p->rx.unacked > 0 &&
				    psyne__net_ctl_append(p, PSYNE_FRAME_ACK, p->rx.seq, NULL, 0))
					p->rx.unacked = 0;
				p->last_tx_ns = t;
				(void)psyne__net_tx_flush(p);
			}
			next = MIN(next, p->last_tx_ns + net_ms(c->cfg.heartbeat_ms));
			if (!rx_full)
				next = MIN(next, p->last_rx_ns + net_ms(c->cfg.peer_timeout_ms));
			break;
		}
		case NET_PEER_GONE:
			break;
		}
	}
	return next;
}

/* Frees sessions that are over, drained and not referenced by a held message. */
void psyne__net_peers_reap(struct net_chan *c)
{
	for (uint32_t i = 0; i < c->n_peers;) {
		struct net_peer *p = c->peers[i];

		if (p->state == NET_PEER_GONE && p->rx.held == 0 && p->rx.next == p->rx.parsed &&
		    !p->conn.reading && !p->conn.writing && c->cfg.listener) {
			peer_remove(c, p);
			continue;
		}
		i++;
	}
}
