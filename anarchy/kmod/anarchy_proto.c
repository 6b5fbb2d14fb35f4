// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The pure logic of the anarchy link: ring records, wire frames, the link
 * model. See anarchy_proto.h; this file is also built in userspace by the unit
 * test and the fuzz harness, so it uses nothing but anarchy_compat.h.
 */
#include "anarchy_proto.h"

u32 anarchy_ring_max_record(u32 data_size)
{
	u32 half = data_size / 2 - ANARCHY_RECORD_HDR;

	return min_t(u32, half & ~(ANARCHY_RECORD_ALIGN - 1),
		     ANARCHY_MAX_RECORD);
}

bool anarchy_ring_size_valid(u32 data_size)
{
	return is_power_of_2(data_size) && data_size >= ANARCHY_RING_MIN &&
	       data_size <= ANARCHY_RING_MAX;
}

int anarchy_ring_peek(const void *data, u32 data_size, u32 max_record, u32 pos,
		      u32 head, struct anarchy_ring_rec *ret)
{
	struct anarchy_record hdr;
	u32 avail = head - pos;
	u32 offset, to_end, footprint;

	if (avail == 0)
		return -EAGAIN;
	if (avail > data_size || pos % ANARCHY_RECORD_ALIGN != 0 ||
	    avail % ANARCHY_RECORD_ALIGN != 0)
		return -EINVAL;

	offset = pos & (data_size - 1);
	to_end = data_size - offset;
	/* One read of the header: the producer may rewrite it while we look. */
	memcpy(&hdr, (const u8 *)data + offset, sizeof(hdr));

	if (hdr.flags & ~ANARCHY_RECORD_PAD)
		return -EPROTO;
	if (hdr.flags & ANARCHY_RECORD_PAD) {
		/* A pad record fills the area up to its end, exactly. */
		if (hdr.len != to_end - ANARCHY_RECORD_HDR)
			return -EPROTO;
		footprint = to_end;
	} else {
		/* Both bounds before the footprint, which would overflow for a
		 * length near 2^32.
		 */
		if (hdr.len > max_record || hdr.len > to_end - ANARCHY_RECORD_HDR)
			return -EPROTO;
		footprint = anarchy_record_footprint(hdr.len);
		if (footprint > to_end)
			return -EPROTO;
	}
	if (footprint > avail)
		return -EPROTO;

	*ret = (struct anarchy_ring_rec){
		.pos = pos,
		.offset = offset,
		.len = hdr.len,
		.flags = hdr.flags,
		.type = hdr.type,
		.footprint = footprint,
	};
	return 0;
}

int anarchy_ring_reserve(u32 data_size, u32 max_record, u32 head, u32 tail,
			 u32 len)
{
	u32 used = head - tail;
	u32 footprint, to_end, skip;

	if (used > data_size)
		return -EINVAL;
	if (len > max_record)
		return -EMSGSIZE;

	footprint = anarchy_record_footprint(len);
	to_end = data_size - (head & (data_size - 1));
	skip = footprint > to_end ? to_end : 0;
	if (data_size - used < skip + footprint)
		return -ENOSPC;
	return (int)skip;
}

void anarchy_ring_write_pad(void *data, u32 data_size, u32 head, u32 skip)
{
	struct anarchy_record pad = {
		.len = skip - ANARCHY_RECORD_HDR,
		.flags = ANARCHY_RECORD_PAD,
	};

	memcpy((u8 *)data + (head & (data_size - 1)), &pad, sizeof(pad));
}

static u32 frame_crc(const struct anarchy_frame_hdr *hdr, const u8 *payload,
		     u32 len)
{
	struct anarchy_frame_hdr copy = *hdr;
	u32 crc;

	copy.crc = 0;
	crc = crc32c(~0U, &copy, sizeof(copy));
	crc = crc32c(crc, payload, len);
	return ~crc;
}

u32 anarchy_frame_encode(void *buf, const struct anarchy_frame *f)
{
	struct anarchy_frame_hdr hdr = {
		.magic = cpu_to_le32(ANARCHY_FRAME_MAGIC),
		.version = ANARCHY_FRAME_VERSION,
		.type = f->type,
		.flags = cpu_to_le16(f->flags),
		.len = cpu_to_le32(f->len),
		.rseq = cpu_to_le32(f->rseq),
		.arg = cpu_to_le32(f->arg),
		.rlen = cpu_to_le32(f->rlen),
		.rtype = cpu_to_le16(f->rtype),
		.ack = cpu_to_le32(f->ack),
		.window = cpu_to_le32(f->window),
		.epoch = cpu_to_le32(f->epoch),
		.rx_max = cpu_to_le32(f->rx_max),
	};
	u8 *payload = (u8 *)buf + ANARCHY_FRAME_HDR;

	hdr.crc = cpu_to_le32(frame_crc(&hdr, payload, f->len));
	memcpy(buf, &hdr, sizeof(hdr));
	return ANARCHY_FRAME_HDR + f->len;
}

/* The records of a PACKED frame must be count whole, unpadded-flag records that
 * fill its payload exactly.
 */
static int check_packed(const u8 *p, u32 len, u32 count, u32 max_record)
{
	u32 i, pos = 0;

	if (count == 0)
		return -EPROTO;
	for (i = 0; i < count; i++) {
		struct anarchy_record rec;
		u32 footprint;

		if (len - pos < ANARCHY_RECORD_HDR)
			return -EPROTO;
		memcpy(&rec, p + pos, sizeof(rec));
		if (rec.flags != 0 || rec.len > max_record)
			return -EPROTO;
		footprint = anarchy_record_footprint(rec.len);
		if (footprint > len - pos)
			return -EPROTO;
		pos += footprint;
	}
	return pos == len ? 0 : -EPROTO;
}

static int check_payload(const struct anarchy_frame *frame, u32 max_record)
{
	struct anarchy_frame copy = *frame;
	const struct anarchy_frame *f = &copy;

	copy.flags &= ~ANARCHY_FRAME_ACK_VALID;
	switch (f->type) {
	case ANARCHY_FRAME_HELLO:
		return f->flags == 0 && f->len >= sizeof(struct anarchy_hello) ?
			       0 :
			       -EPROTO;
	case ANARCHY_FRAME_PING:
	case ANARCHY_FRAME_PONG:
		return f->flags == 0 && f->len == sizeof(struct anarchy_ping) ?
			       0 :
			       -EPROTO;
	case ANARCHY_FRAME_ACK:
	case ANARCHY_FRAME_BYE:
		return f->flags == 0 && f->len == 0 ? 0 : -EPROTO;
	case ANARCHY_FRAME_DATA:
		if (f->flags == ANARCHY_FRAME_PACKED)
			return check_packed(f->payload, f->len, f->arg,
					    max_record);
		if (f->flags != ANARCHY_FRAME_FRAG)
			return -EPROTO;
		if (f->rlen > max_record || f->len == 0 || f->len > f->rlen ||
		    f->arg > f->rlen - f->len ||
		    f->arg % ANARCHY_RECORD_ALIGN != 0)
			return -EPROTO;
		return 0;
	default:
		return -EPROTO;
	}
}

int anarchy_frame_decode(const void *buf, u32 len, u32 max_record,
			 struct anarchy_frame *ret)
{
	struct anarchy_frame_hdr hdr;
	struct anarchy_frame f;
	int r;

	if (len < ANARCHY_FRAME_HDR || len > ANARCHY_FRAME_SIZE)
		return -EPROTO;
	memcpy(&hdr, buf, sizeof(hdr));
	/* The CRC first: damage anywhere in the frame, its header included, is
	 * damage.
	 */
	if (le32_to_cpu(hdr.crc) !=
	    frame_crc(&hdr, (const u8 *)buf + ANARCHY_FRAME_HDR,
		      len - ANARCHY_FRAME_HDR))
		return -EBADMSG;
	if (le32_to_cpu(hdr.magic) != ANARCHY_FRAME_MAGIC)
		return -EPROTO;
	if (hdr.version != ANARCHY_FRAME_VERSION)
		return -EPROTONOSUPPORT;
	if (le32_to_cpu(hdr.len) != len - ANARCHY_FRAME_HDR)
		return -EPROTO;
	if (hdr.reserved0 != 0 || le32_to_cpu(hdr.rx_max) > ANARCHY_MAX_RECORD)
		return -EPROTO;

	f = (struct anarchy_frame){
		.type = hdr.type,
		.flags = le16_to_cpu(hdr.flags),
		.len = le32_to_cpu(hdr.len),
		.rseq = le32_to_cpu(hdr.rseq),
		.arg = le32_to_cpu(hdr.arg),
		.rlen = le32_to_cpu(hdr.rlen),
		.rtype = le16_to_cpu(hdr.rtype),
		.ack = le32_to_cpu(hdr.ack),
		.window = le32_to_cpu(hdr.window),
		.epoch = le32_to_cpu(hdr.epoch),
		.rx_max = le32_to_cpu(hdr.rx_max),
		.payload = (const u8 *)buf + ANARCHY_FRAME_HDR,
	};
	r = check_payload(&f, max_record);
	if (r < 0)
		return r;
	*ret = f;
	return 0;
}

u64 anarchy_model_schedule(struct anarchy_model *m, u64 now_ns, u32 bytes)
{
	u64 start, wire_ns, bits;

	if (m->rate_bps == 0)
		return now_ns + m->latency_ns;

	bits = (u64)(bytes + ANARCHY_MODEL_FRAME_OVERHEAD) * 8;
	wire_ns = mul_u64_u64_div_u64(bits, NSEC_PER_SEC, m->rate_bps);
	start = max_t(u64, now_ns, m->next_free_ns);
	m->next_free_ns = start + wire_ns;
	return m->next_free_ns + m->latency_ns;
}

u64 anarchy_model_rate(u32 dma_mbps, u32 cap_mbps)
{
	u32 mbps = dma_mbps;

	if (cap_mbps != 0 && (mbps == 0 || cap_mbps < mbps))
		mbps = cap_mbps;
	return (u64)mbps * 1000000ULL;
}
