# SPDX-License-Identifier: MIT
"""The psyne tool's tests: the project's CLI harness (common/tests/cli_harness.py) and the
helpers that know psyne: which channels are this run's, and `psyne stat --json`."""
import fcntl
import json
import os
import socket
import struct

from cli_harness import (EnvironmentBroken, Skip, TIMEOUT, TOOL, assert_usage_error,  # noqa: F401
                         finish, main, run, signal_and_finish, spawn, test, wait_for)


def channel(tag):
    """A channel name unique to this run, so that parallel runs never meet."""
    return "t%d-%s" % (os.getpid(), tag)


def mine(text):
    """The lines of `text` about channels of this run: tests running beside this one (in
    this process's meson run, or another) may have channels of their own, hostile ones
    included, which a listing of every channel shows too."""
    tag = "t%d-" % os.getpid()
    return [line for line in text.splitlines() if tag in line]


def stat_json(name=None):
    """`psyne stat --json [NAME]`: the list, or None when the named channel does not exist.
    Without NAME, status 1 is fine when only other runs' channels failed."""
    status, out, err = run("stat", "--json", *([name] if name else []))
    if name and status == 1 and "No such channel" in err:
        return None
    assert status == 0 or (not name and status == 1 and not mine(err)), \
        "stat failed (%d): %s" % (status, err)
    return json.loads(out)


def wait_channel(name, predicate=lambda ch: True, timeout=10.0):
    """Waits until `psyne stat` shows channel `name` and predicate(its object) holds."""
    def look():
        chans = stat_json(name)
        if chans and predicate(chans[0]):
            return chans[0]
        return None
    return wait_for("channel %s" % name, look, timeout)


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def net_json(uri):
    """`psyne stat --json URI` of a network URI: its handles, [] when there are none."""
    status, out, err = run("stat", "--json", uri)
    if status == 1 and err.startswith("psyne: stat: No network handle on"):
        return []
    assert status == 0, "stat failed (%d): %s" % (status, err)
    return json.loads(out)


def wait_net(uri, predicate, what):
    """Waits until the handles on `uri` (a list) satisfy predicate(list), which is returned."""
    return wait_for(what, lambda: (lambda hs: hs if predicate(hs) else None)(net_json(uri)))


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


def fake_fd(content, seal, name):
    """Puts `content` in a memfd and binds the abstract name `name` % fd."""
    fd = os.memfd_create("hostile", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, content)
    if seal:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name % fd)
    return fd, sock


def fake_member(name, content, seal=True):
    """A memfd of `content` under the abstract name a member of `name` would bind."""
    return fake_fd(content, seal, b"psyne/1/%d/%s/m/%d/%%d/f" % (os.geteuid(), name.encode(),
                                                                 os.getpid()))
