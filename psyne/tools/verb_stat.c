/* SPDX-License-Identifier: MIT */
/*
 * psyne stat: lists channels and their counters without joining them, so that looking
 * changes nothing (inspect.h says how). Channels come from a list of sources, one per kind
 * of channel that can be listed from outside; today that is ipc:// alone, since memory://
 * channels live inside one process and the network transports do not exist yet.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "inspect.h"
#include "psyne.h"
#include "ring.h"
#include "tool.h"
#include "uri.h"

#define STAT_WATCH_MIN_SEC 0.1
#define STAT_WATCH_MAX_SEC 3600.0

static bool arg_json;
static double arg_watch_sec; /* 0: print once */
static const char *arg_scheme;
static const char *arg_name;

/* One channel as listed: the inspected channel, or why it could not be read. */
struct stat_row {
	const char *scheme;
	char name[64];
	int error;
	struct psyne_inspect_channel ch;
	bool has_rate; /* --watch: rates from the previous sample of the same channel */
	double msg_rate;
	double byte_rate;
};

struct stat_rows {
	struct stat_row *rows;
	size_t n;
	size_t allocated;
	uint64_t when; /* CLOCK_MONOTONIC ns of the sample */
};

static void stat_rows_done(struct stat_rows *l)
{
	free(l->rows);
	*l = (struct stat_rows){ .n = 0 };
}

static struct stat_row *stat_rows_add(struct stat_rows *l)
{
	if (l->n == l->allocated) {
		size_t n = MAX(l->allocated * 2, (size_t)4);
		struct stat_row *rows = reallocarray(l->rows, n, sizeof(*rows));

		if (!rows)
			return NULL;
		l->rows = rows;
		l->allocated = n;
	}
	l->rows[l->n] = (struct stat_row){ .error = 0 };
	return &l->rows[l->n++];
}

/*
 * Where channels come from. collect() appends a row for every channel of its kind, or for
 * the one called `name` when that is not NULL, and returns 0 or a negative errno. A new kind
 * of channel that can be listed from outside (the network transports, once they exist) is
 * one more entry here.
 */
struct stat_source {
	const char *scheme;
	int (*collect)(const char *name, struct stat_rows *rows);
};

static int ipc_channel(const char *name, const struct psyne_inspect_channel *ch, int error,
		       void *userdata)
{
	struct stat_row *row = stat_rows_add(userdata);

	if (!row)
		return -ENOMEM;
	row->scheme = "ipc";
	snprintf(row->name, sizeof(row->name), "%s", name);
	row->error = error;
	if (ch)
		row->ch = *ch;
	return 0;
}

static int collect_ipc(const char *name, struct stat_rows *rows)
{
	int r = psyne__inspect_ipc(name, ipc_channel, rows);

	return r < 0 ? r : 0;
}

static const struct stat_source sources[] = {
	{ .scheme = "ipc", .collect = collect_ipc },
};

static const struct stat_source *find_source(const char *scheme, size_t len)
{
	for (size_t i = 0; i < ELEMENTSOF(sources); i++)
		if (strlen(sources[i].scheme) == len && strneq(sources[i].scheme, scheme, len))
			return &sources[i];
	return NULL;
}

void verb_stat_help(void)
{
	printf("Usage: " TOOL_NAME " stat [URI|NAME] [OPTIONS]\n"
	       "\n"
	       "Lists the ipc:// channels of this user, or only the one named ipc://NAME or NAME,\n"
	       "with their counters. It reads each channel's shared memory read-only and never\n"
	       "joins: producers, consumers and their liveness stay as they were.\n"
	       "\n"
	       "Columns: NAME, MODE, CAPACITY (ring bytes), FILL%% (bytes reserved or not yet\n"
	       "released), PRODUCERS and CONSUMERS (live ones), MSGS and BYTES (committed over\n"
	       "the channel's life), DROPS (messages lost with a consumer that died holding them);\n"
	       "with --watch also MSGS/S and BYTES/S.\n"
	       "\n"
	       "Options:\n"
	       "     --json           Print a JSON array with one object per channel, members\n"
	       "                       and more counters included; a channel that could not be\n"
	       "                       read is an object with \"error\" and \"errno\"\n"
	       "     --watch[=SEC]    Print again every SEC seconds (default 1, at least 0.1),\n"
	       "                       with message and byte rates, until interrupted; the\n"
	       "                       screen is cleared between samples on a terminal, and\n"
	       "                       --json prints one array per line\n"
	       "  -h --help            Show this help and exit\n"
	       "     --log-level=L    error, warning, info or debug\n"
	       "\n"
	       "Exit status: 0 on success (an interrupted --watch included); 1 when a channel\n"
	       "could not be read (the others are still listed), the named channel does not\n"
	       "exist, or the channels could not be listed; 2 on usage errors.\n");
}

static int parse_seconds(const char *s, double *ret)
{
	char *end;
	double v;

	if (!s || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != 0 || !isfinite(v) || v < STAT_WATCH_MIN_SEC ||
	    v > STAT_WATCH_MAX_SEC)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* [SCHEME://]NAME: a source's scheme and a channel name without options. */
static int parse_channel(const char *arg)
{
	const char *sep = strstr(arg, "://"), *name = arg;

	arg_scheme = NULL;
	if (sep) {
		const struct stat_source *src = find_source(arg, (size_t)(sep - arg));

		if (!src)
			return tool_usage_error(
				"stat", "cannot list '%s': only ipc:// channels can be listed",
				arg);
		arg_scheme = src->scheme;
		name = sep + 3;
	}
	if (!psyne__name_is_valid(name, PSYNE_RING_NAME_MAX))
		return tool_usage_error("stat", "invalid channel name '%s'", arg);
	arg_name = name;
	return 0;
}

int verb_stat_parse_argv(int argc, char *argv[])
{
	enum {
		ARG_JSON = _ARG_COMMON_MAX,
		ARG_WATCH,
	};
	static const struct option options[] = {
		TOOL_COMMON_OPTIONS,
		{ "json", no_argument, NULL, ARG_JSON },
		{ "watch", optional_argument, NULL, ARG_WATCH },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			verb_stat_help();
			return 0;
		case ARG_LOG_LEVEL:
			if (tool_parse_log_level("stat", optarg) < 0)
				return -EINVAL;
			break;
		case ARG_JSON:
			arg_json = true;
			break;
		case ARG_WATCH:
			arg_watch_sec = 1.0;
			if (optarg && parse_seconds(optarg, &arg_watch_sec) < 0)
				return tool_usage_error(
					"stat",
					"--watch: invalid interval '%s' (0.1 to 3600 seconds)",
					optarg);
			break;
		default:
			return tool_option_error("stat", c, argv);
		}
	}
	if (optind < argc && parse_channel(argv[optind]) < 0)
		return -EINVAL;
	return 1;
}

static int collect(struct stat_rows *rows)
{
	rows->when = now_nsec(CLOCK_MONOTONIC);
	for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
		int r;

		if (arg_scheme && !streq(arg_scheme, sources[i].scheme))
			continue;
		r = sources[i].collect(arg_name, rows);
		if (r < 0)
			return log_error_errno(r, "stat: Failed to list the %s:// channels: %m",
					       sources[i].scheme);
	}
	return 0;
}

static double rate(uint64_t now, uint64_t before, double sec)
{
	return now >= before ? (double)(now - before) / sec : 0;
}

/* Rates from the previous sample of the same channel: same source, name and segment. */
static void compute_rates(struct stat_rows *now, const struct stat_rows *before)
{
	double sec = (double)(now->when - before->when) / 1e9;

	for (size_t i = 0; i < now->n; i++) {
		struct stat_row *row = &now->rows[i];

		for (size_t j = 0; j < before->n && sec > 0; j++) {
			const struct stat_row *old = &before->rows[j];

			if (row->error < 0 || old->error < 0 || old->scheme != row->scheme ||
			    !streq(old->name, row->name) || old->ch.id != row->ch.id)
				continue;
			row->has_rate = true;
			row->msg_rate = rate(row->ch.messages, old->ch.messages, sec);
			row->byte_rate = rate(row->ch.bytes, old->ch.bytes, sec);
			break;
		}
	}
}

static double fill_percent(const struct psyne_inspect_channel *ch)
{
	return ch->capacity > 0 ? (double)ch->used * 100.0 / (double)ch->capacity : 0;
}

static const char *role_to_string(uint32_t role)
{
	switch (role & (PSYNE_ROLE_PRODUCER | PSYNE_ROLE_CONSUMER)) {
	case PSYNE_ROLE_PRODUCER:
		return "producer";
	case PSYNE_ROLE_CONSUMER:
		return "consumer";
	case PSYNE_ROLE_PRODUCER | PSYNE_ROLE_CONSUMER:
		return "both";
	default:
		return "none";
	}
}

static void print_json_u64_or_null(const char *key, bool known, uint64_t v)
{
	if (known)
		printf(",\"%s\":%" PRIu64, key, v);
	else
		printf(",\"%s\":null", key);
}

static void print_json_row(const struct stat_row *row)
{
	const struct psyne_inspect_channel *ch = &row->ch;

	printf("{\"transport\":");
	tool_json_string(stdout, row->scheme, strlen(row->scheme));
	printf(",\"name\":");
	tool_json_string(stdout, row->name, strlen(row->name));
	printf(",\"uri\":\"%s://", row->scheme);
	/* Names are [A-Za-z0-9._-] (psyne__inspect_parse_socket() made sure): no escaping. */
	printf("%s\"", row->name);
	if (row->error < 0) {
		printf(",\"error\":");
		tool_json_string(stdout, psyne_strerror(row->error),
				 strlen(psyne_strerror(row->error)));
		printf(",\"errno\":%d}", -row->error);
		return;
	}
	printf(",\"mode\":\"%s\",\"capacity\":%" PRIu64 ",\"used\":%" PRIu64 ",\"fill\":%.2f",
	       psyne__mode_to_string(ch->mode), ch->capacity, ch->used, fill_percent(ch));
	printf(",\"producers\":%" PRIu32 ",\"consumers\":%" PRIu32, ch->producers, ch->consumers);
	printf(",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64, ch->messages, ch->bytes);
	print_json_u64_or_null("queued", ch->queued_known, ch->queued);
	print_json_u64_or_null("queued_bytes", ch->queued_known, ch->queued_bytes);
	print_json_u64_or_null("received", ch->queued_known, ch->received);
	print_json_u64_or_null("received_bytes", ch->queued_known, ch->received_bytes);
	printf(",\"dropped\":%" PRIu64 ",\"reclaimed\":%" PRIu64 ",\"epoch\":%" PRIu32, ch->dropped,
	       ch->reclaimed, ch->epoch);
	if (arg_watch_sec > 0) {
		if (row->has_rate)
			printf(",\"messages_per_sec\":%.1f,\"bytes_per_sec\":%.1f", row->msg_rate,
			       row->byte_rate);
		else
			printf(",\"messages_per_sec\":null,\"bytes_per_sec\":null");
	}
	printf(",\"members\":[");
	for (uint32_t i = 0; i < ch->n_members; i++) {
		const struct psyne_inspect_member *m = &ch->members[i];

		printf("%s{\"slot\":%" PRIu32 ",\"pid\":%" PRIu32 ",\"role\":\"%s\",\"alive\":%s"
		       ",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
		       i > 0 ? "," : "", m->slot, m->pid, role_to_string(m->role),
		       m->alive ? "true" : "false", m->messages, m->bytes);
	}
	printf("]}");
}

static void print_json(const struct stat_rows *rows)
{
	bool first = true;

	putchar('[');
	for (size_t i = 0; i < rows->n; i++) {
		if (!first)
			putchar(',');
		first = false;
		print_json_row(&rows->rows[i]);
	}
	fputs("]\n", stdout);
}

enum {
	COL_NAME,
	COL_MODE,
	COL_CAPACITY,
	COL_FILL,
	COL_PRODUCERS,
	COL_CONSUMERS,
	COL_MSGS,
	COL_BYTES,
	COL_DROPS,
	COL_MSG_RATE,
	COL_BYTE_RATE,
	_COL_MAX,
};

#define CELL_MAX 64

static const char *const col_titles[_COL_MAX] = {
	"NAME", "MODE",	 "CAPACITY", "FILL%",  "PRODUCERS", "CONSUMERS",
	"MSGS", "BYTES", "DROPS",    "MSGS/S", "BYTES/S",
};

/* A count with a k, M or G suffix past 10000, to keep rate columns narrow. */
static void format_count(char *buf, size_t size, double v)
{
	static const char *const suffixes[] = { "", "k", "M", "G", "T" };
	size_t i = 0;

	while (v >= 10000.0 && i + 1 < ELEMENTSOF(suffixes)) {
		v /= 1000.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, "%.1f%s", v, suffixes[i]);
}

static void row_cells(const struct stat_row *row, char cells[_COL_MAX][CELL_MAX])
{
	const struct psyne_inspect_channel *ch = &row->ch;
	char bytes[FORMAT_BYTES_MAX];

	snprintf(cells[COL_NAME], CELL_MAX, "%s", row->name);
	snprintf(cells[COL_MODE], CELL_MAX, "%s", psyne__mode_to_string(ch->mode));
	format_bytes(cells[COL_CAPACITY], CELL_MAX, ch->capacity);
	snprintf(cells[COL_FILL], CELL_MAX, "%.1f%%", fill_percent(ch));
	snprintf(cells[COL_PRODUCERS], CELL_MAX, "%" PRIu32, ch->producers);
	snprintf(cells[COL_CONSUMERS], CELL_MAX, "%" PRIu32, ch->consumers);
	snprintf(cells[COL_MSGS], CELL_MAX, "%" PRIu64, ch->messages);
	format_bytes(cells[COL_BYTES], CELL_MAX, ch->bytes);
	snprintf(cells[COL_DROPS], CELL_MAX, "%" PRIu64, ch->dropped);
	if (!row->has_rate) {
		snprintf(cells[COL_MSG_RATE], CELL_MAX, "-");
		snprintf(cells[COL_BYTE_RATE], CELL_MAX, "-");
		return;
	}
	format_count(cells[COL_MSG_RATE], CELL_MAX, row->msg_rate);
	snprintf(cells[COL_BYTE_RATE], CELL_MAX, "%s/s",
		 format_bytes(bytes, sizeof(bytes), (uint64_t)llround(row->byte_rate)));
}

static int print_table(const struct stat_rows *rows)
{
	_cleanup_free_ char(*cells)[_COL_MAX][CELL_MAX] = NULL;
	size_t width[_COL_MAX], n_cols = arg_watch_sec > 0 ? _COL_MAX : COL_MSG_RATE, n = 0;

	cells = calloc(rows->n + 1, sizeof(*cells));
	if (!cells)
		return log_oom();
	for (size_t c = 0; c < n_cols; c++) {
		snprintf(cells[0][c], CELL_MAX, "%s", col_titles[c]);
		width[c] = strlen(col_titles[c]);
	}
	for (size_t i = 0; i < rows->n; i++) {
		if (rows->rows[i].error < 0)
			continue; /* said on stderr */
		n++;
		row_cells(&rows->rows[i], cells[n]);
		for (size_t c = 0; c < n_cols; c++)
			width[c] = MAX(width[c], strlen(cells[n][c]));
	}
	if (n == 0) {
		/* Every channel there failed, or the one asked for is missing: stderr says it. */
		if (rows->n > 0 || (arg_name && arg_watch_sec == 0))
			return 0;
		if (arg_name)
			printf("No channel '%s'.\n", arg_name);
		else
			printf("No channels.\n");
		return 0;
	}
	for (size_t i = 0; i <= n; i++) {
		for (size_t c = 0; c < n_cols; c++) {
			/* Names and modes to the left, numbers to the right. */
			if (c <= COL_MODE)
				printf("%-*s", (int)width[c], cells[i][c]);
			else
				printf("%*s", (int)width[c], cells[i][c]);
			fputs(c + 1 < n_cols ? "  " : "\n", stdout);
		}
	}
	return 0;
}

/* Prints one sample; returns 0, or -ENOENT or the first channel's error for the status. */
static int print_rows(const struct stat_rows *rows)
{
	int ret = 0, r;

	for (size_t i = 0; i < rows->n; i++) {
		const struct stat_row *row = &rows->rows[i];

		if (row->error >= 0)
			continue;
		log_error_errno(row->error, "stat: Failed to read channel '%s://%s': %s",
				row->scheme, row->name, psyne_strerror(row->error));
		if (ret == 0)
			ret = row->error;
	}
	if (arg_json) {
		print_json(rows);
	} else {
		r = print_table(rows);
		if (r < 0)
			return r;
	}
	if (ret == 0 && arg_name && rows->n == 0)
		ret = -ENOENT;
	return ret;
}

static int flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return log_error_errno(errno != 0 ? errno : EIO,
				       "stat: Failed to write to standard output: %m");
	return 0;
}

static int stat_once(void)
{
	_cleanup_(stat_rows_done) struct stat_rows rows = { .n = 0 };
	int r, q;

	r = collect(&rows);
	if (r < 0)
		return r;
	r = print_rows(&rows);
	q = flush_stdout();
	if (q < 0)
		return q;
	if (r == -ENOENT)
		return log_error_errno(r, "stat: No such channel '%s'.", arg_name);
	return r;
}

/* Samples until SIGINT or SIGTERM, which are taken synchronously: no handler, no race. */
static int stat_watch(void)
{
	_cleanup_(stat_rows_done) struct stat_rows before = { .n = 0 };
	struct timespec interval = timespec_from_nsec((uint64_t)(arg_watch_sec * 1e9));
	bool tty = isatty(STDOUT_FILENO);
	sigset_t stop;
	int r;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0)
		return log_error_errno(errno, "stat: Failed to block signals: %m");

	for (bool first = true;; first = false) {
		_cleanup_(stat_rows_done) struct stat_rows now = { .n = 0 };

		r = collect(&now);
		if (r < 0)
			return r;
		compute_rates(&now, &before);
		if (tty && !arg_json)
			fputs("\033[H\033[2J", stdout);
		else if (!first && !arg_json)
			putchar('\n');
		(void)print_rows(&now); /* errors were said; watching goes on */
		r = flush_stdout();
		if (r < 0)
			return r;

		stat_rows_done(&before);
		before = now;
		now = (struct stat_rows){ .n = 0 };

		r = sigtimedwait(&stop, NULL, &interval);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return log_error_errno(errno, "stat: Failed to wait: %m");
	}
}

int verb_stat_run(int n_args, char *args[])
{
	return arg_watch_sec > 0 ? stat_watch() : stat_once();
}
