#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The eGPU link, shown: boots the testbed guest (QEMU TCG), loads anarchy.ko in test mode
(one simulated TB3 link to a far host with an RTX 4090), and shows `ghostctl egpu status`,
1e4 records each way checked, a cable pulled and put back mid-stream, and the link's
throughput and round trip. About half a minute; `make demo` runs it after psyne's.

The environment (`make demo` sets it): ANARCHY_KMOD, ANARCHY_SELFTEST, GHOSTCTL, ANARCHY_LIB,
TESTBED_DIR, TESTBED_MKPAYLOAD. Without a guest image or the module it says why and exits 0."""
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "testbed", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "common", "tests"))
from cli_harness import EnvironmentBroken, Skip  # noqa: E402
from testbed_harness import Guest, need_image, payload, script  # noqa: E402

KMOD = os.environ.get("ANARCHY_KMOD", "")
SELFTEST = os.environ.get("ANARCHY_SELFTEST", "")
GHOSTCTL = os.environ.get("GHOSTCTL", "")
LIBANARCHY = os.environ.get("ANARCHY_LIB", "")

GUEST = """
cd /testbed
echo "== insmod anarchy.ko test_mode=1"
insmod /testbed/anarchy.ko test_mode=1 || exit 1
mount -t debugfs none /sys/kernel/debug
sleep 1
echo "== ghostctl egpu status"
/testbed/gc/ghostctl/ghostctl egpu status
echo "== 10000 records each way, random sizes (16 B to 32 KiB), each checked"
/testbed/anarchy-selftest stream /dev/anarchy0 /dev/anarchy1 10000 | grep -E '^(stream|SELFTEST)'
echo "== the cable pulled mid-stream and put back: nothing lost, nothing twice"
/testbed/anarchy-selftest unplug /dev/anarchy0 /dev/anarchy1 10000 | grep -E '^SELFTEST'
/testbed/gc/ghostctl/ghostctl egpu status 0 | grep -E 'anarchy0|link events'
echo "== throughput (16 KiB records, 3 s) and 64 B round trip"
/testbed/anarchy-selftest bench /dev/anarchy0 /dev/anarchy1 | grep -E '^BENCH'
rmmod anarchy
"""


def main():
    try:
        for path in (KMOD, SELFTEST, GHOSTCTL, LIBANARCHY):
            if not path or not os.path.isfile(path):
                raise Skip("missing %r (meson compile builds it)" % path)
        need_image()
    except (Skip, EnvironmentBroken) as e:
        print("anarchy demo: skipped: %s" % e)
        return 0
    print("anarchy demo: booting the testbed guest under QEMU TCG with anarchy.ko ...",
          flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "gc")
        os.makedirs(tree + "/ghostctl")
        os.makedirs(tree + "/anarchy")
        shutil.copy(GHOSTCTL, tree + "/ghostctl/ghostctl")
        shutil.copy(LIBANARCHY, tree + "/anarchy/libanarchy.so.0")
        initrd = payload(tmp, script(tmp, GUEST), KMOD, SELFTEST, tree)
        guest = Guest(initrd, append="testbed.timeout=120", timeout=180)
        out = guest.finish()
        status = guest.result()
    shown = False
    for line in out.splitlines():
        if line.startswith("== "):
            shown = True
            print("\n" + line[3:])
            continue
        if "TESTBED-RESULT" in line:
            break
        if shown and not re.match(r"\s*\[\s*\d+\.\d+\]", line):
            m = re.match(r"BENCH (.*)", line)
            if m:
                vals = dict(kv.split("=") for kv in m.group(1).split())
                if "throughput_mbps" in vals:
                    print("  %s Mb/s one way (the TCG guest's own limit; the TB3 model allows "
                          "%s Mb/s)" % (vals["throughput_mbps"], vals["model_mbps"]))
                else:
                    print("  64 B round trip: p50 %s us, p99 %s us" % (
                        vals["rtt64_p50_us"], vals["rtt64_p99_us"]))
                continue
            print("  " + line)
    print("\nanarchy demo: done in %.0f s (guest status %s); docs/anarchy.md, docs/egpu.md"
          % (time.monotonic() - start, status))
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
