/* SPDX-License-Identifier: MIT */
/* Output helpers every verb shares: JSON (jansson) to stdout, and cleanup for jansson. */
#ifndef GC_OUTPUT_H
#define GC_OUTPUT_H

#include <jansson.h>

#include "common/macro.h"

/* jansson has json_decrefp() for _cleanup_ (and json_auto_t). */

/* Prints v as indented JSON and a newline to stdout. 0, or -EIO/-ENOMEM (logged). */
int gc_json_print(const json_t *v);

#endif
