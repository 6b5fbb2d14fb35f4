/* SPDX-License-Identifier: MIT */
/* The libpsyne contract over memory:// (one process), and the ring's own rules. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tests.h"
#include "common/time-util.h"
#include "psyne.h"
#include "ring.h"

static struct psyne_channel *open_ok(const char *uri)
{
	struct psyne_channel *ch = NULL;

	ASSERT_OK(psyne_open(uri, &ch));
	ASSERT_NOT_NULL(ch);
	return ch;
}

TEST(open_errors)
{
	struct psyne_channel *ch = NULL;

	ASSERT_ERROR(psyne_open(NULL, &ch), EINVAL);
	ASSERT_ERROR(psyne_open("memory://a", NULL), EINVAL);
	ASSERT_ERROR(psyne_open("carrier-pigeon://a", &ch), EPROTONOSUPPORT);
	ASSERT_ERROR(psyne_open("memory://a?colour=blue", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("memory://bad/name", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("memory://a?mode=lifo", &ch), EINVAL);
	ASSERT_NULL(ch);
	psyne_close(NULL);
}

TEST(send_recv_copying)
{
	struct psyne_channel *p = open_ok("memory://copy"), *c = open_ok("memory://copy");
	char buf[64];
	uint32_t type = 0;

	ASSERT_OK(psyne_send(p, "hello", 5, 7, 0));
	ASSERT_OK(psyne_send(p, "", 0, 8, 0));
	ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), &type, 0), 5);
	ASSERT_MEMEQ(buf, "hello", 5);
	ASSERT_EQ(type, 7u);
	ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), &type, 0), 0);
	ASSERT_EQ(type, 8u);
	ASSERT_ERROR(psyne_recv(c, buf, sizeof(buf), &type, 0), EAGAIN);
	psyne_close(p);
	psyne_close(c);
}

TEST(zero_copy_in_place)
{
	struct psyne_channel *p = open_ok("memory://zc"), *c = open_ok("memory://zc");
	struct psyne_msg m, r;

	ASSERT_OK(psyne_reserve(p, 1000, 0, &m));
	ASSERT_EQ(m.size, 1000u);
	ASSERT_EQ((uintptr_t)m.data % 16, 0u);
	memset(m.data, 0xab, 1000);
	m.size = 300; /* shrink */
	m.type = 42;
	ASSERT_OK(psyne_commit(p, &m));

	ASSERT_OK(psyne_receive(c, 0, &r));
	ASSERT_EQ(r.size, 300u);
	ASSERT_EQ(r.type, 42u);
	/* The consumer sees the very bytes the producer wrote: no copy on either side. */
	ASSERT_TRUE(r.data == m.data);
	ASSERT_EQ(((unsigned char *)r.data)[299], 0xab);
	psyne_release(c, &r);
	psyne_close(p);
	psyne_close(c);
}

TEST(commit_rules)
{
	struct psyne_channel *p = open_ok("memory://rules"), *c = open_ok("memory://rules");
	struct psyne_msg m, r;

	ASSERT_OK(psyne_reserve(p, 10, 0, &m));
	m.size = 11;
	ASSERT_ERROR(psyne_commit(p, &m), EINVAL); /* may shrink, never grow */
	m.size = 10;
	ASSERT_OK(psyne_commit(p, &m));
	ASSERT_ERROR(psyne_commit(p, &m), EINVAL); /* twice */
	ASSERT_ERROR(psyne_commit(c, &m), EINVAL); /* another handle's */
	ASSERT_OK(psyne_receive(c, 0, &r));
	psyne_release(c, &r);
	psyne_release(c, &r); /* twice: ignored */
	psyne_close(p);
	psyne_close(c);
}

TEST(cancel_is_skipped)
{
	struct psyne_channel *p = open_ok("memory://cancel"), *c = open_ok("memory://cancel");
	struct psyne_msg a, b;
	char buf[8];

	ASSERT_OK(psyne_reserve(p, 8, 0, &a));
	ASSERT_OK(psyne_reserve(p, 8, 0, &b));
	memcpy(b.data, "second", 7);
	b.size = 7;
	ASSERT_OK(psyne_commit(p, &b));
	/* In order: the first reservation blocks delivery until it is resolved. */
	ASSERT_ERROR(psyne_recv(c, buf, sizeof(buf), NULL, 0), EAGAIN);
	psyne_cancel(p, &a);
	ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), NULL, 0), 7);
	ASSERT_STREQ(buf, "second");
	psyne_close(p);
	psyne_close(c);
}

TEST(timeouts)
{
	struct psyne_channel *c = open_ok("memory://timeouts?capacity=4K");
	struct psyne_channel *p = open_ok("memory://timeouts");
	struct psyne_msg m;
	uint64_t t0;

	ASSERT_ERROR(psyne_receive(c, 0, &m), EAGAIN);
	t0 = now_nsec(CLOCK_MONOTONIC);
	ASSERT_ERROR(psyne_receive(c, 30, &m), ETIMEDOUT);
	ASSERT_GE(now_nsec(CLOCK_MONOTONIC) - t0, 30 * NSEC_PER_MSEC);

	/* Fill the 4K ring; then reserve must wait or fail the same way. */
	while (psyne_reserve(p, 1000, 0, &m) == 0)
		ASSERT_OK(psyne_commit(p, &m));
	ASSERT_ERROR(psyne_reserve(p, 1000, 0, &m), EAGAIN);
	ASSERT_ERROR(psyne_reserve(p, 1000, 20, &m), ETIMEDOUT);
	psyne_close(p);
	psyne_close(c);
}

TEST(message_size_limits)
{
	struct psyne_channel *p = open_ok("memory://sizes?capacity=4K");
	struct psyne_channel *c = open_ok("memory://sizes");
	struct psyne_msg m;
	char small[4];

	ASSERT_ERROR(psyne_reserve(p, 2048 - 31, 0, &m), EMSGSIZE);
	ASSERT_OK(psyne_reserve(p, 2048 - 32, 0, &m));
	ASSERT_OK(psyne_commit(p, &m));
	/* Too small a buffer: an error, and the message stays queued. */
	ASSERT_ERROR(psyne_recv(c, small, sizeof(small), NULL, 0), EMSGSIZE);
	ASSERT_OK(psyne_receive(c, 0, &m));
	ASSERT_EQ(m.size, 2048u - 32);
	psyne_release(c, &m);
	psyne_close(p);
	psyne_close(c);
}

TEST(mode_and_capacity_mismatch)
{
	struct psyne_channel *a = open_ok("memory://mm?mode=mpsc&capacity=64K"), *b = NULL;
	struct psyne_stats st;

	ASSERT_ERROR(psyne_open("memory://mm?mode=spsc", &b), EEXIST);
	ASSERT_ERROR(psyne_open("memory://mm?capacity=128K", &b), EEXIST);
	b = open_ok("memory://mm"); /* leaving them out joins whatever exists */
	ASSERT_OK(psyne_channel_stats(b, &st));
	ASSERT_EQ(st.mode, (uint32_t)PSYNE_MODE_MPSC);
	ASSERT_EQ(st.capacity, 65536u);
	psyne_close(a);
	psyne_close(b);
}

TEST(single_roles_are_exclusive)
{
	struct psyne_channel *p1 = open_ok("memory://excl"), *p2 = open_ok("memory://excl");
	struct psyne_channel *c1 = open_ok("memory://excl"), *c2 = open_ok("memory://excl");
	char buf[4];

	ASSERT_OK(psyne_send(p1, "a", 1, 0, 0));
	ASSERT_ERROR(psyne_send(p2, "b", 1, 0, 0), EBUSY);
	ASSERT_EQ(psyne_recv(c1, buf, sizeof(buf), NULL, 0), 1);
	ASSERT_ERROR(psyne_recv(c2, buf, sizeof(buf), NULL, 0), EBUSY);
	/* When the producer leaves, another may take its place. */
	psyne_close(p1);
	ASSERT_OK(psyne_send(p2, "c", 1, 0, 0));
	ASSERT_EQ(psyne_recv(c1, buf, sizeof(buf), NULL, 0), 1);
	psyne_close(p2);
	psyne_close(c1);
	psyne_close(c2);
}

TEST(epipe_after_drain)
{
	struct psyne_channel *p = open_ok("memory://pipe"), *c = open_ok("memory://pipe");
	struct psyne_msg m;
	char buf[4];

	/* Before any producer came, a consumer just waits. */
	ASSERT_ERROR(psyne_recv(c, buf, sizeof(buf), NULL, 0), EAGAIN);
	ASSERT_OK(psyne_send(p, "x", 1, 0, 0));
	ASSERT_OK(psyne_reserve(p, 3, 0, &m)); /* left uncommitted */
	psyne_close(p);
	ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), NULL, 0), 1);
	ASSERT_ERROR(psyne_recv(c, buf, sizeof(buf), NULL, 0), EPIPE);
	ASSERT_ERROR(psyne_recv(c, buf, sizeof(buf), NULL, -1), EPIPE);

	/* And the other way: the consumer leaves, the producer is told. */
	p = open_ok("memory://pipe");
	psyne_close(c);
	ASSERT_ERROR(psyne_send(p, "y", 1, 0, 0), EPIPE);
	psyne_close(p);
}

struct joiner {
	char uri[64];
	struct psyne_channel *ch;
	pthread_barrier_t go;
	atomic_bool done;
};

static void *first_send(void *arg)
{
	struct joiner *j = arg;

	(void)pthread_barrier_wait(&j->go);
	j->ch = open_ok(j->uri);
	ASSERT_OK(psyne_send(j->ch, "x", 1, 0, -1));
	return NULL;
}

static void *first_receive(void *arg)
{
	struct joiner *j = arg;
	char buf[4];

	(void)pthread_barrier_wait(&j->go);
	j->ch = open_ok(j->uri);
	ASSERT_EQ(psyne_recv(j->ch, buf, sizeof(buf), NULL, -1), 1);
	atomic_store(&j->done, true);
	return NULL;
}

/*
 * A side that looks at its peers while the other side's first participant takes its role
 * must not take "one was here and none is now" for the end of the stream (that race once
 * gave -EPIPE before the first message). The joiner's open makes us look, it then takes
 * its role at once; it gets the lowest slot and idle handles fill the rest, so our look
 * takes long and often overlaps the role being taken.
 */
TEST(joining_peer_is_not_taken_for_gone)
{
	struct psyne_channel *idle[PSYNE_RING_SLOTS];

	for (unsigned i = 0; i < 4000; i++) {
		struct joiner j = { 0 };
		struct psyne_channel *me;
		bool consumer_joins = i & 1;
		unsigned n = 0;
		pthread_t t;
		char buf[4];
		int r;

		snprintf(j.uri, sizeof(j.uri), "memory://join-%u?capacity=4K", i);
		j.ch = open_ok(j.uri); /* holds slot 0 for the joiner */
		me = open_ok(j.uri);
		while (n < PSYNE_RING_SLOTS - 2)
			idle[n++] = open_ok(j.uri);
		psyne_close(j.ch);
		ASSERT_OK(-pthread_barrier_init(&j.go, NULL, 2));
		ASSERT_OK(
			-pthread_create(&t, NULL, consumer_joins ? first_receive : first_send, &j));
		(void)pthread_barrier_wait(&j.go);
		if (consumer_joins) {
			/* We produce; the consumer is never gone before it has its message. */
			do
				r = psyne_send(me, "x", 1, 0, 0);
			while ((r >= 0 || r == -EAGAIN) && !atomic_load(&j.done));
			ASSERT_TRUE(r >= 0 || r == -EAGAIN);
		} else {
			do
				r = psyne_recv(me, buf, sizeof(buf), NULL, 0);
			while (r == -EAGAIN);
			ASSERT_EQ(r, 1);
		}
		ASSERT_OK(-pthread_join(t, NULL));
		pthread_barrier_destroy(&j.go);
		while (n > 0)
			psyne_close(idle[--n]);
		psyne_close(j.ch);
		psyne_close(me);
	}
}

TEST(out_of_order_release)
{
	struct psyne_channel *p = open_ok("memory://ooo?capacity=4K");
	struct psyne_channel *c = open_ok("memory://ooo");
	struct psyne_msg m[3];
	struct psyne_stats st;

	for (int i = 0; i < 3; i++)
		ASSERT_OK(psyne_send(p, "abc", 3, (uint32_t)i, 0));
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(psyne_receive(c, 0, &m[i]));
		ASSERT_EQ(m[i].type, (uint32_t)i);
	}
	psyne_release(c, &m[2]);
	psyne_release(c, &m[1]);
	ASSERT_OK(psyne_channel_stats(c, &st));
	ASSERT_EQ(st.used, 3u * 32); /* nothing freed while the first is held */
	psyne_release(c, &m[0]);
	ASSERT_OK(psyne_channel_stats(c, &st));
	ASSERT_EQ(st.used, 0u);
	ASSERT_EQ(st.messages, 3u);
	ASSERT_EQ(st.bytes, 9u);
	psyne_close(p);
	psyne_close(c);
}

TEST(wrap_records)
{
	struct psyne_channel *p = open_ok("memory://wrap?capacity=4K");
	struct psyne_channel *c = open_ok("memory://wrap");
	unsigned char buf[2048];

	/* Sizes that do not divide the ring force wrap records at every lap. */
	for (uint32_t i = 0; i < 5000; i++) {
		size_t n = 1 + (i * 37) % 1500;

		memset(buf, (int)(i & 0xff), n);
		ASSERT_OK(psyne_send(p, buf, n, i, 0));
		memset(buf, 0, sizeof(buf));
		uint32_t type;
		ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), &type, 0), (int)n);
		ASSERT_EQ(type, i);
		ASSERT_EQ(buf[0], (unsigned char)(i & 0xff));
		ASSERT_EQ(buf[n - 1], (unsigned char)(i & 0xff));
	}
	psyne_close(p);
	psyne_close(c);
}

/*
 * A single producer keeps its newest reservation out of shared memory until commit, and
 * makes it visible when it reserves again: hold one to three at a time, across wraps,
 * committing or cancelling them in every order, and check what arrives.
 */
TEST(held_reservations)
{
	struct psyne_channel *p = open_ok("memory://held?capacity=4K");
	struct psyne_channel *c = open_ok("memory://held");
	unsigned char buf[1024];
	uint32_t seed = 1;

	for (uint32_t i = 0; i < 5000; i++) {
		struct psyne_msg m[3];
		bool sent[3] = { false, false, false };
		unsigned n = 1 + i % 3, order = i / 3;

		for (unsigned k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			ASSERT_OK(psyne_reserve(p, 1 + (seed >> 16) % 900, 0, &m[k]));
			memset(m[k].data, (int)(k + 1), m[k].size);
			m[k].type = i * 4 + k;
		}
		/* Resolve them in the order picked by `order`; cancel every third one. */
		for (unsigned j = 0; j < n; j++) {
			unsigned k = (order + j * (1 + order % 2)) % n;

			while (sent[k] || m[k].priv[1] == 0)
				k = (k + 1) % n;
			if ((i + k) % 3 == 2) {
				psyne_cancel(p, &m[k]);
				m[k].priv[1] = 0;
				continue;
			}
			ASSERT_OK(psyne_commit(p, &m[k]));
			sent[k] = true;
		}
		for (unsigned k = 0; k < n; k++) {
			uint32_t type;

			if (!sent[k])
				continue;
			ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), &type, 0), (int)m[k].size);
			ASSERT_EQ(type, i * 4 + k);
			ASSERT_EQ(buf[0], (unsigned char)(k + 1));
			ASSERT_EQ(buf[m[k].size - 1], (unsigned char)(k + 1));
		}
		ASSERT_ERROR(psyne_recv(c, buf, sizeof(buf), NULL, 0), EAGAIN);
	}
	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(c, &st));
	ASSERT_EQ(st.used, 0u);
	psyne_close(p);
	psyne_close(c);
}

struct waker {
	struct psyne_channel *ch;
	int delay_ms;
};

static void *send_later(void *arg)
{
	struct waker *w = arg;

	(void)nanosleep(&(struct timespec){ .tv_nsec = w->delay_ms * 1000000L }, NULL);
	(void)psyne_send(w->ch, "late", 4, 1, -1);
	return NULL;
}

TEST(blocking_receive_is_woken)
{
	struct psyne_channel *p = open_ok("memory://wake"), *c = open_ok("memory://wake");
	struct waker w = { .ch = p, .delay_ms = 50 };
	pthread_t t;
	char buf[8];

	ASSERT_OK(psyne_send(p, "0", 1, 0, 0)); /* p becomes the producer on this thread */
	ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), NULL, 0), 1);
	ASSERT_OK(-pthread_create(&t, NULL, send_later, &w));
	ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), NULL, 5000), 4);
	ASSERT_OK(-pthread_join(t, NULL));
	psyne_close(p);
	psyne_close(c);
}

TEST(strerror_texts)
{
	ASSERT_STREQ(psyne_strerror(-EPIPE), "Every peer on the other side has closed or died");
	ASSERT_STREQ(psyne_strerror(EEXIST), "Channel exists with another mode or capacity");
	ASSERT_NOT_NULL(psyne_strerror(-12345));
}

TEST(check_rejects_bad_headers)
{
	uint64_t size = psyne__ring_region_size(4096);
	void *mem = calloc(1, size);
	struct psyne_ring_hdr *hdr = mem;

	ASSERT_NOT_NULL(mem);
	ASSERT_OK(psyne__ring_format(mem, size, "hdr", PSYNE_MODE_SPSC, 4096));
	ASSERT_OK(psyne__ring_check(mem, size, "hdr", UINT32_MAX, 0));
	ASSERT_ERROR(psyne__ring_check(mem, size, "hdr", PSYNE_MODE_MPMC, 0), EEXIST);
	ASSERT_ERROR(psyne__ring_check(mem, size, "other", UINT32_MAX, 0), EPROTO);
	ASSERT_ERROR(psyne__ring_check(mem, size - 1, "hdr", UINT32_MAX, 0), EPROTO);
	hdr->version_major = 2;
	ASSERT_ERROR(psyne__ring_check(mem, size, "hdr", UINT32_MAX, 0), EPROTONOSUPPORT);
	hdr->version_major = 1;
	hdr->capacity = 4095;
	ASSERT_ERROR(psyne__ring_check(mem, size, "hdr", UINT32_MAX, 0), EPROTO);
	hdr->capacity = 4096;
	hdr->magic ^= 1;
	ASSERT_ERROR(psyne__ring_check(mem, size, "hdr", UINT32_MAX, 0), EPROTO);
	free(mem);
}

TEST(corrupt_cursors_and_records)
{
	uint64_t size = psyne__ring_region_size(4096);
	void *mem = calloc(1, size);
	struct psyne_ring_hdr *hdr = mem;
	struct psyne_ring r;
	struct psyne_msg m;

	ASSERT_NOT_NULL(mem);
	ASSERT_OK(psyne__ring_format(mem, size, "bad", PSYNE_MODE_SPSC, 4096));
	ASSERT_OK(psyne__ring_join(&r, mem, size, false));

	atomic_store(&hdr->rd, 8); /* misaligned */
	ASSERT_ERROR(psyne__ring_receive(&r, 0, SIZE_MAX, &m), EPROTO);
	atomic_store(&hdr->rd, 0);
	/* A ring of records that all claim to be released already: consumers must not go round
	 * it forever. */
	for (unsigned off = 0; off < 4096; off += 16) {
		struct psyne_ring_rec *x = (void *)((char *)mem + PSYNE_RING_DATA_OFFSET + off);

		atomic_store(&x->len, 16);
		atomic_store(&x->state, PSYNE_REC_RELEASED);
	}
	ASSERT_ERROR(psyne__ring_receive(&r, 0, SIZE_MAX, &m), EPROTO);
	atomic_store(&hdr->rd, 0);

	/* A record whose length runs past the end of the ring. */
	struct psyne_ring_rec *rec = (void *)((char *)mem + PSYNE_RING_DATA_OFFSET);
	atomic_store(&hdr->tail, 64);
	atomic_store(&rec->len, 8192);
	atomic_store(&rec->state, PSYNE_REC_COMMITTED);
	ASSERT_ERROR(psyne__ring_receive(&r, 0, SIZE_MAX, &m), EPROTO);
	/* A payload size larger than its record. */
	atomic_store(&rec->len, 64);
	atomic_store(&rec->size, 49);
	ASSERT_ERROR(psyne__ring_receive(&r, 0, SIZE_MAX, &m), EPROTO);
	/* An unknown kind. */
	atomic_store(&rec->size, 48);
	atomic_store(&rec->state, 15);
	ASSERT_ERROR(psyne__ring_receive(&r, 0, SIZE_MAX, &m), EPROTO);
	/* A head beyond tail: the producer refuses to trust it. */
	atomic_store(&hdr->tail, 4096 * 4);
	atomic_store(&hdr->rd, 4096 * 4);
	atomic_store(&hdr->head, 4096 * 8);
	ASSERT_ERROR(psyne__ring_reserve(&r, 4000 / 2, 0, &m), EPROTO);
	psyne__ring_leave(&r);
	free(mem);
}

/* Commits `n` messages of `size` bytes on prod, each filled with its number, and receives,
 * checks and releases them on cons. */
static void pass_messages(struct psyne_ring *prod, struct psyne_ring *cons, unsigned n, size_t size)
{
	for (unsigned i = 0; i < n; i++) {
		struct psyne_msg m;

		ASSERT_OK(psyne__ring_reserve(prod, size, 0, &m));
		memset(m.data, (int)(i & 0xff), size);
		ASSERT_OK(psyne__ring_commit(prod, &m));
		ASSERT_OK(psyne__ring_receive(cons, 0, SIZE_MAX, &m));
		ASSERT_EQ(m.size, size);
		ASSERT_EQ(((uint8_t *)m.data)[0], i & 0xff);
		ASSERT_EQ(((uint8_t *)m.data)[size - 1], i & 0xff);
		psyne__ring_release(cons, &m);
	}
}

/* A receive that finds the ring empty: the consumer's idle moment. */
static void find_empty(struct psyne_ring *cons)
{
	struct psyne_msg m;

	ASSERT_ERROR(psyne__ring_receive(cons, 0, SIZE_MAX, &m), EAGAIN);
}

/* A 64 KiB ring of `mode` in private memory, joined by a producer and a consumer. */
static void *evict_rings(uint32_t mode, struct psyne_ring *prod, struct psyne_ring *cons)
{
	uint64_t cap = 64 * 1024, size = psyne__ring_region_size(cap);
	void *mem = aligned_alloc(4096, size);

	ASSERT_NOT_NULL(mem);
	memset(mem, 0, size);
	ASSERT_OK(psyne__ring_format(mem, size, "evict", mode, cap));
	ASSERT_OK(psyne__ring_join(prod, mem, size, false));
	ASSERT_OK(psyne__ring_join(cons, mem, size, false));
	if (!cons->evict)
		SKIP_TEST("this CPU has no clflushopt");
	return mem;
}

/*
 * A large message into a drained ring goes to the ring's start, where the last one was and
 * whose memory is still in cache; one into a ring that still holds a message goes after it.
 */
TEST(large_messages_reuse_a_drained_ring_from_its_start)
{
	uint64_t cap = 1024 * 1024, size = psyne__ring_region_size(cap);
	void *mem = aligned_alloc(4096, size);
	struct psyne_ring prod, cons;
	struct psyne_msg m, a, b;
	void *slot[2] = { NULL, NULL };

	ASSERT_NOT_NULL(mem);
	memset(mem, 0, size);
	ASSERT_OK(psyne__ring_format(mem, size, "rewind", PSYNE_MODE_SPSC, cap));
	ASSERT_OK(psyne__ring_join(&prod, mem, size, false));
	ASSERT_OK(psyne__ring_join(&cons, mem, size, false));

	/*
	 * One at a time: they take turns on the ring's first two places (a message cannot go
	 * below the one before when it does not fit there with its end marker), 200 KB of
	 * memory where they walked the whole MiB before.
	 */
	for (unsigned i = 0; i < 40; i++) {
		ASSERT_OK(psyne__ring_reserve(&prod, 100000, 0, &m));
		if (i < 2)
			slot[i] = m.data;
		ASSERT_TRUE(m.data == slot[i % 2]);
		memset(m.data, (int)i, 100000);
		ASSERT_OK(psyne__ring_commit(&prod, &m));
		ASSERT_OK(psyne__ring_receive(&cons, 0, SIZE_MAX, &m));
		ASSERT_TRUE(m.data == slot[i % 2]);
		ASSERT_EQ(((uint8_t *)m.data)[99999], i);
		psyne__ring_release(&cons, &m);
	}
	ASSERT_TRUE(slot[0] == cons.data + PSYNE_REC_HDR);
	/*
	 * Two in flight: the second goes after the first. It has to wait until the consumer
	 * has taken the first: until then the wrap record that led to it fills the ring's end.
	 */
	ASSERT_OK(psyne__ring_reserve(&prod, 100000, 0, &a));
	a.type = 1;
	ASSERT_OK(psyne__ring_commit(&prod, &a));
	ASSERT_ERROR(psyne__ring_reserve(&prod, 100000, 0, &b), EAGAIN);
	ASSERT_OK(psyne__ring_receive(&cons, 0, SIZE_MAX, &m));
	ASSERT_EQ(m.type, 1u);
	ASSERT_OK(psyne__ring_reserve(&prod, 100000, 0, &b));
	ASSERT_TRUE((uint8_t *)b.data == (uint8_t *)m.data + 100016);
	b.type = 2;
	ASSERT_OK(psyne__ring_commit(&prod, &b));
	psyne__ring_release(&cons, &m);
	ASSERT_OK(psyne__ring_receive(&cons, 0, SIZE_MAX, &m));
	ASSERT_EQ(m.type, 2u);
	psyne__ring_release(&cons, &m);
	/* Small ones never jump. */
	ASSERT_OK(psyne__ring_reserve(&prod, 64, 0, &a));
	ASSERT_TRUE((uint8_t *)a.data > (uint8_t *)b.data);
	psyne__ring_cancel(&prod, &a);
	psyne__ring_leave(&prod);
	psyne__ring_leave(&cons);
	free(mem);
}

TEST(released_lines_are_handed_back)
{
	struct psyne_ring prod, cons;
	void *mem = evict_rings(PSYNE_MODE_SPSC, &prod, &cons);
	struct psyne_msg a, b;
	uint64_t lines, start;

	/* Ten 64-byte messages (80-byte records): less than a batch, so nothing goes back
	 * while the consumer is busy; when it finds the ring empty, every whole line does. */
	pass_messages(&prod, &cons, 10, 64);
	ASSERT_EQ(cons.evicted_lines, 0u);
	find_empty(&cons);
	ASSERT_EQ(cons.evicted, 768u); /* 800 bytes released: the line at 768 is not whole */
	ASSERT_EQ(cons.evicted_lines, 12u);

	/* A busy consumer hands a batch back as soon as one is released. */
	pass_messages(&prod, &cons, 13, 64); /* released up to 1840 */
	ASSERT_EQ(cons.evicted, 1792u);
	ASSERT_EQ(cons.evicted_lines, 28u);

	/* Nothing goes back while an earlier message is held, whatever is released after it. */
	ASSERT_OK(psyne__ring_reserve(&prod, 900, 0, &a));
	ASSERT_OK(psyne__ring_commit(&prod, &a));
	ASSERT_OK(psyne__ring_reserve(&prod, 900, 0, &b));
	ASSERT_OK(psyne__ring_commit(&prod, &b));
	ASSERT_OK(psyne__ring_receive(&cons, 0, SIZE_MAX, &a));
	ASSERT_OK(psyne__ring_receive(&cons, 0, SIZE_MAX, &b));
	psyne__ring_release(&cons, &b);
	find_empty(&cons);
	ASSERT_EQ(cons.evicted_lines, 28u);
	psyne__ring_release(&cons, &a); /* released up to 1840 + 2 * 928 = 3696 */
	ASSERT_EQ(cons.evicted, 3648u);
	ASSERT_EQ(cons.evicted_lines, 28u + (3648 - 1792) / 64);

	/* A large message stays: the consumer may not have read it, and flushing lines the
	 * producer holds would only cost it write-backs. */
	lines = cons.evicted_lines;
	pass_messages(&prod, &cons, 1, 16384);
	find_empty(&cons);
	ASSERT_EQ(cons.evicted_lines, lines);
	ASSERT_EQ(cons.evicted, (3696 + 16400) & ~63u);
	/* So does each 4 KiB message, wherever its record starts within a line. */
	for (unsigned i = 0; i < 8; i++) {
		lines = cons.evicted_lines;
		pass_messages(&prod, &cons, 1, 4096);
		ASSERT_EQ(cons.evicted_lines, lines);
	}
	ASSERT_EQ(cons.evicted, (3696 + 16400 + 8 * 4112) & ~63u);

	/* Round the ring a few times: the count keeps up, and every message arrives whole. */
	lines = cons.evicted_lines;
	start = cons.evicted;
	pass_messages(&prod, &cons, 4096, 64); /* 320 KiB of records and wrap records: 5 laps */
	find_empty(&cons);
	ASSERT_GT(cons.head_local, start + 4096 * 80);
	ASSERT_EQ(cons.evicted, cons.head_local & ~63u);
	ASSERT_EQ(cons.evicted_lines - lines, (cons.evicted - start) / 64);

	psyne__ring_leave(&prod);
	psyne__ring_leave(&cons);
	free(mem);
}

TEST(released_lines_are_handed_back_with_several_consumers)
{
	struct psyne_ring prod, cons;
	void *mem = evict_rings(PSYNE_MODE_SPMC, &prod, &cons);

	/* Head moves with every in-order release here, and takes the lines with it. */
	pass_messages(&prod, &cons, 4096, 64);
	ASSERT_GT(cons.evicted, 4096u * 80 - 64);
	ASSERT_EQ(cons.evicted, atomic_load(&cons.hdr->head) & ~63u);
	ASSERT_EQ(cons.evicted_lines, cons.evicted / 64);
	psyne__ring_leave(&prod);
	psyne__ring_leave(&cons);
	free(mem);
}

DEFINE_TEST_MAIN();
