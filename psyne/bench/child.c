/* SPDX-License-Identifier: MIT */
/*
 * The measuring children. Every cell runs in processes exec'd fresh from the bench binary, so
 * that no library state (ZeroMQ and NNG threads, the iceoryx runtime) outlives a cell and a
 * hung or crashed transport costs only its cell. In the unpinned and oversubscribed
 * placements the exec'd process forks side B off itself first ("pair"), as a program that
 * forks its peer does.
 *
 * Results go to result_fd as text lines:
 *   pp ROUND P50_NS P99_NS MIN_NS N C2C_NS
 *                                      side A, one per round; C2C_NS 0 when not probed
 *   tp ROUND NS MESSAGES BYTES START_NS
 *                                      side B, one per measured round; START_NS is side A's
 *                                      first send (CLOCK_MONOTONIC), to align pairs' windows
 *   error REASON                       the first failure; the process then exits 1
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "common/string-util.h"

/*
 * The core-to-core probe: a bare ping-pong of one cache line each way between the two
 * sides, on the CPUs they are pinned to, in a page both map from the run directory. Side A
 * runs it before the round-trip rounds and after them, side B echoes; the slower of the
 * two means, reported with each round, says how far apart the two CPUs were while the
 * round ran. Some machines (VMs whose vCPUs the host moves, several core complexes) change
 * this between cells, by several times, and a round-trip column read without it compares
 * machines, not transports.
 */
#define C2C_ROUND_TRIPS 10000
#define C2C_DONE UINT64_MAX

struct c2c_page {
	alignas(64) uint64_t ping; /* side A: the next number, or C2C_DONE */
	alignas(64) uint64_t pong; /* side B: the last number seen */
};

/*
 * The pairs of an oversubscribed cell start each phase together (the round trips, the
 * streaming warm-up, each streamed round): side A of every pair counts itself in and waits
 * until all have, so that the pairs compete for the CPUs during the whole of each phase and
 * their streaming windows coincide. The page lives in the run directory, named after the
 * cell's tag, which all pairs share. At the k-th barrier a side counts itself in; the one
 * that brings the count to k x pairs stamps the release time and then publishes k, for
 * which the others wait. A waiting side sleeps: the others need the CPUs. No side can reach
 * barrier k + 1, and overwrite the stamp, before every side has left barrier k.
 */
#define BARRIER_POLL_US 100

struct pairs_page {
	alignas(64) uint32_t arrived;
	uint32_t released;    /* the last barrier passed */
	uint64_t released_ns; /* CLOCK_MONOTONIC when it was */
};

struct side_args {
	const struct bench_cell *cell;
	struct bench_link *link;
	enum bench_side side;
	int result_fd;
	struct c2c_page *c2c;	  /* NULL: no probe (one CPU, or no round trips) */
	uint64_t c2c_last;	  /* A: the last number sent; B: the last value seen */
	struct pairs_page *pairs; /* side A of an oversubscribed cell; else NULL */
	uint32_t barriers;	  /* how many barriers this side has passed */
};

static void write_line(int fd, const char *format, ...) _printf_(2, 3);
static void write_line(int fd, const char *format, ...)
{
	char line[640];
	va_list ap;
	int n;

	va_start(ap, format);
	n = vsnprintf(line, sizeof(line), format, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = MIN(n, (int)sizeof(line) - 1);
	/* A pipe write up to PIPE_BUF bytes is atomic: the two threads' lines never mix. */
	(void)!write(fd, line, (size_t)n);
}

static _noreturn_ void fail_and_exit(int fd, int r)
{
	const char *why = bench_failure();

	write_line(fd, "error %s\n", why ? why : strerror(-r));
	_exit(EXIT_FAILURE);
}

static enum bench_touch touch_of(const struct bench_cell *cell, uint64_t seq)
{
	/* Control messages carry no payload worth touching. */
	return seq >= BENCH_SEQ_CONTROL ? BENCH_TOUCH_EDGES : cell->touch;
}

static int send_one(const struct bench_cell *cell, struct bench_link *link, uint64_t seq,
		    uint64_t stamp)
{
	const struct bench_transport *t = cell->transport;
	void *buf;
	int r;

	r = t->reserve(link, cell->size, &buf);
	if (r < 0)
		return r;
	bench_payload_write(buf, cell->size, seq, stamp, touch_of(cell, seq));
	return t->commit(link);
}

/*
 * Receives message `seq`, or BENCH_SEQ_END when end_ok, and checks it. Returns the
 * sequence number received.
 */
static int recv_one(const struct bench_cell *cell, struct bench_link *link, uint64_t seq,
		    bool end_ok, uint64_t *ret_seq, uint64_t *ret_stamp)
{
	const struct bench_transport *t = cell->transport;
	const void *buf;
	size_t size;
	uint64_t got;
	int r;

	r = t->receive(link, &buf, &size);
	if (r < 0)
		return r;
	if (end_ok && size >= sizeof(got)) {
		memcpy(&got, buf, sizeof(got));
		if (got == BENCH_SEQ_END)
			seq = got;
	}
	r = bench_payload_check(buf, size, cell->size, seq, touch_of(cell, seq), ret_stamp);
	t->release(link);
	if (r < 0)
		return r;
	if (ret_seq)
		*ret_seq = seq;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned pct)
{
	size_t rank = DIV_ROUND_UP(n * pct, (size_t)100);

	return sorted[CLAMP(rank, (size_t)1, n) - 1];
}

/* How many operations of `ns_each` fill a round, within the cell's bounds. */
static uint64_t round_count(const struct bench_cell *cell, double ns_each, uint64_t min,
			    uint64_t max)
{
	double n;

	if (cell->round_ms == 0 || !(ns_each > 0))
		return min;
	n = (double)cell->round_ms * 1e6 / ns_each;
	return n < (double)min ? min : n > (double)max ? max : (uint64_t)n;
}

static bool c2c_wanted(const struct bench_cell *cell)
{
	/*
	 * Only with the sides pinned to two CPUs: on one the two take turns and there is no
	 * line to move; unpinned, they could share a CPU for a time slice per round trip.
	 */
	return cell->pp_max > 0 && cell->cpu[BENCH_SIDE_A] >= 0 && cell->cpu[BENCH_SIDE_B] >= 0 &&
	       cell->cpu[BENCH_SIDE_A] != cell->cpu[BENCH_SIDE_B];
}

/* Maps the cell's probe page; both sides create it, whichever comes first. */
static int c2c_map(const struct bench_cell *cell, struct c2c_page **ret)
{
	char path[sizeof(cell->dir) + sizeof(cell->tag) + 8];
	_cleanup_close_ int fd = -EBADF;
	void *p;

	(void)snprintf(path, sizeof(path), "%s/c2c-%s", cell->dir, cell->tag);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return bench_fail(-errno, "opening the probe page %s: %s", path, strerror(errno));
	if (ftruncate(fd, sizeof(struct c2c_page)) < 0)
		return bench_fail(-errno, "sizing the probe page: %s", strerror(errno));
	p = mmap(NULL, sizeof(struct c2c_page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return bench_fail(-errno, "mapping the probe page: %s", strerror(errno));
	*ret = p;
	return 0;
}

static void c2c_unmap(const struct bench_cell *cell, struct c2c_page *c2c)
{
	char path[sizeof(cell->dir) + sizeof(cell->tag) + 8];

	if (!c2c)
		return;
	(void)munmap(c2c, sizeof(*c2c));
	(void)snprintf(path, sizeof(path), "%s/c2c-%s", cell->dir, cell->tag);
	(void)unlink(path); /* both sides try; the second finds it gone */
}

/* Maps the oversubscribed cell's barrier page, named after `base_tag`: every pair's. */
static int pairs_map(const struct bench_cell *cell, const char *base_tag, struct pairs_page **ret)
{
	char path[sizeof(cell->dir) + sizeof(cell->tag) + 8];
	_cleanup_close_ int fd = -EBADF;
	void *p;

	(void)snprintf(path, sizeof(path), "%s/pairs-%s", cell->dir, base_tag);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return bench_fail(-errno, "opening the pairs' page %s: %s", path, strerror(errno));
	/* Every pair sizes it, to the same size: a second ftruncate() changes nothing. */
	if (ftruncate(fd, sizeof(struct pairs_page)) < 0)
		return bench_fail(-errno, "sizing the pairs' page: %s", strerror(errno));
	p = mmap(NULL, sizeof(struct pairs_page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return bench_fail(-errno, "mapping the pairs' page: %s", strerror(errno));
	*ret = p;
	return 0;
}

/*
 * Side A of each pair: waits until every pair has reached its next barrier; the time they
 * had into *ret_released (optional). Without pairs, returns at once with the time now.
 */
static int pairs_barrier(struct side_args *args, uint64_t *ret_released)
{
	struct pairs_page *page = args->pairs;
	uint32_t k, want;
	uint64_t deadline;

	if (!page) {
		if (ret_released)
			*ret_released = bench_now();
		return 0;
	}

	k = ++args->barriers;
	want = k * args->cell->pairs;
	if (__atomic_add_fetch(&page->arrived, 1, __ATOMIC_ACQ_REL) == want) {
		__atomic_store_n(&page->released_ns, bench_now(), __ATOMIC_RELAXED);
		__atomic_store_n(&page->released, k, __ATOMIC_RELEASE);
	}
	deadline = bench_now() + (uint64_t)BENCH_TIMEOUT_MS * 1000000;
	while (__atomic_load_n(&page->released, __ATOMIC_ACQUIRE) < k) {
		if (bench_now() > deadline)
			return bench_fail(-ETIMEDOUT, "the other pairs did not reach the barrier");
		(void)usleep(BARRIER_POLL_US);
	}
	if (ret_released)
		*ret_released = __atomic_load_n(&page->released_ns, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Spins until *word equals `v` (equal) or differs from it (!equal), into *ret;
 * -ETIMEDOUT when the other side is gone.
 */
static int c2c_spin(const uint64_t *word, uint64_t v, bool equal, uint64_t *ret)
{
	uint64_t deadline = 0, got;

	for (unsigned i = 1;; i++) {
		got = __atomic_load_n(word, __ATOMIC_ACQUIRE);
		if ((got == v) == equal)
			break;
		if ((i & 4095) == 0) {
			if (deadline == 0)
				deadline = bench_now() + (uint64_t)BENCH_TIMEOUT_MS * 1000000;
			else if (bench_now() > deadline)
				return bench_fail(-ETIMEDOUT, "the other side left the probe");
		}
	}
	*ret = got;
	return 0;
}

/*
 * Before a probe: the other side waits for what this one sent last (the sync, the end of
 * the round trips), which must not sit in a batch while this side spins on the page.
 */
static int c2c_flush(struct side_args *args)
{
	const struct bench_transport *t = args->cell->transport;

	return t->flush ? t->flush(args->link) : 0;
}

/* Side A: the mean round trip of one line over C2C_ROUND_TRIPS, after one untimed. */
static int c2c_probe(struct side_args *args, uint64_t *ret_ns)
{
	struct c2c_page *c2c = args->c2c;
	uint64_t t0 = 0, got;
	int r;

	r = c2c_flush(args);
	if (r < 0)
		return r;

	for (unsigned i = 0; i <= C2C_ROUND_TRIPS; i++) {
		uint64_t n = ++args->c2c_last;

		if (i == 1)
			t0 = bench_now();
		__atomic_store_n(&c2c->ping, n, __ATOMIC_RELEASE);
		r = c2c_spin(&c2c->pong, n, true, &got);
		if (r < 0)
			return r;
	}
	*ret_ns = (bench_now() - t0) / C2C_ROUND_TRIPS;
	__atomic_store_n(&c2c->ping, C2C_DONE, __ATOMIC_RELEASE);
	return 0;
}

/* Side B: echoes side A's numbers until it says done. */
static int c2c_echo(struct side_args *args)
{
	struct c2c_page *c2c = args->c2c;
	int r;

	r = c2c_flush(args);
	if (r < 0)
		return r;

	for (;;) {
		r = c2c_spin(&c2c->ping, args->c2c_last, false, &args->c2c_last);
		if (r < 0)
			return r;
		if (args->c2c_last == C2C_DONE)
			return 0;
		__atomic_store_n(&c2c->pong, args->c2c_last, __ATOMIC_RELEASE);
	}
}

static int ping_pong(const struct bench_cell *cell, struct bench_link *link, uint64_t seq,
		     uint64_t *ret_ns)
{
	uint64_t t0 = bench_now();
	int r;

	r = send_one(cell, link, seq, t0);
	if (r < 0)
		return r;
	r = recv_one(cell, link, seq, false, NULL, NULL);
	if (r < 0)
		return r;
	*ret_ns = bench_now() - t0;
	return 0;
}

static int run_pp_a(struct side_args *args)
{
	const struct bench_cell *cell = args->cell;
	struct bench_link *link = args->link;
	_cleanup_free_ uint64_t *samples = NULL;
	struct bench_pp_round rounds[BENCH_MAX_ROUNDS];
	uint64_t seq = 0, start, n, ns, c2c_before = 0, c2c_after = 0;
	int r;

	r = pairs_barrier(args, NULL);
	if (r < 0)
		return r;
	if (args->c2c) {
		r = c2c_probe(args, &c2c_before);
		if (r < 0)
			return r;
	}

	/* Warm up for warmup_ms (and at least a few times), then size the rounds. */
	start = bench_now();
	do {
		r = ping_pong(cell, link, seq++, &ns);
		if (r < 0)
			return r;
	} while (seq < MIN(cell->pp_min, UINT64_C(16)) ||
		 bench_now() - start < (uint64_t)cell->warmup_ms * 1000000);
	n = round_count(cell, (double)(bench_now() - start) / (double)seq, cell->pp_min,
			cell->pp_max);

	samples = malloc(sizeof(*samples) * n);
	if (!samples)
		return bench_fail(-ENOMEM, "allocating samples");

	for (unsigned round = 0; round < cell->rounds; round++) {
		for (uint64_t i = 0; i < n; i++) {
			r = ping_pong(cell, link, seq++, &samples[i]);
			if (r < 0)
				return r;
		}
		qsort(samples, n, sizeof(*samples), cmp_u64);
		rounds[round] = (struct bench_pp_round){
			.p50 = percentile(samples, n, 50),
			.p99 = percentile(samples, n, 99),
			.min = samples[0],
			.n = n,
		};
	}

	r = send_one(cell, link, BENCH_SEQ_END, 0);
	if (r < 0)
		return r;
	if (args->c2c) {
		r = c2c_probe(args, &c2c_after);
		if (r < 0)
			return r;
	}

	for (unsigned round = 0; round < cell->rounds; round++)
		write_line(args->result_fd,
			   "pp %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			   round, rounds[round].p50, rounds[round].p99, rounds[round].min,
			   rounds[round].n, MAX(c2c_before, c2c_after));
	return 0;
}

/*
 * Streams messages until `n` were sent or, with n 0, until CLOCK_MONOTONIC reads `until`;
 * then the end.
 */
static int stream_round(const struct bench_cell *cell, struct bench_link *link, uint64_t n,
			uint64_t until, uint64_t *ret_sent)
{
	uint64_t t0 = bench_now(), i;
	int r;

	for (i = 0; n == 0 || i < n; i++) {
		if (n == 0 && (i & 63) == 0 && i >= MIN(cell->tp_min, UINT64_C(64)) &&
		    bench_now() >= until)
			break;
		/* Every message carries t0: the consumer times from the first send. */
		r = send_one(cell, link, i, t0);
		if (r < 0)
			return r;
	}
	r = send_one(cell, link, BENCH_SEQ_END, t0);
	if (r < 0)
		return r;
	/* The ack keeps the rounds apart: the next one starts on an empty channel. */
	r = recv_one(cell, link, BENCH_SEQ_ACK, false, NULL, NULL);
	if (r < 0)
		return r;
	*ret_sent = i;
	return 0;
}

static int run_tp_a(struct side_args *args)
{
	const struct bench_cell *cell = args->cell;
	struct bench_link *link = args->link;
	uint64_t start, sent, n;
	int r;

	/* The warm-up round is not reported; its rate sizes the measured rounds. */
	r = pairs_barrier(args, NULL);
	if (r < 0)
		return r;
	start = bench_now();
	r = stream_round(cell, link, cell->round_ms == 0 ? cell->tp_min : 0,
			 start + (uint64_t)cell->warmup_ms * 1000000, &sent);
	if (r < 0)
		return r;
	n = round_count(cell, (double)(bench_now() - start) / (double)MAX(sent, UINT64_C(1)),
			cell->tp_min, cell->tp_max);

	for (unsigned round = 0; round < cell->rounds; round++) {
		uint64_t released;

		r = pairs_barrier(args, &released);
		if (r < 0)
			return r;
		/*
		 * Pairs that run at once stream until one deadline, not for one count, so that
		 * all of them stream during the whole of their common window, also the one the
		 * scheduler woke last.
		 */
		if (args->pairs && cell->round_ms > 0)
			r = stream_round(cell, link, 0,
					 released + (uint64_t)cell->round_ms * 1000000, &sent);
		else
			r = stream_round(cell, link, n, 0, &sent);
		if (r < 0)
			return r;
	}
	return 0;
}

static int run_side_a(struct side_args *args)
{
	const struct bench_cell *cell = args->cell;
	struct bench_link *link = args->link;
	int r;

	r = send_one(cell, link, BENCH_SEQ_SYNC, 0);
	if (r < 0)
		return r;
	r = recv_one(cell, link, BENCH_SEQ_SYNC, false, NULL, NULL);
	if (r < 0)
		return r;

	if (cell->pp_max > 0) {
		r = run_pp_a(args);
		if (r < 0)
			return r;
	}
	if (cell->tp_max > 0) {
		r = run_tp_a(args);
		if (r < 0)
			return r;
	}
	return 0;
}

static int run_side_b(struct side_args *args)
{
	const struct bench_cell *cell = args->cell;
	struct bench_link *link = args->link;
	int r;

	r = recv_one(cell, link, BENCH_SEQ_SYNC, false, NULL, NULL);
	if (r < 0)
		return r;
	r = send_one(cell, link, BENCH_SEQ_SYNC, 0);
	if (r < 0)
		return r;

	if (cell->pp_max > 0) {
		/* The probe, then every ping echoed until side A says it is done, the probe. */
		if (args->c2c) {
			r = c2c_echo(args);
			if (r < 0)
				return r;
		}
		for (uint64_t seq = 0;; seq++) {
			uint64_t got, stamp;

			r = recv_one(cell, link, seq, true, &got, &stamp);
			if (r < 0)
				return r;
			if (got == BENCH_SEQ_END)
				break;
			r = send_one(cell, link, seq, stamp);
			if (r < 0)
				return r;
		}
		if (args->c2c) {
			r = c2c_echo(args);
			if (r < 0)
				return r;
		}
	}

	if (cell->tp_max > 0)
		for (unsigned round = 0; round <= cell->rounds; round++) {
			uint64_t t0 = 0, t1, n;

			for (n = 0;; n++) {
				uint64_t got, stamp;

				r = recv_one(cell, link, n, true, &got, &stamp);
				if (r < 0)
					return r;
				if (got == BENCH_SEQ_END) {
					t1 = bench_now();
					break;
				}
				/* The first message carries the time the producer started. */
				if (n == 0)
					t0 = stamp;
			}
			if (round > 0 && n > 0)
				write_line(args->result_fd,
					   "tp %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
					   "\n",
					   round - 1, t1 - t0, n, n * cell->size, t0);

			r = send_one(cell, link, BENCH_SEQ_ACK, 0);
			if (r < 0)
				return r;
		}

	return 0;
}

static int run_side(struct side_args *args)
{
	if (args->side == BENCH_SIDE_A)
		return run_side_a(args);
	return run_side_b(args);
}

static void *side_b_thread(void *userdata)
{
	struct side_args *args = userdata;
	int r;

	r = bench_pin_thread(args->cell->cpu[BENCH_SIDE_B]);
	if (r >= 0)
		r = run_side(args);
	if (r < 0)
		/* Side A may wait for this side forever: end the whole process. */
		fail_and_exit(args->result_fd, r);
	return NULL;
}

static int run_both(const struct bench_cell *cell, struct pairs_page *pairs, int fd)
{
	const struct bench_transport *t = cell->transport;
	struct bench_link *links[_BENCH_SIDE_MAX] = { NULL };
	struct side_args args[_BENCH_SIDE_MAX];
	struct c2c_page *c2c = NULL;
	void *shared = NULL;
	pthread_t thread;
	int r;

	if (t->shared_new) {
		r = t->shared_new(cell, &shared);
		if (r < 0)
			return r;
	}

	/* Side B binds first so that side A's connect finds it at once. */
	r = t->open(cell, shared, BENCH_SIDE_B, &links[BENCH_SIDE_B]);
	if (r < 0)
		return r;
	r = t->open(cell, shared, BENCH_SIDE_A, &links[BENCH_SIDE_A]);
	if (r < 0)
		return r;
	if (c2c_wanted(cell)) {
		r = c2c_map(cell, &c2c);
		if (r < 0)
			return r;
	}

	for (int side = 0; side < _BENCH_SIDE_MAX; side++)
		args[side] = (struct side_args){
			.cell = cell,
			.link = links[side],
			.side = side,
			.result_fd = fd,
			.c2c = c2c,
			.pairs = side == BENCH_SIDE_A ? pairs : NULL,
		};

	r = pthread_create(&thread, NULL, side_b_thread, &args[BENCH_SIDE_B]);
	if (r != 0)
		return bench_fail(-r, "creating the side B thread");

	r = bench_pin_thread(cell->cpu[BENCH_SIDE_A]);
	if (r >= 0)
		r = run_side(&args[BENCH_SIDE_A]);
	if (r < 0)
		return r; /* the caller exits; side B may be stuck waiting */

	(void)pthread_join(thread, NULL);
	c2c_unmap(cell, c2c);
	t->close(links[BENCH_SIDE_A]);
	t->close(links[BENCH_SIDE_B]);
	if (t->shared_free)
		t->shared_free(shared);
	return 0;
}

static int run_one(const struct bench_cell *cell, enum bench_side side, struct pairs_page *pairs,
		   int fd)
{
	const struct bench_transport *t = cell->transport;
	struct bench_link *link = NULL;
	struct side_args args;
	int r;

	/* Open first: threads the library starts keep the whole CPU set; only we are pinned. */
	r = t->open(cell, NULL, side, &link);
	if (r < 0)
		return r;
	r = bench_pin_thread(cell->cpu[side]);
	if (r < 0)
		return r;

	args = (struct side_args){
		.cell = cell,
		.link = link,
		.side = side,
		.result_fd = fd,
		.pairs = side == BENCH_SIDE_A ? pairs : NULL,
	};
	if (c2c_wanted(cell)) {
		r = c2c_map(cell, &args.c2c);
		if (r < 0)
			return r;
	}
	r = run_side(&args);
	if (r < 0)
		return r;

	c2c_unmap(cell, args.c2c);
	t->close(link);
	return 0;
}

/*
 * The "pair" role: this process becomes side A and a fork() of it side B, as in a program
 * whose parent forks the peer it then talks to. The fork comes before anything else: no
 * transport has run process_init() or opened anything yet, because ZeroMQ's and NNG's
 * threads and the iceoryx runtime do not survive a fork, and each side must make its own
 * after it (as the program must). Returns the side this process runs; side A gets side B's
 * pid.
 */
static int fork_side_b(enum bench_side *ret_side, pid_t *ret_pid)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid < 0)
		return bench_fail(-errno, "fork");
	if (pid == 0) {
		/* Side B dies with side A, which is what the orchestrator kills. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(EXIT_FAILURE);
		*ret_side = BENCH_SIDE_B;
		return 0;
	}
	*ret_side = BENCH_SIDE_A;
	*ret_pid = pid;
	return 0;
}

/* Side A of a pair: side B's exit status, as an error when it failed. */
static int wait_side_b(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return bench_fail(-errno, "waiting for side B");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return bench_fail(-EIO, "side B (forked) exited with status %d",
				  WEXITSTATUS(status));
	return bench_fail(-EIO, "side B (forked) killed by signal %d", WTERMSIG(status));
}

int bench_child_run(const struct bench_cell *base, const char *role, int result_fd)
{
	const struct bench_transport *t = base->transport;
	struct bench_cell cell = *base;
	struct pairs_page *pairs = NULL;
	enum bench_side side = BENCH_SIDE_A;
	pid_t side_b = 0;
	bool both = streq(role, "both");
	int r;

	if (!both && !streq(role, "a") && !streq(role, "b") && !streq(role, "pair"))
		fail_and_exit(result_fd, bench_fail(-EINVAL, "unknown child role '%s'", role));

	/*
	 * On one shared CPU, the process is confined to it before any library starts a
	 * thread, which inherits that: everything the two sides do runs on that CPU, as under
	 * `taskset -c CPU`.
	 */
	if (cell.placement == BENCH_PLACEMENT_SHARED) {
		r = bench_pin_thread(cell.cpu[BENCH_SIDE_A]);
		if (r < 0)
			fail_and_exit(result_fd, r);
	}

	/* Each pair of an oversubscribed cell has channels, services and sockets of its own. */
	if (cell.pairs > 1) {
		size_t n = (size_t)snprintf(cell.tag, sizeof(cell.tag), "%s-p%u", base->tag,
					    base->pair);

		if (n >= sizeof(cell.tag))
			fail_and_exit(result_fd, bench_fail(-ENAMETOOLONG, "tag '%s'", base->tag));
	}

	if (streq(role, "pair")) {
		r = fork_side_b(&side, &side_b);
		if (r < 0)
			fail_and_exit(result_fd, r);
	} else if (streq(role, "b"))
		side = BENCH_SIDE_B;

	if (cell.pairs > 1 && side == BENCH_SIDE_A) {
		r = pairs_map(&cell, base->tag, &pairs);
		if (r < 0)
			fail_and_exit(result_fd, r);
	}

	if (t->process_init) {
		r = t->process_init(&cell);
		if (r < 0)
			fail_and_exit(result_fd, r);
	}

	if (both)
		r = run_both(&cell, pairs, result_fd);
	else
		r = run_one(&cell, side, pairs, result_fd);
	if (r >= 0 && side_b > 0)
		r = wait_side_b(side_b);
	if (r < 0)
		fail_and_exit(result_fd, r);

	if (pairs) {
		char path[sizeof(cell.dir) + sizeof(cell.tag) + 8];

		/* Every pair has passed a barrier, so has mapped the page: it may go. */
		(void)munmap(pairs, sizeof(*pairs));
		(void)snprintf(path, sizeof(path), "%s/pairs-%s", cell.dir, base->tag);
		(void)unlink(path);
	}
	return 0;
}
