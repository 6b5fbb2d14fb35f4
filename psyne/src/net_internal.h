/* SPDX-License-Identifier: MIT */
/*
 * The insides of the stream session engine (unix://, tcp://, tls://), shared by its files
 * and by nothing else:
 *
 *   net_rx.c       the receive parser: frames read into a session's rx ring are checked
 *                  and marked, and what they ask of the session comes back as events; no
 *                  socket, no lock, no channel (fuzz-stream drives it directly)
 *   net_tx.c       the send side: tx slots, control frames, write plans, batching, flushes
 *   net_session.c  sessions: their life (new, up, down, gone, reaped), reading, timers,
 *                  and the stats page
 *   net_dial.c     the dialer: connecting, the TLS handshake, the first session
 *   net_listen.c   the listener: accepting, handshakes of connections, admitting sessions
 *   net_options.c  the options of a URI, from one table
 *   net.c          the public calls and the I/O thread
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
 *           the CRC is checked and marks what the frame is to us (NET_RX_*).
 *
 * Threads: the caller's thread does the socket work of its own calls (a lone message is
 * written by commit at once; receive reads straight into rx and polls the sockets when it
 * must wait). One I/O thread per handle does what nobody else is there to do: accepting,
 * handshakes, dialing, heartbeats, flushing batches, and reading while the caller is busy
 * elsewhere. The channel's `lock` guards the bookkeeping only; the read and write system
 * calls run without it, on regions the other thread does not touch (`reading`/`writing`
 * say who). Every function below that takes a channel or a peer runs with the lock held
 * unless it says otherwise; those that make system calls on a session's socket may drop it
 * around the call and say so.
 *
 * What `psyne stat` shows of a handle is its stats page (netstat.h), which the session code
 * keeps up to date under the lock (the psyne__net_page_* functions); nothing answers queries.
 *
 * Types and inline helpers here keep the engine's short net_ names; functions shared
 * between the files carry the psyne__net_ prefix.
 */
#ifndef PSYNE_NET_INTERNAL_H
#define PSYNE_NET_INTERNAL_H

#include <endian.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/time-util.h"
#include "dbuf.h"
#include "frame.h"
#include "net.h"
#include "tls.h"

#define NET_DEFAULT_CAPACITY (1u << 20)
#define NET_MIN_CAPACITY (64u << 10)
#define NET_DEFAULT_HEARTBEAT_MS 500u
#define NET_DEFAULT_PEER_TIMEOUT_MS 2000u
#define NET_DEFAULT_RECONNECT_MS 30000u
#define NET_DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define NET_DEFAULT_LINGER_MS 5000u
#define NET_DEFAULT_MAX_PEERS 64u
#define NET_MAX_PENDING 64u  /* connections still in their handshake */
#define NET_MAX_UNPROVED 64u /* a listener's sessions that have not proved themselves */
#define NET_ACCEPT_BATCH 32u /* connections accepted per turn of the I/O thread */
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
#define NET_FRAME_ALIGN 8u
#define NET_SLOT_HDR 8u
#define NET_DEFAULT_MEMFD_MIN (64u << 10)
#define NET_MEMFD_MAX (1u << 30)		/* largest message passed as a memfd */
#define NET_MEMFD_INFLIGHT 64u			/* memfd messages unacknowledged per handle */
#define NET_MEMFD_INFLIGHT_BYTES (256ull << 20) /* ... and their bytes, beyond the first */
#define NET_RX_FDS 64u				/* descriptors received ahead of their frames */
#define NET_MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* What a tx slot holds. */
enum {
	NET_SLOT_RESERVED = 0,
	NET_SLOT_READY = 1,	/* committed, header and crc final */
	NET_SLOT_CANCELLED = 2, /* never sent */
};

/* What a frame in rx is to us, kept in its header's reserved word once checked. */
enum {
	NET_RX_DATA = 0,     /* a message not yet handed out */
	NET_RX_SKIP = 1,     /* control frame or duplicate: nothing for the user */
	NET_RX_HELD = 2,     /* handed out, not yet released */
	NET_RX_RELEASED = 3, /* released out of order */
};

enum net_peer_state {
	NET_PEER_CONNECTING, /* dialer: connect() in progress */
	NET_PEER_TLS,	     /* dialer: TLS handshake in progress */
	NET_PEER_HELLO,	     /* connected, waiting for the other side's HELLO */
	NET_PEER_UP,
	NET_PEER_DOWN, /* no connection: the dialer dials again, the listener waits */
	NET_PEER_GONE, /* session over; freed once drained and nothing is held */
};

struct net_slot {
	uint32_t total; /* bytes of the slot, slot header included, a multiple of 8 */
	uint32_t flags;
};
_Static_assert(sizeof(struct net_slot) == NET_SLOT_HDR, "tx slot header");

/*
 * unix:// passes large messages as sealed memfds (SCM_RIGHTS): such a tx slot holds the
 * frame header (flag PSYNE_FRAME_F_MEMFD, length = the message's size) and this, and only
 * the header travels in the stream. The receiver maps the memfd read-only and hands out a
 * view of it: the payload is never copied, not even by the kernel.
 */
struct net_memfd_ref {
	int32_t fd;
	uint32_t reserved; /* the size reserved: commit may shrink it */
	uint8_t *map;	   /* writable mapping until commit, then NULL */
};
#define NET_MEMFD_SLOT                                                                             \
	(NET_SLOT_HDR + PSYNE_FRAME_HDR_SIZE + ALIGN_TO(sizeof(struct net_memfd_ref), 8u))

/* A received memfd message, mapped until it is released. */
struct net_rx_map {
	uint64_t pos;
	uint8_t *map;
	size_t len;
};

/* What the URI's options say, parsed once when the handle opens. */
struct net_config {
	bool listener;
	uint32_t mode;
	uint64_t capacity; /* bytes of each of a session's rings */
	uint32_t max_msg;  /* the largest message we take: capacity/2 - 64 */
	uint32_t heartbeat_ms, peer_timeout_ms, reconnect_ms, connect_timeout_ms, linger_ms;
	uint32_t max_peers;
	bool nodelay;
	bool fd_passing;    /* unix:// */
	uint64_t memfd_min; /* messages this large go as memfds; 0: never */
};

/* Everything a URI's options say (net_options.c). */
struct net_options {
	struct net_config cfg;
	struct psyne_tls_options tls; /* tls:// */
};

/*
 * A session's receive side: everything the parser (net_rx.c) needs, and nothing else.
 * free <= next <= parsed <= filled.
 */
struct net_rx {
	struct psyne_dbuf buf;
	uint64_t free;	 /* released prefix */
	uint64_t next;	 /* first frame not handed out */
	uint64_t parsed; /* frames before this are checked */
	uint64_t filled; /* bytes read */
	uint64_t seq;	 /* next DATA seq expected; UINT64_MAX: take the first one */
	uint64_t unacked;
	uint64_t remote_window; /* the peer's send ring (its HELLO): acknowledge well within it */
	uint32_t max_msg;	/* the largest payload taken */
	bool fd_passing;	/* memfd frames are allowed (unix://) */
	bool bye_received;
	bool data_seen;	     /* a message of the session was taken into the ring */
	uint32_t held;	     /* messages handed out and not released */
	int fds[NET_RX_FDS]; /* unix://: memfds received, for frames not parsed yet */
	uint32_t fds_head, fds_n;
	struct net_rx_map *maps;
	uint32_t n_maps, cap_maps;
};

/* What a frame asks of the session, as psyne__net_rx_parse() reports it. */
enum net_rx_event_kind {
	NET_RX_EV_ACK,	  /* seq: every DATA of ours below it arrived */
	NET_RX_EV_PING,	  /* seq: the nonce to answer with PONG */
	NET_RX_EV_BYE,	  /* the peer closes in order: acknowledge it */
	NET_RX_EV_HELLO,  /* payload: PSYNE_FRAME_HELLO_SIZE bytes */
	NET_RX_EV_REJECT, /* payload: errno (u32 LE) and reason, `length` bytes */
};

struct net_rx_event {
	enum net_rx_event_kind kind;
	uint64_t seq;
	const uint8_t *payload; /* in the rx ring: valid until the next read into it */
	uint32_t length;
};

/* A session's send side. acked <= slot <= ready <= end. */
struct net_tx {
	struct psyne_dbuf buf;
	uint64_t acked;		/* slots before this are acknowledged or cancelled: free */
	uint64_t slot;		/* the slot being sent on this connection */
	uint32_t off;		/* bytes of its wire frame already sent */
	uint64_t ready;		/* slots before this are READY or CANCELLED */
	uint64_t end;		/* end of the newest reservation */
	uint64_t seq;		/* seq of the next slot to become ready */
	uint64_t inflight;	/* while writing: the first slot the system call may read */
	uint64_t acked_seq;	/* DATA below this seq is acknowledged */
	uint64_t last_write_ns; /* when our last write of messages returned */
	bool taken_since_write; /* a message of this peer was received since then */
	bool flush_wanted;	/* the I/O thread should write what is ready */
	bool io_kicked;	   /* ... and has been woken for it, or sleeps no longer than flush_at */
	uint64_t flush_at; /* when flush_wanted: when the batch is due */
	uint32_t batch_n;  /* commits to the batch */
	uint8_t ctl[NET_CTL_MAX]; /* control frames to send */
	uint32_t ctl_len, ctl_off;
	uint8_t *stage; /* NET_STAGE bytes, see stage_fill(); allocated when first used */
	uint32_t stage_len, stage_off;
};

/* A session's connection: its socket, and who is in a system call on it. */
struct net_conn {
	int fd;
	int dead_fd; /* closed when the thread in a system call on it comes back */
	struct psyne_tls *tls, *dead_tls;
	short tls_want; /* what the TLS handshake waits for */
	bool reading, writing;
	bool drained;	   /* the last read found the socket empty: poll() before reading again */
	uint32_t rcvlowat; /* the socket's SO_RCVLOWAT as we last set it; 0: never set */
	bool blocking;	   /* the socket is in blocking mode: every call but wait_in_read()'s
			    * says MSG_DONTWAIT */
};

struct net_chan;

/*
 * A descriptor the I/O thread waits on with epoll: its epoll_data points to this, which
 * says what it is. Registered when the descriptor is made or accepted, changed only when
 * what it waits for changes, unregistered before it is closed (psyne__net_watch()).
 */
enum net_ep_kind {
	NET_EP_WAKE,	/* the I/O thread's eventfd */
	NET_EP_LISTEN,	/* the listening socket */
	NET_EP_PENDING, /* a connection in its handshake: owner is its struct net_pending */
	NET_EP_PEER,	/* a session's connection: owner is its struct net_peer */
};

struct net_ep {
	enum net_ep_kind kind;
	void *owner;
	int fd;		 /* registered: the descriptor; -1 while none is */
	uint32_t events; /* EPOLLIN, EPOLLOUT it is registered for */
};

/* A session. */
struct net_peer {
	struct net_chan *ch;
	struct net_ep ep;
	uint32_t index; /* in ch->peers */
	enum net_peer_state state;
	uint64_t session;
	int error;	/* when GONE: -EPIPE after BYE, else why it ended */
	int last_error; /* why its last connection, or the session, ended; 0: none did */
	bool bye_sent;	/* on this connection */
	bool bye_acked; /* the peer has it */
	/*
	 * A listener's session proves itself by real work: it delivered a message, had one of
	 * ours acknowledged, or closed in order; or the TLS handshake authenticated it. Only
	 * then does it count against max_peers (net_listen.c).
	 */
	bool proved;
	char name[128];
	uint32_t remote_max_msg;

	struct net_conn conn;
	struct net_tx tx;
	struct net_rx rx;

	uint64_t last_rx_ns, last_tx_ns, down_since_ns, next_dial_ns, hello_deadline_ns;
	uint64_t last_ping_ns; /* closing: when we last asked for an acknowledgement */
	uint32_t backoff_ms;
	uint32_t dials, refused; /* dialer: connections tried, and refused, while never up */

	uint64_t messages_tx, bytes_tx, messages_rx, bytes_rx, reconnects, retransmits;
};

/* A listener's accepted connection, until its HELLO makes or resumes a session. */
struct net_pending {
	struct net_ep ep;
	uint32_t index; /* in lis.pending */
	int fd;
	struct psyne_tls *tls;
	bool tls_done;
	short tls_want;
	uint32_t got;
	uint64_t deadline_ns;
	uint8_t buf[PSYNE_FRAME_HDR_SIZE + PSYNE_FRAME_HELLO_SIZE];
	char name[128];
};

/* The listening side of a handle. */
struct net_listen {
	int fd; /* -1 for a dialer */
	struct net_pending *pending[NET_MAX_PENDING];
	uint32_t n_pending;
	uint64_t dropped; /* connections refused or dropped before a session had them */
	/* listener_warn(): lines logged in the current 10 s, and those left out */
	uint64_t warn_window_ns, warn_suppressed;
	uint32_t warn_count;
};

/* The I/O thread. */
struct net_io {
	pthread_t thread;
	bool started;
	bool stopping;
	int wake; /* eventfd: wakes it */
	int epfd; /* what it waits on: wake, the listening socket, every connection */
	struct net_ep wake_ep, listen_ep;
};

/* What a handle moved, for psyne_channel_stats() and the stats page. */
struct net_counters {
	uint64_t sent, sent_bytes, received, received_bytes;
	uint64_t reconnects;   /* sessions that came back on a new connection */
	uint64_t bad_sessions; /* sessions dropped for breaking the protocol */
};

/* A stream handle. */
struct net_chan {
	struct psyne_channel base;
	const struct psyne_net_family *family;
	struct psyne_net_addr addr;
	char where[PSYNE_URI_MAX]; /* scheme://address, for log lines */
	struct net_config cfg;
	struct psyne_tls_ctx *tls; /* tls:// */

	pthread_mutex_t lock;
	struct net_io io;
	int user_wake; /* eventfd: wakes a caller waiting in poll() */
	unsigned user_waiting;
	bool ever_up; /* a session existed once */
	/*
	 * Sessions that proved themselves, and those of them that then broke the protocol. A
	 * listener's calls say everyone has gone (-EPIPE, -ECONNRESET) only once a session
	 * that proved itself and did not break the protocol has come and gone: a bad peer, or
	 * one that never did anything, leaves the listener as it found it.
	 */
	uint64_t proved, proved_bad;
	uint64_t told; /* proved - proved_bad when a listener's call last said so */

	struct net_peer **peers;
	uint32_t n_peers;
	uint32_t rr; /* round robin: next peer to look at */
	struct net_listen lis;

	struct net_counters count;
	int last_error; /* why the last session ended (the stats page) */
	int end_error;	/* why the last session that proved itself and did not break the
			 * protocol ended */
	/* memfd messages reserved and not yet acknowledged: their descriptors and bytes */
	uint32_t memfds;
	uint64_t memfd_bytes;
	struct psyne_netstat *page; /* what psyne stat shows; NULL when it could not be made */
};

/* ---- small helpers -------------------------------------------------------------------- */

static inline uint64_t net_now(void)
{
	return now_nsec(CLOCK_MONOTONIC);
}

static inline uint64_t net_ms(uint32_t v)
{
	return (uint64_t)v * 1000000ull;
}

/* The bytes a frame of `payload` bytes takes, padded to NET_FRAME_ALIGN. */
static inline uint32_t net_frame_bytes(uint32_t payload)
{
	return ALIGN_TO(PSYNE_FRAME_HDR_SIZE + payload, NET_FRAME_ALIGN);
}

static inline bool net_hdr_is_memfd(const uint8_t *hdr)
{
	uint16_t flags;

	memcpy(&flags, hdr + 6, 2);
	return (le16toh(flags) & PSYNE_FRAME_F_MEMFD) != 0;
}

/* The bytes a frame takes in the stream: its header alone for a memfd one. */
static inline uint32_t net_stream_bytes(const uint8_t *hdr)
{
	uint32_t len;

	if (net_hdr_is_memfd(hdr))
		return PSYNE_FRAME_HDR_SIZE;
	memcpy(&len, hdr + 12, 4);
	return net_frame_bytes(le32toh(len));
}

static inline void net_kick(int efd)
{
	uint64_t one = 1;

	/* An eventfd write fails only when the counter would overflow: it is awake anyway. */
	(void)!write(efd, &one, sizeof(one));
}

static inline void net_drain_eventfd(int efd)
{
	uint64_t v;

	(void)!read(efd, &v, sizeof(v)); /* EAGAIN: nothing was pending */
}

/* A TLS connection reads and writes through one object: never from two threads at once. */
static inline bool net_can_read(const struct net_peer *p)
{
	return !p->conn.reading && !(p->conn.tls && p->conn.writing);
}

static inline bool net_can_write(const struct net_peer *p)
{
	return !p->conn.writing && !(p->conn.tls && p->conn.reading);
}

/* Something a waiting caller cares about changed. */
static inline void net_wake_user(struct net_chan *c)
{
	if (c->user_waiting > 0)
		net_kick(c->user_wake);
}

/* ---- net_rx.c: the receive parser ------------------------------------------------------ */

/* Sets up `rx` with a ring of `capacity` bytes; undo with psyne__net_rx_done(). */
int psyne__net_rx_init(struct net_rx *rx, uint64_t capacity, uint32_t max_msg, bool fd_passing);

/* Unmaps what is mapped, closes what is held; `rx` may be zeroed or half set up. */
void psyne__net_rx_done(struct net_rx *rx);

/* Bytes the ring has room for. */
static inline uint64_t net_rx_room(const struct net_rx *rx)
{
	return rx->buf.capacity - (rx->filled - rx->free);
}

/*
 * Queues descriptors received with the stream (unix://), for the memfd frames still to be
 * parsed. -EPROTO, with the extra ones closed, when more are ahead of their frames than
 * NET_RX_FDS.
 */
int psyne__net_rx_push_fds(struct net_rx *rx, const int *fds, unsigned n);

/* A connection ended: the rest of a frame that did not complete is dropped with it, and
 * the descriptors received for frames never parsed are closed. */
void psyne__net_rx_reset_connection(struct net_rx *rx);

/*
 * Checks the frames read so far, marking each, and acts on DATA (sequence, duplicates,
 * memfds). Returns 1 with *ret an event for the first frame the session must act on (the
 * frame is consumed), 0 when every complete frame is parsed, or a negative errno when the
 * peer sent something it must not have (the session must then be dropped): what
 * psyne__frame_decode() and psyne__frame_verify() say, -EPROTO for DATA before the session
 * is `up`, a gap in the sequence, or a memfd frame without its sealed memfd. Call it again
 * after each event.
 */
int psyne__net_rx_parse(struct net_rx *rx, bool up, struct net_rx_event *ret);

/* Messages parsed and not handed out are dropped: the session was refused. */
void psyne__net_rx_discard(struct net_rx *rx);

/* Frames released (and control frames) at the head of the ring go back to it. */
void psyne__net_rx_collect(struct net_rx *rx);

/* Whether enough arrived unacknowledged that an ACK should go now. */
static inline bool net_rx_ack_due(const struct net_rx *rx)
{
	return rx->seq != UINT64_MAX && rx->unacked > 0 &&
	       rx->unacked >= MAX(rx->remote_window / 4, (uint64_t)1);
}

/* Bytes of the frame being read that are not in yet; 0 when none is incomplete. */
uint64_t psyne__net_rx_missing(const struct net_rx *rx);

/*
 * The next whole message, marked held: its view in *ret, with `owner` in priv[1]. -EAGAIN
 * when none is there, -EMSGSIZE when it is larger than `max_size` (it stays queued),
 * -EPROTO when a memfd message has no mapping.
 */
int psyne__net_rx_take(struct net_rx *rx, size_t max_size, const void *owner,
		       struct psyne_msg *ret);

/* Releases a message taken from `rx`; false when `msg` is not one held. */
bool psyne__net_rx_release(struct net_rx *rx, const struct psyne_msg *msg);

/* ---- net_tx.c: the send side ---------------------------------------------------------- */

static inline struct net_slot *net_slot_at(struct net_peer *p, uint64_t pos)
{
	return (struct net_slot *)psyne__dbuf_at(&p->tx.buf, pos);
}

/* The memfd of a memfd slot; NULL for any other. */
struct net_memfd_ref *psyne__net_slot_memfd(struct net_slot *s);

/* Lets go of a memfd slot's descriptor and mapping (acknowledged, cancelled, freed). */
void psyne__net_slot_memfd_drop(struct net_chan *c, struct net_slot *s);

/* Frees what the send side holds beyond its ring: memfds of unacknowledged slots, stage. */
void psyne__net_tx_done(struct net_peer *p);

/* A memfd for a message of `size` bytes, mapped for the caller to write into. */
int psyne__net_memfd_reserve(struct net_slot *s, size_t size, uint8_t **ret_data);

/* Commit of a memfd message: unmap it, trim it to its size and seal it for good. */
int psyne__net_memfd_commit(struct net_memfd_ref *m, size_t size);

/* sendmsg() or its TLS counterpart; `pass_fd` >= 0 goes along with the first byte. */
ssize_t psyne__net_stream_writev(struct psyne_tls *tls, int fd, struct iovec *iov, int n,
				 int pass_fd);

/* Queues a control frame; false when the queue is full (what matters is sent again). */
bool psyne__net_ctl_append(struct net_peer *p, uint8_t kind, uint64_t seq, const void *payload,
			   uint32_t len);

/* Queues our HELLO, saying we expect `next_seq` next. */
void psyne__net_send_hello(struct net_peer *p, uint64_t next_seq);

/* Writes a REJECT to a connection about to be closed, best effort. */
void psyne__net_send_reject(struct psyne_tls *tls, int fd, int err, const char *reason);

/* Moves `ready` over slots committed or cancelled in order, numbering them. */
void psyne__net_tx_advance_ready(struct net_peer *p);

/* Frees acknowledged slots: every DATA below seq `upto`. */
void psyne__net_tx_ack(struct net_peer *p, uint64_t upto);

/* Whether anything waits to be written. */
bool psyne__net_tx_pending(struct net_peer *p);

/*
 * Writes what is pending without blocking; drops the lock around the system call. Returns
 * true when everything pending went out.
 */
bool psyne__net_tx_flush(struct net_peer *p);

/* ---- net_session.c: sessions ----------------------------------------------------------- */

/* A new session, DOWN, added to the handle's list. */
int psyne__net_peer_new(struct net_chan *c, uint64_t session, struct net_peer **ret);

/* Frees a session that is in no list (any more); NULL-safe. */
void psyne__net_peer_free(struct net_peer *p);

/* Connection lost (or refused): close it; the session lives on unless `err` ends it. */
void psyne__net_peer_down(struct net_peer *p, int err, const char *why);

/*
 * The session is over, for `err`. A protocol error (-EPROTO, -EBADMSG, -EMSGSIZE,
 * -EPROTONOSUPPORT) is the peer's fault: counted as a bad session, and not what a
 * listener's calls report.
 */
void psyne__net_peer_gone(struct net_peer *p, int err);

/*
 * Whether the calls should say that everyone has gone, once no session is left: a dialer's
 * always; a listener's when a session that proved itself and did not break the protocol
 * has ended since they last said so. A listener is a server: it says so once, then waits
 * for the next dialer as it waited for the first, rather than saying it again at once to
 * a caller that goes on (a loop that retried spun).
 */
static inline bool net_served(const struct net_chan *c)
{
	return !c->cfg.listener || c->proved - c->proved_bad > c->told;
}

/* Why nothing can be sent or received any more (-EPIPE after orderly closes), said once. */
static inline int net_gone_error(struct net_chan *c)
{
	int e = c->cfg.listener ? c->end_error : c->last_error;

	c->told = c->proved - c->proved_bad;
	return e < 0 ? e : -EPIPE;
}

/* The handshake is done: the session is up on its connection. */
void psyne__net_peer_up(struct net_peer *p);

/* Resend from `next_seq` on: what the peer has below it counts as acknowledged. */
void psyne__net_peer_resume(struct net_peer *p, uint64_t next_seq);

/* Closes a socket another thread was using when the session dropped it, once it is back. */
void psyne__net_fd_settle(struct net_peer *p);

/* TCP_NODELAY and the like, on a new connection. */
void psyne__net_socket_setup(struct net_chan *c, int fd);

/* recv() or its TLS counterpart: bytes, 0 at the peer's close, or a negative errno. */
ssize_t psyne__net_stream_read(struct psyne_tls *tls, int fd, void *buf, size_t len, bool block);

/*
 * Reads what the socket has, without blocking, or with `block` waiting for it (see
 * wait_in_read()); drops the lock around the system call. Returns the bytes read, 0 when
 * nothing was there or no room was left, or a negative errno when the connection broke (it
 * is then down).
 */
ssize_t psyne__net_rx_read(struct net_peer *p, bool block);

/* The next message of one session, if a whole one is there, counted as received. */
int psyne__net_take_message(struct net_peer *p, size_t max_size, struct psyne_msg *ret);

/* Timers: dialing, handshakes, heartbeats, dead peers. Returns the next deadline. */
uint64_t psyne__net_peers_tick(struct net_chan *c);

/* Frees sessions that are over, drained and not referenced by a held message. */
void psyne__net_peers_reap(struct net_chan *c);

/* The stats page: after a commit, after a message was taken or released, all of it. */
void psyne__net_page_sent(struct net_peer *p);
void psyne__net_page_received(struct net_peer *p, bool taken);
void psyne__net_page_sync(struct net_chan *c);
/* Made before the I/O thread starts, published once the handle works; without the lock. */
void psyne__net_page_open(struct net_chan *c, const struct psyne_uri *uri);
void psyne__net_page_publish(struct net_chan *c);

/* ---- net_options.c: the options ------------------------------------------------------- */

/*
 * Reads every option of `uri` that a handle of `family` takes into *ret, each checked
 * against its kind and bounds, with the defaults for the others. -EINVAL, with a line
 * logged that names it, for a bad value or an option of another scheme or side; options
 * it does not know are left unread for psyne__uri_check_used() to name.
 */
int psyne__net_options_parse(const struct psyne_net_family *family, struct psyne_uri *uri,
			     struct net_options *ret);

/* ---- net.c: the I/O thread ------------------------------------------------------------ */

/*
 * Makes the I/O thread wait for `events` (EPOLLIN, EPOLLOUT; 0: only hang-ups and errors)
 * on `fd`, for `e`: registers it when `e` is not registered yet, changes it only when the
 * events or the descriptor differ. Any thread may call it, with the lock held. 0, or a
 * negative errno from epoll_ctl().
 */
int psyne__net_watch(struct net_chan *c, struct net_ep *e, int fd, uint32_t events);

/* Unregisters `e`, before its descriptor is closed or handed on; NULL-safe, idempotent. */
void psyne__net_unwatch(struct net_chan *c, struct net_ep *e);

/* ---- net_dial.c: the dialer ------------------------------------------------------------ */

/* Starts a connection for a DOWN session. */
int psyne__net_dial(struct net_peer *p);

/* The next dial waits (doubling, with jitter), on the next address. */
void psyne__net_backoff(struct net_peer *p);

/*
 * A dial failed with `err` (the connection is down): the next one is for later, unless
 * every address refused the first try of a session never up, which ends it at once.
 */
void psyne__net_dial_failed(struct net_peer *p, int err);

/* The socket of a CONNECTING session is ready: the connection completed or failed. */
void psyne__net_dial_done(struct net_peer *p);

/* The dialer's TLS handshake: go on with it; once done, say HELLO. */
void psyne__net_tls_step(struct net_peer *p);

/* The dialer's side of HELLO: the listener's answer. -EPROTO when it does not fit. */
int psyne__net_dial_hello(struct net_peer *p, const uint8_t *payload);

/* The dialer's first session: waits for it up to connect_timeout. */
int psyne__net_dial_first(struct net_chan *c);

/* ---- net_listen.c: the listener -------------------------------------------------------- */

/* Binds and listens on the handle's address. Without the lock, before the I/O thread. */
int psyne__net_listen_open(struct net_chan *c);

/* Logs a refusal or a dropped peer, at most 20 lines per 10 s. */
void psyne__net_listener_warn(struct net_chan *c, const char *fmt, ...) _printf_(2, 3);

/* Accepts the connections waiting, up to NET_ACCEPT_BATCH a turn. */
void psyne__net_accept_all(struct net_chan *c);

/* The connection of pending[i] is readable (or writable for TLS): go on with its handshake. */
void psyne__net_pending_read(struct net_chan *c, uint32_t i);

/* Drops pending[i]. */
void psyne__net_pending_close(struct net_chan *c, uint32_t i);

/*
 * A session did real work (see `proved`): on a listener it now counts against max_peers.
 * -EBUSY (spsc) or -EUSERS when max_peers proved sessions are there already: the session
 * is then refused, a REJECT is on its way, and what it sent is discarded; the caller drops
 * it. `placed`: it needs no place (it said BYE), or its admission gave it one already (an
 * authenticated TLS handshake).
 */
int psyne__net_peer_prove(struct net_peer *p, bool placed);

/* Handshakes past their deadline are dropped. Returns the next deadline. */
uint64_t psyne__net_pending_tick(struct net_chan *c);

#endif
