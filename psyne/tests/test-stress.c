/* SPDX-License-Identifier: MIT */
/*
 * Multi-thread stress of every mode: producers send messages of random sizes carrying
 * (producer, sequence, checksum); consumers check each checksum, that every producer's
 * sequence rises at each consumer, and in the end that every message arrived exactly once.
 * The producers close when done, so the consumers also prove -EPIPE after a full drain.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tests.h"
#include "psyne.h"

#if defined(__SANITIZE_THREAD__)
#define STRESS_MESSAGES 100000u /* TSan runs about 20x slower */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_MESSAGES 100000u
#endif
#endif
#ifndef STRESS_MESSAGES
#define STRESS_MESSAGES 1000000u
#endif

#define MAX_THREADS 4
#define MAX_PAYLOAD 2048u

struct stress_hdr {
	uint32_t producer;
	uint32_t seq;
	uint32_t size;
	uint32_t sum;
};

struct stress {
	char uri[128];
	unsigned producers, consumers;
	uint32_t per_producer;
	bool zero_copy;
	pthread_barrier_t started;
	_Atomic uint8_t *seen; /* [producer * per_producer + seq] */
	_Atomic uint64_t received;
	_Atomic int error;
};

struct worker {
	struct stress *s;
	unsigned id;
};

/* A word-at-a-time checksum: the test should spend its time in the ring, not here. */
static uint32_t checksum(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ h >> 32);
}

static uint64_t xorshift(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static void fail(struct stress *s, int err)
{
	int expected = 0;

	atomic_compare_exchange_strong(&s->error, &expected, err);
}

static void fill(uint8_t *buf, uint32_t producer, uint32_t seq, uint32_t size, uint64_t *rng)
{
	struct stress_hdr h = { .producer = producer, .seq = seq, .size = size };

	uint64_t x = xorshift(rng);

	/* Cheap, varying content: a random word, stirred per word. */
	for (uint32_t i = sizeof(h); i < size; i++)
		buf[i] = (uint8_t)(x >> (8 * (i & 7))) ^ (uint8_t)(i >> 3);
	h.sum = checksum(buf + sizeof(h), size - sizeof(h));
	memcpy(buf, &h, sizeof(h));
}

static void *producer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	struct psyne_channel *ch = NULL;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (w->id + 1);
	uint8_t buf[MAX_PAYLOAD];
	int r;

	r = psyne_open(s->uri, &ch);
	if (r < 0) {
		fail(s, r);
		(void)pthread_barrier_wait(&s->started);
		return NULL;
	}
	bool started = false;

	for (uint32_t seq = 0; seq < s->per_producer; seq++) {
		uint32_t size =
			sizeof(struct stress_hdr) +
			(uint32_t)(xorshift(&rng) % (MAX_PAYLOAD - sizeof(struct stress_hdr)));

		if (s->zero_copy) {
			struct psyne_msg m;

			r = psyne_reserve(ch, size, -1, &m);
			if (r >= 0) {
				fill(m.data, w->id, seq, size, &rng);
				m.type = w->id;
				r = psyne_commit(ch, &m);
			}
		} else {
			fill(buf, w->id, seq, size, &rng);
			r = psyne_send(ch, buf, size, w->id, -1);
		}
		if (r < 0) {
			fail(s, r);
			break;
		}
		/* All producers are in before any may leave: consumers see EPIPE only at the end */
		if (seq == 0) {
			(void)pthread_barrier_wait(&s->started);
			started = true;
		}
	}
	if (!started)
		(void)pthread_barrier_wait(&s->started);
	psyne_close(ch);
	return NULL;
}

static int check_message(struct stress *s, const uint8_t *data, size_t size, uint32_t type,
			 uint32_t *last_seq)
{
	struct stress_hdr h;

	if (size < sizeof(h))
		return -EBADMSG;
	memcpy(&h, data, sizeof(h));
	if (h.size != size || h.producer >= s->producers || h.producer != type ||
	    h.seq >= s->per_producer)
		return -EBADMSG;
	if (checksum(data + sizeof(h), size - sizeof(h)) != h.sum)
		return -EBADMSG;
	/* Per-producer order holds at every consumer. */
	if (last_seq[h.producer] != UINT32_MAX && h.seq <= last_seq[h.producer])
		return -EILSEQ;
	last_seq[h.producer] = h.seq;
	if (atomic_fetch_add(&s->seen[(size_t)h.producer * s->per_producer + h.seq], 1) != 0)
		return -EEXIST; /* duplicate */
	atomic_fetch_add(&s->received, 1);
	return 0;
}

static void *consumer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	struct psyne_channel *ch = NULL;
	uint32_t last_seq[MAX_THREADS];
	uint8_t buf[MAX_PAYLOAD];
	int r;

	memset(last_seq, 0xff, sizeof(last_seq));
	r = psyne_open(s->uri, &ch);
	if (r < 0) {
		fail(s, r);
		return NULL;
	}
	for (;;) {
		if (s->zero_copy) {
			struct psyne_msg m;

			r = psyne_receive(ch, 10000, &m);
			if (r >= 0) {
				r = check_message(s, m.data, m.size, m.type, last_seq);
				psyne_release(ch, &m);
			}
		} else {
			uint32_t type;

			r = psyne_recv(ch, buf, sizeof(buf), &type, 10000);
			if (r >= 0)
				r = check_message(s, buf, (size_t)r, type, last_seq);
		}
		if (r == -EPIPE)
			break;
		if (r < 0) {
			fail(s, r);
			break;
		}
	}
	psyne_close(ch);
	return NULL;
}

static void run_stress(const char *mode, unsigned producers, unsigned consumers, bool zero_copy)
{
	struct stress s = {
		.producers = producers,
		.consumers = consumers,
		.per_producer = STRESS_MESSAGES / producers,
		.zero_copy = zero_copy,
	};
	struct worker workers[2 * MAX_THREADS];
	pthread_t threads[2 * MAX_THREADS];
	struct psyne_channel *keep = NULL;
	size_t total = (size_t)producers * s.per_producer;

	snprintf(s.uri, sizeof(s.uri), "memory://stress-%s-%d?mode=%s&capacity=64K", mode,
		 zero_copy, mode);
	s.seen = calloc(total, 1);
	ASSERT_NOT_NULL(s.seen);
	ASSERT_OK(-pthread_barrier_init(&s.started, NULL, producers));
	/* Keeps the channel alive across the threads' opens and closes. */
	ASSERT_OK(psyne_open(s.uri, &keep));

	for (unsigned i = 0; i < consumers; i++) {
		workers[i] = (struct worker){ .s = &s, .id = i };
		ASSERT_OK(-pthread_create(&threads[i], NULL, consumer_main, &workers[i]));
	}
	for (unsigned i = 0; i < producers; i++) {
		workers[consumers + i] = (struct worker){ .s = &s, .id = i };
		ASSERT_OK(-pthread_create(&threads[consumers + i], NULL, producer_main,
					  &workers[consumers + i]));
	}
	for (unsigned i = 0; i < producers + consumers; i++)
		ASSERT_OK(-pthread_join(threads[i], NULL));

	ASSERT_OK(atomic_load(&s.error));
	ASSERT_EQ(atomic_load(&s.received), (uint64_t)total);
	for (size_t i = 0; i < total; i++)
		ASSERT_EQ(atomic_load(&s.seen[i]), 1u);

	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(keep, &st));
	ASSERT_EQ(st.messages, (uint64_t)total);
	ASSERT_EQ(st.used, 0u);
	ASSERT_EQ(st.dropped, 0u);
	psyne_close(keep);
	pthread_barrier_destroy(&s.started);
	free(s.seen);
}

TEST(stress_spsc)
{
	run_stress("spsc", 1, 1, true);
}

TEST(stress_spsc_copying)
{
	run_stress("spsc", 1, 1, false);
}

TEST(stress_mpsc)
{
	run_stress("mpsc", 4, 1, true);
}

TEST(stress_spmc)
{
	run_stress("spmc", 1, 4, true);
}

TEST(stress_mpmc)
{
	run_stress("mpmc", 4, 4, true);
}

TEST(stress_mpmc_copying)
{
	run_stress("mpmc", 3, 2, false);
}

DEFINE_TEST_MAIN();
