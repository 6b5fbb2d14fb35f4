/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>

#include "common/log.h"
#include "output.h"

int gc_json_print(const json_t *v)
{
	if (!v)
		return log_oom();
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) < 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
		return log_error_errno(EIO, "Failed to write JSON to standard output: %m");
	return 0;
}
