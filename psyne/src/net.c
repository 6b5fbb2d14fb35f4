/* SPDX-License-Identifier: MIT */
/*
 * The session engine of the stream transports (unix://, tcp://).
 *
 * A handle talks to one peer (a dialer) or to many (a listener). For each peer it keeps a
 * *session*: a ring of outgoing frames (tx) and a ring of incoming ones (rx), both mapped
 * twice back to back (dbuf.h) so that no frame is ever split. A session outlives its
 * connection: when a connection breaks, the dialer dials again, both sides say in HELLO
 * which sequence number they expect next, and the sender resends from there. Frames stay in
 * tx until the peer acknowledges them (ACK), so a committed message is neither lost nor
 * duplicated while both processes live.
 *
 * tx slot:  [slot header 8 B: total, flags][wire frame: header 32 B, payload, pad to 8]
 * rx:       wire frames as read, each padded to 8; the header's reserved word is ours once
 *           the CRC is checked and marks what the frame is to us (RX_*).
 *
 * Threads: the caller's thread does the socket work of its own calls (a lone message is
 * written by commit at once; receive reads straight into rx and polls the sockets when it
 * must wait). One I/O thread per handle does what nobody else is there to do: accepting,
 * handshakes, dialing, heartbeats, flushing batches, and reading while the caller is busy
 * elsewhere. `lock` guards the bookkeeping only; the read and write system calls run
 * without it, on regions the other thread does not touch (`reading`/`writing` say who).
 *
 * What `psyne stat` shows of a handle is its stats page (netstat.h), which the code below
 * keeps up to date under the lock (the page_* functions); nothing answers queries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "dbuf.h"
#include "frame.h"
#include "log.h"
#include "net.h"
#include "netstat.h"
#include "ring.h"
#include "tls.h"

#define NET_DEFAULT_CAPACITY (1u << 20)
#define NET_MIN_CAPACITY (64u << 10)
#define NET_DEFAULT_HEARTBEAT_MS 500u
#define NET_DEFAULT_PEER_TIMEOUT_MS 2000u
#define NET_DEFAULT_RECONNECT_MS 30000u
#define NET_DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define NET_DEFAULT_LINGER_MS 5000u
#define NET_DEFAULT_MAX_PEERS 64u
#define NET_MAX_PENDING 64u /* connections still in their handshake */
#define NET_BACKOFF_MIN_MS 50u
#define NET_BACKOFF_MAX_MS 2000u
/* Batching, see psyne__net_commit() */
#define NET_BATCH_NS 2000u	     /* a commit this soon after our last write starts a batch */
#define NET_BATCH_DELAY_NS 200000u   /* which is written when it has waited this long */
#define NET_BATCH_BYTES (128u << 10) /* or holds this much */
#define NET_IO_SLACK_NS 25000u	     /* the I/O thread's part: when the caller stopped */
#define NET_IOV_MAX 1024u	     /* frames per write (the kernel's UIO_MAXIOV) */
#define NET_READ_MAX (1u << 20)	     /* bytes per read() */
#define NET_LOWAT_MIN (64u << 10)    /* wake for the rest of a frame once this much is missing */
#define NET_LOWAT_MAX (4u << 20)
#define NET_CTL_MAX 512u
#define NET_STAGE (64u << 10)
#define NET_COALESCE_MAX 1024u /* frames shorter than this are written through the stage */
#define FRAME_ALIGN 8u
#define SLOT_HDR 8u
#define NET_DEFAULT_MEMFD_MIN (64u << 10)
#define NET_MEMFD_MAX (1u << 30)		/* largest message passed as a memfd */
#define NET_MEMFD_INFLIGHT 64u			/* memfd messages unacknowledged per handle */
#define NET_MEMFD_INFLIGHT_BYTES (256ull << 20) /* ... and their bytes, beyond the first */
#define NET_RX_FDS 64u				/* descriptors received ahead of their frames */
#define MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

enum {
	SLOT_RESERVED = 0,
	SLOT_READY = 1,	    /* committed, header and crc final */
	SLOT_CANCELLED = 2, /* never sent */
};

enum {
	RX_DATA = 0,	 /* a message not yet handed out */
	RX_SKIP = 1,	 /* control frame or duplicate: nothing for the user */
	RX_HELD = 2,	 /* handed out, not yet released */
	RX_RELEASED = 3, /* released out of order */
};

enum peer_state {
	PEER_CONNECTING, /* dialer: connect() in progress */
	PEER_TLS,	 /* dialer: TLS handshake in progress */
	PEER_HELLO,	 /* connected, waiting for the other side's HELLO */
	PEER_UP,
	PEER_DOWN, /* no connection: the dialer dials again, the listener waits */
	PEER_GONE, /* session over; freed once drained and nothing is held */
};

struct net_slot {
	uint32_t total; /* bytes of the slot, slot header included, a multiple of 8 */
	uint32_t flags;
};
_Static_assert(sizeof(struct net_slot) == SLOT_HDR, "tx slot header");

/*
 * unix:// passes large messages as sealed memfds (SCM_RIGHTS): such a tx slot holds the
 * frame header (flag PSYNE_FRAME_F_MEMFD, length = the message's size) and this, and only
 * the header travels in the stream. The receiver maps the memfd read-only and hands out a
 * view of it: the payload is never copied, not even by the kernel.
 */
struct memfd_ref {
	int32_t fd;
	uint32_t reserved; /* the size reserved: commit may shrink it */
	uint8_t *map;	   /* writable mapping until commit, then NULL */
};
#define MEMFD_SLOT (SLOT_HDR + PSYNE_FRAME_HDR_SIZE + ALIGN_TO(sizeof(struct memfd_ref), 8u))

/* A received memfd message, mapped until it is released. */
struct rx_map {
	uint64_t pos;
	uint8_t *map;
	size_t len;
};

struct net_chan;

struct net_peer {
	struct net_chan *ch;
	uint32_t index;
	int fd;
	int dead_fd; /* closed when the thread in a system call on it comes back */
	struct psyne_tls *tls, *dead_tls;
	short tls_want; /* what the TLS handshake waits for */
	enum peer_state state;
	uint64_t session;
	int error; /* when GONE: -EPIPE after BYE, else -ECONNRESET */
	bool bye_received;
	bool bye_sent;	/* on this connection */
	bool bye_acked; /* the peer has it */
	bool reading, writing;
	char name[128];

	/* tx: acked <= sent slot <= ready <= end */
	struct psyne_dbuf tx;
	uint64_t tx_acked;    /* slots before this are acknowledged or cancelled: free */
	uint64_t tx_slot;     /* the slot being sent on this connection */
	uint32_t tx_off;      /* bytes of its wire frame already sent */
	uint64_t tx_ready;    /* slots before this are READY or CANCELLED */
	uint64_t tx_end;      /* end of the newest reservation */
	uint64_t tx_seq;      /* seq of the next slot to become ready */
	uint64_t tx_inflight; /* while writing: the first slot the system call may read */
	uint64_t tx_acked_seq;
	uint64_t last_write_ns; /* when our last write of messages returned */
	bool taken_since_write; /* a message of this peer was received since then */
	bool flush_wanted;	/* the I/O thread should write what is ready */
	bool io_kicked;	   /* ... and has been woken for it, or sleeps no longer than flush_at */
	uint64_t flush_at; /* when flush_wanted: when the batch is due */
	uint32_t batch_n;  /* commits to the batch */
	uint8_t ctl[NET_CTL_MAX];
	uint32_t ctl_len, ctl_off;
	uint8_t *stage; /* NET_STAGE bytes, see stage_fill(); allocated when first used */
	uint32_t stage_len, stage_off;

	/* rx: free <= next <= parsed <= filled */
	struct psyne_dbuf rx;
	uint64_t rx_free;   /* released prefix */
	uint64_t rx_next;   /* first frame not handed out */
	uint64_t rx_parsed; /* frames before this are checked */
	uint64_t rx_filled; /* bytes read */
	uint64_t rx_seq;    /* next DATA seq expected; UINT64_MAX: take the first one */
	uint64_t rx_unacked;
	bool rx_drained;   /* the last read found the socket empty: poll() before reading again */
	uint32_t rcvlowat; /* the socket's SO_RCVLOWAT as we last set it; 0: never set */
	bool blocking;	   /* the socket is in blocking mode: every call but wait_in_read()'s
			    * says MSG_DONTWAIT */
	uint32_t held;
	int rx_fds[NET_RX_FDS]; /* unix://: memfds received, for frames not parsed yet */
	uint32_t rx_fds_head, rx_fds_n;
	struct rx_map *rx_maps;
	uint32_t n_rx_maps, cap_rx_maps;
	uint32_t remote_max_msg;
	uint64_t remote_window;

	uint64_t last_rx_ns, last_tx_ns, down_since_ns, next_dial_ns, hello_deadline_ns;
	uint64_t last_ping_ns; /* closing: when we last asked for an acknowledgement */
	uint32_t backoff_ms;

	uint64_t messages_tx, bytes_tx, messages_rx, bytes_rx, reconnects, retransmits;
};

struct net_pending {
	int fd;
	struct psyne_tls *tls;
	bool tls_done;
	short tls_want;
	uint32_t got;
	uint64_t deadline_ns;
	uint8_t buf[PSYNE_FRAME_HDR_SIZE + PSYNE_FRAME_HELLO_SIZE];
	char name[128];
};

struct net_chan {
	struct psyne_channel base;
	const struct psyne_net_family *family;
	struct psyne_net_addr addr;
	bool listener;
	uint32_t mode;
	uint64_t capacity;
	uint32_t max_msg;
	uint32_t heartbeat_ms, peer_timeout_ms, reconnect_ms, connect_timeout_ms, linger_ms;
	uint32_t max_peers;
	bool nodelay;
	bool fd_passing;	   /* unix:// */
	uint32_t memfd_min;	   /* messages this large go as memfds; 0: never */
	struct psyne_tls_ctx *tls; /* tls:// */

	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_started;
	bool stopping;
	int listen_fd;
	int io_wake;   /* eventfd: wakes the I/O thread */
	int user_wake; /* eventfd: wakes a caller waiting in poll() */
	unsigned user_waiting;
	bool ever_up; /* a session existed once */

	struct net_peer **peers;
	uint32_t n_peers;
	uint32_t rr; /* round robin: next peer to look at */
	struct net_pending *pending[NET_MAX_PENDING];
	uint32_t n_pending;

	uint64_t dropped_conns;
	uint64_t reconnects;
	int last_error; /* why the last session ended */
	uint64_t warn_window_ns, warn_suppressed;
	uint32_t warn_count;
	uint64_t sent, sent_bytes, received, received_bytes;
	/* memfd messages reserved and not yet acknowledged: their descriptors and bytes */
	uint32_t memfds;
	uint64_t memfd_bytes;
	struct psyne_netstat *page; /* what psyne stat shows; NULL when it could not be made */
};

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

static uint64_t now(void)
{
	return now_nsec(CLOCK_MONOTONIC);
}

static uint64_t ms(uint32_t v)
{
	return (uint64_t)v * 1000000ull;
}

static uint32_t frame_bytes(uint32_t payload)
{
	return ALIGN_TO(PSYNE_FRAME_HDR_SIZE + payload, FRAME_ALIGN);
}

static struct net_slot *slot_at(struct net_peer *p, uint64_t pos)
{
	return (struct net_slot *)psyne__dbuf_at(&p->tx, pos);
}

static bool hdr_is_memfd(const uint8_t *hdr)
{
	uint16_t flags;

	memcpy(&flags, hdr + 6, 2);
	return (le16toh(flags) & PSYNE_FRAME_F_MEMFD) != 0;
}

/* The bytes a frame takes in the stream: its header alone for a memfd one. */
static uint32_t stream_bytes(const uint8_t *hdr)
{
	uint32_t len;

	if (hdr_is_memfd(hdr))
		return PSYNE_FRAME_HDR_SIZE;
	memcpy(&len, hdr + 12, 4);
	return frame_bytes(le32toh(len));
}

static struct memfd_ref *slot_memfd(struct net_slot *s)
{
	uint8_t *hdr = (uint8_t *)(s + 1);

	return hdr_is_memfd(hdr) ? (struct memfd_ref *)(hdr + PSYNE_FRAME_HDR_SIZE) : NULL;
}

/* Lets go of a memfd slot's descriptor and mapping (acknowledged, cancelled, freed). */
static void slot_memfd_drop(struct net_chan *c, struct net_slot *s)
{
	struct memfd_ref *m = slot_memfd(s);

	if (!m)
		return;
	if (m->map)
		(void)munmap(m->map, m->reserved); /* cannot fail on a mapping we made */
	if (m->fd >= 0) {
		close(m->fd);
		c->memfds--;
		c->memfd_bytes -= m->reserved;
	}
	m->map = NULL;
	m->fd = -1;
}

static void kick(int efd)
{
	uint64_t one = 1;

	/* An eventfd write fails only when the counter would overflow: it is awake anyway. */
	(void)!write(efd, &one, sizeof(one));
}

static void drain_eventfd(int efd)
{
	uint64_t v;

	(void)!read(efd, &v, sizeof(v)); /* EAGAIN: nothing was pending */
}

/* recv() or its TLS counterpart: bytes, 0 at the peer's close, or a negative errno. */
static ssize_t stream_read(struct psyne_tls *tls, int fd, void *buf, size_t len, bool block)
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

/* sendmsg() or its TLS counterpart; `pass_fd` >= 0 goes along with the first byte. */
static ssize_t stream_writev(struct psyne_tls *tls, int fd, struct iovec *iov, int n, int pass_fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t w;

	if (tls)
		return psyne__tls_writev(tls, iov, n);
	if (pass_fd >= 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		control.h.cmsg_level = SOL_SOCKET;
		control.h.cmsg_type = SCM_RIGHTS;
		control.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&control.h), &pass_fd, sizeof(int));
	}
	w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	return w < 0 ? -errno : w;
}

/* A TLS connection reads and writes through one object: never from two threads at once. */
static bool can_read(const struct net_peer *p)
{
	return !p->reading && !(p->tls && p->writing);
}

static bool can_write(const struct net_peer *p)
{
	return !p->writing && !(p->tls && p->reading);
}

/* Something a waiting caller cares about changed. */
static void wake_user(struct net_chan *c)
{
	if (c->user_waiting > 0)
		kick(c->user_wake);
}

/* Queues a control frame; false when the queue is full (what matters is sent again). */
static bool ctl_append(struct net_peer *p, uint8_t kind, uint64_t seq, const void *payload,
		       uint32_t len)
{
	struct psyne_frame f = { .kind = kind, .seq = seq, .length = len };
	uint32_t n = frame_bytes(len);

	if (p->ctl_off > 0 && p->ctl_off == p->ctl_len)
		p->ctl_off = p->ctl_len = 0;
	if (p->ctl_len + n > NET_CTL_MAX)
		return false;
	memset(p->ctl + p->ctl_len, 0, n);
	if (len > 0)
		memcpy(p->ctl + p->ctl_len + PSYNE_FRAME_HDR_SIZE, payload, len);
	psyne__frame_encode(p->ctl + p->ctl_len, &f, p->ctl + p->ctl_len + PSYNE_FRAME_HDR_SIZE,
			    len);
	p->ctl_len += n;
	return true;
}

static void send_hello(struct net_peer *p, uint64_t next_seq)
{
	struct net_chan *c = p->ch;
	uint8_t buf[PSYNE_FRAME_HELLO_SIZE];
	struct psyne_hello h = {
		.session = p->session,
		.next_seq = next_seq,
		.mode = c->mode,
		.max_msg = c->max_msg,
		.heartbeat_ms = c->heartbeat_ms,
		.flags = c->listener ? PSYNE_HELLO_F_LISTENER : 0,
		.window = p->tx.capacity,
	};

	psyne__frame_hello_encode(buf, &h);
	(void)ctl_append(p, PSYNE_FRAME_HELLO, 0, buf, sizeof(buf));
}

static void send_reject(struct psyne_tls *tls, int fd, int err, const char *reason)
{
	uint8_t buf[PSYNE_FRAME_HDR_SIZE + 264];
	uint32_t len = 4 + (uint32_t)MIN(strlen(reason), (size_t)256);
	struct psyne_frame f = { .kind = PSYNE_FRAME_REJECT, .length = len };
	uint32_t e = htole32((uint32_t)err);

	memset(buf, 0, sizeof(buf));
	memcpy(buf + PSYNE_FRAME_HDR_SIZE, &e, 4);
	memcpy(buf + PSYNE_FRAME_HDR_SIZE + 4, reason, len - 4);
	psyne__frame_encode(buf, &f, buf + PSYNE_FRAME_HDR_SIZE, len);
	/* Best effort: the connection is closed right after. */
	(void)stream_writev(tls, fd,
			    &(struct iovec){ .iov_base = buf, .iov_len = frame_bytes(len) }, 1, -1);
}

/* ---- the stats page (netstat.h) ---------------------------------------------------- */

/*
 * Everything here runs under the lock and only stores to the page: no system call, no
 * allocation. The counters of a commit or a receive are a handful of stores; the I/O thread
 * writes the whole page once per turn of its loop, and state changes write it at once.
 */

static const uint32_t page_states[] = {
	[PEER_CONNECTING] = PSYNE_NETSTAT_PEER_CONNECTING,
	[PEER_TLS] = PSYNE_NETSTAT_PEER_TLS,
	[PEER_HELLO] = PSYNE_NETSTAT_PEER_HELLO,
	[PEER_UP] = PSYNE_NETSTAT_PEER_UP,
	[PEER_DOWN] = PSYNE_NETSTAT_PEER_DOWN,
	[PEER_GONE] = PSYNE_NETSTAT_PEER_GONE,
};

/* After a commit: what it sent. */
static void page_sent(struct net_peer *p)
{
	struct psyne_netstat *s = p->ch->page;
	struct psyne_netstat_peer *e;

	if (!s)
		return;
	psyne__netstat_begin(&s->hdr->gen);
	psyne__netstat_put(&s->hdr->sent, p->ch->sent);
	psyne__netstat_put(&s->hdr->sent_bytes, p->ch->sent_bytes);
	psyne__netstat_end(&s->hdr->gen);
	e = psyne__netstat_entry(s, p->index, p);
	if (!e)
		return;
	psyne__netstat_begin(&e->gen);
	psyne__netstat_put(&e->tx_queued, p->tx_end - p->tx_acked);
	psyne__netstat_put(&e->messages_tx, p->messages_tx);
	psyne__netstat_put(&e->bytes_tx, p->bytes_tx);
	psyne__netstat_end(&e->gen);
}

/* After a message was taken (`taken`) or released: what is received and still held. */
static void page_received(struct net_peer *p, bool taken)
{
	struct psyne_netstat *s = p->ch->page;
	struct psyne_netstat_peer *e;

	if (!s)
		return;
	if (taken) {
		psyne__netstat_begin(&s->hdr->gen);
		psyne__netstat_put(&s->hdr->received, p->ch->received);
		psyne__netstat_put(&s->hdr->received_bytes, p->ch->received_bytes);
		psyne__netstat_end(&s->hdr->gen);
	}
	e = psyne__netstat_entry(s, p->index, p);
	if (!e)
		return;
	psyne__netstat_begin(&e->gen);
	psyne__netstat_put(&e->rx_queued, p->rx_filled - p->rx_free);
	if (taken) {
		psyne__netstat_put(&e->messages_rx, p->messages_rx);
		psyne__netstat_put(&e->bytes_rx, p->bytes_rx);
	}
	psyne__netstat_end(&e->gen);
}

/* The whole page: counters, and every session the table has room for. */
static void page_sync(struct net_chan *c)
{
	struct psyne_netstat *s = c->page;
	uint32_t n;

	if (!s)
		return;
	n = MIN(c->n_peers, PSYNE_NETSTAT_MAX_PEERS);
	psyne__netstat_begin(&s->hdr->gen);
	psyne__netstat_put(&s->hdr->sent, c->sent);
	psyne__netstat_put(&s->hdr->sent_bytes, c->sent_bytes);
	psyne__netstat_put(&s->hdr->received, c->received);
	psyne__netstat_put(&s->hdr->received_bytes, c->received_bytes);
	psyne__netstat_put(&s->hdr->reconnects, c->reconnects);
	psyne__netstat_put(&s->hdr->dropped, c->dropped_conns);
	psyne__netstat_put32(&s->hdr->n_peers, n);
	psyne__netstat_put32(&s->hdr->sessions, c->n_peers);
	psyne__netstat_put32(&s->hdr->handshakes, c->n_pending);
	psyne__netstat_put32(&s->hdr->last_error, (uint32_t)-c->last_error);
	psyne__netstat_end(&s->hdr->gen);
	for (uint32_t i = 0; i < n; i++) {
		struct net_peer *p = c->peers[i];
		struct psyne_netstat_peer *e = psyne__netstat_claim(s, i, p, p->name);

		if (!e)
			break;
		psyne__netstat_begin(&e->gen);
		psyne__netstat_put32(&e->state, page_states[p->state]);
		psyne__netstat_put(&e->tx_queued, p->tx_end - p->tx_acked);
		psyne__netstat_put(&e->rx_queued, p->rx_filled - p->rx_free);
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
static void page_open(struct net_chan *c, const struct psyne_uri *uri)
{
	int r = psyne__netstat_new(uri->scheme, uri->address, c->listener, c->mode, c->capacity,
				   &c->page);

	if (r < 0)
		psyne__log_debug("%s: no stats page: %s, ignoring", c->addr.text, strerror(-r));
}

/* Published last, as ipc:// does: a reader that finds it finds a working handle. */
static void page_publish(struct net_chan *c)
{
	int r;

	if (!c->page)
		return;
	pthread_mutex_lock(&c->lock);
	page_sync(c);
	r = psyne__netstat_publish(c->page);
	if (r < 0) {
		psyne__log_debug("%s: stats page not published: %s, ignoring", c->addr.text,
				 strerror(-r));
		c->page = psyne__netstat_free(c->page);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- tx ---------------------------------------------------------------------------- */

/* Moves `ready` over slots committed or cancelled in order, numbering them. */
static void tx_advance_ready(struct net_peer *p)
{
	while (p->tx_ready < p->tx_end) {
		struct net_slot *s = slot_at(p, p->tx_ready);
		uint8_t *hdr = (uint8_t *)(s + 1);

		if (s->flags == SLOT_RESERVED)
			break;
		if (s->flags == SLOT_READY) {
			struct psyne_frame f;
			uint32_t type, len;

			bool memfd = hdr_is_memfd(hdr);

			memcpy(&type, hdr + 8, 4);
			memcpy(&len, hdr + 12, 4);
			f = (struct psyne_frame){
				.kind = PSYNE_FRAME_DATA,
				.flags = memfd ? PSYNE_FRAME_F_MEMFD : 0,
				.type = type,
				.length = len,
				.seq = p->tx_seq++,
			};
			/* A memfd frame's CRC covers its header: the payload is sealed instead. */
			psyne__frame_encode(hdr, &f, hdr + PSYNE_FRAME_HDR_SIZE, memfd ? 0 : len);
		}
		p->tx_ready += s->total;
	}
}

/* Frees acknowledged slots: every DATA below seq `upto`. */
static void tx_ack(struct net_peer *p, uint64_t upto)
{
	if (p->bye_sent && upto == p->tx_seq + 1) {
		p->bye_acked = true; /* see PSYNE_FRAME_BYE in rx_parse() */
		wake_user(p->ch);
		upto = p->tx_seq;
	}
	if (upto <= p->tx_acked_seq || upto > p->tx_seq)
		return;
	while (p->tx_acked < p->tx_ready && p->tx_acked_seq < upto) {
		struct net_slot *s = slot_at(p, p->tx_acked);

		if (s->flags == SLOT_READY)
			p->tx_acked_seq++;
		slot_memfd_drop(p->ch, s);
		p->tx_acked += s->total;
		/* Only a resume acknowledges what this connection has not sent. A write in
		 * flight accounts for itself (tx_done()), even if the peer acknowledged part
		 * of it before the system call returned. */
		if (p->tx_slot < p->tx_acked && !p->writing) {
			p->tx_slot = p->tx_acked;
			p->tx_off = 0;
		}
	}
	/* Cancelled slots right behind the acknowledged ones are free too. */
	while (p->tx_acked < p->tx_slot && slot_at(p, p->tx_acked)->flags == SLOT_CANCELLED)
		p->tx_acked += slot_at(p, p->tx_acked)->total;
	wake_user(p->ch);
}

/* The wire bytes of the slot at pos: NULL for a cancelled one. */
static uint8_t *slot_wire(struct net_peer *p, uint64_t pos, uint32_t *ret_len)
{
	struct net_slot *s = slot_at(p, pos);

	if (s->flags != SLOT_READY)
		return NULL;
	*ret_len = stream_bytes((uint8_t *)(s + 1));
	return (uint8_t *)(s + 1);
}

struct tx_plan {
	struct iovec iov[NET_IOV_MAX];
	int n;
	size_t bytes;
	bool ctl_first; /* the control bytes go before the data */
	uint32_t ctl_bytes;
	int pass_fd; /* a memfd frame's descriptor, sent with the plan's first byte */
};

static void plan_add(struct tx_plan *t, void *base, size_t len)
{
	t->iov[t->n++] = (struct iovec){ .iov_base = base, .iov_len = len };
	t->bytes += len;
}

/* What to write now: a partial data frame, then control frames, then ready data. */
static void tx_plan(struct net_peer *p, struct tx_plan *t)
{
	uint64_t pos = p->tx_slot;
	uint32_t off = p->tx_off, len;
	uint8_t *w;

	t->n = 0;
	t->bytes = 0;
	t->ctl_bytes = 0;
	t->pass_fd = -1;
	t->ctl_first = p->ctl_off > 0 || off == 0;
	if (!t->ctl_first && pos < p->tx_ready) {
		w = slot_wire(p, pos, &len);
		if (w)
			plan_add(t, w + off, len - off);
		pos += slot_at(p, pos)->total;
		off = 0;
	}
	if (p->ctl_len > p->ctl_off) {
		t->ctl_bytes = p->ctl_len - p->ctl_off;
		plan_add(t, p->ctl + p->ctl_off, t->ctl_bytes);
	}
	if (p->state != PEER_UP)
		return; /* only control frames until the handshake is done */
	for (; pos < p->tx_ready && t->n < (int)NET_IOV_MAX; pos += slot_at(p, pos)->total) {
		struct memfd_ref *m;

		w = slot_wire(p, pos, &len);
		if (!w)
			continue;
		/* A memfd frame's descriptor rides on the first byte of a write of its own. */
		m = slot_memfd(slot_at(p, pos));
		if (m && off == 0) {
			if (t->n > 0)
				break;
			t->pass_fd = m->fd;
			plan_add(t, w, len);
			break;
		}
		plan_add(t, w + off, len - off);
		off = 0;
	}
}

/* Accounts `n` written bytes against the plan's order. */
static void tx_done(struct net_peer *p, const struct tx_plan *t, size_t n)
{
	bool data_first = !t->ctl_first;
	uint64_t slot = p->tx_slot;
	uint32_t len;

	if (n > 0)
		p->last_tx_ns = now();
	for (int pass = 0; pass < 3 && n > 0; pass++) {
		bool ctl_pass = (pass == 0 && !data_first) || (pass == 1 && data_first);

		if (pass == 0 && data_first) {
			/* The rest of the partial frame. */
			uint8_t *w = slot_wire(p, p->tx_slot, &len);
			size_t k = w ? MIN(n, (size_t)(len - p->tx_off)) : 0;

			p->tx_off += (uint32_t)k;
			n -= k;
			if (!w || p->tx_off == len) {
				p->tx_slot += slot_at(p, p->tx_slot)->total;
				p->tx_off = 0;
			}
			continue;
		}
		if (ctl_pass) {
			/* The plan's control bytes: more may have been queued during the write. */
			size_t k = MIN(n, (size_t)t->ctl_bytes);

			p->ctl_off += (uint32_t)k;
			n -= k;
			if (p->ctl_off == p->ctl_len)
				p->ctl_off = p->ctl_len = 0;
			continue;
		}
		/* Whole data frames, then maybe a partial one. */
		while (n > 0 && p->tx_slot < p->tx_ready) {
			uint8_t *w = slot_wire(p, p->tx_slot, &len);
			size_t k;

			if (!w) {
				p->tx_slot += slot_at(p, p->tx_slot)->total;
				continue;
			}
			k = MIN(n, (size_t)(len - p->tx_off));
			p->tx_off += (uint32_t)k;
			n -= k;
			if (p->tx_off < len)
				break;
			p->tx_slot += slot_at(p, p->tx_slot)->total;
			p->tx_off = 0;
		}
	}
	/* Cancelled slots at the send position are passed over too. */
	while (p->tx_off == 0 && p->tx_slot < p->tx_ready && !slot_wire(p, p->tx_slot, &len))
		p->tx_slot += slot_at(p, p->tx_slot)->total;
	/* Only messages count for batching (psyne__net_commit()): a commit right after an
	 * acknowledgement we wrote is still a lone message. */
	if (p->tx_slot != slot || p->tx_off != 0) {
		p->last_write_ns = p->last_tx_ns;
		p->taken_since_write = false;
	}
}

static bool tx_pending(struct net_peer *p)
{
	if (p->ctl_len > p->ctl_off || p->stage_off < p->stage_len)
		return true;
	return p->state == PEER_UP && p->tx_slot < p->tx_ready;
}

static void peer_down(struct net_peer *p, int err, const char *why);
static void listener_warn(struct net_chan *c, const char *fmt, ...) _printf_(2, 3);

/* Closes a socket another thread was using when the session dropped it. */
static void fd_settle(struct net_peer *p)
{
	if (p->dead_fd >= 0 && !p->reading && !p->writing) {
		psyne__tls_free(p->dead_tls);
		p->dead_tls = NULL;
		close(p->dead_fd);
		p->dead_fd = -1;
	}
}

static void peer_gone(struct net_peer *p, int err)
{
	p->state = PEER_GONE;
	p->error = err;
	p->ch->last_error = err;
	wake_user(p->ch);
}

/*
 * The stage: a buffer that what the plan says is copied into and counted as sent at once;
 * it is written out before anything else. TLS needs it: a write that could not finish must
 * be retried with the very same bytes (OpenSSL has already sealed them into a record),
 * whatever was queued since. Plain sockets use it for runs of small frames: the kernel
 * copies an iovec of a few dozen bytes at several times the cost of the bytes themselves,
 * so a stream of small messages goes out as one contiguous write instead (large frames,
 * and memfd frames, still go straight from the slots). With `small`, only the plan's
 * leading pieces under NET_COALESCE_MAX are taken, and only at least two of them.
 * Returns the bytes staged.
 */
static uint32_t stage_fill(struct net_peer *p, struct tx_plan *t, bool small)
{
	uint32_t n = 0;
	int k = t->n;

	if (small) {
		for (k = 0; k < t->n && t->iov[k].iov_len < NET_COALESCE_MAX; k++)
			;
		if (k < 2 || t->pass_fd >= 0)
			return 0;
		if (!p->stage) {
			p->stage = malloc(NET_STAGE);
			if (!p->stage)
				return 0; /* write from the slots */
		}
	}
	for (int i = 0; i < k && n < NET_STAGE; i++) {
		uint32_t len = (uint32_t)MIN(t->iov[i].iov_len, (size_t)(NET_STAGE - n));

		memcpy(p->stage + n, t->iov[i].iov_base, len);
		n += len;
	}
	tx_done(p, t, n);
	p->stage_off = 0;
	p->stage_len = n;
	return n;
}

/*
 * Writes what is pending without blocking. Called with the lock held; drops it around the
 * system call. Returns true when everything pending went out.
 */
static bool tx_flush(struct net_peer *p)
{
	struct net_chan *c = p->ch;
	struct tx_plan t;
	ssize_t n;

	while (can_write(p) && p->fd >= 0 && tx_pending(p)) {
		struct psyne_tls *tls = p->tls;
		struct iovec *iov = t.iov;
		int fd = p->fd, niov;
		bool staged = p->stage_off < p->stage_len;

		t.pass_fd = -1;
		if (!staged) {
			tx_plan(p, &t);
			if (t.n == 0)
				return true;
			staged = stage_fill(p, &t, !tls) > 0;
			if (tls && !staged)
				return true;
		}
		if (staged) {
			t.iov[0] = (struct iovec){ .iov_base = p->stage + p->stage_off,
						   .iov_len = p->stage_len - p->stage_off };
			t.bytes = t.iov[0].iov_len;
			niov = 1;
		} else {
			niov = t.n;
		}
		p->writing = true;
		p->tx_inflight = p->tx_slot;
		pthread_mutex_unlock(&c->lock);
		n = stream_writev(tls, fd, iov, niov, t.pass_fd);
		int e = n < 0 ? (int)-n : 0;
		pthread_mutex_lock(&c->lock);
		p->writing = false;
		fd_settle(p);
		if (p->fd != fd)
			return false; /* dropped meanwhile */
		if (n < 0) {
			if (e == EAGAIN || e == EINTR)
				return false;
			peer_down(p, -e, "write failed");
			return false;
		}
		if (staged)
			p->stage_off += (uint32_t)n;
		else
			tx_done(p, &t, (size_t)n);
		if ((size_t)n < t.bytes)
			return false; /* the socket is full: POLLOUT tells when to go on */
	}
	if (tx_pending(p))
		return false;
	if (p->flush_wanted)
		page_sent(p);	 /* what psyne_commit() left to the batch */
	p->flush_wanted = false; /* whoever wrote last wrote everything */
	p->flush_at = 0;
	return true;
}

/* ---- rx ---------------------------------------------------------------------------- */

static uint32_t rx_mark(const uint8_t *hdr)
{
	uint32_t v;

	memcpy(&v, hdr + 28, 4);
	return v;
}

static void rx_set_mark(uint8_t *hdr, uint32_t v)
{
	memcpy(hdr + 28, &v, 4);
}

static void rx_handle_hello(struct net_peer *p, const uint8_t *payload);

/* Frames not handed out yet, and skipped ones released at once. */
static void rx_collect(struct net_peer *p)
{
	while (p->rx_free < p->rx_next) {
		uint8_t *hdr = psyne__dbuf_at(&p->rx, p->rx_free);
		uint32_t mark = rx_mark(hdr);

		if (mark != RX_SKIP && mark != RX_RELEASED)
			break;
		p->rx_free += stream_bytes(hdr);
	}
}

static struct rx_map *rx_map_find(struct net_peer *p, uint64_t pos)
{
	for (uint32_t i = 0; i < p->n_rx_maps; i++)
		if (p->rx_maps[i].pos == pos)
			return &p->rx_maps[i];
	return NULL;
}

static void rx_map_remove(struct net_peer *p, struct rx_map *m)
{
	(void)munmap(m->map, m->len); /* ours: cannot fail */
	*m = p->rx_maps[--p->n_rx_maps];
}

/*
 * The memfd of the memfd frame at `pos`, the next descriptor received: checked (the size
 * the frame says, sealed against writing and resizing) and mapped read-only, or, for a
 * duplicate (`keep` false), closed.
 */
static int rx_memfd(struct net_peer *p, uint64_t pos, uint32_t len, bool keep)
{
	struct stat st;
	int fd, seals;
	void *map;

	if (p->rx_fds_n == 0)
		return -EPROTO; /* a memfd frame without its descriptor */
	fd = p->rx_fds[p->rx_fds_head];
	p->rx_fds_head = (p->rx_fds_head + 1) % NET_RX_FDS;
	p->rx_fds_n--;
	if (!keep) {
		close(fd);
		return 0;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (len == 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len ||
	    seals < 0 || (seals & MEMFD_SEALS) != MEMFD_SEALS) {
		close(fd);
		return -EPROTO; /* not a sealed memfd of that size: it could change under us */
	}
	if (p->n_rx_maps == p->cap_rx_maps) {
		uint32_t cap = MAX(p->cap_rx_maps * 2, 16u);
		struct rx_map *v = realloc(p->rx_maps, cap * sizeof(*v));

		if (!v) {
			close(fd);
			return -ENOMEM;
		}
		p->rx_maps = v;
		p->cap_rx_maps = cap;
	}
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd); /* the mapping keeps the memory */
	if (map == MAP_FAILED)
		return -errno;
	p->rx_maps[p->n_rx_maps++] = (struct rx_map){ .pos = pos, .map = map, .len = len };
	return 0;
}

/*
 * Checks the frames read so far and acts on control frames. Returns 0, or a negative errno
 * when the peer sent something it must not have (the connection is then dropped).
 */
static int rx_parse(struct net_peer *p)
{
	struct net_chan *c = p->ch;
	uint64_t parsed = p->rx_parsed;

	while (p->rx_filled - p->rx_parsed >= PSYNE_FRAME_HDR_SIZE) {
		uint8_t *hdr = psyne__dbuf_at(&p->rx, p->rx_parsed);
		struct psyne_frame f;
		bool memfd;
		uint32_t n;
		int r;

		r = psyne__frame_decode(hdr, c->fd_passing ? NET_MEMFD_MAX : c->max_msg, &f);
		if (r < 0)
			return r;
		memfd = (f.flags & PSYNE_FRAME_F_MEMFD) != 0;
		if (memfd && !c->fd_passing)
			return -EPROTO; /* memfds travel only over unix:// */
		if (!memfd && f.length > c->max_msg)
			return -EMSGSIZE;
		n = memfd ? PSYNE_FRAME_HDR_SIZE : frame_bytes(f.length);
		if (p->rx_filled - p->rx_parsed < n)
			break;
		r = psyne__frame_verify(hdr, hdr + PSYNE_FRAME_HDR_SIZE, memfd ? 0 : f.length);
		if (r < 0)
			return r;
		rx_set_mark(hdr, RX_SKIP);

		switch (f.kind) {
		case PSYNE_FRAME_DATA:
			if (p->state != PEER_UP)
				return -EPROTO;
			if (p->rx_seq == UINT64_MAX)
				p->rx_seq = f.seq;
			if (f.seq > p->rx_seq)
				return -EPROTO; /* a gap: frames are never lost inside a session */
			if (memfd) {
				r = rx_memfd(p, p->rx_parsed, f.length, f.seq == p->rx_seq);
				if (r < 0)
					return r;
			}
			if (f.seq == p->rx_seq) {
				rx_set_mark(hdr, RX_DATA);
				p->rx_seq++;
				/* A memfd frame is a few bytes here, but the sender holds its
				 * descriptor until we acknowledge it, and may hold only
				 * NET_MEMFD_INFLIGHT: a quarter of those weighs a quarter window.
				 */
				p->rx_unacked +=
					memfd ? MAX((uint64_t)n,
						    p->remote_window / NET_MEMFD_INFLIGHT) :
						n;
			}
			break;
		case PSYNE_FRAME_ACK:
			tx_ack(p, f.seq);
			break;
		case PSYNE_FRAME_PING:
			(void)ctl_append(p, PSYNE_FRAME_PONG, f.seq, NULL, 0);
			if (p->rx_seq != UINT64_MAX &&
			    ctl_append(p, PSYNE_FRAME_ACK, p->rx_seq, NULL, 0))
				p->rx_unacked = 0;
			break;
		case PSYNE_FRAME_PONG:
			break;
		case PSYNE_FRAME_BYE:
			/* BYE takes the sequence number after the last DATA, so that its
			 * acknowledgement tells the closing side it arrived. */
			if (p->rx_seq == UINT64_MAX)
				p->rx_seq = f.seq;
			if (f.seq > p->rx_seq)
				return -EPROTO;
			if (f.seq == p->rx_seq)
				p->rx_seq++;
			p->bye_received = true;
			if (ctl_append(p, PSYNE_FRAME_ACK, p->rx_seq, NULL, 0))
				p->rx_unacked = 0;
			break;
		case PSYNE_FRAME_HELLO:
			if (p->state != PEER_HELLO)
				return -EPROTO;
			rx_handle_hello(p, hdr + PSYNE_FRAME_HDR_SIZE);
			if (p->state != PEER_UP)
				return -EPROTO; /* refused, and the connection already dropped */
			break;
		case PSYNE_FRAME_REJECT: {
			uint32_t e;

			memcpy(&e, hdr + PSYNE_FRAME_HDR_SIZE, 4);
			e = le32toh(e);
			psyne__log_warning("%s refused us: %.*s", p->name, (int)(f.length - 4),
					   (const char *)hdr + PSYNE_FRAME_HDR_SIZE + 4);
			return e > 0 && e < 4096 ? -(int)e : -ECONNREFUSED;
		}
		default:
			return -EPROTO;
		}
		/* Control frames and duplicates take no room once read: a handle that only
		 * sends would otherwise fill its ring with acknowledgements and stall. */
		if (p->rx_next == p->rx_parsed && rx_mark(hdr) == RX_SKIP)
			p->rx_next += n;
		p->rx_parsed += n;
	}
	/* The peer is alive: it sent whole frames (once per read; the clock costs). */
	if (p->rx_parsed != parsed)
		p->last_rx_ns = now();
	rx_collect(p);
	/* Acknowledge often enough that the sender never runs out of ring. */
	if (p->rx_seq != UINT64_MAX && p->rx_unacked > 0 &&
	    p->rx_unacked >= MAX(p->remote_window / 4, (uint64_t)1) &&
	    ctl_append(p, PSYNE_FRAME_ACK, p->rx_seq, NULL, 0))
		p->rx_unacked = 0;
	return 0;
}

/*
 * A large frame arrives in many pieces, and each would wake the waiting thread (poll(),
 * then recv()) for a part of it: a 1 MiB frame over TCP loopback took about ten. While
 * the rest of a large frame is missing, SO_RCVLOWAT tells the kernel to wake us only once
 * that much is there (it grows the receive buffer to hold it). Only over plain TCP: TLS
 * bytes are not frame bytes, and Unix sockets do not heed it in poll(). The rest of a
 * frame always comes, since the sender writes whole frames, and the header's length was
 * checked by rx_parse().
 */
static void rx_lowat(struct net_peer *p)
{
	uint64_t missing = 0;
	int want = 1;

	if (p->tls || p->ch->addr.ss.ss_family == AF_UNIX || p->fd < 0)
		return;
	if (p->rx_filled - p->rx_parsed >= PSYNE_FRAME_HDR_SIZE)
		missing = p->rx_parsed + stream_bytes(psyne__dbuf_at(&p->rx, p->rx_parsed)) -
			  p->rx_filled;
	if (missing >= NET_LOWAT_MIN)
		want = (int)MIN(missing, (uint64_t)NET_LOWAT_MAX);
	if ((uint32_t)want == p->rcvlowat || (p->rcvlowat == 0 && want == 1))
		return;
	if (setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == 0)
		p->rcvlowat = (uint32_t)want;
}

/*
 * Reads what the socket has, without blocking, or with `block` waiting for it (see
 * wait_in_read()). Called with the lock held; drops it around the system call. Returns the
 * bytes read, 0 when nothing was there or no room was left, or a negative errno when the
 * connection broke (it is then down).
 */
static ssize_t rx_read(struct net_peer *p, bool block)
{
	struct net_chan *c = p->ch;
	uint64_t room = p->rx.capacity - (p->rx_filled - p->rx_free);
	ssize_t n;
	int fd = p->fd, r;

	uint8_t *at = psyne__dbuf_at(&p->rx, p->rx_filled);
	struct psyne_tls *tls = p->tls;

	if (!can_read(p) || fd < 0 || room == 0 || p->state == PEER_TLS)
		return 0;
	int fds[8];
	unsigned n_fds = 0;
	size_t want = (size_t)MIN(room, (uint64_t)NET_READ_MAX);

	p->reading = true;
	pthread_mutex_unlock(&c->lock);
	if (c->fd_passing)
		n = stream_read_fds(fd, at, want, block, fds, ELEMENTSOF(fds), &n_fds);
	else
		n = stream_read(tls, fd, at, want, block);
	int e = n < 0 ? (int)-n : 0;
	pthread_mutex_lock(&c->lock);
	p->reading = false;
	/* A short read took all the socket had (TLS hands over a record at a time: never). */
	p->rx_drained = !tls && (n < 0 ? e == EAGAIN : (size_t)n < want);
	fd_settle(p);
	if (p->fd != fd) {
		for (unsigned i = 0; i < n_fds; i++)
			close(fds[i]);
		return 0; /* dropped meanwhile */
	}
	for (unsigned i = 0; i < n_fds; i++) {
		if (p->rx_fds_n == NET_RX_FDS) {
			close(fds[i]);
			e = EPROTO; /* descriptors far ahead of their frames */
			n = -1;
			continue;
		}
		p->rx_fds[(p->rx_fds_head + p->rx_fds_n) % NET_RX_FDS] = fds[i];
		p->rx_fds_n++;
	}
	if (n == 0) {
		peer_down(p, p->bye_received ? -EPIPE : -ECONNRESET, "connection closed");
		return -ECONNRESET;
	}
	if (n < 0) {
		if (e == EAGAIN || e == EINTR)
			return 0;
		if (tls && p->state == PEER_HELLO) {
			/* TLS 1.3 finishes the dialer's handshake before the listener has checked
			 * its certificate: a refusal shows up here, as the first read failing. */
			psyne__log_warning("%s: TLS: the listener refused our credentials",
					   p->name);
			peer_down(p, -EACCES, "TLS refused");
			return -EACCES;
		}
		peer_down(p, -e, "read failed");
		return -e;
	}
	p->rx_filled += (uint64_t)n;
	r = rx_parse(p);
	if (r < 0) {
		/* A peer that breaks the protocol is not waited for: its session ends. */
		listener_warn(c, "%s: dropped: %s", p->name, psyne_strerror(r));
		peer_down(p, r, psyne_strerror(r));
		return r;
	}
	rx_lowat(p);
	if (tx_pending(p))
		(void)tx_flush(p); /* owed control frames: ACK, PONG */
	return n;
}

static ssize_t rx_fill(struct net_peer *p)
{
	return rx_read(p, false);
}

/* ---- sessions ---------------------------------------------------------------------- */

/* Descriptors received for frames that will never be parsed (the connection dropped). */
static void rx_fds_clear(struct net_peer *p)
{
	while (p->rx_fds_n > 0) {
		close(p->rx_fds[p->rx_fds_head]);
		p->rx_fds_head = (p->rx_fds_head + 1) % NET_RX_FDS;
		p->rx_fds_n--;
	}
}

static void peer_free(struct net_peer *p)
{
	if (!p)
		return;
	for (uint64_t pos = p->tx_acked; p->tx.base && pos < p->tx_end;) {
		struct net_slot *s = slot_at(p, pos);

		slot_memfd_drop(p->ch, s);
		pos += s->total;
	}
	for (uint32_t i = 0; i < p->n_rx_maps; i++)
		(void)munmap(p->rx_maps[i].map, p->rx_maps[i].len); /* ours: cannot fail */
	free(p->rx_maps);
	rx_fds_clear(p);
	psyne__tls_free(p->tls);
	psyne__tls_free(p->dead_tls);
	free(p->stage);
	if (p->fd >= 0)
		close(p->fd);
	if (p->dead_fd >= 0)
		close(p->dead_fd);
	psyne__dbuf_done(&p->tx);
	psyne__dbuf_done(&p->rx);
	free(p);
}

static int peer_new(struct net_chan *c, uint64_t session, struct net_peer **ret)
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
	p->fd = p->dead_fd = -1;
	p->session = session;
	p->rx_seq = UINT64_MAX;
	p->state = PEER_DOWN;
	p->backoff_ms = NET_BACKOFF_MIN_MS;
	r = psyne__dbuf_init(&p->tx, c->capacity);
	if (r >= 0)
		r = psyne__dbuf_init(&p->rx, c->capacity);
	if (r >= 0 && c->tls) {
		p->stage = malloc(NET_STAGE);
		if (!p->stage)
			r = -ENOMEM;
	}
	if (r < 0) {
		peer_free(p);
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
	peer_free(p);
}

/* Connection lost (or refused): close it; the session lives on unless `err` ends it. */
static void peer_down(struct net_peer *p, int err, const char *why)
{
	struct net_chan *c = p->ch;

	if (p->fd >= 0) {
		if (p->state == PEER_UP && !p->bye_received)
			psyne__log_debug("%s: connection lost: %s", p->name, why);
		if (p->reading || p->writing) {
			/* The other thread is in a system call on it: the number must not be
			 * reused under it. It closes the socket when it comes back. */
			(void)shutdown(p->fd, SHUT_RDWR);
			p->dead_fd = p->fd;
			p->dead_tls = p->tls;
		} else {
			psyne__tls_free(p->tls);
			close(p->fd);
		}
		p->tls = NULL;
		p->fd = -1;
	}
	p->ctl_off = p->ctl_len = 0;
	p->stage_off = p->stage_len = 0;
	rx_fds_clear(p);
	p->tx_off = 0;
	/* Whatever was read of a frame that did not complete is dropped with the connection. */
	p->rx_filled = p->rx_parsed;
	if (p->bye_received || err == -EEXIST || err == -EBUSY || err == -EUSERS ||
	    err == -EPROTONOSUPPORT || err == -EACCES || err == -EPROTO || err == -EBADMSG ||
	    err == -EMSGSIZE) {
		peer_gone(p, p->bye_received ? -EPIPE : err);
	} else if (p->state != PEER_GONE) {
		if (p->state == PEER_UP)
			p->down_since_ns = now();
		p->state = PEER_DOWN;
		p->next_dial_ns = now() + ms(p->backoff_ms);
	}
	page_sync(c);
	wake_user(c);
	kick(c->io_wake);
}

static void peer_up(struct net_peer *p)
{
	struct net_chan *c = p->ch;

	if (c->ever_up)
		c->reconnects++;
	if (p->reconnects++ > 0)
		psyne__log_debug("%s: session resumed", p->name);
	p->state = PEER_UP;
	p->bye_sent = false; /* a BYE lost with the old connection goes again */
	/* Every read and write says MSG_DONTWAIT, so a blocking socket only lets
	 * wait_in_read() sleep in recv(). OpenSSL reads and writes for itself: not with TLS. */
	p->blocking = false;
	if (!p->tls && p->fd >= 0) {
		int fl = fcntl(p->fd, F_GETFL);

		p->blocking = fl >= 0 && fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK) == 0;
	}
	p->backoff_ms = NET_BACKOFF_MIN_MS;
	p->rcvlowat = 0; /* a new socket */
	p->last_rx_ns = p->last_tx_ns = now();
	c->ever_up = true;
	page_sync(c);
	wake_user(c);
}

/* Resend from `next_seq` on: what the peer has below it counts as acknowledged. */
static void peer_resume(struct net_peer *p, uint64_t next_seq)
{
	if (next_seq == UINT64_MAX) {
		/* The other side starts afresh (it is a new process): send all we still hold. */
		next_seq = p->tx_acked_seq;
	}
	tx_ack(p, next_seq);
	if (p->tx_slot != p->tx_acked)
		p->retransmits++;
	p->tx_slot = p->tx_acked;
	p->tx_off = 0;
}

static void socket_setup(struct net_chan *c, int fd)
{
	int one = 1;

	if (c->addr.ss.ss_family != AF_UNIX && c->nodelay)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* best effort */
}

/* The dialer's side of HELLO: the listener's answer. */
static void rx_handle_hello(struct net_peer *p, const uint8_t *payload)
{
	struct psyne_hello h;

	if (psyne__frame_hello_decode(payload, PSYNE_FRAME_HELLO_SIZE, &h) < 0 ||
	    h.session != p->session) {
		peer_down(p, -EPROTO, "bad HELLO");
		return;
	}
	p->remote_max_msg = h.max_msg;
	p->remote_window = h.window;
	if (h.next_seq == UINT64_MAX)
		p->rx_seq = UINT64_MAX; /* a new listener: its numbering starts afresh */
	peer_resume(p, h.next_seq);
	peer_up(p);
}

static int dial(struct net_peer *p)
{
	struct net_chan *c = p->ch;
	int fd, r;

	fd = socket(c->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socket_setup(c, fd);
	if (connect(fd, (struct sockaddr *)&c->addr.ss, c->addr.len) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	p->fd = fd;
	p->state = PEER_CONNECTING;
	p->hello_deadline_ns = now() + ms(MAX(c->connect_timeout_ms / 2, 1000u));
	return 0;
}

static void backoff(struct net_peer *p)
{
	struct psyne_net_addr *a = &p->ch->addr;
	uint32_t jitter;

	if (a->n_all > 1) {
		a->cur = (a->cur + 1) % a->n_all;
		memcpy(&a->ss, &a->all[a->cur], a->all_len[a->cur]);
		a->len = a->all_len[a->cur];
	}

	(void)!getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK); /* any value will do */
	p->next_dial_ns = now() + ms(p->backoff_ms) * (75 + jitter % 51) / 100;
	p->backoff_ms = MIN(p->backoff_ms * 2, NET_BACKOFF_MAX_MS);
}

/* The dialer's TLS handshake: go on with it; once done, say HELLO. */
static void tls_step(struct net_peer *p)
{
	char reason[256] = "";
	int r = psyne__tls_handshake(p->tls, &p->tls_want, reason, sizeof(reason));

	if (r == -EAGAIN)
		return;
	if (r < 0) {
		if (r == -EACCES)
			psyne__log_warning("%s: TLS: %s", p->name, reason);
		peer_down(p, r, reason);
		return;
	}
	p->state = PEER_HELLO;
	send_hello(p, p->rx_seq);
	(void)tx_flush(p);
}

/* The dialer's connection completed (or failed): say HELLO. */
static void dial_done(struct net_peer *p)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		peer_down(p, -err, strerror(err));
		backoff(p);
		return;
	}
	if (p->ch->tls) {
		int r = psyne__tls_new(p->ch->tls, p->fd, &p->tls);

		if (r < 0) {
			peer_down(p, r, "TLS setup failed");
			return;
		}
		p->state = PEER_TLS;
		tls_step(p);
		return;
	}
	p->state = PEER_HELLO;
	send_hello(p, p->rx_seq);
	(void)tx_flush(p);
}

/* Timers: dialing, handshakes, heartbeats, dead peers. Returns the next deadline. */
static uint64_t peers_tick(struct net_chan *c)
{
	uint64_t t = now(), next = t + ms(c->heartbeat_ms);

	for (uint32_t i = 0; i < c->n_peers; i++) {
		struct net_peer *p = c->peers[i];

		switch (p->state) {
		case PEER_DOWN:
			if (c->reconnect_ms > 0 && t - p->down_since_ns >= ms(c->reconnect_ms)) {
				psyne__log_info(
					"%s: session given up after %u ms without a connection",
					p->name, c->reconnect_ms);
				peer_gone(p, -ECONNRESET);
				break;
			}
			if (c->listener)
				break; /* it is the dialer's to come back */
			if (t >= p->next_dial_ns) {
				int r = dial(p);

				if (r < 0) {
					psyne__log_debug("%s: dial: %s", p->name, strerror(-r));
					backoff(p);
				}
			}
			next = MIN(next, p->next_dial_ns);
			break;
		case PEER_CONNECTING:
		case PEER_TLS:
		case PEER_HELLO:
			if (t >= p->hello_deadline_ns) {
				peer_down(p, -ETIMEDOUT, "handshake timed out");
				backoff(p);
			}
			next = MIN(next, p->hello_deadline_ns);
			break;
		case PEER_UP: {
			bool rx_full = p->rx_filled - p->rx_free >= p->rx.capacity;

			if (!rx_full && t - p->last_rx_ns >= ms(c->peer_timeout_ms)) {
				peer_down(p, -ETIMEDOUT, "peer silent");
				backoff(p);
				break;
			}
			if (t - p->last_tx_ns >= ms(c->heartbeat_ms)) {
				(void)ctl_append(p, PSYNE_FRAME_PING, t, NULL, 0);
				if (p->rx_seq != UINT64_MAX && p->rx_unacked > 0 &&
				    ctl_append(p, PSYNE_FRAME_ACK, p->rx_seq, NULL, 0))
					p->rx_unacked = 0;
				p->last_tx_ns = t;
				(void)tx_flush(p);
			}
			next = MIN(next, p->last_tx_ns + ms(c->heartbeat_ms));
			if (!rx_full)
				next = MIN(next, p->last_rx_ns + ms(c->peer_timeout_ms));
			break;
		}
		case PEER_GONE:
			break;
		}
	}
	return next;
}

/* Frees sessions that are over, drained and not referenced by a held message. */
static void peers_reap(struct net_chan *c)
{
	for (uint32_t i = 0; i < c->n_peers;) {
		struct net_peer *p = c->peers[i];

		if (p->state == PEER_GONE && p->held == 0 && p->rx_next == p->rx_parsed &&
		    !p->reading && !p->writing && c->listener) {
			peer_remove(c, p);
			continue;
		}
		i++;
	}
}

/* ---- listener ---------------------------------------------------------------------- */

#define WARN_WINDOW_NS (10ull * 1000 * 1000 * 1000)
#define WARN_PER_WINDOW 20u

/*
 * Refusals are logged once per connection, but a flood of them must not flood the log:
 * at most WARN_PER_WINDOW lines per 10 s, then one line saying how many were left out.
 */
static void listener_warn(struct net_chan *c, const char *fmt, ...)
{
	uint64_t t = now();
	char line[512];
	va_list ap;

	if (t - c->warn_window_ns >= WARN_WINDOW_NS) {
		if (c->warn_suppressed > 0)
			psyne__log_warning("%s: %" PRIu64
					   " more refusals in the last 10 s not logged",
					   c->addr.text, c->warn_suppressed);
		c->warn_window_ns = t;
		c->warn_count = 0;
		c->warn_suppressed = 0;
	}
	if (c->warn_count >= WARN_PER_WINDOW) {
		c->warn_suppressed++;
		return;
	}
	c->warn_count++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	psyne__log_warning("%s", line);
}

static void pending_close(struct net_chan *c, uint32_t i)
{
	psyne__tls_free(c->pending[i]->tls);
	if (c->pending[i]->fd >= 0)
		close(c->pending[i]->fd);
	free(c->pending[i]);
	c->pending[i] = c->pending[--c->n_pending];
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

static void accept_all(struct net_chan *c)
{
	for (;;) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct net_pending *q;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				listener_warn(c, "%s: accept: %s", c->addr.text, strerror(errno));
			return;
		}
		if (c->n_pending >= NET_MAX_PENDING) {
			/* A flood of connections that never say HELLO: the oldest goes. */
			listener_warn(c, "%s: %s: too many connections in handshake, dropped",
				      c->addr.text, c->pending[0]->name);
			c->dropped_conns++;
			pending_close(c, 0);
		}
		q = calloc(1, sizeof(*q));
		if (!q) {
			close(fd);
			return;
		}
		q->fd = fd;
		q->deadline_ns = now() + ms(MAX(2 * c->heartbeat_ms, 1000u));
		format_peer(fd, q->name, sizeof(q->name));
		socket_setup(c, fd);
		c->pending[c->n_pending++] = q;
	}
}

static int peers_live(struct net_chan *c, uint64_t except_session)
{
	int n = 0;

	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i]->state != PEER_GONE && c->peers[i]->session != except_session)
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
		listener_warn(c, "%s: %s: bad handshake: %s", c->addr.text, q->name,
			      psyne_strerror(r));
		return r;
	}
	if (h.mode != c->mode) {
		listener_warn(c, "%s: %s: refused: mode %s, ours is %s", c->addr.text, q->name,
			      psyne__mode_to_string(h.mode), psyne__mode_to_string(c->mode));
		send_reject(q->tls, q->fd, EEXIST, "channel mode differs");
		return -EEXIST;
	}
	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i]->session == h.session && c->peers[i]->state != PEER_GONE)
			p = c->peers[i];
	if (!p) {
		bool single = c->mode == PSYNE_MODE_SPSC;

		if ((single && peers_live(c, h.session) > 0) ||
		    (uint32_t)peers_live(c, h.session) >= c->max_peers) {
			listener_warn(c, "%s: %s: refused: %s", c->addr.text, q->name,
				      single ? "spsc channel already has its peer" :
					       "too many peers");
			send_reject(q->tls, q->fd, single ? EBUSY : EUSERS,
				    single ? "channel already has its peer" : "too many peers");
			return single ? -EBUSY : -EUSERS;
		}
		r = peer_new(c, h.session, &p);
		if (r < 0) {
			send_reject(q->tls, q->fd, -r, "out of memory");
			return r;
		}
		memcpy(p->name, q->name, sizeof(p->name));
	} else {
		if (p->fd >= 0)
			peer_down(p, -ECONNRESET, "replaced by a new connection");
		memcpy(p->name, q->name, sizeof(p->name));
	}
	p->remote_max_msg = h.max_msg;
	p->remote_window = h.window;
	p->fd = TAKE_FD(q->fd);
	p->tls = TAKE_PTR(q->tls);
	peer_resume(p, h.next_seq);
	p->state = PEER_HELLO;
	send_hello(p, p->rx_seq);
	peer_up(p);
	(void)tx_flush(p);
	return 0;
}

static void pending_read(struct net_chan *c, uint32_t i)
{
	struct net_pending *q = c->pending[i];
	ssize_t n;

	if (c->tls && !q->tls_done) {
		char reason[256] = "";
		int r = 0;

		if (!q->tls)
			r = psyne__tls_new(c->tls, q->fd, &q->tls);
		if (r >= 0)
			r = psyne__tls_handshake(q->tls, &q->tls_want, reason, sizeof(reason));
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			listener_warn(c, "%s: %s: refused: TLS: %s", c->addr.text, q->name,
				      r == -EACCES ? reason : strerror(-r));
			c->dropped_conns++;
			pending_close(c, i);
			return;
		}
		q->tls_done = true;
		q->tls_want = POLLIN;
	}
	n = stream_read(q->tls, q->fd, q->buf + q->got, sizeof(q->buf) - q->got, false);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		psyne__log_debug("%s: %s: closed during handshake", c->addr.text, q->name);
		pending_close(c, i);
		return;
	}
	q->got += (uint32_t)n;
	if (q->got >= PSYNE_FRAME_HDR_SIZE && q->got < sizeof(q->buf)) {
		struct psyne_frame f;
		int r = psyne__frame_decode(q->buf, PSYNE_FRAME_HELLO_SIZE, &f);

		if (r < 0 || f.kind != PSYNE_FRAME_HELLO) {
			listener_warn(c, "%s: %s: not a psyne peer: %s", c->addr.text, q->name,
				      r < 0 ? psyne_strerror(r) : "first frame is not HELLO");
			c->dropped_conns++;
			pending_close(c, i);
		}
		return;
	}
	if (q->got == sizeof(q->buf)) {
		if (pending_hello(c, q) < 0)
			c->dropped_conns++;
		pending_close(c, i); /* the fd went to the session, or is refused */
	}
}

static uint64_t pending_tick(struct net_chan *c)
{
	uint64_t t = now(), next = UINT64_MAX;

	for (uint32_t i = 0; i < c->n_pending;) {
		if (t >= c->pending[i]->deadline_ns) {
			listener_warn(c, "%s: %s: no handshake in time, dropped", c->addr.text,
				      c->pending[i]->name);
			c->dropped_conns++;
			pending_close(c, i);
			continue;
		}
		next = MIN(next, c->pending[i]->deadline_ns);
		i++;
	}
	return next;
}

/* ---- the I/O thread ---------------------------------------------------------------- */

#define POLL_MAX (2 + NET_MAX_PENDING + 1024)

static void *io_thread(void *arg)
{
	struct net_chan *c = arg;
	struct pollfd fds[POLL_MAX];
	struct net_peer *who[POLL_MAX];

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		uint64_t next = MIN(peers_tick(c), pending_tick(c)), t;
		struct timespec timeout;
		nfds_t n = 0;

		peers_reap(c);
		page_sync(c);
		fds[n++] = (struct pollfd){ .fd = c->io_wake, .events = POLLIN };
		if (c->listen_fd >= 0)
			fds[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		for (uint32_t i = 0; i < c->n_pending; i++) {
			short ev = c->pending[i]->tls_want;

			who[n] = NULL;
			fds[n++] = (struct pollfd){ .fd = c->pending[i]->fd,
						    .events = ev ? ev : POLLIN };
		}
		for (uint32_t i = 0; i < c->n_peers && n < POLL_MAX; i++) {
			struct net_peer *p = c->peers[i];
			short ev = 0;

			if (p->fd < 0)
				continue;
			if (p->state == PEER_CONNECTING)
				ev = POLLOUT;
			else if (p->state == PEER_TLS)
				ev = p->tls_want;
			else {
				/*
				 * A batch still gathering (see psyne__net_commit()) is written when
				 * it is due: until then we sleep no longer than that, and commits
				 * need not wake us. Otherwise a commit from here on must wake us
				 * again. If the other thread is writing, it writes everything
				 * ready.
				 */
				bool gathering = p->flush_wanted &&
						 now() < p->flush_at + NET_IO_SLACK_NS;

				/* A caller waiting reads for itself. */
				if (c->user_waiting == 0 || p->state == PEER_HELLO)
					ev |= POLLIN;
				if (!gathering && p->flush_wanted && tx_pending(p) && can_write(p))
					(void)tx_flush(p);
				if (!gathering && tx_pending(p) && can_write(p))
					ev |= POLLOUT;
				p->io_kicked = gathering;
				if (gathering)
					next = MIN(next, p->flush_at + NET_IO_SLACK_NS);
			}
			who[n] = p;
			fds[n++] = (struct pollfd){ .fd = p->fd, .events = ev };
		}
		t = now();
		timeout = timespec_from_nsec(next <= t ? 0 : MIN(next - t, ms(1000)));
		pthread_mutex_unlock(&c->lock);
		int k = ppoll(fds, n, &timeout, NULL);
		pthread_mutex_lock(&c->lock);
		if (k <= 0)
			continue;

		uint32_t first_peer = 1 + (c->listen_fd >= 0 ? 1 : 0);
		uint32_t n_pending = c->n_pending;

		if (fds[0].revents)
			drain_eventfd(c->io_wake);
		/* Peers first: the lists below change under accept and handshakes. */
		for (nfds_t i = first_peer + n_pending; i < n; i++) {
			struct net_peer *p = who[i];
			bool still = false;

			if (!fds[i].revents)
				continue;
			for (uint32_t j = 0; j < c->n_peers; j++)
				if (c->peers[j] == p && p->fd == fds[i].fd)
					still = true;
			if (!still)
				continue;
			if (p->state == PEER_CONNECTING) {
				dial_done(p);
				continue;
			}
			if (p->state == PEER_TLS) {
				tls_step(p);
				continue;
			}
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				while (rx_fill(p) > 0 && p->state != PEER_GONE)
					;
				wake_user(c);
			}
			if ((fds[i].revents & POLLOUT) && p->fd >= 0)
				(void)tx_flush(p);
		}
		/* Handshakes, newest last: indices shift as entries close, so go backwards. */
		for (uint32_t i = n_pending; i-- > 0;)
			if (fds[first_peer + i].revents && i < c->n_pending &&
			    c->pending[i]->fd == fds[first_peer + i].fd)
				pending_read(c, i);
		if (c->listen_fd >= 0 && fds[1].revents)
			accept_all(c);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- the calls --------------------------------------------------------------------- */

static int parse_ms(struct psyne_uri *uri, const char *key, uint32_t *v)
{
	const char *s = psyne__uri_get(uri, key);
	int r;

	if (!s)
		return 0;
	r = safe_atou32(s, v);
	if (r < 0) {
		psyne__log_error("option %s=%s: not a number of milliseconds", key, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_options(struct net_chan *c, struct psyne_uri *uri)
{
	uint64_t capacity = 0;
	uint32_t mode = UINT32_MAX;
	const char *s;
	int r;

	r = psyne__uri_ring_options(uri, &mode, &capacity);
	if (r < 0)
		return r;
	c->mode = mode == UINT32_MAX ? PSYNE_MODE_SPSC : mode;
	c->capacity = capacity == 0 ? NET_DEFAULT_CAPACITY : capacity;
	if (c->capacity < NET_MIN_CAPACITY || c->capacity > (1ull << 31))
		return -EINVAL;
	c->listener = psyne__uri_get(uri, "listen") != NULL;
	c->heartbeat_ms = NET_DEFAULT_HEARTBEAT_MS;
	c->peer_timeout_ms = NET_DEFAULT_PEER_TIMEOUT_MS;
	c->reconnect_ms = NET_DEFAULT_RECONNECT_MS;
	c->connect_timeout_ms = NET_DEFAULT_CONNECT_TIMEOUT_MS;
	c->linger_ms = NET_DEFAULT_LINGER_MS;
	c->max_peers = c->mode == PSYNE_MODE_SPSC ? 1 : NET_DEFAULT_MAX_PEERS;
	c->nodelay = true;
	if ((r = parse_ms(uri, "heartbeat", &c->heartbeat_ms)) < 0 ||
	    (r = parse_ms(uri, "peer_timeout", &c->peer_timeout_ms)) < 0 ||
	    (r = parse_ms(uri, "reconnect", &c->reconnect_ms)) < 0 ||
	    (r = parse_ms(uri, "connect_timeout", &c->connect_timeout_ms)) < 0 ||
	    (r = parse_ms(uri, "linger", &c->linger_ms)) < 0 ||
	    (r = parse_ms(uri, "max_peers", &c->max_peers)) < 0)
		return r;
	if (c->heartbeat_ms < 10 || c->heartbeat_ms > 600000 ||
	    c->peer_timeout_ms < c->heartbeat_ms || c->max_peers == 0 || c->max_peers > 1024) {
		psyne__log_error("heartbeat must be 10..600000 ms, peer_timeout at least the "
				 "heartbeat, max_peers 1..1024");
		return -EINVAL;
	}
	c->memfd_min = NET_DEFAULT_MEMFD_MIN;
	s = psyne__uri_get(uri, "memfd_min");
	if (s) {
		uint64_t v;

		if (!c->fd_passing || parse_size(s, &v) < 0 || v > NET_MEMFD_MAX) {
			psyne__log_error("memfd_min=%s: a size up to 1G, on unix:// only", s);
			return -EINVAL;
		}
		c->memfd_min = (uint32_t)v;
	}
	s = psyne__uri_get(uri, "nodelay");
	if (s)
		c->nodelay = !streq(s, "0");
	/* The receiver's ring must hold a whole frame twice over, as the local rings do. */
	c->max_msg =
		(uint32_t)MIN(c->capacity / 2 - 2 * PSYNE_FRAME_HDR_SIZE, (uint64_t)UINT32_MAX);
	return 0;
}

static int listen_open(struct net_chan *c)
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
	c->listen_fd = fd;
	return 0;
}

/* The dialer's first session: wait for it up to connect_timeout. */
static int dial_first(struct net_chan *c)
{
	uint64_t session, deadline = now() + ms(c->connect_timeout_ms);
	struct net_peer *p;
	int r;

	if (getrandom(&session, sizeof(session), 0) != sizeof(session))
		return -errno;
	r = peer_new(c, session, &p);
	if (r < 0)
		return r;
	snprintf(p->name, sizeof(p->name), "%s", c->addr.text);
	p->down_since_ns = now();
	p->next_dial_ns = 0;
	kick(c->io_wake);
	while (p->state != PEER_UP) {
		uint64_t t = now();
		struct pollfd pfd = { .fd = c->user_wake, .events = POLLIN };

		if (p->state == PEER_GONE)
			return p->error;
		if (t >= deadline) {
			psyne__log_error("cannot connect to %s within %u ms", c->addr.text,
					 c->connect_timeout_ms);
			return -ETIMEDOUT;
		}
		c->user_waiting++;
		pthread_mutex_unlock(&c->lock);
		(void)poll(&pfd, 1, (int)MIN((deadline - t) / 1000000 + 1, (uint64_t)50));
		pthread_mutex_lock(&c->lock);
		c->user_waiting--;
		drain_eventfd(c->user_wake);
	}
	return 0;
}

static void net_free(struct net_chan *c)
{
	if (c->thread_started) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		pthread_mutex_unlock(&c->lock);
		kick(c->io_wake);
		pthread_join(c->thread, NULL);
	}
	for (uint32_t i = 0; i < c->n_peers; i++)
		peer_free(c->peers[i]);
	free(c->peers);
	while (c->n_pending > 0)
		pending_close(c, 0);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		if (c->addr.unlink_on_close)
			(void)unlink(((struct sockaddr_un *)&c->addr.ss)->sun_path);
	}
	if (c->io_wake >= 0)
		close(c->io_wake);
	if (c->user_wake >= 0)
		close(c->user_wake);
	psyne__tls_ctx_free(c->tls);
	c->page = psyne__netstat_free(c->page);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int psyne__net_open(const struct psyne_net_family *family, struct psyne_uri *uri,
		    struct psyne_channel **ret_channel)
{
	struct net_chan *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->family = family;
	c->base.ops = family->transport;
	c->fd_passing = family->fd_passing;
	c->listen_fd = c->io_wake = c->user_wake = -1;
	lock_init(&c->lock);
	r = parse_options(c, uri);
	if (r >= 0 && family->tls) {
		char host[256];
		const char *port;

		r = psyne__uri_host_port(uri->address, host, sizeof(host), &port);
		if (r >= 0)
			r = psyne__tls_ctx_new(uri, c->listener, host, &c->tls);
	}
	if (r >= 0)
		r = psyne__uri_check_used(uri); /* before anything is dialed or bound */
	if (r >= 0)
		r = family->resolve(uri->address, c->listener, &c->addr);
	if (r < 0) {
		net_free(c);
		return r;
	}
	c->io_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->user_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->io_wake < 0 || c->user_wake < 0) {
		r = -errno;
		net_free(c);
		return r;
	}
	if (c->listener) {
		r = listen_open(c);
		if (r < 0) {
			net_free(c);
			return r;
		}
	}
	page_open(c, uri);
	r = -pthread_create(&c->thread, NULL, io_thread, c);
	if (r < 0) {
		net_free(c);
		return r;
	}
	c->thread_started = true;
	if (!c->listener) {
		pthread_mutex_lock(&c->lock);
		r = dial_first(c);
		pthread_mutex_unlock(&c->lock);
		if (r < 0) {
			net_free(c);
			return r;
		}
	}
	page_publish(c);
	*ret_channel = &c->base;
	return 0;
}

static struct net_chan *chan(struct psyne_channel *ch)
{
	return (struct net_chan *)ch;
}

static bool peer_sendable(const struct net_peer *p)
{
	return p->state != PEER_GONE && !p->bye_received;
}

/* Why nothing can be sent or received any more: -EPIPE after orderly closes. */
static int gone_error(struct net_chan *c)
{
	return c->last_error < 0 ? c->last_error : -EPIPE;
}

/*
 * Waits, with the lock held, for something to change: reads arriving on the peers'
 * sockets, or the I/O thread's word. Returns -ETIMEDOUT when `deadline` passed.
 */
static int user_wait(struct net_chan *c, uint64_t deadline)
{
	struct pollfd fds[1 + 1024];
	struct net_peer *who[1 + 1024];
	uint64_t t = now();
	nfds_t n = 0;
	int timeout;

	if (deadline != UINT64_MAX && t >= deadline)
		return -ETIMEDOUT;
	fds[n++] = (struct pollfd){ .fd = c->user_wake, .events = POLLIN };
	for (uint32_t i = 0; i < c->n_peers && n < ELEMENTSOF(fds); i++) {
		/* Bytes TLS already decrypted are no reason for poll() to wake: look now. */
		if (c->peers[i]->tls && can_read(c->peers[i]) &&
		    psyne__tls_pending(c->peers[i]->tls)) {
			(void)rx_fill(c->peers[i]);
			return 0;
		}
		if (c->peers[i]->state == PEER_UP && can_read(c->peers[i])) {
			who[n] = c->peers[i];
			fds[n++] = (struct pollfd){ .fd = c->peers[i]->fd, .events = POLLIN };
		}
	}
	/* Wake in time for the heartbeats the I/O thread may not see while we read. */
	timeout = (int)c->heartbeat_ms / 2;
	if (deadline != UINT64_MAX)
		timeout = (int)MIN((uint64_t)timeout, (deadline - t + 999999) / 1000000);
	c->user_waiting++;
	pthread_mutex_unlock(&c->lock);
	int k = poll(fds, n, timeout);
	pthread_mutex_lock(&c->lock);
	c->user_waiting--;
	if (k > 0 && fds[0].revents)
		drain_eventfd(c->user_wake);
	for (nfds_t i = 1; k > 0 && i < n; i++) {
		bool still = false;

		if (!fds[i].revents)
			continue;
		for (uint32_t j = 0; j < c->n_peers; j++)
			if (c->peers[j] == who[i] && who[i]->fd == fds[i].fd)
				still = true;
		if (still)
			(void)rx_fill(who[i]);
	}
	return 0;
}

static uint64_t deadline_of(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return now() + ms((uint32_t)timeout_ms);
}

/*
 * A dialer's caller that waits for a message with no deadline sleeps in recv() on its one
 * session, woken by the data itself: one system call and a direct wake-up where poll() and
 * recv() make two, which is most of what a round trip costs over the raw socket. Nothing
 * else can need such a caller: a dialer has no other session, and when the connection is
 * dropped (peer silent, error, close) peer_down() shuts the socket down under us, which
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

	if (c->listener || c->n_peers != 1)
		return false;
	p = c->peers[0];
	if (p->state != PEER_UP || !p->blocking || !can_read(p) || p->fd < 0 || p->rcvlowat > 1 ||
	    p->rx_filled - p->rx_free >= p->rx.capacity)
		return false;
	c->user_waiting++; /* the I/O thread leaves the socket to us */
	n = rx_read(p, true);
	c->user_waiting--;
	(void)n; /* whatever happened, the caller looks again */
	return true;
}

/* The peer a new message goes to: round robin over those with room. */
static struct net_peer *pick_sender(struct net_chan *c, uint32_t need, bool *ret_any)
{
	*ret_any = false;
	for (uint32_t k = 0; k < c->n_peers; k++) {
		struct net_peer *p = c->peers[(c->rr + k) % c->n_peers];

		if (!peer_sendable(p))
			continue;
		*ret_any = true;
		/* A write in flight may still read slots acknowledged meanwhile (after a
		 * reconnect): they are not reused before it returns. */
		uint64_t low = p->writing && !p->tls ? MIN(p->tx_acked, p->tx_inflight) :
						       p->tx_acked;

		if (p->tx_end - low + need <= p->tx.capacity) {
			c->rr = (p->index + 1) % MAX(c->n_peers, 1u);
			return p;
		}
	}
	return NULL;
}

/* A memfd for a message of `size` bytes, mapped for the caller to write into. */
static int memfd_reserve(struct net_slot *s, size_t size, uint8_t **ret_data)
{
	uint8_t *hdr = (uint8_t *)(s + 1);
	struct memfd_ref *m = (struct memfd_ref *)(hdr + PSYNE_FRAME_HDR_SIZE);
	uint16_t flags = htole16(PSYNE_FRAME_F_MEMFD);
	int fd, r;
	void *map;

	fd = memfd_create("psyne-msg", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		r = -errno;
		close(fd);
		return r;
	}
	memcpy(hdr + 6, &flags, 2);
	*m = (struct memfd_ref){ .fd = fd, .reserved = (uint32_t)size, .map = map };
	*ret_data = map;
	return 0;
}

/* Commit of a memfd message: unmap it, trim it to its size and seal it for good. */
static int memfd_commit(struct memfd_ref *m, size_t size)
{
	if (m->map) {
		(void)munmap(m->map, m->reserved); /* cannot fail on a mapping we made */
		m->map = NULL;
	}
	if (size < m->reserved && ftruncate(m->fd, (off_t)size) < 0)
		return -errno;
	if (fcntl(m->fd, F_ADD_SEALS, MEMFD_SEALS | F_SEAL_SEAL) < 0)
		return -errno;
	return 0;
}

int psyne__net_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
		       struct psyne_msg *ret_msg)
{
	struct net_chan *c = chan(ch);
	uint64_t deadline = deadline_of(timeout_ms);
	uint32_t need;
	int r = 0;

	bool memfd = c->fd_passing && c->memfd_min > 0 && size >= c->memfd_min;

	if (size > (memfd ? NET_MEMFD_MAX : c->max_msg))
		return -EMSGSIZE;
	need = memfd ? MEMFD_SLOT : SLOT_HDR + frame_bytes((uint32_t)size);
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
			struct net_slot *s = slot_at(p, p->tx_end);
			uint8_t *data = (uint8_t *)(s + 1) + PSYNE_FRAME_HDR_SIZE;

			s->total = need;
			s->flags = SLOT_RESERVED;
			memset(s + 1, 0, PSYNE_FRAME_HDR_SIZE);
			if (memfd) {
				r = memfd_reserve(s, size, &data);
				if (r < 0)
					break;
				c->memfds++;
				c->memfd_bytes += size;
			}
			*ret_msg = (struct psyne_msg){
				.data = data,
				.size = size,
				.priv = { p->tx_end, (uint64_t)(uintptr_t)p },
			};
			p->tx_end += need;
			break;
		}
		if (!any && (c->ever_up || !c->listener)) {
			r = gone_error(c);
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

	if (pos < p->tx_ready || pos >= p->tx_end || pos % FRAME_ALIGN != 0)
		return NULL;
	s = slot_at(p, pos);
	if (s->flags != SLOT_RESERVED)
		return NULL;
	if (slot_memfd(s) ? slot_memfd(s)->map != msg->data :
			    (uint8_t *)(s + 1) + PSYNE_FRAME_HDR_SIZE != msg->data)
		return NULL;
	return s;
}

int psyne__net_commit(struct psyne_channel *ch, struct psyne_msg *msg)
{
	struct net_chan *c = chan(ch);
	struct memfd_ref *m;
	struct net_peer *p;
	struct net_slot *s;
	uint8_t *hdr;
	uint32_t v;

	pthread_mutex_lock(&c->lock);
	p = msg_peer(c, msg);
	s = p ? own_slot(p, msg) : NULL;
	m = s ? slot_memfd(s) : NULL;
	if (!s || msg->size > (m ? m->reserved : s->total - SLOT_HDR - PSYNE_FRAME_HDR_SIZE)) {
		pthread_mutex_unlock(&c->lock);
		return -EINVAL;
	}
	if (m) {
		int r = memfd_commit(m, msg->size);

		if (r < 0) {
			pthread_mutex_unlock(&c->lock);
			return r;
		}
	}
	hdr = (uint8_t *)(s + 1);
	/* type and length wait here for tx_advance_ready(), which writes the frame header. */
	v = htole32(msg->type);
	memcpy(hdr + 8, &v, 4);
	v = htole32((uint32_t)msg->size);
	memcpy(hdr + 12, &v, 4);
	if (!m && msg->size % FRAME_ALIGN != 0) /* the padding to the next frame */
		memset(hdr + PSYNE_FRAME_HDR_SIZE + msg->size, 0,
		       frame_bytes((uint32_t)msg->size) - PSYNE_FRAME_HDR_SIZE - msg->size);
	s->flags = SLOT_READY;
	p->messages_tx++;
	p->bytes_tx += msg->size;
	c->sent++;
	c->sent_bytes += msg->size;
	msg->priv[1] = 0;
	tx_advance_ready(p);

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
	if (p->state == PEER_UP && can_write(p)) {
		/* Read the clock only for the first message of a batch: it costs as much as
		 * the rest of the commit. */
		bool gathering = p->flush_wanted, write;
		uint64_t t = 0;

		if (!gathering) {
			t = now();
			write = t - p->last_write_ns >= NET_BATCH_NS || p->taken_since_write;
		} else {
			write = p->tx_ready - p->tx_slot >= NET_BATCH_BYTES ||
				((++p->batch_n & 31) == 0 && now() >= p->flush_at);
		}
		if (write)
			(void)tx_flush(p);
		if (tx_pending(p)) {
			if (!p->flush_wanted) {
				p->flush_at = (t ? t : now()) + NET_BATCH_DELAY_NS;
				p->batch_n = 0;
			}
			p->flush_wanted = true;
			if (!p->io_kicked) {
				p->io_kicked = true;
				kick(c->io_wake);
			}
		}
	}
	/* The stats page follows every message that went out at once, and a batch once per
	 * 32 commits and when it is written (tx_flush()). */
	if (!p->flush_wanted || (p->batch_n & 31) == 0)
		page_sent(p);
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
		slot_memfd_drop(p->ch, s);
		if (msg->priv[0] + s->total == p->tx_end)
			p->tx_end = msg->priv[0]; /* the newest: just forget it */
		else
			s->flags = SLOT_CANCELLED;
		tx_advance_ready(p);
		msg->priv[1] = 0;
	}
	pthread_mutex_unlock(&c->lock);
}

/* The next message of one peer, if a whole one is there. */
static int take_message(struct net_peer *p, size_t max_size, struct psyne_msg *ret)
{
	while (p->rx_next < p->rx_parsed) {
		uint8_t *hdr = psyne__dbuf_at(&p->rx, p->rx_next);
		uint32_t len, type;

		uint8_t *data = hdr + PSYNE_FRAME_HDR_SIZE;

		memcpy(&len, hdr + 12, 4);
		len = le32toh(len);
		if (rx_mark(hdr) != RX_DATA) {
			p->rx_next += stream_bytes(hdr);
			continue;
		}
		if (len > max_size)
			return -EMSGSIZE;
		if (hdr_is_memfd(hdr)) {
			struct rx_map *m = rx_map_find(p, p->rx_next);

			if (!m)
				return -EPROTO;
			data = m->map;
		}
		memcpy(&type, hdr + 8, 4);
		rx_set_mark(hdr, RX_HELD);
		*ret = (struct psyne_msg){
			.data = data,
			.size = len,
			.type = le32toh(type),
			.priv = { p->rx_next, (uint64_t)(uintptr_t)p },
		};
		p->rx_next += stream_bytes(hdr);
		p->held++;
		p->taken_since_write = true;
		p->messages_rx++;
		p->bytes_rx += len;
		p->ch->received++;
		p->ch->received_bytes += len;
		page_received(p, true);
		return 0;
	}
	rx_collect(p);
	return -EAGAIN;
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

			r = take_message(p, max_size, ret_msg);
			/*
			 * Read until a whole message is in (TLS hands over a record at a time).
			 * A socket our last read drained is left to poll() in user_wait(): a
			 * read now would most likely find nothing, and cost a system call on
			 * every wait of a ping-pong.
			 */
			while (r == -EAGAIN && p->state == PEER_UP && !p->rx_drained &&
			       rx_fill(p) > 0)
				r = take_message(p, max_size, ret_msg);
			if (r == 0)
				c->rr = (p->index + 1) % c->n_peers;
		}
		if (r != -EAGAIN)
			break;
		/* Reading dropped the lock, and the peer list may have changed meanwhile: decide
		 * on a fresh look whether anyone is left. */
		for (uint32_t i = 0; i < c->n_peers; i++) {
			struct net_peer *p = c->peers[i];

			if (p->state != PEER_GONE && !p->bye_received)
				live = true;
			if (p->rx_next < p->rx_parsed)
				more = true;
		}
		if (more)
			continue;
		if (!live && (c->ever_up || !c->listener)) {
			r = gone_error(c);
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
	struct net_peer *p;
	uint8_t *hdr;

	p = msg_peer(c, msg);
	if (p && msg->priv[0] >= p->rx_free && msg->priv[0] < p->rx_next) {
		struct rx_map *m = NULL;

		hdr = psyne__dbuf_at(&p->rx, msg->priv[0]);
		if (hdr_is_memfd(hdr))
			m = rx_map_find(p, msg->priv[0]);
		if (rx_mark(hdr) == RX_HELD &&
		    (m ? m->map == msg->data : hdr + PSYNE_FRAME_HDR_SIZE == msg->data)) {
			if (m)
				rx_map_remove(p, m);
			rx_set_mark(hdr, RX_RELEASED);
			p->held--;
			msg->priv[1] = 0;
			rx_collect(p);
			page_received(p, false);
		}
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
	struct psyne_stats st = { .capacity = c->capacity, .mode = c->mode };

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->n_peers; i++) {
		struct net_peer *p = c->peers[i];

		if (p->state == PEER_UP) {
			if (c->mode == PSYNE_MODE_MPSC || c->mode == PSYNE_MODE_MPMC ||
			    !c->listener)
				st.producers++;
			st.consumers++;
		}
		st.used += (p->tx_end - p->tx_acked) + (p->rx_filled - p->rx_free);
	}
	st.messages = c->sent;
	st.bytes = c->sent_bytes;
	st.received = c->received;
	st.received_bytes = c->received_bytes;
	st.reconnects = c->reconnects;
	pthread_mutex_unlock(&c->lock);
	*ret = st;
	return 0;
}

void psyne__net_close(struct psyne_channel *ch)
{
	struct net_chan *c = chan(ch);
	uint64_t deadline = now() + ms(c->linger_ms);

	/* Linger: what was committed goes out and is acknowledged, then BYE. */
	pthread_mutex_lock(&c->lock);
	for (;;) {
		bool busy = false;

		for (uint32_t i = 0; i < c->n_peers; i++) {
			struct net_peer *p = c->peers[i];

			if (p->state == PEER_GONE || p->bye_received)
				continue;
			if (p->tx_acked < p->tx_ready) {
				busy = true;
				continue;
			}
			if (p->state == PEER_UP && !p->bye_sent && !p->bye_acked)
				p->bye_sent = ctl_append(p, PSYNE_FRAME_BYE, p->tx_seq, NULL, 0);
			/* Not done until the peer has acknowledged BYE: a connection that breaks
			 * now comes back and BYE goes again. */
			if (p->state == PEER_UP)
				(void)tx_flush(p);
			if (!p->bye_acked)
				busy = true;
		}
		if (!busy || now() >= deadline)
			break;
		uint32_t wait_ms = 20;

		for (uint32_t i = 0; i < c->n_peers; i++) {
			struct net_peer *p = c->peers[i];

			if (p->state != PEER_UP)
				continue;
			if (p->tx_acked == p->tx_ready) {
				if (tx_pending(p))
					wait_ms = 1; /* BYE still to go */
				continue;
			}
			/* Send what is left ourselves, then ask for the acknowledgement now rather
			 * than at the next heartbeat. Nothing wakes us when another thread's
			 * write completes: look again soon while data is unsent. */
			(void)tx_flush(p);
			if (p->tx_slot < p->tx_ready) {
				wait_ms = 1;
			} else if (now() - p->last_ping_ns > ms(100)) {
				p->last_ping_ns = now();
				(void)ctl_append(p, PSYNE_FRAME_PING, now(), NULL, 0);
				p->last_tx_ns = now();
				(void)tx_flush(p);
			}
		}
		(void)user_wait(c, MIN(deadline, now() + ms(wait_ms)));
	}
	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i]->fd >= 0)
			(void)shutdown(c->peers[i]->fd, SHUT_WR);
	pthread_mutex_unlock(&c->lock);
	net_free(c);
}

/* ---- fuzzing ----------------------------------------------------------------------- */

/*
 * The receive path of a session, without a socket, for fuzz-stream: `data` goes into an
 * established session's receive ring in chunks of `chunk` bytes (0: as much as fits) and
 * is parsed as the engine parses what it reads; every message taken is read and released.
 * `hello` starts the session in its handshake instead. Returns the parser's verdict: its
 * error, or the low 31 bits of the sum of the bytes of the messages taken, which fuzz-stream
 * checks against its own reading of the stream.
 */
int psyne__net_fuzz_stream(const uint8_t *data, size_t len, size_t chunk, bool hello)
{
	struct net_chan *c = calloc(1, sizeof(*c));
	struct net_peer *p;
	uint64_t sum = 0;
	int r;

	if (!c)
		return -ENOMEM;
	c->listen_fd = c->io_wake = c->user_wake = -1;
	c->capacity = NET_MIN_CAPACITY;
	c->max_msg = NET_MIN_CAPACITY / 2 - 2 * PSYNE_FRAME_HDR_SIZE;
	c->heartbeat_ms = NET_DEFAULT_HEARTBEAT_MS;
	c->peer_timeout_ms = NET_DEFAULT_PEER_TIMEOUT_MS;
	snprintf(c->addr.text, sizeof(c->addr.text), "fuzz");
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_lock(&c->lock);
	r = peer_new(c, 1, &p);
	if (r < 0)
		goto out;
	p->state = hello ? PEER_HELLO : PEER_UP;
	p->remote_window = NET_MIN_CAPACITY;
	while (len > 0 && r >= 0) {
		uint64_t room = p->rx.capacity - (p->rx_filled - p->rx_free);
		size_t k = MIN(len, (size_t)room);
		struct psyne_msg m;

		if (chunk > 0)
			k = MIN(k, chunk);
		if (k == 0)
			break; /* full of a frame that can never complete: the engine would wait */
		memcpy(psyne__dbuf_at(&p->rx, p->rx_filled), data, k);
		p->rx_filled += k;
		data += k;
		len -= k;
		r = rx_parse(p);
		while (r >= 0 && take_message(p, SIZE_MAX, &m) == 0) {
			for (size_t i = 0; i < m.size; i++)
				sum += ((const uint8_t *)m.data)[i];
			release_locked(c, &m);
		}
		p->ctl_off = p->ctl_len = 0; /* what would have been sent */
	}
out:
	pthread_mutex_unlock(&c->lock);
	for (uint32_t i = 0; i < c->n_peers; i++)
		peer_free(c->peers[i]);
	free(c->peers);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return r < 0 ? r : (int)(sum & 0x7fffffffu);
}
