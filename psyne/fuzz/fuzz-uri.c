/* SPDX-License-Identifier: MIT */
/*
 * URIs from users: the parser, the ring options and psyne_open() itself (memory:// only,
 * so runs touch no shared state outside the process). Any input must give a channel or a
 * clean error, and what is accepted must be what uri.h says:
 *   - a parsed URI has a scheme of [a-z0-9+-], an address without '?', at most
 *     PSYNE_URI_OPTS_MAX options with distinct, non-empty keys, and no '&' or '=' in a key
 *     or value; written out again it is no longer than the input and parses to the same
 *     fields (with and without '=' before empty values);
 *   - psyne__uri_get() finds every option, and psyne__uri_check_used() fails exactly while
 *     one was never read;
 *   - ring options that parse give a PSYNE_MODE_* (or UINT32_MAX: absent) and a capacity
 *     that is 0 (absent) or a power of two within the ring's limits, no less than asked;
 *   - psyne_open() accepts only what parses, and a memory:// channel it opens has the mode
 *     and capacity the URI asked for (spsc and 1M by default) and gives back what is sent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/string-util.h"
#include "psyne.h"
#include "ring.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SCHEME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789+-"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

/* Writes u out as a URI; empty values as flags ("k"), or with `equals`, as "k=". */
static void format(const struct psyne_uri *u, bool equals, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s://%s", u->scheme, u->address);

	for (size_t i = 0; i < u->n_opts; i++) {
		bool flag = !equals && u->opts[i].value[0] == '\0';

		n += snprintf(buf + n, size - (size_t)n, "%s%s%s%s", i == 0 ? "?" : "&",
			      u->opts[i].key, flag ? "" : "=", u->opts[i].value);
	}
	CHECK((size_t)n < size);
}

static bool same_fields(const struct psyne_uri *a, const struct psyne_uri *b)
{
	if (!streq(a->scheme, b->scheme) || !streq(a->address, b->address) ||
	    a->n_opts != b->n_opts)
		return false;
	for (size_t i = 0; i < a->n_opts; i++)
		if (!streq(a->opts[i].key, b->opts[i].key) ||
		    !streq(a->opts[i].value, b->opts[i].value))
			return false;
	return true;
}

static void check_fields(const struct psyne_uri *u)
{
	CHECK(u->scheme[0] != '\0' && strspn(u->scheme, SCHEME_CHARS) == strlen(u->scheme));
	CHECK(u->address[0] != '\0' && !strchr(u->address, '?'));
	CHECK(u->n_opts <= PSYNE_URI_OPTS_MAX);
	for (size_t i = 0; i < u->n_opts; i++) {
		CHECK(u->opts[i].key[0] != '\0' && !strpbrk(u->opts[i].key, "&="));
		CHECK(!strpbrk(u->opts[i].value, "&="));
		for (size_t j = 0; j < i; j++)
			CHECK(!streq(u->opts[i].key, u->opts[j].key));
	}
}

static void check_round_trip(const struct psyne_uri *u, const char *input)
{
	char text[2 * PSYNE_URI_MAX];
	struct psyne_uri *again = malloc(sizeof(*again));

	if (!again)
		return;
	format(u, false, text, sizeof(text));
	CHECK(strlen(text) <= strlen(input));
	CHECK(psyne__uri_parse(text, again) == 0 && same_fields(u, again));
	/* "k=" for the empty values may be one byte longer per option than the input. */
	format(u, true, text, sizeof(text));
	if (strlen(text) < PSYNE_URI_MAX)
		CHECK(psyne__uri_parse(text, again) == 0 && same_fields(u, again));
	free(again);
}

/* The ring options of u, read as psyne__uri_ring_options() documents them. */
static void check_ring_options(struct psyne_uri *u)
{
	const char *mode_text = NULL, *capacity_text = NULL;
	uint64_t capacity, asked;
	uint32_t mode;

	for (size_t i = 0; i < u->n_opts; i++) {
		if (streq(u->opts[i].key, "mode"))
			mode_text = u->opts[i].value;
		if (streq(u->opts[i].key, "capacity"))
			capacity_text = u->opts[i].value;
	}
	if (psyne__uri_ring_options(u, &mode, &capacity) < 0)
		return;
	if (mode_text)
		CHECK(mode < _PSYNE_MODE_MAX && (int)mode == psyne__mode_from_string(mode_text));
	else
		CHECK(mode == UINT32_MAX);
	if (capacity_text) {
		CHECK(parse_size(capacity_text, &asked) == 0);
		CHECK(capacity >= asked && capacity < 2 * asked);
		CHECK((capacity & (capacity - 1)) == 0);
		CHECK(capacity >= PSYNE_RING_MIN_CAPACITY && capacity <= PSYNE_RING_MAX_CAPACITY);
	} else {
		CHECK(capacity == 0);
	}
}

/* A memory:// channel that opened: what the URI asked for, and a working loopback. */
static void check_channel(struct psyne_channel *ch, const char *s)
{
	struct psyne_uri *u = malloc(sizeof(*u));
	struct psyne_stats st;
	uint64_t capacity;
	uint32_t mode, type = 0;
	char buf[2];

	if (!u)
		return;
	/* psyne_open() parsed the same text, and a transport read every option. */
	CHECK(psyne__uri_parse(s, u) == 0);
	CHECK(psyne__name_is_valid(u->address, PSYNE_RING_NAME_MAX));
	CHECK(psyne__uri_ring_options(u, &mode, &capacity) == 0);
	CHECK(psyne__uri_check_used(u) == 0);

	CHECK(psyne_channel_stats(ch, &st) == 0);
	CHECK(st.mode == (mode == UINT32_MAX ? PSYNE_MODE_SPSC : mode));
	CHECK(st.capacity == (capacity == 0 ? 1u << 20 : capacity));

	CHECK(psyne_send(ch, "x", 1, 7, 0) == 0);
	CHECK(psyne_recv(ch, buf, sizeof(buf), &type, 0) == 1);
	CHECK(buf[0] == 'x' && type == 7);
	free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[PSYNE_URI_MAX + 16];
	struct psyne_uri *u;
	bool parsed;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	u = malloc(sizeof(*u));
	if (!u)
		return 0;
	parsed = psyne__uri_parse(s, u) == 0;
	if (parsed) {
		check_fields(u);
		check_round_trip(u, s);
		CHECK(psyne__uri_check_used(u) == (u->n_opts > 0 ? -EINVAL : 0));
		for (size_t i = 0; i < u->n_opts; i++)
			CHECK(psyne__uri_get(u, u->opts[i].key) == u->opts[i].value);
		CHECK(psyne__uri_check_used(u) == 0);
		check_ring_options(u);
	}
	free(u);

	/* Through the public entry point, but never onto the machine-wide namespace. */
	if (strncmp(s, "memory://", 9) == 0) {
		struct psyne_channel *ch = NULL;

		if (psyne_open(s, &ch) == 0) {
			CHECK(parsed);
			check_channel(ch, s);
			psyne_close(ch);
		}
	}
	return 0;
}
