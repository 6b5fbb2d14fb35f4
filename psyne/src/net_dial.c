/* SPDX-License-Identifier: MIT */
/*
 * The dialer of the stream engine (net_internal.h): connecting a session (to each address
 * of the host in turn, backing off between tries), its TLS handshake, its HELLO and the
 * listener's answer, and psyne_open()'s wait for the first session.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "log.h"
#include "net_internal.h"
#include "tls.h"
int psyne__net_dial_hello(struct net_peer *p, const uint8_t *payload)
{
	struct psyne_hello h;

	if (psyne__frame_hello_decode(payload, PSYNE_FRAME_HELLO_SIZE, &h) < 0 ||
	    h.session != p->session)
		return -EPROTO; /* the session ends: the caller drops it */
	p->remote_max_msg = h.max_msg;
	p->rx.remote_window = h.window;
	if (h.next_seq == UINT64_MAX)
		p->rx.seq = UINT64_MAX; /* a new listener: its numbering starts afresh */
	psyne__net_peer_resume(p, h.next_seq);
	psyne__net_peer_up(p);
	return 0;
}

int psyne__net_dial(struct net_peer *p)
{
	struct net_chan *c = p->ch;
	int fd, r;

	p->dials++;
	fd = socket(c->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	psyne__net_socket_setup(c, fd);
	if (connect(fd, (struct sockaddr *)&c->addr.ss, c->addr.len) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	p->conn.fd = fd;
	(void)psyne__net_watch(p->ch, &p->ep, fd, EPOLLOUT); /* else: the next turn */
	p->state = NET_PEER_CONNECTING;
	p->hello_deadline_ns = net_now() + net_ms(MAX(c->cfg.connect_timeout_ms / 2, 1000u));
	return 0;
}

void psyne__net_backoff(struct net_peer *p)
{
	struct psyne_net_addr *a = &p->ch->addr;
	uint32_t jitter;

	if (a->n_all > 1) {
		a->cur = (a->cur + 1) % a->n_all;
		memcpy(&a->ss, &a->all[a->cur], a->all_len[a->cur]);
		a->len = a->all_len[a->cur];
	}

	(void)!getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK); /* any value will do */
	p->next_dial_ns = net_now() + net_ms(p->backoff_ms) * (75 + jitter % 51) / 100;
	p->backoff_ms = MIN(p->backoff_ms * 2, NET_BACKOFF_MAX_MS);
}

/*
 * Before the session was ever up, a refusal by every address of the host on its first try
 * ends it: nobody listens there, and dialing again until connect_timeout would only wait
 * to say so (nngcat says "Connection refused" at once too). Anything else may pass (a
 * listener starting, a network coming up), and a session that was up waits `reconnect`
 * for its listener to come back, refused or not.
 */
void psyne__net_dial_failed(struct net_peer *p, int err)
{
	struct net_chan *c = p->ch;
	uint32_t n = MAX(c->addr.n_all, 1u);

	if (p->reconnects == 0 && p->dials <= n) {
		if (err == -ECONNREFUSED)
			p->refused++;
		if (p->dials == n && p->refused == n) {
			psyne__log_error("%s: connection refused", c->where);
			psyne__net_peer_gone(p, -ECONNREFUSED);
			return;
		}
	}
	psyne__net_backoff(p);
}

/* The dialer's TLS handshake: go on with it; once done, say HELLO. */
void psyne__net_tls_step(struct net_peer *p)
{
	char reason[256] = "";
	int r = psyne__tls_handshake(p->conn.tls, &p->conn.tls_want, reason, sizeof(reason));

	if (r == -EAGAIN)
		return;
	if (r < 0) {
		if (r == -EACCES)
			psyne__log_warning("%s: TLS: %s", p->name, reason);
		psyne__net_peer_down(p, r, reason);
		return;
	}
	p->state = NET_PEER_HELLO;
	psyne__net_send_hello(p, p->rx.seq);
	(void)psyne__net_tx_flush(p);
}

/* The dialer's connection completed (or failed): say HELLO. */
void psyne__net_dial_done(struct net_peer *p)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(p->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		psyne__net_peer_down(p, -err, strerror(err));
		psyne__net_dial_failed(p, -err);
		return;
	}
	if (p->ch->tls) {
		int r = psyne__tls_new(p->ch->tls, p->conn.fd, &p->conn.tls);

		if (r < 0) {
			psyne__net_peer_down(p, r, "TLS setup failed");
			return;
		}
		p->state = NET_PEER_TLS;
		psyne__net_tls_step(p);
		return;
	}
	p->state = NET_PEER_HELLO;
	psyne__net_send_hello(p, p->rx.seq);
	(void)psyne__net_tx_flush(p);
}

/* The dialer's first session: wait for it up to connect_timeout. */
int psyne__net_dial_first(struct net_chan *c)
{
	uint64_t session, deadline = net_now() + net_ms(c->cfg.connect_timeout_ms);
	struct net_peer *p;
	int r;

	if (getrandom(&session, sizeof(session), 0) != sizeof(session))
		return -errno;
	r = psyne__net_peer_new(c, session, &p);
	if (r < 0)
		return r;
	snprintf(p->name, sizeof(p->name), "%s", c->addr.text);
	p->down_since_ns = net_now();
	p->next_dial_ns = 0;
	net_kick(c->io.wake);
	while (p->state != NET_PEER_UP) {
		uint64_t t = net_now();
		struct pollfd pfd = { .fd = c->user_wake, .events = POLLIN };

		if (p->state == NET_PEER_GONE)
			return p->error;
		if (t >= deadline) {
			psyne__log_error("cannot connect to %s within %u ms", c->addr.text,
					 c->cfg.connect_timeout_ms);
			return -ETIMEDOUT;
		}
		c->user_waiting++;
		pthread_mutex_unlock(&c->lock);
		(void)poll(&pfd, 1, (int)MIN((deadline - t) / 1000000 + 1, (uint64_t)50));
		pthread_mutex_lock(&c->lock);
		c->user_waiting--;
		net_drain_eventfd(c->user_wake);
	}
	return 0;
}
