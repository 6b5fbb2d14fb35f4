#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz-qmp: what QEMU 7.2 sends a QMP client (greetings, replies
of the commands ghostctl runs, events, jobs) and what a hostile or broken QEMU could send
instead. Each input is a settings byte and a chunk size (see fuzz-qmp.c), then the stream.
The harness sends a command whenever none is awaited, so replies answer "gc-1", "gc-2", ...
in order. And the seeds of fuzz-env-ids (corpus/env-ids): PCI addresses and USB ids as users
type them, good, odd and malformed, and the version lines of /proc/driver/nvidia/version and
`qemu --version`. And the seeds of fuzz-vm-profile (corpus/vm-profile): profiles as ghostctl
writes them and as people edit them. And the seeds of fuzz-egpu (corpus/egpu): LINK and
FAULT arguments, struct anarchy_link_info and struct anarchy_event as the module reports
them, with hostile names and counts. Usage: gen-corpus.py [DIR]"""
import json
import os
import struct
import sys

LINE_MAX = 15  # settings bits 0-3: GC_QMP_LINE_MAX
LATE = 0x10  # every other command times out before its reply
KEEP_EVENTS = 0x20  # events stay queued until the queue overflows
WHOLE_CHUNKS = 0x40  # chunks are fed whole, several lines at once
LINES = 0  # chunk size 0: one line at a time

GREETING = {"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7},
                                "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"},
                    "capabilities": ["oob"]}}


def line(obj):
    return (json.dumps(obj) + "\r\n").encode()


def ret(n, value):
    return line({"return": value, "id": "gc-%d" % n})


def err(n, cls, desc):
    return line({"error": {"class": cls, "desc": desc}, "id": "gc-%d" % n})


def event(name, data=None, sec=1795452841):
    e = {"timestamp": {"seconds": sec, "microseconds": 160411}, "event": name}
    if data is not None:
        e["data"] = data
    return line(e)


def fuzz_input(stream, settings=LINE_MAX, chunk=LINES):
    return bytes([settings, chunk]) + stream


STATS = {"unmap_operations": 0, "flush_total_time_ns": 0, "wr_highest_offset": 0,
         "wr_total_time_ns": 10, "failed_wr_operations": 0, "wr_bytes": 4096, "timed_stats": [],
         "account_invalid": True, "rd_total_time_ns": 5, "flush_operations": 1,
         "wr_operations": 1, "rd_bytes": 512, "rd_operations": 1, "account_failed": True}
BLOCKSTATS = [{"device": "d0", "parent": {"stats": STATS, "node-name": "#block007"},
               "stats": STATS, "node-name": "disk0",
               "qdev": "/machine/peripheral-anon/device[0]/virtio-backend"},
              {"node-name": "fmt1", "stats": STATS}]
CPUS = [{"thread-id": 1520 + i, "props": {"core-id": i, "thread-id": 0, "socket-id": 0},
         "qom-path": "/machine/unattached/device[%d]" % i, "cpu-index": i, "target": "x86_64"}
        for i in range(4)]
SNAPSHOT = {"vm-clock-nsec": 0, "name": "snap1", "date-sec": 1795452841, "date-nsec": 161166000,
            "vm-clock-sec": 0, "id": "1", "vm-state-size": 951498}
NODES = [{"node-name": "disk0", "drv": "qcow2", "file": "d.qcow2",
          "image": {"snapshots": [SNAPSHOT, dict(SNAPSHOT, id="2", name="snap2")],
                    "virtual-size": 16777216, "filename": "d.qcow2", "format": "qcow2"}},
         {"node-name": "#block007", "drv": "file", "image": {"virtual-size": 1507328}}]
INFO_NETWORK = ("nic0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\r\n"
                " \\ n0: index=0,type=tap,ifname=gctap0,script=no,downscript=no\r\n"
                "e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:57\r\n"
                " \\ n1: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
                "n2: index=0,type=socket,\r\nhub 0\r\n \\ hub0port0: index=0,type=hubport,\r\n")


def session():
    """The conversation of `ghostctl vm status --watch` and a snapshot, as QEMU 7.2 has it."""
    s = line(GREETING) + ret(1, {})
    s += ret(2, {"status": "running", "singlestep": False, "running": True})
    s += ret(3, CPUS)
    s += ret(4, {"base-memory": 134217728, "plugged-memory": 0})
    s += err(5, "DeviceNotActive", "No balloon device has been activated")
    s += ret(6, BLOCKSTATS)
    s += ret(7, INFO_NETWORK)
    s += event("JOB_STATUS_CHANGE", {"status": "created", "id": "gc-1-1"})
    s += event("JOB_STATUS_CHANGE", {"status": "running", "id": "gc-1-1"})
    s += ret(8, {})
    s += ret(9, [{"current-progress": 0, "status": "running", "total-progress": 1,
                  "type": "snapshot-save", "id": "gc-1-1"}])
    for st in ("waiting", "pending", "concluded"):
        s += event("JOB_STATUS_CHANGE", {"status": st, "id": "gc-1-1"})
    s += ret(10, [{"current-progress": 1, "status": "concluded", "total-progress": 1,
                   "type": "snapshot-save", "id": "gc-1-1", "error": "Snapshot exists"}])
    s += event("JOB_STATUS_CHANGE", {"status": "null", "id": "gc-1-1"})
    s += ret(11, {})
    s += ret(12, NODES)
    s += event("STOP") + ret(13, {}) + event("RESUME") + ret(14, {})
    s += event("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"}) + ret(15, {})
    return s


def seeds():
    good = session()
    yield "session-lines", fuzz_input(good)
    yield "session-one-byte", fuzz_input(good, chunk=1)
    yield "session-chunks-7", fuzz_input(good, chunk=7)
    yield "session-chunks-200", fuzz_input(good, chunk=200)
    yield "session-late-replies", fuzz_input(good, LINE_MAX | LATE)
    yield "session-whole-chunks", fuzz_input(good, LINE_MAX | WHOLE_CHUNKS, chunk=255)
    yield "greeted-twice", fuzz_input(line(GREETING) * 2 + ret(1, {}) + line(GREETING) + ret(2, {}))
    yield "session-small-lines", fuzz_input(good, 4)  # 1 KiB: the blockstats line is over
    yield "greeting-only", fuzz_input(line(GREETING))
    yield "greeting-newline-only", fuzz_input(line(GREETING).replace(b"\r\n", b"\n") +
                                              b"\n\n   \r\n" + ret(1, 42))
    many = line(GREETING) + b"".join(event("E%d" % i, {"n": i}) for i in range(300))
    yield "event-flood", fuzz_input(many + ret(1, {}), LINE_MAX | KEEP_EVENTS)
    yield "event-flood-taken", fuzz_input(many, LINE_MAX)

    g = line(GREETING)
    yield "error-reply", fuzz_input(g + err(1, "GenericError", "Unknown \u00e9 thing") + ret(2, {}))
    yield "big-integer", fuzz_input(g + b'{"return": {"base-memory": 18446744073709551615}, '
                                        b'"id": "gc-1"}\r\n' + ret(2, {}))
    yield "real-numbers", fuzz_input(g + ret(1, [{"cpu-index": 0.5, "thread-id": 1e30}]))
    yield "negative-numbers", fuzz_input(g + ret(1, [dict(b, stats=dict(STATS, rd_bytes=-1))
                                                     for b in BLOCKSTATS]))
    yield "snapshot-bad-nsec", fuzz_input(g + ret(1, [{"node-name": "disk0", "image": {
        "snapshots": [dict(SNAPSHOT, **{"date-nsec": 2000000000})]}}]))
    yield "snapshot-clock-overflow", fuzz_input(g + ret(1, [{"node-name": "disk0", "image": {
        "snapshots": [dict(SNAPSHOT, **{"vm-clock-sec": 2 ** 63 - 1, "vm-clock-nsec": 999999999})]}}]))
    yield "info-network-odd", fuzz_input(g + ret(1, "x: index=,type=nic,\r\n: index=0,type=nic\r\n"
                                                    " \\ : index=0,type=tap,ifname=../../etc\r\n"
                                                    "a: index=0,type=nic,model\r\n \\ b: index=0,type=tap,"
                                                    "ifname=" + "i" * 40 + "\r\n"))

    hostile = {
        "garbage": b"\x01\x02 definitely not JSON }}}\r\n",
        "not-object": b"[1, 2, 3]\r\n",
        "no-id": b'{"return": {}}\r\n',
        "wrong-id": b'{"return": {}, "id": "gc-77"}\r\n',
        "numeric-id": b'{"return": {}, "id": 1}\r\n',
        "both": b'{"return": {}, "error": {"class": "a", "desc": "b"}, "id": "gc-1"}\r\n',
        "error-no-desc": b'{"error": {"class": "a"}, "id": "gc-1"}\r\n',
        "duplicate-key": b'{"return": {}, "return": 1, "id": "gc-1"}\r\n',
        "invalid-utf8": b'{"return": "\xff\xfe\xc0\xaf", "id": "gc-1"}\r\n',
        "nul-escape": b'{"return": "a\\u0000b", "id": "gc-1"}\r\n',
        "raw-nul": b'{"return": {}, "id": "gc-1"}\x00\r\n',
        "nesting-bomb": b'{"return": ' + b"[" * 5000 + b', "id": "gc-1"}\r\n',
        "nesting-2047": b'{"return": ' + b"[" * 2046 + b"]" * 2046 + b', "id": "gc-1"}\r\n',
        "event-not-string": b'{"event": 5}\r\n',
        "event-data-array": b'{"event": "STOP", "data": []}\r\n',
        "second-greeting": line(GREETING),
        "trailing-junk": b'{"return": {}, "id": "gc-1"} {}\r\n',
        "huge-exponent": b'{"return": 1e999, "id": "gc-1"}\r\n',
    }
    for name, text in hostile.items():
        yield "hostile-" + name, fuzz_input(g + text + ret(2, {}))
    yield "before-greeting", fuzz_input(ret(1, {}) + g)
    yield "bad-greeting", fuzz_input(b'{"QMP": {"version": {"qemu": {"major": 7}}}}\r\n')
    long_line = g + b'{"return": "' + b"x" * 5000 + b'", "id": "gc-1"}\r\n' + ret(2, {})
    yield "long-line-allowed", fuzz_input(long_line, 7)  # 8 KiB limit
    yield "long-line-refused", fuzz_input(long_line, 5)  # 2 KiB limit
    yield "no-newline", fuzz_input(g + b"y" * 3000, 4, chunk=64)
    yield "recover-after-error", fuzz_input(g + b"garbage\r\n" + g + ret(1, CPUS))


def env_ids_seeds():
    pci = ["01:00.0", "0000:01:00.0", "0000:01:00.1", "0000:AF:1F.7", "10000:e1:00.0",
           "ffffffff:ff:1f.7", "00000001:02:03.4", "1:00.0", "01:00.8", "01:20.0", "01:00",
           "0000::01:00.0", "0000:01:00.0 ", "0000:01:00.0\n", "0000:01:00.0,x", "g0:00.0",
           "123456789:01:00.0", "0x00:01:00.0", ""]
    usb = ["046d:c52b", "FFFF:0000", "046d", "046d:c52", "046d:c52bb", "046dc52b", " 046d:c52b",
           "046d::c52b", "+46d:c52b", "046d:c52b\n"]
    text = [
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC "
        "2023\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  "
        "(dvs-builder@U16-I3-B03-4-3)  Tue Mar  5 22:25:03 UTC 2024\n",
        "NVRM version: 1. .2 3..4",
        "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
        "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n",
        "QEMU emulator version x", "version 7", "gtk", "none", "vnc", "spice", "sdl", "opengl",
    ]
    for i, s in enumerate(pci):
        yield "pci-%02d" % i, s.encode()
    for i, s in enumerate(usb):
        yield "usb-%02d" % i, s.encode()
    for i, s in enumerate(text):
        yield "text-%02d" % i, s.encode()


# Profiles as `ghostctl vm create` writes them (every template, every option), then hand
# edits: comments, odd spacing, repeated lists, and what a profile must refuse.
PROFILES = {'server': "# ghostctl VM profile 'server'. 'ghostctl vm edit' changes it; so may you.\n\n[vm]\ndescription = Headless server\ntemplate = server\nmachine = q35\n\n[cpu]\nmodel = host\nsockets = 1\ncores = 2\nthreads = 1\n\n[memory]\nsize = 4G\nhugepages = no\n\n[storage]\ndisk = path=disk0.qcow2,size=32G,bus=virtio,format=qcow2\n\n[boot]\nreboot = yes\n\n[network]\nmode = user\nmodel = virtio-net-pci\nssh_port = auto\nguest_ssh_port = 22\n\n[display]\ntype = none\ngl = no\nclipboard = no\n", 'every': "# ghostctl VM profile 'every'. 'ghostctl vm edit' changes it; so may you.\n\n[vm]\ndescription = Development machine\ntemplate = dev\nmachine = pc\n\n[cpu]\nmodel = EPYC\nsockets = 2\ncores = 4\nthreads = 2\npin = 0-3,8\n\n[memory]\nsize = 8G\nhugepages = yes\n\n[storage]\ndisk = path=disk0.qcow2,size=64G,bus=virtio,format=qcow2\ndisk = path=/srv/a,,b.img,bus=virtio,format=raw,readonly=yes\ndisk = path=disk2.qcow2,size=8G,bus=nvme,format=qcow2\ndisk = path=disk3.qcow2,size=1G,bus=sata,format=qcow2\ndisk = path=disk4.qcow2,size=1G,bus=ide,format=qcow2\niso = /srv/x.iso\n\n[boot]\nreboot = no\n\n[network]\nmode = tap\nmodel = virtio-net-pci\nbridge = br0\ntap = tap0\nssh_port = 2222\nguest_ssh_port = 22\n\n[display]\ntype = spice\ngl = yes\nclipboard = yes\n\n[share]\nfolder = path=/srv/s,,x,tag=s,type=9p,readonly=yes\nfolder = path=/srv/v,tag=v,type=virtiofs\n\n[passthrough]\npci = 0000:01:00.0\nusb = 046d:c52b\n", 'dev': "# ghostctl VM profile 'dev'. 'ghostctl vm edit' changes it; so may you.\n\n[vm]\ndescription = Development machine\ntemplate = dev\nmachine = q35\n\n[cpu]\nmodel = host\nsockets = 1\ncores = 4\nthreads = 1\n\n[memory]\nsize = 8G\nhugepages = no\n\n[storage]\ndisk = path=disk0.qcow2,size=64G,bus=virtio,format=qcow2\n\n[boot]\nreboot = yes\n\n[network]\nmode = user\nmodel = virtio-net-pci\nssh_port = auto\nguest_ssh_port = 22\n\n[display]\ntype = auto\ngl = no\nclipboard = yes\n", 'gaming': "# ghostctl VM profile 'gaming'. 'ghostctl vm edit' changes it; so may you.\n\n[vm]\ndescription = Gaming desktop\ntemplate = gaming\nmachine = q35\n\n[cpu]\nmodel = host\nsockets = 1\ncores = 4\nthreads = 2\n\n[memory]\nsize = 16G\nhugepages = yes\n\n[storage]\ndisk = path=disk0.qcow2,size=128G,bus=nvme,format=qcow2\n\n[boot]\nreboot = yes\n\n[network]\nmode = user\nmodel = virtio-net-pci\nssh_port = auto\nguest_ssh_port = 22\n\n[display]\ntype = auto\ngl = yes\nclipboard = yes\n", 'testbed': "# ghostctl VM profile 'testbed'. 'ghostctl vm edit' changes it; so may you.\n\n[vm]\ndescription = Testbed guest for kernel and system tests\ntemplate = testbed\nmachine = q35\n\n[cpu]\nmodel = max\nsockets = 1\ncores = 1\nthreads = 1\n\n[memory]\nsize = 256M\nhugepages = no\n\n[boot]\nkernel = /tmp/gcw/ghostctl/testbed/vmlinux\ninitrd = /tmp/gcw/ghostctl/testbed/initramfs.cpio.gz\nappend = console=ttyS0 panic=-1 quiet\nreboot = no\n\n[network]\nmode = user\nmodel = virtio-net-pci\nssh_port = auto\nguest_ssh_port = 22\n\n[display]\ntype = none\ngl = no\nclipboard = no\n"}

PROFILE_EDITS = [
    "; a comment\n[cpu]\n  cores   =   4  \n[storage]\ndisk = 8G\n",
    "[storage]\ndisk = path=a,,b.qcow2,size=1G\ndisk = none\ndisk = 2G\n",
    "[boot]\nkernel = /k\ninitrd = /i,x\n",
    "[cpu]\nsockets = 512\ncores = 512\n[storage]\ndisk = 1G\n",
    "[share]\nfolder = path=/a,tag=x\nfolder = path=/b,tag=x\n[storage]\ndisk = 1G\n",
    "[passthrough]\npci = 0000:ff:1f.7\nusb = ffff:0000\n[storage]\ndisk = 1G\n",
    "[vm]\ndescription = \xc3\xa9t\xc3\xa9 ; # = , ,,\n[storage]\ndisk = 1G\n",
    "[network]\nmode = bridge\n[storage]\ndisk = 1G\n",
    "[display]\ntype = vnc\ngl = yes\n[storage]\ndisk = 1G\n",
    "[storage\ndisk = 1G\n",
    "[storage]\ndisk\n",
    "\xef\xbb\xbf[storage]\r\ndisk = 1G\r\n",
]


def profile_seeds():
    for name, text in sorted(PROFILES.items()):
        yield "profile-" + name, text.encode()
    for i, text in enumerate(PROFILE_EDITS):
        yield "edit-%02d" % i, text.encode("utf-8", "surrogateescape")


def egpu_info(name=b"anarchy-sim", gpus=((b"NVIDIA GeForce RTX 4090", b"nvidia", 24564 << 20, 7),),
              state=2, flags=1, counters=(123456789, 987654, 1000, 20, 31000, 700, 7, 3, 2, 1,
                                          0, 2, 1, 1)):
    """A struct anarchy_link_info as the module's ioctl fills it (uapi/anarchy.h)."""
    head = struct.pack("<10I", 0, state, flags, 40000, 10000, 2500, 1, 6, len(gpus), 37)
    uuid = bytes(range(1, 17))
    table = b""
    for gname, driver, vram, enc in list(gpus)[:4]:
        table += gname.ljust(64, b"\0")[:64] + driver.ljust(32, b"\0")[:32]
        table += struct.pack("<QII2Q", vram, enc, 0, 0, 0)
    table = table.ljust(4 * 128, b"\0")
    return (head + uuid + name.ljust(64, b"\0")[:64] + table +
            struct.pack("<20Q", *counters, *[0] * 6) + bytes(64))


def egpu_event(type_, state, value=0, error=0):
    """A struct anarchy_event as read() returns it."""
    return struct.pack("<IIQQiIQQ", type_, 0, 4500000000, 1, error, state, value, 0)


def egpu_seeds():
    """fuzz-egpu: LINK and FAULT [VALUE] arguments, link infos and events."""
    for i, text in enumerate([b"0", b"anarchy7", b"/dev/anarchy9999", b"01", b"10000",
                              b"anarchy", b"-1", b"drop 5", b"corrupt 2147483648",
                              b"delay 10000000", b"delay 5ms", b"stall on", b"stall maybe",
                              b"unplug", b"replug now", b"explode",
                              "caf\u00e9 \u2588".encode(), b"\x1b[2J\xff\xfe\xc0\xaf"]):
        yield "arg-%02d" % i, text
    yield "info-00", egpu_info()
    yield "info-01", egpu_info(gpus=((b"NVIDIA GeForce RTX 4090", b"nvidia", 24564 << 20, 7),
                                     (b"AMD Radeon RX 7900 XTX", b"amdgpu", 24 << 30, 3)))
    yield "info-02", egpu_info(name=b"", gpus=(), state=0, flags=4)
    yield "info-03", egpu_info(name=b"\x1b]0;evil\x07\xff" * 8,
                               gpus=((b"x" * 64, b"y" * 32, 2 ** 64 - 1, 0xffffffff),) * 4)
    info = bytearray(egpu_info())
    struct.pack_into("<I", info, 32, 1000)  # gpu_count far past the table
    struct.pack_into("<I", info, 4, 99)  # a state of the future
    yield "info-04", bytes(info)
    yield "info-05", egpu_info(counters=(2 ** 64 - 1,) * 14)
    for i, (t, st, v, e) in enumerate([(1, 2, 0, 0), (2, 0, 0, 0), (5, 3, 1500, 0),
                                       (7, 2, 0, -71), (7, 2, 0, -2 ** 31), (9, 2, 3, 0),
                                       (10, 0, 7, 0), (8, 2, 0, 0), (4242, 4242, 0, 0)]):
        yield "event-%02d" % i, egpu_event(t, st, v, e)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    for sub, gen in (("qmp", seeds()), ("env-ids", env_ids_seeds()),
                     ("vm-profile", profile_seeds()), ("egpu", egpu_seeds())):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        for name, data in gen:
            with open(os.path.join(root, sub, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
