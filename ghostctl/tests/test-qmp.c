/* SPDX-License-Identifier: MIT */
/*
 * The QMP client: its parser fed from buffers, a scripted fake QEMU on a unix socket, and a
 * real QEMU (skipped when qemu-system-x86_64 is missing).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/string-util.h"
#include "common/tests.h"
#include "common/time-util.h"
#include "vm/qmp.h"
#include "vm/qmp_internal.h"

extern char **environ;

#define GREETING                                                                                   \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 1, \"minor\": 2, \"major\": 7}, "          \
	"\"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define RETURN_EMPTY "{\"return\": {}, \"id\": $ID}\r\n"

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/gc-qmp-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(tmpdir));
}

/* Removes tmpdir and the plain files in it (a passing test cleans up after itself). */
static void remove_tmpdir(void)
{
	_cleanup_closedir_ DIR *d = opendir(tmpdir);
	struct dirent *de;
	char path[sizeof(tmpdir) + sizeof(de->d_name) + 1];

	ASSERT_NOT_NULL(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
			ASSERT_OK_ERRNO(unlink(path));
		}
	ASSERT_OK_ERRNO(rmdir(tmpdir));
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = timespec_from_nsec(ms * NSEC_PER_MSEC);

	(void)nanosleep(&ts, NULL);
}

/* The parser alone. */

static struct gc_qmp *new_greeted(void)
{
	struct gc_qmp *q = gc_qmp__new();

	ASSERT_NOT_NULL(q);
	ASSERT_OK(gc_qmp__feed(q, GREETING, strlen(GREETING)));
	ASSERT_TRUE(gc_qmp__greeted(q));
	return q;
}

static int feed(struct gc_qmp *q, const char *s)
{
	return gc_qmp__feed(q, s, strlen(s));
}

/* Sends a command (the client's side only) and checks that it is "gc-N". */
static void request(struct gc_qmp *q, unsigned n)
{
	_cleanup_free_ char *line = NULL;
	char expect[128];

	ASSERT_OK(gc_qmp__request(q, "query-status", NULL, &line));
	(void)snprintf(expect, sizeof(expect), "{\"execute\":\"query-status\",\"id\":\"gc-%u\"}\n",
		       n);
	ASSERT_STREQ(line, expect);
}

TEST(parse_greeting)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();
	const struct gc_qmp_version *v = gc_qmp_version(q);

	ASSERT_EQ(v->major, 7u);
	ASSERT_EQ(v->minor, 2u);
	ASSERT_EQ(v->micro, 1u);
	ASSERT_STREQ(v->package, "fake");
	/* Until negotiation is done, QEMU may greet again (see gc_qmp_open()). */
	ASSERT_OK(feed(q, GREETING));
}

TEST(parse_bad_greetings)
{
	static const char *const bad[] = {
		"{\"return\": {}}\n", /* anything before the greeting */
		"{\"QMP\": {}}\n",
		"{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2}}, "
		"\"capabilities\": []}}\n",
		"{\"QMP\": {\"version\": {\"qemu\": {\"major\": -7, \"minor\": 2, \"micro\": 0}}, "
		"\"capabilities\": []}}\n",
		"{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": 0}}}}\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_(gc_qmp_closep) struct gc_qmp *q = gc_qmp__new();

		ASSERT_NOT_NULL(q);
		ASSERT_ERROR(feed(q, bad[i]), EPROTO);
		ASSERT_FALSE(gc_qmp__greeted(q));
		/* Sticky. */
		ASSERT_ERROR(feed(q, GREETING), EPROTO);
	}
}

TEST(parse_reply_in_pieces)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();
	const char *reply = "{\"return\": {\"status\": \"running\"}, \"id\": \"gc-1\"}\r\n";
	json_auto_t *v = NULL;

	request(q, 1);
	/* One byte at a time, and blank lines between messages. */
	for (size_t i = 0; reply[i] != '\0'; i++) {
		ASSERT_EQ(gc_qmp__take_reply(q, &v), 0);
		ASSERT_OK(gc_qmp__feed(q, reply + i, 1));
	}
	ASSERT_EQ(gc_qmp__take_reply(q, &v), 1);
	ASSERT_STREQ(json_string_value(json_object_get(v, "status")), "running");
	ASSERT_OK(feed(q, "\r\n  \n"));
	/* Nothing is awaited any more. */
	ASSERT_EQ(gc_qmp__take_reply(q, NULL), 0);
	request(q, 2);
	ASSERT_OK(feed(q, "{\"id\": \"gc-2\", \"return\": 18446744073709551615}\n"));
	json_decref(v);
	v = NULL;
	/* An integer past int64 is read as a real rather than refused. */
	ASSERT_EQ(gc_qmp__take_reply(q, &v), 1);
	ASSERT_TRUE(json_is_real(v));
}

TEST(parse_error_reply)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();
	const struct gc_qmp_error *e;

	request(q, 1);
	ASSERT_OK(feed(q, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no \\u00e9\"}, "
			  "\"id\": \"gc-1\"}\n"));
	ASSERT_ERROR(gc_qmp__take_reply(q, NULL), EREMOTEIO);
	e = gc_qmp_last_error(q);
	ASSERT_NOT_NULL(e);
	ASSERT_STREQ(e->class, "GenericError");
	ASSERT_STREQ(e->desc, "no \xc3\xa9");
}

TEST(parse_events_queue)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();
	json_t *e = NULL;
	char line[128];

	for (unsigned i = 0; i < GC_QMP_EVENTS_MAX + 5; i++) {
		(void)snprintf(line, sizeof(line),
			       "{\"event\": \"E%u\", \"data\": {\"n\": %u}, \"timestamp\": {}}\n",
			       i, i);
		ASSERT_OK(feed(q, line));
	}
	ASSERT_EQ(gc_qmp_events_dropped(q), 5u);
	/* The oldest were dropped; a named take leaves the others in order. */
	ASSERT_EQ(gc_qmp__take_event(q, "E4", &e), 0);
	ASSERT_EQ(gc_qmp__take_event(q, "E7", &e), 1);
	json_decref(e);
	ASSERT_EQ(gc_qmp__take_event(q, NULL, &e), 1);
	ASSERT_STREQ(json_string_value(json_object_get(e, "event")), "E5");
	json_decref(e);
	ASSERT_EQ(gc_qmp__take_event(q, NULL, &e), 1);
	ASSERT_STREQ(json_string_value(json_object_get(e, "event")), "E6");
	json_decref(e);
	ASSERT_EQ(gc_qmp__take_event(q, NULL, &e), 1);
	ASSERT_STREQ(json_string_value(json_object_get(e, "event")), "E8");
	json_decref(e);
}

TEST(parse_late_reply_dropped)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();

	request(q, 1);
	gc_qmp__abandon(q);
	request(q, 2);
	ASSERT_OK(feed(q, "{\"return\": {}, \"id\": \"gc-1\"}\n"));
	ASSERT_EQ(gc_qmp__take_reply(q, NULL), 0);
	ASSERT_OK(feed(q, "{\"return\": {}, \"id\": \"gc-2\"}\n"));
	ASSERT_EQ(gc_qmp__take_reply(q, NULL), 1);
	/* Only once. */
	ASSERT_ERROR(feed(q, "{\"return\": {}, \"id\": \"gc-1\"}\n"), EPROTO);
}

TEST(parse_hostile_lines)
{
	static const char *const bad[] = {
		"this is not json\n",
		"[1, 2, 3]\n",
		"\"a string\"\n",
		"{}\n",
		"{\"return\": {}}\n",			  /* no id */
		"{\"return\": {}, \"id\": 1}\n",	  /* not our kind of id */
		"{\"return\": {}, \"id\": \"gc-999\"}\n", /* never sent */
		"{\"return\": {}, \"id\": \"gc-01\"}\n",
		"{\"return\": {}, \"id\": \"gc-1\", \"error\": {\"class\": \"a\", \"desc\": \"b\"}}\n",
		"{\"error\": {\"class\": \"a\"}, \"id\": \"gc-1\"}\n",
		"{\"error\": \"bad\", \"id\": \"gc-1\"}\n",
		"{\"return\": {}, \"id\": \"gc-1\", \"id\": \"gc-1\"}\n", /* duplicate key */
		"{\"event\": 5}\n",
		"{\"event\": \"\"}\n",
		"{\"event\": \"STOP\", \"data\": []}\n",
		"{\"return\": \"\xff\xfe\", \"id\": \"gc-1\"}\n", /* invalid UTF-8 */
		"{\"return\": \"\xc0\xaf\", \"id\": \"gc-1\"}\n", /* overlong */
		"{\"return\": \"a\\u0000b\", \"id\": \"gc-1\"}\n",
		"{\"return\": 1e999, \"id\": \"gc-1\"}\n",
		"{\"return\": {}, \"id\": \"gc-1\"} {}\n",
	};

	static const char nul[] = "{\"return\": {}, \"id\": \"gc-1\"}\0garbage\n";

	for (size_t i = 0; i <= ELEMENTSOF(bad); i++) {
		_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();
		const char *line = i < ELEMENTSOF(bad) ? bad[i] : nul;
		size_t n = i < ELEMENTSOF(bad) ? strlen(line) : sizeof(nul) - 1;

		request(q, 1);
		if (gc_qmp__feed(q, line, n) != -EPROTO)
			test_fail(__FILE__, __LINE__, "line %zu was accepted: %s", i, line);
		ASSERT_EQ(gc_qmp__take_reply(q, NULL), 0);
	}
}

TEST(parse_nesting_bomb)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();
	size_t depth = 100000;
	_cleanup_free_ char *bomb = malloc(depth * 2 + 64);
	char *p = bomb;

	ASSERT_NOT_NULL(bomb);
	p += sprintf(p, "{\"id\": \"gc-1\", \"return\": ");
	memset(p, '[', depth);
	p += depth;
	strcpy(p, "\n");
	request(q, 1);
	ASSERT_ERROR(feed(q, bomb), EPROTO);
}

TEST(parse_line_limit)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = new_greeted();
	_cleanup_(gc_qmp_closep) struct gc_qmp *q2 = new_greeted();
	char line[256];
	json_auto_t *v = NULL;

	/* A line of exactly the limit passes, newline excluded. */
	gc_qmp__set_line_max(q, 64);
	request(q, 1);
	(void)snprintf(line, sizeof(line), "{\"return\": \"%s\", \"id\": \"gc-1\"}\n",
		       "012345678901234567890123456789012345");
	ASSERT_EQ(strlen(line), 65u);
	ASSERT_OK(feed(q, line));
	ASSERT_EQ(gc_qmp__take_reply(q, &v), 1);
	/* One byte more does not, complete or not. */
	request(q, 2);
	ASSERT_ERROR(feed(q, "{\"return\": \"0123456789012345678901234567890123456\", "
			     "\"id\": \"gc-2\"}\n"),
		     EMSGSIZE);
	gc_qmp__set_line_max(q2, 64);
	for (unsigned i = 0; i < 64; i++)
		ASSERT_OK(feed(q2, "x"));
	ASSERT_ERROR(feed(q2, "x"), EMSGSIZE);
	ASSERT_ERROR(feed(q2, "\n"), EMSGSIZE);
}

TEST(parse_info_network)
{
	struct gc_qmp_stats *s = calloc(1, sizeof(*s));
	const char *text =
		"net0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\r\n"
		" \\ n0: index=0,type=tap,ifname=gctap0,script=no,downscript=no\r\n"
		"net0: index=1,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\r\n"
		" \\ n0: index=1,type=tap,ifname=gctap0,script=no,downscript=no\r\n"
		"e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:57\r\n"
		" \\ n1: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
		"lonely: index=0,type=nic,model=rtl8139,macaddr=52:54:00:12:34:58\r\n"
		"n2: index=0,type=socket,\r\n"
		"hub 0\r\n"
		" \\ hub0port0: index=0,type=hubport,\r\n"
		"garbage without a colon\r\n"
		"x: index=99999999999,type=nic,\r\n";

	ASSERT_NOT_NULL(s);
	ASSERT_OK(gc_qmp__parse_info_network(text, s));
	ASSERT_EQ(s->n_nics, 3u);
	ASSERT_STREQ(s->nics[0].name, "net0");
	ASSERT_STREQ(s->nics[0].model, "virtio-net-pci");
	ASSERT_STREQ(s->nics[0].macaddr, "52:54:00:12:34:56");
	ASSERT_STREQ(s->nics[0].peer, "n0");
	ASSERT_STREQ(s->nics[0].peer_type, "tap");
	ASSERT_STREQ(s->nics[0].ifname, "gctap0");
	ASSERT_STREQ(s->nics[1].name, "e1000.0");
	ASSERT_STREQ(s->nics[1].peer_type, "user");
	ASSERT_STREQ(s->nics[1].ifname, "");
	ASSERT_STREQ(s->nics[2].name, "lonely");
	ASSERT_STREQ(s->nics[2].peer, "");
	gc_qmp_stats_free(s);
}

TEST(parse_snapshots)
{
	_cleanup_(gc_qmp_snapshot_list_freep) struct gc_qmp_snapshot_list *l = NULL;
	json_auto_t *nodes = json_loads(
		"[{\"node-name\": \"disk0\", \"image\": {\"snapshots\": [{\"vm-clock-nsec\": 5, "
		"\"name\": \"snap1\", \"date-sec\": 1700000000, \"date-nsec\": 161166000, "
		"\"vm-clock-sec\": 2, \"id\": \"1\", \"vm-state-size\": 951498}]}},"
		" {\"node-name\": \"#block007\", \"image\": {}},"
		" {\"node-name\": \"bad\", \"image\": {\"snapshots\": [{\"id\": \"1\"}]}}]",
		0, NULL);

	ASSERT_NOT_NULL(nodes);
	ASSERT_OK(gc_qmp__parse_snapshots(nodes, "disk0", &l));
	ASSERT_EQ(l->n, 1u);
	ASSERT_STREQ(l->snapshots[0].name, "snap1");
	ASSERT_STREQ(l->snapshots[0].id, "1");
	ASSERT_EQ(l->snapshots[0].vm_state_size, 951498u);
	ASSERT_EQ(l->snapshots[0].date_sec, 1700000000u);
	ASSERT_EQ(l->snapshots[0].vm_clock_ns, 2000000005u);
	l = gc_qmp_snapshot_list_free(l);
	ASSERT_OK(gc_qmp__parse_snapshots(nodes, "#block007", &l));
	ASSERT_EQ(l->n, 0u);
	l = gc_qmp_snapshot_list_free(l);
	ASSERT_ERROR(gc_qmp__parse_snapshots(nodes, "bad", &l), EPROTO);
	ASSERT_ERROR(gc_qmp__parse_snapshots(nodes, "nope", &l), ENOENT);
	ASSERT_NULL(l);
}

/*
 * A scripted fake QEMU: a child process that listens on tmpdir/qmp.sock, accepts one client
 * and plays its steps. RECV reads one line and checks that it runs the command named by
 * text; SEND writes text with "$ID" replaced by the id of the last command read. When the
 * steps are done it reads until the client closes. It exits 0 when the script ran as
 * written, and 2 or more when the client did something else.
 */
enum {
	SEND,
	RECV,
	SLEEP,
	HANGUP,
	SEND_BIG, /* n bytes of 'x', no newline */
};

struct step {
	int op;
	const char *text;
	size_t n;
};

/* clang-format off */
#define END_SCRIPT { .op = -1, .text = NULL, .n = 0 }
#define HANDSHAKE { SEND, GREETING, 0 }, { RECV, "qmp_capabilities", 0 }, { SEND, RETURN_EMPTY, 0 }
/* clang-format on */

struct fake {
	pid_t pid;
	char path[128];
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			_exit(4);
		p += k;
		n -= (size_t)k;
	}
}

static void server_recv(int fd, const char *command, char *id, size_t id_size)
{
	char line[4096];
	size_t n = 0;
	json_t *msg, *jid;
	char *s;

	for (;;) {
		if (n == sizeof(line) - 1 || read(fd, line + n, 1) != 1)
			_exit(5);
		if (line[n++] == '\n')
			break;
	}
	msg = json_loadb(line, n, 0, NULL);
	if (!msg || !streq_ptr(json_string_value(json_object_get(msg, "execute")), command))
		_exit(2);
	jid = json_object_get(msg, "id");
	s = jid ? json_dumps(jid, JSON_ENCODE_ANY) : NULL;
	if (!s || strlen(s) >= id_size)
		_exit(3);
	strcpy(id, s);
	free(s);
	json_decref(msg);
}

static void server_send(int fd, const char *text, const char *id)
{
	const char *p;

	while ((p = strstr(text, "$ID"))) {
		write_all(fd, text, (size_t)(p - text));
		write_all(fd, id, strlen(id));
		text = p + 3;
	}
	write_all(fd, text, strlen(text));
}

_noreturn_ static void server_run(const char *path, const struct step *steps, unsigned delay_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char id[64] = "null", buf[4096];
	int lfd, fd;

	/* Late, and then bound but not listening: the client must retry through both. */
	sleep_ms(delay_ms);
	strcpy(sa.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(6);
	sleep_ms(delay_ms);
	if (listen(lfd, 1) < 0)
		_exit(6);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		_exit(6);
	for (const struct step *s = steps; s->op >= 0; s++) {
		switch (s->op) {
		case SEND:
			server_send(fd, s->text, id);
			break;
		case RECV:
			server_recv(fd, s->text, id, sizeof(id));
			break;
		case SLEEP:
			sleep_ms((unsigned)s->n);
			break;
		case HANGUP:
			_exit(0);
		case SEND_BIG:
			memset(buf, 'x', sizeof(buf));
			for (size_t done = 0; done < s->n; done += sizeof(buf))
				if (send(fd, buf, MIN(sizeof(buf), s->n - done), MSG_NOSIGNAL) < 0)
					_exit(0); /* the client gave up, as it should */
			break;
		}
	}
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

static void fake_start(struct fake *f, const struct step *steps, unsigned delay_ms)
{
	make_tmpdir();
	(void)snprintf(f->path, sizeof(f->path), "%s/qmp.sock", tmpdir);
	f->pid = fork();
	ASSERT_OK_ERRNO(f->pid);
	if (f->pid == 0)
		server_run(f->path, steps, delay_ms);
}

/* Waits for the fake to finish its script (the client closed first) and cleans up. */
static void fake_finish(struct fake *f)
{
	int status;

	ASSERT_EQ(waitpid(f->pid, &status, 0), f->pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	remove_tmpdir();
}

static struct gc_qmp *fake_open(struct fake *f)
{
	struct gc_qmp *q = NULL;

	ASSERT_OK(gc_qmp_open(f->path, 5000, &q));
	return q;
}

TEST(fake_command)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "query-status", 0 },
		{ SEND,
		  "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
		  "\"running\": true}, \"id\": $ID}\r\n",
		  0 },
		{ RECV, "human-monitor-command", 0 },
		{ SEND, "{\"return\": \"line 1\\r\\nline 2\\r\\n\", \"id\": $ID}\r\n", 0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;
	_cleanup_free_ char *status = NULL, *out = NULL;
	bool running = false;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_EQ(gc_qmp_version(q)->major, 7u);
	ASSERT_EQ(gc_qmp_peer_pid(q), f.pid);
	ASSERT_GE(gc_qmp_fd(q), 0);
	ASSERT_OK(gc_qmp_query_status(q, 5000, &status, &running));
	ASSERT_STREQ(status, "running");
	ASSERT_TRUE(running);
	ASSERT_OK(gc_qmp_hmp(q, "info status", 5000, &out));
	ASSERT_STREQ(out, "line 1\nline 2\n");
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_events_before_reply)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "stop", 0 },
		{ SEND,
		  "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"A\"}\r\n"
		  "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 3}, \"event\": \"STOP\"}\r\n"
		  "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 4}, \"event\": \"C\", "
		  "\"data\": {\"x\": 1}}\r\n",
		  0 },
		{ SLEEP, NULL, 50 },
		{ SEND, RETURN_EMPTY, 0 },
		{ SLEEP, NULL, 50 },
		{ SEND, "{\"event\": \"LATE\"}\r\n", 0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;
	json_t *e = NULL;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_OK(gc_qmp_command(q, "stop", NULL, 5000, NULL));
	ASSERT_OK(gc_qmp_wait_event(q, "STOP", 0, &e));
	ASSERT_STREQ(json_string_value(json_object_get(e, "event")), "STOP");
	json_decref(e);
	ASSERT_OK(gc_qmp_next_event(q, 0, &e));
	ASSERT_STREQ(json_string_value(json_object_get(e, "event")), "A");
	json_decref(e);
	ASSERT_OK(gc_qmp_next_event(q, 0, &e));
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(e, "data"), "x")), 1);
	json_decref(e);
	ASSERT_ERROR(gc_qmp_next_event(q, 0, &e), ETIMEDOUT);
	ASSERT_OK(gc_qmp_wait_event(q, "LATE", 5000, NULL));
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_error_reply)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "frobnicate", 0 },
		{ SEND,
		  "{\"id\": $ID, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
		  "\"The command frobnicate has not been found\"}}\r\n",
		  0 },
		{ RECV, "query-status", 0 },
		{ SEND,
		  "{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": $ID}\r\n",
		  0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;
	const struct gc_qmp_error *e;
	bool running = true;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_ERROR(gc_qmp_command(q, "frobnicate", NULL, 5000, NULL), EREMOTEIO);
	e = gc_qmp_last_error(q);
	ASSERT_NOT_NULL(e);
	ASSERT_STREQ(e->class, "CommandNotFound");
	ASSERT_STREQ(e->desc, "The command frobnicate has not been found");
	/* An error reply is an answer, not a broken connection. */
	ASSERT_OK(gc_qmp_query_status(q, 5000, NULL, &running));
	ASSERT_FALSE(running);
	ASSERT_NULL(gc_qmp_last_error(q));
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_garbage_line)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "query-status", 0 },
		{ SEND, "\x01\x02 definitely not JSON }}}\r\n", 0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;
	json_t *e = NULL;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_ERROR(gc_qmp_query_status(q, 5000, NULL, NULL), EPROTO);
	/* Sticky: the stream cannot be trusted any more. */
	ASSERT_ERROR(gc_qmp_query_status(q, 5000, NULL, NULL), EPROTO);
	ASSERT_ERROR(gc_qmp_next_event(q, 0, &e), EPROTO);
	ASSERT_NULL(e);
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_oversize_line)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "query-status", 0 },
		{ SEND_BIG, NULL, GC_QMP_LINE_MAX + 4096 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_ERROR(gc_qmp_command(q, "query-status", NULL, 10000, NULL), EMSGSIZE);
	ASSERT_ERROR(gc_qmp_command(q, "query-status", NULL, 10000, NULL), EMSGSIZE);
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_greeted_twice)
{
	static const struct step steps[] = {
		{ SEND, GREETING, 0 },
		{ RECV, "qmp_capabilities", 0 },
		{ SEND, GREETING RETURN_EMPTY, 0 },
		/* The second greeting reset negotiation, or not: QEMU decides. */
		{ RECV, "qmp_capabilities", 0 },
		{ SEND,
		  "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities "
		  "negotiation is already complete, command ignored\"}, \"id\": $ID}\r\n",
		  0 },
		{ RECV, "query-status", 0 },
		{ SEND,
		  "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": $ID}\r\n",
		  0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_NULL(gc_qmp_last_error(q));
	ASSERT_OK(gc_qmp_query_status(q, 5000, NULL, NULL));
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_greeting_after_negotiation)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "query-status", 0 },
		{ SEND, GREETING, 0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_ERROR(gc_qmp_query_status(q, 5000, NULL, NULL), EPROTO);
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_wrong_id)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "query-status", 0 },
		{ SEND, "{\"return\": {}, \"id\": \"gc-77\"}\r\n", 0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_ERROR(gc_qmp_command(q, "query-status", NULL, 5000, NULL), EPROTO);
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_late_reply)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "slow", 0 },
		{ SLEEP, NULL, 300 },
		{ SEND, RETURN_EMPTY, 0 },
		{ RECV, "fast", 0 },
		{ SEND, "{\"return\": 42, \"id\": $ID}\r\n", 0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;
	json_auto_t *v = NULL;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_ERROR(gc_qmp_command(q, "slow", NULL, 50, NULL), ETIMEDOUT);
	ASSERT_OK(gc_qmp_command(q, "fast", NULL, 5000, &v));
	ASSERT_EQ(json_integer_value(v), 42);
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_eof_mid_reply)
{
	static const struct step steps[] = {
		HANDSHAKE,
		{ RECV, "query-status", 0 },
		{ SEND, "{\"return\": {\"sta", 0 },
		{ HANGUP, NULL, 0 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q;

	fake_start(&f, steps, 0);
	q = fake_open(&f);
	ASSERT_ERROR(gc_qmp_query_status(q, 5000, NULL, NULL), ECONNRESET);
	ASSERT_ERROR(gc_qmp_query_status(q, 5000, NULL, NULL), ECONNRESET);
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(fake_never_greets)
{
	static const struct step steps[] = {
		{ SLEEP, NULL, 2000 },
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q = NULL;
	uint64_t t0;

	fake_start(&f, steps, 0);
	t0 = now_nsec(CLOCK_MONOTONIC);
	ASSERT_ERROR(gc_qmp_open(f.path, 300, &q), ETIMEDOUT);
	ASSERT_NULL(q);
	ASSERT_GE(now_nsec(CLOCK_MONOTONIC) - t0, 300 * NSEC_PER_MSEC);
	ASSERT_OK_ERRNO(kill(f.pid, SIGKILL));
	ASSERT_EQ(waitpid(f.pid, NULL, 0), f.pid);
	remove_tmpdir();
}

TEST(fake_socket_appears_late)
{
	static const struct step steps[] = {
		HANDSHAKE,
		END_SCRIPT,
	};
	struct fake f;
	struct gc_qmp *q = NULL;

	fake_start(&f, steps, 200);
	/* Nothing there yet: without a timeout that is the answer. */
	ASSERT_ERROR(gc_qmp_open(f.path, 0, &q), ENOENT);
	q = fake_open(&f);
	gc_qmp_close(q);
	fake_finish(&f);
}

TEST(open_bad_arguments)
{
	char path[200];
	struct gc_qmp *q = NULL;

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	ASSERT_ERROR(gc_qmp_open(path, 0, &q), ENAMETOOLONG);
	ASSERT_ERROR(gc_qmp_open("", 0, &q), EINVAL);
	ASSERT_ERROR(gc_qmp_open("/nonexistent/qmp.sock", 100, &q), ETIMEDOUT);
	ASSERT_NULL(q);
	ASSERT_NULL(gc_qmp_close(NULL));
}

/* A real QEMU. */

struct qemu {
	pid_t pid;
	char sock[128];
};

/*
 * Starts QEMU in tmpdir (made by the caller) with extra arguments (NULL-terminated) after its
 * QMP socket; SKIPs if it is not installed.
 */
static void qemu_start(struct qemu *qemu, const char *const *extra)
{
	posix_spawn_file_actions_t fa;
	char log[128], qmp[160];
	const char *argv[40];
	size_t n = 0;
	int r;

	(void)snprintf(qemu->sock, sizeof(qemu->sock), "%s/qmp.sock", tmpdir);
	(void)snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", qemu->sock);
	(void)snprintf(log, sizeof(log), "%s/qemu.log", tmpdir);
	argv[n++] = "qemu-system-x86_64";
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-qmp";
	argv[n++] = qmp;
	for (size_t i = 0; extra[i]; i++) {
		ASSERT_LT(n, ELEMENTSOF(argv) - 1);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;

	ASSERT_OK_ZERO(posix_spawn_file_actions_init(&fa));
	ASSERT_OK_ZERO(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0));
	ASSERT_OK_ZERO(posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT, 0600));
	ASSERT_OK_ZERO(posix_spawn_file_actions_adddup2(&fa, 1, 2));
	r = posix_spawnp(&qemu->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	(void)posix_spawn_file_actions_destroy(&fa);
	if (r == ENOENT) {
		remove_tmpdir();
		SKIP_TEST("qemu-system-x86_64 is not installed");
	}
	ASSERT_OK_ZERO(r);
}

/* Waits up to timeout_ms for QEMU to exit, then kills it; true if it exited by itself. */
static bool qemu_reap(struct qemu *qemu, unsigned timeout_ms)
{
	uint64_t deadline = deadline_from_timeout_ms((int)timeout_ms);
	int status;

	for (;;) {
		pid_t p = waitpid(qemu->pid, &status, WNOHANG);

		ASSERT_OK_ERRNO(p);
		if (p == qemu->pid)
			return true;
		if (deadline_passed(deadline))
			break;
		sleep_ms(10);
	}
	(void)kill(qemu->pid, SIGKILL);
	ASSERT_EQ(waitpid(qemu->pid, &status, 0), qemu->pid);
	return false;
}

static void qemu_done(struct qemu *qemu, unsigned timeout_ms)
{
	(void)qemu_reap(qemu, timeout_ms);
	remove_tmpdir();
}

/* Copies a small file to stderr. */
static int copy_to_stderr(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	return 0;
}

/* Opens QMP; if QEMU died instead (a tap it may not create), SKIPs with the reason. */
static struct gc_qmp *qemu_open(struct qemu *qemu, bool skip_if_dead)
{
	struct gc_qmp *q = NULL;
	int r;

	r = gc_qmp_open(qemu->sock, 20000, &q);
	if (r < 0) {
		char log[160];

		(void)snprintf(log, sizeof(log), "%s/qemu.log", tmpdir);
		fprintf(stderr, "gc_qmp_open(%s): %s; QEMU's output:\n", qemu->sock, strerror(-r));
		(void)copy_to_stderr(log);
	}
	if (r < 0 && skip_if_dead && qemu_reap(qemu, 1000)) {
		remove_tmpdir();
		SKIP_TEST("QEMU could not start with a tap netdev (no /dev/net/tun or no root?)");
	}
	ASSERT_OK(r);
	return q;
}

TEST(qemu_basics)
{
	static const char *const extra[] = { "-machine", "none", NULL };
	struct qemu qemu;
	struct gc_qmp *q;
	_cleanup_free_ char *status = NULL, *out = NULL;
	json_auto_t *v = NULL;
	bool running = false;

	make_tmpdir();
	qemu_start(&qemu, extra);
	q = qemu_open(&qemu, false);
	ASSERT_GE(gc_qmp_version(q)->major, 6u);
	ASSERT_EQ(gc_qmp_peer_pid(q), qemu.pid);

	ASSERT_OK(gc_qmp_command(q, "query-version", NULL, 5000, &v));
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(v, "qemu"), "major")),
		  (json_int_t)gc_qmp_version(q)->major);
	ASSERT_OK(gc_qmp_query_status(q, 5000, &status, &running));
	ASSERT_STREQ(status, "running");
	ASSERT_TRUE(running);

	ASSERT_OK(gc_qmp_command(q, "stop", NULL, 5000, NULL));
	ASSERT_OK(gc_qmp_wait_event(q, "STOP", 5000, NULL));
	ASSERT_OK(gc_qmp_query_status(q, 5000, NULL, &running));
	ASSERT_FALSE(running);
	ASSERT_OK(gc_qmp_command(q, "cont", NULL, 5000, NULL));
	ASSERT_OK(gc_qmp_wait_event(q, "RESUME", 5000, NULL));

	ASSERT_OK(gc_qmp_hmp(q, "info status", 5000, &out));
	ASSERT_STREQ(out, "VM status: running\n");

	ASSERT_ERROR(gc_qmp_command(q, "no-such-command", NULL, 5000, NULL), EREMOTEIO);
	ASSERT_STREQ(gc_qmp_last_error(q)->class, "CommandNotFound");
	ASSERT_NOT_NULL(strstr(gc_qmp_last_error(q)->desc, "no-such-command"));

	ASSERT_OK(gc_qmp_quit(q, 5000));
	ASSERT_OK(gc_qmp_wait_event(q, "SHUTDOWN", 0, NULL));
	ASSERT_ERROR(gc_qmp_command(q, "query-status", NULL, 5000, NULL), ECONNRESET);
	gc_qmp_close(q);
	ASSERT_TRUE(qemu_reap(&qemu, 5000));
	remove_tmpdir();
}

TEST(qemu_shutdown_forced)
{
	static const char *const extra[] = { "-machine", "none", NULL };
	struct qemu qemu;
	struct gc_qmp *q;

	make_tmpdir();
	qemu_start(&qemu, extra);
	q = qemu_open(&qemu, false);
	/* No guest to heed the ACPI button: quit after the timeout. */
	ASSERT_EQ(gc_qmp_shutdown(q, 200), 1);
	ASSERT_OK(gc_qmp_wait_event(q, "POWERDOWN", 0, NULL));
	gc_qmp_close(q);
	ASSERT_TRUE(qemu_reap(&qemu, 5000));
	remove_tmpdir();
}

/* -machine pc, paused before the first instruction, with a qcow2 disk on virtio-blk. */
static void qemu_start_pc(struct qemu *qemu, const char *netdev)
{
	char disk[128], drive[200];
	const char *img[] = { "qemu-img", "create", "-q", "-f", "qcow2", disk, "16M", NULL };
	/* clang-format off */
	const char *extra[] = {
		"-machine", "pc", "-accel", "tcg", "-S", "-m", "64",
		"-drive", drive, "-device", "virtio-blk-pci,drive=d0",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,id=nic0",
		NULL,
	};
	/* clang-format on */
	pid_t pid;
	int status;

	make_tmpdir();
	(void)snprintf(disk, sizeof(disk), "%s/d.qcow2", tmpdir);
	(void)snprintf(drive, sizeof(drive), "file=%s,if=none,id=d0,node-name=disk0", disk);
	if (posix_spawnp(&pid, img[0], NULL, NULL, (char *const *)img, environ) != 0) {
		remove_tmpdir();
		SKIP_TEST("qemu-img is not installed");
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	qemu_start(qemu, extra);
}

TEST(qemu_stats)
{
	struct qemu qemu;
	_cleanup_(gc_qmp_stats_freep) struct gc_qmp_stats *s = NULL;
	struct gc_qmp *q;

	qemu_start_pc(&qemu, "user,id=n0");
	q = qemu_open(&qemu, false);
	ASSERT_OK(gc_qmp_query_stats(q, 5000, &s));
	ASSERT_EQ(s->n_vcpus, 1u);
	ASSERT_EQ(s->vcpus[0].cpu_index, 0);
	ASSERT_GT(s->vcpus[0].thread_id, 0);
	/* Kernels without CONFIG_SCHED_INFO have no schedstat to read it from. */
	if (access("/proc/self/schedstat", F_OK) == 0)
		ASSERT_TRUE(s->vcpus[0].has_cpu_time);
	ASSERT_EQ(s->memory_base, 64u << 20);
	ASSERT_FALSE(s->has_balloon);
	ASSERT_EQ(s->n_blocks, 1u);
	ASSERT_STREQ(s->blocks[0].device, "d0");
	ASSERT_STREQ(s->blocks[0].node_name, "disk0");
	ASSERT_EQ(s->n_nics, 1u);
	ASSERT_STREQ(s->nics[0].name, "nic0");
	ASSERT_STREQ(s->nics[0].model, "virtio-net-pci");
	ASSERT_STREQ(s->nics[0].peer, "n0");
	ASSERT_STREQ(s->nics[0].peer_type, "user");
	ASSERT_FALSE(s->nics[0].has_counters);
	ASSERT_OK(gc_qmp_quit(q, 5000));
	gc_qmp_close(q);
	qemu_done(&qemu, 5000);
}

TEST(qemu_tap_counters)
{
	_cleanup_(gc_qmp_stats_freep) struct gc_qmp_stats *s = NULL;
	struct qemu qemu;
	struct gc_qmp *q;
	char netdev[96], ifname[16], path[96];
	uint64_t host_rx;

	(void)snprintf(ifname, sizeof(ifname), "gcq%u", (unsigned)getpid() % 100000u);
	(void)snprintf(netdev, sizeof(netdev), "tap,id=n0,ifname=%s,script=no,downscript=no",
		       ifname);
	qemu_start_pc(&qemu, netdev);
	q = qemu_open(&qemu, true);
	ASSERT_OK(gc_qmp_query_stats(q, 5000, &s));
	ASSERT_EQ(s->n_nics, 1u);
	ASSERT_STREQ(s->nics[0].peer_type, "tap");
	ASSERT_STREQ(s->nics[0].ifname, ifname);
	ASSERT_TRUE(s->nics[0].has_counters);
	/* The guest's tx is the tap's rx. */
	(void)snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/rx_bytes", ifname);
	{
		_cleanup_fclose_ FILE *f = fopen(path, "re");

		ASSERT_NOT_NULL(f);
		ASSERT_EQ(fscanf(f, "%" SCNu64, &host_rx), 1);
	}
	ASSERT_EQ(s->nics[0].tx_bytes, host_rx);
	ASSERT_OK(gc_qmp_quit(q, 5000));
	gc_qmp_close(q);
	qemu_done(&qemu, 5000);
}

TEST(qemu_snapshots)
{
	_cleanup_(gc_qmp_snapshot_list_freep) struct gc_qmp_snapshot_list *l = NULL;
	static const char *const nodes[] = { "disk0", NULL };
	struct qemu qemu;
	struct gc_qmp *q;
	json_t *e = NULL;

	qemu_start_pc(&qemu, "user,id=n0");
	q = qemu_open(&qemu, false);

	ASSERT_OK(gc_qmp_snapshot_list(q, "disk0", 5000, &l));
	ASSERT_EQ(l->n, 0u);
	l = gc_qmp_snapshot_list_free(l);
	ASSERT_ERROR(gc_qmp_snapshot_list(q, "nope", 5000, &l), ENOENT);

	ASSERT_OK(gc_qmp_snapshot_save(q, "s1", "disk0", NULL, 20000));
	ASSERT_OK(gc_qmp_snapshot_list(q, "disk0", 5000, &l));
	ASSERT_EQ(l->n, 1u);
	ASSERT_STREQ(l->snapshots[0].name, "s1");
	ASSERT_GT(l->snapshots[0].vm_state_size, 0u);
	l = gc_qmp_snapshot_list_free(l);

	/* QEMU's own words come back from a failed job. */
	ASSERT_ERROR(gc_qmp_snapshot_save(q, "s1", "disk0", nodes, 20000), EREMOTEIO);
	ASSERT_STREQ(gc_qmp_last_error(q)->class, "JobFailed");
	ASSERT_NOT_NULL(strstr(gc_qmp_last_error(q)->desc, "s1"));
	ASSERT_ERROR(gc_qmp_snapshot_load(q, "nope", "disk0", nodes, 20000), EREMOTEIO);
	ASSERT_ERROR(gc_qmp_snapshot_save(q, "s2", "nope", NULL, 20000), EREMOTEIO);

	ASSERT_OK(gc_qmp_snapshot_load(q, "s1", "disk0", nodes, 20000));
	ASSERT_OK(gc_qmp_snapshot_delete(q, "s1", nodes, 20000));
	ASSERT_OK(gc_qmp_snapshot_list(q, "disk0", 5000, &l));
	ASSERT_EQ(l->n, 0u);
	/* The jobs' events were consumed; none of them is left to confuse the caller. */
	while (gc_qmp_next_event(q, 0, &e) >= 0) {
		ASSERT_FALSE(
			streq(json_string_value(json_object_get(e, "event")), "JOB_STATUS_CHANGE"));
		json_decref(e);
	}

	ASSERT_OK(gc_qmp_quit(q, 5000));
	gc_qmp_close(q);
	qemu_done(&qemu, 5000);
}

DEFINE_TEST_MAIN();
