/* SPDX-License-Identifier: MIT */
/* The log sink: libpsyne writes nothing by itself and hands its messages to the application. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tests.h"
#include "psyne.h"

/* Each fails in a different place: the URI parser, a transport's options, a resolver. */
static const char *const bad_uris[] = {
	"tcp://no-such-host.invalid:1",
	"tls://127.0.0.1:1?psk=0011",
	"udp://127.0.0.1:1?max_msg=0",
	"unix://",
	"tcp://127.0.0.1:1?heartbeat=1",
	"tls://127.0.0.1:1?cert=/nonexistent",
	"ipc://a/b",
	"ipc://x?mode=fifo",
	"memory://x?capacity=12Q",
	"ipc://x?frobnicate=1",
	"nope://x",
	"ipc:/x",
};

struct capture {
	unsigned n;
	int level[16];
	char text[16][1024];
};

static void capture_func(int level, const char *message, void *userdata)
{
	struct capture *c = userdata;

	if (c->n < 16) {
		c->level[c->n] = level;
		snprintf(c->text[c->n], sizeof(c->text[c->n]), "%s", message);
	}
	c->n++;
}

/* Points stderr at a fresh temporary file and returns its fd, to read back later. */
static int redirect_stderr(void)
{
	char path[] = "/tmp/psyne-test-log-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -errno;
	(void)unlink(path);
	fflush(stderr);
	if (dup2(fd, STDERR_FILENO) < 0)
		return -errno;
	return fd;
}

static off_t written(int fd)
{
	struct stat st;

	fflush(stderr);
	return fstat(fd, &st) < 0 ? -1 : st.st_size;
}

TEST(failed_opens_write_nothing_by_default)
{
	struct psyne_channel *ch;
	int fd;

	ASSERT_OK(fd = redirect_stderr());
	for (size_t i = 0; i < ELEMENTSOF(bad_uris); i++)
		ASSERT_LT(psyne_open(bad_uris[i], &ch), 0);
	ASSERT_EQ(written(fd), 0);
}

TEST(failed_opens_say_why_to_the_sink)
{
	struct capture cap = { 0 };
	struct psyne_channel *ch;
	int fd;

	ASSERT_OK(fd = redirect_stderr());
	psyne_set_log_func(capture_func, PSYNE_LOG_DEBUG, &cap);
	for (size_t i = 0; i < ELEMENTSOF(bad_uris); i++) {
		unsigned before = cap.n;

		ASSERT_LT(psyne_open(bad_uris[i], &ch), 0);
		/* At least one error line, naming the reason, and no prefix or newline. */
		ASSERT_GT(cap.n, before);
		ASSERT_EQ(cap.level[before], PSYNE_LOG_ERR);
		ASSERT_NE(strncmp(cap.text[before], "psyne:", 6), 0);
		ASSERT_NULL(strchr(cap.text[before], '\n'));
		ASSERT_GT(strlen(cap.text[before]), 5u);
	}
	ASSERT_EQ(written(fd), 0);
}

TEST(levels_above_the_maximum_are_dropped)
{
	struct capture cap = { 0 };
	struct psyne_channel *ch;

	psyne_set_log_func(capture_func, PSYNE_LOG_ERR - 1, &cap);
	ASSERT_LT(psyne_open("tls://127.0.0.1:1?psk=0011", &ch), 0);
	ASSERT_EQ(cap.n, 0u);

	psyne_set_log_func(capture_func, PSYNE_LOG_ERR, &cap);
	ASSERT_LT(psyne_open("tls://127.0.0.1:1?psk=0011", &ch), 0);
	ASSERT_EQ(cap.n, 1u);

	/* NULL silences again, whatever the level. */
	psyne_set_log_func(NULL, PSYNE_LOG_DEBUG, &cap);
	ASSERT_LT(psyne_open("tls://127.0.0.1:1?psk=0011", &ch), 0);
	ASSERT_EQ(cap.n, 1u);
}

/* The message says what the user needs to put right, not only that something failed. */
TEST(messages_name_the_cause)
{
	struct capture cap = { 0 };
	struct psyne_channel *a = NULL, *b = NULL;
	char uri[128], other[128];

	psyne_set_log_func(capture_func, PSYNE_LOG_ERR, &cap);
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?cert=/nonexistent.crt&key=/nonexistent.key", &a),
		     EINVAL);
	ASSERT_EQ(cap.n, 1u);
	ASSERT_NOT_NULL(strstr(cap.text[0], "/nonexistent.crt: No such file or directory"));

	snprintf(uri, sizeof(uri), "ipc://log%d?mode=spmc&capacity=16K", (int)getpid());
	snprintf(other, sizeof(other), "ipc://log%d?mode=mpmc", (int)getpid());
	ASSERT_OK(psyne_open(uri, &a));
	ASSERT_ERROR(psyne_open(other, &b), EEXIST);
	ASSERT_EQ(cap.n, 2u);
	ASSERT_NOT_NULL(strstr(cap.text[1], "exists with mode=spmc and capacity=16384; asked for "
					    "mode=mpmc and capacity=16384"));
	psyne_close(a);
}

DEFINE_TEST_MAIN();
