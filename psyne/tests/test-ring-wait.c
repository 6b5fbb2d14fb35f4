/* SPDX-License-Identifier: MIT */
/*
 * How a ring handle waits (ring.c, "Waiting"): it spins only while the other side runs on
 * another CPU, yields the CPU to it instead when it shares ours, obeys wait=spin and
 * wait=block, and wakes a sleeper once per sleep, not once per
 * message. The checks read the handle's own counters of waits that spun, yielded and slept,
 * never a clock.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/tests.h"
#include "psyne.h"
#include "ring.h"
#include "ring_channel.h"

static struct psyne_ring *ring_of(struct psyne_channel *ch)
{
	return &((struct ring_channel *)ch)->ring;
}

static void pin_thread(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ASSERT_OK_ZERO(pthread_setaffinity_np(pthread_self(), sizeof(set), &set));
}

/* Two CPUs this process may use, or a skip. */
static void two_cpus(int ret[2])
{
	cpu_set_t set;
	int n = 0;

	ASSERT_OK_ERRNO(sched_getaffinity(0, sizeof(set), &set));
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			ret[n++] = cpu;
	if (n < 2)
		SKIP_TEST("needs two CPUs");
}

struct producer {
	const char *uri;
	int cpu; /* pinned there before it opens its handle */
	unsigned delay_ms;
};

/* Sends message 1 at once, and message 2 after delay_ms. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	struct psyne_channel *ch = NULL;
	uint32_t v = 1;

	pin_thread(p->cpu);
	ASSERT_OK(psyne_open(p->uri, &ch));
	ASSERT_OK(psyne_send(ch, &v, sizeof(v), 0, 5000));
	(void)nanosleep(&(struct timespec){ .tv_nsec = (long)p->delay_ms * 1000000 }, NULL);
	v = 2;
	ASSERT_OK(psyne_send(ch, &v, sizeof(v), 0, 5000));
	/* Stay until the consumer has it: a producer that left would end the wait early. */
	(void)nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000000 }, NULL);
	psyne_close(ch);
	return NULL;
}

struct counts {
	uint64_t spins, yields, sleeps;
};

static struct counts counts_of(const struct psyne_ring *r)
{
	return (struct counts){ .spins = r->spins, .yields = r->yields, .sleeps = r->sleeps };
}

/*
 * The consumer (this thread, on `cpu` once its handle is open) receives message 1, then
 * waits for message 2 from a producer on `producer_cpu`. Returns the consumer's counters of
 * that second wait.
 */
static struct counts second_wait(const char *uri, int cpu, int producer_cpu)
{
	struct producer p = { .uri = uri, .cpu = producer_cpu, .delay_ms = 30 };
	struct psyne_channel *c = NULL;
	struct psyne_ring *r;
	struct counts before, after;
	pthread_t th;
	uint32_t v;

	ASSERT_OK(psyne_open(uri, &c)); /* unpinned: the process has several CPUs */
	r = ring_of(c);
	pin_thread(cpu);
	ASSERT_OK_ZERO(pthread_create(&th, NULL, produce, &p));
	ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
	ASSERT_EQ(v, 1u);
	before = counts_of(r);
	ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
	ASSERT_EQ(v, 2u);
	after = counts_of(r);
	ASSERT_OK_ZERO(pthread_join(th, NULL));
	psyne_close(c);
	return (struct counts){ .spins = after.spins - before.spins,
				.yields = after.yields - before.yields,
				.sleeps = after.sleeps - before.sleeps };
}

TEST(wait_option)
{
	struct psyne_channel *ch = NULL;

	ASSERT_OK(psyne_open("memory://w1?wait=spin", &ch));
	ASSERT_EQ(ring_of(ch)->wait_mode, (uint32_t)PSYNE_WAIT_SPIN);
	psyne_close(ch);
	ASSERT_OK(psyne_open("memory://w1?wait=block", &ch));
	ASSERT_EQ(ring_of(ch)->wait_mode, (uint32_t)PSYNE_WAIT_BLOCK);
	psyne_close(ch);
	ASSERT_OK(psyne_open("memory://w1?wait=auto", &ch));
	ASSERT_EQ(ring_of(ch)->wait_mode, (uint32_t)PSYNE_WAIT_AUTO);
	psyne_close(ch);
	ASSERT_ERROR(psyne_open("memory://w1?wait=fast", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("ipc://w1?wait=", &ch), EINVAL);
	/* Streams wait in the kernel: the option is not theirs. */
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1:1?wait=spin", &ch), EINVAL);
}

TEST(a_waiter_spins_while_its_peer_runs_elsewhere)
{
	struct counts n;
	int cpus[2];

	two_cpus(cpus);
	n = second_wait("memory://elsewhere", cpus[0], cpus[1]);
	ASSERT_EQ(n.spins, 1u);
	ASSERT_EQ(n.yields, 0u);
	ASSERT_EQ(n.sleeps, 1u); /* 30 ms is far past any spin */
}

TEST(a_waiter_yields_to_a_peer_on_its_cpu)
{
	struct counts n;
	int cpus[2];

	two_cpus(cpus);
	n = second_wait("memory://samecpu", cpus[0], cpus[0]);
	ASSERT_EQ(n.spins, 0u);
	ASSERT_EQ(n.yields, 1u);
	ASSERT_EQ(n.sleeps, 1u);
}

TEST(wait_block_never_spins)
{
	struct counts n;
	int cpus[2];

	two_cpus(cpus);
	n = second_wait("memory://block?wait=block", cpus[0], cpus[0]);
	ASSERT_EQ(n.spins + n.yields, 0u);
	ASSERT_EQ(n.sleeps, 1u);
}

TEST(wait_spin_never_sleeps)
{
	struct counts n;
	int cpus[2];

	two_cpus(cpus);
	n = second_wait("memory://spin?wait=spin", cpus[0], cpus[1]);
	ASSERT_EQ(n.spins, 1u);
	ASSERT_EQ(n.sleeps, 0u);
}

/*
 * A thread pinned to one CPU, whose peer is pinned to another, spins: its own affinity says
 * nothing about where the peer runs. (Taking it for "one CPU, yield" made every pinned
 * ping-pong pay a system call per poll.)
 */
TEST(a_pinned_thread_spins_for_a_peer_pinned_elsewhere)
{
	struct producer p = { .uri = "memory://pinned", .delay_ms = 30 };
	struct psyne_channel *c = NULL;
	struct psyne_ring *r;
	pthread_t th;
	uint32_t v;
	int cpus[2];

	two_cpus(cpus);
	p.cpu = cpus[1];
	pin_thread(cpus[0]);
	ASSERT_OK(psyne_open(p.uri, &c));
	r = ring_of(c);
	ASSERT_OK_ZERO(pthread_create(&th, NULL, produce, &p));
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
	ASSERT_GE(r->spins, 1u);
	ASSERT_EQ(r->yields, 0u);
	ASSERT_OK_ZERO(pthread_join(th, NULL));
	psyne_close(c);
}

/* A spin that did not pay halves the next one's budget. */
TEST(a_spin_that_did_not_pay_halves_the_budget)
{
	struct producer p = { .uri = "memory://budget", .delay_ms = 30 };
	struct psyne_channel *c = NULL;
	uint64_t before;
	pthread_t th;
	uint32_t v;
	int cpus[2];

	two_cpus(cpus);
	p.cpu = cpus[1];
	ASSERT_OK(psyne_open(p.uri, &c));
	pin_thread(cpus[0]);
	ASSERT_OK_ZERO(pthread_create(&th, NULL, produce, &p));
	ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
	before = ring_of(c)->spin_ns;
	ASSERT_EQ(psyne_recv(c, &v, sizeof(v), NULL, 5000), (int)sizeof(v));
	ASSERT_EQ(ring_of(c)->spin_ns, MAX(before / 2, (uint64_t)2000));
	ASSERT_OK_ZERO(pthread_join(th, NULL));
	psyne_close(c);
}

/*
 * A consumer in another process goes to sleep and is then stopped, so it cannot run: a
 * thousand commits must make one futex wake-up, not a thousand.
 */
TEST(one_wake_per_sleep_not_per_message)
{
	char uri[128];
	struct psyne_channel *p = NULL;
	struct psyne_ring *r;
	int ready[2];
	pid_t child;
	char x;

	snprintf(uri, sizeof(uri), "ipc://wake%d?wait=block&capacity=256K", (int)getpid());
	ASSERT_OK(psyne_open(uri, &p));
	r = ring_of(p);
	ASSERT_OK_ERRNO(pipe(ready));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		struct psyne_channel *c = NULL;
		uint32_t v;

		if (psyne_open(uri, &c) < 0 || write(ready[1], "x", 1) != 1)
			_exit(10);
		for (uint32_t i = 0; i < 1000; i++)
			if (psyne_recv(c, &v, sizeof(v), NULL, 10000) != sizeof(v) || v != i)
				_exit(11);
		psyne_close(c);
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &x, 1), 1);
	/* Until the consumer sleeps on the data event; then it is stopped there. */
	while (atomic_load(&r->hdr->data.waiters) == 0)
		(void)sched_yield();
	ASSERT_OK_ERRNO(kill(child, SIGSTOP));
	for (uint32_t i = 0; i < 1000; i++)
		ASSERT_OK(psyne_send(p, &i, sizeof(i), 0, 5000));
	ASSERT_EQ(r->wakes, 1u);
	ASSERT_OK_ERRNO(kill(child, SIGCONT));
	int status;
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	psyne_close(p);
	close(ready[0]);
	close(ready[1]);
}

DEFINE_TEST_MAIN();
