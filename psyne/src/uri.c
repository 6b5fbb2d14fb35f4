/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "log.h"
#include "ring.h"
#include "uri.h"

static bool is_scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-';
}

/* Printable ASCII without space; '?', '&' and '=' are structure and handled by the parser. */
static bool is_uri_char(char c)
{
	return c > ' ' && c < 0x7f;
}

/* Every reason a URI is refused goes to the log, so that -EINVAL never comes alone. */
static int bad_uri(const char *s, const char *why)
{
	psyne__log_error("'%.*s': %s", (int)MIN(strlen(s), (size_t)200), s, why);
	return -EINVAL;
}

int psyne__uri_parse(const char *s, struct psyne_uri *ret)
{
	struct psyne_uri *u = ret;
	char *p, *sep, *query;
	size_t n;

	if (!s || !ret)
		return -EINVAL;
	n = strlen(s);
	if (n == 0)
		return bad_uri(s, "empty URI (expected SCHEME://ADDRESS[?OPTIONS])");
	if (n >= sizeof(u->buf))
		return bad_uri(s, "URI longer than 1023 bytes");
	for (size_t i = 0; i < n; i++)
		if (!is_uri_char(s[i]))
			return bad_uri(s, "a URI is printable ASCII without spaces");

	*u = (struct psyne_uri){ 0 };
	memcpy(u->buf, s, n + 1);

	sep = strstr(u->buf, "://");
	if (!sep || sep == u->buf)
		return bad_uri(s, "expected SCHEME://ADDRESS (ipc://NAME, tcp://HOST:PORT, ...)");
	*sep = 0;
	for (p = u->buf; *p; p++)
		if (!is_scheme_char(*p))
			return bad_uri(s, "a scheme is lowercase letters and digits");
	u->scheme = u->buf;

	u->address = sep + 3;
	query = strchr(sep + 3, '?');
	if (query)
		*query++ = 0;
	if (isempty(u->address))
		return bad_uri(s, "no address after '://'");

	while (query) {
		char *next = strchr(query, '&'), *eq;

		if (next)
			*next++ = 0;
		if (*query == 0)
			return bad_uri(s, "an empty option ('?&', '&&' or a trailing '&')");
		if (u->n_opts >= PSYNE_URI_OPTS_MAX)
			return bad_uri(s, "more than 16 options");
		eq = strchr(query, '=');
		if (eq) {
			*eq = 0;
			if (strchr(eq + 1, '='))
				return bad_uri(s, "an option with two '='");
		}
		if (*query == 0)
			return bad_uri(s, "an option without a name");
		for (size_t i = 0; i < u->n_opts; i++)
			if (streq(u->opts[i].key, query)) {
				psyne__log_error("'%.*s': option '%s' given twice",
						 (int)MIN(n, (size_t)200), s, query);
				return -EINVAL;
			}
		u->opts[u->n_opts].key = query;
		u->opts[u->n_opts].value = eq ? eq + 1 : "";
		u->n_opts++;
		query = next;
	}
	return 0;
}

const char *psyne__uri_get(struct psyne_uri *uri, const char *key)
{
	for (size_t i = 0; i < uri->n_opts; i++)
		if (streq(uri->opts[i].key, key)) {
			uri->opts[i].used = true;
			return uri->opts[i].value;
		}
	return NULL;
}

int psyne__uri_check_used(const struct psyne_uri *uri)
{
	for (size_t i = 0; i < uri->n_opts; i++)
		if (!uri->opts[i].used) {
			psyne__log_error("%s://%s: unknown option '%s' (docs/psyne.md lists each "
					 "scheme's options)",
					 uri->scheme, uri->address, uri->opts[i].key);
			return -EINVAL;
		}
	return 0;
}

bool psyne__name_is_valid(const char *name, size_t max_len)
{
	size_t n = strlen(name);

	if (n == 0 || n > max_len)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int psyne__uri_ring_name(const struct psyne_uri *uri)
{
	if (!psyne__name_is_valid(uri->address, PSYNE_RING_NAME_MAX)) {
		psyne__log_error("%s://%s: a channel name is 1 to %u characters of [A-Za-z0-9._-]",
				 uri->scheme, uri->address, PSYNE_RING_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

int psyne__uri_ring_wait(struct psyne_uri *uri, uint32_t *ret_wait)
{
	const char *v = psyne__uri_get(uri, "wait");
	int r;

	if (!v) {
		*ret_wait = PSYNE_WAIT_AUTO;
		return 0;
	}
	r = psyne__wait_from_string(v);
	if (r < 0) {
		psyne__log_error("%s://%s: wait=%s: expected auto, spin or block", uri->scheme,
				 uri->address, v);
		return r;
	}
	*ret_wait = (uint32_t)r;
	return 0;
}

int psyne__uri_ring_options(struct psyne_uri *uri, uint32_t *ret_mode, uint64_t *ret_capacity)
{
	const char *v;
	uint32_t mode = UINT32_MAX;
	uint64_t capacity = 0;
	int r;

	v = psyne__uri_get(uri, "mode");
	if (v) {
		r = psyne__mode_from_string(v);
		if (r < 0) {
			psyne__log_error("%s://%s: mode=%s: expected spsc, mpsc, spmc or mpmc",
					 uri->scheme, uri->address, v);
			return r;
		}
		mode = (uint32_t)r;
	}
	v = psyne__uri_get(uri, "capacity");
	if (v) {
		r = parse_size(v, &capacity);
		if (r < 0 || capacity < PSYNE_RING_MIN_CAPACITY ||
		    capacity > PSYNE_RING_MAX_CAPACITY) {
			psyne__log_error("%s://%s: capacity=%s: expected a size from 4K to 1G",
					 uri->scheme, uri->address, v);
			return -EINVAL;
		}
		/* Round up to a power of two: the ring masks positions. */
		while ((capacity & (capacity - 1)) != 0)
			capacity = (capacity | (capacity - 1)) + 1;
	}
	*ret_mode = mode;
	*ret_capacity = capacity;
	return 0;
}

int psyne__uri_host_port(const char *address, char *host, size_t size, const char **ret_port)
{
	const char *port, *h;
	uint32_t portnum;
	size_t n;

	if (address[0] == '[') {
		const char *end = strchr(address, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = address + 1;
		n = (size_t)(end - h);
		port = end + 2;
	} else {
		port = strrchr(address, ':');
		if (!port)
			return -EINVAL;
		h = address;
		n = (size_t)(port - address);
		port++;
	}
	if (n == 0 || n >= size || safe_atou32(port, &portnum) < 0 || portnum == 0 ||
	    portnum > 65535)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = 0;
	*ret_port = port;
	return 0;
}

int psyne__uri_resolve(const char *address, bool listen, int socktype, struct addrinfo **ret)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = socktype,
		.ai_flags = AI_NUMERICSERV | (listen ? AI_PASSIVE : 0),
	};
	const char *port;
	char host[256];
	int r;

	if (psyne__uri_host_port(address, host, sizeof(host), &port) < 0) {
		psyne__log_error("%s: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)",
				 address);
		return -EINVAL;
	}
	r = getaddrinfo(listen && streq(host, "*") ? NULL : host, port, &hints, ret);
	if (r != 0) {
		psyne__log_error("%s: %s", address, gai_strerror(r));
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	}
	return 0;
}
