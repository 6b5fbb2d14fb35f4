#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The anarchy link's throughput and latency, measured in a testbed guest (QEMU TCG, one
vCPU) on simulated links: with no link model (sim_dma_mbps=0: the module's own data-path
limit) and with the default TB3 model (10 Gb/s DMA), against the modelled rate. Prints a
markdown table; docs/anarchy.md says how to read it.

Usage: bench-link.py [--rounds N]   (the environment of test-kmod.py: ANARCHY_KMOD,
ANARCHY_SELFTEST, TESTBED_DIR, TESTBED_MKPAYLOAD; `make bench` sets them)"""
import argparse
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "testbed", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "common", "tests"))
from testbed_harness import Guest, need_image, payload, script  # noqa: E402

KMOD = os.environ.get("ANARCHY_KMOD", "")
SELFTEST = os.environ.get("ANARCHY_SELFTEST", "")

# The default model (10 Gb/s) is beyond what a TCG guest can move, so the model's pacing is
# also measured at rates the guest can reach.
CASES = [
    ("no model (module limit)", "sim_dma_mbps=0 sim_latency_us=0"),
    ("TB3 model (default, 10 Gb/s)", ""),
    ("model at 500 Mb/s", "sim_dma_mbps=500"),
    ("model at 200 Mb/s", "sim_dma_mbps=200"),
]


def run_round():
    body = "set -u\ncd /testbed\n"
    for i, (_, params) in enumerate(CASES):
        body += ("insmod /testbed/anarchy.ko test_mode=1 %s || exit 90\n"
                 "echo CASE %d\n/testbed/anarchy-selftest bench /dev/anarchy0 /dev/anarchy1\n"
                 "rmmod anarchy\n" % (params, i))
    with tempfile.TemporaryDirectory() as tmp:
        initrd = payload(tmp, script(tmp, body), KMOD, SELFTEST)
        guest = Guest(initrd, append="testbed.timeout=120", timeout=180)
        out = guest.finish()
    if os.environ.get("BENCH_VERBOSE"):
        print(out, file=sys.stderr)
    results = {}
    for i, chunk in enumerate(re.split(r"CASE \d+\n", out)[1:]):
        r = dict((k, float(v)) for k, v in re.findall(r"(\w+)=([\d.]+)", chunk.split("TESTBED")[0]))
        results[i] = r
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    need_image()
    rounds = []
    for n in range(args.rounds):
        print("bench-link: round %d of %d (a guest boot under TCG)" % (n + 1, args.rounds),
              file=sys.stderr)
        rounds.append(run_round())
    print("\n### anarchy link, simulated, in a TCG guest (median of %d rounds)\n" % args.rounds)
    print("| case | throughput (Mb/s) | modelled rate (Mb/s) | ratio | 64 B RTT p50 (us) "
          "| p99 (us) | min (us) |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, _) in enumerate(CASES):
        def med(key):
            vals = [r[i][key] for r in rounds if i in r and key in r[i]]
            return statistics.median(vals) if vals else float("nan")
        model = med("model_mbps")
        tput = med("throughput_mbps")
        ratio = "%.2f" % (tput / model) if model else "-"
        print("| %s | %.0f | %s | %s | %.1f | %.1f | %.1f |" % (
            name, tput, "%.0f" % model if model else "none", ratio, med("rtt64_p50_us"),
            med("rtt64_p99_us"), med("rtt64_min_us")))


if __name__ == "__main__":
    main()
