# SPDX-License-Identifier: MIT
"""A small harness for the tests of the project's command-line tools, in the manner of
common/tests.h: each @test function runs in turn and prints "PASS name (ms)", "FAIL name:
why", "SKIP name: why" or "ERROR name: why" (ERROR: the environment is broken, not the
code); the last line is "# prog: N passed, N failed, N skipped, N errors", which
scripts/run-tests counts. The exit status is 0 when nothing failed or errored, 77 when every
test was skipped, 1 otherwise.

The binary under test is named by the environment variable TOOL (meson sets it) and calls
itself TOOL_NAME in its messages. Usage: test-*.py [NAME-OR-GLOB...]"""
import fnmatch
import os
import signal
import subprocess
import sys
import time
import traceback

TOOL = os.environ.get("TOOL", "")
TOOL_NAME = os.environ.get("TOOL_NAME", os.path.basename(TOOL))
TIMEOUT = 30  # seconds any one command may take
_tests = []


class Skip(Exception):
    pass


class EnvironmentBroken(Exception):
    pass


def test(fn):
    _tests.append(fn)
    return fn


def run(*args, stdin=None, timeout=TIMEOUT, env=None):
    """Runs the tool to completion; returns (status, stdout bytes, stderr text)."""
    p = subprocess.run([TOOL, *args], input=stdin, capture_output=True, timeout=timeout,
                       env=env, stdin=None if stdin is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


_children = []


def spawn(*args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE):
    """Starts the tool in the background; it is killed at the end of the test if still there.
    Its output goes to a pipe that nobody reads until finish(): pass a file as stdout when it
    may write more than a pipe holds (64K)."""
    p = subprocess.Popen([TOOL, *args], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    _children.append(p)
    return p


def finish(p, timeout=TIMEOUT):
    """Waits for a spawned tool; returns (status, stdout bytes, stderr text)."""
    if p.stdin and p.stdin.closed:
        p.stdin = None  # communicate() would flush it
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out or b"", err.decode(errors="replace")


def wait_for(what, predicate, timeout=10.0):
    """Polls predicate() until it returns something true, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def assert_usage_error(args, line, verb=None):
    """The tool exits 2 with exactly `line` and the Try line on stderr, nothing on stdout."""
    status, out, err = run(*args)
    try_line = "Try '%s %s--help'." % (TOOL_NAME, verb + " " if verb else "")
    assert status == 2, "%r: status %d, stderr %r" % (args, status, err)
    assert out == b"", "%r: stdout %r" % (args, out)
    assert err.splitlines() == [line, try_line], "%r: stderr %r, expected %r" % (args, err, line)


def main(require_tool=True, cleanup=None):
    """Runs the @test functions named on the command line (all by default). require_tool:
    TOOL must name an executable. cleanup: called after every test, pass or fail, to end
    what it started (spawned tools are killed here in any case)."""
    prog = os.path.basename(sys.argv[0]).removesuffix(".py")
    patterns = sys.argv[1:]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0, "ERROR": 0}
    if require_tool and (not TOOL or not os.access(TOOL, os.X_OK)):
        print("ERROR %s: TOOL does not name the binary under test (%r)" % (prog, TOOL))
        print("# %s: 0 passed, 0 failed, 0 skipped, 1 errors" % prog)
        return 1
    for fn in _tests:
        name = fn.__name__
        if patterns and not any(fnmatch.fnmatch(name, p) for p in patterns):
            continue
        start = time.monotonic()
        try:
            fn()
            verdict, why = "PASS", ""
        except Skip as e:
            verdict, why = "SKIP", str(e)
        except EnvironmentBroken as e:
            verdict, why = "ERROR", str(e)
        except Exception as e:  # an assertion, a timeout, a crash of the tool: all fail
            traceback.print_exc(file=sys.stderr)
            verdict, why = "FAIL", "%s: %s" % (type(e).__name__, e)
        finally:
            for p in _children:
                if p.poll() is None:
                    p.kill()
                p.wait()
                for f in (p.stdout, p.stderr, p.stdin):
                    if f:
                        f.close()
            _children.clear()
            if cleanup:
                cleanup()
        counts[verdict] += 1
        if verdict == "PASS":
            print("PASS %s (%.1f ms)" % (name, (time.monotonic() - start) * 1000))
        else:
            print("%s %s: %s" % (verdict, name, why.splitlines()[0] if why else ""))
        sys.stdout.flush()
    print("# %s: %d passed, %d failed, %d skipped, %d errors"
          % (prog, counts["PASS"], counts["FAIL"], counts["SKIP"], counts["ERROR"]))
    if counts["FAIL"] or counts["ERROR"]:
        return 1
    if counts["SKIP"] and not counts["PASS"]:
        return 77
    return 0


def signal_and_finish(p, sig=signal.SIGINT):
    p.send_signal(sig)
    return finish(p)
