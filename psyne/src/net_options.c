/* SPDX-License-Identifier: MIT */
/*
 * The options of the stream transports, from one table: each option's kind, bounds, the
 * schemes and sides that take it, where its value goes and what it means. Every option of
 * a URI is parsed once, when the handle opens; a value out of its bounds, an option of
 * another scheme or of the other side is refused with a line that names it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "common/string-util.h"
#include "log.h"
#include "net_internal.h"
#include "ring.h"

enum net_opt_kind {
	NET_OPT_MS,	/* milliseconds, uint32_t */
	NET_OPT_COUNT,	/* a number, uint32_t */
	NET_OPT_SIZE,	/* bytes with K, M, G suffixes, uint64_t */
	NET_OPT_BOOL,	/* 0 or 1 (a bare flag is 1), bool */
	NET_OPT_STRING, /* 1 to `max` bytes, const char * into the URI */
	NET_OPT_MODE,	/* spsc, mpsc, spmc or mpmc, uint32_t */
};

#define UNIX PSYNE_NET_UNIX
#define TCP PSYNE_NET_TCP
#define TLS PSYNE_NET_TLS
#define STREAMS (UNIX | TCP | TLS)
#define LISTENER 1u
#define DIALER 2u
#define BOTH (LISTENER | DIALER)
#define DAY_MS (24u * 3600 * 1000)
#define CFG(f) offsetof(struct net_options, cfg.f)
#define TLS_OPT(f) offsetof(struct net_options, tls.f)

struct net_option {
	const char *name;
	enum net_opt_kind kind;
	uint64_t min, max;
	uint32_t schemes; /* PSYNE_NET_* */
	uint32_t sides;	  /* LISTENER, DIALER */
	size_t offset;	  /* of the value in struct net_options */
	const char *help;
};

/* clang-format off */
static const struct net_option options[] = {
	{ "listen",          NET_OPT_BOOL,   0, 1,              STREAMS, BOTH,     CFG(listener),           "bind and accept instead of dialing" },
	{ "mode",            NET_OPT_MODE,   0, 0,              STREAMS, BOTH,     CFG(mode),               "how many peers send and receive" },
	{ "capacity",        NET_OPT_SIZE,   64u << 10, 1u << 30, STREAMS, BOTH,   CFG(capacity),           "bytes of each of a session's two rings" },
	{ "heartbeat",       NET_OPT_MS,     10, 600000,        STREAMS, BOTH,     CFG(heartbeat_ms),       "ms of silence before a PING" },
	{ "peer_timeout",    NET_OPT_MS,     10, DAY_MS,        STREAMS, BOTH,     CFG(peer_timeout_ms),    "ms without hearing the peer before its connection is dropped" },
	{ "reconnect",       NET_OPT_MS,     0, DAY_MS,         STREAMS, BOTH,     CFG(reconnect_ms),       "ms a broken session may take to come back; 0: forever" },
	{ "connect_timeout", NET_OPT_MS,     1, DAY_MS,         STREAMS, DIALER,   CFG(connect_timeout_ms), "ms a dialer's open waits for its first session" },
	{ "linger",          NET_OPT_MS,     0, DAY_MS,         STREAMS, BOTH,     CFG(linger_ms),          "ms close waits for what was committed to be acknowledged" },
	{ "max_peers",       NET_OPT_COUNT,  1, 1024,           STREAMS, LISTENER, CFG(max_peers),          "sessions a listener serves at once" },
	{ "nodelay",         NET_OPT_BOOL,   0, 1,              TCP | TLS, BOTH,   CFG(nodelay),            "0 leaves Nagle's algorithm on" },
	{ "memfd_min",       NET_OPT_SIZE,   0, 1u << 30,       UNIX,    BOTH,     CFG(memfd_min),          "messages this large go as sealed memfds; 0: none" },
	{ "cert",            NET_OPT_STRING, 1, 4096,           TLS,     BOTH,     TLS_OPT(cert),           "PEM certificate chain" },
	{ "key",             NET_OPT_STRING, 1, 4096,           TLS,     BOTH,     TLS_OPT(key),            "PEM private key of cert" },
	{ "ca",              NET_OPT_STRING, 1, 4096,           TLS,     BOTH,     TLS_OPT(ca),             "PEM CAs the other side's certificate must be signed by" },
	{ "verify",          NET_OPT_BOOL,   0, 1,              TLS,     DIALER,   TLS_OPT(verify),         "0: do not check the listener's certificate" },
	{ "psk",             NET_OPT_STRING, 32, 128,           TLS,     BOTH,     TLS_OPT(psk),            "pre-shared key, 16 to 64 bytes in hex" },
	{ "psk_identity",    NET_OPT_STRING, 1, 128,            TLS,     BOTH,     TLS_OPT(psk_identity),   "the pre-shared key's name" },
};
/* clang-format on */

static const char *scheme_name(uint32_t scheme)
{
	return scheme == UNIX ? "unix" : scheme == TCP ? "tcp" : "tls";
}

/* "unix:// and tls://", the schemes of `mask`, for a log line. */
static void schemes_text(uint32_t mask, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (uint32_t s = UNIX; s <= TLS; s <<= 1) {
		if (!(mask & s))
			continue;
		n += (size_t)snprintf(buf + n, size - MIN(n, size), "%s%s://", n > 0 ? " and " : "",
				      scheme_name(s));
		if (n >= size)
			break;
	}
}

/* "64K", "1G": a size as an option would give it. */
static void size_text(uint64_t v, char *buf, size_t size)
{
	static const char suffix[] = "KMG";
	int i = -1;

	while (i < 2 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "%" PRIu64 "%c", v, suffix[i]);
}

/* The value of `o` given as `s`, checked against its kind and bounds, stored in *ret. */
static int parse_value(const char *uri, const struct net_option *o, const char *s,
		       struct net_options *ret)
{
	void *at = (uint8_t *)ret + o->offset;
	char lo[32], hi[32];
	uint64_t v;
	uint32_t u;
	int r;

	switch (o->kind) {
	case NET_OPT_MS:
	case NET_OPT_COUNT:
		if (safe_atou32(s, &u) < 0 || u < o->min || u > o->max) {
			psyne__log_error("%s: %s=%s: expected %s from %" PRIu64 " to %" PRIu64
					 " (%s)",
					 uri, o->name, s,
					 o->kind == NET_OPT_MS ? "milliseconds" : "a count", o->min,
					 o->max, o->help);
			return -EINVAL;
		}
		*(uint32_t *)at = u;
		return 0;
	case NET_OPT_SIZE:
		if (parse_size(s, &v) < 0 || v < o->min || v > o->max) {
			size_text(o->min, lo, sizeof(lo));
			size_text(o->max, hi, sizeof(hi));
			psyne__log_error("%s: %s=%s: expected a size from %s to %s (%s)", uri,
					 o->name, s, lo, hi, o->help);
			return -EINVAL;
		}
		*(uint64_t *)at = v;
		return 0;
	case NET_OPT_BOOL:
		if (!streq(s, "") && !streq(s, "0") && !streq(s, "1")) {
			psyne__log_error("%s: %s=%s: expected 0 or 1 (%s)", uri, o->name, s,
					 o->help);
			return -EINVAL;
		}
		*(bool *)at = !streq(s, "0");
		return 0;
	case NET_OPT_STRING:
		if (strlen(s) < o->min || strlen(s) > o->max) {
			psyne__log_error("%s: %s: expected %" PRIu64 " to %" PRIu64
					 " characters (%s)",
					 uri, o->name, o->min, o->max, o->help);
			return -EINVAL;
		}
		*(const char **)at = s;
		return 0;
	case NET_OPT_MODE:
		r = psyne__mode_from_string(s);
		if (r < 0) {
			psyne__log_error("%s: mode=%s: expected spsc, mpsc, spmc or mpmc (%s)", uri,
					 s, o->help);
			return -EINVAL;
		}
		*(uint32_t *)at = (uint32_t)r;
		return 0;
	}
	return -EINVAL;
}

static const struct net_option *option_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(options); i++)
		if (streq(options[i].name, name))
			return &options[i];
	return NULL;
}

int psyne__net_options_parse(const struct psyne_net_family *family, struct psyne_uri *uri,
			     struct net_options *ret)
{
	struct net_options o = {
		.cfg = {
			.mode = PSYNE_MODE_SPSC,
			.capacity = NET_DEFAULT_CAPACITY,
			.heartbeat_ms = NET_DEFAULT_HEARTBEAT_MS,
			.peer_timeout_ms = NET_DEFAULT_PEER_TIMEOUT_MS,
			.reconnect_ms = NET_DEFAULT_RECONNECT_MS,
			.connect_timeout_ms = NET_DEFAULT_CONNECT_TIMEOUT_MS,
			.linger_ms = NET_DEFAULT_LINGER_MS,
			.nodelay = true,
			.fd_passing = family->scheme == UNIX,
			.memfd_min = NET_DEFAULT_MEMFD_MIN,
		},
		.tls = { .verify = true },
	};
	const char *listen = psyne__uri_get(uri, "listen");
	bool peer_timeout_given = false, max_peers_given = false;
	char where[PSYNE_URI_MAX + 8], schemes[64];
	int r;

	snprintf(where, sizeof(where), "%s://%s", uri->scheme, uri->address);
	/* The side first: it decides which of the others are taken. */
	if (listen) {
		r = parse_value(where, option_find("listen"), listen, &o);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < uri->n_opts; i++) {
		const char *name = uri->opts[i].key;
		const struct net_option *opt = option_find(name);

		if (!opt || streq(name, "listen"))
			continue; /* unknown: psyne__uri_check_used() names it */
		if (!(opt->schemes & family->scheme)) {
			schemes_text(opt->schemes, schemes, sizeof(schemes));
			psyne__log_error("%s: option '%s' is not taken by %s:// (%s only: %s)",
					 where, name, uri->scheme, schemes, opt->help);
			return -EINVAL;
		}
		if (!(opt->sides & (o.cfg.listener ? LISTENER : DIALER))) {
			psyne__log_error("%s: option '%s' is %s (%s)", where, name,
					 o.cfg.listener ? "a dialer's, not taken with ?listen" :
							  "a listener's: it needs ?listen",
					 opt->help);
			return -EINVAL;
		}
		r = parse_value(where, opt, psyne__uri_get(uri, name), &o);
		if (r < 0)
			return r;
		peer_timeout_given |= opt->offset == CFG(peer_timeout_ms);
		o.tls.verify_given |= opt->offset == TLS_OPT(verify);
		max_peers_given |= opt->offset == CFG(max_peers);
	}
	if (o.cfg.peer_timeout_ms < o.cfg.heartbeat_ms) {
		psyne__log_error("%s: peer_timeout=%u%s: expected at least heartbeat=%u ms", where,
				 o.cfg.peer_timeout_ms, peer_timeout_given ? "" : " (the default)",
				 o.cfg.heartbeat_ms);
		return -EINVAL;
	}
	if (!max_peers_given)
		o.cfg.max_peers = o.cfg.mode == PSYNE_MODE_SPSC ? 1 : NET_DEFAULT_MAX_PEERS;
	/* Rings are masked positions: a power of two, rounded up. */
	while ((o.cfg.capacity & (o.cfg.capacity - 1)) != 0)
		o.cfg.capacity = (o.cfg.capacity | (o.cfg.capacity - 1)) + 1;
	/* The receiver's ring must hold a whole frame twice over, as the local rings do. */
	o.cfg.max_msg =
		(uint32_t)MIN(o.cfg.capacity / 2 - 2 * PSYNE_FRAME_HDR_SIZE, (uint64_t)UINT32_MAX);
	*ret = o;
	return 0;
}
