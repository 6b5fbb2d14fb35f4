/* SPDX-License-Identifier: MIT */
/*
 * ipc:// across real processes: hand-off between processes, crash recovery (SIGKILL of a
 * producer or consumer), opening one channel from many processes at once, names bound by
 * another user, and that nothing remains on the filesystem or in the socket namespace once
 * the last user is gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/tests.h"
#include "common/time-util.h"
#include "psyne.h"

/*
 * Survivors look at their peers every 20 ms while they wait, and notice a death within
 * about that (docs/psyne.md, "Crashes"); the measured time is printed. The bound asserted
 * is far above it, so that a loaded machine cannot fail the test, and far below the 5 s a
 * receive waits, so that a wait that only ends on its timeout does.
 */
#define EPIPE_BOUND_NS (1000 * NSEC_PER_MSEC)

/* A channel name unique to this run, so parallel test runs never meet. */
static const char *uri_for(char *buf, size_t size, const char *tag, const char *query)
{
	snprintf(buf, size, "ipc://t%d-%s%s%s", (int)getpid(), tag, query ? "?" : "",
		 query ? query : "");
	return buf;
}

static struct psyne_channel *open_ok(const char *uri)
{
	struct psyne_channel *ch = NULL;

	ASSERT_OK(psyne_open(uri, &ch));
	return ch;
}

/* Lines of /proc/net/unix naming a psyne socket of channel `tag` of this test process. */
static unsigned count_sockets(const char *tag)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/net/unix", "re");
	char line[512], needle[128];
	unsigned n = 0;

	snprintf(needle, sizeof(needle), "/t%d-%s/", (int)getpid(), tag);
	ASSERT_NOT_NULL(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "@psyne/") && strstr(line, needle))
			n++;
	return n;
}

/* Entries in /dev/shm (and /tmp) that mention psyne: there must never be any. */
static unsigned count_files(void)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp", "/run" };
	unsigned n = 0;

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_closedir_ DIR *d = opendir(dirs[i]);
		struct dirent *de;

		if (!d)
			continue;
		while ((de = readdir(d)))
			if (strstr(de->d_name, "psyne"))
				n++;
	}
	return n;
}

static pid_t fork_ok(void)
{
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status;

	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(two_processes_hand_off)
{
	char uri[128];
	const uint32_t n = 200000;
	pid_t child;

	uri_for(uri, sizeof(uri), "handoff", "capacity=256K");
	child = fork_ok();
	if (child == 0) {
		struct psyne_channel *p = NULL;
		struct psyne_msg m;

		if (psyne_open(uri, &p) < 0)
			_exit(10);
		for (uint32_t i = 0; i < n; i++) {
			size_t size = 8 + i % 500;

			if (psyne_reserve(p, size, 5000, &m) < 0)
				_exit(11);
			memset(m.data, (int)(i & 0xff), size);
			memcpy(m.data, &i, sizeof(i));
			m.type = i;
			if (psyne_commit(p, &m) < 0)
				_exit(12);
		}
		psyne_close(p);
		_exit(0);
	}

	struct psyne_channel *c = open_ok(uri);
	struct psyne_msg m;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t seq;

		ASSERT_OK(psyne_receive(c, 5000, &m));
		memcpy(&seq, m.data, sizeof(seq));
		ASSERT_EQ(seq, i);
		ASSERT_EQ(m.type, i);
		ASSERT_EQ(m.size, 8u + i % 500);
		ASSERT_EQ(((unsigned char *)m.data)[m.size - 1], (unsigned char)(i & 0xff));
		psyne_release(c, &m);
	}
	/* The producer exited cleanly: drained, then -EPIPE. */
	ASSERT_ERROR(psyne_receive(c, 5000, &m), EPIPE);
	ASSERT_EQ(wait_exit(child), 0);
	psyne_close(c);
	ASSERT_EQ(count_sockets("handoff"), 0u);
}

TEST(mpsc_across_processes)
{
	char uri[128];
	const unsigned producers = 3;
	const uint32_t per = 50000;
	pid_t kids[3];
	struct psyne_channel *c;
	uint32_t next[3] = { 0 };

	uri_for(uri, sizeof(uri), "mpsc", "mode=mpsc&capacity=64K");
	c = open_ok(uri);
	/* The consumer takes its role first: producers then never run ahead of it. */
	{
		struct psyne_msg m;
		ASSERT_ERROR(psyne_receive(c, 0, &m), EAGAIN);
	}
	/* Every producer joins before any may leave: with all of them gone and the ring drained
	 * the consumer would rightly see -EPIPE before the late ones had started. */
	int ready[2], go[2];
	ASSERT_OK_ERRNO(pipe(ready));
	ASSERT_OK_ERRNO(pipe(go));
	for (unsigned k = 0; k < producers; k++) {
		kids[k] = fork_ok();
		if (kids[k] == 0) {
			struct psyne_channel *p = NULL;
			char x;

			close(go[1]);
			if (psyne_open(uri, &p) < 0)
				_exit(10);
			for (uint32_t i = 0; i < per; i++) {
				uint32_t rec[2] = { k, i };

				if (psyne_send(p, rec, sizeof(rec), k, 5000) < 0)
					_exit(11);
				if (i == 0 &&
				    (write(ready[1], "x", 1) != 1 || read(go[0], &x, 1) != 0))
					_exit(12);
			}
			psyne_close(p);
			_exit(0);
		}
	}
	close(go[0]);
	for (unsigned k = 0; k < producers; k++) {
		char x;
		ASSERT_EQ(read(ready[0], &x, 1), 1);
	}
	close(go[1]); /* all in: let them run */
	for (uint32_t got = 0; got < producers * per; got++) {
		uint32_t rec[2];

		ASSERT_EQ(psyne_recv(c, rec, sizeof(rec), NULL, 5000), (int)sizeof(rec));
		ASSERT_LT(rec[0], producers);
		ASSERT_EQ(rec[1], next[rec[0]]); /* per-producer order, nothing lost or doubled */
		next[rec[0]]++;
	}
	for (unsigned k = 0; k < producers; k++)
		ASSERT_EQ(wait_exit(kids[k]), 0);
	close(ready[0]);
	close(ready[1]);
	psyne_close(c);
}

/*
 * A producer commits some messages, reserves more without committing and is killed. The
 * consumer must drain the committed ones and then see -EPIPE soon after the kill; the
 * reservations' space comes back. With `behind`, the producer reserves twice and commits
 * the second: that message sits behind the dead reservation and must still be delivered.
 */
static void sigkill_producer(const char *name, bool behind)
{
	char uri[128];
	int ready[2];
	pid_t child;
	const uint32_t committed = 100;

	uri_for(uri, sizeof(uri), name, "capacity=64K");
	struct psyne_channel *c = open_ok(uri);
	ASSERT_OK_ERRNO(pipe(ready));
	child = fork_ok();
	if (child == 0) {
		struct psyne_channel *p = NULL;
		struct psyne_msg m, m2;

		if (psyne_open(uri, &p) < 0)
			_exit(10);
		for (uint32_t i = 0; i < committed; i++)
			if (psyne_send(p, &i, sizeof(i), 0, 5000) < 0)
				_exit(11);
		if (psyne_reserve(p, 1000, 5000, &m) < 0)
			_exit(12);
		if (behind) {
			if (psyne_reserve(p, sizeof(uint32_t), 5000, &m2) < 0)
				_exit(13);
			memcpy(m2.data, &committed, sizeof(committed));
			if (psyne_commit(p, &m2) < 0)
				_exit(14);
		}
		(void)write(ready[1], "x", 1);
		pause();
		_exit(15);
	}
	char x;
	ASSERT_EQ(read(ready[0], &x, 1), 1);

	/* The consumer is blocked on the uncommitted record when the kill lands. */
	uint32_t got = 0, v;
	for (; got < committed; got++) {
		ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
		ASSERT_EQ(v, got);
	}
	ASSERT_ERROR(psyne_recv(c, &v, sizeof(v), NULL, 0), EAGAIN);
	ASSERT_OK_ERRNO(kill(child, SIGKILL));
	uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
	if (behind) {
		ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
		ASSERT_EQ(v, committed);
	}
	ASSERT_ERROR(psyne_recv(c, &v, sizeof(v), NULL, 5000), EPIPE);
	uint64_t took = now_nsec(CLOCK_MONOTONIC) - t0;
	ASSERT_EQ(wait_exit(child), 128 + SIGKILL);
	printf("# producer killed: -EPIPE after %.1f ms\n", (double)took / 1e6);
	ASSERT_LT(took, EPIPE_BOUND_NS);

	/* A lone reservation of a single producer never reached shared memory (see
	 * try_reserve_locked()): there is nothing to reclaim, and the producer that takes over
	 * counts it (below). One with a message committed behind it was visible, and is
	 * reclaimed. */
	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(c, &st));
	ASSERT_EQ(st.reclaimed, behind ? 1u : 0u);
	ASSERT_EQ(st.used, 0u); /* the dead reservation's space is back */
	ASSERT_EQ(st.producers, 0u);

	/* A new producer can take over the channel. */
	child = fork_ok();
	if (child == 0) {
		struct psyne_channel *p = NULL;
		uint32_t w = 777;

		if (psyne_open(uri, &p) < 0 || psyne_send(p, &w, sizeof(w), 0, 5000) < 0)
			_exit(10);
		psyne_close(p);
		_exit(0);
	}
	/* Until it has sent, "every producer gone, nothing to read" is still the truth. */
	ASSERT_EQ(wait_exit(child), 0);
	ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
	ASSERT_EQ(v, 777u);
	ASSERT_OK(psyne_channel_stats(c, &st));
	ASSERT_EQ(st.reclaimed, 1u); /* the killed message, either way */
	close(ready[0]);
	close(ready[1]);
	psyne_close(c);
}

TEST(sigkill_producer)
{
	sigkill_producer("killp", false);
}

TEST(sigkill_producer_behind)
{
	sigkill_producer("killpb", true);
}

/* A killed consumer: the producer is told -EPIPE, and what the dead one held is reclaimed. */
TEST(sigkill_consumer)
{
	char uri[128];
	int ready[2];
	pid_t child;

	uri_for(uri, sizeof(uri), "killc", "capacity=8K");
	struct psyne_channel *p = open_ok(uri);
	ASSERT_OK_ERRNO(pipe(ready));
	child = fork_ok();
	if (child == 0) {
		struct psyne_channel *c = NULL;
		struct psyne_msg m;

		/* Take one message and never release it, then wait to be killed. */
		if (psyne_open(uri, &c) < 0 || psyne_receive(c, 5000, &m) < 0)
			_exit(10);
		(void)write(ready[1], "x", 1);
		pause();
		_exit(13);
	}
	char blob[1000] = { 0 };
	ASSERT_OK(psyne_send(p, blob, sizeof(blob), 0, 5000));
	char x;
	ASSERT_EQ(read(ready[0], &x, 1), 1);

	/* Fill the ring: with the consumer alive and stuck, space runs out. */
	int r;
	while ((r = psyne_send(p, blob, sizeof(blob), 0, 0)) == 0)
		;
	ASSERT_ERROR(r, EAGAIN);
	ASSERT_OK_ERRNO(kill(child, SIGKILL));
	uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
	ASSERT_ERROR(psyne_send(p, blob, sizeof(blob), 0, 5000), EPIPE);
	uint64_t took = now_nsec(CLOCK_MONOTONIC) - t0;
	ASSERT_EQ(wait_exit(child), 128 + SIGKILL);
	printf("# consumer killed: producer saw -EPIPE after %.1f ms\n", (double)took / 1e6);
	ASSERT_LT(took, EPIPE_BOUND_NS);

	/* A new consumer gets every message but the one the dead consumer held. */
	child = fork_ok();
	if (child == 0) {
		struct psyne_channel *c = NULL;
		char buf[1000];
		int n = 0;

		if (psyne_open(uri, &c) < 0)
			_exit(10);
		while (psyne_recv(c, buf, sizeof(buf), NULL, 1000) == (int)sizeof(buf))
			n++;
		psyne_close(c);
		_exit(n);
	}
	int drained = wait_exit(child);
	ASSERT_GE(drained, 5);

	struct psyne_stats st;
	ASSERT_OK(psyne_channel_stats(p, &st));
	ASSERT_EQ(st.dropped, 1u);
	close(ready[0]);
	close(ready[1]);
	psyne_close(p);
}

/* The last user killed: the memfd, the mapping and the names go with it. */
TEST(no_residue_after_kill)
{
	char uri[128];
	int ready[2];
	unsigned files_before = count_files();
	pid_t kids[2];

	uri_for(uri, sizeof(uri), "residue", "mode=mpmc");
	ASSERT_OK_ERRNO(pipe(ready));
	for (int k = 0; k < 2; k++) {
		kids[k] = fork_ok();
		if (kids[k] == 0) {
			struct psyne_channel *ch = NULL;

			if (psyne_open(uri, &ch) < 0 || psyne_send(ch, "z", 1, 0, 1000) < 0)
				_exit(10);
			(void)write(ready[1], "x", 1);
			pause();
			_exit(13);
		}
	}
	char x;
	ASSERT_EQ(read(ready[0], &x, 1), 1);
	ASSERT_EQ(read(ready[0], &x, 1), 1);
	ASSERT_EQ(count_sockets("residue"), 2u);

	for (int k = 0; k < 2; k++) {
		ASSERT_OK_ERRNO(kill(kids[k], SIGKILL));
		ASSERT_EQ(wait_exit(kids[k]), 128 + SIGKILL);
	}
	ASSERT_EQ(count_sockets("residue"), 0u);
	ASSERT_EQ(count_files(), files_before);

	/* The name is free again: a new channel starts empty, with other options even. */
	struct psyne_channel *ch = NULL;
	struct psyne_msg m;
	ASSERT_OK(psyne_open(uri_for(uri, sizeof(uri), "residue", "mode=spsc&capacity=8K"), &ch));
	ASSERT_ERROR(psyne_receive(ch, 0, &m), EAGAIN);
	psyne_close(ch);
	close(ready[0]);
	close(ready[1]);
}

TEST(mismatch_across_processes)
{
	char uri[128], mode[128], cap[128], plain[128];
	struct psyne_channel *a;
	pid_t child;

	/* Named here: in the child getpid() differs. */
	uri_for(mode, sizeof(mode), "mismatch", "mode=mpmc");
	uri_for(cap, sizeof(cap), "mismatch", "capacity=32K");
	uri_for(plain, sizeof(plain), "mismatch", NULL);
	a = open_ok(uri_for(uri, sizeof(uri), "mismatch", "mode=spmc&capacity=16K"));
	child = fork_ok();
	if (child == 0) {
		struct psyne_channel *ch = NULL;

		if (psyne_open(mode, &ch) != -EEXIST)
			_exit(1);
		if (psyne_open(cap, &ch) != -EEXIST)
			_exit(2);
		if (psyne_open(plain, &ch) < 0)
			_exit(3);
		struct psyne_stats st;
		if (psyne_channel_stats(ch, &st) < 0 || st.capacity != 16384 || st.mode != 2)
			_exit(4);
		psyne_close(ch);
		_exit(0);
	}
	ASSERT_EQ(wait_exit(child), 0);
	psyne_close(a);
}

/*
 * Many processes open a channel that does not exist yet, all at once: they must all end up
 * on one segment (docs/psyne.md, "Names without files"). Each sends its number and keeps its
 * handle; then the consumer joins and must get every number.
 */
TEST(many_processes_open_one_channel_at_once)
{
	enum {
		KIDS = 12,
		ROUNDS = 10
	};

	for (unsigned round = 0; round < ROUNDS; round++) {
		char uri[128], tag[32];
		int ready[2], go[2], done[2];
		pid_t kids[KIDS];
		bool seen[KIDS] = { false };
		struct psyne_channel *c;
		struct psyne_stats st;

		snprintf(tag, sizeof(tag), "crowd%u", round);
		uri_for(uri, sizeof(uri), tag, "mode=mpsc&capacity=64K");
		ASSERT_OK_ERRNO(pipe(ready));
		ASSERT_OK_ERRNO(pipe(go));
		ASSERT_OK_ERRNO(pipe(done));
		for (unsigned k = 0; k < KIDS; k++) {
			kids[k] = fork_ok();
			if (kids[k] == 0) {
				struct psyne_channel *p = NULL;
				char x;

				close(go[1]);
				close(done[1]);
				/* Everyone waits at the start line, then opens at once. */
				if (write(ready[1], "x", 1) != 1 || read(go[0], &x, 1) != 0)
					_exit(9);
				if (psyne_open(uri, &p) < 0)
					_exit(10);
				if (psyne_send(p, &k, sizeof(k), 0, 5000) < 0)
					_exit(11);
				if (write(ready[1], "y", 1) != 1 || read(done[0], &x, 1) != 0)
					_exit(12);
				psyne_close(p);
				_exit(0);
			}
		}
		close(go[0]);
		close(done[0]);
		for (unsigned k = 0; k < KIDS; k++) {
			char x;
			ASSERT_EQ(read(ready[0], &x, 1), 1);
		}
		close(go[1]);
		for (unsigned k = 0; k < KIDS; k++) {
			char x;
			ASSERT_EQ(read(ready[0], &x, 1), 1);
		}

		c = open_ok(uri);
		ASSERT_OK(psyne_channel_stats(c, &st));
		ASSERT_EQ(st.producers, (uint32_t)KIDS);
		for (unsigned k = 0; k < KIDS; k++) {
			unsigned v;

			ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
			ASSERT_LT(v, (unsigned)KIDS);
			ASSERT_FALSE(seen[v]);
			seen[v] = true;
		}
		close(done[1]);
		for (unsigned k = 0; k < KIDS; k++)
			ASSERT_EQ(wait_exit(kids[k]), 0);
		psyne_close(c);
		close(ready[0]);
		close(ready[1]);
	}
}

/* Binds `path` (without the leading NUL) in the abstract namespace; the socket is leaked on
 * purpose: the name stays until the process exits. */
static void squat(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || n >= sizeof(sa.sun_path) - 1)
		_exit(20);
	memcpy(sa.sun_path + 1, path, n);
	if (bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0)
		_exit(21);
}

/*
 * Another user binds every name of a channel it can think of before the channel exists: the
 * old creation lock, and member names leading to its own segment-shaped memfd, to the
 * victim's own files (a regular file, a segment of another channel, stdin), to init's fds
 * and to nothing. The victim's processes must still open the channel, at once and on one
 * segment, and never see an error.
 */
TEST(names_bound_by_another_user)
{
	char uri[128], other[128], prefix[128], path[200], tmp[] = "/tmp/psyne-squat-XXXXXX";
	struct psyne_channel *a, *o;
	int ready[2], hold[2], file;
	pid_t attacker, child;
	struct stat st;

	if (geteuid() != 0)
		SKIP_TEST("needs root to become another user");
	uri_for(uri, sizeof(uri), "squat", "mode=mpsc");
	uri_for(other, sizeof(other), "squat-other", NULL);
	snprintf(prefix, sizeof(prefix), "psyne/1/%u/t%d-squat/", (unsigned)geteuid(),
		 (int)getpid());
	o = open_ok(other); /* a real segment, of another channel */
	ASSERT_OK_ERRNO(stat("/proc/self/fd/0", &st));
	file = mkstemp(tmp);
	ASSERT_OK_ERRNO(file);
	ASSERT_OK_ERRNO(unlink(tmp));
	ASSERT_OK_ERRNO(ftruncate(file, 1 << 20));

	ASSERT_OK_ERRNO(pipe(ready));
	ASSERT_OK_ERRNO(pipe(hold));
	attacker = fork_ok();
	if (attacker == 0) {
		int memfd = memfd_create("psyne:fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		char x;

		close(hold[1]);
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0 || memfd < 0)
			_exit(19);
		if (ftruncate(memfd, 8192 + 4096) < 0 ||
		    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			_exit(18);
		snprintf(path, sizeof(path), "%slock", prefix);
		squat(path);
		const struct {
			pid_t pid;
			int fd;
		} targets[] = {
			{ getpid(), memfd },
			{ getppid(), file },
			{ getppid(), 0 },
			{ getppid(), 1 },
			{ getppid(), 99999 },
			{ 1, 0 },
			{ 1, 3 },
		};
		for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
			snprintf(path, sizeof(path), "%sm/%d/%d/%zx", prefix, (int)targets[i].pid,
				 targets[i].fd, i + 1);
			squat(path);
			snprintf(path, sizeof(path), "%sm/%d/%d", prefix, (int)targets[i].pid,
				 targets[i].fd);
			squat(path); /* the old shape too */
		}
		/* The other channel's member names, copied under this one. */
		_cleanup_fclose_ FILE *f = fopen("/proc/net/unix", "re");
		char line[512], needle[64];
		snprintf(needle, sizeof(needle), "t%d-squat-other/m/", (int)getppid());
		while (f && fgets(line, sizeof(line), f)) {
			char *at = strstr(line, needle);
			if (at) {
				line[strcspn(line, "\n")] = 0;
				snprintf(path, sizeof(path), "%s%s", prefix,
					 at + strlen(needle) - 2);
				squat(path);
			}
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(17);
		(void)read(hold[0], &x, 1); /* until the test is over, however it ends */
		_exit(0);
	}
	char x;
	close(hold[0]);
	ASSERT_EQ(read(ready[0], &x, 1), 1);

	/* Two of our processes find each other on one segment despite it all. */
	a = open_ok(uri);
	child = fork_ok();
	if (child == 0) {
		struct psyne_channel *p = NULL;
		uint32_t v = 4242;

		if (psyne_open(uri, &p) < 0 || psyne_send(p, &v, sizeof(v), 0, 5000) < 0)
			_exit(10);
		psyne_close(p);
		_exit(0);
	}
	ASSERT_EQ(wait_exit(child), 0);
	uint32_t v = 0;
	ASSERT_EQ(psyne_recv(a, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
	ASSERT_EQ(v, 4242u);

	ASSERT_OK_ERRNO(kill(attacker, SIGKILL));
	ASSERT_EQ(wait_exit(attacker), 128 + SIGKILL);
	psyne_close(a);
	psyne_close(o);
	close(file);
	close(ready[0]);
	close(ready[1]);
	close(hold[1]);
}

DEFINE_TEST_MAIN();
