#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz-ring, fuzz-uri, fuzz-frame, fuzz-udp, fuzz-inspect,
fuzz-inspect-socket, fuzz-inspect-net and fuzz-stream: well-formed segments in every state the ring can be
in, and the corruptions a hostile or crashed process could leave; URIs; wire frame streams, good
and bad; udp:// datagram sequences (gaps, late arrivals, duplicates, wrap-around, eviction) and
bad datagrams; the socket names ipc:// and the network handles bind, and near misses; network
handles' stats pages, good and hostile. The layouts mirror psyne/src/ring.h, psyne/src/frame.h
and psyne/src/netstat.h (pinned there by _Static_assert). Usage: gen-corpus.py [DIR]"""
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
    # fuzz-ring receives every fourth message with a 64-byte limit: a larger one must stay
    # queued and come whole on the next receive.
    big = [rec(0, COMMITTED, size=8), rec(32, COMMITTED, size=8), rec(64, COMMITTED, size=8),
           rec(96, COMMITTED, size=100, typ=9), rec(224, COMMITTED, size=64)]
    yield "big-after-small", segment(tail=304, records=big)
    yield "big-after-small-mpmc", segment(mode=3, tail=304, records=big)


def with_counters(seg, counters):
    """Sets (slot, start_time, messages, bytes) of slots in a segment built by segment()."""
    buf = bytearray(seg.ljust(SLOTS + 64 * 64, b"\0"))
    for i, start, messages, nbytes in counters:
        struct.pack_into("<Q", buf, SLOTS + 64 * i + 8, start)
        struct.pack_into("<QQ", buf, SLOTS + 64 * i + 24, messages, nbytes)
    return bytes(buf)


def inspect_seeds():
    """What `psyne stat` reads: the ring seeds, and segments that stress its walk over the
    queued records and its reading of slots."""
    yield from ring_seeds()
    members = [(0, (slot_word(4242, 1), 1)), (1, (slot_word(4243, 1), 2)), (2, (slot_word(4244, 5), 3))]
    yield "members-with-counters", with_counters(
        segment(mode=3, tail=96, rd=32, head=0, slots=members,
                records=[rec(0, CLAIMED, tag(1, 1)), rec(32, COMMITTED), rec(64, COMMITTED, size=16)]),
        [(0, 12345, 3, 40), (1, 0, 0, 0), (2, 99, 2**64 - 1, 2**64 - 1)])
    yield "slot-pid-extremes", segment(slots=[(0, (slot_word(0, 1), 1)), (1, (slot_word(0xFFFFFFFF, 2), 2)),
                                              (2, (slot_word(0x7FFFFFFF, 3), 0xFFFFFFFF))])
    yield "slot-bad-states", segment(slots=[(i, (slot_word(7, 1, active=i % 4), 1)) for i in range(8)])
    many = [rec(16 * i, COMMITTED, size=0) for i in range(255)]
    yield "walk-255-empty-messages", segment(tail=255 * 16, records=many)
    yield "walk-wrap-in-queue", segment(tail=4096 + 64, rd=3968, head=3968,
                                        records=[rec(3968, COMMITTED, size=40), (4032, state(WRAP), 64, 0, 0, b""),
                                                 rec(4096, COMMITTED, size=40)])
    yield "walk-len-past-tail", segment(tail=64, records=[rec(0, COMMITTED, size=8), rec(32, COMMITTED, ln=64)])
    yield "walk-zero-state-in-queue", segment(tail=64, records=[rec(0, COMMITTED), (32, 0, 32, 8, 0, b"")])
    yield "walk-reserved-and-cancelled", segment(mode=1, tail=96, records=[rec(0, RESERVED, tag(3, 1)),
                                                                             rec(32, CANCELLED), rec(64, COMMITTED)])
    yield "walk-rd-misaligned", segment(tail=64, rd=8, head=0)
    yield "used-tail-behind-head", segment(tail=32, rd=64, head=96)
    yield "consumed-past-tail", segment(tail=32, rd=32, head=0, consumed=4096, records=[rec(0, COMMITTED)])
    yield "name-unterminated", segment(name=b"n" * 64)
    yield "region-size-lies", segment()[:24] + struct.pack("<Q", 1 << 40) + segment()[32:]


def socket_seeds():
    """Abstract socket paths as /proc/net/unix shows them (for uid 0)."""
    names = [
        "@psyne/1/0/cam0/m/1234/5", "@psyne/1/0/cam0/lock", "@psyne/1/0/a.b_c-d/m/1/0",
        "@psyne/1/0/" + "n" * 48 + "/m/1/3", "@psyne/1/0/" + "n" * 49 + "/m/1/3",
        "@psyne/1/0/cam0/m/0/5", "@psyne/1/0/cam0/m/01/5", "@psyne/1/0/cam0/m/2147483647/2147483647",
        "@psyne/1/0/cam0/m/2147483648/5", "@psyne/1/0/cam0/m/1/5/6", "@psyne/1/0/cam0/m/1/",
        "@psyne/1/0//m/1/5", "@psyne/1/0/ca@m/m/1/5", "@psyne/1/00/cam0/m/1/5", "@psyne/1/1000/cam0/m/1/5",
        "@psyne/1/4294967296/cam0/m/1/5", "@psyne/2/0/cam0/m/1/5", "psyne/1/0/cam0/m/1/5",
        "@psyne/1/0/cam0/m/-1/5", "@psyne/1/0/cam0/m/ 1/5", "@/tmp/.X11-unix/X0", "",
        "@psyne/1/0/net/1234/5", "@psyne/1/0/net/m/1234/5", "@psyne/1/0/net/lock",
        "@psyne/1/0/net/0/5", "@psyne/1/0/net/1/5/6", "@psyne/1/0/net/2147483648/5",
        "@psyne/1/0/net/1/", "@psyne/1/0/net//5", "@psyne/1/0/nets/1/5",
        # Member names end in a nonce of 1 to 16 lowercase hex digits (psyne/src/member.h).
        "@psyne/1/0/cam0/m/1234/5/9f3a07c2e1b45d68", "@psyne/1/0/a.b_c-d/m/1/0/0",
        "@psyne/1/0/" + "n" * 48 + "/m/2147483647/2147483647/ffffffffffffffff",
        "@psyne/1/0/cam0/m/1/5/", "@psyne/1/0/cam0/m/1/5/0123456789abcdef0",
        "@psyne/1/0/cam0/m/1/5/ABC", "@psyne/1/0/cam0/m/1/5/a/b", "@psyne/1/0/cam0/m/0/5/a",
        "@psyne/1/0/net/m/1/4/a",
    ]
    for i, n in enumerate(names):
        yield "socket-%02d" % i, n.encode()


NS_MAGIC, NS_HDR, NS_PEER, NS_PEERS = 0x534E5950, 1024, 256, 64
NS_CONNECTING, NS_TLS, NS_HELLO, NS_UP, NS_DOWN, NS_GONE = range(6)


def ns_peer(name=b"127.0.0.1:40000", state=NS_UP, gen=2, counters=(0, 0, 5, 80, 3, 40, 0, 1)):
    """One entry of the peer table: gen, state, then tx_queued, rx_queued, messages and bytes
    sent, messages and bytes received, retransmits, reconnects; the name at 128."""
    entry = struct.pack("<QII8Q", gen, state, 0, *counters).ljust(128, b"\0")
    return entry + name[:128].ljust(128, b"\0")


def ns_page(uri=b"tcp://127.0.0.1:7000?listen", peers=(), n_peers=None, flags=1, mode=0,
            capacity=1 << 20, major=1, minor=0, magic=NS_MAGIC, header_size=NS_HDR,
            peer_size=NS_PEER, max_peers=NS_PEERS, page_size=None, gen=4,
            counters=(5, 80, 3, 40, 0, 0), sessions=None, handshakes=0, last_error=0):
    """A stats page as psyne/src/netstat.h lays it out, trailing zeros trimmed."""
    n_peers = len(peers) if n_peers is None else n_peers
    sessions = n_peers if sessions is None else sessions
    if page_size is None:
        page_size = header_size + max_peers * peer_size
    hdr = struct.pack("<IHHIIIIQQII16x", magic, major, minor, header_size, peer_size, max_peers,
                      flags, page_size, capacity, mode, 0)
    hdr += uri[:512].ljust(512, b"\0")
    hdr += struct.pack("<7QIIII", gen, *counters, n_peers, sessions, handshakes, last_error)
    buf = bytearray(max(NS_HDR + NS_PEERS * NS_PEER, header_size + len(peers) * peer_size))
    buf[:len(hdr)] = hdr
    for i, p in enumerate(peers):
        off = header_size + i * peer_size
        buf[off:off + len(p)] = p
    end = len(buf)
    while end > 64 and buf[end - 1] == 0:
        end -= 1
    return bytes(buf[:end])


def net_seeds():
    two = [ns_peer(), ns_peer(b"[::1]:40001", NS_HELLO, counters=(64, 128, 0, 0, 0, 0, 0, 0))]
    yield "listener-two-peers", ns_page(peers=two)
    yield "listener-alone", ns_page()
    yield "dialer-up", ns_page(b"tcp://example.org:7000", flags=0, peers=[ns_peer(b"example.org:7000")])
    yield "unix-every-state", ns_page(b"unix://@bus?listen", mode=3,
                                      peers=[ns_peer(b"unix peer (fd %d)" % i, i) for i in range(6)])
    yield "tls-many-sessions", ns_page(b"tls://0.0.0.0:443?listen", mode=1, sessions=1000,
                                       peers=[ns_peer(b"10.0.0.%d:5000" % i) for i in range(64)])
    yield "handshakes-and-error", ns_page(handshakes=64, last_error=104, counters=(0, 0, 0, 0, 7, 300))
    yield "future-minor-larger-header", ns_page(minor=9, header_size=2048, max_peers=60, peers=[ns_peer()])
    yield "future-minor-larger-entries", ns_page(minor=9, peer_size=512, max_peers=32,
                                                 peers=[ns_peer().ljust(512, b"\x01")])
    yield "version-2", ns_page(major=2)
    yield "bad-magic", ns_page(magic=0x12345678)
    yield "header-size-small", ns_page(header_size=512)
    yield "header-size-odd", ns_page(header_size=1028)
    yield "peer-size-small", ns_page(peer_size=128)
    yield "max-peers-huge", ns_page(max_peers=0xFFFFFFFF)
    yield "max-peers-past-page", ns_page(max_peers=4096)
    yield "page-size-lies", ns_page(page_size=1 << 40)
    yield "page-size-small", ns_page(page_size=NS_HDR)
    yield "n-peers-over-max", ns_page(n_peers=65, peers=[ns_peer()])
    yield "n-peers-huge", ns_page(n_peers=0xFFFFFFFF)
    yield "state-bad", ns_page(peers=[ns_peer(state=6)])
    yield "state-huge", ns_page(peers=[ns_peer(state=0xFFFFFFFF)])
    yield "mode-bad", ns_page(mode=4)
    yield "uri-unterminated", ns_page(uri=b"u" * 512)
    yield "uri-escape", ns_page(uri=b"tcp://\x1b[2J:1")
    yield "uri-no-scheme", ns_page(uri=b"localhost:7000")
    yield "uri-empty", ns_page(uri=b"")
    yield "name-unterminated", ns_page(peers=[ns_peer(name=b"n" * 128)])
    yield "name-escape", ns_page(peers=[ns_peer(name=b"\x1b]0;pwned\x07")])
    yield "name-high-bytes", ns_page(peers=[ns_peer(name="h\u00f6st:1".encode())])
    yield "gen-odd-counters", ns_page(gen=7, peers=[ns_peer()])
    yield "gen-odd-peer", ns_page(peers=[ns_peer(gen=9), ns_peer(gen=11)])
    yield "last-error-huge", ns_page(last_error=0xFFFFFFFF)
    yield "counters-max", ns_page(counters=(2**64 - 1,) * 6,
                                  peers=[ns_peer(counters=(2**64 - 1,) * 8)] * 3)
    yield "flags-unknown", ns_page(flags=0xFFFFFFFF)
    yield "short", ns_page()[:100]


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


FRAME_MAGIC, FRAME_VERSION = 0x46595350, 1
FRAME_HELLO, FRAME_DATA, FRAME_ACK, FRAME_PING, FRAME_PONG, FRAME_BYE, FRAME_REJECT = range(1, 8)
F_MEMFD = 0x1
# fuzz-frame's settings bytes: chunking, seed, max_payload index (0, 48, 260, 4K, 64K, 1M).
WHOLE, ONE_BYTE = 0, 1
MAX_64K, MAX_1M = 4, 5


def crc32c(data, crc=0):
    """CRC32C, bit by bit: slow and obviously right. Extends like psyne__crc32c()."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(kind, payload=b"", seq=0, typ=0, flags=0, length=None, magic=FRAME_MAGIC,
          version=FRAME_VERSION, reserved=0, crc=None):
    length = len(payload) if length is None else length
    hdr = struct.pack("<IBBHIIQII", magic, version, kind, flags, typ, length, seq, 0, reserved)
    if crc is None:
        crc = crc32c(payload, crc32c(hdr))
    return hdr[:24] + struct.pack("<I", crc) + hdr[28:] + payload


def hello(session=0x0123456789ABCDEF, next_seq=0, mode=0, max_msg=1 << 20, heartbeat_ms=1000,
          flags=0, reserved=(0, 0)):
    return struct.pack("<QQIIIIQQ", session, next_seq, mode, max_msg, heartbeat_ms, flags,
                       *reserved)


def reject(err, reason):
    return struct.pack("<I", err) + reason


def fuzz_input(stream, chunking=WHOLE, seed=0, max_sel=MAX_64K):
    return bytes([chunking, seed, max_sel]) + stream


def frame_seeds():
    good = {
        "hello": frame(FRAME_HELLO, hello(mode=1, flags=1), seq=0),
        "data": frame(FRAME_DATA, bytes(range(200)), seq=7, typ=0xDEADBEEF),
        "data-empty": frame(FRAME_DATA, seq=8, typ=1),
        "data-memfd": frame(FRAME_DATA, seq=9, typ=2, flags=F_MEMFD, length=5 << 20),
        "ack": frame(FRAME_ACK, seq=10),
        "ping": frame(FRAME_PING, seq=0x1122334455667788),
        "pong": frame(FRAME_PONG, seq=0x1122334455667788),
        "bye": frame(FRAME_BYE),
        "reject": frame(FRAME_REJECT, reject(111, "mode mismatch: spsc vs mpmc".encode())),
        "reject-max": frame(FRAME_REJECT, reject(90, b"r" * 256)),
    }
    for name, f in good.items():
        yield "good-" + name, fuzz_input(f, max_sel=MAX_1M if name == "data-memfd" else MAX_64K)

    session = b"".join([good["hello"], good["data"], good["ping"], good["data-empty"],
                        good["ack"], good["data-memfd"], good["reject"], good["bye"]])
    yield "session-whole", fuzz_input(session, WHOLE, max_sel=MAX_1M)
    yield "session-one-byte", fuzz_input(session, ONE_BYTE, max_sel=MAX_1M)
    yield "session-random-chunks", fuzz_input(session, 5, seed=42, max_sel=MAX_1M)
    batch = b"".join(frame(FRAME_DATA, bytes([i]) * (i % 23), seq=i, typ=i) for i in range(200))
    yield "batch-200-small", fuzz_input(batch)
    yield "batch-random-chunks", fuzz_input(batch, 3, seed=7)
    # Past the reader's initial 64 KiB: the buffer must grow.
    large = frame(FRAME_DATA, bytes(range(256)) * 280, seq=1) + good["bye"]
    yield "large-data-70k", fuzz_input(large, 200, seed=3, max_sel=MAX_1M)

    yield "truncated-header", fuzz_input(good["data"][:20])
    yield "truncated-payload", fuzz_input(good["ping"] + good["data"][:100], ONE_BYTE)
    bad = frame(FRAME_DATA, b"abc", seq=1, crc=0x12345678)
    yield "bad-crc-header", fuzz_input(good["ping"] + bad)
    bad = bytearray(good["data"])
    bad[100] ^= 0x40
    yield "bad-crc-payload", fuzz_input(good["ack"] + bytes(bad) + good["bye"])
    yield "oversize-data", fuzz_input(frame(FRAME_DATA, length=65537, crc=0) + bytes(64))
    yield "oversize-huge", fuzz_input(frame(FRAME_DATA, length=0xFFFFFFFF, crc=0), ONE_BYTE)
    yield "too-big-for-max-0", fuzz_input(good["hello"], max_sel=0)
    yield "bad-version-0", fuzz_input(frame(FRAME_PING, version=0))
    yield "bad-version-2", fuzz_input(good["ping"] + frame(FRAME_PING, version=2))
    yield "bad-magic", fuzz_input(frame(FRAME_PING, magic=0x46595351))
    yield "bad-kind-0", fuzz_input(frame(0))
    yield "bad-kind-8", fuzz_input(frame(8))
    yield "bad-flags", fuzz_input(frame(FRAME_DATA, b"x", flags=0x8000))
    yield "memfd-on-ping", fuzz_input(frame(FRAME_PING, flags=F_MEMFD))
    yield "type-on-ack", fuzz_input(frame(FRAME_ACK, typ=5))
    yield "reserved-set", fuzz_input(frame(FRAME_BYE, reserved=1))
    yield "ack-with-payload", fuzz_input(frame(FRAME_ACK, b"\0"))
    yield "hello-short", fuzz_input(frame(FRAME_HELLO, hello()[:47]))
    yield "reject-short", fuzz_input(frame(FRAME_REJECT, b"\1\0\0"))
    yield "reject-long", fuzz_input(frame(FRAME_REJECT, reject(1, b"r" * 257)))
    yield "hello-bad-mode", fuzz_input(frame(FRAME_HELLO, hello(mode=4)))
    yield "hello-bad-heartbeat", fuzz_input(frame(FRAME_HELLO, hello(heartbeat_ms=9)) +
                                            frame(FRAME_HELLO, hello(heartbeat_ms=600001)))
    yield "hello-zero-max-msg", fuzz_input(frame(FRAME_HELLO, hello(max_msg=0)))
    yield "hello-reserved", fuzz_input(frame(FRAME_HELLO, hello(reserved=(0, 1))))
    yield "hello-bad-flags", fuzz_input(frame(FRAME_HELLO, hello(flags=2)))
    yield "garbage", fuzz_input(bytes((i * 167 + 13) & 0xFF for i in range(300)), 2, seed=9)
    yield "garbage-psyf", fuzz_input(b"PSYF" + bytes((i * 89 + 1) & 0xFF for i in range(200)))


# fuzz-udp's settings: max_msg index (0, 16, 1440, 65475), then max_senders - 1 (bits 0-1) and
# "fix every CRC" (bit 2).
UDP_MAX_16, UDP_MAX_1440, UDP_MAX_64K = 1, 2, 3
FIX_CRC = 4
V6 = 0x40


def dgram(src, data):
    """One datagram record of a fuzz-udp input: source selector, u16 length, bytes."""
    return bytes([src]) + struct.pack("<H", len(data)) + data


def udp_data(stream, n, payload=None, typ=0):
    payload = struct.pack("<I", n) if payload is None else payload
    return frame(FRAME_DATA, payload, seq=(stream << 32) | n, typ=typ)


def udp_input(records, max_sel=UDP_MAX_1440, senders=4, fix_crc=True):
    settings = senders - 1 | (FIX_CRC if fix_crc else 0)
    return bytes([max_sel, settings]) + b"".join(dgram(src, d) for src, d in records)


def udp_seeds():
    s, t = 0xABCD0001, 0x12345678
    yield "in-order", udp_input([(0, udp_data(s, n)) for n in range(10)])
    yield "gap-reorder-duplicate", udp_input([(0, udp_data(s, n)) for n in (0, 1, 2, 5, 3, 3, 5, 0, 4)])
    yield "jump-past-window", udp_input([(0, udp_data(s, n)) for n in (0, 2005, 4, 1000, 981, 1982)])
    yield "wrap", udp_input([(0, udp_data(s, n & 0xFFFFFFFF)) for n in range(0xFFFFFFFD, 0x100000003)])
    yield "serial-half", udp_input([(0, udp_data(s, n)) for n in (0, 0x80000000, 0x7FFFFFFF, 1)])
    yield "older-than-first", udp_input([(0, udp_data(s, n)) for n in (500, 499, 501, 100)])
    yield "streams-share-source", udp_input([(0, udp_data(st, n)) for n in range(4) for st in (s, t)])
    yield "sources-share-stream", udp_input([(src, udp_data(s, 7)) for src in (0, 1, 4, V6, V6 | 1)])
    yield "eviction", udp_input([(src, udp_data(st, n)) for n in range(3)
                                 for src, st in ((0, s), (1, t), (2, s), (V6, t))], senders=1)
    yield "eviction-2", udp_input([(0, udp_data(st, n)) for n in range(5) for st in (1, 2, 3)], senders=2)
    yield "empty-payload", udp_input([(0, udp_data(s, 0, b"")), (0, udp_data(s, 1, b""))])
    yield "max-16", udp_input([(0, udp_data(s, 0, bytes(16))), (0, udp_data(s, 1, bytes(17))),
                               (0, udp_data(s, 2, bytes(15)))], max_sel=UDP_MAX_16)
    yield "max-0", udp_input([(0, udp_data(s, 0, b"")), (0, udp_data(s, 1, b"x"))], max_sel=0)
    yield "max-64k", udp_input([(V6, udp_data(s, 1, bytes(65475))),
                                (V6, udp_data(s, 2, bytes(65476)))], max_sel=UDP_MAX_64K)
    good = udp_data(s, 3, b"hello")
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    yield "bad", udp_input([
        (0, b""), (0, b"PSYF"), (0, good[:31]), (0, good[:-1]), (0, good + b"\0"), (0, bytes(bad_crc)),
        (1, frame(FRAME_DATA, b"hello", seq=3, crc=0)),
        (1, frame(FRAME_DATA, b"hello", seq=3, version=2)),
        (1, frame(FRAME_DATA, b"hello", seq=3, magic=0x46595351)),
        (2, frame(FRAME_PING, seq=1)), (2, frame(FRAME_BYE)),
        (2, frame(FRAME_HELLO, hello())),
        (3, frame(FRAME_DATA, seq=4, flags=F_MEMFD, length=100)),
        (3, frame(FRAME_DATA, b"x", seq=4, flags=0x8000)),
        (3, frame(FRAME_DATA, b"x", seq=4, reserved=1)),
        (3, frame(FRAME_DATA, b"abc", length=2)),
        (3, frame(FRAME_DATA, b"abc", length=0xFFFFFFFF)),
        (0, good)], fix_crc=False)
    yield "garbage", udp_input([(i & 0x4F, bytes((i * 167 + k * 13) & 0xFF for k in range(i * 7)))
                                for i in range(40)])
    yield "truncated-record", bytes([UDP_MAX_1440, 3]) + dgram(0, good)[:-3]


def stream_seeds():
    """fuzz-stream: a settings byte (bit 7: in the handshake; bits 0-6: read size), then
    what a peer sends on an established session."""
    data = b"".join(frame(FRAME_DATA, bytes([i]) * (i * 37 % 300), seq=i, typ=i)
                    for i in range(40))
    pad = lambda f: f + b"\0" * (-len(f) % 8)
    padded = b"".join(pad(frame(FRAME_DATA, bytes([i]) * (i * 37 % 300), seq=i, typ=i))
                      for i in range(40))
    ctl = pad(frame(FRAME_PING, seq=99)) + pad(frame(FRAME_ACK, seq=0)) + pad(frame(FRAME_PONG))
    yield "stream-data", bytes([0]) + padded
    yield "stream-data-1byte", bytes([1]) + padded
    yield "stream-data-7byte", bytes([7]) + padded
    yield "stream-unpadded", bytes([0]) + data
    yield "stream-control", bytes([0]) + ctl + padded + pad(frame(FRAME_BYE, seq=40))
    yield "stream-duplicates", bytes([0]) + padded + padded
    yield "stream-gap", bytes([0]) + pad(frame(FRAME_DATA, b"x", seq=0)) + \
        pad(frame(FRAME_DATA, b"y", seq=5))
    yield "stream-hello", bytes([0x80]) + pad(frame(FRAME_HELLO, hello(session=1, next_seq=0))) + padded
    yield "stream-hello-twice", bytes([0x80]) + pad(frame(FRAME_HELLO, hello(session=1))) * 2
    yield "stream-memfd", bytes([0]) + pad(frame(FRAME_DATA, seq=0, flags=F_MEMFD, length=1 << 20))
    yield "stream-oversize", bytes([0]) + frame(FRAME_DATA, seq=0, length=1 << 30)[:32]
    yield "stream-reject", bytes([0x80]) + pad(frame(FRAME_REJECT, reject(16, b"busy")))
    yield "stream-garbage", bytes([3]) + bytes(range(256)) * 4
    # For fuzz-stream's own reading: a REJECT without an errno, DATA after BYE, a listener
    # that numbers afresh, and a seq that runs past 2^64 - 1.
    yield "stream-reject-no-errno", bytes([0x80]) + pad(frame(FRAME_REJECT, reject(0, b"no")))
    yield "stream-bye-then-data", bytes([5]) + pad(frame(FRAME_DATA, b"a", seq=3)) + \
        pad(frame(FRAME_BYE, seq=4)) + pad(frame(FRAME_DATA, b"b", seq=5))
    yield "stream-hello-fresh", bytes([0x80 | 3]) + \
        pad(frame(FRAME_HELLO, hello(session=1, next_seq=2**64 - 1))) + \
        pad(frame(FRAME_DATA, b"abc", seq=9)) + pad(frame(FRAME_DATA, b"de", seq=10))
    yield "stream-seq-wraps", bytes([0]) + pad(frame(FRAME_DATA, b"x", seq=2**64 - 1)) + \
        pad(frame(FRAME_DATA, b"y", seq=0)) + pad(frame(FRAME_DATA, b"z", seq=1))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    for sub, seeds in (("ring", ring_seeds()), ("uri", uri_seeds()), ("frame", frame_seeds()),
                       ("udp", udp_seeds()), ("inspect", inspect_seeds()),
                       ("inspect-socket", socket_seeds()), ("inspect-net", net_seeds()),
                       ("stream", stream_seeds())):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        for name, data in seeds:
            with open(os.path.join(root, sub, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
