/* SPDX-License-Identifier: MIT */
#ifndef PSYNE_URI_H
#define PSYNE_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSYNE_URI_MAX 1024u
#define PSYNE_URI_OPTS_MAX 16u

/*
 * A parsed URI: `scheme://address?key=value&flag`. Strings point into `buf`. Options are
 * marked as used when a transport reads them; psyne__uri_check_used() then rejects any
 * option no transport understood, so a typo is an error rather than silently ignored.
 */
struct psyne_uri {
	char buf[PSYNE_URI_MAX];
	const char *scheme;
	const char *address;
	size_t n_opts;
	struct {
		const char *key;
		const char *value; /* "" for a flag */
		bool used;
	} opts[PSYNE_URI_OPTS_MAX];
};

/* Parses `s` into *ret. -EINVAL, with the reason logged: malformed (empty parts, bad
 * characters, too long). */
int psyne__uri_parse(const char *s, struct psyne_uri *ret);

/* The value of option `key`, marking it used; NULL when absent. */
const char *psyne__uri_get(struct psyne_uri *uri, const char *key);

/* -EINVAL, with an error logged naming it, when an option was never read. */
int psyne__uri_check_used(const struct psyne_uri *uri);

/* Whether `name` is 1 to max_len characters of [A-Za-z0-9._-]. */
bool psyne__name_is_valid(const char *name, size_t max_len);

/*
 * Splits a network address HOST:PORT (IPv6 as [ADDR]:PORT) into its host, copied to
 * `host`, and its port, checked to be 1 to 65535. -EINVAL when malformed.
 */
int psyne__uri_host_port(const char *address, char *host, size_t size, const char **ret_port);

/*
 * Resolves HOST:PORT for sockets of `socktype` with getaddrinfo(); a listener's `*` is
 * every address. Logs why it failed: -EINVAL (malformed), -EADDRNOTAVAIL (no such host).
 * The caller frees *ret with freeaddrinfo().
 */
struct addrinfo;
int psyne__uri_resolve(const char *address, bool listen, int socktype, struct addrinfo **ret);

/* Checks the NAME of a ring URI (memory://, ipc://): -EINVAL, with the reason logged. */
int psyne__uri_ring_name(const struct psyne_uri *uri);

/* Parses wait= of a ring URI: PSYNE_WAIT_* (AUTO when absent); -EINVAL, logged, if bad. */
int psyne__uri_ring_wait(struct psyne_uri *uri, uint32_t *ret_wait);

/* Parses mode= and capacity= of a URI; absent ones come back as UINT32_MAX and 0.
 * -EINVAL, with the reason logged, for a bad value. */
int psyne__uri_ring_options(struct psyne_uri *uri, uint32_t *ret_mode, uint64_t *ret_capacity);

#endif
