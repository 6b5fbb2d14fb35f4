#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The anarchy module in testbed guests (TCG): it loads next to the thunderbolt module with
no controller; in test mode its UAPI keeps its contract, 1e5 records of random sizes cross
a simulated link both ways intact, injected faults (drop, corrupt, delay, unplug, a silent
far host) are survived and reported, 100k random ioctls do no harm, and it loads and
unloads 100 times with traffic flowing. After every run the guest's kernel log is read:
any WARN, BUG, Oops or leak report fails the test.

The environment (meson sets it): ANARCHY_KMOD, the module; ANARCHY_SELFTEST, the program
run in the guest; ANARCHY_SKIP, why there is no module; TESTBED_* as for testbed_harness.
Usage: test-kmod.py [NAME-OR-GLOB...]"""
import os
import re
import tempfile

from testbed_harness import Guest, Skip, main, need_image, payload, script, test

KMOD = os.environ.get("ANARCHY_KMOD", "")
SELFTEST = os.environ.get("ANARCHY_SELFTEST", "")
SKIP = os.environ.get("ANARCHY_SKIP", "")

# What the kernel says when something is wrong with a module.
BAD_LOG = re.compile(r"WARNING:|BUG:|Oops|general protection|Call Trace|still has objects|"
                     r"kmemleak|refcount_t:|list_(add|del) corruption|UBSAN|double free|"
                     r"hung_task|blocked for more than")

PRELUDE = """
set -u
cd /testbed
mount -t debugfs none /sys/kernel/debug 2>/dev/null
ko=/testbed/anarchy.ko
st=/testbed/anarchy-selftest
load() { insmod $ko "$@" || { echo "insmod failed: $*"; exit 90; }; }
# check CMD...: runs it and says its status when it fails
check() { "$@"; s=$?; [ $s = 0 ] || { echo "status: $s from $*"; rc=1; }; }
unload() { rmmod anarchy || { echo "rmmod failed"; exit 91; }; }
"""

EPILOGUE = """
echo KERNEL-LOG-BEGIN
dmesg
echo KERNEL-LOG-END
exit $rc
"""


def boot(body, timeout=300):
    """Runs `body` (sh) in a guest with the module and the selftest at /testbed; returns its
    console output. Fails on a bad status, a failed selftest line, or a bad kernel log."""
    if SKIP:
        raise Skip(SKIP)
    need_image()
    for path in (KMOD, SELFTEST):
        if not os.path.isfile(path):
            raise AssertionError("missing %r (run meson compile)" % path)
    with tempfile.TemporaryDirectory() as tmp:
        run = script(tmp, PRELUDE + "rc=0\n" + body + EPILOGUE)
        initrd = payload(tmp, run, KMOD, SELFTEST)
        guest = Guest(initrd, append="testbed.timeout=%d" % timeout, timeout=timeout + 60)
        out = guest.finish()
        status = guest.result()
    log = out[out.find("KERNEL-LOG-BEGIN"):out.find("KERNEL-LOG-END")]
    bad = [line for line in log.splitlines() if BAD_LOG.search(line)]
    fails = [line for line in out.splitlines() if "SELFTEST FAIL" in line]
    for line in out.splitlines():
        if line.startswith(("SELFTEST", "BENCH", "counters", "stream:", "stall:", "fuzz:",
                            "loop:", "uapi:", "status:", "suspend:", "idle:")):
            print("  guest: " + line)
    assert not bad, "kernel log:\n" + log[-4000:]
    assert not fails, "\n".join(fails) + "\n" + out[-3000:]
    assert status == 0, "guest program status %r; console:\n%s" % (status, out[-3000:])
    return out


@test
def loads_next_to_thunderbolt_without_a_controller():
    """Real mode: the service driver and property directory register with the stock
    thunderbolt module and no controller, and go away on unload."""
    boot("""
load
test -d /sys/bus/thunderbolt/drivers/anarchy || { echo "no service driver"; rc=1; }
ls /dev/anarchy* 2>/dev/null && { echo "real mode made devices with no far host"; rc=1; }
test -d /sys/class/anarchy || { echo "no class"; rc=1; }
unload
test -d /sys/bus/thunderbolt/drivers/anarchy && { echo "driver left behind"; rc=1; }
load test_mode=1 sim_links=3
n=$(ls /dev/anarchy* | wc -l)
[ "$n" = 6 ] || { echo "test mode made $n devices, expected 6"; rc=1; }
cat /sys/class/anarchy/anarchy0/state /sys/class/anarchy/anarchy0/far_gpu
unload
insmod $ko test_mode=1 sim_links=99 2>/dev/null && { echo "sim_links=99 accepted"; rc=1; }
insmod $ko test_mode=1 sim_gpus=nonsense 2>/dev/null && { echo "bad sim_gpus accepted"; rc=1; }
""")


@test
def uapi_contract():
    """Every ioctl with bad sizes, pointers, commands and values; mmap and read misuse;
    set-parameters and disconnect without CAP_SYS_ADMIN; device mode 0660."""
    boot("""
load test_mode=1
sleep 1
check $st uapi /dev/anarchy0 /dev/anarchy1
unload
""")


@test
def sysfs_attributes():
    """The per-link attributes, with the far host's GPU and the bandwidth limit."""
    out = boot("""
load test_mode=1 'sim_gpus="Test GPU 9000:8192:nvidia:h264+hevc"'
sleep 1
d=/sys/class/anarchy/anarchy0
for a in state link_speed tx_bytes rx_bytes tx_records rx_records errors crc_errors \\
	 bandwidth_limit far_name far_gpu simulated; do
	echo "attr $a=$(cat $d/$a)"
done
echo 2500 > $d/bandwidth_limit
echo "attr limit-after=$(cat $d/bandwidth_limit)"
echo 100001 > $d/bandwidth_limit 2>/dev/null && rc=1
unload
""")
    attrs = dict(re.findall(r"attr ([\w-]+)=(.*)", out))
    assert attrs.get("state") == "up", attrs
    assert attrs.get("link_speed") == "40000", attrs
    assert attrs.get("far_gpu") == "Test GPU 9000", attrs
    assert attrs.get("far_name") == "anarchy-sim", attrs
    assert attrs.get("simulated") == "1", attrs
    assert attrs.get("limit-after") == "2500", attrs


@test
def stream_1e5_records_both_ways():
    """1e5 records of random sizes (16 B to 32 KiB, so some are fragmented) each way at
    once, each checked for order, length and checksum."""
    boot("""
load test_mode=1
check $st stream /dev/anarchy0 /dev/anarchy1 100000
unload
""", timeout=600)


@test
def fault_injection():
    """Dropped, corrupted and delayed frames mid-stream: nothing lost or duplicated, every
    corruption counted; the cable pulled mid-stream: events, ENOLINK, and the stream
    resumes intact after replug; a silent far host is reported stalled, then resumed;
    records received before the cable was pulled are released while it is out."""
    boot("""
load test_mode=1
check $st faults /dev/anarchy0 /dev/anarchy1 20000
check $st unplug /dev/anarchy0 /dev/anarchy1 20000
check $st stall /dev/anarchy0 /dev/anarchy1
check $st downrelease /dev/anarchy0 /dev/anarchy1
unload
""", timeout=600)


@test
def idle_link_sends_heartbeats_only():
    """Two up ends exchange nothing but heartbeats: no HELLO echoes, no idle acks."""
    boot("""
load test_mode=1
check $st idle /dev/anarchy0 /dev/anarchy1 500
unload
""")


@test
def window_reopens_without_heartbeats():
    """No link model, no heartbeats: a receiver's window freed by the program is advertised
    at once (a kick), not at the next heartbeat; otherwise this stream stalls."""
    boot("""
load test_mode=1 sim_dma_mbps=0 sim_latency_us=0 hb_interval_ms=3600000 stall_timeout_ms=3600000
check $st stream /dev/anarchy0 /dev/anarchy1 20000
unload
""")


@test
def record_larger_than_far_ring_waits():
    """A record larger than the far RX ring takes is held, not lost and not looping: the
    sender gets EMSGSIZE, and the record goes (in order) once the far ring is larger."""
    boot("""
load test_mode=1
check $st bigrecord /dev/anarchy0 /dev/anarchy1
unload
""")


@test
def far_service_goes_away_with_files_open():
    """The far host's service disappears mid-flow with both ends open (as a real service
    device being removed): ENODEV, POLLHUP, the events then end-of-file, the node gone, no
    hang; it comes back and works. Then two writers race removals and additions of the
    link for a while: one link comes out of it, it works, and the module unloads cleanly."""
    boot("""
load test_mode=1
check $st remove /dev/anarchy0 /dev/anarchy1
p=/sys/kernel/debug/anarchy/sim-link0/present
race() { i=0; while [ $i -lt 40 ]; do echo $1 > $p; echo $2 > $p; i=$((i + 1)); done; }
race 0 1 &
race 1 0 &
wait
echo 1 > $p
n=$(ls /sys/class/anarchy | wc -l)
[ "$n" = 2 ] || { echo "status: $n devices after the race, expected 2"; rc=1; }
check $st stream /dev/anarchy0 /dev/anarchy1 2000
unload
""")


@test
def suspend_resume():
    """A suspend cycle (pm_test=devices): the link goes down before it and is negotiated
    again after it, and records flow again."""
    boot("""
load test_mode=1
check $st suspend /dev/anarchy0 /dev/anarchy1
unload
""")


@test
def random_ioctls():
    """100k random ioctls, mmaps (scribbled on) and reads; the link works afterwards."""
    boot("""
load test_mode=1
check $st fuzz /dev/anarchy0 100000 1
check $st stream /dev/anarchy0 /dev/anarchy1 2000
unload
""", timeout=600)


@test
def load_unload_100_times_with_traffic():
    """100 rounds: load, traffic both ways on two links, unload refused while files are
    open, the programs quit with records in flight, unload. The guest's slab and vmalloc
    use after the rounds is what it was after the first (each round takes about 5 MiB of
    frame buffers and rings: a leak of either would show hundreds of MiB)."""
    out = boot("""
mem() { grep -E '^(Slab|VmallocUsed):' /proc/meminfo | tr -s ' ' | tr '\\n' ' '; }
load test_mode=1 sim_links=2
unload
echo "mem-before: $(mem)"
i=0
while [ $i -lt 100 ]; do
	load test_mode=1 sim_links=2
	rm -f /tmp/ready-a /tmp/ready-b
	$st traffic /dev/anarchy0 /dev/anarchy1 300 /tmp/ready-a &
	a=$!
	$st traffic /dev/anarchy3 /dev/anarchy2 300 /tmp/ready-b &
	b=$!
	n=0
	while [ ! -e /tmp/ready-a ] || [ ! -e /tmp/ready-b ]; do
		n=$((n + 1))
		[ $n -lt 1000 ] || { echo "loop: traffic never opened the links"; rc=1; break 2; }
		sleep 0.01
	done
	rmmod anarchy 2>/dev/null && { echo "loop: unloaded with files open"; rc=1; break; }
	wait $a || rc=1
	wait $b || rc=1
	unload
	i=$((i + 1))
done
echo "loop: $i rounds"
echo "mem-after: $(mem)"
""", timeout=800)
    before = dict(re.findall(r"(Slab|VmallocUsed): (\d+) kB", out.split("mem-before:")[1].split("\n")[0]))
    after = dict(re.findall(r"(Slab|VmallocUsed): (\d+) kB", out.split("mem-after:")[1].split("\n")[0]))
    print("  memory before %s, after %s (kB)" % (before, after))
    for key in ("Slab", "VmallocUsed"):
        grew = int(after[key]) - int(before[key])
        assert grew < 4096, "%s grew by %d kB over 100 rounds" % (key, grew)


if __name__ == "__main__":
    raise SystemExit(main())
