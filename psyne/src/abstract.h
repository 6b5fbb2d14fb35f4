/* SPDX-License-Identifier: MIT */
/*
 * Names in the abstract unix-socket namespace, which is how handles are found without a
 * daemon and without a file: the kernel drops a name when the last socket bound to it
 * closes, however its owner died, and /proc/net/unix lists every name bound. All of psyne's
 * names start with "psyne/1/<uid>/":
 *
 *   psyne/1/<uid>/<NAME>/m/<pid>/<fd>/<nonce>  a member of ipc://NAME: its ring memfd
 *                                              (member.h)
 *   psyne/1/<uid>/net/<pid>/<fd>               a network handle's stats page (netstat.h)
 *
 * <pid>/<fd> is a memfd of process <pid>, which a process of the same uid opens as
 * /proc/<pid>/fd/<fd>. A network name cannot be taken for an ipc:// one: what follows "net/"
 * there is a number, never "m/". The namespace has no permissions: any local user may bind
 * any name, so nothing here is trusted for what its name says (member.h).
 */
#ifndef PSYNE_ABSTRACT_H
#define PSYNE_ABSTRACT_H

#include <stdint.h>

#include "common/macro.h"

/*
 * Binds a datagram socket to the abstract name `fmt` (without the leading NUL) and returns
 * its fd, which the caller owns: the name lasts as long as it stays open. -ENAMETOOLONG
 * when the name does not fit a sockaddr_un, -EADDRINUSE when it is taken, or what socket()
 * and bind() say.
 */
int psyne__abstract_bind(const char *fmt, ...) _printf_(1, 2);

/*
 * Parses the decimal number [s, end) of a name: digits only, no leading zero, at most
 * `max`. Returns 0 or -EINVAL.
 */
int psyne__abstract_parse_number(const char *s, const char *end, uint32_t max, uint32_t *ret);

/*
 * Calls `f` with every abstract socket path /proc/net/unix lists ("@..."), until it returns
 * a negative errno, which is returned.
 */
int psyne__abstract_for_each(int (*f)(const char *path, void *userdata), void *userdata);

#endif
