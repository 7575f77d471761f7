"""Every firmware module compiles with mpy-cross, for the sim board and for the chips' architectures,
so syntax MicroPython rejects (or a module too big for the device compiler) fails the build. Always
with -march: the firmware's viper functions have no bytecode form."""
import os
import subprocess
from pathlib import Path

import pytest

from branchgate.mpy import compile_file, sim_arch
from mp import FIRMWARE, MICROPYTHON, MPY_CROSS

SOURCES = sorted(FIRMWARE.rglob("*.py"))


VIPER = """import micropython
@micropython.viper
def total(b, n: int) -> int:
    p = ptr8(b)
    s = 0
    for i in range(n):
        s += p[i]
    return s
"""


def test_default_arch_runs_viper_on_the_sim_board(tmp_path):
    (tmp_path / "nat.py").write_text(VIPER)
    compile_file(tmp_path / "nat.py", tmp_path / "mpy" / "nat.mpy")  # no march: the sim board's
    p = subprocess.run([MICROPYTHON, "-c", "import nat; print(nat.total(b'abc', 3))"], capture_output=True,
                       text=True, env=dict(os.environ, MICROPYPATH=str(tmp_path / "mpy")))
    assert p.stdout.strip() == str(97 + 98 + 99), p.stderr


@pytest.mark.parametrize("march", [sim_arch(), "xtensawin", "rv32imc"])
def test_firmware_compiles(tmp_path, march):
    assert SOURCES, "no firmware sources found"
    failures = []
    for src in SOURCES:
        out = tmp_path / (src.stem + ".mpy")
        cmd = [MPY_CROSS, "-o", str(out), "-march=" + march, str(src)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0 or not out.exists():
            failures.append("%s: %s" % (src.relative_to(FIRMWARE), (p.stderr or p.stdout).strip()))
    assert not failures, "\n".join(failures)


FAILS_ON_LINE_4 = """def f(x):
    y = x + 1
    z = y * 2
    return z // 0
"""


@pytest.mark.parametrize("lines", [False, True])
def test_line_numbers_only_when_asked(tmp_path, monkeypatch, lines):
    """Bytecode the board loads into its heap leaves line numbers out; BRANCHGATE_SOURCE_LINES=1 keeps
    them (MicroPython's traceback is the oracle: it names line 4 only if the table is there)."""
    monkeypatch.setenv("BRANCHGATE_SOURCE_LINES", "1" if lines else "0")
    (tmp_path / "div.py").write_text(FAILS_ON_LINE_4)
    out = compile_file(tmp_path / "div.py", tmp_path / "mpy" / "div.mpy")
    p = subprocess.run([MICROPYTHON, "-c", "import div; div.f(1)"], capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=str(tmp_path / "mpy")))
    trace = p.stdout + p.stderr  # the unix port prints uncaught exceptions on stdout
    assert "ZeroDivisionError" in trace, trace
    assert ("line 4, in f" in trace) == lines, trace
    monkeypatch.setenv("BRANCHGATE_SOURCE_LINES", "0" if lines else "1")
    other = compile_file(tmp_path / "div.py", tmp_path / "other" / "div.mpy")
    assert (out.stat().st_size < other.stat().st_size) != lines  # the table is what makes the difference
