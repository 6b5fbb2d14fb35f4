/* SPDX-License-Identifier: MIT */
/*
 * The stream transports' calls (unix://, tcp://, tls://: net.h) and the I/O thread of each
 * handle. How a session works is told in net_internal.h; the receive parser is in
 * net_rx.c, the send side in net_tx.c, sessions in net_session.c, the dialer in net_dial.c,
 * the listener in net_listen.c and the options in net_options.c.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "log.h"
#include "net_internal.h"
#include "netstat.h"
#include "ring.h"
#include "tls.h"

/*
 * The channel lock is held for a few bookkeeping steps at a time, by the caller's thread
 * and the I/O thread. An adaptive mutex spins briefly before it sleeps: the holder is
 * about to let go, and a futex sleep and wake-up cost far more than that on two CPUs.
 */
static void lock_init(pthread_mutex_t *lock)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	(void)pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP); /* else: plain */
	pthread_mutex_init(lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

/* ---- the I/O thread ---------------------------------------------------------------- */

#define NET_EVENTS_MAX 64u /* epoll events taken per wait */

int psyne__net_watch(struct net_chan *c, struct net_ep *e, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = e };

	if (e->fd == fd && e->events == events)
		return 0;
	if (e->fd >= 0 && e->fd != fd)
		psyne__net_unwatch(c, e);
	if (epoll_ctl(c->io.epfd, e->fd < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	e->fd = fd;
	e->events = events;
	return 0;
}

void psyne__net_unwatch(struct net_chan *c, struct net_ep *e)
{
	if (!e || e->fd < 0)
		return;
	/* Fails only for a descriptor that is not registered (any more): nothing to undo. */
	(void)epoll_ctl(c->io.epfd, EPOLL_CTL_DEL, e->fd, NULL);
	e->fd = -1;
	e->events = 0;
}

/*
 * What a session's connection waits for, set before each wait: only what changed costs a
 * system call. Returns the deadline of a batch still gathering, or UINT64_MAX.
 */
static uint64_t peer_interest(struct net_chan *c, struct net_peer *p)
{
	uint64_t next = UINT64_MAX;
	uint32_t ev = 0;

	if (p->conn.fd < 0)
		return next;
	if (p->state == NET_PEER_CONNECTING)
		ev = EPOLLOUT;
	else if (p->state == NET_PEER_TLS)
		ev = (uint32_t)p->conn.tls_want;
	else {
		/*
		 * A batch still gathering (see psyne__net_commit()) is written when it is due:
		 * until then we sleep no longer than that, and commits need not wake us.
		 * Otherwise a commit from here on must wake us again. If the other thread is
		 * writing, it writes everything ready.
		 */
		bool gathering = p->tx.flush_wanted && net_now() < p->tx.flush_at + NET_IO_SLACK_NS;

		/* A caller waiting reads for itself. */
		if (c->user_waiting == 0 || p->state == NET_PEER_HELLO)
			ev |= EPOLLIN;
		if (!gathering && p->tx.flush_wanted && psyne__net_tx_pending(p) &&
		    net_can_write(p))
			(void)psyne__net_tx_flush(p);
		if (!gathering && psyne__net_tx_pending(p) && net_can_write(p))
			ev |= EPOLLOUT;
		p->tx.io_kicked = gathering;
		if (gathering)
			next = p->tx.flush_at + NET_IO_SLACK_NS;
	}
	/* The flush may have dropped the connection. On failure the socket keeps what it
	 * waited for, and the next turn tries again. */
	if (p->conn.fd >= 0)
		(void)psyne__net_watch(c, &p->ep, p->conn.fd, ev);
	return next;
}

static void peer_event(struct net_chan *c, struct net_peer *p, uint32_t events)
{
	/* Dropped since the wait returned: the descriptor the event was for is gone. */
	if (p->conn.fd < 0 || p->ep.fd != p->conn.fd)
		return;
	if (p->state == NET_PEER_CONNECTING) {
		psyne__net_dial_done(p);
		return;
	}
	if (p->state == NET_PEER_TLS) {
		psyne__net_tls_step(p);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		while (psyne__net_rx_read(p, false) > 0 && p->state != NET_PEER_GONE)
			;
		net_wake_user(c);
	}
	if ((events & EPOLLOUT) && p->conn.fd >= 0)
		(void)psyne__net_tx_flush(p);
}

/*
 * Waits up to `timeout_ns` for events. Batches are due within microseconds
 * (NET_IO_SLACK_NS), finer than epoll_wait()'s milliseconds: epoll_pwait2() takes a
 * timespec; before Linux 5.11, ppoll() on the epoll set does, and epoll_wait() then only
 * collects.
 */
static int io_wait(struct net_chan *c, struct epoll_event *events, int n, uint64_t timeout_ns)
{
	static _Atomic bool no_pwait2 = false;
	struct timespec ts = timespec_from_nsec(timeout_ns);
	struct pollfd pfd = { .fd = c->io.epfd, .events = POLLIN };
	int k;

	if (!no_pwait2) {
		k = epoll_pwait2(c->io.epfd, events, n, &ts, NULL);
		if (k >= 0 || errno != ENOSYS)
			return k;
		no_pwait2 = true;
	}
	k = ppoll(&pfd, 1, &ts, NULL);
	if (k <= 0)
		return k;
	return epoll_wait(c->io.epfd, events, n, 0);
}

/*
 * The I/O thread: one epoll set holds its wake-up, the listening socket and every
 * connection, each registered once and changed only when what it waits for changes. A turn
 * runs the timers (an O(n) pass over the sessions, which also sets what each waits for),
 * waits, then handles what happened: sessions first, then handshakes, then new
 * connections. Sessions are freed only at the start of a turn (psyne__net_peers_reap()),
 * so the peers the events of one wait point to stay valid while they are handled.
 */
static void *io_thread(void *arg)
{
	struct net_chan *c = arg;
	struct epoll_event events[NET_EVENTS_MAX];

	pthread_mutex_lock(&c->lock);
	while (!c->io.stopping) {
		uint64_t next = MIN(psyne__net_peers_tick(c), psyne__net_pending_tick(c)), t;
		bool accept = false;
		int k;

		psyne__net_peers_reap(c);
		psyne__net_page_sync(c);
		for (uint32_t i = 0; i < c->n_peers; i++)
			next = MIN(next, peer_interest(c, c->peers[i]));
		t = net_now();
		pthread_mutex_unlock(&c->lock);
		k = io_wait(c, events, (int)ELEMENTSOF(events),
			    next <= t ? 0 : MIN(next - t, net_ms(1000)));
		pthread_mutex_lock(&c->lock);

		/* Sessions first: the lists below change under accept and handshakes. */
		for (int i = 0; i < k; i++) {
			struct net_ep *e = events[i].data.ptr;

			if (e->kind == NET_EP_WAKE)
				net_drain_eventfd(c->io.wake);
			else if (e->kind == NET_EP_LISTEN)
				accept = true;
			else if (e->kind == NET_EP_PEER)
				peer_event(c, e->owner, events[i].events);
		}
		for (int i = 0; i < k; i++) {
			struct net_ep *e = events[i].data.ptr;

			/* A handshake closes only itself: the others stay where they are. */
			if (e->kind == NET_EP_PENDING)
				psyne__net_pending_read(c, ((struct net_pending *)e->owner)->index);
		}
		if (accept)
			psyne__net_accept_all(c);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- the calls --------------------------------------------------------------------- */

static void net_free(struct net_chan *c)
{
	if (c->io.started) {
		pthread_mutex_lock(&c->lock);
		c->io.stopping = true;
		pthread_mutex_unlock(&c->lock);
		net_kick(c->io.wake);
		pthread_join(c->io.thread, NULL);
	}
	for (uint32_t i = 0; i < c->n_peers; i++)
		psyne__net_peer_free(c->peers[i]);
	free(c->peers);
	while (c->lis.n_pending > 0)
		psyne__net_pending_close(c, 0);
	if (c->lis.fd >= 0) {
		close(c->lis.fd);
		if (c->addr.unlink_on_close)
			(void)unlink(((struct sockaddr_un *)&c->addr.ss)->sun_path);
	}
	if (c->io.wake >= 0)
		close(c->io.wake);
	if (c->io.epfd >= 0)
		close(c->io.epfd);
	if (c->user_wake >= 0)
		close(c->user_wake);
	psyne__tls_ctx_free(c->tls);
	c->page = psyne__netstat_free(c->page);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * Starts the I/O thread with every signal blocked: the application's signals go to its own
 * threads, whose calls they interrupt, never to a thread of ours that would run a handler
 * between two system calls the application cannot see.
 */
static int start_io_thread(struct net_chan *c)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&c->io.thread, NULL, io_thread, c);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int psyne__net_open(const struct psyne_net_family *family, struct psyne_uri *uri,
		    struct psyne_channel **ret_channel)
{
	struct net_options o;
	struct net_chan *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->family = family;
	c->base.ops = family->transport;
	snprintf(c->where, sizeof(c->where), "%s://%s", uri->scheme, uri->address);
	c->lis.fd = c->io.wake = c->io.epfd = c->user_wake = -1;
	c->io.wake_ep = (struct net_ep){ .kind = NET_EP_WAKE, .fd = -1 };
	c->io.listen_ep = (struct net_ep){ .kind = NET_EP_LISTEN, .fd = -1 };
	lock_init(&c->lock);
	r = psyne__net_options_parse(family, uri, &o);
	if (r >= 0)
		c->cfg = o.cfg;
	if (r >= 0 && family->scheme == PSYNE_NET_TLS) {
		char host[256];
		const char *port;

		r = psyne__uri_host_port(uri->address, host, sizeof(host), &port);
		if (r >= 0)
			r = psyne__tls_ctx_new(&o.tls, c->cfg.listener, host, &c->tls);
	}
	if (r >= 0)
		r = psyne__uri_check_used(uri); /* before anything is dialed or bound */
	if (r >= 0)
		r = family->resolve(uri->address, c->cfg.listener, &c->addr);
	if (r < 0) {
		net_free(c);
		return r;
	}
	c->io.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->user_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->io.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->io.wake < 0 || c->user_wake < 0 || c->io.epfd < 0) {
		r = -errno;
		net_free(c);
		return r;
	}
	r = psyne__net_watch(c, &c->io.wake_ep, c->io.wake, EPOLLIN);
	if (r >= 0 && c->cfg.listener) {
		r = psyne__net_listen_open(c);
		if (r >= 0)
			r = psyne__net_watch(c, &c->io.listen_ep, c->lis.fd, EPOLLIN);
	}
	if (r < 0) {
		net_free(c);
		return r;
	}
	psyne__net_page_open(c, uri);
	r = start_io_thread(c);
	if (r < 0) {
		net_free(c);
		return r;
	}
	c->io.started = true;
	if (!c->cfg.listener) {
		pthread_mutex_lock(&c->lock);
		r = psyne__net_dial_first(c);
		pthread_mutex_unlock(&c->lock);
		if (r < 0) {
			net_free(c);
			return r;
		}
	}
	psyne__net_page_publish(c);
	*ret_channel = &c->base;
	return 0;
}

static struct net_chan *chan(struct psyne_channel *ch)
{
	return (struct net_chan *)ch;
}

static bool peer_sendable(const struct net_peer *p)
{
	return p->state != NET_PEER_GONE && !p->rx.bye_received;
}

/*
 * Waits, with the lock held, for something to change: reads arriving on the peers'
 * sockets, or the I/O thread's word. Returns -ETIMEDOUT when `deadline` passed.
 */
static int user_wait(struct net_chan *c, uint64_t deadline)
{
	struct pollfd fds[1 + 1024];
	struct net_peer *who[1 + 1024];
	uint32_t at[1 + 1024]; /* who[i] was peers[at[i]] */
	uint64_t t = net_now();
	nfds_t n = 0;
	int timeout;

	if (deadline != UINT64_MAX && t >= deadline)
		return -ETIMEDOUT;
	fds[n++] = (struct pollfd){ .fd = c->user_wake, .events = POLLIN };
	for (uint32_t i = 0; i < c->n_peers && n < ELEMENTSOF(fds); i++) {
		/* Bytes TLS already decrypted are no reason for poll() to wake: look now. */
		if (c->peers[i]->conn.tls && net_can_read(c->peers[i]) &&
		    psyne__tls_pending(c->peers[i]->conn.tls)) {
			(void)psyne__net_rx_read(c->peers[i], false);
			return 0;
		}
		if (c->peers[i]->state == NET_PEER_UP && net_can_read(c->peers[i])) {
			who[n] = c->peers[i];
			at[n] = i;
			fds[n++] = (struct pollfd){ .fd = c->peers[i]->conn.fd, .events = POLLIN };
		}
	}
	/* Wake in time for the heartbeats the I/O thread may not see while we read. */
	timeout = (int)c->cfg.heartbeat_ms / 2;
	if (deadline != UINT64_MAX)
		timeout = (int)MIN((uint64_t)timeout, (deadline - t + 999999) / 1000000);
	c->user_waiting++;
	pthread_mutex_unlock(&c->lock);
	int k = poll(fds, n, timeout);
	pthread_mutex_lock(&c->lock);
	c->user_waiting--;
	if (k > 0 && fds[0].revents)
		net_drain_eventfd(c->user_wake);
	/* A session may have been reaped or moved while we slept: read only those still where
	 * they were, on the connection we polled (the others are looked at again anyway). */
	for (nfds_t i = 1; k > 0 && i < n; i++)
		if (fds[i].revents && at[i] < c->n_peers && c->peers[at[i]] == who[i] &&
		    who[i]->conn.fd == fds[i].fd)
			(void)psyne__net_rx_read(who[i], false);
	return 0;
}

static uint64_t deadline_of(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return net_now() + net_ms((uint32_t)timeout_ms);
}

/*
 * A dialer's caller that waits for a message with no deadline sleeps in recv() on its one
 * session, woken by the data itself: one system call and a direct wake-up where poll() and
 * recv() make two, which is most of what a round trip costs over the raw socket. Nothing
 * else can need such a caller: a dialer has no other session, and when the connection is
 * dropped (peer silent, error, close) psyne__net_peer_down() shuts the socket down under us, which
 * ends the recv().
 *
 * Not while the rest of a large frame is awaited with SO_RCVLOWAT (rx_lowat()): a blocking
 * recv() copies what is queued and then sleeps until the queue holds the whole low mark
 * again, which the rest of the frame never does, so it would sleep until the peer timeout.
 * poll() waits for the low mark on the untouched queue, and is used instead.
 */
static bool wait_in_read(struct net_chan *c)
{
	struct net_peer *p;
	ssize_t n;

	if (c->cfg.listener || c->n_peers != 1)
		return false;
	p = c->peers[0];
	if (p->state != NET_PEER_UP || !p->conn.blocking || !net_can_read(p) || p->conn.fd < 0 ||
	    p->conn.rcvlowat > 1 || p->rx.filled - p->rx.free >= p->rx.buf.capacity)
		return false;
	c->user_waiting++; /* the I/O thread leaves the socket to us */
	n = psyne__net_rx_read(p, true);
	c->user_waiting--;
	(void)n; /* whatever happened, the caller looks again */
	return true;
}

/* The peer a new message goes to: round robin over those with room. */
static struct net_peer *pick_sender(struct net_chan *c, uint32_t need, bool *ret_any)
{
	*ret_any = false;
	/* A listener's sessions that proved themselves first: a message that went to one that
	 * never does would wait there until it is dropped. */
	for (uint32_t k = 0; k < 2 * c->n_peers; k++) {
		struct net_peer *p = c->peers[(c->rr + k) % c->n_peers];

		if (!peer_sendable(p) || (k < c->n_peers && !p->proved && c->cfg.listener))
			continue;
		*ret_any = true;
		/* A write in flight may still read slots acknowledged meanwhile (after a
		 * reconnect): they are not reused before it returns. */
		uint64_t low = p->conn.writing && !p->conn.tls ? MIN(p->tx.acked, p->tx.inflight) :
								 p->tx.acked;

		if (p->tx.end - low + need <= p->tx.buf.capacity) {
			c->rr = (p->index + 1) % MAX(c->n_peers, 1u);
			return p;
		}
	}
	return NULL;
}

int psyne__net_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
		       struct psyne_msg *ret_msg)
{
	struct net_chan *c = chan(ch);
	uint64_t deadline = deadline_of(timeout_ms);
	uint32_t need;
	int r = 0;

	bool memfd = c->cfg.fd_passing && c->cfg.memfd_min > 0 && size >= c->cfg.memfd_min;

	if (size > (memfd ? NET_MEMFD_MAX : c->cfg.max_msg))
		return -EMSGSIZE;
	need = memfd ? NET_MEMFD_SLOT : NET_SLOT_HDR + net_frame_bytes((uint32_t)size);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		bool any;
		struct net_peer *p = pick_sender(c, need, &any);

		/* A memfd message holds a descriptor and its pages until the peer acknowledges
		 * it, outside the ring: their number and bytes have bounds of their own. */
		if (memfd && (c->memfds >= NET_MEMFD_INFLIGHT ||
			      (c->memfds > 0 && c->memfd_bytes + size > NET_MEMFD_INFLIGHT_BYTES)))
			p = NULL;
		if (p) {
			if (!memfd && size > p->remote_max_msg && p->remote_max_msg > 0) {
				r = -EMSGSIZE;
				break;
			}
			struct net_slot *s = net_slot_at(p, p->tx.end);
			uint8_t *data = (uint8_t *)(s + 1) + PSYNE_FRAME_HDR_SIZE;

			s->total = need;
			s->flags = NET_SLOT_RESERVED;
			memset(s + 1, 0, PSYNE_FRAME_HDR_SIZE);
			if (memfd) {
				r = psyne__net_memfd_reserve(s, size, &data);
				if (r < 0)
					break;
				c->memfds++;
				c->memfd_bytes += size;
			}
			*ret_msg = (struct psyne_msg){
				.data = data,
				.size = size,
				.priv = { p->tx.end, (uint64_t)(uintptr_t)p },
			};
			p->tx.end += need;
			break;
		}
		if (!any && net_served(c)) {
			r = net_gone_error(c);
			break;
		}
		if (timeout_ms == 0) {
			r = -EAGAIN;
			break;
		}
		r = user_wait(c, deadline);
		if (r < 0)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static struct net_peer *msg_peer(struct net_chan *c, const struct psyne_msg *msg)
{
	for (uint32_t i = 0; i < c->n_peers; i++)
		if ((uint64_t)(uintptr_t)c->peers[i] == msg->priv[1])
			return c->peers[i];
	return NULL;
}

/* The reservation `msg` names, if it is one. */
static struct net_slot *own_slot(struct net_peer *p, const struct psyne_msg *msg)
{
	uint64_t pos = msg->priv[0];
	struct net_slot *s;

	if (pos < p->tx.ready || pos >= p->tx.end || pos % NET_FRAME_ALIGN != 0)
		return NULL;
	s = net_slot_at(p, pos);
	if (s->flags != NET_SLOT_RESERVED)
		return NULL;
	if (psyne__net_slot_memfd(s) ? psyne__net_slot_memfd(s)->map != msg->data :
				       (uint8_t *)(s + 1) + PSYNE_FRAME_HDR_SIZE != msg->data)
		return NULL;
	return s;
}

int psyne__net_commit(struct psyne_channel *ch, struct psyne_msg *msg)
{
	struct net_chan *c = chan(ch);
	struct net_memfd_ref *m;
	struct net_peer *p;
	struct net_slot *s;
	uint8_t *hdr;
	uint32_t v;

	pthread_mutex_lock(&c->lock);
	p = msg_peer(c, msg);
	s = p ? own_slot(p, msg) : NULL;
	m = s ? psyne__net_slot_memfd(s) : NULL;
	if (!s || msg->size > (m ? m->reserved : s->total - NET_SLOT_HDR - PSYNE_FRAME_HDR_SIZE)) {
		pthread_mutex_unlock(&c->lock);
		return -EINVAL;
	}
	if (m) {
		int r = psyne__net_memfd_commit(m, msg->size);

		if (r < 0) {
			pthread_mutex_unlock(&c->lock);
			return r;
		}
	}
	hdr = (uint8_t *)(s + 1);
	/* type and length wait here for psyne__net_tx_advance_ready(), which writes the frame
	 * header. */
	v = htole32(msg->type);
	memcpy(hdr + 8, &v, 4);
	v = htole32((uint32_t)msg->size);
	memcpy(hdr + 12, &v, 4);
	if (!m && msg->size % NET_FRAME_ALIGN != 0) /* the padding to the next frame */
		memset(hdr + PSYNE_FRAME_HDR_SIZE + msg->size, 0,
		       net_frame_bytes((uint32_t)msg->size) - PSYNE_FRAME_HDR_SIZE - msg->size);
	s->flags = NET_SLOT_READY;
	p->messages_tx++;
	p->bytes_tx += msg->size;
	c->count.sent++;
	c->count.sent_bytes += msg->size;
	msg->priv[1] = 0;
	psyne__net_tx_advance_ready(p);

	/*
	 * A lone message goes out now. One right behind our last write of messages starts a
	 * batch, and what follows joins it. Not one that comes after a message received from
	 * the peer since that write, though: that is an answer, and a write that returned late
	 * (the peer answered before the system call came back) would hold it for a batch.
	 * Acknowledgements and heartbeats we write do not count either (tx_done()). We write
	 * the batch ourselves once it has waited NET_BATCH_DELAY_NS (looking at the clock every
	 * 32 commits) or holds NET_BATCH_BYTES; the I/O thread, woken once when a batch starts,
	 * writes it NET_IO_SLACK_NS later if we have stopped committing by then. So a stream
	 * goes out in large writes, with no thread switch for each, and a message waits at most
	 * NET_BATCH_DELAY_NS + NET_IO_SLACK_NS.
	 */
	if (p->state == NET_PEER_UP && net_can_write(p)) {
		/* Read the clock only for the first message of a batch: it costs as much as
		 * the rest of the commit. */
		bool gathering = p->tx.flush_wanted, write;
		uint64_t t = 0;

		if (!gathering) {
			t = net_now();
			write = t - p->tx.last_write_ns >= NET_BATCH_NS || p->tx.taken_since_write;
		} else {
			write = p->tx.ready - p->tx.slot >= NET_BATCH_BYTES ||
				((++p->tx.batch_n & 31) == 0 && net_now() >= p->tx.flush_at);
		}
		if (write)
			(void)psyne__net_tx_flush(p);
		if (psyne__net_tx_pending(p)) {
			if (!p->tx.flush_wanted) {
				p->tx.flush_at = (t ? t : net_now()) + NET_BATCH_DELAY_NS;
				p->tx.batch_n = 0;
			}
			p->tx.flush_wanted = true;
			if (!p->tx.io_kicked) {
				p->tx.io_kicked = true;
				net_kick(c->io.wake);
			}
		}
	}
	/* The stats page follows every message that went out at once, and a batch once per
	 * 32 commits and when it is written (psyne__net_tx_flush()). */
	if (!p->tx.flush_wanted || (p->tx.batch_n & 31) == 0)
		psyne__net_page_sent(p);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void psyne__net_cancel(struct psyne_channel *ch, struct psyne_msg *msg)
{
	struct net_chan *c = chan(ch);
	struct net_peer *p;
	struct net_slot *s;

	if (!msg)
		return;
	pthread_mutex_lock(&c->lock);
	p = msg_peer(c, msg);
	s = p ? own_slot(p, msg) : NULL;
	if (s) {
		psyne__net_slot_memfd_drop(p->ch, s);
		if (msg->priv[0] + s->total == p->tx.end)
			p->tx.end = msg->priv[0]; /* the newest: just forget it */
		else
			s->flags = NET_SLOT_CANCELLED;
		psyne__net_tx_advance_ready(p);
		msg->priv[1] = 0;
	}
	pthread_mutex_unlock(&c->lock);
}

int psyne__net_receive(struct psyne_channel *ch, int timeout_ms, size_t max_size,
		       struct psyne_msg *ret_msg)
{
	struct net_chan *c = chan(ch);
	uint64_t deadline = deadline_of(timeout_ms);
	int r;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		bool live = false, more = false;

		r = -EAGAIN;
		for (uint32_t k = 0; k < c->n_peers && r == -EAGAIN; k++) {
			struct net_peer *p = c->peers[(c->rr + k) % c->n_peers];

			r = psyne__net_take_message(p, max_size, ret_msg);
			/*
			 * Read until a whole message is in (TLS hands over a record at a time).
			 * A socket our last read drained is left to poll() in user_wait(): a
			 * read now would most likely find nothing, and cost a system call on
			 * every wait of a ping-pong.
			 */
			while (r == -EAGAIN && p->state == NET_PEER_UP && !p->conn.drained &&
			       psyne__net_rx_read(p, false) > 0)
				r = psyne__net_take_message(p, max_size, ret_msg);
			if (r == 0)
				c->rr = (p->index + 1) % c->n_peers;
		}
		if (r != -EAGAIN)
			break;
		/* Reading dropped the lock, and the peer list may have changed meanwhile: decide
		 * on a fresh look whether anyone is left. */
		for (uint32_t i = 0; i < c->n_peers; i++) {
			struct net_peer *p = c->peers[i];

			if (p->state != NET_PEER_GONE && !p->rx.bye_received)
				live = true;
			if (p->rx.next < p->rx.parsed)
				more = true;
		}
		if (more)
			continue;
		if (!live && net_served(c)) {
			r = net_gone_error(c);
			break;
		}
		if (timeout_ms == 0)
			break;
		if (timeout_ms < 0 && wait_in_read(c))
			continue;
		r = user_wait(c, deadline);
		if (r < 0)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void release_locked(struct net_chan *c, struct psyne_msg *msg)
{
	struct net_peer *p = msg_peer(c, msg);

	if (p && psyne__net_rx_release(&p->rx, msg)) {
		msg->priv[1] = 0;
		psyne__net_page_received(p, false);
	}
}

void psyne__net_release(struct psyne_channel *ch, struct psyne_msg *msg)
{
	struct net_chan *c = chan(ch);

	if (!msg)
		return;
	pthread_mutex_lock(&c->lock);
	release_locked(c, msg);
	pthread_mutex_unlock(&c->lock);
}

int psyne__net_stats(struct psyne_channel *ch, struct psyne_stats *ret)
{
	struct net_chan *c = chan(ch);
	struct psyne_stats st = { .capacity = c->cfg.capacity, .mode = c->cfg.mode };

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->n_peers; i++) {
		struct net_peer *p = c->peers[i];

		if (p->state == NET_PEER_UP) {
			if (c->cfg.mode == PSYNE_MODE_MPSC || c->cfg.mode == PSYNE_MODE_MPMC ||
			    !c->cfg.listener)
				st.producers++;
			st.consumers++;
		}
		st.used += (p->tx.end - p->tx.acked) + (p->rx.filled - p->rx.free);
	}
	st.messages = c->count.sent;
	st.bytes = c->count.sent_bytes;
	st.received = c->count.received;
	st.received_bytes = c->count.received_bytes;
	st.reconnects = c->count.reconnects;
	pthread_mutex_unlock(&c->lock);
	*ret = st;
	return 0;
}

void psyne__net_close(struct psyne_channel *ch)
{
	struct net_chan *c = chan(ch);
	uint64_t deadline = net_now() + net_ms(c->cfg.linger_ms);

	/* Linger: what was committed goes out and is acknowledged, then BYE. */
	pthread_mutex_lock(&c->lock);
	for (;;) {
		bool busy = false;

		for (uint32_t i = 0; i < c->n_peers; i++) {
			struct net_peer *p = c->peers[i];

			if (p->state == NET_PEER_GONE || p->rx.bye_received)
				continue;
			if (p->tx.acked < p->tx.ready) {
				busy = true;
				continue;
			}
			/* What we received is acknowledged before we go: a sender that waits for
			 * its messages to be read (psyne cat lingers so) learns they were. */
			if (p->state == NET_PEER_UP && p->rx.unacked > 0 &&
			    p->rx.seq != UINT64_MAX &&
			    psyne__net_ctl_append(p, PSYNE_FRAME_ACK, p->rx.seq, NULL, 0))
				p->rx.unacked = 0;
			if (p->state == NET_PEER_UP && !p->bye_sent && !p->bye_acked)
				p->bye_sent = psyne__net_ctl_append(p, PSYNE_FRAME_BYE, p->tx.seq,
								    NULL, 0);
			/* Not done until the peer has acknowledged BYE: a connection that breaks
			 * now comes back and BYE goes again. */
			if (p->state == NET_PEER_UP)
				(void)psyne__net_tx_flush(p);
			/* A listener's session that never proved itself holds nothing of ours: its
			 * BYE goes, best effort, but is not waited for (a flood of half-made
			 * sessions would keep close for `linger`). */
			if (!p->bye_acked && (p->proved || !c->cfg.listener))
				busy = true;
		}
		if (!busy || net_now() >= deadline)
			break;
		uint32_t wait_ms = 20;

		for (uint32_t i = 0; i < c->n_peers; i++) {
			struct net_peer *p = c->peers[i];

			if (p->state != NET_PEER_UP)
				continue;
			if (p->tx.acked == p->tx.ready) {
				if (psyne__net_tx_pending(p))
					wait_ms = 1; /* BYE still to go */
				continue;
			}
			/* Send what is left ourselves, then ask for the acknowledgement now rather
			 * than at the next heartbeat. Nothing wakes us when another thread's
			 * write completes: look again soon while data is unsent. */
			(void)psyne__net_tx_flush(p);
			if (p->tx.slot < p->tx.ready) {
				wait_ms = 1;
			} else if (net_now() - p->last_ping_ns > net_ms(100)) {
				p->last_ping_ns = net_now();
				(void)psyne__net_ctl_append(p, PSYNE_FRAME_PING, net_now(), NULL,
							    0);
				p->last_tx_ns = net_now();
				(void)psyne__net_tx_flush(p);
			}
		}
		(void)user_wait(c, MIN(deadline, net_now() + net_ms(wait_ms)));
	}
	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i]->conn.fd >= 0)
			(void)shutdown(c->peers[i]->conn.fd, SHUT_WR);
	pthread_mutex_unlock(&c->lock);
	net_free(c);
}
