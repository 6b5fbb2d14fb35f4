/* SPDX-License-Identifier: MIT */
/*
 * The receive parser of the stream engine (net_internal.h): what a session reads lands in
 * its rx ring, and this checks it frame by frame, marks each, follows the sequence of DATA
 * (duplicates after a resume are skipped, a gap is refused), maps memfd messages, and hands
 * whole messages out and takes them back. It makes no socket call and takes no lock: it
 * works on one struct net_rx, and reports what a frame asks of the session (acknowledge,
 * answer a PING, a HELLO, a REJECT) as an event for the session to act on. fuzz-stream
 * drives it through psyne__net_fuzz_stream() below.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "net_internal.h"

static uint32_t rx_mark(const uint8_t *hdr)
{
	uint32_t v;

	memcpy(&v, hdr + 28, 4);
	return v;
}

static void rx_set_mark(uint8_t *hdr, uint32_t v)
{
	memcpy(hdr + 28, &v, 4);
}

int psyne__net_rx_init(struct net_rx *rx, uint64_t capacity, uint32_t max_msg, bool fd_passing)
{
	*rx = (struct net_rx){
		.seq = UINT64_MAX,
		.max_msg = max_msg,
		.fd_passing = fd_passing,
	};
	return psyne__dbuf_init(&rx->buf, capacity);
}

static void rx_fds_clear(struct net_rx *rx)
{
	while (rx->fds_n > 0) {
		close(rx->fds[rx->fds_head]);
		rx->fds_head = (rx->fds_head + 1) % NET_RX_FDS;
		rx->fds_n--;
	}
}

void psyne__net_rx_done(struct net_rx *rx)
{
	for (uint32_t i = 0; i < rx->n_maps; i++)
		(void)munmap(rx->maps[i].map, rx->maps[i].len); /* ours: cannot fail */
	free(rx->maps);
	rx->maps = NULL;
	rx->n_maps = rx->cap_maps = 0;
	rx_fds_clear(rx);
	psyne__dbuf_done(&rx->buf);
}

int psyne__net_rx_push_fds(struct net_rx *rx, const int *fds, unsigned n)
{
	int r = 0;

	for (unsigned i = 0; i < n; i++) {
		if (rx->fds_n == NET_RX_FDS) {
			close(fds[i]);
			r = -EPROTO; /* descriptors far ahead of their frames */
			continue;
		}
		rx->fds[(rx->fds_head + rx->fds_n) % NET_RX_FDS] = fds[i];
		rx->fds_n++;
	}
	return r;
}

void psyne__net_rx_reset_connection(struct net_rx *rx)
{
	rx_fds_clear(rx);
	rx->filled = rx->parsed;
}

/* Frames not handed out yet, and skipped ones released at once. */
void psyne__net_rx_collect(struct net_rx *rx)
{
	while (rx->free < rx->next) {
		uint8_t *hdr = psyne__dbuf_at(&rx->buf, rx->free);
		uint32_t mark = rx_mark(hdr);

		if (mark != NET_RX_SKIP && mark != NET_RX_RELEASED)
			break;
		rx->free += net_stream_bytes(hdr);
	}
}

static struct net_rx_map *rx_map_find(struct net_rx *rx, uint64_t pos)
{
	for (uint32_t i = 0; i < rx->n_maps; i++)
		if (rx->maps[i].pos == pos)
			return &rx->maps[i];
	return NULL;
}

static void rx_map_remove(struct net_rx *rx, struct net_rx_map *m)
{
	(void)munmap(m->map, m->len); /* ours: cannot fail */
	*m = rx->maps[--rx->n_maps];
}

/*
 * The memfd of the memfd frame at `pos`, the next descriptor received: checked (the size
 * the frame says, sealed against writing and resizing) and mapped read-only, or, for a
 * duplicate (`keep` false), closed.
 */
static int rx_memfd(struct net_rx *rx, uint64_t pos, uint32_t len, bool keep)
{
	struct stat st;
	int fd, seals;
	void *map;

	if (rx->fds_n == 0)
		return -EPROTO; /* a memfd frame without its descriptor */
	fd = rx->fds[rx->fds_head];
	rx->fds_head = (rx->fds_head + 1) % NET_RX_FDS;
	rx->fds_n--;
	if (!keep) {
		close(fd);
		return 0;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (len == 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len ||
	    seals < 0 || (seals & NET_MEMFD_SEALS) != NET_MEMFD_SEALS) {
		close(fd);
		return -EPROTO; /* not a sealed memfd of that size: it could change under us */
	}
	if (rx->n_maps == rx->cap_maps) {
		uint32_t cap = MAX(rx->cap_maps * 2, 16u);
		struct net_rx_map *v = realloc(rx->maps, cap * sizeof(*v));

		if (!v) {
			close(fd);
			return -ENOMEM;
		}
		rx->maps = v;
		rx->cap_maps = cap;
	}
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd); /* the mapping keeps the memory */
	if (map == MAP_FAILED)
		return -errno;
	rx->maps[rx->n_maps++] = (struct net_rx_map){ .pos = pos, .map = map, .len = len };
	return 0;
}

int psyne__net_rx_parse(struct net_rx *rx, bool up, struct net_rx_event *ret)
{
	while (rx->filled - rx->parsed >= PSYNE_FRAME_HDR_SIZE) {
		uint8_t *hdr = psyne__dbuf_at(&rx->buf, rx->parsed);
		struct net_rx_event ev = { .kind = NET_RX_EV_ACK };
		bool memfd, event = false;
		struct psyne_frame f;
		uint32_t n;
		int r;

		r = psyne__frame_decode(hdr, rx->fd_passing ? NET_MEMFD_MAX : rx->max_msg, &f);
		if (r < 0)
			return r;
		memfd = (f.flags & PSYNE_FRAME_F_MEMFD) != 0;
		if (memfd && !rx->fd_passing)
			return -EPROTO; /* memfds travel only over unix:// */
		if (!memfd && f.length > rx->max_msg)
			return -EMSGSIZE;
		n = memfd ? PSYNE_FRAME_HDR_SIZE : net_frame_bytes(f.length);
		if (rx->filled - rx->parsed < n)
			break;
		r = psyne__frame_verify(hdr, hdr + PSYNE_FRAME_HDR_SIZE, memfd ? 0 : f.length);
		if (r < 0)
			return r;
		rx_set_mark(hdr, NET_RX_SKIP);

		switch (f.kind) {
		case PSYNE_FRAME_DATA:
			if (!up)
				return -EPROTO;
			if (rx->seq == UINT64_MAX)
				rx->seq = f.seq;
			if (f.seq > rx->seq)
				return -EPROTO; /* a gap: frames are never lost inside a session */
			if (memfd) {
				r = rx_memfd(rx, rx->parsed, f.length, f.seq == rx->seq);
				if (r < 0)
					return r;
			}
			if (f.seq == rx->seq) {
				rx_set_mark(hdr, NET_RX_DATA);
				rx->seq++;
				rx->data_seen = true;
				/* A memfd frame is a few bytes here, but the sender holds its
				 * descriptor until we acknowledge it, and may hold only
				 * NET_MEMFD_INFLIGHT: a quarter of those weighs a quarter window.
				 */
				rx->unacked += memfd ? MAX((uint64_t)n,
							   rx->remote_window / NET_MEMFD_INFLIGHT) :
						       n;
			}
			break;
		case PSYNE_FRAME_ACK:
			ev = (struct net_rx_event){ .kind = NET_RX_EV_ACK, .seq = f.seq };
			event = true;
			break;
		case PSYNE_FRAME_PING:
			ev = (struct net_rx_event){ .kind = NET_RX_EV_PING, .seq = f.seq };
			event = true;
			break;
		case PSYNE_FRAME_PONG:
			break;
		case PSYNE_FRAME_BYE:
			/* BYE takes the sequence number after the last DATA, so that its
			 * acknowledgement tells the closing side it arrived. */
			if (rx->seq == UINT64_MAX)
				rx->seq = f.seq;
			if (f.seq > rx->seq)
				return -EPROTO;
			if (f.seq == rx->seq)
				rx->seq++;
			rx->bye_received = true;
			ev = (struct net_rx_event){ .kind = NET_RX_EV_BYE, .seq = rx->seq };
			event = true;
			break;
		case PSYNE_FRAME_HELLO:
		case PSYNE_FRAME_REJECT:
			ev = (struct net_rx_event){
				.kind = f.kind == PSYNE_FRAME_HELLO ? NET_RX_EV_HELLO :
								      NET_RX_EV_REJECT,
				.payload = hdr + PSYNE_FRAME_HDR_SIZE,
				.length = f.length,
			};
			event = true;
			break;
		default:
			return -EPROTO;
		}
		/* Control frames and duplicates take no room once read: a handle that only
		 * sends would otherwise fill its ring with acknowledgements and stall. */
		if (rx->next == rx->parsed && rx_mark(hdr) == NET_RX_SKIP)
			rx->next += n;
		rx->parsed += n;
		if (event) {
			*ret = ev;
			return 1;
		}
	}
	return 0;
}

void psyne__net_rx_discard(struct net_rx *rx)
{
	for (uint64_t pos = rx->next; pos < rx->parsed;) {
		uint8_t *hdr = psyne__dbuf_at(&rx->buf, pos);
		struct net_rx_map *m = net_hdr_is_memfd(hdr) ? rx_map_find(rx, pos) : NULL;

		if (m)
			rx_map_remove(rx, m);
		rx_set_mark(hdr, NET_RX_SKIP);
		pos += net_stream_bytes(hdr);
	}
	rx->next = rx->parsed;
	psyne__net_rx_collect(rx);
}

uint64_t psyne__net_rx_missing(const struct net_rx *rx)
{
	if (rx->filled - rx->parsed < PSYNE_FRAME_HDR_SIZE)
		return 0;
	return rx->parsed + net_stream_bytes(psyne__dbuf_at(&rx->buf, rx->parsed)) - rx->filled;
}

int psyne__net_rx_take(struct net_rx *rx, size_t max_size, const void *owner, struct psyne_msg *ret)
{
	while (rx->next < rx->parsed) {
		uint8_t *hdr = psyne__dbuf_at(&rx->buf, rx->next);
		uint32_t len, type;

		uint8_t *data = hdr + PSYNE_FRAME_HDR_SIZE;

		memcpy(&len, hdr + 12, 4);
		len = le32toh(len);
		if (rx_mark(hdr) != NET_RX_DATA) {
			rx->next += net_stream_bytes(hdr);
			continue;
		}
		if (len > max_size)
			return -EMSGSIZE;
		if (net_hdr_is_memfd(hdr)) {
			struct net_rx_map *m = rx_map_find(rx, rx->next);

			if (!m)
				return -EPROTO;
			data = m->map;
		}
		memcpy(&type, hdr + 8, 4);
		rx_set_mark(hdr, NET_RX_HELD);
		*ret = (struct psyne_msg){
			.data = data,
			.size = len,
			.type = le32toh(type),
			.priv = { rx->next, (uint64_t)(uintptr_t)owner },
		};
		rx->next += net_stream_bytes(hdr);
		rx->held++;
		return 0;
	}
	psyne__net_rx_collect(rx);
	return -EAGAIN;
}

bool psyne__net_rx_release(struct net_rx *rx, const struct psyne_msg *msg)
{
	struct net_rx_map *m = NULL;
	uint8_t *hdr;

	if (msg->priv[0] < rx->free || msg->priv[0] >= rx->next)
		return false;
	hdr = psyne__dbuf_at(&rx->buf, msg->priv[0]);
	if (net_hdr_is_memfd(hdr))
		m = rx_map_find(rx, msg->priv[0]);
	if (rx_mark(hdr) != NET_RX_HELD ||
	    (m ? m->map != msg->data : hdr + PSYNE_FRAME_HDR_SIZE != msg->data))
		return false;
	if (m)
		rx_map_remove(rx, m);
	rx_set_mark(hdr, NET_RX_RELEASED);
	rx->held--;
	psyne__net_rx_collect(rx);
	return true;
}

/* ---- fuzzing ----------------------------------------------------------------------- */

/*
 * What the session does with an event, as far as the receive side sees it: a HELLO that
 * does not fit ends the connection, a REJECT ends it with the errno it carries, and
 * acknowledgements that would be sent reset the count of what is unacknowledged.
 */
static int fuzz_event(struct net_rx *rx, bool *up, const struct net_rx_event *ev)
{
	struct psyne_hello h;
	uint32_t e;

	switch (ev->kind) {
	case NET_RX_EV_HELLO:
		/* The session the fuzzer's peer would have dialed is number 1. */
		if (*up || psyne__frame_hello_decode(ev->payload, ev->length, &h) < 0 ||
		    h.session != 1)
			return -EPROTO;
		if (h.next_seq == UINT64_MAX)
			rx->seq = UINT64_MAX; /* a new listener: its numbering starts afresh */
		rx->remote_window = h.window;
		*up = true;
		return 0;
	case NET_RX_EV_REJECT:
		memcpy(&e, ev->payload, 4);
		e = le32toh(e);
		return e > 0 && e < 4096 ? -(int)e : -ECONNREFUSED;
	case NET_RX_EV_PING:
	case NET_RX_EV_BYE:
		if (rx->seq != UINT64_MAX)
			rx->unacked = 0;
		return 0;
	case NET_RX_EV_ACK:
		return 0; /* nothing of ours is unacknowledged */
	}
	return -EPROTO;
}

/*
 * The receive path of a session, without a socket and without a lock, for fuzz-stream:
 * `data` goes into a session's receive ring in chunks of `chunk` bytes (0: as much as fits)
 * and is parsed as the engine parses what it reads; every message taken is read and
 * released. `hello` starts the session in its handshake instead of up. Returns the parser's
 * error (or the session's verdict on an event), else the low 31 bits of the sum of the
 * bytes of every message taken.
 */
int psyne__net_fuzz_stream(const uint8_t *data, size_t len, size_t chunk, bool hello)
{
	struct net_rx rx;
	struct net_rx_event ev;
	bool up = !hello;
	uint64_t sum = 0;
	int r;

	r = psyne__net_rx_init(&rx, NET_MIN_CAPACITY,
			       NET_MIN_CAPACITY / 2 - 2 * PSYNE_FRAME_HDR_SIZE, false);
	if (r < 0) {
		psyne__net_rx_done(&rx);
		return r;
	}
	rx.remote_window = NET_MIN_CAPACITY;
	while (len > 0 && r >= 0) {
		size_t k = MIN(len, (size_t)net_rx_room(&rx));
		struct psyne_msg m;

		if (chunk > 0)
			k = MIN(k, chunk);
		if (k == 0)
			break; /* full of a frame that can never complete: the engine would wait */
		memcpy(psyne__dbuf_at(&rx.buf, rx.filled), data, k);
		rx.filled += k;
		data += k;
		len -= k;
		while ((r = psyne__net_rx_parse(&rx, up, &ev)) > 0) {
			r = fuzz_event(&rx, &up, &ev);
			if (r < 0)
				break;
		}
		if (r < 0)
			break;
		psyne__net_rx_collect(&rx);
		if (net_rx_ack_due(&rx))
			rx.unacked = 0;
		while (psyne__net_rx_take(&rx, SIZE_MAX, &rx, &m) == 0) {
			for (size_t i = 0; i < m.size; i++)
				sum += ((const uint8_t *)m.data)[i];
			if (!psyne__net_rx_release(&rx, &m))
				abort(); /* what was just taken can always be released */
		}
	}
	psyne__net_rx_done(&rx);
	return r < 0 ? r : (int)(sum & 0x7fffffffu);
}
