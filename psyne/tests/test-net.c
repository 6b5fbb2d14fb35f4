/* SPDX-License-Identifier: MIT */
/*
 * The stream transports (unix://, tcp://) over loopback: message integrity and order, both
 * directions, several dialers into one listener, orderly close, refusals, hostile bytes,
 * and connections cut mid-stream by a forwarding proxy: the session must resume with no
 * message lost or duplicated.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/tests.h"
#include "common/time-util.h"
#include "frame.h"
#include "inspect.h"
#include "psyne.h"

/*
 * How much the RSS may grow over 1000 dropped connections and 100 sessions. ThreadSanitizer
 * keeps bookkeeping of its own that grows with the work done, leak or not (shadow of every
 * mapping, a trace of every thread's accesses): about 4 MiB here, so it gets twice the room.
 */
#if defined(__SANITIZE_THREAD__)
#define RSS_GROWTH_MAX_KIB 8192u
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RSS_GROWTH_MAX_KIB 8192u
#endif
#endif
#ifndef RSS_GROWTH_MAX_KIB
#define RSS_GROWTH_MAX_KIB 4096u
#endif

static struct psyne_channel *open_ok(const char *uri)
{
	struct psyne_channel *ch = NULL;

	ASSERT_OK(psyne_open(uri, &ch));
	ASSERT_NOT_NULL(ch);
	return ch;
}

/* A loopback port nobody uses right now. */
static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_OK_ERRNO(getsockname(fd, (struct sockaddr *)&a, &len));
	close(fd);
	return ntohs(a.sin_port);
}

/* Payload: seq, size, then bytes derived from both. */
static void fill(uint8_t *p, uint32_t seq, uint32_t size)
{
	memcpy(p, &seq, 4);
	for (uint32_t i = 4; i < size; i++)
		p[i] = (uint8_t)(seq * 31 + i);
}

static bool check(const uint8_t *p, uint32_t seq, uint32_t size)
{
	uint32_t got;

	if (size < 4)
		return false;
	memcpy(&got, p, 4);
	if (got != seq)
		return false;
	for (uint32_t i = 4; i < size; i++)
		if (p[i] != (uint8_t)(seq * 31 + i))
			return false;
	return true;
}

static uint32_t size_of(uint32_t seq)
{
	return 4 + (seq * 2654435761u) % 3000;
}

struct sender {
	const char *uri;
	uint32_t count;
	uint32_t id;
	struct psyne_channel *ch;	/* use this one instead of opening */
	pthread_barrier_t *opened;	/* wait here until every sender is connected */
	uint32_t (*size)(uint32_t seq); /* message sizes; NULL: size_of() */
	int error;
};

static void *send_all(void *arg)
{
	struct sender *s = arg;
	struct psyne_channel *ch = s->ch;
	int r;

	if (!ch && (r = psyne_open(s->uri, &ch)) < 0) {
		s->error = r;
		if (s->opened)
			pthread_barrier_wait(s->opened);
		return NULL;
	}
	/* A listener whose every peer so far has closed says -EPIPE: start together. */
	if (s->opened)
		pthread_barrier_wait(s->opened);
	for (uint32_t i = 0; i < s->count; i++) {
		struct psyne_msg m;

		r = psyne_reserve(ch, s->size ? s->size(i) : size_of(i), 10000, &m);
		if (r < 0) {
			s->error = r;
			break;
		}
		fill(m.data, i, (uint32_t)m.size);
		m.type = s->id;
		r = psyne_commit(ch, &m);
		if (r < 0) {
			s->error = r;
			break;
		}
	}
	if (!s->ch)
		psyne_close(ch);
	return NULL;
}

/* Receives `count` messages in order from each of `senders` ids, then expects `end`. */
static void receive_all(struct psyne_channel *ch, uint32_t senders, uint32_t count, int end)
{
	uint32_t next[8] = { 0 };
	uint64_t total = 0;

	while (total < (uint64_t)senders * count) {
		struct psyne_msg m;

		ASSERT_OK(psyne_receive(ch, 10000, &m));
		ASSERT_LT(m.type, senders);
		ASSERT_EQ(m.size, (size_t)size_of(next[m.type]));
		ASSERT_TRUE(check(m.data, next[m.type], (uint32_t)m.size));
		next[m.type]++;
		total++;
		psyne_release(ch, &m);
	}
	if (end != 0) {
		struct psyne_msg m;

		ASSERT_ERROR(psyne_receive(ch, 10000, &m), -end);
	}
}

static void stream(const char *listen_uri, const char *dial_uri)
{
	struct psyne_channel *l = open_ok(listen_uri);
	struct sender s = { .uri = dial_uri, .count = 20000 };
	pthread_t t;

	ASSERT_OK_ZERO(pthread_create(&t, NULL, send_all, &s));
	receive_all(l, 1, s.count, -EPIPE);
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_EQ(s.error, 0);

	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(l, &st));
	ASSERT_EQ(st.received, (uint64_t)s.count);
	psyne_close(l);
}

TEST(unix_stream)
{
	char l[128], d[128];

	snprintf(l, sizeof(l), "unix://@psyne-test-%d?listen", getpid());
	snprintf(d, sizeof(d), "unix://@psyne-test-%d", getpid());
	stream(l, d);
}

TEST(unix_path_stream)
{
	char path[64], l[128], d[128];

	snprintf(path, sizeof(path), "/tmp/psyne-test-%d.sock", getpid());
	snprintf(l, sizeof(l), "unix://%s?listen", path);
	snprintf(d, sizeof(d), "unix://%s", path);
	stream(l, d);
	ASSERT_ERROR_ERRNO(access(path, F_OK), ENOENT); /* removed on close */
}

TEST(tcp_stream)
{
	char l[128], d[128];
	unsigned port = free_port();

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u", port);
	stream(l, d);
}

/*
 * unix:// passes large messages as sealed memfds: messages larger than the ring itself
 * (4 MiB through a 1 MiB ring), interleaved with small ones that go through the stream,
 * arrive whole and in order; the receiver's view is a read-only mapping of the sender's
 * pages.
 */
TEST(unix_memfd_messages)
{
	char l[128], d[128];
	const uint32_t count = 60;

	snprintf(l, sizeof(l), "unix://@psyne-memfd-%d?listen", getpid());
	snprintf(d, sizeof(d), "unix://@psyne-memfd-%d", getpid());
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);

	for (uint32_t i = 0; i < count; i++) {
		size_t size = i % 3 == 0 ? (4u << 20) + i : i % 3 == 1 ? 100u << 10 : 64 + i;
		struct psyne_msg m;

		ASSERT_OK(psyne_reserve(dc, size, 10000, &m));
		memset(m.data, (int)i, size);
		memcpy(m.data, &i, sizeof(i));
		m.type = i;
		if (i == 7)
			m.size = size / 2; /* a memfd message may shrink too */
		size = m.size;
		ASSERT_OK(psyne_commit(dc, &m));

		struct psyne_msg r;
		uint32_t got;
		ASSERT_OK(psyne_receive(lc, 10000, &r));
		ASSERT_EQ(r.type, i);
		ASSERT_EQ(r.size, size);
		memcpy(&got, r.data, sizeof(got));
		ASSERT_EQ(got, i);
		ASSERT_EQ(((const uint8_t *)r.data)[size - 1], (uint8_t)i);
		psyne_release(lc, &r);
	}
	/* Reserve and cancel: the memfd goes, nothing is sent. */
	struct psyne_msg m;
	ASSERT_OK(psyne_reserve(dc, 1u << 20, 0, &m));
	psyne_cancel(dc, &m);
	psyne_close(dc);
	ASSERT_ERROR(psyne_receive(lc, 10000, &m), EPIPE);
	psyne_close(lc);

	/* Without memfds a message must fit the ring; memfd_min is a unix:// option. */
	struct psyne_channel *ch = NULL;
	snprintf(l, sizeof(l), "unix://@psyne-memfd2-%d?listen&memfd_min=0", getpid());
	snprintf(d, sizeof(d), "unix://@psyne-memfd2-%d?memfd_min=0", getpid());
	lc = open_ok(l);
	dc = open_ok(d);
	ASSERT_ERROR(psyne_reserve(dc, 4u << 20, 0, &m), EMSGSIZE);
	psyne_close(dc);
	psyne_close(lc);
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1:1?memfd_min=1M", &ch), EINVAL);
}

/*
 * A memfd message holds a descriptor until the peer acknowledges it. A stream of them into
 * a receiver that starts late, under a descriptor limit far below the stream's length,
 * must wait for acknowledgements instead of failing with EMFILE; and it must not wait for
 * a heartbeat to bring them: heartbeats are 10 minutes apart here, so a stream that needed
 * them would stall, and a receive would fail on its 20 s timeout. No clock is read.
 */
static uint32_t memfd_size(uint32_t seq)
{
	return 64u << 10;
}

TEST(unix_memfd_stream_under_a_descriptor_limit)
{
	struct rlimit lim = { .rlim_cur = 160, .rlim_max = 160 };
	char l[160], d[160];
	struct sender s = { .count = 3000, .size = memfd_size };
	pthread_t t;

	ASSERT_OK_ERRNO(setrlimit(RLIMIT_NOFILE, &lim));
	snprintf(l, sizeof(l),
		 "unix://@psyne-memfd-lim-%d?listen&heartbeat=600000&peer_timeout=1200000",
		 getpid());
	snprintf(d, sizeof(d), "unix://@psyne-memfd-lim-%d?heartbeat=600000&peer_timeout=1200000",
		 getpid());
	struct psyne_channel *lc = open_ok(l);
	s.ch = open_ok(d);
	ASSERT_OK_ZERO(pthread_create(&t, NULL, send_all, &s));
	(void)usleep(200 * 1000); /* the sender runs ahead */
	for (uint32_t i = 0; i < s.count; i++) {
		struct psyne_msg m;

		ASSERT_OK(psyne_receive(lc, 20000, &m));
		ASSERT_EQ(m.size, (size_t)64 << 10);
		ASSERT_TRUE(check(m.data, i, (uint32_t)m.size));
		psyne_release(lc, &m);
	}
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_EQ(s.error, 0);
	psyne_close(s.ch);
	psyne_close(lc);
}

/* Each side sends and receives on its one handle (a handle is used by one thread). */
/*
 * Large frames over TCP, which the receiver waits for with SO_RCVLOWAT set to what is
 * missing of the frame (net_session.c, rx_lowat()): sizes on both sides of the threshold, the
 * largest the ring takes, and small messages right behind large ones, which must not wait
 * for bytes that never come. Every byte is checked; a receiver waiting for more than the
 * frame fails on the 10 s timeout.
 */
TEST(tcp_large_messages)
{
	static const uint32_t sizes[] = { 1u << 20,	   100,	  (64u << 10) + 1, 4,	700u << 10,
					  (4u << 20) - 64, 65535, 1u << 20,	   200, 3u << 20,
					  (1u << 20) + 7 };
	const uint32_t n = ELEMENTSOF(sizes);
	char l[128], d[128];
	unsigned port = free_port();

	/* Heartbeats a minute apart: no PING comes to wake a receiver waiting for too much. */
	snprintf(l, sizeof(l),
		 "tcp://127.0.0.1:%u?listen&capacity=8M&heartbeat=60000&peer_timeout=120000", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?capacity=8M&heartbeat=60000&peer_timeout=120000",
		 port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);

	/* Two at a time, both ways: the second is often behind a large first. */
	for (uint32_t round = 0; round < 4; round++) {
		struct psyne_channel *from = round % 2 ? lc : dc, *to = round % 2 ? dc : lc;

		for (uint32_t i = 0; i < n; i += 2) {
			uint32_t last = MIN(i + 2, n);
			struct psyne_msg m;

			for (uint32_t k = i; k < last; k++) {
				ASSERT_OK(psyne_reserve(from, sizes[k], 10000, &m));
				fill(m.data, round * 100 + k, sizes[k]);
				ASSERT_OK(psyne_commit(from, &m));
			}
			for (uint32_t k = i; k < last; k++) {
				ASSERT_OK(psyne_receive(to, 10000, &m));
				ASSERT_EQ(m.size, (size_t)sizes[k]);
				ASSERT_TRUE(check(m.data, round * 100 + k, sizes[k]));
				psyne_release(to, &m);
			}
		}
	}
	psyne_close(dc);
	psyne_close(lc);
}

struct echo {
	struct psyne_channel *ch;
	uint32_t count;
	int error;
};

static void *echo_all(void *arg)
{
	struct echo *e = arg;

	for (uint32_t i = 0; i < e->count && e->error == 0; i++) {
		struct psyne_msg in, out;

		e->error = psyne_receive(e->ch, 10000, &in);
		if (e->error < 0)
			break;
		e->error = psyne_reserve(e->ch, in.size, 10000, &out);
		if (e->error == 0) {
			memcpy(out.data, in.data, in.size);
			e->error = psyne_commit(e->ch, &out);
		}
		psyne_release(e->ch, &in);
	}
	return NULL;
}

static _Atomic bool pingpong_done;

static void *watchdog(void *arg)
{
	unsigned seconds = *(unsigned *)arg;

	for (unsigned i = 0; i < seconds * 10 && !pingpong_done; i++)
		usleep(100 * 1000);
	if (!pingpong_done) {
		(void)fprintf(stderr, "the round trips did not finish in %u s: a receive hangs\n",
			      seconds);
		abort();
	}
	return NULL;
}

/*
 * Round trips of large frames, the dialer waiting with no deadline: it sleeps in recv()
 * for small frames (wait_in_read()) but must not while SO_RCVLOWAT awaits the rest of a
 * large one, where a blocking recv() that has copied part of the queue is never woken
 * again. With heartbeats a minute apart such a hang lasts, and the watchdog fails the test.
 */
TEST(dialer_round_trips_of_large_frames)
{
	char l[160], d[160];
	unsigned port = free_port(), limit = 60;
	pthread_t t, w;

	snprintf(l, sizeof(l),
		 "tcp://127.0.0.1:%u?listen&capacity=8M&heartbeat=60000&peer_timeout=120000", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?capacity=8M&heartbeat=60000&peer_timeout=120000",
		 port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);
	struct echo e = { .ch = lc, .count = 300 };

	pingpong_done = false;
	ASSERT_OK_ZERO(pthread_create(&w, NULL, watchdog, &limit));
	ASSERT_OK_ZERO(pthread_create(&t, NULL, echo_all, &e));
	for (uint32_t i = 0; i < e.count; i++) {
		uint32_t size = i % 3 == 2 ? 200 : (1u << 20) + i;
		struct psyne_msg m;

		ASSERT_OK(psyne_reserve(dc, size, 10000, &m));
		fill(m.data, i, size);
		ASSERT_OK(psyne_commit(dc, &m));
		ASSERT_OK(psyne_receive(dc, -1, &m));
		ASSERT_EQ(m.size, (size_t)size);
		ASSERT_TRUE(check(m.data, i, size));
		psyne_release(dc, &m);
	}
	pingpong_done = true;
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_OK_ZERO(pthread_join(w, NULL));
	ASSERT_EQ(e.error, 0);
	psyne_close(dc);
	psyne_close(lc);
}

TEST(tcp_both_directions)
{
	char l[128], d[128];
	unsigned port = free_port();
	const uint32_t count = 5000;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "tcp://localhost:%u", port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);
	uint8_t buf[4096];

	for (uint32_t i = 0; i < count; i++) {
		struct psyne_channel *from = i % 2 ? lc : dc, *to = i % 2 ? dc : lc;
		uint32_t type;

		fill(buf, i, size_of(i));
		ASSERT_OK(psyne_send(from, buf, size_of(i), i, 10000));
		ASSERT_EQ(psyne_recv(to, buf, sizeof(buf), &type, 10000), (int)size_of(i));
		ASSERT_EQ(type, i);
		ASSERT_TRUE(check(buf, i, size_of(i)));
	}
	psyne_close(dc);
	ASSERT_ERROR(psyne_recv(lc, buf, sizeof(buf), NULL, 10000), EPIPE);
	psyne_close(lc);
}

/*
 * Heartbeats every 10 ms on both sides: the I/O thread queues control frames (PING, PONG,
 * ACK) while the caller's thread is in the middle of writing data, and the byte accounting
 * of each write must still match what it wrote.
 */
TEST(heartbeats_while_streaming)
{
	char l[160], d[160];
	unsigned port = free_port();

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&heartbeat=10&peer_timeout=2000", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?heartbeat=10&peer_timeout=2000&capacity=64K",
		 port);
	struct psyne_channel *lc = open_ok(l);
	struct sender s = { .uri = d, .count = 100000 };
	pthread_t t;

	ASSERT_OK_ZERO(pthread_create(&t, NULL, send_all, &s));
	receive_all(lc, 1, s.count, -EPIPE);
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_EQ(s.error, 0);
	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(lc, &st));
	ASSERT_EQ(st.reconnects, 0u);
	psyne_close(lc);
}

/*
 * Bursts of small messages, committed faster than one write each, with the sender then
 * idle and still open: each burst's tail was left to a batch, and must arrive without a
 * further commit, close or heartbeat (heartbeats here are 60 s apart). Each burst also
 * ends after a different number of messages, so tails of every length are left, and some
 * bursts exceed the size at which the committing thread writes the batch itself.
 */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A commit right behind our last write starts a batch, which waits up to 200 us for more;
 * but a commit after receiving a message from the peer since that write is an answer and
 * goes out at once, however recently the write returned. Here the answer comes well inside
 * the batching window: D writes a message, takes a message L had sent before (already read
 * along with the one before it, so no system call stands between), and answers at once.
 * Over 20 tries the answer's median trip must be far below the batch delay; held for a
 * batch, a trip takes more than 200 us.
 */
TEST(an_answer_right_after_a_write_is_not_batched)
{
	char l[160], d[160];
	unsigned port = free_port();
	uint64_t trips[20];

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&heartbeat=60000&peer_timeout=120000",
		 port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?heartbeat=60000&peer_timeout=120000", port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);

	for (uint32_t i = 0; i < ELEMENTSOF(trips); i++) {
		struct psyne_msg m;
		uint64_t t;

		/* Two messages to D, each a lone write, both in D's socket before it reads, so
		 * that one read takes both (on a loaded machine it may not: that try then has
		 * a system call between write and answer and proves nothing either way). */
		for (uint32_t k = 0; k < 2; k++) {
			ASSERT_OK(psyne_reserve(lc, 64, 10000, &m));
			fill(m.data, 2 * i + k, 64);
			ASSERT_OK(psyne_commit(lc, &m));
			(void)usleep(2000);
		}
		ASSERT_OK(psyne_receive(dc, 10000, &m));
		ASSERT_TRUE(check(m.data, 2 * i, 64));
		psyne_release(dc, &m);
		(void)usleep(2000); /* whatever D wrote before is long gone: this one is lone */

		ASSERT_OK(psyne_reserve(dc, 64, 10000, &m));
		fill(m.data, 2 * i, 64);
		ASSERT_OK(psyne_commit(dc, &m));	 /* written at once */
		ASSERT_OK(psyne_receive(dc, 10000, &m)); /* normally already here */
		ASSERT_TRUE(check(m.data, 2 * i + 1, 64));
		psyne_release(dc, &m);
		ASSERT_OK(psyne_reserve(dc, 64, 10000, &m));
		fill(m.data, 2 * i + 1, 64);
		t = now_nsec(CLOCK_MONOTONIC);
		ASSERT_OK(psyne_commit(dc, &m)); /* the answer */

		ASSERT_OK(psyne_receive(lc, 10000, &m));
		ASSERT_TRUE(check(m.data, 2 * i, 64));
		psyne_release(lc, &m);
		ASSERT_OK(psyne_receive(lc, 10000, &m));
		trips[i] = now_nsec(CLOCK_MONOTONIC) - t;
		ASSERT_TRUE(check(m.data, 2 * i + 1, 64));
		psyne_release(lc, &m);
	}
	qsort(trips, ELEMENTSOF(trips), sizeof(trips[0]), cmp_u64);
	printf("# answers: median %.1f us, slowest %.1f us\n", (double)trips[10] / 1e3,
	       (double)trips[19] / 1e3);
	ASSERT_LT(trips[10], UINT64_C(150) * 1000);
	psyne_close(dc);
	psyne_close(lc);
}

TEST(burst_tails_arrive_while_the_sender_idles)
{
	char l[160], d[160];
	unsigned port = free_port();

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&heartbeat=60000&peer_timeout=120000",
		 port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?heartbeat=60000&peer_timeout=120000", port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);
	uint32_t seq = 0, got = 0;

	for (uint32_t burst = 0; burst < 40; burst++) {
		uint32_t n = 1 + (burst * 7919u) % 3000;

		for (uint32_t i = 0; i < n; i++, seq++) {
			struct psyne_msg m;

			ASSERT_OK(psyne_reserve(dc, 64, 10000, &m));
			fill(m.data, seq, 64);
			ASSERT_OK(psyne_commit(dc, &m));
		}
		/* The sender does nothing now. 500 ms is thousands of times the batching delay,
		 * and less than the longest sleep of an I/O thread with nothing to do (1 s). */
		for (; got < seq; got++) {
			struct psyne_msg m;

			ASSERT_OK(psyne_receive(lc, 500, &m));
			ASSERT_EQ(m.size, (size_t)64);
			ASSERT_TRUE(check(m.data, got, 64));
			psyne_release(lc, &m);
		}
	}
	psyne_close(dc);
	psyne_close(lc);
}

/*
 * A dialer waiting with no deadline sleeps in recv() on its session's socket. It must still
 * get up when there is no data to wake it: the listener's process is stopped (SIGSTOP), so
 * it goes silent with its socket open; after the peer timeout the I/O thread drops the
 * connection, which has to end the recv(). The dialer then dials again into the stopped
 * process (the kernel completes the TCP handshake, nobody answers HELLO) and gives the
 * session up after `reconnect`: the receive fails instead of sleeping for ever. Before
 * that, a message from the listener wakes it as data should.
 */
TEST(dialer_waiting_in_read_sees_a_silent_peer)
{
	char l[160], d[160];
	unsigned port = free_port();
	int ready[2], go[2];
	char c;
	pid_t child;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&heartbeat=50&peer_timeout=300", port);
	snprintf(d, sizeof(d),
		 "tcp://127.0.0.1:%u?heartbeat=50&peer_timeout=300&reconnect=1000&"
		 "connect_timeout=5000",
		 port);
	ASSERT_OK_ERRNO(pipe(ready));
	ASSERT_OK_ERRNO(pipe(go));
	child = fork();
	ASSERT_OK_ERRNO(child);
	if (child == 0) {
		struct psyne_channel *ch = NULL;

		if (psyne_open(l, &ch) < 0)
			_exit(10);
		(void)!write(ready[1], "r", 1);
		if (read(go[0], &c, 1) != 1) /* the dialer is up */
			_exit(11);
		usleep(100 * 1000); /* let it go to sleep in its receive */
		if (psyne_send(ch, "wake", 4, 7, 5000) < 0)
			_exit(12);
		pause(); /* stopped, then killed */
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);

	struct psyne_channel *dc = open_ok(d);
	uint8_t buf[16];
	uint32_t type = 0;

	ASSERT_EQ(write(go[1], "g", 1), 1);
	ASSERT_EQ(psyne_recv(dc, buf, sizeof(buf), &type, -1), 4);
	ASSERT_EQ(type, 7u);
	ASSERT_OK_ERRNO(kill(child, SIGSTOP));

	uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
	int r = psyne_recv(dc, buf, sizeof(buf), NULL, -1);
	uint64_t waited_ms = (now_nsec(CLOCK_MONOTONIC) - t0) / 1000000;

	ASSERT_OK_ERRNO(kill(child, SIGKILL));
	ASSERT_OK_ERRNO(waitpid(child, NULL, 0));
	ASSERT_TRUE(r == -ECONNRESET || r == -ETIMEDOUT);
	/* Silent for 300 ms, then 1 s of dialing: well under 10 s under any sanitizer. */
	ASSERT_LT(waited_ms, 10000u);
	psyne_close(dc);
}

/*
 * A name with several addresses: a dialer that cannot reach the first tries the next. The
 * listener is on 127.0.0.1 only; "localhost" may resolve to ::1 first.
 */
TEST(dial_tries_every_address)
{
	char l[128], d[128], hosts[64];
	unsigned port = free_port();
	FILE *f;

	/* In a mount namespace of its own, the test gives a name two addresses: ::1 first,
	 * where nobody listens, then 127.0.0.1. */
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		SKIP_TEST("cannot make a mount namespace (needs root)");
	snprintf(hosts, sizeof(hosts), "/tmp/psyne-hosts-%d", getpid());
	f = fopen(hosts, "we");
	ASSERT_NOT_NULL(f);
	fprintf(f, "::1 psyne-two-addresses\n127.0.0.1 psyne-two-addresses\n");
	fclose(f);
	ASSERT_OK_ERRNO(mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL));
	(void)unlink(hosts);

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "tcp://psyne-two-addresses:%u", port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);
	char buf[8];

	ASSERT_OK(psyne_send(dc, "hi", 2, 0, 5000));
	ASSERT_EQ(psyne_recv(lc, buf, sizeof(buf), NULL, 5000), 2);
	psyne_close(dc);
	psyne_close(lc);
}

TEST(mpsc_many_dialers)
{
	char l[128], d[128];
	unsigned port = free_port();
	enum {
		N = 4
	};
	struct sender s[N];
	pthread_t t[N];

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&mode=mpsc", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?mode=mpsc", port);
	struct psyne_channel *lc = open_ok(l);
	pthread_barrier_t opened;

	ASSERT_OK_ZERO(pthread_barrier_init(&opened, NULL, N));
	for (uint32_t i = 0; i < N; i++) {
		s[i] = (struct sender){ .uri = d, .count = 5000, .id = i, .opened = &opened };
		ASSERT_OK_ZERO(pthread_create(&t[i], NULL, send_all, &s[i]));
	}
	receive_all(lc, N, 5000, -EPIPE);
	for (uint32_t i = 0; i < N; i++) {
		ASSERT_OK_ZERO(pthread_join(t[i], NULL));
		ASSERT_EQ(s[i].error, 0);
	}
	pthread_barrier_destroy(&opened);
	psyne_close(lc);
}

TEST(refusals)
{
	char l[128], d[128];
	unsigned port = free_port();
	struct psyne_channel *ch = NULL;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", port);
	struct psyne_channel *lc = open_ok(l);

	/* Nobody listens there: refused at once, as the kernel said. */
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u", free_port());
	ASSERT_ERROR(psyne_open(d, &ch), ECONNREFUSED);
	/* Another mode. */
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?mode=mpsc", port);
	ASSERT_ERROR(psyne_open(d, &ch), EEXIST);
	/* spsc: one peer at a time, once it has proved itself (it delivered a message). */
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u", port);
	struct psyne_channel *first = open_ok(d);
	struct psyne_msg m;
	ASSERT_OK(psyne_send(first, "x", 1, 0, 5000));
	ASSERT_OK(psyne_receive(lc, 5000, &m));
	psyne_release(lc, &m);
	ASSERT_ERROR(psyne_open(d, &ch), EBUSY);
	/* Bad addresses and options. */
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1:0", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1:99999", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1:1?heartbeat=1", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1:1?bogus=1", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("unix://@", &ch), EINVAL);

	/* A message larger than the peer takes. */
	ASSERT_ERROR(psyne_reserve(first, 1u << 20, 0, &m), EMSGSIZE);
	psyne_close(first);
	psyne_close(lc);
}

/* The last error line the library logged, for the option tests. */
static char last_error_line[512];

static void keep_error(int level, const char *message, void *userdata)
{
	if (level <= PSYNE_LOG_ERR)
		snprintf(last_error_line, sizeof(last_error_line), "%s", message);
}

/* Opening `uri` fails with -EINVAL, and the line that says why contains each of `words`. */
static void refused_saying(const char *uri, const char *const *words)
{
	struct psyne_channel *ch = NULL;

	last_error_line[0] = 0;
	psyne_set_log_func(keep_error, PSYNE_LOG_ERR, NULL);
	ASSERT_ERROR(psyne_open(uri, &ch), EINVAL);
	ASSERT_NULL(ch);
	for (size_t i = 0; words[i]; i++)
		if (!strstr(last_error_line, words[i])) {
			printf("# '%s': no '%s' in '%s'\n", uri, words[i], last_error_line);
			ASSERT_NOT_NULL(strstr(last_error_line, words[i]));
		}
	psyne_set_log_func(NULL, 0, NULL);
}

#define REFUSED(uri, ...) refused_saying(uri, (const char *const[]){ __VA_ARGS__, NULL })

/*
 * Options come from one table: each has a kind, bounds, the schemes and sides that take
 * it. A bad value is refused with a line naming the option, the value and what is allowed;
 * an option the scheme or the side does not take is refused and named.
 */
TEST(options_are_checked_against_their_table)
{
	char l[256], d[256];
	unsigned port = free_port();

	/* Values out of their range, or not of their kind. */
	REFUSED("tcp://127.0.0.1:1?listen&max_peers=0", "max_peers=0", "1", "1024");
	REFUSED("tcp://127.0.0.1:1?listen&max_peers=1025", "max_peers=1025", "1024");
	REFUSED("tcp://127.0.0.1:1?listen&max_peers=4K", "max_peers=4K", "1024");
	REFUSED("tcp://127.0.0.1:1?heartbeat=5", "heartbeat=5", "10", "600000");
	REFUSED("tcp://127.0.0.1:1?heartbeat=often", "heartbeat=often", "milliseconds");
	REFUSED("tcp://127.0.0.1:1?heartbeat=1000&peer_timeout=500", "peer_timeout=500",
		"heartbeat");
	REFUSED("tcp://127.0.0.1:1?capacity=32K", "capacity=32K", "64K", "1G");
	REFUSED("tcp://127.0.0.1:1?capacity=2G", "capacity=2G", "64K", "1G");
	REFUSED("tcp://127.0.0.1:1?nodelay=2", "nodelay=2", "0 or 1");
	REFUSED("tcp://127.0.0.1:1?mode=fifo", "mode=fifo", "spsc");
	REFUSED("tcp://127.0.0.1:1?linger=-1", "linger=-1", "milliseconds");
	REFUSED("unix://@x?memfd_min=2G", "memfd_min=2G", "1G");
	/* Options of another scheme. */
	REFUSED("tcp://127.0.0.1:1?memfd_min=1M", "memfd_min", "tcp://", "unix://");
	REFUSED("unix://@x?psk=00112233445566778899aabbccddeeff", "psk", "unix://", "tls://");
	REFUSED("unix://@x?nodelay=0", "nodelay", "unix://");
	REFUSED("tcp://127.0.0.1:1?cert=/a.crt&key=/a.key", "tcp://", "tls://");
	/* Options of the other side. */
	REFUSED("tcp://127.0.0.1:1?max_peers=4", "max_peers", "listen");
	REFUSED("tcp://127.0.0.1:1?listen&connect_timeout=100", "connect_timeout", "dial");
	/* Unknown, and given twice. */
	REFUSED("tcp://127.0.0.1:1?max_peer=4", "max_peer");
	REFUSED("tcp://127.0.0.1:1?heartbeat=100&heartbeat=200", "heartbeat");

	/* Every option of each side at a value it takes. */
	snprintf(l, sizeof(l),
		 "tcp://127.0.0.1:%u?listen&mode=mpsc&capacity=100K&heartbeat=100&"
		 "peer_timeout=1000&reconnect=0&linger=0&max_peers=3&nodelay=0",
		 port);
	snprintf(d, sizeof(d),
		 "tcp://127.0.0.1:%u?mode=mpsc&capacity=128K&heartbeat=600000&"
		 "peer_timeout=600000&reconnect=1000&linger=100&connect_timeout=5000&nodelay=1",
		 port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);
	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(lc, &st));
	ASSERT_EQ(st.capacity, (uint64_t)128 << 10); /* rounded up to a power of two */
	ASSERT_OK(psyne_send(dc, "x", 1, 0, 5000));
	psyne_close(dc);
	psyne_close(lc);
	snprintf(l, sizeof(l), "unix://@psyne-options-%d?listen&memfd_min=0&listen", getpid());
	REFUSED(l, "listen");
	snprintf(l, sizeof(l), "unix://@psyne-options-%d?listen=1&memfd_min=1G", getpid());
	lc = open_ok(l);
	psyne_close(lc);
}

/*
 * A dialer whose every address refuses its first connection fails at once with
 * -ECONNREFUSED, saying so, instead of dialing again until connect_timeout (a minute here:
 * waiting for it would fail the test's own timeout). A session that was up keeps dialing
 * through refusals until `reconnect` ends it.
 */
TEST(dialing_a_closed_port_is_refused)
{
	char d[192], l[192], want[128];
	unsigned port = free_port();
	int ready[2];
	pid_t child;
	char c;

	psyne_set_log_func(keep_error, PSYNE_LOG_ERR, NULL);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?connect_timeout=60000", port);
	struct psyne_channel *ch = NULL;
	ASSERT_ERROR(psyne_open(d, &ch), ECONNREFUSED);
	snprintf(want, sizeof(want), "tcp://127.0.0.1:%u: connection refused", port);
	ASSERT_STREQ(last_error_line, want);
	snprintf(d, sizeof(d), "tcp://localhost:%u?connect_timeout=60000", port);
	ASSERT_ERROR(psyne_open(d, &ch), ECONNREFUSED); /* maybe ::1 and 127.0.0.1 */
	snprintf(d, sizeof(d),
		 "tls://127.0.0.1:%u?connect_timeout=60000&psk=00112233445566778899aabbccddeeff",
		 port);
	ASSERT_ERROR(psyne_open(d, &ch), ECONNREFUSED);
	snprintf(d, sizeof(d), "unix://@psyne-nobody-%d?connect_timeout=60000", getpid());
	ASSERT_ERROR(psyne_open(d, &ch), ECONNREFUSED);
	ASSERT_NULL(ch);
	psyne_set_log_func(NULL, 0, NULL);

	/* Up once, then the listener dies: the dialer's redials are refused, and the session
	 * ends after `reconnect`, as any broken one. */
	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?reconnect=500", port);
	ASSERT_OK_ERRNO(pipe(ready));
	child = fork();
	ASSERT_OK_ERRNO(child);
	if (child == 0) {
		if (psyne_open(l, &ch) < 0)
			_exit(10);
		(void)!write(ready[1], "r", 1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	ch = open_ok(d);
	ASSERT_OK_ERRNO(kill(child, SIGKILL));
	ASSERT_OK_ERRNO(waitpid(child, NULL, 0));
	uint8_t buf[8];
	ASSERT_ERROR(psyne_recv(ch, buf, sizeof(buf), NULL, 20000), ECONNRESET);
	psyne_close(ch);
}

struct serial {
	struct psyne_channel *lc;
	uint32_t count, got, pipes;
	int error;
};

/* Receives `count` messages numbered by their type, across the dialers' comings and goings. */
static void *receive_serially(void *arg)
{
	struct serial *r = arg;

	while (r->got < r->count) {
		struct psyne_msg m;
		int e = psyne_receive(r->lc, 20000, &m);

		if (e == -EPIPE) {
			r->pipes++; /* said once: the next call waits for the next dialer */
			continue;
		}
		if (e < 0) {
			r->error = e;
			break;
		}
		if (m.type != r->got) {
			r->error = -EBADMSG;
			break;
		}
		r->got++;
		psyne_release(r->lc, &m);
	}
	return NULL;
}

/*
 * An spsc listener serves one dialer after another: each opens, sends, closes in order,
 * and the next opens at once, while the listener's caller waits in receive (and so reads
 * the sockets itself). The listener says -EPIPE once when a dialer has gone, then waits
 * for the next: it used to say it again at once to every call until one came, a million
 * times in a loop like this one.
 */
TEST(an_spsc_listener_serves_one_dialer_after_another)
{
	char l[128], d[128];
	unsigned port = free_port();
	struct serial r = { .count = 30 };
	pthread_t t;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u", port);
	r.lc = open_ok(l);
	ASSERT_OK_ZERO(pthread_create(&t, NULL, receive_serially, &r));
	for (uint32_t i = 0; i < r.count; i++) {
		struct psyne_channel *ch = open_ok(d);

		ASSERT_OK(psyne_send(ch, &i, sizeof(i), i, 5000));
		psyne_close(ch);
	}
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_EQ(r.error, 0);
	ASSERT_EQ(r.got, r.count);
	ASSERT_LE(r.pipes, r.count);
	psyne_close(r.lc);
}

/* Garbage, truncated frames and silent connections: the listener stays up and serves. */
TEST(hostile_peers)
{
	char l[128], d[128];
	unsigned port = free_port();
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&mode=mpsc&heartbeat=100&peer_timeout=400",
		 port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?mode=mpsc&heartbeat=100&peer_timeout=400", port);
	struct psyne_channel *lc = open_ok(l);
	const char *junk[] = {
		"GET / HTTP/1.0\r\n\r\n",
		"PSYF",
		"\x50\x53\x59\x46\x09\x01",
		"GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n",
	};
	int silent[8];

	for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		ASSERT_OK_ERRNO(connect(fd, (struct sockaddr *)&a, sizeof(a)));
		ASSERT_OK_ERRNO(write(fd, junk[i], strlen(junk[i])));
		close(fd);
	}
	for (size_t i = 0; i < ELEMENTSOF(silent); i++) {
		silent[i] = socket(AF_INET, SOCK_STREAM, 0);
		ASSERT_OK_ERRNO(connect(silent[i], (struct sockaddr *)&a, sizeof(a)));
	}
	struct sender s = { .uri = d, .count = 2000 };
	pthread_t t;
	ASSERT_OK_ZERO(pthread_create(&t, NULL, send_all, &s));
	receive_all(lc, 1, s.count, -EPIPE);
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_EQ(s.error, 0);
	/* The silent ones were dropped after the handshake timeout. */
	for (size_t i = 0; i < ELEMENTSOF(silent); i++) {
		char c;
		struct pollfd pfd = { .fd = silent[i], .events = POLLIN };

		ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		ASSERT_EQ(read(silent[i], &c, 1), 0);
		close(silent[i]);
	}
	psyne_close(lc);
}

/* ---- hostile peers that get past the first bytes ------------------------------------ */

static int dial_raw(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(connect(fd, (struct sockaddr *)&a, sizeof(a)));
	return fd;
}

/* A real handshake from a raw socket, so that what follows reaches the session. */
static int dial_session(unsigned port, uint32_t mode)
{
	uint8_t buf[PSYNE_FRAME_HDR_SIZE + PSYNE_FRAME_HELLO_SIZE];
	struct psyne_hello h = { .session = (uint64_t)getpid() << 20 | (uint64_t)rand(),
				 .next_seq = UINT64_MAX,
				 .mode = mode,
				 .max_msg = 4096,
				 .heartbeat_ms = 500,
				 .window = 1 << 20 };
	struct psyne_frame f = { .kind = PSYNE_FRAME_HELLO, .length = PSYNE_FRAME_HELLO_SIZE };
	int fd = dial_raw(port);

	psyne__frame_hello_encode(buf + PSYNE_FRAME_HDR_SIZE, &h);
	psyne__frame_encode(buf, &f, buf + PSYNE_FRAME_HDR_SIZE, PSYNE_FRAME_HELLO_SIZE);
	ASSERT_EQ(send(fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
	ASSERT_EQ(recv(fd, buf, sizeof(buf), MSG_WAITALL), (ssize_t)sizeof(buf)); /* its HELLO */
	return fd;
}

/* The listener closes on us: read until EOF (what it sent before is of no interest). */
static void expect_dropped(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[256];
	ssize_t n;

	do {
		ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		n = recv(fd, buf, sizeof(buf), 0);
	} while (n > 0);
	close(fd);
}

static uint64_t rss_kib(void)
{
	char line[256];
	uint64_t kib = 0;
	FILE *f = fopen("/proc/self/status", "re");

	ASSERT_NOT_NULL(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
			break;
	fclose(f);
	return kib;
}

TEST(hostile_sessions)
{
	char l[160], d[160];
	unsigned port = free_port();
	uint8_t frame[PSYNE_FRAME_HDR_SIZE + 64];
	struct psyne_frame f = { .kind = PSYNE_FRAME_DATA, .length = 64 };

	/* A session whose connection drops without BYE is waited for: 500 ms here. */
	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&mode=mpsc&max_peers=1024&reconnect=500",
		 port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?mode=mpsc", port);
	struct psyne_channel *lc = open_ok(l);

	memset(frame, 0xab, sizeof(frame));
	psyne__frame_encode(frame, &f, frame + PSYNE_FRAME_HDR_SIZE, 64);

	/* A payload byte flipped: the CRC fails. */
	int fd = dial_session(port, 1);
	frame[PSYNE_FRAME_HDR_SIZE + 5] ^= 1;
	ASSERT_EQ(send(fd, frame, sizeof(frame), MSG_NOSIGNAL), (ssize_t)sizeof(frame));
	frame[PSYNE_FRAME_HDR_SIZE + 5] ^= 1;
	expect_dropped(fd);

	/* Another version. */
	fd = dial_session(port, 1);
	frame[4] = 9;
	ASSERT_EQ(send(fd, frame, sizeof(frame), MSG_NOSIGNAL), (ssize_t)sizeof(frame));
	frame[4] = 1;
	expect_dropped(fd);

	/* A length far beyond what the listener takes: refused from the header alone. */
	fd = dial_session(port, 1);
	uint32_t huge = htole32(0x7fffffff);
	uint8_t hdr[PSYNE_FRAME_HDR_SIZE];
	memcpy(hdr, frame, sizeof(hdr));
	memcpy(hdr + 12, &huge, 4);
	ASSERT_EQ(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
	expect_dropped(fd);

	/* Garbage after a good handshake. */
	fd = dial_session(port, 1);
	ASSERT_EQ(send(fd, "this is not a frame, not at all, no", 35, MSG_NOSIGNAL), 35);
	expect_dropped(fd);

	/* A truncated frame, then the connection closes: nothing reaches the caller. */
	fd = dial_session(port, 1);
	ASSERT_EQ(send(fd, frame, sizeof(frame) - 10, MSG_NOSIGNAL), (ssize_t)sizeof(frame) - 10);
	close(fd);

	/* Slowloris: a HELLO a byte at a time, too slowly. It is dropped at the deadline. */
	fd = dial_raw(port);
	uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
	for (int i = 0; i < 40; i++) {
		if (send(fd, "P", 1, MSG_NOSIGNAL) != 1)
			break;
		(void)usleep(100 * 1000);
	}
	expect_dropped(fd);
	uint64_t held = now_nsec(CLOCK_MONOTONIC) - t0;
	ASSERT_LT(held, 3000ull * 1000 * 1000);

	/* 1000 connections opened and dropped, some halfway through a HELLO. */
	uint64_t before = rss_kib();
	for (int i = 0; i < 1000; i++) {
		fd = dial_raw(port);
		if (i % 2 == 0)
			(void)send(fd, frame, 20, MSG_NOSIGNAL);
		close(fd);
	}
	/* And 100 real sessions, each opened, used and closed. */
	for (int i = 0; i < 100; i++) {
		struct psyne_channel *ch = open_ok(d);
		struct psyne_msg m;

		ASSERT_OK(psyne_send(ch, "x", 1, (uint32_t)i, 5000));
		psyne_close(ch);
		ASSERT_OK(psyne_receive(lc, 5000, &m));
		ASSERT_EQ(m.type, (uint32_t)i);
		psyne_release(lc, &m);
	}
	(void)usleep(300 * 1000); /* the I/O thread frees sessions that are over */
	uint64_t after = rss_kib();
	printf("# RSS before %" PRIu64
	       " KiB, after 1000 dropped connections and 100 sessions %" PRIu64
	       " KiB; a hostile HELLO was held %.0f ms\n",
	       before, after, (double)held / 1e6);
	ASSERT_LT(after, before + RSS_GROWTH_MAX_KIB);

	/* The listener still serves (once the truncated session above has expired, so that
	 * the last session to end is this orderly one). */
	(void)usleep(600 * 1000);
	struct sender s = { .ch = open_ok(d), .count = 1000 };
	pthread_t t;
	ASSERT_OK_ZERO(pthread_create(&t, NULL, send_all, &s));
	receive_all(lc, 1, s.count, 0);
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_EQ(s.error, 0);
	psyne_close(s.ch);
	struct psyne_msg m;
	ASSERT_ERROR(psyne_receive(lc, 5000, &m), EPIPE);
	psyne_close(lc);
}

/* One DATA frame of `len` bytes of `fill` (type `type`, number `seq`) on a raw session. */
static void send_data(int fd, uint32_t type, uint64_t seq, uint32_t len, uint8_t fill)
{
	uint8_t buf[PSYNE_FRAME_HDR_SIZE + 256];
	struct psyne_frame f = { .kind = PSYNE_FRAME_DATA, .type = type, .length = len, .seq = seq };
	size_t n = PSYNE_FRAME_HDR_SIZE + ALIGN_TO(len, 8u);

	ASSERT_LE(n, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	memset(buf + PSYNE_FRAME_HDR_SIZE, fill, len);
	psyne__frame_encode(buf, &f, buf + PSYNE_FRAME_HDR_SIZE, len);
	ASSERT_EQ(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

/*
 * A listener with 1024 sessions, the most max_peers allows: each sends one message, and
 * every one arrives. The I/O thread waits on all of them at once (epoll), and finding the
 * session an event is for costs the same whatever their number.
 */
TEST(listener_serves_1024_sessions)
{
	struct rlimit lim;
	unsigned port = free_port();
	char l[192];
	enum {
		N = 1024
	};
	static int fds[N];
	static bool seen[N];

	ASSERT_OK_ERRNO(getrlimit(RLIMIT_NOFILE, &lim));
	if (lim.rlim_max < 3 * N)
		SKIP_TEST("needs 3072 descriptors");
	lim.rlim_cur = lim.rlim_max;
	ASSERT_OK_ERRNO(setrlimit(RLIMIT_NOFILE, &lim));
	snprintf(l, sizeof(l),
		 "tcp://127.0.0.1:%u?listen&mode=mpsc&max_peers=%d&capacity=64K&linger=0&"
		 "heartbeat=60000&peer_timeout=120000",
		 port, N);
	struct psyne_channel *lc = open_ok(l);

	for (int i = 0; i < N; i++) {
		fds[i] = dial_session(port, 1);
		send_data(fds[i], (uint32_t)i, 0, 8, (uint8_t)i);
	}
	for (int i = 0; i < N; i++) {
		struct psyne_msg m;

		ASSERT_OK(psyne_receive(lc, 20000, &m));
		ASSERT_LT(m.type, (uint32_t)N);
		ASSERT_FALSE(seen[m.type]);
		seen[m.type] = true;
		ASSERT_EQ(m.size, (size_t)8);
		ASSERT_EQ(((const uint8_t *)m.data)[7], (uint8_t)m.type);
		psyne_release(lc, &m);
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	psyne_close(lc);
}

/* The stats page of this process's handle on `uri` (scheme://address?listen). */
struct page_of {
	const char *uri;
	bool found;
	struct psyne_inspect_net net;
};

static int on_page(pid_t pid, int fd, const struct psyne_inspect_net *net, int error,
		   void *userdata)
{
	struct page_of *w = userdata;

	if (pid == getpid() && net && streq(net->uri, w->uri)) {
		w->net = *net;
		w->found = true;
	}
	return 0;
}

static struct psyne_inspect_net *page_of(const char *uri)
{
	static struct page_of w;

	w = (struct page_of){ .uri = uri };
	ASSERT_OK(psyne__inspect_net(on_page, &w));
	ASSERT_TRUE(w.found);
	return &w.net;
}

/* A raw session that breaks the protocol in way `how`; the listener drops it. */
static void bad_session(unsigned port, int how)
{
	uint8_t frame[PSYNE_FRAME_HDR_SIZE + 64];
	struct psyne_frame f = { .kind = PSYNE_FRAME_DATA, .length = 64 };
	uint32_t huge = htole32(64u << 20);
	int fd = dial_session(port, 1);

	memset(frame, 0x5a, sizeof(frame));
	psyne__frame_encode(frame, &f, frame + PSYNE_FRAME_HDR_SIZE, 64);
	switch (how) {
	case 0: /* garbage */
		ASSERT_EQ(send(fd, "not a frame, not at all, not one bit", 36, MSG_NOSIGNAL), 36);
		break;
	case 1: /* a frame larger than the ring can ever hold: refused from its header */
		memcpy(frame + 12, &huge, 4);
		ASSERT_EQ(send(fd, frame, PSYNE_FRAME_HDR_SIZE, MSG_NOSIGNAL),
			  (ssize_t)PSYNE_FRAME_HDR_SIZE);
		break;
	default: /* a payload byte flipped: the CRC fails */
		frame[PSYNE_FRAME_HDR_SIZE + 3] ^= 4;
		ASSERT_EQ(send(fd, frame, sizeof(frame), MSG_NOSIGNAL), (ssize_t)sizeof(frame));
		break;
	}
	expect_dropped(fd);
}

/*
 * One peer that breaks the protocol (garbage, a frame larger than the ring, a CRC that
 * fails) loses its session, is counted and shown on the stats page, and costs the others
 * nothing: the listener's calls never report its error. Alone first, it leaves the listener
 * as it was before anyone came; then two real dialers stream while more bad peers come and
 * go, and every message arrives.
 */
TEST(a_bad_peer_costs_only_its_own_session)
{
	char l[128], d[128], page_uri[64];
	unsigned port = free_port();
	pthread_barrier_t opened;
	struct sender s[2];
	pthread_t t[2];
	struct psyne_msg m;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&mode=mpsc", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?mode=mpsc", port);
	snprintf(page_uri, sizeof(page_uri), "tcp://127.0.0.1:%u?listen", port);
	struct psyne_channel *lc = open_ok(l);

	bad_session(port, 0);
	ASSERT_ERROR(psyne_receive(lc, 0, &m), EAGAIN);
	ASSERT_ERROR(psyne_receive(lc, 100, &m), ETIMEDOUT);
	ASSERT_ERROR(psyne_reserve(lc, 8, 0, &m), EAGAIN);
	struct psyne_inspect_net *n = page_of(page_uri);
	ASSERT_EQ(n->bad_sessions, 1u);
	ASSERT_EQ(n->last_error, -EPROTO);

	ASSERT_OK_ZERO(pthread_barrier_init(&opened, NULL, 3));
	for (uint32_t i = 0; i < 2; i++) {
		s[i] = (struct sender){ .uri = d, .count = 3000, .id = i, .opened = &opened };
		ASSERT_OK_ZERO(pthread_create(&t[i], NULL, send_all, &s[i]));
	}
	pthread_barrier_wait(&opened);
	for (int how = 0; how < 3; how++)
		bad_session(port, how);
	receive_all(lc, 2, 3000, -EPIPE);
	for (uint32_t i = 0; i < 2; i++) {
		ASSERT_OK_ZERO(pthread_join(t[i], NULL));
		ASSERT_EQ(s[i].error, 0);
	}
	pthread_barrier_destroy(&opened);
	n = page_of(page_uri);
	ASSERT_EQ(n->bad_sessions, 4u);
	ASSERT_EQ(n->received, 6000u);
	psyne_close(lc);
}

/* ---- a listener under a flood of half-made sessions -------------------------------- */

struct flood {
	unsigned port;
	int n;
	int fds[256];
	int opened;
};

/*
 * Raw connections, as fast as they go, of four kinds in turn: silent; a valid HELLO, then
 * silence; a valid HELLO, then gone; half a HELLO, then silence (a slow sender). None
 * waits for an answer, and every one that stays stays open until the test ends.
 */
static void *flood_run(void *arg)
{
	struct flood *fl = arg;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)fl->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	for (int i = 0; i < fl->n; i++) {
		uint8_t buf[PSYNE_FRAME_HDR_SIZE + PSYNE_FRAME_HELLO_SIZE];
		struct psyne_hello h = { .session = 0xf100d00000000000ull + (uint64_t)i,
					 .next_seq = UINT64_MAX,
					 .mode = 1, /* mpsc */
					 .max_msg = 4096,
					 .heartbeat_ms = 500,
					 .window = 1 << 20 };
		struct psyne_frame f = { .kind = PSYNE_FRAME_HELLO,
					 .length = PSYNE_FRAME_HELLO_SIZE };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		fl->fds[i] = -1;
		if (fd < 0)
			continue;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(fd);
			continue;
		}
		psyne__frame_hello_encode(buf + PSYNE_FRAME_HDR_SIZE, &h);
		psyne__frame_encode(buf, &f, buf + PSYNE_FRAME_HDR_SIZE, PSYNE_FRAME_HELLO_SIZE);
		if (i % 4 == 1 || i % 4 == 2)
			(void)send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		else if (i % 4 == 3)
			(void)send(fd, buf, sizeof(buf) / 2, MSG_NOSIGNAL);
		if (i % 4 == 2) {
			close(fd);
			continue;
		}
		fl->fds[i] = fd;
		fl->opened++;
	}
	return NULL;
}

/*
 * A listener that takes 4 sessions, under a flood of 200 connections that never become
 * real sessions: silent ones, HELLOs that go quiet or go away, and HELLOs cut in half.
 * Meanwhile 4 real dialers open and stream to it: each must get in and every message must
 * arrive. Half-made sessions do not count against max_peers until they prove themselves,
 * and handshakes have their own bound; neither may starve real dialers.
 */
TEST(a_flood_of_half_made_sessions_does_not_lock_a_listener_out)
{
	char l[160], d[160];
	unsigned port = free_port();
	enum {
		N = 4
	};
	struct flood fl = { .port = port, .n = 200 };
	pthread_barrier_t opened;
	struct sender s[N];
	pthread_t t[N], tf;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&mode=mpsc&max_peers=%d", port, N);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?mode=mpsc&connect_timeout=60000", port);
	struct psyne_channel *lc = open_ok(l);

	ASSERT_OK_ZERO(pthread_create(&tf, NULL, flood_run, &fl));
	ASSERT_OK_ZERO(pthread_barrier_init(&opened, NULL, N));
	for (uint32_t i = 0; i < N; i++) {
		s[i] = (struct sender){ .uri = d, .count = 500, .id = i, .opened = &opened };
		ASSERT_OK_ZERO(pthread_create(&t[i], NULL, send_all, &s[i]));
	}
	receive_all(lc, N, 500, 0);
	for (uint32_t i = 0; i < N; i++) {
		ASSERT_OK_ZERO(pthread_join(t[i], NULL));
		ASSERT_EQ(s[i].error, 0);
	}
	pthread_barrier_destroy(&opened);
	ASSERT_OK_ZERO(pthread_join(tf, NULL));
	printf("# %d of %d flood connections stayed open\n", fl.opened, fl.n);

	/* And after it, as long as its connections stay: one more real dialer gets in. */
	struct psyne_channel *ch = open_ok(d);
	struct psyne_msg m;
	ASSERT_OK(psyne_send(ch, "late", 4, 9, 10000));
	ASSERT_OK(psyne_receive(lc, 10000, &m));
	ASSERT_EQ(m.type, 9u);
	psyne_release(lc, &m);
	psyne_close(ch);
	for (int i = 0; i < fl.n; i++)
		if (fl.fds[i] >= 0)
			close(fl.fds[i]);
	psyne_close(lc);
}

/* A handshake on a raw unix socket, then a memfd frame with `fd` (-1: none) attached. */
static void send_memfd_frame(const char *name, int fd, uint32_t len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint8_t buf[PSYNE_FRAME_HDR_SIZE + PSYNE_FRAME_HELLO_SIZE];
	static uint64_t session = 42;
	struct psyne_hello h = { .session = session++,
				 .next_seq = UINT64_MAX,
				 .mode = 1, /* mpsc */
				 .max_msg = 4096,
				 .heartbeat_ms = 500,
				 .window = 1 << 20 };
	struct psyne_frame f = { .kind = PSYNE_FRAME_HELLO, .length = PSYNE_FRAME_HELLO_SIZE };
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(a.sun_path + 1, name, strlen(name));
	ASSERT_OK_ERRNO(connect(s, (struct sockaddr *)&a, alen));
	psyne__frame_hello_encode(buf + PSYNE_FRAME_HDR_SIZE, &h);
	psyne__frame_encode(buf, &f, buf + PSYNE_FRAME_HDR_SIZE, PSYNE_FRAME_HELLO_SIZE);
	ASSERT_EQ(send(s, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
	ASSERT_EQ(recv(s, buf, sizeof(buf), MSG_WAITALL), (ssize_t)sizeof(buf));

	f = (struct psyne_frame){
		.kind = PSYNE_FRAME_DATA, .flags = PSYNE_FRAME_F_MEMFD, .length = len, .seq = 0
	};
	psyne__frame_encode(buf, &f, NULL, 0);
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} control = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = PSYNE_FRAME_HDR_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = control.b;
		mh.msg_controllen = sizeof(control.b);
		control.h.cmsg_level = SOL_SOCKET;
		control.h.cmsg_type = SCM_RIGHTS;
		control.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&control.h), &fd, sizeof(int));
	}
	ASSERT_EQ(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)PSYNE_FRAME_HDR_SIZE);
	expect_dropped(s);
}

/* A memfd that is not sealed, one of another size, or none at all: the session is dropped. */
TEST(unix_memfd_hostile)
{
	char name[64], l[128];

	snprintf(name, sizeof(name), "psyne-memfd-hostile-%d", getpid());
	snprintf(l, sizeof(l), "unix://@%s?listen&mode=mpsc", name);
	struct psyne_channel *lc = open_ok(l);
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(ftruncate(fd, 1 << 20));
	send_memfd_frame(name, fd, 1 << 20); /* writable: it could change under the reader */
	ASSERT_OK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE));
	send_memfd_frame(name, fd, 2 << 20); /* sealed, but not the size the frame says */
	send_memfd_frame(name, -1, 1 << 20); /* no descriptor at all */
	close(fd);

	/* Nothing was delivered; every peer is gone for breaking the protocol, which is theirs
	 * to answer for: the listener waits as if none had come, and counts them. */
	struct psyne_msg m;
	ASSERT_ERROR(psyne_receive(lc, 0, &m), EAGAIN);
	snprintf(l, sizeof(l), "unix://@%s?listen", name);
	ASSERT_EQ(page_of(l)->bad_sessions, 3u);
	psyne_close(lc);
}

/* ---- a proxy that cuts connections ---------------------------------------------------- */

struct proxy {
	int listen_fd;
	unsigned target_port;
	_Atomic int cuts; /* cut the current connection when this goes up */
	_Atomic bool stop;
	_Atomic unsigned connections;
	_Atomic bool paused; /* forward nothing while set */
};

static void *proxy_run(void *arg)
{
	struct proxy *px = arg;

	while (!px->stop) {
		struct pollfd lp = { .fd = px->listen_fd, .events = POLLIN };

		if (poll(&lp, 1, 50) <= 0)
			continue;
		int a = accept(px->listen_fd, NULL, NULL);
		if (a < 0)
			continue;
		struct sockaddr_in t = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)px->target_port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int b = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(b, (struct sockaddr *)&t, sizeof(t)) < 0) {
			close(a);
			close(b);
			continue;
		}
		px->connections++;
		/* No Nagle: psyne's ACK frames are small, and held back they stall the sender. */
		int nodelay = 1;
		(void)setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
		(void)setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
		int cuts = px->cuts;
		char buf[65536];
		while (!px->stop && px->cuts == cuts) {
			struct pollfd p[2] = { { .fd = a, .events = POLLIN },
					       { .fd = b, .events = POLLIN } };

			if (px->paused) {
				(void)usleep(1000);
				continue;
			}
			if (poll(p, 2, 20) <= 0)
				continue;
			bool closed = false;
			for (int i = 0; i < 2; i++) {
				if (!p[i].revents)
					continue;
				ssize_t n = read(p[i].fd, buf, sizeof(buf));
				if (n <= 0 || send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
					closed = true;
			}
			if (closed)
				break;
		}
		/* A cut: both sides see their connection reset. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(a);
		close(b);
	}
	return NULL;
}

/*
 * Small frames go out through the stage, copied and counted as sent before the write (see
 * stage_fill()). A proxy that stops forwarding now and then fills the sender's socket, so
 * the stage is written in pieces across many flushes, with larger frames (written from the
 * slots) between runs of small ones: every byte must still arrive once, in order.
 */
static uint32_t staged_size(uint32_t seq)
{
	return seq % 97 == 0 ? 1500 + seq % 700 : 4 + (seq * 2654435761u) % 200;
}

/* The proxy's listening socket; `rcvbuf` > 0 sets the receive buffer accepted sockets get. */
static int proxy_listen(struct proxy *px, int rcvbuf, unsigned *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1;

	px->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (px->listen_fd < 0 ||
	    setsockopt(px->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (rcvbuf > 0 &&
	     setsockopt(px->listen_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0) ||
	    bind(px->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(px->listen_fd, 16) < 0 ||
	    getsockname(px->listen_fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	*ret_port = ntohs(a.sin_port);
	return 0;
}

TEST(small_frames_through_a_stalled_link)
{
	char l[160], d[160];
	unsigned port = free_port(), proxy_port = 0;
	struct proxy px = { .target_port = port };
	pthread_t tp, ts;

	ASSERT_OK(proxy_listen(&px, 4096, &proxy_port)); /* a small buffer fills fast */
	ASSERT_OK_ZERO(pthread_create(&tp, NULL, proxy_run, &px));
	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&capacity=4M", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?capacity=4M", proxy_port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);
	struct sender s = { .ch = dc, .count = 200000, .size = staged_size };
	struct psyne_stats st;

	ASSERT_OK_ZERO(pthread_create(&ts, NULL, send_all, &s));
	for (uint32_t got = 0; got < s.count; got++) {
		struct psyne_msg m;

		if (got % 40000 == 0) {
			px.paused = true;
			(void)usleep(100 * 1000);
			px.paused = false;
		}
		ASSERT_OK(psyne_receive(lc, 20000, &m));
		ASSERT_EQ(m.size, (size_t)staged_size(got));
		ASSERT_TRUE(check(m.data, got, (uint32_t)m.size));
		psyne_release(lc, &m);
	}
	ASSERT_OK_ZERO(pthread_join(ts, NULL));
	ASSERT_EQ(s.error, 0);
	ASSERT_OK(psyne_channel_stats(dc, &st));
	ASSERT_EQ(st.messages, (uint64_t)s.count);
	ASSERT_EQ(st.reconnects, 0u);
	psyne_close(dc); /* its goodbye goes through the proxy */
	psyne_close(lc);
	px.stop = true;
	ASSERT_OK_ZERO(pthread_join(tp, NULL));
	close(px.listen_fd);
}

TEST(reconnect_resumes)
{
	char l[128], d[128];
	unsigned port = free_port(), proxy_port = 0;
	struct proxy px = { .target_port = port };
	pthread_t tp, ts;

	ASSERT_OK(proxy_listen(&px, 0, &proxy_port));
	ASSERT_OK_ZERO(pthread_create(&tp, NULL, proxy_run, &px));

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&capacity=256K", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?capacity=256K", proxy_port);
	struct psyne_channel *lc = open_ok(l);
	struct sender s = { .uri = d, .count = 30000 };
	ASSERT_OK_ZERO(pthread_create(&ts, NULL, send_all, &s));

	/* Cut the connection every 3000 messages while they flow. */
	uint32_t next = 0;
	while (next < s.count) {
		struct psyne_msg m;

		ASSERT_OK(psyne_receive(lc, 10000, &m));
		ASSERT_EQ(m.size, (size_t)size_of(next));
		ASSERT_TRUE(check(m.data, next, (uint32_t)m.size));
		psyne_release(lc, &m);
		if (++next % 3000 == 0)
			px.cuts++;
	}
	struct psyne_msg m;
	ASSERT_ERROR(psyne_receive(lc, 10000, &m), EPIPE);
	ASSERT_OK_ZERO(pthread_join(ts, NULL));
	ASSERT_EQ(s.error, 0);
	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(lc, &st));
	printf("# %u connections, %" PRIu64 " reconnects\n", px.connections, st.reconnects);
	ASSERT_GE(px.connections, 5u);
	px.stop = true;
	ASSERT_OK_ZERO(pthread_join(tp, NULL));
	close(px.listen_fd);
	psyne_close(lc);
}

/* ---- two network namespaces and a veth pair whose link is cut -------------------------- */

static int run(const char *fmt, ...) _printf_(1, 2);
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

struct cutter {
	_Atomic uint32_t *received;
	uint32_t at;
	unsigned down_ms;
	uint64_t down_ns, up_ns;
	int error;
};

/* Takes the link down once `at` messages have arrived, and up again `down_ms` later. */
static void *cut_link(void *arg)
{
	struct cutter *k = arg;

	while (*k->received < k->at)
		(void)usleep(1000);
	k->down_ns = now_nsec(CLOCK_MONOTONIC);
	if (run("ip link set psyne-va down") != 0)
		k->error = -EIO;
	(void)usleep(k->down_ms * 1000);
	if (run("ip link set psyne-va up") != 0)
		k->error = -EIO;
	k->up_ns = now_nsec(CLOCK_MONOTONIC);
	return NULL;
}

/*
 * The dialer lives in a second network namespace, joined to ours by a veth pair. The link
 * goes down for longer than the peer timeout while messages flow: both sides drop the
 * connection, the dialer dials again until the link is back, and the session resumes.
 * Every message must arrive exactly once and in order.
 */
TEST(link_cut_in_namespaces)
{
	const uint32_t count = 60000;
	int ready[2], go[2];
	char c;
	pid_t child;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		SKIP_TEST("cannot make a network namespace (needs root)");
	if (run("ip link set lo up && ip link add psyne-va type veth peer name psyne-vb") != 0)
		SKIP_TEST("cannot make a veth pair");
	ASSERT_OK_ERRNO(pipe(ready));
	ASSERT_OK_ERRNO(pipe(go));
	child = fork();
	ASSERT_OK_ERRNO(child);
	if (child == 0) {
		struct psyne_channel *ch = NULL;
		uint8_t buf[4096];

		if (unshare(CLONE_NEWNET) < 0)
			_exit(10);
		(void)!write(ready[1], "r", 1);
		if (read(go[0], &c, 1) != 1)
			_exit(11);
		if (psyne_open("tcp://10.77.0.1:7400?heartbeat=100&peer_timeout=500&"
			       "connect_timeout=5000",
			       &ch) < 0)
			_exit(12);
		for (uint32_t i = 0; i < count; i++) {
			fill(buf, i, size_of(i) % 1024 + 4);
			if (psyne_send(ch, buf, size_of(i) % 1024 + 4, i, 20000) < 0)
				_exit(13);
			if (i % 64 == 0)
				(void)usleep(500); /* keep it flowing for a few seconds */
		}
		psyne_close(ch);
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	ASSERT_EQ(run("ip link set psyne-vb netns %d && ip addr add 10.77.0.1/24 dev psyne-va && "
		      "ip link set psyne-va up && nsenter -t %d -n sh -c 'ip link set lo up && "
		      "ip addr add 10.77.0.2/24 dev psyne-vb && ip link set psyne-vb up'",
		      child, child),
		  0);

	struct psyne_channel *lc =
		open_ok("tcp://10.77.0.1:7400?listen&heartbeat=100&peer_timeout=500");
	ASSERT_EQ(write(go[1], "g", 1), 1);

	_Atomic uint32_t received = 0;
	struct cutter k = { .received = &received, .at = count / 4, .down_ms = 1500 };
	pthread_t t;
	uint64_t stalled_until = 0;
	ASSERT_OK_ZERO(pthread_create(&t, NULL, cut_link, &k));
	for (uint32_t i = 0; i < count; i++) {
		struct psyne_msg m;

		ASSERT_OK(psyne_receive(lc, 20000, &m));
		ASSERT_EQ(m.type, i);
		ASSERT_EQ(m.size, (size_t)(size_of(i) % 1024 + 4));
		ASSERT_TRUE(check(m.data, i, (uint32_t)m.size));
		psyne_release(lc, &m);
		if (k.up_ns != 0 && stalled_until == 0)
			stalled_until = now_nsec(CLOCK_MONOTONIC);
		received = i + 1;
	}
	struct psyne_msg m;
	ASSERT_ERROR(psyne_receive(lc, 20000, &m), EPIPE);
	ASSERT_OK_ZERO(pthread_join(t, NULL));
	ASSERT_EQ(k.error, 0);

	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(lc, &st));
	printf("# link down %.0f ms; first message after it came back: +%.0f ms; %" PRIu64
	       " reconnects\n",
	       (double)(k.up_ns - k.down_ns) / 1e6, (double)(stalled_until - k.up_ns) / 1e6,
	       st.reconnects);
	ASSERT_GE(st.reconnects, 1u);
	ASSERT_EQ(st.received, (uint64_t)count);
	int status;
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	psyne_close(lc);
}

static volatile sig_atomic_t usr1_handled;

static void on_usr1(int sig)
{
	usr1_handled = 1;
}

/*
 * A handle's I/O thread never takes the application's signals: a signal the application
 * blocks in its own threads stays pending, instead of running its handler on our thread.
 */
TEST(the_io_thread_takes_no_signal)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1, pending;
	struct psyne_channel *lc;
	char l[128];

	ASSERT_OK_ERRNO(sigaction(SIGUSR1, &sa, NULL));
	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", free_port());
	lc = open_ok(l);
	/* Blocked here after the open: a thread started with our mask would not have it. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	ASSERT_OK_ZERO(pthread_sigmask(SIG_BLOCK, &usr1, NULL));
	ASSERT_OK_ERRNO(kill(getpid(), SIGUSR1));
	/* A thread that could take it is woken by it at once: give it time to run. */
	(void)usleep(100 * 1000);
	ASSERT_EQ(usr1_handled, 0);
	ASSERT_OK_ERRNO(sigpending(&pending));
	ASSERT_EQ(sigismember(&pending, SIGUSR1), 1);
	psyne_close(lc);
}

DEFINE_TEST_MAIN();
