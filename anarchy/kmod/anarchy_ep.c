// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: an endpoint and its protocol engine, the same code in test mode and
 * real mode.
 *
 * The engine is one kernel thread per endpoint. It moves records from the TX
 * ring of the file that owns the endpoint into DMA frames, and frames from the
 * far side into the RX ring; it negotiates the link (HELLO), keeps it alive
 * (PING/PONG) and watches it.
 *
 * Delivery: records are numbered (rseq) by the sender and accepted by the
 * receiver only in order, so nothing arrives twice or out of order. Every frame
 * carries the receiver's cumulative ack; the sender advances its TX ring's tail
 * (tells the program "delivered") only for acknowledged records, which are then
 * in the far RX ring. Unacknowledged records are sent again after a timeout, a
 * reconnect or a far host restart. A receiver accepts a new numbering (a new
 * epoch) only at the start of a record, after the sender's TX ring was replaced
 * or the sender restarted: records the sender was never told were delivered may
 * then be lost, never a delivered one.
 */
#include <linux/debugfs.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "anarchy.h"

#define HELLO_INTERVAL_NS (100 * NSEC_PER_MSEC)
#define MAX_SLEEP_NS (1000 * NSEC_PER_MSEC)
#define RTO_MIN_NS (50 * NSEC_PER_MSEC)
#define RTO_MAX_NS (1000 * NSEC_PER_MSEC)
#define TX_BURST                                                               \
	64 /* frames sent per engine pass, so that receiving keeps up */
#define RX_BURST 256
/*
 * Frames due this soon are taken with those due now: a wake-up per frame would cost
 * more than the frame at modelled rates (a 4 KiB frame is 3 us at 10 Gb/s), as a DMA
 * engine's interrupt moderation does. The average rate stays the model's.
 */
#define RX_COALESCE_NS (200 * NSEC_PER_USEC)

static unsigned int hb_interval_ms = 500;
module_param(hb_interval_ms, uint, 0644);
MODULE_PARM_DESC(hb_interval_ms,
		 "Heartbeat interval of an idle link (ms, default 500)");

static unsigned int stall_timeout_ms = 2000;
module_param(stall_timeout_ms, uint, 0644);
MODULE_PARM_DESC(stall_timeout_ms,
		 "Report a silent far host stalled after this long (ms, default 2000)");

/* The registered endpoints by minor number, for open(). */
static DEFINE_MUTEX(eps_lock);
static struct anarchy_ep *eps[ANARCHY_MAX_LINKS];

static const char *const state_names[] = {
	[ANARCHY_LINK_DOWN] = "down",
	[ANARCHY_LINK_NEGOTIATING] = "negotiating",
	[ANARCHY_LINK_UP] = "up",
	[ANARCHY_LINK_STALLED] = "stalled",
	[ANARCHY_LINK_SUSPENDED] = "suspended",
};

const char *anarchy_state_name(u32 state)
{
	return state < ARRAY_SIZE(state_names) ? state_names[state] : "unknown";
}

static bool link_is_up(const struct anarchy_ep *ep)
{
	return ep->state == ANARCHY_LINK_UP ||
	       ep->state == ANARCHY_LINK_STALLED;
}

static u64 stall_ns(void)
{
	return (u64)max(stall_timeout_ms, 10U) * NSEC_PER_MSEC;
}

static u64 hb_ns(void)
{
	return (u64)max(hb_interval_ms, 10U) * NSEC_PER_MSEC;
}

/* Frame buffers. */

struct anarchy_buf *anarchy_buf_get(struct anarchy_ep *ep)
{
	struct anarchy_buf *buf = NULL;

	spin_lock_bh(&ep->pool_lock);
	if (!list_empty(&ep->pool)) {
		buf = list_first_entry(&ep->pool, struct anarchy_buf, list);
		list_del_init(&buf->list);
		ep->pool_free--;
	}
	spin_unlock_bh(&ep->pool_lock);
	return buf;
}

void anarchy_buf_put(struct anarchy_buf *buf)
{
	struct anarchy_ep *ep = buf->owner;
	bool was_empty;

	spin_lock_bh(&ep->pool_lock);
	was_empty = ep->pool_free == 0;
	list_add(&buf->list, &ep->pool);
	ep->pool_free++;
	spin_unlock_bh(&ep->pool_lock);
	/* The engine may be waiting for a buffer to send. */
	if (was_empty)
		anarchy_ep_kick(ep);
}

/* Events. */

static void file_push_event(struct anarchy_file *file,
			    const struct anarchy_event *ev)
{
	struct anarchy_event *slot;

	spin_lock(&file->ev_lock);
	if (file->ev_count == ANARCHY_EVENT_QUEUE) {
		file->ev_lost++;
		file->ev_seq++;
	} else {
		slot = &file->events[(file->ev_head + file->ev_count) %
				     ANARCHY_EVENT_QUEUE];
		*slot = *ev;
		slot->seq = ++file->ev_seq;
		file->ev_count++;
	}
	spin_unlock(&file->ev_lock);
}

void anarchy_ep_event(struct anarchy_ep *ep, u32 type, s32 error, u64 value)
{
	struct anarchy_event ev = {
		.type = type,
		.link = ep->index,
		.time_ns = ktime_get_ns(),
		.error = error,
		.state = ep->state,
		.value = value,
	};
	struct anarchy_file *file;

	spin_lock(&ep->files_lock);
	list_for_each_entry(file, &ep->files, node)
		file_push_event(file, &ev);
	spin_unlock(&ep->files_lock);
	wake_up_interruptible_poll(&ep->poll_wq, EPOLLPRI);
}

void anarchy_ep_kick(struct anarchy_ep *ep)
{
	atomic_set(&ep->kicked, 1);
	wake_up(&ep->engine_wq);
}

/* Sending frames. */

static u32 rx_window(struct anarchy_ep *ep)
{
	struct anarchy_rings *rings = ep->rings;
	u32 tail, free;

	if (!rings)
		return 0;
	/* Pairs with the program's release of tail: what it freed is read. */
	tail = smp_load_acquire(&rings->rx_hdr->tail);
	free = anarchy_ring_free(rings->rx_size, ep->rx_head, tail);
	if (ep->asm_active)
		free -= min(free, ep->asm_reserved);
	return free;
}

/* Fills in the fields every frame carries and hands the frame to the lower
 * layer.
 */
static int send_frame(struct anarchy_ep *ep, struct anarchy_buf *buf,
		      struct anarchy_frame *f)
{
	int r;

	f->ack = ep->rx_expected;
	if (ep->rx_synced)
		f->flags |= ANARCHY_FRAME_ACK_VALID;
	f->window = rx_window(ep);
	f->rx_max = ep->rings ? anarchy_ring_max_record(ep->rings->rx_size) : 0;
	f->epoch = ep->tx_epoch;
	buf->len = anarchy_frame_encode(buf->data, f);

	r = ep->ops->xmit(ep, buf);
	if (r < 0) {
		anarchy_buf_put(buf);
		return r;
	}
	ep->counters.tx_frames++;
	ep->last_window = f->window;
	ep->ack_pending = false;
	return 0;
}

static int send_ctrl(struct anarchy_ep *ep, u8 type, const void *payload,
		     u32 len)
{
	struct anarchy_frame f = { .type = type, .len = len };
	struct anarchy_buf *buf;

	buf = anarchy_buf_get(ep);
	if (!buf)
		return -ENOBUFS;
	if (len)
		memcpy(buf->data + ANARCHY_FRAME_HDR, payload, len);
	return send_frame(ep, buf, &f);
}

static void send_hello(struct anarchy_ep *ep)
{
	struct anarchy_hello h = {
		.abi_major = cpu_to_le16(ANARCHY_ABI_MAJOR),
		.abi_minor = cpu_to_le16(ANARCHY_ABI_MINOR),
		.frame_size = cpu_to_le32(ANARCHY_FRAME_SIZE),
		.boot_id = cpu_to_le64(ep->boot_id),
		.peer_boot_id = cpu_to_le64(ep->peer_boot_id),
		.flags = cpu_to_le32(link_is_up(ep) ? ANARCHY_HELLO_UP : 0),
	};

	memcpy(h.uuid, &ep->local_uuid, sizeof(h.uuid));
	strscpy(h.name, ep->local_name, sizeof(h.name));
	(void)send_ctrl(ep, ANARCHY_FRAME_HELLO, &h, sizeof(h));
}

/* State changes. */

static void ring_dead(struct anarchy_ep *ep, int error, const char *why)
{
	struct anarchy_rings *rings = ep->rings;

	if (!rings || rings->tx_dead)
		return;
	rings->tx_dead = true;
	WRITE_ONCE(rings->tx_hdr->flags,
		   READ_ONCE(rings->tx_hdr->flags) | ANARCHY_RING_DEAD);
	ep->counters.errors++;
	ep_err(ep, "TX ring: %s, the ring is no longer read\n", why);
	anarchy_ep_event(ep, ANARCHY_EVENT_ERROR, error, 0);
	wake_up_interruptible_poll(&ep->poll_wq, EPOLLERR);
}

/* Forgets what is in flight: unacknowledged records go again from the tail. */
static void tx_rewind(struct anarchy_ep *ep)
{
	ep->tx_pos = ep->tx_tail;
	ep->tx_next = ep->tx_acked;
	ep->tx_frag_off = 0;
	ep->rto_deadline_ns = 0;
	ep->rto_ns = RTO_MIN_NS;
}

static void set_state(struct anarchy_ep *ep, u32 state)
{
	u32 old = ep->state;

	if (old == state)
		return;
	ep->state = state;
	ep_info(ep, "link %s -> %s\n", anarchy_state_name(old),
		anarchy_state_name(state));
	if (state == ANARCHY_LINK_UP && old != ANARCHY_LINK_STALLED) {
		ep->counters.link_ups++;
		anarchy_ep_event(ep, ANARCHY_EVENT_LINK_UP, 0, 0);
	} else if (old == ANARCHY_LINK_UP || old == ANARCHY_LINK_STALLED) {
		if (state != ANARCHY_LINK_UP && state != ANARCHY_LINK_STALLED) {
			ep->counters.link_downs++;
			anarchy_ep_event(ep, ANARCHY_EVENT_LINK_DOWN, 0, 0);
		}
	}
	wake_up_interruptible_poll(&ep->poll_wq, EPOLLPRI);
}

/* The link is no longer up: nothing in flight survives, partial records are
 * dropped.
 */
static void link_down(struct anarchy_ep *ep, u32 state)
{
	tx_rewind(ep);
	ep->asm_active = false;
	ep->overflowing = false;
	set_state(ep, state);
}

static void link_up(struct anarchy_ep *ep, u64 now)
{
	tx_rewind(ep);
	ep->last_heard_ns = now;
	ep->next_ping_ns = now;
	ep->ack_pending = true;
	set_state(ep, ANARCHY_LINK_UP);
}

/* Receiving frames. */

static void handle_hello(struct anarchy_ep *ep, const struct anarchy_frame *f,
			 u64 now)
{
	struct anarchy_hello h;
	u64 boot_id;
	bool learned, knows_us;

	memcpy(&h, f->payload, sizeof(h));
	if (le16_to_cpu(h.abi_major) != ANARCHY_ABI_MAJOR) {
		ep->counters.errors++;
		if (ep->peer_boot_id != le64_to_cpu(h.boot_id)) {
			ep->peer_boot_id = le64_to_cpu(h.boot_id);
			ep_err(ep,
			       "far host speaks ABI %u, this module %u: not connecting\n",
			       le16_to_cpu(h.abi_major), ANARCHY_ABI_MAJOR);
			anarchy_ep_event(ep, ANARCHY_EVENT_ERROR,
					 -EPROTONOSUPPORT, 0);
		}
		return;
	}

	boot_id = le64_to_cpu(h.boot_id);
	learned = boot_id != ep->peer_boot_id;
	if (learned && ep->peer_boot_id != 0) {
		/* The far host restarted: what it had not acknowledged goes
		 * again, in a new epoch, and its numbering is new to us.
		 */
		u32 resent = ep->tx_sent_max - ep->tx_acked;

		ep_info(ep,
			"far host restarted, %u unacknowledged records go again\n",
			resent);
		ep->tx_epoch++;
		ep->rx_synced = false;
		ep->asm_active = false;
		if (link_is_up(ep))
			link_down(ep, ANARCHY_LINK_NEGOTIATING);
		anarchy_ep_event(ep, ANARCHY_EVENT_LINK_RESET, 0, resent);
	}
	ep->peer_boot_id = boot_id;
	memcpy(&ep->far_uuid, h.uuid, sizeof(ep->far_uuid));
	h.name[sizeof(h.name) - 1] = '\0';
	strscpy(ep->far_name, h.name, sizeof(ep->far_name));

	knows_us = le64_to_cpu(h.peer_boot_id) == ep->boot_id;
	if (knows_us && ep->state == ANARCHY_LINK_NEGOTIATING)
		link_up(ep, now);
	/* Answer a far side that does not know us yet or is not up yet (it
	 * lost our last HELLO, or went down and came back). A far side that
	 * is up gets no answer, so two up sides never echo HELLOs.
	 */
	if (!knows_us || learned || !(le32_to_cpu(h.flags) & ANARCHY_HELLO_UP))
		send_hello(ep);
}

static void handle_ack(struct anarchy_ep *ep, u32 ack, u64 now)
{
	struct anarchy_rings *rings = ep->rings;
	u32 n = ack - ep->tx_acked;
	u32 head, i;

	if (n == 0 || n > ep->tx_sent_max - ep->tx_acked || !rings ||
	    rings->tx_dead)
		return;

	/* Walk the acknowledged records, as the program wrote them. */
	head = ep->tx_sent_pos;
	for (i = 0; i < n;) {
		struct anarchy_ring_rec rec;
		int r;

		r = anarchy_ring_peek(rings->tx_data, rings->tx_size,
				      ANARCHY_MAX_RECORD, ep->tx_tail, head,
				      &rec);
		if (r < 0) {
			ring_dead(ep, -EPROTO,
				  "sent records were overwritten before delivery");
			return;
		}
		ep->tx_tail += rec.footprint;
		if (rec.flags & ANARCHY_RECORD_PAD)
			continue;
		ep->counters.tx_records++;
		ep->counters.tx_bytes += rec.len;
		i++;
	}
	ep->tx_acked = ack;
	if ((s32)(ep->tx_next - ack) < 0) {
		/* Acknowledged beyond a rewind: skip what the far side already
		 * has.
		 */
		ep->tx_next = ack;
		ep->tx_pos = ep->tx_tail;
		ep->tx_frag_off = 0;
	}
	/* Pairs with the program's acquire of tail before it reuses the space. */
	smp_store_release(&rings->tx_hdr->tail, ep->tx_tail);
	ep->rto_ns = RTO_MIN_NS;
	ep->rto_deadline_ns =
		ep->tx_acked == ep->tx_sent_max ? 0 : now + ep->rto_ns;
	wake_up_interruptible_poll(&ep->poll_wq, EPOLLOUT);
}

static void rx_publish(struct anarchy_ep *ep, u32 records, u64 bytes)
{
	/* The records are written before the program can see head move. */
	smp_store_release(&ep->rings->rx_hdr->head, ep->rx_head);
	ep->rx_expected += records;
	ep->counters.rx_records += records;
	ep->counters.rx_bytes += bytes;
	wake_up_interruptible_poll(&ep->poll_wq, EPOLLIN);
}

/* Room in the RX ring for len more bytes at head; -ENOSPC, or -EINVAL for a bad
 * tail.
 */
static int rx_reserve(struct anarchy_ep *ep, u32 head, u32 len)
{
	struct anarchy_rings *rings = ep->rings;
	u32 tail, max;
	int r;

	/* The program is done with what is behind tail before we write over it. */
	tail = smp_load_acquire(&rings->rx_hdr->tail);

	max = anarchy_ring_max_record(rings->rx_size);
	r = anarchy_ring_reserve(rings->rx_size, max, head, tail, len);
	if (r == -EINVAL) {
		ep->counters.errors++;
		ep_err(ep, "RX ring: tail %u is not within a ring of head %u\n",
		       tail, head);
		anarchy_ep_event(ep, ANARCHY_EVENT_ERROR, -EINVAL, 0);
	}
	return r;
}

static int rx_packed(struct anarchy_ep *ep, const struct anarchy_frame *f)
{
	struct anarchy_rings *rings = ep->rings;
	u32 head = ep->rx_head;
	u32 i, pos;
	u64 bytes = 0;
	int skip;

	/* All or nothing: first check that every record fits. */
	for (i = 0, pos = 0; i < f->arg; i++) {
		const struct anarchy_record *rec =
			(const void *)(f->payload + pos);

		skip = rx_reserve(ep, head, rec->len);
		if (skip < 0)
			return skip;
		head += skip + anarchy_record_footprint(rec->len);
		pos += anarchy_record_footprint(rec->len);
	}

	for (i = 0, pos = 0; i < f->arg; i++) {
		const struct anarchy_record *rec =
			(const void *)(f->payload + pos);
		u32 footprint = anarchy_record_footprint(rec->len);
		u32 to_end =
			rings->rx_size - (ep->rx_head & (rings->rx_size - 1));

		/* The first loop reserved all of it: only the padding is left
		 * to place.
		 */
		skip = footprint > to_end ? to_end : 0;
		if (skip) {
			anarchy_ring_write_pad(rings->rx_data, rings->rx_size,
					       ep->rx_head, skip);
			ep->rx_head += skip;
		}
		memcpy(rings->rx_data + (ep->rx_head & (rings->rx_size - 1)),
		       rec, footprint);
		ep->rx_head += footprint;
		pos += footprint;
		bytes += rec->len;
	}
	rx_publish(ep, f->arg, bytes);
	return 0;
}

static int rx_frag(struct anarchy_ep *ep, const struct anarchy_frame *f)
{
	struct anarchy_rings *rings = ep->rings;
	int skip;

	if (f->arg == 0) {
		skip = rx_reserve(ep, ep->rx_head, f->rlen);
		if (skip < 0)
			return skip;
		ep->asm_active = true;
		ep->asm_rseq = f->rseq;
		ep->asm_off = 0;
		ep->asm_len = f->rlen;
		ep->asm_type = f->rtype;
		ep->asm_skip = skip;
		ep->asm_reserved = skip + anarchy_record_footprint(f->rlen);
	}
	if (!ep->asm_active || f->rseq != ep->asm_rseq ||
	    f->arg != ep->asm_off || f->rlen != ep->asm_len)
		return -EPROTO;

	memcpy(rings->rx_data + ((ep->rx_head + ep->asm_skip +
				  ANARCHY_RECORD_HDR + f->arg) &
				 (rings->rx_size - 1)),
	       f->payload, f->len);
	ep->asm_off += f->len;
	if (ep->asm_off == ep->asm_len) {
		struct anarchy_record rec = { .len = ep->asm_len,
					      .type = ep->asm_type };

		if (ep->asm_skip)
			anarchy_ring_write_pad(rings->rx_data, rings->rx_size,
					       ep->rx_head, ep->asm_skip);
		ep->rx_head += ep->asm_skip;
		memcpy(rings->rx_data + (ep->rx_head & (rings->rx_size - 1)),
		       &rec, sizeof(rec));
		ep->rx_head += anarchy_record_footprint(ep->asm_len);
		ep->asm_active = false;
		rx_publish(ep, 1, ep->asm_len);
	}
	return 0;
}

static void handle_data(struct anarchy_ep *ep, const struct anarchy_frame *f)
{
	bool starts = f->flags & ANARCHY_FRAME_PACKED || f->arg == 0;
	s32 d;
	int r;

	ep->ack_pending = true;
	if (!ep->rings) {
		ep->counters.drops++;
		return;
	}
	if (!ep->rx_synced || (s32)(f->epoch - ep->rx_epoch) > 0) {
		if (!starts) {
			ep->counters.drops++;
			return;
		}
		ep->rx_epoch = f->epoch;
		ep->rx_expected = f->rseq;
		ep->rx_synced = true;
		ep->asm_active = false;
	} else if (f->epoch != ep->rx_epoch) {
		ep->counters.drops++; /* a late frame of an older epoch */
		return;
	}

	d = (s32)(f->rseq - ep->rx_expected);
	if (d != 0) {
		/* A duplicate (d < 0) or a gap after a loss (d > 0): the ack we
		 * send tells the sender where we are.
		 */
		ep->counters.drops++;
		return;
	}

	if (f->flags & ANARCHY_FRAME_PACKED) {
		ep->asm_active = false;
		r = rx_packed(ep, f);
	} else {
		r = rx_frag(ep, f);
	}
	if (r < 0)
		ep->counters.drops++;
}

static void handle_frame(struct anarchy_ep *ep, struct anarchy_buf *buf,
			 u64 now)
{
	struct anarchy_frame f;
	int r;

	r = anarchy_frame_decode(buf->data, buf->len, ANARCHY_MAX_RECORD, &f);
	if (r == -EBADMSG) {
		ep->counters.crc_errors++;
		ep_dbg(ep, "frame of %u bytes failed its CRC, discarded\n",
		       buf->len);
		return;
	}
	if (r < 0) {
		ep->counters.errors++;
		ep_dbg(ep, "bad frame of %u bytes (%d), discarded\n", buf->len,
		       r);
		return;
	}
	ep->counters.rx_frames++;
	if (ep->admin_down || !ep->carrier)
		return;

	ep->last_heard_ns = now;
	if (ep->state == ANARCHY_LINK_STALLED) {
		set_state(ep, ANARCHY_LINK_UP);
		anarchy_ep_event(ep, ANARCHY_EVENT_RESUMED, 0, 0);
	}

	if (f.type == ANARCHY_FRAME_HELLO) {
		handle_hello(ep, &f, now);
		return;
	}
	if (!link_is_up(ep)) {
		ep->counters.drops++;
		return;
	}
	if (f.type == ANARCHY_FRAME_BYE) {
		ep_info(ep, "far host said goodbye\n");
		link_down(ep, ANARCHY_LINK_NEGOTIATING);
		ep->next_hello_ns = now;
		return;
	}

	if (f.flags & ANARCHY_FRAME_ACK_VALID)
		handle_ack(ep, f.ack, now);
	ep->peer_window = f.window;
	ep->peer_rx_max = f.rx_max;

	switch (f.type) {
	case ANARCHY_FRAME_DATA:
		handle_data(ep, &f);
		break;
	case ANARCHY_FRAME_PING:
		(void)send_ctrl(ep, ANARCHY_FRAME_PONG, f.payload, f.len);
		break;
	case ANARCHY_FRAME_PONG: {
		struct anarchy_ping p;

		memcpy(&p, f.payload, sizeof(p));
		if (le64_to_cpu(p.seq) == ep->ping_seq &&
		    le64_to_cpu(p.sent_ns) <= now)
			ep->rtt_us = div_u64(now - le64_to_cpu(p.sent_ns),
					     NSEC_PER_USEC);
		break;
	}
	default:
		break;
	}
}

/* Handles the frames that are due; returns when the next one will be. */
static u64 rx_process(struct anarchy_ep *ep, u64 now)
{
	LIST_HEAD(batch);
	struct anarchy_buf *buf, *tmp;
	u64 next = U64_MAX;
	unsigned int n = 0;

	spin_lock_bh(&ep->rx_lock);
	while (!list_empty(&ep->rx_queue)) {
		buf = list_first_entry(&ep->rx_queue, struct anarchy_buf, list);
		if (buf->due_ns > now + RX_COALESCE_NS) {
			next = buf->due_ns;
			break;
		}
		if (n++ == RX_BURST) {
			next = now;
			break;
		}
		list_move_tail(&buf->list, &batch);
	}
	spin_unlock_bh(&ep->rx_lock);

	list_for_each_entry_safe(buf, tmp, &batch, list) {
		list_del_init(&buf->list);
		handle_frame(ep, buf, now);
		ep->ops->rx_done(ep, buf);
	}
	return next;
}

/* Transmitting records. */

/* Fills a PACKED frame with the records from tx_pos that fit it and the far
 * window. Returns the number of records, 0 when none could go, or a negative
 * errno.
 */
static int fill_packed(struct anarchy_ep *ep, struct anarchy_buf *buf, u32 head,
		       u32 *ret_pos)
{
	struct anarchy_rings *rings = ep->rings;
	u32 pos = ep->tx_pos, used = 0, count = 0;

	while (pos != head) {
		struct anarchy_ring_rec rec;
		int r;

		r = anarchy_ring_peek(rings->tx_data, rings->tx_size,
				      ANARCHY_MAX_RECORD, pos, head, &rec);
		if (r < 0)
			return r;
		if (rec.flags & ANARCHY_RECORD_PAD) {
			pos += rec.footprint;
			continue;
		}
		if (rec.footprint > ANARCHY_FRAME_PAYLOAD - used)
			break;
		if (rec.len > ep->peer_rx_max)
			break;
		/* The caller checked the first record against the window. */
		if (count > 0 &&
		    pos - ep->tx_tail + 2 * rec.footprint > ep->peer_window)
			break;
		/* Copy, then re-check the header copied: the program may be
		 * rewriting it.
		 */
		memcpy(buf->data + ANARCHY_FRAME_HDR + used,
		       rings->tx_data + rec.offset, rec.footprint);
		((struct anarchy_record *)(buf->data + ANARCHY_FRAME_HDR +
					   used))
			->len = rec.len;
		((struct anarchy_record *)(buf->data + ANARCHY_FRAME_HDR +
					   used))
			->flags = 0;
		used += rec.footprint;
		pos += rec.footprint;
		count++;
	}
	buf->len = used;
	*ret_pos = pos;
	return count;
}

/*
 * The far RX ring is full and records wait. Counted every time; told to the
 * program at most once a second, since a sender faster than its receiver meets
 * a full ring many times a second and the event queue is for news.
 */
static void note_overflow(struct anarchy_ep *ep, u64 now)
{
	ep->overflowing = true;
	ep->counters.overflows++;
	if (ep->overflow_event_ns && now - ep->overflow_event_ns < NSEC_PER_SEC)
		return;
	ep->overflow_event_ns = now;
	anarchy_ep_event(ep, ANARCHY_EVENT_RING_OVERFLOW, 0, ep->peer_window);
}

/*
 * Whether the record at tx_pos is larger than the far RX ring takes: it waits
 * (for the far side to set up larger rings) and the program is told once. An
 * RX ring takes records of up to half its size; rx_max comes with every frame.
 */
static bool too_big(struct anarchy_ep *ep, const struct anarchy_ring_rec *rec)
{
	if (ep->peer_rx_max == 0 || rec->len <= ep->peer_rx_max)
		return false;
	if (!ep->too_big || ep->too_big_rseq != ep->tx_next) {
		ep->too_big = true;
		ep->too_big_rseq = ep->tx_next;
		ep->counters.errors++;
		ep_warn(ep,
			"record %u of %u bytes is larger than the far RX ring takes (%u): it waits\n",
			ep->tx_next, rec->len, ep->peer_rx_max);
		anarchy_ep_event(ep, ANARCHY_EVENT_ERROR, -EMSGSIZE, rec->len);
	}
	return true;
}

/* Sends what it can; true when it stopped for its burst limit with more to
 * send.
 */
static bool tx_process(struct anarchy_ep *ep, u64 now)
{
	struct anarchy_rings *rings = ep->rings;
	unsigned int sent = 0;
	u32 head;

	if (!rings || rings->tx_dead)
		return false;
	/* Pairs with the program's release of head: its records are written. */
	head = smp_load_acquire(&rings->tx_hdr->head);
	if (head - ep->tx_tail > rings->tx_size ||
	    head % ANARCHY_RECORD_ALIGN != 0) {
		ring_dead(ep, -EINVAL,
			  "head index is not within a ring of its tail");
		return false;
	}

	if (ep->rto_deadline_ns && now >= ep->rto_deadline_ns) {
		ep_dbg(ep, "no ack for %llu ms, sending from record %u again\n",
		       div_u64(ep->rto_ns, NSEC_PER_MSEC), ep->tx_acked);
		tx_rewind(ep);
		ep->rto_ns = min_t(u64, ep->rto_ns * 2, RTO_MAX_NS);
		ep->rto_deadline_ns = now + ep->rto_ns;
	}

	while (ep->tx_pos != head && sent < TX_BURST) {
		struct anarchy_frame f = { .type = ANARCHY_FRAME_DATA,
					   .rseq = ep->tx_next };
		struct anarchy_ring_rec rec;
		struct anarchy_buf *buf;
		u32 pos;
		int r;

		r = anarchy_ring_peek(rings->tx_data, rings->tx_size,
				      ANARCHY_MAX_RECORD, ep->tx_pos, head,
				      &rec);
		if (r < 0) {
			ring_dead(ep, r, "a record is malformed");
			return false;
		}
		if (rec.flags & ANARCHY_RECORD_PAD) {
			ep->tx_pos += rec.footprint;
			continue;
		}
		if (ep->tx_frag_off == 0 && too_big(ep, &rec))
			break;
		if (ep->tx_frag_off == 0 &&
		    ep->tx_pos - ep->tx_tail + 2 * rec.footprint >
			    ep->peer_window &&
		    !(ep->tx_pos == ep->tx_tail &&
		      rec.footprint <= ep->peer_window)) {
			if (!ep->overflowing)
				note_overflow(ep, now);
			break;
		}
		ep->overflowing = false;

		buf = anarchy_buf_get(ep);
		if (!buf)
			break;

		if (rec.footprint <= ANARCHY_FRAME_PAYLOAD) {
			r = fill_packed(ep, buf, head, &pos);
			if (r <= 0) {
				anarchy_buf_put(buf);
				if (r < 0)
					ring_dead(ep, r,
						  "a record is malformed");
				break;
			}
			f.flags = ANARCHY_FRAME_PACKED;
			f.arg = r;
			f.len = buf->len;
		} else {
			u32 chunk = min(rec.len - ep->tx_frag_off,
					ANARCHY_FRAME_PAYLOAD);

			memcpy(buf->data + ANARCHY_FRAME_HDR,
			       rings->tx_data + rec.offset +
				       ANARCHY_RECORD_HDR + ep->tx_frag_off,
			       chunk);
			f.flags = ANARCHY_FRAME_FRAG;
			f.arg = ep->tx_frag_off;
			f.rlen = rec.len;
			f.rtype = rec.type;
			f.len = chunk;
			pos = ep->tx_pos;
			if (ep->tx_frag_off + chunk == rec.len)
				pos += rec.footprint;
		}

		r = send_frame(ep, buf, &f);
		if (r < 0)
			break;
		sent++;
		if ((s32)(f.rseq - ep->tx_sent_max) < 0)
			ep->counters.retransmits++;
		if (f.flags & ANARCHY_FRAME_PACKED) {
			ep->tx_next += f.arg;
			ep->tx_pos = pos;
		} else if (pos != ep->tx_pos) {
			ep->tx_next++;
			ep->tx_pos = pos;
			ep->tx_frag_off = 0;
		} else {
			ep->tx_frag_off += f.len;
		}
		if ((s32)(ep->tx_next - ep->tx_sent_max) > 0) {
			ep->tx_sent_max = ep->tx_next;
			ep->tx_sent_pos = ep->tx_pos;
		}
		if (!ep->rto_deadline_ns)
			ep->rto_deadline_ns =
				now + ep->rto_ns + 2 * ep->model.latency_ns;
	}
	return sent == TX_BURST && ep->tx_pos != head;
}

/* Ring flags: whether the program must kick us after it moves an index. Returns
 * true when it moved one meanwhile, so that the engine looks again before
 * sleeping.
 */
static bool update_need_kick(struct anarchy_ep *ep)
{
	struct anarchy_rings *rings = ep->rings;
	bool tx_idle, rx_low;
	u32 flags, head;

	if (!rings)
		return false;

	/* Idle on TX: everything published is sent; only a kick tells us of
	 * more. When not idle, acks and returned buffers wake the engine
	 * anyway. The acquire pairs with the program's release of head.
	 */
	head = smp_load_acquire(&rings->tx_hdr->head);
	tx_idle = !rings->tx_dead && head == ep->tx_pos;
	flags = READ_ONCE(rings->tx_hdr->flags) & ~ANARCHY_RING_NEED_KICK;
	WRITE_ONCE(rings->tx_hdr->flags,
		   flags | (tx_idle ? ANARCHY_RING_NEED_KICK : 0));

	/* A small window may hold the far side back: tell us when the program
	 * frees room.
	 */
	rx_low = ep->last_window < rings->rx_size / 2;
	flags = READ_ONCE(rings->rx_hdr->flags) & ~ANARCHY_RING_NEED_KICK;
	WRITE_ONCE(rings->rx_hdr->flags,
		   flags | (rx_low ? ANARCHY_RING_NEED_KICK : 0));

	/* Pairs with the program's fence between its index store and its flags
	 * load.
	 */
	smp_mb();
	/* Acquire: as above, for a head published before it saw the flag. */
	if (tx_idle && smp_load_acquire(&rings->tx_hdr->head) != ep->tx_pos)
		return true;
	if (rx_low && rx_window(ep) >= rings->rx_size / 2) {
		ep->ack_pending = true;
		return true;
	}
	return false;
}

/* One pass of the engine; returns when the next one is due. */
static u64 engine_pass(struct anarchy_ep *ep)
{
	u64 now = ktime_get_ns();
	u64 next = now + MAX_SLEEP_NS;

	next = min(next, rx_process(ep, now));
	if (!ep->carrier || ep->admin_down || ep->suspended || ep->gone)
		return next;

	if (ep->state == ANARCHY_LINK_NEGOTIATING) {
		if (now >= ep->next_hello_ns) {
			send_hello(ep);
			ep->next_hello_ns = now + HELLO_INTERVAL_NS;
		}
		return min(next, ep->next_hello_ns);
	}
	if (!link_is_up(ep))
		return next;

	if (tx_process(ep, now))
		next = now;
	if (ep->rto_deadline_ns)
		next = min(next, ep->rto_deadline_ns);

	if (now >= ep->next_ping_ns) {
		struct anarchy_ping p = {
			.sent_ns = cpu_to_le64(now),
			.seq = cpu_to_le64(++ep->ping_seq),
		};

		(void)send_ctrl(ep, ANARCHY_FRAME_PING, &p, sizeof(p));
		ep->next_ping_ns = now + hb_ns();
	}
	next = min(next, ep->next_ping_ns);

	if (ep->state == ANARCHY_LINK_UP &&
	    now - ep->last_heard_ns >= stall_ns()) {
		ep->counters.stalls++;
		ep_warn(ep, "far host silent for %llu ms, stalled\n",
			div_u64(now - ep->last_heard_ns, NSEC_PER_MSEC));
		set_state(ep, ANARCHY_LINK_STALLED);
		anarchy_ep_event(ep, ANARCHY_EVENT_STALLED, 0,
				 div_u64(now - ep->last_heard_ns,
					 NSEC_PER_MSEC));
	} else if (ep->state == ANARCHY_LINK_UP) {
		next = min(next, ep->last_heard_ns + stall_ns());
	}

	/* The ack first: the ring flags depend on the window it advertises. */
	if (ep->ack_pending)
		(void)send_ctrl(ep, ANARCHY_FRAME_ACK, NULL, 0);
	if (update_need_kick(ep))
		next = now;
	return next;
}

static bool engine_should_wake(struct anarchy_ep *ep)
{
	return atomic_read(&ep->kicked) || kthread_should_stop();
}

static int engine_fn(void *data)
{
	struct anarchy_ep *ep = data;

	while (!kthread_should_stop()) {
		u64 next, now;

		atomic_set(&ep->kicked, 0);
		mutex_lock(&ep->lock);
		next = engine_pass(ep);
		mutex_unlock(&ep->lock);

		now = ktime_get_ns();
		if (next <= now)
			continue;
		wait_event_interruptible_hrtimeout(ep->engine_wq,
						   engine_should_wake(ep),
						   ns_to_ktime(next - now));
	}
	return 0;
}

/* Lifetime. */

struct anarchy_ep *anarchy_ep_new(const struct anarchy_lower_ops *ops,
				  void *lower, bool simulated,
				  const char *local_name,
				  const uuid_t *local_uuid)
{
	struct anarchy_ep *ep;
	unsigned int i;

	ep = kzalloc(sizeof(*ep), GFP_KERNEL);
	if (!ep)
		return NULL;
	kref_init(&ep->ref);
	ep->index = -1;
	ep->ops = ops;
	ep->lower = lower;
	ep->simulated = simulated;
	mutex_init(&ep->lock);
	init_waitqueue_head(&ep->engine_wq);
	init_waitqueue_head(&ep->poll_wq);
	spin_lock_init(&ep->rx_lock);
	spin_lock_init(&ep->pool_lock);
	spin_lock_init(&ep->files_lock);
	INIT_LIST_HEAD(&ep->rx_queue);
	INIT_LIST_HEAD(&ep->pool);
	INIT_LIST_HEAD(&ep->files);
	ep->state = ANARCHY_LINK_DOWN;
	ep->log_level = anarchy_log_level;
	ep->rto_ns = RTO_MIN_NS;
	do {
		ep->boot_id = get_random_u64();
	} while (ep->boot_id == 0);
	strscpy(ep->local_name, local_name, sizeof(ep->local_name));
	uuid_copy(&ep->local_uuid, local_uuid);

	for (i = 0; i < ANARCHY_POOL_FRAMES; i++) {
		struct anarchy_buf *buf =
			kmem_cache_alloc(anarchy_buf_cache, GFP_KERNEL);

		if (!buf) {
			anarchy_ep_put(ep);
			return NULL;
		}
		buf->owner = ep;
		list_add(&buf->list, &ep->pool);
		ep->pool_free++;
	}
	return ep;
}

int anarchy_ep_register(struct anarchy_ep *ep)
{
	struct device *dev;
	int index, r;

	mutex_lock(&eps_lock);
	for (index = 0; index < ANARCHY_MAX_LINKS && eps[index]; index++)
		;
	if (index == ANARCHY_MAX_LINKS) {
		mutex_unlock(&eps_lock);
		return -ENOSPC;
	}
	eps[index] = ep;
	ep->index = index;
	mutex_unlock(&eps_lock);

	ep->cdev = cdev_alloc();
	if (!ep->cdev) {
		r = -ENOMEM;
		goto err_unlist;
	}
	ep->cdev->owner = THIS_MODULE;
	ep->cdev->ops = &anarchy_fops;
	r = cdev_add(ep->cdev, MKDEV(MAJOR(anarchy_devt), index), 1);
	if (r < 0)
		goto err_cdev;

	dev = device_create_with_groups(anarchy_class, NULL,
					MKDEV(MAJOR(anarchy_devt), index), ep,
					anarchy_groups, "anarchy%d", index);
	if (IS_ERR(dev)) {
		r = PTR_ERR(dev);
		goto err_cdev;
	}
	ep->dev = dev;

	ep->engine = kthread_run(engine_fn, ep, "anarchy%d", index);
	if (IS_ERR(ep->engine)) {
		r = PTR_ERR(ep->engine);
		ep->engine = NULL;
		goto err_device;
	}
	anarchy_debugfs_add(ep);
	return 0;

err_device:
	device_destroy(anarchy_class, MKDEV(MAJOR(anarchy_devt), index));
	ep->dev = NULL;
err_cdev:
	cdev_del(ep->cdev);
	ep->cdev = NULL;
err_unlist:
	mutex_lock(&eps_lock);
	eps[index] = NULL;
	mutex_unlock(&eps_lock);
	ep->index = -1;
	return r;
}

struct anarchy_ep *anarchy_ep_get_by_minor(unsigned int minor)
{
	struct anarchy_ep *ep = NULL;

	mutex_lock(&eps_lock);
	if (minor < ANARCHY_MAX_LINKS && eps[minor]) {
		ep = eps[minor];
		kref_get(&ep->ref);
	}
	mutex_unlock(&eps_lock);
	return ep;
}

/* Takes the endpoint out of sight: no device, no engine. Open files keep it
 * (and so the module) alive; they get -ENODEV from then on when it is gone.
 */
void anarchy_ep_unregister(struct anarchy_ep *ep)
{
	debugfs_remove_recursive(ep->debugfs);
	ep->debugfs = NULL;
	if (ep->engine)
		kthread_stop(ep->engine);
	ep->engine = NULL;
	if (ep->index < 0)
		return;
	mutex_lock(&eps_lock);
	eps[ep->index] = NULL;
	mutex_unlock(&eps_lock);
	if (ep->dev)
		device_destroy(anarchy_class,
			       MKDEV(MAJOR(anarchy_devt), ep->index));
	ep->dev = NULL;
	cdev_del(ep->cdev);
	ep->cdev = NULL;
}

/* Gives the frames waiting in the endpoint back to their owners, once the lower
 * layer has stopped delivering.
 */
void anarchy_ep_flush(struct anarchy_ep *ep)
{
	struct anarchy_buf *buf, *tmp;
	LIST_HEAD(list);

	spin_lock_bh(&ep->rx_lock);
	list_splice_init(&ep->rx_queue, &list);
	spin_unlock_bh(&ep->rx_lock);
	list_for_each_entry_safe(buf, tmp, &list, list) {
		list_del_init(&buf->list);
		ep->ops->rx_done(ep, buf);
	}
}

/* Frees an unregistered, flushed endpoint whose buffers are all back in its
 * pool.
 */
static void ep_release(struct kref *ref)
{
	struct anarchy_ep *ep = container_of(ref, struct anarchy_ep, ref);
	struct anarchy_buf *buf, *tmp;

	WARN_ON_ONCE(ep->engine);
	list_for_each_entry_safe(buf, tmp, &ep->pool, list) {
		list_del(&buf->list);
		kmem_cache_free(anarchy_buf_cache, buf);
	}
	kfree(ep);
}

void anarchy_ep_put(struct anarchy_ep *ep)
{
	if (ep)
		kref_put(&ep->ref, ep_release);
}

/* Called by the lower layer, in any context but hard IRQ: a frame arrived. */
void anarchy_ep_deliver(struct anarchy_ep *ep, struct anarchy_buf *buf)
{
	bool was_empty;

	spin_lock_bh(&ep->rx_lock);
	was_empty = list_empty(&ep->rx_queue);
	list_add_tail(&buf->list, &ep->rx_queue);
	spin_unlock_bh(&ep->rx_lock);
	if (was_empty)
		anarchy_ep_kick(ep);
}

void anarchy_ep_carrier(struct anarchy_ep *ep, bool up, const uuid_t *far_uuid,
			const struct anarchy_gpu_props *gpus)
{
	mutex_lock(&ep->lock);
	if (up && !ep->carrier) {
		ep->carrier = true;
		if (far_uuid)
			uuid_copy(&ep->far_uuid, far_uuid);
		if (gpus)
			ep->far_gpus = *gpus;
		ep_info(ep, "far host plugged in\n");
		anarchy_ep_event(ep, ANARCHY_EVENT_HOTPLUG_ADD, 0, 0);
		if (!ep->admin_down && !ep->suspended) {
			set_state(ep, ANARCHY_LINK_NEGOTIATING);
			ep->next_hello_ns = 0;
		}
	} else if (!up && ep->carrier) {
		ep->carrier = false;
		ep_info(ep, "far host unplugged\n");
		anarchy_ep_event(ep, ANARCHY_EVENT_HOTPLUG_REMOVE, 0, 0);
		link_down(ep, ep->suspended ? ANARCHY_LINK_SUSPENDED :
					      ANARCHY_LINK_DOWN);
	}
	mutex_unlock(&ep->lock);
	anarchy_ep_kick(ep);
}

void anarchy_ep_gone(struct anarchy_ep *ep)
{
	anarchy_ep_carrier(ep, false, NULL, NULL);
	mutex_lock(&ep->lock);
	ep->gone = true;
	mutex_unlock(&ep->lock);
	wake_up_interruptible_poll(&ep->poll_wq, EPOLLHUP | EPOLLERR);
}

void anarchy_ep_suspend(struct anarchy_ep *ep, bool suspend)
{
	mutex_lock(&ep->lock);
	if (suspend && !ep->suspended) {
		if (link_is_up(ep))
			(void)send_ctrl(ep, ANARCHY_FRAME_BYE, NULL, 0);
		ep->suspended = true;
		link_down(ep, ANARCHY_LINK_SUSPENDED);
	} else if (!suspend && ep->suspended) {
		ep->suspended = false;
		if (ep->carrier && !ep->admin_down) {
			set_state(ep, ANARCHY_LINK_NEGOTIATING);
			ep->next_hello_ns = 0;
		} else {
			set_state(ep, ANARCHY_LINK_DOWN);
		}
	}
	mutex_unlock(&ep->lock);
	anarchy_ep_kick(ep);
}

int anarchy_ep_connect(struct anarchy_ep *ep, bool connect)
{
	int r = 0;

	mutex_lock(&ep->lock);
	if (!connect && !ep->admin_down) {
		if (link_is_up(ep))
			(void)send_ctrl(ep, ANARCHY_FRAME_BYE, NULL, 0);
		ep->admin_down = true;
		link_down(ep, ANARCHY_LINK_DOWN);
	} else if (connect && ep->admin_down) {
		ep->admin_down = false;
		if (ep->carrier && !ep->suspended) {
			set_state(ep, ANARCHY_LINK_NEGOTIATING);
			ep->next_hello_ns = 0;
		}
	}
	if (ep->ops->set_connected)
		r = ep->ops->set_connected(ep, connect);
	mutex_unlock(&ep->lock);
	anarchy_ep_kick(ep);
	return r;
}

void anarchy_ep_fill_info(struct anarchy_ep *ep, struct anarchy_link_info *info)
{
	memset(info, 0, sizeof(*info));
	mutex_lock(&ep->lock);
	info->index = ep->index;
	info->state = ep->state;
	info->flags = (ep->simulated ? ANARCHY_INFO_SIMULATED : 0) |
		      (ep->rings ? ANARCHY_INFO_RINGS : 0) |
		      (ep->admin_down ? ANARCHY_INFO_ADMIN_DOWN : 0);
	info->link_speed_mbps = ep->carrier ? ep->link_speed_mbps : 0;
	info->dma_rate_mbps = ep->dma_rate_mbps;
	info->bandwidth_cap_mbps = ep->bandwidth_cap_mbps;
	info->latency_us = ep->latency_us;
	info->log_level = ep->log_level;
	info->rtt_us = ep->rtt_us;
	if (ep->carrier || ep->peer_boot_id) {
		memcpy(info->far_uuid, &ep->far_uuid, sizeof(info->far_uuid));
		strscpy(info->far_name, ep->far_name, sizeof(info->far_name));
		info->gpu_count = ep->far_gpus.count;
		memcpy(info->gpus, ep->far_gpus.gpus, sizeof(info->gpus));
	}
	info->counters = ep->counters;
	mutex_unlock(&ep->lock);
}

int anarchy_ep_set_params(struct anarchy_ep *ep, const struct anarchy_params *p)
{
	u32 dma;

	if (p->mask & ~ANARCHY_PARAM_ALL)
		return -EINVAL;
	if ((p->mask & ANARCHY_PARAM_BANDWIDTH) &&
	    p->bandwidth_cap_mbps > 100000)
		return -EINVAL;
	if ((p->mask & ANARCHY_PARAM_LATENCY) && p->latency_us > 1000000)
		return -EINVAL;
	if ((p->mask & ANARCHY_PARAM_LATENCY) && !ep->simulated)
		return -EOPNOTSUPP;
	if ((p->mask & ANARCHY_PARAM_LOG_LEVEL) && p->log_level > 7)
		return -EINVAL;

	mutex_lock(&ep->lock);
	if (p->mask & ANARCHY_PARAM_BANDWIDTH) {
		ep->bandwidth_cap_mbps = p->bandwidth_cap_mbps;
		dma = ep->simulated ? ep->dma_rate_mbps : 0;
		ep->model.rate_bps = anarchy_model_rate(dma,
							ep->bandwidth_cap_mbps);
	}
	if (p->mask & ANARCHY_PARAM_LATENCY) {
		ep->latency_us = p->latency_us;
		ep->model.latency_ns = (u64)p->latency_us * NSEC_PER_USEC;
	}
	if (p->mask & ANARCHY_PARAM_LOG_LEVEL)
		ep->log_level = p->log_level;
	mutex_unlock(&ep->lock);
	anarchy_ep_kick(ep);
	return 0;
}

int anarchy_ep_attach_rings(struct anarchy_ep *ep, struct anarchy_file *file,
			    struct anarchy_rings *rings)
{
	mutex_lock(&ep->lock);
	if (ep->rings || ep->gone) {
		mutex_unlock(&ep->lock);
		return ep->gone ? -ENODEV : -EBUSY;
	}
	ep->rings = rings;
	ep->owner = file;
	/* A new numbering: whatever the far side got of a previous ring is its
	 * own.
	 */
	ep->tx_epoch++;
	ep->tx_acked = ep->tx_sent_max;
	ep->tx_tail = 0;
	ep->tx_sent_pos = 0;
	tx_rewind(ep);
	ep->rx_head = 0;
	ep->asm_active = false;
	ep->overflowing = false;
	ep->ack_pending = true;
	mutex_unlock(&ep->lock);
	anarchy_ep_kick(ep);
	return 0;
}

void anarchy_ep_detach_rings(struct anarchy_ep *ep, struct anarchy_file *file)
{
	mutex_lock(&ep->lock);
	if (ep->owner == file) {
		ep->rings = NULL;
		ep->owner = NULL;
		ep->asm_active = false;
		ep->overflowing = false;
		tx_rewind(ep);
		ep->ack_pending = true;
	}
	mutex_unlock(&ep->lock);
	anarchy_ep_kick(ep);
}
