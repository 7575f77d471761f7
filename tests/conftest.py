"""Test wiring.

- tests/device/test_*.py are MicroPython scripts: each test_* function runs in its own `micropython`
  process (the sim board's runtime), and a failure shows the MicroPython traceback. A module may set
  HEAPSIZE = "112k" (top-level line) to run at a given heap.
- Everything else is ordinary pytest under CPython, with firmware/ importable through tests/shims.
"""
import os
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "shims"), str(HERE.parent / "firmware")]

from mp import DEFAULT_HEAP, DEVICE_TESTS, OVER_BUDGET_HEAP, run_mp  # noqa: E402

os.environ.setdefault("BRANCHGATE_SIM_HEAP", OVER_BUDGET_HEAP)


class MpFailure(Exception):
    pass


class MpItem(pytest.Item):
    def __init__(self, *, heap, **kw):
        super().__init__(**kw)
        self.heap = heap

    def runtest(self):
        p = run_mp([str(DEVICE_TESTS / "run.py"), self.parent.path.stem, self.name], heap=self.heap)
        if p.returncode != 0:
            raise MpFailure("micropython rc=%d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        sys.stdout.write(p.stdout)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MpFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "[micropython] %s::%s" % (self.path.name, self.name)


class MpModule(pytest.File):
    def collect(self):
        m = re.search(r'^HEAPSIZE\s*=\s*"(\w+)"', self.path.read_text(), re.M)
        heap = m.group(1) if m else DEFAULT_HEAP
        p = run_mp([str(DEVICE_TESTS / "run.py"), self.path.stem, "--list"], heap="8m", timeout=120)
        if p.returncode != 0:
            raise MpFailure("cannot import %s under micropython:\n%s%s" % (self.path.name, p.stdout, p.stderr))
        for name in p.stdout.split():
            yield MpItem.from_parent(self, name=name, heap=heap)


def pytest_report_header(config):
    return "sim boards run with heap %s (BRANCHGATE_SIM_HEAP); the ESP32 budget is 112k" % (
        os.environ["BRANCHGATE_SIM_HEAP"])


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.parent == DEVICE_TESTS:
        return MpModule.from_parent(parent, path=module_path)
    return None
