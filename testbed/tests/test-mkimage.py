#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""testbed/mkimage and testbed/mkpayload without QEMU, on a fake system (TESTBED_SYSROOT):
the newest kernel with modules is picked, or the one asked for, and clear lines say when
there is none or its image is unreadable; the modules come with their dependencies first,
unpacked, with a modules.dep of their own; the archive has the console node, /init and
busybox; nothing is rebuilt when nothing changed, and the same inputs give the same bytes.
mkpayload packs the program, the files, and an ELF file's loader and libraries, and refuses
what would fail in the guest."""
import os
import shutil
import stat
import subprocess
import tempfile

from testbed_harness import (MKIMAGE, MKPAYLOAD, Skip, assert_usage_error, main, read_newc,
                             run, test)

BUSYBOX = os.environ.get("TESTBED_BUSYBOX", "/bin/busybox")
PROBE = os.environ.get("TESTBED_PROBE", "")
SOURCE_INIT = os.path.join(os.path.dirname(MKIMAGE), "init")

# The fake modules.dep: 9p and virtio-rng have dependencies, two come compressed, nfs is one
# the image must leave out; the rest of the default set is built in.
MODULES_DEP = """\
kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.zst kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko.zst:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/thunderbolt/thunderbolt.ko:
kernel/fs/nfs/nfs.ko: kernel/fs/netfs/netfs.ko
"""
BUILTIN = ["drivers/virtio/virtio_pci.ko", "drivers/net/virtio_net.ko",
           "drivers/block/virtio_blk.ko", "drivers/char/virtio_console.ko",
           "net/9p/9pnet_virtio.ko", "fs/fuse/virtiofs.ko", "fs/fuse/fuse.ko",
           "drivers/net/ethernet/intel/e1000/e1000.ko", "drivers/acpi/button.ko",
           "drivers/input/evdev.ko"]
# Dependencies first, in the order of the default list, then --module ones.
LOAD_ORDER = ["kernel/drivers/virtio/virtio.ko", "kernel/drivers/char/hw_random/virtio-rng.ko",
              "kernel/net/9p/9pnet.ko", "kernel/fs/netfs/netfs.ko", "kernel/fs/fscache/fscache.ko",
              "kernel/fs/9p/9p.ko"]


def module_bytes(path):
    return ("fake module %s\n" % path).encode() * 50


def fake_release(sysroot, release, vmlinuz=True, modules=True):
    """A kernel `release` under `sysroot`: /boot/vmlinuz-REL and /lib/modules/REL."""
    os.makedirs(os.path.join(sysroot, "boot"), exist_ok=True)
    if vmlinuz:
        with open(os.path.join(sysroot, "boot", "vmlinuz-" + release), "wb") as f:
            f.write(b"fake bzImage " + release.encode() + b"\n")
    if not modules:
        return
    moddir = os.path.join(sysroot, "lib", "modules", release)
    os.makedirs(moddir, exist_ok=True)
    with open(os.path.join(moddir, "modules.dep"), "w") as f:
        f.write(MODULES_DEP)
    with open(os.path.join(moddir, "modules.builtin"), "w") as f:
        f.write("".join("kernel/%s\n" % m for m in BUILTIN))
    for line in MODULES_DEP.splitlines():
        path = line.split(":")[0]
        plain = path.removesuffix(".xz").removesuffix(".zst")
        full = os.path.join(moddir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        data = module_bytes(plain)
        if path.endswith(".xz"):
            data = subprocess.run(["xz", "-c"], input=data, capture_output=True, check=True).stdout
        elif path.endswith(".zst"):
            data = subprocess.run(["zstd", "-qc"], input=data, capture_output=True,
                                  check=True).stdout
        with open(full, "wb") as f:
            f.write(data)


def need_tools():
    for tool in ["cpio", "xz", "zstd"]:
        if not shutil.which(tool):
            raise Skip("%s not found" % tool)


def fake_busybox(sysroot):
    """A stand-in for busybox-static: not dynamically linked (ldd says so of a script too),
    with a few applets, and small, which keeps these tests fast."""
    path = os.path.join(sysroot, "busybox")
    if not os.path.exists(path):
        os.makedirs(sysroot, exist_ok=True)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n[ \"$1\" = --list ] && printf '%s\\n' [ insmod ls sh\n")
        os.chmod(path, 0o755)
    return path


def mkimage(sysroot, *args, busybox=None):
    env = dict(os.environ, TESTBED_SYSROOT=sysroot,
               TESTBED_BUSYBOX=busybox or fake_busybox(sysroot))
    return run(MKIMAGE, *args, env=env, timeout=120)


@test
def mkimage_usage():
    status, out, err = run(MKIMAGE, "--help")
    assert status == 0 and out.startswith("Usage: testbed/mkimage ") and err == "", (out, err)
    for args, line in [
        (["--bogus", "out"], "unknown option '--bogus'"),
        ([], "missing OUTDIR"),
        (["a", "b"], "unexpected argument 'b'"),
        (["--module", "a b", "out"], "--module: invalid module name 'a b'"),
        (["--kernel-release=../x", "out"], "--kernel-release: invalid release '../x'"),
        (["--kernel-release"], "option '--kernel-release' needs a value"),
    ]:
        assert_usage_error([MKIMAGE, *args], "mkimage: " + line, "mkimage")


@test
def picks_the_newest_kernel_with_modules():
    need_tools()
    with tempfile.TemporaryDirectory() as root:
        for rel in ["5.10.0-1-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64"]:
            fake_release(root, rel)
        fake_release(root, "6.5.0-1-amd64", modules=False)  # modules not installed
        fake_release(root, "7.0.0-1-amd64", vmlinuz=False)  # image removed
        status, out, err = mkimage(root, "--check")
        assert (status, out, err) == (0, "6.1.0-10-amd64\n", ""), (status, out, err)
        status, out, err = mkimage(root, "--check", "--kernel-release", "5.10.0-1-amd64")
        assert (status, out) == (0, "5.10.0-1-amd64\n"), (status, out, err)
        status, out, err = mkimage(root, "--check", "-k", "6.5.0-1-amd64")
        assert status == 1 and err == "mkimage: kernel release '6.5.0-1-amd64': %s/lib/modules/" \
            "6.5.0-1-amd64/modules.dep does not exist\n" % root, (status, err)
        status, out, err = mkimage(root, "--check", "-k", "7.0.0-1-amd64")
        assert status == 1 and err == "mkimage: kernel release '7.0.0-1-amd64': %s/boot/" \
            "vmlinuz-7.0.0-1-amd64 does not exist\n" % root, (status, err)


@test
def no_kernel_or_busybox():
    need_tools()
    with tempfile.TemporaryDirectory() as root:
        fake_release(root, "6.5.0-1-amd64", modules=False)
        status, out, err = mkimage(root, "--check")
        assert status == 1 and err == (
            "mkimage: no installed kernel: need %s/boot/vmlinuz-REL and %s/lib/modules/REL/"
            "modules.dep (apt-get install linux-image-amd64)\n" % (root, root)), err
        fake_release(root, "6.1.0-1-amd64")
        status, out, err = mkimage(root, "--check", busybox=os.path.join(root, "nosuch"))
        assert status == 1 and err == "mkimage: %s/nosuch not found (apt-get install " \
            "busybox-static)\n" % root, err
        # A dynamically linked program stands in for the busybox package's dynamic build.
        dynamic = shutil.which("true")
        status, out, err = mkimage(root, "--check", busybox=dynamic)
        assert status == 1 and err == "mkimage: %s is dynamically linked; the guest needs the " \
            "static one (apt-get install busybox-static)\n" % dynamic, err


@test
def unreadable_vmlinuz_says_how_to_fix():
    """Debian installs /boot/vmlinuz-* mode 0600: one line says so, and what to do."""
    need_tools()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        root = os.path.join(tmp, "root")
        fake_release(root, "6.1.0-1-amd64")
        vmlinuz = os.path.join(root, "boot", "vmlinuz-6.1.0-1-amd64")
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                raise Skip("root, and no setpriv to drop privileges with")
            os.chmod(vmlinuz, 0o600)
            # A copy nobody can read and run, whatever the permissions of the source tree.
            scripts = os.path.join(tmp, "scripts")
            os.mkdir(scripts)
            for f in [MKIMAGE, SOURCE_INIT]:
                shutil.copy(f, scripts)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                   os.path.join(scripts, "mkimage")]
            owner = "root"
        else:
            os.chmod(vmlinuz, 0)
            cmd = [MKIMAGE]
            owner = run("id", "-un")[1].strip()
        env = dict(os.environ, TESTBED_SYSROOT=root, TESTBED_BUSYBOX=fake_busybox(tmp))
        status, out, err = run(*cmd, "--check", env=env)
        mode = "600" if os.geteuid() == 0 else "0"
        assert status == 1 and err == (
            "mkimage: cannot read %s (mode %s, owner %s): run as root, or make it readable for "
            "good with: sudo dpkg-statoverride --update --add root root 0644 %s\n"
            % (vmlinuz, mode, owner, vmlinuz)), err


@test
def image_holds_modules_in_load_order():
    need_tools()
    rel = "6.1.0-1-amd64"
    with tempfile.TemporaryDirectory() as tmp:
        root, out = os.path.join(tmp, "root"), os.path.join(tmp, "out")
        fake_release(root, rel)
        status, stdout, err = mkimage(root, "--module", "thunderbolt", out)
        assert status == 0, err
        assert stdout == "mkimage: built %s (kernel %s, 7 modules, initramfs %d KiB)\n" % (
            out, rel, os.path.getsize(os.path.join(out, "initramfs.cpio.gz")) // 1024), stdout
        # A fake bzImage has no ELF inside: a warning, and no vmlinux.
        assert "no ELF vmlinux" in err and not os.path.exists(os.path.join(out, "vmlinux")), err
        with open(os.path.join(out, "kernel-release")) as f:
            assert f.read() == rel + "\n"
        with open(os.path.join(out, "vmlinuz"), "rb") as f:
            assert f.read() == b"fake bzImage %s\n" % rel.encode()

        entries = read_newc(os.path.join(out, "initramfs.cpio.gz"))
        names = [e[0] for e in entries]
        files = {e[0]: e for e in entries}
        # Only a directory may come twice (bin: the applet links, then busybox).
        dups = {n for n in names if names.count(n) > 1}
        assert all(stat.S_ISDIR(files[n][1]) for n in dups), dups
        # The console node comes first, so that the kernel can give /init its stdio.
        name, mode, rdev, _ = entries[1]
        assert name == "dev/console" and stat.S_ISCHR(mode) and rdev == (5, 1), entries[1]
        with open(SOURCE_INIT, "rb") as f:
            assert files["init"][3] == f.read() and files["init"][1] & 0o755 == 0o755
        with open(fake_busybox(root), "rb") as f:
            assert files["bin/busybox"][3] == f.read()
        for applet in ["[", "insmod", "ls", "sh"]:
            link = files["bin/" + applet]
            assert stat.S_ISLNK(link[1]) and link[3] == b"busybox", link
        assert stat.S_ISLNK(files["sbin"][1]) and files["sbin"][3] == b"bin"

        order = LOAD_ORDER + ["kernel/drivers/thunderbolt/thunderbolt.ko"]
        prefix = "lib/modules/%s/" % rel
        assert files["etc/testbed/modules"][3].decode() == "".join(
            "/%s%s\n" % (prefix, m) for m in order), files["etc/testbed/modules"][3]
        for m in order:
            assert files[prefix + m][3] == module_bytes(m), "%s differs" % m
        assert prefix + "kernel/fs/nfs/nfs.ko" not in files
        dep = files[prefix + "modules.dep"][3].decode().splitlines()
        assert "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko " \
            "kernel/fs/netfs/netfs.ko" in dep, dep
        assert len(dep) == len(order), dep
        assert files["etc/testbed/kernel-release"][3] == (rel + "\n").encode()

        status, _, err = mkimage(root, "--module", "nosuch", out)
        assert status == 1 and err == "mkimage: module 'nosuch' is in neither %s/lib/modules/%s/" \
            "modules.dep nor modules.builtin\n" % (root, rel), err
        os.unlink(os.path.join(root, "lib", "modules", rel, "kernel", "fs", "netfs", "netfs.ko"))
        status, _, err = mkimage(root, out)
        assert status == 1 and err == "mkimage: %s/lib/modules/%s/kernel/fs/netfs/netfs.ko is " \
            "missing (listed in modules.dep)\n" % (root, rel), err


@test
def rebuilds_only_when_inputs_change():
    need_tools()
    rel = "6.1.0-1-amd64"
    with tempfile.TemporaryDirectory() as tmp:
        root, out = os.path.join(tmp, "root"), os.path.join(tmp, "out")
        fake_release(root, rel)
        initramfs = os.path.join(out, "initramfs.cpio.gz")
        assert mkimage(root, out)[0] == 0
        with open(initramfs, "rb") as f:
            first = f.read()
        before = os.stat(initramfs).st_mtime_ns

        status, stdout, _ = mkimage(root, out)
        assert (status, stdout) == (0, "mkimage: %s is up to date (kernel %s)\n" % (out, rel))
        assert os.stat(initramfs).st_mtime_ns == before

        # Forced, the same inputs give the same bytes.
        status, stdout, _ = mkimage(root, "--force", out)
        assert status == 0 and stdout.startswith("mkimage: built "), stdout
        with open(initramfs, "rb") as f:
            assert f.read() == first, "not reproducible"

        for change in [
            lambda: open(os.path.join(root, "lib", "modules", rel, "kernel", "fs", "netfs",
                                      "netfs.ko"), "ab").write(b"new"),
            lambda: os.unlink(os.path.join(out, "kernel-release")),
        ]:
            change()
            status, stdout, _ = mkimage(root, out)
            assert status == 0 and stdout.startswith("mkimage: built "), stdout
        status, stdout, _ = mkimage(root, "--module", "thunderbolt", out)
        assert status == 0 and stdout.startswith("mkimage: built "), stdout


@test
def mkpayload_usage():
    status, out, err = run(MKPAYLOAD, "--help")
    assert status == 0 and out.startswith("Usage: testbed/mkpayload ") and err == "", (out, err)
    for args, line in [
        ([], "missing OUT.cpio.gz"),
        (["out.cpio.gz"], "missing PROGRAM"),
        (["--bogus", "out.cpio.gz", "prog"], "unknown option '--bogus'"),
    ]:
        assert_usage_error([MKPAYLOAD, *args], "mkpayload: " + line, "mkpayload")


def ldd_paths(path):
    out = run("ldd", path)[1]
    paths = set()
    for line in out.splitlines():
        words = line.split()
        if "=>" in words and words[words.index("=>") + 1].startswith("/"):
            paths.add(words[words.index("=>") + 1])
        elif words and words[0].startswith("/"):
            paths.add(words[0])
    return paths


@test
def mkpayload_packs_program_files_and_libraries():
    program = PROBE if PROBE and os.access(PROBE, os.X_OK) else shutil.which("true")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.txt")
        with open(data, "w") as f:
            f.write("data\n")
        sub = os.path.join(tmp, "dir")
        os.mkdir(sub)
        with open(os.path.join(sub, "inner"), "w") as f:
            f.write("inner\n")
        out = os.path.join(tmp, "p.cpio.gz")
        status, stdout, err = run(MKPAYLOAD, out, program, data, sub)
        assert (status, stdout, err) == (0, "", ""), (status, stdout, err)
        files = {e[0]: e for e in read_newc(out)}
        with open(program, "rb") as f:
            assert files["testbed/run"][3] == f.read()
        assert files["testbed/run"][1] & 0o777 == 0o755
        assert files["testbed/data.txt"][3] == b"data\n"
        assert files["testbed/dir/inner"][3] == b"inner\n"
        libs = ldd_paths(program)
        assert any("ld-linux" in lib for lib in libs), libs  # it is dynamically linked
        for lib in libs:
            with open(lib, "rb") as f:
                assert files[lib.lstrip("/")][3] == f.read(), lib
        # Directories come before what they hold, and / keeps its mode (no "." entry).
        names = list(files)
        assert "." not in names and names.index("testbed") < names.index("testbed/run")
        assert all(f[1] & 0o7777 == 0o755 for f in files.values() if stat.S_ISDIR(f[1]))

        # A static program brings nothing else.
        status, _, err = run(MKPAYLOAD, out, BUSYBOX)
        assert status == 0, err
        assert sorted(e[0] for e in read_newc(out)) == ["testbed", "testbed/run"]


@test
def mkpayload_refuses_what_would_fail_in_the_guest():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.cpio.gz")
        bash = os.path.join(tmp, "bash.sh")
        with open(bash, "w") as f:
            f.write("#!/bin/bash\necho hi\n")
        env_py = os.path.join(tmp, "py.sh")
        with open(env_py, "w") as f:
            f.write("#!/usr/bin/env python3\n")
        ok = os.path.join(tmp, "ok.sh")
        with open(ok, "w") as f:
            f.write("#!/bin/sh\necho hi\n")
        os.mkdir(os.path.join(tmp, "other"))
        again = os.path.join(tmp, "other", "ok.sh")
        shutil.copy(ok, again)
        for args, line in [
            ([out, bash], "'%s' runs under '/bin/bash', which the guest does not have (use "
             "#!/bin/sh)" % bash),
            ([out, env_py], "'%s' runs under 'python3', which the guest does not have (use "
             "#!/bin/sh)" % env_py),
            ([out, os.path.join(tmp, "nosuch")], "program '%s/nosuch' is not a file" % tmp),
            ([out, ok, os.path.join(tmp, "gone")], "'%s/gone' does not exist" % tmp),
            ([out, ok, ok, again], "'%s': a second file named 'ok.sh' in /testbed" % again),
            ([os.path.join(tmp, "no", "p.cpio.gz"), ok],
             "cannot write '%s/no/p.cpio.gz': directory '%s/no' does not exist" % (tmp, tmp)),
        ]:
            status, stdout, err = run(MKPAYLOAD, *args)
            assert (status, stdout, err) == (1, "", "mkpayload: %s\n" % line), (args, err)
        assert not os.path.exists(out)
        assert [f for f in os.listdir(tmp) if f.startswith("p.cpio.gz")] == []


if __name__ == "__main__":
    raise SystemExit(main())
