/* SPDX-License-Identifier: MIT */
/*
 * Datagram checks and sequence accounting of udp:// (udp.h says what they mean). Every
 * datagram comes from the network: nothing in it is trusted, and no value read from it
 * reaches an index or a length before it is checked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "frame.h"
#include "log.h"
#include "udp.h"

int psyne__udp_rx_init(struct psyne_udp_rx *rx, const char *name, uint32_t max_msg,
		       uint32_t max_senders, uint32_t reply_base)
{
	if (!rx || max_senders == 0 || max_senders > PSYNE_UDP_MAX_SENDERS)
		return -EINVAL;
	*rx = (struct psyne_udp_rx){
		.max_msg = max_msg,
		.max_senders = max_senders,
		.reply_base = reply_base,
	};
	snprintf(rx->name, sizeof(rx->name), "%s", name);
	rx->senders = calloc(max_senders, sizeof(*rx->senders));
	if (!rx->senders)
		return -ENOMEM;
	return 0;
}

void psyne__udp_rx_done(struct psyne_udp_rx *rx)
{
	if (!rx)
		return;
	free(rx->senders);
	rx->senders = NULL;
	rx->n_senders = 0;
}

socklen_t psyne__udp_addr_len(const union psyne_udp_addr *a)
{
	switch (a->sa.sa_family) {
	case AF_INET:
		return sizeof(a->in);
	case AF_INET6:
		return sizeof(a->in6);
	default:
		return sizeof(*a);
	}
}

char *psyne__udp_addr_format(const union psyne_udp_addr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET && inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof(host)))
		snprintf(buf, size, "%s:%u", host, ntohs(a->in.sin_port));
	else if (a->sa.sa_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof(host)))
		snprintf(buf, size, "[%s]:%u", host, ntohs(a->in6.sin6_port));
	else
		snprintf(buf, size, "(address family %u)", a->sa.sa_family);
	return buf;
}

/*
 * A copy of the source address that compares by memcmp(): the fields a datagram does not
 * set (sin_zero, the IPv6 flow label) are zeroed.
 */
static void addr_normalize(union psyne_udp_addr *dst, const struct sockaddr *from,
			   socklen_t from_len)
{
	*dst = (union psyne_udp_addr){ 0 };
	if (from)
		memcpy(dst, from, MIN((size_t)from_len, sizeof(*dst)));
	if (dst->sa.sa_family == AF_INET)
		memset(dst->in.sin_zero, 0, sizeof(dst->in.sin_zero));
	else if (dst->sa.sa_family == AF_INET6)
		dst->in6.sin6_flowinfo = 0;
}

static bool addr_equal(const union psyne_udp_addr *a, const union psyne_udp_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Logs a dropped datagram once per source address, and then once that sources ran out. */
static void warn_once(struct psyne_udp_rx *rx, const union psyne_udp_addr *src, const char *why)
{
	char text[INET6_ADDRSTRLEN + 16];

	if (!psyne__log_enabled(PSYNE_LOG_WARNING))
		return;
	for (uint32_t i = 0; i < rx->n_warned; i++)
		if (addr_equal(&rx->warned[i], src))
			return;
	if (rx->n_warned == PSYNE_UDP_WARNED_MAX) {
		if (!rx->warned_full)
			psyne__log_warning("%s: bad datagrams from more than %u sources, no longer "
					   "logging them, ignoring",
					   rx->name, PSYNE_UDP_WARNED_MAX);
		rx->warned_full = true;
		return;
	}
	rx->warned[rx->n_warned++] = *src;
	psyne__log_warning("%s: datagram from %s: %s, ignoring (further ones from there are only "
			   "counted)",
			   rx->name, psyne__udp_addr_format(src, text, sizeof(text)), why);
}

/* Whether the `len` bytes at `buf` are one whole DATA frame; *ret_why says why not. */
static int check_frame(const uint8_t *buf, size_t len, uint32_t max_msg, struct psyne_frame *ret,
		       const char **ret_why)
{
	struct psyne_frame f;
	int r;

	if (len < PSYNE_FRAME_HDR_SIZE) {
		*ret_why = "shorter than a frame header";
		return -EBADMSG;
	}
	r = psyne__frame_decode(buf, max_msg, &f);
	if (r == -EPROTONOSUPPORT) {
		*ret_why = "another frame version";
		return -EBADMSG;
	}
	if (r < 0) {
		*ret_why = "not a psyne frame";
		return -EBADMSG;
	}
	if (f.kind != PSYNE_FRAME_DATA || f.flags != 0) {
		*ret_why = "not a DATA frame";
		return -EBADMSG;
	}
	if ((size_t)f.length != len - PSYNE_FRAME_HDR_SIZE) {
		*ret_why = "length field does not match the datagram";
		return -EBADMSG;
	}
	if (psyne__frame_verify(buf, buf + PSYNE_FRAME_HDR_SIZE, f.length) < 0) {
		*ret_why = "CRC mismatch";
		return -EBADMSG;
	}
	*ret = f;
	return 0;
}

static bool seen_test(const struct psyne_udp_sender *s, uint32_t n)
{
	uint32_t bit = n % PSYNE_UDP_WINDOW;

	return (s->seen[bit / 64] >> (bit % 64) & 1) != 0;
}

static void seen_set(struct psyne_udp_sender *s, uint32_t n, bool v)
{
	uint32_t bit = n % PSYNE_UDP_WINDOW;
	uint64_t mask = UINT64_C(1) << (bit % 64);

	if (v)
		s->seen[bit / 64] |= mask;
	else
		s->seen[bit / 64] &= ~mask;
}

/*
 * The entry of stream (src, stream): found, or a new one in a free entry or in place of the
 * one heard from least recently. *ret_fresh says whether it is new.
 */
static uint32_t sender_get(struct psyne_udp_rx *rx, const union psyne_udp_addr *src,
			   uint32_t stream, bool *ret_fresh)
{
	struct psyne_udp_sender *s;
	uint32_t i, victim = 0;

	*ret_fresh = false;
	if (rx->last < rx->n_senders) {
		s = &rx->senders[rx->last];
		if (s->stream == stream && addr_equal(&s->addr, src))
			return rx->last;
	}
	for (i = 0; i < rx->n_senders; i++) {
		s = &rx->senders[i];
		if (s->stream == stream && addr_equal(&s->addr, src)) {
			rx->last = i;
			return i;
		}
		if (s->last_heard < rx->senders[victim].last_heard)
			victim = i;
	}
	if (rx->n_senders < rx->max_senders) {
		i = rx->n_senders++;
	} else {
		i = victim;
		rx->stats.evicted++;
	}
	s = &rx->senders[i];
	*s = (struct psyne_udp_sender){
		.addr = *src,
		.stream = stream,
		.gen = s->gen + 1,
		.reply_stream = rx->reply_base + rx->n_streams++,
	};
	rx->last = i;
	*ret_fresh = true;
	return i;
}

/* Accounts counter `n` of stream `s`: 0 to deliver, or why it is dropped. */
static int sender_account(struct psyne_udp_rx *rx, struct psyne_udp_sender *s, uint32_t n,
			  bool fresh)
{
	uint32_t ahead = n - s->head, back = s->head - n;

	if (fresh) {
		s->head = n;
		s->span = 1;
		seen_set(s, n, true);
		return 0;
	}
	if (ahead != 0 && ahead < UINT32_C(0x80000000)) {
		/* Forget what the window slides past: those bits now stand for new counters. */
		if (ahead >= PSYNE_UDP_WINDOW)
			memset(s->seen, 0, sizeof(s->seen));
		else
			for (uint32_t k = 1; k <= ahead; k++)
				seen_set(s, s->head + k, false);
		seen_set(s, n, true);
		rx->stats.lost += ahead - 1;
		s->head = n;
		s->span = (uint32_t)MIN((uint64_t)s->span + ahead, (uint64_t)PSYNE_UDP_WINDOW);
		return 0;
	}
	if (back >= s->span) {
		rx->stats.late++;
		return -ESTALE;
	}
	if (seen_test(s, n)) {
		rx->stats.duplicates++;
		return -EALREADY;
	}
	/* Inside the window and not seen: head passed it, so it was counted lost. */
	seen_set(s, n, true);
	rx->stats.reordered++;
	rx->stats.lost--;
	return 0;
}

int psyne__udp_rx_datagram(struct psyne_udp_rx *rx, const void *buf, size_t len, bool truncated,
			   const struct sockaddr *from, socklen_t from_len)
{
	union psyne_udp_addr src;
	struct psyne_frame f;
	const char *why = NULL;
	uint32_t i;
	bool fresh;
	int r;

	addr_normalize(&src, from, from_len);
	if (truncated || len > PSYNE_FRAME_HDR_SIZE + (size_t)rx->max_msg) {
		rx->stats.too_big++;
		warn_once(rx, &src, "larger than max_msg");
		return -EMSGSIZE;
	}
	r = check_frame(buf, len, rx->max_msg, &f, &why);
	if (r < 0) {
		rx->stats.bad++;
		warn_once(rx, &src, why);
		return r;
	}

	i = sender_get(rx, &src, (uint32_t)(f.seq >> 32), &fresh);
	rx->senders[i].last_heard = ++rx->tick;
	r = sender_account(rx, &rx->senders[i], (uint32_t)f.seq, fresh);
	if (r < 0)
		return r;
	rx->stats.received++;
	return (int)i;
}

struct psyne_udp_sender *psyne__udp_rx_sender(struct psyne_udp_rx *rx, uint32_t index, uint32_t gen)
{
	if (index >= rx->n_senders || rx->senders[index].gen != gen)
		return NULL;
	return &rx->senders[index];
}
