/* SPDX-License-Identifier: MIT */
/*
 * The measuring children. Every cell runs in processes exec'd fresh from the bench binary, so
 * that no library state (ZeroMQ and NNG threads, the iceoryx runtime) outlives a cell and a
 * hung or crashed transport costs only its cell.
 *
 * Results go to result_fd as text lines:
 *   pp ROUND P50_NS P99_NS MIN_NS N    side A, one per round
 *   tp ROUND NS MESSAGES BYTES         side B, one per measured round
 *   error REASON                       the first failure; the process then exits 1
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "common/string-util.h"

struct side_args {
	const struct bench_cell *cell;
	struct bench_link *link;
	enum bench_side side;
	int result_fd;
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

static int run_pp_a(const struct bench_cell *cell, struct bench_link *link, int fd)
{
	_cleanup_free_ uint64_t *samples = NULL;
	uint64_t seq = 0, start, n, ns;
	int r;

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
		write_line(fd, "pp %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", round,
			   percentile(samples, n, 50), percentile(samples, n, 99), samples[0], n);
	}

	return send_one(cell, link, BENCH_SEQ_END, 0);
}

/* Streams messages until `n` were sent or, with n 0, until `ms` passed; then the end. */
static int stream_round(const struct bench_cell *cell, struct bench_link *link, uint64_t n,
			unsigned ms, uint64_t *ret_sent)
{
	uint64_t t0 = bench_now(), i;
	int r;

	for (i = 0; n == 0 || i < n; i++) {
		if (n == 0 && (i & 63) == 0 && i >= MIN(cell->tp_min, UINT64_C(64)) &&
		    bench_now() - t0 >= (uint64_t)ms * 1000000)
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

static int run_tp_a(const struct bench_cell *cell, struct bench_link *link)
{
	uint64_t start, sent, n;
	int r;

	/* The warm-up round is not reported; its rate sizes the measured rounds. */
	start = bench_now();
	r = stream_round(cell, link, cell->round_ms == 0 ? cell->tp_min : 0, cell->warmup_ms,
			 &sent);
	if (r < 0)
		return r;
	n = round_count(cell, (double)(bench_now() - start) / (double)MAX(sent, UINT64_C(1)),
			cell->tp_min, cell->tp_max);

	for (unsigned round = 0; round < cell->rounds; round++) {
		r = stream_round(cell, link, n, 0, &sent);
		if (r < 0)
			return r;
	}
	return 0;
}

static int run_side_a(const struct bench_cell *cell, struct bench_link *link, int fd)
{
	int r;

	r = send_one(cell, link, BENCH_SEQ_SYNC, 0);
	if (r < 0)
		return r;
	r = recv_one(cell, link, BENCH_SEQ_SYNC, false, NULL, NULL);
	if (r < 0)
		return r;

	if (cell->pp_max > 0) {
		r = run_pp_a(cell, link, fd);
		if (r < 0)
			return r;
	}
	if (cell->tp_max > 0) {
		r = run_tp_a(cell, link);
		if (r < 0)
			return r;
	}
	return 0;
}

static int run_side_b(const struct bench_cell *cell, struct bench_link *link, int fd)
{
	int r;

	r = recv_one(cell, link, BENCH_SEQ_SYNC, false, NULL, NULL);
	if (r < 0)
		return r;
	r = send_one(cell, link, BENCH_SEQ_SYNC, 0);
	if (r < 0)
		return r;

	if (cell->pp_max > 0)
		/* Echo every ping until side A says it is done. */
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
				write_line(fd, "tp %u %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
					   round - 1, t1 - t0, n, n * cell->size);

			r = send_one(cell, link, BENCH_SEQ_ACK, 0);
			if (r < 0)
				return r;
		}

	return 0;
}

static int run_side(const struct side_args *args)
{
	if (args->side == BENCH_SIDE_A)
		return run_side_a(args->cell, args->link, args->result_fd);
	return run_side_b(args->cell, args->link, args->result_fd);
}

static void *side_b_thread(void *userdata)
{
	const struct side_args *args = userdata;
	int r;

	r = bench_pin_thread(args->cell->cpu[BENCH_SIDE_B]);
	if (r >= 0)
		r = run_side(args);
	if (r < 0)
		/* Side A may wait for this side forever: end the whole process. */
		fail_and_exit(args->result_fd, r);
	return NULL;
}

static int run_both(const struct bench_cell *cell, int fd)
{
	const struct bench_transport *t = cell->transport;
	struct bench_link *links[_BENCH_SIDE_MAX] = { NULL };
	struct side_args args[_BENCH_SIDE_MAX];
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

	for (int side = 0; side < _BENCH_SIDE_MAX; side++)
		args[side] = (struct side_args){
			.cell = cell,
			.link = links[side],
			.side = side,
			.result_fd = fd,
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
	t->close(links[BENCH_SIDE_A]);
	t->close(links[BENCH_SIDE_B]);
	if (t->shared_free)
		t->shared_free(shared);
	return 0;
}

static int run_one(const struct bench_cell *cell, enum bench_side side, int fd)
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

	args = (struct side_args){ .cell = cell, .link = link, .side = side, .result_fd = fd };
	r = run_side(&args);
	if (r < 0)
		return r;

	t->close(link);
	return 0;
}

int bench_child_run(const struct bench_cell *cell, const char *role, int result_fd)
{
	const struct bench_transport *t = cell->transport;
	int r;

	if (t->process_init) {
		r = t->process_init(cell);
		if (r < 0)
			fail_and_exit(result_fd, r);
	}

	if (streq(role, "both"))
		r = run_both(cell, result_fd);
	else if (streq(role, "a"))
		r = run_one(cell, BENCH_SIDE_A, result_fd);
	else if (streq(role, "b"))
		r = run_one(cell, BENCH_SIDE_B, result_fd);
	else
		r = bench_fail(-EINVAL, "unknown child role '%s'", role);
	if (r < 0)
		fail_and_exit(result_fd, r);
	return 0;
}
