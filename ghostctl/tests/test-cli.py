#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ghostctl as a user runs it: help from the verb tables, usage errors (one line, exit 2),
layered settings, and the vm verbs that manage profiles. Each test gets a fresh HOME, XDG
directories and GHOSTCTL_SYSCONFDIR, so nothing outside its temporary directory is read."""
import json
import os
import re
import shutil
import tempfile

import cli_harness
from cli_harness import assert_usage_error, main, test

_sandbox = None


def sandbox():
    """A fresh HOME, XDG_DATA_HOME and system config dir, in the environment of run()."""
    global _sandbox
    if _sandbox:
        shutil.rmtree(_sandbox, ignore_errors=True)
    _sandbox = tempfile.mkdtemp(prefix="gc-cli-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHOSTCTL_", "XDG_"))}
    env.update(HOME=_sandbox + "/home", GHOSTCTL_SYSCONFDIR=_sandbox + "/etc",
               XDG_DATA_HOME=_sandbox + "/data", NO_COLOR="1")
    os.makedirs(_sandbox + "/home")
    os.makedirs(_sandbox + "/etc/ghostctl")
    return env


def gc(*args, env):
    return cli_harness.run(*args, env=env)


def usage(env, args, line, verb):
    """Exit 2, exactly `line` and the Try line on stderr, nothing on stdout."""
    status, out, err = gc(*args, env=env)
    assert status == 2, "%r: status %d, stderr %r" % (args, status, err)
    assert out == b"", "%r: stdout %r" % (args, out)
    want = [line, "Try 'ghostctl %s--help'." % (verb + " " if verb else "")]
    assert err.splitlines() == want, "%r: stderr %r, expected %r" % (args, err, want)


@test
def help_comes_from_the_tables():
    env = sandbox()
    status, out, err = gc("--help", env=env)
    text = out.decode()
    assert status == 0 and err == "", (status, err)
    assert text.startswith("Usage: ghostctl [OPTIONS] VERB [ARGS...]\n"), text
    for verb in ["vm", "config", "help"]:
        assert re.search(r"^  %s\b" % verb, text, re.M), verb
    assert gc("help", env=env)[1] == out
    status, out, _ = gc("vm", "--help", env=env)
    for verb in ["create", "edit", "list", "show", "delete"]:
        assert re.search(r"^  %s\b" % verb, out.decode(), re.M), verb
    # Every field of the profile is an option of create, documented.
    status, out, _ = gc("vm", "create", "--help", env=env)
    for opt in ["--memory=SIZE", "--cores=N", "--disk=SPEC", "--share=SPEC", "--pci=ADDRESS",
                "--usb=VENDOR:PRODUCT", "--display=TYPE", "--net=MODE", "--ssh-port=PORT",
                "--dry-run", "--json", "--template=NAME"]:
        assert opt in out.decode(), opt
    assert gc("help", "vm", "create", env=env)[1] == out


@test
def usage_errors_are_one_line_and_exit_2():
    env = sandbox()
    usage(env, ["frobnicate"], "ghostctl: unknown verb 'frobnicate'", None)
    usage(env, [], "ghostctl: missing verb", None)
    usage(env, ["--bogus"], "ghostctl: unknown option '--bogus'", None)
    usage(env, ["vm"], "ghostctl: vm: missing verb (one of: create, ...)", "vm")
    usage(env, ["vm", "launch"], "ghostctl: vm: unknown verb 'launch'", "vm")
    usage(env, ["vm", "create"],
          "ghostctl: vm create: missing argument (usage: ghostctl vm create NAME "
          "[--template=T] [OPTIONS])", "vm create")
    usage(env, ["vm", "create", "a", "b"], "ghostctl: vm create: unexpected argument 'b'",
          "vm create")
    usage(env, ["vm", "create", "x", "--memory"],
          "ghostctl: vm create: option '--memory' needs a value", "vm create")
    usage(env, ["vm", "list", "--memory=1G"],
          "ghostctl: vm list: unknown option '--memory'", "vm list")
    usage(env, ["vm", "list", "--json=yes"],
          "ghostctl: vm list: option '--json' takes no value", "vm list")
    usage(env, ["--set", "vm.accel=warp"],
          "ghostctl: --set: vm.accel: invalid value 'warp' (expected one of auto,kvm,tcg)", None)
    usage(env, ["--log-level", "loud"],
          "ghostctl: --log-level: core.log_level: invalid value 'loud' (expected one of "
          "error,warning,info,debug)", None)


# Every invalid value of every option: the option named, the value quoted, exit 2.
BAD_VALUES = [
    ("--memory=12Q", "--memory: invalid size '12Q' (16M to 16T, whole MiB)"),
    ("--cores=0", "--cores: invalid count '0' (1 to 512)"),
    ("--sockets=x", "--sockets: invalid count 'x' (1 to 512)"),
    ("--threads=600", "--threads: invalid count '600' (1 to 512)"),
    ("--machine=virt", "--machine: invalid machine 'virt' (q35 or pc)"),
    ("--cpu=host,+x", "--cpu: invalid CPU model 'host,+x' (a QEMU model name: host, max, "
     "qemu64, EPYC, ...)"),
    ("--pin=a", "--pin: invalid CPU list 'a' (such as 2-5,8)"),
    ("--hugepages=perhaps", "--hugepages: invalid boolean 'perhaps' (yes or no)"),
    ("--disk=bus=floppy", "--disk: invalid bus 'floppy' (virtio, sata, ide or nvme)"),
    ("--kernel=/boot/\tx", "--kernel: control character in value"),
    ("--initrd=/a,b", "--initrd: an initrd path cannot contain ','"),
    ("--net=wifi", "--net: invalid network mode 'wifi' (user, bridge, tap or none)"),
    ("--net-model=e1000,x", "--net-model: invalid NIC model 'e1000,x'"),
    ("--bridge=br 0", "--bridge: invalid interface name 'br 0' (1 to 15 of A-Z a-z 0-9 _ . -)"),
    ("--tap=t/1", "--tap: invalid interface name 't/1' (1 to 15 of A-Z a-z 0-9 _ . -)"),
    ("--ssh-port=0", "--ssh-port: invalid port '0' (1 to 65535, or auto)"),
    ("--guest-ssh-port=99999", "--guest-ssh-port: invalid port '99999' (1 to 65535)"),
    ("--display=x11", "--display: invalid display 'x11' (auto, none, gtk, sdl, spice or vnc)"),
    ("--gl=2", "--gl: invalid boolean '2' (yes or no)"),
    ("--clipboard=y", "--clipboard: invalid boolean 'y' (yes or no)"),
    ("--share=rel", "--share: 'rel' is not an absolute path"),
    ("--pci=1:0.0", "--pci: invalid PCI address '1:0.0' (expected 01:00.0 or 0000:01:00.0)"),
    ("--usb=logitech", "--usb: invalid USB id 'logitech' (expected VENDOR:PRODUCT in hex, "
     "such as 046d:c52b)"),
    ("--template=desktop", "--template: unknown template 'desktop' (gaming, dev, server or "
     "testbed)"),
]


@test
def every_invalid_value_is_refused():
    env = sandbox()
    for arg, msg in BAD_VALUES:
        usage(env, ["vm", "create", "x", "--template=dev", arg], "ghostctl: vm create: " + msg,
              "vm create")
    usage(env, ["vm", "create", "x"],
          "ghostctl: vm create: nothing to boot: add a --disk, an --iso or a --kernel",
          "vm create")
    usage(env, ["vm", "create", "../x", "--template=dev"],
          "ghostctl: vm create: invalid VM name '../x' (1 to 48 of A-Z a-z 0-9 . _ -, "
          "starting with a letter or digit)", "vm create")
    assert not os.path.exists(_sandbox + "/data/ghostctl/vms/x"), "a refused VM left files"


@test
def create_list_show_edit_delete():
    env = sandbox()
    status, out, err = gc("vm", "create", "box", "--template", "server", "--memory", "6G",
                          "--share", "/srv/data", "--dry-run", env=env)
    assert status == 0, err
    assert "size = 6G" in out.decode() and "--dry-run" in out.decode()
    assert not os.path.exists(_sandbox + "/data/ghostctl/vms/box"), "dry run saved"

    status, out, err = gc("vm", "create", "box", "--template", "server", "--memory", "6G",
                          "--disk", "8G", env=env)
    assert status == 0, err
    ini = open(_sandbox + "/data/ghostctl/vms/box/vm.ini").read()
    assert "template = server" in ini and "size = 6G" in ini, ini
    assert "disk = path=disk1.qcow2,size=8G,bus=virtio,format=qcow2" in ini, ini
    status, out, err = gc("vm", "create", "box", "--template", "dev", env=env)
    assert status == 1 and "exists already" in err, (status, err)

    status, out, err = gc("vm", "list", "--json", env=env)
    assert status == 0, err
    vms = json.loads(out)
    assert [v["name"] for v in vms] == ["box"] and vms[0]["memory"] == 6 << 30, vms

    status, out, err = gc("vm", "edit", "box", "--cores", "6", "--display", "vnc", env=env)
    assert status == 0, err
    status, out, err = gc("vm", "show", "box", "--json", env=env)
    shown = json.loads(out)
    assert shown["cpu"]["cores"] == "6" and shown["display"]["type"] == "vnc", shown
    assert shown["storage"]["disk"][1].startswith("path=disk1.qcow2"), shown
    usage(env, ["vm", "edit", "box"],
          "ghostctl: vm edit: nothing to change (see --help for the options)", "vm edit")
    status, _, err = gc("vm", "show", "nobox", env=env)
    assert status == 1 and "No VM 'nobox'" in err, err

    # A hand-edited profile with a bad value is reported with its file and line.
    path = _sandbox + "/data/ghostctl/vms/box/vm.ini"
    good = open(path).read()
    with open(path, "a") as f:
        f.write("\n[cpu]\nthreads = lots\n")
    status, _, err = gc("vm", "show", "box", env=env)
    n = open(path).read().splitlines().index("threads = lots") + 1
    assert status == 1, (status, err)
    assert "%s:%d: cpu.threads: invalid count 'lots'" % (path, n) in err, (n, err)
    with open(path, "w") as f:
        f.write(good)

    status, out, err = gc("vm", "delete", "box", "--dry-run", env=env)
    assert status == 0 and os.path.exists(path), err
    status, out, err = gc("vm", "delete", "box", env=env)
    assert status == 0 and not os.path.exists(path), err
    status, out, _ = gc("vm", "list", env=env)
    assert "No VMs yet" in out.decode()


@test
def bridge_and_tap_say_what_is_missing():
    env = sandbox()
    root = _sandbox + "/root"
    env.update(GHOSTCTL_ROOT=root, GHOSTCTL_VM_ACCEL="tcg")
    gc("vm", "create", "t", "--template", "server", "--net", "tap", "--tap", "tapx", env=env)
    gc("vm", "create", "b", "--template", "server", "--net", "bridge", "--bridge", "br7",
       env=env)
    status, _, err = gc("vm", "start", "t", "--dry-run", env=env)
    assert status == 1 and "Tap device 'tapx' does not exist. Create it (as root) with: ip " \
        "tuntap add dev tapx mode tap user" in err, (status, err)
    status, _, err = gc("vm", "start", "b", "--dry-run", env=env)
    assert status == 1 and "There is no bridge 'br7'. Create one (as root): ip link add br7 " \
        "type bridge && ip link set br7 up" in err, (status, err)
    os.makedirs(root + "/sys/class/net/br7/bridge")
    with open(root + "/sys/class/net/br7/bridge/bridge_id", "w") as f:
        f.write("8000.000000000000\n")
    status, _, err = gc("vm", "start", "b", "--dry-run", env=env)
    assert status == 1 and "QEMU's bridge helper may not use 'br7': add 'allow br7' to " \
        "/etc/qemu/bridge.conf (as root)." in err, (status, err)
    os.makedirs(root + "/etc/qemu")
    with open(root + "/etc/qemu/bridge.conf", "w") as f:
        f.write("# ours\nallow br7\n")
    status, out, err = gc("vm", "start", "b", "--dry-run", env=env)
    assert status == 0 and "-netdev bridge,id=net0,br=br7" in out.decode(), (status, err)


@test
def settings_are_layered():
    env = sandbox()
    with open(_sandbox + "/etc/ghostctl/ghostctl.conf", "w") as f:
        f.write("[vm]\naccel = kvm\nstop_timeout = 9\n")
    os.makedirs(_sandbox + "/home/.config/ghostctl")
    with open(_sandbox + "/home/.config/ghostctl/ghostctl.conf", "w") as f:
        f.write("[vm]\naccel = tcg\n")
    status, out, err = gc("config", "show", "--json", env=env)
    assert status == 0, err
    by = {s["name"]: s for s in json.loads(out)}
    assert by["vm.accel"]["value"] == "tcg", by["vm.accel"]
    assert by["vm.accel"]["source"].endswith("/home/.config/ghostctl/ghostctl.conf:2")
    assert by["vm.stop_timeout"]["value"] == "9"
    env["GHOSTCTL_VM_ACCEL"] = "kvm"
    assert gc("config", "show", "vm.accel", env=env)[1] == b"kvm\n"
    assert gc("--set", "vm.accel=tcg", "config", "show", "vm.accel", env=env)[1] == b"tcg\n"
    env["GHOSTCTL_VM_ACCEL"] = "fast"
    status, _, err = gc("config", "show", env=env)
    assert status == 1 and "$GHOSTCTL_VM_ACCEL: vm.accel: invalid value 'fast'" in err, err


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    finally:
        if _sandbox:
            shutil.rmtree(_sandbox, ignore_errors=True)
