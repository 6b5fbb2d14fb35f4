/* SPDX-License-Identifier: MIT */
/*
 * The receiving side of udp:// without its socket: the checks each datagram must pass and
 * the per-sender sequence accounting. transport_udp.c feeds it what recvmmsg() returns, and
 * fuzz-udp feeds it hostile datagrams directly.
 *
 * Streams. A DATA frame's 64-bit seq is split in two: the upper 32 bits name the sending
 * *stream*, drawn at random when the stream begins, and the lower 32 bits count that
 * stream's datagrams from 0. A dialer handle is one stream; a listener's replies to each
 * sender are a stream of their own. The frame has no other room for an id, and the source
 * address alone is not enough: several handles can send from one address (listeners that
 * share a multicast group and port reply from the same one) and a restarted sender may
 * reuse it. A receiver keys its state by (source address, stream id).
 *
 * Accounting. Per stream the receiver keeps the highest counter heard (`head`) and a bitmap
 * of which of the PSYNE_UDP_WINDOW counters up to it arrived, compared in serial arithmetic
 * (RFC 1982) so that the counter may wrap. A counter past head moves head, and the ones it
 * skipped count as lost. A missing counter that arrives later, still inside the window, is
 * delivered and counted as reordered (and no longer as lost); one that arrived before is a
 * duplicate, dropped. One older than the window, or older than the first datagram heard of
 * the stream, cannot be told from a duplicate: it is late, dropped. Delivery stays in arrival
 * order; nothing is held back to restore the senders' order.
 */
#ifndef PSYNE_UDP_H
#define PSYNE_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "psyne.h"

#define PSYNE_UDP_WINDOW 1024u	    /* counters per stream whose arrival is remembered */
#define PSYNE_UDP_MAX_SENDERS 4096u /* the largest max_senders= */
#define PSYNE_UDP_WARNED_MAX 32u    /* sources of bad datagrams named in a log line */

union psyne_udp_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* The seq of counter `n` of stream `stream`. */
static inline uint64_t psyne__udp_seq(uint32_t stream, uint32_t n)
{
	return (uint64_t)stream << 32 | n;
}

/* What a receiver knows of one sender stream, and of its own replies to that sender. */
struct psyne_udp_sender {
	union psyne_udp_addr addr;
	uint32_t stream;       /* upper half of the stream's seq */
	uint32_t head;	       /* the highest counter heard */
	uint32_t span;	       /* counters up to head that `seen` covers: 1..WINDOW */
	uint32_t gen;	       /* bumped each time the entry is given to another stream */
	uint64_t last_heard;   /* rx tick of the last datagram accepted */
	uint32_t reply_stream; /* our stream of replies to this sender */
	uint32_t reply_next;   /* its next counter */
	uint64_t seen[PSYNE_UDP_WINDOW / 64]; /* bit n % WINDOW: counter n arrived */
};

/* A receiver's table of sender streams and its counters. The fields are private. */
struct psyne_udp_rx {
	char name[128]; /* for log lines: "udp://HOST:PORT" */
	uint32_t max_msg;
	uint32_t max_senders;
	uint32_t n_senders; /* entries in use: senders[0 .. n_senders) */
	uint32_t last;	    /* the entry that matched last: tried first */
	uint32_t reply_base;
	uint32_t n_streams; /* entries ever filled; numbers the reply streams */
	uint64_t tick;
	struct psyne_udp_sender *senders;
	union psyne_udp_addr warned[PSYNE_UDP_WARNED_MAX];
	uint32_t n_warned;
	bool warned_full;
	struct psyne_udp_stats stats; /* all but senders and max_msg */
};

/*
 * Sets up *rx for messages of at most `max_msg` bytes and `max_senders` streams
 * (1..PSYNE_UDP_MAX_SENDERS). Reply streams are numbered from `reply_base`, which should be
 * random. `name` appears in log lines. -EINVAL, -ENOMEM. Undo with psyne__udp_rx_done().
 */
int psyne__udp_rx_init(struct psyne_udp_rx *rx, const char *name, uint32_t max_msg,
		       uint32_t max_senders, uint32_t reply_base);

/* Frees the table; *rx may be zeroed, set up or done already. */
void psyne__udp_rx_done(struct psyne_udp_rx *rx);

/*
 * Checks and accounts one datagram of `len` bytes at `buf` from `from` (any family; `len`
 * as received, `truncated` when the datagram was longer than what was read of it). Returns
 * the index of the sender entry (>= 0) when the datagram is a message to deliver: its
 * payload follows the 32-byte header and its size is len - 32. Otherwise the datagram was
 * dropped, counted, and logged at warning once per source address for the first two:
 *   -EMSGSIZE  larger than 32 + max_msg, or truncated (too_big)
 *   -EBADMSG   not one whole, valid DATA frame (bad)
 *   -EALREADY  a duplicate (duplicates)
 *   -ESTALE    too old to tell from a duplicate (late)
 * Never fails otherwise: a new stream takes a free entry or evicts the one heard from least
 * recently.
 */
int psyne__udp_rx_datagram(struct psyne_udp_rx *rx, const void *buf, size_t len, bool truncated,
			   const struct sockaddr *from, socklen_t from_len);

/* The entry at `index` while it belongs to generation `gen`, else NULL. */
struct psyne_udp_sender *psyne__udp_rx_sender(struct psyne_udp_rx *rx, uint32_t index,
					      uint32_t gen);

/* Writes "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of `a` to `buf` and returns `buf`. */
char *psyne__udp_addr_format(const union psyne_udp_addr *a, char *buf, size_t size);

/* The bytes of `a` that a system call takes: by its family. */
socklen_t psyne__udp_addr_len(const union psyne_udp_addr *a);

#endif
