#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`ghostctl egpu monitor` as a user watches it: in a tmux pane (capture-pane out, send-keys
in), fed by a fake sysfs tree under GHOSTCTL_ROOT whose counters and states the test changes
while the dashboard runs. It draws the throughput graphs from the counters, reports state
changes and links that come and go as events, follows Tab, fits 80x24, redraws on resize,
says when the terminal is too small, and quits on q. Each test has its own tmux server on a
private socket, killed when it ends. Skipped where tmux is missing. The dashboard on the real
module is in test-egpu-guest.py."""
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time

import cli_harness
from cli_harness import Skip, main, test, wait_for

TMUX = shutil.which("tmux")
_tmp = []
_servers = 0
_feeders = []


def machine(links=(0, 1), lang="C.UTF-8"):
    """A fake root with the module's sysfs for `links`; returns (root, env)."""
    root = tempfile.mkdtemp(prefix="gc-egpu-tui-")
    _tmp.append(root)
    for n in links:
        add_link(root, n)
    os.makedirs(root + "/sys/class/anarchy", exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GHOSTCTL_", "XDG_", "TMUX", "LC_"))}
    env.update(HOME=root + "/home", GHOSTCTL_SYSCONFDIR=root + "/etc", GHOSTCTL_ROOT=root,
               TMUX_TMPDIR=root, LANG=lang, NO_COLOR="1")
    with open(root + "/tmux.conf", "w") as f:
        f.write("set -g default-terminal xterm-256color\nset -g escape-time 0\n")
    return root, env


def add_link(root, n):
    d = "%s/sys/class/anarchy/anarchy%d" % (root, n)
    os.makedirs(d)
    attrs = {"state": "up", "link_speed": "40000", "tx_bytes": "0", "rx_bytes": "0",
             "tx_records": "0", "rx_records": "0", "errors": "0", "crc_errors": "0",
             "drops": "0", "retransmits": "0", "bandwidth_limit": "0",
             "far_name": "far-%d" % n, "far_gpu": "NVIDIA GeForce RTX 4090", "simulated": "1"}
    for name, value in attrs.items():
        write(d + "/" + name, value + "\n")


def write(path, text):
    # Whole-file replacement, as sysfs reads always see a whole value.
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Feeder:
    """Moves a link's byte counters at a steady rate (bytes a second) until stopped."""

    def __init__(self, root, n, tx_rate, rx_rate):
        self.dir = "%s/sys/class/anarchy/anarchy%d" % (root, n)
        self.rates = (tx_rate, rx_rate)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        _feeders.append(self)

    def run(self):
        start = time.monotonic()
        while not self.stop.wait(0.02):
            t = time.monotonic() - start
            try:
                write(self.dir + "/tx_bytes", "%d\n" % int(t * self.rates[0]))
                write(self.dir + "/rx_bytes", "%d\n" % int(t * self.rates[1]))
            except FileNotFoundError:
                return  # the link was removed

    def end(self):
        self.stop.set()
        self.thread.join(5)


class Pane:
    """ghostctl ARGS in a detached tmux session of a server of its own."""

    def __init__(self, root, env, *args, width=80, height=24):
        if not TMUX:
            raise Skip("tmux is not installed")
        global _servers
        _servers += 1
        self.root, self.env = root, env
        self.socket = "gc-egpu-%d-%d" % (os.getpid(), _servers)
        command = "%s; echo \"[exit $?]\"; exec sleep 600" % shlex.join(
            [cli_harness.TOOL, *args])
        self.tmux("new-session", "-d", "-s", "mon", "-x", str(width), "-y", str(height),
                  command)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], env=self.env,
                       capture_output=True, timeout=10)

    def tmux(self, *args):
        p = subprocess.run([TMUX, "-L", self.socket, "-f", self.root + "/tmux.conf", *args],
                           env=self.env, capture_output=True, timeout=10)
        assert p.returncode == 0, "tmux %r: %s" % (args, p.stderr.decode(errors="replace"))
        return p.stdout.decode(errors="replace")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "mon").split("\n")[:-1]

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "mon", *keys)

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "mon", "-x", str(width), "-y", str(height))

    def wait(self, what, predicate, timeout=10.0):
        """Waits until predicate(screen) is true; returns that screen."""
        last = []

        def check():
            last[:] = self.screen()
            return predicate(last)
        try:
            wait_for(what, check, timeout)
        except AssertionError as e:
            raise AssertionError("%s; the screen:\n%s" % (e, "\n".join(last))) from None
        return list(last)  # the screen that satisfied the predicate

    def wait_text(self, text, timeout=10.0):
        return self.wait(repr(text), lambda s: any(text in line for line in s), timeout)


def line_starting(screen, prefix):
    for line in screen:
        if line.startswith(prefix):
            return line
    return None


def rate_of(screen, name):
    """The current rate on a graph's heading (" TX  812 Mb/s  peak ..."), in bits a second."""
    line = line_starting(screen, " %-3s " % name)
    if not line:
        return None
    words = line.split()
    if len(words) < 3 or words[1] == "-":
        return None
    scale = {"b/s": 1, "kb/s": 1e3, "Mb/s": 1e6, "Gb/s": 1e9}.get(words[2])
    return float(words[1]) * scale if scale else None


@test
def graphs_follow_the_counters():
    root, env = machine()
    # 12.5 MB/s out and 2.5 MB/s in: 100 and 20 Mb/s.
    feeder = Feeder(root, 0, 12.5e6, 2.5e6)
    with Pane(root, env, "egpu", "monitor", "--interval", "100") as pane:
        pane.wait_text("ghostctl egpu monitor")
        # Rates come from counters the feeder writes every 20 ms: near, not exact.
        screen = pane.wait("TX near 100 Mb/s and RX near 20 Mb/s",
                           lambda s: 60e6 < (rate_of(s, "TX") or 0) < 140e6 and
                           10e6 < (rate_of(s, "RX") or 0) < 30e6)
        # Every part of the dashboard fits 80x24, the keys on the last line.
        assert len(screen) == 24, len(screen)
        assert screen[0].startswith(" ghostctl egpu monitor") and "every 100 ms" in screen[0]
        assert screen[1].split() == ["anarchy0", "up", "anarchy1", "up"], screen[1]
        assert screen[2] == " 40G link, no cap | far far-0 | NVIDIA GeForce RTX 4090", screen[2]
        assert "(simulated link)" in screen[0], screen[0]
        assert line_starting(screen, " RTT n/a: /dev/anarchy0 not opened (No such file or "
                                     "directory)"), "\n".join(screen)
        assert line_starting(screen, " sent "), "\n".join(screen)
        assert line_starting(screen, " Events"), "\n".join(screen)
        assert screen[23].startswith(" q Quit"), screen[23]
        # The graph: full blocks under the TX heading, the newest at the right edge.
        tx = screen.index(line_starting(screen, " TX "))
        assert "\u2588" in screen[tx + 4] and screen[tx + 4].rstrip()[-1] in "\u2581\u2582"\
            "\u2583\u2584\u2585\u2586\u2587\u2588", "\n".join(screen)
        feeder.end()
        pane.wait("TX back to 0", lambda s: rate_of(s, "TX") == 0)
        pane.keys("q")
        pane.wait_text("[exit 0]")


@test
def events_tabs_and_links_that_come_and_go():
    root, env = machine(links=(0, 1))
    with Pane(root, env, "egpu", "monitor", "-i", "100") as pane:
        pane.wait_text("(none yet)")
        write(root + "/sys/class/anarchy/anarchy0/state", "down\n")
        pane.wait_text("anarchy0 state up -> down")
        pane.wait("the tab", lambda s: s[1].split()[:2] == ["anarchy0", "down"])
        # Tab selects the next link: its far host shows.
        assert any("far far-0" in line for line in pane.screen())
        pane.keys("Tab")
        pane.wait_text("far far-1")
        pane.keys("Left")
        pane.wait_text("far far-0")
        # A link goes, another comes.
        shutil.rmtree(root + "/sys/class/anarchy/anarchy1")
        pane.wait_text("anarchy1 gone")
        pane.wait("the tab", lambda s: "anarchy1 gone" in s[1])
        add_link(root, 4)
        pane.wait_text("anarchy4 appeared")
        pane.wait("the tab", lambda s: "anarchy4 up" in s[1])
        # Newest first.
        events = pane.screen()
        first = events.index(line_starting(events, " Events")) + 1
        assert "anarchy4 appeared" in events[first], "\n".join(events)
        pane.keys("c")
        pane.wait_text("(none yet)")
        pane.keys("Escape")
        pane.wait_text("[exit 0]")


@test
def resizes_and_says_when_too_small():
    root, env = machine(links=(0,))
    with Pane(root, env, "egpu", "monitor", "0", width=80, height=24) as pane:
        pane.wait_text("ghostctl egpu monitor")
        pane.resize(60, 16)
        screen = pane.wait("16 lines", lambda s: len(s) == 16 and s[15].startswith(" q Quit"))
        for part in [" TX ", " RX ", " RTT ", " Events"]:
            assert line_starting(screen, part), (part, "\n".join(screen))
        pane.resize(50, 10)
        pane.wait_text("Terminal too small:")
        pane.wait_text("need 60x16.")
        pane.resize(120, 50)
        screen = pane.wait("50 lines", lambda s: len(s) == 50 and s[49].startswith(" q Quit"))
        # Taller: longer graphs (10 rows of the 41 free lines) and more events (11).
        tx = screen.index(line_starting(screen, " TX "))
        rx = screen.index(line_starting(screen, " RX "))
        events = screen.index(line_starting(screen, " Events"))
        assert rx - tx == 11 and 49 - events == 12, (tx, rx, events, "\n".join(screen))
        pane.keys("C-c")
        pane.wait_text("[exit 0]")


@test
def ascii_graphs_without_utf8():
    root, env = machine(links=(0,), lang="C")
    feeder = Feeder(root, 0, 5e6, 5e6)
    with Pane(root, env, "egpu", "monitor", "anarchy0", "--interval=100") as pane:
        screen = pane.wait("a graph of #", lambda s: any(line.count("#") > 3 for line in s))
        assert not any("\u2588" in line for line in screen), "\n".join(screen)
        feeder.end()
        pane.keys("q")
        pane.wait_text("[exit 0]")


@test
def the_module_goes_away():
    root, env = machine(links=(0,))
    with Pane(root, env, "egpu", "monitor", "-i", "100") as pane:
        pane.wait_text("anarchy0 up")
        shutil.rmtree(root + "/sys/class/anarchy")
        screen = pane.wait_text("the module was unloaded")
        assert any(re.fullmatch(r" \d\d:\d\d:\d\d the module was unloaded", line)
                   for line in screen), "\n".join(screen)
        pane.wait_text("anarchy0 gone")
        pane.keys("q")
        pane.wait_text("[exit 0]")


def cleanup():
    for f in _feeders:
        f.end()
    _feeders.clear()
    for d in _tmp:
        shutil.rmtree(d, ignore_errors=True)
    _tmp.clear()


if __name__ == "__main__":
    raise SystemExit(main(cleanup=cleanup))
