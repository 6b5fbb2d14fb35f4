/* SPDX-License-Identifier: MIT */
/*
 * psyne-bench: the side-by-side benchmark of libpsyne against ZeroMQ, NNG, iceoryx and a bare
 * SPSC ring (the calibration), and of psyne's stream transports against ZeroMQ, NNG and raw
 * sockets. Declarations shared by the orchestrator (psyne-bench.c), the measuring children
 * (child.c), the transports (transport-*.c), RouDi handling (roudi.c) and the reports
 * (report.c).
 *
 * Every cell (one transport at one message size, touch policy and placement) runs in freshly
 * exec'd children of the bench binary: two processes for the ipc and network transports, one
 * process with two threads for the in-process ones. Side A is the pinger and the producer, side
 * B the ponger and the consumer. The placement decides where the sides run (pinned to two CPUs,
 * unpinned with B forked from A, both on one CPU, or four pairs at once).
 */
#ifndef PSYNE_BENCH_H
#define PSYNE_BENCH_H

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "common/macro.h"

#define BENCH_MAX_ROUNDS 99
#define BENCH_MAX_SIZES 8
#define BENCH_MIN_SIZE 32 /* struct bench_hdr must fit */
#define BENCH_MAX_SIZE (UINT64_C(256) << 20)
#define BENCH_MAX_PP 1000000   /* latency samples per round */
#define BENCH_TIMEOUT_MS 20000 /* connecting, subscribing, handshakes */
#define BENCH_MAX_TRANSPORTS 32
#define BENCH_OVERSUB_PAIRS 4 /* pairs of an oversubscribed cell */
#define BENCH_MAX_PAIRS BENCH_OVERSUB_PAIRS

enum bench_side {
	BENCH_SIDE_A, /* pinger, producer */
	BENCH_SIDE_B, /* ponger, consumer */
	_BENCH_SIDE_MAX,
};

/* How much of each payload the producer writes and the consumer reads. */
enum bench_touch {
	BENCH_TOUCH_EDGES, /* the 32-byte header and the last 8 bytes: what a zero-copy user does */
	BENCH_TOUCH_ALL,   /* every byte written (memset) and every byte read and checked */
	_BENCH_TOUCH_MAX,
};

/*
 * Where a cell's sides run: the situations users' processes are in. docs/bench.md, "The
 * placements", says what each reproduces.
 */
enum bench_placement {
	BENCH_PLACEMENT_PINNED,	  /* side A on one CPU, side B on another (library threads free) */
	BENCH_PLACEMENT_UNPINNED, /* nobody pinned; a two-process side B is a fork() of side A */
	BENCH_PLACEMENT_SHARED,	  /* both sides, and every thread they start, on one CPU */
	BENCH_PLACEMENT_OVERSUB,  /* BENCH_OVERSUB_PAIRS unpinned pairs (as UNPINNED) at once */
	_BENCH_PLACEMENT_MAX,
};

/*
 * Everything a child needs to run one cell; passed on its command line. Side A sizes the
 * rounds: after warming up for warmup_ms it measures the rate and picks the count that
 * makes a round last about round_ms, within [min, max] (with round_ms 0: exactly min).
 */
struct bench_cell {
	const struct bench_transport *transport;
	uint64_t size;		 /* payload bytes of every message */
	uint64_t capacity;	 /* ring bytes (psyne, calib); queue depths derive from it */
	uint64_t pp_min, pp_max; /* measured ping-pongs per round; pp_max 0: no ping-pong */
	uint64_t tp_min, tp_max; /* streamed messages per round; tp_max 0: no throughput */
	unsigned warmup_ms;
	unsigned round_ms;
	unsigned rounds;
	enum bench_touch touch;
	enum bench_placement placement;
	unsigned pairs;		  /* pairs running this cell at once: 1, or BENCH_OVERSUB_PAIRS */
	unsigned pair;		  /* which of them this is, 0-based */
	bool yield;		  /* more spinning sides than CPUs: spinning loops yield */
	int cpu[_BENCH_SIDE_MAX]; /* CPU each side is pinned to; -1: not pinned */
	char tag[32];  /* unique per cell, round and run (and pair, in a child): names channels */
	char dir[64];  /* the run's private directory: sockets live there */
	unsigned port; /* uses_port transports: a TCP port of 127.0.0.1 free when picked; else 0 */
};

/* A connected pair of one-way channels (A->B and B->A) as seen by one side. */
struct bench_link;

/* The tables a transport's column appears in; a column may be in both. */
enum {
	BENCH_GROUP_LOCAL = 1 << 0, /* in-process and shared-memory transports */
	BENCH_GROUP_NET = 1 << 1,   /* over a stream socket: unix or tcp, selected by "net" */
};

/*
 * One transport. All calls but the process and shared hooks are made by the one thread that
 * owns the link. Each link holds at most one reservation and one received message at a time.
 * Functions return 0 or a negative errno and record a human-readable reason with
 * bench_fail() first.
 */
struct bench_transport {
	const char *id;	     /* "psyne-ipc": column id in JSON, accepted by --only */
	const char *family;  /* "psyne": also accepted by --only */
	const char *label;   /* "psyne ipc://": table heading */
	unsigned groups;     /* BENCH_GROUP_* */
	unsigned net_column; /* BENCH_GROUP_NET: 1-based position in the network table */
	bool two_processes;  /* sides in two processes (else two threads of one) */
	bool needs_roudi;
	bool uses_port; /* listens on 127.0.0.1:cell->port */

	/* Optional: once per process before any open. */
	int (*process_init)(const struct bench_cell *cell);
	/* Optional, in-process transports: state both sides share (a context, the rings). */
	int (*shared_new)(const struct bench_cell *cell, void **ret_shared);
	void (*shared_free)(void *shared);

	/* Opens this side's link; side B binds/listens, side A connects. Waits until usable. */
	int (*open)(const struct bench_cell *cell, void *shared, enum bench_side side,
		    struct bench_link **ret_link);
	void (*close)(struct bench_link *link);

	/* Gets `size` bytes to write a message into, in place where the transport allows. */
	int (*reserve)(struct bench_link *link, size_t size, void **ret_buf);
	/* Publishes the reserved message. */
	int (*commit)(struct bench_link *link);
	/* Waits for the next message and returns a view of it, valid until release. */
	int (*receive)(struct bench_link *link, const void **ret_buf, size_t *ret_size);
	void (*release)(struct bench_link *link);
	/*
	 * Optional: sends what commit batched. Called before a side stops using the link for
	 * a while (the core-to-core probe); a transport that sends on commit, or flushes on
	 * its own, has none.
	 */
	int (*flush)(struct bench_link *link);
};

extern const struct bench_transport bench_transport_calib;
extern const struct bench_transport bench_transport_psyne_memory;
extern const struct bench_transport bench_transport_psyne_ipc;
extern const struct bench_transport bench_transport_zmq_inproc;
extern const struct bench_transport bench_transport_zmq_ipc;
extern const struct bench_transport bench_transport_nng_inproc;
extern const struct bench_transport bench_transport_nng_ipc;
extern const struct bench_transport bench_transport_iceoryx;
extern const struct bench_transport bench_transport_raw_unix;
extern const struct bench_transport bench_transport_psyne_unix;
extern const struct bench_transport bench_transport_raw_tcp;
extern const struct bench_transport bench_transport_psyne_tcp;
extern const struct bench_transport bench_transport_zmq_tcp;
extern const struct bench_transport bench_transport_nng_tcp;

/* All transports in column order; NULL-terminated. */
extern const struct bench_transport *const bench_transports[];
const struct bench_transport *bench_transport_find(const char *id);

/*
 * Whether --only's `word` selects `t`: its id, its family ("psyne"), "net" for the network
 * group, or FAMILY-net ("psyne-net") for the family's network transports.
 */
bool bench_transport_matches(const struct bench_transport *t, const char *word);

/*
 * Whether a target (RATIO line) compares `t`: the transports --only=targets selects and the
 * placements other than pinned run by default.
 */
bool bench_transport_in_targets(const struct bench_transport *t);

/*
 * The message layout: a header at offset 0 and, with BENCH_TOUCH_EDGES, a tail word in the
 * last 8 bytes. Sequence numbers at and above BENCH_SEQ_CONTROL are control messages.
 */
struct bench_hdr {
	uint64_t seq;
	uint64_t stamp; /* CLOCK_MONOTONIC ns when the producer started the stream or ping */
	uint64_t size;
	uint64_t check; /* seq ^ BENCH_HDR_MAGIC */
};
_Static_assert(sizeof(struct bench_hdr) == 32, "bench_hdr layout");

#define BENCH_SEQ_CONTROL (UINT64_MAX - 15)
#define BENCH_SEQ_SYNC (UINT64_MAX - 1)
#define BENCH_SEQ_ACK (UINT64_MAX - 2)
#define BENCH_SEQ_END (UINT64_MAX - 3) /* ends a warm-up or a round */

/* Writes the header and, by `touch`, the tail word or every other byte. */
void bench_payload_write(void *buf, size_t size, uint64_t seq, uint64_t stamp,
			 enum bench_touch touch);
/* Checks what bench_payload_write() wrote; -EBADMSG (recorded with bench_fail()) if not. */
int bench_payload_check(const void *buf, size_t size, size_t expected_size, uint64_t seq,
			enum bench_touch touch, uint64_t *ret_stamp);

/* CLOCK_MONOTONIC in ns; inline for the measuring loops. */
static inline uint64_t bench_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* A pause for spin loops; yields the CPU when `yield` (more spinning sides than CPUs). */
static inline void bench_relax(bool yield)
{
	if (yield)
		(void)sched_yield();
	else
		__builtin_ia32_pause();
}

/*
 * Allocates a zeroed link of `size` bytes on its own cache lines: the two sides' links of an
 * in-process transport must not share one. Free with free().
 */
void *bench_link_alloc(size_t size);

/* Pins the calling thread to `cpu` (-1: leaves it alone). */
int bench_pin_thread(int cpu);

/*
 * Records the first failure of this process as "reason: strerror(r)" and returns r (or
 * -EIO when r >= 0), so transports can write `return bench_fail(r, "zmq_bind '%s'", url);`.
 * Thread-safe.
 */
int bench_fail(int r, const char *format, ...) _printf_(2, 3);
/* The recorded reason, or NULL. */
const char *bench_failure(void);

/* Per-round results, as children report them to the orchestrator. */
struct bench_pp_round {
	uint64_t p50, p99, min; /* ns */
	uint64_t n;		/* samples */
	uint64_t c2c;		/* ns, core-to-core round trip around the round; 0: not probed */
};

struct bench_tp_round {
	uint64_t ns, messages, bytes;
	uint64_t start; /* CLOCK_MONOTONIC ns of side A's first send: pairs' windows align */
};

/*
 * Children: run one side ("a", "b"), both as two threads ("both"), or both as this process
 * (side A) and a fork() of it (side B) made before any library state exists ("pair"); results
 * go to result_fd.
 */
int bench_child_run(const struct bench_cell *cell, const char *role, int result_fd);

/* Encodes a cell as the hidden --child command line and back. */
#define BENCH_CELL_ARGS 20
void bench_cell_to_argv(const struct bench_cell *cell, char buf[BENCH_CELL_ARGS][80]);
int bench_cell_from_argv(char *const *argv, size_t argc, struct bench_cell *ret_cell);

/* RouDi, the iceoryx daemon, owned by the orchestrator. */
struct bench_roudi {
	pid_t pid;
	bool killed;
	char why[256]; /* why it is not running, when start failed */
	char log_path[128];
};

/*
 * Starts iox-roudi (path: NULL to search) with mempools for `sizes`, each for as many pairs
 * at once as `pairs` says for that size, and waits until ready.
 */
int bench_roudi_start(struct bench_roudi *roudi, const char *path, const char *dir,
		      const uint64_t *sizes, const unsigned *pairs, size_t n_sizes,
		      uint64_t capacity);
/* Stops it (SIGTERM, then SIGKILL); idempotent. */
void bench_roudi_stop(struct bench_roudi *roudi);

/* The orchestrator's view of one cell. */
enum bench_status {
	BENCH_NOT_RUN,
	BENCH_OK,
	BENCH_ERROR,
	BENCH_SKIPPED, /* could not run here (RouDi missing, ...): not a failure */
};

struct bench_result {
	const struct bench_transport *transport;
	uint64_t size;
	enum bench_touch touch;
	enum bench_placement placement;
	unsigned pairs; /* 1, or BENCH_OVERSUB_PAIRS */
	enum bench_status status;
	char why[256];
	unsigned n_pp, n_tp, n_tp_pairs;
	/* Ping-pongs: one per round and pair (round-major), each pair's own percentiles. */
	struct bench_pp_round pp[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS];
	/* Streaming: one per round; with several pairs, their sum over their common window. */
	struct bench_tp_round tp[BENCH_MAX_ROUNDS];
	struct bench_tp_round tp_pairs[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS]; /* pairs > 1 */
	/* Medians over the rounds (and pairs); negative when not measured. */
	double rtt_p50_ns, rtt_p99_ns, rtt_min_ns;
	double c2c_ns; /* the core-to-core probe's round trip */
	double msgs_per_sec, gb_per_sec;
	double wall_sec; /* the cell's wall time, spawning included */
};

/* A whole run, for the reports. */
struct bench_report {
	const struct bench_transport *transports[BENCH_MAX_TRANSPORTS]; /* selected, in order */
	size_t n_transports;
	uint64_t sizes[BENCH_MAX_SIZES];
	size_t n_sizes;
	struct bench_result *results; /* every cell, in the order they run in a round */
	size_t n_results;
	unsigned placements; /* 1 << BENCH_PLACEMENT_* of every placement in the run */
	unsigned rounds;
	bool touch_forced;	/* --touch: every cell has `touch` */
	enum bench_touch touch; /* when forced */
	uint64_t capacity;	/* 0: automatic per size */
	unsigned round_ms;
	bool quick, pinned;	   /* pinned: the pinned placement has two CPUs to pin to */
	int cpus[_BENCH_SIDE_MAX]; /* the pinned placement's CPUs; -1 when not pinned */
	int shared_cpu;		   /* the shared placement's CPU */
	unsigned n_cpus;	   /* CPUs this process may run on */
	double wall_sec;	   /* the whole run's */
	char date[64], machine[256], command[512];
};

/*
 * The cell of a placement, transport and size, at touch `touch`; with `touch_exact` false,
 * at edges where the run has it, else at whatever touch it has. NULL when not in the run.
 */
struct bench_result *bench_report_get(const struct bench_report *rep,
				      enum bench_placement placement, enum bench_touch touch,
				      bool touch_exact, const char *transport_id, uint64_t size);
void bench_report_finish_result(struct bench_result *res);
void bench_report_markdown(FILE *f, const struct bench_report *rep);
int bench_report_json(const char *path, const struct bench_report *rep);
int bench_report_plot(const char *path, const struct bench_report *rep, const char *dir);
const char *bench_touch_to_string(enum bench_touch touch);
const char *bench_placement_to_string(enum bench_placement placement);
int bench_placement_from_string(const char *s, enum bench_placement *ret);
char *bench_format_size(char *buf, size_t n, uint64_t size);

/* The queue depth transports use for a size and ring capacity: how many messages fit. */
uint64_t bench_queue_depth(uint64_t size, uint64_t capacity);

/*
 * The ring capacity for a message size: `forced` when not 0, otherwise the power of two at
 * or above both 1 MiB and 16 messages.
 */
uint64_t bench_capacity(uint64_t size, uint64_t forced);

#endif
