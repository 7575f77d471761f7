"""Hardware-in-the-loop: a real board on a serial port, driven only through `branchgate` commands.

Runs when BRANCHGATE_PORT and BRANCHGATE_BOARD are set (see tests/hil/README.md); otherwise every test
skips with that reason. Covered so far: build the image, flash and verify it, watch the board boot into
the firmware. Provisioning over serial, the strongSwan head office, the tunnel, ping, status and the
measurements follow once `branchgate provision --port`, `status` and `check` exist (README.md).
"""
import os
import re
import subprocess
import sys
import time

import pytest

PORT = os.environ.get("BRANCHGATE_PORT")
BOARD = os.environ.get("BRANCHGATE_BOARD")
pytestmark = pytest.mark.skipif(not (PORT and BOARD),
                                reason="no board attached: set BRANCHGATE_PORT and BRANCHGATE_BOARD to run HIL")

LOG_LINE = re.compile(r"^(ERROR|WARN|INFO|DEBUG) \w+: ", re.M)
BOOT_WAIT = 20  # seconds for the board to reset, mount its filesystem and start logging


def branchgate(*args, timeout=300):
    p = subprocess.run([sys.executable, "-m", "branchgate.cli", *args], capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, "branchgate %s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr)
    return p.stdout


def console(seconds):
    """What the board prints on its serial console in the next `seconds`."""
    import serial
    out = b""
    with serial.Serial(PORT, 115200, timeout=0.5) as s:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            out += s.read(4096)
    return out.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("hil")


@pytest.fixture(scope="module")
def flashed(work):
    """Build the image (merged with BRANCHGATE_BASE when given) and flash it; returns branchgate's output."""
    out = work / "hil.bin"
    args = ["image", "build", "--board", BOARD, "-o", str(out)]
    if os.environ.get("BRANCHGATE_BASE"):
        args += ["--base", os.environ["BRANCHGATE_BASE"]]
    if os.environ.get("BRANCHGATE_FLASH_SIZE"):
        args += ["--flash-size", os.environ["BRANCHGATE_FLASH_SIZE"]]
    branchgate(*args)
    return branchgate("flash", "--port", PORT, "--board", BOARD, "--image", str(out))


def test_flash_writes_and_verifies(flashed):
    assert "verified" in flashed


def test_board_boots_into_the_firmware(flashed):
    text = console(BOOT_WAIT)
    assert "Traceback" not in text, text
    assert LOG_LINE.search(text), "no firmware log line within %d s:\n%s" % (BOOT_WAIT, text)
