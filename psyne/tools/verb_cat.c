/* SPDX-License-Identifier: MIT */
/*
 * psyne cat: sends stdin, a string or a file to a channel, or prints what a channel
 * receives, like nngcat does for NNG. It goes through the public API only (psyne.h), so it
 * works on every scheme psyne_open() knows, and it is what a user would write.
 *
 * The sender lingers: a channel lives only as long as someone has it open, so a sender that
 * exited right after its last message would take unread messages with it when no receiver
 * had joined yet. It waits until the channel holds nothing unread (--linger bounds that).
 *
 * SIGINT and SIGTERM end cat the way the end of its work does: it stops, closes the channel
 * (a stream's peer hears it leave, instead of waiting up to reconnect= for it to come back),
 * and then dies of the signal, as the shell expects of an interrupted program. The handler
 * may run on one of the library's threads, and the library waits on through a signal, so
 * cat never waits longer than CAT_SLICE_MS at a time, for a message, for space, or for
 * input, without looking whether a signal came. A second signal kills at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "psyne.h"
#include "tool.h"

#define CAT_DEFAULT_CHUNK (64u * 1024)
#define CAT_MAX_MS (24u * 3600 * 1000) /* longest --interval, --timeout, --linger: a day */
#define CAT_POLL_MS 10	 /* how often the sender's linger and a receiver short of --count look */
#define CAT_SLICE_MS 100 /* the longest wait without looking for SIGINT or SIGTERM */

static bool arg_send;
static bool arg_recv;
static bool arg_raw;
static bool arg_hex;
static bool arg_json;
static const char *arg_data;
static const char *arg_file;
static uint64_t arg_chunk; /* 0: the default */
static uint64_t arg_count; /* 0: no limit */
static bool arg_count_set;
static unsigned arg_interval_ms;
static uint32_t arg_type;
static int arg_timeout_ms = -1;
static int arg_linger_ms = -1;

static volatile sig_atomic_t stop_signal; /* SIGINT or SIGTERM once one came */

void verb_cat_help(void)
{
	printf("Usage: " TOOL_NAME " cat URI [OPTIONS]\n"
	       "\n"
	       "Sends to the channel URI or prints what it receives. Without --send or --recv it\n"
	       "sends when standard input is not a terminal and receives otherwise.\n"
	       "\n"
	       "URI is any channel psyne_open() knows; psyne(3) gives each scheme's options.\n"
	       "With ?listen a stream or udp:// handle binds the address, without it dials.\n"
	       "  ipc://NAME       A channel between processes of this machine\n"
	       "                   e.g. ipc://camera0?mode=mpsc&capacity=64M\n"
	       "  unix://PATH      A stream over a unix socket; unix://@NAME for an abstract one\n"
	       "                   e.g. unix://@logs?listen\n"
	       "  tcp://HOST:PORT  A stream over TCP\n"
	       "                   e.g. tcp://127.0.0.1:7000?listen\n"
	       "  tls://HOST:PORT  A stream over TCP with TLS 1.3: cert=, key=, ca=, or psk=\n"
	       "                   e.g. tls://[::1]:7443?psk=000102030405060708090a0b0c0d0e0f\n"
	       "  udp://HOST:PORT  One message per datagram, unicast or multicast\n"
	       "                   e.g. udp://239.1.2.3:7000?listen\n"
	       "  memory://NAME    Threads of one process: pointless here, since another psyne\n"
	       "                   cat never sees it\n"
	       "                   e.g. memory://scratch\n"
	       "\n");
	/* In parts: C guarantees string literals of 4095 bytes only. */
	printf("Sending (--send):\n"
	       "  -s --send           Send: one message per line of standard input, the\n"
	       "                      newline stripped\n"
	       "  -d --data=STRING    Send STRING as one message instead\n"
	       "  -f --file=PATH      Send the file PATH as one message instead\n"
	       "     --raw           Send standard input as it comes, in messages of --chunk\n"
	       "                      bytes (the last one shorter)\n"
	       "     --chunk=SIZE    Message size for --raw, K/M suffixes (default 64K, or the\n"
	       "                      largest message the channel takes when that is smaller)\n"
	       "  -n --count=N        Send at most N messages; with --data or --file, send that\n"
	       "                      message N times (default 1; 0 means without end)\n"
	       "     --interval=MS   Wait MS milliseconds between two messages\n"
	       "     --type=N        Message type, 0 to 4294967295 (default 0)\n"
	       "     --timeout=MS    Wait at most MS milliseconds for space for each message\n"
	       "                      (default: as long as it takes)\n"
	       "     --linger=MS     After the last message, wait at most MS milliseconds until\n"
	       "                      the channel holds nothing unread, then close (default: as\n"
	       "                      long as it takes; 0: close at once; memory:// never waits)\n"
	       "\n"
	       "Receiving (--recv):\n"
	       "  -r --recv           Receive and print each message as a line of text: bytes\n"
	       "                      other than printable ASCII as \\xHH, a backslash as \\\\\n"
	       "     --raw           Write the payloads to standard output unchanged\n"
	       "     --hex           Print each message as a hex dump under a line giving its\n"
	       "                      type and size\n"
	       "     --json          Print each message as one JSON object per line:\n"
	       "                      {\"type\":N,\"size\":N,\"data\":\"...\"}, with \"base64\":\"...\"\n"
	       "                      instead of \"data\" when the payload is not UTF-8\n"
	       "  -n --count=N        Stop after N messages, waiting for them even while the\n"
	       "                      channel has no producer (default: no limit)\n"
	       "     --timeout=MS    Fail when no message came for MS milliseconds (default:\n"
	       "                      wait as long as it takes)\n"
	       "\n"
	       "  -h --help           Show this help and exit\n"
	       "     --log-level=L   error, warning, info or debug\n"
	       "\n");
	printf("Without --count, a receiver stops, with status 0, once every producer it had has\n"
	       "closed or died and everything they sent was printed; on a listening stream\n"
	       "(unix://, tcp://, tls:// with ?listen) it serves one sender after another\n"
	       "instead, until --timeout or a signal. With --count=N it waits for its N messages\n"
	       "across producers that come and go, up to --timeout, and fails only when none\n"
	       "can come any more: a dialer whose listener closed the session.\n"
	       "\n"
	       "On either side, a dialer (unix://, tcp://, tls:// without ?listen) waits at most\n"
	       "--timeout for its connection, unless its URI sets connect_timeout=.\n"
	       "\n"
	       "SIGINT (Ctrl-C) or SIGTERM stops either side: it closes the channel, so that a\n"
	       "peer hears it leave, then dies of the signal. A second one kills at once.\n"
	       "\n"
	       "Exit status: 0 on success; 1 when the channel could not be opened, a message\n"
	       "could not be sent or written out, the timeout passed, the consumers left with\n"
	       "messages unread, or the --count messages to receive can no longer come; 2 on\n"
	       "usage errors.\n");
}

/* A duration in milliseconds, 0 to a day. */
static int parse_ms(const char *option, const char *value, unsigned *ret)
{
	unsigned v;

	if (safe_atou(value, &v) < 0 || v > CAT_MAX_MS)
		return tool_usage_error("cat", "%s: invalid duration '%s' (0 to %u ms)", option,
					value, CAT_MAX_MS);
	*ret = v;
	return 0;
}

/* Checks the options against each other once all are known. */
static int check_options(const char *send_only, const char *recv_only)
{
	const char *source = arg_data ? "--data" : "--file";

	if (arg_send && arg_recv)
		return tool_usage_error("cat", "options '--send' and '--recv' exclude each other");
	if (arg_send && recv_only)
		return tool_usage_error("cat", "option '%s' cannot be used with --send", recv_only);
	if (arg_recv && send_only)
		return tool_usage_error("cat", "option '%s' cannot be used with --recv", send_only);
	if (send_only && recv_only)
		return tool_usage_error("cat", "options '%s' and '%s' exclude each other",
					send_only, recv_only);
	if (arg_data && arg_file)
		return tool_usage_error("cat", "options '--data' and '--file' exclude each other");
	if (arg_raw && (arg_data || arg_file))
		return tool_usage_error("cat", "options '%s' and '--raw' exclude each other",
					source);
	if (arg_raw && (arg_hex || arg_json))
		return tool_usage_error("cat", "options '--raw' and '%s' exclude each other",
					arg_hex ? "--hex" : "--json");
	if (arg_hex && arg_json)
		return tool_usage_error("cat", "options '--hex' and '--json' exclude each other");
	if (arg_chunk != 0 && !arg_raw)
		return tool_usage_error("cat", "option '--chunk' needs --raw");
	return 0;
}

int verb_cat_parse_argv(int argc, char *argv[])
{
	enum {
		ARG_RAW = _ARG_COMMON_MAX,
		ARG_HEX,
		ARG_JSON,
		ARG_CHUNK,
		ARG_INTERVAL,
		ARG_TYPE,
		ARG_TIMEOUT,
		ARG_LINGER,
	};
	static const struct option options[] = {
		TOOL_COMMON_OPTIONS,
		{ "send", no_argument, NULL, 's' },
		{ "recv", no_argument, NULL, 'r' },
		{ "raw", no_argument, NULL, ARG_RAW },
		{ "hex", no_argument, NULL, ARG_HEX },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "data", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "chunk", required_argument, NULL, ARG_CHUNK },
		{ "count", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, ARG_INTERVAL },
		{ "type", required_argument, NULL, ARG_TYPE },
		{ "timeout", required_argument, NULL, ARG_TIMEOUT },
		{ "linger", required_argument, NULL, ARG_LINGER },
		{ NULL, 0, NULL, 0 },
	};
	/* The first option seen that only makes sense on one side, to name it in errors. */
	const char *send_only = NULL, *recv_only = NULL;
	unsigned ms = 0;
	int c;

	while ((c = getopt_long(argc, argv, ":hsrd:f:n:", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			verb_cat_help();
			return 0;
		case ARG_LOG_LEVEL:
			if (tool_parse_log_level("cat", optarg) < 0)
				return -EINVAL;
			break;
		case 's':
			arg_send = true;
			break;
		case 'r':
			arg_recv = true;
			break;
		case ARG_RAW:
			arg_raw = true;
			break;
		case ARG_HEX:
			arg_hex = true;
			recv_only = recv_only ? recv_only : "--hex";
			break;
		case ARG_JSON:
			arg_json = true;
			recv_only = recv_only ? recv_only : "--json";
			break;
		case 'd':
			arg_data = optarg;
			send_only = send_only ? send_only : "--data";
			break;
		case 'f':
			if (isempty(optarg))
				return tool_usage_error("cat", "--file: empty path");
			arg_file = optarg;
			send_only = send_only ? send_only : "--file";
			break;
		case ARG_CHUNK:
			if (parse_size(optarg, &arg_chunk) < 0 || arg_chunk == 0 ||
			    arg_chunk > (UINT64_C(1) << 30))
				return tool_usage_error(
					"cat", "--chunk: invalid size '%s' (1 to 1G)", optarg);
			send_only = send_only ? send_only : "--chunk";
			break;
		case 'n':
			if (safe_atou64(optarg, &arg_count) < 0)
				return tool_usage_error("cat", "--count: invalid number '%s'",
							optarg);
			arg_count_set = true;
			break;
		case ARG_INTERVAL:
			if (parse_ms("--interval", optarg, &arg_interval_ms) < 0)
				return -EINVAL;
			send_only = send_only ? send_only : "--interval";
			break;
		case ARG_TYPE:
			if (safe_atou32(optarg, &arg_type) < 0)
				return tool_usage_error("cat",
							"--type: invalid type '%s' (0 to %u)",
							optarg, UINT32_MAX);
			send_only = send_only ? send_only : "--type";
			break;
		case ARG_TIMEOUT:
			if (parse_ms("--timeout", optarg, &ms) < 0)
				return -EINVAL;
			arg_timeout_ms = (int)ms;
			break;
		case ARG_LINGER:
			if (parse_ms("--linger", optarg, &ms) < 0)
				return -EINVAL;
			arg_linger_ms = (int)ms;
			send_only = send_only ? send_only : "--linger";
			break;
		default:
			return tool_option_error("cat", c, argv);
		}
	}

	if (check_options(send_only, recv_only) < 0)
		return -EINVAL;
	if (!arg_send && !arg_recv) {
		if (send_only)
			arg_send = true;
		else if (recv_only)
			arg_recv = true;
		else
			arg_send = !isatty(STDIN_FILENO);
		arg_recv = !arg_send;
	}
	/* The URI is psyne_open()'s to judge: tool_open() gives its reason. */
	return 1;
}

/*
 * Whether the URI's query names option `key`; its value (empty for a flag) goes to `buf`
 * when there is one. psyne_open() takes an option by its name and refuses it twice, so the
 * first match is the one it read.
 */
static bool uri_option(const char *uri, const char *key, char *buf, size_t size)
{
	size_t n = strlen(key);

	for (const char *p = strchr(uri, '?'); p; p = strchr(p, '&')) {
		size_t len;

		p++;
		if (!strneq(p, key, n) || (p[n] != 0 && p[n] != '&' && p[n] != '='))
			continue;
		p += n + (p[n] == '=');
		len = strcspn(p, "&");
		if (buf && size > 0)
			snprintf(buf, size, "%.*s", (int)MIN(len, size - 1), p);
		return true;
	}
	return false;
}

static bool uri_is_stream(const char *uri)
{
	return startswith(uri, "unix://") || startswith(uri, "tcp://") || startswith(uri, "tls://");
}

/* unix://, tcp:// or tls:// with ?listen (listen=0 dials): a server, its senders come and go. */
static bool uri_is_stream_listener(const char *uri)
{
	char v[8];

	return uri_is_stream(uri) && uri_option(uri, "listen", v, sizeof(v)) && !streq(v, "0");
}

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/*
 * Catches SIGINT and SIGTERM, unless they are ignored (a background job of a shell without
 * job control ignores SIGINT, and should go on doing so). SA_RESETHAND: a second one kills.
 */
static int catch_stop_signals(void)
{
	static const int signals[] = { SIGINT, SIGTERM };
	struct sigaction sa = {
		.sa_handler = on_stop_signal,
		.sa_flags = SA_RESTART | SA_RESETHAND,
	};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ELEMENTSOF(signals); i++) {
		struct sigaction old;

		if (sigaction(signals[i], NULL, &old) < 0)
			return -errno;
		if (old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(signals[i], &sa, NULL) < 0)
			return -errno;
	}
	return 0;
}

/* The timeout of the next slice of a wait until `deadline`. */
static int slice_ms(uint64_t deadline)
{
	int left = timeout_ms_left(deadline);

	return left < 0 || left > CAT_SLICE_MS ? CAT_SLICE_MS : left;
}

/* Sleeps `ms` milliseconds; -EINTR when a stop signal came first. */
static int sleep_ms(unsigned ms)
{
	uint64_t deadline = deadline_from_timeout_ms((int)ms);

	while (!stop_signal) {
		struct timespec ts =
			timespec_from_nsec((uint64_t)slice_ms(deadline) * NSEC_PER_MSEC);

		if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
			return -errno;
		if (deadline_passed(deadline))
			return 0;
	}
	return -EINTR;
}

/*
 * read(2) of what `fd` has, once it has something: the count, 0 at its end, -EINTR when a
 * stop signal came first, or a negative errno.
 */
static ssize_t read_some(int fd, void *buf, size_t size)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int k;

		if (stop_signal)
			return -EINTR;
		k = poll(&pfd, 1, CAT_SLICE_MS);
		if (k < 0 && errno != EINTR)
			return -errno;
		if (k <= 0)
			continue;
		n = read(fd, buf, size);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

struct sender {
	struct psyne_channel *ch;
	const char *uri;
	uint64_t max_size; /* the largest message the channel takes */
	uint64_t sent;
};

/*
 * Whether a stream has a session up to send to: a message waits for one, and "no space" is
 * no way to say that nobody is there. Rings and udp:// always have room somewhere.
 */
static bool has_consumers(const struct sender *s)
{
	struct psyne_stats st;

	if (!uri_is_stream(s->uri) || psyne_channel_stats(s->ch, &st) < 0)
		return true;
	return st.consumers > 0;
}

static int send_one(struct sender *s, const void *data, size_t size)
{
	uint64_t deadline;
	int r;

	if (stop_signal)
		return -EINTR; /* input may keep coming: look before each message */
	if (s->sent > 0 && arg_interval_ms > 0) {
		r = sleep_ms(arg_interval_ms);
		if (r == -EINTR)
			return r;
		if (r < 0)
			return log_error_errno(r, "cat: Failed to wait between messages: %m");
	}
	deadline = deadline_from_timeout_ms(arg_timeout_ms);
	do
		r = psyne_send(s->ch, data, size, arg_type, slice_ms(deadline));
	while ((r == -ETIMEDOUT || r == -EAGAIN) && !deadline_passed(deadline) && !stop_signal);
	if (stop_signal && r < 0)
		return -EINTR;
	/* Within our limit, the peer's is smaller (a listener with a smaller capacity=). */
	if (r == -EMSGSIZE && size <= s->max_size)
		return log_error_errno(
			r, "cat: A message of %zu bytes is larger than the peer of '%s' takes.",
			size, s->uri);
	if (r == -EMSGSIZE)
		return log_error_errno(
			r,
			"cat: A message of %zu bytes does not fit '%s' (at most %" PRIu64
			" bytes).",
			size, s->uri, s->max_size);
	if ((r == -ETIMEDOUT || r == -EAGAIN) && !has_consumers(s))
		return log_error_errno(r, "cat: Nobody connected to '%s' within %d ms.", s->uri,
				       arg_timeout_ms);
	if (r == -ETIMEDOUT || r == -EAGAIN)
		return log_error_errno(r, "cat: No space in '%s' for %d ms.", s->uri,
				       arg_timeout_ms);
	if (r == -EDESTADDRREQ)
		return log_error_errno(
			r,
			"cat: '%s' has nobody to reply to yet: a udp:// listener sends "
			"to the sender of the last message it received.",
			s->uri);
	if (r < 0)
		return log_error_errno(r, "cat: Failed to send to '%s': %s", s->uri,
				       psyne_strerror(r));
	s->sent++;
	return 0;
}

static bool more_to_send(const struct sender *s)
{
	return arg_count == 0 || s->sent < arg_count;
}

/* Reads up to `size` bytes, fewer only at the end of input; returns the count, or as
 * read_some() does. */
static ssize_t read_full(int fd, void *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = read_some(fd, (uint8_t *)buf + done, size - done);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Reads the file for --file: at most max_size bytes, as that is all a message holds. The
 * buffer grows as the file turns out to be longer: sizes of /proc and /sys files lie.
 */
static int read_file(const char *path, uint64_t max_size, void **ret_buf, size_t *ret_size)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t size = 0, allocated = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_error_errno(errno, "cat: Failed to open '%s': %m", path);
	for (;;) {
		ssize_t n;

		if (size == allocated) {
			/* One byte more than fits, to tell a file that fits from one that does not.
			 */
			size_t want = (size_t)MIN(MAX((uint64_t)allocated * 2, (uint64_t)4096),
						  max_size + 1);
			uint8_t *p;

			if (want == allocated)
				return log_error_errno(EMSGSIZE,
						       "cat: '%s' is larger than a message may be "
						       "(%" PRIu64 " bytes).",
						       path, max_size);
			p = realloc(buf, want);
			if (!p)
				return log_oom();
			buf = p;
			allocated = want;
		}
		n = read_some(fd, buf + size, allocated - size);
		if (n == -EINTR)
			return -EINTR;
		if (n < 0)
			return log_error_errno((int)n, "cat: Failed to read '%s': %m", path);
		if (n == 0)
			break;
		size += (size_t)n;
	}
	if (size > max_size)
		return log_error_errno(EMSGSIZE,
				       "cat: '%s' is larger than a message may be (%" PRIu64
				       " bytes).",
				       path, max_size);
	*ret_buf = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

static int send_repeated(struct sender *s)
{
	_cleanup_free_ void *buf = NULL;
	const void *data = arg_data;
	size_t size = arg_data ? strlen(arg_data) : 0;
	int r;

	if (arg_file) {
		r = read_file(arg_file, s->max_size, &buf, &size);
		if (r < 0)
			return r;
		data = buf;
	}
	if (!arg_count_set)
		arg_count = 1;
	while (more_to_send(s)) {
		r = send_one(s, data, size);
		if (r < 0)
			return r;
	}
	return 0;
}

static int send_chunks(struct sender *s)
{
	_cleanup_free_ void *buf = NULL;
	uint64_t chunk = arg_chunk;

	if (chunk == 0)
		chunk = MIN((uint64_t)CAT_DEFAULT_CHUNK, s->max_size);
	if (chunk > s->max_size)
		return log_error_errno(EMSGSIZE,
				       "cat: --chunk=%" PRIu64
				       " does not fit '%s' (at most %" PRIu64 " bytes).",
				       chunk, s->uri, s->max_size);
	buf = malloc(chunk);
	if (!buf)
		return log_oom();

	while (more_to_send(s)) {
		ssize_t n = read_full(STDIN_FILENO, buf, chunk);
		int r;

		if (n == -EINTR)
			return -EINTR;
		if (n < 0)
			return log_error_errno((int)n, "cat: Failed to read standard input: %m");
		if (n == 0)
			break;
		r = send_one(s, buf, (size_t)n);
		if (r < 0)
			return r;
		if ((uint64_t)n < chunk)
			break;
	}
	return 0;
}

/*
 * One message per line of standard input, the newline stripped. Lines are read with
 * read_some() rather than getline(), which could not be told to look for a signal.
 */
static int send_lines(struct sender *s)
{
	_cleanup_free_ char *buf = NULL;
	size_t allocated = 0, start = 0, end = 0;
	bool eof = false;

	while (more_to_send(s)) {
		char *nl = end > start ? memchr(buf + start, '\n', end - start) : NULL;
		size_t len;
		ssize_t n;
		int r;

		if (nl || (eof && end > start)) {
			len = nl ? (size_t)(nl - (buf + start)) : end - start;
			r = send_one(s, buf + start, len);
			if (r < 0)
				return r;
			start += len + (nl ? 1 : 0);
			continue;
		}
		if (eof)
			break;
		/* Move what is left of a line to the front, and make room for more of it. */
		if (start > 0) {
			memmove(buf, buf + start, end - start);
			end -= start;
			start = 0;
		}
		if (allocated - end < 4096) {
			size_t want = MAX(allocated * 2, (size_t)65536);
			char *p = realloc(buf, want);

			if (!p)
				return log_oom();
			buf = p;
			allocated = want;
		}
		n = read_some(STDIN_FILENO, buf + end, allocated - end);
		if (n == -EINTR)
			return -EINTR;
		if (n < 0)
			return log_error_errno((int)n, "cat: Failed to read standard input: %m");
		if (n == 0)
			eof = true;
		end += (size_t)n;
	}
	return 0;
}

/*
 * Waits until the channel holds nothing unread, so that closing does not take unread
 * messages with it. Gives up when the consumers that were there have all gone: seen in the
 * counters, or given away by space that came free, for a consumer may come and go between
 * two looks.
 */
static int linger(const struct sender *s)
{
	uint64_t deadline, used = UINT64_MAX;
	bool had_consumers = false;

	if (arg_linger_ms == 0 || startswith(s->uri, "memory:"))
		return 0; /* a memory:// channel has no reader outside this process */

	deadline = deadline_from_timeout_ms(arg_linger_ms);
	for (;;) {
		struct psyne_stats st;
		int r;

		r = psyne_channel_stats(s->ch, &st);
		if (r < 0)
			return log_error_errno(r, "cat: Failed to read the counters of '%s': %s",
					       s->uri, psyne_strerror(r));
		if (st.used == 0)
			return 0;
		if (st.consumers > 0 || (used != UINT64_MAX && st.used < used))
			had_consumers = true;
		used = st.used;
		if (st.consumers == 0 && had_consumers)
			return log_error_errno(EPIPE,
					       "cat: The consumers of '%s' left with %" PRIu64
					       " bytes unread.",
					       s->uri, st.used);
		if (deadline_passed(deadline))
			return log_error_errno(ETIMEDOUT,
					       "cat: '%s' still holds %" PRIu64
					       " unread bytes after %d ms.",
					       s->uri, st.used, arg_linger_ms);
		r = sleep_ms(CAT_POLL_MS);
		if (r == -EINTR)
			return r;
		if (r < 0)
			return log_error_errno(r, "cat: Failed to wait: %m");
	}
}

/*
 * The largest message the channel takes, by the rules of psyne.h: a udp:// handle's max_msg
 * (psyne_channel_udp_stats()); capacity/2 - 64 on a stream, where unix:// passes messages
 * from memfd_min bytes on (default 64K; 0: none) as memfds of up to 1G; capacity/2 - 32 on a
 * ring (memory://, ipc://).
 */
static int max_message_size(struct psyne_channel *ch, const char *uri, uint64_t *ret)
{
	struct psyne_udp_stats udp;
	struct psyne_stats st;
	char value[32];
	uint64_t memfd_min = 64 * 1024;
	int r;

	r = psyne_channel_udp_stats(ch, &udp);
	if (r >= 0) {
		*ret = udp.max_msg;
		return 0;
	}
	r = psyne_channel_stats(ch, &st);
	if (r < 0)
		return log_error_errno(r, "cat: Failed to read the counters of '%s': %s", uri,
				       psyne_strerror(r));
	if (!uri_is_stream(uri)) {
		*ret = st.capacity / 2 - 32;
		return 0;
	}
	if (uri_option(uri, "memfd_min", value, sizeof(value)) && parse_size(value, &memfd_min) < 0)
		memfd_min = 0; /* psyne_open() took it: cannot happen */
	*ret = startswith(uri, "unix://") && memfd_min > 0 ? UINT64_C(1) << 30 :
							     st.capacity / 2 - 64;
	return 0;
}

static int cat_send(struct psyne_channel *ch, const char *uri)
{
	struct sender s = { .ch = ch, .uri = uri };
	int r;

	r = max_message_size(ch, uri, &s.max_size);
	if (r < 0)
		return r;

	if (arg_data || arg_file)
		r = send_repeated(&s);
	else if (arg_raw)
		r = send_chunks(&s);
	else
		r = send_lines(&s);
	if (r < 0)
		return r;
	log_debug("cat: Sent %" PRIu64 " messages to '%s'.", s.sent, uri);
	return linger(&s);
}

/* Text: printable ASCII as it is, a backslash doubled, every other byte as \xHH. */
static void print_text(const uint8_t *p, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (p[i] == '\\')
			fputs("\\\\", stdout);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('\n');
}

/* As `hexdump -C`: offset, 16 bytes in two groups of 8, the printable ones between bars. */
static void print_hex(const struct psyne_msg *m)
{
	const uint8_t *p = m->data;

	printf("type %" PRIu32 ", %zu bytes\n", m->type, m->size);
	for (size_t off = 0; off < m->size; off += 16) {
		size_t n = MIN(m->size - off, (size_t)16);

		printf("%08zx ", off);
		for (size_t i = 0; i < 16; i++) {
			if (i == 8)
				putchar(' ');
			if (i < n)
				printf(" %02x", p[off + i]);
			else
				fputs("   ", stdout);
		}
		fputs("  |", stdout);
		for (size_t i = 0; i < n; i++)
			putchar(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.');
		fputs("|\n", stdout);
	}
}

static void print_json(const struct psyne_msg *m)
{
	printf("{\"type\":%" PRIu32 ",\"size\":%zu,", m->type, m->size);
	if (tool_utf8_is_valid(m->data, m->size)) {
		fputs("\"data\":", stdout);
		tool_json_string(stdout, m->data, m->size);
	} else {
		fputs("\"base64\":\"", stdout);
		tool_base64(stdout, m->data, m->size);
		putchar('"');
	}
	fputs("}\n", stdout);
}

static void print_message(const struct psyne_msg *m)
{
	if (arg_raw)
		(void)fwrite(m->data, 1, m->size, stdout); /* ferror() is checked at flushes */
	else if (arg_hex)
		print_hex(m);
	else if (arg_json)
		print_json(m);
	else
		print_text(m->data, m->size);
}

static int flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return log_error_errno(errno != 0 ? errno : EIO,
				       "cat: Failed to write to standard output: %m");
	return 0;
}

/*
 * Whether producers can join the channel again once all of them have gone. An ipc://
 * channel lives on while this handle holds it, and a stream listener (?listen) takes new
 * dialers; a dialer's session does not come back once its listener has closed it.
 */
static bool producers_can_return(const char *uri)
{
	return startswith(uri, "ipc://") || uri_is_stream_listener(uri);
}

/*
 * Receives the next message into *ret_msg, waiting until `deadline`. Output is flushed only
 * when we are about to wait: bursts go out in one write. -EPIPE when every producer is gone
 * and everything they sent was received; with `wait_producers`, that is waited out instead
 * until a producer comes back.
 */
static int receive_one(struct psyne_channel *ch, uint64_t deadline, bool wait_producers,
		       struct psyne_msg *ret_msg)
{
	int r;

	r = psyne_receive(ch, 0, ret_msg);
	if (r != -EAGAIN && r != -EPIPE)
		return r;
	r = flush_stdout();
	if (r < 0)
		return r;
	for (;;) {
		int slice = slice_ms(deadline);

		r = psyne_receive(ch, slice, ret_msg);
		if (r >= 0 || (r != -EAGAIN && r != -ETIMEDOUT && (r != -EPIPE || !wait_producers)))
			return r;
		if (stop_signal)
			return -EINTR;
		if (deadline_passed(deadline))
			return -ETIMEDOUT; /* --timeout=0 (-EAGAIN), or its end */
		if (r != -EPIPE)
			continue;
		/*
		 * The channel has no producer right now, and the library has nothing to wait on
		 * until one joins: look again a little later.
		 */
		r = sleep_ms(MIN((unsigned)slice, (unsigned)CAT_POLL_MS));
		if (r == -EINTR)
			return r;
		if (r < 0)
			return log_error_errno(r, "cat: Failed to wait: %m");
	}
}

static int cat_recv(struct psyne_channel *ch, const char *uri)
{
	/*
	 * A listening stream is a server: a sender that leaves is not the end, the next one is
	 * served as the first was (the listener says -EPIPE once per last sender gone). With
	 * --count, the user wants that many messages: a producer that leaves before they came
	 * is not the end while another may still join.
	 */
	bool wait_producers = uri_is_stream_listener(uri) ||
			      (arg_count > 0 && producers_can_return(uri));
	struct psyne_msg m;
	uint64_t n;
	int r;

	for (n = 0; arg_count == 0 || n < arg_count; n++) {
		/* Messages may keep coming without a wait: look before each. */
		if (stop_signal)
			return -EINTR;
		r = receive_one(ch, deadline_from_timeout_ms(arg_timeout_ms), wait_producers, &m);
		if (r == -EINTR)
			return r; /* a stop signal: verb_cat_run() ends */
		if (r == -EPIPE && arg_count > 0)
			return log_error_errno(r,
					       "cat: '%s' was closed after %" PRIu64 " of %" PRIu64
					       " messages.",
					       uri, n, arg_count);
		if (r == -EPIPE)
			break; /* every producer is gone and everything they sent was printed */
		if (r == -ETIMEDOUT)
			return log_error_errno(r, "cat: No message on '%s' for %d ms.", uri,
					       arg_timeout_ms);
		if (r < 0)
			return log_error_errno(r, "cat: Failed to receive from '%s': %s", uri,
					       psyne_strerror(r));
		print_message(&m);
		psyne_release(ch, &m);
	}
	r = flush_stdout();
	if (r < 0)
		return r;
	log_debug("cat: Received %" PRIu64 " messages from '%s'.", n, uri);
	return 0;
}

/*
 * The URI to open: the one given, with --timeout as the connect_timeout of a stream dialer
 * whose URI sets none, so that a dialer waits for its connection no longer than for a
 * message. --timeout=0 leaves the library's default: no connection is made in no time.
 */
static int open_uri(const char *uri, char **ret)
{
	char *s = NULL;

	*ret = NULL;
	if (arg_timeout_ms <= 0 || !uri_is_stream(uri) || uri_option(uri, "listen", NULL, 0) ||
	    uri_option(uri, "connect_timeout", NULL, 0))
		return 0;
	if (asprintf(&s, "%s%sconnect_timeout=%d", uri, strchr(uri, '?') ? "&" : "?",
		     arg_timeout_ms) < 0)
		return log_oom();
	*ret = s;
	return 0;
}

int verb_cat_run(int n_args, char *args[])
{
	const char *uri = args[0];
	_cleanup_free_ char *with_timeout = NULL;
	struct psyne_channel *ch = NULL;
	int r;

	r = open_uri(uri, &with_timeout);
	if (r < 0)
		return r;
	/* Until the handle is open, SIGINT and SIGTERM kill: nothing is there to close yet. */
	r = tool_open("cat", uri, with_timeout, &ch);
	if (r < 0)
		return r;
	/* Two psyne cat on one memory:// name never meet: say so, rather than wait for nothing. */
	if (startswith(uri, "memory://"))
		log_warning("cat: '%s' lives inside this process: no other process sends to it or "
			    "receives from it, another psyne cat included.",
			    uri);
	r = catch_stop_signals();
	if (r < 0) {
		psyne_close(ch);
		return log_error_errno(r, "cat: Failed to catch SIGINT and SIGTERM: %m");
	}
	r = arg_send ? cat_send(ch, uri) : cat_recv(ch, uri);
	psyne_close(ch);
	if (stop_signal) {
		int sig = stop_signal;

		(void)fflush(stdout); /* what was received before it came */
		log_debug("cat: Stopped by %s after closing '%s'.", strsignal(sig), uri);
		/* Die of it, as the shell expects of an interrupted program. */
		(void)signal(sig, SIG_DFL);
		(void)raise(sig);
	}
	return r;
}
