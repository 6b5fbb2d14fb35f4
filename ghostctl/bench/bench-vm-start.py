#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How long `ghostctl vm start` takes to exec QEMU, side by side with the launcher it
replaces: a shell script that execs QEMU with the same command line.

Both launch QEMU through exec-stamp, which records the moment it is exec'd and then becomes
the real QEMU. Latency = that moment minus the moment the launcher was spawned, so it counts
the launcher's own exec, dynamic linking, settings, profile parsing and checks. Each run
then stops the VM (ghostctl vm stop --force). Prints a table and the ratio of medians.

Usage: bench-vm-start.py GHOSTCTL EXEC_STAMP [--runs N] [--json]"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def stamp_of(path):
    """The stamp, or 0 while exec-stamp is still writing it."""
    try:
        with open(path) as f:
            return int(f.read())
    except (FileNotFoundError, ValueError):
        return 0


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ghostctl, stamp_prog = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 20
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("bench-vm-start: qemu-system-x86_64 is not installed", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="gc-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHOSTCTL_", "XDG_"))}
    env.update(HOME=tmp, XDG_DATA_HOME=tmp + "/data", XDG_RUNTIME_DIR=tmp + "/run",
               GHOSTCTL_SYSCONFDIR=tmp + "/etc", GHOSTCTL_VM_QEMU=stamp_prog,
               GHOSTCTL_VM_ACCEL="tcg", GC_REAL_QEMU=qemu, GC_STAMP_FILE=tmp + "/stamp")
    os.makedirs(tmp + "/run", mode=0o700)
    run = lambda *a: subprocess.run([ghostctl, *a], env=env, check=True,  # noqa: E731
                                    capture_output=True, text=True)
    try:
        run("vm", "create", "lat", "--template", "server", "--disk", "none", "--disk", "16M",
            "--memory", "64M", "--cores", "1")
        argv = run("vm", "start", "lat", "--dry-run").stdout.splitlines()[-1]
        gc_ms, sh_ms, total_ms = [], [], []
        for _ in range(runs):
            t0 = time.monotonic_ns()
            subprocess.run([ghostctl, "vm", "start", "lat", "--detach"], env=env, check=True,
                           capture_output=True)
            t1 = time.monotonic_ns()
            gc_ms.append((stamp_of(tmp + "/stamp") - t0) / 1e6)
            total_ms.append((t1 - t0) / 1e6)
            run("vm", "stop", "lat", "--force")
            # The anchor: a launcher script with the same command line.
            script = tmp + "/launch.sh"
            with open(script, "w") as f:
                f.write("#!/bin/sh\nexec %s\n" % argv)
            os.chmod(script, 0o755)
            t0 = time.monotonic_ns()
            p = subprocess.Popen([script], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            while stamp_of(tmp + "/stamp") < t0:
                time.sleep(0.0005)
            sh_ms.append((stamp_of(tmp + "/stamp") - t0) / 1e6)
            p.kill()
            p.wait()
        result = {
            "runs": runs,
            "ghostctl_to_exec_ms": {"median": statistics.median(gc_ms),
                                    "p90": sorted(gc_ms)[int(0.9 * (runs - 1))]},
            "shell_script_to_exec_ms": {"median": statistics.median(sh_ms),
                                        "p90": sorted(sh_ms)[int(0.9 * (runs - 1))]},
            "ghostctl_start_until_qmp_ready_ms": {"median": statistics.median(total_ms)},
        }
        result["ratio_ghostctl_to_script"] = (result["ghostctl_to_exec_ms"]["median"] /
                                              result["shell_script_to_exec_ms"]["median"])
        if "--json" in sys.argv:
            print(json.dumps(result, indent=2))
        else:
            print("vm start latency, %d runs (CLOCK_MONOTONIC; exec of QEMU)" % runs)
            print("  %-34s median %7.2f ms   p90 %7.2f ms" % (
                "ghostctl vm start -> exec", result["ghostctl_to_exec_ms"]["median"],
                result["ghostctl_to_exec_ms"]["p90"]))
            print("  %-34s median %7.2f ms   p90 %7.2f ms" % (
                "sh launcher script -> exec", result["shell_script_to_exec_ms"]["median"],
                result["shell_script_to_exec_ms"]["p90"]))
            print("  %-34s median %7.2f ms" % (
                "ghostctl vm start, until QMP ready",
                result["ghostctl_start_until_qmp_ready_ms"]["median"]))
            print("RATIO ghostctl/script %.2fx (target: under 20 ms absolute)"
                  % result["ratio_ghostctl_to_script"])
        return 0
    finally:
        subprocess.run([ghostctl, "vm", "stop", "lat", "--force"], env=env,
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
