/* SPDX-License-Identifier: MIT */
/*
 * The unit-test harness (docs/CONTRIBUTING.md, "Unit tests").
 *
 *	TEST(ring_wraps)
 *	{
 *		ASSERT_OK(psyne__ring_init(&ring, 4096));
 *		ASSERT_EQ(psyne__ring_used(&ring), 0u);
 *		ASSERT_ERROR(psyne__ring_init(&ring, 3), EINVAL);
 *	}
 *
 *	DEFINE_TEST_MAIN();
 *
 * Every test runs in its own forked child with a timeout (TEST_TIMEOUT_SEC, default 120) and
 * reports one line: "PASS name (1.2 ms)", "FAIL name ...", "SKIP name: why" or
 * "ERROR name: why" (ERROR: the environment is broken, not the code). A failed assertion
 * prints file:line, the expression and both values to stderr and ends the child. The last
 * line of output is "# prog: N passed, N failed, N skipped, N errors"; the exit status is 0
 * when nothing failed or errored, 77 when every test was skipped, 1 otherwise.
 *
 * Usage: prog [--list] [--no-fork] [NAME-OR-GLOB...]
 *
 * Comparisons (ASSERT_EQ, ASSERT_LT, ...) take integers of any signedness, enums, bools,
 * floating-point values and pointers, and compare them by value: -1 is less than 0u.
 */
#ifndef COMMON_TESTS_H
#define COMMON_TESTS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct test {
	const char *name;
	void (*func)(void);
	const char *file;
	unsigned line;
	struct test *next;
};

void test_register(struct test *t);
int test_main(int argc, char **argv);

#define TEST(tname)                                                                                \
	static void test_##tname(void);                                                            \
	static struct test test_entry_##tname = {                                                  \
		.name = #tname,                                                                    \
		.func = test_##tname,                                                              \
		.file = __FILE__,                                                                  \
		.line = __LINE__,                                                                  \
	};                                                                                         \
	__attribute__((constructor)) static void test_register_##tname(void)                       \
	{                                                                                          \
		test_register(&test_entry_##tname);                                                \
	}                                                                                          \
	static void test_##tname(void)

/* Use as `DEFINE_TEST_MAIN();` (the struct declaration takes the semicolon). */
#define DEFINE_TEST_MAIN()                                                                         \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return test_main(argc, argv);                                                      \
	}                                                                                          \
	struct test_main_allow_trailing_semicolon_

enum {
	TEST_PASS,
	TEST_FAIL,
	TEST_SKIP,
	TEST_ERROR,
};

/* End the running test with a verdict; the reason is shown by the runner. */
_noreturn_ void test_exit(int result, const char *format, ...) _printf_(2, 3);
/* Print an assertion failure "file:line: format" to stderr and end the test as FAIL. */
_noreturn_ void test_fail(const char *file, int line, const char *format, ...) _printf_(3, 4);

/* __extension__: gcc -Wpedantic would reject %m otherwise. */
#define SKIP_TEST(...) (__extension__ test_exit(TEST_SKIP, __VA_ARGS__))
#define ERROR_TEST(...) (__extension__ test_exit(TEST_ERROR, __VA_ARGS__))

/* A value of any scalar type, so that failures can print both sides and compare by value. */
struct test_value {
	enum {
		TEST_VALUE_SIGNED,
		TEST_VALUE_UNSIGNED,
		TEST_VALUE_DOUBLE,
		TEST_VALUE_POINTER
	} kind;
	intmax_t i;
	uintmax_t u;
	long double d;
	const void *p;
};

struct test_value test_value_signed(intmax_t v);
struct test_value test_value_unsigned(uintmax_t v);
struct test_value test_value_double(long double v);
struct test_value test_value_pointer(const volatile void *v);
/* <0, 0 or >0, comparing mathematically (a negative signed value is below any unsigned). */
int test_value_cmp(const struct test_value *a, const struct test_value *b);
/* Text of a value into buf, which is returned. */
char *test_value_format(const struct test_value *v, char *buf, size_t size);

/* clang-format off */
#define TEST_VALUE(x)                                                                              \
	_Generic((x),                                                                              \
		char: test_value_signed,                                                           \
		signed char: test_value_signed,                                                    \
		short: test_value_signed,                                                          \
		int: test_value_signed,                                                            \
		long: test_value_signed,                                                           \
		long long: test_value_signed,                                                      \
		_Bool: test_value_unsigned,                                                        \
		unsigned char: test_value_unsigned,                                                \
		unsigned short: test_value_unsigned,                                               \
		unsigned: test_value_unsigned,                                                     \
		unsigned long: test_value_unsigned,                                                \
		unsigned long long: test_value_unsigned,                                           \
		float: test_value_double,                                                          \
		double: test_value_double,                                                         \
		long double: test_value_double,                                                    \
		default: test_value_pointer)(x)
/* clang-format on */

void test_cmp_failed(const char *file, int line, const char *macro, const char *expr_a,
		     const char *expr_b, const struct test_value *a, const struct test_value *b)
	_noreturn_;

#define ASSERT_CMP_(macro, a, op, b, text_a, text_b)                                               \
	do {                                                                                       \
		const struct test_value _test_a_ = TEST_VALUE(a);                                  \
		const struct test_value _test_b_ = TEST_VALUE(b);                                  \
		if (!(test_value_cmp(&_test_a_, &_test_b_) op 0))                                  \
			test_cmp_failed(__FILE__, __LINE__, macro, text_a, text_b, &_test_a_,      \
					&_test_b_);                                                \
	} while (0)

#define ASSERT_EQ(a, b) ASSERT_CMP_("ASSERT_EQ", a, ==, b, #a, #b)
#define ASSERT_NE(a, b) ASSERT_CMP_("ASSERT_NE", a, !=, b, #a, #b)
#define ASSERT_LT(a, b) ASSERT_CMP_("ASSERT_LT", a, <, b, #a, #b)
#define ASSERT_LE(a, b) ASSERT_CMP_("ASSERT_LE", a, <=, b, #a, #b)
#define ASSERT_GT(a, b) ASSERT_CMP_("ASSERT_GT", a, >, b, #a, #b)
#define ASSERT_GE(a, b) ASSERT_CMP_("ASSERT_GE", a, >=, b, #a, #b)

/* error: the errno to show; 0 to read one from a negative r. */
void test_ok_failed(const char *file, int line, const char *macro, const char *expr, intmax_t r,
		    int error) _noreturn_;
void test_error_failed(const char *file, int line, const char *macro, const char *expr, intmax_t r,
		       int error, int expected) _noreturn_;

/* expr >= 0; a negative result is printed as a negative errno. */
#define ASSERT_OK(expr)                                                                            \
	do {                                                                                       \
		const intmax_t _test_r_ = (expr);                                                  \
		if (_test_r_ < 0)                                                                  \
			test_ok_failed(__FILE__, __LINE__, "ASSERT_OK", #expr, _test_r_, 0);       \
	} while (0)

/* expr == 0. */
#define ASSERT_OK_ZERO(expr)                                                                       \
	do {                                                                                       \
		const intmax_t _test_r_ = (expr);                                                  \
		if (_test_r_ != 0)                                                                 \
			test_ok_failed(__FILE__, __LINE__, "ASSERT_OK_ZERO", #expr, _test_r_, 0);  \
	} while (0)

/* expr >= 0 for libc-style calls that return -1 and set errno. */
#define ASSERT_OK_ERRNO(expr)                                                                      \
	do {                                                                                       \
		const intmax_t _test_r_ = (expr);                                                  \
		if (_test_r_ < 0)                                                                  \
			test_ok_failed(__FILE__, __LINE__, "ASSERT_OK_ERRNO", #expr, _test_r_,     \
				       errno);                                                     \
	} while (0)

/* expr == -error, e.g. ASSERT_ERROR(parse_size("", &v), EINVAL). */
#define ASSERT_ERROR(expr, error)                                                                  \
	do {                                                                                       \
		const intmax_t _test_r_ = (expr);                                                  \
		const int _test_e_ = (error);                                                      \
		if (_test_r_ != -(intmax_t)_test_e_)                                               \
			test_error_failed(__FILE__, __LINE__, "ASSERT_ERROR", #expr, _test_r_, 0,  \
					  _test_e_);                                               \
	} while (0)

/* expr < 0 and errno == error, for libc-style calls. */
#define ASSERT_ERROR_ERRNO(expr, error)                                                            \
	do {                                                                                       \
		const intmax_t _test_r_ = (expr);                                                  \
		const int _test_errno_ = errno;                                                    \
		const int _test_e_ = (error);                                                      \
		if (_test_r_ >= 0 || _test_errno_ != _test_e_)                                     \
			test_error_failed(__FILE__, __LINE__, "ASSERT_ERROR_ERRNO", #expr,         \
					  _test_r_, _test_errno_, _test_e_);                       \
	} while (0)

#define ASSERT_TRUE(expr)                                                                          \
	do {                                                                                       \
		if (!(expr))                                                                       \
			test_fail(__FILE__, __LINE__, "ASSERT_TRUE(%s) failed", #expr);            \
	} while (0)

#define ASSERT_FALSE(expr)                                                                         \
	do {                                                                                       \
		if (expr)                                                                          \
			test_fail(__FILE__, __LINE__, "ASSERT_FALSE(%s) failed", #expr);           \
	} while (0)

#define ASSERT_NULL(expr)                                                                          \
	do {                                                                                       \
		const volatile void *_test_p_ = (expr);                                            \
		if (_test_p_)                                                                      \
			test_fail(__FILE__, __LINE__, "ASSERT_NULL(%s) failed: got %p", #expr,     \
				  (const void *)_test_p_);                                         \
	} while (0)

#define ASSERT_NOT_NULL(expr)                                                                      \
	do {                                                                                       \
		if (!(expr))                                                                       \
			test_fail(__FILE__, __LINE__, "ASSERT_NOT_NULL(%s) failed", #expr);        \
	} while (0)

void test_streq_check(const char *file, int line, const char *expr_a, const char *expr_b,
		      const char *a, const char *b);
void test_memeq_check(const char *file, int line, const char *expr_a, const char *expr_b,
		      const void *a, const void *b, size_t n);

/* Equal strings; NULL equals only NULL. */
#define ASSERT_STREQ(a, b) test_streq_check(__FILE__, __LINE__, #a, #b, (a), (b))
/* n equal bytes; a failure shows the first differing offset and both bytes. */
#define ASSERT_MEMEQ(a, b, n) test_memeq_check(__FILE__, __LINE__, #a, #b, (a), (b), (n))

#endif
