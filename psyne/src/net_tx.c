/* SPDX-License-Identifier: MIT */
/*
 * The send side of the stream engine (net_internal.h): a session's tx ring of slots, the
 * control frames it owes, what each write takes (a plan), the stage that small frames and
 * TLS records are copied through, and the flush that writes them. Batching decisions are
 * psyne__net_commit()'s (net.c) and the I/O thread's; this file only writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "net_internal.h"
#include "tls.h"

struct net_memfd_ref *psyne__net_slot_memfd(struct net_slot *s)
{
	uint8_t *hdr = (uint8_t *)(s + 1);

	return net_hdr_is_memfd(hdr) ? (struct net_memfd_ref *)(hdr + PSYNE_FRAME_HDR_SIZE) : NULL;
}

/* Lets go of a memfd slot's descriptor and mapping (acknowledged, cancelled, freed). */
void psyne__net_slot_memfd_drop(struct net_chan *c, struct net_slot *s)
{
	struct net_memfd_ref *m = psyne__net_slot_memfd(s);

	if (!m)
		return;
	if (m->map)
		(void)munmap(m->map, m->reserved); /* cannot fail on a mapping we made */
	if (m->fd >= 0) {
		close(m->fd);
		c->memfds--;
		c->memfd_bytes -= m->reserved;
	}
	m->map = NULL;
	m->fd = -1;
}

/* A memfd for a message of `size` bytes, mapped for the caller to write into. */
int psyne__net_memfd_reserve(struct net_slot *s, size_t size, uint8_t **ret_data)
{
	uint8_t *hdr = (uint8_t *)(s + 1);
	struct net_memfd_ref *m = (struct net_memfd_ref *)(hdr + PSYNE_FRAME_HDR_SIZE);
	uint16_t flags = htole16(PSYNE_FRAME_F_MEMFD);
	int fd, r;
	void *map;

	fd = memfd_create("psyne-msg", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		r = -errno;
		close(fd);
		return r;
	}
	memcpy(hdr + 6, &flags, 2);
	*m = (struct net_memfd_ref){ .fd = fd, .reserved = (uint32_t)size, .map = map };
	*ret_data = map;
	return 0;
}

/* Commit of a memfd message: unmap it, trim it to its size and seal it for good. */
int psyne__net_memfd_commit(struct net_memfd_ref *m, size_t size)
{
	if (m->map) {
		(void)munmap(m->map, m->reserved); /* cannot fail on a mapping we made */
		m->map = NULL;
	}
	if (size < m->reserved && ftruncate(m->fd, (off_t)size) < 0)
		return -errno;
	if (fcntl(m->fd, F_ADD_SEALS, NET_MEMFD_SEALS | F_SEAL_SEAL) < 0)
		return -errno;
	return 0;
}

/* sendmsg() or its TLS counterpart; `pass_fd` >= 0 goes along with the first byte. */
ssize_t psyne__net_stream_writev(struct psyne_tls *tls, int fd, struct iovec *iov, int n,
				 int pass_fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t w;

	if (tls)
		return psyne__tls_writev(tls, iov, n);
	if (pass_fd >= 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		control.h.cmsg_level = SOL_SOCKET;
		control.h.cmsg_type = SCM_RIGHTS;
		control.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&control.h), &pass_fd, sizeof(int));
	}
	w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	return w < 0 ? -errno : w;
}

/* Queues a control frame; false when the queue is full (what matters is sent again). */
bool psyne__net_ctl_append(struct net_peer *p, uint8_t kind, uint64_t seq, const void *payload,
			   uint32_t len)
{
	struct psyne_frame f = { .kind = kind, .seq = seq, .length = len };
	uint32_t n = net_frame_bytes(len);

	if (p->tx.ctl_off > 0 && p->tx.ctl_off == p->tx.ctl_len)
		p->tx.ctl_off = p->tx.ctl_len = 0;
	if (p->tx.ctl_len + n > NET_CTL_MAX)
		return false;
	memset(p->tx.ctl + p->tx.ctl_len, 0, n);
	if (len > 0)
		memcpy(p->tx.ctl + p->tx.ctl_len + PSYNE_FRAME_HDR_SIZE, payload, len);
	psyne__frame_encode(p->tx.ctl + p->tx.ctl_len, &f,
			    p->tx.ctl + p->tx.ctl_len + PSYNE_FRAME_HDR_SIZE, len);
	p->tx.ctl_len += n;
	return true;
}

void psyne__net_send_hello(struct net_peer *p, uint64_t next_seq)
{
	struct net_chan *c = p->ch;
	uint8_t buf[PSYNE_FRAME_HELLO_SIZE];
	struct psyne_hello h = {
		.session = p->session,
		.next_seq = next_seq,
		.mode = c->cfg.mode,
		.max_msg = c->cfg.max_msg,
		.heartbeat_ms = c->cfg.heartbeat_ms,
		.flags = c->cfg.listener ? PSYNE_HELLO_F_LISTENER : 0,
		.window = p->tx.buf.capacity,
	};

	psyne__frame_hello_encode(buf, &h);
	(void)psyne__net_ctl_append(p, PSYNE_FRAME_HELLO, 0, buf, sizeof(buf));
}

void psyne__net_send_reject(struct psyne_tls *tls, int fd, int err, const char *reason)
{
	uint8_t buf[PSYNE_FRAME_HDR_SIZE + 264];
	uint32_t len = 4 + (uint32_t)MIN(strlen(reason), (size_t)256);
	struct psyne_frame f = { .kind = PSYNE_FRAME_REJECT, .length = len };
	uint32_t e = htole32((uint32_t)err);

	memset(buf, 0, sizeof(buf));
	memcpy(buf + PSYNE_FRAME_HDR_SIZE, &e, 4);
	memcpy(buf + PSYNE_FRAME_HDR_SIZE + 4, reason, len - 4);
	psyne__frame_encode(buf, &f, buf + PSYNE_FRAME_HDR_SIZE, len);
	/* Best effort: the connection is closed right after. */
	(void)psyne__net_stream_writev(
		tls, fd, &(struct iovec){ .iov_base = buf, .iov_len = net_frame_bytes(len) }, 1,
		-1);
}

/* ---- tx ---------------------------------------------------------------------------- */

/* Moves `ready` over slots committed or cancelled in order, numbering them. */
void psyne__net_tx_advance_ready(struct net_peer *p)
{
	while (p->tx.ready < p->tx.end) {
		struct net_slot *s = net_slot_at(p, p->tx.ready);
		uint8_t *hdr = (uint8_t *)(s + 1);

		if (s->flags == NET_SLOT_RESERVED)
			break;
		if (s->flags == NET_SLOT_READY) {
			struct psyne_frame f;
			uint32_t type, len;

			bool memfd = net_hdr_is_memfd(hdr);

			memcpy(&type, hdr + 8, 4);
			memcpy(&len, hdr + 12, 4);
			f = (struct psyne_frame){
				.kind = PSYNE_FRAME_DATA,
				.flags = memfd ? PSYNE_FRAME_F_MEMFD : 0,
				.type = type,
				.length = len,
				.seq = p->tx.seq++,
			};
			/* A memfd frame's CRC covers its header: the payload is sealed instead. */
			psyne__frame_encode(hdr, &f, hdr + PSYNE_FRAME_HDR_SIZE, memfd ? 0 : len);
		}
		p->tx.ready += s->total;
	}
}

/* Frees acknowledged slots: every DATA below seq `upto`. */
void psyne__net_tx_ack(struct net_peer *p, uint64_t upto)
{
	if (p->bye_sent && upto == p->tx.seq + 1) {
		p->bye_acked = true; /* see PSYNE_FRAME_BYE in psyne__net_rx_parse() */
		net_wake_user(p->ch);
		upto = p->tx.seq;
	}
	if (upto <= p->tx.acked_seq || upto > p->tx.seq)
		return;
	while (p->tx.acked < p->tx.ready && p->tx.acked_seq < upto) {
		struct net_slot *s = net_slot_at(p, p->tx.acked);

		if (s->flags == NET_SLOT_READY)
			p->tx.acked_seq++;
		psyne__net_slot_memfd_drop(p->ch, s);
		p->tx.acked += s->total;
		/* Only a resume acknowledges what this connection has not sent. A write in
		 * flight accounts for itself (tx_done()), even if the peer acknowledged part
		 * of it before the system call returned. */
		if (p->tx.slot < p->tx.acked && !p->conn.writing) {
			p->tx.slot = p->tx.acked;
			p->tx.off = 0;
		}
	}
	/* Cancelled slots right behind the acknowledged ones are free too. */
	while (p->tx.acked < p->tx.slot && net_slot_at(p, p->tx.acked)->flags == NET_SLOT_CANCELLED)
		p->tx.acked += net_slot_at(p, p->tx.acked)->total;
	net_wake_user(p->ch);
}

/* The wire bytes of the slot at pos: NULL for a cancelled one. */
static uint8_t *slot_wire(struct net_peer *p, uint64_t pos, uint32_t *ret_len)
{
	struct net_slot *s = net_slot_at(p, pos);

	if (s->flags != NET_SLOT_READY)
		return NULL;
	*ret_len = net_stream_bytes((uint8_t *)(s + 1));
	return (uint8_t *)(s + 1);
}

struct tx_plan {
	struct iovec iov[NET_IOV_MAX];
	int n;
	size_t bytes;
	bool ctl_first; /* the control bytes go before the data */
	uint32_t ctl_bytes;
	int pass_fd; /* a memfd frame's descriptor, sent with the plan's first byte */
};

static void plan_add(struct tx_plan *t, void *base, size_t len)
{
	t->iov[t->n++] = (struct iovec){ .iov_base = base, .iov_len = len };
	t->bytes += len;
}

/* What to write now: a partial data frame, then control frames, then ready data. */
static void tx_plan(struct net_peer *p, struct tx_plan *t)
{
	uint64_t pos = p->tx.slot;
	uint32_t off = p->tx.off, len;
	uint8_t *w;

	t->n = 0;
	t->bytes = 0;
	t->ctl_bytes = 0;
	t->pass_fd = -1;
	t->ctl_first = p->tx.ctl_off > 0 || off == 0;
	if (!t->ctl_first && pos < p->tx.ready) {
		w = slot_wire(p, pos, &len);
		if (w)
			plan_add(t, w + off, len - off);
		pos += net_slot_at(p, pos)->total;
		off = 0;
	}
	if (p->tx.ctl_len > p->tx.ctl_off) {
		t->ctl_bytes = p->tx.ctl_len - p->tx.ctl_off;
		plan_add(t, p->tx.ctl + p->tx.ctl_off, t->ctl_bytes);
	}
	if (p->state != NET_PEER_UP)
		return; /* only control frames until the handshake is done */
	for (; pos < p->tx.ready && t->n < (int)NET_IOV_MAX; pos += net_slot_at(p, pos)->total) {
		struct net_memfd_ref *m;

		w = slot_wire(p, pos, &len);
		if (!w)
			continue;
		/* A memfd frame's descriptor rides on the first byte of a write of its own. */
		m = psyne__net_slot_memfd(net_slot_at(p, pos));
		if (m && off == 0) {
			if (t->n > 0)
				break;
			t->pass_fd = m->fd;
			plan_add(t, w, len);
			break;
		}
		plan_add(t, w + off, len - off);
		off = 0;
	}
}

/* Accounts `n` written bytes against the plan's order. */
static void tx_done(struct net_peer *p, const struct tx_plan *t, size_t n)
{
	bool data_first = !t->ctl_first;
	uint64_t slot = p->tx.slot;
	uint32_t len;

	if (n > 0)
		p->last_tx_ns = net_now();
	for (int pass = 0; pass < 3 && n > 0; pass++) {
		bool ctl_pass = (pass == 0 && !data_first) || (pass == 1 && data_first);

		if (pass == 0 && data_first) {
			/* The rest of the partial frame. */
			uint8_t *w = slot_wire(p, p->tx.slot, &len);
			size_t k = w ? MIN(n, (size_t)(len - p->tx.off)) : 0;

			p->tx.off += (uint32_t)k;
			n -= k;
			if (!w || p->tx.off == len) {
				p->tx.slot += net_slot_at(p, p->tx.slot)->total;
				p->tx.off = 0;
			}
			continue;
		}
		if (ctl_pass) {
			/* The plan's control bytes: more may have been queued during the write. */
			size_t k = MIN(n, (size_t)t->ctl_bytes);

			p->tx.ctl_off += (uint32_t)k;
			n -= k;
			if (p->tx.ctl_off == p->tx.ctl_len)
				p->tx.ctl_off = p->tx.ctl_len = 0;
			continue;
		}
		/* Whole data frames, then maybe a partial one. */
		while (n > 0 && p->tx.slot < p->tx.ready) {
			uint8_t *w = slot_wire(p, p->tx.slot, &len);
			size_t k;

			if (!w) {
				p->tx.slot += net_slot_at(p, p->tx.slot)->total;
				continue;
			}
			k = MIN(n, (size_t)(len - p->tx.off));
			p->tx.off += (uint32_t)k;
			n -= k;
			if (p->tx.off < len)
				break;
			p->tx.slot += net_slot_at(p, p->tx.slot)->total;
			p->tx.off = 0;
		}
	}
	/* Cancelled slots at the send position are passed over too. */
	while (p->tx.off == 0 && p->tx.slot < p->tx.ready && !slot_wire(p, p->tx.slot, &len))
		p->tx.slot += net_slot_at(p, p->tx.slot)->total;
	/* Only messages count for batching (psyne__net_commit()): a commit right after an
	 * acknowledgement we wrote is still a lone message. */
	if (p->tx.slot != slot || p->tx.off != 0) {
		p->tx.last_write_ns = p->last_tx_ns;
		p->tx.taken_since_write = false;
	}
}

bool psyne__net_tx_pending(struct net_peer *p)
{
	if (p->tx.ctl_len > p->tx.ctl_off || p->tx.stage_off < p->tx.stage_len)
		return true;
	return p->state == NET_PEER_UP && p->tx.slot < p->tx.ready;
}

/*
 * The stage: a buffer that what the plan says is copied into and counted as sent at once;
 * it is written out before anything else. TLS needs it: a write that could not finish must
 * be retried with the very same bytes (OpenSSL has already sealed them into a record),
 * whatever was queued since. Plain sockets use it for runs of small frames: the kernel
 * copies an iovec of a few dozen bytes at several times the cost of the bytes themselves,
 * so a stream of small messages goes out as one contiguous write instead (large frames,
 * and memfd frames, still go straight from the slots). With `small`, only the plan's
 * leading pieces under NET_COALESCE_MAX are taken, and only at least two of them.
 * Returns the bytes staged.
 */
static uint32_t stage_fill(struct net_peer *p, struct tx_plan *t, bool small)
{
	uint32_t n = 0;
	int k = t->n;

	if (small) {
		for (k = 0; k < t->n && t->iov[k].iov_len < NET_COALESCE_MAX; k++)
			;
		if (k < 2 || t->pass_fd >= 0)
			return 0;
		if (!p->tx.stage) {
			p->tx.stage = malloc(NET_STAGE);
			if (!p->tx.stage)
				return 0; /* write from the slots */
		}
	}
	for (int i = 0; i < k && n < NET_STAGE; i++) {
		uint32_t len = (uint32_t)MIN(t->iov[i].iov_len, (size_t)(NET_STAGE - n));

		memcpy(p->tx.stage + n, t->iov[i].iov_base, len);
		n += len;
	}
	tx_done(p, t, n);
	p->tx.stage_off = 0;
	p->tx.stage_len = n;
	return n;
}

/*
 * Writes what is pending without blocking. Called with the lock held; drops it around the
 * system call. Returns true when everything pending went out.
 */
bool psyne__net_tx_flush(struct net_peer *p)
{
	struct net_chan *c = p->ch;
	struct tx_plan t;
	ssize_t n;

	while (net_can_write(p) && p->conn.fd >= 0 && psyne__net_tx_pending(p)) {
		struct psyne_tls *tls = p->conn.tls;
		struct iovec *iov = t.iov;
		int fd = p->conn.fd, niov;
		bool staged = p->tx.stage_off < p->tx.stage_len;

		t.pass_fd = -1;
		if (!staged) {
			tx_plan(p, &t);
			if (t.n == 0)
				return true;
			staged = stage_fill(p, &t, !tls) > 0;
			if (tls && !staged)
				return true;
		}
		if (staged) {
			t.iov[0] = (struct iovec){ .iov_base = p->tx.stage + p->tx.stage_off,
						   .iov_len = p->tx.stage_len - p->tx.stage_off };
			t.bytes = t.iov[0].iov_len;
			niov = 1;
		} else {
			niov = t.n;
		}
		p->conn.writing = true;
		p->tx.inflight = p->tx.slot;
		pthread_mutex_unlock(&c->lock);
		n = psyne__net_stream_writev(tls, fd, iov, niov, t.pass_fd);
		int e = n < 0 ? (int)-n : 0;
		pthread_mutex_lock(&c->lock);
		p->conn.writing = false;
		psyne__net_fd_settle(p);
		if (p->conn.fd != fd)
			return false; /* dropped meanwhile */
		if (n < 0) {
			if (e == EAGAIN || e == EINTR)
				return false;
			psyne__net_peer_down(p, -e, "write failed");
			return false;
		}
		if (staged)
			p->tx.stage_off += (uint32_t)n;
		else
			tx_done(p, &t, (size_t)n);
		if ((size_t)n < t.bytes)
			return false; /* the socket is full: POLLOUT tells when to go on */
	}
	if (psyne__net_tx_pending(p))
		return false;
	if (p->tx.flush_wanted)
		psyne__net_page_sent(p); /* what psyne_commit() left to the batch */
	p->tx.flush_wanted = false;	 /* whoever wrote last wrote everything */
	p->tx.flush_at = 0;
	return true;
}

void psyne__net_tx_done(struct net_peer *p)
{
	for (uint64_t pos = p->tx.acked; p->tx.buf.base && pos < p->tx.end;) {
		struct net_slot *s = net_slot_at(p, pos);

		psyne__net_slot_memfd_drop(p->ch, s);
		pos += s->total;
	}
	free(p->tx.stage);
	p->tx.stage = NULL;
	psyne__dbuf_done(&p->tx.buf);
}
