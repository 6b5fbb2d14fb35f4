#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The psyne tool's dispatcher (psyne/tools/psyne.c): help, version and usage errors of the
verb table. The verbs have their own files: test-tool-cat.py, test-tool-stat.py."""
import os
import re
import sys

from tool_harness import TOOL, assert_usage_error, main, run, test

VERBS = ["cat", "stat", "bench", "help"]


@test
def help_lists_every_verb():
    status, out, err = run("--help")
    assert status == 0 and err == "", (status, err)
    text = out.decode()
    assert text.startswith("Usage: psyne [OPTIONS] VERB [ARGS...]\n"), text
    for verb in VERBS:
        assert re.search(r"^  %s +\S" % verb, text, re.M), "verb %s not listed" % verb
    assert "Exit status: 0 on success, 1 on failure, 2 on usage errors." in text
    # `psyne help`, `psyne -h` and `psyne help --help` say the same.
    for args in (["help"], ["-h"], ["help", "--help"]):
        assert run(*args)[:2] == (0, out), args


@test
def verb_help():
    for verb in ["cat", "stat"]:
        status, out, err = run(verb, "--help")
        assert status == 0 and err == "", (verb, status, err)
        assert out.decode().startswith("Usage: psyne %s " % verb), out
        assert "Exit status:" in out.decode()
        assert run("help", verb)[:2] == (0, out), verb
        assert run(verb, "-h")[:2] == (0, out), verb


@test
def bench_runs_psyne_bench():
    """psyne bench hands every argument to psyne-bench, found in the build tree."""
    bench = os.path.join(os.path.dirname(TOOL), "..", "bench", "psyne-bench")
    status, out, err = run("bench", "--help")
    assert status == 0, (status, err)
    text = out.decode()
    assert text.startswith("Usage: psyne bench [BENCH-OPTIONS...]\n"), text
    if not os.access(bench, os.X_OK):
        # Built without -Dbench: the verb's own help is all there is, and running it says
        # why it cannot, once (when psyne-bench is not in PATH either).
        env = dict(os.environ, PATH="/nonexistent")
        status, out, err = run("bench", "--quick", env=env)
        assert (status, out) == (1, b""), (status, out, err)
        assert err == ("psyne: bench: cannot run psyne-bench: No such file or directory "
                       "(build it with 'make bench')\n"), err
        return
    assert "Usage: psyne-bench [OPTIONS]" in text, text
    status, out, err = run("bench", "--smoke", "--only=calib", timeout=120)
    assert status == 0, (status, out, err)
    # Three sizes pinned, and 64 B in each other placement.
    assert "smoke: 0 of 6 cells failed" in out.decode() + err, (out, err)
    status, out, err = run("bench", "--no-such-option")
    assert status == 2, (status, out, err)


@test
def version():
    status, out, err = run("--version")
    assert status == 0 and err == "", (status, err)
    assert re.fullmatch(rb"psyne \d+\.\d+\.\d+\n", out), out


@test
def usage_errors():
    assert_usage_error([], "psyne: missing verb")
    assert_usage_error(["bogus"], "psyne: unknown verb 'bogus'")
    assert_usage_error(["--bogus"], "psyne: unknown option '--bogus'")
    assert_usage_error(["-q"], "psyne: unknown option '-q'")
    assert_usage_error(["--version=2"], "psyne: option '--version' takes no value")
    assert_usage_error(["--log-level"], "psyne: option '--log-level' needs a value")
    assert_usage_error(["--log-level=loud", "stat"], "psyne: --log-level: invalid level 'loud'")
    assert_usage_error(["help", "bogus"], "psyne: help: unknown verb 'bogus'", "help")
    assert_usage_error(["help", "cat", "stat"], "psyne: help: unexpected argument 'stat'", "help")
    assert_usage_error(["cat"], "psyne: cat: missing argument (usage: psyne cat URI [OPTIONS])",
                       "cat")
    assert_usage_error(["cat", "ipc://a", "ipc://b"], "psyne: cat: unexpected argument 'ipc://b'",
                       "cat")
    assert_usage_error(["cat", "ipc://a", "--x"], "psyne: cat: unknown option '--x'", "cat")
    assert_usage_error(["stat", "a", "b"], "psyne: stat: unexpected argument 'b'", "stat")
    assert_usage_error(["stat", "--log-level=x"], "psyne: stat: --log-level: invalid level 'x'",
                       "stat")


@test
def log_level_is_accepted_everywhere():
    assert run("--log-level=debug", "help")[0] == 0
    assert run("help", "--log-level=error")[0] == 0
    assert run("stat", "--log-level=warning", "--help")[0] == 0


if __name__ == "__main__":
    sys.exit(main())
