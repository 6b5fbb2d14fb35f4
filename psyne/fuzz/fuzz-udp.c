/* SPDX-License-Identifier: MIT */
/*
 * Hostile datagrams through udp://'s receiving side (udp.h), as transport_udp.c hands them
 * over after recvmmsg(): every call must return, every access stay inside the datagram
 * (ASan), and the accounting stay consistent: each datagram is counted exactly once, in the
 * counter its verdict names; a delivered one is a whole, valid DATA frame of at most max_msg
 * bytes whose sender entry holds its source and stream; lost never underflows; the table
 * never outgrows max_senders.
 *
 * Input: two bytes of settings, then datagrams, each as
 *   [source] [length, u16 little-endian] [bytes]
 * (a length past the end of the input takes what is left).
 *   settings [0]: max_msg, an index into max_msgs[] (modulo its size)
 *   settings [1]: bits 0-1: max_senders - 1 (few, so that eviction is common); bit 2: set
 *                 the CRC of every datagram of 32 bytes or more right, so that mutations
 *                 reach the sequence accounting instead of stopping at the checksum
 *   source: bit 6 picks IPv6 over IPv4, bits 0-1 the address, bits 2-3 the port
 * A datagram longer than 32 + max_msg is cut there and marked truncated, as MSG_TRUNC does.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "frame.h"
#include "udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t max_msgs[] = { 0, 16, 1440, 65475 };

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static void source(uint8_t sel, union psyne_udp_addr *a)
{
	*a = (union psyne_udp_addr){ 0 };
	if ((sel & 0x40) != 0) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)(5000 + (sel >> 2 & 3)));
		a->in6.sin6_addr.s6_addr[0] = 0xfd;
		a->in6.sin6_addr.s6_addr[15] = (uint8_t)(1 + (sel & 3));
	} else {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons((uint16_t)(5000 + (sel >> 2 & 3)));
		a->in.sin_addr.s_addr = htonl(0x0a000001u + (sel & 3));
	}
}

static uint64_t total(const struct psyne_udp_stats *s)
{
	return s->received + s->duplicates + s->late + s->bad + s->too_big;
}

static void check_delivered(struct psyne_udp_rx *rx, int r, const uint8_t *d, size_t len,
			    const union psyne_udp_addr *from)
{
	struct psyne_udp_sender *s;
	struct psyne_frame f;

	CHECK((uint32_t)r < rx->n_senders);
	CHECK(len >= PSYNE_FRAME_HDR_SIZE && len - PSYNE_FRAME_HDR_SIZE <= rx->max_msg);
	CHECK(psyne__frame_decode(d, rx->max_msg, &f) == 0);
	CHECK(f.kind == PSYNE_FRAME_DATA && f.flags == 0);
	CHECK(f.length == len - PSYNE_FRAME_HDR_SIZE);
	CHECK(psyne__frame_verify(d, d + PSYNE_FRAME_HDR_SIZE, f.length) == 0);
	s = psyne__udp_rx_sender(rx, (uint32_t)r, rx->senders[r].gen);
	CHECK(s != NULL);
	CHECK(s->stream == (uint32_t)(f.seq >> 32));
	CHECK(memcmp(&s->addr, from, sizeof(*from)) == 0);
	CHECK(s->span >= 1 && s->span <= PSYNE_UDP_WINDOW);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t copy[65536];
	struct psyne_udp_rx rx;
	size_t pos = 2;
	bool fix_crc;

	if (size < 2)
		return 0;
	log_set_max_level(LOG_ERR); /* the once-per-source warnings are noise here */
	fix_crc = (data[1] & 4) != 0;
	if (psyne__udp_rx_init(&rx, "udp://fuzz:1", max_msgs[data[0] % ELEMENTSOF(max_msgs)],
			       1u + (data[1] & 3u), 0x5eed) < 0)
		return 0;
	while (pos + 3 <= size) {
		union psyne_udp_addr from;
		struct psyne_udp_stats before = rx.stats;
		size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8, cut;
		const uint8_t *d = data + pos + 3;
		bool truncated;
		int r;

		source(data[pos], &from);
		pos += 3;
		len = MIN(len, size - pos);
		pos += len;
		cut = MIN(len, PSYNE_FRAME_HDR_SIZE + (size_t)rx.max_msg);
		truncated = cut < len;
		if (fix_crc && cut >= PSYNE_FRAME_HDR_SIZE) {
			uint32_t crc;

			memcpy(copy, d, cut);
			crc = htole32(psyne__frame_crc(copy, copy + PSYNE_FRAME_HDR_SIZE,
						       cut - PSYNE_FRAME_HDR_SIZE));
			memcpy(copy + offsetof(struct psyne_frame_hdr, crc), &crc, sizeof(crc));
			d = copy;
		}

		r = psyne__udp_rx_datagram(&rx, d, cut, truncated, &from.sa,
					   psyne__udp_addr_len(&from));

		CHECK(total(&rx.stats) == total(&before) + 1);
		CHECK(rx.n_senders <= rx.max_senders);
		CHECK(rx.stats.lost < UINT64_C(1) << 62); /* no underflow */
		CHECK(rx.stats.reordered <= rx.stats.received);
		switch (r) {
		case -EMSGSIZE:
			CHECK(rx.stats.too_big == before.too_big + 1);
			break;
		case -EBADMSG:
			CHECK(rx.stats.bad == before.bad + 1);
			break;
		case -EALREADY:
			CHECK(rx.stats.duplicates == before.duplicates + 1);
			break;
		case -ESTALE:
			CHECK(rx.stats.late == before.late + 1);
			break;
		default:
			CHECK(r >= 0);
			CHECK(rx.stats.received == before.received + 1);
			check_delivered(&rx, r, d, cut, &from);
			break;
		}
	}
	psyne__udp_rx_done(&rx);
	return 0;
}
