#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`psyne stat` (psyne/tools/verb_stat.c): a channel held open by `psyne cat` processes is
listed with the right mode, capacity, fill, members and counters, looking at it changes
nothing, it is gone once they exit; hostile segments named in the discovery format give an
error line and status 1, never a crash; --watch samples with rates until interrupted."""
import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys

from tool_harness import (assert_usage_error, channel, finish, main, mine, run, spawn, stat_json,
                          test, wait_channel, wait_for)

EPROTO, EPROTONOSUPPORT = 71, 93


@test
def usage_errors():
    for args, line in [
        (["memory://x"], "cannot list 'memory://x': only ipc:// channels can be listed"),
        (["tcp://host:7000"], "cannot list 'tcp://host:7000': only ipc:// channels can be listed"),
        (["ipc://bad/name"], "invalid channel name 'ipc://bad/name'"),
        (["ipc://x?mode=spsc"], "invalid channel name 'ipc://x?mode=spsc'"),
        (["n" * 49], "invalid channel name '%s'" % ("n" * 49)),
        (["--watch=fast"], "--watch: invalid interval 'fast' (0.1 to 3600 seconds)"),
        (["--watch=0.05"], "--watch: invalid interval '0.05' (0.1 to 3600 seconds)"),
        (["--watch=nan"], "--watch: invalid interval 'nan' (0.1 to 3600 seconds)"),
        (["--json=yes"], "option '--json' takes no value"),
        (["--bogus"], "unknown option '--bogus'"),
    ]:
        assert_usage_error(["stat", *args], "psyne: stat: " + line, "stat")


def holder(uri):
    """A `psyne cat` sender that keeps the channel open while its stdin is."""
    return spawn("cat", uri, "--send", stdin=subprocess.PIPE)


def feed(p, data):
    p.stdin.write(data)
    p.stdin.flush()


@test
def channel_listed_unchanged_and_gone():
    name = channel("held")
    prod = holder("ipc://%s?mode=mpsc&capacity=8K" % name)
    feed(prod, b"one\ntwo\nthree\n")
    ch = wait_channel(name, lambda ch: ch["messages"] == 3)
    # Three records of 16 header bytes and a payload padded to 16: 3 * 32 bytes.
    expect = {"transport": "ipc", "name": name, "uri": "ipc://" + name, "mode": "mpsc",
              "capacity": 8192, "used": 96, "fill": 1.17, "producers": 1, "consumers": 0,
              "messages": 3, "bytes": 11, "queued": 3, "queued_bytes": 11, "received": 0,
              "received_bytes": 0, "dropped": 0, "reclaimed": 0}
    assert {k: ch[k] for k in expect} == expect, ch
    assert ch["members"] == [{"slot": 0, "pid": prod.pid, "role": "producer", "alive": True,
                              "messages": 3, "bytes": 11}], ch["members"]

    # Looking does not join: the membership epoch and the members stay as they were.
    for _ in range(3):
        again = stat_json(name)[0]
        assert again["epoch"] == ch["epoch"] and again["members"] == ch["members"], again
    assert stat_json("ipc://" + name) == [ch]

    status, out, err = run("stat", name)
    assert (status, err) == (0, ""), (status, err)
    lines = out.decode().splitlines()
    assert lines[0].split() == ["NAME", "MODE", "CAPACITY", "FILL%", "PRODUCERS", "CONSUMERS",
                                "MSGS", "BYTES", "DROPS"], lines
    assert re.fullmatch(name + r" +mpsc +8\.0 KiB +1\.2% +1 +0 +3 +11 B +0", lines[1]), lines
    assert len(lines) == 2, lines

    # A consumer joins and drains: it shows, with what it received.
    cons = spawn("cat", "ipc://" + name, "--recv")
    ch = wait_channel(name, lambda ch: ch["consumers"] == 1 and ch["received"] == 3)
    assert (ch["producers"], ch["used"], ch["queued"], ch["fill"]) == (1, 0, 0, 0), ch
    assert sorted((m["pid"], m["role"], m["alive"]) for m in ch["members"]) == \
        sorted([(prod.pid, "producer", True), (cons.pid, "consumer", True)]), ch["members"]

    # Both leave: the channel is gone from the list.
    prod.stdin.close()
    assert finish(prod) == (0, b"", "")
    assert finish(cons) == (0, b"one\ntwo\nthree\n", "")
    assert stat_json(name) is None
    assert all(c["name"] != name for c in stat_json())
    status, out, err = run("stat", name)
    assert (status, out, err) == (1, b"", "psyne: stat: No such channel '%s'.\n" % name)


@test
def several_channels_in_name_order():
    a, b = channel("list-a"), channel("list-b")
    pb = spawn("cat", "ipc://%s?mode=spmc&capacity=1M" % b, "--recv")
    pa = spawn("cat", "ipc://%s?capacity=64K" % a, "--recv")
    wait_channel(a, lambda ch: ch["consumers"] == 1)
    wait_channel(b, lambda ch: ch["consumers"] == 1)
    ours = [c for c in stat_json() if c["name"] in (a, b)]
    assert [(c["name"], c["mode"], c["capacity"]) for c in ours] == \
        [(a, "spsc", 65536), (b, "spmc", 1 << 20)], ours
    status, out, err = run("stat")
    assert status in (0, 1) and not mine(err), (status, err)  # 1: other runs' channels
    rows = [line.split()[:4] for line in mine(out.decode())]
    assert rows == [[a, "spsc", "64.0", "KiB"], [b, "spmc", "1.0", "MiB"]], rows
    pa.kill()
    pb.kill()


def header(capacity=4096, mode=0, name=b"x", tail=0, rd=0, head=0, major=1, slots=()):
    """A segment as psyne/src/ring.h lays it out (see psyne/fuzz/gen-corpus.py)."""
    hdr = struct.pack("<IHHIIQQII24x", 0x454E5950, major, 0, 8192, mode, capacity,
                      8192 + capacity, 64, 512)
    hdr += name.ljust(64, b"\0")
    hdr += struct.pack("<Q56x", tail) + struct.pack("<Q56x", rd) + struct.pack("<Q56x", head)
    hdr += bytes(512 - len(hdr))
    buf = bytearray(8192 + capacity)
    buf[:512] = hdr
    for i, word, role in slots:
        struct.pack_into("<QQI", buf, 512 + 64 * i, word, 0, role)
    return bytes(buf)


def fake_member(name, content, seal=True):
    """Puts `content` in a memfd and binds the abstract name a member of `name` would."""
    fd = os.memfd_create("hostile", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, content)
    if seal:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0psyne/1/%d/%s/m/%d/%d" % (os.geteuid(), name.encode(), os.getpid(), fd))
    return fd, sock


@test
def hostile_segments():
    good = channel("good")
    held = spawn("cat", "ipc://" + good, "--recv")
    wait_channel(good, lambda ch: ch["consumers"] == 1)

    garbage = channel("garbage")
    unsealed = channel("unsealed")
    future = channel("future")
    lying = channel("lying")
    fakes = [
        fake_member(garbage, bytes((i * 131 + 7) & 255 for i in range(12288))),
        fake_member(unsealed, header(name=unsealed.encode()), seal=False),
        fake_member(future, header(name=future.encode(), major=2)),
        # A valid header whose cursors are a lap apart and whose slots hold nonsense.
        fake_member(lying, header(name=lying.encode(), tail=3 * 4096, rd=8, head=0,
                                  slots=[(0, 1, 3), (1, 0xFFFFFFFF << 32 | 1, 0xFFFFFFFF)])),
    ]
    try:
        status, out, err = run("stat", "--json")
        assert status == 1, (status, err)
        assert sorted(mine(err)) == sorted([
            "psyne: stat: Failed to read channel 'ipc://%s': Corrupt shared segment or peer frame" % garbage,
            "psyne: stat: Failed to read channel 'ipc://%s': Corrupt shared segment or peer frame" % unsealed,
            "psyne: stat: Failed to read channel 'ipc://%s': Unknown URI scheme, or unsupported "
            "segment or protocol version" % future]), err
        chans = {c["name"]: c for c in json.loads(out)}
        assert chans[garbage] == {"transport": "ipc", "name": garbage, "uri": "ipc://" + garbage,
                                  "error": "Corrupt shared segment or peer frame", "errno": EPROTO}
        assert chans[unsealed]["errno"] == EPROTO and chans[future]["errno"] == EPROTONOSUPPORT
        # Listed, but nothing it says is trusted: no fill, no walk, no live members.
        c = chans[lying]
        assert (c["used"], c["queued"], c["received"], c["producers"], c["consumers"]) == \
            (0, None, None, 0, 0), c
        assert [m["alive"] for m in c["members"]] == [False, False], c
        assert chans[good]["consumers"] == 1

        # The table leaves the failed ones to stderr; the good ones are still there.
        status, out, err = run("stat")
        assert status == 1 and len(mine(err)) == 3, (status, err)
        names = [line.split()[0] for line in out.decode().splitlines()[1:]]
        assert good in names and lying in names and garbage not in names, names
        status, out, err = run("stat", garbage)
        assert (status, out) == (1, b""), (status, out)
        assert err.startswith("psyne: stat: Failed to read channel 'ipc://%s'" % garbage), err
    finally:
        for fd, sock in fakes:
            sock.close()
            os.close(fd)
    held.kill()


@test
def watch_json_with_rates():
    name = channel("watch")
    prod = holder("ipc://%s?capacity=64K" % name)
    feed(prod, b"first\n")
    wait_channel(name, lambda ch: ch["messages"] == 1)
    watch = spawn("stat", "--watch=0.2", "--json", name)
    samples = []
    for i in range(4):
        samples.append(json.loads(watch.stdout.readline()))
        feed(prod, b"x" * 100 + b"\n")
    status, out, err = finish_signal(watch, signal.SIGINT)
    assert (status, err) == (0, ""), (status, err)
    first = samples[0][0]
    assert first["messages_per_sec"] is None and first["bytes_per_sec"] is None, first
    rates = [s[0]["messages_per_sec"] for s in samples[1:]]
    assert all(r is not None and r >= 0 for r in rates), rates
    assert any(r > 0 for r in rates), rates
    assert max(s[0]["bytes_per_sec"] for s in samples[1:]) > 0
    prod.stdin.close()
    prod.kill()


def finish_signal(p, sig):
    p.send_signal(sig)
    return finish(p)


@test
def watch_table_until_terminated():
    name = channel("watchtable")
    cons = spawn("cat", "ipc://" + name, "--recv")
    wait_channel(name, lambda ch: ch["consumers"] == 1)
    watch = spawn("stat", "--watch=0.1", name)
    headers = 0
    lines = []
    while headers < 3:
        line = watch.stdout.readline().decode()
        assert line, "stat --watch stopped"
        lines.append(line)
        headers += line.startswith("NAME")
    status, out, err = finish_signal(watch, signal.SIGTERM)
    assert (status, err) == (0, ""), (status, err)
    # Not a terminal: no escape sequences, samples apart by a blank line.
    text = "".join(lines)
    assert "\033" not in text and "\n\nNAME" in text, text
    assert lines[0].split()[-2:] == ["MSGS/S", "BYTES/S"], lines[0]
    assert lines[1].split()[-2:] == ["-", "-"], lines[1]
    assert re.search(r" 0 +0 B/s$", lines[4].rstrip("\n")), lines
    cons.kill()


@test
def watch_survives_the_channel_going():
    name = channel("watchgone")
    cons = spawn("cat", "ipc://" + name, "--recv")
    wait_channel(name, lambda ch: ch["consumers"] == 1)
    watch = spawn("stat", "--watch=0.1", "--json", name)
    assert len(json.loads(watch.stdout.readline())) == 1
    cons.kill()
    cons.wait()
    wait_for("an empty sample", lambda: json.loads(watch.stdout.readline()) == [])
    status, out, err = finish_signal(watch, signal.SIGINT)
    assert (status, err) == (0, ""), (status, err)


if __name__ == "__main__":
    sys.exit(main())
