/* SPDX-License-Identifier: MIT */
/*
 * The stream transports (unix://, tcp://, tls://) share one session engine: each handle
 * keeps, per peer, a ring of outgoing frames and a ring of incoming ones, and moves them
 * over a socket (net_internal.h tells how, and which file does what). A transport only says
 * how its addresses are resolved.
 */
#ifndef PSYNE_NET_H
#define PSYNE_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "channel.h"

#define PSYNE_NET_ADDRS 4

struct psyne_net_addr {
	struct sockaddr_storage ss; /* the one in use */
	socklen_t len;
	/* A dialer's name may resolve to several (localhost: ::1 and 127.0.0.1): a dial that
	 * fails moves on to the next. */
	struct sockaddr_storage all[PSYNE_NET_ADDRS];
	socklen_t all_len[PSYNE_NET_ADDRS];
	unsigned n_all, cur;
	bool unlink_on_close; /* a unix socket path this handle created */
	char text[128];	      /* for log lines */
};

/* Which stream transport a family is, for the options each takes (net_options.c). */
#define PSYNE_NET_UNIX 1u
#define PSYNE_NET_TCP 2u
#define PSYNE_NET_TLS 4u

struct psyne_net_family {
	const struct psyne_transport *transport;
	/* PSYNE_NET_TLS: TLS 1.3 over the socket (tls.c); PSYNE_NET_UNIX: large messages
	 * travel as sealed memfds. Also which options it takes (net_options.c). */
	uint32_t scheme;
	/* Parses the URI's address into a socket address; -EINVAL with a log line if bad. */
	int (*resolve)(const char *address, bool listen, struct psyne_net_addr *ret);
};

/* HOST:PORT for tcp:// and tls:// (transport_tcp.c). */
int psyne__tcp_resolve(const char *address, bool listen, struct psyne_net_addr *ret);

/* Opens a stream channel: a listener with ?listen, else a dialer. */
int psyne__net_open(const struct psyne_net_family *family, struct psyne_uri *uri,
		    struct psyne_channel **ret_channel);

void psyne__net_close(struct psyne_channel *ch);
int psyne__net_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
		       struct psyne_msg *ret_msg);
int psyne__net_commit(struct psyne_channel *ch, struct psyne_msg *msg);
void psyne__net_cancel(struct psyne_channel *ch, struct psyne_msg *msg);
int psyne__net_receive(struct psyne_channel *ch, int timeout_ms, size_t max_size,
		       struct psyne_msg *ret_msg);
void psyne__net_release(struct psyne_channel *ch, struct psyne_msg *msg);
int psyne__net_stats(struct psyne_channel *ch, struct psyne_stats *ret_stats);

/*
 * The receive path without a socket or a lock, for the fuzzer (net_rx.c): the parser's
 * error, or the low 31 bits of the sum of the bytes of the messages taken.
 */
int psyne__net_fuzz_stream(const uint8_t *data, size_t len, size_t chunk, bool hello);

/* clang-format off */
#define PSYNE_NET_CHANNEL_OPS                 \
	.close = psyne__net_close,            \
	.reserve = psyne__net_reserve,        \
	.commit = psyne__net_commit,          \
	.cancel = psyne__net_cancel,          \
	.receive = psyne__net_receive,        \
	.release = psyne__net_release,        \
	.stats = psyne__net_stats
/* clang-format on */

#endif
