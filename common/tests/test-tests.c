/* SPDX-License-Identifier: MIT */
/*
 * Tests of the harness itself: runs harness-sample (path in $HARNESS_SAMPLE), whose tests
 * fail on purpose, and checks what it reports.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/tests.h"

/* Run the sample with args, stdout and stderr together into out; returns the exit status. */
static int run_sample(char *out, size_t size, const char *timeout, const char *const *args)
{
	const char *sample = getenv("HARNESS_SAMPLE");
	char *argv[16] = { (char *)"harness-sample" };
	size_t n = 0, len = 1;
	int pipefd[2], status;
	pid_t pid;

	if (!sample)
		ERROR_TEST("$HARNESS_SAMPLE is not set");
	for (size_t i = 0; args[i]; i++)
		argv[len++] = (char *)args[i];

	ASSERT_OK_ERRNO(pipe2(pipefd, O_CLOEXEC));
	pid = fork();
	ASSERT_OK_ERRNO(pid);
	if (pid == 0) {
		(void)dup2(pipefd[1], STDOUT_FILENO);
		(void)dup2(pipefd[1], STDERR_FILENO);
		(void)setenv("TEST_TIMEOUT_SEC", timeout, 1);
		execv(sample, argv);
		_exit(127);
	}
	pipefd[1] = safe_close(pipefd[1]);
	for (;;) {
		ssize_t k = read(pipefd[0], out + n, size - 1 - n);

		ASSERT_OK_ERRNO(k);
		if (k == 0)
			break;
		n += (size_t)k;
	}
	out[n] = '\0';
	pipefd[0] = safe_close(pipefd[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void expect(const char *out, const char *line)
{
	if (!strstr(out, line)) {
		(void)fprintf(stderr, "Output of harness-sample:\n%s", out);
		test_fail(__FILE__, __LINE__, "missing \"%s\" in the output", line);
	}
}

TEST(reports_everything)
{
	static const char *const args[] = { NULL };
	char out[16384];

	ASSERT_EQ(run_sample(out, sizeof(out), "1", args), 1);

	expect(out, "PASS passes (");
	expect(out, "FAIL eq_fails: ");
	expect(out, "harness-sample.c:");
	expect(out, "ASSERT_EQ(three, 4) failed: left 3, right 4\n");
	expect(out, "ASSERT_EQ(-1, UINT_MAX) failed: left -1, right 4294967295 (0xffffffff)\n");
	expect(out, "ASSERT_LT(UINT64_MAX, -5) failed: left 18446744073709551615 "
		    "(0xffffffffffffffff), right -5\n");
	expect(out, "ASSERT_OK(-EINVAL) failed: -22 (EINVAL: Invalid argument)\n");
	expect(out, "ASSERT_ERROR(-ENOENT, EINVAL) failed: got -2 (ENOENT: No such file or "
		    "directory), expected -22 (EINVAL: Invalid argument)\n");
	expect(out, "ASSERT_STREQ(\"abc\", \"abd\") failed: left \"abc\", right \"abd\"\n");
	expect(out, "failed: first difference at offset 3: left 0x64, right 0x58\n");
	expect(out, "FAIL null_fails: ");
	expect(out, "ASSERT_NOT_NULL(NULL) failed\n");
	expect(out, "FAIL crashes: killed by signal SIGABRT\n");
	expect(out, "FAIL hangs: timed out after 1 s\n");
	expect(out, "SKIP skips: no widget here\n");
	expect(out, "ERROR errors: environment is broken\n");
	expect(out, "FAIL exits_nonzero: exited with status 3\n");

	/* The summary is the last line. */
	ASSERT_STREQ(strstr(out, "# harness-sample:"),
		     "# harness-sample: 1 passed, 11 failed, 1 skipped, 1 errors\n");
}

TEST(subset_list_and_skips)
{
	static const char *const pass_only[] = { "passes", NULL };
	static const char *const glob[] = { "s*", NULL };
	static const char *const skip_only[] = { "skips", NULL };
	static const char *const list[] = { "--list", "*_fails", NULL };
	static const char *const nothing[] = { "no_such_test", NULL };
	char out[16384];

	ASSERT_EQ(run_sample(out, sizeof(out), "5", pass_only), 0);
	ASSERT_STREQ(strstr(out, "# "),
		     "# harness-sample: 1 passed, 0 failed, 0 skipped, 0 errors\n");

	ASSERT_EQ(run_sample(out, sizeof(out), "5", glob), 1);
	ASSERT_STREQ(strstr(out, "# "),
		     "# harness-sample: 0 passed, 2 failed, 1 skipped, 0 errors\n");

	ASSERT_EQ(run_sample(out, sizeof(out), "5", skip_only), 77);

	ASSERT_EQ(run_sample(out, sizeof(out), "5", list), 0);
	ASSERT_STREQ(out, "eq_fails\nsigned_unsigned_fails\nlt_fails\nok_fails\nerror_fails\n"
			  "streq_fails\nmemeq_fails\nnull_fails\n");

	ASSERT_EQ(run_sample(out, sizeof(out), "5", nothing), 1);
}

TEST(values)
{
	struct test_value a = TEST_VALUE(-1), b = TEST_VALUE(0u), p = TEST_VALUE((void *)NULL);
	char buf[64];

	ASSERT_LT(test_value_cmp(&a, &b), 0);
	ASSERT_GT(test_value_cmp(&b, &a), 0);
	ASSERT_EQ(test_value_cmp(&p, &b), 0);
	ASSERT_STREQ(test_value_format(&a, buf, sizeof(buf)), "-1");
	ASSERT_EQ(TEST_VALUE((char)'a').kind, TEST_VALUE_SIGNED);
	ASSERT_EQ(TEST_VALUE((unsigned char)200).kind, TEST_VALUE_UNSIGNED);
	ASSERT_EQ(TEST_VALUE(1.5f).kind, TEST_VALUE_DOUBLE);
	ASSERT_EQ(TEST_VALUE("x").kind, TEST_VALUE_POINTER);
}

DEFINE_TEST_MAIN();
