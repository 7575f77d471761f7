"""`branchgate flash` against PyPI esp32-mock-bootloader, a fake ESP ROM bootloader on a pseudo-terminal:
what esptool reads back from the mock's flash afterwards must equal the image."""
import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from esptool import cmds as esptool_cmds

from branchgate import boards, flash, image
from branchgate.cli import CliError
from test_image import fake_base

MOCK = Path(sys.executable).parent / "esp32-mock-bootloader"
QUIET = dict(log=lambda *a: None)

pytestmark = pytest.mark.skipif(not MOCK.exists() and not shutil.which("esp32-mock-bootloader"),
                                reason="esp32-mock-bootloader is not installed (make venv)")


@pytest.fixture
def mock_chip():
    """Start a mock bootloader for a chip; yields a function chip -> pty path."""
    procs = []

    def start(chip):
        p = subprocess.Popen([str(MOCK), "run", "--pty", "--chip", chip, "--timeout", "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(p)
        port = p.stdout.readline().strip()
        assert port.startswith("/dev/"), port
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def read_back(port, offset, size):
    """The mock's flash contents, read through esptool on its own connection."""
    esp = esptool_cmds.detect_chip(port, 115200)
    try:
        esp = esptool_cmds.run_stub(esp)
        esptool_cmds.attach_flash(esp)
        return esptool_cmds.read_flash(esp, offset, size, no_progress=True)
    finally:
        esp._port.close()


def flash_md5(port, offset, size):
    esp = esptool_cmds.detect_chip(port, 115200)
    try:
        esp = esptool_cmds.run_stub(esp)
        esptool_cmds.attach_flash(esp)
        return esp.flash_md5sum(offset, size)
    finally:
        esp._port.close()


@pytest.fixture
def small_firmware(tmp_path):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text("print('branchgate')\n")
    (fw / "mod.py").write_text("X = 1\n")
    return fw


def test_filesystem_image_is_written_and_reads_back_equal(tmp_path, mock_chip, small_firmware):
    board = boards.load("wt32-eth01")
    out = tmp_path / "wt32.bin"
    image.build(board, out, firmware_dir=small_firmware, **QUIET)
    port = mock_chip("esp32")
    progress = io.StringIO()
    assert flash.flash(board, port, out, out=progress) == 0x200000
    assert read_back(port, 0x200000, board.vfs_size) == out.read_bytes()
    text = progress.getvalue()
    assert "100%" in text and "Verification successful" in text, text


def test_merged_image_is_written_at_the_firmware_offset(tmp_path, mock_chip, small_firmware):
    board = boards.load("olimex-esp32-poe")
    base = tmp_path / "micropython.bin"
    base.write_bytes(fake_base("esp32", size=0x5000))
    out = tmp_path / "poe.bin"
    image.build(board, out, base=base, firmware_dir=small_firmware, **QUIET)
    port = mock_chip("esp32")
    flash.flash(board, port, out, out=io.StringIO())
    data = out.read_bytes()
    # 4 MB: compare the chip's MD5 of the region (computed by the mock's flash, on its own connection)
    # instead of reading it all back; the test above reads a whole image back byte for byte.
    assert flash_md5(port, 0x1000, len(data)) == hashlib.md5(data).hexdigest()
    assert read_back(port, 0x1000, 0x5000) == base.read_bytes()


def test_wrong_chip_is_refused_before_writing(tmp_path, mock_chip, small_firmware):
    board = boards.load("wt32-eth01")
    out = tmp_path / "wt32.bin"
    image.build(board, out, firmware_dir=small_firmware, **QUIET)
    port = mock_chip("esp32s3")
    with pytest.raises(CliError, match=r"board wt32-eth01 is an esp32, but the chip on .* is an ESP32-S3: "
                                       r"wrong board or wrong port"):
        flash.flash(board, port, out, out=io.StringIO())
    assert set(read_back(port, 0x200000, 0x1000)) == {0xFF}


def test_flash_size_mismatch_is_refused(tmp_path, mock_chip, small_firmware):
    board = boards.load("wt32-eth01", flash_size="8MB")
    out = tmp_path / "wt32-8mb.bin"
    image.build(board, out, firmware_dir=small_firmware, **QUIET)
    port = mock_chip("esp32")
    with pytest.raises(CliError, match="the chip has 4MB flash but the image was built for 8MB: "
                                       "rebuild it with --flash-size 4MB"):
        flash.flash(board, port, out, out=io.StringIO())


def test_image_for_another_board_or_corrupt_is_refused(tmp_path, small_firmware):
    out = tmp_path / "poe.bin"
    image.build(boards.load("olimex-esp32-poe"), out, firmware_dir=small_firmware, **QUIET)
    with pytest.raises(CliError, match="built for board olimex-esp32-poe, not wt32-eth01"):
        flash.flash(boards.load("wt32-eth01"), "/dev/null", out)
    data = bytearray(out.read_bytes())
    data[-1] ^= 1
    out.write_bytes(bytes(data))
    with pytest.raises(CliError, match="does not match its manifest"):
        flash.flash(boards.load("olimex-esp32-poe"), "/dev/null", out)
    with pytest.raises(CliError, match="no ESP bootloader answered on /dev/nonexistent-tty"):
        flash.flash(boards.load("olimex-esp32-poe"), "/dev/nonexistent-tty",
                    _rebuilt(out, small_firmware), out=io.StringIO())
    with pytest.raises(CliError, match="no image .*missing.bin: run `branchgate image build --board wt32-eth01`"):
        flash.flash(boards.load("wt32-eth01"), "/dev/null", tmp_path / "missing.bin")


def _rebuilt(out, firmware_dir):
    image.build(boards.load("olimex-esp32-poe"), out, firmware_dir=firmware_dir, **QUIET)
    return out
