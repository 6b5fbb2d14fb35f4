/* SPDX-License-Identifier: MIT */
/*
 * A producer killed at every instruction of its reserve and commit calls.
 *
 * A child process joins an ipc:// channel as its producer and commits message 0. Then, under
 * ptrace, it is single-stepped K instructions into a fixed sequence (reserve A, reserve B,
 * commit A, commit B) and killed. A new producer takes its place and commits messages 3 and
 * 4. For every K from the first instruction to the last, the consumer must get 0, then A
 * and B unless they were lost, in order, then 3 and 4, with no error. A message whose commit
 * returned is never lost; a lost message whose reserve returned is counted in the channel's
 * `reclaimed`, and nothing else is (a reserve killed before it returned made no message).
 * The child notes each call that returned in a shared word. The sweep runs with the
 * reservations in the middle of the ring and with the first one wrapping round its end.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/tests.h"
#include "psyne.h"

#define CAPACITY 4096u
#define MSG_SIZE 600u /* A and B; the prefill puts A where the test wants it */
/* Kills per sweep: every instruction here; a sanitizer's longer sequence is sampled evenly. */
#if defined(__SANITIZE_ADDRESS__)
#define MAX_RUNS 300u
#else
#define MAX_RUNS 2000u
#endif

/* The child's calls that returned: 1 reserve A, 2 reserve B, 3 commit A, 4 commit B. */
static volatile uint32_t *progress;

struct sweep {
	const char *mode;
	size_t prefill; /* bytes of payload committed (and consumed) before message 0 */
};

static void uri_for(char *buf, size_t size, const struct sweep *s, unsigned k)
{
	snprintf(buf, size, "ipc://kill%d-%s-%zu-%u?mode=%s&capacity=%u", (int)getpid(), s->mode,
		 s->prefill, k, s->mode, CAPACITY);
}

static int send_seq(struct psyne_channel *ch, uint32_t seq, size_t size)
{
	struct psyne_msg m;
	int r = psyne_reserve(ch, size, 2000, &m);

	if (r < 0)
		return r;
	memset(m.data, (int)seq, size);
	m.type = seq;
	return psyne_commit(ch, &m);
}

/* The child: message 0, a stop, the swept sequence, a stop. Never returns. */
static _noreturn_ void producer(const char *uri)
{
	struct psyne_channel *ch = NULL;
	struct psyne_msg a, b;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 || psyne_open(uri, &ch) < 0 ||
	    send_seq(ch, 0, 16) < 0)
		_exit(10);
	raise(SIGSTOP);
	if (psyne_reserve(ch, MSG_SIZE, 0, &a) < 0)
		_exit(11);
	*progress = 1;
	if (psyne_reserve(ch, MSG_SIZE, 0, &b) < 0)
		_exit(11);
	*progress = 2;
	a.type = 1;
	b.type = 2;
	if (psyne_commit(ch, &a) < 0)
		_exit(12);
	*progress = 3;
	if (psyne_commit(ch, &b) < 0)
		_exit(12);
	*progress = 4;
	raise(SIGSTOP);
	_exit(0);
}

/* Waits for a traced child's next stop; returns its signal, or -1 if it ended. */
static int next_stop(pid_t pid)
{
	int status;

	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFSTOPPED(status))
		return -1;
	return WSTOPSIG(status);
}

/*
 * Runs the child up to its first stop, steps it `steps` instructions (all the way to its
 * second stop when UINT_MAX) and kills it. Returns the number of instructions stepped.
 */
static unsigned run_child(struct psyne_channel *cons, const char *uri, unsigned steps)
{
	struct psyne_msg m;
	unsigned n = 0;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		producer(uri);
	if (next_stop(pid) != SIGSTOP)
		ERROR_TEST("the child did not reach its first stop (ptrace refused?)");
	/* Message 0 is in; taking it makes the parent the consumer before the sweep. */
	ASSERT_OK(psyne_receive(cons, 2000, &m));
	ASSERT_EQ(m.type, 0u);
	psyne_release(cons, &m);

	for (; n < steps; n++) {
		ASSERT_OK(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL));
		int sig = next_stop(pid);
		if (sig == SIGSTOP)
			break; /* the second stop: the whole sequence ran */
		ASSERT_EQ(sig, SIGTRAP);
	}
	ASSERT_OK(kill(pid, SIGKILL));
	ASSERT_OK(ptrace(PTRACE_CONT, pid, NULL, NULL) < 0 && errno != ESRCH ? -errno : 0);
	while (next_stop(pid) >= 0)
		(void)ptrace(PTRACE_CONT, pid, NULL, NULL);
	return n;
}

/*
 * Receives in order until message 4 (with timeout 0: until nothing is left), noting A and B.
 * Anything but messages in order, -EAGAIN at the end of what is there, or -EPIPE while the
 * dead producer has no successor yet, fails.
 */
static void receive_all(struct psyne_channel *cons, uint32_t *expect, bool *got, int timeout)
{
	struct psyne_msg m;

	while (*expect <= 4) {
		int r = psyne_receive(cons, timeout, &m);

		if (timeout == 0 && (r == -EAGAIN || r == -EPIPE))
			return;
		ASSERT_OK(r);
		ASSERT_GE(m.type, *expect);
		ASSERT_LE(m.type, 4u);
		if (m.type <= 2)
			got[m.type] = true;
		*expect = m.type + 1;
		psyne_release(cons, &m);
	}
}

/* One run: kill after `steps` instructions, then check what the consumer gets. */
static unsigned kill_at(const struct sweep *s, unsigned k, unsigned steps)
{
	struct psyne_channel *cons = NULL, *prod = NULL;
	struct psyne_stats st;
	struct psyne_msg m;
	uint32_t expect = 1, done;
	unsigned lost = 0, lost_reserved = 0, stepped;
	bool got[3] = { false };
	char uri[160];

	uri_for(uri, sizeof(uri), s, k);
	ASSERT_OK(psyne_open(uri, &cons));
	if (s->prefill > 0) {
		/* Moves the ring's position: a producer that leaves and a consumer that takes all.
		 */
		ASSERT_OK(psyne_open(uri, &prod));
		for (size_t left = s->prefill; left > 0; left -= MIN(left, (size_t)2000)) {
			ASSERT_OK(send_seq(prod, 99, MIN(left, (size_t)2000)));
			ASSERT_OK(psyne_receive(cons, 0, &m));
			psyne_release(cons, &m);
		}
		psyne_close(prod);
	}

	*progress = 0;
	stepped = run_child(cons, uri, steps);
	done = *progress;

	/* Odd runs: the consumer takes what was published before the successor comes (and
	 * may then be past the dead producer's tail). Even runs: the successor comes first. */
	if (k % 2 == 1)
		receive_all(cons, &expect, got, 0);
	ASSERT_OK(psyne_open(uri, &prod));
	ASSERT_OK(send_seq(prod, 3, 64));
	ASSERT_OK(send_seq(prod, 4, MSG_SIZE));
	receive_all(cons, &expect, got, 2000);

	/* Committed ones arrived; of the others, what was reserved is counted, and no more. */
	for (uint32_t i = 1; i <= 2; i++) {
		if (done >= i + 2)
			ASSERT_TRUE(got[i]);
		lost += !got[i];
		lost_reserved += !got[i] && done >= i;
	}
	ASSERT_OK(psyne_channel_stats(cons, &st));
	if (st.reclaimed < lost_reserved || st.reclaimed > lost)
		fprintf(stderr,
			"kill after %u instructions (%s, prefill %zu, progress %u): %u lost, %u of "
			"them reserved, %lu counted\n",
			stepped, s->mode, s->prefill, done, lost, lost_reserved,
			(unsigned long)st.reclaimed);
	ASSERT_GE(st.reclaimed, (uint64_t)lost_reserved);
	ASSERT_LE(st.reclaimed, (uint64_t)lost);
	psyne_close(prod);
	psyne_close(cons);
	return stepped;
}

static void sweep(const struct sweep *s)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(page != MAP_FAILED);
	progress = page;
	/* The first run steps through the whole sequence and says how long it is. */
	unsigned total = kill_at(s, 0, UINT_MAX), stride = MAX(1u, total / MAX_RUNS), runs = 0;

	for (unsigned k = 0; k < total; k += stride, runs++)
		kill_at(s, k + 1, k);
	fprintf(stderr, "%s, prefill %zu: %u kills over %u instructions\n", s->mode, s->prefill,
		runs, total);
}

/*
 * A ring of 4096 bytes. Message 0 takes 32 bytes and A and B 624 each: with no prefill they
 * sit in the middle; a prefill of 3460 bytes (records of 2016 and 1488) puts message 0 at
 * 3504 and makes A wrap round the end.
 */
TEST(spsc_producer_killed_at_every_instruction)
{
	sweep(&(struct sweep){ .mode = "spsc", .prefill = 0 });
}

TEST(spsc_producer_killed_at_every_instruction_across_the_wrap)
{
	sweep(&(struct sweep){ .mode = "spsc", .prefill = 3460 });
}

TEST(spmc_producer_killed_at_every_instruction)
{
	sweep(&(struct sweep){ .mode = "spmc", .prefill = 3460 });
}

TEST(mpsc_producer_killed_at_every_instruction)
{
	sweep(&(struct sweep){ .mode = "mpsc", .prefill = 3460 });
}

DEFINE_TEST_MAIN();
