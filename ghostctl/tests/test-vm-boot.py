#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`ghostctl vm` booting real guests: the testbed image under TCG (docs/testbed.md).

A payload run in the foreground (its output on ghostctl's stdout, its markers, the exit); a
detached guest reached every way the issue asks: QMP query-status, a 9p shared folder read
from the guest, the SSH port forward reaching a listener in the guest, a snapshot created and
reverted on a qcow2 disk while it runs, and a graceful stop. Each test has its own HOME, XDG
directories and config, so nothing outside its temporary directory is touched."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import cli_harness
from cli_harness import Skip, main, test, wait_for

TESTBED_DIR = os.environ.get("TESTBED_DIR", "")
TESTBED_SKIP = os.environ.get("TESTBED_SKIP", "")
MKPAYLOAD = os.environ.get("TESTBED_MKPAYLOAD", "")
BOOT_TIMEOUT = 120

_dirs = []
_envs = []


def sandbox():
    if TESTBED_SKIP:
        raise Skip("no testbed image: " + TESTBED_SKIP)
    if not shutil.which("qemu-system-x86_64"):
        raise Skip("qemu-system-x86_64 is not installed")
    d = tempfile.mkdtemp(prefix="gc-vm-")
    _dirs.append(d)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHOSTCTL_", "XDG_"))}
    env.update(HOME=d + "/home", GHOSTCTL_SYSCONFDIR=d + "/etc", XDG_DATA_HOME=d + "/data",
               XDG_RUNTIME_DIR=d + "/run", GHOSTCTL_TESTBED_DIR=TESTBED_DIR,
               GHOSTCTL_VM_ACCEL="tcg", NO_COLOR="1")
    for sub in ("home", "etc", "run"):
        os.makedirs(d + "/" + sub, mode=0o700)
    _envs.append(env)
    return d, env


def gc(env, *args, timeout=60):
    status, out, err = cli_harness.run(*args, env=env, timeout=timeout)
    return status, out.decode(errors="replace"), err


def ok(env, *args, timeout=60):
    status, out, err = gc(env, *args, timeout=timeout)
    assert status == 0, "ghostctl %s: status %d: %s" % (" ".join(args), status, err)
    return out


def serial_log(d, name):
    try:
        with open("%s/run/ghostctl/%s/serial.log" % (d, name), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_serial(d, name, text, timeout=BOOT_TIMEOUT):
    try:
        return wait_for("'%s' on the console of %s" % (text, name),
                        lambda: text in serial_log(d, name), timeout)
    except AssertionError as e:
        raise AssertionError("%s; the console ends with: %r" % (e, serial_log(d, name)[-600:]))


class Console:
    """A client of the guest's serial socket. It reads all the time, as every client must:
    QEMU's UART writes a byte at a time, and a client that never reads fills the socket and
    stalls the guest's console (its output to serial.log included)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass

    def sendall(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.reader.join(5)


@test
def foreground_payload_prints_and_exits():
    d, env = sandbox()
    prog = d + "/run.sh"
    with open(prog, "w") as f:
        # Chatty: ghostctl must keep reading the serial socket or the UART stalls.
        f.write("#!/bin/sh\ni=0\nwhile [ $i -lt 3000 ]; do echo chatty-$i; i=$((i+1)); done\n"
                "echo hello-from-guest $(uname -r)\nexit 3\n")
    os.chmod(prog, 0o755)
    subprocess.run([MKPAYLOAD, d + "/payload.cpio.gz", prog], check=True, capture_output=True)
    with open(d + "/boot.cpio.gz", "wb") as out:
        for part in (TESTBED_DIR + "/initramfs.cpio.gz", d + "/payload.cpio.gz"):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out)
    ok(env, "vm", "create", "fg", "--template", "testbed", "--initrd", d + "/boot.cpio.gz",
       "--append", "console=ttyS0 panic=-1 quiet testbed.timeout=60", "--net", "none")
    t0 = time.monotonic()
    status, out, err = gc(env, "vm", "start", "fg", timeout=BOOT_TIMEOUT)
    took = time.monotonic() - t0
    assert status == 0, (status, err)
    assert "chatty-2999" in out and "hello-from-guest" in out, out[-2000:]
    assert "TESTBED-RESULT rc=3" in out, out
    print("# foreground boot to power-off: %.1f s" % took)
    # It is gone: status says stopped, and a second start is possible.
    assert ok(env, "vm", "status", "fg").strip() == "fg: stopped"


@test
def detached_guest_qmp_9p_ssh_snapshot_stop():
    d, env = sandbox()
    share = d + "/share"
    os.makedirs(share)
    with open(share + "/hello.txt", "w") as f:
        f.write("shared-from-host-%d\n" % os.getpid())
    ok(env, "vm", "create", "tb", "--template", "testbed", "--share", share + ",tag=hostdir",
       "--disk", "32M")
    started = json.loads(ok(env, "vm", "start", "tb", "--detach", "--json"))
    assert started["accel"] == "tcg" and started["ssh_port"] > 0, started
    t0 = time.monotonic()
    wait_serial(d, "tb", "TESTBED-READY")
    print("# detached boot to the shell: %.1f s" % (time.monotonic() - t0))

    st = json.loads(ok(env, "vm", "status", "tb", "--json"))
    assert st["state"] == "running" and st["pid"] == started["pid"], st
    usage = gc(env, "vm", "start", "tb")
    assert usage[0] == 1 and "running already" in usage[2], usage

    console = Console("%s/run/ghostctl/tb/serial.sock" % d)
    console.sendall(b"cat /mnt/hostdir/hello.txt\n")
    wait_serial(d, "tb", "shared-from-host-%d" % os.getpid(), 30)

    # The SSH forward reaches whatever listens on the guest's port 22.
    console.sendall(b"(echo pong-from-guest | nc -l -p 22) &\n")

    def ping():
        try:
            with socket.create_connection(("127.0.0.1", started["ssh_port"]), 2) as s:
                return s.recv(64)
        except OSError:
            return None
    data = wait_for("the forwarded port", lambda: ping() or None, 30)
    assert b"pong-from-guest" in data, data

    # QEMU cannot save a guest that has a 9p folder mounted: its own words come through.
    status, _, err = gc(env, "vm", "snapshot", "create", "tb", "s0", timeout=120)
    assert status == 1 and "Migration is disabled when VirtFS export path" in err, err
    # The console echoes what is typed: wait for what only the command prints.
    console.sendall(b"umount /mnt/hostdir && echo unmounted-$((40+2))\n")
    wait_serial(d, "tb", "unmounted-42", 30)

    # A snapshot of the running guest, then back to it.
    ok(env, "vm", "snapshot", "create", "tb", "s1", timeout=120)
    snaps = json.loads(ok(env, "vm", "snapshot", "list", "tb", "--json"))
    assert [s["name"] for s in snaps] == ["s1"] and snaps[0]["vm_state_size"] > 0, snaps
    console.sendall(b"echo after-$((40+3))\n")
    wait_serial(d, "tb", "after-43", 30)
    ok(env, "vm", "snapshot", "revert", "tb", "s1", timeout=120)
    assert json.loads(ok(env, "vm", "status", "tb", "--json"))["state"] == "running"
    ok(env, "vm", "snapshot", "delete", "tb", "s1", timeout=120)
    assert json.loads(ok(env, "vm", "snapshot", "list", "tb", "--json")) == []
    console.close()

    # A graceful stop: the guest hears the power button and powers off.
    out = ok(env, "vm", "stop", "tb", "--timeout", "30")
    assert out.strip() == "Stopped 'tb'.", out
    assert "TESTBED-POWEROFF" in serial_log(d, "tb"), serial_log(d, "tb")[-500:]
    assert ok(env, "vm", "status", "tb").strip() == "tb: stopped"

    # Stopped: snapshots go through qemu-img, disk by disk.
    ok(env, "vm", "snapshot", "create", "tb", "cold")
    assert [s["name"] for s in json.loads(ok(env, "vm", "snapshot", "list", "tb", "--json"))] \
        == ["cold"]
    ok(env, "vm", "snapshot", "revert", "tb", "cold")


def cleanup():
    for env in _envs:
        for name in ("tb", "fg"):
            subprocess.run([cli_harness.TOOL, "vm", "stop", name, "--force"], env=env,
                           capture_output=True, timeout=30)
    _envs.clear()
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)
    _dirs.clear()


if __name__ == "__main__":
    sys.exit(main(cleanup=cleanup))
