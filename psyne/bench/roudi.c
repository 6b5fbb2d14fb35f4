/* SPDX-License-Identifier: MIT */
/*
 * RouDi, the iceoryx routing daemon every iceoryx process registers with. The bench starts
 * its own, with a generated config whose memory pools fit the run's message sizes (the
 * built-in config has too few 1 MiB chunks for streaming), waits for "RouDi is ready for
 * clients" in its log, and stops it at the end, also when the run fails or is interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "common/string-util.h"

#define ROUDI_READY "RouDi is ready for clients"
#define ROUDI_START_TIMEOUT_MS 10000
#define ROUDI_STOP_TIMEOUT_MS 5000

static int find_roudi(const char *path, char *buf, size_t n)
{
	_cleanup_free_ char *copy = NULL;
	const char *search;
	char *saveptr = NULL;

	if (path) {
		if (access(path, X_OK) < 0)
			return -errno;
		(void)snprintf(buf, n, "%s", path);
		return 0;
	}

	search = getenv("PATH");
	copy = strdup(isempty(search) ? "/usr/bin:/bin" : search);
	if (!copy)
		return -ENOMEM;
	for (char *dir = strtok_r(copy, ":", &saveptr); dir; dir = strtok_r(NULL, ":", &saveptr)) {
		(void)snprintf(buf, n, "%s/iox-roudi", dir);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	/* The Debian package installs it here; PATH may be minimal under a test runner. */
	(void)snprintf(buf, n, "/usr/bin/iox-roudi");
	return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

static int write_config(const char *path, const uint64_t *sizes, const unsigned *pairs,
			size_t n_sizes, uint64_t capacity)
{
	_cleanup_fclose_ FILE *f = NULL;
	uint64_t pools[BENCH_MAX_SIZES][2];
	size_t n_pools = 0;

	/*
	 * One pool per message size: the payload plus room for the chunk header, enough chunks
	 * for a full subscriber queue in each direction of every pair that runs at once (four
	 * in an oversubscribed cell) plus the ones in flight.
	 */
	for (size_t i = 0; i < n_sizes; i++) {
		uint64_t chunk = ALIGN_TO(sizes[i] + 256, UINT64_C(64));
		uint64_t depth = bench_queue_depth(sizes[i], bench_capacity(sizes[i], capacity));
		size_t j;

		for (j = 0; j < n_pools && pools[j][0] != chunk; j++)
			;
		if (j == n_pools) {
			pools[n_pools][0] = chunk;
			pools[n_pools++][1] = 0;
		}
		pools[j][1] = MAX(pools[j][1], 2 * depth * MAX(pairs[i], 1u) + 32);
	}
	/* RouDi wants the pools sorted by chunk size. */
	for (size_t i = 1; i < n_pools; i++)
		for (size_t j = i; j > 0 && pools[j - 1][0] > pools[j][0]; j--) {
			uint64_t t[2] = { pools[j][0], pools[j][1] };

			memcpy(pools[j], pools[j - 1], sizeof(t));
			memcpy(pools[j - 1], t, sizeof(t));
		}

	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "[general]\nversion = 1\n\n[[segment]]\n\n");
	for (size_t i = 0; i < n_pools; i++)
		fprintf(f, "[[segment.mempool]]\nsize = %" PRIu64 "\ncount = %" PRIu64 "\n\n",
			pools[i][0], pools[i][1]);
	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

/* Copies line without ANSI colour sequences, which RouDi writes even into a file. */
static void strip_ansi(char *dst, size_t n, const char *line)
{
	size_t j = 0;

	for (size_t i = 0; line[i] != '\0' && j + 1 < n; i++) {
		if (line[i] == '\033' && line[i + 1] == '[') {
			i += 2;
			while (line[i] != '\0' && !(line[i] >= '@' && line[i] <= '~'))
				i++;
			if (line[i] == '\0')
				break;
			continue;
		}
		dst[j++] = line[i];
	}
	dst[j] = '\0';
}

/*
 * Why RouDi did not start, from its log: the first fatal message ("Could not acquire lock,
 * is RouDi still running?"), else the first error, else the last line.
 */
static void log_reason(const char *path, char *buf, size_t n)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[512], fatal[200] = "", error[200] = "", last[200] = "";

	buf[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (isempty(line))
			continue;
		if (fatal[0] == '\0' && strstr(line, "Fatal"))
			strip_ansi(fatal, sizeof(fatal), line);
		else if (error[0] == '\0' && strstr(line, "Error"))
			strip_ansi(error, sizeof(error), line);
		strip_ansi(last, sizeof(last), line);
	}
	(void)snprintf(buf, n, "%s", fatal[0] != '\0' ? fatal : error[0] != '\0' ? error : last);
}

static bool log_contains(const char *path, const char *needle)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[512];

	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			return true;
	return false;
}

/*
 * fork() and exec() rather than posix_spawn(): the child asks for SIGTERM when the bench
 * dies, so that RouDi never outlives it, even when the bench is killed.
 */
static int spawn_roudi(struct bench_roudi *roudi, const char *binary, const char *config)
{
	static const char exec_failed[] = "psyne-bench: cannot execute iox-roudi\n";
	char *argv[] = { (char *)binary, (char *)"-c",	 (char *)config,
			 (char *)"-l",	 (char *)"info", NULL };
	_cleanup_close_ int null_fd = -EBADF, log_fd = -EBADF;
	pid_t parent = getpid(), pid;

	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	log_fd = open(roudi->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log_fd < 0)
		return -errno;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Only async-signal-safe calls from here on. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(127);
		if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
		    dup2(log_fd, STDERR_FILENO) < 0)
			_exit(127);
		execv(binary, argv);
		(void)!write(STDERR_FILENO, exec_failed, sizeof(exec_failed) - 1);
		_exit(127);
	}

	roudi->pid = pid;
	return 0;
}

int bench_roudi_start(struct bench_roudi *roudi, const char *path, const char *dir,
		      const uint64_t *sizes, const unsigned *pairs, size_t n_sizes,
		      uint64_t capacity)
{
	char binary[256], config[128], tail[200];
	uint64_t deadline;
	int r, status;

	*roudi = (struct bench_roudi){ .pid = 0 };

	r = find_roudi(path, binary, sizeof(binary));
	if (r < 0) {
		(void)snprintf(
			roudi->why, sizeof(roudi->why),
			"iox-roudi not found (%s): install the iceoryx package or pass --roudi",
			strerror(-r));
		return r;
	}

	(void)snprintf(config, sizeof(config), "%s/roudi.toml", dir);
	(void)snprintf(roudi->log_path, sizeof(roudi->log_path), "%s/roudi.log", dir);
	r = write_config(config, sizes, pairs, n_sizes, capacity);
	if (r < 0) {
		(void)snprintf(roudi->why, sizeof(roudi->why), "cannot write '%.160s': %s", config,
			       strerror(-r));
		return r;
	}

	r = spawn_roudi(roudi, binary, config);
	if (r < 0) {
		roudi->pid = 0;
		(void)snprintf(roudi->why, sizeof(roudi->why), "cannot run '%.160s': %s", binary,
			       strerror(-r));
		return r;
	}

	deadline = bench_now() + (uint64_t)ROUDI_START_TIMEOUT_MS * 1000000;
	for (;;) {
		if (log_contains(roudi->log_path, ROUDI_READY))
			return 0;

		r = waitpid(roudi->pid, &status, WNOHANG);
		if (r == roudi->pid) {
			roudi->pid = 0;
			log_reason(roudi->log_path, tail, sizeof(tail));
			(void)snprintf(roudi->why, sizeof(roudi->why),
				       "iox-roudi exited (status %d) before it was ready: %s",
				       WIFEXITED(status) ? WEXITSTATUS(status) :
							   128 + WTERMSIG(status),
				       isempty(tail) ? "no output" : tail);
			return -ECHILD;
		}
		if (bench_now() > deadline) {
			log_reason(roudi->log_path, tail, sizeof(tail));
			bench_roudi_stop(roudi);
			(void)snprintf(roudi->why, sizeof(roudi->why),
				       "iox-roudi not ready after %d s: %s",
				       ROUDI_START_TIMEOUT_MS / 1000,
				       isempty(tail) ? "no output" : tail);
			return -ETIMEDOUT;
		}
		(void)usleep(10000);
	}
}

/* After a SIGKILL RouDi could not remove its segments; the next RouDi would trip on them. */
static void remove_roudi_leftovers(void)
{
	struct passwd *pw;
	char name[300];

	(void)shm_unlink("/iceoryx_mgmt");
	pw = getpwuid(geteuid());
	if (pw) {
		(void)snprintf(name, sizeof(name), "/%s", pw->pw_name);
		(void)shm_unlink(name);
	}
}

void bench_roudi_stop(struct bench_roudi *roudi)
{
	uint64_t deadline;
	int status;

	if (roudi->pid <= 0)
		return;

	(void)kill(roudi->pid, SIGTERM);
	deadline = bench_now() + (uint64_t)ROUDI_STOP_TIMEOUT_MS * 1000000;
	for (;;) {
		pid_t r = waitpid(roudi->pid, &status, WNOHANG);

		if (r == roudi->pid || (r < 0 && errno == ECHILD))
			break;
		if (bench_now() > deadline) {
			(void)kill(roudi->pid, SIGKILL);
			(void)waitpid(roudi->pid, &status, 0);
			roudi->killed = true;
			remove_roudi_leftovers();
			break;
		}
		(void)usleep(10000);
	}
	roudi->pid = 0;
}
