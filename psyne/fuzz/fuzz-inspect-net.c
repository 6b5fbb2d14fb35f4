/* SPDX-License-Identifier: MIT */
/*
 * Hostile stats pages, read the way `psyne stat` reads a network handle's (netstat.h): the
 * input is a page as another process might have left it, and psyne__inspect_net_page()
 * must return (an error is fine) having read nothing outside the page and written nothing
 * at all, and what it returns must be safe to print: terminated strings of printable ASCII,
 * states and counts in range. The page is mapped read-only and ends right where an
 * inaccessible page begins, so a stray write or a read past the end faults even where ASan
 * does not look (mappings are not its to watch).
 *
 * Input: the page's first bytes. The page is as long as the input, at least a whole page
 * of this version and at most 64K, rounded up to 8; the rest is zero.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inspect.h"
#include "netstat.h"
#include "ring.h"

#define FUZZ_MAX_PAGE (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static void check(const struct psyne_inspect_net *net)
{
	if (!is_text(net->uri, sizeof(net->uri)) || !strstr(net->uri, "://") ||
	    net->mode >= _PSYNE_MODE_MAX || net->n_peers > PSYNE_NETSTAT_MAX_PEERS ||
	    net->up > net->n_peers || net->last_error > 0 || net->last_error <= -4096)
		abort();
	for (uint32_t i = 0; i < net->n_peers; i++)
		if (!is_text(net->peers[i].name, sizeof(net->peers[i].name)) ||
		    net->peers[i].state >= _PSYNE_NETSTAT_PEER_MAX)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct psyne_inspect_net net;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len, mapped;
	uint8_t *mem, *at;

	len = size < PSYNE_NETSTAT_PAGE_SIZE ? PSYNE_NETSTAT_PAGE_SIZE : size;
	len = len > FUZZ_MAX_PAGE ? FUZZ_MAX_PAGE : (len + 7) / 8 * 8;
	mapped = (len + page - 1) / page * page;

	mem = mmap(NULL, mapped + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 0;
	/* The page ends where the guard begins; len is a multiple of 8, so words stay aligned. */
	at = mem + (mapped - len);
	memcpy(at, data, size < len ? size : len);
	if (mprotect(mem, mapped, PROT_READ) < 0 || mprotect(mem + mapped, page, PROT_NONE) < 0) {
		(void)munmap(mem, mapped + page);
		return 0;
	}

	if (psyne__inspect_net_page(at, len, &net) == 0)
		check(&net);
	/* Shorter than any header: refused, whatever it holds. */
	if (psyne__inspect_net_page(at, PSYNE_NETSTAT_HDR_SIZE - 1, &net) == 0)
		abort();
	(void)munmap(mem, mapped + page);
	return 0;
}
