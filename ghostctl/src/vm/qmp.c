/* SPDX-License-Identifier: MIT */
/* The QMP client; see qmp.h for the contract and qmp_internal.h for the socketless half. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "vm/qmp.h"
#include "vm/qmp_internal.h"

/* Replies to timed-out commands that are still dropped quietly when they come late. */
#define ABANDONED_MAX 16
#define READ_CHUNK (64u * 1024)
#define CONNECT_RETRY_MS 20
/* How long a job waits for an event before it asks query-jobs again. */
#define JOB_POLL_MS 1000
/* How long the forced quit of gc_qmp_shutdown() may take. */
#define QUIT_TIMEOUT_MS 10000

struct gc_qmp {
	int fd;
	pid_t peer_pid;
	int broken; /* the sticky error, 0 while the stream can be trusted */
	size_t line_max;

	/*
	 * Bytes read: buf[start..len) is not consumed yet, and buf[start..scanned) holds no
	 * newline, so that a long line arriving in pieces is scanned once.
	 */
	char *buf;
	size_t start, scanned, len, alloc;

	bool greeted;
	bool regreeted;	 /* another greeting came while negotiating (see gc_qmp_open()) */
	bool negotiated; /* qmp_capabilities succeeded: a greeting now is a protocol error */
	struct gc_qmp_version version;
	char *package;

	uint64_t last_id; /* ids are "gc-N", N counting up from 1 */
	bool awaiting;	  /* the reply to id last_id is awaited */
	json_t *reply;	  /* and here it is, once read */
	uint64_t abandoned[ABANDONED_MAX];
	size_t n_abandoned;
	unsigned last_job;

	json_t *events[GC_QMP_EVENTS_MAX]; /* a ring: the i-th is events[(head + i) % MAX] */
	size_t events_head, n_events;
	uint64_t events_dropped;

	bool has_error;
	struct gc_qmp_error error;
	char *error_class, *error_desc;
};

static int fail(struct gc_qmp *q, int r)
{
	if (q->broken == 0)
		q->broken = r;
	return q->broken;
}

static void clear_error(struct gc_qmp *q)
{
	q->has_error = false;
	free(q->error_class);
	free(q->error_desc);
	q->error_class = q->error_desc = NULL;
}

static int set_error(struct gc_qmp *q, const char *class, const char *desc)
{
	clear_error(q);
	q->error_class = strdup(class);
	q->error_desc = strdup(desc);
	if (!q->error_class || !q->error_desc) {
		clear_error(q);
		return -ENOMEM;
	}
	q->error.class = q->error_class;
	q->error.desc = q->error_desc;
	q->has_error = true;
	return -EREMOTEIO;
}

struct gc_qmp *gc_qmp__new(void)
{
	struct gc_qmp *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->fd = -EBADF;
	q->line_max = GC_QMP_LINE_MAX;
	q->version.package = "";
	return q;
}

void gc_qmp__set_line_max(struct gc_qmp *q, size_t line_max)
{
	q->line_max = CLAMP(line_max, (size_t)1, (size_t)GC_QMP_LINE_MAX);
}

bool gc_qmp__greeted(const struct gc_qmp *q)
{
	return q->greeted;
}

struct gc_qmp *gc_qmp_close(struct gc_qmp *q)
{
	if (!q)
		return NULL;
	q->fd = safe_close(q->fd);
	for (size_t i = 0; i < q->n_events; i++)
		json_decref(q->events[(q->events_head + i) % GC_QMP_EVENTS_MAX]);
	json_decref(q->reply);
	clear_error(q);
	free(q->package);
	free(q->buf);
	free(q);
	return NULL;
}

int gc_qmp_fd(const struct gc_qmp *q)
{
	return q->fd;
}

const struct gc_qmp_version *gc_qmp_version(const struct gc_qmp *q)
{
	return &q->version;
}

pid_t gc_qmp_peer_pid(const struct gc_qmp *q)
{
	return q->peer_pid;
}

const struct gc_qmp_error *gc_qmp_last_error(const struct gc_qmp *q)
{
	return q->has_error ? &q->error : NULL;
}

uint64_t gc_qmp_events_dropped(const struct gc_qmp *q)
{
	return q->events_dropped;
}

/* Message checks. Every getter fails with -EPROTO on a missing or mistyped member. */

static int get_string(const json_t *o, const char *key, const char **ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return -EPROTO;
	*ret = json_string_value(v);
	return 0;
}

/* Like get_string(), but "" when the member is absent. */
static int get_string_opt(const json_t *o, const char *key, const char **ret)
{
	if (!json_object_get(o, key)) {
		*ret = "";
		return 0;
	}
	return get_string(o, key, ret);
}

/*
 * A non-negative integer. Reals are accepted when integral: a message holding an integer
 * beyond int64 is parsed again with every integer as a real (see parse_line()).
 */
static int get_u64(const json_t *o, const char *key, uint64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -EPROTO;
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		/* 18446744073709551616.0 is 2^64, the first double past UINT64_MAX. */
		if (!(d >= 0.0 && d < 18446744073709551616.0))
			return -EPROTO;
		*ret = (uint64_t)d;
		return 0;
	}
	return -EPROTO;
}

static int get_i64(const json_t *o, const char *key, int64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return -EPROTO;
	*ret = json_integer_value(v);
	return 0;
}

static int get_u64_opt(const json_t *o, const char *key, uint64_t *ret)
{
	if (!json_object_get(o, key)) {
		*ret = 0;
		return 0;
	}
	return get_u64(o, key, ret);
}

static int get_uint(const json_t *o, const char *key, unsigned *ret)
{
	uint64_t v;
	int r;

	r = get_u64(o, key, &v);
	if (r < 0)
		return r;
	if (v > UINT_MAX)
		return -EPROTO;
	*ret = (unsigned)v;
	return 0;
}

/* Framing and classification. */

/* A greeting again before negotiation is done is QEMU's race, not an attack: see gc_qmp_open(). */
static int handle_greeting(struct gc_qmp *q, const json_t *msg)
{
	const json_t *qmp = json_object_get(msg, "QMP");
	const json_t *version = json_object_get(qmp, "version");
	const json_t *qemu = json_object_get(version, "qemu");
	struct gc_qmp_version v;
	const char *package;
	char *p;
	int r;

	if (q->negotiated || !json_is_object(qmp) || !json_is_object(version) ||
	    !json_is_array(json_object_get(qmp, "capabilities")))
		return -EPROTO;
	r = get_uint(qemu, "major", &v.major);
	if (r >= 0)
		r = get_uint(qemu, "minor", &v.minor);
	if (r >= 0)
		r = get_uint(qemu, "micro", &v.micro);
	if (r >= 0)
		r = get_string_opt(version, "package", &package);
	if (r < 0)
		return r;
	p = strdup(package);
	if (!p)
		return -ENOMEM;
	free(q->package);
	q->package = p;
	v.package = q->package;
	q->version = v;
	q->regreeted = q->greeted;
	q->greeted = true;
	return 0;
}

static void queue_event(struct gc_qmp *q, json_t *event)
{
	if (q->n_events == GC_QMP_EVENTS_MAX) {
		json_decref(q->events[q->events_head]);
		q->events_head = (q->events_head + 1) % GC_QMP_EVENTS_MAX;
		q->n_events--;
		q->events_dropped++;
	}
	q->events[(q->events_head + q->n_events) % GC_QMP_EVENTS_MAX] = json_incref(event);
	q->n_events++;
}

static int handle_event(struct gc_qmp *q, json_t *msg)
{
	const json_t *data = json_object_get(msg, "data");
	const json_t *timestamp = json_object_get(msg, "timestamp");
	const char *name;
	int r;

	r = get_string(msg, "event", &name);
	if (r < 0)
		return r;
	if (isempty(name) || (data && !json_is_object(data)) ||
	    (timestamp && !json_is_object(timestamp)))
		return -EPROTO;
	queue_event(q, msg);
	return 0;
}

/* "gc-N" with N a decimal without leading zeros, as gc_qmp__request() writes them. */
static int parse_id(const json_t *id, uint64_t *ret)
{
	const char *s;

	if (!json_is_string(id))
		return -EPROTO;
	s = startswith(json_string_value(id), "gc-");
	if (!s || s[0] == '0' || safe_atou64(s, ret) < 0)
		return -EPROTO;
	return 0;
}

static bool take_abandoned(struct gc_qmp *q, uint64_t id)
{
	for (size_t i = 0; i < q->n_abandoned; i++)
		if (q->abandoned[i] == id) {
			memmove(q->abandoned + i, q->abandoned + i + 1,
				(q->n_abandoned - i - 1) * sizeof(q->abandoned[0]));
			q->n_abandoned--;
			return true;
		}
	return false;
}

static int handle_reply(struct gc_qmp *q, json_t *msg)
{
	const json_t *error = json_object_get(msg, "error");
	const char *class, *desc;
	uint64_t id;
	int r;

	if (error) {
		if (json_object_get(msg, "return"))
			return -EPROTO;
		r = get_string(error, "class", &class);
		if (r >= 0)
			r = get_string(error, "desc", &desc);
		if (r < 0)
			return r;
	}
	r = parse_id(json_object_get(msg, "id"), &id);
	if (r < 0)
		return r;
	if (q->awaiting && id == q->last_id && !q->reply) {
		q->reply = json_incref(msg);
		return 0;
	}
	if (take_abandoned(q, id))
		return 0;
	return -EPROTO;
}

/*
 * One line. QEMU ends lines with "\r\n" and jansson skips the "\r" as white space; a blank
 * line is skipped too. JSON_REJECT_DUPLICATES: a duplicate key would let two readers of one
 * message disagree.
 */
static int handle_line(struct gc_qmp *q, const char *line, size_t size)
{
	json_auto_t *msg = NULL;
	json_error_t error;
	size_t i;

	for (i = 0; i < size; i++)
		if (!strchr(" \t\r", line[i]))
			break;
	if (i == size)
		return 0;

	msg = json_loadb(line, size, JSON_REJECT_DUPLICATES, &error);
	if (!msg && json_error_code(&error) == json_error_numeric_overflow)
		msg = json_loadb(line, size, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
				 &error);
	if (!msg)
		return json_error_code(&error) == json_error_out_of_memory ? -ENOMEM : -EPROTO;
	if (!json_is_object(msg))
		return -EPROTO;

	if (json_object_get(msg, "QMP"))
		return handle_greeting(q, msg);
	if (!q->greeted)
		return -EPROTO;
	if (json_object_get(msg, "event"))
		return handle_event(q, msg);
	if (json_object_get(msg, "return") || json_object_get(msg, "error"))
		return handle_reply(q, msg);
	return -EPROTO;
}

/* Consumes every complete line of buf. */
static int process(struct gc_qmp *q)
{
	int r;

	for (;;) {
		char *line = q->buf + q->start;
		char *nl = memchr(q->buf + q->scanned, '\n', q->len - q->scanned);
		size_t size;

		if (!nl) {
			q->scanned = q->len;
			if (q->len - q->start > q->line_max)
				return fail(q, -EMSGSIZE);
			break;
		}
		size = (size_t)(nl - line);
		if (size > q->line_max)
			return fail(q, -EMSGSIZE);
		q->start = q->scanned = q->start + size + 1;
		r = handle_line(q, line, size);
		if (r < 0)
			return fail(q, r);
	}

	if (q->start == q->len) {
		q->start = q->scanned = q->len = 0;
	} else if (q->start > 0) {
		memmove(q->buf, q->buf + q->start, q->len - q->start);
		q->len -= q->start;
		q->scanned -= q->start;
		q->start = 0;
	}
	return 0;
}

/* Makes room for n more bytes at buf + len. */
static int reserve(struct gc_qmp *q, size_t n)
{
	size_t want;
	char *p;

	if (q->alloc - q->len >= n)
		return 0;
	if (n > SIZE_MAX / 2 - q->len)
		return -ENOMEM;
	want = MAX(q->len + n, MAX(q->alloc * 2, (size_t)READ_CHUNK));
	p = realloc(q->buf, want);
	if (!p)
		return -ENOMEM;
	q->buf = p;
	q->alloc = want;
	return 0;
}

int gc_qmp__feed(struct gc_qmp *q, const void *data, size_t size)
{
	int r;

	if (q->broken != 0)
		return q->broken;
	if (size == 0)
		return 0;
	r = reserve(q, size);
	if (r < 0)
		return fail(q, r);
	memcpy(q->buf + q->len, data, size);
	q->len += size;
	return process(q);
}

int gc_qmp__request(struct gc_qmp *q, const char *command, json_t *arguments, char **ret_line)
{
	json_auto_t *msg = NULL;
	_cleanup_free_ char *text = NULL, *line = NULL;
	char id[32];
	size_t n;

	if (isempty(command) || (arguments && !json_is_object(arguments)))
		return -EINVAL;

	(void)snprintf(id, sizeof(id), "gc-%" PRIu64, q->last_id + 1);
	msg = json_pack("{s:s, s:s}", "execute", command, "id", id);
	if (!msg || (arguments && json_object_set(msg, "arguments", arguments) < 0))
		return -ENOMEM;
	/* Compact output: QEMU reads JSON by itself, but a newline ends our line. */
	text = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	line = malloc(n + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';

	q->last_id++;
	q->awaiting = true;
	json_decref(q->reply);
	q->reply = NULL;
	*ret_line = TAKE_PTR(line);
	return 0;
}

int gc_qmp__take_reply(struct gc_qmp *q, json_t **ret_return)
{
	json_auto_t *msg = NULL;
	const json_t *error;

	if (!q->reply)
		return 0;
	msg = TAKE_PTR(q->reply);
	q->awaiting = false;
	error = json_object_get(msg, "error");
	if (error)
		/* handle_reply() checked that class and desc are strings. */
		return set_error(q, json_string_value(json_object_get(error, "class")),
				 json_string_value(json_object_get(error, "desc")));
	if (ret_return)
		*ret_return = json_incref(json_object_get(msg, "return"));
	return 1;
}

void gc_qmp__abandon(struct gc_qmp *q)
{
	if (!q->awaiting)
		return;
	q->awaiting = false;
	if (q->n_abandoned == ABANDONED_MAX) {
		memmove(q->abandoned, q->abandoned + 1,
			(ABANDONED_MAX - 1) * sizeof(q->abandoned[0]));
		q->n_abandoned--;
	}
	q->abandoned[q->n_abandoned++] = q->last_id;
}

/* Whether event is called name (any name when NULL) and, for a job's, is about job_id. */
static bool event_matches(const json_t *event, const char *name, const char *job_id)
{
	const char *s;

	if (name && !streq(json_string_value(json_object_get(event, "event")), name))
		return false;
	if (!job_id)
		return true;
	s = json_string_value(json_object_get(json_object_get(event, "data"), "id"));
	return s && streq(s, job_id);
}

static int take_event_matching(struct gc_qmp *q, const char *name, const char *job_id,
			       json_t **ret_event)
{
	for (size_t i = 0; i < q->n_events; i++) {
		size_t k = (q->events_head + i) % GC_QMP_EVENTS_MAX;
		json_t *event = q->events[k];

		if (!event_matches(event, name, job_id))
			continue;
		/* Close the gap: move the later events one slot back. */
		for (size_t j = i; j + 1 < q->n_events; j++)
			q->events[(q->events_head + j) % GC_QMP_EVENTS_MAX] =
				q->events[(q->events_head + j + 1) % GC_QMP_EVENTS_MAX];
		q->n_events--;
		if (ret_event)
			*ret_event = event;
		else
			json_decref(event);
		return 1;
	}
	return 0;
}

int gc_qmp__take_event(struct gc_qmp *q, const char *name, json_t **ret_event)
{
	return take_event_matching(q, name, NULL, ret_event);
}

static bool has_event(const struct gc_qmp *q, const char *name)
{
	for (size_t i = 0; i < q->n_events; i++)
		if (event_matches(q->events[(q->events_head + i) % GC_QMP_EVENTS_MAX], name, NULL))
			return true;
	return false;
}

/* Socket I/O. */

/* Waits until the socket is readable, reads once and processes what came. */
static int read_some(struct gc_qmp *q, uint64_t deadline)
{
	ssize_t n;
	int r;

	if (q->broken != 0)
		return q->broken;
	if (q->fd < 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd p = { .fd = q->fd, .events = POLLIN };

		r = poll(&p, 1, timeout_ms_left(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;

		r = reserve(q, READ_CHUNK);
		if (r < 0)
			return fail(q, r);
		n = recv(q->fd, q->buf + q->len, READ_CHUNK, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno == ECONNRESET)
			return fail(q, -ECONNRESET);
		if (n < 0)
			return fail(q, -errno);
		if (n == 0)
			return fail(q, -ECONNRESET);
		q->len += (size_t)n;
		return process(q);
	}
}

/*
 * Sends all of line. A write cut short leaves half a command in QEMU's parser, so it breaks
 * the connection; one that sent nothing before the timeout does not.
 */
static int send_all(struct gc_qmp *q, const char *line, uint64_t deadline)
{
	size_t size = strlen(line), done = 0;

	while (done < size) {
		struct pollfd p = { .fd = q->fd, .events = POLLOUT };
		ssize_t n;
		int r;

		n = send(q->fd, line + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return fail(q, -ECONNRESET);
		if (errno != EAGAIN && errno != EINTR)
			return fail(q, -errno);
		r = poll(&p, 1, timeout_ms_left(deadline));
		if (r < 0 && errno != EINTR)
			return fail(q, -errno);
		if (r == 0)
			return done > 0 ? fail(q, -ETIMEDOUT) : -ETIMEDOUT;
	}
	return 0;
}

/* Commands and events. */

static int command_until(struct gc_qmp *q, const char *command, json_t *arguments,
			 uint64_t deadline, json_t **ret_return)
{
	_cleanup_free_ char *line = NULL;
	int r;

	clear_error(q);
	if (q->broken != 0)
		return q->broken;
	if (q->fd < 0)
		return -ENOTCONN;
	gc_qmp__abandon(q);
	r = gc_qmp__request(q, command, arguments, &line);
	if (r < 0)
		return r;
	r = send_all(q, line, deadline);
	if (r < 0) {
		gc_qmp__abandon(q);
		return r;
	}
	for (;;) {
		r = gc_qmp__take_reply(q, ret_return);
		if (r != 0)
			return MIN(r, 0);
		r = read_some(q, deadline);
		if (r < 0) {
			gc_qmp__abandon(q);
			return r;
		}
	}
}

int gc_qmp_command(struct gc_qmp *q, const char *command, json_t *arguments, int timeout_ms,
		   json_t **ret_return)
{
	if (!q || isempty(command) || (arguments && !json_is_object(arguments)))
		return -EINVAL;
	return command_until(q, command, arguments, deadline_from_timeout_ms(timeout_ms),
			     ret_return);
}

static int wait_event_until(struct gc_qmp *q, const char *name, const char *job_id,
			    uint64_t deadline, json_t **ret_event)
{
	int r;

	for (;;) {
		if (take_event_matching(q, name, job_id, ret_event) > 0)
			return 0;
		r = read_some(q, deadline);
		if (r < 0)
			return r;
	}
}

int gc_qmp_next_event(struct gc_qmp *q, int timeout_ms, json_t **ret_event)
{
	if (!q || !ret_event)
		return -EINVAL;
	clear_error(q);
	return wait_event_until(q, NULL, NULL, deadline_from_timeout_ms(timeout_ms), ret_event);
}

int gc_qmp_wait_event(struct gc_qmp *q, const char *name, int timeout_ms, json_t **ret_event)
{
	if (!q || isempty(name))
		return -EINVAL;
	clear_error(q);
	return wait_event_until(q, name, NULL, deadline_from_timeout_ms(timeout_ms), ret_event);
}

int gc_qmp_open(const char *socket_path, int timeout_ms, struct gc_qmp **ret_qmp)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = deadline_from_timeout_ms(timeout_ms);
	struct ucred cred;
	socklen_t cred_size = sizeof(cred);
	int r;

	if (isempty(socket_path) || !ret_qmp)
		return -EINVAL;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);

	q = gc_qmp__new();
	if (!q)
		return -ENOMEM;

	/* QEMU creates the socket only once it is up: retry while it is missing or refusing. */
	for (;;) {
		_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timespec ts;

		if (fd < 0)
			return -errno;
		if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0) {
			q->fd = TAKE_FD(fd);
			break;
		}
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN)
			return r;
		if (timeout_ms == 0)
			return r;
		if (deadline_passed(deadline))
			return -ETIMEDOUT;
		ts = timespec_from_nsec(
			MIN((uint64_t)timeout_ms_left(deadline), (uint64_t)CONNECT_RETRY_MS) *
			NSEC_PER_MSEC);
		(void)nanosleep(&ts, NULL);
	}

	/* A peer in another pid namespace shows as pid 0: "unknown". */
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_size) == 0 && cred.pid > 0)
		q->peer_pid = cred.pid;

	while (!q->greeted) {
		r = read_some(q, deadline);
		if (r < 0)
			return r;
	}

	/*
	 * A client that connects while QEMU starts can be greeted twice, we suspect because
	 * the QMP monitor's I/O thread installs its handlers while the main loop accepts the
	 * connection, and each reports it opened. The second greeting also resets negotiation,
	 * so negotiate again when one came while negotiating; then QEMU either accepts or says
	 * negotiation is already complete (CommandNotFound).
	 */
	for (unsigned attempt = 0;; attempt++) {
		q->regreeted = false;
		r = command_until(q, "qmp_capabilities", NULL, deadline, NULL);
		if (r == -EREMOTEIO && attempt > 0 && streq(q->error.class, "CommandNotFound"))
			r = 0;
		if (r < 0)
			return r;
		if (!q->regreeted)
			break;
		if (attempt == 2)
			return -EPROTO;
	}
	clear_error(q);
	q->negotiated = true;

	*ret_qmp = TAKE_PTR(q);
	return 0;
}

/* Convenience calls. */

int gc_qmp_query_status(struct gc_qmp *q, int timeout_ms, char **ret_status, bool *ret_running)
{
	json_auto_t *reply = NULL;
	const json_t *running;
	const char *status;
	char *s = NULL;
	int r;

	if (!q)
		return -EINVAL;
	r = gc_qmp_command(q, "query-status", NULL, timeout_ms, &reply);
	if (r < 0)
		return r;
	running = json_object_get(reply, "running");
	r = get_string(reply, "status", &status);
	if (r < 0 || !json_is_boolean(running))
		return -EPROTO;
	if (ret_status) {
		s = strdup(status);
		if (!s)
			return -ENOMEM;
		*ret_status = s;
	}
	if (ret_running)
		*ret_running = json_is_true(running);
	return 0;
}

int gc_qmp_system_powerdown(struct gc_qmp *q, int timeout_ms)
{
	return gc_qmp_command(q, "system_powerdown", NULL, timeout_ms, NULL);
}

/* Reads (queueing events) until QEMU closes the connection. */
static int wait_closed(struct gc_qmp *q, uint64_t deadline)
{
	int r;

	do
		r = read_some(q, deadline);
	while (r >= 0);
	return r == -ECONNRESET ? 0 : r;
}

static int quit_until(struct gc_qmp *q, uint64_t deadline)
{
	int r;

	r = command_until(q, "quit", NULL, deadline, NULL);
	if (r == -ECONNRESET)
		return 0;
	if (r < 0)
		return r;
	return wait_closed(q, deadline);
}

int gc_qmp_quit(struct gc_qmp *q, int timeout_ms)
{
	if (!q)
		return -EINVAL;
	return quit_until(q, deadline_from_timeout_ms(timeout_ms));
}

int gc_qmp_shutdown(struct gc_qmp *q, int timeout_ms)
{
	uint64_t deadline = deadline_from_timeout_ms(timeout_ms);
	int r;

	if (!q)
		return -EINVAL;
	r = command_until(q, "system_powerdown", NULL, deadline, NULL);
	if (r == -ECONNRESET)
		return 0;
	if (r < 0)
		return r;
	/*
	 * QEMU exits once the guest powered off, unless it runs with -no-shutdown, where it
	 * only reports SHUTDOWN: then quit finishes what the guest agreed to.
	 */
	for (;;) {
		if (has_event(q, "SHUTDOWN")) {
			r = quit_until(q, deadline_from_timeout_ms(QUIT_TIMEOUT_MS));
			return MIN(r, 0);
		}
		r = read_some(q, deadline);
		if (r == -ECONNRESET)
			return 0;
		if (r == -ETIMEDOUT)
			break;
		if (r < 0)
			return r;
	}
	r = quit_until(q, deadline_from_timeout_ms(QUIT_TIMEOUT_MS));
	return r < 0 ? r : 1;
}

int gc_qmp_hmp(struct gc_qmp *q, const char *command_line, int timeout_ms, char **ret_output)
{
	json_auto_t *args = NULL, *reply = NULL;
	const char *text;
	char *out;
	size_t k = 0;
	int r;

	if (!q || isempty(command_line))
		return -EINVAL;
	args = json_pack("{s:s}", "command-line", command_line);
	if (!args)
		return -ENOMEM;
	r = gc_qmp_command(q, "human-monitor-command", args, timeout_ms, &reply);
	if (r < 0)
		return r;
	if (!json_is_string(reply))
		return -EPROTO;
	text = json_string_value(reply);
	out = malloc(strlen(text) + 1);
	if (!out)
		return -ENOMEM;
	for (const char *p = text; *p != '\0'; p++)
		if (!(p[0] == '\r' && p[1] == '\n'))
			out[k++] = *p;
	out[k] = '\0';
	if (ret_output)
		*ret_output = out;
	else
		free(out);
	return 0;
}

/* Stats. */

static void nic_done(struct gc_qmp_nic_stats *n)
{
	free(n->name);
	free(n->model);
	free(n->macaddr);
	free(n->peer);
	free(n->peer_type);
	free(n->ifname);
}

struct gc_qmp_stats *gc_qmp_stats_free(struct gc_qmp_stats *s)
{
	if (!s)
		return NULL;
	free(s->vcpus);
	for (size_t i = 0; i < s->n_blocks; i++) {
		free(s->blocks[i].device);
		free(s->blocks[i].node_name);
	}
	free(s->blocks);
	for (size_t i = 0; i < s->n_nics; i++)
		nic_done(&s->nics[i]);
	free(s->nics);
	free(s);
	return NULL;
}

int gc_qmp__parse_vcpus(const json_t *reply, struct gc_qmp_stats *s)
{
	size_t n = json_array_size(reply);
	struct gc_qmp_vcpu *v;
	int r;

	if (!json_is_array(reply) || s->vcpus)
		return -EPROTO;
	v = calloc(MAX(n, (size_t)1), sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *cpu = json_array_get(reply, i);

		r = get_i64(cpu, "cpu-index", &v[i].cpu_index);
		if (r >= 0)
			r = get_i64(cpu, "thread-id", &v[i].thread_id);
		if (r < 0) {
			free(v);
			return r;
		}
	}
	s->vcpus = v;
	s->n_vcpus = n;
	return 0;
}

int gc_qmp__parse_blockstats(const json_t *reply, struct gc_qmp_stats *s)
{
	size_t n = json_array_size(reply);
	struct gc_qmp_block_stats *b;
	int r = 0;

	if (!json_is_array(reply) || s->blocks)
		return -EPROTO;
	b = calloc(MAX(n, (size_t)1), sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->blocks = b;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(reply, i);
		const json_t *st = json_object_get(e, "stats");
		const char *device, *node;

		r = get_string_opt(e, "device", &device);
		if (r >= 0)
			r = get_string_opt(e, "node-name", &node);
		if (r >= 0 && !json_is_object(st))
			r = -EPROTO;
		if (r >= 0)
			r = get_u64(st, "rd_bytes", &b[i].rd_bytes);
		if (r >= 0)
			r = get_u64(st, "wr_bytes", &b[i].wr_bytes);
		if (r >= 0)
			r = get_u64(st, "rd_operations", &b[i].rd_operations);
		if (r >= 0)
			r = get_u64(st, "wr_operations", &b[i].wr_operations);
		if (r >= 0)
			r = get_u64_opt(st, "flush_operations", &b[i].flush_operations);
		if (r >= 0)
			r = get_u64_opt(st, "rd_total_time_ns", &b[i].rd_total_time_ns);
		if (r >= 0)
			r = get_u64_opt(st, "wr_total_time_ns", &b[i].wr_total_time_ns);
		if (r < 0)
			break;
		b[i].device = strdup(device);
		b[i].node_name = strdup(node);
		s->n_blocks = i + 1; /* so that gc_qmp_stats_free() frees this entry */
		if (!b[i].device || !b[i].node_name) {
			r = -ENOMEM;
			break;
		}
	}
	return r;
}

/* The value of key in "a=1,key=value,b=2" as a new string ("" when absent); NULL on OOM. */
static char *option_value(const char *options, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = options; p && *p != '\0';) {
		const char *end = strchrnul(p, ',');

		if ((size_t)(end - p) > n && strneq(p, key, n) && p[n] == '=')
			return strndup(p + n + 1, (size_t)(end - p) - n - 1);
		p = *end == ',' ? end + 1 : end;
	}
	return strdup("");
}

/*
 * One client of `info network`, "NAME: index=N,type=TYPE,OPTIONS", as QEMU 7.2's
 * print_net_client() writes it. Splits line in place; -EPROTO if it is not one.
 */
static int split_client(char *line, char **ret_name, unsigned *ret_index, char **ret_type,
			char **ret_options)
{
	char *name = line, *rest, *type, *options;
	unsigned index;

	rest = strstr(line, ": index=");
	if (!rest || rest == line)
		return -EPROTO;
	*rest = '\0';
	rest += strlen(": index=");
	type = strstr(rest, ",type=");
	if (!type)
		return -EPROTO;
	*type = '\0';
	type += strlen(",type=");
	if (safe_atou(rest, &index) < 0)
		return -EPROTO;
	options = strchrnul(type, ',');
	if (*options == ',')
		*options++ = '\0';
	*ret_name = name;
	*ret_index = index;
	*ret_type = type;
	*ret_options = options;
	return 0;
}

static int add_nic(struct gc_qmp_stats *s, const char *name, const char *options)
{
	struct gc_qmp_nic_stats *nics, *n;

	for (size_t i = 0; i < s->n_nics; i++)
		if (streq(s->nics[i].name, name))
			return 0; /* another queue of a multiqueue NIC */
	nics = reallocarray(s->nics, s->n_nics + 1, sizeof(*nics));
	if (!nics)
		return -ENOMEM;
	s->nics = nics;
	n = &nics[s->n_nics++];
	*n = (struct gc_qmp_nic_stats){
		.name = strdup(name),
		.model = option_value(options, "model"),
		.macaddr = option_value(options, "macaddr"),
		.peer = strdup(""),
		.peer_type = strdup(""),
		.ifname = strdup(""),
	};
	if (!n->name || !n->model || !n->macaddr || !n->peer || !n->peer_type || !n->ifname)
		return -ENOMEM;
	return 1;
}

static int set_peer(struct gc_qmp_nic_stats *n, const char *name, const char *type,
		    const char *options)
{
	char *peer = strdup(name), *peer_type = strdup(type),
	     *ifname = option_value(options, "ifname");

	if (!peer || !peer_type || !ifname) {
		free(peer);
		free(peer_type);
		free(ifname);
		return -ENOMEM;
	}
	free(n->peer);
	free(n->peer_type);
	free(n->ifname);
	n->peer = peer;
	n->peer_type = peer_type;
	n->ifname = ifname;
	return 0;
}

/*
 * QEMU 7.2 prints each NIC at the start of a line and its netdev on the next, after " \ ";
 * hubs ("hub 0") and their ports, indented, are skipped, as are lines this does not know.
 */
int gc_qmp__parse_info_network(const char *text, struct gc_qmp_stats *s)
{
	_cleanup_free_ char *copy = strdup(text);
	struct gc_qmp_nic_stats *last = NULL;
	char *save = NULL;
	int r;

	if (!copy)
		return -ENOMEM;
	for (char *line = strtok_r(copy, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char *name, *type, *options;
		bool is_peer = false;
		unsigned index;
		const char *p;

		p = startswith(line, " \\ ");
		if (p) {
			line = (char *)p;
			is_peer = true;
		} else if (line[0] == ' ') {
			last = NULL;
			continue;
		}
		if (split_client(line, &name, &index, &type, &options) < 0) {
			last = NULL;
			continue;
		}
		if (is_peer) {
			if (last) {
				r = set_peer(last, name, type, options);
				if (r < 0)
					return r;
			}
			last = NULL;
			continue;
		}
		last = NULL;
		if (!streq(type, "nic"))
			continue;
		r = add_nic(s, name, options);
		if (r < 0)
			return r;
		if (r > 0 && index == 0)
			last = &s->nics[s->n_nics - 1];
	}
	return 0;
}

/* A counter in sysfs or procfs: the first decimal of a small file. */
static int read_u64_file(const char *path, uint64_t *ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[64];
	ssize_t n;
	char *end;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	errno = 0;
	*ret = strtoull(buf, &end, 10);
	if (errno != 0 || end == buf)
		return -EINVAL;
	return 0;
}

/* The host side of a tap is the mirror of the guest's: what it receives, the guest sent. */
static void read_nic_counters(struct gc_qmp_nic_stats *n)
{
	static const char *const names[] = { "tx_bytes", "tx_packets", "rx_bytes", "rx_packets" };
	uint64_t *fields[] = { &n->rx_bytes, &n->rx_packets, &n->tx_bytes, &n->tx_packets };
	uint64_t v[ELEMENTSOF(names)];
	char path[128];

	/* The name came from QEMU: it must be a plain interface name to build a path. */
	if (!streq(n->peer_type, "tap") || isempty(n->ifname) || strlen(n->ifname) >= IFNAMSIZ ||
	    strchr(n->ifname, '/') || streq(n->ifname, ".") || streq(n->ifname, ".."))
		return;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		(void)snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", n->ifname,
			       names[i]);
		if (read_u64_file(path, &v[i]) < 0)
			return;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		*fields[i] = v[i];
	n->has_counters = true;
}

static void read_vcpu_time(pid_t pid, struct gc_qmp_vcpu *v)
{
	char path[96];

	if (pid <= 0 || v->thread_id <= 0 || v->thread_id > INT_MAX)
		return;
	(void)snprintf(path, sizeof(path), "/proc/%d/task/%" PRId64 "/schedstat", (int)pid,
		       v->thread_id);
	v->has_cpu_time = read_u64_file(path, &v->cpu_time_ns) >= 0;
}

static int query_memory(struct gc_qmp *q, int timeout_ms, struct gc_qmp_stats *s)
{
	json_auto_t *mem = NULL, *balloon = NULL;
	int r;

	r = gc_qmp_command(q, "query-memory-size-summary", NULL, timeout_ms, &mem);
	if (r < 0)
		return r;
	r = get_u64(mem, "base-memory", &s->memory_base);
	if (r >= 0)
		r = get_u64_opt(mem, "plugged-memory", &s->memory_plugged);
	if (r < 0)
		return r;

	/* Without a balloon device QEMU answers DeviceNotActive: that is "no balloon". */
	r = gc_qmp_command(q, "query-balloon", NULL, timeout_ms, &balloon);
	if (r == -EREMOTEIO) {
		clear_error(q);
		return 0;
	}
	if (r < 0)
		return r;
	r = get_u64(balloon, "actual", &s->balloon_actual);
	if (r < 0)
		return r;
	s->has_balloon = true;
	return 0;
}

int gc_qmp_query_stats(struct gc_qmp *q, int timeout_ms, struct gc_qmp_stats **ret_stats)
{
	_cleanup_(gc_qmp_stats_freep) struct gc_qmp_stats *s = NULL;
	json_auto_t *cpus = NULL, *blocks = NULL;
	_cleanup_free_ char *network = NULL;
	int r;

	if (!q || !ret_stats)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->timestamp_ns = now_nsec(CLOCK_MONOTONIC);

	r = gc_qmp_command(q, "query-cpus-fast", NULL, timeout_ms, &cpus);
	if (r < 0)
		return r;
	r = gc_qmp__parse_vcpus(cpus, s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_vcpus; i++)
		read_vcpu_time(q->peer_pid, &s->vcpus[i]);

	r = query_memory(q, timeout_ms, s);
	if (r < 0)
		return r;

	r = gc_qmp_command(q, "query-blockstats", NULL, timeout_ms, &blocks);
	if (r < 0)
		return r;
	r = gc_qmp__parse_blockstats(blocks, s);
	if (r < 0)
		return r;

	r = gc_qmp_hmp(q, "info network", timeout_ms, &network);
	if (r < 0)
		return r;
	r = gc_qmp__parse_info_network(network, s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_nics; i++)
		read_nic_counters(&s->nics[i]);

	*ret_stats = TAKE_PTR(s);
	return 0;
}

/* Snapshots. */

struct gc_qmp_snapshot_list *gc_qmp_snapshot_list_free(struct gc_qmp_snapshot_list *l)
{
	if (!l)
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		free(l->snapshots[i].id);
		free(l->snapshots[i].name);
	}
	free(l->snapshots);
	free(l);
	return NULL;
}

static int parse_snapshot(const json_t *e, struct gc_qmp_snapshot *snap)
{
	uint64_t clock_sec, clock_nsec, date_nsec;
	const char *id, *name;
	int r;

	r = get_string(e, "id", &id);
	if (r >= 0)
		r = get_string(e, "name", &name);
	if (r >= 0)
		r = get_u64(e, "vm-state-size", &snap->vm_state_size);
	if (r >= 0)
		r = get_u64(e, "date-sec", &snap->date_sec);
	if (r >= 0)
		r = get_u64(e, "date-nsec", &date_nsec);
	if (r >= 0)
		r = get_u64(e, "vm-clock-sec", &clock_sec);
	if (r >= 0)
		r = get_u64(e, "vm-clock-nsec", &clock_nsec);
	if (r < 0)
		return r;
	if (date_nsec >= NSEC_PER_SEC || clock_nsec >= NSEC_PER_SEC ||
	    clock_sec > (UINT64_MAX - clock_nsec) / NSEC_PER_SEC)
		return -EPROTO;
	snap->date_nsec = (uint32_t)date_nsec;
	snap->vm_clock_ns = clock_sec * NSEC_PER_SEC + clock_nsec;
	snap->id = strdup(id);
	snap->name = strdup(name);
	if (!snap->id || !snap->name)
		return -ENOMEM;
	return 0;
}

int gc_qmp__parse_snapshots(const json_t *reply, const char *node,
			    struct gc_qmp_snapshot_list **ret_list)
{
	_cleanup_(gc_qmp_snapshot_list_freep) struct gc_qmp_snapshot_list *l = NULL;
	const json_t *found = NULL, *snaps;
	size_t n;
	int r;

	if (!json_is_array(reply))
		return -EPROTO;
	for (size_t i = 0; i < json_array_size(reply); i++) {
		const json_t *e = json_array_get(reply, i);
		const char *name;

		r = get_string(e, "node-name", &name);
		if (r < 0)
			return r;
		if (streq(name, node)) {
			found = e;
			break;
		}
	}
	if (!found)
		return -ENOENT;
	/* "image" is there for every node; "snapshots" only when it has some. */
	if (!json_is_object(json_object_get(found, "image")))
		return -EPROTO;
	snaps = json_object_get(json_object_get(found, "image"), "snapshots");
	if (snaps && !json_is_array(snaps))
		return -EPROTO;
	n = json_array_size(snaps);

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->snapshots = calloc(MAX(n, (size_t)1), sizeof(*l->snapshots));
	if (!l->snapshots)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		l->n = i + 1; /* so that the cleanup frees a half-built entry */
		r = parse_snapshot(json_array_get(snaps, i), &l->snapshots[i]);
		if (r < 0)
			return r;
	}
	*ret_list = TAKE_PTR(l);
	return 0;
}

int gc_qmp_snapshot_list(struct gc_qmp *q, const char *node, int timeout_ms,
			 struct gc_qmp_snapshot_list **ret_list)
{
	json_auto_t *args = NULL, *reply = NULL;
	int r;

	if (!q || isempty(node) || !ret_list)
		return -EINVAL;
	/* flat: each node once, without its backing chain nested inside. */
	args = json_pack("{s:b}", "flat", 1);
	if (!args)
		return -ENOMEM;
	r = gc_qmp_command(q, "query-named-block-nodes", args, timeout_ms, &reply);
	if (r < 0)
		return r;
	return gc_qmp__parse_snapshots(reply, node, ret_list);
}

/* The state of job id from query-jobs; *ret_error is its error message, or NULL. */
static int job_status(struct gc_qmp *q, const char *id, uint64_t deadline, char **ret_status,
		      char **ret_error)
{
	json_auto_t *jobs = NULL;
	int r;

	r = command_until(q, "query-jobs", NULL, deadline, &jobs);
	if (r < 0)
		return r;
	if (!json_is_array(jobs))
		return -EPROTO;
	for (size_t i = 0; i < json_array_size(jobs); i++) {
		const json_t *job = json_array_get(jobs, i);
		const json_t *error = json_object_get(job, "error");
		const char *job_id, *status;
		_cleanup_free_ char *s = NULL, *e = NULL;

		r = get_string(job, "id", &job_id);
		if (r >= 0)
			r = get_string(job, "status", &status);
		if (r < 0)
			return r;
		if (!streq(job_id, id))
			continue;
		if (error && !json_is_string(error))
			return -EPROTO;
		s = strdup(status);
		e = error ? strdup(json_string_value(error)) : NULL;
		if (!s || (error && !e))
			return -ENOMEM;
		*ret_status = TAKE_PTR(s);
		*ret_error = TAKE_PTR(e);
		return 0;
	}
	/* Our jobs are dismissed by hand: one that vanished was not ours to lose. */
	return -EPROTO;
}

static void job_abort(struct gc_qmp *q, const char *id)
{
	json_auto_t *args = json_pack("{s:s}", "id", id);
	uint64_t deadline = deadline_from_timeout_ms(JOB_POLL_MS);

	/* Best effort: the caller reports the timeout, whatever QEMU says to these. */
	if (!args)
		return;
	(void)command_until(q, "job-cancel", args, deadline, NULL);
	(void)command_until(q, "job-dismiss", args, deadline, NULL);
	clear_error(q);
}

/*
 * Runs a job: starts it, waits for it to conclude, dismisses it. JOB_STATUS_CHANGE events
 * wake the wait, and query-jobs is the truth: it is asked after each event, and every
 * JOB_POLL_MS in case an event was dropped from a full queue.
 */
static int run_job(struct gc_qmp *q, const char *command, json_t *args, int timeout_ms)
{
	uint64_t deadline = deadline_from_timeout_ms(timeout_ms);
	json_auto_t *dismiss = NULL;
	char id[64];
	int r;

	(void)snprintf(id, sizeof(id), "gc-%d-%u", (int)getpid(), ++q->last_job);
	if (json_object_set_new(args, "job-id", json_string(id)) < 0)
		return -ENOMEM;
	dismiss = json_pack("{s:s}", "id", id);
	if (!dismiss)
		return -ENOMEM;

	r = command_until(q, command, args, deadline, NULL);
	if (r < 0)
		return r;
	for (;;) {
		_cleanup_free_ char *status = NULL, *error = NULL;
		uint64_t slice;

		r = job_status(q, id, deadline, &status, &error);
		if (r == -ETIMEDOUT)
			break;
		if (r < 0)
			return r;
		if (streq(status, "concluded")) {
			r = command_until(q, "job-dismiss", dismiss, deadline, NULL);
			if (r < 0)
				return r;
			/* Its later events (the dismissal's "null") interest nobody. */
			while (take_event_matching(q, "JOB_STATUS_CHANGE", id, NULL) > 0)
				;
			if (error)
				return set_error(q, "JobFailed", error);
			return 0;
		}
		slice = MIN(deadline, deadline_from_timeout_ms(JOB_POLL_MS));
		r = wait_event_until(q, "JOB_STATUS_CHANGE", id, slice, NULL);
		if (r == -ETIMEDOUT && deadline_passed(deadline))
			break;
		if (r < 0 && r != -ETIMEDOUT)
			return r;
	}
	job_abort(q, id);
	return -ETIMEDOUT;
}

/* ["disk0", ...]: nodes, or vmstate_node alone when nodes is NULL. NULL on OOM. */
static json_t *node_array(const char *vmstate_node, const char *const *nodes)
{
	json_auto_t *a = json_array();

	if (!a)
		return NULL;
	if (!nodes)
		return json_array_append_new(a, json_string(vmstate_node)) < 0 ? NULL : TAKE_PTR(a);
	for (size_t i = 0; nodes[i]; i++)
		if (json_array_append_new(a, json_string(nodes[i])) < 0)
			return NULL;
	return TAKE_PTR(a);
}

static int snapshot_job(struct gc_qmp *q, const char *command, const char *tag,
			const char *vmstate_node, const char *const *nodes, int timeout_ms)
{
	json_auto_t *args = NULL;
	json_t *devices;

	if (!q || isempty(tag) || (!vmstate_node && !nodes) ||
	    (vmstate_node && isempty(vmstate_node)))
		return -EINVAL;
	for (size_t i = 0; nodes && nodes[i]; i++)
		if (isempty(nodes[i]))
			return -EINVAL;
	clear_error(q);
	devices = node_array(vmstate_node, nodes);
	if (!devices)
		return -ENOMEM;
	args = json_pack("{s:s, s:o}", "tag", tag, "devices", devices);
	if (!args ||
	    (vmstate_node && json_object_set_new(args, "vmstate", json_string(vmstate_node)) < 0))
		return -ENOMEM;
	return run_job(q, command, args, timeout_ms);
}

int gc_qmp_snapshot_save(struct gc_qmp *q, const char *tag, const char *vmstate_node,
			 const char *const *nodes, int timeout_ms)
{
	if (!vmstate_node)
		return -EINVAL;
	return snapshot_job(q, "snapshot-save", tag, vmstate_node, nodes, timeout_ms);
}

int gc_qmp_snapshot_load(struct gc_qmp *q, const char *tag, const char *vmstate_node,
			 const char *const *nodes, int timeout_ms)
{
	if (!vmstate_node)
		return -EINVAL;
	return snapshot_job(q, "snapshot-load", tag, vmstate_node, nodes, timeout_ms);
}

int gc_qmp_snapshot_delete(struct gc_qmp *q, const char *tag, const char *const *nodes,
			   int timeout_ms)
{
	if (!nodes || !nodes[0])
		return -EINVAL;
	return snapshot_job(q, "snapshot-delete", tag, NULL, nodes, timeout_ms);
}
