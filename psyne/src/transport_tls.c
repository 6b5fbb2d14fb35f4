/* SPDX-License-Identifier: MIT */
/*
 * tls://HOST:PORT: tcp:// with TLS 1.3 (OpenSSL) between the socket and the session engine
 * (net*.c). Authentication by certificate (cert=, key=, ca=; a listener given ca= requires
 * dialers to show a certificate that CA signed) or by pre-shared key (psk=, psk_identity=).
 */
#include "net.h"

const struct psyne_transport psyne__transport_tls;

static const struct psyne_net_family tls_family = {
	.transport = &psyne__transport_tls,
	.scheme = PSYNE_NET_TLS,
	.resolve = psyne__tcp_resolve,
};

static int tls_open(struct psyne_uri *uri, struct psyne_channel **ret_channel)
{
	return psyne__net_open(&tls_family, uri, ret_channel);
}

const struct psyne_transport psyne__transport_tls = {
	.scheme = "tls",
	.open = tls_open,
	PSYNE_NET_CHANNEL_OPS,
};
