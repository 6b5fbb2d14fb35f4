/* SPDX-License-Identifier: MIT */
/*
 * URIs from users: the parser, the ring options and psyne_open() itself (memory:// only,
 * so runs touch no shared state outside the process). Any input must give a channel or a
 * clean error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psyne.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[PSYNE_URI_MAX + 16];
	struct psyne_uri *u;
	uint32_t mode;
	uint64_t capacity;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	u = malloc(sizeof(*u));
	if (!u)
		return 0;
	if (psyne__uri_parse(s, u) == 0) {
		for (size_t i = 0; i < u->n_opts; i++)
			(void)psyne__uri_get(u, u->opts[i].key);
		(void)psyne__uri_ring_options(u, &mode, &capacity);
		(void)psyne__uri_check_used(u);
	}
	free(u);

	/* Through the public entry point, but never onto the machine-wide namespace. */
	if (strncmp(s, "memory://", 9) == 0) {
		struct psyne_channel *ch = NULL;

		if (psyne_open(s, &ch) == 0) {
			(void)psyne_send(ch, "x", 1, 0, 0);
			psyne_close(ch);
		}
	}
	return 0;
}
