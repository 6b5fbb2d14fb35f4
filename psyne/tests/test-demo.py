#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""psyne-demo's command line (psyne/tools/psyne-demo.c): --help, and every usage error as
one line naming it, the Try line and status 2, in the project's words (docs/CONTRIBUTING.md,
"Command-line programs"). The demo itself streams for seconds and runs the bench: its
latency percentiles are tested in test-latency.c."""
import sys

from cli_harness import assert_usage_error, main, run, test


@test
def help_on_stdout():
    status, out, err = run("--help")
    assert (status, err) == (0, ""), (status, err)
    assert out.decode().startswith("Usage: psyne-demo [OPTIONS]\n"), out
    assert run("-h") == (status, out, err)


@test
def usage_errors():
    for args, line in [
        (["--bogus"], "unknown option '--bogus'"),
        (["-x"], "unknown option '-x'"),
        (["-t"], "option '-t' needs a value"),
        (["--seconds"], "option '--seconds' needs a value"),
        (["--help=yes"], "option '--help' takes no value"),
        (["--seconds=0"], "--seconds: invalid duration '0' (1 to 3600)"),
        (["-t", "3601"], "--seconds: invalid duration '3601' (1 to 3600)"),
        (["--size=8"], "--size: invalid size '8' (16 to 16M)"),
        (["-s", "17M"], "--size: invalid size '17M' (16 to 16M)"),
        (["--log-level=loud"], "--log-level: invalid level 'loud'"),
        (["extra"], "unexpected argument 'extra'"),
    ]:
        assert_usage_error(args, "psyne-demo: " + line)


if __name__ == "__main__":
    sys.exit(main())
