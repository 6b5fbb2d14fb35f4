# SPDX-License-Identifier: MIT
"""The testbed's tests on the project's CLI harness (common/tests/cli_harness.py: @test,
PASS/FAIL lines, the final count that scripts/run-tests reads).

It also boots the guest: Guest starts QEMU (always TCG, no defaults, no reboot, a hard
timeout) on the image meson built, follows the serial console and knows the markers of
testbed/init; every guest still running when a test ends is killed.

The environment (meson sets it): TESTBED_DIR, where mkimage wrote the image; TESTBED_SKIP,
why there is no image (then every test skips); TESTBED_MKIMAGE and TESTBED_MKPAYLOAD, the
scripts; TESTBED_PROBE, a dynamically linked test program.
Usage: test-*.py [NAME-OR-GLOB...]"""
import gzip
import os
import re
import shutil
import subprocess
import sys
import threading
import time

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTBED_DIR = os.environ.get("TESTBED_DIR", "")
TESTBED_SKIP = os.environ.get("TESTBED_SKIP", "")
MKIMAGE = os.environ.get("TESTBED_MKIMAGE", os.path.join(SOURCE_DIR, "mkimage"))
MKPAYLOAD = os.environ.get("TESTBED_MKPAYLOAD", os.path.join(SOURCE_DIR, "mkpayload"))
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
TIMEOUT = 30  # seconds any one host command may take
BOOT_TIMEOUT = 90  # seconds a guest may live, boot included, before it is killed
APPEND = "console=ttyS0 panic=-1 quiet"  # what ghostctl's testbed template passes

from cli_harness import EnvironmentBroken, Skip, test  # noqa: F401
from cli_harness import main as _main


def run(*args, timeout=TIMEOUT, env=None, cwd=None):
    """Runs a command to completion; returns (status, stdout text, stderr text)."""
    p = subprocess.run(list(args), capture_output=True, timeout=timeout, env=env, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    return (p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def assert_usage_error(args, line, tool):
    """The script exits 2 with exactly `line` and the Try line on stderr, nothing on stdout."""
    status, out, err = run(*args)
    assert status == 2, "%r: status %d, stderr %r" % (args, status, err)
    assert out == "", "%r: stdout %r" % (args, out)
    assert err.splitlines() == [line, "Try 'testbed/%s --help'." % tool], \
        "%r: stderr %r, expected %r" % (args, err, line)


def read_newc(path):
    """The entries of a gzip'd newc cpio file, concatenated archives and gzip members
    included, in order: a list of (name, mode, rdev (major, minor), data bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    entries, pos = [], 0
    while pos < len(raw):
        if raw[pos] == 0:  # padding between archives
            pos += 1
            continue
        assert raw[pos:pos + 6] == b"070701", "%s: bad newc magic at %d" % (path, pos)
        fields = [int(raw[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = raw[pos + 110:pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        data = raw[pos:pos + size]
        pos = (pos + size + 3) & ~3
        if name != "TRAILER!!!":
            entries.append((name, mode, (fields[9], fields[10]), data))
    return entries


def need_image():
    """The image meson built, or a Skip that says why there is none."""
    if TESTBED_SKIP:
        raise Skip(TESTBED_SKIP)
    if not TESTBED_DIR or not os.path.isfile(os.path.join(TESTBED_DIR, "initramfs.cpio.gz")):
        raise EnvironmentBroken("no image in TESTBED_DIR=%r (run meson compile)" % TESTBED_DIR)
    if not shutil.which(QEMU):
        raise Skip("%s not found (apt-get install qemu-system-x86)" % QEMU)


def image(name):
    return os.path.join(TESTBED_DIR, name)


def fast_kernel():
    """The PVH ELF kernel when mkimage could extract one (boots about 3 s sooner under TCG),
    else the bzImage."""
    vmlinux = image("vmlinux")
    return vmlinux if os.path.isfile(vmlinux) else image("vmlinuz")


def payload(tmpdir, program, *files, name="payload.cpio.gz"):
    """mkpayload PROGRAM FILES, then the boot archive: the image's initramfs followed by it."""
    out = os.path.join(tmpdir, name)
    status, _, err = run(MKPAYLOAD, out, program, *files)
    assert status == 0, "mkpayload failed (%d): %s" % (status, err)
    boot = os.path.join(tmpdir, "boot-" + name)
    with open(boot, "wb") as dst:
        for part in (image("initramfs.cpio.gz"), out):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, dst)
    return boot


def pack(root, *names):
    """A gzip'd newc cpio of `names` (relative to `root`) and all below them."""
    listing = run("find", *names, cwd=root)[1].encode()
    p = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
                       input=listing, capture_output=True, timeout=TIMEOUT, check=True)
    return gzip.compress(p.stdout, mtime=0)


def script(tmpdir, text, name="run.sh"):
    path = os.path.join(tmpdir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, 0o755)
    return path


_guests = []
_helpers = []


def helper(*argv):
    """Starts a host-side helper (virtiofsd, say); it is killed when the test ends."""
    p = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _helpers.append(p)
    return p


BOOTED = re.compile(r"TESTBED-BOOTED uptime_ms=(\d+)")
RESULT = re.compile(r"TESTBED-RESULT (?:rc=(\d+)|(timeout))")


class Guest:
    """One QEMU run of the testbed. The serial console is the QEMU's stdio: output() is all
    of it so far, with \\r dropped; write() types on it."""

    def __init__(self, initrd, kernel=None, append="", machine="q35", args=(),
                 timeout=BOOT_TIMEOUT, interactive=False):
        self.argv = [QEMU, "-accel", "tcg", "-machine", machine, "-cpu", "max", "-smp", "1",
                     "-m", "256", "-nodefaults", "-no-user-config", "-display", "none",
                     "-serial", "stdio", "-no-reboot",
                     "-kernel", kernel or fast_kernel(), "-initrd", initrd,
                     "-append", (APPEND + " " + append).strip(), *args]
        self.deadline = time.monotonic() + timeout
        self.started = time.monotonic()
        self.booted_s = None  # host seconds from start to TESTBED-BOOTED
        self._buf = ""
        self._cond = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _guests.append(self)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._buf += chunk.decode(errors="replace").replace("\r", "")
                if self.booted_s is None and BOOTED.search(self._buf):
                    self.booted_s = time.monotonic() - self.started
                self._cond.notify_all()

    def output(self):
        with self._cond:
            return self._buf

    def wait_for(self, pattern, start=0):
        """Waits until the console output from offset `start` matches `pattern` (a regex);
        returns the match. Fails when QEMU exits or the guest's time is up first."""
        rx = re.compile(pattern)
        with self._cond:
            while True:
                m = rx.search(self._buf, start)
                if m:
                    return m
                left = self.deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = "QEMU exited" if self._eof else "timed out"
                    raise AssertionError("%s waiting for %r; console:\n%s%s"
                                         % (why, pattern, self._buf[-3000:], self._stderr()))
                self._cond.wait(min(left, 1.0))

    def write(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def finish(self):
        """Waits for QEMU to exit (the guest powers itself off); returns the console output.
        On the deadline the guest is killed and the test fails."""
        try:
            self.proc.wait(max(0.1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("guest did not power off in time; console:\n%s"
                                 % self.output()[-3000:])
        self._reader.join(5)
        return self.output()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def _stderr(self):
        if self.proc.poll() is None:
            return ""
        return "\nQEMU stderr: " + self.proc.stderr.read().decode(errors="replace")

    def result(self):
        """After finish(): the program's status (int), "timeout", or an AssertionError
        that quotes the console when there is no result marker."""
        out = self.output()
        m = RESULT.search(out)
        if not m:
            # Say first what the guest said: its own error, or the kernel's panic.
            why = re.search(r"TESTBED-ERROR .*|Kernel panic - not syncing: .*", out)
            raise AssertionError("no TESTBED-RESULT (%s; QEMU status %s); console:\n%s%s"
                                 % (why.group(0) if why else "no error either",
                                    self.proc.returncode, out[-3000:], self._stderr()))
        return "timeout" if m.group(2) else int(m.group(1))

    def uptime_ms(self):
        m = BOOTED.search(self.output())
        return int(m.group(1)) if m else None

    def timing(self):
        """One line on how long the boot took, for the log."""
        return "boot-to-marker: host %.2f s, guest uptime %.2f s (%s)" % (
            self.booted_s or -1, (self.uptime_ms() or -1) / 1000.0,
            os.path.basename(self.argv[self.argv.index("-kernel") + 1]))


def _end_guests():
    for g in _guests:
        g.kill()
        for f in (g.proc.stdin, g.proc.stderr):
            if f:
                f.close()
        g._reader.join(5)
        g.proc.stdout.close()
    _guests.clear()
    for p in _helpers:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stderr.close()
    _helpers.clear()


def main():
    return _main(require_tool=False, cleanup=_end_guests)
