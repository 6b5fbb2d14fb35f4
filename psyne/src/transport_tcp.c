/* SPDX-License-Identifier: MIT */
/*
 * tcp://HOST:PORT: the stream session engine (net.c) over TCP. HOST is a name, an IPv4
 * address or an IPv6 address in brackets; with ?listen, `*` binds every address.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/string-util.h"
#include "net.h"

int psyne__tcp_resolve(const char *address, bool listen, struct psyne_net_addr *ret)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (listen ? AI_PASSIVE : 0),
	};
	struct addrinfo *res = NULL;
	char host[256];
	const char *port, *h;
	size_t n;
	uint32_t portnum;
	int r;

	if (address[0] == '[') {
		const char *end = strchr(address, ']');

		if (!end || end[1] != ':')
			goto bad;
		h = address + 1;
		n = (size_t)(end - h);
		port = end + 2;
	} else {
		port = strrchr(address, ':');
		if (!port)
			goto bad;
		h = address;
		n = (size_t)(port - address);
		port++;
	}
	if (n == 0 || n >= sizeof(host) || safe_atou32(port, &portnum) < 0 || portnum == 0 ||
	    portnum > 65535)
		goto bad;
	memcpy(host, h, n);
	host[n] = 0;

	r = getaddrinfo(listen && streq(host, "*") ? NULL : host, port, &hints, &res);
	if (r != 0) {
		log_error("psyne: %s: %s", address, gai_strerror(r));
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	}
	*ret = (struct psyne_net_addr){ .len = res->ai_addrlen };
	memcpy(&ret->ss, res->ai_addr, res->ai_addrlen);
	for (struct addrinfo *ai = res; ai && ret->n_all < PSYNE_NET_ADDRS; ai = ai->ai_next) {
		memcpy(&ret->all[ret->n_all], ai->ai_addr, ai->ai_addrlen);
		ret->all_len[ret->n_all++] = ai->ai_addrlen;
	}
	snprintf(ret->text, sizeof(ret->text), "%s", address);
	freeaddrinfo(res);
	return 0;
bad:
	log_error("psyne: %s: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)", address);
	return -EINVAL;
}

const struct psyne_transport psyne__transport_tcp;

static const struct psyne_net_family tcp_family = {
	.transport = &psyne__transport_tcp,
	.resolve = psyne__tcp_resolve,
};

static int tcp_open(struct psyne_uri *uri, struct psyne_channel **ret_channel)
{
	return psyne__net_open(&tcp_family, uri, ret_channel);
}

const struct psyne_transport psyne__transport_tcp = {
	.scheme = "tcp",
	.open = tcp_open,
	PSYNE_NET_CHANNEL_OPS,
};
