/* SPDX-License-Identifier: MIT */
/*
 * The reports of a run: medians over rounds, the markdown tables and RATIO lines on stdout,
 * JSON, and a gnuplot PNG drawn by a gnuplot subprocess from a generated script.
 *
 * Columns are grouped in two tables, local transports (in-process and shared memory) and
 * network ones (stream sockets: unix and tcp). ZeroMQ's and NNG's ipc:// go over a Unix
 * socket and belong to both: they are the libraries' counterparts of psyne's ipc:// and of
 * its unix://. A run prints the network table when it has a network-only transport, and the
 * local table when it has a local-only one or no network table.
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
	double v[BENCH_MAX_ROUNDS];

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

struct bench_result *bench_report_get(const struct bench_report *rep, const char *transport_id,
				      uint64_t size)
{
	for (size_t t = 0; t < rep->n_transports; t++) {
		if (!streq(rep->transports[t]->id, transport_id))
			continue;
		for (size_t s = 0; s < rep->n_sizes; s++)
			if (rep->sizes[s] == size)
				return &rep->results[t * rep->n_sizes + s];
	}
	return NULL;
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

/* The targets psyne is held to, computed from the run. */
struct ratio {
	const char *name;
	const char *what;
	bool at_most; /* the value must be <= target (else >=) */
	double target;
	const char *unit; /* "x" for ratios, " GB/s" for (c) */
	bool available;
	double value;
	char detail[256];
	char note[256]; /* a round-trip ratio whose cells ran at different CPU distances */
};

static bool usable(const struct bench_result *res, double v)
{
	return res && res->status == BENCH_OK && v > 0;
}

static void ratio_of(struct ratio *ratio, const char *num_id, double num_v, const char *den_id,
		     double den_v, const struct bench_report *rep, uint64_t size, const char *unit,
		     double scale)
{
	const struct bench_result *num = bench_report_get(rep, num_id, size);
	const struct bench_result *den = bench_report_get(rep, den_id, size);

	if (!num || !den) {
		(void)snprintf(ratio->detail, sizeof(ratio->detail),
			       "not measured (%s at %" PRIu64 " B not in this run)",
			       !num ? num_id : den_id, size);
		return;
	}
	if (!usable(num, num_v) || !usable(den, den_v)) {
		const struct bench_result *bad = !usable(num, num_v) ? num : den;

		(void)snprintf(ratio->detail, sizeof(ratio->detail), "not measured (%s: %.200s)",
			       bad->transport->id, bad->why[0] != '\0' ? bad->why : "no value");
		return;
	}
	ratio->available = true;
	ratio->value = num_v / den_v;
	(void)snprintf(ratio->detail, sizeof(ratio->detail), "%.3f %s / %.3f %s", num_v / scale,
		       unit, den_v / scale, unit);
}

/*
 * Two cells of one run can meet different machines: on a VM whose vCPUs the host moves, or
 * with the core complexes of one CPU, a line can take several times as long to cross from
 * one cell to the next. For a round-trip ratio, say what each cell's core-to-core probe
 * read and, when they differ by more than half, that the ratio compares distances too.
 */
#define C2C_DIFFERENT 1.5

static void c2c_note(struct ratio *ratio, const struct bench_report *rep, const char *num_id,
		     const char *den_id, uint64_t size)
{
	const struct bench_result *num = bench_report_get(rep, num_id, size);
	const struct bench_result *den = bench_report_get(rep, den_id, size);
	double a, b;
	size_t n;

	if (!ratio->available || !num || !den || num->c2c_ns <= 0 || den->c2c_ns <= 0)
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
			       num_id, MAX(a, b) / MIN(a, b), a > b ? "farther from" : "nearer",
			       den_id);
}

static double value_of(const struct bench_report *rep, const char *id, uint64_t size, enum metric m)
{
	const struct bench_result *res = bench_report_get(rep, id, size);

	return res ? metric_value(res, m) : -1;
}

#define MAX_RATIOS 8

static size_t compute_ratios(const struct bench_report *rep, struct ratio ratios[MAX_RATIOS])
{
	const struct bench_result *ipc1m = bench_report_get(rep, "psyne-ipc", MIB);
	const struct bench_result *mem1m = bench_report_get(rep, "psyne-memory", MIB);

	ratios[0] = (struct ratio){
		.name = "a1",
		.what = "psyne ipc:// 64 B RTT p50 / calibration ring RTT p50",
		.at_most = true,
		.target = 2,
		.unit = "x",
	};
	ratio_of(&ratios[0], "psyne-ipc", value_of(rep, "psyne-ipc", 64, METRIC_P50), "calib",
		 value_of(rep, "calib", 64, METRIC_P50), rep, 64, "us", 1e3);
	c2c_note(&ratios[0], rep, "psyne-ipc", "calib", 64);

	ratios[1] = (struct ratio){
		.name = "a2",
		.what = "psyne ipc:// 64 B RTT p50 / iceoryx RTT p50",
		.at_most = true,
		.target = 0.5,
		.unit = "x",
	};
	ratio_of(&ratios[1], "psyne-ipc", value_of(rep, "psyne-ipc", 64, METRIC_P50), "iceoryx",
		 value_of(rep, "iceoryx", 64, METRIC_P50), rep, 64, "us", 1e3);
	c2c_note(&ratios[1], rep, "psyne-ipc", "iceoryx", 64);

	ratios[2] = (struct ratio){
		.name = "b",
		.what = "psyne ipc:// 64 B throughput / ZeroMQ ipc throughput",
		.at_most = false,
		.target = 5,
		.unit = "x",
	};
	ratio_of(&ratios[2], "psyne-ipc", value_of(rep, "psyne-ipc", 64, METRIC_MSGS), "zmq-ipc",
		 value_of(rep, "zmq-ipc", 64, METRIC_MSGS), rep, 64, "M msg/s", 1e6);

	ratios[3] = (struct ratio){
		.name = "c",
		.what = "psyne ipc:// 1 MiB effective throughput",
		.at_most = false,
		.target = 5,
		.unit = " GB/s",
	};
	if (usable(ipc1m, ipc1m ? ipc1m->gb_per_sec : -1)) {
		char mem[32] = "not measured";

		if (usable(mem1m, mem1m ? mem1m->gb_per_sec : -1))
			(void)snprintf(mem, sizeof(mem), "%.2f GB/s", mem1m->gb_per_sec);
		ratios[3].available = true;
		ratios[3].value = ipc1m->gb_per_sec;
		(void)snprintf(ratios[3].detail, sizeof(ratios[3].detail),
			       "touch=%s%s; psyne memory:// %s", bench_touch_to_string(rep->touch),
			       rep->touch == BENCH_TOUCH_EDGES ?
				       " (header and last 8 bytes written and read per message)" :
				       " (every byte written and read)",
			       mem);
	} else
		(void)snprintf(ratios[3].detail, sizeof(ratios[3].detail), "not measured%s%.180s",
			       ipc1m ? ": " : " (1M not in --sizes or psyne-ipc not selected)",
			       ipc1m ? ipc1m->why : "");

	ratios[4] = (struct ratio){
		.name = "d",
		.what = "psyne tcp:// 64 B throughput / ZeroMQ tcp throughput",
		.at_most = false,
		.target = 1.5,
		.unit = "x",
	};
	ratio_of(&ratios[4], "psyne-tcp", value_of(rep, "psyne-tcp", 64, METRIC_MSGS), "zmq-tcp",
		 value_of(rep, "zmq-tcp", 64, METRIC_MSGS), rep, 64, "M msg/s", 1e6);

	ratios[5] = (struct ratio){
		.name = "e",
		.what = "psyne tcp:// 64 B RTT p50 / raw TCP ping-pong RTT p50",
		.at_most = true,
		.target = 1.2,
		.unit = "x",
	};
	ratio_of(&ratios[5], "psyne-tcp", value_of(rep, "psyne-tcp", 64, METRIC_P50), "raw-tcp",
		 value_of(rep, "raw-tcp", 64, METRIC_P50), rep, 64, "us", 1e3);
	c2c_note(&ratios[5], rep, "psyne-tcp", "raw-tcp", 64);

	ratios[6] = (struct ratio){
		.name = "f",
		.what = "psyne tcp:// 1 MiB throughput / raw TCP throughput",
		.at_most = false,
		.target = 0.8,
		.unit = "x",
	};
	ratio_of(&ratios[6], "psyne-tcp", value_of(rep, "psyne-tcp", MIB, METRIC_GBS), "raw-tcp",
		 value_of(rep, "raw-tcp", MIB, METRIC_GBS), rep, MIB, "GB/s", 1);
	if (ratios[6].available) {
		size_t n = strlen(ratios[6].detail);

		(void)snprintf(ratios[6].detail + n, sizeof(ratios[6].detail) - n,
			       "; touch=%s; both copy every byte into and out of the kernel",
			       bench_touch_to_string(rep->touch));
	}
	return 7;
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
	double v = metric_value(res, m);

	if (res->status == BENCH_SKIPPED) {
		(void)snprintf(buf, n, "skipped");
		return;
	}
	if (res->status != BENCH_OK) {
		(void)snprintf(buf, n, "error");
		return;
	}
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

/* The tables (BENCH_GROUP_*) a run prints; see the head comment. */
static unsigned report_tables(const struct bench_report *rep)
{
	bool local_only = false, net_only = false;

	for (size_t t = 0; t < rep->n_transports; t++) {
		local_only = local_only || rep->transports[t]->groups == BENCH_GROUP_LOCAL;
		net_only = net_only || rep->transports[t]->groups == BENCH_GROUP_NET;
	}
	if (!net_only)
		return BENCH_GROUP_LOCAL;
	return BENCH_GROUP_NET | (local_only ? BENCH_GROUP_LOCAL : 0u);
}

/*
 * The columns of one table as indices into rep->transports: the run's order for the local
 * table, net_column's for the network one.
 */
static size_t table_columns(const struct bench_report *rep, unsigned group,
			    size_t cols[BENCH_MAX_TRANSPORTS])
{
	size_t n = 0;

	for (size_t t = 0; t < rep->n_transports; t++)
		if (rep->transports[t]->groups & group)
			cols[n++] = t;
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

static void markdown_table(FILE *f, const struct bench_report *rep, unsigned group)
{
	size_t cols[BENCH_MAX_TRANSPORTS], n_cols = table_columns(rep, group, cols);

	fprintf(f, "| metric | size |");
	for (size_t c = 0; c < n_cols; c++)
		fprintf(f, " %s |", rep->transports[cols[c]]->label);
	fprintf(f, "\n|---|---:|");
	for (size_t c = 0; c < n_cols; c++)
		fprintf(f, "---:|");
	fprintf(f, "\n");

	for (size_t s = 0; s < rep->n_sizes; s++)
		for (enum metric m = 0; m < _METRIC_MAX; m++) {
			char size[32];

			fprintf(f, "| %s | %s |", metric_names[m],
				bench_format_size(size, sizeof(size), rep->sizes[s]));
			for (size_t c = 0; c < n_cols; c++) {
				char cell[32];

				format_metric(cell, sizeof(cell),
					      &rep->results[cols[c] * rep->n_sizes + s], m);
				fprintf(f, " %s |", cell);
			}
			fprintf(f, "\n");
		}
}

void bench_report_markdown(FILE *f, const struct bench_report *rep)
{
	struct ratio ratios[MAX_RATIOS];
	unsigned tables = report_tables(rep);
	bool both = tables == (BENCH_GROUP_LOCAL | BENCH_GROUP_NET);
	size_t n_ratios;
	bool notes = false;

	fprintf(f, "## psyne-bench\n\n");
	fprintf(f, "- date: %s\n- machine: %s\n- command: `%s`\n", rep->date, rep->machine,
		rep->command);
	fprintf(f,
		"- %u interleaved round(s) of about %u ms per cell, medians reported; touch=%s; %s\n\n",
		rep->rounds, rep->round_ms, bench_touch_to_string(rep->touch),
		rep->pinned ? "side A on one CPU, side B on another" : "sides not pinned");

	if (tables & BENCH_GROUP_LOCAL) {
		if (both)
			fprintf(f, "### Local transports\n\n");
		markdown_table(f, rep, BENCH_GROUP_LOCAL);
	}
	if (tables & BENCH_GROUP_NET) {
		if (both)
			fprintf(f, "\n### Network transports (stream sockets on this machine)\n\n");
		markdown_table(f, rep, BENCH_GROUP_NET);
	}

	for (size_t i = 0; i < rep->n_transports * rep->n_sizes; i++) {
		const struct bench_result *res = &rep->results[i];
		char size[32];

		if (res->status == BENCH_OK || res->status == BENCH_NOT_RUN)
			continue;
		if (!notes)
			fprintf(f, "\n");
		notes = true;
		fprintf(f, "- %s %s %s: %s\n", res->transport->label,
			bench_format_size(size, sizeof(size), res->size),
			res->status == BENCH_SKIPPED ? "skipped" : "failed", res->why);
	}

	n_ratios = compute_ratios(rep, ratios);
	fprintf(f, "\n```\n");
	for (size_t i = 0; i < n_ratios; i++) {
		const struct ratio *r = &ratios[i];
		bool pass = r->available &&
			    (r->at_most ? r->value <= r->target : r->value >= r->target);

		if (r->available)
			fprintf(f, "RATIO (%s) %s = %.2f%s [%s], target %s %g%s: %s\n", r->name,
				r->what, r->value, r->unit, r->detail,
				r->at_most ? "<=" : ">=", r->target, r->unit,
				pass ? "PASS" : "MISS");
		else
			fprintf(f, "RATIO (%s) %s: N/A, target %s %g%s: %s\n", r->name, r->what,
				r->at_most ? "<=" : ">=", r->target, r->unit, r->detail);
	}
	for (size_t i = 0; i < n_ratios; i++)
		if (ratios[i].note[0] != '\0')
			fprintf(f, "NOTE (%s) %s\n", ratios[i].name, ratios[i].note);
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

int bench_report_json(const char *path, const struct bench_report *rep)
{
	_cleanup_fclose_ FILE *f = NULL;
	struct ratio ratios[MAX_RATIOS];
	size_t n_ratios;

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
		rep->round_ms, bench_touch_to_string(rep->touch));
	fprintf(f, "  \"pinned\": %s,\n", rep->pinned ? "true" : "false");
	fprintf(f, "  \"cpus\": [%d, %d],\n  \"results\": [\n", rep->cpus[0], rep->cpus[1]);

	for (size_t i = 0; i < rep->n_transports * rep->n_sizes; i++) {
		const struct bench_result *res = &rep->results[i];

		fprintf(f, "    {\"transport\": \"%s\", \"size\": %" PRIu64 ", \"status\": \"%s\"",
			res->transport->id, res->size, status_to_string(res->status));
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
		fprintf(f, ", \"wall_sec\": %.3f,\n      \"pp_rounds_p50_p99_min_n\": [",
			res->wall_sec);
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
		fprintf(f, "]}%s\n", i + 1 < rep->n_transports * rep->n_sizes ? "," : "");
	}

	n_ratios = compute_ratios(rep, ratios);
	fprintf(f, "  ],\n  \"ratios\": [\n");
	for (size_t i = 0; i < n_ratios; i++) {
		const struct ratio *r = &ratios[i];
		bool pass = r->available &&
			    (r->at_most ? r->value <= r->target : r->value >= r->target);

		fprintf(f, "    {\"name\": \"%s\", \"what\": ", r->name);
		json_string(f, r->what);
		fprintf(f, ", \"value\": ");
		json_number(f, r->available ? r->value : -1);
		fprintf(f, ", \"target\": \"%s %g\", \"result\": \"%s\", \"detail\": ",
			r->at_most ? "<=" : ">=", r->target,
			!r->available ? "n/a" :
			pass	      ? "pass" :
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

static int write_plot_data(const char *path, const struct bench_report *rep, unsigned group,
			   bool latency)
{
	_cleanup_fclose_ FILE *f = NULL;
	size_t cols[BENCH_MAX_TRANSPORTS], n_cols = table_columns(rep, group, cols);

	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "size");
	for (size_t c = 0; c < n_cols; c++)
		fprintf(f, " \"%s\"", rep->transports[cols[c]]->label);
	fprintf(f, "\n");
	for (size_t s = 0; s < rep->n_sizes; s++) {
		char size[32];

		bench_format_size(size, sizeof(size), rep->sizes[s]);
		fprintf(f, "\"%s\"", size);
		for (size_t c = 0; c < n_cols; c++) {
			const struct bench_result *res = &rep->results[cols[c] * rep->n_sizes + s];
			double v = latency ? res->rtt_p50_ns / 1e3 : res->gb_per_sec;

			if (res->status == BENCH_OK && v > 0)
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

/* The latency and throughput panels of one table: one column of the page. */
static void write_plot_panels(FILE *f, const struct bench_report *rep, const char *dir,
			      unsigned group, bool both)
{
	const char *what = !both		    ? "" :
			   group == BENCH_GROUP_NET ? "network transports: " :
						      "local transports: ";
	size_t cols[BENCH_MAX_TRANSPORTS], n_cols = table_columns(rep, group, cols);
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
		"set title '%sone-way throughput, touch=%s (higher is better)'\n"
		"set ylabel 'GB/s (log)'\n",
		what, bench_touch_to_string(rep->touch));
	(void)snprintf(data, sizeof(data), "%s/throughput-%s.dat", dir, group_name(group));
	fprintf(f, "plot for [i=2:%zu] ", n_cols + 1);
	gp_string(f, data);
	fprintf(f, " using i:xtic(1) title columnheader(i)\n");
}

/*
 * One table: latency above throughput. Both tables: the local ones on the left, the
 * network ones on the right, each with its own key and scale.
 */
static int write_plot_script(const char *path, const char *png, const char *dir,
			     const struct bench_report *rep)
{
	_cleanup_fclose_ FILE *f = NULL;
	unsigned tables = report_tables(rep);
	bool both = tables == (BENCH_GROUP_LOCAL | BENCH_GROUP_NET);
	unsigned width = both ? 2400 : 1400;
	char title[384];

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
		   "set xlabel 'message size'\n");

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
	unsigned tables = report_tables(rep);
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
