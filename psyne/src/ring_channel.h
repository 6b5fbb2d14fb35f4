/* SPDX-License-Identifier: MIT */
/* The channel of the ring transports (memory://, ipc://): shared ops, per-transport open. */
#ifndef PSYNE_RING_CHANNEL_H
#define PSYNE_RING_CHANNEL_H

#include "channel.h"
#include "ring.h"

struct ring_channel {
	struct psyne_channel base;
	struct psyne_ring ring;
	void *region;
	uint64_t region_size;
	void *owner; /* transport's: registry entry (memory://), or NULL */
	int memfd;   /* ipc:// only */
	int member_fd;
};

int psyne__ring_channel_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
				struct psyne_msg *ret_msg);
int psyne__ring_channel_commit(struct psyne_channel *ch, struct psyne_msg *msg);
void psyne__ring_channel_cancel(struct psyne_channel *ch, struct psyne_msg *msg);
int psyne__ring_channel_receive(struct psyne_channel *ch, int timeout_ms, size_t max_size,
				struct psyne_msg *ret_msg);
void psyne__ring_channel_release(struct psyne_channel *ch, struct psyne_msg *msg);
int psyne__ring_channel_stats(struct psyne_channel *ch, struct psyne_stats *ret_stats);

/* clang-format off */
#define PSYNE_RING_CHANNEL_OPS                                \
	.reserve = psyne__ring_channel_reserve,               \
	.commit = psyne__ring_channel_commit,                 \
	.cancel = psyne__ring_channel_cancel,                 \
	.receive = psyne__ring_channel_receive,               \
	.release = psyne__ring_channel_release,               \
	.stats = psyne__ring_channel_stats
/* clang-format on */

#endif
