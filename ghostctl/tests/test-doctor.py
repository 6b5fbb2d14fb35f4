#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`ghostctl doctor` as a user runs it: one line per check, the JSON facts and their keys, the
exit status, colour, and a fake machine through GHOSTCTL_ROOT (GPUs, IOMMU groups, a /dev/kvm
that is no KVM device) with a fake QEMU, so that its lines can be compared exactly."""
import json
import os
import re
import shutil
import stat
import tempfile

import cli_harness
from cli_harness import main, test

LINE = re.compile(r"^(ok  |info|warn|fail)  (\S+) *(.*)$")
FIX = re.compile(r"^ {20}fix: \S")

# The top-level keys of --json (docs/ghostctl-doctor.md): stable, so tested exactly.
KEYS = {"root", "user", "cpu", "kvm", "accel", "iommu", "nvidia_driver", "render_nodes", "gpus",
        "session", "display", "qemu", "virtiofsd", "usb", "checks", "status"}
KVM_KEYS = {"state", "usable", "present", "opened", "api_version", "real_mode", "long_mode",
            "module", "reason", "hint"}

_tmp = []


def tmpdir():
    d = tempfile.mkdtemp(prefix="gc-doctor-")
    _tmp.append(d)
    return d


def environment(**extra):
    """A clean environment: fresh HOME and config dirs, no session, no GHOSTCTL_* leaking in."""
    home = tmpdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GHOSTCTL_", "XDG_")) and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=home, GHOSTCTL_SYSCONFDIR=home + "/etc", NO_COLOR="1")
    env.update(extra)
    return env


def doctor(*args, env):
    return cli_harness.run("doctor", *args, env=env, timeout=60)


def parse(out):
    """The (status, name, detail, [fix lines]) of each check of the text output."""
    checks = []
    for line in out.decode().splitlines():
        m = LINE.match(line)
        if m:
            checks.append((m.group(1).strip(), m.group(2), m.group(3), []))
            continue
        assert FIX.match(line) and checks, "a line that is neither a check nor a fix: %r" % line
        checks[-1][3].append(line.strip()[len("fix: "):])
    return checks


def write(root, rel, text=""):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def pci(root, address, cls, vendor, device, driver, group):
    base = "sys/bus/pci/devices/" + address
    write(root, base + "/class", cls + "\n")
    write(root, base + "/vendor", vendor + "\n")
    write(root, base + "/device", device + "\n")
    if driver:
        os.symlink("../../../bus/pci/drivers/" + driver, os.path.join(root, base, "driver"))
    if group is not None:
        os.symlink("../../../kernel/iommu_groups/%d" % group,
                   os.path.join(root, base, "iommu_group"))
        os.makedirs(os.path.join(root, "sys/kernel/iommu_groups/%d/devices" % group),
                    exist_ok=True)
        os.symlink("../../../../devices/pci0000:00/" + address,
                   os.path.join(root, "sys/kernel/iommu_groups/%d/devices" % group, address))


FAKE_QEMU = """#!/bin/sh
case "$1 $2" in
'--version ') echo 'QEMU emulator version 8.2.1 (fake)';;
'-accel help') printf 'Accelerators supported in QEMU binary:\\ntcg\\nkvm\\n';;
'-display help') printf 'Available display backend types:\\nnone\\ngtk\\nsdl\\n';;
'-device help') for d in vfio-pci virtio-vga-gl virtio-vga qxl-vga nvme virtio-9p-pci \\
		vhost-user-fs-pci usb-host qemu-xhci virtio-net-pci; do
		echo "name \\"$d\\", bus PCI"; done;;
'-spice help') echo 'spice options:'; exit 1;;
esac
"""


def fake_machine():
    """A workstation: NVIDIA GPU on nvidia, an AMD GPU half handed to vfio-pci, an Intel iGPU,
    VT-d on, a USB receiver, and a /dev/kvm that is a plain file. Returns (root, qemu)."""
    root = tmpdir()
    write(root, "proc/cpuinfo",
          "processor : 0\nvendor_id : GenuineIntel\nmodel name : Intel Fake CPU\n"
          "flags : fpu vmx avx2 aes x2apic pdpe1gb lm\n")
    write(root, "proc/cmdline", "root=/dev/sda1 intel_iommu=on iommu=pt\n")
    write(root, "proc/driver/nvidia/version",
          "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 2023\n")
    os.makedirs(os.path.join(root, "sys/class/iommu/dmar0"))
    pci(root, "0000:00:02.0", "0x030000", "0x8086", "0x3e92", "i915", 0)
    write(root, "sys/bus/pci/devices/0000:00:02.0/boot_vga", "1\n")
    pci(root, "0000:01:00.0", "0x030000", "0x10de", "0x2204", "nvidia", 14)
    pci(root, "0000:01:00.1", "0x040300", "0x10de", "0x1aef", "snd_hda_intel", 14)
    pci(root, "0000:03:00.0", "0x030000", "0x1002", "0x73bf", "vfio-pci", 16)
    pci(root, "0000:03:00.1", "0x040300", "0x1002", "0xab28", "snd_hda_intel", 16)
    write(root, "dev/vfio/vfio")
    write(root, "dev/vfio/16")
    write(root, "dev/dri/renderD128")
    write(root, "dev/kvm")
    for name, value in [("idVendor", "046d"), ("idProduct", "c52b"), ("busnum", "1"),
                        ("devnum", "3"), ("manufacturer", "Logitech"),
                        ("product", "USB Receiver")]:
        write(root, "sys/bus/usb/devices/1-2/" + name, value + "\n")
    write(root, "etc/group", "kvm:x:4242:\n")
    qemu = os.path.join(root, "qemu-fake")
    write(root, "qemu-fake", FAKE_QEMU)
    os.chmod(qemu, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return root, qemu


@test
def doctor_runs_and_says_what_kvm_is():
    status, out, err = doctor(env=environment())
    checks = parse(out)
    names = [c[1] for c in checks]
    for name in ["user", "cpu", "kvm", "iommu", "gpu", "session", "display", "qemu",
                 "virtiofsd"]:
        assert name in names, "no %s line in %r" % (name, out)
    kvm = [c for c in checks if c[1] == "kvm"][0]
    assert kvm[0] in ("ok", "warn", "fail"), kvm
    assert kvm[2].startswith("usable: " if kvm[0] == "ok" else "not usable: "), kvm
    failed = [c for c in checks if c[0] == "fail"]
    assert status == (1 if failed else 0), (status, failed, err)
    assert "\033[" not in out.decode(), "colour although NO_COLOR is set and stdout is no TTY"


@test
def json_has_the_documented_keys():
    env = environment()
    status, out, err = doctor("--json", env=env)
    facts = json.loads(out)
    assert set(facts) == KEYS, set(facts) ^ KEYS
    assert set(facts["kvm"]) == KVM_KEYS, set(facts["kvm"]) ^ KVM_KEYS
    assert facts["status"] in ("ok", "warn", "fail")
    assert status == (1 if facts["status"] == "fail" else 0), (status, facts["status"], err)
    for c in facts["checks"]:
        assert set(c) == {"name", "status", "detail", "hint"}, c
    # The text and the JSON say the same.
    text = parse(doctor(env=env)[1])
    assert [(c[0], c[1], c[2]) for c in text] == \
        [(c["status"], c["name"], c["detail"]) for c in facts["checks"]]
    kvm = facts["kvm"]
    assert kvm["usable"] == (kvm["state"] == "usable")
    assert (kvm["reason"] is None) == kvm["usable"], kvm
    assert facts["accel"] == ("kvm" if kvm["usable"] else
                              "tcg" if "tcg" in facts["qemu"]["accelerators"] else None)


@test
def kvm_not_usable_is_a_warning_when_tcg_works():
    env = environment()
    facts = json.loads(doctor("--json", env=env)[1])
    if facts["kvm"]["usable"]:
        raise cli_harness.Skip("KVM is usable on this machine")
    kvm = [c for c in facts["checks"] if c["name"] == "kvm"][0]
    if "tcg" in facts["qemu"]["accelerators"]:
        assert kvm["status"] == "warn", kvm
        assert kvm["detail"] == "not usable: %s; VMs will run under TCG, much slower" \
            % facts["kvm"]["reason"], kvm
    else:
        assert kvm["status"] == "fail", kvm


@test
def a_fake_machine_gives_its_lines():
    root, qemu = fake_machine()
    env = environment(GHOSTCTL_ROOT=root, GHOSTCTL_VM_QEMU=qemu,
                      GHOSTCTL_VM_VIRTIOFSD="/nonexistent/virtiofsd", WAYLAND_DISPLAY="wayland-0")
    status, out, err = doctor(env=env)
    assert status == 0, (status, out, err)
    checks = parse(out)
    lines = {(c[1], c[2]): (c[0], c[3]) for c in checks}
    want = {
        ("root", "GHOSTCTL_ROOT=%s: /sys, /proc, /dev and /etc are read from there" % root):
            ("info", []),
        ("gpu", "0000:00:02.0 Intel 8086:3e92 (VGA compatible controller), driver i915, "
                "IOMMU group 0, boot VGA"): ("info", []),
        ("gpu", "0000:01:00.0 NVIDIA 10de:2204 (VGA compatible controller), driver nvidia "
                "535.104.05, IOMMU group 14; audio 0000:01:00.1 (snd_hda_intel)"): ("info", []),
        ("gpu", "0000:03:00.0 AMD 1002:73bf (VGA compatible controller), driver vfio-pci, "
                "IOMMU group 16; audio 0000:03:00.1 (snd_hda_intel); passthrough is blocked"):
            ("warn", ["0000:03:00.1 (Audio device 1002:ab28) in IOMMU group 16 is bound to "
                      "snd_hda_intel, not vfio-pci: unbind it or bind it to vfio-pci first"]),
        ("iommu", "on: intel-vt-d, 1 unit, 3 groups; kernel command line: intel_iommu=on "
                  "iommu=pt"): ("ok", []),
        ("session", "wayland (WAYLAND_DISPLAY=wayland-0)"): ("info", []),
        ("display", "recommended: gtk,gl=on (a graphical session and a GPU render node: gtk "
                    "with gl=on (virtio-vga-gl, virgl))"): ("info", []),
        ("qemu", "%s 8.2.1; accelerators: tcg kvm" % qemu): ("ok", []),
        ("qemu-displays", "none gtk sdl; spice: yes"): ("info", []),
        ("virtiofsd", "'/nonexistent/virtiofsd' not found: shared folders fall back to 9p"):
            ("info", ["install virtiofsd (Debian 12: qemu-system-common; later: the "
                      "virtiofsd package), or point vm.virtiofsd at it"]),
        ("usb", "046d:c52b Logitech USB Receiver (bus 1, device 3)"): ("info", []),
    }
    for key, value in want.items():
        assert lines.get(key) == value, "%r: got %r in\n%s" % (key, lines.get(key), out.decode())
    kvm = [c for c in checks if c[1] == "kvm"][0]
    assert kvm[:3] == ("warn", "kvm", "not usable: opens but is not a KVM device: "
                       "KVM_GET_API_VERSION failed: Inappropriate ioctl for device; VMs will run "
                       "under TCG, much slower"), kvm
    assert kvm[3], "no fix for KVM"

    facts = json.loads(doctor("--json", env=env)[1])
    assert facts["root"] == root
    assert facts["nvidia_driver"] == "535.104.05"
    assert facts["render_nodes"] == ["/dev/dri/renderD128"]
    assert facts["cpu"]["virtualization"] == "vmx"
    assert facts["kvm"]["state"] == "broken" and facts["kvm"]["present"], facts["kvm"]
    assert facts["accel"] == "tcg"
    gpus = {g["address"]: g for g in facts["gpus"]}
    assert gpus["0000:01:00.0"]["driver_version"] == "535.104.05"
    assert gpus["0000:01:00.0"]["audio"]["address"] == "0000:01:00.1"
    assert gpus["0000:03:00.0"]["passthrough"]["ready"] is False
    assert gpus["0000:00:02.0"]["boot_vga"] is True
    assert facts["usb"][0]["vendor_id"] == "046d" and facts["usb"][0]["product_id"] == "c52b"
    assert facts["display"] == {"recommended": "gtk", "gl": True,
                                "reason": "a graphical session and a GPU render node: gtk "
                                          "with gl=on (virtio-vga-gl, virgl)"}
    assert facts["status"] == "warn"


@test
def a_missing_qemu_fails():
    root, _ = fake_machine()
    env = environment(GHOSTCTL_ROOT=root, GHOSTCTL_VM_QEMU="/nonexistent/qemu")
    status, out, err = doctor(env=env)
    assert status == 1, (status, err)
    checks = parse(out)
    assert ("fail", "qemu", "'/nonexistent/qemu' not found") in [c[:3] for c in checks], out
    kvm = [c for c in checks if c[1] == "kvm"][0]
    assert kvm[0] == "fail" and kvm[2].endswith("without QEMU's TCG to fall back on, no VM can "
                                                "run"), kvm
    facts = json.loads(doctor("--json", env=env)[1])
    assert facts["status"] == "fail" and facts["accel"] is None
    assert facts["qemu"]["path"] is None and facts["qemu"]["error"]


@test
def colour_only_when_asked_or_on_a_terminal():
    root, qemu = fake_machine()
    env = environment(GHOSTCTL_ROOT=root, GHOSTCTL_VM_QEMU=qemu)
    del env["NO_COLOR"]
    _, out, _ = cli_harness.run("--set", "core.color=always", "doctor", env=env, timeout=60)
    assert re.search(rb"\033\[[0-9;]*m(ok|info|warn|fail)", out), out
    _, out, _ = cli_harness.run("--set", "core.color=never", "doctor", env=env, timeout=60)
    assert b"\033[" not in out
    _, out, _ = doctor(env=env)  # auto, and stdout is a pipe
    assert b"\033[" not in out


@test
def usage_and_help():
    env = environment()
    status, out, err = cli_harness.run("--help", env=env)
    assert re.search(r"^  doctor( \[OPTIONS\])? +Check this machine", out.decode(), re.M), out
    status, out, err = doctor("--help", env=env)
    assert status == 0 and out.decode().startswith("Usage: ghostctl doctor [OPTIONS]\n"), out
    assert "--json" in out.decode()
    status, out, err = doctor("extra", env=env)
    assert status == 2 and out == b"", (status, out)
    assert err.splitlines() == ["ghostctl: doctor: unexpected argument 'extra'",
                                "Try 'ghostctl doctor --help'."], err
    status, out, err = doctor("--bogus", env=env)
    assert status == 2 and err.splitlines()[0] == "ghostctl: doctor: unknown option '--bogus'"


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        for d in _tmp:
            shutil.rmtree(d, ignore_errors=True)
    raise SystemExit(rc)
