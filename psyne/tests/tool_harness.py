# SPDX-License-Identifier: MIT
"""The psyne tool's tests: the project's CLI harness (common/tests/cli_harness.py) and the
helpers that know psyne: which channels are this run's, and `psyne stat --json`."""
import json
import os
import socket

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
