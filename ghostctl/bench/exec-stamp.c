/* SPDX-License-Identifier: MIT */
/*
 * Stands in for QEMU in the start-latency benchmark: records when it was exec'd
 * (CLOCK_MONOTONIC, in the file named by GC_STAMP_FILE), then becomes the real QEMU
 * (GC_REAL_QEMU) with the same arguments, so that the VM really starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	const char *stamp = getenv("GC_STAMP_FILE"), *real = getenv("GC_REAL_QEMU");
	struct timespec ts;
	char buf[32];
	int fd, n;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)argc;
	if (!stamp || !real) {
		fprintf(stderr, "exec-stamp: GC_STAMP_FILE and GC_REAL_QEMU must be set\n");
		return 127;
	}
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n",
		     (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	fd = open(stamp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0) {
		fprintf(stderr, "exec-stamp: %s: %s\n", stamp, strerror(errno));
		return 127;
	}
	argv[0] = (char *)real;
	execvp(real, argv);
	fprintf(stderr, "exec-stamp: %s: %s\n", real, strerror(errno));
	return 127;
}
