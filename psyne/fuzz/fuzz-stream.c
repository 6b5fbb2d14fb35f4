/* SPDX-License-Identifier: MIT */
/*
 * Hostile byte streams through the stream engine's own receive path (net.c: rx_parse(),
 * the session's sequence checks, acknowledgements, PING/BYE/HELLO handling, taking and
 * releasing messages), as a peer on unix://, tcp:// or tls:// could send them. Every call
 * must return and every access stay inside the rings (ASan); nothing may leak.
 *
 * Input: one byte of settings, then the stream.
 *   bit 7     the session is still in its handshake (expects HELLO) rather than up
 *   bits 0-6  chunk size of the reads: 0 = as much as fits, n = n bytes at a time
 */
#include <stdint.h>

#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	(void)psyne__net_fuzz_stream(data + 1, size - 1, data[0] & 0x7fu, (data[0] & 0x80u) != 0);
	return 0;
}
