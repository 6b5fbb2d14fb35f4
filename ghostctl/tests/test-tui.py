#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`ghostctl vm tui` as a user drives it: in a tmux pane (send-keys in, capture-pane out),
checking the vm.ini it saves. Each test gets a fresh HOME, XDG_DATA_HOME and
GHOSTCTL_SYSCONFDIR, and its own tmux server on a private socket, killed when it ends.
Skipped where tmux is missing."""
import os
import shlex
import shutil
import subprocess
import tempfile

import cli_harness
from cli_harness import Skip, main, test, wait_for

TMUX = shutil.which("tmux")
LABEL = slice(2, 18)  # where tui.c draws a row's label; the focused row starts with '>'
_sandbox = None
_servers = 0


def sandbox(color=False):
    """A fresh HOME, XDG_DATA_HOME and system config dir, in the environment of the tool."""
    global _sandbox
    if _sandbox:
        shutil.rmtree(_sandbox, ignore_errors=True)
    _sandbox = tempfile.mkdtemp(prefix="gc-tui-")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GHOSTCTL_", "XDG_", "TMUX", "NO_COLOR", "LC_"))}
    env.update(HOME=_sandbox + "/home", GHOSTCTL_SYSCONFDIR=_sandbox + "/etc",
               XDG_DATA_HOME=_sandbox + "/data", TMUX_TMPDIR=_sandbox, LANG="C.UTF-8")
    if not color:
        env["NO_COLOR"] = "1"
    os.makedirs(_sandbox + "/home")
    os.makedirs(_sandbox + "/etc/ghostctl")
    with open(_sandbox + "/tmux.conf", "w") as f:
        f.write("set -g default-terminal xterm-256color\nset -g escape-time 0\n")
    return env


def ini_path(name):
    return "%s/data/ghostctl/vms/%s/vm.ini" % (_sandbox, name)


class Pane:
    """ghostctl ARGS running in a detached tmux session of a server of its own."""

    def __init__(self, env, *args, width=100, height=30):
        if not TMUX:
            raise Skip("tmux is not installed")
        global _servers
        _servers += 1
        self.env = env
        self.socket = "gc-tui-%d-%d" % (os.getpid(), _servers)
        # The shell stays after the tool exits, so that its status can be read off the pane.
        command = "%s; echo \"[exit $?]\"; exec sleep 600" % shlex.join(
            [cli_harness.TOOL, *args])
        self.tmux("new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height),
                  command)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], env=self.env,
                       capture_output=True, timeout=10)

    def tmux(self, *args):
        p = subprocess.run([TMUX, "-L", self.socket, "-f", _sandbox + "/tmux.conf", *args],
                           env=self.env, capture_output=True, timeout=10)
        assert p.returncode == 0, "tmux %r: %s" % (args, p.stderr.decode(errors="replace"))
        return p.stdout.decode(errors="replace")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "tui").splitlines()

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "tui", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "tui", "-l", text)

    def wait(self, what, predicate, timeout=10.0):
        """Waits until predicate(screen) is true; the screen goes into the failure."""
        last = []

        def check():
            last[:] = self.screen()
            return predicate(last)
        try:
            return wait_for(what, check, timeout)
        except AssertionError as e:
            raise AssertionError("%s; the screen:\n%s" % (e, "\n".join(last))) from None

    def wait_text(self, text, timeout=10.0):
        return self.wait(repr(text), lambda s: any(text in line for line in s), timeout)

    def focused(self, screen=None):
        """The label and value of the focused row, or None."""
        for line in screen if screen is not None else self.screen():
            if line.startswith("> "):
                return line[LABEL].strip(), line[LABEL.stop + 1:].rstrip()
        return None

    def status(self, screen=None):
        screen = screen if screen is not None else self.screen()
        return screen[-2].strip() if len(screen) >= 2 else ""

    def focus(self, label):
        """Moves the focus with Down, then Up, until the row `label` has it."""
        for key in ["Down", "Up"]:
            while True:
                now = self.focused()
                if now and now[0] == label:
                    return
                self.keys(key)
                try:
                    # None: caught between two draws; wait for the whole new one.
                    self.wait("focus to leave %r" % (now,),
                              lambda s: self.focused(s) not in (None, now), timeout=1.0)
                except AssertionError:
                    break  # at the end, or the value was refused
        raise AssertionError("no row %r; focus %r, status %r"
                             % (label, self.focused(), self.status()))

    def replace(self, value):
        """Replaces the focused text and leaves the row downwards."""
        label = self.focused()[0]
        self.keys("C-u")
        self.type(value)
        self.keys("Down")
        self.wait("focus to leave %r" % label,
                  lambda s: self.focused(s) is not None and self.focused(s)[0] != label)

    def quit(self, confirm=False):
        self.keys("F10")
        if confirm:
            self.wait_text("Quit without saving the changes?")
            self.keys("y")
        self.wait_text("[exit 0]")


def focused_value(pane, screen):
    focused = pane.focused(screen)
    return focused[1] if focused else ""


@test
def create_from_a_template_and_save():
    env = sandbox(color=True)
    with Pane(env, "vm", "tui", "newvm", "--template=dev") as pane:
        pane.wait_text("ghostctl vm tui: newvm (new)")
        assert pane.focused() == ("description", "Development machine"), pane.focused()
        pane.focus("cores")
        pane.replace("8")
        pane.focus("memory")
        pane.replace("16G")
        pane.focus("display")
        pane.keys("Right", "Right", "Space", "Right")
        pane.wait("display spice", lambda s: "[spice]" in focused_value(pane, s))
        pane.focus("add share")
        pane.type("/srv/data")
        pane.keys("Enter")
        pane.wait_text("path=/srv/data,tag=data,type=9p")
        pane.focus("add pci")
        pane.type("01:00.0")
        pane.keys("Enter")
        pane.wait_text("0000:01:00.0")
        pane.wait_text("[modified]")
        pane.keys("F2")
        pane.wait("saved", lambda s: pane.status(s).startswith("Saved "))
        assert pane.status().endswith("/vms/newvm/vm.ini"), pane.status()
        lines = open(ini_path("newvm")).read().splitlines()
        for want in ["template = dev", "cores = 8", "size = 16G", "type = spice",
                     "disk = path=disk0.qcow2,size=64G,bus=virtio,format=qcow2",
                     "folder = path=/srv/data,tag=data,type=9p", "pci = 0000:01:00.0"]:
            assert want in lines, (want, lines)
        assert not any("[modified]" in line for line in pane.screen())
        pane.quit()  # saved: no question
    # What the form saved is what the CLI reads.
    status, out, err = cli_harness.run("vm", "show", "newvm", env=env)
    assert status == 0 and "cores = 8" in out.decode(), (status, err)


@test
def an_invalid_value_is_refused_and_nothing_saved():
    env = sandbox()
    with Pane(env, "vm", "tui", "bad", "--template=dev") as pane:
        pane.wait_text("ghostctl vm tui: bad (new)")
        pane.focus("memory")
        pane.keys("C-u")
        pane.type("12Q")
        pane.keys("Down")
        error = "memory: invalid size '12Q' (16M to 16T, whole MiB)"
        pane.wait("the error", lambda s: pane.status(s) == error)
        assert pane.focused() == ("memory", "12Q"), pane.focused()
        # Saving checks it again: clear the line first, to see it come back.
        pane.keys("Left")
        pane.wait("status cleared", lambda s: pane.status(s) == "")
        pane.keys("F2")
        pane.wait("the error again", lambda s: pane.status(s) == error)
        assert not os.path.exists(ini_path("bad"))
        pane.quit(confirm=True)
    assert not os.path.exists(os.path.dirname(ini_path("bad")))


@test
def edit_and_quit_without_saving_leaves_the_file_alone():
    env = sandbox()
    status, _, err = cli_harness.run("vm", "create", "old", "--template=server", env=env)
    assert status == 0, err
    before = open(ini_path("old"), "rb").read()
    mtime = os.stat(ini_path("old")).st_mtime_ns
    with Pane(env, "vm", "tui", "old") as pane:
        pane.wait_text("ghostctl vm tui: old")
        assert not any("(new)" in line for line in pane.screen())
        pane.focus("cores")
        assert pane.focused() == ("cores", "2"), pane.focused()
        pane.replace("7")
        pane.focus("hugepages")
        pane.keys("Space")
        pane.focus("add usb")
        pane.type("046d:c52b")
        pane.keys("Enter")
        pane.wait_text("046d:c52b")
        pane.quit(confirm=True)
    with Pane(env, "vm", "tui", "old") as pane:
        pane.wait_text("ghostctl vm tui: old")
        pane.quit()  # nothing changed: no question
    assert open(ini_path("old"), "rb").read() == before
    assert os.stat(ini_path("old")).st_mtime_ns == mtime


@test
def a_new_vm_without_a_name_asks_for_one():
    env = sandbox()
    with Pane(env, "vm", "tui", "--template=server") as pane:
        pane.wait_text("ghostctl vm tui: (new VM) (new)")
        assert pane.focused() == ("name", ""), pane.focused()
        pane.keys("F2")
        pane.wait("name error", lambda s: pane.status(s) == "name: the new VM needs a name")
        pane.type("named")
        pane.keys("C-s")
        pane.wait("saved", lambda s: pane.status(s).startswith("Saved "))
        assert pane.focused()[0] == "description", pane.focused()  # the name row is gone
        pane.quit()
    assert "template = server" in open(ini_path("named")).read()


@test
def resizing_the_pane_redraws():
    env = sandbox()
    with Pane(env, "vm", "tui", "rz", "--template=gaming", width=80, height=24) as pane:
        pane.wait_text("ghostctl vm tui: rz (new)")
        pane.focus("add share")  # below the first screen: the form scrolled
        assert not any(line.startswith("[vm]") for line in pane.screen())
        for width, height in [(50, 12), (30, 6), (120, 40), (80, 24)]:
            pane.tmux("resize-window", "-t", "tui", "-x", str(width), "-y", str(height))
            if width < 40 or height < 8:
                pane.wait_text("Terminal too small")
            else:
                pane.wait("%dx%d" % (width, height), lambda s, w=width: (
                    len(s) == height and max(map(len, s)) <= w and
                    pane.focused(s) and pane.focused(s)[0] == "add share"))
        pane.type("/srv/x")
        pane.keys("Enter")
        pane.keys("F2")
        pane.wait("saved", lambda s: pane.status(s).startswith("Saved "))
        pane.quit()
    assert "folder = path=/srv/x,tag=x,type=9p" in open(ini_path("rz")).read()


@test
def scripts_are_sent_to_create_and_edit():
    env = sandbox()
    status, out, err = cli_harness.run("vm", "tui", "x", env=env)  # stdin is /dev/null
    assert status == 1 and out == b"", (status, out)
    assert err == ("ghostctl: vm tui: needs a terminal; use 'ghostctl vm create' or 'vm edit' "
                   "in scripts\n"), err
    assert cli_harness.run("vm", "create", "old", "--template=dev", env=env)[0] == 0
    status, out, err = cli_harness.run("vm", "tui", "old", "--template=dev", env=env)
    assert status == 2 and err.splitlines() == [
        "ghostctl: vm tui: --template: VM 'old' exists already; a template is for a new VM",
        "Try 'ghostctl vm tui --help'."], (status, err)
    status, out, err = cli_harness.run("vm", "tui", "--help", env=env)
    assert status == 0 and b"Usage: ghostctl vm tui [NAME] [--template=T]" in out, out


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    finally:
        if _sandbox:
            shutil.rmtree(_sandbox, ignore_errors=True)
