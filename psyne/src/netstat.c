/* SPDX-License-Identifier: MIT */
/*
 * The writer of a network handle's stats page: see netstat.h for the layout and the
 * consistency rules, inspect.c for the reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abstract.h"
#include "common/macro.h"
#include "netstat.h"

#define NETSTAT_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

struct psyne_netstat *psyne__netstat_free(struct psyne_netstat *s)
{
	if (!s)
		return NULL;
	/* The name first: a reader that still finds it finds a page that is still whole. */
	s->name_fd = safe_close(s->name_fd);
	if (s->hdr)
		(void)munmap(s->hdr, PSYNE_NETSTAT_PAGE_SIZE);
	s->memfd = safe_close(s->memfd);
	free(s);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct psyne_netstat *, psyne__netstat_free);

int psyne__netstat_new(const char *scheme, const char *address, bool listener, uint32_t mode,
		       uint64_t capacity, struct psyne_netstat **ret)
{
	_cleanup_(psyne__netstat_freep) struct psyne_netstat *s = NULL;
	struct psyne_netstat_hdr *hdr;
	void *mem;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->name_fd = -EBADF;
	s->memfd = memfd_create("psyne:netstat", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->memfd < 0)
		return -errno;
	if (ftruncate(s->memfd, PSYNE_NETSTAT_PAGE_SIZE) < 0)
		return -errno;
	if (fcntl(s->memfd, F_ADD_SEALS, NETSTAT_SEALS) < 0)
		return -errno;
	mem = mmap(NULL, PSYNE_NETSTAT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	s->hdr = hdr = mem;
	s->peers = (struct psyne_netstat_peer *)((uint8_t *)mem + PSYNE_NETSTAT_HDR_SIZE);

	/* Nobody else has the page yet: plain stores. The memfd starts zeroed. */
	hdr->magic = PSYNE_NETSTAT_MAGIC;
	hdr->version_major = PSYNE_NETSTAT_VERSION_MAJOR;
	hdr->version_minor = PSYNE_NETSTAT_VERSION_MINOR;
	hdr->header_size = PSYNE_NETSTAT_HDR_SIZE;
	hdr->peer_size = PSYNE_NETSTAT_PEER_SIZE;
	hdr->max_peers = PSYNE_NETSTAT_MAX_PEERS;
	hdr->flags = listener ? PSYNE_NETSTAT_F_LISTENER : 0;
	hdr->page_size = PSYNE_NETSTAT_PAGE_SIZE;
	hdr->capacity = capacity;
	hdr->mode = mode;
	/* Only these: the options may carry secrets (psk=, key=), and say nothing stat shows. */
	snprintf(hdr->uri, sizeof(hdr->uri), "%s://%s%s", scheme, address,
		 listener ? "?listen" : "");

	*ret = TAKE_PTR(s);
	return 0;
}

int psyne__netstat_publish(struct psyne_netstat *s)
{
	int fd;

	if (s->name_fd >= 0)
		return 0;
	fd = psyne__abstract_bind("psyne/1/%u/net/%d/%d", (unsigned)geteuid(), (int)getpid(),
				  s->memfd);
	if (fd < 0)
		return fd;
	s->name_fd = fd;
	return 0;
}

/* Whether entry `e` holds `name` already (zero-padded as psyne__netstat_claim() writes it). */
static bool name_is(const struct psyne_netstat_peer *e, const char *buf)
{
	for (size_t w = 0; w < ELEMENTSOF(e->name); w++) {
		/* Our own stores: a relaxed load sees them. */
		uint64_t v = atomic_load_explicit(&e->name[w], memory_order_relaxed);

		if (memcmp(&v, buf + 8 * w, 8) != 0)
			return false;
	}
	return true;
}

struct psyne_netstat_peer *psyne__netstat_claim(struct psyne_netstat *s, uint32_t i,
						const void *owner, const char *name)
{
	struct psyne_netstat_peer *e;
	char buf[PSYNE_NETSTAT_NAME_MAX];

	if (i >= PSYNE_NETSTAT_MAX_PEERS)
		return NULL;
	e = &s->peers[i];
	/* Zero-padded, and always terminated: the last byte of the last word stays 0. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, name, strnlen(name, sizeof(buf) - 1));
	if (s->owner[i] == owner && name_is(e, buf))
		return e;

	psyne__netstat_begin(&e->gen);
	for (size_t w = 0; w < ELEMENTSOF(e->name); w++) {
		uint64_t v;

		memcpy(&v, buf + 8 * w, 8);
		psyne__netstat_put(&e->name[w], v);
	}
	psyne__netstat_end(&e->gen);
	s->owner[i] = owner;
	return e;
}

void psyne__netstat_trim(struct psyne_netstat *s, uint32_t n)
{
	for (uint32_t i = n; i < PSYNE_NETSTAT_MAX_PEERS; i++)
		s->owner[i] = NULL;
}
