/* SPDX-License-Identifier: MIT */
/* NULL-terminated arrays of strings ("strv"): argv arrays, lists read from sysfs. */
#ifndef GC_STRV_H
#define GC_STRV_H

#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"

/* Frees every string and the array. NULL-safe; returns NULL. */
char **gc_strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, gc_strv_free);
#define _cleanup_strv_free_ _cleanup_(gc_strv_freep)

size_t gc_strv_length(char *const *l);
bool gc_strv_contains(char *const *l, const char *s);

#endif
