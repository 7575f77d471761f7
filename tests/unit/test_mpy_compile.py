"""Every firmware module compiles with mpy-cross, for the sim board and for the chips' architectures,
so syntax MicroPython rejects (or a module too big for the device compiler) fails the build."""
import subprocess
from pathlib import Path

import pytest

from mp import FIRMWARE, MPY_CROSS

SOURCES = sorted(FIRMWARE.rglob("*.py"))


@pytest.mark.parametrize("march", [None, "xtensawin", "rv32imc"])
def test_firmware_compiles(tmp_path, march):
    assert SOURCES, "no firmware sources found"
    failures = []
    for src in SOURCES:
        out = tmp_path / (src.stem + ".mpy")
        cmd = [MPY_CROSS, "-o", str(out)] + (["-march=" + march] if march else []) + [str(src)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0 or not out.exists():
            failures.append("%s: %s" % (src.relative_to(FIRMWARE), (p.stderr or p.stdout).strip()))
    assert not failures, "\n".join(failures)
