/* SPDX-License-Identifier: MIT */
/*
 * udp:// over loopback: content and order over IPv4 and IPv6, replies from a listener, the
 * message size limit, several reservations, held messages, timeouts; the sequence
 * accounting driven by datagrams this test crafts itself (gaps, late arrivals, duplicates,
 * wrap-around, eviction); hostile datagrams; and multicast inside a private network
 * namespace (lo for IPv4, a veth pair for IPv6).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/tests.h"
#include "common/time-util.h"
#include "frame.h"
#include "psyne.h"
#include "udp.h"

extern char **environ;

static struct psyne_channel *open_ok(const char *uri)
{
	struct psyne_channel *ch = NULL;

	ASSERT_OK(psyne_open(uri, &ch));
	ASSERT_NOT_NULL(ch);
	return ch;
}

static struct psyne_udp_stats udp_stats(struct psyne_channel *ch)
{
	struct psyne_udp_stats st;

	ASSERT_OK(psyne_channel_udp_stats(ch, &st));
	return st;
}

/* A loopback UDP port of `family` that nobody uses right now. */
static unsigned free_port(int family)
{
	union psyne_udp_addr a = { .sa.sa_family = (sa_family_t)family };
	socklen_t len = sizeof(a);
	int fd = socket(family, SOCK_DGRAM, 0);

	ASSERT_OK_ERRNO(fd);
	if (family == AF_INET)
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		a.in6.sin6_addr = in6addr_loopback;
	ASSERT_OK_ERRNO(bind(fd, &a.sa, psyne__udp_addr_len(&a)));
	ASSERT_OK_ERRNO(getsockname(fd, &a.sa, &len));
	close(fd);
	return family == AF_INET ? ntohs(a.in.sin_port) : ntohs(a.in6.sin6_port);
}

/* Payload: the message number, then bytes derived from it and the size. */
static void fill(uint8_t *p, uint32_t seq, size_t size)
{
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(seq * 31 + i * 7);
	if (size >= 4)
		memcpy(p, &seq, 4);
}

static bool check(const uint8_t *p, uint32_t seq, size_t size)
{
	uint32_t got;

	if (size >= 4) {
		memcpy(&got, p, 4);
		if (got != seq)
			return false;
	}
	for (size_t i = 4; i < size; i++)
		if (p[i] != (uint8_t)(seq * 31 + i * 7))
			return false;
	return true;
}

static size_t size_of(uint32_t seq, size_t max)
{
	return 4 + (seq * 2654435761u) % (max - 3);
}

/*
 * Sends `count` messages from `from` to `to`, by reserve/commit and send in turn, and
 * receives each batch before the next so that no socket buffer overflows.
 */
static void exchange(struct psyne_channel *from, struct psyne_channel *to, uint32_t count,
		     size_t max)
{
	uint8_t buf[65536];

	for (uint32_t base = 0; base < count; base += 32) {
		uint32_t end = MIN(base + 32, count);

		for (uint32_t i = base; i < end; i++) {
			size_t size = size_of(i, max);

			if (i % 2 == 0) {
				struct psyne_msg m;

				ASSERT_OK(psyne_reserve(from, size, 1000, &m));
				fill(m.data, i, size);
				m.type = i;
				ASSERT_OK(psyne_commit(from, &m));
			} else {
				fill(buf, i, size);
				ASSERT_OK(psyne_send(from, buf, size, i, 1000));
			}
		}
		for (uint32_t i = base; i < end; i++) {
			struct psyne_msg m;

			ASSERT_OK(psyne_receive(to, 5000, &m));
			ASSERT_EQ(m.type, i);
			ASSERT_EQ(m.size, size_of(i, max));
			ASSERT_TRUE(check(m.data, i, m.size));
			psyne_release(to, &m);
		}
	}
}

static void unicast(const char *host, int family, size_t max)
{
	char l[128], d[128];
	unsigned port = free_port(family);

	snprintf(l, sizeof(l), "udp://%s:%u?listen", host, port);
	snprintf(d, sizeof(d), "udp://%s:%u", host, port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);

	exchange(dc, lc, 2000, max);

	struct psyne_udp_stats u = udp_stats(lc);
	ASSERT_EQ(u.received, 2000u);
	ASSERT_EQ(u.lost, 0u);
	ASSERT_EQ(u.reordered + u.duplicates + u.late + u.bad + u.too_big, 0u);
	ASSERT_EQ(u.senders, 1u);
	ASSERT_EQ(u.max_msg, (uint64_t)max);

	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(dc, &st));
	ASSERT_EQ(st.messages, 2000u);
	ASSERT_OK(psyne_channel_stats(lc, &st));
	ASSERT_EQ(st.received, 2000u);
	ASSERT_EQ(st.used, 0u);
	psyne_close(dc);
	psyne_close(lc);
}

TEST(unicast_ipv4)
{
	unicast("127.0.0.1", AF_INET, 1440);
}

TEST(unicast_ipv6)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		SKIP_TEST("no IPv6 loopback here: %m");
	close(fd);
	unicast("[::1]", AF_INET6, 1420);
}

/* A listener answers each dialer, as a stream of its own per dialer. */
TEST(replies)
{
	char l[128], d[128];
	unsigned port = free_port(AF_INET);
	struct psyne_msg m;
	uint8_t buf[64];
	uint32_t type;

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "udp://127.0.0.1:%u", port);
	struct psyne_channel *lc = open_ok(l), *a = open_ok(d), *b = open_ok(d);

	ASSERT_ERROR(psyne_reserve(lc, 8, 0, &m), EDESTADDRREQ);
	for (uint32_t i = 0; i < 300; i++) {
		struct psyne_channel *from = i % 3 == 0 ? b : a;

		ASSERT_OK(psyne_send(from, &i, sizeof(i), i % 3 == 0 ? 2 : 1, 1000));
		ASSERT_EQ(psyne_recv(lc, buf, sizeof(buf), &type, 5000), 4);
		ASSERT_EQ(type, i % 3 == 0 ? 2u : 1u);
		/* The answer goes to whoever sent the last message received. */
		ASSERT_OK(psyne_reserve(lc, 8, 1000, &m));
		memcpy(m.data, buf, 4);
		memcpy((uint8_t *)m.data + 4, "ok!", 4);
		m.type = type + 10;
		ASSERT_OK(psyne_commit(lc, &m));
		ASSERT_EQ(psyne_recv(from, buf, sizeof(buf), &type, 5000), 8);
		ASSERT_EQ(type, i % 3 == 0 ? 12u : 11u);
		ASSERT_MEMEQ(buf, &i, 4);
		ASSERT_STREQ((char *)buf + 4, "ok!");
	}
	/* Each dialer saw an unbroken stream, though the listener answered both. */
	ASSERT_EQ(udp_stats(a).received, 200u);
	ASSERT_EQ(udp_stats(b).received, 100u);
	ASSERT_EQ(udp_stats(a).lost + udp_stats(b).lost, 0u);
	ASSERT_EQ(udp_stats(lc).senders, 2u);
	ASSERT_EQ(psyne_recv(a, buf, sizeof(buf), NULL, 0), -EAGAIN);
	psyne_close(a);
	psyne_close(b);
	psyne_close(lc);
}

TEST(message_size)
{
	char l[128], d[128];
	unsigned port = free_port(AF_INET);
	struct psyne_channel *ch = NULL;
	struct psyne_msg m;
	static uint8_t big[65536];

	/* The default keeps a datagram within a 1500-byte MTU. */
	snprintf(d, sizeof(d), "udp://127.0.0.1:%u", port);
	struct psyne_channel *dc = open_ok(d);
	ASSERT_OK(psyne_reserve(dc, 1440, 0, &m));
	psyne_cancel(dc, &m);
	ASSERT_ERROR(psyne_reserve(dc, 1441, 0, &m), EMSGSIZE);
	ASSERT_ERROR(psyne_send(dc, big, 1441, 0, 0), EMSGSIZE);
	ASSERT_EQ(udp_stats(dc).max_msg, 1440u);
	psyne_close(dc);

	/* The largest a datagram can carry. */
	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen&max_msg=65475", port);
	snprintf(d, sizeof(d), "udp://127.0.0.1:%u?max_msg=65475", port);
	struct psyne_channel *lc = open_ok(l);
	dc = open_ok(d);
	ASSERT_ERROR(psyne_reserve(dc, 65476, 0, &m), EMSGSIZE);
	fill(big, 7, 65475);
	ASSERT_OK(psyne_send(dc, big, 65475, 7, 1000));
	ASSERT_OK(psyne_send(dc, big, 0, 8, 1000));
	/* Too small a buffer leaves the message queued. */
	ASSERT_ERROR(psyne_recv(lc, big, 100, NULL, 5000), EMSGSIZE);
	ASSERT_OK(psyne_receive(lc, 5000, &m));
	ASSERT_EQ(m.size, 65475u);
	ASSERT_TRUE(check(m.data, 7, m.size));
	psyne_release(lc, &m);
	ASSERT_OK(psyne_receive(lc, 5000, &m));
	ASSERT_EQ(m.size, 0u);
	ASSERT_EQ(m.type, 8u);
	psyne_release(lc, &m);
	psyne_close(lc);

	/* A receiver with a smaller limit drops what is larger, and counts it. */
	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen&max_msg=1K", port);
	lc = open_ok(l);
	ASSERT_OK(psyne_send(dc, big, 1025, 1, 1000));
	ASSERT_OK(psyne_send(dc, big, 1024, 2, 1000));
	ASSERT_OK(psyne_receive(lc, 5000, &m));
	ASSERT_EQ(m.type, 2u);
	ASSERT_EQ(m.size, 1024u);
	psyne_release(lc, &m);
	ASSERT_EQ(udp_stats(lc).too_big, 1u);
	psyne_close(lc);
	psyne_close(dc);

	ASSERT_ERROR(psyne_open("udp://127.0.0.1:9?max_msg=65476", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:9?max_msg=0", &ch), EINVAL);
}

/* Reservations go out in reservation order, whatever the order of the commits. */
TEST(reservations)
{
	char l[128], d[128];
	unsigned port = free_port(AF_INET);
	struct psyne_msg m[65], extra;
	uint32_t type;
	uint8_t buf[16];

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "udp://127.0.0.1:%u", port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);

	for (uint32_t i = 0; i < 3; i++) {
		ASSERT_OK(psyne_reserve(dc, 4, 0, &m[i]));
		memcpy(m[i].data, &i, 4);
		m[i].type = i;
	}
	ASSERT_OK(psyne_commit(dc, &m[2]));
	ASSERT_EQ(psyne_recv(lc, buf, sizeof(buf), NULL, 100), -ETIMEDOUT);
	psyne_cancel(dc, &m[1]);
	ASSERT_OK(psyne_commit(dc, &m[0]));
	ASSERT_ERROR(psyne_commit(dc, &m[0]), EINVAL); /* twice */
	ASSERT_EQ(psyne_recv(lc, buf, sizeof(buf), &type, 5000), 4);
	ASSERT_EQ(type, 0u);
	ASSERT_EQ(psyne_recv(lc, buf, sizeof(buf), &type, 5000), 4);
	ASSERT_EQ(type, 2u);

	/* 64 open reservations at most; shrinking is fine, growing is not. */
	for (uint32_t i = 0; i < 64; i++)
		ASSERT_OK(psyne_reserve(dc, 8, 0, &m[i]));
	ASSERT_ERROR(psyne_reserve(dc, 8, 1000, &extra), ENOBUFS);
	m[0].size = 9;
	ASSERT_ERROR(psyne_commit(dc, &m[0]), EINVAL);
	for (uint32_t i = 0; i < 64; i++) {
		memset(m[i].data, 'x', 8);
		m[i].size = i % 9;
		m[i].type = 100 + i;
		ASSERT_OK(psyne_commit(dc, &m[i]));
	}
	for (uint32_t i = 0; i < 64; i++) {
		ASSERT_EQ(psyne_recv(lc, buf, sizeof(buf), &type, 5000), (int)(i % 9));
		ASSERT_EQ(type, 100 + i);
	}
	/* The cancelled one left no hole in the sequence. */
	ASSERT_EQ(udp_stats(lc).lost, 0u);
	ASSERT_EQ(udp_stats(lc).received, 66u);
	psyne_close(dc);
	psyne_close(lc);
}

/* Received messages are held and released in any order; when all slots are held, ENOBUFS. */
TEST(held_messages)
{
	char l[128], d[128];
	unsigned port = free_port(AF_INET);
	struct psyne_msg m[20];

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen&capacity=1", port); /* 16 slots */
	snprintf(d, sizeof(d), "udp://127.0.0.1:%u", port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);
	struct psyne_stats st;

	ASSERT_OK(psyne_channel_stats(lc, &st));
	ASSERT_EQ(st.capacity, 16u * 1472u);
	for (uint32_t i = 0; i < 20; i++)
		ASSERT_OK(psyne_send(dc, &i, sizeof(i), i, 1000));
	for (uint32_t i = 0; i < 16; i++) {
		ASSERT_OK(psyne_receive(lc, 5000, &m[i]));
		ASSERT_EQ(m[i].type, i);
		ASSERT_MEMEQ(m[i].data, &i, 4);
	}
	ASSERT_ERROR(psyne_receive(lc, 1000, &m[16]), ENOBUFS);
	/* Releasing a later one frees nothing yet; the first frees its slot. */
	psyne_release(lc, &m[5]);
	psyne_release(lc, &m[5]); /* twice: ignored */
	ASSERT_ERROR(psyne_receive(lc, 0, &m[16]), ENOBUFS);
	psyne_release(lc, &m[0]);
	ASSERT_OK(psyne_receive(lc, 5000, &m[16]));
	ASSERT_EQ(m[16].type, 16u);
	for (uint32_t i = 1; i <= 16; i++)
		if (i != 5)
			psyne_release(lc, &m[i]);
	for (uint32_t i = 17; i < 20; i++) {
		ASSERT_OK(psyne_receive(lc, 5000, &m[i]));
		ASSERT_EQ(m[i].type, i);
		/* The views of held messages are intact. */
		ASSERT_MEMEQ(m[i].data, &i, 4);
	}
	for (uint32_t i = 17; i < 20; i++)
		psyne_release(lc, &m[i]);
	ASSERT_OK(psyne_channel_stats(lc, &st));
	ASSERT_EQ(st.used, 0u);
	ASSERT_EQ(udp_stats(lc).lost, 0u);
	psyne_close(dc);
	psyne_close(lc);
}

/* No connection, so nothing ever ends with -EPIPE; sending to nobody is no error either. */
TEST(timeouts)
{
	char l[128], d[128];
	unsigned port = free_port(AF_INET);
	struct psyne_msg m;
	uint64_t t;

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "udp://127.0.0.1:%u", port);
	struct psyne_channel *lc = open_ok(l), *dc = open_ok(d);

	ASSERT_ERROR(psyne_receive(lc, 0, &m), EAGAIN);
	t = now_nsec(CLOCK_MONOTONIC);
	ASSERT_ERROR(psyne_receive(lc, 150, &m), ETIMEDOUT);
	ASSERT_GE(now_nsec(CLOCK_MONOTONIC) - t, 150 * NSEC_PER_MSEC);
	ASSERT_OK(psyne_send(dc, "x", 1, 0, 0));
	psyne_close(dc);
	ASSERT_OK(psyne_receive(lc, 5000, &m));
	psyne_release(lc, &m);
	ASSERT_ERROR(psyne_receive(lc, 100, &m), ETIMEDOUT);
	psyne_close(lc);

	/* Nobody listens: ICMP port unreachable comes back and is no error for a datagram. */
	dc = open_ok(d);
	for (uint32_t i = 0; i < 100; i++)
		ASSERT_OK(psyne_send(dc, &i, sizeof(i), 0, 1000));
	ASSERT_ERROR(psyne_receive(dc, 50, &m), ETIMEDOUT);
	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(dc, &st));
	ASSERT_EQ(st.messages, 100u);
	psyne_close(dc);
}

TEST(options)
{
	char l[128];
	unsigned port = free_port(AF_INET);
	struct psyne_channel *ch = NULL;
	struct psyne_udp_stats u;

	ASSERT_ERROR(psyne_open("udp://127.0.0.1", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:0", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:65536", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://[::1:7000", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?bogus=1", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?mode=mpsc", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?ttl=2", &ch), EINVAL); /* unicast */
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?iface=lo", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://239.1.2.3:7000?ttl=256", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://239.1.2.3:7000?loop=2", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://239.1.2.3:7000?iface=no-such-if0", &ch), ENODEV);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?max_senders=0", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?max_senders=4097", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?capacity=2G", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("udp://127.0.0.1:7000?capacity=12Q", &ch), EINVAL);

	/* One unicast listener per port. */
	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen&max_senders=4096&capacity=64K", port);
	struct psyne_channel *lc = open_ok(l);
	ASSERT_ERROR(psyne_open(l, &ch), EADDRINUSE);
	psyne_close(lc);

	/* `*` binds every address. */
	port = free_port(AF_INET);
	snprintf(l, sizeof(l), "udp://*:%u?listen", port);
	lc = open_ok(l);
	snprintf(l, sizeof(l), "udp://127.0.0.1:%u", port);
	ch = open_ok(l);
	ASSERT_OK(psyne_send(ch, "any", 3, 0, 0));
	ASSERT_EQ(psyne_recv(lc, (char[4]){ 0 }, 4, NULL, 5000), 3);
	psyne_close(ch);
	psyne_close(lc);

	/* A multicast sender needs no membership. */
	ch = open_ok("udp://239.1.2.3:7000?ttl=0&loop=0");
	psyne_close(ch);

	ch = open_ok("memory://udp-options");
	ASSERT_ERROR(psyne_channel_udp_stats(ch, &u), EOPNOTSUPP);
	ASSERT_ERROR(psyne_channel_udp_stats(NULL, &u), EINVAL);
	psyne_close(ch);
}

/* ---- datagrams crafted by hand ------------------------------------------------------- */

struct raw {
	int fd;
	struct sockaddr_in to;
};

static struct raw raw_open(unsigned port)
{
	struct raw r = {
		.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0),
		.to = { .sin_family = AF_INET,
			.sin_port = htons((uint16_t)port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK) },
	};

	ASSERT_OK_ERRNO(r.fd);
	return r;
}

static void raw_bytes(struct raw *r, const void *p, size_t n)
{
	ASSERT_EQ(sendto(r->fd, p, n, 0, (struct sockaddr *)&r->to, sizeof(r->to)), (ssize_t)n);
}

/* A DATA datagram of stream `stream`, counter `n`, carrying `n` as payload and type. */
static void raw_send(struct raw *r, uint32_t stream, uint32_t n)
{
	uint8_t d[PSYNE_FRAME_HDR_SIZE + 4];
	struct psyne_frame f = {
		.kind = PSYNE_FRAME_DATA,
		.type = n,
		.length = 4,
		.seq = psyne__udp_seq(stream, n),
	};

	memcpy(d + PSYNE_FRAME_HDR_SIZE, &n, 4);
	psyne__frame_encode(d, &f, d + PSYNE_FRAME_HDR_SIZE, 4);
	raw_bytes(r, d, sizeof(d));
}

/* The next message must be counter `n`. */
static void expect(struct psyne_channel *ch, uint32_t n)
{
	struct psyne_msg m;

	ASSERT_OK(psyne_receive(ch, 5000, &m));
	ASSERT_EQ(m.type, n);
	ASSERT_EQ(m.size, 4u);
	ASSERT_MEMEQ(m.data, &n, 4);
	psyne_release(ch, &m);
}

static void expect_nothing(struct psyne_channel *ch)
{
	struct psyne_msg m;

	ASSERT_ERROR(psyne_receive(ch, 100, &m), ETIMEDOUT);
}

TEST(loss_and_reorder)
{
	char l[128];
	unsigned port = free_port(AF_INET);
	struct psyne_udp_stats u;

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen", port);
	struct psyne_channel *lc = open_ok(l);
	struct raw r = raw_open(port);
	const uint32_t s = 0xabcd0001;

	/* 0 1 2, then 5: 3 and 4 are missing. */
	for (uint32_t n = 0; n < 3; n++)
		raw_send(&r, s, n);
	raw_send(&r, s, 5);
	for (uint32_t n = 0; n < 3; n++)
		expect(lc, n);
	expect(lc, 5);
	u = udp_stats(lc);
	ASSERT_EQ(u.received, 4u);
	ASSERT_EQ(u.lost, 2u);

	/* 3 comes late: delivered, reordered, no longer lost. Again: a duplicate. */
	raw_send(&r, s, 3);
	raw_send(&r, s, 3);
	raw_send(&r, s, 5);
	raw_send(&r, s, 0);
	expect(lc, 3);
	expect_nothing(lc);
	u = udp_stats(lc);
	ASSERT_EQ(u.lost, 1u);
	ASSERT_EQ(u.reordered, 1u);
	ASSERT_EQ(u.duplicates, 3u);

	/* A jump: everything between is lost; 4, now far behind the window, is late. */
	raw_send(&r, s, 2005);
	raw_send(&r, s, 4);
	raw_send(&r, s, 1000); /* 1005 behind: still inside the 1024 window */
	raw_send(&r, s, 981);  /* 1024 behind: out */
	expect(lc, 2005);
	expect(lc, 1000);
	expect_nothing(lc);
	u = udp_stats(lc);
	ASSERT_EQ(u.lost, 1u + 1999u - 1u);
	ASSERT_EQ(u.reordered, 2u);
	ASSERT_EQ(u.late, 2u);
	ASSERT_EQ(u.received, 7u);

	/* Counters wrap. */
	const uint32_t w = 0xabcd0002;
	for (uint32_t n = UINT32_MAX - 2; n != 3; n++)
		raw_send(&r, w, n);
	for (uint32_t n = UINT32_MAX - 2; n != 3; n++)
		expect(lc, n);
	u = udp_stats(lc);
	ASSERT_EQ(u.lost, 1u + 1999u - 1u);
	ASSERT_EQ(u.senders, 2u);

	/* A stream's first datagram sets its start: nothing before it counts as lost... */
	const uint32_t t = 0xabcd0003;
	raw_send(&r, t, 500);
	raw_send(&r, t, 499); /* ...and what is older is late */
	expect(lc, 500);
	expect_nothing(lc);
	u = udp_stats(lc);
	ASSERT_EQ(u.late, 3u);
	ASSERT_EQ(u.lost, 1u + 1999u - 1u);
	ASSERT_EQ(u.senders, 3u);
	ASSERT_EQ(u.received, 14u);
	ASSERT_EQ(u.received + u.duplicates + u.late + u.bad + u.too_big, 20u); /* all sent */
	close(r.fd);
	psyne_close(lc);
}

/* With room for two streams, a third one pushes out the one heard from least recently. */
TEST(sender_eviction)
{
	char l[128];
	unsigned port = free_port(AF_INET);

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen&max_senders=2", port);
	struct psyne_channel *lc = open_ok(l);
	struct raw r = raw_open(port);

	raw_send(&r, 1, 10);
	raw_send(&r, 2, 20);
	raw_send(&r, 1, 11);
	raw_send(&r, 3, 30); /* evicts stream 2 */
	raw_send(&r, 2, 21); /* a stranger again: its start, evicting stream 1 */
	raw_send(&r, 1, 11); /* and stream 1 is new again, so this is no duplicate */
	const uint32_t order[] = { 10, 20, 11, 30, 21, 11 };
	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		expect(lc, order[i]);

	struct psyne_udp_stats u = udp_stats(lc);
	ASSERT_EQ(u.evicted, 3u);
	ASSERT_EQ(u.senders, 2u);
	ASSERT_EQ(u.lost + u.duplicates, 0u);
	close(r.fd);
	psyne_close(lc);
}

/* Nothing a datagram holds can hurt the receiver; each bad one is dropped and counted. */
TEST(garbage)
{
	char l[128];
	unsigned port = free_port(AF_INET);
	uint8_t d[2048], payload[16] = "payload";
	struct psyne_frame f = { .kind = PSYNE_FRAME_DATA, .length = 16, .seq = 1 };
	struct psyne_msg m;

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen&max_msg=1000", port);
	struct psyne_channel *lc = open_ok(l);
	struct raw r = raw_open(port);

	raw_bytes(&r, "GET / HTTP/1.0\r\n\r\n", 18);
	raw_bytes(&r, "", 0);
	raw_bytes(&r, "PSYF", 4);
	/* A good frame, then the same with one thing wrong each time. */
	psyne__frame_encode(d, &f, payload, 16);
	memcpy(d + PSYNE_FRAME_HDR_SIZE, payload, 16);
	raw_bytes(&r, d, PSYNE_FRAME_HDR_SIZE + 15);	 /* truncated */
	raw_bytes(&r, d, PSYNE_FRAME_HDR_SIZE + 16 + 1); /* a byte too many */
	d[PSYNE_FRAME_HDR_SIZE + 3] ^= 1;
	raw_bytes(&r, d, PSYNE_FRAME_HDR_SIZE + 16); /* CRC */
	d[PSYNE_FRAME_HDR_SIZE + 3] ^= 1;
	d[4] = 2;
	raw_bytes(&r, d, PSYNE_FRAME_HDR_SIZE + 16); /* version */
	d[4] = 1;
	struct psyne_frame ping = { .kind = PSYNE_FRAME_PING, .seq = 1 };
	psyne__frame_encode(d, &ping, NULL, 0);
	raw_bytes(&r, d, PSYNE_FRAME_HDR_SIZE); /* not DATA */
	struct psyne_frame memfd = { .kind = PSYNE_FRAME_DATA,
				     .flags = PSYNE_FRAME_F_MEMFD,
				     .length = 100 };
	psyne__frame_encode(d, &memfd, NULL, 0);
	raw_bytes(&r, d, PSYNE_FRAME_HDR_SIZE); /* a memfd has no meaning here */
	/* Larger than max_msg, whether its header says so or not. */
	struct psyne_frame huge = { .kind = PSYNE_FRAME_DATA, .length = 1001 };
	memset(d, 0, sizeof(d));
	psyne__frame_encode(d, &huge, d + PSYNE_FRAME_HDR_SIZE, 1001);
	raw_bytes(&r, d, PSYNE_FRAME_HDR_SIZE + 1001);
	raw_bytes(&r, d, sizeof(d));

	ASSERT_ERROR(psyne_receive(lc, 200, &m), ETIMEDOUT);
	struct psyne_udp_stats u = udp_stats(lc);
	ASSERT_EQ(u.bad, 9u);
	ASSERT_EQ(u.too_big, 2u);
	ASSERT_EQ(u.received + u.senders, 0u);

	/* And it still works. */
	raw_send(&r, 5, 0);
	expect(lc, 0);
	close(r.fd);
	psyne_close(lc);
}

/* A reply whose target was forgotten before the commit fails, and the reservation stays. */
TEST(reply_target_forgotten)
{
	char l[128];
	unsigned port = free_port(AF_INET);
	struct psyne_msg m, reply;
	uint8_t d[64];
	struct psyne_frame f;

	snprintf(l, sizeof(l), "udp://127.0.0.1:%u?listen&max_senders=1", port);
	struct psyne_channel *lc = open_ok(l);
	struct raw a = raw_open(port), b = raw_open(port);

	raw_send(&a, 1, 0);
	expect(lc, 0);
	ASSERT_OK(psyne_reserve(lc, 2, 0, &reply)); /* for a */
	memcpy(reply.data, "hi", 2);
	raw_send(&b, 2, 7);
	expect(lc, 7); /* b's stream took a's place */
	ASSERT_ERROR(psyne_commit(lc, &reply), EDESTADDRREQ);
	psyne_cancel(lc, &reply);
	ASSERT_EQ(udp_stats(lc).evicted, 1u);

	/* The next one goes to b, the sender of the last message. */
	ASSERT_OK(psyne_reserve(lc, 2, 0, &m));
	memcpy(m.data, "yo", 2);
	m.type = 3;
	ASSERT_OK(psyne_commit(lc, &m));
	ASSERT_EQ(recv(b.fd, d, sizeof(d), 0), (ssize_t)PSYNE_FRAME_HDR_SIZE + 2);
	ASSERT_OK(psyne__frame_decode(d, 2, &f));
	ASSERT_OK(psyne__frame_verify(d, d + PSYNE_FRAME_HDR_SIZE, 2));
	ASSERT_EQ(f.type, 3u);
	ASSERT_EQ((uint32_t)f.seq, 0u); /* the first of its stream */
	ASSERT_MEMEQ(d + PSYNE_FRAME_HDR_SIZE, "yo", 2);
	ASSERT_ERROR_ERRNO(recv(a.fd, d, sizeof(d), MSG_DONTWAIT), EAGAIN);
	ASSERT_EQ(udp_stats(lc).send_errors, 0u);
	close(a.fd);
	close(b.fd);
	psyne_close(lc);
}

/* ---- multicast, inside a network namespace of our own -------------------------------- */

/* A namespace of this test's own, with lo up and multicast-capable; SKIP if we may not. */
static void private_netns(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		SKIP_TEST("cannot make a network namespace (needs CAP_SYS_ADMIN): %m");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(ioctl(fd, SIOCGIFFLAGS, &ifr));
	ifr.ifr_flags |= IFF_UP | IFF_MULTICAST;
	ASSERT_OK_ERRNO(ioctl(fd, SIOCSIFFLAGS, &ifr));
	close(fd);
}

/* Runs a command (an argv, no shell); false when it cannot run or fails. */
static bool run(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return false;
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void multicast(const char *group, const char *iface)
{
	char l[160], d[160];
	unsigned port = 7000; /* the namespace is ours alone */
	enum {
		N = 500
	};

	snprintf(l, sizeof(l), "udp://%s:%u?listen&iface=%s", group, port, iface);
	snprintf(d, sizeof(d), "udp://%s:%u?iface=%s&ttl=1&loop=1", group, port, iface);
	struct psyne_channel *r1 = open_ok(l), *r2 = open_ok(l), *s = open_ok(d);

	/* Both members get every message. */
	for (uint32_t base = 0; base < N; base += 50) {
		for (uint32_t i = base; i < base + 50; i++) {
			uint8_t buf[1400];
			size_t size = size_of(i, 1400);

			fill(buf, i, size);
			ASSERT_OK(psyne_send(s, buf, size, i, 1000));
		}
		for (uint32_t i = base; i < base + 50; i++)
			for (int k = 0; k < 2; k++) {
				struct psyne_channel *r = k == 0 ? r1 : r2;
				struct psyne_msg m;

				ASSERT_OK(psyne_receive(r, 5000, &m));
				ASSERT_EQ(m.type, i);
				ASSERT_EQ(m.size, size_of(i, 1400));
				ASSERT_TRUE(check(m.data, i, m.size));
				psyne_release(r, &m);
			}
	}
	for (int k = 0; k < 2; k++) {
		struct psyne_udp_stats u = udp_stats(k == 0 ? r1 : r2);

		ASSERT_EQ(u.received, (uint64_t)N);
		ASSERT_EQ(u.lost, 0u);
		ASSERT_EQ(u.senders, 1u);
	}
	/* A member answers the sender, by unicast. */
	uint32_t type;
	uint8_t buf[16];
	ASSERT_OK(psyne_send(r2, "pong", 4, 99, 1000));
	ASSERT_EQ(psyne_recv(s, buf, sizeof(buf), &type, 5000), 4);
	ASSERT_EQ(type, 99u);
	ASSERT_MEMEQ(buf, "pong", 4);
	psyne_close(s);
	psyne_close(r1);
	psyne_close(r2);
}

/* No route for the group: the kernel refuses, commit says so and keeps the reservation. */
TEST(send_refused)
{
	struct psyne_msg m;

	private_netns();
	struct psyne_channel *ch = open_ok("udp://239.255.0.2:7000");

	ASSERT_ERROR(psyne_send(ch, "x", 1, 0, 0), ENETUNREACH);
	ASSERT_OK(psyne_reserve(ch, 1, 0, &m));
	ASSERT_ERROR(psyne_commit(ch, &m), ENETUNREACH);
	ASSERT_ERROR(psyne_commit(ch, &m), ENETUNREACH);
	psyne_cancel(ch, &m);
	ASSERT_ERROR(psyne_commit(ch, &m), EINVAL);

	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(ch, &st));
	ASSERT_EQ(st.messages, 0u);
	ASSERT_EQ(st.used, 0u);
	ASSERT_EQ(udp_stats(ch).send_errors, 0u);
	psyne_close(ch);
}

TEST(multicast_ipv4)
{
	private_netns();
	multicast("239.255.0.1", "lo");
}

/* Whether `ifname` has an IPv6 address yet: the kernel adds its link-local one a little
 * after the link comes up. */
static bool has_ipv6_address(const char *ifname)
{
	char line[256], name[IFNAMSIZ + 1];
	bool found = false;
	FILE *f = fopen("/proc/net/if_inet6", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %*s %*s %*s %16s", name) == 1 &&
			strcmp(name, ifname) == 0;
	fclose(f);
	return found;
}

/*
 * lo does not carry IPv6 multicast, so a veth pair does: what is sent on v0 comes back to
 * this host's members through the multicast loopback.
 */
TEST(multicast_ipv6)
{
	char *const add[] = {
		"ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", NULL
	};
	char *const up0[] = { "ip", "link", "set", "v0", "up", NULL };
	char *const up1[] = { "ip", "link", "set", "v1", "up", NULL }; /* or v0 has no carrier */
	int fd;

	private_netns();
	/* No duplicate address detection: the link-local address is usable at once. */
	fd = open("/proc/sys/net/ipv6/conf/default/accept_dad", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		SKIP_TEST("no IPv6 here: %m");
	ASSERT_EQ(write(fd, "0", 1), 1);
	close(fd);
	if (!run(add) || !run(up0) || !run(up1))
		SKIP_TEST("cannot make a veth pair with ip(8)");
	for (int i = 0; !has_ipv6_address("v0"); i++) {
		if (i == 500)
			ERROR_TEST("v0 got no IPv6 address within 5 s");
		usleep(10000);
	}
	multicast("[ff02::114]", "v0");
	multicast("[ff15::1:2]", "v0");
}

DEFINE_TEST_MAIN();
