/* SPDX-License-Identifier: MIT */
/*
 * Members of ipc:// channels: the name a handle binds in the abstract socket namespace
 * (abstract.h), reading such names back, and the checked way to map the memfd one points at.
 *
 * Names are public: every local user can list them, and bind more under any prefix, ours
 * included. So a name is only a pointer, and what it points at is trusted only after the
 * checks of any other hostile input: a regular file of our uid, sealed against shrinking and
 * growing, of a size a segment can have; its header is then psyne__ring_check()'s business.
 * A handle's own name ends in a random nonce, so nobody can take it first.
 */
#ifndef PSYNE_MEMBER_H
#define PSYNE_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ring.h"

/* What a member name says: "@psyne/1/<uid>/<name>/m/<pid>/<fd>/<nonce>". */
struct psyne_member {
	char name[PSYNE_RING_NAME_MAX + 1];
	pid_t pid;
	int fd;
};

/*
 * Parses an abstract socket path as /proc/net/unix lists it, "@psyne/1/UID/NAME/m/PID/FD/
 * NONCE", with UID equal to `uid`, NAME a valid channel name and NONCE 1 to 16 hex digits.
 * Returns 0, or -EINVAL for any other path.
 */
int psyne__member_parse(const char *path, uid_t uid, struct psyne_member *ret);

/*
 * Binds this process's member name for `memfd` of channel `name`, with a fresh nonce, and
 * returns the socket, which the caller owns: the name lasts as long as it stays open.
 */
int psyne__member_bind(const char *name, int memfd);

/*
 * Lists the members of channel `name` (of every channel when NULL) of this uid, as named in
 * /proc/net/unix, sorted by name, pid and fd. The caller frees *ret_members.
 */
int psyne__member_list(const char *name, struct psyne_member **ret_members, size_t *ret_n);

/* A memfd reached through a member name, mapped. */
struct psyne_member_map {
	int fd;
	void *mem;
	uint64_t size;
	uint64_t dev, ino; /* the memfd: equal for every name that points at it */
};

/*
 * Maps the memfd behind `m`, read-only or read-write, once it is known to be a regular file
 * of our uid, sealed against shrinking and growing, of min_size to max_size bytes; a
 * read-write mapping is populated and keeps its fd open in *ret. -ENOENT (and what stat()
 * or open() says of a vanished process or fd, or of another user's process) means "not what
 * the name says"; -EPROTO means a file of ours that cannot be a segment.
 */
int psyne__member_map(const struct psyne_member *m, bool writable, uint64_t min_size,
		      uint64_t max_size, struct psyne_member_map *ret);

/* Unmaps and closes; safe on a zeroed map with fd -EBADF, and twice. */
void psyne__member_map_done(struct psyne_member_map *map);

#endif
