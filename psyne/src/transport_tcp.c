/* SPDX-License-Identifier: MIT */
/*
 * tcp://HOST:PORT: the stream session engine (net*.c) over TCP. HOST is a name, an IPv4
 * address or an IPv6 address in brackets; with ?listen, `*` binds every address.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "uri.h"

int psyne__tcp_resolve(const char *address, bool listen, struct psyne_net_addr *ret)
{
	struct addrinfo *res = NULL;
	int r;

	r = psyne__uri_resolve(address, listen, SOCK_STREAM, &res);
	if (r < 0)
		return r;
	*ret = (struct psyne_net_addr){ .len = res->ai_addrlen };
	memcpy(&ret->ss, res->ai_addr, res->ai_addrlen);
	for (struct addrinfo *ai = res; ai && ret->n_all < PSYNE_NET_ADDRS; ai = ai->ai_next) {
		memcpy(&ret->all[ret->n_all], ai->ai_addr, ai->ai_addrlen);
		ret->all_len[ret->n_all++] = ai->ai_addrlen;
	}
	snprintf(ret->text, sizeof(ret->text), "%s", address);
	freeaddrinfo(res);
	return 0;
}

const struct psyne_transport psyne__transport_tcp;

static const struct psyne_net_family tcp_family = {
	.transport = &psyne__transport_tcp,
	.scheme = PSYNE_NET_TCP,
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
