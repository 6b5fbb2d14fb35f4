/* SPDX-License-Identifier: MIT */
/*
 * memory://NAME: a ring in an anonymous mapping, shared by the handles of one process
 * through a registry of names. The region lives while a handle refers to it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "ring_channel.h"

#define MEMORY_DEFAULT_CAPACITY (1u << 20)

struct mem_region {
	struct mem_region *next;
	char name[PSYNE_RING_NAME_MAX + 1];
	void *mem;
	uint64_t size;
	unsigned refs;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_region *registry;

/* Finds or creates the region of `name`; takes a reference. Call with registry_lock held. */
static int region_get(const char *name, uint32_t mode, uint64_t capacity, struct mem_region **ret)
{
	struct mem_region *m;
	int r;

	for (m = registry; m; m = m->next)
		if (streq(m->name, name)) {
			r = psyne__ring_check(m->mem, m->size, name, mode, capacity);
			if (r < 0)
				return r;
			m->refs++;
			*ret = m;
			return 0;
		}

	if (mode == UINT32_MAX)
		mode = PSYNE_MODE_SPSC;
	if (capacity == 0)
		capacity = MEMORY_DEFAULT_CAPACITY;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->size = psyne__ring_region_size(capacity);
	m->mem = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->mem == MAP_FAILED) {
		r = -errno;
		free(m);
		return r;
	}
	r = psyne__ring_format(m->mem, m->size, name, mode, capacity);
	if (r < 0) {
		(void)munmap(m->mem, m->size);
		free(m);
		return r;
	}
	strcpy(m->name, name); /* length checked by the caller */
	m->refs = 1;
	m->next = registry;
	registry = m;
	*ret = m;
	return 0;
}

static void region_put(struct mem_region *m)
{
	struct mem_region **p;

	if (--m->refs > 0)
		return;
	for (p = &registry; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	(void)munmap(m->mem, m->size);
	free(m);
}

static void mem_close(struct psyne_channel *ch)
{
	struct ring_channel *c = (struct ring_channel *)ch;

	pthread_mutex_lock(&registry_lock);
	psyne__ring_leave(&c->ring);
	region_put(c->owner);
	pthread_mutex_unlock(&registry_lock);
	free(c);
}

static int mem_open(struct psyne_uri *uri, struct psyne_channel **ret_channel)
{
	struct ring_channel *c;
	struct mem_region *m = NULL;
	uint32_t mode, wait;
	uint64_t capacity;
	int r;

	r = psyne__uri_ring_name(uri);
	if (r < 0)
		return r;
	r = psyne__uri_ring_options(uri, &mode, &capacity);
	if (r < 0)
		return r;
	r = psyne__uri_ring_wait(uri, &wait);
	if (r < 0)
		return r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &psyne__transport_memory;
	c->memfd = -EBADF;
	c->member_fd = -EBADF;

	pthread_mutex_lock(&registry_lock);
	r = region_get(uri->address, mode, capacity, &m);
	if (r >= 0) {
		r = psyne__ring_join(&c->ring, m->mem, m->size, false);
		if (r < 0)
			region_put(m);
	}
	pthread_mutex_unlock(&registry_lock);
	if (r < 0) {
		free(c);
		return r;
	}
	c->owner = m;
	psyne__ring_set_wait(&c->ring, wait);
	*ret_channel = &c->base;
	return 0;
}

const struct psyne_transport psyne__transport_memory = {
	.scheme = "memory",
	.open = mem_open,
	.close = mem_close,
	PSYNE_RING_CHANNEL_OPS,
};
