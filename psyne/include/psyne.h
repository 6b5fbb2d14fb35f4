/* SPDX-License-Identifier: MIT */
/*
 * libpsyne: zero-copy messaging over rings of pre-allocated memory, in one process, between
 * processes, and over the network.
 *
 * A producer reserves space in a channel, writes the message in place and commits it; a
 * consumer receives a view of the message, reads it in place and releases it. The same
 * calls work on every transport, chosen by the URI scheme:
 *
 *   memory://NAME   channel inside one process (threads)
 *   ipc://NAME      channel between processes on one machine (shared memory)
 *   unix://PATH     stream over a unix socket (unix://@NAME: abstract, no file)
 *   tcp://HOST:PORT stream over TCP
 *   tls://HOST:PORT stream over TCP with TLS 1.3
 *   udp://HOST:PORT one message per datagram, unicast or multicast
 *
 * Options follow as a query: `?mode=spsc|mpsc|spmc|mpmc` (default spsc),
 * `&capacity=1M` (ring bytes; K, M and G suffixes; rounded up to a power of two; at least
 * 4K, at most 1G; default 1M) and `&wait=auto|spin|block` (how this handle waits: auto, the
 * default, spins only while the other side runs on another CPU and sleeps otherwise; spin
 * never sleeps, for threads pinned to CPUs of their own; block never spins). Several producers or
 * consumers each open their own handle on the same URI. In the spmc and mpmc modes each message
 * goes to exactly one consumer. A handle becomes a producer on its first reserve or send, and a
 * consumer on its first receive or recv.
 *
 * Joining: the second and later openers of a NAME may leave `mode` and `capacity` out and
 * get the channel's; naming a different one fails with -EEXIST. NAME is 1 to 48
 * characters of [A-Za-z0-9._-].
 *
 * Streams (unix://, tcp://, tls://; docs/psyne.md, sections "Streams" and "TLS"): with
 * `?listen` the handle binds and accepts many dialers (one with spsc), receives from all of
 * them in turn and sends each message to one of them; without it, it dials, and open waits
 * up to connect_timeout for the first session (or fails with -ECONNREFUSED at once when
 * every address of the host refuses the first try). Within a session every committed message
 * arrives once and in order while both processes live, across broken connections: the
 * dialer dials again and the sender resends what was not acknowledged. HOST is a name, an
 * IPv4 address or an IPv6 address in brackets. Options (MS: milliseconds, at most a day):
 *   capacity=SIZE        each of a session's send and receive rings, 64K to 1G (default
 *                        1M); the largest message is capacity/2 - 64
 *   heartbeat=MS         PING after this much silence, 10 to 600000 (default 500)
 *   peer_timeout=MS      drop a connection that heard nothing this long, at least the
 *                        heartbeat (default 2000)
 *   reconnect=MS         end a session not back this long after it broke (default 30000,
 *                        0: never); the calls then fail with -ECONNRESET
 *   connect_timeout=MS   dialer: open waits this long for its session, from 1 (default 5000)
 *   linger=MS            close waits this long for what was committed to be acknowledged
 *                        (default 5000)
 *   max_peers=N          listener: sessions it serves, 1 to 1024 (default 64; spsc: 1)
 *   nodelay=0|1          tcp, tls: 0 leaves Nagle's algorithm on (default 1)
 *   memfd_min=SIZE       unix: messages this large (default 64K; 0: none) travel as sealed
 *                        memfds the receiver maps: no copy at all, and up to 1G each
 * An option of another scheme or of the other side (max_peers on a dialer), or a value
 * out of its range, fails the open with -EINVAL, and the log says which.
 * tls:// adds cert=PEM, key=PEM, ca=PEM (a dialer checks the listener against it, default
 * the system store; a listener with ca= requires dialers to show a certificate it signed),
 * verify=0 (dialer only: do not check), or psk=HEX (16 to 64 bytes) and psk_identity=NAME for a
 * pre-shared key instead of certificates, which each side then requires the other to prove.
 *
 * udp://HOST:PORT carries one message per datagram (docs/psyne.md, section "udp"). HOST is
 * a name, an IPv4 address or an IPv6 address in brackets. With `?listen` the handle binds
 * HOST:PORT (`*`: every address) and receives from anyone; what it sends goes to the sender
 * of the last message it received. Without it the handle sends to HOST:PORT and receives
 * what comes back from there. A multicast HOST (224.0.0.0/4, ff00::/8) makes a listener
 * join the group; several listeners on one host may share a group and port. Options:
 *   max_msg=SIZE    largest message, 1 to 65475 bytes (65507 - 32); default 1440 over IPv4
 *                   and 1420 over IPv6, so that a datagram crosses a 1500-byte MTU whole.
 *                   Reserving more fails with -EMSGSIZE; a larger datagram received is
 *                   dropped and counted (too_big): a receiver needs the senders' max_msg.
 *   capacity=SIZE   receive buffer: slots of 32 + max_msg bytes rounded up to 64, at least
 *                   16 of them (default 1M)
 *   max_senders=N   sender streams tracked for loss accounting, 1 to 4096 (default 64);
 *                   the one heard from least recently makes room for a new one
 *   iface=NAME      multicast only: the interface to join on and send from
 *   ttl=N           multicast only: hops a datagram may take, 0 to 255 (default 1)
 *   loop=0|1        multicast only: whether this host's own members get what it sends
 *                   (default 1)
 * Delivery is at most once, in arrival order: a message may be lost or overtaken (it is
 * delivered when it comes and counted as reordered); duplicates are dropped. Counters:
 * psyne_channel_udp_stats(). There is no connection, so receive never returns -EPIPE.
 *
 * Timeouts: < 0 waits forever, 0 never waits (-EAGAIN), > 0 waits up to that many
 * milliseconds (-ETIMEDOUT).
 *
 * Every function returns 0 (or a count) on success and a negative errno on failure;
 * psyne_strerror() gives the text. The codes:
 *   -EINVAL           bad argument or malformed URI
 *   -EPROTONOSUPPORT  unknown URI scheme
 *   -EEXIST           the channel exists with another mode or capacity
 *   -EBUSY            a second producer on spsc/spmc, or a second consumer on spsc/mpsc
 *   -EMSGSIZE         the message can never fit (reserve: larger than capacity/2 - 32),
 *                     or the buffer is too small (recv, which leaves the message queued)
 *   -EPIPE            every peer on the other side has closed or died and nothing is left
 *                     to read (a stream listener says so once, then waits for the next
 *                     dialer)
 *   -EAGAIN           timeout 0 and nothing could be done now
 *   -ETIMEDOUT        the timeout passed
 *   -EPROTO           the shared segment is corrupt (a record or index out of bounds)
 *   -EDESTADDRREQ     udp: a listener reserved before it received anything to reply to
 *   -ENOBUFS          udp: every receive slot is held (release some), or every one of the
 *                     64 send slots is a reservation not yet committed
 *   -EOPNOTSUPP       psyne_channel_udp_stats() on a handle of another transport
 *   -ECONNRESET       streams: the session broke and did not come back within reconnect
 *   -EACCES           tls: the peer refused our credentials or showed no acceptable ones
 *   -EBADMSG          streams, a dialer: the listener sent a frame that failed its CRC
 *                     (the session is dropped; -EPROTO for a malformed one). A listener
 *                     drops a peer that does either and goes on serving the others: its
 *                     calls never report what one peer did
 *   -EUSERS           streams: the listener serves max_peers sessions already (open); a
 *                     session counts once it has proved itself: delivered a message, had
 *                     one acknowledged, closed in order, or passed an authenticating TLS
 *                     handshake (docs/psyne.md, "Streams")
 *   -ECONNREFUSED     streams: nobody listens at the address (open)
 *   -ENOMEM, -EMFILE, ... as the system reports them
 *
 * Threads: a handle is used by one thread at a time. Different handles on one channel may
 * be used by different threads or processes at once.
 *
 * Crashes: when a process dies (even by SIGKILL) the survivors notice within 100 ms: a
 * consumer drains what was committed and then gets -EPIPE; space a dead producer had
 * reserved but not committed is reclaimed; messages a dead consumer had received but not
 * released are dropped and counted. When the last user of an ipc:// channel exits or is
 * killed, nothing of it remains on the filesystem.
 */
#ifndef PSYNE_H
#define PSYNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(PSYNE_BUILDING)
#define PSYNE_API __attribute__((visibility("default")))
#else
#define PSYNE_API
#endif

#define PSYNE_VERSION_MAJOR 0
#define PSYNE_VERSION_MINOR 1

/* An open channel; opaque; used by one thread at a time. */
struct psyne_channel;

/*
 * A view into channel memory. `data` stays valid until the message is committed or
 * cancelled (producer) or released (consumer), and until then only.
 */
struct psyne_msg {
	void *data;
	size_t size;
	uint32_t type;	  /* caller-defined tag */
	uint64_t priv[2]; /* the library's; do not touch */
};

/*
 * Opens (creating it if needed) the channel named by `uri`. On success *ret_channel is a
 * new handle the caller owns and must pass to psyne_close().
 */
PSYNE_API int psyne_open(const char *uri, struct psyne_channel **ret_channel);

/* Closes a handle; NULL-safe. Messages it reserved and did not commit are cancelled. */
PSYNE_API void psyne_close(struct psyne_channel *channel);

/*
 * Reserves `size` bytes for a message and returns a view of them in *ret_msg. The caller
 * writes the payload in place, then calls psyne_commit() or psyne_cancel(). A handle may
 * hold several reservations; they are delivered in reservation order.
 */
PSYNE_API int psyne_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
			    struct psyne_msg *ret_msg);

/* Publishes msg->size bytes (which may be smaller than reserved) and msg->type. */
PSYNE_API int psyne_commit(struct psyne_channel *ch, struct psyne_msg *msg);

/* Gives a reservation back unpublished. */
PSYNE_API void psyne_cancel(struct psyne_channel *ch, struct psyne_msg *msg);

/*
 * Receives the next message as a view into channel memory, valid until psyne_release().
 * A handle may hold several received messages and release them in any order.
 */
PSYNE_API int psyne_receive(struct psyne_channel *ch, int timeout_ms, struct psyne_msg *ret_msg);

/* Hands a received message's memory back to the producers. */
PSYNE_API void psyne_release(struct psyne_channel *ch, struct psyne_msg *msg);

/* Copying convenience: reserve, copy `size` bytes of `data`, commit. */
PSYNE_API int psyne_send(struct psyne_channel *ch, const void *data, size_t size, uint32_t type,
			 int timeout_ms);

/*
 * Copying convenience: receive into `buf` (capacity `cap`), returning the message size.
 * -EMSGSIZE when `cap` is too small; the message then stays queued.
 */
PSYNE_API int psyne_recv(struct psyne_channel *ch, void *buf, size_t cap, uint32_t *ret_type,
			 int timeout_ms);

/* The text for a psyne error code (negative or positive errno); never NULL. */
PSYNE_API const char *psyne_strerror(int err);

/*
 * Diagnostics. The library never writes to stderr, or anywhere else, by itself: it hands
 * each message to the function set here, and says nothing while none is set (the default).
 * A message is one line, without a newline and without a "psyne: " prefix, and names its
 * subject (an address, a channel). Its level is syslog's:
 *   PSYNE_LOG_ERR      an open failed, and this says why in more words than its error code
 *   PSYNE_LOG_WARNING  something was refused or dropped and the library carries on (a peer
 *                      that failed authentication, a bad datagram)
 *   PSYNE_LOG_INFO     a session came up, went down, came back
 *   PSYNE_LOG_DEBUG    everything else
 * Messages above `max_level` are not even formatted. `func` may be called from any thread,
 * the library's own I/O threads included, at any time until the handles that can produce
 * messages are closed; it must not call into libpsyne. `userdata` is passed to it as is.
 * Setting another function (or NULL: silence) is allowed while other threads use the
 * library: each message goes to the old function or to the new one.
 */
#define PSYNE_LOG_ERR 3
#define PSYNE_LOG_WARNING 4
#define PSYNE_LOG_INFO 6
#define PSYNE_LOG_DEBUG 7
typedef void (*psyne_log_func)(int level, const char *message, void *userdata);
PSYNE_API void psyne_set_log_func(psyne_log_func func, int max_level, void *userdata);

/* Counters of one channel as seen through one handle; see psyne_channel_stats(). */
struct psyne_stats {
	uint64_t capacity;  /* ring bytes */
	uint64_t used;	    /* bytes reserved or unreleased right now */
	uint32_t mode;	    /* 0 spsc, 1 mpsc, 2 spmc, 3 mpmc */
	uint32_t producers; /* live producers */
	uint32_t consumers; /* live consumers */
	uint32_t reserved0;
	uint64_t messages;   /* messages committed on the channel */
	uint64_t bytes;	     /* payload bytes committed on the channel */
	uint64_t dropped;    /* messages lost with a dead consumer */
	uint64_t reclaimed;  /* reservations reclaimed from dead producers */
	uint64_t reconnects; /* network: times a session came back on a new connection */
	uint64_t received;   /* network: messages this handle received */
	uint64_t received_bytes;
	uint64_t reserved1[1];
};

/* Fills *ret_stats with the channel's counters. */
PSYNE_API int psyne_channel_stats(struct psyne_channel *ch, struct psyne_stats *ret_stats);

/*
 * Counters of a udp:// handle's receiving side; see psyne_channel_udp_stats(). Each sender
 * stream numbers its datagrams, and lost, reordered, duplicates and late follow those
 * numbers per stream from the first datagram heard of it: a number past the newest is
 * delivered and the ones it skips count as lost; a missing one that arrives later (within
 * 1024 of the newest) is delivered, counted as reordered and no longer as lost; one that
 * arrived before is a duplicate; one further back, or older than the first heard, is late.
 * bad: not one whole, valid DATA frame (magic, version, kind, length field, CRC32C).
 * send_errors: committed datagrams dropped after their commit returned (the kernel refused
 * them when they left the queue, or the sender a reply was for was forgotten). Every
 * datagram that arrives is counted exactly once: in received, or in one of duplicates,
 * late, bad and too_big, which are dropped.
 */
struct psyne_udp_stats {
	uint64_t received;    /* datagrams accepted as messages */
	uint64_t lost;	      /* numbers skipped that have not arrived (yet) */
	uint64_t reordered;   /* arrived after a later one of their stream */
	uint64_t duplicates;  /* arrived before */
	uint64_t late;	      /* too old to tell from a duplicate */
	uint64_t bad;	      /* not a valid DATA frame */
	uint64_t too_big;     /* larger than 32 + max_msg bytes */
	uint64_t senders;     /* sender streams tracked now */
	uint64_t evicted;     /* streams forgotten to make room for new ones */
	uint64_t send_errors; /* committed datagrams that never left */
	uint64_t max_msg;     /* the handle's largest message, bytes */
	uint64_t reserved[5];
};

/*
 * Fills *ret_stats with the udp:// counters of `ch`. -EINVAL for NULL arguments;
 * -EOPNOTSUPP when `ch` is not a udp:// handle.
 */
PSYNE_API int psyne_channel_udp_stats(struct psyne_channel *ch, struct psyne_udp_stats *ret_stats);

#ifdef __cplusplus
}
#endif

#endif /* PSYNE_H */
