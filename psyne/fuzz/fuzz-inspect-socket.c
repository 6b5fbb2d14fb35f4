/* SPDX-License-Identifier: MIT */
/*
 * Abstract socket names as /proc/net/unix lists them: any local process may bind any name,
 * so `psyne stat` parses hostile text there. psyne__inspect_parse_socket() must accept only
 * "@psyne/1/UID/NAME/m/PID/FD" with a valid NAME and in-range numbers, and
 * psyne__inspect_parse_net_socket() only "@psyne/1/UID/net/PID/FD"; neither may read past
 * the string. Input: the path's bytes (cut at the first NUL, as a line would be).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path, name[64];
	pid_t pid;
	int fd;

	/* A /proc/net/unix line is shorter than this, and the parser reads one line. */
	if (size > 512)
		return 0;
	path = malloc(size + 1);
	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = 0;

	/* The seeds are written for uid 0; this run's own uid gets a look too. */
	if (psyne__inspect_parse_socket(path, 0, name, &pid, &fd) == 0 &&
	    (!psyne__name_is_valid(name, 48) || pid <= 0 || fd < 0))
		abort();
	if (psyne__inspect_parse_socket(path, geteuid(), name, &pid, &fd) == 0 &&
	    (!psyne__name_is_valid(name, 48) || pid <= 0 || fd < 0))
		abort();
	if (psyne__inspect_parse_net_socket(path, 0, &pid, &fd) == 0 && (pid <= 0 || fd < 0))
		abort();
	if (psyne__inspect_parse_net_socket(path, geteuid(), &pid, &fd) == 0 &&
	    (pid <= 0 || fd < 0))
		abort();
	free(path);
	return 0;
}
