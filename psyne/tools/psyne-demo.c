/* SPDX-License-Identifier: MIT */
/*
 * psyne-demo: the libpsyne showcase, under a minute.
 *
 * Part 1: a producer and a consumer process (forked) share one ipc:// channel. The producer
 * streams messages carrying a sequence number and a send timestamp, written in place with
 * psyne_reserve()/psyne_commit(); the consumer reads them in place with
 * psyne_receive()/psyne_release(), checks the sequence, and prints once a second the
 * message rate, the byte rate and the one-way latency p50/p99 of that second, then a
 * summary. The percentiles are latencies measured, over a uniform sample of the messages
 * when they are many (latency.h).
 *
 * Part 2: the side-by-side comparison with ZeroMQ and NNG at 64 B, by running
 * `psyne-bench --quick --placement pinned --only calib,psyne-memory,psyne-ipc,zmq-inproc,...`
 * when the bench was built (the local transports, which the families' names would mix with
 * network ones; pinned only, the placement of the bench's main tables, to stay short).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "latency.h"
#include "psyne.h"

#define DEMO_TYPE_DATA 1
#define DEMO_TYPE_END 2
#define DEMO_RECEIVE_TIMEOUT_MS 200

extern char **environ;

static unsigned arg_seconds = 10;
static uint64_t arg_size = 64;

/* The head of every message; the rest of the payload is left as the ring has it. */
struct demo_msg {
	uint64_t seq;
	uint64_t stamp; /* CLOCK_MONOTONIC ns just before the producer reserved the message */
};

/*
 * Latency samples kept per second and over the whole run (latency.h): a percentile printed
 * is one of the latencies measured. 64K samples put a percentile's rank within about 0.2%
 * of where it would be among all of them, keep the selection to a millisecond, and their
 * array in the cache.
 */
#define LATENCY_SAMPLES (64u * 1024)

static void help(void)
{
	printf("Usage: psyne-demo [OPTIONS]\n"
	       "\n"
	       "The libpsyne showcase. A producer process streams messages (sequence number and\n"
	       "send timestamp, written in place) to a consumer process over an ipc:// channel;\n"
	       "the consumer checks the sequence and shows each second's message rate, byte rate\n"
	       "and one-way latency p50/p99 (send timestamp to receipt, queueing in the ring\n"
	       "included; nearest-rank percentiles of the second's latencies, or of 64K of them\n"
	       "picked at random when there are more). Then psyne-bench compares psyne with\n"
	       "ZeroMQ and NNG at 64 B.\n"
	       "\n"
	       "Options:\n"
	       "  -h --help          Show this help and exit\n"
	       "  -t --seconds=N     Stream for N seconds (default 10)\n"
	       "  -s --size=BYTES    Message size, K/M suffixes (default 64, at least %zu)\n"
	       "     --log-level=L  error, warning, info or debug (default info; also the\n"
	       "                    environment variable PSYNE_LOG_LEVEL)\n"
	       "\n"
	       "Exit status: 0 on success, 1 when the stream failed (lost or reordered messages,\n"
	       "a psyne error) or the comparison failed, 2 on usage errors.\n",
	       sizeof(struct demo_msg));
}

/* The usage error: one line saying what is wrong, one saying where to look; -EINVAL. */
_printf_(1, 2) static int usage_error(const char *format, ...)
{
	va_list ap;

	fputs("psyne-demo: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputs("\nTry 'psyne-demo --help'.\n", stderr);
	return -EINVAL;
}

/*
 * getopt_long's '?' and ':' (the option string starts with ':'), named as the user wrote
 * the option, as the psyne tool does (tool_option_error()), rather than in getopt's words
 * after the program's whole path.
 */
static int option_error(int c, char *const argv[])
{
	const char *word = optind > 0 ? argv[optind - 1] : "";
	bool is_long = startswith(word, "--");
	char name[64];

	if (is_long)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(word, "="), word);
	else
		snprintf(name, sizeof(name), "-%c", optopt);
	if (c == ':')
		return usage_error("option '%s' needs a value", name);
	if (is_long && optopt != 0)
		return usage_error("option '%s' takes no value", name);
	return usage_error("unknown option '%s'", name);
}

static int parse_argv(int argc, char *argv[])
{
	static const struct option options[] = { { "help", no_argument, NULL, 'h' },
						 { "seconds", required_argument, NULL, 't' },
						 { "size", required_argument, NULL, 's' },
						 { "log-level", required_argument, NULL, 'L' },
						 { NULL, 0, NULL, 0 } };
	int c, level;

	while ((c = getopt_long(argc, argv, ":ht:s:", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help();
			return 0;
		case 't':
			if (safe_atou(optarg, &arg_seconds) < 0 || arg_seconds < 1 ||
			    arg_seconds > 3600)
				return usage_error("--seconds: invalid duration '%s' (1 to 3600)",
						   optarg);
			break;
		case 's':
			if (parse_size(optarg, &arg_size) < 0 ||
			    arg_size < sizeof(struct demo_msg) || arg_size > (UINT64_C(16) << 20))
				return usage_error("--size: invalid size '%s' (%zu to 16M)", optarg,
						   sizeof(struct demo_msg));
			break;
		case 'L':
			level = log_level_from_string(optarg);
			if (level < 0)
				return usage_error("--log-level: invalid level '%s'", optarg);
			log_set_max_level(level);
			break;
		default:
			return option_error(c, argv);
		}

	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 1;
}

/* The channel must hold a handful of messages; psyne's limit is capacity/2 - 32. */
static uint64_t demo_capacity(void)
{
	uint64_t c = UINT64_C(1) << 20;

	while (c / 2 - 32 < arg_size * 4)
		c *= 2;
	return c;
}

static void pin_to_nth_cpu(unsigned nth)
{
	cpu_set_t set, one;
	unsigned seen = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || CPU_COUNT(&set) < 2)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set) && seen++ == nth) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			/* Pinning only steadies the numbers; the demo works without it. */
			(void)sched_setaffinity(0, sizeof(one), &one);
			return;
		}
}

static int producer(const char *uri, int ready_fd)
{
	struct psyne_channel *ch = NULL;
	uint64_t seq = 0, end;
	struct psyne_msg msg;
	char byte;
	int r;

	pin_to_nth_cpu(0);

	r = psyne_open(uri, &ch);
	if (r < 0)
		return log_error_errno(r, "producer: Failed to open '%s': %s", uri,
				       psyne_strerror(r));

	/* Start when the consumer is there, so that the first second is not a backlog. */
	if (read(ready_fd, &byte, 1) != 1) {
		psyne_close(ch);
		return log_error_errno(EPIPE, "producer: The consumer did not start.");
	}

	end = now_nsec(CLOCK_MONOTONIC) + (uint64_t)arg_seconds * NSEC_PER_SEC;
	for (;;) {
		uint64_t stamp = now_nsec(CLOCK_MONOTONIC);
		struct demo_msg head = { .seq = seq, .stamp = stamp };

		if ((seq & 1023) == 0 && stamp >= end)
			break;

		r = psyne_reserve(ch, arg_size, -1, &msg);
		if (r < 0)
			break;
		memcpy(msg.data, &head, sizeof(head));
		msg.type = DEMO_TYPE_DATA;
		r = psyne_commit(ch, &msg);
		if (r < 0)
			break;
		seq++;
	}
	if (r < 0) {
		log_error_errno(r, "producer: Failed at message %" PRIu64 ": %s", seq,
				psyne_strerror(r));
		psyne_close(ch);
		return r;
	}

	/* The end marker carries the count, so the consumer can tell nothing was lost. */
	r = psyne_reserve(ch, sizeof(struct demo_msg), -1, &msg);
	if (r >= 0) {
		struct demo_msg head = { .seq = seq, .stamp = now_nsec(CLOCK_MONOTONIC) };

		memcpy(msg.data, &head, sizeof(head));
		msg.type = DEMO_TYPE_END;
		r = psyne_commit(ch, &msg);
	}
	psyne_close(ch);
	if (r < 0)
		return log_error_errno(r, "producer: Failed to send the end marker: %s",
				       psyne_strerror(r));
	return 0;
}

struct consumer_state {
	struct latency window, total;
	uint64_t window_msgs, total_msgs;
	uint64_t window_start, start, last;
	unsigned second;
	bool tty;
};

static void consumer_state_free(struct consumer_state *s)
{
	if (!s)
		return;
	latency_done(&s->window);
	latency_done(&s->total);
	free(s);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct consumer_state *, consumer_state_free);

static int consumer_state_new(struct consumer_state **ret)
{
	_cleanup_(consumer_state_freep) struct consumer_state *s = NULL;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* Any seeds do: the subsets only have to be unrelated to the latencies. */
	if (latency_init(&s->window, LATENCY_SAMPLES, UINT64_C(0x5eed)) < 0 ||
	    latency_init(&s->total, LATENCY_SAMPLES, UINT64_C(0x70a1)) < 0)
		return -ENOMEM;
	s->tty = isatty(STDOUT_FILENO);
	*ret = TAKE_PTR(s);
	return 0;
}

static void print_window(struct consumer_state *s, uint64_t now)
{
	double sec = (double)(now - s->window_start) / 1e9;
	double rate = sec > 0 ? (double)s->window_msgs / sec : 0;
	char line[200];

	(void)snprintf(line, sizeof(line),
		       "[%3us] %9.3f M msg/s  %7.3f GB/s  latency p50 %8.2f us  p99 %9.2f us",
		       ++s->second, rate / 1e6, rate * (double)arg_size / 1e9,
		       (double)latency_percentile(&s->window, 50) / 1e3,
		       (double)latency_percentile(&s->window, 99) / 1e3);
	if (s->tty)
		printf("\r%s\033[K", line);
	else
		printf("%s\n", line);
	fflush(stdout);

	latency_reset(&s->window);
	s->window_msgs = 0;
	s->window_start = now;
}

static int consumer(const char *uri, int ready_fd)
{
	_cleanup_(consumer_state_freep) struct consumer_state *s = NULL;
	struct psyne_channel *ch = NULL;
	uint64_t expected = 0, bytes = 0;
	struct psyne_msg msg;
	bool ended = false;
	double sec;
	int r;

	pin_to_nth_cpu(1);

	if (consumer_state_new(&s) < 0)
		return log_oom();

	r = psyne_open(uri, &ch);
	if (r < 0)
		return log_error_errno(r, "consumer: Failed to open '%s': %s", uri,
				       psyne_strerror(r));
	if (write(ready_fd, "", 1) != 1) {
		psyne_close(ch);
		return log_error_errno(EPIPE, "consumer: The producer is gone.");
	}

	s->start = s->window_start = s->last = now_nsec(CLOCK_MONOTONIC);
	while (!ended) {
		struct demo_msg head;
		uint64_t now;

		r = psyne_receive(ch, DEMO_RECEIVE_TIMEOUT_MS, &msg);
		now = now_nsec(CLOCK_MONOTONIC);
		if (r == -ETIMEDOUT) {
			if (now - s->window_start >= NSEC_PER_SEC)
				print_window(s, now);
			continue;
		}
		if (r < 0)
			break;

		if (msg.size < sizeof(head)) {
			psyne_release(ch, &msg);
			r = -EBADMSG;
			break;
		}
		memcpy(&head, msg.data, sizeof(head));
		ended = msg.type == DEMO_TYPE_END;
		if (!ended) {
			bytes += msg.size;
			latency_add(&s->window, now - head.stamp);
			latency_add(&s->total, now - head.stamp);
			s->window_msgs++;
			s->total_msgs++;
			s->last = now;
		}
		psyne_release(ch, &msg);

		if (head.seq != expected) {
			r = -EILSEQ;
			break;
		}
		expected++;
		if (now - s->window_start >= NSEC_PER_SEC)
			print_window(s, now);
	}
	psyne_close(ch);
	if (s->tty)
		printf("\n");

	if (r == -EILSEQ)
		return log_error_errno(r,
				       "consumer: Message %" PRIu64 " expected, another arrived: "
				       "lost or reordered.",
				       expected);
	if (r < 0)
		return log_error_errno(r, "consumer: Failed after %" PRIu64 " messages: %s",
				       expected, psyne_strerror(r));

	sec = (double)(s->last - s->start) / 1e9;
	printf("\nSummary: %" PRIu64 " messages of %" PRIu64 " B in %.2f s, all in order, none "
	       "lost\n"
	       "  throughput %.3f M msg/s, %.3f GB/s\n"
	       "  one-way latency p50 %.2f us, p99 %.2f us, max %.2f us\n",
	       s->total_msgs, arg_size, sec, sec > 0 ? (double)s->total_msgs / sec / 1e6 : 0,
	       sec > 0 ? (double)bytes / sec / 1e9 : 0,
	       (double)latency_percentile(&s->total, 50) / 1e3,
	       (double)latency_percentile(&s->total, 99) / 1e3, (double)s->total.max / 1e3);
	fflush(stdout);
	return 0;
}

static int wait_child(pid_t pid, const char *name)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(errno, "Failed to wait for the %s: %m", name);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return log_error_errno(EIO, "The %s was killed by signal %d.", name,
				       WTERMSIG(status));
	return -EIO; /* the child logged why */
}

static int stream(void)
{
	char uri[128];
	pid_t prod, cons;
	int fds[2], r, q;

	(void)snprintf(uri, sizeof(uri), "ipc://psyne-demo-%d?mode=spsc&capacity=%" PRIu64 "K",
		       (int)getpid(), demo_capacity() / 1024);
	printf("Part 1: a producer and a consumer process on %s\n"
	       "        %" PRIu64 "-byte messages for %u s, zero-copy (reserve/commit, "
	       "receive/release)\n\n",
	       uri, arg_size, arg_seconds);
	fflush(stdout);

	if (pipe2(fds, O_CLOEXEC) < 0)
		return log_error_errno(errno, "Failed to create a pipe: %m");

	/* Fork before any psyne call: the children open their own handles. */
	cons = fork();
	if (cons < 0)
		return log_error_errno(errno, "Failed to fork the consumer: %m");
	if (cons == 0) {
		(void)close(fds[0]);
		_exit(consumer(uri, fds[1]) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
	}
	prod = fork();
	if (prod < 0) {
		r = log_error_errno(errno, "Failed to fork the producer: %m");
		(void)kill(cons, SIGTERM);
		(void)wait_child(cons, "consumer");
		return r;
	}
	if (prod == 0) {
		(void)close(fds[1]);
		_exit(producer(uri, fds[0]) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
	}
	(void)close(fds[0]);
	(void)close(fds[1]);

	r = wait_child(prod, "producer");
	q = wait_child(cons, "consumer");
	return r < 0 ? r : q;
}

static int compare(void)
{
	char exe[PATH_MAX], bench[PATH_MAX + 32], *slash;
	char *argv[] = {
		bench,
		(char *)"--quick",
		(char *)"--placement",
		(char *)"pinned",
		(char *)"--only",
		(char *)"calib,psyne-memory,psyne-ipc,zmq-inproc,zmq-ipc,nng-inproc,nng-ipc",
		NULL
	};
	pid_t pid;
	ssize_t n;
	int r, status;

	printf("\nPart 2: side by side with ZeroMQ and NNG at 64 B (psyne-bench --quick)\n\n");
	fflush(stdout);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return log_error_errno(errno, "Failed to find this program: %m");
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	(void)snprintf(bench, sizeof(bench), "%s/../bench/psyne-bench", exe);

	if (access(bench, X_OK) < 0) {
		printf("The comparison is not available: '%s' was not built (%s).\n"
		       "It is built when meson finds ZeroMQ, NNG and the iceoryx C binding\n"
		       "(libzmq3-dev libnng-dev libiceoryx-binding-c-dev iceoryx); `make bench`\n"
		       "configures with -Dbench=enabled, which names what is missing.\n",
		       bench, strerror(errno));
		return 0;
	}

	r = posix_spawn(&pid, bench, NULL, NULL, argv, environ);
	if (r != 0)
		return log_error_errno(r, "Failed to run '%s': %m", bench);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(errno, "Failed to wait for psyne-bench: %m");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return log_error_errno(EIO, "psyne-bench failed (status %d).",
				       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

static int run(void)
{
	int r, q;

	r = stream();
	q = compare();
	return r < 0 ? r : q;
}

/* libpsyne says nothing by itself: its messages go to this program's log. */
static void log_sink(int level, const char *message, void *userdata)
{
	log_full(level, "%s", message);
}

int main(int argc, char *argv[])
{
	int r;

	log_setup_from_env("PSYNE_LOG_LEVEL");
	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;

	psyne_set_log_func(log_sink, log_get_max_level(), NULL);
	r = run();
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
