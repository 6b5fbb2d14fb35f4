/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The pure logic of the anarchy link, free of kernel state: ring indices and
 * records, the wire frame, and the link model. The module uses it in both
 * modes, and the userspace unit test and fuzz harness build the same file
 * (anarchy/tests). Nothing here sleeps, allocates or locks; every byte it reads
 * from a ring or a frame is treated as hostile.
 */
#ifndef ANARCHY_PROTO_H
#define ANARCHY_PROTO_H

#include "../include/uapi/anarchy.h"
#include "anarchy_compat.h"

/* Rings (the layout is in the UAPI header). */

#define ANARCHY_RECORD_HDR ((u32)sizeof(struct anarchy_record))
#define ANARCHY_MAX_RECORD 0x100000U /* 1 MiB */

/* The bytes a record of payload len takes in a ring, header and padding
 * included.
 */
static inline u32 anarchy_record_footprint(u32 len)
{
	return ANARCHY_RECORD_HDR + ALIGN(len, ANARCHY_RECORD_ALIGN);
}

/* The largest payload a ring of data_size bytes takes: a record and the padding
 * record it may need must fit at once, so half the ring (less a header), at
 * most ANARCHY_MAX_RECORD.
 */
u32 anarchy_ring_max_record(u32 data_size);

/* Whether data_size is a ring size the module accepts. */
bool anarchy_ring_size_valid(u32 data_size);

/* A record found in a ring by anarchy_ring_peek(). */
struct anarchy_ring_rec {
	u32 pos;    /* index of its header */
	u32 offset; /* offset of its header in the data area */
	u32 len;    /* payload bytes; for a pad record, the bytes it skips */
	u16 flags;
	u16 type;
	u32 footprint; /* bytes to advance past it */
};

/*
 * Reads the record at index pos of a ring whose producer published head. data
 * and data_size describe the data area. The header is read once; the record is
 * checked to lie between pos and head, not to wrap, and to be no longer than
 * max_record.
 *
 * Returns 0 and fills *ret; -EAGAIN when pos == head (no record); -EINVAL when
 * the indices are impossible (head - pos beyond the ring, misaligned pos);
 * -EPROTO when the record header is bad (unknown flags, length past head or the
 * end of the area, too long).
 */
int anarchy_ring_peek(const void *data, u32 data_size, u32 max_record, u32 pos,
		      u32 head, struct anarchy_ring_rec *ret);

/*
 * Where a producer at index head can write a record of payload len, with the
 * consumer at tail. Returns the number of bytes to skip first with a pad record
 * (0 when the record fits before the end), or -ENOSPC when the ring lacks the
 * room now, -EINVAL when tail is impossible (beyond head, or more than a ring
 * behind it), -EMSGSIZE when len can never fit.
 */
int anarchy_ring_reserve(u32 data_size, u32 max_record, u32 head, u32 tail,
			 u32 len);

/* Writes a pad record of skip bytes (from anarchy_ring_reserve()) at index
 * head.
 */
void anarchy_ring_write_pad(void *data, u32 data_size, u32 head, u32 skip);

/* Free bytes of a ring, 0 when tail is impossible. */
static inline u32 anarchy_ring_free(u32 data_size, u32 head, u32 tail)
{
	u32 used = head - tail;

	return used > data_size ? 0 : data_size - used;
}

/* The wire frame: every DMA frame on the link is one of these, little-endian.
 */

#define ANARCHY_FRAME_MAGIC 0x46594e41 /* "ANYF" */
#define ANARCHY_FRAME_VERSION 1
#define ANARCHY_FRAME_SIZE 4096U /* the Thunderbolt DMA frame size */

enum anarchy_frame_type {
	ANARCHY_FRAME_HELLO = 1, /* negotiation; payload struct anarchy_hello */
	ANARCHY_FRAME_DATA = 2,	 /* records */
	ANARCHY_FRAME_ACK = 3,	 /* only the ack and window fields */
	ANARCHY_FRAME_PING = 4,	 /* heartbeat; payload struct anarchy_ping */
	ANARCHY_FRAME_PONG = 5,	 /* heartbeat answer; the ping's payload echoed
				  */
	ANARCHY_FRAME_BYE = 6,	 /* the sender is going down */
	_ANARCHY_FRAME_TYPE_MAX,
};

/* DATA flags: PACKED frames carry count whole records in ring format (header,
 * payload, padding); a FRAG frame carries bytes roff.. of the one record rseq
 * of length rlen.
 */
#define ANARCHY_FRAME_PACKED BIT(0)
#define ANARCHY_FRAME_FRAG BIT(1)
/* Any frame: the ack field is meaningful (the sender follows our numbering). */
#define ANARCHY_FRAME_ACK_VALID BIT(2)

struct anarchy_frame_hdr {
	__le32 magic;
	u8 version;
	u8 type;
	__le16 flags;
	__le32 len;   /* payload bytes after the header */
	__le32 rseq;  /* DATA: sequence number of the first record */
	/* DATA: PACKED, the record count; FRAG, the offset in the record. */
	__le32 arg;
	__le32 rlen;  /* DATA FRAG: payload length of the whole record */
	__le16 rtype; /* DATA FRAG: the record's type */
	__le16 reserved0;
	/* Every frame: the next record sequence the sender expects . */
	__le32 ack;
	__le32 window; /* every frame: free bytes in the sender's RX ring */
	__le32 epoch;  /* every frame: the sender's transmit epoch */
	/* Every frame: the largest record the sender's RX ring takes; 0: none. */
	__le32 rx_max;
	__le32 crc; /* CRC32C of header (this field zero) and payload */
};

#define ANARCHY_FRAME_HDR ((u32)sizeof(struct anarchy_frame_hdr))
#define ANARCHY_FRAME_PAYLOAD (ANARCHY_FRAME_SIZE - ANARCHY_FRAME_HDR)

/* HELLO payload. */
struct anarchy_hello {
	__le16 abi_major;
	__le16 abi_minor;
	__le32 frame_size;
	__le64 boot_id; /* random, chosen when the sender's endpoint was made */
	/* The boot_id the sender last heard from us; 0 if none. */
	__le64 peer_boot_id;
	__le32 flags; /* ANARCHY_HELLO_* */
	__le32 reserved;
	u8 uuid[16];
	char name[ANARCHY_NAME_MAX];
};

/* The sender of the HELLO considers the link up: it needs no answer. */
#define ANARCHY_HELLO_UP BIT(0)

/* PING and PONG payload. */
struct anarchy_ping {
	__le64 sent_ns; /* the pinger's clock */
	__le64 seq;
};

/* A frame header in host order, as anarchy_frame_decode() gives it. */
struct anarchy_frame {
	u8 type;
	u16 flags;
	u32 len;
	u32 rseq;
	u32 arg;
	u32 rlen;
	u16 rtype;
	u32 ack;
	u32 window;
	u32 epoch;
	u32 rx_max;
	const u8 *payload;
};

/* Fills the header at buf (followed by f->len payload bytes already in place)
 * from f, CRC included. Returns the frame's total length.
 */
u32 anarchy_frame_encode(void *buf, const struct anarchy_frame *f);

/*
 * Checks and decodes a received frame of len bytes. Returns 0 and fills *ret
 * (whose payload points into buf), or: -EBADMSG for a CRC mismatch (checked
 * first, over all of the frame); -EPROTO for a short frame, bad magic, unknown
 * type or flags, an rx_max over ANARCHY_MAX_RECORD, lengths that do not add
 * up (a PACKED frame whose records do not fill its payload exactly, a fragment
 * past its record, a record over max_record, a short HELLO or PING);
 * -EPROTONOSUPPORT for another frame version.
 */
int anarchy_frame_decode(const void *buf, u32 len, u32 max_record,
			 struct anarchy_frame *ret);

/* The link model: paces frames at a rate and adds a latency. */
struct anarchy_model {
	u64 rate_bps; /* bits per second; 0: no limit */
	u64 latency_ns;
	u64 next_free_ns; /* when the modelled wire is free again */
};

/* The per-frame bytes the model charges besides the frame: the Thunderbolt
 * header and CRC, and the gap between frames.
 */
#define ANARCHY_MODEL_FRAME_OVERHEAD 16U

/* When a frame of bytes handed over at now_ns arrives at the far side, and
 * marks the wire busy until it is sent.
 */
u64 anarchy_model_schedule(struct anarchy_model *m, u64 now_ns, u32 bytes);

/* The bit rate of a link of dma_mbps (0: none) under a cap of cap_mbps (0:
 * none).
 */
u64 anarchy_model_rate(u32 dma_mbps, u32 cap_mbps);

#endif /* ANARCHY_PROTO_H */
