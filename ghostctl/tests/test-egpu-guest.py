#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`ghostctl egpu` on the real module, in one testbed guest under TCG (docs/testbed.md): the
anarchy module loaded in test mode (test_mode=1: /dev/anarchy0 and /dev/anarchy1 are the two
ends of a simulated link), ghostctl and libanarchy packed next to it.

In order: status without the module, inject without debugfs; then status --json (both ends
up, read from the device, the far host's default GPU "NVIDIA GeForce RTX 4090" with its VRAM,
driver and encoders), limit (and its --dry-run), inject unplug and replug seen by status,
disconnect and connect --wait, the delay, drop and stall knobs; as an unprivileged user the
sysfs fallback and the refusals of limit, disconnect and inject; and the monitor dashboard on
the guest's serial console (TERM=vt100, 80x24) while a cable is pulled and traffic flows,
quit with q. The console bytes of the dashboard are replayed through a small VT100 screen
model to read what a user would see. The guest's kernel log is checked for warnings.

The environment (meson sets it): GHOSTCTL, the ghostctl binary; ANARCHY_LIB, the libanarchy.so
it is linked with; ANARCHY_KMOD, the module; ANARCHY_SELFTEST, the program that makes
traffic; ANARCHY_SKIP, why there is no module; TESTBED_* as for testbed_harness.
Usage: test-egpu-guest.py [NAME-OR-GLOB...]"""
import json
import os
import re
import shutil
import tempfile
import time

from testbed_harness import Guest, Skip, main, need_image, payload, script, test

GHOSTCTL = os.environ.get("GHOSTCTL", "")
LIBANARCHY = os.environ.get("ANARCHY_LIB", "")
KMOD = os.environ.get("ANARCHY_KMOD", "")
SELFTEST = os.environ.get("ANARCHY_SELFTEST", "")
SKIP = os.environ.get("ANARCHY_SKIP", "")
TERMINFO = ["/lib/terminfo/v/vt100", "/usr/share/terminfo/v/vt100"]
GPU = "NVIDIA GeForce RTX 4090"  # the module's default sim_gpus

BAD_LOG = re.compile(r"WARNING:|BUG:|Oops|general protection|Call Trace|refcount_t:|UBSAN|"
                     r"list_(add|del) corruption|double free|hung_task")

GUEST = r"""
set -u
cd /testbed
gc=/testbed/gc/ghostctl/ghostctl
st=/testbed/anarchy-selftest
export HOME=/tmp/home GHOSTCTL_SYSCONFDIR=/tmp/etc NO_COLOR=1 LANG=C
export TERM=vt100 TERMINFO=/testbed/terminfo LINES=24 COLUMNS=80
mkdir -p /tmp/home
rc=0
# step NAME CMD...: its stdout, its stderr and its status between markers, for the host
step() {
	n=$1
	shift
	"$@" >/tmp/out 2>/tmp/err
	s=$?
	echo "@@OUT $n"
	cat /tmp/out
	echo "@@ERR $n"
	cat /tmp/err
	echo "@@END $n $s"
}
# wait_state N STATE: until /sys/class/anarchy/anarchyN/state says STATE (15 s at most)
wait_state() {
	i=0
	while [ "$(cat /sys/class/anarchy/anarchy$1/state)" != "$2" ]; do
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "@@FAIL anarchy$1 never $2"; rc=1; return 1; }
		sleep 0.05
	done
}
as_user() { su -s /bin/sh nobody -c "$*"; }
k=/sys/kernel/debug/anarchy/anarchy0

step no-module $gc egpu status
insmod /testbed/anarchy.ko test_mode=1 || { echo "@@FAIL insmod"; exit 90; }
step no-debugfs $gc egpu inject 0 drop 1
mount -t debugfs none /sys/kernel/debug

step wait-up $gc egpu connect 0 --wait --timeout 30
step status $gc egpu status --json
step status-text $gc egpu status anarchy0

step limit-dry $gc egpu limit 0 100 --dry-run
step limit $gc egpu limit 0 2500
echo "@@SYSFS bandwidth_limit $(cat /sys/class/anarchy/anarchy0/bandwidth_limit)"
step status-limited $gc egpu status 0 --json
step unlimit $gc egpu limit 0 off

step unplug $gc egpu inject 0 unplug
wait_state 0 down
wait_state 1 down
step status-unplugged $gc egpu status --json
step replug $gc egpu inject /dev/anarchy0 replug
step wait-replugged $gc egpu connect 0 --wait --timeout 30
step status-replugged $gc egpu status --json

step disconnect-dry $gc egpu disconnect 0 --dry-run
step disconnect $gc egpu disconnect 0
step status-disconnected $gc egpu status 0 --json
step disconnect-again $gc egpu disconnect 0
step connect $gc egpu connect 0 --wait --timeout 30
step status-connected $gc egpu status 0 --json

step delay $gc egpu inject 0 delay 100
echo "@@KNOB delay_us $(cat $k/delay_us)"
step undelay $gc egpu inject 0 delay 0
echo "@@KNOB delay_us-after $(cat $k/delay_us)"
step drop $gc egpu inject 0 drop 3
echo "@@KNOB drop $(cat $k/drop)"
step stall-on $gc egpu inject 0 stall on
echo "@@KNOB stall $(cat $k/stall)"
step stall-off $gc egpu inject 0 stall off
echo "@@KNOB stall-after $(cat $k/stall)"
step corrupt-dry $gc egpu inject 0 corrupt 2 --dry-run
echo "@@KNOB corrupt $(cat $k/corrupt)"

step user-status as_user $gc egpu status --json
chmod 0666 /dev/anarchy0
step user-limit as_user $gc egpu limit 0 100
step user-disconnect as_user $gc egpu disconnect 0
step user-inject as_user $gc egpu inject 0 drop 1
chmod 0660 /dev/anarchy0
step user-after $gc egpu status 0 --json

# The dashboard on this console: the cable is pulled and put back, then traffic flows.
stty rows 24 cols 80 2>/dev/null
(
	sleep 1
	echo 0 > $k/plugged
	sleep 1
	echo 1 > $k/plugged
	sleep 1
	$st traffic /dev/anarchy0 /dev/anarchy1 4000 > /tmp/traffic.log 2>&1
) &
bg=$!
echo "@@MON-BEGIN"
$gc egpu monitor --interval 200
echo "@@MON-END $?"
wait $bg
cat /tmp/traffic.log

rmmod anarchy || { echo "@@FAIL rmmod"; rc=1; }
step after-rmmod $gc egpu status --json
echo KERNEL-LOG-BEGIN
dmesg
echo KERNEL-LOG-END
exit $rc
"""


class RawGuest(Guest):
    """A Guest that also keeps the console's bytes as they came (carriage returns
    included), for the screen model."""

    raw = ""

    def _read(self):
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                text = chunk.decode(errors="replace")
                self.raw += text
                self._buf += text.replace("\r", "")
                self._cond.notify_all()


class Screen:
    """What a VT100 shows after the bytes fed to it: enough of the terminal for what curses
    sends to TERM=vt100 (cursor addressing, erasing, scroll regions, index and reverse
    index, autowrap); attributes and character sets are ignored."""

    def __init__(self, cols=80, rows=24):
        self.cols, self.rows = cols, rows
        self.grid = [[" "] * cols for _ in range(rows)]
        self.x = self.y = 0
        self.top, self.bottom = 0, rows - 1
        self.saved = (0, 0)
        self.pending_wrap = False

    def lines(self):
        return ["".join(row).rstrip() for row in self.grid]

    def feed(self, data):
        i = 0
        while i < len(data):
            c = data[i]
            i += 1
            if c == "\x1b":
                i = self._escape(data, i)
            elif c == "\r":
                self.x, self.pending_wrap = 0, False
            elif c == "\n":
                self._index()
            elif c == "\b":
                self.x, self.pending_wrap = max(0, self.x - 1), False
            elif c == "\t":
                self.x = min(self.cols - 1, (self.x // 8 + 1) * 8)
            elif c >= " ":
                self._put(c)

    def _put(self, c):
        if self.pending_wrap:
            self.x, self.pending_wrap = 0, False
            self._index()
        self.grid[self.y][self.x] = c
        if self.x == self.cols - 1:
            self.pending_wrap = True
        else:
            self.x += 1

    def _scroll(self, up):
        region = self.grid[self.top:self.bottom + 1]
        blank = [" "] * self.cols
        region = region[1:] + [blank] if up else [blank] + region[:-1]
        self.grid[self.top:self.bottom + 1] = region

    def _index(self):
        self.pending_wrap = False
        if self.y == self.bottom:
            self._scroll(True)
        elif self.y < self.rows - 1:
            self.y += 1

    def _reverse_index(self):
        if self.y == self.top:
            self._scroll(False)
        elif self.y > 0:
            self.y -= 1

    def _escape(self, data, i):
        if i >= len(data):
            return i
        c = data[i]
        if c == "[":
            j = i + 1
            while j < len(data) and data[j] in "0123456789;?":
                j += 1
            if j < len(data):
                self._csi(data[j], data[i + 1:j])
            return j + 1
        if c in "()":
            return i + 2
        if c == "M":
            self._reverse_index()
        elif c == "D":
            self._index()
        elif c == "E":
            self.x = 0
            self._index()
        elif c == "7":
            self.saved = (self.x, self.y)
        elif c == "8":
            self.x, self.y = self.saved
        return i + 1

    def _csi(self, final, params):
        if params.startswith("?"):
            return
        n = [int(p) if p else 0 for p in params.split(";")] if params else []
        a = n[0] if n else 0
        self.pending_wrap = False
        if final in "Hf":
            self.y = min(max((n[0] if n and n[0] else 1) - 1, 0), self.rows - 1)
            self.x = min(max((n[1] if len(n) > 1 and n[1] else 1) - 1, 0), self.cols - 1)
        elif final == "A":
            self.y = max(0, self.y - max(a, 1))
        elif final == "B":
            self.y = min(self.rows - 1, self.y + max(a, 1))
        elif final == "C":
            self.x = min(self.cols - 1, self.x + max(a, 1))
        elif final == "D":
            self.x = max(0, self.x - max(a, 1))
        elif final == "J":
            rows = range(self.rows) if a == 2 else range(self.y + 1, self.rows)
            if a != 2:
                self.grid[self.y][self.x:] = [" "] * (self.cols - self.x)
            for r in rows:
                self.grid[r] = [" "] * self.cols
        elif final == "K":
            if a == 0:
                self.grid[self.y][self.x:] = [" "] * (self.cols - self.x)
            elif a == 1:
                self.grid[self.y][:self.x + 1] = [" "] * (self.x + 1)
            else:
                self.grid[self.y] = [" "] * self.cols
        elif final == "r":
            self.top = (n[0] if n and n[0] else 1) - 1
            self.bottom = (n[1] if len(n) > 1 and n[1] else self.rows) - 1
            self.x = self.y = 0


def steps(out):
    """{name: (status, stdout, stderr)} of the guest's step markers."""
    found = {}
    for m in re.finditer(r"^@@OUT (\S+)\n(.*?)^@@ERR \1\n(.*?)^@@END \1 (\d+)$", out,
                         re.M | re.S):
        found[m.group(1)] = (int(m.group(4)), m.group(2), m.group(3))
    return found


def terminfo(tmp):
    """A terminfo directory with vt100 in it, for the guest's curses."""
    for path in TERMINFO:
        if os.path.isfile(path):
            d = os.path.join(tmp, "terminfo", "v")
            os.makedirs(d)
            shutil.copy(path, d)
            return os.path.join(tmp, "terminfo")
    raise Skip("no terminfo entry for vt100 (apt-get install ncurses-base)")


def ghostctl_tree(tmp):
    """ghostctl and libanarchy as the build tree lays them out, so that the binary's
    $ORIGIN/../anarchy run path finds the library in the guest too."""
    for path in (GHOSTCTL, LIBANARCHY):
        if not os.path.isfile(path):
            raise AssertionError("missing %r (run meson compile)" % path)
    root = os.path.join(tmp, "gc")
    os.makedirs(root + "/ghostctl")
    os.makedirs(root + "/anarchy")
    shutil.copy(GHOSTCTL, root + "/ghostctl/ghostctl")
    shutil.copy(LIBANARCHY, root + "/anarchy/libanarchy.so.0")
    return root


class Run:
    """The one boot of this test, its results shared by the checks below."""

    out = None
    screens = None
    error = None


def boot():
    if Run.error:
        raise Run.error
    if Run.out is not None:
        return Run.out
    try:
        Run.out = _boot()
    except (Skip, AssertionError) as e:
        Run.error = e
        raise
    return Run.out


def _boot():
    if SKIP:
        raise Skip(SKIP)
    need_image()
    for path in (KMOD, SELFTEST):
        if not os.path.isfile(path):
            raise AssertionError("missing %r (run meson compile)" % path)
    with tempfile.TemporaryDirectory() as tmp:
        run = script(tmp, GUEST)
        initrd = payload(tmp, run, KMOD, SELFTEST, ghostctl_tree(tmp), terminfo(tmp))
        guest = RawGuest(initrd, append="testbed.timeout=240", timeout=300, interactive=True)
        try:
            guest.wait_for(r"@@MON-BEGIN\n")
            Run.screens = follow_monitor(guest)
            guest.write("q")
            guest.wait_for(r"@@MON-END \d+")
            out = guest.finish()
            status = guest.result()
        finally:
            if os.environ.get("EGPU_GUEST_CONSOLE"):  # for a look at what the guest said
                with open(os.environ["EGPU_GUEST_CONSOLE"], "w") as f:
                    f.write(guest.raw)
    log = out[out.find("KERNEL-LOG-BEGIN"):out.find("KERNEL-LOG-END")]
    bad = [line for line in log.splitlines() if BAD_LOG.search(line)]
    assert not bad, "kernel log:\n" + log[-4000:]
    fails = [line for line in out.splitlines() if line.startswith("@@FAIL")]
    assert not fails, "\n".join(fails) + "\n" + out[-3000:]
    assert status == 0, "guest status %r; console:\n%s" % (status, out[-3000:])
    return out


def follow_monitor(guest, timeout=90):
    """Watches the dashboard, replaying the console through a Screen as it comes, until it
    showed the cable pulled, then put back, then traffic; returns the screen of each."""
    deadline = time.monotonic() + timeout
    start = guest.raw.find("@@MON-BEGIN")
    offset = guest.raw.find("\n", start) + 1
    screen = Screen()
    seen = {}
    lines = []
    while time.monotonic() < deadline:
        raw = guest.raw
        screen.feed(raw[offset:])
        offset = len(raw)
        lines = screen.lines()
        events = "\n".join(lines[lines.index(" Events"):]) if " Events" in lines else ""
        if "hotplug-remove" in events or "link-down" in events:
            seen.setdefault("unplugged", lines)
        if "unplugged" in seen and ("link-up" in events or "hotplug-add" in events):
            seen.setdefault("replugged", lines)
        tx = next((line for line in lines if line.startswith(" TX ")), "")
        if "replugged" in seen and re.match(r" TX\s+[\d.]+ [kMG]b/s", tx):
            seen["traffic"] = lines
            return seen
        time.sleep(0.2)
    raise AssertionError("the dashboard never showed all of unplug, replug and traffic "
                         "(seen: %s); the screen:\n%s" % (sorted(seen), "\n".join(lines)))


def step(name):
    found = steps(boot())
    assert name in found, "no step %r in the guest's output" % name
    return found[name]


def ok_json(name):
    status, out, err = step(name)
    assert status == 0, "%s: status %d: %s" % (name, status, err)
    return json.loads(out)


def link(doc, index):
    return next(lnk for lnk in doc["links"] if lnk["index"] == index)


@test
def status_on_the_module():
    status, out, err = step("no-module")
    assert status == 1 and "The anarchy module is not loaded" in err, (status, err)
    assert "modprobe anarchy" in err, err
    status, out, err = step("no-debugfs")
    assert status == 1 and err.strip() == (
        "ghostctl: debugfs is not mounted: mount it with 'mount -t debugfs none "
        "/sys/kernel/debug'."), (status, err)
    status, out, err = step("wait-up")
    assert status == 0 and "anarchy0 is up" in err, (status, err)

    doc = ok_json("status")
    assert doc["schema"] == 1 and [lnk["name"] for lnk in doc["links"]] == [
        "anarchy0", "anarchy1"], doc
    for lnk in doc["links"]:
        assert lnk["source"] == "device" and lnk["source_error"] is None, lnk
        assert lnk["state"] == "up" and lnk["simulated"] is True, lnk
        assert lnk["admin_down"] is False and lnk["rings_in_use"] is False, lnk
        assert lnk["link_speed_mbps"] == 40000 and lnk["dma_rate_mbps"] == 10000, lnk
        assert lnk["bandwidth_cap_mbps"] == 0 and isinstance(lnk["rtt_us"], int), lnk
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                            lnk["far_host"]["uuid"]), lnk
        assert lnk["counters"]["link_ups"] >= 1, lnk
    # anarchy0 is this host's end: its far host is the simulated one, with the module's
    # default GPU. anarchy1 is the simulated host's end: its far host is this guest, which
    # advertises no GPU (local_gpus is empty).
    near, far = link(doc, 0), link(doc, 1)
    assert near["far_host"]["name"] == "anarchy-sim", near
    assert near["gpus"] == [{"name": GPU, "driver": "nvidia", "vram_bytes": 24564 << 20,
                             "encoders": ["h264", "hevc", "av1"]}], near
    assert far["far_host"]["name"] == "testbed" and far["gpus"] == [], far
    assert near["far_host"]["uuid"] != far["far_host"]["uuid"], doc

    status, out, err = step("status-text")
    assert status == 0 and err == "", (status, err)
    lines = out.splitlines()
    assert lines[0] == "anarchy0: up (simulated link)", lines
    assert "  speed       40000 Mb/s, DMA 10000 Mb/s, cap none" in lines, lines
    assert "  gpu         %s: 24.0 GiB VRAM, driver nvidia, encoders H.264 HEVC AV1" % GPU \
        in lines, lines


@test
def limit_sets_the_cap():
    status, out, err = step("limit-dry")
    assert status == 0 and out == "Would set the bandwidth cap of anarchy0 to 100 Mb/s (now " \
        "none).\n", (status, out, err)
    status, out, err = step("limit")
    assert status == 0 and "anarchy0: bandwidth cap 2500 Mb/s (was none)." in err, (status, err)
    assert "@@SYSFS bandwidth_limit 2500\n" in boot()
    assert link(ok_json("status-limited"), 0)["bandwidth_cap_mbps"] == 2500
    status, out, err = step("unlimit")
    assert status == 0 and "bandwidth cap none (was 2500 Mb/s)" in err, (status, err)
    assert link(ok_json("status-unplugged"), 0)["bandwidth_cap_mbps"] == 0


@test
def unplug_and_replug_show_in_status():
    status, out, err = step("unplug")
    assert status == 0 and "Fault injected: pull the simulated cable of anarchy0" in err, err
    doc = ok_json("status-unplugged")
    for lnk in doc["links"]:
        assert lnk["state"] == "down" and lnk["link_speed_mbps"] == 0, lnk
        assert lnk["admin_down"] is False, lnk
    assert step("replug")[0] == 0
    doc = ok_json("status-replugged")
    for lnk in doc["links"]:
        assert lnk["state"] == "up" and lnk["link_speed_mbps"] == 40000, lnk
        assert lnk["counters"]["link_downs"] >= 1, lnk
    assert link(doc, 0)["gpus"][0]["name"] == GPU, doc


@test
def disconnect_and_connect():
    status, out, err = step("disconnect-dry")
    assert status == 0 and out.startswith("Would disconnect anarchy0 (now up)"), (out, err)
    status, out, err = step("disconnect")
    assert status == 0 and "Disconnected anarchy0: it stays down until 'ghostctl egpu " \
        "connect 0'." in err, (status, err)
    lnk = link(ok_json("status-disconnected"), 0)
    assert lnk["state"] == "down" and lnk["admin_down"] is True, lnk
    status, out, err = step("disconnect-again")
    assert status == 0 and "anarchy0 was disconnected already." in err, (status, err)
    status, out, err = step("connect")
    assert status == 0 and "Connected anarchy0: the link is up." in err, (status, err)
    lnk = link(ok_json("status-connected"), 0)
    assert lnk["state"] == "up" and lnk["admin_down"] is False, lnk


@test
def inject_writes_the_module_knobs():
    out = boot()
    knobs = dict(re.findall(r"^@@KNOB (\S+) (.*)$", out, re.M))
    assert knobs.get("delay_us") == "100" and knobs.get("delay_us-after") == "0", knobs
    # Frames sent since (heartbeats) may have used some of the drops already.
    assert knobs.get("drop") in ("0", "1", "2", "3"), knobs
    assert knobs.get("stall") == "1" and knobs.get("stall-after") == "0", knobs
    assert knobs.get("corrupt") == "0", knobs  # --dry-run
    for name in ("delay", "undelay", "drop", "stall-on", "stall-off"):
        status, _, err = step(name)
        assert status == 0 and err.startswith("ghostctl: Fault injected: "), (name, err)
    status, out, _ = step("corrupt-dry")
    assert status == 0 and out == ("Would corrupt the next 2 frames anarchy0 sends: write 2 to "
                                   "/sys/kernel/debug/anarchy/anarchy0/corrupt.\n"), out


@test
def an_unprivileged_user():
    status, out, err = step("user-status")
    assert status == 0, (status, err)
    doc = json.loads(out)
    for lnk in doc["links"]:
        assert lnk["source"] == "sysfs" and lnk["source_error"] == "Permission denied", lnk
        assert lnk["state"] == "up" and lnk["rtt_us"] is None, lnk
        assert lnk["far_host"]["uuid"] is None, lnk
    assert link(doc, 0)["gpus"] == [{"name": GPU, "driver": None, "vram_bytes": None,
                                     "encoders": None}], doc
    assert link(doc, 1)["far_host"]["name"] == "testbed", doc
    assert err.splitlines() == [
        "ghostctl: Cannot open /dev/anarchy0, /dev/anarchy1 (Permission denied): showing what "
        "sysfs has; the far host's UUID, GPU details, RTT and some counters need the device "
        "(root, or its group)."], err
    status, out, err = step("user-limit")
    assert status == 1 and err.strip() == ("ghostctl: Setting the bandwidth cap of anarchy0 "
                                           "needs CAP_SYS_ADMIN: run as root."), (status, err)
    status, out, err = step("user-disconnect")
    assert status == 1 and err.strip() == ("ghostctl: Disconnecting anarchy0 needs "
                                           "CAP_SYS_ADMIN: run as root."), (status, err)
    status, out, err = step("user-inject")
    assert status == 1 and err.strip() == ("ghostctl: Cannot read /sys/kernel/debug: "
                                           "Permission denied: fault injection needs root."), \
        (status, err)
    lnk = link(ok_json("user-after"), 0)
    assert lnk["state"] == "up" and lnk["bandwidth_cap_mbps"] == 0, lnk


@test
def monitor_on_the_console():
    out = boot()
    # Curses leaves the cursor on the last line: the marker may follow its bytes there.
    assert re.search(r"@@MON-END 0$", out, re.M), out[-3000:]
    screens = Run.screens
    first = screens["unplugged"]
    assert first[0].startswith(" ghostctl egpu monitor") and "every 200 ms" in first[0], first
    assert first[1].split()[:1] == ["anarchy0"] and "anarchy1" in first[1], first
    assert first[23].startswith(" q Quit"), first
    assert any(line.startswith(" RTT ") for line in first), first
    assert "link-down" in "\n".join(first) or "hotplug-remove" in "\n".join(first), first
    replugged = "\n".join(screens["replugged"])
    assert "link-up" in replugged or "hotplug-add" in replugged, replugged
    last = screens["traffic"]
    assert last[2] == " 40G link, 10G DMA, no cap | far anarchy-sim | %s 24.0 GiB" % GPU, last
    rtt = next(line for line in last if line.startswith(" RTT "))
    assert re.match(r" RTT [\d.]+ (us|ms|s)\s+min [\d.]+ (us|ms|s)  max ", rtt), last
    tx = last.index(next(line for line in last if line.startswith(" TX ")))
    assert any("#" in line or ":" in line or "." in line for line in last[tx + 1:tx + 5]), last
    # The traffic program ran while the monitor watched.
    assert "SELFTEST FAIL" not in out, out[-3000:]
    status, _, err = step("after-rmmod")
    assert status == 1 and "not loaded" in err, err


if __name__ == "__main__":
    raise SystemExit(main())
