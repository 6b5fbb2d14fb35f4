/* SPDX-License-Identifier: MIT */
/*
 * The listener of the stream engine (net_internal.h): accepting connections, their TLS
 * handshakes and HELLOs (each bounded in number and time while it is incomplete), and
 * admitting each HELLO to a session: a new one, or the one it resumes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "net_internal.h"
#include "ring.h"
#include "tls.h"

#define WARN_WINDOW_NS (10ull * 1000 * 1000 * 1000)
#define WARN_PER_WINDOW 20u

/*
 * Refusals are logged once per connection, but a flood of them must not flood the log:
 * at most WARN_PER_WINDOW lines per 10 s, then one line saying how many were left out.
 */
void psyne__net_listener_warn(struct net_chan *c, const char *fmt, ...)
{
	uint64_t t = net_now();
	char line[512];
	va_list ap;

	if (t - c->lis.warn_window_ns >= WARN_WINDOW_NS) {
		if (c->lis.warn_suppressed > 0)
			psyne__log_warning("%s: %" PRIu64
					   " more refusals in the last 10 s not logged",
					   c->addr.text, c->lis.warn_suppressed);
		c->lis.warn_window_ns = t;
		c->lis.warn_count = 0;
		c->lis.warn_suppressed = 0;
	}
	if (c->lis.warn_count >= WARN_PER_WINDOW) {
		c->lis.warn_suppressed++;
		return;
	}
	c->lis.warn_count++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	psyne__log_warning("%s", line);
}

void psyne__net_pending_close(struct net_chan *c, uint32_t i)
{
	struct net_pending *q = c->lis.pending[i];

	psyne__net_unwatch(c, &q->ep);
	psyne__tls_free(q->tls);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
	/* In the order they came, so that the oldest is always first. */
	c->lis.n_pending--;
	memmove(&c->lis.pending[i], &c->lis.pending[i + 1],
		(c->lis.n_pending - i) * sizeof(c->lis.pending[0]));
	for (uint32_t k = i; k < c->lis.n_pending; k++)
		c->lis.pending[k]->index = k;
}

/* What the connection of `q` waits for now: its TLS handshake says, else its HELLO. */
static void pending_watch(struct net_chan *c, struct net_pending *q)
{
	int r = psyne__net_watch(c, &q->ep, q->fd, q->tls_want ? (uint32_t)q->tls_want : EPOLLIN);

	if (r < 0)
		psyne__log_debug("%s: %s: cannot wait for it: %s", c->addr.text, q->name,
				 strerror(-r));
}

static void format_peer(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[64] = "?";

	snprintf(buf, size, "peer fd %d", fd);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		snprintf(buf, size, "unix peer (fd %d)", fd);
	}
}

void psyne__net_accept_all(struct net_chan *c)
{
	/* A few at a time: a dialer answered at once connects again at once, and the sessions
	 * made before must have their turn. The listening socket stays ready meanwhile. */
	for (unsigned k = 0; k < NET_ACCEPT_BATCH; k++) {
		int fd = accept4(c->lis.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct net_pending *q;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				psyne__net_listener_warn(c, "%s: accept: %s", c->addr.text,
							 strerror(errno));
			return;
		}
		if (c->lis.n_pending >= NET_MAX_PENDING) {
			/* A flood of connections that never say HELLO: the oldest goes. */
			psyne__net_listener_warn(
				c, "%s: %s: too many connections in handshake, dropped",
				c->addr.text, c->lis.pending[0]->name);
			c->lis.dropped++;
			psyne__net_pending_close(c, 0);
		}
		q = calloc(1, sizeof(*q));
		if (!q) {
			close(fd);
			return;
		}
		q->ep = (struct net_ep){ .kind = NET_EP_PENDING, .owner = q, .fd = -1 };
		q->fd = fd;
		q->deadline_ns = net_now() + net_ms(MAX(2 * c->cfg.heartbeat_ms, 1000u));
		format_peer(fd, q->name, sizeof(q->name));
		psyne__net_socket_setup(c, fd);
		q->index = c->lis.n_pending;
		c->lis.pending[c->lis.n_pending++] = q;
		pending_watch(c, q);
		/* A dialer says HELLO as soon as it is connected: take it now if it is there,
		 * before a flood of connections behind it pushes it out. */
		psyne__net_pending_read(c, q->index);
	}
}

/*
 * Who gets a place. A session counts against max_peers only once it has proved itself by
 * real work (net_internal.h, `proved`), so that connections that say HELLO and nothing
 * more cannot fill a listener for `reconnect` (30 s), as 64 of them could. Until then it
 * waits among at most NET_MAX_UNPROVED others, and when they are that many, the one worth
 * least makes room for a newcomer: never proved and holding none of our messages, its
 * connection down first, else the one heard from least recently. Connections still in
 * their handshake are bounded apart from both (NET_MAX_PENDING, a short deadline, the
 * oldest out first). A session whose dialer said BYE is over, and takes no place even before
 * the end of its connection has been read.
 */
static bool session_counts(const struct net_peer *p)
{
	return p->state != NET_PEER_GONE && !p->rx.bye_received;
}

/* The sessions that count, but `except`, proved and not. */
static void count_sessions(struct net_chan *c, const struct net_peer *except, uint32_t *ret_proved,
			   uint32_t *ret_unproved)
{
	uint32_t proved = 0, unproved = 0;

	for (uint32_t i = 0; i < c->n_peers; i++) {
		const struct net_peer *p = c->peers[i];

		if (p == except || !session_counts(p))
			continue;
		if (p->proved)
			proved++;
		else
			unproved++;
	}
	*ret_proved = proved;
	*ret_unproved = unproved;
}

/* Sessions a listener serves at once: one with spsc, whatever max_peers says. */
static uint32_t peers_limit(const struct net_chan *c)
{
	return c->cfg.mode == PSYNE_MODE_SPSC ? 1 : c->cfg.max_peers;
}

/* The session that makes room, or NULL when none may. */
static struct net_peer *least_valuable(struct net_chan *c)
{
	struct net_peer *v = NULL;

	for (uint32_t i = 0; i < c->n_peers; i++) {
		struct net_peer *p = c->peers[i];
		bool down = p->state == NET_PEER_DOWN;

		if (!session_counts(p) || p->proved || p->tx.acked < p->tx.end)
			continue;
		if (!v || (down && v->state != NET_PEER_DOWN)) {
			v = p;
			continue;
		}
		if (down != (v->state == NET_PEER_DOWN))
			continue;
		if (down ? p->down_since_ns < v->down_since_ns : p->last_rx_ns < v->last_rx_ns)
			v = p;
	}
	return v;
}

int psyne__net_peer_prove(struct net_peer *p, bool placed)
{
	struct net_chan *c = p->ch;
	uint32_t proved, unproved;

	if (p->proved)
		return 0;
	if (c->cfg.listener && !placed) {
		bool single = c->cfg.mode == PSYNE_MODE_SPSC;

		count_sessions(c, p, &proved, &unproved);
		if (proved >= peers_limit(c)) {
			/* Two came, neither proved, and the other was first. The REJECT is best
			 * effort: not while the other thread writes (the connection goes anyway).
			 */
			if (net_can_write(p))
				psyne__net_send_reject(
					p->conn.tls, p->conn.fd, single ? EBUSY : EUSERS,
					single ? "channel already has its peer" : "too many peers");
			psyne__net_rx_discard(&p->rx);
			return single ? -EBUSY : -EUSERS;
		}
	}
	p->proved = true;
	c->proved++;
	return 0;
}

/* A pending connection's HELLO is complete: attach it to its session, or refuse it. */
static int pending_hello(struct net_chan *c, struct net_pending *q)
{
	struct psyne_frame f;
	struct psyne_hello h;
	struct net_peer *p = NULL;
	int r;

	r = psyne__frame_decode(q->buf, PSYNE_FRAME_HELLO_SIZE, &f);
	if (r >= 0 && f.kind != PSYNE_FRAME_HELLO)
		r = -EPROTO;
	if (r >= 0)
		r = psyne__frame_verify(q->buf, q->buf + PSYNE_FRAME_HDR_SIZE, f.length);
	if (r >= 0)
		r = psyne__frame_hello_decode(q->buf + PSYNE_FRAME_HDR_SIZE, PSYNE_FRAME_HELLO_SIZE,
					      &h);
	if (r < 0) {
		psyne__net_listener_warn(c, "%s: %s: bad handshake: %s", c->addr.text, q->name,
					 psyne_strerror(r));
		return r;
	}
	if (h.mode != c->cfg.mode) {
		psyne__net_listener_warn(c, "%s: %s: refused: mode %s, ours is %s", c->addr.text,
					 q->name, psyne__mode_to_string(h.mode),
					 psyne__mode_to_string(c->cfg.mode));
		psyne__net_send_reject(q->tls, q->fd, EEXIST, "channel mode differs");
		return -EEXIST;
	}
	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i]->session == h.session && c->peers[i]->state != NET_PEER_GONE)
			p = c->peers[i];
	if (!p) {
		bool single = c->cfg.mode == PSYNE_MODE_SPSC;
		uint32_t proved, unproved;

		count_sessions(c, NULL, &proved, &unproved);
		if (proved >= peers_limit(c)) {
			psyne__net_listener_warn(c, "%s: %s: refused: %s", c->addr.text, q->name,
						 single ? "spsc channel already has its peer" :
							  "too many peers");
			psyne__net_send_reject(q->tls, q->fd, single ? EBUSY : EUSERS,
					       single ? "channel already has its peer" :
							"too many peers");
			return single ? -EBUSY : -EUSERS;
		}
		if (unproved >= NET_MAX_UNPROVED) {
			struct net_peer *v = least_valuable(c);

			if (!v) {
				psyne__net_listener_warn(
					c,
					"%s: %s: refused: too many sessions yet to prove themselves",
					c->addr.text, q->name);
				psyne__net_send_reject(q->tls, q->fd, EUSERS, "too many peers");
				return -EUSERS;
			}
			psyne__net_listener_warn(c,
						 "%s: %s: dropped for %s: it never proved itself",
						 c->addr.text, v->name, q->name);
			c->lis.dropped++;
			psyne__net_peer_down(v, -ECONNRESET, "made room");
			psyne__net_peer_gone(v, -ECONNRESET);
		}
		r = psyne__net_peer_new(c, h.session, &p);
		if (r < 0) {
			psyne__net_send_reject(q->tls, q->fd, -r, "out of memory");
			return r;
		}
		memcpy(p->name, q->name, sizeof(p->name));
		/* A handshake that authenticated the peer (a client certificate, the key) is
		 * proof enough; it was counted above as if proved. */
		if (psyne__tls_ctx_authenticates_peer(c->tls))
			(void)psyne__net_peer_prove(p, true);
	} else {
		if (p->conn.fd >= 0)
			psyne__net_peer_down(p, -ECONNRESET, "replaced by a new connection");
		memcpy(p->name, q->name, sizeof(p->name));
	}
	p->remote_max_msg = h.max_msg;
	p->rx.remote_window = h.window;
	psyne__net_unwatch(c, &q->ep);
	p->conn.fd = TAKE_FD(q->fd);
	p->conn.tls = TAKE_PTR(q->tls);
	(void)psyne__net_watch(c, &p->ep, p->conn.fd, EPOLLIN); /* else: next turn */
	psyne__net_peer_resume(p, h.next_seq);
	p->state = NET_PEER_HELLO;
	psyne__net_send_hello(p, p->rx.seq);
	psyne__net_peer_up(p);
	(void)psyne__net_tx_flush(p);
	return 0;
}

void psyne__net_pending_read(struct net_chan *c, uint32_t i)
{
	struct net_pending *q = c->lis.pending[i];
	ssize_t n;

	if (c->tls && !q->tls_done) {
		char reason[256] = "";
		int r = 0;

		if (!q->tls)
			r = psyne__tls_new(c->tls, q->fd, &q->tls);
		if (r >= 0)
			r = psyne__tls_handshake(q->tls, &q->tls_want, reason, sizeof(reason));
		if (r == -EAGAIN) {
			pending_watch(c, q);
			return;
		}
		if (r < 0) {
			psyne__net_listener_warn(c, "%s: %s: refused: TLS: %s", c->addr.text,
						 q->name, r == -EACCES ? reason : strerror(-r));
			c->lis.dropped++;
			psyne__net_pending_close(c, i);
			return;
		}
		q->tls_done = true;
		q->tls_want = POLLIN;
		pending_watch(c, q);
	}
	n = psyne__net_stream_read(q->tls, q->fd, q->buf + q->got, sizeof(q->buf) - q->got, false);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		psyne__log_debug("%s: %s: closed during handshake", c->addr.text, q->name);
		psyne__net_pending_close(c, i);
		return;
	}
	q->got += (uint32_t)n;
	if (q->got >= PSYNE_FRAME_HDR_SIZE && q->got < sizeof(q->buf)) {
		struct psyne_frame f;
		int r = psyne__frame_decode(q->buf, PSYNE_FRAME_HELLO_SIZE, &f);

		if (r < 0 || f.kind != PSYNE_FRAME_HELLO) {
			psyne__net_listener_warn(
				c, "%s: %s: not a psyne peer: %s", c->addr.text, q->name,
				r < 0 ? psyne_strerror(r) : "first frame is not HELLO");
			c->lis.dropped++;
			psyne__net_pending_close(c, i);
		}
		return;
	}
	if (q->got == sizeof(q->buf)) {
		if (pending_hello(c, q) < 0)
			c->lis.dropped++;
		psyne__net_pending_close(c, i); /* the fd went to the session, or is refused */
	}
}

uint64_t psyne__net_pending_tick(struct net_chan *c)
{
	uint64_t t = net_now(), next = UINT64_MAX;

	for (uint32_t i = 0; i < c->lis.n_pending;) {
		if (t >= c->lis.pending[i]->deadline_ns) {
			psyne__net_listener_warn(c, "%s: %s: no handshake in time, dropped",
						 c->addr.text, c->lis.pending[i]->name);
			c->lis.dropped++;
			psyne__net_pending_close(c, i);
			continue;
		}
		next = MIN(next, c->lis.pending[i]->deadline_ns);
		i++;
	}
	return next;
}

int psyne__net_listen_open(struct net_chan *c)
{
	int fd, one = 1, r;

	fd = socket(c->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (c->addr.ss.ss_family != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* best effort */
	if (bind(fd, (struct sockaddr *)&c->addr.ss, c->addr.len) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		psyne__log_error("cannot listen on %s: %s", c->addr.text, strerror(-r));
		close(fd);
		return r;
	}
	c->lis.fd = fd;
	return 0;
}
