/* SPDX-License-Identifier: MIT */
/*
 * Read-only inspection (inspect.c): the socket-name parser, segments in every state and
 * corrupt ones, and live ipc:// channels, which looking at must not change: no slot taken,
 * no membership epoch bumped, no producer or consumer counted twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/tests.h"
#include "inspect.h"
#include "psyne.h"
#include "ring.h"

#define SEG_CAPACITY 4096u

static const char *name_for(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size, "t%d-%s", (int)getpid(), tag);
	return buf;
}

static struct psyne_channel *open_ok(const char *uri)
{
	struct psyne_channel *ch = NULL;

	ASSERT_OK(psyne_open(uri, &ch));
	return ch;
}

/* What psyne__inspect_ipc() reported, for one channel or several. */
struct seen {
	unsigned n;
	char name[64];
	int error;
	struct psyne_inspect_channel ch;
};

static int on_channel(const char *name, const struct psyne_inspect_channel *ch, int error,
		      void *userdata)
{
	struct seen *s = userdata;

	s->n++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->error = error;
	if (ch)
		s->ch = *ch;
	else
		ASSERT_LT(error, 0);
	return 0;
}

static struct seen inspect_one(const char *name)
{
	struct seen s = { .n = 0 };

	ASSERT_EQ(psyne__inspect_ipc(name, on_channel, &s), (int)s.n);
	return s;
}

TEST(parse_socket)
{
	char name[64], path[160];
	uid_t uid = geteuid();
	pid_t pid;
	int fd;

	snprintf(path, sizeof(path), "@psyne/1/%u/cam0.x_y-z/m/123/45", (unsigned)uid);
	ASSERT_OK(psyne__inspect_parse_socket(path, uid, name, &pid, &fd));
	ASSERT_STREQ(name, "cam0.x_y-z");
	ASSERT_EQ(pid, 123);
	ASSERT_EQ(fd, 45);

	static const char *const bad[] = {
		"@psyne/1/%u/cam0/lock",
		"@psyne/1/%u/cam0/m/123",
		"@psyne/1/%u/cam0/m/123/",
		"@psyne/1/%u/cam0/m/0/4",
		"@psyne/1/%u/cam0/m/0123/4",
		"@psyne/1/%u/cam0/m/123/4x",
		"@psyne/1/%u/cam0/m/-1/4",
		"@psyne/1/%u/cam0/m/2147483648/4",
		"@psyne/1/%u/cam0/m/1/99999999999",
		"@psyne/1/%u/ca m0/m/1/4",
		"@psyne/1/%u//m/1/4",
		"@psyne/1/%u/cam0/x/1/4",
		"@psyne/2/%u/cam0/m/1/4",
		"psyne/1/%u/cam0/m/1/4",
		"@psyne/1/%u/cam0/m/1/4/5",
		"@psyne/1/%u/cam0/m/+1/4",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(path, sizeof(path), bad[i], (unsigned)uid);
		ASSERT_ERROR(psyne__inspect_parse_socket(path, uid, name, &pid, &fd), EINVAL);
	}

	/* Another uid's channel, and a name longer than a channel name may be. */
	snprintf(path, sizeof(path), "@psyne/1/%u/cam0/m/1/4", (unsigned)uid + 1);
	ASSERT_ERROR(psyne__inspect_parse_socket(path, uid, name, &pid, &fd), EINVAL);
	snprintf(path, sizeof(path), "@psyne/1/%u/%0*d/m/1/4", (unsigned)uid, 49, 0);
	ASSERT_ERROR(psyne__inspect_parse_socket(path, uid, name, &pid, &fd), EINVAL);
	ASSERT_ERROR(psyne__inspect_parse_socket("", uid, name, &pid, &fd), EINVAL);
}

/* A segment in anonymous memory, formatted, and its rings joined as in one process. */
struct seg {
	void *mem;
	uint64_t size;
	struct psyne_ring prod, cons;
};

static void seg_new(struct seg *s, uint32_t mode)
{
	s->size = psyne__ring_region_size(SEG_CAPACITY);
	s->mem = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(s->mem != MAP_FAILED);
	ASSERT_OK(psyne__ring_format(s->mem, s->size, "seg", mode, SEG_CAPACITY));
}

static void seg_send(struct seg *s, size_t size, unsigned n)
{
	struct psyne_msg m;

	for (unsigned i = 0; i < n; i++) {
		ASSERT_OK(psyne__ring_reserve(&s->prod, size, 0, &m));
		memset(m.data, 'x', size);
		ASSERT_OK(psyne__ring_commit(&s->prod, &m));
	}
}

TEST(segment_counts)
{
	struct psyne_inspect_channel ch;
	struct psyne_stats st;
	struct psyne_msg m;
	struct seg s;

	seg_new(&s, PSYNE_MODE_SPSC);
	ASSERT_OK(psyne__inspect_segment(s.mem, s.size, "seg", &ch));
	ASSERT_STREQ(ch.name, "seg");
	ASSERT_EQ(ch.mode, (uint32_t)PSYNE_MODE_SPSC);
	ASSERT_EQ(ch.capacity, SEG_CAPACITY);
	ASSERT_EQ(ch.used, 0u);
	ASSERT_EQ(ch.n_members, 0u);
	ASSERT_TRUE(ch.queued_known);
	ASSERT_EQ(ch.queued, 0u);

	ASSERT_OK(psyne__ring_join(&s.prod, s.mem, s.size, false));
	ASSERT_OK(psyne__ring_join(&s.cons, s.mem, s.size, false));
	seg_send(&s, 10, 5);
	ASSERT_OK(psyne__ring_receive(&s.cons, 0, SIZE_MAX, &m));
	psyne__ring_release(&s.cons, &m);
	ASSERT_OK(psyne__ring_receive(&s.cons, 0, SIZE_MAX, &m)); /* held, not released */

	/* Read-only from here: a write through the mapping would fault. */
	ASSERT_OK_ERRNO(mprotect(s.mem, s.size, PROT_READ));
	ASSERT_OK(psyne__inspect_segment(s.mem, s.size, NULL, &ch));
	psyne__ring_stats(&s.prod, &st);
	ASSERT_EQ(ch.used, st.used);
	ASSERT_EQ(ch.used, 4u * 32);
	ASSERT_EQ(ch.messages, 5u);
	ASSERT_EQ(ch.bytes, 50u);
	ASSERT_EQ(ch.queued, 3u);
	ASSERT_EQ(ch.queued_bytes, 30u);
	ASSERT_EQ(ch.received, 2u);
	ASSERT_EQ(ch.received_bytes, 20u);
	ASSERT_EQ(ch.producers, 1u);
	ASSERT_EQ(ch.consumers, 1u);
	ASSERT_EQ(ch.n_members, 2u);
	ASSERT_EQ(ch.members[0].role, PSYNE_ROLE_PRODUCER);
	ASSERT_EQ(ch.members[0].messages, 5u);
	ASSERT_EQ(ch.members[1].role, PSYNE_ROLE_CONSUMER);
	ASSERT_EQ(ch.members[1].pid, (uint32_t)getpid());
	ASSERT_EQ(ch.epoch, (uint32_t)atomic_load(&((struct psyne_ring_hdr *)s.mem)->epoch));

	/* Both members are this process: alive. */
	psyne__inspect_check_alive(&ch);
	ASSERT_TRUE(ch.members[0].alive);
	ASSERT_EQ(ch.producers, 1u);
	ASSERT_EQ(ch.consumers, 1u);
}

TEST(segment_wrapped_mpmc)
{
	struct psyne_inspect_channel ch;
	struct psyne_stats st;
	struct psyne_msg m;
	struct seg s;

	seg_new(&s, PSYNE_MODE_MPMC);
	ASSERT_OK(psyne__ring_join(&s.prod, s.mem, s.size, false));
	ASSERT_OK(psyne__ring_join(&s.cons, s.mem, s.size, false));
	/* Go round the ring a few times, so that a wrap record sits in the queue. */
	for (unsigned i = 0; i < 40; i++) {
		seg_send(&s, 200, 1);
		if (i % 3 != 0) {
			ASSERT_OK(psyne__ring_receive(&s.cons, 0, SIZE_MAX, &m));
			psyne__ring_release(&s.cons, &m);
		}
	}
	ASSERT_OK(psyne__inspect_segment(s.mem, s.size, "seg", &ch));
	psyne__ring_stats(&s.prod, &st);
	ASSERT_TRUE(ch.queued_known);
	ASSERT_EQ(ch.messages, 40u);
	ASSERT_EQ(ch.queued, 40u - 26u);
	ASSERT_EQ(ch.received, 26u);
	ASSERT_EQ(ch.used, st.used);
}

TEST(segment_corrupt)
{
	struct psyne_inspect_channel ch = { .mode = 99 };
	struct psyne_ring_hdr *hdr;
	struct psyne_ring_slot *slots;
	struct seg s;

	seg_new(&s, PSYNE_MODE_SPSC);
	hdr = s.mem;
	slots = (void *)((uint8_t *)s.mem + PSYNE_RING_SLOTS_OFFSET);

	ASSERT_ERROR(psyne__inspect_segment(s.mem, s.size, "other", &ch), EPROTO);
	ASSERT_ERROR(psyne__inspect_segment(s.mem, s.size - 1, "seg", &ch), EPROTO);
	ASSERT_ERROR(psyne__inspect_segment(s.mem, 100, "seg", &ch), EPROTO);
	ASSERT_ERROR(psyne__inspect_segment(NULL, s.size, "seg", &ch), EPROTO);
	hdr->version_major = 2;
	ASSERT_ERROR(psyne__inspect_segment(s.mem, s.size, "seg", &ch), EPROTONOSUPPORT);
	hdr->version_major = PSYNE_RING_VERSION_MAJOR;
	hdr->magic = 0;
	ASSERT_ERROR(psyne__inspect_segment(s.mem, s.size, "seg", &ch), EPROTO);
	hdr->magic = PSYNE_RING_MAGIC;
	ASSERT_EQ(ch.mode, 99u); /* ret_ untouched on failure */

	/* Cursors a lap apart, a record longer than the ring, absurd slots: listed, not trusted. */
	atomic_store(&hdr->tail, 3 * SEG_CAPACITY);
	atomic_store(&hdr->head, 0);
	atomic_store(&slots[5].word, (uint64_t)0xffffffffu << 32 | 7u << 2 | PSYNE_SLOT_ACTIVE);
	atomic_store(&slots[6].word, (uint64_t)0 << 32 | PSYNE_SLOT_ACTIVE);
	atomic_store(&slots[6].role, 0xffffffffu);
	ASSERT_OK(psyne__inspect_segment(s.mem, s.size, "seg", &ch));
	ASSERT_EQ(ch.used, 0u);
	ASSERT_FALSE(ch.queued_known);
	ASSERT_EQ(ch.n_members, 2u);
	ASSERT_EQ(ch.members[1].role, PSYNE_ROLE_PRODUCER | PSYNE_ROLE_CONSUMER);
	psyne__inspect_check_alive(&ch);
	ASSERT_FALSE(ch.members[0].alive);
	ASSERT_FALSE(ch.members[1].alive);
	ASSERT_EQ(ch.producers, 0u);

	atomic_store(&hdr->tail, 32);
	struct psyne_ring_rec *rec = (void *)((uint8_t *)s.mem + PSYNE_RING_DATA_OFFSET);
	atomic_store(&rec->state, PSYNE_REC_COMMITTED);
	atomic_store(&rec->len, 2 * SEG_CAPACITY);
	ASSERT_OK(psyne__inspect_segment(s.mem, s.size, "seg", &ch));
	ASSERT_FALSE(ch.queued_known);
	atomic_store(&rec->len, 32);
	atomic_store(&rec->size, 100000); /* larger than its record: counted as the record */
	ASSERT_OK(psyne__inspect_segment(s.mem, s.size, "seg", &ch));
	ASSERT_TRUE(ch.queued_known);
	ASSERT_EQ(ch.queued, 0u); /* no member ever committed one: capped at messages */
}

TEST(live_channel_unchanged_by_looking)
{
	char name[64], uri[128];
	struct psyne_channel *p, *c;
	struct psyne_stats before, after;
	struct seen s;
	char buf[16];

	name_for(name, sizeof(name), "live");
	snprintf(uri, sizeof(uri), "ipc://%s?mode=mpsc&capacity=8K", name);
	p = open_ok(uri);
	ASSERT_OK(psyne_send(p, "one", 3, 1, 0));
	ASSERT_OK(psyne_send(p, "two", 3, 1, 0));
	ASSERT_OK(psyne_send(p, "three", 5, 1, 0));
	ASSERT_OK(psyne_channel_stats(p, &before));

	s = inspect_one(name);
	ASSERT_EQ(s.n, 1u);
	ASSERT_EQ(s.error, 0);
	ASSERT_STREQ(s.name, name);
	ASSERT_EQ(s.ch.mode, (uint32_t)PSYNE_MODE_MPSC);
	ASSERT_EQ(s.ch.capacity, 8192u);
	ASSERT_EQ(s.ch.used, before.used);
	ASSERT_EQ(s.ch.used, 96u);
	ASSERT_EQ(s.ch.messages, 3u);
	ASSERT_EQ(s.ch.bytes, 11u);
	ASSERT_EQ(s.ch.queued, 3u);
	ASSERT_EQ(s.ch.producers, 1u);
	ASSERT_EQ(s.ch.consumers, 0u);
	ASSERT_EQ(s.ch.n_members, 1u);
	ASSERT_EQ(s.ch.members[0].pid, (uint32_t)getpid());
	ASSERT_TRUE(s.ch.members[0].alive);
	ASSERT_NE(s.ch.id, 0u);

	/* Looking again and again changes neither the members nor the epoch. */
	uint32_t epoch = s.ch.epoch;
	for (int i = 0; i < 5; i++)
		s = inspect_one(name);
	ASSERT_EQ(s.ch.epoch, epoch);
	ASSERT_EQ(s.ch.n_members, 1u);
	ASSERT_OK(psyne_channel_stats(p, &after));
	ASSERT_EQ(after.producers, before.producers);
	ASSERT_EQ(after.consumers, before.consumers);
	ASSERT_EQ(after.used, before.used);

	c = open_ok(uri);
	ASSERT_EQ(psyne_recv(c, buf, sizeof(buf), NULL, 0), 3);
	s = inspect_one(name);
	ASSERT_EQ(s.ch.n_members, 2u);
	ASSERT_EQ(s.ch.consumers, 1u);
	ASSERT_EQ(s.ch.received, 1u);
	ASSERT_EQ(s.ch.queued, 2u);
	ASSERT_EQ(s.ch.used, 64u);

	psyne_close(c);
	psyne_close(p);
	s = inspect_one(name);
	ASSERT_EQ(s.n, 0u);
}

TEST(dead_member_is_not_counted)
{
	char name[64], uri[128], byte;
	struct psyne_channel *p;
	struct seen s;
	int fds[2];
	pid_t child;

	name_for(name, sizeof(name), "dead");
	snprintf(uri, sizeof(uri), "ipc://%s?mode=mpsc", name);
	p = open_ok(uri);
	ASSERT_OK_ERRNO(pipe(fds));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		struct psyne_channel *q = NULL;

		if (psyne_open(uri, &q) < 0 || psyne_send(q, "x", 1, 0, 0) < 0)
			_exit(1);
		if (write(fds[1], "k", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	ASSERT_EQ(read(fds[0], &byte, 1), 1);
	s = inspect_one(name);
	ASSERT_EQ(s.ch.producers, 1u);
	ASSERT_EQ(s.ch.n_members, 2u);

	/* Killed and waited for: its slot stays until a waiting survivor reaps it. */
	ASSERT_OK_ERRNO(kill(child, SIGKILL));
	ASSERT_EQ(waitpid(child, NULL, 0), child);
	s = inspect_one(name);
	ASSERT_EQ(s.ch.n_members, 2u);
	ASSERT_EQ(s.ch.producers, 0u);
	ASSERT_EQ(s.ch.messages, 1u);
	for (uint32_t i = 0; i < s.ch.n_members; i++)
		ASSERT_EQ(s.ch.members[i].alive, s.ch.members[i].pid == (uint32_t)getpid());
	psyne_close(p);
}

/* Binds the abstract name under which a member of channel `name` announces fd `fd`. */
static int bind_member(const char *name, int fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, n;

	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "psyne/1/%u/%s/m/%d/%d",
		     (unsigned)geteuid(), name, (int)getpid(), fd);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_OK_ERRNO(s);
	ASSERT_OK_ERRNO(bind(s, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)));
	return s;
}

static int garbage_memfd(size_t size, bool seal)
{
	int fd = memfd_create("garbage", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *buf = malloc(size);

	ASSERT_OK_ERRNO(fd);
	ASSERT_NOT_NULL(buf);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	ASSERT_EQ(write(fd, buf, size), (ssize_t)size);
	free(buf);
	if (seal)
		ASSERT_OK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	return fd;
}

TEST(hostile_segments)
{
	char name[64];
	struct seen s;
	int fd, sock, fds[2];

	/* Sealed garbage, unsealed garbage, too small: an error for the channel. */
	name_for(name, sizeof(name), "garbage");
	fd = garbage_memfd(psyne__ring_region_size(SEG_CAPACITY), true);
	sock = bind_member(name, fd);
	s = inspect_one(name);
	ASSERT_EQ(s.n, 1u);
	ASSERT_EQ(s.error, -EPROTO);
	close(sock);
	close(fd);

	name_for(name, sizeof(name), "unsealed");
	fd = garbage_memfd(psyne__ring_region_size(SEG_CAPACITY), false);
	sock = bind_member(name, fd);
	ASSERT_EQ(inspect_one(name).error, -EPROTO);
	close(sock);
	close(fd);

	name_for(name, sizeof(name), "small");
	fd = garbage_memfd(100, true);
	sock = bind_member(name, fd);
	ASSERT_EQ(inspect_one(name).error, -EPROTO);
	close(sock);
	close(fd);

	/* A valid segment under another name than the socket's. */
	name_for(name, sizeof(name), "misnamed");
	fd = memfd_create("misnamed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(ftruncate(fd, (off_t)psyne__ring_region_size(SEG_CAPACITY)));
	void *mem = mmap(NULL, psyne__ring_region_size(SEG_CAPACITY), PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
	ASSERT_TRUE(mem != MAP_FAILED);
	ASSERT_OK(psyne__ring_format(mem, psyne__ring_region_size(SEG_CAPACITY), "other", 0,
				     SEG_CAPACITY));
	ASSERT_OK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	sock = bind_member(name, fd);
	ASSERT_EQ(inspect_one(name).error, -EPROTO);
	close(sock);

	/* Not a file (a pipe), or no such fd: not a member, so no channel. */
	name_for(name, sizeof(name), "pipe");
	ASSERT_OK_ERRNO(pipe2(fds, O_CLOEXEC));
	sock = bind_member(name, fds[0]);
	ASSERT_EQ(inspect_one(name).n, 0u);
	close(sock);
	sock = bind_member(name, 9999);
	ASSERT_EQ(inspect_one(name).n, 0u);
	close(sock);
}

TEST(all_channels_in_name_order)
{
	char a[64], b[64], uri[128];
	struct psyne_channel *ca, *cb;
	struct seen s = { .n = 0 };
	int n;

	name_for(a, sizeof(a), "list-a");
	name_for(b, sizeof(b), "list-b");
	snprintf(uri, sizeof(uri), "ipc://%s", b);
	cb = open_ok(uri);
	snprintf(uri, sizeof(uri), "ipc://%s", a);
	ca = open_ok(uri);

	n = psyne__inspect_ipc(NULL, on_channel, &s);
	ASSERT_GE(n, 2);
	ASSERT_EQ((unsigned)n, s.n);
	ASSERT_EQ(inspect_one(a).n, 1u);
	ASSERT_EQ(inspect_one("nosuch").n, 0u);
	ASSERT_ERROR(psyne__inspect_ipc(NULL, NULL, NULL), EINVAL);
	psyne_close(ca);
	psyne_close(cb);
}

static int stop_early(const char *name, const struct psyne_inspect_channel *ch, int error,
		      void *userdata)
{
	return -ECANCELED;
}

TEST(callback_stops_the_listing)
{
	char name[64], uri[128];
	struct psyne_channel *c;

	name_for(name, sizeof(name), "stop");
	snprintf(uri, sizeof(uri), "ipc://%s", name);
	c = open_ok(uri);
	ASSERT_ERROR(psyne__inspect_ipc(name, stop_early, NULL), ECANCELED);
	psyne_close(c);
}

DEFINE_TEST_MAIN();
