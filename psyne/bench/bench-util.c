/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "common/string-util.h"

#define BENCH_HDR_MAGIC UINT64_C(0x7073796e6562656e) /* "psynebenn" */
#define BENCH_TAIL_MAGIC UINT64_C(0x5441494c5441494c)

const struct bench_transport *const bench_transports[] = {
	&bench_transport_calib,	     &bench_transport_psyne_memory, &bench_transport_psyne_ipc,
	&bench_transport_zmq_inproc, &bench_transport_zmq_ipc,	    &bench_transport_nng_inproc,
	&bench_transport_nng_ipc,    &bench_transport_iceoryx,	    &bench_transport_raw_unix,
	&bench_transport_psyne_unix, &bench_transport_raw_tcp,	    &bench_transport_psyne_tcp,
	&bench_transport_zmq_tcp,    &bench_transport_nng_tcp,	    NULL,
};
_Static_assert(sizeof(bench_transports) / sizeof(bench_transports[0]) <= BENCH_MAX_TRANSPORTS + 1,
	       "too many transports");

const struct bench_transport *bench_transport_find(const char *id)
{
	for (size_t i = 0; bench_transports[i]; i++)
		if (streq(bench_transports[i]->id, id))
			return bench_transports[i];
	return NULL;
}

/*
 * The columns the targets compare (docs/bench.md, "The targets"): psyne ipc:// with the
 * calibration ring, ZeroMQ ipc and iceoryx; psyne tcp:// with ZeroMQ tcp and raw TCP.
 */
static const char *const target_ids[] = {
	"calib", "psyne-ipc", "zmq-ipc", "iceoryx", "raw-tcp", "psyne-tcp", "zmq-tcp", NULL,
};

bool bench_transport_in_targets(const struct bench_transport *t)
{
	for (size_t i = 0; target_ids[i]; i++)
		if (streq(t->id, target_ids[i]))
			return true;
	return false;
}

bool bench_transport_matches(const struct bench_transport *t, const char *word)
{
	const char *rest;

	if (streq(word, t->id) || streq(word, t->family))
		return true;
	if (streq(word, "targets"))
		return bench_transport_in_targets(t);
	if ((t->groups & BENCH_GROUP_NET) == 0)
		return false;
	if (streq(word, "net"))
		return true;
	rest = startswith(word, t->family);
	return rest && streq(rest, "-net");
}

static inline uint8_t fill_byte(uint64_t seq)
{
	return (uint8_t)(seq * 131 + 17);
}

static inline void put_u64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

/*
 * The header's fields are stored one by one, straight into the message, as an application
 * fills in its own. Built as a struct on the stack and copied, the copy's 16-byte loads
 * from the struct's 8-byte stores cannot be forwarded and wait for every older store to
 * leave the store buffer; when those are the previous message's stores into lines another
 * core holds, each message waits for a cross-core round trip that no transport asked for
 * (psyne ipc:// 64 B lost a quarter of its rate to it, the calibration ring nothing).
 */
void bench_payload_write(void *buf, size_t size, uint64_t seq, uint64_t stamp,
			 enum bench_touch touch)
{
	uint8_t *p = buf;

	put_u64(p, offsetof(struct bench_hdr, seq), seq);
	put_u64(p, offsetof(struct bench_hdr, stamp), stamp);
	put_u64(p, offsetof(struct bench_hdr, size), size);
	put_u64(p, offsetof(struct bench_hdr, check), seq ^ BENCH_HDR_MAGIC);
	if (touch == BENCH_TOUCH_ALL) {
		memset(p + sizeof(struct bench_hdr), fill_byte(seq),
		       size - sizeof(struct bench_hdr));
	} else if (size >= sizeof(struct bench_hdr) + sizeof(uint64_t)) {
		uint64_t tail = seq ^ BENCH_TAIL_MAGIC;

		memcpy(p + size - sizeof(tail), &tail, sizeof(tail));
	}
}

/* Compares eight bytes at a time so that the compiler vectorizes the loop. */
static bool all_bytes_are(const uint8_t *p, size_t n, uint8_t byte)
{
	uint64_t pattern = UINT64_C(0x0101010101010101) * byte, acc = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		acc |= w ^ pattern;
	}
	for (; i < n; i++)
		acc |= p[i] ^ byte;
	return acc == 0;
}

int bench_payload_check(const void *buf, size_t size, size_t expected_size, uint64_t seq,
			enum bench_touch touch, uint64_t *ret_stamp)
{
	const uint8_t *p = buf;
	struct bench_hdr hdr;

	if (size != expected_size)
		return bench_fail(-EBADMSG, "message %" PRIu64 ": %zu bytes, expected %zu", seq,
				  size, expected_size);
	memcpy(&hdr, p, sizeof(hdr));
	if (hdr.check != (hdr.seq ^ BENCH_HDR_MAGIC) || hdr.size != size)
		return bench_fail(-EBADMSG, "message %" PRIu64 ": corrupt header", seq);
	if (hdr.seq != seq)
		return bench_fail(-EBADMSG,
				  "message %" PRIu64 " expected, got %" PRIu64
				  " (lost, duplicated or reordered)",
				  seq, hdr.seq);

	if (touch == BENCH_TOUCH_ALL) {
		if (!all_bytes_are(p + sizeof(hdr), size - sizeof(hdr), fill_byte(seq)))
			return bench_fail(-EBADMSG, "message %" PRIu64 ": corrupt payload", seq);
	} else if (size >= sizeof(struct bench_hdr) + sizeof(uint64_t)) {
		uint64_t tail;

		memcpy(&tail, p + size - sizeof(tail), sizeof(tail));
		if (tail != (seq ^ BENCH_TAIL_MAGIC))
			return bench_fail(-EBADMSG, "message %" PRIu64 ": corrupt tail", seq);
	}

	if (ret_stamp)
		*ret_stamp = hdr.stamp;
	return 0;
}

void *bench_link_alloc(size_t size)
{
	size_t n = ALIGN_TO(size, (size_t)128);
	void *p;

	p = aligned_alloc(128, n);
	if (p)
		memset(p, 0, n);
	return p;
}

int bench_pin_thread(int cpu)
{
	cpu_set_t set;
	int r;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (r != 0)
		return bench_fail(-r, "pinning to CPU %d", cpu);
	return 0;
}

static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;
static char failure[512];

int bench_fail(int r, const char *format, ...)
{
	va_list ap;

	if (r >= 0)
		r = -EIO;

	pthread_mutex_lock(&failure_lock);
	if (failure[0] == '\0') {
		size_t n;

		va_start(ap, format);
		(void)vsnprintf(failure, sizeof(failure), format, ap);
		va_end(ap);
		n = strlen(failure);
		(void)snprintf(failure + n, sizeof(failure) - n, ": %s", strerror(-r));
	}
	pthread_mutex_unlock(&failure_lock);
	return r;
}

const char *bench_failure(void)
{
	const char *f;

	pthread_mutex_lock(&failure_lock);
	f = failure[0] != '\0' ? failure : NULL;
	pthread_mutex_unlock(&failure_lock);
	return f;
}

uint64_t bench_queue_depth(uint64_t size, uint64_t capacity)
{
	/* Each message costs its payload plus a record header in a ring; 64 bytes covers both. */
	uint64_t depth = capacity / ALIGN_TO(size + 64, 64);

	return CLAMP(depth, UINT64_C(2), UINT64_C(256));
}

uint64_t bench_capacity(uint64_t size, uint64_t forced)
{
	uint64_t want = MAX(UINT64_C(1) << 20, 16 * ALIGN_TO(size + 64, UINT64_C(64))), c = 4096;

	if (forced != 0)
		return forced;
	while (c < want)
		c *= 2;
	return c;
}

const char *bench_touch_to_string(enum bench_touch touch)
{
	return touch == BENCH_TOUCH_ALL ? "all" : "edges";
}

static const char *const placement_names[_BENCH_PLACEMENT_MAX] = {
	[BENCH_PLACEMENT_PINNED] = "pinned",
	[BENCH_PLACEMENT_UNPINNED] = "unpinned",
	[BENCH_PLACEMENT_SHARED] = "shared",
	[BENCH_PLACEMENT_OVERSUB] = "oversub",
};

const char *bench_placement_to_string(enum bench_placement placement)
{
	return placement < _BENCH_PLACEMENT_MAX ? placement_names[placement] : "?";
}

int bench_placement_from_string(const char *s, enum bench_placement *ret)
{
	for (enum bench_placement p = 0; p < _BENCH_PLACEMENT_MAX; p++)
		if (streq(s, placement_names[p])) {
			*ret = p;
			return 0;
		}
	return -EINVAL;
}

char *bench_format_size(char *buf, size_t n, uint64_t size)
{
	if (size >= (UINT64_C(1) << 20) && size % (UINT64_C(1) << 20) == 0)
		(void)snprintf(buf, n, "%" PRIu64 " MiB", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		(void)snprintf(buf, n, "%" PRIu64 " KiB", size >> 10);
	else
		(void)snprintf(buf, n, "%" PRIu64 " B", size);
	return buf;
}

/*
 * The hidden child command line: psyne-bench --child ROLE followed by these fields. Only the
 * bench itself writes it, but it is still parsed strictly.
 */
void bench_cell_to_argv(const struct bench_cell *cell, char buf[BENCH_CELL_ARGS][80])
{
	(void)snprintf(buf[0], 80, "%s", cell->transport->id);
	(void)snprintf(buf[1], 80, "%" PRIu64, cell->size);
	(void)snprintf(buf[2], 80, "%" PRIu64, cell->capacity);
	(void)snprintf(buf[3], 80, "%" PRIu64, cell->pp_min);
	(void)snprintf(buf[4], 80, "%" PRIu64, cell->pp_max);
	(void)snprintf(buf[5], 80, "%" PRIu64, cell->tp_min);
	(void)snprintf(buf[6], 80, "%" PRIu64, cell->tp_max);
	(void)snprintf(buf[7], 80, "%u", cell->warmup_ms);
	(void)snprintf(buf[8], 80, "%u", cell->round_ms);
	(void)snprintf(buf[9], 80, "%u", cell->rounds);
	(void)snprintf(buf[10], 80, "%s", bench_touch_to_string(cell->touch));
	(void)snprintf(buf[11], 80, "%d", (int)cell->yield);
	(void)snprintf(buf[12], 80, "%d", cell->cpu[BENCH_SIDE_A]);
	(void)snprintf(buf[13], 80, "%d", cell->cpu[BENCH_SIDE_B]);
	(void)snprintf(buf[14], 80, "%s", cell->tag);
	(void)snprintf(buf[15], 80, "%s", cell->dir);
	(void)snprintf(buf[16], 80, "%u", cell->port);
	(void)snprintf(buf[17], 80, "%s", bench_placement_to_string(cell->placement));
	(void)snprintf(buf[18], 80, "%u", cell->pairs);
	(void)snprintf(buf[19], 80, "%u", cell->pair);
}

int bench_cell_from_argv(char *const *argv, size_t argc, struct bench_cell *ret_cell)
{
	struct bench_cell cell = { .transport = NULL };
	unsigned yield;

	if (argc != BENCH_CELL_ARGS)
		return -EINVAL;

	cell.transport = bench_transport_find(argv[0]);
	if (!cell.transport)
		return -EINVAL;
	if (safe_atou64(argv[1], &cell.size) < 0 || safe_atou64(argv[2], &cell.capacity) < 0 ||
	    safe_atou64(argv[3], &cell.pp_min) < 0 || safe_atou64(argv[4], &cell.pp_max) < 0 ||
	    safe_atou64(argv[5], &cell.tp_min) < 0 || safe_atou64(argv[6], &cell.tp_max) < 0 ||
	    safe_atou(argv[7], &cell.warmup_ms) < 0 || safe_atou(argv[8], &cell.round_ms) < 0 ||
	    safe_atou(argv[9], &cell.rounds) < 0 || safe_atou(argv[11], &yield) < 0 ||
	    safe_atoi(argv[12], &cell.cpu[BENCH_SIDE_A]) < 0 ||
	    safe_atoi(argv[13], &cell.cpu[BENCH_SIDE_B]) < 0 ||
	    safe_atou(argv[16], &cell.port) < 0 ||
	    bench_placement_from_string(argv[17], &cell.placement) < 0 ||
	    safe_atou(argv[18], &cell.pairs) < 0 || safe_atou(argv[19], &cell.pair) < 0)
		return -EINVAL;
	if (cell.size < BENCH_MIN_SIZE || cell.size > BENCH_MAX_SIZE || cell.rounds < 1 ||
	    cell.rounds > BENCH_MAX_ROUNDS || yield > 1 || cell.pp_min > cell.pp_max ||
	    cell.tp_min > cell.tp_max || (cell.pp_max > 0 && cell.pp_min == 0) ||
	    (cell.tp_max > 0 && cell.tp_min == 0) || cell.pp_max > BENCH_MAX_PP ||
	    cell.port > 65535 || (cell.transport->uses_port && cell.port == 0) || cell.pairs < 1 ||
	    cell.pairs > BENCH_MAX_PAIRS || cell.pair >= cell.pairs)
		return -EINVAL;
	if (streq(argv[10], "all"))
		cell.touch = BENCH_TOUCH_ALL;
	else if (streq(argv[10], "edges"))
		cell.touch = BENCH_TOUCH_EDGES;
	else
		return -EINVAL;
	cell.yield = yield;
	if (strlen(argv[14]) >= sizeof(cell.tag) || strlen(argv[15]) >= sizeof(cell.dir))
		return -EINVAL;
	strcpy(cell.tag, argv[14]);
	strcpy(cell.dir, argv[15]);

	*ret_cell = cell;
	return 0;
}
