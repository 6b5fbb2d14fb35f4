/* SPDX-License-Identifier: MIT */
/*
 * Eclipse iceoryx through its C binding: one publisher and one subscriber per side, on the
 * services ("psyne-bench", TAG, "ab") and ("psyne-bench", TAG, "ba"). The producer loans a
 * chunk from RouDi's shared-memory pools, writes in place and publishes it; the consumer
 * takes the chunk, reads in place and releases it: zero-copy, like psyne. The consumer
 * spins on iox_sub_take_chunk(). Publishers wait for slow consumers and subscribers block
 * their producer, so no message is dropped. The processes register with the RouDi that the
 * orchestrator started.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <iceoryx_binding_c/chunk.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>

#include "bench.h"

struct bench_link {
	iox_pub_storage_t pub_storage;
	iox_sub_storage_t sub_storage;
	iox_pub_t pub;
	iox_sub_t sub;
	void *tx;
	const void *rx;
	size_t size; /* the C binding does not tell a chunk's payload size: the cell's */
	bool yield;
};

static int iceoryx_process_init(const struct bench_cell *cell)
{
	char name[64];

	iox_set_loglevel(Iceoryx_LogLevel_Error);
	/* Unique per process: RouDi refuses a second runtime of one name. */
	(void)snprintf(name, sizeof(name), "psyne-bench-%d", (int)getpid());
	iox_runtime_init(name);
	/*
	 * No iox_runtime_shutdown() at the end: in iceoryx 2.0 it makes the runtime's
	 * keep-alive thread send PREPARE_APP_TERMINATION to RouDi while the runtime's
	 * destructor, at exit, sends TERMINATION on the same unlocked channel. The two
	 * answers cross ("Got wrong response from IPC channel for PREPARE_APP_TERMINATION")
	 * and the destructor waits for its answer forever: the cell hangs until its timeout.
	 * The call only unblocks a publisher blocked on a full subscriber queue; by then both
	 * sides have finished and closed their ports, so the destructor alone is the clean exit.
	 */
	return 0;
}

static void iceoryx_close(struct bench_link *link)
{
	if (!link)
		return;
	if (link->sub)
		iox_sub_deinit(link->sub);
	if (link->pub)
		iox_pub_deinit(link->pub);
	free(link);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct bench_link *, iceoryx_close);

static int iceoryx_open(const struct bench_cell *cell, void *shared, enum bench_side side,
			struct bench_link **ret_link)
{
	_cleanup_(iceoryx_closep) struct bench_link *link = NULL;
	iox_pub_options_t pub_options;
	iox_sub_options_t sub_options;
	uint64_t deadline;

	link = bench_link_alloc(sizeof(*link));
	if (!link)
		return bench_fail(-ENOMEM, "allocating a link");
	link->size = cell->size;
	link->yield = cell->yield;

	iox_pub_options_init(&pub_options);
	pub_options.historyCapacity = 0;
	pub_options.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	link->pub = iox_pub_init(&link->pub_storage, "psyne-bench", cell->tag,
				 side == BENCH_SIDE_A ? "ab" : "ba", &pub_options);
	if (!link->pub)
		return bench_fail(-EIO, "iox_pub_init");

	iox_sub_options_init(&sub_options);
	sub_options.queueCapacity = bench_queue_depth(cell->size, cell->capacity);
	sub_options.historyRequest = 0;
	sub_options.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	link->sub = iox_sub_init(&link->sub_storage, "psyne-bench", cell->tag,
				 side == BENCH_SIDE_A ? "ba" : "ab", &sub_options);
	if (!link->sub)
		return bench_fail(-EIO, "iox_sub_init");

	/* Without history, what is published before the peer subscribed is lost: wait. */
	deadline = bench_now() + (uint64_t)BENCH_TIMEOUT_MS * 1000000;
	while (!iox_pub_has_subscribers(link->pub) ||
	       iox_sub_get_subscription_state(link->sub) != SubscribeState_SUBSCRIBED) {
		if (bench_now() > deadline)
			return bench_fail(-ETIMEDOUT, "waiting for the iceoryx peer to subscribe");
		(void)usleep(1000);
	}

	*ret_link = TAKE_PTR(link);
	return 0;
}

static int iceoryx_reserve(struct bench_link *link, size_t size, void **ret_buf)
{
	enum iox_AllocationResult result;
	uint64_t deadline = 0;

	for (;;) {
		result = iox_pub_loan_chunk(link->pub, &link->tx, (uint32_t)size);
		if (result == AllocationResult_SUCCESS)
			break;
		if (result != AllocationResult_RUNNING_OUT_OF_CHUNKS)
			return bench_fail(-ENOMEM, "iox_pub_loan_chunk: result %d", (int)result);
		/* The pool is empty while the consumer still holds chunks: wait a little. */
		if (deadline == 0)
			deadline = bench_now() + (uint64_t)BENCH_TIMEOUT_MS * 1000000;
		else if (bench_now() > deadline)
			return bench_fail(-ENOBUFS, "iox_pub_loan_chunk: out of chunks");
		bench_relax(link->yield);
	}

	*ret_buf = link->tx;
	return 0;
}

static int iceoryx_commit(struct bench_link *link)
{
	iox_pub_publish_chunk(link->pub, link->tx);
	link->tx = NULL;
	return 0;
}

static int iceoryx_receive(struct bench_link *link, const void **ret_buf, size_t *ret_size)
{
	enum iox_ChunkReceiveResult result;

	for (;;) {
		result = iox_sub_take_chunk(link->sub, &link->rx);
		if (result == ChunkReceiveResult_SUCCESS)
			break;
		if (result != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
			return bench_fail(-EIO, "iox_sub_take_chunk: result %d", (int)result);
		bench_relax(link->yield);
	}

	*ret_buf = link->rx;
	*ret_size = link->size;
	return 0;
}

static void iceoryx_release(struct bench_link *link)
{
	iox_sub_release_chunk(link->sub, link->rx);
	link->rx = NULL;
}

const struct bench_transport bench_transport_iceoryx = {
	.id = "iceoryx",
	.family = "iceoryx",
	.label = "iceoryx",
	.groups = BENCH_GROUP_LOCAL,
	.two_processes = true,
	.needs_roudi = true,
	.process_init = iceoryx_process_init,
	.open = iceoryx_open,
	.close = iceoryx_close,
	.reserve = iceoryx_reserve,
	.commit = iceoryx_commit,
	.receive = iceoryx_receive,
	.release = iceoryx_release,
};
