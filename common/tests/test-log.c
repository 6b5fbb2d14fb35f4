/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/string-util.h"
#include "common/tests.h"

/* Point stderr at a memfd; each test runs in its own child, so nothing needs restoring. */
static int capture_stderr(void)
{
	int fd = memfd_create("stderr", MFD_CLOEXEC);

	if (fd < 0)
		ERROR_TEST("memfd_create: %m");
	if (dup2(fd, STDERR_FILENO) < 0)
		ERROR_TEST("dup2: %m");
	return fd;
}

static char *captured(int fd, char *buf, size_t size)
{
	ssize_t n;

	n = pread(fd, buf, size - 1, 0);
	ASSERT_OK_ERRNO(n);
	buf[n] = '\0';
	return buf;
}

TEST(level_names)
{
	ASSERT_EQ(log_level_from_string("error"), LOG_ERR);
	ASSERT_EQ(log_level_from_string("err"), LOG_ERR);
	ASSERT_EQ(log_level_from_string("warning"), LOG_WARNING);
	ASSERT_EQ(log_level_from_string("warn"), LOG_WARNING);
	ASSERT_EQ(log_level_from_string("info"), LOG_INFO);
	ASSERT_EQ(log_level_from_string("debug"), LOG_DEBUG);
	ASSERT_EQ(log_level_from_string("7"), LOG_DEBUG);
	ASSERT_EQ(log_level_from_string("0"), LOG_EMERG);
	ASSERT_ERROR(log_level_from_string("8"), EINVAL);
	ASSERT_ERROR(log_level_from_string("-1"), EINVAL);
	ASSERT_ERROR(log_level_from_string("verbose"), EINVAL);
	ASSERT_ERROR(log_level_from_string(""), EINVAL);
	ASSERT_ERROR(log_level_from_string(NULL), EINVAL);
	ASSERT_STREQ(log_level_to_string(LOG_ERR), "error");
	ASSERT_STREQ(log_level_to_string(LOG_WARNING), "warning");
	ASSERT_STREQ(log_level_to_string(LOG_INFO), "info");
	ASSERT_STREQ(log_level_to_string(LOG_DEBUG), "debug");
	ASSERT_NULL(log_level_to_string(8));
	ASSERT_NULL(log_level_to_string(-1));
}

TEST(max_level)
{
	ASSERT_EQ(log_get_max_level(), LOG_INFO);
	log_set_max_level(LOG_DEBUG);
	ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
	log_set_max_level(100);
	ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
	ASSERT_OK(log_parse_argv_level("warning"));
	ASSERT_EQ(log_get_max_level(), LOG_WARNING);
}

TEST(setup_from_env)
{
	char buf[512];
	int fd = capture_stderr();

	ASSERT_OK_ERRNO(unsetenv("TEST_LOG_LEVEL"));
	ASSERT_OK_ZERO(log_setup_from_env("TEST_LOG_LEVEL"));
	ASSERT_OK_ERRNO(setenv("TEST_LOG_LEVEL", "debug", 1));
	ASSERT_EQ(log_setup_from_env("TEST_LOG_LEVEL"), 1);
	ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
	ASSERT_OK_ERRNO(setenv("TEST_LOG_LEVEL", "loud", 1));
	ASSERT_ERROR(log_setup_from_env("TEST_LOG_LEVEL"), EINVAL);
	ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
	ASSERT_NOT_NULL(
		strstr(captured(fd, buf, sizeof(buf)), "Invalid TEST_LOG_LEVEL='loud', ignoring."));

	ASSERT_ERROR(log_parse_argv_level("bogus"), EINVAL);
	ASSERT_NOT_NULL(strstr(captured(fd, buf, sizeof(buf)), "invalid level 'bogus'"));
}

TEST(format_and_errno)
{
	char buf[1024], expect[256];
	int fd = capture_stderr();

	log_set_color(0);
	errno = 0;
	ASSERT_ERROR(log_error_errno(-ENOENT, "Failed to open '%s': %m", "x"), ENOENT);
	ASSERT_ERROR(log_warning_errno(EACCES, "positive %d: %m", 7), EACCES);
	ASSERT_EQ(errno, 0);
	ASSERT_OK_ZERO(log_full_errno(LOG_INFO, 0, "plain info"));
	log_info("hello %s", "world");
	log_error("no errno here");

	(void)snprintf(expect, sizeof(expect),
		       "%s: Failed to open 'x': No such file or directory\n"
		       "%s: positive 7: Permission denied\n"
		       "%s: plain info\n"
		       "%s: hello world\n"
		       "%s: no errno here\n",
		       program_invocation_short_name, program_invocation_short_name,
		       program_invocation_short_name, program_invocation_short_name,
		       program_invocation_short_name);
	ASSERT_STREQ(captured(fd, buf, sizeof(buf)), expect);
}

static int side_effects;

static const char *count(void)
{
	side_effects++;
	return "x";
}

TEST(level_checked_before_formatting)
{
	char buf[512];
	int fd = capture_stderr();

	log_set_max_level(LOG_WARNING);
	log_info("%s", count());
	log_debug("%s", count());
	/* Filtered events still return the error, so `return log_debug_errno(r, ...)` works. */
	ASSERT_ERROR(log_debug_errno(EIO, "%s", count()), EIO);
	ASSERT_ERROR(log_info_errno(-EIO, "%s", count()), EIO);
	ASSERT_EQ(side_effects, 0);
	log_warning("%s", count());
	ASSERT_EQ(side_effects, 1);
	log_set_max_level(LOG_ERR);
	log_warning("dropped");
	ASSERT_STREQ(startswith(captured(fd, buf, sizeof(buf)), program_invocation_short_name),
		     ": x\n");
}

TEST(debug_and_color)
{
	char buf[1024];
	int fd = capture_stderr();

	log_set_max_level(LOG_DEBUG);
	log_set_color(1);
	log_error("red");
	log_debug("grey");
	log_info("plain");
	captured(fd, buf, sizeof(buf));
	ASSERT_NOT_NULL(strstr(buf, "\033[31;1mred\033[0m\n"));
	ASSERT_NOT_NULL(strstr(buf, "\033[90mgrey (test-log.c:"));
	ASSERT_NOT_NULL(strstr(buf, ": plain\n"));
	/* One line per event. */
	ASSERT_NOT_NULL(strchr(buf, '\n'));
	ASSERT_NULL(strchr(strchr(strchr(strchr(buf, '\n') + 1, '\n') + 1, '\n') + 1, '\n'));
}

static void *log_lines(void *arg)
{
	for (int i = 0; i < 200; i++)
		log_info("thread %d line %d of a message long enough to be worth splitting",
			 *(int *)arg, i);
	return NULL;
}

TEST(threads_get_whole_lines)
{
	static char buf[256 * 1024];
	int fd = capture_stderr(), ids[4];
	pthread_t threads[4];
	size_t lines = 0;

	for (int i = 0; i < 4; i++) {
		ids[i] = i;
		ASSERT_OK_ZERO(pthread_create(&threads[i], NULL, log_lines, &ids[i]));
	}
	for (int i = 0; i < 4; i++)
		ASSERT_OK_ZERO(pthread_join(threads[i], NULL));

	captured(fd, buf, sizeof(buf));
	for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		ASSERT_NOT_NULL(startswith(p, program_invocation_short_name));
		ASSERT_NOT_NULL(strstr(p, "worth splitting\n"));
		lines++;
	}
	ASSERT_EQ(lines, 800u);
}

DEFINE_TEST_MAIN();
