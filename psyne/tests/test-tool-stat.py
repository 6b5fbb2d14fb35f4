#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`psyne stat` (psyne/tools/verb_stat.c): a channel held open by `psyne cat` processes is
listed with the right mode, capacity, fill, members and counters, looking at it changes
nothing, it is gone once they exit; hostile segments named in the discovery format give an
error line and status 1, never a crash; --watch samples with rates until interrupted. The
same for network handles: a tcp:// listener and dialer held by `psyne cat` show with their
counters and peers, selected by URI, and hostile stats pages give an error line."""
import json
import os
import re
import signal
import struct
import subprocess
import sys

from tool_harness import (assert_usage_error, channel, fake_fd, fake_member, finish, free_port,
                          header, main, mine, net_json, run, spawn, stat_json, test, wait_channel,
                          wait_for, wait_net)

EPROTO, EPROTONOSUPPORT = 71, 93


@test
def usage_errors():
    for args, line in [
        (["memory://x"], "cannot list 'memory://x': only ipc://, unix://, tcp:// and tls:// "
                         "channels can be listed"),
        (["udp://host:7000"], "cannot list 'udp://host:7000': only ipc://, unix://, tcp:// and "
                              "tls:// channels can be listed"),
        (["tcp://host:7000?mode=spsc"],
         "cannot list 'tcp://host:7000?mode=spsc': the only option taken is ?listen"),
        (["tls://host:7000?listen=1"],
         "cannot list 'tls://host:7000?listen=1': the only option taken is ?listen"),
        # A URI psyne_open() would refuse is refused with its reason, in its words.
        (["tcp://"], "'tcp://': no address after '://'"),
        (["tcp://host"], "host: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)"),
        (["tls://[::1:7000"], "[::1:7000: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)"),
        (["tcp://host:0?listen"], "host:0: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)"),
        (["unix://@"], "unix://@: a path or @name of 1 to 107 bytes"),
        (["unix://" + "p" * 108], "unix://%s: a path or @name of 1 to 107 bytes" % ("p" * 108)),
        (["IPC://x"], "'IPC://x': a scheme is lowercase letters and digits"),
        (["ipc://x?&"], "'ipc://x?&': an empty option ('?&', '&&' or a trailing '&')"),
        (["ipc://bad/name"],
         "ipc://bad/name: a channel name is 1 to 48 characters of [A-Za-z0-9._-]"),
        (["ipc://x?mode=spsc"],
         "cannot list 'ipc://x?mode=spsc': a channel is listed by its name, without options"),
        (["n" * 49], "invalid channel name '%s' (1 to 48 characters of [A-Za-z0-9._-])" % ("n" * 49)),
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
        # Names are pointers anyone may bind: garbage, or a header in an unsealed file, is
        # not a segment, so not a channel. A segment that calls itself the channel and
        # cannot be read (another major version) is the channel's error.
        status, out, err = run("stat", "--json")
        assert status == 1, (status, err)
        assert sorted(mine(err)) == [
            "psyne: stat: Failed to read channel 'ipc://%s': Unknown URI scheme, or unsupported "
            "segment or protocol version" % future], err
        chans = {c["name"]: c for c in json.loads(out) if c["transport"] == "ipc"}
        assert garbage not in chans and unsealed not in chans, chans
        assert chans[future] == {"transport": "ipc", "name": future, "uri": "ipc://" + future,
                                 "error": "Unknown URI scheme, or unsupported segment or "
                                 "protocol version", "errno": EPROTONOSUPPORT}, chans[future]
        # Listed, but nothing it says is trusted: no fill, no walk, no live members.
        c = chans[lying]
        assert (c["used"], c["queued"], c["received"], c["producers"], c["consumers"]) == \
            (0, None, None, 0, 0), c
        assert [m["alive"] for m in c["members"]] == [False, False], c
        assert chans[good]["consumers"] == 1

        # The table leaves the failed ones to stderr; the good ones are still there.
        status, out, err = run("stat")
        assert status == 1 and len(mine(err)) == 1, (status, err)
        names = [line.split()[0] for line in out.decode().splitlines()[1:]]
        assert good in names and lying in names and future not in names, names
        assert garbage not in names and unsealed not in names, names
        status, out, err = run("stat", future)
        assert (status, out) == (1, b""), (status, out)
        assert err.startswith("psyne: stat: Failed to read channel 'ipc://%s'" % future), err
        status, out, err = run("stat", garbage)
        assert (status, err) == (1, "psyne: stat: No such channel '%s'.\n" % garbage), err
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


@test
def network_handles_listed():
    port = free_port()
    address = "tcp://127.0.0.1:%d" % port
    # A listener serves sender after sender: it stops after the five messages sent below.
    recv = spawn("cat", address + "?listen&capacity=64K&heartbeat=50", "--recv", "--count=5")
    wait_net(address, lambda hs: len(hs) == 1, "the listener")
    send = spawn("cat", address + "?capacity=64K&heartbeat=50", "--send", stdin=subprocess.PIPE)
    feed(send, b"one\ntwo\nthree\n")

    # Counted on both sides, and acknowledged: nothing queued any more.
    hs = wait_net(address, lambda hs: len(hs) == 2 and all(
        h["messages"] == 3 and h["used"] == 0 and h["peers"] and h["peers"][0]["state"] == "up"
        for h in hs), "three messages across")
    dialer, listener = hs  # by URI: "...:PORT" before "...:PORT?listen"
    expect = {"transport": "tcp", "name": address + "?listen", "uri": address + "?listen",
              "pid": recv.pid, "role": "listener", "mode": "spsc", "capacity": 65536, "used": 0,
              "fill": 0, "producers": 1, "consumers": 1, "messages": 3, "bytes": 11, "sent": 0,
              "sent_bytes": 0, "received": 3, "received_bytes": 11, "reconnects": 0, "dropped": 0,
              "sessions": 1, "handshakes": 0, "last_error": None, "bad_sessions": 0,
              "consistent": True}
    assert {k: listener[k] for k in expect} == expect, listener
    [peer] = listener["peers"]
    assert peer["name"].startswith("127.0.0.1:") and peer["name"] != "127.0.0.1:%d" % port, peer
    assert {k: v for k, v in peer.items() if k != "name"} == {
        "state": "up", "tx_queued": 0, "rx_queued": 0, "messages_sent": 0, "bytes_sent": 0,
        "messages_received": 3, "bytes_received": 11, "retransmits": 0, "reconnects": 0,
        "last_error": None}, peer
    expect.update(name=address, uri=address, pid=send.pid, role="dialer", sent=3, sent_bytes=11,
                  received=0, received_bytes=0)
    assert {k: dialer[k] for k in expect} == expect, dialer
    assert dialer["peers"] == [{"name": "127.0.0.1:%d" % port, "state": "up", "tx_queued": 0,
                                "rx_queued": 0, "messages_sent": 3, "bytes_sent": 11,
                                "messages_received": 0, "bytes_received": 0, "retransmits": 0,
                                "reconnects": 0, "last_error": None}], dialer["peers"]

    # The table, for the address and for its listener alone; and in the list of everything.
    status, out, err = run("stat", address)
    assert (status, err) == (0, ""), (status, err)
    lines = out.decode().splitlines()
    assert len(lines) == 3, lines
    assert re.fullmatch(re.escape(address) + r" +spsc +64\.0 KiB +0\.0% +1 +1 +3 +11 B +0",
                        lines[1]), lines
    assert re.fullmatch(re.escape(address) + r"\?listen +spsc +64\.0 KiB +0\.0% +1 +1 +3 +11 B +0",
                        lines[2]), lines
    assert [h["role"] for h in net_json(address + "?listen")] == ["listener"]
    status, out, err = run("stat")
    assert status in (0, 1), (status, err)  # 1: other runs' hostile channels
    assert sum(line.startswith(address) for line in out.decode().splitlines()) == 2, out

    # --watch: rates for network handles too.
    watch = spawn("stat", "--watch=0.1", "--json", address + "?listen")
    first = json.loads(watch.stdout.readline())
    feed(send, b"four\n")
    rates = wait_for("a rate", lambda: [h["messages_per_sec"] for h in
                                        json.loads(watch.stdout.readline()) if
                                        h["messages_per_sec"]])
    assert first[0]["messages_per_sec"] is None and rates[0] > 0, (first, rates)
    status, out, err = finish_signal(watch, signal.SIGINT)
    assert (status, err) == (0, ""), (status, err)

    # Both gone: so are their pages.
    feed(send, b"five\n")
    send.stdin.close()
    assert finish(send) == (0, b"", "")
    assert finish(recv) == (0, b"one\ntwo\nthree\nfour\nfive\n", "")
    assert net_json(address) == []
    status, out, err = run("stat", address)
    assert (status, out, err) == (1, b"", "psyne: stat: No network handle on '%s'.\n" % address)


def fake_page(content, seal=True):
    """A memfd of `content` under the abstract name this process's stats page would have."""
    return fake_fd(content, seal, b"psyne/1/%d/net/%d/%%d" % (os.geteuid(), os.getpid()))


def page(uri=b"tcp://fake:1", major=1, n_peers=0):
    """A stats page as psyne/src/netstat.h lays it out (see psyne/fuzz/gen-corpus.py)."""
    buf = bytearray(1024 + 64 * 256)
    struct.pack_into("<IHHIIIIQQII", buf, 0, 0x534E5950, major, 0, 1024, 256, 64, 0, len(buf),
                     65536, 0, 0)
    buf[64:64 + len(uri)] = uri
    struct.pack_into("<I", buf, 632, n_peers)
    return bytes(buf)


@test
def hostile_network_pages():
    fakes = [fake_page(bytes((i * 131 + 7) & 255 for i in range(17408))),
             fake_page(page(), seal=False),
             fake_page(page(major=2)),
             fake_page(page(uri=b"tcp://\x1b[2J:1")),
             fake_page(page(n_peers=65))]
    good = fake_page(page(uri=b"tcp://fake:%d" % os.getpid()))
    try:
        status, out, err = run("stat", "--json")
        assert status == 1, (status, err)
        mine_err = sorted(line for line in err.splitlines() if "of pid %d " % os.getpid() in line)
        why = {fd: "Corrupt shared segment or peer frame" for fd, _ in fakes}
        why[fakes[2][0]] = "Unknown URI scheme, or unsupported segment or protocol version"
        assert mine_err == sorted("psyne: stat: Failed to read the network handle of pid %d "
                                  "(fd %d): %s" % (os.getpid(), fd, why[fd]) for fd in why), err
        ours = [h for h in json.loads(out) if h.get("pid") == os.getpid()]
        assert sorted((h["fd"], h["errno"]) for h in ours if "error" in h) == \
            sorted((fd, EPROTONOSUPPORT if fd == fakes[2][0] else EPROTO) for fd, _ in fakes), ours
        assert [h for h in ours if "error" in h][0]["name"] is None
        [ok] = [h for h in ours if "error" not in h]
        assert (ok["uri"], ok["peers"]) == ("tcp://fake:%d" % os.getpid(), []), ok

        # Selecting a URI leaves out what cannot say which it is.
        status, out, err = run("stat", "tcp://fake:%d" % os.getpid())
        assert (status, err) == (0, ""), (status, err)
        assert out.decode().splitlines()[1].startswith("tcp://fake:%d " % os.getpid()), out
    finally:
        for fd, sock in fakes + [good]:
            sock.close()
            os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
