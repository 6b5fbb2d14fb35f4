#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of anarchy's fuzz-frame and fuzz-ring: DMA frames of every type and
flag, good and bad in each way the decoder tells apart (corpus/frame), and ring data areas with
the indices a consumer and a producer could hold: records, pad records, wrapping indices, and
each corruption the reader rejects (corpus/ring). The layouts mirror
anarchy/kmod/anarchy_proto.h and anarchy/include/uapi/anarchy.h (pinned by the unit test,
anarchy/tests/test-proto.c). Usage: gen-corpus.py [DIR]"""
import os
import struct
import sys

FRAME_MAGIC, FRAME_VERSION, FRAME_SIZE, FRAME_HDR = 0x46594E41, 1, 4096, 48
HELLO, DATA, ACK, PING, PONG, BYE = range(1, 7)
PACKED, FRAG, ACK_VALID = 1, 2, 4
RECORD_PAD, MAX_RECORD = 1, 1 << 20
# fuzz-frame's settings byte: bit 0 makes the CRC good; bits 1-2 pick max_record
# (0, 64, 2040, 1 MiB).
FIX_CRC = 1
MAX_0, MAX_64, MAX_2040, MAX_1M = 0, 2, 4, 6


def crc32c(data, crc):
    """CRC32C, bit by bit, with no inversion of its own, like the kernel's __crc32c_le()."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def header(typ, flags, length, rseq=0, arg=0, rlen=0, rtype=0, ack=0, window=0x10000, epoch=1,
           magic=FRAME_MAGIC, version=FRAME_VERSION, reserved0=0, rx_max=0, crc=0):
    return struct.pack("<IBBHIIIIHHIIIII", magic, version, typ, flags, length, rseq, arg, rlen,
                       rtype, reserved0, ack, window, epoch, rx_max, crc)


def frame(typ, payload=b"", flags=0, length=None, crc=None, **fields):
    """A frame as anarchy_frame_encode() writes it; crc= forces a CRC."""
    length = len(payload) if length is None else length
    hdr = header(typ, flags, length, **fields)
    if crc is None:
        crc = ~crc32c(payload, crc32c(hdr, 0xFFFFFFFF)) & 0xFFFFFFFF
    return hdr[:44] + struct.pack("<I", crc) + payload


def record(length, typ=0, flags=0, fill=None):
    """A record in ring format: header, payload, padding to 8 bytes."""
    fill = bytes((typ + i) & 0xFF for i in range(length)) if fill is None else fill
    return struct.pack("<IHH", length, flags, typ) + fill + bytes(-length % 8)


def hello(name=b"far-host", boot_id=0x0123456789ABCDEF, peer_boot_id=0):
    return struct.pack("<HHIQQ16s64s", 1, 0, FRAME_SIZE, boot_id, peer_boot_id,
                       bytes(range(16)), name)


def ping(sent_ns=123456789012345, seq=1):
    return struct.pack("<QQ", sent_ns, seq)


def packed(records, flags=PACKED, **fields):
    payload = b"".join(record(n, typ=i) for i, n in enumerate(records))
    return frame(DATA, payload, flags, arg=len(records), rseq=100, **fields)


def frag(offset, length, rlen, flags=FRAG, **fields):
    return frame(DATA, bytes((offset + i) & 0xFF for i in range(length)), flags, arg=offset,
                 rlen=rlen, rtype=0x1234, rseq=200, **fields)


def frame_seeds():
    good = {
        "hello": frame(HELLO, hello()),
        "hello-ack-valid": frame(HELLO, hello(peer_boot_id=42), ACK_VALID, ack=7),
        "hello-appended-fields": frame(HELLO, hello() + bytes(range(24))),
        "data-packed-1": packed([5]),
        "data-packed-empty-record": packed([0]),
        "data-packed-many": packed([i * 37 % 61 for i in range(60)]),
        "data-packed-full-of-empty": packed([0] * 506),
        "data-packed-one-filling": packed([FRAME_SIZE - FRAME_HDR - 8]),
        "data-packed-ack-valid": packed([1, 2, 3], flags=PACKED | ACK_VALID, ack=99),
        "data-frag-first": frag(0, 4048, 10000),
        "data-frag-last": frag(8096, 1904, 10000, flags=FRAG | ACK_VALID),
        "data-frag-whole": frag(0, 1, 1),
        "ack": frame(ACK, ack=12345, window=4096),
        "ack-valid": frame(ACK, flags=ACK_VALID, ack=0xFFFFFFFF),
        "ping": frame(PING, ping()),
        "pong": frame(PONG, ping(), ACK_VALID),
        "bye": frame(BYE),
    }
    for name, f in good.items():
        yield "good-" + name, bytes([MAX_1M]) + f
    yield "good-data-packed-max-64", bytes([MAX_64]) + packed([64, 0, 63])
    yield "good-data-frag-max-2040", bytes([MAX_2040]) + frag(2032, 8, 2040)
    yield "good-bye-max-0", bytes([MAX_0]) + good["bye"]

    bad = {
        "empty": b"",
        "short": good["bye"][:47],
        "header-only-of-ping": good["ping"][:48],
        "oversize": frag(0, 4056, 8192),
        "crc": frame(PING, ping(), crc=0x12345678),
        "magic": frame(PING, ping(), magic=0x46594E42),
        "version-0": frame(BYE, version=0),
        "version-2": frame(BYE, version=2),
        "type-0": frame(0),
        "type-7": frame(7),
        "type-255": frame(255),
        "flags-on-hello": frame(HELLO, hello(), PACKED),
        "flags-unknown": frame(ACK, flags=8),
        "data-no-flags": frame(DATA, record(4)),
        "data-packed-and-frag": frame(DATA, record(4), PACKED | FRAG, arg=1),
        "reserved0": frame(BYE, reserved0=1),
        "rx-max-too-big": frame(BYE, rx_max=0x80000000),
        "length-long": frame(PING, ping(), length=24),
        "length-short": frame(PING, ping(), length=8),
        "length-huge": frame(BYE, length=0xFFFFFFFF),
        "packed-count-0": frame(DATA, record(5), PACKED, arg=0),
        "packed-count-over": frame(DATA, record(5) + record(6), PACKED, arg=3),
        "packed-count-under": frame(DATA, record(5) + record(6), PACKED, arg=1),
        "packed-count-huge": frame(DATA, record(5), PACKED, arg=0xFFFFFFFF),
        "packed-trailing": frame(DATA, record(5) + bytes(4), PACKED, arg=1),
        "packed-pad-flag": frame(DATA, record(5, flags=RECORD_PAD), PACKED, arg=1),
        "packed-unpadded": frame(DATA, record(5)[:13], PACKED, arg=1),
        "packed-len-past-frame": frame(DATA, struct.pack("<IHH", 4096, 0, 0) + bytes(64),
                                       PACKED, arg=1),
        "packed-first-past-frame": frame(DATA, struct.pack("<IHH", 200, 0, 0) + bytes(16),
                                         PACKED, arg=2),
        "packed-len-wraps": frame(DATA, struct.pack("<IHH", 0xFFFFFFF9, 0, 0) + bytes(8),
                                  PACKED, arg=1),
        "frag-past-record": frag(8096, 1905, 10000),
        "frag-misaligned": frag(4, 100, 10000),
        "frag-record-too-long": frag(0, 100, MAX_RECORD + 1),
        "frag-empty": frag(0, 0, 10000),
        "frag-offset-wraps": frag(0xFFFFFFF8, 16, 10000),
        "hello-short": frame(HELLO, hello()[:103]),
        "ping-short": frame(PING, ping()[:15]),
        "ping-long": frame(PING, ping() + b"\0"),
        "pong-empty": frame(PONG),
        "ack-with-payload": frame(ACK, b"\0" * 8),
        "bye-with-payload": frame(BYE, b"x"),
    }
    for name, f in bad.items():
        yield "bad-" + name, bytes([MAX_1M]) + f
        if len(f) >= FRAME_HDR and name != "crc":
            # The same header with a wrong CRC that the harness makes good.
            yield "bad-" + name + "-fixed", bytes([MAX_1M | FIX_CRC]) + f[:44] + b"\0" * 4 + f[48:]
    yield "bad-packed-over-max-64", bytes([MAX_64]) + packed([65])
    yield "bad-frag-over-max-2040", bytes([MAX_2040]) + frag(0, 8, 2041)
    yield "garbage-fixed", bytes([MAX_1M | FIX_CRC]) + bytes((i * 167 + 13) & 0xFF
                                                              for i in range(300))
    yield "garbage-anyf-fixed", bytes([MAX_1M | FIX_CRC]) + header(DATA, PACKED, 200, arg=3) + \
        bytes((i * 89 + 1) & 0xFF for i in range(200))


# fuzz-ring's input header: data size exponent (2^(3 + n % 14)), max_record, pos, head, len.
RING_4K, RING_8, RING_16, RING_64K = 9, 0, 1, 13


def ring(size_exp, max_record, pos, head, length, records=(), trim=True):
    """A fuzz-ring input: the header, then a data area with records placed at their indices."""
    size = 1 << (3 + size_exp)
    area = bytearray(size)
    for at, rec in records:
        off = at & (size - 1)
        rec = rec[:size - off]  # a record that says it crosses the end is cut there
        area[off:off + len(rec)] = rec
    end = len(area)
    while trim and end > 0 and area[end - 1] == 0:
        end -= 1
    return struct.pack("<BIIII", size_exp, max_record, pos & 0xFFFFFFFF, head & 0xFFFFFFFF,
                       length) + bytes(area[:end])


def pad(at, size):
    """The pad record from index at to the end of a data area of size bytes."""
    to_end = size - (at & (size - 1))
    return (at, struct.pack("<IHH", to_end - 8, RECORD_PAD, 0))


def laid_out(start, lens, size=4096):
    """Records of lens from index start, with pad records where one would cross the end;
    returns them and the index after them."""
    out, at = [], start
    for i, n in enumerate(lens):
        rec = record(n, typ=i)
        if (at & (size - 1)) + len(rec) > size:
            out.append(pad(at, size))
            at += size - (at & (size - 1))
        out.append((at, rec))
        at += len(rec)
    return out, at


def ring_seeds():
    m = 2040
    yield "empty", ring(RING_4K, m, 0, 0, 100)
    recs, head = laid_out(0, [5, 0, 100])
    yield "three-records", ring(RING_4K, m, 0, head, 8, recs)
    # Indices about to wrap, a pad record at the end of the area, records after it.
    start = 0xFFFFFF00
    recs, head = laid_out(start, [13, 300, 7, 1000])
    yield "wrap-with-pad", ring(RING_4K, m, start, head, 200, recs)
    recs, head = laid_out(0, [m, m])
    yield "full-of-max-records", ring(RING_4K, m, 0, head, 0, recs)
    yield "pad-whole-area", ring(RING_4K, m, 0, 4096, 16, [pad(0, 4096)])
    recs, head = laid_out(0x1000 - 64, [i % 23 for i in range(400)], 1 << 16)
    yield "64k-many-small", ring(RING_64K, MAX_RECORD, 0x1000 - 64, head, 5000, recs)
    yield "ring-8-one-empty-record", ring(RING_8, 0, 0, 8, 0, [(0, record(0))], trim=False)
    yield "ring-16-pad", ring(RING_16, 8, 8, 24, 0, [pad(8, 16), (16, record(0))])
    # Corruptions the reader rejects.
    yield "bad-flags", ring(RING_4K, m, 0, 64, 0, [(0, record(8, flags=2))])
    yield "bad-pad-short", ring(RING_4K, m, 4000, 4096, 0, [(4000, struct.pack("<IHH", 80, 1, 0))])
    yield "bad-pad-past-head", ring(RING_4K, m, 4000, 4088, 0, [pad(4000, 4096)])
    yield "bad-len-over-max", ring(RING_4K, 64, 0, 4096, 0, [(0, record(65))])
    yield "bad-len-huge", ring(RING_4K, MAX_RECORD, 0, 4096, 0,
                               [(0, struct.pack("<IHH", 0xFFFFFFF9, 0, 0))])
    yield "bad-crosses-end", ring(RING_4K, m, 4032, 4032 + 4096, 0, [(4032, record(57))])
    yield "bad-past-head", ring(RING_4K, m, 0, 104, 0, [(0, record(100))])
    yield "bad-pos-misaligned", ring(RING_4K, m, 4, 20, 0, [(0, record(8))])
    yield "bad-head-misaligned", ring(RING_4K, m, 0, 12, 0, [(0, record(0))])
    yield "bad-head-behind", ring(RING_4K, m, 64, 0, 0)
    yield "bad-head-too-far", ring(RING_4K, m, 0, 4104, 0, [(0, record(0))])
    recs, head = laid_out(0, [10, 20, 30])
    recs.append((head, record(3000)))
    yield "bad-after-good-records", ring(RING_4K, m, 0, head + 3008, 0, recs)
    # What reserve sees: a skip at the end, an exact fit, no room, too long, a misaligned head.
    yield "reserve-skip", ring(RING_4K, m, 0xFFFFFFC0, 0xFFFFFFC0, 100)
    yield "reserve-exact-fit", ring(RING_4K, m, 0xFFFFFFC0, 0xFFFFFFC0, 56)
    yield "reserve-skip-no-room", ring(RING_4K, m, 0xFFFFFFC0 - (4096 - 168), 0xFFFFFFC0, 100)
    yield "reserve-full", ring(RING_4K, m, 0, 4096, 0, laid_out(0, [m, m])[0])
    yield "reserve-too-long", ring(RING_4K, m, 0, 0, m + 1)
    yield "reserve-tail-ahead", ring(RING_4K, m, 8, 0, 0)
    yield "reserve-head-misaligned", ring(RING_4K, m, 4092, 4092, 0)
    yield "reserve-64k-max", ring(RING_64K, MAX_RECORD, 0x20000 - 8, 0x20000 - 8, 32760)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    for sub, seeds in (("frame", frame_seeds()), ("ring", ring_seeds())):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        for name, data in seeds:
            with open(os.path.join(root, sub, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
