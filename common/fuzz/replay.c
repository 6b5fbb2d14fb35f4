/* SPDX-License-Identifier: MIT */
/*
 * Corpus replay for builds without libFuzzer: feeds every file named on the command line,
 * or found in a directory named there, to the harness once. Any crash, sanitizer report,
 * failed check (the harness aborts) or hang fails the test.
 *
 * A replay is one test case however many inputs it feeds: its last line is
 * "# PROG: 1 case (N inputs), F failed", F counting the inputs that could not be read, which
 * scripts/run-tests counts as one case. Each input is named on stderr before it runs, so that
 * the report of a crash follows the name of the input that caused it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	fprintf(stderr, "replay: %s\n", path);
	(void)LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	unsigned inputs = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			replay_file(argv[i]) == 0 ? inputs++ : failed++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char path[4096];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			replay_file(path) == 0 ? inputs++ : failed++;
		}
		if (d)
			closedir(d);
	}
	/* No input at all is a failure too: the corpus went missing. */
	printf("# %s: 1 case (%u inputs), %u failed\n", prog, inputs, failed);
	return failed == 0 && inputs > 0 ? 0 : 1;
}
