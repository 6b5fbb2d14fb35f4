/* SPDX-License-Identifier: MIT */
/*
 * Small macros every component uses: scope-bound cleanup, ownership transfer, arithmetic
 * helpers and attribute shorthands. Header-only; needs GNU C (typeof, statement
 * expressions, __attribute__((cleanup))).
 */
#ifndef COMMON_MACRO_H
#define COMMON_MACRO_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _const_ __attribute__((const))
#define _sentinel_ __attribute__((sentinel))
#define _packed_ __attribute__((packed))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define XSTRINGIFY(x) #x
#define STRINGIFY(x) XSTRINGIFY(x)

#define CONCATENATE_(a, b) a##b
#define CONCATENATE(a, b) CONCATENATE_(a, b)
/* A fresh identifier per expansion, so that nested MIN(MIN(a, b), c) does not shadow. */
#define UNIQ __COUNTER__
#define UNIQ_T(x, uniq) CONCATENATE(__unique_prefix_, CONCATENATE(x, uniq))

/*
 * Statement expressions are wrapped in __extension__ so that gcc -Wpedantic accepts them (and
 * the %m of the log macros).
 */

/* Number of elements of a true array; fails to compile when given a pointer. */
#define ELEMENTSOF(a)                                                                              \
	__builtin_choose_expr(!__builtin_types_compatible_p(typeof(a), typeof(&*(a))),             \
			      sizeof(a) / sizeof((a)[0]), (void)0)

#define MIN(a, b) __MIN(UNIQ, (a), UNIQ, (b))
#define __MIN(aq, a, bq, b)                                                                        \
	__extension__({                                                                            \
		const typeof(a) UNIQ_T(A, aq) = (a);                                               \
		const typeof(b) UNIQ_T(B, bq) = (b);                                               \
		UNIQ_T(A, aq) < UNIQ_T(B, bq) ? UNIQ_T(A, aq) : UNIQ_T(B, bq);                     \
	})

#define MAX(a, b) __MAX(UNIQ, (a), UNIQ, (b))
#define __MAX(aq, a, bq, b)                                                                        \
	__extension__({                                                                            \
		const typeof(a) UNIQ_T(A, aq) = (a);                                               \
		const typeof(b) UNIQ_T(B, bq) = (b);                                               \
		UNIQ_T(A, aq) > UNIQ_T(B, bq) ? UNIQ_T(A, aq) : UNIQ_T(B, bq);                     \
	})

/* x limited to [lo, hi]; lo must not exceed hi. */
#define CLAMP(x, lo, hi) MIN(MAX((x), (lo)), (hi))

/* True for 1, 2, 4, ...; false for 0. */
#define IS_POWER_OF_2(x) __IS_POWER_OF_2(UNIQ, (x))
#define __IS_POWER_OF_2(q, x)                                                                      \
	__extension__({                                                                            \
		const typeof(x) UNIQ_T(X, q) = (x);                                                \
		UNIQ_T(X, q) != 0 && (UNIQ_T(X, q) & (UNIQ_T(X, q) - 1)) == 0;                     \
	})

/* Round x up to a multiple of a, which must be a power of two. The result has x's type. */
#define ALIGN_TO(x, a) __ALIGN_TO(UNIQ, (x), (a))
#define __ALIGN_TO(q, x, a)                                                                        \
	__extension__({                                                                            \
		const typeof(x) UNIQ_T(X, q) = (x);                                                \
		const typeof(x) UNIQ_T(M, q) = (typeof(x))(a)-1;                                   \
		(typeof(x))((UNIQ_T(X, q) + UNIQ_T(M, q)) & ~UNIQ_T(M, q));                        \
	})

/* x / y rounded up, for non-negative x and positive y. */
#define DIV_ROUND_UP(x, y) __DIV_ROUND_UP(UNIQ, (x), UNIQ, (y))
#define __DIV_ROUND_UP(xq, x, yq, y)                                                               \
	__extension__({                                                                            \
		const typeof(x) UNIQ_T(X, xq) = (x);                                               \
		const typeof(y) UNIQ_T(Y, yq) = (y);                                               \
		(UNIQ_T(X, xq) / UNIQ_T(Y, yq)) + !!(UNIQ_T(X, xq) % UNIQ_T(Y, yq));               \
	})

/* Return the pointer held in *p and set *p to NULL: ownership leaves the cleanup scope. */
#define TAKE_PTR(p) __TAKE_PTR(UNIQ, p)
#define __TAKE_PTR(q, p)                                                                           \
	__extension__({                                                                            \
		typeof(p) *UNIQ_T(P, q) = &(p);                                                    \
		typeof(p) UNIQ_T(V, q) = *UNIQ_T(P, q);                                            \
		*UNIQ_T(P, q) = NULL;                                                              \
		UNIQ_T(V, q);                                                                      \
	})

/* Return the fd held in fd and set it to -EBADF. */
#define TAKE_FD(fd) __TAKE_FD(UNIQ, fd)
#define __TAKE_FD(q, fd)                                                                           \
	__extension__({                                                                            \
		int *UNIQ_T(P, q) = &(fd);                                                         \
		int UNIQ_T(V, q) = *UNIQ_T(P, q);                                                  \
		*UNIQ_T(P, q) = -EBADF;                                                            \
		UNIQ_T(V, q);                                                                      \
	})

/* Close fd if it is valid, keep errno, and return -EBADF to store back into the variable. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved_errno = errno;

		/* Linux closes the fd even when close() fails (EINTR included): never retry. */
		(void)close(fd);
		errno = saved_errno;
	}
	return -EBADF;
}

/*
 * DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) defines funcp(type *p), which calls func(*p) when
 * *p is non-NULL, for use as _cleanup_(funcp).
 */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}                                                                                          \
	struct define_trivial_cleanup_func_allow_trailing_semicolon_

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	*fd = safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f) {
		(void)fclose(*f);
		*f = NULL;
	}
}

static inline void closedirp(DIR **d)
{
	if (*d) {
		(void)closedir(*d);
		*d = NULL;
	}
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

#endif
