#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The testbed guest booted under QEMU TCG, as the kernel and system tests use it: a payload
(a shell script, and a dynamically linked C program) runs and its status comes back in the
result marker; 9p and virtiofs shares are mounted, read and written; a TCP listener in the guest is
reached through a user-net hostfwd; a program that runs too long is killed and reported;
without a program a shell reads the console; a missing module and a kernel oops end the run
with a clear line instead of a hang. Each boot prints how long it took to the marker."""
import os
import re
import secrets
import shutil
import socket
import tempfile
import time

from testbed_harness import (Guest, Skip, helper, image, main, need_image, pack, payload, script,
                             test)

PROBE = os.environ.get("TESTBED_PROBE", "")
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"


def release():
    with open(image("kernel-release")) as f:
        return f.read().strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@test
def script_payload_on_pc_with_e1000():
    """The bzImage, as `ghostctl vm` boots it, on the pc machine with an e1000 NIC."""
    need_image()
    with tempfile.TemporaryDirectory() as tmp:
        run = script(tmp, """
echo "script: release=$(uname -r)"
echo "script: hostname=$(hostname)"
for m in "proc /proc" "sysfs /sys" "devtmpfs /dev" "devpts /dev/pts" "tmpfs /tmp" "tmpfs /run"; do
	set -- $m
	grep -q "^[^ ]* $2 $1 " /proc/mounts || echo "script: FAIL no $1 at $2"
done
echo "script: driver=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
echo "script: addr=$(ip -4 -o addr show eth0 | awk '{print $4}')"
echo "script: data=$(cat /testbed/data.txt)"
exit 3
""")
        data = os.path.join(tmp, "data.txt")
        with open(data, "w") as f:
            f.write("forty-two\n")
        g = Guest(payload(tmp, run, data), kernel=image("vmlinuz"), machine="pc",
                  args=["-netdev", "user,id=n0", "-device", "e1000,netdev=n0"])
        out = g.finish()
        print(g.timing())
        assert g.result() == 3, out
        for line in ["script: release=" + release(), "script: hostname=testbed",
                     "script: driver=e1000", "script: addr=10.0.2.15/24",
                     "script: data=forty-two"]:
            assert line + "\n" in out, "%r missing:\n%s" % (line, out)
        assert "FAIL" not in out, out
        # The markers come in order: booted, the program's output, the result.
        assert out.index("TESTBED-BOOTED") < out.index("script: release") < \
            out.index("TESTBED-RESULT rc=3"), out


@test
def c_program_payload():
    """A dynamically linked C program: mkpayload brings its loader and libc along."""
    need_image()
    assert PROBE and os.access(PROBE, os.X_OK), "TESTBED_PROBE=%r is not a program" % PROBE
    with tempfile.TemporaryDirectory() as tmp:
        g = Guest(payload(tmp, PROBE), args=["-device", "virtio-rng-pci"])
        out = g.finish()
        print(g.timing())
        assert g.result() == 3, out
        assert "probe: release=%s\n" % release() in out, out
        assert "probe: mounts ok\n" in out, out
        assert re.search(r"TESTBED-BOOTED uptime_ms=\d+\n", out), out


@test
def share_9p():
    need_image()
    with tempfile.TemporaryDirectory() as tmp:
        share = os.path.join(tmp, "share")
        os.mkdir(share)
        token = secrets.token_hex(8)
        with open(os.path.join(share, "token"), "w") as f:
            f.write(token + "\n")
        run = script(tmp, """
grep -q ' /mnt/share 9p ' /proc/mounts || { echo "script: FAIL share not mounted"; exit 1; }
echo "script: token=$(cat /mnt/share/token)"
echo "from-guest $(uname -r)" > /mnt/share/back
""")
        g = Guest(payload(tmp, run), args=[
            "-virtfs", "local,path=%s,mount_tag=share,security_model=none" % share])
        out = g.finish()
        print(g.timing())
        assert g.result() == 0, out
        assert "script: token=%s\n" % token in out, out
        with open(os.path.join(share, "back")) as f:
            assert f.read() == "from-guest %s\n" % release()


@test
def share_virtiofs():
    """A virtiofs share named on the kernel command line (testbed.virtiofs=TAG)."""
    need_image()
    virtiofsd = VIRTIOFSD if os.access(VIRTIOFSD, os.X_OK) else shutil.which("virtiofsd")
    if not virtiofsd:
        raise Skip("no virtiofsd (QEMU 7.2 ships /usr/lib/qemu/virtiofsd)")
    if os.geteuid() != 0:
        raise Skip("virtiofsd needs root")
    with tempfile.TemporaryDirectory() as tmp:
        share = os.path.join(tmp, "share")
        os.mkdir(share)
        token = secrets.token_hex(8)
        with open(os.path.join(share, "token"), "w") as f:
            f.write(token + "\n")
        sock = os.path.join(tmp, "vfs.sock")
        d = helper(virtiofsd, "--socket-path=" + sock, "-o", "source=" + share, "-o",
                   "cache=none", "-o", "sandbox=chroot")
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            assert d.poll() is None, "virtiofsd exited: %s" % d.stderr.read().decode()
            assert time.monotonic() < deadline, "virtiofsd made no socket"
            time.sleep(0.05)
        run = script(tmp, """
grep -q '^vfs /mnt/vfs virtiofs ' /proc/mounts || { echo "script: FAIL vfs not mounted"; exit 1; }
echo "script: token=$(cat /mnt/vfs/token)"
echo from-guest > /mnt/vfs/back
""")
        # vhost-user needs the guest's memory shared with virtiofsd.
        g = Guest(payload(tmp, run), append="testbed.virtiofs=vfs", args=[
            "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
            "-numa", "node,memdev=mem",
            "-chardev", "socket,id=vfs,path=" + sock,
            "-device", "vhost-user-fs-pci,chardev=vfs,tag=vfs"])
        out = g.finish()
        print(g.timing())
        assert g.result() == 0, out
        assert "script: token=%s\n" % token in out, out
        with open(os.path.join(share, "back")) as f:
            assert f.read() == "from-guest\n"


@test
def hostfwd_tcp():
    """The host reaches `nc -l` in the guest through QEMU user-net's port forward."""
    need_image()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        run = script(tmp, """
echo pong | nc -l -p 7777 >/tmp/got &
nc=$!
# Say so only once the socket listens: slirp accepts the host's connection either way,
# and drops it if the guest refuses.
i=0
until netstat -ltn | grep -q ':7777 '; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "script: FAIL nc does not listen"; exit 1; }
	sleep 0.1
done
echo "script: listening"
wait $nc
echo "script: got=$(cat /tmp/got)"
""")
        g = Guest(payload(tmp, run), args=[
            "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:7777" % port,
            "-device", "virtio-net-pci,netdev=n0"])
        g.wait_for(r"script: listening\n")
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"ping\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(100)
                assert chunk, "connection closed after %r" % reply
                reply += chunk
            assert reply == b"pong\n", reply
            s.shutdown(socket.SHUT_WR)
        out = g.finish()
        print(g.timing())
        assert g.result() == 0, out
        assert "script: got=ping\n" in out, out


@test
def timeout_kills_program():
    need_image()
    with tempfile.TemporaryDirectory() as tmp:
        run = script(tmp, """
sleep 600 &
echo "script: started"
sleep 600
""")
        start = time.monotonic()
        g = Guest(payload(tmp, run), append="testbed.timeout=2")
        out = g.finish()
        print(g.timing())
        assert g.result() == "timeout", out
        assert "script: started\n" in out, out
        # Killed after 2 s, not 600: the whole boot stays well under a minute.
        assert time.monotonic() - start < 60, out


@test
def shell_without_program():
    need_image()
    g = Guest(image("initramfs.cpio.gz"), interactive=True)
    m = g.wait_for(r"TESTBED-READY\n")
    # The prompt: from here on, what is typed reaches the shell.
    m = g.wait_for(r"/ # ", m.end())
    # modprobe works too, on the image's own modules.dep.
    g.write("rmmod e1000 && modprobe e1000 && grep -c '^e1000 ' /proc/modules && "
            "echo answer=$((6 * 7)); exit\n")
    g.wait_for(r"\n1\nanswer=42\n", m.end())
    out = g.finish()
    print(g.timing())
    assert "TESTBED-RESULT" not in out, out


@test
def missing_module_is_an_error():
    """An image whose module list names a file it lacks: a clear line and a power-off."""
    need_image()
    with tempfile.TemporaryDirectory() as tmp:
        etc = os.path.join(tmp, "etc")
        os.makedirs(os.path.join(etc, "testbed"))
        # A payload may replace any file of the image, /etc/testbed/modules included.
        with open(os.path.join(etc, "testbed", "modules"), "w") as f:
            f.write("/lib/modules/%s/kernel/nosuch.ko\n" % release())
        boot = payload(tmp, script(tmp, "exit 0\n"))
        # mkpayload puts FILEs under /testbed/, so pack /etc/testbed/modules by hand.
        with open(boot, "ab") as dst:
            dst.write(pack(tmp, "etc"))
        g = Guest(boot)
        out = g.finish()
        assert "TESTBED-ERROR module nosuch: missing: /lib/modules/%s/kernel/nosuch.ko is not " \
            "in the image\n" % release() in out, out
        assert "TESTBED-BOOTED" not in out and "TESTBED-RESULT" not in out, out


@test
def oops_powers_off():
    """A kernel oops (as a module under test may cause) ends the run at once: panic_on_oops
    and panic=-1 make it a reboot, which -no-reboot turns into QEMU's exit."""
    need_image()
    with tempfile.TemporaryDirectory() as tmp:
        run = script(tmp, "echo script: crashing\necho c >/proc/sysrq-trigger\nsleep 600\n")
        g = Guest(payload(tmp, run))
        out = g.finish()
        assert "script: crashing\n" in out, out
        assert "TESTBED-RESULT" not in out, out
        try:
            g.result()
            raise AssertionError("a result after an oops")
        except AssertionError as e:
            assert "(Kernel panic - not syncing: sysrq triggered crash;" in str(e), e


if __name__ == "__main__":
    raise SystemExit(main())
