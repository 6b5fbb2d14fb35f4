#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`psyne cat` (psyne/tools/verb_cat.c): round trips between two tool processes over
ipc://, in either start order; binary payloads with NUL bytes; the text, hex and JSON
output; --count, --interval, --timeout, --linger; and the usage and runtime errors."""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from tool_harness import (Skip, assert_usage_error, channel, fake_member, finish, free_port, header,
                          main, run, signal_and_finish, spawn, stat_json, test, wait_channel,
                          wait_for, wait_net)


def receiver_ready(name, uri, *args, stdout=subprocess.PIPE):
    """Starts a receiver and waits until it is the channel's consumer."""
    p = spawn("cat", uri, "--recv", *args, stdout=stdout)
    wait_channel(name, lambda ch: ch["consumers"] == 1)
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(uri):
    """Whether `psyne stat` lists a listener on `uri` (tcp://HOST:PORT)."""
    status, out, err = run("stat", "--json", uri + "?listen")
    return status == 0 and any(h["role"] == "listener" for h in json.loads(out))


@test
def listener_serves_one_sender_after_another():
    # tcp://...?listen is a server: spsc takes one sender at a time, and when one has gone
    # the next is served. It used to stop after the first, and the next found no listener.
    uri = "tcp://127.0.0.1:%d" % free_port()
    recv = spawn("cat", uri + "?listen", "--recv", "--count=3")
    wait_for("the listener", lambda: listening(uri))
    for line in (b"a\n", b"b\n", b"c\n"):
        status, out, err = run("cat", uri, stdin=line)
        assert (status, out, err) == (0, b"", ""), (line, status, err)
    assert finish(recv) == (0, b"a\nb\nc\n", "")


@test
def usage_errors():
    u = "ipc://x"
    for args, line in [
        ([u, "--send", "--recv"], "options '--send' and '--recv' exclude each other"),
        ([u, "--send", "--hex"], "option '--hex' cannot be used with --send"),
        ([u, "--recv", "--data=x"], "option '--data' cannot be used with --recv"),
        ([u, "--recv", "--interval=5"], "option '--interval' cannot be used with --recv"),
        ([u, "--data=x", "--json"], "options '--data' and '--json' exclude each other"),
        ([u, "--data=x", "--file=y"], "options '--data' and '--file' exclude each other"),
        ([u, "--file=y", "--raw"], "options '--file' and '--raw' exclude each other"),
        ([u, "--raw", "--hex"], "options '--raw' and '--hex' exclude each other"),
        ([u, "--hex", "--json"], "options '--hex' and '--json' exclude each other"),
        ([u, "--send", "--chunk=4K"], "option '--chunk' needs --raw"),
        ([u, "--chunk=0", "--raw"], "--chunk: invalid size '0' (1 to 1G)"),
        ([u, "--chunk=2G", "--raw"], "--chunk: invalid size '2G' (1 to 1G)"),
        ([u, "--count=-1"], "--count: invalid number '-1'"),
        ([u, "-n", "many"], "--count: invalid number 'many'"),
        ([u, "--type=4294967296"], "--type: invalid type '4294967296' (0 to 4294967295)"),
        ([u, "--timeout=soon"], "--timeout: invalid duration 'soon' (0 to 86400000 ms)"),
        ([u, "--interval=86400001"], "--interval: invalid duration '86400001' (0 to 86400000 ms)"),
        ([u, "--linger=-5"], "--linger: invalid duration '-5' (0 to 86400000 ms)"),
        ([u, "--file="], "--file: empty path"),
        ([u, "--recv=yes"], "option '--recv' takes no value"),
        ([u, "--data"], "option '--data' needs a value"),
        ([u, "-rq"], "unknown option '-q'"),
    ]:
        assert_usage_error(["cat", *args], "psyne: cat: " + line, "cat")


@test
def bad_uris():
    """A URI psyne_open() refuses as written is a usage error: its reason, on one line, then
    the Try line, and status 2; on either side."""
    for uri, line in [
        ("camera0", "'camera0': expected SCHEME://ADDRESS (ipc://NAME, tcp://HOST:PORT, ...)"),
        ("ipc://", "'ipc://': no address after '://'"),
        ("IPC://x", "'IPC://x': a scheme is lowercase letters and digits"),
        ("ipc://a b", "'ipc://a b': a URI is printable ASCII without spaces"),
        ("ipc://a/b", "ipc://a/b: a channel name is 1 to 48 characters of [A-Za-z0-9._-]"),
        ("ipc://x?mode=fast", "ipc://x: mode=fast: expected spsc, mpsc, spmc or mpmc"),
        ("ipc://x?capacity=1", "ipc://x: capacity=1: expected a size from 4K to 1G"),
        ("ipc://x?mode=spsc&mode=mpsc", "'ipc://x?mode=spsc&mode=mpsc': option 'mode' given twice"),
        ("memory://x?listen", "memory://x: unknown option 'listen' (docs/psyne.md lists each "
                              "scheme's options)"),
        ("pigeon://x", "'pigeon://x': unknown scheme 'pigeon' (memory, ipc, unix, tcp, tls, udp)"),
        ("tcp://host", "host: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)"),
        ("tcp://host:65536", "host:65536: expected HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)"),
        ("unix://@", "unix://@: a path or @name of 1 to 107 bytes"),
        ("udp://127.0.0.1:7000?max_msg=0", "udp: option max_msg=0: expected 1 to 65475"),
        ("tls://127.0.0.1:7000?listen", "tls: a listener needs cert= and key=, or psk="),
    ]:
        for side in ("--recv", "--send"):
            assert_usage_error(["cat", uri, side], "psyne: cat: " + line, "cat")


@test
def help_names_every_scheme():
    """`psyne cat --help` names every scheme psyne_open() knows (the list its error for an
    unknown one gives), each with an example, and psyne(1) in docs/psyne.md gives the same
    examples."""
    status, out, err = run("cat", "pigeon://x")
    schemes = re.search(r"unknown scheme 'pigeon' \((.*)\)", err).group(1).split(", ")
    assert "ipc" in schemes and "udp" in schemes, schemes
    status, out, err = run("cat", "--help")
    assert status == 0, (status, err)
    text = out.decode()
    docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                        "psyne.md")
    with open(docs) as f:
        manual = f.read().split("# psyne(1)", 1)[1]
    for scheme in schemes:
        assert re.search(r"^  %s://\S+ +\S" % scheme, text, re.M), "%s:// not named" % scheme
        examples = re.findall(r"^ +e\.g\. (%s://\S+)$" % scheme, text, re.M)
        assert len(examples) == 1, (scheme, examples)
        assert "| `%s` |" % examples[0] in manual, "%s not in psyne(1)" % examples[0]
    # memory:// says why it is of no use here.
    entry = text[text.index("  memory://"):]
    assert "process" in entry[:entry.index("e.g.")], entry


@test
def round_trip_receiver_first():
    name = channel("rfirst")
    uri = "ipc://%s?capacity=8K" % name
    recv = receiver_ready(name, uri)
    status, out, err = run("cat", uri, stdin=b"one\ntwo\n\nthree")
    assert (status, out, err) == (0, b"", ""), (status, out, err)
    # The sender has gone and the receiver drained everything: it stops by itself.
    status, out, err = finish(recv)
    assert (status, err) == (0, ""), (status, err)
    assert out == b"one\ntwo\n\nthree\n", out
    wait_for("%s to go" % name, lambda: stat_json(name) is None)


@test
def round_trip_sender_first():
    name = channel("sfirst")
    uri = "ipc://" + name
    send = spawn("cat", uri, "--data", "hello", "--count", "3", "--type", "9")
    # The sender lingers: its messages wait in the channel for a receiver to come.
    ch = wait_channel(name, lambda ch: ch["messages"] == 3)
    assert ch["producers"] == 1 and ch["consumers"] == 0 and ch["queued"] == 3, ch
    status, out, err = run("cat", uri, "--recv", "--json")
    assert (status, err) == (0, ""), (status, err)
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"type": 9, "size": 5, "data": "hello"}] * 3, lines
    assert finish(send) == (0, b"", "")


@test
def raw_binary_survives_exactly():
    name = channel("raw")
    uri = "ipc://%s?capacity=64K" % name
    data = os.urandom(150000) + b"\0" * 5000 + b"\n\r\xff" + os.urandom(777)
    with tempfile.TemporaryFile() as f:
        recv = receiver_ready(name, uri, "--raw", stdout=f)
        status, out, err = run("cat", uri, "--raw", "--chunk", "1000", stdin=data)
        assert (status, err) == (0, ""), (status, err)
        status, out, err = finish(recv)
        assert (status, out, err) == (0, b"", ""), (status, err)
        f.seek(0)
        out = f.read()
    assert out == data, "received %d bytes, sent %d" % (len(out), len(data))


@test
def raw_default_chunk_and_count():
    name = channel("rawcount")
    uri = "ipc://%s?capacity=4K" % name
    # The default chunk shrinks to what the channel takes: 4K / 2 - 32.
    recv = receiver_ready(name, uri, "--json")
    status, out, err = run("cat", uri, "--raw", "--count", "2", stdin=b"a" * 10000)
    assert (status, err) == (0, ""), (status, err)
    status, out, err = finish(recv)
    assert status == 0, err
    assert [json.loads(line)["size"] for line in out.splitlines()] == [2016, 2016], out


@test
def file_is_one_message():
    name = channel("file")
    uri = "ipc://" + name
    data = bytes(range(256)) * 40
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        recv = receiver_ready(name, uri, "--raw", "--count", "2")
        assert run("cat", uri, "--file", f.name, "--count", "2") == (0, b"", "")
        status, out, err = finish(recv)
    assert (status, err) == (0, ""), (status, err)
    assert out == data * 2

    # Files of /proc say they are empty: the whole of it is sent all the same.
    recv = receiver_ready(name, uri, "--raw")
    assert run("cat", uri, "--file=/proc/self/status") == (0, b"", "")
    status, out, err = finish(recv)
    assert status == 0 and out.startswith(b"Name:\tpsyne\n") and len(out) > 200, out


@test
def json_carries_any_payload():
    name = channel("json")
    uri = "ipc://" + name
    chunks = [
        b"\x00\x01\x1f\x7f",          # control bytes: UTF-8, escaped as \\u00XX
        b"\xff\xfe\xfd\xfc",          # not UTF-8: base64
        b'"\\\n\t',                   # JSON's own escapes
        "üü".encode(),                # two-byte sequences
        b"\xed\xa0\x80x",             # a surrogate: not UTF-8
        b"\xc0\x80ab",                # an overlong NUL: not UTF-8
        "€a".encode(),                # three bytes
        b"\xf0\x9f\x98\x80",          # four bytes
        b"\xf4\x90\x80\x80",          # past U+10FFFF: not UTF-8
        b"ok",                        # the short last chunk
    ]
    recv = receiver_ready(name, uri, "--json")
    status, out, err = run("cat", uri, "--raw", "--chunk=4", "--type=7", stdin=b"".join(chunks))
    assert (status, err) == (0, ""), (status, err)
    status, out, err = finish(recv)
    assert (status, err) == (0, ""), (status, err)
    got = [json.loads(line) for line in out.decode("utf-8").splitlines()]
    assert len(got) == len(chunks), got
    for chunk, obj in zip(chunks, got):
        assert obj["type"] == 7 and obj["size"] == len(chunk), obj
        try:
            chunk.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        if utf8:
            assert set(obj) == {"type", "size", "data"}, obj
            assert obj["data"].encode("utf-8") == chunk, obj
        else:
            assert set(obj) == {"type", "size", "base64"}, obj
            assert base64.b64decode(obj["base64"], validate=True) == chunk, obj


@test
def text_escapes_what_is_not_printable():
    name = channel("text")
    uri = "ipc://" + name
    recv = receiver_ready(name, uri)
    assert run("cat", uri, "--raw", "--chunk=8", stdin=b"a\\b\x00\xff\n\tZ~ ok") == (0, b"", "")
    status, out, err = finish(recv)
    assert (status, err) == (0, ""), (status, err)
    assert out == rb"a\\b\x00\xff\x0a\x09Z" + b"\n~ ok\n", out


@test
def hex_dump():
    name = channel("hex")
    uri = "ipc://" + name
    recv = receiver_ready(name, uri, "--hex")
    # One sender for both: the receiver stops when its only sender has gone.
    assert run("cat", uri, "--type=3", stdin=b"hello world, hex!\n\n") == (0, b"", "")
    status, out, err = finish(recv)
    assert (status, err) == (0, ""), (status, err)
    assert out.decode() == (
        "type 3, 17 bytes\n"
        "00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 2c 20 68 65 78  |hello world, hex|\n"
        "00000010  21                                                |!|\n"
        "type 3, 0 bytes\n"), out


def wait_udp_bound(port):
    """Waits until a socket is bound to udp port `port` of 127.0.0.1 (/proc/net/udp)."""
    local = "0100007F:%04X" % port

    def bound():
        with open("/proc/net/udp") as f:
            return any(line.split()[1] == local for line in f.readlines()[1:])
    wait_for("udp port %d" % port, bound)


@test
def message_size_limits():
    """A message that is too large is refused with the channel's own limit: capacity/2 - 32
    on a ring, capacity/2 - 64 on a stream, max_msg on udp://; and that limit itself goes
    through, as --raw's default chunk when it is under 64K."""
    def too_large(uri, limit):
        status, out, err = run("cat", uri, "--data=" + "x" * (limit + 1))
        assert (status, out) == (1, b""), (uri, status, err)
        if uri.startswith("memory://"):
            err = err.split("\n", 1)[1]  # the warning that memory:// stays in the process
        assert err == "psyne: cat: A message of %d bytes does not fit '%s' (at most %d " \
            "bytes).\n" % (limit + 1, uri, limit), err

    name = channel("size")
    port = free_port()
    too_large("ipc://%s?capacity=8K" % name, 4064)
    too_large("memory://%s?capacity=8K" % name, 4064)
    too_large("tcp://127.0.0.1:%d?listen&capacity=64K" % port, 32704)
    too_large("unix://@%s?listen&capacity=64K&memfd_min=0" % name, 32704)
    too_large("udp://127.0.0.1:%d" % port, 1440)
    too_large("udp://127.0.0.1:%d?max_msg=100" % port, 100)
    # A stream's limit, not one byte less: with nobody to take it, it waits for space.
    uri = "tcp://127.0.0.1:%d?listen&capacity=64K" % port
    status, out, err = run("cat", uri, "--data=" + "x" * 32704, "--timeout=100")
    assert status == 1 and "does not fit" not in err, (status, err)

    recv = spawn("cat", "udp://127.0.0.1:%d?listen&max_msg=100" % port, "--recv", "--json",
                 "--count=3", "--timeout=20000")
    wait_udp_bound(port)
    status, out, err = run("cat", "udp://127.0.0.1:%d?max_msg=100" % port, "--raw",
                           stdin=b"y" * 250)
    assert (status, out, err) == (0, b"", ""), (status, err)
    status, out, err = finish(recv)
    assert (status, err) == (0, ""), (status, err)
    assert [json.loads(line)["size"] for line in out.splitlines()] == [100, 100, 50], out


@test
def count_and_interval():
    name = channel("interval")
    uri = "ipc://" + name
    recv = receiver_ready(name, uri, "--count", "3")
    start = time.monotonic()
    assert run("cat", uri, "--data=x", "--count=3", "--interval=60") == (0, b"", "")
    elapsed = time.monotonic() - start
    assert elapsed >= 0.12, elapsed
    assert finish(recv) == (0, b"x\nx\nx\n", "")


@test
def receiver_count_leaves_the_rest():
    name = channel("rest")
    uri = "ipc://" + name
    send = spawn("cat", uri, "--data=x", "--count=5", "--linger=3000")
    wait_channel(name, lambda ch: ch["messages"] == 5)
    assert run("cat", uri, "--recv", "--count=2") == (0, b"x\nx\n", "")
    # Three messages stay unread: the sender says so and fails.
    status, out, err = finish(send)
    assert status == 1, (status, err)
    assert err.startswith("psyne: cat: ") and "unread" in err and "'%s'" % uri in err, err


@test
def count_waits_across_producers():
    """--count=N is N messages: a producer leaving after the first is not the end of them,
    as long as another can still come (here, a second sender after the first has gone)."""
    name = channel("relay")
    uri = "ipc://" + name
    recv = receiver_ready(name, uri, "--count=2")
    assert run("cat", uri, "--data=one") == (0, b"", "")
    # The first sender has gone and its message was read: the receiver still holds the
    # channel, waiting for the second.
    wait_channel(name, lambda ch: ch["producers"] == 0 and ch["consumers"] == 1 and
                 ch["messages"] == 1 and ch["queued"] == 0)
    assert recv.poll() is None, finish(recv)
    assert run("cat", uri, "--data=two", "--linger=10000") == (0, b"", "")
    assert finish(recv) == (0, b"one\ntwo\n", "")

    # --timeout still bounds the wait for the next message while no producer is there (the
    # sender comes first, so that the receiver's first wait is no race with its start).
    send = spawn("cat", uri, "--data=one")
    wait_channel(name, lambda ch: ch["messages"] == 1)
    status, out, err = run("cat", uri, "--recv", "--count=2", "--timeout=300")
    assert (status, out) == (1, b"one\n"), (status, out, err)
    assert err == "psyne: cat: No message on '%s' for 300 ms.\n" % uri, err
    assert finish(send) == (0, b"", "")

    # Without --count, the receiver stops once its producers have gone, as before.
    recv = receiver_ready(name, uri)
    assert run("cat", uri, "--data=one") == (0, b"", "")
    assert finish(recv) == (0, b"one\n", "")


@test
def count_short_when_the_listener_closes():
    """A dialer's session does not come back once its listener closed it: a receiver short
    of --count says how many came, with status 1, instead of waiting for nothing."""
    address = "tcp://127.0.0.1:%d" % free_port()
    send = spawn("cat", address + "?listen", "--data=one")
    wait_net(address + "?listen", lambda hs: len(hs) == 1, "the listener")
    status, out, err = run("cat", address, "--recv", "--count=2")
    assert (status, out) == (1, b"one\n"), (status, out, err)
    assert err == "psyne: cat: '%s' was closed after 1 of 2 messages.\n" % address, err
    assert finish(send) == (0, b"", "")


@test
def interrupted_cat_closes_first():
    """SIGINT (Ctrl-C) or SIGTERM ends cat as the end of its work does, then kills it: the
    channel is closed, so a stream's peer hears it leave at once instead of waiting for it to
    come back (reconnect=, here 5 s) and failing; and cat dies of the signal, as the shell
    expects."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        address = "tcp://127.0.0.1:%d" % free_port()
        recv = spawn("cat", address + "?listen&reconnect=5000", "--recv")
        wait_net(address + "?listen", lambda hs: len(hs) == 1, "the listener")
        # A sender reading standard input, which stays open: it waits for more lines.
        send = spawn("cat", address, stdin=subprocess.PIPE)
        send.stdin.write(b"one\n")
        send.stdin.flush()
        wait_net(address + "?listen", lambda hs: len(hs) == 1 and hs[0]["received"] == 1,
                 "the message")
        assert signal_and_finish(send, sig) == (-sig, b"", "")
        # The listener hears the sender leave at once, not after reconnect=, and, being a
        # server, goes on serving until it is stopped in turn.
        wait_net(address + "?listen", lambda hs: len(hs) == 1 and hs[0]["sessions"] == 0,
                 "the sender to leave")
        assert signal_and_finish(recv, signal.SIGTERM) == (-signal.SIGTERM, b"one\n", "")

    # A receiver waiting for a message that does not come prints what it had, and dies of
    # the signal too.
    name = channel("interrupted")
    uri = "ipc://" + name
    recv = receiver_ready(name, uri, "--count=3")
    assert run("cat", uri, "--data=x", "--count=2") == (0, b"", "")
    wait_channel(name, lambda ch: ch["received"] == 2)
    assert signal_and_finish(recv, signal.SIGINT) == (-signal.SIGINT, b"x\nx\n", "")


@test
def linger_gives_up():
    name = channel("linger")
    uri = "ipc://" + name
    status, out, err = run("cat", uri, "--data=lost", "--linger=100")
    assert status == 1 and out == b"", (status, out)
    assert err == "psyne: cat: '%s' still holds 32 unread bytes after 100 ms.\n" % uri, err
    assert run("cat", uri, "--data=lost", "--linger=0") == (0, b"", "")


@test
def stdin_default_direction():
    # Standard input not a terminal and no --recv: it sends, here nothing at all.
    name = channel("nothing")
    assert run("cat", "ipc://" + name, stdin=b"") == (0, b"", "")


MEMORY_WARNING = ("psyne: cat: 'memory://quiet' lives inside this process: no other process "
                  "sends to it or receives from it, another psyne cat included.\n")


@test
def timeouts():
    status, out, err = run("cat", "ipc://%s" % channel("quiet"), "--recv", "--timeout=100")
    assert (status, out) == (1, b""), status
    assert err == "psyne: cat: No message on 'ipc://%s' for 100 ms.\n" % channel("quiet"), err
    status, out, err = run("cat", "ipc://%s" % channel("quiet"), "--recv", "--timeout=0")
    assert status == 1 and "No message on" in err, (status, err)


@test
def memory_is_said_to_be_private():
    """memory:// joins threads of one process: two psyne cat never meet on it, and a new
    user is told so, on either side, instead of waiting for nothing or sending into it."""
    status, out, err = run("cat", "memory://quiet", "--recv", "--timeout=100")
    assert (status, out) == (1, b""), status
    assert err == MEMORY_WARNING + "psyne: cat: No message on 'memory://quiet' for 100 ms.\n", err
    # The sender does not wait for a reader that cannot come.
    assert run("cat", "memory://quiet", "--data=x") == (0, b"", MEMORY_WARNING)


def closed_port():
    """A tcp:// address of 127.0.0.1 where nothing listens, nor will."""
    return "tcp://127.0.0.1:%d" % free_port()


@test
def timeout_bounds_the_dial():
    """--timeout bounds a dialer's wait for its connection too (as connect_timeout, when the
    URI sets none), on either side, and the failure is one line naming the URI as given.
    The library fails a dial to a closed port with -ECONNREFUSED at once, or, until net.c
    does, within the timeout: either will do here."""
    for uri, args, ms in [
        (closed_port(), ["--recv", "--timeout=300"], 300),
        (closed_port(), ["--data=x", "--timeout=200"], 200),
        ("unix://@%s" % channel("nobody"), ["--recv", "--timeout=300"], 300),
        # The URI's own connect_timeout wins.
        (closed_port() + "?connect_timeout=400", ["--recv", "--timeout=300"], 400),
    ]:
        status, out, err = run("cat", uri, *args)
        assert (status, out) == (1, b""), (uri, status, err)
        address = uri.split("://")[1].split("?")[0]
        if uri.startswith("unix:"):
            address = uri.split("?")[0]
        assert err in ("psyne: cat: cannot open '%s': Connection refused\n" % uri,
                       "psyne: cat: cannot open '%s': cannot connect to %s within %d ms\n"
                       % (uri, address, ms)), (uri, err)


@test
def refused_dial():
    """A dial to a closed port says so at once, as nngcat does."""
    uri = closed_port()
    status, out, err = run("cat", uri, "--recv", "--timeout=1000")
    assert (status, out) == (1, b""), (status, err)
    if "within 1000 ms" in err:
        # Waits for psyne/src/net.c to fail a refused dial with -ECONNREFUSED instead of
        # dialing again until connect_timeout.
        raise Skip("the library still retries a refused dial until connect_timeout")
    assert err == "psyne: cat: cannot open '%s': Connection refused\n" % uri, err


@test
def send_failures_say_why():
    """A sender that cannot send says what stands in the way, as a new user would need it:
    nobody connected to a listener, nobody a udp:// listener could reply to, a full ring."""
    uri = "tcp://127.0.0.1:%d?listen" % free_port()
    status, out, err = run("cat", uri, "--data=x", "--timeout=200")
    assert (status, out) == (1, b""), (status, err)
    assert err == "psyne: cat: Nobody connected to '%s' within 200 ms.\n" % uri, err
    uri = "udp://127.0.0.1:%d?listen" % free_port()
    status, out, err = run("cat", uri, "--data=x")
    assert (status, out) == (1, b""), (status, err)
    assert err == ("psyne: cat: '%s' has nobody to reply to yet: a udp:// listener sends to the "
                   "sender of the last message it received.\n" % uri), err
    uri = "ipc://%s?capacity=4K" % channel("full")
    status, out, err = run("cat", uri, "--data=" + "x" * 2000, "--count=3", "--timeout=200")
    assert (status, out) == (1, b""), (status, err)
    assert err == "psyne: cat: No space in '%s' for 200 ms.\n" % uri, err


@test
def open_and_send_failures():
    name = channel("fail")
    # A URI the library refuses is a usage error: its reason, in one line, and status 2.
    status, out, err = run("cat", "ipc://%s?colour=blue" % name, "--recv")
    assert status == 2, status
    assert err == ("psyne: cat: ipc://%s: unknown option 'colour' (docs/psyne.md lists each "
                   "scheme's options)\nTry 'psyne cat --help'.\n" % name), err
    status, out, err = run("cat", "pigeon://%s" % name, "--recv")
    assert status == 2, status
    assert err == ("psyne: cat: 'pigeon://%s': unknown scheme 'pigeon' (memory, ipc, unix, tcp, "
                   "tls, udp)\nTry 'psyne cat --help'.\n" % name), err
    status, out, err = run("cat", "tcp://localhost:http?listen", "--recv")
    assert status == 2, status
    assert err.startswith("psyne: cat: localhost:http: expected HOST:PORT"), err

    # A failure is one line, the library's reason when it gives one.
    uri = "unix:///nonexistent/dir/%s?listen" % name
    status, out, err = run("cat", uri, "--recv")
    assert (status, out) == (1, b""), status
    assert err == ("psyne: cat: cannot open '%s': cannot listen on unix:///nonexistent/dir/%s: "
                   "No such file or directory\n" % (uri, name)), err
    # A channel of another version is no typo in the URI: status 1, not 2.
    future = channel("future")
    fd, sock = fake_member(future, header(name=future.encode(), major=2))
    try:
        status, out, err = run("cat", "ipc://" + future, "--recv")
    finally:
        sock.close()
        os.close(fd)
    assert (status, out) == (1, b""), (status, err)
    assert err == ("psyne: cat: cannot open 'ipc://%s': its segment has version 2.0, this "
                   "library speaks 1.x\n" % future), err

    uri = "ipc://%s?capacity=4K&mode=mpsc" % name
    recv = receiver_ready(name, uri)
    status, out, err = run("cat", "ipc://%s?mode=spsc" % name, "--data=x")
    assert status == 1, status
    assert err == ("psyne: cat: cannot open 'ipc://%s?mode=spsc': ipc://%s exists with mode=mpsc "
                   "and capacity=4096; asked for mode=spsc and capacity=4096\n" % (name, name)), err
    status, out, err = run("cat", uri, "--data=" + "x" * 3000)
    assert status == 1, status
    assert err == "psyne: cat: A message of 3000 bytes does not fit '%s' (at most 2016 bytes).\n" \
        % uri, err
    status, out, err = run("cat", uri, "--raw", "--chunk=4K", stdin=b"x")
    assert status == 1 and "--chunk=4096 does not fit" in err, err
    status, out, err = run("cat", uri, "--file=/nonexistent/file")
    assert status == 1, status
    assert err == "psyne: cat: Failed to open '/nonexistent/file': No such file or directory\n"
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"y" * 2017)
        f.flush()
        status, out, err = run("cat", uri, "--file", f.name)
    assert status == 1 and "is larger than a message may be (2016 bytes)" in err, err
    recv.kill()


if __name__ == "__main__":
    sys.exit(main())
