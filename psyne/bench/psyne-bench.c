/* SPDX-License-Identifier: MIT */
/*
 * psyne-bench: libpsyne side by side with ZeroMQ, NNG, iceoryx and a bare SPSC ring, and its
 * stream transports with ZeroMQ, NNG and raw sockets, in one run on one machine. This file
 * is the orchestrator: it parses the command line, plans the cells (transport, size, touch
 * policy, placement), starts RouDi when iceoryx is wanted, runs every cell in fresh children
 * of this same binary (the hidden --child role), collects their per-round results and hands
 * them to the reports. docs/bench.md describes what is measured and how.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "common/log.h"
#include "common/string-util.h"
#include "psyne.h"

#define DEFAULT_ROUNDS 3
/*
 * A round takes a few seconds; a cell still running after a minute has hung (a lost message
 * waits forever), and the run goes on without it. Long --round-ms values get more time.
 */
#define DEFAULT_TIMEOUT_SEC 60
#define SMOKE_TIMEOUT_SEC 60

extern char **environ;

static const char *arg_sizes = "64,4K,1M";
static const char *arg_only = NULL;
static const char *arg_json = NULL;
static const char *arg_plot = NULL;
static const char *arg_markdown = NULL;
static const char *arg_roudi = NULL;
static unsigned arg_rounds = DEFAULT_ROUNDS;
static enum bench_touch arg_touch = BENCH_TOUCH_EDGES;
static bool arg_touch_forced = false; /* --touch: one policy for every cell */
static unsigned arg_round_ms = 0;
static uint64_t arg_capacity = 0;
static unsigned arg_timeout_sec = 0;
static bool arg_quick = false;
static bool arg_smoke = false;
static unsigned arg_placements = (1u << _BENCH_PLACEMENT_MAX) - 1;
static bool arg_placements_set = false; /* --placement or --no-pin: no default trimming */

/*
 * Without --placement, the placements other than pinned run only at this size and only the
 * transports the targets compare (docs/bench.md, "The placements"); pinned runs everything.
 * Without --touch, touch=all cells run beside touch=edges ones from this size up, pinned.
 */
#define DEFAULT_PLACEMENT_SIZE 64
#define TOUCH_ALL_FROM_SIZE 4096

static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void help(void)
{
	printf("Usage: psyne-bench [OPTIONS]\n"
	       "\n"
	       "Runs libpsyne side by side with ZeroMQ, NNG, iceoryx and a bare two-thread SPSC\n"
	       "ring (the calibration), and psyne's unix:// and tcp:// with ZeroMQ, NNG and raw\n"
	       "sockets, on this machine. Prints markdown tables of round-trip latency and\n"
	       "one-way throughput (local and network transports), with the core-to-core round\n"
	       "trip each cell's two CPUs measured, followed by RATIO lines for psyne's targets\n"
	       "(and NOTE lines where two compared cells ran at different CPU distances).\n"
	       "\n"
	       "Options:\n"
	       "  -h --help             Show this help and exit\n"
	       "  -q --quick            Short run: 64 B only, short rounds (about 1.5 minutes)\n"
	       "     --smoke            Check every transport moves a handful of messages intact\n"
	       "                        (every byte written and verified) in every placement;\n"
	       "                        exit 1 on any failure\n"
	       "  -s --sizes=LIST       Message sizes, K/M suffixes (default 64,4K,1M)\n"
	       "  -o --only=LIST        Transports or families: calib, psyne, psyne-memory,\n"
	       "                        psyne-ipc, psyne-unix, psyne-tcp, zmq, zmq-inproc,\n"
	       "                        zmq-ipc, zmq-tcp, nng, nng-inproc, nng-ipc, nng-tcp,\n"
	       "                        iceoryx, raw, raw-unix, raw-tcp; net (every socket\n"
	       "                        transport: unix, ipc and tcp), psyne-net; targets (the\n"
	       "                        columns the RATIO lines compare) (default all)\n"
	       "  -p --placement=LIST   Where the two sides run: pinned (side A on one CPU, B on\n"
	       "                        another), unpinned (nobody pinned; B is a fork() of A),\n"
	       "                        shared (both on one CPU), oversub (4 unpinned pairs at\n"
	       "                        once). Default: all four, the last three only at 64 B\n"
	       "                        and, without --only, for --only=targets; a placement\n"
	       "                        named here runs every selected transport and size\n"
	       "  -r --rounds=N         Rounds per cell, interleaved across cells; medians are\n"
	       "                        reported (default 3)\n"
	       "     --touch=edges|all  Force one touch policy on every cell. edges: write/read\n"
	       "                        the 32-byte header and the last 8 bytes of each payload;\n"
	       "                        all: memset and check every byte (copy-inclusive).\n"
	       "                        Default: edges, and all beside it from 4 KiB up, pinned\n"
	       "     --round-ms=MS      Size each round to last about MS milliseconds (default\n"
	       "                        500, 150 with --quick)\n"
	       "     --capacity=BYTES   Ring bytes for psyne and the calibration ring (default:\n"
	       "                        a power of two >= 1M and >= 16 messages); queue depths of\n"
	       "                        the others follow\n"
	       "     --timeout=SEC      Give up on a cell's round after SEC seconds (default %d,\n"
	       "                        or 10 x --round-ms when that is longer)\n"
	       "     --no-pin           The same as --placement=unpinned\n"
	       "     --roudi=PATH       The iox-roudi binary (default: searched in PATH)\n"
	       "     --json=FILE        Also write the results as JSON\n"
	       "     --markdown=FILE    Also write the markdown report to FILE\n"
	       "     --plot=FILE.png    Draw latency and throughput bars with gnuplot\n"
	       "\n"
	       "Progress goes to stderr, the report to stdout: one section per placement. Exit\n"
	       "status: 0 when every transport ran (targets missed or not), 1 when a transport\n"
	       "failed, 2 on usage errors.\n",
	       DEFAULT_TIMEOUT_SEC);
}

static int usage_error(const char *format, ...) _printf_(1, 2);
static int usage_error(const char *format, ...)
{
	va_list ap;

	fputs("psyne-bench: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputs("\nTry 'psyne-bench --help'.\n", stderr);
	return -EINVAL;
}

static int parse_placements(const char *list)
{
	_cleanup_free_ char *copy = strdup(list);
	char *saveptr = NULL;

	if (!copy)
		return log_oom();
	arg_placements = 0;
	for (char *w = strtok_r(copy, ",", &saveptr); w; w = strtok_r(NULL, ",", &saveptr)) {
		enum bench_placement p;

		if (bench_placement_from_string(w, &p) < 0)
			return usage_error("--placement: unknown placement '%s' (pinned, unpinned, "
					   "shared or oversub)",
					   w);
		arg_placements |= 1u << p;
	}
	if (arg_placements == 0)
		return usage_error("--placement: empty list");
	arg_placements_set = true;
	return 0;
}

static int parse_argv(int argc, char *argv[])
{
	enum {
		ARG_SMOKE = 0x100,
		ARG_TOUCH,
		ARG_ROUND_MS,
		ARG_CAPACITY,
		ARG_TIMEOUT,
		ARG_NO_PIN,
		ARG_ROUDI,
		ARG_JSON,
		ARG_MARKDOWN,
		ARG_PLOT,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "quick", no_argument, NULL, 'q' },
		{ "smoke", no_argument, NULL, ARG_SMOKE },
		{ "sizes", required_argument, NULL, 's' },
		{ "only", required_argument, NULL, 'o' },
		{ "placement", required_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "touch", required_argument, NULL, ARG_TOUCH },
		{ "round-ms", required_argument, NULL, ARG_ROUND_MS },
		{ "capacity", required_argument, NULL, ARG_CAPACITY },
		{ "timeout", required_argument, NULL, ARG_TIMEOUT },
		{ "no-pin", no_argument, NULL, ARG_NO_PIN },
		{ "roudi", required_argument, NULL, ARG_ROUDI },
		{ "json", required_argument, NULL, ARG_JSON },
		{ "markdown", required_argument, NULL, ARG_MARKDOWN },
		{ "plot", required_argument, NULL, ARG_PLOT },
		{ NULL, 0, NULL, 0 }
	};
	bool sizes_set = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "hqs:o:p:r:", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help();
			return 0;
		case 'q':
			arg_quick = true;
			break;
		case ARG_SMOKE:
			arg_smoke = true;
			break;
		case 's':
			arg_sizes = optarg;
			sizes_set = true;
			break;
		case 'o':
			arg_only = optarg;
			break;
		case 'p':
			r = parse_placements(optarg);
			if (r < 0)
				return r;
			break;
		case 'r':
			if (safe_atou(optarg, &arg_rounds) < 0 || arg_rounds < 1 ||
			    arg_rounds > BENCH_MAX_ROUNDS)
				return usage_error("--rounds: invalid count '%s' (1 to %d)", optarg,
						   BENCH_MAX_ROUNDS);
			break;
		case ARG_TOUCH:
			if (streq(optarg, "edges"))
				arg_touch = BENCH_TOUCH_EDGES;
			else if (streq(optarg, "all"))
				arg_touch = BENCH_TOUCH_ALL;
			else
				return usage_error("--touch: invalid policy '%s' (edges or all)",
						   optarg);
			arg_touch_forced = true;
			break;
		case ARG_ROUND_MS:
			if (safe_atou(optarg, &arg_round_ms) < 0 || arg_round_ms < 10 ||
			    arg_round_ms > 60000)
				return usage_error(
					"--round-ms: invalid duration '%s' (10 to 60000)", optarg);
			break;
		case ARG_CAPACITY:
			if (parse_size(optarg, &arg_capacity) < 0 || arg_capacity < 4096 ||
			    arg_capacity > (UINT64_C(1) << 30) || !IS_POWER_OF_2(arg_capacity))
				return usage_error("--capacity: invalid size '%s' (a power of two, "
						   "4K to 1G)",
						   optarg);
			break;
		case ARG_TIMEOUT:
			if (safe_atou(optarg, &arg_timeout_sec) < 0 || arg_timeout_sec < 1 ||
			    arg_timeout_sec > 86400)
				return usage_error("--timeout: invalid seconds '%s'", optarg);
			break;
		case ARG_NO_PIN:
			arg_placements = 1u << BENCH_PLACEMENT_UNPINNED;
			arg_placements_set = true;
			break;
		case ARG_ROUDI:
			arg_roudi = optarg;
			break;
		case ARG_JSON:
			arg_json = optarg;
			break;
		case ARG_MARKDOWN:
			arg_markdown = optarg;
			break;
		case ARG_PLOT:
			arg_plot = optarg;
			break;
		case '?':
			fputs("Try 'psyne-bench --help'.\n", stderr);
			return -EINVAL;
		default:
			return -EINVAL;
		}

	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (arg_quick && arg_smoke)
		return usage_error("--quick and --smoke exclude each other");
	if ((arg_quick || arg_smoke) && sizes_set)
		return usage_error("--sizes cannot be combined with --quick or --smoke");
	if (arg_quick)
		arg_sizes = "64";
	if (arg_smoke) {
		arg_sizes = "64,4K,1M";
		arg_touch = BENCH_TOUCH_ALL;
		arg_touch_forced = true;
		arg_rounds = 1;
	}
	if (arg_timeout_sec == 0)
		arg_timeout_sec = arg_smoke ? SMOKE_TIMEOUT_SEC :
					      MAX(DEFAULT_TIMEOUT_SEC, arg_round_ms / 100);
	return 1;
}

static int parse_sizes(const char *list, struct bench_report *rep)
{
	_cleanup_free_ char *copy = strdup(list);
	char *saveptr = NULL;

	if (!copy)
		return log_oom();
	for (char *w = strtok_r(copy, ",", &saveptr); w; w = strtok_r(NULL, ",", &saveptr)) {
		uint64_t size;

		if (parse_size(w, &size) < 0 || size < BENCH_MIN_SIZE || size > BENCH_MAX_SIZE)
			return usage_error("--sizes: invalid size '%s' (%d bytes to 256M)", w,
					   BENCH_MIN_SIZE);
		if (arg_capacity != 0 && size > arg_capacity / 2 - 64)
			return usage_error("--sizes: '%s' does not fit twice in --capacity", w);
		if (rep->n_sizes >= BENCH_MAX_SIZES)
			return usage_error("--sizes: more than %d sizes", BENCH_MAX_SIZES);
		rep->sizes[rep->n_sizes++] = size;
	}
	if (rep->n_sizes == 0)
		return usage_error("--sizes: empty list");
	return 0;
}

static int parse_only(const char *list, struct bench_report *rep)
{
	bool wanted[BENCH_MAX_TRANSPORTS] = { false };
	_cleanup_free_ char *copy = NULL;
	char *saveptr = NULL;

	if (!list) {
		for (size_t i = 0; bench_transports[i]; i++)
			rep->transports[rep->n_transports++] = bench_transports[i];
		return 0;
	}

	copy = strdup(list);
	if (!copy)
		return log_oom();
	for (char *w = strtok_r(copy, ",", &saveptr); w; w = strtok_r(NULL, ",", &saveptr)) {
		bool found = false;

		for (size_t i = 0; bench_transports[i]; i++)
			if (bench_transport_matches(bench_transports[i], w)) {
				wanted[i] = true;
				found = true;
			}
		if (!found)
			return usage_error("--only: unknown transport '%s'", w);
	}
	/* Always in the canonical column order, whatever the order of the list. */
	for (size_t i = 0; bench_transports[i]; i++)
		if (wanted[i])
			rep->transports[rep->n_transports++] = bench_transports[i];
	return 0;
}

/*
 * Round sizes: side A warms up, measures the rate and picks the count that fills a round,
 * within these bounds. The smoke test uses fixed small counts instead.
 */
static void fill_counts(struct bench_cell *cell)
{
	if (arg_smoke) {
		cell->pp_min = cell->pp_max = 16;
		cell->tp_min = cell->tp_max = cell->size >= (UINT64_C(1) << 20) ? 16 : 256;
		cell->warmup_ms = cell->round_ms = 0;
		return;
	}
	cell->pp_min = 200;
	cell->pp_max = BENCH_MAX_PP;
	cell->tp_min = 1000;
	cell->tp_max = UINT64_C(100000000);
	cell->warmup_ms = arg_quick ? 100 : 200;
	cell->round_ms = arg_round_ms != 0 ? arg_round_ms : arg_quick ? 150 : 500;
}

/* Whether the run measures `t` at `size` in placement `p` (see DEFAULT_PLACEMENT_SIZE). */
static bool placement_wants(enum bench_placement p, const struct bench_transport *t, uint64_t size)
{
	if (p == BENCH_PLACEMENT_PINNED || arg_placements_set)
		return true;
	if (size != DEFAULT_PLACEMENT_SIZE)
		return false;
	/* The smoke test forks every transport's side B once: its library must cope. */
	if (arg_smoke && p == BENCH_PLACEMENT_UNPINNED)
		return true;
	/* An explicit --only is the user's choice; the default set is the targets'. */
	return arg_only || bench_transport_in_targets(t);
}

/* Whether the run has touch=`touch` cells in placement `p` at `size`. */
static bool touch_wanted(enum bench_placement p, enum bench_touch touch, uint64_t size)
{
	if (arg_touch_forced)
		return touch == arg_touch;
	return touch == BENCH_TOUCH_EDGES ||
	       (p == BENCH_PLACEMENT_PINNED && size >= TOUCH_ALL_FROM_SIZE);
}

/*
 * The cells of the run, in the order a round runs them: placement, size, touch, transport.
 * Every cell is independent; rounds interleave over the whole list.
 */
static int plan_cells(struct bench_report *rep)
{
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		n = 0;
		for (enum bench_placement p = 0; p < _BENCH_PLACEMENT_MAX; p++) {
			if (!(arg_placements & (1u << p)))
				continue;
			for (size_t s = 0; s < rep->n_sizes; s++)
				for (enum bench_touch touch = 0; touch < _BENCH_TOUCH_MAX;
				     touch++) {
					if (!touch_wanted(p, touch, rep->sizes[s]))
						continue;
					for (size_t t = 0; t < rep->n_transports; t++) {
						const struct bench_transport *tr =
							rep->transports[t];

						if (!placement_wants(p, tr, rep->sizes[s]))
							continue;
						if (pass == 1)
							rep->results[n] = (struct bench_result){
								.transport = tr,
								.size = rep->sizes[s],
								.touch = touch,
								.placement = p,
								.pairs =
									p == BENCH_PLACEMENT_OVERSUB ?
										BENCH_OVERSUB_PAIRS :
										1,
							};
						n++;
					}
				}
		}
		if (pass == 0) {
			if (n == 0)
				return usage_error(
					"no cell to run: --placement, --only and --sizes "
					"leave nothing (the placements other than "
					"pinned run at 64 B only unless named)");
			rep->results = calloc(n, sizeof(*rep->results));
			if (!rep->results)
				return log_oom();
		}
	}
	rep->n_results = n;
	for (size_t i = 0; i < n; i++)
		rep->placements |= 1u << rep->results[i].placement;
	return 0;
}

struct child {
	pid_t pid;
	int fd; /* read end of its result pipe; -EBADF once at EOF */
	char buf[4096];
	size_t len;
	const char *role;
};

static int spawn_child(const char *exe, const struct bench_cell *cell, const char *role,
		       struct child *ret_child)
{
	char fields[BENCH_CELL_ARGS][80];
	char *argv[BENCH_CELL_ARGS + 4];
	posix_spawn_file_actions_t actions;
	_cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
	int fds[2], r;
	size_t n = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	rfd = fds[0];
	wfd = fds[1];
	/* Keep the write end off fd 3: dup2() onto itself would leave O_CLOEXEC set. */
	if (wfd == 3) {
		int moved = fcntl(wfd, F_DUPFD_CLOEXEC, 10);

		if (moved < 0)
			return -errno;
		wfd = safe_close(wfd);
		wfd = moved;
	}

	bench_cell_to_argv(cell, fields);
	argv[n++] = (char *)exe;
	argv[n++] = (char *)"--child";
	argv[n++] = (char *)role;
	for (size_t i = 0; i < BENCH_CELL_ARGS; i++)
		argv[n++] = fields[i];
	argv[n] = NULL;

	r = posix_spawn_file_actions_init(&actions);
	if (r != 0)
		return -r;
	r = posix_spawn_file_actions_adddup2(&actions, wfd, 3);
	/* Libraries that print to stdout (iceoryx) must not land in the report. */
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn(&pid, exe, &actions, NULL, argv, environ);
	(void)posix_spawn_file_actions_destroy(&actions);
	if (r != 0)
		return -r;

	*ret_child = (struct child){ .pid = pid, .fd = TAKE_FD(rfd), .role = role };
	return 0;
}

static void set_why(struct bench_result *res, const char *format, ...) _printf_(2, 3);
static void set_why(struct bench_result *res, const char *format, ...)
{
	va_list ap;

	if (res->why[0] != '\0')
		return;
	va_start(ap, format);
	(void)vsnprintf(res->why, sizeof(res->why), format, ap);
	va_end(ap);
}

/* What the children of one round of one cell reported: a line per round and pair. */
struct round_lines {
	unsigned n_pp, n_tp;
	struct bench_pp_round pp[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS];
	struct bench_tp_round tp[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS];
	unsigned tp_round[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS];
};

static void parse_result_line(const char *line, struct round_lines *lines, struct bench_result *res)
{
	unsigned round;
	uint64_t a, b, c, d, e;
	int n;

	if (sscanf(line, "pp %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &round,
		   &a, &b, &c, &d, &e) == 6) {
		if (lines->n_pp < ELEMENTSOF(lines->pp))
			lines->pp[lines->n_pp++] = (struct bench_pp_round){
				.p50 = a, .p99 = b, .min = c, .n = d, .c2c = e
			};
	} else if ((n = sscanf(line, "tp %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &round,
			       &a, &b, &c, &d)) >= 4) {
		if (lines->n_tp < ELEMENTSOF(lines->tp)) {
			lines->tp_round[lines->n_tp] = round;
			lines->tp[lines->n_tp++] = (struct bench_tp_round){
				.ns = a, .messages = b, .bytes = c, .start = n == 5 ? d : 0
			};
		}
	} else if (startswith(line, "error ")) {
		set_why(res, "%s", line + 6);
		res->status = BENCH_ERROR;
	}
}

/* Reads what the child wrote; returns false at EOF. */
static bool read_child(struct child *child, struct round_lines *lines, struct bench_result *res)
{
	ssize_t n;
	char *nl;

	n = read(child->fd, child->buf + child->len, sizeof(child->buf) - 1 - child->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		child->fd = safe_close(child->fd);
		return false;
	}
	child->len += (size_t)n;
	child->buf[child->len] = '\0';
	while ((nl = strchr(child->buf, '\n'))) {
		*nl = '\0';
		parse_result_line(child->buf, lines, res);
		child->len -= (size_t)(nl + 1 - child->buf);
		memmove(child->buf, nl + 1, child->len + 1);
	}
	if (child->len == sizeof(child->buf) - 1)
		child->len = 0; /* a line that long is garbage */
	return true;
}

/* Killing side A kills a side B forked from it too (PR_SET_PDEATHSIG). */
static void kill_children(struct child *children, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (children[i].pid > 0)
			(void)kill(children[i].pid, SIGKILL);
}

/*
 * Adds one round's lines to the cell. Round trips: every pair's line is a sample of its own.
 * Streaming with several pairs: per round, the sum of their messages and bytes over their
 * common wall time, from the first pair's first send to the last pair's receipt of its end
 * marker (the pairs' own lines are kept in tp_pairs).
 */
static void merge_lines(const struct bench_cell *cell, const struct round_lines *lines,
			struct bench_result *res)
{
	for (unsigned i = 0; i < lines->n_pp && res->n_pp < ELEMENTSOF(res->pp); i++)
		res->pp[res->n_pp++] = lines->pp[i];

	if (cell->pairs == 1) {
		for (unsigned i = 0; i < lines->n_tp && res->n_tp < ELEMENTSOF(res->tp); i++)
			res->tp[res->n_tp++] = lines->tp[i];
		return;
	}

	for (unsigned round = 0; round < cell->rounds && res->n_tp < ELEMENTSOF(res->tp); round++) {
		struct bench_tp_round sum = { .start = UINT64_MAX };
		uint64_t end = 0;
		unsigned n = 0;

		for (unsigned i = 0; i < lines->n_tp; i++) {
			const struct bench_tp_round *tp = &lines->tp[i];

			if (lines->tp_round[i] != round)
				continue;
			if (res->n_tp_pairs < ELEMENTSOF(res->tp_pairs))
				res->tp_pairs[res->n_tp_pairs++] = *tp;
			sum.messages += tp->messages;
			sum.bytes += tp->bytes;
			sum.start = MIN(sum.start, tp->start);
			end = MAX(end, tp->start + tp->ns);
			n++;
		}
		if (n == 0)
			continue;
		sum.ns = end - sum.start;
		res->tp[res->n_tp++] = sum;
	}
}

/*
 * A TCP port of 127.0.0.1 that nothing uses right now: the one the kernel picks for a bind to
 * port 0. Side B of the cell binds it a moment later (with SO_REUSEADDR where the library
 * sets it), side A connects to it. The n ports of one cell are held until all are picked, so
 * that they differ.
 */
static int pick_ports(unsigned *ports, size_t n)
{
	int fds[BENCH_MAX_PAIRS];
	size_t opened = 0;
	int r = 0;

	assert(n <= BENCH_MAX_PAIRS);
	for (; opened < n; opened++) {
		struct sockaddr_in sin = {
			.sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		};
		socklen_t len = sizeof(sin);

		fds[opened] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[opened] < 0) {
			r = -errno;
			break;
		}
		if (bind(fds[opened], (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(fds[opened], (struct sockaddr *)&sin, &len) < 0) {
			r = -errno;
			opened++;
			break;
		}
		ports[opened] = ntohs(sin.sin_port);
	}
	for (size_t i = 0; i < opened; i++)
		(void)safe_close(fds[i]);
	return r;
}

/*
 * The children of one round of a cell. Pinned and shared: sides B and A exec'd apart (B
 * first, so that it binds or listens first), or one process with two threads. Unpinned: one
 * process, which forks side B ("pair") or runs two threads. Oversubscribed: that, for each of
 * the pairs, at once.
 */
static int spawn_children(const char *exe, const struct bench_cell *cell, struct child *children,
			  size_t *n_children)
{
	const struct bench_transport *t = cell->transport;
	bool forked = cell->placement == BENCH_PLACEMENT_UNPINNED ||
		      cell->placement == BENCH_PLACEMENT_OVERSUB;
	unsigned ports[BENCH_MAX_PAIRS] = { 0 };
	int r;

	if (t->uses_port) {
		r = pick_ports(ports, cell->pairs);
		if (r < 0)
			return r;
	}

	for (unsigned pair = 0; pair < cell->pairs; pair++) {
		struct bench_cell c = *cell;
		const char *roles[2];
		size_t n_roles = 0;

		c.pair = pair;
		c.port = ports[pair];
		if (!t->two_processes)
			roles[n_roles++] = "both";
		else if (forked)
			roles[n_roles++] = "pair";
		else {
			roles[n_roles++] = "b";
			roles[n_roles++] = "a";
		}
		for (size_t i = 0; i < n_roles; i++) {
			r = spawn_child(exe, &c, roles[i], &children[*n_children]);
			if (r < 0)
				return r;
			(*n_children)++;
		}
	}
	return 0;
}

static void run_cell(const char *exe, const struct bench_cell *cell, struct bench_result *res)
{
	struct child children[2 * BENCH_MAX_PAIRS];
	struct round_lines lines = { .n_pp = 0 };
	size_t n_children = 0, open_fds;
	uint64_t start = bench_now(), deadline;
	int r;

	deadline = start + (uint64_t)arg_timeout_sec * 1000000000;
	res->status = BENCH_OK;

	r = spawn_children(exe, cell, children, &n_children);
	if (r < 0) {
		set_why(res, "cannot start the children (or find free TCP ports): %s",
			strerror(-r));
		res->status = BENCH_ERROR;
	}

	open_fds = n_children;
	while (res->status == BENCH_OK && open_fds > 0) {
		struct pollfd pfds[ELEMENTSOF(children)];
		size_t map[ELEMENTSOF(children)], n = 0;

		if (interrupted) {
			set_why(res, "interrupted");
			res->status = BENCH_ERROR;
			break;
		}
		if (bench_now() > deadline) {
			set_why(res, "timed out after %u s (raise --timeout?)", arg_timeout_sec);
			res->status = BENCH_ERROR;
			break;
		}
		for (size_t i = 0; i < n_children; i++)
			if (children[i].fd >= 0) {
				pfds[n] = (struct pollfd){ .fd = children[i].fd, .events = POLLIN };
				map[n++] = i;
			}
		r = poll(pfds, n, 200);
		if (r < 0 && errno != EINTR) {
			set_why(res, "poll: %s", strerror(errno));
			res->status = BENCH_ERROR;
			break;
		}
		for (size_t i = 0; r > 0 && i < n; i++)
			if (pfds[i].revents != 0 && !read_child(&children[map[i]], &lines, res))
				open_fds--;
		/* One side failed: the other may wait for it forever. */
	}

	if (res->status == BENCH_ERROR)
		kill_children(children, n_children);
	for (size_t i = 0; i < n_children; i++) {
		int status = 0;

		while (waitpid(children[i].pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
			set_why(res, "child %s exited with status %d", children[i].role,
				WEXITSTATUS(status));
			res->status = BENCH_ERROR;
		} else if (WIFSIGNALED(status) && res->status != BENCH_ERROR) {
			set_why(res, "child %s killed by signal %d", children[i].role,
				WTERMSIG(status));
			res->status = BENCH_ERROR;
		}
		children[i].fd = safe_close(children[i].fd);
	}

	if (res->status == BENCH_OK &&
	    ((cell->pp_max > 0 && lines.n_pp != cell->rounds * cell->pairs) ||
	     (cell->tp_max > 0 && lines.n_tp != cell->rounds * cell->pairs))) {
		set_why(res, "the children reported %u+%u rounds, expected %u of each", lines.n_pp,
			lines.n_tp, cell->rounds * cell->pairs);
		res->status = BENCH_ERROR;
	}
	if (res->status == BENCH_OK)
		merge_lines(cell, &lines, res);

	res->wall_sec += (double)(bench_now() - start) / 1e9;
	bench_report_finish_result(res);
}

/*
 * Whether the spinning loops of the harness must yield: when more sides spin than there are
 * CPUs for them, a side that spins with pause burns the time slice its peer needs.
 */
static bool placement_yields(const struct bench_report *rep, enum bench_placement p)
{
	switch (p) {
	case BENCH_PLACEMENT_PINNED:
	case BENCH_PLACEMENT_UNPINNED:
		return rep->n_cpus < 2;
	case BENCH_PLACEMENT_SHARED:
		return true;
	default:
		return rep->n_cpus < 2 * BENCH_OVERSUB_PAIRS;
	}
}

/* Runs round `round` of cell `i`. */
static void run_round(const char *exe, const struct bench_report *rep, size_t i, unsigned round,
		      const char *dir)
{
	struct bench_result *res = &rep->results[i];
	struct bench_cell cell = {
		.transport = res->transport,
		.size = res->size,
		.capacity = bench_capacity(res->size, arg_capacity),
		.rounds = 1,
		.touch = res->touch,
		.placement = res->placement,
		.pairs = res->pairs,
		.yield = placement_yields(rep, res->placement),
		.cpu = { -1, -1 },
	};

	if (res->placement == BENCH_PLACEMENT_PINNED) {
		cell.cpu[BENCH_SIDE_A] = rep->cpus[0];
		cell.cpu[BENCH_SIDE_B] = rep->cpus[1];
	} else if (res->placement == BENCH_PLACEMENT_SHARED)
		cell.cpu[BENCH_SIDE_A] = cell.cpu[BENCH_SIDE_B] = rep->shared_cpu;

	fill_counts(&cell);
	(void)snprintf(cell.tag, sizeof(cell.tag), "%d-%zu-%u", (int)getpid(), i, round);
	(void)snprintf(cell.dir, sizeof(cell.dir), "%s", dir);
	run_cell(exe, &cell, res);
}

/* One line per round: that round's values, not the medians. */
static void print_progress(size_t done, size_t total, unsigned round,
			   const struct bench_result *res)
{
	char size[32], where[32];

	bench_format_size(size, sizeof(size), res->size);
	(void)snprintf(where, sizeof(where), "%s, %s", bench_placement_to_string(res->placement),
		       bench_touch_to_string(res->touch));
	if (res->status == BENCH_OK && res->n_pp > round * res->pairs && res->n_tp > round) {
		const struct bench_tp_round *tp = &res->tp[round];

		/* Several pairs: the first pair's round trips, all pairs' throughput. */
		fprintf(stderr,
			"psyne-bench: [%3zu/%zu] round %u %-15s %7s %-17s: rtt p50 %9.2f us, "
			"%8.3f M msg/s, %8.3f GB/s\n",
			done, total, round + 1, res->transport->label, size, where,
			(double)res->pp[round * res->pairs].p50 / 1e3,
			(double)tp->messages * 1e3 / (double)MAX(tp->ns, UINT64_C(1)),
			(double)tp->bytes / (double)MAX(tp->ns, UINT64_C(1)));
	} else
		fprintf(stderr, "psyne-bench: [%3zu/%zu] round %u %-15s %7s %-17s: %s: %s\n", done,
			total, round + 1, res->transport->label, size, where,
			res->status == BENCH_SKIPPED ? "skipped" : "FAILED", res->why);
}

static void describe_machine(struct bench_report *rep)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[256], model[160] = "unknown CPU";
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	f = fopen("/proc/cpuinfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		const char *v = startswith(line, "model name");

		if (v && (v = strchr(v, ':'))) {
			(void)snprintf(model, sizeof(model), "%s", v + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (uname(&u) < 0)
		strcpy(u.release, "?");
	(void)snprintf(rep->machine, sizeof(rep->machine), "%s, %ld online CPUs, Linux %s", model,
		       sysconf(_SC_NPROCESSORS_ONLN), u.release);
	(void)strftime(rep->date, sizeof(rep->date), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
}

/*
 * The CPUs this process may use: the pinned placement puts side A on the first and side B
 * on the second (with fewer than two, nothing is pinned), the shared one both on the first.
 */
static void pick_cpus(struct bench_report *rep)
{
	cpu_set_t set;
	int cpus[2] = { -1, -1 };
	size_t n = 0;

	rep->cpus[0] = rep->cpus[1] = rep->shared_cpu = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		rep->n_cpus = 1;
		return;
	}
	rep->n_cpus = (unsigned)CPU_COUNT(&set);
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	rep->shared_cpu = cpus[0];
	rep->pinned = n == 2;
	if (rep->pinned) {
		rep->cpus[0] = cpus[0];
		rep->cpus[1] = cpus[1];
	}
}

/* The run directory holds only flat files: RouDi's config and log, sockets, plot data. */
static void remove_run_dir(const char *dir)
{
	_cleanup_closedir_ DIR *d = NULL;
	char path[PATH_MAX];

	d = opendir(dir);
	for (struct dirent *de = d ? readdir(d) : NULL; de; de = readdir(d)) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

/*
 * A line per cell, and a failure for any cell that failed, that measured nothing although
 * it ran (a placement that reports nothing), or that ran pinned without a probe value.
 */
static int print_smoke(const struct bench_report *rep)
{
	size_t failed = 0, passed[_BENCH_PLACEMENT_MAX] = { 0 },
	       cells[_BENCH_PLACEMENT_MAX] = { 0 };

	for (size_t i = 0; i < rep->n_results; i++) {
		const struct bench_result *res = &rep->results[i];
		const char *why = res->why;
		bool bad = res->status == BENCH_ERROR;
		char size[32];

		if (res->status == BENCH_OK && !(res->rtt_p50_ns > 0 && res->msgs_per_sec > 0)) {
			why = "reported no round trip or no throughput";
			bad = true;
		} else if (res->status == BENCH_OK && res->placement == BENCH_PLACEMENT_PINNED &&
			   rep->pinned && !(res->c2c_ns > 0)) {
			/* Pinned to two CPUs, every cell's round trips come with a probe. */
			why = "no core-to-core probe value";
			bad = true;
		}

		bench_format_size(size, sizeof(size), res->size);
		printf("%-4s %-15s %7s %-8s %-5s %s\n",
		       bad			    ? "FAIL" :
		       res->status == BENCH_SKIPPED ? "SKIP" :
						      "PASS",
		       res->transport->label, size, bench_placement_to_string(res->placement),
		       bench_touch_to_string(res->touch),
		       bad || res->status == BENCH_SKIPPED ? why : "");
		cells[res->placement]++;
		if (bad)
			failed++;
		else if (res->status == BENCH_OK)
			passed[res->placement]++;
	}
	for (enum bench_placement p = 0; p < _BENCH_PLACEMENT_MAX; p++)
		if (cells[p] > 0)
			printf("smoke: %s: %zu of %zu cells passed\n", bench_placement_to_string(p),
			       passed[p], cells[p]);
	printf("smoke: %zu of %zu cells failed\n", failed, rep->n_results);
	return failed > 0 ? -EIO : 0;
}

/* RouDi's pools: per size, the most iceoryx pairs that run at once. */
static int start_roudi(const struct bench_report *rep, const char *dir, struct bench_roudi *roudi)
{
	unsigned pairs[BENCH_MAX_SIZES] = { 0 };

	for (size_t i = 0; i < rep->n_results; i++) {
		const struct bench_result *res = &rep->results[i];

		if (!res->transport->needs_roudi)
			continue;
		for (size_t s = 0; s < rep->n_sizes; s++)
			if (rep->sizes[s] == res->size)
				pairs[s] = MAX(pairs[s], res->pairs);
	}
	return bench_roudi_start(roudi, arg_roudi, dir, rep->sizes, pairs, rep->n_sizes,
				 arg_capacity);
}

static int run(int argc, char *argv[])
{
	_cleanup_free_ struct bench_result *results = NULL;
	struct bench_report rep = { .rounds = 0 };
	struct bench_roudi roudi = { .pid = 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	char exe[PATH_MAX], dir[] = "/tmp/psyne-bench.XXXXXX";
	bool want_roudi = false, failed = false;
	uint64_t run_start = bench_now();
	size_t total, done = 0;
	ssize_t n;
	int r;

	r = parse_sizes(arg_sizes, &rep);
	if (r < 0)
		return r;
	r = parse_only(arg_only, &rep);
	if (r < 0)
		return r;
	r = plan_cells(&rep);
	results = rep.results;
	if (r < 0)
		return r;

	rep.rounds = arg_rounds;
	rep.touch_forced = arg_touch_forced;
	rep.touch = arg_touch;
	rep.capacity = arg_capacity;
	rep.round_ms = arg_round_ms != 0 ? arg_round_ms : arg_quick ? 150 : 500;
	rep.quick = arg_quick;
	pick_cpus(&rep);
	describe_machine(&rep);
	for (int i = 0, len = 0; i < argc && len < (int)sizeof(rep.command) - 1; i++)
		len += snprintf(rep.command + len, sizeof(rep.command) - (size_t)len, "%s%s",
				i > 0 ? " " : "", argv[i]);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return log_error_errno(errno, "Failed to find the bench binary: %m");
	exe[n] = '\0';

	if (!mkdtemp(dir))
		return log_error_errno(errno, "Failed to create a run directory: %m");

	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);

	for (size_t i = 0; i < rep.n_results; i++)
		want_roudi = want_roudi || rep.results[i].transport->needs_roudi;
	if (want_roudi) {
		fprintf(stderr, "psyne-bench: starting RouDi for iceoryx\n");
		r = start_roudi(&rep, dir, &roudi);
		if (r < 0)
			fprintf(stderr, "psyne-bench: iceoryx will be skipped: %s\n", roudi.why);
	}

	fprintf(stderr, "psyne-bench: %s; %zu cells (placements:%s%s%s%s), %u round(s)\n",
		rep.machine, rep.n_results,
		rep.placements & (1u << BENCH_PLACEMENT_PINNED) ?
			(rep.pinned ? " pinned" : " pinned (not pinned: one CPU)") :
			"",
		rep.placements & (1u << BENCH_PLACEMENT_UNPINNED) ? " unpinned" : "",
		rep.placements & (1u << BENCH_PLACEMENT_SHARED) ? " shared" : "",
		rep.placements & (1u << BENCH_PLACEMENT_OVERSUB) ? " oversub" : "", rep.rounds);

	/*
	 * Round r of every cell runs before round r + 1 of any: a drift of the machine during
	 * the run (a host moving vCPUs, a neighbour's load) then spreads over all columns
	 * instead of skewing the ones measured at the wrong moment.
	 */
	total = rep.n_results * rep.rounds;
	for (unsigned round = 0; round < rep.rounds && !interrupted; round++)
		for (size_t i = 0; i < rep.n_results && !interrupted; i++) {
			struct bench_result *res = &results[i];

			if (round == 0 && res->transport->needs_roudi && roudi.pid <= 0) {
				res->status = BENCH_SKIPPED;
				(void)snprintf(res->why, sizeof(res->why),
					       "RouDi not running: %.200s", roudi.why);
			}
			if (res->status == BENCH_OK || res->status == BENCH_NOT_RUN)
				run_round(exe, &rep, i, round, dir);
			if (res->status == BENCH_ERROR)
				failed = true;
			done++;
			if (round == 0 || res->status == BENCH_OK)
				print_progress(done, total, round, res);
		}

	for (size_t i = 0; i < rep.n_results; i++)
		bench_report_finish_result(&results[i]);
	rep.wall_sec = (double)(bench_now() - run_start) / 1e9;

	bench_roudi_stop(&roudi);
	if (roudi.killed)
		fprintf(stderr, "psyne-bench: RouDi did not stop on SIGTERM and was killed\n");

	if (interrupted) {
		remove_run_dir(dir);
		fprintf(stderr, "psyne-bench: interrupted\n");
		return -EINTR;
	}

	fprintf(stderr, "psyne-bench: %zu cells x %u round(s) in %.0f s\n", rep.n_results,
		rep.rounds, rep.wall_sec);

	if (arg_smoke) {
		remove_run_dir(dir);
		return print_smoke(&rep);
	}

	bench_report_markdown(stdout, &rep);
	fflush(stdout);
	if (arg_markdown) {
		_cleanup_fclose_ FILE *f = fopen(arg_markdown, "we");

		if (!f)
			log_error_errno(errno, "Failed to write '%s': %m", arg_markdown);
		else
			bench_report_markdown(f, &rep);
	}
	if (arg_json) {
		r = bench_report_json(arg_json, &rep);
		if (r < 0)
			log_error_errno(r, "Failed to write '%s': %m", arg_json);
	}
	if (arg_plot) {
		r = bench_report_plot(arg_plot, &rep, dir);
		if (r < 0 && r != -ENOENT)
			log_error_errno(r, "Failed to plot '%s': %m", arg_plot);
	}

	remove_run_dir(dir);
	return failed ? -EIO : 0;
}

/* libpsyne says nothing by itself: a child hands its warnings and errors to stderr. */
static void log_sink(int level, const char *message, void *userdata)
{
	log_full(level, "%s", message);
}

int main(int argc, char *argv[])
{
	int r;

	psyne_set_log_func(log_sink, PSYNE_LOG_WARNING, NULL);

	/* The hidden role: psyne-bench --child ROLE FIELDS..., results on fd 3. */
	if (argc >= 3 && streq(argv[1], "--child")) {
		struct bench_cell cell;

		if (bench_cell_from_argv(argv + 3, (size_t)argc - 3, &cell) < 0) {
			fputs("psyne-bench: --child: malformed cell\n", stderr);
			return 2;
		}
		/* A child must not outlive the orchestrator, which alone can reap it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			return EXIT_FAILURE;
		return bench_child_run(&cell, argv[2], 3) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}

	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;

	r = run(argc, argv);
	if (r == -EINVAL)
		return 2;
	if (r == -EINTR)
		return 130;
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
