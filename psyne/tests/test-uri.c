/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "common/tests.h"
#include "ring.h"
#include "uri.h"

TEST(uri_parse_basic)
{
	struct psyne_uri u;

	ASSERT_OK(psyne__uri_parse("ipc://cam0?mode=mpsc&capacity=4M&listen", &u));
	ASSERT_STREQ(u.scheme, "ipc");
	ASSERT_STREQ(u.address, "cam0");
	ASSERT_EQ(u.n_opts, 3u);
	ASSERT_STREQ(psyne__uri_get(&u, "mode"), "mpsc");
	ASSERT_STREQ(psyne__uri_get(&u, "capacity"), "4M");
	ASSERT_ERROR(psyne__uri_check_used(&u), EINVAL); /* listen not read */
	ASSERT_STREQ(psyne__uri_get(&u, "listen"), "");
	ASSERT_OK(psyne__uri_check_used(&u));
	ASSERT_NULL(psyne__uri_get(&u, "nope"));
}

TEST(uri_parse_rejects)
{
	static const char *const bad[] = {
		"",	      "ipc",	       "ipc:/x",      "://x",
		"ipc://",     "IPC://x",       "ipc://x?",    "ipc://x?&a=1",
		"ipc://x?=1", "ipc://x?a=1=2", "ipc://x?a&a", "ipc://a b",
		"ipc://x\n",  "ipc://x?a=1&",
	};
	struct psyne_uri u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_ERROR(psyne__uri_parse(bad[i], &u), EINVAL);

	char big[PSYNE_URI_MAX + 8];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "ipc://", 6);
	big[sizeof(big) - 1] = 0;
	ASSERT_ERROR(psyne__uri_parse(big, &u), EINVAL);
}

TEST(uri_ring_options)
{
	struct psyne_uri u;
	uint32_t mode;
	uint64_t cap;

	ASSERT_OK(psyne__uri_parse("memory://a?capacity=5000&mode=mpmc", &u));
	ASSERT_OK(psyne__uri_ring_options(&u, &mode, &cap));
	ASSERT_EQ(mode, (uint32_t)PSYNE_MODE_MPMC);
	ASSERT_EQ(cap, 8192u); /* rounded up to a power of two */

	ASSERT_OK(psyne__uri_parse("memory://a", &u));
	ASSERT_OK(psyne__uri_ring_options(&u, &mode, &cap));
	ASSERT_EQ(mode, UINT32_MAX);
	ASSERT_EQ(cap, 0u);

	ASSERT_OK(psyne__uri_parse("memory://a?mode=fifo", &u));
	ASSERT_ERROR(psyne__uri_ring_options(&u, &mode, &cap), EINVAL);
	ASSERT_OK(psyne__uri_parse("memory://a?capacity=1K", &u));
	ASSERT_ERROR(psyne__uri_ring_options(&u, &mode, &cap), EINVAL);
	ASSERT_OK(psyne__uri_parse("memory://a?capacity=2G", &u));
	ASSERT_ERROR(psyne__uri_ring_options(&u, &mode, &cap), EINVAL);
	ASSERT_OK(psyne__uri_parse("memory://a?capacity=12Q", &u));
	ASSERT_ERROR(psyne__uri_ring_options(&u, &mode, &cap), EINVAL);
}

TEST(host_port)
{
	char host[16];
	const char *port;

	ASSERT_OK(psyne__uri_host_port("127.0.0.1:7000", host, sizeof(host), &port));
	ASSERT_STREQ(host, "127.0.0.1");
	ASSERT_STREQ(port, "7000");
	ASSERT_OK(psyne__uri_host_port("[::1]:1", host, sizeof(host), &port));
	ASSERT_STREQ(host, "::1");
	ASSERT_STREQ(port, "1");
	ASSERT_OK(psyne__uri_host_port("*:65535", host, sizeof(host), &port));
	ASSERT_STREQ(host, "*");
	const char *bad[] = { "127.0.0.1", ":7000",	"h:0",	"h:65536",
			      "h:7x",	   "[::1]7000", "[::1", "a-very-long-host-name:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_ERROR(psyne__uri_host_port(bad[i], host, sizeof(host), &port), EINVAL);
}

TEST(name_validity)
{
	ASSERT_TRUE(psyne__name_is_valid("cam-0.left_eye", 48));
	ASSERT_FALSE(psyne__name_is_valid("", 48));
	ASSERT_FALSE(psyne__name_is_valid("a/b", 48));
	ASSERT_FALSE(psyne__name_is_valid("a%b", 48));
	ASSERT_FALSE(psyne__name_is_valid("0123456789012345678901234567890123456789012345678", 48));
}

DEFINE_TEST_MAIN();
