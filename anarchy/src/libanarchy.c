/* SPDX-License-Identifier: MIT */
/*
 * libanarchy: see anarchy.h. The ring checks are the module's own (anarchy_proto.c is
 * built into this library too), so both sides agree on what a valid record is.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "anarchy.h"
#include "anarchy_proto.h"
#include "common/macro.h"

struct ring {
	struct anarchy_ring_header *hdr;
	uint8_t *data;
	uint32_t size;
	size_t map_size;
};

struct anarchy_link {
	int fd;
	struct ring tx, rx;
	uint32_t max_record;
	uint32_t tx_head;      /* ours: published to tx.hdr->head on commit */
	uint32_t rx_tail;      /* ours: published to rx.hdr->tail on release */
	uint32_t reserved_len; /* open reservation: payload bytes; 0 when none */
	uint32_t reserved_pos; /* its header's index, after any padding */
	bool reserving;
	bool holding; /* a received record not yet released */
	uint32_t held_footprint;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds left of timeout_ms since start, for poll(): -1 stays -1. */
static int left_ms(int timeout_ms, uint64_t start)
{
	uint64_t spent;

	if (timeout_ms < 0)
		return -1;
	spent = now_ms() - start;
	return spent >= (uint64_t)timeout_ms ? 0 : (int)((uint64_t)timeout_ms - spent);
}

static int xioctl(int fd, unsigned long cmd, void *arg)
{
	if (ioctl(fd, cmd, arg) < 0)
		return -errno;
	return 0;
}

ANARCHY_API int anarchy_link_open(const char *name, int flags, struct anarchy_link **ret_link)
{
	_cleanup_free_ char *path = NULL;
	struct anarchy_version v = { 0 };
	struct anarchy_link *link;
	const char *p = name;
	int fd, r;

	if (!name || !ret_link || (flags & ~O_NONBLOCK))
		return -EINVAL;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*name && !*p) {
		const char *dir = getenv("ANARCHY_DEV_DIR");

		if (asprintf(&path, "%s/anarchy%s", dir ? dir : "/dev", name) < 0)
			return -ENOMEM;
		name = path;
	}

	fd = open(name, O_RDWR | O_CLOEXEC | flags);
	if (fd < 0)
		return -errno;
	r = xioctl(fd, ANARCHY_IOC_VERSION, &v);
	if (r == 0 && v.major != ANARCHY_ABI_MAJOR)
		r = -EPROTO;
	if (r < 0) {
		close(fd);
		return r;
	}

	link = calloc(1, sizeof(*link));
	if (!link) {
		close(fd);
		return -ENOMEM;
	}
	link->fd = fd;
	*ret_link = link;
	return 0;
}

ANARCHY_API struct anarchy_link *anarchy_link_close(struct anarchy_link *link)
{
	if (!link)
		return NULL;
	if (link->tx.hdr)
		munmap(link->tx.hdr, link->tx.map_size);
	if (link->rx.hdr)
		munmap(link->rx.hdr, link->rx.map_size);
	close(link->fd);
	free(link);
	return NULL;
}

ANARCHY_API int anarchy_link_fd(const struct anarchy_link *link)
{
	return link ? link->fd : -EINVAL;
}

ANARCHY_API int anarchy_link_version(struct anarchy_link *link, struct anarchy_version *ret)
{
	if (!link || !ret)
		return -EINVAL;
	return xioctl(link->fd, ANARCHY_IOC_VERSION, ret);
}

ANARCHY_API int anarchy_link_get_info(struct anarchy_link *link, struct anarchy_link_info *ret)
{
	if (!link || !ret)
		return -EINVAL;
	return xioctl(link->fd, ANARCHY_IOC_LINK_INFO, ret);
}

ANARCHY_API int anarchy_link_set_params(struct anarchy_link *link, const struct anarchy_params *p)
{
	struct anarchy_params copy;

	if (!link || !p)
		return -EINVAL;
	copy = *p;
	return xioctl(link->fd, ANARCHY_IOC_SET_PARAMS, &copy);
}

ANARCHY_API int anarchy_link_connect(struct anarchy_link *link, bool connect)
{
	struct anarchy_connect c = { 0 };

	if (!link)
		return -EINVAL;
	return xioctl(link->fd, connect ? ANARCHY_IOC_CONNECT : ANARCHY_IOC_DISCONNECT, &c);
}

static int ring_map(int fd, uint64_t offset, uint32_t map_size, uint32_t data_size,
		    struct ring *ret)
{
	struct anarchy_ring_header *hdr;

	hdr = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (hdr == MAP_FAILED)
		return -errno;
	if (hdr->magic != ANARCHY_RING_MAGIC || hdr->abi_major != ANARCHY_ABI_MAJOR ||
	    hdr->data_size != data_size || hdr->header_size + data_size != map_size) {
		munmap(hdr, map_size);
		return -EPROTO;
	}
	*ret = (struct ring){
		.hdr = hdr,
		.data = (uint8_t *)hdr + hdr->header_size,
		.size = data_size,
		.map_size = map_size,
	};
	return 0;
}

ANARCHY_API int anarchy_link_map(struct anarchy_link *link, uint32_t tx_size, uint32_t rx_size)
{
	struct anarchy_ring_setup s = { .tx_size = tx_size, .rx_size = rx_size };
	struct ring tx, rx;
	int r;

	if (!link)
		return -EINVAL;
	if (link->tx.hdr)
		return -EBUSY;
	r = xioctl(link->fd, ANARCHY_IOC_SETUP_RINGS, &s);
	if (r < 0)
		return r;
	r = ring_map(link->fd, s.tx_offset, s.tx_map_size, tx_size, &tx);
	if (r < 0)
		return r;
	r = ring_map(link->fd, s.rx_offset, s.rx_map_size, rx_size, &rx);
	if (r < 0) {
		munmap(tx.hdr, tx.map_size);
		return r;
	}
	link->tx = tx;
	link->rx = rx;
	link->max_record = anarchy_ring_max_record(tx_size);
	link->tx_head =
		atomic_load_explicit((_Atomic uint32_t *)&tx.hdr->head, memory_order_acquire);
	link->rx_tail =
		atomic_load_explicit((_Atomic uint32_t *)&rx.hdr->tail, memory_order_acquire);
	return 0;
}

ANARCHY_API uint32_t anarchy_link_max_record(const struct anarchy_link *link)
{
	return link ? link->max_record : 0;
}

static uint32_t load_acquire(const uint32_t *p)
{
	return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

static void store_release(uint32_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}

/* After publishing an index: kick the module if it said it is not watching. The fence
 * orders our index store before our flags load (the module fences the other way). */
static int maybe_kick(struct anarchy_link *link, const struct ring *ring)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!(load_acquire(&ring->hdr->flags) & ANARCHY_RING_NEED_KICK))
		return 0;
	if (ioctl(link->fd, ANARCHY_IOC_KICK, 0) < 0)
		return -errno;
	return 0;
}

ANARCHY_API int anarchy_link_reserve(struct anarchy_link *link, uint32_t len, void **ret_buf)
{
	uint32_t tail;
	int skip;

	if (!link || !ret_buf)
		return -EINVAL;
	if (!link->tx.hdr)
		return -ENOTCONN;
	if (link->reserving)
		return -EBUSY;
	if (load_acquire(&link->tx.hdr->flags) & ANARCHY_RING_DEAD)
		return -EPROTO;

	tail = load_acquire(&link->tx.hdr->tail);
	skip = anarchy_ring_reserve(link->tx.size, link->max_record, link->tx_head, tail, len);
	if (skip == -ENOSPC)
		return -EAGAIN;
	if (skip < 0)
		return skip == -EINVAL ? -EPROTO : skip;

	link->reserved_pos = link->tx_head + (uint32_t)skip;
	link->reserved_len = len;
	link->reserving = true;
	*ret_buf =
		link->tx.data + ((link->reserved_pos + ANARCHY_RECORD_HDR) & (link->tx.size - 1));
	return 0;
}

ANARCHY_API int anarchy_link_commit(struct anarchy_link *link, uint16_t type)
{
	struct anarchy_record rec;
	uint32_t skip;

	if (!link)
		return -EINVAL;
	if (!link->reserving)
		return -ENOENT;

	skip = link->reserved_pos - link->tx_head;
	if (skip)
		anarchy_ring_write_pad(link->tx.data, link->tx.size, link->tx_head, skip);
	rec = (struct anarchy_record){ .len = link->reserved_len, .type = type };
	memcpy(link->tx.data + (link->reserved_pos & (link->tx.size - 1)), &rec, sizeof(rec));
	link->tx_head = link->reserved_pos + anarchy_record_footprint(link->reserved_len);
	link->reserving = false;
	store_release(&link->tx.hdr->head, link->tx_head);
	return maybe_kick(link, &link->tx);
}

ANARCHY_API int anarchy_link_wait(struct anarchy_link *link, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = link ? link->fd : -1, .events = events };
	int n;

	if (!link)
		return -EINVAL;
	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return pfd.revents;
}

ANARCHY_API int anarchy_link_send(struct anarchy_link *link, const void *data, uint32_t len,
				  uint16_t type, int timeout_ms)
{
	uint64_t start = now_ms();
	void *buf;
	int r;

	if (!link || (!data && len))
		return -EINVAL;
	for (;;) {
		r = anarchy_link_reserve(link, len, &buf);
		if (r != -EAGAIN)
			break;
		if (timeout_ms == 0 || left_ms(timeout_ms, start) == 0)
			return -ETIMEDOUT;
		r = anarchy_link_wait(link, POLLOUT,
				      left_ms(timeout_ms, start) < 0 ?
					      100 :
					      MIN(left_ms(timeout_ms, start), 100));
		if (r < 0 && r != -ETIMEDOUT)
			return r;
	}
	if (r < 0)
		return r;
	if (len)
		memcpy(buf, data, len);
	return anarchy_link_commit(link, type);
}

ANARCHY_API uint32_t anarchy_link_unacked(const struct anarchy_link *link)
{
	if (!link || !link->tx.hdr)
		return 0;
	return link->tx_head - load_acquire(&link->tx.hdr->tail);
}

ANARCHY_API int anarchy_link_flush(struct anarchy_link *link, int timeout_ms)
{
	uint64_t start = now_ms();
	struct anarchy_link_info info;
	int r;

	if (!link)
		return -EINVAL;
	while (anarchy_link_unacked(link) != 0) {
		if (load_acquire(&link->tx.hdr->flags) & ANARCHY_RING_DEAD)
			return -EPROTO;
		r = anarchy_link_get_info(link, &info);
		if (r < 0)
			return r;
		if (info.state == ANARCHY_LINK_DOWN || info.state == ANARCHY_LINK_SUSPENDED)
			return -ENOLINK;
		if (left_ms(timeout_ms, start) == 0)
			return -ETIMEDOUT;
		/* POLLOUT fires at half a ring; poll briefly to see the rest acknowledged. */
		r = anarchy_link_wait(link, POLLOUT | POLLPRI, 10);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
		if (r > 0 && anarchy_link_unacked(link) != 0)
			usleep(200);
	}
	return 0;
}

ANARCHY_API int anarchy_link_receive(struct anarchy_link *link, const void **ret_data,
				     uint32_t *ret_len, uint16_t *ret_type)
{
	struct anarchy_ring_rec rec;
	uint32_t head;
	int r;

	if (!link || !ret_data || !ret_len)
		return -EINVAL;
	if (!link->rx.hdr)
		return -ENOTCONN;
	if (link->holding)
		return -EBUSY;

	head = load_acquire(&link->rx.hdr->head);
	for (;;) {
		r = anarchy_ring_peek(link->rx.data, link->rx.size, ANARCHY_MAX_RECORD,
				      link->rx_tail, head, &rec);
		if (r == -EAGAIN)
			return -EAGAIN;
		if (r < 0)
			return -EPROTO;
		if (!(rec.flags & ANARCHY_RECORD_PAD))
			break;
		link->rx_tail += rec.footprint;
		store_release(&link->rx.hdr->tail, link->rx_tail);
	}
	link->holding = true;
	link->held_footprint = rec.footprint;
	*ret_data = link->rx.data + rec.offset + ANARCHY_RECORD_HDR;
	*ret_len = rec.len;
	if (ret_type)
		*ret_type = rec.type;
	return 0;
}

ANARCHY_API int anarchy_link_release(struct anarchy_link *link)
{
	int r;

	if (!link)
		return -EINVAL;
	if (!link->holding)
		return -ENOENT;
	link->holding = false;
	link->rx_tail += link->held_footprint;
	store_release(&link->rx.hdr->tail, link->rx_tail);
	r = maybe_kick(link, &link->rx);
	/* The record is released whatever the link does: a link that is down reads the
	 * ring again when it is back up. */
	return r == -ENOLINK ? 0 : r;
}

ANARCHY_API int anarchy_link_receive_wait(struct anarchy_link *link, const void **ret_data,
					  uint32_t *ret_len, uint16_t *ret_type, int timeout_ms)
{
	uint64_t start = now_ms();
	int r;

	for (;;) {
		r = anarchy_link_receive(link, ret_data, ret_len, ret_type);
		if (r != -EAGAIN)
			return r;
		if (left_ms(timeout_ms, start) == 0)
			return -ETIMEDOUT;
		r = anarchy_link_wait(link, POLLIN, left_ms(timeout_ms, start));
		if (r < 0)
			return r;
	}
}

ANARCHY_API int anarchy_link_read_event(struct anarchy_link *link, struct anarchy_event *ret)
{
	struct pollfd pfd = { .fd = link ? link->fd : -1, .events = POLLPRI };
	ssize_t n;

	if (!link || !ret)
		return -EINVAL;
	if (poll(&pfd, 1, 0) < 0)
		return -errno;
	if (!(pfd.revents & POLLPRI))
		return -EAGAIN;
	n = read(link->fd, ret, sizeof(*ret));
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(*ret))
		return -EAGAIN;
	return 0;
}

ANARCHY_API const char *anarchy_state_to_string(uint32_t state)
{
	static const char *const names[] = {
		[ANARCHY_LINK_DOWN] = "down",
		[ANARCHY_LINK_NEGOTIATING] = "negotiating",
		[ANARCHY_LINK_UP] = "up",
		[ANARCHY_LINK_STALLED] = "stalled",
		[ANARCHY_LINK_SUSPENDED] = "suspended",
	};

	return state < ELEMENTSOF(names) ? names[state] : "unknown";
}

ANARCHY_API const char *anarchy_event_to_string(uint32_t type)
{
	static const char *const names[] = {
		[ANARCHY_EVENT_LINK_UP] = "link-up",
		[ANARCHY_EVENT_LINK_DOWN] = "link-down",
		[ANARCHY_EVENT_HOTPLUG_ADD] = "hotplug-add",
		[ANARCHY_EVENT_HOTPLUG_REMOVE] = "hotplug-remove",
		[ANARCHY_EVENT_STALLED] = "stalled",
		[ANARCHY_EVENT_RESUMED] = "resumed",
		[ANARCHY_EVENT_ERROR] = "error",
		[ANARCHY_EVENT_RING_OVERFLOW] = "ring-overflow",
		[ANARCHY_EVENT_LINK_RESET] = "link-reset",
		[ANARCHY_EVENT_EVENTS_LOST] = "events-lost",
	};

	return type < ELEMENTSOF(names) && names[type] ? names[type] : "unknown";
}
