/* SPDX-License-Identifier: MIT */
/*
 * A channel is a transport's object behind the public handle. Each transport fills one
 * ops table; psyne.c checks arguments once and dispatches.
 */
#ifndef PSYNE_CHANNEL_H
#define PSYNE_CHANNEL_H

#include <stddef.h>

#include "psyne.h"
#include "uri.h"

struct psyne_transport {
	const char *scheme;
	/* Opens a channel for a parsed URI; marks the options it reads (psyne__uri_get). */
	int (*open)(struct psyne_uri *uri, struct psyne_channel **ret_channel);
	/* Frees everything; never fails. */
	void (*close)(struct psyne_channel *ch);
	int (*reserve)(struct psyne_channel *ch, size_t size, int timeout_ms,
		       struct psyne_msg *ret_msg);
	int (*commit)(struct psyne_channel *ch, struct psyne_msg *msg);
	void (*cancel)(struct psyne_channel *ch, struct psyne_msg *msg);
	/* Receives a message of at most `max_size` bytes; -EMSGSIZE leaves a larger one queued. */
	int (*receive)(struct psyne_channel *ch, int timeout_ms, size_t max_size,
		       struct psyne_msg *ret_msg);
	void (*release)(struct psyne_channel *ch, struct psyne_msg *msg);
	int (*stats)(struct psyne_channel *ch, struct psyne_stats *ret_stats);
};

/* Every transport's channel starts with this. */
struct psyne_channel {
	const struct psyne_transport *ops;
};

extern const struct psyne_transport psyne__transport_memory;
extern const struct psyne_transport psyne__transport_ipc;
extern const struct psyne_transport psyne__transport_tcp;
extern const struct psyne_transport psyne__transport_tls;
extern const struct psyne_transport psyne__transport_unix;
extern const struct psyne_transport psyne__transport_udp;

#endif
