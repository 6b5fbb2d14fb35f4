/* SPDX-License-Identifier: MIT */
/*
 * Starting programs the way docs/CONTRIBUTING.md, "Command-line programs", asks: an argv
 * array through posix_spawn, never a shell. Shared by every verb that runs a tool (QEMU,
 * qemu-img, virtiofsd, ssh).
 */
#ifndef GC_PROCESS_H
#define GC_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

struct gc_spawn_opts {
	int stdin_fd;	  /* -1: /dev/null */
	int stdout_fd;	  /* -1: inherit */
	int stderr_fd;	  /* -1: inherit */
	bool new_session; /* setsid(): survives the terminal (a detached VM) */
};

/*
 * Starts argv[0] (searched in PATH when it has no '/') with argv. Returns 0 and the child's
 * pid, or -errno: -ENOENT when the program does not exist.
 */
int gc_spawn(char *const argv[], const struct gc_spawn_opts *opts, pid_t *ret_pid);

/*
 * Waits for pid up to timeout_ms (< 0: forever). Returns 0 with the exit code (or 128 + the
 * signal) in *ret_code, -ETIMEDOUT, or -errno.
 */
int gc_spawn_wait(pid_t pid, int timeout_ms, int *ret_code);

/* Runs argv to completion with output to the given fds (-1: inherit); the exit code or -errno. */
int gc_spawn_run(char *const argv[], int stdout_fd, int stderr_fd);

/* argv as one line a person can paste into a POSIX shell: words quoted where needed. */
char *gc_argv_to_shell(char *const argv[]);

#endif
