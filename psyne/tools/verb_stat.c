/* SPDX-License-Identifier: MIT */
/*
 * psyne stat: lists channels and their counters without joining them, so that looking
 * changes nothing (inspect.h says how). Channels come from a list of sources, one per kind
 * of channel that can be listed from outside: ipc:// channels by their shared segments, and
 * network handles (unix://, tcp://, tls://) by the stats page each one publishes
 * (netstat.h). memory:// channels live inside one process and are not listed.
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
#include <sys/un.h>
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

struct stat_source;

static bool arg_json;
static double arg_watch_sec;			/* 0: print once */
static const struct stat_source *arg_source;	/* NULL: every source */
static const char *arg_name;			/* ipc: the channel name; NULL: all */
static const char *arg_uri;			/* network: the URI as given; NULL: all */
static char arg_address[PSYNE_NETSTAT_URI_MAX]; /* network: its SCHEME://ADDRESS */
static bool arg_listeners;			/* network: ?listen, only the listeners */

/* One channel as listed: the inspected channel, or why it could not be read. */
struct stat_row {
	const struct stat_source *source;
	char scheme[16];
	char name[PSYNE_NETSTAT_URI_MAX]; /* ipc: the channel name; network: the URI */
	int error;
	pid_t pid; /* network: where the page was found */
	int fd;
	uint64_t id; /* tells the channel from an older one of the same name */
	uint64_t messages;
	uint64_t bytes;
	union {
		struct psyne_inspect_channel ch; /* ipc */
		struct psyne_inspect_net net;	 /* network */
	};
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

static void print_json_error(const struct stat_row *row)
{
	printf(",\"error\":");
	tool_json_string(stdout, psyne_strerror(row->error), strlen(psyne_strerror(row->error)));
	printf(",\"errno\":%d}", -row->error);
}

static void print_json_rates(const struct stat_row *row)
{
	if (arg_watch_sec <= 0)
		return;
	if (row->has_rate)
		printf(",\"messages_per_sec\":%.1f,\"bytes_per_sec\":%.1f", row->msg_rate,
		       row->byte_rate);
	else
		printf(",\"messages_per_sec\":null,\"bytes_per_sec\":null");
}

static void ipc_json(const struct stat_row *row)
{
	const struct psyne_inspect_channel *ch = &row->ch;

	printf("{\"transport\":\"ipc\",\"name\":");
	tool_json_string(stdout, row->name, strlen(row->name));
	/* Names are [A-Za-z0-9._-] (psyne__inspect_parse_socket() made sure): no escaping. */
	printf(",\"uri\":\"ipc://%s\"", row->name);
	if (row->error < 0) {
		print_json_error(row);
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
	print_json_rates(row);
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

/* Wide enough for a network handle's URI. */
#define CELL_MAX PSYNE_NETSTAT_URI_MAX

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

/* The rate columns, the same for every source. */
static void rate_cells(const struct stat_row *row, char cells[_COL_MAX][CELL_MAX])
{
	char bytes[FORMAT_BYTES_MAX];

	if (!row->has_rate) {
		snprintf(cells[COL_MSG_RATE], CELL_MAX, "-");
		snprintf(cells[COL_BYTE_RATE], CELL_MAX, "-");
		return;
	}
	format_count(cells[COL_MSG_RATE], CELL_MAX, row->msg_rate);
	snprintf(cells[COL_BYTE_RATE], CELL_MAX, "%s/s",
		 format_bytes(bytes, sizeof(bytes), (uint64_t)llround(row->byte_rate)));
}

static void ipc_cells(const struct stat_row *row, char cells[_COL_MAX][CELL_MAX])
{
	const struct psyne_inspect_channel *ch = &row->ch;

	snprintf(cells[COL_NAME], CELL_MAX, "%s", row->name);
	snprintf(cells[COL_MODE], CELL_MAX, "%s", psyne__mode_to_string(ch->mode));
	format_bytes(cells[COL_CAPACITY], CELL_MAX, ch->capacity);
	snprintf(cells[COL_FILL], CELL_MAX, "%.1f%%", fill_percent(ch));
	snprintf(cells[COL_PRODUCERS], CELL_MAX, "%" PRIu32, ch->producers);
	snprintf(cells[COL_CONSUMERS], CELL_MAX, "%" PRIu32, ch->consumers);
	snprintf(cells[COL_MSGS], CELL_MAX, "%" PRIu64, ch->messages);
	format_bytes(cells[COL_BYTES], CELL_MAX, ch->bytes);
	snprintf(cells[COL_DROPS], CELL_MAX, "%" PRIu64, ch->dropped);
	rate_cells(row, cells);
}

static int ipc_channel(const char *name, const struct psyne_inspect_channel *ch, int error,
		       void *userdata)
{
	struct stat_row *row = stat_rows_add(userdata);

	if (!row)
		return -ENOMEM;
	snprintf(row->scheme, sizeof(row->scheme), "ipc");
	snprintf(row->name, sizeof(row->name), "%s", name);
	row->error = error;
	if (ch) {
		row->ch = *ch;
		row->id = ch->id;
		row->messages = ch->messages;
		row->bytes = ch->bytes;
	}
	return 0;
}

static int collect_ipc(struct stat_rows *rows)
{
	int r = psyne__inspect_ipc(arg_name, ipc_channel, rows);

	return r < 0 ? r : 0;
}

/* Bytes queued over CAPACITY times the sessions listed: each has a ring each way. */
static double net_fill_percent(const struct psyne_inspect_net *net)
{
	double room = (double)net->capacity * net->n_peers;

	return room > 0 ? (double)net->used * 100.0 / room : 0;
}

static const char *const peer_states[_PSYNE_NETSTAT_PEER_MAX] = {
	[PSYNE_NETSTAT_PEER_CONNECTING] = "connecting",
	[PSYNE_NETSTAT_PEER_TLS] = "tls",
	[PSYNE_NETSTAT_PEER_HELLO] = "hello",
	[PSYNE_NETSTAT_PEER_UP] = "up",
	[PSYNE_NETSTAT_PEER_DOWN] = "down",
	[PSYNE_NETSTAT_PEER_GONE] = "gone",
};

static void net_cells(const struct stat_row *row, char cells[_COL_MAX][CELL_MAX])
{
	const struct psyne_inspect_net *net = &row->net;

	snprintf(cells[COL_NAME], CELL_MAX, "%s", row->name);
	snprintf(cells[COL_MODE], CELL_MAX, "%s", psyne__mode_to_string(net->mode));
	format_bytes(cells[COL_CAPACITY], CELL_MAX, net->capacity);
	snprintf(cells[COL_FILL], CELL_MAX, "%.1f%%", net_fill_percent(net));
	snprintf(cells[COL_PRODUCERS], CELL_MAX, "%" PRIu32, net->up);
	snprintf(cells[COL_CONSUMERS], CELL_MAX, "%" PRIu32, net->up);
	snprintf(cells[COL_MSGS], CELL_MAX, "%" PRIu64, row->messages);
	format_bytes(cells[COL_BYTES], CELL_MAX, row->bytes);
	snprintf(cells[COL_DROPS], CELL_MAX, "%" PRIu64, net->dropped);
	rate_cells(row, cells);
}

/* ,"key":"the error's text", or null for 0. */
static void print_json_errno(const char *key, int error)
{
	printf(",\"%s\":", key);
	if (error < 0)
		tool_json_string(stdout, psyne_strerror(error), strlen(psyne_strerror(error)));
	else
		printf("null");
}

static void net_json(const struct stat_row *row)
{
	const struct psyne_inspect_net *net = &row->net;

	printf("{\"transport\":");
	tool_json_string(stdout, row->scheme, strlen(row->scheme));
	if (row->error < 0) {
		/* What the page would have said, its URI included, is unknown. */
		printf(",\"name\":null,\"uri\":null,\"pid\":%d,\"fd\":%d", (int)row->pid, row->fd);
		print_json_error(row);
		return;
	}
	printf(",\"name\":");
	tool_json_string(stdout, row->name, strlen(row->name));
	printf(",\"uri\":");
	tool_json_string(stdout, net->uri, strlen(net->uri));
	printf(",\"pid\":%d,\"role\":\"%s\"", (int)row->pid, net->listener ? "listener" : "dialer");
	printf(",\"mode\":\"%s\",\"capacity\":%" PRIu64 ",\"used\":%" PRIu64 ",\"fill\":%.2f",
	       psyne__mode_to_string(net->mode), net->capacity, net->used, net_fill_percent(net));
	printf(",\"producers\":%" PRIu32 ",\"consumers\":%" PRIu32, net->up, net->up);
	printf(",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64, row->messages, row->bytes);
	printf(",\"sent\":%" PRIu64 ",\"sent_bytes\":%" PRIu64 ",\"received\":%" PRIu64
	       ",\"received_bytes\":%" PRIu64,
	       net->sent, net->sent_bytes, net->received, net->received_bytes);
	printf(",\"reconnects\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"sessions\":%" PRIu32
	       ",\"handshakes\":%" PRIu32,
	       net->reconnects, net->dropped, net->sessions, net->handshakes);
	print_json_errno("last_error", net->last_error);
	printf(",\"bad_sessions\":%" PRIu64, net->bad_sessions);
	printf(",\"consistent\":%s", net->consistent ? "true" : "false");
	print_json_rates(row);
	printf(",\"peers\":[");
	for (uint32_t i = 0; i < net->n_peers; i++) {
		const struct psyne_inspect_peer *p = &net->peers[i];

		printf("%s{\"name\":", i > 0 ? "," : "");
		tool_json_string(stdout, p->name, strlen(p->name));
		printf(",\"state\":\"%s\",\"tx_queued\":%" PRIu64 ",\"rx_queued\":%" PRIu64
		       ",\"messages_sent\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
		       ",\"messages_received\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		       ",\"retransmits\":%" PRIu64 ",\"reconnects\":%" PRIu64,
		       peer_states[p->state], p->tx_queued, p->rx_queued, p->messages_tx,
		       p->bytes_tx, p->messages_rx, p->bytes_rx, p->retransmits, p->reconnects);
		print_json_errno("last_error", p->last_error);
		printf("}");
	}
	printf("]}");
}

/* Whether a handle is one the arguments select: all, or those on arg_address. */
static bool net_selected(const struct psyne_inspect_net *net)
{
	size_t n = strcspn(net->uri, "?");

	if (!arg_uri)
		return true;
	if (arg_listeners && !net->listener)
		return false;
	return strlen(arg_address) == n && strneq(arg_address, net->uri, n);
}

static int net_handle(pid_t pid, int fd, const struct psyne_inspect_net *net, int error,
		      void *userdata)
{
	struct stat_row *row;

	/* A page that cannot be read cannot say what it is: listed only when all are. */
	if (net ? !net_selected(net) : arg_uri != NULL)
		return 0;
	row = stat_rows_add(userdata);
	if (!row)
		return -ENOMEM;
	row->pid = pid;
	row->fd = fd;
	row->error = error;
	if (!net) {
		snprintf(row->scheme, sizeof(row->scheme), "net");
		snprintf(row->name, sizeof(row->name), "pid %d fd %d", (int)pid, fd);
		return 0;
	}
	row->net = *net;
	/* The page's URI has "://" (psyne__inspect_net_page() made sure). */
	snprintf(row->scheme, sizeof(row->scheme), "%.*s", (int)strcspn(net->uri, ":"), net->uri);
	snprintf(row->name, sizeof(row->name), "%s", net->uri);
	row->id = net->id;
	row->messages = net->sent + net->received;
	row->bytes = net->sent_bytes + net->received_bytes;
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct stat_row *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* Network handles, by URI, then process. */
static int collect_net(struct stat_rows *rows)
{
	size_t first = rows->n;
	int r = psyne__inspect_net(net_handle, rows);

	if (r < 0)
		return r;
	if (rows->n > first)
		qsort(rows->rows + first, rows->n - first, sizeof(*rows->rows), row_cmp);
	return 0;
}

/*
 * Where channels come from. collect() appends a row for every channel of its kind that the
 * arguments select and returns 0 or a negative errno; the rows then print through the
 * source's cells() and json(). A new kind of channel that can be listed from outside is
 * one more entry here.
 */
struct stat_source {
	const char *what;	    /* for messages */
	const char *const *schemes; /* the URI schemes it lists, NULL-terminated */
	int (*collect)(struct stat_rows *rows);
	void (*cells)(const struct stat_row *row, char cells[_COL_MAX][CELL_MAX]);
	void (*json)(const struct stat_row *row);
};

enum {
	SOURCE_IPC,
	SOURCE_NET,
	_SOURCE_MAX,
};

static const char *const ipc_schemes[] = { "ipc", NULL };
static const char *const net_schemes[] = { "unix", "tcp", "tls", NULL };

static const struct stat_source sources[_SOURCE_MAX] = {
	[SOURCE_IPC] = {
		.what = "ipc:// channels",
		.schemes = ipc_schemes,
		.collect = collect_ipc,
		.cells = ipc_cells,
		.json = ipc_json,
	},
	[SOURCE_NET] = {
		.what = "network handles",
		.schemes = net_schemes,
		.collect = collect_net,
		.cells = net_cells,
		.json = net_json,
	},
};

static const struct stat_source *find_source(const char *scheme, size_t len)
{
	for (size_t i = 0; i < ELEMENTSOF(sources); i++)
		for (const char *const *p = sources[i].schemes; *p; p++)
			if (strlen(*p) == len && strneq(*p, scheme, len))
				return &sources[i];
	return NULL;
}

void verb_stat_help(void)
{
	printf("Usage: " TOOL_NAME " stat [URI|NAME] [OPTIONS]\n"
	       "\n"
	       "Lists the ipc:// channels and the network handles (unix://, tcp://, tls://) of\n"
	       "this user's processes with their counters; or only the channel named ipc://NAME\n"
	       "or NAME; or only the handles on SCHEME://ADDRESS, and with ?listen only its\n"
	       "listeners. It reads shared memory read-only and never joins a channel:\n"
	       "producers, consumers and their liveness stay as they were.\n"
	       "\n"
	       "Columns: NAME, MODE, CAPACITY (ring bytes), FILL%% (bytes reserved or not yet\n"
	       "released), PRODUCERS and CONSUMERS (live ones), MSGS and BYTES (committed over\n"
	       "the channel's life), DROPS (messages lost with a consumer that died holding them);\n"
	       "with --watch also MSGS/S and BYTES/S. A network handle shows its URI as NAME,\n"
	       "the ring bytes of each session and direction as CAPACITY, the bytes queued in\n"
	       "them over CAPACITY times its sessions as FILL%%, its sessions up as PRODUCERS\n"
	       "and CONSUMERS, what it sent and received as MSGS and BYTES, and connections\n"
	       "refused or dropped in their handshake as DROPS.\n"
	       "\n"
	       "Options:\n"
	       "     --json           Print a JSON array with one object per channel, members\n"
	       "                       (peers for a network handle) and more counters\n"
	       "                       included; a channel that could not be read is an\n"
	       "                       object with \"error\" and \"errno\"\n"
	       "     --watch[=SEC]    Print again every SEC seconds (default 1, at least 0.1),\n"
	       "                       with message and byte rates, until interrupted; the\n"
	       "                       screen is cleared between samples on a terminal, and\n"
	       "                       --json prints one array per line\n"
	       "  -h --help            Show this help and exit\n"
	       "     --log-level=L    error, warning, info or debug\n"
	       "\n"
	       "Exit status: 0 on success (an interrupted --watch included); 1 when a channel\n"
	       "could not be read (the others are still listed), the named channel does not\n"
	       "exist or the address has no handle, or the channels could not be listed; 2 on\n"
	       "usage errors.\n");
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

/*
 * A network URI, SCHEME://ADDRESS[?listen], checked as psyne_open() would check it, and
 * with its words, without opening anything.
 */
static int parse_network_uri(const char *arg, struct psyne_uri *uri)
{
	char host[256];
	const char *port;
	size_t n = strlen(uri->address);

	for (size_t i = 0; i < uri->n_opts; i++) {
		if (!streq(uri->opts[i].key, "listen") || !isempty(uri->opts[i].value))
			return tool_usage_error(
				"stat", "cannot list '%s': the only option taken is ?listen", arg);
		arg_listeners = true;
	}
	if (streq(uri->scheme, "unix")) {
		/* transport_unix.c: the size of sun_path, less its NUL; "@" alone names nothing. */
		if (n >= sizeof(((struct sockaddr_un *)NULL)->sun_path) || streq(uri->address, "@"))
			return tool_usage_error("stat",
						"unix://%s: a path or @name of 1 to %zu bytes",
						uri->address,
						sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
	} else if (psyne__uri_host_port(uri->address, host, sizeof(host), &port) < 0) {
		return tool_usage_error(
			"stat", "%s: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)",
			uri->address);
	}
	if ((size_t)snprintf(arg_address, sizeof(arg_address), "%s://%s", uri->scheme,
			     uri->address) >= sizeof(arg_address))
		return tool_usage_error("stat", "'%s': longer than a handle's URI can be", arg);
	arg_uri = arg;
	return 0;
}

/*
 * [SCHEME://]NAME: a source, and an ipc:// name or a network address. A URI is refused for
 * the reason psyne_open() would give, in its words.
 */
static int parse_channel(const char *arg)
{
	struct psyne_uri uri;
	const char *why;
	int r;

	arg_source = &sources[SOURCE_IPC];
	if (!strstr(arg, "://")) {
		if (!psyne__name_is_valid(arg, PSYNE_RING_NAME_MAX))
			return tool_usage_error(
				"stat",
				"invalid channel name '%s' (1 to %u characters of [A-Za-z0-9._-])",
				arg, PSYNE_RING_NAME_MAX);
		arg_name = arg;
		return 0;
	}

	tool_reason_begin();
	r = psyne__uri_parse(arg, &uri);
	why = tool_reason_end();
	if (r < 0)
		return tool_usage_error("stat", "%s", why ? why : "invalid URI");
	arg_source = find_source(uri.scheme, strlen(uri.scheme));
	if (!arg_source)
		return tool_usage_error("stat",
					"cannot list '%s': only ipc://, unix://, tcp:// and "
					"tls:// channels can be listed",
					arg);
	if (arg_source == &sources[SOURCE_NET])
		return parse_network_uri(arg, &uri);

	if (uri.n_opts > 0)
		return tool_usage_error(
			"stat",
			"cannot list '%s': a channel is listed by its name, without options", arg);
	tool_reason_begin();
	r = psyne__uri_ring_name(&uri);
	why = tool_reason_end();
	if (r < 0)
		return tool_usage_error("stat", "%s", why ? why : "invalid channel name");
	arg_name = arg + strlen("ipc://");
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
		size_t first = rows->n;
		int r;

		if (arg_source && arg_source != &sources[i])
			continue;
		r = sources[i].collect(rows);
		if (r < 0)
			return log_error_errno(r, "stat: Failed to list the %s: %m",
					       sources[i].what);
		for (size_t j = first; j < rows->n; j++)
			rows->rows[j].source = &sources[i];
	}
	return 0;
}

static double rate(uint64_t now, uint64_t before, double sec)
{
	return now >= before ? (double)(now - before) / sec : 0;
}

/* Rates from the previous sample of the same channel: same source, name and memory. */
static void compute_rates(struct stat_rows *now, const struct stat_rows *before)
{
	double sec = (double)(now->when - before->when) / 1e9;

	for (size_t i = 0; i < now->n; i++) {
		struct stat_row *row = &now->rows[i];

		for (size_t j = 0; j < before->n && sec > 0; j++) {
			const struct stat_row *old = &before->rows[j];

			if (row->error < 0 || old->error < 0 || old->source != row->source ||
			    !streq(old->name, row->name) || old->id != row->id)
				continue;
			row->has_rate = true;
			row->msg_rate = rate(row->messages, old->messages, sec);
			row->byte_rate = rate(row->bytes, old->bytes, sec);
			break;
		}
	}
}

static void print_json(const struct stat_rows *rows)
{
	bool first = true;

	putchar('[');
	for (size_t i = 0; i < rows->n; i++) {
		if (!first)
			putchar(',');
		first = false;
		rows->rows[i].source->json(&rows->rows[i]);
	}
	fputs("]\n", stdout);
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
		rows->rows[i].source->cells(&rows->rows[i], cells[n]);
		for (size_t c = 0; c < n_cols; c++)
			width[c] = MAX(width[c], strlen(cells[n][c]));
	}
	if (n == 0) {
		/* Every channel there failed, or the one asked for is missing: stderr says it. */
		if (rows->n > 0 || ((arg_name || arg_uri) && arg_watch_sec == 0))
			return 0;
		if (arg_name || arg_uri)
			printf("No channel '%s'.\n", arg_name ? arg_name : arg_uri);
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
		if (row->source == &sources[SOURCE_NET])
			log_error_errno(
				row->error,
				"stat: Failed to read the network handle of pid %d (fd %d): %s",
				(int)row->pid, row->fd, psyne_strerror(row->error));
		else
			log_error_errno(row->error, "stat: Failed to read channel 'ipc://%s': %s",
					row->name, psyne_strerror(row->error));
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
	if (ret == 0 && (arg_name || arg_uri) && rows->n == 0)
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
	if (r == -ENOENT && arg_uri)
		return log_error_errno(r, "stat: No network handle on '%s'.", arg_uri);
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
