/* SPDX-License-Identifier: MIT */
/*
 * The reports of a run: medians over rounds, the markdown tables and RATIO lines on stdout,
 * JSON, and a gnuplot PNG drawn by a gnuplot subprocess from a generated script.
 *
 * The markdown has one section per placement (pinned, unpinned, one shared CPU,
 * oversubscribed), each saying how its cells were measured. Within one, columns are grouped in
 * two tables, local transports (in-process and shared memory) and network ones (stream
 * sockets: unix and tcp). ZeroMQ's and NNG's ipc:// go over a Unix socket and belong to both:
 * they are the libraries' counterparts of psyne's ipc:// and of its unix://. A section prints
 * the network table when it has a network-only transport, and the local table when it has a
 * local-only one or no network table. Rows go by size, then touch policy (edges, then all
 * beside it), then metric.
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"
#include "common/string-util.h"

extern char **environ;

#define MIB (UINT64_C(1) << 20)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_report_finish_result(struct bench_result *res)
{
	double v[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS];
	unsigned n;

	res->rtt_p50_ns = res->rtt_p99_ns = res->rtt_min_ns = res->c2c_ns = -1;
	res->msgs_per_sec = res->gb_per_sec = -1;
	if (res->status != BENCH_OK)
		return;

	for (unsigned i = 0; i < res->n_pp; i++)
		v[i] = (double)res->pp[i].p50;
	res->rtt_p50_ns = median(v, res->n_pp);
	for (unsigned i = 0; i < res->n_pp; i++)
		v[i] = (double)res->pp[i].p99;
	res->rtt_p99_ns = median(v, res->n_pp);
	for (unsigned i = 0; i < res->n_pp; i++)
		v[i] = (double)res->pp[i].min;
	res->rtt_min_ns = median(v, res->n_pp);
	n = 0;
	for (unsigned i = 0; i < res->n_pp; i++)
		if (res->pp[i].c2c > 0)
			v[n++] = (double)res->pp[i].c2c;
	res->c2c_ns = median(v, n);

	for (unsigned i = 0; i < res->n_tp; i++)
		v[i] = (double)res->tp[i].messages * 1e9 / (double)MAX(res->tp[i].ns, UINT64_C(1));
	res->msgs_per_sec = median(v, res->n_tp);
	for (unsigned i = 0; i < res->n_tp; i++)
		v[i] = (double)res->tp[i].bytes / (double)MAX(res->tp[i].ns, UINT64_C(1));
	res->gb_per_sec = median(v, res->n_tp);
}

struct bench_result *bench_report_get(const struct bench_report *rep,
				      enum bench_placement placement, enum bench_touch touch,
				      bool touch_exact, const char *transport_id, uint64_t size)
{
	struct bench_result *other = NULL;

	for (size_t i = 0; i < rep->n_results; i++) {
		struct bench_result *res = &rep->results[i];

		if (res->placement != placement || res->size != size ||
		    !streq(res->transport->id, transport_id))
			continue;
		if (res->touch == touch)
			return res;
		other = res;
	}
	return touch_exact ? NULL : other;
}

/* Whether the run has a cell of `t` in placement `p` (any size or touch). */
static bool placement_has(const struct bench_report *rep, enum bench_placement p,
			  const struct bench_transport *t)
{
	for (size_t i = 0; i < rep->n_results; i++)
		if (rep->results[i].placement == p && rep->results[i].transport == t)
			return true;
	return false;
}

static bool placement_has_cells_at(const struct bench_report *rep, enum bench_placement p,
				   uint64_t size, enum bench_touch touch, unsigned group)
{
	for (size_t i = 0; i < rep->n_results; i++) {
		const struct bench_result *res = &rep->results[i];

		if (res->placement == p && res->size == size && res->touch == touch &&
		    (res->transport->groups & group))
			return true;
	}
	return false;
}

enum metric {
	METRIC_P50,
	METRIC_P99,
	METRIC_MIN,
	METRIC_C2C,
	METRIC_MSGS,
	METRIC_GBS,
	_METRIC_MAX,
};

static const char *const metric_names[_METRIC_MAX] = {
	[METRIC_P50] = "RTT p50 (us)",	      [METRIC_P99] = "RTT p99 (us)",
	[METRIC_MIN] = "RTT min (us)",	      [METRIC_C2C] = "core-to-core RTT (us)",
	[METRIC_MSGS] = "throughput (msg/s)", [METRIC_GBS] = "throughput (GB/s)",
};

/* Oversubscribed cells add up their pairs' throughput. */
static const char *const metric_names_pairs[_METRIC_MAX] = {
	[METRIC_P50] = "RTT p50 (us)",
	[METRIC_P99] = "RTT p99 (us)",
	[METRIC_MIN] = "RTT min (us)",
	[METRIC_C2C] = "core-to-core RTT (us)",
	[METRIC_MSGS] = "aggregate throughput (msg/s)",
	[METRIC_GBS] = "aggregate throughput (GB/s)",
};

static double metric_value(const struct bench_result *res, enum metric m)
{
	switch (m) {
	case METRIC_P50:
		return res->rtt_p50_ns;
	case METRIC_P99:
		return res->rtt_p99_ns;
	case METRIC_MIN:
		return res->rtt_min_ns;
	case METRIC_C2C:
		return res->c2c_ns;
	case METRIC_MSGS:
		return res->msgs_per_sec;
	default:
		return res->gb_per_sec;
	}
}

/*
 * The targets psyne is held to (docs/bench.md, "The targets"). Each compares the metric of
 * psyne's cell with another column's cell of the same placement and size (or, without a
 * `den`, with an absolute value), at touch=edges where the run has it, or at touch=all only
 * when `touch_all`.
 */
struct target {
	const char *name;
	enum bench_placement placement;
	const char *what;
	enum metric metric;
	const char *num, *den; /* transport ids; den NULL: an absolute target */
	uint64_t size;
	bool touch_all;
	bool at_most; /* the value must be <= target (else >=) */
	double target;
};

/* clang-format off */
static const struct target targets[] = {
	{ "a1", BENCH_PLACEMENT_PINNED, "psyne ipc:// 64 B RTT p50 / calibration ring RTT p50",
	  METRIC_P50, "psyne-ipc", "calib", 64, false, true, 2 },
	{ "a2", BENCH_PLACEMENT_PINNED, "psyne ipc:// 64 B RTT p50 / iceoryx RTT p50",
	  METRIC_P50, "psyne-ipc", "iceoryx", 64, false, true, 0.5 },
	{ "b", BENCH_PLACEMENT_PINNED, "psyne ipc:// 64 B throughput / ZeroMQ ipc throughput",
	  METRIC_MSGS, "psyne-ipc", "zmq-ipc", 64, false, false, 5 },
	{ "c", BENCH_PLACEMENT_PINNED, "psyne ipc:// 1 MiB throughput, touch=all",
	  METRIC_GBS, "psyne-ipc", NULL, MIB, true, false, 5 },
	{ "d", BENCH_PLACEMENT_PINNED, "psyne tcp:// 64 B throughput / ZeroMQ tcp throughput",
	  METRIC_MSGS, "psyne-tcp", "zmq-tcp", 64, false, false, 1.5 },
	{ "e", BENCH_PLACEMENT_PINNED, "psyne tcp:// 64 B RTT p50 / raw TCP ping-pong RTT p50",
	  METRIC_P50, "psyne-tcp", "raw-tcp", 64, false, true, 1.2 },
	{ "f", BENCH_PLACEMENT_PINNED,
	  "psyne tcp:// 1 MiB throughput / raw TCP throughput, touch=all",
	  METRIC_GBS, "psyne-tcp", "raw-tcp", MIB, true, false, 0.8 },
	{ "g1", BENCH_PLACEMENT_PINNED,
	  "psyne ipc:// 1 MiB RTT p50 / iceoryx RTT p50, touch=all",
	  METRIC_P50, "psyne-ipc", "iceoryx", MIB, true, true, 1 },
	{ "g2", BENCH_PLACEMENT_PINNED,
	  "psyne ipc:// 1 MiB throughput / iceoryx throughput, touch=all",
	  METRIC_GBS, "psyne-ipc", "iceoryx", MIB, true, false, 1 },
	{ "u1", BENCH_PLACEMENT_UNPINNED,
	  "psyne ipc:// 64 B throughput / ZeroMQ ipc throughput",
	  METRIC_MSGS, "psyne-ipc", "zmq-ipc", 64, false, false, 5 },
	{ "u2", BENCH_PLACEMENT_UNPINNED, "psyne ipc:// 64 B RTT p50 / iceoryx RTT p50",
	  METRIC_P50, "psyne-ipc", "iceoryx", 64, false, true, 0.5 },
	{ "u3", BENCH_PLACEMENT_UNPINNED,
	  "psyne tcp:// 64 B throughput / ZeroMQ tcp throughput",
	  METRIC_MSGS, "psyne-tcp", "zmq-tcp", 64, false, false, 1.5 },
	{ "s1", BENCH_PLACEMENT_SHARED, "psyne ipc:// 64 B RTT p50 / ZeroMQ ipc RTT p50",
	  METRIC_P50, "psyne-ipc", "zmq-ipc", 64, false, true, 0.5 },
	{ "s2", BENCH_PLACEMENT_SHARED, "psyne ipc:// 64 B throughput / ZeroMQ ipc throughput",
	  METRIC_MSGS, "psyne-ipc", "zmq-ipc", 64, false, false, 2 },
	{ "o1", BENCH_PLACEMENT_OVERSUB,
	  "psyne ipc:// 64 B aggregate throughput / ZeroMQ ipc aggregate throughput",
	  METRIC_MSGS, "psyne-ipc", "zmq-ipc", 64, false, false, 3 },
};
/* clang-format on */

#define N_TARGETS ELEMENTSOF(targets)

/* A target as computed from the run. */
struct ratio {
	const struct target *target;
	bool available;
	double value;
	char unit[8]; /* "x" for ratios, " GB/s" for (c) */
	char detail[320];
	char note[320]; /* a round-trip ratio whose cells ran at different CPU distances */
};

static bool usable(const struct bench_result *res, double v)
{
	return res && res->status == BENCH_OK && v > 0;
}

static const char *metric_unit(enum metric m, double *ret_scale)
{
	switch (m) {
	case METRIC_MSGS:
		*ret_scale = 1e6;
		return "M msg/s";
	case METRIC_GBS:
		*ret_scale = 1;
		return "GB/s";
	default:
		*ret_scale = 1e3;
		return "us";
	}
}

static const struct bench_result *target_cell(const struct bench_report *rep,
					      const struct target *tg, const char *id)
{
	return bench_report_get(rep, tg->placement,
				tg->touch_all ? BENCH_TOUCH_ALL : BENCH_TOUCH_EDGES, tg->touch_all,
				id, tg->size);
}

/* "not measured (...)" for a cell that is missing or has no value. */
static void not_measured(struct ratio *ratio, const struct bench_report *rep,
			 const struct bench_result *res, const char *id)
{
	const struct target *tg = ratio->target;
	char size[32];

	bench_format_size(size, sizeof(size), tg->size);
	if (!res)
		(void)snprintf(ratio->detail, sizeof(ratio->detail),
			       "not measured (%s at %s, %s%s, not in this run%s)", id, size,
			       bench_placement_to_string(tg->placement),
			       tg->touch_all ? ", touch=all" : "",
			       tg->touch_all && rep->touch_forced && rep->touch != BENCH_TOUCH_ALL ?
				       ": --touch=edges leaves out the touch=all cells" :
				       "");
	else
		(void)snprintf(ratio->detail, sizeof(ratio->detail), "not measured (%s: %.200s)",
			       id, res->why[0] != '\0' ? res->why : "no value");
}

/*
 * Two cells of one run can meet different machines: on a VM whose vCPUs the host moves, or
 * with the core complexes of one CPU, a line can take several times as long to cross from
 * one cell to the next. For a round-trip ratio, say what each cell's core-to-core probe
 * read and, when they differ by more than half, that the ratio compares distances too. Only
 * pinned cells have a probe.
 */
#define C2C_DIFFERENT 1.5

static void c2c_note(struct ratio *ratio, const struct bench_result *num,
		     const struct bench_result *den)
{
	double a, b;
	size_t n;

	if (!ratio->available || ratio->target->metric != METRIC_P50 || num->c2c_ns <= 0 ||
	    den->c2c_ns <= 0)
		return;
	a = num->c2c_ns;
	b = den->c2c_ns;
	n = strlen(ratio->detail);
	(void)snprintf(ratio->detail + n, sizeof(ratio->detail) - n,
		       "; core-to-core %.3f us / %.3f us", a / 1e3, b / 1e3);
	if (MAX(a, b) > C2C_DIFFERENT * MIN(a, b))
		(void)snprintf(ratio->note, sizeof(ratio->note),
			       "the %s cell's two CPUs were %.1fx %s each other than the %s cell's "
			       "(core-to-core round trip): this ratio compares two states of the "
			       "machine too; rerun to see both cells in one",
			       num->transport->id, MAX(a, b) / MIN(a, b),
			       a > b ? "farther from" : "nearer", den->transport->id);
}

static void compute_ratio(struct ratio *ratio, const struct bench_report *rep,
			  const struct target *tg)
{
	const struct bench_result *num = target_cell(rep, tg, tg->num);
	const struct bench_result *den = tg->den ? target_cell(rep, tg, tg->den) : NULL;
	double num_v = num ? metric_value(num, tg->metric) : -1, den_v, scale;
	const char *unit = metric_unit(tg->metric, &scale);
	size_t n;

	*ratio = (struct ratio){ .target = tg };
	(void)snprintf(ratio->unit, sizeof(ratio->unit), "%s", tg->den ? "x" : " GB/s");

	if (!usable(num, num_v)) {
		not_measured(ratio, rep, num, tg->num);
		return;
	}

	if (!tg->den) {
		/* (c): psyne's own rate, with memory:// and the touch=edges rate beside it. */
		const struct bench_result *mem = target_cell(rep, tg, "psyne-memory");
		const struct bench_result *edges = bench_report_get(
			rep, tg->placement, BENCH_TOUCH_EDGES, true, tg->num, tg->size);

		ratio->available = true;
		ratio->value = num_v;
		n = (size_t)snprintf(ratio->detail, sizeof(ratio->detail),
				     "touch=%s (every byte written and read)",
				     bench_touch_to_string(num->touch));
		if (usable(mem, mem ? mem->gb_per_sec : -1))
			n += (size_t)snprintf(ratio->detail + n, sizeof(ratio->detail) - n,
					      "; psyne memory:// %.2f GB/s", mem->gb_per_sec);
		if (usable(edges, edges ? edges->gb_per_sec : -1) && n < sizeof(ratio->detail))
			(void)snprintf(ratio->detail + n, sizeof(ratio->detail) - n,
				       "; touch=edges (effective) %.2f GB/s", edges->gb_per_sec);
		return;
	}

	den_v = den ? metric_value(den, tg->metric) : -1;
	if (!usable(den, den_v)) {
		not_measured(ratio, rep, den, tg->den);
		return;
	}
	ratio->available = true;
	ratio->value = num_v / den_v;
	n = (size_t)snprintf(ratio->detail, sizeof(ratio->detail), "%.3f %s / %.3f %s",
			     num_v / scale, unit, den_v / scale, unit);
	if (tg->touch_all && n < sizeof(ratio->detail))
		n += (size_t)snprintf(ratio->detail + n, sizeof(ratio->detail) - n, "; touch=all");
	if (tg->den && streq(tg->den, "raw-tcp") && tg->metric == METRIC_GBS &&
	    n < sizeof(ratio->detail))
		(void)snprintf(ratio->detail + n, sizeof(ratio->detail) - n,
			       "; both copy every byte into and out of the kernel");
	c2c_note(ratio, num, den);
}

static size_t compute_ratios(const struct bench_report *rep, struct ratio ratios[N_TARGETS])
{
	for (size_t i = 0; i < N_TARGETS; i++)
		compute_ratio(&ratios[i], rep, &targets[i]);
	return N_TARGETS;
}

static bool ratio_passes(const struct ratio *r)
{
	return r->available &&
	       (r->target->at_most ? r->value <= r->target->target : r->value >= r->target->target);
}

static void format_latency(char *buf, size_t n, double ns)
{
	double us = ns / 1e3;

	if (us < 10)
		(void)snprintf(buf, n, "%.2f", us);
	else if (us < 1000)
		(void)snprintf(buf, n, "%.1f", us);
	else
		(void)snprintf(buf, n, "%.0f", us);
}

static void format_rate(char *buf, size_t n, double per_sec)
{
	if (per_sec >= 1e6)
		(void)snprintf(buf, n, "%.2f M", per_sec / 1e6);
	else if (per_sec >= 1e3)
		(void)snprintf(buf, n, "%.1f k", per_sec / 1e3);
	else
		(void)snprintf(buf, n, "%.0f", per_sec);
}

static void format_gbs(char *buf, size_t n, double gbs)
{
	(void)snprintf(buf, n, gbs < 1 ? "%.3f" : gbs < 100 ? "%.2f" : "%.0f", gbs);
}

static void format_metric(char *buf, size_t n, const struct bench_result *res, enum metric m)
{
	double v;

	if (!res) {
		(void)snprintf(buf, n, " ");
		return;
	}
	if (res->status == BENCH_SKIPPED) {
		(void)snprintf(buf, n, "skipped");
		return;
	}
	if (res->status != BENCH_OK) {
		(void)snprintf(buf, n, "error");
		return;
	}
	v = metric_value(res, m);
	if (v < 0) {
		(void)snprintf(buf, n, "-");
		return;
	}
	if (m <= METRIC_C2C)
		format_latency(buf, n, v);
	else if (m == METRIC_MSGS)
		format_rate(buf, n, v);
	else
		format_gbs(buf, n, v);
}

/* The tables (BENCH_GROUP_*) of a placement's section; see the head comment. */
static unsigned report_tables(const struct bench_report *rep, enum bench_placement p)
{
	bool local_only = false, net_only = false;

	for (size_t t = 0; t < rep->n_transports; t++) {
		if (!placement_has(rep, p, rep->transports[t]))
			continue;
		local_only = local_only || rep->transports[t]->groups == BENCH_GROUP_LOCAL;
		net_only = net_only || rep->transports[t]->groups == BENCH_GROUP_NET;
	}
	if (!net_only)
		return BENCH_GROUP_LOCAL;
	return BENCH_GROUP_NET | (local_only ? BENCH_GROUP_LOCAL : 0u);
}

/*
 * The columns of one table as indices into rep->transports: the run's order for the local
 * table, net_column's for the network one. With a placement, only the transports it has;
 * with _BENCH_PLACEMENT_MAX, those of any.
 */
static size_t table_columns(const struct bench_report *rep, enum bench_placement p, unsigned group,
			    size_t cols[BENCH_MAX_TRANSPORTS])
{
	size_t n = 0;

	for (size_t t = 0; t < rep->n_transports; t++) {
		bool has = false;

		if (!(rep->transports[t]->groups & group))
			continue;
		for (enum bench_placement q = 0; q < _BENCH_PLACEMENT_MAX && !has; q++)
			has = (p == _BENCH_PLACEMENT_MAX || p == q) &&
			      placement_has(rep, q, rep->transports[t]);
		if (has)
			cols[n++] = t;
	}
	if (group == BENCH_GROUP_NET)
		/* An insertion sort: eight columns at most. */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && rep->transports[cols[j - 1]]->net_column >
							    rep->transports[cols[j]]->net_column;
			     j--) {
				size_t tmp = cols[j];

				cols[j] = cols[j - 1];
				cols[j - 1] = tmp;
			}
	return n;
}

static void markdown_table(FILE *f, const struct bench_report *rep, enum bench_placement p,
			   unsigned group)
{
	size_t cols[BENCH_MAX_TRANSPORTS], n_cols = table_columns(rep, p, group, cols);
	const char *const *names = p == BENCH_PLACEMENT_OVERSUB ? metric_names_pairs : metric_names;
	/* Only pinned cells have two CPUs apart to probe. */
	bool c2c = p == BENCH_PLACEMENT_PINNED && rep->pinned;

	fprintf(f, "| metric | size | touch |");
	for (size_t c = 0; c < n_cols; c++)
		fprintf(f, " %s |", rep->transports[cols[c]]->label);
	fprintf(f, "\n|---|---:|---|");
	for (size_t c = 0; c < n_cols; c++)
		fprintf(f, "---:|");
	fprintf(f, "\n");

	for (size_t s = 0; s < rep->n_sizes; s++)
		for (enum bench_touch touch = 0; touch < _BENCH_TOUCH_MAX; touch++) {
			if (!placement_has_cells_at(rep, p, rep->sizes[s], touch, group))
				continue;
			for (enum metric m = 0; m < _METRIC_MAX; m++) {
				char size[32];

				if (m == METRIC_C2C && !c2c)
					continue;
				fprintf(f, "| %s | %s | %s |", names[m],
					bench_format_size(size, sizeof(size), rep->sizes[s]),
					bench_touch_to_string(touch));
				for (size_t c = 0; c < n_cols; c++) {
					char cell[32];

					format_metric(cell, sizeof(cell),
						      bench_report_get(rep, p, touch, true,
								       rep->transports[cols[c]]->id,
								       rep->sizes[s]),
						      m);
					fprintf(f, " %s |", cell);
				}
				fprintf(f, "\n");
			}
		}
}

/* The heading of a placement's section and how its cells were measured. */
static void markdown_placement(FILE *f, const struct bench_report *rep, enum bench_placement p)
{
	switch (p) {
	case BENCH_PLACEMENT_PINNED:
		if (rep->pinned)
			fprintf(f,
				"### Pinned: side A on CPU %d, side B on CPU %d\n\n"
				"Each side's measuring thread is pinned to its CPU; threads the "
				"libraries start are not. Two-process transports run two processes "
				"started apart, in-process ones two threads. The core-to-core row is "
				"the round trip of a bare cache line between the two CPUs.\n",
				rep->cpus[0], rep->cpus[1]);
		else
			fprintf(f, "### Pinned placement, not pinned: fewer than two CPUs\n\n"
				   "Nothing is pinned, and the spinning loops of the harness "
				   "yield.\n");
		break;
	case BENCH_PLACEMENT_UNPINNED:
		fprintf(f,
			"### Unpinned: side B forked from side A, nobody pinned, %u CPUs\n\n"
			"Two-process transports: one process forks the other before either "
			"touches its library, as a parent and its fork()ed child do; in-process "
			"ones: two threads. The scheduler places everything.\n",
			rep->n_cpus);
		break;
	case BENCH_PLACEMENT_SHARED:
		fprintf(f,
			"### One shared CPU: both sides on CPU %d\n\n"
			"Both sides, and every thread their libraries start, are confined to CPU %d "
			"(as under `taskset -c %d`); the spinning loops of the harness yield.\n",
			rep->shared_cpu, rep->shared_cpu, rep->shared_cpu);
		break;
	default:
		fprintf(f,
			"### Oversubscribed: %d pairs at once, unpinned, %u CPUs\n\n"
			"%d independent pairs of the same transport, each as in the unpinned "
			"placement (side B forked from side A), run each phase together. "
			"Aggregate throughput: the pairs' messages (bytes) summed over their common "
			"wall time, from the first pair's first send to the last pair's receipt of "
			"its end marker. Round trips: medians over pairs and rounds of each pair's "
			"own p50, p99 and min. The spinning loops of the harness yield.\n",
			BENCH_OVERSUB_PAIRS, rep->n_cpus, BENCH_OVERSUB_PAIRS);
		break;
	}
}

void bench_report_markdown(FILE *f, const struct bench_report *rep)
{
	struct ratio ratios[N_TARGETS];
	size_t n_ratios;
	bool notes = false, has_touch_all = false;

	for (size_t i = 0; i < rep->n_results; i++)
		has_touch_all = has_touch_all || rep->results[i].touch == BENCH_TOUCH_ALL;

	fprintf(f, "## psyne-bench\n\n");
	fprintf(f, "- date: %s\n- machine: %s\n- command: `%s`\n", rep->date, rep->machine,
		rep->command);
	fprintf(f, "- %u interleaved round(s) of about %u ms per cell, medians reported\n",
		rep->rounds, rep->round_ms);
	if (rep->touch_forced)
		fprintf(f, "- touch=%s for every cell (--touch)\n",
			bench_touch_to_string(rep->touch));
	else if (has_touch_all)
		fprintf(f, "- touch=edges (header and last 8 bytes of each payload written and "
			   "read), and touch=all (every byte) beside it from 4 KiB up, pinned\n");
	else
		fprintf(f, "- touch=edges (header and last 8 bytes of each payload written and "
			   "read)\n");
	fprintf(f, "- %zu cells in %.0f s\n", rep->n_results, rep->wall_sec);

	for (enum bench_placement p = 0; p < _BENCH_PLACEMENT_MAX; p++) {
		unsigned tables;
		bool both;

		if (!(rep->placements & (1u << p)))
			continue;
		tables = report_tables(rep, p);
		both = tables == (BENCH_GROUP_LOCAL | BENCH_GROUP_NET);
		fprintf(f, "\n");
		markdown_placement(f, rep, p);
		if (tables & BENCH_GROUP_LOCAL) {
			fprintf(f, "\n");
			if (both)
				fprintf(f, "#### Local transports\n\n");
			markdown_table(f, rep, p, BENCH_GROUP_LOCAL);
		}
		if (tables & BENCH_GROUP_NET) {
			fprintf(f, "\n");
			if (both)
				fprintf(f, "#### Network transports (stream sockets on this "
					   "machine)\n\n");
			markdown_table(f, rep, p, BENCH_GROUP_NET);
		}
	}

	for (size_t i = 0; i < rep->n_results; i++) {
		const struct bench_result *res = &rep->results[i];
		char size[32];

		if (res->status == BENCH_OK || res->status == BENCH_NOT_RUN)
			continue;
		if (!notes)
			fprintf(f, "\n");
		notes = true;
		fprintf(f, "- %s %s %s, touch=%s: %s: %s\n", res->transport->label,
			bench_format_size(size, sizeof(size), res->size),
			bench_placement_to_string(res->placement),
			bench_touch_to_string(res->touch),
			res->status == BENCH_SKIPPED ? "skipped" : "failed", res->why);
	}

	n_ratios = compute_ratios(rep, ratios);
	fprintf(f, "\n```\n");
	for (size_t i = 0; i < n_ratios; i++) {
		const struct ratio *r = &ratios[i];
		const struct target *tg = r->target;

		if (r->available)
			fprintf(f, "RATIO (%s) %s: %s = %.2f%s [%s], target %s %g%s: %s\n",
				tg->name, bench_placement_to_string(tg->placement), tg->what,
				r->value, r->unit, r->detail, tg->at_most ? "<=" : ">=", tg->target,
				r->unit, ratio_passes(r) ? "PASS" : "MISS");
		else
			fprintf(f, "RATIO (%s) %s: %s: N/A, target %s %g%s: %s\n", tg->name,
				bench_placement_to_string(tg->placement), tg->what,
				tg->at_most ? "<=" : ">=", tg->target, r->unit, r->detail);
	}
	for (size_t i = 0; i < n_ratios; i++)
		if (ratios[i].note[0] != '\0')
			fprintf(f, "NOTE (%s) %s\n", ratios[i].target->name, ratios[i].note);
	fprintf(f, "```\n");
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, double v)
{
	if (v < 0 || !isfinite(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static const char *status_to_string(enum bench_status status)
{
	switch (status) {
	case BENCH_OK:
		return "ok";
	case BENCH_ERROR:
		return "error";
	case BENCH_SKIPPED:
		return "skipped";
	default:
		return "not-run";
	}
}

static void json_result(FILE *f, const struct bench_result *res)
{
	fprintf(f, "    {\"transport\": \"%s\", \"size\": %" PRIu64 ", \"status\": \"%s\"",
		res->transport->id, res->size, status_to_string(res->status));
	fprintf(f, ", \"placement\": \"%s\", \"touch\": \"%s\", \"pairs\": %u",
		bench_placement_to_string(res->placement), bench_touch_to_string(res->touch),
		res->pairs);
	fprintf(f, ", \"groups\": [%s%s%s]",
		res->transport->groups & BENCH_GROUP_LOCAL ? "\"local\"" : "",
		res->transport->groups == (BENCH_GROUP_LOCAL | BENCH_GROUP_NET) ? ", " : "",
		res->transport->groups & BENCH_GROUP_NET ? "\"net\"" : "");
	fprintf(f, ", \"why\": ");
	json_string(f, res->why);
	fprintf(f, ", \"rtt_p50_ns\": ");
	json_number(f, res->rtt_p50_ns);
	fprintf(f, ", \"rtt_p99_ns\": ");
	json_number(f, res->rtt_p99_ns);
	fprintf(f, ", \"rtt_min_ns\": ");
	json_number(f, res->rtt_min_ns);
	fprintf(f, ", \"c2c_ns\": ");
	json_number(f, res->c2c_ns);
	fprintf(f, ", \"msgs_per_sec\": ");
	json_number(f, res->msgs_per_sec);
	fprintf(f, ", \"gb_per_sec\": ");
	json_number(f, res->gb_per_sec);
	fprintf(f, ", \"wall_sec\": %.3f,\n      \"pp_rounds_p50_p99_min_n\": [", res->wall_sec);
	for (unsigned j = 0; j < res->n_pp; j++)
		fprintf(f, "%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 "]",
			j > 0 ? ", " : "", res->pp[j].p50, res->pp[j].p99, res->pp[j].min,
			res->pp[j].n);
	fprintf(f, "], \"pp_rounds_c2c_ns\": [");
	for (unsigned j = 0; j < res->n_pp; j++)
		fprintf(f, "%s%" PRIu64, j > 0 ? ", " : "", res->pp[j].c2c);
	fprintf(f, "], \"tp_rounds_ns_msgs_bytes\": [");
	for (unsigned j = 0; j < res->n_tp; j++)
		fprintf(f, "%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", j > 0 ? ", " : "",
			res->tp[j].ns, res->tp[j].messages, res->tp[j].bytes);
	fprintf(f, "]");
	if (res->pairs > 1) {
		fprintf(f, ",\n      \"tp_pair_rounds_ns_msgs_bytes_start\": [");
		for (unsigned j = 0; j < res->n_tp_pairs; j++)
			fprintf(f, "%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 "]",
				j > 0 ? ", " : "", res->tp_pairs[j].ns, res->tp_pairs[j].messages,
				res->tp_pairs[j].bytes, res->tp_pairs[j].start);
		fprintf(f, "]");
	}
	fprintf(f, "}");
}

int bench_report_json(const char *path, const struct bench_report *rep)
{
	_cleanup_fclose_ FILE *f = NULL;
	struct ratio ratios[N_TARGETS];
	size_t n_ratios;
	bool first = true;

	f = fopen(path, "we");
	if (!f)
		return -errno;

	fprintf(f, "{\n  \"date\": ");
	json_string(f, rep->date);
	fprintf(f, ",\n  \"machine\": ");
	json_string(f, rep->machine);
	fprintf(f, ",\n  \"command\": ");
	json_string(f, rep->command);
	fprintf(f, ",\n  \"rounds\": %u,\n  \"round_ms\": %u,\n  \"touch\": \"%s\",\n", rep->rounds,
		rep->round_ms, rep->touch_forced ? bench_touch_to_string(rep->touch) : "auto");
	fprintf(f, "  \"pinned\": %s,\n", rep->pinned ? "true" : "false");
	fprintf(f, "  \"cpus\": [%d, %d],\n  \"shared_cpu\": %d,\n  \"n_cpus\": %u,\n",
		rep->cpus[0], rep->cpus[1], rep->shared_cpu, rep->n_cpus);
	fprintf(f, "  \"oversub_pairs\": %d,\n  \"wall_sec\": %.1f,\n  \"placements\": [",
		BENCH_OVERSUB_PAIRS, rep->wall_sec);
	for (enum bench_placement p = 0; p < _BENCH_PLACEMENT_MAX; p++)
		if (rep->placements & (1u << p)) {
			fprintf(f, "%s\"%s\"", first ? "" : ", ", bench_placement_to_string(p));
			first = false;
		}
	fprintf(f, "],\n  \"results\": [\n");

	for (size_t i = 0; i < rep->n_results; i++) {
		json_result(f, &rep->results[i]);
		fprintf(f, "%s\n", i + 1 < rep->n_results ? "," : "");
	}

	n_ratios = compute_ratios(rep, ratios);
	fprintf(f, "  ],\n  \"ratios\": [\n");
	for (size_t i = 0; i < n_ratios; i++) {
		const struct ratio *r = &ratios[i];
		const struct target *tg = r->target;

		fprintf(f, "    {\"name\": \"%s\", \"placement\": \"%s\", \"what\": ", tg->name,
			bench_placement_to_string(tg->placement));
		json_string(f, tg->what);
		fprintf(f, ", \"value\": ");
		json_number(f, r->available ? r->value : -1);
		fprintf(f, ", \"target\": \"%s %g\", \"result\": \"%s\", \"detail\": ",
			tg->at_most ? "<=" : ">=", tg->target,
			!r->available	? "n/a" :
			ratio_passes(r) ? "pass" :
					  "miss");
		json_string(f, r->detail);
		fprintf(f, ", \"note\": ");
		json_string(f, r->note);
		fprintf(f, "}%s\n", i + 1 < n_ratios ? "," : "");
	}
	fprintf(f, "  ]\n}\n");

	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

/* gnuplot single-quoted string: a quote is written twice. */
static void gp_string(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

static const char *group_name(unsigned group)
{
	return group == BENCH_GROUP_NET ? "net" : "local";
}

/*
 * The plot's clusters: one per placement, size and touch policy that has cells in the group,
 * labelled "4 KiB", "4 KiB all", "64 B unpinned", ...
 */
struct cluster {
	enum bench_placement placement;
	uint64_t size;
	enum bench_touch touch;
};

#define MAX_CLUSTERS (_BENCH_PLACEMENT_MAX * BENCH_MAX_SIZES * _BENCH_TOUCH_MAX)

static size_t plot_clusters(const struct bench_report *rep, unsigned group,
			    struct cluster clusters[MAX_CLUSTERS])
{
	size_t n = 0;

	for (enum bench_placement p = 0; p < _BENCH_PLACEMENT_MAX; p++)
		for (size_t s = 0; s < rep->n_sizes; s++)
			for (enum bench_touch touch = 0; touch < _BENCH_TOUCH_MAX; touch++)
				if (placement_has_cells_at(rep, p, rep->sizes[s], touch, group))
					clusters[n++] = (struct cluster){
						.placement = p,
						.size = rep->sizes[s],
						.touch = touch,
					};
	return n;
}

static int write_plot_data(const char *path, const struct bench_report *rep, unsigned group,
			   bool latency)
{
	_cleanup_fclose_ FILE *f = NULL;
	size_t cols[BENCH_MAX_TRANSPORTS],
		n_cols = table_columns(rep, _BENCH_PLACEMENT_MAX, group, cols);
	struct cluster clusters[MAX_CLUSTERS];
	size_t n_clusters = plot_clusters(rep, group, clusters);

	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "cell");
	for (size_t c = 0; c < n_cols; c++)
		fprintf(f, " \"%s\"", rep->transports[cols[c]]->label);
	fprintf(f, "\n");
	for (size_t k = 0; k < n_clusters; k++) {
		const struct cluster *cl = &clusters[k];
		char size[32];

		bench_format_size(size, sizeof(size), cl->size);
		fprintf(f, "\"%s%s%s%s\"", size, cl->touch == BENCH_TOUCH_ALL ? " all" : "",
			cl->placement == BENCH_PLACEMENT_PINNED ? "" : " ",
			cl->placement == BENCH_PLACEMENT_PINNED ?
				"" :
				bench_placement_to_string(cl->placement));
		for (size_t c = 0; c < n_cols; c++) {
			const struct bench_result *res =
				bench_report_get(rep, cl->placement, cl->touch, true,
						 rep->transports[cols[c]]->id, cl->size);
			double v = !res ? -1 : latency ? res->rtt_p50_ns / 1e3 : res->gb_per_sec;

			if (res && res->status == BENCH_OK && v > 0)
				fprintf(f, " %.6g", v);
			else
				fprintf(f, " ?");
		}
		fprintf(f, "\n");
	}
	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

/* The plot's tables: the groups of every placement's section. */
static unsigned plot_tables(const struct bench_report *rep)
{
	unsigned tables = 0;

	for (enum bench_placement p = 0; p < _BENCH_PLACEMENT_MAX; p++)
		if (rep->placements & (1u << p))
			tables |= report_tables(rep, p);
	return tables;
}

/* The latency and throughput panels of one table: one column of the page. */
static void write_plot_panels(FILE *f, const struct bench_report *rep, const char *dir,
			      unsigned group, bool both)
{
	const char *what = !both		    ? "" :
			   group == BENCH_GROUP_NET ? "network transports: " :
						      "local transports: ";
	size_t cols[BENCH_MAX_TRANSPORTS],
		n_cols = table_columns(rep, _BENCH_PLACEMENT_MAX, group, cols);
	char data[256];

	fprintf(f,
		"set title '%sround-trip latency p50, median of %u rounds (lower is better)'\n"
		"set ylabel 'microseconds (log)'\n",
		what, rep->rounds);
	(void)snprintf(data, sizeof(data), "%s/latency-%s.dat", dir, group_name(group));
	fprintf(f, "plot for [i=2:%zu] ", n_cols + 1);
	gp_string(f, data);
	fprintf(f, " using i:xtic(1) title columnheader(i)\n");

	fprintf(f,
		"set title '%sone-way throughput, oversub: 4 pairs summed (higher is better)'\n"
		"set ylabel 'GB/s (log)'\n",
		what);
	(void)snprintf(data, sizeof(data), "%s/throughput-%s.dat", dir, group_name(group));
	fprintf(f, "plot for [i=2:%zu] ", n_cols + 1);
	gp_string(f, data);
	fprintf(f, " using i:xtic(1) title columnheader(i)\n");
}

/*
 * One table: latency above throughput. Both tables: the local ones on the left, the
 * network ones on the right, each with its own key and scale. Clusters along the x axis are
 * size, touch and placement.
 */
static int write_plot_script(const char *path, const char *png, const char *dir,
			     const struct bench_report *rep)
{
	_cleanup_fclose_ FILE *f = NULL;
	unsigned tables = plot_tables(rep);
	bool both = tables == (BENCH_GROUP_LOCAL | BENCH_GROUP_NET);
	struct cluster clusters[MAX_CLUSTERS];
	size_t n_clusters = 0;
	unsigned width;
	char title[384];

	for (unsigned group = BENCH_GROUP_LOCAL; group <= BENCH_GROUP_NET; group <<= 1)
		if (tables & group)
			n_clusters = MAX(n_clusters, plot_clusters(rep, group, clusters));
	width = (both ? 2 : 1) * (unsigned)MAX((size_t)1200, 160 * n_clusters);

	f = fopen(path, "we");
	if (!f)
		return -errno;

	fprintf(f,
		"if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		"  set terminal pngcairo size %u,1000 font ',10'\n"
		"} else {\n"
		"  set terminal png size %u,1000\n"
		"}\n",
		width, width);
	fprintf(f, "set output ");
	gp_string(f, png);
	(void)snprintf(title, sizeof(title), "psyne-bench, %s, %s", rep->date, rep->machine);
	fprintf(f, "\nset multiplot layout 2,%d columnsfirst title ", both ? 2 : 1);
	gp_string(f, title);
	fprintf(f, "\nset style data histograms\n"
		   "set style histogram clustered gap 1\n"
		   "set style fill solid 0.85 border -1\n"
		   "set datafile missing '?'\n"
		   "set logscale y\n"
		   "set grid ytics\n"
		   "set key outside right top\n"
		   "set xtics rotate by -30\n"
		   "set xlabel 'message size, touch=all where marked, placement (pinned unless "
		   "marked)'\n");

	for (unsigned group = BENCH_GROUP_LOCAL; group <= BENCH_GROUP_NET; group <<= 1)
		if (tables & group)
			write_plot_panels(f, rep, dir, group, both);
	fprintf(f, "unset multiplot\n");

	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

int bench_report_plot(const char *path, const struct bench_report *rep, const char *dir)
{
	char script[256], data[256];
	char *argv[] = { (char *)"gnuplot", script, NULL };
	unsigned tables = plot_tables(rep);
	pid_t pid;
	int r, status;

	for (unsigned group = BENCH_GROUP_LOCAL; group <= BENCH_GROUP_NET; group <<= 1) {
		if (!(tables & group))
			continue;
		(void)snprintf(data, sizeof(data), "%s/latency-%s.dat", dir, group_name(group));
		r = write_plot_data(data, rep, group, true);
		if (r < 0)
			return r;
		(void)snprintf(data, sizeof(data), "%s/throughput-%s.dat", dir, group_name(group));
		r = write_plot_data(data, rep, group, false);
		if (r < 0)
			return r;
	}
	(void)snprintf(script, sizeof(script), "%s/plot.gp", dir);
	r = write_plot_script(script, path, dir, rep);
	if (r < 0)
		return r;

	r = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	if (r == ENOENT) {
		fprintf(stderr, "psyne-bench: gnuplot not found, skipping the plot "
				"(apt-get install gnuplot-nox)\n");
		return -ENOENT;
	}
	if (r != 0)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	fprintf(stderr, "psyne-bench: plot written to '%s'\n", path);
	return 0;
}
