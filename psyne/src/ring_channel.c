/* SPDX-License-Identifier: MIT */
#include "ring_channel.h"

static struct psyne_ring *ring_of(struct psyne_channel *ch)
{
	return &((struct ring_channel *)ch)->ring;
}

int psyne__ring_channel_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
				struct psyne_msg *ret_msg)
{
	return psyne__ring_reserve(ring_of(ch), size, timeout_ms, ret_msg);
}

int psyne__ring_channel_commit(struct psyne_channel *ch, struct psyne_msg *msg)
{
	return psyne__ring_commit(ring_of(ch), msg);
}

void psyne__ring_channel_cancel(struct psyne_channel *ch, struct psyne_msg *msg)
{
	psyne__ring_cancel(ring_of(ch), msg);
}

int psyne__ring_channel_receive(struct psyne_channel *ch, int timeout_ms, size_t max_size,
				struct psyne_msg *ret_msg)
{
	return psyne__ring_receive(ring_of(ch), timeout_ms, max_size, ret_msg);
}

void psyne__ring_channel_release(struct psyne_channel *ch, struct psyne_msg *msg)
{
	psyne__ring_release(ring_of(ch), msg);
}

int psyne__ring_channel_stats(struct psyne_channel *ch, struct psyne_stats *ret_stats)
{
	psyne__ring_stats(ring_of(ch), ret_stats);
	return 0;
}
