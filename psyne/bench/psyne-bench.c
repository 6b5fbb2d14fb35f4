/* SPDX-License-Identifier: MIT */
/*
 * psyne-bench: libpsyne side by side with ZeroMQ, NNG, iceoryx and a bare SPSC ring, and its
 * stream transports with ZeroMQ, NNG and raw sockets, in one run on one machine. This file
 * is the orchestrator: it parses the command line, starts RouDi when iceoryx is wanted, runs
 * every cell in fresh children of this same binary (the hidden --child role), collects their
 * per-round results and hands them to the reports. docs/bench.md describes what is measured
 * and how.
 */
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
static unsigned arg_round_ms = 0;
static uint64_t arg_capacity = 0;
static unsigned arg_timeout_sec = 0;
static bool arg_quick = false;
static bool arg_smoke = false;
static bool arg_pin = true;

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
	       "  -q --quick            Short run: 64 B only, short rounds (about 40 s)\n"
	       "     --smoke            Check every transport moves a handful of messages intact\n"
	       "                        (every byte written and verified); exit 1 on any failure\n"
	       "  -s --sizes=LIST       Message sizes, K/M suffixes (default 64,4K,1M)\n"
	       "  -o --only=LIST        Transports or families: calib, psyne, psyne-memory,\n"
	       "                        psyne-ipc, psyne-unix, psyne-tcp, zmq, zmq-inproc,\n"
	       "                        zmq-ipc, zmq-tcp, nng, nng-inproc, nng-ipc, nng-tcp,\n"
	       "                        iceoryx, raw, raw-unix, raw-tcp; net (every socket\n"
	       "                        transport: unix, ipc and tcp), psyne-net (default all)\n"
	       "  -r --rounds=N         Rounds per cell, interleaved across cells; medians are\n"
	       "                        reported (default 3)\n"
	       "     --touch=edges|all  edges: write/read the 32-byte header and the last 8 bytes\n"
	       "                        of each payload (default); all: memset every byte and\n"
	       "                        check every byte (a copy-inclusive variant)\n"
	       "     --round-ms=MS      Size each round to last about MS milliseconds (default\n"
	       "                        500, 150 with --quick)\n"
	       "     --capacity=BYTES   Ring bytes for psyne and the calibration ring (default:\n"
	       "                        a power of two >= 1M and >= 16 messages); queue depths of\n"
	       "                        the others follow\n"
	       "     --timeout=SEC      Give up on a cell's round after SEC seconds (default %d,\n"
	       "                        or 10 x --round-ms when that is longer)\n"
	       "     --no-pin           Do not pin the two sides to two CPUs\n"
	       "     --roudi=PATH       The iox-roudi binary (default: searched in PATH)\n"
	       "     --json=FILE        Also write the results as JSON\n"
	       "     --markdown=FILE    Also write the markdown report to FILE\n"
	       "     --plot=FILE.png    Draw latency and throughput bars with gnuplot\n"
	       "\n"
	       "Progress goes to stderr, the report to stdout. Exit status: 0 when every\n"
	       "transport ran (targets missed or not), 1 when a transport failed, 2 on usage\n"
	       "errors.\n",
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
	int c;

	while ((c = getopt_long(argc, argv, "hqs:o:r:", options, NULL)) >= 0)
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
			arg_pin = false;
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

struct child {
	pid_t pid;
	int fd; /* read end of its result pipe; -EBADF once at EOF */
	char buf[4096];
	size_t len;
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

	*ret_child = (struct child){ .pid = pid, .fd = TAKE_FD(rfd) };
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

static void parse_result_line(const char *line, struct bench_result *res)
{
	unsigned round;
	uint64_t a, b, c, d, e;

	if (sscanf(line, "pp %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &round,
		   &a, &b, &c, &d, &e) == 6) {
		if (res->n_pp < BENCH_MAX_ROUNDS)
			res->pp[res->n_pp++] = (struct bench_pp_round){
				.p50 = a, .p99 = b, .min = c, .n = d, .c2c = e
			};
	} else if (sscanf(line, "tp %u %" SCNu64 " %" SCNu64 " %" SCNu64, &round, &a, &b, &c) ==
		   4) {
		if (res->n_tp < BENCH_MAX_ROUNDS)
			res->tp[res->n_tp++] =
				(struct bench_tp_round){ .ns = a, .messages = b, .bytes = c };
	} else if (startswith(line, "error ")) {
		set_why(res, "%s", line + 6);
		res->status = BENCH_ERROR;
	}
}

/* Reads what the child wrote; returns false at EOF. */
static bool read_child(struct child *child, struct bench_result *res)
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
		parse_result_line(child->buf, res);
		child->len -= (size_t)(nl + 1 - child->buf);
		memmove(child->buf, nl + 1, child->len + 1);
	}
	if (child->len == sizeof(child->buf) - 1)
		child->len = 0; /* a line that long is garbage */
	return true;
}

static void kill_children(struct child *children, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (children[i].pid > 0)
			(void)kill(children[i].pid, SIGKILL);
}

static void run_cell(const char *exe, const struct bench_cell *cell, struct bench_result *res)
{
	const struct bench_transport *t = cell->transport;
	const char *roles[2];
	struct child children[2] = { { .pid = 0, .fd = -EBADF }, { .pid = 0, .fd = -EBADF } };
	size_t n_children = 0, open_fds;
	uint64_t start = bench_now(), deadline;
	unsigned pp_before = res->n_pp, tp_before = res->n_tp;
	int r;

	deadline = start + (uint64_t)arg_timeout_sec * 1000000000;
	res->status = BENCH_OK;

	/* Side B first: it binds or listens, side A then finds it at once. */
	if (t->two_processes) {
		roles[0] = "b";
		roles[1] = "a";
	} else
		roles[0] = "both";

	for (size_t i = 0; i < (t->two_processes ? 2u : 1u); i++) {
		r = spawn_child(exe, cell, roles[i], &children[i]);
		if (r < 0) {
			set_why(res, "cannot spawn a child: %s", strerror(-r));
			res->status = BENCH_ERROR;
			break;
		}
		n_children++;
	}

	open_fds = n_children;
	while (open_fds > 0) {
		struct pollfd pfds[2];
		size_t map[2], n = 0;

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
			if (pfds[i].revents != 0 && !read_child(&children[map[i]], res))
				open_fds--;
		/* One side failed: the other may wait for it forever. */
		if (res->status == BENCH_ERROR)
			break;
	}

	if (res->status == BENCH_ERROR)
		kill_children(children, n_children);
	for (size_t i = 0; i < n_children; i++) {
		int status = 0;

		while (waitpid(children[i].pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
			set_why(res, "child %s exited with status %d", roles[i],
				WEXITSTATUS(status));
			res->status = BENCH_ERROR;
		} else if (WIFSIGNALED(status) && res->status != BENCH_ERROR) {
			set_why(res, "child %s killed by signal %d", roles[i], WTERMSIG(status));
			res->status = BENCH_ERROR;
		}
		children[i].fd = safe_close(children[i].fd);
	}

	if (res->status == BENCH_OK &&
	    ((cell->pp_max > 0 && res->n_pp != pp_before + cell->rounds) ||
	     (cell->tp_max > 0 && res->n_tp != tp_before + cell->rounds))) {
		set_why(res, "a child reported %u+%u rounds, expected %u", res->n_pp, res->n_tp,
			cell->rounds);
		res->status = BENCH_ERROR;
	}

	res->wall_sec += (double)(bench_now() - start) / 1e9;
	bench_report_finish_result(res);
}

/*
 * A TCP port of 127.0.0.1 that nothing uses right now: the one the kernel picks for a bind to
 * port 0. Side B of the cell binds it a moment later (with SO_REUSEADDR where the library
 * sets it), side A connects to it.
 */
static int pick_port(unsigned *ret_port)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return -errno;
	*ret_port = ntohs(sin.sin_port);
	return 0;
}

/* Runs round `round` of the cell of size index s and transport index t. */
static void run_round(const char *exe, const struct bench_report *rep, size_t s, size_t t,
		      unsigned round, const char *dir, struct bench_result *res)
{
	struct bench_cell cell = {
		.transport = rep->transports[t],
		.size = rep->sizes[s],
		.capacity = bench_capacity(rep->sizes[s], arg_capacity),
		.rounds = 1,
		.touch = rep->touch,
		.placement = BENCH_PLACEMENT_PINNED,
		.pairs = 1,
		.yield = rep->n_cpus < 2,
		.cpu = { rep->cpus[0], rep->cpus[1] },
	};

	fill_counts(&cell);
	if (cell.transport->uses_port) {
		int r = pick_port(&cell.port);

		if (r < 0) {
			res->status = BENCH_ERROR;
			(void)snprintf(res->why, sizeof(res->why),
				       "cannot find a free TCP port: %s", strerror(-r));
			bench_report_finish_result(res);
			return;
		}
	}
	(void)snprintf(cell.tag, sizeof(cell.tag), "%d-%zu-%u", (int)getpid(), t * rep->n_sizes + s,
		       round);
	(void)snprintf(cell.dir, sizeof(cell.dir), "%s", dir);
	run_cell(exe, &cell, res);
}

/* One line per round: that round's values, not the medians. */
static void print_progress(size_t done, size_t total, unsigned round,
			   const struct bench_result *res)
{
	char size[32];

	bench_format_size(size, sizeof(size), res->size);
	if (res->status == BENCH_OK && res->n_pp > round && res->n_tp > round) {
		const struct bench_tp_round *tp = &res->tp[round];

		fprintf(stderr,
			"psyne-bench: [%3zu/%zu] round %u %-15s %7s: rtt p50 %9.2f us, "
			"%8.3f M msg/s, %8.3f GB/s\n",
			done, total, round + 1, res->transport->label, size,
			(double)res->pp[round].p50 / 1e3,
			(double)tp->messages * 1e3 / (double)MAX(tp->ns, UINT64_C(1)),
			(double)tp->bytes / (double)MAX(tp->ns, UINT64_C(1)));
	} else
		fprintf(stderr, "psyne-bench: [%3zu/%zu] round %u %-15s %7s: %s: %s\n", done, total,
			round + 1, res->transport->label, size,
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

static void pick_cpus(struct bench_report *rep)
{
	cpu_set_t set;
	size_t n = 0;

	rep->cpus[0] = rep->cpus[1] = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		rep->n_cpus = 1;
		return;
	}
	rep->n_cpus = (unsigned)CPU_COUNT(&set);
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			rep->cpus[n++] = cpu;
	rep->pinned = arg_pin && n == 2;
	if (!rep->pinned)
		rep->cpus[0] = rep->cpus[1] = -1;
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

static int print_smoke(const struct bench_report *rep)
{
	size_t failed = 0;

	for (size_t t = 0; t < rep->n_transports; t++)
		for (size_t s = 0; s < rep->n_sizes; s++) {
			const struct bench_result *res = &rep->results[t * rep->n_sizes + s];
			char size[32];

			/* Pinned to two CPUs, every cell's round trips come with a probe. */
			bool no_probe = res->status == BENCH_OK && rep->pinned &&
					!(res->c2c_ns > 0);

			bench_format_size(size, sizeof(size), res->size);
			printf("%-4s %-15s %7s %s\n",
			       no_probe			    ? "FAIL" :
			       res->status == BENCH_OK	    ? "PASS" :
			       res->status == BENCH_SKIPPED ? "SKIP" :
							      "FAIL",
			       res->transport->label, size,
			       no_probe ? "no core-to-core probe value" : res->why);
			if (res->status == BENCH_ERROR || no_probe)
				failed++;
		}
	printf("smoke: %zu of %zu cells failed\n", failed, rep->n_transports * rep->n_sizes);
	return failed > 0 ? -EIO : 0;
}

static int run(int argc, char *argv[])
{
	_cleanup_free_ struct bench_result *results = NULL;
	struct bench_report rep = { .rounds = 0 };
	struct bench_roudi roudi = { .pid = 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	char exe[PATH_MAX], dir[] = "/tmp/psyne-bench.XXXXXX";
	bool want_roudi = false, failed = false;
	size_t total, done = 0;
	ssize_t n;
	int r;

	r = parse_sizes(arg_sizes, &rep);
	if (r < 0)
		return r;
	r = parse_only(arg_only, &rep);
	if (r < 0)
		return r;

	rep.rounds = arg_rounds;
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

	results = calloc(rep.n_transports * rep.n_sizes, sizeof(*results));
	if (!results)
		return log_oom();
	rep.results = results;

	if (!mkdtemp(dir))
		return log_error_errno(errno, "Failed to create a run directory: %m");

	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);

	for (size_t t = 0; t < rep.n_transports; t++)
		want_roudi = want_roudi || rep.transports[t]->needs_roudi;
	if (want_roudi) {
		fprintf(stderr, "psyne-bench: starting RouDi for iceoryx\n");
		r = bench_roudi_start(&roudi, arg_roudi, dir, rep.sizes, rep.n_sizes, arg_capacity);
		if (r < 0)
			fprintf(stderr, "psyne-bench: iceoryx will be skipped: %s\n", roudi.why);
	}

	fprintf(stderr, "psyne-bench: %s; %s, %u round(s), touch=%s\n", rep.machine,
		rep.pinned ? "sides pinned to two CPUs" : "not pinned", rep.rounds,
		bench_touch_to_string(rep.touch));

	/*
	 * Round r of every cell runs before round r + 1 of any: a drift of the machine during
	 * the run (a host moving vCPUs, a neighbour's load) then spreads over all columns
	 * instead of skewing the ones measured at the wrong moment.
	 */
	total = rep.n_transports * rep.n_sizes * rep.rounds;
	for (unsigned round = 0; round < rep.rounds && !interrupted; round++)
		for (size_t s = 0; s < rep.n_sizes && !interrupted; s++)
			for (size_t t = 0; t < rep.n_transports && !interrupted; t++) {
				struct bench_result *res = &results[t * rep.n_sizes + s];

				res->transport = rep.transports[t];
				res->size = rep.sizes[s];
				if (round == 0 && res->transport->needs_roudi && roudi.pid <= 0) {
					res->status = BENCH_SKIPPED;
					(void)snprintf(res->why, sizeof(res->why),
						       "RouDi not running: %.200s", roudi.why);
				}
				if (res->status == BENCH_OK || res->status == BENCH_NOT_RUN)
					run_round(exe, &rep, s, t, round, dir, res);
				if (res->status == BENCH_ERROR)
					failed = true;
				done++;
				if (round == 0 || res->status == BENCH_OK)
					print_progress(done, total, round, res);
			}

	for (size_t i = 0; i < rep.n_transports * rep.n_sizes; i++)
		bench_report_finish_result(&results[i]);

	bench_roudi_stop(&roudi);
	if (roudi.killed)
		fprintf(stderr, "psyne-bench: RouDi did not stop on SIGTERM and was killed\n");

	if (interrupted) {
		remove_run_dir(dir);
		fprintf(stderr, "psyne-bench: interrupted\n");
		return -EINTR;
	}

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
