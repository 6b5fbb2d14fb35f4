/* SPDX-License-Identifier: MIT */
/*
 * The wire frame of the network transports (unix://, tcp://, tls://, udp://). Every
 * message, acknowledgement and control exchange on a connection is one frame: a 32-byte
 * header, then `length` payload bytes (none for a DATA frame sent as a memfd).
 *
 *   0   magic     u32  PSYNE_FRAME_MAGIC, the bytes "PSYF"
 *   4   version   u8   PSYNE_FRAME_VERSION; another value is refused (-EPROTONOSUPPORT)
 *   5   kind      u8   enum psyne_frame_kind
 *   6   flags     u16  PSYNE_FRAME_F_*
 *   8   type      u32  DATA: the caller's message type; 0 otherwise
 *   12  length    u32  payload bytes following the header
 *   16  seq       u64  per kind, see enum psyne_frame_kind
 *   24  crc       u32  CRC32C of the 32 header bytes with crc = 0, extended over the payload
 *   28  reserved  u32  0
 *
 * All fields are little-endian. struct psyne_frame_hdr and struct psyne_frame_hello spell
 * the byte layouts out and hold little-endian values: code never reads them in place (a
 * frame in a stream buffer has no particular alignment) but copies them and converts each
 * field. struct psyne_frame and struct psyne_hello are the decoded, host-order forms.
 */
#ifndef PSYNE_FRAME_H
#define PSYNE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSYNE_FRAME_MAGIC 0x46595350u /* bytes "PSYF" */
#define PSYNE_FRAME_VERSION 1
#define PSYNE_FRAME_HDR_SIZE 32u
#define PSYNE_FRAME_HELLO_SIZE 48u
#define PSYNE_FRAME_REJECT_MIN 4u   /* the errno alone */
#define PSYNE_FRAME_REJECT_MAX 260u /* the errno and a 256-byte reason */

enum psyne_frame_kind {
	PSYNE_FRAME_HELLO = 1, /* payload: struct psyne_frame_hello */
	PSYNE_FRAME_DATA = 2,  /* payload: the message; seq = message sequence number */
	PSYNE_FRAME_ACK = 3,   /* no payload; seq = cumulative: every DATA below seq was received */
	PSYNE_FRAME_PING = 4,  /* no payload; seq = nonce */
	PSYNE_FRAME_PONG = 5,  /* no payload; seq = the PING's nonce */
	PSYNE_FRAME_BYE = 6,   /* no payload; orderly close: no more DATA will come */
	PSYNE_FRAME_REJECT = 7, /* payload: u32 LE errno then a UTF-8 reason, <= 256 bytes */
	_PSYNE_FRAME_KIND_MAX,
};

/*
 * DATA only: the payload travels as a sealed memfd (SCM_RIGHTS); length is the memfd's size
 * and no payload bytes follow in the stream; crc covers the header only.
 */
#define PSYNE_FRAME_F_MEMFD 0x0001u
#define PSYNE_FRAME_F_ALL PSYNE_FRAME_F_MEMFD

struct psyne_frame_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t kind;
	uint16_t flags;
	uint32_t type;
	uint32_t length;
	uint64_t seq;
	uint32_t crc;
	uint32_t reserved;
};
_Static_assert(sizeof(struct psyne_frame_hdr) == PSYNE_FRAME_HDR_SIZE, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, magic) == 0, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, version) == 4, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, kind) == 5, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, flags) == 6, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, type) == 8, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, length) == 12, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, seq) == 16, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, crc) == 24, "frame header abi");
_Static_assert(offsetof(struct psyne_frame_hdr, reserved) == 28, "frame header abi");

#define PSYNE_HELLO_F_LISTENER 0x1u /* sent by the accepting side */
#define PSYNE_HELLO_F_ALL PSYNE_HELLO_F_LISTENER
#define PSYNE_HELLO_HEARTBEAT_MIN_MS 10u
#define PSYNE_HELLO_HEARTBEAT_MAX_MS 600000u

/* The payload of a HELLO frame. */
struct psyne_frame_hello {
	uint64_t session;      /* the dialer's random session id, kept across reconnects */
	uint64_t next_seq;     /* next DATA seq this side expects (the resume point) */
	uint32_t mode;	       /* sender's psyne mode, PSYNE_MODE_* of ring.h */
	uint32_t max_msg;      /* largest payload this side accepts */
	uint32_t heartbeat_ms; /* sender's heartbeat interval */
	uint32_t flags;	       /* PSYNE_HELLO_F_* */
	uint64_t window;       /* bytes the sender's send ring holds: acknowledge well within it */
	uint64_t reserved;     /* 0 */
};
_Static_assert(sizeof(struct psyne_frame_hello) == PSYNE_FRAME_HELLO_SIZE, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, session) == 0, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, next_seq) == 8, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, mode) == 16, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, max_msg) == 20, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, heartbeat_ms) == 24, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, flags) == 28, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, window) == 32, "hello abi");
_Static_assert(offsetof(struct psyne_frame_hello, reserved) == 40, "hello abi");

/* A decoded header, in host byte order. */
struct psyne_frame {
	uint8_t kind;	/* enum psyne_frame_kind */
	uint16_t flags; /* PSYNE_FRAME_F_* */
	uint32_t type;
	uint32_t length; /* payload bytes; for PSYNE_FRAME_F_MEMFD, the memfd's size */
	uint64_t seq;
	uint32_t crc; /* as read (decode) or ignored (encode) */
};

/* A decoded HELLO payload, in host byte order. */
struct psyne_hello {
	uint64_t session;
	uint64_t next_seq;
	uint32_t mode;
	uint32_t max_msg;
	uint32_t heartbeat_ms;
	uint32_t flags;
	uint64_t window;
};

/* The payload bytes that follow header `f` in the stream: 0 for a memfd frame. */
static inline uint32_t psyne__frame_stream_length(const struct psyne_frame *f)
{
	return (f->flags & PSYNE_FRAME_F_MEMFD) != 0 ? 0 : f->length;
}

/*
 * The frame CRC: CRC32C of the 32 header bytes at `hdr32` with the crc field read as 0,
 * extended over `len` payload bytes (0 for a memfd frame). No alignment needed.
 */
uint32_t psyne__frame_crc(const void *hdr32, const void *payload, size_t len);

/*
 * Writes the 32-byte header of `f` to `out_hdr` (any alignment): magic, version, the fields
 * of `f` (f->crc is ignored) and the CRC over that header and `payload_len` bytes at
 * `payload`. `payload_len` must equal f->length, or be 0 for a PSYNE_FRAME_F_MEMFD frame.
 * `f` is not checked: a caller sends only what psyne__frame_decode() accepts.
 */
void psyne__frame_encode(void *out_hdr, const struct psyne_frame *f, const void *payload,
			 size_t payload_len);

/*
 * Decodes and checks the 32-byte header at `hdr32` (any alignment) into *ret, crc included
 * but not verified (that needs the payload: psyne__frame_verify()). Errors:
 *   -EPROTO           bad magic; kind out of range; unknown flag bits, or MEMFD on a kind
 *                     other than DATA; type or reserved not 0 where they must be; a length
 *                     that does not fit the kind (not 0 for ACK, PING, PONG and BYE, not 48
 *                     for HELLO, not 4..260 for REJECT)
 *   -EPROTONOSUPPORT  a version other than PSYNE_FRAME_VERSION
 *   -EMSGSIZE         length > max_payload (memfd frames included: it is the message size)
 */
int psyne__frame_decode(const void *hdr32, uint32_t max_payload, struct psyne_frame *ret);

/*
 * Checks the crc field of the header at `hdr32` against its header and the `len` payload
 * bytes at `payload` (0 and NULL for a memfd frame): 0, or -EBADMSG when they differ.
 */
int psyne__frame_verify(const void *hdr32, const void *payload, size_t len);

/* Writes the 48-byte HELLO payload for `h` to `out` (any alignment); reserved bytes are 0. */
void psyne__frame_hello_encode(void *out, const struct psyne_hello *h);

/*
 * Decodes the HELLO payload of `len` bytes at `payload` into *ret. -EPROTO: len is not 48,
 * reserved bytes or unknown flags are set, mode is not a PSYNE_MODE_*, max_msg is 0, or
 * heartbeat_ms is outside PSYNE_HELLO_HEARTBEAT_MIN_MS..PSYNE_HELLO_HEARTBEAT_MAX_MS.
 */
int psyne__frame_hello_decode(const void *payload, size_t len, struct psyne_hello *ret);

/*
 * An incremental reader for byte streams: the transport read()s straight into the reader's
 * buffer and takes whole, checked frames out of it.
 *
 *	for (;;) {
 *		while ((r = psyne__frame_reader_next(&rd, &f, &payload)) > 0)
 *			handle(&f, payload);	(payload valid until the next reader call)
 *		if (r < 0)
 *			return r;		(the stream is bad: close it)
 *		r = psyne__frame_reader_space(&rd, &p, &n);
 *		if (r < 0)
 *			return r;
 *		n = read(fd, p, n);		(n >= 1 here)
 *		...
 *		psyne__frame_reader_fill(&rd, n);
 *	}
 *
 * Memory stays bounded by the frame being read: the buffer starts at
 * min(PSYNE_FRAME_READER_INITIAL, 32 + max_payload) bytes and grows (geometrically, to
 * 32 + max_payload at most) only once a validated header asks for more; a header is checked
 * as soon as its 32 bytes are in, so an oversize length is refused before any allocation
 * for it. Consumed bytes are compacted away, so any number of frames can arrive in one
 * read(). Once the buffer is empty after a small frame it shrinks back to its initial size.
 * After an error, every call returns that error. Not thread-safe: one reader per stream.
 * The fields are private.
 */
#define PSYNE_FRAME_READER_INITIAL (64u * 1024)

struct psyne_frame_reader {
	uint8_t *buf;
	size_t capacity;   /* bytes allocated at buf */
	size_t start;	   /* first byte not consumed */
	size_t end;	   /* one past the last byte filled */
	size_t initial;	   /* the capacity to return to */
	size_t limit;	   /* 32 + max_payload */
	size_t last_total; /* the bytes of the frame consumed last */
	uint32_t max_payload;
	bool have_hdr; /* hdr holds the checked header at start */
	struct psyne_frame hdr;
	int error; /* sticky: once set, the stream is unusable */
};

/*
 * Sets up *r for frames of at most max_payload payload bytes. -ENOMEM; -EINVAL when `r` is
 * NULL or 32 + max_payload does not fit in size_t. Undo with psyne__frame_reader_done().
 */
int psyne__frame_reader_init(struct psyne_frame_reader *r, uint32_t max_payload);

/* Frees the buffer; *r may be zeroed, half set up or done already. */
void psyne__frame_reader_done(struct psyne_frame_reader *r);

/*
 * Where to read() into next (*ret_ptr) and how much room there is (*ret_len): at least 1
 * byte, unless a complete frame is pending, when it may be 0 (call psyne__frame_reader_next()
 * until it returns 0 first). May move or reallocate the buffer, ending the life of any
 * payload returned before. -ENOMEM (the reader is still usable), or the stream's error,
 * found here too when a header just completed is bad.
 */
int psyne__frame_reader_space(struct psyne_frame_reader *r, void **ret_ptr, size_t *ret_len);

/* Records that `n` bytes were written at the pointer of the last psyne__frame_reader_space(). */
void psyne__frame_reader_fill(struct psyne_frame_reader *r, size_t n);

/*
 * Takes the next complete frame: 1 with the header in *ret and its payload in *ret_payload
 * (a pointer into the buffer, valid until the next reader call; NULL for a memfd frame),
 * 0 when more bytes are needed, or a negative errno for a bad frame: -EPROTO,
 * -EPROTONOSUPPORT, -EMSGSIZE as psyne__frame_decode() says, -EBADMSG for a CRC mismatch.
 * After an error the stream is unusable.
 */
int psyne__frame_reader_next(struct psyne_frame_reader *r, struct psyne_frame *ret,
			     const void **ret_payload);

#endif
