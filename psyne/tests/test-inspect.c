/* SPDX-License-Identifier: MIT */
/*
 * Read-only inspection (inspect.c): the socket-name parser, segments in every state and
 * corrupt ones, and live ipc:// channels, which looking at must not change: no slot taken,
 * no membership epoch bumped, no producer or consumer counted twice. Then the stats pages
 * of network handles (netstat.h): found while the handle lives, counters and peers right,
 * no secret in them, gone with the handle, and hostile pages refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include "common/time-util.h"
#include "inspect.h"
#include "netstat.h"
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

	snprintf(path, sizeof(path), "@psyne/1/%u/cam0.x_y-z/m/123/45/0123456789abcdef",
		 (unsigned)uid);
	ASSERT_OK(psyne__inspect_parse_socket(path, uid, name, &pid, &fd));
	ASSERT_STREQ(name, "cam0.x_y-z");
	ASSERT_EQ(pid, 123);
	ASSERT_EQ(fd, 45);

	static const char *const bad[] = {
		"@psyne/1/%u/cam0/lock",
		"@psyne/1/%u/cam0/m/123",
		"@psyne/1/%u/cam0/m/123/",
		"@psyne/1/%u/cam0/m/123/4",
		"@psyne/1/%u/cam0/m/123/4/",
		"@psyne/1/%u/cam0/m/0/4/a",
		"@psyne/1/%u/cam0/m/0123/4/a",
		"@psyne/1/%u/cam0/m/123/4x/a",
		"@psyne/1/%u/cam0/m/-1/4/a",
		"@psyne/1/%u/cam0/m/2147483648/4/a",
		"@psyne/1/%u/cam0/m/1/99999999999/a",
		"@psyne/1/%u/ca m0/m/1/4/a",
		"@psyne/1/%u//m/1/4/a",
		"@psyne/1/%u/cam0/x/1/4/a",
		"@psyne/2/%u/cam0/m/1/4/a",
		"psyne/1/%u/cam0/m/1/4/a",
		"@psyne/1/%u/cam0/m/1/4/5/6",
		"@psyne/1/%u/cam0/m/+1/4/a",
		"@psyne/1/%u/cam0/m/1/4/A",
		"@psyne/1/%u/cam0/m/1/4/g",
		"@psyne/1/%u/cam0/m/1/4/0123456789abcdef0",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(path, sizeof(path), bad[i], (unsigned)uid);
		ASSERT_ERROR(psyne__inspect_parse_socket(path, uid, name, &pid, &fd), EINVAL);
	}

	/* Another uid's channel, and a name longer than a channel name may be. */
	snprintf(path, sizeof(path), "@psyne/1/%u/cam0/m/1/4/a", (unsigned)uid + 1);
	ASSERT_ERROR(psyne__inspect_parse_socket(path, uid, name, &pid, &fd), EINVAL);
	snprintf(path, sizeof(path), "@psyne/1/%u/%0*d/m/1/4/a", (unsigned)uid, 49, 0);
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

	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "psyne/1/%u/%s/m/%d/%d/1",
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

/* A sealed memfd holding a fresh segment called `name`, its mapping left in *ret_mem. */
static int formatted_memfd(const char *name, uint64_t capacity, void **ret_mem)
{
	int fd = memfd_create("formatted", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *mem;

	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(ftruncate(fd, (off_t)psyne__ring_region_size(capacity)));
	mem = mmap(NULL, psyne__ring_region_size(capacity), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	ASSERT_TRUE(mem != MAP_FAILED);
	ASSERT_OK(psyne__ring_format(mem, psyne__ring_region_size(capacity), name, 0, capacity));
	ASSERT_OK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	*ret_mem = mem;
	return fd;
}

TEST(hostile_segments)
{
	char name[64];
	struct seen s;
	void *mem;
	int fd, sock, fds[2];

	/*
	 * Anyone may bind a member name and point it anywhere (member.h): sealed garbage,
	 * unsealed garbage, too small, or a valid segment of another name are not members, so
	 * no channel.
	 */
	name_for(name, sizeof(name), "garbage");
	fd = garbage_memfd(psyne__ring_region_size(SEG_CAPACITY), true);
	sock = bind_member(name, fd);
	ASSERT_EQ(inspect_one(name).n, 0u);
	close(sock);
	close(fd);

	name_for(name, sizeof(name), "unsealed");
	fd = garbage_memfd(psyne__ring_region_size(SEG_CAPACITY), false);
	sock = bind_member(name, fd);
	ASSERT_EQ(inspect_one(name).n, 0u);
	close(sock);
	close(fd);

	name_for(name, sizeof(name), "small");
	fd = garbage_memfd(100, true);
	sock = bind_member(name, fd);
	ASSERT_EQ(inspect_one(name).n, 0u);
	close(sock);
	close(fd);

	name_for(name, sizeof(name), "misnamed");
	fd = formatted_memfd("other", SEG_CAPACITY, &mem);
	sock = bind_member(name, fd);
	ASSERT_EQ(inspect_one(name).n, 0u);
	close(sock);
	close(fd);

	/* A segment that says it is this channel and is corrupt: the channel's error. */
	name_for(name, sizeof(name), "corrupt");
	fd = formatted_memfd(name, SEG_CAPACITY, &mem);
	((struct psyne_ring_hdr *)mem)->capacity = SEG_CAPACITY + 1;
	sock = bind_member(name, fd);
	s = inspect_one(name);
	ASSERT_EQ(s.n, 1u);
	ASSERT_EQ(s.error, -EPROTO);
	close(sock);
	close(fd);

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

TEST(parse_net_socket)
{
	char path[160];
	uid_t uid = geteuid();
	pid_t pid;
	int fd;

	snprintf(path, sizeof(path), "@psyne/1/%u/net/123/45", (unsigned)uid);
	ASSERT_OK(psyne__inspect_parse_net_socket(path, uid, &pid, &fd));
	ASSERT_EQ(pid, 123);
	ASSERT_EQ(fd, 45);

	static const char *const bad[] = {
		"@psyne/1/%u/net/123",	  "@psyne/1/%u/net/123/",	  "@psyne/1/%u/net/0/4",
		"@psyne/1/%u/net/0123/4", "@psyne/1/%u/net/1/4x",	  "@psyne/1/%u/net/-1/4",
		"@psyne/1/%u/net/1/4/5",  "@psyne/1/%u/net/2147483648/4", "@psyne/1/%u/net/m/1/4",
		"@psyne/1/%u/net/lock",	  "@psyne/1/%u/nets/1/4",	  "@psyne/1/%u/cam0/m/1/4",
		"@psyne/2/%u/net/1/4",	  "psyne/1/%u/net/1/4",		  "@psyne/1/%u//net/1/4",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(path, sizeof(path), bad[i], (unsigned)uid);
		ASSERT_ERROR(psyne__inspect_parse_net_socket(path, uid, &pid, &fd), EINVAL);
	}
	snprintf(path, sizeof(path), "@psyne/1/%u/net/1/4", (unsigned)uid + 1);
	ASSERT_ERROR(psyne__inspect_parse_net_socket(path, uid, &pid, &fd), EINVAL);

	/* The two namespaces do not overlap: an ipc:// channel called "net" stays one. */
	char name[64];
	snprintf(path, sizeof(path), "@psyne/1/%u/net/m/1/4/a", (unsigned)uid);
	ASSERT_OK(psyne__inspect_parse_socket(path, uid, name, &pid, &fd));
	ASSERT_STREQ(name, "net");
	snprintf(path, sizeof(path), "@psyne/1/%u/net/1/4", (unsigned)uid);
	ASSERT_ERROR(psyne__inspect_parse_socket(path, uid, name, &pid, &fd), EINVAL);
}

/* A loopback port nobody uses right now. */
static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_OK_ERRNO(getsockname(fd, (struct sockaddr *)&a, &len));
	close(fd);
	return ntohs(a.sin_port);
}

/* What psyne__inspect_net() reported for handles of this process. */
struct seen_net {
	unsigned n;
	unsigned others; /* handles of other processes: tests running beside this one */
	struct {
		int fd;
		int error;
		struct psyne_inspect_net net;
	} h[4];
};

static int on_net(pid_t pid, int fd, const struct psyne_inspect_net *net, int error, void *userdata)
{
	struct seen_net *s = userdata;

	if (pid != getpid()) {
		s->others++;
		return 0;
	}
	ASSERT_LT(s->n, ELEMENTSOF(s->h));
	s->h[s->n].fd = fd;
	s->h[s->n].error = error;
	if (net)
		s->h[s->n].net = *net;
	else
		ASSERT_LT(error, 0);
	s->n++;
	return 0;
}

static struct seen_net *inspect_net(void)
{
	static struct seen_net s;

	s = (struct seen_net){ .n = 0 };
	ASSERT_EQ(psyne__inspect_net(on_net, &s), (int)(s.n + s.others));
	return &s;
}

/* The handle of this process whose URI is `uri`, or NULL. */
static const struct psyne_inspect_net *find_net(const struct seen_net *s, const char *uri)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->h[i].error == 0 && strcmp(s->h[i].net.uri, uri) == 0)
			return &s->h[i].net;
	return NULL;
}

/* Looks until `uri` is listed and pred() holds of it (the I/O thread writes some fields). */
static const struct psyne_inspect_net *wait_net(const char *uri,
						bool (*pred)(const struct psyne_inspect_net *))
{
	uint64_t deadline = deadline_from_timeout_ms(5000);

	for (;;) {
		const struct psyne_inspect_net *n = find_net(inspect_net(), uri);

		if (n && (!pred || pred(n)))
			return n;
		ASSERT_FALSE(deadline_passed(deadline));
		(void)usleep(5 * 1000);
	}
}

static bool drained(const struct psyne_inspect_net *n)
{
	return n->n_peers == 1 && n->peers[0].tx_queued == 0 && n->peers[0].rx_queued == 0;
}

TEST(net_pages_of_a_listener_and_a_dialer)
{
	char l[128], d[128], luri[64], duri[64], payload[100];
	struct psyne_channel *lc, *dc;
	const struct psyne_inspect_net *n;
	unsigned port = free_port();
	uint64_t bytes = 0;
	struct psyne_msg m;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen&mode=mpsc&capacity=64K&heartbeat=20",
		 port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?mode=mpsc&capacity=64K&heartbeat=20", port);
	snprintf(luri, sizeof(luri), "tcp://127.0.0.1:%u?listen", port);
	snprintf(duri, sizeof(duri), "tcp://127.0.0.1:%u", port);
	lc = open_ok(l);

	/* A listener alone: listed, with no session. */
	n = wait_net(luri, NULL);
	ASSERT_TRUE(n->listener);
	ASSERT_EQ(n->mode, (uint32_t)PSYNE_MODE_MPSC);
	ASSERT_EQ(n->capacity, 65536u);
	ASSERT_EQ(n->n_peers, 0u);
	ASSERT_EQ(n->sessions, 0u);
	ASSERT_EQ(n->sent + n->received, 0u);
	ASSERT_TRUE(n->consistent);
	ASSERT_NE(n->id, 0u);

	dc = open_ok(d);
	memset(payload, 'p', sizeof(payload));
	for (unsigned i = 0; i < 10; i++) {
		ASSERT_OK(psyne_send(dc, payload, 10 * i, i, 1000));
		bytes += 10 * i;
	}
	for (unsigned i = 0; i < 9; i++) {
		ASSERT_OK(psyne_receive(lc, 5000, &m));
		psyne_release(lc, &m);
	}
	ASSERT_OK(psyne_receive(lc, 5000, &m)); /* held: its bytes stay queued */
	ASSERT_EQ(m.size, 90u);

	/* The dialer's counters are written by its commits: exact at once. */
	n = find_net(inspect_net(), duri);
	ASSERT_NOT_NULL(n);
	ASSERT_FALSE(n->listener);
	ASSERT_EQ(n->sent, 10u);
	ASSERT_EQ(n->sent_bytes, bytes);
	ASSERT_EQ(n->received, 0u);
	ASSERT_EQ(n->n_peers, 1u);
	ASSERT_EQ(n->sessions, 1u);
	ASSERT_EQ(n->up, 1u);
	ASSERT_EQ(n->peers[0].state, (uint32_t)PSYNE_NETSTAT_PEER_UP);
	ASSERT_STREQ(n->peers[0].name, duri + strlen("tcp://"));
	ASSERT_EQ(n->peers[0].messages_tx, 10u);
	ASSERT_EQ(n->peers[0].bytes_tx, bytes);
	ASSERT_EQ(n->peers[0].reconnects, 0u);
	ASSERT_EQ(n->last_error, 0);

	/* The listener's, by its receives; the held message is still queued. */
	n = find_net(inspect_net(), luri);
	ASSERT_NOT_NULL(n);
	ASSERT_EQ(n->received, 10u);
	ASSERT_EQ(n->received_bytes, bytes);
	ASSERT_EQ(n->sent, 0u);
	ASSERT_EQ(n->n_peers, 1u);
	ASSERT_EQ(n->up, 1u);
	ASSERT_EQ(n->peers[0].state, (uint32_t)PSYNE_NETSTAT_PEER_UP);
	ASSERT_TRUE(strncmp(n->peers[0].name, "127.0.0.1:", 10) == 0);
	ASSERT_EQ(n->peers[0].messages_rx, 10u);
	ASSERT_EQ(n->peers[0].bytes_rx, bytes);
	ASSERT_GE(n->peers[0].rx_queued, 32u + 96u);
	ASSERT_EQ(n->used, n->peers[0].tx_queued + n->peers[0].rx_queued);

	/* Released and acknowledged (heartbeats every 20 ms): both sides drain to 0. */
	psyne_release(lc, &m);
	n = wait_net(luri, drained);
	ASSERT_EQ(n->used, 0u);
	n = wait_net(duri, drained);
	ASSERT_EQ(n->used, 0u);
	ASSERT_TRUE(n->consistent);

	/* The dialer goes: its page with it; the listener's session ends. */
	psyne_close(dc);
	ASSERT_NULL(find_net(inspect_net(), duri));
	psyne_close(lc);
	ASSERT_NULL(find_net(inspect_net(), luri));
}

TEST(net_page_has_no_secrets)
{
	char uri[256], page_uri[64], *bytes;
	struct psyne_channel *c;
	const struct psyne_inspect_net *n;
	unsigned port = free_port();
	struct seen_net *s;
	int fd = -1;

	snprintf(uri, sizeof(uri),
		 "tls://127.0.0.1:%u?listen&psk=00112233445566778899aabbccddeeff"
		 "&psk_identity=secret-id&heartbeat=100",
		 port);
	snprintf(page_uri, sizeof(page_uri), "tls://127.0.0.1:%u?listen", port);
	c = open_ok(uri);
	n = wait_net(page_uri, NULL);
	ASSERT_TRUE(n->listener);

	/* Not in any byte of the page either. */
	s = inspect_net();
	for (unsigned i = 0; i < s->n; i++)
		if (s->h[i].error == 0 && strcmp(s->h[i].net.uri, page_uri) == 0)
			fd = s->h[i].fd;
	ASSERT_GE(fd, 0);
	bytes = malloc(PSYNE_NETSTAT_PAGE_SIZE);
	ASSERT_NOT_NULL(bytes);
	ASSERT_EQ(pread(fd, bytes, PSYNE_NETSTAT_PAGE_SIZE, 0), (ssize_t)PSYNE_NETSTAT_PAGE_SIZE);
	ASSERT_NULL(memmem(bytes, PSYNE_NETSTAT_PAGE_SIZE, "00112233", 8));
	ASSERT_NULL(memmem(bytes, PSYNE_NETSTAT_PAGE_SIZE, "secret-id", 9));
	ASSERT_NULL(memmem(bytes, PSYNE_NETSTAT_PAGE_SIZE, "psk", 3));
	free(bytes);
	psyne_close(c);
}

struct streamer {
	struct psyne_channel *ch;
	unsigned count;
	int error;
};

static void *stream_64(void *arg)
{
	struct streamer *s = arg;
	char payload[64] = { 0 };

	for (unsigned i = 0; i < s->count && s->error == 0; i++)
		s->error = psyne_send(s->ch, payload, sizeof(payload), 0, 5000);
	return NULL;
}

static void *drain(void *arg)
{
	struct streamer *s = arg;
	struct psyne_msg m;

	for (unsigned i = 0; i < s->count && s->error == 0; i++) {
		s->error = psyne_receive(s->ch, 5000, &m);
		if (s->error == 0)
			psyne_release(s->ch, &m);
	}
	return NULL;
}

/*
 * A reader settles while the writer streams, and what settles holds together: bytes are 64
 * per message. (Sections are not consistent with each other: the peer's count may be ahead
 * or behind. A torn read needs a look between two adjacent stores, so passing here is no
 * proof of the seqlock; under TSan it checks its ordering.)
 */
TEST(net_page_consistent_while_streaming)
{
	char l[128], d[128], duri[64];
	struct streamer tx = { .count = 20000 }, rx = { .count = 20000 };
	struct psyne_inspect_net *net = malloc(sizeof(*net));
	struct seen_net *s;
	unsigned port = free_port(), looks = 0, settled = 0;
	pthread_t t1, t2;
	void *mem;
	int fd = -1;

	ASSERT_NOT_NULL(net);
	snprintf(l, sizeof(l), "tcp://127.0.0.1:%u?listen", port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u", port);
	snprintf(duri, sizeof(duri), "tcp://127.0.0.1:%u", port);
	rx.ch = open_ok(l);
	tx.ch = open_ok(d);
	s = inspect_net();
	for (unsigned i = 0; i < s->n; i++)
		if (s->h[i].error == 0 && strcmp(s->h[i].net.uri, duri) == 0)
			fd = s->h[i].fd;
	ASSERT_GE(fd, 0);
	mem = mmap(NULL, PSYNE_NETSTAT_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(mem != MAP_FAILED);

	ASSERT_OK_ZERO(pthread_create(&t1, NULL, stream_64, &tx));
	ASSERT_OK_ZERO(pthread_create(&t2, NULL, drain, &rx));
	for (bool done = false; !done; looks++) {
		done = net->n_peers == 1 && net->peers[0].messages_tx == tx.count;
		ASSERT_OK(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, net));
		ASSERT_EQ(net->n_peers, 1u);
		if (!net->consistent)
			continue;
		settled++;
		ASSERT_EQ(net->sent_bytes, 64 * net->sent);
		ASSERT_EQ(net->peers[0].bytes_tx, 64 * net->peers[0].messages_tx);
	}
	ASSERT_OK_ZERO(pthread_join(t1, NULL));
	ASSERT_OK_ZERO(pthread_join(t2, NULL));
	ASSERT_EQ(tx.error, 0);
	ASSERT_EQ(rx.error, 0);
	ASSERT_EQ(net->sent, (uint64_t)tx.count);
	printf("# %u looks while streaming, %u of them consistent\n", looks, settled);
	ASSERT_GT(settled, looks / 2);
	ASSERT_OK_ERRNO(munmap(mem, PSYNE_NETSTAT_PAGE_SIZE));
	psyne_close(tx.ch);
	psyne_close(rx.ch);
	free(net);
}

/* Binds the name under which this process would announce a stats page in fd `fd`. */
static int bind_net(int fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, n;

	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "psyne/1/%u/net/%d/%d",
		     (unsigned)geteuid(), (int)getpid(), fd);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_OK_ERRNO(s);
	ASSERT_OK_ERRNO(bind(s, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)));
	return s;
}

/* A well-formed page in a sealed memfd, to be corrupted by `edit` before sealing. */
static int page_memfd(void (*edit)(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p))
{
	int fd = memfd_create("page", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct psyne_netstat_hdr *h;

	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(ftruncate(fd, PSYNE_NETSTAT_PAGE_SIZE));
	h = mmap(NULL, PSYNE_NETSTAT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(h != MAP_FAILED);
	*h = (struct psyne_netstat_hdr){
		.magic = PSYNE_NETSTAT_MAGIC,
		.version_major = PSYNE_NETSTAT_VERSION_MAJOR,
		.header_size = PSYNE_NETSTAT_HDR_SIZE,
		.peer_size = PSYNE_NETSTAT_PEER_SIZE,
		.max_peers = PSYNE_NETSTAT_MAX_PEERS,
		.page_size = PSYNE_NETSTAT_PAGE_SIZE,
		.capacity = 4096,
		.uri = "tcp://fake:1",
	};
	atomic_store(&h->n_peers, 1);
	if (edit)
		edit(h, (struct psyne_netstat_peer *)((uint8_t *)h + PSYNE_NETSTAT_HDR_SIZE));
	ASSERT_OK_ERRNO(munmap(h, PSYNE_NETSTAT_PAGE_SIZE));
	ASSERT_OK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	return fd;
}

static void edit_version(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p)
{
	h->version_major = 2;
}

static void edit_peers(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p)
{
	atomic_store(&h->n_peers, PSYNE_NETSTAT_MAX_PEERS + 1);
}

static void edit_state(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p)
{
	atomic_store(&p->state, _PSYNE_NETSTAT_PEER_MAX);
}

static void edit_name(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p)
{
	/* An escape sequence for the terminal that prints the table. */
	atomic_store(&p->name[0], 0x4a325b1bull);
}

static void edit_uri(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p)
{
	memset(h->uri, 'u', sizeof(h->uri)); /* unterminated */
}

static void edit_table(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p)
{
	h->max_peers = 1000; /* a table past the end of the page */
	h->page_size = PSYNE_NETSTAT_HDR_SIZE + 1000ull * PSYNE_NETSTAT_PEER_SIZE;
}

static void edit_stuck(struct psyne_netstat_hdr *h, struct psyne_netstat_peer *p)
{
	atomic_store(&p->gen, 7); /* a writer that died in the middle, forever odd */
	atomic_store(&p->state, PSYNE_NETSTAT_PEER_UP);
	atomic_store(&p->messages_rx, 42);
}

/* The error the page in `fd` gives, bound under this process's net namespace name. */
static int page_error(int fd, struct psyne_inspect_net *ret)
{
	int sock = bind_net(fd), error = -ENOENT;
	struct seen_net *s = inspect_net();

	for (unsigned i = 0; i < s->n; i++)
		if (s->h[i].fd == fd) {
			error = s->h[i].error;
			if (ret && error == 0)
				*ret = s->h[i].net;
		}
	close(sock);
	close(fd);
	return error;
}

TEST(net_hostile_pages)
{
	struct psyne_inspect_net net;
	int fds[2];

	/* Garbage, sealed or not, and too small: an error for that page. */
	ASSERT_EQ(page_error(garbage_memfd(PSYNE_NETSTAT_PAGE_SIZE, true), NULL), -EPROTO);
	ASSERT_EQ(page_error(garbage_memfd(PSYNE_NETSTAT_PAGE_SIZE, false), NULL), -EPROTO);
	ASSERT_EQ(page_error(garbage_memfd(100, true), NULL), -EPROTO);

	ASSERT_EQ(page_error(page_memfd(NULL), &net), 0);
	ASSERT_STREQ(net.uri, "tcp://fake:1");
	ASSERT_EQ(net.n_peers, 1u);
	ASSERT_TRUE(net.consistent);
	ASSERT_EQ(page_error(page_memfd(edit_version), NULL), -EPROTONOSUPPORT);
	ASSERT_EQ(page_error(page_memfd(edit_peers), NULL), -EPROTO);
	ASSERT_EQ(page_error(page_memfd(edit_state), NULL), -EPROTO);
	ASSERT_EQ(page_error(page_memfd(edit_name), NULL), -EPROTO);
	ASSERT_EQ(page_error(page_memfd(edit_uri), NULL), -EPROTO);
	ASSERT_EQ(page_error(page_memfd(edit_table), NULL), -EPROTO);

	/* A section that never settles: read within the budget, and said to be unsure. */
	ASSERT_EQ(page_error(page_memfd(edit_stuck), &net), 0);
	ASSERT_FALSE(net.consistent);
	ASSERT_EQ(net.peers[0].messages_rx, 42u);

	/* Not a file: not a page, so not listed. */
	ASSERT_OK_ERRNO(pipe2(fds, O_CLOEXEC));
	ASSERT_EQ(page_error(fds[0], NULL), -ENOENT);
	close(fds[1]);
}

TEST(net_page_reader_bounds)
{
	struct psyne_inspect_net net = { .mode = 99 };
	uint8_t *mem = calloc(1, PSYNE_NETSTAT_PAGE_SIZE);
	struct psyne_netstat_hdr *h = (void *)mem;

	ASSERT_NOT_NULL(mem);
	ASSERT_ERROR(psyne__inspect_net_page(NULL, PSYNE_NETSTAT_PAGE_SIZE, &net), EPROTO);
	ASSERT_ERROR(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net), EPROTO);
	*h = (struct psyne_netstat_hdr){
		.magic = PSYNE_NETSTAT_MAGIC,
		.version_major = PSYNE_NETSTAT_VERSION_MAJOR,
		.header_size = PSYNE_NETSTAT_HDR_SIZE,
		.peer_size = PSYNE_NETSTAT_PEER_SIZE,
		.max_peers = PSYNE_NETSTAT_MAX_PEERS,
		.page_size = PSYNE_NETSTAT_PAGE_SIZE,
		.uri = "unix://@x",
	};
	ASSERT_OK(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net));
	ASSERT_STREQ(net.uri, "unix://@x");
	/* One byte short of what the header says. */
	net.mode = 99;
	ASSERT_ERROR(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE - 1, &net), EPROTO);
	ASSERT_EQ(net.mode, 99u); /* ret_ untouched on failure */
	h->mode = _PSYNE_MODE_MAX;
	ASSERT_ERROR(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net), EPROTO);
	h->mode = 0;
	h->peer_size = PSYNE_NETSTAT_PEER_SIZE - 8;
	ASSERT_ERROR(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net), EPROTO);
	h->peer_size = PSYNE_NETSTAT_PEER_SIZE;
	h->header_size = PSYNE_NETSTAT_HDR_SIZE + 4;
	ASSERT_ERROR(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net), EPROTO);
	h->header_size = PSYNE_NETSTAT_HDR_SIZE;
	atomic_store(&h->last_error, 5000);
	ASSERT_ERROR(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net), EPROTO);
	atomic_store(&h->last_error, ECONNRESET);
	ASSERT_OK(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net));
	ASSERT_EQ(net.last_error, -ECONNRESET);
	/* The sizes must add up; a later minor version's larger header reads. */
	h->version_minor = 9;
	h->header_size = 2 * PSYNE_NETSTAT_HDR_SIZE;
	ASSERT_ERROR(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net), EPROTO);
	h->max_peers = PSYNE_NETSTAT_MAX_PEERS - PSYNE_NETSTAT_HDR_SIZE / PSYNE_NETSTAT_PEER_SIZE;
	ASSERT_OK(psyne__inspect_net_page(mem, PSYNE_NETSTAT_PAGE_SIZE, &net));
	free(mem);
}

DEFINE_TEST_MAIN();
