/* SPDX-License-Identifier: MIT */
/* posix_spawn with an argv array; see spawn.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"
#include "process.h"

extern char **environ;

int gc_spawn(char *const argv[], const struct gc_spawn_opts *opts, pid_t *ret_pid)
{
	const struct gc_spawn_opts none = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int r;

	if (!argv || !argv[0])
		return -EINVAL;
	if (!opts)
		opts = &none;
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	r = posix_spawnattr_init(&attr);
	if (r != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	if (opts->stdin_fd >= 0)
		r = posix_spawn_file_actions_adddup2(&fa, opts->stdin_fd, STDIN_FILENO);
	else
		r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (r == 0 && opts->stdout_fd >= 0)
		r = posix_spawn_file_actions_adddup2(&fa, opts->stdout_fd, STDOUT_FILENO);
	if (r == 0 && opts->stderr_fd >= 0)
		r = posix_spawn_file_actions_adddup2(&fa, opts->stderr_fd, STDERR_FILENO);
	if (r == 0) {
		sigset_t none_blocked, defaults;

		/* The child starts with no blocked signals and default handlers for the ones a
		 * supervisor catches, whatever the caller has set up. */
		sigemptyset(&none_blocked);
		sigemptyset(&defaults);
		sigaddset(&defaults, SIGINT);
		sigaddset(&defaults, SIGTERM);
		sigaddset(&defaults, SIGCHLD);
		sigaddset(&defaults, SIGPIPE);
		(void)posix_spawnattr_setsigmask(&attr, &none_blocked);
		(void)posix_spawnattr_setsigdefault(&attr, &defaults);
		r = posix_spawnattr_setflags(&attr,
					     POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						     (opts->new_session ? POSIX_SPAWN_SETSID : 0));
	}
	if (r == 0)
		r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return -r;
	*ret_pid = pid;
	return 0;
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int gc_spawn_wait(pid_t pid, int timeout_ms, int *ret_code)
{
	_cleanup_close_ int pidfd = -EBADF;
	int status;

	if (timeout_ms >= 0) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };
			int n;

			do
				n = poll(&p, 1, timeout_ms);
			while (n < 0 && errno == EINTR);
			if (n == 0)
				return -ETIMEDOUT;
		} else {
			/* No pidfds: poll waitpid() every 10 ms. */
			for (int waited = 0;; waited += 10) {
				pid_t r = waitpid(pid, &status, WNOHANG);

				if (r == pid) {
					*ret_code = exit_code(status);
					return 0;
				}
				if (r < 0)
					return -errno;
				if (waited >= timeout_ms)
					return -ETIMEDOUT;
				(void)nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	*ret_code = exit_code(status);
	return 0;
}

int gc_spawn_run(char *const argv[], int stdout_fd, int stderr_fd)
{
	struct gc_spawn_opts o = { .stdin_fd = -1, .stdout_fd = stdout_fd, .stderr_fd = stderr_fd };
	pid_t pid;
	int r, code = 0;

	r = gc_spawn(argv, &o, &pid);
	if (r < 0)
		return r;
	r = gc_spawn_wait(pid, -1, &code);
	return r < 0 ? r : code;
}

static bool needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "_-./=:,+@%",
			    *s))
			return true;
	return false;
}

char *gc_argv_to_shell(char *const argv[])
{
	size_t n = 1;
	char *out, *q;

	for (char *const *a = argv; *a; a++)
		n += 4 * strlen(*a) + 3;
	out = malloc(n);
	if (!out)
		return NULL;
	q = out;
	for (char *const *a = argv; *a; a++) {
		if (a != argv)
			*q++ = ' ';
		if (!needs_quotes(*a)) {
			q = stpcpy(q, *a);
			continue;
		}
		/* Single quotes; a ' inside becomes '\''. */
		*q++ = '\'';
		for (const char *s = *a; *s; s++) {
			if (*s == '\'')
				q = stpcpy(q, "'\\''");
			else
				*q++ = *s;
		}
		*q++ = '\'';
	}
	*q = '\0';
	return out;
}
