/* SPDX-License-Identifier: MIT */
#include <fnmatch.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/string-util.h"
#include "common/tests.h"
#include "common/time-util.h"

/* What a child reports to the runner, in a page shared across fork(). */
struct verdict {
	int result;
	char reason[512];
};

static struct test *tests;
static struct verdict *verdict;
static bool forked;

void test_register(struct test *t)
{
	t->next = tests;
	tests = t;
}

void test_exit(int result, const char *format, ...)
{
	va_list ap;

	if (verdict) {
		verdict->result = result;
		va_start(ap, format);
		(void)vsnprintf(verdict->reason, sizeof(verdict->reason), format, ap);
		va_end(ap);
	}
	if (!forked)
		(void)fprintf(stderr, "%s\n", verdict ? verdict->reason : format);
	(void)fflush(stdout);
	(void)fflush(stderr);
	/* _exit(): a failed or skipped test need not clean up, and leak reports would bury the
	 * reason. Only a passing test goes through exit(), and so through LeakSanitizer. */
	_exit(result == TEST_SKIP ? 77 : result == TEST_ERROR ? 99 : 1);
}

void test_fail(const char *file, int line, const char *format, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, format);
	(void)vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	test_exit(TEST_FAIL, "%s:%d: %s", file, line, msg);
}

struct test_value test_value_signed(intmax_t v)
{
	return (struct test_value){ .kind = TEST_VALUE_SIGNED, .i = v };
}

struct test_value test_value_unsigned(uintmax_t v)
{
	return (struct test_value){ .kind = TEST_VALUE_UNSIGNED, .u = v };
}

struct test_value test_value_double(long double v)
{
	return (struct test_value){ .kind = TEST_VALUE_DOUBLE, .d = v };
}

struct test_value test_value_pointer(const volatile void *v)
{
	return (struct test_value){ .kind = TEST_VALUE_POINTER, .p = (const void *)v };
}

static long double as_long_double(const struct test_value *v)
{
	if (v->kind == TEST_VALUE_DOUBLE)
		return v->d;
	if (v->kind == TEST_VALUE_SIGNED)
		return (long double)v->i;
	return (long double)v->u;
}

/* Only for non-negative values; pointers compare by address. */
static uintmax_t as_unsigned(const struct test_value *v)
{
	if (v->kind == TEST_VALUE_SIGNED)
		return (uintmax_t)v->i;
	if (v->kind == TEST_VALUE_POINTER)
		return (uintptr_t)v->p;
	return v->u;
}

int test_value_cmp(const struct test_value *a, const struct test_value *b)
{
	if (a->kind == TEST_VALUE_DOUBLE || b->kind == TEST_VALUE_DOUBLE) {
		long double x = as_long_double(a), y = as_long_double(b);

		return (x > y) - (x < y);
	}
	if (a->kind == TEST_VALUE_SIGNED && b->kind == TEST_VALUE_SIGNED)
		return (a->i > b->i) - (a->i < b->i);
	if (a->kind == TEST_VALUE_SIGNED && a->i < 0)
		return -1;
	if (b->kind == TEST_VALUE_SIGNED && b->i < 0)
		return 1;
	return (as_unsigned(a) > as_unsigned(b)) - (as_unsigned(a) < as_unsigned(b));
}

char *test_value_format(const struct test_value *v, char *buf, size_t size)
{
	switch (v->kind) {
	case TEST_VALUE_SIGNED:
		(void)snprintf(buf, size, "%jd", v->i);
		break;
	case TEST_VALUE_UNSIGNED:
		if (v->u > 0xffff)
			(void)snprintf(buf, size, "%ju (0x%jx)", v->u, v->u);
		else
			(void)snprintf(buf, size, "%ju", v->u);
		break;
	case TEST_VALUE_DOUBLE:
		(void)snprintf(buf, size, "%Lg", v->d);
		break;
	default:
		(void)snprintf(buf, size, "%p", v->p);
	}
	return buf;
}

void test_cmp_failed(const char *file, int line, const char *macro, const char *expr_a,
		     const char *expr_b, const struct test_value *a, const struct test_value *b)
{
	char x[64], y[64];

	test_fail(file, line, "%s(%s, %s) failed: left %s, right %s", macro, expr_a, expr_b,
		  test_value_format(a, x, sizeof(x)), test_value_format(b, y, sizeof(y)));
}

static const char *errno_text(int error, char *buf, size_t size)
{
	const char *name = strerrorname_np(error);

	(void)snprintf(buf, size, "%s: %s", name ? name : "?", strerror(error));
	return buf;
}

void test_ok_failed(const char *file, int line, const char *macro, const char *expr, intmax_t r,
		    int error)
{
	char e[128];

	if (error == 0 && r < 0 && r >= -4095)
		error = (int)-r;
	if (error > 0)
		test_fail(file, line, "%s(%s) failed: %jd (%s)", macro, expr, r,
			  errno_text(error, e, sizeof(e)));
	test_fail(file, line, "%s(%s) failed: %jd", macro, expr, r);
}

void test_error_failed(const char *file, int line, const char *macro, const char *expr, intmax_t r,
		       int error, int expected)
{
	const char *name = strerrorname_np(expected);
	char e[128], g[128] = "";

	if (error > 0)
		errno_text(error, g, sizeof(g));
	else if (r < 0 && r >= -INT32_MAX)
		errno_text((int)-r, g, sizeof(g));
	test_fail(file, line, "%s(%s, %s) failed: got %jd%s%s%s, expected -%d (%s)", macro, expr,
		  name ? name : "?", r, g[0] ? " (" : "", g, g[0] ? ")" : "", expected,
		  errno_text(expected, e, sizeof(e)));
}

void test_streq_check(const char *file, int line, const char *expr_a, const char *expr_b,
		      const char *a, const char *b)
{
	if (streq_ptr(a, b))
		return;
	test_fail(file, line, "ASSERT_STREQ(%s, %s) failed: left %s%s%s, right %s%s%s", expr_a,
		  expr_b, a ? "\"" : "", a ? a : "NULL", a ? "\"" : "", b ? "\"" : "",
		  b ? b : "NULL", b ? "\"" : "");
}

void test_memeq_check(const char *file, int line, const char *expr_a, const char *expr_b,
		      const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			test_fail(file, line,
				  "ASSERT_MEMEQ(%s, %s, %zu) failed: first difference at offset "
				  "%zu: left 0x%02x, right 0x%02x",
				  expr_a, expr_b, n, i, x[i], y[i]);
}

static int run_one(const struct test *t, bool fork_tests, unsigned timeout_sec, char *why,
		   size_t size)
{
	sigset_t mask, old;
	uint64_t deadline;
	pid_t pid, parent = getpid();
	int status;

	verdict->result = TEST_PASS;
	verdict->reason[0] = '\0';
	if (!fork_tests) {
		t->func();
		return TEST_PASS;
	}

	/* Wait for the child with sigtimedwait(SIGCHLD): block it before the child can exit. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	(void)fflush(NULL);
	deadline = now_nsec(CLOCK_MONOTONIC) + timeout_sec * NSEC_PER_SEC;

	pid = fork();
	if (pid < 0) {
		(void)snprintf(why, size, "fork: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		return TEST_ERROR;
	}
	if (pid == 0) {
		/* Own process group, so that a timeout kills what the test started too. */
		(void)setpgid(0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		sigprocmask(SIG_SETMASK, &old, NULL);
		forked = true;
		t->func();
		(void)fflush(NULL);
		exit(EXIT_SUCCESS);
	}

	for (;;) {
		struct timespec ts;
		uint64_t now;

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		now = now_nsec(CLOCK_MONOTONIC);
		if (now >= deadline) {
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			sigprocmask(SIG_SETMASK, &old, NULL);
			(void)snprintf(why, size, "timed out after %u s", timeout_sec);
			return TEST_FAIL;
		}
		ts = timespec_from_nsec(MIN(deadline - now, 100 * NSEC_PER_MSEC));
		(void)sigtimedwait(&mask, NULL, &ts);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* Leftovers of the test's process group would outlive it otherwise. */
	(void)kill(-pid, SIGKILL);

	if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));

		(void)snprintf(why, size, "killed by signal SIG%s", name ? name : "?");
		return TEST_FAIL;
	}
	if (verdict->result != TEST_PASS) {
		(void)snprintf(why, size, "%s", verdict->reason);
		return verdict->result;
	}
	if (WEXITSTATUS(status) != 0) {
		(void)snprintf(why, size, "exited with status %d", WEXITSTATUS(status));
		return TEST_FAIL;
	}
	return TEST_PASS;
}

static int compare_tests(const void *a, const void *b)
{
	const struct test *x = *(const struct test *const *)a, *y = *(const struct test *const *)b;
	int r = strcmp(x->file, y->file);

	return r != 0 ? r : (x->line > y->line) - (x->line < y->line);
}

static bool selected(const struct test *t, int argc, char **argv)
{
	bool any = false;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		any = true;
		if (fnmatch(argv[i], t->name, 0) == 0)
			return true;
	}
	return !any;
}

int test_main(int argc, char **argv)
{
	static const char *const names[] = { "PASS", "FAIL", "SKIP", "ERROR" };
	unsigned counts[4] = { 0 }, n = 0, timeout_sec = 120;
	bool list = false, fork_tests = true;
	const char *e;
	size_t k = 0;

	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--list")) {
			list = true;
		} else if (streq(argv[i], "--no-fork")) {
			fork_tests = false;
		} else if (argv[i][0] == '-') {
			(void)fprintf(stderr, "Usage: %s [--list] [--no-fork] [NAME-OR-GLOB...]\n",
				      program_invocation_short_name);
			return streq(argv[i], "--help") ? EXIT_SUCCESS : 2;
		}
	}
	e = getenv("TEST_TIMEOUT_SEC");
	if (e && (safe_atou(e, &timeout_sec) < 0 || timeout_sec == 0)) {
		(void)fprintf(stderr, "Invalid TEST_TIMEOUT_SEC='%s'\n", e);
		return 2;
	}

	for (struct test *t = tests; t; t = t->next)
		n++;
	_cleanup_free_ struct test **sorted = calloc(n + 1, sizeof(*sorted));
	verdict = mmap(NULL, sizeof(*verdict), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (!sorted || verdict == MAP_FAILED) {
		(void)fprintf(stderr, "Out of memory\n");
		return EXIT_FAILURE;
	}
	for (struct test *t = tests; t; t = t->next)
		if (selected(t, argc, argv))
			sorted[k++] = t;
	qsort(sorted, k, sizeof(*sorted), compare_tests);

	if (list) {
		for (size_t i = 0; i < k; i++)
			printf("%s\n", sorted[i]->name);
		return EXIT_SUCCESS;
	}
	if (k == 0 && n > 0) {
		(void)fprintf(stderr, "%s: no test matches\n", program_invocation_short_name);
		return EXIT_FAILURE;
	}

	for (size_t i = 0; i < k; i++) {
		uint64_t start = now_nsec(CLOCK_MONOTONIC);
		char why[600] = "";
		int result;

		result = run_one(sorted[i], fork_tests, timeout_sec, why, sizeof(why));
		counts[result]++;
		if (result == TEST_PASS)
			printf("PASS %s (%.1f ms)\n", sorted[i]->name,
			       (double)(now_nsec(CLOCK_MONOTONIC) - start) / 1e6);
		else
			printf("%s %s%s%s\n", names[result], sorted[i]->name, why[0] ? ": " : "",
			       why);
		(void)fflush(stdout);
	}

	printf("# %s: %u passed, %u failed, %u skipped, %u errors\n", program_invocation_short_name,
	       counts[TEST_PASS], counts[TEST_FAIL], counts[TEST_SKIP], counts[TEST_ERROR]);
	if (counts[TEST_FAIL] > 0 || counts[TEST_ERROR] > 0)
		return EXIT_FAILURE;
	return counts[TEST_SKIP] == k ? 77 : EXIT_SUCCESS;
}
