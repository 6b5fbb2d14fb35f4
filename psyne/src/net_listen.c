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
	for (;;) {
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
	}
}

static int peers_live(struct net_chan *c, uint64_t except_session)
{
	int n = 0;

	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i]->state != NET_PEER_GONE && c->peers[i]->session != except_session)
			n++;
	return n;
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

		if ((single && peers_live(c, h.session) > 0) ||
		    (uint32_t)peers_live(c, h.session) >= c->cfg.max_peers) {
			psyne__net_listener_warn(c, "%s: %s: refused: %s", c->addr.text, q->name,
						 single ? "spsc channel already has its peer" :
							  "too many peers");
			psyne__net_send_reject(q->tls, q->fd, single ? EBUSY : EUSERS,
					       single ? "channel already has its peer" :
							"too many peers");
			return single ? -EBUSY : -EUSERS;
		}
		r = psyne__net_peer_new(c, h.session, &p);
		if (r < 0) {
			psyne__net_send_reject(q->tls, q->fd, -r, "out of memory");
			return r;
		}
		memcpy(p->name, q->name, sizeof(p->name));
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
