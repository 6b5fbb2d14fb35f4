#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`ghostctl egpu` as a user runs it, on a fake machine: a sysfs and debugfs tree under
GHOSTCTL_ROOT (docs/egpu.md), where no device opens, so every link is read from sysfs.
Listing and the JSON schema, the one-line warning of the sysfs fallback, the error without a
module, inject writing the right knob, --dry-run changing nothing, and every usage error
(one line, exit 2). The module itself is tested in a guest by test-egpu-guest.py."""
import json
import os
import re
import shutil
import tempfile

import cli_harness
from cli_harness import main, test

_tmp = []

# The members of a link in `egpu status --json`, in order (docs/egpu.md).
KEYS = ["index", "name", "device", "source", "source_error", "state", "simulated",
        "admin_down", "rings_in_use", "link_speed_mbps", "dma_rate_mbps", "bandwidth_cap_mbps",
        "latency_us", "rtt_us", "log_level", "far_host", "gpus", "counters"]
COUNTERS = ["tx_bytes", "rx_bytes", "tx_records", "rx_records", "tx_frames", "rx_frames",
            "retransmits", "crc_errors", "drops", "overflows", "errors", "link_ups",
            "link_downs", "stalls"]
KNOBS = ["drop", "corrupt", "delay_us", "stall", "plugged"]
NO_MODULE = ("ghostctl: The anarchy module is not loaded (no /sys/class/anarchy): load it with "
             "'modprobe anarchy', or 'insmod anarchy.ko' from a build tree (test_mode=1 "
             "simulates a link).")


def machine(links=(0, 1), debugfs=True, simulated=True):
    """A fake root with the module's sysfs for `links` and, with debugfs, its knobs; returns
    (root, env)."""
    root = tempfile.mkdtemp(prefix="gc-egpu-")
    _tmp.append(root)
    os.makedirs(root + "/sys/class/anarchy")
    for n in links:
        d = "%s/sys/class/anarchy/anarchy%d" % (root, n)
        os.makedirs(d)
        attrs = {"state": "up", "link_speed": "40000", "tx_bytes": str(1048576 * (n + 1)),
                 "rx_bytes": "2048", "tx_records": "256", "rx_records": "2", "errors": "0",
                 "crc_errors": "3", "drops": "0", "retransmits": "5", "bandwidth_limit": "0",
                 "far_name": "anarchy-sim", "far_gpu": "NVIDIA GeForce RTX 4090",
                 "simulated": "1" if simulated else "0"}
        for name, value in attrs.items():
            write(d + "/" + name, value + "\n")
        if debugfs:
            k = "%s/sys/kernel/debug/anarchy/anarchy%d" % (root, n)
            os.makedirs(k)
            for knob in KNOBS if simulated else KNOBS[:-1]:
                write(k + "/" + knob, "")
    if debugfs:
        os.makedirs(root + "/sys/kernel/debug/tracing")  # a mounted debugfs has entries
    home = root + "/home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHOSTCTL_", "XDG_"))}
    env.update(HOME=home, GHOSTCTL_SYSCONFDIR=home + "/etc", GHOSTCTL_ROOT=root, NO_COLOR="1",
               LC_ALL="C")
    return root, env


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def gc(env, *args):
    status, out, err = cli_harness.run("egpu", *args, env=env)
    return status, out.decode(errors="replace"), err


def ok(env, *args):
    status, out, err = gc(env, *args)
    assert status == 0, "egpu %s: status %d: %s" % (" ".join(args), status, err)
    return out, err


def fails(env, args, line):
    """Exit 1, exactly `line` on stderr, nothing on stdout."""
    status, out, err = gc(env, *args)
    assert status == 1, "%r: status %d, stderr %r" % (args, status, err)
    assert out == "", "%r: stdout %r" % (args, out)
    assert err.splitlines() == [line], "%r: stderr %r, expected %r" % (args, err, line)


def usage(env, args, line, verb):
    status, out, err = gc(env, *args)
    want = [line, "Try 'ghostctl %s --help'." % verb]
    assert status == 2, "%r: status %d, stderr %r" % (args, status, err)
    assert out == "", "%r: stdout %r" % (args, out)
    assert err.splitlines() == want, "%r: stderr %r, expected %r" % (args, err, want)


def snapshot(root):
    """Every file of the tree with its bytes and mtime: what --dry-run must not change."""
    files = {}
    for d, _, names in os.walk(root):
        for name in names:
            p = os.path.join(d, name)
            st = os.stat(p)
            files[p] = (read(p), st.st_mtime_ns)
    return files


@test
def help_for_every_verb():
    _, env = machine()
    out, _ = ok(env, "--help")
    for verb in ["status", "monitor", "limit", "inject", "connect", "disconnect"]:
        assert re.search(r"^  %s\b" % verb, out, re.M), (verb, out)
        text, _ = ok(env, verb, "--help")
        assert text.startswith("Usage: ghostctl egpu %s " % verb), text
        assert "Exit status" in text or verb == "monitor", (verb, text)
        assert cli_harness.run("help", "egpu", verb, env=env)[1].decode() == text
    status_help, _ = ok(env, "status", "--help")
    assert "--json" in status_help and "--dry-run" not in status_help, status_help
    for verb in ["limit", "inject", "connect", "disconnect"]:
        text, _ = ok(env, verb, "--help")
        assert "--dry-run" in text and "--json" not in text, (verb, text)
    inject_help, _ = ok(env, "inject", "--help")
    for fault in ["drop N", "corrupt N", "delay US", "stall on|off", "unplug", "replug"]:
        assert fault in inject_help, (fault, inject_help)
    monitor_help, _ = ok(env, "monitor", "--help")
    assert "--interval=MS" in monitor_help and "q, Esc or ^C quits" in monitor_help
    top = cli_harness.run("--help", env=env)[1].decode()
    assert re.search(r"^  egpu\b", top, re.M), top


@test
def usage_errors_are_one_line_and_exit_2():
    _, env = machine()
    bad_link = "invalid link '%s' (N, anarchyN or /dev/anarchyN)"
    for verb, args in [("status", ["x"]), ("status", ["01"]), ("monitor", ["anarchy"]),
                       ("limit", ["/dev/sda", "10"]), ("inject", ["-", "drop", "1"]),
                       ("connect", ["10000"]), ("disconnect", ["anarchy1x"])]:
        usage(env, [verb, *args], "ghostctl: egpu %s: %s" % (verb, bad_link % args[0]),
              "egpu " + verb)
    usage(env, [], "ghostctl: egpu: missing verb (one of: status, ...)", "egpu")
    usage(env, ["frob"], "ghostctl: egpu: unknown verb 'frob'", "egpu")
    usage(env, ["status", "0", "1"], "ghostctl: egpu status: unexpected argument '1'",
          "egpu status")
    usage(env, ["status", "--dry-run"], "ghostctl: egpu status: unknown option '--dry-run'",
          "egpu status")
    usage(env, ["limit", "0"], "ghostctl: egpu limit: missing argument (usage: ghostctl egpu "
          "limit LINK MBPS [OPTIONS])", "egpu limit")
    for rate in ["100001", "1e3", "fast", "1.5", ""]:
        usage(env, ["limit", "0", rate], "ghostctl: egpu limit: invalid rate '%s' (Mb/s, 0 to "
              "100000; 0 or off: no cap)" % rate, "egpu limit")
    usage(env, ["limit", "0", "10", "--json"], "ghostctl: egpu limit: unknown option '--json'",
          "egpu limit")
    usage(env, ["inject", "0"], "ghostctl: egpu inject: missing argument (usage: ghostctl "
          "egpu inject LINK FAULT [VALUE] [OPTIONS])", "egpu inject")
    for args, msg in [
            (["explode"], "unknown fault 'explode' (drop, corrupt, delay, stall, unplug or "
             "replug)"),
            (["drop"], "drop: missing value (a number of frames)"),
            (["drop", "many"], "drop: invalid count 'many' (0 to 2147483647)"),
            (["corrupt", "2147483648"], "corrupt: invalid count '2147483648' (0 to "
             "2147483647)"),
            (["delay"], "delay: missing value (microseconds, 0 for none)"),
            (["delay", "10000001"], "delay: invalid microseconds '10000001' (0 to 10000000; "
             "0: no delay)"),
            (["stall", "maybe"], "stall: invalid value 'maybe' (on or off)"),
            (["unplug", "now"], "unplug takes no value, got 'now'"),
            (["replug", "1"], "replug takes no value, got '1'")]:
        usage(env, ["inject", "0", *args], "ghostctl: egpu inject: " + msg, "egpu inject")
    usage(env, ["inject", "0", "drop", "1", "2"], "ghostctl: egpu inject: unexpected argument "
          "'2'", "egpu inject")
    for value in ["10", "60001", "x"]:
        usage(env, ["monitor", "--interval", value], "ghostctl: egpu monitor: --interval: "
              "invalid milliseconds '%s' (50 to 60000)" % value, "egpu monitor")
    usage(env, ["connect", "0", "--timeout=0"], "ghostctl: egpu connect: --timeout: invalid "
          "seconds '0' (1 to 3600)", "egpu connect")
    usage(env, ["disconnect", "0", "--wait"], "ghostctl: egpu disconnect: unknown option "
          "'--wait'", "egpu disconnect")


@test
def no_module_says_how_to_load_it():
    root, env = machine(links=())
    shutil.rmtree(root + "/sys/class/anarchy")
    for args in [["status"], ["status", "0"], ["status", "--json"], ["limit", "0", "100"],
                 ["inject", "0", "drop", "1"], ["connect", "0"], ["disconnect", "0"],
                 ["limit", "0", "100", "--dry-run"], ["inject", "0", "unplug", "--dry-run"]]:
        fails(env, args, NO_MODULE)
    # Usage errors come first, module or not.
    usage(env, ["inject", "0", "explode"], "ghostctl: egpu inject: unknown fault 'explode' "
          "(drop, corrupt, delay, stall, unplug or replug)", "egpu inject")


@test
def no_links():
    _, env = machine(links=())
    out, err = ok(env, "status")
    assert out == "No anarchy links: no far host is connected.\n" and err == "", (out, err)
    out, _ = ok(env, "status", "--json")
    assert json.loads(out) == {"schema": 1, "links": []}, out
    fails(env, ["status", "3"], "ghostctl: No link anarchy3 (see 'ghostctl egpu status').")
    fails(env, ["limit", "3", "10"], "ghostctl: No link anarchy3 (see 'ghostctl egpu "
          "status').")


@test
def lists_links_from_sysfs_with_one_warning():
    root, env = machine(links=(10, 0, 2))
    status, out, err = gc(env, "status")
    assert status == 0, err
    heads = re.findall(r"^(anarchy\d+): (.*)$", out, re.M)
    assert heads == [("anarchy0", "up (simulated link; sysfs only)"),
                     ("anarchy2", "up (simulated link; sysfs only)"),
                     ("anarchy10", "up (simulated link; sysfs only)")], heads
    assert "  gpu         NVIDIA GeForce RTX 4090\n" in out, out
    assert "  far host    anarchy-sim\n" in out, out
    assert "  sent        1.0 MiB in 256 records\n" in out, out
    assert "  faults      retransmits 5, CRC errors 3, drops 0, errors 0\n" in out, out
    # One warning for the three devices, naming them and the reason.
    assert err.splitlines() == [
        "ghostctl: Cannot open /dev/anarchy0, /dev/anarchy2, /dev/anarchy10 (No such file or "
        "directory): showing what sysfs has; the far host's UUID, GPU details, RTT and some "
        "counters need the device (root, or its group)."], err

    # A file where the device should be is no anarchy device.
    os.makedirs(root + "/dev")
    write(root + "/dev/anarchy2", "")
    for name in ["2", "anarchy2", "/dev/anarchy2"]:
        status, one, err = gc(env, "status", name)
        assert status == 0 and one.startswith("anarchy2: up"), (status, one, err)
        assert "(not opened: Inappropriate ioctl for device)" in one, one
        assert err.count("\n") == 1 and "Cannot open /dev/anarchy2 (Inappropriate" in err, err
    fails(env, ["status", "3"], "ghostctl: No link anarchy3 (see 'ghostctl egpu status').")

    # State, cap and a link that is not simulated come through as sysfs says.
    d = root + "/sys/class/anarchy/anarchy10"
    write(d + "/state", "down\n")
    write(d + "/link_speed", "0\n")
    write(d + "/bandwidth_limit", "2500\n")
    write(d + "/simulated", "0\n")
    out, _ = ok(env, "status", "10")
    assert out.startswith("anarchy10: down (Thunderbolt link; sysfs only)\n"), out
    assert "  speed       no carrier, cap 2500 Mb/s\n" in out, out


@test
def json_schema_from_sysfs():
    root, env = machine(links=(0, 1))
    out, err = ok(env, "status", "--json")
    doc = json.loads(out)
    assert list(doc) == ["schema", "links"] and doc["schema"] == 1, doc
    assert [link["name"] for link in doc["links"]] == ["anarchy0", "anarchy1"], doc
    link = doc["links"][0]
    assert list(link) == KEYS, list(link)
    assert list(link["counters"]) == COUNTERS, list(link["counters"])
    assert link["index"] == 0 and link["device"] == "/dev/anarchy0", link
    assert link["source"] == "sysfs" and link["source_error"] == "No such file or directory"
    assert link["state"] == "up" and link["simulated"] is True, link
    assert link["link_speed_mbps"] == 40000 and link["bandwidth_cap_mbps"] == 0, link
    for key in ["admin_down", "rings_in_use", "dma_rate_mbps", "latency_us", "rtt_us",
                "log_level"]:
        assert link[key] is None, (key, link)
    assert link["far_host"] == {"name": "anarchy-sim", "uuid": None}, link
    assert link["gpus"] == [{"name": "NVIDIA GeForce RTX 4090", "driver": None,
                             "vram_bytes": None, "encoders": None}], link
    c = link["counters"]
    assert c["tx_bytes"] == 1048576 and c["retransmits"] == 5 and c["crc_errors"] == 3, c
    assert c["tx_frames"] is None and c["stalls"] is None, c
    assert doc["links"][1]["counters"]["tx_bytes"] == 2097152, doc
    assert "Cannot open /dev/anarchy0, /dev/anarchy1" in err, err

    # Hostile sysfs values: an escape sequence in a name, bytes that are not UTF-8.
    write(root + "/sys/class/anarchy/anarchy1/far_name", "evil\x1b[2J\n")
    with open(root + "/sys/class/anarchy/anarchy1/far_gpu", "wb") as f:
        f.write(b"GPU \xff\xfe\n")
    doc = json.loads(ok(env, "status", "1", "--json")[0])
    assert doc["links"][0]["far_host"]["name"] == "evil?[2J", doc
    assert doc["links"][0]["gpus"][0]["name"] == "GPU ??", doc
    out, _ = ok(env, "status", "1")
    assert "\x1b" not in out and "evil?[2J" in out, out


@test
def inject_writes_the_knob():
    root, env = machine(links=(0, 1))
    knobs = root + "/sys/kernel/debug/anarchy/anarchy1/"
    for args, knob, value, said in [
            (["drop", "5"], "drop", "5", "drop the next 5 frames anarchy1 sends"),
            (["corrupt", "1"], "corrupt", "1", "corrupt the next 1 frame anarchy1 sends"),
            (["delay", "2500"], "delay_us", "2500", "delay every frame anarchy1 sends by "
             "2500 us"),
            (["stall", "on"], "stall", "1", "make anarchy1 go silent, as a hung host would"),
            (["stall", "off"], "stall", "0", "let anarchy1 speak again"),
            (["unplug"], "plugged", "0", "pull the simulated cable of anarchy1 (both ends go "
             "down)"),
            (["replug"], "plugged", "1", "plug the simulated cable of anarchy1 back in")]:
        for k in KNOBS:
            write(knobs + k, "")
        out, err = ok(env, "inject", "anarchy1", *args)
        assert out == "" and err == "ghostctl: Fault injected: %s.\n" % said, (args, out, err)
        for k in KNOBS:
            assert read(knobs + k) == (value + "\n" if k == knob else ""), (args, k)
        assert all(read(root + "/sys/kernel/debug/anarchy/anarchy0/" + k) == ""
                   for k in KNOBS), args


@test
def inject_says_what_is_missing():
    root, env = machine(links=(0,), debugfs=False)
    mount = ("ghostctl: debugfs is not mounted: mount it with 'mount -t debugfs none "
             "/sys/kernel/debug'.")
    fails(env, ["inject", "0", "drop", "1"], mount)
    os.makedirs(root + "/sys/kernel/debug")  # the bare mount point
    fails(env, ["inject", "0", "drop", "1", "--dry-run"], mount)
    os.makedirs(root + "/sys/kernel/debug/tracing")
    fails(env, ["inject", "0", "stall", "on"], "ghostctl: No /sys/kernel/debug/anarchy: this "
          "anarchy module has no fault injection.")
    os.makedirs(root + "/sys/kernel/debug/anarchy/anarchy0")
    fails(env, ["inject", "0", "delay", "5"], "ghostctl: No knob /sys/kernel/debug/anarchy/"
          "anarchy0/delay_us: this module has no 'delay' fault.")
    assert os.listdir(root + "/sys/kernel/debug/anarchy/anarchy0") == [], "a knob was created"

    # A real (not simulated) link has no cable to pull from here.
    root, env = machine(links=(0,), simulated=False)
    fails(env, ["inject", "0", "unplug"], "ghostctl: anarchy0 is a Thunderbolt link: unplug "
          "and replug act on simulated links only (pull the cable instead).")
    ok(env, "inject", "0", "drop", "3")
    assert read(root + "/sys/kernel/debug/anarchy/anarchy0/drop") == "3\n"


@test
def dry_run_changes_nothing():
    root, env = machine(links=(0, 1))
    write(root + "/sys/class/anarchy/anarchy0/bandwidth_limit", "2500\n")
    write(root + "/sys/class/anarchy/anarchy1/state", "negotiating\n")
    before = snapshot(root)
    for args, line in [
            (["limit", "0", "100", "--dry-run"],
             "Would set the bandwidth cap of anarchy0 to 100 Mb/s (now 2500 Mb/s)."),
            (["limit", "1", "off", "--dry-run"],
             "Would set the bandwidth cap of anarchy1 to none (now none)."),
            (["inject", "0", "drop", "7", "--dry-run"],
             "Would drop the next 7 frames anarchy0 sends: write 7 to "
             "/sys/kernel/debug/anarchy/anarchy0/drop."),
            (["inject", "1", "--dry-run", "unplug"],
             "Would pull the simulated cable of anarchy1 (both ends go down): write 0 to "
             "/sys/kernel/debug/anarchy/anarchy1/plugged."),
            (["disconnect", "/dev/anarchy0", "--dry-run"],
             "Would disconnect anarchy0 (now up): it would stay down until 'ghostctl egpu "
             "connect 0'."),
            (["connect", "anarchy1", "--dry-run", "--wait"],
             "Would connect anarchy1 (now negotiating): it would come up when the far host "
             "answers.")]:
        out, err = ok(env, *args)
        assert out == line + "\n" and err == "", (args, out, err)
    assert snapshot(root) == before, "a dry run changed the tree"
    assert not os.path.exists(root + "/dev"), "a dry run made /dev"


@test
def changes_need_the_device():
    _, env = machine(links=(0,))
    for args, line in [
            (["limit", "0", "100"], "ghostctl: Cannot open /dev/anarchy0: No such file or "
             "directory (is udev or devtmpfs missing?)."),
            (["connect", "0"], "ghostctl: Cannot open /dev/anarchy0: No such file or "
             "directory (is udev or devtmpfs missing?)."),
            (["disconnect", "0"], "ghostctl: Cannot open /dev/anarchy0: No such file or "
             "directory (is udev or devtmpfs missing?).")]:
        fails(env, args, line)


@test
def monitor_needs_a_terminal():
    _, env = machine(links=(0,))
    fails(env, ["monitor"], "ghostctl: egpu monitor: needs a terminal; use 'ghostctl egpu "
          "status --json' in scripts")


def cleanup():
    for d in _tmp:
        shutil.rmtree(d, ignore_errors=True)
    _tmp.clear()


if __name__ == "__main__":
    raise SystemExit(main(cleanup=cleanup))
