#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz-ring and fuzz-uri: well-formed segments in every state the
ring can be in, and the corruptions a hostile or crashed process could leave. The layout
mirrors psyne/src/ring.h (pinned there by _Static_assert). Usage: gen-corpus.py [DIR]"""
import os
import struct
import sys

MAGIC, DATA, SLOTS = 0x454E5950, 8192, 512
RESERVED, COMMITTED, CLAIMED, RELEASED, CANCELLED, WRAP = 1, 2, 3, 4, 5, 6


def tag(slot, gen):
    return slot | gen << 6


def state(kind, t=0):
    return kind | t << 4


def segment(cap=4096, mode=0, name=b"fuzz", tail=0, rd=0, head=0, prod_lock=0,
            slots=(), records=(), major=1, magic=MAGIC, ever=3, consumed=None):
    hdr = struct.pack("<IHHIIQQII24x", magic, major, 0, DATA, mode, cap, DATA + cap, 64, SLOTS)
    hdr += name.ljust(64, b"\0")
    hdr += struct.pack("<QII48x", tail, prod_lock, 0)
    hdr += struct.pack("<QIIIIQ32x", rd, 0, 0, 0, 0, consumed if consumed is not None else head)
    hdr += struct.pack("<Q56x", head)
    hdr += struct.pack("<IIIIQQQQ16x", 1, 0, 0, ever, 0, 0, 0, 0)
    hdr += bytes(128)  # futex lines
    assert len(hdr) == 512
    buf = bytearray(DATA + cap)
    buf[:512] = hdr
    for i, (word, role) in slots:
        struct.pack_into("<QQII", buf, SLOTS + 64 * i, word, 0, role, 0)
    for pos, st, ln, size, typ, payload in records:
        off = DATA + (pos & (cap - 1))
        struct.pack_into("<IIII", buf, off, st, ln, size, typ)
        buf[off + 16:off + 16 + len(payload)] = payload
    # Trim trailing zeros: the harness zero-fills the rest of the region.
    end = len(buf)
    while end > 512 and buf[end - 1] == 0:
        end -= 1
    return bytes(buf[:end])


def rec(pos, kind, t=0, size=8, typ=0, ln=None):
    ln = ln if ln is not None else (16 + size + 15) // 16 * 16
    return (pos, state(kind, t), ln, size, typ, bytes(range(size % 256)) * (size // 256 + 1))


def slot_word(pid, gen, active=1):
    return pid << 32 | gen << 2 | active


def ring_seeds():
    live = (0, (slot_word(1, 1), 1))  # slot 0, gen 1, "producer"
    yield "empty-spsc", segment()
    yield "empty-mpmc-64k", segment(cap=65536, mode=3)
    three = [rec(0, COMMITTED, size=8), rec(32, COMMITTED, size=16, typ=7), rec(64, COMMITTED, size=0)]
    yield "three-committed", segment(tail=96, records=three)
    yield "wrap", segment(tail=4096 + 64, rd=4032, head=4032,
                          records=[(4032, state(WRAP), 64, 0, 0, b""), rec(4096, COMMITTED, size=40)])
    yield "reserved-live-owner", segment(mode=1, tail=32, slots=[live],
                                         records=[rec(0, RESERVED, tag(0, 1), size=8)])
    yield "reserved-dead-owner", segment(mode=1, tail=64,
                                         records=[rec(0, RESERVED, tag(5, 3)), rec(32, COMMITTED)])
    yield "claimed-dead-consumer", segment(mode=3, tail=64, rd=32, head=0,
                                           records=[rec(0, CLAIMED, tag(9, 2)), rec(32, COMMITTED)])
    yield "cancelled-and-released", segment(mode=2, tail=96, rd=32, head=0,
                                            records=[rec(0, RELEASED), rec(32, CANCELLED), rec(64, COMMITTED)])
    yield "stuck-producer-lock", segment(mode=3, prod_lock=tag(0, 1), slots=[live])
    yield "all-slots-taken", segment(slots=[(i, (slot_word(1, 1), 0)) for i in range(64)])
    yield "len-past-end", segment(tail=64, records=[rec(0, COMMITTED, ln=8192)])
    yield "len-zero", segment(tail=64, records=[rec(0, COMMITTED, ln=0)])
    yield "size-past-record", segment(tail=64, records=[rec(0, COMMITTED, size=8, ln=32)[:3] + (200, 0, b"")])
    yield "unknown-kind", segment(tail=32, records=[rec(0, 15)])
    yield "misaligned-tail", segment(tail=40)
    yield "tail-a-lap-ahead", segment(tail=3 * 4096)
    yield "consumed-past-rd", segment(tail=64, rd=32, head=0, consumed=48, records=[rec(0, COMMITTED), rec(32, COMMITTED)])
    yield "held-by-gone-consumer", segment(tail=96, rd=64, head=0, consumed=32,
                                           records=[rec(0, RELEASED), rec(32, COMMITTED), rec(64, COMMITTED)])
    yield "rd-past-tail", segment(tail=32, rd=64, head=64, records=[rec(0, COMMITTED)])
    yield "head-past-rd", segment(tail=64, rd=0, head=32, records=[rec(0, COMMITTED)])
    yield "wrap-wrong-length", segment(tail=4096 + 32, rd=4064, head=4064,
                                       records=[(4064, state(WRAP), 64, 0, 0, b"")])
    yield "version-2", segment(major=2)
    yield "bad-magic", segment(magic=0x12345678)
    yield "capacity-not-power-of-two", segment(cap=6000)


def uri_seeds():
    uris = [
        "memory://a", "ipc://cam0?mode=mpsc&capacity=4M", "memory://x?mode=mpmc&capacity=64K",
        "memory://x?capacity=1K", "memory://x?capacity=2G", "memory://x?capacity=12Q",
        "memory://x?mode=lifo", "memory://x?colour=blue", "memory://bad/name", "memory://",
        "memory://x?", "memory://x?&", "memory://x?a=1=2", "memory://x?a&a", "tcp://1.2.3.4:7000?listen",
        "carrier-pigeon://a", "://", "memory://" + "n" * 60, "memory://x?capacity=18446744073709551616",
        "memory://x?capacity=-1", "memory://x?mode=", "memory://x?capacity=4096&capacity=8192",
    ]
    for i, u in enumerate(uris):
        yield "uri-%02d" % i, u.encode()


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    for sub, seeds in (("ring", ring_seeds()), ("uri", uri_seeds())):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        for name, data in seeds:
            with open(os.path.join(root, sub, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
